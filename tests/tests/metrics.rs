//! RED metrics and the Prometheus scrape endpoint of every service (DESIGN §6;
//! docs/metrics.md): each service's `GET /metrics` is scraped over HTTP while
//! the suite runs, and the counters move by exactly the calls made. Each test
//! runs on SQLite and on PostgreSQL. (No SPEC rule covers metrics: the tests
//! are named `d6_…` after the DESIGN section.)

use csm_types::roles;
use std::time::Duration;

use csm_proto::case_access as pb;
use csm_proto::identity as id_pb;
use csm_proto::licensing as lic_pb;
use csm_proto::role as role_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of};
use csm_types::{LoginId, ProfileId, ServiceName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;

const AGENT: &str = roles::AGENT;
const ROLE_SERVICE: &str = "csm.role.v1.RoleService";

/// One HTTP/1.1 scrape of `service`'s metrics endpoint: (status line, content type, body).
async fn scrape_raw(suite: &Suite, service: ServiceName, path: &str) -> (String, String, String) {
    let address = suite.metrics_endpoints[&service];
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect to the metrics endpoint");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response))
        .await
        .expect("the scrape answers in time")
        .expect("a UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers then body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    let content_type = head
        .lines()
        .find_map(|line| line.strip_prefix("content-type: ").or_else(|| line.strip_prefix("Content-Type: ")))
        .unwrap_or_default()
        .to_owned();
    (status, content_type, body.to_owned())
}

async fn scrape(suite: &Suite, service: ServiceName) -> String {
    let (status, content_type, body) = scrape_raw(suite, service, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{service}: {body}");
    assert!(content_type.starts_with("application/openmetrics-text"), "{service}: {content_type}");
    assert!(body.trim_end().ends_with("# EOF"), "{service}: a complete exposition");
    body
}

/// The value of the sample `series` (name and labels exactly as exposed), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|value| value.split(' ').next().unwrap_or_default().parse().expect("a number"))
        .unwrap_or(0.0)
}

fn rpc(method: &str, code: &str) -> String {
    format!(r#"csm_rpc_requests_total{{service="{ROLE_SERVICE}",method="{method}",code="{code}"}}"#)
}

/// Polls `service`'s metrics until `ready` holds (bounded): the state a
/// background task reaches, observed through the endpoint under test.
async fn scrape_until(suite: &Suite, service: ServiceName, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(suite, service).await;
        if ready(&text) {
            return text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{service}: {what} did not happen in time:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

backend_test!(d6_every_service_serves_its_own_metrics_with_rpc_and_pool_gauges, |suite| {
    for service in ServiceName::ALL {
        let text = scrape(suite, service).await;
        // The suite's readiness wait went through health: counted on each service, OK.
        assert!(
            value(&text, r#"csm_rpc_requests_total{service="grpc.health.v1.Health",method="Watch",code="OK"}"#) >= 1.0,
            "{service}:\n{text}"
        );
        // Its own RPCs only (one registry per service, even in one process).
        for other in ["IdentityService", "RoleService", "AccountTeamService", "CaseAccessService", "LicensingService"] {
            let own = text.contains(&format!("v1.{other}\""));
            let expected = service.as_str().replace('-', "") == other.trim_end_matches("Service").to_lowercase();
            assert!(!own || expected, "{service} exposes {other}'s RPCs");
        }
        // The suite gives each service a pool of 4 connections.
        assert_eq!(value(&text, "csm_db_pool_max_connections"), 4.0, "{service}");
        assert!(text.contains(r#"csm_db_pool_connections{state="in_use"}"#), "{service}");
        assert!(text.contains(&format!(r#"csm_changefeed_head_revision{{feed="{service}"}}"#)), "{service}");
    }
    let (status, _, _) = scrape_raw(suite, ServiceName::Role, "/elsewhere").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
});

backend_test!(d6_red_metrics_count_each_rpc_by_code_and_time_it, |suite| {
    let before = scrape(suite, ServiceName::Role).await;
    // One OK call, one refused by the handler, one refused by the auth layer.
    let admin = suite.admin_token();
    suite.effective_roles(suite.admin_profile).await;
    let invalid = suite
        .role(Some(&admin))
        .get_effective_roles(role_pb::GetEffectiveRolesRequest {
            profile_id: "not-a-profile".into(),
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let anonymous = suite
        .role(None)
        .get_effective_roles(role_pb::GetEffectiveRolesRequest {
            profile_id: suite.admin_profile.to_string(),
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    let after = scrape(suite, ServiceName::Role).await;
    let delta = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(delta(&rpc("GetEffectiveRoles", "OK")), 1.0, "{after}");
    assert_eq!(delta(&rpc("GetEffectiveRoles", "INVALID_ARGUMENT")), 1.0, "{after}");
    assert_eq!(delta(&rpc("GetEffectiveRoles", "UNAUTHENTICATED")), 1.0, "{after}");
    assert_eq!(delta(&rpc("GetEffectiveRoles", "NOT_FOUND")), 0.0);
    let labels = format!(r#"service="{ROLE_SERVICE}",method="GetEffectiveRoles""#);
    assert_eq!(delta(&format!("csm_rpc_duration_seconds_count{{{labels}}}")), 3.0, "{after}");
    assert_eq!(
        value(&after, &format!(r#"csm_rpc_duration_seconds_bucket{{le="+Inf",{labels}}}"#)),
        value(&after, &format!("csm_rpc_duration_seconds_count{{{labels}}}")),
    );
    assert!(delta(&format!("csm_rpc_duration_seconds_sum{{{labels}}}")) > 0.0);
    assert!(after.contains("# TYPE csm_rpc_duration_seconds histogram"));
    assert!(after.contains("# TYPE csm_rpc_requests counter"));
});

backend_test!(d6_a_repeated_check_is_a_cache_hit_and_a_role_change_evicts, |suite| {
    // The cache is trusted once the three feeds are followed.
    let feeds = ["identity", "role", "account-team"];
    scrape_until(suite, ServiceName::CaseAccess, "the feeds connect", |text| {
        feeds.iter().all(|feed| value(text, &format!(r#"csm_watch_connected{{feed="{feed}"}}"#)) == 1.0)
    })
    .await;
    let hits = r#"csm_cache_requests_total{cache="principal_context",result="hit"}"#;
    let misses = r#"csm_cache_requests_total{cache="principal_context",result="miss"}"#;
    let evictions = r#"csm_cache_evictions_total{cache="principal_context"}"#;

    let a = account(suite, "Acme", None).await;
    let (agent_profile, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = create_case(suite, &agent, draft(pb::CreateFor::Account, &a, "")).await.unwrap();
    let case_id = case.support_case.unwrap().case_id;
    // The role feed has reached case-access: the agent's assignments can no longer evict what follows.
    let role_head = value(&scrape(suite, ServiceName::Role).await, r#"csm_changefeed_head_revision{feed="role"}"#);
    assert!(role_head >= 2.0, "the agent's role assignments are in the role feed");
    scrape_until(suite, ServiceName::CaseAccess, "the role feed is applied", |text| {
        value(text, r#"csm_watch_applied_revision{feed="role"}"#) >= role_head
    })
    .await;

    let before = scrape(suite, ServiceName::CaseAccess).await;
    assert!(check(suite, &agent, &case_id, pb::Action::Read).await.allowed);
    assert!(check(suite, &agent, &case_id, pb::Action::Read).await.allowed);
    let after = scrape(suite, ServiceName::CaseAccess).await;
    let delta = |series: &str| value(&after, series) - value(&before, series);
    assert!(delta(hits) >= 1.0, "the repeated check hit the cache:\n{after}");
    assert!(delta(hits) + delta(misses) >= 2.0, "each check looked its context up:\n{after}");
    assert!(value(&after, r#"csm_cache_entries{cache="principal_context"}"#) >= 1.0);

    // A role change of the agent evicts its context, once case-access applied it.
    let token = suite.assign_role(agent_profile, roles::CONSUMER_AGENT).await.unwrap();
    let revision: f64 = token.strip_prefix("role:").unwrap().parse().unwrap();
    let evicted = scrape_until(suite, ServiceName::CaseAccess, "the role change is applied", |text| {
        value(text, r#"csm_watch_applied_revision{feed="role"}"#) >= revision
    })
    .await;
    assert!(value(&evicted, evictions) - value(&after, evictions) >= 1.0, "{evicted}");
    assert!(value(&evicted, r#"csm_watch_lag_seconds{feed="role"}"#) < 60.0);
});

backend_test!(d6_a_repeated_check_hits_the_case_cache_and_a_case_write_evicts, |suite| {
    scrape_until(suite, ServiceName::CaseAccess, "the own feed is followed", |text| {
        value(text, r#"csm_watch_connected{feed="case-access"}"#) == 1.0
    })
    .await;
    let hits = r#"csm_cache_requests_total{cache="case",result="hit"}"#;
    let misses = r#"csm_cache_requests_total{cache="case",result="miss"}"#;
    let evictions = r#"csm_cache_evictions_total{cache="case"}"#;
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = create_case(suite, &agent, draft(pb::CreateFor::Account, &a, "")).await.unwrap();
    let case_id = case.support_case.unwrap().case_id;
    // The follower has applied the create: it will not evict what follows.
    let applied = |token: String| {
        let revision: f64 = token.strip_prefix("case-access:").unwrap().parse().unwrap();
        move |text: &str| value(text, r#"csm_watch_applied_revision{feed="case-access"}"#) >= revision
    };
    scrape_until(suite, ServiceName::CaseAccess, "the own feed applied the create", applied(case.consistency_token))
        .await;

    let before = scrape(suite, ServiceName::CaseAccess).await;
    for _ in 0..3 {
        assert!(check(suite, &agent, &case_id, pb::Action::Read).await.allowed);
    }
    let after = scrape(suite, ServiceName::CaseAccess).await;
    let delta = |text: &str, series: &str| value(text, series) - value(&before, series);
    assert_eq!(delta(&after, misses), 1.0, "the first check loads the case:\n{after}");
    assert_eq!(delta(&after, hits), 2.0, "the next two are hits:\n{after}");
    assert!(value(&after, r#"csm_cache_entries{cache="case"}"#) >= 1.0);
    // fully_consistent bypasses the cache: a miss, though the case is cached.
    let fully_consistent = pb::CheckRequest {
        target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case_id.clone())) }),
        action: pb::Action::Read as i32,
        consistency: Some(csm_proto::common::Consistency {
            requirement: Some(csm_proto::common::consistency::Requirement::FullyConsistent(true)),
        }),
        ..Default::default()
    };
    suite.case_access(Some(&agent)).check(fully_consistent).await.expect("check");
    let bypassed = scrape(suite, ServiceName::CaseAccess).await;
    assert_eq!((delta(&bypassed, hits), delta(&bypassed, misses)), (2.0, 2.0), "{bypassed}");

    // A write of the case evicts it before UpdateCase answers: the next check misses.
    let update = csm_tests::masked!(
        pb::UpdateCaseRequest {
            support_case: Some(pb::Case {
                case_id: case_id.clone(),
                priority: pb::Priority::High as i32,
                ..Default::default()
            }),
            ..Default::default()
        },
        ["priority"]
    );
    let token =
        suite.case_access(Some(&agent)).update_case(update).await.expect("update").into_inner().consistency_token;
    assert!(check(suite, &agent, &case_id, pb::Action::Read).await.allowed);
    let written = scrape(suite, ServiceName::CaseAccess).await;
    assert!(delta(&written, evictions) >= 1.0, "{written}");
    assert!(delta(&written, misses) >= 4.0, "the update read through and the next check missed:\n{written}");
    scrape_until(suite, ServiceName::CaseAccess, "the own feed applied the write", applied(token)).await;
});

/// An employee with a login, and a token acting as it (licence sessions need a login).
async fn employee_with_login(suite: &Suite, name: &str) -> (ProfileId, String) {
    let admin = suite.admin_token();
    let profile = suite
        .identity(Some(&admin))
        .create_employee(id_pb::CreateEmployeeRequest {
            details: details(name),
            login: Some(id_pb::create_employee_request::Login::NewLogin(id_pb::NewLogin {
                login_name: format!("{}-{}", name.to_lowercase(), uuid::Uuid::new_v4().simple()),
                password: "correct horse battery".to_owned(),
            })),
            ..Default::default()
        })
        .await
        .expect("create employee")
        .into_inner()
        .profile
        .unwrap();
    let profile_id = ProfileId::parse(&profile.profile_id).unwrap();
    let login = LoginId::parse(&profile.login_id).expect("a login");
    (profile_id, suite.token_for(login, Some(profile_id)))
}

backend_test!(d6_licence_pool_usage_and_denials_show_in_licensing_metrics, |suite| {
    let admin = suite.admin_token();
    let pool = suite
        .licensing(Some(&admin))
        .create_pool(lic_pb::CreatePoolRequest {
            request_id: String::new(),
            pool: Some(lic_pb::LicensePool { name: "Metrics pool".into(), seat_count: 1, ..Default::default() }),
        })
        .await
        .expect("create pool")
        .into_inner()
        .pool
        .unwrap();
    let login = |(profile, token): (ProfileId, String)| {
        let pool_id = pool.pool_id.clone();
        async move {
            suite
                .licensing(Some(&token))
                .login(lic_pb::LoginRequest {
                    pool_id,
                    profile_id: profile.to_string(),
                    channel: lic_pb::ClientChannel::Desktop as i32,
                    ..Default::default()
                })
                .await
        }
    };
    let denied = r#"csm_license_denials_total{reason="LICENSE_POOL_EXHAUSTED"}"#;
    let seats = |state: &str| {
        format!(r#"csm_license_pool_seats{{pool_id="{}",pool="Metrics pool",state="{state}"}}"#, pool.pool_id)
    };
    let empty = scrape(suite, ServiceName::Licensing).await;
    assert_eq!(value(&empty, denied), 0.0);
    assert!(empty.contains(&format!("{} 0", seats("in_use"))), "{empty}");
    assert_eq!(value(&empty, &seats("capacity")), 1.0);

    login(employee_with_login(suite, "Uma").await).await.expect("the first person gets the seat");
    let refused = login(employee_with_login(suite, "Ulf").await).await.unwrap_err();
    assert_eq!(reason_of(&refused), "LICENSE_POOL_EXHAUSTED");

    let text = scrape(suite, ServiceName::Licensing).await;
    assert_eq!(value(&text, &seats("in_use")), 1.0, "{text}");
    assert_eq!(value(&text, denied), 1.0, "{text}");
    assert_eq!(value(&text, r#"csm_license_denials_total{reason="LICENSE_KEY_EXPIRED"}"#), 0.0);
    assert_eq!(
        value(
            &text,
            r#"csm_rpc_requests_total{service="csm.licensing.v1.LicensingService",method="Login",code="RESOURCE_EXHAUSTED"}"#
        ),
        1.0
    );
});
