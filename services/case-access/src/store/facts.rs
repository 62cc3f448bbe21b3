//! Loads what the decision table reads of a stored case ([`CaseFacts`]): the
//! case row, its contributors, tasks and related parties, and the related
//! parties of the sold products it is about (directly or through affected
//! install base items, R5.9).

use std::collections::BTreeMap;

use csm_db::{Db, DbRow, db_error, with_db};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, CaseId, ConsumerId, GroupId, HouseholdId, ProfileId, SoldProductId};
use uuid::Uuid;

use crate::domain::case::{CaseFacts, PartyKind, ProductParty, RelatedParty, TaskFacts};

const FACT_COLUMNS: &str = "id, account_id, contact_id, consumer_id, household_id, partner_account_id, \
     partner_contact_id, internal_contact_id, requestor_organization_id, requested_by_id, opened_by_id, owner_id, \
     owner_group_id";

pub fn party_kind_from_code(code: &str) -> CsmResult<PartyKind> {
    Ok(match code {
        "contact" => PartyKind::Contact,
        "consumer" => PartyKind::Consumer,
        "user" => PartyKind::User,
        "account" => PartyKind::Account,
        "service_organization" => PartyKind::ServiceOrganization,
        other => return Err(CsmError::internal(format!("unknown party kind {other:?}"))),
    })
}

fn facts_from_row(row: &impl DbRow) -> CsmResult<CaseFacts> {
    let id = |column: &str| row.opt_uuid(column).map_err(db_error);
    Ok(CaseFacts {
        case_id: Some(CaseId::from_uuid(row.uuid("id").map_err(db_error)?)),
        account: id("account_id")?.map(AccountId::from_uuid),
        contact: id("contact_id")?.map(ProfileId::from_uuid),
        contact_account: None,
        consumer: id("consumer_id")?.map(ConsumerId::from_uuid),
        household: id("household_id")?.map(HouseholdId::from_uuid),
        partner_account: id("partner_account_id")?.map(AccountId::from_uuid),
        partner_contact: id("partner_contact_id")?.map(ProfileId::from_uuid),
        internal_contact: id("internal_contact_id")?.map(ProfileId::from_uuid),
        requestor_organization: id("requestor_organization_id")?,
        requested_by: id("requested_by_id")?.map(ProfileId::from_uuid),
        opened_by: id("opened_by_id")?.map(ProfileId::from_uuid),
        owner: id("owner_id")?.map(ProfileId::from_uuid),
        owner_group: id("owner_group_id")?.map(GroupId::from_uuid),
        ..CaseFacts::default()
    })
}

pub(crate) fn party_from_row(row: &impl DbRow) -> CsmResult<RelatedParty> {
    Ok(RelatedParty {
        id: row.uuid("id").map_err(db_error)?,
        kind: party_kind_from_code(&row.text("party_kind").map_err(db_error)?)?,
        party_id: row.uuid("party_id").map_err(db_error)?,
        responsibility: row.opt_text("responsibility_name").map_err(db_error)?,
    })
}

