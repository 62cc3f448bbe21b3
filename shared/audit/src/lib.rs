//! The audit trail of a service (DESIGN.md §6, proto `csm.audit.v1`).
//!
//! Three kinds of events land in the service's own `audit_events` table:
//!
//! - **mutations**: [`record_change`] is called by `csm_changefeed::append`,
//!   in the mutation's transaction, so an event exists exactly when its
//!   change committed;
//! - **refused calls** (PERMISSION_DENIED, UNAUTHENTICATED), queued by the
//!   server's audit layer;
//! - **denied checks**: decisions of case-access that came out DENY
//!   ([`denied_check`]).
//!
//! Who acted comes from the [`CallScope`] of the RPC: the server's audit layer
//! opens it (method, trace id, the queue of refusals), the auth layer names the
//! caller in it ([`set_actor`], [`set_actor_with`]: built only when an event needs it). Work outside any call (start-up seeding,
//! licence expiry) is recorded as the [`ActorKind::System`] actor.
//!
//! Refusals are not written on the request's path: they go through a bounded
//! queue ([`AuditSink`]) to one [`AuditWriter`] per service, which inserts them
//! in batches (one multi-row insert, identical denied checks folded into one
//! event with a count, after lingering 50 ms for more). A full queue makes the
//! refusing call wait (back-pressure), it never drops an event; a crash loses
//! at most the batch in flight. Events older than the retention (90 days by
//! default) are deleted hourly.

mod store;

use csm_types::roles;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use csm_db::{Db, Tx};
use csm_errors::CsmResult;
use tokio::sync::mpsc;
use uuid::Uuid;

pub use store::{AuditQuery, list_events, migrations};

/// Effective roles that may read the audit trail (R2.20: any one of them).
pub const READER_ROLES: &[&str] = &[roles::ADMIN];

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Mutation,
    DeniedCall,
    DeniedCheck,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Mutation => "mutation",
            EventKind::DeniedCall => "denied_call",
            EventKind::DeniedCheck => "denied_check",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [EventKind::Mutation, EventKind::DeniedCall, EventKind::DeniedCheck]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorKind {
    Human,
    Service,
    System,
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Human => "human",
            ActorKind::Service => "service",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [ActorKind::Human, ActorKind::Service, ActorKind::System, ActorKind::Anonymous]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// The actor of an event: a login (with its active profile), a service
/// identity, the service itself, or an unauthenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// Login id, `service:<name>`, or empty.
    pub id: String,
    /// The active profile of a person, empty otherwise.
    pub profile_id: String,
}

impl Actor {
    pub fn human(login_id: impl fmt::Display, profile_id: Option<impl fmt::Display>) -> Self {
        Self {
            kind: ActorKind::Human,
            id: login_id.to_string(),
            profile_id: profile_id.map(|id| id.to_string()).unwrap_or_default(),
        }
    }

    pub fn service(name: impl fmt::Display) -> Self {
        Self { kind: ActorKind::Service, id: format!("service:{name}"), profile_id: String::new() }
    }

    pub fn system() -> Self {
        Self { kind: ActorKind::System, id: String::new(), profile_id: String::new() }
    }

    pub fn anonymous() -> Self {
        Self { kind: ActorKind::Anonymous, id: String::new(), profile_id: String::new() }
    }
}

/// One audit event, as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub kind: EventKind,
    pub actor_kind: ActorKind,
    pub actor_id: String,
    /// The profile acted as (the actor's active profile, or the principal of a denied check).
    pub principal_id: String,
    pub rpc: String,
    pub entity_type: String,
    pub entity_id: String,
    pub operation: String,
    /// `ALLOW` or `DENY`.
    pub decision: String,
    pub rule: String,
    pub trace_id: String,
    /// The change-feed revision of a mutation, 0 otherwise.
    pub revision: u64,
    /// How many identical denied checks this event stands for: the writer
    /// folds denied checks that differ only in time and trace into the first
    /// of them (the one whose id, time and trace it keeps). 1 for everything else.
    pub occurrences: u64,
    /// When the last folded refusal happened (`None` for a single event).
    pub last_occurred_at: Option<DateTime<Utc>>,
}

