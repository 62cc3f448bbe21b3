//! Benchmark of licence seat accounting: Login (session + seat taken in one
//! guarded transaction) and Logout (session ended + seat freed) throughput and
//! latency at several client concurrency levels, plus a rush of logins at a
//! full pool (the refusal path, with its denial record).
//!
//! Runs the use cases below the gRPC layer (`open_session` / `close_session`,
//! i.e. after the identity lookup and authorization), on SQLite always and on
//! PostgreSQL when CSM_TEST_POSTGRES_URL is set (a fresh schema, dropped
//! afterwards). Each level uses distinct people, so every Login takes a seat.
//!
//! Run: `cargo bench -p csm-licensing --bench login`

use std::sync::Arc;
use std::time::{Duration, Instant};

use csm_auth::ServiceTokenSource;
use csm_changefeed::ChangeFeed;
use csm_changefeed::idempotency::RequestKey;
use csm_db::testing::TestBackend;
use csm_db::{Db, PoolSettings as DbPoolSettings};
use csm_licensing::app::{LicensingApp, Person};
use csm_licensing::domain::pools::{ClientChannel, LicensePool, PoolSettings, PortalLicenseMode};
use csm_licensing::domain::sessions::{LicenseSession, PrincipalKind};
use csm_licensing::store::LicensingStore;
use csm_peers::{IdentityPeer, RolePeer};
use csm_types::ServiceName;
use futures::StreamExt as _;
use uuid::Uuid;

const OPERATIONS_PER_LEVEL: usize = 2_000;
const CONCURRENCY_LEVELS: [usize; 3] = [1, 16, 64];
const RUSH_PEOPLE: usize = 1_000;
const RUSH_SEATS: i64 = 100;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let mut backends = vec![TestBackend::Sqlite];
        backends.extend(TestBackend::postgres_from_env("login benchmark"));
        for backend in backends {
            let database = backend.fresh_database("licensing_bench");
            let outcome = run_on(backend.name(), &database.url).await;
            database.remove().await;
            outcome?;
        }
        Ok(())
    })
}

fn app_on(db: &Db) -> anyhow::Result<LicensingApp> {
    // The peers are never called below the gRPC layer; lazy channels suffice.
    let tokens = ServiceTokenSource::new(
        csm_auth::SuiteKeys::generate().config_for(ServiceName::Licensing).service_signer(ServiceName::Licensing)?,
    );
    let identity =
        IdentityPeer::new(csm_server::peer_channel("http://127.0.0.1:9", tokens.clone(), Duration::from_secs(1))?);
    let role = RolePeer::new(csm_server::peer_channel("http://127.0.0.1:9", tokens, Duration::from_secs(1))?);
    let feed = ChangeFeed::new(db.clone(), ServiceName::Licensing);
    Ok(LicensingApp::new(
        LicensingStore::new(db.clone()),
        feed,
        identity,
        role,
        chrono::FixedOffset::east_opt(0).expect("UTC"),
    ))
}

