//! gRPC handlers of identity's session RPCs (log in, refresh, switch profile,
//! log out, the signing keys, credential state): proto ⇄ domain conversion,
//! then the app.

use csm_errors::{FieldErrors, required_id, validated};
use csm_proto::identity as pb;
use csm_types::{LoginId, ProfileId, SessionId};
use tonic::{Request, Response, Status};

use super::IdentityGrpc;
use super::convert::{channel_from_proto, profile_kind_to_proto, session_to_proto};
use crate::app::sessions::{AccessToken, CredentialState, LoginKey};
use crate::domain::people::{Password, validate_login_name};
use crate::domain::sessions::{ProfileSwitch, Proof, SessionStart, SessionState};

fn optional_role(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn access_token_to_proto(token: AccessToken) -> pb::AccessToken {
    pb::AccessToken { token: token.token, expires_at: Some(csm_proto::timestamp(token.expires_at)) }
}

/// The address the guessing limit per client counts (the peer of the connection).
fn client_address<T>(request: &Request<T>) -> String {
    request.remote_addr().map(|address| address.ip().to_string()).unwrap_or_else(|| "unknown".to_owned())
}

pub(super) async fn start_session(
    grpc: &IdentityGrpc,
    request: Request<pb::StartSessionRequest>,
) -> Result<Response<pb::StartSessionResponse>, Status> {
    let app = grpc.app.get()?;
    // A password login is anonymous; a gateway asserting pre_authenticated is a service.
    let caller = csm_auth::caller_if_any(&request);
    let client_address = client_address(&request);
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let login_name = errors.check("login_name", validate_login_name(&request.login_name));
    let proof = match request.proof {
        Some(pb::start_session_request::Proof::Password(password)) if !password.is_empty() => {
            Some(Proof::Password(Password::new(password)))
        }
        Some(pb::start_session_request::Proof::PreAuthenticated(true)) => Some(Proof::PreAuthenticated),
        _ => {
            errors.add("proof", "give password or pre_authenticated = true");
            None
        }
    };
    let channel = channel_from_proto(request.channel);
    if channel.is_none() {
        errors.add("channel", "must be a CHANNEL_* value other than UNSPECIFIED");
    }
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    errors.finish()?;
    let start = SessionStart {
        login_name: validated(login_name)?,
        proof: validated(proof)?,
        channel: validated(channel)?,
        profile,
        presentation_role: optional_role(&request.presentation_role),
    };
    let written = app.start_session(caller.as_ref(), &client_address, request_id.as_deref(), start).await?;
    let started = written.value;
    Ok(Response::new(pb::StartSessionResponse {
        session: Some(session_to_proto(&started.session)),
        assigned_explicit_role: started.assigned_explicit_role.unwrap_or_default().to_owned(),
        consistency_token: written.consistency_token,
        access_token: Some(access_token_to_proto(started.access_token)),
        refresh_token: started.refresh_token.unwrap_or_default(),
    }))
}

pub(super) async fn refresh_session(
    grpc: &IdentityGrpc,
    request: Request<pb::RefreshSessionRequest>,
) -> Result<Response<pb::RefreshSessionResponse>, Status> {
    let app = grpc.app.get()?;
    let request = request.into_inner();
    if request.refresh_token.trim().is_empty() {
        return Err(csm_errors::CsmError::invalid_field("refresh_token", "is required").into());
    }
    let (session, access_token) = app.refresh_session(&request.refresh_token).await?;
    Ok(Response::new(pb::RefreshSessionResponse {
        session: Some(session_to_proto(&session)),
        access_token: Some(access_token_to_proto(access_token)),
    }))
}

pub(super) async fn switch_profile(
    grpc: &IdentityGrpc,
    request: Request<pb::SwitchProfileRequest>,
) -> Result<Response<pb::SwitchProfileResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let session = errors.required_id("session_id", &request.session_id, SessionId::parse);
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let channel = match request.channel {
        0 => None,
        value => {
            let channel = channel_from_proto(value);
            if channel.is_none() {
                errors.add("channel", "must be a CHANNEL_* value");
            }
            channel
        }
    };
    errors.finish()?;
    let switch = ProfileSwitch {
        session: validated(session)?,
        profile: validated(profile)?,
        channel,
        presentation_role: optional_role(&request.presentation_role),
    };
    let written = app.switch_profile(&caller, switch).await?;
    let switched = written.value;
    Ok(Response::new(pb::SwitchProfileResponse {
        session: Some(session_to_proto(&switched.session)),
        assigned_explicit_role: switched.assigned_explicit_role.unwrap_or_default().to_owned(),
        consistency_token: written.consistency_token,
        access_token: Some(access_token_to_proto(switched.access_token)),
    }))
}

