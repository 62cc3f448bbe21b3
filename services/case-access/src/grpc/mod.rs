//! gRPC adapter of case-access: converts proto ⇄ domain and calls the app.
//! The service trait lives here and only delegates, one module per area:
//! [`cases`] (create, get, list), [`decisions`] (check, batch check, explain),
//! [`review`] (access review),
//! [`work`] (updates, comments, attachments, tasks, email intake), [`parties`]
//! (related parties, sold products, install base) and [`admin`] (settings,
//! Cherwell security-group rights). Shared conversions are in [`convert`].

mod admin;
mod cases;
pub mod convert;
mod decisions;
mod parties;
mod review;
mod work;

use std::sync::Arc;

use csm_proto::case_access as pb;
use csm_proto::case_access::case_access_service_server::CaseAccessService;
use csm_server::Readiness;
use tonic::{Request, Response, Status};

use crate::CaseAccessApp;

pub use convert::{action_from_proto, action_to_proto};

pub struct CaseAccessGrpc {
    app: Arc<Readiness<CaseAccessApp>>,
}

impl CaseAccessGrpc {
    pub fn new(app: Arc<Readiness<CaseAccessApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl CaseAccessService for CaseAccessGrpc {
    async fn create_case(
        &self,
        request: Request<pb::CreateCaseRequest>,
    ) -> Result<Response<pb::CreateCaseResponse>, Status> {
        cases::create_case(self.app.get()?, request).await
    }

    async fn create_case_from_email(
        &self,
        request: Request<pb::CreateCaseFromEmailRequest>,
    ) -> Result<Response<pb::CreateCaseFromEmailResponse>, Status> {
        work::create_case_from_email(self.app.get()?, request).await
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::GetCaseResponse>, Status> {
        cases::get_case(self.app.get()?, request).await
    }

    async fn update_case(
        &self,
        request: Request<pb::UpdateCaseRequest>,
    ) -> Result<Response<pb::UpdateCaseResponse>, Status> {
        work::update_case(self.app.get()?, request).await
    }

    async fn delete_case(
        &self,
        request: Request<pb::DeleteCaseRequest>,
    ) -> Result<Response<pb::DeleteCaseResponse>, Status> {
        work::delete_case(self.app.get()?, request).await
    }

    async fn list_visible_cases(
        &self,
        request: Request<pb::ListVisibleCasesRequest>,
    ) -> Result<Response<pb::ListVisibleCasesResponse>, Status> {
        cases::list_visible_cases(self.app.get()?, request).await
    }

    async fn list_my_consumer_cases(
        &self,
        request: Request<pb::ListMyConsumerCasesRequest>,
    ) -> Result<Response<pb::ListMyConsumerCasesResponse>, Status> {
        work::list_my_consumer_cases(self.app.get()?, request).await
    }

    async fn add_comment(
        &self,
        request: Request<pb::AddCommentRequest>,
    ) -> Result<Response<pb::AddCommentResponse>, Status> {
        work::add_comment(self.app.get()?, request).await
    }

    async fn list_comments(
        &self,
        request: Request<pb::ListCommentsRequest>,
    ) -> Result<Response<pb::ListCommentsResponse>, Status> {
        work::list_comments(self.app.get()?, request).await
    }

    async fn add_attachment(
        &self,
        request: Request<pb::AddAttachmentRequest>,
    ) -> Result<Response<pb::AddAttachmentResponse>, Status> {
        work::add_attachment(self.app.get()?, request).await
    }

    async fn list_attachments(
        &self,
        request: Request<pb::ListAttachmentsRequest>,
    ) -> Result<Response<pb::ListAttachmentsResponse>, Status> {
        work::list_attachments(self.app.get()?, request).await
    }

    async fn create_case_task(
        &self,
        request: Request<pb::CreateCaseTaskRequest>,
    ) -> Result<Response<pb::CreateCaseTaskResponse>, Status> {
        work::create_case_task(self.app.get()?, request).await
    }

    async fn get_case_task(
        &self,
        request: Request<pb::GetCaseTaskRequest>,
    ) -> Result<Response<pb::GetCaseTaskResponse>, Status> {
        work::get_case_task(self.app.get()?, request).await
    }

    async fn update_case_task(
        &self,
        request: Request<pb::UpdateCaseTaskRequest>,
    ) -> Result<Response<pb::UpdateCaseTaskResponse>, Status> {
        work::update_case_task(self.app.get()?, request).await
    }

    async fn delete_case_task(
        &self,
        request: Request<pb::DeleteCaseTaskRequest>,
    ) -> Result<Response<pb::DeleteCaseTaskResponse>, Status> {
        work::delete_case_task(self.app.get()?, request).await
    }

    async fn list_case_tasks(
        &self,
        request: Request<pb::ListCaseTasksRequest>,
    ) -> Result<Response<pb::ListCaseTasksResponse>, Status> {
        work::list_case_tasks(self.app.get()?, request).await
    }

    async fn add_related_party(
        &self,
        request: Request<pb::AddRelatedPartyRequest>,
    ) -> Result<Response<pb::AddRelatedPartyResponse>, Status> {
        parties::add_related_party(self.app.get()?, request).await
    }

    async fn update_related_party(
        &self,
        request: Request<pb::UpdateRelatedPartyRequest>,
    ) -> Result<Response<pb::UpdateRelatedPartyResponse>, Status> {
        parties::update_related_party(self.app.get()?, request).await
    }

    async fn remove_related_party(
        &self,
        request: Request<pb::RemoveRelatedPartyRequest>,
    ) -> Result<Response<pb::RemoveRelatedPartyResponse>, Status> {
        parties::remove_related_party(self.app.get()?, request).await
    }

    async fn list_related_parties(
        &self,
        request: Request<pb::ListRelatedPartiesRequest>,
    ) -> Result<Response<pb::ListRelatedPartiesResponse>, Status> {
        parties::list_related_parties(self.app.get()?, request).await
    }

    async fn create_sold_product(
        &self,
        request: Request<pb::CreateSoldProductRequest>,
    ) -> Result<Response<pb::CreateSoldProductResponse>, Status> {
        parties::create_sold_product(self.app.get()?, request).await
    }

    async fn get_sold_product(
        &self,
        request: Request<pb::GetSoldProductRequest>,
    ) -> Result<Response<pb::GetSoldProductResponse>, Status> {
        parties::get_sold_product(self.app.get()?, request).await
    }

    async fn update_sold_product(
        &self,
        request: Request<pb::UpdateSoldProductRequest>,
    ) -> Result<Response<pb::UpdateSoldProductResponse>, Status> {
        parties::update_sold_product(self.app.get()?, request).await
    }

    async fn delete_sold_product(
        &self,
        request: Request<pb::DeleteSoldProductRequest>,
    ) -> Result<Response<pb::DeleteSoldProductResponse>, Status> {
        parties::delete_sold_product(self.app.get()?, request).await
    }

    async fn list_sold_products(
        &self,
        request: Request<pb::ListSoldProductsRequest>,
    ) -> Result<Response<pb::ListSoldProductsResponse>, Status> {
        parties::list_sold_products(self.app.get()?, request).await
    }

    async fn create_install_base_item(
        &self,
        request: Request<pb::CreateInstallBaseItemRequest>,
    ) -> Result<Response<pb::CreateInstallBaseItemResponse>, Status> {
        parties::create_install_base_item(self.app.get()?, request).await
    }

    async fn get_install_base_item(
        &self,
        request: Request<pb::GetInstallBaseItemRequest>,
    ) -> Result<Response<pb::GetInstallBaseItemResponse>, Status> {
        parties::get_install_base_item(self.app.get()?, request).await
    }

    async fn update_install_base_item(
        &self,
        request: Request<pb::UpdateInstallBaseItemRequest>,
    ) -> Result<Response<pb::UpdateInstallBaseItemResponse>, Status> {
        parties::update_install_base_item(self.app.get()?, request).await
    }

    async fn delete_install_base_item(
        &self,
        request: Request<pb::DeleteInstallBaseItemRequest>,
    ) -> Result<Response<pb::DeleteInstallBaseItemResponse>, Status> {
        parties::delete_install_base_item(self.app.get()?, request).await
    }

    async fn list_install_base_items(
        &self,
        request: Request<pb::ListInstallBaseItemsRequest>,
    ) -> Result<Response<pb::ListInstallBaseItemsResponse>, Status> {
        parties::list_install_base_items(self.app.get()?, request).await
    }

    async fn check(&self, request: Request<pb::CheckRequest>) -> Result<Response<pb::CheckResponse>, Status> {
        decisions::check(self.app.get()?, request).await
    }

    async fn batch_check(
        &self,
        request: Request<pb::BatchCheckRequest>,
    ) -> Result<Response<pb::BatchCheckResponse>, Status> {
        decisions::batch_check(self.app.get()?, request).await
    }

    async fn explain(&self, request: Request<pb::ExplainRequest>) -> Result<Response<pb::ExplainResponse>, Status> {
        decisions::explain(self.app.get()?, request).await
    }

    async fn preview_access_change(
        &self,
        request: Request<pb::PreviewAccessChangeRequest>,
    ) -> Result<Response<pb::PreviewAccessChangeResponse>, Status> {
        review::preview_access_change(self.app.get()?, request).await
    }

    async fn export_access_review(
        &self,
        request: Request<pb::ExportAccessReviewRequest>,
    ) -> Result<Response<review::ExportStream>, Status> {
        review::export_access_review(self.app.get()?, request).await
    }

    async fn list_case_accessors(
        &self,
        request: Request<pb::ListCaseAccessorsRequest>,
    ) -> Result<Response<pb::ListCaseAccessorsResponse>, Status> {
        review::list_case_accessors(self.app.get()?, request).await
    }

    async fn get_settings(
        &self,
        request: Request<pb::GetSettingsRequest>,
    ) -> Result<Response<pb::GetSettingsResponse>, Status> {
        admin::get_settings(self.app.get()?, request).await
    }

    async fn update_settings(
        &self,
        request: Request<pb::UpdateSettingsRequest>,
    ) -> Result<Response<pb::UpdateSettingsResponse>, Status> {
        admin::update_settings(self.app.get()?, request).await
    }

    async fn set_security_group_rights(
        &self,
        request: Request<pb::SetSecurityGroupRightsRequest>,
    ) -> Result<Response<pb::SetSecurityGroupRightsResponse>, Status> {
        admin::set_security_group_rights(self.app.get()?, request).await
    }

    async fn get_security_group_rights(
        &self,
        request: Request<pb::GetSecurityGroupRightsRequest>,
    ) -> Result<Response<pb::GetSecurityGroupRightsResponse>, Status> {
        admin::get_security_group_rights(self.app.get()?, request).await
    }

    async fn list_security_group_rights(
        &self,
        request: Request<pb::ListSecurityGroupRightsRequest>,
    ) -> Result<Response<pb::ListSecurityGroupRightsResponse>, Status> {
        admin::list_security_group_rights(self.app.get()?, request).await
    }

    async fn delete_security_group_rights(
        &self,
        request: Request<pb::DeleteSecurityGroupRightsRequest>,
    ) -> Result<Response<pb::DeleteSecurityGroupRightsResponse>, Status> {
        admin::delete_security_group_rights(self.app.get()?, request).await
    }
}
