//! gRPC handlers of AssignRole and RevokeRole: proto ⇄ domain conversion,
//! then the app.

use csm_errors::{CsmError, FieldErrors};
use csm_proto::role as pb;
use csm_types::ProfileId;
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use crate::app::Assigned;
use crate::domain::collisions::Finding;

fn warning_to_proto(profile: ProfileId, finding: &Finding) -> pb::AssignmentFinding {
    pb::AssignmentFinding {
        reason: finding.reason.to_owned(),
        severity: pb::FindingSeverity::Warning as i32,
        rule: finding.rule.to_owned(),
        path: Some(pb::ConflictPath {
            profile_id: profile.to_string(),
            group_path: Vec::new(),
            role_path: finding.new_path.clone(),
            conflicting_role: finding.existing_path.last().cloned().unwrap_or_default(),
        }),
    }
}

fn assigned_to_proto(assigned: &Assigned, granted_by: Option<ProfileId>) -> pb::AssignRoleResponse {
    pb::AssignRoleResponse {
        assignment: Some(pb::RoleAssignment {
            assignment_id: assigned.assignment.id.to_string(),
            profile_id: assigned.profile.to_string(),
            role: assigned.assignment.role.clone(),
            granted_by_profile_id: granted_by.map(|profile| profile.to_string()).unwrap_or_default(),
            flagged_for_review: !assigned.warnings.is_empty(),
            create_time: Some(csm_proto::timestamp(assigned.assignment.created_at)),
        }),
        warnings: assigned.warnings.iter().map(|finding| warning_to_proto(assigned.profile, finding)).collect(),
        consistency_token: assigned.consistency_token.clone(),
    }
}

/// Validates a (profile_id, role) pair of a request.
fn profile_and_role(errors: &mut FieldErrors, profile_id: &str, role: &str) -> (Option<ProfileId>, Option<String>) {
    let profile = errors.required_id("profile_id", profile_id, ProfileId::parse);
    let role = errors.required_text("role", role, 200);
    (profile, role)
}

pub(super) async fn assign_role(
    grpc: &RoleGrpc,
    request: Request<pb::AssignRoleRequest>,
) -> Result<Response<pb::AssignRoleResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let (profile, role) = profile_and_role(&mut errors, &request.profile_id, &request.role);
    let request_id = errors.optional_request_id(&request.request_id);
    errors.finish()?;
    let (Some(profile), Some(role)) = (profile, role) else {
        return Err(CsmError::internal("validated fields missing").into());
    };
    let assigned = app.assign_role(&caller, request_id.as_deref(), profile, &role).await?;
    let granted_by = match &caller {
        csm_auth::Caller::Human(human) => human.profile_id,
        csm_auth::Caller::Service(_) => None,
    };
    Ok(Response::new(assigned_to_proto(&assigned, granted_by)))
}

pub(super) async fn revoke_role(
    grpc: &RoleGrpc,
    request: Request<pb::RevokeRoleRequest>,
) -> Result<Response<pb::RevokeRoleResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let (profile, role) = profile_and_role(&mut errors, &request.profile_id, &request.role);
    errors.finish()?;
    let (Some(profile), Some(role)) = (profile, role) else {
        return Err(CsmError::internal("validated fields missing").into());
    };
    let consistency_token = app.revoke_role(&caller, profile, &role).await?;
    Ok(Response::new(pb::RevokeRoleResponse { consistency_token }))
}
