//! The identity service: who a principal is (SPEC §1, §6 people data, R3.1–R3.2).
//!
//! Layout: [`domain`] (pure rules), [`store`] (all SQL), [`app`] (use cases),
//! [`grpc`] (proto conversion). [`run`] serves it on a pre-bound listener.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod store;

use std::future::Future;

use csm_auth::{ServicePolicy, ServiceTokenSource};
use csm_changefeed::ChangeFeed;
use csm_db::{Migration, Migrations};
use csm_peers::{AccountTeamPeer, RolePeer};
use csm_proto::identity::identity_service_server::IdentityServiceServer;
use csm_server::{Readiness, ServiceConfig, peer_channel};
use csm_types::ServiceName;
use tokio::net::TcpListener;

use crate::app::IdentityApp;
use crate::grpc::IdentityGrpc;
use crate::store::IdentityStore;

pub const SERVICE: ServiceName = ServiceName::Identity;
pub const SERVICE_FQN: &str = "csm.identity.v1.IdentityService";

/// identity's migrations (the change feed's, then its own).
pub fn migrations() -> Migrations {
    csm_changefeed::migrations()
        .with(
            Migration {
                version: 100,
                description: "accounts",
                sql: include_str!("../migrations/sqlite/0100_accounts.sql"),
            },
            Migration {
                version: 100,
                description: "accounts",
                sql: include_str!("../migrations/postgres/0100_accounts.sql"),
            },
        )
        .with(
            Migration {
                version: 101,
                description: "account hierarchy",
                sql: include_str!("../migrations/sqlite/0101_account_hierarchy.sql"),
            },
            Migration {
                version: 101,
                description: "account hierarchy",
                sql: include_str!("../migrations/postgres/0101_account_hierarchy.sql"),
            },
        )
        .with(
            Migration {
                version: 110,
                description: "people",
                sql: include_str!("../migrations/sqlite/0110_people.sql"),
            },
            Migration {
                version: 110,
                description: "people",
                sql: include_str!("../migrations/postgres/0110_people.sql"),
            },
        )
        .with(
            Migration {
                version: 120,
                description: "consumers",
                sql: include_str!("../migrations/sqlite/0120_consumers.sql"),
            },
            Migration {
                version: 120,
                description: "consumers",
                sql: include_str!("../migrations/postgres/0120_consumers.sql"),
            },
        )
}

/// Which services may call which identity RPCs (static: never asks role).
pub fn service_policy() -> ServicePolicy {
    const READS: &[&str] = &[
        "GetProfile",
        "BatchGetProfiles",
        "ResolvePrincipal",
        "GetSession",
        "GetAccount",
        "BatchGetAccounts",
        "ListAccounts",
        "ListAccountAncestors",
        "ListAccountDescendants",
        "ListAccountContacts",
        "GetConsumer",
        "GetHousehold",
        "ListHouseholdMembers",
        "GetSettings",
        "Watch",
    ];
    ServicePolicy::new()
        .allow(ServiceName::Role, READS)
        .allow(ServiceName::AccountTeam, READS)
        .allow(ServiceName::CaseAccess, READS)
        // Ownership inputs (R6.3, R6.4): department members and reports, security groups;
        // email intake (R4.21) resolves sender and recipient addresses to profiles.
        .allow(ServiceName::CaseAccess, &["ListProfiles", "GetSecurityGroup", "ListSecurityGroups"])
        .allow(ServiceName::Licensing, READS)
}

/// Serves identity on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(IdentityServiceServer::new(IdentityGrpc::new(readiness.clone())));
    let tokens = ServiceTokenSource::new(config.auth_keys.clone(), SERVICE);
    let roles = RolePeer::new(peer_channel(config.peers.url(ServiceName::Role), tokens.clone(), config.peer_timeout)?);
    let account_team =
        AccountTeamPeer::new(peer_channel(config.peers.url(ServiceName::AccountTeam), tokens, config.peer_timeout)?);
    let password_hash_iterations = config.password_hash_iterations;
    csm_server::run_service(
        config,
        listener,
        shutdown,
        SERVICE_FQN,
        migrations(),
        service_policy(),
        routes,
        readiness,
        move |db| async move {
            let feed = ChangeFeed::new(db.clone(), SERVICE);
            let app = IdentityApp::new(IdentityStore::new(db), feed, roles, account_team, password_hash_iterations);
            // The out-of-the-box security groups (R6.6); idempotent across restarts and replicas.
            app.seed_directory().await?;
            Ok(app)
        },
    )
    .await
}
