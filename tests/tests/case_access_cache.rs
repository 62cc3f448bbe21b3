//! The case cache and case-access's own change feed (DESIGN §3: "cases are
//! owned locally and cached read-through"; consistency tokens): a case write
//! is seen by the next check presenting its token — in the replica that wrote
//! it and in another replica on the same database — and settings written by
//! another replica are put in force when their change arrives. (No SPEC rule
//! covers caching: those tests are named `d3_…` after the DESIGN section.)
//! Mutations honour the token they present too (R2.21). Each test runs on
//! SQLite and on PostgreSQL.

use csm_proto::account_team as at_pb;
use csm_proto::case_access as pb;
use csm_proto::common;
use csm_tests::world::*;
use csm_tests::{backend_test, masked};
use csm_types::ServiceName;
use csm_types::roles;

const CUSTOMER: &str = roles::CUSTOMER;
const CUSTOMER_ADMIN: &str = roles::CUSTOMER_ADMIN;
const AGENT: &str = roles::AGENT;
const SELF_CONTRIBUTOR: &str = roles::SELF_CONTRIBUTOR;
const CASE_AUTHORIZED_CONTACT: &str = roles::CASE_AUTHORIZED_CONTACT;

fn at_least_as_fresh(token: &str) -> Option<common::Consistency> {
    Some(common::Consistency { requirement: Some(common::consistency::Requirement::AtLeastAsFresh(token.to_owned())) })
}

/// READ on `case` for `token`, asked of `client` (the suite's case-access or a replica's).
async fn read(
    client: &mut csm_proto::case_access::case_access_service_client::CaseAccessServiceClient<csm_tests::TestChannel>,
    case: &str,
    consistency: Option<common::Consistency>,
) -> bool {
    client
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case.to_owned())) }),
            action: pb::Action::Read as i32,
            consistency,
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap()
        .allowed
}

