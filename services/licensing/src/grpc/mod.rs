//! licensing's gRPC adapter: converts proto ⇄ domain and calls the app,
//! nothing else. The handlers live in one module per area; this file only routes.

mod agent_seats;
mod pools;
mod rights;
mod sessions;
mod usage;

use std::sync::Arc;

use csm_proto::licensing as pb;
use csm_proto::licensing::licensing_service_server::LicensingService;
use csm_server::Readiness;
use tonic::{Request, Response, Status};

use crate::LicensingApp;

pub struct LicensingGrpc {
    app: Arc<Readiness<LicensingApp>>,
}

impl LicensingGrpc {
    pub fn new(app: Arc<Readiness<LicensingApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl LicensingService for LicensingGrpc {
    async fn create_pool(
        &self,
        request: Request<pb::CreatePoolRequest>,
    ) -> Result<Response<pb::CreatePoolResponse>, Status> {
        pools::create_pool(self, request).await
    }

    async fn get_pool(&self, request: Request<pb::GetPoolRequest>) -> Result<Response<pb::GetPoolResponse>, Status> {
        pools::get_pool(self, request).await
    }

    async fn update_pool(
        &self,
        request: Request<pb::UpdatePoolRequest>,
    ) -> Result<Response<pb::UpdatePoolResponse>, Status> {
        pools::update_pool(self, request).await
    }

    async fn list_pools(
        &self,
        request: Request<pb::ListPoolsRequest>,
    ) -> Result<Response<pb::ListPoolsResponse>, Status> {
        pools::list_pools(self, request).await
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        sessions::login(self, request).await
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        sessions::heartbeat(self, request).await
    }

    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<pb::LogoutResponse>, Status> {
        sessions::logout(self, request).await
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::GetSessionResponse>, Status> {
        sessions::get_session(self, request).await
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        sessions::list_sessions(self, request).await
    }

    async fn escalate_session(
        &self,
        request: Request<pb::EscalateSessionRequest>,
    ) -> Result<Response<pb::EscalateSessionResponse>, Status> {
        sessions::escalate_session(self, request).await
    }

    async fn grant_license_right(
        &self,
        request: Request<pb::GrantLicenseRightRequest>,
    ) -> Result<Response<pb::GrantLicenseRightResponse>, Status> {
        rights::grant_license_right(self, request).await
    }

    async fn revoke_license_right(
        &self,
        request: Request<pb::RevokeLicenseRightRequest>,
    ) -> Result<Response<pb::RevokeLicenseRightResponse>, Status> {
        rights::revoke_license_right(self, request).await
    }

    async fn list_license_rights(
        &self,
        request: Request<pb::ListLicenseRightsRequest>,
    ) -> Result<Response<pb::ListLicenseRightsResponse>, Status> {
        rights::list_license_rights(self, request).await
    }

    async fn has_license_right(
        &self,
        request: Request<pb::HasLicenseRightRequest>,
    ) -> Result<Response<pb::HasLicenseRightResponse>, Status> {
        rights::has_license_right(self, request).await
    }

    async fn create_seat_plan(
        &self,
        request: Request<pb::CreateSeatPlanRequest>,
    ) -> Result<Response<pb::CreateSeatPlanResponse>, Status> {
        agent_seats::create_seat_plan(self, request).await
    }

    async fn get_seat_plan(
        &self,
        request: Request<pb::GetSeatPlanRequest>,
    ) -> Result<Response<pb::GetSeatPlanResponse>, Status> {
        agent_seats::get_seat_plan(self, request).await
    }

    async fn update_seat_plan(
        &self,
        request: Request<pb::UpdateSeatPlanRequest>,
    ) -> Result<Response<pb::UpdateSeatPlanResponse>, Status> {
        agent_seats::update_seat_plan(self, request).await
    }

    async fn list_seat_plans(
        &self,
        request: Request<pb::ListSeatPlansRequest>,
    ) -> Result<Response<pb::ListSeatPlansResponse>, Status> {
        agent_seats::list_seat_plans(self, request).await
    }

    async fn grant_agent_seat(
        &self,
        request: Request<pb::GrantAgentSeatRequest>,
    ) -> Result<Response<pb::GrantAgentSeatResponse>, Status> {
        agent_seats::grant_agent_seat(self, request).await
    }

    async fn revoke_agent_seat(
        &self,
        request: Request<pb::RevokeAgentSeatRequest>,
    ) -> Result<Response<pb::RevokeAgentSeatResponse>, Status> {
        agent_seats::revoke_agent_seat(self, request).await
    }

    async fn list_agent_seats(
        &self,
        request: Request<pb::ListAgentSeatsRequest>,
    ) -> Result<Response<pb::ListAgentSeatsResponse>, Status> {
        agent_seats::list_agent_seats(self, request).await
    }

    async fn has_agent_license(
        &self,
        request: Request<pb::HasAgentLicenseRequest>,
    ) -> Result<Response<pb::HasAgentLicenseResponse>, Status> {
        agent_seats::has_agent_license(self, request).await
    }

    async fn get_pool_usage(
        &self,
        request: Request<pb::GetPoolUsageRequest>,
    ) -> Result<Response<pb::GetPoolUsageResponse>, Status> {
        usage::get_pool_usage(self, request).await
    }

    async fn get_peak_usage(
        &self,
        request: Request<pb::GetPeakUsageRequest>,
    ) -> Result<Response<pb::GetPeakUsageResponse>, Status> {
        usage::get_peak_usage(self, request).await
    }

    async fn list_denials(
        &self,
        request: Request<pb::ListDenialsRequest>,
    ) -> Result<Response<pb::ListDenialsResponse>, Status> {
        usage::list_denials(self, request).await
    }

    async fn count_denials(
        &self,
        request: Request<pb::CountDenialsRequest>,
    ) -> Result<Response<pb::CountDenialsResponse>, Status> {
        usage::count_denials(self, request).await
    }
}
