//! The consumer rows of SPEC §4.2 (own cases, head of household, authorized
//! representative) and the account / consumer contributor rows of §4.4, over
//! real gRPC, on SQLite and PostgreSQL.

use csm_proto::account_team as at_pb;
use csm_proto::case_access as pb;
use csm_proto::common;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test};
use csm_types::roles;

const CONSUMER: &str = roles::CONSUMER;
const CONSUMER_AGENT: &str = roles::CONSUMER_AGENT;
const ACCOUNT_CONTRIBUTOR: &str = roles::ACCOUNT_CONTRIBUTOR;
const CONSUMER_CONTRIBUTOR: &str = roles::CONSUMER_CONTRIBUTOR;
const SERVICE_ORGANIZATION_CONTRIBUTOR: &str = roles::SERVICE_ORGANIZATION_CONTRIBUTOR;
/// The seeded "Authorized Representative" responsibility (account-team migration 0100).
const AUTHORIZED_REPRESENTATIVE: &str = "a7000000-0000-4000-8000-000000000007";

/// A check that first waits for the given write to be applied (R2.21).
async fn check_after(suite: &Suite, token: &str, case_id: &str, action: pb::Action, after: &str) -> pb::Decision {
    suite
        .case_access(Some(token))
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case_id.to_owned())) }),
            action: action as i32,
            consistency: Some(common::Consistency {
                requirement: Some(common::consistency::Requirement::AtLeastAsFresh(after.to_owned())),
            }),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap()
}

async fn consumer_case(suite: &Suite, agent: &str, consumer: &str) -> String {
    create_case(suite, agent, draft(pb::CreateFor::Consumer, "", consumer)).await.unwrap().support_case.unwrap().case_id
}

backend_test!(t4_2_consumer_reads_and_creates_its_own_cases, |suite| {
    let (_, kim_consumer, kim) = consumer_user(suite, "Kim", &[CONSUMER]).await;
    let (_, agent) = employee(suite, "Cal", &[CONSUMER_AGENT]).await;
    let other = consumer(suite, "Lou").await;
    let created = create_case(suite, &kim, draft(pb::CreateFor::Consumer, "", "")).await.unwrap();
    let decision = created.decision.unwrap();
    assert_eq!((decision.action, decision.rule.as_str()), (pb::Action::CreateSelf as i32, "T4.2.consumer"));
    let own = created.support_case.unwrap();
    assert_eq!(own.consumer_id, kim_consumer, "consumer := me");
    let by_agent = consumer_case(suite, &agent, &kim_consumer).await;
    let foreign = consumer_case(suite, &agent, &other).await;
    for case in [&own.case_id, &by_agent] {
        let read = check(suite, &kim, case, pb::Action::Read).await;
        assert!(read.allowed);
        assert_eq!(read.rule, "T4.2.consumer");
        assert!(check(suite, &kim, case, pb::Action::WriteCustomer).await.allowed);
        assert!(!check(suite, &kim, case, pb::Action::WriteFull).await.allowed);
    }
    assert!(!check(suite, &kim, &foreign, pb::Action::Read).await.allowed);
    // It cannot create for another consumer.
    assert!(create_case(suite, &kim, draft(pb::CreateFor::Consumer, "", &other)).await.is_err());
});

