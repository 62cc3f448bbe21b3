//! gRPC handlers of groups, their members and roles (R2.18, R2.19, R6.2,
//! R1.8): proto ⇄ domain conversion, then the app.

use csm_errors::{FieldErrors, validated};
use csm_proto::role as pb;
use csm_types::{GroupId, ProfileId};
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use crate::app::{GroupUpdate, GroupView, GroupWritten, MemberWritten};
use crate::domain::groups::{GroupFilter, GroupFinding, GroupKind, GroupMember, GroupMembership, NewGroup};

fn group_kind_to_proto(kind: GroupKind) -> pb::GroupKind {
    match kind {
        GroupKind::AssignmentGroup => pb::GroupKind::AssignmentGroup,
        GroupKind::Team => pb::GroupKind::Team,
        GroupKind::CustomerWorkgroup => pb::GroupKind::CustomerWorkgroup,
    }
}

/// A GroupKind field: `None` for UNSPECIFIED (an error when `required`) or an unknown value.
fn group_kind_field(errors: &mut FieldErrors, field: &str, value: i32, required: bool) -> Option<GroupKind> {
    match pb::GroupKind::try_from(value) {
        Ok(pb::GroupKind::AssignmentGroup) => Some(GroupKind::AssignmentGroup),
        Ok(pb::GroupKind::Team) => Some(GroupKind::Team),
        Ok(pb::GroupKind::CustomerWorkgroup) => Some(GroupKind::CustomerWorkgroup),
        Ok(pb::GroupKind::Unspecified) => {
            if required {
                errors.add(field, "is required: ASSIGNMENT_GROUP, TEAM or CUSTOMER_WORKGROUP");
            }
            None
        }
        Err(_) => {
            errors.add(field, format!("is not a GroupKind value: {value}"));
            None
        }
    }
}

const GROUP_NAME_MAX: usize = 200;

const GROUP_DESCRIPTION_MAX: usize = 2000;

/// A group name: required, at most 200 characters, no control characters.
fn group_name_field(errors: &mut FieldErrors, field: &str, value: &str) -> Option<String> {
    let name = errors.required_text(field, value, GROUP_NAME_MAX)?;
    if name.chars().any(char::is_control) {
        errors.add(field, "must not contain control characters");
        return None;
    }
    Some(name)
}

fn group_description_field(errors: &mut FieldErrors, field: &str, value: &str) -> String {
    let description = value.trim();
    if description.chars().count() > GROUP_DESCRIPTION_MAX {
        errors.add(field, format!("must be at most {GROUP_DESCRIPTION_MAX} characters"));
    }
    description.to_owned()
}

/// The wire form of a group with its roles and managers.
fn group_to_proto(view: &GroupView) -> pb::Group {
    pb::Group {
        group_id: view.group.id.to_string(),
        name: view.group.name.clone(),
        kind: group_kind_to_proto(view.group.kind) as i32,
        description: view.group.description.clone(),
        parent_group_id: view.group.parent.map(|parent| parent.to_string()).unwrap_or_default(),
        roles: view.details.roles.iter().cloned().collect(),
        effective_roles: view.effective_roles.iter().cloned().collect(),
        manager_profile_ids: view.details.managers.iter().map(ToString::to_string).collect(),
        create_time: Some(csm_proto::timestamp(view.group.created_at)),
        update_time: Some(csm_proto::timestamp(view.group.updated_at)),
    }
}

fn member_to_proto(member: &GroupMember) -> pb::GroupMember {
    pb::GroupMember {
        group_id: member.group.to_string(),
        profile_id: member.profile.to_string(),
        manager: member.manager,
        create_time: Some(csm_proto::timestamp(member.created_at)),
    }
}

pub(super) fn membership_to_proto(membership: &GroupMembership) -> pb::ProfileGroupMembership {
    pb::ProfileGroupMembership {
        group_id: membership.group.to_string(),
        kind: group_kind_to_proto(membership.kind) as i32,
        direct: membership.direct,
        manager: membership.manager,
        via_group_id: membership.via.map(|group| group.to_string()).unwrap_or_default(),
    }
}

fn group_warning_to_proto(found: &GroupFinding) -> pb::AssignmentFinding {
    pb::AssignmentFinding {
        reason: found.finding.reason.to_owned(),
        severity: pb::FindingSeverity::Warning as i32,
        rule: found.finding.rule.to_owned(),
        path: Some(pb::ConflictPath {
            profile_id: found.profile().map(|profile| profile.to_string()).unwrap_or_default(),
            group_path: found.group_path.iter().map(ToString::to_string).collect(),
            role_path: found.finding.new_path.clone(),
            conflicting_role: found.finding.conflicting_role().to_owned(),
        }),
    }
}

