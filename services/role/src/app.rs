//! role's use cases.

mod anomalies;
mod catalog;
mod groups;
mod profiles;
mod validation;

use std::collections::{BTreeMap, BTreeSet};

use csm_auth::Caller;
use csm_changefeed::ChangeFeed;
use csm_changefeed::idempotency::RequestKey;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_peers::{AccountTeamPeer, IdentityPeer};
use csm_types::{GroupId, ProfileId};
use uuid::Uuid;

use crate::domain::assignments::DirectAssignment;
use crate::domain::catalog::ADMIN;
use crate::domain::catalog::{CatalogRole, ContainmentEdge};
use crate::domain::collisions::{Finding, MixingPolicy, PersonaPolicy, Policies};
use crate::domain::groups::{GroupHierarchy, GroupMembership, memberships_from};
use crate::domain::settings::{
    CONTACT_ROLE_ASSIGNMENT_KEY, MIXING_POLICY_KEY, PERSONA_POLICY_KEY, RoleSettings, SettingsChange,
};
use crate::domain::{PrincipalClass, RoleFamily, RoleGraph};
use crate::store::RoleStore;

pub use self::anomalies::{AnomaliesFixed, AnomalyFixed, FixRequest, MAX_FIX_BATCH, RoleAnomaly, not_fixable};
pub use self::catalog::{ContainmentAdded, LiveCatalog, LiveGraph, RoleDefinition};
pub use self::groups::{GroupUpdate, GroupView, GroupWritten, MemberWritten};
pub use self::profiles::{
    AssignableRoles, DefaultClassEnsured, DefaultClassOutcome, GrantSource, ProfileRoleChange, ProfileRolesReplaced,
};
pub use self::validation::{FindingPath, ValidationFinding};

/// One way a profile holds a role (R2.18, R2.19, §0.4 closure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: String,
    /// The role assigned to the profile or to `group`.
    pub assigned_role: String,
    /// The direct assignment, when `assigned_role` is assigned to the profile itself.
    pub assignment_id: Option<Uuid>,
    /// The group `assigned_role` is assigned to, when it comes through a group.
    pub group: Option<GroupId>,
    /// From the profile's direct membership up the parent chain to `group` (inclusive).
    pub group_path: Vec<GroupId>,
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
    /// Groups the profile belongs to, directly and through ancestry.
    pub group_memberships: Vec<GroupMembership>,
    pub flagged_for_review: bool,
}

/// The result of an assignment: the new direct assignment and the warnings a
/// WARN policy let through.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub assignment: DirectAssignment,
    pub profile: ProfileId,
    pub warnings: Vec<Finding>,
    pub consistency_token: String,
}

/// The catalog as loaded at start-up: rows, every edge (suspect ones too) and
/// the graph of the active edges with its precomputed closures.
pub struct Catalog {
    pub roles: BTreeMap<String, CatalogRole>,
    pub edges: Vec<ContainmentEdge>,
    pub graph: RoleGraph,
    pub load_suspect_edges: bool,
    /// alias → canonical role (X11).
    pub aliases: BTreeMap<String, String>,
    /// The role-graph lock's version this catalog was read at.
    pub version: i64,
}

impl Catalog {
    fn new(roles: Vec<CatalogRole>, edges: Vec<ContainmentEdge>, load_suspect_edges: bool) -> Self {
        let graph = RoleGraph::new(
            roles.iter().map(|role| role.name.clone()),
            edges
                .iter()
                .filter(|edge| load_suspect_edges || !edge.suspect)
                .map(|edge| (edge.parent.clone(), edge.child.clone())),
        );
        let roles = roles.into_iter().map(|role| (role.name.clone(), role)).collect();
        Self { roles, edges, graph, load_suspect_edges, aliases: BTreeMap::new(), version: 0 }
    }

    /// The direct edges of `role`.
    pub fn edges_of<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a ContainmentEdge> + 'a {
        self.edges.iter().filter(move |edge| edge.parent == role)
    }
}

