//! The principal context cache (DESIGN §3): contexts built on a miss from
//! identity, role and account-team, evicted by their Watch streams.
//!
//! - Eviction: a change naming a profile (role assignment, group membership,
//!   profile update) evicts that profile; a structural change (containment,
//!   groups, hierarchy, relationships, households) evicts everything.
//! - Freshness: each feed's applied revision is tracked; `at_least_as_fresh`
//!   waits (bounded) until the token's feed has been applied, else reads
//!   through; `fully_consistent` always reads through.
//! - No stale insert: an entry is kept only if no eviction ran while it was
//!   being built (an epoch counter).
//! - Fail closed: while a feed's stream is down, the cache is not trusted —
//!   every request reads through, and fails with UNAVAILABLE if a peer is down.
//! - Metrics: hits, misses and evictions are atomics (the check path is hot),
//!   read by a collector ([`super::cache_metrics`]) at each scrape of the service's metrics endpoint
//!   (`csm_cache_*`, `csm_watch_*` in docs/metrics.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use csm_changefeed::ConsistencyToken;
use csm_errors::CsmResult;
use csm_proto::common::Change;
use csm_types::{ProfileId, ServiceName};
use tokio::sync::Notify;
use tokio_stream::StreamExt as _;
use tracing::Instrument as _;

use super::context::ContextSource;
pub use super::memo::CacheStats;
use super::memo::Memo;
use crate::domain::principal::PrincipalContext;

/// How long `at_least_as_fresh` waits for a feed before reading through.
const FRESHNESS_WAIT: Duration = Duration::from_millis(1500);

/// The watched feeds, in a fixed order.
pub const FEEDS: [ServiceName; 3] = [ServiceName::Identity, ServiceName::Role, ServiceName::AccountTeam];

/// The freshness a request asks for (csm.common.v1.Consistency).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freshness {
    MinimizeLatency,
    AtLeastAsFresh(ConsistencyToken),
    FullyConsistent,
}

#[derive(Default)]
struct FeedState {
    applied: AtomicU64,
    connected: AtomicBool,
    /// Milliseconds between the commit of the last applied change and its application.
    lag_millis: AtomicU64,
}

/// How one followed feed is doing (for operators).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedStats {
    pub feed: ServiceName,
    /// The last revision applied (compare the peer's `csm_changefeed_head_revision`).
    pub applied: u64,
    pub connected: bool,
    /// Time from the commit of the last applied change to its application.
    pub lag: Duration,
}

pub struct ContextCache {
    source: ContextSource,
    contexts: Memo<ProfileId, PrincipalContext>,
    feeds: [FeedState; 3],
    progress: Notify,
    stopping: tokio::sync::watch::Sender<bool>,
}

fn feed_index(service: ServiceName) -> Option<usize> {
    FEEDS.iter().position(|feed| *feed == service)
}

/// Serial numbers of loaded contexts (0 is never given: see [`PrincipalContext::serial`]).
static LOADS: AtomicU64 = AtomicU64::new(1);

/// What a change evicts.
#[derive(Debug, PartialEq, Eq)]
enum Evict {
    Nothing,
    Profile(ProfileId),
    /// A person changed (R6.3 ownership inputs): the profile, its managers
    /// (now and before), and every cached context that lists it as a report
    /// or department member or sits in one of `departments`.
    Person {
        profile: ProfileId,
        managers: Vec<ProfileId>,
        departments: Vec<uuid::Uuid>,
    },
    All,
}

impl Evict {
    fn covers(&self, key: &ProfileId, ctx: &PrincipalContext) -> bool {
        match self {
            Evict::Nothing => false,
            Evict::Profile(profile) => key == profile,
            Evict::Person { profile, managers, departments } => {
                key == profile
                    || managers.contains(key)
                    || ctx.reports.contains(profile)
                    || ctx.department_members.contains(profile)
                    || ctx.department.is_some_and(|department| departments.contains(&department))
            }
            Evict::All => true,
        }
    }
}

/// The eviction of an identity "profile" change: precise when it names the
/// profile; its manager and department references (current and previous)
/// widen it to the people whose ownership relations it changes.
fn person_eviction(change: &Change) -> Evict {
    let attribute = |key: &str| change.attributes.get(key).filter(|value| !value.is_empty());
    let Some(profile) = attribute("profile_id")
        .and_then(|id| ProfileId::parse(id).ok())
        .or_else(|| ProfileId::parse(&change.entity_id).ok())
    else {
        return Evict::All;
    };
    let managers = ["manager_profile_id", "previous_manager_profile_id"]
        .into_iter()
        .filter_map(|key| attribute(key).and_then(|id| ProfileId::parse(id).ok()))
        .collect();
    let departments = ["department_id", "previous_department_id"]
        .into_iter()
        .filter_map(|key| attribute(key).and_then(|id| uuid::Uuid::parse_str(id).ok()))
        .collect();
    Evict::Person { profile, managers, departments }
}

