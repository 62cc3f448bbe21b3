//! Get and list must agree: on random worlds of sold products, install base
//! trees, asset contacts and related parties, on SQLite and PostgreSQL, the
//! assets a principal lists are exactly those whose loaded facts its asset
//! rules allow.

use std::collections::BTreeSet;

use csm_db::testing::TestBackend;
use csm_db::{Db, PoolSettings};
use csm_types::{AccountId, ConsumerId, ProfileId};
use uuid::Uuid;

use super::Rng;
use crate::domain::case::PartyKind;
use crate::domain::parties::*;
use crate::domain::principal::{PrincipalContext, PrincipalKind};
use crate::domain::table::*;
use crate::store::parties::*;

const ROLES: &[&str] = &[
    CUSTOMER,
    CUSTOMER_ADMIN,
    CUSTOMER_CASE_MANAGER,
    PARTNER,
    PARTNER_ADMIN,
    CONSUMER,
    AGENT,
    CONSUMER_AGENT,
    CUSTOMER_DATA_VIEWER,
    SOLD_PRODUCT_AUTHORIZED_CONTACT,
    SOLD_PRODUCT_AUTHORIZED_CONSUMER,
    INSTALL_BASE_AUTHORIZED_CONTACT,
    INSTALL_BASE_AUTHORIZED_CONSUMER,
    INSTALL_BASE_AUTHORIZED_CONTRIBUTOR,
    INSTALL_BASE_AUTHORIZED_MEMBER,
];

const RESPONSIBILITIES: &[Option<&str>] =
    &[Some(AUTHORIZED_REPRESENTATIVE), Some(AUTHORIZED_ACCOUNT), Some(AUTHORIZED_SERVICE_ORGANIZATION), None];

async fn listed(db: &Db, rules: &AssetRules, kind: AssetKind) -> BTreeSet<Uuid> {
    let mut all = BTreeSet::new();
    let mut after = None;
    loop {
        let page: Vec<Uuid> = match kind {
            AssetKind::SoldProduct => list_sold_products(db, rules, &SoldProductFilter::default(), after, 5)
                .await
                .unwrap()
                .into_iter()
                .map(|product| product.id)
                .collect(),
            AssetKind::InstallBaseItem => list_install_base_items(db, rules, &ItemFilter::default(), after, 5)
                .await
                .unwrap()
                .into_iter()
                .map(|item| item.id)
                .collect(),
        };
        all.extend(page.iter().copied());
        if page.len() < 5 {
            return all;
        }
        after = page.last().copied();
    }
}

