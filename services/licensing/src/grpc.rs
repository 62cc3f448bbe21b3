//! gRPC adapter of licensing: converts proto ⇄ domain and calls the app. Nothing else.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use csm_auth::caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, FieldErrors};
use csm_proto::licensing as pb;
use csm_proto::licensing::licensing_service_server::LicensingService;
use csm_proto::timestamp;
use csm_server::Readiness;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::LicensingApp;
use crate::domain::agent_seats::{AgentLicenseStatus, AgentSeat, LicensedProduct, SeatKind, SeatPlan, SeatPlanPatch};
use crate::domain::pools::{
    ClientChannel, DEFAULT_AUTO_RELEASE_MINUTES, LicensePool, PoolPatch, PoolSettings, PortalLicenseMode,
};
use crate::domain::rights::LicenseRightGrant;
use crate::domain::sessions::{LicenseSession, RecordAccess, SessionFilter, SessionState};
use crate::domain::usage::{Denial, DenialFilter, DenialReason, denial_counts_total};

pub struct LicensingGrpc {
    app: Arc<Readiness<LicensingApp>>,
}

impl LicensingGrpc {
    pub fn new(app: Arc<Readiness<LicensingApp>>) -> Self {
        Self { app }
    }
}

// ------------------------------------------------------------------ parsing

fn uuid_parse(value: &str) -> Result<Uuid, csm_types::InvalidId> {
    Uuid::parse_str(value.trim()).map_err(|_| csm_types::InvalidId { kind: "id", value: value.to_owned() })
}

fn required_uuid(errors: &mut FieldErrors, field: &str, value: &str) -> Option<Uuid> {
    errors.required_id(field, value, uuid_parse)
}

fn optional_uuid(errors: &mut FieldErrors, field: &str, value: &str) -> Option<Uuid> {
    errors.optional_id(field, value, uuid_parse)
}

