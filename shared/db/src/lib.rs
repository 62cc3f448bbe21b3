//! Database access shared by the services.
//!
//! [`Db`] is a pool for one of the two backends. Store code is written once
//! with the [`with_db!`] / [`with_tx!`] macros, which expand the same body for
//! SQLite and PostgreSQL, so both paths type-check on every build (sqlx's `Any`
//! driver cannot carry UUIDs or timestamps). SQL uses `$1, $2…` placeholders,
//! which both backends accept.
//!
//! URLs: `sqlite://path/to/file.db` (created if missing; WAL) or
//! `postgres://user@host:port/db`. A PostgreSQL URL may carry
//! `csm_schema=<name>`: the schema is created if missing and becomes the
//! `search_path` of every connection (one schema per service on one cluster).

pub mod migrate;
pub mod paging;
pub mod row;
pub mod testing;

use std::str::FromStr;
use std::time::Duration;

use csm_errors::CsmError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub use migrate::{Migration, Migrations};
pub use paging::PageRequest;
pub use row::DbRow;

/// A connection pool for one backend.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on one backend.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Pool settings; [`PoolSettings::default`] suits one service process.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 10, acquire_timeout: Duration::from_secs(10) }
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$db`.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$tx` bound to the concrete transaction of `$tx_expr`
/// (use `&mut **$tx` as the executor).
#[macro_export]
macro_rules! with_tx {
    ($tx_expr:expr, |$tx:ident| $body:expr) => {
        match $tx_expr {
            $crate::Tx::Sqlite($tx) => $body,
            $crate::Tx::Postgres($tx) => $body,
        }
    };
}

impl Db {
    /// Connects to `url` (see the crate docs for the URL forms).
    pub async fn connect(url: &str, settings: &PoolSettings) -> anyhow::Result<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|error| anyhow::anyhow!("invalid SQLite URL {url:?}: {error}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Writers queue on SQLite's lock instead of failing with SQLITE_BUSY.
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let (url, schema) = split_schema_parameter(url)?;
            let options =
                PgConnectOptions::from_str(&url).map_err(|error| anyhow::anyhow!("invalid PostgreSQL URL: {error}"))?;
            let options = match &schema {
                Some(schema) => options.options([("search_path", schema.as_str())]),
                None => options,
            };
            if let Some(schema) = &schema {
                // Create the schema with a one-off connection before the pool uses it.
                let bootstrap = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(PgConnectOptions::from_str(&url)?)
                    .await?;
                sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(&bootstrap).await?;
                bootstrap.close().await;
            }
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            anyhow::bail!("database URL must start with sqlite: or postgres:, got {url:?}")
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx, CsmError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await.map_err(db_error)?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await.map_err(db_error)?),
        })
    }

    /// True when a trivial read of the database succeeds (health checks).
    /// SQLite answers `SELECT 1` without touching the file, so its probe
    /// reads the schema table: a locked or unreadable file fails it.
    pub async fn is_usable(&self) -> bool {
        match self {
            Db::Sqlite(pool) => sqlx::query("SELECT count(*) FROM sqlite_master").execute(pool).await.is_ok(),
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
        }
    }

    /// Connections in use and the pool size (saturation).
    pub fn pool_usage(&self) -> (u32, u32) {
        with_db!(self, |pool| (pool.size() - pool.num_idle() as u32, pool.size()))
    }

    /// The pool's connections now (the database pool gauges of docs/metrics.md).
    pub fn pool_stats(&self) -> PoolStats {
        with_db!(self, |pool| {
            let open = pool.size();
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
            PoolStats { open, idle, in_use: open - idle, max: pool.options().get_max_connections() }
        })
    }

    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}

/// A snapshot of a pool's connections ([`Db::pool_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub open: u32,
    pub idle: u32,
    pub in_use: u32,
    /// The pool's upper bound (`CSM_DATABASE_MAX_CONNECTIONS`): `in_use == max` is saturation.
    pub max: u32,
}

impl Tx {
    pub async fn commit(self) -> Result<(), CsmError> {
        with_tx!(self, |tx| tx.commit().await.map_err(db_error))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Splits our own `csm_schema=<name>` parameter off a PostgreSQL URL.
fn split_schema_parameter(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("csm_schema", value)) => {
                anyhow::ensure!(
                    !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "csm_schema must be letters, digits and underscores, got {value:?}"
                );
                schema = Some(value.to_owned());
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, schema))
}

