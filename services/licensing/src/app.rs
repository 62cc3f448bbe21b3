//! licensing's use cases: authorize the caller, validate, call the store in
//! one transaction with its change-feed entry, record denials.

use crate::metrics::LicensingMetrics;
use csm_types::roles;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{ChangeFeed, NewChange, Operation};
use csm_db::{PageRequest, Tx};
use csm_errors::{CsmError, CsmResult, ErrorCode, FieldErrors};
use csm_peers::{IdentityPeer, RolePeer};
use csm_proto::identity::ProfileKind;
use uuid::Uuid;

use crate::domain::agent_seats::{
    self, AgentLicenseStatus, AgentSeat, LicensedProduct, SeatKind, SeatPlan, SeatPlanPatch,
};
use crate::domain::pools::{self, ClientChannel, LicensePool, PoolPatch, PoolSettings, heartbeat_interval};
use crate::domain::rights::LicenseRightGrant;
use crate::domain::sessions::{
    DueSession, EndReason, LicenseSession, PrincipalKind, RecordAccess, SeatOutcome, SeatSource, SessionFilter,
    SessionState, escalation_needs_seat,
};
use crate::domain::usage::{Denial, DenialFilter, DenialReason, PeakBucket, SeatHolder, peak_profile};
use crate::store::LicensingStore;
use crate::store::agent_seats::agent_seat_exists;

const ADMIN: &[&str] = &[roles::ADMIN];

/// Sessions ended per expiry transaction.
const EXPIRY_BATCH: i64 = 200;

/// What licensing knows about a profile (from identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub profile_id: Uuid,
    pub login_id: Option<Uuid>,
    pub kind: PrincipalKind,
    pub security_group_id: Option<Uuid>,
}

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

pub struct PoolUsage {
    pub pool: LicensePool,
    pub seats_in_use: i64,
    pub escalated_seats_in_use: i64,
    pub holders: Vec<SeatHolder>,
    pub next_page_token: String,
    pub as_of: DateTime<Utc>,
}

pub struct PeakUsage {
    pub pool: LicensePool,
    pub peak: i64,
    pub peak_at: DateTime<Utc>,
    pub buckets: Vec<PeakBucket>,
}

pub struct AgentLicense {
    pub status: AgentLicenseStatus,
    pub seat_plan_id: Option<Uuid>,
    pub agent_seat_id: Option<Uuid>,
}

pub struct LicensingApp {
    store: LicensingStore,
    feed: ChangeFeed,
    identity: IdentityPeer,
    role: RolePeer,
    /// The zone of license_expiration_date when a pool names none (R7.8).
    default_zone: FixedOffset,
    metrics: LicensingMetrics,
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
    pub fn new(
        store: LicensingStore,
        feed: ChangeFeed,
        identity: IdentityPeer,
        role: RolePeer,
        default_zone: FixedOffset,
    ) -> Self {
        let metrics = LicensingMetrics::register(&store);
        Self { store, feed, identity, role, default_zone, metrics }
    }

    pub fn store(&self) -> &LicensingStore {
        &self.store
    }

    async fn head_token(&self) -> CsmResult<String> {
        Ok(self.feed.token(self.feed.head().await?))
    }

    /// Appends `change`, commits and wakes watchers; returns the revision.
    async fn commit(&self, mut tx: Tx, change: &NewChange) -> CsmResult<u64> {
        let revision = csm_changefeed::append(&mut tx, change).await?;
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(revision)
    }

    // ------------------------------------------------------------ callers

    async fn require_admin(&self, caller: &Caller, action: &str) -> CsmResult<()> {
        self.role.authorize(caller, ADMIN, action).await
    }

    /// The person acting on their own login, or an administrator (services
    /// were authorized by the static policy).
    async fn require_self_or_admin(
        &self,
        caller: &Caller,
        login_id: Option<Uuid>,
        profile_id: Option<Uuid>,
        action: &str,
    ) -> CsmResult<()> {
        if let Caller::Human(human) = caller {
            let own_login = login_id.is_some_and(|login| *human.login_id.as_uuid() == login);
            let own_profile =
                profile_id.is_some_and(|profile| human.profile_id.is_some_and(|own| *own.as_uuid() == profile));
            if own_login || own_profile {
                return Ok(());
            }
        }
        self.require_admin(caller, action).await
    }

