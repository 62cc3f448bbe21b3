//! Calls to peer services.
//!
//! A peer's failure is translated once, here: an unreachable or overloaded peer
//! is UNAVAILABLE (`DEPENDENCY_UNAVAILABLE`) so callers fail closed; a peer's
//! client error (e.g. NOT_FOUND) keeps its code and reason; anything else is
//! INTERNAL.

mod identity;

use std::collections::BTreeSet;

use csm_auth::Caller;
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_proto::role::role_service_client::RoleServiceClient;
use csm_proto::role::GetEffectiveRolesRequest;
use csm_server::PeerChannel;
use csm_types::{ProfileId, ServiceName};
use tonic::Code;

pub use identity::IdentityPeer;

/// Translates a peer's status into the caller's error.
pub fn peer_error(peer: ServiceName, status: tonic::Status) -> CsmError {
    let code = match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted | Code::Unknown => {
            return CsmError::unavailable(
                "DEPENDENCY_UNAVAILABLE",
                format!("the {peer} service did not answer ({:?})", status.code()),
            )
            .with_metadata("dependency", peer.as_str());
        }
        Code::NotFound => ErrorCode::NotFound,
        Code::InvalidArgument => ErrorCode::InvalidArgument,
        Code::FailedPrecondition => ErrorCode::FailedPrecondition,
        Code::PermissionDenied => ErrorCode::PermissionDenied,
        Code::AlreadyExists => ErrorCode::AlreadyExists,
        _ => return CsmError::internal(format!("{peer} answered {:?}: {}", status.code(), status.message())),
    };
    CsmError::new(code, "DEPENDENCY_REJECTED", format!("{peer}: {}", status.message()))
        .with_metadata("dependency", peer.as_str())
}

/// The role service, as its peers use it.
#[derive(Clone)]
pub struct RolePeer {
    client: RoleServiceClient<PeerChannel>,
}

impl RolePeer {
    pub fn new(channel: PeerChannel) -> Self {
        Self { client: RoleServiceClient::new(channel) }
    }

    /// `eff_roles` of `profile`: canonical role names.
    pub async fn effective_roles(&self, profile: ProfileId) -> CsmResult<BTreeSet<String>> {
        let response = self
            .client
            .clone()
            .get_effective_roles(GetEffectiveRolesRequest { profile_id: profile.to_string(), consistency: None })
            .await
            .map_err(|status| peer_error(ServiceName::Role, status))?
            .into_inner();
        Ok(response.effective_roles.map(|roles| roles.roles.into_iter().collect()).unwrap_or_default())
    }

    /// Succeeds when `caller` is a person whose active profile holds at least one of
    /// `any_of` (R2.20 union semantics). Service callers were already authorized by
    /// the static policy of the auth layer.
    pub async fn authorize(&self, caller: &Caller, any_of: &[&str], action: &str) -> CsmResult<()> {
        let human = match caller {
            Caller::Service(_) => return Ok(()),
            Caller::Human(human) => human,
        };
        let profile = human.profile_id.ok_or_else(|| {
            CsmError::permission_denied("ACTIVE_PROFILE_REQUIRED", format!("{action} needs a token with an active profile"))
        })?;
        let roles = self.effective_roles(profile).await?;
        if any_of.iter().any(|role| roles.contains(*role)) {
            Ok(())
        } else {
            Err(CsmError::permission_denied("MISSING_ROLE", format!("{action} requires one of: {}", any_of.join(", ")))
                .with_metadata("required_any_of", any_of.join(",")))
        }
    }
}
