//! gRPC handlers of contact relationships (R3.7–R3.11), eligibility (R3.8) and
//! consumer relationships (R3.12, R3.13).

use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::account_team as pb;
use csm_types::{AccountId, ConsumerId, HouseholdId, ProfileId, ResponsibilityId};
use tonic::{Request, Response, Status};

use super::AccountTeamGrpc;
use crate::domain::contacts::{
    ConsumerRelationship, ConsumerRelationshipFilter, ContactRelationship, ContactRelationshipFilter, EligibilityPath,
    EligibleContact, NewConsumerRelationship, NewContactRelationship, RelationshipChanges,
};

const RELATIONSHIP_UPDATE_PATHS: &[&str] = &["related_party_configuration_id", "responsibility_id", "order"];

pub(crate) fn contact_to_proto(relationship: &ContactRelationship) -> pb::ContactRelationship {
    pb::ContactRelationship {
        contact_relationship_id: relationship.id.to_string(),
        account_id: relationship.account.to_string(),
        contact_id: relationship.contact.to_string(),
        related_party_configuration_id: relationship
            .related_party_configuration
            .map(|id| id.to_string())
            .unwrap_or_default(),
        responsibility_id: relationship.responsibility.map(|id| id.to_string()).unwrap_or_default(),
        order: Some(relationship.order),
        create_time: csm_proto::some_timestamp(relationship.created_at),
        update_time: csm_proto::some_timestamp(relationship.updated_at),
    }
}

pub(crate) fn consumer_to_proto(relationship: &ConsumerRelationship) -> pb::ConsumerRelationship {
    pb::ConsumerRelationship {
        consumer_relationship_id: relationship.id.to_string(),
        consumer_id: relationship.consumer.to_string(),
        related_consumer_id: relationship.related_consumer.to_string(),
        household_id: relationship.household.map(|id| id.to_string()).unwrap_or_default(),
        related_party_configuration_id: relationship
            .related_party_configuration
            .map(|id| id.to_string())
            .unwrap_or_default(),
        responsibility_id: relationship.responsibility.map(|id| id.to_string()).unwrap_or_default(),
        order: Some(relationship.order),
        create_time: csm_proto::some_timestamp(relationship.created_at),
        update_time: csm_proto::some_timestamp(relationship.updated_at),
    }
}

fn eligible_to_proto(contact: &EligibleContact) -> pb::EligibleContact {
    pb::EligibleContact {
        contact_id: contact.contact.to_string(),
        account_id: contact.account.to_string(),
        path: match contact.path {
            EligibilityPath::Hierarchy => pb::ContactEligibilityPath::Hierarchy,
            EligibilityPath::AccountRelationship => pb::ContactEligibilityPath::AccountRelationship,
            EligibilityPath::Unrestricted => pb::ContactEligibilityPath::Unrestricted,
        } as i32,
    }
}

/// The masked changes of an Update{Contact,Consumer}Relationship request.
fn relationship_changes(
    errors: &mut FieldErrors,
    prefix: &str,
    paths: &[String],
    type_id: &str,
    responsibility_id: &str,
    order: Option<i32>,
) -> RelationshipChanges {
    let mut changes = RelationshipChanges::default();
    for path in paths {
        match path.as_str() {
            "related_party_configuration_id" => {
                changes.related_party_configuration =
                    Some(errors.optional_uuid(&format!("{prefix}.related_party_configuration_id"), type_id))
            }
            "responsibility_id" => {
                changes.responsibility = Some(errors.optional_id(
                    &format!("{prefix}.responsibility_id"),
                    responsibility_id,
                    ResponsibilityId::parse,
                ))
            }
            _ => match order {
                Some(order) => changes.order = Some(order),
                None => errors.add(format!("{prefix}.order"), "is required when the mask names it"),
            },
        }
    }
    changes
}

pub(super) async fn create_contact_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateContactRelationshipRequest>,
) -> Result<Response<pb::CreateContactRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let relationship = request.contact_relationship.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let account = errors.required_id("contact_relationship.account_id", &relationship.account_id, AccountId::parse);
    let contact = errors.required_id("contact_relationship.contact_id", &relationship.contact_id, ProfileId::parse);
    let type_id = errors.optional_uuid(
        "contact_relationship.related_party_configuration_id",
        &relationship.related_party_configuration_id,
    );
    let responsibility = errors.optional_id(
        "contact_relationship.responsibility_id",
        &relationship.responsibility_id,
        ResponsibilityId::parse,
    );
    errors.finish()?;
    let new = NewContactRelationship {
        account: validated(account)?,
        contact: validated(contact)?,
        related_party_configuration: type_id,
        responsibility,
        order: relationship.order,
    };
    let written = app.create_contact_relationship(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateContactRelationshipResponse {
        contact_relationship: Some(contact_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_contact_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetContactRelationshipRequest>,
) -> Result<Response<pb::GetContactRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("contact_relationship_id", &request.get_ref().contact_relationship_id);
    errors.finish()?;
    let relationship = app.get_contact_relationship(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetContactRelationshipResponse {
        contact_relationship: Some(contact_to_proto(&relationship)),
    }))
}

