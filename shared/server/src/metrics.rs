//! RED metrics per RPC, database gauges and the Prometheus scrape endpoint.
//!
//! Convention (docs/metrics.md): Prometheus names with a `csm_` prefix,
//! `csm_rpc_requests_total{service,method,code}` and the histogram
//! `csm_rpc_duration_seconds{service,method}`; `service` is the gRPC service
//! (`csm.role.v1.RoleService`), `code` the gRPC code name (`OK`, `NOT_FOUND`).
//!
//! The endpoint is plain HTTP/1.1 on its own port (`CSM_METRICS_ADDR`), not
//! on the gRPC port: the gRPC server speaks HTTP/2 only and runs every request
//! through authentication, deadlines and load shedding; a scrape needs none of
//! that, and a separate port can stay inside the cluster network.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use csm_db::Db;
use csm_telemetry::metrics::ServiceMetrics;
use csm_types::ServiceName;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use prost::Message as _;
use tokio::net::TcpListener;
use tower::{BoxError, Layer, Service};

/// Upper bounds of the latency buckets, in seconds (1 ms … 30 s).
const DURATION_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// gRPC status codes by number (the `code` label).
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The gRPC code name of a decimal `grpc-status` value.
pub fn grpc_code_name(status: &str) -> &'static str {
    status.parse::<usize>().ok().and_then(|code| CODE_NAMES.get(code).copied()).unwrap_or("UNKNOWN")
}

type MethodLabels = [(&'static str, Arc<str>); 2];
type CodeLabels = [(&'static str, Arc<str>); 3];

/// (service, method) label values of each path this server serves. Labels come
/// only from this table, so a client sending made-up paths cannot grow the
/// label sets: those are counted as service="unknown", method="unknown".
struct KnownMethods {
    by_path: HashMap<String, Arc<MethodMetrics>>,
    unknown: Arc<MethodMetrics>,
}

/// One method's labels and, once it has been answered, its series: resolved
/// through the families once instead of hashing the label set on every call
/// (issue 15). Series still appear on first use, as before.
struct MethodMetrics {
    service: Arc<str>,
    method: Arc<str>,
    duration: OnceLock<Histogram>,
    /// By gRPC code (0..=16).
    requests: [OnceLock<Counter>; 17],
}

impl MethodMetrics {
    fn new(service: &str, method: &str) -> Arc<Self> {
        Arc::new(Self {
            service: Arc::from(service),
            method: Arc::from(method),
            duration: OnceLock::new(),
            requests: std::array::from_fn(|_| OnceLock::new()),
        })
    }
}

impl KnownMethods {
    fn new(service_name: &str) -> Self {
        let mut by_path = HashMap::new();
        let mut add = |service: &str, method: &str| {
            by_path.insert(format!("/{service}/{method}"), MethodMetrics::new(service, method));
        };
        for encoded in [csm_proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET] {
            let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else { continue };
            for file in &set.file {
                for service in &file.service {
                    let full_name = format!("{}.{}", file.package(), service.name());
                    if full_name == service_name || full_name == "grpc.health.v1.Health" {
                        for method in &service.method {
                            add(&full_name, method.name());
                        }
                    }
                }
            }
        }
        for reflection in ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"] {
            add(reflection, "ServerReflectionInfo");
        }
        Self { by_path, unknown: MethodMetrics::new("unknown", "unknown") }
    }

    fn of(&self, path: &str) -> Arc<MethodMetrics> {
        self.by_path.get(path).unwrap_or(&self.unknown).clone()
    }
}

struct RpcMetricsInner {
    requests: Family<CodeLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    known: KnownMethods,
    codes: Vec<Arc<str>>,
}

/// Counts every RPC by gRPC code and times it (to its response headers: the
/// whole call for a unary RPC, the opening for a stream). Errors are read from
/// the response headers, where tonic puts the status of a failed call
/// ("trailers-only"); a stream that fails after it opened counts as OK.
#[derive(Clone)]
pub struct RpcMetricsLayer {
    inner: Arc<RpcMetricsInner>,
}

impl RpcMetricsLayer {
    /// The metrics of the server of `service_name`, registered in `metrics`.
    pub fn new(service_name: &str, metrics: &ServiceMetrics) -> Self {
        let requests = Family::<CodeLabels, Counter>::default();
        let duration: Family<MethodLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        metrics.register("csm_rpc_requests", "RPCs answered, by gRPC status code.", requests.clone());
        metrics.register_with_unit(
            "csm_rpc_duration",
            "Time to answer an RPC (to the response headers).",
            Unit::Seconds,
            duration.clone(),
        );
        let codes = CODE_NAMES.iter().map(|name| Arc::from(*name)).collect();
        Self { inner: Arc::new(RpcMetricsInner { requests, duration, known: KnownMethods::new(service_name), codes }) }
    }
}

impl RpcMetricsInner {
    fn record(&self, method: &MethodMetrics, code: &str, started: Instant) {
        let code = code.parse::<usize>().ok().filter(|code| *code < self.codes.len()).unwrap_or(2);
        let duration = method.duration.get_or_init(|| {
            self.duration
                .get_or_create(&[("service", method.service.clone()), ("method", method.method.clone())])
                .clone()
        });
        duration.observe(started.elapsed().as_secs_f64());
        let requests = method.requests[code].get_or_init(|| {
            let labels = [
                ("service", method.service.clone()),
                ("method", method.method.clone()),
                ("code", self.codes[code].clone()),
            ];
            self.requests.get_or_create(&labels).clone()
        });
        requests.inc();
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner, metrics: self.inner.clone() }
    }
}

#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    metrics: Arc<RpcMetricsInner>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let method = self.metrics.known.of(request.uri().path());
        let metrics = self.metrics.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            match inner.call(request).await {
                Ok(response) => {
                    let code = csm_telemetry::grpc_status_of(&response).unwrap_or("0");
                    metrics.record(&method, code, started);
                    Ok(response)
                }
                // An error of a layer below (load shedding): answered here as
                // tonic would answer it, so that it is counted with its code.
                Err(error) => match tonic::Status::try_from_error(error.into()) {
                    Ok(status) => {
                        metrics.record(&method, &(status.code() as i32).to_string(), started);
                        Ok(status.into_http())
                    }
                    Err(error) => {
                        metrics.record(&method, "2", started);
                        Err(error)
                    }
                },
            }
        })
    }
}

