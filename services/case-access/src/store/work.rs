//! SQL of case updates and deletes, comments, attachments, tasks and the
//! R1.16 rate-limit counters. Every write runs in the caller's transaction.

use std::collections::BTreeSet;

use csm_db::{Db, DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{CaseId, ConsumerId, GroupId, ProfileId};
use uuid::Uuid;

use super::cases::{CASE_COLUMNS, case_from_row};
use super::predicate::{Bind, bind_all, compile};
use crate::domain::record::CaseRecord;
use crate::domain::work::{
    Assignment, AttachmentRecord, CommentKind, CommentRecord, ContributorChanges, TaskReadScope, TaskRecord,
};

// ------------------------------------------------------------ rate limits

/// Takes one unit of an R1.16 limit for (`scope`, `profile`, `record`, `period`)
/// in `tx`: a conditional upsert, so concurrent writers cannot pass `limit`.
/// `false` when the limit is reached.
pub async fn take_rate_unit(
    tx: &mut Tx,
    scope: &str,
    profile: ProfileId,
    record: &str,
    period: &str,
    limit: u32,
) -> CsmResult<bool> {
    if limit == 0 {
        return Ok(true);
    }
    let used: Option<i64> = with_tx!(tx, |tx| {
        sqlx::query_scalar(
            "INSERT INTO rate_limit_counters (scope, profile_id, record_id, period, used) VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (scope, profile_id, record_id, period) DO UPDATE SET used = rate_limit_counters.used + 1 \
             WHERE rate_limit_counters.used < $5 RETURNING used",
        )
        .bind(scope)
        .bind(profile.as_uuid())
        .bind(record)
        .bind(period)
        .bind(i64::from(limit))
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
    });
    Ok(used.is_some())
}

// ------------------------------------------------------------ cases

/// Locks case `id` for an update (the transaction's first statement: on
/// SQLite the write lock, on PostgreSQL the row lock) and reads it. `None`: no such case.
pub async fn lock_case(tx: &mut Tx, id: CaseId) -> CsmResult<Option<CaseRecord>> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = $1");
    with_tx!(tx, |tx| {
        let locked = sqlx::query("UPDATE cases SET updated_at = updated_at WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if locked == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
        let mut case = case_from_row(&row)?;
        for row in sqlx::query("SELECT profile_id FROM case_contributor_users WHERE case_id = $1")
            .bind(id.as_uuid())
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?
        {
            case.contributor_users.insert(ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?));
        }
        for row in sqlx::query("SELECT group_id FROM case_contributor_groups WHERE case_id = $1")
            .bind(id.as_uuid())
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?
        {
            case.contributor_groups.insert(GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?));
        }
        Ok(Some(case))
    })
}

/// Replaces the contributor sets of `case` with its record's.
pub async fn replace_contributors(tx: &mut Tx, case: &CaseRecord) -> CsmResult<()> {
    let id = *case.id.as_uuid();
    let users: Vec<Uuid> = case.contributor_users.iter().map(|user| *user.as_uuid()).collect();
    let groups: Vec<Uuid> = case.contributor_groups.iter().map(|group| *group.as_uuid()).collect();
    replace_ids(tx, "DELETE FROM case_contributor_users WHERE case_id = $1", INSERT_CONTRIBUTOR_USER, id, &users)
        .await?;
    replace_ids(tx, "DELETE FROM case_contributor_groups WHERE case_id = $1", INSERT_CONTRIBUTOR_GROUP, id, &groups)
        .await
}

const INSERT_CONTRIBUTOR_USER: &str =
    "INSERT INTO case_contributor_users (case_id, profile_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const INSERT_CONTRIBUTOR_GROUP: &str =
    "INSERT INTO case_contributor_groups (case_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";

