//! case-access over real gRPC: Cherwell record ownership (R6.3–R6.5) from
//! security-group rights, the ownership inputs of the principal context
//! (department, manager, teams and workgroups), responsibility access
//! configurations (R5.3), and the settings / security-group-rights RPCs.
//! Each test runs on SQLite and on PostgreSQL.

use csm_types::roles;
use std::time::Duration;

use csm_proto::account_team as at_pb;
use csm_proto::case_access as pb;
use csm_proto::identity as id_pb;
use csm_proto::role as role_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of, violated_fields};
use csm_types::ProfileId;
use pb::OwnershipRelation as Rel;
use pb::RecordRight as Right;
use tonic::Code;

const AGENT: &str = roles::AGENT;
const RELATIONSHIP_AGENT: &str = roles::RELATIONSHIP_AGENT;

// ------------------------------------------------------------------ helpers

fn unique(name: &str) -> String {
    format!("{name} {}", uuid::Uuid::now_v7().simple())
}

/// A new Cherwell security group of `kind`.
async fn security_group(suite: &Suite, name: &str, kind: id_pb::SecurityGroupKind) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_security_group(id_pb::CreateSecurityGroupRequest {
            name: unique(name),
            kind: kind as i32,
            presentation_roles: vec!["Default".to_owned()],
            ..Default::default()
        })
        .await
        .expect("create security group")
        .into_inner()
        .security_group
        .unwrap()
        .security_group_id
}

/// The id of identity's seeded group `name` (R6.6).
async fn seeded_group(suite: &Suite, name: &str) -> String {
    let token = suite.admin_token();
    let groups = suite
        .identity(Some(&token))
        .list_security_groups(id_pb::ListSecurityGroupsRequest { page_size: 1000, ..Default::default() })
        .await
        .expect("list security groups")
        .into_inner()
        .security_groups;
    groups.into_iter().find(|group| group.name == name).unwrap_or_else(|| panic!("no group {name}")).security_group_id
}

async fn assign_group(suite: &Suite, profile: ProfileId, group: &str) {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .assign_security_group(id_pb::AssignSecurityGroupRequest {
            profile_id: profile.to_string(),
            security_group_id: group.to_owned(),
        })
        .await
        .expect("assign security group");
}

/// Sets person attributes (manager, department) of `profile` (R6.4).
async fn update_person(suite: &Suite, profile: ProfileId, manager: Option<ProfileId>, department: Option<&str>) {
    let token = suite.admin_token();
    let mut paths = Vec::new();
    let mut update = id_pb::Profile { profile_id: profile.to_string(), ..Default::default() };
    if let Some(manager) = manager {
        update.manager_profile_id = manager.to_string();
        paths.push("manager_profile_id".to_owned());
    }
    if let Some(department) = department {
        update.department_id = department.to_owned();
        paths.push("department_id".to_owned());
    }
    suite
        .identity(Some(&token))
        .update_profile(id_pb::UpdateProfileRequest {
            profile: Some(update),
            update_mask: Some(prost_types::FieldMask { paths }),
        })
        .await
        .expect("update profile");
}

async fn department(suite: &Suite, name: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_department(id_pb::CreateDepartmentRequest { name: unique(name), ..Default::default() })
        .await
        .expect("create department")
        .into_inner()
        .department
        .unwrap()
        .department_id
}

/// A role-service group (team or customer workgroup) with its members.
async fn group_of(suite: &Suite, kind: role_pb::GroupKind, members: &[(ProfileId, bool)]) -> String {
    let token = suite.admin_token();
    let group = suite
        .role(Some(&token))
        .create_group(role_pb::CreateGroupRequest { name: unique("Group"), kind: kind as i32, ..Default::default() })
        .await
        .expect("create group")
        .into_inner()
        .group
        .unwrap()
        .group_id;
    for (profile, manager) in members {
        suite
            .role(Some(&token))
            .add_group_member(role_pb::AddGroupMemberRequest {
                group_id: group.clone(),
                profile_id: profile.to_string(),
                manager: *manager,
                ..Default::default()
            })
            .await
            .expect("add group member");
    }
    group
}

