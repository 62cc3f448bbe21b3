//! admin

use csm_proto::case_access as pb;
use tonic::{Request, Response, Status};

use crate::CaseAccessApp;

pub(super) async fn get_settings(
    _app: &CaseAccessApp,
    _request: Request<pb::GetSettingsRequest>,
) -> Result<Response<pb::GetSettingsResponse>, Status> {
    Err(Status::unimplemented("GetSettings is not built yet"))
}

pub(super) async fn update_settings(
    _app: &CaseAccessApp,
    _request: Request<pb::UpdateSettingsRequest>,
) -> Result<Response<pb::UpdateSettingsResponse>, Status> {
    Err(Status::unimplemented("UpdateSettings is not built yet"))
}

pub(super) async fn set_security_group_rights(
    _app: &CaseAccessApp,
    _request: Request<pb::SetSecurityGroupRightsRequest>,
) -> Result<Response<pb::SetSecurityGroupRightsResponse>, Status> {
    Err(Status::unimplemented("SetSecurityGroupRights is not built yet"))
}

pub(super) async fn get_security_group_rights(
    _app: &CaseAccessApp,
    _request: Request<pb::GetSecurityGroupRightsRequest>,
) -> Result<Response<pb::GetSecurityGroupRightsResponse>, Status> {
    Err(Status::unimplemented("GetSecurityGroupRights is not built yet"))
}

pub(super) async fn list_security_group_rights(
    _app: &CaseAccessApp,
    _request: Request<pb::ListSecurityGroupRightsRequest>,
) -> Result<Response<pb::ListSecurityGroupRightsResponse>, Status> {
    Err(Status::unimplemented("ListSecurityGroupRights is not built yet"))
}

pub(super) async fn delete_security_group_rights(
    _app: &CaseAccessApp,
    _request: Request<pb::DeleteSecurityGroupRightsRequest>,
) -> Result<Response<pb::DeleteSecurityGroupRightsResponse>, Status> {
    Err(Status::unimplemented("DeleteSecurityGroupRights is not built yet"))
}
