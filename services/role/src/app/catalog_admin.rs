//! Catalog administration use cases: custom roles, containment edits, aliases
//! and the suspect-edge setting (§2.2, R2.6, R2.8–R2.12, R4.13, X1, X11).
//!
//! Effective roles are computed per call from the stored assignments and the
//! in-memory graph of precomputed closures ([`RoleGraph`](crate::domain::RoleGraph)),
//! so a containment edit only has to (1) check, under the role-graph lock, the
//! roles whose closure grows and every profile and group holding them, (2)
//! write the edge with its change, and (3) publish the rebuilt graph. Every edit takes
//! the role-graph lock exclusively as its first statement and re-reads the
//! catalog from the database under it, so two racing edits (also on two
//! replicas) are serialized by the database and the second one sees the
//! first: they cannot together create a cycle or a collision.

use std::collections::BTreeSet;

use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_db::Tx;
use csm_errors::{CsmError, CsmResult};
use csm_types::{GroupId, ProfileId, roles};

use super::RoleApp;
use super::catalog::Catalog;
use super::validation::{AsFinding, ValidationFinding, dry_run_findings};
use crate::domain::RoleFamily;
use crate::domain::catalog::CatalogRole;
use crate::domain::catalog_admin::{CatalogViolation, HolderFinding, can_collide, graph_with_edges, roles_reaching};
use crate::domain::collisions::{Finding, Policies, check_additions};

/// A role to define (DefineRole).
#[derive(Debug, Clone)]
pub struct RoleDefinition {
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// Names or aliases of the roles it contains directly.
    pub contains: Vec<String>,
    pub intended_family: Option<RoleFamily>,
}

/// The result of AddRoleContainment.
#[derive(Debug, Clone)]
pub struct ContainmentAdded {
    pub parent: String,
    pub child: String,
    pub warnings: Vec<HolderFinding>,
    pub consistency_token: String,
}

const DEFINE_ROLE: &str = "DefineRole";
const ADD_ROLE_CONTAINMENT: &str = "AddRoleContainment";
const ADD_ROLE_ALIAS: &str = "AddRoleAlias";

impl RoleApp {
    /// Starts a catalog edit: the role-graph lock (exclusive, the first
    /// statement) and the catalog as stored under it.
    async fn begin_catalog_edit(&self) -> CsmResult<(Tx, Catalog)> {
        let mut tx = self.store.db().begin().await?;
        self.store.lock_role_graph(&mut tx).await?;
        let snapshot = self.store.catalog_snapshot_in(&mut tx).await?;
        Ok((tx, Catalog::from_snapshot(snapshot)))
    }

    /// Commits a catalog edit, then publishes the catalog as stored.
    async fn commit_catalog_edit(&self, tx: Tx, revision: u64) -> CsmResult<String> {
        tx.commit().await?;
        self.feed.committed(revision);
        self.reload_catalog().await?;
        Ok(self.feed.token(revision))
    }

    /// The revision an earlier request with this request id wrote (one
    /// idempotency rule: REQUEST_ID_CONFLICT when it asked for something else).
    async fn replayed(
        &self,
        rpc: &str,
        caller: &Caller,
        request_id: Option<&str>,
        key: &str,
    ) -> CsmResult<Option<u64>> {
        let request = RequestKey::new(rpc, caller.request_scope(), request_id, &key);
        Ok(request.replayed(self.store.db()).await?.map(|replay| replay.revision))
    }

    /// Records a request id in `tx`; `false` when a concurrent retry won.
    async fn record_request(
        tx: &mut Tx,
        rpc: &str,
        caller: &Caller,
        request_id: Option<&str>,
        key: &str,
        revision: u64,
    ) -> CsmResult<bool> {
        let request = RequestKey::new(rpc, caller.request_scope(), request_id, &key);
        request.record(tx, rpc, revision, "").await
    }

