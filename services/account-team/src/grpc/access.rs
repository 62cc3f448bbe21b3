//! gRPC handlers of responsibility access configurations (R5.2), related-party
//! configurations (R5.4, R5.5), account access records (R5.12) and partner
//! contact eligibility (R5.13).

use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::account_team as pb;
use csm_types::{AccountId, ProfileId, ResponsibilityId};
use tonic::{Request, Response, Status};

use super::AccountTeamGrpc;
use crate::domain::access::{
    AccessConfiguration, AccessConfigurationDraft, AccessConfigurationFilter, AccessLevel, AccountAccess,
    AccountAccessChanges, AssociationType, ConditionOperator, EligiblePartnerContact, FieldCondition, NewAccountAccess,
    PartnerContactPath, PartyEntityType, RecordTable, RelatedPartyConfiguration, RelatedPartyDraft, RelatedPartyFilter,
    check_conditions,
};

// ------------------------------------------------------------------ enum conversion

fn table_from_proto(value: i32) -> Result<Option<RecordTable>, ()> {
    use pb::RecordTable as P;
    Ok(Some(match P::try_from(value).map_err(|_| ())? {
        P::Unspecified => return Ok(None),
        P::Case => RecordTable::Case,
        P::CaseTask => RecordTable::CaseTask,
        P::SoldProduct => RecordTable::SoldProduct,
        P::InstallBase => RecordTable::InstallBase,
        P::Account => RecordTable::Account,
        P::Contact => RecordTable::Contact,
        P::Consumer => RecordTable::Consumer,
        P::Household => RecordTable::Household,
        P::AccountTeamMember => RecordTable::AccountTeamMember,
        P::ConsumerTeamMember => RecordTable::ConsumerTeamMember,
        P::HouseholdTeamMember => RecordTable::HouseholdTeamMember,
        P::ContactRelationship => RecordTable::ContactRelationship,
        P::ConsumerRelationship => RecordTable::ConsumerRelationship,
        P::HouseholdMemberRelationship => RecordTable::HouseholdMemberRelationship,
        P::CaseRelatedParty => RecordTable::CaseRelatedParty,
        P::SoldProductRelatedParty => RecordTable::SoldProductRelatedParty,
        P::InstallBaseRelatedParty => RecordTable::InstallBaseRelatedParty,
        P::CaseAffectedInstallBase => RecordTable::CaseAffectedInstallBase,
    }))
}

fn table_to_proto(table: RecordTable) -> pb::RecordTable {
    use pb::RecordTable as P;
    match table {
        RecordTable::Case => P::Case,
        RecordTable::CaseTask => P::CaseTask,
        RecordTable::SoldProduct => P::SoldProduct,
        RecordTable::InstallBase => P::InstallBase,
        RecordTable::Account => P::Account,
        RecordTable::Contact => P::Contact,
        RecordTable::Consumer => P::Consumer,
        RecordTable::Household => P::Household,
        RecordTable::AccountTeamMember => P::AccountTeamMember,
        RecordTable::ConsumerTeamMember => P::ConsumerTeamMember,
        RecordTable::HouseholdTeamMember => P::HouseholdTeamMember,
        RecordTable::ContactRelationship => P::ContactRelationship,
        RecordTable::ConsumerRelationship => P::ConsumerRelationship,
        RecordTable::HouseholdMemberRelationship => P::HouseholdMemberRelationship,
        RecordTable::CaseRelatedParty => P::CaseRelatedParty,
        RecordTable::SoldProductRelatedParty => P::SoldProductRelatedParty,
        RecordTable::InstallBaseRelatedParty => P::InstallBaseRelatedParty,
        RecordTable::CaseAffectedInstallBase => P::CaseAffectedInstallBase,
    }
}

/// A table field: unknown enum values are named; UNSPECIFIED is None.
fn table_field(errors: &mut FieldErrors, field: &str, value: i32) -> Option<RecordTable> {
    match table_from_proto(value) {
        Ok(table) => table,
        Err(()) => {
            errors.add(field, "is not a known RecordTable");
            None
        }
    }
}

