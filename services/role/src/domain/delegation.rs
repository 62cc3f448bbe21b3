//! Delegated (portal) role assignment by customer and partner admins (R4.7,
//! R4.8). Pure: one rule, used by AssignRole, RevokeRole, ReplaceProfileRoles,
//! ValidateAssignment and ListAssignableRoles alike.

use std::collections::BTreeSet;

use super::catalog::ADMIN;
use super::graph::RoleGraph;

pub use csm_types::roles::{CUSTOMER_ADMIN, PARTNER_ADMIN};

/// What a caller may do with direct role assignments, from its effective roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentAuthority {
    /// A role administrator (`admin`) or a service: any catalog role, any
    /// profile, subject to the collision rules.
    Unrestricted,
    /// A customer or partner admin (R4.7, R4.8): only `assignable` roles, only
    /// to contacts in its scope.
    Delegated(DelegatedAdmin),
    /// Neither: no assignment at all (MISSING_ROLE).
    None,
}

/// A delegated admin and the roles it may assign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegatedAdmin {
    /// True for a partner admin (its scope adds PCUST(acct(me)), R4.8).
    pub partner_admin: bool,
    /// The roles it may assign and revoke, sorted.
    pub assignable: BTreeSet<String>,
}

impl AssignmentAuthority {
    /// The authority of a person holding `effective_roles` under the
    /// `contact_role_assignment` setting.
    pub fn of_person(
        graph: &RoleGraph,
        effective_roles: &BTreeSet<String>,
        contact_role_assignment: &[String],
    ) -> AssignmentAuthority {
        if effective_roles.contains(ADMIN) {
            return AssignmentAuthority::Unrestricted;
        }
        let partner_admin = effective_roles.contains(PARTNER_ADMIN);
        if !partner_admin && !effective_roles.contains(CUSTOMER_ADMIN) {
            return AssignmentAuthority::None;
        }
        let assignable = assignable_roles(graph, effective_roles, contact_role_assignment);
        AssignmentAuthority::Delegated(DelegatedAdmin { partner_admin, assignable })
    }
}

/// The roles a delegated admin holding `effective_roles` may assign (R4.7,
/// R4.8, as role.proto documents it): `r` is listed in
/// `contact_role_assignment` AND (`r ∈ eff_roles` OR every role `r` directly
/// contains is in `eff_roles`) — no privilege escalation, yet a customer admin
/// may grant customer_case_manager (⊃ customer) once it is listed.
pub fn assignable_roles(
    graph: &RoleGraph,
    effective_roles: &BTreeSet<String>,
    contact_role_assignment: &[String],
) -> BTreeSet<String> {
    contact_role_assignment
        .iter()
        .filter(|role| graph.contains_role(role))
        .filter(|role| {
            effective_roles.contains(role.as_str())
                || direct_children(graph, role).iter().all(|child| effective_roles.contains(*child))
        })
        .cloned()
        .collect()
}

/// The roles `role` contains directly (active edges).
fn direct_children<'a>(graph: &'a RoleGraph, role: &str) -> Vec<&'a str> {
    graph
        .closure_paths(role)
        .map(|paths| paths.iter().filter(|(_, path)| path.len() == 2).map(|(child, _)| child.as_str()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use csm_types::roles;

    use super::*;
    use crate::domain::catalog::{DEFAULT_CONTACT_ROLE_ASSIGNMENT, SEED_EDGES, SEED_ROLES};

    fn catalog() -> RoleGraph {
        RoleGraph::new(
            SEED_ROLES.iter().map(|role| role.name.to_owned()),
            SEED_EDGES.iter().filter(|edge| !edge.suspect).map(|edge| (edge.parent.to_owned(), edge.child.to_owned())),
        )
    }

    fn effective(graph: &RoleGraph, direct: &[&str]) -> BTreeSet<String> {
        direct.iter().flat_map(|role| graph.closure(role)).map(str::to_owned).collect()
    }

    fn defaults() -> Vec<String> {
        DEFAULT_CONTACT_ROLE_ASSIGNMENT.iter().map(|role| role.to_string()).collect()
    }

    #[test]
    fn a_customer_admin_assigns_what_it_holds_from_the_list() {
        let graph = catalog();
        let authority = AssignmentAuthority::of_person(&graph, &effective(&graph, &[CUSTOMER_ADMIN]), &defaults());
        let AssignmentAuthority::Delegated(admin) = authority else { panic!("delegated") };
        assert!(!admin.partner_admin);
        let expected: BTreeSet<String> =
            [CUSTOMER_ADMIN, roles::CUSTOMER].iter().map(|role| role.to_string()).collect();
        assert_eq!(admin.assignable, expected);
    }

    #[test]
    fn customer_case_manager_becomes_assignable_once_listed() {
        let graph = catalog();
        let mut list = defaults();
        let roles = effective(&graph, &[CUSTOMER_ADMIN]);
        assert!(!assignable_roles(&graph, &roles, &list).contains(roles::CUSTOMER_CASE_MANAGER));
        list.push(roles::CUSTOMER_CASE_MANAGER.to_owned());
        assert!(assignable_roles(&graph, &roles, &list).contains(roles::CUSTOMER_CASE_MANAGER));
    }

    #[test]
    fn a_partner_admin_assigns_every_default_role() {
        let graph = catalog();
        let authority = AssignmentAuthority::of_person(&graph, &effective(&graph, &[PARTNER_ADMIN]), &defaults());
        let AssignmentAuthority::Delegated(admin) = authority else { panic!("delegated") };
        assert!(admin.partner_admin);
        assert_eq!(admin.assignable.len(), 4);
    }

    #[test]
    fn admins_are_unrestricted_and_customers_have_no_authority() {
        let graph = catalog();
        assert_eq!(
            AssignmentAuthority::of_person(&graph, &effective(&graph, &[ADMIN]), &defaults()),
            AssignmentAuthority::Unrestricted
        );
        assert_eq!(
            AssignmentAuthority::of_person(&graph, &effective(&graph, &[roles::CUSTOMER]), &defaults()),
            AssignmentAuthority::None
        );
    }
}