async fn replace_ids(tx: &mut Tx, delete: &str, insert: &str, case: Uuid, ids: &[Uuid]) -> CsmResult<()> {
    with_tx!(tx, |tx| {
        sqlx::query(delete).bind(case).execute(&mut **tx).await.map_err(db_error)?;
        for id in ids {
            sqlx::query(insert).bind(case).bind(*id).execute(&mut **tx).await.map_err(db_error)?;
        }
    });
    Ok(())
}

/// The watch list and the work notes list of case `id` (R4.18, R4.21).
pub async fn watch_lists(db: &Db, id: CaseId) -> CsmResult<(Vec<ProfileId>, Vec<ProfileId>)> {
    with_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT profile_id, work_notes FROM case_watch_list WHERE case_id = $1 ORDER BY work_notes, profile_id",
        )
        .bind(id.as_uuid())
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
        let (mut watch, mut notes) = (Vec::new(), Vec::new());
        for row in rows {
            let profile = ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?);
            if row.boolean("work_notes").map_err(db_error)? { notes.push(profile) } else { watch.push(profile) }
        }
        Ok((watch, notes))
    })
}

/// Replaces the watch list (`work_notes = false`) or the work notes list of case `id`.
pub async fn replace_watch_list(
    tx: &mut Tx,
    id: CaseId,
    work_notes: bool,
    profiles: &BTreeSet<ProfileId>,
) -> CsmResult<()> {
    with_tx!(tx, |tx| {
        sqlx::query("DELETE FROM case_watch_list WHERE case_id = $1 AND work_notes = $2")
            .bind(id.as_uuid())
            .bind(work_notes)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        for profile in profiles {
            sqlx::query("INSERT INTO case_watch_list (case_id, profile_id, work_notes) VALUES ($1, $2, $3)")
                .bind(id.as_uuid())
                .bind(profile.as_uuid())
                .bind(work_notes)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
    });
    Ok(())
}

/// The affected install base items of case `id`.
pub async fn affected_install_bases(db: &Db, id: CaseId) -> CsmResult<Vec<Uuid>> {
    with_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT install_base_item_id FROM case_affected_install_bases WHERE case_id = $1 \
             ORDER BY install_base_item_id",
        )
        .bind(id.as_uuid())
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(|row| row.uuid("install_base_item_id").map_err(db_error)).collect()
    })
}

