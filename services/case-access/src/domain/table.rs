//! The decision table of SPEC §4–§6 as data. For a principal and an action
//! the table yields the principal's *grants*: each names its rule (a SPEC
//! rule id or a table row `T4.1.customer`), the path that gave it, and a
//! condition over case fields. The same grants serve three uses:
//!
//! - Check evaluates the conditions against one case ([`decide`]);
//! - ListVisibleCases compiles the READ conditions into one SQL predicate
//!   (the store translates each [`Cond`] to a clause over indexed columns);
//! - Explain reports the grant that matched, or the closest one that did not.
//!
//! Hard invariants (R4.3 partition) are *denials*: conditions that refuse an
//! action whatever the grants (R2.20 allows no other deny rules).

use std::collections::BTreeSet;

use csm_types::{AccountId, ConsumerId, GroupId, HouseholdId, ProfileId};
use uuid::Uuid;

use super::case::{CaseFacts, PartyKind, Segment};
use super::principal::{OwnershipRelation, PrincipalContext, PrincipalKind, RecordRight, TeamTarget};

pub use csm_types::roles::ADMIN;
pub use csm_types::roles::{
    ACCOUNT_CONTRIBUTOR, AGENT, CASE_AUTHORIZED_CONSUMER, CASE_AUTHORIZED_CONTACT, CASE_AUTHORIZED_CONTRIBUTOR,
    CASE_CONTRIBUTOR_EDITOR, CASE_CONTRIBUTOR_VIEWER, CASE_TASK_AGENT, CASE_VIEWER, CONSUMER, CONSUMER_AGENT,
    CONSUMER_CONTRIBUTOR, CUSTOMER, CUSTOMER_ADMIN, CUSTOMER_CASE_MANAGER, PARTNER, PARTNER_ADMIN, PROXY_CONTACT,
    RELATIONSHIP_AGENT, RELATIONSHIP_CONTRIBUTOR, SELF_CONTRIBUTOR, SERVICE_ORGANIZATION_CONTRIBUTOR, SNC_INTERNAL,
    SOLD_PRODUCT_AUTHORIZED_CONSUMER, SOLD_PRODUCT_AUTHORIZED_CONTACT, UNIFIED_CONSUMER,
};

pub use csm_types::responsibilities::{ACCOUNT_MANAGER, AUTHORIZED_ACCOUNT, AUTHORIZED_REPRESENTATIVE};
pub const RELATIONSHIP_MANAGER: &str = "Relationship Manager";

/// What the principal wants to do (R4.2, R6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Read,
    WriteFull,
    WriteCustomer,
    WriteLimited,
    CreateSelf,
    CreateObo,
    Delete,
}

impl Action {
    pub fn is_create(self) -> bool {
        matches!(self, Action::CreateSelf | Action::CreateObo)
    }

    pub fn is_write(self) -> bool {
        matches!(self, Action::WriteFull | Action::WriteCustomer | Action::WriteLimited | Action::Delete)
    }
}

/// The case-access settings (contract: Settings), read by the table and the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSettings {
    /// R4.3 note: both agent types handle EMPLOYEE and SERVICE_ORG cases (else neither).
    pub nonb2x_case_agents_both: bool,
    /// X14: T4.1.partner also reads its own account's cases and its partner account's cases.
    pub partner_sees_account_cases: bool,
    /// R4.10: portal users see only install base items listing them as asset contact.
    pub use_asset_contact_relationship: bool,
    /// R1.16: new cases per day per external unified consumer; 0 = unlimited.
    pub consumer_max_new_cases_daily: u32,
    /// R1.16: comments per case per day per external unified consumer; 0 = unlimited.
    pub consumer_max_comments_per_case_daily: u32,
    /// R1.16: attachments per record per external unified consumer; 0 = unlimited.
    pub consumer_max_attachments_per_record: u32,
    /// R6.4: which ownership-holding attributes are defined.
    pub holds: OwnershipHolds,
}

/// Which Cherwell ownership-holding attributes ("Holds") are defined (R6.4);
/// a relation whose attribute is undefined grants nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnershipHolds {
    pub owner: bool,
    pub owner_group: bool,
    pub department: bool,
    pub manager: bool,
}

impl Default for OwnershipHolds {
    fn default() -> Self {
        Self { owner: true, owner_group: true, department: true, manager: true }
    }
}

impl Default for TableSettings {
    fn default() -> Self {
        Self {
            nonb2x_case_agents_both: true,
            partner_sees_account_cases: false,
            use_asset_contact_relationship: false,
            consumer_max_new_cases_daily: 10,
            consumer_max_comments_per_case_daily: 25,
            consumer_max_attachments_per_record: 5,
            holds: OwnershipHolds::default(),
        }
    }
}

/// A condition over case fields (and the case's own related rows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Every case.
    Any,
    SegmentIn(BTreeSet<Segment>),
    OpenedBy(ProfileId),
    Contact(ProfileId),
    PartnerContact(ProfileId),
    InternalContact(ProfileId),
    RequestedBy(ProfileId),
    AccountIn(BTreeSet<AccountId>),
    PartnerAccount(AccountId),
    ConsumerIn(BTreeSet<ConsumerId>),
    HouseholdIn(BTreeSet<HouseholdId>),
    RequestorOrganizationIn(BTreeSet<Uuid>),
    /// The case contact is a contact of the case account (T4.1 CREATE_OBO): the
    /// account is its primary account or one a contact relationship adds it to (R3.7).
    ContactOfCaseAccount,
    ContributorUser(ProfileId),
    ContributorGroupIn(BTreeSet<GroupId>),
    /// A task of the case is assigned to the profile or one of the groups, or created by the profile (R4.19).
    TaskFor {
        profile: ProfileId,
        groups: BTreeSet<GroupId>,
    },
    /// A related party of the case is this party with this responsibility (R5.7).
    RelatedParty {
        kind: PartyKind,
        party: Uuid,
        responsibility: &'static str,
    },
    /// A related party of the case's sold product is this party with this responsibility (R5.8, R5.9).
    ProductParty {
        kind: PartyKind,
        party: Uuid,
        responsibility: &'static str,
    },
    /// A related party of the case's install base item (or an affected one) is this party
    /// with this responsibility (R5.11).
    InstallBaseParty {
        kind: PartyKind,
        party: Uuid,
        responsibility: &'static str,
    },
    OwnerIn(BTreeSet<ProfileId>),
    OwnerGroupIn(BTreeSet<GroupId>),
    /// Every condition holds.
    All(Vec<Cond>),
}

