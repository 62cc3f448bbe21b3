//! Serving a CSM service.
//!
//! [`serve`] runs one gRPC service on a pre-bound listener with
//! `grpc.health.v1.Health`, server reflection and the suite's tower stack,
//! until `shutdown` resolves; then it stops accepting connections and drains
//! the RPCs in flight.
//!
//! Health starts NOT_SERVING. A service calls [`Readiness::ready`] once its
//! database is migrated and usable; handlers call [`Readiness::get`], which
//! answers UNAVAILABLE until then. A background probe keeps the health status in
//! step with the database afterwards (NOT_SERVING while it is unreachable).
//!
//! [`run_service`] also serves the service's Prometheus scrape endpoint
//! ([`MetricsEndpoint`], `CSM_METRICS_ADDR`) from its own [`ServiceMetrics`]:
//! RED metrics per RPC ([`RpcMetricsLayer`]), database pool gauges and
//! whatever the service registers while it starts (docs/metrics.md).

mod audit;
mod config;
mod directory;
mod edge;
mod keys;
mod metrics;
mod peer;
mod startup;
mod timeout;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use csm_audit::AuditSink;
use std::time::Duration;

use csm_auth::AuthLayer;
use csm_db::Db;
use csm_errors::CsmError;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;

pub use audit::{AuditGrpc, AuditLayer, AuditReaders};
pub use config::{
    BootstrapAdmin, MetricsEndpoint, PeerUrls, ServiceConfig, SessionSettings, default_metrics_port, default_port,
    peer_url_variable,
};
pub use csm_audit::READER_ROLES as AUDIT_READER_ROLES;
pub use csm_telemetry::metrics::ServiceMetrics;
pub use directory::PeerDirectory;
pub use edge::{Descriptors, EdgeLayer, ID_MAX_CHARS, TEXT_MAX_CHARS};
pub use keys::spawn_key_refresher;
pub use metrics::{RpcMetrics, RpcMetricsLayer, grpc_code_name, register_database_metrics, serve_metrics};
pub use peer::{PeerChannel, peer_channel};
pub use startup::{spawn_startup, spawn_startup_with_metrics};
pub use timeout::{Deadline, DeadlineLayer, OVERLOAD_RETRY_AFTER, Overload, OverloadLayer};

/// The audit service every CSM server serves beside its own (proto `csm.audit.v1`).
pub const AUDIT_SERVICE_NAME: &str = "csm.audit.v1.AuditService";

/// The stream a `Watch` RPC serves: `feed`'s changes after `from_revision`
/// (of `entity_types` only, when any are given), ending when the server
/// begins to shut down (`closing`, from [`Readiness::closing`]).
pub fn watch_feed(
    feed: &csm_changefeed::ChangeFeed,
    from_revision: u64,
    entity_types: Vec<String>,
    closing: impl Future<Output = ()> + Send + 'static,
) -> impl tokio_stream::Stream<Item = Result<csm_proto::common::Change, tonic::Status>> + Send + 'static {
    use tokio_stream::StreamExt as _;
    let service = feed.service();
    let changes = feed
        .watch(from_revision)
        .filter(move |change| match change {
            Ok(change) => entity_types.is_empty() || entity_types.contains(&change.entity_type),
            Err(_) => true,
        })
        .map(move |change| change.map(|change| change.to_proto(service)).map_err(tonic::Status::from));
    futures::StreamExt::take_until(changes, Box::pin(closing))
}

/// The secret a service keys its page tokens with: derived from its own
/// service key, so every replica of the service has the same one and no
/// other service can forge its tokens.
fn page_secret(service_key: &csm_auth::KeyPair) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"csm page tokens\0");
    hasher.update(service_key.pkcs8_der());
    hasher.finalize().into()
}

/// Largest header list a server accepts (credentials beyond 8 KiB are refused by the auth layer).
pub const MAX_HEADER_LIST_BYTES: u32 = 256 * 1024;

