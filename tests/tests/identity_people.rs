//! identity's people area over real gRPC: logins and passwords, sessions with
//! their active profile, employees, contacts and profiles (SPEC R1.1, R1.2,
//! R1.4, R1.7, R1.9, R1.10, R2.13a, R2.14, R4.8, R6.3–R6.4).
//! Each test runs on SQLite and on PostgreSQL (see `backend_test!`).

use csm_types::roles;
use std::collections::BTreeSet;
use std::time::Duration;

use csm_proto::identity as pb;
use csm_proto::role as role_pb;
use csm_tests::{Backend, Suite, SuiteOptions, backend_test, reason_of, violated_fields};
use csm_types::{LoginId, ProfileId, ServiceName, SessionId};
use tokio_stream::StreamExt as _;
use tonic::Code;

const PASSWORD: &str = "correct horse battery";

// ------------------------------------------------------------------ helpers

async fn account(suite: &Suite, name: &str, kind: pb::AccountKind, parent: Option<&str>) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_account(pb::CreateAccountRequest {
            request_id: String::new(),
            name: name.to_owned(),
            kind: kind as i32,
            parent_account_id: parent.unwrap_or_default().to_owned(),
        })
        .await
        .expect("the administrator creates an account")
        .into_inner()
        .account
        .unwrap()
        .account_id
}

fn details(first: &str, last: &str) -> Option<pb::PersonDetails> {
    Some(pb::PersonDetails {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: format!("{}@example.com", first.to_lowercase()),
        ..Default::default()
    })
}

fn new_login(name: &str) -> pb::NewLogin {
    pb::NewLogin { login_name: name.to_owned(), password: PASSWORD.to_owned() }
}

fn employee_request(first: &str, channels: &[pb::Channel]) -> pb::CreateEmployeeRequest {
    pb::CreateEmployeeRequest {
        details: details(first, "Employee"),
        title: "Agent".to_owned(),
        channels: channels.iter().map(|channel| *channel as i32).collect(),
        ..Default::default()
    }
}

fn contact_request(account_id: &str, first: &str, channels: &[pb::Channel]) -> pb::CreateContactRequest {
    pb::CreateContactRequest {
        account_id: account_id.to_owned(),
        details: details(first, "Contact"),
        channels: channels.iter().map(|channel| *channel as i32).collect(),
        ..Default::default()
    }
}

async fn create_employee(suite: &Suite, request: pb::CreateEmployeeRequest) -> pb::Profile {
    let token = suite.admin_token();
    suite.identity(Some(&token)).create_employee(request).await.expect("create employee").into_inner().profile.unwrap()
}

async fn create_contact(suite: &Suite, request: pb::CreateContactRequest) -> pb::Profile {
    let token = suite.admin_token();
    suite.identity(Some(&token)).create_contact(request).await.expect("create contact").into_inner().profile.unwrap()
}

fn login_of(profile: &pb::Profile) -> LoginId {
    LoginId::parse(&profile.login_id).expect("the profile has a login")
}

fn profile_id(profile: &pb::Profile) -> ProfileId {
    ProfileId::parse(&profile.profile_id).unwrap()
}

/// A token of a session (what StartSession / SwitchProfile return; minted
/// here with the suite's copy of identity's key).
fn session_token(suite: &Suite, session: &pb::Session) -> String {
    suite.keys.mint_person(
        LoginId::parse(&session.login_id).unwrap(),
        Some(SessionId::parse(&session.session_id).unwrap()),
        ProfileId::parse(&session.active_profile_id).unwrap(),
        Duration::from_secs(600),
    )
}

async fn start_session(
    suite: &Suite,
    login: LoginId,
    login_name: &str,
    password: &str,
    channel: pb::Channel,
    profile: Option<&str>,
) -> Result<pb::StartSessionResponse, tonic::Status> {
    // A password login needs no bearer token.
    let _ = login;
    suite
        .identity(None)
        .start_session(pb::StartSessionRequest {
            request_id: String::new(),
            login_name: login_name.to_owned(),
            proof: Some(pb::start_session_request::Proof::Password(password.to_owned())),
            channel: channel as i32,
            profile_id: profile.unwrap_or_default().to_owned(),
            presentation_role: String::new(),
        })
        .await
        .map(|response| response.into_inner())
}

/// Makes a new group of `kind` the default group of its kind (R1.8), so the
/// test does not depend on the seeded groups.
async fn default_group(suite: &Suite, name: &str, kind: pb::SecurityGroupKind) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_security_group(pb::CreateSecurityGroupRequest {
            name: name.to_owned(),
            kind: kind as i32,
            presentation_roles: vec![name.to_owned()],
            default_group: true,
            ..Default::default()
        })
        .await
        .expect("create a default security group")
        .into_inner()
        .security_group
        .unwrap()
        .security_group_id
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|path| path.to_string()).collect() })
}

async fn update_profile(
    suite: &Suite,
    token: &str,
    profile: pb::Profile,
    paths: &[&str],
) -> Result<pb::Profile, tonic::Status> {
    suite
        .identity(Some(token))
        .update_profile(pb::UpdateProfileRequest { profile: Some(profile), update_mask: mask(paths) })
        .await
        .map(|response| response.into_inner().profile.unwrap())
}

// ------------------------------------------------------------- SPEC rules

backend_test!(r1_1_employees_are_internal_and_contacts_external_after_first_login, |suite| {
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let mut agent_request = employee_request("Ada", &[pb::Channel::Browser]);
    agent_request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("ada")));
    let agent = create_employee(suite, agent_request).await;
    suite.assign_role(profile_id(&agent), roles::AGENT).await.expect("agent role");
    let mut contact_request = contact_request(&customer, "Carl", &[pb::Channel::CustomerPortal]);
    contact_request.login = Some(pb::create_contact_request::Login::NewLogin(new_login("carl")));
    let contact = create_contact(suite, contact_request).await;
    suite.assign_role(profile_id(&contact), roles::CUSTOMER).await.expect("customer role");

    // First login of the agent persists snc_internal (R2.13a).
    let started = start_session(suite, login_of(&agent), "ada", PASSWORD, pb::Channel::Browser, None).await.unwrap();
    assert_eq!(started.assigned_explicit_role, roles::SNC_INTERNAL);

    let agent_roles = csm_tests::world::effective_roles(suite, &agent.profile_id).await;
    assert_eq!(agent_roles.principal_class, role_pb::PrincipalClass::Internal as i32, "{agent_roles:?}");
    let contact_roles = csm_tests::world::effective_roles(suite, &contact.profile_id).await;
    assert_eq!(contact_roles.principal_class, role_pb::PrincipalClass::External as i32, "{contact_roles:?}");
    assert_eq!(agent.kind, pb::ProfileKind::Internal as i32);
    assert_eq!(agent.user_class, pb::UserClass::SysUser as i32);
});

backend_test!(r1_2_contacts_of_customer_and_partner_accounts_are_b2b_and_partner_contacts, |suite| {
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let partner = account(suite, "Resellers Inc", pb::AccountKind::Partner, None).await;
    let b2b = create_contact(suite, contact_request(&customer, "Bea", &[])).await;
    let partner_contact = create_contact(suite, contact_request(&partner, "Pat", &[])).await;

    assert_eq!(b2b.kind, pb::ProfileKind::Contact as i32);
    assert!(!b2b.partner);
    assert_eq!(b2b.user_class, pb::UserClass::CustomerContact as i32);
    assert_eq!(b2b.security_group_kind, pb::SecurityGroupKind::Customer as i32);
    assert_eq!(partner_contact.kind, pb::ProfileKind::PartnerContact as i32);
    assert!(partner_contact.partner);
    assert_eq!(partner_contact.account_id, partner);
    assert_eq!(b2b.display_name, "Bea Contact", "display name defaults to first and last name");
});

