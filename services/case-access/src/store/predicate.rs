//! The decision table compiled to SQL (DESIGN §3 "listing = pre-filter"):
//! the READ grants of a principal become one WHERE clause over indexed
//! columns of `cases` (alias `c`), the denials its negation. The clause is
//! derived from the same [`Rules`] a Check evaluates in memory, so list and
//! check cannot disagree about which conditions exist — only about how one
//! condition reads, which the agreement test of this module pins down.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::domain::case::{PartyKind, Segment};
use crate::domain::table::{Cond, Rules};

/// A value bound to a `$n` placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bind {
    Uuid(Uuid),
    Text(String),
}

/// Binds `binds` to `query`'s placeholders, in order.
pub fn bind_all<'q, DB: sqlx::Database>(
    mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Uuid(value) => query.bind(*value),
            Bind::Text(value) => query.bind(value.clone()),
        };
    }
    query
}

/// A SQL boolean expression over `cases c` and its placeholders' values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Predicate {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// Builds placeholders numbered from a starting index (the caller's query may
/// bind values before the predicate's).
struct Builder {
    first: usize,
    binds: Vec<Bind>,
}

impl Builder {
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.first + self.binds.len() - 1)
    }

    fn uuid(&mut self, value: Uuid) -> String {
        self.bind(Bind::Uuid(value))
    }

    fn text(&mut self, value: &str) -> String {
        self.bind(Bind::Text(value.to_owned()))
    }

    fn uuid_list(&mut self, values: impl IntoIterator<Item = Uuid>) -> String {
        values.into_iter().map(|value| self.uuid(value)).collect::<Vec<_>>().join(", ")
    }
}

pub fn segment_code(segment: Segment) -> &'static str {
    segment.as_str()
}

pub fn party_kind_code(kind: PartyKind) -> &'static str {
    match kind {
        PartyKind::Contact => "contact",
        PartyKind::Consumer => "consumer",
        PartyKind::User => "user",
        PartyKind::Account => "account",
        PartyKind::ServiceOrganization => "service_organization",
    }
}

/// The single-column conditions, merged per column into one `IN` list.
fn column_of(cond: &Cond) -> Option<(&'static str, Vec<Uuid>)> {
    fn ids<T: Copy + Into<Uuid>>(set: &BTreeSet<T>) -> Vec<Uuid> {
        set.iter().map(|id| (*id).into()).collect()
    }
    Some(match cond {
        Cond::OpenedBy(me) => ("c.opened_by_id", vec![(*me).into()]),
        Cond::Contact(me) => ("c.contact_id", vec![(*me).into()]),
        Cond::PartnerContact(me) => ("c.partner_contact_id", vec![(*me).into()]),
        Cond::InternalContact(me) => ("c.internal_contact_id", vec![(*me).into()]),
        Cond::RequestedBy(me) => ("c.requested_by_id", vec![(*me).into()]),
        Cond::AccountIn(set) => ("c.account_id", ids(set)),
        Cond::PartnerAccount(account) => ("c.partner_account_id", vec![(*account).into()]),
        Cond::ConsumerIn(set) => ("c.consumer_id", ids(set)),
        Cond::HouseholdIn(set) => ("c.household_id", ids(set)),
        Cond::RequestorOrganizationIn(set) => ("c.requestor_organization_id", set.iter().copied().collect()),
        Cond::OwnerIn(set) => ("c.owner_id", ids(set)),
        Cond::OwnerGroupIn(set) => ("c.owner_group_id", ids(set)),
        _ => return None,
    })
}

