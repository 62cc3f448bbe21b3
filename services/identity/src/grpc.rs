//! gRPC adapter: converts proto ⇄ domain and calls the app. Nothing else.

use std::sync::Arc;

use csm_errors::{CsmError, FieldErrors};
use csm_proto::identity as pb;
use csm_proto::identity::identity_service_server::IdentityService;
use csm_server::Readiness;
use csm_types::AccountId;
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::app::IdentityApp;
use crate::domain::{ACCOUNT_NAME_MAX_LEN, Account, AccountKind, NewAccount};

pub struct IdentityGrpc {
    app: Arc<Readiness<IdentityApp>>,
}

impl IdentityGrpc {
    pub fn new(app: Arc<Readiness<IdentityApp>>) -> Self {
        Self { app }
    }
}

fn timestamp(value: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: value.timestamp(), nanos: value.timestamp_subsec_nanos() as i32 }
}

fn account_to_proto(account: &Account) -> pb::Account {
    pb::Account {
        account_id: account.id.to_string(),
        name: account.name.clone(),
        kind: match account.kind {
            AccountKind::Customer => pb::AccountKind::Customer,
            AccountKind::Partner => pb::AccountKind::Partner,
        } as i32,
        parent_account_id: account.parent.map(|id| id.to_string()).unwrap_or_default(),
        active: account.active,
        created_at: Some(timestamp(account.created_at)),
        updated_at: Some(timestamp(account.updated_at)),
    }
}

fn optional_request_id(errors: &mut FieldErrors, request_id: &str) -> Option<String> {
    let trimmed = request_id.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() > 128 {
        errors.add("request_id", "must be at most 128 characters");
        return None;
    }
    Some(trimmed.to_owned())
}

#[tonic::async_trait]
impl IdentityService for IdentityGrpc {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::CreateAccountResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let request_id = optional_request_id(&mut errors, &request.request_id);
        let name = errors.required_text("name", &request.name, ACCOUNT_NAME_MAX_LEN);
        let kind = match pb::AccountKind::try_from(request.kind) {
            Ok(pb::AccountKind::Customer) => Some(AccountKind::Customer),
            Ok(pb::AccountKind::Partner) => Some(AccountKind::Partner),
            _ => {
                errors.add("kind", "must be ACCOUNT_KIND_CUSTOMER or ACCOUNT_KIND_PARTNER");
                None
            }
        };
        let parent = errors.optional_id("parent_account_id", &request.parent_account_id, AccountId::parse);
        errors.finish()?;
        let (Some(name), Some(kind)) = (name, kind) else {
            return Err(CsmError::internal("validated fields missing").into());
        };
        let written = app.create_account(&caller, request_id.as_deref(), NewAccount { name, kind, parent }).await?;
        Ok(Response::new(pb::CreateAccountResponse {
            account: Some(account_to_proto(&written.value)),
            consistency_token: written.consistency_token,
        }))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let mut errors = FieldErrors::new();
        let id = errors.required_id("account_id", &request.get_ref().account_id, AccountId::parse);
        errors.finish()?;
        let Some(id) = id else {
            return Err(CsmError::internal("validated fields missing").into());
        };
        let account = app.get_account(&caller, id).await?;
        Ok(Response::new(pb::GetAccountResponse { account: Some(account_to_proto(&account)) }))
    }

    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let request = request.into_inner();
        let feed = app.feed().clone();
        let service = feed.service();
        let entity_types = request.entity_types;
        let stream = feed
            .watch(request.from_revision)
            .filter(move |change| match change {
                Ok(change) => entity_types.is_empty() || entity_types.contains(&change.entity_type),
                Err(_) => true,
            })
            .map(move |change| {
                change
                    .map(|change| pb::WatchResponse { change: Some(change.to_proto(service)) })
                    .map_err(Status::from)
            });
        Ok(Response::new(Box::pin(stream)))
    }
}