/// The facts of case `id`, or `None` when there is no such case.
pub async fn load_case_facts(db: &Db, id: CaseId) -> CsmResult<Option<CaseFacts>> {
    let case_sql = format!("SELECT {FACT_COLUMNS} FROM cases WHERE id = $1");
    let id = *id.as_uuid();
    with_db!(db, |pool| {
        let Some(row) = sqlx::query(&case_sql).bind(id).fetch_optional(pool).await.map_err(db_error)? else {
            return Ok(None);
        };
        let mut facts = facts_from_row(&row)?;
        for row in sqlx::query("SELECT profile_id FROM case_contributor_users WHERE case_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await
            .map_err(db_error)?
        {
            facts.contributor_users.insert(ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?));
        }
        for row in sqlx::query("SELECT group_id FROM case_contributor_groups WHERE case_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await
            .map_err(db_error)?
        {
            facts.contributor_groups.insert(GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?));
        }
        for row in
            sqlx::query("SELECT assigned_to_id, assignment_group_id, opened_by_id FROM case_tasks WHERE case_id = $1")
                .bind(id)
                .fetch_all(pool)
                .await
                .map_err(db_error)?
        {
            facts.tasks.push(TaskFacts {
                assigned_to: row.opt_uuid("assigned_to_id").map_err(db_error)?.map(ProfileId::from_uuid),
                assignment_group: row.opt_uuid("assignment_group_id").map_err(db_error)?.map(GroupId::from_uuid),
                created_by: row.opt_uuid("opened_by_id").map_err(db_error)?.map(ProfileId::from_uuid),
            });
        }
        for row in sqlx::query(
            "SELECT id, party_kind, party_id, responsibility_name FROM related_parties \
             WHERE subject_kind = 'case' AND subject_id = $1",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        {
            facts.related_parties.push(party_from_row(&row)?);
        }
        for row in sqlx::query(
            "SELECT rp.subject_id, rp.id, rp.party_kind, rp.party_id, rp.responsibility_name FROM related_parties rp \
             WHERE rp.subject_kind = 'sold_product' AND (rp.subject_id = (SELECT sold_product_id FROM cases WHERE id = $1) \
             OR rp.subject_id IN (SELECT ib.sold_product_id FROM case_affected_install_bases a \
             JOIN install_base_items ib ON ib.id = a.install_base_item_id WHERE a.case_id = $1))",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        {
            facts.product_parties.push(ProductParty {
                sold_product: SoldProductId::from_uuid(row.uuid("subject_id").map_err(db_error)?),
                party: party_from_row(&row)?,
            });
        }
        for row in sqlx::query(
            "SELECT rp.id, rp.party_kind, rp.party_id, rp.responsibility_name FROM related_parties rp \
             WHERE rp.subject_kind = 'install_base_item' AND (rp.subject_id = (SELECT install_base_item_id FROM cases \
             WHERE id = $1) OR rp.subject_id IN (SELECT a.install_base_item_id FROM case_affected_install_bases a \
             WHERE a.case_id = $1))",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        {
            facts.install_base_parties.push(party_from_row(&row)?);
        }
        Ok(Some(facts))
    })
}

/// The related parties of each of `cases` that has any (a listing page's
/// licence needs, R7.4), in one query.
pub async fn case_related_parties(db: &Db, cases: &[CaseId]) -> CsmResult<BTreeMap<CaseId, Vec<RelatedParty>>> {
    let mut parties: BTreeMap<CaseId, Vec<RelatedParty>> = BTreeMap::new();
    if cases.is_empty() {
        return Ok(parties);
    }
    let placeholders = (1..=cases.len()).map(|index| format!("${index}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT subject_id, id, party_kind, party_id, responsibility_name FROM related_parties \
         WHERE subject_kind = 'case' AND subject_id IN ({placeholders})"
    );
    with_db!(db, |pool| {
        let query = cases.iter().fold(sqlx::query(&sql), |query, case| query.bind(*case.as_uuid()));
        for row in query.fetch_all(pool).await.map_err(db_error)? {
            let case = CaseId::from_uuid(row.uuid("subject_id").map_err(db_error)?);
            parties.entry(case).or_default().push(party_from_row(&row)?);
        }
        Ok(parties)
    })
}

/// Ids of the cases matching `predicate`, in id order (keyset after `after`).
pub async fn list_case_ids(
    db: &Db,
    predicate: &super::predicate::Predicate,
    after: Option<Uuid>,
    limit: i64,
) -> CsmResult<Vec<Uuid>> {
    // $1 = after (or NULL), $2 = limit; the predicate's placeholders start at $3.
    let sql = format!(
        "SELECT c.id FROM cases c WHERE ($1 IS NULL OR c.id > $1) AND {} ORDER BY c.id LIMIT $2",
        predicate.sql
    );
    with_db!(db, |pool| {
        let query = super::predicate::bind_all(sqlx::query(&sql).bind(after).bind(limit), &predicate.binds);
        let rows = query.fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(|row| row.uuid("id").map_err(db_error)).collect()
    })
}
