//! The change feed of a service (DESIGN.md §3).
//!
//! Every mutation calls [`append`] inside its own transaction, so the change
//! row commits or rolls back with the data. [`ChangeFeed::watch`] replays the
//! rows after a revision and then follows new ones: it is woken in-process
//! right after a commit ([`ChangeFeed::committed`]) and polls the table as a
//! fallback, so changes written by another replica are streamed too.
//!
//! Revisions are handed out so that a follower never skips one that commits
//! late:
//! - SQLite: the writer bumps `change_feed_head` (its write lock is held until
//!   commit anyway, so revisions commit in order).
//! - PostgreSQL: the writer takes the next value of the `change_revision`
//!   sequence while holding a shared advisory lock of its feed; writers do not
//!   wait for each other (their commits share WAL flushes). A reader first
//!   settles a horizon ([`ChangeFeed::head`]): the highest revision handed
//!   out, once every writer that held the lock when it looked has ended; no
//!   revision at or below it can commit later.
//!
//! A consistency token is `<service>:<revision>` ([`ConsistencyToken`]).

pub mod idempotency;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use csm_db::{Db, DbRow, Migration, Migrations, Tx, db_error, with_db};
use csm_errors::{CsmError, CsmResult};
use csm_proto::common;
use csm_types::ServiceName;
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

/// The change-feed and idempotency tables (migration version 1 of every
/// service), the audit trail every change is recorded in (versions 2–3) and
/// PostgreSQL's revision sequence (version 4).
pub fn migrations() -> Migrations {
    Migrations::new()
        .with(
            Migration { version: 1, description: "change feed", sql: include_str!("../migrations/sqlite.sql") },
            Migration { version: 1, description: "change feed", sql: include_str!("../migrations/postgres.sql") },
        )
        .extend(csm_audit::migrations())
        .with(
            Migration {
                version: 4,
                description: "change revision sequence",
                sql: include_str!("../migrations/sqlite_0004_revision_sequence.sql"),
            },
            Migration {
                version: 4,
                description: "change revision sequence",
                sql: include_str!("../migrations/postgres_0004_revision_sequence.sql"),
            },
        )
}

/// The class (first key) of the PostgreSQL advisory lock a writer of a change
/// feed holds, shared, while it appends ("csmf"); the second key is derived
/// from the schema, so each service's feed has its own.
const WRITER_LOCK_CLASS: i32 = 0x6373_6d66;

/// The second key of the writer lock: the current schema's, as both the
/// writers and the readers ([`HORIZON`], [`WRITERS`]) compute it.
macro_rules! writer_lock_key {
    () => {
        "(hashtext(current_schema()) & 2147483647)"
    };
}

/// The conditions on `pg_locks` that select this feed's writer lock (`$1`: [`WRITER_LOCK_CLASS`]).
macro_rules! writer_lock_rows {
    () => {
        concat!(
            "locktype = 'advisory' AND objsubid = 2 AND mode = 'ShareLock' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND classid = $1::oid AND objid = ",
            writer_lock_key!(),
            "::oid"
        )
    };
}

/// In one statement: the highest revision handed out, then (evaluated per
/// row of it, so after it is read) the transactions holding the writer lock:
/// - NULL when nothing was handed out since the horizon `$2` this process
///   last settled (nothing can be in flight below it);
/// - none when the lock can be taken exclusively for an instant (no writer
///   holds it; cheap, and released with the statement);
/// - else read from the lock table.
const HORIZON: &str = concat!(
    "WITH handed AS MATERIALIZED \
       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS revision FROM change_revision) \
     SELECT handed.revision, \
       CASE WHEN handed.revision = $2 THEN NULL \
            WHEN pg_try_advisory_xact_lock($1, ",
    writer_lock_key!(),
    ") THEN ARRAY[]::text[] \
            ELSE ARRAY(SELECT virtualtransaction FROM pg_locks WHERE handed.revision IS NOT NULL AND ",
    writer_lock_rows!(),
    ") END \
     FROM handed"
);

/// Which of the transactions `$2` still hold the writer lock.
const WRITERS: &str =
    concat!("SELECT virtualtransaction FROM pg_locks WHERE ", writer_lock_rows!(), " AND virtualtransaction = ANY($2)");

