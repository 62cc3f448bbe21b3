//! The role containment graph and closures (§0.4 `closure(r)`, R2.7).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::catalog::{SNC_EXTERNAL, SNC_INTERNAL};

/// The containment DAG with every role's closure precomputed, so an
/// effective-role lookup never walks the graph.
#[derive(Debug, Clone, Default)]
pub struct RoleGraph {
    roles: BTreeSet<String>,
    /// role → (reachable role → containment path from role to it, both ends included).
    closures: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl RoleGraph {
    /// Builds the graph from its roles and `(parent, child)` edges.
    pub fn new(roles: impl IntoIterator<Item = String>, edges: impl IntoIterator<Item = (String, String)>) -> Self {
        let roles: BTreeSet<String> = roles.into_iter().collect();
        let mut children: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let edges: Vec<(String, String)> = edges.into_iter().collect();
        for (parent, child) in &edges {
            children.entry(parent.as_str()).or_default().push(child.clone());
        }
        let closures = roles.iter().map(|role| (role.clone(), breadth_first_paths(role, &children))).collect();
        Self { roles, closures }
    }

    pub fn contains_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(String::as_str)
    }

    /// Every role reachable from `role`, with the shortest containment path to it.
    pub fn closure_paths(&self, role: &str) -> Option<&BTreeMap<String, Vec<String>>> {
        self.closures.get(role)
    }

    /// `closure(role)`: the role and every role it contains, transitively.
    pub fn closure(&self, role: &str) -> BTreeSet<&str> {
        self.closures.get(role).map(|paths| paths.keys().map(String::as_str).collect()).unwrap_or_default()
    }
}

/// Shortest paths from `start` to every role reachable from it (cycles are
/// impossible by R2.9, and a visited set keeps this finite regardless).
fn breadth_first_paths(start: &str, children: &BTreeMap<&str, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    paths.insert(start.to_owned(), vec![start.to_owned()]);
    let mut queue = VecDeque::from([start.to_owned()]);
    while let Some(role) = queue.pop_front() {
        let path = paths[&role].clone();
        for child in children.get(role.as_str()).into_iter().flatten() {
            if !paths.contains_key(child) {
                let mut child_path = path.clone();
                child_path.push(child.clone());
                paths.insert(child.clone(), child_path);
                queue.push_back(child.clone());
            }
        }
    }
    paths
}

/// A role's CSM family, from its closure (R2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleFamily {
    Agent,
    Requester,
    Neutral,
    /// Invalid; only legacy data can have it.
    Both,
}

impl RoleGraph {
    /// `family(r)` of R2.6: AGENT if `sn_esm_agent ∈ closure(r)`, REQUESTER if `sn_esm_user ∈ closure(r)`.
    pub fn family(&self, role: &str) -> RoleFamily {
        let closure = self.closure(role);
        match (closure.contains(super::catalog::SN_ESM_AGENT), closure.contains(super::catalog::SN_ESM_USER)) {
            (true, true) => RoleFamily::Both,
            (true, false) => RoleFamily::Agent,
            (false, true) => RoleFamily::Requester,
            (false, false) => RoleFamily::Neutral,
        }
    }
}

/// A principal's explicit class (R2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalClass {
    Internal,
    External,
    None,
    /// Legacy data only; no write of ours produces it (R2.10).
    Both,
}

impl PrincipalClass {
    pub fn of<'a>(effective_roles: impl IntoIterator<Item = &'a str>) -> Self {
        let (mut internal, mut external) = (false, false);
        for role in effective_roles {
            internal |= role == SNC_INTERNAL;
            external |= role == SNC_EXTERNAL;
        }
        match (internal, external) {
            (true, false) => PrincipalClass::Internal,
            (false, true) => PrincipalClass::External,
            (false, false) => PrincipalClass::None,
            (true, true) => PrincipalClass::Both,
        }
    }
}

#[cfg(test)]
mod tests {
    use csm_types::roles;

    use super::*;

    fn graph(edges: &[(&str, &str)]) -> RoleGraph {
        let roles: BTreeSet<String> =
            edges.iter().flat_map(|(parent, child)| [parent.to_string(), child.to_string()]).collect();
        RoleGraph::new(roles, edges.iter().map(|(parent, child)| (parent.to_string(), child.to_string())))
    }

    #[test]
    fn closure_is_transitive_and_keeps_the_shortest_path() {
        let graph = graph(&[("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")]);
        assert_eq!(graph.closure("a"), BTreeSet::from(["a", "b", "c", "d"]));
        assert_eq!(graph.closure_paths("a").unwrap()["d"], vec!["a", "c", "d"]);
        assert_eq!(graph.closure("d"), BTreeSet::from(["d"]));
    }

    #[test]
    fn families_follow_the_closure() {
        let graph =
            graph(&[("agent", roles::ESM_AGENT), ("customer", roles::ESM_USER), ("odd", "agent"), ("odd", "customer")]);
        assert_eq!(graph.family("agent"), RoleFamily::Agent);
        assert_eq!(graph.family("customer"), RoleFamily::Requester);
        assert_eq!(graph.family("odd"), RoleFamily::Both);
        assert_eq!(graph.family(roles::ESM_USER), RoleFamily::Requester);
        assert_eq!(graph.family("nothing"), RoleFamily::Neutral);
    }

    #[test]
    fn class_follows_the_explicit_roles() {
        assert_eq!(PrincipalClass::of([roles::SNC_INTERNAL, "x"]), PrincipalClass::Internal);
        assert_eq!(PrincipalClass::of([roles::SNC_EXTERNAL]), PrincipalClass::External);
        assert_eq!(PrincipalClass::of(["x"]), PrincipalClass::None);
        assert_eq!(PrincipalClass::of([roles::SNC_INTERNAL, roles::SNC_EXTERNAL]), PrincipalClass::Both);
    }
}
