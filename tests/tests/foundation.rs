//! The foundation every service stands on: health, reflection, authentication,
//! rich errors, the change feed and its Watch streams, idempotent creates.
//! Each test runs on SQLite and on PostgreSQL (see `backend_test!`).

use std::collections::BTreeSet;
use std::time::Duration;

use csm_proto::case_access as case_pb;
use csm_proto::identity as identity_pb;
use csm_proto::role as role_pb;
use csm_tests::{Backend, Suite, SuiteOptions, backend_test, reason_of, violated_fields};
use csm_types::{LoginId, ServiceName};
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

fn service_fqn(service: ServiceName) -> &'static str {
    match service {
        ServiceName::Identity => "csm.identity.v1.IdentityService",
        ServiceName::Role => "csm.role.v1.RoleService",
        ServiceName::AccountTeam => "csm.account_team.v1.AccountTeamService",
        ServiceName::CaseAccess => "csm.case_access.v1.CaseAccessService",
        ServiceName::Licensing => "csm.licensing.v1.LicensingService",
    }
}

async fn create_account(suite: &Suite, name: &str, parent: Option<&str>) -> identity_pb::CreateAccountResponse {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_account(identity_pb::CreateAccountRequest {
            request_id: String::new(),
            name: name.to_owned(),
            kind: identity_pb::AccountKind::Customer as i32,
            parent_account_id: parent.unwrap_or_default().to_owned(),
        })
        .await
        .expect("the administrator creates an account")
        .into_inner()
}

backend_test!(every_service_reports_serving_on_its_health_endpoint, |suite| {
    for service in ServiceName::ALL {
        let mut health = HealthClient::new(suite.plain_channel(service));
        for name in ["", service_fqn(service)] {
            let status = health
                .check(HealthCheckRequest { service: name.to_owned() })
                .await
                .unwrap_or_else(|error| panic!("{service} health check {name:?}: {error}"))
                .into_inner()
                .status;
            assert_eq!(status, ServingStatus::Serving as i32, "{service} {name:?}");
        }
    }
});

backend_test!(reflection_lists_each_service_from_a_client, |suite| {
    for service in ServiceName::ALL {
        let mut reflection = ServerReflectionClient::new(suite.plain_channel(service));
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection answers")
            .into_inner();
        let response = responses.next().await.expect("one response").expect("no error");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("{service}: expected a service list, got {:?}", response.message_response);
        };
        let names: BTreeSet<String> = list.service.into_iter().map(|service| service.name).collect();
        assert!(names.contains(service_fqn(service)), "{service} lists {names:?}");
        assert!(names.contains("grpc.health.v1.Health"), "{service} lists {names:?}");
        // Each server lists what it serves, not every contract of the suite.
        for other in ServiceName::ALL.into_iter().filter(|other| *other != service) {
            assert!(!names.contains(service_fqn(other)), "{service} must not list {other}");
        }
    }
});

