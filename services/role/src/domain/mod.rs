//! role's domain: the catalog, the containment graph and the rules over it. Pure, no I/O.

pub mod catalog;
pub mod collisions;
pub mod groups;
pub mod settings;
pub mod graph;

pub use graph::{PrincipalClass, RoleFamily, RoleGraph};
