//! The `audit_events` table: inserts and the keyset-paged read.

use chrono::{DateTime, Utc};
use csm_db::{Db, DbRow, Migration, Migrations, PageRequest, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use crate::{ActorKind, AuditEvent, EventKind};

/// The audit table (migration version 2 of every service, after the change feed's 1).
pub fn migrations() -> Migrations {
    Migrations::new()
        .with(
            Migration { version: 2, description: "audit trail", sql: include_str!("../migrations/sqlite.sql") },
            Migration { version: 2, description: "audit trail", sql: include_str!("../migrations/postgres.sql") },
        )
        .with(
            Migration {
                version: 3,
                description: "audit folding",
                sql: include_str!("../migrations/sqlite_0003_folding.sql"),
            },
            Migration {
                version: 3,
                description: "audit folding",
                sql: include_str!("../migrations/postgres_0003_folding.sql"),
            },
        )
}

const COLUMNS: &str = "event_id, occurred_at, kind, actor_kind, actor_id, principal_id, rpc, entity_type, \
                       entity_id, operation, decision, rule, trace_id, revision, occurrences, last_occurred_at";

/// Inserts `event` in `tx` (a mutation's event, in the change's own transaction).
pub(crate) async fn insert_in(tx: &mut Tx, event: &AuditEvent) -> CsmResult<()> {
    insert_rows(tx, std::slice::from_ref(event)).await
}

/// Inserts `events` with one multi-row statement per [`ROWS_PER_INSERT`]
/// events, in one transaction (the writer's batches: one round trip to the
/// database for hundreds of refusals rather than one each).
pub(crate) async fn insert_batch(db: &Db, events: &[AuditEvent]) -> CsmResult<()> {
    let mut tx = db.begin().await?;
    insert_rows(&mut tx, events).await?;
    tx.commit().await
}

/// The one INSERT of the audit trail, [`ROWS_PER_INSERT`] rows per statement.
async fn insert_rows(tx: &mut Tx, events: &[AuditEvent]) -> CsmResult<()> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        with_tx!(&mut *tx, |tx| {
            let mut insert = sqlx::QueryBuilder::new(format!("INSERT INTO audit_events ({COLUMNS}) "));
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(event.event_id.to_string())
                    .push_bind(event.occurred_at)
                    .push_bind(event.kind.as_str())
                    .push_bind(event.actor_kind.as_str())
                    .push_bind(event.actor_id.clone())
                    .push_bind(event.principal_id.clone())
                    .push_bind(event.rpc.clone())
                    .push_bind(event.entity_type.clone())
                    .push_bind(event.entity_id.clone())
                    .push_bind(event.operation.clone())
                    .push_bind(event.decision.clone())
                    .push_bind(event.rule.clone())
                    .push_bind(event.trace_id.clone())
                    .push_bind(i64::try_from(event.revision).unwrap_or(i64::MAX))
                    .push_bind(i64::try_from(event.occurrences).unwrap_or(i64::MAX))
                    .push_bind(event.last_occurred_at);
            });
            insert.build().execute(&mut **tx).await.map_err(db_error)?;
        });
    }
    Ok(())
}

/// Deletes the events that happened before `before` (retention); how many.
pub(crate) async fn prune(db: &Db, before: DateTime<Utc>) -> CsmResult<u64> {
    with_db!(db, |pool| {
        let done = sqlx::query("DELETE FROM audit_events WHERE occurred_at < $1")
            .bind(before)
            .execute(pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    })
}

/// Rows of one multi-row insert: 16 parameters each stays far below the
/// parameter limits of SQLite (32,766) and PostgreSQL (65,535).
const ROWS_PER_INSERT: usize = 250;

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// At or after.
    pub start: Option<DateTime<Utc>>,
    /// Before.
    pub end: Option<DateTime<Utc>>,
    /// The actor id or the principal (profile) id.
    pub principal: Option<String>,
    pub kind: Option<EventKind>,
}