pub(super) async fn end_session(
    grpc: &IdentityGrpc,
    request: Request<pb::EndSessionRequest>,
) -> Result<Response<pb::EndSessionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let id = required_id("session_id", &request.get_ref().session_id, SessionId::parse)?;
    let written = app.end_session(&caller, id).await?;
    Ok(Response::new(pb::EndSessionResponse {
        session: Some(session_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_session(
    grpc: &IdentityGrpc,
    request: Request<pb::GetSessionRequest>,
) -> Result<Response<pb::GetSessionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let id = required_id("session_id", &request.get_ref().session_id, SessionId::parse)?;
    let session = app.get_session(&caller, id).await?;
    Ok(Response::new(pb::GetSessionResponse { session: Some(session_to_proto(&session)) }))
}

pub(super) async fn get_signing_keys(
    grpc: &IdentityGrpc,
    _request: Request<pb::GetSigningKeysRequest>,
) -> Result<Response<pb::GetSigningKeysResponse>, Status> {
    let app = grpc.app.get()?;
    let keys = app
        .signing_keys()
        .keys
        .into_iter()
        .map(|key| pb::JsonWebKey {
            kty: key.kty,
            kid: key.kid,
            alg: key.alg,
            r#use: key.key_use,
            crv: key.crv,
            x: key.x,
        })
        .collect();
    Ok(Response::new(pb::GetSigningKeysResponse { keys }))
}

pub(super) async fn get_credential_state(
    grpc: &IdentityGrpc,
    request: Request<pb::GetCredentialStateRequest>,
) -> Result<Response<pb::GetCredentialStateResponse>, Status> {
    let app = grpc.app.get()?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let login = match (request.login_id.is_empty(), request.login_name.trim().is_empty()) {
        (false, _) => errors.required_id("login_id", &request.login_id, LoginId::parse).map(LoginKey::Id),
        (true, false) => Some(LoginKey::Name(request.login_name.trim().to_owned())),
        (true, true) => {
            errors.add("login_id", "give login_id or login_name");
            None
        }
    };
    let session = errors.optional_id("session_id", &request.session_id, SessionId::parse);
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    errors.finish()?;
    let state = app.credential_state(validated(login)?, session, profile).await?;
    let consistency_token = app.feed().token(state.revision);
    Ok(Response::new(credential_state_to_proto(state, consistency_token)))
}

fn credential_state_to_proto(state: CredentialState, consistency_token: String) -> pb::GetCredentialStateResponse {
    pb::GetCredentialStateResponse {
        login: state.login.map(|login| pb::CredentialLogin {
            login_id: login.id.to_string(),
            enabled: login.enabled,
            default_profile_id: login.default_profile.map(|id| id.to_string()).unwrap_or_default(),
        }),
        session: state.session.map(|session| pb::CredentialSession {
            session_id: session.id.to_string(),
            login_id: session.login.to_string(),
            active_profile_id: session.active_profile.to_string(),
            state: match session.state {
                SessionState::Active => pb::SessionState::Active,
                SessionState::Ended => pb::SessionState::Ended,
            } as i32,
        }),
        profile: state.profile.map(|profile| pb::CredentialProfile {
            profile_id: profile.id.to_string(),
            login_id: profile.login.map(|id| id.to_string()).unwrap_or_default(),
            kind: profile_kind_to_proto(profile.kind) as i32,
            active: profile.active,
        }),
        consistency_token,
    }
}
