//! Role anomalies of external profiles (R2.16, mirroring ServiceNow's "Fix
//! External User Role Assignment"), plus the WARN-policy flags of R2.15 and
//! R1.15. Pure: the caller supplies the graph and what a contact or consumer
//! profile holds; the result is the category and the proposed fix.

use std::collections::BTreeSet;

use super::catalog::{SNC_EXTERNAL, SNC_INTERNAL};
use super::graph::{RoleFamily, RoleGraph};

/// Category of an anomaly (R2.16, R2.15, R1.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyCategory {
    /// snc_internal only, or snc_internal + external roles. Fixable.
    NonIntentional,
    /// snc_internal + other internal roles (± external ones). Fixable.
    PossiblyIntentional,
    /// snc_internal reached only through containment or a group. Manual.
    Contained,
    /// Agent and requester families mixed under WARN (R2.15). Manual.
    FamilyMixing,
    /// Unsupported persona accepted under WARN (R1.15). Manual.
    UnsupportedPersona,
}

impl AnomalyCategory {
    /// A stable code (stored in idempotency records).
    pub fn code(self) -> &'static str {
        match self {
            AnomalyCategory::NonIntentional => "NON_INTENTIONAL",
            AnomalyCategory::PossiblyIntentional => "POSSIBLY_INTENTIONAL",
            AnomalyCategory::Contained => "CONTAINED",
            AnomalyCategory::FamilyMixing => "FAMILY_MIXING",
            AnomalyCategory::UnsupportedPersona => "UNSUPPORTED_PERSONA",
        }
    }

    pub fn from_code(code: &str) -> Option<AnomalyCategory> {
        [
            AnomalyCategory::NonIntentional,
            AnomalyCategory::PossiblyIntentional,
            AnomalyCategory::Contained,
            AnomalyCategory::FamilyMixing,
            AnomalyCategory::UnsupportedPersona,
        ]
        .into_iter()
        .find(|category| category.code() == code)
    }

    pub fn fixable(self) -> bool {
        matches!(self, AnomalyCategory::NonIntentional | AnomalyCategory::PossiblyIntentional)
    }

    /// The category of a WARN-policy review flag, by the reason it was flagged with.
    pub fn of_review_flag(reason: &str) -> Option<AnomalyCategory> {
        match reason {
            "ROLE_FAMILY_COLLISION" => Some(AnomalyCategory::FamilyMixing),
            "UNSUPPORTED_PERSONA" => Some(AnomalyCategory::UnsupportedPersona),
            _ => None,
        }
    }
}

/// An R2.16 anomaly of one external profile and its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalProfileAnomaly {
    pub category: AnomalyCategory,
    /// Direct roles the fix removes (empty when manual).
    pub remove: Vec<String>,
    /// Roles the fix assigns (snc_external when no external role would remain).
    pub add: Vec<String>,
}

/// Classifies an external (contact or consumer) profile holding `direct` roles
/// and reaching `effective` roles (R2.16). `None` when it does not reach snc_internal.
pub fn classify_external_profile(
    graph: &RoleGraph,
    direct: &BTreeSet<String>,
    effective: &BTreeSet<String>,
) -> Option<ExternalProfileAnomaly> {
    if !effective.contains(SNC_INTERNAL) {
        return None;
    }
    if !direct.contains(SNC_INTERNAL) {
        return Some(ExternalProfileAnomaly {
            category: AnomalyCategory::Contained,
            remove: Vec::new(),
            add: Vec::new(),
        });
    }
    let is_internal = |role: &str| {
        role != SNC_INTERNAL && (graph.family(role) == RoleFamily::Agent || graph.closure(role).contains(SNC_INTERNAL))
    };
    let is_external =
        |role: &str| graph.closure(role).contains(SNC_EXTERNAL) || matches!(graph.family(role), RoleFamily::Requester);
    let internal_roles: Vec<String> = direct.iter().filter(|role| is_internal(role)).cloned().collect();
    let category =
        if internal_roles.is_empty() { AnomalyCategory::NonIntentional } else { AnomalyCategory::PossiblyIntentional };
    let mut remove = vec![SNC_INTERNAL.to_owned()];
    remove.extend(internal_roles);
    remove.sort();
    let external_remains = direct.iter().any(|role| !remove.contains(role) && is_external(role));
    let add = if external_remains { Vec::new() } else { vec![SNC_EXTERNAL.to_owned()] };
    Some(ExternalProfileAnomaly { category, remove, add })
}

/// A WARN-policy review flag of a profile (R2.15, R1.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFlag {
    pub reason: String,
    pub flagged_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use csm_types::roles;

    use super::*;
    use crate::domain::catalog::{SEED_EDGES, SEED_ROLES};

    fn catalog() -> RoleGraph {
        RoleGraph::new(
            SEED_ROLES.iter().map(|role| role.name.to_owned()),
            SEED_EDGES.iter().filter(|edge| !edge.suspect).map(|edge| (edge.parent.to_owned(), edge.child.to_owned())),
        )
    }

    fn classify(direct: &[&str]) -> Option<ExternalProfileAnomaly> {
        let graph = catalog();
        let direct: BTreeSet<String> = direct.iter().map(|role| role.to_string()).collect();
        let effective: BTreeSet<String> =
            direct.iter().flat_map(|role| graph.closure(role)).map(str::to_owned).collect();
        classify_external_profile(&graph, &direct, &effective)
    }

    #[test]
    fn internal_only_is_non_intentional_and_gets_external() {
        let anomaly = classify(&[SNC_INTERNAL]).unwrap();
        assert_eq!(anomaly.category, AnomalyCategory::NonIntentional);
        assert_eq!(anomaly.remove, vec![SNC_INTERNAL]);
        assert_eq!(anomaly.add, vec![SNC_EXTERNAL]);
    }

    #[test]
    fn internal_with_an_external_role_keeps_it() {
        let anomaly = classify(&[SNC_INTERNAL, roles::CUSTOMER]).unwrap();
        assert_eq!(anomaly.category, AnomalyCategory::NonIntentional);
        assert!(anomaly.add.is_empty());
    }

    #[test]
    fn internal_with_an_agent_role_is_possibly_intentional() {
        let anomaly = classify(&[SNC_INTERNAL, roles::AGENT, "knowledge"]).unwrap();
        assert_eq!(anomaly.category, AnomalyCategory::PossiblyIntentional);
        assert_eq!(anomaly.remove, vec![roles::AGENT, SNC_INTERNAL]);
        assert_eq!(anomaly.add, vec![SNC_EXTERNAL]);
    }

    #[test]
    fn internal_through_containment_is_manual() {
        let anomaly = classify(&[roles::RELATIONSHIP_AGENT]).unwrap();
        assert_eq!(anomaly.category, AnomalyCategory::Contained);
        assert!(!anomaly.category.fixable());
        assert!(classify(&[SNC_EXTERNAL]).is_none());
    }
}
