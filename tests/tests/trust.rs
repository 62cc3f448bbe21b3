//! The suite guards its own surface: what an outside probe found, each shown
//! fixed over gRPC on SQLite and PostgreSQL — identity issues the tokens, a
//! token acts only as a profile of its login, ended means ended everywhere
//! within a second, token hygiene, consumers' personal data and the change
//! feeds stay with whom they belong to.

use csm_types::roles;
use std::time::Duration;

use csm_proto::account_team as at_pb;
use csm_proto::audit as audit_pb;
use csm_proto::case_access as ca_pb;
use csm_proto::identity as pb;
use csm_proto::licensing as lic_pb;
use csm_proto::role as role_pb;
use csm_tests::{Suite, SuiteOptions, backend_test, eventually, reason_of, world};
use csm_types::{LoginId, ProfileId, ServiceName};
use tokio_stream::StreamExt as _;
use tonic::Code;

const PASSWORD: &str = "correct horse battery";

/// A contact of a new customer account with a login (password [`PASSWORD`]); (profile, login name).
async fn customer_with_login(suite: &Suite, roles: &[&str]) -> (pb::Profile, String) {
    let account = world::account(suite, "Trusted Co", None).await;
    let login_name = format!("kim-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let profile = suite
        .identity(Some(&suite.admin_token()))
        .create_contact(pb::CreateContactRequest {
            account_id: account,
            details: world::details("Kim"),
            channels: vec![pb::Channel::CustomerPortal as i32],
            login: Some(pb::create_contact_request::Login::NewLogin(pb::NewLogin {
                login_name: login_name.clone(),
                password: PASSWORD.to_owned(),
            })),
            ..Default::default()
        })
        .await
        .expect("a contact with a login")
        .into_inner()
        .profile
        .unwrap();
    for role in roles {
        suite.assign_role(ProfileId::parse(&profile.profile_id).unwrap(), role).await.expect("role");
    }
    (profile, login_name)
}

async fn log_in(suite: &Suite, login_name: &str, password: &str) -> Result<pb::StartSessionResponse, tonic::Status> {
    suite
        .identity(None)
        .start_session(pb::StartSessionRequest {
            login_name: login_name.to_owned(),
            proof: Some(pb::start_session_request::Proof::Password(password.to_owned())),
            channel: pb::Channel::CustomerPortal as i32,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

fn bearer(response: &pb::StartSessionResponse) -> String {
    response.access_token.as_ref().expect("an access token").token.clone()
}

/// One call per service as a person: Ok, or the status it was refused with.
async fn call_every_service(
    suite: &Suite,
    token: &str,
    profile: &str,
) -> Vec<(ServiceName, Result<(), tonic::Status>)> {
    let identity = suite
        .identity(Some(token))
        .get_profile(pb::GetProfileRequest { profile_id: profile.to_owned() })
        .await
        .map(|_| ());
    let role = suite
        .role(Some(token))
        .get_effective_roles(role_pb::GetEffectiveRolesRequest { profile_id: profile.to_owned(), consistency: None })
        .await
        .map(|_| ());
    let account_team = suite
        .account_team(Some(token))
        .get_principal_relationships(at_pb::GetPrincipalRelationshipsRequest { profile_id: profile.to_owned() })
        .await
        .map(|_| ());
    let case_access = suite
        .case_access(Some(token))
        .list_visible_cases(ca_pb::ListVisibleCasesRequest { page_size: 10, ..Default::default() })
        .await
        .map(|_| ());
    let licensing = suite.licensing(Some(token)).list_pools(lic_pb::ListPoolsRequest::default()).await.map(|_| ());
    vec![
        (ServiceName::Identity, identity),
        (ServiceName::Role, role),
        (ServiceName::AccountTeam, account_team),
        (ServiceName::CaseAccess, case_access),
        (ServiceName::Licensing, licensing),
    ]
}

/// Waits (at most a second) until every service refuses `token` with `reason`.
async fn refused_everywhere_within_a_second(suite: &Suite, token: &str, profile: &str, reason: &str) {
    let started = tokio::time::Instant::now();
    let refused = eventually(Duration::from_secs(1), || async {
        let results = call_every_service(suite, token, profile).await;
        results
            .iter()
            .all(|(_, result)| result.as_ref().err().is_some_and(|status| reason_of(status) == reason))
            .then_some(results)
    })
    .await;
    let results = match refused {
        Some(results) => results,
        None => call_every_service(suite, token, profile).await,
    };
    for (service, result) in &results {
        let status = result.as_ref().err().unwrap_or_else(|| panic!("{service} still accepts the token"));
        assert_eq!(status.code(), Code::Unauthenticated, "{service}: {status:?}");
        assert_eq!(reason_of(status), reason, "{service}: {status:?}");
    }
    eprintln!("every service refused the token ({reason}) {:?} after the change", started.elapsed());
}

backend_test!(r1_9_a_password_login_yields_a_token_every_service_accepts_until_logout, |suite| {
    let (profile, login_name) = customer_with_login(suite, &[roles::CUSTOMER]).await;
    // No bearer token: the password is the proof.
    let started = log_in(suite, &login_name, PASSWORD).await.expect("a password login needs no token");
    let session = started.session.clone().unwrap();
    assert_eq!(session.active_profile_id, profile.profile_id);
    let token = bearer(&started);
    for (service, result) in call_every_service(suite, &token, &profile.profile_id).await {
        if let Err(status) = result {
            assert!(
                !matches!(status.code(), Code::Unauthenticated) && reason_of(&status) != "CALLER_KIND_NOT_ALLOWED",
                "{service} refused the session's token: {status:?}"
            );
        }
    }
    // The refresh token renews the access token while the session lives.
    let refreshed = suite
        .identity(None)
        .refresh_session(pb::RefreshSessionRequest { refresh_token: started.refresh_token.clone() })
        .await
        .expect("refresh")
        .into_inner();
    let renewed = refreshed.access_token.unwrap().token;
    suite
        .case_access(Some(&renewed))
        .list_visible_cases(ca_pb::ListVisibleCasesRequest::default())
        .await
        .expect("the renewed token works");
    let forged = format!("{}.{}", session.session_id, "A".repeat(43));
    let status =
        suite.identity(None).refresh_session(pb::RefreshSessionRequest { refresh_token: forged }).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "INVALID_REFRESH_TOKEN".to_owned()));

    // Logout: every service refuses the session's tokens within a second.
    suite
        .identity(Some(&token))
        .end_session(pb::EndSessionRequest { session_id: session.session_id.clone() })
        .await
        .expect("logout");
    refused_everywhere_within_a_second(suite, &renewed, &profile.profile_id, "SESSION_ENDED").await;
    let status = suite
        .identity(None)
        .refresh_session(pb::RefreshSessionRequest { refresh_token: started.refresh_token })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "SESSION_ENDED".to_owned()));
});