/// Moves `case` to `account` (UpdateCase, WRITE_FULL) and returns the write's token.
async fn move_case(
    client: &mut csm_proto::case_access::case_access_service_client::CaseAccessServiceClient<csm_tests::TestChannel>,
    case: &str,
    account: &str,
) -> String {
    let request = masked!(
        pb::UpdateCaseRequest {
            support_case: Some(pb::Case {
                case_id: case.to_owned(),
                account_id: account.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ["account_id"]
    );
    client.update_case(request).await.expect("update case").into_inner().consistency_token
}

backend_test!(d3_a_case_write_is_seen_by_the_next_check_with_its_token, |suite| {
    let a = account(suite, "Acme", None).await;
    let b = account(suite, "Beta", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, admin_of_b) = contact(suite, &b, "Bo", &[CUSTOMER_ADMIN]).await;
    let case = create_case(suite, &agent, draft(pb::CreateFor::Account, &a, "")).await.unwrap();
    let case = case.support_case.unwrap().case_id;
    let mut as_admin_of_b = suite.case_access(Some(&admin_of_b));
    // Denied twice: the second answer comes from the cached facts.
    assert!(!read(&mut as_admin_of_b, &case, None).await);
    assert!(!read(&mut as_admin_of_b, &case, None).await);

    // The case moves to B: the token of the write, and even no token in the
    // replica that wrote it (evicted before answering), see the new account.
    let token = move_case(&mut suite.case_access(Some(&agent)), &case, &b).await;
    assert!(token.starts_with("case-access:"), "{token}");
    assert!(read(&mut as_admin_of_b, &case, at_least_as_fresh(&token)).await);
    assert!(read(&mut as_admin_of_b, &case, None).await);
    let token = move_case(&mut suite.case_access(Some(&agent)), &case, &a).await;
    assert!(!read(&mut as_admin_of_b, &case, at_least_as_fresh(&token)).await);

    // A related party added to the case (R5.7) is seen with its token; removed, it is gone.
    let (kim, kim_token) = contact(suite, &a, "Kim", &[CUSTOMER, CASE_AUTHORIZED_CONTACT]).await;
    let mut as_kim = suite.case_access(Some(&kim_token));
    assert!(!read(&mut as_kim, &case, None).await);
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Authorized Contact").await;
    let added = suite
        .case_access(Some(&agent))
        .add_related_party(pb::AddRelatedPartyRequest {
            subject: Some(pb::add_related_party_request::Subject::CaseId(case.clone())),
            party_kind: pb::PartyKind::Contact as i32,
            party_id: kim.to_string(),
            related_party_configuration_id: authorized,
            ..Default::default()
        })
        .await
        .expect("add related party")
        .into_inner();
    assert!(read(&mut as_kim, &case, at_least_as_fresh(&added.consistency_token)).await);
    let removed = suite
        .case_access(Some(&agent))
        .remove_related_party(pb::RemoveRelatedPartyRequest {
            related_party_id: added.related_party.unwrap().related_party_id,
            ..Default::default()
        })
        .await
        .expect("remove related party")
        .into_inner();
    assert!(!read(&mut as_kim, &case, at_least_as_fresh(&removed.consistency_token)).await);
});

backend_test!(d3_another_replicas_writes_reach_this_replica_through_the_own_feed, |suite| {
    let replica = suite.start_replica(ServiceName::CaseAccess).await;
    let a = account(suite, "Acme", None).await;
    let b = account(suite, "Beta", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, admin_of_b) = contact(suite, &b, "Bo", &[CUSTOMER_ADMIN]).await;
    let case = create_case(suite, &agent, draft(pb::CreateFor::Account, &a, "")).await.unwrap();
    let case = case.support_case.unwrap().case_id;
    let mut here = suite.case_access(Some(&admin_of_b));
    assert!(!read(&mut here, &case, None).await);
    assert!(!read(&mut here, &case, None).await, "cached here");

    // A case write made by the other replica, presented to this one with its token.
    let token = move_case(&mut replica.case_access(Some(&agent)), &case, &b).await;
    assert!(read(&mut here, &case, at_least_as_fresh(&token)).await);
    assert!(read(&mut replica.case_access(Some(&admin_of_b)), &case, None).await, "the writer sees it at once");

    // Settings written by the other replica are put in force here (R4.3 note:
    // nonb2x_case_agents = NONE takes EMPLOYEE cases away from the agents).
    let (_, contributor) = employee(suite, "Sam", &[SELF_CONTRIBUTOR]).await;
    let own = create_case(suite, &contributor, draft(pb::CreateFor::Myself, "", "")).await.unwrap();
    let own = own.support_case.unwrap().case_id;
    let mut agent_here = suite.case_access(Some(&agent));
    assert!(read(&mut agent_here, &own, None).await, "BOTH by default");
    let admin = suite.admin_token();
    let request = pb::UpdateSettingsRequest {
        settings: Some(pb::Settings { nonb2x_case_agents: pb::NonB2xCaseAgents::None as i32, ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["nonb2x_case_agents".to_owned()] }),
    };
    let updated = replica.case_access(Some(&admin)).update_settings(request).await.expect("update settings");
    let token = updated.into_inner().consistency_token;
    assert!(!read(&mut agent_here, &own, at_least_as_fresh(&token)).await, "NONE in force here too");
    replica.stop().await;
});

// ------------------------------------------------------------------ R2.21 for mutations

backend_test!(r2_21_a_mutation_decides_at_least_as_fresh_as_the_token_it_presents, |suite| {
    let replica = suite.start_replica(ServiceName::CaseAccess).await;
    let admin = suite.admin_token();
    let a = account(suite, "Acme", None).await;
    let labs = account(suite, "Acme Labs", Some(&a)).await;
    let (kim, customer) = contact(suite, &labs, "Kim", &[CUSTOMER]).await;
    let create = |token: String, draft: pb::CaseDraft, consistency: Option<common::Consistency>| async move {
        suite
            .case_access(Some(&token))
            .create_case(pb::CreateCaseRequest { draft: Some(draft), consistency, ..Default::default() })
            .await
            .map(tonic::Response::into_inner)
    };
    // Kim's context is cached here without any contact relationship: Acme is not Kim's (R3.7).
    assert!(visible(suite, &customer, 10).await.is_empty());
    let status = create(customer.clone(), draft(pb::CreateFor::Account, &a, ""), None).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    // Create the relationship, then the case that depends on it, presenting the relationship's token.
    let relationship = suite
        .account_team(Some(&admin))
        .create_contact_relationship(at_pb::CreateContactRelationshipRequest {
            request_id: String::new(),
            contact_relationship: Some(at_pb::ContactRelationship {
                account_id: a.clone(),
                contact_id: kim.to_string(),
                ..Default::default()
            }),
        })
        .await
        .expect("contact relationship")
        .into_inner()
        .consistency_token;
    let created = create(customer.clone(), draft(pb::CreateFor::Account, &a, ""), at_least_as_fresh(&relationship))
        .await
        .expect("the relationship's token sees the relationship");
    assert_eq!(created.support_case.unwrap().account_id, a);

    // A case-access token from another replica: its settings are in force here before the write
    // is decided (R4.3 note: nonb2x_case_agents = NONE takes EMPLOYEE cases away from the agents).
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (_, contributor) = employee(suite, "Sam", &[SELF_CONTRIBUTOR]).await;
    let own = create(contributor, draft(pb::CreateFor::Myself, "", ""), None).await.unwrap();
    let own = own.support_case.unwrap().case_id;
    let settings = replica
        .case_access(Some(&admin))
        .update_settings(pb::UpdateSettingsRequest {
            settings: Some(pb::Settings {
                nonb2x_case_agents: pb::NonB2xCaseAgents::None as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["nonb2x_case_agents".to_owned()] }),
        })
        .await
        .expect("update settings on the other replica")
        .into_inner()
        .consistency_token;
    let mut reprioritize = masked!(
        pb::UpdateCaseRequest {
            support_case: Some(pb::Case {
                case_id: own.clone(),
                priority: pb::Priority::High as i32,
                ..Default::default()
            }),
            ..Default::default()
        },
        ["priority"]
    );
    reprioritize.consistency = at_least_as_fresh(&settings);
    let status = suite.case_access(Some(&agent)).update_case(reprioritize.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert_eq!(csm_tests::reason_of(&status), "ACCESS_DENIED");

    // fully_consistent is accepted; a malformed token is the caller's mistake, named by field.
    reprioritize.consistency =
        Some(common::Consistency { requirement: Some(common::consistency::Requirement::FullyConsistent(true)) });
    let status = suite.case_access(Some(&agent)).update_case(reprioritize.clone()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    reprioritize.consistency = at_least_as_fresh("not-a-token");
    let status = suite.case_access(Some(&agent)).update_case(reprioritize).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(csm_tests::reason_of(&status), "INVALID_CONSISTENCY_TOKEN");
    let status =
        create(customer, draft(pb::CreateFor::Account, &a, ""), at_least_as_fresh("not-a-token")).await.unwrap_err();
    assert_eq!(csm_tests::reason_of(&status), "INVALID_CONSISTENCY_TOKEN");
    replica.stop().await;
});
