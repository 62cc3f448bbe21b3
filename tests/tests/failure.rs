//! Failing well: an overloaded server says so with a retry delay, a database
//! that goes away makes every RPC answer UNAVAILABLE (never INTERNAL) and
//! readiness follow it, and the suite recovers without a restart.

use csm_types::roles;
use std::collections::BTreeMap;
use std::time::Duration;

use csm_proto::case_access as ca_pb;
use csm_tests::{Suite, SuiteOptions, reason_of, world};
use csm_types::ServiceName;
use tonic::Code;
use tonic_types::StatusExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_server_answers_unavailable_overloaded_with_a_retry_delay() {
    for backend in csm_tests::Backend::all("an_overloaded_server_answers_unavailable_overloaded_with_a_retry_delay") {
        let options =
            SuiteOptions { concurrency_limits: BTreeMap::from([(ServiceName::CaseAccess, 1)]), ..Default::default() };
        let suite = Suite::start_with(backend, options).await;
        let (_, agent) = world::employee(&suite, "Ada", &[roles::AGENT]).await;
        let account = world::account(&suite, "Busy Co", None).await;
        let case = world::create_case(&suite, &agent, world::draft(ca_pb::CreateFor::Account, &account, ""))
            .await
            .unwrap()
            .support_case
            .unwrap()
            .case_id;
        // A check that waits (bounded) for a revision the feeds have not reached holds the only slot.
        let slow = || {
            let request = ca_pb::CheckRequest {
                target: Some(ca_pb::Target { resource: Some(ca_pb::target::Resource::CaseId(case.clone())) }),
                action: ca_pb::Action::Read as i32,
                consistency: Some(csm_proto::common::Consistency {
                    requirement: Some(csm_proto::common::consistency::Requirement::AtLeastAsFresh(
                        "identity:999999999".to_owned(),
                    )),
                }),
                ..Default::default()
            };
            let mut client = suite.case_access(Some(&agent));
            async move { client.check(request).await }
        };
        let results = futures::future::join_all((0..4).map(|_| slow())).await;
        let shed: Vec<&tonic::Status> = results.iter().filter_map(|result| result.as_ref().err()).collect();
        assert!(results.iter().any(Result::is_ok), "one check is served");
        assert!(!shed.is_empty(), "the others are shed");
        for status in shed {
            assert_eq!((status.code(), reason_of(status)), (Code::Unavailable, "OVERLOADED".to_owned()), "{status:?}");
            let delay = status.get_error_details().retry_info().and_then(|info| info.retry_delay);
            assert!(delay.is_some_and(|delay| delay > Duration::ZERO), "RetryInfo: {status:?}");
        }
        suite.stop().await;
    }
}