impl Cond {
    /// Whether the condition can hold for some case (an empty set never matches).
    pub fn is_satisfiable(&self) -> bool {
        match self {
            Cond::SegmentIn(set) => !set.is_empty(),
            Cond::AccountIn(set) => !set.is_empty(),
            Cond::ConsumerIn(set) => !set.is_empty(),
            Cond::HouseholdIn(set) => !set.is_empty(),
            Cond::RequestorOrganizationIn(set) => !set.is_empty(),
            Cond::ContributorGroupIn(set) => !set.is_empty(),
            Cond::OwnerIn(set) => !set.is_empty(),
            Cond::OwnerGroupIn(set) => !set.is_empty(),
            Cond::All(conds) => conds.iter().all(Cond::is_satisfiable),
            _ => true,
        }
    }

    /// Evaluates the condition against one case.
    pub fn matches(&self, case: &CaseFacts) -> bool {
        match self {
            Cond::Any => true,
            Cond::SegmentIn(set) => set.contains(&case.segment()),
            Cond::OpenedBy(me) => case.opened_by == Some(*me),
            Cond::Contact(me) => case.contact == Some(*me),
            Cond::PartnerContact(me) => case.partner_contact == Some(*me),
            Cond::InternalContact(me) => case.internal_contact == Some(*me),
            Cond::RequestedBy(me) => case.requested_by == Some(*me),
            Cond::AccountIn(set) => case.account.is_some_and(|account| set.contains(&account)),
            Cond::PartnerAccount(account) => case.partner_account == Some(*account),
            Cond::ConsumerIn(set) => case.consumer.is_some_and(|consumer| set.contains(&consumer)),
            Cond::HouseholdIn(set) => case.household.is_some_and(|household| set.contains(&household)),
            Cond::RequestorOrganizationIn(set) => case.requestor_organization.is_some_and(|org| set.contains(&org)),
            Cond::ContactOfCaseAccount => {
                case.contact.is_some()
                    && case.account.is_some_and(|account| {
                        case.contact_account == Some(account) || case.contact_related_accounts.contains(&account)
                    })
            }
            Cond::ContributorUser(me) => case.contributor_users.contains(me),
            Cond::ContributorGroupIn(set) => !case.contributor_groups.is_disjoint(set),
            Cond::TaskFor { profile, groups } => case.tasks.iter().any(|task| {
                task.assigned_to == Some(*profile)
                    || task.created_by == Some(*profile)
                    || task.assignment_group.is_some_and(|group| groups.contains(&group))
            }),
            Cond::RelatedParty { kind, party, responsibility } => case.related_parties.iter().any(|row| {
                row.kind == *kind && row.party_id == *party && row.responsibility.as_deref() == Some(*responsibility)
            }),
            Cond::ProductParty { kind, party, responsibility } => case.product_parties.iter().any(|row| {
                row.party.kind == *kind
                    && row.party.party_id == *party
                    && row.party.responsibility.as_deref() == Some(*responsibility)
            }),
            Cond::InstallBaseParty { kind, party, responsibility } => case.install_base_parties.iter().any(|row| {
                row.kind == *kind && row.party_id == *party && row.responsibility.as_deref() == Some(*responsibility)
            }),
            Cond::OwnerIn(set) => case.owner.is_some_and(|owner| set.contains(&owner)),
            Cond::OwnerGroupIn(set) => case.owner_group.is_some_and(|group| set.contains(&group)),
            Cond::All(conds) => conds.iter().all(|cond| cond.matches(case)),
        }
    }

    /// How many conjuncts hold (Explain's "closest rule that did not match").
    pub fn satisfied_parts(&self, case: &CaseFacts) -> (usize, usize) {
        match self {
            Cond::All(conds) => conds.iter().fold((0, 0), |(held, total), cond| {
                let (h, t) = cond.satisfied_parts(case);
                (held + h, total + t)
            }),
            cond => (usize::from(cond.matches(case)), 1),
        }
    }
}

/// A set as Explain prints it: every member up to four, else the first three and the size.
fn set_text<T: std::fmt::Display>(set: &BTreeSet<T>) -> String {
    let shown: Vec<String> = set.iter().take(if set.len() > 4 { 3 } else { 4 }).map(ToString::to_string).collect();
    if set.len() > 4 {
        format!("{{{}, … ({} in all)}}", shown.join(", "), set.len())
    } else {
        format!("{{{}}}", shown.join(", "))
    }
}

fn value_text<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "empty".to_owned(), |value| value.to_string())
}

impl Cond {
    /// The conjuncts of the condition (an `All` flattened), in order (Explain).
    pub fn conjuncts(&self) -> Vec<&Cond> {
        match self {
            Cond::All(conds) => conds.iter().flat_map(Cond::conjuncts).collect(),
            cond => vec![cond],
        }
    }

