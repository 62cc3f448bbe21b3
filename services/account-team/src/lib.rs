//! The account-team service: responsibility definitions, account teams,
//! contact and account relationships, access configuration (SPEC §3, §5.1).
//!
//! Built so far: the change feed and `Watch`. Every other RPC of the contract
//! answers UNIMPLEMENTED until its issue lands.

pub mod grpc;

use std::future::Future;

use csm_auth::ServicePolicy;
use csm_changefeed::ChangeFeed;
use csm_db::{Migration, Migrations};
use csm_proto::account_team::account_team_service_server::AccountTeamServiceServer;
use csm_server::{Readiness, ServiceConfig};
use csm_types::ServiceName;
use tokio::net::TcpListener;

use crate::grpc::AccountTeamGrpc;

pub const SERVICE: ServiceName = ServiceName::AccountTeam;
pub const SERVICE_FQN: &str = "csm.account_team.v1.AccountTeamService";

/// account-team's state.
pub struct AccountTeamApp {
    pub feed: ChangeFeed,
}

/// account-team's migrations (the change feed's, then its own).
pub fn migrations() -> Migrations {
    csm_changefeed::migrations().with(
        Migration {
            version: 100,
            description: "definitions",
            sql: include_str!("../migrations/sqlite/0100_definitions.sql"),
        },
        Migration {
            version: 100,
            description: "definitions",
            sql: include_str!("../migrations/postgres/0100_definitions.sql"),
        },
    )
}

/// Which services may call which account-team RPCs (static).
pub fn service_policy() -> ServicePolicy {
    const READS: &[&str] = &[
        "GetPrincipalRelationships",
        "ListPartnerCustomers",
        "ListAccountRelationships",
        "ListContactRelationships",
        "ListTeamMembers",
        "ListTeamMembershipsOfUser",
        "ListResponsibilityAccessConfigurations",
        "ListRelatedPartyConfigurations",
        "ListAccountAccesses",
        "GetAccountAccess",
        "GetAccountTeamSettings",
        "Watch",
    ];
    ServicePolicy::new()
        .allow(ServiceName::CaseAccess, READS)
        .allow(ServiceName::Identity, READS)
        .allow(ServiceName::Role, READS)
}

/// Serves account-team on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(AccountTeamServiceServer::new(AccountTeamGrpc::new(readiness.clone())));
    csm_server::run_service(
        config,
        listener,
        shutdown,
        SERVICE_FQN,
        migrations(),
        service_policy(),
        routes,
        readiness,
        move |db| async move { Ok(AccountTeamApp { feed: ChangeFeed::new(db, SERVICE) }) },
    )
    .await
}
