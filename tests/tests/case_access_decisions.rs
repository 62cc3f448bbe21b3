//! case-access decisions over real gRPC: union semantics (R2.20), Explain's
//! trace, BatchCheck, licence escalation from a check (§7), the account-team
//! paths (R3.15, R3.16) and the customer case manager's scope (R4.6). Each
//! test runs on SQLite and on PostgreSQL.

use csm_proto::account_team as at_pb;
use csm_proto::case_access as pb;
use csm_proto::licensing as lic_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of, violated_fields};
use csm_types::ProfileId;
use csm_types::roles;
use tonic::Code;

const CUSTOMER: &str = roles::CUSTOMER;
const CUSTOMER_ADMIN: &str = roles::CUSTOMER_ADMIN;
const CUSTOMER_CASE_MANAGER: &str = roles::CUSTOMER_CASE_MANAGER;
const AGENT: &str = roles::AGENT;
const RELATIONSHIP_AGENT: &str = roles::RELATIONSHIP_AGENT;
const RELATIONSHIP_CONTRIBUTOR: &str = roles::RELATIONSHIP_CONTRIBUTOR;
/// The seeded "Account Manager" responsibility (account-team migration 0100).
const ACCOUNT_MANAGER: &str = "a7000000-0000-4000-8000-000000000001";

fn case_target(case_id: &str) -> Option<pb::Target> {
    Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case_id.to_owned())) })
}

async fn case_for(suite: &Suite, token: &str, account: &str) -> String {
    create_case(suite, token, draft(pb::CreateFor::Account, account, "")).await.unwrap().support_case.unwrap().case_id
}

async fn explain(suite: &Suite, token: &str, case_id: &str, action: pb::Action) -> pb::ExplainResponse {
    suite
        .case_access(Some(token))
        .explain(pb::ExplainRequest { target: case_target(case_id), action: action as i32, ..Default::default() })
        .await
        .expect("explain")
        .into_inner()
}

