//! identity sessions: a login on one channel with one active profile (R1.9),
//! its access and refresh tokens, the idle timeout and the limits on
//! guessing passwords — pure types and rules, no I/O.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use csm_types::{LoginId, ProfileId, SessionId};
use sha2::{Digest as _, Sha256};

use crate::domain::people::{Channel, Password, Profile, ProfileKind};

/// State of a session (R1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active,
    Ended,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Active => "active",
            SessionState::Ended => "ended",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(SessionState::Active),
            "ended" => Some(SessionState::Ended),
            _ => None,
        }
    }
}

/// A login session on one channel with exactly one active profile (R1.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub login: LoginId,
    pub channel: Channel,
    pub active_profile: ProfileId,
    pub active_profile_kind: ProfileKind,
    pub presentation_role: String,
    pub state: SessionState,
    pub started_at: DateTime<Utc>,
    pub profile_switched_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The idle clock: the last StartSession, SwitchProfile or RefreshSession.
    pub last_active_at: DateTime<Utc>,
    pub end_reason: Option<EndReason>,
}

impl Session {
    /// Whether the session has seen no activity for `idle_timeout` (then it ends).
    pub fn is_idle(&self, now: DateTime<Utc>, idle_timeout: Duration) -> bool {
        self.state == SessionState::Active
            && now.signed_duration_since(self.last_active_at).to_std().is_ok_and(|idle| idle >= idle_timeout)
    }

    /// Ends the session now for `reason` (no-op when it has ended already).
    pub fn end(&mut self, reason: EndReason, now: DateTime<Utc>) {
        if self.state == SessionState::Active {
            self.state = SessionState::Ended;
            self.ended_at = Some(now);
            self.end_reason = Some(reason);
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    IdleTimeout,
    LoginDisabled,
    ProfileInactive,
}

impl EndReason {
    /// The stored and wire form (`Session.end_reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "LOGOUT",
            EndReason::IdleTimeout => "IDLE_TIMEOUT",
            EndReason::LoginDisabled => "LOGIN_DISABLED",
            EndReason::ProfileInactive => "PROFILE_INACTIVE",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [EndReason::Logout, EndReason::IdleTimeout, EndReason::LoginDisabled, EndReason::ProfileInactive]
            .into_iter()
            .find(|reason| reason.as_str() == value)
    }
}

/// How a person proves who it is to StartSession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    Password(Password),
    /// Asserted by a trusted gateway (service caller only).
    PreAuthenticated,
}

/// A validated StartSession request (R1.7, R1.9, R2.13a, R6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStart {
    pub login_name: String,
    pub proof: Proof,
    pub channel: Channel,
    pub profile: Option<ProfileId>,
    pub presentation_role: Option<String>,
}

/// A validated SwitchProfile request (R1.9, X9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSwitch {
    pub session: SessionId,
    pub profile: ProfileId,
    /// None keeps the session's channel.
    pub channel: Option<Channel>,
    pub presentation_role: Option<String>,
}

/// Why a profile cannot be activated on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationError {
    /// The requested profile belongs to another login (or none).
    ProfileNotOfLogin,
    /// The profile is inactive (R4.8).
    ProfileInactive,
    /// No (suitable) profile holds the channel (R1.7).
    NoChannelCredential,
}

/// Whether `profile` (of `login`) may be activated on `channel` (R1.7, R1.9).
pub fn check_activation(login: LoginId, profile: &Profile, channel: Channel) -> Result<(), ActivationError> {
    if profile.login != Some(login) {
        return Err(ActivationError::ProfileNotOfLogin);
    }
    if !profile.active {
        return Err(ActivationError::ProfileInactive);
    }
    if !profile.holds_channel(channel) {
        return Err(ActivationError::NoChannelCredential);
    }
    Ok(())
}

