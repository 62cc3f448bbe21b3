//! role's use cases.

use std::collections::BTreeSet;
use std::sync::Arc;

use csm_auth::Caller;
use csm_changefeed::ChangeFeed;
use csm_errors::{CsmError, CsmResult};
use csm_types::ProfileId;
use uuid::Uuid;

use crate::domain::catalog::ADMIN;
use crate::domain::{PrincipalClass, RoleGraph};
use crate::store::RoleStore;

/// One way a profile holds a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: String,
    pub assigned_role: String,
    pub assignment_id: Uuid,
    /// From `assigned_role` down to `role`, both included.
    pub containment_path: Vec<String>,
}

/// `eff_roles(profile)` with the grants that explain them (§0.4, R2.7).
#[derive(Debug, Clone)]
pub struct EffectiveRoles {
    pub profile: ProfileId,
    pub roles: BTreeSet<String>,
    pub grants: Vec<RoleGrant>,
    pub class: PrincipalClass,
}

pub struct RoleApp {
    store: RoleStore,
    feed: ChangeFeed,
    graph: Arc<RoleGraph>,
}

impl RoleApp {
    /// Seeds the catalog, gives `admin` to the bootstrap administrators and
    /// loads the containment graph.
    pub async fn start(store: RoleStore, feed: ChangeFeed, bootstrap_admins: &[ProfileId]) -> CsmResult<Self> {
        let mut last_revision = store.seed_catalog().await?;
        for profile in bootstrap_admins {
            last_revision = store.ensure_direct_assignment(*profile, ADMIN).await?.or(last_revision);
        }
        if let Some(revision) = last_revision {
            feed.committed(revision);
        }
        // TODO(issue 4): the `load_suspect_edges` setting (X1); off by default.
        let (roles, edges) = store.load_graph(false).await?;
        Ok(Self { store, feed, graph: Arc::new(RoleGraph::new(roles, edges)) })
    }

    pub fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    /// The effective roles of `profile`. A person may read its own; reading
    /// another profile's needs `admin` (services are authorized by policy).
    pub async fn effective_roles(&self, caller: &Caller, profile: ProfileId) -> CsmResult<(EffectiveRoles, String)> {
        let head = self.feed.head().await?;
        if let Caller::Human(human) = caller {
            if human.profile_id != Some(profile) {
                let own = human.profile_id.ok_or_else(|| {
                    CsmError::permission_denied("ACTIVE_PROFILE_REQUIRED", "reading effective roles needs an active profile")
                })?;
                if !self.compute(own).await?.roles.contains(ADMIN) {
                    return Err(CsmError::permission_denied(
                        "MISSING_ROLE",
                        "reading another profile's effective roles requires admin",
                    ));
                }
            }
        }
        Ok((self.compute(profile).await?, self.feed.token(head)))
    }

    async fn compute(&self, profile: ProfileId) -> CsmResult<EffectiveRoles> {
        let assignments = self.store.direct_assignments(profile).await?;
        let mut roles = BTreeSet::new();
        let mut grants = Vec::new();
        for assignment in &assignments {
            let Some(paths) = self.graph.closure_paths(&assignment.role) else { continue };
            for (role, path) in paths {
                roles.insert(role.clone());
                grants.push(RoleGrant {
                    role: role.clone(),
                    assigned_role: assignment.role.clone(),
                    assignment_id: assignment.id,
                    containment_path: path.clone(),
                });
            }
        }
        let class = PrincipalClass::of(roles.iter().map(String::as_str));
        Ok(EffectiveRoles { profile, roles, grants, class })
    }
}
