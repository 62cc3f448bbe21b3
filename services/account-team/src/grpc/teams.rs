//! gRPC handlers of team members (R3.12–R3.14) and ListTeamMembershipsOfUser:
//! proto ⇄ domain conversion, then the app.

use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::account_team as pb;
use csm_types::{AccountId, ConsumerId, HouseholdId, ProfileId, ResponsibilityId};
use tonic::{Request, Response, Status};

use super::AccountTeamGrpc;
use crate::domain::teams::{MemberKind, NewTeamMember, Team, TeamMember, TeamMemberChanges, TeamMemberId};

fn member_kind_from_proto(errors: &mut FieldErrors, field: &str, value: i32) -> Option<MemberKind> {
    match pb::TeamMemberKind::try_from(value) {
        Ok(pb::TeamMemberKind::Internal) => Some(MemberKind::Internal),
        Ok(pb::TeamMemberKind::ExternalOrganizationStaff) => Some(MemberKind::ExternalOrganizationStaff),
        _ => {
            errors.add(field, "must be TEAM_MEMBER_KIND_INTERNAL or TEAM_MEMBER_KIND_EXTERNAL_ORGANIZATION_STAFF");
            None
        }
    }
}

fn member_kind_to_proto(kind: MemberKind) -> pb::TeamMemberKind {
    match kind {
        MemberKind::Internal => pb::TeamMemberKind::Internal,
        MemberKind::ExternalOrganizationStaff => pb::TeamMemberKind::ExternalOrganizationStaff,
    }
}

/// The team named by a team oneof (`prefix` names the fields).
fn team_from_oneof(
    errors: &mut FieldErrors,
    prefix: &str,
    account: Option<&str>,
    consumer: Option<&str>,
    household: Option<&str>,
) -> Option<Team> {
    if let Some(account) = account {
        return errors.required_id(&format!("{prefix}account_id"), account, AccountId::parse).map(Team::Account);
    }
    if let Some(consumer) = consumer {
        return errors.required_id(&format!("{prefix}consumer_id"), consumer, ConsumerId::parse).map(Team::Consumer);
    }
    if let Some(household) = household {
        return errors
            .required_id(&format!("{prefix}household_id"), household, HouseholdId::parse)
            .map(Team::Household);
    }
    errors.add(format!("{prefix}team"), "one of account_id, consumer_id, household_id is required");
    None
}

/// The wire form of a team member (also part of GetPrincipalRelationships).
pub(crate) fn team_member_to_proto(member: &TeamMember) -> pb::TeamMember {
    let team = match member.team {
        Team::Account(id) => pb::team_member::Team::AccountId(id.to_string()),
        Team::Consumer(id) => pb::team_member::Team::ConsumerId(id.to_string()),
        Team::Household(id) => pb::team_member::Team::HouseholdId(id.to_string()),
    };
    pb::TeamMember {
        team_member_id: member.id.to_string(),
        team: Some(team),
        profile_id: member.profile.to_string(),
        member_kind: member_kind_to_proto(member.member_kind) as i32,
        related_party_configuration_id: member
            .related_party_configuration
            .map(|id| id.as_hyphenated().to_string())
            .unwrap_or_default(),
        responsibility_id: member.responsibility.to_string(),
        order: Some(i32::try_from(member.order).unwrap_or(i32::MAX)),
        create_time: Some(csm_proto::timestamp(member.created_at)),
        update_time: Some(csm_proto::timestamp(member.updated_at)),
    }
}