/// StartSession's choice of the profile to activate when none is requested:
/// the login's default profile if it is active and holds the channel, else the
/// first (by id) active profile holding the channel (R1.7, R1.9).
/// `profiles` are the login's profiles.
pub fn default_session_profile(
    default_profile: Option<ProfileId>,
    profiles: &[Profile],
    channel: Channel,
) -> Result<&Profile, ActivationError> {
    let usable = |profile: &&Profile| profile.active && profile.holds_channel(channel);
    if let Some(default) = default_profile.and_then(|id| profiles.iter().find(|profile| profile.id == id))
        && usable(&default)
    {
        return Ok(default);
    }
    let mut candidates: Vec<&Profile> = profiles.iter().filter(usable).collect();
    candidates.sort_by_key(|profile| profile.id);
    if let Some(first) = candidates.first() {
        return Ok(first);
    }
    // Only inactive profiles hold the channel: say so rather than "no credential".
    if profiles.iter().any(|profile| profile.holds_channel(channel)) {
        return Err(ActivationError::ProfileInactive);
    }
    Err(ActivationError::NoChannelCredential)
}

// ---------------------------------------------------------------- refresh tokens

/// A session's refresh token: `<session id>.<secret>`. identity keeps only
/// the SHA-256 of the secret; the token is shown once, by StartSession.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub session: SessionId,
    secret: String,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken").field("session", &self.session).finish_non_exhaustive()
    }
}

impl RefreshToken {
    /// A new token of `session` with 256 random bits.
    pub fn generate(session: SessionId) -> Self {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the operating system provides random bytes");
        Self { session, secret: URL_SAFE_NO_PAD.encode(secret) }
    }

    /// Parses the wire form; `None` for anything malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let (session, secret) = value.trim().split_once('.')?;
        let session = SessionId::parse(session).ok()?;
        (secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| Self { session, secret: secret.to_owned() })
    }

    /// What the client holds.
    pub fn expose(&self) -> String {
        format!("{}.{}", self.session, self.secret)
    }

    /// What identity stores (hex SHA-256 of the secret).
    pub fn hash(&self) -> String {
        Sha256::digest(self.secret.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

// ---------------------------------------------------------------- guessing limits

/// Limits on failed password attempts (StartSession).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    pub per_login: u32,
    pub per_address: u32,
    pub window: Duration,
}

/// Failed attempts seen within the window: how many, and when the oldest was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub oldest: Option<DateTime<Utc>>,
}

/// Whether another password attempt may be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    Allow,
    /// Refused until the oldest failure counted leaves the window.
    Refuse {
        retry_after: Duration,
        by_address: bool,
    },
}

