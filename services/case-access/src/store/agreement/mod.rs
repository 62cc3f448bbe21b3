//! Check and list must agree (issue 6): random worlds of cases, related rows
//! and principals, on SQLite and PostgreSQL; for every principal, the cases
//! the compiled predicate lists are exactly the cases whose loaded facts the
//! decision table allows.

use std::collections::{BTreeMap, BTreeSet};

use csm_db::testing::TestBackend;
use csm_db::{Db, PoolSettings, db_error, with_db};
use csm_types::{AccountId, CaseId, ConsumerId, GroupId, HouseholdId, ProfileId, SecurityGroupId};
use uuid::Uuid;

use super::facts::{list_case_ids, load_case_facts, load_many_case_facts};
use super::predicate::{compile, party_kind_code, segment_code};
use crate::domain::case::{CaseFacts, PartyKind};
use crate::domain::parties::{
    AUTHORIZED_SERVICE_ORGANIZATION, INSTALL_BASE_AUTHORIZED_CONSUMER, INSTALL_BASE_AUTHORIZED_CONTACT,
    INSTALL_BASE_AUTHORIZED_CONTRIBUTOR, INSTALL_BASE_AUTHORIZED_MEMBER,
};
use crate::domain::principal::{
    AccessConfiguration, OwnershipRelation, PrincipalContext, PrincipalKind, RecordRight, TeamMembership, TeamTarget,
};
use crate::domain::table::*;

mod assets;

/// A small deterministic generator (xorshift64*): reproducible worlds per seed.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub(super) fn maybe<T: Copy>(&mut self, percent: u64, items: &[T]) -> Option<T> {
        self.chance(percent).then(|| self.pick(items))
    }

    pub(super) fn subset<T: Copy + Ord>(&mut self, percent: u64, items: &[T]) -> BTreeSet<T> {
        items.iter().copied().filter(|_| self.chance(percent)).collect()
    }
}

struct World {
    accounts: Vec<AccountId>,
    profiles: Vec<ProfileId>,
    consumers: Vec<ConsumerId>,
    households: Vec<HouseholdId>,
    groups: Vec<GroupId>,
    locations: Vec<Uuid>,
    sold_products: Vec<Uuid>,
    install_bases: Vec<Uuid>,
}

fn ids<T>(n: usize, make: impl Fn() -> T) -> Vec<T> {
    (0..n).map(|_| make()).collect()
}

const RESPONSIBILITIES: &[Option<&str>] = &[
    Some(AUTHORIZED_REPRESENTATIVE),
    Some(AUTHORIZED_ACCOUNT),
    Some(AUTHORIZED_SERVICE_ORGANIZATION),
    Some("Asset Contact"),
    None,
];

const ROLE_POOL: &[&str] = &[
    CUSTOMER,
    CUSTOMER_ADMIN,
    CUSTOMER_CASE_MANAGER,
    PARTNER,
    PARTNER_ADMIN,
    CONSUMER,
    UNIFIED_CONSUMER,
    AGENT,
    CONSUMER_AGENT,
    RELATIONSHIP_AGENT,
    ACCOUNT_CONTRIBUTOR,
    CONSUMER_CONTRIBUTOR,
    RELATIONSHIP_CONTRIBUTOR,
    SELF_CONTRIBUTOR,
    SERVICE_ORGANIZATION_CONTRIBUTOR,
    CASE_VIEWER,
    CASE_CONTRIBUTOR_VIEWER,
    CASE_CONTRIBUTOR_EDITOR,
    CASE_TASK_AGENT,
    PROXY_CONTACT,
    CASE_AUTHORIZED_CONTACT,
    CASE_AUTHORIZED_CONSUMER,
    CASE_AUTHORIZED_CONTRIBUTOR,
    SOLD_PRODUCT_AUTHORIZED_CONTACT,
    SOLD_PRODUCT_AUTHORIZED_CONSUMER,
    INSTALL_BASE_AUTHORIZED_CONTACT,
    INSTALL_BASE_AUTHORIZED_CONSUMER,
    INSTALL_BASE_AUTHORIZED_CONTRIBUTOR,
    INSTALL_BASE_AUTHORIZED_MEMBER,
    SNC_INTERNAL,
    "sn_customerservice.relationship_access",
];

/// Runs `sql` with the ids, then the texts, then (when `stamped`) the current time bound in order.
async fn exec(db: &Db, sql: &str, binds: Vec<Option<Uuid>>, texts: Vec<&str>, stamped: bool) {
    let now = csm_db::now();
    with_db!(db, |pool| {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind);
        }
        for text in texts {
            query = query.bind(text.to_owned());
        }
        if stamped {
            query = query.bind(now);
        }
        query.execute(pool).await.map_err(db_error).expect(sql);
    });
}

