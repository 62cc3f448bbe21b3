//! Contact relationship (R3.7–R3.11) and consumer relationship (R3.12, R3.13) use cases.

use std::collections::BTreeMap;

use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, ConsumerId, ProfileId, ResponsibilityId};
use uuid::Uuid;

use super::{Written, caller_profile};
use crate::AccountTeamApp;
use crate::domain::access::{CUSTOMER_ADMIN_ROLE, RecordTable, RelatedPartyConfiguration};
use crate::domain::contacts::{
    CONSUMER_RELATIONSHIP_READER_ROLES, CONSUMER_RELATIONSHIP_WRITER_ROLES, CONTACT_RELATIONSHIP_VIEWER_ROLES,
    CONTACT_RELATIONSHIP_WRITER_ROLES, ConsumerRelationship, ConsumerRelationshipFilter, ContactRelationship,
    ContactRelationshipFilter, DEFAULT_ORDER, EligibilityPath, EligibleContact, NewConsumerRelationship,
    NewContactRelationship, RelationshipChanges, ResponsibilityKind, ResponsibilityRef, eligibility_path,
    ensure_responsibility_kind,
};

impl AccountTeamApp {
    /// A related-party type that must exist and apply to `table`.
    pub(crate) async fn applicable_type(&self, id: Uuid, table: RecordTable) -> CsmResult<RelatedPartyConfiguration> {
        let configuration = self.store.related_party(id).await?.ok_or_else(|| {
            CsmError::not_found("related_party_configuration", id)
                .with_metadata("field", "related_party_configuration_id")
        })?;
        configuration.ensure_applies_to(table)?;
        Ok(configuration)
    }

    /// A responsibility that must exist and be of `kind`.
    pub(crate) async fn responsibility_of_kind(
        &self,
        id: ResponsibilityId,
        kind: ResponsibilityKind,
    ) -> CsmResult<ResponsibilityRef> {
        let responsibility = self
            .store
            .responsibility(id)
            .await?
            .ok_or_else(|| CsmError::not_found("responsibility", id).with_metadata("field", "responsibility_id"))?;
        ensure_responsibility_kind(&responsibility, kind)?;
        Ok(responsibility)
    }

    /// The top-level ancestor of each known account (the account itself when top-level).
    async fn tops(&self, accounts: &[AccountId]) -> CsmResult<BTreeMap<AccountId, AccountId>> {
        let ancestries = self.identity.account_ancestries(accounts).await?;
        Ok(ancestries
            .into_iter()
            .map(|(account, ancestors)| (account, *ancestors.last().unwrap_or(&account)))
            .collect())
    }

