//! Case updates and deletes, comments and attachments (R4.15–R4.21, R1.16);
//! tasks in [`tasks`], email intake in [`intake`].
//!
//! Every mutation decides first (the decision table, or the task table over
//! it), then writes in one transaction that also appends the change row and,
//! for creates, the request id; the response carries the change's token.

use std::collections::BTreeSet;

use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{NewChange, Operation, append};
use csm_db::Tx;
use csm_errors::{CsmError, CsmResult};
use csm_proto::identity::ProfileKind;
use csm_types::{CaseId, ProfileId};
use uuid::Uuid;

use super::case_cache::CaseRead;
use super::decisions::Subject;
use super::{CaseAccessApp, Decided, access_denied};
use crate::domain::case::CaseFacts;
use crate::domain::principal::{PrincipalContext, PrincipalKind};
use crate::domain::record::CaseRecord;
use crate::domain::table::{self, Action, CONSUMER, UNIFIED_CONSUMER};
use crate::domain::work::{
    self as rules, AttachmentRecord, CaseValues, CommentKind, CommentRecord, RateLimit, TaskRecord, UpdateError,
};
use crate::store::cases;
use crate::store::work as store;

mod intake;
mod tasks;

pub use intake::{InboundEmail, Intake, IntakeOutcome};
pub use tasks::TaskDraft;

/// An updated case with the list fields UpdateCase returns.
#[derive(Clone, Debug)]
pub struct UpdatedCase {
    pub case: CaseRecord,
    pub watch_list: Vec<ProfileId>,
    pub work_notes_list: Vec<ProfileId>,
    pub affected_install_base_items: Vec<Uuid>,
    pub decided: Decided,
    pub consistency_token: String,
}

/// A new attachment's metadata.
#[derive(Clone, Debug, Default)]
pub struct AttachmentDraft {
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub content_uri: String,
    pub sha256: String,
}

fn task_not_found(id: Uuid) -> CsmError {
    CsmError::not_found("case task", id)
}

fn case_not_found(id: CaseId) -> CsmError {
    CsmError::not_found("case", id)
}

/// Today's UTC date: the period of the daily R1.16 limits.
fn today() -> String {
    csm_db::now().format("%Y-%m-%d").to_string()
}

impl CaseAccessApp {
    /// R1.16: takes one unit of `limit` for `ctx` in `tx` when `ctx` is an
    /// external unified consumer; RESOURCE_EXHAUSTED when the limit is reached.
    async fn take_rate_unit(
        &self,
        tx: &mut Tx,
        ctx: &PrincipalContext,
        limit: RateLimit,
        record: &str,
    ) -> CsmResult<()> {
        if !rules::rate_limited(ctx) {
            return Ok(());
        }
        let settings = self.settings();
        let period = if limit.daily() { today() } else { String::new() };
        let max = limit.limit(&settings);
        if store::take_rate_unit(tx, limit.scope(), ctx.profile, record, &period, max).await? {
            Ok(())
        } else {
            Err(CsmError::resource_exhausted(limit.reason(), format!("R1.16 limit of {max} reached"))
                .with_metadata("limit", max.to_string()))
        }
    }

    /// The create_case hook: R1.16 new cases per day, counted in the creating transaction.
    pub(super) async fn take_case_creation_unit(&self, tx: &mut Tx, ctx: &PrincipalContext) -> CsmResult<()> {
        self.take_rate_unit(tx, ctx, RateLimit::NewCases, "").await
    }

    /// Appends `change`, records the request id, commits; `None` when a
    /// concurrent retry recorded the request id first (the caller replays it).
    async fn commit_created(
        &self,
        mut tx: Tx,
        change: NewChange,
        key: &RequestKey<'_>,
        id: Uuid,
    ) -> CsmResult<Option<String>> {
        let revision = append(&mut tx, &change).await?;
        if !key.record(&mut tx, id, revision, "").await? {
            return Ok(None);
        }
        tx.commit().await?;
        self.committed(revision, &change);
        Ok(Some(self.feed.token(revision)))
    }

    async fn commit_change(&self, mut tx: Tx, change: NewChange) -> CsmResult<String> {
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.committed(revision, &change);
        Ok(self.feed.token(revision))
    }

    // ------------------------------------------------------------ cases

