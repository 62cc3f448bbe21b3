//! Use cases of licence sessions (R7.1–R7.8, X4): Login takes or joins the
//! person's seat, Heartbeat keeps the session alive, Logout and the expiry
//! step (idle timeout, unresponsive client, expired key) end it and free the
//! seat, EscalateSession takes a seat for a customer touching others' records.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{ChangeFeed, NewChange, Operation};
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult, ErrorCode};
use uuid::Uuid;

use super::{LicensingApp, Person, parse_id_token};
use crate::domain::pools::{self, ClientChannel, LicensePool, heartbeat_interval};
use crate::domain::sessions::{
    DueSession, EndReason, LicenseSession, PrincipalKind, RecordAccess, SeatOutcome, SeatSource, SessionFilter,
    SessionState, escalation_needs_seat,
};
use crate::domain::usage::{Denial, DenialReason};
use crate::store::LicensingStore;

/// Sessions ended per expiry transaction.
const EXPIRY_BATCH: i64 = 200;

pub struct LoginOutcome {
    pub session: LicenseSession,
    pub seat_newly_acquired: bool,
    pub heartbeat_interval: StdDuration,
    pub consistency_token: String,
}

pub struct HeartbeatOutcome {
    pub session: LicenseSession,
    pub idle_warning: bool,
    pub consistency_token: String,
}

pub struct LogoutOutcome {
    pub session: LicenseSession,
    pub seat_released: bool,
    pub consistency_token: String,
}

pub struct EscalateOutcome {
    pub session: LicenseSession,
    pub seat_needed: bool,
    pub seat_newly_acquired: bool,
    pub consistency_token: String,
}

fn session_ended(session: &LicenseSession) -> CsmError {
    CsmError::failed_precondition("LICENSE_SESSION_ENDED", format!("license session {} has ended", session.id))
        .with_metadata("end_reason", session.end_reason.map(EndReason::as_str).unwrap_or("UNSPECIFIED"))
}

fn pool_exhausted(pool: &LicensePool) -> CsmError {
    CsmError::resource_exhausted(
        "LICENSE_POOL_EXHAUSTED",
        format!("all {} seats of pool {:?} are held", pool.settings.seat_count, pool.settings.name),
    )
    .with_metadata("pool_id", pool.id.to_string())
}

fn key_expired(pool: &LicensePool) -> CsmError {
    CsmError::failed_precondition(
        "LICENSE_KEY_EXPIRED",
        format!("the licence key of pool {:?} has expired", pool.settings.name),
    )
    .with_metadata("pool_id", pool.id.to_string())
}

fn session_change(session_id: Uuid, operation: Operation, pool_id: Uuid, login_id: Uuid) -> NewChange {
    NewChange::new("license_session", session_id, operation)
        .attribute("pool_id", pool_id)
        .attribute("login_id", login_id)
}

impl LicensingApp {
    /// Login (R7.1-R7.4, R7.8).
    pub async fn login(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        pool_id: Uuid,
        profile_id: Uuid,
        channel: ClientChannel,
        device_id: String,
    ) -> CsmResult<LoginOutcome> {
        let pool = self.get_pool(pool_id).await?;
        let person = self.person(profile_id).await?;
        let login_id = person.login_id.ok_or_else(|| {
            CsmError::failed_precondition("PROFILE_WITHOUT_LOGIN", "the profile has no login and cannot log in")
        })?;
        self.require_self_or_admin(caller, Some(login_id), Some(profile_id), "Login").await?;
        if person.kind == PrincipalKind::Customer && channel != ClientChannel::Portal {
            return Err(CsmError::failed_precondition(
                "CUSTOMER_CHANNEL_NOT_ALLOWED",
                "customers use the portal only (R1.7)",
            ));
        }
        let key = RequestKey::new(
            "Login",
            caller.request_scope(),
            request_id.as_deref(),
            &(pool_id, profile_id, channel, &device_id),
        );
        if let Some(outcome) = self.stored_login(&key, &pool).await? {
            return Ok(outcome);
        }
        self.open_session(&pool, &person, login_id, channel, device_id.clone(), &key).await
    }

