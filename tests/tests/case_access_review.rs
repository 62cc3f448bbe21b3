//! Access review (issue 13), the reverse of Check over real gRPC: who may act
//! on a case, and why. On random worlds, on SQLite and PostgreSQL, the
//! profiles ListCaseAccessors lists for a case and an action are exactly the
//! active profiles Check allows, each with the rule Check gives; and only an
//! admin may ask.

use std::collections::{BTreeMap, BTreeSet};

use csm_proto::case_access as pb;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of, violated_fields};
use csm_types::roles;
use tonic::Code;

/// A small deterministic generator (xorshift64*): one world per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize].clone()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const CONTACT_ROLES: &[&[&str]] = &[
    &[],
    &[roles::CUSTOMER],
    &[roles::CUSTOMER_ADMIN],
    &[roles::CUSTOMER_CASE_MANAGER],
    &[roles::CUSTOMER, roles::CUSTOMER_CASE_MANAGER],
];
const EMPLOYEE_ROLES: &[&[&str]] =
    &[&[], &[roles::AGENT], &[roles::MANAGER], &[roles::CONSUMER_AGENT], &[roles::AGENT, roles::CONSUMER_AGENT]];
const ACTIONS: &[pb::Action] =
    &[pb::Action::Read, pb::Action::WriteCustomer, pb::Action::WriteFull, pb::Action::Delete];

async fn accessors(
    suite: &Suite,
    token: &str,
    case_id: &str,
    action: pb::Action,
    page_size: i32,
) -> Vec<pb::CaseAccessor> {
    let mut found = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .case_access(Some(token))
            .list_case_accessors(pb::ListCaseAccessorsRequest {
                case_id: case_id.to_owned(),
                action: action as i32,
                page_size,
                page_token,
                consistency: None,
            })
            .await
            .expect("list case accessors")
            .into_inner();
        assert!(page.accessors.len() <= page_size as usize);
        assert!(page.profiles_examined as usize >= page.accessors.len());
        found.extend(page.accessors);
        if page.next_page_token.is_empty() {
            return found;
        }
        page_token = page.next_page_token;
    }
}

/// Every active profile of the suite, as an admin lists them.
async fn active_profiles(suite: &Suite) -> Vec<String> {
    let admin = suite.admin_token();
    let mut profiles = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .identity(Some(&admin))
            .list_profiles(id_pb::ListProfilesRequest { page_size: 1000, page_token, ..Default::default() })
            .await
            .expect("list profiles")
            .into_inner();
        profiles.extend(page.profiles.into_iter().map(|profile| profile.profile_id));
        if page.next_page_token.is_empty() {
            return profiles;
        }
        page_token = page.next_page_token;
    }
}

/// The decision Check gives `profile` (an admin names it, as the contract allows for reads).
async fn check_for(suite: &Suite, admin: &str, profile: &str, case_id: &str, action: pb::Action) -> pb::Decision {
    suite
        .case_access(Some(admin))
        .check(pb::CheckRequest {
            profile_id: profile.to_owned(),
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case_id.to_owned())) }),
            action: action as i32,
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap()
}

/// A random world: an account hierarchy, contacts and employees with random
/// roles, consumers, and cases of accounts (with random contacts) and of consumers.
async fn random_world(suite: &Suite, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let parent = account(suite, "Parent", None).await;
    let child = account(suite, "Child", Some(&parent)).await;
    let other = account(suite, "Other", None).await;
    let accounts = [parent, child, other];
    let mut contacts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for index in 0..6 {
        let account = rng.pick(&accounts);
        let roles = rng.pick(CONTACT_ROLES);
        let (profile, _) = contact(suite, &account, &format!("Contact{index}"), roles).await;
        contacts.entry(account).or_default().push(profile.to_string());
    }
    for index in 0..4 {
        let roles = rng.pick(EMPLOYEE_ROLES);
        employee(suite, &format!("Employee{index}"), roles).await;
    }
    let (_, agent) = employee(suite, "Creator", &[roles::AGENT, roles::CONSUMER_AGENT]).await;
    let mut consumers = Vec::new();
    for index in 0..2 {
        let (_, consumer, _) = consumer_user(suite, &format!("Consumer{index}"), &[roles::CONSUMER]).await;
        consumers.push(consumer);
    }
    let mut cases = Vec::new();
    for _ in 0..4 {
        let account = rng.pick(&accounts);
        let mut draft = draft(pb::CreateFor::Account, &account, "");
        if let Some(people) = contacts.get(&account)
            && rng.chance(70)
        {
            draft.contact_id = rng.pick(people);
        }
        cases.push(create_case(suite, &agent, draft).await.expect("create case").support_case.unwrap().case_id);
    }
    let consumer = rng.pick(&consumers);
    let draft = draft(pb::CreateFor::Consumer, "", &consumer);
    cases.push(create_case(suite, &agent, draft).await.expect("create consumer case").support_case.unwrap().case_id);
    cases
}

