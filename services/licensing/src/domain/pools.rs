//! Concurrent licence pools (R7.1–R7.3, R7.7, R7.8): their settings, the
//! channels that consume a seat, idle and unresponsive deadlines, licence-key
//! expiry.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone as _, Utc};
use uuid::Uuid;

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

/// A concurrent licence pool (R7.1): its settings and the seats held now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicensePool {
    pub id: Uuid,
    pub settings: PoolSettings,
    pub seats_used: i64,
    pub license_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LicensePool {
    /// Whether the licence key has expired at `now` (R7.8).
    pub fn key_expired(&self, now: DateTime<Utc>) -> bool {
        self.license_expires_at.is_some_and(|expires| expires <= now)
    }
}

/// The fields an UpdatePool names (None = unchanged).
#[derive(Debug, Clone, Default)]
pub struct PoolPatch {
    pub name: Option<String>,
    pub seat_count: Option<i64>,
    pub license_expiration_date: Option<String>,
    pub time_zone: Option<String>,
    pub idle_timeout_minutes: Option<i64>,
    pub browser_idle_timeout_minutes: Option<i64>,
    pub inactivity_warning_minutes: Option<i64>,
    pub auto_release_after_minutes: Option<i64>,
    pub portal_license_on: Option<PortalLicenseMode>,
    pub consuming_channels: Option<Vec<ClientChannel>>,
}

impl PoolPatch {
    /// Writes the named fields into `settings` (texts trimmed; no consuming
    /// channels means the default ones). Validation is the caller's.
    pub fn apply_to(self, settings: &mut PoolSettings) {
        if let Some(name) = self.name {
            settings.name = name.trim().to_owned();
        }
        if let Some(value) = self.seat_count {
            settings.seat_count = value;
        }
        if let Some(value) = self.license_expiration_date {
            settings.license_expiration_date = value.trim().to_owned();
        }
        if let Some(value) = self.time_zone {
            settings.time_zone = value.trim().to_owned();
        }
        if let Some(value) = self.idle_timeout_minutes {
            settings.idle_timeout_minutes = value;
        }
        if let Some(value) = self.browser_idle_timeout_minutes {
            settings.browser_idle_timeout_minutes = value;
        }
        if let Some(value) = self.inactivity_warning_minutes {
            settings.inactivity_warning_minutes = value;
        }
        if let Some(value) = self.auto_release_after_minutes {
            settings.auto_release_after_minutes = value;
        }
        if let Some(value) = self.portal_license_on {
            settings.portal_license_on = value;
        }
        if let Some(channels) = self.consuming_channels {
            settings.consuming_channels =
                if channels.is_empty() { ClientChannel::DEFAULT_CONSUMING.to_vec() } else { channels };
        }
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

/// How often a client should heartbeat: a third of the auto-release delay,
/// at most a minute.
pub fn heartbeat_interval(settings: &PoolSettings) -> StdDuration {
    let minute = StdDuration::from_secs(60);
    if settings.auto_release_after_minutes > 0 {
        StdDuration::from_secs((settings.auto_release_after_minutes as u64 * 60 / 3).max(1)).min(minute)
    } else {
        minute
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
}
