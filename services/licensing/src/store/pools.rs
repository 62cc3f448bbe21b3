//! SQL of concurrent licence pools and their seats (R7.1–R7.3): a person's
//! seat is one `license_seats` row per (pool, login), held by any number of
//! that person's sessions, and the pool's `seats_used` counts those rows.

use chrono::{DateTime, Utc};
use csm_db::{DbRow, Tx, db_error, on_unique_violation, unique_as, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use super::{EditableRecord, LicensingStore, SeatCounter, TableRecord, decode, instant, opt_instant};
use crate::domain::micros;
use crate::domain::pools::{ClientChannel, LicensePool, PoolSettings, PortalLicenseMode};
use crate::domain::sessions::{SeatOutcome, SeatSource};

/// A pool's seats in use, against its seat_count.
const POOL_SEATS: SeatCounter = SeatCounter { table: "license_pools", limit_column: "seat_count" };

fn channels_to_text(channels: &[ClientChannel]) -> String {
    channels.iter().map(|channel| (*channel as i64).to_string()).collect::<Vec<_>>().join(",")
}

fn channels_from_text(text: &str) -> Vec<ClientChannel> {
    text.split(',').filter_map(|part| part.trim().parse().ok()).filter_map(ClientChannel::from_i64).collect()
}

fn pool_from_row(row: &(impl DbRow + ?Sized)) -> CsmResult<LicensePool> {
    Ok(LicensePool {
        id: row.uuid("id").map_err(decode)?,
        settings: PoolSettings {
            name: row.text("name").map_err(decode)?,
            seat_count: row.int("seat_count").map_err(decode)?,
            license_expiration_date: row.text("license_expiration_date").map_err(decode)?,
            time_zone: row.text("time_zone").map_err(decode)?,
            idle_timeout_minutes: row.int("idle_timeout_minutes").map_err(decode)?,
            browser_idle_timeout_minutes: row.int("browser_idle_timeout_minutes").map_err(decode)?,
            inactivity_warning_minutes: row.int("inactivity_warning_minutes").map_err(decode)?,
            auto_release_after_minutes: row.int("auto_release_after_minutes").map_err(decode)?,
            portal_license_on: PortalLicenseMode::from_i64(row.int("portal_license_on").map_err(decode)?),
            consuming_channels: channels_from_text(&row.text("consuming_channels").map_err(decode)?),
        },
        seats_used: row.int("seats_used").map_err(decode)?,
        license_expires_at: opt_instant(row, "license_expires_at")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

impl TableRecord for LicensePool {
    const TABLE: &'static str = "license_pools";
    const KIND: &'static str = "pool";
    const CHANGE_ENTITY: &'static str = "license_pool";

    fn id(&self) -> Uuid {
        self.id
    }

    fn from_row(row: &dyn DbRow) -> CsmResult<Self> {
        pool_from_row(row)
    }

    async fn insert(store: &LicensingStore, tx: &mut Tx, record: &Self) -> CsmResult<()> {
        store.insert_pool(tx, record).await
    }
}

impl EditableRecord for LicensePool {
    async fn update(store: &LicensingStore, tx: &mut Tx, record: &Self) -> CsmResult<bool> {
        store.update_pool(tx, record).await
    }
}

fn name_taken(error: sqlx::Error) -> CsmError {
    unique_as(error, "LICENSE_POOL_NAME_TAKEN", "a pool with this name already exists")
}

/// The columns every write of a pool sets, in bind order ([`bind_pool`]);
/// an insert also sets `id`, `seats_used` (0) and `created_at`.
const POOL_WRITTEN: [&str; 12] = [
    "name",
    "seat_count",
    "license_expiration_date",
    "time_zone",
    "license_expires_at",
    "idle_timeout_minutes",
    "browser_idle_timeout_minutes",
    "inactivity_warning_minutes",
    "auto_release_after_minutes",
    "portal_license_on",
    "consuming_channels",
    "updated_at",
];

/// Binds the [`POOL_WRITTEN`] columns of `pool` to `query`, in their order:
/// the one binding of a pool row, for both backends.
macro_rules! bind_pool {
    ($query:expr, $pool:expr) => {{
        let pool: &LicensePool = $pool;
        let settings = &pool.settings;
        $query
            .bind(&settings.name)
            .bind(settings.seat_count)
            .bind(&settings.license_expiration_date)
            .bind(&settings.time_zone)
            .bind(pool.license_expires_at.map(micros))
            .bind(settings.idle_timeout_minutes)
            .bind(settings.browser_idle_timeout_minutes)
            .bind(settings.inactivity_warning_minutes)
            .bind(settings.auto_release_after_minutes)
            .bind(settings.portal_license_on as i64)
            .bind(channels_to_text(&settings.consuming_channels))
            .bind(micros(pool.updated_at))
    }};
}

impl LicensingStore {
    /// Inserts a pool; a taken name is ALREADY_EXISTS LICENSE_POOL_NAME_TAKEN.
    pub async fn insert_pool(&self, tx: &mut Tx, pool: &LicensePool) -> CsmResult<()> {
        let columns: Vec<&str> = ["id", "seats_used", "created_at"].into_iter().chain(POOL_WRITTEN).collect();
        let values: Vec<String> = std::iter::once("$1".to_owned())
            .chain(["0".to_owned(), "$2".to_owned()])
            .chain((0..POOL_WRITTEN.len()).map(|index| format!("${}", index + 3)))
            .collect();
        let sql = format!("INSERT INTO license_pools ({}) VALUES ({})", columns.join(", "), values.join(", "));
        let result = with_tx!(tx, |tx| {
            let query = sqlx::query(&sql).bind(pool.id).bind(micros(pool.created_at));
            bind_pool!(query, pool).execute(&mut **tx).await.map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(name_taken)
    }

    /// Writes the settings of an existing pool (seats_used is left alone).
    /// Returns false when the pool does not exist.
    pub async fn update_pool(&self, tx: &mut Tx, pool: &LicensePool) -> CsmResult<bool> {
        let sets: Vec<String> =
            POOL_WRITTEN.iter().enumerate().map(|(index, column)| format!("{column} = ${}", index + 2)).collect();
        let sql = format!("UPDATE license_pools SET {} WHERE id = $1", sets.join(", "));
        let result = with_tx!(tx, |tx| {
            let query = sqlx::query(&sql).bind(pool.id);
            bind_pool!(query, pool).execute(&mut **tx).await.map(|done| done.rows_affected())
        });
        result.map(|done| done > 0).map_err(name_taken)
    }

    /// Pools in name order after `after_name`.
    pub async fn list_pools(&self, after_name: Option<&str>, limit: i64) -> CsmResult<Vec<LicensePool>> {
        with_db!(self.db(), |pool| {
            let rows =
                sqlx::query("SELECT * FROM license_pools WHERE ($1 IS NULL OR name > $1) ORDER BY name LIMIT $2")
                    .bind(after_name)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .map_err(db_error)?;
            rows.iter().map(pool_from_row).collect()
        })
    }

    /// Takes the person's seat of `pool_id`, or joins it when they already hold
    /// it (R7.2). Atomic in the database: the pool's counter moves only while
    /// below seat_count, and the (pool, login) seat row is unique.
    pub async fn acquire_seat(
        &self,
        tx: &mut Tx,
        pool_id: Uuid,
        login_id: Uuid,
        source: SeatSource,
        now: DateTime<Utc>,
    ) -> CsmResult<SeatOutcome> {
        let joined = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE license_seats SET session_count = session_count + 1 WHERE pool_id = $1 AND login_id = $2",
            )
            .bind(pool_id)
            .bind(login_id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected()
        });
        if joined > 0 {
            return Ok(SeatOutcome::Joined);
        }
        let Some(seats_in_use) = POOL_SEATS.take(tx, pool_id).await? else {
            return Ok(SeatOutcome::Exhausted);
        };
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO license_seats (pool_id, login_id, source, acquired_at, session_count) \
                 VALUES ($1, $2, $3, $4, 1)",
            )
            .bind(pool_id)
            .bind(login_id)
            .bind(source as i64)
            .bind(micros(now))
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
            .map_err(|error| {
                on_unique_violation(error, || {
                    // Another session of the same person took the seat at the same
                    // moment; the caller retries and joins it.
                    CsmError::aborted("SEAT_RACE", "a concurrent login of the same person took the seat")
                })
            })?
        });
        self.record_usage(tx, pool_id, now, seats_in_use).await?;
        Ok(SeatOutcome::Acquired)
    }

    /// Gives back one session's hold on the person's seat; frees the seat when
    /// it was the last (R7.2). Returns true when the seat was freed.
    pub async fn release_seat(&self, tx: &mut Tx, pool_id: Uuid, login_id: Uuid, at: DateTime<Utc>) -> CsmResult<bool> {
        // The pool row before the seat row (PostgreSQL): the lock order of
        // every seat write is pool → seat, so releases and acquisitions cannot deadlock.
        if let Tx::Postgres(tx) = tx {
            sqlx::query("SELECT id FROM license_pools WHERE id = $1 FOR UPDATE")
                .bind(pool_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        let remaining: Option<i64> = with_tx!(tx, |tx| {
            sqlx::query_scalar(
                "UPDATE license_seats SET session_count = session_count - 1 WHERE pool_id = $1 AND login_id = $2 \
                 RETURNING session_count",
            )
            .bind(pool_id)
            .bind(login_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?
        });
        if remaining.is_none_or(|remaining| remaining > 0) {
            return Ok(false);
        }
        with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM license_seats WHERE pool_id = $1 AND login_id = $2")
                .bind(pool_id)
                .bind(login_id)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        if let Some(seats_in_use) = POOL_SEATS.free(tx, pool_id).await? {
            self.record_usage(tx, pool_id, at, seats_in_use).await?;
        }
        Ok(true)
    }

    async fn record_usage(&self, tx: &mut Tx, pool_id: Uuid, at: DateTime<Utc>, seats_in_use: i64) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query("INSERT INTO license_usage_events (id, pool_id, at, seats_in_use) VALUES ($1, $2, $3, $4)")
                .bind(Uuid::now_v7())
                .bind(pool_id)
                .bind(micros(at))
                .bind(seats_in_use)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }
}
