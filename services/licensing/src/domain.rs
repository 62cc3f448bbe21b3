//! Licensing rules (SPEC §7): pure, no I/O. The enums carry the numbers of the
//! contract's enums so they can be stored and converted without a table.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone as _, Utc};

/// A client application (R7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientChannel {
    Desktop = 1,
    Browser = 2,
    Mobile = 3,
    OutlookAddin = 4,
    RestApi = 5,
    Portal = 6,
    Administrator = 7,
    AutoDeploy = 8,
    DashboardViewer = 9,
    ImportUtility = 10,
}

impl ClientChannel {
    pub const ALL: [ClientChannel; 10] = [
        ClientChannel::Desktop,
        ClientChannel::Browser,
        ClientChannel::Mobile,
        ClientChannel::OutlookAddin,
        ClientChannel::RestApi,
        ClientChannel::Portal,
        ClientChannel::Administrator,
        ClientChannel::AutoDeploy,
        ClientChannel::DashboardViewer,
        ClientChannel::ImportUtility,
    ];

    /// The default consuming channels of a pool (R7.3).
    pub const DEFAULT_CONSUMING: [ClientChannel; 6] = [
        ClientChannel::Desktop,
        ClientChannel::Browser,
        ClientChannel::Mobile,
        ClientChannel::OutlookAddin,
        ClientChannel::RestApi,
        ClientChannel::Portal,
    ];

    pub fn from_i64(value: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| *channel as i64 == value)
    }

    /// ADMINISTRATOR, AUTO_DEPLOY, DASHBOARD_VIEWER and IMPORT_UTILITY never consume (R7.3).
    pub fn never_consumes(self) -> bool {
        matches!(
            self,
            ClientChannel::Administrator
                | ClientChannel::AutoDeploy
                | ClientChannel::DashboardViewer
                | ClientChannel::ImportUtility
        )
    }

    /// BROWSER and PORTAL follow the browser session timeout (R7.7).
    pub fn is_browser_like(self) -> bool {
        matches!(self, ClientChannel::Browser | ClientChannel::Portal)
    }
}

/// `portal_license_on` (R7.5, X4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalLicenseMode {
    Access = 1,
    Edit = 2,
}

impl PortalLicenseMode {
    pub fn from_i64(value: i64) -> Self {
        if value == PortalLicenseMode::Edit as i64 { PortalLicenseMode::Edit } else { PortalLicenseMode::Access }
    }
}

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

/// Products licensed by named seats (R7.10, R7.13, R4.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicensedProduct {
    JiraServiceManagement = 1,
    Jira = 2,
    ServicenowCsm = 3,
}

impl LicensedProduct {
    pub fn from_i64(value: i64) -> Option<Self> {
        match value {
            1 => Some(LicensedProduct::JiraServiceManagement),
            2 => Some(LicensedProduct::Jira),
            3 => Some(LicensedProduct::ServicenowCsm),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatKind {
    Agent = 1,
    Collaborator = 2,
}

impl SeatKind {
    pub fn from_i64(value: i64) -> Option<Self> {
        match value {
            1 => Some(SeatKind::Agent),
            2 => Some(SeatKind::Collaborator),
            _ => None,
        }
    }

    /// Collaborators only on JIRA plans, agents only on the others (R7.13).
    pub fn fits(self, product: LicensedProduct) -> bool {
        match self {
            SeatKind::Collaborator => product == LicensedProduct::Jira,
            SeatKind::Agent => product != LicensedProduct::Jira,
        }
    }
}

/// HasAgentLicense's answer (R7.11, R7.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentLicenseStatus {
    Licensed = 1,
    NoSeatPlan = 2,
    NoSeat = 3,
    CollaboratorOnly = 4,
    LicenseExpired = 5,
    SeatsOverrun = 6,
}

/// `hasAgentLicense`: an AGENT seat in a valid plan that is not overrun (R7.11).
pub fn agent_license_status(
    plan_exists: bool,
    seat_kind: Option<SeatKind>,
    is_customer: bool,
    license_valid: bool,
    overrun: bool,
) -> AgentLicenseStatus {
    if !plan_exists {
        return AgentLicenseStatus::NoSeatPlan;
    }
    match seat_kind {
        // Customers need and hold no agent licence (R7.9).
        _ if is_customer => AgentLicenseStatus::NoSeat,
        None => AgentLicenseStatus::NoSeat,
        Some(SeatKind::Collaborator) => AgentLicenseStatus::CollaboratorOnly,
        Some(SeatKind::Agent) if !license_valid => AgentLicenseStatus::LicenseExpired,
        Some(SeatKind::Agent) if overrun => AgentLicenseStatus::SeatsOverrun,
        Some(SeatKind::Agent) => AgentLicenseStatus::Licensed,
    }
}

/// Why a seat was refused (R7.1, R7.6, R7.8, R7.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialReason {
    LicensePoolExhausted = 1,
    LicenseRightMissing = 2,
    LicenseKeyExpired = 3,
    AgentSeatsExhausted = 4,
}

impl DenialReason {
    pub const ALL: [DenialReason; 4] = [
        DenialReason::LicensePoolExhausted,
        DenialReason::LicenseRightMissing,
        DenialReason::LicenseKeyExpired,
        DenialReason::AgentSeatsExhausted,
    ];

