//! GetPrincipalRelationships: everything case-access caches about a
//! principal's relationships in one answer (DESIGN §3): CR(me), team
//! memberships, PCUST of a partner contact's account, consumer relationships
//! naming its consumer, account accesses, and the responsibilities they use.
//! Read at one feed revision: the head is read first, so a Watch from it
//! cannot miss a change committed after the snapshot.

use std::collections::BTreeSet;

use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_proto::identity::ProfileKind;
use csm_types::visibility::{self, Viewer, Visibility};
use csm_types::{AccountId, ConsumerId, ProfileId, ResponsibilityId};

use crate::AccountTeamApp;
use crate::domain::access::AccountAccess;
use crate::domain::contacts::{
    ConsumerRelationship, ConsumerRelationshipFilter, ContactRelationship, ContactRelationshipFilter,
};
use crate::domain::definitions::ResponsibilityDefinition;
use crate::domain::relationships::PartnerCustomer;
use crate::domain::teams::TeamMember;

/// Rows drained per store page.
const DRAIN: i32 = 1000;

/// The relationships of one principal (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct PrincipalRelationships {
    pub profile: Option<ProfileId>,
    pub kind: Option<ProfileKind>,
    pub account: Option<AccountId>,
    pub consumer: Option<ConsumerId>,
    pub contact_relationships: Vec<ContactRelationship>,
    pub team_memberships: Vec<TeamMember>,
    pub partner_account: Option<AccountId>,
    pub partner_customers: Vec<PartnerCustomer>,
    pub consumer_relationships: Vec<ConsumerRelationship>,
    pub account_accesses: Vec<AccountAccess>,
    pub responsibilities: Vec<ResponsibilityDefinition>,
    pub revision: u64,
}

/// Drains a keyset-paged store list.
async fn drain<T, F, Fut>(key: impl Fn(&T) -> String, mut page_of: F) -> CsmResult<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = CsmResult<Vec<T>>>,
{
    let mut all = Vec::new();
    let mut page = PageRequest::parse(DRAIN, "")?;
    loop {
        let rows = page_of(page.clone()).await?;
        let (rows, next) = page.finish(rows, &key);
        all.extend(rows);
        if next.is_empty() {
            return Ok(all);
        }
        page = PageRequest::parse(DRAIN, &next)?;
    }
}

impl AccountTeamApp {
    pub async fn principal_relationships(
        &self,
        caller: &Caller,
        profile: ProfileId,
    ) -> CsmResult<PrincipalRelationships> {
        // Services (case-access) by policy; a person only for itself or as admin.
        if let Caller::Human(human) = caller
            && human.profile_id != Some(profile)
        {
            self.roles.authorize(caller, &[], "read another principal's relationships").await?;
        }
        let revision = self.feed.head().await?;
        let record = self.identity.profile(profile).await?.ok_or_else(|| CsmError::not_found("profile", profile))?;
        let kind = ProfileKind::try_from(record.kind).unwrap_or(ProfileKind::Unspecified);
        let account = uuid::Uuid::parse_str(&record.account_id).ok().map(AccountId::from_uuid);
        let consumer = uuid::Uuid::parse_str(&record.consumer_id).ok().map(ConsumerId::from_uuid);
        let contact = matches!(kind, ProfileKind::Contact | ProfileKind::PartnerContact);
        let mut answer = PrincipalRelationships {
            profile: Some(profile),
            kind: Some(kind),
            account: account.filter(|_| contact),
            consumer,
            revision,
            ..PrincipalRelationships::default()
        };
        if contact {
            let filter = ContactRelationshipFilter { contact: Some(profile), ..ContactRelationshipFilter::default() };
            answer.contact_relationships = drain(
                |row: &ContactRelationship| row.id.to_string(),
                |page| {
                    let filter = filter.clone();
                    async move { self.store.list_contact_relationships(&filter, &page).await }
                },
            )
            .await?;
        }
        answer.team_memberships = drain(
            |row: &TeamMember| row.id.to_string(),
            |page| async move { self.store.list_memberships_of_profile(profile, &page).await },
        )
        .await?;
        if kind == ProfileKind::PartnerContact
            && let Some(partner) = answer.account
        {
            answer.partner_account = Some(partner);
            answer.partner_customers = drain(crate::store::relationships::customer_key, |page| async move {
                self.store.list_partner_customers(partner, &page).await
            })
            .await?;
        }
        if let Some(consumer) = consumer {
            let filter = ConsumerRelationshipFilter { related_consumer: Some(consumer), ..Default::default() };
            answer.consumer_relationships = drain(
                |row: &ConsumerRelationship| row.id.to_string(),
                |page| {
                    let filter = filter.clone();
                    async move { self.store.list_consumer_relationships(&filter, &page).await }
                },
            )
            .await?;
        }
        let mut accounts: BTreeSet<AccountId> = answer.account.into_iter().collect();
        accounts.extend(answer.contact_relationships.iter().map(|row| row.account));
        for account in accounts {
            answer.account_accesses.extend(self.store.account_access_of(account).await?);
        }
        let mut used: BTreeSet<ResponsibilityId> = BTreeSet::new();
        used.extend(answer.contact_relationships.iter().filter_map(|row| row.responsibility));
        used.extend(answer.team_memberships.iter().map(|row| row.responsibility));
        used.extend(answer.consumer_relationships.iter().filter_map(|row| row.responsibility));
        let used: Vec<ResponsibilityId> = used.into_iter().collect();
        answer.responsibilities = self.store.get_responsibilities(&used).await?;
        Ok(answer)
    }
}

