//! The collision rules of a role assignment (R2.10–R2.12, R2.15, R1.13–R1.15,
//! R2.17). Pure: the caller supplies the graph, what the profile already holds
//! and the role it would receive; the result is the first blocking finding or
//! the warnings a WARN policy lets through.

use csm_types::roles;
use std::collections::BTreeSet;

use super::catalog::{SN_ESM_AGENT, SN_ESM_USER, SNC_EXTERNAL, SNC_INTERNAL};
use super::graph::RoleGraph;

pub use csm_types::roles::{PROXY_CONTACT, UNIFIED_CONSUMER};

/// CSM fulfiller and contributor roles unsupported together with unified_consumer (R1.15).
pub const UNSUPPORTED_WITH_UNIFIED_CONSUMER: &[&str] = &[
    roles::MANAGER,
    roles::RELATIONSHIP_AGENT,
    roles::CASE_TASK_AGENT,
    roles::ACCT_CONSUMER_AGENT,
    roles::SVC_LOCATION_CONSUMER_AGENT,
    roles::SVC_LOCATION_AGENT,
    roles::SVC_LOCATION_MANAGER,
    roles::BUS_LOC_LOCATION_RELATIONSHIP_MANAGER,
    roles::AGENT,
    roles::CONSUMER_AGENT,
    roles::ACCOUNT_CONTRIBUTOR,
    roles::CONSUMER_CONTRIBUTOR,
    roles::RELATIONSHIP_CONTRIBUTOR,
    roles::SELF_CONTRIBUTOR,
    roles::SERVICE_ORGANIZATION_CONTRIBUTOR,
    roles::SVC_LOCATION_MANAGER_CONTRIBUTOR,
];

/// Contributor roles a proxy contact may not hold (R2.17).
pub const CONTRIBUTOR_ROLES: &[&str] = &[
    roles::ACCOUNT_CONTRIBUTOR,
    roles::CONSUMER_CONTRIBUTOR,
    roles::RELATIONSHIP_CONTRIBUTOR,
    roles::SELF_CONTRIBUTOR,
    roles::SERVICE_ORGANIZATION_CONTRIBUTOR,
    roles::SVC_LOCATION_MANAGER_CONTRIBUTOR,
];

/// `csm_role_mixing_policy` (R2.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MixingPolicy {
    #[default]
    Deny,
    Warn,
}

/// `unsupported_persona_policy` (R1.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PersonaPolicy {
    #[default]
    Reject,
    Warn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policies {
    pub mixing: MixingPolicy,
    pub persona: PersonaPolicy,
}

/// One finding of a proposed assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The ErrorInfo reason (ROLE_COLLISION, ROLE_FAMILY_COLLISION, …).
    pub reason: &'static str,
    /// The SPEC rule, e.g. "R2.11.1".
    pub rule: &'static str,
    pub message: String,
    /// How the profile already reaches the conflicting role (held role first).
    pub existing_path: Vec<String>,
    /// How the new role reaches its side of the conflict (new role first).
    pub new_path: Vec<String>,
}

/// Where a role set reaches `target`: the shortest containment path from the
/// first held role (in name order) that reaches it.
fn path_to(graph: &RoleGraph, held: &BTreeSet<String>, target: &str) -> Option<Vec<String>> {
    held.iter().find_map(|role| graph.closure_paths(role).and_then(|paths| paths.get(target)).cloned())
}

fn path_to_any(graph: &RoleGraph, held: &BTreeSet<String>, targets: &[&str]) -> Option<Vec<String>> {
    targets.iter().find_map(|target| path_to(graph, held, target))
}

