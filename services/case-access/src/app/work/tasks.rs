//! Case tasks (R4.19, R4.20): decisions on a task, and creating, reading,
//! updating, deleting and listing tasks with the R4.20 assignee rules.

use std::collections::{BTreeMap, BTreeSet};

use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{NewChange, Operation};
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_types::{CaseId, GroupId, ProfileId};
use uuid::Uuid;

use super::{case_not_found, task_not_found};
use crate::app::cache::Freshness;
use crate::app::case_cache::CaseRead;
use crate::app::decisions::Subject;
use crate::app::{CaseAccessApp, Decided, access_denied};
use crate::domain::case::CaseFacts;
use crate::domain::principal::PrincipalContext;
use crate::domain::table::{self, Action};
use crate::domain::work::{self as rules, TaskRecord};
use crate::store::cases;
use crate::store::work::{self as store, TaskFilter};

/// A new case task as CreateCaseTask supplies it.
#[derive(Clone, Debug, Default)]
pub struct TaskDraft {
    pub case: Option<CaseId>,
    pub short_description: String,
    pub description: String,
    pub state: Option<String>,
    pub assigned_to: Option<ProfileId>,
    pub assignment_group: Option<GroupId>,
    pub customer_visible: bool,
}

/// Who may be assigned, as R4.20 reads it: task agents and their groups.
#[derive(Default)]
struct Assignees {
    agents: BTreeSet<ProfileId>,
    groups: BTreeMap<ProfileId, BTreeSet<GroupId>>,
}

impl Assignees {
    fn is_agent(&self, profile: ProfileId) -> bool {
        self.agents.contains(&profile)
    }

    fn is_member(&self, profile: ProfileId, group: GroupId) -> bool {
        self.groups.get(&profile).is_some_and(|groups| groups.contains(&group))
    }
}

impl CaseAccessApp {
    /// Decides `action` on case task `id` for `ctx` (Check, BatchCheck, Explain).
    pub async fn decide_on_task(
        &self,
        ctx: &PrincipalContext,
        id: Uuid,
        action: Action,
        read: CaseRead,
    ) -> CsmResult<Decided> {
        let task = store::get_task(&self.db, id).await?.ok_or_else(|| task_not_found(id))?;
        let facts = self.case_facts(task.case_id, read).await?;
        let outcome = rules::decide_task(ctx, &self.settings(), &facts, &task.view(), action);
        self.decided(ctx, &facts, action, outcome).await
    }

    /// The task (as its decisions see it) and its case's facts (Explain).
    pub(crate) async fn task_and_case(
        &self,
        id: Uuid,
        read: CaseRead,
    ) -> CsmResult<(crate::domain::work::TaskView, std::sync::Arc<CaseFacts>)> {
        let task = store::get_task(&self.db, id).await?.ok_or_else(|| task_not_found(id))?;
        let facts = self.case_facts(task.case_id, read).await?;
        Ok((task.view(), facts))
    }

    /// The R4.20 view of the people who are or become assignees on a case.
    async fn assignees(&self, profiles: impl IntoIterator<Item = ProfileId>) -> CsmResult<Assignees> {
        let mut assignees = Assignees::default();
        for profile in profiles.into_iter().collect::<BTreeSet<_>>() {
            let Some(ctx) = self.contexts.get(profile, &Freshness::FullyConsistent).await? else { continue };
            if ctx.has(table::CASE_TASK_AGENT) {
                assignees.agents.insert(profile);
            }
            assignees.groups.insert(profile, ctx.groups.clone());
        }
        Ok(assignees)
    }

    /// A named assignee must be a known profile.
    async fn known_assignee(&self, profile: Option<ProfileId>, field: &str) -> CsmResult<()> {
        if let Some(profile) = profile
            && self.contexts.get(profile, &Freshness::MinimizeLatency).await?.is_none()
        {
            return Err(CsmError::new(
                ErrorCode::NotFound,
                "REFERENCED_ENTITY_NOT_FOUND",
                format!("profile {profile} not found"),
            )
            .with_metadata("field", field.to_owned()));
        }
        Ok(())
    }

