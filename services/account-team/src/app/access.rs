//! CAM configuration use cases (R5.2–R5.5) and account access records (R5.12, R5.13).

use std::collections::BTreeMap;

use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, ProfileId, ResponsibilityId};
use uuid::Uuid;

use super::{Written, caller_profile};
use crate::AccountTeamApp;
use crate::domain::access::{
    ACCOUNT_ACCESS_ADMIN_ROLES, AccessConfiguration, AccessConfigurationDraft, AccessConfigurationFilter,
    AccountAccess, AccountAccessChanges, CAM_ADMIN_ROLES, CUSTOMER_ADMIN_ROLE, EligiblePartnerContact,
    NewAccountAccess, PARTNER_ADMIN_ROLE, RelatedPartyConfiguration, RelatedPartyDraft, RelatedPartyFilter,
    partner_contact_path,
};

impl AccountTeamApp {
    async fn ensure_responsibility_exists(&self, id: ResponsibilityId, field: &str) -> CsmResult<()> {
        match self.store.responsibility(id).await? {
            Some(_) => Ok(()),
            None => Err(CsmError::not_found("responsibility", id).with_metadata("field", field.to_owned())),
        }
    }

    /// Creates a responsibility access configuration (R5.2).
    pub async fn create_access_configuration(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        draft: AccessConfigurationDraft,
    ) -> CsmResult<Written<AccessConfiguration>> {
        const RPC: &str = "CreateResponsibilityAccessConfiguration";
        self.roles.authorize(caller, CAM_ADMIN_ROLES, RPC).await?;
        let valid = draft.validate("responsibility_access_configuration")?;
        let fingerprint = valid.fingerprint();
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let configuration = self.store.access_configuration(id).await?;
            let configuration =
                configuration.ok_or_else(|| CsmError::not_found("responsibility_access_configuration", id))?;
            return Ok(self.written(configuration, revision));
        }
        self.ensure_responsibility_exists(
            valid.responsibility,
            "responsibility_access_configuration.responsibility_id",
        )
        .await?;
        let mut tx = self.store.db().begin().await?;
        let (configuration, revision) =
            self.store.save_access_configuration(&mut tx, Uuid::now_v7(), &valid, None).await?;
        if !self.record_created(&mut tx, RPC, caller, request_id, &fingerprint, configuration.id, revision).await? {
            drop(tx);
            return Box::pin(self.create_access_configuration(caller, request_id, draft)).await;
        }
        tx.commit().await?;
        Ok(self.committed(configuration, revision))
    }

    pub async fn get_access_configuration(&self, _caller: &Caller, id: Uuid) -> CsmResult<AccessConfiguration> {
        self.store
            .access_configuration(id)
            .await?
            .ok_or_else(|| CsmError::not_found("responsibility_access_configuration", id))
    }

    /// Updates a configuration: `change` edits the current draft (the update mask), the result is validated whole.
    pub async fn update_access_configuration(
        &self,
        caller: &Caller,
        id: Uuid,
        change: impl FnOnce(&mut AccessConfigurationDraft),
    ) -> CsmResult<Written<AccessConfiguration>> {
        self.roles.authorize(caller, CAM_ADMIN_ROLES, "UpdateResponsibilityAccessConfiguration").await?;
        let current = self
            .store
            .access_configuration(id)
            .await?
            .ok_or_else(|| CsmError::not_found("responsibility_access_configuration", id))?;
        let mut draft = AccessConfigurationDraft::of(&current);
        change(&mut draft);
        let valid = draft.validate("responsibility_access_configuration")?;
        self.ensure_responsibility_exists(
            valid.responsibility,
            "responsibility_access_configuration.responsibility_id",
        )
        .await?;
        let mut tx = self.store.db().begin().await?;
        let (configuration, revision) =
            self.store.save_access_configuration(&mut tx, id, &valid, Some(&current)).await?;
        tx.commit().await?;
        Ok(self.committed(configuration, revision))
    }

    pub async fn delete_access_configuration(&self, caller: &Caller, id: Uuid) -> CsmResult<Written<()>> {
        self.roles.authorize(caller, CAM_ADMIN_ROLES, "DeleteResponsibilityAccessConfiguration").await?;
        let mut tx = self.store.db().begin().await?;
        let Some(revision) = self.store.delete_access_configuration(&mut tx, id).await? else {
            return Err(CsmError::not_found("responsibility_access_configuration", id));
        };
        tx.commit().await?;
        Ok(self.committed((), revision))
    }

    pub async fn list_access_configurations(
        &self,
        _caller: &Caller,
        filter: AccessConfigurationFilter,
        page: PageRequest,
    ) -> CsmResult<(Vec<AccessConfiguration>, String)> {
        let rows = self.store.list_access_configurations(&filter, &page).await?;
        Ok(page.finish(rows, |configuration| configuration.id.to_string()))
    }

    /// Creates a related-party type (R5.4).
    pub async fn create_related_party(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        draft: RelatedPartyDraft,
    ) -> CsmResult<Written<RelatedPartyConfiguration>> {
        const RPC: &str = "CreateRelatedPartyConfiguration";
        self.roles.authorize(caller, CAM_ADMIN_ROLES, RPC).await?;
        let fingerprint = draft.fingerprint();
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let configuration = self.store.related_party(id).await?;
            let configuration = configuration.ok_or_else(|| CsmError::not_found("related_party_configuration", id))?;
            return Ok(self.written(configuration, revision));
        }
        if let Some(responsibility) = draft.default_responsibility {
            self.ensure_responsibility_exists(responsibility, "related_party_configuration.default_responsibility_id")
                .await?;
        }
        let mut tx = self.store.db().begin().await?;
        let (configuration, revision) = self.store.save_related_party(&mut tx, Uuid::now_v7(), &draft, None).await?;
        if !self.record_created(&mut tx, RPC, caller, request_id, &fingerprint, configuration.id, revision).await? {
            drop(tx);
            return Box::pin(self.create_related_party(caller, request_id, draft)).await;
        }
        tx.commit().await?;
        Ok(self.committed(configuration, revision))
    }

    pub async fn get_related_party(&self, _caller: &Caller, id: Uuid) -> CsmResult<RelatedPartyConfiguration> {
        self.store.related_party(id).await?.ok_or_else(|| CsmError::not_found("related_party_configuration", id))
    }

    /// Updates a related-party type; changed defaults apply to later records only (R5.4).
    pub async fn update_related_party(
        &self,
        caller: &Caller,
        id: Uuid,
        change: impl FnOnce(&mut RelatedPartyDraft),
    ) -> CsmResult<Written<RelatedPartyConfiguration>> {
        self.roles.authorize(caller, CAM_ADMIN_ROLES, "UpdateRelatedPartyConfiguration").await?;
        let current = self
            .store
            .related_party(id)
            .await?
            .ok_or_else(|| CsmError::not_found("related_party_configuration", id))?;
        let mut draft = RelatedPartyDraft::of(&current);
        change(&mut draft);
        if let Some(responsibility) = draft.default_responsibility {
            self.ensure_responsibility_exists(responsibility, "related_party_configuration.default_responsibility_id")
                .await?;
        }
        let mut tx = self.store.db().begin().await?;
        let (configuration, revision) = self.store.save_related_party(&mut tx, id, &draft, Some(&current)).await?;
        tx.commit().await?;
        Ok(self.committed(configuration, revision))
    }

    pub async fn delete_related_party(&self, caller: &Caller, id: Uuid) -> CsmResult<Written<()>> {
        self.roles.authorize(caller, CAM_ADMIN_ROLES, "DeleteRelatedPartyConfiguration").await?;
        let mut tx = self.store.db().begin().await?;
        let Some(revision) = self.store.delete_related_party(&mut tx, id).await? else {
            return Err(CsmError::not_found("related_party_configuration", id));
        };
        tx.commit().await?;
        Ok(self.committed((), revision))
    }

    pub async fn list_related_parties(
        &self,
        _caller: &Caller,
        filter: RelatedPartyFilter,
        page: PageRequest,
    ) -> CsmResult<(Vec<RelatedPartyConfiguration>, String)> {
        let rows = self.store.list_related_parties(&filter, &page).await?;
        Ok(page.finish(rows, |configuration| {
            format!("{}\u{1f}{}", configuration.applies_to.as_str(), configuration.name.to_lowercase())
        }))
    }

    /// R5.12's managers, or a customer admin for accounts in its own scope
    /// ({acct(me)} ∪ DESC(acct(me)) ∪ CR(me)).
    async fn authorize_account_access(&self, caller: &Caller, account: AccountId, action: &str) -> CsmResult<()> {
        let Some(profile) = caller_profile(caller) else {
            return self.roles.authorize(caller, ACCOUNT_ACCESS_ADMIN_ROLES, action).await;
        };
        let roles = self.roles.effective_roles(profile).await?;
        if ACCOUNT_ACCESS_ADMIN_ROLES.iter().any(|role| roles.contains(*role)) {
            return Ok(());
        }
        if roles.contains(CUSTOMER_ADMIN_ROLE) && self.in_customer_admin_scope(profile, account).await? {
            return Ok(());
        }
        let mut allowed: Vec<&str> = ACCOUNT_ACCESS_ADMIN_ROLES.to_vec();
        allowed.push(CUSTOMER_ADMIN_ROLE);
        Err(CsmError::permission_denied(
            "MISSING_ROLE",
            format!("{action} requires one of: {} (customer admins: accounts in their scope)", allowed.join(", ")),
        ))
    }

    /// Whether `account` ∈ {acct(me)} ∪ DESC(acct(me)) ∪ CR(me) for the contact `profile`
    /// (a customer admin's scope, R3.3, R4.8, X5).
    pub(crate) async fn in_customer_admin_scope(&self, profile: ProfileId, account: AccountId) -> CsmResult<bool> {
        let Some(own) = self.identity.contact_account(profile).await? else {
            return Ok(false);
        };
        Ok(own == account
            || self.store.contact_relationship_accounts(profile).await?.contains(&account)
            || self.identity.account_descendants(own).await?.contains(&account))
    }

    /// R5.12 (a): every allowed contact is a contact of the account or has a contact relationship on it.
    async fn ensure_contacts_of_account(&self, account: AccountId, contacts: &[ProfileId]) -> CsmResult<()> {
        for contact in contacts {
            let contact_account = self.identity.contact_account(*contact).await?.ok_or_else(|| {
                CsmError::not_found("contact", contact).with_metadata("field", "account_access.allowed_contact_ids")
            })?;
            if contact_account != account && !self.store.has_contact_relationship(account, *contact).await? {
                return Err(CsmError::failed_precondition(
                    "CONTACT_NOT_OF_ACCOUNT",
                    format!("contact {contact} is neither a contact of the account nor related to it"),
                )
                .with_metadata("contact_id", contact.to_string()));
            }
        }
        Ok(())
    }

    /// Creates the account access record of an account (R5.12); at most one per account.
    pub async fn create_account_access(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewAccountAccess,
    ) -> CsmResult<Written<AccountAccess>> {
        const RPC: &str = "CreateAccountAccess";
        self.authorize_account_access(caller, new.account, RPC).await?;
        let fingerprint = new.fingerprint();
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let access = self.store.account_access(id).await?;
            return Ok(self.written(access.ok_or_else(|| CsmError::not_found("account_access", id))?, revision));
        }
        if self.identity.account_ancestries(&[new.account]).await?.is_empty() {
            return Err(CsmError::not_found("account", new.account).with_metadata("field", "account_access.account_id"));
        }
        self.ensure_contacts_of_account(new.account, &new.allowed_contacts).await?;
        let now = csm_db::now();
        let access = AccountAccess {
            id: Uuid::now_v7(),
            account: new.account,
            restrict_contact_access: new.restrict_contact_access,
            allowed_contacts: new.allowed_contacts.clone(),
            restrict_account_access: new.restrict_account_access,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.db().begin().await?;
        let revision = match self.store.insert_account_access(&mut tx, &access).await {
            Ok(revision) => revision,
            Err(error) => {
                drop(tx);
                if error.reason() == "ACCOUNT_ACCESS_EXISTS"
                    && let Ok(Some(existing)) = self.store.account_access_of(access.account).await
                {
                    return Err(error.with_metadata("account_access_id", existing.id.to_string()));
                }
                return Err(error);
            }
        };
        if !self.record_created(&mut tx, RPC, caller, request_id, &fingerprint, access.id, revision).await? {
            drop(tx);
            return Box::pin(self.create_account_access(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(access, revision))
    }

    /// An access record; external people only of an account R4.9 lets them see.
    pub async fn get_account_access(&self, caller: &Caller, id: Uuid) -> CsmResult<AccountAccess> {
        let access = self.store.account_access(id).await?.ok_or_else(|| CsmError::not_found("account_access", id))?;
        self.ensure_account_visible(caller, access.account).await?;
        Ok(access)
    }

    pub async fn get_account_access_of(&self, caller: &Caller, account: AccountId) -> CsmResult<AccountAccess> {
        self.ensure_account_visible(caller, account).await?;
        self.store.account_access_of(account).await?.ok_or_else(|| {
            CsmError::not_found("account_access", account).with_metadata("account_id", account.to_string())
        })
    }

    pub async fn update_account_access(
        &self,
        caller: &Caller,
        id: Uuid,
        changes: AccountAccessChanges,
    ) -> CsmResult<Written<AccountAccess>> {
        let current = self.store.account_access(id).await?.ok_or_else(|| CsmError::not_found("account_access", id))?;
        self.authorize_account_access(caller, current.account, "UpdateAccountAccess").await?;
        if let Some(contacts) = &changes.allowed_contacts {
            self.ensure_contacts_of_account(current.account, contacts).await?;
        }
        let updated = AccountAccess {
            restrict_contact_access: changes.restrict_contact_access.unwrap_or(current.restrict_contact_access),
            allowed_contacts: changes.allowed_contacts.unwrap_or_else(|| current.allowed_contacts.clone()),
            restrict_account_access: changes.restrict_account_access.unwrap_or(current.restrict_account_access),
            updated_at: csm_db::now(),
            ..current
        };
        let mut tx = self.store.db().begin().await?;
        let Some(revision) = self.store.update_account_access(&mut tx, &updated).await? else {
            return Err(CsmError::not_found("account_access", id));
        };
        tx.commit().await?;
        Ok(self.committed(updated, revision))
    }

    pub async fn delete_account_access(&self, caller: &Caller, id: Uuid) -> CsmResult<Written<()>> {
        let current = self.store.account_access(id).await?.ok_or_else(|| CsmError::not_found("account_access", id))?;
        self.authorize_account_access(caller, current.account, "DeleteAccountAccess").await?;
        let mut tx = self.store.db().begin().await?;
        let Some(revision) = self.store.delete_account_access(&mut tx, id).await? else {
            return Err(CsmError::not_found("account_access", id));
        };
        tx.commit().await?;
        Ok(self.committed((), revision))
    }

    /// One page of access records; external people see those of the accounts
    /// R4.9 lets them see (a page may hold fewer rows than asked; the token goes on).
    pub async fn list_account_accesses(
        &self,
        caller: &Caller,
        restricted_only: bool,
        page: PageRequest,
    ) -> CsmResult<(Vec<AccountAccess>, String)> {
        let visible = self.visibility(caller).await?;
        let rows = self.store.list_account_accesses(restricted_only, &page).await?;
        let (mut rows, token) = page.finish(rows, |access| access.account.to_string());
        rows.retain(|access| visible.account(access.account));
        Ok((rows, token))
    }

    /// R5.13: partner contacts eligible as partner_contact on a case of `account`,
    /// ordered by contact id. External people: `account` must be visible to
    /// them and only contacts of partner accounts whose contacts they may see
    /// are listed (R4.9).
    pub async fn list_eligible_partner_contacts(
        &self,
        caller: &Caller,
        account: AccountId,
        partner: Option<AccountId>,
        page: PageRequest,
    ) -> CsmResult<(Vec<EligiblePartnerContact>, String)> {
        let visible = self.ensure_account_visible(caller, account).await?;
        if self.identity.account_ancestries(&[account]).await?.is_empty() {
            return Err(CsmError::not_found("account", account).with_metadata("field", "account_id"));
        }
        let partners = self.store.partners_of(account).await?;
        let partners = match partner {
            Some(partner) if !partners.contains(&partner) => {
                return Err(CsmError::failed_precondition(
                    "NOT_A_PARTNER_OF_ACCOUNT",
                    format!("account {account} is not a customer of partner {partner}"),
                ));
            }
            Some(partner) => vec![partner],
            None => partners,
        };
        let restrict =
            self.store.account_access_of(account).await?.is_some_and(|access| access.restrict_account_access);
        let mut eligible: BTreeMap<String, EligiblePartnerContact> = BTreeMap::new();
        for partner in partners.into_iter().filter(|partner| visible.contacts_of(*partner)) {
            for profile in self.identity.account_contacts(partner, false).await? {
                let Ok(contact) = ProfileId::parse(&profile.profile_id) else { continue };
                let holds_partner_admin =
                    restrict && self.roles.effective_roles(contact).await?.contains(PARTNER_ADMIN_ROLE);
                if let Some(path) = partner_contact_path(restrict, holds_partner_admin) {
                    eligible.entry(contact.to_string()).or_insert(EligiblePartnerContact {
                        contact,
                        partner_account: partner,
                        path,
                    });
                }
            }
        }
        let rows: Vec<EligiblePartnerContact> = match page.after.as_deref() {
            Some(after) => eligible.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => eligible.range::<str, _>(..),
        }
        .take(page.fetch_limit() as usize)
        .map(|(_, contact)| contact.clone())
        .collect();
        Ok(page.finish(rows, |contact| contact.contact.to_string()))
    }
}
