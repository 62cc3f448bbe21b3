//! SQL of cases: insert and write (one binding of a case row), read, and the visible-case page (the compiled
//! decision table as a pre-filter, DESIGN §3).

use std::collections::BTreeSet;

use csm_db::{Db, DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, CaseId, ConsumerId, GroupId, HouseholdId, ProfileId};
use uuid::Uuid;

use super::predicate::{Bind, compile};
use crate::domain::case::Segment;
use crate::domain::record::CaseRecord;
use crate::domain::table::Rules;

pub(crate) const CASE_COLUMNS: &str = "c.id, c.number, c.short_description, c.description, c.state, c.priority, c.channel, \
     c.segment, c.account_id, c.contact_id, c.consumer_id, c.household_id, c.consumer_profile_id, c.partner_account_id, \
     c.partner_contact_id, c.internal_contact_id, c.requestor_organization_id, c.requested_by_id, c.opened_by_id, \
     c.service_organization_id, c.sold_product_id, c.install_base_item_id, c.assignment_group_id, c.assigned_to_id, \
     c.owner_id, c.owner_group_id, c.escalation, c.close_notes, c.created_at, c.updated_at, c.closed_at";

pub fn segment_from_code(code: &str) -> CsmResult<Segment> {
    Ok(match code {
        "B2B" => Segment::B2b,
        "B2C" => Segment::B2c,
        "SERVICE_ORG" => Segment::ServiceOrg,
        "EMPLOYEE" => Segment::Employee,
        other => return Err(CsmError::internal(format!("unknown segment {other:?}"))),
    })
}

pub(crate) fn case_from_row(row: &impl DbRow) -> CsmResult<CaseRecord> {
    let id = |column: &str| row.opt_uuid(column).map_err(db_error);
    let text = |column: &str| row.text(column).map_err(db_error);
    Ok(CaseRecord {
        id: CaseId::from_uuid(row.uuid("id").map_err(db_error)?),
        number: text("number")?,
        short_description: text("short_description")?,
        description: text("description")?,
        state: text("state")?,
        priority: text("priority")?,
        channel: text("channel")?,
        segment: segment_from_code(&text("segment")?)?,
        account: id("account_id")?.map(AccountId::from_uuid),
        contact: id("contact_id")?.map(ProfileId::from_uuid),
        consumer: id("consumer_id")?.map(ConsumerId::from_uuid),
        household: id("household_id")?.map(HouseholdId::from_uuid),
        consumer_profile: id("consumer_profile_id")?.map(ProfileId::from_uuid),
        partner_account: id("partner_account_id")?.map(AccountId::from_uuid),
        partner_contact: id("partner_contact_id")?.map(ProfileId::from_uuid),
        internal_contact: id("internal_contact_id")?.map(ProfileId::from_uuid),
        requestor_organization: id("requestor_organization_id")?,
        requested_by: id("requested_by_id")?.map(ProfileId::from_uuid),
        opened_by: ProfileId::from_uuid(row.uuid("opened_by_id").map_err(db_error)?),
        service_organization: id("service_organization_id")?,
        sold_product: id("sold_product_id")?,
        install_base_item: id("install_base_item_id")?,
        contributor_users: BTreeSet::new(),
        contributor_groups: BTreeSet::new(),
        assignment_group: id("assignment_group_id")?.map(GroupId::from_uuid),
        assigned_to: id("assigned_to_id")?.map(ProfileId::from_uuid),
        owner: id("owner_id")?.map(ProfileId::from_uuid),
        owner_group: id("owner_group_id")?.map(GroupId::from_uuid),
        escalation: text("escalation")?,
        close_notes: text("close_notes")?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
        closed_at: row.opt_timestamp("closed_at").map_err(db_error)?,
    })
}

/// Takes the next number of `kind` ("case", "case_task") in `tx`. SQLite:
/// the kind's counter row (the first statement: the write lock, held until
/// commit anyway). PostgreSQL: the kind's sequence, so concurrent creations do
/// not queue on a row (a number taken by a rolled-back write is not reused).
pub async fn next_number(tx: &mut Tx, kind: &'static str) -> CsmResult<i64> {
    match tx {
        Tx::Sqlite(tx) => sqlx::query_scalar(
            "UPDATE number_counters SET next_value = next_value + 1 WHERE kind = $1 RETURNING next_value - 1 AS taken",
        )
        .bind(kind)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error),
        Tx::Postgres(tx) => sqlx::query_scalar("SELECT nextval(('number_' || $1)::regclass)")
            .bind(kind)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error),
    }
}

