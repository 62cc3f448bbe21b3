//! The identity service, as its peers use it.

use csm_errors::CsmResult;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_proto::identity::{GetProfileRequest, ProfileKind};
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

    /// The profile as identity records it; `None` when identity does not know it.
    pub async fn profile(&self, profile: ProfileId) -> CsmResult<Option<csm_proto::identity::Profile>> {
        match self.client.clone().get_profile(GetProfileRequest { profile_id: profile.to_string() }).await {
            Ok(response) => Ok(response.into_inner().profile),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::Identity, status)),
        }
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
