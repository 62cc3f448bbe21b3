//! All of licensing's SQL, one module per area, on one [`LicensingStore`].
//!
//! Seats are counted by the database: a pool's `seats_used` and a plan's
//! `seats_used` move only through guarded updates (`seats_used < limit`), and
//! a person's seat is one row keyed by (pool, login). Every write transaction
//! starts with a write, so SQLite takes its write lock up front.

pub mod agent_seats;
pub mod pools;
pub mod rights;
pub mod sessions;
pub mod usage;

use std::future::Future;

use chrono::{DateTime, Utc};
use csm_db::{Db, DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use crate::domain::from_micros;

/// licensing's store.
#[derive(Clone, Debug)]
pub struct LicensingStore {
    db: Db,
}

/// A record kept whole in one table and read by its id (pools, seat plans,
/// licence-right grants): what the reads and writes written once for all of
/// them need to know.
pub trait TableRecord: Sized + Send + Sync {
    /// The table the record lives in.
    const TABLE: &'static str;
    /// What a NOT_FOUND names ("pool", "seat plan", …).
    const KIND: &'static str;
    /// The entity of its change-feed entries.
    const CHANGE_ENTITY: &'static str;

    fn id(&self) -> Uuid;

    fn from_row(row: &dyn DbRow) -> CsmResult<Self>;

    /// Inserts the record; a unique violation is answered with the record's
    /// own ALREADY_EXISTS reason.
    fn insert(store: &LicensingStore, tx: &mut Tx, record: &Self) -> impl Future<Output = CsmResult<()>> + Send;
}

/// A [`TableRecord`] an administrator edits (pools, seat plans).
pub trait EditableRecord: TableRecord {
    /// Writes the editable fields; false when the record does not exist.
    fn update(store: &LicensingStore, tx: &mut Tx, record: &Self) -> impl Future<Output = CsmResult<bool>> + Send;
}

impl LicensingStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub async fn begin(&self) -> CsmResult<Tx> {
        self.db.begin().await
    }

    /// The record of `T` with this id.
    pub async fn record<T: TableRecord>(&self, id: Uuid) -> CsmResult<Option<T>> {
        let sql = format!("SELECT * FROM {} WHERE id = $1", T::TABLE);
        with_db!(&self.db, |pool| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(|row| T::from_row(row)).transpose()
        })
    }

    /// [`LicensingStore::record`] inside `tx`.
    pub async fn record_in<T: TableRecord>(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<T>> {
        let sql = format!("SELECT * FROM {} WHERE id = $1", T::TABLE);
        with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.as_ref().map(|row| T::from_row(row)).transpose()
        })
    }

    /// On SQLite, takes the database write lock now (a no-op write), so a
    /// read-then-write transaction cannot fail to upgrade. PostgreSQL locks rows.
    pub async fn take_write_lock(&self, tx: &mut Tx) -> CsmResult<()> {
        if let Tx::Sqlite(tx) = tx {
            sqlx::query("UPDATE license_write_lock SET n = n WHERE id = 1")
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }
}

/// A counter of seats in use against a limit: a pool's (`seat_count`) and a
/// seat plan's (`seat_limit`) move the same guarded way.
#[derive(Debug, Clone, Copy)]
struct SeatCounter {
    table: &'static str,
    limit_column: &'static str,
}

impl SeatCounter {
    /// Takes one seat if the counter is below its limit (the guarded update
    /// that decides, R7.1, R7.11). The seats now in use; None when full (or missing).
    async fn take(self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<i64>> {
        let sql = format!(
            "UPDATE {} SET seats_used = seats_used + 1 WHERE id = $1 AND seats_used < {} RETURNING seats_used",
            self.table, self.limit_column
        );
        with_tx!(tx, |tx| { sqlx::query_scalar(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error) })
    }

    /// Gives one seat back (never below zero). The seats now in use; None when
    /// none was counted (or the row is missing).
    async fn free(self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<i64>> {
        let sql = format!(
            "UPDATE {} SET seats_used = seats_used - 1 WHERE id = $1 AND seats_used > 0 RETURNING seats_used",
            self.table
        );
        with_tx!(tx, |tx| { sqlx::query_scalar(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error) })
    }
}

fn decode(error: sqlx::Error) -> CsmError {
    db_error(error)
}

fn opt_instant(row: &(impl DbRow + ?Sized), column: &str) -> CsmResult<Option<DateTime<Utc>>> {
    Ok(row.opt_int(column).map_err(decode)?.map(from_micros))
}

fn instant(row: &(impl DbRow + ?Sized), column: &str) -> CsmResult<DateTime<Utc>> {
    Ok(from_micros(row.int(column).map_err(decode)?))
}