backend_test!(r1_4_a_contact_has_exactly_one_primary_account_of_its_kind, |suite| {
    let token = suite.admin_token();
    let first = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let second = account(suite, "Initech", pb::AccountKind::Customer, None).await;
    let partner = account(suite, "Resellers Inc", pb::AccountKind::Partner, None).await;
    let contact = create_contact(suite, contact_request(&first, "Bea", &[])).await;
    assert_eq!(contact.account_id, first);

    // A contact without an account cannot exist.
    let status = suite.identity(Some(&token)).create_contact(contact_request("", "Nobody", &[])).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["account_id"]);
    let unknown = uuid::Uuid::now_v7().to_string();
    let status =
        suite.identity(Some(&token)).create_contact(contact_request(&unknown, "Nobody", &[])).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "ACCOUNT_NOT_FOUND".to_owned()));

    // The primary account moves, to one account of the same kind.
    let moved =
        update_profile(suite, &token, pb::Profile { account_id: second.clone(), ..contact.clone() }, &["account_id"])
            .await
            .unwrap();
    assert_eq!(moved.account_id, second);
    let status = update_profile(suite, &token, pb::Profile { account_id: partner, ..contact.clone() }, &["account_id"])
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "ACCOUNT_KIND_MISMATCH".to_owned()));

    // Employees have no primary account.
    let employee = create_employee(suite, employee_request("Eve", &[])).await;
    assert!(employee.account_id.is_empty());
    let status = update_profile(suite, &token, pb::Profile { account_id: first, ..employee }, &["account_id"])
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "FIELD_NOT_UPDATABLE".to_owned()));
});

backend_test!(r1_7_person_with_only_a_user_profile_cannot_log_into_the_portal, |suite| {
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let mut request = employee_request("Paul", &[pb::Channel::Browser, pb::Channel::Desktop]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("paul")));
    let user = create_employee(suite, request).await;
    let login = login_of(&user);

    // Only a User profile: the portal refuses the person.
    let status = start_session(suite, login, "paul", PASSWORD, pb::Channel::CustomerPortal, None).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "NO_CHANNEL_CREDENTIAL".to_owned()));
    // A User profile cannot even hold portal credentials: a second record is needed.
    let token = suite.admin_token();
    let status = update_profile(
        suite,
        &token,
        pb::Profile { channels: vec![pb::Channel::CustomerPortal as i32], ..user.clone() },
        &["channels"],
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status.code(), reason_of(&status)),
        (Code::FailedPrecondition, "CHANNEL_NOT_ALLOWED_FOR_PROFILE".to_owned())
    );

    // After a Customer profile with portal credentials is created for the same person, login succeeds.
    let mut customer_request = contact_request(&customer, "Paul", &[pb::Channel::CustomerPortal]);
    customer_request.login = Some(pb::create_contact_request::Login::LoginId(login.to_string()));
    let customer_profile = create_contact(suite, customer_request).await;
    let started = start_session(suite, login, "paul", PASSWORD, pb::Channel::CustomerPortal, None).await.unwrap();
    let session = started.session.unwrap();
    assert_eq!(session.active_profile_id, customer_profile.profile_id);
    assert_eq!(session.active_profile_kind, pb::ProfileKind::Contact as i32);
    // The person has two records, one per kind.
    let token = suite.admin_token();
    let login_record =
        suite.identity(Some(&token)).get_login(pb::GetLoginRequest { login_id: login.to_string() }).await.unwrap();
    let profiles: BTreeSet<String> = login_record.into_inner().login.unwrap().profile_ids.into_iter().collect();
    assert_eq!(profiles, BTreeSet::from([user.profile_id.clone(), customer_profile.profile_id.clone()]));
    // The desktop still opens the User profile.
    let desktop = start_session(suite, login, "paul", PASSWORD, pb::Channel::Desktop, None).await.unwrap();
    assert_eq!(desktop.session.unwrap().active_profile_id, user.profile_id);
});

