//! Pure rules of the work on cases: which action an UpdateCase needs (R4.2,
//! R4.18), case state transitions, decisions on case tasks (R4.15, R4.19),
//! contributor-field maintenance (R4.20), who is rate limited (R1.16) and
//! how an inbound email's sender is treated (R4.21).
//!
//! Decisions on tasks are a small table ([`TASK_TABLE`]) over the case
//! decision table: GetCaseTask, ListCaseTasks (compiled to SQL by the store)
//! and Check on a case_task target all read it.

use csm_types::roles;
use std::collections::BTreeSet;

use csm_types::{GroupId, ProfileId};

use super::case::{CaseFacts, TaskFacts};
use super::principal::{PrincipalContext, PrincipalKind};
use super::table::{
    self, Action, CASE_TASK_AGENT, Outcome, PROXY_CONTACT, Rules, SNC_INTERNAL, Step, StepKind, TableSettings,
    UNIFIED_CONSUMER,
};

/// X11: the proxy contact role's alias in one newer roles-table build.
pub const PROXY_CONTACT_ALIAS: &str = roles::CSM_PROXY_CONT;
pub use csm_types::roles::{CASE_TASK_VIEWER, SNC_EXTERNAL};

// ------------------------------------------------------------ case updates

/// How UpdateCase may write a Case field (contract: Case field comments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldClass {
    /// Needs WRITE_FULL.
    Full,
    /// Needs WRITE_LIMITED (R4.18).
    Limited,
    /// Set by the server only.
    Output,
}

/// Every Case field by its proto name, with its write class.
pub const CASE_FIELDS: &[(&str, FieldClass)] = &[
    ("case_id", FieldClass::Output),
    ("number", FieldClass::Output),
    ("short_description", FieldClass::Full),
    ("description", FieldClass::Full),
    ("state", FieldClass::Limited),
    ("priority", FieldClass::Full),
    ("channel", FieldClass::Output),
    ("segment", FieldClass::Output),
    ("account_id", FieldClass::Full),
    ("contact_id", FieldClass::Full),
    ("consumer_id", FieldClass::Full),
    ("household_id", FieldClass::Full),
    ("consumer_profile_id", FieldClass::Full),
    ("partner_account_id", FieldClass::Full),
    ("partner_contact_id", FieldClass::Full),
    ("internal_contact_profile_id", FieldClass::Full),
    ("requestor_organization_id", FieldClass::Full),
    ("requested_by_profile_id", FieldClass::Full),
    ("opened_by_profile_id", FieldClass::Output),
    ("service_organization_id", FieldClass::Full),
    ("sold_product_id", FieldClass::Full),
    ("install_base_item_id", FieldClass::Full),
    ("affected_install_base_item_ids", FieldClass::Full),
    ("contributor_profile_ids", FieldClass::Limited),
    ("contributor_group_ids", FieldClass::Limited),
    ("watch_list_profile_ids", FieldClass::Limited),
    ("work_notes_list_profile_ids", FieldClass::Limited),
    ("assignment_group_id", FieldClass::Full),
    ("assigned_to_profile_id", FieldClass::Full),
    ("owner_profile_id", FieldClass::Full),
    ("owner_group_id", FieldClass::Full),
    ("escalation", FieldClass::Full),
    ("close_notes", FieldClass::Full),
    ("created_at", FieldClass::Output),
    ("updated_at", FieldClass::Output),
    ("closed_at", FieldClass::Output),
];

pub fn case_field_class(path: &str) -> Option<FieldClass> {
    CASE_FIELDS.iter().find(|(name, _)| *name == path).map(|(_, class)| *class)
}

/// Whether a case may move from `from` to `to` (codes as in [`super::record::STATES`]).
/// Staying in the same state is always allowed; CLOSED and CANCELLED are final;
/// a RESOLVED case is accepted (→ CLOSED) or rejected (→ OPEN).
pub fn case_transition_allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    match from {
        "NEW" => matches!(to, "OPEN" | "AWAITING_INFO" | "RESOLVED" | "CLOSED" | "CANCELLED"),
        "OPEN" => matches!(to, "AWAITING_INFO" | "RESOLVED" | "CLOSED" | "CANCELLED"),
        "AWAITING_INFO" => matches!(to, "OPEN" | "RESOLVED" | "CLOSED" | "CANCELLED"),
        "RESOLVED" => matches!(to, "OPEN" | "CLOSED"),
        _ => false,
    }
}

