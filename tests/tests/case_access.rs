//! case-access over real gRPC: case creation per role (R4.1, R4.14, T4.1,
//! T4.3), Check and ListVisibleCases from the same decision table, the B2B/B2C
//! agent partition (R4.3), and the principal contexts read from identity, role
//! and account-team. Each test runs on SQLite and on PostgreSQL.

use csm_types::roles;
use std::collections::BTreeSet;

use csm_proto::case_access as pb;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of, violated_fields};

use tonic::Code;

const CUSTOMER: &str = roles::CUSTOMER;
const CUSTOMER_ADMIN: &str = roles::CUSTOMER_ADMIN;
const AGENT: &str = roles::AGENT;
const CONSUMER_AGENT: &str = roles::CONSUMER_AGENT;
const SELF_CONTRIBUTOR: &str = roles::SELF_CONTRIBUTOR;

// ------------------------------------------------------------------ rules

backend_test!(r4_1_segment_follows_the_customer_fields, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT, CONSUMER_AGENT]).await;
    let b2b = create_case(suite, &agent, draft(pb::CreateFor::Account, &a, "")).await.unwrap();
    assert_eq!(b2b.support_case.unwrap().segment, pb::Segment::B2b as i32);
    let c = consumer(suite, "Cleo").await;
    let b2c = create_case(suite, &agent, draft(pb::CreateFor::Consumer, "", &c)).await.unwrap();
    assert_eq!(b2c.support_case.unwrap().segment, pb::Segment::B2c as i32);
    // B2B2C: account and consumer → B2B.
    let b2b2c = create_case(suite, &agent, draft(pb::CreateFor::Account, &a, &c)).await.unwrap();
    assert_eq!(b2b2c.support_case.unwrap().segment, pb::Segment::B2b as i32);
    // Fields inconsistent with the option: INVALID_ARGUMENT naming the field.
    let status = create_case(suite, &agent, draft(pb::CreateFor::Consumer, &a, &c)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["draft.account_id".to_owned()]);
});