backend_test!(r1_9_one_login_switches_profiles_without_reauthentication_and_everything_follows, |suite| {
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let mut request = employee_request("Ivy", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("ivy")));
    let internal = create_employee(suite, request).await;
    let login = login_of(&internal);
    suite.assign_role(profile_id(&internal), roles::AGENT).await.expect("agent role");
    let mut request = contact_request(&customer, "Ivy", &[pb::Channel::CustomerPortal]);
    request.login = Some(pb::create_contact_request::Login::LoginId(login.to_string()));
    let external = create_contact(suite, request).await;

    let started = start_session(suite, login, "ivy", PASSWORD, pb::Channel::Browser, None).await.unwrap();
    let session = started.session.unwrap();
    assert_eq!(session.active_profile_id, internal.profile_id);
    assert_eq!(session.state, pb::SessionState::Active as i32);
    let token = session_token(suite, &session);

    // Switch with the session token only: no password.
    let switched = suite
        .identity(Some(&token))
        .switch_profile(pb::SwitchProfileRequest {
            session_id: session.session_id.clone(),
            profile_id: external.profile_id.clone(),
            channel: pb::Channel::CustomerPortal as i32,
            presentation_role: String::new(),
        })
        .await
        .expect("switch to the contact profile")
        .into_inner()
        .session
        .unwrap();
    assert_eq!(switched.session_id, session.session_id);
    assert_eq!(switched.active_profile_id, external.profile_id);
    assert_eq!(switched.active_profile_kind, pb::ProfileKind::Contact as i32);
    assert_eq!(switched.channel, pb::Channel::CustomerPortal as i32);
    assert!(switched.profile_switched_at.is_some());

    // Everything follows the active profile: the session resolves to it, and
    // its roles are the contact's, not the agent's.
    let token = session_token(suite, &switched);
    let resolved = suite
        .identity(Some(&token))
        .resolve_principal(pb::ResolvePrincipalRequest {
            principal: Some(pb::resolve_principal_request::Principal::SessionId(session.session_id.clone())),
        })
        .await
        .unwrap()
        .into_inner()
        .principal
        .unwrap();
    assert_eq!(resolved.profile.unwrap().profile_id, external.profile_id);
    assert_eq!(resolved.account.unwrap().account_id, customer);
    assert_eq!(resolved.session.unwrap().active_profile_id, external.profile_id);
    let roles = csm_tests::world::effective_roles(suite, &switched.active_profile_id).await.roles;
    assert!(!roles.contains(&roles::AGENT.to_owned()), "{roles:?}");
    assert!(roles.contains(&roles::SNC_EXTERNAL.to_owned()), "{roles:?}");

    // Only profiles of the same login, and only on channels they hold.
    let stranger = create_employee(suite, employee_request("Sam", &[pb::Channel::Browser])).await;
    let status = suite
        .identity(Some(&token))
        .switch_profile(pb::SwitchProfileRequest {
            session_id: session.session_id.clone(),
            profile_id: stranger.profile_id.clone(),
            channel: 0,
            presentation_role: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "PROFILE_NOT_OF_LOGIN".to_owned()));
    let status = suite
        .identity(Some(&token))
        .switch_profile(pb::SwitchProfileRequest {
            session_id: session.session_id.clone(),
            profile_id: internal.profile_id.clone(),
            channel: 0, // stays on the customer portal, which the User profile does not hold
            presentation_role: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "NO_CHANNEL_CREDENTIAL".to_owned()));
    // Another person cannot switch this session.
    let (_, other_token) = csm_tests::world::nobody(suite).await;
    let status = suite
        .identity(Some(&other_token))
        .switch_profile(pb::SwitchProfileRequest {
            session_id: session.session_id.clone(),
            profile_id: internal.profile_id.clone(),
            channel: pb::Channel::Browser as i32,
            presentation_role: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Logout; ending again answers the same ended session; no more switching.
    let ended = suite
        .identity(Some(&token))
        .end_session(pb::EndSessionRequest { session_id: session.session_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(ended.state, pb::SessionState::Ended as i32);
    assert_eq!(ended.end_reason, "LOGOUT");
    let admin = suite.admin_token();
    let again = suite
        .identity(Some(&admin))
        .end_session(pb::EndSessionRequest { session_id: session.session_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(again, ended);
    // An ended session cannot be switched ...
    let status = suite
        .identity(Some(&admin))
        .switch_profile(pb::SwitchProfileRequest {
            session_id: session.session_id.clone(),
            profile_id: internal.profile_id.clone(),
            channel: pb::Channel::Browser as i32,
            presentation_role: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "SESSION_ENDED".to_owned()));
    // ... and its token no longer calls anything (the caller directory hears of the end on identity's feed).
    let refused = csm_tests::eventually(std::time::Duration::from_secs(1), || async {
        let status = suite
            .identity(Some(&token))
            .get_session(pb::GetSessionRequest { session_id: session.session_id.clone() })
            .await
            .err()?;
        (reason_of(&status) == "SESSION_ENDED").then_some(status)
    })
    .await
    .expect("the ended session's token is refused within a second");
    assert_eq!(refused.code(), Code::Unauthenticated);
});

backend_test!(r1_10_one_login_holds_the_supported_unified_scenarios, |suite| {
    let token = suite.admin_token();
    let customer = account(suite, "Vendor Support Co", pb::AccountKind::Customer, None).await;
    let partner = account(suite, "Resellers Inc", pb::AccountKind::Partner, None).await;
    let mut request = employee_request("Uma", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("uma")));
    let employee = create_employee(suite, request).await;
    let login = login_of(&employee);

    // (a) employee who is also a B2C consumer: a CONSUMER profile on the same login.
    let consumer = suite
        .identity(Some(&token))
        .create_consumer(pb::CreateConsumerRequest {
            details: details("Uma", "Consumer"),
            user: Some(pb::create_consumer_request::User::NewConsumerUser(pb::NewConsumerUser {
                channels: vec![pb::Channel::ConsumerPortal as i32],
                security_group_id: String::new(),
                login: Some(pb::new_consumer_user::Login::LoginId(login.to_string())),
            })),
            ..Default::default()
        })
        .await
        .expect("create a consumer on the employee's login")
        .into_inner()
        .user_profile
        .unwrap();
    // (b) several external profiles, (c) across applications (CSM vendor support, VRM).
    let mut request = contact_request(&customer, "Uma", &[pb::Channel::CustomerPortal]);
    request.login = Some(pb::create_contact_request::Login::LoginId(login.to_string()));
    let csm_contact = create_contact(suite, request).await;
    let mut request = contact_request(&partner, "Uma", &[pb::Channel::CustomerPortal]);
    request.application = "vrm".to_owned();
    request.login = Some(pb::create_contact_request::Login::LoginId(login.to_string()));
    let vrm_contact = create_contact(suite, request).await;

    let listed = suite
        .identity(Some(&token))
        .list_profiles(pb::ListProfilesRequest { login_id: login.to_string(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .profiles;
    let kinds: Vec<(String, i32, String)> =
        listed.iter().map(|profile| (profile.profile_id.clone(), profile.kind, profile.application.clone())).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(kinds.contains(&(employee.profile_id.clone(), pb::ProfileKind::Internal as i32, "csm".into())));
    assert!(kinds.contains(&(consumer.profile_id.clone(), pb::ProfileKind::Consumer as i32, "csm".into())));
    assert!(kinds.contains(&(csm_contact.profile_id.clone(), pb::ProfileKind::Contact as i32, "csm".into())));
    assert!(kinds.contains(&(vrm_contact.profile_id.clone(), pb::ProfileKind::PartnerContact as i32, "vrm".into())));

    // One login reaches each of them, without a second set of credentials.
    let consumer_session =
        start_session(suite, login, "uma", PASSWORD, pb::Channel::ConsumerPortal, None).await.unwrap().session.unwrap();
    assert_eq!(consumer_session.active_profile_id, consumer.profile_id);
    let vrm_session =
        start_session(suite, login, "uma", PASSWORD, pb::Channel::CustomerPortal, Some(&vrm_contact.profile_id))
            .await
            .unwrap()
            .session
            .unwrap();
    assert_eq!(vrm_session.active_profile_id, vrm_contact.profile_id);
    let token = session_token(suite, &vrm_session);
    let switched = suite
        .identity(Some(&token))
        .switch_profile(pb::SwitchProfileRequest {
            session_id: vrm_session.session_id.clone(),
            profile_id: csm_contact.profile_id.clone(),
            channel: 0,
            presentation_role: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(switched.active_profile_id, csm_contact.profile_id);
});

backend_test!(r2_13a_first_login_persists_snc_internal_or_snc_external_for_a_deny_listed_class, |suite| {
    let token = suite.admin_token();
    let settings = suite.identity(Some(&token)).get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
    let settings = settings.settings.unwrap();
    assert!(settings.enforce_internal_user_deny_list, "the deny list is on by default");
    assert_eq!(
        settings.internal_user_deny_list,
        vec![pb::UserClass::CustomerContact as i32, pb::UserClass::ConsumerUser as i32]
    );

    // New internal-class user N with no roles: snc_internal at first login, once.
    let mut request = employee_request("Nia", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("nia")));
    let internal = create_employee(suite, request).await;
    assert_eq!(
        csm_tests::world::effective_roles(suite, &internal.profile_id).await.principal_class,
        role_pb::PrincipalClass::None as i32
    );
    let first = start_session(suite, login_of(&internal), "nia", PASSWORD, pb::Channel::Browser, None).await.unwrap();
    assert_eq!(first.assigned_explicit_role, roles::SNC_INTERNAL);
    assert!(
        csm_tests::world::effective_roles(suite, &internal.profile_id)
            .await
            .roles
            .contains(&roles::SNC_INTERNAL.to_owned())
    );
    let second = start_session(suite, login_of(&internal), "nia", PASSWORD, pb::Channel::Browser, None).await.unwrap();
    assert_eq!(second.assigned_explicit_role, "", "only the first login assigns");

    // With the user's class on the enforced deny list, snc_external is persisted.
    suite
        .identity(Some(&token))
        .update_settings(pb::UpdateSettingsRequest {
            settings: Some(pb::Settings {
                internal_user_deny_list: vec![pb::UserClass::SysUser as i32],
                ..Default::default()
            }),
            update_mask: mask(&["internal_user_deny_list"]),
        })
        .await
        .expect("deny-list sys_user");
    let mut request = employee_request("Max", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("max")));
    let listed = create_employee(suite, request).await;
    let started = start_session(suite, login_of(&listed), "max", PASSWORD, pb::Channel::Browser, None).await.unwrap();
    assert_eq!(started.assigned_explicit_role, roles::SNC_EXTERNAL);
    assert_eq!(
        csm_tests::world::effective_roles(suite, &listed.profile_id).await.principal_class,
        role_pb::PrincipalClass::External as i32
    );

    // Switched off, the deny list is ignored.
    suite
        .identity(Some(&token))
        .update_settings(pb::UpdateSettingsRequest {
            settings: Some(pb::Settings { enforce_internal_user_deny_list: false, ..Default::default() }),
            update_mask: mask(&["enforce_internal_user_deny_list"]),
        })
        .await
        .expect("switch the deny list off");
    let mut request = employee_request("Ola", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("ola")));
    let unlisted = create_employee(suite, request).await;
    let started = start_session(suite, login_of(&unlisted), "ola", PASSWORD, pb::Channel::Browser, None).await.unwrap();
    assert_eq!(started.assigned_explicit_role, roles::SNC_INTERNAL);
});

backend_test!(r2_14_create_contact_always_assigns_snc_external, |suite| {
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let partner = account(suite, "Resellers Inc", pb::AccountKind::Partner, None).await;
    for account_id in [&customer, &partner] {
        let mut request = contact_request(account_id, "Kim", &[pb::Channel::CustomerPortal]);
        request.login = Some(pb::create_contact_request::Login::NewLogin(new_login(&format!("kim-{account_id}"))));
        let contact = create_contact(suite, request).await;
        let roles = csm_tests::world::effective_roles(suite, &contact.profile_id).await;
        assert!(roles.roles.contains(&roles::SNC_EXTERNAL.to_owned()), "{roles:?}");
        assert_eq!(roles.principal_class, role_pb::PrincipalClass::External as i32);
        // So first login has nothing left to assign (R2.13 would have made it internal).
        let started = start_session(
            suite,
            login_of(&contact),
            &format!("kim-{account_id}"),
            PASSWORD,
            pb::Channel::CustomerPortal,
            None,
        )
        .await
        .unwrap();
        assert_eq!(started.assigned_explicit_role, "");
    }
});

/// The role service unreachable at first login: UNAVAILABLE, and no session is
/// written (R2.13a with DEPENDENCY_UNAVAILABLE). A second suite shares the
/// first one's identity database but its role service never gets a database.
async fn first_login_without_the_role_service(backend: Backend) {
    let identity_database = backend.fresh_database("identity-shared");
    let mut options = SuiteOptions::default();
    options.database_overrides.insert(ServiceName::Identity, identity_database.url.clone());
    let suite = Suite::start_with(backend.clone(), options.clone()).await;
    let mut request = employee_request("Rae", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("rae")));
    let employee = create_employee(&suite, request).await;
    let login = login_of(&employee);

    options.database_overrides.insert(ServiceName::Role, "postgres://csm@127.0.0.1:1/unreachable".to_owned());
    options.skip_readiness.push(ServiceName::Role);
    let degraded = Suite::start_with(backend, options).await;
    let status = start_session(&degraded, login, "rae", PASSWORD, pb::Channel::Browser, None).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unavailable, "DEPENDENCY_UNAVAILABLE".to_owned()));
    degraded.stop().await;

    // Nothing was written: no session in the feed, and the retry on a
    // healthy suite is the first login.
    let token = suite.service_token(ServiceName::CaseAccess);
    let mut stream = suite
        .identity(Some(&token))
        .watch(pb::WatchRequest { from_revision: 0, entity_types: vec!["session".to_owned()] })
        .await
        .unwrap()
        .into_inner();
    let nothing = tokio::time::timeout(Duration::from_millis(500), stream.next()).await;
    assert!(nothing.is_err(), "no session change was written: {nothing:?}");
    drop(stream); // an open Watch would hold up the graceful shutdown
    let started = start_session(&suite, login, "rae", PASSWORD, pb::Channel::Browser, None).await.unwrap();
    assert_eq!(started.assigned_explicit_role, roles::SNC_INTERNAL);
    suite.stop().await;
    identity_database.remove().await;
}

mod r2_13a_first_login_fails_closed_when_the_role_service_is_unreachable {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        first_login_without_the_role_service(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(backend) = Backend::postgres_from_env(concat!(module_path!(), "::postgres")) else {
            return;
        };
        first_login_without_the_role_service(backend).await;
    }
}

backend_test!(r4_8_customer_admin_manages_contacts_only_in_its_account_hierarchy, |suite| {
    let parent = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let child = account(suite, "Acme East", pb::AccountKind::Customer, Some(&parent)).await;
    let other = account(suite, "Initech", pb::AccountKind::Customer, None).await;
    let mut request = contact_request(&parent, "Ann", &[pb::Channel::CustomerPortal]);
    request.login = Some(pb::create_contact_request::Login::NewLogin(new_login("ann")));
    let admin = create_contact(suite, request).await;
    suite.assign_role(profile_id(&admin), roles::CUSTOMER_ADMIN).await.expect("customer admin role");
    let admin_token = suite.token_for(login_of(&admin), Some(profile_id(&admin)));

    // Own account and descendants: allowed.
    let mut request = contact_request(&child, "Cy", &[pb::Channel::CustomerPortal]);
    request.login = Some(pb::create_contact_request::Login::NewLogin(new_login("cy")));
    let in_scope = suite.identity(Some(&admin_token)).create_contact(request).await.expect("in scope").into_inner();
    let in_scope = in_scope.profile.unwrap();
    assert!(
        csm_tests::world::effective_roles(suite, &in_scope.profile_id)
            .await
            .roles
            .contains(&roles::SNC_EXTERNAL.to_owned())
    );
    let renamed =
        update_profile(suite, &admin_token, pb::Profile { title: "Buyer".into(), ..in_scope.clone() }, &["title"])
            .await
            .unwrap();
    assert_eq!(renamed.title, "Buyer");

    // Outside: denied, and nothing is created.
    let status =
        suite.identity(Some(&admin_token)).create_contact(contact_request(&other, "Oz", &[])).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "OUT_OF_ADMIN_SCOPE".to_owned()));
    let outsider = create_contact(suite, contact_request(&other, "Oz", &[])).await;
    let status = update_profile(suite, &admin_token, pb::Profile { title: "x".into(), ..outsider.clone() }, &["title"])
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "OUT_OF_ADMIN_SCOPE".to_owned()));
    // Moving an in-scope contact out of scope is out of scope too.
    let status = update_profile(
        suite,
        &admin_token,
        pb::Profile { account_id: other.clone(), ..in_scope.clone() },
        &["account_id"],
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&status), "OUT_OF_ADMIN_SCOPE");

    // Disable the login of a contact in scope: its sessions end.
    let session = start_session(suite, login_of(&in_scope), "cy", PASSWORD, pb::Channel::CustomerPortal, None)
        .await
        .unwrap()
        .session
        .unwrap();
    suite
        .identity(Some(&admin_token))
        .update_login(pb::UpdateLoginRequest {
            login: Some(pb::Login { login_id: in_scope.login_id.clone(), enabled: false, ..Default::default() }),
            update_mask: mask(&["enabled"]),
        })
        .await
        .expect("disable a login in scope");
    let token = suite.admin_token();
    let after = suite
        .identity(Some(&token))
        .get_session(pb::GetSessionRequest { session_id: session.session_id })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(after.state, pb::SessionState::Ended as i32);
    let status =
        start_session(suite, login_of(&in_scope), "cy", PASSWORD, pb::Channel::CustomerPortal, None).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "LOGIN_DISABLED".to_owned()));

    // A plain customer may not manage contacts at all.
    let plain = create_contact(suite, contact_request(&parent, "Pia", &[])).await;
    suite.assign_role(profile_id(&plain), roles::CUSTOMER).await.unwrap();
    let plain_token = suite.token_as(profile_id(&plain)).await;
    let status =
        suite.identity(Some(&plain_token)).create_contact(contact_request(&parent, "Q", &[])).await.unwrap_err();
    // The authorization matrix opens CreateContact to customer admins, not to customers.
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "CALLER_KIND_NOT_ALLOWED".to_owned()));
});