    /// The profile as identity knows it; NOT_FOUND when it does not.
    pub async fn person(&self, profile_id: Uuid) -> CsmResult<Person> {
        let facts = self
            .identity
            .profile_licensing_facts(profile_id.into())
            .await?
            .ok_or_else(|| CsmError::not_found("profile", profile_id))?;
        Ok(Person {
            profile_id,
            login_id: Uuid::parse_str(&facts.login_id).ok(),
            kind: if facts.kind == ProfileKind::Internal { PrincipalKind::User } else { PrincipalKind::Customer },
            security_group_id: Uuid::parse_str(&facts.security_group_id).ok(),
        })
    }

    async fn deny(&self, denial: Denial, error: CsmError) -> CsmError {
        self.metrics.denied(denial.reason);
        if let Err(record_error) = self.store.insert_denial(&denial).await {
            tracing::warn!(error = %record_error, "could not record a licence denial");
        }
        error
    }

    // -------------------------------------------------------------- pools

    /// Validates settings; returns the licence-key expiry instant (R7.8).
    fn check_pool(&self, settings: &PoolSettings, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
        if settings.name.trim().is_empty() {
            errors.add("pool.name", "is required");
        } else if settings.name.chars().count() > 200 {
            errors.add("pool.name", "must be at most 200 characters");
        }
        for (field, description) in settings.violations() {
            errors.add(field, description);
        }
        let zone = if settings.time_zone.trim().is_empty() {
            Some(self.default_zone)
        } else {
            errors.check("pool.time_zone", pools::parse_time_zone(&settings.time_zone))
        };
        if settings.license_expiration_date.trim().is_empty() {
            return None;
        }
        let zone = zone?;
        errors.check("pool.license_expiration_date", pools::license_expires_at(&settings.license_expiration_date, zone))
    }

    pub async fn create_pool(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        settings: PoolSettings,
        errors: FieldErrors,
    ) -> CsmResult<(LicensePool, String)> {
        let key = RequestKey::new("CreatePool", caller.request_scope(), request_id.as_deref(), &settings);
        let outcome = self.create_pool_once(caller, &key, settings, errors).await;
        match self.raced_retry(outcome.as_ref().err(), &key).await? {
            Some((id, token)) => Ok((self.get_pool(id).await?, token)),
            None => outcome,
        }
    }

    /// When a create failed because a concurrent retry of the same request_id
    /// won (its unique key or its idempotency record), that retry's result.
    async fn raced_retry(&self, error: Option<&CsmError>, key: &RequestKey<'_>) -> CsmResult<Option<(Uuid, String)>> {
        let Some(error) = error else { return Ok(None) };
        if key.request_id().is_none()
            || (error.code() != ErrorCode::AlreadyExists && error.reason() != "REQUEST_IN_FLIGHT")
        {
            return Ok(None);
        }
        match key.replayed(self.store.db()).await? {
            Some(replay) => Ok(Some((replay.id()?, self.feed.token(replay.revision)))),
            None => Ok(None),
        }
    }