    /// The role as published (after an edit).
    fn published_role(&self, name: &str) -> CsmResult<CatalogRole> {
        self.catalog.roles.get(name).cloned().ok_or_else(|| CsmError::not_found("role", name))
    }

    /// DefineRole: a custom role with its initial contained roles (R2.6, R2.10).
    pub async fn define_role(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        definition: RoleDefinition,
    ) -> CsmResult<(CatalogRole, String)> {
        self.authorize_role_administration(caller, DEFINE_ROLE).await?;
        // The whole definition: the same id with another display name,
        // description or intended family is another request (REQUEST_ID_CONFLICT).
        let key = format!("{definition:?}");
        if let Some(revision) = self.replayed(DEFINE_ROLE, caller, request_id, &key).await? {
            return Ok((self.published_role(&definition.name)?, self.feed.token(revision)));
        }
        let (mut tx, catalog) = self.begin_catalog_edit().await?;
        let name = definition.name.clone();
        if catalog.roles.contains_key(&name) || catalog.aliases.contains_key(&name) {
            return Err(CsmError::already_exists("ROLE_EXISTS", format!("{name} is already a role or an alias"))
                .with_metadata("role", name));
        }
        let mut contained = Vec::new();
        for child in &definition.contains {
            let child = catalog.existing(child)?;
            if !contained.contains(&child) {
                contained.push(child);
            }
        }
        let mut roles = catalog.role_names();
        roles.insert(name.clone());
        let new_edges: Vec<(String, String)> = contained.iter().map(|child| (name.clone(), child.clone())).collect();
        let graph = graph_with_edges(&roles, &catalog.active_edges(), &new_edges)
            .map_err(|violation| violation_error(violation, "R2.10"))?;
        if let Some(intended) = definition.intended_family {
            let family = graph.family(&name);
            if family != intended {
                return Err(CsmError::invalid_argument(
                    "ROLE_FAMILY_MISMATCH",
                    format!("{name} would be of family {family:?}, not {intended:?} (R2.6)"),
                )
                .with_metadata("rule", "R2.6")
                .with_metadata("role", name.clone())
                .with_metadata("family", format!("{family:?}").to_uppercase()));
            }
        }
        let mut revision =
            self.store.insert_custom_role(&mut tx, &name, &definition.display_name, &definition.description).await?;
        for child in &contained {
            revision = self.store.insert_edge(&mut tx, &name, child).await?;
        }
        if !Self::record_request(&mut tx, DEFINE_ROLE, caller, request_id, &key, revision).await? {
            drop(tx);
            return Box::pin(self.define_role(caller, request_id, definition)).await;
        }
        let token = self.commit_catalog_edit(tx, revision).await?;
        Ok((self.published_role(&name)?, token))
    }

    /// UpdateRole: display name and/or description of any role (§2.2).
    pub async fn update_role(
        &self,
        caller: &Caller,
        name: &str,
        display_name: Option<&str>,
        description: Option<&str>,
    ) -> CsmResult<(CatalogRole, String)> {
        self.authorize_role_administration(caller, "UpdateRole").await?;
        let (mut tx, catalog) = self.begin_catalog_edit().await?;
        let name = catalog.existing(name)?;
        let revision = self
            .store
            .update_role(&mut tx, &name, display_name, description)
            .await?
            .ok_or_else(|| CsmError::not_found("role", &name))?;
        let token = self.commit_catalog_edit(tx, revision).await?;
        Ok((self.published_role(&name)?, token))
    }

    /// DeleteRole: a custom role nobody uses, with its edges and aliases (§2.2, X11).
    pub async fn delete_role(&self, caller: &Caller, name: &str) -> CsmResult<String> {
        self.authorize_role_administration(caller, "DeleteRole").await?;
        let (mut tx, catalog) = self.begin_catalog_edit().await?;
        let name = catalog.existing(name)?;
        if catalog.roles.get(&name).is_some_and(|role| role.origin != "custom") {
            return Err(CsmError::failed_precondition("ROLE_SEEDED", format!("{name} is a seeded role"))
                .with_metadata("role", name));
        }
        if let Some(usage) = self.store.role_usage_in(&mut tx, &name).await? {
            return Err(CsmError::failed_precondition("ROLE_IN_USE", format!("{name} is in use ({usage})"))
                .with_metadata("role", name)
                .with_metadata("usage", usage));
        }
        let revision = self.store.delete_role(&mut tx, &name).await?;
        self.commit_catalog_edit(tx, revision).await
    }

