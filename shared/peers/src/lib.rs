//! Calls to peer services.
//!
//! A peer's failure is translated once, here: an unreachable or overloaded peer
//! is UNAVAILABLE (`DEPENDENCY_UNAVAILABLE`) so callers fail closed; a peer's
//! client error (e.g. NOT_FOUND) keeps its code and reason; anything else is
//! INTERNAL.

mod account_team;
mod identity;

use std::future::Future;

use std::collections::BTreeSet;

use csm_auth::Caller;
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_proto::role::role_service_client::RoleServiceClient;
use csm_proto::role::{AssignRoleRequest, GetEffectiveRolesRequest, PrincipalClass};
use csm_server::PeerChannel;
use csm_types::{ProfileId, ServiceName};
use tonic::Code;

pub use account_team::{AccountTeamPeer, PrincipalAccounts};
pub use identity::IdentityPeer;

/// The licensing service, as its peers use it.
#[derive(Clone)]
pub struct LicensingPeer {
    client: csm_proto::licensing::licensing_service_client::LicensingServiceClient<PeerChannel>,
}

impl LicensingPeer {
    pub fn new(channel: PeerChannel) -> Self {
        Self { client: csm_proto::licensing::licensing_service_client::LicensingServiceClient::new(channel) }
    }

    /// Escalates a licence session's seat (DESIGN §3 "License-aware access").
    /// licensing's refusal comes back as its status: the caller names a full
    /// pool, a missing right or an ended session in its own terms.
    pub async fn escalate_session(
        &self,
        request: csm_proto::licensing::EscalateSessionRequest,
    ) -> Result<csm_proto::licensing::EscalateSessionResponse, tonic::Status> {
        Ok(self.client.clone().escalate_session(request).await?.into_inner())
    }
}

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

/// Every item of a paged list: `fetch(page_token)` answers one page's items
/// and the next page's token (empty on the last page).
pub(crate) async fn every_page<T, F, Fut>(peer: ServiceName, mut fetch: F) -> CsmResult<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    loop {
        let (page, next) = fetch(page_token).await.map_err(|status| peer_error(peer, status))?;
        items.extend(page);
        if next.is_empty() {
            return Ok(items);
        }
        page_token = next;
    }
}

/// Page size of the lists read through [`every_page`].
pub(crate) const PAGE: i32 = 1000;

/// The explicit class of a profile (R2.7): which of snc_internal and
/// snc_external its effective roles reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplicitClass {
    /// Neither: the profile gets its default at first login (R2.13a).
    None,
    Internal,
    External,
    /// Legacy data only (R2.11.2).
    Both,
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

    /// The direct group memberships of `profile` (R6.2, R6.3), every page.
    pub async fn profile_groups(&self, profile: ProfileId) -> CsmResult<Vec<csm_proto::role::ProfileGroupMembership>> {
        every_page(ServiceName::Role, |page_token| {
            let mut client = self.client.clone();
            let request = csm_proto::role::ListProfileGroupsRequest {
                profile_id: profile.to_string(),
                page_size: PAGE,
                page_token,
                kind: 0,
                include_ancestors: false,
            };
            async move {
                let page = client.list_profile_groups(request).await?.into_inner();
                Ok((page.memberships, page.next_page_token))
            }
        })
        .await
    }

    /// role's change feed from after `from_revision` (DESIGN §3).
    pub async fn watch(&self, from_revision: u64) -> CsmResult<tonic::Streaming<csm_proto::role::WatchResponse>> {
        let request = csm_proto::role::WatchRequest { from_revision };
        let stream =
            self.client.clone().watch(request).await.map_err(|status| peer_error(ServiceName::Role, status))?;
        Ok(stream.into_inner())
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

    /// `eff_roles` of `profile` and its group memberships as they would be
    /// after the change `request` proposes, nothing written (access review).
    pub async fn preview_effective_roles(
        &self,
        request: csm_proto::role::PreviewEffectiveRolesRequest,
    ) -> CsmResult<csm_proto::role::EffectiveRoles> {
        let response = self
            .client
            .clone()
            .preview_effective_roles(request)
            .await
            .map_err(|status| peer_error(ServiceName::Role, status))?
            .into_inner();
        Ok(response.effective_roles.unwrap_or_default())
    }

    /// The explicit class of `profile` (R2.7), as GetEffectiveRoles reports it.
    pub async fn explicit_class(&self, profile: ProfileId) -> CsmResult<ExplicitClass> {
        let response = self
            .client
            .clone()
            .get_effective_roles(GetEffectiveRolesRequest { profile_id: profile.to_string(), consistency: None })
            .await
            .map_err(|status| peer_error(ServiceName::Role, status))?
            .into_inner();
        let class = response.effective_roles.map(|roles| roles.principal_class).unwrap_or_default();
        Ok(match PrincipalClass::try_from(class) {
            Ok(PrincipalClass::Internal) => ExplicitClass::Internal,
            Ok(PrincipalClass::External) => ExplicitClass::External,
            Ok(PrincipalClass::Both) => ExplicitClass::Both,
            // Unknown profiles and profiles without assignments are NONE.
            Ok(PrincipalClass::None | PrincipalClass::Unspecified) | Err(_) => ExplicitClass::None,
        })
    }

    /// Assigns `role` directly to `profile` with this service's identity
    /// (e.g. identity giving snc_external to a new contact, R2.14). Returns
    /// false when the profile already held the assignment (ASSIGNMENT_EXISTS),
    /// so a retried caller succeeds. No request id is sent on purpose: a
    /// replayed id would answer "done" for an assignment revoked since.
    pub async fn assign_role(&self, profile: ProfileId, role: &str) -> CsmResult<bool> {
        let request =
            AssignRoleRequest { request_id: String::new(), profile_id: profile.to_string(), role: role.to_owned() };
        match self.client.clone().assign_role(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::AlreadyExists => Ok(false),
            Err(status) => Err(peer_error(ServiceName::Role, status)),
        }
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
            CsmError::permission_denied(
                "ACTIVE_PROFILE_REQUIRED",
                format!("{action} needs a token with an active profile"),
            )
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

// licensing
pub use identity::ProfileLicensingFacts;