    /// What the condition requires, in one line.
    pub fn describe(&self) -> String {
        match self {
            Cond::Any => "any case".to_owned(),
            Cond::SegmentIn(set) => {
                format!("segment(case) ∈ {{{}}}", set.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
            }
            Cond::OpenedBy(_) => "case.opened_by = me".to_owned(),
            Cond::Contact(_) => "case.contact = me".to_owned(),
            Cond::PartnerContact(_) => "case.partner_contact = me".to_owned(),
            Cond::InternalContact(_) => "case.internal_contact = me".to_owned(),
            Cond::RequestedBy(_) => "case.requested_by = me".to_owned(),
            Cond::AccountIn(set) => format!("case.account ∈ {}", set_text(set)),
            Cond::PartnerAccount(account) => format!("case.partner = {account}"),
            Cond::ConsumerIn(set) => format!("case.consumer ∈ {}", set_text(set)),
            Cond::HouseholdIn(set) => format!("case.household ∈ {}", set_text(set)),
            Cond::RequestorOrganizationIn(set) => format!("case.requestor_organization ∈ {}", set_text(set)),
            Cond::ContactOfCaseAccount => {
                "case.contact is a contact of case.account (its account or a contact relationship)".to_owned()
            }
            Cond::ContributorUser(_) => "me ∈ case.contributor_users".to_owned(),
            Cond::ContributorGroupIn(set) => format!("case.contributor_groups ∩ {} ≠ ∅", set_text(set)),
            Cond::TaskFor { groups, .. } => {
                format!("a task of the case is assigned to me or to a group in {}, or created by me", set_text(groups))
            }
            Cond::RelatedParty { kind, party, responsibility } => {
                format!("a related party of the case is {kind:?} {party} with responsibility {responsibility}")
            }
            Cond::ProductParty { kind, party, responsibility } => format!(
                "a related party of the case's sold product is {kind:?} {party} with responsibility {responsibility}"
            ),
            Cond::InstallBaseParty { kind, party, responsibility } => format!(
                "a related party of the case's install base is {kind:?} {party} with responsibility {responsibility}"
            ),
            Cond::OwnerIn(set) => format!("case.owner ∈ {}", set_text(set)),
            Cond::OwnerGroupIn(set) => format!("case.owner_group ∈ {}", set_text(set)),
            Cond::All(conds) => conds.iter().map(Cond::describe).collect::<Vec<_>>().join(" ∧ "),
        }
    }

    /// The case's values the condition looked at (Explain's "why").
    pub fn detail(&self, case: &CaseFacts) -> String {
        match self {
            Cond::Any => String::new(),
            Cond::SegmentIn(_) => format!("segment(case) = {}", case.segment().as_str()),
            Cond::OpenedBy(me) => format!("case.opened_by = {}; me = {me}", value_text(case.opened_by)),
            Cond::Contact(me) => format!("case.contact = {}; me = {me}", value_text(case.contact)),
            Cond::PartnerContact(me) => {
                format!("case.partner_contact = {}; me = {me}", value_text(case.partner_contact))
            }
            Cond::InternalContact(me) => {
                format!("case.internal_contact = {}; me = {me}", value_text(case.internal_contact))
            }
            Cond::RequestedBy(me) => format!("case.requested_by = {}; me = {me}", value_text(case.requested_by)),
            Cond::AccountIn(_) => format!("case.account = {}", value_text(case.account)),
            Cond::PartnerAccount(_) => format!("case.partner = {}", value_text(case.partner_account)),
            Cond::ConsumerIn(_) => format!("case.consumer = {}", value_text(case.consumer)),
            Cond::HouseholdIn(_) => format!("case.household = {}", value_text(case.household)),
            Cond::RequestorOrganizationIn(_) => {
                format!("case.requestor_organization = {}", value_text(case.requestor_organization))
            }
            Cond::ContactOfCaseAccount => format!(
                "account of case.contact = {}; its contact relationships = {}; case.account = {}",
                value_text(case.contact_account),
                set_text(&case.contact_related_accounts),
                value_text(case.account)
            ),
            Cond::ContributorUser(_) => format!("{} contributor users", case.contributor_users.len()),
            Cond::ContributorGroupIn(_) => format!("{} contributor groups", case.contributor_groups.len()),
            Cond::TaskFor { .. } => format!("{} tasks", case.tasks.len()),
            Cond::RelatedParty { .. } => format!("{} related parties on the case", case.related_parties.len()),
            Cond::ProductParty { .. } => {
                format!("{} related parties on the case's sold products", case.product_parties.len())
            }
            Cond::InstallBaseParty { .. } => {
                format!("{} related parties on the case's install base items", case.install_base_parties.len())
            }
            Cond::OwnerIn(_) => format!("case.owner = {}", value_text(case.owner)),
            Cond::OwnerGroupIn(_) => format!("case.owner_group = {}", value_text(case.owner_group)),
            Cond::All(conds) => conds.iter().map(|cond| cond.detail(case)).collect::<Vec<_>>().join("; "),
        }
    }
}

/// Kind of one step of a decision path (mirrors `csm.case_access.v1.PathStepKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Profile,
    Role,
    Group,
    Account,
    AccountRelationship,
    ContactRelationship,
    TeamMember,
    Consumer,
    Household,
    ConsumerRelationship,
    AccessConfiguration,
    RelatedParty,
    SoldProduct,
    CaseField,
    SecurityGroup,
    Setting,
}

/// One step of the path that gave a grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub id: String,
    pub label: String,
}

impl Step {
    pub fn new(kind: StepKind, id: impl ToString, label: impl Into<String>) -> Self {
        Self { kind, id: id.to_string(), label: label.into() }
    }

    fn role(role: &str) -> Self {
        Self::new(StepKind::Role, role, format!("holds {role}"))
    }

    fn field(field: &str, label: impl Into<String>) -> Self {
        Self::new(StepKind::CaseField, field, label)
    }
}

/// A grant: a rule, the path that gave it, and the cases it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub rule: &'static str,
    pub path: Vec<Step>,
    pub cond: Cond,
}

/// A hard invariant that refuses the action on the cases it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub rule: &'static str,
    pub path: Vec<Step>,
    pub cond: Cond,
}

/// The grants and denials of one principal for one action.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub grants: Vec<Grant>,
    pub denials: Vec<Denial>,
}

impl Rules {
    fn grant(&mut self, rule: &'static str, path: Vec<Step>, cond: Cond) {
        if cond.is_satisfiable() {
            self.grants.push(Grant { rule, path, cond });
        }
    }

