//! gRPC handlers of seat plans and named agent seats (R7.9–R7.13, R4.21):
//! proto ⇄ domain conversion, then the app.

use csm_auth::caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, FieldErrors};
use csm_proto::licensing as pb;
use csm_proto::timestamp;
use tonic::{Request, Response, Status};

use super::LicensingGrpc;
use super::pools::{single_id, time_of};
use crate::domain::agent_seats::{AgentLicenseStatus, AgentSeat, LicensedProduct, SeatKind, SeatPlan, SeatPlanPatch};

fn product_of(errors: &mut FieldErrors, field: &str, value: i32) -> Option<LicensedProduct> {
    if value == 0 {
        errors.add(field, "is required");
        return None;
    }
    let product = LicensedProduct::from_i64(i64::from(value));
    if product.is_none() {
        errors.add(field, format!("unknown product {value}"));
    }
    product
}

fn seat_kind_of(errors: &mut FieldErrors, value: i32, required: bool) -> Option<SeatKind> {
    if value == 0 {
        if required {
            errors.add("kind", "is required");
        }
        return None;
    }
    let kind = SeatKind::from_i64(i64::from(value));
    if kind.is_none() {
        errors.add("kind", format!("unknown kind {value}"));
    }
    kind
}

fn plan_to_proto(plan: &SeatPlan) -> pb::SeatPlan {
    pb::SeatPlan {
        seat_plan_id: plan.id.to_string(),
        product: plan.product as i32,
        seat_limit: plan.seat_limit as i32,
        license_valid_until: plan.license_valid_until.map(timestamp),
        seats_used: plan.seats_used as i32,
        overrun: plan.overrun(),
        license_valid: plan.license_valid(csm_db::now()),
        created_at: Some(timestamp(plan.created_at)),
        updated_at: Some(timestamp(plan.updated_at)),
    }
}

fn agent_seat_to_proto(seat: &AgentSeat) -> pb::AgentSeat {
    pb::AgentSeat {
        agent_seat_id: seat.id.to_string(),
        seat_plan_id: seat.seat_plan_id.to_string(),
        product: seat.product as i32,
        profile_id: seat.profile_id.to_string(),
        kind: seat.kind as i32,
        granted_at: Some(timestamp(seat.granted_at)),
    }
}

pub(super) async fn create_seat_plan(
    grpc: &LicensingGrpc,
    request: Request<pb::CreateSeatPlanRequest>,
) -> Result<Response<pb::CreateSeatPlanResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let plan = request.seat_plan.unwrap_or_default();
    let product = product_of(&mut errors, "seat_plan.product", plan.product);
    if plan.seat_limit < 0 {
        errors.add("seat_plan.seat_limit", "must not be negative");
    }
    let valid_until = time_of(&mut errors, "seat_plan.license_valid_until", plan.license_valid_until.as_ref());
    errors.finish()?;
    let Some(product) = product else {
        return Err(CsmError::invalid_field("seat_plan.product", "is required").into());
    };
    let (plan, token) = app.create_plan(&caller, request_id, product, i64::from(plan.seat_limit), valid_until).await?;
    Ok(Response::new(pb::CreateSeatPlanResponse { seat_plan: Some(plan_to_proto(&plan)), consistency_token: token }))
}

pub(super) async fn get_seat_plan(
    grpc: &LicensingGrpc,
    request: Request<pb::GetSeatPlanRequest>,
) -> Result<Response<pb::GetSeatPlanResponse>, Status> {
    let app = grpc.app.get()?;
    let plan_id = single_id("seat_plan_id", &request.get_ref().seat_plan_id)?;
    let plan = app.get_plan(plan_id).await?;
    Ok(Response::new(pb::GetSeatPlanResponse { seat_plan: Some(plan_to_proto(&plan)) }))
}