    /// UpdateCase: the action comes from the mask (R4.2, R4.18), a proxy
    /// contact may update the watch list of its cases (R4.21).
    pub async fn update_case(
        &self,
        ctx: &PrincipalContext,
        id: CaseId,
        paths: &BTreeSet<String>,
        values: &CaseValues,
        session: Option<Uuid>,
    ) -> CsmResult<UpdatedCase> {
        let facts = self.case_facts(id, CaseRead::Through).await?;
        let current = cases::get_case(&self.db, id).await?.ok_or_else(|| case_not_found(id))?;
        let to_state = if paths.contains("state") { values.state.as_str() } else { current.state.as_str() };
        let action = rules::update_action(paths, &current.state, to_state);
        let settings = self.settings();
        let mut outcome = table::decide_action(ctx, &settings, action, &facts);
        let watch_list_only = paths.iter().all(|path| path == "watch_list_profile_ids");
        if !outcome.allowed() && watch_list_only {
            let customer = table::decide_action(ctx, &settings, Action::WriteCustomer, &facts);
            if rules::proxy_contact_grant(&customer) {
                outcome = customer;
            }
        }
        let mut decided = self.decided(ctx, &facts, action, outcome).await?;
        self.licensed(&mut decided, &Subject::Case(id), session).await?;
        let now = csm_db::now();
        // R5.13: a partner contact set by this update, judged on the case as updated.
        if paths.contains("partner_contact_id")
            && let Some(partner_contact) = values.partner_contact
            && Some(partner_contact) != current.partner_contact
        {
            let mut after = current.clone();
            // A transition or segment error is answered by the write below.
            let _ = rules::apply_update(&mut after, values, paths, now);
            let case = super::parties::PartnerContactCase {
                account: after.account,
                partner_account: after.partner_account,
                install_base_item: after.install_base_item,
            };
            self.require_eligible_partner_contact(&case, partner_contact, "support_case.partner_contact_id").await?;
        }
        let mut tx = self.db.begin().await?;
        let mut case = store::lock_case(&mut tx, id).await?.ok_or_else(|| case_not_found(id))?;
        rules::apply_update(&mut case, values, paths, now).map_err(|error| match error {
            UpdateError::Transition { from, to } => CsmError::failed_precondition(
                "INVALID_STATE_TRANSITION",
                format!("a case cannot move from {from} to {to}"),
            )
            .with_metadata("field", "support_case.state"),
            UpdateError::NoSegment => CsmError::failed_precondition(
                "SEGMENT_CHANGE_FORBIDDEN",
                "the update leaves no account, consumer, requestor organization or requested_by (R4.1)",
            ),
        })?;
        cases::write_case(&mut tx, &case).await?;
        if paths.contains("contributor_profile_ids") || paths.contains("contributor_group_ids") {
            store::replace_contributors(&mut tx, &case).await?;
        }
        if paths.contains("watch_list_profile_ids") {
            store::replace_watch_list(&mut tx, id, false, &values.watch_list).await?;
        }
        if paths.contains("work_notes_list_profile_ids") {
            store::replace_watch_list(&mut tx, id, true, &values.work_notes_list).await?;
        }
        if paths.contains("affected_install_base_item_ids") {
            store::replace_affected_install_bases(&mut tx, id, &values.affected_install_base_items).await?;
        }
        let mut change = NewChange::new("case", id, Operation::Updated).attribute("segment", case.segment.as_str());
        if let Some(account) = case.account {
            change = change.attribute("account_id", account);
        }
        let consistency_token = self.commit_change(tx, change).await?;
        let (watch_list, work_notes_list) = store::watch_lists(&self.db, id).await?;
        let affected_install_base_items = store::affected_install_bases(&self.db, id).await?;
        Ok(UpdatedCase { case, watch_list, work_notes_list, affected_install_base_items, decided, consistency_token })
    }

    /// DeleteCase: needs DELETE (a Cherwell Delete right, R6.4, or `admin`).
    pub async fn delete_case(&self, ctx: &PrincipalContext, id: CaseId) -> CsmResult<String> {
        let decided = self.decide_on_case(ctx, id, Action::Delete, CaseRead::Through).await?;
        if !decided.outcome.allowed() {
            return Err(access_denied(Action::Delete, &decided.outcome));
        }
        let mut tx = self.db.begin().await?;
        if !store::delete_case(&mut tx, id).await? {
            return Err(case_not_found(id));
        }
        self.commit_change(tx, NewChange::new("case", id, Operation::Deleted)).await
    }

