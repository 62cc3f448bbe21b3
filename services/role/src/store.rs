//! All of role's SQL.

use csm_changefeed::{NewChange, Operation};
use csm_db::{Db, DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::CsmResult;
use csm_types::ProfileId;
use uuid::Uuid;

use crate::domain::catalog::{SEED_EDGES, SEED_ROLES, SeedSource};

/// A role assigned directly to a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectAssignment {
    pub id: Uuid,
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn assignment_from_row(row: &impl DbRow) -> CsmResult<DirectAssignment> {
    Ok(DirectAssignment {
        id: row.uuid("id").map_err(db_error)?,
        role: row.text("role").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
    })
}

#[derive(Clone, Debug)]
pub struct RoleStore {
    db: Db,
}

impl RoleStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Writes the seeded catalog (SPEC §2.2, §5.4): missing roles and edges are
    /// added, existing ones left alone, so start-up is idempotent across restarts
    /// and replicas. Returns the revision of the last change written, if any.
    pub async fn seed_catalog(&self) -> CsmResult<Option<u64>> {
        let mut tx = self.db.begin().await?;
        let now = csm_db::now();
        let mut last_revision = None;
        for role in SEED_ROLES {
            let origin = match role.source {
                SeedSource::Seed => "seed",
                SeedSource::Doc => "doc",
            };
            let inserted = with_tx!(&mut tx, |tx| {
                sqlx::query(
                    "INSERT INTO roles (name, description, origin, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(role.name)
                .bind(role.description)
                .bind(origin)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
            });
            if inserted > 0 {
                let change = NewChange::new("role", role.name, Operation::Created).attribute("role", role.name);
                last_revision = Some(csm_changefeed::append(&mut tx, &change).await?);
            }
        }
        for edge in SEED_EDGES {
            let inserted = with_tx!(&mut tx, |tx| {
                sqlx::query(
                    "INSERT INTO role_contains (parent, child, suspect) VALUES ($1, $2, $3) \
                     ON CONFLICT (parent, child) DO NOTHING",
                )
                .bind(edge.parent)
                .bind(edge.child)
                .bind(edge.suspect)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
            });
            if inserted > 0 {
                let change = NewChange::new("role_containment", format!("{}>{}", edge.parent, edge.child), Operation::Created)
                    .attribute("parent_role", edge.parent)
                    .attribute("child_role", edge.child);
                last_revision = Some(csm_changefeed::append(&mut tx, &change).await?);
            }
        }
        tx.commit().await?;
        Ok(last_revision)
    }

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
            let rows = sqlx::query("SELECT id, role, created_at FROM role_assignments WHERE profile_id = $1 ORDER BY role")
                .bind(profile.as_uuid())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(assignment_from_row).collect()
        })
    }
}

impl RoleStore {
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
            let rows = sqlx::query("SELECT id, role, created_at FROM role_assignments WHERE profile_id = $1 ORDER BY role")
                .bind(profile.as_uuid())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
            rows.iter().map(assignment_from_row).collect()
        })
    }

    /// Writes a direct assignment and its change.
    pub async fn insert_assignment(&self, tx: &mut Tx, profile: ProfileId, role: &str) -> CsmResult<(DirectAssignment, u64)> {
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

    /// Flags `profile` for review (a WARN policy let a combination through).
    pub async fn flag_for_review(&self, tx: &mut Tx, profile: ProfileId, reason: &str) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO role_review_flags (profile_id, reason, flagged_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (profile_id) DO UPDATE SET reason = excluded.reason, flagged_at = excluded.flagged_at",
            )
            .bind(profile.as_uuid())
            .bind(reason)
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    pub async fn is_flagged_for_review(&self, profile: ProfileId) -> CsmResult<bool> {
        with_db!(&self.db, |pool| {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM role_review_flags WHERE profile_id = $1")
                .bind(profile.as_uuid())
                .fetch_one(pool)
                .await
                .map_err(db_error)?;
            Ok(count > 0)
        })
    }

}

/// A role row of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub name: String,
    pub description: String,
    /// "seed", "doc" or "custom".
    pub origin: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A containment edge row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRow {
    pub parent: String,
    pub child: String,
    pub suspect: bool,
}

impl RoleStore {
    /// Every role and every containment edge (suspect ones included).
    pub async fn load_catalog(&self) -> CsmResult<(Vec<RoleRow>, Vec<EdgeRow>)> {
        with_db!(&self.db, |pool| {
            let roles = sqlx::query("SELECT name, description, origin, created_at FROM roles ORDER BY name")
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok(RoleRow {
                        name: row.text("name").map_err(db_error)?,
                        description: row.text("description").map_err(db_error)?,
                        origin: row.text("origin").map_err(db_error)?,
                        created_at: row.timestamp("created_at").map_err(db_error)?,
                    })
                })
                .collect::<CsmResult<Vec<_>>>()?;
            let edges = sqlx::query("SELECT parent, child, suspect FROM role_contains ORDER BY parent, child")
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok(EdgeRow {
                        parent: row.text("parent").map_err(db_error)?,
                        child: row.text("child").map_err(db_error)?,
                        suspect: row.boolean("suspect").map_err(db_error)?,
                    })
                })
                .collect::<CsmResult<Vec<_>>>()?;
            Ok((roles, edges))
        })
    }
}

impl RoleStore {
    /// Every stored setting (absent keys take their defaults).
    pub async fn settings(&self) -> CsmResult<(std::collections::BTreeMap<String, String>, Option<chrono::DateTime<chrono::Utc>>)> {
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
        let change = NewChange::new("role_settings", "role_settings", Operation::Updated).attribute("fields", keys.join(","));
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