/// Replaces the affected install base items of case `id`; an unknown item is NOT_FOUND.
pub async fn replace_affected_install_bases(tx: &mut Tx, id: CaseId, items: &BTreeSet<Uuid>) -> CsmResult<()> {
    with_tx!(tx, |tx| {
        sqlx::query("DELETE FROM case_affected_install_bases WHERE case_id = $1")
            .bind(id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        for item in items {
            let known: Option<Uuid> = sqlx::query_scalar("SELECT id FROM install_base_items WHERE id = $1")
                .bind(*item)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            if known.is_none() {
                return Err(CsmError::not_found("install base item", item)
                    .with_metadata("field", "support_case.affected_install_base_item_ids"));
            }
            sqlx::query("INSERT INTO case_affected_install_bases (case_id, install_base_item_id) VALUES ($1, $2)")
                .bind(id.as_uuid())
                .bind(*item)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
    });
    Ok(())
}

/// Deletes case `id` with its tasks, comments, attachments, lists and related
/// parties. `false`: no such case.
pub async fn delete_case(tx: &mut Tx, id: CaseId) -> CsmResult<bool> {
    with_tx!(tx, |tx| {
        let deleted = sqlx::query("DELETE FROM cases WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        sqlx::query("DELETE FROM related_parties WHERE subject_kind = 'case' AND subject_id = $1")
            .bind(id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(deleted > 0)
    })
}

/// One page of the cases of `consumer` (and of `consumer_profile` when given),
/// newest first, strictly before `before`.
pub async fn list_consumer_cases(
    db: &Db,
    consumer: ConsumerId,
    consumer_profile: Option<ProfileId>,
    states: &[String],
    before: Option<CaseId>,
    limit: i64,
) -> CsmResult<Vec<CaseRecord>> {
    let mut binds = vec![Bind::Uuid(*consumer.as_uuid())];
    let mut clauses = vec!["c.consumer_id = $1".to_owned()];
    if let Some(profile) = consumer_profile {
        binds.push(Bind::Uuid(*profile.as_uuid()));
        clauses.push(format!("c.consumer_profile_id = ${}", binds.len()));
    }
    if let Some(before) = before {
        binds.push(Bind::Uuid(*before.as_uuid()));
        clauses.push(format!("c.id < ${}", binds.len()));
    }
    if !states.is_empty() {
        let mut list = Vec::new();
        for state in states {
            binds.push(Bind::Text(state.clone()));
            list.push(format!("${}", binds.len()));
        }
        clauses.push(format!("c.state IN ({})", list.join(", ")));
    }
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases c WHERE {} ORDER BY c.id DESC LIMIT {}",
        clauses.join(" AND "),
        limit.max(1)
    );
    with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(case_from_row).collect()
    })
}

// ------------------------------------------------------------ comments, attachments

const COMMENT_COLUMNS: &str = "id, case_id, case_task_id, kind, body, author_id, created_at";

fn comment_from_row(row: &impl DbRow) -> CsmResult<CommentRecord> {
    let kind = row.text("kind").map_err(db_error)?;
    Ok(CommentRecord {
        id: row.uuid("id").map_err(db_error)?,
        case_id: CaseId::from_uuid(row.uuid("case_id").map_err(db_error)?),
        case_task_id: row.opt_uuid("case_task_id").map_err(db_error)?,
        kind: CommentKind::parse(&kind).ok_or_else(|| CsmError::internal(format!("unknown comment kind {kind:?}")))?,
        body: row.text("body").map_err(db_error)?,
        author: ProfileId::from_uuid(row.uuid("author_id").map_err(db_error)?),
        created_at: row.timestamp("created_at").map_err(db_error)?,
    })
}

pub async fn insert_comment(tx: &mut Tx, comment: &CommentRecord) -> CsmResult<()> {
    with_tx!(tx, |tx| {
        sqlx::query(
            "INSERT INTO case_comments (id, case_id, case_task_id, kind, body, author_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(comment.id)
        .bind(comment.case_id.as_uuid())
        .bind(comment.case_task_id)
        .bind(comment.kind.as_str())
        .bind(&comment.body)
        .bind(comment.author.as_uuid())
        .bind(comment.created_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    });
    Ok(())
}

pub async fn get_comment(db: &Db, id: Uuid) -> CsmResult<Option<CommentRecord>> {
    let sql = format!("SELECT {COMMENT_COLUMNS} FROM case_comments WHERE id = $1");
    with_db!(db, |pool| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(comment_from_row).transpose()
    })
}

/// One page of the comments of case `case` (only of `task` when given) of
/// `kinds`, oldest first, strictly after `after`.
pub async fn list_comments(
    db: &Db,
    case: CaseId,
    task: Option<Uuid>,
    kinds: &[CommentKind],
    after: Option<Uuid>,
    limit: i64,
) -> CsmResult<Vec<CommentRecord>> {
    let mut binds = vec![Bind::Uuid(*case.as_uuid())];
    let mut clauses = vec!["case_id = $1".to_owned()];
    if let Some(task) = task {
        binds.push(Bind::Uuid(task));
        clauses.push(format!("case_task_id = ${}", binds.len()));
    }
    if let Some(after) = after {
        binds.push(Bind::Uuid(after));
        clauses.push(format!("id > ${}", binds.len()));
    }
    let mut list = Vec::new();
    for kind in kinds {
        binds.push(Bind::Text(kind.as_str().to_owned()));
        list.push(format!("${}", binds.len()));
    }
    clauses.push(if list.is_empty() { "1 = 0".to_owned() } else { format!("kind IN ({})", list.join(", ")) });
    let sql = format!(
        "SELECT {COMMENT_COLUMNS} FROM case_comments WHERE {} ORDER BY id LIMIT {}",
        clauses.join(" AND "),
        limit.max(1)
    );
    with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(comment_from_row).collect()
    })
}

