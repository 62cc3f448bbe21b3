//! Who may read, write and delete sold products and install base items
//! (R4.10, R4.16, R5.8, R5.11, T4.2, T4.3), as data — the asset counterpart
//! of the case table in [`super::table`]. A principal's *asset grants* for an
//! action are conditions over an asset's fields and the related parties that
//! reach it; GetSoldProduct / Check evaluate them against one asset
//! ([`decide_asset`]) and ListSoldProducts / ListInstallBaseItems compile the
//! same grants to SQL (store::parties), so get and list cannot disagree.
//!
//! Which related parties a principal "is" comes from [`super::grants`], which
//! the case table's R5.9 / R5.11 rows read too.

use csm_types::roles;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use csm_types::{AccountId, ConsumerId, ProfileId};
use uuid::Uuid;

use super::case::{PartyKind, RelatedParty};
use super::grants::{install_base_parties, sold_product_parties};
use super::principal::PrincipalContext;
use super::table::{
    ADMIN, AGENT, AUTHORIZED_ACCOUNT, AUTHORIZED_REPRESENTATIVE, Action, CONSUMER, CONSUMER_AGENT, CUSTOMER,
    CUSTOMER_ADMIN, CUSTOMER_CASE_MANAGER, Outcome, PARTNER, PARTNER_ADMIN, Step, StepKind, TableSettings,
    UNIFIED_CONSUMER,
};

pub use csm_types::roles::{
    CUSTOMER_DATA_VIEWER, INSTALL_BASE_AUTHORIZED_CONSUMER, INSTALL_BASE_AUTHORIZED_CONTACT,
    INSTALL_BASE_AUTHORIZED_CONTRIBUTOR, INSTALL_BASE_AUTHORIZED_MEMBER, MANAGER,
};
/// R5.14 granular role letting a holder with READ on a case write its related parties
/// (the catalog stores CAM granular roles with the `_granular` suffix; the contract's name is accepted too).
pub const CASE_RELATED_PARTY_WRITE: &[&str] =
    &[roles::CASE_RELATED_PARTY_WRITE_GRANULAR, "sn_customerservice.case_related_party_write"];
/// R5.14 granular role writing install base related parties (contained by the install base functional roles).
pub const INSTALL_BASE_RELATED_PARTY_WRITE: &[&str] =
    &[roles::INSTALL_BASE_RELATED_PARTY_WRITE_GRANULAR, "sn_install_base.install_base_related_party_write"];
pub use csm_types::responsibilities::AUTHORIZED_SERVICE_ORGANIZATION;

/// Which asset table a record lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetKind {
    SoldProduct,
    InstallBaseItem,
}

impl AssetKind {
    /// The change-feed entity type and related-party subject kind of its records.
    pub fn entity_type(self) -> &'static str {
        match self {
            AssetKind::SoldProduct => "sold_product",
            AssetKind::InstallBaseItem => "install_base_item",
        }
    }

    /// The create RPC (the scope of its request ids).
    pub fn create_rpc(self) -> &'static str {
        match self {
            AssetKind::SoldProduct => "CreateSoldProduct",
            AssetKind::InstallBaseItem => "CreateInstallBaseItem",
        }
    }
}

/// A delete of an asset refused because other records reference it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssetInUse(pub AssetKind);

impl AssetInUse {
    pub fn reason(&self) -> &'static str {
        match self.0 {
            AssetKind::SoldProduct => "SOLD_PRODUCT_IN_USE",
            AssetKind::InstallBaseItem => "INSTALL_BASE_ITEM_IN_USE",
        }
    }

    pub fn message(&self) -> &'static str {
        match self.0 {
            AssetKind::SoldProduct => "cases or install base items reference the sold product",
            AssetKind::InstallBaseItem => "cases or child items reference the install base item",
        }
    }
}

/// What the asset rules read of one sold product or install base item.
#[derive(Clone, Debug)]
pub struct AssetFacts {
    pub kind: AssetKind,
    pub id: Uuid,
    pub account: Option<AccountId>,
    pub consumer: Option<ConsumerId>,
    /// Asset contacts (install base items only, R4.10).
    pub asset_contacts: BTreeSet<ProfileId>,
    /// Related parties of the sold product: the product itself, or an item's sold product (R5.8).
    pub product_parties: Vec<RelatedParty>,
    /// Related parties of install base items that reach the asset: an item's own and its
    /// ancestors' (child items, R5.11), or for a sold product those of its items (R5.11).
    pub item_parties: Vec<RelatedParty>,
}

