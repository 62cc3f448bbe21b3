//! Benchmark of effective roles (issue requirement): GetEffectiveRoles stays
//! fast with 100,000 profiles in 2,000 nested groups, and a containment edit
//! costs little even when it must check every holder.
//!
//! Loads directly through the store in multi-row INSERTs (no gRPC): 100
//! assignment-group trees of 20 groups (root, 4 children, 12 grandchildren, 3
//! great-grandchildren: depth 3), a role on every group, 100,000 profiles each
//! in one group of depth 2–3 and every 4th in a second group of another tree,
//! `snc_internal` on every profile and a direct `case_viewer` on every 10th.
//! Then it times the use cases behind the RPCs (RoleApp, as the gRPC adapter
//! calls them, without transport): GetEffectiveRoles one at a time and from
//! 16 concurrent tasks, and AddRoleContainment + RemoveRoleContainment for an
//! edge that needs no holder scan and for one whose child reaches
//! `snc_internal`, so every holder of the parent (tens of thousands of
//! profiles and hundreds of groups) is checked. Prints count, p50, p99, ops/s.
//!
//! Runs on SQLite always and on PostgreSQL when CSM_TEST_POSTGRES_URL is set
//! (a fresh schema, dropped afterwards).
//!
//! Run: `cargo bench -p csm-role --bench effective_roles`

use csm_types::roles;
use std::sync::Arc;
use std::time::{Duration, Instant};

use csm_auth::{Caller, ServiceTokenSource};
use csm_changefeed::ChangeFeed;
use csm_db::testing::TestBackend;
use csm_db::{Db, PoolSettings};
use csm_peers::IdentityPeer;
use csm_role::app::RoleApp;
use csm_role::store::{BulkGroup, RoleStore};
use csm_types::{GroupId, ProfileId, ServiceName};

const TREES: usize = 100;
const GROUPS_PER_TREE: usize = 20;
const PROFILES: usize = 100_000;
const CONCURRENCY: usize = 16;
const SEQUENTIAL_CALLS: usize = 5_000;
const CONCURRENT_CALLS: usize = 16_000;

const CASE_VIEWER: &str = roles::CASE_VIEWER;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let mut backends = vec![TestBackend::Sqlite];
        backends.extend(TestBackend::postgres_from_env("effective roles benchmark"));
        for backend in backends {
            let database = backend.fresh_database("role_bench");
            let outcome = run_on(backend.name(), &database.url).await;
            database.remove().await;
            outcome?;
        }
        Ok(())
    })
}

