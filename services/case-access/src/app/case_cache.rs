//! The case cache (DESIGN §3, "cases are owned locally and cached
//! read-through"): the facts a decision reads of a stored case
//! ([`CaseFacts`], ~5 queries to load) kept by case id, and the follower of
//! case-access's OWN change feed that keeps it, the settings in force and the
//! security-group rights right when other replicas write.
//!
//! - Eviction: every case-access write appends a change row ([`own_change`]
//!   says what it touches): a case, a task (`case_id`) or a case related party
//!   (`subject_id`) evicts that case; a sold product, install base item or
//!   their related parties can touch many cases and evict them all. A write in
//!   this process evicts synchronously before it answers
//!   ([`CaseAccessApp::committed`]): read-your-writes holds in one replica.
//! - Other replicas: [`super::own_feed::OwnFeedFollower`] watches the feed from its head at
//!   start, evicts, reloads the settings and forgets every principal context
//!   on a rights change; `at_least_as_fresh` with a case-access token waits
//!   (bounded) until the follower applied it, else reads through.
//! - No stale insert: an entry is kept only if no eviction ran while it was
//!   loaded ([`Memo`], as the principal context cache).
//! - Fail closed: while the follower's stream is down, every read goes to the database.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use csm_db::Db;
use csm_errors::CsmResult;
use csm_types::CaseId;
use tokio::sync::Notify;

use super::CaseAccessApp;
use super::memo::Memo;
use crate::domain::case::CaseFacts;
use crate::store::facts::{load_case_facts, load_many_case_facts};

/// How long `at_least_as_fresh` waits for the own feed before reading through.
const FRESHNESS_WAIT: Duration = Duration::from_millis(1500);

/// How a request reads case facts: its consistency mode, resolved once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseRead {
    /// From the cache (`minimize_latency`; `at_least_as_fresh` once the own feed reached the token).
    Cached,
    /// From the database (`fully_consistent`, a token not reached in time, every mutation).
    Through,
}

/// What a change of case-access's own feed touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnChange {
    Nothing,
    Case(CaseId),
    AllCases,
    /// The settings row: reload the settings in force.
    Settings,
    /// Security-group rights: every principal context reads them (R6.4).
    Rights,
}

/// What the change (`entity_type`, `entity_id`, `attributes`) of the own feed touches.
pub fn own_change(entity_type: &str, entity_id: &str, attributes: &BTreeMap<String, String>) -> OwnChange {
    let attribute = |key: &str| attributes.get(key).map(String::as_str);
    let case = |id: Option<&str>| id.and_then(|id| CaseId::parse(id).ok()).map_or(OwnChange::AllCases, OwnChange::Case);
    match entity_type {
        "case" => case(Some(entity_id)),
        "case_task" => case(attribute("case_id")),
        "related_party" if attribute("subject_kind") == Some("case") => case(attribute("subject_id")),
        // Sold product / install base parties and items reach cases through
        // `sold_product_id` and affected install bases (R5.9): rare writes, all cases.
        "related_party" | "sold_product" | "install_base_item" => OwnChange::AllCases,
        "case_comment" | "case_attachment" => OwnChange::Nothing,
        "settings" => OwnChange::Settings,
        "security_group_rights" => OwnChange::Rights,
        // A change this code does not know: assume it touches every case.
        _ => OwnChange::AllCases,
    }
}

/// Counters for operators (hit rate, evictions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaseCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
    /// The last own-feed revision the follower applied.
    pub applied: u64,
    pub connected: bool,
}

pub struct CaseCache {
    cases: Memo<CaseId, CaseFacts>,
    applied: AtomicU64,
    connected: AtomicBool,
    progress: Notify,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for CaseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseCache").finish_non_exhaustive()
    }
}

impl CaseCache {
    /// A cache of at most `capacity` cases (then it evicts).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            cases: Memo::new(capacity),
            applied: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            progress: Notify::new(),
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    pub fn stats(&self) -> CaseCacheStats {
        let cases = self.cases.stats();
        CaseCacheStats {
            hits: cases.hits,
            misses: cases.misses,
            evictions: cases.evictions,
            entries: cases.entries,
            applied: self.applied.load(Ordering::Acquire),
            connected: self.connected.load(Ordering::Acquire),
        }
    }