    async fn create_pool_once(
        &self,
        caller: &Caller,
        key: &RequestKey<'_>,
        mut settings: PoolSettings,
        mut errors: FieldErrors,
    ) -> CsmResult<(LicensePool, String)> {
        self.require_admin(caller, "CreatePool").await?;
        settings.name = settings.name.trim().to_owned();
        if settings.consuming_channels.is_empty() {
            settings.consuming_channels = ClientChannel::DEFAULT_CONSUMING.to_vec();
        }
        let expires_at = self.check_pool(&settings, &mut errors);
        errors.finish()?;
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let (id, revision) = (replay.id()?, replay.revision);
            let pool = self.store.record::<LicensePool>(id).await?.ok_or_else(|| CsmError::not_found("pool", id))?;
            return Ok((pool, self.feed.token(revision)));
        }
        let now = csm_db::now();
        let pool = LicensePool {
            id: Uuid::now_v7(),
            settings,
            seats_used: 0,
            license_expires_at: expires_at,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        self.store.insert_pool(&mut tx, &pool).await?;
        let revision =
            csm_changefeed::append(&mut tx, &NewChange::new("license_pool", pool.id, Operation::Created)).await?;
        if !key.record(&mut tx, pool.id, revision, "").await? {
            drop(tx);
            return Err(CsmError::aborted("REQUEST_IN_FLIGHT", "a retry of this request is being processed"));
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok((pool, self.feed.token(revision)))
    }

    pub async fn get_pool(&self, pool_id: Uuid) -> CsmResult<LicensePool> {
        self.store.record::<LicensePool>(pool_id).await?.ok_or_else(|| CsmError::not_found("pool", pool_id))
    }

    pub async fn update_pool(
        &self,
        caller: &Caller,
        pool_id: Uuid,
        patch: PoolPatch,
    ) -> CsmResult<(LicensePool, String)> {
        self.require_admin(caller, "UpdatePool").await?;
        let mut pool = self.get_pool(pool_id).await?;
        patch.apply_to(&mut pool.settings);
        let mut errors = FieldErrors::new();
        pool.license_expires_at = self.check_pool(&pool.settings, &mut errors);
        errors.finish()?;
        pool.updated_at = csm_db::now();
        let mut tx = self.store.begin().await?;
        if !self.store.update_pool(&mut tx, &pool).await? {
            return Err(CsmError::not_found("pool", pool_id));
        }
        let pool = self
            .store
            .record_in::<LicensePool>(&mut tx, pool_id)
            .await?
            .ok_or_else(|| CsmError::not_found("pool", pool_id))?;
        let revision = self.commit(tx, &NewChange::new("license_pool", pool.id, Operation::Updated)).await?;
        Ok((pool, self.feed.token(revision)))
    }

    pub async fn list_pools(&self, page: &PageRequest) -> CsmResult<(Vec<LicensePool>, String)> {
        let rows = self.store.list_pools(page.after.as_deref(), page.fetch_limit()).await?;
        Ok(page.finish(rows, |pool| pool.settings.name.clone()))
    }

    // ----------------------------------------------------------- sessions

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
    async fn end_due_sessions(
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
        let after = page
            .after
            .as_deref()
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|_| CsmError::invalid_field("page_token", "is not a token returned by this service"))?;
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

    // -------------------------------------------------------------- usage

    pub async fn pool_usage(&self, caller: &Caller, pool_id: Uuid, page: &PageRequest) -> CsmResult<PoolUsage> {
        self.require_admin(caller, "GetPoolUsage").await?;
        self.get_pool(pool_id).await?;
        let now = csm_db::now();
        // Settle first: holders past their deadlines are not counted (R7.7).
        let mut tx = self.store.begin().await?;
        self.store.take_write_lock(&mut tx).await?;
        let (_, head) = self.end_due_sessions(&mut tx, Some(pool_id), now).await?;
        tx.commit().await?;
        if let Some(head) = head {
            self.feed.committed(head);
        }
        let pool = self.get_pool(pool_id).await?;
        let after = match page.after.as_deref() {
            None => None,
            Some(token) => Some(
                token
                    .split_once('|')
                    .and_then(|(at, login)| Some((at.parse::<i64>().ok()?, Uuid::parse_str(login).ok()?)))
                    .ok_or_else(|| CsmError::invalid_field("page_token", "is not a token returned by this service"))?,
            ),
        };
        let holders = self.store.seat_holders(pool_id, after, page.fetch_limit()).await?;
        let (holders, next_page_token) =
            page.finish(holders, |holder| format!("{}|{}", crate::domain::micros(holder.acquired_at), holder.login_id));
        Ok(PoolUsage {
            seats_in_use: pool.seats_used,
            escalated_seats_in_use: self.store.escalated_seats(pool_id).await?,
            pool,
            holders,
            next_page_token,
            as_of: now,
        })
    }

    pub async fn peak_usage(
        &self,
        caller: &Caller,
        pool_id: Uuid,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        width: Duration,
    ) -> CsmResult<PeakUsage> {
        self.require_admin(caller, "GetPeakUsage").await?;
        let pool = self.get_pool(pool_id).await?;
        let level = self.store.usage_before(pool_id, start).await?;
        let events = self.store.usage_events(pool_id, start, end).await?;
        let denials = self.store.denial_times(pool_id, start, end).await?;
        let profile = peak_profile(level, events, &denials, start, end, width);
        Ok(PeakUsage { pool, peak: profile.peak, peak_at: profile.peak_at, buckets: profile.buckets })
    }

    pub async fn list_denials(
        &self,
        caller: &Caller,
        filter: &DenialFilter,
        page: &PageRequest,
    ) -> CsmResult<(Vec<Denial>, String)> {
        self.require_admin(caller, "ListDenials").await?;
        let after = parse_id_token(page)?;
        let rows = self.store.list_denials(filter, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |denial| denial.id.to_string()))
    }

