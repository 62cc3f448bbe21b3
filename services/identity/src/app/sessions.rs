//! identity's session use cases: logging in (R1.7, R1.9, R2.13a, R6.1) and
//! the credentials a session yields — the access token every service accepts,
//! the refresh token that renews it — switching profile, logging out, the
//! idle timeout, and the state of a credential for the other services'
//! caller directories.
//!
//! Who may: anyone may log in with a password (guessing is limited per login
//! and per client address) or refresh with a refresh token; a trusted
//! gateway (a service caller) may assert `pre_authenticated`; a person acts
//! on its own sessions, people admins on any.

use csm_auth::{Caller, Jwks};
use csm_changefeed::Operation;
use csm_changefeed::idempotency::RequestKey;
use csm_errors::{CsmError, CsmResult};
use csm_peers::ExplicitClass;
use csm_types::{LoginId, ProfileId, SessionId};

use super::people::verify_password;
use super::{IdentityApp, Written};
use crate::domain::people::{Channel, Login, Profile, SNC_EXTERNAL, first_login_explicit_role, login_name_key};
use crate::domain::sessions::{
    ActivationError, AttemptLimits, EndReason, ProfileSwitch, Proof, RefreshToken, Session, SessionStart, SessionState,
    Throttle, check_activation, default_session_profile, throttle,
};

/// A signed access token and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A session with the credentials it yields and the explicit role its start
/// assigned (R2.13a), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionWithDefault {
    pub session: Session,
    /// `snc_internal` / `snc_external` when this call persisted the profile's
    /// default explicit role; None otherwise.
    pub assigned_explicit_role: Option<&'static str>,
    pub access_token: AccessToken,
    /// Only when the session was created by this call (never on a replay).
    pub refresh_token: Option<String>,
}

/// What a credential names, as it is now (GetCredentialState).
#[derive(Debug, Clone)]
pub struct CredentialState {
    pub login: Option<Login>,
    pub session: Option<Session>,
    pub profile: Option<Profile>,
    pub revision: u64,
}

/// How a credential names its login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginKey {
    Id(LoginId),
    Name(String),
}

/// One wrong-credentials error for every way StartSession can fail to
/// authenticate, so a caller cannot learn which login names exist.
fn invalid_credentials() -> CsmError {
    CsmError::unauthenticated("INVALID_CREDENTIALS", "the login name or the password is wrong")
}

/// `profile`: the profile asked for; None when StartSession chose one itself.
fn activation_error(error: ActivationError, profile: Option<ProfileId>, channel: Channel) -> CsmError {
    let named = |error: CsmError| match profile {
        Some(profile) => error.with_metadata("profile_id", profile.to_string()),
        None => error,
    };
    let which = profile.map(|profile| format!("profile {profile}")).unwrap_or_else(|| "the profile".to_owned());
    match error {
        ActivationError::ProfileNotOfLogin => {
            named(CsmError::invalid_argument("PROFILE_NOT_OF_LOGIN", format!("{which} does not belong to this login")))
        }
        ActivationError::ProfileInactive => named(CsmError::unauthenticated(
            "PROFILE_INACTIVE",
            format!("{which} holding credentials for {} is inactive", channel.as_str()),
        )),
        ActivationError::NoChannelCredential => named(CsmError::unauthenticated(
            "NO_CHANNEL_CREDENTIAL",
            format!("no active profile of this login holds credentials for {}", channel.as_str()),
        ))
        .with_metadata("channel", channel.as_str()),
    }
}

fn session_ended(session: SessionId) -> CsmError {
    CsmError::failed_precondition("SESSION_ENDED", format!("session {session} has ended"))
        .with_metadata("session_id", session.to_string())
}

fn invalid_refresh_token() -> CsmError {
    CsmError::unauthenticated("INVALID_REFRESH_TOKEN", "the refresh token is not valid")
}

