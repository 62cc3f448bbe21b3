//! All of role's SQL, one module per area, on one [`RoleStore`]: the type,
//! the role-graph lock every area's writes take, and the helpers they share.

pub mod anomalies;
pub mod assignments;
mod bulk_load;
pub mod catalog;
pub mod catalog_admin;
pub mod groups;
pub mod profiles;
pub mod settings;

pub use self::bulk_load::{BulkGroup, BulkQuery, BulkValueOf};

use csm_db::{Db, Tx, db_error, with_tx};
use csm_errors::CsmResult;

/// role's tables.
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

    /// Takes the role-graph lock exclusively: the FIRST statement of every
    /// group write. Group writes change what many profiles hold, so they
    /// exclude each other and every direct assignment (which holds the lock
    /// shared, [`lock_role_graph_shared`](Self::lock_role_graph_shared)) until commit.
    pub async fn lock_role_graph(&self, tx: &mut Tx) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE role_graph_lock SET version = version + 1 WHERE id = 1")
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// Holds the role-graph lock shared (direct assignments, after their
    /// profile lock): concurrent assignments of different profiles do not wait
    /// for each other, but none overlaps a group write. On SQLite the profile
    /// lock, a write, already serializes the transaction with every other writer.
    pub async fn lock_role_graph_shared(&self, tx: &mut Tx) -> CsmResult<()> {
        if let Tx::Postgres(tx) = tx {
            sqlx::query("SELECT version FROM role_graph_lock WHERE id = 1 FOR SHARE")
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }
}

/// `$first, $first+1, …` for `count` values of an IN list.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|index| format!("${index}")).collect::<Vec<_>>().join(", ")
}