/// R5.13 (third and fourth bullets): `contact` is related to the install base
/// `item` (its own parties and its ancestors') as Authorized Representative,
/// or its account `contact_account` as Authorized Account.
pub fn install_base_partner_contact(item: &AssetFacts, contact: ProfileId, contact_account: Option<AccountId>) -> bool {
    party_matches(&item.item_parties, PartyKind::Contact, *contact.as_uuid(), AUTHORIZED_REPRESENTATIVE)
        || contact_account.is_some_and(|account| {
            party_matches(&item.item_parties, PartyKind::Account, *account.as_uuid(), AUTHORIZED_ACCOUNT)
        })
}

/// A condition over one asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssetCond {
    Any,
    AccountIn(BTreeSet<AccountId>),
    ConsumerIn(BTreeSet<ConsumerId>),
    /// Owned by an account (B2B: the B2B agent's segment).
    AccountOwned,
    /// Owned by a consumer and no account (B2C: the consumer agent's segment).
    ConsumerOwned,
    /// The profile is an asset contact of the item (R4.10 with use_asset_contact_relationship).
    AssetContact(ProfileId),
    /// A related party of the sold product (R5.8).
    ProductParty {
        kind: PartyKind,
        party: Uuid,
        responsibility: &'static str,
    },
    /// A related party of an install base item reaching the asset (R5.11).
    ItemParty {
        kind: PartyKind,
        party: Uuid,
        responsibility: &'static str,
    },
}

fn party_matches(rows: &[RelatedParty], kind: PartyKind, party: Uuid, responsibility: &str) -> bool {
    rows.iter()
        .any(|row| row.kind == kind && row.party_id == party && row.responsibility.as_deref() == Some(responsibility))
}

impl AssetCond {
    pub fn is_satisfiable(&self) -> bool {
        match self {
            AssetCond::AccountIn(set) => !set.is_empty(),
            AssetCond::ConsumerIn(set) => !set.is_empty(),
            _ => true,
        }
    }

    pub fn matches(&self, asset: &AssetFacts) -> bool {
        match self {
            AssetCond::Any => true,
            AssetCond::AccountIn(set) => asset.account.is_some_and(|account| set.contains(&account)),
            AssetCond::ConsumerIn(set) => asset.consumer.is_some_and(|consumer| set.contains(&consumer)),
            AssetCond::AccountOwned => asset.account.is_some(),
            AssetCond::ConsumerOwned => asset.account.is_none() && asset.consumer.is_some(),
            AssetCond::AssetContact(me) => asset.asset_contacts.contains(me),
            AssetCond::ProductParty { kind, party, responsibility } => {
                party_matches(&asset.product_parties, *kind, *party, responsibility)
            }
            AssetCond::ItemParty { kind, party, responsibility } => {
                party_matches(&asset.item_parties, *kind, *party, responsibility)
            }
        }
    }
}

impl AssetCond {
    /// What the condition requires, in one line (Explain).
    pub fn describe(&self) -> String {
        let set = |items: Vec<String>| format!("{{{}}}", items.join(", "));
        match self {
            AssetCond::Any => "any asset".to_owned(),
            AssetCond::AccountIn(accounts) => {
                format!("asset.account ∈ {}", set(accounts.iter().map(ToString::to_string).collect()))
            }
            AssetCond::ConsumerIn(consumers) => {
                format!("asset.consumer ∈ {}", set(consumers.iter().map(ToString::to_string).collect()))
            }
            AssetCond::AccountOwned => "the asset belongs to an account (B2B)".to_owned(),
            AssetCond::ConsumerOwned => "the asset belongs to a consumer (B2C)".to_owned(),
            AssetCond::AssetContact(_) => "me ∈ asset contacts".to_owned(),
            AssetCond::ProductParty { kind, party, responsibility } => {
                format!("a related party of the sold product is {kind:?} {party} with responsibility {responsibility}")
            }
            AssetCond::ItemParty { kind, party, responsibility } => format!(
                "a related party of an install base item reaching the asset is {kind:?} {party} with responsibility {responsibility}"
            ),
        }
    }

    /// The asset's values the condition looked at (Explain).
    pub fn detail(&self, asset: &AssetFacts) -> String {
        let value = |value: Option<String>| value.unwrap_or_else(|| "empty".to_owned());
        match self {
            AssetCond::Any => String::new(),
            AssetCond::AccountIn(_) | AssetCond::AccountOwned => {
                format!("asset.account = {}", value(asset.account.map(|id| id.to_string())))
            }
            AssetCond::ConsumerIn(_) | AssetCond::ConsumerOwned => {
                format!("asset.consumer = {}", value(asset.consumer.map(|id| id.to_string())))
            }
            AssetCond::AssetContact(_) => format!("{} asset contacts", asset.asset_contacts.len()),
            AssetCond::ProductParty { .. } => {
                format!("{} related parties on the sold product", asset.product_parties.len())
            }
            AssetCond::ItemParty { .. } => {
                format!("{} related parties on install base items", asset.item_parties.len())
            }
        }
    }
}

