//! The identity service: who a principal is (SPEC §1, §6 people data, R3.1–R3.2).
//!
//! Layout: [`domain`] (pure rules), [`store`] (all SQL), [`app`] (use cases),
//! [`grpc`] (proto conversion). [`run`] serves it on a pre-bound listener.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod store;

use std::future::Future;
use std::time::Duration;

use tracing::Instrument as _;

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
        .with(
            Migration {
                version: 130,
                description: "session tokens",
                sql: include_str!("../migrations/sqlite/0130_session_tokens.sql"),
            },
            Migration {
                version: 130,
                description: "session tokens",
                sql: include_str!("../migrations/postgres/0130_session_tokens.sql"),
            },
        )
}

/// Serves identity on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(IdentityServiceServer::new(IdentityGrpc::new(readiness.clone())));
    let tokens = config.service_tokens()?;
    let roles = RolePeer::new(peer_channel(config.peers.url(ServiceName::Role), tokens.clone(), config.peer_timeout)?);
    let account_team =
        AccountTeamPeer::new(peer_channel(config.peers.url(ServiceName::AccountTeam), tokens, config.peer_timeout)?);
    let password_hash_iterations = config.password_hash_iterations;
    let issuer = config
        .auth
        .issuer()?
        .ok_or_else(|| anyhow::anyhow!("identity needs its signing keys (CSM_IDENTITY_SIGNING_KEY_FILES)"))?;
    let sessions = config.sessions.clone();
    let bootstrap_admin = config.bootstrap_admin.clone();
    // Idle sessions are ended every tenth of the idle timeout (at most every
    // 30 s), so a token of an idle session is refused soon after the timeout.
    let reaper_every = (sessions.idle_timeout / 10).clamp(Duration::from_millis(200), Duration::from_secs(30));
    let reaper_readiness = readiness.clone();
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
            let app = IdentityApp::new(
                IdentityStore::new(db),
                feed,
                roles,
                account_team,
                password_hash_iterations,
                issuer,
                sessions,
            );
            // The out-of-the-box security groups (R6.6); idempotent across restarts and replicas.
            app.seed_directory().await?;
            if let Some(admin) = &bootstrap_admin {
                app.ensure_bootstrap_admin(admin).await?;
            }
            Ok(app)
        },
    );
    // The idle reaper lives exactly as long as the server.
    let reaper = async move {
        let mut interval = tokio::time::interval(reaper_every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Ok(app) = reaper_readiness.get() else { continue };
            let span = tracing::info_span!("identity.idle_sessions", otel.name = "csm.identity/end_idle_sessions");
            match app.end_idle_sessions().instrument(span).await {
                Ok(0) => {}
                Ok(ended) => tracing::info!(ended, "sessions ended by the idle timeout"),
                Err(error) => tracing::warn!(%error, "idle session run failed; retrying at the next tick"),
            }
        }
    };
    tokio::select! {
        result = serve => result,
        () = reaper => Ok(()),
    }
}
