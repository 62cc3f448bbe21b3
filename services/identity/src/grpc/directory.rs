//! gRPC handlers of identity's directory RPCs (departments, security groups,
//! settings): proto ⇄ domain conversion, then the app.

use csm_db::PageRequest;
use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::identity as pb;
use csm_types::{DepartmentId, ProfileId, SecurityGroupId};
use tonic::{Request, Response, Status};

use super::IdentityGrpc;
use super::convert::{profile_of, security_group_to_proto, user_class_to_proto};
use crate::app::directory::presentation_roles_error;
use crate::domain::directory::{
    DESCRIPTION_MAX_LEN, DIRECTORY_NAME_MAX_LEN, Department, DepartmentChanges, IdentitySettings, NewDepartment,
    NewSecurityGroup, PresentationRoles, SecurityGroupChanges, SecurityGroupKind, SettingsChanges, UserClass,
};

// ------------------------------------------------------------------ helpers

fn department_to_proto(department: &Department) -> pb::Department {
    pb::Department {
        department_id: department.id.to_string(),
        name: department.name.clone(),
        description: department.description.clone(),
        active: department.active,
        created_at: Some(csm_proto::timestamp(department.created_at)),
        updated_at: Some(csm_proto::timestamp(department.updated_at)),
    }
}

fn security_group_kind_from_proto(value: i32) -> Option<SecurityGroupKind> {
    match pb::SecurityGroupKind::try_from(value) {
        Ok(pb::SecurityGroupKind::User) => Some(SecurityGroupKind::User),
        Ok(pb::SecurityGroupKind::Customer) => Some(SecurityGroupKind::Customer),
        Ok(pb::SecurityGroupKind::Anonymous) => Some(SecurityGroupKind::Anonymous),
        _ => None,
    }
}

fn user_classes_from_proto(errors: &mut FieldErrors, field: &str, values: &[i32]) -> Vec<UserClass> {
    let mut classes = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        match pb::UserClass::try_from(*value) {
            Ok(pb::UserClass::SysUser) => classes.push(UserClass::SysUser),
            Ok(pb::UserClass::CustomerContact) => classes.push(UserClass::CustomerContact),
            Ok(pb::UserClass::ConsumerUser) => classes.push(UserClass::ConsumerUser),
            _ => errors.add(format!("{field}[{index}]"), "must be a USER_CLASS_* value other than UNSPECIFIED"),
        }
    }
    classes
}

fn settings_to_proto(settings: &IdentitySettings) -> pb::Settings {
    pb::Settings {
        consumer_allowed_user_types: settings
            .consumer_allowed_user_types
            .iter()
            .map(|class| user_class_to_proto(*class) as i32)
            .collect(),
        enforce_internal_user_deny_list: settings.enforce_internal_user_deny_list,
        internal_user_deny_list: settings
            .internal_user_deny_list
            .iter()
            .map(|class| user_class_to_proto(*class) as i32)
            .collect(),
        updated_at: settings.updated_at.map(csm_proto::timestamp),
    }
}

// -------------------------------------------------------------- departments