backend_test!(r1_9_a_token_acts_only_as_a_profile_of_its_own_login, |suite| {
    let (customer, _) = customer_with_login(suite, &[roles::CUSTOMER]).await;
    let customer_login = LoginId::parse(&customer.login_id).unwrap();
    // The customer's login naming the administrator's profile.
    let forged = suite.token_for(customer_login, Some(suite.admin_profile));
    let expect_refused = |status: tonic::Status| {
        assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "PROFILE_NOT_OF_LOGIN".to_owned()));
    };
    expect_refused(
        suite
            .identity(Some(&forged))
            .create_account(pb::CreateAccountRequest {
                name: "Mine now".to_owned(),
                kind: pb::AccountKind::Customer as i32,
                ..Default::default()
            })
            .await
            .unwrap_err(),
    );
    expect_refused(
        suite
            .role(Some(&forged))
            .assign_role(role_pb::AssignRoleRequest {
                request_id: String::new(),
                profile_id: customer.profile_id.clone(),
                role: "admin".to_owned(),
            })
            .await
            .unwrap_err(),
    );
    expect_refused(suite.licensing(Some(&forged)).create_pool(lic_pb::CreatePoolRequest::default()).await.unwrap_err());
    expect_refused(
        suite
            .audit(ServiceName::CaseAccess, Some(&forged))
            .list_audit_events(audit_pb::ListAuditEventsRequest::default())
            .await
            .unwrap_err(),
    );
    // … and an agent's profile does not make it an agent.
    let (agent, _) = world::employee(suite, "Ada", &[roles::AGENT]).await;
    let as_agent = suite.token_for(customer_login, Some(agent));
    let account = world::account(suite, "Victim Co", None).await;
    expect_refused(
        world::create_case(suite, &as_agent, world::draft(ca_pb::CreateFor::Account, &account, "")).await.unwrap_err(),
    );
    // A profile nobody has.
    expect_refused(
        suite
            .case_access(Some(&suite.token_for(customer_login, Some(ProfileId::new()))))
            .list_visible_cases(ca_pb::ListVisibleCasesRequest::default())
            .await
            .unwrap_err(),
    );
});