fn group_written_warnings(written: &GroupWritten) -> Vec<pb::AssignmentFinding> {
    written.warnings.iter().map(group_warning_to_proto).collect()
}

fn member_written_to_proto(written: MemberWritten) -> pb::AddGroupMemberResponse {
    pb::AddGroupMemberResponse {
        member: Some(member_to_proto(&written.member)),
        warnings: written.warnings.iter().map(group_warning_to_proto).collect(),
        consistency_token: written.consistency_token,
    }
}

/// Validates a (group_id, profile_id) pair of a request.
fn group_and_profile(
    errors: &mut FieldErrors,
    group_id: &str,
    profile_id: &str,
) -> (Option<GroupId>, Option<ProfileId>) {
    let group = errors.required_id("group_id", group_id, GroupId::parse);
    let profile = errors.required_id("profile_id", profile_id, ProfileId::parse);
    (group, profile)
}

pub(super) async fn create_group(
    grpc: &RoleGrpc,
    request: Request<pb::CreateGroupRequest>,
) -> Result<Response<pb::CreateGroupResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let name = group_name_field(&mut errors, "name", &request.name);
    let kind = group_kind_field(&mut errors, "kind", request.kind, true);
    let description = group_description_field(&mut errors, "description", &request.description);
    let parent = errors.optional_id("parent_group_id", &request.parent_group_id, GroupId::parse);
    errors.finish()?;
    let (name, kind) = (validated(name)?, validated(kind)?);
    let (group, consistency_token) =
        app.create_group(&caller, request_id.as_deref(), NewGroup { name, kind, description, parent }).await?;
    Ok(Response::new(pb::CreateGroupResponse { group: Some(group_to_proto(&group)), consistency_token }))
}

pub(super) async fn get_group(
    grpc: &RoleGrpc,
    request: Request<pb::GetGroupRequest>,
) -> Result<Response<pb::GetGroupResponse>, Status> {
    let app = grpc.app.get()?;
    csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let group = errors.required_id("group_id", &request.get_ref().group_id, GroupId::parse);
    errors.finish()?;
    let group = validated(group)?;
    let group = app.get_group(group).await?;
    Ok(Response::new(pb::GetGroupResponse { group: Some(group_to_proto(&group)) }))
}

pub(super) async fn list_groups(
    grpc: &RoleGrpc,
    request: Request<pb::ListGroupsRequest>,
) -> Result<Response<pb::ListGroupsResponse>, Status> {
    let app = grpc.app.get()?;
    csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let kind = group_kind_field(&mut errors, "kind", request.kind, false);
    let parent = errors.optional_id("parent_group_id", &request.parent_group_id, GroupId::parse);
    let name_contains = request.name_contains.trim();
    if name_contains.chars().count() > GROUP_NAME_MAX {
        errors.add("name_contains", format!("must be at most {GROUP_NAME_MAX} characters"));
    }
    errors.finish()?;
    let page = validated(page)?;
    let filter = GroupFilter {
        kind,
        parent,
        // A parent filter already implies a level.
        top_level_only: request.top_level_only && parent.is_none(),
        name_contains: Some(name_contains.to_owned()).filter(|needle| !needle.is_empty()),
    };
    let (groups, next_page_token) = app.list_groups(&filter, &page).await?;
    Ok(Response::new(pb::ListGroupsResponse { groups: groups.iter().map(group_to_proto).collect(), next_page_token }))
}

pub(super) async fn update_group(
    grpc: &RoleGrpc,
    request: Request<pb::UpdateGroupRequest>,
) -> Result<Response<pb::UpdateGroupResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let group = request.group.unwrap_or_default();
    let group_id = errors.required_id("group.group_id", &group.group_id, GroupId::parse);
    let paths = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
    if paths.is_empty() {
        errors.add("update_mask", "must name at least one of: name, description");
    }
    let mut update = GroupUpdate::default();
    for path in &paths {
        match path.as_str() {
            "name" => update.name = group_name_field(&mut errors, "group.name", &group.name),
            "description" => {
                update.description = Some(group_description_field(&mut errors, "group.description", &group.description))
            }
            other => errors.add("update_mask", format!("{other:?} cannot be updated (paths: name, description)")),
        }
    }
    errors.finish()?;
    let group_id = validated(group_id)?;
    let (group, consistency_token) = app.update_group(&caller, group_id, update).await?;
    Ok(Response::new(pb::UpdateGroupResponse { group: Some(group_to_proto(&group)), consistency_token }))
}

pub(super) async fn delete_group(
    grpc: &RoleGrpc,
    request: Request<pb::DeleteGroupRequest>,
) -> Result<Response<pb::DeleteGroupResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let group = errors.required_id("group_id", &request.get_ref().group_id, GroupId::parse);
    errors.finish()?;
    let group = validated(group)?;
    let consistency_token = app.delete_group(&caller, group).await?;
    Ok(Response::new(pb::DeleteGroupResponse { consistency_token }))
}

