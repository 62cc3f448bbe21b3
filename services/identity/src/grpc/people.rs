//! gRPC handlers of identity's people RPCs: proto ⇄ domain conversion, then the app.

use csm_errors::CsmError;
use csm_proto::identity as pb;
use tonic::{Request, Response, Status};

use super::IdentityGrpc;

pub(super) async fn create_login(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateLoginRequest>,
) -> Result<Response<pb::CreateLoginResponse>, Status> {
    Err(CsmError::unimplemented("CreateLogin").into())
}

pub(super) async fn get_login(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetLoginRequest>,
) -> Result<Response<pb::GetLoginResponse>, Status> {
    Err(CsmError::unimplemented("GetLogin").into())
}

pub(super) async fn update_login(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateLoginRequest>,
) -> Result<Response<pb::UpdateLoginResponse>, Status> {
    Err(CsmError::unimplemented("UpdateLogin").into())
}

pub(super) async fn list_logins(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListLoginsRequest>,
) -> Result<Response<pb::ListLoginsResponse>, Status> {
    Err(CsmError::unimplemented("ListLogins").into())
}

pub(super) async fn set_login_password(
    _grpc: &IdentityGrpc,
    _request: Request<pb::SetLoginPasswordRequest>,
) -> Result<Response<pb::SetLoginPasswordResponse>, Status> {
    Err(CsmError::unimplemented("SetLoginPassword").into())
}

pub(super) async fn start_session(
    _grpc: &IdentityGrpc,
    _request: Request<pb::StartSessionRequest>,
) -> Result<Response<pb::StartSessionResponse>, Status> {
    Err(CsmError::unimplemented("StartSession").into())
}

pub(super) async fn switch_profile(
    _grpc: &IdentityGrpc,
    _request: Request<pb::SwitchProfileRequest>,
) -> Result<Response<pb::SwitchProfileResponse>, Status> {
    Err(CsmError::unimplemented("SwitchProfile").into())
}

pub(super) async fn end_session(
    _grpc: &IdentityGrpc,
    _request: Request<pb::EndSessionRequest>,
) -> Result<Response<pb::EndSessionResponse>, Status> {
    Err(CsmError::unimplemented("EndSession").into())
}

pub(super) async fn get_session(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetSessionRequest>,
) -> Result<Response<pb::GetSessionResponse>, Status> {
    Err(CsmError::unimplemented("GetSession").into())
}

pub(super) async fn create_employee(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateEmployeeRequest>,
) -> Result<Response<pb::CreateEmployeeResponse>, Status> {
    Err(CsmError::unimplemented("CreateEmployee").into())
}

pub(super) async fn create_contact(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateContactRequest>,
) -> Result<Response<pb::CreateContactResponse>, Status> {
    Err(CsmError::unimplemented("CreateContact").into())
}

pub(super) async fn get_profile(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetProfileRequest>,
) -> Result<Response<pb::GetProfileResponse>, Status> {
    Err(CsmError::unimplemented("GetProfile").into())
}

pub(super) async fn batch_get_profiles(
    _grpc: &IdentityGrpc,
    _request: Request<pb::BatchGetProfilesRequest>,
) -> Result<Response<pb::BatchGetProfilesResponse>, Status> {
    Err(CsmError::unimplemented("BatchGetProfiles").into())
}

pub(super) async fn update_profile(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateProfileRequest>,
) -> Result<Response<pb::UpdateProfileResponse>, Status> {
    Err(CsmError::unimplemented("UpdateProfile").into())
}

pub(super) async fn list_profiles(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListProfilesRequest>,
) -> Result<Response<pb::ListProfilesResponse>, Status> {
    Err(CsmError::unimplemented("ListProfiles").into())
}

pub(super) async fn resolve_principal(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ResolvePrincipalRequest>,
) -> Result<Response<pb::ResolvePrincipalResponse>, Status> {
    Err(CsmError::unimplemented("ResolvePrincipal").into())
}

pub(super) async fn list_account_contacts(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListAccountContactsRequest>,
) -> Result<Response<pb::ListAccountContactsResponse>, Status> {
    Err(CsmError::unimplemented("ListAccountContacts").into())
}