impl AuditEvent {
    /// What makes two refusals the same event (everything but id, time and trace).
    fn fold_key(&self) -> (EventKind, ActorKind, &str, &str, &str, &str, &str, &str, &str, &str) {
        (
            self.kind,
            self.actor_kind,
            &self.actor_id,
            &self.principal_id,
            &self.rpc,
            &self.entity_type,
            &self.entity_id,
            &self.operation,
            &self.decision,
            &self.rule,
        )
    }
}

/// Folds identical denied checks of `events` (in order) into their first:
/// its occurrences count them all, its last_occurred_at is the latest.
/// Mutations are never folded (each is one committed change), nor refused
/// calls (each failed login or missing role stays an event of its own, for
/// the people who investigate them).
pub fn fold(events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    let mut folded: Vec<AuditEvent> = Vec::with_capacity(events.len());
    let seed = foldhash::fast::RandomState::default();
    let mut first_of: std::collections::HashMap<u64, Vec<usize>, _> =
        std::collections::HashMap::with_capacity_and_hasher(events.len(), seed.clone());
    for event in events {
        if event.kind != EventKind::DeniedCheck {
            folded.push(event);
            continue;
        }
        // A fast hash with a random seed: it only groups candidates, equality decides.
        let hash = std::hash::BuildHasher::hash_one(&seed, event.fold_key());
        let same = first_of
            .get(&hash)
            .and_then(|indexes| indexes.iter().copied().find(|index| folded[*index].fold_key() == event.fold_key()));
        match same {
            Some(index) => {
                let first = &mut folded[index];
                first.occurrences += event.occurrences;
                let last = event.last_occurred_at.unwrap_or(event.occurred_at);
                first.last_occurred_at = Some(first.last_occurred_at.map_or(last, |known| known.max(last)));
            }
            None => {
                first_of.entry(hash).or_default().push(folded.len());
                folded.push(event);
            }
        }
    }
    folded
}

/// Finds a call's trace id when its first event needs it.
type TraceIdSource = Box<dyn FnOnce() -> String + Send>;

/// Who made a call: named by the auth layer, built only when an event needs it.
enum ActorSlot {
    Known(Actor),
    Later(Box<dyn FnOnce() -> Actor + Send>),
}

/// What the caller of the current RPC is known to be.
struct ScopeState {
    rpc: String,
    /// Resolved on the first event: most calls record none.
    trace_id: OnceLock<String>,
    trace_id_source: Mutex<Option<TraceIdSource>>,
    actor: Mutex<ActorSlot>,
    sink: AuditSink,
}

/// The audit context of one RPC: its method, trace id, caller and the queue
/// its refusals go to. Opened by the server's audit layer around the call.
#[derive(Clone)]
pub struct CallScope(Arc<ScopeState>);

tokio::task_local! {
    static SCOPE: CallScope;
}

impl CallScope {
    /// A scope for the RPC `rpc` (its path) whose trace id (may be empty)
    /// `trace_id` finds, called at most once, when the call's first event is
    /// made (inside the call, so under its span). The actor is anonymous
    /// until the auth layer names it.
    pub fn new(rpc: impl Into<String>, trace_id: impl FnOnce() -> String + Send + 'static, sink: AuditSink) -> Self {
        Self(Arc::new(ScopeState {
            rpc: rpc.into(),
            trace_id: OnceLock::new(),
            trace_id_source: Mutex::new(Some(Box::new(trace_id))),
            actor: Mutex::new(ActorSlot::Known(Actor::anonymous())),
            sink,
        }))
    }

    fn trace_id(&self) -> String {
        self.0
            .trace_id
            .get_or_init(|| {
                let source = self.0.trace_id_source.lock().map(|mut source| source.take()).unwrap_or(None);
                source.map(|find| find()).unwrap_or_default()
            })
            .clone()
    }

