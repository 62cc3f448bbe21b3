//! gRPC handlers of licence sessions (R7.1–R7.8, X4): Login, Heartbeat,
//! Logout, GetSession, ListSessions, EscalateSession. Proto ⇄ domain
//! conversion, then the app.

use csm_auth::caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, FieldErrors};
use csm_proto::licensing as pb;
use csm_proto::timestamp;
use tonic::{Request, Response, Status};

use super::LicensingGrpc;
use super::pools::{channel_of, single_id};
use crate::domain::sessions::{LicenseSession, RecordAccess, SessionFilter, SessionState};

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

fn duration_to_proto(duration: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: duration.as_secs() as i64, nanos: duration.subsec_nanos() as i32 }
}

pub(super) async fn login(
    grpc: &LicensingGrpc,
    request: Request<pb::LoginRequest>,
) -> Result<Response<pb::LoginResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let pool_id = errors.required_uuid("pool_id", &request.pool_id);
    let profile_id = errors.required_uuid("profile_id", &request.profile_id);
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

pub(super) async fn heartbeat(
    grpc: &LicensingGrpc,
    request: Request<pb::HeartbeatRequest>,
) -> Result<Response<pb::HeartbeatResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let session_id = single_id("session_id", &request.session_id)?;
    let outcome = app.heartbeat(&caller, session_id, request.user_active).await?;
    Ok(Response::new(pb::HeartbeatResponse {
        session: Some(session_to_proto(&outcome.session)),
        idle_warning: outcome.idle_warning,
        consistency_token: outcome.consistency_token,
    }))
}

pub(super) async fn logout(
    grpc: &LicensingGrpc,
    request: Request<pb::LogoutRequest>,
) -> Result<Response<pb::LogoutResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let session_id = single_id("session_id", &request.get_ref().session_id)?;
    let outcome = app.logout(&caller, session_id).await?;
    Ok(Response::new(pb::LogoutResponse {
        session: Some(session_to_proto(&outcome.session)),
        seat_released: outcome.seat_released,
        consistency_token: outcome.consistency_token,
    }))
}

pub(super) async fn get_session(
    grpc: &LicensingGrpc,
    request: Request<pb::GetSessionRequest>,
) -> Result<Response<pb::GetSessionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let session_id = single_id("session_id", &request.get_ref().session_id)?;
    let session = app.get_session(&caller, session_id).await?;
    Ok(Response::new(pb::GetSessionResponse { session: Some(session_to_proto(&session)) }))
}

pub(super) async fn list_sessions(
    grpc: &LicensingGrpc,
    request: Request<pb::ListSessionsRequest>,
) -> Result<Response<pb::ListSessionsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let filter = SessionFilter {
        pool_id: errors.optional_uuid("pool_id", &request.pool_id),
        login_id: errors.optional_uuid("login_id", &request.login_id),
        profile_id: errors.optional_uuid("profile_id", &request.profile_id),
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
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let (sessions, next_page_token) = app.list_sessions(&caller, &filter, &page).await?;
    Ok(Response::new(pb::ListSessionsResponse {
        sessions: sessions.iter().map(session_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn escalate_session(
    grpc: &LicensingGrpc,
    request: Request<pb::EscalateSessionRequest>,
) -> Result<Response<pb::EscalateSessionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let session_id = errors.required_uuid("session_id", &request.session_id);
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