backend_test!(r1_9_switching_profile_retires_the_previous_profiles_token, |suite| {
    let (customer, login_name) = customer_with_login(suite, &[roles::CUSTOMER]).await;
    let login = LoginId::parse(&customer.login_id).unwrap();
    // A second profile on the same login: an employee.
    let employee = suite
        .identity(Some(&suite.admin_token()))
        .create_employee(pb::CreateEmployeeRequest {
            details: world::details("Kim"),
            channels: vec![pb::Channel::Browser as i32],
            login: Some(pb::create_employee_request::Login::LoginId(login.to_string())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    let started = log_in(suite, &login_name, PASSWORD).await.unwrap();
    let before = bearer(&started);
    let switched = suite
        .identity(Some(&before))
        .switch_profile(pb::SwitchProfileRequest {
            session_id: started.session.unwrap().session_id,
            profile_id: employee.profile_id.clone(),
            channel: pb::Channel::Browser as i32,
            presentation_role: String::new(),
        })
        .await
        .expect("switch")
        .into_inner();
    let after = switched.access_token.unwrap().token;
    suite
        .case_access(Some(&after))
        .list_visible_cases(ca_pb::ListVisibleCasesRequest::default())
        .await
        .expect("the new profile's token works");
    let refused = eventually(Duration::from_secs(1), || async {
        let status = suite
            .case_access(Some(&before))
            .list_visible_cases(ca_pb::ListVisibleCasesRequest::default())
            .await
            .err()?;
        (reason_of(&status) == "PROFILE_SWITCHED").then_some(status)
    })
    .await
    .expect("the token of the previous profile is refused");
    assert_eq!(refused.code(), Code::Unauthenticated);
});

backend_test!(r4_8_a_deactivated_profile_or_disabled_login_is_refused_within_a_second, |suite| {
    let (customer, login_name) = customer_with_login(suite, &[roles::CUSTOMER]).await;
    let token = bearer(&log_in(suite, &login_name, PASSWORD).await.unwrap());
    let admin = suite.admin_token();
    suite
        .identity(Some(&admin))
        .update_profile(csm_tests::masked!(
            pb::UpdateProfileRequest {
                profile: Some(pb::Profile {
                    profile_id: customer.profile_id.clone(),
                    active: false,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ["active"]
        ))
        .await
        .expect("deactivate");
    // Deactivation also ends the profile's sessions: either reason tells the client to log in again.
    let status = eventually(Duration::from_secs(1), || async {
        let status = suite
            .case_access(Some(&token))
            .list_visible_cases(ca_pb::ListVisibleCasesRequest::default())
            .await
            .err()?;
        matches!(reason_of(&status).as_str(), "PROFILE_INACTIVE" | "SESSION_ENDED").then_some(status)
    })
    .await
    .expect("refused within a second");
    assert_eq!(status.code(), Code::Unauthenticated);

    // A disabled login: its sessionless development tokens are refused too.
    let (other, _) = customer_with_login(suite, &[roles::CUSTOMER]).await;
    let other_token =
        suite.token_for(LoginId::parse(&other.login_id).unwrap(), Some(ProfileId::parse(&other.profile_id).unwrap()));
    suite
        .case_access(Some(&other_token))
        .list_visible_cases(ca_pb::ListVisibleCasesRequest::default())
        .await
        .expect("works before");
    suite
        .identity(Some(&admin))
        .update_login(csm_tests::masked!(
            pb::UpdateLoginRequest {
                login: Some(pb::Login { login_id: other.login_id.clone(), enabled: false, ..Default::default() }),
                ..Default::default()
            },
            ["enabled"]
        ))
        .await
        .expect("disable");
    refused_everywhere_within_a_second(suite, &other_token, &other.profile_id, "LOGIN_DISABLED").await;
});

backend_test!(r1_7_guessing_a_password_is_limited_per_login_and_audited, |suite| {
    let (_, login_name) = customer_with_login(suite, &[]).await;
    for _ in 0..5 {
        let status = log_in(suite, &login_name, "wrong password!").await.unwrap_err();
        assert_eq!(reason_of(&status), "INVALID_CREDENTIALS");
    }
    // The sixth attempt is refused before the password is looked at — even the right one.
    let status = log_in(suite, &login_name, PASSWORD).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::ResourceExhausted, "LOGIN_ATTEMPTS_EXCEEDED".to_owned()));
    use tonic_types::StatusExt as _;
    let retry = status.get_error_details().retry_info().cloned().expect("RetryInfo");
    assert!(retry.retry_delay.is_some_and(|delay| delay > Duration::ZERO && delay <= Duration::from_secs(900)));
    // Another login is not locked by this one's failures.
    let (_, other) = customer_with_login(suite, &[]).await;
    log_in(suite, &other, PASSWORD).await.expect("another login logs in");
    // Both the failures and the refusal are in identity's audit trail.
    let admin = suite.admin_token();
    let listed = eventually(Duration::from_secs(5), || async {
        let events = suite
            .audit(ServiceName::Identity, Some(&admin))
            .list_audit_events(audit_pb::ListAuditEventsRequest {
                kind: audit_pb::AuditEventKind::DeniedCall as i32,
                page_size: 1000,
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner()
            .events;
        let failures = events.iter().filter(|event| event.rule == "INVALID_CREDENTIALS").count();
        let refusals = events.iter().filter(|event| event.rule == "LOGIN_ATTEMPTS_EXCEEDED").count();
        (failures >= 5 && refusals >= 1).then_some((failures, refusals))
    })
    .await;
    assert!(listed.is_some(), "the failed logins and the refusal are audited");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r7_7_idle_sessions_end_and_every_service_refuses_their_tokens() {
    for backend in csm_tests::Backend::all("r7_7_idle_sessions_end_and_every_service_refuses_their_tokens") {
        let options = SuiteOptions {
            sessions: Some(csm_server::SessionSettings { idle_timeout: Duration::from_secs(2), ..Default::default() }),
            ..Default::default()
        };
        let suite = Suite::start_with(backend, options).await;
        let (profile, login_name) = customer_with_login(&suite, &[roles::CUSTOMER]).await;
        let started = log_in(&suite, &login_name, PASSWORD).await.unwrap();
        let token = bearer(&started);
        suite
            .case_access(Some(&token))
            .list_visible_cases(ca_pb::ListVisibleCasesRequest::default())
            .await
            .expect("works while active");
        let session_id = started.session.unwrap().session_id;
        let ended = eventually(Duration::from_secs(10), || async {
            let session = suite
                .identity(Some(&suite.admin_token()))
                .get_session(pb::GetSessionRequest { session_id: session_id.clone() })
                .await
                .ok()?
                .into_inner()
                .session?;
            (session.state == pb::SessionState::Ended as i32).then_some(session)
        })
        .await
        .expect("the idle session ends");
        assert_eq!(ended.end_reason, "IDLE_TIMEOUT");
        refused_everywhere_within_a_second(&suite, &token, &profile.profile_id, "SESSION_ENDED").await;
        suite.stop().await;
    }
}

backend_test!(token_hygiene_expiry_lifetime_missing_exp_and_oversized_credentials, |suite| {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = |exp: Option<u64>, iat: u64| {
        let mut claims = serde_json::json!({
            "sub": suite.admin_login.to_string(),
            "iss": "csm",
            "iat": iat,
            "csm_kind": "user",
            "profile": suite.admin_profile.to_string(),
        });
        if let Some(exp) = exp {
            claims["exp"] = exp.into();
        }
        suite.keys.identity.sign_json(&claims)
    };
    let call = |token: String| async move {
        suite.identity(Some(&token)).list_accounts(pb::ListAccountsRequest::default()).await
    };
    // Expired 30 s ago: refused (the leeway is 5 s) …
    let status = call(claims(Some(now - 30), now - 120)).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "TOKEN_EXPIRED".to_owned()));
    // … 2 s ago: within the leeway.
    call(claims(Some(now - 2), now - 120)).await.expect("within the leeway");
    // No maximum lifetime any more: exp in 2286.
    let status = call(claims(Some(9_999_999_999), now)).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "TOKEN_LIFETIME_TOO_LONG".to_owned()));
    // No exp: the message says so.
    let status = call(claims(None, now)).await.unwrap_err();
    assert_eq!(reason_of(&status), "TOKEN_EXPIRY_MISSING");
    assert!(status.message().contains("exp"), "{status:?}");

    // A 64 KiB credential is refused on its own stream; the connection lives on.
    let channel = suite.plain_channel(ServiceName::Identity);
    let mut client = pb::identity_service_client::IdentityServiceClient::new(channel.clone());
    let mut request = tonic::Request::new(pb::ListAccountsRequest::default());
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));
    request.metadata_mut().insert("authorization", huge.parse().unwrap());
    let status = client.list_accounts(request).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "CREDENTIAL_TOO_LARGE".to_owned()));
    let mut request = tonic::Request::new(pb::ListAccountsRequest::default());
    request.metadata_mut().insert("authorization", format!("Bearer {}", suite.admin_token()).parse().unwrap());
    client.list_accounts(request).await.expect("the same connection still serves");
});