fn rights(group: &str, base: &[Right], by_relation: &[(Rel, &[Right])]) -> pb::SecurityGroupRights {
    pb::SecurityGroupRights {
        security_group_id: group.to_owned(),
        base_rights: base.iter().map(|right| *right as i32).collect(),
        rights_based_on_ownership: true,
        ownership_rights: by_relation
            .iter()
            .map(|(relation, rights)| pb::OwnershipRights {
                relation: *relation as i32,
                rights: rights.iter().map(|right| *right as i32).collect(),
            })
            .collect(),
        updated_at: None,
    }
}

async fn set_rights(
    suite: &Suite,
    rights: pb::SecurityGroupRights,
) -> Result<pb::SetSecurityGroupRightsResponse, tonic::Status> {
    let token = suite.admin_token();
    suite
        .case_access(Some(&token))
        .set_security_group_rights(pb::SetSecurityGroupRightsRequest { rights: Some(rights) })
        .await
        .map(tonic::Response::into_inner)
}

/// A B2B case for `account` created by an agent, owned by `owner` / `owner_group`.
async fn owned_case(suite: &Suite, account: &str, owner: Option<ProfileId>, owner_group: Option<&str>) -> String {
    let (_, agent) = employee(suite, "Ada", &[AGENT]).await;
    let mut draft = draft(pb::CreateFor::Account, account, "");
    draft.owner_profile_id = owner.map(|owner| owner.to_string()).unwrap_or_default();
    draft.owner_group_id = owner_group.unwrap_or_default().to_owned();
    create_case(suite, &agent, draft).await.expect("create owned case").support_case.unwrap().case_id
}

async fn update_settings(
    suite: &Suite,
    token: &str,
    settings: pb::Settings,
    paths: &[&str],
) -> Result<pb::UpdateSettingsResponse, tonic::Status> {
    let request = pb::UpdateSettingsRequest {
        settings: Some(settings),
        update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() }),
    };
    suite.case_access(Some(token)).update_settings(request).await.map(tonic::Response::into_inner)
}

// ------------------------------------------------------------------ R6.3

