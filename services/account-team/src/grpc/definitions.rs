//! gRPC handlers of responsibility definitions (R3.12, R3.18) and account
//! relationship types (R3.4): proto ⇄ domain conversion, then the app.

use csm_db::PageRequest;
use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::account_team as pb;
use csm_types::ResponsibilityId;
use tonic::{Request, Response, Status};

use super::AccountTeamGrpc;
use crate::domain::definitions::{
    DESCRIPTION_MAX_LEN, EndKind, LABEL_MAX_LEN, NAME_MAX_LEN, NewRelationshipType, NewResponsibilityDefinition,
    RelationshipType, RelationshipTypeChanges, RelationshipTypeId, ResponsibilityChanges, ResponsibilityDefinition,
    ResponsibilityKind,
};

// ------------------------------------------------------------------ helpers

fn responsibility_kind_from_proto(value: i32) -> Option<ResponsibilityKind> {
    match pb::ResponsibilityKind::try_from(value) {
        Ok(pb::ResponsibilityKind::User) => Some(ResponsibilityKind::User),
        Ok(pb::ResponsibilityKind::Contact) => Some(ResponsibilityKind::Contact),
        Ok(pb::ResponsibilityKind::Consumer) => Some(ResponsibilityKind::Consumer),
        Ok(pb::ResponsibilityKind::Account) => Some(ResponsibilityKind::Account),
        Ok(pb::ResponsibilityKind::None) => Some(ResponsibilityKind::None),
        _ => None,
    }
}

fn responsibility_kind_to_proto(kind: ResponsibilityKind) -> pb::ResponsibilityKind {
    match kind {
        ResponsibilityKind::User => pb::ResponsibilityKind::User,
        ResponsibilityKind::Contact => pb::ResponsibilityKind::Contact,
        ResponsibilityKind::Consumer => pb::ResponsibilityKind::Consumer,
        ResponsibilityKind::Account => pb::ResponsibilityKind::Account,
        ResponsibilityKind::None => pb::ResponsibilityKind::None,
    }
}

fn required_responsibility_kind(errors: &mut FieldErrors, field: &str, value: i32) -> Option<ResponsibilityKind> {
    let kind = responsibility_kind_from_proto(value);
    if kind.is_none() {
        errors.add(field, "must be a RESPONSIBILITY_KIND_* value other than UNSPECIFIED");
    }
    kind
}

fn end_kind_from_proto(errors: &mut FieldErrors, field: &str, value: i32) -> Option<EndKind> {
    match pb::RelationshipEndKind::try_from(value) {
        Ok(pb::RelationshipEndKind::Account) => Some(EndKind::Account),
        Ok(pb::RelationshipEndKind::Partner) => Some(EndKind::Partner),
        _ => {
            errors.add(field, "must be RELATIONSHIP_END_KIND_ACCOUNT or RELATIONSHIP_END_KIND_PARTNER");
            None
        }
    }
}

fn end_kind_to_proto(kind: EndKind) -> pb::RelationshipEndKind {
    match kind {
        EndKind::Account => pb::RelationshipEndKind::Account,
        EndKind::Partner => pb::RelationshipEndKind::Partner,
    }
}

/// The wire form of a responsibility definition.
pub(crate) fn responsibility_to_proto(definition: &ResponsibilityDefinition) -> pb::ResponsibilityDefinition {
    pb::ResponsibilityDefinition {
        responsibility_id: definition.id.to_string(),
        name: definition.name.clone(),
        kind: responsibility_kind_to_proto(definition.kind) as i32,
        unique: definition.unique,
        description: definition.description.clone(),
        seeded: definition.seeded,
        create_time: Some(csm_proto::timestamp(definition.created_at)),
        update_time: Some(csm_proto::timestamp(definition.updated_at)),
    }
}

