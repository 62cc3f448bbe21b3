//! Loads what the decision table reads of a stored case ([`CaseFacts`]): the
//! case row, its contributors, tasks and related parties, and the related
//! parties of the sold products it is about (directly or through affected
//! install base items, R5.9).

use std::collections::{BTreeMap, HashMap};

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

/// At most this many cases per round of [`load_many_case_facts`] (well under
/// SQLite's bound on a statement's parameters).
const CHUNK: usize = 500;

/// The facts of case `id`, or `None` when there is no such case.
pub async fn load_case_facts(db: &Db, id: CaseId) -> CsmResult<Option<CaseFacts>> {
    Ok(load_many_case_facts(db, &[id]).await?.remove(&id))
}

/// The facts of each of `ids` that exists, in one round of queries per 500
/// cases however many there are (BatchCheck loads its misses at once). Rows
/// come in id order: the facts of a case are the same loaded alone or in a batch.
pub async fn load_many_case_facts(db: &Db, ids: &[CaseId]) -> CsmResult<HashMap<CaseId, CaseFacts>> {
    let mut facts = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        load_chunk(db, chunk, &mut facts).await?;
    }
    Ok(facts)
}

/// `$1, $2, … $count`.
fn placeholders(count: usize) -> String {
    (1..=count).map(|index| format!("${index}")).collect::<Vec<_>>().join(", ")
}

/// The facts, among `found`, of the case a row's `case_id` names (`None`: a
/// case created since the first query of the round; it was not asked about).
fn facts_of<'a>(found: &'a mut HashMap<CaseId, CaseFacts>, row: &impl DbRow) -> CsmResult<Option<&'a mut CaseFacts>> {
    Ok(found.get_mut(&CaseId::from_uuid(row.uuid("case_id").map_err(db_error)?)))
}

/// Loads the facts of the cases of `ids` (at most [`CHUNK`]) into `facts`.
async fn load_chunk(db: &Db, ids: &[CaseId], facts: &mut HashMap<CaseId, CaseFacts>) -> CsmResult<()> {
    let list = placeholders(ids.len());
    let sql = |text: &str| text.replace("{ids}", &list);
    let cases_sql = format!("SELECT {FACT_COLUMNS} FROM cases WHERE id IN ({list})");
    let users_sql = sql("SELECT case_id, profile_id FROM case_contributor_users WHERE case_id IN ({ids})");
    let groups_sql = sql("SELECT case_id, group_id FROM case_contributor_groups WHERE case_id IN ({ids})");
    let tasks_sql = sql(
        "SELECT case_id, assigned_to_id, assignment_group_id, opened_by_id FROM case_tasks WHERE case_id IN ({ids}) \
         ORDER BY id",
    );
    // The parties of the sold product a case is about, directly or through an
    // affected install base item (R5.9); UNION: a party reached both ways counts
    // once. Ordered by the party row's id (by position: SQLite orders a UNION so).
    let product_sql = sql(
        "SELECT c.id AS case_id, rp.subject_id, rp.id, rp.party_kind, rp.party_id, rp.responsibility_name \
         FROM cases c JOIN related_parties rp ON rp.subject_kind = 'sold_product' AND rp.subject_id = c.sold_product_id \
         WHERE c.id IN ({ids}) \
         UNION SELECT a.case_id, rp.subject_id, rp.id, rp.party_kind, rp.party_id, rp.responsibility_name \
         FROM case_affected_install_bases a JOIN install_base_items ib ON ib.id = a.install_base_item_id \
         JOIN related_parties rp ON rp.subject_kind = 'sold_product' AND rp.subject_id = ib.sold_product_id \
         WHERE a.case_id IN ({ids}) ORDER BY 3",
    );
    // The parties of the install base item a case is about, or of one it affects.
    let install_base_sql = sql("SELECT c.id AS case_id, rp.id, rp.party_kind, rp.party_id, rp.responsibility_name \
         FROM cases c JOIN related_parties rp ON rp.subject_kind = 'install_base_item' \
         AND rp.subject_id = c.install_base_item_id WHERE c.id IN ({ids}) \
         UNION SELECT a.case_id, rp.id, rp.party_kind, rp.party_id, rp.responsibility_name \
         FROM case_affected_install_bases a JOIN related_parties rp ON rp.subject_kind = 'install_base_item' \
         AND rp.subject_id = a.install_base_item_id WHERE a.case_id IN ({ids}) ORDER BY 2");
    let mut found: HashMap<CaseId, CaseFacts> = HashMap::with_capacity(ids.len());
    with_db!(db, |pool| {
        let query = |sql| ids.iter().fold(sqlx::query(sql), |query, id| query.bind(*id.as_uuid()));
        for row in query(&cases_sql).fetch_all(pool).await.map_err(db_error)? {
            found.insert(CaseId::from_uuid(row.uuid("id").map_err(db_error)?), facts_from_row(&row)?);
        }
        if found.is_empty() {
            return Ok(()); // none of them exists: nothing more to load
        }
        for row in query(&users_sql).fetch_all(pool).await.map_err(db_error)? {
            let profile = ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?);
            if let Some(facts) = facts_of(&mut found, &row)? {
                facts.contributor_users.insert(profile);
            }
        }
        for row in query(&groups_sql).fetch_all(pool).await.map_err(db_error)? {
            let group = GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?);
            if let Some(facts) = facts_of(&mut found, &row)? {
                facts.contributor_groups.insert(group);
            }
        }
        for row in query(&tasks_sql).fetch_all(pool).await.map_err(db_error)? {
            let task = TaskFacts {
                assigned_to: row.opt_uuid("assigned_to_id").map_err(db_error)?.map(ProfileId::from_uuid),
                assignment_group: row.opt_uuid("assignment_group_id").map_err(db_error)?.map(GroupId::from_uuid),
                created_by: row.opt_uuid("opened_by_id").map_err(db_error)?.map(ProfileId::from_uuid),
            };
            if let Some(facts) = facts_of(&mut found, &row)? {
                facts.tasks.push(task);
            }
        }
        for row in query(&product_sql).fetch_all(pool).await.map_err(db_error)? {
            let party = ProductParty {
                sold_product: SoldProductId::from_uuid(row.uuid("subject_id").map_err(db_error)?),
                party: party_from_row(&row)?,
            };
            if let Some(facts) = facts_of(&mut found, &row)? {
                facts.product_parties.push(party);
            }
        }
        for row in query(&install_base_sql).fetch_all(pool).await.map_err(db_error)? {
            let party = party_from_row(&row)?;
            if let Some(facts) = facts_of(&mut found, &row)? {
                facts.install_base_parties.push(party);
            }
        }
        Ok::<(), CsmError>(())
    })?;
    let loaded: Vec<CaseId> = found.keys().copied().collect();
    for (case, parties) in case_related_parties(db, &loaded).await? {
        if let Some(facts) = found.get_mut(&case) {
            facts.related_parties = parties;
        }
    }
    facts.extend(found);
    Ok(())
}

/// The related parties of each of `cases` that has any (a listing page's
/// licence needs, R7.4), in one query.
pub async fn case_related_parties(db: &Db, cases: &[CaseId]) -> CsmResult<BTreeMap<CaseId, Vec<RelatedParty>>> {
    let mut parties: BTreeMap<CaseId, Vec<RelatedParty>> = BTreeMap::new();
    if cases.is_empty() {
        return Ok(parties);
    }
    let sql = format!(
        "SELECT subject_id, id, party_kind, party_id, responsibility_name FROM related_parties \
         WHERE subject_kind = 'case' AND subject_id IN ({}) ORDER BY id",
        placeholders(cases.len())
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
