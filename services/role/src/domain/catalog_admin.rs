//! Catalog administration rules (§2.2, R2.6, R2.8, R2.9, R2.10, R2.11.3,
//! R2.11.4, X1, X11): which role names are well formed and what a new role or
//! a new containment edge does to the containment graph. Pure: the caller
//! supplies the catalog as it is in the database and gets the graph it would
//! become, or the first rule it would break. Holders of the edited roles
//! (profiles, groups) are checked by [`super::collisions`].

use std::collections::{BTreeMap, BTreeSet};

use csm_types::{GroupId, ProfileId};

use super::catalog::{SN_ESM_AGENT, SN_ESM_USER, SNC_EXTERNAL, SNC_INTERNAL, is_explicit_role};
use super::collisions::{
    CONTRIBUTOR_ROLES, Finding, PROXY_CONTACT, UNIFIED_CONSUMER, UNSUPPORTED_WITH_UNIFIED_CONSUMER,
};
use super::graph::{RoleFamily, RoleGraph};

/// Longest role name or alias (DefineRoleRequest.role_name).
pub const ROLE_NAME_MAX: usize = 100;
/// Longest display name and description of a role.
pub const DISPLAY_NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 2000;

/// Why `name` is not a role name (1–100 chars of `[a-z0-9_.]`, starting with a letter), if it is not.
pub fn role_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > ROLE_NAME_MAX {
        return Some("must be 1–100 characters");
    }
    if !name.starts_with(|first: char| first.is_ascii_lowercase()) {
        return Some("must start with a lower-case letter");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.') {
        return Some("may contain only a-z, 0-9, '_' and '.'");
    }
    None
}

/// The first catalog rule an edit breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogViolation {
    /// R2.8: `snc_internal` and `snc_external` contain nothing.
    ExplicitRoleCannotContain { parent: String },
    /// R2.9: the child already reaches the parent (`path` from child to parent), or parent == child.
    Cycle { parent: String, child: String, path: Vec<String> },
    /// R2.6: `role`'s closure would reach both sn_esm_agent and sn_esm_user.
    FamilyBoth { role: String, agent_path: Vec<String>, user_path: Vec<String> },
    /// R2.10, R2.11.3, R2.11.4: `role`'s closure would reach both explicit roles.
    ExplicitCollision { role: String, internal_path: Vec<String>, external_path: Vec<String> },
}

/// The catalog graph plus `new_edges` (in order), checked: no explicit role
/// contains anything (R2.8), no cycle (R2.9), and no role whose closure grows
/// reaches both explicit roles (R2.10) or both families (R2.6). `roles` must
/// already include any new role. Only roles whose closure changed are
/// checked, so legacy data elsewhere does not block an unrelated edit.
pub fn graph_with_edges(
    roles: &BTreeSet<String>,
    edges: &[(String, String)],
    new_edges: &[(String, String)],
) -> Result<RoleGraph, CatalogViolation> {
    let mut all_edges = edges.to_vec();
    let mut graph = RoleGraph::new(roles.iter().cloned(), all_edges.iter().cloned());
    for (parent, child) in new_edges {
        if is_explicit_role(parent) {
            return Err(CatalogViolation::ExplicitRoleCannotContain { parent: parent.clone() });
        }
        if let Some(path) = graph.closure_paths(child).and_then(|paths| paths.get(parent)) {
            return Err(CatalogViolation::Cycle { parent: parent.clone(), child: child.clone(), path: path.clone() });
        }
        all_edges.push((parent.clone(), child.clone()));
        graph = RoleGraph::new(roles.iter().cloned(), all_edges.iter().cloned());
    }
    let parents: BTreeSet<&str> = new_edges.iter().map(|(parent, _)| parent.as_str()).collect();
    let grown: Vec<&str> =
        graph.roles().filter(|role| parents.iter().any(|parent| graph.closure(role).contains(parent))).collect();
    for role in grown {
        let Some(paths) = graph.closure_paths(role) else { continue };
        if let (Some(internal), Some(external)) = (paths.get(SNC_INTERNAL), paths.get(SNC_EXTERNAL)) {
            return Err(CatalogViolation::ExplicitCollision {
                role: role.to_owned(),
                internal_path: internal.clone(),
                external_path: external.clone(),
            });
        }
        if graph.family(role) == RoleFamily::Both {
            return Err(CatalogViolation::FamilyBoth {
                role: role.to_owned(),
                agent_path: paths[SN_ESM_AGENT].clone(),
                user_path: paths[SN_ESM_USER].clone(),
            });
        }
    }
    Ok(graph)
}

/// Whether giving `role`'s closure to a holder can break any assignment rule
/// of [`super::collisions::check_assignment`]: only the roles those rules look
/// at matter (explicit roles, the two families, unified consumer and its
/// unsupported partners, proxy contact and contributors). A containment edit
/// whose child reaches none of them needs no holder scan.
pub fn can_collide(graph: &RoleGraph, role: &str) -> bool {
    let closure = graph.closure(role);
    [SNC_INTERNAL, SNC_EXTERNAL, SN_ESM_AGENT, SN_ESM_USER, UNIFIED_CONSUMER, PROXY_CONTACT]
        .iter()
        .chain(UNSUPPORTED_WITH_UNIFIED_CONSUMER)
        .chain(CONTRIBUTOR_ROLES)
        .any(|sensitive| closure.contains(sensitive))
}