    /// Ends the follower (the app is shutting down).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    fn trusted(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The facts of case `id` (`None`: no such case). A miss (and every
    /// [`CaseRead::Through`]) loads them from `db`.
    pub async fn get(&self, db: &Db, id: CaseId, read: CaseRead) -> CsmResult<Option<Arc<CaseFacts>>> {
        // Boxed: a miss's queries inline would make every hit's future kilobytes larger.
        self.cases.get(id, read == CaseRead::Cached, || self.trusted(), || Box::pin(load_case_facts(db, id))).await
    }

    /// The facts of each of `ids` that exists; the misses are loaded at once
    /// ([`load_many_case_facts`]).
    pub async fn get_many(
        &self,
        db: &Db,
        ids: &[CaseId],
        read: CaseRead,
    ) -> CsmResult<HashMap<CaseId, Arc<CaseFacts>>> {
        let load = |missing: Vec<CaseId>| async move { Box::pin(load_many_case_facts(db, &missing)).await };
        self.cases.get_many(ids, read == CaseRead::Cached, || self.trusted(), load).await
    }

    /// Evicts what `change` touches of the cache (settings and rights are not its business).
    pub fn evict(&self, change: OwnChange) {
        match change {
            OwnChange::Case(id) => self.cases.evict(&id),
            OwnChange::AllCases => self.cases.evict_all(),
            OwnChange::Nothing | OwnChange::Settings | OwnChange::Rights => {}
        }
    }

    /// Whether the follower has applied `revision` of the own feed, waiting
    /// (bounded) for it; false when it did not happen in time.
    pub async fn wait_for(&self, revision: u64) -> bool {
        let reached = || self.applied.load(Ordering::Acquire) >= revision;
        let wait = async {
            loop {
                let notified = self.progress.notified();
                if reached() {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(FRESHNESS_WAIT, wait).await.is_ok()
    }

    /// The last own-feed revision applied.
    pub(super) fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Turns true when the follower must stop.
    pub(super) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub(super) fn set_applied(&self, revision: u64) {
        self.applied.fetch_max(revision, Ordering::AcqRel);
        self.progress.notify_waiters();
    }

    pub(super) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
        self.progress.notify_waiters();
    }
}

impl CaseAccessApp {
    /// The facts of stored case `id`, NOT_FOUND when there is none.
    pub async fn case_facts(&self, id: CaseId, read: CaseRead) -> CsmResult<Arc<CaseFacts>> {
        self.cases.get(&self.db, id, read).await?.ok_or_else(|| csm_errors::CsmError::not_found("case", id))
    }

    /// A write of this process committed at `revision` with `change`: wake the
    /// feed's watchers and evict what it touched before answering.
    pub(crate) fn committed(&self, revision: u64, change: &csm_changefeed::NewChange) {
        self.feed.committed(revision);
        self.cases.evict(own_change(change.entity_type, &change.entity_id, &change.attributes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| ((*key).to_owned(), value.clone())).collect()
    }

    #[test]
    fn own_changes_evict_the_case_they_name_or_every_case() {
        let case = CaseId::new();
        let none = BTreeMap::new();
        assert_eq!(own_change("case", &case.to_string(), &none), OwnChange::Case(case));
        let task = attributes(&[("case_id", case.to_string())]);
        assert_eq!(own_change("case_task", "t", &task), OwnChange::Case(case));
        let party = attributes(&[("subject_kind", "case".to_owned()), ("subject_id", case.to_string())]);
        assert_eq!(own_change("related_party", "p", &party), OwnChange::Case(case));
        let product_party =
            attributes(&[("subject_kind", "sold_product".to_owned()), ("subject_id", case.to_string())]);
        assert_eq!(own_change("related_party", "p", &product_party), OwnChange::AllCases);
        assert_eq!(own_change("install_base_item", "i", &none), OwnChange::AllCases);
        assert_eq!(own_change("case_task", "t", &none), OwnChange::AllCases, "no case_id: all");
        assert_eq!(own_change("case_comment", "c", &task), OwnChange::Nothing);
        assert_eq!(own_change("settings", "case_access", &none), OwnChange::Settings);
        assert_eq!(own_change("security_group_rights", "g", &none), OwnChange::Rights);
        assert_eq!(own_change("something_new", "x", &none), OwnChange::AllCases);
    }
}