const ATTACHMENT_COLUMNS: &str = "id, case_id, case_task_id, file_name, content_type, size_bytes, content_uri, sha256, \
     uploaded_by_id, created_at";

fn attachment_from_row(row: &impl DbRow) -> CsmResult<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: row.uuid("id").map_err(db_error)?,
        case_id: CaseId::from_uuid(row.uuid("case_id").map_err(db_error)?),
        case_task_id: row.opt_uuid("case_task_id").map_err(db_error)?,
        file_name: row.text("file_name").map_err(db_error)?,
        content_type: row.text("content_type").map_err(db_error)?,
        size_bytes: row.int("size_bytes").map_err(db_error)?,
        content_uri: row.text("content_uri").map_err(db_error)?,
        sha256: row.text("sha256").map_err(db_error)?,
        uploaded_by: ProfileId::from_uuid(row.uuid("uploaded_by_id").map_err(db_error)?),
        created_at: row.timestamp("created_at").map_err(db_error)?,
    })
}

pub async fn insert_attachment(tx: &mut Tx, attachment: &AttachmentRecord) -> CsmResult<()> {
    with_tx!(tx, |tx| {
        sqlx::query(
            "INSERT INTO case_attachments (id, case_id, case_task_id, file_name, content_type, size_bytes, \
             content_uri, sha256, uploaded_by_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(attachment.id)
        .bind(attachment.case_id.as_uuid())
        .bind(attachment.case_task_id)
        .bind(&attachment.file_name)
        .bind(&attachment.content_type)
        .bind(attachment.size_bytes)
        .bind(&attachment.content_uri)
        .bind(&attachment.sha256)
        .bind(attachment.uploaded_by.as_uuid())
        .bind(attachment.created_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    });
    Ok(())
}

pub async fn get_attachment(db: &Db, id: Uuid) -> CsmResult<Option<AttachmentRecord>> {
    let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM case_attachments WHERE id = $1");
    with_db!(db, |pool| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(attachment_from_row).transpose()
    })
}

/// One page of the attachments of case `case` (only of `task` when given), oldest first.
pub async fn list_attachments(
    db: &Db,
    case: CaseId,
    task: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> CsmResult<Vec<AttachmentRecord>> {
    let mut binds = vec![Bind::Uuid(*case.as_uuid())];
    let mut clauses = vec!["case_id = $1".to_owned()];
    if let Some(task) = task {
        binds.push(Bind::Uuid(task));
        clauses.push(format!("case_task_id = ${}", binds.len()));
    }
    if let Some(after) = after {
        binds.push(Bind::Uuid(after));
        clauses.push(format!("id > ${}", binds.len()));
    }
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM case_attachments WHERE {} ORDER BY id LIMIT {}",
        clauses.join(" AND "),
        limit.max(1)
    );
    with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(attachment_from_row).collect()
    })
}

// ------------------------------------------------------------ tasks

const TASK_COLUMNS: &str = "t.id, t.case_id, t.number, t.short_description, t.description, t.state, \
     t.assigned_to_id, t.assignment_group_id, t.customer_visible, t.consumer_profile_id, t.opened_by_id, \
     t.created_at, t.updated_at, t.closed_at";