fn eviction(feed: ServiceName, change: &Change) -> Evict {
    let profile = |key: &str| change.attributes.get(key).and_then(|id| ProfileId::parse(id).ok());
    match (feed, change.entity_type.as_str()) {
        (ServiceName::Identity, "login" | "session") => Evict::Nothing,
        (ServiceName::Identity, "profile") => person_eviction(change),
        // A security group's kind never changes and its rights are case-access's own.
        (ServiceName::Identity, "security_group" | "department") => Evict::Nothing,
        (ServiceName::Role, "role_assignment") => profile("profile_id").map_or(Evict::All, Evict::Profile),
        (ServiceName::Role, "group_member") => profile("profile_id")
            .or_else(|| ProfileId::parse(&change.entity_id).ok())
            .map_or(Evict::All, Evict::Profile),
        (ServiceName::AccountTeam, "settings" | "account_team_settings") => Evict::Nothing,
        _ => Evict::All,
    }
}

impl ContextCache {
    /// A cache of at most `capacity` contexts (then it evicts).
    pub fn new(source: ContextSource, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            source,
            contexts: Memo::new(capacity),
            feeds: Default::default(),
            progress: Notify::new(),
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Where contexts come from.
    pub fn source(&self) -> &ContextSource {
        &self.source
    }

    /// Forgets every context: case-access's own inputs changed (security-group
    /// rights, R6.4); called after the change committed.
    pub fn evict_all(&self) {
        self.evict(&Evict::All);
    }

    fn evict(&self, evict: &Evict) {
        match evict {
            Evict::Nothing => {}
            // One profile: by key, no scan.
            Evict::Profile(profile) => self.contexts.evict(profile),
            Evict::All => self.contexts.evict_all(),
            Evict::Person { .. } => self.contexts.evict_where(|key, ctx| evict.covers(key, ctx)),
        }
    }

    /// Ends the watchers (the app is shutting down).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn stats(&self) -> CacheStats {
        self.contexts.stats()
    }

    /// The state of each followed feed, in [`FEEDS`] order.
    pub fn feed_stats(&self) -> [FeedStats; 3] {
        std::array::from_fn(|index| {
            let state = &self.feeds[index];
            FeedStats {
                feed: FEEDS[index],
                applied: state.applied.load(Ordering::Acquire),
                connected: state.connected.load(Ordering::Acquire),
                lag: Duration::from_millis(state.lag_millis.load(Ordering::Relaxed)),
            }
        })
    }

    /// The revision of `service`'s feed applied so far (0 for feeds not watched).
    pub fn applied(&self, service: ServiceName) -> u64 {
        feed_index(service).map_or(0, |index| self.feeds[index].applied.load(Ordering::Acquire))
    }

    fn trusted(&self) -> bool {
        self.feeds.iter().all(|feed| feed.connected.load(Ordering::Acquire))
    }

    /// The context of `profile` at the requested freshness (`None`: unknown profile).
    pub async fn get(&self, profile: ProfileId, freshness: &Freshness) -> CsmResult<Option<Arc<PrincipalContext>>> {
        let cached = match freshness {
            Freshness::FullyConsistent => false,
            Freshness::MinimizeLatency => true,
            Freshness::AtLeastAsFresh(token) => self.wait_for(token).await,
        };
        let load = || async {
            // Boxed: the peer calls of a miss inline would make every hit's
            // future ~22 KB, moved twice per Check (issue 15).
            let built = Box::pin(self.source.build(profile)).await?;
            Ok(built.map(|mut ctx| {
                ctx.serial = LOADS.fetch_add(1, Ordering::Relaxed);
                ctx
            }))
        };
        self.contexts.get(profile, cached, || self.trusted(), load).await
    }

