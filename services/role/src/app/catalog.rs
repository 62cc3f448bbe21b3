//! The catalog in force and its reads: the [`Catalog`] as loaded from the
//! database, published as a whole after every catalog edit ([`LiveCatalog`]),
//! GetRole, ListRoles and the resolution of names and aliases (X11).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::sync::{Arc, PoisonError, RwLock};

use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};

use super::RoleApp;
use crate::domain::catalog::{CatalogRole, CatalogSnapshot, ContainmentEdge};
use crate::domain::{RoleFamily, RoleGraph};

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

    /// The catalog of a stored snapshot, with the graph of its active edges.
    pub fn from_snapshot(snapshot: CatalogSnapshot) -> Self {
        let mut catalog = Catalog::new(snapshot.roles, snapshot.edges, snapshot.load_suspect_edges);
        catalog.aliases = snapshot.aliases;
        catalog.version = snapshot.version;
        catalog
    }

    /// The canonical name of `name`: the target of an alias (X11), else `name` itself.
    pub fn canonical<'a>(&'a self, name: &'a str) -> &'a str {
        self.aliases.get(name).map_or(name, String::as_str)
    }

    /// The aliases of `role` (X11).
    pub fn aliases_of<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.aliases.iter().filter(move |(_, canonical)| *canonical == role).map(|(alias, _)| alias.as_str())
    }

    /// The edges in the graph: every edge, suspect ones only when loaded (X1).
    pub(super) fn active_edges(&self) -> Vec<(String, String)> {
        self.edges
            .iter()
            .filter(|edge| self.load_suspect_edges || !edge.suspect)
            .map(|edge| (edge.parent.clone(), edge.child.clone()))
            .collect()
    }

    pub(super) fn role_names(&self) -> BTreeSet<String> {
        self.roles.keys().cloned().collect()
    }

    /// The canonical name of an existing role named `name` (or an alias of it).
    pub(super) fn existing(&self, name: &str) -> CsmResult<String> {
        let canonical = self.canonical(name);
        if self.roles.contains_key(canonical) {
            Ok(canonical.to_owned())
        } else {
            Err(CsmError::not_found("role", name))
        }
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

/// The catalog in force. Catalog edits replace it as a whole; readers get a
/// plain `&Catalog` (so `self.catalog.roles`, `self.graph.closure(..)` read as
/// before). Each published version is leaked deliberately: a reader may hold a
/// reference to the previous one for the rest of its request, and versions
/// only change on catalog administration (a few hundred KB per edit).
#[derive(Clone)]
pub struct LiveCatalog {
    current: Arc<RwLock<&'static Catalog>>,
}

impl LiveCatalog {
    pub fn new(catalog: Catalog) -> Self {
        Self { current: Arc::new(RwLock::new(Box::leak(Box::new(catalog)))) }
    }

    fn get(&self) -> &'static Catalog {
        *self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `catalog` unless a newer version is already in force.
    pub fn publish(&self, catalog: Catalog) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if catalog.version >= current.version {
            *current = Box::leak(Box::new(catalog));
        }
    }

    /// The graph of the catalog in force, following every later publish.
    pub fn graph(&self) -> LiveGraph {
        LiveGraph { catalog: self.clone() }
    }
}

impl Deref for LiveCatalog {
    type Target = Catalog;

    fn deref(&self) -> &Catalog {
        self.get()
    }
}

/// The containment graph of the [`LiveCatalog`] in force.
#[derive(Clone)]
pub struct LiveGraph {
    catalog: LiveCatalog,
}

impl Deref for LiveGraph {
    type Target = RoleGraph;

    fn deref(&self) -> &RoleGraph {
        &self.catalog.get().graph
    }
}

impl RoleApp {
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

    /// The role named `name` (or one of its aliases), canonical.
    pub(super) fn known_role(&self, name: &str) -> CsmResult<String> {
        let canonical = self.catalog.canonical(name);
        if self.graph.contains_role(canonical) {
            Ok(canonical.to_owned())
        } else {
            Err(CsmError::not_found("role", name))
        }
    }

    /// Re-reads the catalog and publishes it (unless a newer one is in force).
    pub async fn reload_catalog(&self) -> CsmResult<()> {
        let snapshot = self.store.catalog_snapshot().await?;
        self.catalog.publish(Catalog::from_snapshot(snapshot));
        Ok(())
    }
}
