//! gRPC handlers of ListRoleAnomalies and FixRoleAnomalies (R2.16, R2.15,
//! R1.15): proto ⇄ domain conversion, then the app.

use csm_errors::{CsmError, FieldErrors, validated};
use csm_proto::role as pb;
use csm_types::ProfileId;
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use super::profiles::grant_to_proto;
use crate::app::{FixRequest, RoleAnomaly};
use crate::domain::anomalies::AnomalyCategory;

fn category_to_proto(category: AnomalyCategory) -> pb::RoleAnomalyCategory {
    match category {
        AnomalyCategory::NonIntentional => pb::RoleAnomalyCategory::NonIntentional,
        AnomalyCategory::PossiblyIntentional => pb::RoleAnomalyCategory::PossiblyIntentional,
        AnomalyCategory::Contained => pb::RoleAnomalyCategory::Contained,
        AnomalyCategory::FamilyMixing => pb::RoleAnomalyCategory::FamilyMixing,
        AnomalyCategory::UnsupportedPersona => pb::RoleAnomalyCategory::UnsupportedPersona,
    }
}

/// Repeated RoleAnomalyCategory values; UNSPECIFIED or unknown values are field errors.
fn categories_field(errors: &mut FieldErrors, values: &[i32]) -> Vec<AnomalyCategory> {
    let mut categories = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let category = match pb::RoleAnomalyCategory::try_from(*value) {
            Ok(pb::RoleAnomalyCategory::NonIntentional) => AnomalyCategory::NonIntentional,
            Ok(pb::RoleAnomalyCategory::PossiblyIntentional) => AnomalyCategory::PossiblyIntentional,
            Ok(pb::RoleAnomalyCategory::Contained) => AnomalyCategory::Contained,
            Ok(pb::RoleAnomalyCategory::FamilyMixing) => AnomalyCategory::FamilyMixing,
            Ok(pb::RoleAnomalyCategory::UnsupportedPersona) => AnomalyCategory::UnsupportedPersona,
            _ => {
                errors.add(format!("categories[{index}]"), format!("is not a RoleAnomalyCategory: {value}"));
                continue;
            }
        };
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    categories
}

fn anomaly_to_proto(anomaly: &RoleAnomaly) -> pb::RoleAnomaly {
    pb::RoleAnomaly {
        profile_id: anomaly.profile.to_string(),
        category: category_to_proto(anomaly.category) as i32,
        evidence: anomaly.evidence.iter().map(grant_to_proto).collect(),
        proposed_remove_roles: anomaly.remove.clone(),
        proposed_add_roles: anomaly.add.clone(),
        fixable: anomaly.category.fixable(),
        detect_time: anomaly.detected_at.map(csm_proto::timestamp),
    }
}

pub(super) async fn list_role_anomalies(
    grpc: &RoleGrpc,
    request: Request<pb::ListRoleAnomaliesRequest>,
) -> Result<Response<pb::ListRoleAnomaliesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let categories = categories_field(&mut errors, &request.categories);
    errors.finish()?;
    let page = validated(page)?;
    let (anomalies, next_page_token, total_count) = app.list_role_anomalies(&caller, &categories, &page).await?;
    Ok(Response::new(pb::ListRoleAnomaliesResponse {
        anomalies: anomalies.iter().map(anomaly_to_proto).collect(),
        next_page_token,
        total_count,
    }))
}

pub(super) async fn fix_role_anomalies(
    grpc: &RoleGrpc,
    request: Request<pb::FixRoleAnomaliesRequest>,
) -> Result<Response<pb::FixRoleAnomaliesResponse>, Status> {
    let app = grpc.app.get()?;
    use crate::app::MAX_FIX_BATCH;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    if request.batch_size as usize > MAX_FIX_BATCH && request.batch_size > 0 {
        return Err(CsmError::invalid_argument(
            "BATCH_TOO_LARGE",
            format!("batch_size is at most {MAX_FIX_BATCH} (R2.16), got {}", request.batch_size),
        )
        .into());
    }
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    if request.batch_size < 0 {
        errors.add("batch_size", "must not be negative");
    }
    let categories = categories_field(&mut errors, &request.categories);
    if request.profile_ids.len() > MAX_FIX_BATCH {
        errors.add("profile_ids", format!("at most {MAX_FIX_BATCH} profiles"));
    }
    let profiles: Vec<ProfileId> = request
        .profile_ids
        .iter()
        .enumerate()
        .filter_map(|(index, id)| errors.required_id(&format!("profile_ids[{index}]"), id, ProfileId::parse))
        .collect();
    errors.finish()?;
    if let Some(manual) = categories.iter().find(|category| !category.fixable()) {
        return Err(crate::app::not_fixable(*manual).into());
    }
    let batch_size = if request.batch_size == 0 { MAX_FIX_BATCH } else { request.batch_size as usize };
    let fixed = app
        .fix_role_anomalies(&caller, request_id.as_deref(), &FixRequest { categories, profiles, batch_size })
        .await?;
    Ok(Response::new(pb::FixRoleAnomaliesResponse {
        fixes: fixed
            .fixes
            .iter()
            .map(|fix| pb::AnomalyFix {
                profile_id: fix.profile.to_string(),
                category: category_to_proto(fix.category) as i32,
                removed_roles: fix.removed.clone(),
                added_roles: fix.added.clone(),
            })
            .collect(),
        fixed_count: fixed.fixes.len() as i32,
        remaining_count: fixed.remaining,
        consistency_token: fixed.consistency_token,
    }))
}