impl IdentityApp {
    fn attempt_limits(&self) -> AttemptLimits {
        AttemptLimits {
            per_login: self.sessions.max_failures_per_login,
            per_address: self.sessions.max_failures_per_address,
            window: self.sessions.attempt_window,
        }
    }

    /// A fresh access token for `session`.
    fn access_token(&self, session: &Session) -> AccessToken {
        let ttl = self.sessions.access_token_ttl;
        let token = self.issuer.mint_person(
            session.login,
            Some(session.id),
            session.active_profile,
            Some(session.channel.as_str()),
            ttl,
        );
        let expires_at = csm_db::now() + chrono::Duration::from_std(ttl).unwrap_or_default();
        AccessToken { token, expires_at }
    }

    /// Checks a password attempt against the guessing limits, then the
    /// password itself; a failure is counted, a success clears the login's count.
    async fn check_password(
        &self,
        login_key: &str,
        client_address: &str,
        password: crate::domain::people::Password,
        stored_hash: Option<String>,
    ) -> CsmResult<()> {
        let limits = self.attempt_limits();
        let now = csm_db::now();
        let window_start = now - chrono::Duration::from_std(limits.window).unwrap_or_default();
        let (login_failures, address_failures) =
            self.store.login_failures_since(login_key, client_address, window_start).await?;
        if let Throttle::Refuse { retry_after, by_address } = throttle(&limits, login_failures, address_failures, now) {
            let what = if by_address { "from this address" } else { "for this login" };
            let error = CsmError::resource_exhausted(
                "LOGIN_ATTEMPTS_EXCEEDED",
                format!("too many failed logins {what}: try again in {} s", retry_after.as_secs()),
            )
            .with_retry_after(retry_after)
            .with_metadata("limit", if by_address { "client_address" } else { "login" });
            // The audit layer records the refusal (its reason names the limit).
            return Err(error);
        }
        if !verify_password(password, stored_hash, self.password_hash_iterations).await? {
            self.store.record_login_failure(login_key, client_address, now).await?;
            return Err(invalid_credentials());
        }
        self.store.clear_login_failures(login_key, window_start).await
    }

