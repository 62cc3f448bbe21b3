//! The case-access service: cases, related parties, sold products and the access decision engine (SPEC §4, §5.2–§5.3).
//!
//! Built so far: the decision table (domain), its SQL compilation (store),
//! CreateCase, GetCase, Check and ListVisibleCases with principal contexts
//! read through from identity, role and account-team. The other RPCs answer
//! UNIMPLEMENTED until issue 6 lands them.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod store;

use std::future::Future;

use csm_changefeed::ChangeFeed;
use csm_db::{Migration, Migrations};
use csm_proto::case_access::case_access_service_server::CaseAccessServiceServer;
use csm_server::{Readiness, ServiceConfig, peer_channel};
use csm_types::ServiceName;
use tokio::net::TcpListener;

pub use crate::app::CaseAccessApp;
use crate::app::context::ContextSource;
use crate::grpc::CaseAccessGrpc;

pub const SERVICE: ServiceName = ServiceName::CaseAccess;
pub const SERVICE_FQN: &str = "csm.case_access.v1.CaseAccessService";

/// case-access's migrations (the change feed's, then its own).
pub fn migrations() -> Migrations {
    let own = [
        (
            100,
            "cases",
            include_str!("../migrations/sqlite/0100_cases.sql"),
            include_str!("../migrations/postgres/0100_cases.sql"),
        ),
        (
            110,
            "parties",
            include_str!("../migrations/sqlite/0110_parties.sql"),
            include_str!("../migrations/postgres/0110_parties.sql"),
        ),
        (
            120,
            "case work",
            include_str!("../migrations/sqlite/0120_work.sql"),
            include_str!("../migrations/postgres/0120_work.sql"),
        ),
        (
            130,
            "admin",
            include_str!("../migrations/sqlite/0130_admin.sql"),
            include_str!("../migrations/postgres/0130_admin.sql"),
        ),
        (
            140,
            "number sequences",
            include_str!("../migrations/sqlite/0140_number_sequences.sql"),
            include_str!("../migrations/postgres/0140_number_sequences.sql"),
        ),
    ];
    own.into_iter().fold(csm_changefeed::migrations(), |migrations, (version, description, sqlite, postgres)| {
        migrations
            .with(Migration { version, description, sql: sqlite }, Migration { version, description, sql: postgres })
    })
}

/// `CSM_CASE_ACCESS_CACHE_ENTRIES`: the bound of each cache (principal
/// contexts, cases); past it the least useful entries are evicted. Default 100,000.
pub fn cache_entries(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<usize> {
    match lookup("CSM_CASE_ACCESS_CACHE_ENTRIES") {
        None => Ok(app::memo::DEFAULT_CAPACITY),
        Some(value) => {
            value.parse::<usize>().ok().filter(|entries| *entries > 0).ok_or_else(|| {
                anyhow::anyhow!("CSM_CASE_ACCESS_CACHE_ENTRIES must be a positive number, got {value:?}")
            })
        }
    }
}

/// Serves case-access on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let cache_entries = cache_entries(|name| std::env::var(name).ok())?;
    let readiness = Readiness::new(SERVICE_FQN);
    let routes = tonic::service::Routes::new(CaseAccessServiceServer::new(CaseAccessGrpc::new(readiness.clone())));
    let tokens = config.service_tokens()?;
    let peer = |service: ServiceName| peer_channel(config.peers.url(service), tokens.clone(), config.peer_timeout);
    let contexts =
        ContextSource::new(peer(ServiceName::Identity)?, peer(ServiceName::Role)?, peer(ServiceName::AccountTeam)?);
    let identity = peer(ServiceName::Identity)?;
    let licensing = peer(ServiceName::Licensing)?;
    let account_team = peer(ServiceName::AccountTeam)?;
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
            // Tokens of reads come from the known head (no query per check).
            let head = feed.head().await?;
            feed.committed(head);
            let app = CaseAccessApp::new(db, feed, contexts, identity, licensing, cache_entries)
                .with_account_team(account_team);
            app.follow_own_feed(head);
            app.start_admin().await?;
            Ok(app)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cache_bound_is_configurable_and_validated() {
        assert_eq!(super::cache_entries(|_| None).unwrap(), 100_000);
        assert_eq!(super::cache_entries(|_| Some("250000".to_owned())).unwrap(), 250_000);
        assert!(super::cache_entries(|_| Some("0".to_owned())).is_err());
        assert!(super::cache_entries(|_| Some("many".to_owned())).is_err());
    }
}
