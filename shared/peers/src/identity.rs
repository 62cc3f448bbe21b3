//! The identity service, as its peers use it.

use csm_errors::CsmResult;
use csm_proto::identity::GetProfileRequest;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
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
}