async fn team_member(suite: &Suite, account: &str, profile: ProfileId) {
    let admin = suite.admin_token();
    suite
        .account_team(Some(&admin))
        .create_team_member(at_pb::CreateTeamMemberRequest {
            request_id: String::new(),
            team_member: Some(at_pb::TeamMember {
                team: Some(at_pb::team_member::Team::AccountId(account.to_owned())),
                profile_id: profile.to_string(),
                member_kind: at_pb::TeamMemberKind::Internal as i32,
                responsibility_id: ACCOUNT_MANAGER.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect("add team member");
}

// ------------------------------------------------------------------ union

backend_test!(r2_20_access_is_the_union_of_every_grant, |suite| {
    let own = account(suite, "Acme", None).await;
    let other = account(suite, "Other", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, customer) = contact(suite, &own, "Kim", &[CUSTOMER]).await;
    let mine = create_case(suite, &customer, draft(pb::CreateFor::Account, &own, "")).await.unwrap();
    let mine = mine.support_case.unwrap().case_id;
    let colleagues = case_for(suite, &agent, &own).await;
    let foreign = case_for(suite, &agent, &other).await;
    // customer alone: its own case only; the others have no grant (R2.20, no deny rule).
    assert_eq!(check(suite, &customer, &mine, pb::Action::Read).await.rule, "T4.1.customer");
    let denied = check(suite, &customer, &colleagues, pb::Action::Read).await;
    assert!(!denied.allowed);
    assert_eq!(denied.rule, "R2.20");
    assert!(denied.path.is_empty());
    // Adding customer_admin adds its grants; the customer grant still decides its own case.
    let (admin_profile, admin) = contact(suite, &own, "Ada", &[CUSTOMER]).await;
    suite.assign_role(admin_profile, CUSTOMER_ADMIN).await.unwrap();
    let admin_case = create_case(suite, &admin, draft(pb::CreateFor::Account, &own, "")).await.unwrap();
    let admin_case = admin_case.support_case.unwrap().case_id;
    assert_eq!(check(suite, &admin, &admin_case, pb::Action::Read).await.rule, "T4.1.customer");
    assert_eq!(check(suite, &admin, &colleagues, pb::Action::Read).await.rule, "T4.1.customer_admin");
    assert!(!check(suite, &admin, &foreign, pb::Action::Read).await.allowed);
    let listed = visible(suite, &admin, 10).await;
    assert!(listed.contains(&colleagues) && listed.contains(&admin_case) && listed.contains(&mine));
    assert!(!listed.contains(&foreign));
});

// ------------------------------------------------------------------ explain

backend_test!(explain_names_the_granting_rule_and_the_closest_miss, |suite| {
    let own = account(suite, "Acme", None).await;
    let other = account(suite, "Other", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (admin_profile, admin) = contact(suite, &own, "Ada", &[CUSTOMER, CUSTOMER_ADMIN]).await;
    let inside = case_for(suite, &agent, &own).await;
    let outside = case_for(suite, &agent, &other).await;

    let allowed = explain(suite, &admin, &inside, pb::Action::Read).await;
    let decision = allowed.decision.unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.rule, "T4.1.customer_admin");
    assert!(allowed.closest_rule.is_none());
    let principal = allowed.principal.unwrap();
    assert_eq!(principal.profile_id, admin_profile.to_string());
    assert_eq!(principal.profile_kind, "CONTACT");
    assert_eq!(principal.account_id, own);
    assert!(principal.effective_roles.contains(&CUSTOMER_ADMIN.to_owned()));
    let matched: Vec<_> = allowed.rules.iter().filter(|rule| rule.outcome == pb::RuleOutcome::Matched as i32).collect();
    assert!(matched.iter().any(|rule| rule.rule == "T4.1.customer_admin" && !rule.path.is_empty()));
    for rule in &matched {
        assert!(rule.conditions.iter().all(|condition| condition.satisfied), "{rule:?}");
    }
    // Check and Explain agree.
    assert_eq!(check(suite, &admin, &inside, pb::Action::Read).await.rule, decision.rule);

    let denied = explain(suite, &admin, &outside, pb::Action::Read).await;
    let decision = denied.decision.unwrap();
    assert!(!decision.allowed);
    assert_eq!(decision.rule, "R2.20");
    let closest = denied.closest_rule.expect("a denial names the closest rule");
    assert_eq!(closest.outcome, pb::RuleOutcome::NotMatched as i32);
    assert!(closest.conditions.iter().any(|condition| !condition.satisfied));
    let account_rule = denied.rules.iter().find(|rule| rule.rule == "T4.1.customer_admin").expect("considered");
    assert!(account_rule.conditions.iter().any(|condition| condition.detail.contains(&other)), "{account_rule:?}");
    assert!(denied.rules.iter().all(|rule| rule.outcome == pb::RuleOutcome::NotMatched as i32));

    // A write is first a READ: its READ rules are part of the trace.
    let write = explain(suite, &admin, &inside, pb::Action::WriteFull).await;
    assert!(!write.decision.unwrap().allowed);
    assert!(write.rules.iter().any(|rule| rule.summary.starts_with("grants READ")));

    // The R4.3 partition is a denying invariant in the trace.
    let c = consumer(suite, "Cleo").await;
    let (_, manager) = employee(suite, "Max", &[AGENT, roles::CONSUMER_AGENT]).await;
    let b2c = create_case(suite, &manager, draft(pb::CreateFor::Consumer, "", &c)).await.unwrap();
    let b2c = b2c.support_case.unwrap().case_id;
    let partitioned = explain(suite, &agent, &b2c, pb::Action::Read).await;
    assert_eq!(partitioned.decision.unwrap().rule, "R4.3");
    assert!(partitioned.rules.iter().any(|rule| rule.outcome == pb::RuleOutcome::Denied as i32));
});

backend_test!(explain_and_check_refuse_mismatched_targets, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let case = case_for(suite, &agent, &a).await;
    let status = suite
        .case_access(Some(&agent))
        .check(pb::CheckRequest {
            target: case_target(&case),
            action: pb::Action::CreateObo as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&status), "INVALID_ACTION_FOR_TARGET");
    let status = suite
        .case_access(Some(&agent))
        .explain(pb::ExplainRequest { target: case_target("not-a-uuid"), action: 1, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["target.case_id".to_owned()]);
    let status = suite
        .case_access(Some(&agent))
        .explain(pb::ExplainRequest {
            target: case_target(&uuid::Uuid::now_v7().to_string()),
            action: pb::Action::Read as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
});

// ------------------------------------------------------------------ batch

backend_test!(batch_check_answers_every_item_in_order_at_one_snapshot, |suite| {
    let own = account(suite, "Acme", None).await;
    let other = account(suite, "Other", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, admin) = contact(suite, &own, "Ada", &[CUSTOMER, CUSTOMER_ADMIN]).await;
    let inside = case_for(suite, &agent, &own).await;
    let outside = case_for(suite, &agent, &other).await;
    let item = |target: Option<pb::Target>, action: pb::Action| pb::BatchCheckItem { target, action: action as i32 };
    let new_case =
        Some(pb::Target { resource: Some(pb::target::Resource::NewCase(draft(pb::CreateFor::Account, &own, ""))) });
    let response = suite
        .case_access(Some(&admin))
        .batch_check(pb::BatchCheckRequest {
            items: vec![
                item(case_target(&inside), pb::Action::Read),
                item(case_target(&outside), pb::Action::Read),
                item(case_target(&uuid::Uuid::now_v7().to_string()), pb::Action::Read),
                item(case_target(&inside), pb::Action::CreateSelf),
                item(new_case, pb::Action::Unspecified),
                item(case_target(&inside), pb::Action::WriteFull),
            ],
            ..Default::default()
        })
        .await
        .expect("batch check")
        .into_inner();
    let statuses: Vec<i32> = response.results.iter().map(|result| result.status).collect();
    use pb::BatchCheckItemStatus as S;
    assert_eq!(
        statuses,
        vec![S::Ok as i32, S::Ok as i32, S::NotFound as i32, S::Invalid as i32, S::Ok as i32, S::Ok as i32]
    );
    let allowed: Vec<bool> = response.results.iter().map(|result| result.decision.as_ref().unwrap().allowed).collect();
    assert_eq!(allowed, vec![true, false, false, false, true, false]);
    let new_case = response.results[4].decision.as_ref().unwrap();
    assert_eq!(new_case.action, pb::Action::CreateSelf as i32);
    // Every decision is answered at the batch's snapshot.
    assert!(!response.consistency_token.is_empty());
    for result in &response.results {
        assert_eq!(result.decision.as_ref().unwrap().consistency_token, response.consistency_token);
    }
    // Each item agrees with Check.
    assert_eq!(
        check(suite, &admin, &inside, pb::Action::Read).await.rule,
        response.results[0].decision.as_ref().unwrap().rule
    );

    let too_many = vec![item(case_target(&inside), pb::Action::Read); 1001];
    let status = suite
        .case_access(Some(&admin))
        .batch_check(pb::BatchCheckRequest { items: too_many, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["items".to_owned()]);
});

// ------------------------------------------------------------------ licences

backend_test!(r7_5_a_check_on_someone_elses_case_escalates_the_customers_licence, |suite| {
    let own = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let colleagues = case_for(suite, &agent, &own).await;
    let admin_token = suite.admin_token();
    let pool = suite
        .licensing(Some(&admin_token))
        .create_pool(lic_pb::CreatePoolRequest {
            request_id: String::new(),
            pool: Some(lic_pb::LicensePool {
                name: format!("portal {}", uuid::Uuid::now_v7().simple()),
                seat_count: 1,
                ..Default::default()
            }),
        })
        .await
        .expect("create pool")
        .into_inner()
        .pool
        .unwrap();
    let mut sessions = Vec::new();
    for name in ["Ada", "Abe"] {
        let (profile, token) = contact_with_login(suite, &own, name, &[CUSTOMER, CUSTOMER_ADMIN]).await;
        suite
            .licensing(Some(&admin_token))
            .grant_license_right(lic_pb::GrantLicenseRightRequest {
                request_id: String::new(),
                subject: Some(lic_pb::grant_license_right_request::Subject::ProfileId(profile.to_string())),
            })
            .await
            .expect("grant the licence right");
        let session = suite
            .licensing(Some(&token))
            .login(lic_pb::LoginRequest {
                request_id: String::new(),
                pool_id: pool.pool_id.clone(),
                profile_id: profile.to_string(),
                channel: lic_pb::ClientChannel::Portal as i32,
                device_id: String::new(),
            })
            .await
            .expect("portal login")
            .into_inner()
            .session
            .unwrap();
        assert!(!session.seat_held, "R7.4: a customer on the portal holds no seat at login");
        sessions.push((token, session.session_id));
    }
    let checked = |token: String, session: String, case: String| async move {
        suite
            .case_access(Some(&token))
            .check(pb::CheckRequest {
                target: case_target(&case),
                action: pb::Action::Read as i32,
                license_session_id: session,
                ..Default::default()
            })
            .await
            .map(|response| response.into_inner().decision.unwrap())
    };
    // Its own case needs no licence.
    let (ada, ada_session) = sessions[0].clone();
    let own_case = create_case(suite, &ada, draft(pb::CreateFor::Account, &own, "")).await.unwrap();
    let own_case = own_case.support_case.unwrap().case_id;
    let decision = checked(ada.clone(), ada_session.clone(), own_case).await.unwrap();
    assert!(decision.allowed && !decision.requires_license && !decision.license_escalated);
    // A colleague's case takes the pool's only seat…
    let decision = checked(ada.clone(), ada_session.clone(), colleagues.clone()).await.unwrap();
    assert!(decision.allowed && decision.requires_license && decision.license_escalated, "{decision:?}");
    // …so the second customer admin is refused with the pool's reason.
    let (abe, abe_session) = sessions[1].clone();
    let status = checked(abe.clone(), abe_session, colleagues.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason_of(&status), "LICENSE_POOL_EXHAUSTED");
    // Without a session the decision only says a licence is needed.
    let decision = check(suite, &abe, &colleagues, pb::Action::Read).await;
    assert!(decision.allowed && decision.requires_license && !decision.license_escalated);
});

backend_test!(r7_5_get_case_with_a_licence_session_escalates_as_check_does, |suite| {
    let own = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let colleagues = case_for(suite, &agent, &own).await;
    let admin_token = suite.admin_token();
    let pool = suite
        .licensing(Some(&admin_token))
        .create_pool(lic_pb::CreatePoolRequest {
            request_id: String::new(),
            pool: Some(lic_pb::LicensePool {
                name: format!("portal {}", uuid::Uuid::now_v7().simple()),
                seat_count: 1,
                ..Default::default()
            }),
        })
        .await
        .expect("create pool")
        .into_inner()
        .pool
        .unwrap();
    let (profile, customer) = contact_with_login(suite, &own, "Ada", &[CUSTOMER, CUSTOMER_ADMIN]).await;
    suite
        .licensing(Some(&admin_token))
        .grant_license_right(lic_pb::GrantLicenseRightRequest {
            request_id: String::new(),
            subject: Some(lic_pb::grant_license_right_request::Subject::ProfileId(profile.to_string())),
        })
        .await
        .expect("grant the licence right");
    let session = suite
        .licensing(Some(&customer))
        .login(lic_pb::LoginRequest {
            request_id: String::new(),
            pool_id: pool.pool_id.clone(),
            profile_id: profile.to_string(),
            channel: lic_pb::ClientChannel::Portal as i32,
            device_id: String::new(),
        })
        .await
        .expect("portal login")
        .into_inner()
        .session
        .unwrap()
        .session_id;
    let get = |case: String, license_session_id: String| {
        let customer = customer.clone();
        async move {
            suite
                .case_access(Some(&customer))
                .get_case(pb::GetCaseRequest { case_id: case, license_session_id, ..Default::default() })
                .await
                .map(|response| response.into_inner().decision.unwrap())
        }
    };
    let seat_held = || {
        let admin_token = admin_token.clone();
        let session = session.clone();
        async move {
            suite
                .licensing(Some(&admin_token))
                .get_session(lic_pb::GetSessionRequest { session_id: session })
                .await
                .expect("get session")
                .into_inner()
                .session
                .unwrap()
                .seat_held
        }
    };
    // Its own case: no licence, nothing escalated.
    let own_case = case_for(suite, &customer, &own).await;
    let decision = get(own_case, session.clone()).await.unwrap();
    assert!(decision.allowed && !decision.requires_license && !decision.license_escalated, "{decision:?}");
    assert!(!seat_held().await);
    // Without a session, reading a colleague's case only says a licence is needed (as Check does).
    let decision = get(colleagues.clone(), String::new()).await.unwrap();
    assert!(decision.allowed && decision.requires_license && !decision.license_escalated, "{decision:?}");
    assert!(!seat_held().await);
    // With the session, GetCase escalates the seat in ACCESS mode, exactly as Check does.
    let decision = get(colleagues.clone(), session.clone()).await.unwrap();
    assert!(decision.allowed && decision.requires_license && decision.license_escalated, "{decision:?}");
    assert!(seat_held().await, "R7.5 ACCESS mode: reading someone else's record takes the seat");
    let checked = suite
        .case_access(Some(&customer))
        .check(pb::CheckRequest {
            target: case_target(&colleagues),
            action: pb::Action::Read as i32,
            license_session_id: session.clone(),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap();
    assert_eq!(
        (checked.requires_license, checked.license_escalated),
        (decision.requires_license, decision.license_escalated),
        "GetCase and Check agree"
    );
    // CreateCase honours its session the same way: a create is the creator's own record (R7.4).
    let create = |license_session_id: String| {
        let customer = customer.clone();
        let draft = draft(pb::CreateFor::Account, &own, "");
        async move {
            suite
                .case_access(Some(&customer))
                .create_case(pb::CreateCaseRequest { draft: Some(draft), license_session_id, ..Default::default() })
                .await
                .map(|response| response.into_inner().decision.unwrap())
        }
    };
    let decision = create(session.clone()).await.unwrap();
    assert!(decision.allowed && !decision.requires_license, "{decision:?}");
    // A malformed session id is the caller's mistake, named by field.
    let status = get(colleagues.clone(), "not-a-session".to_owned()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["license_session_id".to_owned()]);
    let status = create("not-a-session".to_owned()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["license_session_id".to_owned()]);
});

// ------------------------------------------------------------------ account teams

backend_test!(r3_15_account_manager_reads_the_cases_of_its_account, |suite| {
    let managed = account(suite, "Managed", None).await;
    let elsewhere = account(suite, "Elsewhere", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let inside = case_for(suite, &agent, &managed).await;
    let outside = case_for(suite, &agent, &elsewhere).await;
    let (u, manager) = employee(suite, "Uli", &[RELATIONSHIP_AGENT]).await;
    team_member(suite, &managed, u).await;
    let decision = check(suite, &manager, &inside, pb::Action::Read).await;
    assert!(decision.allowed, "{decision:?}");
    assert_eq!(decision.rule, "T4.3.relationship_agent");
    assert!(decision.path.iter().any(|step| step.kind == pb::PathStepKind::TeamMember as i32));
    assert!(!check(suite, &manager, &outside, pb::Action::Read).await.allowed);
    assert_eq!(visible(suite, &manager, 10).await, vec![inside]);
});

backend_test!(r3_16_team_membership_grants_only_with_a_relationship_role, |suite| {
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    // One Account Manager per account (R3.13): each member manages its own account.
    let mut members = Vec::new();
    for (name, roles) in
        [("Pia", &[][..]), ("Cora", &[RELATIONSHIP_CONTRIBUTOR][..]), ("Ari", &[RELATIONSHIP_AGENT][..])]
    {
        let managed = account(suite, &format!("{name}'s account"), None).await;
        let case = case_for(suite, &agent, &managed).await;
        let (profile, token) = employee(suite, name, roles).await;
        team_member(suite, &managed, profile).await;
        members.push((token, case));
    }
    let [(plain, plain_case), (contributor, contributor_case), (relationship_agent, agent_case)] =
        <[(String, String); 3]>::try_from(members).unwrap();
    // Neither role: the membership grants nothing (X6).
    assert!(!check(suite, &plain, &plain_case, pb::Action::Read).await.allowed);
    // relationship_contributor: portal/contributor capabilities (§4.4).
    let read = check(suite, &contributor, &contributor_case, pb::Action::Read).await;
    assert!(read.allowed);
    assert_eq!(read.rule, "T4.4.relationship_contributor");
    assert!(check(suite, &contributor, &contributor_case, pb::Action::WriteCustomer).await.allowed);
    assert!(!check(suite, &contributor, &contributor_case, pb::Action::WriteFull).await.allowed);
    // relationship_agent: agent capabilities (§4.3).
    let write = check(suite, &relationship_agent, &agent_case, pb::Action::WriteFull).await;
    assert!(write.allowed);
    assert_eq!(write.rule, "T4.3.relationship_agent");
    assert!(!check(suite, &relationship_agent, &contributor_case, pb::Action::Read).await.allowed);
});

// ------------------------------------------------------------------ customer case manager

backend_test!(r4_6_customer_case_manager_stays_inside_its_hierarchy, |suite| {
    let parent = account(suite, "Holding", None).await;
    let own = account(suite, "Acme", Some(&parent)).await;
    let child = account(suite, "Acme Labs", Some(&own)).await;
    let sibling = account(suite, "Acme Sister", Some(&parent)).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, manager) = contact(suite, &own, "Cam", &[CUSTOMER, CUSTOMER_CASE_MANAGER]).await;
    let mut inside = Vec::new();
    for account in [&own, &child] {
        inside.push(case_for(suite, &agent, account).await);
    }
    let mut outside = Vec::new();
    for account in [&parent, &sibling] {
        outside.push(case_for(suite, &agent, account).await);
    }
    for case in &inside {
        let decision = check(suite, &manager, case, pb::Action::Read).await;
        assert_eq!(decision.rule, "T4.1.customer_case_manager");
        assert!(check(suite, &manager, case, pb::Action::WriteCustomer).await.allowed);
    }
    for case in &outside {
        assert!(!check(suite, &manager, case, pb::Action::Read).await.allowed);
    }
    // CREATE_OBO only for contacts of accounts in {acct(me)} ∪ DESC(acct(me)).
    let (child_contact, _) = contact(suite, &child, "Cid", &[CUSTOMER]).await;
    let (sibling_contact, _) = contact(suite, &sibling, "Sid", &[CUSTOMER]).await;
    let mut for_child = draft(pb::CreateFor::Account, &child, "");
    for_child.contact_id = child_contact.to_string();
    let created = create_case(suite, &manager, for_child).await.unwrap();
    assert_eq!(created.decision.unwrap().action, pb::Action::CreateObo as i32);
    let mut for_sibling = draft(pb::CreateFor::Account, &sibling, "");
    for_sibling.contact_id = sibling_contact.to_string();
    let status = create_case(suite, &manager, for_sibling).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "ACCESS_DENIED");
});

// ------------------------------------------------------------------ customers (JSM)

backend_test!(r7_12_customers_create_comment_attach_and_track_their_requests_without_a_licence, |suite| {
    let acme = account(suite, "Acme", None).await;
    let (_, customer) = contact_with_login(suite, &acme, "Kim", &[CUSTOMER]).await;
    // Create and track: its own request, listed for it, no licence needed.
    let created = create_case(suite, &customer, draft(pb::CreateFor::Account, &acme, "")).await.unwrap();
    let case = created.support_case.unwrap().case_id;
    let decision = check(suite, &customer, &case, pb::Action::Read).await;
    assert!(decision.allowed && !decision.requires_license);
    assert_eq!(visible(suite, &customer, 10).await, vec![case.clone()]);
    // Comment and attach: the customer action set, without a licence session.
    suite
        .case_access(Some(&customer))
        .add_comment(pb::AddCommentRequest {
            case_id: case.clone(),
            kind: pb::CommentKind::AdditionalComment as i32,
            body: "Still broken".to_owned(),
            ..Default::default()
        })
        .await
        .expect("customers comment on their requests");
    suite
        .case_access(Some(&customer))
        .add_attachment(pb::AddAttachmentRequest {
            case_id: case.clone(),
            file_name: "photo.jpg".to_owned(),
            content_type: "image/jpeg".to_owned(),
            size_bytes: 2048,
            content_uri: "blob://attachments/photo.jpg".to_owned(),
            ..Default::default()
        })
        .await
        .expect("customers attach files to their requests");
    // No agent view: no agent edit, no internal work notes.
    assert!(!check(suite, &customer, &case, pb::Action::WriteFull).await.allowed);
    let status = suite
        .case_access(Some(&customer))
        .add_comment(pb::AddCommentRequest {
            case_id: case.clone(),
            kind: pb::CommentKind::WorkNote as i32,
            body: "internal".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "WORK_NOTE_FORBIDDEN");
});