    /// CreateCaseTask (R4.19, R4.20).
    pub async fn create_case_task(
        &self,
        ctx: &PrincipalContext,
        request_id: Option<&str>,
        draft: TaskDraft,
    ) -> CsmResult<(TaskRecord, String)> {
        const RPC: &str = "CreateCaseTask";
        let key = RequestKey::new(RPC, ctx.profile, request_id, &draft);
        if let Some((id, token)) = self.replayed(&key).await?.map(|(id, revision)| (id, self.feed.token(revision))) {
            let task = store::get_task(&self.db, id).await?.ok_or_else(|| task_not_found(id))?;
            return Ok((task, token));
        }
        let case = draft.case.ok_or_else(|| CsmError::invalid_field("case_task.case_id", "is required"))?;
        let facts = self
            .case_facts(case, CaseRead::Through)
            .await
            .map_err(|error| error.with_metadata("field", "case_task.case_id"))?;
        let outcome = rules::decide_task_create(ctx, &self.settings(), &facts);
        if !outcome.allowed() {
            return Err(access_denied(Action::WriteFull, &outcome));
        }
        self.known_assignee(draft.assigned_to, "case_task.assigned_to_profile_id").await?;
        let assignees =
            self.assignees(facts.tasks.iter().filter_map(|task| task.assigned_to).chain(draft.assigned_to)).await?;
        let now = csm_db::now();
        let mut tx = self.db.begin().await?;
        let parent = store::lock_case(&mut tx, case).await?.ok_or_else(|| case_not_found(case))?;
        let number = cases::next_number(&mut tx, "case_task").await?;
        let state = draft.state.clone().unwrap_or_else(|| "OPEN".to_owned());
        let task = TaskRecord {
            id: Uuid::now_v7(),
            case_id: case,
            number: format!("CSTASK{number:07}"),
            short_description: draft.short_description.clone(),
            description: draft.description.clone(),
            closed_at: rules::task_state_is_final(&state).then_some(now),
            state,
            assigned_to: draft.assigned_to,
            assignment_group: draft.assignment_group,
            customer_visible: draft.customer_visible,
            consumer_profile: parent.consumer_profile,
            opened_by: ctx.profile,
            created_at: now,
            updated_at: now,
        };
        let others = store::other_assignments(&mut tx, case, task.id).await?;
        let changes = rules::contributor_changes(
            None,
            Some(task.assignment()),
            &others,
            |profile| assignees.is_agent(profile),
            |profile, group| assignees.is_member(profile, group),
        );
        store::insert_task(&mut tx, &task).await?;
        store::apply_contributor_changes(&mut tx, case, &changes).await?;
        let change = NewChange::new("case_task", task.id, Operation::Created).attribute("case_id", case);
        match self.commit_created(tx, change, &key, task.id).await? {
            Some(token) => Ok((task, token)),
            None => Box::pin(self.create_case_task(ctx, request_id, draft)).await,
        }
    }

    /// GetCaseTask (R4.15, R4.19, READ on the parent case).
    pub async fn get_case_task(
        &self,
        ctx: &PrincipalContext,
        id: Uuid,
        read: CaseRead,
    ) -> CsmResult<(TaskRecord, String)> {
        let task = store::get_task(&self.db, id).await?.ok_or_else(|| task_not_found(id))?;
        let facts = self.case_facts(task.case_id, read).await?;
        let outcome = rules::decide_task(ctx, &self.settings(), &facts, &task.view(), Action::Read);
        if !outcome.allowed() {
            return Err(access_denied(Action::Read, &outcome));
        }
        Ok((task, self.token().await?))
    }

