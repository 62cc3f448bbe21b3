//! gRPC handlers of catalog administration (DefineRole, UpdateRole,
//! DeleteRole, Add/RemoveRoleContainment, Add/RemoveRoleAlias): proto ⇄
//! domain conversion, then the app.

use csm_errors::{FieldErrors, validated};
use csm_proto::role as pb;
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use super::catalog::role_to_proto;
use crate::app::{ContainmentAdded, RoleDefinition};
use crate::domain::RoleFamily;
use crate::domain::catalog_admin::{DESCRIPTION_MAX, DISPLAY_NAME_MAX, HolderFinding, role_name_problem};

/// A role name or alias of a write: 1–100 chars of `[a-z0-9_.]`, starting with a letter.
fn role_name_field(errors: &mut FieldErrors, field: &str, value: &str) -> Option<String> {
    match role_name_problem(value) {
        None => Some(value.to_owned()),
        Some(problem) => {
            errors.add(field, problem);
            None
        }
    }
}

/// A role description: optional, at most 2000 characters.
fn role_description_field(errors: &mut FieldErrors, field: &str, value: &str) -> String {
    let description = value.trim();
    if description.chars().count() > DESCRIPTION_MAX {
        errors.add(field, format!("must be at most {DESCRIPTION_MAX} characters"));
    }
    description.to_owned()
}

fn holder_finding_to_proto(found: &HolderFinding) -> pb::AssignmentFinding {
    pb::AssignmentFinding {
        reason: found.finding.reason.to_owned(),
        severity: pb::FindingSeverity::Warning as i32,
        rule: found.finding.rule.to_owned(),
        path: Some(pb::ConflictPath {
            profile_id: found.profile.map(|profile| profile.to_string()).unwrap_or_default(),
            group_path: found.group.map(|group| vec![group.to_string()]).unwrap_or_default(),
            role_path: found.finding.new_path.clone(),
            conflicting_role: found.finding.conflicting_role().to_owned(),
        }),
    }
}

fn containment_added_to_proto(added: ContainmentAdded) -> pb::AddRoleContainmentResponse {
    pb::AddRoleContainmentResponse {
        containment: Some(pb::RoleContainment {
            parent_role: added.parent,
            child_role: added.child,
            origin: pb::RoleOrigin::Custom as i32,
            suspect: false,
            active: true,
            spec_reference: String::new(),
            create_time: None,
        }),
        warnings: added.warnings.iter().map(holder_finding_to_proto).collect(),
        consistency_token: added.consistency_token,
    }
}

pub(super) async fn define_role(
    grpc: &RoleGrpc,
    request: Request<pb::DefineRoleRequest>,
) -> Result<Response<pb::DefineRoleResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let name = role_name_field(&mut errors, "role_name", &request.role_name);
    let display_name = errors.required_text("display_name", &request.display_name, DISPLAY_NAME_MAX);
    let description = role_description_field(&mut errors, "description", &request.description);
    let mut contains = Vec::new();
    for (index, child) in request.contains.iter().enumerate() {
        if let Some(child) = errors.required_text(&format!("contains[{index}]"), child, 200) {
            contains.push(child);
        }
    }
    let intended_family = match pb::RoleFamily::try_from(request.intended_family) {
        Ok(pb::RoleFamily::Unspecified) => None,
        Ok(pb::RoleFamily::Agent) => Some(RoleFamily::Agent),
        Ok(pb::RoleFamily::Requester) => Some(RoleFamily::Requester),
        Ok(pb::RoleFamily::Neutral) => Some(RoleFamily::Neutral),
        Ok(pb::RoleFamily::Both) | Err(_) => {
            errors.add("intended_family", "must be AGENT, REQUESTER or NEUTRAL");
            None
        }
    };
    errors.finish()?;
    let (name, display_name) = (validated(name)?, validated(display_name)?);
    let definition = RoleDefinition { name, display_name, description, contains, intended_family };
    let (role, consistency_token) = app.define_role(&caller, request_id.as_deref(), definition).await?;
    Ok(Response::new(pb::DefineRoleResponse {
        role: Some(role_to_proto(app.catalog(), &role, true)),
        consistency_token,
    }))
}

