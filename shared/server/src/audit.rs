//! The audit trail on the server side (proto `csm.audit.v1`):
//!
//! - [`AuditLayer`] opens the [`CallScope`] of every RPC (method, trace id,
//!   the refusal queue) — the auth layer below names the caller in it, and a
//!   change appended during the call is recorded with them — and queues a
//!   refused-call event when the answer is PERMISSION_DENIED or UNAUTHENTICATED;
//! - [`AuditGrpc`] serves `ListAuditEvents` from the service's database to
//!   the people the service's [`AuditReaders`] admits.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use csm_audit::{AuditEvent, AuditQuery, AuditSink, CallScope, EventKind};
use csm_auth::{Caller, PUBLIC_PATH_PREFIXES};
use csm_db::{Db, PageRequest};
use csm_errors::{CsmError, CsmResult, FieldErrors};
use csm_proto::audit::{self as pb, audit_service_server::AuditService};
use http::{HeaderMap, HeaderValue, Request, Response};
use tonic::Status;
use tower::{Layer, Service};

use crate::Readiness;

/// Who may read a service's audit trail. Service identities were already
/// admitted by the static policy of the auth layer.
pub trait AuditReaders: Send + Sync + 'static {
    /// Succeeds when `caller` may list this service's audit events.
    fn authorize_audit_read(&self, caller: &Caller) -> impl Future<Output = CsmResult<()>> + Send;
}

/// Opens the audit scope of each RPC and records refusals.
#[derive(Clone)]
pub struct AuditLayer {
    sink: AuditSink,
}

impl AuditLayer {
    pub fn new(sink: AuditSink) -> Self {
        Self { sink }
    }
}

impl<S> Layer<S> for AuditLayer {
    type Service = Audited<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Audited { inner, sink: self.sink.clone() }
    }
}

#[derive(Clone)]
pub struct Audited<S> {
    inner: S,
    sink: AuditSink,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Audited<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Clone-and-swap: the clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        if PUBLIC_PATH_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
            return Box::pin(inner.call(request));
        }
        // Found only when the call records an event (most record none).
        let traceparent = request.headers().get("traceparent").cloned();
        let trace_id = move || {
            csm_telemetry::current_trace_id()
                .or_else(|| traceparent.as_ref().and_then(traceparent_trace_id))
                .unwrap_or_default()
        };
        let scope = CallScope::new(path, trace_id, self.sink.clone());
        // The layers below may name the caller while building their future (auth does).
        let call = scope.run_sync(|| inner.call(request));
        let recorder = scope.clone();
        Box::pin(scope.run(async move {
            let response = call.await?;
            if let Some(reason) = refusal_reason(response.headers()) {
                recorder.denied_call(&reason).await;
            }
            Ok(response)
        }))
    }
}

/// The ErrorInfo reason of a refusal (sent trailers-only, so in the
/// headers): every PERMISSION_DENIED / UNAUTHENTICATED answer, and a
/// RESOURCE_EXHAUSTED one that names its reason (a guessing limit, a full
/// licence pool, a rate limit); `None` for anything else.
fn refusal_reason(headers: &HeaderMap) -> Option<String> {
    let code = headers.get("grpc-status")?.to_str().ok()?;
    if !matches!(code, "7" | "8" | "16") {
        return None;
    }
    let status = Status::from_header_map(headers)?;
    match csm_errors::reason_of_status(&status) {
        Some(reason) => Some(reason),
        None if code == "8" => None,
        None => Some(format!("{:?}", status.code())),
    }
}

/// The trace id of a W3C `traceparent` header (`00-<trace id>-<span id>-<flags>`),
/// for calls recorded while no OpenTelemetry layer is installed.
fn traceparent_trace_id(header: &HeaderValue) -> Option<String> {
    let value = header.to_str().ok()?;
    let trace_id = value.split('-').nth(1)?;
    (trace_id.len() == 32 && trace_id.bytes().all(|byte| byte.is_ascii_hexdigit()) && trace_id != "0".repeat(32))
        .then(|| trace_id.to_ascii_lowercase())
}

/// `csm.audit.v1.AuditService` over the service's database, available once the
/// service is ready.
pub struct AuditGrpc<T> {
    readiness: Arc<Readiness<T>>,
    db: Arc<OnceLock<Db>>,
}

impl<T> AuditGrpc<T> {
    pub fn new(readiness: Arc<Readiness<T>>, db: Arc<OnceLock<Db>>) -> Self {
        Self { readiness, db }
    }
}

