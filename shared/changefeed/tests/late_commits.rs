//! Writers of one feed do not wait for each other on PostgreSQL (revisions
//! come from a sequence), yet a follower never skips a revision that commits
//! after a higher one: it reads only up to a settled horizon (issue 15).
//! Both backends; the store is real.

use std::time::Duration;

use csm_changefeed::{ChangeFeed, NewChange, Operation, append, migrations};
use csm_db::testing::TestBackend;
use csm_db::{Db, PoolSettings};
use csm_types::ServiceName;
use tokio_stream::StreamExt as _;

fn change(name: &str) -> NewChange {
    NewChange::new("case", name, Operation::Created)
}

/// The next change of `stream`, or `None` when none arrives within `wait`.
async fn next_within(
    stream: &mut (impl tokio_stream::Stream<Item = csm_errors::CsmResult<csm_changefeed::Change>> + Unpin),
    wait: Duration,
) -> Option<csm_changefeed::Change> {
    match tokio::time::timeout(wait, stream.next()).await {
        Ok(Some(item)) => Some(item.expect("the feed reads")),
        Ok(None) => panic!("the watch ended"),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_committing_after_a_higher_one_is_delivered_first_and_never_skipped() {
    for backend in TestBackend::all("a_revision_committing_after_a_higher_one_is_delivered_first_and_never_skipped") {
        let database = backend.fresh_database("changefeed");
        let db = Db::connect(&database.url, &PoolSettings::default()).await.expect("connect");
        migrations().run(&db).await.expect("migrate");
        let feed = ChangeFeed::new(db.clone(), ServiceName::CaseAccess);
        let mut watched = feed.watch(0);

        // The first writer takes its revision and stays open.
        let mut first = db.begin().await.expect("begin");
        let early = append(&mut first, &change("early")).await.expect("append");

        // A second writer: on PostgreSQL it does not wait for the first and
        // commits a higher revision; on SQLite it queues on the write lock.
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.begin().await.expect("begin");
                let revision = append(&mut tx, &change("late")).await.expect("append");
                tx.commit().await.expect("commit");
                revision
            }
        });
        if matches!(backend, TestBackend::Postgres(_)) {
            let late = tokio::time::timeout(Duration::from_secs(5), second)
                .await
                .expect("a second writer does not wait for the first (no shared hot row)")
                .expect("the second writer");
            assert!(late > early, "revisions are handed out in order: {early} then {late}");
            // Committed, but the lower revision is still in flight: neither is
            // delivered, and no read claims to have seen the higher one.
            assert!(feed.read_after(0, 10).await.expect("read").is_empty(), "nothing is settled yet");
            assert_eq!(next_within(&mut watched, Duration::from_millis(500)).await, None);
            assert!(feed.head().await.expect("head") < early, "the head never passes an in-flight revision");
            first.commit().await.expect("commit");
            let delivered: Vec<u64> = [
                next_within(&mut watched, Duration::from_secs(5)).await,
                next_within(&mut watched, Duration::from_secs(5)).await,
            ]
            .into_iter()
            .map(|change| change.expect("delivered").revision)
            .collect();
            assert_eq!(delivered, [early, late], "the late commit comes first, nothing skipped");
            assert_eq!(feed.head().await.expect("head"), late);
        } else {
            assert_eq!(next_within(&mut watched, Duration::from_millis(300)).await, None);
            first.commit().await.expect("commit");
            let late = second.await.expect("the second writer");
            assert_eq!(next_within(&mut watched, Duration::from_secs(5)).await.map(|c| c.revision), Some(early));
            assert_eq!(next_within(&mut watched, Duration::from_secs(5)).await.map(|c| c.revision), Some(late));
            assert_eq!(feed.head().await.expect("head"), late);
        }

        // A writer that rolls back leaves a gap: the head stays on a change
        // followers receive, and the next commit is delivered past the gap.
        let mut abandoned = db.begin().await.expect("begin");
        let gap = append(&mut abandoned, &change("abandoned")).await.expect("append");
        drop(abandoned);
        let head = feed.head().await.expect("head");
        assert!(head < gap, "a rolled-back revision is never the head ({head} vs {gap})");
        let mut tx = db.begin().await.expect("begin");
        let next = append(&mut tx, &change("next")).await.expect("append");
        tx.commit().await.expect("commit");
        feed.committed(next);
        assert_eq!(next_within(&mut watched, Duration::from_secs(5)).await.map(|c| c.revision), Some(next));
        assert_eq!(feed.head().await.expect("head"), next);
        assert_eq!(feed.last_known(), next);

        // With a horizon settled, a writer taking a revision moves the head
        // only once it commits (the settled horizon is not reused past it).
        assert_eq!(feed.head().await.expect("head"), next, "unchanged without writes");
        let mut open = db.begin().await.expect("begin");
        let pending = append(&mut open, &change("pending")).await.expect("append");
        assert_eq!(feed.head().await.expect("head"), next, "an in-flight revision is not the head");
        open.commit().await.expect("commit");
        assert_eq!(feed.head().await.expect("head"), pending);

        drop(watched);
        db.close().await;
        database.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_each_get_a_revision_and_followers_receive_all_in_order() {
    for backend in TestBackend::all("concurrent_writers_each_get_a_revision_and_followers_receive_all_in_order") {
        let database = backend.fresh_database("changefeed");
        let db = Db::connect(&database.url, &PoolSettings::default()).await.expect("connect");
        migrations().run(&db).await.expect("migrate");
        let feed = ChangeFeed::new(db.clone(), ServiceName::CaseAccess);
        let mut watched = feed.watch(0);

        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let (db, feed) = (db.clone(), feed.clone());
                tokio::spawn(async move {
                    let mut revisions = Vec::new();
                    for index in 0..25 {
                        let mut tx = db.begin().await.expect("begin");
                        let revision = append(&mut tx, &change(&format!("{writer}-{index}"))).await.expect("append");
                        if index % 5 == 4 {
                            continue; // dropped: rolled back
                        }
                        tx.commit().await.expect("commit");
                        feed.committed(revision);
                        revisions.push(revision);
                    }
                    revisions
                })
            })
            .collect();
        let mut committed = Vec::new();
        for writer in writers {
            committed.extend(writer.await.expect("writer"));
        }
        committed.sort_unstable();
        let mut delivered = Vec::new();
        while delivered.len() < committed.len() {
            match next_within(&mut watched, Duration::from_secs(10)).await {
                Some(change) => delivered.push(change.revision),
                None => panic!("only {} of {} changes delivered", delivered.len(), committed.len()),
            }
        }
        assert_eq!(delivered, committed, "every committed change, once, in revision order");
        assert_eq!(next_within(&mut watched, Duration::from_millis(300)).await, None, "no rolled-back change");
        assert_eq!(feed.head().await.expect("head"), *committed.last().expect("some committed"));

        drop(watched);
        db.close().await;
        database.remove().await;
    }
}