    pub fn from_i64(value: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| *reason as i64 == value)
    }
}

/// The settings of a pool an admin writes (validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    pub name: String,
    pub seat_count: i64,
    /// "YYYY-MM-DD" or empty.
    pub license_expiration_date: String,
    pub time_zone: String,
    pub idle_timeout_minutes: i64,
    pub browser_idle_timeout_minutes: i64,
    pub inactivity_warning_minutes: i64,
    pub auto_release_after_minutes: i64,
    pub portal_license_on: PortalLicenseMode,
    pub consuming_channels: Vec<ClientChannel>,
}

/// The recommended auto-release delay (R7.7).
pub const DEFAULT_AUTO_RELEASE_MINUTES: i64 = 90;

/// Longest accepted timeout (a year), so deadlines never overflow.
pub const MAX_TIMEOUT_MINUTES: i64 = 525_600;

impl PoolSettings {
    /// The idle timeout of `channel`: browser/portal use the browser timeout
    /// when set (R7.7); 0 = none.
    pub fn idle_timeout_for(&self, channel: ClientChannel) -> i64 {
        if channel.is_browser_like() && self.browser_idle_timeout_minutes > 0 {
            self.browser_idle_timeout_minutes
        } else {
            self.idle_timeout_minutes
        }
    }

    /// The rule violations of these settings, as (field, description).
    pub fn violations(&self) -> Vec<(&'static str, String)> {
        let mut violations = Vec::new();
        if self.seat_count < 0 {
            violations.push(("pool.seat_count", "must not be negative".to_owned()));
        }
        for (field, value) in [
            ("pool.idle_timeout_minutes", self.idle_timeout_minutes),
            ("pool.browser_idle_timeout_minutes", self.browser_idle_timeout_minutes),
            ("pool.inactivity_warning_minutes", self.inactivity_warning_minutes),
            ("pool.auto_release_after_minutes", self.auto_release_after_minutes),
        ] {
            if !(0..=MAX_TIMEOUT_MINUTES).contains(&value) {
                violations.push((field, format!("must be between 0 and {MAX_TIMEOUT_MINUTES}")));
            }
        }
        if self.inactivity_warning_minutes > 0 {
            for timeout in [self.idle_timeout_minutes, self.browser_idle_timeout_minutes] {
                if timeout > 0 && self.inactivity_warning_minutes >= timeout {
                    violations.push((
                        "pool.inactivity_warning_minutes",
                        "must be below the applicable idle timeout".to_owned(),
                    ));
                    break;
                }
            }
        }
        if self.consuming_channels.iter().any(|channel| channel.never_consumes()) {
            violations.push((
                "pool.consuming_channels",
                "ADMINISTRATOR, AUTO_DEPLOY, DASHBOARD_VIEWER and IMPORT_UTILITY never consume".to_owned(),
            ));
        }
        violations
    }
}

/// The deadlines of a session after activity at `last_activity` and a
/// heartbeat at `last_heartbeat` (R7.7). None = no such deadline.
pub fn deadlines(
    settings: &PoolSettings,
    channel: ClientChannel,
    last_activity: DateTime<Utc>,
    last_heartbeat: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let idle = settings.idle_timeout_for(channel);
    let idle_deadline = (idle > 0).then(|| last_activity + Duration::minutes(idle));
    let unresponsive_deadline = (settings.auto_release_after_minutes > 0)
        .then(|| last_heartbeat + Duration::minutes(settings.auto_release_after_minutes));
    (idle_deadline, unresponsive_deadline)
}

/// Whether a heartbeat at `now` falls in the warning period before `idle_deadline`.
pub fn idle_warning(settings: &PoolSettings, idle_deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match idle_deadline {
        Some(deadline) if settings.inactivity_warning_minutes > 0 => {
            now < deadline && deadline - now <= Duration::minutes(settings.inactivity_warning_minutes)
        }
        _ => false,
    }
}

/// A time zone this build can evaluate without a time-zone database: UTC or a
/// fixed offset ("+02:00", "UTC+2", "-0530").
pub fn parse_time_zone(value: &str) -> Result<FixedOffset, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("UTC") || trimmed.eq_ignore_ascii_case("Etc/UTC") {
        return Ok(FixedOffset::east_opt(0).expect("zero offset"));
    }
    let offset = trimmed.strip_prefix("UTC").or_else(|| trimmed.strip_prefix("GMT")).unwrap_or(trimmed);
    let (sign, rest) = match offset.as_bytes().first() {
        Some(b'+') => (1, &offset[1..]),
        Some(b'-') => (-1, &offset[1..]),
        _ => {
            return Err(format!(
                "time zone {value:?} is not supported: use UTC or a fixed offset such as +01:00 \
                 (no IANA time-zone database is built in)"
            ));
        }
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok(), Some(0)),
        3 | 4 => {
            let split = digits.len() - 2;
            (digits[..split].parse::<i32>().ok(), digits[split..].parse::<i32>().ok())
        }
        _ => (None, None),
    };
    match (hours, minutes) {
        (Some(hours), Some(minutes)) if hours <= 14 && minutes < 60 && digits.chars().all(|c| c.is_ascii_digit()) => {
            FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
                .ok_or_else(|| format!("time zone {value:?} is out of range"))
        }
        _ => Err(format!("time zone {value:?} is not a valid offset such as +01:00")),
    }
}

