//! gRPC adapter: converts proto ⇄ domain and calls the app. Nothing else.

use std::sync::Arc;

use csm_errors::{CsmError, FieldErrors};
use csm_proto::role as pb;
use csm_proto::role::role_service_server::RoleService;
use csm_server::Readiness;
use csm_types::ProfileId;
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::app::{Assigned, Catalog, EffectiveRoles, RoleApp, RoleFilter, aliases_of};
use crate::domain::{PrincipalClass, RoleFamily};
use crate::store::RoleRow;
use crate::domain::collisions::{Finding, MixingPolicy, PersonaPolicy};
use crate::domain::settings::{RoleSettings, SettingsChange};

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
                } else {
                    pb::RoleSource::Direct
                } as i32,
                assigned_role: grant.assigned_role.clone(),
                assignment_id: grant.assignment_id.to_string(),
                group_id: String::new(),
                group_path: Vec::new(),
                containment_path: grant.containment_path.clone(),
            })
            .collect(),
        principal_class: class_to_proto(effective.class) as i32,
        group_memberships: Vec::new(),
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

fn role_to_proto(catalog: &Catalog, role: &RoleRow, with_containment: bool) -> pb::Role {
    let graph = &catalog.graph;
    let closure = graph.closure(&role.name);
    let contains = if with_containment {
        catalog
            .edges_of(&role.name)
            .map(|edge| pb::RoleContainment {
                parent_role: edge.parent.clone(),
                child_role: edge.child.clone(),
                origin: origin_to_proto(&catalog.roles.get(&edge.parent).map(|role| role.origin.clone()).unwrap_or_default())
                    as i32,
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
        display_name: role.description.clone(),
        description: role.description.clone(),
        family: match graph.family(&role.name) {
            RoleFamily::Agent => pb::RoleFamily::Agent,
            RoleFamily::Requester => pb::RoleFamily::Requester,
            RoleFamily::Neutral => pb::RoleFamily::Neutral,
            RoleFamily::Both => pb::RoleFamily::Both,
        } as i32,
        origin: origin_to_proto(&role.origin) as i32,
        aliases: aliases_of(&role.name).map(str::to_owned).collect(),
        contains,
        closure: if with_containment { closure.iter().map(|role| role.to_string()).collect() } else { Vec::new() },
        suspect: catalog.edges_of(&role.name).any(|edge| edge.suspect),
        explicit_class: class_to_proto(PrincipalClass::of(closure.iter().copied())) as i32,
        create_time: Some(csm_proto::timestamp(role.created_at)),
        update_time: Some(csm_proto::timestamp(role.created_at)),
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
            "contact_role_assignment" => change.contact_role_assignment = Some(settings.contact_role_assignment.clone()),
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

/// Validates a (profile_id, role) pair of a request.
fn profile_and_role(errors: &mut FieldErrors, profile_id: &str, role: &str) -> (Option<ProfileId>, Option<String>) {
    let profile = errors.required_id("profile_id", profile_id, ProfileId::parse);
    let role = errors.required_text("role", role, 200);
    (profile, role)
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

    async fn list_roles(&self, request: Request<pb::ListRolesRequest>) -> Result<Response<pb::ListRolesResponse>, Status> {
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
            roles: roles.into_iter().map(|role| role_to_proto(app.catalog(), role, request.include_containment)).collect(),
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
        let request_id = Some(request.request_id.trim()).filter(|id| !id.is_empty());
        if request_id.is_some_and(|id| id.len() > 128) {
            errors.add("request_id", "must be at most 128 characters");
        }
        errors.finish()?;
        let (Some(profile), Some(role)) = (profile, role) else {
            return Err(CsmError::internal("validated fields missing").into());
        };
        let assigned = app.assign_role(&caller, request_id, profile, &role).await?;
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

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let feed = app.feed().clone();
        let service = feed.service();
        let stream = feed.watch(request.into_inner().from_revision).map(move |change| {
            change.map(|change| pb::WatchResponse { change: Some(change.to_proto(service)) }).map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
