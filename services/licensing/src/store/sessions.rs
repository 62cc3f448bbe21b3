//! SQL of licence sessions (R7.1–R7.8): a session row per client, ended by
//! guarded updates so that of concurrent enders (replicas, retries) exactly
//! one succeeds, and the expiry step's claim of sessions past their deadlines.

use chrono::{DateTime, Utc};
use csm_db::{DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use super::{LicensingStore, decode, instant, opt_instant};
use crate::domain::pools::ClientChannel;
use crate::domain::sessions::{
    DueSession, EndReason, LicenseSession, PrincipalKind, SeatSource, SessionFilter, SessionState,
};
use crate::domain::{from_micros, micros};

const SESSION_COLUMNS: &str = "id, pool_id, login_id, profile_id, principal_kind, channel, device_id, state, \
     seat_held, seat_source, seat_acquired_at, started_at, last_activity_at, last_heartbeat_at, idle_deadline, \
     unresponsive_deadline, ended_at, end_reason";

fn session_from_row(row: &(impl DbRow + ?Sized)) -> CsmResult<LicenseSession> {
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

impl LicensingStore {
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
        with_db!(self.db(), |pool| {
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
    /// lock order is always session → pool → seat (the change feed takes no
    /// row lock: a shared advisory lock that no writer waits for).
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

    /// Sessions newest first, after `after` (an id).
    pub async fn list_sessions(
        &self,
        filter: &SessionFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<Vec<LicenseSession>> {
        with_db!(self.db(), |pool| {
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
}
