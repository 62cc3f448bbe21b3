//! The follower of case-access's OWN change feed (DESIGN §3): other
//! replicas' writes (and this process's, which it already evicted) evict
//! cases from the case cache, reload the settings in force and forget every
//! principal context on a security-group rights change.

use std::sync::Arc;
use std::time::Duration;

use csm_changefeed::ChangeFeed;
use csm_db::Db;
use csm_errors::CsmResult;
use tokio_stream::StreamExt as _;
use tracing::Instrument as _;

use super::admin::SettingsInForce;
use super::cache::ContextCache;
use super::case_cache::{CaseCache, OwnChange, own_change};

/// Follows case-access's own change feed (other replicas' writes, and this
/// process's, which it already evicted): evicts cases, reloads settings,
/// forgets principal contexts on a rights change.
pub struct OwnFeedFollower {
    pub db: Db,
    pub feed: ChangeFeed,
    pub cases: Arc<CaseCache>,
    pub contexts: Arc<ContextCache>,
    pub settings: Arc<SettingsInForce>,
}

impl OwnFeedFollower {
    /// Follows from `head` (the feed's head at start) until the cache is stopped.
    pub fn spawn(self, head: u64) {
        self.cases.set_applied(head);
        tokio::spawn(async move {
            let mut stopping = self.cases.stopping();
            tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => {}
                _ = self.follow() => {}
            }
            self.cases.set_connected(false);
        });
    }

    async fn follow(&self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let from = self.cases.applied();
            let mut stream = self.feed.watch(from);
            // Entries kept while the stream was down may have missed changes.
            self.cases.evict(OwnChange::AllCases);
            self.cases.set_connected(true);
            while let Some(item) = stream.next().await {
                let applied = match item {
                    Ok(change) => {
                        let span = tracing::info_span!(
                            "watch.apply",
                            otel.name = "csm.watch/apply",
                            csm.feed = "case-access",
                            csm.revision = change.revision,
                            csm.entity_type = %change.entity_type,
                        );
                        self.apply(&change).instrument(span).await
                    }
                    Err(error) => Err(error),
                };
                match applied {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(error) => {
                        tracing::debug!(reason = error.reason(), "own change feed interrupted");
                        break;
                    }
                }
            }
            self.cases.set_connected(false);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Applies one change; an error leaves it unapplied (replayed on reconnect).
    async fn apply(&self, change: &csm_changefeed::Change) -> CsmResult<()> {
        match own_change(&change.entity_type, &change.entity_id, &change.attributes) {
            OwnChange::Settings => self.settings.reload(&self.db).await?,
            OwnChange::Rights => self.contexts.evict_all(),
            touched => self.cases.evict(touched),
        }
        self.cases.set_applied(change.revision);
        // Reads answered from now on have seen this revision: their tokens may say so.
        self.feed.committed(change.revision);
        Ok(())
    }
}