/// Checks giving `new_role` to a profile whose direct (and inherited) roles are
/// `held`. `Err` is the first blocking finding; `Ok` carries WARN-policy warnings.
pub fn check_assignment(
    graph: &RoleGraph,
    held: &BTreeSet<String>,
    new_role: &str,
    policies: Policies,
) -> Result<Vec<Finding>, Finding> {
    let new_set = BTreeSet::from([new_role.to_owned()]);
    let finding = |reason, rule, message: String, existing_path: Vec<String>, new_path: Vec<String>| Finding {
        reason,
        rule,
        message,
        existing_path,
        new_path,
    };

    // R2.11.4: a role that itself contains both explicit roles.
    if let (Some(internal), Some(external)) =
        (path_to(graph, &new_set, SNC_INTERNAL), path_to(graph, &new_set, SNC_EXTERNAL))
    {
        return Err(finding(
            "ROLE_COLLISION",
            "R2.11.4",
            format!("{new_role} contains both snc_internal and snc_external"),
            internal,
            external,
        ));
    }
    // R2.11.2: the profile already holds both (legacy data): nothing may be added.
    if let Some(legacy) = holds_both(graph, held) {
        return Err(legacy);
    }
    // R2.11.1 / R2.12.1 (and R1.13: unified_consumer does not reach snc_external).
    for (mine, theirs) in [(SNC_INTERNAL, SNC_EXTERNAL), (SNC_EXTERNAL, SNC_INTERNAL)] {
        if let (Some(existing), Some(new)) = (path_to(graph, held, mine), path_to(graph, &new_set, theirs)) {
            return Err(finding(
                "ROLE_COLLISION",
                "R2.11.1",
                format!(
                    "the profile holds {mine} ({}); {new_role} would add {theirs} ({})",
                    existing.join(" > "),
                    new.join(" > ")
                ),
                existing,
                new,
            ));
        }
    }
    // R2.17: proxy contact and contributor roles never coexist.
    for (mine, theirs) in [(&[PROXY_CONTACT][..], CONTRIBUTOR_ROLES), (CONTRIBUTOR_ROLES, &[PROXY_CONTACT][..])] {
        if let (Some(existing), Some(new)) = (path_to_any(graph, held, mine), path_to_any(graph, &new_set, theirs)) {
            return Err(finding(
                "PROXY_CONTRIBUTOR_CONFLICT",
                "R2.17",
                format!("{} cannot coexist with {}", existing.last().unwrap(), new.last().unwrap()),
                existing,
                new,
            ));
        }
    }

    let mut warnings = Vec::new();
    // R1.15: unified_consumer with a fulfiller or contributor role.
    for (mine, theirs) in [
        (&[UNIFIED_CONSUMER][..], UNSUPPORTED_WITH_UNIFIED_CONSUMER),
        (UNSUPPORTED_WITH_UNIFIED_CONSUMER, &[UNIFIED_CONSUMER][..]),
    ] {
        if let (Some(existing), Some(new)) = (path_to_any(graph, held, mine), path_to_any(graph, &new_set, theirs)) {
            let persona = finding(
                "UNSUPPORTED_PERSONA",
                "R1.15",
                format!("{} with {} is an unsupported persona", existing.last().unwrap(), new.last().unwrap()),
                existing,
                new,
            );
            match policies.persona {
                PersonaPolicy::Reject => return Err(persona),
                PersonaPolicy::Warn => warnings.push(persona),
            }
            break;
        }
    }
    // R2.15: agent family (sn_esm_agent, snc_internal) against requester family (sn_esm_user, snc_external).
    const AGENT_SIDE: &[&str] = &[SN_ESM_AGENT, SNC_INTERNAL];
    const REQUESTER_SIDE: &[&str] = &[SN_ESM_USER, SNC_EXTERNAL];
    for (mine, theirs) in [(AGENT_SIDE, REQUESTER_SIDE), (REQUESTER_SIDE, AGENT_SIDE)] {
        if let (Some(existing), Some(new)) = (path_to_any(graph, held, mine), path_to_any(graph, &new_set, theirs)) {
            let mixing = finding(
                "ROLE_FAMILY_COLLISION",
                "R2.15",
                format!(
                    "the profile holds {} ({}); {new_role} would add {} ({})",
                    existing.last().unwrap(),
                    existing.join(" > "),
                    new.last().unwrap(),
                    new.join(" > ")
                ),
                existing,
                new,
            );
            match policies.mixing {
                MixingPolicy::Deny => return Err(mixing),
                MixingPolicy::Warn => warnings.push(mixing),
            }
            break;
        }
    }
    Ok(warnings)
}

/// R2.11.2: a holder (profile or group chain) that already reaches both
/// explicit roles (legacy data). Such a holder may take nothing, not even a
/// group membership that adds no role.
pub fn holds_both(graph: &RoleGraph, held: &BTreeSet<String>) -> Option<Finding> {
    let internal = path_to(graph, held, SNC_INTERNAL)?;
    let external = path_to(graph, held, SNC_EXTERNAL)?;
    Some(Finding {
        reason: "ROLE_COLLISION",
        rule: "R2.11.2",
        message: "the holder already reaches both snc_internal and snc_external".to_owned(),
        existing_path: internal,
        new_path: external,
    })
}

/// Checks giving several roles at once to a holder of `held` (a profile
/// joining a group chain, a group chain gaining a parent's roles): each new
/// role, in the given order, against what is held plus the new roles before
/// it, with the same rules as [`check_assignment`]. `Err` is the first
/// blocking finding (R2.12: only the first needs reporting).
pub fn check_additions(
    graph: &RoleGraph,
    held: &BTreeSet<String>,
    new_roles: &[String],
    policies: Policies,
) -> Result<Vec<Finding>, Finding> {
    let mut held_so_far = held.clone();
    let mut warnings = Vec::new();
    for new_role in new_roles {
        warnings.extend(check_assignment(graph, &held_so_far, new_role, policies)?);
        held_so_far.insert(new_role.clone());
    }
    Ok(warnings)
}