    /// AddRoleContainment: `parent ⊃ child`, checked for R2.8, R2.9, R2.6 and
    /// R2.10 on every role whose closure grows, then for every profile and
    /// group holding the parent as if child were assigned to it (R2.11.3,
    /// R2.12.1, R2.12.4, R2.15, R1.15, R2.17).
    pub async fn add_role_containment(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        parent: &str,
        child: &str,
    ) -> CsmResult<ContainmentAdded> {
        self.authorize_role_administration(caller, ADD_ROLE_CONTAINMENT).await?;
        let policies = self.policies().await?;
        let (mut tx, catalog) = self.begin_catalog_edit().await?;
        let (parent, child) = (catalog.existing(parent)?, catalog.existing(child)?);
        let key = format!("{parent}>{child}");
        if let Some(revision) = self.replayed(ADD_ROLE_CONTAINMENT, caller, request_id, &key).await? {
            return Ok(ContainmentAdded {
                parent,
                child,
                warnings: Vec::new(),
                consistency_token: self.feed.token(revision),
            });
        }
        let warnings = self
            .check_containment(&mut tx, &catalog, &parent, &child, policies)
            .await?
            .map_err(|collision| collision.into_error())?;
        let revision = self.store.insert_edge(&mut tx, &parent, &child).await?;
        self.flag_holders(&mut tx, &warnings).await?;
        if !Self::record_request(&mut tx, ADD_ROLE_CONTAINMENT, caller, request_id, &key, revision).await? {
            drop(tx);
            return Box::pin(self.add_role_containment(caller, request_id, &parent, &child)).await;
        }
        let consistency_token = self.commit_catalog_edit(tx, revision).await?;
        Ok(ContainmentAdded { parent, child, warnings, consistency_token })
    }

    /// RemoveRoleContainment: holders lose what they reached only through the
    /// edge (R4.13); nothing can collide by losing roles.
    pub async fn remove_role_containment(&self, caller: &Caller, parent: &str, child: &str) -> CsmResult<String> {
        self.authorize_role_administration(caller, "RemoveRoleContainment").await?;
        let (mut tx, catalog) = self.begin_catalog_edit().await?;
        let (parent, child) = (catalog.existing(parent)?, catalog.existing(child)?);
        let revision = self.store.delete_edge(&mut tx, &parent, &child).await?.ok_or_else(|| {
            CsmError::not_found("containment", format!("{parent}>{child}"))
                .with_metadata("parent_role", parent.clone())
                .with_metadata("child_role", child.clone())
        })?;
        self.commit_catalog_edit(tx, revision).await
    }

    /// AddRoleAlias (X11): a free name accepted for `role` wherever a role name is.
    pub async fn add_role_alias(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        role: &str,
        alias: &str,
    ) -> CsmResult<(CatalogRole, String)> {
        self.authorize_role_administration(caller, ADD_ROLE_ALIAS).await?;
        let key = format!("{alias}>{role}");
        if let Some(revision) = self.replayed(ADD_ROLE_ALIAS, caller, request_id, &key).await? {
            let canonical = self.catalog.canonical(role).to_owned();
            return Ok((self.published_role(&canonical)?, self.feed.token(revision)));
        }
        let (mut tx, catalog) = self.begin_catalog_edit().await?;
        let role = catalog.existing(role)?;
        if catalog.roles.contains_key(alias) || catalog.aliases.contains_key(alias) {
            return Err(CsmError::already_exists("ROLE_EXISTS", format!("{alias} is already a role or an alias"))
                .with_metadata("alias", alias));
        }
        let revision = self.store.insert_alias(&mut tx, alias, &role).await?;
        if !Self::record_request(&mut tx, ADD_ROLE_ALIAS, caller, request_id, &key, revision).await? {
            drop(tx);
            return Box::pin(self.add_role_alias(caller, request_id, &role, alias)).await;
        }
        let token = self.commit_catalog_edit(tx, revision).await?;
        Ok((self.published_role(&role)?, token))
    }