    /// Logs a login into a channel and activates one profile (R1.7, R1.9),
    /// persisting the profile's default explicit role at first login
    /// (R2.13a) and choosing its presentation role (R6.1). `caller`: None for
    /// an anonymous password login.
    pub async fn start_session(
        &self,
        caller: Option<&Caller>,
        client_address: &str,
        request_id: Option<&str>,
        start: SessionStart,
    ) -> CsmResult<Written<SessionWithDefault>> {
        const RPC: &str = "StartSession";
        if start.proof == Proof::PreAuthenticated && !matches!(caller, Some(Caller::Service(_))) {
            return Err(CsmError::permission_denied(
                "SERVICE_CALLER_REQUIRED",
                "only a trusted gateway (service caller) may assert pre_authenticated",
            ));
        }
        let login_key = login_name_key(&start.login_name);
        let credentials = self.store.login_credentials_by_name(&login_key).await?;
        match &start.proof {
            Proof::Password(password) => {
                let stored = credentials.as_ref().and_then(|credentials| credentials.password_hash.clone());
                self.check_password(&login_key, client_address, password.clone(), stored).await?;
            }
            Proof::PreAuthenticated => {
                if credentials.is_none() {
                    return Err(invalid_credentials());
                }
            }
        }
        let Some(credentials) = credentials else {
            return Err(invalid_credentials());
        };
        let login = credentials.login;
        if !login.enabled {
            return Err(CsmError::unauthenticated("LOGIN_DISABLED", "this login is disabled"));
        }
        // The proof is not part of the fingerprint: a retry must prove itself
        // again. The login's request ids are its own.
        let payload = (login.id, start.channel, start.profile, start.presentation_role.as_deref());
        let key = RequestKey::new(RPC, format!("login:{}", login.id), request_id, &payload);
        if let Some(replay) = key.replayed(self.store.db()).await? {
            let session = self.store.get_session(SessionId::from_uuid(replay.id()?)).await?;
            let session = session.ok_or_else(|| CsmError::not_found("session", &replay.entity))?;
            if session.state == SessionState::Ended {
                return Err(session_ended(session.id));
            }
            let assigned =
                [crate::domain::people::SNC_INTERNAL, SNC_EXTERNAL].into_iter().find(|role| *role == replay.extra);
            let access_token = self.access_token(&session);
            let value =
                SessionWithDefault { session, assigned_explicit_role: assigned, access_token, refresh_token: None };
            return Ok(self.written(value, replay.revision));
        }

        let profiles = self.store.profiles_of_login(login.id).await?;
        let profile = match start.profile {
            Some(requested) => {
                let profile = match profiles.iter().find(|profile| profile.id == requested) {
                    Some(profile) => profile,
                    None => {
                        return Err(activation_error(
                            ActivationError::ProfileNotOfLogin,
                            Some(requested),
                            start.channel,
                        ));
                    }
                };
                check_activation(login.id, profile, start.channel)
                    .map_err(|error| activation_error(error, Some(requested), start.channel))?;
                profile
            }
            None => default_session_profile(login.default_profile, &profiles, start.channel)
                .map_err(|error| activation_error(error, None, start.channel))?,
        };
        let presentation_role = self.presentation_role(profile, start.presentation_role.as_deref()).await?;
        let assigned = self.ensure_default_explicit_role(profile).await?;

        let now = csm_db::now();
        let session = Session {
            id: SessionId::new(),
            login: login.id,
            channel: start.channel,
            active_profile: profile.id,
            active_profile_kind: profile.kind,
            presentation_role,
            state: SessionState::Active,
            started_at: now,
            profile_switched_at: None,
            ended_at: None,
            last_active_at: now,
            end_reason: None,
        };
        let refresh_token = RefreshToken::generate(session.id);
        let mut tx = self.store.db().begin().await?;
        self.store.insert_session(&mut tx, &session, &refresh_token.hash()).await?;
        self.store.set_last_login(&mut tx, login.id, now).await?;
        let revision = self.store.append_session_change(&mut tx, &session, Operation::Created, None).await?;
        let extra = assigned.unwrap_or_default();
        if !key.record(&mut tx, *session.id.as_uuid(), revision, extra).await? {
            drop(tx);
            return Box::pin(self.start_session(caller, client_address, request_id, start)).await;
        }
        tx.commit().await?;
        let access_token = self.access_token(&session);
        let value = SessionWithDefault {
            session,
            assigned_explicit_role: assigned,
            access_token,
            refresh_token: Some(refresh_token.expose()),
        };
        Ok(self.committed(value, revision))
    }

    /// R6.1: the presentation role of a session of `profile`.
    async fn presentation_role(&self, profile: &Profile, requested: Option<&str>) -> CsmResult<String> {
        let Some(group) = profile.security_group else {
            return Ok(String::new());
        };
        let Some(group) = self.store.get_security_group(group).await? else {
            return Ok(String::new());
        };
        group.presentation_role_for_session(requested.unwrap_or_default()).map_err(|refused| {
            CsmError::invalid_argument(
                "PRESENTATION_ROLE_NOT_IN_GROUP",
                format!("presentation role {:?} is not a role of the profile's security group", refused.requested),
            )
            .with_metadata("field", "presentation_role")
        })
    }