    /// Creates a contact relationship (R3.7–R3.11).
    pub async fn create_contact_relationship(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewContactRelationship,
    ) -> CsmResult<Written<ContactRelationship>> {
        const RPC: &str = "CreateContactRelationship";
        self.roles.authorize(caller, CONTACT_RELATIONSHIP_WRITER_ROLES, RPC).await?;
        let fingerprint = new.fingerprint();
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let relationship = self.store.contact_relationship(id).await?;
            let relationship = relationship.ok_or_else(|| CsmError::not_found("contact_relationship", id))?;
            return Ok(self.written(relationship, revision));
        }
        let contact_account = self
            .identity
            .contact_account(new.contact)
            .await?
            .ok_or_else(|| CsmError::not_found("contact", new.contact).with_metadata("field", "contact_id"))?;
        let tops = self.tops(&[new.account, contact_account]).await?;
        let account_top = *tops
            .get(&new.account)
            .ok_or_else(|| CsmError::not_found("account", new.account).with_metadata("field", "account_id"))?;
        let contact_top = tops.get(&contact_account).copied().unwrap_or(contact_account);
        let settings = self.store.settings().await?;
        // R3.8: hierarchy first, then account relationships, then the switch.
        let related =
            account_top != contact_top && self.store.related_accounts(new.account).await?.contains(&contact_account);
        if eligibility_path(settings.restrict_within_account_hierarchy, account_top, contact_top, related).is_none() {
            return Err(CsmError::failed_precondition(
                "CONTACT_NOT_ELIGIBLE",
                "the contact's account is neither in the account's hierarchy nor related to it (R3.8)",
            )
            .with_metadata("contact_account_id", contact_account.to_string()));
        }
        let (responsibility, order) = match new.related_party_configuration {
            Some(type_id) => {
                let configuration = self.applicable_type(type_id, RecordTable::ContactRelationship).await?;
                let (responsibility, order) = configuration.fill_defaults(new.responsibility, new.order);
                (responsibility, order)
            }
            None => (new.responsibility, new.order.unwrap_or(DEFAULT_ORDER)),
        };
        let unique = match responsibility {
            Some(id) => self.responsibility_of_kind(id, ResponsibilityKind::Contact).await?.is_unique,
            None => false,
        };
        let now = csm_db::now();
        let relationship = ContactRelationship {
            id: Uuid::now_v7(),
            account: new.account,
            contact: new.contact,
            related_party_configuration: new.related_party_configuration,
            responsibility,
            order,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.db().begin().await?;
        let inserted = self
            .store
            .insert_contact_relationship(
                &mut tx,
                &relationship,
                unique,
                settings.allow_multiple_contact_responsibilities,
            )
            .await;
        let revision = match inserted {
            Ok(revision) => revision,
            Err(error) => {
                drop(tx);
                return Err(self.with_unique_holder(error, &relationship).await);
            }
        };
        if !self.record_created(&mut tx, RPC, caller, request_id, &fingerprint, relationship.id, revision).await? {
            drop(tx);
            return Box::pin(self.create_contact_relationship(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(relationship, revision))
    }

    /// UNIQUE_RESPONSIBILITY_TAKEN names the holder (metadata "contact_relationship_id").
    async fn with_unique_holder(&self, error: CsmError, relationship: &ContactRelationship) -> CsmError {
        if error.reason() != "UNIQUE_RESPONSIBILITY_TAKEN" {
            return error;
        }
        let Some(responsibility) = relationship.responsibility else {
            return error;
        };
        match self.store.unique_contact_holder(relationship.account, responsibility).await {
            Ok(Some(holder)) => error.with_metadata("contact_relationship_id", holder.to_string()),
            _ => error,
        }
    }

    pub async fn get_contact_relationship(&self, caller: &Caller, id: Uuid) -> CsmResult<ContactRelationship> {
        let relationship = self
            .store
            .contact_relationship(id)
            .await?
            .ok_or_else(|| CsmError::not_found("contact_relationship", id))?;
        if caller_profile(caller) != Some(relationship.contact) {
            self.roles.authorize(caller, CONTACT_RELATIONSHIP_VIEWER_ROLES, "GetContactRelationship").await?;
        }
        Ok(relationship)
    }

    /// Updates type, responsibility or order (R3.9–R3.11); eligibility is not re-checked.
    pub async fn update_contact_relationship(
        &self,
        caller: &Caller,
        id: Uuid,
        changes: RelationshipChanges,
    ) -> CsmResult<Written<ContactRelationship>> {
        self.roles.authorize(caller, CONTACT_RELATIONSHIP_WRITER_ROLES, "UpdateContactRelationship").await?;
        let current = self
            .store
            .contact_relationship(id)
            .await?
            .ok_or_else(|| CsmError::not_found("contact_relationship", id))?;
        let related_party_configuration =
            changes.related_party_configuration.unwrap_or(current.related_party_configuration);
        if let Some(Some(type_id)) = changes.related_party_configuration {
            self.applicable_type(type_id, RecordTable::ContactRelationship).await?;
        }
        let responsibility = changes.responsibility.unwrap_or(current.responsibility);
        let unique = match responsibility {
            Some(id) => self.responsibility_of_kind(id, ResponsibilityKind::Contact).await?.is_unique,
            None => false,
        };
        let updated = ContactRelationship {
            related_party_configuration,
            responsibility,
            order: changes.order.unwrap_or(current.order),
            updated_at: csm_db::now(),
            ..current
        };
        let mut tx = self.store.db().begin().await?;
        let revision = match self.store.update_contact_relationship(&mut tx, &updated, unique).await {
            Ok(Some(revision)) => revision,
            Ok(None) => return Err(CsmError::not_found("contact_relationship", id)),
            Err(error) => {
                drop(tx);
                return Err(self.with_unique_holder(error, &updated).await);
            }
        };
        tx.commit().await?;
        Ok(self.committed(updated, revision))
    }

    pub async fn delete_contact_relationship(&self, caller: &Caller, id: Uuid) -> CsmResult<Written<()>> {
        self.roles.authorize(caller, CONTACT_RELATIONSHIP_WRITER_ROLES, "DeleteContactRelationship").await?;
        let mut tx = self.store.db().begin().await?;
        let Some((_, revision)) = self.store.delete_contact_relationship(&mut tx, id).await? else {
            return Err(CsmError::not_found("contact_relationship", id));
        };
        tx.commit().await?;
        Ok(self.committed((), revision))
    }

    /// One page of contact relationships by account and/or contact (R3.7, R3.11):
    /// viewers of R3.11, or the contact itself for its own relationships.
    pub async fn list_contact_relationships(
        &self,
        caller: &Caller,
        filter: ContactRelationshipFilter,
        page: PageRequest,
    ) -> CsmResult<(Vec<ContactRelationship>, String)> {
        const RPC: &str = "ListContactRelationships";
        let own = filter.contact.is_some() && caller_profile(caller) == filter.contact;
        if !own && let Err(denied) = self.roles.authorize(caller, CONTACT_RELATIONSHIP_VIEWER_ROLES, RPC).await {
            // Customer admins view the relationships of accounts in their scope.
            let (Some(profile), Some(account)) = (caller_profile(caller), filter.account) else {
                return Err(denied);
            };
            if denied.code() != csm_errors::ErrorCode::PermissionDenied
                || !self.roles.effective_roles(profile).await?.contains(CUSTOMER_ADMIN_ROLE)
                || !self.in_customer_admin_scope(profile, account).await?
            {
                return Err(denied);
            }
        }
        let rows = self.store.list_contact_relationships(&filter, &page).await?;
        Ok(page.finish(rows, |relationship| relationship.id.to_string()))
    }

    /// One page of the contacts eligible for a contact relationship on `account`
    /// (R3.8), ordered by contact id. The eligible set is computed from identity
    /// (the hierarchy under A's top-level ancestor, A's related accounts, and
    /// with the switch off every contact) and paged by contact id.
    pub async fn list_eligible_contacts(
        &self,
        caller: &Caller,
        account: AccountId,
        page: PageRequest,
    ) -> CsmResult<(Vec<EligibleContact>, String)> {
        self.roles.authorize(caller, CONTACT_RELATIONSHIP_VIEWER_ROLES, "ListEligibleContacts").await?;
        let tops = self.tops(&[account]).await?;
        let top = *tops
            .get(&account)
            .ok_or_else(|| CsmError::not_found("account", account).with_metadata("field", "account_id"))?;
        let settings = self.store.settings().await?;
        let mut eligible: BTreeMap<String, EligibleContact> = BTreeMap::new();
        let mut add = |profiles: Vec<csm_proto::identity::Profile>, path: EligibilityPath| {
            for profile in profiles {
                let (Ok(contact), Ok(contact_account)) =
                    (ProfileId::parse(&profile.profile_id), AccountId::parse(&profile.account_id))
                else {
                    continue;
                };
                eligible.entry(contact.to_string()).or_insert(EligibleContact {
                    contact,
                    account: contact_account,
                    path,
                });
            }
        };
        add(self.identity.account_contacts(top, true).await?, EligibilityPath::Hierarchy);
        for related in self.store.related_accounts(account).await? {
            add(self.identity.account_contacts(related, false).await?, EligibilityPath::AccountRelationship);
        }
        if !settings.restrict_within_account_hierarchy {
            // Every contact: the contacts of each tree of the account forest.
            for root in self.identity.top_level_accounts().await? {
                add(self.identity.account_contacts(root, true).await?, EligibilityPath::Unrestricted);
            }
        }
        let rows: Vec<EligibleContact> = match page.after.as_deref() {
            Some(after) => eligible.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => eligible.range::<str, _>(..),
        }
        .take(page.fetch_limit() as usize)
        .map(|(_, contact)| contact.clone())
        .collect();
        Ok(page.finish(rows, |contact| contact.contact.to_string()))
    }

    /// Creates a consumer-to-consumer or household member relationship (R3.12; uniqueness not enforced, R3.13).
    pub async fn create_consumer_relationship(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewConsumerRelationship,
    ) -> CsmResult<Written<ConsumerRelationship>> {
        const RPC: &str = "CreateConsumerRelationship";
        self.roles.authorize(caller, CONSUMER_RELATIONSHIP_WRITER_ROLES, RPC).await?;
        let fingerprint = new.fingerprint();
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let relationship = self.store.consumer_relationship(id).await?;
            let relationship = relationship.ok_or_else(|| CsmError::not_found("consumer_relationship", id))?;
            return Ok(self.written(relationship, revision));
        }
        for (field, consumer) in [("consumer_id", new.consumer), ("related_consumer_id", new.related_consumer)] {
            if !self.identity.consumer_exists(consumer).await? {
                return Err(CsmError::not_found("consumer", consumer).with_metadata("field", field));
            }
        }
        if let Some(household) = new.household {
            let members =
                self.identity.current_household_members(household).await?.ok_or_else(|| {
                    CsmError::not_found("household", household).with_metadata("field", "household_id")
                })?;
            for consumer in [new.consumer, new.related_consumer] {
                if !members.contains(&consumer) {
                    return Err(CsmError::failed_precondition(
                        "NOT_CURRENT_HOUSEHOLD_MEMBER",
                        format!("consumer {consumer} is not a current member of household {household}"),
                    )
                    .with_metadata("consumer_id", consumer.to_string()));
                }
            }
        }
        let table = if new.household.is_some() {
            RecordTable::HouseholdMemberRelationship
        } else {
            RecordTable::ConsumerRelationship
        };
        let (responsibility, order) = match new.related_party_configuration {
            Some(type_id) => self.applicable_type(type_id, table).await?.fill_defaults(new.responsibility, new.order),
            None => (new.responsibility, new.order.unwrap_or(DEFAULT_ORDER)),
        };
        if let Some(id) = responsibility {
            self.responsibility_of_kind(id, ResponsibilityKind::None).await?;
        }
        let now = csm_db::now();
        let relationship = ConsumerRelationship {
            id: Uuid::now_v7(),
            consumer: new.consumer,
            related_consumer: new.related_consumer,
            household: new.household,
            related_party_configuration: new.related_party_configuration,
            responsibility,
            order,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.db().begin().await?;
        let revision = self.store.insert_consumer_relationship(&mut tx, &relationship).await?;
        if !self.record_created(&mut tx, RPC, caller, request_id, &fingerprint, relationship.id, revision).await? {
            drop(tx);
            return Box::pin(self.create_consumer_relationship(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(relationship, revision))
    }

    /// One relationship: for readers of every relationship, or for a consumer it names (R5.5).
    pub async fn get_consumer_relationship(&self, caller: &Caller, id: Uuid) -> CsmResult<ConsumerRelationship> {
        let reader = self.consumer_relationship_reader(caller, "GetConsumerRelationship").await?;
        let relationship = self
            .store
            .consumer_relationship(id)
            .await?
            .ok_or_else(|| CsmError::not_found("consumer_relationship", id))?;
        match reader {
            Some(own) if !relationship.names(own) => Err(CsmError::permission_denied(
                "CONSUMER_RELATIONSHIP_NOT_VISIBLE",
                format!("consumer relationship {id} does not name the caller's consumer record (R5.5)"),
            )),
            _ => Ok(relationship),
        }
    }

    /// Who reads consumer relationships: services and [`CONSUMER_RELATIONSHIP_READER_ROLES`]
    /// every one (`None`); a consumer only those naming its own consumer record
    /// (`Some`); anyone else is refused (MISSING_ROLE).
    async fn consumer_relationship_reader(&self, caller: &Caller, rpc: &str) -> CsmResult<Option<ConsumerId>> {
        let refusal = match self.roles.authorize(caller, CONSUMER_RELATIONSHIP_READER_ROLES, rpc).await {
            Ok(()) => return Ok(None),
            Err(refusal) if refusal.code() == csm_errors::ErrorCode::PermissionDenied => refusal,
            Err(error) => return Err(error),
        };
        let own = match caller_profile(caller) {
            Some(profile) => self
                .identity
                .profile(profile)
                .await?
                .and_then(|record| Uuid::parse_str(&record.consumer_id).ok().map(ConsumerId::from_uuid)),
            None => None,
        };
        own.map(Some).ok_or(refusal)
    }

    pub async fn update_consumer_relationship(
        &self,
        caller: &Caller,
        id: Uuid,
        changes: RelationshipChanges,
    ) -> CsmResult<Written<ConsumerRelationship>> {
        self.roles.authorize(caller, CONSUMER_RELATIONSHIP_WRITER_ROLES, "UpdateConsumerRelationship").await?;
        let current = self
            .store
            .consumer_relationship(id)
            .await?
            .ok_or_else(|| CsmError::not_found("consumer_relationship", id))?;
        if let Some(Some(type_id)) = changes.related_party_configuration {
            let table = if current.household.is_some() {
                RecordTable::HouseholdMemberRelationship
            } else {
                RecordTable::ConsumerRelationship
            };
            self.applicable_type(type_id, table).await?;
        }
        let responsibility = changes.responsibility.unwrap_or(current.responsibility);
        if let Some(id) = responsibility {
            self.responsibility_of_kind(id, ResponsibilityKind::None).await?;
        }
        let updated = ConsumerRelationship {
            related_party_configuration: changes
                .related_party_configuration
                .unwrap_or(current.related_party_configuration),
            responsibility,
            order: changes.order.unwrap_or(current.order),
            updated_at: csm_db::now(),
            ..current
        };
        let mut tx = self.store.db().begin().await?;
        let Some(revision) = self.store.update_consumer_relationship(&mut tx, &updated).await? else {
            return Err(CsmError::not_found("consumer_relationship", id));
        };
        tx.commit().await?;
        Ok(self.committed(updated, revision))
    }

    pub async fn delete_consumer_relationship(&self, caller: &Caller, id: Uuid) -> CsmResult<Written<()>> {
        self.roles.authorize(caller, CONSUMER_RELATIONSHIP_WRITER_ROLES, "DeleteConsumerRelationship").await?;
        let mut tx = self.store.db().begin().await?;
        let Some((_, revision)) = self.store.delete_consumer_relationship(&mut tx, id).await? else {
            return Err(CsmError::not_found("consumer_relationship", id));
        };
        tx.commit().await?;
        Ok(self.committed((), revision))
    }

    /// A page of relationships; a consumer gets only those naming it (R5.5).
    pub async fn list_consumer_relationships(
        &self,
        caller: &Caller,
        filter: ConsumerRelationshipFilter,
        page: PageRequest,
    ) -> CsmResult<(Vec<ConsumerRelationship>, String)> {
        let naming = self.consumer_relationship_reader(caller, "ListConsumerRelationships").await?;
        let filter = ConsumerRelationshipFilter { naming, ..filter };
        let rows = self.store.list_consumer_relationships(&filter, &page).await?;
        Ok(page.finish(rows, |relationship| relationship.id.to_string()))
    }
}