backend_test!(calls_without_valid_credentials_are_unauthenticated, |suite| {
    let request = || identity_pb::GetAccountRequest { account_id: uuid::Uuid::now_v7().to_string() };
    let missing = suite.identity(None).get_account(request()).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert_eq!(reason_of(&missing), "MISSING_CREDENTIALS");

    let garbage = suite.identity(Some("not-a-token")).get_account(request()).await.unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);
    assert_eq!(reason_of(&garbage), "INVALID_TOKEN");

    // Signed by a key identity never published.
    let foreign_keys = csm_auth::SuiteKeys::generate();
    let forged = foreign_keys.mint_person(suite.admin_login, None, suite.admin_profile, Duration::from_secs(60));
    let forged = suite.identity(Some(&forged)).get_account(request()).await.unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
    assert_eq!(reason_of(&forged), "UNKNOWN_SIGNING_KEY");

    // Every service applies the same layer.
    let status = suite.case_access(None).check(case_pb::CheckRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = suite.role(None).get_effective_roles(role_pb::GetEffectiveRolesRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
});

backend_test!(malformed_requests_name_every_bad_field, |suite| {
    let token = suite.admin_token();
    let status = suite
        .identity(Some(&token))
        .create_account(identity_pb::CreateAccountRequest {
            request_id: String::new(),
            name: "   ".to_owned(),
            kind: 0,
            parent_account_id: "not-a-uuid".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&status), "INVALID_ARGUMENT");
    let fields: BTreeSet<String> = violated_fields(&status).into_iter().collect();
    assert_eq!(fields, BTreeSet::from(["name".to_owned(), "kind".to_owned(), "parent_account_id".to_owned()]));

    let status = suite
        .role(Some(&token))
        .get_effective_roles(role_pb::GetEffectiveRolesRequest { profile_id: "42".to_owned(), consistency: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["profile_id".to_owned()]);
});

backend_test!(unknown_ids_are_not_found, |suite| {
    let token = suite.admin_token();
    let missing = uuid::Uuid::now_v7().to_string();
    let status = suite
        .identity(Some(&token))
        .get_account(identity_pb::GetAccountRequest { account_id: missing.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
    let status = suite
        .identity(Some(&token))
        .create_account(identity_pb::CreateAccountRequest {
            request_id: String::new(),
            name: "Orphan".to_owned(),
            kind: identity_pb::AccountKind::Customer as i32,
            parent_account_id: missing,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
});

backend_test!(empty_decision_requests_name_the_missing_field, |suite| {
    let token = suite.admin_token();
    let status = suite.case_access(Some(&token)).explain(case_pb::ExplainRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["target".to_owned()]);
    let status = suite.case_access(Some(&token)).batch_check(case_pb::BatchCheckRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["items".to_owned()]);
});

backend_test!(people_without_the_roles_are_denied_after_asking_role, |suite| {
    // A person whose profile holds no role: identity asks role, which answers
    // with no roles, so the account administration is refused.
    let token = csm_tests::world::nobody(suite).await.1;
    let status = suite
        .identity(Some(&token))
        .create_account(identity_pb::CreateAccountRequest {
            request_id: String::new(),
            name: "Acme".to_owned(),
            kind: identity_pb::AccountKind::Customer as i32,
            parent_account_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");

    // A token of a login without any profile cannot act at all.
    let login = suite
        .identity(Some(&suite.admin_token()))
        .create_login(identity_pb::CreateLoginRequest {
            login_name: format!("bare-{}", uuid::Uuid::now_v7().simple()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .login
        .unwrap();
    let token = suite.token_for(LoginId::parse(&login.login_id).unwrap(), None);
    let status = suite
        .identity(Some(&token))
        .create_account(identity_pb::CreateAccountRequest {
            request_id: String::new(),
            name: "Acme".to_owned(),
            kind: identity_pb::AccountKind::Customer as i32,
            parent_account_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "ACTIVE_PROFILE_REQUIRED");
});

backend_test!(service_tokens_are_limited_by_the_static_policy, |suite| {
    // case-access may read identity …
    let token = suite.service_token(ServiceName::CaseAccess);
    let status = suite
        .identity(Some(&token))
        .get_account(identity_pb::GetAccountRequest { account_id: uuid::Uuid::now_v7().to_string() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "allowed through, then not found");
    // … but not administer it.
    let status = suite
        .identity(Some(&token))
        .create_account(identity_pb::CreateAccountRequest {
            request_id: String::new(),
            name: "Acme".to_owned(),
            kind: identity_pb::AccountKind::Customer as i32,
            parent_account_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "SERVICE_NOT_ALLOWED");
});

backend_test!(creates_with_a_request_id_are_idempotent, |suite| {
    let token = suite.admin_token();
    let request = identity_pb::CreateAccountRequest {
        request_id: "retry-me-1".to_owned(),
        name: "Initech".to_owned(),
        kind: identity_pb::AccountKind::Partner as i32,
        parent_account_id: String::new(),
    };
    let first = suite.identity(Some(&token)).create_account(request.clone()).await.unwrap().into_inner();
    let second = suite.identity(Some(&token)).create_account(request).await.unwrap().into_inner();
    assert_eq!(first.account, second.account);
    assert_eq!(first.consistency_token, second.consistency_token);
    let account = first.account.unwrap();
    assert_eq!(account.kind, identity_pb::AccountKind::Partner as i32);
    let read = suite
        .identity(Some(&token))
        .get_account(identity_pb::GetAccountRequest { account_id: account.account_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.account, Some(account));
});

backend_test!(watch_replays_then_follows_the_change_feed, |suite| {
    let parent = create_account(suite, "Globex", None).await;
    let parent_id = parent.account.unwrap().account_id;
    let token = suite.service_token(ServiceName::CaseAccess);
    let mut stream = suite
        .identity(Some(&token))
        .watch(identity_pb::WatchRequest { from_revision: 0, entity_types: vec!["account".to_owned()] })
        .await
        .expect("watch opens")
        .into_inner();
    let replayed = stream.next().await.expect("a replayed change").expect("no error").change.unwrap();
    assert_eq!(replayed.entity_id, parent_id);
    assert_eq!(replayed.operation, csm_proto::common::ChangeOperation::Created as i32);
    assert_eq!(replayed.consistency_token, parent.consistency_token);

    // A change committed after the stream caught up is followed.
    let child = create_account(suite, "Globex East", Some(&parent_id)).await;
    let followed = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the new change arrives")
        .expect("stream open")
        .expect("no error")
        .change
        .unwrap();
    let child = child.account.unwrap();
    assert_eq!(followed.entity_id, child.account_id);
    assert_eq!(followed.attributes.get("parent_account_id"), Some(&parent_id));
    assert!(followed.revision > replayed.revision);

    // Resuming after the first change skips it.
    let mut resumed = suite
        .identity(Some(&token))
        .watch(identity_pb::WatchRequest { from_revision: replayed.revision, entity_types: Vec::new() })
        .await
        .unwrap()
        .into_inner();
    let next = resumed.next().await.unwrap().unwrap().change.unwrap();
    assert_eq!(next.revision, followed.revision);
});

backend_test!(role_feed_carries_the_seeded_catalog, |suite| {
    let token = suite.service_token(ServiceName::CaseAccess);
    let mut stream =
        suite.role(Some(&token)).watch(role_pb::WatchRequest { from_revision: 0 }).await.unwrap().into_inner();
    let first = stream.next().await.unwrap().unwrap().change.unwrap();
    assert_eq!(first.revision, 1);
    assert_eq!(first.entity_type, "role");
    assert!(first.consistency_token.starts_with("role:"));
});

backend_test!(bootstrap_administrators_hold_admin, |suite| {
    let token = suite.admin_token();
    let response = suite
        .role(Some(&token))
        .get_effective_roles(role_pb::GetEffectiveRolesRequest {
            profile_id: suite.admin_profile.to_string(),
            consistency: None,
        })
        .await
        .unwrap()
        .into_inner();
    let roles = response.effective_roles.unwrap();
    assert!(roles.roles.contains(&"admin".to_owned()));
    assert!(response.consistency_token.starts_with("role:"));

    // A person may not read someone else's roles without admin.
    let other = csm_tests::world::nobody(suite).await.1;
    let status = suite
        .role(Some(&other))
        .get_effective_roles(role_pb::GetEffectiveRolesRequest {
            profile_id: suite.admin_profile.to_string(),
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

/// A service whose database cannot be reached starts anyway, reports
/// NOT_SERVING and answers UNAVAILABLE — never a result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_its_database_is_not_serving() {
    let mut options = SuiteOptions::default();
    // Port 1 on loopback refuses connections at once.
    options.database_overrides.insert(ServiceName::Identity, "postgres://postgres@127.0.0.1:1/nowhere".to_owned());
    options.skip_readiness.push(ServiceName::Identity);
    let suite = Suite::start_with(Backend::Sqlite, options).await;
    let mut health = HealthClient::new(suite.plain_channel(ServiceName::Identity));
    let status = health.check(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status;
    assert_eq!(status, ServingStatus::NotServing as i32);
    let token = suite.admin_token();
    let status = suite
        .identity(Some(&token))
        .get_account(identity_pb::GetAccountRequest { account_id: uuid::Uuid::now_v7().to_string() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason_of(&status), "SERVICE_STARTING");
    suite.stop().await;
}
