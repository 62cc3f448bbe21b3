//! Bringing a service's database up: connect (retrying while it is down),
//! migrate, build the application state, then report SERVING.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use csm_db::{Db, Migrations};
use csm_telemetry::metrics::ServiceMetrics;

use crate::{Health, Readiness, ServiceConfig};

/// Spawns the start-up of a service: it keeps retrying the database until it
/// is usable, runs `migrations`, builds the state with `build` and marks the
/// service ready and SERVING. Until then health says NOT_SERVING and RPCs
/// answer UNAVAILABLE.
pub fn spawn_startup<T, F, Fut>(
    config: &ServiceConfig,
    migrations: Migrations,
    health: Health,
    readiness: Arc<Readiness<T>>,
    build: F,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    spawn_startup_with_metrics(config, migrations, health, readiness, build, ServiceMetrics::new())
}

/// [`spawn_startup`], registering the database gauges in `metrics` and running
/// `build` with `metrics` as [`ServiceMetrics::current`] (so the state can
/// register its own metrics).
pub fn spawn_startup_with_metrics<T, F, Fut>(
    config: &ServiceConfig,
    migrations: Migrations,
    health: Health,
    readiness: Arc<Readiness<T>>,
    build: F,
    metrics: ServiceMetrics,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    let url = config.database_url.clone();
    let pool = config.pool.clone();
    let service = config.service;
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        let db = loop {
            match Db::connect(&url, &pool).await {
                Ok(db) => match migrations.run(&db).await {
                    Ok(()) => break db,
                    Err(error) => {
                        tracing::error!(%service, error = %format!("{error:#}"), "migrations failed; retrying");
                        db.close().await;
                    }
                },
                Err(error) => {
                    tracing::warn!(%service, error = %format!("{error:#}"), "database not reachable; retrying");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        };
        crate::metrics::register_database_metrics(&metrics, &db, service);
        match metrics.scope(build(db.clone())).await {
            Ok(state) => {
                readiness.ready(Arc::new(state));
                tracing::info!(%service, backend = db.backend().as_str(), "database ready: SERVING");
                health.watch_database(db, crate::DATABASE_PROBE_INTERVAL);
            }
            Err(error) => {
                tracing::error!(%service, error = %format!("{error:#}"), "start-up failed: staying NOT_SERVING");
            }
        }
    })
}
