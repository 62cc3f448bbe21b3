//! gRPC handlers of identity's consumers RPCs: proto ⇄ domain conversion, then the app.

use csm_errors::CsmError;
use csm_proto::identity as pb;
use tonic::{Request, Response, Status};

use super::IdentityGrpc;

pub(super) async fn create_consumer(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateConsumerRequest>,
) -> Result<Response<pb::CreateConsumerResponse>, Status> {
    Err(CsmError::unimplemented("CreateConsumer").into())
}

pub(super) async fn get_consumer(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetConsumerRequest>,
) -> Result<Response<pb::GetConsumerResponse>, Status> {
    Err(CsmError::unimplemented("GetConsumer").into())
}

pub(super) async fn update_consumer(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateConsumerRequest>,
) -> Result<Response<pb::UpdateConsumerResponse>, Status> {
    Err(CsmError::unimplemented("UpdateConsumer").into())
}

pub(super) async fn list_consumers(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListConsumersRequest>,
) -> Result<Response<pb::ListConsumersResponse>, Status> {
    Err(CsmError::unimplemented("ListConsumers").into())
}

pub(super) async fn set_consumer_user(
    _grpc: &IdentityGrpc,
    _request: Request<pb::SetConsumerUserRequest>,
) -> Result<Response<pb::SetConsumerUserResponse>, Status> {
    Err(CsmError::unimplemented("SetConsumerUser").into())
}

pub(super) async fn create_consumer_profile(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateConsumerProfileRequest>,
) -> Result<Response<pb::CreateConsumerProfileResponse>, Status> {
    Err(CsmError::unimplemented("CreateConsumerProfile").into())
}

pub(super) async fn update_consumer_profile(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateConsumerProfileRequest>,
) -> Result<Response<pb::UpdateConsumerProfileResponse>, Status> {
    Err(CsmError::unimplemented("UpdateConsumerProfile").into())
}

pub(super) async fn list_consumer_profiles(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListConsumerProfilesRequest>,
) -> Result<Response<pb::ListConsumerProfilesResponse>, Status> {
    Err(CsmError::unimplemented("ListConsumerProfiles").into())
}

pub(super) async fn create_household(
    _grpc: &IdentityGrpc,
    _request: Request<pb::CreateHouseholdRequest>,
) -> Result<Response<pb::CreateHouseholdResponse>, Status> {
    Err(CsmError::unimplemented("CreateHousehold").into())
}

pub(super) async fn get_household(
    _grpc: &IdentityGrpc,
    _request: Request<pb::GetHouseholdRequest>,
) -> Result<Response<pb::GetHouseholdResponse>, Status> {
    Err(CsmError::unimplemented("GetHousehold").into())
}

pub(super) async fn update_household(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateHouseholdRequest>,
) -> Result<Response<pb::UpdateHouseholdResponse>, Status> {
    Err(CsmError::unimplemented("UpdateHousehold").into())
}

pub(super) async fn list_households(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListHouseholdsRequest>,
) -> Result<Response<pb::ListHouseholdsResponse>, Status> {
    Err(CsmError::unimplemented("ListHouseholds").into())
}

pub(super) async fn set_household_membership(
    _grpc: &IdentityGrpc,
    _request: Request<pb::SetHouseholdMembershipRequest>,
) -> Result<Response<pb::SetHouseholdMembershipResponse>, Status> {
    Err(CsmError::unimplemented("SetHouseholdMembership").into())
}

pub(super) async fn list_household_members(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListHouseholdMembersRequest>,
) -> Result<Response<pb::ListHouseholdMembersResponse>, Status> {
    Err(CsmError::unimplemented("ListHouseholdMembers").into())
}