/// Whether `state` ends the case (closed_at is stamped on entering it).
pub fn case_state_is_final(state: &str) -> bool {
    matches!(state, "CLOSED" | "CANCELLED")
}

/// The action UpdateCase needs for `paths` (contract: UpdateCase): WRITE_CUSTOMER
/// for the customer's own transitions (close; accept or reject a solution),
/// WRITE_LIMITED when every path is [LIMITED] (R4.18), else WRITE_FULL.
/// `paths` must hold known, writable fields only.
pub fn update_action(paths: &BTreeSet<String>, from_state: &str, to_state: &str) -> Action {
    let customer_fields = paths.iter().all(|path| path == "state" || path == "close_notes");
    let customer_transition =
        to_state == "CLOSED" || (from_state == "RESOLVED" && matches!(to_state, "OPEN" | "CLOSED"));
    if paths.contains("state") && customer_fields && customer_transition && from_state != to_state {
        return Action::WriteCustomer;
    }
    if paths.iter().all(|path| case_field_class(path) == Some(FieldClass::Limited)) {
        return Action::WriteLimited;
    }
    Action::WriteFull
}

/// New values of an UpdateCase, already parsed; only the masked ones are applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseValues {
    pub short_description: String,
    pub description: String,
    pub state: String,
    pub priority: String,
    pub account: Option<csm_types::AccountId>,
    pub contact: Option<ProfileId>,
    pub consumer: Option<csm_types::ConsumerId>,
    pub household: Option<csm_types::HouseholdId>,
    pub consumer_profile: Option<ProfileId>,
    pub partner_account: Option<csm_types::AccountId>,
    pub partner_contact: Option<ProfileId>,
    pub internal_contact: Option<ProfileId>,
    pub requestor_organization: Option<uuid::Uuid>,
    pub requested_by: Option<ProfileId>,
    pub service_organization: Option<uuid::Uuid>,
    pub sold_product: Option<uuid::Uuid>,
    pub install_base_item: Option<uuid::Uuid>,
    pub affected_install_base_items: BTreeSet<uuid::Uuid>,
    pub contributor_users: BTreeSet<ProfileId>,
    pub contributor_groups: BTreeSet<GroupId>,
    pub watch_list: BTreeSet<ProfileId>,
    pub work_notes_list: BTreeSet<ProfileId>,
    pub assignment_group: Option<GroupId>,
    pub assigned_to: Option<ProfileId>,
    pub owner: Option<ProfileId>,
    pub owner_group: Option<GroupId>,
    pub escalation: String,
    pub close_notes: String,
}

/// Why an update cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// FAILED_PRECONDITION INVALID_STATE_TRANSITION.
    Transition { from: String, to: String },
    /// FAILED_PRECONDITION SEGMENT_CHANGE_FORBIDDEN (R4.1: no derivable segment).
    NoSegment,
}

/// Applies the masked scalar fields of `values` to `case` at `now` (the list
/// fields — watch lists, affected items — are written by the store), checks
/// the state transition and recomputes the segment (R4.1).
pub fn apply_update(
    case: &mut super::record::CaseRecord,
    values: &CaseValues,
    paths: &BTreeSet<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), UpdateError> {
    let has = |path: &str| paths.contains(path);
    if has("state") {
        if !case_transition_allowed(&case.state, &values.state) {
            return Err(UpdateError::Transition { from: case.state.clone(), to: values.state.clone() });
        }
        if case.state != values.state {
            case.closed_at = case_state_is_final(&values.state).then_some(now);
        }
        case.state = values.state.clone();
    }
    macro_rules! set {
        ($($path:literal => $field:ident),* $(,)?) => {
            $(if has($path) { case.$field = values.$field.clone(); })*
        };
    }
    set!(
        "short_description" => short_description,
        "description" => description,
        "priority" => priority,
        "account_id" => account,
        "contact_id" => contact,
        "consumer_id" => consumer,
        "household_id" => household,
        "consumer_profile_id" => consumer_profile,
        "partner_account_id" => partner_account,
        "partner_contact_id" => partner_contact,
        "internal_contact_profile_id" => internal_contact,
        "requestor_organization_id" => requestor_organization,
        "requested_by_profile_id" => requested_by,
        "service_organization_id" => service_organization,
        "sold_product_id" => sold_product,
        "install_base_item_id" => install_base_item,
        "contributor_profile_ids" => contributor_users,
        "contributor_group_ids" => contributor_groups,
        "assignment_group_id" => assignment_group,
        "assigned_to_profile_id" => assigned_to,
        "owner_profile_id" => owner,
        "owner_group_id" => owner_group,
        "escalation" => escalation,
        "close_notes" => close_notes,
    );
    let segment = case.facts().segment();
    if segment == super::case::Segment::Unspecified {
        return Err(UpdateError::NoSegment);
    }
    case.segment = segment;
    case.updated_at = now;
    Ok(())
}

