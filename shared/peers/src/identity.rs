//! The identity service, as its peers use it.

use csm_errors::CsmResult;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_proto::identity::{GetProfileRequest, ProfileKind};
// role-assign (R2.13a, R2.16, R4.8): profile, ancestry, batch and settings reads.
use csm_proto::identity::{
    BatchGetProfilesRequest, GetSettingsRequest, ListAccountAncestorsRequest, Profile, Settings,
};
use csm_server::PeerChannel;
use csm_types::{ProfileId, ServiceName};
use tonic::Code;

use crate::peer_error;

#[derive(Clone)]
pub struct IdentityPeer {
    client: IdentityServiceClient<PeerChannel>,
}

impl IdentityPeer {
    pub fn new(channel: PeerChannel) -> Self {
        Self { client: IdentityServiceClient::new(channel) }
    }

    /// Whether identity knows `profile`.
    pub async fn profile_exists(&self, profile: ProfileId) -> CsmResult<bool> {
        match self.client.clone().get_profile(GetProfileRequest { profile_id: profile.to_string() }).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    /// The kind of `profile` (R1.9) as identity records it; `None` when
    /// identity does not know the profile. Used where a rule depends on the
    /// kind, e.g. Cherwell teams take only INTERNAL profiles (R1.8).
    pub async fn profile_kind(&self, profile: ProfileId) -> CsmResult<Option<ProfileKind>> {
        match self.client.clone().get_profile(GetProfileRequest { profile_id: profile.to_string() }).await {
            Ok(response) => {
                let kind = response.into_inner().profile.map(|profile| profile.kind).unwrap_or_default();
                // A kind this build does not know reads as UNSPECIFIED, which no kind rule admits.
                Ok(Some(ProfileKind::try_from(kind).unwrap_or(ProfileKind::Unspecified)))
            }
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    // ---- role-assign (role service: R2.13a, R2.16, R4.8) ----

    /// The profile as identity records it (kind, user class, primary account);
    /// `None` when identity does not know it.
    pub async fn profile(&self, profile: ProfileId) -> CsmResult<Option<Profile>> {
        match self.client.clone().get_profile(GetProfileRequest { profile_id: profile.to_string() }).await {
            Ok(response) => Ok(response.into_inner().profile),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    /// The profiles identity knows among `profiles` (at most 1000), unknown ids left out.
    pub async fn profiles(&self, profiles: &[ProfileId]) -> CsmResult<Vec<Profile>> {
        if profiles.is_empty() {
            return Ok(Vec::new());
        }
        let request = BatchGetProfilesRequest { profile_ids: profiles.iter().map(ToString::to_string).collect() };
        let response = self
            .client
            .clone()
            .batch_get_profiles(request)
            .await
            .map_err(|status| peer_error(ServiceName::Identity, status))?;
        Ok(response.into_inner().profiles)
    }

    /// The ancestors of `account` (parent first), every page; empty for an unknown account.
    pub async fn account_ancestors(&self, account: &str) -> CsmResult<Vec<String>> {
        let mut ancestors = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListAccountAncestorsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                account_id: account.to_owned(),
            };
            let response = match self.client.clone().list_account_ancestors(request).await {
                Ok(response) => response.into_inner(),
                Err(status) if status.code() == Code::NotFound => return Ok(Vec::new()),
                Err(status) => return Err(peer_error(ServiceName::Identity, status)),
            };
            ancestors.extend(response.accounts.into_iter().map(|account| account.account_id));
            if response.next_page_token.is_empty() {
                return Ok(ancestors);
            }
            page_token = response.next_page_token;
        }
    }

    /// identity's settings (R1.3, R2.13a internal-user deny list).
    pub async fn settings(&self) -> CsmResult<Settings> {
        let response = self
            .client
            .clone()
            .get_settings(GetSettingsRequest {})
            .await
            .map_err(|status| peer_error(ServiceName::Identity, status))?;
        Ok(response.into_inner().settings.unwrap_or_default())
    }
}

// ---------------------------------------------------------------- account-team
// Lookups account-team makes to validate references (SPEC §3).

impl IdentityPeer {
    /// The kind of each known account among `accounts` (CUSTOMER or PARTNER);
    /// unknown accounts are absent from the map.
    pub async fn account_kinds(
        &self,
        accounts: &[csm_types::AccountId],
    ) -> CsmResult<std::collections::BTreeMap<csm_types::AccountId, csm_proto::identity::AccountKind>> {
        let request = csm_proto::identity::BatchGetAccountsRequest {
            account_ids: accounts.iter().map(|account| account.to_string()).collect(),
            include_ancestors: false,
        };
        let response = self
            .client
            .clone()
            .batch_get_accounts(request)
            .await
            .map_err(|status| peer_error(ServiceName::Identity, status))?
            .into_inner();
        let mut kinds = std::collections::BTreeMap::new();
        for ancestry in response.accounts {
            let Some(account) = ancestry.account else { continue };
            if let Ok(id) = csm_types::AccountId::parse(&account.account_id) {
                let kind = csm_proto::identity::AccountKind::try_from(account.kind)
                    .unwrap_or(csm_proto::identity::AccountKind::Unspecified);
                kinds.insert(id, kind);
            }
        }
        Ok(kinds)
    }

    /// Whether identity knows `consumer`.
    pub async fn consumer_exists(&self, consumer: csm_types::ConsumerId) -> CsmResult<bool> {
        let request = csm_proto::identity::GetConsumerRequest { consumer_id: consumer.to_string() };
        match self.client.clone().get_consumer(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    /// Whether identity knows `household`.
    pub async fn household_exists(&self, household: csm_types::HouseholdId) -> CsmResult<bool> {
        let request = csm_proto::identity::GetHouseholdRequest { household_id: household.to_string() };
        match self.client.clone().get_household(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }
}

// ---- account-team (access half): contacts, accounts, consumers as account-team reads them ----

impl IdentityPeer {
    /// The account of a contact (CONTACT or PARTNER_CONTACT profile); `None` when
    /// the profile is unknown or not a contact.
    pub async fn contact_account(&self, contact: ProfileId) -> CsmResult<Option<csm_types::AccountId>> {
        let Some(profile) = self.profile(contact).await? else {
            return Ok(None);
        };
        let is_contact =
            matches!(ProfileKind::try_from(profile.kind), Ok(ProfileKind::Contact | ProfileKind::PartnerContact));
        if !is_contact {
            return Ok(None);
        }
        Ok(csm_types::AccountId::parse(&profile.account_id).ok())
    }

    /// Each known account of `accounts` with its ancestors (nearest first);
    /// unknown accounts are left out.
    pub async fn account_ancestries(
        &self,
        accounts: &[csm_types::AccountId],
    ) -> CsmResult<Vec<(csm_types::AccountId, Vec<csm_types::AccountId>)>> {
        let request = csm_proto::identity::BatchGetAccountsRequest {
            account_ids: accounts.iter().map(ToString::to_string).collect(),
            include_ancestors: true,
        };
        let response = self
            .client
            .clone()
            .batch_get_accounts(request)
            .await
            .map_err(|status| peer_error(ServiceName::Identity, status))?
            .into_inner();
        let mut found = Vec::new();
        for ancestry in response.accounts {
            let Some(account) = ancestry.account else { continue };
            let Ok(id) = csm_types::AccountId::parse(&account.account_id) else { continue };
            let ancestors =
                ancestry.ancestor_account_ids.iter().filter_map(|id| csm_types::AccountId::parse(id).ok()).collect();
            found.push((id, ancestors));
        }
        Ok(found)
    }

    /// Every active contact whose primary account is `account` (and, with
    /// `include_descendants`, any account of DESC(account)), all pages.
    pub async fn account_contacts(
        &self,
        account: csm_types::AccountId,
        include_descendants: bool,
    ) -> CsmResult<Vec<csm_proto::identity::Profile>> {
        let mut profiles = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = csm_proto::identity::ListAccountContactsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                account_id: account.to_string(),
                include_descendants,
                include_inactive: false,
            };
            let page = self
                .client
                .clone()
                .list_account_contacts(request)
                .await
                .map_err(|status| peer_error(ServiceName::Identity, status))?
                .into_inner();
            profiles.extend(page.profiles);
            if page.next_page_token.is_empty() {
                return Ok(profiles);
            }
            page_token = page.next_page_token;
        }
    }

    /// Every top-level account (active or not), all pages: the roots of the
    /// account forest, so contacts of all accounts are their trees' contacts.
    pub async fn top_level_accounts(&self) -> CsmResult<Vec<csm_types::AccountId>> {
        let mut accounts = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = csm_proto::identity::ListAccountsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                top_level_only: true,
                include_inactive: true,
                ..Default::default()
            };
            let page = self
                .client
                .clone()
                .list_accounts(request)
                .await
                .map_err(|status| peer_error(ServiceName::Identity, status))?
                .into_inner();
            accounts.extend(
                page.accounts.iter().filter_map(|account| csm_types::AccountId::parse(&account.account_id).ok()),
            );
            if page.next_page_token.is_empty() {
                return Ok(accounts);
            }
            page_token = page.next_page_token;
        }
    }

    /// DESC(account): every transitive child, all pages.
    pub async fn account_descendants(&self, account: csm_types::AccountId) -> CsmResult<Vec<csm_types::AccountId>> {
        let mut accounts = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = csm_proto::identity::ListAccountDescendantsRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                account_id: account.to_string(),
                max_depth: 0,
                include_inactive: true,
            };
            let page = self
                .client
                .clone()
                .list_account_descendants(request)
                .await
                .map_err(|status| peer_error(ServiceName::Identity, status))?
                .into_inner();
            accounts.extend(
                page.accounts.iter().filter_map(|account| csm_types::AccountId::parse(&account.account_id).ok()),
            );
            if page.next_page_token.is_empty() {
                return Ok(accounts);
            }
            page_token = page.next_page_token;
        }
    }

