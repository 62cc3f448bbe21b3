//! Licence sessions (R7.1–R7.8): who holds a pool's seat through which
//! session, how it ends (logout, idle timeout, unresponsive client, expired
//! key), and when a customer's access to others' records needs a seat.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::pools::{ClientChannel, PortalLicenseMode};

/// USER (internal profile) or CUSTOMER (any external profile) (R1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User = 1,
    Customer = 2,
}

impl PrincipalKind {
    pub fn from_i64(value: i64) -> Self {
        if value == PrincipalKind::User as i64 { PrincipalKind::User } else { PrincipalKind::Customer }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active = 1,
    Ended = 2,
}

/// Why a session ended (R7.7, R7.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout = 1,
    IdleTimeout = 2,
    Unresponsive = 3,
    LicenseKeyExpired = 4,
}

impl EndReason {
    pub fn from_i64(value: i64) -> Option<Self> {
        [EndReason::Logout, EndReason::IdleTimeout, EndReason::Unresponsive, EndReason::LicenseKeyExpired]
            .into_iter()
            .find(|reason| *reason as i64 == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "LOGOUT",
            EndReason::IdleTimeout => "IDLE_TIMEOUT",
            EndReason::Unresponsive => "UNRESPONSIVE",
            EndReason::LicenseKeyExpired => "LICENSE_KEY_EXPIRED",
        }
    }
}

/// How a session came to keep a seat (R7.2, R7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatSource {
    Login = 1,
    Escalation = 2,
}

impl SeatSource {
    pub fn from_i64(value: i64) -> Option<Self> {
        match value {
            1 => Some(SeatSource::Login),
            2 => Some(SeatSource::Escalation),
            _ => None,
        }
    }
}

/// The access a customer makes to a record it does not own (R7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordAccess {
    Read = 1,
    Edit = 2,
}

/// Whether a customer's access needs a seat under `mode` (R7.5, X4).
pub fn escalation_needs_seat(mode: PortalLicenseMode, access: RecordAccess) -> bool {
    match mode {
        PortalLicenseMode::Access => true,
        PortalLicenseMode::Edit => access == RecordAccess::Edit,
    }
}

/// A licence session: one client of one person in one pool (R7.1–R7.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseSession {
    pub id: Uuid,
    pub pool_id: Uuid,
    pub login_id: Uuid,
    pub profile_id: Uuid,
    pub principal_kind: PrincipalKind,
    pub channel: ClientChannel,
    pub device_id: String,
    pub state: SessionState,
    pub seat_held: bool,
    pub seat_source: Option<SeatSource>,
    pub seat_acquired_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub last_heartbeat_at: DateTime<Utc>,
    pub idle_deadline: Option<DateTime<Utc>>,
    pub unresponsive_deadline: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<EndReason>,
}

impl LicenseSession {
    /// When and why an ACTIVE session is over at `now` by its deadlines (R7.7).
    pub fn overdue(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, EndReason)> {
        if self.state != SessionState::Active {
            return None;
        }
        let idle = self.idle_deadline.filter(|deadline| *deadline <= now);
        let unresponsive = self.unresponsive_deadline.filter(|deadline| *deadline <= now);
        match (idle, unresponsive) {
            (Some(idle), Some(unresponsive)) if unresponsive <= idle => Some((unresponsive, EndReason::Unresponsive)),
            (Some(idle), _) => Some((idle, EndReason::IdleTimeout)),
            (None, Some(unresponsive)) => Some((unresponsive, EndReason::Unresponsive)),
            (None, None) => None,
        }
    }

    /// How the session reads at `now`: one past a deadline is ended even
    /// before the expiry task has recorded it (R7.7).
    pub fn as_of(mut self, now: DateTime<Utc>) -> Self {
        if let Some((at, reason)) = self.overdue(now) {
            self.state = SessionState::Ended;
            self.seat_held = false;
            self.ended_at = Some(at);
            self.end_reason = Some(reason);
        }
        self
    }
}

/// A session the expiry step ends: when and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueSession {
    pub session_id: Uuid,
    pub pool_id: Uuid,
    pub at: DateTime<Utc>,
    pub reason: EndReason,
}

/// What acquiring a seat did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatOutcome {
    /// The person already held the pool's seat; this session joins it (R7.2).
    Joined,
    /// A free seat was taken.
    Acquired,
    /// Every seat is held (R7.1).
    Exhausted,
}

/// Filters of ListSessions.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub pool_id: Option<Uuid>,
    pub login_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    pub state: Option<SessionState>,
    pub channel: Option<ClientChannel>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_modes() {
        assert!(escalation_needs_seat(PortalLicenseMode::Access, RecordAccess::Read));
        assert!(!escalation_needs_seat(PortalLicenseMode::Edit, RecordAccess::Read));
        assert!(escalation_needs_seat(PortalLicenseMode::Edit, RecordAccess::Edit));
    }
}
