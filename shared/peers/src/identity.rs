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