    pub async fn count_denials(&self, caller: &Caller, filter: &DenialFilter) -> CsmResult<Vec<(DenialReason, i64)>> {
        self.require_admin(caller, "CountDenials").await?;
        self.store.count_denials(filter).await
    }

    // ------------------------------------------------------- licence right

    pub async fn grant_right(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        profile_id: Option<Uuid>,
        security_group_id: Option<Uuid>,
    ) -> CsmResult<(LicenseRightGrant, String)> {
        let key = RequestKey::new(
            "GrantLicenseRight",
            caller.request_scope(),
            request_id.as_deref(),
            &(profile_id, security_group_id),
        );
        let outcome = self.grant_right_once(caller, &key, profile_id, security_group_id).await;
        match self.raced_retry(outcome.as_ref().err(), &key).await? {
            Some((id, token)) => Ok((
                self.store
                    .record::<LicenseRightGrant>(id)
                    .await?
                    .ok_or_else(|| CsmError::not_found("license right grant", id))?,
                token,
            )),
            None => outcome,
        }
    }

    async fn grant_right_once(
        &self,
        caller: &Caller,
        key: &RequestKey<'_>,
        profile_id: Option<Uuid>,
        security_group_id: Option<Uuid>,
    ) -> CsmResult<(LicenseRightGrant, String)> {
        self.require_admin(caller, "GrantLicenseRight").await?;
        if let Some(profile_id) = profile_id {
            self.person(profile_id).await?;
        }
        if let Some(group) = security_group_id {
            match self.identity.security_group_exists(&group.to_string()).await {
                Ok(true) => {}
                Ok(false) => return Err(CsmError::not_found("security group", group)),
                // identity's static policy does not (yet) let licensing read
                // security groups: the grant is kept unverified rather than refused.
                Err(error) if error.code() == ErrorCode::PermissionDenied => {
                    tracing::warn!(%error, %group, "cannot verify the security group with identity; granting unverified");
                }
                Err(error) => return Err(error),
            }
        }
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let (id, revision) = (replay.id()?, replay.revision);
            let grant = self
                .store
                .record::<LicenseRightGrant>(id)
                .await?
                .ok_or_else(|| CsmError::not_found("license right grant", id))?;
            return Ok((grant, self.feed.token(revision)));
        }
        let grant = LicenseRightGrant { id: Uuid::now_v7(), profile_id, security_group_id, granted_at: csm_db::now() };
        let mut tx = self.store.begin().await?;
        self.store.insert_grant(&mut tx, &grant).await?;
        let mut change = NewChange::new("license_right_grant", grant.id, Operation::Created);
        if let Some(profile_id) = profile_id {
            change = change.attribute("profile_id", profile_id);
        }
        if let Some(group) = security_group_id {
            change = change.attribute("security_group_id", group);
        }
        let revision = csm_changefeed::append(&mut tx, &change).await?;
        if !key.record(&mut tx, grant.id, revision, "").await? {
            drop(tx);
            return Err(CsmError::aborted("REQUEST_IN_FLIGHT", "a retry of this request is being processed"));
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok((grant, self.feed.token(revision)))
    }

