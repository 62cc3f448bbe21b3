//! account-team's gRPC adapter: converts proto ⇄ domain and calls the app,
//! nothing else. The handlers live in one module per area; this file only routes.

mod definitions;
mod relationships;
mod teams;

use std::sync::Arc;

use csm_proto::account_team as pb;
use csm_proto::account_team::account_team_service_server::AccountTeamService;
use csm_server::Readiness;
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::AccountTeamApp;

pub struct AccountTeamGrpc {
    pub(crate) app: Arc<Readiness<AccountTeamApp>>,
}

impl AccountTeamGrpc {
    pub fn new(app: Arc<Readiness<AccountTeamApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl AccountTeamService for AccountTeamGrpc {
    async fn create_responsibility_definition(
        &self,
        request: Request<pb::CreateResponsibilityDefinitionRequest>,
    ) -> Result<Response<pb::CreateResponsibilityDefinitionResponse>, Status> {
        definitions::create_responsibility_definition(self, request).await
    }

    async fn get_responsibility_definition(
        &self,
        request: Request<pb::GetResponsibilityDefinitionRequest>,
    ) -> Result<Response<pb::GetResponsibilityDefinitionResponse>, Status> {
        definitions::get_responsibility_definition(self, request).await
    }

    async fn update_responsibility_definition(
        &self,
        request: Request<pb::UpdateResponsibilityDefinitionRequest>,
    ) -> Result<Response<pb::UpdateResponsibilityDefinitionResponse>, Status> {
        definitions::update_responsibility_definition(self, request).await
    }

    async fn delete_responsibility_definition(
        &self,
        request: Request<pb::DeleteResponsibilityDefinitionRequest>,
    ) -> Result<Response<pb::DeleteResponsibilityDefinitionResponse>, Status> {
        definitions::delete_responsibility_definition(self, request).await
    }

    async fn list_responsibility_definitions(
        &self,
        request: Request<pb::ListResponsibilityDefinitionsRequest>,
    ) -> Result<Response<pb::ListResponsibilityDefinitionsResponse>, Status> {
        definitions::list_responsibility_definitions(self, request).await
    }

    async fn create_account_relationship_type(
        &self,
        request: Request<pb::CreateAccountRelationshipTypeRequest>,
    ) -> Result<Response<pb::CreateAccountRelationshipTypeResponse>, Status> {
        definitions::create_account_relationship_type(self, request).await
    }

    async fn get_account_relationship_type(
        &self,
        request: Request<pb::GetAccountRelationshipTypeRequest>,
    ) -> Result<Response<pb::GetAccountRelationshipTypeResponse>, Status> {
        definitions::get_account_relationship_type(self, request).await
    }

    async fn update_account_relationship_type(
        &self,
        request: Request<pb::UpdateAccountRelationshipTypeRequest>,
    ) -> Result<Response<pb::UpdateAccountRelationshipTypeResponse>, Status> {
        definitions::update_account_relationship_type(self, request).await
    }

    async fn delete_account_relationship_type(
        &self,
        request: Request<pb::DeleteAccountRelationshipTypeRequest>,
    ) -> Result<Response<pb::DeleteAccountRelationshipTypeResponse>, Status> {
        definitions::delete_account_relationship_type(self, request).await
    }

    async fn list_account_relationship_types(
        &self,
        request: Request<pb::ListAccountRelationshipTypesRequest>,
    ) -> Result<Response<pb::ListAccountRelationshipTypesResponse>, Status> {
        definitions::list_account_relationship_types(self, request).await
    }

    async fn create_account_relationship(
        &self,
        request: Request<pb::CreateAccountRelationshipRequest>,
    ) -> Result<Response<pb::CreateAccountRelationshipResponse>, Status> {
        relationships::create_account_relationship(self, request).await
    }

    async fn get_account_relationship(
        &self,
        request: Request<pb::GetAccountRelationshipRequest>,
    ) -> Result<Response<pb::GetAccountRelationshipResponse>, Status> {
        relationships::get_account_relationship(self, request).await
    }

    async fn update_account_relationship(
        &self,
        request: Request<pb::UpdateAccountRelationshipRequest>,
    ) -> Result<Response<pb::UpdateAccountRelationshipResponse>, Status> {
        relationships::update_account_relationship(self, request).await
    }

    async fn delete_account_relationship(
        &self,
        request: Request<pb::DeleteAccountRelationshipRequest>,
    ) -> Result<Response<pb::DeleteAccountRelationshipResponse>, Status> {
        relationships::delete_account_relationship(self, request).await
    }

    async fn list_account_relationships(
        &self,
        request: Request<pb::ListAccountRelationshipsRequest>,
    ) -> Result<Response<pb::ListAccountRelationshipsResponse>, Status> {
        relationships::list_account_relationships(self, request).await
    }

    async fn list_partner_customers(
        &self,
        request: Request<pb::ListPartnerCustomersRequest>,
    ) -> Result<Response<pb::ListPartnerCustomersResponse>, Status> {
        relationships::list_partner_customers(self, request).await
    }

    async fn create_team_member(
        &self,
        request: Request<pb::CreateTeamMemberRequest>,
    ) -> Result<Response<pb::CreateTeamMemberResponse>, Status> {
        teams::create_team_member(self, request).await
    }

    async fn get_team_member(
        &self,
        request: Request<pb::GetTeamMemberRequest>,
    ) -> Result<Response<pb::GetTeamMemberResponse>, Status> {
        teams::get_team_member(self, request).await
    }

    async fn update_team_member(
        &self,
        request: Request<pb::UpdateTeamMemberRequest>,
    ) -> Result<Response<pb::UpdateTeamMemberResponse>, Status> {
        teams::update_team_member(self, request).await
    }

    async fn delete_team_member(
        &self,
        request: Request<pb::DeleteTeamMemberRequest>,
    ) -> Result<Response<pb::DeleteTeamMemberResponse>, Status> {
        teams::delete_team_member(self, request).await
    }

    async fn list_team_members(
        &self,
        request: Request<pb::ListTeamMembersRequest>,
    ) -> Result<Response<pb::ListTeamMembersResponse>, Status> {
        teams::list_team_members(self, request).await
    }

    async fn list_team_memberships_of_user(
        &self,
        request: Request<pb::ListTeamMembershipsOfUserRequest>,
    ) -> Result<Response<pb::ListTeamMembershipsOfUserResponse>, Status> {
        teams::list_team_memberships_of_user(self, request).await
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let service = app.feed.service();
        let stream = app.feed.watch(request.into_inner().from_revision).map(move |change| {
            change.map(|change| pb::WatchResponse { change: Some(change.to_proto(service)) }).map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
