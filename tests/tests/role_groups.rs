//! role: groups (assignment groups, Cherwell teams, customer workgroups) with
//! their hierarchy, members and roles, over real gRPC (SPEC R1.8, R2.11.2,
//! R2.11.5, R2.12.2–R2.12.5, R2.15, R2.18, R2.19, R6.2). Group members are
//! profiles created in identity (role asks identity for their kind); group
//! writes are made by the role administrator. Each test runs on SQLite and on
//! PostgreSQL.

use csm_types::roles;
use std::time::Duration;

use csm_proto::identity as id_pb;
use csm_proto::role as pb;
use csm_tests::{Backend, Suite, SuiteOptions, backend_test, reason_of, violated_fields};
use csm_types::{GroupId, ProfileId, ServiceName};
use tokio_stream::StreamExt as _;
use tonic::{Code, Status};

const CASE_VIEWER: &str = roles::CASE_VIEWER;
const CUSTOMER: &str = roles::CUSTOMER;

// ------------------------------------------------------------------ helpers

fn metadata(status: &Status, key: &str) -> String {
    use tonic_types::StatusExt as _;
    status.get_error_details().error_info().and_then(|info| info.metadata.get(key).cloned()).unwrap_or_default()
}

fn role(suite: &Suite) -> csm_proto::role::role_service_client::RoleServiceClient<csm_tests::TestChannel> {
    let token = suite.admin_token();
    suite.role(Some(&token))
}

async fn create_group(suite: &Suite, name: &str, kind: pb::GroupKind, parent: Option<&str>) -> pb::Group {
    try_create_group(suite, name, kind, parent).await.expect("the administrator creates a group")
}

async fn try_create_group(
    suite: &Suite,
    name: &str,
    kind: pb::GroupKind,
    parent: Option<&str>,
) -> Result<pb::Group, Status> {
    role(suite)
        .create_group(pb::CreateGroupRequest {
            request_id: String::new(),
            name: name.to_owned(),
            kind: kind as i32,
            description: format!("{name} (test)"),
            parent_group_id: parent.unwrap_or_default().to_owned(),
        })
        .await
        .map(|response| response.into_inner().group.unwrap())
}

async fn assignment_group(suite: &Suite, name: &str, parent: Option<&str>) -> String {
    create_group(suite, name, pb::GroupKind::AssignmentGroup, parent).await.group_id
}