fn entity_type_from_proto(value: i32) -> Option<PartyEntityType> {
    use pb::PartyEntityType as P;
    match P::try_from(value).ok()? {
        P::Unspecified => None,
        P::Contact => Some(PartyEntityType::Contact),
        P::Consumer => Some(PartyEntityType::Consumer),
        P::Account => Some(PartyEntityType::Account),
        P::User => Some(PartyEntityType::User),
        P::ServiceOrganization => Some(PartyEntityType::ServiceOrganization),
    }
}

fn entity_type_to_proto(kind: PartyEntityType) -> pb::PartyEntityType {
    match kind {
        PartyEntityType::Contact => pb::PartyEntityType::Contact,
        PartyEntityType::Consumer => pb::PartyEntityType::Consumer,
        PartyEntityType::Account => pb::PartyEntityType::Account,
        PartyEntityType::User => pb::PartyEntityType::User,
        PartyEntityType::ServiceOrganization => pb::PartyEntityType::ServiceOrganization,
    }
}

fn conditions_from_proto(
    errors: &mut FieldErrors,
    field: &str,
    conditions: &[pb::FieldCondition],
) -> Vec<FieldCondition> {
    let mut parsed = Vec::new();
    for (index, condition) in conditions.iter().enumerate() {
        use pb::ConditionOperator as P;
        let operator = match P::try_from(condition.operator) {
            Ok(P::Equals) => ConditionOperator::Equals,
            Ok(P::NotEquals) => ConditionOperator::NotEquals,
            Ok(P::In) => ConditionOperator::In,
            Ok(P::NotIn) => ConditionOperator::NotIn,
            Ok(P::IsEmpty) => ConditionOperator::IsEmpty,
            Ok(P::IsNotEmpty) => ConditionOperator::IsNotEmpty,
            Ok(P::Unspecified) | Err(_) => {
                errors.add(format!("{field}[{index}].operator"), "is required");
                continue;
            }
        };
        parsed.push(FieldCondition {
            field: condition.field.trim().to_owned(),
            operator,
            values: condition.values.clone(),
        });
    }
    parsed
}

fn conditions_to_proto(conditions: &[FieldCondition]) -> Vec<pb::FieldCondition> {
    conditions
        .iter()
        .map(|condition| pb::FieldCondition {
            field: condition.field.clone(),
            operator: match condition.operator {
                ConditionOperator::Equals => pb::ConditionOperator::Equals,
                ConditionOperator::NotEquals => pb::ConditionOperator::NotEquals,
                ConditionOperator::In => pb::ConditionOperator::In,
                ConditionOperator::NotIn => pb::ConditionOperator::NotIn,
                ConditionOperator::IsEmpty => pb::ConditionOperator::IsEmpty,
                ConditionOperator::IsNotEmpty => pb::ConditionOperator::IsNotEmpty,
            } as i32,
            values: condition.values.clone(),
        })
        .collect()
}

// ------------------------------------------------------------------ responsibility access configurations

fn access_to_proto(configuration: &AccessConfiguration) -> pb::ResponsibilityAccessConfiguration {
    pb::ResponsibilityAccessConfiguration {
        responsibility_access_configuration_id: configuration.id.to_string(),
        name: configuration.name.clone(),
        responsibility_id: configuration.responsibility.to_string(),
        active: Some(configuration.active),
        required_roles: configuration.required_roles.clone(),
        access_levels: configuration
            .access_levels
            .iter()
            .map(|level| {
                (match level {
                    AccessLevel::Read => pb::AccessLevel::Read,
                    AccessLevel::Write => pb::AccessLevel::Write,
                    AccessLevel::Full => pb::AccessLevel::Full,
                }) as i32
            })
            .collect(),
        accessible_table: table_to_proto(configuration.accessible_table) as i32,
        accessible_filter: conditions_to_proto(&configuration.accessible_filter),
        relationship_table: table_to_proto(configuration.relationship_table) as i32,
        relationship_filter: conditions_to_proto(&configuration.relationship_filter),
        association_type: match configuration.association_type {
            AssociationType::Simple => pb::AssociationType::Simple,
            AssociationType::Dependent => pb::AssociationType::Dependent,
            AssociationType::Advanced => pb::AssociationType::Advanced,
        } as i32,
        relationship_field: configuration.relationship_field.clone(),
        accessible_field: configuration.accessible_field.clone(),
        dependent_table: configuration.dependent_table.map(table_to_proto).unwrap_or(pb::RecordTable::Unspecified)
            as i32,
        dependent_relationship_field: configuration.dependent_relationship_field.clone(),
        dependent_accessible_field: configuration.dependent_accessible_field.clone(),
        advanced_resolver: configuration.advanced_resolver.clone(),
        seeded: configuration.seeded,
        create_time: csm_proto::some_timestamp(configuration.created_at),
        update_time: csm_proto::some_timestamp(configuration.updated_at),
    }
}