fn task_from_row(row: &impl DbRow) -> CsmResult<TaskRecord> {
    let id = |column: &str| row.opt_uuid(column).map_err(db_error);
    Ok(TaskRecord {
        id: row.uuid("id").map_err(db_error)?,
        case_id: CaseId::from_uuid(row.uuid("case_id").map_err(db_error)?),
        number: row.text("number").map_err(db_error)?,
        short_description: row.text("short_description").map_err(db_error)?,
        description: row.text("description").map_err(db_error)?,
        state: row.text("state").map_err(db_error)?,
        assigned_to: id("assigned_to_id")?.map(ProfileId::from_uuid),
        assignment_group: id("assignment_group_id")?.map(GroupId::from_uuid),
        customer_visible: row.boolean("customer_visible").map_err(db_error)?,
        consumer_profile: id("consumer_profile_id")?.map(ProfileId::from_uuid),
        opened_by: ProfileId::from_uuid(row.uuid("opened_by_id").map_err(db_error)?),
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
        closed_at: row.opt_timestamp("closed_at").map_err(db_error)?,
    })
}

pub async fn get_task(db: &Db, id: Uuid) -> CsmResult<Option<TaskRecord>> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM case_tasks t WHERE t.id = $1");
    with_db!(db, |pool| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(task_from_row).transpose()
    })
}

/// Task `id` read in `tx` (after the parent case is locked).
pub async fn get_task_tx(tx: &mut Tx, id: Uuid) -> CsmResult<Option<TaskRecord>> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM case_tasks t WHERE t.id = $1");
    with_tx!(tx, |tx| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error)?;
        row.as_ref().map(task_from_row).transpose()
    })
}

/// The assignments of the tasks of `case` other than `except`, read in `tx`.
pub async fn other_assignments(tx: &mut Tx, case: CaseId, except: Uuid) -> CsmResult<Vec<Assignment>> {
    with_tx!(tx, |tx| {
        let rows =
            sqlx::query("SELECT assigned_to_id, assignment_group_id FROM case_tasks WHERE case_id = $1 AND id <> $2")
                .bind(case.as_uuid())
                .bind(except)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(Assignment {
                    assigned_to: row.opt_uuid("assigned_to_id").map_err(db_error)?.map(ProfileId::from_uuid),
                    group: row.opt_uuid("assignment_group_id").map_err(db_error)?.map(GroupId::from_uuid),
                })
            })
            .collect()
    })
}

