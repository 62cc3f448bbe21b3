//! The service settings (R3.8, R3.10): two switches, one row.

use chrono::{DateTime, Utc};
use csm_types::roles;

/// Who may change the settings (proto: admin, sn_crm_foundation_admin).
pub const SETTINGS_ADMIN_ROLES: &[&str] = &[roles::ADMIN, roles::CRM_FOUNDATION_ADMIN];

/// account-team's settings; [`AccountTeamSettings::default`] holds the SPEC defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTeamSettings {
    /// R3.8: contact relationships on A only for contacts of A's hierarchy and related accounts.
    pub restrict_within_account_hierarchy: bool,
    /// R3.10 / X10: several responsibilities per (account, contact).
    pub allow_multiple_contact_responsibilities: bool,
    pub updated_at: DateTime<Utc>,
}

/// The fields UpdateAccountTeamSettings may write (its update mask); `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChanges {
    pub restrict_within_account_hierarchy: Option<bool>,
    pub allow_multiple_contact_responsibilities: Option<bool>,
}

impl SettingsChanges {
    pub fn apply_to(&self, settings: &AccountTeamSettings) -> AccountTeamSettings {
        AccountTeamSettings {
            restrict_within_account_hierarchy: self
                .restrict_within_account_hierarchy
                .unwrap_or(settings.restrict_within_account_hierarchy),
            allow_multiple_contact_responsibilities: self
                .allow_multiple_contact_responsibilities
                .unwrap_or(settings.allow_multiple_contact_responsibilities),
            updated_at: settings.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmasked_fields_keep_their_value() {
        let settings = AccountTeamSettings {
            restrict_within_account_hierarchy: true,
            allow_multiple_contact_responsibilities: false,
            updated_at: Utc::now(),
        };
        let changed = SettingsChanges { allow_multiple_contact_responsibilities: Some(true), ..Default::default() }
            .apply_to(&settings);
        assert!(changed.restrict_within_account_hierarchy);
        assert!(changed.allow_multiple_contact_responsibilities);
    }
}