/// R4.21: a proxy contact may update the watch list (and add work notes) on
/// cases where `internal_contact = me`, which the table grants as its
/// WRITE_CUSTOMER row "R4.21". `outcome` is the principal's WRITE_CUSTOMER decision.
pub fn proxy_contact_grant(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Allowed { rule: "R4.21", .. })
}

// ------------------------------------------------------------ case tasks

/// What grants a task action (one row of [`TASK_TABLE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskGrant {
    /// The principal holds the role (R4.15 case_task_viewer: every task).
    Role(&'static str),
    /// R4.19: a case_task_agent works tasks assigned to it or its groups, or created by it.
    WorksTask,
    /// The principal may take the action on the parent case (the case decision table).
    ParentCase(Action),
    /// The task is customer visible and the principal may take the action on the parent case (R4.2).
    VisibleTaskOfParentCase(Action),
}

/// One row of the task table: `grant` allows `action` on a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskRow {
    pub action: Action,
    pub rule: &'static str,
    pub grant: TaskGrant,
}

const fn row(action: Action, rule: &'static str, grant: TaskGrant) -> TaskRow {
    TaskRow { action, rule, grant }
}

/// The task rules (R4.2, R4.15, R4.19; contract: GetCaseTask, UpdateCaseTask,
/// DeleteCaseTask). A parent-case grant names the case rule that granted it.
pub const TASK_TABLE: &[TaskRow] = &[
    row(Action::Read, "R4.15", TaskGrant::Role(CASE_TASK_VIEWER)),
    row(Action::Read, "R4.19", TaskGrant::WorksTask),
    row(Action::Read, "parent_case", TaskGrant::ParentCase(Action::Read)),
    row(Action::WriteFull, "R4.19", TaskGrant::WorksTask),
    row(Action::WriteFull, "parent_case", TaskGrant::ParentCase(Action::WriteFull)),
    row(Action::WriteLimited, "R4.19", TaskGrant::WorksTask),
    row(Action::WriteLimited, "parent_case", TaskGrant::ParentCase(Action::WriteLimited)),
    row(Action::WriteCustomer, "R4.19", TaskGrant::WorksTask),
    row(Action::WriteCustomer, "parent_case", TaskGrant::ParentCase(Action::WriteFull)),
    row(Action::WriteCustomer, "R4.2", TaskGrant::VisibleTaskOfParentCase(Action::WriteCustomer)),
    row(Action::Delete, "parent_case", TaskGrant::ParentCase(Action::WriteFull)),
];

/// One task as its decisions read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskView {
    pub facts: TaskFacts,
    pub customer_visible: bool,
}

/// Whether the task is assigned to `ctx` or one of its groups, or created by it.
pub fn works_task(ctx: &PrincipalContext, task: &TaskFacts) -> bool {
    task.assigned_to == Some(ctx.profile)
        || task.created_by == Some(ctx.profile)
        || task.assignment_group.is_some_and(|group| ctx.groups.contains(&group))
}

fn task_step(label: &str) -> Step {
    Step::new(StepKind::CaseField, "case_task", label)
}