fn compile_cond(cond: &Cond, b: &mut Builder) -> String {
    if let Some((column, ids)) = column_of(cond) {
        return if ids.is_empty() { "1 = 0".to_owned() } else { format!("{column} IN ({})", b.uuid_list(ids)) };
    }
    match cond {
        Cond::Any => "1 = 1".to_owned(),
        Cond::SegmentIn(set) if set.is_empty() => "1 = 0".to_owned(),
        Cond::SegmentIn(set) => {
            let codes = set.iter().map(|segment| b.text(segment_code(*segment))).collect::<Vec<_>>().join(", ");
            format!("c.segment IN ({codes})")
        }
        // Only drafts carry the contact's account; stored cases never match it.
        Cond::ContactOfCaseAccount => "1 = 0".to_owned(),
        Cond::ContributorUser(me) => format!(
            "EXISTS (SELECT 1 FROM case_contributor_users cu WHERE cu.case_id = c.id AND cu.profile_id = {})",
            b.uuid((*me).into())
        ),
        Cond::ContributorGroupIn(groups) if groups.is_empty() => "1 = 0".to_owned(),
        Cond::ContributorGroupIn(groups) => format!(
            "EXISTS (SELECT 1 FROM case_contributor_groups cg WHERE cg.case_id = c.id AND cg.group_id IN ({}))",
            b.uuid_list(groups.iter().map(|group| (*group).into()))
        ),
        Cond::TaskFor { profile, groups } => {
            let me = b.uuid((*profile).into());
            let me_again = b.uuid((*profile).into());
            let by_group = if groups.is_empty() {
                String::new()
            } else {
                format!(" OR t.assignment_group_id IN ({})", b.uuid_list(groups.iter().map(|group| (*group).into())))
            };
            format!(
                "EXISTS (SELECT 1 FROM case_tasks t WHERE t.case_id = c.id \
                 AND (t.assigned_to_id = {me} OR t.opened_by_id = {me_again}{by_group}))"
            )
        }
        Cond::RelatedParty { kind, party, responsibility } => format!(
            "EXISTS (SELECT 1 FROM related_parties rp WHERE rp.subject_kind = 'case' AND rp.subject_id = c.id \
             AND rp.party_kind = {} AND rp.party_id = {} AND rp.responsibility_name = {})",
            b.text(party_kind_code(*kind)),
            b.uuid(*party),
            b.text(responsibility)
        ),
        Cond::ProductParty { kind, party, responsibility } => format!(
            "EXISTS (SELECT 1 FROM related_parties rp WHERE rp.subject_kind = 'sold_product' \
             AND rp.party_kind = {} AND rp.party_id = {} AND rp.responsibility_name = {} \
             AND (rp.subject_id = c.sold_product_id OR rp.subject_id IN (SELECT ib.sold_product_id \
             FROM case_affected_install_bases a JOIN install_base_items ib ON ib.id = a.install_base_item_id \
             WHERE a.case_id = c.id)))",
            b.text(party_kind_code(*kind)),
            b.uuid(*party),
            b.text(responsibility)
        ),
        Cond::InstallBaseParty { kind, party, responsibility } => format!(
            "EXISTS (SELECT 1 FROM related_parties rp WHERE rp.subject_kind = 'install_base_item' \
             AND rp.party_kind = {} AND rp.party_id = {} AND rp.responsibility_name = {} \
             AND (rp.subject_id = c.install_base_item_id OR rp.subject_id IN (SELECT a.install_base_item_id \
             FROM case_affected_install_bases a WHERE a.case_id = c.id)))",
            b.text(party_kind_code(*kind)),
            b.uuid(*party),
            b.text(responsibility)
        ),
        Cond::All(conds) if conds.is_empty() => "1 = 1".to_owned(),
        Cond::All(conds) => {
            format!("({})", conds.iter().map(|cond| compile_cond(cond, b)).collect::<Vec<_>>().join(" AND "))
        }
        other => unreachable!("single-column condition {other:?} is handled by column_of"),
    }
}

/// OR of `conds`, with the single-column ones merged per column.
fn disjunction<'a>(conds: impl IntoIterator<Item = &'a Cond>, b: &mut Builder) -> Option<String> {
    let mut columns: BTreeMap<&'static str, BTreeSet<Uuid>> = BTreeMap::new();
    let mut others: Vec<&Cond> = Vec::new();
    let mut any = false;
    for cond in conds {
        match cond {
            Cond::Any => any = true,
            cond => match column_of(cond) {
                Some((column, ids)) => columns.entry(column).or_default().extend(ids),
                None if !others.contains(&cond) => others.push(cond),
                None => {}
            },
        }
    }
    if any {
        return Some("1 = 1".to_owned());
    }
    let mut parts: Vec<String> = columns
        .into_iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(column, ids)| format!("{column} IN ({})", b.uuid_list(ids)))
        .collect();
    parts.extend(others.into_iter().map(|cond| compile_cond(cond, b)));
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

/// `(grants…) AND NOT (denials…)`, with placeholders from `$first`.
pub fn compile(rules: &Rules, first: usize) -> Predicate {
    let mut b = Builder { first, binds: Vec::new() };
    let Some(granted) = disjunction(rules.grants.iter().map(|grant| &grant.cond), &mut b) else {
        return Predicate { sql: "1 = 0".to_owned(), binds: Vec::new() };
    };
    let sql = match disjunction(rules.denials.iter().map(|denial| &denial.cond), &mut b) {
        // COALESCE: a denial over a NULL column must not turn the whole row NULL.
        Some(denied) => format!("({granted}) AND NOT COALESCE(({denied}), 1 = 0)"),
        None => format!("({granted})"),
    };
    Predicate { sql, binds: b.binds }
}