/// The readiness status of a server (the empty service name) and its liveness.
async fn health_of(suite: &Suite, service: ServiceName) -> (i32, i32) {
    use tonic_health::pb::HealthCheckRequest;
    let mut health = tonic_health::pb::health_client::HealthClient::new(suite.plain_channel(service));
    let readiness = health.check(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status;
    let liveness = health
        .check(HealthCheckRequest { service: csm_server::LIVENESS_SERVICE.to_owned() })
        .await
        .unwrap()
        .into_inner()
        .status;
    (readiness, liveness)
}

/// Waits until readiness is `serving`; how long it took.
async fn readiness_turns(suite: &Suite, service: ServiceName, serving: bool, limit: Duration) -> Duration {
    use tonic_health::pb::health_check_response::ServingStatus;
    let wanted = if serving { ServingStatus::Serving } else { ServingStatus::NotServing } as i32;
    let started = tokio::time::Instant::now();
    csm_tests::eventually(limit, || async { (health_of(suite, service).await.0 == wanted).then_some(()) })
        .await
        .unwrap_or_else(|| panic!("{service} readiness did not turn {wanted} within {limit:?}"));
    started.elapsed()
}

fn fully_consistent_check(case: &str) -> ca_pb::CheckRequest {
    ca_pb::CheckRequest {
        target: Some(ca_pb::Target { resource: Some(ca_pb::target::Resource::CaseId(case.to_owned())) }),
        action: ca_pb::Action::Read as i32,
        consistency: Some(csm_proto::common::Consistency {
            requirement: Some(csm_proto::common::consistency::Requirement::FullyConsistent(true)),
        }),
        ..Default::default()
    }
}

/// An agent and a case it reads, checked once before an outage: (agent token, case id).
async fn outage_world(suite: &Suite) -> (String, String) {
    let (_, agent) = world::employee(suite, "Ada", &[roles::AGENT]).await;
    let account = world::account(suite, "Outage Co", None).await;
    let case = world::create_case(suite, &agent, world::draft(ca_pb::CreateFor::Account, &account, ""))
        .await
        .unwrap()
        .support_case
        .unwrap()
        .case_id;
    suite.case_access(Some(&agent)).check(fully_consistent_check(&case)).await.expect("works before");
    (agent, case)
}

/// PostgreSQL refuses and drops case-access's connections for a while: every
/// check answers UNAVAILABLE (never INTERNAL, never a result), readiness turns
/// NOT_SERVING within 5 s while liveness stays SERVING, and everything comes
/// back without a restart within 5 s of the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_is_unavailable_and_readiness_follows_it() {
    let Some(csm_tests::Backend::Postgres(base)) =
        csm_tests::Backend::postgres_from_env("a_postgresql_outage_is_unavailable_and_readiness_follows_it")
    else {
        return;
    };
    // A database of its own, so connections to it can be refused without touching other tests.
    let name = format!("csmt_outage_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let admin = sqlx::PgPool::connect(&base).await.expect("the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("{base} names no database"),
    };
    let options =
        SuiteOptions { database_overrides: BTreeMap::from([(ServiceName::CaseAccess, url)]), ..Default::default() };
    let suite = Suite::start_with(csm_tests::Backend::Postgres(base.clone()), options).await;
    let (agent, case) = outage_world(&suite).await;

    // The outage: no new connections, the open ones terminated.
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).execute(&admin).await.unwrap();
    sqlx::query(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        .execute(&admin)
        .await
        .unwrap();
    let went_down = readiness_turns(&suite, ServiceName::CaseAccess, false, Duration::from_secs(5)).await;
    let (_, liveness) = health_of(&suite, ServiceName::CaseAccess).await;
    assert_eq!(liveness, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "liveness stays up");
    let mut codes = BTreeMap::new();
    for _ in 0..5 {
        let status = suite.case_access(Some(&agent)).check(fully_consistent_check(&case)).await.unwrap_err();
        *codes.entry(format!("{:?} {}", status.code(), reason_of(&status))).or_insert(0) += 1;
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }

    // Back: readiness and checks recover by themselves.
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).execute(&admin).await.unwrap();
    let came_back = readiness_turns(&suite, ServiceName::CaseAccess, true, Duration::from_secs(5)).await;
    suite.case_access(Some(&agent)).check(fully_consistent_check(&case)).await.expect("works again");
    eprintln!("outage: NOT_SERVING after {went_down:?}, SERVING {came_back:?} after recovery; answers {codes:?}");

    suite.stop().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await.unwrap();
    admin.close().await;
}

/// role goes away while case-access answers checks: checks that need it fail
/// closed with UNAVAILABLE `DEPENDENCY_UNAVAILABLE` (never a result, never
/// INTERNAL), and work again, without a restart of case-access, once role is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_outage_fails_checks_closed_and_they_recover() {
    for backend in csm_tests::Backend::all("a_peer_outage_fails_checks_closed_and_they_recover") {
        let mut suite = Suite::start(backend).await;
        let (_, agent) = world::employee(&suite, "Ada", &[roles::AGENT]).await;
        let account = world::account(&suite, "Peerless Co", None).await;
        let case = world::create_case(&suite, &agent, world::draft(ca_pb::CreateFor::Account, &account, ""))
            .await
            .unwrap()
            .support_case
            .unwrap()
            .case_id;
        suite.case_access(Some(&agent)).check(fully_consistent_check(&case)).await.expect("works before");

        suite.kill_service(ServiceName::Role).await;
        let mut codes = BTreeMap::new();
        for _ in 0..5 {
            let status = suite.case_access(Some(&agent)).check(fully_consistent_check(&case)).await.unwrap_err();
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            *codes.entry(reason_of(&status)).or_insert(0) += 1;
        }
        assert_eq!(codes.keys().collect::<Vec<_>>(), vec!["DEPENDENCY_UNAVAILABLE"], "{codes:?}");

        suite.restart_service(ServiceName::Role).await;
        let started = tokio::time::Instant::now();
        csm_tests::eventually(Duration::from_secs(10), || async {
            suite.case_access(Some(&agent)).check(fully_consistent_check(&case)).await.ok()
        })
        .await
        .expect("checks work again once role is back");
        eprintln!("peer outage: answers {codes:?}; checks back {:?} after role", started.elapsed());
        suite.stop().await;
    }
}

