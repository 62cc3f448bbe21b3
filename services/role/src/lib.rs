//! The role service: the CSM role catalog, containment, groups, assignments
//! and effective roles (SPEC §2, R1.13–R1.17, R4.7–R4.8).
//!
//! Layout: [`domain`] (pure rules), [`store`] (all SQL), [`app`] (use cases),
//! [`grpc`] (proto conversion). [`run`] serves it on a pre-bound listener.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod store;

use std::future::Future;

use csm_changefeed::ChangeFeed;
use csm_db::{Migration, Migrations};
use csm_peers::{AccountTeamPeer, IdentityPeer};
use csm_proto::role::role_service_server::RoleServiceServer;
use csm_server::{Readiness, ServiceConfig, peer_channel};
use csm_types::ServiceName;
use tokio::net::TcpListener;

use crate::app::RoleApp;
use crate::grpc::RoleGrpc;
use crate::store::RoleStore;

pub const SERVICE: ServiceName = ServiceName::Role;
pub const SERVICE_FQN: &str = "csm.role.v1.RoleService";

/// role's migrations (the change feed's, then its own).
pub fn migrations() -> Migrations {
    csm_changefeed::migrations()
        .with(
            Migration { version: 100, description: "roles", sql: include_str!("../migrations/sqlite/0100_roles.sql") },
            Migration {
                version: 100,
                description: "roles",
                sql: include_str!("../migrations/postgres/0100_roles.sql"),
            },
        )
        .with(
            Migration {
                version: 110,
                description: "assignments",
                sql: include_str!("../migrations/sqlite/0110_assignments.sql"),
            },
            Migration {
                version: 110,
                description: "assignments",
                sql: include_str!("../migrations/postgres/0110_assignments.sql"),
            },
        )
        .with(
            Migration {
                version: 120,
                description: "groups",
                sql: include_str!("../migrations/sqlite/0120_groups.sql"),
            },
            Migration {
                version: 120,
                description: "groups",
                sql: include_str!("../migrations/postgres/0120_groups.sql"),
            },
        )
        .with(
            Migration {
                version: 130,
                description: "catalog administration",
                sql: include_str!("../migrations/sqlite/0130_catalog_admin.sql"),
            },
            Migration {
                version: 130,
                description: "catalog administration",
                sql: include_str!("../migrations/postgres/0130_catalog_admin.sql"),
            },
        )
        .with(
            Migration {
                version: 140,
                description: "profile roles",
                sql: include_str!("../migrations/sqlite/0140_profile_roles.sql"),
            },
            Migration {
                version: 140,
                description: "profile roles",
                sql: include_str!("../migrations/postgres/0140_profile_roles.sql"),
            },
        )
}

/// Serves role on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(RoleServiceServer::new(RoleGrpc::new(readiness.clone())));
    let bootstrap_admins = config.bootstrap_admin_profiles.clone();
    let tokens = config.service_tokens()?;
    let identity =
        IdentityPeer::new(peer_channel(config.peers.url(ServiceName::Identity), tokens.clone(), config.peer_timeout)?);
    let account_team =
        AccountTeamPeer::new(peer_channel(config.peers.url(ServiceName::AccountTeam), tokens, config.peer_timeout)?);
    csm_server::run_service(
        config,
        listener,
        shutdown,
        SERVICE_FQN,
        migrations(),
        routes,
        readiness,
        move |db| async move {
            let feed = ChangeFeed::new(db.clone(), SERVICE);
            Ok(RoleApp::start(RoleStore::new(db), feed, identity, account_team, &bootstrap_admins).await?)
        },
    )
    .await
}