async fn add_role(suite: &Suite, group: &str, role_name: &str) -> Result<pb::AddGroupRoleResponse, Status> {
    role(suite)
        .add_group_role(pb::AddGroupRoleRequest {
            request_id: String::new(),
            group_id: group.to_owned(),
            role: role_name.to_owned(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn add_member(
    suite: &Suite,
    group: &str,
    profile: ProfileId,
    manager: bool,
) -> Result<pb::AddGroupMemberResponse, Status> {
    role(suite)
        .add_group_member(pb::AddGroupMemberRequest {
            request_id: String::new(),
            group_id: group.to_owned(),
            profile_id: profile.to_string(),
            manager,
        })
        .await
        .map(|response| response.into_inner())
}

async fn remove_member(suite: &Suite, group: &str, profile: ProfileId) -> Result<String, Status> {
    role(suite)
        .remove_group_member(pb::RemoveGroupMemberRequest {
            group_id: group.to_owned(),
            profile_id: profile.to_string(),
        })
        .await
        .map(|response| response.into_inner().consistency_token)
}

async fn set_parent(suite: &Suite, group: &str, parent: &str) -> Result<pb::SetGroupParentResponse, Status> {
    role(suite)
        .set_group_parent(pb::SetGroupParentRequest { group_id: group.to_owned(), parent_group_id: parent.to_owned() })
        .await
        .map(|response| response.into_inner())
}

async fn get_group(suite: &Suite, group: &str) -> pb::Group {
    role(suite)
        .get_group(pb::GetGroupRequest { group_id: group.to_owned() })
        .await
        .expect("get group")
        .into_inner()
        .group
        .unwrap()
}

fn holds(roles: &[String], role_name: &str) -> bool {
    roles.iter().any(|held| held == role_name)
}

fn person_details(first: &str) -> Option<id_pb::PersonDetails> {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    Some(id_pb::PersonDetails {
        first_name: first.to_owned(),
        last_name: "Grouped".to_owned(),
        email: format!("{}.{}@example.com", first.to_lowercase(), &unique[..8]),
        ..Default::default()
    })
}

/// An employee (INTERNAL profile, a Cherwell User) created in identity; it holds no role yet.
async fn employee(suite: &Suite, first: &str) -> ProfileId {
    let token = suite.admin_token();
    let profile = suite
        .identity(Some(&token))
        .create_employee(id_pb::CreateEmployeeRequest {
            details: person_details(first),
            title: "Agent".to_owned(),
            ..Default::default()
        })
        .await
        .expect("create employee")
        .into_inner()
        .profile
        .unwrap();
    ProfileId::parse(&profile.profile_id).unwrap()
}

/// An employee holding snc_internal directly.
async fn internal_employee(suite: &Suite, first: &str) -> ProfileId {
    let profile = employee(suite, first).await;
    suite.assign_role(profile, roles::SNC_INTERNAL).await.expect("snc_internal assigned");
    profile
}

/// A B2B contact (CONTACT profile, a Cherwell Customer) of a new customer
/// account; identity gives it snc_external (R2.14).
async fn contact(suite: &Suite, first: &str) -> ProfileId {
    let token = suite.admin_token();
    let account = suite
        .identity(Some(&token))
        .create_account(id_pb::CreateAccountRequest {
            request_id: String::new(),
            name: format!("{first} Corp {}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            kind: id_pb::AccountKind::Customer as i32,
            parent_account_id: String::new(),
        })
        .await
        .expect("create account")
        .into_inner()
        .account
        .unwrap();
    let profile = suite
        .identity(Some(&token))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account.account_id,
            details: person_details(first),
            ..Default::default()
        })
        .await
        .expect("create contact")
        .into_inner()
        .profile
        .unwrap();
    ProfileId::parse(&profile.profile_id).unwrap()
}

type Proposal = pb::validate_assignment_request::Proposal;

/// ValidateAssignment as the administrator, checked to write nothing: the
/// role feed's head does not move.
async fn dry_run(suite: &Suite, proposal: Proposal) -> pb::ValidateAssignmentResponse {
    let head = suite.feed_head(ServiceName::Role).await;
    let validation = role(suite)
        .validate_assignment(pb::ValidateAssignmentRequest { proposal: Some(proposal.clone()) })
        .await
        .unwrap_or_else(|status| panic!("{proposal:?} validated: {status:?}"))
        .into_inner();
    assert_eq!(suite.feed_head(ServiceName::Role).await, head, "a dry run writes nothing: {proposal:?}");
    validation
}

/// The dry run agrees with the mutation made next: allowed ⇔ it succeeds;
/// blocked ⇒ it fails with the first blocking finding's reason and rule.
fn assert_agrees<T: std::fmt::Debug>(validation: &pb::ValidateAssignmentResponse, outcome: &Result<T, Status>) {
    assert_eq!(validation.allowed, outcome.is_ok(), "{validation:?} vs {outcome:?}");
    if let Err(status) = outcome {
        let blocking = &validation.findings[0];
        assert_eq!(blocking.severity, pb::FindingSeverity::Blocking as i32, "{validation:?}");
        assert_eq!((blocking.reason.clone(), blocking.rule.clone()), (reason_of(status), metadata(status, "rule")));
    }
}

fn group_role_proposal(group: &str, role_name: &str) -> Proposal {
    Proposal::GroupRole(pb::ProposedGroupRole { group_id: group.to_owned(), role: role_name.to_owned() })
}

fn group_member_proposal(group: &str, profile: ProfileId) -> Proposal {
    Proposal::GroupMember(pb::ProposedGroupMember { group_id: group.to_owned(), profile_id: profile.to_string() })
}

fn group_parent_proposal(group: &str, parent: &str) -> Proposal {
    Proposal::GroupParent(pb::ProposedGroupParent { group_id: group.to_owned(), parent_group_id: parent.to_owned() })
}

async fn member_ids(suite: &Suite, group: &str) -> Vec<String> {
    let members = role(suite)
        .list_group_members(pb::ListGroupMembersRequest { group_id: group.to_owned(), ..Default::default() })
        .await
        .expect("list members")
        .into_inner()
        .members;
    members.into_iter().map(|member| member.profile_id).collect()
}

fn assert_collision(status: &Status, rule: &str) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason_of(status), "ROLE_COLLISION", "{status:?}");
    assert_eq!(metadata(status, "rule"), rule, "{status:?}");
}

// ------------------------------------------------------------- SPEC rules

backend_test!(r2_18_members_inherit_the_roles_of_their_group, |suite| {
    let group = assignment_group(suite, "Service Desk", None).await;
    let member = employee(suite, "Mia").await;
    add_member(suite, &group, member, false).await.unwrap();
    let added = add_role(suite, &group, CASE_VIEWER).await.unwrap();
    assert!(added.consistency_token.starts_with("role:"));
    assert_eq!(added.group.unwrap().roles, vec![CASE_VIEWER.to_owned()]);

    let roles = csm_tests::world::effective_roles(suite, member).await;
    assert!(holds(&roles.roles, CASE_VIEWER));
    let grant = roles.grants.iter().find(|grant| grant.role == CASE_VIEWER).unwrap();
    assert_eq!(grant.source, pb::RoleSource::Group as i32);
    assert_eq!(grant.group_id, group);
    assert_eq!(grant.group_path, vec![group.clone()]);
    assert!(grant.assignment_id.is_empty());
    assert_eq!(roles.group_memberships.len(), 1);
    assert!(roles.group_memberships[0].direct);

    // Deleting the group takes its roles from its former members.
    role(suite).delete_group(pb::DeleteGroupRequest { group_id: group.clone() }).await.unwrap();
    assert!(!holds(&csm_tests::world::effective_roles(suite, member).await.roles, CASE_VIEWER));
    let status = role(suite).get_group(pb::GetGroupRequest { group_id: group }).await.unwrap_err();
    assert_eq!(reason_of(&status), "GROUP_NOT_FOUND");
});

backend_test!(r2_19_roles_of_a_parent_group_reach_child_group_members, |suite| {
    // G1 ⊃ G2 ∋ U; AddGroupRole(G1, case_viewer) ⇒ case_viewer ∈ eff_roles(U); removing U from G2 removes it.
    let g1 = assignment_group(suite, "G1", None).await;
    let g2 = assignment_group(suite, "G2", Some(&g1)).await;
    let user = employee(suite, "Uma").await;
    add_member(suite, &g2, user, false).await.unwrap();
    add_role(suite, &g1, CASE_VIEWER).await.unwrap();

    let roles = csm_tests::world::effective_roles(suite, user).await;
    assert!(holds(&roles.roles, CASE_VIEWER));
    let grant = roles.grants.iter().find(|grant| grant.role == CASE_VIEWER).unwrap();
    assert_eq!(grant.source, pb::RoleSource::Group as i32);
    assert_eq!((grant.group_id.as_str(), grant.group_path.clone()), (g1.as_str(), vec![g2.clone(), g1.clone()]));
    let inherited = roles.group_memberships.iter().find(|membership| membership.group_id == g1).unwrap();
    assert_eq!((inherited.direct, inherited.via_group_id.as_str()), (false, g2.as_str()));
    // The child group shows what its members inherit.
    let child = get_group(suite, &g2).await;
    assert!(child.roles.is_empty());
    assert_eq!(child.effective_roles, vec![CASE_VIEWER.to_owned()]);
    // ListProfileGroups: direct only, or with the ancestors.
    let direct = role(suite)
        .list_profile_groups(pb::ListProfileGroupsRequest { profile_id: user.to_string(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(direct.memberships.len(), 1);
    let with_ancestors = role(suite)
        .list_profile_groups(pb::ListProfileGroupsRequest {
            profile_id: user.to_string(),
            include_ancestors: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(with_ancestors.memberships.len(), 2);

    let token = remove_member(suite, &g2, user).await.unwrap();
    assert!(token.starts_with("role:"));
    let roles = csm_tests::world::effective_roles(suite, user).await;
    assert!(!holds(&roles.roles, CASE_VIEWER));
    assert!(roles.group_memberships.is_empty());
    // Removing it again: there is no such membership.
    assert_eq!(reason_of(&remove_member(suite, &g2, user).await.unwrap_err()), "MEMBERSHIP_NOT_FOUND");
});

/// R2.11.2 needs legacy data (a profile holding both explicit roles), which
/// no write of the service produces: it is written straight into role's
/// database, as an old import would have left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_11_2_a_profile_holding_both_explicit_roles_may_join_no_group() {
    for backend in Backend::all("r2_11_2_a_profile_holding_both_explicit_roles_may_join_no_group") {
        let database = backend.fresh_database("role");
        let options = SuiteOptions {
            database_overrides: [(ServiceName::Role, database.url.clone())].into_iter().collect(),
            ..SuiteOptions::default()
        };
        let suite = Suite::start_with(backend.clone(), options).await;
        let legacy = employee(&suite, "Lee").await;
        let db = csm_db::Db::connect(&database.url, &csm_db::PoolSettings::default()).await.unwrap();
        let store = csm_role::store::RoleStore::new(db.clone());
        store.ensure_direct_assignment(legacy, roles::SNC_INTERNAL).await.unwrap();
        store.ensure_direct_assignment(legacy, roles::SNC_EXTERNAL).await.unwrap();
        db.close().await;
        assert_eq!(
            csm_tests::world::effective_roles(&suite, legacy).await.principal_class,
            pb::PrincipalClass::Both as i32
        );

        // Even a group with no roles at all.
        let empty = assignment_group(&suite, "Empty", None).await;
        let status = add_member(&suite, &empty, legacy, false).await.unwrap_err();
        assert_collision(&status, "R2.11.2");
        assert_eq!(metadata(&status, "profile_id"), legacy.to_string());
        assert!(
            csm_tests::world::effective_roles(&suite, legacy).await.group_memberships.is_empty(),
            "{}",
            backend.name()
        );
        suite.stop().await;
        database.remove().await;
    }
}

backend_test!(r2_11_5_an_empty_group_holding_one_explicit_role_cannot_take_the_other, |suite| {
    // A group with no explicit role takes either.
    let internal = assignment_group(suite, "Internal staff", None).await;
    add_role(suite, &internal, roles::SNC_INTERNAL).await.unwrap();
    let status = add_role(suite, &internal, roles::SNC_EXTERNAL).await.unwrap_err();
    assert_collision(&status, "R2.11.5");
    assert_eq!(metadata(&status, "group_id"), internal);
    assert_eq!(metadata(&status, "conflicting_role"), roles::SNC_INTERNAL);
    assert_eq!(
        metadata(&status, "path"),
        format!("group:{internal} > role:snc_internal | group:{internal} > role:snc_external")
    );
    assert_eq!(get_group(suite, &internal).await.roles, vec![roles::SNC_INTERNAL.to_owned()]);
    // And vice versa.
    let external = assignment_group(suite, "External staff", None).await;
    add_role(suite, &external, roles::SNC_EXTERNAL).await.unwrap();
    assert_collision(&add_role(suite, &external, roles::SNC_INTERNAL).await.unwrap_err(), "R2.11.5");
});

backend_test!(
    r2_12_2_a_member_of_a_child_group_blocks_the_opposite_explicit_role_on_the_child_and_the_parent,
    |suite| {
        let g1 = assignment_group(suite, "Parent", None).await;
        let g2 = assignment_group(suite, "Child", Some(&g1)).await;
        let user = internal_employee(suite, "Ivo").await;
        add_member(suite, &g2, user, false).await.unwrap();
        for group in [&g2, &g1] {
            let status = add_role(suite, group, roles::SNC_EXTERNAL).await.unwrap_err();
            assert_collision(&status, "R2.12.2");
            assert_eq!(metadata(&status, "profile_id"), user.to_string());
            assert_eq!(metadata(&status, "conflicting_role"), roles::SNC_INTERNAL);
        }
        let status = add_role(suite, &g1, roles::SNC_EXTERNAL).await.unwrap_err();
        assert_eq!(
            metadata(&status, "path"),
            format!(
                "profile:{user} > role:snc_internal | profile:{user} > group:{g2} > group:{g1} > role:snc_external"
            )
        );
        assert!(get_group(suite, &g1).await.roles.is_empty());

        // If the member had no roles, an explicit role on G1 reaches G1, G2 and the member.
        let g3 = assignment_group(suite, "Parent 2", None).await;
        let g4 = assignment_group(suite, "Child 2", Some(&g3)).await;
        let fresh = employee(suite, "Fay").await;
        add_member(suite, &g4, fresh, false).await.unwrap();
        add_role(suite, &g3, roles::SNC_EXTERNAL).await.unwrap();
        assert_eq!(get_group(suite, &g3).await.effective_roles, vec![roles::SNC_EXTERNAL.to_owned()]);
        assert_eq!(get_group(suite, &g4).await.effective_roles, vec![roles::SNC_EXTERNAL.to_owned()]);
        assert_eq!(
            csm_tests::world::effective_roles(suite, fresh).await.principal_class,
            pb::PrincipalClass::External as i32
        );
    }
);

backend_test!(r2_12_3_reparenting_that_joins_both_explicit_roles_is_aborted, |suite| {
    let g1 = assignment_group(suite, "Employees", None).await;
    add_role(suite, &g1, roles::SNC_INTERNAL).await.unwrap();
    let g2 = assignment_group(suite, "Customers", None).await;
    add_role(suite, &g2, roles::SNC_EXTERNAL).await.unwrap();
    let status = set_parent(suite, &g2, &g1).await.unwrap_err();
    assert_collision(&status, "R2.12.3");
    assert!(get_group(suite, &g2).await.parent_group_id.is_empty());

    // A member below the moved group counts too: G3 (no roles) holds an internal member.
    let g3 = assignment_group(suite, "Contractors", None).await;
    let member = internal_employee(suite, "Cy").await;
    add_member(suite, &g3, member, false).await.unwrap();
    let status = set_parent(suite, &g3, &g2).await.unwrap_err();
    assert_collision(&status, "R2.12.3");
    assert_eq!(metadata(&status, "profile_id"), member.to_string());

    // Moving under a compatible parent works and the members inherit the new chain.
    let moved = set_parent(suite, &g3, &g1).await.unwrap();
    assert_eq!(moved.group.unwrap().parent_group_id, g1);
    let grant = csm_tests::world::effective_roles(suite, member)
        .await
        .grants
        .into_iter()
        .find(|grant| grant.group_id == g1)
        .unwrap();
    assert_eq!(grant.group_path, vec![g3.clone(), g1.clone()]);
    // The old chain is left behind: away from G1, under G2, is still refused for the member …
    assert_collision(&set_parent(suite, &g3, &g2).await.unwrap_err(), "R2.12.3");
    // … and a group without members or roles moves from the internal parent to the external one.
    let g4 = assignment_group(suite, "Drifter", Some(&g1)).await;
    set_parent(suite, &g4, &g2).await.expect("the internal chain is left behind");
    assert_eq!(get_group(suite, &g4).await.effective_roles, vec![roles::SNC_EXTERNAL.to_owned()]);
    // Clearing the parent.
    set_parent(suite, &g4, "").await.unwrap();
    assert!(get_group(suite, &g4).await.effective_roles.is_empty());
});

backend_test!(r2_12_4_role_containment_through_a_parent_group_is_a_collision, |suite| {
    // customer ⊃ snc_external: G1 and G2 reach snc_external without holding it explicitly.
    let g1 = assignment_group(suite, "Portal users", None).await;
    let g2 = assignment_group(suite, "Portal users EU", Some(&g1)).await;
    add_role(suite, &g1, CUSTOMER).await.unwrap();
    let child = get_group(suite, &g2).await;
    assert!(child.roles.is_empty());
    assert!(holds(&child.effective_roles, roles::SNC_EXTERNAL));
    let status = add_role(suite, &g2, roles::SNC_INTERNAL).await.unwrap_err();
    assert_collision(&status, "R2.12.4");
    assert_eq!(metadata(&status, "conflicting_role"), roles::SNC_EXTERNAL);
    assert_eq!(
        metadata(&status, "path"),
        format!("group:{g2} > group:{g1} > role:{CUSTOMER} > role:snc_external | group:{g2} > role:snc_internal")
    );
});

backend_test!(r2_12_5_joining_a_group_that_grants_the_opposite_explicit_role_is_aborted, |suite| {
    let g1 = assignment_group(suite, "Customer portal", None).await;
    let g2 = assignment_group(suite, "Customer portal EU", Some(&g1)).await;
    add_role(suite, &g1, CUSTOMER).await.unwrap();
    let user = internal_employee(suite, "Ina").await;
    let status = add_member(suite, &g2, user, false).await.unwrap_err();
    assert_collision(&status, "R2.12.5");
    assert_eq!(metadata(&status, "profile_id"), user.to_string());
    assert_eq!(metadata(&status, "role"), CUSTOMER);
    assert_eq!(
        metadata(&status, "path"),
        format!(
            "profile:{user} > role:snc_internal | profile:{user} > group:{g2} > group:{g1} > role:{CUSTOMER} > role:snc_external"
        )
    );
    assert!(csm_tests::world::effective_roles(suite, user).await.group_memberships.is_empty());
    // A direct assignment is checked against what groups give, too.
    let outsider = employee(suite, "Oli").await;
    add_member(suite, &g2, outsider, false).await.unwrap();
    let status = suite.assign_role(outsider, roles::SNC_INTERNAL).await.unwrap_err();
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
});

backend_test!(r2_15_a_group_role_is_checked_for_family_mixing_of_every_member, |suite| {
    let workgroup = create_group(suite, "Acme buyers", pb::GroupKind::CustomerWorkgroup, None).await.group_id;
    let customer = contact(suite, "Cleo").await;
    add_member(suite, &workgroup, customer, false).await.unwrap();
    // The contact holds snc_external (R2.14); an agent role through the group mixes families.
    let status = add_role(suite, &workgroup, roles::AGENT).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "ROLE_FAMILY_COLLISION".to_owned()));
    assert_eq!(metadata(&status, "rule"), "R2.15");
    assert_eq!(metadata(&status, "profile_id"), customer.to_string());

    // Under WARN the role is added, with a warning naming the member, who is flagged.
    role(suite)
        .update_role_settings(pb::UpdateRoleSettingsRequest {
            settings: Some(pb::RoleSettings {
                csm_role_mixing_policy: pb::CsmRoleMixingPolicy::Warn as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["csm_role_mixing_policy".to_owned()] }),
        })
        .await
        .unwrap();
    let added = add_role(suite, &workgroup, roles::AGENT).await.expect("WARN lets it through");
    assert_eq!(added.warnings.len(), 1);
    let warning = &added.warnings[0];
    assert_eq!((warning.reason.as_str(), warning.rule.as_str()), ("ROLE_FAMILY_COLLISION", "R2.15"));
    let path = warning.path.clone().unwrap();
    assert_eq!((path.profile_id, path.group_path), (customer.to_string(), vec![workgroup.clone()]));
    assert!(csm_tests::world::effective_roles(suite, customer).await.flagged_for_review);
});

backend_test!(r1_8_teams_take_users_and_customer_workgroups_take_customers, |suite| {
    let team = create_group(suite, "Level 2", pb::GroupKind::Team, None).await.group_id;
    let workgroup = create_group(suite, "Acme", pb::GroupKind::CustomerWorkgroup, None).await.group_id;
    let anyone = assignment_group(suite, "Anyone", None).await;
    let user = employee(suite, "Uli").await;
    let customer = contact(suite, "Cam").await;

    add_member(suite, &team, user, false).await.expect("a User joins a Team");
    let status = add_member(suite, &team, customer, false).await.unwrap_err();
    assert_eq!(
        (status.code(), reason_of(&status)),
        (Code::FailedPrecondition, "GROUP_MEMBER_KIND_MISMATCH".to_owned())
    );
    add_member(suite, &workgroup, customer, false).await.expect("a Customer joins a Customer Workgroup");
    let status = add_member(suite, &workgroup, user, false).await.unwrap_err();
    assert_eq!(reason_of(&status), "GROUP_MEMBER_KIND_MISMATCH");
    add_member(suite, &anyone, user, false).await.expect("assignment groups take anyone");
    add_member(suite, &anyone, customer, false).await.expect("assignment groups take anyone");
    // A profile identity does not know.
    let status = add_member(suite, &anyone, ProfileId::new(), false).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "PROFILE_NOT_FOUND".to_owned()));
    // A child group has its parent's kind.
    let status =
        try_create_group(suite, "Level 2 nights", pb::GroupKind::CustomerWorkgroup, Some(&team)).await.unwrap_err();
    assert_eq!(reason_of(&status), "GROUP_KIND_MISMATCH");
    let status = set_parent(suite, &workgroup, &team).await.unwrap_err();
    assert_eq!(reason_of(&status), "GROUP_KIND_MISMATCH");
});

backend_test!(r6_2_teams_and_workgroups_have_managers, |suite| {
    let team = create_group(suite, "Service desk", pb::GroupKind::Team, None).await.group_id;
    let lead = employee(suite, "Lea").await;
    let agent = employee(suite, "Ari").await;
    let added = add_member(suite, &team, lead, true).await.unwrap();
    assert!(added.member.unwrap().manager);
    add_member(suite, &team, agent, false).await.unwrap();
    assert_eq!(get_group(suite, &team).await.manager_profile_ids, vec![lead.to_string()]);

    let managers = role(suite)
        .list_group_members(pb::ListGroupMembersRequest {
            group_id: team.clone(),
            managers_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        managers.members.iter().map(|member| member.profile_id.clone()).collect::<Vec<_>>(),
        vec![lead.to_string()]
    );

    let promoted = role(suite)
        .set_group_member_manager(pb::SetGroupMemberManagerRequest {
            group_id: team.clone(),
            profile_id: agent.to_string(),
            manager: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(promoted.member.unwrap().manager);
    role(suite)
        .set_group_member_manager(pb::SetGroupMemberManagerRequest {
            group_id: team.clone(),
            profile_id: lead.to_string(),
            manager: false,
        })
        .await
        .unwrap();
    assert_eq!(get_group(suite, &team).await.manager_profile_ids, vec![agent.to_string()]);
    let seen_by_agent = csm_tests::world::effective_roles(suite, agent).await.group_memberships;
    assert!(seen_by_agent[0].manager);
    let status = role(suite)
        .set_group_member_manager(pb::SetGroupMemberManagerRequest {
            group_id: team.clone(),
            profile_id: ProfileId::new().to_string(),
            manager: true,
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "MEMBERSHIP_NOT_FOUND");
});

backend_test!(r2_10_racing_group_writes_cannot_create_a_collision_together, |suite| {
    // A role on a group and a conflicting member joining it, at once: the
    // role-graph lock lets exactly one win every time.
    let user = internal_employee(suite, "Ray").await;
    for round in 0..8 {
        let group = assignment_group(suite, &format!("Race {round}"), None).await;
        let (role_added, member_added) =
            tokio::join!(add_role(suite, &group, roles::SNC_EXTERNAL), add_member(suite, &group, user, false));
        let winners = [role_added.is_ok(), member_added.is_ok()].into_iter().filter(|won| *won).count();
        assert_eq!(winners, 1, "role: {role_added:?}, member: {member_added:?}");
        let loser = role_added.err().or(member_added.err()).unwrap();
        assert_eq!(reason_of(&loser), "ROLE_COLLISION");
        assert_ne!(
            csm_tests::world::effective_roles(suite, user).await.principal_class,
            pb::PrincipalClass::Both as i32
        );
    }
    // A direct assignment and a group role reaching the same member, at once.
    for round in 0..4 {
        let group = assignment_group(suite, &format!("Direct race {round}"), None).await;
        let member = employee(suite, "Rio").await;
        add_member(suite, &group, member, false).await.unwrap();
        let (direct, group_role) = tokio::join!(
            suite.assign_role_as_service(member, roles::SNC_INTERNAL),
            add_role(suite, &group, roles::SNC_EXTERNAL)
        );
        let winners = [direct.is_ok(), group_role.is_ok()].into_iter().filter(|won| *won).count();
        assert_eq!(winners, 1, "direct: {direct:?}, group role: {group_role:?}");
        assert_ne!(
            csm_tests::world::effective_roles(suite, member).await.principal_class,
            pb::PrincipalClass::Both as i32
        );
    }
});

// --------------------------------------------- ValidateAssignment dry runs

backend_test!(r2_12_5_validate_assignment_agrees_with_add_group_member_and_writes_nothing, |suite| {
    let g1 = assignment_group(suite, "Portal", None).await;
    let g2 = assignment_group(suite, "Portal EU", Some(&g1)).await;
    add_role(suite, &g1, CUSTOMER).await.unwrap();
    // Blocked: an internal user would reach snc_external through G2 ⊂ G1 (R2.12.5).
    let user = internal_employee(suite, "Ines").await;
    let validation = dry_run(suite, group_member_proposal(&g2, user)).await;
    assert!(!validation.allowed);
    let blocking = &validation.findings[0];
    assert_eq!((blocking.reason.as_str(), blocking.rule.as_str()), ("ROLE_COLLISION", "R2.12.5"));
    let path = blocking.path.clone().expect("a collision names its path");
    assert_eq!((path.profile_id, path.group_path), (user.to_string(), vec![g2.clone(), g1.clone()]));
    assert_eq!(path.conflicting_role, roles::SNC_INTERNAL);
    assert!(member_ids(suite, &g2).await.is_empty(), "the dry run added no member");
    assert_agrees(&validation, &add_member(suite, &g2, user, false).await);

    // Allowed: a user without roles joins (and the mutation then agrees).
    let fresh = employee(suite, "Finn").await;
    let validation = dry_run(suite, group_member_proposal(&g2, fresh)).await;
    assert!(validation.allowed && validation.findings.is_empty(), "{validation:?}");
    assert!(member_ids(suite, &g2).await.is_empty(), "the dry run added no member");
    assert!(csm_tests::world::effective_roles(suite, fresh).await.group_memberships.is_empty());
    assert_agrees(&validation, &add_member(suite, &g2, fresh, false).await);
    assert_eq!(member_ids(suite, &g2).await, vec![fresh.to_string()]);

    // Every other refusal of the mutation is a blocking finding with its reason.
    let team = create_group(suite, "Level 3", pb::GroupKind::Team, None).await.group_id;
    let customer = contact(suite, "Cole").await;
    let unknown_group = GroupId::new().to_string();
    for (group, profile, reason) in [
        (g2.as_str(), fresh, "MEMBERSHIP_EXISTS"),
        (team.as_str(), customer, "GROUP_MEMBER_KIND_MISMATCH"),
        (g2.as_str(), ProfileId::new(), "PROFILE_NOT_FOUND"),
        (unknown_group.as_str(), fresh, "GROUP_NOT_FOUND"),
    ] {
        let validation = dry_run(suite, group_member_proposal(group, profile)).await;
        assert_eq!((validation.allowed, validation.findings[0].reason.as_str()), (false, reason));
        assert_agrees(&validation, &add_member(suite, group, profile, false).await);
    }

    // Malformed proposals name the field; a caller who may not add members is refused as by the mutation.
    let status = role(suite)
        .validate_assignment(pb::ValidateAssignmentRequest {
            proposal: Some(Proposal::GroupMember(pb::ProposedGroupMember {
                group_id: "not-a-uuid".to_owned(),
                profile_id: String::new(),
            })),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["group_member.group_id".to_owned(), "group_member.profile_id".to_owned()]
    );
    let not_an_admin = employee(suite, "Abe").await;
    let mut agent = suite.role(Some(&suite.token_as(not_an_admin).await));
    let status = agent
        .validate_assignment(pb::ValidateAssignmentRequest { proposal: Some(group_member_proposal(&g1, user)) })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "MISSING_ROLE".to_owned()));
    let refused = agent
        .add_group_member(pb::AddGroupMemberRequest {
            request_id: String::new(),
            group_id: g1.clone(),
            profile_id: user.to_string(),
            manager: false,
        })
        .await
        .unwrap_err();
    assert_eq!((refused.code(), reason_of(&refused)), (Code::PermissionDenied, "MISSING_ROLE".to_owned()));
});

backend_test!(r2_12_2_validate_assignment_agrees_with_add_group_role_and_writes_nothing, |suite| {
    let g1 = assignment_group(suite, "Staff", None).await;
    let g2 = assignment_group(suite, "Staff EU", Some(&g1)).await;
    let user = internal_employee(suite, "Ivy").await;
    add_member(suite, &g2, user, false).await.unwrap();
    // Blocked: the member of the child group holds snc_internal (R2.12.2).
    let validation = dry_run(suite, group_role_proposal(&g1, roles::SNC_EXTERNAL)).await;
    assert!(!validation.allowed);
    let blocking = &validation.findings[0];
    assert_eq!((blocking.reason.as_str(), blocking.rule.as_str()), ("ROLE_COLLISION", "R2.12.2"));
    let path = blocking.path.clone().expect("a collision names its path");
    assert_eq!((path.profile_id, path.group_path), (user.to_string(), vec![g2.clone(), g1.clone()]));
    assert!(get_group(suite, &g1).await.roles.is_empty(), "the dry run added no role");
    assert_agrees(&validation, &add_role(suite, &g1, roles::SNC_EXTERNAL).await);

    // Allowed, then added.
    let validation = dry_run(suite, group_role_proposal(&g1, CASE_VIEWER)).await;
    assert!(validation.allowed && validation.findings.is_empty(), "{validation:?}");
    assert!(get_group(suite, &g1).await.roles.is_empty(), "the dry run added no role");
    assert!(!holds(&csm_tests::world::effective_roles(suite, user).await.roles, CASE_VIEWER));
    assert_agrees(&validation, &add_role(suite, &g1, CASE_VIEWER).await);

    // Other refusals: a role the group holds, an unknown role, an unknown group.
    let unknown_group = GroupId::new().to_string();
    for (group, role_name, reason) in [
        (g1.as_str(), CASE_VIEWER, "GROUP_ROLE_EXISTS"),
        (g1.as_str(), "x_no_such_role", "ROLE_NOT_FOUND"),
        (unknown_group.as_str(), CASE_VIEWER, "GROUP_NOT_FOUND"),
    ] {
        let validation = dry_run(suite, group_role_proposal(group, role_name)).await;
        assert_eq!((validation.allowed, validation.findings[0].reason.as_str()), (false, reason));
        assert_agrees(&validation, &add_role(suite, group, role_name).await);
    }

    // WARN policy (R2.15): allowed with the warning the mutation reports, and nobody is flagged yet.
    let workgroup = create_group(suite, "Acme buyers", pb::GroupKind::CustomerWorkgroup, None).await.group_id;
    let customer = contact(suite, "Cora").await;
    add_member(suite, &workgroup, customer, false).await.unwrap();
    role(suite)
        .update_role_settings(pb::UpdateRoleSettingsRequest {
            settings: Some(pb::RoleSettings {
                csm_role_mixing_policy: pb::CsmRoleMixingPolicy::Warn as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["csm_role_mixing_policy".to_owned()] }),
        })
        .await
        .unwrap();
    let validation = dry_run(suite, group_role_proposal(&workgroup, roles::AGENT)).await;
    assert!(validation.allowed);
    let warning = &validation.findings[0];
    assert_eq!(warning.severity, pb::FindingSeverity::Warning as i32);
    assert!(!csm_tests::world::effective_roles(suite, customer).await.flagged_for_review, "the dry run flags nobody");
    let added = add_role(suite, &workgroup, roles::AGENT).await;
    assert_agrees(&validation, &added);
    assert_eq!(added.unwrap().warnings, validation.findings);

    // Malformed.
    let status = role(suite)
        .validate_assignment(pb::ValidateAssignmentRequest { proposal: Some(group_role_proposal(&g1, "")) })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["group_role.role".to_owned()]);
});

backend_test!(r2_12_3_validate_assignment_agrees_with_set_group_parent_and_writes_nothing, |suite| {
    let g1 = assignment_group(suite, "Employees", None).await;
    add_role(suite, &g1, roles::SNC_INTERNAL).await.unwrap();
    let g2 = assignment_group(suite, "Customers", None).await;
    add_role(suite, &g2, roles::SNC_EXTERNAL).await.unwrap();
    // Blocked: re-parenting joins both explicit roles (R2.12.3).
    let validation = dry_run(suite, group_parent_proposal(&g2, &g1)).await;
    assert!(!validation.allowed);
    let blocking = &validation.findings[0];
    assert_eq!((blocking.reason.as_str(), blocking.rule.as_str()), ("ROLE_COLLISION", "R2.12.3"));
    assert!(get_group(suite, &g2).await.parent_group_id.is_empty(), "the dry run moved nothing");
    assert_agrees(&validation, &set_parent(suite, &g2, &g1).await);

    // Allowed, then moved.
    let g3 = assignment_group(suite, "Contractors", None).await;
    let validation = dry_run(suite, group_parent_proposal(&g3, &g1)).await;
    assert!(validation.allowed && validation.findings.is_empty(), "{validation:?}");
    assert!(get_group(suite, &g3).await.parent_group_id.is_empty(), "the dry run moved nothing");
    assert_agrees(&validation, &set_parent(suite, &g3, &g1).await);
    assert_eq!(get_group(suite, &g3).await.parent_group_id, g1);

    // A cycle, an unknown parent, a parent of another kind: the mutation's refusals.
    let team = create_group(suite, "Level 1", pb::GroupKind::Team, None).await.group_id;
    let unknown = GroupId::new().to_string();
    for (group, parent, reason) in [
        (g1.as_str(), g3.as_str(), "GROUP_HIERARCHY_CYCLE"),
        (g1.as_str(), g1.as_str(), "GROUP_HIERARCHY_CYCLE"),
        (g1.as_str(), unknown.as_str(), "GROUP_NOT_FOUND"),
        (g1.as_str(), team.as_str(), "GROUP_KIND_MISMATCH"),
    ] {
        let validation = dry_run(suite, group_parent_proposal(group, parent)).await;
        assert_eq!((validation.allowed, validation.findings[0].reason.as_str()), (false, reason));
        assert_agrees(&validation, &set_parent(suite, group, parent).await);
    }
    // Keeping the parent, and clearing it, are allowed as the mutation answers them.
    for parent in [g1.as_str(), ""] {
        let validation = dry_run(suite, group_parent_proposal(&g3, parent)).await;
        assert!(validation.allowed && validation.findings.is_empty(), "{validation:?}");
        assert_agrees(&validation, &set_parent(suite, &g3, parent).await);
    }
    assert!(get_group(suite, &g3).await.parent_group_id.is_empty());

    // Malformed.
    let status = role(suite)
        .validate_assignment(pb::ValidateAssignmentRequest { proposal: Some(group_parent_proposal("", "nope")) })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["group_parent.group_id".to_owned(), "group_parent.parent_group_id".to_owned()]
    );
});

// ------------------------------------------------------ contract details

backend_test!(group_requests_are_validated_and_name_every_bad_field, |suite| {
    let status = role(suite)
        .create_group(pb::CreateGroupRequest {
            name: "  ".to_owned(),
            kind: pb::GroupKind::Unspecified as i32,
            parent_group_id: "not-a-uuid".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["name", "kind", "parent_group_id"]);
    let status = role(suite)
        .add_group_member(pb::AddGroupMemberRequest { group_id: "x".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["group_id", "profile_id"]);
    let status = role(suite)
        .list_groups(pb::ListGroupsRequest { page_size: -1, kind: 42, ..Default::default() })
        .await
        .unwrap_err();
    // The request edge refuses the undeclared enum value first.
    assert_eq!(violated_fields(&status), vec!["kind"]);
    let status =
        role(suite).list_groups(pb::ListGroupsRequest { page_size: -1, ..Default::default() }).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_size"]);
    let status = role(suite)
        .list_group_members(pb::ListGroupMembersRequest {
            group_id: String::new(),
            page_token: "forged".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["group_id", "page_token"]);
    let status = role(suite)
        .update_group(pb::UpdateGroupRequest {
            group: Some(pb::Group { group_id: uuid::Uuid::now_v7().to_string(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["kind".to_owned(), "name".to_owned()] }),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["update_mask", "group.name"]);

    // Names are unique per kind, case-insensitively.
    let desk = assignment_group(suite, "Desk", None).await;
    let status = try_create_group(suite, "DESK", pb::GroupKind::AssignmentGroup, None).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::AlreadyExists, "GROUP_NAME_EXISTS".to_owned()));
    create_group(suite, "desk", pb::GroupKind::Team, None).await;
    let renamed = role(suite)
        .update_group(pb::UpdateGroupRequest {
            group: Some(pb::Group { group_id: desk.clone(), name: "Front desk".to_owned(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["name".to_owned()] }),
        })
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.description.as_str()), ("Front desk", "Desk (test)"));

    // Unknown things, duplicates and the hierarchy's own rules.
    let unknown = GroupId::new().to_string();
    assert_eq!(reason_of(&add_role(suite, &unknown, CASE_VIEWER).await.unwrap_err()), "GROUP_NOT_FOUND");
    assert_eq!(reason_of(&add_role(suite, &desk, "no_such_role").await.unwrap_err()), "ROLE_NOT_FOUND");
    assert_eq!(
        reason_of(
            &try_create_group(suite, "Orphan", pb::GroupKind::AssignmentGroup, Some(&unknown)).await.unwrap_err()
        ),
        "GROUP_NOT_FOUND"
    );
    add_role(suite, &desk, CASE_VIEWER).await.unwrap();
    let status = add_role(suite, &desk, CASE_VIEWER).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::AlreadyExists, "GROUP_ROLE_EXISTS".to_owned()));
    let member = employee(suite, "Dee").await;
    add_member(suite, &desk, member, false).await.unwrap();
    assert_eq!(reason_of(&add_member(suite, &desk, member, false).await.unwrap_err()), "MEMBERSHIP_EXISTS");
    let child = assignment_group(suite, "Desk nights", Some(&desk)).await;
    let status = set_parent(suite, &desk, &child).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "GROUP_HIERARCHY_CYCLE".to_owned()));
    assert_eq!(reason_of(&set_parent(suite, &desk, &desk).await.unwrap_err()), "GROUP_HIERARCHY_CYCLE");
    let status = role(suite).delete_group(pb::DeleteGroupRequest { group_id: desk.clone() }).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "GROUP_HAS_CHILDREN".to_owned()));
    let removed = role(suite)
        .remove_group_role(pb::RemoveGroupRoleRequest { group_id: desk.clone(), role: CASE_VIEWER.to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.group.unwrap().roles.is_empty());
    let status = role(suite)
        .remove_group_role(pb::RemoveGroupRoleRequest { group_id: desk.clone(), role: CASE_VIEWER.to_owned() })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "GROUP_ROLE_NOT_FOUND");

    // Writes are for role administrators; reads for anyone authenticated.
    let person = csm_tests::world::nobody(suite).await.1;
    let status = suite
        .role(Some(&person))
        .create_group(pb::CreateGroupRequest {
            name: "Mine".to_owned(),
            kind: pb::GroupKind::AssignmentGroup as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "MISSING_ROLE".to_owned()));
    suite.role(Some(&person)).get_group(pb::GetGroupRequest { group_id: desk.clone() }).await.expect("reads are open");
    let status = suite.role(None).get_group(pb::GetGroupRequest { group_id: desk }).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
});

