//! gRPC handler of ValidateAssignment: each proposal converted to the dry run
//! of its mutation, the findings back to the wire. Proto ⇄ domain only.

use csm_errors::{CsmError, FieldErrors, validated};
use csm_proto::role as pb;
use csm_types::{GroupId, ProfileId};
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use crate::app::{ProfileRoleChange, ValidationFinding};

const ROLE_NAME_MAX: usize = 200;

/// Repeated role names: each required and bounded.
pub(super) fn roles_field(errors: &mut FieldErrors, field: &str, values: &[String]) -> Vec<String> {
    values
        .iter()
        .enumerate()
        .filter_map(|(index, role)| errors.required_text(&format!("{field}[{index}]"), role, ROLE_NAME_MAX))
        .collect()
}

pub(super) fn validation_finding_to_proto(found: &ValidationFinding) -> pb::AssignmentFinding {
    pb::AssignmentFinding {
        reason: found.reason.clone(),
        severity: if found.blocking { pb::FindingSeverity::Blocking } else { pb::FindingSeverity::Warning } as i32,
        rule: found.rule.clone(),
        path: found.path.as_ref().map(|path| pb::ConflictPath {
            profile_id: path.profile.map(|profile| profile.to_string()).unwrap_or_default(),
            group_path: path.group_path.iter().map(ToString::to_string).collect(),
            role_path: path.role_path.clone(),
            conflicting_role: path.conflicting_role.clone(),
        }),
    }
}

pub(super) async fn validate_assignment(
    grpc: &RoleGrpc,
    request: Request<pb::ValidateAssignmentRequest>,
) -> Result<Response<pb::ValidateAssignmentResponse>, Status> {
    let app = grpc.app.get()?;
    use pb::validate_assignment_request::Proposal;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let mut findings: Vec<ValidationFinding> = match request.proposal {
        Some(Proposal::ProfileRole(proposal)) => {
            let profile = errors.required_id("profile_role.profile_id", &proposal.profile_id, ProfileId::parse);
            let role = errors.required_text("profile_role.role", &proposal.role, ROLE_NAME_MAX);
            errors.finish()?;
            let (profile, role) = (validated(profile)?, validated(role)?);
            app.validate_profile_roles(&caller, profile, ProfileRoleChange::Add(&role)).await?
        }
        Some(Proposal::ProfileRoleSet(proposal)) => {
            let profile = errors.required_id("profile_role_set.profile_id", &proposal.profile_id, ProfileId::parse);
            let roles = roles_field(&mut errors, "profile_role_set.roles", &proposal.roles);
            errors.finish()?;
            let profile = validated(profile)?;
            app.validate_profile_roles(&caller, profile, ProfileRoleChange::Replace(&roles)).await?
        }
        Some(Proposal::GroupRole(proposal)) => {
            let group = errors.required_id("group_role.group_id", &proposal.group_id, GroupId::parse);
            let role = errors.required_text("group_role.role", &proposal.role, ROLE_NAME_MAX);
            errors.finish()?;
            let (group, role) = (validated(group)?, validated(role)?);
            app.validate_group_role(&caller, group, &role).await?
        }
        Some(Proposal::GroupMember(proposal)) => {
            let group = errors.required_id("group_member.group_id", &proposal.group_id, GroupId::parse);
            let profile = errors.required_id("group_member.profile_id", &proposal.profile_id, ProfileId::parse);
            errors.finish()?;
            let (group, profile) = (validated(group)?, validated(profile)?);
            app.validate_group_member(&caller, group, profile).await?
        }
        Some(Proposal::GroupParent(proposal)) => {
            let group = errors.required_id("group_parent.group_id", &proposal.group_id, GroupId::parse);
            // Empty clears the parent, as in SetGroupParent.
            let parent = errors.optional_id("group_parent.parent_group_id", &proposal.parent_group_id, GroupId::parse);
            errors.finish()?;
            let group = validated(group)?;
            app.validate_group_parent(&caller, group, parent).await?
        }
        Some(Proposal::Containment(proposal)) => {
            let parent = errors.required_text("containment.parent_role", &proposal.parent_role, ROLE_NAME_MAX);
            let child = errors.required_text("containment.child_role", &proposal.child_role, ROLE_NAME_MAX);
            errors.finish()?;
            let (parent, child) = (validated(parent)?, validated(child)?);
            app.validate_containment(&caller, &parent, &child).await?
        }
        None => {
            errors.add("proposal", "is required");
            errors.finish()?;
            return Err(CsmError::internal("validated fields missing").into());
        }
    };
    // Blocking first.
    findings.sort_by_key(|finding| !finding.blocking);
    Ok(Response::new(pb::ValidateAssignmentResponse {
        allowed: !findings.iter().any(|finding| finding.blocking),
        findings: findings.iter().map(validation_finding_to_proto).collect(),
    }))
}