    /// The current members of `household`; `None` when identity does not know it.
    pub async fn current_household_members(
        &self,
        household: csm_types::HouseholdId,
    ) -> CsmResult<Option<Vec<csm_types::ConsumerId>>> {
        let mut members = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = csm_proto::identity::ListHouseholdMembersRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                household_id: household.to_string(),
                include_former: false,
            };
            let page = match self.client.clone().list_household_members(request).await {
                Ok(page) => page.into_inner(),
                Err(status) if status.code() == Code::NotFound => return Ok(None),
                Err(status) => return Err(peer_error(ServiceName::Identity, status)),
            };
            members.extend(
                page.members.iter().filter_map(|member| csm_types::ConsumerId::parse(&member.consumer_id).ok()),
            );
            if page.next_page_token.is_empty() {
                return Ok(Some(members));
            }
            page_token = page.next_page_token;
        }
    }

    // ---- case-access (principal contexts, related parties, security groups) ----

    /// The principal behind `profile` in one read (DESIGN §3); `None` when
    /// identity does not know the profile.
    pub async fn resolve_principal(
        &self,
        profile: ProfileId,
    ) -> CsmResult<Option<csm_proto::identity::ResolvePrincipalResponse>> {
        use csm_proto::identity::{ResolvePrincipalRequest, resolve_principal_request::Principal};
        let request = ResolvePrincipalRequest { principal: Some(Principal::ProfileId(profile.to_string())) };
        match self.client.clone().resolve_principal(request).await {
            Ok(response) => Ok(Some(response.into_inner())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    /// The profiles matching `filter` (its page fields are ignored), every page.
    pub async fn profiles_where(&self, filter: &csm_proto::identity::ListProfilesRequest) -> CsmResult<Vec<Profile>> {
        crate::every_page(ServiceName::Identity, |page_token| {
            let mut client = self.client.clone();
            let request =
                csm_proto::identity::ListProfilesRequest { page_size: crate::PAGE, page_token, ..filter.clone() };
            async move {
                let page = client.list_profiles(request).await?.into_inner();
                Ok((page.profiles, page.next_page_token))
            }
        })
        .await
    }

    /// One page of ListProfiles, for callers that keep their own position in it.
    pub async fn profiles_page(
        &self,
        request: csm_proto::identity::ListProfilesRequest,
    ) -> CsmResult<csm_proto::identity::ListProfilesResponse> {
        let response = self
            .client
            .clone()
            .list_profiles(request)
            .await
            .map_err(|status| peer_error(ServiceName::Identity, status))?;
        Ok(response.into_inner())
    }

    /// Whether identity knows `account`.
    pub async fn account_exists(&self, account: csm_types::AccountId) -> CsmResult<bool> {
        let request = csm_proto::identity::GetAccountRequest { account_id: account.to_string() };
        match self.client.clone().get_account(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    /// Security group `id`; `None` when identity does not know it.
    pub async fn security_group(
        &self,
        id: csm_types::SecurityGroupId,
    ) -> CsmResult<Option<csm_proto::identity::SecurityGroup>> {
        let request = csm_proto::identity::GetSecurityGroupRequest { security_group_id: id.to_string() };
        match self.client.clone().get_security_group(request).await {
            Ok(response) => Ok(response.into_inner().security_group),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    /// Every security group of `kind`, all pages.
    pub async fn security_groups(
        &self,
        kind: csm_proto::identity::SecurityGroupKind,
    ) -> CsmResult<Vec<csm_proto::identity::SecurityGroup>> {
        crate::every_page(ServiceName::Identity, |page_token| {
            let mut client = self.client.clone();
            let request = csm_proto::identity::ListSecurityGroupsRequest {
                page_size: crate::PAGE,
                page_token,
                kind: kind as i32,
            };
            async move {
                let page = client.list_security_groups(request).await?.into_inner();
                Ok((page.security_groups, page.next_page_token))
            }
        })
        .await
    }

    /// identity's change feed from after `from_revision` (DESIGN §3).
    pub async fn watch(&self, from_revision: u64) -> CsmResult<tonic::Streaming<csm_proto::identity::WatchResponse>> {
        self.watch_entities(from_revision, &[]).await
    }

    /// [`IdentityPeer::watch`] of the changes of `entity_types` only (all when empty).
    pub async fn watch_entities(
        &self,
        from_revision: u64,
        entity_types: &[&str],
    ) -> CsmResult<tonic::Streaming<csm_proto::identity::WatchResponse>> {
        let entity_types = entity_types.iter().map(|kind| (*kind).to_owned()).collect();
        let request = csm_proto::identity::WatchRequest { from_revision, entity_types };
        let stream =
            self.client.clone().watch(request).await.map_err(|status| peer_error(ServiceName::Identity, status))?;
        Ok(stream.into_inner())
    }
}

// ---------------------------------------------------------------- licensing

/// What licensing needs to know about a profile: its kind, its owning login
/// (the "person" seats are counted by, R7.2) and its Cherwell security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileLicensingFacts {
    pub kind: ProfileKind,
    /// Empty when the profile has no login.
    pub login_id: String,
    /// Empty when the profile has no security group.
    pub security_group_id: String,
}

impl IdentityPeer {
    /// The licensing facts of `profile`; `None` when identity does not know it.
    pub async fn profile_licensing_facts(&self, profile: ProfileId) -> CsmResult<Option<ProfileLicensingFacts>> {
        match self.client.clone().get_profile(GetProfileRequest { profile_id: profile.to_string() }).await {
            Ok(response) => {
                let profile = response.into_inner().profile.unwrap_or_default();
                Ok(Some(ProfileLicensingFacts {
                    kind: ProfileKind::try_from(profile.kind).unwrap_or(ProfileKind::Unspecified),
                    login_id: profile.login_id,
                    security_group_id: profile.security_group_id,
                }))
            }
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }

    /// Whether identity knows the security group `security_group_id`.
    pub async fn security_group_exists(&self, security_group_id: &str) -> CsmResult<bool> {
        let request = csm_proto::identity::GetSecurityGroupRequest { security_group_id: security_group_id.to_owned() };
        match self.client.clone().get_security_group(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
    }
}