backend_test!(access_review_lists_exactly_the_profiles_check_allows, |suite| {
    let admin = suite.admin_token();
    let mut cases = Vec::new();
    for seed in [0x9E37_79B9_7F4A_7C15, 0xD1B5_4A32_D192_ED03] {
        cases.extend(random_world(suite, seed).await);
    }
    let profiles = active_profiles(suite).await;
    let mut listed_somewhere = 0;
    for case_id in &cases {
        for &action in ACTIONS {
            let listed = accessors(suite, &admin, case_id, action, 3).await;
            let by_profile: BTreeMap<String, pb::Decision> = listed
                .into_iter()
                .map(|accessor| (accessor.principal.unwrap().profile_id, accessor.decision.unwrap()))
                .collect();
            listed_somewhere += by_profile.len();
            for profile in &profiles {
                let checked = check_for(suite, &admin, profile, case_id, action).await;
                match by_profile.get(profile) {
                    Some(decision) => {
                        assert!(
                            checked.allowed,
                            "{profile} listed for {action:?} on {case_id} but Check denies: {checked:?}"
                        );
                        assert!(decision.allowed);
                        assert_eq!(decision.rule, checked.rule, "{profile} {action:?} {case_id}");
                        assert_eq!(decision.path, checked.path, "{profile} {action:?} {case_id}");
                        assert_eq!(decision.requires_license, checked.requires_license);
                    }
                    None => assert!(
                        !checked.allowed,
                        "{profile} not listed for {action:?} on {case_id} but Check allows: {checked:?}"
                    ),
                }
            }
            let known: BTreeSet<&String> = profiles.iter().collect();
            assert!(by_profile.keys().all(|profile| known.contains(profile)), "only active profiles are listed");
        }
    }
    assert!(listed_somewhere > cases.len(), "the worlds grant something beyond the admin");
});

backend_test!(access_review_is_for_admins_and_refuses_bad_questions, |suite| {
    let own = account(suite, "Acme", None).await;
    let (agent_profile, agent) = employee(suite, "Bea", &[roles::AGENT]).await;
    let (_, customer_admin) = contact(suite, &own, "Ada", &[roles::CUSTOMER_ADMIN]).await;
    let case_id = create_case(suite, &agent, draft(pb::CreateFor::Account, &own, "")).await.unwrap();
    let case_id = case_id.support_case.unwrap().case_id;
    let ask = |token: String, case_id: String, action: pb::Action| async move {
        suite
            .case_access(Some(&token))
            .list_case_accessors(pb::ListCaseAccessorsRequest { case_id, action: action as i32, ..Default::default() })
            .await
    };
    // An agent who may read the case may not ask who else may.
    let refused = ask(agent.clone(), case_id.clone(), pb::Action::Read).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&refused), "MISSING_ROLE");
    // A customer admin is refused too: the answer names profiles outside its accounts (R4.9).
    let refused = ask(customer_admin, case_id.clone(), pb::Action::Read).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // Bad questions are precise.
    let admin = suite.admin_token();
    let bad = ask(admin.clone(), "not-a-case".to_owned(), pb::Action::Read).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad), vec!["case_id".to_owned()]);
    let create = ask(admin.clone(), case_id.clone(), pb::Action::CreateSelf).await.unwrap_err();
    assert_eq!(create.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&create), "INVALID_ACTION_FOR_TARGET");
    let missing = ask(admin.clone(), csm_types::CaseId::new().to_string(), pb::Action::Read).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // The agent reads the case by T4.3, and says so.
    let listed = accessors(suite, &admin, &case_id, pb::Action::Read, 100).await;
    let agent_profile = agent_profile.to_string();
    let row = listed.iter().find(|accessor| accessor.principal.as_ref().unwrap().profile_id == agent_profile);
    assert_eq!(
        row.expect("the agent is listed").decision.as_ref().unwrap().rule,
        check(suite, &agent, &case_id, pb::Action::Read).await.rule
    );
});