backend_test!(consumers_personal_data_is_for_the_consumer_its_household_and_consumer_agents, |suite| {
    let (_, connie, connie_token) = world::consumer_user(suite, "Connie", &[roles::CONSUMER]).await;
    let (_, carl, carl_token) = world::consumer_user(suite, "Carl", &[roles::CONSUMER]).await;
    let account = world::account(suite, "B2B Co", None).await;
    let (_, customer) = world::contact(suite, &account, "Cus", &[roles::CUSTOMER]).await;
    let (_, customer_admin) = world::contact(suite, &account, "Cad", &[roles::CUSTOMER_ADMIN]).await;

    // B2B contacts: refused before any consumer is read.
    for token in [&customer, &customer_admin] {
        let status = suite.identity(Some(token)).list_consumers(pb::ListConsumersRequest::default()).await.unwrap_err();
        assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "CALLER_KIND_NOT_ALLOWED".to_owned()));
        let status = suite
            .identity(Some(token))
            .get_consumer(pb::GetConsumerRequest { consumer_id: connie.clone() })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    // A consumer lists itself only, and cannot read another consumer.
    let listed = suite
        .identity(Some(&connie_token))
        .list_consumers(pb::ListConsumersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .consumers;
    assert_eq!(listed.iter().map(|consumer| consumer.consumer_id.clone()).collect::<Vec<_>>(), vec![connie.clone()]);
    let status = suite
        .identity(Some(&connie_token))
        .get_consumer(pb::GetConsumerRequest { consumer_id: carl.clone() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "CONSUMER_NOT_VISIBLE".to_owned()));
    // The head of a household reads its members.
    let admin = suite.admin_token();
    let household = suite
        .identity(Some(&admin))
        .create_household(pb::CreateHouseholdRequest {
            name: "Connie's".to_owned(),
            head_consumer_id: connie.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .household
        .unwrap();
    suite
        .identity(Some(&admin))
        .set_household_membership(pb::SetHouseholdMembershipRequest {
            household_id: household.household_id.clone(),
            consumer_id: carl.clone(),
            status: pb::HouseholdMemberStatus::Current as i32,
        })
        .await
        .unwrap();
    suite
        .identity(Some(&connie_token))
        .get_consumer(pb::GetConsumerRequest { consumer_id: carl.clone() })
        .await
        .expect("the head reads a member");
    let status = suite
        .identity(Some(&carl_token))
        .get_consumer(pb::GetConsumerRequest { consumer_id: connie.clone() })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "CONSUMER_NOT_VISIBLE", "a member does not read its head");
    // A consumer agent reads every consumer.
    let (_, agent) = world::employee(suite, "Cagent", &[roles::CONSUMER_AGENT]).await;
    let all = suite.identity(Some(&agent)).list_consumers(pb::ListConsumersRequest::default()).await.unwrap();
    assert!(all.into_inner().consumers.len() >= 2);
});

backend_test!(change_feeds_and_groups_are_not_for_customers, |suite| {
    let account = world::account(suite, "Feed Co", None).await;
    let (_, customer) = world::contact(suite, &account, "Cus", &[roles::CUSTOMER_ADMIN]).await;
    let refused = |status: tonic::Status| {
        assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "CALLER_KIND_NOT_ALLOWED".to_owned()));
    };
    refused(
        suite
            .identity(Some(&customer))
            .watch(pb::WatchRequest { from_revision: 0, entity_types: Vec::new() })
            .await
            .unwrap_err(),
    );
    refused(suite.role(Some(&customer)).watch(role_pb::WatchRequest { from_revision: 0 }).await.unwrap_err());
    refused(suite.account_team(Some(&customer)).watch(at_pb::WatchRequest { from_revision: 0 }).await.unwrap_err());
    refused(suite.role(Some(&customer)).list_groups(role_pb::ListGroupsRequest::default()).await.unwrap_err());
    // Services and administrators still follow the feeds.
    let mut feed = suite
        .identity(Some(&suite.service_token(ServiceName::CaseAccess)))
        .watch(pb::WatchRequest { from_revision: 0, entity_types: Vec::new() })
        .await
        .expect("a service watches")
        .into_inner();
    assert!(feed.next().await.is_some());
    suite
        .role(Some(&suite.admin_token()))
        .watch(role_pb::WatchRequest { from_revision: 0 })
        .await
        .expect("an admin watches");
});