    /// Whether the rules can match any case at all.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

/// The grants and denials the principal holds for `action` (SPEC §4–§6).
pub fn rules(ctx: &PrincipalContext, settings: &TableSettings, action: Action) -> Rules {
    let mut rules = Rules::default();
    collect(ctx, settings, action, &mut rules);
    // A stronger write satisfies a weaker one: WRITE_FULL ⇒ WRITE_LIMITED ⇒ WRITE_CUSTOMER.
    if matches!(action, Action::WriteCustomer | Action::WriteLimited) {
        collect(ctx, settings, Action::WriteFull, &mut rules);
        // R4.18: case_contributor_editor writes the limited set on cases it can READ otherwise.
        if ctx.has(CASE_CONTRIBUTOR_EDITOR) {
            let mut readable = Rules::default();
            collect(ctx, settings, Action::Read, &mut readable);
            for grant in readable.grants {
                let mut path =
                    vec![Step::role(CASE_CONTRIBUTOR_EDITOR), Step::new(StepKind::Setting, grant.rule, "READ through")];
                path.extend(grant.path);
                rules.grant("R4.18", path, grant.cond);
            }
        }
    }
    denials(ctx, settings, &mut rules);
    rules
}

fn collect(ctx: &PrincipalContext, settings: &TableSettings, action: Action, rules: &mut Rules) {
    if ctx.has(ADMIN) {
        rules.grant("admin", vec![Step::role(ADMIN)], Cond::Any);
    }
    b2b_rows(ctx, settings, action, rules);
    b2c_rows(ctx, action, rules);
    agent_rows(ctx, settings, action, rules);
    contributor_rows(ctx, action, rules);
    viewer_rows(ctx, action, rules);
    related_party_rows(ctx, action, rules);
    access_configuration_rows(ctx, action, rules);
    ownership_rows(ctx, settings, action, rules);
}

fn me(ctx: &PrincipalContext) -> ProfileId {
    ctx.profile
}

fn own(ctx: &PrincipalContext, rule: &'static str, role: &str, rules: &mut Rules) {
    rules.grant(rule, vec![Step::role(role), Step::field("opened_by", "case.opened_by = me")], Cond::OpenedBy(me(ctx)));
    rules.grant(rule, vec![Step::role(role), Step::field("contact", "case.contact = me")], Cond::Contact(me(ctx)));
}

fn account_step(account: AccountId, label: &str) -> Step {
    Step::new(StepKind::Account, account, label)
}

/// §4.1 — external B2B roles.
fn b2b_rows(ctx: &PrincipalContext, settings: &TableSettings, action: Action, rules: &mut Rules) {
    let reads = matches!(action, Action::Read | Action::WriteCustomer);
    let own_account = ctx.own_account();
    if ctx.has(CUSTOMER) {
        let rule = "T4.1.customer";
        if reads {
            own(ctx, rule, CUSTOMER, rules);
        }
        if action == Action::CreateSelf {
            let cond = Cond::All(vec![Cond::AccountIn(ctx.account_and_relationships()), Cond::Contact(me(ctx))]);
            rules.grant(
                rule,
                vec![Step::role(CUSTOMER), Step::field("account", "case.account ∈ {acct(me)} ∪ CR(me)")],
                cond,
            );
        }
    }
    if ctx.has(CUSTOMER_CASE_MANAGER) {
        let rule = "T4.1.customer_case_manager";
        let scope = ctx.account_and_descendants();
        match action {
            Action::Read | Action::WriteCustomer => {
                for account in &scope {
                    let label = if Some(*account) == ctx.account { "acct(me)" } else { "DESC(acct(me))" };
                    rules.grant(
                        rule,
                        vec![Step::role(CUSTOMER_CASE_MANAGER), account_step(*account, label)],
                        Cond::AccountIn(BTreeSet::from([*account])),
                    );
                }
            }
            Action::CreateSelf => {
                let mut accounts = scope.clone();
                accounts.extend(ctx.contact_relationships.keys().copied());
                let cond = Cond::All(vec![Cond::AccountIn(accounts), Cond::Contact(me(ctx))]);
                rules.grant(rule, vec![Step::role(CUSTOMER_CASE_MANAGER)], cond);
            }
            Action::CreateObo => {
                let cond = Cond::All(vec![Cond::AccountIn(scope), Cond::ContactOfCaseAccount]);
                rules.grant(rule, vec![Step::role(CUSTOMER_CASE_MANAGER)], cond);
            }
            _ => {}
        }
    }
    if ctx.has(CUSTOMER_ADMIN) {
        let rule = "T4.1.customer_admin";
        match action {
            Action::Read | Action::WriteCustomer => {
                for account in &ctx.account_and_descendants() {
                    let label = if Some(*account) == ctx.account { "acct(me)" } else { "DESC(acct(me))" };
                    rules.grant(
                        rule,
                        vec![Step::role(CUSTOMER_ADMIN), account_step(*account, label)],
                        Cond::AccountIn(BTreeSet::from([*account])),
                    );
                }
                for (account, relationship) in &ctx.contact_relationships {
                    rules.grant(
                        rule,
                        vec![
                            Step::role(CUSTOMER_ADMIN),
                            Step::new(StepKind::ContactRelationship, relationship, "CR(me)"),
                            account_step(*account, "contact relationship account"),
                        ],
                        Cond::AccountIn(BTreeSet::from([*account])),
                    );
                }
            }
            Action::CreateSelf => {
                let cond = Cond::All(vec![Cond::AccountIn(ctx.customer_admin_scope()), Cond::Contact(me(ctx))]);
                rules.grant(rule, vec![Step::role(CUSTOMER_ADMIN)], cond);
            }
            Action::CreateObo => {
                let cond = Cond::All(vec![Cond::AccountIn(ctx.customer_admin_scope()), Cond::ContactOfCaseAccount]);
                rules.grant(rule, vec![Step::role(CUSTOMER_ADMIN)], cond);
            }
            _ => {}
        }
    }
    for (role, rule) in [(PARTNER, "T4.1.partner"), (PARTNER_ADMIN, "T4.1.partner_admin")] {
        if !ctx.has(role) {
            continue;
        }
        match action {
            Action::Read | Action::WriteCustomer if role == PARTNER => {
                own(ctx, rule, role, rules);
                rules.grant(
                    rule,
                    vec![Step::role(role), Step::field("partner_contact", "case.partner_contact = me")],
                    Cond::PartnerContact(me(ctx)),
                );
                if settings.partner_sees_account_cases {
                    let setting = Step::new(StepKind::Setting, "partner_sees_account_cases", "X14 breadth on");
                    rules.grant(rule, vec![Step::role(role), setting.clone()], Cond::AccountIn(own_account.clone()));
                    if let Some(account) = ctx.account {
                        rules.grant(rule, vec![Step::role(role), setting], Cond::PartnerAccount(account));
                    }
                }
            }
            Action::Read | Action::WriteCustomer => {
                if let Some(account) = ctx.account {
                    rules.grant(
                        rule,
                        vec![
                            Step::role(role),
                            Step::field("partner", "case.partner = acct(me)"),
                            account_step(account, "acct(me)"),
                        ],
                        Cond::PartnerAccount(account),
                    );
                }
            }
            Action::CreateSelf => {
                let cond = Cond::All(vec![Cond::AccountIn(own_account.clone()), Cond::Contact(me(ctx))]);
                rules.grant(rule, vec![Step::role(role)], cond);
            }
            Action::CreateObo => {
                for (customer, relationship) in &ctx.partner_customers {
                    rules.grant(
                        rule,
                        vec![
                            Step::role(role),
                            Step::new(StepKind::AccountRelationship, relationship, "PCUST(acct(me))"),
                            account_step(*customer, "customer account"),
                        ],
                        Cond::AccountIn(BTreeSet::from([*customer])),
                    );
                }
            }
            _ => {}
        }
    }
}

/// §4.2 — consumers (B2C).
fn b2c_rows(ctx: &PrincipalContext, action: Action, rules: &mut Rules) {
    let role = if ctx.has(CONSUMER) {
        CONSUMER
    } else if ctx.has(UNIFIED_CONSUMER) {
        UNIFIED_CONSUMER
    } else {
        return;
    };
    let reads = matches!(action, Action::Read | Action::WriteCustomer);
    if let Some(consumer) = ctx.consumer
        && (reads || action == Action::CreateSelf)
    {
        rules.grant(
            "T4.2.consumer",
            vec![Step::role(role), Step::new(StepKind::Consumer, consumer, "case.consumer = my consumer")],
            Cond::ConsumerIn(BTreeSet::from([consumer])),
        );
    }
    if reads || action == Action::CreateObo {
        for (member, household) in &ctx.household_members {
            rules.grant(
                "T4.2.head_of_household",
                vec![
                    Step::role(role),
                    Step::new(StepKind::Household, household, "head of household"),
                    Step::new(StepKind::Consumer, member, "current household member"),
                ],
                Cond::ConsumerIn(BTreeSet::from([*member])),
            );
        }
        for (consumer, relationship) in &ctx.represented_consumers {
            rules.grant(
                "T4.2.authorized_representative",
                vec![
                    Step::role(role),
                    Step::new(StepKind::ConsumerRelationship, relationship, "authorized representative"),
                    Step::new(StepKind::Consumer, consumer, "represented consumer"),
                ],
                Cond::ConsumerIn(BTreeSet::from([*consumer])),
            );
        }
    }
}

fn agent_segments(primary: Segment, settings: &TableSettings) -> BTreeSet<Segment> {
    let mut segments = BTreeSet::from([primary]);
    if settings.nonb2x_case_agents_both {
        segments.extend([Segment::Employee, Segment::ServiceOrg]);
    }
    segments
}

/// §4.3 — internal agent roles. The manager has no row of its own: it sees
/// all cases through the agent roles it contains (R4.13).
fn agent_rows(ctx: &PrincipalContext, settings: &TableSettings, action: Action, rules: &mut Rules) {
    for (role, rule, primary) in
        [(AGENT, "T4.3.agent", Segment::B2b), (CONSUMER_AGENT, "T4.3.consumer_agent", Segment::B2c)]
    {
        if !ctx.has(role) {
            continue;
        }
        match action {
            Action::Read | Action::WriteFull => {
                let segments = agent_segments(primary, settings);
                let label = segments.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                rules.grant(
                    rule,
                    vec![Step::role(role), Step::field("segment", format!("segment ∈ {{{label}}}"))],
                    Cond::SegmentIn(segments),
                );
            }
            Action::CreateObo => {
                rules.grant(
                    rule,
                    vec![Step::role(role), Step::field("segment", format!("segment = {}", primary.as_str()))],
                    Cond::SegmentIn(BTreeSet::from([primary])),
                );
            }
            _ => {}
        }
    }
    // R3.16: team membership grants agent capabilities with relationship_agent.
    if ctx.has(RELATIONSHIP_AGENT) && matches!(action, Action::Read | Action::WriteFull | Action::CreateObo) {
        relationship_rows(ctx, "T4.3.relationship_agent", RELATIONSHIP_AGENT, rules);
    }
}

/// Cases of the customers the principal has a team relationship with (Account
/// Manager for accounts, Relationship Manager for consumers/households).
fn relationship_rows(ctx: &PrincipalContext, rule: &'static str, role: &str, rules: &mut Rules) {
    for team in &ctx.teams {
        let (wanted, cond, step) = match team.target {
            TeamTarget::Account(account) => {
                (ACCOUNT_MANAGER, Cond::AccountIn(BTreeSet::from([account])), account_step(account, "team account"))
            }
            TeamTarget::Consumer(consumer) => (
                RELATIONSHIP_MANAGER,
                Cond::ConsumerIn(BTreeSet::from([consumer])),
                Step::new(StepKind::Consumer, consumer, "team consumer"),
            ),
            TeamTarget::Household(household) => (
                RELATIONSHIP_MANAGER,
                Cond::HouseholdIn(BTreeSet::from([household])),
                Step::new(StepKind::Household, household, "team household"),
            ),
        };
        if team.responsibility.eq_ignore_ascii_case(wanted) {
            rules.grant(
                rule,
                vec![Step::role(role), Step::new(StepKind::TeamMember, team.id, team.responsibility.clone()), step],
                cond,
            );
        }
    }
}

/// §4.4 — contributor roles.
fn contributor_rows(ctx: &PrincipalContext, action: Action, rules: &mut Rules) {
    let internal = ctx.has(SNC_INTERNAL);
    for (role, rule, segment) in [
        (ACCOUNT_CONTRIBUTOR, "T4.4.account_contributor", Segment::B2b),
        (CONSUMER_CONTRIBUTOR, "T4.4.consumer_contributor", Segment::B2c),
    ] {
        if !(internal && ctx.has(role)) {
            continue;
        }
        let in_segment = Cond::SegmentIn(BTreeSet::from([segment]));
        match action {
            Action::CreateObo => rules.grant(rule, vec![Step::role(role)], in_segment),
            Action::Read => rules.grant(
                rule,
                vec![Step::role(role), Step::field("opened_by", "cases it created")],
                Cond::All(vec![Cond::OpenedBy(me(ctx)), in_segment]),
            ),
            Action::WriteCustomer => rules.grant(
                rule,
                vec![Step::role(role), Step::field("contributor_users", "created by me and I participate")],
                Cond::All(vec![Cond::OpenedBy(me(ctx)), in_segment, Cond::ContributorUser(me(ctx))]),
            ),
            _ => {}
        }
    }
    // R3.16: team membership grants contributor capabilities with relationship_contributor.
    if ctx.has(RELATIONSHIP_CONTRIBUTOR) && matches!(action, Action::Read | Action::WriteCustomer | Action::CreateObo) {
        relationship_rows(ctx, "T4.4.relationship_contributor", RELATIONSHIP_CONTRIBUTOR, rules);
    }
    if internal && ctx.has(SELF_CONTRIBUTOR) {
        let rule = "T4.4.self_contributor";
        match action {
            Action::CreateSelf => rules.grant(
                rule,
                vec![Step::role(SELF_CONTRIBUTOR), Step::field("requested_by", "requested_by = me, no customer")],
                Cond::All(vec![Cond::RequestedBy(me(ctx)), Cond::SegmentIn(BTreeSet::from([Segment::Employee]))]),
            ),
            Action::Read | Action::WriteCustomer => rules.grant(
                rule,
                vec![Step::role(SELF_CONTRIBUTOR), Step::field("requested_by", "case.requested_by = me")],
                Cond::RequestedBy(me(ctx)),
            ),
            _ => {}
        }
    }
    if ctx.has(SERVICE_ORGANIZATION_CONTRIBUTOR) {
        let rule = "T4.4.service_organization_contributor";
        let role = SERVICE_ORGANIZATION_CONTRIBUTOR;
        let locations = Cond::RequestorOrganizationIn(ctx.business_locations.clone());
        match action {
            Action::CreateObo => rules.grant(
                rule,
                vec![Step::role(role), Step::field("requestor_organization", "my business location")],
                locations,
            ),
            Action::Read | Action::WriteCustomer => {
                rules.grant(
                    rule,
                    vec![Step::role(role), Step::field("opened_by", "case.opened_by = me")],
                    Cond::OpenedBy(me(ctx)),
                );
                rules.grant(
                    rule,
                    vec![Step::role(role), Step::field("requestor_organization", "my business location")],
                    locations,
                );
            }
            _ => {}
        }
    }
}

/// §4.5–§4.6 — viewers, task agents, proxy contacts.
fn viewer_rows(ctx: &PrincipalContext, action: Action, rules: &mut Rules) {
    if action == Action::Read {
        if ctx.has(CASE_VIEWER) {
            rules.grant("R4.15", vec![Step::role(CASE_VIEWER)], Cond::Any);
        }
        if ctx.has(CASE_CONTRIBUTOR_VIEWER) {
            rules.grant(
                "R4.17",
                vec![Step::role(CASE_CONTRIBUTOR_VIEWER), Step::field("contributor_users", "me ∈ contributor_users")],
                Cond::ContributorUser(me(ctx)),
            );
            rules.grant(
                "R4.17",
                vec![
                    Step::role(CASE_CONTRIBUTOR_VIEWER),
                    Step::field("contributor_groups", "my group ∈ contributor_groups"),
                ],
                Cond::ContributorGroupIn(ctx.groups.clone()),
            );
        }
        if ctx.has(CASE_TASK_AGENT) {
            rules.grant(
                "R4.19",
                vec![
                    Step::role(CASE_TASK_AGENT),
                    Step::field("tasks", "a task assigned to me / my group or created by me"),
                ],
                Cond::TaskFor { profile: me(ctx), groups: ctx.groups.clone() },
            );
        }
    }
    if ctx.has(PROXY_CONTACT) {
        match action {
            Action::Read | Action::WriteCustomer => rules.grant(
                "R4.21",
                vec![Step::role(PROXY_CONTACT), Step::field("internal_contact", "case.internal_contact = me")],
                Cond::InternalContact(me(ctx)),
            ),
            Action::CreateObo => rules.grant(
                "R4.21",
                vec![Step::role(PROXY_CONTACT), Step::field("segment", "a customer account case")],
                Cond::SegmentIn(BTreeSet::from([Segment::B2b])),
            ),
            _ => {}
        }
    }
}

/// §5.2–§5.3 — related parties on cases and on sold products.
fn related_party_rows(ctx: &PrincipalContext, action: Action, rules: &mut Rules) {
    if !matches!(action, Action::Read | Action::WriteCustomer) {
        return;
    }
    // R5.7 (X13): the functional role matches the party kind; case_authorized_contributor fits any kind.
    let mut parties: Vec<(PartyKind, Uuid, &str)> = Vec::new();
    let contributor = ctx.has(CASE_AUTHORIZED_CONTRIBUTOR);
    match ctx.kind {
        PrincipalKind::Contact | PrincipalKind::PartnerContact if contributor || ctx.has(CASE_AUTHORIZED_CONTACT) => {
            let role =
                if ctx.has(CASE_AUTHORIZED_CONTACT) { CASE_AUTHORIZED_CONTACT } else { CASE_AUTHORIZED_CONTRIBUTOR };
            parties.push((PartyKind::Contact, *ctx.profile.as_uuid(), role));
        }
        PrincipalKind::Consumer if contributor || ctx.has(CASE_AUTHORIZED_CONSUMER) => {
            let role =
                if ctx.has(CASE_AUTHORIZED_CONSUMER) { CASE_AUTHORIZED_CONSUMER } else { CASE_AUTHORIZED_CONTRIBUTOR };
            if let Some(consumer) = ctx.consumer {
                parties.push((PartyKind::Consumer, *consumer.as_uuid(), role));
            }
        }
        PrincipalKind::Employee if contributor => {
            parties.push((PartyKind::User, *ctx.profile.as_uuid(), CASE_AUTHORIZED_CONTRIBUTOR));
        }
        _ => {}
    }
    for (kind, party, role) in parties {
        rules.grant(
            "R5.7",
            vec![Step::role(role), Step::new(StepKind::RelatedParty, party, "Authorized Representative on the case")],
            Cond::RelatedParty { kind, party, responsibility: AUTHORIZED_REPRESENTATIVE },
        );
    }
    // R5.8/R5.9: access to a sold product grants its cases (the parties come from domain::parties).
    for grant in super::grants::sold_product_parties(ctx) {
        let (kind, party, responsibility) = (grant.kind, grant.party, grant.responsibility);
        rules.grant(
            "R5.9",
            vec![
                Step::role(grant.role),
                Step::new(StepKind::SoldProduct, party, format!("{responsibility} on the case's sold product")),
            ],
            Cond::ProductParty { kind, party, responsibility },
        );
    }
    // R5.11: install-base related parties reach the cases of that install base.
    for grant in super::grants::install_base_parties(ctx) {
        let (kind, party, responsibility) = (grant.kind, grant.party, grant.responsibility);
        rules.grant(
            "R5.11",
            vec![
                Step::role(grant.role),
                Step::new(StepKind::RelatedParty, party, format!("{responsibility} on the case's install base")),
            ],
            Cond::InstallBaseParty { kind, party, responsibility },
        );
    }
}

/// R5.3 — responsibility access configurations, Simple association on the case account.
fn access_configuration_rows(ctx: &PrincipalContext, action: Action, rules: &mut Rules) {
    for config in &ctx.access_configurations {
        let level = match action {
            Action::Read => config.read || config.write || config.create,
            Action::WriteCustomer => config.write,
            Action::CreateObo => config.create,
            _ => false,
        };
        if !level || !config.roles_required.is_subset(&ctx.roles) {
            continue;
        }
        for team in &ctx.teams {
            if let TeamTarget::Account(account) = team.target
                && team.responsibility.eq_ignore_ascii_case(&config.responsibility)
            {
                rules.grant(
                    "R5.3",
                    vec![
                        Step::new(StepKind::AccessConfiguration, config.id, config.responsibility.clone()),
                        Step::new(StepKind::TeamMember, team.id, team.responsibility.clone()),
                        account_step(account, "team_member.account = case.account"),
                    ],
                    Cond::AccountIn(BTreeSet::from([account])),
                );
            }
        }
    }
}

impl OwnershipHolds {
    /// Whether the "Holds" attribute `relation` depends on is defined (R6.4).
    pub fn defines(&self, relation: OwnershipRelation) -> bool {
        match relation {
            OwnershipRelation::Owner => self.owner,
            OwnershipRelation::DepartmentMember => self.department,
            OwnershipRelation::ManagerOfOwner => self.manager,
            OwnershipRelation::TeamMember | OwnershipRelation::TeamManager => self.owner_group,
        }
    }
}

/// R6.3–R6.5 — Cherwell security-group rights, by ownership relation; a
/// relation whose "Holds" attribute is undefined grants nothing (R6.4).
fn ownership_rows(ctx: &PrincipalContext, settings: &TableSettings, action: Action, rules: &mut Rules) {
    let right = match action {
        Action::Read => RecordRight::View,
        Action::WriteFull if !ctx.kind.is_external() => RecordRight::Edit,
        Action::WriteCustomer if ctx.kind.is_external() => RecordRight::Edit,
        Action::CreateSelf | Action::CreateObo => RecordRight::Add,
        Action::Delete => RecordRight::Delete,
        _ => return,
    };
    let Some(group) = ctx.ownership.security_group else { return };
    let group_step = Step::new(StepKind::SecurityGroup, group, "security group rights");
    if ctx.ownership.base.contains(&right) {
        rules.grant("R6.4.base", vec![group_step.clone()], Cond::Any);
    }
    for (relation, rights) in &ctx.ownership.by_relation {
        if !rights.contains(&right) || !settings.holds.defines(*relation) {
            continue;
        }
        let cond = match relation {
            OwnershipRelation::Owner => Cond::OwnerIn(BTreeSet::from([me(ctx)])),
            OwnershipRelation::DepartmentMember => Cond::OwnerIn(ctx.department_members.clone()),
            OwnershipRelation::ManagerOfOwner => Cond::OwnerIn(ctx.reports.clone()),
            OwnershipRelation::TeamMember => Cond::OwnerGroupIn(ctx.groups.clone()),
            OwnershipRelation::TeamManager => Cond::OwnerGroupIn(ctx.managed_groups.clone()),
        };
        rules.grant(relation.rule(), vec![group_step.clone()], cond);
    }
}

/// R4.3 — B2B and B2C agents are partitioned: holding one agent type without
/// the other refuses every action on the other segment's cases.
fn denials(ctx: &PrincipalContext, _settings: &TableSettings, rules: &mut Rules) {
    let (b2b, b2c) = (ctx.has(AGENT), ctx.has(CONSUMER_AGENT));
    let denied = match (b2b, b2c) {
        (true, false) => Some((AGENT, Segment::B2c)),
        (false, true) => Some((CONSUMER_AGENT, Segment::B2b)),
        _ => None,
    };
    if let Some((role, segment)) = denied {
        rules.denials.push(Denial {
            rule: "R4.3",
            path: vec![
                Step::role(role),
                Step::field("segment", format!("segment = {} (other agent type)", segment.as_str())),
            ],
            cond: Cond::SegmentIn(BTreeSet::from([segment])),
        });
    }
}

/// How one decision came about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A grant matched and no denial applied.
    Allowed { rule: &'static str, path: Vec<Step> },
    /// A hard invariant refused the action.
    Denied { rule: &'static str, path: Vec<Step> },
    /// No grant matched; `closest` is the grant with the most conditions met.
    NoGrant { closest: Option<(&'static str, Vec<Step>)> },
}

impl Outcome {
    pub fn allowed(&self) -> bool {
        matches!(self, Outcome::Allowed { .. })
    }

    /// The rule a decision names: the granting rule, the denying invariant,
    /// or "R2.20" when no grant matched (the union had nothing to offer).
    pub fn rule(&self) -> &'static str {
        match self {
            Outcome::Allowed { rule, .. } | Outcome::Denied { rule, .. } => rule,
            Outcome::NoGrant { .. } => "R2.20",
        }
    }

    /// The rule an audit record names: the granting or denying rule, or for no
    /// grant the closest grant that did not match ("R2.20" when none came close).
    pub fn audit_rule(&self) -> &'static str {
        match self {
            Outcome::NoGrant { closest: Some((rule, _)) } => rule,
            _ => self.rule(),
        }
    }

    /// The path of an allow or a denial (empty for "R2.20").
    pub fn path(&self) -> &[Step] {
        match self {
            Outcome::Allowed { path, .. } | Outcome::Denied { path, .. } => path,
            Outcome::NoGrant { .. } => &[],
        }
    }
}

/// One rule as Explain lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Considered {
    pub rule: &'static str,
    pub path: Vec<Step>,
    pub matched: bool,
    /// A denial (hard invariant) rather than a grant.
    pub denial: bool,
}

/// Decides `action` on `case` for the principal: denials first, then the
/// first matching grant (grants are a union, R2.20).
pub fn decide(rules: &Rules, case: &CaseFacts) -> Outcome {
    if let Some(denial) = rules.denials.iter().find(|denial| denial.cond.matches(case)) {
        return Outcome::Denied { rule: denial.rule, path: denial.path.clone() };
    }
    if let Some(grant) = rules.grants.iter().find(|grant| grant.cond.matches(case)) {
        return Outcome::Allowed { rule: grant.rule, path: grant.path.clone() };
    }
    let closest = rules
        .grants
        .iter()
        .enumerate()
        .max_by_key(|(index, grant)| {
            let (held, total) = grant.cond.satisfied_parts(case);
            // Most conditions met, then the fewest unmet, then table order.
            (held, usize::MAX - (total - held), usize::MAX - index)
        })
        .map(|(_, grant)| (grant.rule, grant.path.clone()));
    Outcome::NoGrant { closest }
}

/// T4.1 CREATE_OBO (customer_case_manager, customer_admin): whether a create
/// no grant allows would be allowed but for the case contact not being a
/// contact of the case account — the contract's CONTACT_NOT_OF_ACCOUNT
/// rather than ACCESS_DENIED. Only those rows carry the condition, so no
/// other creator is ever refused for its choice of contact.
pub fn refused_only_for_the_contact(rules: &Rules, case: &CaseFacts) -> bool {
    rules.grants.iter().any(|grant| {
        let parts = grant.cond.conjuncts();
        let contact_of_account = |part: &&Cond| matches!(part, Cond::ContactOfCaseAccount);
        parts.iter().any(|part| contact_of_account(part) && !part.matches(case))
            && parts.iter().all(|part| contact_of_account(part) || part.matches(case))
    })
}

/// Decides `action` on a stored case: every write also needs READ (R4.18,
/// the contract's union rules), so a write is refused with READ's answer
/// when READ is refused.
pub fn decide_action(ctx: &PrincipalContext, settings: &TableSettings, action: Action, case: &CaseFacts) -> Outcome {
    decide_compiled(|action| Box::new(rules(ctx, settings, action)), action, case)
}

/// [`decide_action`] over rules compiled beforehand: `rules_of(action)` gives
/// the principal's rules for an action (a check reads them from the compiled
/// rules of its cached context instead of collecting the table again).
pub fn decide_compiled<R: std::ops::Deref<Target = Rules>>(
    rules_of: impl Fn(Action) -> R,
    action: Action,
    case: &CaseFacts,
) -> Outcome {
    if action.is_write() {
        let read = decide(&rules_of(Action::Read), case);
        if !read.allowed() {
            return read;
        }
    }
    decide(&rules_of(action), case)
}

/// Every rule considered for the decision, in table order (Explain).
pub fn consider(rules: &Rules, case: &CaseFacts) -> Vec<Considered> {
    let denials = rules.denials.iter().map(|denial| Considered {
        rule: denial.rule,
        path: denial.path.clone(),
        matched: denial.cond.matches(case),
        denial: true,
    });
    let grants = rules.grants.iter().map(|grant| Considered {
        rule: grant.rule,
        path: grant.path.clone(),
        matched: grant.cond.matches(case),
        denial: false,
    });
    denials.chain(grants).collect()
}

/// Portal licence mode (R7.5, X4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LicenseMode {
    /// Reading or editing someone else's record takes a licence (default).
    Access,
    /// Only editing someone else's record takes one.
    Edit,
}

