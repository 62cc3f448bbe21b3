//! Use cases of account relationships (R3.5) and PCUST(p) (R3.6).

use std::collections::BTreeMap;

use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_proto::identity::AccountKind;
use csm_types::AccountId;

use super::Written;
use crate::AccountTeamApp;
use crate::app::principal::account_not_visible;
use crate::domain::definitions::{DEFAULT_PARTNER_TYPE_ID, RelationshipType, RelationshipTypeId};
use crate::domain::relationships::{
    AccountRelationship, AccountRelationshipId, NewAccountRelationship, PartnerCustomer, RELATIONSHIP_EDITOR_ROLES,
    RelationshipFilter, RelationshipView,
};
use crate::store::relationships::customer_key;

impl AccountTeamApp {
    /// Creates an account relationship (R3.5): both accounts exist, the type
    /// is active and each PARTNER end is a partner account. Idempotent by `request_id`.
    pub async fn create_account_relationship(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewAccountRelationship,
    ) -> CsmResult<Written<AccountRelationship>> {
        const RPC: &str = "CreateAccountRelationship";
        self.roles.authorize(caller, RELATIONSHIP_EDITOR_ROLES, RPC).await?;
        let fingerprint = format!("{new:?}");
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let relationship = self.get_account_relationship(caller, AccountRelationshipId::from_uuid(id)).await?;
            return Ok(self.written(relationship, revision));
        }
        if new.from_account == new.to_account {
            return Err(CsmError::invalid_field(
                "account_relationship.to_account_id",
                "must differ from from_account_id (an account cannot be related to itself)",
            ));
        }
        // Account kinds are immutable in identity, so reading them before the transaction is safe.
        let kinds = self.identity.account_kinds(&[new.from_account, new.to_account]).await?;
        for account in [new.from_account, new.to_account] {
            if !kinds.contains_key(&account) {
                return Err(CsmError::not_found("account", account));
            }
        }
        let type_id = new.type_id.unwrap_or(DEFAULT_PARTNER_TYPE_ID);
        let mut tx = self.store.db().begin().await?;
        // Locks the type: a deactivation or kind change cannot slip in before the insert.
        let kind = self.store.relationship_type_for_update(&mut tx, type_id).await?;
        let kind = kind.ok_or_else(|| CsmError::not_found("relationship_type", type_id))?;
        if !kind.active {
            return Err(CsmError::failed_precondition(
                "RELATIONSHIP_TYPE_INACTIVE",
                format!("relationship type {} is inactive: it cannot be used for new relationships", kind.name),
            ));
        }
        for (end, account, end_kind) in
            [("from", new.from_account, kind.from_kind), ("to", new.to_account, kind.to_kind)]
        {
            let is_partner = kinds.get(&account) == Some(&AccountKind::Partner);
            if !end_kind.admits(is_partner) {
                return Err(CsmError::failed_precondition(
                    "ACCOUNT_KIND_MISMATCH",
                    format!("the {end} end of {} must be a partner account; {account} is not", kind.name),
                )
                .with_metadata("account_id", account.to_string())
                .with_metadata("end", end));
            }
        }
        let now = csm_db::now();
        let relationship = AccountRelationship {
            id: AccountRelationshipId::new(),
            from_account: new.from_account,
            type_id,
            to_account: new.to_account,
            active: new.active,
            created_at: now,
            updated_at: now,
        };
        let revision = match self.store.insert_account_relationship(&mut tx, &relationship).await {
            Ok(revision) => revision,
            Err(error) if error.code() == ErrorCode::AlreadyExists && request_id.is_some() => {
                // Maybe a concurrent retry of this very request won: answer as it did.
                drop(tx);
                if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
                    let relationship =
                        self.get_account_relationship(caller, AccountRelationshipId::from_uuid(id)).await?;
                    return Ok(self.written(relationship, revision));
                }
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        if !self
            .record_created(&mut tx, RPC, caller, request_id, &fingerprint, *relationship.id.as_uuid(), revision)
            .await?
        {
            drop(tx);
            return Box::pin(self.create_account_relationship(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(relationship, revision))
    }

    /// A relationship; external people only one with an end R4.9 lets them see.
    pub async fn get_account_relationship(
        &self,
        caller: &Caller,
        id: AccountRelationshipId,
    ) -> CsmResult<AccountRelationship> {
        let relationship = self.store.get_account_relationship(id).await?;
        let relationship = relationship.ok_or_else(|| CsmError::not_found("account_relationship", id))?;
        let visible = self.visibility(caller).await?;
        if !visible.account(relationship.from_account) && !visible.account(relationship.to_account) {
            return Err(account_not_visible(relationship.from_account));
        }
        Ok(relationship)
    }

    /// Sets `active` of a relationship (R3.5, R3.6); the rest is immutable.
    pub async fn set_account_relationship_active(
        &self,
        caller: &Caller,
        id: AccountRelationshipId,
        active: bool,
    ) -> CsmResult<Written<AccountRelationship>> {
        self.roles.authorize(caller, RELATIONSHIP_EDITOR_ROLES, "UpdateAccountRelationship").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.account_relationship_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("account_relationship", id))?;
        let (relationship, revision) =
            self.store.save_account_relationship(&mut tx, &AccountRelationship { active, ..current }).await?;
        tx.commit().await?;
        Ok(self.committed(relationship, revision))
    }

    /// Deletes a relationship: both ends stop showing it; cases are not touched (R3.5).
    pub async fn delete_account_relationship(
        &self,
        caller: &Caller,
        id: AccountRelationshipId,
    ) -> CsmResult<Written<()>> {
        self.roles.authorize(caller, RELATIONSHIP_EDITOR_ROLES, "DeleteAccountRelationship").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.account_relationship_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("account_relationship", id))?;
        let revision = self.store.delete_account_relationship_row(&mut tx, &current).await?;
        tx.commit().await?;
        Ok(self.committed((), revision))
    }