/// One asset grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetGrant {
    pub rule: &'static str,
    pub path: Vec<Step>,
    pub cond: AssetCond,
}

/// A principal's grants on one asset kind for one action.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetRules {
    pub grants: Vec<AssetGrant>,
}

impl AssetRules {
    fn grant(&mut self, rule: &'static str, path: Vec<Step>, cond: AssetCond) {
        if cond.is_satisfiable() {
            self.grants.push(AssetGrant { rule, path, cond });
        }
    }
}

fn role_step(role: &str) -> Step {
    Step::new(StepKind::Role, role, format!("holds {role}"))
}

/// The actions an asset target accepts (contract: Target — READ, WRITE_FULL, DELETE).
pub fn accepts(action: Action) -> bool {
    matches!(action, Action::Read | Action::WriteFull | Action::Delete)
}

/// The grants `ctx` holds for `action` on assets of `kind`.
pub fn asset_rules(ctx: &PrincipalContext, settings: &TableSettings, kind: AssetKind, action: Action) -> AssetRules {
    let mut rules = AssetRules::default();
    if ctx.has(ADMIN) {
        rules.grant("admin", vec![role_step(ADMIN)], AssetCond::Any);
    }
    // T4.3 manager row: the CSM manager creates and maintains assets.
    if ctx.has(MANAGER) {
        rules.grant("T4.3.manager", vec![role_step(MANAGER)], AssetCond::Any);
    }
    if action != Action::Read {
        return rules;
    }
    // R4.16: read-only customer data.
    if ctx.has(CUSTOMER_DATA_VIEWER) {
        rules.grant("R4.16", vec![role_step(CUSTOMER_DATA_VIEWER)], AssetCond::Any);
    }
    // T4.3: agents read the assets of their segment (R4.3 partition).
    if ctx.has(AGENT) {
        rules.grant("T4.3.agent", vec![role_step(AGENT)], AssetCond::AccountOwned);
    }
    if ctx.has(CONSUMER_AGENT) {
        rules.grant("T4.3.consumer_agent", vec![role_step(CONSUMER_AGENT)], AssetCond::ConsumerOwned);
    }
    portal_rows(ctx, settings, kind, &mut rules);
    // T4.2: a consumer's own products.
    let consumer_role = [CONSUMER, UNIFIED_CONSUMER].into_iter().find(|role| ctx.has(role));
    if let (Some(role), Some(consumer)) = (consumer_role, ctx.consumer) {
        rules.grant(
            "T4.2.consumer",
            vec![role_step(role), Step::new(StepKind::Consumer, consumer, "asset.consumer = my consumer")],
            AssetCond::ConsumerIn(BTreeSet::from([consumer])),
        );
    }
    for grant in sold_product_parties(ctx) {
        rules.grant(
            "R5.8",
            vec![
                role_step(grant.role),
                Step::new(StepKind::SoldProduct, grant.party, format!("{} on the sold product", grant.responsibility)),
            ],
            AssetCond::ProductParty { kind: grant.kind, party: grant.party, responsibility: grant.responsibility },
        );
    }
    for grant in install_base_parties(ctx) {
        rules.grant(
            "R5.11",
            vec![
                role_step(grant.role),
                Step::new(StepKind::RelatedParty, grant.party, format!("{} on the install base", grant.responsibility)),
            ],
            AssetCond::ItemParty { kind: grant.kind, party: grant.party, responsibility: grant.responsibility },
        );
    }
    rules
}

