//! gRPC handlers of account relationships (R3.5) and ListPartnerCustomers
//! (R3.6): proto ⇄ domain conversion, then the app.

use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::account_team as pb;
use csm_types::AccountId;
use tonic::{Request, Response, Status};

use super::AccountTeamGrpc;
use crate::domain::definitions::RelationshipTypeId;
use crate::domain::relationships::{
    AccountRelationship, AccountRelationshipId, Direction, NewAccountRelationship, PartnerCustomer, RelationshipFilter,
    RelationshipView,
};

fn relationship_to_proto(relationship: &AccountRelationship) -> pb::AccountRelationship {
    pb::AccountRelationship {
        account_relationship_id: relationship.id.to_string(),
        from_account_id: relationship.from_account.to_string(),
        account_relationship_type_id: relationship.type_id.to_string(),
        to_account_id: relationship.to_account.to_string(),
        active: Some(relationship.active),
        create_time: Some(csm_proto::timestamp(relationship.created_at)),
        update_time: Some(csm_proto::timestamp(relationship.updated_at)),
    }
}

fn direction_to_proto(direction: Direction) -> pb::RelationshipDirection {
    match direction {
        Direction::Forward => pb::RelationshipDirection::Forward,
        Direction::Reverse => pb::RelationshipDirection::Reverse,
    }
}

fn view_to_proto(view: &RelationshipView) -> pb::AccountRelationshipView {
    pb::AccountRelationshipView {
        account_relationship: Some(relationship_to_proto(&view.relationship)),
        direction: direction_to_proto(view.direction) as i32,
        label: view.label.clone(),
        related_account_id: view.related_account.to_string(),
        relationship_type_name: view.type_name.clone(),
    }
}

/// The wire form of a PCUST member (also part of GetPrincipalRelationships).
pub(crate) fn partner_customer_to_proto(customer: &PartnerCustomer) -> pb::PartnerCustomer {
    pb::PartnerCustomer {
        customer_account_id: customer.customer_account.to_string(),
        account_relationship_id: customer.relationship.to_string(),
        account_relationship_type_id: customer.type_id.to_string(),
        create_time: Some(csm_proto::timestamp(customer.created_at)),
    }
}

pub(super) async fn create_account_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateAccountRelationshipRequest>,
) -> Result<Response<pb::CreateAccountRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let relationship = request.account_relationship.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let from =
        errors.required_id("account_relationship.from_account_id", &relationship.from_account_id, AccountId::parse);
    let to = errors.required_id("account_relationship.to_account_id", &relationship.to_account_id, AccountId::parse);
    let type_id = errors.optional_id(
        "account_relationship.account_relationship_type_id",
        &relationship.account_relationship_type_id,
        RelationshipTypeId::parse,
    );
    errors.finish()?;
    let new = NewAccountRelationship {
        from_account: validated(from)?,
        type_id,
        to_account: validated(to)?,
        active: relationship.active.unwrap_or(true),
    };
    let written = app.create_account_relationship(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateAccountRelationshipResponse {
        account_relationship: Some(relationship_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_account_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetAccountRelationshipRequest>,
) -> Result<Response<pb::GetAccountRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "account_relationship_id",
        &request.get_ref().account_relationship_id,
        AccountRelationshipId::parse,
    );
    errors.finish()?;
    let relationship = app.get_account_relationship(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetAccountRelationshipResponse {
        account_relationship: Some(relationship_to_proto(&relationship)),
    }))
}

pub(super) async fn update_account_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateAccountRelationshipRequest>,
) -> Result<Response<pb::UpdateAccountRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    update_paths(request.update_mask.as_ref(), &["active"])?;
    let relationship = request.account_relationship.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "account_relationship.account_relationship_id",
        &relationship.account_relationship_id,
        AccountRelationshipId::parse,
    );
    if relationship.active.is_none() {
        errors.add("account_relationship.active", "is required when the mask names it");
    }
    errors.finish()?;
    let written = app.set_account_relationship_active(&caller, validated(id)?, validated(relationship.active)?).await?;
    Ok(Response::new(pb::UpdateAccountRelationshipResponse {
        account_relationship: Some(relationship_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_account_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteAccountRelationshipRequest>,
) -> Result<Response<pb::DeleteAccountRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "account_relationship_id",
        &request.get_ref().account_relationship_id,
        AccountRelationshipId::parse,
    );
    errors.finish()?;
    let written = app.delete_account_relationship(&caller, validated(id)?).await?;
    Ok(Response::new(pb::DeleteAccountRelationshipResponse { consistency_token: written.consistency_token }))
}

pub(super) async fn list_account_relationships(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListAccountRelationshipsRequest>,
) -> Result<Response<pb::ListAccountRelationshipsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let account = errors.required_id("account_id", &request.account_id, AccountId::parse);
    let type_id = errors.optional_id(
        "account_relationship_type_id",
        &request.account_relationship_type_id,
        RelationshipTypeId::parse,
    );
    let direction = match pb::RelationshipDirection::try_from(request.direction) {
        Ok(pb::RelationshipDirection::Unspecified) => None,
        Ok(pb::RelationshipDirection::Forward) => Some(Direction::Forward),
        Ok(pb::RelationshipDirection::Reverse) => Some(Direction::Reverse),
        Err(_) => {
            errors.add("direction", "must be a RELATIONSHIP_DIRECTION_* value");
            None
        }
    };
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let filter = RelationshipFilter {
        account: validated(account)?,
        direction,
        type_id,
        include_inactive: request.include_inactive,
    };
    let (views, next_page_token) = app.list_account_relationships(&caller, filter, validated(page)?).await?;
    Ok(Response::new(pb::ListAccountRelationshipsResponse {
        account_relationships: views.iter().map(view_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_partner_customers(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListPartnerCustomersRequest>,
) -> Result<Response<pb::ListPartnerCustomersResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let partner = errors.required_id("partner_account_id", &request.partner_account_id, AccountId::parse);
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (customers, next_page_token) =
        app.list_partner_customers(&caller, validated(partner)?, validated(page)?).await?;
    Ok(Response::new(pb::ListPartnerCustomersResponse {
        partner_customers: customers.iter().map(partner_customer_to_proto).collect(),
        next_page_token,
    }))
}
