//! SQL of the settings row (R3.8, R3.10).

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};

use super::{AccountTeamStore, decode};
use crate::domain::settings::AccountTeamSettings;

fn settings_from_row(row: &impl DbRow) -> CsmResult<AccountTeamSettings> {
    Ok(AccountTeamSettings {
        restrict_within_account_hierarchy: row.boolean("restrict_within_account_hierarchy").map_err(decode)?,
        allow_multiple_contact_responsibilities: row
            .boolean("allow_multiple_contact_responsibilities")
            .map_err(decode)?,
        updated_at: row.timestamp("updated_at").map_err(decode)?,
    })
}

const SELECT_SETTINGS: &str = "SELECT restrict_within_account_hierarchy, allow_multiple_contact_responsibilities, \
     updated_at FROM account_team_settings WHERE id = 1";

impl AccountTeamStore {
    pub async fn settings(&self) -> CsmResult<AccountTeamSettings> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(SELECT_SETTINGS).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(settings_from_row).transpose()?.ok_or_else(|| CsmError::internal("settings row missing"))
        })
    }

    /// Writes both switches (the caller applied its mask) and the change row.
    /// The UPDATE is the transaction's first statement (it takes the row lock).
    pub async fn save_settings(
        &self,
        tx: &mut Tx,
        restrict_within_account_hierarchy: Option<bool>,
        allow_multiple_contact_responsibilities: Option<bool>,
    ) -> CsmResult<(AccountTeamSettings, u64)> {
        let now = csm_db::now();
        let settings = with_tx!(tx, |tx| {
            let row = sqlx::query(
                "UPDATE account_team_settings SET \
                 restrict_within_account_hierarchy = COALESCE($1, restrict_within_account_hierarchy), \
                 allow_multiple_contact_responsibilities = COALESCE($2, allow_multiple_contact_responsibilities), \
                 updated_at = $3 WHERE id = 1 \
                 RETURNING restrict_within_account_hierarchy, allow_multiple_contact_responsibilities, updated_at",
            )
            .bind(restrict_within_account_hierarchy)
            .bind(allow_multiple_contact_responsibilities)
            .bind(now)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
            settings_from_row(&row)?
        });
        let change = NewChange::new("account_team_settings", "settings", Operation::Updated)
            .attribute("restrict_within_account_hierarchy", settings.restrict_within_account_hierarchy)
            .attribute("allow_multiple_contact_responsibilities", settings.allow_multiple_contact_responsibilities);
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((settings, revision))
    }
}