/// What happened to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Created,
    Updated,
    Deleted,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Created => "created",
            Operation::Updated => "updated",
            Operation::Deleted => "deleted",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "created" => Some(Operation::Created),
            "updated" => Some(Operation::Updated),
            "deleted" => Some(Operation::Deleted),
            _ => None,
        }
    }

    fn to_proto(self) -> common::ChangeOperation {
        match self {
            Operation::Created => common::ChangeOperation::Created,
            Operation::Updated => common::ChangeOperation::Updated,
            Operation::Deleted => common::ChangeOperation::Deleted,
        }
    }
}

/// A change about to be written.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub entity_type: &'static str,
    pub entity_id: String,
    pub operation: Operation,
    /// Ids consumers need for precise invalidation (`profile_id`, `account_id` …).
    pub attributes: BTreeMap<String, String>,
}

impl NewChange {
    pub fn new(entity_type: &'static str, entity_id: impl fmt::Display, operation: Operation) -> Self {
        Self { entity_type, entity_id: entity_id.to_string(), operation, attributes: BTreeMap::new() }
    }

    pub fn attribute(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.attributes.insert(key.to_owned(), value.to_string());
        self
    }
}

/// A committed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub revision: u64,
    pub entity_type: String,
    pub entity_id: String,
    pub operation: Operation,
    pub attributes: BTreeMap<String, String>,
    pub committed_at: DateTime<Utc>,
}

impl Change {
    pub fn to_proto(&self, service: ServiceName) -> common::Change {
        common::Change {
            revision: self.revision,
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id.clone(),
            operation: self.operation.to_proto() as i32,
            attributes: self.attributes.clone().into_iter().collect(),
            committed_at: Some(prost_types::Timestamp {
                seconds: self.committed_at.timestamp(),
                nanos: self.committed_at.timestamp_subsec_nanos() as i32,
            }),
            consistency_token: ConsistencyToken { service, revision: self.revision }.to_string(),
        }
    }
}

/// A position in one service's change feed, as handed to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsistencyToken {
    pub service: ServiceName,
    pub revision: u64,
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.revision)
    }
}

impl FromStr for ConsistencyToken {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (service, revision) =
            value.split_once(':').ok_or_else(|| format!("must look like <service>:<revision>, got {value:?}"))?;
        Ok(Self {
            service: service.parse()?,
            revision: revision.parse().map_err(|_| format!("revision must be a number, got {revision:?}"))?,
        })
    }
}

/// Writes `change` in `tx`, with its audit event (who made it, in which call),
/// and returns its revision.
pub async fn append(tx: &mut Tx, change: &NewChange) -> CsmResult<u64> {
    let attributes = serde_json::to_string(&change.attributes).map_err(CsmError::internal)?;
    let now = csm_db::now();
    let revision: i64 = match tx {
        Tx::Sqlite(tx) => {
            // The UPDATE takes the head row's lock until commit (SQLite's
            // write lock is held until then anyway): revisions commit in order.
            let revision: i64 = sqlx::query_scalar(
                "UPDATE change_feed_head SET revision = revision + 1 WHERE id = 1 RETURNING revision",
            )
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
            sqlx::query(
                "INSERT INTO changes (revision, entity_type, entity_id, operation, attributes, committed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(revision)
            .bind(change.entity_type)
            .bind(&change.entity_id)
            .bind(change.operation.as_str())
            .bind(&attributes)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            revision
        }
        // The writer lock is taken (materialized CTE, scanned first) before the
        // sequence hands out the revision: a reader that sees the revision
        // handed out also sees this transaction holding the lock.
        Tx::Postgres(tx) => sqlx::query_scalar(concat!(
            "WITH writer AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared($1, ",
            writer_lock_key!(),
            ")) \
             INSERT INTO changes (revision, entity_type, entity_id, operation, attributes, committed_at) \
             SELECT nextval('change_revision'), $2, $3, $4, $5, $6 FROM writer RETURNING revision"
        ))
        .bind(WRITER_LOCK_CLASS)
        .bind(change.entity_type)
        .bind(&change.entity_id)
        .bind(change.operation.as_str())
        .bind(&attributes)
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?,
    };
    let revision = revision as u64;
    csm_audit::record_change(tx, revision, change.entity_type, &change.entity_id, change.operation.as_str(), now)
        .await?;
    // The audit trail records every mutation; the log line is for debugging
    // only (an INFO line per write was most of a bulk load's log, issue 15).
    tracing::debug!(
        entity_type = change.entity_type,
        entity_id = %change.entity_id,
        operation = change.operation.as_str(),
        revision,
        "mutation"
    );
    Ok(revision)
}

/// The change feed of one service: reading, following and waking watchers.
#[derive(Clone)]
pub struct ChangeFeed {
    db: Db,
    service: ServiceName,
    /// Bumped after each local commit: wakes this process's watchers.
    committed: watch::Sender<u64>,
    /// The highest committed revision known to be settled (every revision at
    /// or below it final): what [`ChangeFeed::last_known`] answers.
    known: Arc<AtomicU64>,
    /// The last horizon settled (PostgreSQL): while the sequence has not
    /// moved past it, it still holds and costs no look at the lock table.
    settled_horizon: Arc<std::sync::Mutex<Horizon>>,
    poll_interval: Duration,
}

impl fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeFeed").field("service", &self.service).finish_non_exhaustive()
    }
}