backend_test!(r4_8_partner_admin_partner_customers_are_denied_until_account_team_exists, |suite| {
    let partner = account(suite, "Resellers Inc", pb::AccountKind::Partner, None).await;
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let admin = create_contact(suite, contact_request(&partner, "Pam", &[])).await;
    suite.assign_role(profile_id(&admin), roles::PARTNER_ADMIN).await.expect("partner admin role");
    let token = suite.token_as(profile_id(&admin)).await;
    // Its own partner account: allowed.
    let own = suite.identity(Some(&token)).create_contact(contact_request(&partner, "Pete", &[])).await.unwrap();
    assert!(own.into_inner().profile.unwrap().partner);
    // PCUST needs account-team: out of scope for now.
    let status = suite.identity(Some(&token)).create_contact(contact_request(&customer, "Cal", &[])).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "OUT_OF_ADMIN_SCOPE".to_owned()));
});

backend_test!(r6_4_manager_and_department_are_attributes_of_the_person_and_cycles_are_refused, |suite| {
    let token = suite.admin_token();
    let department = suite
        .identity(Some(&token))
        .create_department(pb::CreateDepartmentRequest {
            request_id: String::new(),
            name: "Service Desk".into(),
            description: String::new(),
        })
        .await
        .expect("create a department")
        .into_inner()
        .department
        .unwrap();
    let boss = create_employee(suite, employee_request("Bo", &[])).await;
    let mut request = employee_request("Mid", &[]);
    request.manager_profile_id = boss.profile_id.clone();
    request.department_id = department.department_id.clone();
    let middle = create_employee(suite, request).await;
    assert_eq!(middle.manager_profile_id, boss.profile_id);
    assert_eq!(middle.department_id, department.department_id);
    let mut request = employee_request("Low", &[]);
    request.manager_profile_id = middle.profile_id.clone();
    let low = create_employee(suite, request).await;
    // A customer's manager may be another customer (R6.3).
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let customer_boss = create_contact(suite, contact_request(&customer, "Cb", &[])).await;
    let mut request = contact_request(&customer, "Co", &[]);
    request.manager_profile_id = customer_boss.profile_id.clone();
    assert_eq!(create_contact(suite, request).await.manager_profile_id, customer_boss.profile_id);

    // boss → middle → low: making low the boss's manager closes a cycle.
    let status = update_profile(
        suite,
        &token,
        pb::Profile { manager_profile_id: low.profile_id.clone(), ..boss.clone() },
        &["manager_profile_id"],
    )
    .await
    .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "MANAGER_CYCLE".to_owned()));
    let status = update_profile(
        suite,
        &token,
        pb::Profile { manager_profile_id: boss.profile_id.clone(), ..boss.clone() },
        &["manager_profile_id"],
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&status), "MANAGER_CYCLE");
    let unknown = uuid::Uuid::now_v7().to_string();
    let status = update_profile(
        suite,
        &token,
        pb::Profile { manager_profile_id: unknown, ..boss.clone() },
        &["manager_profile_id"],
    )
    .await
    .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "PROFILE_NOT_FOUND".to_owned()));

    // Moving low under the boss directly is fine; clearing works with "".
    let moved = update_profile(
        suite,
        &token,
        pb::Profile { manager_profile_id: boss.profile_id.clone(), ..low.clone() },
        &["manager_profile_id"],
    )
    .await
    .unwrap();
    assert_eq!(moved.manager_profile_id, boss.profile_id);
    let reports = suite
        .identity(Some(&token))
        .list_profiles(pb::ListProfilesRequest { manager_profile_id: boss.profile_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .profiles;
    let reports: BTreeSet<String> = reports.into_iter().map(|profile| profile.profile_id).collect();
    assert_eq!(reports, BTreeSet::from([middle.profile_id.clone(), low.profile_id.clone()]));
    let in_department = suite
        .identity(Some(&token))
        .list_profiles(pb::ListProfilesRequest {
            department_id: department.department_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .profiles;
    assert_eq!(in_department.len(), 1);
    let cleared = update_profile(
        suite,
        &token,
        pb::Profile { manager_profile_id: String::new(), ..moved },
        &["manager_profile_id"],
    )
    .await
    .unwrap();
    assert!(cleared.manager_profile_id.is_empty());
});

// ------------------------------------------------------- logins, passwords

backend_test!(logins_validate_their_input_and_names_are_unique_case_insensitively, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let status = identity
        .create_login(pb::CreateLoginRequest {
            login_name: "  ".into(),
            profile_ids: vec!["not-a-uuid".into()],
            default_profile_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["login_name", "profile_ids[0]", "default_profile_id"]);

    let status = identity
        .create_login(pb::CreateLoginRequest {
            login_name: "weak".into(),
            password: "short".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "PASSWORD_POLICY".to_owned()));

    let orphan = create_employee(suite, employee_request("Otto", &[pb::Channel::Browser])).await;
    assert!(orphan.login_id.is_empty());
    let login = identity
        .create_login(pb::CreateLoginRequest {
            login_name: "Otto".into(),
            password: PASSWORD.into(),
            profile_ids: vec![orphan.profile_id.clone()],
            default_profile_id: orphan.profile_id.clone(),
            ..Default::default()
        })
        .await
        .expect("create a login for an existing profile")
        .into_inner()
        .login
        .unwrap();
    assert!(login.has_password);
    assert!(login.password_updated_at.is_some());
    assert_eq!(login.profile_ids, vec![orphan.profile_id.clone()]);
    assert_eq!(login.default_profile_id, orphan.profile_id);
    let debug = format!("{login:?}");
    assert!(!debug.contains(PASSWORD) && !debug.contains("pbkdf2"), "no secret is returned: {debug}");

    let status = identity
        .create_login(pb::CreateLoginRequest { login_name: "OTTO".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::AlreadyExists, "LOGIN_NAME_TAKEN".to_owned()));
    let status = identity
        .create_login(pb::CreateLoginRequest {
            login_name: "otto2".into(),
            profile_ids: vec![orphan.profile_id.clone()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "PROFILE_ALREADY_ON_LOGIN".to_owned()));
    let status =
        identity.get_login(pb::GetLoginRequest { login_id: uuid::Uuid::now_v7().to_string() }).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "LOGIN_NOT_FOUND".to_owned()));

    // The login works, with its name in any case.
    let started =
        start_session(suite, LoginId::parse(&login.login_id).unwrap(), "oTTo", PASSWORD, pb::Channel::Browser, None)
            .await
            .unwrap();
    assert_eq!(started.session.unwrap().active_profile_id, orphan.profile_id);
    let fetched =
        identity.get_login(pb::GetLoginRequest { login_id: login.login_id.clone() }).await.unwrap().into_inner();
    assert!(fetched.login.unwrap().last_login_at.is_some());

    // A person reads its own login, not another one.
    let own = suite.token_for(LoginId::parse(&login.login_id).unwrap(), None);
    suite.identity(Some(&own)).get_login(pb::GetLoginRequest { login_id: login.login_id.clone() }).await.unwrap();
    let stranger = csm_tests::world::nobody(suite).await.1;
    let status = suite
        .identity(Some(&stranger))
        .get_login(pb::GetLoginRequest { login_id: login.login_id.clone() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "MISSING_ROLE".to_owned()));

    // Renaming to a taken name is refused; a default profile must be the login's.
    identity.create_login(pb::CreateLoginRequest { login_name: "taken".into(), ..Default::default() }).await.unwrap();
    let status = identity
        .update_login(pb::UpdateLoginRequest {
            login: Some(pb::Login {
                login_id: login.login_id.clone(),
                login_name: "Taken".into(),
                ..Default::default()
            }),
            update_mask: mask(&["login_name"]),
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "LOGIN_NAME_TAKEN");
    let stranger_profile = create_employee(suite, employee_request("Zed", &[])).await;
    let status = identity
        .update_login(pb::UpdateLoginRequest {
            login: Some(pb::Login {
                login_id: login.login_id.clone(),
                default_profile_id: stranger_profile.profile_id,
                ..Default::default()
            }),
            update_mask: mask(&["default_profile_id"]),
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "PROFILE_NOT_OF_LOGIN".to_owned()));
    let status = identity
        .update_login(pb::UpdateLoginRequest {
            login: Some(pb::Login { login_id: login.login_id.clone(), has_password: false, ..Default::default() }),
            update_mask: mask(&["has_password"]),
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "FIELD_NOT_UPDATABLE".to_owned()));
});

backend_test!(start_session_answers_alike_for_a_wrong_login_name_or_password, |suite| {
    let mut request = employee_request("Wes", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("wes")));
    let employee = create_employee(suite, request).await;
    let login = login_of(&employee);

    let wrong_password =
        start_session(suite, login, "wes", "not the password", pb::Channel::Browser, None).await.unwrap_err();
    let wrong_login = start_session(suite, login, "nobody", PASSWORD, pb::Channel::Browser, None).await.unwrap_err();
    for status in [&wrong_password, &wrong_login] {
        assert_eq!((status.code(), reason_of(status)), (Code::Unauthenticated, "INVALID_CREDENTIALS".to_owned()));
    }
    assert_eq!(wrong_password.message(), wrong_login.message());

    // Bad input names every field.
    let status = suite
        .identity(None)
        .start_session(pb::StartSessionRequest { profile_id: "x".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["login_name", "proof", "channel", "profile_id"]);

    // Only a trusted gateway may assert pre_authenticated.
    let status = suite
        .identity(None)
        .start_session(pb::StartSessionRequest {
            login_name: "wes".into(),
            proof: Some(pb::start_session_request::Proof::PreAuthenticated(true)),
            channel: pb::Channel::Browser as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "SERVICE_CALLER_REQUIRED".to_owned()));

    // A requested profile of another login is refused.
    let other = create_employee(suite, employee_request("Xi", &[pb::Channel::Browser])).await;
    let status =
        start_session(suite, login, "wes", PASSWORD, pb::Channel::Browser, Some(&other.profile_id)).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "PROFILE_NOT_OF_LOGIN".to_owned()));

    // An inactive profile cannot be activated; deactivating one ends its sessions.
    let session =
        start_session(suite, login, "wes", PASSWORD, pb::Channel::Browser, None).await.unwrap().session.unwrap();
    let admin = suite.admin_token();
    update_profile(suite, &admin, pb::Profile { active: false, ..employee.clone() }, &["active"]).await.unwrap();
    let ended = suite
        .identity(Some(&admin))
        .get_session(pb::GetSessionRequest { session_id: session.session_id })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(ended.state, pb::SessionState::Ended as i32);
    assert!(ended.ended_at.is_some());
    let status = start_session(suite, login, "wes", PASSWORD, pb::Channel::Browser, None).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "PROFILE_INACTIVE".to_owned()));
});