    /// R2.13a: when the role service reports that `profile` reaches neither
    /// snc_internal nor snc_external, persists snc_external if its user class
    /// is on the enforced internal-user deny list, else snc_internal. Returns
    /// the role this call assigned. Role unreachable: UNAVAILABLE
    /// DEPENDENCY_UNAVAILABLE (the caller then writes nothing).
    async fn ensure_default_explicit_role(&self, profile: &Profile) -> CsmResult<Option<&'static str>> {
        if self.roles.explicit_class(profile.id).await? != ExplicitClass::None {
            return Ok(None);
        }
        let settings = self.store.settings().await?;
        let role = first_login_explicit_role(&settings, profile.user_class());
        let newly_assigned = self.roles.assign_role(profile.id, role).await?;
        Ok(newly_assigned.then_some(role))
    }

    /// Renews a live session's access token with its refresh token; counts as activity.
    pub async fn refresh_session(&self, refresh_token: &str) -> CsmResult<(Session, AccessToken)> {
        let token = RefreshToken::parse(refresh_token).ok_or_else(invalid_refresh_token)?;
        let mut tx = self.store.db().begin().await?;
        if !self.store.lock_session(&mut tx, token.session).await? {
            return Err(invalid_refresh_token());
        }
        let stored = self.store.refresh_token_hash_in(&mut tx, token.session).await?;
        // Compare digests of equal length in constant time.
        let matches = stored.is_some_and(|stored| {
            let (a, b) = (stored.as_bytes(), token.hash());
            a.len() == b.len() && a.iter().zip(b.as_bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        });
        if !matches {
            return Err(invalid_refresh_token());
        }
        let mut session = self.store.session_in(&mut tx, token.session).await?.ok_or_else(invalid_refresh_token)?;
        let now = csm_db::now();
        if session.state == SessionState::Ended || session.is_idle(now, self.sessions.idle_timeout) {
            return Err(CsmError::unauthenticated("SESSION_ENDED", "the session has ended: log in again"));
        }
        session.last_active_at = now;
        self.store.save_session(&mut tx, &session).await?;
        tx.commit().await?;
        let access_token = self.access_token(&session);
        Ok((session, access_token))
    }

    /// Changes a session's active profile without re-authentication (R1.9,
    /// X9), optionally moving it to another channel; the target must hold
    /// the resulting channel (R1.7).
    pub async fn switch_profile(
        &self,
        caller: &Caller,
        switch: ProfileSwitch,
    ) -> CsmResult<Written<SessionWithDefault>> {
        const RPC: &str = "SwitchProfile";
        let session = self
            .store
            .get_session(switch.session)
            .await?
            .ok_or_else(|| CsmError::not_found("session", switch.session))?;
        self.authorize_own_login(caller, session.login, RPC).await?;
        if session.state == SessionState::Ended {
            return Err(session_ended(session.id));
        }
        let channel = switch.channel.unwrap_or(session.channel);
        let profile = self.store.get_profile(switch.profile).await?;
        let profile = match profile {
            Some(profile) if profile.login == Some(session.login) => profile,
            _ => return Err(activation_error(ActivationError::ProfileNotOfLogin, Some(switch.profile), channel)),
        };
        check_activation(session.login, &profile, channel)
            .map_err(|error| activation_error(error, Some(profile.id), channel))?;
        let presentation_role = self.presentation_role(&profile, switch.presentation_role.as_deref()).await?;
        let assigned = self.ensure_default_explicit_role(&profile).await?;

        let mut tx = self.store.db().begin().await?;
        if !self.store.lock_session(&mut tx, session.id).await? {
            return Err(CsmError::not_found("session", session.id));
        }
        let mut current = self
            .store
            .session_in(&mut tx, session.id)
            .await?
            .ok_or_else(|| CsmError::not_found("session", session.id))?;
        if current.state == SessionState::Ended {
            return Err(session_ended(session.id));
        }
        let now = csm_db::now();
        let previous_profile = current.active_profile;
        current.active_profile = profile.id;
        current.active_profile_kind = profile.kind;
        current.channel = channel;
        current.presentation_role = presentation_role;
        current.profile_switched_at = Some(now);
        current.last_active_at = now;
        self.store.save_session(&mut tx, &current).await?;
        let revision =
            self.store.append_session_change(&mut tx, &current, Operation::Updated, Some(previous_profile)).await?;
        tx.commit().await?;
        let access_token = self.access_token(&current);
        let value = SessionWithDefault {
            session: current,
            assigned_explicit_role: assigned,
            access_token,
            refresh_token: None,
        };
        Ok(self.committed(value, revision))
    }

    /// Ends a session (logout). Ending an ended session returns it unchanged.
    pub async fn end_session(&self, caller: &Caller, id: SessionId) -> CsmResult<Written<Session>> {
        const RPC: &str = "EndSession";
        let session = self.store.get_session(id).await?.ok_or_else(|| CsmError::not_found("session", id))?;
        self.authorize_own_login(caller, session.login, RPC).await?;
        if session.state == SessionState::Ended {
            let head = self.feed.head().await?;
            return Ok(self.written(session, head));
        }
        let mut tx = self.store.db().begin().await?;
        if !self.store.lock_session(&mut tx, id).await? {
            return Err(CsmError::not_found("session", id));
        }
        let mut current =
            self.store.session_in(&mut tx, id).await?.ok_or_else(|| CsmError::not_found("session", id))?;
        if current.state == SessionState::Ended {
            drop(tx);
            let head = self.feed.head().await?;
            return Ok(self.written(current, head));
        }
        current.end(EndReason::Logout, csm_db::now());
        self.store.save_session(&mut tx, &current).await?;
        let revision = self.store.append_session_change(&mut tx, &current, Operation::Updated, None).await?;
        tx.commit().await?;
        Ok(self.committed(current, revision))
    }

    /// Reads a session: services, the session's own login, people admins.
    pub async fn get_session(&self, caller: &Caller, id: SessionId) -> CsmResult<Session> {
        let session = self.store.get_session(id).await?.ok_or_else(|| CsmError::not_found("session", id))?;
        if matches!(caller, Caller::Human(_)) {
            self.authorize_own_login(caller, session.login, "GetSession").await?;
        }
        Ok(session)
    }

    /// Ends the sessions idle longer than the idle timeout, a batch per
    /// transaction, each with its change (so every service refuses their
    /// tokens). Returns how many ended.
    pub async fn end_idle_sessions(&self) -> CsmResult<usize> {
        let mut ended = 0;
        loop {
            let now = csm_db::now();
            let cutoff = now - chrono::Duration::from_std(self.sessions.idle_timeout).unwrap_or_default();
            let mut tx = self.store.db().begin().await?;
            let (count, revision) = self.store.end_idle_sessions(&mut tx, cutoff, now).await?;
            tx.commit().await?;
            if let Some(revision) = revision {
                self.feed.committed(revision);
            }
            ended += count;
            if count < crate::store::sessions::IDLE_BATCH as usize {
                return Ok(ended);
            }
        }
    }

    /// The public keys identity signs with (GetSigningKeys).
    pub fn signing_keys(&self) -> Jwks {
        self.issuer.public_keys()
    }

    /// What a credential names, as it is now: the login, the session (when
    /// named) and the acting profile (named, else the session's active one,
    /// else the login's default). Services only (the authorization matrix).
    pub async fn credential_state(
        &self,
        login: LoginKey,
        session: Option<SessionId>,
        profile: Option<ProfileId>,
    ) -> CsmResult<CredentialState> {
        // The head before the reads: every change after it reaches the caller's feed.
        let revision = self.feed.head().await?;
        let login = match login {
            LoginKey::Id(id) => self.store.get_login(id).await?,
            LoginKey::Name(name) => {
                self.store.login_credentials_by_name(&login_name_key(&name)).await?.map(|found| found.login)
            }
        };
        let session = match session {
            Some(id) => self.store.get_session(id).await?,
            None => None,
        };
        let profile_id = profile
            .or(session.as_ref().map(|session| session.active_profile))
            .or(login.as_ref().and_then(|login| login.default_profile));
        let profile = match profile_id {
            Some(id) => self.store.get_profile(id).await?,
            None => None,
        };
        Ok(CredentialState { login, session, profile, revision })
    }
}