    /// The database part of Login, after lookups and authorization: takes or
    /// joins the seat when needed and writes the session (R7.1-R7.3, R7.8).
    pub async fn open_session(
        &self,
        pool: &LicensePool,
        person: &Person,
        login_id: Uuid,
        channel: ClientChannel,
        device_id: String,
        key: &RequestKey<'_>,
    ) -> CsmResult<LoginOutcome> {
        let pool_id = pool.id;
        let profile_id = person.profile_id;
        let now = csm_db::now();
        let seat_needed = person.kind == PrincipalKind::User && pool.settings.consuming_channels.contains(&channel);
        let denial = |reason| Denial {
            id: Uuid::now_v7(),
            reason,
            pool_id: Some(pool.id),
            seat_plan_id: None,
            session_id: None,
            login_id: Some(login_id),
            profile_id: Some(profile_id),
            channel: channel as i64,
            access: 0,
            record_type: String::new(),
            record_id: String::new(),
            occurred_at: now,
        };
        if seat_needed && pool.key_expired(now) {
            return Err(self.deny(denial(DenialReason::LicenseKeyExpired), key_expired(pool)).await);
        }
        let (idle_deadline, unresponsive_deadline) = pools::deadlines(&pool.settings, channel, now, now);
        let mut session = LicenseSession {
            id: Uuid::now_v7(),
            pool_id,
            login_id,
            profile_id,
            principal_kind: person.kind,
            channel,
            device_id,
            state: SessionState::Active,
            seat_held: seat_needed,
            seat_source: seat_needed.then_some(SeatSource::Login),
            seat_acquired_at: seat_needed.then_some(now),
            started_at: now,
            last_activity_at: now,
            last_heartbeat_at: now,
            idle_deadline,
            unresponsive_deadline,
            ended_at: None,
            end_reason: None,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut tx = self.store.begin().await?;
            // The session row first: on SQLite this write takes the lock up front.
            self.store.insert_session(&mut tx, &session).await?;
            let outcome = if seat_needed {
                self.take_seat(&mut tx, pool, login_id, SeatSource::Login, now).await
            } else {
                Ok(SeatOutcome::Joined)
            };
            let outcome = match outcome {
                Err(error) if error.code() == ErrorCode::Aborted && attempts < 5 => {
                    drop(tx);
                    session.id = Uuid::now_v7();
                    continue;
                }
                other => other?,
            };
            if outcome == SeatOutcome::Exhausted {
                drop(tx);
                return Err(self.deny(denial(DenialReason::LicensePoolExhausted), pool_exhausted(pool)).await);
            }
            let newly = seat_needed && outcome == SeatOutcome::Acquired;
            let change = session_change(session.id, Operation::Created, pool_id, login_id);
            let revision = csm_changefeed::append(&mut tx, &change).await?;
            if !key.record(&mut tx, session.id, revision, if newly { "1" } else { "0" }).await? {
                drop(tx);
                return self
                    .stored_login(key, pool)
                    .await?
                    .ok_or_else(|| CsmError::internal("idempotency record vanished"));
            }
            tx.commit().await?;
            self.feed.committed(revision);
            return Ok(LoginOutcome {
                session,
                seat_newly_acquired: newly,
                heartbeat_interval: heartbeat_interval(&pool.settings),
                consistency_token: self.feed.token(revision),
            });
        }
    }

    async fn stored_login(&self, key: &RequestKey<'_>, pool: &LicensePool) -> CsmResult<Option<LoginOutcome>> {
        let Some(replay) = key.replayed(self.store.db()).await? else { return Ok(None) };
        let id = replay.id()?;
        let session = self.store.session(id).await?.ok_or_else(|| CsmError::not_found("license session", id))?;
        Ok(Some(LoginOutcome {
            session: session.as_of(csm_db::now()),
            seat_newly_acquired: replay.extra == "1",
            heartbeat_interval: heartbeat_interval(&pool.settings),
            consistency_token: self.feed.token(replay.revision),
        }))
    }

    /// Takes or joins the person's seat; when the pool is full, first ends the
    /// pool's sessions already past their deadlines and tries once more.
    async fn take_seat(
        &self,
        tx: &mut Tx,
        pool: &LicensePool,
        login_id: Uuid,
        source: SeatSource,
        now: DateTime<Utc>,
    ) -> CsmResult<SeatOutcome> {
        let outcome = self.store.acquire_seat(tx, pool.id, login_id, source, now).await?;
        if outcome != SeatOutcome::Exhausted {
            return Ok(outcome);
        }
        if self.end_due_sessions(tx, Some(pool.id), now).await?.0 == 0 {
            return Ok(outcome);
        }
        self.store.acquire_seat(tx, pool.id, login_id, source, now).await
    }