backend_test!(start_session_retries_with_the_same_request_id_return_the_same_session, |suite| {
    let mut request = employee_request("Rita", &[pb::Channel::Browser, pb::Channel::Mobile]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("rita")));
    create_employee(suite, request).await;
    let request = pb::StartSessionRequest {
        request_id: "login-1".into(),
        login_name: "rita".into(),
        proof: Some(pb::start_session_request::Proof::Password(PASSWORD.into())),
        channel: pb::Channel::Browser as i32,
        ..Default::default()
    };
    let first = suite.identity(None).start_session(request.clone()).await.unwrap().into_inner();
    let retry = suite.identity(None).start_session(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.session, retry.session);
    assert_eq!(first.assigned_explicit_role, roles::SNC_INTERNAL);
    assert_eq!(retry.assigned_explicit_role, roles::SNC_INTERNAL);
    assert_eq!(first.consistency_token, retry.consistency_token);
    // A retry must still prove itself.
    let status = suite
        .identity(None)
        .start_session(pb::StartSessionRequest {
            proof: Some(pb::start_session_request::Proof::Password("wrong password".into())),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "INVALID_CREDENTIALS");
    // The same request id for another request is a conflict.
    let status = suite
        .identity(None)
        .start_session(pb::StartSessionRequest { channel: pb::Channel::Mobile as i32, ..request })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "REQUEST_ID_CONFLICT".to_owned()));
});