pub(super) async fn update_seat_plan(
    grpc: &LicensingGrpc,
    request: Request<pb::UpdateSeatPlanRequest>,
) -> Result<Response<pb::UpdateSeatPlanResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let plan = request.seat_plan.unwrap_or_default();
    let plan_id = errors.required_uuid("seat_plan.seat_plan_id", &plan.seat_plan_id);
    let paths = errors.update_paths(request.update_mask.as_ref(), &["seat_limit", "license_valid_until"]);
    let mut patch = SeatPlanPatch::default();
    for path in &paths {
        match path.as_str() {
            "seat_limit" => {
                if plan.seat_limit < 0 {
                    errors.add("seat_plan.seat_limit", "must not be negative");
                }
                patch.seat_limit = Some(i64::from(plan.seat_limit));
            }
            "license_valid_until" => {
                patch.license_valid_until =
                    Some(time_of(&mut errors, "seat_plan.license_valid_until", plan.license_valid_until.as_ref()))
            }
            _ => {} // refused by update_paths (the product is immutable)
        }
    }
    errors.finish()?;
    let (plan, token) = app.update_plan(&caller, plan_id.unwrap_or_default(), patch).await?;
    Ok(Response::new(pb::UpdateSeatPlanResponse { seat_plan: Some(plan_to_proto(&plan)), consistency_token: token }))
}

pub(super) async fn list_seat_plans(
    grpc: &LicensingGrpc,
    request: Request<pb::ListSeatPlansRequest>,
) -> Result<Response<pb::ListSeatPlansResponse>, Status> {
    let app = grpc.app.get()?;
    let request = request.into_inner();
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let (plans, next_page_token) = app.list_plans(&page).await?;
    Ok(Response::new(pb::ListSeatPlansResponse {
        seat_plans: plans.iter().map(plan_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn grant_agent_seat(
    grpc: &LicensingGrpc,
    request: Request<pb::GrantAgentSeatRequest>,
) -> Result<Response<pb::GrantAgentSeatResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let plan_id = errors.required_uuid("seat_plan_id", &request.seat_plan_id);
    let profile_id = errors.required_uuid("profile_id", &request.profile_id);
    let kind = seat_kind_of(&mut errors, request.kind, true);
    errors.finish()?;
    let (Some(plan_id), Some(profile_id), Some(kind)) = (plan_id, profile_id, kind) else {
        return Err(CsmError::invalid_field("request", "is incomplete").into());
    };
    let (seat, token) = app.grant_agent_seat(&caller, request_id, plan_id, profile_id, kind).await?;
    Ok(Response::new(pb::GrantAgentSeatResponse {
        agent_seat: Some(agent_seat_to_proto(&seat)),
        consistency_token: token,
    }))
}

pub(super) async fn revoke_agent_seat(
    grpc: &LicensingGrpc,
    request: Request<pb::RevokeAgentSeatRequest>,
) -> Result<Response<pb::RevokeAgentSeatResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let seat_id = single_id("agent_seat_id", &request.get_ref().agent_seat_id)?;
    let (plan, token) = app.revoke_agent_seat(&caller, seat_id).await?;
    Ok(Response::new(pb::RevokeAgentSeatResponse { seat_plan: Some(plan_to_proto(&plan)), consistency_token: token }))
}

pub(super) async fn list_agent_seats(
    grpc: &LicensingGrpc,
    request: Request<pb::ListAgentSeatsRequest>,
) -> Result<Response<pb::ListAgentSeatsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let plan_id = errors.optional_uuid("seat_plan_id", &request.seat_plan_id);
    let profile_id = errors.optional_uuid("profile_id", &request.profile_id);
    let kind = seat_kind_of(&mut errors, request.kind, false);
    errors.finish()?;
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let (seats, next_page_token) = app.list_agent_seats(&caller, plan_id, profile_id, kind, &page).await?;
    Ok(Response::new(pb::ListAgentSeatsResponse {
        agent_seats: seats.iter().map(agent_seat_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn has_agent_license(
    grpc: &LicensingGrpc,
    request: Request<pb::HasAgentLicenseRequest>,
) -> Result<Response<pb::HasAgentLicenseResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile_id = errors.required_uuid("profile_id", &request.profile_id);
    let product = product_of(&mut errors, "product", request.product);
    errors.finish()?;
    let (Some(profile_id), Some(product)) = (profile_id, product) else {
        return Err(CsmError::invalid_field("request", "is incomplete").into());
    };
    let license = app.has_agent_license(&caller, profile_id, product).await?;
    Ok(Response::new(pb::HasAgentLicenseResponse {
        has_license: license.status == AgentLicenseStatus::Licensed,
        status: license.status as i32,
        seat_plan_id: license.seat_plan_id.map(|id| id.to_string()).unwrap_or_default(),
        agent_seat_id: license.agent_seat_id.map(|id| id.to_string()).unwrap_or_default(),
    }))
}
