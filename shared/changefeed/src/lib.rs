//! The change feed of a service (DESIGN.md §3).
//!
//! Every mutation calls [`append`] inside its own transaction, so the change
//! row commits or rolls back with the data. [`ChangeFeed::watch`] replays the
//! rows after a revision and then follows new ones: it is woken in-process
//! right after a commit ([`ChangeFeed::committed`]) and polls the table as a
//! fallback, so changes written by another replica are streamed too.
//!
//! A consistency token is `<service>:<revision>` ([`ConsistencyToken`]).

pub mod idempotency;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use csm_db::{Db, DbRow, Migration, Migrations, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_proto::common;
use csm_types::ServiceName;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

/// The change-feed and idempotency tables (migration version 1 of every
/// service) and the audit trail every change is recorded in (version 2).
pub fn migrations() -> Migrations {
    Migrations::new()
        .with(
            Migration { version: 1, description: "change feed", sql: include_str!("../migrations/sqlite.sql") },
            Migration { version: 1, description: "change feed", sql: include_str!("../migrations/postgres.sql") },
        )
        .extend(csm_audit::migrations())
}

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
    let revision = with_tx!(tx, |tx| {
        // The UPDATE takes the head row's lock until commit: writers of this
        // feed commit in revision order.
        let revision: i64 =
            sqlx::query_scalar("UPDATE change_feed_head SET revision = revision + 1 WHERE id = 1 RETURNING revision")
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
        Ok::<_, CsmError>(revision as u64)
    })?;
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
    committed: watch::Sender<u64>,
    poll_interval: Duration,
}

impl fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeFeed").field("service", &self.service).finish_non_exhaustive()
    }
}

impl ChangeFeed {
    pub fn new(db: Db, service: ServiceName) -> Self {
        let (committed, _) = watch::channel(0);
        Self { db, service, committed, poll_interval: Duration::from_millis(250) }
    }

    pub fn service(&self) -> ServiceName {
        self.service
    }

    /// The token of `revision` in this feed.
    pub fn token(&self, revision: u64) -> String {
        ConsistencyToken { service: self.service, revision }.to_string()
    }

    /// Tells local watchers that `revision` was committed (call after commit).
    pub fn committed(&self, revision: u64) {
        self.committed.send_if_modified(|head| {
            if revision > *head {
                *head = revision;
                true
            } else {
                false
            }
        });
    }

    /// The highest revision this process knows to be committed (its own
    /// commits, and what [`ChangeFeed::committed`] was told): a lower bound of
    /// [`ChangeFeed::head`] that costs no query. 0 until something is known.
    pub fn last_known(&self) -> u64 {
        *self.committed.borrow()
    }

    /// The last committed revision.
    pub async fn head(&self) -> CsmResult<u64> {
        with_db!(&self.db, |pool| {
            let revision: i64 = sqlx::query_scalar("SELECT revision FROM change_feed_head WHERE id = 1")
                .fetch_one(pool)
                .await
                .map_err(db_error)?;
            Ok(revision as u64)
        })
    }

    /// Up to `limit` changes with a revision greater than `after`, oldest first.
    pub async fn read_after(&self, after: u64, limit: u32) -> CsmResult<Vec<Change>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        with_db!(&self.db, |pool| {
            let rows = sqlx::query(
                "SELECT revision, entity_type, entity_id, operation, attributes, committed_at \
                 FROM changes WHERE revision > $1 ORDER BY revision LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(change_from_row).collect()
        })
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
