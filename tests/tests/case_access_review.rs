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

// ------------------------------------------------------------------ what if (PreviewAccessChange)

fn fresh() -> Option<csm_proto::common::Consistency> {
    Some(csm_proto::common::Consistency {
        requirement: Some(csm_proto::common::consistency::Requirement::FullyConsistent(true)),
    })
}

/// Every case `token`'s profile may read, read through (no cache).
async fn visible_now(suite: &Suite, token: &str) -> BTreeSet<String> {
    visible_at(suite, token, 1000, fresh()).await.into_iter().collect()
}

/// Every page of a preview (pages of two, so paging is exercised).
async fn preview(
    suite: &Suite,
    token: &str,
    profile: &str,
    change: pb::ProposedAccessChange,
) -> Result<(Vec<pb::CaseAccessChange>, Vec<String>), tonic::Status> {
    let (mut changes, mut roles_gained) = (Vec::new(), Vec::new());
    let mut page_token = String::new();
    loop {
        let page = suite
            .case_access(Some(token))
            .preview_access_change(pb::PreviewAccessChangeRequest {
                profile_id: profile.to_owned(),
                change: Some(change.clone()),
                page_size: 2,
                page_token,
            })
            .await?
            .into_inner();
        assert!(page.changes.len() <= 2);
        changes.extend(page.changes);
        roles_gained.extend(page.roles_gained);
        if page.next_page_token.is_empty() {
            return Ok((changes, roles_gained));
        }
        page_token = page.next_page_token;
    }
}

/// Previews `change` for `profile`, then `apply` really makes it: the preview
/// must name exactly the cases ListVisibleCases gains and loses.
async fn preview_then_apply<F, Fut>(
    suite: &Suite,
    profile: &str,
    token: &str,
    change: pb::ProposedAccessChange,
    apply: F,
) -> (BTreeSet<String>, BTreeSet<String>, Vec<String>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let admin = suite.admin_token();
    let before = visible_now(suite, token).await;
    let (changes, roles_gained) = preview(suite, &admin, profile, change.clone()).await.expect("preview");
    apply().await;
    let after = visible_now(suite, token).await;
    let mut previewed_gained = BTreeSet::new();
    let mut previewed_lost = BTreeSet::new();
    for row in &changes {
        let (was, will) = (row.before.as_ref().unwrap(), row.after.as_ref().unwrap());
        assert_eq!(was.allowed, !row.gained, "{row:?}");
        assert_eq!(will.allowed, row.gained, "{row:?}");
        if row.gained {
            assert!(!will.rule.is_empty(), "a gain names the rule that grants it");
            previewed_gained.insert(row.case_id.clone());
        } else {
            previewed_lost.insert(row.case_id.clone());
        }
    }
    let gained: BTreeSet<String> = after.difference(&before).cloned().collect();
    let lost: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert_eq!(previewed_gained, gained, "gained cases of {change:?}");
    assert_eq!(previewed_lost, lost, "lost cases of {change:?}");
    assert_eq!(changes.len(), gained.len() + lost.len(), "each case once");
    (gained, lost, roles_gained)
}