async fn add_party(db: &Db, rng: &mut Rng, world: &World, counter: &mut usize, subject_kind: &str, subject: Uuid) {
    let (kind, party_id) = match rng.below(5) {
        0 => (PartyKind::Contact, *rng.pick(&world.profiles).as_uuid()),
        1 => (PartyKind::Consumer, *rng.pick(&world.consumers).as_uuid()),
        2 => (PartyKind::User, *rng.pick(&world.profiles).as_uuid()),
        3 => (PartyKind::ServiceOrganization, rng.pick(&world.locations)),
        _ => (PartyKind::Account, *rng.pick(&world.accounts).as_uuid()),
    };
    let responsibility = RESPONSIBILITIES[rng.below(RESPONSIBILITIES.len())];
    *counter += 1;
    let sql = "INSERT INTO related_parties (id, subject_kind, subject_id, party_kind, party_id, \
               related_party_type_name, responsibility_name, created_by_id, created_at, updated_at) \
               VALUES ($1, $5, $2, $6, $3, $7, $8, $4, $9, $9)";
    let now = csm_db::now();
    with_db!(db, |pool| {
        sqlx::query(sql)
            .bind(Uuid::now_v7())
            .bind(subject)
            .bind(party_id)
            .bind(Uuid::now_v7())
            .bind(subject_kind)
            .bind(party_kind_code(kind))
            .bind(format!("type{counter}"))
            .bind(responsibility)
            .bind(now)
            .execute(pool)
            .await
            .expect("insert related party");
    });
}

async fn populate(db: &Db, rng: &mut Rng, world: &World, cases: usize) {
    for (index, sold_product) in world.sold_products.iter().enumerate() {
        exec(
            db,
            "INSERT INTO sold_products (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
            vec![Some(*sold_product)],
            vec![&format!("SP{index}")],
            true,
        )
        .await;
    }
    for install_base in &world.install_bases {
        let sold_product = rng.pick(&world.sold_products);
        exec(
            db,
            "INSERT INTO install_base_items (id, sold_product_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            vec![Some(*install_base), Some(sold_product)],
            vec!["IB"],
            true,
        )
        .await;
    }
    let mut related = 0;
    for sold_product in &world.sold_products {
        for _ in 0..rng.below(4) {
            add_party(db, rng, world, &mut related, "sold_product", *sold_product).await;
        }
    }
    for install_base in &world.install_bases {
        for _ in 0..rng.below(4) {
            add_party(db, rng, world, &mut related, "install_base_item", *install_base).await;
        }
    }
    for _ in 0..cases {
        let p = |rng: &mut Rng, percent| rng.maybe(percent, &world.profiles).map(|id| *id.as_uuid());
        let mut account = rng.maybe(45, &world.accounts).map(|id| *id.as_uuid());
        let consumer = rng.maybe(35, &world.consumers).map(|id| *id.as_uuid());
        let organization = rng.maybe(20, &world.locations);
        let mut requested_by = p(rng, 30);
        if account.is_none() && consumer.is_none() && organization.is_none() && requested_by.is_none() {
            if rng.chance(50) {
                account = Some(*rng.pick(&world.accounts).as_uuid());
            } else {
                requested_by = Some(*rng.pick(&world.profiles).as_uuid());
            }
        }
        let draft = CaseFacts {
            account: account.map(AccountId::from_uuid),
            consumer: consumer.map(ConsumerId::from_uuid),
            requestor_organization: organization,
            requested_by: requested_by.map(ProfileId::from_uuid),
            ..CaseFacts::default()
        };
        let case = Uuid::now_v7();
        let binds = vec![
            Some(case),
            account,
            p(rng, 40),
            consumer,
            rng.maybe(30, &world.households).map(|id| *id.as_uuid()),
            rng.maybe(30, &world.accounts).map(|id| *id.as_uuid()),
            p(rng, 30),
            p(rng, 20),
            organization,
            requested_by,
            Some(*rng.pick(&world.profiles).as_uuid()),
            p(rng, 40),
            rng.maybe(30, &world.groups).map(|id| *id.as_uuid()),
            rng.maybe(40, &world.sold_products),
            rng.maybe(30, &world.install_bases),
        ];
        let number = format!("CS{}", case.simple());
        exec(
            db,
            "INSERT INTO cases (id, account_id, contact_id, consumer_id, household_id, partner_account_id, \
             partner_contact_id, internal_contact_id, requestor_organization_id, requested_by_id, opened_by_id, \
             owner_id, owner_group_id, sold_product_id, install_base_item_id, number, segment, short_description, state, \
             priority, channel, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'case', 'OPEN', 'LOW', \
             'PORTAL', $18, $18)",
            binds,
            vec![&number, segment_code(draft.segment())],
            true,
        )
        .await;
        for profile in rng.subset(15, &world.profiles) {
            exec(
                db,
                "INSERT INTO case_contributor_users (case_id, profile_id) VALUES ($1, $2)",
                vec![Some(case), Some(*profile.as_uuid())],
                vec![],
                false,
            )
            .await;
        }
        for group in rng.subset(20, &world.groups) {
            exec(
                db,
                "INSERT INTO case_contributor_groups (case_id, group_id) VALUES ($1, $2)",
                vec![Some(case), Some(*group.as_uuid())],
                vec![],
                false,
            )
            .await;
        }
        for task in 0..rng.below(3) {
            let number = format!("TSK{}{task}", case.simple());
            exec(
                db,
                "INSERT INTO case_tasks (id, case_id, assigned_to_id, assignment_group_id, opened_by_id, number, \
                 short_description, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'task', 'OPEN', $7, $7)",
                vec![
                    Some(Uuid::now_v7()),
                    Some(case),
                    p(rng, 50),
                    rng.maybe(50, &world.groups).map(|id| *id.as_uuid()),
                    Some(*rng.pick(&world.profiles).as_uuid()),
                ],
                vec![&number],
                true,
            )
            .await;
        }
        for install_base in rng.subset(15, &world.install_bases) {
            exec(
                db,
                "INSERT INTO case_affected_install_bases (case_id, install_base_item_id) VALUES ($1, $2)",
                vec![Some(case), Some(install_base)],
                vec![],
                false,
            )
            .await;
        }
        for _ in 0..rng.below(3) {
            add_party(db, rng, world, &mut related, "case", case).await;
        }
    }
}