    /// One page of the relationships of an account, each seen from it (R3.5);
    /// external people only of an account R4.9 lets them see.
    pub async fn list_account_relationships(
        &self,
        caller: &Caller,
        filter: RelationshipFilter,
        page: PageRequest,
    ) -> CsmResult<(Vec<RelationshipView>, String)> {
        self.ensure_account_visible(caller, filter.account).await?;
        let rows = self.store.list_account_relationships(&filter, &page).await?;
        let (rows, token) = page.finish(rows, |relationship| relationship.id.to_string());
        let mut types: BTreeMap<RelationshipTypeId, RelationshipType> = BTreeMap::new();
        let mut views = Vec::with_capacity(rows.len());
        for relationship in rows {
            if let std::collections::btree_map::Entry::Vacant(slot) = types.entry(relationship.type_id) {
                let kind = self.store.get_relationship_type(relationship.type_id).await?;
                slot.insert(kind.ok_or_else(|| CsmError::internal("a relationship's type vanished"))?);
            }
            let kind = &types[&relationship.type_id];
            views.push(RelationshipView::seen_from(filter.account, relationship, kind));
        }
        Ok((views, token))
    }

    /// One page of PCUST(`partner`) (R3.6), ordered by customer account;
    /// external people see only the customers R4.9 lets them see (a partner
    /// contact all of its own account's), of a partner account they see.
    pub async fn list_partner_customers(
        &self,
        caller: &Caller,
        partner: AccountId,
        page: PageRequest,
    ) -> CsmResult<(Vec<PartnerCustomer>, String)> {
        let visible = self.ensure_account_visible(caller, partner).await?;
        let rows = self.store.list_partner_customers(partner, &page).await?;
        let (mut rows, token) = page.finish(rows, customer_key);
        rows.retain(|row| visible.account(row.customer_account));
        Ok((rows, token))
    }
}
