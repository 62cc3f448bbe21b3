//! account-team's gRPC adapter: converts proto ⇄ domain and calls the app,
//! nothing else. The handlers live in one module per area; this file only routes.

mod access;
mod contacts;
mod definitions;
mod principal;
mod relationships;
mod settings;
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

    async fn get_principal_relationships(
        &self,
        request: Request<pb::GetPrincipalRelationshipsRequest>,
    ) -> Result<Response<pb::GetPrincipalRelationshipsResponse>, Status> {
        principal::get_principal_relationships(self, request).await
    }

    async fn get_account_team_settings(
        &self,
        request: Request<pb::GetAccountTeamSettingsRequest>,
    ) -> Result<Response<pb::GetAccountTeamSettingsResponse>, Status> {
        settings::get_account_team_settings(self, request).await
    }

    async fn update_account_team_settings(
        &self,
        request: Request<pb::UpdateAccountTeamSettingsRequest>,
    ) -> Result<Response<pb::UpdateAccountTeamSettingsResponse>, Status> {
        settings::update_account_team_settings(self, request).await
    }

    async fn create_contact_relationship(
        &self,
        request: Request<pb::CreateContactRelationshipRequest>,
    ) -> Result<Response<pb::CreateContactRelationshipResponse>, Status> {
        contacts::create_contact_relationship(self, request).await
    }

    async fn get_contact_relationship(
        &self,
        request: Request<pb::GetContactRelationshipRequest>,
    ) -> Result<Response<pb::GetContactRelationshipResponse>, Status> {
        contacts::get_contact_relationship(self, request).await
    }

    async fn update_contact_relationship(
        &self,
        request: Request<pb::UpdateContactRelationshipRequest>,
    ) -> Result<Response<pb::UpdateContactRelationshipResponse>, Status> {
        contacts::update_contact_relationship(self, request).await
    }

    async fn delete_contact_relationship(
        &self,
        request: Request<pb::DeleteContactRelationshipRequest>,
    ) -> Result<Response<pb::DeleteContactRelationshipResponse>, Status> {
        contacts::delete_contact_relationship(self, request).await
    }

    async fn list_contact_relationships(
        &self,
        request: Request<pb::ListContactRelationshipsRequest>,
    ) -> Result<Response<pb::ListContactRelationshipsResponse>, Status> {
        contacts::list_contact_relationships(self, request).await
    }

    async fn list_eligible_contacts(
        &self,
        request: Request<pb::ListEligibleContactsRequest>,
    ) -> Result<Response<pb::ListEligibleContactsResponse>, Status> {
        contacts::list_eligible_contacts(self, request).await
    }

    async fn create_consumer_relationship(
        &self,
        request: Request<pb::CreateConsumerRelationshipRequest>,
    ) -> Result<Response<pb::CreateConsumerRelationshipResponse>, Status> {
        contacts::create_consumer_relationship(self, request).await
    }

    async fn get_consumer_relationship(
        &self,
        request: Request<pb::GetConsumerRelationshipRequest>,
    ) -> Result<Response<pb::GetConsumerRelationshipResponse>, Status> {
        contacts::get_consumer_relationship(self, request).await
    }

    async fn update_consumer_relationship(
        &self,
        request: Request<pb::UpdateConsumerRelationshipRequest>,
    ) -> Result<Response<pb::UpdateConsumerRelationshipResponse>, Status> {
        contacts::update_consumer_relationship(self, request).await
    }

    async fn delete_consumer_relationship(
        &self,
        request: Request<pb::DeleteConsumerRelationshipRequest>,
    ) -> Result<Response<pb::DeleteConsumerRelationshipResponse>, Status> {
        contacts::delete_consumer_relationship(self, request).await
    }

    async fn list_consumer_relationships(
        &self,
        request: Request<pb::ListConsumerRelationshipsRequest>,
    ) -> Result<Response<pb::ListConsumerRelationshipsResponse>, Status> {
        contacts::list_consumer_relationships(self, request).await
    }

    async fn create_responsibility_access_configuration(
        &self,
        request: Request<pb::CreateResponsibilityAccessConfigurationRequest>,
    ) -> Result<Response<pb::CreateResponsibilityAccessConfigurationResponse>, Status> {
        access::create_responsibility_access_configuration(self, request).await
    }

    async fn get_responsibility_access_configuration(
        &self,
        request: Request<pb::GetResponsibilityAccessConfigurationRequest>,
    ) -> Result<Response<pb::GetResponsibilityAccessConfigurationResponse>, Status> {
        access::get_responsibility_access_configuration(self, request).await
    }

    async fn update_responsibility_access_configuration(
        &self,
        request: Request<pb::UpdateResponsibilityAccessConfigurationRequest>,
    ) -> Result<Response<pb::UpdateResponsibilityAccessConfigurationResponse>, Status> {
        access::update_responsibility_access_configuration(self, request).await
    }

    async fn delete_responsibility_access_configuration(
        &self,
        request: Request<pb::DeleteResponsibilityAccessConfigurationRequest>,
    ) -> Result<Response<pb::DeleteResponsibilityAccessConfigurationResponse>, Status> {
        access::delete_responsibility_access_configuration(self, request).await
    }

    async fn list_responsibility_access_configurations(
        &self,
        request: Request<pb::ListResponsibilityAccessConfigurationsRequest>,
    ) -> Result<Response<pb::ListResponsibilityAccessConfigurationsResponse>, Status> {
        access::list_responsibility_access_configurations(self, request).await
    }

    async fn create_related_party_configuration(
        &self,
        request: Request<pb::CreateRelatedPartyConfigurationRequest>,
    ) -> Result<Response<pb::CreateRelatedPartyConfigurationResponse>, Status> {
        access::create_related_party_configuration(self, request).await
    }

    async fn get_related_party_configuration(
        &self,
        request: Request<pb::GetRelatedPartyConfigurationRequest>,
    ) -> Result<Response<pb::GetRelatedPartyConfigurationResponse>, Status> {
        access::get_related_party_configuration(self, request).await
    }

    async fn update_related_party_configuration(
        &self,
        request: Request<pb::UpdateRelatedPartyConfigurationRequest>,
    ) -> Result<Response<pb::UpdateRelatedPartyConfigurationResponse>, Status> {
        access::update_related_party_configuration(self, request).await
    }

    async fn delete_related_party_configuration(
        &self,
        request: Request<pb::DeleteRelatedPartyConfigurationRequest>,
    ) -> Result<Response<pb::DeleteRelatedPartyConfigurationResponse>, Status> {
        access::delete_related_party_configuration(self, request).await
    }

    async fn list_related_party_configurations(
        &self,
        request: Request<pb::ListRelatedPartyConfigurationsRequest>,
    ) -> Result<Response<pb::ListRelatedPartyConfigurationsResponse>, Status> {
        access::list_related_party_configurations(self, request).await
    }

    async fn create_account_access(
        &self,
        request: Request<pb::CreateAccountAccessRequest>,
    ) -> Result<Response<pb::CreateAccountAccessResponse>, Status> {
        access::create_account_access(self, request).await
    }

    async fn get_account_access(
        &self,
        request: Request<pb::GetAccountAccessRequest>,
    ) -> Result<Response<pb::GetAccountAccessResponse>, Status> {
        access::get_account_access(self, request).await
    }

    async fn update_account_access(
        &self,
        request: Request<pb::UpdateAccountAccessRequest>,
    ) -> Result<Response<pb::UpdateAccountAccessResponse>, Status> {
        access::update_account_access(self, request).await
    }

    async fn delete_account_access(
        &self,
        request: Request<pb::DeleteAccountAccessRequest>,
    ) -> Result<Response<pb::DeleteAccountAccessResponse>, Status> {
        access::delete_account_access(self, request).await
    }

    async fn list_account_accesses(
        &self,
        request: Request<pb::ListAccountAccessesRequest>,
    ) -> Result<Response<pb::ListAccountAccessesResponse>, Status> {
        access::list_account_accesses(self, request).await
    }

    async fn list_eligible_partner_contacts(
        &self,
        request: Request<pb::ListEligiblePartnerContactsRequest>,
    ) -> Result<Response<pb::ListEligiblePartnerContactsResponse>, Status> {
        access::list_eligible_partner_contacts(self, request).await
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let changes =
            csm_server::watch_feed(&app.feed, request.into_inner().from_revision, Vec::new(), self.app.closing());
        let stream = changes.map(|change| change.map(|change| pb::WatchResponse { change: Some(change) }));
        Ok(Response::new(Box::pin(stream)))
    }
}
