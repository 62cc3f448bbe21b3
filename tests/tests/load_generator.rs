//! The `csm load` generator at a tiny size against the in-process suite: it
//! seeds through the public RPCs, a second seed over the same manifest (or over
//! an older checkpoint plus the case journal) creates nothing new, and `run` drives Check at concurrency 1 and 4 without errors
//! (issue 6: the benchmark keeps working). Runs on SQLite and PostgreSQL.

use std::time::Duration;

use csm_cli::load::{self, RunOptions, SeedOptions, Target};
use csm_tests::{Suite, backend_test};
use csm_types::ServiceName;

fn target(suite: &Suite) -> Target {
    Target {
        identity: suite.endpoints[&ServiceName::Identity].clone(),
        role: suite.endpoints[&ServiceName::Role].clone(),
        account_team: suite.endpoints[&ServiceName::AccountTeam].clone(),
        case_access: suite.endpoints[&ServiceName::CaseAccess].clone(),
        keys: suite.keys.clone(),
        admin_login: suite.admin_login,
        admin_profile: suite.admin_profile,
        logins: Default::default(),
    }
}

backend_test!(load_generator_seeds_and_drives_checks, |suite| {
    let target = target(suite);
    let manifest_path = std::env::temp_dir().join(format!("csm-load-{}.json", uuid::Uuid::now_v7()));
    let options = SeedOptions {
        accounts: 20,
        contacts: 60,
        cases: 100,
        seed: 7,
        parallelism: 4,
        fresh: false,
        manifest: Some(manifest_path.clone()),
        quiet: true,
    };
    let seeded = load::seed::seed(&target, &options).await.expect("seed");
    let manifest = &seeded.manifest;
    assert!(manifest.account_ids.iter().all(|id| !id.is_empty()));
    assert!(manifest.contact_ids.iter().all(|id| !id.is_empty()));
    assert_eq!(manifest.cases.iter().filter(|case| !case.id.is_empty()).count(), 100);
    assert!(manifest.cases.iter().any(|case| case.partner.is_some()), "partner contacts open cases");
    assert!(manifest.plan.accounts.iter().any(|account| account.parent.is_some()), "a hierarchy");
    assert!(!manifest.related_parties.is_empty(), "related parties seeded: {}", manifest.related_parties_note);
    assert!(manifest.related_parties_note.ends_with(" added"), "none refused: {}", manifest.related_parties_note);

    // Rerunning over the same manifest is safe: the same request ids, no new rows.
    let again = load::seed::seed(&target, &options).await.expect("seed again");
    assert_eq!(again.manifest.cases, manifest.cases);
    assert_eq!(again.manifest.account_ids, manifest.account_ids);
    // Resuming from a checkpoint taken before the cases: the journal restores them, none is created twice.
    let mut checkpoint = manifest.clone();
    checkpoint.cases.truncate(40);
    checkpoint.related_parties_done = false;
    checkpoint.write(&manifest_path).unwrap();
    let resumed = load::seed::seed(&target, &options).await.expect("resume");
    assert_eq!(resumed.manifest.cases, manifest.cases);
    let _ = std::fs::remove_file(&manifest_path);
    let _ = std::fs::remove_file(load::seed::journal_path(&manifest_path));

    let run = load::run::run(
        &target,
        manifest,
        &RunOptions {
            concurrency: vec![1, 4],
            duration: Duration::from_millis(1000),
            warmup: Duration::ZERO,
            metrics_url: None,
            list_runs: 2,
            list_page_sizes: vec![10],
            list_visible: 20,
            seed: 1,
            hot: None,
            quiet: true,
        },
    )
    .await
    .expect("run");
    for level in &run.levels {
        assert_eq!(level.errors, 0, "{:?}", level.first_error);
        assert!(level.requests > 0 && level.throughput() > 0.0);
        assert!(level.allowed > 0 && level.allowed < level.requests, "the mix holds allows and denials");
    }
    let (_, expected) = run.list_admin.clone().expect("a customer admin");
    let list = &run.lists[0];
    assert_eq!(list.errors, 0);
    assert_eq!(list.visible, expected, "the admin sees its hierarchy's cases");
    assert!(format!("{run}").contains("| 4 |"));
});