    /// RemoveRoleAlias (X11).
    pub async fn remove_role_alias(&self, caller: &Caller, alias: &str) -> CsmResult<String> {
        self.authorize_role_administration(caller, "RemoveRoleAlias").await?;
        let (mut tx, _catalog) = self.begin_catalog_edit().await?;
        let revision =
            self.store.delete_alias(&mut tx, alias).await?.ok_or_else(|| CsmError::not_found("alias", alias))?;
        self.commit_catalog_edit(tx, revision).await
    }

    /// Loads or unloads the suspect edges (X1). Loading is checked like
    /// AddRoleContainment for every suspect edge; callers authorized the caller.
    pub(super) async fn set_load_suspect_edges(&self, load: bool) -> CsmResult<(u64, Vec<HolderFinding>)> {
        let policies = self.policies().await?;
        let (mut tx, catalog) = self.begin_catalog_edit().await?;
        let mut warnings = Vec::new();
        if load && !catalog.load_suspect_edges {
            let suspect: Vec<(String, String)> = catalog
                .edges
                .iter()
                .filter(|edge| edge.suspect)
                .map(|edge| (edge.parent.clone(), edge.child.clone()))
                .collect();
            warnings = self
                .check_edges(&mut tx, &catalog, &suspect, policies)
                .await?
                .map_err(|collision| collision.into_error())?;
            self.flag_holders(&mut tx, &warnings).await?;
        }
        let revision = self.store.write_load_suspect_edges(&mut tx, load).await?;
        tx.commit().await?;
        self.feed.committed(revision);
        self.reload_catalog().await?;
        Ok((revision, warnings))
    }

    /// ValidateAssignment of AddRoleContainment(`parent` ⊃ `child`): the
    /// mutation's authorization and checks on the catalog as stored, in a
    /// transaction that is only read and then dropped (no role-graph lock: a
    /// dry run must not wait for or block writers). Nothing is written.
    pub async fn validate_containment(
        &self,
        caller: &Caller,
        parent: &str,
        child: &str,
    ) -> CsmResult<Vec<ValidationFinding>> {
        self.authorize_role_administration(caller, ADD_ROLE_CONTAINMENT).await?;
        let checked = async {
            let policies = self.policies().await?;
            let mut tx = self.store.db().begin().await?;
            let catalog = Catalog::from_snapshot(self.store.catalog_snapshot_in(&mut tx).await?);
            let checked = match (catalog.existing(parent), catalog.existing(child)) {
                (Ok(parent), Ok(child)) => self.check_containment(&mut tx, &catalog, &parent, &child, policies).await,
                (Err(unknown), _) | (_, Err(unknown)) => Err(unknown),
            };
            drop(tx);
            checked
        };
        dry_run_findings(checked.await)
    }

    /// The checks of AddRoleContainment(`parent` ⊃ `child`), both canonical
    /// and existing in `catalog` (read in `tx`, under the role-graph lock for
    /// the write): the edge is new, then [`check_edges`](Self::check_edges).
    async fn check_containment(
        &self,
        tx: &mut Tx,
        catalog: &Catalog,
        parent: &str,
        child: &str,
        policies: Policies,
    ) -> CsmResult<EdgeCheck> {
        if catalog.edges.iter().any(|edge| edge.parent == parent && edge.child == child) {
            return Err(CsmError::already_exists("CONTAINMENT_EXISTS", format!("{parent} already contains {child}"))
                .with_metadata("parent_role", parent)
                .with_metadata("child_role", child));
        }
        self.check_edges(tx, catalog, &[(parent.to_owned(), child.to_owned())], policies).await
    }