/// The columns every write of a case sets, in bind order ([`bind_case`]);
/// an insert also sets [`INSERT_ONLY`] first.
const WRITTEN: [&str; 26] = [
    "short_description",
    "description",
    "state",
    "priority",
    "segment",
    "account_id",
    "contact_id",
    "consumer_id",
    "household_id",
    "consumer_profile_id",
    "partner_account_id",
    "partner_contact_id",
    "internal_contact_id",
    "requestor_organization_id",
    "requested_by_id",
    "service_organization_id",
    "sold_product_id",
    "install_base_item_id",
    "assignment_group_id",
    "assigned_to_id",
    "owner_id",
    "owner_group_id",
    "escalation",
    "close_notes",
    "updated_at",
    "closed_at",
];

/// Columns set once, when the case is created (after `id`, before [`WRITTEN`]).
const INSERT_ONLY: [&str; 4] = ["number", "channel", "opened_by_id", "created_at"];

/// Binds the [`WRITTEN`] columns of `case` to `query`, in their order: the
/// one binding of a case row, for both backends.
macro_rules! bind_case {
    ($query:expr, $case:expr) => {{
        let case: &CaseRecord = $case;
        $query
            .bind(&case.short_description)
            .bind(&case.description)
            .bind(&case.state)
            .bind(&case.priority)
            .bind(case.segment.as_str())
            .bind(case.account.map(Uuid::from))
            .bind(case.contact.map(Uuid::from))
            .bind(case.consumer.map(Uuid::from))
            .bind(case.household.map(Uuid::from))
            .bind(case.consumer_profile.map(Uuid::from))
            .bind(case.partner_account.map(Uuid::from))
            .bind(case.partner_contact.map(Uuid::from))
            .bind(case.internal_contact.map(Uuid::from))
            .bind(case.requestor_organization)
            .bind(case.requested_by.map(Uuid::from))
            .bind(case.service_organization)
            .bind(case.sold_product)
            .bind(case.install_base_item)
            .bind(case.assignment_group.map(Uuid::from))
            .bind(case.assigned_to.map(Uuid::from))
            .bind(case.owner.map(Uuid::from))
            .bind(case.owner_group.map(Uuid::from))
            .bind(&case.escalation)
            .bind(&case.close_notes)
            .bind(case.updated_at)
            .bind(case.closed_at)
    }};
}

/// Inserts a new case row (its contributor sets are written by the caller).
pub async fn insert_case(tx: &mut Tx, case: &CaseRecord) -> CsmResult<()> {
    let columns: Vec<&str> = std::iter::once("id").chain(INSERT_ONLY).chain(WRITTEN).collect();
    let values: Vec<String> = (1..=columns.len()).map(|index| format!("${index}")).collect();
    let sql = format!("INSERT INTO cases ({}) VALUES ({})", columns.join(", "), values.join(", "));
    with_tx!(tx, |tx| {
        let query = sqlx::query(&sql)
            .bind(case.id.as_uuid())
            .bind(&case.number)
            .bind(&case.channel)
            .bind(case.opened_by.as_uuid())
            .bind(case.created_at);
        bind_case!(query, case).execute(&mut **tx).await.map_err(db_error)?;
    });
    Ok(())
}

/// Writes every [`WRITTEN`] column of an existing case row.
pub async fn write_case(tx: &mut Tx, case: &CaseRecord) -> CsmResult<()> {
    let sets: Vec<String> =
        WRITTEN.iter().enumerate().map(|(index, column)| format!("{column} = ${}", index + 2)).collect();
    let sql = format!("UPDATE cases SET {} WHERE id = $1", sets.join(", "));
    with_tx!(tx, |tx| {
        let query = sqlx::query(&sql).bind(case.id.as_uuid());
        bind_case!(query, case).execute(&mut **tx).await.map_err(db_error)?;
    });
    Ok(())
}

