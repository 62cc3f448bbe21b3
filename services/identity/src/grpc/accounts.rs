//! gRPC handlers of identity's account RPCs: proto ⇄ domain conversion, then the app.

use csm_errors::{CsmError, FieldErrors};
use csm_proto::identity as pb;
use csm_types::AccountId;
use tonic::{Request, Response, Status};

use super::{IdentityGrpc, optional_request_id};
use crate::domain::accounts::{ACCOUNT_NAME_MAX_LEN, Account, AccountKind, NewAccount};

pub(super) fn account_to_proto(account: &Account) -> pb::Account {
    pb::Account {
        account_id: account.id.to_string(),
        name: account.name.clone(),
        kind: match account.kind {
            AccountKind::Customer => pb::AccountKind::Customer,
            AccountKind::Partner => pb::AccountKind::Partner,
        } as i32,
        parent_account_id: account.parent.map(|id| id.to_string()).unwrap_or_default(),
        active: account.active,
        created_at: Some(csm_proto::timestamp(account.created_at)),
        updated_at: Some(csm_proto::timestamp(account.updated_at)),
    }
}

pub(super) async fn create_account(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateAccountRequest>,
) -> Result<Response<pb::CreateAccountResponse>, Status> {
    let app = grpc.app.get()?;
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

pub(super) async fn get_account(
    grpc: &IdentityGrpc,
    request: Request<pb::GetAccountRequest>,
) -> Result<Response<pb::GetAccountResponse>, Status> {
    let app = grpc.app.get()?;
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

pub(super) async fn update_account(
    _grpc: &IdentityGrpc,
    _request: Request<pb::UpdateAccountRequest>,
) -> Result<Response<pb::UpdateAccountResponse>, Status> {
    Err(CsmError::unimplemented("UpdateAccount").into())
}

pub(super) async fn list_accounts(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListAccountsRequest>,
) -> Result<Response<pb::ListAccountsResponse>, Status> {
    Err(CsmError::unimplemented("ListAccounts").into())
}

pub(super) async fn set_account_parent(
    _grpc: &IdentityGrpc,
    _request: Request<pb::SetAccountParentRequest>,
) -> Result<Response<pb::SetAccountParentResponse>, Status> {
    Err(CsmError::unimplemented("SetAccountParent").into())
}

pub(super) async fn list_account_ancestors(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListAccountAncestorsRequest>,
) -> Result<Response<pb::ListAccountAncestorsResponse>, Status> {
    Err(CsmError::unimplemented("ListAccountAncestors").into())
}

pub(super) async fn list_account_descendants(
    _grpc: &IdentityGrpc,
    _request: Request<pb::ListAccountDescendantsRequest>,
) -> Result<Response<pb::ListAccountDescendantsResponse>, Status> {
    Err(CsmError::unimplemented("ListAccountDescendants").into())
}

pub(super) async fn batch_get_accounts(
    _grpc: &IdentityGrpc,
    _request: Request<pb::BatchGetAccountsRequest>,
) -> Result<Response<pb::BatchGetAccountsResponse>, Status> {
    Err(CsmError::unimplemented("BatchGetAccounts").into())
}
