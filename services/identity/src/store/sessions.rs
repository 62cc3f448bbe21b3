//! SQL of identity's sessions: the sessions themselves, their refresh-token
//! hashes and idle clocks, and the failed password attempts the guessing
//! limits count.

use chrono::{DateTime, Utc};
use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{LoginId, ProfileId, SessionId};

use super::IdentityStore;
use crate::domain::people::{Channel, ProfileKind};
use crate::domain::sessions::{EndReason, Failures, Session, SessionState};

const SESSION_SELECT: &str = "SELECT s.id, s.login_id, s.channel, s.active_profile_id, p.kind AS active_profile_kind, \
     s.presentation_role, s.state, s.started_at, s.profile_switched_at, s.ended_at, s.last_active_at, s.end_reason \
     FROM sessions s JOIN profiles p ON p.id = s.active_profile_id";

/// Idle sessions ended per reaper transaction.
pub const IDLE_BATCH: i64 = 500;

impl IdentityStore {
    /// Inserts a new session with the hash of its refresh token.
    pub async fn insert_session(&self, tx: &mut Tx, session: &Session, refresh_token_hash: &str) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO sessions (id, login_id, channel, active_profile_id, presentation_role, state, started_at, \
                 last_active_at, refresh_token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(session.id.as_uuid())
            .bind(session.login.as_uuid())
            .bind(session.channel.as_str())
            .bind(session.active_profile.as_uuid())
            .bind(&session.presentation_role)
            .bind(session.state.as_str())
            .bind(session.started_at)
            .bind(session.last_active_at)
            .bind(refresh_token_hash)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    /// Takes the session's row lock (no-op UPDATE). False when there is no such session.
    pub async fn lock_session(&self, tx: &mut Tx, id: SessionId) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let locked = sqlx::query("UPDATE sessions SET state = state WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            Ok(locked.rows_affected() > 0)
        })
    }

    pub async fn get_session(&self, id: SessionId) -> CsmResult<Option<Session>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&format!("{SESSION_SELECT} WHERE s.id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(session_from_row).transpose()
        })
    }

    pub async fn session_in(&self, tx: &mut Tx, id: SessionId) -> CsmResult<Option<Session>> {
        with_tx!(tx, |tx| {
            let row = sqlx::query(&format!("{SESSION_SELECT} WHERE s.id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(session_from_row).transpose()
        })
    }

    /// The stored hash of a session's refresh token (`None`: no such session or no token).
    pub async fn refresh_token_hash_in(&self, tx: &mut Tx, id: SessionId) -> CsmResult<Option<String>> {
        with_tx!(tx, |tx| {
            let hash: Option<Option<String>> =
                sqlx::query_scalar("SELECT refresh_token_hash FROM sessions WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
            Ok(hash.flatten())
        })
    }

    /// Writes a session's channel, active profile, presentation role, state and idle clock.
    pub async fn save_session(&self, tx: &mut Tx, session: &Session) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE sessions SET channel = $2, active_profile_id = $3, presentation_role = $4, state = $5, \
                 profile_switched_at = $6, ended_at = $7, last_active_at = $8, end_reason = $9 WHERE id = $1",
            )
            .bind(session.id.as_uuid())
            .bind(session.channel.as_str())
            .bind(session.active_profile.as_uuid())
            .bind(&session.presentation_role)
            .bind(session.state.as_str())
            .bind(session.profile_switched_at)
            .bind(session.ended_at)
            .bind(session.last_active_at)
            .bind(session.end_reason.map(EndReason::as_str))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    /// Ends every active session of `login` (login disabled) and appends a
    /// change per ended session; returns the last revision, if any.
    pub async fn end_sessions_of_login(
        &self,
        tx: &mut Tx,
        login: LoginId,
        now: DateTime<Utc>,
    ) -> CsmResult<Option<u64>> {
        self.end_sessions_where(tx, "login_id", *login.as_uuid(), EndReason::LoginDisabled, now).await
    }

    /// Ends every active session whose active profile is `profile` (profile
    /// deactivated or detached from its login); returns the last revision, if any.
    pub async fn end_sessions_of_profile(
        &self,
        tx: &mut Tx,
        profile: ProfileId,
        now: DateTime<Utc>,
    ) -> CsmResult<Option<u64>> {
        self.end_sessions_where(tx, "active_profile_id", *profile.as_uuid(), EndReason::ProfileInactive, now).await
    }

    async fn end_sessions_where(
        &self,
        tx: &mut Tx,
        column: &'static str,
        id: uuid::Uuid,
        reason: EndReason,
        now: DateTime<Utc>,
    ) -> CsmResult<Option<u64>> {
        let ended = with_tx!(tx, |tx| {
            let rows = sqlx::query(&format!(
                "UPDATE sessions SET state = 'ended', ended_at = $2, end_reason = $3 \
                 WHERE {column} = $1 AND state = 'active' RETURNING id, login_id, active_profile_id"
            ))
            .bind(id)
            .bind(now)
            .bind(reason.as_str())
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
            rows.iter().map(ended_session_from_row).collect::<CsmResult<Vec<_>>>()?
        });
        append_ended_sessions(tx, &ended, reason).await
    }

    /// Ends up to [`IDLE_BATCH`] active sessions idle since before `cutoff`,
    /// with a change each; returns how many ended and the last revision.
    pub async fn end_idle_sessions(
        &self,
        tx: &mut Tx,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CsmResult<(usize, Option<u64>)> {
        let ended = with_tx!(tx, |tx| {
            let rows = sqlx::query(
                "UPDATE sessions SET state = 'ended', ended_at = $2, end_reason = $3 WHERE id IN \
                 (SELECT id FROM sessions WHERE state = 'active' AND last_active_at < $1 ORDER BY last_active_at LIMIT $4) \
                 AND state = 'active' RETURNING id, login_id, active_profile_id",
            )
            .bind(cutoff)
            .bind(now)
            .bind(EndReason::IdleTimeout.as_str())
            .bind(IDLE_BATCH)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
            rows.iter().map(ended_session_from_row).collect::<CsmResult<Vec<_>>>()?
        });
        let revision = append_ended_sessions(tx, &ended, EndReason::IdleTimeout).await?;
        Ok((ended.len(), revision))
    }

    /// Appends a "session" change; `previous_profile` when the active profile changed.
    pub async fn append_session_change(
        &self,
        tx: &mut Tx,
        session: &Session,
        operation: Operation,
        previous_profile: Option<ProfileId>,
    ) -> CsmResult<u64> {
        let mut change = session_change(session.id, session.login, session.active_profile, operation);
        if let Some(previous) = previous_profile.filter(|previous| *previous != session.active_profile) {
            change = change.attribute("previous_profile_id", previous);
        }
        if let Some(reason) = session.end_reason {
            change = change.attribute("end_reason", reason.as_str());
        }
        csm_changefeed::append(tx, &change).await
    }

    // ------------------------------------------------------ failed attempts

    /// Records one failed password attempt.
    pub async fn record_login_failure(&self, login_name_key: &str, address: &str, now: DateTime<Utc>) -> CsmResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query(
                "INSERT INTO login_failures (id, login_name_key, client_address, failed_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind(login_name_key)
            .bind(address)
            .bind(now)
            .execute(pool)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    /// The failures of a login name and of a client address since `since`.
    pub async fn login_failures_since(
        &self,
        login_name_key: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> CsmResult<(Failures, Failures)> {
        with_db!(self.db(), |pool| {
            let mut counted = [Failures::default(); 2];
            for (index, (column, value)) in
                [("login_name_key", login_name_key), ("client_address", address)].iter().enumerate()
            {
                let row = sqlx::query(&format!(
                    "SELECT COUNT(*) AS failures, MIN(failed_at) AS oldest FROM login_failures \
                     WHERE {column} = $1 AND failed_at >= $2"
                ))
                .bind(*value)
                .bind(since)
                .fetch_one(pool)
                .await
                .map_err(db_error)?;
                counted[index] = Failures {
                    count: u32::try_from(row.int("failures").map_err(db_error)?).unwrap_or(u32::MAX),
                    oldest: row.opt_timestamp("oldest").map_err(db_error)?,
                };
            }
            Ok((counted[0], counted[1]))
        })
    }

    /// Forgets a login's failures (after a successful login) and every failure older than `before`.
    pub async fn clear_login_failures(&self, login_name_key: &str, before: DateTime<Utc>) -> CsmResult<()> {
        with_db!(self.db(), |pool| {
            sqlx::query("DELETE FROM login_failures WHERE login_name_key = $1 OR failed_at < $2")
                .bind(login_name_key)
                .bind(before)
                .execute(pool)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }
}

fn session_change(session: SessionId, login: LoginId, profile: ProfileId, operation: Operation) -> NewChange {
    NewChange::new("session", session, operation)
        .attribute("session_id", session)
        .attribute("login_id", login)
        .attribute("profile_id", profile)
}

async fn append_ended_sessions(
    tx: &mut Tx,
    ended: &[(SessionId, LoginId, ProfileId)],
    reason: EndReason,
) -> CsmResult<Option<u64>> {
    let mut last = None;
    for (session, login, profile) in ended {
        let change =
            session_change(*session, *login, *profile, Operation::Updated).attribute("end_reason", reason.as_str());
        last = Some(csm_changefeed::append(tx, &change).await?);
    }
    Ok(last)
}

fn session_from_row(row: &impl DbRow) -> CsmResult<Session> {
    let channel = row.text("channel").map_err(db_error)?;
    let kind = row.text("active_profile_kind").map_err(db_error)?;
    let state = row.text("state").map_err(db_error)?;
    let started_at = row.timestamp("started_at").map_err(db_error)?;
    Ok(Session {
        id: SessionId::from_uuid(row.uuid("id").map_err(db_error)?),
        login: LoginId::from_uuid(row.uuid("login_id").map_err(db_error)?),
        channel: Channel::parse(&channel).ok_or_else(|| CsmError::internal(format!("unknown channel {channel:?}")))?,
        active_profile: ProfileId::from_uuid(row.uuid("active_profile_id").map_err(db_error)?),
        active_profile_kind: ProfileKind::parse(&kind)
            .ok_or_else(|| CsmError::internal(format!("unknown profile kind {kind:?}")))?,
        presentation_role: row.text("presentation_role").map_err(db_error)?,
        state: SessionState::parse(&state)
            .ok_or_else(|| CsmError::internal(format!("unknown session state {state:?}")))?,
        started_at,
        profile_switched_at: row.opt_timestamp("profile_switched_at").map_err(db_error)?,
        ended_at: row.opt_timestamp("ended_at").map_err(db_error)?,
        last_active_at: row.opt_timestamp("last_active_at").map_err(db_error)?.unwrap_or(started_at),
        end_reason: row.opt_text("end_reason").map_err(db_error)?.as_deref().and_then(EndReason::parse),
    })
}

fn ended_session_from_row(row: &impl DbRow) -> CsmResult<(SessionId, LoginId, ProfileId)> {
    Ok((
        SessionId::from_uuid(row.uuid("id").map_err(db_error)?),
        LoginId::from_uuid(row.uuid("login_id").map_err(db_error)?),
        ProfileId::from_uuid(row.uuid("active_profile_id").map_err(db_error)?),
    ))
}
