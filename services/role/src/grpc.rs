//! gRPC adapter: converts proto ⇄ domain and calls the app. Nothing else.

use std::sync::Arc;

use csm_errors::{CsmError, FieldErrors};
use csm_proto::role as pb;
use csm_proto::role::role_service_server::RoleService;
use csm_server::Readiness;
use csm_types::ProfileId;
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::app::{EffectiveRoles, RoleApp};
use crate::domain::PrincipalClass;

pub struct RoleGrpc {
    app: Arc<Readiness<RoleApp>>,
}

impl RoleGrpc {
    pub fn new(app: Arc<Readiness<RoleApp>>) -> Self {
        Self { app }
    }
}

fn effective_roles_to_proto(effective: &EffectiveRoles) -> pb::EffectiveRoles {
    pb::EffectiveRoles {
        profile_id: effective.profile.to_string(),
        roles: effective.roles.iter().cloned().collect(),
        grants: effective
            .grants
            .iter()
            .map(|grant| pb::RoleGrant {
                role: grant.role.clone(),
                source: if grant.containment_path.len() > 1 {
                    pb::RoleSource::Containment
                } else {
                    pb::RoleSource::Direct
                } as i32,
                assigned_role: grant.assigned_role.clone(),
                assignment_id: grant.assignment_id.to_string(),
                group_id: String::new(),
                group_path: Vec::new(),
                containment_path: grant.containment_path.clone(),
            })
            .collect(),
        principal_class: match effective.class {
            PrincipalClass::Internal => pb::PrincipalClass::Internal,
            PrincipalClass::External => pb::PrincipalClass::External,
            PrincipalClass::None => pb::PrincipalClass::None,
            PrincipalClass::Both => pb::PrincipalClass::Both,
        } as i32,
        group_memberships: Vec::new(),
        flagged_for_review: false,
    }
}

#[tonic::async_trait]
impl RoleService for RoleGrpc {
    async fn get_effective_roles(
        &self,
        request: Request<pb::GetEffectiveRolesRequest>,
    ) -> Result<Response<pb::GetEffectiveRolesResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let profile = errors.required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse);
        errors.finish()?;
        let Some(profile) = profile else {
            return Err(CsmError::internal("validated fields missing").into());
        };
        let (effective, consistency_token) = app.effective_roles(&caller, profile).await?;
        Ok(Response::new(pb::GetEffectiveRolesResponse {
            effective_roles: Some(effective_roles_to_proto(&effective)),
            consistency_token,
        }))
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let feed = app.feed().clone();
        let service = feed.service();
        let stream = feed.watch(request.into_inner().from_revision).map(move |change| {
            change.map(|change| pb::WatchResponse { change: Some(change.to_proto(service)) }).map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