    /// ListMyConsumerCases (R1.9, R1.12, R1.17): the active profile's own consumer cases.
    pub async fn list_my_consumer_cases(
        &self,
        ctx: &PrincipalContext,
        states: &[String],
        before: Option<CaseId>,
        limit: i64,
    ) -> CsmResult<(Vec<CaseRecord>, String)> {
        if !(ctx.has(CONSUMER) || ctx.has(UNIFIED_CONSUMER)) {
            return Err(CsmError::permission_denied(
                "CONSUMER_ROLE_MISSING",
                "neither sn_customerservice.consumer nor sn_customerservice.unified_consumer is effective for the \
                 active profile",
            ));
        }
        let Some(consumer) = ctx.consumer else {
            return Err(CsmError::failed_precondition(
                "NO_CONSUMER_RECORD",
                "the active profile has no linked consumer record (R1.12)",
            ));
        };
        let token = self.token().await?;
        let sub_profile =
            if ctx.kind == PrincipalKind::Consumer { self.consumer_sub_profile(ctx.profile).await? } else { None };
        let rows = store::list_consumer_cases(&self.db, consumer, sub_profile, states, before, limit).await?;
        Ok((rows, token))
    }

    /// The consumer profile (R1.17) of a CONSUMER_SUB_PROFILE profile.
    async fn consumer_sub_profile(&self, profile: ProfileId) -> CsmResult<Option<ProfileId>> {
        let record = self.identity.profile(profile).await?.ok_or_else(|| CsmError::not_found("profile", profile))?;
        if record.kind != ProfileKind::ConsumerSubProfile as i32 {
            return Ok(None);
        }
        Ok(Uuid::parse_str(&record.consumer_profile_id).ok().map(ProfileId::from_uuid))
    }

    // ------------------------------------------------------------ comments, attachments

    /// The task `task` of case `case` (NOT_FOUND unless it belongs to that case).
    async fn task_of_case(&self, case: CaseId, task: Uuid) -> CsmResult<TaskRecord> {
        match store::get_task(&self.db, task).await? {
            Some(record) if record.case_id == case => Ok(record),
            _ => Err(task_not_found(task).with_metadata("field", "case_task_id")),
        }
    }

    /// The write decision for a comment / attachment: `action` on the case, or
    /// on the task (R4.19), or — work notes only — the proxy contact's row (R4.21).
    async fn journal_decision(
        &self,
        ctx: &PrincipalContext,
        facts: &CaseFacts,
        task: Option<&TaskRecord>,
        action: Action,
    ) -> CsmResult<Decided> {
        let settings = self.settings();
        let mut outcome = table::decide_action(ctx, &settings, action, facts);
        if !outcome.allowed()
            && let Some(task) = task
        {
            let on_task = rules::decide_task(ctx, &settings, facts, &task.view(), action);
            if on_task.allowed() {
                outcome = on_task;
            }
        }
        if !outcome.allowed() && action == Action::WriteLimited {
            let customer = table::decide_action(ctx, &settings, Action::WriteCustomer, facts);
            if rules::proxy_contact_grant(&customer) {
                outcome = customer;
            }
        }
        self.decided(ctx, facts, action, outcome).await
    }