async fn create_pool(store: &LicensingStore, name: &str, seats: i64) -> anyhow::Result<LicensePool> {
    let now = csm_db::now();
    let pool = LicensePool {
        id: Uuid::now_v7(),
        settings: PoolSettings {
            name: name.to_owned(),
            seat_count: seats,
            license_expiration_date: String::new(),
            time_zone: String::new(),
            idle_timeout_minutes: 30,
            browser_idle_timeout_minutes: 0,
            inactivity_warning_minutes: 0,
            auto_release_after_minutes: 90,
            portal_license_on: PortalLicenseMode::Access,
            consuming_channels: ClientChannel::DEFAULT_CONSUMING.to_vec(),
        },
        seats_used: 0,
        license_expires_at: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = store.begin().await?;
    store.insert_pool(&mut tx, &pool).await?;
    tx.commit().await?;
    Ok(pool)
}

fn user() -> (Person, Uuid) {
    let login_id = Uuid::now_v7();
    (
        Person {
            profile_id: Uuid::now_v7(),
            login_id: Some(login_id),
            kind: PrincipalKind::User,
            security_group_id: None,
        },
        login_id,
    )
}

async fn run_on(backend: &str, url: &str) -> anyhow::Result<()> {
    let db = Db::connect(url, &DbPoolSettings::default()).await?;
    csm_licensing::migrations().run(&db).await?;
    let app = Arc::new(app_on(&db)?);
    let store = LicensingStore::new(db.clone());
    println!("\n== {backend} (pool of 10 connections)");
    println!("{:<36} {:>6} {:>10} {:>10} {:>10}", "operation", "count", "p50", "p99", "ops/s");

    for concurrency in CONCURRENCY_LEVELS {
        let pool = Arc::new(create_pool(&store, &format!("bench-{concurrency}"), OPERATIONS_PER_LEVEL as i64).await?);
        // Login: each operation a new person taking a seat.
        let started = Instant::now();
        let logins: Vec<anyhow::Result<(Duration, LicenseSession)>> = futures::stream::iter(0..OPERATIONS_PER_LEVEL)
            .map(|_| {
                let app = app.clone();
                let pool = pool.clone();
                async move {
                    let (person, login_id) = user();
                    let begun = Instant::now();
                    let outcome = app
                        .open_session(
                            &pool,
                            &person,
                            login_id,
                            ClientChannel::Desktop,
                            String::new(),
                            &RequestKey::new("Login", "bench", None, &()),
                        )
                        .await?;
                    anyhow::ensure!(outcome.seat_newly_acquired, "every login takes a seat");
                    Ok((begun.elapsed(), outcome.session))
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let wall = started.elapsed();
        let logins = logins.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        report(&format!("Login  (concurrency {concurrency})"), logins.iter().map(|(took, _)| *took).collect(), wall);

        // Logout: each operation frees one seat.
        let started = Instant::now();
        let logouts: Vec<anyhow::Result<Duration>> =
            futures::stream::iter(logins.into_iter().map(|(_, session)| session))
                .map(|session| {
                    let app = app.clone();
                    async move {
                        let begun = Instant::now();
                        let outcome = app.close_session(session).await?;
                        anyhow::ensure!(outcome.seat_released, "every logout frees a seat");
                        Ok(begun.elapsed())
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        let wall = started.elapsed();
        report(
            &format!("Logout (concurrency {concurrency})"),
            logouts.into_iter().collect::<anyhow::Result<Vec<_>>>()?,
            wall,
        );
    }

    // A rush at a full pool: 1,000 people, 100 seats, 64 in flight.
    let pool = Arc::new(create_pool(&store, "rush", RUSH_SEATS).await?);
    let started = Instant::now();
    let outcomes: Vec<(Duration, bool)> = futures::stream::iter(0..RUSH_PEOPLE)
        .map(|_| {
            let app = app.clone();
            let pool = pool.clone();
            async move {
                let (person, login_id) = user();
                let begun = Instant::now();
                let outcome = app
                    .open_session(
                        &pool,
                        &person,
                        login_id,
                        ClientChannel::Desktop,
                        String::new(),
                        &RequestKey::new("Login", "bench", None, &()),
                    )
                    .await;
                (begun.elapsed(), outcome.is_ok())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let wall = started.elapsed();
    let winners = outcomes.iter().filter(|(_, won)| *won).count();
    assert_eq!(winners, RUSH_SEATS as usize, "exactly seat_count people win");
    report(
        &format!("Rush {RUSH_PEOPLE} at {RUSH_SEATS} seats (64)"),
        outcomes.into_iter().map(|(took, _)| took).collect(),
        wall,
    );
    println!("  rush: {winners} won, {} refused with LICENSE_POOL_EXHAUSTED", RUSH_PEOPLE - winners);
    db.close().await;
    Ok(())
}

fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) {
    samples.sort_unstable();
    let percentile =
        |fraction: f64| samples[((samples.len() as f64 * fraction).ceil() as usize).clamp(1, samples.len()) - 1];
    println!(
        "{name:<36} {:>6} {:>10} {:>10} {:>10.0}",
        samples.len(),
        format!("{:.2} ms", percentile(0.50).as_secs_f64() * 1e3),
        format!("{:.2} ms", percentile(0.99).as_secs_f64() * 1e3),
        samples.len() as f64 / wall.as_secs_f64()
    );
}