    /// Runs `work` (the call's future) inside this scope.
    pub fn run<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        SCOPE.scope(self, work)
    }

    /// Runs the synchronous `work` (e.g. an inner service's `call`, where the
    /// auth layer names the caller) inside this scope.
    pub fn run_sync<R>(&self, work: impl FnOnce() -> R) -> R {
        SCOPE.sync_scope(self.clone(), work)
    }

    pub fn actor(&self) -> Actor {
        let mut slot = self.0.actor.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let ActorSlot::Later(_) = &*slot
            && let ActorSlot::Later(build) = std::mem::replace(&mut *slot, ActorSlot::Known(Actor::anonymous()))
        {
            *slot = ActorSlot::Known(build());
        }
        match &*slot {
            ActorSlot::Known(actor) => actor.clone(),
            ActorSlot::Later(_) => Actor::anonymous(),
        }
    }

    pub fn rpc(&self) -> &str {
        &self.0.rpc
    }

    /// Queues a refused-call event (PERMISSION_DENIED / UNAUTHENTICATED) with
    /// the error's stable `reason`.
    pub async fn denied_call(&self, reason: &str) {
        let method = self.0.rpc.rsplit('/').next().unwrap_or_default();
        let event = AuditEvent { rule: reason.to_owned(), ..self.event(EventKind::DeniedCall, "rpc", method, method) };
        self.0.sink.send(event).await;
    }

    fn event(&self, kind: EventKind, entity_type: &str, entity_id: &str, operation: &str) -> AuditEvent {
        new_event(Some(self), kind, entity_type, entity_id, operation)
    }
}

/// An event about (`entity_type`, `entity_id`) in `scope` — the call's actor,
/// RPC and trace — or, outside any call, of the [`ActorKind::System`] actor:
/// ALLOW for a mutation, DENY otherwise; the principal is the actor's active profile.
fn new_event(
    scope: Option<&CallScope>,
    kind: EventKind,
    entity_type: &str,
    entity_id: &str,
    operation: &str,
) -> AuditEvent {
    let (actor, rpc, trace_id) = match scope {
        Some(scope) => (scope.actor(), scope.0.rpc.clone(), scope.trace_id()),
        None => (Actor::system(), String::new(), String::new()),
    };
    AuditEvent {
        event_id: Uuid::now_v7(),
        occurred_at: csm_db::now(),
        kind,
        actor_kind: actor.kind,
        actor_id: actor.id,
        principal_id: actor.profile_id,
        rpc,
        entity_type: entity_type.to_owned(),
        entity_id: entity_id.to_owned(),
        operation: operation.to_owned(),
        decision: if kind == EventKind::Mutation { "ALLOW" } else { "DENY" }.to_owned(),
        rule: String::new(),
        trace_id,
        revision: 0,
        occurrences: 1,
        last_occurred_at: None,
    }
}

fn current() -> Option<CallScope> {
    SCOPE.try_with(CallScope::clone).ok()
}

/// Names the caller of the current RPC (the auth layer, once it verified the
/// token). Outside a call scope it does nothing.
pub fn set_actor(actor: Actor) {
    set_slot(ActorSlot::Known(actor));
}

/// As [`set_actor`], with the actor built by `actor` only if the call
/// records an event (most calls record none; formatting ids costs).
pub fn set_actor_with(actor: impl FnOnce() -> Actor + Send + 'static) {
    set_slot(ActorSlot::Later(Box::new(actor)));
}

fn set_slot(slot: ActorSlot) {
    let _ = SCOPE.try_with(|scope| {
        if let Ok(mut current) = scope.0.actor.lock() {
            *current = slot;
        }
    });
}

/// A denied access decision about `principal_id` on the entity
/// (`entity_type`, `entity_id`) for `action`, with the rule that denied it (or
/// the closest rule that did not match). Queued to the batched writer; outside
/// a call scope (no caller to name) it is logged only.
pub async fn denied_check(principal_id: &str, entity_type: &str, entity_id: &str, action: &str, rule: &str) {
    denied_checks(principal_id, [DeniedItem { entity_type, entity_id: entity_id.to_owned(), action, rule }]).await;
}

/// One denied item of a batch of decisions (see [`denied_checks`]).
#[derive(Debug, Clone)]
pub struct DeniedItem<'a> {
    pub entity_type: &'a str,
    pub entity_id: String,
    pub action: &'a str,
    pub rule: &'a str,
}