pub(super) async fn set_group_parent(
    grpc: &RoleGrpc,
    request: Request<pb::SetGroupParentRequest>,
) -> Result<Response<pb::SetGroupParentResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
    let parent = errors.optional_id("parent_group_id", &request.parent_group_id, GroupId::parse);
    errors.finish()?;
    let group = validated(group)?;
    let written = app.set_group_parent(&caller, group, parent).await?;
    Ok(Response::new(pb::SetGroupParentResponse {
        group: Some(group_to_proto(&written.group)),
        warnings: group_written_warnings(&written),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn add_group_member(
    grpc: &RoleGrpc,
    request: Request<pb::AddGroupMemberRequest>,
) -> Result<Response<pb::AddGroupMemberResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let (group, profile) = group_and_profile(&mut errors, &request.group_id, &request.profile_id);
    errors.finish()?;
    let (group, profile) = (validated(group)?, validated(profile)?);
    let written = app.add_group_member(&caller, request_id.as_deref(), group, profile, request.manager).await?;
    Ok(Response::new(member_written_to_proto(written)))
}

pub(super) async fn remove_group_member(
    grpc: &RoleGrpc,
    request: Request<pb::RemoveGroupMemberRequest>,
) -> Result<Response<pb::RemoveGroupMemberResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let (group, profile) = group_and_profile(&mut errors, &request.get_ref().group_id, &request.get_ref().profile_id);
    errors.finish()?;
    let (group, profile) = (validated(group)?, validated(profile)?);
    let consistency_token = app.remove_group_member(&caller, group, profile).await?;
    Ok(Response::new(pb::RemoveGroupMemberResponse { consistency_token }))
}

pub(super) async fn set_group_member_manager(
    grpc: &RoleGrpc,
    request: Request<pb::SetGroupMemberManagerRequest>,
) -> Result<Response<pb::SetGroupMemberManagerResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let (group, profile) = group_and_profile(&mut errors, &request.group_id, &request.profile_id);
    errors.finish()?;
    let (group, profile) = (validated(group)?, validated(profile)?);
    let (member, consistency_token) = app.set_group_member_manager(&caller, group, profile, request.manager).await?;
    Ok(Response::new(pb::SetGroupMemberManagerResponse { member: Some(member_to_proto(&member)), consistency_token }))
}

pub(super) async fn list_group_members(
    grpc: &RoleGrpc,
    request: Request<pb::ListGroupMembersRequest>,
) -> Result<Response<pb::ListGroupMembersResponse>, Status> {
    let app = grpc.app.get()?;
    csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (group, page) = (validated(group)?, validated(page)?);
    let (members, next_page_token) =
        app.list_group_members(group, request.include_descendants, request.managers_only, &page).await?;
    Ok(Response::new(pb::ListGroupMembersResponse {
        members: members.iter().map(member_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn add_group_role(
    grpc: &RoleGrpc,
    request: Request<pb::AddGroupRoleRequest>,
) -> Result<Response<pb::AddGroupRoleResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
    let role = errors.required_text("role", &request.role, 200);
    errors.finish()?;
    let (group, role) = (validated(group)?, validated(role)?);
    let written = app.add_group_role(&caller, request_id.as_deref(), group, &role).await?;
    Ok(Response::new(pb::AddGroupRoleResponse {
        group: Some(group_to_proto(&written.group)),
        warnings: group_written_warnings(&written),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn remove_group_role(
    grpc: &RoleGrpc,
    request: Request<pb::RemoveGroupRoleRequest>,
) -> Result<Response<pb::RemoveGroupRoleResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
    let role = errors.required_text("role", &request.role, 200);
    errors.finish()?;
    let (group, role) = (validated(group)?, validated(role)?);
    let (group, consistency_token) = app.remove_group_role(&caller, group, &role).await?;
    Ok(Response::new(pb::RemoveGroupRoleResponse { group: Some(group_to_proto(&group)), consistency_token }))
}

pub(super) async fn list_profile_groups(
    grpc: &RoleGrpc,
    request: Request<pb::ListProfileGroupsRequest>,
) -> Result<Response<pb::ListProfileGroupsResponse>, Status> {
    let app = grpc.app.get()?;
    csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let kind = group_kind_field(&mut errors, "kind", request.kind, false);
    errors.finish()?;
    let (profile, page) = (validated(profile)?, validated(page)?);
    let (memberships, next_page_token) =
        app.list_profile_groups(profile, kind, request.include_ancestors, &page).await?;
    Ok(Response::new(pb::ListProfileGroupsResponse {
        memberships: memberships.iter().map(membership_to_proto).collect(),
        next_page_token,
    }))
}
