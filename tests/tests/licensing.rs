//! licensing over real gRPC (SPEC §7, R7.1–R7.13, X4): concurrent pools and
//! sessions, escalation, the licence right, release by timeout (with the
//! expiry step run at a chosen instant instead of sleeping), named seats,
//! usage and denials. Each test runs on SQLite and on PostgreSQL.

use csm_db::Db;
use csm_db::testing::TestDatabase;
use csm_licensing::chrono::{self, Duration as ChronoDuration, Utc};
use csm_proto::identity as id_pb;
use csm_proto::licensing as pb;
use csm_tests::{Backend, Suite, SuiteOptions, backend_test, masked, reason_of, violated_fields};
use csm_types::{LoginId, ProfileId, ServiceName};
use futures::StreamExt as _;
use tonic::Code;

// ------------------------------------------------------------------ helpers

/// A person with a login, their profile and a token acting as that profile.
#[derive(Clone)]
struct Person {
    profile: ProfileId,
    login: LoginId,
    token: String,
}

async fn employee(suite: &Suite, name: &str) -> Person {
    let admin = suite.admin_token();
    let profile = suite
        .identity(Some(&admin))
        .create_employee(id_pb::CreateEmployeeRequest {
            details: Some(id_pb::PersonDetails {
                first_name: name.to_owned(),
                last_name: "Agent".to_owned(),
                email: format!("{}@example.com", name.to_lowercase()),
                ..Default::default()
            }),
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
    person_of(suite, &profile)
}

fn person_of(suite: &Suite, profile: &id_pb::Profile) -> Person {
    let profile_id = ProfileId::parse(&profile.profile_id).unwrap();
    let login = LoginId::parse(&profile.login_id).expect("the profile has a login");
    Person { profile: profile_id, login, token: suite.token_for(login, Some(profile_id)) }
}

async fn account(suite: &Suite, name: &str) -> String {
    let admin = suite.admin_token();
    suite
        .identity(Some(&admin))
        .create_account(id_pb::CreateAccountRequest {
            request_id: String::new(),
            name: format!("{name} {}", uuid::Uuid::new_v4().simple()),
            kind: id_pb::AccountKind::Customer as i32,
            parent_account_id: String::new(),
        })
        .await
        .expect("create account")
        .into_inner()
        .account
        .unwrap()
        .account_id
}

async fn customer_profile(suite: &Suite, account_id: &str, name: &str, with_login: bool) -> id_pb::Profile {
    let admin = suite.admin_token();
    suite
        .identity(Some(&admin))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account_id.to_owned(),
            details: Some(id_pb::PersonDetails {
                first_name: name.to_owned(),
                last_name: "Customer".to_owned(),
                email: format!("{}@example.com", name.to_lowercase()),
                ..Default::default()
            }),
            login: with_login.then(|| {
                id_pb::create_contact_request::Login::NewLogin(id_pb::NewLogin {
                    login_name: format!("{}-{}", name.to_lowercase(), uuid::Uuid::new_v4().simple()),
                    password: "correct horse battery".to_owned(),
                })
            }),
            ..Default::default()
        })
        .await
        .expect("create contact")
        .into_inner()
        .profile
        .unwrap()
}

async fn customer(suite: &Suite, account_id: &str, name: &str) -> Person {
    let profile = customer_profile(suite, account_id, name, true).await;
    person_of(suite, &profile)
}

fn pool_named(name: &str, seats: i32) -> pb::LicensePool {
    pb::LicensePool {
        name: format!("{name} {}", uuid::Uuid::new_v4().simple()),
        seat_count: seats,
        ..Default::default()
    }
}

async fn create_pool(suite: &Suite, pool: pb::LicensePool) -> pb::LicensePool {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .create_pool(pb::CreatePoolRequest { request_id: String::new(), pool: Some(pool) })
        .await
        .expect("create pool")
        .into_inner()
        .pool
        .unwrap()
}