/// Gauges of the database pool (read at each scrape) and the head of the
/// service's own change feed (one cheap query per scrape).
pub fn register_database_metrics(metrics: &ServiceMetrics, db: &Db, service: ServiceName) {
    metrics.register_collector(DbPoolCollector { db: db.clone() });
    let head = Family::<[(&'static str, &'static str); 1], Gauge<i64>>::default();
    metrics.register(
        "csm_changefeed_head_revision",
        "The last revision committed to this service's change feed (compare csm_watch_applied_revision).",
        head.clone(),
    );
    let feed = csm_changefeed::ChangeFeed::new(db.clone(), service);
    metrics.before_scrape(move || {
        let feed = feed.clone();
        let head = head.clone();
        async move {
            if let Ok(revision) = feed.head().await {
                head.get_or_create(&[("feed", feed.service().as_str())])
                    .set(i64::try_from(revision).unwrap_or(i64::MAX));
            }
        }
    });
}

#[derive(Debug)]
struct DbPoolCollector {
    db: Db,
}

impl Collector for DbPoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.db.pool_stats();
        let mut connections = encoder.encode_descriptor(
            "csm_db_pool_connections",
            "Connections of the database pool, by state (idle, in_use).",
            None,
            MetricType::Gauge,
        )?;
        for (state, value) in [("idle", stats.idle), ("in_use", stats.in_use)] {
            ConstGauge::new(i64::from(value)).encode(connections.encode_family(&[("state", state)])?)?;
        }
        let max = ConstGauge::new(i64::from(stats.max));
        max.encode(encoder.encode_descriptor(
            "csm_db_pool_max_connections",
            "The pool's upper bound: in_use at this value is saturation.",
            None,
            max.metric_type(),
        )?)?;
        Ok(())
    }
}