pub(super) async fn update_role(
    grpc: &RoleGrpc,
    request: Request<pb::UpdateRoleRequest>,
) -> Result<Response<pb::UpdateRoleResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let role = request.role.unwrap_or_default();
    let name = errors.required_text("role.role_name", &role.role_name, 200);
    let paths = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
    if paths.is_empty() {
        errors.add("update_mask", "must name display_name and/or description");
    }
    let (mut display_name, mut description) = (None, None);
    for path in &paths {
        match path.as_str() {
            "display_name" => {
                display_name = errors.required_text("role.display_name", &role.display_name, DISPLAY_NAME_MAX)
            }
            "description" => {
                description = Some(role_description_field(&mut errors, "role.description", &role.description))
            }
            other => errors.add("update_mask", format!("{other:?} cannot be updated (display_name, description)")),
        }
    }
    errors.finish()?;
    let name = validated(name)?;
    let (role, consistency_token) =
        app.update_role(&caller, &name, display_name.as_deref(), description.as_deref()).await?;
    Ok(Response::new(pb::UpdateRoleResponse {
        role: Some(role_to_proto(app.catalog(), &role, true)),
        consistency_token,
    }))
}

pub(super) async fn delete_role(
    grpc: &RoleGrpc,
    request: Request<pb::DeleteRoleRequest>,
) -> Result<Response<pb::DeleteRoleResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let name = errors.required_text("role", &request.get_ref().role, 200);
    errors.finish()?;
    let name = validated(name)?;
    let consistency_token = app.delete_role(&caller, &name).await?;
    Ok(Response::new(pb::DeleteRoleResponse { consistency_token }))
}

pub(super) async fn add_role_containment(
    grpc: &RoleGrpc,
    request: Request<pb::AddRoleContainmentRequest>,
) -> Result<Response<pb::AddRoleContainmentResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let parent = errors.required_text("parent_role", &request.parent_role, 200);
    let child = errors.required_text("child_role", &request.child_role, 200);
    errors.finish()?;
    let (parent, child) = (validated(parent)?, validated(child)?);
    let added = app.add_role_containment(&caller, request_id.as_deref(), &parent, &child).await?;
    Ok(Response::new(containment_added_to_proto(added)))
}

pub(super) async fn remove_role_containment(
    grpc: &RoleGrpc,
    request: Request<pb::RemoveRoleContainmentRequest>,
) -> Result<Response<pb::RemoveRoleContainmentResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let parent = errors.required_text("parent_role", &request.parent_role, 200);
    let child = errors.required_text("child_role", &request.child_role, 200);
    errors.finish()?;
    let (parent, child) = (validated(parent)?, validated(child)?);
    let consistency_token = app.remove_role_containment(&caller, &parent, &child).await?;
    Ok(Response::new(pb::RemoveRoleContainmentResponse { consistency_token }))
}

pub(super) async fn add_role_alias(
    grpc: &RoleGrpc,
    request: Request<pb::AddRoleAliasRequest>,
) -> Result<Response<pb::AddRoleAliasResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let role = errors.required_text("role", &request.role, 200);
    let alias = role_name_field(&mut errors, "alias", &request.alias);
    errors.finish()?;
    let (role, alias) = (validated(role)?, validated(alias)?);
    let (role, consistency_token) = app.add_role_alias(&caller, request_id.as_deref(), &role, &alias).await?;
    Ok(Response::new(pb::AddRoleAliasResponse {
        role: Some(role_to_proto(app.catalog(), &role, true)),
        consistency_token,
    }))
}

pub(super) async fn remove_role_alias(
    grpc: &RoleGrpc,
    request: Request<pb::RemoveRoleAliasRequest>,
) -> Result<Response<pb::RemoveRoleAliasResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let alias = errors.required_text("alias", &request.get_ref().alias, 200);
    errors.finish()?;
    let alias = validated(alias)?;
    let consistency_token = app.remove_role_alias(&caller, &alias).await?;
    Ok(Response::new(pb::RemoveRoleAliasResponse { consistency_token }))
}
