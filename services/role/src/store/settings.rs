//! SQL of the role settings (collision policies, delegated assignment, X1).

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, db_error, with_db, with_tx};
use csm_errors::CsmResult;

use super::RoleStore;

impl RoleStore {
    /// Every stored setting (absent keys take their defaults).
    pub async fn settings(
        &self,
    ) -> CsmResult<(std::collections::BTreeMap<String, String>, Option<chrono::DateTime<chrono::Utc>>)> {
        with_db!(&self.db, |pool| {
            let rows = sqlx::query("SELECT key, value, updated_at FROM role_settings")
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            let mut values = std::collections::BTreeMap::new();
            let mut updated_at: Option<chrono::DateTime<chrono::Utc>> = None;
            for row in &rows {
                values.insert(row.text("key").map_err(db_error)?, row.text("value").map_err(db_error)?);
                let at = row.timestamp("updated_at").map_err(db_error)?;
                updated_at = Some(updated_at.map_or(at, |current| current.max(at)));
            }
            Ok((values, updated_at))
        })
    }

    /// Writes settings and one change row for them.
    pub async fn write_settings(&self, values: &[(&str, String)]) -> CsmResult<u64> {
        let mut tx = self.db.begin().await?;
        let now = csm_db::now();
        let keys: Vec<&str> = values.iter().map(|(key, _)| *key).collect();
        let change =
            NewChange::new("role_settings", "role_settings", Operation::Updated).attribute("fields", keys.join(","));
        // The change row first: it takes the feed's lock, so writers of settings are serialized.
        let revision = csm_changefeed::append(&mut tx, &change).await?;
        for (key, value) in values {
            with_tx!(&mut tx, |tx| {
                sqlx::query(
                    "INSERT INTO role_settings (key, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(*key)
                .bind(value)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            });
        }
        tx.commit().await?;
        Ok(revision)
    }
}
