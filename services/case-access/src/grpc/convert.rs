//! Conversions shared by the case-access gRPC modules (proto ⇄ domain),
//! request validation helpers and the decision / case messages.

use csm_errors::{CsmError, FieldErrors};
use csm_proto::case_access as pb;
use csm_proto::common;
use csm_types::{AccountId, ConsumerId, GroupId, HouseholdId, InvalidId, ProfileId};
use tonic::Status;
use uuid::Uuid;

use crate::app::{Decided, freshness};
use crate::domain::case::Segment;
use crate::domain::record::{CaseRecord, CreateFor, Draft};
use crate::domain::table::{Action, Step, StepKind};

pub(crate) fn any_uuid(value: &str) -> Result<Uuid, InvalidId> {
    Uuid::parse_str(value.trim()).map_err(|_| InvalidId { kind: "id", value: value.to_owned() })
}

pub(crate) fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

pub fn action_from_proto(value: i32) -> Option<Action> {
    Some(match pb::Action::try_from(value).ok()? {
        pb::Action::Read => Action::Read,
        pb::Action::WriteFull => Action::WriteFull,
        pb::Action::WriteCustomer => Action::WriteCustomer,
        pb::Action::WriteLimited => Action::WriteLimited,
        pb::Action::CreateSelf => Action::CreateSelf,
        pb::Action::CreateObo => Action::CreateObo,
        pb::Action::Delete => Action::Delete,
        pb::Action::Unspecified => return None,
    })
}

pub fn action_to_proto(action: Action) -> pb::Action {
    match action {
        Action::Read => pb::Action::Read,
        Action::WriteFull => pb::Action::WriteFull,
        Action::WriteCustomer => pb::Action::WriteCustomer,
        Action::WriteLimited => pb::Action::WriteLimited,
        Action::CreateSelf => pb::Action::CreateSelf,
        Action::CreateObo => pb::Action::CreateObo,
        Action::Delete => pb::Action::Delete,
    }
}

pub(crate) fn segment_to_proto(segment: Segment) -> pb::Segment {
    match segment {
        Segment::B2b => pb::Segment::B2b,
        Segment::B2c => pb::Segment::B2c,
        Segment::ServiceOrg => pb::Segment::ServiceOrg,
        Segment::Employee => pb::Segment::Employee,
        Segment::Unspecified => pb::Segment::Unspecified,
    }
}

pub(crate) fn step_kind_to_proto(kind: StepKind) -> pb::PathStepKind {
    match kind {
        StepKind::Profile => pb::PathStepKind::Profile,
        StepKind::Role => pb::PathStepKind::Role,
        StepKind::Group => pb::PathStepKind::Group,
        StepKind::Account => pb::PathStepKind::Account,
        StepKind::AccountRelationship => pb::PathStepKind::AccountRelationship,
        StepKind::ContactRelationship => pb::PathStepKind::ContactRelationship,
        StepKind::TeamMember => pb::PathStepKind::TeamMember,
        StepKind::Consumer => pb::PathStepKind::Consumer,
        StepKind::Household => pb::PathStepKind::Household,
        StepKind::ConsumerRelationship => pb::PathStepKind::ConsumerRelationship,
        StepKind::AccessConfiguration => pb::PathStepKind::ResponsibilityAccessConfiguration,
        StepKind::RelatedParty => pb::PathStepKind::RelatedParty,
        StepKind::SoldProduct => pb::PathStepKind::SoldProduct,
        StepKind::CaseField => pb::PathStepKind::CaseField,
        StepKind::SecurityGroup => pb::PathStepKind::SecurityGroup,
        StepKind::Setting => pb::PathStepKind::Setting,
    }
}

pub(crate) fn path_to_proto(path: &[Step]) -> Vec<pb::PathStep> {
    path.iter()
        .map(|step| pb::PathStep {
            kind: step_kind_to_proto(step.kind) as i32,
            id: step.id.clone(),
            label: step.label.clone(),
        })
        .collect()
}

pub(crate) fn decision_to_proto(decided: &Decided) -> pb::Decision {
    pb::Decision {
        allowed: decided.outcome.allowed(),
        action: action_to_proto(decided.action) as i32,
        rule: decided.outcome.rule().to_owned(),
        path: path_to_proto(decided.outcome.path()),
        requires_license: decided.requires_license,
        license_escalated: decided.license_escalated,
        consistency_token: decided.consistency_token.clone(),
    }
}

