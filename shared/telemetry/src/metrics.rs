//! The metrics of one service instance, exposed in the Prometheus/OpenMetrics
//! text format (docs/metrics.md lists every metric).
//!
//! Each running service has its own [`ServiceMetrics`] (not a process-wide
//! registry): `csm dev` and the test harness run the five services — and
//! several suites — in one process, and each scrape endpoint must show only
//! its own service.
//!
//! Code that is built while a service starts (its application state) finds
//! that service's registry with [`ServiceMetrics::current`]: the server runs
//! the start-up inside [`ServiceMetrics::scope`]. So a component can register
//! its metrics without every constructor on the way passing a registry along.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The metrics crate, re-exported so every CSM crate uses this one version.
pub use prometheus_client;
use prometheus_client::collector::Collector;
use prometheus_client::registry::{Metric, Registry, Unit};

/// The `Content-Type` of [`ServiceMetrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scrape waits for one [`ServiceMetrics::before_scrape`] hook.
const HOOK_LIMIT: Duration = Duration::from_secs(2);

type ScrapeHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The metric registry of one service instance. Cloning shares it.
#[derive(Clone, Default)]
pub struct ServiceMetrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    registry: Mutex<Registry>,
    before_scrape: Mutex<Vec<ScrapeHook>>,
}

impl fmt::Debug for ServiceMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceMetrics").finish_non_exhaustive()
    }
}

tokio::task_local! {
    static CURRENT: ServiceMetrics;
}

impl ServiceMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `metric` as `name` (a counter gets the `_total` suffix when encoded).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry().register(name, help, metric);
    }

    /// Registers `metric` as `name_<unit>` (e.g. `csm_rpc_duration` + seconds).
    pub fn register_with_unit(&self, name: &str, help: &str, unit: Unit, metric: impl Metric) {
        self.registry().register_with_unit(name, help, unit, metric);
    }

    /// Registers a collector, asked for its values at each scrape (cheap reads
    /// of counters kept elsewhere, e.g. atomics on a hot path).
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry().register_collector(Box::new(collector));
    }

    /// Runs `hook` before each scrape (bounded to 2 s), to refresh gauges that
    /// need I/O (a database count). A hook that fails leaves its gauges as they were.
    pub fn before_scrape<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let hook: ScrapeHook = Arc::new(move || Box::pin(hook()));
        self.inner.before_scrape.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(hook);
    }

    /// The exposition (OpenMetrics text) after running the scrape hooks.
    pub async fn render(&self) -> String {
        let hooks: Vec<ScrapeHook> =
            self.inner.before_scrape.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        for hook in hooks {
            if tokio::time::timeout(HOOK_LIMIT, hook()).await.is_err() {
                tracing::warn!("a metrics scrape hook did not finish within {HOOK_LIMIT:?}");
            }
        }
        self.encode()
    }

    /// The exposition (OpenMetrics text) of the values as they are.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry()) {
            tracing::warn!(%error, "metrics encoding failed");
        }
        text
    }

    /// The registry of the service whose start-up is running (see [`ServiceMetrics::scope`]).
    pub fn current() -> Option<ServiceMetrics> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `future` with `self` as [`ServiceMetrics::current`].
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    use super::*;

    #[tokio::test]
    async fn registries_are_per_instance_and_hooks_run_before_a_scrape() {
        let first = ServiceMetrics::new();
        let second = ServiceMetrics::new();
        let counter = Counter::<u64>::default();
        first.register("csm_test_events", "Events.", counter.clone());
        counter.inc();
        assert!(first.encode().contains("csm_test_events_total 1"));
        assert!(!second.encode().contains("csm_test_events"));

        let gauge = Gauge::<i64>::default();
        second.register("csm_test_level", "Level.", gauge.clone());
        let hooked = gauge.clone();
        second.before_scrape(move || {
            let gauge = hooked.clone();
            async move {
                gauge.set(7);
            }
        });
        assert!(second.render().await.contains("csm_test_level 7"));
    }

    #[tokio::test]
    async fn the_current_registry_is_the_scoped_one() {
        assert!(ServiceMetrics::current().is_none());
        let metrics = ServiceMetrics::new();
        let seen = metrics
            .scope(async {
                let current = ServiceMetrics::current().expect("in scope");
                current.register("csm_test_scoped", "Scoped.", Counter::<u64>::default());
            })
            .await;
        let () = seen;
        assert!(metrics.encode().contains("csm_test_scoped_total 0"));
    }
}