/// Decides `action` on a task of `case` (the task table over the case table).
/// A denial of the parent case (R4.3) is reported when no row grants.
pub fn decide_task(
    ctx: &PrincipalContext,
    settings: &TableSettings,
    case: &CaseFacts,
    task: &TaskView,
    action: Action,
) -> Outcome {
    let mut refused: Option<Outcome> = None;
    for row in TASK_TABLE.iter().filter(|row| row.action == action) {
        match row.grant {
            TaskGrant::Role(role) if ctx.has(role) => {
                let path = vec![Step::new(StepKind::Role, role, format!("holds {role}"))];
                return Outcome::Allowed { rule: row.rule, path };
            }
            TaskGrant::WorksTask if ctx.has(CASE_TASK_AGENT) && works_task(ctx, &task.facts) => {
                let path = vec![
                    Step::new(StepKind::Role, CASE_TASK_AGENT, format!("holds {CASE_TASK_AGENT}")),
                    task_step("task assigned to me / my group, or created by me"),
                ];
                return Outcome::Allowed { rule: row.rule, path };
            }
            TaskGrant::ParentCase(case_action) | TaskGrant::VisibleTaskOfParentCase(case_action) => {
                if matches!(row.grant, TaskGrant::VisibleTaskOfParentCase(_)) && !task.customer_visible {
                    continue;
                }
                let outcome = table::decide_action(ctx, settings, case_action, case);
                match outcome {
                    Outcome::Allowed { rule, mut path } => {
                        path.push(task_step(if task.customer_visible {
                            "customer-visible task of the case"
                        } else {
                            "task of the case"
                        }));
                        return Outcome::Allowed { rule, path };
                    }
                    Outcome::Denied { .. } => refused = Some(outcome),
                    Outcome::NoGrant { .. } => {
                        if refused.is_none() {
                            refused = Some(outcome);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    refused.unwrap_or(Outcome::NoGrant { closest: None })
}

/// CreateCaseTask (contract): WRITE_FULL on the parent case, or R4.19 — a
/// case_task_agent that works a task of this case.
pub fn decide_task_create(ctx: &PrincipalContext, settings: &TableSettings, case: &CaseFacts) -> Outcome {
    let outcome = table::decide_action(ctx, settings, Action::WriteFull, case);
    if outcome.allowed() {
        return outcome;
    }
    if ctx.has(CASE_TASK_AGENT) && case.tasks.iter().any(|task| works_task(ctx, task)) {
        let path = vec![
            Step::new(StepKind::Role, CASE_TASK_AGENT, format!("holds {CASE_TASK_AGENT}")),
            task_step("works a task of this case"),
        ];
        return Outcome::Allowed { rule: "R4.19", path };
    }
    outcome
}

/// Which tasks a principal may READ, as the store compiles it to SQL (the
/// READ rows of [`TASK_TABLE`]).
#[derive(Clone, Debug, Default)]
pub struct TaskReadScope {
    /// Every task (R4.15).
    pub all: bool,
    /// Tasks assigned to the profile or the groups, or created by it (R4.19).
    pub works_for: Option<(ProfileId, BTreeSet<GroupId>)>,
    /// Tasks of cases these READ rules allow.
    pub parent_case: Option<Rules>,
}

pub fn task_read_scope(ctx: &PrincipalContext, settings: &TableSettings) -> TaskReadScope {
    let mut scope = TaskReadScope::default();
    for row in TASK_TABLE.iter().filter(|row| row.action == Action::Read) {
        match row.grant {
            TaskGrant::Role(role) if ctx.has(role) => scope.all = true,
            TaskGrant::WorksTask if ctx.has(CASE_TASK_AGENT) => {
                scope.works_for = Some((ctx.profile, ctx.groups.clone()));
            }
            TaskGrant::ParentCase(action) => scope.parent_case = Some(table::rules(ctx, settings, action)),
            _ => {}
        }
    }
    scope
}

/// One task's assignment, as R4.20 reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub assigned_to: Option<ProfileId>,
    pub group: Option<GroupId>,
}

/// Changes to a case's contributor fields (R4.20).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContributorChanges {
    pub add_users: BTreeSet<ProfileId>,
    pub remove_users: BTreeSet<ProfileId>,
    pub add_groups: BTreeSet<GroupId>,
    pub remove_groups: BTreeSet<GroupId>,
}

impl ContributorChanges {
    pub fn is_empty(&self) -> bool {
        self.add_users.is_empty()
            && self.remove_users.is_empty()
            && self.add_groups.is_empty()
            && self.remove_groups.is_empty()
    }
}

/// R4.20 for one task going from `before` to `after` (None: created / deleted),
/// with `others` the assignments of the case's other tasks. A case_task_agent
/// assignee joins contributor_users and the task's group contributor_groups; a
/// previous assignee leaves when it has no other task on the case; a previous
/// group leaves when it is on no other task and no member of it is assigned
/// to another task of the case.
pub fn contributor_changes(
    before: Option<Assignment>,
    after: Option<Assignment>,
    others: &[Assignment],
    is_task_agent: impl Fn(ProfileId) -> bool,
    is_member: impl Fn(ProfileId, GroupId) -> bool,
) -> ContributorChanges {
    let mut changes = ContributorChanges::default();
    let after = after.unwrap_or_default();
    let before = before.unwrap_or_default();
    if let Some(user) = after.assigned_to
        && is_task_agent(user)
    {
        changes.add_users.insert(user);
        if let Some(group) = after.group {
            changes.add_groups.insert(group);
        }
    }
    if let Some(user) = before.assigned_to
        && after.assigned_to != Some(user)
        && !others.iter().any(|other| other.assigned_to == Some(user))
    {
        changes.remove_users.insert(user);
    }
    if let Some(group) = before.group
        && after.group != Some(group)
    {
        let remaining: Vec<&Assignment> = others.iter().chain(std::iter::once(&after)).collect();
        let on_other_task = remaining.iter().any(|other| other.group == Some(group));
        let member_assigned =
            remaining.iter().any(|other| other.assigned_to.is_some_and(|user| is_member(user, group)));
        if !on_other_task && !member_assigned {
            changes.remove_groups.insert(group);
        }
    }
    changes.remove_users.retain(|user| !changes.add_users.contains(user));
    changes.remove_groups.retain(|group| !changes.add_groups.contains(group));
    changes
}

/// Task state codes (the proto enum names without prefix).
pub const TASK_STATES: &[&str] =
    &["PENDING", "OPEN", "WORK_IN_PROGRESS", "CLOSED_COMPLETE", "CLOSED_INCOMPLETE", "CLOSED_SKIPPED"];

pub fn task_state_is_final(state: &str) -> bool {
    state.starts_with("CLOSED_")
}

/// CaseTask fields UpdateCaseTask may write; WRITE_CUSTOMER may write `state` only.
pub const TASK_WRITABLE_FIELDS: &[&str] =
    &["short_description", "description", "state", "assigned_to_profile_id", "assignment_group_id", "customer_visible"];

/// CaseTask fields that are never written by UpdateCaseTask.
pub const TASK_FIXED_FIELDS: &[&str] = &[
    "case_task_id",
    "case_id",
    "number",
    "consumer_profile_id",
    "opened_by_profile_id",
    "created_at",
    "updated_at",
    "closed_at",
];

/// The action UpdateCaseTask needs: WRITE_CUSTOMER for a state-only change, else WRITE_FULL.
pub fn task_update_action(paths: &BTreeSet<String>) -> Action {
    if paths.iter().all(|path| path == "state") { Action::WriteCustomer } else { Action::WriteFull }
}

// ------------------------------------------------------------ R1.16, R4.21

/// R1.16: the limits apply to external unified consumers only (snc_external +
/// unified_consumer, R1.14); internal unified consumers are not limited.
pub fn rate_limited(ctx: &PrincipalContext) -> bool {
    ctx.has(UNIFIED_CONSUMER) && !ctx.has(SNC_INTERNAL) && (ctx.has(SNC_EXTERNAL) || ctx.kind.is_external())
}

/// Which R1.16 limit a write takes a unit of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimit {
    /// New cases per day.
    NewCases,
    /// Comments per case per day.
    Comments,
    /// Attachments per record.
    Attachments,
}

impl RateLimit {
    pub fn scope(self) -> &'static str {
        match self {
            RateLimit::NewCases => "new_cases",
            RateLimit::Comments => "comments",
            RateLimit::Attachments => "attachments",
        }
    }

    /// The limit in force (0 = unlimited).
    pub fn limit(self, settings: &TableSettings) -> u32 {
        match self {
            RateLimit::NewCases => settings.consumer_max_new_cases_daily,
            RateLimit::Comments => settings.consumer_max_comments_per_case_daily,
            RateLimit::Attachments => settings.consumer_max_attachments_per_record,
        }
    }

    pub fn daily(self) -> bool {
        !matches!(self, RateLimit::Attachments)
    }

    pub fn reason(self) -> &'static str {
        match self {
            RateLimit::NewCases => "CASE_CREATION_RATE_LIMITED",
            RateLimit::Comments => "COMMENT_RATE_LIMITED",
            RateLimit::Attachments => "ATTACHMENT_LIMIT_REACHED",
        }
    }
}

/// How CreateCaseFromEmail treats the sender (R4.21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailSender {
    /// An employee holding proxy_contact: a proxy case for the named contact.
    ProxyContact,
    /// A contact or consumer: a case for itself.
    Customer,
    /// Anyone else (e.g. an employee without the role): no case.
    NotAuthorized,
}