/// The roles whose closure contains `role` (its holders' roles), `role` included.
pub fn roles_reaching(graph: &RoleGraph, role: &str) -> Vec<String> {
    graph.roles().filter(|candidate| graph.closure(candidate).contains(role)).map(str::to_owned).collect()
}

/// Who holds a set of roles, with everything each of them holds (R2.10, R2.12).
#[derive(Debug, Clone, Default)]
pub struct RoleHolders {
    /// Profiles holding one of the roles directly or through a group, with
    /// all their direct and inherited roles.
    pub profiles: BTreeMap<ProfileId, BTreeSet<String>>,
    /// Groups holding one of the roles themselves or through an ancestor,
    /// with all the roles of the group and its ancestors.
    pub groups: BTreeMap<GroupId, BTreeSet<String>>,
}

/// A finding a WARN policy let through, with the holder it concerns.
#[derive(Debug, Clone)]
pub struct HolderFinding {
    pub finding: Finding,
    pub profile: Option<ProfileId>,
    pub group: Option<GroupId>,
}

#[cfg(test)]
mod tests {
    use csm_types::roles;

    use super::*;
    use crate::domain::catalog::{SEED_EDGES, SEED_ROLES};

    fn seeded() -> (BTreeSet<String>, Vec<(String, String)>) {
        let roles = SEED_ROLES.iter().map(|role| role.name.to_owned()).collect();
        let edges = SEED_EDGES
            .iter()
            .filter(|edge| !edge.suspect)
            .map(|edge| (edge.parent.to_owned(), edge.child.to_owned()))
            .collect();
        (roles, edges)
    }

    fn edge(parent: &str, child: &str) -> (String, String) {
        (parent.to_owned(), child.to_owned())
    }

    #[test]
    fn role_names_follow_the_syntax() {
        assert_eq!(role_name_problem("x_custom.role_1"), None);
        assert!(role_name_problem("").is_some());
        assert!(role_name_problem("1abc").is_some());
        assert!(role_name_problem("Upper").is_some());
        assert!(role_name_problem("with space").is_some());
        assert!(role_name_problem(&"a".repeat(101)).is_some());
    }

    #[test]
    fn explicit_roles_contain_nothing() {
        let (roles, edges) = seeded();
        let violation = graph_with_edges(&roles, &edges, &[edge(SNC_EXTERNAL, "knowledge")]).unwrap_err();
        assert_eq!(violation, CatalogViolation::ExplicitRoleCannotContain { parent: SNC_EXTERNAL.to_owned() });
    }

    #[test]
    fn cycles_and_self_loops_are_refused() {
        let (roles, edges) = seeded();
        let violation = graph_with_edges(&roles, &edges, &[edge(roles::ESM_AGENT, roles::MANAGER)]).unwrap_err();
        let CatalogViolation::Cycle { path, .. } = violation else { panic!("{violation:?}") };
        assert_eq!(path.first().map(String::as_str), Some(roles::MANAGER));
        assert_eq!(path.last().map(String::as_str), Some(roles::ESM_AGENT));
        assert_eq!(path.len(), 3);
        assert!(matches!(
            graph_with_edges(&roles, &edges, &[edge("knowledge", "knowledge")]),
            Err(CatalogViolation::Cycle { .. })
        ));
    }

    #[test]
    fn a_role_reaching_both_explicit_roles_or_both_families_is_refused() {
        let (roles, edges) = seeded();
        assert!(matches!(
            graph_with_edges(&roles, &edges, &[edge("csm_ws_integration", SNC_EXTERNAL)]),
            Err(CatalogViolation::ExplicitCollision { .. })
        ));
        assert!(matches!(
            graph_with_edges(&roles, &edges, &[edge(roles::AGENT, SN_ESM_USER)]),
            Err(CatalogViolation::ExplicitCollision { .. }) | Err(CatalogViolation::FamilyBoth { .. })
        ));
        assert!(matches!(
            graph_with_edges(&roles, &edges, &[edge(roles::CONSUMER_AGENT, roles::ESM_PARTNER)]),
            Err(CatalogViolation::FamilyBoth { .. }) | Err(CatalogViolation::ExplicitCollision { .. })
        ));
        let graph = graph_with_edges(&roles, &edges, &[edge(roles::CASE_VIEWER, "knowledge")]).unwrap();
        assert!(graph.closure(roles::CASE_VIEWER).contains("knowledge"));
    }

    #[test]
    fn only_collision_relevant_children_need_a_holder_scan() {
        let (roles, edges) = seeded();
        let graph = RoleGraph::new(roles.iter().cloned(), edges.iter().cloned());
        assert!(!can_collide(&graph, "knowledge"));
        assert!(can_collide(&graph, roles::CUSTOMER));
        assert!(can_collide(&graph, SNC_INTERNAL));
        assert!(roles_reaching(&graph, roles::AGENT).contains(&roles::MANAGER.to_owned()));
    }
}