/// Applies the field `path` of the wire configuration to `draft` (all fields when `path` is None).
fn apply_access_field(
    errors: &mut FieldErrors,
    draft: &mut AccessConfigurationDraft,
    wire: &pb::ResponsibilityAccessConfiguration,
    path: Option<&str>,
) {
    const P: &str = "responsibility_access_configuration";
    let all = path.is_none();
    let is = |name: &str| all || path == Some(name);
    if is("name") {
        draft.name = wire.name.clone();
    }
    if is("responsibility_id") {
        draft.responsibility =
            errors.optional_id(&format!("{P}.responsibility_id"), &wire.responsibility_id, ResponsibilityId::parse);
    }
    if is("active") {
        draft.active = wire.active.unwrap_or(true);
    }
    if is("required_roles") {
        draft.required_roles = wire.required_roles.clone();
    }
    if is("access_levels") {
        let mut levels = Vec::new();
        for (index, level) in wire.access_levels.iter().enumerate() {
            match pb::AccessLevel::try_from(*level) {
                Ok(pb::AccessLevel::Read) => levels.push(AccessLevel::Read),
                Ok(pb::AccessLevel::Write) => levels.push(AccessLevel::Write),
                Ok(pb::AccessLevel::Full) => levels.push(AccessLevel::Full),
                _ => errors.add(format!("{P}.access_levels[{index}]"), "must be READ, WRITE or FULL"),
            }
        }
        draft.access_levels = levels;
    }
    if is("accessible_table") {
        draft.accessible_table = table_field(errors, &format!("{P}.accessible_table"), wire.accessible_table);
    }
    if is("accessible_filter") {
        draft.accessible_filter =
            conditions_from_proto(errors, &format!("{P}.accessible_filter"), &wire.accessible_filter);
    }
    if is("relationship_table") {
        draft.relationship_table = table_field(errors, &format!("{P}.relationship_table"), wire.relationship_table);
    }
    if is("relationship_filter") {
        draft.relationship_filter =
            conditions_from_proto(errors, &format!("{P}.relationship_filter"), &wire.relationship_filter);
    }
    if is("association_type") {
        draft.association_type = match pb::AssociationType::try_from(wire.association_type) {
            Ok(pb::AssociationType::Simple) => Some(AssociationType::Simple),
            Ok(pb::AssociationType::Dependent) => Some(AssociationType::Dependent),
            Ok(pb::AssociationType::Advanced) => Some(AssociationType::Advanced),
            _ => None,
        };
    }
    if is("relationship_field") {
        draft.relationship_field = wire.relationship_field.clone();
    }
    if is("accessible_field") {
        draft.accessible_field = wire.accessible_field.clone();
    }
    if is("dependent_table") {
        draft.dependent_table = table_field(errors, &format!("{P}.dependent_table"), wire.dependent_table);
    }
    if is("dependent_relationship_field") {
        draft.dependent_relationship_field = wire.dependent_relationship_field.clone();
    }
    if is("dependent_accessible_field") {
        draft.dependent_accessible_field = wire.dependent_accessible_field.clone();
    }
    if is("advanced_resolver") {
        draft.advanced_resolver = wire.advanced_resolver.clone();
    }
}

const ACCESS_UPDATE_PATHS: &[&str] = &[
    "name",
    "responsibility_id",
    "active",
    "required_roles",
    "access_levels",
    "accessible_table",
    "accessible_filter",
    "relationship_table",
    "relationship_filter",
    "association_type",
    "relationship_field",
    "accessible_field",
    "dependent_table",
    "dependent_relationship_field",
    "dependent_accessible_field",
    "advanced_resolver",
];