/// Case `id` with its contributor sets, or `None`.
pub async fn get_case(db: &Db, id: CaseId) -> CsmResult<Option<CaseRecord>> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = $1");
    with_db!(db, |pool| {
        let Some(row) = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)? else {
            return Ok(None);
        };
        let mut case = case_from_row(&row)?;
        for row in sqlx::query("SELECT profile_id FROM case_contributor_users WHERE case_id = $1")
            .bind(id.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?
        {
            case.contributor_users.insert(ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?));
        }
        for row in sqlx::query("SELECT group_id FROM case_contributor_groups WHERE case_id = $1")
            .bind(id.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?
        {
            case.contributor_groups.insert(GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?));
        }
        Ok(Some(case))
    })
}

/// Filters of ListVisibleCases (ANDed; empty = all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub states: Vec<String>,
    pub account: Option<AccountId>,
    pub sold_product: Option<Uuid>,
    pub segments: Vec<Segment>,
}

/// One page of the cases `visible` (a principal's READ rules) allows that
/// match `filter`, newest first (case id descending), strictly before
/// `before` when given.
pub async fn list_visible(
    db: &Db,
    visible: &Rules,
    filter: &CaseFilter,
    before: Option<CaseId>,
    limit: i64,
) -> CsmResult<Vec<CaseRecord>> {
    let mut binds: Vec<Bind> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    let next = |binds: &mut Vec<Bind>, value: Bind| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if let Some(before) = before {
        clauses.push(format!("c.id < {}", next(&mut binds, Bind::Uuid(*before.as_uuid()))));
    }
    if !filter.states.is_empty() {
        let list: Vec<String> = filter.states.iter().map(|state| next(&mut binds, Bind::Text(state.clone()))).collect();
        clauses.push(format!("c.state IN ({})", list.join(", ")));
    }
    if let Some(account) = filter.account {
        clauses.push(format!("c.account_id = {}", next(&mut binds, Bind::Uuid(*account.as_uuid()))));
    }
    if let Some(sold_product) = filter.sold_product {
        clauses.push(format!("c.sold_product_id = {}", next(&mut binds, Bind::Uuid(sold_product))));
    }
    if !filter.segments.is_empty() {
        let list: Vec<String> =
            filter.segments.iter().map(|segment| next(&mut binds, Bind::Text(segment.as_str().to_owned()))).collect();
        clauses.push(format!("c.segment IN ({})", list.join(", ")));
    }
    // The predicate's placeholders follow the filters'.
    let visible = compile(visible, binds.len() + 1);
    clauses.push(visible.sql);
    binds.extend(visible.binds);
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases c WHERE {} ORDER BY c.id DESC LIMIT {}",
        clauses.join(" AND "),
        limit.max(1)
    );
    with_db!(db, |pool| {
        let rows = super::predicate::bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(case_from_row).collect()
    })
}

/// Ids of the cases on which `before` and `after` (READ rules of one profile
/// as it is and as a proposed change would make it) disagree, newest first,
/// older than `older_than`, leaving out `except`, at most `limit`: the
/// pre-filter of PreviewAccessChange, compiled as ListVisibleCases compiles.
pub async fn visibility_differs(
    db: &Db,
    before: &Rules,
    after: &Rules,
    except: &[CaseId],
    older_than: Option<CaseId>,
    limit: i64,
) -> CsmResult<Vec<CaseId>> {
    let mut binds: Vec<Bind> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();
    if let Some(older_than) = older_than {
        binds.push(Bind::Uuid(*older_than.as_uuid()));
        clauses.push(format!("c.id < ${}", binds.len()));
    }
    if !except.is_empty() {
        let list: Vec<String> = except
            .iter()
            .map(|id| {
                binds.push(Bind::Uuid(*id.as_uuid()));
                format!("${}", binds.len())
            })
            .collect();
        clauses.push(format!("c.id NOT IN ({})", list.join(", ")));
    }
    let before = compile(before, binds.len() + 1);
    binds.extend(before.binds);
    let after = compile(after, binds.len() + 1);
    binds.extend(after.binds);
    clauses.push(format!("COALESCE(({}), 1 = 0) <> COALESCE(({}), 1 = 0)", before.sql, after.sql));
    let sql =
        format!("SELECT c.id FROM cases c WHERE {} ORDER BY c.id DESC LIMIT {}", clauses.join(" AND "), limit.max(1));
    with_db!(db, |pool| {
        let rows = super::predicate::bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(|row| Ok(CaseId::from_uuid(row.uuid("id").map_err(db_error)?))).collect()
    })
}