pub fn email_sender(ctx: &PrincipalContext) -> EmailSender {
    match ctx.kind {
        PrincipalKind::Employee if ctx.has(PROXY_CONTACT) || ctx.has(PROXY_CONTACT_ALIAS) => EmailSender::ProxyContact,
        PrincipalKind::Employee => EmailSender::NotAuthorized,
        PrincipalKind::Contact | PrincipalKind::PartnerContact | PrincipalKind::Consumer => EmailSender::Customer,
    }
}

// ------------------------------------------------------------ records

/// A stored case task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskRecord {
    pub id: uuid::Uuid,
    pub case_id: csm_types::CaseId,
    pub number: String,
    pub short_description: String,
    pub description: String,
    pub state: String,
    pub assigned_to: Option<ProfileId>,
    pub assignment_group: Option<GroupId>,
    pub customer_visible: bool,
    pub consumer_profile: Option<ProfileId>,
    pub opened_by: ProfileId,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TaskRecord {
    pub fn view(&self) -> TaskView {
        TaskView {
            facts: TaskFacts {
                assigned_to: self.assigned_to,
                assignment_group: self.assignment_group,
                created_by: Some(self.opened_by),
            },
            customer_visible: self.customer_visible,
        }
    }

    pub fn assignment(&self) -> Assignment {
        Assignment { assigned_to: self.assigned_to, group: self.assignment_group }
    }
}