backend_test!(set_login_password_needs_the_current_password_from_the_person_itself, |suite| {
    let mut request = employee_request("Pia", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("pia")));
    let employee = create_employee(suite, request).await;
    let login = login_of(&employee);
    let own = suite.token_for(login, Some(profile_id(&employee)));
    let mut identity = suite.identity(Some(&own));

    let status = identity
        .set_login_password(pb::SetLoginPasswordRequest {
            login_id: login.to_string(),
            new_password: "a new long password".into(),
            current_password: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["current_password"]);
    let status = identity
        .set_login_password(pb::SetLoginPasswordRequest {
            login_id: login.to_string(),
            new_password: "a new long password".into(),
            current_password: "not it at all".into(),
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::Unauthenticated, "INVALID_CREDENTIALS".to_owned()));
    let status = identity
        .set_login_password(pb::SetLoginPasswordRequest {
            login_id: login.to_string(),
            new_password: "short".into(),
            current_password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "PASSWORD_POLICY");
    identity
        .set_login_password(pb::SetLoginPasswordRequest {
            login_id: login.to_string(),
            new_password: "a new long password".into(),
            current_password: PASSWORD.into(),
        })
        .await
        .expect("change the own password");
    assert!(start_session(suite, login, "pia", PASSWORD, pb::Channel::Browser, None).await.is_err());
    start_session(suite, login, "pia", "a new long password", pb::Channel::Browser, None)
        .await
        .expect("the new password works");

    // An admin resets it without the current one; another person cannot.
    let admin = suite.admin_token();
    suite
        .identity(Some(&admin))
        .set_login_password(pb::SetLoginPasswordRequest {
            login_id: login.to_string(),
            new_password: "reset by the admin".into(),
            current_password: String::new(),
        })
        .await
        .expect("admin reset");
    start_session(suite, login, "pia", "reset by the admin", pb::Channel::Browser, None)
        .await
        .expect("the reset password works");
    let stranger = csm_tests::world::nobody(suite).await.1;
    let status = suite
        .identity(Some(&stranger))
        .set_login_password(pb::SetLoginPasswordRequest {
            login_id: login.to_string(),
            new_password: "hijacked password".into(),
            current_password: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

// ---------------------------------------------------------- employees, profiles

backend_test!(create_employee_validates_references_and_is_idempotent_per_request_id, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let status = identity
        .create_employee(pb::CreateEmployeeRequest {
            manager_profile_id: "boss".into(),
            channels: vec![0],
            login: Some(pb::create_employee_request::Login::NewLogin(pb::NewLogin::default())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        vec!["display_name", "new_login.login_name", "manager_profile_id", "channels[0]"]
    );
    let status = identity.create_employee(employee_request("Cp", &[pb::Channel::CustomerPortal])).await.unwrap_err();
    assert_eq!(
        (status.code(), reason_of(&status)),
        (Code::FailedPrecondition, "CHANNEL_NOT_ALLOWED_FOR_PROFILE".to_owned())
    );
    let mut request = employee_request("Dep", &[]);
    request.department_id = uuid::Uuid::now_v7().to_string();
    let status = identity.create_employee(request).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "DEPARTMENT_NOT_FOUND".to_owned()));
    let mut request = employee_request("Log", &[]);
    request.login = Some(pb::create_employee_request::Login::LoginId(uuid::Uuid::now_v7().to_string()));
    let status = identity.create_employee(request).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "LOGIN_NOT_FOUND".to_owned()));

    // A USER group by default (R1.8); a CUSTOMER group is refused.
    let user_group = default_group(suite, "Desk", pb::SecurityGroupKind::User).await;
    let customer_group = default_group(suite, "Portal", pb::SecurityGroupKind::Customer).await;
    let employee = create_employee(suite, employee_request("Gus", &[pb::Channel::Browser])).await;
    assert_eq!(employee.security_group_id, user_group, "the default USER group is assigned");
    let mut request = employee_request("Mis", &[]);
    request.security_group_id = customer_group;
    let status = identity.create_employee(request).await.unwrap_err();
    assert_eq!(
        (status.code(), reason_of(&status)),
        (Code::FailedPrecondition, "SECURITY_GROUP_KIND_MISMATCH".to_owned())
    );

    // Idempotent retry, and a conflicting reuse of the request id.
    let mut request = employee_request("Ida", &[pb::Channel::Browser]);
    request.request_id = "hire-ida".into();
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("ida")));
    let first = identity.create_employee(request.clone()).await.unwrap().into_inner();
    let retry = identity.create_employee(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.profile, retry.profile);
    assert_eq!(first.consistency_token, retry.consistency_token);
    let status =
        identity.create_employee(pb::CreateEmployeeRequest { title: "Manager".into(), ..request }).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "REQUEST_ID_CONFLICT".to_owned()));
    // The login was created once.
    let logins = identity.list_logins(pb::ListLoginsRequest::default()).await.unwrap().into_inner().logins;
    assert_eq!(logins.iter().filter(|login| login.login_name == "ida").count(), 1);
});

