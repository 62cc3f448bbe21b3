//! The `csm` tool's library: starting services by name (used by `csm dev` and
//! by the test harness), the demo data set, the load generator (`csm load`) and
//! the operator client (`csm check`, `csm access-review`, `csm audit`).

pub mod demo;
pub mod dev;
pub mod health;
pub mod keys;
pub mod load;
pub mod ops;
pub mod review;

use csm_server::ServiceConfig;
use csm_types::ServiceName;
use tokio::net::TcpListener;

/// Runs one service by name until `shutdown` resolves.
pub async fn run_service(
    service: ServiceName,
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match service {
        ServiceName::Identity => csm_identity::run(config, listener, shutdown).await,
        ServiceName::Role => csm_role::run(config, listener, shutdown).await,
        ServiceName::AccountTeam => csm_account_team::run(config, listener, shutdown).await,
        ServiceName::CaseAccess => csm_case_access::run(config, listener, shutdown).await,
        ServiceName::Licensing => csm_licensing::run(config, listener, shutdown).await,
    }
}