backend_test!(group_writes_are_idempotent_per_request_id, |suite| {
    let request = pb::CreateGroupRequest {
        request_id: "create-once".to_owned(),
        name: "Once".to_owned(),
        kind: pb::GroupKind::AssignmentGroup as i32,
        ..Default::default()
    };
    let first = role(suite).create_group(request.clone()).await.unwrap().into_inner();
    let again = role(suite).create_group(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.group.as_ref().unwrap().group_id, again.group.as_ref().unwrap().group_id);
    assert_eq!(first.consistency_token, again.consistency_token);
    let status =
        role(suite).create_group(pb::CreateGroupRequest { name: "Twice".to_owned(), ..request }).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "REQUEST_ID_CONFLICT".to_owned()));

    let group = first.group.unwrap().group_id;
    let role_request = pb::AddGroupRoleRequest {
        request_id: "role-once".to_owned(),
        group_id: group.clone(),
        role: CASE_VIEWER.to_owned(),
    };
    let first = role(suite).add_group_role(role_request.clone()).await.unwrap().into_inner();
    let again = role(suite).add_group_role(role_request).await.unwrap().into_inner();
    assert_eq!(first.consistency_token, again.consistency_token);

    let member = employee(suite, "Ida").await;
    let member_request = pb::AddGroupMemberRequest {
        request_id: "join-once".to_owned(),
        group_id: group,
        profile_id: member.to_string(),
        manager: false,
    };
    let first = role(suite).add_group_member(member_request.clone()).await.unwrap().into_inner();
    let again = role(suite).add_group_member(member_request).await.unwrap().into_inner();
    assert_eq!(first.member, again.member);
    assert_eq!(first.consistency_token, again.consistency_token);
});