/// R4.10: portal users see the assets of their accounts (customer admins and case
/// managers their hierarchy, partner admins also their customers' accounts); with
/// use_asset_contact_relationship, only install base items listing them as asset contact.
fn portal_rows(ctx: &PrincipalContext, settings: &TableSettings, kind: AssetKind, rules: &mut AssetRules) {
    let portal = [CUSTOMER, CUSTOMER_CASE_MANAGER, CUSTOMER_ADMIN, PARTNER, PARTNER_ADMIN];
    let Some(role) = portal.into_iter().rev().find(|role| ctx.has(role)) else { return };
    if !ctx.kind.is_external() {
        return;
    }
    if settings.use_asset_contact_relationship && kind == AssetKind::InstallBaseItem {
        rules.grant(
            "R4.10",
            vec![
                role_step(role),
                Step::new(
                    StepKind::Setting,
                    "use_asset_contact_relationship",
                    "only assets listing me as asset contact",
                ),
            ],
            AssetCond::AssetContact(ctx.profile),
        );
        return;
    }
    // R5.12: the contacts of an account whose Account Access record restricts
    // contact access read its assets only when the record lists them; the
    // related-party paths (R5.8, R5.11) are grants of their own.
    let (restricted, mut accounts): (BTreeSet<AccountId>, BTreeSet<AccountId>) = ctx
        .account_and_relationships()
        .into_iter()
        .partition(|account| ctx.restricted_contact_access.contains_key(account));
    if ctx.has(CUSTOMER_ADMIN) || ctx.has(CUSTOMER_CASE_MANAGER) {
        accounts.extend(ctx.descendants.iter().copied());
    }
    if ctx.has(PARTNER_ADMIN) {
        accounts.extend(ctx.partner_customers.keys().copied());
    }
    rules.grant(
        "R4.10",
        vec![role_step(role), Step::new(StepKind::Setting, "asset.account", "assets of my account(s)")],
        AssetCond::AccountIn(accounts.difference(&restricted).copied().collect()),
    );
    let listed: BTreeSet<AccountId> =
        restricted.into_iter().filter(|account| ctx.restricted_contact_access[account]).collect();
    rules.grant(
        "R5.12",
        vec![
            role_step(role),
            Step::new(
                StepKind::Setting,
                "restrict_contact_access",
                "listed as an allowed contact on the account's Account Access record",
            ),
        ],
        AssetCond::AccountIn(listed),
    );
}

/// Decides with `rules` on one asset: the first matching grant, else no grant (R2.20).
pub fn decide_asset(rules: &AssetRules, asset: &AssetFacts) -> Outcome {
    match rules.grants.iter().find(|grant| grant.cond.matches(asset)) {
        Some(grant) => Outcome::Allowed { rule: grant.rule, path: grant.path.clone() },
        None => Outcome::NoGrant { closest: None },
    }
}

/// Decides `action` on `asset`: a write or delete also needs READ.
pub fn decide_asset_action(
    ctx: &PrincipalContext,
    settings: &TableSettings,
    action: Action,
    asset: &AssetFacts,
) -> Outcome {
    if action != Action::Read {
        let read = decide_asset(&asset_rules(ctx, settings, asset.kind, Action::Read), asset);
        if !read.allowed() {
            return read;
        }
    }
    decide_asset(&asset_rules(ctx, settings, asset.kind, action), asset)
}

/// A stored sold product (contract: SoldProduct).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoldProductRecord {
    pub id: Uuid,
    pub name: String,
    pub product_model: Option<Uuid>,
    pub account: Option<AccountId>,
    pub consumer: Option<ConsumerId>,
    pub household: Option<Uuid>,
    pub consumer_profile: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stored install base item (contract: InstallBaseItem).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallBaseItemRecord {
    pub id: Uuid,
    pub name: String,
    pub sold_product: Option<Uuid>,
    pub parent: Option<Uuid>,
    pub account: Option<AccountId>,
    pub consumer: Option<ConsumerId>,
    pub consumer_profile: Option<Uuid>,
    pub service_organization: Option<Uuid>,
    pub asset: Option<Uuid>,
    pub asset_contacts: BTreeSet<ProfileId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The record a related party belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartySubject {
    Case(Uuid),
    SoldProduct(Uuid),
    InstallBaseItem(Uuid),
}

impl PartySubject {
    /// The `related_parties.subject_kind` code.
    pub fn code(self) -> &'static str {
        match self {
            PartySubject::Case(_) => "case",
            PartySubject::SoldProduct(_) => "sold_product",
            PartySubject::InstallBaseItem(_) => "install_base_item",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            PartySubject::Case(id) | PartySubject::SoldProduct(id) | PartySubject::InstallBaseItem(id) => id,
        }
    }

    /// Party kinds a subject accepts (contract: PartyKind) — the type's entity type must match too.
    pub fn accepts(self, kind: PartyKind) -> bool {
        match self {
            PartySubject::Case(_) => matches!(kind, PartyKind::Contact | PartyKind::Consumer | PartyKind::User),
            PartySubject::SoldProduct(_) => {
                matches!(kind, PartyKind::Account | PartyKind::Contact | PartyKind::Consumer)
            }
            PartySubject::InstallBaseItem(_) => true,
        }
    }
}

