//! Typed column access that reads the same on both backends.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

/// Column getters shared by [`SqliteRow`] and [`PgRow`], so row-to-domain
/// conversions are written once.
pub trait DbRow {
    fn uuid(&self, column: &str) -> Result<Uuid, sqlx::Error>;
    fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>, sqlx::Error>;
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn boolean(&self, column: &str) -> Result<bool, sqlx::Error>;
    fn timestamp(&self, column: &str) -> Result<DateTime<Utc>, sqlx::Error>;
    fn opt_timestamp(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
}

macro_rules! impl_db_row {
    ($row:ty) => {
        impl DbRow for $row {
            fn uuid(&self, column: &str) -> Result<Uuid, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>, sqlx::Error> {
                self.try_get(column)
            }
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn boolean(&self, column: &str) -> Result<bool, sqlx::Error> {
                self.try_get(column)
            }
            fn timestamp(&self, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_timestamp(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

impl_db_row!(SqliteRow);
impl_db_row!(PgRow);