backend_test!(groups_members_and_memberships_are_listed_in_pages, |suite| {
    let parent = assignment_group(suite, "paging parent", None).await;
    let mut names = vec!["paging parent".to_owned()];
    for name in ["Paging b", "paging A", "Paging d", "paging_c"] {
        assignment_group(suite, name, Some(&parent)).await;
        names.push(name.to_owned());
    }
    create_group(suite, "Paging team", pb::GroupKind::Team, None).await;
    names.sort_by_key(|name| name.to_lowercase());

    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = role(suite)
            .list_groups(pb::ListGroupsRequest {
                page_size: 2,
                page_token: page_token.clone(),
                kind: pb::GroupKind::AssignmentGroup as i32,
                name_contains: "PAGING".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.groups.len() <= 2);
        listed.extend(page.groups.into_iter().map(|group| group.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed, names);
    let children = role(suite)
        .list_groups(pb::ListGroupsRequest { parent_group_id: parent.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(children.groups.len(), 4);
    let top = role(suite)
        .list_groups(pb::ListGroupsRequest {
            top_level_only: true,
            name_contains: "paging".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(top.groups.len(), 2);
    // '_' is a character, not a wildcard.
    let underscore = role(suite)
        .list_groups(pb::ListGroupsRequest { name_contains: "g_c".to_owned(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(underscore.groups.iter().map(|group| group.name.as_str()).collect::<Vec<_>>(), vec!["paging_c"]);

    // Members of the parent and of its children, by profile then group.
    let child = children.groups[0].group_id.clone();
    let mut members = Vec::new();
    for first in ["Pam", "Pat", "Pia"] {
        let profile = employee(suite, first).await;
        add_member(suite, &child, profile, false).await.unwrap();
        members.push(profile);
    }
    add_member(suite, &parent, members[0], true).await.unwrap();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = role(suite)
            .list_group_members(pb::ListGroupMembersRequest {
                group_id: parent.clone(),
                page_size: 3,
                page_token: page_token.clone(),
                include_descendants: true,
                managers_only: false,
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.members.into_iter().map(|member| (member.profile_id, member.group_id)));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut expected: Vec<(String, String)> = members
        .iter()
        .map(|profile| (profile.to_string(), child.clone()))
        .chain([(members[0].to_string(), parent.clone())])
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    let direct_only = role(suite)
        .list_group_members(pb::ListGroupMembersRequest { group_id: parent.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(direct_only.members.len(), 1);

    // A profile's memberships, one per page.
    let first_page = role(suite)
        .list_profile_groups(pb::ListProfileGroupsRequest {
            profile_id: members[0].to_string(),
            page_size: 1,
            include_ancestors: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first_page.memberships.len(), 1);
    let second_page = role(suite)
        .list_profile_groups(pb::ListProfileGroupsRequest {
            profile_id: members[0].to_string(),
            page_size: 1,
            page_token: first_page.next_page_token,
            include_ancestors: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second_page.memberships.len(), 1);
    assert!(second_page.next_page_token.is_empty());
    let mut groups = vec![first_page.memberships[0].group_id.clone(), second_page.memberships[0].group_id.clone()];
    groups.sort();
    let mut expected_groups = vec![parent.clone(), child.clone()];
    expected_groups.sort();
    assert_eq!(groups, expected_groups);
    // Both are direct memberships: the parent is not listed again as an ancestor.
    assert!(first_page.memberships[0].direct && second_page.memberships[0].direct);
    let teams = role(suite)
        .list_profile_groups(pb::ListProfileGroupsRequest {
            profile_id: members[0].to_string(),
            kind: pb::GroupKind::Team as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(teams.memberships.is_empty());
});

backend_test!(group_changes_show_up_in_watch, |suite| {
    let parent = create_group(suite, "Watched parent", pb::GroupKind::AssignmentGroup, None).await;
    let created = role(suite)
        .create_group(pb::CreateGroupRequest {
            name: "Watched".to_owned(),
            kind: pb::GroupKind::AssignmentGroup as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let group = created.group.unwrap().group_id;
    let revision: u64 = created.consistency_token.trim_start_matches("role:").parse().unwrap();
    let member = employee(suite, "Wes").await;
    add_member(suite, &group, member, false).await.unwrap();
    add_role(suite, &group, CASE_VIEWER).await.unwrap();
    set_parent(suite, &group, &parent.group_id).await.unwrap();

    let service = suite.service_token(ServiceName::CaseAccess);
    let mut stream =
        suite.role(Some(&service)).watch(pb::WatchRequest { from_revision: revision - 1 }).await.unwrap().into_inner();
    let mut changes = Vec::new();
    while changes.len() < 4 {
        let change = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
        changes.push(change.change.unwrap());
    }
    let kinds: Vec<&str> = changes.iter().map(|change| change.entity_type.as_str()).collect();
    assert_eq!(kinds, vec!["group", "group_member", "group_role", "group"]);
    assert_eq!(changes[0].entity_id, group);
    assert_eq!(changes[0].consistency_token, created.consistency_token);
    assert_eq!(changes[1].entity_id, member.to_string());
    assert_eq!(changes[1].attributes.get("group_id"), Some(&group));
    assert_eq!(changes[2].attributes.get("role"), Some(&CASE_VIEWER.to_owned()));
    assert_eq!(changes[3].attributes.get("parent_group_id"), Some(&parent.group_id));
    assert_eq!(changes[3].attributes.get("previous_parent_group_id"), Some(&String::new()));
});
