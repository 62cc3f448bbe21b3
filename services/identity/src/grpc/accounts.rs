//! gRPC handlers of identity's account RPCs: proto ⇄ domain conversion, then the app.

use csm_errors::{CsmError, FieldErrors, update_paths, validated};
use csm_proto::identity as pb;
use csm_types::AccountId;
use tonic::{Request, Response, Status};

use super::IdentityGrpc;
use super::convert::account_to_proto;
use crate::domain::accounts::{
    ACCOUNT_NAME_MAX_LEN, AccountChanges, AccountFilter, AccountKind, BATCH_GET_ACCOUNTS_MAX, DescendantFilter,
    NewAccount,
};

/// UpdateAccount's updatable paths (kind and parent_account_id are not:
/// FIELD_NOT_UPDATABLE; the parent changes through SetAccountParent).
const ACCOUNT_UPDATE_PATHS: &[&str] = &["name", "active"];

pub(super) async fn create_account(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateAccountRequest>,
) -> Result<Response<pb::CreateAccountResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
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
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateAccountRequest>,
) -> Result<Response<pb::UpdateAccountResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), ACCOUNT_UPDATE_PATHS)?;
    let account = request.account.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("account.account_id", &account.account_id, AccountId::parse);
    let mut changes = AccountChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => changes.name = errors.required_text("account.name", &account.name, ACCOUNT_NAME_MAX_LEN),
            _ => changes.active = Some(account.active),
        }
    }
    errors.finish()?;
    let written = app.update_account(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateAccountResponse {
        account: Some(account_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_accounts(
    grpc: &IdentityGrpc,
    request: Request<pb::ListAccountsRequest>,
) -> Result<Response<pb::ListAccountsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let kind = match pb::AccountKind::try_from(request.kind) {
        Ok(pb::AccountKind::Unspecified) => None,
        Ok(pb::AccountKind::Customer) => Some(AccountKind::Customer),
        Ok(pb::AccountKind::Partner) => Some(AccountKind::Partner),
        Err(_) => {
            errors.add("kind", "must be ACCOUNT_KIND_CUSTOMER, ACCOUNT_KIND_PARTNER or unset");
            None
        }
    };
    let parent = errors.optional_id("parent_account_id", &request.parent_account_id, AccountId::parse);
    let name_prefix = errors.optional_text("name_prefix", &request.name_prefix, ACCOUNT_NAME_MAX_LEN);
    errors.finish()?;
    let filter = AccountFilter {
        kind,
        parent,
        top_level_only: request.top_level_only,
        name_prefix: Some(name_prefix).filter(|prefix| !prefix.is_empty()),
        include_inactive: request.include_inactive,
        only: None,
    };
    let (accounts, next_page_token) = app.list_accounts(&caller, validated(page)?, filter).await?;
    Ok(Response::new(pb::ListAccountsResponse {
        accounts: accounts.iter().map(account_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn set_account_parent(
    grpc: &IdentityGrpc,
    request: Request<pb::SetAccountParentRequest>,
) -> Result<Response<pb::SetAccountParentResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("account_id", &request.account_id, AccountId::parse);
    let parent = errors.optional_id("parent_account_id", &request.parent_account_id, AccountId::parse);
    errors.finish()?;
    let written = app.set_account_parent(&caller, validated(id)?, parent).await?;
    Ok(Response::new(pb::SetAccountParentResponse {
        account: Some(account_to_proto(&written.value.account)),
        previous_parent_account_id: written.value.previous_parent.map(|id| id.to_string()).unwrap_or_default(),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_account_ancestors(
    grpc: &IdentityGrpc,
    request: Request<pb::ListAccountAncestorsRequest>,
) -> Result<Response<pb::ListAccountAncestorsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let id = errors.required_id("account_id", &request.account_id, AccountId::parse);
    errors.finish()?;
    let (accounts, next_page_token) = app.list_account_ancestors(&caller, validated(id)?, validated(page)?).await?;
    Ok(Response::new(pb::ListAccountAncestorsResponse {
        accounts: accounts.iter().map(account_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_account_descendants(
    grpc: &IdentityGrpc,
    request: Request<pb::ListAccountDescendantsRequest>,
) -> Result<Response<pb::ListAccountDescendantsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let id = errors.required_id("account_id", &request.account_id, AccountId::parse);
    let max_depth = match u32::try_from(request.max_depth) {
        Ok(0) => None,
        Ok(depth) => Some(depth),
        Err(_) => {
            errors.add("max_depth", "must not be negative (0 = unlimited)");
            None
        }
    };
    errors.finish()?;
    let filter = DescendantFilter { max_depth, include_inactive: request.include_inactive };
    let (accounts, next_page_token) =
        app.list_account_descendants(&caller, validated(id)?, filter, validated(page)?).await?;
    Ok(Response::new(pb::ListAccountDescendantsResponse {
        accounts: accounts.iter().map(account_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn batch_get_accounts(
    grpc: &IdentityGrpc,
    request: Request<pb::BatchGetAccountsRequest>,
) -> Result<Response<pb::BatchGetAccountsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    if request.account_ids.len() > BATCH_GET_ACCOUNTS_MAX {
        return Err(CsmError::invalid_field(
            "account_ids",
            format!("must hold at most {BATCH_GET_ACCOUNTS_MAX} ids, got {}", request.account_ids.len()),
        )
        .into());
    }
    let mut errors = FieldErrors::new();
    let ids: Vec<AccountId> = request
        .account_ids
        .iter()
        .enumerate()
        .filter_map(|(index, id)| errors.required_id(&format!("account_ids[{index}]"), id, AccountId::parse))
        .collect();
    errors.finish()?;
    let batch = app.batch_get_accounts(&caller, &ids, request.include_ancestors).await?;
    Ok(Response::new(pb::BatchGetAccountsResponse {
        accounts: batch
            .found
            .iter()
            .map(|found| pb::AccountAncestry {
                account: Some(account_to_proto(&found.account)),
                ancestor_account_ids: found.ancestors.iter().map(|id| id.to_string()).collect(),
            })
            .collect(),
        missing_account_ids: batch.missing.iter().map(|id| id.to_string()).collect(),
        revision: batch.revision,
    }))
}