fn principal(rng: &mut Rng, world: &World) -> PrincipalContext {
    let kind = rng.pick(&[
        PrincipalKind::Employee,
        PrincipalKind::Contact,
        PrincipalKind::PartnerContact,
        PrincipalKind::Consumer,
    ]);
    let roles: Vec<&str> = ROLE_POOL.iter().copied().filter(|_| rng.chance(18)).collect();
    let mut ctx = PrincipalContext::new(rng.pick(&world.profiles), kind, roles);
    ctx.account = rng.maybe(80, &world.accounts);
    ctx.descendants = rng.subset(20, &world.accounts);
    ctx.contact_relationships = rng.subset(15, &world.accounts).into_iter().map(|a| (a, Uuid::now_v7())).collect();
    ctx.partner_customers = rng.subset(20, &world.accounts).into_iter().map(|a| (a, Uuid::now_v7())).collect();
    ctx.consumer = rng.maybe(60, &world.consumers);
    ctx.household_members =
        rng.subset(20, &world.consumers).into_iter().map(|c| (c, rng.pick(&world.households))).collect();
    ctx.represented_consumers = rng.subset(20, &world.consumers).into_iter().map(|c| (c, Uuid::now_v7())).collect();
    for _ in 0..rng.below(3) {
        let target = match rng.below(3) {
            0 => TeamTarget::Account(rng.pick(&world.accounts)),
            1 => TeamTarget::Consumer(rng.pick(&world.consumers)),
            _ => TeamTarget::Household(rng.pick(&world.households)),
        };
        let responsibility = rng.pick(&[ACCOUNT_MANAGER, RELATIONSHIP_MANAGER, "Support Manager"]).to_owned();
        ctx.teams.push(TeamMembership { id: Uuid::now_v7(), target, responsibility });
    }
    ctx.business_locations = rng.subset(40, &world.locations);
    ctx.groups = rng.subset(40, &world.groups);
    ctx.managed_groups = rng.subset(30, &world.groups);
    ctx.department_members = rng.subset(20, &world.profiles);
    ctx.reports = rng.subset(15, &world.profiles);
    if rng.chance(40) {
        ctx.access_configurations.push(AccessConfiguration {
            id: Uuid::now_v7(),
            responsibility: rng.pick(&[ACCOUNT_MANAGER, "Support Manager"]).to_owned(),
            roles_required: if rng.chance(50) {
                BTreeSet::new()
            } else {
                BTreeSet::from([RELATIONSHIP_AGENT.to_owned()])
            },
            read: rng.chance(70),
            write: rng.chance(40),
            create: rng.chance(30),
        });
    }
    if rng.chance(40) {
        ctx.ownership.security_group = Some(SecurityGroupId::new());
        let rights = [RecordRight::View, RecordRight::Edit, RecordRight::Add, RecordRight::Delete];
        ctx.ownership.base = rng.subset(10, &rights);
        for relation in [
            OwnershipRelation::Owner,
            OwnershipRelation::DepartmentMember,
            OwnershipRelation::ManagerOfOwner,
            OwnershipRelation::TeamMember,
            OwnershipRelation::TeamManager,
        ] {
            if rng.chance(50) {
                ctx.ownership.by_relation.insert(relation, rng.subset(60, &rights));
            }
        }
    }
    ctx
}