fn relationship_type_to_proto(kind: &RelationshipType) -> pb::AccountRelationshipType {
    pb::AccountRelationshipType {
        account_relationship_type_id: kind.id.to_string(),
        name: kind.name.clone(),
        from_kind: end_kind_to_proto(kind.from_kind) as i32,
        to_kind: end_kind_to_proto(kind.to_kind) as i32,
        label: kind.label.clone(),
        reverse_label: kind.reverse_label.clone(),
        active: Some(kind.active),
        default_partner_type: kind.default_partner_type,
        create_time: Some(csm_proto::timestamp(kind.created_at)),
        update_time: Some(csm_proto::timestamp(kind.updated_at)),
    }
}

// ------------------------------------------------ responsibility definitions

pub(super) async fn create_responsibility_definition(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateResponsibilityDefinitionRequest>,
) -> Result<Response<pb::CreateResponsibilityDefinitionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let definition = request.responsibility_definition.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let name = errors.required_text("responsibility_definition.name", &definition.name, NAME_MAX_LEN);
    let kind = required_responsibility_kind(&mut errors, "responsibility_definition.kind", definition.kind);
    let description =
        errors.optional_text("responsibility_definition.description", &definition.description, DESCRIPTION_MAX_LEN);
    errors.finish()?;
    let new = NewResponsibilityDefinition {
        name: validated(name)?,
        kind: validated(kind)?,
        unique: definition.unique,
        description,
    };
    let written = app.create_responsibility(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateResponsibilityDefinitionResponse {
        responsibility_definition: Some(responsibility_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_responsibility_definition(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetResponsibilityDefinitionRequest>,
) -> Result<Response<pb::GetResponsibilityDefinitionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id("responsibility_id", &request.get_ref().responsibility_id, ResponsibilityId::parse);
    errors.finish()?;
    let definition = app.get_responsibility(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetResponsibilityDefinitionResponse {
        responsibility_definition: Some(responsibility_to_proto(&definition)),
    }))
}

pub(super) async fn update_responsibility_definition(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateResponsibilityDefinitionRequest>,
) -> Result<Response<pb::UpdateResponsibilityDefinitionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), &["name", "kind", "unique", "description"])?;
    let definition = request.responsibility_definition.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "responsibility_definition.responsibility_id",
        &definition.responsibility_id,
        ResponsibilityId::parse,
    );
    let mut changes = ResponsibilityChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => {
                changes.name = errors.required_text("responsibility_definition.name", &definition.name, NAME_MAX_LEN);
            }
            "kind" => {
                changes.kind =
                    required_responsibility_kind(&mut errors, "responsibility_definition.kind", definition.kind);
            }
            "unique" => changes.unique = Some(definition.unique),
            _ => {
                changes.description = Some(errors.optional_text(
                    "responsibility_definition.description",
                    &definition.description,
                    DESCRIPTION_MAX_LEN,
                ));
            }
        }
    }
    errors.finish()?;
    let written = app.update_responsibility(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateResponsibilityDefinitionResponse {
        responsibility_definition: Some(responsibility_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_responsibility_definition(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteResponsibilityDefinitionRequest>,
) -> Result<Response<pb::DeleteResponsibilityDefinitionResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("responsibility_id", &request.responsibility_id, ResponsibilityId::parse);
    errors.finish()?;
    let written = app.delete_responsibility(&caller, validated(id)?, request.force).await?;
    Ok(Response::new(pb::DeleteResponsibilityDefinitionResponse {
        cascaded_record_count: written.value,
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_responsibility_definitions(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListResponsibilityDefinitionsRequest>,
) -> Result<Response<pb::ListResponsibilityDefinitionsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let kind = if request.kind == pb::ResponsibilityKind::Unspecified as i32 {
        None
    } else {
        required_responsibility_kind(&mut errors, "kind", request.kind)
    };
    errors.finish()?;
    let (definitions, next_page_token) = app.list_responsibilities(&caller, validated(page)?, kind).await?;
    Ok(Response::new(pb::ListResponsibilityDefinitionsResponse {
        responsibility_definitions: definitions.iter().map(responsibility_to_proto).collect(),
        next_page_token,
    }))
}

// ------------------------------------------------------ relationship types

pub(super) async fn create_account_relationship_type(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateAccountRelationshipTypeRequest>,
) -> Result<Response<pb::CreateAccountRelationshipTypeResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let kind = request.account_relationship_type.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let name = errors.required_text("account_relationship_type.name", &kind.name, NAME_MAX_LEN);
    let from_kind = end_kind_from_proto(&mut errors, "account_relationship_type.from_kind", kind.from_kind);
    let to_kind = end_kind_from_proto(&mut errors, "account_relationship_type.to_kind", kind.to_kind);
    let label = errors.required_text("account_relationship_type.label", &kind.label, LABEL_MAX_LEN);
    let reverse_label =
        errors.required_text("account_relationship_type.reverse_label", &kind.reverse_label, LABEL_MAX_LEN);
    errors.finish()?;
    let new = NewRelationshipType {
        name: validated(name)?,
        from_kind: validated(from_kind)?,
        to_kind: validated(to_kind)?,
        label: validated(label)?,
        reverse_label: validated(reverse_label)?,
        active: kind.active.unwrap_or(true),
    };
    let written = app.create_relationship_type(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateAccountRelationshipTypeResponse {
        account_relationship_type: Some(relationship_type_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_account_relationship_type(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetAccountRelationshipTypeRequest>,
) -> Result<Response<pb::GetAccountRelationshipTypeResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "account_relationship_type_id",
        &request.get_ref().account_relationship_type_id,
        RelationshipTypeId::parse,
    );
    errors.finish()?;
    let kind = app.get_relationship_type(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetAccountRelationshipTypeResponse {
        account_relationship_type: Some(relationship_type_to_proto(&kind)),
    }))
}

pub(super) async fn update_account_relationship_type(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateAccountRelationshipTypeRequest>,
) -> Result<Response<pb::UpdateAccountRelationshipTypeResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(
        request.update_mask.as_ref(),
        &["name", "from_kind", "to_kind", "label", "reverse_label", "active"],
    )?;
    let kind = request.account_relationship_type.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "account_relationship_type.account_relationship_type_id",
        &kind.account_relationship_type_id,
        RelationshipTypeId::parse,
    );
    let mut changes = RelationshipTypeChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => changes.name = errors.required_text("account_relationship_type.name", &kind.name, NAME_MAX_LEN),
            "from_kind" => {
                changes.from_kind =
                    end_kind_from_proto(&mut errors, "account_relationship_type.from_kind", kind.from_kind);
            }
            "to_kind" => {
                changes.to_kind = end_kind_from_proto(&mut errors, "account_relationship_type.to_kind", kind.to_kind);
            }
            "label" => {
                changes.label = errors.required_text("account_relationship_type.label", &kind.label, LABEL_MAX_LEN);
            }
            "reverse_label" => {
                changes.reverse_label =
                    errors.required_text("account_relationship_type.reverse_label", &kind.reverse_label, LABEL_MAX_LEN);
            }
            _ => changes.active = Some(kind.active.unwrap_or(true)),
        }
    }
    errors.finish()?;
    let written = app.update_relationship_type(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateAccountRelationshipTypeResponse {
        account_relationship_type: Some(relationship_type_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_account_relationship_type(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteAccountRelationshipTypeRequest>,
) -> Result<Response<pb::DeleteAccountRelationshipTypeResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "account_relationship_type_id",
        &request.account_relationship_type_id,
        RelationshipTypeId::parse,
    );
    errors.finish()?;
    let written = app.delete_relationship_type(&caller, validated(id)?, request.confirm).await?;
    Ok(Response::new(pb::DeleteAccountRelationshipTypeResponse {
        deleted_relationship_count: written.value,
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_account_relationship_types(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListAccountRelationshipTypesRequest>,
) -> Result<Response<pb::ListAccountRelationshipTypesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (kinds, next_page_token) =
        app.list_relationship_types(&caller, validated(page)?, request.include_inactive).await?;
    Ok(Response::new(pb::ListAccountRelationshipTypesResponse {
        account_relationship_types: kinds.iter().map(relationship_type_to_proto).collect(),
        next_page_token,
    }))
}
