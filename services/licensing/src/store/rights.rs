//! SQL of licence-right grants (R7.6); one grant per subject, kept by unique keys.

use csm_db::{DbRow, Tx, db_error, unique_as, with_db, with_tx};
use csm_errors::CsmResult;
use uuid::Uuid;

use super::{LicensingStore, TableRecord, decode, instant};
use crate::domain::micros;
use crate::domain::rights::LicenseRightGrant;

fn grant_from_row(row: &(impl DbRow + ?Sized)) -> CsmResult<LicenseRightGrant> {
    Ok(LicenseRightGrant {
        id: row.uuid("id").map_err(decode)?,
        profile_id: row.opt_uuid("profile_id").map_err(decode)?,
        security_group_id: row.opt_uuid("security_group_id").map_err(decode)?,
        granted_at: instant(row, "granted_at")?,
    })
}

impl TableRecord for LicenseRightGrant {
    const TABLE: &'static str = "license_right_grants";
    const KIND: &'static str = "license right grant";
    const CHANGE_ENTITY: &'static str = "license_right_grant";

    fn id(&self) -> Uuid {
        self.id
    }

    fn from_row(row: &dyn DbRow) -> CsmResult<Self> {
        grant_from_row(row)
    }

    async fn insert(store: &LicensingStore, tx: &mut Tx, record: &Self) -> CsmResult<()> {
        store.insert_grant(tx, record).await
    }
}

impl LicensingStore {
    /// Inserts a grant; a subject that already has one is ALREADY_EXISTS
    /// LICENSE_RIGHT_ALREADY_GRANTED.
    pub async fn insert_grant(&self, tx: &mut Tx, grant: &LicenseRightGrant) -> CsmResult<()> {
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO license_right_grants (id, profile_id, security_group_id, granted_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(grant.id)
            .bind(grant.profile_id)
            .bind(grant.security_group_id)
            .bind(micros(grant.granted_at))
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(|error| {
            unique_as(error, "LICENSE_RIGHT_ALREADY_GRANTED", "the subject already holds the licence right")
        })
    }

    pub async fn delete_grant(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<LicenseRightGrant>> {
        with_tx!(tx, |tx| {
            let row = sqlx::query("DELETE FROM license_right_grants WHERE id = $1 RETURNING *")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(grant_from_row).transpose()
        })
    }

    /// Grants to `profile_id` directly or to `security_group_id`.
    pub async fn grants_for(
        &self,
        profile_id: Uuid,
        security_group_id: Option<Uuid>,
    ) -> CsmResult<Vec<LicenseRightGrant>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT * FROM license_right_grants WHERE profile_id = $1 \
                 OR ($2 IS NOT NULL AND security_group_id = $2) ORDER BY id",
            )
            .bind(profile_id)
            .bind(security_group_id)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(grant_from_row).collect()
        })
    }

    pub async fn list_grants(
        &self,
        profile_id: Option<Uuid>,
        security_group_id: Option<Uuid>,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<Vec<LicenseRightGrant>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT * FROM license_right_grants WHERE ($1 IS NULL OR profile_id = $1) \
                 AND ($2 IS NULL OR security_group_id = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
            )
            .bind(profile_id)
            .bind(security_group_id)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(grant_from_row).collect()
        })
    }
}
