//! Benchmark of the account hierarchy (issue 3 performance requirement): ancestor
//! and descendant reads stay fast on deep and wide trees, and moves re-parent
//! whole subtrees.
//!
//! Builds 10,000 accounts directly through the store (no gRPC, no role
//! service): 5 top-level accounts, each the root of a breadth-first binary tree
//! of 2,000 accounts, so the deepest accounts sit at depth 10 (10 ancestors).
//! Then it times the queries behind ListAccountAncestors and
//! ListAccountDescendants and SetAccountParent's subtree move, and prints
//! count, p50, p99 and throughput per operation.
//!
//! Runs on SQLite always and on PostgreSQL when CSM_TEST_POSTGRES_URL is set
//! (a fresh schema, dropped afterwards).
//!
//! Run: `cargo bench -p csm-identity --bench hierarchy`

use std::time::{Duration, Instant};

use csm_db::testing::TestBackend;
use csm_db::{Db, PageRequest, PoolSettings};
use csm_identity::domain::accounts::{AccountKind, DescendantFilter, NewAccount, ensure_parent_keeps_tree};
use csm_identity::store::IdentityStore;
use csm_types::AccountId;

const ROOTS: usize = 5;
const ACCOUNTS_PER_ROOT: usize = 2_000;
/// Accounts inserted per transaction while building the forest.
const INSERT_BATCH: usize = 500;

/// One account of the generated forest.
struct Node {
    id: AccountId,
    depth: u32,
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let mut backends = vec![TestBackend::Sqlite];
        backends.extend(TestBackend::postgres_from_env("hierarchy benchmark"));
        for backend in backends {
            let database = backend.fresh_database("identity_bench");
            let outcome = run_on(backend.name(), &database.url).await;
            database.remove().await;
            outcome?;
        }
        Ok(())
    })
}

