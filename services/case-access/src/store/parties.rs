//! SQL of related parties, sold products and install base items: rows, the
//! facts the asset rules read ([`load_asset_facts`]), and the asset lists with
//! the principal's asset grants compiled to one WHERE clause (the same
//! [`AssetRules`] a check evaluates in memory).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use csm_db::{Db, DbRow, Tx, db_error, unique_as, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, ConsumerId, ProfileId};
use uuid::Uuid;

use super::facts::{party_from_row, party_kind_from_code};
use super::predicate::{Bind, bind_all, party_kind_code};
use crate::domain::case::{PartyKind, RelatedParty};
use crate::domain::parties::{
    AssetCond, AssetFacts, AssetKind, AssetRules, InstallBaseItemRecord, PartySubject, RelatedPartyRecord,
    SoldProductRecord,
};

/// Longest parent chain followed (a guard: parents are kept acyclic on write).
const MAX_DEPTH: usize = 1000;

/// Placeholders numbered after the binds already taken.
struct Binds(Vec<Bind>);

impl Binds {
    fn push(&mut self, bind: Bind) -> String {
        self.0.push(bind);
        format!("${}", self.0.len())
    }

    fn uuid(&mut self, value: Uuid) -> String {
        self.push(Bind::Uuid(value))
    }

    fn text(&mut self, value: &str) -> String {
        self.push(Bind::Text(value.to_owned()))
    }

    fn list(&mut self, values: impl IntoIterator<Item = Uuid>) -> String {
        values.into_iter().map(|value| self.uuid(value)).collect::<Vec<_>>().join(", ")
    }
}

fn party_clause(b: &mut Binds, kind: PartyKind, party: Uuid, responsibility: &str) -> String {
    format!(
        "rp.party_kind = {} AND rp.party_id = {} AND rp.responsibility_name = {}",
        b.text(party_kind_code(kind)),
        b.uuid(party),
        b.text(responsibility)
    )
}

/// One asset condition over the asset row `x`.
fn compile_asset_cond(cond: &AssetCond, kind: AssetKind, b: &mut Binds) -> String {
    match cond {
        AssetCond::Any => "1 = 1".to_owned(),
        AssetCond::AccountIn(set) if set.is_empty() => "1 = 0".to_owned(),
        AssetCond::AccountIn(set) => format!("x.account_id IN ({})", b.list(set.iter().map(|id| *id.as_uuid()))),
        AssetCond::ConsumerIn(set) if set.is_empty() => "1 = 0".to_owned(),
        AssetCond::ConsumerIn(set) => format!("x.consumer_id IN ({})", b.list(set.iter().map(|id| *id.as_uuid()))),
        AssetCond::AccountOwned => "x.account_id IS NOT NULL".to_owned(),
        AssetCond::ConsumerOwned => "(x.account_id IS NULL AND x.consumer_id IS NOT NULL)".to_owned(),
        AssetCond::AssetContact(me) => match kind {
            AssetKind::SoldProduct => "1 = 0".to_owned(),
            AssetKind::InstallBaseItem => format!(
                "EXISTS (SELECT 1 FROM install_base_asset_contacts ac WHERE ac.install_base_item_id = x.id \
                 AND ac.contact_id = {})",
                b.uuid(*me.as_uuid())
            ),
        },
        AssetCond::ProductParty { kind: party_kind, party, responsibility } => {
            let product = match kind {
                AssetKind::SoldProduct => "x.id",
                AssetKind::InstallBaseItem => "x.sold_product_id",
            };
            format!(
                "EXISTS (SELECT 1 FROM related_parties rp WHERE rp.subject_kind = 'sold_product' \
                 AND rp.subject_id = {product} AND {})",
                party_clause(b, *party_kind, *party, responsibility)
            )
        }
        AssetCond::ItemParty { kind: party_kind, party, responsibility } => match kind {
            AssetKind::SoldProduct => format!(
                "EXISTS (SELECT 1 FROM related_parties rp JOIN install_base_items ib ON ib.id = rp.subject_id \
                 WHERE rp.subject_kind = 'install_base_item' AND ib.sold_product_id = x.id AND {})",
                party_clause(b, *party_kind, *party, responsibility)
            ),
            // The items carrying the party and every descendant of theirs (R5.11 child items).
            AssetKind::InstallBaseItem => format!(
                "x.id IN (WITH RECURSIVE granted (id) AS (SELECT rp.subject_id FROM related_parties rp \
                 WHERE rp.subject_kind = 'install_base_item' AND {} \
                 UNION SELECT child.id FROM install_base_items child JOIN granted g ON child.parent_id = g.id) \
                 SELECT id FROM granted)",
                party_clause(b, *party_kind, *party, responsibility)
            ),
        },
    }
}

