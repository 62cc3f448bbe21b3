//! The licensing service: concurrent licence pools, sessions and named agent seats (SPEC §7).
//!
//! Layout: [`domain`] (pure rules), [`store`] (all SQL), [`app`] (use cases),
//! [`grpc`] (proto conversion). [`run`] serves it on a pre-bound listener and
//! runs the expiry task (idle timeout, auto-release, key expiry; R7.7, R7.8)
//! beside it.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod store;

/// The time types of this crate's public API (e.g. [`app::release_expired_in`]).
pub use chrono;

use std::future::Future;
use std::time::Duration;

use chrono::FixedOffset;
use csm_changefeed::ChangeFeed;
use csm_db::{Migration, Migrations};
use csm_peers::{IdentityPeer, RolePeer};
use csm_proto::licensing::licensing_service_server::LicensingServiceServer;
use csm_server::{Readiness, ServiceConfig, peer_channel};
use csm_types::ServiceName;
use tokio::net::TcpListener;
use tracing::Instrument as _;

pub use crate::app::LicensingApp;
use crate::grpc::LicensingGrpc;
use crate::store::LicensingStore;

pub const SERVICE: ServiceName = ServiceName::Licensing;
pub const SERVICE_FQN: &str = "csm.licensing.v1.LicensingService";

/// licensing's migrations (the change feed's, then its own).
pub fn migrations() -> Migrations {
    csm_changefeed::migrations().with(
        Migration {
            version: 100,
            description: "licensing",
            sql: include_str!("../migrations/sqlite/0100_licensing.sql"),
        },
        Migration {
            version: 100,
            description: "licensing",
            sql: include_str!("../migrations/postgres/0100_licensing.sql"),
        },
    )
}

/// Settings of licensing beyond [`ServiceConfig`], read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicensingSettings {
    /// `CSM_LICENSING_TIME_ZONE`: the zone of licence-key expiration dates of
    /// pools that name none (R7.8); UTC or a fixed offset. Default UTC.
    pub time_zone: FixedOffset,
    /// `CSM_LICENSING_EXPIRY_INTERVAL_MS`: how often the expiry task runs. Default 60000 (R7.7: "checked every minute").
    pub expiry_interval: Duration,
}

impl LicensingSettings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let time_zone = match lookup("CSM_LICENSING_TIME_ZONE") {
            Some(value) => domain::pools::parse_time_zone(&value)
                .map_err(|error| anyhow::anyhow!("CSM_LICENSING_TIME_ZONE: {error}"))?,
            None => FixedOffset::east_opt(0).expect("zero offset"),
        };
        let expiry_interval = match lookup("CSM_LICENSING_EXPIRY_INTERVAL_MS") {
            Some(value) => {
                let millis: u64 = value.parse().ok().filter(|millis| *millis > 0).ok_or_else(|| {
                    anyhow::anyhow!("CSM_LICENSING_EXPIRY_INTERVAL_MS must be a positive number, got {value:?}")
                })?;
                Duration::from_millis(millis)
            }
            None => Duration::from_secs(60),
        };
        Ok(Self { time_zone, expiry_interval })
    }
}

/// Serves licensing on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let settings = LicensingSettings::from_lookup(|name| std::env::var(name).ok())?;
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(LicensingServiceServer::new(LicensingGrpc::new(readiness.clone())));
    let tokens = config.service_tokens()?;
    let identity =
        IdentityPeer::new(peer_channel(config.peers.url(ServiceName::Identity), tokens.clone(), config.peer_timeout)?);
    let role = RolePeer::new(peer_channel(config.peers.url(ServiceName::Role), tokens, config.peer_timeout)?);
    let expiry_readiness = readiness.clone();
    let people_readiness = readiness.clone();
    let serve = csm_server::run_service(
        config,
        listener,
        shutdown,
        SERVICE_FQN,
        migrations(),
        routes,
        readiness,
        move |db| async move {
            let feed = ChangeFeed::new(db.clone(), SERVICE);
            Ok(LicensingApp::new(LicensingStore::new(db), feed, identity, role, settings.time_zone))
        },
    );
    // The expiry task lives exactly as long as the server: it stops with it.
    let expiry = async move {
        let mut interval = tokio::time::interval(settings.expiry_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Ok(app) = expiry_readiness.get() else { continue };
            let span = tracing::info_span!("licensing.expiry", otel.name = "csm.licensing/release_expired");
            match app.release_expired(csm_db::now()).instrument(span).await {
                Ok(0) => {}
                Ok(ended) => tracing::info!(ended, "licence sessions ended by timeout"),
                Err(error) => tracing::warn!(%error, "licence expiry run failed; retrying at the next tick"),
            }
        }
    };
    // The person cache follows identity's feed as long as the server runs.
    let people = async move {
        loop {
            if let Ok(app) = people_readiness.get() {
                return app.follow_identity().await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        result = serve => result,
        () = expiry => Ok(()),
        () = people => Ok(()),
    }
}
