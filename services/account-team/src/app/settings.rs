//! The settings use cases (R3.8, R3.10).

use csm_auth::Caller;
use csm_errors::CsmResult;

use super::Written;
use crate::AccountTeamApp;
use crate::domain::settings::{AccountTeamSettings, SETTINGS_ADMIN_ROLES, SettingsChanges};

impl AccountTeamApp {
    /// The settings; any authenticated caller.
    pub async fn get_settings(&self, _caller: &Caller) -> CsmResult<AccountTeamSettings> {
        self.store.settings().await
    }

    /// Changes the masked switches; admin and sn_crm_foundation_admin. Applies to later writes only.
    pub async fn update_settings(
        &self,
        caller: &Caller,
        changes: SettingsChanges,
    ) -> CsmResult<Written<AccountTeamSettings>> {
        self.roles.authorize(caller, SETTINGS_ADMIN_ROLES, "UpdateAccountTeamSettings").await?;
        let mut tx = self.store.db().begin().await?;
        let (settings, revision) = self
            .store
            .save_settings(
                &mut tx,
                changes.restrict_within_account_hierarchy,
                changes.allow_multiple_contact_responsibilities,
            )
            .await?;
        tx.commit().await?;
        Ok(self.committed(settings, revision))
    }
}