    /// Waits until the token's feed has been applied; false when it did not
    /// happen in time (the caller then reads through).
    async fn wait_for(&self, token: &ConsistencyToken) -> bool {
        let Some(index) = feed_index(token.service) else { return true };
        let reached = || self.feeds[index].applied.load(Ordering::Acquire) >= token.revision;
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

    /// Applies one watched change: evict, then advance the feed's revision.
    pub fn apply(&self, feed: ServiceName, change: &Change) {
        let _span = tracing::info_span!(
            "watch.apply",
            otel.name = "csm.watch/apply",
            csm.feed = %feed,
            csm.revision = change.revision,
            csm.entity_type = %change.entity_type,
        )
        .entered();
        self.evict(&eviction(feed, change));
        if let Some(index) = feed_index(feed) {
            self.feeds[index].applied.fetch_max(change.revision, Ordering::AcqRel);
            if let Some(committed) = &change.committed_at {
                let committed_millis = committed.seconds.saturating_mul(1000) + i64::from(committed.nanos / 1_000_000);
                let lag = csm_db::now().timestamp_millis().saturating_sub(committed_millis).max(0);
                self.feeds[index].lag_millis.store(lag as u64, Ordering::Relaxed);
            }
        }
        self.progress.notify_waiters();
    }

    fn set_connected(&self, feed: ServiceName, connected: bool) {
        if let Some(index) = feed_index(feed) {
            self.feeds[index].connected.store(connected, Ordering::Release);
        }
        self.progress.notify_waiters();
    }

    /// Follows the three feeds until the process ends, reconnecting from the
    /// last applied revision (so no change is skipped).
    pub fn spawn_watchers(self: &Arc<Self>) {
        for feed in FEEDS {
            let cache = Arc::clone(self);
            tokio::spawn(async move { cache.follow(feed).await });
        }
    }

    async fn follow(self: Arc<Self>, feed: ServiceName) {
        let mut stopping = self.stopping.subscribe();
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => {}
            _ = self.clone().follow_until_stopped(feed) => {}
        }
        self.set_connected(feed, false);
    }

    async fn follow_until_stopped(self: Arc<Self>, feed: ServiceName) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let from = self.applied(feed);
            let connect = tracing::info_span!(
                "watch.connect",
                otel.name = "csm.watch/connect",
                csm.feed = %feed,
                csm.from_revision = from,
            );
            match self.source.watch(feed, from).instrument(connect).await {
                Ok(mut stream) => {
                    self.set_connected(feed, true);
                    backoff = Duration::from_millis(100);
                    while let Some(item) = stream.next().await {
                        match item {
                            Ok(change) => self.apply(feed, &change),
                            Err(status) => {
                                tracing::debug!(%feed, code = ?status.code(), "watch stream ended");
                                break;
                            }
                        }
                    }
                    self.set_connected(feed, false);
                }
                Err(error) => {
                    self.set_connected(feed, false);
                    tracing::debug!(%feed, reason = error.reason(), "watch not available yet");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::principal::PrincipalKind;

    fn change(entity_type: &str, entity_id: &str, attributes: &[(&str, String)]) -> Change {
        Change {
            revision: 1,
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_owned(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            ..Change::default()
        }
    }

    #[test]
    fn evictions_are_precise_where_the_change_names_a_profile() {
        let profile = ProfileId::new();
        let assignment = change("role_assignment", "x", &[("profile_id", profile.to_string())]);
        assert_eq!(eviction(ServiceName::Role, &assignment), Evict::Profile(profile));
        let member = change("group_member", &profile.to_string(), &[]);
        assert_eq!(eviction(ServiceName::Role, &member), Evict::Profile(profile));
        assert_eq!(eviction(ServiceName::Role, &change("role_containment", "a>b", &[])), Evict::All);
        assert_eq!(eviction(ServiceName::Identity, &change("account", "x", &[])), Evict::All);
        assert_eq!(eviction(ServiceName::Identity, &change("session", "x", &[])), Evict::Nothing);
        assert_eq!(eviction(ServiceName::AccountTeam, &change("team_member", "x", &[])), Evict::All);
    }

    #[test]
    fn a_person_change_evicts_its_managers_and_department_peers() {
        let (report, manager, before, peer, stranger) =
            (ProfileId::new(), ProfileId::new(), ProfileId::new(), ProfileId::new(), ProfileId::new());
        let department = uuid::Uuid::now_v7();
        let moved = change(
            "profile",
            &report.to_string(),
            &[
                ("profile_id", report.to_string()),
                ("manager_profile_id", manager.to_string()),
                ("previous_manager_profile_id", before.to_string()),
                ("department_id", department.to_string()),
            ],
        );
        let evict = eviction(ServiceName::Identity, &moved);
        let ctx = |profile| PrincipalContext::new(profile, PrincipalKind::Employee, Vec::<String>::new());
        assert!(evict.covers(&report, &ctx(report)));
        assert!(evict.covers(&manager, &ctx(manager)));
        assert!(evict.covers(&before, &ctx(before)));
        let mut colleague = ctx(peer);
        colleague.department = Some(department);
        assert!(evict.covers(&peer, &colleague), "same department as the changed person");
        let mut old_manager = ctx(stranger);
        assert!(!evict.covers(&stranger, &old_manager));
        old_manager.reports.insert(report);
        assert!(evict.covers(&stranger, &old_manager), "listed the person as a report");
        assert_eq!(eviction(ServiceName::Identity, &change("security_group", "x", &[])), Evict::Nothing);
    }
}