fn empty_draft() -> AccessConfigurationDraft {
    AccessConfigurationDraft {
        name: String::new(),
        responsibility: None,
        active: true,
        required_roles: Vec::new(),
        access_levels: Vec::new(),
        accessible_table: None,
        accessible_filter: Vec::new(),
        relationship_table: None,
        relationship_filter: Vec::new(),
        association_type: None,
        relationship_field: String::new(),
        accessible_field: String::new(),
        dependent_table: None,
        dependent_relationship_field: String::new(),
        dependent_accessible_field: String::new(),
        advanced_resolver: String::new(),
    }
}

pub(super) async fn create_responsibility_access_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateResponsibilityAccessConfigurationRequest>,
) -> Result<Response<pb::CreateResponsibilityAccessConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let wire = request.responsibility_access_configuration.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let mut draft = empty_draft();
    apply_access_field(&mut errors, &mut draft, &wire, None);
    errors.finish()?;
    let written = app.create_access_configuration(&caller, request_id.as_deref(), draft).await?;
    Ok(Response::new(pb::CreateResponsibilityAccessConfigurationResponse {
        responsibility_access_configuration: Some(access_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_responsibility_access_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetResponsibilityAccessConfigurationRequest>,
) -> Result<Response<pb::GetResponsibilityAccessConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid(
        "responsibility_access_configuration_id",
        &request.get_ref().responsibility_access_configuration_id,
    );
    errors.finish()?;
    let configuration = app.get_access_configuration(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetResponsibilityAccessConfigurationResponse {
        responsibility_access_configuration: Some(access_to_proto(&configuration)),
    }))
}

pub(super) async fn update_responsibility_access_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateResponsibilityAccessConfigurationRequest>,
) -> Result<Response<pb::UpdateResponsibilityAccessConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), ACCESS_UPDATE_PATHS)?;
    let wire = request.responsibility_access_configuration.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid(
        "responsibility_access_configuration.responsibility_access_configuration_id",
        &wire.responsibility_access_configuration_id,
    );
    // Parse the masked fields once to report wire errors before reading the row.
    let mut probe = empty_draft();
    for path in &paths {
        apply_access_field(&mut errors, &mut probe, &wire, Some(path));
    }
    errors.finish()?;
    let written = app
        .update_access_configuration(&caller, validated(id)?, |draft| {
            let mut ignored = FieldErrors::new();
            for path in &paths {
                apply_access_field(&mut ignored, draft, &wire, Some(path));
            }
        })
        .await?;
    Ok(Response::new(pb::UpdateResponsibilityAccessConfigurationResponse {
        responsibility_access_configuration: Some(access_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_responsibility_access_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteResponsibilityAccessConfigurationRequest>,
) -> Result<Response<pb::DeleteResponsibilityAccessConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid(
        "responsibility_access_configuration_id",
        &request.get_ref().responsibility_access_configuration_id,
    );
    errors.finish()?;
    let written = app.delete_access_configuration(&caller, validated(id)?).await?;
    Ok(Response::new(pb::DeleteResponsibilityAccessConfigurationResponse {
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_responsibility_access_configurations(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListResponsibilityAccessConfigurationsRequest>,
) -> Result<Response<pb::ListResponsibilityAccessConfigurationsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let responsibility = errors.optional_id("responsibility_id", &request.responsibility_id, ResponsibilityId::parse);
    let accessible_table = table_field(&mut errors, "accessible_table", request.accessible_table);
    errors.finish()?;
    let filter = AccessConfigurationFilter { responsibility, accessible_table, active_only: request.active_only };
    let (rows, next_page_token) = app.list_access_configurations(&caller, filter, validated(page)?).await?;
    Ok(Response::new(pb::ListResponsibilityAccessConfigurationsResponse {
        responsibility_access_configurations: rows.iter().map(access_to_proto).collect(),
        next_page_token,
    }))
}

// ------------------------------------------------------------------ related-party configurations

fn related_party_to_proto(configuration: &RelatedPartyConfiguration) -> pb::RelatedPartyConfiguration {
    pb::RelatedPartyConfiguration {
        related_party_configuration_id: configuration.id.to_string(),
        name: configuration.name.clone(),
        applies_to: table_to_proto(configuration.applies_to) as i32,
        entity_type: entity_type_to_proto(configuration.entity_type) as i32,
        reference_condition: conditions_to_proto(&configuration.reference_condition),
        default_responsibility_id: configuration.default_responsibility.map(|id| id.to_string()).unwrap_or_default(),
        default_order: configuration.default_order,
        listed: configuration.listed(),
        seeded: configuration.seeded,
        create_time: csm_proto::some_timestamp(configuration.created_at),
        update_time: csm_proto::some_timestamp(configuration.updated_at),
    }
}

const RELATED_PARTY_UPDATE_PATHS: &[&str] =
    &["name", "applies_to", "entity_type", "reference_condition", "default_responsibility_id", "default_order"];

/// Parses the fields of a wire related-party configuration named by `paths` (all when None)
/// into `draft`, naming every bad field.
fn apply_related_party_fields(
    errors: &mut FieldErrors,
    draft: &mut RelatedPartyDraft,
    wire: &pb::RelatedPartyConfiguration,
    paths: Option<&[String]>,
) {
    const P: &str = "related_party_configuration";
    let is = |name: &str| paths.is_none_or(|paths| paths.iter().any(|path| path == name));
    if is("name")
        && let Some(name) = errors.required_text(&format!("{P}.name"), &wire.name, 200)
    {
        draft.name = name;
    }
    if is("applies_to") {
        match table_field(errors, &format!("{P}.applies_to"), wire.applies_to) {
            Some(table) if table.is_related_party_target() => draft.applies_to = table,
            _ => errors.add(
                format!("{P}.applies_to"),
                "must be CASE, SOLD_PRODUCT, INSTALL_BASE, CONSUMER_RELATIONSHIP, HOUSEHOLD_MEMBER_RELATIONSHIP, \
                 ACCOUNT_TEAM_MEMBER, CONSUMER_TEAM_MEMBER, HOUSEHOLD_TEAM_MEMBER or CONTACT_RELATIONSHIP",
            ),
        }
    }
    if is("entity_type") {
        match entity_type_from_proto(wire.entity_type) {
            Some(kind) => draft.entity_type = kind,
            None => errors.add(format!("{P}.entity_type"), "is required"),
        }
    }
    if is("reference_condition") {
        let conditions = conditions_from_proto(errors, &format!("{P}.reference_condition"), &wire.reference_condition);
        check_conditions(errors, &format!("{P}.reference_condition"), None, &conditions);
        draft.reference_condition = conditions;
    }
    if is("default_responsibility_id") {
        draft.default_responsibility = errors.optional_id(
            &format!("{P}.default_responsibility_id"),
            &wire.default_responsibility_id,
            ResponsibilityId::parse,
        );
    }
    if is("default_order") {
        draft.default_order = wire.default_order;
    }
}

pub(super) async fn create_related_party_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateRelatedPartyConfigurationRequest>,
) -> Result<Response<pb::CreateRelatedPartyConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let wire = request.related_party_configuration.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let mut draft = RelatedPartyDraft {
        name: String::new(),
        applies_to: RecordTable::Case,
        entity_type: PartyEntityType::Contact,
        reference_condition: Vec::new(),
        default_responsibility: None,
        default_order: 0,
    };
    apply_related_party_fields(&mut errors, &mut draft, &wire, None);
    errors.finish()?;
    let written = app.create_related_party(&caller, request_id.as_deref(), draft).await?;
    Ok(Response::new(pb::CreateRelatedPartyConfigurationResponse {
        related_party_configuration: Some(related_party_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_related_party_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetRelatedPartyConfigurationRequest>,
) -> Result<Response<pb::GetRelatedPartyConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("related_party_configuration_id", &request.get_ref().related_party_configuration_id);
    errors.finish()?;
    let configuration = app.get_related_party(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetRelatedPartyConfigurationResponse {
        related_party_configuration: Some(related_party_to_proto(&configuration)),
    }))
}

pub(super) async fn update_related_party_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateRelatedPartyConfigurationRequest>,
) -> Result<Response<pb::UpdateRelatedPartyConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), RELATED_PARTY_UPDATE_PATHS)?;
    let wire = request.related_party_configuration.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid(
        "related_party_configuration.related_party_configuration_id",
        &wire.related_party_configuration_id,
    );
    let mut probe = RelatedPartyDraft {
        name: String::new(),
        applies_to: RecordTable::Case,
        entity_type: PartyEntityType::Contact,
        reference_condition: Vec::new(),
        default_responsibility: None,
        default_order: 0,
    };
    apply_related_party_fields(&mut errors, &mut probe, &wire, Some(&paths));
    errors.finish()?;
    let written = app
        .update_related_party(&caller, validated(id)?, |draft| {
            apply_related_party_fields(&mut FieldErrors::new(), draft, &wire, Some(&paths));
        })
        .await?;
    Ok(Response::new(pb::UpdateRelatedPartyConfigurationResponse {
        related_party_configuration: Some(related_party_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_related_party_configuration(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteRelatedPartyConfigurationRequest>,
) -> Result<Response<pb::DeleteRelatedPartyConfigurationResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("related_party_configuration_id", &request.get_ref().related_party_configuration_id);
    errors.finish()?;
    let written = app.delete_related_party(&caller, validated(id)?).await?;
    Ok(Response::new(pb::DeleteRelatedPartyConfigurationResponse { consistency_token: written.consistency_token }))
}

pub(super) async fn list_related_party_configurations(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListRelatedPartyConfigurationsRequest>,
) -> Result<Response<pb::ListRelatedPartyConfigurationsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let applies_to = table_field(&mut errors, "applies_to", request.applies_to);
    let entity_type = entity_type_from_proto(request.entity_type);
    if entity_type.is_none() && request.entity_type != 0 {
        errors.add("entity_type", "is not a known PartyEntityType");
    }
    errors.finish()?;
    let filter = RelatedPartyFilter { applies_to, entity_type };
    let (rows, next_page_token) = app.list_related_parties(&caller, filter, validated(page)?).await?;
    Ok(Response::new(pb::ListRelatedPartyConfigurationsResponse {
        related_party_configurations: rows.iter().map(related_party_to_proto).collect(),
        next_page_token,
    }))
}

// ------------------------------------------------------------------ account access

pub(crate) fn account_access_to_proto(access: &AccountAccess) -> pb::AccountAccess {
    pb::AccountAccess {
        account_access_id: access.id.to_string(),
        account_id: access.account.to_string(),
        restrict_contact_access: access.restrict_contact_access,
        allowed_contact_ids: access.allowed_contacts.iter().map(ToString::to_string).collect(),
        restrict_account_access: access.restrict_account_access,
        create_time: csm_proto::some_timestamp(access.created_at),
        update_time: csm_proto::some_timestamp(access.updated_at),
    }
}

fn contact_ids(errors: &mut FieldErrors, field: &str, values: &[String]) -> Vec<ProfileId> {
    let mut contacts = Vec::new();
    for (index, value) in values.iter().enumerate() {
        if let Some(contact) = errors.required_id(&format!("{field}[{index}]"), value, ProfileId::parse)
            && !contacts.contains(&contact)
        {
            contacts.push(contact);
        }
    }
    contacts
}

pub(super) async fn create_account_access(
    grpc: &AccountTeamGrpc,
    request: Request<pb::CreateAccountAccessRequest>,
) -> Result<Response<pb::CreateAccountAccessResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let wire = request.account_access.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let account = errors.required_id("account_access.account_id", &wire.account_id, AccountId::parse);
    let allowed_contacts = contact_ids(&mut errors, "account_access.allowed_contact_ids", &wire.allowed_contact_ids);
    errors.finish()?;
    let new = NewAccountAccess {
        account: validated(account)?,
        restrict_contact_access: wire.restrict_contact_access,
        allowed_contacts,
        restrict_account_access: wire.restrict_account_access,
    };
    let written = app.create_account_access(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateAccountAccessResponse {
        account_access: Some(account_access_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_account_access(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetAccountAccessRequest>,
) -> Result<Response<pb::GetAccountAccessResponse>, Status> {
    use pb::get_account_access_request::Key;
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let access = match &request.get_ref().key {
        Some(Key::AccountAccessId(id)) => {
            let id = errors.required_uuid("account_access_id", id);
            errors.finish()?;
            app.get_account_access(&caller, validated(id)?).await?
        }
        Some(Key::AccountId(account)) => {
            let account = errors.required_id("account_id", account, AccountId::parse);
            errors.finish()?;
            app.get_account_access_of(&caller, validated(account)?).await?
        }
        None => {
            errors.add("key", "account_access_id or account_id is required");
            errors.finish()?;
            return Err(Status::internal("unreachable"));
        }
    };
    Ok(Response::new(pb::GetAccountAccessResponse { account_access: Some(account_access_to_proto(&access)) }))
}

pub(super) async fn update_account_access(
    grpc: &AccountTeamGrpc,
    request: Request<pb::UpdateAccountAccessRequest>,
) -> Result<Response<pb::UpdateAccountAccessResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(
        request.update_mask.as_ref(),
        &["restrict_contact_access", "allowed_contact_ids", "restrict_account_access"],
    )?;
    let wire = request.account_access.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("account_access.account_access_id", &wire.account_access_id);
    let mut changes = AccountAccessChanges::default();
    for path in &paths {
        match path.as_str() {
            "restrict_contact_access" => changes.restrict_contact_access = Some(wire.restrict_contact_access),
            "restrict_account_access" => changes.restrict_account_access = Some(wire.restrict_account_access),
            _ => {
                changes.allowed_contacts =
                    Some(contact_ids(&mut errors, "account_access.allowed_contact_ids", &wire.allowed_contact_ids))
            }
        }
    }
    errors.finish()?;
    let written = app.update_account_access(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateAccountAccessResponse {
        account_access: Some(account_access_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn delete_account_access(
    grpc: &AccountTeamGrpc,
    request: Request<pb::DeleteAccountAccessRequest>,
) -> Result<Response<pb::DeleteAccountAccessResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_uuid("account_access_id", &request.get_ref().account_access_id);
    errors.finish()?;
    let written = app.delete_account_access(&caller, validated(id)?).await?;
    Ok(Response::new(pb::DeleteAccountAccessResponse { consistency_token: written.consistency_token }))
}

pub(super) async fn list_account_accesses(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListAccountAccessesRequest>,
) -> Result<Response<pb::ListAccountAccessesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let (rows, next_page_token) = app.list_account_accesses(&caller, request.restricted_only, validated(page)?).await?;
    Ok(Response::new(pb::ListAccountAccessesResponse {
        account_accesses: rows.iter().map(account_access_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_eligible_partner_contacts(
    grpc: &AccountTeamGrpc,
    request: Request<pb::ListEligiblePartnerContactsRequest>,
) -> Result<Response<pb::ListEligiblePartnerContactsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let account = errors.required_id("account_id", &request.account_id, AccountId::parse);
    let partner = errors.optional_id("partner_account_id", &request.partner_account_id, AccountId::parse);
    errors.finish()?;
    let (rows, next_page_token) =
        app.list_eligible_partner_contacts(&caller, validated(account)?, partner, validated(page)?).await?;
    Ok(Response::new(pb::ListEligiblePartnerContactsResponse {
        eligible_partner_contacts: rows.iter().map(eligible_partner_to_proto).collect(),
        next_page_token,
    }))
}

fn eligible_partner_to_proto(contact: &EligiblePartnerContact) -> pb::EligiblePartnerContact {
    pb::EligiblePartnerContact {
        contact_id: contact.contact.to_string(),
        partner_account_id: contact.partner_account.to_string(),
        path: match contact.path {
            PartnerContactPath::AllPartnerContacts => pb::PartnerContactEligibilityPath::AllPartnerContacts,
            PartnerContactPath::PartnerAdmin => pb::PartnerContactEligibilityPath::PartnerAdmin,
        } as i32,
    }
}
