//! gRPC handlers of concurrent licence pools (R7.1, R7.3, R7.7, R7.8), and the
//! field parsers every area of licensing shares (ids, timestamps, channels,
//! update masks): proto ⇄ domain conversion, then the app.

use chrono::{DateTime, Utc};
use csm_auth::caller;
use csm_db::PageRequest;
use csm_errors::FieldErrors;
use csm_proto::licensing as pb;
use csm_proto::timestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::LicensingGrpc;
use crate::domain::pools::{
    ClientChannel, DEFAULT_AUTO_RELEASE_MINUTES, LicensePool, PoolPatch, PoolSettings, PortalLicenseMode,
};

// ------------------------------------------------------------ shared parsing

/// The one id field of a request that names a single record.
pub(super) fn single_id(field: &str, value: &str) -> Result<Uuid, Status> {
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid(field, value);
    errors.finish()?;
    Ok(id.unwrap_or_default())
}

fn to_utc(value: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(value.seconds, u32::try_from(value.nanos).ok()?)
}

pub(super) fn time_of(
    errors: &mut FieldErrors,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<DateTime<Utc>> {
    let value = value?;
    let parsed = to_utc(value);
    if parsed.is_none() {
        errors.add(field, "is not a valid timestamp");
    }
    parsed
}

pub(super) fn channel_of(errors: &mut FieldErrors, field: &str, value: i32, required: bool) -> Option<ClientChannel> {
    if value == 0 {
        if required {
            errors.add(field, "is required");
        }
        return None;
    }
    let channel = ClientChannel::from_i64(i64::from(value));
    if channel.is_none() {
        errors.add(field, format!("unknown channel {value}"));
    }
    channel
}

// ------------------------------------------------------------------- pools

/// The paths UpdatePool accepts.
const POOL_PATHS: &[&str] = &[
    "name",
    "seat_count",
    "license_expiration_date",
    "time_zone",
    "idle_timeout_minutes",
    "browser_idle_timeout_minutes",
    "inactivity_warning_minutes",
    "auto_release_after_minutes",
    "portal_license_on",
    "consuming_channels",
];

fn portal_mode_of(errors: &mut FieldErrors, value: i32) -> PortalLicenseMode {
    match value {
        0 | 1 => PortalLicenseMode::Access,
        2 => PortalLicenseMode::Edit,
        other => {
            errors.add("pool.portal_license_on", format!("unknown mode {other}"));
            PortalLicenseMode::Access
        }
    }
}

fn channels_of(errors: &mut FieldErrors, values: &[i32]) -> Vec<ClientChannel> {
    let mut channels = Vec::new();
    for value in values {
        if let Some(channel) = channel_of(errors, "pool.consuming_channels", *value, true)
            && !channels.contains(&channel)
        {
            channels.push(channel);
        }
    }
    channels
}

fn pool_to_proto(pool: &LicensePool) -> pb::LicensePool {
    let settings = &pool.settings;
    pb::LicensePool {
        pool_id: pool.id.to_string(),
        name: settings.name.clone(),
        seat_count: settings.seat_count as i32,
        license_expiration_date: settings.license_expiration_date.clone(),
        time_zone: settings.time_zone.clone(),
        license_expires_at: pool.license_expires_at.map(timestamp),
        idle_timeout_minutes: settings.idle_timeout_minutes as i32,
        browser_idle_timeout_minutes: settings.browser_idle_timeout_minutes as i32,
        inactivity_warning_minutes: settings.inactivity_warning_minutes as i32,
        auto_release_after_minutes: Some(settings.auto_release_after_minutes as i32),
        portal_license_on: settings.portal_license_on as i32,
        consuming_channels: settings.consuming_channels.iter().map(|channel| *channel as i32).collect(),
        created_at: Some(timestamp(pool.created_at)),
        updated_at: Some(timestamp(pool.updated_at)),
    }
}

/// PoolSettings from a LicensePool message (create: defaults applied).
fn settings_from_proto(pool: &pb::LicensePool, errors: &mut FieldErrors) -> PoolSettings {
    PoolSettings {
        name: pool.name.clone(),
        seat_count: i64::from(pool.seat_count),
        license_expiration_date: pool.license_expiration_date.trim().to_owned(),
        time_zone: pool.time_zone.trim().to_owned(),
        idle_timeout_minutes: i64::from(pool.idle_timeout_minutes),
        browser_idle_timeout_minutes: i64::from(pool.browser_idle_timeout_minutes),
        inactivity_warning_minutes: i64::from(pool.inactivity_warning_minutes),
        auto_release_after_minutes: pool.auto_release_after_minutes.map_or(DEFAULT_AUTO_RELEASE_MINUTES, i64::from),
        portal_license_on: portal_mode_of(errors, pool.portal_license_on),
        consuming_channels: channels_of(errors, &pool.consuming_channels),
    }
}

pub(super) async fn create_pool(
    grpc: &LicensingGrpc,
    request: Request<pb::CreatePoolRequest>,
) -> Result<Response<pb::CreatePoolResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let settings = match &request.pool {
        Some(pool) => settings_from_proto(pool, &mut errors),
        None => {
            errors.add("pool", "is required");
            settings_from_proto(&pb::LicensePool::default(), &mut errors)
        }
    };
    let (pool, token) = app.create_pool(&caller, request_id, settings, errors).await?;
    Ok(Response::new(pb::CreatePoolResponse { pool: Some(pool_to_proto(&pool)), consistency_token: token }))
}