impl Finding {
    /// True when either side reaches its explicit role only through "contains"
    /// edges (the role containment of R2.12.1 and R2.12.4).
    pub fn through_containment(&self) -> bool {
        self.existing_path.len() > 1 || self.new_path.len() > 1
    }

    /// The role whose addition caused the finding (first of the new path).
    pub fn added_role(&self) -> &str {
        self.new_path.first().map(String::as_str).unwrap_or_default()
    }

    /// The held role the addition collides with (last of the existing path).
    pub fn conflicting_role(&self) -> &str {
        self.existing_path.last().map(String::as_str).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::{SEED_EDGES, SEED_ROLES};

    fn catalog() -> RoleGraph {
        RoleGraph::new(
            SEED_ROLES.iter().map(|role| role.name.to_owned()),
            SEED_EDGES.iter().filter(|edge| !edge.suspect).map(|edge| (edge.parent.to_owned(), edge.child.to_owned())),
        )
    }

    fn held(roles: &[&str]) -> BTreeSet<String> {
        roles.iter().map(|role| role.to_string()).collect()
    }

    #[test]
    fn external_on_internal_is_a_collision() {
        let error =
            check_assignment(&catalog(), &held(&[SNC_INTERNAL]), SNC_EXTERNAL, Policies::default()).unwrap_err();
        assert_eq!((error.reason, error.rule), ("ROLE_COLLISION", "R2.11.1"));
    }

    #[test]
    fn consumer_on_internal_collides_but_unified_consumer_does_not() {
        let graph = catalog();
        let error = check_assignment(&graph, &held(&[SNC_INTERNAL]), roles::CONSUMER, Policies::default()).unwrap_err();
        assert_eq!(error.reason, "ROLE_COLLISION");
        assert_eq!(error.new_path, vec![roles::CONSUMER, SNC_EXTERNAL]);
        assert_eq!(check_assignment(&graph, &held(&[SNC_INTERNAL]), UNIFIED_CONSUMER, Policies::default()), Ok(vec![]));
    }

    #[test]
    fn agent_role_on_a_customer_is_a_family_collision_unless_warned() {
        let graph = catalog();
        let customer = held(&[roles::CUSTOMER]);
        let error = check_assignment(&graph, &customer, roles::AGENT, Policies::default()).unwrap_err();
        assert_eq!((error.reason, error.rule), ("ROLE_FAMILY_COLLISION", "R2.15"));
        let warn = Policies { mixing: MixingPolicy::Warn, ..Policies::default() };
        let warnings = check_assignment(&graph, &customer, roles::AGENT, warn).unwrap();
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn unified_consumer_with_a_fulfiller_is_unsupported() {
        let error =
            check_assignment(&catalog(), &held(&[UNIFIED_CONSUMER]), roles::AGENT, Policies::default()).unwrap_err();
        assert_eq!(error.reason, "UNSUPPORTED_PERSONA");
    }

    #[test]
    fn proxy_contact_and_contributors_never_coexist() {
        let error =
            check_assignment(&catalog(), &held(&[PROXY_CONTACT]), roles::ACCOUNT_CONTRIBUTOR, Policies::default())
                .unwrap_err();
        assert_eq!(error.reason, "PROXY_CONTRIBUTOR_CONFLICT");
    }

    #[test]
    fn a_profile_without_explicit_roles_takes_either() {
        let graph = catalog();
        assert!(check_assignment(&graph, &held(&[]), SNC_EXTERNAL, Policies::default()).is_ok());
        assert!(check_assignment(&graph, &held(&[]), SNC_INTERNAL, Policies::default()).is_ok());
    }

    #[test]
    fn additions_are_checked_against_each_other_too() {
        let graph = catalog();
        let error = check_additions(
            &graph,
            &held(&[]),
            &[roles::CUSTOMER.to_owned(), SNC_INTERNAL.to_owned()],
            Policies::default(),
        )
        .unwrap_err();
        assert_eq!((error.reason, error.rule), ("ROLE_COLLISION", "R2.11.1"));
        assert!(error.through_containment());
        assert_eq!(error.added_role(), SNC_INTERNAL);
        assert_eq!(error.conflicting_role(), SNC_EXTERNAL);
        assert_eq!(check_additions(&graph, &held(&[SNC_INTERNAL]), &[], Policies::default()), Ok(vec![]));
    }

    #[test]
    fn holding_both_is_found_without_any_addition() {
        let graph = catalog();
        assert_eq!(holds_both(&graph, &held(&[SNC_INTERNAL, roles::CUSTOMER])).unwrap().rule, "R2.11.2");
        assert!(holds_both(&graph, &held(&[SNC_INTERNAL])).is_none());
    }

    #[test]
    fn legacy_profiles_holding_both_take_nothing() {
        let error =
            check_assignment(&catalog(), &held(&[SNC_INTERNAL, SNC_EXTERNAL]), "knowledge", Policies::default())
                .unwrap_err();
        assert_eq!(error.rule, "R2.11.2");
    }
}