pub(super) async fn update_contact_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateContactRelationshipRequest>,
) -> Result<Response<pb::UpdateContactRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), RELATIONSHIP_UPDATE_PATHS)?;
    let relationship = request.contact_relationship.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id =
        errors.required_uuid("contact_relationship.contact_relationship_id", &relationship.contact_relationship_id);
    let changes = relationship_changes(
        &mut errors,
        "contact_relationship",
        &paths,
        &relationship.related_party_configuration_id,
        &relationship.responsibility_id,
        relationship.order,
    );
    errors.finish()?;
    let written = app.update_contact_relationship(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateContactRelationshipResponse {
        contact_relationship: Some(contact_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_contact_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteContactRelationshipRequest>,
) -> Result<Response<pb::DeleteContactRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("contact_relationship_id", &request.get_ref().contact_relationship_id);
    errors.finish()?;
    let written = app.delete_contact_relationship(&caller, validated(id)?).await?;
    Ok(Response::new(pb::DeleteContactRelationshipResponse { consistency_token: written.consistency_token }))
}

pub(super) async fn list_contact_relationships(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListContactRelationshipsRequest>,
) -> Result<Response<pb::ListContactRelationshipsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let account = errors.optional_id("account_id", &request.account_id, AccountId::parse);
    let contact = errors.optional_id("contact_id", &request.contact_id, ProfileId::parse);
    let responsibility = errors.optional_id("responsibility_id", &request.responsibility_id, ResponsibilityId::parse);
    if request.account_id.trim().is_empty() && request.contact_id.trim().is_empty() {
        errors.add("account_id", "account_id or contact_id is required");
        errors.add("contact_id", "account_id or contact_id is required");
    }
    errors.finish()?;
    let filter = ContactRelationshipFilter { account, contact, responsibility };
    let (rows, next_page_token) = app.list_contact_relationships(&caller, filter, validated(page)?).await?;
    Ok(Response::new(pb::ListContactRelationshipsResponse {
        contact_relationships: rows.iter().map(contact_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_eligible_contacts(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListEligibleContactsRequest>,
) -> Result<Response<pb::ListEligibleContactsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let account = errors.required_id("account_id", &request.account_id, AccountId::parse);
    errors.finish()?;
    let (rows, next_page_token) = app.list_eligible_contacts(&caller, validated(account)?, validated(page)?).await?;
    Ok(Response::new(pb::ListEligibleContactsResponse {
        eligible_contacts: rows.iter().map(eligible_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn create_consumer_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateConsumerRelationshipRequest>,
) -> Result<Response<pb::CreateConsumerRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let relationship = request.consumer_relationship.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let consumer =
        errors.required_id("consumer_relationship.consumer_id", &relationship.consumer_id, ConsumerId::parse);
    let related = errors.required_id(
        "consumer_relationship.related_consumer_id",
        &relationship.related_consumer_id,
        ConsumerId::parse,
    );
    let household =
        errors.optional_id("consumer_relationship.household_id", &relationship.household_id, HouseholdId::parse);
    let type_id = errors.optional_uuid(
        "consumer_relationship.related_party_configuration_id",
        &relationship.related_party_configuration_id,
    );
    let responsibility = errors.optional_id(
        "consumer_relationship.responsibility_id",
        &relationship.responsibility_id,
        ResponsibilityId::parse,
    );
    if consumer.is_some() && consumer == related {
        errors.add("consumer_relationship.related_consumer_id", "must differ from consumer_id");
    }
    errors.finish()?;
    let new = NewConsumerRelationship {
        consumer: validated(consumer)?,
        related_consumer: validated(related)?,
        household,
        related_party_configuration: type_id,
        responsibility,
        order: relationship.order,
    };
    let written = app.create_consumer_relationship(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateConsumerRelationshipResponse {
        consumer_relationship: Some(consumer_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_consumer_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetConsumerRelationshipRequest>,
) -> Result<Response<pb::GetConsumerRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("consumer_relationship_id", &request.get_ref().consumer_relationship_id);
    errors.finish()?;
    let relationship = app.get_consumer_relationship(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetConsumerRelationshipResponse {
        consumer_relationship: Some(consumer_to_proto(&relationship)),
    }))
}

pub(super) async fn update_consumer_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateConsumerRelationshipRequest>,
) -> Result<Response<pb::UpdateConsumerRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), RELATIONSHIP_UPDATE_PATHS)?;
    let relationship = request.consumer_relationship.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id =
        errors.required_uuid("consumer_relationship.consumer_relationship_id", &relationship.consumer_relationship_id);
    let changes = relationship_changes(
        &mut errors,
        "consumer_relationship",
        &paths,
        &relationship.related_party_configuration_id,
        &relationship.responsibility_id,
        relationship.order,
    );
    errors.finish()?;
    let written = app.update_consumer_relationship(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateConsumerRelationshipResponse {
        consumer_relationship: Some(consumer_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_consumer_relationship(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteConsumerRelationshipRequest>,
) -> Result<Response<pb::DeleteConsumerRelationshipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("consumer_relationship_id", &request.get_ref().consumer_relationship_id);
    errors.finish()?;
    let written = app.delete_consumer_relationship(&caller, validated(id)?).await?;
    Ok(Response::new(pb::DeleteConsumerRelationshipResponse { consistency_token: written.consistency_token }))
}

pub(super) async fn list_consumer_relationships(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListConsumerRelationshipsRequest>,
) -> Result<Response<pb::ListConsumerRelationshipsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let consumer = errors.optional_id("consumer_id", &request.consumer_id, ConsumerId::parse);
    let related_consumer = errors.optional_id("related_consumer_id", &request.related_consumer_id, ConsumerId::parse);
    let household = errors.optional_id("household_id", &request.household_id, HouseholdId::parse);
    if request.consumer_id.is_empty() && request.related_consumer_id.is_empty() && request.household_id.is_empty() {
        errors.add("consumer_id", "one of consumer_id, related_consumer_id, household_id is required");
    }
    errors.finish()?;
    let filter = ConsumerRelationshipFilter { consumer, related_consumer, household, naming: None };
    let (rows, next_page_token) = app.list_consumer_relationships(&caller, filter, validated(page)?).await?;
    Ok(Response::new(pb::ListConsumerRelationshipsResponse {
        consumer_relationships: rows.iter().map(consumer_to_proto).collect(),
        next_page_token,
    }))
}
