//! gRPC handlers of the settings RPCs (R3.8, R3.10), and the conversion
//! helpers of this half of the service.

use csm_errors::{CsmError, FieldErrors};
use csm_proto::account_team as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::AccountTeamGrpc;
use crate::domain::settings::{AccountTeamSettings, SettingsChanges};

/// The update mask's paths; each must be in `updatable` (else INVALID_ARGUMENT).
pub(super) fn mask_paths(mask: Option<&prost_types::FieldMask>, updatable: &[&str]) -> Result<Vec<String>, CsmError> {
    let paths: Vec<String> = mask.map(|mask| mask.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        return Err(CsmError::invalid_field("update_mask", "must name at least one path"));
    }
    if let Some(path) = paths.iter().find(|path| !updatable.contains(&path.as_str())) {
        return Err(CsmError::invalid_field(
            "update_mask",
            format!("{path:?} cannot be updated; updatable paths: {}", updatable.join(", ")),
        ));
    }
    Ok(paths)
}

/// A row id (UUID) of this service.
pub(super) fn required_uuid(errors: &mut FieldErrors, field: &str, value: &str) -> Option<Uuid> {
    if value.trim().is_empty() {
        errors.add(field, "is required");
        return None;
    }
    errors.check(field, Uuid::parse_str(value.trim()).map_err(|_| "must be a UUID"))
}

pub(super) fn optional_uuid(errors: &mut FieldErrors, field: &str, value: &str) -> Option<Uuid> {
    if value.trim().is_empty() { None } else { required_uuid(errors, field, value) }
}

pub(super) fn validated<T>(value: Option<T>) -> Result<T, Status> {
    value.ok_or_else(|| CsmError::internal("validated fields missing").into())
}

pub(super) fn timestamp(value: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(csm_proto::timestamp(value))
}

fn settings_to_proto(settings: &AccountTeamSettings) -> pb::AccountTeamSettings {
    pb::AccountTeamSettings {
        restrict_within_account_hierarchy: settings.restrict_within_account_hierarchy,
        allow_multiple_contact_responsibilities: settings.allow_multiple_contact_responsibilities,
        update_time: timestamp(settings.updated_at),
    }
}

pub(super) async fn get_account_team_settings(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetAccountTeamSettingsRequest>,
) -> Result<Response<pb::GetAccountTeamSettingsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let settings = app.get_settings(&caller).await?;
    Ok(Response::new(pb::GetAccountTeamSettingsResponse { settings: Some(settings_to_proto(&settings)) }))
}

pub(super) async fn update_account_team_settings(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateAccountTeamSettingsRequest>,
) -> Result<Response<pb::UpdateAccountTeamSettingsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = mask_paths(
        request.update_mask.as_ref(),
        &["restrict_within_account_hierarchy", "allow_multiple_contact_responsibilities"],
    )?;
    let settings = request.settings.unwrap_or_default();
    let mut changes = SettingsChanges::default();
    for path in &paths {
        match path.as_str() {
            "restrict_within_account_hierarchy" => {
                changes.restrict_within_account_hierarchy = Some(settings.restrict_within_account_hierarchy)
            }
            _ => {
                changes.allow_multiple_contact_responsibilities = Some(settings.allow_multiple_contact_responsibilities)
            }
        }
    }
    let written = app.update_settings(&caller, changes).await?;
    Ok(Response::new(pb::UpdateAccountTeamSettingsResponse {
        settings: Some(settings_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}