enum Param {
    Time(DateTime<Utc>),
    Text(String),
}

/// One page of the events `query` selects, oldest first, and the next page token.
pub async fn list_events(db: &Db, query: &AuditQuery, page: &PageRequest) -> CsmResult<(Vec<AuditEvent>, String)> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    let next = |param: Param, params: &mut Vec<Param>| {
        params.push(param);
        format!("${}", params.len())
    };
    if let Some(start) = query.start {
        conditions.push(format!("occurred_at >= {}", next(Param::Time(start), &mut params)));
    }
    if let Some(end) = query.end {
        conditions.push(format!("occurred_at < {}", next(Param::Time(end), &mut params)));
    }
    if let Some(principal) = &query.principal {
        let actor = next(Param::Text(principal.clone()), &mut params);
        let profile = next(Param::Text(principal.clone()), &mut params);
        conditions.push(format!("(actor_id = {actor} OR principal_id = {profile})"));
    }
    if let Some(kind) = query.kind {
        conditions.push(format!("kind = {}", next(Param::Text(kind.as_str().to_owned()), &mut params)));
    }
    if let Some(after) = &page.after {
        let (at, id) = parse_key(after)?;
        let at_gt = next(Param::Time(at), &mut params);
        let at_eq = next(Param::Time(at), &mut params);
        let id_gt = next(Param::Text(id), &mut params);
        conditions.push(format!("(occurred_at > {at_gt} OR (occurred_at = {at_eq} AND event_id > {id_gt}))"));
    }
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events {filter} ORDER BY occurred_at, event_id LIMIT {}",
        page.fetch_limit()
    );
    let events = with_db!(db, |pool| {
        let mut statement = sqlx::query(&sql);
        for param in &params {
            statement = match param {
                Param::Time(at) => statement.bind(*at),
                Param::Text(text) => statement.bind(text.as_str()),
            };
        }
        let rows = statement.fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(event_from_row).collect::<CsmResult<Vec<_>>>()
    })?;
    Ok(page.finish(events, |event| format!("{}|{}", event.occurred_at.to_rfc3339(), event.event_id)))
}

fn parse_key(key: &str) -> CsmResult<(DateTime<Utc>, String)> {
    let invalid = || CsmError::invalid_field("page_token", "is not a token returned by this service");
    let (at, id) = key.split_once('|').ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?.with_timezone(&Utc);
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((at, id.to_string()))
}

fn event_from_row(row: &impl DbRow) -> CsmResult<AuditEvent> {
    let decode = |error: sqlx::Error| CsmError::internal(error);
    let text = |column: &str| row.text(column).map_err(decode);
    let kind = text("kind")?;
    let actor_kind = text("actor_kind")?;
    Ok(AuditEvent {
        event_id: Uuid::parse_str(&text("event_id")?).map_err(CsmError::internal)?,
        occurred_at: row.timestamp("occurred_at").map_err(decode)?,
        kind: EventKind::parse(&kind).ok_or_else(|| CsmError::internal(format!("unknown audit kind {kind:?}")))?,
        actor_kind: ActorKind::parse(&actor_kind)
            .ok_or_else(|| CsmError::internal(format!("unknown actor kind {actor_kind:?}")))?,
        actor_id: text("actor_id")?,
        principal_id: text("principal_id")?,
        rpc: text("rpc")?,
        entity_type: text("entity_type")?,
        entity_id: text("entity_id")?,
        operation: text("operation")?,
        decision: text("decision")?,
        rule: text("rule")?,
        trace_id: text("trace_id")?,
        revision: u64::try_from(row.int("revision").map_err(decode)?).unwrap_or_default(),
        occurrences: u64::try_from(row.int("occurrences").map_err(decode)?).unwrap_or(1),
        last_occurred_at: row.opt_timestamp("last_occurred_at").map_err(decode)?,
    })
}