backend_test!(update_profile_writes_only_the_masked_paths, |suite| {
    let token = suite.admin_token();
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let customer_group = default_group(suite, "Portal", pb::SecurityGroupKind::Customer).await;
    let contact = create_contact(suite, contact_request(&customer, "Ed", &[])).await;
    assert!(contact.security_group_id.is_empty(), "no portal channel, no CUSTOMER group yet");

    let changed = pb::Profile {
        display_name: "Edward".into(),
        title: "Ignored".into(),
        details: Some(pb::PersonDetails {
            email: "ed@new.example".into(),
            first_name: "Ignored".into(),
            ..Default::default()
        }),
        channels: vec![pb::Channel::CustomerPortal as i32],
        ..contact.clone()
    };
    let updated = update_profile(suite, &token, changed, &["display_name", "details.email", "channels"]).await.unwrap();
    assert_eq!(updated.display_name, "Edward");
    assert_eq!(updated.title, contact.title);
    let details = updated.details.unwrap();
    assert_eq!(details.email, "ed@new.example");
    assert_eq!(details.first_name, "Ed");
    assert_eq!(updated.channels, vec![pb::Channel::CustomerPortal as i32]);
    assert_eq!(updated.security_group_id, customer_group, "portal credentials bring the default CUSTOMER group (R1.8)");

    for path in ["kind", "security_group_id", "partner", "nonsense"] {
        let status = update_profile(suite, &token, contact.clone(), &[path]).await.unwrap_err();
        assert_eq!(
            (status.code(), reason_of(&status)),
            (Code::InvalidArgument, "FIELD_NOT_UPDATABLE".to_owned()),
            "{path}"
        );
    }
    let status = update_profile(suite, &token, contact.clone(), &[]).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["update_mask"]);
    let status = update_profile(
        suite,
        &token,
        pb::Profile { profile_id: uuid::Uuid::now_v7().to_string(), ..contact.clone() },
        &["title"],
    )
    .await
    .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "PROFILE_NOT_FOUND".to_owned()));

    // A person edits the name and details of its own profile, nothing else.
    let mut request = employee_request("Sel", &[pb::Channel::Browser]);
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("sel")));
    let own = create_employee(suite, request).await;
    let own_token = suite.token_for(login_of(&own), Some(profile_id(&own)));
    let renamed = update_profile(
        suite,
        &own_token,
        pb::Profile { display_name: "Selma".into(), ..own.clone() },
        &["display_name"],
    )
    .await
    .unwrap();
    assert_eq!(renamed.display_name, "Selma");
    let status = update_profile(suite, &own_token, pb::Profile { title: "CEO".into(), ..own.clone() }, &["title"])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Attaching a login-less profile to a login, then detaching it.
    let loose = create_employee(suite, employee_request("Lou", &[pb::Channel::Browser])).await;
    let attached =
        update_profile(suite, &token, pb::Profile { login_id: own.login_id.clone(), ..loose.clone() }, &["login_id"])
            .await
            .unwrap();
    assert_eq!(attached.login_id, own.login_id);
    let other_login = suite
        .identity(Some(&token))
        .create_login(pb::CreateLoginRequest { login_name: "other".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .login
        .unwrap();
    let status = update_profile(
        suite,
        &token,
        pb::Profile { login_id: other_login.login_id, ..attached.clone() },
        &["login_id"],
    )
    .await
    .unwrap_err();
    assert_eq!(reason_of(&status), "PROFILE_ALREADY_ON_LOGIN");
    let detached = update_profile(suite, &token, pb::Profile { login_id: String::new(), ..attached }, &["login_id"])
        .await
        .unwrap();
    assert!(detached.login_id.is_empty());
});

