//! gRPC handlers of usage history and refusals: GetPoolUsage, GetPeakUsage,
//! ListDenials, CountDenials. Proto ⇄ domain conversion, then the app.

use chrono::Duration;
use csm_auth::caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, FieldErrors};
use csm_proto::licensing as pb;
use csm_proto::timestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::LicensingGrpc;
use super::pools::time_of;
use crate::domain::usage::{Denial, DenialFilter, DenialReason, denial_counts_total};

fn denial_to_proto(denial: &Denial) -> pb::Denial {
    let id = |value: Option<Uuid>| value.map(|id| id.to_string()).unwrap_or_default();
    pb::Denial {
        denial_id: denial.id.to_string(),
        reason: denial.reason as i32,
        pool_id: id(denial.pool_id),
        seat_plan_id: id(denial.seat_plan_id),
        session_id: id(denial.session_id),
        login_id: id(denial.login_id),
        profile_id: id(denial.profile_id),
        channel: denial.channel as i32,
        access: denial.access as i32,
        record_type: denial.record_type.clone(),
        record_id: denial.record_id.clone(),
        occurred_at: Some(timestamp(denial.occurred_at)),
    }
}

fn denial_reason_of(errors: &mut FieldErrors, value: i32) -> Option<DenialReason> {
    if value == 0 {
        return None;
    }
    let reason = DenialReason::from_i64(i64::from(value));
    if reason.is_none() {
        errors.add("reason", format!("unknown reason {value}"));
    }
    reason
}

pub(super) async fn get_pool_usage(
    grpc: &LicensingGrpc,
    request: Request<pb::GetPoolUsageRequest>,
) -> Result<Response<pb::GetPoolUsageResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let pool_id = errors.required_uuid("pool_id", &request.pool_id);
    errors.finish()?;
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let usage = app.pool_usage(&caller, pool_id.unwrap_or_default(), &page).await?;
    let seat_count = usage.pool.settings.seat_count;
    Ok(Response::new(pb::GetPoolUsageResponse {
        pool_id: usage.pool.id.to_string(),
        seat_count: seat_count as i32,
        seats_in_use: usage.seats_in_use as i32,
        seats_available: (seat_count - usage.seats_in_use).max(0) as i32,
        escalated_seats_in_use: usage.escalated_seats_in_use as i32,
        holders: usage
            .holders
            .iter()
            .map(|holder| pb::SeatHolder {
                login_id: holder.login_id.to_string(),
                profile_ids: holder.profile_ids.iter().map(ToString::to_string).collect(),
                seat_source: holder.source as i32,
                acquired_at: Some(timestamp(holder.acquired_at)),
                session_count: holder.session_count as i32,
            })
            .collect(),
        next_page_token: usage.next_page_token,
        as_of: Some(timestamp(usage.as_of)),
    }))
}

pub(super) async fn get_peak_usage(
    grpc: &LicensingGrpc,
    request: Request<pb::GetPeakUsageRequest>,
) -> Result<Response<pb::GetPeakUsageResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let pool_id = errors.required_uuid("pool_id", &request.pool_id);
    let start = time_of(&mut errors, "start_time", request.start_time.as_ref());
    let end = time_of(&mut errors, "end_time", request.end_time.as_ref());
    if request.start_time.is_none() {
        errors.add("start_time", "is required");
    }
    if request.end_time.is_none() {
        errors.add("end_time", "is required");
    }
    let width = match &request.bucket_width {
        None => Duration::hours(1),
        Some(width) => Duration::seconds(width.seconds) + Duration::nanoseconds(i64::from(width.nanos)),
    };
    if width < Duration::minutes(1) {
        errors.add("bucket_width", "must be at least one minute");
    }
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            errors.add("end_time", "must be after start_time");
        } else if width >= Duration::minutes(1) {
            let span = (end - start).num_microseconds().unwrap_or(i64::MAX);
            let step = width.num_microseconds().unwrap_or(i64::MAX).max(1);
            if (span + step - 1) / step > 1000 {
                errors.add("bucket_width", "gives more than 1000 buckets");
            }
        }
    }
    errors.finish()?;
    let (Some(pool_id), Some(start), Some(end)) = (pool_id, start, end) else {
        return Err(CsmError::invalid_field("request", "is incomplete").into());
    };
    let usage = app.peak_usage(&caller, pool_id, start, end, width).await?;
    Ok(Response::new(pb::GetPeakUsageResponse {
        pool_id: usage.pool.id.to_string(),
        seat_count: usage.pool.settings.seat_count as i32,
        peak_seats_in_use: usage.peak as i32,
        peak_at: Some(timestamp(usage.peak_at)),
        buckets: usage
            .buckets
            .iter()
            .map(|bucket| pb::PeakUsageBucket {
                bucket_start: Some(timestamp(bucket.start)),
                bucket_end: Some(timestamp(bucket.end)),
                peak_seats_in_use: bucket.peak as i32,
                denial_count: bucket.denials as i32,
            })
            .collect(),
    }))
}

pub(super) async fn list_denials(
    grpc: &LicensingGrpc,
    request: Request<pb::ListDenialsRequest>,
) -> Result<Response<pb::ListDenialsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let filter = DenialFilter {
        pool_id: errors.optional_uuid("pool_id", &request.pool_id),
        seat_plan_id: errors.optional_uuid("seat_plan_id", &request.seat_plan_id),
        reason: denial_reason_of(&mut errors, request.reason),
        login_id: errors.optional_uuid("login_id", &request.login_id),
        start: time_of(&mut errors, "start_time", request.start_time.as_ref()),
        end: time_of(&mut errors, "end_time", request.end_time.as_ref()),
    };
    errors.finish()?;
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let (denials, next_page_token) = app.list_denials(&caller, &filter, &page).await?;
    Ok(Response::new(pb::ListDenialsResponse {
        denials: denials.iter().map(denial_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn count_denials(
    grpc: &LicensingGrpc,
    request: Request<pb::CountDenialsRequest>,
) -> Result<Response<pb::CountDenialsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let filter = DenialFilter {
        pool_id: errors.optional_uuid("pool_id", &request.pool_id),
        seat_plan_id: errors.optional_uuid("seat_plan_id", &request.seat_plan_id),
        reason: None,
        login_id: None,
        start: time_of(&mut errors, "start_time", request.start_time.as_ref()),
        end: time_of(&mut errors, "end_time", request.end_time.as_ref()),
    };
    errors.finish()?;
    let counts = app.count_denials(&caller, &filter).await?;
    Ok(Response::new(pb::CountDenialsResponse {
        total_count: denial_counts_total(&counts),
        counts: counts
            .iter()
            .map(|(reason, count)| pb::DenialCount { reason: *reason as i32, count: *count })
            .collect(),
    }))
}