/// Kind of a journal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    /// Customer-visible additional comment.
    Comment,
    /// Internal work note (R4.4: never shown to external principals).
    WorkNote,
}

impl CommentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommentKind::Comment => "ADDITIONAL_COMMENT",
            CommentKind::WorkNote => "WORK_NOTE",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "ADDITIONAL_COMMENT" => Some(CommentKind::Comment),
            "WORK_NOTE" => Some(CommentKind::WorkNote),
            _ => None,
        }
    }
}

/// A stored comment or work note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: uuid::Uuid,
    pub case_id: csm_types::CaseId,
    pub case_task_id: Option<uuid::Uuid>,
    pub kind: CommentKind,
    pub body: String,
    pub author: ProfileId,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Stored attachment metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub id: uuid::Uuid,
    pub case_id: csm_types::CaseId,
    pub case_task_id: Option<uuid::Uuid>,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub content_uri: String,
    pub sha256: String,
    pub uploaded_by: ProfileId,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::principal::PrincipalKind;
    use csm_types::AccountId;

    fn paths(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|path| (*path).to_owned()).collect()
    }

    #[test]
    fn r4_2_update_action_follows_the_mask() {
        assert_eq!(update_action(&paths(&["state", "close_notes"]), "OPEN", "CLOSED"), Action::WriteCustomer);
        assert_eq!(update_action(&paths(&["state"]), "RESOLVED", "OPEN"), Action::WriteCustomer);
        assert_eq!(update_action(&paths(&["state"]), "OPEN", "RESOLVED"), Action::WriteLimited);
        assert_eq!(update_action(&paths(&["watch_list_profile_ids"]), "OPEN", "OPEN"), Action::WriteLimited);
        assert_eq!(update_action(&paths(&["priority", "state"]), "OPEN", "CLOSED"), Action::WriteFull);
        assert_eq!(update_action(&paths(&["close_notes"]), "OPEN", "OPEN"), Action::WriteFull);
    }

    #[test]
    fn transitions_end_at_closed_and_cancelled() {
        assert!(case_transition_allowed("NEW", "OPEN"));
        assert!(case_transition_allowed("RESOLVED", "OPEN"));
        assert!(!case_transition_allowed("CLOSED", "OPEN"));
        assert!(!case_transition_allowed("CANCELLED", "NEW"));
        assert!(!case_transition_allowed("OPEN", "NEW"));
        assert!(case_transition_allowed("CLOSED", "CLOSED"));
    }

    #[test]
    fn r4_20_contributors_follow_task_assignment() {
        let (agent, other) = (ProfileId::new(), ProfileId::new());
        let group = GroupId::new();
        let is_agent = |user: ProfileId| user == agent;
        let none = |_: ProfileId, _: GroupId| false;
        let assigned = Assignment { assigned_to: Some(agent), group: Some(group) };
        let added = contributor_changes(None, Some(assigned), &[], is_agent, none);
        assert_eq!(added.add_users, BTreeSet::from([agent]));
        assert_eq!(added.add_groups, BTreeSet::from([group]));
        // A non-agent assignee joins nothing.
        let plain = Assignment { assigned_to: Some(other), group: Some(group) };
        assert!(contributor_changes(None, Some(plain), &[], is_agent, none).add_users.is_empty());
        // Unassigned while another task keeps the agent: it stays.
        let kept = contributor_changes(Some(assigned), Some(Assignment::default()), &[assigned], is_agent, none);
        assert!(kept.remove_users.is_empty() && kept.remove_groups.is_empty());
        // Deleted, last task: both leave.
        let removed = contributor_changes(Some(assigned), None, &[], is_agent, none);
        assert_eq!(removed.remove_users, BTreeSet::from([agent]));
        assert_eq!(removed.remove_groups, BTreeSet::from([group]));
        // A member of the group assigned to another task keeps the group.
        let member_task = Assignment { assigned_to: Some(other), group: None };
        let member = |user: ProfileId, g: GroupId| user == other && g == group;
        let kept = contributor_changes(Some(assigned), None, &[member_task], is_agent, member);
        assert!(kept.remove_groups.is_empty());
    }

    #[test]
    fn r4_15_task_viewer_reads_every_task_but_writes_none() {
        let ctx = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [CASE_TASK_VIEWER]);
        let settings = TableSettings::default();
        let case = CaseFacts { account: Some(AccountId::new()), ..CaseFacts::default() };
        let task = TaskView::default();
        assert_eq!(decide_task(&ctx, &settings, &case, &task, Action::Read).rule(), "R4.15");
        assert!(!decide_task(&ctx, &settings, &case, &task, Action::WriteFull).allowed());
    }

    #[test]
    fn r4_19_task_agent_works_its_tasks_only() {
        let me = ProfileId::new();
        let ctx = PrincipalContext::new(me, PrincipalKind::Employee, [CASE_TASK_AGENT]);
        let settings = TableSettings::default();
        let mine =
            TaskView { facts: TaskFacts { assigned_to: Some(me), ..TaskFacts::default() }, ..TaskView::default() };
        let case =
            CaseFacts { account: Some(AccountId::new()), tasks: vec![mine.facts.clone()], ..CaseFacts::default() };
        assert_eq!(decide_task(&ctx, &settings, &case, &mine, Action::WriteFull).rule(), "R4.19");
        let other = TaskView::default();
        // The other task of a case it works: readable through the parent case, not writable.
        assert!(decide_task(&ctx, &settings, &case, &other, Action::Read).allowed());
        assert!(!decide_task(&ctx, &settings, &case, &other, Action::WriteFull).allowed());
        assert!(!decide_task(&ctx, &settings, &case, &other, Action::Delete).allowed());
    }

    #[test]
    fn r1_16_only_external_unified_consumers_are_limited() {
        let external =
            PrincipalContext::new(ProfileId::new(), PrincipalKind::Consumer, [UNIFIED_CONSUMER, SNC_EXTERNAL]);
        assert!(rate_limited(&external));
        let internal =
            PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [UNIFIED_CONSUMER, SNC_INTERNAL]);
        assert!(!rate_limited(&internal));
    }
}
