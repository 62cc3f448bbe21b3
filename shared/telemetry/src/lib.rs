//! Telemetry for the CSM services.
//!
//! - [`init`] installs the process-wide tracing subscriber: a log layer (JSON
//!   lines with the trace and span ids, [`JsonWithTrace`], by default;
//!   `CSM_LOG_FORMAT=pretty` for humans) filtered by `RUST_LOG`, and an
//!   OpenTelemetry layer. Spans always get W3C trace ids, so `traceparent`
//!   propagation works even when nothing is exported; they are exported over
//!   OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Sampling follows the
//!   standard `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (read by the SDK;
//!   default `parentbased_always_on`, e.g. `parentbased_traceidratio` with `0.1`).
//! - [`ServerTraceLayer`] opens one span per RPC, named after the RPC
//!   (`csm.role.v1.RoleService/GetEffectiveRoles`), parented on the caller's
//!   `traceparent`, and records the gRPC status.
//! - [`ClientTraceLayer`] opens the client span of an outgoing call and injects
//!   its context as `traceparent`, so one request is one trace across services.
//! - [`metrics::ServiceMetrics`] is the Prometheus registry of one service
//!   instance (RED metrics per RPC, cache, pools; docs/metrics.md), also
//!   pushed over OTLP when configured ([`otlp_metrics`]).

mod json;
mod layers;
pub mod metrics;
pub mod otlp_metrics;

pub use json::JsonWithTrace;
pub use otlp_metrics::{OtlpMetricsConfig, spawn_otlp_metrics};

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use layers::{
    ClientTrace, ClientTraceLayer, ServerTrace, ServerTraceLayer, current_trace_id, extract_context, grpc_status_of,
    split_grpc_path,
};

/// Where telemetry goes. Read from the standard `OTEL_*` variables by [`TelemetryConfig::from_env`].
#[derive(Debug, Clone, Default)]
pub struct TelemetryConfig {
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// OTLP/gRPC endpoint (e.g. `http://127.0.0.1:4317`); `None` exports nothing.
    pub otlp_endpoint: Option<String>,
    /// `RUST_LOG`-style filter; `None` means `info`.
    pub log_filter: Option<String>,
    /// Log format: JSON lines (default) or human-readable.
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
    /// No log output (tests that only want spans).
    Off,
}

impl TelemetryConfig {
    /// Reads `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `RUST_LOG` and `CSM_LOG_FORMAT`
    /// through `lookup` (so tests pass a map instead of mutating the process environment).
    pub fn from_lookup(default_service_name: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let log_format = match lookup("CSM_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some("off") => LogFormat::Off,
            Some(other) => anyhow::bail!("CSM_LOG_FORMAT must be json, pretty or off, got {other:?}"),
        };
        Ok(Self {
            service_name: lookup("OTEL_SERVICE_NAME").unwrap_or_else(|| default_service_name.to_owned()),
            otlp_endpoint: lookup("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|value| !value.is_empty()),
            log_filter: lookup("RUST_LOG"),
            log_format,
        })
    }

    pub fn from_env(default_service_name: &str) -> anyhow::Result<Self> {
        Self::from_lookup(default_service_name, |key| std::env::var(key).ok())
    }
}

/// Keeps the tracer provider alive; [`TelemetryGuard::shutdown`] flushes pending spans.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Flushes and stops the exporter. Blocking: runs on a blocking thread.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        })
        .await;
    }

    /// Flushes pending spans to the exporter now.
    pub async fn flush(&self) {
        let provider = self.provider.clone();
        let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs the global subscriber and propagator. Must be called inside a tokio
/// runtime when an OTLP endpoint is configured. A second call in the same
/// process returns an error (the first subscriber stays).
pub fn init(config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    if INSTALLED.set(()).is_err() {
        anyhow::bail!("telemetry is already initialised in this process");
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = Resource::builder().with_service_name(config.service_name.clone()).build();
    let mut provider_builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter =
            opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).build()?;
        provider_builder = provider_builder.with_batch_exporter(exporter);
    }
    let provider = provider_builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer("csm");

    let filter = EnvFilter::try_new(config.log_filter.as_deref().unwrap_or("info"))
        .map_err(|error| anyhow::anyhow!("RUST_LOG is not a valid filter: {error}"))?;
    let otel_layer = tracing_opentelemetry::layer().with_tracer(tracer);

    // OpenTelemetry gets INFO spans and above: the RPC spans (INFO) and the
    // services' own, not the TRACE/DEBUG spans of h2, hyper, tower and sqlx —
    // which would be created on every call, flood the export queue (spans are
    // dropped when it is full) and cost time on the hot path.
    let otel_layer = otel_layer.with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel_layer);
    let format = JsonWithTrace::new();
    let dispatch = match config.log_format {
        LogFormat::Json => Dispatch::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(json::SpanFields)
                    .event_format(format.clone())
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            ),
        ),
        LogFormat::Pretty => Dispatch::new(
            registry.with(tracing_subscriber::fmt::layer().compact().with_writer(std::io::stderr).with_filter(filter)),
        ),
        LogFormat::Off => Dispatch::new(registry),
    };
    format.bind(&dispatch);
    dispatch.try_init()?;
    Ok(TelemetryGuard { provider })
}

use tracing_subscriber::Layer as _;
