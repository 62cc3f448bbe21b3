//! SQL of direct role assignments (R2.10–R2.17, R1.6): the profile's
//! assignment lock, the assignments and their changes.

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::CsmResult;
use csm_types::ProfileId;
use uuid::Uuid;

use super::RoleStore;
use crate::domain::assignments::DirectAssignment;

fn assignment_from_row(row: &impl DbRow) -> CsmResult<DirectAssignment> {
    Ok(DirectAssignment {
        id: row.uuid("id").map_err(db_error)?,
        role: row.text("role").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
    })
}

impl RoleStore {
    /// Gives `role` to `profile` unless it already has it (bootstrap of the first administrators).
    pub async fn ensure_direct_assignment(&self, profile: ProfileId, role: &str) -> CsmResult<Option<u64>> {
        let mut tx = self.db.begin().await?;
        let id = Uuid::now_v7();
        let inserted = with_tx!(&mut tx, |tx| {
            sqlx::query(
                "INSERT INTO role_assignments (id, profile_id, role, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (profile_id, role) DO NOTHING",
            )
            .bind(id)
            .bind(profile.as_uuid())
            .bind(role)
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected()
        });
        let revision = if inserted > 0 {
            let change = NewChange::new("role_assignment", id, Operation::Created)
                .attribute("profile_id", profile)
                .attribute("role", role);
            Some(csm_changefeed::append(&mut tx, &change).await?)
        } else {
            None
        };
        tx.commit().await?;
        Ok(revision)
    }

    /// The roles assigned directly to `profile`.
    pub async fn direct_assignments(&self, profile: ProfileId) -> CsmResult<Vec<DirectAssignment>> {
        with_db!(&self.db, |pool| {
            let rows =
                sqlx::query("SELECT id, role, created_at FROM role_assignments WHERE profile_id = $1 ORDER BY role")
                    .bind(profile.as_uuid())
                    .fetch_all(pool)
                    .await
                    .map_err(db_error)?;
            rows.iter().map(assignment_from_row).collect()
        })
    }

    /// Takes the assignment lock of `profile` (the first write of the transaction).
    pub async fn lock_profile(&self, tx: &mut Tx, profile: ProfileId) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO role_profile_locks (profile_id, version) VALUES ($1, 1) \
                 ON CONFLICT (profile_id) DO UPDATE SET version = role_profile_locks.version + 1",
            )
            .bind(profile.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    /// The direct assignments of `profile`, read inside `tx`.
    pub async fn direct_assignments_in(&self, tx: &mut Tx, profile: ProfileId) -> CsmResult<Vec<DirectAssignment>> {
        with_tx!(tx, |tx| {
            let rows =
                sqlx::query("SELECT id, role, created_at FROM role_assignments WHERE profile_id = $1 ORDER BY role")
                    .bind(profile.as_uuid())
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(db_error)?;
            rows.iter().map(assignment_from_row).collect()
        })
    }

    /// Writes a direct assignment and its change.
    pub async fn insert_assignment(
        &self,
        tx: &mut Tx,
        profile: ProfileId,
        role: &str,
    ) -> CsmResult<(DirectAssignment, u64)> {
        let id = Uuid::now_v7();
        let created_at = csm_db::now();
        with_tx!(tx, |tx| {
            sqlx::query("INSERT INTO role_assignments (id, profile_id, role, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(profile.as_uuid())
                .bind(role)
                .bind(created_at)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        let change = NewChange::new("role_assignment", id, Operation::Created)
            .attribute("profile_id", profile)
            .attribute("role", role);
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((DirectAssignment { id, role: role.to_owned(), created_at }, revision))
    }

    /// Deletes the direct assignment of `role` to `profile`; `None` when there was none.
    pub async fn delete_assignment(&self, tx: &mut Tx, profile: ProfileId, role: &str) -> CsmResult<Option<u64>> {
        let id: Option<Uuid> = with_tx!(tx, |tx| {
            sqlx::query_scalar("DELETE FROM role_assignments WHERE profile_id = $1 AND role = $2 RETURNING id")
                .bind(profile.as_uuid())
                .bind(role)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
        });
        let Some(id) = id else { return Ok(None) };
        let change = NewChange::new("role_assignment", id, Operation::Deleted)
            .attribute("profile_id", profile)
            .attribute("role", role);
        Ok(Some(csm_changefeed::append(tx, &change).await?))
    }
}
