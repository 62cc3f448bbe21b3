//! role's gRPC adapter: converts proto ⇄ domain and calls the app, nothing
//! else. The handlers live in one module per area; this file only routes.

mod anomalies;
mod assignments;
mod catalog;
mod catalog_admin;
mod groups;
mod profiles;
mod settings;
mod validation;

use std::sync::Arc;

use csm_proto::role as pb;
use csm_proto::role::role_service_server::RoleService;
use csm_server::Readiness;
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::app::RoleApp;

pub struct RoleGrpc {
    app: Arc<Readiness<RoleApp>>,
}

impl RoleGrpc {
    pub fn new(app: Arc<Readiness<RoleApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl RoleService for RoleGrpc {
    async fn preview_effective_roles(
        &self,
        request: Request<pb::PreviewEffectiveRolesRequest>,
    ) -> Result<Response<pb::PreviewEffectiveRolesResponse>, Status> {
        profiles::preview_effective_roles(self, request).await
    }

    async fn get_effective_roles(
        &self,
        request: Request<pb::GetEffectiveRolesRequest>,
    ) -> Result<Response<pb::GetEffectiveRolesResponse>, Status> {
        profiles::get_effective_roles(self, request).await
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        catalog::list_roles(self, request).await
    }

    async fn get_role(&self, request: Request<pb::GetRoleRequest>) -> Result<Response<pb::GetRoleResponse>, Status> {
        catalog::get_role(self, request).await
    }

    async fn define_role(
        &self,
        request: Request<pb::DefineRoleRequest>,
    ) -> Result<Response<pb::DefineRoleResponse>, Status> {
        catalog_admin::define_role(self, request).await
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::UpdateRoleResponse>, Status> {
        catalog_admin::update_role(self, request).await
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        catalog_admin::delete_role(self, request).await
    }

    async fn add_role_containment(
        &self,
        request: Request<pb::AddRoleContainmentRequest>,
    ) -> Result<Response<pb::AddRoleContainmentResponse>, Status> {
        catalog_admin::add_role_containment(self, request).await
    }

    async fn remove_role_containment(
        &self,
        request: Request<pb::RemoveRoleContainmentRequest>,
    ) -> Result<Response<pb::RemoveRoleContainmentResponse>, Status> {
        catalog_admin::remove_role_containment(self, request).await
    }

    async fn add_role_alias(
        &self,
        request: Request<pb::AddRoleAliasRequest>,
    ) -> Result<Response<pb::AddRoleAliasResponse>, Status> {
        catalog_admin::add_role_alias(self, request).await
    }

    async fn remove_role_alias(
        &self,
        request: Request<pb::RemoveRoleAliasRequest>,
    ) -> Result<Response<pb::RemoveRoleAliasResponse>, Status> {
        catalog_admin::remove_role_alias(self, request).await
    }

    async fn get_role_settings(
        &self,
        request: Request<pb::GetRoleSettingsRequest>,
    ) -> Result<Response<pb::GetRoleSettingsResponse>, Status> {
        settings::get_role_settings(self, request).await
    }

    async fn update_role_settings(
        &self,
        request: Request<pb::UpdateRoleSettingsRequest>,
    ) -> Result<Response<pb::UpdateRoleSettingsResponse>, Status> {
        settings::update_role_settings(self, request).await
    }

    async fn assign_role(
        &self,
        request: Request<pb::AssignRoleRequest>,
    ) -> Result<Response<pb::AssignRoleResponse>, Status> {
        assignments::assign_role(self, request).await
    }

    async fn revoke_role(
        &self,
        request: Request<pb::RevokeRoleRequest>,
    ) -> Result<Response<pb::RevokeRoleResponse>, Status> {
        assignments::revoke_role(self, request).await
    }

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::CreateGroupResponse>, Status> {
        groups::create_group(self, request).await
    }

    async fn get_group(&self, request: Request<pb::GetGroupRequest>) -> Result<Response<pb::GetGroupResponse>, Status> {
        groups::get_group(self, request).await
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        groups::list_groups(self, request).await
    }

    async fn update_group(
        &self,
        request: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::UpdateGroupResponse>, Status> {
        groups::update_group(self, request).await
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        groups::delete_group(self, request).await
    }

    async fn set_group_parent(
        &self,
        request: Request<pb::SetGroupParentRequest>,
    ) -> Result<Response<pb::SetGroupParentResponse>, Status> {
        groups::set_group_parent(self, request).await
    }

    async fn add_group_member(
        &self,
        request: Request<pb::AddGroupMemberRequest>,
    ) -> Result<Response<pb::AddGroupMemberResponse>, Status> {
        groups::add_group_member(self, request).await
    }

    async fn remove_group_member(
        &self,
        request: Request<pb::RemoveGroupMemberRequest>,
    ) -> Result<Response<pb::RemoveGroupMemberResponse>, Status> {
        groups::remove_group_member(self, request).await
    }

    async fn set_group_member_manager(
        &self,
        request: Request<pb::SetGroupMemberManagerRequest>,
    ) -> Result<Response<pb::SetGroupMemberManagerResponse>, Status> {
        groups::set_group_member_manager(self, request).await
    }

    async fn list_group_members(
        &self,
        request: Request<pb::ListGroupMembersRequest>,
    ) -> Result<Response<pb::ListGroupMembersResponse>, Status> {
        groups::list_group_members(self, request).await
    }

    async fn add_group_role(
        &self,
        request: Request<pb::AddGroupRoleRequest>,
    ) -> Result<Response<pb::AddGroupRoleResponse>, Status> {
        groups::add_group_role(self, request).await
    }

    async fn remove_group_role(
        &self,
        request: Request<pb::RemoveGroupRoleRequest>,
    ) -> Result<Response<pb::RemoveGroupRoleResponse>, Status> {
        groups::remove_group_role(self, request).await
    }

    async fn list_profile_groups(
        &self,
        request: Request<pb::ListProfileGroupsRequest>,
    ) -> Result<Response<pb::ListProfileGroupsResponse>, Status> {
        groups::list_profile_groups(self, request).await
    }

    async fn replace_profile_roles(
        &self,
        request: Request<pb::ReplaceProfileRolesRequest>,
    ) -> Result<Response<pb::ReplaceProfileRolesResponse>, Status> {
        profiles::replace_profile_roles(self, request).await
    }

    async fn list_profile_roles(
        &self,
        request: Request<pb::ListProfileRolesRequest>,
    ) -> Result<Response<pb::ListProfileRolesResponse>, Status> {
        profiles::list_profile_roles(self, request).await
    }

    async fn list_assignable_roles(
        &self,
        request: Request<pb::ListAssignableRolesRequest>,
    ) -> Result<Response<pb::ListAssignableRolesResponse>, Status> {
        profiles::list_assignable_roles(self, request).await
    }

    async fn validate_assignment(
        &self,
        request: Request<pb::ValidateAssignmentRequest>,
    ) -> Result<Response<pb::ValidateAssignmentResponse>, Status> {
        validation::validate_assignment(self, request).await
    }

    async fn batch_get_effective_roles(
        &self,
        request: Request<pb::BatchGetEffectiveRolesRequest>,
    ) -> Result<Response<pb::BatchGetEffectiveRolesResponse>, Status> {
        profiles::batch_get_effective_roles(self, request).await
    }

    async fn get_principal_class(
        &self,
        request: Request<pb::GetPrincipalClassRequest>,
    ) -> Result<Response<pb::GetPrincipalClassResponse>, Status> {
        profiles::get_principal_class(self, request).await
    }

    async fn ensure_default_class(
        &self,
        request: Request<pb::EnsureDefaultClassRequest>,
    ) -> Result<Response<pb::EnsureDefaultClassResponse>, Status> {
        profiles::ensure_default_class(self, request).await
    }

    async fn list_role_anomalies(
        &self,
        request: Request<pb::ListRoleAnomaliesRequest>,
    ) -> Result<Response<pb::ListRoleAnomaliesResponse>, Status> {
        anomalies::list_role_anomalies(self, request).await
    }

    async fn fix_role_anomalies(
        &self,
        request: Request<pb::FixRoleAnomaliesRequest>,
    ) -> Result<Response<pb::FixRoleAnomaliesResponse>, Status> {
        anomalies::fix_role_anomalies(self, request).await
    }

    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let changes =
            csm_server::watch_feed(app.feed(), request.into_inner().from_revision, Vec::new(), self.app.closing());
        let stream = changes.map(|change| change.map(|change| pb::WatchResponse { change: Some(change) }));
        Ok(Response::new(Box::pin(stream)))
    }
}