#[tonic::async_trait]
impl<T: AuditReaders> AuditService for AuditGrpc<T> {
    async fn list_audit_events(
        &self,
        request: tonic::Request<pb::ListAuditEventsRequest>,
    ) -> Result<tonic::Response<pb::ListAuditEventsResponse>, Status> {
        let caller = csm_auth::caller(&request)?;
        let state = self.readiness.get()?;
        // The database is set before the state is ready.
        let db = self.db.get().ok_or_else(not_ready)?;
        state.authorize_audit_read(&caller).await?;
        let request = request.into_inner();
        let (query, page) = query_from_proto(&request)?;
        let (events, next_page_token) = csm_audit::list_events(db, &query, &page).await?;
        Ok(tonic::Response::new(pb::ListAuditEventsResponse {
            events: events.iter().map(event_to_proto).collect(),
            next_page_token,
        }))
    }
}

fn not_ready() -> CsmError {
    CsmError::unavailable("SERVICE_STARTING", "the service is starting: its database is not ready")
}

fn query_from_proto(request: &pb::ListAuditEventsRequest) -> CsmResult<(AuditQuery, PageRequest)> {
    let mut errors = FieldErrors::new();
    let start = request.start_time.as_ref().and_then(|at| time_field(at, "start_time", &mut errors));
    let end = request.end_time.as_ref().and_then(|at| time_field(at, "end_time", &mut errors));
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        errors.add("end_time", "must be after start_time");
    }
    let kind = match pb::AuditEventKind::try_from(request.kind) {
        Ok(pb::AuditEventKind::Unspecified) => None,
        Ok(pb::AuditEventKind::Mutation) => Some(EventKind::Mutation),
        Ok(pb::AuditEventKind::DeniedCall) => Some(EventKind::DeniedCall),
        Ok(pb::AuditEventKind::DeniedCheck) => Some(EventKind::DeniedCheck),
        Err(_) => {
            errors.add("kind", format!("unknown audit event kind {}", request.kind));
            None
        }
    };
    let principal = request.principal.trim();
    if principal.len() > 200 {
        errors.add("principal", "must be at most 200 characters");
    }
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let query = AuditQuery { start, end, principal: (!principal.is_empty()).then(|| principal.to_owned()), kind };
    let page = page.ok_or_else(|| CsmError::internal("a page request without errors"))?;
    Ok((query, page))
}

fn time_field(
    at: &prost_types::Timestamp,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let time = u32::try_from(at.nanos).ok().and_then(|nanos| chrono::DateTime::from_timestamp(at.seconds, nanos));
    if time.is_none() {
        errors.add(field, "is not a valid timestamp");
    }
    time
}

fn event_to_proto(event: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        event_id: event.event_id.to_string(),
        occurred_at: Some(csm_proto::timestamp(event.occurred_at)),
        kind: match event.kind {
            EventKind::Mutation => pb::AuditEventKind::Mutation,
            EventKind::DeniedCall => pb::AuditEventKind::DeniedCall,
            EventKind::DeniedCheck => pb::AuditEventKind::DeniedCheck,
        } as i32,
        actor_kind: match event.actor_kind {
            csm_audit::ActorKind::Human => pb::ActorKind::Human,
            csm_audit::ActorKind::Service => pb::ActorKind::Service,
            csm_audit::ActorKind::System => pb::ActorKind::System,
            csm_audit::ActorKind::Anonymous => pb::ActorKind::Anonymous,
        } as i32,
        actor_id: event.actor_id.clone(),
        principal_id: event.principal_id.clone(),
        rpc: event.rpc.clone(),
        entity_type: event.entity_type.clone(),
        entity_id: event.entity_id.clone(),
        operation: event.operation.clone(),
        decision: event.decision.clone(),
        rule: event.rule.clone(),
        trace_id: event.trace_id.clone(),
        revision: event.revision,
        occurrences: event.occurrences,
        last_occurred_at: event.last_occurred_at.map(csm_proto::timestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_gives_its_trace_id() {
        let header = |value: &str| HeaderValue::from_str(value).unwrap();
        assert_eq!(
            traceparent_trace_id(&header("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01")).as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(traceparent_trace_id(&header("00-00000000000000000000000000000000-b7ad6b7169203331-01")), None);
        assert_eq!(traceparent_trace_id(&header("garbage")), None);
    }

    #[test]
    fn refusals_are_permission_denied_and_unauthenticated_only() {
        let status = CsmError::permission_denied("MISSING_ROLE", "no").to_status();
        let mut headers = HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        assert_eq!(refusal_reason(&headers).as_deref(), Some("MISSING_ROLE"));
        let mut headers = HeaderMap::new();
        CsmError::not_found("case", "c-1").to_status().add_header(&mut headers).unwrap();
        assert_eq!(refusal_reason(&headers), None);
        assert_eq!(refusal_reason(&HeaderMap::new()), None);
    }
}