/// The current time at the precision both backends store (microseconds), so a
/// value returned by a write equals the value read back later.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound as _;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Translates a database error: constraint violations become the statuses
/// the callers expect; everything else is INTERNAL (logged, not shown).
pub fn db_error(error: sqlx::Error) -> CsmError {
    if let sqlx::Error::Database(database_error) = &error {
        match database_error.kind() {
            sqlx::error::ErrorKind::UniqueViolation => {
                return CsmError::already_exists("ALREADY_EXISTS", "a record with the same unique key already exists")
                    .with_metadata("constraint", database_error.constraint().unwrap_or_default().to_owned());
            }
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                return CsmError::failed_precondition(
                    "REFERENCED_RECORD_MISSING",
                    "a referenced record does not exist",
                )
                .with_metadata("constraint", database_error.constraint().unwrap_or_default().to_owned());
            }
            _ => {}
        }
        let code = database_error.code().map(|code| code.into_owned()).unwrap_or_default();
        if database_unavailable_code(&code) {
            return database_unavailable(&error);
        }
        // Text PostgreSQL cannot store (NUL) or too long for its column: the
        // caller's input, refused as such (the request edge refuses it first;
        // this keeps a missed field from becoming INTERNAL).
        if matches!(code.as_str(), "22021" | "22001" | "22P05") {
            return CsmError::invalid_argument("INVALID_TEXT", "a text value cannot be stored (NUL or too long)");
        }
    }
    if matches!(
        error,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
    ) {
        return database_unavailable(&error);
    }
    CsmError::internal(error)
}

/// UNAVAILABLE `DATABASE_UNAVAILABLE`: the database refused, dropped or
/// timed out the work (the client may retry; nothing was committed).
fn database_unavailable(error: &sqlx::Error) -> CsmError {
    tracing::warn!(%error, "database unavailable");
    CsmError::unavailable("DATABASE_UNAVAILABLE", "the database is not reachable; try again")
        .with_retry_after(std::time::Duration::from_secs(1))
}

/// Database error codes that mean "not now" rather than "wrong": PostgreSQL
/// connection exceptions (class 08), shutdowns (57P01–57P03), too many
/// connections (53300), a database not accepting connections (55000 at
/// connect), gone (3D000) or refusing the service's credentials (28000,
/// 28P01) — serialization and deadlock aborts are not here (the callers retry
/// those); SQLite busy/locked, I/O, cannot-open, full, read-only, locking
/// protocol (another process holds the WAL locks) and not-a-database (its
/// primary result codes).
fn database_unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "53400" | "55000" | "3D000" | "28000" | "28P01")
        // SQLite reports decimal (extended) result codes, at most 4 digits;
        // PostgreSQL SQLSTATEs are always 5 characters.
        || (code.len() < 5
            && code.parse::<u32>().is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6 | 8 | 10 | 13 | 14 | 15 | 26)))
}

/// True when `error` is a unique-constraint violation (the caller may then answer
/// with a more precise reason than [`db_error`] does).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database_error)
        if database_error.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// A unique violation answered as `answer` says, anything else as [`db_error`]:
/// the one place a store turns "the database refused a duplicate" into its own
/// reason (`.map_err(|e| on_unique_violation(e, || …))`).
pub fn on_unique_violation(error: sqlx::Error, answer: impl FnOnce() -> CsmError) -> CsmError {
    if is_unique_violation(&error) { answer() } else { db_error(error) }
}

/// A unique violation as ALREADY_EXISTS with `reason`, anything else as
/// [`db_error`] — the common case of [`on_unique_violation`].
pub fn unique_as(error: sqlx::Error, reason: &'static str, message: impl Into<String>) -> CsmError {
    on_unique_violation(error, || CsmError::already_exists(reason, message))
}

#[cfg(test)]
mod outage_tests {
    use super::*;

    #[test]
    fn outage_codes_are_unavailable_and_mistakes_are_not() {
        for code in ["08006", "57P01", "55000", "3D000", "53300", "5", "261", "14", "10", "15"] {
            assert!(database_unavailable_code(code), "{code}");
        }
        for code in ["23505", "22021", "40001", "1", "19"] {
            assert!(!database_unavailable_code(code), "{code}");
        }
        assert_eq!(db_error(sqlx::Error::PoolTimedOut).reason(), "DATABASE_UNAVAILABLE");
        assert_eq!(db_error(sqlx::Error::PoolClosed).code(), csm_errors::ErrorCode::Unavailable);
    }
}

#[cfg(test)]
mod tests {
    use super::split_schema_parameter;

    #[test]
    fn schema_parameter_is_split_off() {
        let (url, schema) = split_schema_parameter("postgres://u@h/db?csm_schema=identity&sslmode=disable").unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(schema.as_deref(), Some("identity"));
    }

    #[test]
    fn hostile_schema_names_are_refused() {
        assert!(split_schema_parameter("postgres://h/db?csm_schema=a\";drop").is_err());
    }
}
