//! gRPC handlers of the profile-level RPCs: GetEffectiveRoles,
//! BatchGetEffectiveRoles, ReplaceProfileRoles, ListProfileRoles,
//! ListAssignableRoles, GetPrincipalClass and EnsureDefaultClass. Proto ⇄
//! domain only.

use csm_errors::{CsmError, FieldErrors, validated};
use csm_proto::role as pb;
use csm_types::{GroupId, ProfileId};
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use super::catalog::class_to_proto;
use super::groups::membership_to_proto;
use super::validation::{roles_field, validation_finding_to_proto};
use crate::app::{DefaultClassOutcome, EffectiveRoles, GrantSource, RoleGrant, RoleProposal, ValidationFinding};
use crate::domain::assignments::DirectAssignment;

/// BatchGetEffectiveRoles takes at most this many profiles.
const MAX_BATCH_PROFILES: usize = 1000;

fn effective_roles_to_proto(effective: &EffectiveRoles) -> pb::EffectiveRoles {
    pb::EffectiveRoles {
        profile_id: effective.profile.to_string(),
        roles: effective.roles.iter().cloned().collect(),
        grants: effective.grants.iter().map(grant_to_proto).collect(),
        principal_class: class_to_proto(effective.class) as i32,
        group_memberships: effective.group_memberships.iter().map(membership_to_proto).collect(),
        flagged_for_review: effective.flagged_for_review,
    }
}

pub(super) fn grant_to_proto(grant: &RoleGrant) -> pb::RoleGrant {
    pb::RoleGrant {
        role: grant.role.clone(),
        source: match GrantSource::of(grant) {
            GrantSource::Direct => pb::RoleSource::Direct,
            GrantSource::Group => pb::RoleSource::Group,
            GrantSource::Containment => pb::RoleSource::Containment,
        } as i32,
        assigned_role: grant.assigned_role.clone(),
        assignment_id: grant.assignment_id.map(|id| id.to_string()).unwrap_or_default(),
        group_id: grant.group.map(|group| group.to_string()).unwrap_or_default(),
        group_path: grant.group_path.iter().map(ToString::to_string).collect(),
        containment_path: grant.containment_path.clone(),
    }
}

fn assignment_to_proto(profile: ProfileId, assignment: &DirectAssignment, flagged: bool) -> pb::RoleAssignment {
    pb::RoleAssignment {
        assignment_id: assignment.id.to_string(),
        profile_id: profile.to_string(),
        role: assignment.role.clone(),
        // Who granted a role is not stored; the change feed records the write.
        granted_by_profile_id: String::new(),
        flagged_for_review: flagged,
        create_time: Some(csm_proto::timestamp(assignment.created_at)),
    }
}

pub(super) async fn get_effective_roles(
    grpc: &RoleGrpc,
    request: Request<pb::GetEffectiveRolesRequest>,
) -> Result<Response<pb::GetEffectiveRolesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse);
    errors.finish()?;
    let Some(profile) = profile else {
        return Err(CsmError::internal("validated fields missing").into());
    };
    let (effective, consistency_token) = app.effective_roles(&caller, profile).await?;
    Ok(Response::new(pb::GetEffectiveRolesResponse {
        effective_roles: Some(effective_roles_to_proto(&effective)),
        consistency_token,
    }))
}

/// PreviewEffectiveRoles takes at most this many entries per list.
const MAX_PROPOSED: usize = 100;

pub(super) async fn preview_effective_roles(
    grpc: &RoleGrpc,
    request: Request<pb::PreviewEffectiveRolesRequest>,
) -> Result<Response<pb::PreviewEffectiveRolesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    for (field, count) in [
        ("assign_roles", request.assign_roles.len()),
        ("revoke_roles", request.revoke_roles.len()),
        ("join_group_ids", request.join_group_ids.len()),
        ("leave_group_ids", request.leave_group_ids.len()),
    ] {
        if count > MAX_PROPOSED {
            errors.add(field, format!("at most {MAX_PROPOSED} entries, got {count}"));
        }
    }
    let groups = |errors: &mut FieldErrors, field: &str, ids: &[String]| -> Vec<GroupId> {
        ids.iter()
            .enumerate()
            .filter_map(|(index, id)| errors.required_id(&format!("{field}[{index}]"), id, GroupId::parse))
            .collect()
    };
    let proposal = RoleProposal {
        assign_roles: roles_field(&mut errors, "assign_roles", &request.assign_roles),
        revoke_roles: roles_field(&mut errors, "revoke_roles", &request.revoke_roles),
        join_groups: groups(&mut errors, "join_group_ids", &request.join_group_ids),
        leave_groups: groups(&mut errors, "leave_group_ids", &request.leave_group_ids),
    };
    errors.finish()?;
    let profile = validated(profile)?;
    let (effective, consistency_token) = app.preview_effective_roles(&caller, profile, &proposal).await?;
    Ok(Response::new(pb::PreviewEffectiveRolesResponse {
        effective_roles: Some(effective_roles_to_proto(&effective)),
        consistency_token,
    }))
}

