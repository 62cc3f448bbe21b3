//! identity's gRPC adapter: converts proto ⇄ domain and calls the app, nothing
//! else. The handlers live in one module per area; this file only routes.

mod accounts;
mod consumers;
mod convert;
mod directory;
mod people;
mod sessions;

use std::sync::Arc;

use csm_proto::identity as pb;
use csm_proto::identity::identity_service_server::IdentityService;
use csm_server::Readiness;
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::app::IdentityApp;

pub struct IdentityGrpc {
    pub(crate) app: Arc<Readiness<IdentityApp>>,
}

impl IdentityGrpc {
    pub fn new(app: Arc<Readiness<IdentityApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityGrpc {
    async fn create_login(
        &self,
        request: Request<pb::CreateLoginRequest>,
    ) -> Result<Response<pb::CreateLoginResponse>, Status> {
        people::create_login(self, request).await
    }

    async fn get_login(&self, request: Request<pb::GetLoginRequest>) -> Result<Response<pb::GetLoginResponse>, Status> {
        people::get_login(self, request).await
    }

    async fn update_login(
        &self,
        request: Request<pb::UpdateLoginRequest>,
    ) -> Result<Response<pb::UpdateLoginResponse>, Status> {
        people::update_login(self, request).await
    }

    async fn list_logins(
        &self,
        request: Request<pb::ListLoginsRequest>,
    ) -> Result<Response<pb::ListLoginsResponse>, Status> {
        people::list_logins(self, request).await
    }

    async fn set_login_password(
        &self,
        request: Request<pb::SetLoginPasswordRequest>,
    ) -> Result<Response<pb::SetLoginPasswordResponse>, Status> {
        people::set_login_password(self, request).await
    }

    async fn start_session(
        &self,
        request: Request<pb::StartSessionRequest>,
    ) -> Result<Response<pb::StartSessionResponse>, Status> {
        sessions::start_session(self, request).await
    }

    async fn refresh_session(
        &self,
        request: Request<pb::RefreshSessionRequest>,
    ) -> Result<Response<pb::RefreshSessionResponse>, Status> {
        sessions::refresh_session(self, request).await
    }

    async fn get_signing_keys(
        &self,
        request: Request<pb::GetSigningKeysRequest>,
    ) -> Result<Response<pb::GetSigningKeysResponse>, Status> {
        sessions::get_signing_keys(self, request).await
    }

    async fn get_credential_state(
        &self,
        request: Request<pb::GetCredentialStateRequest>,
    ) -> Result<Response<pb::GetCredentialStateResponse>, Status> {
        sessions::get_credential_state(self, request).await
    }

    async fn switch_profile(
        &self,
        request: Request<pb::SwitchProfileRequest>,
    ) -> Result<Response<pb::SwitchProfileResponse>, Status> {
        sessions::switch_profile(self, request).await
    }

    async fn end_session(
        &self,
        request: Request<pb::EndSessionRequest>,
    ) -> Result<Response<pb::EndSessionResponse>, Status> {
        sessions::end_session(self, request).await
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::GetSessionResponse>, Status> {
        sessions::get_session(self, request).await
    }

    async fn create_employee(
        &self,
        request: Request<pb::CreateEmployeeRequest>,
    ) -> Result<Response<pb::CreateEmployeeResponse>, Status> {
        people::create_employee(self, request).await
    }

    async fn create_contact(
        &self,
        request: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::CreateContactResponse>, Status> {
        people::create_contact(self, request).await
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        people::get_profile(self, request).await
    }

    async fn batch_get_profiles(
        &self,
        request: Request<pb::BatchGetProfilesRequest>,
    ) -> Result<Response<pb::BatchGetProfilesResponse>, Status> {
        people::batch_get_profiles(self, request).await
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        people::update_profile(self, request).await
    }

    async fn list_profiles(
        &self,
        request: Request<pb::ListProfilesRequest>,
    ) -> Result<Response<pb::ListProfilesResponse>, Status> {
        people::list_profiles(self, request).await
    }

    async fn resolve_principal(
        &self,
        request: Request<pb::ResolvePrincipalRequest>,
    ) -> Result<Response<pb::ResolvePrincipalResponse>, Status> {
        people::resolve_principal(self, request).await
    }

    async fn list_account_contacts(
        &self,
        request: Request<pb::ListAccountContactsRequest>,
    ) -> Result<Response<pb::ListAccountContactsResponse>, Status> {
        people::list_account_contacts(self, request).await
    }

    async fn create_department(
        &self,
        request: Request<pb::CreateDepartmentRequest>,
    ) -> Result<Response<pb::CreateDepartmentResponse>, Status> {
        directory::create_department(self, request).await
    }

    async fn get_department(
        &self,
        request: Request<pb::GetDepartmentRequest>,
    ) -> Result<Response<pb::GetDepartmentResponse>, Status> {
        directory::get_department(self, request).await
    }

    async fn update_department(
        &self,
        request: Request<pb::UpdateDepartmentRequest>,
    ) -> Result<Response<pb::UpdateDepartmentResponse>, Status> {
        directory::update_department(self, request).await
    }

    async fn list_departments(
        &self,
        request: Request<pb::ListDepartmentsRequest>,
    ) -> Result<Response<pb::ListDepartmentsResponse>, Status> {
        directory::list_departments(self, request).await
    }

    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        accounts::create_account(self, request).await
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        accounts::get_account(self, request).await
    }

    async fn update_account(
        &self,
        request: Request<pb::UpdateAccountRequest>,
    ) -> Result<Response<pb::UpdateAccountResponse>, Status> {
        accounts::update_account(self, request).await
    }

    async fn list_accounts(
        &self,
        request: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        accounts::list_accounts(self, request).await
    }

    async fn set_account_parent(
        &self,
        request: Request<pb::SetAccountParentRequest>,
    ) -> Result<Response<pb::SetAccountParentResponse>, Status> {
        accounts::set_account_parent(self, request).await
    }

    async fn list_account_ancestors(
        &self,
        request: Request<pb::ListAccountAncestorsRequest>,
    ) -> Result<Response<pb::ListAccountAncestorsResponse>, Status> {
        accounts::list_account_ancestors(self, request).await
    }

    async fn list_account_descendants(
        &self,
        request: Request<pb::ListAccountDescendantsRequest>,
    ) -> Result<Response<pb::ListAccountDescendantsResponse>, Status> {
        accounts::list_account_descendants(self, request).await
    }

    async fn batch_get_accounts(
        &self,
        request: Request<pb::BatchGetAccountsRequest>,
    ) -> Result<Response<pb::BatchGetAccountsResponse>, Status> {
        accounts::batch_get_accounts(self, request).await
    }

    async fn create_consumer(
        &self,
        request: Request<pb::CreateConsumerRequest>,
    ) -> Result<Response<pb::CreateConsumerResponse>, Status> {
        consumers::create_consumer(self, request).await
    }

    async fn get_consumer(
        &self,
        request: Request<pb::GetConsumerRequest>,
    ) -> Result<Response<pb::GetConsumerResponse>, Status> {
        consumers::get_consumer(self, request).await
    }

    async fn update_consumer(
        &self,
        request: Request<pb::UpdateConsumerRequest>,
    ) -> Result<Response<pb::UpdateConsumerResponse>, Status> {
        consumers::update_consumer(self, request).await
    }

    async fn list_consumers(
        &self,
        request: Request<pb::ListConsumersRequest>,
    ) -> Result<Response<pb::ListConsumersResponse>, Status> {
        consumers::list_consumers(self, request).await
    }

    async fn set_consumer_user(
        &self,
        request: Request<pb::SetConsumerUserRequest>,
    ) -> Result<Response<pb::SetConsumerUserResponse>, Status> {
        consumers::set_consumer_user(self, request).await
    }

    async fn create_consumer_profile(
        &self,
        request: Request<pb::CreateConsumerProfileRequest>,
    ) -> Result<Response<pb::CreateConsumerProfileResponse>, Status> {
        consumers::create_consumer_profile(self, request).await
    }

    async fn update_consumer_profile(
        &self,
        request: Request<pb::UpdateConsumerProfileRequest>,
    ) -> Result<Response<pb::UpdateConsumerProfileResponse>, Status> {
        consumers::update_consumer_profile(self, request).await
    }

    async fn list_consumer_profiles(
        &self,
        request: Request<pb::ListConsumerProfilesRequest>,
    ) -> Result<Response<pb::ListConsumerProfilesResponse>, Status> {
        consumers::list_consumer_profiles(self, request).await
    }

    async fn create_household(
        &self,
        request: Request<pb::CreateHouseholdRequest>,
    ) -> Result<Response<pb::CreateHouseholdResponse>, Status> {
        consumers::create_household(self, request).await
    }

    async fn get_household(
        &self,
        request: Request<pb::GetHouseholdRequest>,
    ) -> Result<Response<pb::GetHouseholdResponse>, Status> {
        consumers::get_household(self, request).await
    }

    async fn update_household(
        &self,
        request: Request<pb::UpdateHouseholdRequest>,
    ) -> Result<Response<pb::UpdateHouseholdResponse>, Status> {
        consumers::update_household(self, request).await
    }

    async fn list_households(
        &self,
        request: Request<pb::ListHouseholdsRequest>,
    ) -> Result<Response<pb::ListHouseholdsResponse>, Status> {
        consumers::list_households(self, request).await
    }

    async fn set_household_membership(
        &self,
        request: Request<pb::SetHouseholdMembershipRequest>,
    ) -> Result<Response<pb::SetHouseholdMembershipResponse>, Status> {
        consumers::set_household_membership(self, request).await
    }

    async fn list_household_members(
        &self,
        request: Request<pb::ListHouseholdMembersRequest>,
    ) -> Result<Response<pb::ListHouseholdMembersResponse>, Status> {
        consumers::list_household_members(self, request).await
    }

    async fn create_security_group(
        &self,
        request: Request<pb::CreateSecurityGroupRequest>,
    ) -> Result<Response<pb::CreateSecurityGroupResponse>, Status> {
        directory::create_security_group(self, request).await
    }

    async fn get_security_group(
        &self,
        request: Request<pb::GetSecurityGroupRequest>,
    ) -> Result<Response<pb::GetSecurityGroupResponse>, Status> {
        directory::get_security_group(self, request).await
    }

    async fn update_security_group(
        &self,
        request: Request<pb::UpdateSecurityGroupRequest>,
    ) -> Result<Response<pb::UpdateSecurityGroupResponse>, Status> {
        directory::update_security_group(self, request).await
    }

    async fn list_security_groups(
        &self,
        request: Request<pb::ListSecurityGroupsRequest>,
    ) -> Result<Response<pb::ListSecurityGroupsResponse>, Status> {
        directory::list_security_groups(self, request).await
    }

    async fn assign_security_group(
        &self,
        request: Request<pb::AssignSecurityGroupRequest>,
    ) -> Result<Response<pb::AssignSecurityGroupResponse>, Status> {
        directory::assign_security_group(self, request).await
    }

    async fn get_settings(
        &self,
        request: Request<pb::GetSettingsRequest>,
    ) -> Result<Response<pb::GetSettingsResponse>, Status> {
        directory::get_settings(self, request).await
    }

    async fn update_settings(
        &self,
        request: Request<pb::UpdateSettingsRequest>,
    ) -> Result<Response<pb::UpdateSettingsResponse>, Status> {
        directory::update_settings(self, request).await
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let request = request.into_inner();
        let changes =
            csm_server::watch_feed(app.feed(), request.from_revision, request.entity_types, self.app.closing());
        let stream = changes.map(|change| change.map(|change| pb::WatchResponse { change: Some(change) }));
        Ok(Response::new(Box::pin(stream)))
    }
}