backend_test!(profiles_and_logins_are_listed_in_pages_by_id, |suite| {
    let token = suite.admin_token();
    let mut created = Vec::new();
    for index in 0..5 {
        let mut request = employee_request(&format!("P{index}"), &[pb::Channel::Browser]);
        request.login = Some(pb::create_employee_request::Login::NewLogin(new_login(&format!("page-{index}"))));
        created.push(create_employee(suite, request).await.profile_id);
    }
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .identity(Some(&token))
            .list_profiles(pb::ListProfilesRequest {
                page_size: 2,
                page_token: page_token.clone(),
                kind: pb::ProfileKind::Internal as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.profiles.len() <= 2);
        seen.extend(page.profiles.into_iter().map(|profile| profile.profile_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    // The bootstrap administrator is an INTERNAL profile too.
    seen.retain(|profile| *profile != suite.admin_profile.to_string());
    assert_eq!(seen, created, "every profile once, in id order");

    let logins = suite
        .identity(Some(&token))
        .list_logins(pb::ListLoginsRequest { page_size: 3, login_name_prefix: "PAGE-".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(logins.logins.len(), 3);
    assert!(!logins.next_page_token.is_empty());
    let rest = suite
        .identity(Some(&token))
        .list_logins(pb::ListLoginsRequest {
            page_size: 3,
            page_token: logins.next_page_token,
            // The same filter: a page token is bound to its list's filters.
            login_name_prefix: "PAGE-".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.logins.len(), 2);
    assert!(rest.next_page_token.is_empty());

    let status = suite
        .identity(Some(&token))
        .list_profiles(pb::ListProfilesRequest { page_token: "forged".into(), page_size: -1, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_size", "page_token"]);
    let status = suite
        .identity(Some(&token))
        .list_profiles(pb::ListProfilesRequest { page_token: "forged".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_token"]);

    // A person without a reader role lists only its own login's profiles.
    let person = csm_tests::world::nobody(suite).await.1;
    let status = suite.identity(Some(&person)).list_profiles(pb::ListProfilesRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

backend_test!(list_account_contacts_covers_descendants_only_when_asked, |suite| {
    let token = suite.admin_token();
    let parent = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let child = account(suite, "Acme East", pb::AccountKind::Customer, Some(&parent)).await;
    let grandchild = account(suite, "Acme East 1", pb::AccountKind::Customer, Some(&child)).await;
    let other = account(suite, "Initech", pb::AccountKind::Customer, None).await;
    let at_parent = create_contact(suite, contact_request(&parent, "Pa", &[])).await;
    let at_child = create_contact(suite, contact_request(&child, "Ch", &[])).await;
    let at_grandchild = create_contact(suite, contact_request(&grandchild, "Gc", &[])).await;
    create_contact(suite, contact_request(&other, "Ot", &[])).await;
    create_employee(suite, employee_request("Emp", &[])).await;
    update_profile(suite, &token, pb::Profile { active: false, ..at_grandchild.clone() }, &["active"]).await.unwrap();

    let list = |include_descendants: bool, include_inactive: bool| {
        let parent = parent.clone();
        let token = token.clone();
        async move {
            suite
                .identity(Some(&token))
                .list_account_contacts(pb::ListAccountContactsRequest {
                    account_id: parent,
                    include_descendants,
                    include_inactive,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .profiles
                .into_iter()
                .map(|profile| profile.profile_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(false, false).await, vec![at_parent.profile_id.clone()]);
    assert_eq!(list(true, false).await, vec![at_parent.profile_id.clone(), at_child.profile_id.clone()]);
    assert_eq!(
        list(true, true).await,
        vec![at_parent.profile_id.clone(), at_child.profile_id.clone(), at_grandchild.profile_id.clone()]
    );

    // Services read it; an unknown account is NOT_FOUND.
    let service = suite.service_token(ServiceName::CaseAccess);
    let status = suite
        .identity(Some(&service))
        .list_account_contacts(pb::ListAccountContactsRequest {
            account_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "ACCOUNT_NOT_FOUND".to_owned()));
});

backend_test!(batch_get_profiles_reports_unknown_ids_apart, |suite| {
    let service = suite.service_token(ServiceName::CaseAccess);
    let first = create_employee(suite, employee_request("One", &[])).await;
    let second = create_employee(suite, employee_request("Two", &[])).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let response = suite
        .identity(Some(&service))
        .batch_get_profiles(pb::BatchGetProfilesRequest {
            profile_ids: vec![second.profile_id.clone(), unknown.clone(), first.profile_id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    let found: Vec<String> = response.profiles.iter().map(|profile| profile.profile_id.clone()).collect();
    assert_eq!(found, vec![second.profile_id.clone(), first.profile_id.clone()], "request order");
    assert_eq!(response.missing_profile_ids, vec![unknown]);
    assert!(response.revision >= 2);

    let too_many = vec![first.profile_id.clone(); 1001];
    let status = suite
        .identity(Some(&service))
        .batch_get_profiles(pb::BatchGetProfilesRequest { profile_ids: too_many })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["profile_ids"]);
    let status = suite
        .identity(Some(&service))
        .get_profile(pb::GetProfileRequest { profile_id: uuid::Uuid::now_v7().to_string() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "PROFILE_NOT_FOUND".to_owned()));
});

backend_test!(people_mutations_show_up_in_watch, |suite| {
    let service = suite.service_token(ServiceName::CaseAccess);
    let customer = account(suite, "Acme", pb::AccountKind::Customer, None).await;
    let mut request = contact_request(&customer, "Wat", &[pb::Channel::CustomerPortal]);
    request.login = Some(pb::create_contact_request::Login::NewLogin(new_login("wat")));
    let token = suite.admin_token();
    let created = suite.identity(Some(&token)).create_contact(request).await.unwrap().into_inner();
    let contact = created.profile.unwrap();
    let session =
        start_session(suite, login_of(&contact), "wat", PASSWORD, pb::Channel::CustomerPortal, None).await.unwrap();

    let mut stream = suite
        .identity(Some(&service))
        .watch(pb::WatchRequest {
            from_revision: 0,
            entity_types: vec!["login".into(), "profile".into(), "session".into()],
        })
        .await
        .unwrap()
        .into_inner();
    // The contact's changes (the bootstrap administrator's come first).
    let session_id = session.session.as_ref().unwrap().session_id.clone();
    let ours = [contact.login_id.clone(), contact.profile_id.clone(), session_id];
    let mut changes = Vec::new();
    while changes.len() < 3 {
        let change = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
        let change = change.change.unwrap();
        if ours.contains(&change.entity_id) {
            changes.push(change);
        }
    }
    let (login, profile, session_change) = (&changes[0], &changes[1], &changes[2]);
    assert_eq!((login.entity_type.as_str(), login.entity_id.as_str()), ("login", contact.login_id.as_str()));
    assert_eq!(profile.entity_type, "profile");
    assert_eq!(profile.entity_id, contact.profile_id);
    assert_eq!(profile.attributes.get("account_id"), Some(&customer));
    assert_eq!(profile.attributes.get("login_id"), Some(&contact.login_id));
    assert_eq!(profile.consistency_token, created.consistency_token);
    let session = session.session.unwrap();
    assert_eq!(session_change.entity_type, "session");
    assert_eq!(session_change.entity_id, session.session_id);
    assert_eq!(session_change.attributes.get("profile_id"), Some(&contact.profile_id));

    // An update carries the previous reference.
    let other = account(suite, "Initech", pb::AccountKind::Customer, None).await;
    update_profile(suite, &token, pb::Profile { account_id: other.clone(), ..contact.clone() }, &["account_id"])
        .await
        .unwrap();
    let moved = loop {
        let change = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .change
            .unwrap();
        if change.entity_type == "profile" {
            break change;
        }
    };
    assert_eq!(moved.attributes.get("account_id"), Some(&other));
    assert_eq!(moved.attributes.get("previous_account_id"), Some(&customer));
});

backend_test!(start_session_uses_the_presentation_roles_of_the_security_group, |suite| {
    let token = suite.admin_token();
    let group = suite
        .identity(Some(&token))
        .create_security_group(pb::CreateSecurityGroupRequest {
            name: "Desk".into(),
            kind: pb::SecurityGroupKind::User as i32,
            presentation_roles: vec!["R1".into(), "R2".into()],
            default_presentation_role: "R1".into(),
            ..Default::default()
        })
        .await
        .expect("create a USER group")
        .into_inner()
        .security_group
        .unwrap();
    let mut request = employee_request("Ron", &[pb::Channel::Browser]);
    request.security_group_id = group.security_group_id.clone();
    request.login = Some(pb::create_employee_request::Login::NewLogin(new_login("ron")));
    let employee = create_employee(suite, request).await;
    assert_eq!(employee.security_group_id, group.security_group_id);
    let start = |role: &str| pb::StartSessionRequest {
        login_name: "ron".into(),
        proof: Some(pb::start_session_request::Proof::Password(PASSWORD.into())),
        channel: pb::Channel::Browser as i32,
        presentation_role: role.to_owned(),
        ..Default::default()
    };
    let default = suite.identity(None).start_session(start("")).await.unwrap().into_inner();
    assert_eq!(default.session.unwrap().presentation_role, "R1");
    let chosen = suite.identity(None).start_session(start("R2")).await.unwrap().into_inner();
    assert_eq!(chosen.session.unwrap().presentation_role, "R2");
    let status = suite.identity(None).start_session(start("R9")).await.unwrap_err();
    assert_eq!(
        (status.code(), reason_of(&status)),
        (Code::InvalidArgument, "PRESENTATION_ROLE_NOT_IN_GROUP".to_owned())
    );
});