backend_test!(identity_publishes_the_keys_it_signs_with_and_no_other_service_can_sign_for_a_person, |suite| {
    let keys = suite
        .identity(None)
        .get_signing_keys(pb::GetSigningKeysRequest {})
        .await
        .expect("anonymous callers read the public keys")
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, suite.keys.identity.kid());
    assert_eq!((keys[0].kty.as_str(), keys[0].crv.as_str(), keys[0].alg.as_str()), ("OKP", "Ed25519", "EdDSA"));
    // case-access's key signing a person's token (or another service's) is refused.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let case_access_key = &suite.keys.services[&ServiceName::CaseAccess];
    for claims in [
        serde_json::json!({"sub": suite.admin_login.to_string(), "iss": "csm", "iat": now, "exp": now + 60, "csm_kind": "user", "profile": suite.admin_profile.to_string()}),
        serde_json::json!({"sub": "service:role", "iss": "csm", "iat": now, "exp": now + 60, "csm_kind": "service"}),
    ] {
        let token = case_access_key.sign_json(&claims);
        let status = suite.identity(Some(&token)).list_accounts(pb::ListAccountsRequest::default()).await.unwrap_err();
        assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "INVALID_TOKEN".to_owned()));
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_9_oidc_tokens_name_a_login_by_the_configured_claim_and_are_held_to_the_same_checks() {
    for backend in csm_tests::Backend::all("r1_9_oidc_tokens_name_a_login_by_the_configured_claim") {
        let provider_key = csm_auth::KeyPair::generate("idp");
        let issuer = "https://idp.example.test";
        let options = SuiteOptions {
            oidc: Some(csm_auth::OidcProvider {
                issuer: issuer.to_owned(),
                audience: "csm-suite".to_owned(),
                keys: csm_auth::Jwks::of([&provider_key]),
                login_claim: "preferred_username".to_owned(),
            }),
            ..Default::default()
        };
        let suite = Suite::start_with(backend, options).await;
        let (profile, login_name) = customer_with_login(&suite, &[roles::CUSTOMER]).await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let oidc = |login: &str, audience: &str, profile: Option<&str>| {
            let mut claims = serde_json::json!({
                "iss": issuer, "aud": audience, "sub": "idp-subject-1", "iat": now, "exp": now + 300,
                "preferred_username": login,
            });
            if let Some(profile) = profile {
                claims["csm_profile"] = profile.into();
            }
            provider_key.sign_json(&claims)
        };
        let list = |token: String, header: Option<String>| {
            let suite = &suite;
            async move {
                let mut request = tonic::Request::new(ca_pb::ListVisibleCasesRequest::default());
                if let Some(profile) = header {
                    request.metadata_mut().insert("x-csm-profile-id", profile.parse().unwrap());
                }
                request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
                ca_pb::case_access_service_client::CaseAccessServiceClient::new(
                    suite.channel(ServiceName::CaseAccess, None),
                )
                .list_visible_cases(request)
                .await
            }
        };
        // The login by its name; the profile by the csm_profile claim or the x-csm-profile-id header.
        list(oidc(&login_name, "csm-suite", Some(&profile.profile_id)), None)
            .await
            .expect("the OIDC token acts as the login's profile");
        list(oidc(&login_name, "csm-suite", None), Some(profile.profile_id.clone()))
            .await
            .expect("the profile named by the header");
        // Held to the same checks: another login's profile, an unknown login, another audience.
        let status =
            list(oidc(&login_name, "csm-suite", Some(&suite.admin_profile.to_string())), None).await.unwrap_err();
        assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "PROFILE_NOT_OF_LOGIN".to_owned()));
        let status = list(oidc("nobody-here", "csm-suite", None), None).await.unwrap_err();
        assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "LOGIN_NOT_FOUND".to_owned()));
        let status = list(oidc(&login_name, "another-app", Some(&profile.profile_id)), None).await.unwrap_err();
        assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "INVALID_TOKEN".to_owned()));
        suite.stop().await;
    }
}