/// Serves `GET /metrics` (and `/`) from `metrics` on `listener` until
/// `shutdown` resolves; then open connections are closed.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: ServiceMetrics,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "metrics endpoint: accept failed");
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let metrics = metrics.clone();
            async move { Ok::<_, std::convert::Infallible>(scrape_response(&request, &metrics).await) }
        });
        connections.spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
    Ok(())
}

async fn scrape_response<B>(request: &Request<B>, metrics: &ServiceMetrics) -> Response<Full<Bytes>> {
    let respond = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = http::HeaderValue::from_str(content_type) {
            response.headers_mut().insert(http::header::CONTENT_TYPE, value);
        }
        response
    };
    match (request.method(), request.uri().path()) {
        (&http::Method::GET, "/metrics" | "/") => {
            respond(StatusCode::OK, csm_telemetry::metrics::CONTENT_TYPE, metrics.render().await)
        }
        (&http::Method::GET, _) => respond(StatusCode::NOT_FOUND, "text/plain", "not found: try /metrics\n".into()),
        _ => respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_follow_the_grpc_numbers() {
        assert_eq!(grpc_code_name("0"), "OK");
        assert_eq!(grpc_code_name("3"), "INVALID_ARGUMENT");
        assert_eq!(grpc_code_name("16"), "UNAUTHENTICATED");
        assert_eq!(grpc_code_name("99"), "UNKNOWN");
    }

    #[test]
    fn only_served_methods_become_labels() {
        let known = KnownMethods::new("csm.role.v1.RoleService");
        let labels = |path: &str| {
            let method = known.of(path);
            (method.service.to_string(), method.method.to_string())
        };
        assert_eq!(
            labels("/csm.role.v1.RoleService/GetEffectiveRoles"),
            ("csm.role.v1.RoleService".to_owned(), "GetEffectiveRoles".to_owned())
        );
        assert_eq!(labels("/grpc.health.v1.Health/Check").0, "grpc.health.v1.Health");
        assert_eq!(labels("/csm.role.v1.RoleService/MadeUp"), ("unknown".to_owned(), "unknown".to_owned()));
        assert_eq!(labels("/csm.identity.v1.IdentityService/GetAccount").0, "unknown");
    }

    #[tokio::test]
    async fn failed_calls_are_counted_by_code_and_timed() {
        use tower::{ServiceExt as _, service_fn};
        let metrics = ServiceMetrics::new();
        let layer = RpcMetricsLayer::new("csm.role.v1.RoleService", &metrics);
        let answer = service_fn(|request: Request<()>| async move {
            if request.uri().path().ends_with("GetEffectiveRoles") {
                Ok::<_, BoxError>(Response::new(String::new()))
            } else {
                Ok(tonic::Status::not_found("no").into_http())
            }
        });
        let service = layer.layer(answer);
        let call = |path: &str| Request::builder().uri(path).body(()).unwrap();
        service.clone().oneshot(call("/csm.role.v1.RoleService/GetEffectiveRoles")).await.unwrap();
        service.clone().oneshot(call("/csm.role.v1.RoleService/GetRole")).await.unwrap();
        let text = metrics.encode();
        assert!(text.contains(
            r#"csm_rpc_requests_total{service="csm.role.v1.RoleService",method="GetEffectiveRoles",code="OK"} 1"#
        ));
        assert!(text.contains(
            r#"csm_rpc_requests_total{service="csm.role.v1.RoleService",method="GetRole",code="NOT_FOUND"} 1"#
        ));
        assert!(
            text.contains(r#"csm_rpc_duration_seconds_count{service="csm.role.v1.RoleService",method="GetRole"} 1"#)
        );
    }
}
