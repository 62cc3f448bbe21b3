//! The caches' metrics (`csm_cache_*`, `csm_watch_*` in docs/metrics.md):
//! the principal context cache's and the case cache's counters and the
//! followed feeds' progress, read by one collector at each scrape.

use std::sync::{Arc, Weak};

use csm_telemetry::metrics::ServiceMetrics;
use csm_telemetry::metrics::prometheus_client::collector::Collector;
use csm_telemetry::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use csm_telemetry::metrics::prometheus_client::metrics::MetricType;
use csm_telemetry::metrics::prometheus_client::metrics::counter::ConstCounter;
use csm_telemetry::metrics::prometheus_client::metrics::gauge::ConstGauge;
use csm_types::ServiceName;

use super::cache::ContextCache;
use super::case_cache::CaseCache;

/// Registers both caches' counters in the metrics of the service being
/// started, if any (one collector: a metric family is written once).
pub fn register_metrics(contexts: &Arc<ContextCache>, cases: &Arc<CaseCache>) {
    if let Some(metrics) = ServiceMetrics::current() {
        metrics.register_collector(CacheCollector { contexts: Arc::downgrade(contexts), cases: Arc::downgrade(cases) });
    }
}

/// Reads the caches' counters at each scrape; holds the caches weakly, so the
/// registry does not keep a stopped service's caches alive.
#[derive(Debug)]
struct CacheCollector {
    contexts: Weak<ContextCache>,
    cases: Weak<CaseCache>,
}

const CONTEXT_CACHE: &str = "principal_context";
const CASE_CACHE: &str = "case";

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(cache) = self.contexts.upgrade() else { return Ok(()) };
        let stats = cache.stats();
        let cases = self.cases.upgrade().map(|cases| cases.stats()).unwrap_or_default();
        let both = [
            (CONTEXT_CACHE, stats.hits, stats.misses, stats.evictions, stats.entries),
            (CASE_CACHE, cases.hits, cases.misses, cases.evictions, cases.entries),
        ];
        let mut requests = encoder.encode_descriptor(
            "csm_cache_requests",
            "Cache lookups by result (hit, miss; a read-through is a miss).",
            None,
            MetricType::Counter,
        )?;
        for (name, hits, misses, _, _) in both {
            for (result, count) in [("hit", hits), ("miss", misses)] {
                ConstCounter::new(count).encode(requests.encode_family(&[("cache", name), ("result", result)])?)?;
            }
        }
        let mut evictions = encoder.encode_descriptor(
            "csm_cache_evictions",
            "Cache entries evicted by changes watched on the feeds.",
            None,
            MetricType::Counter,
        )?;
        for (name, _, _, evicted, _) in both {
            ConstCounter::new(evicted).encode(evictions.encode_family(&[("cache", name)])?)?;
        }
        let mut entries =
            encoder.encode_descriptor("csm_cache_entries", "Entries in the cache now.", None, MetricType::Gauge)?;
        for (name, _, _, _, count) in both {
            ConstGauge::new(count as i64).encode(entries.encode_family(&[("cache", name)])?)?;
        }

        let feeds = cache.feed_stats();
        let own = ServiceName::CaseAccess.as_str();
        let mut applied = encoder.encode_descriptor(
            "csm_watch_applied_revision",
            "The last revision applied from each followed feed (lag: the peer's csm_changefeed_head_revision minus this).",
            None,
            MetricType::Gauge,
        )?;
        for feed in &feeds {
            let value = i64::try_from(feed.applied).unwrap_or(i64::MAX);
            ConstGauge::new(value).encode(applied.encode_family(&[("feed", feed.feed.as_str())])?)?;
        }
        let own_applied = i64::try_from(cases.applied).unwrap_or(i64::MAX);
        ConstGauge::new(own_applied).encode(applied.encode_family(&[("feed", own)])?)?;
        let mut connected = encoder.encode_descriptor(
            "csm_watch_connected",
            "1 while the Watch stream of the feed is open (0: the cache is bypassed).",
            None,
            MetricType::Gauge,
        )?;
        for feed in &feeds {
            ConstGauge::new(i64::from(feed.connected))
                .encode(connected.encode_family(&[("feed", feed.feed.as_str())])?)?;
        }
        ConstGauge::new(i64::from(cases.connected)).encode(connected.encode_family(&[("feed", own)])?)?;
        let mut lag = encoder.encode_descriptor(
            "csm_watch_lag_seconds",
            "Time from the commit of the last applied change of the feed to its application.",
            None,
            MetricType::Gauge,
        )?;
        for feed in &feeds {
            ConstGauge::new(feed.lag.as_secs_f64()).encode(lag.encode_family(&[("feed", feed.feed.as_str())])?)?;
        }
        Ok(())
    }
}