/// The instant a licence key dated `date` expires: 00:00 at the start of that
/// date in `zone` (R7.8).
pub fn license_expires_at(date: &str, zone: FixedOffset) -> Result<DateTime<Utc>, String> {
    let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| format!("must be a date YYYY-MM-DD, got {date:?}"))?;
    let midnight = date.and_hms_opt(0, 0, 0).ok_or("invalid date")?;
    zone.from_local_datetime(&midnight)
        .single()
        .map(|instant| instant.with_timezone(&Utc))
        .ok_or_else(|| "the date has no midnight in the time zone".to_owned())
}

/// Microseconds since the epoch (the stored form of instants).
pub fn micros(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

pub fn from_micros(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PoolSettings {
        PoolSettings {
            name: "p".to_owned(),
            seat_count: 2,
            license_expiration_date: String::new(),
            time_zone: String::new(),
            idle_timeout_minutes: 30,
            browser_idle_timeout_minutes: 20,
            inactivity_warning_minutes: 5,
            auto_release_after_minutes: 90,
            portal_license_on: PortalLicenseMode::Access,
            consuming_channels: ClientChannel::DEFAULT_CONSUMING.to_vec(),
        }
    }

    #[test]
    fn browser_sessions_use_the_browser_timeout() {
        let settings = settings();
        assert_eq!(settings.idle_timeout_for(ClientChannel::Browser), 20);
        assert_eq!(settings.idle_timeout_for(ClientChannel::Portal), 20);
        assert_eq!(settings.idle_timeout_for(ClientChannel::Desktop), 30);
        let now = Utc::now();
        let (idle, unresponsive) = deadlines(&settings, ClientChannel::Desktop, now, now);
        assert_eq!(idle, Some(now + Duration::minutes(30)));
        assert_eq!(unresponsive, Some(now + Duration::minutes(90)));
        assert!(idle_warning(&settings, idle, now + Duration::minutes(26)));
        assert!(!idle_warning(&settings, idle, now + Duration::minutes(20)));
    }

    #[test]
    fn non_consuming_channels_are_refused_as_consuming() {
        let mut settings = settings();
        settings.consuming_channels.push(ClientChannel::Administrator);
        settings.inactivity_warning_minutes = 40;
        let fields: Vec<_> = settings.violations().into_iter().map(|(field, _)| field).collect();
        assert_eq!(fields, vec!["pool.inactivity_warning_minutes", "pool.consuming_channels"]);
    }

    #[test]
    fn keys_expire_at_local_midnight() {
        let berlin_winter = parse_time_zone("+01:00").unwrap();
        let expires = license_expires_at("2030-01-15", berlin_winter).unwrap();
        assert_eq!(expires.to_rfc3339(), "2030-01-14T23:00:00+00:00");
        assert_eq!(
            license_expires_at("2030-01-15", parse_time_zone("").unwrap()).unwrap().to_rfc3339(),
            "2030-01-15T00:00:00+00:00"
        );
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert_eq!(parse_time_zone("UTC-0530").unwrap().local_minus_utc(), -(5 * 3600 + 30 * 60));
        assert!(license_expires_at("2030-13-01", berlin_winter).is_err());
    }

    #[test]
    fn escalation_modes() {
        assert!(escalation_needs_seat(PortalLicenseMode::Access, RecordAccess::Read));
        assert!(!escalation_needs_seat(PortalLicenseMode::Edit, RecordAccess::Read));
        assert!(escalation_needs_seat(PortalLicenseMode::Edit, RecordAccess::Edit));
    }

    #[test]
    fn agent_licence_needs_a_valid_not_overrun_agent_seat() {
        use AgentLicenseStatus::*;
        assert_eq!(agent_license_status(false, None, false, true, false), NoSeatPlan);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), false, true, false), Licensed);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), false, true, true), SeatsOverrun);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), false, false, false), LicenseExpired);
        assert_eq!(agent_license_status(true, Some(SeatKind::Collaborator), false, true, false), CollaboratorOnly);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), true, true, false), NoSeat);
        assert!(!SeatKind::Collaborator.fits(LicensedProduct::JiraServiceManagement));
        assert!(SeatKind::Collaborator.fits(LicensedProduct::Jira));
        assert!(!SeatKind::Agent.fits(LicensedProduct::Jira));
    }
}
