//! gRPC adapter of case-access: converts proto ⇄ domain and calls the app.
//! The RPCs not written here answer UNIMPLEMENTED (the generated default stubs).

use std::sync::Arc;

use csm_db::PageRequest;
use csm_errors::{CsmError, FieldErrors};
use csm_proto::case_access as pb;
use csm_proto::case_access::case_access_service_server::CaseAccessService;
use csm_proto::common;
use csm_server::Readiness;
use csm_types::{AccountId, CaseId, ConsumerId, GroupId, HouseholdId, InvalidId, ProfileId};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::CaseAccessApp;
use crate::app::{Access, Decided, freshness};
use crate::domain::case::Segment;
use crate::domain::record::{CaseRecord, CreateFor, Draft, STATES};
use crate::domain::table::{Action, Step, StepKind};
use crate::store::cases::CaseFilter;

pub struct CaseAccessGrpc {
    app: Arc<Readiness<CaseAccessApp>>,
}

impl CaseAccessGrpc {
    pub fn new(app: Arc<Readiness<CaseAccessApp>>) -> Self {
        Self { app }
    }
}

fn any_uuid(value: &str) -> Result<Uuid, InvalidId> {
    Uuid::parse_str(value.trim()).map_err(|_| InvalidId { kind: "id", value: value.to_owned() })
}