/// Filters of ListRoles.
#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    pub family: Option<RoleFamily>,
    /// "seeded" (seed + doc) or "custom".
    pub custom: Option<bool>,
    pub name_contains: Option<String>,
}

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

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// One role of the catalog, by name or alias (any authenticated caller).
    pub fn get_role(&self, name: &str) -> CsmResult<&CatalogRole> {
        let canonical = self.catalog.canonical(name);
        self.catalog.roles.get(canonical).ok_or_else(|| CsmError::not_found("role", name))
    }

    /// A page of the catalog in name order (any authenticated caller).
    pub fn list_roles(&self, filter: &RoleFilter, page: &PageRequest) -> (Vec<&CatalogRole>, String) {
        let needle = filter.name_contains.as_ref().map(|needle| needle.to_lowercase());
        let rows: Vec<&CatalogRole> = self
            .catalog
            .roles
            .values()
            .filter(|role| page.after.as_ref().is_none_or(|after| role.name.as_str() > after.as_str()))
            .filter(|role| filter.family.is_none_or(|family| self.graph.family(&role.name) == family))
            .filter(|role| filter.custom.is_none_or(|custom| (role.origin == "custom") == custom))
            .filter(|role| {
                needle.as_ref().is_none_or(|needle| {
                    role.name.to_lowercase().contains(needle.as_str())
                        || self
                            .catalog
                            .aliases_of(&role.name)
                            .any(|alias| alias.to_lowercase().contains(needle.as_str()))
                })
            })
            .take(page.fetch_limit() as usize)
            .collect();
        page.finish(rows, |role| role.name.clone())
    }

    /// The effective roles of `profile`. A person may read its own; reading
    /// another profile's needs `admin` (services are authorized by policy).
    pub async fn effective_roles(&self, caller: &Caller, profile: ProfileId) -> CsmResult<(EffectiveRoles, String)> {
        let head = self.feed.head().await?;
        if let Caller::Human(human) = caller
            && human.profile_id != Some(profile)
        {
            let own = human.profile_id.ok_or_else(|| {
                CsmError::permission_denied(
                    "ACTIVE_PROFILE_REQUIRED",
                    "reading effective roles needs an active profile",
                )
            })?;
            if !self.compute(own).await?.roles.contains(ADMIN) {
                return Err(CsmError::permission_denied(
                    "MISSING_ROLE",
                    "reading another profile's effective roles requires admin",
                ));
            }
        }
        Ok((self.compute(profile).await?, self.feed.token(head)))
    }

    /// `eff_roles(profile)`: the closure of every role assigned to the profile
    /// directly or to a group it belongs to directly or through ancestry
    /// (§0.4, R2.18, R2.19). The group part is one query (memberships →
    /// ancestry closure → group roles); closures come precomputed from the graph.
    async fn compute(&self, profile: ProfileId) -> CsmResult<EffectiveRoles> {
        let assignments = self.store.direct_assignments(profile).await?;
        let inheritance = self.store.profile_inheritance(profile).await?;
        let mut roles = BTreeSet::new();
        let mut grants = Vec::new();
        for assignment in &assignments {
            let Some(paths) = self.graph.closure_paths(&assignment.role) else { continue };
            for (role, path) in paths {
                roles.insert(role.clone());
                grants.push(RoleGrant {
                    role: role.clone(),
                    assigned_role: assignment.role.clone(),
                    assignment_id: Some(assignment.id),
                    group: None,
                    group_path: Vec::new(),
                    containment_path: path.clone(),
                });
            }
        }
        let hierarchy = GroupHierarchy::new(
            inheritance.iter().map(|row| (row.member_group, row.ancestor, row.depth)),
            inheritance.iter().filter_map(|row| row.role.clone().map(|role| (row.ancestor, role))),
        );
        for row in &inheritance {
            let Some(assigned_role) = &row.role else { continue };
            let Some(paths) = self.graph.closure_paths(assigned_role) else { continue };
            let chain = hierarchy.chain(row.member_group);
            let group_path: Vec<GroupId> = chain.iter().take(row.depth as usize + 1).copied().collect();
            for (role, path) in paths {
                roles.insert(role.clone());
                grants.push(RoleGrant {
                    role: role.clone(),
                    assigned_role: assigned_role.clone(),
                    assignment_id: None,
                    group: Some(row.ancestor),
                    group_path: group_path.clone(),
                    containment_path: path.clone(),
                });
            }
        }
        // By role; within a role direct grants come before group grants (stable sort).
        grants.sort_by(|left, right| left.role.cmp(&right.role));
        let group_memberships = memberships_from(
            inheritance.iter().map(|row| (row.member_group, row.manager, row.ancestor, row.depth, row.ancestor_kind)),
        );
        let class = PrincipalClass::of(roles.iter().map(String::as_str));
        let flagged_for_review = self.store.is_flagged_for_review(profile).await?;
        Ok(EffectiveRoles { profile, roles, grants, class, group_memberships, flagged_for_review })
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

    /// The role named `name` (or one of its aliases), canonical.
    fn known_role(&self, name: &str) -> CsmResult<String> {
        let canonical = self.catalog.canonical(name);
        if self.graph.contains_role(canonical) {
            Ok(canonical.to_owned())
        } else {
            Err(CsmError::not_found("role", name))
        }
    }

    async fn policies(&self) -> CsmResult<Policies> {
        Ok(self.settings().await?.policies)
    }

    /// The role settings (any authenticated caller may read them).
    pub async fn settings(&self) -> CsmResult<RoleSettings> {
        let (values, updated_at) = self.store.settings().await?;
        Ok(RoleSettings::from_stored(&values, updated_at))
    }

    /// Updates the settings named in `change` (role administrators only).
    pub async fn update_settings(&self, caller: &Caller, change: SettingsChange) -> CsmResult<(RoleSettings, String)> {
        self.authorize_role_administration(caller, "UpdateRoleSettings").await?;
        let mut values: Vec<(&str, String)> = Vec::new();
        if let Some(mixing) = change.mixing {
            values.push((MIXING_POLICY_KEY, if mixing == MixingPolicy::Warn { "WARN" } else { "DENY" }.to_owned()));
        }
        if let Some(persona) = change.persona {
            values
                .push((PERSONA_POLICY_KEY, if persona == PersonaPolicy::Warn { "WARN" } else { "REJECT" }.to_owned()));
        }
        if let Some(roles) = change.contact_role_assignment {
            let mut canonical = Vec::new();
            for role in roles {
                canonical.push(self.known_role(&role)?);
            }
            canonical.dedup();
            values.push((CONTACT_ROLE_ASSIGNMENT_KEY, canonical.join(",")));
        }
        // Loading the suspect edges (X1) is a containment edit with all its
        // checks, in its own transaction under the role-graph lock.
        let suspect_revision = match change.load_suspect_edges {
            Some(load) => Some(self.set_load_suspect_edges(load).await?.0),
            None => None,
        };
        if values.is_empty() {
            let revision = suspect_revision
                .ok_or_else(|| CsmError::invalid_field("update_mask", "must name at least one setting"))?;
            return Ok((self.settings().await?, self.feed.token(revision)));
        }
        let revision = self.store.write_settings(&values).await?;
        self.feed.committed(revision);
        Ok((self.settings().await?, self.feed.token(revision)))
    }

    /// Assigns `role` directly to `profile` (R2.10–R2.17, R1.13–R1.15),
    /// checked against everything the profile holds, directly and through its
    /// groups. The profile's assignment lock serializes writers of one profile
    /// and the shared role-graph lock keeps group writes out, so two writes
    /// that would together collide cannot both succeed.
    pub async fn assign_role(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        profile: ProfileId,
        role: &str,
    ) -> CsmResult<Assigned> {
        let role = self.known_role(role)?;
        const RPC: &str = "AssignRole";
        // Role administrators, services and delegated admins (R4.7, R4.8).
        self.authorize_profile_assignment(caller, profile, std::slice::from_ref(&role), RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &(profile, &role));
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let (id, revision) = (replay.id()?, replay.revision);
            let assignments = self.store.direct_assignments(profile).await?;
            let assignment = assignments
                .into_iter()
                .find(|assignment| assignment.id == id)
                .ok_or_else(|| CsmError::not_found("assignment", id))?;
            return Ok(Assigned {
                assignment,
                profile,
                warnings: Vec::new(),
                consistency_token: self.feed.token(revision),
            });
        }
        // People name profiles identity must know; services (identity itself,
        // assigning snc_external while it creates a contact) are trusted.
        if matches!(caller, Caller::Human(_)) && !self.identity.profile_exists(profile).await? {
            return Err(CsmError::not_found("profile", profile));
        }
        let policies = self.policies().await?;
        let mut tx = self.store.db().begin().await?;
        // The profile lock is the first statement: on SQLite a transaction must
        // write first to be serialized with the other writers.
        self.store.lock_profile(&mut tx, profile).await?;
        self.store.lock_role_graph_shared(&mut tx).await?;
        // One check for AssignRole, ReplaceProfileRoles and ValidateAssignment;
        // roles inherited through groups collide like direct ones (R2.18, R2.19).
        let warnings = self
            .checked_profile_roles(&mut tx, profile, profiles::ProfileRoleChange::Add(&role), None, policies)
            .await?
            .warnings;
        let (assignment, revision) = self.store.insert_assignment(&mut tx, profile, &role).await?;
        if let Some(warning) = warnings.first() {
            self.store.flag_for_review(&mut tx, profile, warning.reason).await?;
        }
        if !key.record(&mut tx, assignment.id, revision, "").await? {
            drop(tx);
            return Box::pin(self.assign_role(caller, request_id, profile, &role)).await;
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(Assigned { assignment, profile, warnings, consistency_token: self.feed.token(revision) })
    }

    /// Revokes the direct assignment of `role` to `profile`. A profile is never
    /// left without any role (R1.6: every user holds at least one role).
    pub async fn revoke_role(&self, caller: &Caller, profile: ProfileId, role: &str) -> CsmResult<String> {
        let role = self.known_role(role)?;
        self.authorize_profile_assignment(caller, profile, std::slice::from_ref(&role), "RevokeRole").await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_profile(&mut tx, profile).await?;
        let held = self.store.direct_assignments_in(&mut tx, profile).await?;
        if !held.iter().any(|assignment| assignment.role == role) {
            return Err(CsmError::not_found("assignment", format!("{profile}/{role}")));
        }
        if held.len() == 1 {
            return Err(CsmError::failed_precondition(
                "LAST_ROLE",
                format!("{role} is the last role of {profile}; every user holds at least one role (R1.6)"),
            ));
        }
        let revision = self
            .store
            .delete_assignment(&mut tx, profile, &role)
            .await?
            .ok_or_else(|| CsmError::not_found("assignment", format!("{profile}/{role}")))?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(self.feed.token(revision))
    }
}

/// FAILED_PRECONDITION naming the rule and the first colliding path.
fn collision_error(profile: ProfileId, role: &str, finding: &Finding) -> CsmError {
    CsmError::failed_precondition(finding.reason, finding.message.clone())
        .with_metadata("rule", finding.rule)
        .with_metadata("profile_id", profile.to_string())
        .with_metadata("role", role)
        .with_metadata("conflicting_role", finding.existing_path.last().cloned().unwrap_or_default())
        .with_metadata("path", format!("{} | {}", finding.existing_path.join(" > "), finding.new_path.join(" > ")))
}

/// The audit trail is read by administrators (`csm.audit.v1`).
impl csm_server::AuditReaders for RoleApp {
    async fn authorize_audit_read(&self, caller: &Caller) -> CsmResult<()> {
        debug_assert_eq!(csm_server::AUDIT_READER_ROLES, &[ADMIN]);
        self.authorize_role_administration(caller, "ListAuditEvents").await
    }
}