    /// Checks adding `new_edges` to `catalog` (read in `tx`, under the
    /// role-graph lock for a write): the graph rules (an `Err`), then every
    /// holder of each parent (the first collision is `Ok(Err(..))`); `Ok(Ok(..))`
    /// carries the findings a WARN policy let through.
    async fn check_edges(
        &self,
        tx: &mut Tx,
        catalog: &Catalog,
        new_edges: &[(String, String)],
        policies: Policies,
    ) -> CsmResult<EdgeCheck> {
        let after = graph_with_edges(&catalog.role_names(), &catalog.active_edges(), new_edges)
            .map_err(|violation| violation_error(violation, "R2.11.3"))?;
        let before = &catalog.graph;
        let mut warnings = Vec::new();
        for (parent, child) in new_edges {
            // Only a child that reaches a role some rule looks at can make a holder collide.
            if !can_collide(&after, child) {
                continue;
            }
            let reaching = roles_reaching(before, parent);
            let children = std::slice::from_ref(child);
            // Profiles with the same roles get the same answer: the database
            // returns each distinct role set once, with one profile holding it.
            let mut warned_sets: Vec<(BTreeSet<String>, Vec<Finding>)> = Vec::new();
            for (held, profile) in self.store.holder_role_sets_in(tx, &reaching).await? {
                match check_additions(before, &held, children, policies) {
                    Ok(findings) if findings.is_empty() => {}
                    Ok(findings) => warned_sets.push((held, findings)),
                    Err(finding) => return Ok(Err(HolderCollision::new(parent, child, Some(profile), None, finding))),
                }
            }
            // WARN-policy findings name every profile (they get flagged): only then load them all.
            if !warned_sets.is_empty() {
                for (profile, held) in self.store.holders_in(tx, &reaching).await?.profiles {
                    if let Some((_, findings)) = warned_sets.iter().find(|(set, _)| *set == held) {
                        for finding in findings {
                            warnings.push(HolderFinding {
                                finding: finding.clone(),
                                profile: Some(profile),
                                group: None,
                            });
                        }
                    }
                }
            }
            for (group, held) in self.store.holder_groups_in(tx, &reaching).await? {
                match check_additions(before, &held, children, policies) {
                    Ok(findings) => warnings.extend(findings.into_iter().map(|finding| HolderFinding {
                        finding,
                        profile: None,
                        group: Some(group),
                    })),
                    Err(finding) => return Ok(Err(HolderCollision::new(parent, child, None, Some(group), finding))),
                }
            }
        }
        Ok(Ok(warnings))
    }

    /// Flags the profiles a WARN policy let through (R2.15, R1.15).
    async fn flag_holders(&self, tx: &mut Tx, warnings: &[HolderFinding]) -> CsmResult<()> {
        let mut flagged = BTreeSet::new();
        for warning in warnings {
            if let Some(profile) = warning.profile
                && flagged.insert(profile)
            {
                self.store.flag_for_review(tx, profile, warning.finding.reason).await?;
            }
        }
        Ok(())
    }
}