/// How long one read of a watcher waits for in-flight writers before it
/// reads up to the last horizon it knows and tries again (PostgreSQL).
const WATCH_WAIT: Duration = Duration::from_secs(1);

impl ChangeFeed {
    pub fn new(db: Db, service: ServiceName) -> Self {
        let (committed, _) = watch::channel(0);
        Self {
            db,
            service,
            committed,
            known: Arc::new(AtomicU64::new(0)),
            // -1: no horizon settled yet (a handed-out value is never negative).
            settled_horizon: Arc::new(std::sync::Mutex::new(Horizon { handed_out: -1, last_change: 0 })),
            poll_interval: Duration::from_millis(250),
        }
    }

    pub fn service(&self) -> ServiceName {
        self.service
    }

    /// The token of `revision` in this feed.
    pub fn token(&self, revision: u64) -> String {
        ConsistencyToken { service: self.service, revision }.to_string()
    }

    /// Tells local watchers that `revision` was committed (call after commit).
    /// On SQLite revisions commit in order, so it is also settled; on
    /// PostgreSQL a lower revision may still be in flight, and the watchers
    /// settle it.
    pub fn committed(&self, revision: u64) {
        if matches!(self.db, Db::Sqlite(_)) {
            self.settled(revision);
        }
        self.committed.send_modify(|wakes| *wakes = wakes.wrapping_add(1));
    }

    /// Records that every revision up to `revision` (a committed change) is final.
    fn settled(&self, revision: u64) {
        self.known.fetch_max(revision, Ordering::AcqRel);
    }

    /// The highest committed revision this process knows to be settled (its
    /// own commits on SQLite, what its watchers delivered, what
    /// [`ChangeFeed::head`] answered): a lower bound of [`ChangeFeed::head`]
    /// that costs no query. 0 until something is known.
    pub fn last_known(&self) -> u64 {
        self.known.load(Ordering::Acquire)
    }

    /// The last committed revision below which nothing can still commit: a
    /// read answered after this call has seen every change up to it. On
    /// PostgreSQL, while writers are in flight the last settled revision this
    /// process knows is answered (a lower bound): a read never waits for writers.
    pub async fn head(&self) -> CsmResult<u64> {
        let head = match &self.db {
            Db::Sqlite(pool) => {
                let revision: i64 = sqlx::query_scalar("SELECT revision FROM change_feed_head WHERE id = 1")
                    .fetch_one(pool)
                    .await
                    .map_err(db_error)?;
                revision as u64
            }
            // The horizon may be a revision that rolled back: the answer is
            // the last change at or below it, which followers will see.
            Db::Postgres(pool) => match self.settle_horizon(pool, Duration::ZERO).await? {
                Some(horizon) => horizon.last_change as u64,
                None => return Ok(self.last_known()),
            },
        };
        self.settled(head);
        Ok(self.last_known())
    }