    /// UpdateCaseTask (R4.2, R4.19, R4.20).
    pub async fn update_case_task(
        &self,
        ctx: &PrincipalContext,
        id: Uuid,
        paths: &BTreeSet<String>,
        values: &TaskDraft,
        session: Option<Uuid>,
    ) -> CsmResult<(TaskRecord, String)> {
        let task = store::get_task(&self.db, id).await?.ok_or_else(|| task_not_found(id))?;
        let facts = self.case_facts(task.case_id, CaseRead::Through).await?;
        let action = rules::task_update_action(paths);
        let outcome = rules::decide_task(ctx, &self.settings(), &facts, &task.view(), action);
        let mut decided = self.decided(ctx, &facts, action, outcome).await?;
        self.licensed(&mut decided, &Subject::Task(id), session).await?;
        if paths.contains("assigned_to_profile_id") {
            self.known_assignee(values.assigned_to, "case_task.assigned_to_profile_id").await?;
        }
        let assignees =
            self.assignees(facts.tasks.iter().filter_map(|task| task.assigned_to).chain(values.assigned_to)).await?;
        let now = csm_db::now();
        let mut tx = self.db.begin().await?;
        store::lock_case(&mut tx, task.case_id).await?.ok_or_else(|| case_not_found(task.case_id))?;
        let before = store::get_task_tx(&mut tx, id).await?.ok_or_else(|| task_not_found(id))?;
        let mut after = before.clone();
        if paths.contains("state") {
            let state = values.state.clone().unwrap_or_default();
            if rules::task_state_is_final(&before.state) && state != before.state {
                return Err(CsmError::failed_precondition(
                    "INVALID_STATE_TRANSITION",
                    format!("a case task cannot move from {} to {state}", before.state),
                )
                .with_metadata("field", "case_task.state"));
            }
            if state != before.state {
                after.closed_at = rules::task_state_is_final(&state).then_some(now);
            }
            after.state = state;
        }
        if paths.contains("short_description") {
            after.short_description = values.short_description.clone();
        }
        if paths.contains("description") {
            after.description = values.description.clone();
        }
        if paths.contains("assigned_to_profile_id") {
            after.assigned_to = values.assigned_to;
        }
        if paths.contains("assignment_group_id") {
            after.assignment_group = values.assignment_group;
        }
        if paths.contains("customer_visible") {
            after.customer_visible = values.customer_visible;
        }
        after.updated_at = now;
        store::write_task(&mut tx, &after).await?;
        let others = store::other_assignments(&mut tx, task.case_id, id).await?;
        let changes = rules::contributor_changes(
            Some(before.assignment()),
            Some(after.assignment()),
            &others,
            |profile| assignees.is_agent(profile),
            |profile, group| assignees.is_member(profile, group),
        );
        store::apply_contributor_changes(&mut tx, task.case_id, &changes).await?;
        let change = NewChange::new("case_task", id, Operation::Updated).attribute("case_id", task.case_id);
        let token = self.commit_change(tx, change).await?;
        Ok((after, token))
    }

    /// DeleteCaseTask: WRITE_FULL on the parent case; R4.20 maintenance.
    pub async fn delete_case_task(&self, ctx: &PrincipalContext, id: Uuid) -> CsmResult<String> {
        let task = store::get_task(&self.db, id).await?.ok_or_else(|| task_not_found(id))?;
        let facts = self.case_facts(task.case_id, CaseRead::Through).await?;
        let outcome = rules::decide_task(ctx, &self.settings(), &facts, &task.view(), Action::Delete);
        if !outcome.allowed() {
            return Err(access_denied(Action::Delete, &outcome));
        }
        let assignees = self.assignees(facts.tasks.iter().filter_map(|task| task.assigned_to)).await?;
        let mut tx = self.db.begin().await?;
        store::lock_case(&mut tx, task.case_id).await?.ok_or_else(|| case_not_found(task.case_id))?;
        let before = store::get_task_tx(&mut tx, id).await?.ok_or_else(|| task_not_found(id))?;
        store::delete_task(&mut tx, id).await?;
        let others = store::other_assignments(&mut tx, task.case_id, id).await?;
        let changes = rules::contributor_changes(
            Some(before.assignment()),
            None,
            &others,
            |profile| assignees.is_agent(profile),
            |profile, group| assignees.is_member(profile, group),
        );
        store::apply_contributor_changes(&mut tx, task.case_id, &changes).await?;
        self.commit_change(tx, NewChange::new("case_task", id, Operation::Deleted).attribute("case_id", task.case_id))
            .await
    }

    /// ListCaseTasks: the READ rows of the task table as one predicate.
    pub async fn list_case_tasks(
        &self,
        ctx: &PrincipalContext,
        case: Option<CaseId>,
        my_work_only: bool,
        states: Vec<String>,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<(Vec<TaskRecord>, String)> {
        let token = self.token().await?;
        let scope = rules::task_read_scope(ctx, &self.settings());
        let filter = TaskFilter { case, my_work: my_work_only.then(|| (ctx.profile, ctx.groups.clone())), states };
        Ok((store::list_tasks(&self.db, &scope, &filter, after, limit).await?, token))
    }
}