/// R7.4: whether `case` is the principal's own record — it opened it, is its
/// contact, partner contact, owner, requester or consumer — or a record it is
/// associated with as a related party of the case (R5.5–R5.7).
///
/// [INTERP] Any related-party row naming the principal associates it with
/// the case, "Listed" types included: R7.4 says "associated", not
/// "authorized" (access itself still needs a grant, R5.4). Parties of the
/// case's sold product or install base (R5.9, R5.11) are associated with the
/// asset, not with the case.
pub fn own_record(ctx: &PrincipalContext, case: &CaseFacts) -> bool {
    let me = Some(ctx.profile);
    let named = case.opened_by == me
        || case.contact == me
        || case.partner_contact == me
        || case.owner == me
        || case.requested_by == me
        || (ctx.consumer.is_some() && case.consumer == ctx.consumer);
    named
        || case.related_parties.iter().any(|party| match party.kind {
            PartyKind::Contact | PartyKind::User => party.party_id == *ctx.profile.as_uuid(),
            PartyKind::Consumer => ctx.consumer.is_some_and(|consumer| party.party_id == *consumer.as_uuid()),
            PartyKind::Account | PartyKind::ServiceOrganization => false,
        })
}

/// SPEC §7: whether an allowed action needs a concurrent licence. Internal
/// users hold theirs from login; a customer needs one only for records that
/// are not its own (R7.4), for reads and writes alike, as `mode` says (R7.5).
pub fn needs_license(ctx: &PrincipalContext, case: &CaseFacts, action: Action, mode: LicenseMode) -> bool {
    if !ctx.kind.is_external() || action.is_create() || own_record(ctx, case) {
        return false;
    }
    match mode {
        LicenseMode::Access => true,
        LicenseMode::Edit => action.is_write(),
    }
}