pub(super) async fn replace_profile_roles(
    grpc: &RoleGrpc,
    request: Request<pb::ReplaceProfileRolesRequest>,
) -> Result<Response<pb::ReplaceProfileRolesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let roles = roles_field(&mut errors, "roles", &request.roles);
    errors.finish()?;
    let profile = validated(profile)?;
    let replaced = app.replace_profile_roles(&caller, profile, &roles).await?;
    let flagged = !replaced.warnings.is_empty();
    Ok(Response::new(pb::ReplaceProfileRolesResponse {
        assignments: replaced
            .assignments
            .iter()
            .map(|assignment| assignment_to_proto(profile, assignment, flagged))
            .collect(),
        retained_roles: replaced.retained.clone(),
        warnings: replaced
            .warnings
            .iter()
            .map(|finding| validation_finding_to_proto(&ValidationFinding::of_profile(profile, finding, false)))
            .collect(),
        consistency_token: replaced.consistency_token,
    }))
}

pub(super) async fn list_profile_roles(
    grpc: &RoleGrpc,
    request: Request<pb::ListProfileRolesRequest>,
) -> Result<Response<pb::ListProfileRolesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let mut sources = Vec::new();
    for (index, value) in request.sources.iter().enumerate() {
        match pb::RoleSource::try_from(*value) {
            Ok(pb::RoleSource::Direct) => sources.push(GrantSource::Direct),
            Ok(pb::RoleSource::Group) => sources.push(GrantSource::Group),
            Ok(pb::RoleSource::Containment) => sources.push(GrantSource::Containment),
            _ => errors.add(format!("sources[{index}]"), format!("is not a RoleSource: {value}")),
        }
    }
    errors.finish()?;
    let (profile, page) = (validated(profile)?, validated(page)?);
    let (grants, next_page_token) = app.list_profile_roles(&caller, profile, &sources, &page).await?;
    Ok(Response::new(pb::ListProfileRolesResponse {
        grants: grants.iter().map(grant_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_assignable_roles(
    grpc: &RoleGrpc,
    request: Request<pb::ListAssignableRolesRequest>,
) -> Result<Response<pb::ListAssignableRolesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let actor = errors.optional_id("actor_profile_id", &request.actor_profile_id, ProfileId::parse);
    let target = errors.optional_id("target_profile_id", &request.target_profile_id, ProfileId::parse);
    errors.finish()?;
    let assignable = app.list_assignable_roles(&caller, actor, target).await?;
    Ok(Response::new(pb::ListAssignableRolesResponse {
        roles: assignable.roles.into_iter().collect(),
        unrestricted: assignable.unrestricted,
    }))
}

pub(super) async fn batch_get_effective_roles(
    grpc: &RoleGrpc,
    request: Request<pb::BatchGetEffectiveRolesRequest>,
) -> Result<Response<pb::BatchGetEffectiveRolesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    if request.profile_ids.len() > MAX_BATCH_PROFILES {
        return Err(CsmError::invalid_argument(
            "BATCH_TOO_LARGE",
            format!("at most {MAX_BATCH_PROFILES} profiles per call, got {}", request.profile_ids.len()),
        )
        .into());
    }
    let mut errors = FieldErrors::new();
    if request.profile_ids.is_empty() {
        errors.add("profile_ids", "is required: 1 to 1000 profile ids");
    }
    let profiles: Vec<ProfileId> = request
        .profile_ids
        .iter()
        .enumerate()
        .filter_map(|(index, id)| errors.required_id(&format!("profile_ids[{index}]"), id, ProfileId::parse))
        .collect();
    errors.finish()?;
    let (effective, consistency_token) = app.batch_effective_roles(&caller, &profiles).await?;
    Ok(Response::new(pb::BatchGetEffectiveRolesResponse {
        effective_roles: effective.iter().map(effective_roles_to_proto).collect(),
        consistency_token,
    }))
}

pub(super) async fn get_principal_class(
    grpc: &RoleGrpc,
    request: Request<pb::GetPrincipalClassRequest>,
) -> Result<Response<pb::GetPrincipalClassResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse);
    errors.finish()?;
    let profile = validated(profile)?;
    let (class, grants, consistency_token) = app.principal_class(&caller, profile).await?;
    Ok(Response::new(pb::GetPrincipalClassResponse {
        principal_class: class_to_proto(class) as i32,
        explicit_grants: grants.iter().map(grant_to_proto).collect(),
        consistency_token,
    }))
}

pub(super) async fn ensure_default_class(
    grpc: &RoleGrpc,
    request: Request<pb::EnsureDefaultClassRequest>,
) -> Result<Response<pb::EnsureDefaultClassResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse);
    errors.finish()?;
    let profile = validated(profile)?;
    let ensured = app.ensure_default_class(&caller, profile).await?;
    let (outcome, assignment) = match &ensured.outcome {
        DefaultClassOutcome::AlreadyClassified => (pb::DefaultClassOutcome::AlreadyClassified, None),
        DefaultClassOutcome::Assigned(assignment) => {
            let outcome = if assignment.role == crate::domain::catalog::SNC_INTERNAL {
                pb::DefaultClassOutcome::AssignedInternal
            } else {
                pb::DefaultClassOutcome::AssignedExternal
            };
            (outcome, Some(assignment_to_proto(profile, assignment, false)))
        }
    };
    Ok(Response::new(pb::EnsureDefaultClassResponse {
        outcome: outcome as i32,
        principal_class: class_to_proto(ensured.class) as i32,
        assignment,
        consistency_token: ensured.consistency_token,
    }))
}