pub async fn insert_task(tx: &mut Tx, task: &TaskRecord) -> CsmResult<()> {
    with_tx!(tx, |tx| {
        sqlx::query(
            "INSERT INTO case_tasks (id, case_id, number, short_description, description, state, assigned_to_id, \
             assignment_group_id, customer_visible, consumer_profile_id, opened_by_id, created_at, updated_at, \
             closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(task.id)
        .bind(task.case_id.as_uuid())
        .bind(&task.number)
        .bind(&task.short_description)
        .bind(&task.description)
        .bind(&task.state)
        .bind(task.assigned_to.map(|id| *id.as_uuid()))
        .bind(task.assignment_group.map(|id| *id.as_uuid()))
        .bind(task.customer_visible)
        .bind(task.consumer_profile.map(|id| *id.as_uuid()))
        .bind(task.opened_by.as_uuid())
        .bind(task.created_at)
        .bind(task.updated_at)
        .bind(task.closed_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    });
    Ok(())
}

pub async fn write_task(tx: &mut Tx, task: &TaskRecord) -> CsmResult<()> {
    with_tx!(tx, |tx| {
        sqlx::query(
            "UPDATE case_tasks SET short_description = $2, description = $3, state = $4, assigned_to_id = $5, \
             assignment_group_id = $6, customer_visible = $7, updated_at = $8, closed_at = $9 WHERE id = $1",
        )
        .bind(task.id)
        .bind(&task.short_description)
        .bind(&task.description)
        .bind(&task.state)
        .bind(task.assigned_to.map(|id| *id.as_uuid()))
        .bind(task.assignment_group.map(|id| *id.as_uuid()))
        .bind(task.customer_visible)
        .bind(task.updated_at)
        .bind(task.closed_at)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    });
    Ok(())
}

pub async fn delete_task(tx: &mut Tx, id: Uuid) -> CsmResult<bool> {
    with_tx!(tx, |tx| {
        let deleted = sqlx::query("DELETE FROM case_tasks WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        Ok(deleted > 0)
    })
}

/// Applies R4.20 contributor changes to case `case`.
pub async fn apply_contributor_changes(tx: &mut Tx, case: CaseId, changes: &ContributorChanges) -> CsmResult<()> {
    let id = *case.as_uuid();
    with_tx!(tx, |tx| {
        for user in &changes.add_users {
            sqlx::query(INSERT_CONTRIBUTOR_USER)
                .bind(id)
                .bind(user.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        for user in &changes.remove_users {
            sqlx::query("DELETE FROM case_contributor_users WHERE case_id = $1 AND profile_id = $2")
                .bind(id)
                .bind(user.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        for group in &changes.add_groups {
            sqlx::query(INSERT_CONTRIBUTOR_GROUP)
                .bind(id)
                .bind(group.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
        for group in &changes.remove_groups {
            sqlx::query("DELETE FROM case_contributor_groups WHERE case_id = $1 AND group_id = $2")
                .bind(id)
                .bind(group.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
    });
    Ok(())
}

/// Filters of ListCaseTasks (ANDed).
#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    pub case: Option<CaseId>,
    /// Assigned to the profile or the groups, or opened by it.
    pub my_work: Option<(ProfileId, BTreeSet<GroupId>)>,
    pub states: Vec<String>,
}

fn works_for_clause(profile: ProfileId, groups: &BTreeSet<GroupId>, binds: &mut Vec<Bind>) -> String {
    binds.push(Bind::Uuid(*profile.as_uuid()));
    let me = format!("${}", binds.len());
    let mut parts = vec![format!("t.assigned_to_id = {me}"), format!("t.opened_by_id = {me}")];
    if !groups.is_empty() {
        let mut list = Vec::new();
        for group in groups {
            binds.push(Bind::Uuid(*group.as_uuid()));
            list.push(format!("${}", binds.len()));
        }
        parts.push(format!("t.assignment_group_id IN ({})", list.join(", ")));
    }
    format!("({})", parts.join(" OR "))
}

/// One page of the tasks `scope` (the READ rows of the task table) allows
/// that match `filter`, by task id, strictly after `after`.
pub async fn list_tasks(
    db: &Db,
    scope: &TaskReadScope,
    filter: &TaskFilter,
    after: Option<Uuid>,
    limit: i64,
) -> CsmResult<Vec<TaskRecord>> {
    let mut binds: Vec<Bind> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    if let Some(case) = filter.case {
        binds.push(Bind::Uuid(*case.as_uuid()));
        clauses.push(format!("t.case_id = ${}", binds.len()));
    }
    if let Some(after) = after {
        binds.push(Bind::Uuid(after));
        clauses.push(format!("t.id > ${}", binds.len()));
    }
    if !filter.states.is_empty() {
        let mut list = Vec::new();
        for state in &filter.states {
            binds.push(Bind::Text(state.clone()));
            list.push(format!("${}", binds.len()));
        }
        clauses.push(format!("t.state IN ({})", list.join(", ")));
    }
    if let Some((profile, groups)) = &filter.my_work {
        clauses.push(works_for_clause(*profile, groups, &mut binds));
    }
    if !scope.all {
        let mut readable = Vec::new();
        if let Some((profile, groups)) = &scope.works_for {
            readable.push(works_for_clause(*profile, groups, &mut binds));
        }
        if let Some(rules) = &scope.parent_case {
            let predicate = compile(rules, binds.len() + 1);
            binds.extend(predicate.binds);
            readable.push(predicate.sql);
        }
        clauses.push(if readable.is_empty() { "1 = 0".to_owned() } else { format!("({})", readable.join(" OR ")) });
    }
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM case_tasks t JOIN cases c ON c.id = t.case_id {} ORDER BY t.id LIMIT {}",
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) },
        limit.max(1)
    );
    with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(task_from_row).collect()
    })
}