impl AccountTeamApp {
    /// What `caller` may see of accounts and contacts: R4.9's table, the one
    /// identity applies (`csm_types::visibility`). Services, internal people
    /// and profile readers see everything; external people their accounts.
    pub(crate) async fn visibility(&self, caller: &Caller) -> CsmResult<Visibility> {
        let profile = match caller {
            Caller::Service(_) => return Ok(Visibility::Everything),
            Caller::Human(human) => match human.profile_id {
                Some(profile) => profile,
                None => return Ok(visibility::visibility(&Viewer::default())),
            },
        };
        let mut viewer =
            Viewer { roles: self.roles.effective_roles(profile).await?.into_iter().collect(), ..Viewer::default() };
        if viewer.sees_everything() {
            return Ok(Visibility::Everything);
        }
        let record = self.identity.profile(profile).await?.ok_or_else(|| CsmError::not_found("profile", profile))?;
        let kind = ProfileKind::try_from(record.kind).unwrap_or(ProfileKind::Unspecified);
        viewer.internal = kind == ProfileKind::Internal;
        if viewer.sees_everything() {
            return Ok(Visibility::Everything);
        }
        if matches!(kind, ProfileKind::Contact | ProfileKind::PartnerContact) {
            viewer.account = AccountId::parse(&record.account_id).ok();
            viewer.contact_relationships = self.store.contact_relationship_accounts(profile).await?;
        }
        if let Some(account) = viewer.account {
            if viewer.roles.contains(visibility::CUSTOMER_ADMIN) || viewer.roles.contains(visibility::PARTNER_ADMIN) {
                let descendants = self.identity.account_descendants(account).await?;
                viewer.descendants = descendants.into_iter().filter(|other| *other != account).collect();
            }
            if viewer.roles.contains(visibility::PARTNER) || viewer.roles.contains(visibility::PARTNER_ADMIN) {
                let customers = drain(crate::store::relationships::customer_key, |page| async move {
                    self.store.list_partner_customers(account, &page).await
                })
                .await?;
                viewer.partner_customers = customers.into_iter().map(|row| row.customer_account).collect();
            }
        }
        Ok(visibility::visibility(&viewer))
    }

    /// PERMISSION_DENIED `ACCOUNT_NOT_VISIBLE` unless R4.9 lets `caller` see `account`.
    pub(crate) async fn ensure_account_visible(&self, caller: &Caller, account: AccountId) -> CsmResult<Visibility> {
        let visible = self.visibility(caller).await?;
        if visible.account(account) {
            return Ok(visible);
        }
        Err(account_not_visible(account))
    }
}

/// The one error for an account R4.9 hides from the caller (as identity's GetAccount).
pub(crate) fn account_not_visible(account: AccountId) -> CsmError {
    CsmError::permission_denied(
        "ACCOUNT_NOT_VISIBLE",
        format!("account {account} is not visible to this caller (R4.9)"),
    )
    .with_metadata("account_id", account.to_string())
}