/// The enum value name without its prefix (`CASE_STATE_OPEN` → `OPEN`).
pub(crate) fn enum_code(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

pub(crate) fn state_to_proto(code: &str) -> i32 {
    pb::CaseState::from_str_name(&format!("CASE_STATE_{code}")).map(|state| state as i32).unwrap_or_default()
}

pub(crate) fn case_to_proto(case: &CaseRecord) -> pb::Case {
    pb::Case {
        case_id: case.id.to_string(),
        number: case.number.clone(),
        short_description: case.short_description.clone(),
        description: case.description.clone(),
        state: state_to_proto(&case.state),
        priority: pb::Priority::from_str_name(&format!("PRIORITY_{}", case.priority))
            .map(|p| p as i32)
            .unwrap_or_default(),
        channel: pb::Channel::from_str_name(&format!("CHANNEL_{}", case.channel)).map(|c| c as i32).unwrap_or_default(),
        segment: segment_to_proto(case.segment) as i32,
        account_id: opt(case.account),
        contact_id: opt(case.contact),
        consumer_id: opt(case.consumer),
        household_id: opt(case.household),
        consumer_profile_id: opt(case.consumer_profile),
        partner_account_id: opt(case.partner_account),
        partner_contact_id: opt(case.partner_contact),
        internal_contact_profile_id: opt(case.internal_contact),
        requestor_organization_id: opt(case.requestor_organization),
        requested_by_profile_id: opt(case.requested_by),
        opened_by_profile_id: case.opened_by.to_string(),
        service_organization_id: opt(case.service_organization),
        sold_product_id: opt(case.sold_product),
        install_base_item_id: opt(case.install_base_item),
        affected_install_base_item_ids: Vec::new(),
        contributor_profile_ids: case.contributor_users.iter().map(ToString::to_string).collect(),
        contributor_group_ids: case.contributor_groups.iter().map(ToString::to_string).collect(),
        watch_list_profile_ids: Vec::new(),
        work_notes_list_profile_ids: Vec::new(),
        assignment_group_id: opt(case.assignment_group),
        assigned_to_profile_id: opt(case.assigned_to),
        owner_profile_id: opt(case.owner),
        owner_group_id: opt(case.owner_group),
        escalation: pb::Escalation::from_str_name(&format!("ESCALATION_{}", case.escalation))
            .map(|e| e as i32)
            .unwrap_or_default(),
        close_notes: case.close_notes.clone(),
        created_at: Some(csm_proto::timestamp(case.created_at)),
        updated_at: Some(csm_proto::timestamp(case.updated_at)),
        closed_at: case.closed_at.map(csm_proto::timestamp),
    }
}

/// Hides what external principals never see (R4.4: escalation; work notes list).
pub(crate) fn redact(mut case: pb::Case, external: bool) -> pb::Case {
    if external {
        case.escalation = pb::Escalation::Unspecified as i32;
        case.work_notes_list_profile_ids.clear();
    }
    case
}

/// A draft from its message; field errors are named under `prefix` (e.g. "draft", "target.new_case").
pub(crate) fn draft_from_proto(draft: &pb::CaseDraft, prefix: &str, errors: &mut FieldErrors) -> Draft {
    let id = |errors: &mut FieldErrors, field: &str, value: &str| {
        errors.optional_id(&format!("{prefix}.{field}"), value, any_uuid)
    };
    let create_for = match pb::CreateFor::try_from(draft.create_for) {
        Ok(pb::CreateFor::Unspecified) => None,
        Ok(pb::CreateFor::Account) => Some(CreateFor::Account),
        Ok(pb::CreateFor::Consumer) => Some(CreateFor::Consumer),
        Ok(pb::CreateFor::BusinessLocation) => Some(CreateFor::BusinessLocation),
        Ok(pb::CreateFor::Myself) => Some(CreateFor::Myself),
        Err(_) => {
            errors.add(format!("{prefix}.create_for"), "unknown value");
            None
        }
    };
    let short_description = errors.required_text(&format!("{prefix}.short_description"), &draft.short_description, 160);
    if draft.description.chars().count() > 10_000 {
        errors.add(format!("{prefix}.description"), "at most 10000 characters");
    }
    let priority = match pb::Priority::try_from(draft.priority) {
        Ok(pb::Priority::Unspecified) => "MODERATE".to_owned(),
        Ok(priority) => enum_code(priority.as_str_name(), "PRIORITY_"),
        Err(_) => {
            errors.add(format!("{prefix}.priority"), "unknown value");
            String::new()
        }
    };
    let channel = match pb::Channel::try_from(draft.channel) {
        Ok(pb::Channel::Unspecified) => "API".to_owned(),
        Ok(channel) => enum_code(channel.as_str_name(), "CHANNEL_"),
        Err(_) => {
            errors.add(format!("{prefix}.channel"), "unknown value");
            String::new()
        }
    };
    // Server-stamped fields cannot be supplied (contract: CreateCase).
    for (field, value) in [
        ("partner_account_id", &draft.partner_account_id),
        ("internal_contact_profile_id", &draft.internal_contact_profile_id),
        ("requested_by_profile_id", &draft.requested_by_profile_id),
    ] {
        if !value.is_empty() {
            errors.add(format!("{prefix}.{field}"), "is set by the server");
        }
    }
    Draft {
        create_for,
        short_description: short_description.unwrap_or_default(),
        description: draft.description.clone(),
        priority,
        channel,
        account: id(errors, "account_id", &draft.account_id).map(AccountId::from_uuid),
        contact: id(errors, "contact_id", &draft.contact_id).map(ProfileId::from_uuid),
        consumer: id(errors, "consumer_id", &draft.consumer_id).map(ConsumerId::from_uuid),
        household: id(errors, "household_id", &draft.household_id).map(HouseholdId::from_uuid),
        consumer_profile: id(errors, "consumer_profile_id", &draft.consumer_profile_id).map(ProfileId::from_uuid),
        partner_contact: id(errors, "partner_contact_id", &draft.partner_contact_id).map(ProfileId::from_uuid),
        requestor_organization: id(errors, "requestor_organization_id", &draft.requestor_organization_id),
        service_organization: id(errors, "service_organization_id", &draft.service_organization_id),
        sold_product: id(errors, "sold_product_id", &draft.sold_product_id),
        install_base_item: id(errors, "install_base_item_id", &draft.install_base_item_id),
        assignment_group: id(errors, "assignment_group_id", &draft.assignment_group_id).map(GroupId::from_uuid),
        assigned_to: id(errors, "assigned_to_profile_id", &draft.assigned_to_profile_id).map(ProfileId::from_uuid),
        owner: id(errors, "owner_profile_id", &draft.owner_profile_id).map(ProfileId::from_uuid),
        owner_group: id(errors, "owner_group_id", &draft.owner_group_id).map(GroupId::from_uuid),
    }
}

pub(crate) fn freshness_of(
    consistency: &Option<common::Consistency>,
) -> Result<crate::app::cache::Freshness, CsmError> {
    match consistency.as_ref().and_then(|c| c.requirement.as_ref()) {
        Some(common::consistency::Requirement::AtLeastAsFresh(token)) => freshness(Some(token), false),
        Some(common::consistency::Requirement::FullyConsistent(true)) => freshness(None, true),
        _ => freshness(None, false),
    }
}

/// The evaluated principal's context at the request's freshness (reads).
pub(crate) async fn read_context(
    app: &crate::CaseAccessApp,
    caller: &csm_auth::Caller,
    profile: Option<ProfileId>,
    consistency: &Option<common::Consistency>,
) -> Result<std::sync::Arc<crate::domain::principal::PrincipalContext>, Status> {
    Ok(read_context_and_cases(app, caller, profile, consistency).await?.0)
}

/// The evaluated principal's context and how the request reads case facts,
/// at the request's freshness (reads that decide on stored cases).
pub(crate) async fn read_context_and_cases(
    app: &crate::CaseAccessApp,
    caller: &csm_auth::Caller,
    profile: Option<ProfileId>,
    consistency: &Option<common::Consistency>,
) -> Result<(std::sync::Arc<crate::domain::principal::PrincipalContext>, crate::app::case_cache::CaseRead), Status> {
    let freshness = freshness_of(consistency)?;
    let profile = app.principal(caller, profile, crate::app::Access::Read).await?;
    Ok(app.read_context(profile, &freshness).await?)
}

/// The evaluated principal's context for a mutation, at the request's
/// freshness ([`crate::CaseAccessApp::mutation_context`]).
pub(crate) async fn mutation_context(
    app: &crate::CaseAccessApp,
    caller: &csm_auth::Caller,
    profile: Option<ProfileId>,
    consistency: &Option<common::Consistency>,
) -> Result<std::sync::Arc<crate::domain::principal::PrincipalContext>, Status> {
    let freshness = freshness_of(consistency)?;
    let profile = app.principal(caller, profile, crate::app::Access::Mutation).await?;
    Ok(app.mutation_context(profile, &freshness).await?)
}

/// The optional licence session of a request (§7).
pub(crate) fn license_session(errors: &mut FieldErrors, value: &str) -> Option<Uuid> {
    errors.optional_id("license_session_id", value, any_uuid)
}
