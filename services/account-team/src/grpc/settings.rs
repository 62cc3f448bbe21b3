//! gRPC handlers of the settings RPCs (R3.8, R3.10), and the conversion
//! helpers of this half of the service.

use csm_errors::update_paths;
use csm_proto::account_team as pb;
use tonic::{Request, Response, Status};

use super::AccountTeamGrpc;
use crate::domain::settings::{AccountTeamSettings, SettingsChanges};

fn settings_to_proto(settings: &AccountTeamSettings) -> pb::AccountTeamSettings {
    pb::AccountTeamSettings {
        restrict_within_account_hierarchy: settings.restrict_within_account_hierarchy,
        allow_multiple_contact_responsibilities: settings.allow_multiple_contact_responsibilities,
        update_time: csm_proto::some_timestamp(settings.updated_at),
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
    let paths = update_paths(
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