backend_test!(t4_1_customer_reads_its_own_cases_only, |suite| {
    let a = account(suite, "Acme", None).await;
    let (k, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (_, colleague) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let created = create_case(suite, &customer, draft(pb::CreateFor::Account, &a, "")).await.unwrap();
    let case = created.support_case.unwrap();
    assert_eq!(case.contact_id, k.to_string(), "contact := me for a customer's own case");
    let decision = created.decision.unwrap();
    assert_eq!(decision.action, pb::Action::CreateSelf as i32);
    assert_eq!(decision.rule, "T4.1.customer");
    let read = check(suite, &customer, &case.case_id, pb::Action::Read).await;
    assert!(read.allowed);
    assert_eq!(read.rule, "T4.1.customer");
    assert!(check(suite, &customer, &case.case_id, pb::Action::WriteCustomer).await.allowed);
    assert!(!check(suite, &customer, &case.case_id, pb::Action::WriteFull).await.allowed);
    let denied = check(suite, &colleague, &case.case_id, pb::Action::Read).await;
    assert!(!denied.allowed);
    assert_eq!(denied.rule, "R2.20");
    let status = suite
        .case_access(Some(&colleague))
        .get_case(pb::GetCaseRequest { case_id: case.case_id.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "ACCESS_DENIED");
    // A customer cannot create for an account that is not its own (no CR yet).
    let other = account(suite, "Other", None).await;
    let status = create_case(suite, &customer, draft(pb::CreateFor::Account, &other, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

backend_test!(t4_1_customer_admin_sees_descendants_not_ancestors, |suite| {
    let parent = account(suite, "Holding", None).await;
    let own = account(suite, "Acme", Some(&parent)).await;
    let child = account(suite, "Acme Labs", Some(&own)).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let mut cases = Vec::new();
    for account in [&parent, &own, &child] {
        cases.push(
            create_case(suite, &agent, draft(pb::CreateFor::Account, account, ""))
                .await
                .unwrap()
                .support_case
                .unwrap()
                .case_id,
        );
    }
    let (_, admin) = contact(suite, &own, "Ada", &[CUSTOMER, CUSTOMER_ADMIN]).await;
    assert!(!check(suite, &admin, &cases[0], pb::Action::Read).await.allowed, "X5: no ancestors");
    for case in &cases[1..] {
        let decision = check(suite, &admin, case, pb::Action::Read).await;
        assert!(decision.allowed);
        assert_eq!(decision.rule, "T4.1.customer_admin");
        assert!(decision.path.iter().any(|step| step.kind == pb::PathStepKind::Account as i32));
    }
    let listed: BTreeSet<String> = visible(suite, &admin, 1).await.into_iter().collect();
    assert_eq!(listed, cases[1..].iter().cloned().collect());
});

backend_test!(r4_3_b2b_and_b2c_agents_are_partitioned, |suite| {
    let a = account(suite, "Acme", None).await;
    let c = consumer(suite, "Cleo").await;
    let (_, manager) = employee(suite, "Max", &[AGENT, CONSUMER_AGENT]).await;
    let (_, b2b_agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, b2c_agent) = employee(suite, "Cal", &[CONSUMER_AGENT]).await;
    let b2b = create_case(suite, &manager, draft(pb::CreateFor::Account, &a, ""))
        .await
        .unwrap()
        .support_case
        .unwrap()
        .case_id;
    let b2c = create_case(suite, &manager, draft(pb::CreateFor::Consumer, "", &c))
        .await
        .unwrap()
        .support_case
        .unwrap()
        .case_id;
    assert_eq!(check(suite, &b2b_agent, &b2b, pb::Action::WriteFull).await.rule, "T4.3.agent");
    let denied = check(suite, &b2b_agent, &b2c, pb::Action::Read).await;
    assert!(!denied.allowed);
    assert_eq!(denied.rule, "R4.3");
    assert_eq!(check(suite, &b2c_agent, &b2c, pb::Action::Read).await.rule, "T4.3.consumer_agent");
    assert_eq!(check(suite, &b2c_agent, &b2b, pb::Action::Read).await.rule, "R4.3");
    for case in [&b2b, &b2c] {
        assert!(check(suite, &manager, case, pb::Action::WriteFull).await.allowed);
    }
    assert_eq!(visible(suite, &b2b_agent, 100).await, vec![b2b.clone()]);
    assert_eq!(visible(suite, &b2c_agent, 100).await, vec![b2c.clone()]);
    assert_eq!(visible(suite, &manager, 100).await, vec![b2c, b2b], "newest first");
    // A B2B agent cannot create consumer cases.
    let status = create_case(suite, &b2b_agent, draft(pb::CreateFor::Consumer, "", &c)).await.unwrap_err();
    assert_eq!(reason_of(&status), "ACCESS_DENIED");
});

backend_test!(r4_14_self_contributor_creates_only_for_itself, |suite| {
    let a = account(suite, "Acme", None).await;
    let (me, contributor) = employee(suite, "Sam", &[SELF_CONTRIBUTOR]).await;
    let status = create_case(suite, &contributor, draft(pb::CreateFor::Account, &a, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let created = create_case(suite, &contributor, draft(pb::CreateFor::Myself, "", "")).await.unwrap();
    let case = created.support_case.unwrap();
    assert_eq!(case.segment, pb::Segment::Employee as i32);
    assert_eq!(case.requested_by_profile_id, me.to_string());
    assert_eq!(created.decision.unwrap().rule, "T4.4.self_contributor");
    assert!(check(suite, &contributor, &case.case_id, pb::Action::Read).await.allowed);
});

backend_test!(listing_agrees_with_checking_over_grpc, |suite| {
    let parent = account(suite, "Holding", None).await;
    let a = account(suite, "Acme", Some(&parent)).await;
    let b = account(suite, "Beta", None).await;
    let c = consumer(suite, "Cleo").await;
    let (_, manager) = employee(suite, "Max", &[AGENT, CONSUMER_AGENT]).await;
    let (_, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (_, admin) = contact(suite, &parent, "Ada", &[CUSTOMER, CUSTOMER_ADMIN]).await;
    let (_, b2c_agent) = employee(suite, "Cal", &[CONSUMER_AGENT]).await;
    let mut all = Vec::new();
    for (token, draft) in [
        (&manager, draft(pb::CreateFor::Account, &a, "")),
        (&manager, draft(pb::CreateFor::Account, &b, "")),
        (&manager, draft(pb::CreateFor::Consumer, "", &c)),
        (&customer, draft(pb::CreateFor::Account, &a, "")),
        (&admin, draft(pb::CreateFor::Account, &parent, "")),
        (&manager, draft(pb::CreateFor::Account, &parent, &c)),
    ] {
        all.push(create_case(suite, token, draft).await.unwrap().support_case.unwrap().case_id);
    }
    for token in [&manager, &customer, &admin, &b2c_agent] {
        let listed: BTreeSet<String> = visible(suite, token, 2).await.into_iter().collect();
        let mut allowed = BTreeSet::new();
        for case in &all {
            if check(suite, token, case, pb::Action::Read).await.allowed {
                allowed.insert(case.clone());
            }
        }
        assert_eq!(listed, allowed);
    }
});

backend_test!(case_access_rejects_bad_input_precisely, |suite| {
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let status = create_case(suite, &agent, pb::CaseDraft { account_id: "nope".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["draft.account_id".to_owned(), "draft.short_description".to_owned()]);
    let status = suite
        .case_access(Some(&agent))
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(uuid::Uuid::now_v7().to_string())) }),
            action: pb::Action::Read as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "CASE_NOT_FOUND");
    let status = suite
        .case_access(Some(&agent))
        .list_visible_cases(pb::ListVisibleCasesRequest { page_token: "garbage".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = suite
        .case_access(Some(&agent))
        .get_case(pb::GetCaseRequest {
            case_id: uuid::Uuid::now_v7().to_string(),
            consistency: Some(csm_proto::common::Consistency {
                requirement: Some(csm_proto::common::consistency::Requirement::AtLeastAsFresh("soon".to_owned())),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "INVALID_CONSISTENCY_TOKEN");
    // Evaluating another profile is for services (and admins, for reads) only.
    let (other, _) = employee(suite, "Oli", &[]).await;
    let status = suite
        .case_access(Some(&agent))
        .list_visible_cases(pb::ListVisibleCasesRequest { profile_id: other.to_string(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "PROFILE_OVERRIDE_FORBIDDEN");
});

async fn check_at(suite: &Suite, token: &str, case_id: &str, consistency_token: &str) -> pb::Decision {
    suite
        .case_access(Some(token))
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case_id.to_owned())) }),
            action: pb::Action::Read as i32,
            consistency: Some(csm_proto::common::Consistency {
                requirement: Some(csm_proto::common::consistency::Requirement::AtLeastAsFresh(
                    consistency_token.to_owned(),
                )),
            }),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap()
}

backend_test!(r2_21_a_revoke_token_never_lets_the_revoked_grant_allow, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, manager) = employee(suite, "Max", &[AGENT, CONSUMER_AGENT]).await;
    let case = create_case(suite, &manager, draft(pb::CreateFor::Account, &a, ""))
        .await
        .unwrap()
        .support_case
        .unwrap()
        .case_id;
    let (agent_profile, agent) = employee(suite, "Bea", &[AGENT]).await;
    let admin = suite.admin_token();
    // A burst of grants and revokes: every answer given at a mutation's token reflects that mutation.
    for round in 0..8 {
        // Warm the cache with an allowing context.
        assert!(check(suite, &agent, &case, pb::Action::Read).await.allowed, "round {round}");
        let revoked = suite
            .role(Some(&admin))
            .revoke_role(csm_proto::role::RevokeRoleRequest {
                profile_id: agent_profile.to_string(),
                role: AGENT.to_owned(),
            })
            .await
            .expect("revoke")
            .into_inner()
            .consistency_token;
        let decision = check_at(suite, &agent, &case, &revoked).await;
        assert!(!decision.allowed, "round {round}: the revoke's token must see the revoke");
        let granted = suite.assign_role(agent_profile, AGENT).await.unwrap();
        assert!(check_at(suite, &agent, &case, &granted).await.allowed, "round {round}: and the re-grant");
    }
    // Without a token the revoke is seen within R2.21's second.
    suite
        .role(Some(&admin))
        .revoke_role(csm_proto::role::RevokeRoleRequest {
            profile_id: agent_profile.to_string(),
            role: AGENT.to_owned(),
        })
        .await
        .expect("revoke");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        if !check(suite, &agent, &case, pb::Action::Read).await.allowed {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the revoke was not visible within a second");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
});

const PARTNER: &str = roles::PARTNER;
const PARTNER_ADMIN: &str = roles::PARTNER_ADMIN;

backend_test!(r4_5_partner_does_not_see_historic_cases, |suite| {
    let admin = suite.admin_token();
    let customer = account(suite, "Customer C", None).await;
    let partner = account_of_kind(suite, "Partner P", None, id_pb::AccountKind::Partner).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    // Day 1: a case for C, no partner fields.
    let historic =
        create_case(suite, &agent, draft(pb::CreateFor::Account, &customer, "")).await.unwrap().support_case.unwrap();
    assert!(historic.partner_account_id.is_empty());
    let (q, partner_contact) = contact(suite, &partner, "Quinn", &[PARTNER]).await;
    let (_, partner_admin) = contact(suite, &partner, "Pat", &[PARTNER_ADMIN]).await;
    // Before the relationship, the partner cannot create for C.
    let status = create_case(suite, &partner_contact, draft(pb::CreateFor::Account, &customer, "")).await.unwrap_err();
    assert_eq!(reason_of(&status), "ACCESS_DENIED");
    // Day 2: the partner relationship P→C (default partner type).
    suite
        .account_team(Some(&admin))
        .create_account_relationship(csm_proto::account_team::CreateAccountRelationshipRequest {
            request_id: String::new(),
            account_relationship: Some(csm_proto::account_team::AccountRelationship {
                from_account_id: partner.clone(),
                to_account_id: customer.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("partner relationship");
    // Day 3: Q creates a case for C; the partner fields are stamped.
    let created = create_case(suite, &partner_contact, draft(pb::CreateFor::Account, &customer, "")).await.unwrap();
    let stamped = created.support_case.unwrap();
    assert_eq!(created.decision.unwrap().rule, "T4.1.partner");
    assert_eq!(stamped.partner_account_id, partner);
    assert_eq!(stamped.partner_contact_id, q.to_string());
    let read = check(suite, &partner_admin, &stamped.case_id, pb::Action::Read).await;
    assert!(read.allowed);
    assert_eq!(read.rule, "T4.1.partner_admin");
    assert!(!check(suite, &partner_admin, &historic.case_id, pb::Action::Read).await.allowed, "R4.5");
    assert!(check(suite, &partner_contact, &stamped.case_id, pb::Action::Read).await.allowed);
    assert!(!check(suite, &partner_contact, &historic.case_id, pb::Action::Read).await.allowed, "R4.5");
    assert_eq!(visible(suite, &partner_admin, 100).await, vec![stamped.case_id.clone()]);
});

backend_test!(r3_7_contact_relationship_lets_a_customer_act_for_another_account, |suite| {
    let admin = suite.admin_token();
    let a = account(suite, "Acme", None).await;
    // R3.8: by default only contacts of the hierarchy (or related accounts) are eligible.
    let b = account(suite, "Acme Labs", Some(&a)).await;
    let (k, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let status = create_case(suite, &customer, draft(pb::CreateFor::Account, &b, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    suite
        .account_team(Some(&admin))
        .create_contact_relationship(csm_proto::account_team::CreateContactRelationshipRequest {
            request_id: String::new(),
            contact_relationship: Some(csm_proto::account_team::ContactRelationship {
                account_id: b.clone(),
                contact_id: k.to_string(),
                ..Default::default()
            }),
        })
        .await
        .expect("contact relationship");
    let created = create_case(suite, &customer, draft(pb::CreateFor::Account, &b, "")).await.unwrap();
    assert_eq!(created.decision.unwrap().action, pb::Action::CreateSelf as i32);
    assert_eq!(created.support_case.unwrap().account_id, b);
});

const CUSTOMER_CASE_MANAGER: &str = roles::CUSTOMER_CASE_MANAGER;

backend_test!(r3_7_a_contact_related_to_the_account_is_its_contact_when_creating_for_others, |suite| {
    let admin = suite.admin_token();
    let a = account(suite, "Acme", None).await;
    // R3.8: a contact relationship on Acme may add contacts of Acme's hierarchy.
    let b = account(suite, "Acme Labs", Some(&a)).await;
    let (l, _) = contact(suite, &b, "Lou", &[CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, customer_admin) = contact(suite, &a, "Ada", &[CUSTOMER_ADMIN]).await;
    let (_, case_manager) = contact(suite, &a, "Cam", &[CUSTOMER, CUSTOMER_CASE_MANAGER]).await;
    let for_a_with_lou = || {
        let mut draft = draft(pb::CreateFor::Account, &a, "");
        draft.contact_id = l.to_string();
        draft
    };
    // T4.3: an agent creates for an account with any contact (the same-account rule is T4.1's).
    let created = create_case(suite, &agent, for_a_with_lou()).await.expect("an agent picks any contact");
    let decision = created.decision.unwrap();
    assert_eq!((decision.action, decision.rule.as_str()), (pb::Action::CreateObo as i32, "T4.3.agent"));
    assert_eq!(created.support_case.unwrap().contact_id, l.to_string());
    // T4.1 customer_admin and customer_case_manager rows: Lou is not a contact of Acme yet.
    for creator in [&customer_admin, &case_manager] {
        let status = create_case(suite, creator, for_a_with_lou()).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert_eq!(reason_of(&status), "CONTACT_NOT_OF_ACCOUNT");
        // Check answers the same draft with a denial, not an error.
        let decision = suite
            .case_access(Some(creator))
            .check(pb::CheckRequest {
                target: Some(pb::Target { resource: Some(pb::target::Resource::NewCase(for_a_with_lou())) }),
                ..Default::default()
            })
            .await
            .expect("check a draft")
            .into_inner()
            .decision
            .unwrap();
        assert!(!decision.allowed);
        assert_eq!(decision.action, pb::Action::CreateObo as i32);
    }
    // R3.7: a contact relationship adds Lou to Acme as an additional account.
    suite
        .account_team(Some(&admin))
        .create_contact_relationship(csm_proto::account_team::CreateContactRelationshipRequest {
            request_id: String::new(),
            contact_relationship: Some(csm_proto::account_team::ContactRelationship {
                account_id: a.clone(),
                contact_id: l.to_string(),
                ..Default::default()
            }),
        })
        .await
        .expect("contact relationship");
    for (creator, rule) in [(&customer_admin, "T4.1.customer_admin"), (&case_manager, "T4.1.customer_case_manager")] {
        let created = create_case(suite, creator, for_a_with_lou()).await.expect("Lou is now a contact of Acme");
        let decision = created.decision.unwrap();
        assert_eq!((decision.action, decision.rule.as_str()), (pb::Action::CreateObo as i32, rule));
        let case = created.support_case.unwrap();
        assert_eq!((case.account_id, case.contact_id), (a.clone(), l.to_string()));
    }
});

backend_test!(create_case_retries_with_a_request_id_create_one_case, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (_, colleague) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let request = |token: String, request_id: &str| {
        let draft = draft(pb::CreateFor::Account, &a, "");
        let request_id = request_id.to_owned();
        async move {
            suite
                .case_access(Some(&token))
                .create_case(pb::CreateCaseRequest { request_id, draft: Some(draft), ..Default::default() })
                .await
                .map(|response| response.into_inner().support_case.unwrap().case_id)
        }
    };
    // Five concurrent retries of one request: one case.
    let retries: Vec<String> = futures::future::join_all((0..5).map(|_| request(customer.clone(), "create-1")))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(retries.iter().all(|id| *id == retries[0]), "{retries:?}");
    assert_eq!(visible(suite, &customer, 10).await, vec![retries[0].clone()]);
    // Another request id, or another person with the same id, is another case.
    let second = request(customer.clone(), "create-2").await.unwrap();
    assert_ne!(second, retries[0]);
    let theirs = request(colleague.clone(), "create-1").await.unwrap();
    assert_ne!(theirs, retries[0]);
    assert_eq!(visible(suite, &customer, 10).await.len(), 2);
});
