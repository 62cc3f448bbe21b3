//! The account-team service: responsibility definitions, account teams,
//! contact and account relationships, access configuration (SPEC §3, §5.1).
//!
//! Layout: [`domain`] (pure rules), [`store`] (all SQL), [`app`] (use cases),
//! [`grpc`] (proto conversion). RPCs not built yet answer UNIMPLEMENTED.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod store;

use std::future::Future;

use csm_changefeed::ChangeFeed;
use csm_db::{Migration, Migrations};
use csm_peers::{IdentityPeer, RolePeer};
use csm_proto::account_team::account_team_service_server::AccountTeamServiceServer;
use csm_server::{Readiness, ServiceConfig, peer_channel};
use csm_types::ServiceName;
use tokio::net::TcpListener;

use crate::grpc::AccountTeamGrpc;
use crate::store::AccountTeamStore;

pub const SERVICE: ServiceName = ServiceName::AccountTeam;
pub const SERVICE_FQN: &str = "csm.account_team.v1.AccountTeamService";

/// account-team's state: its tables, its change feed and its peers. The use
/// cases are `impl AccountTeamApp` blocks in [`app`], one module per area.
pub struct AccountTeamApp {
    pub store: AccountTeamStore,
    pub feed: ChangeFeed,
    /// Validates accounts, profiles, consumers and households (identity owns them).
    pub identity: IdentityPeer,
    /// Authorizes human callers by their effective roles.
    pub roles: RolePeer,
}

/// account-team's migrations (the change feed's, then its own).
pub fn migrations() -> Migrations {
    csm_changefeed::migrations()
        .with(
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
        .with(
            Migration { version: 110, description: "teams", sql: include_str!("../migrations/sqlite/0110_teams.sql") },
            Migration {
                version: 110,
                description: "teams",
                sql: include_str!("../migrations/postgres/0110_teams.sql"),
            },
        )
        .with(
            Migration {
                version: 120,
                description: "access",
                sql: include_str!("../migrations/sqlite/0120_access.sql"),
            },
            Migration {
                version: 120,
                description: "access",
                sql: include_str!("../migrations/postgres/0120_access.sql"),
            },
        )
}

/// Serves account-team on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(AccountTeamServiceServer::new(AccountTeamGrpc::new(readiness.clone())));
    let tokens = config.service_tokens()?;
    let identity =
        IdentityPeer::new(peer_channel(config.peers.url(ServiceName::Identity), tokens.clone(), config.peer_timeout)?);
    let roles = RolePeer::new(peer_channel(config.peers.url(ServiceName::Role), tokens, config.peer_timeout)?);
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
            let store = AccountTeamStore::new(db);
            // The seeded related-party types and access configurations (R3.17, R5.5, R3.15).
            store.seed_access_vocabulary().await?;
            Ok(AccountTeamApp { store, feed, identity, roles })
        },
    )
    .await
}
