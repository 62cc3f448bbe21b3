//! Role settings (R2.15, R1.15, X1, R4.7) and their defaults.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::catalog::DEFAULT_CONTACT_ROLE_ASSIGNMENT;
use super::collisions::{MixingPolicy, PersonaPolicy, Policies};

pub const MIXING_POLICY_KEY: &str = "csm_role_mixing_policy";
pub const PERSONA_POLICY_KEY: &str = "unsupported_persona_policy";
pub const LOAD_SUSPECT_EDGES_KEY: &str = "load_suspect_edges";
pub const CONTACT_ROLE_ASSIGNMENT_KEY: &str = "contact_role_assignment";

/// The settings in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    pub policies: Policies,
    pub load_suspect_edges: bool,
    pub contact_role_assignment: Vec<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl RoleSettings {
    /// The settings from stored key/value pairs; absent or unknown values take the defaults.
    pub fn from_stored(values: &BTreeMap<String, String>, updated_at: Option<DateTime<Utc>>) -> Self {
        let mixing = match values.get(MIXING_POLICY_KEY).map(String::as_str) {
            Some("WARN") => MixingPolicy::Warn,
            _ => MixingPolicy::Deny,
        };
        let persona = match values.get(PERSONA_POLICY_KEY).map(String::as_str) {
            Some("WARN") => PersonaPolicy::Warn,
            _ => PersonaPolicy::Reject,
        };
        let contact_role_assignment = match values.get(CONTACT_ROLE_ASSIGNMENT_KEY) {
            Some(list) => list.split(',').filter(|role| !role.is_empty()).map(str::to_owned).collect(),
            None => DEFAULT_CONTACT_ROLE_ASSIGNMENT.iter().map(|role| role.to_string()).collect(),
        };
        Self {
            policies: Policies { mixing, persona },
            load_suspect_edges: values.get(LOAD_SUSPECT_EDGES_KEY).is_some_and(|value| value == "true"),
            contact_role_assignment,
            updated_at,
        }
    }
}

/// The settings an update names (None: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub mixing: Option<MixingPolicy>,
    pub persona: Option<PersonaPolicy>,
    pub load_suspect_edges: Option<bool>,
    pub contact_role_assignment: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let settings = RoleSettings::from_stored(&BTreeMap::new(), None);
        assert_eq!(settings.policies.mixing, MixingPolicy::Deny);
        assert_eq!(settings.policies.persona, PersonaPolicy::Reject);
        assert!(!settings.load_suspect_edges);
        assert_eq!(settings.contact_role_assignment.len(), 4);
    }
}
