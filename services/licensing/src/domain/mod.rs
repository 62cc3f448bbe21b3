//! Licensing rules (SPEC §7): pure types and rules, no I/O. One module per
//! area. The enums carry the numbers of the contract's enums so they can be
//! stored and converted without a table.

pub mod agent_seats;
pub mod pools;
pub mod rights;
pub mod sessions;
pub mod usage;

use chrono::{DateTime, Utc};

/// Microseconds since the epoch (the stored form of instants).
pub fn micros(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

pub fn from_micros(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value).unwrap_or_default()
}
