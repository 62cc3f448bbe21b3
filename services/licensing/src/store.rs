//! All of licensing's SQL.
//!
//! Seats are counted by the database: a pool's `seats_used` and a plan's
//! `seats_used` move only through guarded updates (`seats_used < limit`), and
//! a person's seat is one row keyed by (pool, login). Every write transaction
//! starts with a write, so SQLite takes its write lock up front.

use chrono::{DateTime, Utc};
use csm_db::{Db, DbRow, Tx, db_error, on_unique_violation, unique_as, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use crate::domain::agent_seats::{AgentSeat, LicensedProduct, SeatKind, SeatPlan};
use crate::domain::pools::{ClientChannel, LicensePool, PoolSettings, PortalLicenseMode};
use crate::domain::rights::LicenseRightGrant;
use crate::domain::sessions::{
    DueSession, EndReason, LicenseSession, PrincipalKind, SeatOutcome, SeatSource, SessionFilter, SessionState,
};
use crate::domain::usage::{Denial, DenialFilter, DenialReason, SeatHolder, UsageEvent};
use crate::domain::{from_micros, micros};

fn decode(error: sqlx::Error) -> CsmError {
    db_error(error)
}

fn opt_instant(row: &impl DbRow, column: &str) -> CsmResult<Option<DateTime<Utc>>> {
    Ok(row.opt_int(column).map_err(decode)?.map(from_micros))
}

fn instant(row: &impl DbRow, column: &str) -> CsmResult<DateTime<Utc>> {
    Ok(from_micros(row.int(column).map_err(decode)?))
}

fn channels_to_text(channels: &[ClientChannel]) -> String {
    channels.iter().map(|channel| (*channel as i64).to_string()).collect::<Vec<_>>().join(",")
}

fn channels_from_text(text: &str) -> Vec<ClientChannel> {
    text.split(',').filter_map(|part| part.trim().parse().ok()).filter_map(ClientChannel::from_i64).collect()
}

fn pool_from_row(row: &impl DbRow) -> CsmResult<LicensePool> {
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

const SESSION_COLUMNS: &str = "id, pool_id, login_id, profile_id, principal_kind, channel, device_id, state, \
     seat_held, seat_source, seat_acquired_at, started_at, last_activity_at, last_heartbeat_at, idle_deadline, \
     unresponsive_deadline, ended_at, end_reason";

fn session_from_row(row: &impl DbRow) -> CsmResult<LicenseSession> {
    let channel = row.int("channel").map_err(decode)?;
    Ok(LicenseSession {
        id: row.uuid("id").map_err(decode)?,
        pool_id: row.uuid("pool_id").map_err(decode)?,
        login_id: row.uuid("login_id").map_err(decode)?,
        profile_id: row.uuid("profile_id").map_err(decode)?,
        principal_kind: PrincipalKind::from_i64(row.int("principal_kind").map_err(decode)?),
        channel: ClientChannel::from_i64(channel)
            .ok_or_else(|| CsmError::internal(format!("unknown channel {channel} in license_sessions")))?,
        device_id: row.text("device_id").map_err(decode)?,
        state: if row.int("state").map_err(decode)? == SessionState::Active as i64 {
            SessionState::Active
        } else {
            SessionState::Ended
        },
        seat_held: row.boolean("seat_held").map_err(decode)?,
        seat_source: SeatSource::from_i64(row.int("seat_source").map_err(decode)?),
        seat_acquired_at: opt_instant(row, "seat_acquired_at")?,
        started_at: instant(row, "started_at")?,
        last_activity_at: instant(row, "last_activity_at")?,
        last_heartbeat_at: instant(row, "last_heartbeat_at")?,
        idle_deadline: opt_instant(row, "idle_deadline")?,
        unresponsive_deadline: opt_instant(row, "unresponsive_deadline")?,
        ended_at: opt_instant(row, "ended_at")?,
        end_reason: EndReason::from_i64(row.int("end_reason").map_err(decode)?),
    })
}

fn denial_from_row(row: &impl DbRow) -> CsmResult<Denial> {
    let reason = row.int("reason").map_err(decode)?;
    Ok(Denial {
        id: row.uuid("id").map_err(decode)?,
        reason: DenialReason::from_i64(reason)
            .ok_or_else(|| CsmError::internal(format!("unknown denial reason {reason}")))?,
        pool_id: row.opt_uuid("pool_id").map_err(decode)?,
        seat_plan_id: row.opt_uuid("seat_plan_id").map_err(decode)?,
        session_id: row.opt_uuid("session_id").map_err(decode)?,
        login_id: row.opt_uuid("login_id").map_err(decode)?,
        profile_id: row.opt_uuid("profile_id").map_err(decode)?,
        channel: row.int("channel").map_err(decode)?,
        access: row.int("access").map_err(decode)?,
        record_type: row.text("record_type").map_err(decode)?,
        record_id: row.text("record_id").map_err(decode)?,
        occurred_at: instant(row, "occurred_at")?,
    })
}

fn grant_from_row(row: &impl DbRow) -> CsmResult<LicenseRightGrant> {
    Ok(LicenseRightGrant {
        id: row.uuid("id").map_err(decode)?,
        profile_id: row.opt_uuid("profile_id").map_err(decode)?,
        security_group_id: row.opt_uuid("security_group_id").map_err(decode)?,
        granted_at: instant(row, "granted_at")?,
    })
}

fn plan_from_row(row: &impl DbRow) -> CsmResult<SeatPlan> {
    let product = row.int("product").map_err(decode)?;
    Ok(SeatPlan {
        id: row.uuid("id").map_err(decode)?,
        product: LicensedProduct::from_i64(product)
            .ok_or_else(|| CsmError::internal(format!("unknown product {product}")))?,
        seat_limit: row.int("seat_limit").map_err(decode)?,
        seats_used: row.int("seats_used").map_err(decode)?,
        license_valid_until: opt_instant(row, "license_valid_until")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

fn agent_seat_from_row(row: &impl DbRow) -> CsmResult<AgentSeat> {
    let product = row.int("product").map_err(decode)?;
    let kind = row.int("kind").map_err(decode)?;
    Ok(AgentSeat {
        id: row.uuid("id").map_err(decode)?,
        seat_plan_id: row.uuid("seat_plan_id").map_err(decode)?,
        product: LicensedProduct::from_i64(product)
            .ok_or_else(|| CsmError::internal(format!("unknown product {product}")))?,
        profile_id: row.uuid("profile_id").map_err(decode)?,
        kind: SeatKind::from_i64(kind).ok_or_else(|| CsmError::internal(format!("unknown seat kind {kind}")))?,
        granted_at: instant(row, "granted_at")?,
    })
}

/// licensing's store.
#[derive(Clone, Debug)]
pub struct LicensingStore {
    db: Db,
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

    // ------------------------------------------------------------- pools

    /// Inserts a pool; a taken name is ALREADY_EXISTS LICENSE_POOL_NAME_TAKEN.
    pub async fn insert_pool(&self, tx: &mut Tx, pool: &LicensePool) -> CsmResult<()> {
        let settings = &pool.settings;
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO license_pools (id, name, seat_count, seats_used, license_expiration_date, time_zone, \
                 license_expires_at, idle_timeout_minutes, browser_idle_timeout_minutes, inactivity_warning_minutes, \
                 auto_release_after_minutes, portal_license_on, consuming_channels, created_at, updated_at) \
                 VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(pool.id)
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
            .bind(micros(pool.created_at))
            .bind(micros(pool.updated_at))
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(name_taken)
    }

    /// Writes the settings of an existing pool (seats_used is left alone).
    /// Returns false when the pool does not exist.
    pub async fn update_pool(&self, tx: &mut Tx, pool: &LicensePool) -> CsmResult<bool> {
        let settings = &pool.settings;
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE license_pools SET name = $2, seat_count = $3, license_expiration_date = $4, time_zone = $5, \
                 license_expires_at = $6, idle_timeout_minutes = $7, browser_idle_timeout_minutes = $8, \
                 inactivity_warning_minutes = $9, auto_release_after_minutes = $10, portal_license_on = $11, \
                 consuming_channels = $12, updated_at = $13 WHERE id = $1",
            )
            .bind(pool.id)
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
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|done| done > 0).map_err(name_taken)
    }

    pub async fn pool(&self, id: Uuid) -> CsmResult<Option<LicensePool>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query("SELECT * FROM license_pools WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(pool_from_row).transpose()
        })
    }

    pub async fn pool_in(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<LicensePool>> {
        with_tx!(tx, |tx| {
            let row = sqlx::query("SELECT * FROM license_pools WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(pool_from_row).transpose()
        })
    }

    /// Pools in name order after `after_name`.
    pub async fn list_pools(&self, after_name: Option<&str>, limit: i64) -> CsmResult<Vec<LicensePool>> {
        with_db!(&self.db, |pool| {
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

    // ------------------------------------------------------------- seats

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
        let seats_in_use: Option<i64> = with_tx!(tx, |tx| {
            sqlx::query_scalar(
                "UPDATE license_pools SET seats_used = seats_used + 1 WHERE id = $1 AND seats_used < seat_count \
                 RETURNING seats_used",
            )
            .bind(pool_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?
        });
        let Some(seats_in_use) = seats_in_use else {
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
        let seats_in_use: Option<i64> = with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM license_seats WHERE pool_id = $1 AND login_id = $2")
                .bind(pool_id)
                .bind(login_id)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            sqlx::query_scalar(
                "UPDATE license_pools SET seats_used = seats_used - 1 WHERE id = $1 AND seats_used > 0 \
                 RETURNING seats_used",
            )
            .bind(pool_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?
        });
        if let Some(seats_in_use) = seats_in_use {
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

    /// The seats in use before `before` (the last recorded change), 0 if none.
    pub async fn usage_before(&self, pool_id: Uuid, before: DateTime<Utc>) -> CsmResult<i64> {
        with_db!(&self.db, |pool| {
            let value: Option<i64> = sqlx::query_scalar(
                "SELECT seats_in_use FROM license_usage_events WHERE pool_id = $1 AND at < $2 \
                 ORDER BY at DESC, id DESC LIMIT 1",
            )
            .bind(pool_id)
            .bind(micros(before))
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            Ok(value.unwrap_or(0))
        })
    }

    /// The usage changes of a pool in [start, end), in time order.
    pub async fn usage_events(
        &self,
        pool_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> CsmResult<Vec<UsageEvent>> {
        with_db!(&self.db, |pool| {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT at, seats_in_use FROM license_usage_events WHERE pool_id = $1 AND at >= $2 AND at < $3 \
                 ORDER BY at, id",
            )
            .bind(pool_id)
            .bind(micros(start))
            .bind(micros(end))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows.into_iter().map(|(at, seats_in_use)| UsageEvent { at: from_micros(at), seats_in_use }).collect())
        })
    }

    /// Current holders of a pool by (acquired_at, login_id), after `after`.
    pub async fn seat_holders(
        &self,
        pool_id: Uuid,
        after: Option<(i64, Uuid)>,
        limit: i64,
    ) -> CsmResult<Vec<SeatHolder>> {
        with_db!(&self.db, |pool| {
            let rows = sqlx::query(
                "SELECT login_id, source, acquired_at, session_count FROM license_seats WHERE pool_id = $1 \
                 AND ($2 IS NULL OR acquired_at > $2 OR (acquired_at = $2 AND login_id > $3)) \
                 ORDER BY acquired_at, login_id LIMIT $4",
            )
            .bind(pool_id)
            .bind(after.map(|(at, _)| at))
            .bind(after.map(|(_, login)| login))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            let mut holders = Vec::with_capacity(rows.len());
            for row in &rows {
                let login_id = row.uuid("login_id").map_err(decode)?;
                let profile_ids: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT DISTINCT profile_id FROM license_sessions \
                     WHERE pool_id = $1 AND login_id = $2 AND state = 1 AND seat_held ORDER BY profile_id",
                )
                .bind(pool_id)
                .bind(login_id)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
                holders.push(SeatHolder {
                    login_id,
                    source: SeatSource::from_i64(row.int("source").map_err(decode)?).unwrap_or(SeatSource::Login),
                    acquired_at: instant(row, "acquired_at")?,
                    session_count: row.int("session_count").map_err(decode)?,
                    profile_ids,
                });
            }
            Ok(holders)
        })
    }

    /// Seats held only through customer escalations (R7.5).
    pub async fn escalated_seats(&self, pool_id: Uuid) -> CsmResult<i64> {
        with_db!(&self.db, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM license_seats st WHERE st.pool_id = $1 AND NOT EXISTS (\
                 SELECT 1 FROM license_sessions s WHERE s.pool_id = st.pool_id AND s.login_id = st.login_id \
                 AND s.state = 1 AND s.seat_held AND s.seat_source = 1)",
            )
            .bind(pool_id)
            .fetch_one(pool)
            .await
            .map_err(db_error)
        })
    }

    // ---------------------------------------------------------- sessions

    pub async fn insert_session(&self, tx: &mut Tx, session: &LicenseSession) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO license_sessions (id, pool_id, login_id, profile_id, principal_kind, channel, device_id, \
                 state, seat_held, seat_source, seat_acquired_at, started_at, last_activity_at, last_heartbeat_at, \
                 idle_deadline, unresponsive_deadline, ended_at, end_reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            )
            .bind(session.id)
            .bind(session.pool_id)
            .bind(session.login_id)
            .bind(session.profile_id)
            .bind(session.principal_kind as i64)
            .bind(session.channel as i64)
            .bind(&session.device_id)
            .bind(session.state as i64)
            .bind(session.seat_held)
            .bind(session.seat_source.map_or(0, |source| source as i64))
            .bind(session.seat_acquired_at.map(micros))
            .bind(micros(session.started_at))
            .bind(micros(session.last_activity_at))
            .bind(micros(session.last_heartbeat_at))
            .bind(session.idle_deadline.map(micros))
            .bind(session.unresponsive_deadline.map(micros))
            .bind(session.ended_at.map(micros))
            .bind(session.end_reason.map_or(0, |reason| reason as i64))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    pub async fn session(&self, id: Uuid) -> CsmResult<Option<LicenseSession>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM license_sessions WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(session_from_row).transpose()
        })
    }

    pub async fn session_in(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<LicenseSession>> {
        with_tx!(tx, |tx| {
            let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM license_sessions WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(session_from_row).transpose()
        })
    }

    /// Records activity and/or a heartbeat on an ACTIVE session that is not past
    /// its deadlines at `now`. Returns false when the session is ended or overdue.
    pub async fn touch_session(&self, tx: &mut Tx, session: &LicenseSession, now: DateTime<Utc>) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let done = sqlx::query(
                "UPDATE license_sessions SET last_activity_at = $2, last_heartbeat_at = $3, idle_deadline = $4, \
                 unresponsive_deadline = $5 WHERE id = $1 AND state = 1 \
                 AND (idle_deadline IS NULL OR idle_deadline > $6) \
                 AND (unresponsive_deadline IS NULL OR unresponsive_deadline > $6)",
            )
            .bind(session.id)
            .bind(micros(session.last_activity_at))
            .bind(micros(session.last_heartbeat_at))
            .bind(session.idle_deadline.map(micros))
            .bind(session.unresponsive_deadline.map(micros))
            .bind(micros(now))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Marks an ACTIVE session that keeps no seat as keeping one (guarded, so
    /// two escalations of one session take at most one hold). Also records the
    /// activity. Returns false when the session was ended or already holds a seat.
    pub async fn mark_seat_held(
        &self,
        tx: &mut Tx,
        session: &LicenseSession,
        source: SeatSource,
        now: DateTime<Utc>,
    ) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let done = sqlx::query(
                "UPDATE license_sessions SET seat_held = TRUE, seat_source = $2, seat_acquired_at = $3, \
                 last_activity_at = $4, idle_deadline = $5 WHERE id = $1 AND state = 1 AND NOT seat_held",
            )
            .bind(session.id)
            .bind(source as i64)
            .bind(micros(now))
            .bind(micros(session.last_activity_at))
            .bind(session.idle_deadline.map(micros))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Ends an ACTIVE session (guarded: of concurrent enders, replicas or
    /// retries, exactly one succeeds) and releases its hold on the seat.
    /// Returns (ended by this call, seat freed).
    pub async fn end_session(
        &self,
        tx: &mut Tx,
        session_id: Uuid,
        reason: EndReason,
        at: DateTime<Utc>,
    ) -> CsmResult<(bool, bool)> {
        let ended: Option<(Uuid, Uuid, bool)> = with_tx!(tx, |tx| {
            let row = sqlx::query(
                "UPDATE license_sessions SET state = 2, ended_at = $2, end_reason = $3, seat_held = FALSE \
                 WHERE id = $1 AND state = 1 RETURNING pool_id, login_id, seat_source",
            )
            .bind(session_id)
            .bind(micros(at))
            .bind(reason as i64)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
            match row {
                Some(row) => Some((
                    row.uuid("pool_id").map_err(decode)?,
                    row.uuid("login_id").map_err(decode)?,
                    row.int("seat_source").map_err(decode)? != 0,
                )),
                None => None,
            }
        });
        let Some((pool_id, login_id, held)) = ended else {
            return Ok((false, false));
        };
        let freed = if held { self.release_seat(tx, pool_id, login_id, at).await? } else { false };
        Ok((true, freed))
    }

    /// Up to `limit` ACTIVE sessions past a deadline at `now`, or keeping a
    /// seat of a pool whose key expired (optionally of one pool), with their
    /// pool and when and why they end (R7.7, R7.8), ordered by pool.
    ///
    /// On PostgreSQL the rows are claimed with `FOR UPDATE SKIP LOCKED`:
    /// concurrent expiry runs (replicas) take disjoint sessions and never wait
    /// on each other's session rows; with the pools then locked in id order,
    /// lock order is always session → pool → seat → change-feed head.
    pub async fn due_sessions(
        &self,
        tx: &mut Tx,
        pool_id: Option<Uuid>,
        now: DateTime<Utc>,
        limit: i64,
    ) -> CsmResult<Vec<DueSession>> {
        let claim = match tx {
            Tx::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Tx::Sqlite(_) => "",
        };
        let claim_sessions = match tx {
            Tx::Postgres(_) => " FOR UPDATE OF s SKIP LOCKED",
            Tx::Sqlite(_) => "",
        };
        let mut due = with_tx!(tx, |tx| {
            let overdue = sqlx::query(&format!(
                "SELECT {SESSION_COLUMNS} FROM license_sessions WHERE state = 1 \
                 AND (idle_deadline <= $1 OR unresponsive_deadline <= $1) AND ($2 IS NULL OR pool_id = $2) \
                 LIMIT $3{claim}"
            ))
            .bind(micros(now))
            .bind(pool_id)
            .bind(limit)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
            let mut due = Vec::new();
            for row in &overdue {
                let session = session_from_row(row)?;
                if let Some((at, reason)) = session.overdue(now) {
                    due.push(DueSession { session_id: session.id, pool_id: session.pool_id, at, reason });
                }
            }
            let expired: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(&format!(
                "SELECT s.id, s.pool_id, p.license_expires_at FROM license_sessions s \
                 JOIN license_pools p ON p.id = s.pool_id \
                 WHERE s.state = 1 AND s.seat_held AND p.license_expires_at <= $1 \
                 AND ($2 IS NULL OR s.pool_id = $2) LIMIT $3{claim_sessions}"
            ))
            .bind(micros(now))
            .bind(pool_id)
            .bind(limit)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
            for (id, pool_id, expires_at) in expired {
                if !due.iter().any(|due| due.session_id == id) {
                    due.push(DueSession {
                        session_id: id,
                        pool_id,
                        at: from_micros(expires_at),
                        reason: EndReason::LicenseKeyExpired,
                    });
                }
            }
            due
        });
        due.sort_by_key(|due| (due.pool_id, due.session_id));
        Ok(due)
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

    /// Sessions newest first, after `after` (an id).
    pub async fn list_sessions(
        &self,
        filter: &SessionFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<Vec<LicenseSession>> {
        with_db!(&self.db, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {SESSION_COLUMNS} FROM license_sessions WHERE ($1 IS NULL OR pool_id = $1) \
                 AND ($2 IS NULL OR login_id = $2) AND ($3 IS NULL OR profile_id = $3) \
                 AND ($4 IS NULL OR state = $4) AND ($5 IS NULL OR channel = $5) AND ($6 IS NULL OR id < $6) \
                 ORDER BY id DESC LIMIT $7"
            ))
            .bind(filter.pool_id)
            .bind(filter.login_id)
            .bind(filter.profile_id)
            .bind(filter.state.map(|state| state as i64))
            .bind(filter.channel.map(|channel| channel as i64))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(session_from_row).collect()
        })
    }

    // ----------------------------------------------------------- denials

    /// Records a refusal in its own transaction (the refused write rolled back).
    pub async fn insert_denial(&self, denial: &Denial) -> CsmResult<()> {
        with_db!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO license_denials (id, reason, pool_id, seat_plan_id, session_id, login_id, profile_id, \
                 channel, access, record_type, record_id, occurred_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(denial.id)
            .bind(denial.reason as i64)
            .bind(denial.pool_id)
            .bind(denial.seat_plan_id)
            .bind(denial.session_id)
            .bind(denial.login_id)
            .bind(denial.profile_id)
            .bind(denial.channel)
            .bind(denial.access)
            .bind(&denial.record_type)
            .bind(&denial.record_id)
            .bind(micros(denial.occurred_at))
            .execute(pool)
            .await
            .map_err(db_error)?;
            Ok(())
        })
    }

    /// Denials newest first after `after` (an id).
    pub async fn list_denials(&self, filter: &DenialFilter, after: Option<Uuid>, limit: i64) -> CsmResult<Vec<Denial>> {
        with_db!(&self.db, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM license_denials WHERE ($1 IS NULL OR pool_id = $1) AND ($2 IS NULL OR seat_plan_id = $2) \
                 AND ($3 IS NULL OR reason = $3) AND ($4 IS NULL OR login_id = $4) \
                 AND ($5 IS NULL OR occurred_at >= $5) AND ($6 IS NULL OR occurred_at < $6) \
                 AND ($7 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8",
            )
            .bind(filter.pool_id)
            .bind(filter.seat_plan_id)
            .bind(filter.reason.map(|reason| reason as i64))
            .bind(filter.login_id)
            .bind(filter.start.map(micros))
            .bind(filter.end.map(micros))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(denial_from_row).collect()
        })
    }

    /// Denial counts by reason.
    pub async fn count_denials(&self, filter: &DenialFilter) -> CsmResult<Vec<(DenialReason, i64)>> {
        with_db!(&self.db, |pool| {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT reason, COUNT(*) FROM license_denials WHERE ($1 IS NULL OR pool_id = $1) \
                 AND ($2 IS NULL OR seat_plan_id = $2) AND ($3 IS NULL OR occurred_at >= $3) \
                 AND ($4 IS NULL OR occurred_at < $4) GROUP BY reason ORDER BY reason",
            )
            .bind(filter.pool_id)
            .bind(filter.seat_plan_id)
            .bind(filter.start.map(micros))
            .bind(filter.end.map(micros))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows
                .into_iter()
                .filter_map(|(reason, count)| DenialReason::from_i64(reason).map(|reason| (reason, count)))
                .collect())
        })
    }

    /// Denial instants of a pool in [start, end).
    pub async fn denial_times(
        &self,
        pool_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> CsmResult<Vec<DateTime<Utc>>> {
        with_db!(&self.db, |pool| {
            let rows: Vec<i64> = sqlx::query_scalar(
                "SELECT occurred_at FROM license_denials WHERE pool_id = $1 AND occurred_at >= $2 AND occurred_at < $3",
            )
            .bind(pool_id)
            .bind(micros(start))
            .bind(micros(end))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows.into_iter().map(from_micros).collect())
        })
    }

    // ------------------------------------------------------ licence rights

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

    pub async fn grant(&self, id: Uuid) -> CsmResult<Option<LicenseRightGrant>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query("SELECT * FROM license_right_grants WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
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
        with_db!(&self.db, |pool| {
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
        with_db!(&self.db, |pool| {
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

    // --------------------------------------------------------- seat plans

    /// Inserts a plan; a product with a plan is ALREADY_EXISTS SEAT_PLAN_EXISTS.
    pub async fn insert_plan(&self, tx: &mut Tx, plan: &SeatPlan) -> CsmResult<()> {
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO seat_plans (id, product, seat_limit, seats_used, license_valid_until, created_at, updated_at) \
                 VALUES ($1, $2, $3, 0, $4, $5, $6)",
            )
            .bind(plan.id)
            .bind(plan.product as i64)
            .bind(plan.seat_limit)
            .bind(plan.license_valid_until.map(micros))
            .bind(micros(plan.created_at))
            .bind(micros(plan.updated_at))
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(|error| unique_as(error, "SEAT_PLAN_EXISTS", "the product already has a seat plan"))
    }

    /// Writes seat_limit and license_valid_until; false when the plan does not exist.
    pub async fn update_plan(&self, tx: &mut Tx, plan: &SeatPlan) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let done = sqlx::query(
                "UPDATE seat_plans SET seat_limit = $2, license_valid_until = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(plan.id)
            .bind(plan.seat_limit)
            .bind(plan.license_valid_until.map(micros))
            .bind(micros(plan.updated_at))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(done.rows_affected() > 0)
        })
    }

    pub async fn plan(&self, id: Uuid) -> CsmResult<Option<SeatPlan>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query("SELECT * FROM seat_plans WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(plan_from_row).transpose()
        })
    }

    pub async fn plan_in(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<SeatPlan>> {
        with_tx!(tx, |tx| {
            let row = sqlx::query("SELECT * FROM seat_plans WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(plan_from_row).transpose()
        })
    }

    pub async fn plan_for_product(&self, product: LicensedProduct) -> CsmResult<Option<SeatPlan>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query("SELECT * FROM seat_plans WHERE product = $1")
                .bind(product as i64)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(plan_from_row).transpose()
        })
    }

    pub async fn list_plans(&self, after_product: Option<i64>, limit: i64) -> CsmResult<Vec<SeatPlan>> {
        with_db!(&self.db, |pool| {
            let rows =
                sqlx::query("SELECT * FROM seat_plans WHERE ($1 IS NULL OR product > $1) ORDER BY product LIMIT $2")
                    .bind(after_product)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .map_err(db_error)?;
            rows.iter().map(plan_from_row).collect()
        })
    }

    /// Takes one seat of the plan if it is below its limit (guarded update,
    /// R7.11). False when the plan is full (or missing).
    pub async fn take_plan_seat(&self, tx: &mut Tx, plan_id: Uuid) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let done = sqlx::query(
                "UPDATE seat_plans SET seats_used = seats_used + 1 WHERE id = $1 AND seats_used < seat_limit",
            )
            .bind(plan_id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Inserts a named seat; a profile that has one in the plan is
    /// ALREADY_EXISTS AGENT_SEAT_EXISTS.
    pub async fn insert_agent_seat(&self, tx: &mut Tx, seat: &AgentSeat) -> CsmResult<()> {
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO agent_seats (id, seat_plan_id, profile_id, kind, granted_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(seat.id)
            .bind(seat.seat_plan_id)
            .bind(seat.profile_id)
            .bind(seat.kind as i64)
            .bind(micros(seat.granted_at))
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(|error| on_unique_violation(error, agent_seat_exists))
    }

    /// The profile's seat in a plan, if any (inside `tx`).
    pub async fn agent_seat_of(&self, tx: &mut Tx, plan_id: Uuid, profile_id: Uuid) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM agent_seats WHERE seat_plan_id = $1 AND profile_id = $2")
                    .bind(plan_id)
                    .bind(profile_id)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db_error)?;
            Ok(count > 0)
        })
    }

    /// Deletes a named seat and frees it in its plan; None when it does not exist.
    pub async fn delete_agent_seat(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<Uuid>> {
        with_tx!(tx, |tx| {
            let plan_id: Option<Uuid> =
                sqlx::query_scalar("DELETE FROM agent_seats WHERE id = $1 RETURNING seat_plan_id")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
            if let Some(plan_id) = plan_id {
                sqlx::query("UPDATE seat_plans SET seats_used = seats_used - 1 WHERE id = $1 AND seats_used > 0")
                    .bind(plan_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            Ok(plan_id)
        })
    }

    pub async fn agent_seat(&self, id: Uuid) -> CsmResult<Option<AgentSeat>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query(
                "SELECT a.*, p.product FROM agent_seats a JOIN seat_plans p ON p.id = a.seat_plan_id WHERE a.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            row.as_ref().map(agent_seat_from_row).transpose()
        })
    }

    /// The profile's seat in the plan of `plan_id`.
    pub async fn agent_seat_for(&self, plan_id: Uuid, profile_id: Uuid) -> CsmResult<Option<AgentSeat>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query(
                "SELECT a.*, p.product FROM agent_seats a JOIN seat_plans p ON p.id = a.seat_plan_id \
                 WHERE a.seat_plan_id = $1 AND a.profile_id = $2",
            )
            .bind(plan_id)
            .bind(profile_id)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            row.as_ref().map(agent_seat_from_row).transpose()
        })
    }

    /// Named seats, oldest grant first (id order), after `after`.
    pub async fn list_agent_seats(
        &self,
        plan_id: Option<Uuid>,
        profile_id: Option<Uuid>,
        kind: Option<SeatKind>,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<Vec<AgentSeat>> {
        with_db!(&self.db, |pool| {
            let rows = sqlx::query(
                "SELECT a.*, p.product FROM agent_seats a JOIN seat_plans p ON p.id = a.seat_plan_id \
                 WHERE ($1 IS NULL OR a.seat_plan_id = $1) AND ($2 IS NULL OR a.profile_id = $2) \
                 AND ($3 IS NULL OR a.kind = $3) AND ($4 IS NULL OR a.id > $4) ORDER BY a.id LIMIT $5",
            )
            .bind(plan_id)
            .bind(profile_id)
            .bind(kind.map(|kind| kind as i64))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(agent_seat_from_row).collect()
        })
    }
}

pub fn agent_seat_exists() -> CsmError {
    CsmError::already_exists("AGENT_SEAT_EXISTS", "the profile already has a seat in this plan")
}

fn name_taken(error: sqlx::Error) -> CsmError {
    unique_as(error, "LICENSE_POOL_NAME_TAKEN", "a pool with this name already exists")
}