async fn listed(db: &Db, rules: &Rules) -> BTreeSet<Uuid> {
    let predicate = compile(rules, 3);
    let mut all = BTreeSet::new();
    let mut after = None;
    loop {
        // A small page exercises the keyset continuation.
        let page = list_case_ids(db, &predicate, after, 7).await.expect("list cases");
        all.extend(page.iter().copied());
        if page.len() < 7 {
            return all;
        }
        after = page.last().copied();
    }
}

async fn agreement_on(backend: TestBackend) {
    let database = backend.fresh_database("case_access_agreement");
    let db = Db::connect(&database.url, &PoolSettings::default()).await.expect("connect");
    crate::migrations().run(&db).await.expect("migrate");
    let mut checked = 0usize;
    let mut allowed = 0usize;
    for seed in [0x9E37_79B9_7F4A_7C15_u64, 0xD1B5_4A32_D192_ED03] {
        let mut rng = Rng(seed);
        let world = World {
            accounts: ids(6, AccountId::new),
            profiles: ids(8, ProfileId::new),
            consumers: ids(5, ConsumerId::new),
            households: ids(3, HouseholdId::new),
            groups: ids(4, GroupId::new),
            locations: ids(3, Uuid::now_v7),
            sold_products: ids(3, Uuid::now_v7),
            install_bases: ids(5, Uuid::now_v7),
        };
        populate(&db, &mut rng, &world, 70).await;
        let case_ids = listed(&db, &Rules { grants: vec![any_grant()], denials: vec![] }).await;
        let mut facts: BTreeMap<Uuid, CaseFacts> = BTreeMap::new();
        for id in &case_ids {
            facts.insert(*id, load_case_facts(&db, CaseId::from_uuid(*id)).await.expect("load").expect("exists"));
        }
        // Loaded in one batch (with an id that names nothing), the facts are the same.
        let mut asked: Vec<CaseId> = case_ids.iter().map(|id| CaseId::from_uuid(*id)).collect();
        asked.push(CaseId::new());
        let mut batch = load_many_case_facts(&db, &asked).await.expect("load many");
        for (id, one) in &facts {
            assert_eq!(batch.remove(&CaseId::from_uuid(*id)).as_ref(), Some(one), "{}: case {id}", backend.name());
        }
        assert!(batch.is_empty(), "only existing cases are loaded");
        for _ in 0..60 {
            let ctx = principal(&mut rng, &world);
            let settings = TableSettings {
                nonb2x_case_agents_both: rng.chance(70),
                partner_sees_account_cases: rng.chance(30),
                ..TableSettings::default()
            };
            for action in [Action::Read, Action::WriteFull, Action::WriteCustomer, Action::WriteLimited, Action::Delete]
            {
                let rules = rules(&ctx, &settings, action);
                let by_list = listed(&db, &rules).await;
                // The list covers this world's cases only (earlier seeds' cases stay in the table).
                let by_list: BTreeSet<Uuid> = by_list.intersection(&case_ids).copied().collect();
                let by_check: BTreeSet<Uuid> =
                    facts.iter().filter(|(_, case)| decide(&rules, case).allowed()).map(|(id, _)| *id).collect();
                assert_eq!(
                    by_list,
                    by_check,
                    "{}: list and check disagree for {action:?} of {ctx:#?}\nrules: {rules:#?}",
                    backend.name()
                );
                checked += case_ids.len();
                allowed += by_check.len();
            }
        }
    }
    // The worlds must exercise both answers, or the property proves nothing.
    assert!(allowed > checked / 50 && allowed < checked, "{allowed} of {checked} decisions allowed");
    db.close().await;
    database.remove().await;
}

fn any_grant() -> Grant {
    Grant { rule: "test", path: Vec::new(), cond: Cond::Any }
}

#[tokio::test]
async fn listing_agrees_with_checking_on_random_worlds() {
    for backend in TestBackend::all("listing_agrees_with_checking_on_random_worlds") {
        agreement_on(backend).await;
    }
}
