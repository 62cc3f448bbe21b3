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
//! caller in it ([`set_actor`]). Work outside any call (start-up seeding,
//! licence expiry) is recorded as the [`ActorKind::System`] actor.
//!
//! Refusals are not written on the request's path: they go through a bounded
//! queue ([`AuditSink`]) to one [`AuditWriter`] per service, which inserts them
//! in batches. A full queue makes the refusing call wait (back-pressure), it
//! never drops an event; a crash loses at most the batch in flight.

mod store;

use csm_types::roles;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
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
}

/// What the caller of the current RPC is known to be.
struct ScopeState {
    rpc: String,
    trace_id: String,
    actor: Mutex<Actor>,
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
    /// A scope for the RPC `rpc` (its path) with trace id `trace_id` (may be
    /// empty). The actor is anonymous until the auth layer names it.
    pub fn new(rpc: impl Into<String>, trace_id: impl Into<String>, sink: AuditSink) -> Self {
        Self(Arc::new(ScopeState {
            rpc: rpc.into(),
            trace_id: trace_id.into(),
            actor: Mutex::new(Actor::anonymous()),
            sink,
        }))
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
        self.0.actor.lock().map(|actor| actor.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
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
        Some(scope) => (scope.actor(), scope.0.rpc.clone(), scope.0.trace_id.clone()),
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
    }
}

fn current() -> Option<CallScope> {
    SCOPE.try_with(CallScope::clone).ok()
}

/// Names the caller of the current RPC (the auth layer, once it verified the
/// token). Outside a call scope it does nothing.
pub fn set_actor(actor: Actor) {
    let _ = SCOPE.try_with(|scope| {
        if let Ok(mut current) = scope.0.actor.lock() {
            *current = actor;
        }
    });
}

/// A denied access decision about `principal_id` on the entity
/// (`entity_type`, `entity_id`) for `action`, with the rule that denied it (or
/// the closest rule that did not match). Queued to the batched writer; outside
/// a call scope (no caller to name) it is logged only.
pub async fn denied_check(principal_id: &str, entity_type: &str, entity_id: &str, action: &str, rule: &str) {
    match current() {
        Some(scope) => {
            let event = AuditEvent {
                principal_id: principal_id.to_owned(),
                rule: rule.to_owned(),
                ..scope.event(EventKind::DeniedCheck, entity_type, entity_id, action)
            };
            scope.0.sink.send(event).await;
        }
        None => tracing::warn!(entity_type, action, rule, "denied decision outside a call: not audited"),
    }
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
            while batch.len() < BATCH {
                match self.receiver.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let mut delay = Duration::from_millis(100);
            loop {
                match store::insert_batch(&db, &batch).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(%error, events = batch.len(), "audit batch not written; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
            batch.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let scope = CallScope::new("/csm.role.v1.RoleService/AssignRole", "abc", sink);
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
        let scope =
            CallScope::new("/csm.case_access.v1.CaseAccessService/Check", "0af7651916cd43dd8448eb211c80319c", sink);
        scope
            .clone()
            .run(async {
                set_actor(Actor::human("login-1", Some("profile-1")));
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
