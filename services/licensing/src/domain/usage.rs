//! Usage history and refusals (R7.1, R7.6, R7.8, R7.11): seats in use over
//! time, current seat holders, peak usage per bucket, and the denials recorded
//! when a seat was refused.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::sessions::SeatSource;

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

/// A recorded refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub id: Uuid,
    pub reason: DenialReason,
    pub pool_id: Option<Uuid>,
    pub seat_plan_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub login_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    /// Contract number of the channel; 0 = none.
    pub channel: i64,
    /// Contract number of the record access; 0 = none.
    pub access: i64,
    pub record_type: String,
    pub record_id: String,
    pub occurred_at: DateTime<Utc>,
}

/// Filters of ListDenials / CountDenials.
#[derive(Debug, Clone, Default)]
pub struct DenialFilter {
    pub pool_id: Option<Uuid>,
    pub seat_plan_id: Option<Uuid>,
    pub reason: Option<DenialReason>,
    pub login_id: Option<Uuid>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Grouped denial counts in reason order.
pub fn denial_counts_total(counts: &[(DenialReason, i64)]) -> i64 {
    counts.iter().map(|(_, count)| count).sum()
}

/// A current seat holder (R7.1, R7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatHolder {
    pub login_id: Uuid,
    pub source: SeatSource,
    pub acquired_at: DateTime<Utc>,
    pub session_count: i64,
    pub profile_ids: Vec<Uuid>,
}

/// One change of a pool's seats in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageEvent {
    pub at: DateTime<Utc>,
    pub seats_in_use: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeakBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub peak: i64,
    pub denials: i64,
}

/// The peak of a pool's seats in use over a period, overall and per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeakProfile {
    pub peak: i64,
    pub peak_at: DateTime<Utc>,
    pub buckets: Vec<PeakBucket>,
}

/// The peak usage of [start, end) in buckets of `width` (the last one cut at
/// `end`), from the seats in use before `start` (`level`), the usage changes
/// of the period in time order and the instants of its denials.
pub fn peak_profile(
    mut level: i64,
    events: Vec<UsageEvent>,
    denials: &[DateTime<Utc>],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    width: Duration,
) -> PeakProfile {
    let mut buckets = Vec::new();
    let mut peak = level;
    let mut peak_at = start;
    let mut events = events.into_iter().peekable();
    let mut bucket_start = start;
    while bucket_start < end {
        let bucket_end = (bucket_start + width).min(end);
        let mut bucket_peak = level;
        while let Some(event) = events.next_if(|event| event.at < bucket_end) {
            level = event.seats_in_use;
            bucket_peak = bucket_peak.max(level);
            if level > peak {
                peak = level;
                peak_at = event.at;
            }
        }
        let denial_count = denials.iter().filter(|at| **at >= bucket_start && **at < bucket_end).count() as i64;
        buckets.push(PeakBucket { start: bucket_start, end: bucket_end, peak: bucket_peak, denials: denial_count });
        bucket_start = bucket_end;
    }
    PeakProfile { peak, peak_at, buckets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_carry_the_level_into_later_buckets() {
        let start = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let minutes = |n| start + Duration::minutes(n);
        let events =
            vec![UsageEvent { at: minutes(10), seats_in_use: 3 }, UsageEvent { at: minutes(70), seats_in_use: 2 }];
        let profile = peak_profile(1, events, &[minutes(5), minutes(90)], start, minutes(150), Duration::hours(1));
        assert_eq!(profile.peak, 3);
        assert_eq!(profile.peak_at, minutes(10));
        let summary: Vec<_> = profile.buckets.iter().map(|bucket| (bucket.end, bucket.peak, bucket.denials)).collect();
        assert_eq!(summary, vec![(minutes(60), 3, 1), (minutes(120), 3, 1), (minutes(150), 2, 0)]);
    }
}