fn opt<T: ToString>(value: Option<T>) -> String {
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

fn segment_to_proto(segment: Segment) -> pb::Segment {
    match segment {
        Segment::B2b => pb::Segment::B2b,
        Segment::B2c => pb::Segment::B2c,
        Segment::ServiceOrg => pb::Segment::ServiceOrg,
        Segment::Employee => pb::Segment::Employee,
        Segment::Unspecified => pb::Segment::Unspecified,
    }
}

fn step_kind_to_proto(kind: StepKind) -> pb::PathStepKind {
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

fn path_to_proto(path: &[Step]) -> Vec<pb::PathStep> {
    path.iter()
        .map(|step| pb::PathStep {
            kind: step_kind_to_proto(step.kind) as i32,
            id: step.id.clone(),
            label: step.label.clone(),
        })
        .collect()
}

fn decision_to_proto(decided: &Decided) -> pb::Decision {
    pb::Decision {
        allowed: decided.outcome.allowed(),
        action: action_to_proto(decided.action) as i32,
        rule: decided.outcome.rule().to_owned(),
        path: path_to_proto(decided.outcome.path()),
        requires_license: decided.requires_license,
        license_escalated: false,
        consistency_token: decided.consistency_token.clone(),
    }
}

/// The enum value name without its prefix (`CASE_STATE_OPEN` → `OPEN`).
fn enum_code(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

fn state_to_proto(code: &str) -> i32 {
    pb::CaseState::from_str_name(&format!("CASE_STATE_{code}")).map(|state| state as i32).unwrap_or_default()
}

fn case_to_proto(case: &CaseRecord) -> pb::Case {
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
fn redact(mut case: pb::Case, external: bool) -> pb::Case {
    if external {
        case.escalation = pb::Escalation::Unspecified as i32;
        case.work_notes_list_profile_ids.clear();
    }
    case
}

fn draft_from_proto(draft: &pb::CaseDraft, errors: &mut FieldErrors) -> Draft {
    let id = |errors: &mut FieldErrors, field: &str, value: &str| {
        errors.optional_id(&format!("draft.{field}"), value, any_uuid)
    };
    let create_for = match pb::CreateFor::try_from(draft.create_for) {
        Ok(pb::CreateFor::Unspecified) => None,
        Ok(pb::CreateFor::Account) => Some(CreateFor::Account),
        Ok(pb::CreateFor::Consumer) => Some(CreateFor::Consumer),
        Ok(pb::CreateFor::BusinessLocation) => Some(CreateFor::BusinessLocation),
        Ok(pb::CreateFor::Myself) => Some(CreateFor::Myself),
        Err(_) => {
            errors.add("draft.create_for", "unknown value");
            None
        }
    };
    let short_description = errors.required_text("draft.short_description", &draft.short_description, 160);
    if draft.description.chars().count() > 10_000 {
        errors.add("draft.description", "at most 10000 characters");
    }
    let priority = match pb::Priority::try_from(draft.priority) {
        Ok(pb::Priority::Unspecified) => "MODERATE".to_owned(),
        Ok(priority) => enum_code(priority.as_str_name(), "PRIORITY_"),
        Err(_) => {
            errors.add("draft.priority", "unknown value");
            String::new()
        }
    };
    let channel = match pb::Channel::try_from(draft.channel) {
        Ok(pb::Channel::Unspecified) => "API".to_owned(),
        Ok(channel) => enum_code(channel.as_str_name(), "CHANNEL_"),
        Err(_) => {
            errors.add("draft.channel", "unknown value");
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
            errors.add(format!("draft.{field}"), "is set by the server");
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

fn freshness_of(consistency: &Option<common::Consistency>) -> Result<crate::app::cache::Freshness, CsmError> {
    match consistency.as_ref().and_then(|c| c.requirement.as_ref()) {
        Some(common::consistency::Requirement::AtLeastAsFresh(token)) => freshness(Some(token), false),
        Some(common::consistency::Requirement::FullyConsistent(true)) => freshness(None, true),
        _ => freshness(None, false),
    }
}

fn validated<T>(value: Option<T>) -> Result<T, Status> {
    value.ok_or_else(|| CsmError::internal("validated fields missing").into())
}

#[tonic::async_trait]
impl CaseAccessService for CaseAccessGrpc {
    async fn create_case(
        &self,
        request: Request<pb::CreateCaseRequest>,
    ) -> Result<Response<pb::CreateCaseResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        errors.optional_request_id(&request.request_id);
        let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
        let draft = match &request.draft {
            Some(draft) => Some(draft_from_proto(draft, &mut errors)),
            None => {
                errors.add("draft", "is required");
                None
            }
        };
        errors.finish()?;
        let draft = validated(draft)?;
        let profile = app.principal(&caller, profile, Access::Mutation).await?;
        // A mutation decides on fresh data.
        let ctx = app.context(profile, &crate::app::cache::Freshness::FullyConsistent).await?;
        let (case, decided, consistency_token) = app.create_case(&ctx, draft).await?;
        Ok(Response::new(pb::CreateCaseResponse {
            support_case: Some(redact(case_to_proto(&case), ctx.kind.is_external())),
            decision: Some(decision_to_proto(&decided)),
            consistency_token,
        }))
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::GetCaseResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
        let case = errors.required_id("case_id", &request.case_id, CaseId::parse);
        errors.finish()?;
        let freshness = freshness_of(&request.consistency)?;
        let profile = app.principal(&caller, profile, Access::Read).await?;
        let ctx = app.context(profile, &freshness).await?;
        let (case, decided, permitted) = app.get_case(&ctx, validated(case)?).await?;
        Ok(Response::new(pb::GetCaseResponse {
            support_case: Some(redact(case_to_proto(&case), ctx.kind.is_external())),
            permitted_actions: permitted.into_iter().map(|action| action_to_proto(action) as i32).collect(),
            consistency_token: decided.consistency_token.clone(),
            decision: Some(decision_to_proto(&decided)),
        }))
    }

    async fn list_visible_cases(
        &self,
        request: Request<pb::ListVisibleCasesRequest>,
    ) -> Result<Response<pb::ListVisibleCasesResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
        let account = errors.optional_id("account_id", &request.account_id, AccountId::parse);
        let sold_product = errors.optional_id("sold_product_id", &request.sold_product_id, any_uuid);
        let mut filter = CaseFilter { account, sold_product, ..CaseFilter::default() };
        for state in &request.states {
            match pb::CaseState::try_from(*state) {
                Ok(state) if state != pb::CaseState::Unspecified => {
                    let code = enum_code(state.as_str_name(), "CASE_STATE_");
                    debug_assert!(STATES.contains(&code.as_str()));
                    filter.states.push(code);
                }
                _ => errors.add("states", format!("unknown state {state}")),
            }
        }
        for segment in &request.segments {
            match pb::Segment::try_from(*segment) {
                Ok(pb::Segment::B2b) => filter.segments.push(Segment::B2b),
                Ok(pb::Segment::B2c) => filter.segments.push(Segment::B2c),
                Ok(pb::Segment::ServiceOrg) => filter.segments.push(Segment::ServiceOrg),
                Ok(pb::Segment::Employee) => filter.segments.push(Segment::Employee),
                _ => errors.add("segments", format!("unknown segment {segment}")),
            }
        }
        let page = match PageRequest::parse(request.page_size, &request.page_token) {
            Ok(page) => Some(page),
            Err(error) => {
                errors.add("page_token", error.message());
                None
            }
        };
        errors.finish()?;
        let page = validated(page)?;
        let before = match &page.after {
            Some(after) => Some(
                CaseId::parse(after)
                    .map_err(|_| CsmError::invalid_field("page_token", "is not a token returned by this service"))?,
            ),
            None => None,
        };
        let freshness = freshness_of(&request.consistency)?;
        let profile = app.principal(&caller, profile, Access::Read).await?;
        let ctx = app.context(profile, &freshness).await?;
        let (rows, consistency_token) = app.list_visible(&ctx, &filter, before, page.fetch_limit()).await?;
        let (rows, next_page_token) = page.finish(rows, |(case, _)| case.id.to_string());
        let external = ctx.kind.is_external();
        Ok(Response::new(pb::ListVisibleCasesResponse {
            cases: rows
                .into_iter()
                .map(|(case, requires_license)| pb::VisibleCase {
                    support_case: Some(redact(case_to_proto(&case), external)),
                    requires_license,
                })
                .collect(),
            next_page_token,
            consistency_token,
        }))
    }

    async fn check(&self, request: Request<pb::CheckRequest>) -> Result<Response<pb::CheckResponse>, Status> {
        let app = self.app.get()?;
        let caller = csm_auth::caller(&request)?;
        let request = request.into_inner();
        let mut errors = FieldErrors::new();
        let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
        let action = action_from_proto(request.action);
        let target = request.target.and_then(|target| target.resource);
        let mut case = None;
        let mut draft = None;
        match &target {
            Some(pb::target::Resource::CaseId(id)) => {
                case = errors.required_id("target.case_id", id, CaseId::parse);
                if action.is_none() || action.is_some_and(Action::is_create) {
                    errors.add("action", "must be READ, WRITE_* or DELETE for a case_id target");
                }
            }
            Some(pb::target::Resource::NewCase(new_case)) => {
                draft = Some(draft_from_proto(new_case, &mut errors));
                if action.is_some_and(|action| !action.is_create()) {
                    errors.add("action", "must be CREATE_SELF, CREATE_OBO or unspecified for a new_case target");
                }
            }
            Some(_) => {
                return Err(CsmError::unimplemented("Check on case tasks, sold products and install base items").into());
            }
            None => errors.add("target", "is required"),
        }
        errors.finish()?;
        let freshness = freshness_of(&request.consistency)?;
        let profile = app.principal(&caller, profile, Access::Read).await?;
        let ctx = app.context(profile, &freshness).await?;
        let decided = match (case, draft) {
            (Some(case), _) => app.decide_on_case(&ctx, case, validated(action)?).await?,
            (None, Some(draft)) => {
                let (mut decided, facts, _) = app.decide_create(&ctx, &draft).await?;
                // An explicit create action is decided as asked (the derived one otherwise).
                if let Some(asked) = action
                    && asked != decided.action
                {
                    decided.action = asked;
                    decided.outcome =
                        crate::domain::table::decide(&crate::domain::table::rules(&ctx, &app.settings, asked), &facts);
                }
                decided
            }
            (None, None) => return Err(CsmError::internal("validated fields missing").into()),
        };
        Ok(Response::new(pb::CheckResponse { decision: Some(decision_to_proto(&decided)) }))
    }
}
