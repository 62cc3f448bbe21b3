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
