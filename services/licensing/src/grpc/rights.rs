//! gRPC handlers of the licence right (R7.6): GrantLicenseRight,
//! RevokeLicenseRight, ListLicenseRights, HasLicenseRight. Proto ⇄ domain
//! conversion, then the app.

use csm_auth::caller;
use csm_db::PageRequest;
use csm_errors::FieldErrors;
use csm_proto::licensing as pb;
use csm_proto::timestamp;
use tonic::{Request, Response, Status};

use super::LicensingGrpc;
use super::pools::single_id;
use crate::domain::rights::LicenseRightGrant;

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

pub(super) async fn grant_license_right(
    grpc: &LicensingGrpc,
    request: Request<pb::GrantLicenseRightRequest>,
) -> Result<Response<pb::GrantLicenseRightResponse>, Status> {
    use pb::grant_license_right_request::Subject;
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let (profile_id, security_group_id) = match &request.subject {
        Some(Subject::ProfileId(value)) => (errors.required_uuid("profile_id", value), None),
        Some(Subject::SecurityGroupId(value)) => (None, errors.required_uuid("security_group_id", value)),
        None => {
            errors.add("subject", "profile_id or security_group_id is required");
            (None, None)
        }
    };
    errors.finish()?;
    let (grant, token) = app.grant_right(&caller, request_id, profile_id, security_group_id).await?;
    Ok(Response::new(pb::GrantLicenseRightResponse { grant: Some(grant_to_proto(&grant)), consistency_token: token }))
}

pub(super) async fn revoke_license_right(
    grpc: &LicensingGrpc,
    request: Request<pb::RevokeLicenseRightRequest>,
) -> Result<Response<pb::RevokeLicenseRightResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let grant_id = single_id("license_right_grant_id", &request.get_ref().license_right_grant_id)?;
    let token = app.revoke_right(&caller, grant_id).await?;
    Ok(Response::new(pb::RevokeLicenseRightResponse { consistency_token: token }))
}

pub(super) async fn list_license_rights(
    grpc: &LicensingGrpc,
    request: Request<pb::ListLicenseRightsRequest>,
) -> Result<Response<pb::ListLicenseRightsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile_id = errors.optional_uuid("profile_id", &request.profile_id);
    let security_group_id = errors.optional_uuid("security_group_id", &request.security_group_id);
    errors.finish()?;
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let (grants, next_page_token) = app.list_rights(&caller, profile_id, security_group_id, &page).await?;
    Ok(Response::new(pb::ListLicenseRightsResponse {
        grants: grants.iter().map(grant_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn has_license_right(
    grpc: &LicensingGrpc,
    request: Request<pb::HasLicenseRightRequest>,
) -> Result<Response<pb::HasLicenseRightResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = caller(&request)?;
    let profile_id = single_id("profile_id", &request.get_ref().profile_id)?;
    let grants = app.has_right(&caller, profile_id).await?;
    Ok(Response::new(pb::HasLicenseRightResponse {
        has_right: !grants.is_empty(),
        license_right_grant_ids: grants.iter().map(|grant| grant.id.to_string()).collect(),
    }))
}
