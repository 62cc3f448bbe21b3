//! gRPC adapter: converts proto ⇄ domain and calls the app. Nothing else.

mod profiles;

use std::sync::Arc;

use csm_errors::{CsmError, FieldErrors};
use csm_proto::role as pb;
use csm_proto::role::role_service_server::RoleService;
use csm_server::Readiness;
use csm_types::{GroupId, ProfileId};
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::app::{
    Assigned, Catalog, ContainmentAdded, EffectiveRoles, GroupUpdate, GroupView, GroupWritten, MemberWritten, RoleApp,
    RoleDefinition, RoleFilter,
};
use crate::domain::catalog::CatalogRole;
use crate::domain::catalog_admin::{DESCRIPTION_MAX, DISPLAY_NAME_MAX, HolderFinding, role_name_problem};
use crate::domain::collisions::{Finding, MixingPolicy, PersonaPolicy};
use crate::domain::groups::{GroupFilter, GroupFinding, GroupKind, GroupMember, GroupMembership, NewGroup};
use crate::domain::settings::{RoleSettings, SettingsChange};
use crate::domain::{PrincipalClass, RoleFamily};

pub struct RoleGrpc {
    app: Arc<Readiness<RoleApp>>,
}

impl RoleGrpc {
    pub fn new(app: Arc<Readiness<RoleApp>>) -> Self {
        Self { app }
    }
}

fn effective_roles_to_proto(effective: &EffectiveRoles) -> pb::EffectiveRoles {
    pb::EffectiveRoles {
        profile_id: effective.profile.to_string(),
        roles: effective.roles.iter().cloned().collect(),
        grants: effective
            .grants
            .iter()
            .map(|grant| pb::RoleGrant {
                role: grant.role.clone(),
                source: if grant.containment_path.len() > 1 {
                    pb::RoleSource::Containment
                } else if grant.group.is_some() {
                    pb::RoleSource::Group
                } else {
                    pb::RoleSource::Direct
                } as i32,
                assigned_role: grant.assigned_role.clone(),
                assignment_id: grant.assignment_id.map(|id| id.to_string()).unwrap_or_default(),
                group_id: grant.group.map(|group| group.to_string()).unwrap_or_default(),
                group_path: grant.group_path.iter().map(ToString::to_string).collect(),
                containment_path: grant.containment_path.clone(),
            })
            .collect(),
        principal_class: class_to_proto(effective.class) as i32,
        group_memberships: effective.group_memberships.iter().map(membership_to_proto).collect(),
        flagged_for_review: effective.flagged_for_review,
    }
}

fn class_to_proto(class: PrincipalClass) -> pb::PrincipalClass {
    match class {
        PrincipalClass::Internal => pb::PrincipalClass::Internal,
        PrincipalClass::External => pb::PrincipalClass::External,
        PrincipalClass::None => pb::PrincipalClass::None,
        PrincipalClass::Both => pb::PrincipalClass::Both,
    }
}

fn origin_to_proto(origin: &str) -> pb::RoleOrigin {
    if origin == "custom" { pb::RoleOrigin::Custom } else { pb::RoleOrigin::Seeded }
}

fn role_to_proto(catalog: &Catalog, role: &CatalogRole, with_containment: bool) -> pb::Role {
    let graph = &catalog.graph;
    let closure = graph.closure(&role.name);
    let contains = if with_containment {
        catalog
            .edges_of(&role.name)
            .map(|edge| pb::RoleContainment {
                parent_role: edge.parent.clone(),
                child_role: edge.child.clone(),
                origin: origin_to_proto(&edge.origin) as i32,
                suspect: edge.suspect,
                active: !edge.suspect || catalog.load_suspect_edges,
                spec_reference: if edge.suspect { "X1".to_owned() } else { String::new() },
                create_time: None,
            })
            .collect()
    } else {
        Vec::new()
    };
    pb::Role {
        role_name: role.name.clone(),
        display_name: role.display_name.clone().unwrap_or_else(|| role.description.clone()),
        description: role.description.clone(),
        family: match graph.family(&role.name) {
            RoleFamily::Agent => pb::RoleFamily::Agent,
            RoleFamily::Requester => pb::RoleFamily::Requester,
            RoleFamily::Neutral => pb::RoleFamily::Neutral,
            RoleFamily::Both => pb::RoleFamily::Both,
        } as i32,
        origin: origin_to_proto(&role.origin) as i32,
        aliases: catalog.aliases_of(&role.name).map(str::to_owned).collect(),
        contains,
        closure: if with_containment { closure.iter().map(|role| role.to_string()).collect() } else { Vec::new() },
        suspect: catalog.edges_of(&role.name).any(|edge| edge.suspect),
        explicit_class: class_to_proto(PrincipalClass::of(closure.iter().copied())) as i32,
        create_time: Some(csm_proto::timestamp(role.created_at)),
        update_time: Some(csm_proto::timestamp(role.updated_at.unwrap_or(role.created_at))),
    }
}