pub(super) async fn get_pool(
    grpc: &LicensingGrpc,
    request: Request<pb::GetPoolRequest>,
) -> Result<Response<pb::GetPoolResponse>, Status> {
    let app = grpc.app.get()?;
    let pool_id = single_id("pool_id", &request.get_ref().pool_id)?;
    let pool = app.get_pool(pool_id).await?;
    Ok(Response::new(pb::GetPoolResponse { pool: Some(pool_to_proto(&pool)) }))
}

pub(super) async fn update_pool(
    grpc: &LicensingGrpc,
    request: Request<pb::UpdatePoolRequest>,
) -> Result<Response<pb::UpdatePoolResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let pool = request.pool.unwrap_or_default();
    let pool_id = errors.required_uuid("pool.pool_id", &pool.pool_id);
    let paths = errors.update_paths(request.update_mask.as_ref(), POOL_PATHS);
    let mut patch = PoolPatch::default();
    for path in &paths {
        match path.as_str() {
            "name" => patch.name = Some(pool.name.clone()),
            "seat_count" => patch.seat_count = Some(i64::from(pool.seat_count)),
            "license_expiration_date" => patch.license_expiration_date = Some(pool.license_expiration_date.clone()),
            "time_zone" => patch.time_zone = Some(pool.time_zone.clone()),
            "idle_timeout_minutes" => patch.idle_timeout_minutes = Some(i64::from(pool.idle_timeout_minutes)),
            "browser_idle_timeout_minutes" => {
                patch.browser_idle_timeout_minutes = Some(i64::from(pool.browser_idle_timeout_minutes))
            }
            "inactivity_warning_minutes" => {
                patch.inactivity_warning_minutes = Some(i64::from(pool.inactivity_warning_minutes))
            }
            "auto_release_after_minutes" => {
                patch.auto_release_after_minutes =
                    Some(pool.auto_release_after_minutes.map_or(DEFAULT_AUTO_RELEASE_MINUTES, i64::from))
            }
            "portal_license_on" => patch.portal_license_on = Some(portal_mode_of(&mut errors, pool.portal_license_on)),
            "consuming_channels" => patch.consuming_channels = Some(channels_of(&mut errors, &pool.consuming_channels)),
            _ => {} // refused by update_paths
        }
    }
    errors.finish()?;
    let (pool, token) = app.update_pool(&caller, pool_id.unwrap_or_default(), patch).await?;
    Ok(Response::new(pb::UpdatePoolResponse { pool: Some(pool_to_proto(&pool)), consistency_token: token }))
}

pub(super) async fn list_pools(
    grpc: &LicensingGrpc,
    request: Request<pb::ListPoolsRequest>,
) -> Result<Response<pb::ListPoolsResponse>, Status> {
    let app = grpc.app.get()?;
    let request = request.into_inner();
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let (pools, next_page_token) = app.list_pools(&page).await?;
    Ok(Response::new(pb::ListPoolsResponse { pools: pools.iter().map(pool_to_proto).collect(), next_page_token }))
}
