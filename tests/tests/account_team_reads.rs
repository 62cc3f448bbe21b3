//! Who reads and who builds account, consumer and household teams (R4.12),
//! over real gRPC, on SQLite and PostgreSQL.

use csm_proto::account_team as pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of};
use csm_types::ProfileId;
use csm_types::roles;
use tonic::Code;

/// The seeded "Account Manager" and "Relationship Manager" responsibilities.
const ACCOUNT_MANAGER: &str = "a7000000-0000-4000-8000-000000000001";
const RELATIONSHIP_MANAGER: &str = "a7000000-0000-4000-8000-000000000005";

fn member(team: pb::team_member::Team, profile: ProfileId, responsibility: &str) -> pb::CreateTeamMemberRequest {
    pb::CreateTeamMemberRequest {
        request_id: String::new(),
        team_member: Some(pb::TeamMember {
            team: Some(team),
            profile_id: profile.to_string(),
            member_kind: pb::TeamMemberKind::Internal as i32,
            responsibility_id: responsibility.to_owned(),
            ..Default::default()
        }),
    }
}

async fn list(suite: &Suite, token: &str, team: pb::list_team_members_request::Team) -> Result<usize, tonic::Status> {
    suite
        .account_team(Some(token))
        .list_team_members(pb::ListTeamMembersRequest { team: Some(team), page_size: 10, ..Default::default() })
        .await
        .map(|response| response.into_inner().team_members.len())
}

backend_test!(r4_12_agents_read_their_segments_teams_and_only_managers_build_them, |suite| {
    let admin = suite.admin_token();
    let acme = account(suite, "Acme", None).await;
    let cleo = consumer(suite, "Cleo").await;
    let (uli, uli_token) = employee(suite, "Uli", &[]).await;
    let (_, b2b_agent) = employee(suite, "Bea", &[roles::AGENT]).await;
    let (_, b2c_agent) = employee(suite, "Cal", &[roles::CONSUMER_AGENT]).await;
    let (_, manager) = employee(suite, "Max", &[roles::MANAGER]).await;
    let (_, customer) = contact(suite, &acme, "Kim", &[roles::CUSTOMER]).await;

    // Only the CSM manager (and location managers, data managers) build teams.
    let status = suite
        .account_team(Some(&b2b_agent))
        .create_team_member(member(pb::team_member::Team::AccountId(acme.clone()), uli, ACCOUNT_MANAGER))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    let account_member = suite
        .account_team(Some(&manager))
        .create_team_member(member(pb::team_member::Team::AccountId(acme.clone()), uli, ACCOUNT_MANAGER))
        .await
        .expect("the manager builds account teams")
        .into_inner()
        .team_member
        .unwrap();
    suite
        .account_team(Some(&manager))
        .create_team_member(member(pb::team_member::Team::ConsumerId(cleo.clone()), uli, RELATIONSHIP_MANAGER))
        .await
        .expect("the manager builds consumer teams");

    let account_team = || pb::list_team_members_request::Team::AccountId(acme.clone());
    let consumer_team = || pb::list_team_members_request::Team::ConsumerId(cleo.clone());
    // Customer agents read account team members, consumer agents consumer team members.
    assert_eq!(list(suite, &b2b_agent, account_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &b2b_agent, consumer_team()).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(list(suite, &b2c_agent, consumer_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &b2c_agent, account_team()).await.unwrap_err().code(), Code::PermissionDenied);
    // The manager reads both (it contains both agent roles); a customer neither.
    assert_eq!(list(suite, &manager, account_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &manager, consumer_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &customer, account_team()).await.unwrap_err().code(), Code::PermissionDenied);
    let status = suite
        .account_team(Some(&customer))
        .get_team_member(pb::GetTeamMemberRequest { team_member_id: account_member.team_member_id.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // A member reads its own memberships; others need to read every kind of team.
    let own = suite
        .account_team(Some(&uli_token))
        .list_team_memberships_of_user(pb::ListTeamMembershipsOfUserRequest {
            profile_id: uli.to_string(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("own memberships")
        .into_inner();
    assert_eq!(own.team_members.len(), 2);
    let status = suite
        .account_team(Some(&b2b_agent))
        .list_team_memberships_of_user(pb::ListTeamMembershipsOfUserRequest {
            profile_id: uli.to_string(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        suite
            .account_team(Some(&admin))
            .get_team_member(pb::GetTeamMemberRequest { team_member_id: account_member.team_member_id })
            .await
            .is_ok()
    );
});