/// The decision for one attempt given the failures of its login and of its client address.
pub fn throttle(limits: &AttemptLimits, login: Failures, address: Failures, now: DateTime<Utc>) -> Throttle {
    let retry_after = |failures: Failures| {
        let oldest = failures.oldest.unwrap_or(now);
        let elapsed = now.signed_duration_since(oldest).to_std().unwrap_or_default();
        limits.window.saturating_sub(elapsed).max(Duration::from_secs(1))
    };
    if login.count >= limits.per_login {
        return Throttle::Refuse { retry_after: retry_after(login), by_address: false };
    }
    if address.count >= limits.per_address {
        return Throttle::Refuse { retry_after: retry_after(address), by_address: true };
    }
    Throttle::Allow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::people::test_profile as profile;

    #[test]
    fn r1_9_the_default_profile_is_preferred_then_the_first_holding_the_channel() {
        let login = LoginId::new();
        let first = profile(ProfileKind::Internal, Some(login), &[Channel::Browser], true);
        let second = profile(ProfileKind::Internal, Some(login), &[Channel::Browser], true);
        let portal = profile(ProfileKind::Contact, Some(login), &[Channel::CustomerPortal], true);
        let profiles = vec![second.clone(), first.clone(), portal.clone()];
        assert_eq!(default_session_profile(None, &profiles, Channel::Browser).unwrap().id, first.id);
        assert_eq!(default_session_profile(Some(second.id), &profiles, Channel::Browser).unwrap().id, second.id);
        // The default does not hold the channel: fall back to the first that does.
        assert_eq!(default_session_profile(Some(portal.id), &profiles, Channel::Browser).unwrap().id, first.id);
        assert_eq!(
            default_session_profile(None, &profiles, Channel::ConsumerPortal).unwrap_err(),
            ActivationError::NoChannelCredential
        );
        let inactive = profile(ProfileKind::Consumer, Some(login), &[Channel::ConsumerPortal], false);
        assert_eq!(
            default_session_profile(None, &[inactive], Channel::ConsumerPortal).unwrap_err(),
            ActivationError::ProfileInactive
        );
    }

    #[test]
    fn r1_7_activation_needs_the_login_an_active_profile_and_the_channel() {
        let login = LoginId::new();
        let user = profile(ProfileKind::Internal, Some(login), &[Channel::Browser], true);
        assert_eq!(check_activation(login, &user, Channel::Browser), Ok(()));
        assert_eq!(check_activation(login, &user, Channel::CustomerPortal), Err(ActivationError::NoChannelCredential));
        assert_eq!(check_activation(LoginId::new(), &user, Channel::Browser), Err(ActivationError::ProfileNotOfLogin));
        let inactive = profile(ProfileKind::Internal, Some(login), &[Channel::Browser], false);
        assert_eq!(check_activation(login, &inactive, Channel::Browser), Err(ActivationError::ProfileInactive));
    }

    #[test]
    fn r1_9_sessions_end_after_the_idle_timeout() {
        let now = Utc::now();
        let mut session = Session {
            id: SessionId::new(),
            login: LoginId::new(),
            channel: Channel::Browser,
            active_profile: ProfileId::new(),
            active_profile_kind: ProfileKind::Internal,
            presentation_role: String::new(),
            state: SessionState::Active,
            started_at: now,
            profile_switched_at: None,
            ended_at: None,
            last_active_at: now - chrono::Duration::minutes(31),
            end_reason: None,
        };
        assert!(session.is_idle(now, Duration::from_secs(1800)));
        assert!(!session.is_idle(now, Duration::from_secs(3600)));
        session.end(EndReason::IdleTimeout, now);
        assert_eq!(session.end_reason, Some(EndReason::IdleTimeout));
        assert!(!session.is_idle(now, Duration::from_secs(1800)), "an ended session is not idle");
        session.end(EndReason::Logout, now);
        assert_eq!(session.end_reason, Some(EndReason::IdleTimeout), "ending twice keeps the first reason");
    }

    #[test]
    fn refresh_tokens_round_trip_and_hash_their_secret_only() {
        let session = SessionId::new();
        let token = RefreshToken::generate(session);
        let parsed = RefreshToken::parse(&token.expose()).unwrap();
        assert_eq!(parsed, token);
        assert_eq!(parsed.hash(), token.hash());
        assert_ne!(RefreshToken::generate(session).hash(), token.hash());
        assert!(!format!("{token:?}").contains(&token.expose()[37..]));
        assert_eq!(RefreshToken::parse("garbage"), None);
        assert_eq!(RefreshToken::parse(&format!("{session}.short")), None);
    }

    #[test]
    fn guessing_is_limited_per_login_and_per_address() {
        let limits = AttemptLimits { per_login: 5, per_address: 20, window: Duration::from_secs(900) };
        let now = Utc::now();
        let failures =
            |count, minutes_ago: i64| Failures { count, oldest: Some(now - chrono::Duration::minutes(minutes_ago)) };
        assert_eq!(throttle(&limits, failures(4, 1), failures(4, 1), now), Throttle::Allow);
        assert_eq!(
            throttle(&limits, failures(5, 10), failures(5, 10), now),
            Throttle::Refuse { retry_after: Duration::from_secs(300), by_address: false }
        );
        assert!(matches!(
            throttle(&limits, failures(0, 0), failures(20, 1), now),
            Throttle::Refuse { by_address: true, .. }
        ));
    }
}
