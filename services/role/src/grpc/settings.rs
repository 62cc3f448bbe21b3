//! gRPC handlers of the role settings (GetRoleSettings, UpdateRoleSettings):
//! proto ⇄ domain conversion, then the app.

use csm_errors::{CsmError, FieldErrors};
use csm_proto::role as pb;
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use crate::domain::collisions::{MixingPolicy, PersonaPolicy};
use crate::domain::settings::{RoleSettings, SettingsChange};

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

pub(super) async fn get_role_settings(
    grpc: &RoleGrpc,
    request: Request<pb::GetRoleSettingsRequest>,
) -> Result<Response<pb::GetRoleSettingsResponse>, Status> {
    let app = grpc.app.get()?;
    csm_auth::caller(&request)?;
    let settings = app.settings().await?;
    Ok(Response::new(pb::GetRoleSettingsResponse { settings: Some(settings_to_proto(&settings)) }))
}

pub(super) async fn update_role_settings(
    grpc: &RoleGrpc,
    request: Request<pb::UpdateRoleSettingsRequest>,
) -> Result<Response<pb::UpdateRoleSettingsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let change = settings_change(request.into_inner())?;
    let (settings, consistency_token) = app.update_settings(&caller, change).await?;
    Ok(Response::new(pb::UpdateRoleSettingsResponse {
        settings: Some(settings_to_proto(&settings)),
        warnings: Vec::new(),
        consistency_token,
    }))
}
