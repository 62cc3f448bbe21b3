//! The read-through map both caches of case-access are made of (principal
//! contexts by profile, case facts by case): bounded, counted, and never
//! keeping a value loaded before an eviction that ran while it loaded.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use csm_errors::CsmResult;

/// Above this many entries a cache starts afresh (a bound, not an LRU), unless
/// configured otherwise (`CSM_CASE_ACCESS_CACHE_ENTRIES`).
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
    entries: Mutex<HashMap<K, Arc<V>>>,
    capacity: usize,
    /// Bumped by every eviction: a load that saw another epoch is not kept.
    epoch: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl<K: Hash + Eq, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl<K: Hash + Eq, V> Memo<K, V> {
    /// An empty map that starts afresh above `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            epoch: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The value of `key`: from the map when `cached` and present, else from
    /// `load` (`None`: no such thing, nothing kept). The loaded value is kept
    /// only if no eviction ran meanwhile and `trusted()` still holds (the
    /// change feeds that evict are connected).
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
        if cached && trusted() {
            let hit = self.entries.lock().ok().and_then(|entries| entries.get(&key).cloned());
            if let Some(value) = hit {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(value));
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Acquire);
        let Some(value) = load().await? else { return Ok(None) };
        let value = Arc::new(value);
        if let Ok(mut entries) = self.entries.lock()
            && self.epoch.load(Ordering::Acquire) == epoch
            && trusted()
        {
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(key, value.clone());
        }
        Ok(Some(value))
    }

    /// Evicts every entry `covers` accepts.
    pub fn evict_where(&self, mut covers: impl FnMut(&K, &V) -> bool) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let evicted = self
            .entries
            .lock()
            .map(|mut entries| {
                let before = entries.len();
                entries.retain(|key, value| !covers(key, value));
                before - entries.len()
            })
            .unwrap_or(0);
        self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
    }

    /// Evicts `key`.
    pub fn evict(&self, key: &K) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let evicted = self.entries.lock().map(|mut entries| entries.remove(key).is_some()).unwrap_or(false);
        self.evictions.fetch_add(u64::from(evicted), Ordering::Relaxed);
    }

    pub fn evict_all(&self) {
        self.evict_where(|_, _| true);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.entries.lock().map(|entries| entries.len()).unwrap_or_default(),
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
    async fn past_its_capacity_a_memo_starts_afresh() {
        let memo: Memo<u32, u32> = Memo::new(2);
        for key in 0..3 {
            memo.get(key, true, || true, || async move { CsmResult::Ok(Some(key)) }).await.unwrap();
        }
        assert_eq!(memo.stats().entries, 1, "cleared at the bound, then the new entry kept");
    }
}