/// A stored related party (contract: RelatedParty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelatedPartyRecord {
    pub id: Uuid,
    pub subject: PartySubject,
    pub kind: PartyKind,
    pub party: Uuid,
    pub configuration: Option<Uuid>,
    pub type_name: String,
    pub responsibility: Option<Uuid>,
    pub responsibility_name: Option<String>,
    pub order: i64,
    pub created_by: ProfileId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A related-party type as case-access needs it (account-team's RelatedPartyConfiguration, R5.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyType {
    pub id: Uuid,
    pub name: String,
    /// The subject kind code it applies to ("case", "sold_product", "install_base_item"), if one of those.
    pub applies_to: Option<&'static str>,
    pub entity_type: Option<PartyKind>,
    pub default_responsibility: Option<(Uuid, String)>,
    pub default_order: i64,
}

/// Why a type cannot relate `kind` to `subject` (RELATED_PARTY_TYPE_MISMATCH), if it cannot.
pub fn type_mismatch(party_type: &PartyType, subject: PartySubject, kind: PartyKind) -> Option<String> {
    if party_type.applies_to != Some(subject.code()) {
        return Some(format!("type {:?} does not apply to a {}", party_type.name, subject.code()));
    }
    if party_type.entity_type != Some(kind) || !subject.accepts(kind) {
        return Some(format!("type {:?} does not name a {kind:?} party", party_type.name));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::principal::PrincipalKind;
    use crate::domain::table::SOLD_PRODUCT_AUTHORIZED_CONTACT;

    fn asset(kind: AssetKind) -> AssetFacts {
        AssetFacts {
            kind,
            id: Uuid::now_v7(),
            account: None,
            consumer: None,
            asset_contacts: BTreeSet::new(),
            product_parties: Vec::new(),
            item_parties: Vec::new(),
        }
    }

    fn row(kind: PartyKind, party: Uuid, responsibility: Option<&str>) -> RelatedParty {
        RelatedParty { id: Uuid::now_v7(), kind, party_id: party, responsibility: responsibility.map(str::to_owned) }
    }

    #[test]
    fn customers_read_assets_of_their_account_unless_asset_contacts_rule() {
        let account = AccountId::new();
        let mut ctx = PrincipalContext::new(ProfileId::new(), PrincipalKind::Contact, [CUSTOMER]);
        ctx.account = Some(account);
        let mut item = asset(AssetKind::InstallBaseItem);
        item.account = Some(account);
        let settings = TableSettings::default();
        assert_eq!(decide_asset_action(&ctx, &settings, Action::Read, &item).rule(), "R4.10");
        assert!(!decide_asset_action(&ctx, &settings, Action::WriteFull, &item).allowed());
        let strict = TableSettings { use_asset_contact_relationship: true, ..TableSettings::default() };
        assert!(!decide_asset_action(&ctx, &strict, Action::Read, &item).allowed());
        item.asset_contacts.insert(ctx.profile);
        assert!(decide_asset_action(&ctx, &strict, Action::Read, &item).allowed());
    }

    #[test]
    fn listed_parties_grant_nothing_and_authorized_ones_need_the_role() {
        let mut ctx =
            PrincipalContext::new(ProfileId::new(), PrincipalKind::Contact, [SOLD_PRODUCT_AUTHORIZED_CONTACT]);
        let mut product = asset(AssetKind::SoldProduct);
        product.product_parties.push(row(PartyKind::Contact, *ctx.profile.as_uuid(), None));
        let settings = TableSettings::default();
        assert!(!decide_asset_action(&ctx, &settings, Action::Read, &product).allowed());
        product.product_parties.push(row(PartyKind::Contact, *ctx.profile.as_uuid(), Some(AUTHORIZED_REPRESENTATIVE)));
        assert_eq!(decide_asset_action(&ctx, &settings, Action::Read, &product).rule(), "R5.8");
        ctx.roles.clear();
        assert!(!decide_asset_action(&ctx, &settings, Action::Read, &product).allowed());
    }

    #[test]
    fn data_viewer_reads_but_never_writes() {
        let ctx = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [CUSTOMER_DATA_VIEWER]);
        let product = asset(AssetKind::SoldProduct);
        let settings = TableSettings::default();
        assert_eq!(decide_asset_action(&ctx, &settings, Action::Read, &product).rule(), "R4.16");
        assert!(!decide_asset_action(&ctx, &settings, Action::WriteFull, &product).allowed());
        assert!(!decide_asset_action(&ctx, &settings, Action::Delete, &product).allowed());
    }
}