/// Limits of one server process.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Upper bound of any unary RPC (a smaller client `grpc-timeout` wins).
    pub request_timeout: Duration,
    /// RPCs handled at once; past it, new RPCs are shed with UNAVAILABLE `OVERLOADED` (and RetryInfo).
    pub concurrency_limit: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(30), concurrency_limit: 1024 }
    }
}

/// The application state of a service, available once its database is
/// usable; and the signal that the server has begun to shut down.
pub struct Readiness<T> {
    state: OnceLock<Arc<T>>,
    service_name: &'static str,
    closing: tokio::sync::watch::Sender<bool>,
}

impl<T> Readiness<T> {
    pub fn new(service_name: &'static str) -> Arc<Self> {
        Arc::new(Self { state: OnceLock::new(), service_name, closing: tokio::sync::watch::Sender::new(false) })
    }

    /// Resolves when the server begins its graceful shutdown: long-lived
    /// streams (Watch) end then, so draining does not wait for them (their
    /// clients resume from the last revision they saw, on another replica).
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Makes `state` available to handlers.
    pub fn ready(&self, state: Arc<T>) {
        let _ = self.state.set(state);
    }

    /// The state, or UNAVAILABLE while the service is still starting.
    pub fn get(&self) -> Result<&Arc<T>, CsmError> {
        self.state.get().ok_or_else(|| {
            CsmError::unavailable(
                "SERVICE_STARTING",
                format!("{} is starting: its database is not ready", self.service_name),
            )
        })
    }
}

/// The health service name of liveness (`grpc.health.v1.Health/Check` with
/// `service: "liveness"`): SERVING while the process answers. Readiness is
/// the empty name (and the service's own name): SERVING while its database is usable.
pub const LIVENESS_SERVICE: &str = "liveness";

/// How often readiness probes the database, and how long one probe may take.
pub const DATABASE_PROBE_INTERVAL: Duration = Duration::from_secs(1);
pub const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health reporter of a server (to mark the service SERVING / NOT_SERVING).
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    service_name: &'static str,
}

impl Health {
    pub async fn set(&self, serving: bool) {
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.reporter.set_service_status(self.service_name, status).await;
        // The empty service name stands for the whole server (what probes ask).
        self.reporter.set_service_status("", status).await;
    }

    /// Connects to the database with retries, marks the service SERVING, then keeps
    /// probing the database every `interval` and flips health when it goes away.
    pub fn watch_database(&self, db: Db, interval: Duration) -> tokio::task::JoinHandle<()> {
        let health = self.clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                // A probe that hangs (a pool waiting for connections) is an outage too.
                let usable = tokio::time::timeout(DATABASE_PROBE_TIMEOUT, db.is_usable()).await.unwrap_or(false);
                if last != Some(usable) {
                    if usable {
                        tracing::info!(service = health.service_name, "database usable again: SERVING");
                    } else {
                        tracing::warn!(service = health.service_name, "database not usable: NOT_SERVING");
                    }
                    health.set(usable).await;
                    last = Some(usable);
                }
                tokio::time::sleep(interval).await;
            }
        })
    }
}

/// Builds the health service of the service named `service_name` (initially NOT_SERVING) and its reporter.
pub async fn health_for(
    service_name: &'static str,
) -> (Health, tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    // Liveness: the process answers. Always SERVING while it does, whatever
    // the database does (restarting would not bring a database back).
    reporter.set_service_status(LIVENESS_SERVICE, ServingStatus::Serving).await;
    let health = Health { reporter, service_name };
    health.set(false).await;
    (health, service)
}

