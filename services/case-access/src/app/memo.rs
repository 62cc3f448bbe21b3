//! The read-through map both caches of case-access are made of (principal
//! contexts by profile, case facts by case): bounded with real eviction
//! (quick_cache: sharded, CLOCK-Pro), counted, single-flight on a miss (one
//! load per key at a time; the others wait for it), and never keeping a value
//! loaded before an eviction that ran while it loaded.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use csm_errors::CsmResult;

/// Entries a cache holds at most unless configured otherwise
/// (`CSM_CASE_ACCESS_CACHE_ENTRIES`); past it the least useful are evicted.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Counters for operators (hit rate, evictions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
}

pub struct Memo<K, V> {
    entries: quick_cache::sync::Cache<K, Arc<V>>,
    /// Bumped by every eviction: a load that saw another epoch is not kept.
    epoch: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl<K: Hash + Eq + Clone, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl<K: Hash + Eq + Clone, V> Memo<K, V> {
    /// An empty map of at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            epoch: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The value of `key`: from the map when `cached` and present, else from
    /// `load` (`None`: no such thing, nothing kept). While one caller loads a
    /// key, the others asking for it wait for its value. The loaded value is
    /// kept only if no eviction ran meanwhile and `trusted()` still holds
    /// (the change feeds that evict are connected).
    pub async fn get<Load, Fut>(
        &self,
        key: K,
        cached: bool,
        trusted: impl Fn() -> bool,
        load: Load,
    ) -> CsmResult<Option<Arc<V>>>
    where
        Load: FnOnce() -> Fut,
        Fut: Future<Output = CsmResult<Option<V>>>,
    {
        if !(cached && trusted()) {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(load().await?.map(Arc::new));
        }
        let guard = match self.entries.get_value_or_guard_async(&key).await {
            Ok(value) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(value));
            }
            Err(guard) => guard,
        };
        self.misses.fetch_add(1, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Acquire);
        // A failed or empty load drops the guard: a waiter loads in its turn.
        let Some(value) = load().await? else { return Ok(None) };
        let value = Arc::new(value);
        if self.epoch.load(Ordering::Acquire) == epoch && trusted() {
            let _ = guard.insert(value.clone());
        }
        Ok(Some(value))
    }

    /// The values of `keys` (those that exist), as [`Memo::get`] would give
    /// them one by one, but with every miss loaded by one call of `load`
    /// (BatchCheck: the cases a batch names not yet in the map, in one round
    /// of queries). Misses of a batch are not single-flight with other callers.
    pub async fn get_many<Load, Fut>(
        &self,
        keys: &[K],
        cached: bool,
        trusted: impl Fn() -> bool,
        load: Load,
    ) -> CsmResult<HashMap<K, Arc<V>>>
    where
        Load: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = CsmResult<HashMap<K, V>>>,
    {
        let use_map = cached && trusted();
        let mut found = HashMap::with_capacity(keys.len());
        let mut missing = Vec::new();
        let mut seen = HashSet::with_capacity(keys.len());
        for key in keys.iter().filter(|key| seen.insert(*key)) {
            match self.entries.get(key).filter(|_| use_map) {
                Some(value) => {
                    found.insert(key.clone(), value);
                }
                None => missing.push(key.clone()),
            }
        }
        self.hits.fetch_add(found.len() as u64, Ordering::Relaxed);
        if missing.is_empty() {
            return Ok(found);
        }
        self.misses.fetch_add(missing.len() as u64, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Acquire);
        let loaded = load(missing).await?;
        let keep = use_map && self.epoch.load(Ordering::Acquire) == epoch && trusted();
        for (key, value) in loaded {
            let value = Arc::new(value);
            if keep {
                self.entries.insert(key.clone(), value.clone());
            }
            found.insert(key, value);
        }
        Ok(found)
    }

    /// Evicts every entry `covers` accepts (a scan of the map).
    pub fn evict_where(&self, covers: impl Fn(&K, &V) -> bool) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let before = self.entries.len();
        self.entries.retain(|key, value| !covers(key, value));
        let evicted = before.saturating_sub(self.entries.len());
        self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
    }

    /// Evicts `key`.
    pub fn evict(&self, key: &K) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let evicted = self.entries.remove(key).is_some();
        self.evictions.fetch_add(u64::from(evicted), Ordering::Relaxed);
    }

    pub fn evict_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let evicted = self.entries.len();
        self.entries.clear();
        self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.entries.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hits_misses_and_a_load_that_races_an_eviction() {
        let memo: Memo<u32, String> = Memo::default();
        let load = |text: &'static str| move || async move { CsmResult::Ok(Some(text.to_owned())) };
        assert_eq!(*memo.get(1, true, || true, load("a")).await.unwrap().unwrap(), "a");
        assert_eq!(*memo.get(1, true, || true, load("b")).await.unwrap().unwrap(), "a", "kept");
        assert_eq!(*memo.get(1, false, || true, load("c")).await.unwrap().unwrap(), "c", "read through");
        assert_eq!(memo.stats(), CacheStats { hits: 1, misses: 2, evictions: 0, entries: 1 });

        // An eviction while loading: the loaded value is answered, not kept.
        memo.evict(&1);
        let racing = memo
            .get(
                2,
                true,
                || true,
                || async {
                    memo.evict_all();
                    Ok(Some("stale".to_owned()))
                },
            )
            .await
            .unwrap();
        assert_eq!(racing.as_deref().map(String::as_str), Some("stale"));
        assert_eq!(memo.stats().entries, 0);

        // Untrusted (a feed is down): nothing is read from or kept in the map.
        memo.get(3, true, || false, load("d")).await.unwrap();
        assert_eq!(memo.stats().entries, 0);
        // Nothing found: nothing kept.
        assert!(memo.get(4, true, || true, || async { Ok(None) }).await.unwrap().is_none());
        memo.get(5, true, || true, load("e")).await.unwrap();
        memo.evict_where(|key, _| *key == 5);
        assert_eq!(memo.stats().evictions, 2);
    }

    #[tokio::test]
    async fn a_batch_loads_its_misses_at_once_and_keeps_them_unless_evicted_meanwhile() {
        let memo: Memo<u32, u32> = Memo::default();
        memo.get(1, true, || true, || async { CsmResult::Ok(Some(10)) }).await.unwrap();
        let asked = std::sync::Mutex::new(Vec::new());
        let load = |keys: Vec<u32>| {
            asked.lock().unwrap().push(keys.clone());
            async move { CsmResult::Ok(keys.into_iter().filter(|key| *key != 4).map(|key| (key, key * 10)).collect()) }
        };
        let found = memo.get_many(&[1, 2, 3, 2, 4], true, || true, load).await.unwrap();
        assert_eq!(asked.lock().unwrap().as_slice(), [vec![2, 3, 4]], "one load of the distinct misses");
        let mut values: Vec<(u32, u32)> = found.iter().map(|(key, value)| (*key, **value)).collect();
        values.sort();
        assert_eq!(values, [(1, 10), (2, 20), (3, 30)], "4 does not exist");
        assert_eq!(memo.stats().entries, 3, "the loaded ones are kept");
        assert_eq!((memo.stats().hits, memo.stats().misses), (1, 4));

        // An eviction during the load: answered, not kept.
        let racing = memo
            .get_many(
                &[5],
                true,
                || true,
                |keys: Vec<u32>| async {
                    memo.evict_all();
                    CsmResult::Ok(keys.into_iter().map(|key| (key, key)).collect())
                },
            )
            .await
            .unwrap();
        assert_eq!(racing.len(), 1);
        assert_eq!(memo.stats().entries, 0);
        // Read through (not cached): everything loads, nothing is kept.
        memo.get_many(
            &[6],
            false,
            || true,
            |keys: Vec<u32>| async move { CsmResult::Ok(keys.into_iter().map(|key| (key, key)).collect()) },
        )
        .await
        .unwrap();
        assert_eq!(memo.stats().entries, 0);
    }

    #[tokio::test]
    async fn past_its_capacity_a_memo_evicts_rather_than_grows() {
        let memo: Memo<u32, u32> = Memo::new(100);
        for key in 0..1000 {
            memo.get(key, true, || true, || async move { CsmResult::Ok(Some(key)) }).await.unwrap();
        }
        let entries = memo.stats().entries;
        assert!(entries > 0 && entries <= 100, "{entries} entries");
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_load_it_once() {
        let memo: Arc<Memo<u32, u32>> = Arc::new(Memo::default());
        let loads = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (memo, loads) = (memo.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                memo.get(
                    7,
                    true,
                    || true,
                    || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        CsmResult::Ok(Some(49))
                    },
                )
                .await
                .unwrap()
                .map(|value| *value)
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), Some(49));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "single-flight");
    }
}