fn settings_to_proto(settings: &RoleSettings) -> pb::RoleSettings {
    pb::RoleSettings {
        csm_role_mixing_policy: match settings.policies.mixing {
            MixingPolicy::Deny => pb::CsmRoleMixingPolicy::Deny,
            MixingPolicy::Warn => pb::CsmRoleMixingPolicy::Warn,
        } as i32,
        unsupported_persona_policy: match settings.policies.persona {
            PersonaPolicy::Reject => pb::UnsupportedPersonaPolicy::Reject,
            PersonaPolicy::Warn => pb::UnsupportedPersonaPolicy::Warn,
        } as i32,
        load_suspect_edges: settings.load_suspect_edges,
        contact_role_assignment: settings.contact_role_assignment.clone(),
        update_time: settings.updated_at.map(csm_proto::timestamp),
    }
}

/// The settings an UpdateRoleSettings request names in its mask.
fn settings_change(request: pb::UpdateRoleSettingsRequest) -> Result<SettingsChange, CsmError> {
    let mut errors = FieldErrors::new();
    let settings = request.settings.unwrap_or_default();
    let paths = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
    if paths.is_empty() {
        errors.add("update_mask", "must name at least one setting");
    }
    let mut change = SettingsChange::default();
    for path in &paths {
        match path.as_str() {
            "csm_role_mixing_policy" => match pb::CsmRoleMixingPolicy::try_from(settings.csm_role_mixing_policy) {
                Ok(pb::CsmRoleMixingPolicy::Deny) => change.mixing = Some(MixingPolicy::Deny),
                Ok(pb::CsmRoleMixingPolicy::Warn) => change.mixing = Some(MixingPolicy::Warn),
                _ => errors.add("settings.csm_role_mixing_policy", "must be DENY or WARN"),
            },
            "unsupported_persona_policy" => {
                match pb::UnsupportedPersonaPolicy::try_from(settings.unsupported_persona_policy) {
                    Ok(pb::UnsupportedPersonaPolicy::Reject) => change.persona = Some(PersonaPolicy::Reject),
                    Ok(pb::UnsupportedPersonaPolicy::Warn) => change.persona = Some(PersonaPolicy::Warn),
                    _ => errors.add("settings.unsupported_persona_policy", "must be REJECT or WARN"),
                }
            }
            "load_suspect_edges" => change.load_suspect_edges = Some(settings.load_suspect_edges),
            "contact_role_assignment" => {
                change.contact_role_assignment = Some(settings.contact_role_assignment.clone())
            }
            other => errors.add("update_mask", format!("unknown setting {other:?}")),
        }
    }
    errors.finish()?;
    Ok(change)
}

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

/// An optional client request id (idempotency key) of at most 128 characters.
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