backend_test!(r6_3_owner_rights_extend_to_department_manager_and_team, |suite| {
    let a = account(suite, "Acme", None).await;
    let group = security_group(suite, "Service Desk", id_pb::SecurityGroupKind::User).await;
    set_rights(
        suite,
        rights(
            &group,
            &[],
            &[
                (Rel::Owner, &[Right::View, Right::Edit]),
                (Rel::DepartmentMember, &[Right::View]),
                (Rel::ManagerOfOwner, &[Right::View]),
                (Rel::TeamMember, &[Right::View]),
                (Rel::TeamManager, &[Right::View, Right::Edit]),
            ],
        ),
    )
    .await
    .expect("set rights");
    // Users without any CSM role: only the Cherwell rights can grant.
    let (owner, owner_token) = employee(suite, "Olga", &[]).await;
    let (peer, peer_token) = employee(suite, "Pia", &[]).await;
    let (manager, manager_token) = employee(suite, "Max", &[]).await;
    let (member, member_token) = employee(suite, "Tom", &[]).await;
    let (lead, lead_token) = employee(suite, "Tess", &[]).await;
    let (outsider, outsider_token) = employee(suite, "Xan", &[]).await;
    for profile in [owner, peer, manager, member, lead, outsider] {
        assign_group(suite, profile, &group).await;
    }
    let desk = department(suite, "Desk").await;
    update_person(suite, owner, Some(manager), Some(&desk)).await;
    update_person(suite, peer, None, Some(&desk)).await;
    let team = group_of(suite, role_pb::GroupKind::Team, &[(member, false), (lead, true)]).await;

    let by_owner = owned_case(suite, &a, Some(owner), None).await;
    let read = check(suite, &owner_token, &by_owner, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.owner"));
    assert!(check(suite, &owner_token, &by_owner, pb::Action::WriteFull).await.allowed);
    let read = check(suite, &peer_token, &by_owner, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.department_member"));
    assert!(!check(suite, &peer_token, &by_owner, pb::Action::WriteFull).await.allowed);
    let read = check(suite, &manager_token, &by_owner, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.manager_of_owner"));
    let denied = check(suite, &outsider_token, &by_owner, pb::Action::Read).await;
    assert_eq!((denied.allowed, denied.rule.as_str()), (false, "R2.20"));
    assert!(!check(suite, &member_token, &by_owner, pb::Action::Read).await.allowed);

    let by_team = owned_case(suite, &a, None, Some(&team)).await;
    let read = check(suite, &member_token, &by_team, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.team_member"));
    assert!(!check(suite, &member_token, &by_team, pb::Action::WriteFull).await.allowed);
    let write = check(suite, &lead_token, &by_team, pb::Action::WriteFull).await;
    assert_eq!((write.allowed, write.rule.as_str()), (true, "R6.4.team_manager"));
    assert!(!check(suite, &outsider_token, &by_team, pb::Action::Read).await.allowed);
    assert!(!check(suite, &owner_token, &by_team, pb::Action::Read).await.allowed);

    // Listing compiles the same grants.
    assert_eq!(visible(suite, &peer_token, 10).await, vec![by_owner.clone()]);
    assert_eq!(visible(suite, &lead_token, 10).await, vec![by_team.clone()]);
    assert!(visible(suite, &outsider_token, 10).await.is_empty());

    // A person change is seen by the next check: the peer leaves the department.
    let other = department(suite, "Elsewhere").await;
    update_person(suite, peer, None, Some(&other)).await;
    let mut denied = false;
    for _ in 0..50 {
        if !check(suite, &peer_token, &by_owner, pb::Action::Read).await.allowed {
            denied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(denied, "a department move must evict the cached context");
});

backend_test!(r6_3_customer_owner_shares_with_workgroup_members_and_managers_when_granted, |suite| {
    let a = account(suite, "Acme", None).await;
    let group = security_group(suite, "Customers", id_pb::SecurityGroupKind::Customer).await;
    set_rights(
        suite,
        rights(
            &group,
            &[],
            &[
                (Rel::Owner, &[Right::View, Right::Edit]),
                (Rel::TeamMember, &[Right::View]),
                (Rel::TeamManager, &[Right::View, Right::Edit]),
            ],
        ),
    )
    .await
    .expect("set rights");
    let (owner, owner_token) = contact(suite, &a, "Olga", &[]).await;
    let (member, member_token) = contact(suite, &a, "Wes", &[]).await;
    let (lead, lead_token) = contact(suite, &a, "Lia", &[]).await;
    let (outsider, outsider_token) = contact(suite, &a, "Xan", &[]).await;
    for profile in [owner, member, lead, outsider] {
        assign_group(suite, profile, &group).await;
    }
    let workgroup = group_of(suite, role_pb::GroupKind::CustomerWorkgroup, &[(member, false), (lead, true)]).await;
    let case = owned_case(suite, &a, Some(owner), Some(&workgroup)).await;
    let read = check(suite, &owner_token, &case, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.owner"));
    assert!(check(suite, &owner_token, &case, pb::Action::WriteCustomer).await.allowed);
    let read = check(suite, &member_token, &case, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.team_member"));
    assert!(!check(suite, &member_token, &case, pb::Action::WriteCustomer).await.allowed);
    let write = check(suite, &lead_token, &case, pb::Action::WriteCustomer).await;
    assert_eq!((write.allowed, write.rule.as_str()), (true, "R6.4.team_manager"));
    assert!(!check(suite, &outsider_token, &case, pb::Action::Read).await.allowed);
});

// ------------------------------------------------------------------ R6.4

backend_test!(r6_4_manager_of_owner_views_but_does_not_edit_and_needs_the_holds_attribute, |suite| {
    // Given Customer group rights: owner={View,Edit}, manager-of-owner={View};
    let a = account(suite, "Acme", None).await;
    let group = security_group(suite, "Customers", id_pb::SecurityGroupKind::Customer).await;
    set_rights(
        suite,
        rights(&group, &[], &[(Rel::Owner, &[Right::View, Right::Edit]), (Rel::ManagerOfOwner, &[Right::View])]),
    )
    .await
    .expect("set rights");
    // customer M is manager of customer O; record R owned by O.
    let (m, m_token) = contact(suite, &a, "Mia", &[]).await;
    let (o, o_token) = contact(suite, &a, "Otto", &[]).await;
    assign_group(suite, m, &group).await;
    assign_group(suite, o, &group).await;
    update_person(suite, o, Some(m), None).await;
    let r = owned_case(suite, &a, Some(o), None).await;
    // M View ALLOW, Edit DENY.
    let view = check(suite, &m_token, &r, pb::Action::Read).await;
    assert_eq!((view.allowed, view.rule.as_str()), (true, "R6.4.manager_of_owner"));
    let edit = check(suite, &m_token, &r, pb::Action::WriteCustomer).await;
    assert!(!edit.allowed);
    assert!(check(suite, &o_token, &r, pb::Action::WriteCustomer).await.allowed);
    assert_eq!(visible(suite, &m_token, 10).await, vec![r.clone()]);
    // If the Manager holds-attribute is undefined, M View DENY.
    let token = suite.admin_token();
    let holds = pb::OwnershipHolds {
        owner_defined: true,
        owner_group_defined: true,
        department_defined: true,
        manager_defined: false,
    };
    let updated = update_settings(
        suite,
        &token,
        pb::Settings { ownership_holds: Some(holds), ..Default::default() },
        &["ownership_holds.manager_defined"],
    )
    .await
    .expect("update settings");
    assert!(!updated.consistency_token.is_empty());
    assert!(!updated.settings.unwrap().ownership_holds.unwrap().manager_defined);
    let view = check(suite, &m_token, &r, pb::Action::Read).await;
    assert_eq!((view.allowed, view.rule.as_str()), (false, "R2.20"));
    assert!(visible(suite, &m_token, 10).await.is_empty());
    // The owner is unaffected: its attribute is still defined.
    assert!(check(suite, &o_token, &r, pb::Action::Read).await.allowed);
});

backend_test!(r6_4_rights_changes_are_seen_by_the_next_check, |suite| {
    let a = account(suite, "Acme", None).await;
    let group = security_group(suite, "Customers", id_pb::SecurityGroupKind::Customer).await;
    let (o, o_token) = contact(suite, &a, "Otto", &[]).await;
    assign_group(suite, o, &group).await;
    let r = owned_case(suite, &a, Some(o), None).await;
    // No rights set: no Cherwell grant (and the context is now cached).
    assert!(!check(suite, &o_token, &r, pb::Action::Read).await.allowed);
    let set = set_rights(suite, rights(&group, &[], &[(Rel::Owner, &[Right::View])])).await.expect("set rights");
    assert!(!set.consistency_token.is_empty());
    let read = check(suite, &o_token, &r, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.owner"));
    // Rights not based on ownership: only the base rights count.
    let mut base_only = rights(&group, &[], &[(Rel::Owner, &[Right::View])]);
    base_only.rights_based_on_ownership = false;
    set_rights(suite, base_only).await.expect("set rights");
    assert!(!check(suite, &o_token, &r, pb::Action::Read).await.allowed);
    // Base rights apply to every case.
    let mut base = rights(&group, &[Right::View], &[]);
    base.rights_based_on_ownership = false;
    set_rights(suite, base).await.expect("set rights");
    let other = owned_case(suite, &a, None, None).await;
    let read = check(suite, &o_token, &other, pb::Action::Read).await;
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.base"));
    // Deleting the rights removes the grant at once.
    let token = suite.admin_token();
    suite
        .case_access(Some(&token))
        .delete_security_group_rights(pb::DeleteSecurityGroupRightsRequest { security_group_id: group.clone() })
        .await
        .expect("delete rights");
    assert!(!check(suite, &o_token, &other, pb::Action::Read).await.allowed);
    let status = suite
        .case_access(Some(&token))
        .get_security_group_rights(pb::GetSecurityGroupRightsRequest { security_group_id: group.clone() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::NotFound, "SECURITY_GROUP_RIGHTS_NOT_FOUND"));
});

backend_test!(r6_4_rights_set_on_another_replica_reach_this_one_with_the_token, |suite| {
    let replica = suite.start_replica(csm_types::ServiceName::CaseAccess).await;
    let a = account(suite, "Acme", None).await;
    let group = security_group(suite, "Customers", id_pb::SecurityGroupKind::Customer).await;
    let (o, o_token) = contact(suite, &a, "Otto", &[]).await;
    assign_group(suite, o, &group).await;
    let r = owned_case(suite, &a, Some(o), None).await;
    // No rights: no grant here (and the context is now cached here).
    assert!(!check(suite, &o_token, &r, pb::Action::Read).await.allowed);
    let token = suite.admin_token();
    let set = replica
        .case_access(Some(&token))
        .set_security_group_rights(pb::SetSecurityGroupRightsRequest {
            rights: Some(rights(&group, &[], &[(Rel::Owner, &[Right::View])])),
        })
        .await
        .expect("set rights on the other replica")
        .into_inner();
    // This replica forgets its contexts when its own-feed follower applies the write.
    let read = suite
        .case_access(Some(&o_token))
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(r.clone())) }),
            action: pb::Action::Read as i32,
            consistency: Some(csm_proto::common::Consistency {
                requirement: Some(csm_proto::common::consistency::Requirement::AtLeastAsFresh(set.consistency_token)),
            }),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap();
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R6.4.owner"));
    replica.stop().await;
});

// ------------------------------------------------------------------ R6.5

backend_test!(r6_5_out_of_the_box_customer_ownership_is_shared_with_manager_not_workgroup, |suite| {
    let portal_customer = seeded_group(suite, "Portal Customer").await;
    // The seeded rights are written once identity answers (start-up task).
    let token = suite.admin_token();
    let mut seeded = None;
    for _ in 0..100 {
        match suite
            .case_access(Some(&token))
            .get_security_group_rights(pb::GetSecurityGroupRightsRequest { security_group_id: portal_customer.clone() })
            .await
        {
            Ok(response) => {
                seeded = response.into_inner().rights;
                break;
            }
            Err(status) => assert_eq!(status.code(), Code::NotFound),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seeded = seeded.expect("Portal Customer rights seeded");
    assert!(seeded.rights_based_on_ownership);
    let relations: Vec<i32> = seeded.ownership_rights.iter().map(|entry| entry.relation).collect();
    assert_eq!(relations, vec![Rel::Owner as i32, Rel::ManagerOfOwner as i32]);

    let a = account(suite, "Acme", None).await;
    let (o, o_token) = contact(suite, &a, "Otto", &[]).await;
    let (m, m_token) = contact(suite, &a, "Mia", &[]).await;
    let (w, w_token) = contact(suite, &a, "Wes", &[]).await;
    for profile in [o, m, w] {
        assign_group(suite, profile, &portal_customer).await;
    }
    update_person(suite, o, Some(m), None).await;
    let workgroup = group_of(suite, role_pb::GroupKind::CustomerWorkgroup, &[(o, false), (w, false)]).await;
    let r = owned_case(suite, &a, Some(o), Some(&workgroup)).await;
    let own = check(suite, &o_token, &r, pb::Action::WriteCustomer).await;
    assert_eq!((own.allowed, own.rule.as_str()), (true, "R6.4.owner"));
    let shared = check(suite, &m_token, &r, pb::Action::Read).await;
    assert_eq!((shared.allowed, shared.rule.as_str()), (true, "R6.4.manager_of_owner"));
    assert!(!check(suite, &m_token, &r, pb::Action::WriteCustomer).await.allowed);
    let not_shared = check(suite, &w_token, &r, pb::Action::Read).await;
    assert_eq!((not_shared.allowed, not_shared.rule.as_str()), (false, "R2.20"));
});

// ------------------------------------------------------------------ R5.3

backend_test!(r5_3_access_configuration_needs_its_required_roles, |suite| {
    // config {resp, table=case, levels=[read], relationship=team_member,
    // field account↔account, roles_required=[relationship_agent]}. A fresh
    // responsibility is used: with Account Manager, relationship_agent's own
    // table row (R3.16, T4.3.relationship_agent) would also grant WRITE.
    let token = suite.admin_token();
    let mut admin = suite.account_team(Some(&token));
    let responsibility = admin
        .create_responsibility_definition(at_pb::CreateResponsibilityDefinitionRequest {
            request_id: String::new(),
            responsibility_definition: Some(at_pb::ResponsibilityDefinition {
                name: unique("Escalation Manager"),
                kind: at_pb::ResponsibilityKind::User as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("create responsibility")
        .into_inner()
        .responsibility_definition
        .unwrap()
        .responsibility_id;
    admin
        .create_responsibility_access_configuration(at_pb::CreateResponsibilityAccessConfigurationRequest {
            request_id: String::new(),
            responsibility_access_configuration: Some(at_pb::ResponsibilityAccessConfiguration {
                name: "Escalation managers read cases".into(),
                responsibility_id: responsibility.clone(),
                required_roles: vec![RELATIONSHIP_AGENT.into()],
                access_levels: vec![at_pb::AccessLevel::Read as i32],
                accessible_table: at_pb::RecordTable::Case as i32,
                relationship_table: at_pb::RecordTable::AccountTeamMember as i32,
                association_type: at_pb::AssociationType::Simple as i32,
                relationship_field: "account".into(),
                accessible_field: "account".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("create configuration");
    let a = account(suite, "Acme", None).await;
    let b = account(suite, "Beta", None).await;
    let (u, u_token) = employee(suite, "Uma", &[]).await;
    admin
        .create_team_member(at_pb::CreateTeamMemberRequest {
            request_id: String::new(),
            team_member: Some(at_pb::TeamMember {
                team: Some(at_pb::team_member::Team::AccountId(a.clone())),
                profile_id: u.to_string(),
                member_kind: at_pb::TeamMemberKind::Internal as i32,
                responsibility_id: responsibility,
                ..Default::default()
            }),
        })
        .await
        .expect("create team member");
    let on_a = owned_case(suite, &a, None, None).await;
    let on_b = owned_case(suite, &b, None, None).await;
    // U lacks relationship_agent → DENY.
    assert!(!check(suite, &u_token, &on_a, pb::Action::Read).await.allowed);
    // With the role → READ ALLOW, WRITE DENY; other accounts stay denied.
    suite.assign_role(u, RELATIONSHIP_AGENT).await.expect("assign relationship_agent");
    let mut read = check(suite, &u_token, &on_a, pb::Action::Read).await;
    for _ in 0..50 {
        if read.allowed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        read = check(suite, &u_token, &on_a, pb::Action::Read).await;
    }
    assert_eq!((read.allowed, read.rule.as_str()), (true, "R5.3"));
    assert!(!check(suite, &u_token, &on_a, pb::Action::WriteFull).await.allowed);
    assert!(!check(suite, &u_token, &on_a, pb::Action::WriteCustomer).await.allowed);
    assert!(!check(suite, &u_token, &on_b, pb::Action::Read).await.allowed);
    assert_eq!(visible(suite, &u_token, 10).await, vec![on_a]);
});

// ------------------------------------------------------------------ settings

backend_test!(settings_round_trip_with_defaults_and_mask, |suite| {
    let token = suite.admin_token();
    let settings = suite
        .case_access(Some(&token))
        .get_settings(pb::GetSettingsRequest {})
        .await
        .expect("get settings")
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(settings.nonb2x_case_agents, pb::NonB2xCaseAgents::Both as i32);
    assert!(!settings.partner_sees_account_cases);
    assert_eq!(
        (
            settings.consumer_max_new_cases_daily,
            settings.consumer_max_comments_per_case_daily,
            settings.consumer_max_attachments_per_record
        ),
        (10, 25, 5)
    );
    assert_eq!(
        settings.ownership_holds,
        Some(pb::OwnershipHolds {
            owner_defined: true,
            owner_group_defined: true,
            department_defined: true,
            manager_defined: true
        })
    );
    // Only the masked field changes.
    let updated = update_settings(
        suite,
        &token,
        pb::Settings { partner_sees_account_cases: true, consumer_max_new_cases_daily: 99, ..Default::default() },
        &["partner_sees_account_cases"],
    )
    .await
    .expect("update")
    .settings
    .unwrap();
    assert!(updated.partner_sees_account_cases);
    assert_eq!(updated.consumer_max_new_cases_daily, 10);
    let read = suite.case_access(Some(&token)).get_settings(pb::GetSettingsRequest {}).await.expect("get settings");
    assert!(read.into_inner().settings.unwrap().partner_sees_account_cases);
});

backend_test!(settings_reject_bad_masks_values_and_non_admins, |suite| {
    let token = suite.admin_token();
    // No mask.
    let status = suite
        .case_access(Some(&token))
        .update_settings(pb::UpdateSettingsRequest { settings: Some(pb::Settings::default()), update_mask: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["update_mask".to_owned()]);
    // An unknown path, a negative limit and an unspecified enum, all named at once.
    let status = update_settings(
        suite,
        &token,
        pb::Settings { consumer_max_new_cases_daily: -1, ..Default::default() },
        &["no_such_setting", "consumer_max_new_cases_daily", "nonb2x_case_agents"],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        vec![
            "update_mask".to_owned(),
            "settings.consumer_max_new_cases_daily".to_owned(),
            "settings.nonb2x_case_agents".to_owned()
        ]
    );
    // Nothing was written.
    let settings = suite.case_access(Some(&token)).get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
    assert_eq!(settings.settings.unwrap().consumer_max_new_cases_daily, 10);
    // A non-admin is refused both reading and writing.
    let (_, agent) = employee(suite, "Ada", &[AGENT]).await;
    let status = suite.case_access(Some(&agent)).get_settings(pb::GetSettingsRequest {}).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::PermissionDenied, "MISSING_ROLE"));
    let status = update_settings(
        suite,
        &agent,
        pb::Settings { partner_sees_account_cases: true, ..Default::default() },
        &["partner_sees_account_cases"],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let nobody = csm_tests::world::nobody(suite).await.1;
    let status = suite.case_access(Some(&nobody)).get_settings(pb::GetSettingsRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

// ------------------------------------------------------------------ security group rights

backend_test!(security_group_rights_reject_bad_input, |suite| {
    // Unknown group → NOT_FOUND.
    let status = set_rights(suite, rights(&uuid::Uuid::now_v7().to_string(), &[Right::View], &[])).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::NotFound, "SECURITY_GROUP_NOT_FOUND"));
    // Malformed id, unspecified right, duplicate relation: all named.
    let group = security_group(suite, "Customers", id_pb::SecurityGroupKind::Customer).await;
    let status = set_rights(suite, rights("not-a-uuid", &[], &[])).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["rights.security_group_id".to_owned()]);
    let status = set_rights(
        suite,
        rights(&group, &[Right::Unspecified], &[(Rel::Owner, &[Right::View]), (Rel::Owner, &[Right::Edit])]),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        vec!["rights.base_rights[0]".to_owned(), "rights.ownership_rights[1].relation".to_owned()]
    );
    let status = set_rights(suite, rights(&group, &[], &[(Rel::Unspecified, &[Right::View])])).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["rights.ownership_rights[0].relation".to_owned()]);
    // An anonymous group holds no case rights.
    let anonymous = seeded_group(suite, "Anonymous Browser").await;
    let status = set_rights(suite, rights(&anonymous, &[Right::View], &[])).await.unwrap_err();
    assert_eq!(
        (status.code(), reason_of(&status).as_str()),
        (Code::FailedPrecondition, "SECURITY_GROUP_KIND_MISMATCH")
    );
    // Non-admins are refused.
    let (_, agent) = employee(suite, "Ada", &[AGENT]).await;
    let status = suite
        .case_access(Some(&agent))
        .set_security_group_rights(pb::SetSecurityGroupRightsRequest { rights: Some(rights(&group, &[], &[])) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Deleting rights that were never set → NOT_FOUND.
    let token = suite.admin_token();
    let status = suite
        .case_access(Some(&token))
        .delete_security_group_rights(pb::DeleteSecurityGroupRightsRequest { security_group_id: group.clone() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::NotFound, "SECURITY_GROUP_RIGHTS_NOT_FOUND"));
});

backend_test!(security_group_rights_are_stored_replaced_and_listed_in_pages, |suite| {
    let token = suite.admin_token();
    let mut groups = Vec::new();
    for _ in 0..3 {
        let group = security_group(suite, "Desk", id_pb::SecurityGroupKind::User).await;
        set_rights(suite, rights(&group, &[Right::View], &[(Rel::Owner, &[Right::Edit])])).await.expect("set");
        groups.push(group);
    }
    // Replace: the new entry wins whole.
    let replaced = set_rights(suite, rights(&groups[0], &[], &[(Rel::TeamManager, &[Right::Delete, Right::View])]))
        .await
        .expect("replace")
        .rights
        .unwrap();
    assert!(replaced.base_rights.is_empty());
    assert_eq!(replaced.ownership_rights.len(), 1);
    assert_eq!(replaced.ownership_rights[0].rights, vec![Right::View as i32, Right::Delete as i32]);
    let got = suite
        .case_access(Some(&token))
        .get_security_group_rights(pb::GetSecurityGroupRightsRequest { security_group_id: groups[0].clone() })
        .await
        .expect("get")
        .into_inner()
        .rights
        .unwrap();
    assert_eq!(got.ownership_rights, replaced.ownership_rights);
    // Pages of one, ordered by security group id, include our three groups.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .case_access(Some(&token))
            .list_security_group_rights(pb::ListSecurityGroupRightsRequest { page_size: 1, page_token })
            .await
            .expect("list")
            .into_inner();
        assert!(page.rights.len() <= 1);
        listed.extend(page.rights.into_iter().map(|rights| rights.security_group_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    for group in &groups {
        assert!(listed.contains(group));
    }
});