/// The denied items of one batch of decisions about `principal_id`
/// (BatchCheck; [`denied_check`] is a batch of one): the call's actor is read
/// once, identical items are folded before they are queued, and the queue is
/// entered once for all of them. Outside a call scope (no caller to name)
/// they are logged only.
pub async fn denied_checks<'a>(principal_id: &str, items: impl IntoIterator<Item = DeniedItem<'a>>) {
    let Some(scope) = current() else {
        tracing::warn!("denied decisions outside a call: not audited");
        return;
    };
    let template = scope.event(EventKind::DeniedCheck, "", "", "");
    let events: Vec<AuditEvent> = items
        .into_iter()
        .map(|item| AuditEvent {
            event_id: Uuid::now_v7(),
            principal_id: principal_id.to_owned(),
            entity_type: item.entity_type.to_owned(),
            entity_id: item.entity_id,
            operation: item.action.to_owned(),
            rule: item.rule.to_owned(),
            ..template.clone()
        })
        .collect();
    scope.0.sink.send_all(fold(events)).await;
}

/// Records the committed change `revision` of (`entity_type`, `entity_id`) in
/// `tx`, the change's own transaction, with the actor of the current call
/// ([`ActorKind::System`] outside a call).
pub async fn record_change(
    tx: &mut Tx,
    revision: u64,
    entity_type: &str,
    entity_id: &str,
    operation: &str,
    at: DateTime<Utc>,
) -> CsmResult<()> {
    let event = AuditEvent {
        occurred_at: at,
        revision,
        ..new_event(current().as_ref(), EventKind::Mutation, entity_type, entity_id, operation)
    };
    store::insert_in(tx, &event).await
}

/// Events queued before the writer has taken them (back-pressure beyond).
pub const QUEUE_CAPACITY: usize = 10_000;
/// Events inserted per transaction at most.
const BATCH: usize = 500;
/// How long the writer waits for more refusals after the first of a batch
/// (what a crash may lose beyond the batch in flight).
const LINGER: Duration = Duration::from_millis(50);

/// The sending side of a service's refusal queue.
#[derive(Clone, Debug)]
pub struct AuditSink {
    sender: mpsc::Sender<AuditEvent>,
}

impl AuditSink {
    /// A queue and the writer that will drain it into the database.
    pub fn new() -> (AuditSink, AuditWriter) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        (AuditSink { sender }, AuditWriter { receiver })
    }

    async fn send(&self, event: AuditEvent) {
        if self.sender.send(event).await.is_err() {
            tracing::warn!("audit writer stopped: refusal not recorded");
        }
    }

    /// Queues `events` with one wait for room (in chunks no larger than the queue).
    async fn send_all(&self, events: Vec<AuditEvent>) {
        let mut events = events.into_iter().peekable();
        while events.peek().is_some() {
            let room = events.len().min(QUEUE_CAPACITY);
            match self.sender.reserve_many(room).await {
                Ok(permits) => {
                    for (permit, event) in permits.zip(events.by_ref()) {
                        permit.send(event);
                    }
                }
                Err(_) => {
                    tracing::warn!("audit writer stopped: refusals not recorded");
                    return;
                }
            }
        }
    }
}