async fn agreement_on(backend: TestBackend) {
    let database = backend.fresh_database("case_access_asset_agreement");
    let db = Db::connect(&database.url, &PoolSettings::default()).await.expect("connect");
    crate::migrations().run(&db).await.expect("migrate");
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    let accounts: Vec<AccountId> = (0..5).map(|_| AccountId::new()).collect();
    let consumers: Vec<ConsumerId> = (0..4).map(|_| ConsumerId::new()).collect();
    let profiles: Vec<ProfileId> = (0..6).map(|_| ProfileId::new()).collect();
    let locations: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let now = csm_db::now();
    let mut tx = db.begin().await.unwrap();
    let mut products = Vec::new();
    for index in 0..8 {
        let account = rng.maybe(60, &accounts);
        let product = SoldProductRecord {
            id: Uuid::now_v7(),
            name: format!("SP{index}"),
            product_model: None,
            account,
            consumer: if account.is_none() { Some(rng.pick(&consumers)) } else { None },
            household: None,
            consumer_profile: None,
            created_at: now,
            updated_at: now,
        };
        save_sold_product(&mut tx, &product, false).await.unwrap();
        products.push(product.id);
    }
    let mut items: Vec<Uuid> = Vec::new();
    for index in 0..16 {
        let item = InstallBaseItemRecord {
            id: Uuid::now_v7(),
            name: format!("IB{index}"),
            sold_product: rng.maybe(60, &products),
            // Earlier items only: a forest of small trees.
            parent: if items.is_empty() { None } else { rng.maybe(50, &items) },
            account: rng.maybe(60, &accounts),
            consumer: rng.maybe(30, &consumers),
            consumer_profile: None,
            service_organization: None,
            asset: None,
            asset_contacts: rng.subset(20, &profiles),
            created_at: now,
            updated_at: now,
        };
        save_install_base_item(&mut tx, &item, false).await.unwrap();
        items.push(item.id);
    }
    let subjects: Vec<PartySubject> = products
        .iter()
        .map(|id| PartySubject::SoldProduct(*id))
        .chain(items.iter().map(|id| PartySubject::InstallBaseItem(*id)))
        .collect();
    for (index, subject) in subjects.iter().enumerate() {
        for extra in 0..(rng.next() % 3) {
            let (kind, party) = match rng.next() % 5 {
                0 => (PartyKind::Contact, *rng.pick(&profiles).as_uuid()),
                1 => (PartyKind::Consumer, *rng.pick(&consumers).as_uuid()),
                2 => (PartyKind::User, *rng.pick(&profiles).as_uuid()),
                3 => (PartyKind::ServiceOrganization, rng.pick(&locations)),
                _ => (PartyKind::Account, *rng.pick(&accounts).as_uuid()),
            };
            let record = RelatedPartyRecord {
                id: Uuid::now_v7(),
                subject: *subject,
                kind,
                party,
                configuration: None,
                type_name: format!("type{index}-{extra}"),
                responsibility: None,
                responsibility_name: rng.pick(RESPONSIBILITIES).map(str::to_owned),
                order: 100,
                created_by: rng.pick(&profiles),
                created_at: now,
                updated_at: now,
            };
            save_related_party(&mut tx, &record, false).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    let mut facts = Vec::new();
    for id in &products {
        facts.push(load_asset_facts(&db, AssetKind::SoldProduct, *id).await.unwrap().unwrap());
    }
    for id in &items {
        facts.push(load_asset_facts(&db, AssetKind::InstallBaseItem, *id).await.unwrap().unwrap());
    }
    let (mut checked, mut allowed) = (0usize, 0usize);
    for _ in 0..80 {
        let kind = rng.pick(&[
            PrincipalKind::Employee,
            PrincipalKind::Contact,
            PrincipalKind::PartnerContact,
            PrincipalKind::Consumer,
        ]);
        let roles: Vec<&str> = ROLES.iter().copied().filter(|_| rng.chance(15)).collect();
        let mut ctx = PrincipalContext::new(rng.pick(&profiles), kind, roles);
        ctx.account = rng.maybe(80, &accounts);
        ctx.descendants = rng.subset(20, &accounts);
        ctx.contact_relationships = rng.subset(15, &accounts).into_iter().map(|a| (a, Uuid::now_v7())).collect();
        ctx.partner_customers = rng.subset(20, &accounts).into_iter().map(|a| (a, Uuid::now_v7())).collect();
        ctx.consumer = rng.maybe(60, &consumers);
        ctx.business_locations = rng.subset(40, &locations);
        // R5.12: some of my accounts restrict contact access, some of those list me.
        ctx.restricted_contact_access =
            rng.subset(30, &accounts).into_iter().map(|account| (account, rng.chance(50))).collect();
        let settings = TableSettings { use_asset_contact_relationship: rng.chance(40), ..TableSettings::default() };
        for asset_kind in [AssetKind::SoldProduct, AssetKind::InstallBaseItem] {
            let rules = asset_rules(&ctx, &settings, asset_kind, Action::Read);
            let by_list = listed(&db, &rules, asset_kind).await;
            let by_check: BTreeSet<Uuid> = facts
                .iter()
                .filter(|asset| asset.kind == asset_kind && decide_asset(&rules, asset).allowed())
                .map(|asset| asset.id)
                .collect();
            assert_eq!(by_list, by_check, "{}: {asset_kind:?} list and get disagree for {ctx:#?}", backend.name());
            checked += facts.iter().filter(|asset| asset.kind == asset_kind).count();
            allowed += by_check.len();
        }
    }
    assert!(allowed > checked / 50 && allowed < checked, "{allowed} of {checked} decisions allowed");
    db.close().await;
    database.remove().await;
}

#[tokio::test]
async fn asset_listing_agrees_with_getting_on_random_worlds() {
    for backend in TestBackend::all("asset_listing_agrees_with_getting_on_random_worlds") {
        agreement_on(backend).await;
    }
}
