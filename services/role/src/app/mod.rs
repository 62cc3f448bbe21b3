//! role's use cases: authorize the caller, validate, call the store, emit the
//! change. One module per area, as `impl RoleApp` blocks.

mod anomalies;
mod assignments;
mod catalog;
mod catalog_admin;
mod delegation;
mod groups;
mod profiles;
mod settings;
mod validation;

use csm_auth::Caller;
use csm_changefeed::ChangeFeed;
use csm_errors::{CsmError, CsmResult};
use csm_peers::{AccountTeamPeer, IdentityPeer};
use csm_types::ProfileId;

use crate::domain::catalog::ADMIN;
use crate::store::RoleStore;

pub use self::anomalies::{AnomaliesFixed, AnomalyFixed, FixRequest, MAX_FIX_BATCH, RoleAnomaly, not_fixable};
pub use self::assignments::Assigned;
pub use self::catalog::{Catalog, LiveCatalog, LiveGraph, RoleFilter};
pub use self::catalog_admin::{ContainmentAdded, RoleDefinition};
pub use self::groups::{GroupUpdate, GroupView, GroupWritten, MemberWritten};
pub use self::profiles::{
    AssignableRoles, DefaultClassEnsured, DefaultClassOutcome, EffectiveRoles, GrantSource, ProfileRoleChange,
    ProfileRolesReplaced, RoleGrant, RoleProposal,
};
pub use self::validation::{FindingPath, ValidationFinding};

/// role's state: its tables, its change feed, its peers and the catalog in
/// force. The use cases are `impl RoleApp` blocks, one module per area.
pub struct RoleApp {
    store: RoleStore,
    feed: ChangeFeed,
    identity: IdentityPeer,
    /// PCUST for a partner admin's delegated scope (R4.8).
    account_team: AccountTeamPeer,
    catalog: LiveCatalog,
    graph: LiveGraph,
}

impl RoleApp {
    /// Seeds the catalog, gives `admin` to the bootstrap administrators and
    /// loads the containment graph.
    pub async fn start(
        store: RoleStore,
        feed: ChangeFeed,
        identity: IdentityPeer,
        account_team: AccountTeamPeer,
        bootstrap_admins: &[ProfileId],
    ) -> CsmResult<Self> {
        let mut last_revision = store.seed_catalog().await?;
        for profile in bootstrap_admins {
            last_revision = store.ensure_direct_assignment(*profile, ADMIN).await?.or(last_revision);
        }
        last_revision = store.seed_aliases().await?.or(last_revision);
        if let Some(revision) = last_revision {
            feed.committed(revision);
        }
        let catalog = LiveCatalog::new(Catalog::from_snapshot(store.catalog_snapshot().await?));
        let graph = catalog.graph();
        Ok(Self { store, feed, identity, account_team, catalog, graph })
    }

    pub fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    /// Role administrators (and audit readers, [`csm_server::AUDIT_READER_ROLES`])
    /// are people holding `admin`; services were authorized by the static policy.
    async fn authorize_role_administration(&self, caller: &Caller, action: &str) -> CsmResult<()> {
        let Caller::Human(human) = caller else { return Ok(()) };
        let profile = human.profile_id.ok_or_else(|| {
            CsmError::permission_denied(
                "ACTIVE_PROFILE_REQUIRED",
                format!("{action} needs a token with an active profile"),
            )
        })?;
        if self.compute(profile).await?.roles.contains(ADMIN) {
            Ok(())
        } else {
            Err(CsmError::permission_denied("MISSING_ROLE", format!("{action} requires admin"))
                .with_metadata("required_any_of", ADMIN))
        }
    }
}

/// The audit trail is read by administrators (`csm.audit.v1`).
impl csm_server::AuditReaders for RoleApp {
    async fn authorize_audit_read(&self, caller: &Caller) -> CsmResult<()> {
        debug_assert_eq!(csm_server::AUDIT_READER_ROLES, &[ADMIN]);
        self.authorize_role_administration(caller, "ListAuditEvents").await
    }
}