/// Page tokens are opaque and bound to their caller, their list and its
/// filters: anything else answers INVALID_ARGUMENT `INVALID_PAGE_TOKEN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_tokens_are_bound_to_the_caller_and_the_filters() {
    use csm_proto::identity as id_pb;
    for backend in csm_tests::Backend::all("page_tokens_are_bound_to_the_caller_and_the_filters") {
        let suite = Suite::start(backend).await;
        for name in ["Alpha", "Beta", "Gamma"] {
            world::account(&suite, name, None).await;
        }
        let admin = suite.admin_token();
        let list = |token: &str, page_token: String, kind: i32| {
            let mut client = suite.identity(Some(token));
            async move {
                client
                    .list_accounts(id_pb::ListAccountsRequest { page_size: 1, page_token, kind, ..Default::default() })
                    .await
                    .map(tonic::Response::into_inner)
            }
        };
        let first = list(&admin, String::new(), 0).await.unwrap();
        assert!(!first.next_page_token.is_empty());
        // The same caller, list and filters: the next page.
        let second = list(&admin, first.next_page_token.clone(), 0).await.unwrap();
        assert_ne!(second.accounts, first.accounts);
        let refused = |status: tonic::Status| {
            assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "INVALID_PAGE_TOKEN".to_owned()));
            assert_eq!(csm_tests::violated_fields(&status), vec!["page_token".to_owned()]);
        };
        // Another caller.
        let (_, agent) = world::employee(&suite, "Ada", &[roles::AGENT]).await;
        refused(list(&agent, first.next_page_token.clone(), 0).await.unwrap_err());
        // Changed filters.
        refused(list(&admin, first.next_page_token.clone(), id_pb::AccountKind::Customer as i32).await.unwrap_err());
        // Another list of the same service.
        let status = suite
            .identity(Some(&admin))
            .list_departments(id_pb::ListDepartmentsRequest {
                page_token: first.next_page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        refused(status);
        // Tampered.
        let mut tampered = first.next_page_token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });
        refused(list(&admin, tampered, 0).await.unwrap_err());
        // A negative page size names page_size, not page_token.
        let status = suite
            .case_access(Some(&admin))
            .list_visible_cases(ca_pb::ListVisibleCasesRequest { page_size: -5, ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(csm_tests::violated_fields(&status), vec!["page_size".to_owned()]);
        suite.stop().await;
    }
}

/// Another process holds the WAL locks of case-access's SQLite file (as a
/// stuck backup or a second writer would): every check answers UNAVAILABLE
/// `DATABASE_UNAVAILABLE` (never INTERNAL, never a result), readiness turns
/// NOT_SERVING within 5 s while liveness stays SERVING, and everything comes
/// back without a restart within 5 s of the lock's release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_outage_is_unavailable_and_readiness_follows_it() {
    let database = csm_db::testing::TestBackend::Sqlite.fresh_database("outage");
    let file = database.url.strip_prefix("sqlite://").expect("a SQLite file URL").to_owned();
    let options = SuiteOptions {
        database_overrides: BTreeMap::from([(ServiceName::CaseAccess, database.url.clone())]),
        ..Default::default()
    };
    let suite = Suite::start_with(csm_tests::Backend::Sqlite, options).await;
    let (agent, case) = outage_world(&suite).await;

    // The outage: a second process takes every WAL lock of the file (bytes
    // 120–127 of the -shm file: write, checkpoint, recover, read marks).
    let mut holder = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import fcntl, os, sys, time\n\
             fd = os.open(sys.argv[1], os.O_RDWR)\n\
             fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120, 0)\n\
             print('locked', flush=True)\n\
             time.sleep(120)\n",
        )
        .arg(format!("{file}-shm"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 takes the lock");
    let mut locked = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut locked).unwrap();
    assert_eq!(locked.trim(), "locked");
    let went_down = readiness_turns(&suite, ServiceName::CaseAccess, false, Duration::from_secs(5)).await;
    let (_, liveness) = health_of(&suite, ServiceName::CaseAccess).await;
    assert_eq!(liveness, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "liveness stays up");
    let checks = (0..2).map(|_| {
        let mut client = suite.case_access(Some(&agent));
        let request = fully_consistent_check(&case);
        async move { client.check(request).await }
    });
    let mut codes = BTreeMap::new();
    for result in futures::future::join_all(checks).await {
        let status = result.expect_err("no answer while the file is locked");
        *codes.entry(format!("{:?} {}", status.code(), reason_of(&status))).or_insert(0) += 1;
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }

    // Back: readiness and checks recover by themselves.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let came_back = readiness_turns(&suite, ServiceName::CaseAccess, true, Duration::from_secs(5)).await;
    suite.case_access(Some(&agent)).check(fully_consistent_check(&case)).await.expect("works again");
    eprintln!(
        "sqlite outage: NOT_SERVING after {went_down:?}, SERVING {came_back:?} after recovery; answers {codes:?}"
    );
    suite.stop().await;
    drop(database);
}