    /// Up to `limit` changes with a revision greater than `after`, oldest
    /// first; on PostgreSQL only up to a settled horizon (no change it returns
    /// can be followed by a lower revision committing later).
    pub async fn read_after(&self, after: u64, limit: u32) -> CsmResult<Vec<Change>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let horizon = match &self.db {
            Db::Sqlite(_) => i64::MAX,
            Db::Postgres(pool) => match self.settle_horizon(pool, WATCH_WAIT).await? {
                Some(horizon) => horizon.handed_out,
                None => i64::try_from(self.last_known()).unwrap_or(i64::MAX),
            },
        };
        if horizon <= after {
            return Ok(Vec::new());
        }
        let changes = with_db!(&self.db, |pool| {
            let rows = sqlx::query(
                "SELECT revision, entity_type, entity_id, operation, attributes, committed_at \
                 FROM changes WHERE revision > $1 AND revision <= $2 ORDER BY revision LIMIT $3",
            )
            .bind(after)
            .bind(horizon)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(change_from_row).collect::<CsmResult<Vec<_>>>()
        })?;
        if let Some(last) = changes.last() {
            self.settled(last.revision);
        }
        Ok(changes)
    }

    /// Streams every change after `from_revision`, then follows new ones until
    /// the receiver is dropped.
    pub fn watch(&self, from_revision: u64) -> ReceiverStream<CsmResult<Change>> {
        let (sender, receiver) = mpsc::channel(256);
        let feed = self.clone();
        let mut woken = self.committed.subscribe();
        tokio::spawn(async move {
            let mut last = from_revision;
            loop {
                // Marks the wakes seen so far: a commit during the read wakes the next wait.
                woken.borrow_and_update();
                let batch = match feed.read_after(last, 500).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                };
                let caught_up = batch.len() < 500;
                for change in batch {
                    last = change.revision;
                    if sender.send(Ok(change)).await.is_err() {
                        return;
                    }
                }
                if caught_up {
                    tokio::select! {
                        _ = sender.closed() => return,
                        _ = woken.changed() => {}
                        _ = tokio::time::sleep(feed.poll_interval) => {}
                    }
                }
            }
        });
        ReceiverStream::new(receiver)
    }
}

/// A settled horizon of a feed (PostgreSQL): no revision at or below
/// `handed_out` can commit any more.
#[derive(Clone, Copy)]
struct Horizon {
    /// The highest revision handed out when it was read.
    handed_out: i64,
    /// The last change committed at or below it (0: none).
    last_change: i64,
}

impl ChangeFeed {
    /// The highest revision handed out, once every writer of the feed that
    /// was in flight when it was read has ended (PostgreSQL). `None` when
    /// writers were still in flight after `wait` (zero: look once, do not wait).
    ///
    /// A writer holds the feed's writer lock from before it takes its
    /// revision until it ends, so a writer whose revision is at or below the
    /// value read holds the lock when the lock table is read after it.
    async fn settle_horizon(&self, pool: &PgPool, wait: Duration) -> CsmResult<Option<Horizon>> {
        let last = *self.settled_horizon.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (handed_out, writers): (i64, Option<Vec<String>>) = sqlx::query_as(HORIZON)
            .bind(WRITER_LOCK_CLASS)
            .bind(last.handed_out)
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
        let Some(mut writers) = writers else {
            // Nothing handed out since the last horizon: it still holds.
            return Ok(Some(last));
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_micros(500);
        while !writers.is_empty() {
            if tokio::time::Instant::now() + pause > deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
            writers = sqlx::query_scalar(WRITERS)
                .bind(WRITER_LOCK_CLASS)
                .bind(&writers)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
        }
        // Read after every writer at or below the horizon ended (a statement
        // of its own, so its snapshot sees their commits).
        let last_change: Option<i64> = sqlx::query_scalar("SELECT max(revision) FROM changes WHERE revision <= $1")
            .bind(handed_out)
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
        let horizon = Horizon { handed_out, last_change: last_change.unwrap_or(0) };
        let mut settled = self.settled_horizon.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if horizon.handed_out > settled.handed_out {
            *settled = horizon;
        }
        Ok(Some(horizon))
    }
}

fn change_from_row(row: &impl DbRow) -> CsmResult<Change> {
    let decode = |error: sqlx::Error| CsmError::internal(error);
    let operation = row.text("operation").map_err(decode)?;
    let attributes = row.text("attributes").map_err(decode)?;
    Ok(Change {
        revision: row.int("revision").map_err(decode)? as u64,
        entity_type: row.text("entity_type").map_err(decode)?,
        entity_id: row.text("entity_id").map_err(decode)?,
        operation: Operation::parse(&operation)
            .ok_or_else(|| CsmError::internal(format!("unknown change operation {operation:?}")))?,
        attributes: serde_json::from_str(&attributes).map_err(CsmError::internal)?,
        committed_at: row.timestamp("committed_at").map_err(decode)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistency_tokens_round_trip() {
        let token = ConsistencyToken { service: ServiceName::AccountTeam, revision: 42 };
        assert_eq!(token.to_string(), "account-team:42");
        assert_eq!("account-team:42".parse::<ConsistencyToken>(), Ok(token));
        assert!("role".parse::<ConsistencyToken>().is_err());
        assert!("role:x".parse::<ConsistencyToken>().is_err());
        assert!("nobody:1".parse::<ConsistencyToken>().is_err());
    }
}