fn channel_of(errors: &mut FieldErrors, field: &str, value: i32, required: bool) -> Option<ClientChannel> {
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

fn to_utc(value: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(value.seconds, u32::try_from(value.nanos).ok()?)
}

fn time_of(errors: &mut FieldErrors, field: &str, value: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let value = value?;
    let parsed = to_utc(value);
    if parsed.is_none() {
        errors.add(field, "is not a valid timestamp");
    }
    parsed
}

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

fn page_of(page_size: i32, page_token: &str) -> Result<PageRequest, Status> {
    Ok(PageRequest::parse(page_size, page_token)?)
}

// --------------------------------------------------------------- rendering

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

fn session_to_proto(session: &LicenseSession) -> pb::LicenseSession {
    pb::LicenseSession {
        session_id: session.id.to_string(),
        pool_id: session.pool_id.to_string(),
        login_id: session.login_id.to_string(),
        profile_id: session.profile_id.to_string(),
        principal_kind: session.principal_kind as i32,
        channel: session.channel as i32,
        device_id: session.device_id.clone(),
        state: session.state as i32,
        seat_held: session.seat_held,
        seat_source: if session.seat_held { session.seat_source.map_or(0, |source| source as i32) } else { 0 },
        seat_acquired_at: if session.seat_held { session.seat_acquired_at.map(timestamp) } else { None },
        started_at: Some(timestamp(session.started_at)),
        last_activity_at: Some(timestamp(session.last_activity_at)),
        last_heartbeat_at: Some(timestamp(session.last_heartbeat_at)),
        idle_deadline: session.idle_deadline.map(timestamp),
        unresponsive_deadline: session.unresponsive_deadline.map(timestamp),
        ended_at: session.ended_at.map(timestamp),
        end_reason: session.end_reason.map_or(0, |reason| reason as i32),
    }
}

fn grant_to_proto(grant: &LicenseRightGrant) -> pb::LicenseRightGrant {
    use pb::license_right_grant::Subject;
    pb::LicenseRightGrant {
        license_right_grant_id: grant.id.to_string(),
        subject: match (grant.profile_id, grant.security_group_id) {
            (Some(profile), _) => Some(Subject::ProfileId(profile.to_string())),
            (None, Some(group)) => Some(Subject::SecurityGroupId(group.to_string())),
            (None, None) => None,
        },
        granted_at: Some(timestamp(grant.granted_at)),
    }
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

fn duration_to_proto(duration: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: duration.as_secs() as i64, nanos: duration.subsec_nanos() as i32 }
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

#[tonic::async_trait]
impl LicensingService for LicensingGrpc {
    async fn create_pool(
        &self,
        request: Request<pb::CreatePoolRequest>,
    ) -> Result<Response<pb::CreatePoolResponse>, Status> {
        let app = self.app.get()?;
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

    async fn get_pool(&self, request: Request<pb::GetPoolRequest>) -> Result<Response<pb::GetPoolResponse>, Status> {
        let app = self.app.get()?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let pool_id = required_uuid(&mut errors, "pool_id", &request.pool_id);
        errors.finish()?;
        let pool = app.get_pool(pool_id.unwrap_or_default()).await?;
        Ok(Response::new(pb::GetPoolResponse { pool: Some(pool_to_proto(&pool)) }))
    }

    async fn update_pool(
        &self,
        request: Request<pb::UpdatePoolRequest>,
    ) -> Result<Response<pb::UpdatePoolResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let pool = request.pool.unwrap_or_default();
        let pool_id = required_uuid(&mut errors, "pool.pool_id", &pool.pool_id);
        let paths = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
        if paths.is_empty() {
            errors.add("update_mask", "must name at least one field");
        }
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
                "portal_license_on" => {
                    patch.portal_license_on = Some(portal_mode_of(&mut errors, pool.portal_license_on))
                }
                "consuming_channels" => {
                    patch.consuming_channels = Some(channels_of(&mut errors, &pool.consuming_channels))
                }
                other => errors.add("update_mask", format!("{other:?} is not an updatable field")),
            }
        }
        errors.finish()?;
        let (pool, token) = app.update_pool(&caller, pool_id.unwrap_or_default(), patch).await?;
        Ok(Response::new(pb::UpdatePoolResponse { pool: Some(pool_to_proto(&pool)), consistency_token: token }))
    }

    async fn list_pools(
        &self,
        request: Request<pb::ListPoolsRequest>,
    ) -> Result<Response<pb::ListPoolsResponse>, Status> {
        let app = self.app.get()?;
        let request = request.into_inner();
        let page = page_of(request.page_size, &request.page_token)?;
        let (pools, next_page_token) = app.list_pools(&page).await?;
        Ok(Response::new(pb::ListPoolsResponse { pools: pools.iter().map(pool_to_proto).collect(), next_page_token }))
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let pool_id = required_uuid(&mut errors, "pool_id", &request.pool_id);
        let profile_id = required_uuid(&mut errors, "profile_id", &request.profile_id);
        let channel = channel_of(&mut errors, "channel", request.channel, true);
        if request.device_id.chars().count() > 200 {
            errors.add("device_id", "must be at most 200 characters");
        }
        errors.finish()?;
        let (Some(pool_id), Some(profile_id), Some(channel)) = (pool_id, profile_id, channel) else {
            return Err(CsmError::invalid_field("request", "is incomplete").into());
        };
        let outcome = app.login(&caller, request_id, pool_id, profile_id, channel, request.device_id).await?;
        Ok(Response::new(pb::LoginResponse {
            session: Some(session_to_proto(&outcome.session)),
            seat_newly_acquired: outcome.seat_newly_acquired,
            heartbeat_interval: Some(duration_to_proto(outcome.heartbeat_interval)),
            consistency_token: outcome.consistency_token,
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let session_id = required_uuid(&mut errors, "session_id", &request.session_id);
        errors.finish()?;
        let outcome = app.heartbeat(&caller, session_id.unwrap_or_default(), request.user_active).await?;
        Ok(Response::new(pb::HeartbeatResponse {
            session: Some(session_to_proto(&outcome.session)),
            idle_warning: outcome.idle_warning,
            consistency_token: outcome.consistency_token,
        }))
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let session_id = required_uuid(&mut errors, "session_id", &request.session_id);
        errors.finish()?;
        let outcome = app.logout(&caller, session_id.unwrap_or_default()).await?;
        Ok(Response::new(pb::LogoutResponse {
            session: Some(session_to_proto(&outcome.session)),
            seat_released: outcome.seat_released,
            consistency_token: outcome.consistency_token,
        }))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::GetSessionResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let session_id = required_uuid(&mut errors, "session_id", &request.session_id);
        errors.finish()?;
        let session = app.get_session(&caller, session_id.unwrap_or_default()).await?;
        Ok(Response::new(pb::GetSessionResponse { session: Some(session_to_proto(&session)) }))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let filter = SessionFilter {
            pool_id: optional_uuid(&mut errors, "pool_id", &request.pool_id),
            login_id: optional_uuid(&mut errors, "login_id", &request.login_id),
            profile_id: optional_uuid(&mut errors, "profile_id", &request.profile_id),
            state: match request.state {
                0 => None,
                1 => Some(SessionState::Active),
                2 => Some(SessionState::Ended),
                other => {
                    errors.add("state", format!("unknown state {other}"));
                    None
                }
            },
            channel: channel_of(&mut errors, "channel", request.channel, false),
        };
        errors.finish()?;
        let page = page_of(request.page_size, &request.page_token)?;
        let (sessions, next_page_token) = app.list_sessions(&caller, &filter, &page).await?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: sessions.iter().map(session_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn escalate_session(
        &self,
        request: Request<pb::EscalateSessionRequest>,
    ) -> Result<Response<pb::EscalateSessionResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let session_id = required_uuid(&mut errors, "session_id", &request.session_id);
        let access = match request.access {
            1 => Some(RecordAccess::Read),
            2 => Some(RecordAccess::Edit),
            0 => {
                errors.add("access", "is required");
                None
            }
            other => {
                errors.add("access", format!("unknown access {other}"));
                None
            }
        };
        if request.record_type.chars().count() > 100 {
            errors.add("record_type", "must be at most 100 characters");
        }
        if request.record_id.chars().count() > 200 {
            errors.add("record_id", "must be at most 200 characters");
        }
        errors.finish()?;
        let (Some(session_id), Some(access)) = (session_id, access) else {
            return Err(CsmError::invalid_field("request", "is incomplete").into());
        };
        let outcome = app.escalate(&caller, session_id, access, request.record_type, request.record_id).await?;
        Ok(Response::new(pb::EscalateSessionResponse {
            seat_held: outcome.session.seat_held,
            session: Some(session_to_proto(&outcome.session)),
            seat_needed: outcome.seat_needed,
            seat_newly_acquired: outcome.seat_newly_acquired,
            consistency_token: outcome.consistency_token,
        }))
    }

    async fn grant_license_right(
        &self,
        request: Request<pb::GrantLicenseRightRequest>,
    ) -> Result<Response<pb::GrantLicenseRightResponse>, Status> {
        use pb::grant_license_right_request::Subject;
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let (profile_id, security_group_id) = match &request.subject {
            Some(Subject::ProfileId(value)) => (required_uuid(&mut errors, "profile_id", value), None),
            Some(Subject::SecurityGroupId(value)) => (None, required_uuid(&mut errors, "security_group_id", value)),
            None => {
                errors.add("subject", "profile_id or security_group_id is required");
                (None, None)
            }
        };
        errors.finish()?;
        let (grant, token) = app.grant_right(&caller, request_id, profile_id, security_group_id).await?;
        Ok(Response::new(pb::GrantLicenseRightResponse {
            grant: Some(grant_to_proto(&grant)),
            consistency_token: token,
        }))
    }

    async fn revoke_license_right(
        &self,
        request: Request<pb::RevokeLicenseRightRequest>,
    ) -> Result<Response<pb::RevokeLicenseRightResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let grant_id = required_uuid(&mut errors, "license_right_grant_id", &request.license_right_grant_id);
        errors.finish()?;
        let token = app.revoke_right(&caller, grant_id.unwrap_or_default()).await?;
        Ok(Response::new(pb::RevokeLicenseRightResponse { consistency_token: token }))
    }

    async fn list_license_rights(
        &self,
        request: Request<pb::ListLicenseRightsRequest>,
    ) -> Result<Response<pb::ListLicenseRightsResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let profile_id = optional_uuid(&mut errors, "profile_id", &request.profile_id);
        let security_group_id = optional_uuid(&mut errors, "security_group_id", &request.security_group_id);
        errors.finish()?;
        let page = page_of(request.page_size, &request.page_token)?;
        let (grants, next_page_token) = app.list_rights(&caller, profile_id, security_group_id, &page).await?;
        Ok(Response::new(pb::ListLicenseRightsResponse {
            grants: grants.iter().map(grant_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn has_license_right(
        &self,
        request: Request<pb::HasLicenseRightRequest>,
    ) -> Result<Response<pb::HasLicenseRightResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let profile_id = required_uuid(&mut errors, "profile_id", &request.profile_id);
        errors.finish()?;
        let grants = app.has_right(&caller, profile_id.unwrap_or_default()).await?;
        Ok(Response::new(pb::HasLicenseRightResponse {
            has_right: !grants.is_empty(),
            license_right_grant_ids: grants.iter().map(|grant| grant.id.to_string()).collect(),
        }))
    }

    async fn create_seat_plan(
        &self,
        request: Request<pb::CreateSeatPlanRequest>,
    ) -> Result<Response<pb::CreateSeatPlanResponse>, Status> {
        let app = self.app.get()?;
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
        let (plan, token) =
            app.create_plan(&caller, request_id, product, i64::from(plan.seat_limit), valid_until).await?;
        Ok(Response::new(pb::CreateSeatPlanResponse {
            seat_plan: Some(plan_to_proto(&plan)),
            consistency_token: token,
        }))
    }

    async fn get_seat_plan(
        &self,
        request: Request<pb::GetSeatPlanRequest>,
    ) -> Result<Response<pb::GetSeatPlanResponse>, Status> {
        let app = self.app.get()?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let plan_id = required_uuid(&mut errors, "seat_plan_id", &request.seat_plan_id);
        errors.finish()?;
        let plan = app.get_plan(plan_id.unwrap_or_default()).await?;
        Ok(Response::new(pb::GetSeatPlanResponse { seat_plan: Some(plan_to_proto(&plan)) }))
    }

    async fn update_seat_plan(
        &self,
        request: Request<pb::UpdateSeatPlanRequest>,
    ) -> Result<Response<pb::UpdateSeatPlanResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let plan = request.seat_plan.unwrap_or_default();
        let plan_id = required_uuid(&mut errors, "seat_plan.seat_plan_id", &plan.seat_plan_id);
        let paths = request.update_mask.map(|mask| mask.paths).unwrap_or_default();
        if paths.is_empty() {
            errors.add("update_mask", "must name seat_limit and/or license_valid_until");
        }
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
                "product" => errors.add("update_mask", "product is immutable"),
                other => errors.add("update_mask", format!("{other:?} is not an updatable field")),
            }
        }
        errors.finish()?;
        let (plan, token) = app.update_plan(&caller, plan_id.unwrap_or_default(), patch).await?;
        Ok(Response::new(pb::UpdateSeatPlanResponse {
            seat_plan: Some(plan_to_proto(&plan)),
            consistency_token: token,
        }))
    }

    async fn list_seat_plans(
        &self,
        request: Request<pb::ListSeatPlansRequest>,
    ) -> Result<Response<pb::ListSeatPlansResponse>, Status> {
        let app = self.app.get()?;
        let request = request.into_inner();
        let page = page_of(request.page_size, &request.page_token)?;
        let (plans, next_page_token) = app.list_plans(&page).await?;
        Ok(Response::new(pb::ListSeatPlansResponse {
            seat_plans: plans.iter().map(plan_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn grant_agent_seat(
        &self,
        request: Request<pb::GrantAgentSeatRequest>,
    ) -> Result<Response<pb::GrantAgentSeatResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = errors.optional_request_id(&request.request_id);
        let plan_id = required_uuid(&mut errors, "seat_plan_id", &request.seat_plan_id);
        let profile_id = required_uuid(&mut errors, "profile_id", &request.profile_id);
        let kind = match request.kind {
            0 => {
                errors.add("kind", "is required");
                None
            }
            value => {
                let kind = SeatKind::from_i64(i64::from(value));
                if kind.is_none() {
                    errors.add("kind", format!("unknown kind {value}"));
                }
                kind
            }
        };
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

    async fn revoke_agent_seat(
        &self,
        request: Request<pb::RevokeAgentSeatRequest>,
    ) -> Result<Response<pb::RevokeAgentSeatResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let seat_id = required_uuid(&mut errors, "agent_seat_id", &request.agent_seat_id);
        errors.finish()?;
        let (plan, token) = app.revoke_agent_seat(&caller, seat_id.unwrap_or_default()).await?;
        Ok(Response::new(pb::RevokeAgentSeatResponse {
            seat_plan: Some(plan_to_proto(&plan)),
            consistency_token: token,
        }))
    }

    async fn list_agent_seats(
        &self,
        request: Request<pb::ListAgentSeatsRequest>,
    ) -> Result<Response<pb::ListAgentSeatsResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let plan_id = optional_uuid(&mut errors, "seat_plan_id", &request.seat_plan_id);
        let profile_id = optional_uuid(&mut errors, "profile_id", &request.profile_id);
        let kind = match request.kind {
            0 => None,
            value => {
                let kind = SeatKind::from_i64(i64::from(value));
                if kind.is_none() {
                    errors.add("kind", format!("unknown kind {value}"));
                }
                kind
            }
        };
        errors.finish()?;
        let page = page_of(request.page_size, &request.page_token)?;
        let (seats, next_page_token) = app.list_agent_seats(&caller, plan_id, profile_id, kind, &page).await?;
        Ok(Response::new(pb::ListAgentSeatsResponse {
            agent_seats: seats.iter().map(agent_seat_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn has_agent_license(
        &self,
        request: Request<pb::HasAgentLicenseRequest>,
    ) -> Result<Response<pb::HasAgentLicenseResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let profile_id = required_uuid(&mut errors, "profile_id", &request.profile_id);
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

    async fn get_pool_usage(
        &self,
        request: Request<pb::GetPoolUsageRequest>,
    ) -> Result<Response<pb::GetPoolUsageResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let pool_id = required_uuid(&mut errors, "pool_id", &request.pool_id);
        errors.finish()?;
        let page = page_of(request.page_size, &request.page_token)?;
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

    async fn get_peak_usage(
        &self,
        request: Request<pb::GetPeakUsageRequest>,
    ) -> Result<Response<pb::GetPeakUsageResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let pool_id = required_uuid(&mut errors, "pool_id", &request.pool_id);
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

    async fn list_denials(
        &self,
        request: Request<pb::ListDenialsRequest>,
    ) -> Result<Response<pb::ListDenialsResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let filter = DenialFilter {
            pool_id: optional_uuid(&mut errors, "pool_id", &request.pool_id),
            seat_plan_id: optional_uuid(&mut errors, "seat_plan_id", &request.seat_plan_id),
            reason: denial_reason_of(&mut errors, request.reason),
            login_id: optional_uuid(&mut errors, "login_id", &request.login_id),
            start: time_of(&mut errors, "start_time", request.start_time.as_ref()),
            end: time_of(&mut errors, "end_time", request.end_time.as_ref()),
        };
        errors.finish()?;
        let page = page_of(request.page_size, &request.page_token)?;
        let (denials, next_page_token) = app.list_denials(&caller, &filter, &page).await?;
        Ok(Response::new(pb::ListDenialsResponse {
            denials: denials.iter().map(denial_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn count_denials(
        &self,
        request: Request<pb::CountDenialsRequest>,
    ) -> Result<Response<pb::CountDenialsResponse>, Status> {
        let app = self.app.get()?;
        let caller = caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let filter = DenialFilter {
            pool_id: optional_uuid(&mut errors, "pool_id", &request.pool_id),
            seat_plan_id: optional_uuid(&mut errors, "seat_plan_id", &request.seat_plan_id),
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
}