backend_test!(access_preview_names_the_cases_a_change_gains_or_loses_as_applying_it_does, |suite| {
    let admin = suite.admin_token();
    // Beta is Acme's parent: Kim (of Acme) may be related to it (R3.8), but
    // Beta is not below her account, so only the relationship reaches it.
    let beta = account(suite, "Beta", None).await;
    let acme = account(suite, "Acme", Some(&beta)).await;
    let labs = account(suite, "Acme Labs", Some(&acme)).await;
    let (kim, kim_token) = contact(suite, &acme, "Kim", &[roles::CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[roles::AGENT, roles::CONSUMER_AGENT]).await;
    let (eve, eve_token) = employee(suite, "Eve", &[]).await;
    let (zoe_profile, zoe, zoe_token) = consumer_user(suite, "Zoe", &[roles::CASE_AUTHORIZED_CONSUMER]).await;
    let zoe_profile = zoe_profile.to_string();
    for (account_id, with_kim) in [(&acme, true), (&acme, false), (&labs, false), (&beta, false), (&beta, false)] {
        let mut draft = draft(pb::CreateFor::Account, account_id, "");
        if with_kim {
            draft.contact_id = kim.to_string();
        }
        create_case(suite, &agent, draft).await.expect("case");
    }
    let yara = consumer(suite, "Yara").await;
    let b2c = create_case(suite, &agent, draft(pb::CreateFor::Consumer, "", &yara)).await.expect("b2c case");
    let b2c = b2c.support_case.unwrap().case_id;

    // A role: Kim becomes customer_admin — the cases of Acme's hierarchy.
    let change =
        pb::ProposedAccessChange { assign_roles: vec![roles::CUSTOMER_ADMIN.to_owned()], ..Default::default() };
    let (gained, lost, roles_gained) = preview_then_apply(suite, &kim.to_string(), &kim_token, change, || async {
        suite.assign_role(kim, roles::CUSTOMER_ADMIN).await.expect("assign");
    })
    .await;
    assert_eq!((gained.len(), lost.len()), (2, 0), "Acme's other case and Acme Labs' case");
    assert!(roles_gained.contains(&roles::CUSTOMER_ADMIN.to_owned()), "{roles_gained:?}");

    // A relationship: a contact relationship adds Beta to Kim's scope (R3.7).
    let change =
        pb::ProposedAccessChange { add_contact_relationship_account_ids: vec![beta.clone()], ..Default::default() };
    let (gained, _, _) = preview_then_apply(suite, &kim.to_string(), &kim_token, change, || async {
        suite
            .account_team(Some(&admin))
            .create_contact_relationship(csm_proto::account_team::CreateContactRelationshipRequest {
                request_id: String::new(),
                contact_relationship: Some(csm_proto::account_team::ContactRelationship {
                    account_id: beta.clone(),
                    contact_id: kim.to_string(),
                    ..Default::default()
                }),
            })
            .await
            .expect("contact relationship");
    })
    .await;
    assert_eq!(gained.len(), 2, "Beta's cases");

    // A role removed: without customer_admin Kim keeps only her own case.
    let change =
        pb::ProposedAccessChange { revoke_roles: vec![roles::CUSTOMER_ADMIN.to_owned()], ..Default::default() };
    let (_, lost, _) = preview_then_apply(suite, &kim.to_string(), &kim_token, change, || async {
        suite
            .role(Some(&admin))
            .revoke_role(csm_proto::role::RevokeRoleRequest {
                profile_id: kim.to_string(),
                role: roles::CUSTOMER_ADMIN.to_owned(),
            })
            .await
            .expect("revoke");
    })
    .await;
    assert_eq!(lost.len(), 4);

    // A group membership: Eve joins a group that holds agent.
    let group = suite
        .role(Some(&admin))
        .create_group(csm_proto::role::CreateGroupRequest {
            name: "Desk".to_owned(),
            kind: csm_proto::role::GroupKind::AssignmentGroup as i32,
            ..Default::default()
        })
        .await
        .expect("group")
        .into_inner()
        .group
        .unwrap()
        .group_id;
    suite
        .role(Some(&admin))
        .add_group_role(csm_proto::role::AddGroupRoleRequest {
            group_id: group.clone(),
            role: roles::AGENT.to_owned(),
            ..Default::default()
        })
        .await
        .expect("group role");
    let change = pb::ProposedAccessChange { join_group_ids: vec![group.clone()], ..Default::default() };
    let (gained, _, roles_gained) = preview_then_apply(suite, &eve.to_string(), &eve_token, change, || async {
        suite
            .role(Some(&admin))
            .add_group_member(csm_proto::role::AddGroupMemberRequest {
                group_id: group.clone(),
                profile_id: eve.to_string(),
                ..Default::default()
            })
            .await
            .expect("join");
    })
    .await;
    assert!(gained.len() >= 5, "an agent reads the B2B cases: {gained:?}");
    assert!(roles_gained.contains(&roles::AGENT.to_owned()));

    // A related party: Zoe as Authorized Consumer on Yara's case (R5.7), then removed.
    let authorized =
        related_party_type_id(suite, csm_proto::account_team::RecordTable::Case, "Authorized Consumer").await;
    let change = pb::ProposedAccessChange {
        add_related_parties: vec![pb::ProposedRelatedParty {
            case_id: b2c.clone(),
            party_kind: pb::PartyKind::Consumer as i32,
            party_id: zoe.clone(),
            related_party_configuration_id: authorized.clone(),
        }],
        ..Default::default()
    };
    let party = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (gained, _, _) = preview_then_apply(suite, &zoe_profile, &zoe_token, change, || async {
        let added = suite
            .case_access(Some(&agent))
            .add_related_party(pb::AddRelatedPartyRequest {
                subject: Some(pb::add_related_party_request::Subject::CaseId(b2c.clone())),
                party_kind: pb::PartyKind::Consumer as i32,
                party_id: zoe.clone(),
                related_party_configuration_id: authorized.clone(),
                ..Default::default()
            })
            .await
            .expect("related party")
            .into_inner();
        *party.lock().unwrap() = added.related_party.unwrap().related_party_id;
    })
    .await;
    assert_eq!(gained, BTreeSet::from([b2c.clone()]));
    let party = party.lock().unwrap().clone();
    let change = pb::ProposedAccessChange { remove_related_party_ids: vec![party.clone()], ..Default::default() };
    let (_, lost, _) = preview_then_apply(suite, &zoe_profile, &zoe_token, change, || async {
        suite
            .case_access(Some(&agent))
            .remove_related_party(pb::RemoveRelatedPartyRequest {
                related_party_id: party.clone(),
                ..Default::default()
            })
            .await
            .expect("remove related party");
    })
    .await;
    assert_eq!(lost, BTreeSet::from([b2c]));
});

backend_test!(access_preview_is_for_admins_and_refuses_bad_changes, |suite| {
    let admin = suite.admin_token();
    let acme = account(suite, "Acme", None).await;
    let (kim, _) = contact(suite, &acme, "Kim", &[roles::CUSTOMER]).await;
    let (_, agent) = employee(suite, "Bea", &[roles::AGENT]).await;
    let kim = kim.to_string();
    let ask = |token: String, profile: String, change: Option<pb::ProposedAccessChange>| async move {
        suite
            .case_access(Some(&token))
            .preview_access_change(pb::PreviewAccessChangeRequest { profile_id: profile, change, ..Default::default() })
            .await
    };
    let role = |name: &str| pb::ProposedAccessChange { assign_roles: vec![name.to_owned()], ..Default::default() };
    // Only an admin previews.
    let refused = ask(agent, kim.clone(), Some(role(roles::CUSTOMER_ADMIN))).await.unwrap_err();
    assert_eq!((refused.code(), reason_of(&refused).as_str()), (Code::PermissionDenied, "MISSING_ROLE"));
    // An empty change, a bad id, a list too long: INVALID_ARGUMENT on the field.
    let empty = ask(admin.clone(), kim.clone(), Some(pb::ProposedAccessChange::default())).await.unwrap_err();
    assert_eq!((empty.code(), violated_fields(&empty)), (Code::InvalidArgument, vec!["change".to_owned()]));
    let missing = ask(admin.clone(), kim.clone(), None).await.unwrap_err();
    assert_eq!(violated_fields(&missing), vec!["change".to_owned()]);
    let bad_group = pb::ProposedAccessChange { join_group_ids: vec!["nope".to_owned()], ..Default::default() };
    let bad = ask(admin.clone(), kim.clone(), Some(bad_group)).await.unwrap_err();
    assert_eq!(
        (bad.code(), violated_fields(&bad)),
        (Code::InvalidArgument, vec!["change.join_group_ids[0]".to_owned()])
    );
    let many = pb::ProposedAccessChange { assign_roles: vec![roles::CUSTOMER.to_owned(); 101], ..Default::default() };
    let long = ask(admin.clone(), kim.clone(), Some(many)).await.unwrap_err();
    assert_eq!(violated_fields(&long), vec!["change.assign_roles".to_owned()]);
    let bad_profile = ask(admin.clone(), "me".to_owned(), Some(role(roles::CUSTOMER))).await.unwrap_err();
    assert_eq!(violated_fields(&bad_profile), vec!["profile_id".to_owned()]);
    // Things that do not exist, or that the profile does not hold: NOT_FOUND.
    let unknown_role = ask(admin.clone(), kim.clone(), Some(role("no_such_role"))).await.unwrap_err();
    assert_eq!(unknown_role.code(), Code::NotFound, "{unknown_role:?}");
    let not_held = pb::ProposedAccessChange { revoke_roles: vec![roles::AGENT.to_owned()], ..Default::default() };
    assert_eq!(ask(admin.clone(), kim.clone(), Some(not_held)).await.unwrap_err().code(), Code::NotFound);
    let no_relationship =
        pb::ProposedAccessChange { remove_contact_relationship_account_ids: vec![acme.clone()], ..Default::default() };
    let status = ask(admin.clone(), kim.clone(), Some(no_relationship)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(violated_fields(&status), Vec::<String>::new());
    let unknown_profile = ask(admin.clone(), csm_types::ProfileId::new().to_string(), Some(role(roles::CUSTOMER)));
    assert_eq!(unknown_profile.await.unwrap_err().code(), Code::NotFound);
    let no_party = pb::ProposedAccessChange {
        remove_related_party_ids: vec![uuid::Uuid::now_v7().to_string()],
        ..Default::default()
    };
    assert_eq!(ask(admin.clone(), kim.clone(), Some(no_party)).await.unwrap_err().code(), Code::NotFound);
    let no_case = pb::ProposedAccessChange {
        add_related_parties: vec![pb::ProposedRelatedParty {
            case_id: csm_types::CaseId::new().to_string(),
            party_kind: pb::PartyKind::Contact as i32,
            party_id: kim.clone(),
            related_party_configuration_id: related_party_type_id(
                suite,
                csm_proto::account_team::RecordTable::Case,
                "Authorized Consumer",
            )
            .await,
        }],
        ..Default::default()
    };
    assert_eq!(ask(admin.clone(), kim.clone(), Some(no_case)).await.unwrap_err().code(), Code::NotFound);
    // A preview writes nothing: Kim still holds only what she held.
    assert!(!suite.effective_roles(kim.parse().unwrap()).await.contains(&roles::CUSTOMER_ADMIN.to_owned()));
    let ok = ask(admin, kim.clone(), Some(role(roles::CUSTOMER_ADMIN))).await.expect("preview").into_inner();
    assert!(ok.roles_gained.contains(&roles::CUSTOMER_ADMIN.to_owned()));
    assert!(!suite.effective_roles(kim.parse().unwrap()).await.contains(&roles::CUSTOMER_ADMIN.to_owned()));
});

// ------------------------------------------------------------------ export (ExportAccessReview)

/// Every row of an export, and the last progress message.
async fn export(suite: &Suite, token: &str, account: &str) -> (Vec<pb::AccessReviewRow>, pb::AccessReviewProgress) {
    let mut stream = suite
        .case_access(Some(token))
        .export_access_review(pb::ExportAccessReviewRequest { account_id: account.to_owned() })
        .await
        .expect("export")
        .into_inner();
    let (mut rows, mut progress) = (Vec::new(), pb::AccessReviewProgress::default());
    while let Some(message) = stream.message().await.expect("export message") {
        match message.item.expect("an item") {
            pb::export_access_review_response::Item::Row(row) => rows.push(row),
            pb::export_access_review_response::Item::Progress(last) => {
                assert!(last.profiles_done > progress.profiles_done, "progress only grows");
                assert_eq!(last.rows as usize, rows.len(), "progress counts the rows streamed");
                progress = last;
            }
        }
    }
    (rows, progress)
}

backend_test!(access_review_export_streams_who_reads_which_case_as_check_decides, |suite| {
    let admin = suite.admin_token();
    let cases = random_world(suite, 0xA076_1D64_78BD_642F).await;
    let profiles = active_profiles(suite).await;
    // The whole suite: exactly ListCaseAccessors(READ) of every case, with the same rule and path.
    let (rows, progress) = export(suite, &admin, "").await;
    assert_eq!(progress.profiles_done as usize, profiles.len(), "every active profile is reviewed");
    let exported: BTreeMap<(String, String), pb::Decision> = rows
        .iter()
        .map(|row| ((row.case_id.clone(), row.principal.clone().unwrap().profile_id), row.decision.clone().unwrap()))
        .collect();
    assert_eq!(exported.len(), rows.len(), "each (case, profile) once");
    let mut expected = BTreeMap::new();
    for case_id in &cases {
        for accessor in accessors(suite, &admin, case_id, pb::Action::Read, 1000).await {
            expected.insert((case_id.clone(), accessor.principal.unwrap().profile_id), accessor.decision.unwrap());
        }
    }
    assert_eq!(exported.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (key, decision) in &expected {
        let row = &exported[key];
        assert!(row.allowed);
        assert_eq!((&row.rule, &row.path), (&decision.rule, &decision.path), "{key:?}");
    }
    // One account: the rows of its cases, no others.
    let case = suite
        .case_access(Some(&admin))
        .get_case(pb::GetCaseRequest { case_id: cases[0].clone(), ..Default::default() })
        .await
        .expect("get case")
        .into_inner()
        .support_case
        .unwrap();
    let (of_account, _) = export(suite, &admin, &case.account_id).await;
    let mut of_account_cases = BTreeSet::new();
    for case_id in &cases {
        let account_id = suite
            .case_access(Some(&admin))
            .get_case(pb::GetCaseRequest { case_id: case_id.clone(), ..Default::default() })
            .await
            .expect("get case")
            .into_inner()
            .support_case
            .unwrap()
            .account_id;
        if account_id == case.account_id {
            of_account_cases.insert(case_id.clone());
        }
    }
    let keys: BTreeSet<(String, String)> =
        of_account.iter().map(|row| (row.case_id.clone(), row.principal.clone().unwrap().profile_id)).collect();
    let wanted: BTreeSet<(String, String)> =
        expected.keys().filter(|(case_id, _)| of_account_cases.contains(case_id)).cloned().collect();
    assert_eq!(keys, wanted);
    assert!(!keys.is_empty());
    // Only an admin exports; a bad account id is precise.
    let (_, agent) = employee(suite, "Bea", &[roles::AGENT]).await;
    let refused = suite
        .case_access(Some(&agent))
        .export_access_review(pb::ExportAccessReviewRequest::default())
        .await
        .unwrap_err();
    assert_eq!((refused.code(), reason_of(&refused).as_str()), (Code::PermissionDenied, "MISSING_ROLE"));
    let bad = suite
        .case_access(Some(&admin))
        .export_access_review(pb::ExportAccessReviewRequest { account_id: "nope".to_owned() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), vec!["account_id".to_owned()]);
});