    /// Ends (in `tx`) up to one batch of sessions past their deadlines at `now`.
    pub(super) async fn end_due_sessions(
        &self,
        tx: &mut Tx,
        pool_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> CsmResult<(usize, Option<u64>)> {
        end_due_sessions(&self.store, tx, pool_id, now).await
    }

    /// The expiry task's step (R7.7, R7.8): ends every session past a deadline
    /// at `now` and frees their seats. State lives only in the database and
    /// every end is a guarded update, so replicas may run it concurrently and a
    /// restarted service simply continues. Returns the sessions ended.
    pub async fn release_expired(&self, now: DateTime<Utc>) -> CsmResult<usize> {
        release_expired(&self.store, &self.feed, now).await
    }

    async fn session_for(&self, caller: &Caller, session_id: Uuid, action: &str) -> CsmResult<LicenseSession> {
        let session =
            self.store.session(session_id).await?.ok_or_else(|| CsmError::not_found("license session", session_id))?;
        self.require_self_or_admin(caller, Some(session.login_id), Some(session.profile_id), action).await?;
        Ok(session)
    }

    /// Ends a session found overdue at `now` and returns it as ended.
    async fn end_overdue(
        &self,
        session: &LicenseSession,
        at: DateTime<Utc>,
        reason: EndReason,
    ) -> CsmResult<LicenseSession> {
        let mut tx = self.store.begin().await?;
        let (ended, _) = self.store.end_session(&mut tx, session.id, reason, at).await?;
        if ended {
            let change = session_change(session.id, Operation::Updated, session.pool_id, session.login_id)
                .attribute("end_reason", reason.as_str());
            self.commit(tx, &change).await?;
        } else {
            drop(tx);
        }
        self.store.session(session.id).await?.ok_or_else(|| CsmError::not_found("license session", session.id))
    }

    /// Ends the session if it is past a deadline or its pool's key expired while
    /// it keeps a seat; Err(LICENSE_SESSION_ENDED) when it is (or was) ended.
    async fn ensure_active(
        &self,
        session: LicenseSession,
        pool: &LicensePool,
        now: DateTime<Utc>,
    ) -> CsmResult<LicenseSession> {
        if session.state == SessionState::Ended {
            return Err(session_ended(&session));
        }
        let due = session.overdue(now).or_else(|| {
            (session.seat_held && pool.key_expired(now))
                .then(|| (pool.license_expires_at.unwrap_or(now), EndReason::LicenseKeyExpired))
        });
        if let Some((at, reason)) = due {
            let ended = self.end_overdue(&session, at, reason).await?;
            return Err(session_ended(&ended));
        }
        Ok(session)
    }

    pub async fn heartbeat(&self, caller: &Caller, session_id: Uuid, user_active: bool) -> CsmResult<HeartbeatOutcome> {
        let session = self.session_for(caller, session_id, "Heartbeat").await?;
        let pool = self.get_pool(session.pool_id).await?;
        let now = csm_db::now();
        let mut session = self.ensure_active(session, &pool, now).await?;
        session.last_heartbeat_at = now;
        if user_active {
            session.last_activity_at = now;
        }
        let (idle_deadline, unresponsive_deadline) =
            pools::deadlines(&pool.settings, session.channel, session.last_activity_at, now);
        session.idle_deadline = idle_deadline;
        session.unresponsive_deadline = unresponsive_deadline;
        let mut tx = self.store.begin().await?;
        if !self.store.touch_session(&mut tx, &session, now).await? {
            drop(tx);
            let current = self
                .store
                .session(session_id)
                .await?
                .ok_or_else(|| CsmError::not_found("license session", session_id))?;
            let current = self.ensure_active(current, &pool, now).await?;
            return Err(session_ended(&current));
        }
        let change = session_change(session.id, Operation::Updated, session.pool_id, session.login_id);
        let revision = self.commit(tx, &change).await?;
        Ok(HeartbeatOutcome {
            idle_warning: pools::idle_warning(&pool.settings, session.idle_deadline, now),
            session,
            consistency_token: self.feed.token(revision),
        })
    }

    pub async fn logout(&self, caller: &Caller, session_id: Uuid) -> CsmResult<LogoutOutcome> {
        let session = self.session_for(caller, session_id, "Logout").await?;
        self.close_session(session).await
    }

    /// The database part of Logout, after authorization (R7.2, R7.7).
    pub async fn close_session(&self, session: LicenseSession) -> CsmResult<LogoutOutcome> {
        let session_id = session.id;
        let now = csm_db::now();
        if session.state == SessionState::Ended {
            return Ok(LogoutOutcome { session, seat_released: false, consistency_token: self.head_token().await? });
        }
        // A session already past a deadline ended then, not now.
        let (at, reason) = session.overdue(now).unwrap_or((now, EndReason::Logout));
        let mut tx = self.store.begin().await?;
        let (ended, freed) = self.store.end_session(&mut tx, session_id, reason, at).await?;
        let token = if ended {
            let change = session_change(session_id, Operation::Updated, session.pool_id, session.login_id)
                .attribute("end_reason", reason.as_str());
            self.feed.token(self.commit(tx, &change).await?)
        } else {
            drop(tx);
            self.head_token().await?
        };
        let session =
            self.store.session(session_id).await?.ok_or_else(|| CsmError::not_found("license session", session_id))?;
        Ok(LogoutOutcome { session, seat_released: freed && reason == EndReason::Logout, consistency_token: token })
    }

    pub async fn get_session(&self, caller: &Caller, session_id: Uuid) -> CsmResult<LicenseSession> {
        let session = self.session_for(caller, session_id, "GetSession").await?;
        Ok(session.as_of(csm_db::now()))
    }

    pub async fn list_sessions(
        &self,
        caller: &Caller,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> CsmResult<(Vec<LicenseSession>, String)> {
        let own = matches!(caller, Caller::Human(human) if filter.login_id == Some(*human.login_id.as_uuid()));
        if !own {
            self.require_admin(caller, "ListSessions").await?;
        }
        let after = parse_id_token(page)?;
        let rows = self.store.list_sessions(filter, after, page.fetch_limit()).await?;
        let (rows, token) = page.finish(rows, |session| session.id.to_string());
        let now = csm_db::now();
        let rows = rows
            .into_iter()
            .map(|session| session.as_of(now))
            .filter(|session| filter.state.is_none_or(|state| session.state == state))
            .collect();
        Ok((rows, token))
    }

    /// EscalateSession (R7.4-R7.6, X4).
    pub async fn escalate(
        &self,
        caller: &Caller,
        session_id: Uuid,
        access: RecordAccess,
        record_type: String,
        record_id: String,
    ) -> CsmResult<EscalateOutcome> {
        let session = self.session_for(caller, session_id, "EscalateSession").await?;
        let pool = self.get_pool(session.pool_id).await?;
        let now = csm_db::now();
        let mut session = self.ensure_active(session, &pool, now).await?;
        if session.principal_kind == PrincipalKind::User {
            return Ok(EscalateOutcome {
                session,
                seat_needed: false,
                seat_newly_acquired: false,
                consistency_token: self.head_token().await?,
            });
        }
        let seat_needed = escalation_needs_seat(pool.settings.portal_license_on, access);
        // The call is user activity: it pushes the idle deadline.
        session.last_activity_at = now;
        session.idle_deadline = pools::deadlines(&pool.settings, session.channel, now, session.last_heartbeat_at).0;
        if !seat_needed || session.seat_held {
            let mut tx = self.store.begin().await?;
            if !self.store.touch_session(&mut tx, &session, now).await? {
                drop(tx);
                let current = self.store.session(session_id).await?.unwrap_or(session);
                return Err(session_ended(&current));
            }
            let change = session_change(session.id, Operation::Updated, session.pool_id, session.login_id);
            let revision = self.commit(tx, &change).await?;
            return Ok(EscalateOutcome {
                session,
                seat_needed,
                seat_newly_acquired: false,
                consistency_token: self.feed.token(revision),
            });
        }
        let denial = |reason| Denial {
            id: Uuid::now_v7(),
            reason,
            pool_id: Some(pool.id),
            seat_plan_id: None,
            session_id: Some(session_id),
            login_id: Some(session.login_id),
            profile_id: Some(session.profile_id),
            channel: session.channel as i64,
            access: access as i64,
            record_type: record_type.clone(),
            record_id: record_id.clone(),
            occurred_at: now,
        };
        let person = self.person(session.profile_id).await?;
        if self.store.grants_for(session.profile_id, person.security_group_id).await?.is_empty() {
            let error = CsmError::permission_denied(
                "LICENSE_RIGHT_MISSING",
                "the profile lacks the right to request a licence for records it does not own (R7.6)",
            );
            return Err(self.deny(denial(DenialReason::LicenseRightMissing), error).await);
        }
        if pool.key_expired(now) {
            return Err(self.deny(denial(DenialReason::LicenseKeyExpired), key_expired(&pool)).await);
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut tx = self.store.begin().await?;
            // The guarded mark first (the write that takes SQLite's lock): two
            // escalations of one session take at most one hold on the seat.
            if !self.store.mark_seat_held(&mut tx, &session, SeatSource::Escalation, now).await? {
                drop(tx);
                let current = self
                    .store
                    .session(session_id)
                    .await?
                    .ok_or_else(|| CsmError::not_found("license session", session_id))?;
                if current.state == SessionState::Ended {
                    return Err(session_ended(&current));
                }
                return Ok(EscalateOutcome {
                    session: current,
                    seat_needed,
                    seat_newly_acquired: false,
                    consistency_token: self.head_token().await?,
                });
            }
            let outcome = match self.take_seat(&mut tx, &pool, session.login_id, SeatSource::Escalation, now).await {
                Err(error) if error.code() == ErrorCode::Aborted && attempts < 5 => continue,
                other => other?,
            };
            if outcome == SeatOutcome::Exhausted {
                drop(tx);
                return Err(self.deny(denial(DenialReason::LicensePoolExhausted), pool_exhausted(&pool)).await);
            }
            let change = session_change(session.id, Operation::Updated, session.pool_id, session.login_id);
            let revision = self.commit(tx, &change).await?;
            session.seat_held = true;
            session.seat_source = Some(SeatSource::Escalation);
            session.seat_acquired_at = Some(now);
            return Ok(EscalateOutcome {
                session,
                seat_needed,
                seat_newly_acquired: outcome == SeatOutcome::Acquired,
                consistency_token: self.feed.token(revision),
            });
        }
    }
}

/// Ends (in `tx`) up to one batch of sessions past their deadlines at `now`
/// (optionally of one pool), each with its change; returns how many and the
/// last revision written.
async fn end_due_sessions(
    store: &LicensingStore,
    tx: &mut Tx,
    pool_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> CsmResult<(usize, Option<u64>)> {
    let due = store.due_sessions(tx, pool_id, now, EXPIRY_BATCH).await?;
    let mut ended = 0;
    let mut last_revision = None;
    for DueSession { session_id, at, reason, .. } in due {
        let (did_end, _) = store.end_session(tx, session_id, reason, at).await?;
        if did_end {
            ended += 1;
            let change = NewChange::new("license_session", session_id, Operation::Updated)
                .attribute("end_reason", reason.as_str());
            last_revision = Some(csm_changefeed::append(tx, &change).await?);
        }
    }
    Ok((ended, last_revision))
}

/// The expiry task's step (R7.7, R7.8): ends every session past a deadline at
/// `now` (or keeping a seat of a pool whose key expired) and frees their
/// seats. State lives only in the database and every end is a guarded update,
/// so several replicas may run it at once, a restarted service simply
/// continues, and running it twice changes nothing more. Returns the sessions ended.
pub async fn release_expired(store: &LicensingStore, feed: &ChangeFeed, now: DateTime<Utc>) -> CsmResult<usize> {
    let mut total = 0;
    loop {
        let mut tx = store.begin().await?;
        store.take_write_lock(&mut tx).await?;
        let (ended, head) = end_due_sessions(store, &mut tx, None, now).await?;
        tx.commit().await?;
        if let Some(head) = head {
            feed.committed(head);
        }
        total += ended;
        if ended < EXPIRY_BATCH as usize {
            return Ok(total);
        }
    }
}

/// [`release_expired`] on a database of its own (operators, tests: a fresh
/// process state over the same database).
pub async fn release_expired_in(db: csm_db::Db, now: DateTime<Utc>) -> CsmResult<usize> {
    let feed = ChangeFeed::new(db.clone(), crate::SERVICE);
    release_expired(&LicensingStore::new(db), &feed, now).await
}
