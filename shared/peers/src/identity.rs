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