/// Runs a CSM service: health (NOT_SERVING until `build` has produced the
/// state from a migrated, usable database), reflection, the layer stack and
/// `routes`, until `shutdown` resolves.
#[allow(clippy::too_many_arguments)]
pub async fn run_service<T, B, BFut>(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    service_name: &'static str,
    migrations: csm_db::Migrations,
    routes: tonic::service::Routes,
    readiness: Arc<Readiness<T>>,
    build: B,
) -> anyhow::Result<()>
where
    T: AuditReaders,
    B: FnOnce(Db) -> BFut + Send + 'static,
    BFut: Future<Output = anyhow::Result<T>> + Send,
{
    let metrics = ServiceMetrics::new();
    // The audit trail: refusals queue until the database is up, then one
    // writer drains them; ListAuditEvents reads the same database.
    let (audit_sink, audit_writer) = AuditSink::new();
    let audit_db = Arc::new(OnceLock::new());
    let routes = routes.add_service(csm_proto::audit::audit_service_server::AuditServiceServer::new(AuditGrpc::new(
        readiness.clone(),
        audit_db.clone(),
    )));
    let retention = config.audit_retention_days;
    let build = move |db: Db| {
        let _ = audit_db.set(db.clone());
        tokio::spawn(audit_writer.run(db.clone()));
        if let Some(days) = retention {
            tokio::spawn(csm_audit::keep_for(db.clone(), days));
        }
        build(db)
    };
    // The scrape endpoint lives as long as the gRPC server, drain included.
    let scrape = match config.metrics.listen().await? {
        Some(metrics_listener) => {
            if let Ok(address) = metrics_listener.local_addr() {
                tracing::info!(service = %config.service, %address, "metrics endpoint: http://{address}/metrics");
            }
            Some(tokio::spawn(serve_metrics(metrics_listener, metrics.clone(), std::future::pending())))
        }
        None => None,
    };
    // OTLP push of the same registry, when the OTEL_* variables ask for it.
    let otlp_metrics = csm_telemetry::OtlpMetricsConfig::from_lookup(&format!("csm-{}", config.service), |name| {
        std::env::var(name).ok()
    })?
    .map(|otlp| csm_telemetry::spawn_otlp_metrics(metrics.clone(), otlp));
    let (health, health_service) = health_for(service_name).await;
    let startup = spawn_startup_with_metrics(&config, migrations, health, readiness.clone(), build, metrics.clone());
    // Who may call what: tokens verified with public keys (identity's fetched
    // and refreshed, so identity can rotate), people admitted through the
    // caller directory, the authorization matrix applied to every RPC.
    let verifier = Arc::new(config.auth.verifier()?);
    let tokens = config.service_tokens()?;
    let identity_channel =
        peer_channel(config.peers.url(csm_types::ServiceName::Identity), tokens.clone(), config.peer_timeout)?;
    let role_channel = peer_channel(config.peers.url(csm_types::ServiceName::Role), tokens, config.peer_timeout)?;
    let key_refresher = match config.auth.jwks_refresh {
        Some(every) if config.service != csm_types::ServiceName::Identity => {
            Some(spawn_key_refresher(verifier.clone(), identity_channel.clone(), every))
        }
        _ => None,
    };
    let directory = PeerDirectory::new(identity_channel, role_channel);
    directory.spawn_watchers();
    let auth = AuthLayer::new(verifier, csm_auth::Matrix::suite(), directory.clone());
    // Long-lived streams end with the shutdown signal, so draining does not
    // wait for them: the directory's (identity's own included) and the
    // Watch streams this server serves.
    let shutdown = {
        let directory = directory.clone();
        let readiness = readiness.clone();
        async move {
            shutdown.await;
            directory.stop();
            readiness.close();
        }
    };
    let audit = AuditLayer::new(audit_sink);
    let edge = EdgeLayer::new(page_secret(&config.auth.service_key));
    let result = serve_with_metrics(
        listener,
        service_name,
        routes,
        health_service,
        auth,
        edge,
        audit,
        &config.server,
        &metrics,
        shutdown,
    )
    .await;
    startup.abort();
    directory.stop();
    if let Some(key_refresher) = key_refresher {
        key_refresher.abort();
    }
    if let Some(scrape) = scrape {
        scrape.abort();
    }
    if let Some(otlp_metrics) = otlp_metrics {
        otlp_metrics.abort();
    }
    result
}