/// The error of a graph rule; `collision_rule` names the rule a role reaching
/// both explicit roles breaks in this context (R2.10 for a new role, R2.11.3 for an edge).
fn violation_error(violation: CatalogViolation, collision_rule: &'static str) -> CsmError {
    match violation {
        CatalogViolation::ExplicitRoleCannotContain { parent } => CsmError::invalid_argument(
            "EXPLICIT_ROLE_CANNOT_CONTAIN",
            format!("{parent} is an explicit role and cannot contain other roles (R2.8)"),
        )
        .with_metadata("rule", "R2.8")
        .with_metadata("role", parent),
        CatalogViolation::Cycle { parent, child, path } => CsmError::invalid_argument(
            "CONTAINMENT_CYCLE",
            format!("{parent} ⊃ {child} would close a cycle ({} > {parent}) (R2.9)", path.join(" > ")),
        )
        .with_metadata("rule", "R2.9")
        .with_metadata("path", path.join(" > ")),
        CatalogViolation::FamilyBoth { role, agent_path, user_path } => CsmError::invalid_argument(
            "ROLE_FAMILY_BOTH",
            format!("{role} would contain both sn_esm_agent and sn_esm_user (R2.6)"),
        )
        .with_metadata("rule", "R2.6")
        .with_metadata("role", role)
        .with_metadata("path", format!("{} | {}", agent_path.join(" > "), user_path.join(" > "))),
        CatalogViolation::ExplicitCollision { role, internal_path, external_path } => CsmError::failed_precondition(
            "ROLE_COLLISION",
            format!("{role} would contain both snc_internal and snc_external (R2.10)"),
        )
        .with_metadata("rule", collision_rule)
        .with_metadata("role", role)
        .with_metadata("conflicting_role", roles::SNC_INTERNAL)
        .with_metadata("path", format!("{} | {}", internal_path.join(" > "), external_path.join(" > "))),
    }
}

/// The outcome of the holder checks of a containment edit: the WARN-policy
/// warnings, or the first holder that would collide.
type EdgeCheck = Result<Vec<HolderFinding>, Box<HolderCollision>>;

/// A holder of `parent` that would collide by receiving `child`'s closure.
#[derive(Debug, Clone)]
pub(crate) struct HolderCollision {
    parent: String,
    child: String,
    /// The finding, its rule named for the holder: R2.12.1 for a profile,
    /// R2.12.4 for a group (explicit-role collisions; other reasons keep their rule).
    found: HolderFinding,
}

impl HolderCollision {
    fn new(
        parent: &str,
        child: &str,
        profile: Option<ProfileId>,
        group: Option<GroupId>,
        mut finding: Finding,
    ) -> Box<Self> {
        finding.rule = match (finding.reason, profile) {
            ("ROLE_COLLISION", Some(_)) if finding.rule != "R2.11.2" => "R2.12.1",
            ("ROLE_COLLISION", None) if finding.rule != "R2.11.2" => "R2.12.4",
            _ => finding.rule,
        };
        Box::new(Self {
            parent: parent.to_owned(),
            child: child.to_owned(),
            found: HolderFinding { finding, profile, group },
        })
    }

    /// FAILED_PRECONDITION naming the holder, the rule and the colliding paths.
    fn into_error(self) -> CsmError {
        let Self { parent, child, found: HolderFinding { finding, profile, group } } = self;
        let holder = match (profile, group) {
            (Some(profile), _) => format!("profile:{profile}"),
            (None, Some(group)) => format!("group:{group}"),
            (None, None) => String::new(),
        };
        let rule = finding.rule;
        tracing::info!(%holder, parent, child, reason = finding.reason, rule, "containment refused");
        let mut error = CsmError::failed_precondition(
            finding.reason,
            format!("{parent} ⊃ {child}: {holder} holds {parent}; {}", finding.message),
        )
        .with_metadata("rule", rule)
        .with_metadata("role", child.as_str())
        .with_metadata("conflicting_role", finding.conflicting_role())
        .with_metadata(
            "path",
            format!(
                "{holder} > role:{parent} | {} ; {}",
                finding.existing_path.join(" > "),
                finding.new_path.join(" > ")
            ),
        );
        if let Some(profile) = profile {
            error = error.with_metadata("profile_id", profile.to_string());
        }
        if let Some(group) = group {
            error = error.with_metadata("group_id", group.to_string());
        }
        error
    }
}

impl AsFinding for HolderCollision {
    fn as_finding(&self, blocking: bool) -> ValidationFinding {
        self.found.as_finding(blocking)
    }
}