backend_test!(t4_2_head_of_household_reads_current_members_cases, |suite| {
    let admin = suite.admin_token();
    let (_, head_consumer, head) = consumer_user(suite, "Hana", &[CONSUMER]).await;
    let member = consumer(suite, "Mo").await;
    let outsider = consumer(suite, "Oz").await;
    let (_, agent) = employee(suite, "Cal", &[CONSUMER_AGENT]).await;
    let household = suite
        .identity(Some(&admin))
        .create_household(id_pb::CreateHouseholdRequest {
            request_id: String::new(),
            name: "Hana's".to_owned(),
            head_consumer_id: head_consumer.clone(),
        })
        .await
        .expect("household")
        .into_inner()
        .household
        .unwrap()
        .household_id;
    let joined = suite
        .identity(Some(&admin))
        .set_household_membership(id_pb::SetHouseholdMembershipRequest {
            household_id: household.clone(),
            consumer_id: member.clone(),
            status: id_pb::HouseholdMemberStatus::Current as i32,
        })
        .await
        .expect("join")
        .into_inner()
        .consistency_token;
    let member_case = consumer_case(suite, &agent, &member).await;
    let outsider_case = consumer_case(suite, &agent, &outsider).await;
    let read = check_after(suite, &head, &member_case, pb::Action::Read, &joined).await;
    assert!(read.allowed, "{read:?}");
    assert_eq!(read.rule, "T4.2.head_of_household");
    assert!(read.path.iter().any(|step| step.kind == pb::PathStepKind::Household as i32));
    assert!(!check(suite, &head, &outsider_case, pb::Action::Read).await.allowed);
    // The head creates on behalf of a current member.
    let obo = create_case(suite, &head, draft(pb::CreateFor::Consumer, "", &member)).await.unwrap();
    assert_eq!(obo.decision.unwrap().rule, "T4.2.head_of_household");
    // A former member's cases are no longer the head's (R4.11).
    let left = suite
        .identity(Some(&admin))
        .set_household_membership(id_pb::SetHouseholdMembershipRequest {
            household_id: household,
            consumer_id: member.clone(),
            status: id_pb::HouseholdMemberStatus::Former as i32,
        })
        .await
        .expect("leave")
        .into_inner()
        .consistency_token;
    assert!(!check_after(suite, &head, &member_case, pb::Action::Read, &left).await.allowed);
});

