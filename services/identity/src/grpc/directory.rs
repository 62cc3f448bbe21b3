//! gRPC handlers of identity's directory RPCs: proto ⇄ domain conversion, then the app.

use csm_errors::CsmError;
use csm_proto::identity as pb;
use tonic::{Request, Response, Status};

use super::IdentityGrpc;

pub(super) async fn create_department(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateDepartmentRequest>,
) -> Result<Response<pb::CreateDepartmentResponse>, Status> {
    Err(CsmError::unimplemented("CreateDepartment").into())
}

pub(super) async fn get_department(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetDepartmentRequest>,
) -> Result<Response<pb::GetDepartmentResponse>, Status> {
    Err(CsmError::unimplemented("GetDepartment").into())
}

pub(super) async fn update_department(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateDepartmentRequest>,
) -> Result<Response<pb::UpdateDepartmentResponse>, Status> {
    Err(CsmError::unimplemented("UpdateDepartment").into())
}

pub(super) async fn list_departments(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListDepartmentsRequest>,
) -> Result<Response<pb::ListDepartmentsResponse>, Status> {
    Err(CsmError::unimplemented("ListDepartments").into())
}

pub(super) async fn create_security_group(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateSecurityGroupRequest>,
) -> Result<Response<pb::CreateSecurityGroupResponse>, Status> {
    Err(CsmError::unimplemented("CreateSecurityGroup").into())
}

pub(super) async fn get_security_group(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetSecurityGroupRequest>,
) -> Result<Response<pb::GetSecurityGroupResponse>, Status> {
    Err(CsmError::unimplemented("GetSecurityGroup").into())
}

pub(super) async fn update_security_group(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateSecurityGroupRequest>,
) -> Result<Response<pb::UpdateSecurityGroupResponse>, Status> {
    Err(CsmError::unimplemented("UpdateSecurityGroup").into())
}

pub(super) async fn list_security_groups(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListSecurityGroupsRequest>,
) -> Result<Response<pb::ListSecurityGroupsResponse>, Status> {
    Err(CsmError::unimplemented("ListSecurityGroups").into())
}

pub(super) async fn assign_security_group(
    _grpc: &IdentityGrpc,
    _request: Request<pb::AssignSecurityGroupRequest>,
) -> Result<Response<pb::AssignSecurityGroupResponse>, Status> {
    Err(CsmError::unimplemented("AssignSecurityGroup").into())
}

pub(super) async fn get_settings(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetSettingsRequest>,
) -> Result<Response<pb::GetSettingsResponse>, Status> {
    Err(CsmError::unimplemented("GetSettings").into())
}

pub(super) async fn update_settings(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateSettingsRequest>,
) -> Result<Response<pb::UpdateSettingsResponse>, Status> {
    Err(CsmError::unimplemented("UpdateSettings").into())
}