async fn login(
    suite: &Suite,
    person: &Person,
    pool: &pb::LicensePool,
    channel: pb::ClientChannel,
) -> Result<pb::LoginResponse, tonic::Status> {
    suite
        .licensing(Some(&person.token))
        .login(pb::LoginRequest {
            request_id: String::new(),
            pool_id: pool.pool_id.clone(),
            profile_id: person.profile.to_string(),
            channel: channel as i32,
            device_id: String::new(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn logout(suite: &Suite, person: &Person, session_id: &str) -> pb::LogoutResponse {
    suite
        .licensing(Some(&person.token))
        .logout(pb::LogoutRequest { session_id: session_id.to_owned() })
        .await
        .expect("logout")
        .into_inner()
}

async fn usage(suite: &Suite, pool: &pb::LicensePool) -> pb::GetPoolUsageResponse {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .get_pool_usage(pb::GetPoolUsageRequest { pool_id: pool.pool_id.clone(), ..Default::default() })
        .await
        .expect("pool usage")
        .into_inner()
}

async fn session(suite: &Suite, session_id: &str) -> pb::LicenseSession {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .get_session(pb::GetSessionRequest { session_id: session_id.to_owned() })
        .await
        .expect("get session")
        .into_inner()
        .session
        .unwrap()
}

async fn escalate(
    suite: &Suite,
    person: &Person,
    session_id: &str,
    access: pb::RecordAccess,
    record: &str,
) -> Result<pb::EscalateSessionResponse, tonic::Status> {
    suite
        .licensing(Some(&person.token))
        .escalate_session(pb::EscalateSessionRequest {
            session_id: session_id.to_owned(),
            access: access as i32,
            record_type: "case".to_owned(),
            record_id: record.to_owned(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn grant_right_to(suite: &Suite, profile: ProfileId) -> pb::LicenseRightGrant {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .grant_license_right(pb::GrantLicenseRightRequest {
            request_id: String::new(),
            subject: Some(pb::grant_license_right_request::Subject::ProfileId(profile.to_string())),
        })
        .await
        .expect("grant the licence right")
        .into_inner()
        .grant
        .unwrap()
}

async fn create_plan(suite: &Suite, product: pb::LicensedProduct, limit: i32) -> pb::SeatPlan {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .create_seat_plan(pb::CreateSeatPlanRequest {
            request_id: String::new(),
            seat_plan: Some(pb::SeatPlan { product: product as i32, seat_limit: limit, ..Default::default() }),
        })
        .await
        .expect("create seat plan")
        .into_inner()
        .seat_plan
        .unwrap()
}

async fn grant_seat(
    suite: &Suite,
    plan: &pb::SeatPlan,
    profile: &str,
    kind: pb::SeatKind,
) -> Result<pb::AgentSeat, tonic::Status> {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .grant_agent_seat(pb::GrantAgentSeatRequest {
            request_id: String::new(),
            seat_plan_id: plan.seat_plan_id.clone(),
            profile_id: profile.to_owned(),
            kind: kind as i32,
        })
        .await
        .map(|response| response.into_inner().agent_seat.unwrap())
}

async fn has_agent_license(suite: &Suite, profile: &str, product: pb::LicensedProduct) -> pb::HasAgentLicenseResponse {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .has_agent_license(pb::HasAgentLicenseRequest { profile_id: profile.to_owned(), product: product as i32 })
        .await
        .expect("has agent license")
        .into_inner()
}

async fn count_denials(suite: &Suite, pool_id: &str, seat_plan_id: &str) -> pb::CountDenialsResponse {
    let admin = suite.admin_token();
    suite
        .licensing(Some(&admin))
        .count_denials(pb::CountDenialsRequest {
            pool_id: pool_id.to_owned(),
            seat_plan_id: seat_plan_id.to_owned(),
            ..Default::default()
        })
        .await
        .expect("count denials")
        .into_inner()
}

fn denial_count(counts: &pb::CountDenialsResponse, reason: pb::DenialReason) -> i64 {
    counts.counts.iter().find(|count| count.reason == reason as i32).map_or(0, |count| count.count)
}

/// Many employees at once (bounded concurrency).
async fn employees(suite: &Suite, prefix: &str, count: usize) -> Vec<Person> {
    futures::stream::iter(0..count)
        .map(|index| async move { employee(suite, &format!("{prefix}{index}")).await })
        .buffer_unordered(32)
        .collect()
        .await
}

/// The five databases of a suite, created by the test so the suite can be
/// stopped and started again on them, and so the test can open licensing's.
struct OwnedDatabases {
    databases: Vec<(ServiceName, TestDatabase)>,
}

impl OwnedDatabases {
    fn new(backend: &Backend) -> Self {
        Self {
            databases: ServiceName::ALL
                .into_iter()
                .map(|service| (service, backend.fresh_database(service.as_str())))
                .collect(),
        }
    }

    fn options(&self) -> SuiteOptions {
        SuiteOptions {
            database_overrides: self
                .databases
                .iter()
                .map(|(service, database)| (*service, database.url.clone()))
                .collect(),
            skip_readiness: Vec::new(),
            ..Default::default()
        }
    }

    fn url(&self, service: ServiceName) -> &str {
        &self.databases.iter().find(|(candidate, _)| *candidate == service).unwrap().1.url
    }

    /// licensing's database, opened as a fresh process would.
    async fn licensing_db(&self) -> Db {
        Db::connect(self.url(ServiceName::Licensing), &csm_db::PoolSettings::default())
            .await
            .expect("open licensing db")
    }

    async fn remove(self) {
        for (_, database) in self.databases {
            database.remove().await;
        }
    }
}

/// A test that owns its databases: `|backend|`, runs on SQLite and PostgreSQL.
macro_rules! owned_db_test {
    ($name:ident, |$backend:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($backend: Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(backend) = Backend::postgres_from_env(concat!(module_path!(), "::postgres")) else {
                    return;
                };
                body(backend).await;
            }
        }
    };
}

/// Runs the expiry step at `now + minutes` on licensing's database.
async fn expire_at(db: &Db, minutes: i64) -> usize {
    csm_licensing::app::release_expired_in(db.clone(), csm_db::now() + ChronoDuration::minutes(minutes))
        .await
        .expect("expiry runs")
}

// ------------------------------------------------------------------ R7.1

backend_test!(r7_1_concurrent_pool_refuses_the_next_person_until_a_holder_logs_out, |suite| {
    // Given a pool of 2 seats and users U1, U2 logged in
    let pool = create_pool(suite, pool_named("R7.1", 2)).await;
    let u1 = employee(suite, "Uma").await;
    let u2 = employee(suite, "Ulf").await;
    let u3 = employee(suite, "Udo").await;
    let s1 = login(suite, &u1, &pool, pb::ClientChannel::Desktop).await.unwrap();
    assert!(s1.seat_newly_acquired);
    assert!(s1.session.as_ref().unwrap().seat_held);
    login(suite, &u2, &pool, pb::ClientChannel::Browser).await.unwrap();
    // When U3 logs in: RESOURCE_EXHAUSTED, LICENSE_POOL_EXHAUSTED, no session
    let refused = login(suite, &u3, &pool, pb::ClientChannel::Desktop).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(reason_of(&refused), "LICENSE_POOL_EXHAUSTED");
    let admin = suite.admin_token();
    let u3_sessions = suite
        .licensing(Some(&admin))
        .list_sessions(pb::ListSessionsRequest { login_id: u3.login.to_string(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(u3_sessions.sessions.is_empty(), "a refused login creates no session");
    // The existing holders are not pre-empted
    assert_eq!(usage(suite, &pool).await.seats_in_use, 2);
    // When U1 logs out, U3 gets in
    let out = logout(suite, &u1, &s1.session.unwrap().session_id).await;
    assert!(out.seat_released);
    let s3 = login(suite, &u3, &pool, pb::ClientChannel::Desktop).await.expect("U3 logs in after U1 left");
    assert!(s3.seat_newly_acquired);
    // The refusal was recorded with its reason
    let denials = suite
        .licensing(Some(&admin))
        .list_denials(pb::ListDenialsRequest { pool_id: pool.pool_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .denials;
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].reason, pb::DenialReason::LicensePoolExhausted as i32);
    assert_eq!(denials[0].login_id, u3.login.to_string());
    assert_eq!(denials[0].channel, pb::ClientChannel::Desktop as i32);
    let counts = count_denials(suite, &pool.pool_id, "").await;
    assert_eq!(counts.total_count, 1);
    assert_eq!(denial_count(&counts, pb::DenialReason::LicensePoolExhausted), 1);
});

backend_test!(r7_1_lowering_seat_count_preempts_nobody, |suite| {
    let pool = create_pool(suite, pool_named("shrink", 2)).await;
    let people = employees(suite, "Shr", 3).await;
    login(suite, &people[0], &pool, pb::ClientChannel::Desktop).await.unwrap();
    login(suite, &people[1], &pool, pb::ClientChannel::Desktop).await.unwrap();
    let admin = suite.admin_token();
    let updated = suite
        .licensing(Some(&admin))
        .update_pool(masked!(
            pb::UpdatePoolRequest {
                pool: Some(pb::LicensePool { pool_id: pool.pool_id.clone(), seat_count: 1, ..Default::default() }),
                update_mask: None,
            },
            ["seat_count"]
        ))
        .await
        .unwrap()
        .into_inner()
        .pool
        .unwrap();
    assert_eq!(updated.seat_count, 1);
    let now = usage(suite, &pool).await;
    assert_eq!((now.seat_count, now.seats_in_use, now.seats_available), (1, 2, 0));
    let refused = login(suite, &people[2], &pool, pb::ClientChannel::Desktop).await.unwrap_err();
    assert_eq!(reason_of(&refused), "LICENSE_POOL_EXHAUSTED");
});

// 1,000 distinct people log in at once at a 100-seat pool: exactly 100 win.
backend_test!(r7_1_thousand_concurrent_logins_at_a_hundred_seats_exactly_100_win, |suite| {
    const PEOPLE: usize = 1000;
    const SEATS: i32 = 100;
    let pool = create_pool(suite, pool_named("rush", SEATS)).await;
    let started = std::time::Instant::now();
    let people = employees(suite, "Rush", PEOPLE).await;
    eprintln!("created {PEOPLE} people in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let outcomes: Vec<Result<pb::LoginResponse, tonic::Status>> = futures::stream::iter(people.iter())
        .map(|person| {
            let pool = pool.clone();
            async move { login(suite, person, &pool, pb::ClientChannel::Desktop).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    eprintln!("{PEOPLE} concurrent logins in {:?}", started.elapsed());
    let winners = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let exhausted = outcomes
        .iter()
        .filter(|outcome| {
            matches!(outcome, Err(status) if status.code() == Code::ResourceExhausted
                && reason_of(status) == "LICENSE_POOL_EXHAUSTED")
        })
        .count();
    let other_errors: Vec<_> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().err())
        .filter(|status| status.code() != Code::ResourceExhausted)
        .take(3)
        .collect();
    assert!(other_errors.is_empty(), "unexpected errors: {other_errors:?}");
    assert_eq!(winners, SEATS as usize);
    assert_eq!(exhausted, PEOPLE - SEATS as usize);
    let now = usage(suite, &pool).await;
    assert_eq!(now.seats_in_use, SEATS);
    let counts = count_denials(suite, &pool.pool_id, "").await;
    assert_eq!(denial_count(&counts, pb::DenialReason::LicensePoolExhausted), (PEOPLE - SEATS as usize) as i64);
});

// ------------------------------------------------------------------ R7.2

backend_test!(r7_2_one_person_takes_one_seat_across_devices, |suite| {
    // Given U logged in on desktop and mobile
    let pool = create_pool(suite, pool_named("R7.2", 5)).await;
    let user = employee(suite, "Dev").await;
    let desktop = login(suite, &user, &pool, pb::ClientChannel::Desktop).await.unwrap();
    let mobile = login(suite, &user, &pool, pb::ClientChannel::Mobile).await.unwrap();
    assert!(desktop.seat_newly_acquired);
    assert!(!mobile.seat_newly_acquired, "the second device joins the person's seat");
    assert!(mobile.session.as_ref().unwrap().seat_held);
    // Then pool usage is 1, one holder with two sessions
    let now = usage(suite, &pool).await;
    assert_eq!(now.seats_in_use, 1);
    assert_eq!(now.holders.len(), 1);
    assert_eq!(now.holders[0].login_id, user.login.to_string());
    assert_eq!(now.holders[0].session_count, 2);
    // Logging out of one device keeps the seat; the last one frees it
    let first = logout(suite, &user, &desktop.session.unwrap().session_id).await;
    assert!(!first.seat_released);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 1);
    let last = logout(suite, &user, &mobile.session.unwrap().session_id).await;
    assert!(last.seat_released);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 0);
});

backend_test!(r7_2_retried_login_with_a_request_id_takes_no_second_seat, |suite| {
    let pool = create_pool(suite, pool_named("retry", 5)).await;
    let user = employee(suite, "Rita").await;
    let request = pb::LoginRequest {
        request_id: "login-retry-1".to_owned(),
        pool_id: pool.pool_id.clone(),
        profile_id: user.profile.to_string(),
        channel: pb::ClientChannel::Desktop as i32,
        device_id: "laptop".to_owned(),
    };
    let first = suite.licensing(Some(&user.token)).login(request.clone()).await.unwrap().into_inner();
    let second = suite.licensing(Some(&user.token)).login(request).await.unwrap().into_inner();
    assert_eq!(first.session.as_ref().unwrap().session_id, second.session.as_ref().unwrap().session_id);
    assert_eq!(first.consistency_token, second.consistency_token);
    assert!(second.seat_newly_acquired, "the retry answers the original result");
    let now = usage(suite, &pool).await;
    assert_eq!((now.seats_in_use, now.holders[0].session_count), (1, 1));
});

// ------------------------------------------------------------------ R7.3

backend_test!(r7_3_non_consuming_channels_never_take_a_seat, |suite| {
    let admin = suite.admin_token();
    // Non-consuming channels cannot be configured as consuming
    let refused = suite
        .licensing(Some(&admin))
        .create_pool(pb::CreatePoolRequest {
            request_id: String::new(),
            pool: Some(pb::LicensePool {
                consuming_channels: vec![pb::ClientChannel::Desktop as i32, pb::ClientChannel::Administrator as i32],
                ..pool_named("bad", 1)
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), vec!["pool.consuming_channels"]);
    // A pool with no free seat and an expired key
    let pool = create_pool(
        suite,
        pb::LicensePool { license_expiration_date: "2000-01-01".to_owned(), ..pool_named("R7.3", 0) },
    )
    .await;
    assert_eq!(pool.consuming_channels.len(), 6, "defaults: desktop, browser, mobile, outlook, REST, portal");
    let user = employee(suite, "Adam").await;
    for channel in [
        pb::ClientChannel::Administrator,
        pb::ClientChannel::AutoDeploy,
        pb::ClientChannel::DashboardViewer,
        pb::ClientChannel::ImportUtility,
    ] {
        let session = login(suite, &user, &pool, channel).await.expect("non-consuming channels are never refused");
        assert!(!session.session.unwrap().seat_held);
    }
    // A consuming channel is refused on the same pool
    let desktop = login(suite, &user, &pool, pb::ClientChannel::RestApi).await.unwrap_err();
    assert_eq!(desktop.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&desktop), "LICENSE_KEY_EXPIRED");
    assert_eq!(usage(suite, &pool).await.seats_in_use, 0);
});

// ------------------------------------------------------------------ R7.4

backend_test!(r7_4_customers_in_the_portal_take_no_seat, |suite| {
    let pool = create_pool(suite, pool_named("R7.4", 0)).await;
    let account_id = account(suite, "Acme").await;
    let carla = customer(suite, &account_id, "Carla").await;
    let portal = login(suite, &carla, &pool, pb::ClientChannel::Portal).await.expect("customers log in without a seat");
    let session = portal.session.unwrap();
    assert!(!session.seat_held);
    assert!(!portal.seat_newly_acquired);
    assert_eq!(session.principal_kind, pb::LicensePrincipalKind::Customer as i32);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 0);
    let desktop = login(suite, &carla, &pool, pb::ClientChannel::Desktop).await.unwrap_err();
    assert_eq!(desktop.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&desktop), "CUSTOMER_CHANNEL_NOT_ALLOWED");
});

// ------------------------------------------------------------------ R7.5

backend_test!(r7_5_access_mode_takes_a_seat_on_the_first_view_of_anothers_record, |suite| {
    // Given ACCESS mode (the default) and customer C with the right (R7.6)
    let pool = create_pool(suite, pool_named("R7.5 access", 3)).await;
    assert_eq!(pool.portal_license_on, pb::PortalLicenseMode::Access as i32);
    let account_id = account(suite, "Globex").await;
    let c = customer(suite, &account_id, "Cleo").await;
    grant_right_to(suite, c.profile).await;
    let session_id = login(suite, &c, &pool, pb::ClientChannel::Portal).await.unwrap().session.unwrap().session_id;
    // When C views a record owned by D: usage +1
    let first = escalate(suite, &c, &session_id, pb::RecordAccess::Read, "case-of-d-1").await.unwrap();
    assert!(first.seat_needed && first.seat_held && first.seat_newly_acquired);
    assert_eq!(first.session.unwrap().seat_source, pb::SeatSource::Escalation as i32);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 1);
    // Views two more: still +1
    for record in ["case-of-d-2", "case-of-d-3"] {
        let again = escalate(suite, &c, &session_id, pb::RecordAccess::Read, record).await.unwrap();
        assert!(again.seat_held && !again.seat_newly_acquired);
    }
    let now = usage(suite, &pool).await;
    assert_eq!((now.seats_in_use, now.escalated_seats_in_use), (1, 1));
    // Logs out: -1
    assert!(logout(suite, &c, &session_id).await.seat_released);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 0);
});

backend_test!(r7_5_edit_mode_views_are_free_and_the_first_edit_takes_the_seat, |suite| {
    let pool = create_pool(
        suite,
        pb::LicensePool { portal_license_on: pb::PortalLicenseMode::Edit as i32, ..pool_named("R7.5 edit", 3) },
    )
    .await;
    let account_id = account(suite, "Initech").await;
    let c = customer(suite, &account_id, "Cora").await;
    grant_right_to(suite, c.profile).await;
    let session_id = login(suite, &c, &pool, pb::ClientChannel::Portal).await.unwrap().session.unwrap().session_id;
    // C views a record owned by D: usage unchanged
    let view = escalate(suite, &c, &session_id, pb::RecordAccess::Read, "d-1").await.unwrap();
    assert!(!view.seat_needed && !view.seat_held);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 0);
    // C saves an edit: +1
    let edit = escalate(suite, &c, &session_id, pb::RecordAccess::Edit, "d-1").await.unwrap();
    assert!(edit.seat_needed && edit.seat_newly_acquired);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 1);
    // C edits three more records: still +1
    for record in ["d-2", "d-3", "d-4"] {
        let again = escalate(suite, &c, &session_id, pb::RecordAccess::Edit, record).await.unwrap();
        assert!(again.seat_held && !again.seat_newly_acquired);
    }
    assert_eq!(usage(suite, &pool).await.seats_in_use, 1);
    // C logs out: -1
    assert!(logout(suite, &c, &session_id).await.seat_released);
    assert_eq!(usage(suite, &pool).await.seats_in_use, 0);
});

backend_test!(r7_5_escalation_on_a_full_pool_is_refused_and_the_session_stays_open, |suite| {
    let pool = create_pool(suite, pool_named("full", 1)).await;
    let agent = employee(suite, "Ann").await;
    login(suite, &agent, &pool, pb::ClientChannel::Desktop).await.unwrap();
    let account_id = account(suite, "Umbrella").await;
    let c = customer(suite, &account_id, "Cid").await;
    grant_right_to(suite, c.profile).await;
    let session_id = login(suite, &c, &pool, pb::ClientChannel::Portal).await.unwrap().session.unwrap().session_id;
    let refused = escalate(suite, &c, &session_id, pb::RecordAccess::Edit, "r1").await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(reason_of(&refused), "LICENSE_POOL_EXHAUSTED");
    let after = session(suite, &session_id).await;
    assert_eq!(after.state, pb::SessionState::Active as i32);
    assert!(!after.seat_held);
    // Internal users' sessions are returned unchanged
    let agent_session = login(suite, &agent, &pool, pb::ClientChannel::Browser).await.unwrap().session.unwrap();
    let unchanged = escalate(suite, &agent, &agent_session.session_id, pb::RecordAccess::Edit, "r1").await.unwrap();
    assert!(!unchanged.seat_needed && !unchanged.seat_newly_acquired && unchanged.seat_held);
});

// ------------------------------------------------------------------ R7.6

backend_test!(r7_6_without_the_licence_right_an_edit_is_permission_denied, |suite| {
    let pool = create_pool(suite, pool_named("R7.6", 5)).await;
    let account_id = account(suite, "Hooli").await;
    let c = customer(suite, &account_id, "Cato").await;
    let session_id = login(suite, &c, &pool, pb::ClientChannel::Portal).await.unwrap().session.unwrap().session_id;
    let admin = suite.admin_token();
    let right = suite
        .licensing(Some(&admin))
        .has_license_right(pb::HasLicenseRightRequest { profile_id: c.profile.to_string() })
        .await
        .unwrap()
        .into_inner();
    assert!(!right.has_right);
    // Without the right: PERMISSION_DENIED LICENSE_RIGHT_MISSING, session still open
    let refused = escalate(suite, &c, &session_id, pb::RecordAccess::Edit, "x").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&refused), "LICENSE_RIGHT_MISSING");
    assert_eq!(session(suite, &session_id).await.state, pb::SessionState::Active as i32);
    assert_eq!(denial_count(&count_denials(suite, &pool.pool_id, "").await, pb::DenialReason::LicenseRightMissing), 1);
    // With the right granted: the edit takes a seat
    let grant = grant_right_to(suite, c.profile).await;
    let right = suite
        .licensing(Some(&admin))
        .has_license_right(pb::HasLicenseRightRequest { profile_id: c.profile.to_string() })
        .await
        .unwrap()
        .into_inner();
    assert!(right.has_right);
    assert_eq!(right.license_right_grant_ids, vec![grant.license_right_grant_id.clone()]);
    let granted = escalate(suite, &c, &session_id, pb::RecordAccess::Edit, "x").await.unwrap();
    assert!(granted.seat_newly_acquired);
    // A second grant is refused; revoking keeps the seat but refuses later escalations
    let twice = suite
        .licensing(Some(&admin))
        .grant_license_right(pb::GrantLicenseRightRequest {
            request_id: String::new(),
            subject: Some(pb::grant_license_right_request::Subject::ProfileId(c.profile.to_string())),
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&twice), "LICENSE_RIGHT_ALREADY_GRANTED");
    suite
        .licensing(Some(&admin))
        .revoke_license_right(pb::RevokeLicenseRightRequest {
            license_right_grant_id: grant.license_right_grant_id.clone(),
        })
        .await
        .unwrap();
    assert!(session(suite, &session_id).await.seat_held, "seats taken with the right are kept");
    let second_session = login(suite, &c, &pool, pb::ClientChannel::Portal).await.unwrap().session.unwrap().session_id;
    // The person still holds the seat through the first session: joining it needs no new seat,
    // but the right is checked for every session that needs one.
    let later = escalate(suite, &c, &second_session, pb::RecordAccess::Edit, "y").await.unwrap_err();
    assert_eq!(reason_of(&later), "LICENSE_RIGHT_MISSING");
    let missing = suite
        .licensing(Some(&admin))
        .revoke_license_right(pb::RevokeLicenseRightRequest { license_right_grant_id: grant.license_right_grant_id })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
});

// ------------------------------------------------------------------ R7.7

owned_db_test!(r7_7_idle_timeout_releases_the_seat_and_a_closed_browser_does_not, |backend| {
    let databases = OwnedDatabases::new(&backend);
    let suite = Suite::start_with(backend.clone(), databases.options()).await;
    let db = databases.licensing_db().await;
    {
        let suite = &suite;
        // Given a session with a 30-minute inactivity timeout
        let pool = create_pool(
            suite,
            pb::LicensePool {
                idle_timeout_minutes: 30,
                browser_idle_timeout_minutes: 30,
                auto_release_after_minutes: Some(0),
                ..pool_named("R7.7", 5)
            },
        )
        .await;
        let desk = employee(suite, "Idle").await;
        let browser_user = employee(suite, "Tab").await;
        let idle = login(suite, &desk, &pool, pb::ClientChannel::Desktop).await.unwrap().session.unwrap();
        assert!(idle.idle_deadline.is_some());
        assert!(idle.unresponsive_deadline.is_none(), "auto-release disabled");
        // A browser tab closed at t=0 (no logout, no heartbeat): still held at t=29
        let tab = login(suite, &browser_user, &pool, pb::ClientChannel::Browser).await.unwrap().session.unwrap();
        assert_eq!(expire_at(&db, 29).await, 0);
        assert_eq!(usage(suite, &pool).await.seats_in_use, 2);
        assert!(session(suite, &tab.session_id).await.seat_held);
        // Idle for 31 minutes: released (both), with the reason
        assert_eq!(expire_at(&db, 30).await, 2);
        assert_eq!(usage(suite, &pool).await.seats_in_use, 0);
        let ended = session(suite, &idle.session_id).await;
        assert_eq!(ended.state, pb::SessionState::Ended as i32);
        assert_eq!(ended.end_reason, pb::SessionEndReason::IdleTimeout as i32);
        assert!(!ended.seat_held);
        // A heartbeat after the end says why it ended
        let late = suite
            .licensing(Some(&desk.token))
            .heartbeat(pb::HeartbeatRequest { session_id: idle.session_id.clone(), user_active: true })
            .await
            .unwrap_err();
        assert_eq!(late.code(), Code::FailedPrecondition);
        assert_eq!(reason_of(&late), "LICENSE_SESSION_ENDED");
        // Running the step again changes nothing (idempotent, any replica)
        assert_eq!(expire_at(&db, 31).await, 0);
        // Logging out an ended session returns it unchanged
        let again = logout(suite, &desk, &idle.session_id).await;
        assert!(!again.seat_released);
        assert_eq!(again.session.unwrap().end_reason, pb::SessionEndReason::IdleTimeout as i32);
    }
    db.close().await;
    suite.stop().await;
    databases.remove().await;
});

owned_db_test!(r7_7_unresponsive_clients_are_auto_released_and_heartbeats_keep_sessions_alive, |backend| {
    let databases = OwnedDatabases::new(&backend);
    let suite = Suite::start_with(backend.clone(), databases.options()).await;
    let db = databases.licensing_db().await;
    {
        let suite = &suite;
        let pool = create_pool(
            suite,
            pb::LicensePool {
                idle_timeout_minutes: 0,
                inactivity_warning_minutes: 0,
                auto_release_after_minutes: None,
                ..pool_named("auto-release", 10)
            },
        )
        .await;
        assert_eq!(pool.auto_release_after_minutes, Some(90), "the recommended default");
        let people = employees(suite, "Crash", 6).await;
        let mut sessions = Vec::new();
        for person in &people {
            sessions.push(login(suite, person, &pool, pb::ClientChannel::Desktop).await.unwrap());
        }
        assert!(sessions[0].heartbeat_interval.as_ref().unwrap().seconds > 0);
        // Three clients keep sending heartbeats; three are killed mid-flight
        for (person, login) in people.iter().zip(&sessions).take(3) {
            let beat = suite
                .licensing(Some(&person.token))
                .heartbeat(pb::HeartbeatRequest {
                    session_id: login.session.as_ref().unwrap().session_id.clone(),
                    user_active: false,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(!beat.idle_warning);
            assert!(beat.session.unwrap().unresponsive_deadline.is_some());
        }
        assert_eq!(expire_at(&db, 89).await, 0);
        assert_eq!(expire_at(&db, 91).await, 6, "all clients silent for 91 minutes are released");
        let now = usage(suite, &pool).await;
        assert_eq!(now.seats_in_use, 0);
        let ended = session(suite, &sessions[5].session.as_ref().unwrap().session_id).await;
        assert_eq!(ended.end_reason, pb::SessionEndReason::Unresponsive as i32);
    }
    db.close().await;
    suite.stop().await;
    databases.remove().await;
});

owned_db_test!(r7_7_sessions_survive_a_restart_and_expire_afterwards, |backend| {
    let databases = OwnedDatabases::new(&backend);
    let pool_id;
    let session_ids: Vec<String>;
    {
        let suite = Suite::start_with(backend.clone(), databases.options()).await;
        let pool = create_pool(&suite, pb::LicensePool { idle_timeout_minutes: 30, ..pool_named("restart", 10) }).await;
        let people = employees(&suite, "Boot", 4).await;
        let mut ids = Vec::new();
        for person in &people {
            ids.push(
                login(&suite, person, &pool, pb::ClientChannel::Desktop).await.unwrap().session.unwrap().session_id,
            );
        }
        pool_id = pool.pool_id.clone();
        session_ids = ids;
        suite.stop().await;
    }
    // The service restarts on the same databases: nothing is released by the restart itself
    let suite = Suite::start_with(backend.clone(), databases.options()).await;
    let pool = pb::LicensePool { pool_id: pool_id.clone(), ..Default::default() };
    assert_eq!(usage(&suite, &pool).await.seats_in_use, 4);
    assert_eq!(session(&suite, &session_ids[0]).await.state, pb::SessionState::Active as i32);
    // The expiry step from fresh process state, twice, on the same database
    let first = databases.licensing_db().await;
    let second = databases.licensing_db().await;
    let (a, b) = tokio::join!(expire_at(&first, 31), expire_at(&second, 31));
    assert_eq!(a + b, 4, "concurrent runs end every session exactly once");
    assert_eq!(expire_at(&first, 31).await, 0);
    assert_eq!(usage(&suite, &pool).await.seats_in_use, 0);
    first.close().await;
    second.close().await;
    suite.stop().await;
    databases.remove().await;
});

// ------------------------------------------------------------------ R7.8

backend_test!(r7_8_an_expired_licence_key_refuses_logins, |suite| {
    // Expired yesterday: refused with LICENSE_KEY_EXPIRED (and recorded)
    let yesterday = (Utc::now() - ChronoDuration::days(1)).format("%Y-%m-%d").to_string();
    let expired =
        create_pool(suite, pb::LicensePool { license_expiration_date: yesterday, ..pool_named("expired", 5) }).await;
    let user = employee(suite, "Kay").await;
    let refused = login(suite, &user, &expired, pb::ClientChannel::Desktop).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&refused), "LICENSE_KEY_EXPIRED");
    assert_eq!(denial_count(&count_denials(suite, &expired.pool_id, "").await, pb::DenialReason::LicenseKeyExpired), 1);
    // The key expires at 00:00 at the start of the date in the pool's zone
    let valid = create_pool(
        suite,
        pb::LicensePool {
            license_expiration_date: "2999-01-15".to_owned(),
            time_zone: "+02:00".to_owned(),
            ..pool_named("valid", 5)
        },
    )
    .await;
    let expires = valid.license_expires_at.unwrap();
    assert_eq!(chrono::DateTime::from_timestamp(expires.seconds, 0).unwrap().to_rfc3339(), "2999-01-14T22:00:00+00:00");
    login(suite, &user, &valid, pb::ClientChannel::Desktop).await.expect("a valid key admits logins");
    // Unknown zones and malformed dates are INVALID_ARGUMENT naming the fields
    let admin = suite.admin_token();
    let bad = suite
        .licensing(Some(&admin))
        .create_pool(pb::CreatePoolRequest {
            request_id: String::new(),
            pool: Some(pb::LicensePool {
                license_expiration_date: "15.01.2030".to_owned(),
                time_zone: "Mars/Olympus".to_owned(),
                ..pool_named("bad", 1)
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad), vec!["pool.time_zone"]);
});

// ------------------------------------------------------------------ R7.9–R7.13

backend_test!(r7_9_customers_need_no_licence_and_the_sixth_agent_is_refused, |suite| {
    // Given a JSM plan with 5 agent seats and many customers
    let plan = create_plan(suite, pb::LicensedProduct::JiraServiceManagement, 5).await;
    let account_id = account(suite, "Customers Inc").await;
    const CUSTOMERS: usize = 1000;
    let customers: Vec<id_pb::Profile> = futures::stream::iter(0..CUSTOMERS)
        .map(|index| {
            let account_id = account_id.clone();
            async move { customer_profile(suite, &account_id, &format!("Cust{index}"), false).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert_eq!(customers.len(), CUSTOMERS, "all customers are added: no licence involved");
    let answer = has_agent_license(suite, &customers[0].profile_id, pb::LicensedProduct::JiraServiceManagement).await;
    assert!(!answer.has_license);
    assert_eq!(answer.status, pb::AgentLicenseStatus::NoSeat as i32);
    // 5 agents get seats; the 6th is refused
    let agents = employees(suite, "Agent", 6).await;
    for agent in &agents[..5] {
        grant_seat(suite, &plan, &agent.profile.to_string(), pb::SeatKind::Agent).await.unwrap();
    }
    let sixth = grant_seat(suite, &plan, &agents[5].profile.to_string(), pb::SeatKind::Agent).await.unwrap_err();
    assert_eq!(sixth.code(), Code::ResourceExhausted);
    assert_eq!(reason_of(&sixth), "AGENT_SEATS_EXHAUSTED");
    assert_eq!(
        denial_count(&count_denials(suite, "", &plan.seat_plan_id).await, pb::DenialReason::AgentSeatsExhausted),
        1
    );
});

backend_test!(r7_10_named_seats_count_whether_or_not_the_agent_logs_in, |suite| {
    let plan = create_plan(suite, pb::LicensedProduct::JiraServiceManagement, 2).await;
    let agent = employee(suite, "Never").await;
    let seat = grant_seat(suite, &plan, &agent.profile.to_string(), pb::SeatKind::Agent).await.unwrap();
    let admin = suite.admin_token();
    let current = suite
        .licensing(Some(&admin))
        .get_seat_plan(pb::GetSeatPlanRequest { seat_plan_id: plan.seat_plan_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .seat_plan
        .unwrap();
    assert_eq!(current.seats_used, 1, "counted without any login");
    let twice = grant_seat(suite, &plan, &agent.profile.to_string(), pb::SeatKind::Agent).await.unwrap_err();
    assert_eq!(reason_of(&twice), "AGENT_SEAT_EXISTS");
    assert!(
        has_agent_license(suite, &agent.profile.to_string(), pb::LicensedProduct::JiraServiceManagement)
            .await
            .has_license
    );
    let revoked = suite
        .licensing(Some(&admin))
        .revoke_agent_seat(pb::RevokeAgentSeatRequest { agent_seat_id: seat.agent_seat_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.seat_plan.unwrap().seats_used, 0);
    let missing = suite
        .licensing(Some(&admin))
        .revoke_agent_seat(pb::RevokeAgentSeatRequest { agent_seat_id: seat.agent_seat_id })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let dup = suite
        .licensing(Some(&admin))
        .create_seat_plan(pb::CreateSeatPlanRequest {
            request_id: String::new(),
            seat_plan: Some(pb::SeatPlan {
                product: pb::LicensedProduct::JiraServiceManagement as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&dup), "SEAT_PLAN_EXISTS");
});

backend_test!(r7_11_an_overrun_or_expired_plan_licenses_nobody, |suite| {
    let plan = create_plan(suite, pb::LicensedProduct::ServicenowCsm, 3).await;
    let agents = employees(suite, "Over", 3).await;
    let mut seats = Vec::new();
    for agent in &agents {
        seats.push(grant_seat(suite, &plan, &agent.profile.to_string(), pb::SeatKind::Agent).await.unwrap());
    }
    let profile = agents[0].profile.to_string();
    assert!(has_agent_license(suite, &profile, pb::LicensedProduct::ServicenowCsm).await.has_license);
    // A downgrade to 2 seats: the plan is overrun, nobody is licensed
    let admin = suite.admin_token();
    let shrunk = suite
        .licensing(Some(&admin))
        .update_seat_plan(masked!(
            pb::UpdateSeatPlanRequest {
                seat_plan: Some(pb::SeatPlan {
                    seat_plan_id: plan.seat_plan_id.clone(),
                    seat_limit: 2,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["seat_limit"]
        ))
        .await
        .unwrap()
        .into_inner()
        .seat_plan
        .unwrap();
    assert!(shrunk.overrun);
    let answer = has_agent_license(suite, &profile, pb::LicensedProduct::ServicenowCsm).await;
    assert!(!answer.has_license);
    assert_eq!(answer.status, pb::AgentLicenseStatus::SeatsOverrun as i32);
    // Revoking one seat ends the overrun
    let revoked = suite
        .licensing(Some(&admin))
        .revoke_agent_seat(pb::RevokeAgentSeatRequest { agent_seat_id: seats[2].agent_seat_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .seat_plan
        .unwrap();
    assert!(!revoked.overrun);
    assert!(has_agent_license(suite, &profile, pb::LicensedProduct::ServicenowCsm).await.has_license);
    // An expired licence licenses nobody
    suite
        .licensing(Some(&admin))
        .update_seat_plan(masked!(
            pb::UpdateSeatPlanRequest {
                seat_plan: Some(pb::SeatPlan {
                    seat_plan_id: plan.seat_plan_id.clone(),
                    license_valid_until: Some(csm_proto::timestamp(Utc::now() - ChronoDuration::days(1))),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["license_valid_until"]
        ))
        .await
        .unwrap();
    let expired = has_agent_license(suite, &profile, pb::LicensedProduct::ServicenowCsm).await;
    assert_eq!(expired.status, pb::AgentLicenseStatus::LicenseExpired as i32);
    // product is immutable
    let immutable = suite
        .licensing(Some(&admin))
        .update_seat_plan(masked!(
            pb::UpdateSeatPlanRequest {
                seat_plan: Some(pb::SeatPlan { seat_plan_id: plan.seat_plan_id.clone(), ..Default::default() }),
                update_mask: None,
            },
            ["product"]
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&immutable), vec!["update_mask"]);
});

backend_test!(r7_11_concurrent_seat_grants_never_exceed_the_limit, |suite| {
    let plan = create_plan(suite, pb::LicensedProduct::JiraServiceManagement, 5).await;
    let agents = employees(suite, "Race", 40).await;
    let outcomes: Vec<_> = futures::stream::iter(agents.iter())
        .map(|agent| {
            let plan = plan.clone();
            async move { grant_seat(suite, &plan, &agent.profile.to_string(), pb::SeatKind::Agent).await }
        })
        .buffer_unordered(40)
        .collect()
        .await;
    assert_eq!(outcomes.iter().filter(|outcome| outcome.is_ok()).count(), 5);
    assert!(
        outcomes
            .iter()
            .filter_map(|outcome| outcome.as_ref().err())
            .all(|status| reason_of(status) == "AGENT_SEATS_EXHAUSTED")
    );
});

backend_test!(r7_13_collaborators_consume_a_jira_licence_not_an_agent_licence, |suite| {
    let jsm = create_plan(suite, pb::LicensedProduct::JiraServiceManagement, 5).await;
    let jira = create_plan(suite, pb::LicensedProduct::Jira, 5).await;
    let helper = employee(suite, "Colla").await;
    let profile = helper.profile.to_string();
    let mismatch = grant_seat(suite, &jsm, &profile, pb::SeatKind::Collaborator).await.unwrap_err();
    assert_eq!(mismatch.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&mismatch), "SEAT_KIND_PRODUCT_MISMATCH");
    let agent_on_jira = grant_seat(suite, &jira, &profile, pb::SeatKind::Agent).await.unwrap_err();
    assert_eq!(reason_of(&agent_on_jira), "SEAT_KIND_PRODUCT_MISMATCH");
    grant_seat(suite, &jira, &profile, pb::SeatKind::Collaborator).await.unwrap();
    let on_jsm = has_agent_license(suite, &profile, pb::LicensedProduct::JiraServiceManagement).await;
    assert!(!on_jsm.has_license);
    assert_eq!(on_jsm.status, pb::AgentLicenseStatus::NoSeat as i32);
    let on_jira = has_agent_license(suite, &profile, pb::LicensedProduct::Jira).await;
    assert!(!on_jira.has_license);
    assert_eq!(on_jira.status, pb::AgentLicenseStatus::CollaboratorOnly as i32);
    let admin = suite.admin_token();
    let plans = suite
        .licensing(Some(&admin))
        .get_seat_plan(pb::GetSeatPlanRequest { seat_plan_id: jira.seat_plan_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .seat_plan
        .unwrap();
    assert_eq!(plans.seats_used, 1, "the collaborator counts against the Jira plan");
    let no_plan = has_agent_license(suite, &profile, pb::LicensedProduct::ServicenowCsm).await;
    assert_eq!(no_plan.status, pb::AgentLicenseStatus::NoSeatPlan as i32);
});

// ------------------------------------------------------------------ usage

backend_test!(r7_1_peak_usage_reports_the_highest_concurrent_seats, |suite| {
    let start = Utc::now() - ChronoDuration::minutes(1);
    let pool = create_pool(suite, pool_named("peak", 3)).await;
    let people = employees(suite, "Peak", 4).await;
    let mut sessions = Vec::new();
    for person in &people[..3] {
        sessions.push(login(suite, person, &pool, pb::ClientChannel::Desktop).await.unwrap().session.unwrap());
    }
    login(suite, &people[3], &pool, pb::ClientChannel::Desktop).await.unwrap_err();
    logout(suite, &people[0], &sessions[0].session_id).await;
    let end = start + ChronoDuration::minutes(3);
    let admin = suite.admin_token();
    let peak = suite
        .licensing(Some(&admin))
        .get_peak_usage(pb::GetPeakUsageRequest {
            pool_id: pool.pool_id.clone(),
            start_time: Some(csm_proto::timestamp(start)),
            end_time: Some(csm_proto::timestamp(end)),
            bucket_width: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(peak.peak_seats_in_use, 3);
    assert_eq!(peak.buckets.len(), 3);
    assert_eq!(peak.buckets.iter().map(|bucket| bucket.denial_count).sum::<i32>(), 1);
    assert_eq!(peak.buckets.iter().map(|bucket| bucket.peak_seats_in_use).max(), Some(3));
    let bad = suite
        .licensing(Some(&admin))
        .get_peak_usage(pb::GetPeakUsageRequest {
            pool_id: pool.pool_id.clone(),
            start_time: Some(csm_proto::timestamp(end)),
            end_time: Some(csm_proto::timestamp(start)),
            bucket_width: Some(prost_types::Duration { seconds: 10, nanos: 0 }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&bad);
    fields.sort();
    assert_eq!(fields, vec!["bucket_width", "end_time"]);
});

// ------------------------------------------------------------------ negatives

backend_test!(licensing_validation_names_every_bad_field, |suite| {
    let admin = suite.admin_token();
    let bad_pool = suite
        .licensing(Some(&admin))
        .create_pool(pb::CreatePoolRequest {
            request_id: String::new(),
            pool: Some(pb::LicensePool {
                name: " ".to_owned(),
                seat_count: -1,
                idle_timeout_minutes: 10,
                inactivity_warning_minutes: 10,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_pool.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&bad_pool);
    fields.sort();
    assert_eq!(fields, vec!["pool.inactivity_warning_minutes", "pool.name", "pool.seat_count"]);
    let bad_login = suite
        .licensing(Some(&admin))
        .login(pb::LoginRequest { pool_id: "nope".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    let mut fields = violated_fields(&bad_login);
    fields.sort();
    assert_eq!(fields, vec!["channel", "pool_id", "profile_id"]);
    let pool = create_pool(suite, pool_named("v", 1)).await;
    let missing_profile = suite
        .licensing(Some(&admin))
        .login(pb::LoginRequest {
            pool_id: pool.pool_id.clone(),
            profile_id: ProfileId::new().to_string(),
            channel: pb::ClientChannel::Desktop as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing_profile.code(), Code::NotFound);
    let missing_pool = suite
        .licensing(Some(&admin))
        .get_pool(pb::GetPoolRequest { pool_id: uuid::Uuid::now_v7().to_string() })
        .await
        .unwrap_err();
    assert_eq!((missing_pool.code(), reason_of(&missing_pool)), (Code::NotFound, "POOL_NOT_FOUND".to_owned()));
    let taken = suite
        .licensing(Some(&admin))
        .create_pool(pb::CreatePoolRequest {
            request_id: String::new(),
            pool: Some(pb::LicensePool { name: pool.name.clone(), seat_count: 1, ..Default::default() }),
        })
        .await
        .unwrap_err();
    assert_eq!((taken.code(), reason_of(&taken)), (Code::AlreadyExists, "LICENSE_POOL_NAME_TAKEN".to_owned()));
    let no_subject = suite
        .licensing(Some(&admin))
        .grant_license_right(pb::GrantLicenseRightRequest { request_id: String::new(), subject: None })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_subject), vec!["subject"]);
    let unknown_session = suite
        .licensing(Some(&admin))
        .heartbeat(pb::HeartbeatRequest { session_id: uuid::Uuid::now_v7().to_string(), user_active: true })
        .await
        .unwrap_err();
    assert_eq!(unknown_session.code(), Code::NotFound);
});

backend_test!(licensing_authorization_admin_rpcs_and_other_peoples_sessions, |suite| {
    let pool = create_pool(suite, pool_named("auth", 5)).await;
    let alice = employee(suite, "Alice").await;
    let bob = employee(suite, "Bob").await;
    // A non-admin cannot create pools or grant seats
    let denied = suite
        .licensing(Some(&alice.token))
        .create_pool(pb::CreatePoolRequest { request_id: String::new(), pool: Some(pool_named("mine", 1)) })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Nobody logs in as somebody else, or ends another person's session
    let as_bob = suite
        .licensing(Some(&alice.token))
        .login(pb::LoginRequest {
            pool_id: pool.pool_id.clone(),
            profile_id: bob.profile.to_string(),
            channel: pb::ClientChannel::Desktop as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(as_bob.code(), Code::PermissionDenied);
    let bobs = login(suite, &bob, &pool, pb::ClientChannel::Desktop).await.unwrap().session.unwrap();
    let kill = suite
        .licensing(Some(&alice.token))
        .logout(pb::LogoutRequest { session_id: bobs.session_id.clone() })
        .await
        .unwrap_err();
    assert_eq!(kill.code(), Code::PermissionDenied);
    assert_eq!(session(suite, &bobs.session_id).await.state, pb::SessionState::Active as i32);
    // Reading others' sessions needs admin; one's own is fine
    let others = suite
        .licensing(Some(&alice.token))
        .list_sessions(pb::ListSessionsRequest { pool_id: pool.pool_id.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(others.code(), Code::PermissionDenied);
    let own = suite
        .licensing(Some(&bob.token))
        .list_sessions(pb::ListSessionsRequest { login_id: bob.login.to_string(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.sessions.len(), 1);
    // Without credentials: UNAUTHENTICATED
    let anonymous =
        suite.licensing(None).get_pool(pb::GetPoolRequest { pool_id: pool.pool_id.clone() }).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    // case-access (a service) may escalate; identity may not create pools
    let service = suite.service_token(ServiceName::Identity);
    let refused = suite
        .licensing(Some(&service))
        .create_pool(pb::CreatePoolRequest { request_id: String::new(), pool: Some(pool_named("svc", 1)) })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
});

backend_test!(licensing_lists_page_without_gaps_or_repeats, |suite| {
    let admin = suite.admin_token();
    let mut names = Vec::new();
    for index in 0..5 {
        names.push(create_pool(suite, pool_named(&format!("page{index}"), 3)).await.name);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = suite
            .licensing(Some(&admin))
            .list_pools(pb::ListPoolsRequest { page_size: 2, page_token: token })
            .await
            .unwrap()
            .into_inner();
        assert!(page.pools.len() <= 2);
        seen.extend(page.pools.into_iter().map(|pool| pool.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    names.sort();
    assert_eq!(seen, names);
    // Sessions, newest first, in pages of 2
    let pool = create_pool(suite, pool_named("sessions", 10)).await;
    let user = employee(suite, "Pager").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(login(suite, &user, &pool, pb::ClientChannel::Mobile).await.unwrap().session.unwrap().session_id);
    }
    ids.reverse();
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let page = suite
            .licensing(Some(&admin))
            .list_sessions(pb::ListSessionsRequest {
                pool_id: pool.pool_id.clone(),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.sessions.into_iter().map(|session| session.session_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed, ids);
    let bad = suite
        .licensing(Some(&admin))
        .list_sessions(pb::ListSessionsRequest { page_token: "garbage".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), vec!["page_token"]);
});

/// A new customer security group (R1.8).
async fn customer_group(suite: &Suite) -> id_pb::SecurityGroup {
    suite
        .identity(Some(&suite.admin_token()))
        .create_security_group(id_pb::CreateSecurityGroupRequest {
            request_id: String::new(),
            name: format!("Managers {}", uuid::Uuid::new_v4().simple()),
            kind: id_pb::SecurityGroupKind::Customer as i32,
            description: String::new(),
            presentation_roles: vec!["Portal Manager".to_owned()],
            default_presentation_role: "Portal Manager".to_owned(),
            default_group: false,
        })
        .await
        .expect("create a customer security group")
        .into_inner()
        .security_group
        .unwrap()
}

async fn join_group(suite: &Suite, person: &Person, group: &id_pb::SecurityGroup) {
    suite
        .identity(Some(&suite.admin_token()))
        .assign_security_group(id_pb::AssignSecurityGroupRequest {
            profile_id: person.profile.to_string(),
            security_group_id: group.security_group_id.clone(),
        })
        .await
        .expect("assign the security group");
}

async fn grant_right_to_group(suite: &Suite, group: &id_pb::SecurityGroup) -> pb::LicenseRightGrant {
    suite
        .licensing(Some(&suite.admin_token()))
        .grant_license_right(pb::GrantLicenseRightRequest {
            request_id: String::new(),
            subject: Some(pb::grant_license_right_request::Subject::SecurityGroupId(group.security_group_id.clone())),
        })
        .await
        .expect("grant the right to the group")
        .into_inner()
        .grant
        .unwrap()
}

backend_test!(r7_6_the_licence_right_through_a_customer_security_group, |suite| {
    let admin = suite.admin_token();
    let group = customer_group(suite).await;
    let account_id = account(suite, "Group Co").await;
    let manager = customer(suite, &account_id, "Mona").await;
    join_group(suite, &manager, &group).await;
    let grant = grant_right_to_group(suite, &group).await;
    let right = suite
        .licensing(Some(&manager.token))
        .has_license_right(pb::HasLicenseRightRequest { profile_id: manager.profile.to_string() })
        .await
        .expect("a person reads their own right")
        .into_inner();
    assert!(right.has_right);
    assert_eq!(right.license_right_grant_ids, vec![grant.license_right_grant_id]);
    let pool = create_pool(suite, pool_named("group", 2)).await;
    let session_id =
        login(suite, &manager, &pool, pb::ClientChannel::Portal).await.unwrap().session.unwrap().session_id;
    assert!(escalate(suite, &manager, &session_id, pb::RecordAccess::Edit, "z").await.unwrap().seat_newly_acquired);
    // (An unknown group answers NOT_FOUND once identity's policy lets licensing
    // call GetSecurityGroup; today identity refuses that call, see the report.)
    let listed = suite
        .licensing(Some(&admin))
        .list_license_rights(pb::ListLicenseRightsRequest {
            security_group_id: group.security_group_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.grants.len(), 1);
});

backend_test!(licensing_concurrent_retries_of_a_create_return_one_result, |suite| {
    let admin = suite.admin_token();
    let pool = pool_named("idempotent", 3);
    let outcomes: Vec<_> = futures::future::join_all((0..8).map(|_| {
        let admin = admin.clone();
        let pool = pool.clone();
        async move {
            suite
                .licensing(Some(&admin))
                .create_pool(pb::CreatePoolRequest { request_id: "create-once".to_owned(), pool: Some(pool) })
                .await
                .map(|response| response.into_inner())
        }
    }))
    .await;
    let ids: std::collections::BTreeSet<_> =
        outcomes.into_iter().map(|outcome| outcome.expect("every retry succeeds").pool.unwrap().pool_id).collect();
    assert_eq!(ids.len(), 1);
    let listed = suite.licensing(Some(&admin)).list_pools(pb::ListPoolsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.pools.len(), 1);
});

backend_test!(r7_6_a_customer_moved_into_a_granted_group_gets_the_right_at_once, |suite| {
    // licensing keeps what identity says of a profile (issue 15: no identity
    // call per login); identity's change feed must make it forget the old group.
    let group = customer_group(suite).await;
    grant_right_to_group(suite, &group).await;
    let account_id = account(suite, "Moved Co").await;
    let milo = customer(suite, &account_id, "Milo").await;
    let pool = create_pool(suite, pool_named("moved", 2)).await;
    let session_id = login(suite, &milo, &pool, pb::ClientChannel::Portal).await.unwrap().session.unwrap().session_id;
    let refused = escalate(suite, &milo, &session_id, pb::RecordAccess::Edit, "m").await.unwrap_err();
    assert_eq!(reason_of(&refused), "LICENSE_RIGHT_MISSING");
    join_group(suite, &milo, &group).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match escalate(suite, &milo, &session_id, pb::RecordAccess::Edit, "m").await {
            Ok(granted) => {
                assert!(granted.seat_newly_acquired);
                break;
            }
            Err(status) if reason_of(&status) == "LICENSE_RIGHT_MISSING" && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the moved customer is still refused: {status:?}"),
        }
    }
});