async fn run_on(backend: &str, url: &str) -> anyhow::Result<()> {
    let db = Db::connect(url, &PoolSettings::default()).await?;
    csm_identity::migrations().run(&db).await?;
    let store = IdentityStore::new(db.clone());

    let started = Instant::now();
    let forest = build_forest(&store).await?;
    let total: usize = forest.iter().map(Vec::len).sum();
    let max_depth = forest.iter().flatten().map(|node| node.depth).max().unwrap_or_default();
    println!(
        "\n== {backend}: built {total} accounts ({ROOTS} trees of {ACCOUNTS_PER_ROOT}, max depth {max_depth}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("{:<44} {:>6} {:>7} {:>10} {:>10} {:>10}", "operation", "rows", "count", "p50", "p99", "ops/s");

    // Ancestors of the deepest leaves (10 rows each), nearest first.
    let leaves: Vec<AccountId> =
        forest.iter().flatten().filter(|node| node.depth == max_depth).map(|node| node.id).collect();
    let mut rows = 0;
    let samples = measure(
        2_000,
        |index| {
            let store = &store;
            let leaf = leaves[index % leaves.len()];
            async move { Ok::<_, anyhow::Error>(store.list_account_ancestors(leaf, None, 101).await?.len()) }
        },
        &mut rows,
    )
    .await?;
    report("ListAccountAncestors (leaf, depth 10)", rows, &samples);

    // Descendants of a top account: one page of 1,000 (ListAccountDescendants)
    // and the whole DESC(a) as ids (what scope computations read).
    let tops: Vec<AccountId> = forest.iter().map(|tree| tree[0].id).collect();
    let samples = measure(
        300,
        |index| {
            let store = &store;
            let top = tops[index % tops.len()];
            async move {
                let page = PageRequest::parse(1_000, "")?;
                let found = store.list_account_descendants(top, DescendantFilter::default(), &page).await?;
                Ok::<_, anyhow::Error>(page.finish(found, |account| account.id.to_string()).0.len())
            }
        },
        &mut rows,
    )
    .await?;
    report("ListAccountDescendants (top, page of 1000)", rows, &samples);
    let samples = measure(
        300,
        |index| {
            let store = &store;
            let top = tops[index % tops.len()];
            async move { Ok::<_, anyhow::Error>(store.descendant_account_ids(top).await?.len()) }
        },
        &mut rows,
    )
    .await?;
    report("DESC(a) ids (top, all 1999)", rows, &samples);

    // Descendants of mid-level accounts (depth 5: 62 each).
    let mids: Vec<AccountId> = forest.iter().flatten().filter(|node| node.depth == 5).map(|node| node.id).collect();
    let samples = measure(
        2_000,
        |index| {
            let store = &store;
            let mid = mids[index % mids.len()];
            async move {
                let page = PageRequest::parse(1_000, "")?;
                Ok::<_, anyhow::Error>(
                    store.list_account_descendants(mid, DescendantFilter::default(), &page).await?.len(),
                )
            }
        },
        &mut rows,
    )
    .await?;
    report("ListAccountDescendants (mid, depth 5)", rows, &samples);

    // Subtree moves: a depth-3 account (255 accounts in its subtree) goes
    // under a depth-3 account of another tree and back, alternately.
    let moved = forest[0].iter().find(|node| node.depth == 3).map(|node| node.id).expect("a depth-3 account");
    let old_parent = forest[0][1].id;
    let new_parent = forest[1].iter().find(|node| node.depth == 3).map(|node| node.id).expect("a depth-3 account");
    let subtree = store.descendant_account_ids(moved).await?.len() + 1;
    let samples = measure(
        200,
        |index| {
            let store = &store;
            let target = if index % 2 == 0 { new_parent } else { old_parent };
            async move { move_subtree(store, moved, target).await.map(|()| subtree) }
        },
        &mut rows,
    )
    .await?;
    report(&format!("SetAccountParent (subtree of {subtree})"), rows, &samples);
    let chain = store.list_account_ancestors(moved, None, 101).await?;
    anyhow::ensure!(chain.first().map(|(_, account)| account.id) == Some(old_parent), "the subtree is back in place");

    db.close().await;
    Ok(())
}

/// Inserts the forest breadth-first, parents before children, `INSERT_BATCH`
/// accounts per transaction.
async fn build_forest(store: &IdentityStore) -> anyhow::Result<Vec<Vec<Node>>> {
    let mut forest = Vec::new();
    for root in 0..ROOTS {
        let mut tree: Vec<Node> = Vec::with_capacity(ACCOUNTS_PER_ROOT);
        for chunk_start in (0..ACCOUNTS_PER_ROOT).step_by(INSERT_BATCH) {
            let mut tx = store.db().begin().await?;
            store.lock_account_hierarchy(&mut tx).await?;
            for index in chunk_start..(chunk_start + INSERT_BATCH).min(ACCOUNTS_PER_ROOT) {
                // Breadth-first binary tree: the parent of node i is (i - 1) / 2.
                let parent = (index > 0).then(|| &tree[(index - 1) / 2]);
                let new = NewAccount {
                    name: format!("Account {root}.{index}"),
                    kind: AccountKind::Customer,
                    parent: parent.map(|parent| parent.id),
                };
                let (account, _) = store.insert_account(&mut tx, &new).await?;
                tree.push(Node { id: account.id, depth: parent.map(|parent| parent.depth + 1).unwrap_or(0) });
            }
            tx.commit().await?;
        }
        forest.push(tree);
    }
    Ok(forest)
}

/// SetAccountParent's transaction, as the app runs it: lock, read, check R3.1, move, commit.
async fn move_subtree(store: &IdentityStore, account: AccountId, new_parent: AccountId) -> anyhow::Result<()> {
    let mut tx = store.db().begin().await?;
    store.lock_account_hierarchy(&mut tx).await?;
    let current = store.account_in(&mut tx, account).await?.ok_or_else(|| anyhow::anyhow!("account missing"))?;
    store.account_in(&mut tx, new_parent).await?.ok_or_else(|| anyhow::anyhow!("parent missing"))?;
    let chain = store.account_chain_in(&mut tx, new_parent).await?;
    ensure_parent_keeps_tree(account, &chain)?;
    store.move_account(&mut tx, &current, Some(new_parent)).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs `operation` `count` times one after the other; returns each duration
/// and sets `rows` to the rows the last run returned.
async fn measure<F, Fut>(count: usize, mut operation: F, rows: &mut usize) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    // Warm the caches and statement caches first.
    for index in 0..count.min(20) {
        operation(index).await?;
    }
    let mut samples = Vec::with_capacity(count);
    for index in 0..count {
        let started = Instant::now();
        *rows = operation(index).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

fn report(name: &str, rows: usize, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let percentile =
        |fraction: f64| sorted[((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1];
    let total: Duration = sorted.iter().sum();
    println!(
        "{name:<44} {rows:>6} {:>7} {:>10} {:>10} {:>10.0}",
        sorted.len(),
        format!("{:.3} ms", percentile(0.50).as_secs_f64() * 1e3),
        format!("{:.3} ms", percentile(0.99).as_secs_f64() * 1e3),
        sorted.len() as f64 / total.as_secs_f64()
    );
}