/// Serves `routes` (the service built by the caller, e.g.
/// `Routes::new(IdentityServiceServer::new(handler))`), plus health and
/// reflection for `service_name`, on `listener` until `shutdown` resolves,
/// recording the RED metrics of every RPC in `metrics` and auditing every call.
#[allow(clippy::too_many_arguments)]
pub async fn serve_with_metrics(
    listener: TcpListener,
    service_name: &'static str,
    routes: tonic::service::Routes,
    health_service: tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    auth: AuthLayer,
    edge: EdgeLayer,
    audit: AuditLayer,
    settings: &ServerSettings,
    metrics: &ServiceMetrics,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    // Reflection lists only what this server serves, not every CSM contract.
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(csm_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(service_name)
        .with_service_name(AUDIT_SERVICE_NAME)
        .with_service_name("grpc.health.v1.Health")
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(csm_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(service_name)
        .with_service_name(AUDIT_SERVICE_NAME)
        .with_service_name("grpc.health.v1.Health")
        .build_v1alpha()?;
    let routes = routes.add_service(health_service).add_service(reflection_v1).add_service(reflection_v1alpha);

    // Order matters, outermost first:
    // 1. trace: the RPC span covers everything below, rejections included;
    // 1b. metrics: every RPC is counted by code and timed, rejections below
    //    (deadline, shedding, authentication) included;
    // 2. deadline: min(client grpc-timeout, request_timeout), answered as
    //    DEADLINE_EXCEEDED (tonic does not translate tower's Elapsed);
    // 3. load shed: when the limit below is saturated, refuse at once
    //    instead of queueing without bound — answered UNAVAILABLE OVERLOADED
    //    with RetryInfo by the overload layer above it;
    // 4. concurrency limit: one semaphore for the whole server (the layer
    //    instance is cloned per connection, its semaphore is shared);
    // 5. auth: verify the caller only for requests that will be served;
    // 6. edge: the body checked against its message's descriptor (malformed,
    //    control characters, oversized strings) before any handler, for
    //    authenticated callers only (an anonymous probe learns nothing).
    // Audit sits below metrics: it opens each call's audit scope (the auth
    // layer names the caller in it) and records refusals, auth's included.
    let stack = ServiceBuilder::new()
        .layer(csm_telemetry::ServerTraceLayer)
        .layer(RpcMetricsLayer::new(service_name, metrics))
        .layer(audit)
        .layer(DeadlineLayer::new(settings.request_timeout))
        .layer(OverloadLayer)
        .load_shed()
        .concurrency_limit(settings.concurrency_limit)
        .layer(auth)
        .layer(edge)
        .into_inner();

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    // Graceful shutdown waits for in-flight RPCs, but a peer's Watch stream
    // never ends by itself: after the signal, unary RPCs get their own bound
    // (request_timeout) to finish, then whatever is still open is closed.
    let (signalled, drain) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = signalled.send(());
    };
    // Headers up to 256 KiB reach the auth layer, which refuses an oversized
    // credential on its own stream (UNAUTHENTICATED CREDENTIAL_TOO_LARGE)
    // instead of h2 failing the request at hyper's 16 KiB default.
    let server = Server::builder()
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .layer(stack)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown);
    let drain_limit = settings.request_timeout;
    tokio::select! {
        result = server => result?,
        () = async move {
            match drain.await {
                Ok(()) => tokio::time::sleep(drain_limit).await,
                Err(_) => std::future::pending().await,
            }
        } => tracing::warn!(service = service_name, "drain limit reached: closing the streams still open"),
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (the binaries' shutdown signal).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received: draining in-flight RPCs");
}

/// The body of every service binary: read the configuration from the
/// environment, start telemetry, bind, serve until SIGTERM, flush telemetry.
pub async fn main_for<F, Fut>(service: csm_types::ServiceName, run: F) -> anyhow::Result<()>
where
    F: FnOnce(ServiceConfig, TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let telemetry_config = csm_telemetry::TelemetryConfig::from_env(&format!("csm-{service}"))?;
    let telemetry = csm_telemetry::init(&telemetry_config)?;
    let config = ServiceConfig::from_env(service)?;
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {} (CSM_LISTEN_ADDR): {error}", config.listen_addr))?;
    tracing::info!(%service, addr = %config.listen_addr, "listening");
    let result = run(config, listener, Box::pin(shutdown_signal())).await;
    telemetry.shutdown().await;
    result
}
