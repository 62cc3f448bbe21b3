//! Tower layers that give every RPC a span and carry W3C trace context across
//! service boundaries.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt as _;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

/// The OpenTelemetry context carried by `traceparent` / `tracestate` in `headers`.
pub fn extract_context(headers: &HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

fn inject_context(context: &opentelemetry::Context, headers: &mut HeaderMap) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(context, &mut HeaderInjector(headers))
    });
}

/// The trace id of the current span (32 hex digits), if it has a valid one.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// `/csm.role.v1.RoleService/GetEffectiveRoles` → (`csm.role.v1.RoleService`, `GetEffectiveRoles`).
pub fn split_grpc_path(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    trimmed.split_once('/').unwrap_or((trimmed, ""))
}

/// The `grpc-status` of a response as its headers carry it (the decimal code),
/// `None` for a call that started fine (shared by the trace and metrics layers).
pub fn grpc_status_of<B>(response: &Response<B>) -> Option<&str> {
    // Errors are sent "trailers-only": grpc-status is then a response header.
    // A successful unary call sends it in the trailers, which a layer at this
    // level does not see; no header therefore means the call started fine.
    response.headers().get("grpc-status").and_then(|value| value.to_str().ok())
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Opens the server span of each RPC, parented on the caller's `traceparent`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerTraceLayer;

impl<S> Layer<S> for ServerTraceLayer {
    type Service = ServerTrace<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ServerTrace { inner }
    }
}

#[derive(Debug, Clone)]
pub struct ServerTrace<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerTrace<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        let (service, method) = split_grpc_path(path);
        // Plain `&str` values: recorded as they are, not through `Display`.
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            // Filled by the service when known (never personal data):
            // "human" / "service", the evaluated profile's kind, a decision and its rule.
            csm.caller_kind = tracing::field::Empty,
            csm.principal_kind = tracing::field::Empty,
            csm.decision = tracing::field::Empty,
            csm.rule = tracing::field::Empty,
        );
        // Without a `traceparent` the span starts its own trace: nothing to extract.
        if request.headers().contains_key("traceparent") {
            let _ = span.set_parent(extract_context(request.headers()));
        }
        // Clone-and-swap: the clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let record_span = span.clone();
        Box::pin(
            async move {
                let result = inner.call(request).await;
                if let Ok(response) = &result {
                    let code = grpc_status_of(response).unwrap_or("0");
                    record_span.record("rpc.grpc.status_code", code);
                    if code != "0" {
                        record_span.record("otel.status_code", "ERROR");
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}

/// Opens the client span of each outgoing RPC and injects its `traceparent`.
/// Optionally adds a bearer token (the calling service's identity).
#[derive(Debug, Clone, Default)]
pub struct ClientTraceLayer {
    authorization: Option<HeaderValue>,
}

impl ClientTraceLayer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call carries `authorization: Bearer <token>`.
    pub fn with_bearer_token(token: &str) -> Self {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok();
        if let Some(value) = value.as_mut() {
            value.set_sensitive(true);
        }
        Self { authorization: value }
    }
}

impl<S> Layer<S> for ClientTraceLayer {
    type Service = ClientTrace<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientTrace { inner, authorization: self.authorization.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct ClientTrace<S> {
    inner: S,
    authorization: Option<HeaderValue>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientTrace<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let (service, method) = split_grpc_path(&path);
        let span = tracing::info_span!(
            "grpc.client",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        inject_context(&span.context(), request.headers_mut());
        if let Some(authorization) = &self.authorization
            && !request.headers().contains_key(http::header::AUTHORIZATION)
        {
            request.headers_mut().insert(http::header::AUTHORIZATION, authorization.clone());
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let record_span = span.clone();
        Box::pin(
            async move {
                let result = inner.call(request).await;
                match &result {
                    Ok(response) => {
                        let code = grpc_status_of(response).unwrap_or("0").to_owned();
                        record_span.record("rpc.grpc.status_code", code.as_str());
                        if code != "0" {
                            record_span.record("otel.status_code", "ERROR");
                        }
                    }
                    Err(_) => {
                        record_span.record("rpc.grpc.status_code", "14");
                        record_span.record("otel.status_code", "ERROR");
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::split_grpc_path;

    #[test]
    fn grpc_paths_split_into_service_and_method() {
        assert_eq!(
            split_grpc_path("/csm.role.v1.RoleService/GetEffectiveRoles"),
            ("csm.role.v1.RoleService", "GetEffectiveRoles")
        );
    }
}