/// How long the audit trail is kept unless configured
/// (`CSM_AUDIT_RETENTION_DAYS`; 0 keeps it forever).
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// How often the retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// `CSM_AUDIT_RETENTION_DAYS` through `lookup`: days to keep (`None`: forever).
pub fn retention_days(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<u32>> {
    let days = match lookup("CSM_AUDIT_RETENTION_DAYS") {
        None => DEFAULT_RETENTION_DAYS,
        Some(value) => value.trim().parse::<u32>().map_err(|_| {
            anyhow::anyhow!("CSM_AUDIT_RETENTION_DAYS must be a number of days (0: keep forever), got {value:?}")
        })?,
    };
    Ok((days > 0).then_some(days))
}

/// Deletes events older than `days` now and then every hour, for as long as
/// the service runs (retention). A failed delete is retried at the next run.
pub async fn keep_for(db: Db, days: u32) {
    loop {
        let before = csm_db::now() - chrono::Duration::days(i64::from(days));
        match store::prune(&db, before).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, days, "audit events past retention deleted"),
            Err(error) => tracing::warn!(%error, "audit retention did not run; retrying later"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// Inserts queued refusals into the service's database in batches.
pub struct AuditWriter {
    receiver: mpsc::Receiver<AuditEvent>,
}

impl AuditWriter {
    /// Writes until every [`AuditSink`] is dropped. A failed insert is retried
    /// (the database may be restarting) with the batch kept, so events are not lost
    /// while the process lives.
    pub async fn run(mut self, db: Db) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            if batch.is_empty() {
                match self.receiver.recv().await {
                    Some(event) => batch.push(event),
                    None => return,
                }
            }
            // Linger a moment for more: one insert for many refusals, and
            // identical ones folded, even when they arrive one by one.
            let deadline = tokio::time::Instant::now() + LINGER;
            let mut closed = false;
            // Everything queued is taken at once (one wake-up, not one per event).
            while batch.len() < BATCH {
                let room = BATCH - batch.len();
                match tokio::time::timeout_at(deadline, self.receiver.recv_many(&mut batch, room)).await {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let folded = fold(std::mem::take(&mut batch));
            let mut delay = Duration::from_millis(100);
            loop {
                match store::insert_batch(&db, &folded).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(%error, events = folded.len(), "audit batch not written; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            if closed {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(principal: &str, rule: &str, seconds: i64) -> AuditEvent {
        AuditEvent {
            occurred_at: DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap(),
            principal_id: principal.to_owned(),
            rule: rule.to_owned(),
            trace_id: format!("trace-{seconds}"),
            ..new_event(None, EventKind::DeniedCheck, "case", "c1", "READ")
        }
    }

    #[test]
    fn identical_denied_checks_fold_into_their_first_and_nothing_else_does() {
        let mutation = || new_event(None, EventKind::Mutation, "case", "c1", "UPDATE");
        let refused_call = || AuditEvent {
            rule: "INVALID_CREDENTIALS".into(),
            ..new_event(None, EventKind::DeniedCall, "login", "l1", "StartSession")
        };
        assert_eq!(fold(vec![refused_call(), refused_call()]).len(), 2, "each refused call stays an event");
        let events = vec![
            refusal("p1", "R2.20", 0),
            mutation(),
            refusal("p2", "R2.20", 1),
            refusal("p1", "R2.20", 3),
            refusal("p1", "R4.3", 4),
            mutation(),
            refusal("p1", "R2.20", 2),
        ];
        let folded = fold(events);
        let shape: Vec<(EventKind, &str, &str, u64)> = folded
            .iter()
            .map(|event| (event.kind, event.principal_id.as_str(), event.rule.as_str(), event.occurrences))
            .collect();
        assert_eq!(
            shape,
            vec![
                (EventKind::DeniedCheck, "p1", "R2.20", 3),
                (EventKind::Mutation, "", "", 1),
                (EventKind::DeniedCheck, "p2", "R2.20", 1),
                (EventKind::DeniedCheck, "p1", "R4.3", 1),
                (EventKind::Mutation, "", "", 1),
            ]
        );
        // The first keeps its id, time and trace; the last time is the latest of the folded.
        assert_eq!(folded[0].trace_id, "trace-0");
        assert_eq!(folded[0].last_occurred_at, Some(DateTime::from_timestamp(1_800_000_003, 0).unwrap()));
        assert_eq!(folded[2].last_occurred_at, None, "a single refusal has no last time");
        assert_eq!(folded.iter().map(|event| event.occurrences).sum::<u64>(), 7, "nothing is lost");
    }

    #[test]
    fn retention_is_ninety_days_unless_configured() {
        assert_eq!(retention_days(|_| None).unwrap(), Some(DEFAULT_RETENTION_DAYS));
        assert_eq!(retention_days(|_| Some("30".to_owned())).unwrap(), Some(30));
        assert_eq!(retention_days(|_| Some("0".to_owned())).unwrap(), None, "0 keeps the trail forever");
        assert!(retention_days(|_| Some("a month".to_owned())).is_err());
    }

    /// On SQLite and PostgreSQL: folded batches are stored with their count,
    /// read back as written, and the retention deletes only what is older.
    #[tokio::test]
    async fn folded_events_are_stored_and_retention_deletes_only_older_ones() {
        for backend in
            csm_db::testing::TestBackend::all("folded_events_are_stored_and_retention_deletes_only_older_ones")
        {
            let database = backend.fresh_database("audit");
            let db = Db::connect(&database.url, &csm_db::PoolSettings::default()).await.expect("connect");
            migrations().run(&db).await.expect("migrate");
            let old =
                AuditEvent { occurred_at: csm_db::now() - chrono::Duration::days(100), ..refusal("p0", "R2.20", 0) };
            let mut recent: Vec<AuditEvent> = (0..600).map(|index| refusal("p1", "R2.20", index % 5)).collect();
            for event in &mut recent {
                event.occurred_at = csm_db::now();
            }
            recent.push(refusal("p2", "R4.3", 9));
            recent.last_mut().unwrap().occurred_at = csm_db::now();
            let mut batch = vec![old];
            batch.extend(recent);
            store::insert_batch(&db, &fold(batch)).await.expect("insert");
            let page = csm_db::PageRequest { size: 100, after: None };
            let (events, _) = store::list_events(&db, &store::AuditQuery::default(), &page).await.expect("list");
            let counts: Vec<(String, u64)> =
                events.iter().map(|event| (event.principal_id.clone(), event.occurrences)).collect();
            assert_eq!(counts, vec![("p0".into(), 1), ("p1".into(), 600), ("p2".into(), 1)], "{}", backend.name());
            assert!(events[1].last_occurred_at.is_some());
            let deleted = store::prune(&db, csm_db::now() - chrono::Duration::days(90)).await.expect("prune");
            assert_eq!(deleted, 1, "{}", backend.name());
            let (events, _) = store::list_events(&db, &store::AuditQuery::default(), &page).await.expect("list");
            assert_eq!(events.len(), 2);
            db.close().await;
            database.remove().await;
        }
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [EventKind::Mutation, EventKind::DeniedCall, EventKind::DeniedCheck] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        for kind in [ActorKind::Human, ActorKind::Service, ActorKind::System, ActorKind::Anonymous] {
            assert_eq!(ActorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("other"), None);
    }

    #[tokio::test]
    async fn the_scope_names_the_actor_of_its_call_only() {
        let (sink, _writer) = AuditSink::new();
        let scope = CallScope::new("/csm.role.v1.RoleService/AssignRole", || "abc".to_owned(), sink);
        let inner = scope.clone();
        scope
            .run(async move {
                set_actor(Actor::service("identity"));
                assert_eq!(inner.actor(), Actor::service("identity"));
            })
            .await;
        // Outside any scope, naming an actor is a no-op and nothing panics.
        set_actor(Actor::system());
        assert!(current().is_none());
    }

    #[tokio::test]
    async fn refusals_reach_the_writer_queue_with_the_call_context() {
        let (sink, mut writer) = AuditSink::new();
        let scope = CallScope::new(
            "/csm.case_access.v1.CaseAccessService/Check",
            || "0af7651916cd43dd8448eb211c80319c".to_owned(),
            sink,
        );
        scope
            .clone()
            .run(async {
                set_actor_with(|| Actor::human("login-1", Some("profile-1")));
                denied_check("profile-2", "case", "case-9", "READ", "R4.3").await;
            })
            .await;
        scope.denied_call("MISSING_ROLE").await;
        let check = writer.receiver.recv().await.expect("queued");
        assert_eq!(check.kind, EventKind::DeniedCheck);
        assert_eq!((check.actor_kind, check.actor_id.as_str()), (ActorKind::Human, "login-1"));
        assert_eq!(check.principal_id, "profile-2");
        assert_eq!(
            (check.entity_id.as_str(), check.operation.as_str(), check.rule.as_str()),
            ("case-9", "READ", "R4.3")
        );
        assert_eq!(check.trace_id, "0af7651916cd43dd8448eb211c80319c");
        let call = writer.receiver.recv().await.expect("queued");
        assert_eq!(
            (call.kind, call.operation.as_str(), call.rule.as_str()),
            (EventKind::DeniedCall, "Check", "MISSING_ROLE")
        );
        assert_eq!(call.principal_id, "profile-1", "a refused call is recorded as the caller's active profile");
    }
}