    pub async fn revoke_right(&self, caller: &Caller, grant_id: Uuid) -> CsmResult<String> {
        self.require_admin(caller, "RevokeLicenseRight").await?;
        let mut tx = self.store.begin().await?;
        if self.store.delete_grant(&mut tx, grant_id).await?.is_none() {
            return Err(CsmError::not_found("license right grant", grant_id));
        }
        let revision = self.commit(tx, &NewChange::new("license_right_grant", grant_id, Operation::Deleted)).await?;
        Ok(self.feed.token(revision))
    }

    pub async fn list_rights(
        &self,
        caller: &Caller,
        profile_id: Option<Uuid>,
        security_group_id: Option<Uuid>,
        page: &PageRequest,
    ) -> CsmResult<(Vec<LicenseRightGrant>, String)> {
        self.require_admin(caller, "ListLicenseRights").await?;
        let after = parse_id_token(page)?;
        let rows = self.store.list_grants(profile_id, security_group_id, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |grant| grant.id.to_string()))
    }

    pub async fn has_right(&self, caller: &Caller, profile_id: Uuid) -> CsmResult<Vec<LicenseRightGrant>> {
        let person = self.person(profile_id).await?;
        self.require_self_or_admin(caller, person.login_id, Some(profile_id), "HasLicenseRight").await?;
        self.store.grants_for(profile_id, person.security_group_id).await
    }

    // ------------------------------------------------------- named seats

    pub async fn create_plan(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        product: LicensedProduct,
        seat_limit: i64,
        license_valid_until: Option<DateTime<Utc>>,
    ) -> CsmResult<(SeatPlan, String)> {
        let key = RequestKey::new(
            "CreateSeatPlan",
            caller.request_scope(),
            request_id.as_deref(),
            &(product, seat_limit, license_valid_until),
        );
        let outcome = self.create_plan_once(caller, &key, product, seat_limit, license_valid_until).await;
        match self.raced_retry(outcome.as_ref().err(), &key).await? {
            Some((id, token)) => Ok((self.get_plan(id).await?, token)),
            None => outcome,
        }
    }

    async fn create_plan_once(
        &self,
        caller: &Caller,
        key: &RequestKey<'_>,
        product: LicensedProduct,
        seat_limit: i64,
        license_valid_until: Option<DateTime<Utc>>,
    ) -> CsmResult<(SeatPlan, String)> {
        self.require_admin(caller, "CreateSeatPlan").await?;
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let (id, revision) = (replay.id()?, replay.revision);
            let plan = self.store.record::<SeatPlan>(id).await?.ok_or_else(|| CsmError::not_found("seat plan", id))?;
            return Ok((plan, self.feed.token(revision)));
        }
        let now = csm_db::now();
        let plan = SeatPlan {
            id: Uuid::now_v7(),
            product,
            seat_limit,
            seats_used: 0,
            license_valid_until,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        self.store.insert_plan(&mut tx, &plan).await?;
        let revision =
            csm_changefeed::append(&mut tx, &NewChange::new("seat_plan", plan.id, Operation::Created)).await?;
        if !key.record(&mut tx, plan.id, revision, "").await? {
            drop(tx);
            return Err(CsmError::aborted("REQUEST_IN_FLIGHT", "a retry of this request is being processed"));
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok((plan, self.feed.token(revision)))
    }

    pub async fn get_plan(&self, plan_id: Uuid) -> CsmResult<SeatPlan> {
        self.store.record::<SeatPlan>(plan_id).await?.ok_or_else(|| CsmError::not_found("seat plan", plan_id))
    }

    pub async fn update_plan(
        &self,
        caller: &Caller,
        plan_id: Uuid,
        patch: SeatPlanPatch,
    ) -> CsmResult<(SeatPlan, String)> {
        self.require_admin(caller, "UpdateSeatPlan").await?;
        let mut plan = self.get_plan(plan_id).await?;
        patch.apply_to(&mut plan);
        plan.updated_at = csm_db::now();
        let mut tx = self.store.begin().await?;
        if !self.store.update_plan(&mut tx, &plan).await? {
            return Err(CsmError::not_found("seat plan", plan_id));
        }
        let plan = self
            .store
            .record_in::<SeatPlan>(&mut tx, plan_id)
            .await?
            .ok_or_else(|| CsmError::not_found("seat plan", plan_id))?;
        let revision = self.commit(tx, &NewChange::new("seat_plan", plan_id, Operation::Updated)).await?;
        Ok((plan, self.feed.token(revision)))
    }

    pub async fn list_plans(&self, page: &PageRequest) -> CsmResult<(Vec<SeatPlan>, String)> {
        let after = page
            .after
            .as_deref()
            .map(|token| token.parse::<i64>())
            .transpose()
            .map_err(|_| CsmError::invalid_field("page_token", "is not a token returned by this service"))?;
        let rows = self.store.list_plans(after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |plan| (plan.product as i64).to_string()))
    }

    /// GrantAgentSeat (R7.10, R7.11, R7.13).
    pub async fn grant_agent_seat(
        &self,
        caller: &Caller,
        request_id: Option<String>,
        plan_id: Uuid,
        profile_id: Uuid,
        kind: SeatKind,
    ) -> CsmResult<(AgentSeat, String)> {
        let key = RequestKey::new(
            "GrantAgentSeat",
            caller.request_scope(),
            request_id.as_deref(),
            &(plan_id, profile_id, kind),
        );
        let outcome = self.grant_agent_seat_once(caller, &key, plan_id, profile_id, kind).await;
        match self.raced_retry(outcome.as_ref().err(), &key).await? {
            Some((id, token)) => {
                Ok((self.store.agent_seat(id).await?.ok_or_else(|| CsmError::not_found("agent seat", id))?, token))
            }
            None => outcome,
        }
    }

    async fn grant_agent_seat_once(
        &self,
        caller: &Caller,
        key: &RequestKey<'_>,
        plan_id: Uuid,
        profile_id: Uuid,
        kind: SeatKind,
    ) -> CsmResult<(AgentSeat, String)> {
        self.require_admin(caller, "GrantAgentSeat").await?;
        let plan = self.get_plan(plan_id).await?;
        self.person(profile_id).await?;
        if !kind.fits(plan.product) {
            return Err(CsmError::failed_precondition(
                "SEAT_KIND_PRODUCT_MISMATCH",
                "collaborator seats exist only on JIRA plans, agent seats only on the others (R7.13)",
            ));
        }
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let (id, revision) = (replay.id()?, replay.revision);
            let seat = self.store.agent_seat(id).await?.ok_or_else(|| CsmError::not_found("agent seat", id))?;
            return Ok((seat, self.feed.token(revision)));
        }
        let now = csm_db::now();
        let mut tx = self.store.begin().await?;
        // The guarded counter first: it is the write that decides (R7.11).
        if !self.store.take_plan_seat(&mut tx, plan_id).await? {
            let exists = self.store.agent_seat_of(&mut tx, plan_id, profile_id).await?;
            drop(tx);
            if exists {
                return Err(agent_seat_exists());
            }
            let error = CsmError::resource_exhausted(
                "AGENT_SEATS_EXHAUSTED",
                format!("all {} seats of the plan are granted", plan.seat_limit),
            )
            .with_metadata("seat_plan_id", plan_id.to_string());
            let denial = Denial {
                id: Uuid::now_v7(),
                reason: DenialReason::AgentSeatsExhausted,
                pool_id: None,
                seat_plan_id: Some(plan_id),
                session_id: None,
                login_id: None,
                profile_id: Some(profile_id),
                channel: 0,
                access: 0,
                record_type: String::new(),
                record_id: String::new(),
                occurred_at: now,
            };
            return Err(self.deny(denial, error).await);
        }
        let seat = AgentSeat {
            id: Uuid::now_v7(),
            seat_plan_id: plan_id,
            product: plan.product,
            profile_id,
            kind,
            granted_at: now,
        };
        self.store.insert_agent_seat(&mut tx, &seat).await?;
        let change = NewChange::new("agent_seat", seat.id, Operation::Created)
            .attribute("seat_plan_id", plan_id)
            .attribute("profile_id", profile_id);
        let revision = csm_changefeed::append(&mut tx, &change).await?;
        if !key.record(&mut tx, seat.id, revision, "").await? {
            drop(tx);
            return Err(CsmError::aborted("REQUEST_IN_FLIGHT", "a retry of this request is being processed"));
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok((seat, self.feed.token(revision)))
    }

    pub async fn revoke_agent_seat(&self, caller: &Caller, seat_id: Uuid) -> CsmResult<(SeatPlan, String)> {
        self.require_admin(caller, "RevokeAgentSeat").await?;
        let mut tx = self.store.begin().await?;
        let Some(plan_id) = self.store.delete_agent_seat(&mut tx, seat_id).await? else {
            return Err(CsmError::not_found("agent seat", seat_id));
        };
        let plan = self
            .store
            .record_in::<SeatPlan>(&mut tx, plan_id)
            .await?
            .ok_or_else(|| CsmError::not_found("seat plan", plan_id))?;
        let change = NewChange::new("agent_seat", seat_id, Operation::Deleted).attribute("seat_plan_id", plan_id);
        let revision = self.commit(tx, &change).await?;
        Ok((plan, self.feed.token(revision)))
    }

    pub async fn list_agent_seats(
        &self,
        caller: &Caller,
        plan_id: Option<Uuid>,
        profile_id: Option<Uuid>,
        kind: Option<SeatKind>,
        page: &PageRequest,
    ) -> CsmResult<(Vec<AgentSeat>, String)> {
        self.require_admin(caller, "ListAgentSeats").await?;
        let after = parse_id_token(page)?;
        let rows = self.store.list_agent_seats(plan_id, profile_id, kind, after, page.fetch_limit()).await?;
        Ok(page.finish(rows, |seat| seat.id.to_string()))
    }

    /// hasAgentLicense (R7.9, R7.11, R7.13, R4.21).
    pub async fn has_agent_license(
        &self,
        caller: &Caller,
        profile_id: Uuid,
        product: LicensedProduct,
    ) -> CsmResult<AgentLicense> {
        let person = self.person(profile_id).await?;
        self.require_self_or_admin(caller, person.login_id, Some(profile_id), "HasAgentLicense").await?;
        let Some(plan) = self.store.plan_for_product(product).await? else {
            return Ok(AgentLicense {
                status: AgentLicenseStatus::NoSeatPlan,
                seat_plan_id: None,
                agent_seat_id: None,
            });
        };
        let seat = self.store.agent_seat_for(plan.id, profile_id).await?;
        let status = agent_seats::agent_license_status(
            true,
            seat.as_ref().map(|seat| seat.kind),
            person.kind == PrincipalKind::Customer,
            plan.license_valid(csm_db::now()),
            plan.overrun(),
        );
        Ok(AgentLicense { status, seat_plan_id: Some(plan.id), agent_seat_id: seat.map(|seat| seat.id) })
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

fn parse_id_token(page: &PageRequest) -> CsmResult<Option<Uuid>> {
    page.after
        .as_deref()
        .map(Uuid::parse_str)
        .transpose()
        .map_err(|_| CsmError::invalid_field("page_token", "is not a token returned by this service"))
}

/// The audit trail is read by administrators (`csm.audit.v1`).
impl csm_server::AuditReaders for LicensingApp {
    async fn authorize_audit_read(&self, caller: &Caller) -> CsmResult<()> {
        self.role.authorize(caller, csm_server::AUDIT_READER_ROLES, "ListAuditEvents").await
    }
}