/// The OR of the grants' conditions (`1 = 0` without grants).
fn compile_asset_rules(rules: &AssetRules, kind: AssetKind, b: &mut Binds) -> String {
    if rules.grants.iter().any(|grant| grant.cond == AssetCond::Any) {
        return "1 = 1".to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    for grant in &rules.grants {
        let part = compile_asset_cond(&grant.cond, kind, b);
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    if parts.is_empty() { "1 = 0".to_owned() } else { format!("({})", parts.join(" OR ")) }
}

// ------------------------------------------------------------------ sold products

const SOLD_PRODUCT_COLUMNS: &str = "x.id, x.name, x.product_model_id, x.account_id, x.consumer_id, x.household_id, \
     x.consumer_profile_id, x.created_at, x.updated_at";

fn sold_product_from_row(row: &impl DbRow) -> CsmResult<SoldProductRecord> {
    let id = |column: &str| row.opt_uuid(column).map_err(db_error);
    Ok(SoldProductRecord {
        id: row.uuid("id").map_err(db_error)?,
        name: row.text("name").map_err(db_error)?,
        product_model: id("product_model_id")?,
        account: id("account_id")?.map(AccountId::from_uuid),
        consumer: id("consumer_id")?.map(ConsumerId::from_uuid),
        household: id("household_id")?,
        consumer_profile: id("consumer_profile_id")?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

pub async fn get_sold_product(db: &Db, id: Uuid) -> CsmResult<Option<SoldProductRecord>> {
    let sql = format!("SELECT {SOLD_PRODUCT_COLUMNS} FROM sold_products x WHERE x.id = $1");
    with_db!(db, |pool| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(sold_product_from_row).transpose()
    })
}

/// Inserts or (when `update`) rewrites a sold product row.
pub async fn save_sold_product(tx: &mut Tx, product: &SoldProductRecord, update: bool) -> CsmResult<()> {
    let sql = if update {
        "UPDATE sold_products SET name = $2, product_model_id = $3, account_id = $4, consumer_id = $5, \
         household_id = $6, consumer_profile_id = $7, created_at = $8, updated_at = $9 WHERE id = $1"
    } else {
        "INSERT INTO sold_products (id, name, product_model_id, account_id, consumer_id, household_id, \
         consumer_profile_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    };
    with_tx!(tx, |tx| {
        sqlx::query(sql)
            .bind(product.id)
            .bind(&product.name)
            .bind(product.product_model)
            .bind(product.account.map(|id| *id.as_uuid()))
            .bind(product.consumer.map(|id| *id.as_uuid()))
            .bind(product.household)
            .bind(product.consumer_profile)
            .bind(product.created_at)
            .bind(product.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    });
    Ok(())
}

/// Filters of ListSoldProducts (ANDed).
#[derive(Clone, Debug, Default)]
pub struct SoldProductFilter {
    pub account: Option<AccountId>,
    pub consumer: Option<ConsumerId>,
}

/// One page of the sold products `rules` allow, in id order after `after`.
pub async fn list_sold_products(
    db: &Db,
    rules: &AssetRules,
    filter: &SoldProductFilter,
    after: Option<Uuid>,
    limit: i64,
) -> CsmResult<Vec<SoldProductRecord>> {
    let mut b = Binds(Vec::new());
    let mut clauses = Vec::new();
    if let Some(after) = after {
        clauses.push(format!("x.id > {}", b.uuid(after)));
    }
    if let Some(account) = filter.account {
        clauses.push(format!("x.account_id = {}", b.uuid(*account.as_uuid())));
    }
    if let Some(consumer) = filter.consumer {
        clauses.push(format!("x.consumer_id = {}", b.uuid(*consumer.as_uuid())));
    }
    let sql = page_sql(AssetKind::SoldProduct, clauses, rules, &mut b, limit);
    with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &b.0).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(sold_product_from_row).collect()
    })
}

// ------------------------------------------------------------------ install base items

const ITEM_COLUMNS: &str = "x.id, x.name, x.sold_product_id, x.parent_id, x.account_id, x.consumer_id, \
     x.consumer_profile_id, x.service_organization_id, x.asset_id, x.created_at, x.updated_at";

fn item_from_row(row: &impl DbRow) -> CsmResult<InstallBaseItemRecord> {
    let id = |column: &str| row.opt_uuid(column).map_err(db_error);
    Ok(InstallBaseItemRecord {
        id: row.uuid("id").map_err(db_error)?,
        name: row.text("name").map_err(db_error)?,
        sold_product: id("sold_product_id")?,
        parent: id("parent_id")?,
        account: id("account_id")?.map(AccountId::from_uuid),
        consumer: id("consumer_id")?.map(ConsumerId::from_uuid),
        consumer_profile: id("consumer_profile_id")?,
        service_organization: id("service_organization_id")?,
        asset: id("asset_id")?,
        asset_contacts: BTreeSet::new(),
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

async fn asset_contacts(db: &Db, item: Uuid) -> CsmResult<BTreeSet<ProfileId>> {
    with_db!(db, |pool| {
        let rows = sqlx::query("SELECT contact_id FROM install_base_asset_contacts WHERE install_base_item_id = $1")
            .bind(item)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(|row| row.uuid("contact_id").map(ProfileId::from_uuid).map_err(db_error)).collect()
    })
}

pub async fn get_install_base_item(db: &Db, id: Uuid) -> CsmResult<Option<InstallBaseItemRecord>> {
    let sql = format!("SELECT {ITEM_COLUMNS} FROM install_base_items x WHERE x.id = $1");
    let item = with_db!(db, |pool| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(item_from_row).transpose()?
    });
    match item {
        Some(mut item) => {
            item.asset_contacts = asset_contacts(db, id).await?;
            Ok(Some(item))
        }
        None => Ok(None),
    }
}

/// Inserts or (when `update`) rewrites an item row and replaces its asset contacts.
pub async fn save_install_base_item(tx: &mut Tx, item: &InstallBaseItemRecord, update: bool) -> CsmResult<()> {
    let sql = if update {
        "UPDATE install_base_items SET name = $2, sold_product_id = $3, parent_id = $4, account_id = $5, \
         consumer_id = $6, consumer_profile_id = $7, service_organization_id = $8, asset_id = $9, created_at = $10, \
         updated_at = $11 WHERE id = $1"
    } else {
        "INSERT INTO install_base_items (id, name, sold_product_id, parent_id, account_id, consumer_id, \
         consumer_profile_id, service_organization_id, asset_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    };
    with_tx!(tx, |tx| {
        sqlx::query(sql)
            .bind(item.id)
            .bind(&item.name)
            .bind(item.sold_product)
            .bind(item.parent)
            .bind(item.account.map(|id| *id.as_uuid()))
            .bind(item.consumer.map(|id| *id.as_uuid()))
            .bind(item.consumer_profile)
            .bind(item.service_organization)
            .bind(item.asset)
            .bind(item.created_at)
            .bind(item.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(referenced)?;
        sqlx::query("DELETE FROM install_base_asset_contacts WHERE install_base_item_id = $1")
            .bind(item.id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        for contact in &item.asset_contacts {
            sqlx::query("INSERT INTO install_base_asset_contacts (install_base_item_id, contact_id) VALUES ($1, $2)")
                .bind(item.id)
                .bind(contact.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        }
    });
    Ok(())
}

/// A foreign-key failure on an item's sold product or parent: the reference does not exist.
fn referenced(error: sqlx::Error) -> CsmError {
    let failed = db_error(error);
    if failed.reason() == "REFERENCED_RECORD_MISSING" {
        CsmError::not_found("referenced entity", "sold_product_id / parent_install_base_item_id")
            .with_metadata("field", "install_base_item.sold_product_id")
    } else {
        failed
    }
}

/// The ancestors of `parent` (itself first), read in `tx`.
pub async fn ancestors(tx: &mut Tx, parent: Uuid) -> CsmResult<Vec<Uuid>> {
    let mut chain = vec![parent];
    let mut next = Some(parent);
    while let Some(current) = next {
        if chain.len() > MAX_DEPTH {
            break;
        }
        let row = with_tx!(tx, |tx| {
            sqlx::query("SELECT parent_id FROM install_base_items WHERE id = $1")
                .bind(current)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
                .map(|row| row.opt_uuid("parent_id").map_err(db_error))
                .transpose()?
        });
        next = row.flatten();
        if let Some(parent) = next {
            if chain.contains(&parent) {
                break;
            }
            chain.push(parent);
        }
    }
    Ok(chain)
}

/// Filters of ListInstallBaseItems (ANDed).
#[derive(Clone, Debug, Default)]
pub struct ItemFilter {
    pub sold_product: Option<Uuid>,
    pub account: Option<AccountId>,
    pub parent: Option<Uuid>,
}

/// One page of the install base items `rules` allow, in id order after `after`.
pub async fn list_install_base_items(
    db: &Db,
    rules: &AssetRules,
    filter: &ItemFilter,
    after: Option<Uuid>,
    limit: i64,
) -> CsmResult<Vec<InstallBaseItemRecord>> {
    let mut b = Binds(Vec::new());
    let mut clauses = Vec::new();
    if let Some(after) = after {
        clauses.push(format!("x.id > {}", b.uuid(after)));
    }
    if let Some(product) = filter.sold_product {
        clauses.push(format!("x.sold_product_id = {}", b.uuid(product)));
    }
    if let Some(account) = filter.account {
        clauses.push(format!("x.account_id = {}", b.uuid(*account.as_uuid())));
    }
    if let Some(parent) = filter.parent {
        clauses.push(format!("x.parent_id = {}", b.uuid(parent)));
    }
    let sql = page_sql(AssetKind::InstallBaseItem, clauses, rules, &mut b, limit);
    let mut items = with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &b.0).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(item_from_row).collect::<CsmResult<Vec<_>>>()?
    });
    for item in &mut items {
        item.asset_contacts = asset_contacts(db, item.id).await?;
    }
    Ok(items)
}

// ------------------------------------------------------------------ both asset tables

/// The asset table of `kind`, its columns (alias `x`) and the related-party
/// subject kind of its rows.
fn table(kind: AssetKind) -> (&'static str, &'static str) {
    match kind {
        AssetKind::SoldProduct => ("sold_products", SOLD_PRODUCT_COLUMNS),
        AssetKind::InstallBaseItem => ("install_base_items", ITEM_COLUMNS),
    }
}

/// A page of `kind`'s rows: the list's own `clauses` and the principal's asset
/// grants compiled to one clause, in id order.
fn page_sql(kind: AssetKind, mut clauses: Vec<String>, rules: &AssetRules, b: &mut Binds, limit: i64) -> String {
    let (table, columns) = table(kind);
    clauses.push(compile_asset_rules(rules, kind, b));
    format!("SELECT {columns} FROM {table} x WHERE {} ORDER BY x.id LIMIT {}", clauses.join(" AND "), limit.max(1))
}

/// Whether other rows reference the asset: cases or install base items
/// (sold products); cases, affected install bases or child items (items).
pub async fn asset_in_use(tx: &mut Tx, kind: AssetKind, id: Uuid) -> CsmResult<bool> {
    let sql = match kind {
        AssetKind::SoldProduct => {
            "SELECT (SELECT COUNT(*) FROM cases WHERE sold_product_id = $1) \
             + (SELECT COUNT(*) FROM install_base_items WHERE sold_product_id = $1) AS uses"
        }
        AssetKind::InstallBaseItem => {
            "SELECT (SELECT COUNT(*) FROM cases WHERE install_base_item_id = $1) \
             + (SELECT COUNT(*) FROM case_affected_install_bases WHERE install_base_item_id = $1) \
             + (SELECT COUNT(*) FROM install_base_items WHERE parent_id = $1) AS uses"
        }
    };
    with_tx!(tx, |tx| {
        let row = sqlx::query(sql).bind(id).fetch_one(&mut **tx).await.map_err(db_error)?;
        Ok(row.int("uses").map_err(db_error)? > 0)
    })
}

/// Deletes an asset and its related parties (an item's asset contacts go
/// with it); false when there was none.
pub async fn delete_asset(tx: &mut Tx, kind: AssetKind, id: Uuid) -> CsmResult<bool> {
    let (table, _) = table(kind);
    let delete = format!("DELETE FROM {table} WHERE id = $1");
    with_tx!(tx, |tx| {
        sqlx::query("DELETE FROM related_parties WHERE subject_kind = $1 AND subject_id = $2")
            .bind(kind.entity_type())
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        let done = sqlx::query(&delete).bind(id).execute(&mut **tx).await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    })
}

/// The reads and writes of one asset table, so that creating, updating and
/// reading a sold product or an install base item is one implementation.
pub trait StoredAsset: Clone + std::fmt::Debug + Send + Sync + Sized {
    const KIND: AssetKind;
    fn id(&self) -> Uuid;
    /// A new row's id and timestamps.
    fn stamp_new(&mut self, id: Uuid, now: DateTime<Utc>);
    fn touch(&mut self, now: DateTime<Utc>);
    /// What a create asks for (its idempotency fingerprint): no id, no timestamps.
    fn requested(&self) -> Self {
        let mut requested = self.clone();
        requested.stamp_new(Uuid::nil(), DateTime::<Utc>::UNIX_EPOCH);
        requested
    }
    /// The sold product and parent item the record references (items only).
    fn references(&self) -> (Option<Uuid>, Option<Uuid>) {
        (None, None)
    }
    /// Why the record may not be stored as it is (beyond its fields' own rules).
    fn invalid(&self) -> Option<CsmError>;
    fn get(db: &Db, id: Uuid) -> impl Future<Output = CsmResult<Option<Self>>> + Send;
    /// Inserts or (when `update`) rewrites the row.
    fn save(tx: &mut Tx, record: &Self, update: bool) -> impl Future<Output = CsmResult<()>> + Send;
}

/// The trait's row plumbing, the same for both tables.
macro_rules! stored_asset_rows {
    ($kind:expr, $get:ident, $save:ident) => {
        const KIND: AssetKind = $kind;

        fn id(&self) -> Uuid {
            self.id
        }

        fn stamp_new(&mut self, id: Uuid, now: DateTime<Utc>) {
            (self.id, self.created_at, self.updated_at) = (id, now, now);
        }

        fn touch(&mut self, now: DateTime<Utc>) {
            self.updated_at = now;
        }

        fn get(db: &Db, id: Uuid) -> impl Future<Output = CsmResult<Option<Self>>> + Send {
            $get(db, id)
        }

        fn save(tx: &mut Tx, record: &Self, update: bool) -> impl Future<Output = CsmResult<()>> + Send {
            $save(tx, record, update)
        }
    };
}

impl StoredAsset for SoldProductRecord {
    stored_asset_rows!(AssetKind::SoldProduct, get_sold_product, save_sold_product);

    fn invalid(&self) -> Option<CsmError> {
        (self.account.is_some() == self.consumer.is_some()).then(|| {
            CsmError::invalid_field("sold_product.account_id", "exactly one of account_id / consumer_id is required")
        })
    }
}

impl StoredAsset for InstallBaseItemRecord {
    stored_asset_rows!(AssetKind::InstallBaseItem, get_install_base_item, save_install_base_item);

    fn references(&self) -> (Option<Uuid>, Option<Uuid>) {
        (self.sold_product, self.parent)
    }

    fn invalid(&self) -> Option<CsmError> {
        (self.parent == Some(self.id)).then(|| {
            CsmError::invalid_field("install_base_item.parent_install_base_item_id", "an item cannot be its own parent")
        })
    }
}

// ------------------------------------------------------------------ facts

async fn parties_of(db: &Db, subject_kind: &str, subjects: &[Uuid]) -> CsmResult<Vec<RelatedParty>> {
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Binds(Vec::new());
    let kind = b.text(subject_kind);
    let list = b.list(subjects.iter().copied());
    let sql = format!(
        "SELECT id, party_kind, party_id, responsibility_name FROM related_parties \
         WHERE subject_kind = {kind} AND subject_id IN ({list})"
    );
    with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &b.0).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(party_from_row).collect()
    })
}

/// What the asset rules read of sold product / install base item `id`, or `None`.
pub async fn load_asset_facts(db: &Db, kind: AssetKind, id: Uuid) -> CsmResult<Option<AssetFacts>> {
    match kind {
        AssetKind::SoldProduct => {
            let Some(product) = get_sold_product(db, id).await? else { return Ok(None) };
            let item_parties = with_db!(db, |pool| {
                let rows = sqlx::query(
                    "SELECT rp.id, rp.party_kind, rp.party_id, rp.responsibility_name FROM related_parties rp \
                     JOIN install_base_items ib ON ib.id = rp.subject_id \
                     WHERE rp.subject_kind = 'install_base_item' AND ib.sold_product_id = $1",
                )
                .bind(id)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
                rows.iter().map(party_from_row).collect::<CsmResult<Vec<_>>>()?
            });
            Ok(Some(AssetFacts {
                kind,
                id,
                account: product.account,
                consumer: product.consumer,
                asset_contacts: BTreeSet::new(),
                product_parties: parties_of(db, "sold_product", &[id]).await?,
                item_parties,
            }))
        }
        AssetKind::InstallBaseItem => {
            let Some(item) = get_install_base_item(db, id).await? else { return Ok(None) };
            let mut tx = db.begin().await?;
            let chain = ancestors(&mut tx, id).await?;
            tx.commit().await?;
            let product_parties = match item.sold_product {
                Some(product) => parties_of(db, "sold_product", &[product]).await?,
                None => Vec::new(),
            };
            Ok(Some(AssetFacts {
                kind,
                id,
                account: item.account,
                consumer: item.consumer,
                asset_contacts: item.asset_contacts,
                product_parties,
                item_parties: parties_of(db, "install_base_item", &chain).await?,
            }))
        }
    }
}

// ------------------------------------------------------------------ related parties

const PARTY_COLUMNS: &str = "id, subject_kind, subject_id, party_kind, party_id, related_party_configuration_id, \
     related_party_type_name, responsibility_id, responsibility_name, sort_order, created_by_id, created_at, updated_at";

fn party_record_from_row(row: &impl DbRow) -> CsmResult<RelatedPartyRecord> {
    let subject_id = row.uuid("subject_id").map_err(db_error)?;
    let subject = match row.text("subject_kind").map_err(db_error)?.as_str() {
        "case" => PartySubject::Case(subject_id),
        "sold_product" => PartySubject::SoldProduct(subject_id),
        "install_base_item" => PartySubject::InstallBaseItem(subject_id),
        other => return Err(CsmError::internal(format!("unknown subject kind {other:?}"))),
    };
    Ok(RelatedPartyRecord {
        id: row.uuid("id").map_err(db_error)?,
        subject,
        kind: party_kind_from_code(&row.text("party_kind").map_err(db_error)?)?,
        party: row.uuid("party_id").map_err(db_error)?,
        configuration: row.opt_uuid("related_party_configuration_id").map_err(db_error)?,
        type_name: row.text("related_party_type_name").map_err(db_error)?,
        responsibility: row.opt_uuid("responsibility_id").map_err(db_error)?,
        responsibility_name: row.opt_text("responsibility_name").map_err(db_error)?,
        order: row.int("sort_order").map_err(db_error)?,
        created_by: ProfileId::from_uuid(row.uuid("created_by_id").map_err(db_error)?),
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

fn party_exists(error: sqlx::Error) -> CsmError {
    unique_as(error, "RELATED_PARTY_EXISTS", "the subject already has this party with this type")
}

pub async fn get_related_party(db: &Db, id: Uuid) -> CsmResult<Option<RelatedPartyRecord>> {
    let sql = format!("SELECT {PARTY_COLUMNS} FROM related_parties WHERE id = $1");
    with_db!(db, |pool| {
        let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(party_record_from_row).transpose()
    })
}

/// Inserts or (when `update`) rewrites a related party; the same subject, party and type twice
/// is ALREADY_EXISTS RELATED_PARTY_EXISTS (the table's unique key).
pub async fn save_related_party(tx: &mut Tx, party: &RelatedPartyRecord, update: bool) -> CsmResult<()> {
    let sql = if update {
        "UPDATE related_parties SET subject_kind = $2, subject_id = $3, party_kind = $4, party_id = $5, \
         related_party_configuration_id = $6, related_party_type_name = $7, responsibility_id = $8, \
         responsibility_name = $9, sort_order = $10, created_by_id = $11, created_at = $12, updated_at = $13 \
         WHERE id = $1"
    } else {
        "INSERT INTO related_parties (id, subject_kind, subject_id, party_kind, party_id, \
         related_party_configuration_id, related_party_type_name, responsibility_id, responsibility_name, sort_order, \
         created_by_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    };
    with_tx!(tx, |tx| {
        sqlx::query(sql)
            .bind(party.id)
            .bind(party.subject.code())
            .bind(party.subject.id())
            .bind(party_kind_code(party.kind))
            .bind(party.party)
            .bind(party.configuration)
            .bind(&party.type_name)
            .bind(party.responsibility)
            .bind(party.responsibility_name.clone())
            .bind(party.order)
            .bind(party.created_by.as_uuid())
            .bind(party.created_at)
            .bind(party.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(party_exists)?;
    });
    Ok(())
}

pub async fn delete_related_party(tx: &mut Tx, id: Uuid) -> CsmResult<bool> {
    with_tx!(tx, |tx| {
        let done = sqlx::query("DELETE FROM related_parties WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    })
}

/// One page of a subject's related parties ordered by (order, id), after `after`.
pub async fn list_related_parties(
    db: &Db,
    subject: PartySubject,
    kind: Option<PartyKind>,
    authorized_only: bool,
    after: Option<(i64, Uuid)>,
    limit: i64,
) -> CsmResult<Vec<RelatedPartyRecord>> {
    let mut b = Binds(Vec::new());
    let mut clauses =
        vec![format!("subject_kind = {}", b.text(subject.code())), format!("subject_id = {}", b.uuid(subject.id()))];
    if let Some(kind) = kind {
        clauses.push(format!("party_kind = {}", b.text(party_kind_code(kind))));
    }
    if authorized_only {
        clauses.push("responsibility_name IS NOT NULL".to_owned());
    }
    let after_order = after.map(|(order, _)| order);
    if let Some((_, id)) = after {
        let id = b.uuid(id);
        // The order is an integer: inlined (placeholders carry uuids and text only).
        let order = after_order.unwrap_or_default();
        clauses.push(format!("(sort_order > {order} OR (sort_order = {order} AND id > {id}))"));
    }
    let sql = format!(
        "SELECT {PARTY_COLUMNS} FROM related_parties WHERE {} ORDER BY sort_order, id LIMIT {}",
        clauses.join(" AND "),
        limit.max(1)
    );
    with_db!(db, |pool| {
        let rows = bind_all(sqlx::query(&sql), &b.0).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(party_record_from_row).collect()
    })
}

/// Whether `party` is an authorized (non-listed) related party of `subject` (R5.10).
pub async fn is_authorized_party(db: &Db, subject: PartySubject, kind: PartyKind, party: Uuid) -> CsmResult<bool> {
    with_db!(db, |pool| {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM related_parties WHERE subject_kind = $1 AND subject_id = $2 \
             AND party_kind = $3 AND party_id = $4 AND responsibility_name IS NOT NULL",
        )
        .bind(subject.code())
        .bind(subject.id())
        .bind(party_kind_code(kind))
        .bind(party)
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
        Ok(row.int("n").map_err(db_error)? > 0)
    })
}
