//! role's domain: the catalog, the containment graph and the rules over it. Pure, no I/O.

pub mod anomalies;
pub mod assignments;
pub mod catalog;
pub mod catalog_admin;
pub mod collisions;
pub mod delegation;
pub mod graph;
pub mod groups;
pub mod settings;

pub use graph::{PrincipalClass, RoleFamily, RoleGraph};