pub(super) async fn create_department(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateDepartmentRequest>,
) -> Result<Response<pb::CreateDepartmentResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let name = errors.required_text("name", &request.name, DIRECTORY_NAME_MAX_LEN);
    let description = errors.optional_text("description", &request.description, DESCRIPTION_MAX_LEN);
    errors.finish()?;
    let new = NewDepartment { name: validated(name)?, description };
    let written = app.create_department(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateDepartmentResponse {
        department: Some(department_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_department(
    grpc: &IdentityGrpc,
    request: Request<pb::GetDepartmentRequest>,
) -> Result<Response<pb::GetDepartmentResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id("department_id", &request.get_ref().department_id, DepartmentId::parse);
    errors.finish()?;
    let department = app.get_department(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetDepartmentResponse { department: Some(department_to_proto(&department)) }))
}

pub(super) async fn update_department(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateDepartmentRequest>,
) -> Result<Response<pb::UpdateDepartmentResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), &["name", "description", "active"])?;
    let department = request.department.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("department.department_id", &department.department_id, DepartmentId::parse);
    let mut changes = DepartmentChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => changes.name = errors.required_text("department.name", &department.name, DIRECTORY_NAME_MAX_LEN),
            "description" => {
                changes.description =
                    Some(errors.optional_text("department.description", &department.description, DESCRIPTION_MAX_LEN));
            }
            _ => changes.active = Some(department.active),
        }
    }
    errors.finish()?;
    let written = app.update_department(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateDepartmentResponse {
        department: Some(department_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_departments(
    grpc: &IdentityGrpc,
    request: Request<pb::ListDepartmentsRequest>,
) -> Result<Response<pb::ListDepartmentsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let name_prefix = errors.optional_text("name_prefix", &request.name_prefix, DIRECTORY_NAME_MAX_LEN);
    errors.finish()?;
    let name_prefix = Some(name_prefix).filter(|prefix| !prefix.is_empty());
    let (departments, next_page_token) =
        app.list_departments(&caller, validated(page)?, name_prefix.as_deref(), request.include_inactive).await?;
    Ok(Response::new(pb::ListDepartmentsResponse {
        departments: departments.iter().map(department_to_proto).collect(),
        next_page_token,
    }))
}

// ---------------------------------------------------------- security groups

pub(super) async fn create_security_group(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateSecurityGroupRequest>,
) -> Result<Response<pb::CreateSecurityGroupResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let name = errors.required_text("name", &request.name, DIRECTORY_NAME_MAX_LEN);
    let kind = security_group_kind_from_proto(request.kind);
    if kind.is_none() {
        errors.add("kind", "must be SECURITY_GROUP_KIND_USER or SECURITY_GROUP_KIND_CUSTOMER");
    }
    let description = errors.optional_text("description", &request.description, DESCRIPTION_MAX_LEN);
    errors.finish()?;
    let presentation_roles =
        PresentationRoles::new(request.presentation_roles, Some(request.default_presentation_role))
            .map_err(|error| presentation_roles_error(error, "presentation_roles"))?;
    let new = NewSecurityGroup {
        name: validated(name)?,
        kind: validated(kind)?,
        description,
        presentation_roles,
        default_group: request.default_group,
    };
    let written = app.create_security_group(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateSecurityGroupResponse {
        security_group: Some(security_group_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_security_group(
    grpc: &IdentityGrpc,
    request: Request<pb::GetSecurityGroupRequest>,
) -> Result<Response<pb::GetSecurityGroupResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id("security_group_id", &request.get_ref().security_group_id, SecurityGroupId::parse);
    errors.finish()?;
    let group = app.get_security_group(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetSecurityGroupResponse { security_group: Some(security_group_to_proto(&group)) }))
}

pub(super) async fn update_security_group(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateSecurityGroupRequest>,
) -> Result<Response<pb::UpdateSecurityGroupResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(
        request.update_mask.as_ref(),
        &["name", "description", "presentation_roles", "default_presentation_role", "default_group"],
    )?;
    let group = request.security_group.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("security_group.security_group_id", &group.security_group_id, SecurityGroupId::parse);
    let mut changes = SecurityGroupChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => {
                changes.name = errors.required_text("security_group.name", &group.name, DIRECTORY_NAME_MAX_LEN);
            }
            "description" => {
                changes.description =
                    Some(errors.optional_text("security_group.description", &group.description, DESCRIPTION_MAX_LEN));
            }
            "presentation_roles" => changes.presentation_roles = Some(group.presentation_roles.clone()),
            "default_presentation_role" => {
                changes.default_presentation_role = Some(group.default_presentation_role.clone());
            }
            _ => changes.default_group = Some(group.default_group),
        }
    }
    errors.finish()?;
    let written = app.update_security_group(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateSecurityGroupResponse {
        security_group: Some(security_group_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_security_groups(
    grpc: &IdentityGrpc,
    request: Request<pb::ListSecurityGroupsRequest>,
) -> Result<Response<pb::ListSecurityGroupsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let kind = match pb::SecurityGroupKind::try_from(request.kind) {
        Ok(pb::SecurityGroupKind::Unspecified) => None,
        _ => {
            let kind = security_group_kind_from_proto(request.kind);
            if kind.is_none() {
                errors.add("kind", "must be a SECURITY_GROUP_KIND_* value");
            }
            kind
        }
    };
    errors.finish()?;
    let (groups, next_page_token) = app.list_security_groups(&caller, validated(page)?, kind).await?;
    Ok(Response::new(pb::ListSecurityGroupsResponse {
        security_groups: groups.iter().map(security_group_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn assign_security_group(
    grpc: &IdentityGrpc,
    request: Request<pb::AssignSecurityGroupRequest>,
) -> Result<Response<pb::AssignSecurityGroupResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let group = errors.required_id("security_group_id", &request.security_group_id, SecurityGroupId::parse);
    errors.finish()?;
    let written = app.assign_security_group(&caller, validated(profile)?, validated(group)?).await?;
    let profile = profile_of(app, written.value.profile_id).await?;
    Ok(Response::new(pb::AssignSecurityGroupResponse {
        profile,
        previous_security_group_id: written
            .value
            .previous_security_group_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        consistency_token: written.consistency_token,
    }))
}

// ----------------------------------------------------------------- settings

pub(super) async fn get_settings(
    grpc: &IdentityGrpc,
    request: Request<pb::GetSettingsRequest>,
) -> Result<Response<pb::GetSettingsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let settings = app.get_settings(&caller).await?;
    Ok(Response::new(pb::GetSettingsResponse { settings: Some(settings_to_proto(&settings)) }))
}

pub(super) async fn update_settings(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateSettingsRequest>,
) -> Result<Response<pb::UpdateSettingsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(
        request.update_mask.as_ref(),
        &["consumer_allowed_user_types", "enforce_internal_user_deny_list", "internal_user_deny_list"],
    )?;
    let settings = request.settings.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let mut changes = SettingsChanges::default();
    for path in &paths {
        match path.as_str() {
            "consumer_allowed_user_types" => {
                changes.consumer_allowed_user_types = Some(user_classes_from_proto(
                    &mut errors,
                    "settings.consumer_allowed_user_types",
                    &settings.consumer_allowed_user_types,
                ));
            }
            "enforce_internal_user_deny_list" => {
                changes.enforce_internal_user_deny_list = Some(settings.enforce_internal_user_deny_list);
            }
            _ => {
                changes.internal_user_deny_list = Some(user_classes_from_proto(
                    &mut errors,
                    "settings.internal_user_deny_list",
                    &settings.internal_user_deny_list,
                ));
            }
        }
    }
    errors.finish()?;
    let written = app.update_settings(&caller, changes).await?;
    Ok(Response::new(pb::UpdateSettingsResponse {
        settings: Some(settings_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}