backend_test!(t4_2_authorized_representative_acts_for_the_represented_consumer, |suite| {
    let admin = suite.admin_token();
    let (_, rep_consumer, rep) = consumer_user(suite, "Rae", &[CONSUMER]).await;
    let represented = consumer(suite, "Pip").await;
    let unrelated = consumer(suite, "Uma").await;
    let (_, agent) = employee(suite, "Cal", &[CONSUMER_AGENT]).await;
    let case = consumer_case(suite, &agent, &represented).await;
    let other = consumer_case(suite, &agent, &unrelated).await;
    assert!(!check(suite, &rep, &case, pb::Action::Read).await.allowed);
    let related = suite
        .account_team(Some(&admin))
        .create_consumer_relationship(at_pb::CreateConsumerRelationshipRequest {
            request_id: String::new(),
            consumer_relationship: Some(at_pb::ConsumerRelationship {
                consumer_id: represented.clone(),
                related_consumer_id: rep_consumer,
                responsibility_id: AUTHORIZED_REPRESENTATIVE.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect("consumer relationship")
        .into_inner()
        .consistency_token;
    let read = check_after(suite, &rep, &case, pb::Action::Read, &related).await;
    assert!(read.allowed, "{read:?}");
    assert_eq!(read.rule, "T4.2.authorized_representative");
    assert!(check(suite, &rep, &case, pb::Action::WriteCustomer).await.allowed);
    assert!(!check(suite, &rep, &other, pb::Action::Read).await.allowed);
    let obo = create_case(suite, &rep, draft(pb::CreateFor::Consumer, "", &represented)).await.unwrap();
    assert_eq!(obo.decision.unwrap().rule, "T4.2.authorized_representative");
    assert!(create_case(suite, &rep, draft(pb::CreateFor::Consumer, "", &unrelated)).await.is_err());
});

backend_test!(t4_4_account_and_consumer_contributors_read_the_cases_they_created, |suite| {
    let acme = account(suite, "Acme", None).await;
    let cleo = consumer(suite, "Cleo").await;
    let (_, account_contributor) = employee(suite, "Abe", &[ACCOUNT_CONTRIBUTOR]).await;
    let (_, consumer_contributor) = employee(suite, "Coe", &[CONSUMER_CONTRIBUTOR]).await;
    let (_, agent) = employee(suite, "Bea", &[roles::AGENT, CONSUMER_AGENT]).await;
    // Each creates on behalf of its kind of customer only.
    let created = create_case(suite, &account_contributor, draft(pb::CreateFor::Account, &acme, "")).await.unwrap();
    assert_eq!(created.decision.unwrap().rule, "T4.4.account_contributor");
    let by_account_contributor = created.support_case.unwrap().case_id;
    assert!(create_case(suite, &account_contributor, draft(pb::CreateFor::Consumer, "", &cleo)).await.is_err());
    let created = create_case(suite, &consumer_contributor, draft(pb::CreateFor::Consumer, "", &cleo)).await.unwrap();
    assert_eq!(created.decision.unwrap().rule, "T4.4.consumer_contributor");
    let by_consumer_contributor = created.support_case.unwrap().case_id;
    assert!(create_case(suite, &consumer_contributor, draft(pb::CreateFor::Account, &acme, "")).await.is_err());
    // They read what they created, not the same customers' other cases.
    let read = check(suite, &account_contributor, &by_account_contributor, pb::Action::Read).await;
    assert_eq!(read.rule, "T4.4.account_contributor");
    assert!(check(suite, &consumer_contributor, &by_consumer_contributor, pb::Action::Read).await.allowed);
    let agents_case = create_case(suite, &agent, draft(pb::CreateFor::Account, &acme, "")).await.unwrap();
    let agents_case = agents_case.support_case.unwrap().case_id;
    assert!(!check(suite, &account_contributor, &agents_case, pb::Action::Read).await.allowed);
    assert!(!check(suite, &account_contributor, &by_consumer_contributor, pb::Action::Read).await.allowed);
    // No agent edit.
    assert!(!check(suite, &account_contributor, &by_account_contributor, pb::Action::WriteFull).await.allowed);
    assert_eq!(visible(suite, &account_contributor, 10).await, vec![by_account_contributor]);
});

backend_test!(t4_4_service_organization_contributor_reads_all_cases_of_its_business_locations, |suite| {
    // [INTERP] A contributor's service organization is its own account; the
    // organization's business locations are that account and the accounts below it.
    let org = account(suite, "Fixit Services", None).await;
    let branch = account(suite, "Fixit North", Some(&org)).await;
    let other = account(suite, "Other Services", None).await;
    let (_, sam) = contact(suite, &org, "Sam", &[SERVICE_ORGANIZATION_CONTRIBUTOR]).await;
    let (_, tia) = contact(suite, &branch, "Tia", &[SERVICE_ORGANIZATION_CONTRIBUTOR]).await;
    let (_, oli) = contact(suite, &other, "Oli", &[SERVICE_ORGANIZATION_CONTRIBUTOR]).await;
    let for_location = |location: &str| pb::CaseDraft {
        create_for: pb::CreateFor::BusinessLocation as i32,
        short_description: "Boiler down".to_owned(),
        requestor_organization_id: location.to_owned(),
        ..Default::default()
    };
    // On behalf of its own business locations only.
    let created = create_case(suite, &sam, for_location(&branch)).await.unwrap();
    assert_eq!(created.decision.unwrap().rule, "T4.4.service_organization_contributor");
    let sams = created.support_case.unwrap().case_id;
    assert!(create_case(suite, &sam, for_location(&other)).await.is_err());
    assert!(create_case(suite, &tia, for_location(&org)).await.is_err(), "the parent is not Tia's location");
    let tias = create_case(suite, &tia, for_location(&branch)).await.unwrap().support_case.unwrap().case_id;
    // Every case of its locations, not only its own.
    let read = check(suite, &tia, &sams, pb::Action::Read).await;
    assert!(read.allowed, "{read:?}");
    assert_eq!(read.rule, "T4.4.service_organization_contributor");
    assert!(check(suite, &sam, &tias, pb::Action::Read).await.allowed, "the branch is one of Sam's locations");
    assert!(check(suite, &tia, &sams, pb::Action::WriteCustomer).await.allowed);
    assert!(!check(suite, &tia, &sams, pb::Action::WriteFull).await.allowed, "no agent edit");
    assert!(!check(suite, &oli, &sams, pb::Action::Read).await.allowed);
    // The list agrees with the checks.
    let mut listed = visible(suite, &tia, 10).await;
    listed.sort();
    let mut expected = vec![sams.clone(), tias.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(visible(suite, &oli, 10).await.is_empty());
});