async fn run_on(backend: &str, url: &str) -> anyhow::Result<()> {
    let settings = PoolSettings { max_connections: CONCURRENCY as u32, ..PoolSettings::default() };
    let db = Db::connect(url, &settings).await?;
    csm_role::migrations().run(&db).await?;
    let store = RoleStore::new(db.clone());
    let feed = ChangeFeed::new(db.clone(), csm_role::SERVICE);
    // Effective roles never call identity; the peer only has to exist.
    let tokens = ServiceTokenSource::new(
        csm_auth::SuiteKeys::generate().config_for(ServiceName::Role).service_signer(ServiceName::Role)?,
    );
    let identity =
        IdentityPeer::new(csm_server::peer_channel("http://127.0.0.1:9", tokens.clone(), Duration::from_secs(1))?);
    let account_team = csm_peers::AccountTeamPeer::new(csm_server::peer_channel(
        "http://127.0.0.1:9",
        tokens,
        Duration::from_secs(1),
    )?);
    let app = Arc::new(RoleApp::start(store.clone(), feed, identity, account_team, &[]).await?);

    let started = Instant::now();
    let (profiles, memberships, assignments) = load(&store).await?;
    println!(
        "\n== {backend}: loaded {} groups, {} profiles, {} memberships, {} direct assignments in {:.1} s",
        TREES * GROUPS_PER_TREE,
        profiles.len(),
        memberships,
        assignments,
        started.elapsed().as_secs_f64()
    );
    println!("{:<58} {:>6} {:>7} {:>10} {:>10} {:>10}", "operation", "roles", "count", "p50", "p99", "ops/s");

    let caller = Caller::Service(ServiceName::CaseAccess);
    // Sequential GetEffectiveRoles over profiles spread across the load.
    let mut roles = 0;
    let mut samples = Vec::with_capacity(SEQUENTIAL_CALLS);
    let total_started = Instant::now();
    for index in 0..SEQUENTIAL_CALLS {
        let profile = profiles[(index * 7_919) % profiles.len()];
        let call_started = Instant::now();
        let (effective, _) = app.effective_roles(&caller, profile).await?;
        samples.push(call_started.elapsed());
        roles = effective.roles.len();
    }
    report("GetEffectiveRoles (sequential)", roles, &samples, total_started.elapsed());

    // The same from 16 concurrent tasks.
    let total_started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..CONCURRENCY {
        let (app, caller, profiles) = (app.clone(), caller.clone(), profiles.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(CONCURRENT_CALLS / CONCURRENCY);
            for index in 0..CONCURRENT_CALLS / CONCURRENCY {
                let profile = profiles[((task * 1_000 + index) * 104_729) % profiles.len()];
                let call_started = Instant::now();
                app.effective_roles(&caller, profile).await?;
                samples.push(call_started.elapsed());
            }
            Ok::<_, anyhow::Error>(samples)
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    report(&format!("GetEffectiveRoles (concurrency {CONCURRENCY})"), roles, &samples, total_started.elapsed());

    // Containment edits: add then remove, alternately.
    let admin = Caller::Service(ServiceName::Identity);
    for (label, child, repeats) in
        [("no holder scan", "knowledge", 20), ("every holder checked", "csm_ws_integration", 5)]
    {
        let (mut adds, mut removes): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            let edit_started = Instant::now();
            app.add_role_containment(&admin, None, CASE_VIEWER, child).await?;
            adds.push(edit_started.elapsed());
            let edit_started = Instant::now();
            app.remove_role_containment(&admin, CASE_VIEWER, child).await?;
            removes.push(edit_started.elapsed());
        }
        // Edits run one at a time: their throughput is 1 / mean duration.
        report(&format!("AddRoleContainment, {label} ({child})"), 0, &adds, adds.iter().sum());
        report(&format!("RemoveRoleContainment ({child})"), 0, &removes, removes.iter().sum());
    }
    // The edit is visible at once: a case_viewer holder reaches the new child.
    app.add_role_containment(&admin, None, CASE_VIEWER, "knowledge").await?;
    let (effective, _) = app.effective_roles(&caller, profiles[0]).await?;
    anyhow::ensure!(effective.roles.contains("knowledge"), "the edit reaches the holders");
    println!("holders of {CASE_VIEWER}: checked {} profiles", count_holders(&store).await?);

    db.close().await;
    Ok(())
}

/// Loads the groups, memberships and assignments; returns the profiles and counts.
async fn load(store: &RoleStore) -> anyhow::Result<(Arc<Vec<ProfileId>>, usize, usize)> {
    let root_roles = [CASE_VIEWER, roles::AGENT, roles::MANAGER, roles::CASE_TASK_AGENT];
    let mut groups = Vec::with_capacity(TREES * GROUPS_PER_TREE);
    // Per tree: the groups profiles join (depth 2 and 3).
    let mut leaves: Vec<Vec<GroupId>> = Vec::with_capacity(TREES);
    for tree in 0..TREES {
        let mut add = |name: String, parent: Option<&BulkGroup>, role: &str| -> BulkGroup {
            let ancestors = parent
                .map(|parent| std::iter::once(parent.id).chain(parent.ancestors.iter().copied()).collect())
                .unwrap_or_default();
            let group = BulkGroup {
                id: GroupId::new(),
                name,
                parent: parent.map(|parent| parent.id),
                ancestors,
                roles: vec![role.to_owned()],
            };
            groups.push(group.clone());
            group
        };
        let root = add(format!("tree {tree}"), None, root_roles[tree % root_roles.len()]);
        let mut tree_leaves = Vec::new();
        for child in 0..4 {
            let child_role = if child % 2 == 0 { "knowledge" } else { roles::CASE_CONTRIBUTOR_VIEWER };
            let middle = add(format!("tree {tree}.{child}"), Some(&root), child_role);
            for grandchild in 0..3 {
                let leaf = add(format!("tree {tree}.{child}.{grandchild}"), Some(&middle), roles::CUSTOMER_DATA_VIEWER);
                tree_leaves.push(leaf.id);
                if child == 0 && grandchild == 0 {
                    for deepest in 0..3 {
                        let deep = add(format!("tree {tree}.0.0.{deepest}"), Some(&leaf), roles::CONTACT_MANAGER);
                        tree_leaves.push(deep.id);
                    }
                }
            }
        }
        leaves.push(tree_leaves);
    }
    anyhow::ensure!(groups.len() == TREES * GROUPS_PER_TREE, "built {} groups", groups.len());

    let profiles: Vec<ProfileId> = (0..PROFILES).map(|_| ProfileId::new()).collect();
    let mut memberships = Vec::with_capacity(PROFILES + PROFILES / 4);
    let mut assignments = Vec::with_capacity(PROFILES + PROFILES / 10);
    for (index, profile) in profiles.iter().enumerate() {
        let tree = &leaves[index % TREES];
        memberships.push((tree[(index / TREES) % tree.len()], *profile));
        if index % 4 == 0 {
            let other = &leaves[(index + TREES / 2) % TREES];
            memberships.push((other[(index / 7) % other.len()], *profile));
        }
        assignments.push((*profile, roles::SNC_INTERNAL.to_owned()));
        if index % 10 == 0 {
            assignments.push((*profile, CASE_VIEWER.to_owned()));
        }
    }
    let mut tx = store.db().begin().await?;
    store.bulk_insert_groups(&mut tx, &groups).await?;
    store.bulk_insert_memberships(&mut tx, &memberships).await?;
    store.bulk_insert_assignments(&mut tx, &assignments).await?;
    tx.commit().await?;
    store.analyze().await?;
    Ok((Arc::new(profiles), memberships.len(), assignments.len()))
}

/// How many profiles hold case_viewer (the holders the scanning edit checks).
async fn count_holders(store: &RoleStore) -> anyhow::Result<usize> {
    let mut tx = store.db().begin().await?;
    let holders = store.holders_in(&mut tx, &[CASE_VIEWER.to_owned()]).await?;
    Ok(holders.profiles.len())
}

fn report(name: &str, roles: usize, samples: &[Duration], wall: Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let percentile =
        |fraction: f64| sorted[((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1];
    println!(
        "{name:<58} {roles:>6} {:>7} {:>10} {:>10} {:>10.0}",
        sorted.len(),
        format!("{:.3} ms", percentile(0.50).as_secs_f64() * 1e3),
        format!("{:.3} ms", percentile(0.99).as_secs_f64() * 1e3),
        sorted.len() as f64 / wall.as_secs_f64()
    );
}
