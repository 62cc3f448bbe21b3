//! The case-access service: cases, related parties, sold products and the access decision engine (SPEC §4, §5.2–§5.3).
//!
//! Built so far: its database, health and reflection. Every RPC of the
//! contract answers UNIMPLEMENTED until its issue lands.

pub mod domain;
pub mod grpc;
pub mod store;

use std::future::Future;

use csm_auth::ServicePolicy;
use csm_db::{Db, Migration, Migrations};
use csm_proto::case_access::case_access_service_server::CaseAccessServiceServer;
use csm_server::{Readiness, ServiceConfig};
use csm_types::ServiceName;
use tokio::net::TcpListener;

use crate::grpc::CaseAccessGrpc;

pub const SERVICE: ServiceName = ServiceName::CaseAccess;
pub const SERVICE_FQN: &str = "csm.case_access.v1.CaseAccessService";

/// case-access's state.
pub struct CaseAccessApp {
    pub db: Db,
}

/// case-access's migrations (the change feed's, then its own).
pub fn migrations() -> Migrations {
    csm_changefeed::migrations().with(
        Migration { version: 100, description: "cases", sql: include_str!("../migrations/sqlite/0100_cases.sql") },
        Migration { version: 100, description: "cases", sql: include_str!("../migrations/postgres/0100_cases.sql") },
    )
}

/// Which services may call which case-access RPCs (static).
pub fn service_policy() -> ServicePolicy {
    ServicePolicy::new()
}

/// Serves case-access on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(CaseAccessServiceServer::new(CaseAccessGrpc::new(readiness.clone())));
    csm_server::run_service(
        config,
        listener,
        shutdown,
        SERVICE_FQN,
        migrations(),
        service_policy(),
        routes,
        readiness,
        move |db| async move { Ok(CaseAccessApp { db }) },
    )
    .await
}