fn membership_to_proto(membership: &GroupMembership) -> pb::ProfileGroupMembership {
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

fn validated_fields_missing() -> Status {
    CsmError::internal("validated fields missing").into()
}

/// Validates a (profile_id, role) pair of a request.
fn profile_and_role(errors: &mut FieldErrors, profile_id: &str, role: &str) -> (Option<ProfileId>, Option<String>) {
    let profile = errors.required_id("profile_id", profile_id, ProfileId::parse);
    let role = errors.required_text("role", role, 200);
    (profile, role)
}

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

#[tonic::async_trait]
impl RoleService for RoleGrpc {
    async fn get_effective_roles(
        &self,
        request: Request<pb::GetEffectiveRolesRequest>,
    ) -> Result<Response<pb::GetEffectiveRolesResponse>, Status> {
        let app = self.app.get()?;
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

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let app = self.app.get()?;
        csm_auth::caller(&request)?;
        let request = request.into_inner();
        let page = csm_db::PageRequest::parse(request.page_size, &request.page_token)?;
        let family = match pb::RoleFamily::try_from(request.family) {
            Ok(pb::RoleFamily::Unspecified) => None,
            Ok(pb::RoleFamily::Agent) => Some(RoleFamily::Agent),
            Ok(pb::RoleFamily::Requester) => Some(RoleFamily::Requester),
            Ok(pb::RoleFamily::Neutral) => Some(RoleFamily::Neutral),
            Ok(pb::RoleFamily::Both) => Some(RoleFamily::Both),
            Err(_) => return Err(CsmError::invalid_field("family", "is not a RoleFamily value").into()),
        };
        let custom = match pb::RoleOrigin::try_from(request.origin) {
            Ok(pb::RoleOrigin::Unspecified) => None,
            Ok(pb::RoleOrigin::Seeded) => Some(false),
            Ok(pb::RoleOrigin::Custom) => Some(true),
            Err(_) => return Err(CsmError::invalid_field("origin", "is not a RoleOrigin value").into()),
        };
        let filter = RoleFilter {
            family,
            custom,
            name_contains: Some(request.name_contains.trim().to_owned()).filter(|needle| !needle.is_empty()),
        };
        let (roles, next_page_token) = app.list_roles(&filter, &page);
        Ok(Response::new(pb::ListRolesResponse {
            roles: roles
                .into_iter()
                .map(|role| role_to_proto(app.catalog(), role, request.include_containment))
                .collect(),
            next_page_token,
        }))
    }

    async fn get_role(&self, request: Request<pb::GetRoleRequest>) -> Result<Response<pb::GetRoleResponse>, Status> {
        let app = self.app.get()?;
        csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let name = errors.required_text("role", &request.get_ref().role, 200);
        errors.finish()?;
        let Some(name) = name else {
            return Err(CsmError::internal("validated fields missing").into());
        };
        let role = app.get_role(&name)?;
        Ok(Response::new(pb::GetRoleResponse { role: Some(role_to_proto(app.catalog(), role, true)) }))
    }

    async fn define_role(
        &self,
        request: Request<pb::DefineRoleRequest>,
    ) -> Result<Response<pb::DefineRoleResponse>, Status> {
        let app = self.app.get()?;
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
        let (Some(name), Some(display_name)) = (name, display_name) else {
            return Err(validated_fields_missing());
        };
        let definition = RoleDefinition { name, display_name, description, contains, intended_family };
        let (role, consistency_token) = app.define_role(&caller, request_id.as_deref(), definition).await?;
        Ok(Response::new(pb::DefineRoleResponse {
            role: Some(role_to_proto(app.catalog(), &role, true)),
            consistency_token,
        }))
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        let app = self.app.get()?;
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
        let Some(name) = name else { return Err(validated_fields_missing()) };
        let (role, consistency_token) =
            app.update_role(&caller, &name, display_name.as_deref(), description.as_deref()).await?;
        Ok(Response::new(pb::UpdateRoleResponse {
            role: Some(role_to_proto(app.catalog(), &role, true)),
            consistency_token,
        }))
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let name = errors.required_text("role", &request.get_ref().role, 200);
        errors.finish()?;
        let Some(name) = name else { return Err(validated_fields_missing()) };
        let consistency_token = app.delete_role(&caller, &name).await?;
        Ok(Response::new(pb::DeleteRoleResponse { consistency_token }))
    }

    async fn add_role_containment(
        &self,
        request: Request<pb::AddRoleContainmentRequest>,
    ) -> Result<Response<pb::AddRoleContainmentResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let parent = errors.required_text("parent_role", &request.parent_role, 200);
        let child = errors.required_text("child_role", &request.child_role, 200);
        errors.finish()?;
        let (Some(parent), Some(child)) = (parent, child) else { return Err(validated_fields_missing()) };
        let added = app.add_role_containment(&caller, request_id.as_deref(), &parent, &child).await?;
        Ok(Response::new(containment_added_to_proto(added)))
    }

    async fn remove_role_containment(
        &self,
        request: Request<pb::RemoveRoleContainmentRequest>,
    ) -> Result<Response<pb::RemoveRoleContainmentResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let parent = errors.required_text("parent_role", &request.parent_role, 200);
        let child = errors.required_text("child_role", &request.child_role, 200);
        errors.finish()?;
        let (Some(parent), Some(child)) = (parent, child) else { return Err(validated_fields_missing()) };
        let consistency_token = app.remove_role_containment(&caller, &parent, &child).await?;
        Ok(Response::new(pb::RemoveRoleContainmentResponse { consistency_token }))
    }

    async fn add_role_alias(
        &self,
        request: Request<pb::AddRoleAliasRequest>,
    ) -> Result<Response<pb::AddRoleAliasResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let role = errors.required_text("role", &request.role, 200);
        let alias = role_name_field(&mut errors, "alias", &request.alias);
        errors.finish()?;
        let (Some(role), Some(alias)) = (role, alias) else { return Err(validated_fields_missing()) };
        let (role, consistency_token) = app.add_role_alias(&caller, request_id.as_deref(), &role, &alias).await?;
        Ok(Response::new(pb::AddRoleAliasResponse {
            role: Some(role_to_proto(app.catalog(), &role, true)),
            consistency_token,
        }))
    }

    async fn remove_role_alias(
        &self,
        request: Request<pb::RemoveRoleAliasRequest>,
    ) -> Result<Response<pb::RemoveRoleAliasResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let alias = errors.required_text("alias", &request.get_ref().alias, 200);
        errors.finish()?;
        let Some(alias) = alias else { return Err(validated_fields_missing()) };
        let consistency_token = app.remove_role_alias(&caller, &alias).await?;
        Ok(Response::new(pb::RemoveRoleAliasResponse { consistency_token }))
    }

    async fn get_role_settings(
        &self,
        request: Request<pb::GetRoleSettingsRequest>,
    ) -> Result<Response<pb::GetRoleSettingsResponse>, Status> {
        let app = self.app.get()?;
        csm_auth::caller(&request)?;
        let settings = app.settings().await?;
        Ok(Response::new(pb::GetRoleSettingsResponse { settings: Some(settings_to_proto(&settings)) }))
    }

    async fn update_role_settings(
        &self,
        request: Request<pb::UpdateRoleSettingsRequest>,
    ) -> Result<Response<pb::UpdateRoleSettingsResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let change = settings_change(request.into_inner())?;
        let (settings, consistency_token) = app.update_settings(&caller, change).await?;
        Ok(Response::new(pb::UpdateRoleSettingsResponse {
            settings: Some(settings_to_proto(&settings)),
            warnings: Vec::new(),
            consistency_token,
        }))
    }

    async fn assign_role(
        &self,
        request: Request<pb::AssignRoleRequest>,
    ) -> Result<Response<pb::AssignRoleResponse>, Status> {
        let app = self.app.get()?;
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

    async fn revoke_role(
        &self,
        request: Request<pb::RevokeRoleRequest>,
    ) -> Result<Response<pb::RevokeRoleResponse>, Status> {
        let app = self.app.get()?;
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

    // ------------------------------------------------------------ groups

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::CreateGroupResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let name = group_name_field(&mut errors, "name", &request.name);
        let kind = group_kind_field(&mut errors, "kind", request.kind, true);
        let description = group_description_field(&mut errors, "description", &request.description);
        let parent = errors.optional_id("parent_group_id", &request.parent_group_id, GroupId::parse);
        errors.finish()?;
        let (Some(name), Some(kind)) = (name, kind) else { return Err(validated_fields_missing()) };
        let (group, consistency_token) =
            app.create_group(&caller, request_id.as_deref(), NewGroup { name, kind, description, parent }).await?;
        Ok(Response::new(pb::CreateGroupResponse { group: Some(group_to_proto(&group)), consistency_token }))
    }

    async fn get_group(&self, request: Request<pb::GetGroupRequest>) -> Result<Response<pb::GetGroupResponse>, Status> {
        let app = self.app.get()?;
        csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let group = errors.required_id("group_id", &request.get_ref().group_id, GroupId::parse);
        errors.finish()?;
        let Some(group) = group else { return Err(validated_fields_missing()) };
        let group = app.get_group(group).await?;
        Ok(Response::new(pb::GetGroupResponse { group: Some(group_to_proto(&group)) }))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        let app = self.app.get()?;
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
        let Some(page) = page else { return Err(validated_fields_missing()) };
        let filter = GroupFilter {
            kind,
            parent,
            // A parent filter already implies a level.
            top_level_only: request.top_level_only && parent.is_none(),
            name_contains: Some(name_contains.to_owned()).filter(|needle| !needle.is_empty()),
        };
        let (groups, next_page_token) = app.list_groups(&filter, &page).await?;
        Ok(Response::new(pb::ListGroupsResponse {
            groups: groups.iter().map(group_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn update_group(
        &self,
        request: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::UpdateGroupResponse>, Status> {
        let app = self.app.get()?;
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
                    update.description =
                        Some(group_description_field(&mut errors, "group.description", &group.description))
                }
                other => errors.add("update_mask", format!("{other:?} cannot be updated (paths: name, description)")),
            }
        }
        errors.finish()?;
        let Some(group_id) = group_id else { return Err(validated_fields_missing()) };
        let (group, consistency_token) = app.update_group(&caller, group_id, update).await?;
        Ok(Response::new(pb::UpdateGroupResponse { group: Some(group_to_proto(&group)), consistency_token }))
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let group = errors.required_id("group_id", &request.get_ref().group_id, GroupId::parse);
        errors.finish()?;
        let Some(group) = group else { return Err(validated_fields_missing()) };
        let consistency_token = app.delete_group(&caller, group).await?;
        Ok(Response::new(pb::DeleteGroupResponse { consistency_token }))
    }

    async fn set_group_parent(
        &self,
        request: Request<pb::SetGroupParentRequest>,
    ) -> Result<Response<pb::SetGroupParentResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
        let parent = errors.optional_id("parent_group_id", &request.parent_group_id, GroupId::parse);
        errors.finish()?;
        let Some(group) = group else { return Err(validated_fields_missing()) };
        let written = app.set_group_parent(&caller, group, parent).await?;
        Ok(Response::new(pb::SetGroupParentResponse {
            group: Some(group_to_proto(&written.group)),
            warnings: group_written_warnings(&written),
            consistency_token: written.consistency_token,
        }))
    }

    async fn add_group_member(
        &self,
        request: Request<pb::AddGroupMemberRequest>,
    ) -> Result<Response<pb::AddGroupMemberResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let (group, profile) = group_and_profile(&mut errors, &request.group_id, &request.profile_id);
        errors.finish()?;
        let (Some(group), Some(profile)) = (group, profile) else { return Err(validated_fields_missing()) };
        let written = app.add_group_member(&caller, request_id.as_deref(), group, profile, request.manager).await?;
        Ok(Response::new(member_written_to_proto(written)))
    }

    async fn remove_group_member(
        &self,
        request: Request<pb::RemoveGroupMemberRequest>,
    ) -> Result<Response<pb::RemoveGroupMemberResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let (group, profile) =
            group_and_profile(&mut errors, &request.get_ref().group_id, &request.get_ref().profile_id);
        errors.finish()?;
        let (Some(group), Some(profile)) = (group, profile) else { return Err(validated_fields_missing()) };
        let consistency_token = app.remove_group_member(&caller, group, profile).await?;
        Ok(Response::new(pb::RemoveGroupMemberResponse { consistency_token }))
    }

    async fn set_group_member_manager(
        &self,
        request: Request<pb::SetGroupMemberManagerRequest>,
    ) -> Result<Response<pb::SetGroupMemberManagerResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let (group, profile) = group_and_profile(&mut errors, &request.group_id, &request.profile_id);
        errors.finish()?;
        let (Some(group), Some(profile)) = (group, profile) else { return Err(validated_fields_missing()) };
        let (member, consistency_token) =
            app.set_group_member_manager(&caller, group, profile, request.manager).await?;
        Ok(Response::new(pb::SetGroupMemberManagerResponse {
            member: Some(member_to_proto(&member)),
            consistency_token,
        }))
    }

    async fn list_group_members(
        &self,
        request: Request<pb::ListGroupMembersRequest>,
    ) -> Result<Response<pb::ListGroupMembersResponse>, Status> {
        let app = self.app.get()?;
        csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
        let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
        errors.finish()?;
        let (Some(group), Some(page)) = (group, page) else { return Err(validated_fields_missing()) };
        let (members, next_page_token) =
            app.list_group_members(group, request.include_descendants, request.managers_only, &page).await?;
        Ok(Response::new(pb::ListGroupMembersResponse {
            members: members.iter().map(member_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn add_group_role(
        &self,
        request: Request<pb::AddGroupRoleRequest>,
    ) -> Result<Response<pb::AddGroupRoleResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
        let role = errors.required_text("role", &request.role, 200);
        errors.finish()?;
        let (Some(group), Some(role)) = (group, role) else { return Err(validated_fields_missing()) };
        let written = app.add_group_role(&caller, request_id.as_deref(), group, &role).await?;
        Ok(Response::new(pb::AddGroupRoleResponse {
            group: Some(group_to_proto(&written.group)),
            warnings: group_written_warnings(&written),
            consistency_token: written.consistency_token,
        }))
    }

    async fn remove_group_role(
        &self,
        request: Request<pb::RemoveGroupRoleRequest>,
    ) -> Result<Response<pb::RemoveGroupRoleResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let group = errors.required_id("group_id", &request.group_id, GroupId::parse);
        let role = errors.required_text("role", &request.role, 200);
        errors.finish()?;
        let (Some(group), Some(role)) = (group, role) else { return Err(validated_fields_missing()) };
        let (group, consistency_token) = app.remove_group_role(&caller, group, &role).await?;
        Ok(Response::new(pb::RemoveGroupRoleResponse { group: Some(group_to_proto(&group)), consistency_token }))
    }

    async fn list_profile_groups(
        &self,
        request: Request<pb::ListProfileGroupsRequest>,
    ) -> Result<Response<pb::ListProfileGroupsResponse>, Status> {
        let app = self.app.get()?;
        csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
        let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
        let kind = group_kind_field(&mut errors, "kind", request.kind, false);
        errors.finish()?;
        let (Some(profile), Some(page)) = (profile, page) else { return Err(validated_fields_missing()) };
        let (memberships, next_page_token) =
            app.list_profile_groups(profile, kind, request.include_ancestors, &page).await?;
        Ok(Response::new(pb::ListProfileGroupsResponse {
            memberships: memberships.iter().map(membership_to_proto).collect(),
            next_page_token,
        }))
    }

    // ------------------------------------------- profiles, class, anomalies

    async fn replace_profile_roles(
        &self,
        request: Request<pb::ReplaceProfileRolesRequest>,
    ) -> Result<Response<pb::ReplaceProfileRolesResponse>, Status> {
        profiles::replace_profile_roles(self.app.get()?, request).await
    }

    async fn list_profile_roles(
        &self,
        request: Request<pb::ListProfileRolesRequest>,
    ) -> Result<Response<pb::ListProfileRolesResponse>, Status> {
        profiles::list_profile_roles(self.app.get()?, request).await
    }

    async fn list_assignable_roles(
        &self,
        request: Request<pb::ListAssignableRolesRequest>,
    ) -> Result<Response<pb::ListAssignableRolesResponse>, Status> {
        profiles::list_assignable_roles(self.app.get()?, request).await
    }

    async fn validate_assignment(
        &self,
        request: Request<pb::ValidateAssignmentRequest>,
    ) -> Result<Response<pb::ValidateAssignmentResponse>, Status> {
        profiles::validate_assignment(self.app.get()?, request).await
    }

    async fn batch_get_effective_roles(
        &self,
        request: Request<pb::BatchGetEffectiveRolesRequest>,
    ) -> Result<Response<pb::BatchGetEffectiveRolesResponse>, Status> {
        profiles::batch_get_effective_roles(self.app.get()?, request).await
    }

    async fn get_principal_class(
        &self,
        request: Request<pb::GetPrincipalClassRequest>,
    ) -> Result<Response<pb::GetPrincipalClassResponse>, Status> {
        profiles::get_principal_class(self.app.get()?, request).await
    }

    async fn ensure_default_class(
        &self,
        request: Request<pb::EnsureDefaultClassRequest>,
    ) -> Result<Response<pb::EnsureDefaultClassResponse>, Status> {
        profiles::ensure_default_class(self.app.get()?, request).await
    }

    async fn list_role_anomalies(
        &self,
        request: Request<pb::ListRoleAnomaliesRequest>,
    ) -> Result<Response<pb::ListRoleAnomaliesResponse>, Status> {
        profiles::list_role_anomalies(self.app.get()?, request).await
    }

    async fn fix_role_anomalies(
        &self,
        request: Request<pb::FixRoleAnomaliesRequest>,
    ) -> Result<Response<pb::FixRoleAnomaliesResponse>, Status> {
        profiles::fix_role_anomalies(self.app.get()?, request).await
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let changes =
            csm_server::watch_feed(app.feed(), request.into_inner().from_revision, Vec::new(), self.app.closing());
        let stream = changes.map(|change| change.map(|change| pb::WatchResponse { change: Some(change) }));
        Ok(Response::new(Box::pin(stream)))
    }
}