pub(super) async fn create_team_member(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateTeamMemberRequest>,
) -> Result<Response<pb::CreateTeamMemberResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let member = request.team_member.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let (account, consumer, household) = match &member.team {
        Some(pb::team_member::Team::AccountId(id)) => (Some(id.as_str()), None, None),
        Some(pb::team_member::Team::ConsumerId(id)) => (None, Some(id.as_str()), None),
        Some(pb::team_member::Team::HouseholdId(id)) => (None, None, Some(id.as_str())),
        None => (None, None, None),
    };
    let team = team_from_oneof(&mut errors, "team_member.", account, consumer, household);
    let profile = errors.required_id("team_member.profile_id", &member.profile_id, ProfileId::parse);
    let member_kind = member_kind_from_proto(&mut errors, "team_member.member_kind", member.member_kind);
    let related_party_configuration =
        errors.optional_uuid("team_member.related_party_configuration_id", &member.related_party_configuration_id);
    // Empty: the related-party type's default (R5.4); required when there is no type.
    let responsibility =
        errors.optional_id("team_member.responsibility_id", &member.responsibility_id, ResponsibilityId::parse);
    if member.responsibility_id.trim().is_empty() && member.related_party_configuration_id.trim().is_empty() {
        errors.add("team_member.responsibility_id", "is required (directly or through the type's default)");
    }
    errors.finish()?;
    let new = NewTeamMember {
        team: validated(team)?,
        profile: validated(profile)?,
        member_kind: validated(member_kind)?,
        related_party_configuration,
        responsibility,
        order: member.order.map(i64::from),
    };
    let written = app.create_team_member(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateTeamMemberResponse {
        team_member: Some(team_member_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_team_member(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetTeamMemberRequest>,
) -> Result<Response<pb::GetTeamMemberResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id("team_member_id", &request.get_ref().team_member_id, TeamMemberId::parse);
    errors.finish()?;
    let member = app.get_team_member(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetTeamMemberResponse { team_member: Some(team_member_to_proto(&member)) }))
}

pub(super) async fn update_team_member(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateTeamMemberRequest>,
) -> Result<Response<pb::UpdateTeamMemberResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(
        request.update_mask.as_ref(),
        &["member_kind", "related_party_configuration_id", "responsibility_id", "order"],
    )?;
    let member = request.team_member.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("team_member.team_member_id", &member.team_member_id, TeamMemberId::parse);
    let mut changes = TeamMemberChanges::default();
    for path in &paths {
        match path.as_str() {
            "member_kind" => {
                changes.member_kind =
                    member_kind_from_proto(&mut errors, "team_member.member_kind", member.member_kind);
            }
            "related_party_configuration_id" => {
                changes.related_party_configuration = Some(errors.optional_uuid(
                    "team_member.related_party_configuration_id",
                    &member.related_party_configuration_id,
                ));
            }
            "responsibility_id" => {
                changes.responsibility = errors.required_id(
                    "team_member.responsibility_id",
                    &member.responsibility_id,
                    ResponsibilityId::parse,
                );
            }
            _ => changes.order = Some(i64::from(member.order.unwrap_or(crate::domain::teams::DEFAULT_ORDER as i32))),
        }
    }
    errors.finish()?;
    let written = app.update_team_member(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateTeamMemberResponse {
        team_member: Some(team_member_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_team_member(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteTeamMemberRequest>,
) -> Result<Response<pb::DeleteTeamMemberResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id("team_member_id", &request.get_ref().team_member_id, TeamMemberId::parse);
    errors.finish()?;
    let written = app.delete_team_member(&caller, validated(id)?).await?;
    Ok(Response::new(pb::DeleteTeamMemberResponse { consistency_token: written.consistency_token }))
}

pub(super) async fn list_team_members(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListTeamMembersRequest>,
) -> Result<Response<pb::ListTeamMembersResponse>, Status> {
    use pb::list_team_members_request::Team as Oneof;
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let (account, consumer, household) = match &request.team {
        Some(Oneof::AccountId(id)) => (Some(id.as_str()), None, None),
        Some(Oneof::ConsumerId(id)) => (None, Some(id.as_str()), None),
        Some(Oneof::HouseholdId(id)) => (None, None, Some(id.as_str())),
        None => (None, None, None),
    };
    let team = team_from_oneof(&mut errors, "", account, consumer, household);
    let responsibility = errors.optional_id("responsibility_id", &request.responsibility_id, ResponsibilityId::parse);
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (members, next_page_token) =
        app.list_team_members(&caller, validated(team)?, responsibility, validated(page)?).await?;
    Ok(Response::new(pb::ListTeamMembersResponse {
        team_members: members.iter().map(team_member_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_team_memberships_of_user(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListTeamMembershipsOfUserRequest>,
) -> Result<Response<pb::ListTeamMembershipsOfUserResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (members, next_page_token) =
        app.list_team_memberships_of_user(&caller, validated(profile)?, validated(page)?).await?;
    Ok(Response::new(pb::ListTeamMembershipsOfUserResponse {
        team_members: members.iter().map(team_member_to_proto).collect(),
        next_page_token,
    }))
}
