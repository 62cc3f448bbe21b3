//! The licensing service: concurrent licence pools, sessions and named agent seats (SPEC §7).
//!
//! Built so far: its database, health and reflection. Every RPC of the
//! contract answers UNIMPLEMENTED until its issue lands.

pub mod grpc;

use std::future::Future;

use csm_auth::ServicePolicy;
use csm_db::{Db, Migrations};
use csm_proto::licensing::licensing_service_server::LicensingServiceServer;
use csm_server::{Readiness, ServiceConfig};
use csm_types::ServiceName;
use tokio::net::TcpListener;

use crate::grpc::LicensingGrpc;

pub const SERVICE: ServiceName = ServiceName::Licensing;
pub const SERVICE_FQN: &str = "csm.licensing.v1.LicensingService";

/// licensing's state.
pub struct LicensingApp {
    pub db: Db,
}

pub fn migrations() -> Migrations {
    csm_changefeed::migrations()
}

/// Which services may call which licensing RPCs (static).
pub fn service_policy() -> ServicePolicy {
    ServicePolicy::new()
}

/// Serves licensing on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(LicensingServiceServer::new(LicensingGrpc::new(readiness.clone())));
    csm_server::run_service(
        config,
        listener,
        shutdown,
        SERVICE_FQN,
        migrations(),
        service_policy(),
        routes,
        readiness,
        move |db| async move { Ok(LicensingApp { db }) },
    )
    .await
}