    /// AddComment (R4.2, R4.4, R4.18, R4.19, R4.21, R1.16).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_comment(
        &self,
        ctx: &PrincipalContext,
        request_id: Option<&str>,
        case: CaseId,
        task: Option<Uuid>,
        kind: CommentKind,
        body: String,
        session: Option<Uuid>,
    ) -> CsmResult<(CommentRecord, String)> {
        const RPC: &str = "AddComment";
        let key = RequestKey::new(RPC, ctx.profile, request_id, &(case, task, kind, &body));
        if let Some((id, token)) = self.replayed(&key).await?.map(|(id, revision)| (id, self.feed.token(revision))) {
            let comment = store::get_comment(&self.db, id).await?.ok_or_else(|| CsmError::not_found("comment", id))?;
            return Ok((comment, token));
        }
        let facts = self.case_facts(case, CaseRead::Through).await?;
        let task_record = match task {
            Some(task) => Some(self.task_of_case(case, task).await?),
            None => None,
        };
        if kind == CommentKind::WorkNote && ctx.kind.is_external() {
            return Err(CsmError::permission_denied(
                "WORK_NOTE_FORBIDDEN",
                "work notes are internal; external principals add additional comments (R4.4)",
            ));
        }
        let action = if kind == CommentKind::WorkNote { Action::WriteLimited } else { Action::WriteCustomer };
        let mut decided = self.journal_decision(ctx, &facts, task_record.as_ref(), action).await?;
        self.licensed(&mut decided, &Subject::Case(case), session).await?;
        let comment = CommentRecord {
            id: Uuid::now_v7(),
            case_id: case,
            case_task_id: task,
            kind,
            body,
            author: ctx.profile,
            created_at: csm_db::now(),
        };
        let mut tx = self.db.begin().await?;
        self.take_rate_unit(&mut tx, ctx, RateLimit::Comments, &case.to_string()).await?;
        store::insert_comment(&mut tx, &comment).await?;
        let change = NewChange::new("case_comment", comment.id, Operation::Created).attribute("case_id", case);
        match self.commit_created(tx, change, &key, comment.id).await? {
            Some(token) => Ok((comment, token)),
            None => Box::pin(self.add_comment(ctx, request_id, case, task, kind, comment.body, session)).await,
        }
    }

    /// READ on the case, or on the task when one is named (R4.15, R4.17, R4.19).
    async fn read_journal(&self, ctx: &PrincipalContext, case: CaseId, task: Option<Uuid>) -> CsmResult<()> {
        let facts = self.case_facts(case, CaseRead::Through).await?;
        let settings = self.settings();
        let mut outcome = table::decide_action(ctx, &settings, Action::Read, &facts);
        if !outcome.allowed()
            && let Some(task) = task
        {
            let record = self.task_of_case(case, task).await?;
            outcome = rules::decide_task(ctx, &settings, &facts, &record.view(), Action::Read);
        } else if let Some(task) = task {
            self.task_of_case(case, task).await?;
        }
        if !outcome.allowed() {
            return Err(access_denied(Action::Read, &outcome));
        }
        Ok(())
    }

    /// ListComments: work notes only for internal principals (R4.4).
    pub async fn list_comments(
        &self,
        ctx: &PrincipalContext,
        case: CaseId,
        task: Option<Uuid>,
        kind: Option<CommentKind>,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<(Vec<CommentRecord>, String)> {
        self.read_journal(ctx, case, task).await?;
        let token = self.token().await?;
        let visible: Vec<CommentKind> = [CommentKind::Comment, CommentKind::WorkNote]
            .into_iter()
            .filter(|candidate| !(ctx.kind.is_external() && *candidate == CommentKind::WorkNote))
            .filter(|candidate| kind.is_none_or(|kind| kind == *candidate))
            .collect();
        Ok((store::list_comments(&self.db, case, task, &visible, after, limit).await?, token))
    }

    /// AddAttachment (R4.2, R4.18, R4.19, R1.16): metadata only.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_attachment(
        &self,
        ctx: &PrincipalContext,
        request_id: Option<&str>,
        case: CaseId,
        task: Option<Uuid>,
        draft: AttachmentDraft,
        session: Option<Uuid>,
    ) -> CsmResult<(AttachmentRecord, String)> {
        const RPC: &str = "AddAttachment";
        let key = RequestKey::new(RPC, ctx.profile, request_id, &(case, task, &draft));
        if let Some((id, token)) = self.replayed(&key).await?.map(|(id, revision)| (id, self.feed.token(revision))) {
            let attachment =
                store::get_attachment(&self.db, id).await?.ok_or_else(|| CsmError::not_found("attachment", id))?;
            return Ok((attachment, token));
        }
        let facts = self.case_facts(case, CaseRead::Through).await?;
        let task_record = match task {
            Some(task) => Some(self.task_of_case(case, task).await?),
            None => None,
        };
        let mut decided = self.journal_decision(ctx, &facts, task_record.as_ref(), Action::WriteCustomer).await?;
        self.licensed(&mut decided, &Subject::Case(case), session).await?;
        let attachment = AttachmentRecord {
            id: Uuid::now_v7(),
            case_id: case,
            case_task_id: task,
            file_name: draft.file_name.clone(),
            content_type: draft.content_type.clone(),
            size_bytes: draft.size_bytes,
            content_uri: draft.content_uri.clone(),
            sha256: draft.sha256.clone(),
            uploaded_by: ctx.profile,
            created_at: csm_db::now(),
        };
        let record = task.map_or_else(|| case.to_string(), |task| task.to_string());
        let mut tx = self.db.begin().await?;
        self.take_rate_unit(&mut tx, ctx, RateLimit::Attachments, &record).await?;
        store::insert_attachment(&mut tx, &attachment).await?;
        let change = NewChange::new("case_attachment", attachment.id, Operation::Created).attribute("case_id", case);
        match self.commit_created(tx, change, &key, attachment.id).await? {
            Some(token) => Ok((attachment, token)),
            None => Box::pin(self.add_attachment(ctx, request_id, case, task, draft, session)).await,
        }
    }

    pub async fn list_attachments(
        &self,
        ctx: &PrincipalContext,
        case: CaseId,
        task: Option<Uuid>,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<(Vec<AttachmentRecord>, String)> {
        self.read_journal(ctx, case, task).await?;
        let token = self.token().await?;
        Ok((store::list_attachments(&self.db, case, task, after, limit).await?, token))
    }
}
