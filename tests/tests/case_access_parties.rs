//! case-access over real gRPC: related parties on cases, sold products and
//! install base items (R5.6–R5.11, R5.14), the assets themselves (R4.10,
//! R4.16), and the bad input of those RPCs. Each test runs on SQLite and on
//! PostgreSQL.

use csm_types::roles;
use std::collections::BTreeSet;

use csm_proto::account_team as at_pb;
use csm_proto::case_access as pb;
use csm_proto::common;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of};
use csm_types::ProfileId;
use tonic::{Code, Status};

const CUSTOMER: &str = roles::CUSTOMER;
const PARTNER_ADMIN: &str = roles::PARTNER_ADMIN;
const AGENT: &str = roles::AGENT;
const CONSUMER_AGENT: &str = roles::CONSUMER_AGENT;
const CASE_AUTHORIZED_CONSUMER: &str = roles::CASE_AUTHORIZED_CONSUMER;
const CASE_AUTHORIZED_CONTACT: &str = roles::CASE_AUTHORIZED_CONTACT;
const CASE_RELATED_PARTY_WRITE: &str = roles::CASE_RELATED_PARTY_WRITE_GRANULAR;
const CASE_WRITE: &str = roles::CASE_WRITE_GRANULAR;
const SOLD_PRODUCT_AUTHORIZED_CONTACT: &str = roles::SOLD_PRODUCT_AUTHORIZED_CONTACT;
const INSTALL_BASE_AUTHORIZED_CONTACT: &str = roles::INSTALL_BASE_AUTHORIZED_CONTACT;
const MANAGER: &str = roles::MANAGER;
const CUSTOMER_DATA_VIEWER: &str = roles::CUSTOMER_DATA_VIEWER;

// ------------------------------------------------------------------ helpers

fn fresh() -> Option<common::Consistency> {
    Some(common::Consistency { requirement: Some(common::consistency::Requirement::FullyConsistent(true)) })
}

enum Subject<'a> {
    Case(&'a str),
    SoldProduct(&'a str),
    Item(&'a str),
}

async fn add_party(
    suite: &Suite,
    token: &str,
    subject: Subject<'_>,
    kind: pb::PartyKind,
    party: &str,
    party_type: &str,
) -> Result<pb::RelatedParty, Status> {
    use pb::add_related_party_request::Subject as S;
    let subject = match subject {
        Subject::Case(id) => S::CaseId(id.to_owned()),
        Subject::SoldProduct(id) => S::SoldProductId(id.to_owned()),
        Subject::Item(id) => S::InstallBaseItemId(id.to_owned()),
    };
    suite
        .case_access(Some(token))
        .add_related_party(pb::AddRelatedPartyRequest {
            subject: Some(subject),
            party_kind: kind as i32,
            party_id: party.to_owned(),
            related_party_configuration_id: party_type.to_owned(),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().related_party.unwrap())
}

async fn remove_party(suite: &Suite, token: &str, id: &str) -> Result<String, Status> {
    suite
        .case_access(Some(token))
        .remove_related_party(pb::RemoveRelatedPartyRequest { related_party_id: id.to_owned(), ..Default::default() })
        .await
        .map(|response| response.into_inner().consistency_token)
}

/// A CSM manager (T4.3: creates and maintains assets) and a token acting as it.
async fn manager(suite: &Suite) -> String {
    employee(suite, "Mona", &[MANAGER]).await.1
}

async fn sold_product(suite: &Suite, token: &str, account: &str, consumer: &str) -> String {
    suite
        .case_access(Some(token))
        .create_sold_product(pb::CreateSoldProductRequest {
            sold_product: Some(pb::SoldProduct {
                name: "Printer X100".to_owned(),
                account_id: account.to_owned(),
                consumer_id: consumer.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("create sold product")
        .into_inner()
        .sold_product
        .unwrap()
        .sold_product_id
}

async fn item(
    suite: &Suite,
    token: &str,
    account: &str,
    product: &str,
    parent: &str,
    asset_contacts: &[&str],
) -> String {
    suite
        .case_access(Some(token))
        .create_install_base_item(pb::CreateInstallBaseItemRequest {
            install_base_item: Some(pb::InstallBaseItem {
                name: "Printer at desk 4".to_owned(),
                account_id: account.to_owned(),
                sold_product_id: product.to_owned(),
                parent_install_base_item_id: parent.to_owned(),
                asset_contact_ids: asset_contacts.iter().map(|id| (*id).to_owned()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("create install base item")
        .into_inner()
        .install_base_item
        .unwrap()
        .install_base_item_id
}

async fn decide(suite: &Suite, token: &str, target: pb::target::Resource, action: pb::Action) -> pb::Decision {
    suite
        .case_access(Some(token))
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(target) }),
            action: action as i32,
            consistency: fresh(),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap()
}

async fn on_case(suite: &Suite, token: &str, case: &str, action: pb::Action) -> pb::Decision {
    decide(suite, token, pb::target::Resource::CaseId(case.to_owned()), action).await
}

async fn get_product(suite: &Suite, token: &str, id: &str) -> Result<pb::SoldProduct, Status> {
    suite
        .case_access(Some(token))
        .get_sold_product(pb::GetSoldProductRequest {
            sold_product_id: id.to_owned(),
            consistency: fresh(),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().sold_product.unwrap())
}

async fn get_item(suite: &Suite, token: &str, id: &str) -> Result<pb::InstallBaseItem, Status> {
    suite
        .case_access(Some(token))
        .get_install_base_item(pb::GetInstallBaseItemRequest {
            install_base_item_id: id.to_owned(),
            consistency: fresh(),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().install_base_item.unwrap())
}

/// Every sold product `token` may list, page by page (page size 1: keyset continuation).
async fn listed_products(suite: &Suite, token: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .case_access(Some(token))
            .list_sold_products(pb::ListSoldProductsRequest {
                page_size: 1,
                page_token,
                consistency: fresh(),
                ..Default::default()
            })
            .await
            .expect("list sold products")
            .into_inner();
        ids.extend(page.sold_products.into_iter().map(|product| product.sold_product_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

async fn listed_items(suite: &Suite, token: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .case_access(Some(token))
            .list_install_base_items(pb::ListInstallBaseItemsRequest {
                page_size: 1,
                page_token,
                consistency: fresh(),
                ..Default::default()
            })
            .await
            .expect("list install base items")
            .into_inner();
        ids.extend(page.install_base_items.into_iter().map(|item| item.install_base_item_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

async fn new_case(suite: &Suite, token: &str, draft: pb::CaseDraft) -> String {
    create_case(suite, token, draft).await.expect("create case").support_case.unwrap().case_id
}

fn case_draft(account: &str, contact: &str, product: &str, item: &str) -> pb::CaseDraft {
    pb::CaseDraft {
        contact_id: contact.to_owned(),
        sold_product_id: product.to_owned(),
        install_base_item_id: item.to_owned(),
        ..draft(pb::CreateFor::Account, account, "")
    }
}

fn assert_status(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason_of(status), reason, "{status:?}");
}

// ------------------------------------------------------------------ R5.6, R5.7 (cases)

backend_test!(r5_6_agents_add_related_parties_with_the_type_defaults, |suite| {
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (k, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (l, _) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let case = new_case(suite, &agent, draft(pb::CreateFor::Account, &a, "")).await;
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Authorized Contact").await;
    let listed = csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Listed Contact").await;
    let added = add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Contact, &k.to_string(), &authorized)
        .await
        .unwrap();
    assert_eq!(added.related_party_type_name, "Authorized Contact");
    assert_eq!(added.responsibility_name, "Authorized Representative", "responsibility from the type (R5.4)");
    assert!(!added.responsibility_id.is_empty());
    let listed_row =
        add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Contact, &l.to_string(), &listed).await.unwrap();
    assert!(listed_row.responsibility_id.is_empty(), "a Listed type carries no responsibility (R5.4)");
    // A customer (no WRITE_FULL on the case, no related-party role) cannot add parties.
    let own = new_case(suite, &customer, draft(pb::CreateFor::Account, &a, "")).await;
    let status = add_party(suite, &customer, Subject::Case(&own), pb::PartyKind::Contact, &l.to_string(), &authorized)
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ACCESS_DENIED");
    // Listed in (order, id) order; authorized_only leaves the Listed row out (R5.10 picker).
    let list = |authorized_only| {
        let token = agent.clone();
        let case = case.clone();
        async move {
            suite
                .case_access(Some(&token))
                .list_related_parties(pb::ListRelatedPartiesRequest {
                    subject: Some(pb::list_related_parties_request::Subject::CaseId(case)),
                    authorized_only,
                    page_size: 1,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let first = list(false).await;
    assert_eq!(first.related_parties.len(), 1);
    assert!(!first.next_page_token.is_empty(), "two rows, one per page");
    let only = list(true).await;
    assert_eq!(only.related_parties.iter().map(|p| p.party_id.clone()).collect::<Vec<_>>(), vec![k.to_string()]);
});

backend_test!(r5_7_authorized_consumer_with_the_role_closes_but_does_not_edit, |suite| {
    // Given consumer Z and a B2C case of consumer Y.
    let y = consumer(suite, "Yara").await;
    let (z_profile, z, z_token) = consumer_user(suite, "Zoe", &[]).await;
    let (_, agent) = employee(suite, "Cal", &[CONSUMER_AGENT]).await;
    let case = new_case(suite, &agent, draft(pb::CreateFor::Consumer, "", &y)).await;
    let listed = csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Listed Consumer").await;
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Authorized Consumer").await;
    // Z added as "Listed Consumer" → READ DENY.
    let row = add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Consumer, &z, &listed).await.unwrap();
    assert!(!on_case(suite, &z_token, &case, pb::Action::Read).await.allowed);
    // As "Authorized Consumer" without the role → DENY.
    suite
        .case_access(Some(&agent))
        .update_related_party(pb::UpdateRelatedPartyRequest {
            related_party: Some(pb::RelatedParty {
                related_party_id: row.related_party_id.clone(),
                related_party_configuration_id: authorized.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["related_party_configuration_id".to_owned()] }),
            ..Default::default()
        })
        .await
        .expect("retype the related party");
    assert!(!on_case(suite, &z_token, &case, pb::Action::Read).await.allowed);
    // With case_authorized_consumer → READ ALLOW, close (WRITE_CUSTOMER) ALLOW, priority change (WRITE_FULL) DENY.
    suite.assign_role(z_profile, CASE_AUTHORIZED_CONSUMER).await.unwrap();
    let read = on_case(suite, &z_token, &case, pb::Action::Read).await;
    assert!(read.allowed);
    assert_eq!(read.rule, "R5.7");
    assert!(on_case(suite, &z_token, &case, pb::Action::WriteCustomer).await.allowed);
    assert!(!on_case(suite, &z_token, &case, pb::Action::WriteFull).await.allowed);
});

backend_test!(r7_4_an_associated_consumer_closes_the_case_without_a_licence, |suite| {
    // Consumer Z is an Authorized Consumer, with the functional role, on a B2C case of consumer Y (R5.7).
    let y = consumer(suite, "Yara").await;
    let (_, z, z_token) = consumer_user(suite, "Zoe", &[CASE_AUTHORIZED_CONSUMER]).await;
    let (_, agent) = employee(suite, "Cal", &[CONSUMER_AGENT]).await;
    let case = new_case(suite, &agent, draft(pb::CreateFor::Consumer, "", &y)).await;
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Authorized Consumer").await;
    add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Consumer, &z, &authorized).await.unwrap();
    // R7.4: a record Z is associated with is Z's own: no licence to read it or to close it…
    for action in [pb::Action::Read, pb::Action::WriteCustomer] {
        let decision = on_case(suite, &z_token, &case, action).await;
        assert!(decision.allowed && !decision.requires_license, "{action:?}: {decision:?}");
    }
    let listed = suite
        .case_access(Some(&z_token))
        .list_visible_cases(pb::ListVisibleCasesRequest { consistency: fresh(), ..Default::default() })
        .await
        .expect("list visible cases")
        .into_inner()
        .cases;
    let rows: Vec<(String, bool)> =
        listed.into_iter().map(|row| (row.support_case.unwrap().case_id, row.requires_license)).collect();
    assert_eq!(rows, vec![(case.clone(), false)], "listing agrees with Check");
    // …so the write itself needs none either: no pool exists and no session is passed.
    let closed = suite
        .case_access(Some(&z_token))
        .update_case(csm_tests::masked!(
            pb::UpdateCaseRequest {
                support_case: Some(pb::Case {
                    case_id: case.clone(),
                    state: pb::CaseState::Closed as i32,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ["state"]
        ))
        .await
        .expect("R7.4: the associated consumer closes the case without a licence")
        .into_inner();
    assert_eq!(closed.support_case.unwrap().state, pb::CaseState::Closed as i32);
    let decision = closed.decision.unwrap();
    assert_eq!((decision.action, decision.rule.as_str()), (pb::Action::WriteCustomer as i32, "R5.7"));
    assert!(decision.allowed && !decision.requires_license && !decision.license_escalated, "{decision:?}");
    // A comment is the customer action set too (R5.7), with the same licence rule.
    suite
        .case_access(Some(&z_token))
        .add_comment(pb::AddCommentRequest {
            case_id: case.clone(),
            kind: pb::CommentKind::AdditionalComment as i32,
            body: "Thanks, all good".to_owned(),
            ..Default::default()
        })
        .await
        .expect("R7.4: the associated consumer comments without a licence");
});

// ------------------------------------------------------------------ R5.8–R5.11 (sold products, install base)

backend_test!(r5_8_sold_product_parties_read_the_product_and_its_items, |suite| {
    let admin = manager(suite).await;
    let a = account(suite, "Acme", None).await;
    let b = account(suite, "Beta", None).await;
    let product = sold_product(suite, &admin, &a, "").await;
    let unit = item(suite, &admin, &a, &product, "", &[]).await;
    let other = sold_product(suite, &admin, &a, "").await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (k, k_token) = contact(suite, &b, "Kim", &[SOLD_PRODUCT_AUTHORIZED_CONTACT]).await;
    let (l, l_token) = contact(suite, &b, "Lou", &[SOLD_PRODUCT_AUTHORIZED_CONTACT]).await;
    let (m, m_token) = contact(suite, &b, "Max", &[]).await;
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::SoldProduct, "Authorized Contact").await;
    let listed =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::SoldProduct, "Listed Contact").await;
    for (party, kind) in [(k, &authorized), (l, &listed), (m, &authorized)] {
        add_party(suite, &admin, Subject::SoldProduct(&product), pb::PartyKind::Contact, &party.to_string(), kind)
            .await
            .expect("the administrator adds sold-product parties");
    }
    // An agent reads the product but does not write its parties (no WRITE_FULL on assets).
    let status =
        add_party(suite, &agent, Subject::SoldProduct(&product), pb::PartyKind::Contact, &m.to_string(), &listed)
            .await
            .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ACCESS_DENIED");
    // Authorized Contact with the functional role: the product and its items.
    assert_eq!(get_product(suite, &k_token, &product).await.unwrap().sold_product_id, product);
    assert_eq!(get_item(suite, &k_token, &unit).await.unwrap().install_base_item_id, unit);
    assert_eq!(listed_products(suite, &k_token).await, BTreeSet::from([product.clone()]));
    assert_eq!(listed_items(suite, &k_token).await, BTreeSet::from([unit.clone()]));
    let decision =
        decide(suite, &k_token, pb::target::Resource::SoldProductId(product.clone()), pb::Action::Read).await;
    assert_eq!(decision.rule, "R5.8");
    assert!(
        !decide(suite, &k_token, pb::target::Resource::SoldProductId(product.clone()), pb::Action::WriteFull)
            .await
            .allowed
    );
    assert_status(&get_product(suite, &k_token, &other).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
    // Listed (no responsibility) with the role, or Authorized without the role: nothing.
    for token in [&l_token, &m_token] {
        assert_status(&get_product(suite, token, &product).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
        assert!(listed_products(suite, token).await.is_empty());
        assert!(listed_items(suite, token).await.is_empty());
    }
});

backend_test!(r5_9_sold_product_access_grants_its_cases, |suite| {
    let admin = manager(suite).await;
    // Contact K (account A) added to sold product SP as Authorized Contact with the role;
    // case C (account A, contact L, sold_product SP).
    let a = account(suite, "Acme", None).await;
    let product = sold_product(suite, &admin, &a, "").await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (k, k_token) = contact(suite, &a, "Kim", &[SOLD_PRODUCT_AUTHORIZED_CONTACT]).await;
    let (l, _) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::SoldProduct, "Authorized Contact").await;
    let row =
        add_party(suite, &admin, Subject::SoldProduct(&product), pb::PartyKind::Contact, &k.to_string(), &authorized)
            .await
            .unwrap();
    let case = new_case(suite, &agent, case_draft(&a, &l.to_string(), &product, "")).await;
    let other = new_case(suite, &agent, case_draft(&a, &l.to_string(), "", "")).await;
    // K READ C = ALLOW (K is not OWN).
    let read = on_case(suite, &k_token, &case, pb::Action::Read).await;
    assert!(read.allowed);
    assert_eq!(read.rule, "R5.9");
    assert!(!on_case(suite, &k_token, &other, pb::Action::Read).await.allowed);
    assert_eq!(visible(suite, &k_token, 1).await, vec![case.clone()]);
    // Remove K's related-party row → DENY.
    remove_party(suite, &admin, &row.related_party_id).await.unwrap();
    assert!(!on_case(suite, &k_token, &case, pb::Action::Read).await.allowed);
    assert!(visible(suite, &k_token, 1).await.is_empty());
});

backend_test!(r5_10_case_contact_must_have_full_access_to_the_sold_product, |suite| {
    let admin = manager(suite).await;
    let a = account(suite, "Acme", None).await;
    let b = account(suite, "Beta", None).await;
    let product = sold_product(suite, &admin, &a, "").await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (x, _) = contact(suite, &b, "Xia", &[CUSTOMER]).await;
    let (y, _) = contact(suite, &b, "Yul", &[CUSTOMER]).await;
    // X (account B) has no access to A's sold product: refused.
    let status = create_case(suite, &agent, case_draft(&b, &x.to_string(), &product, "")).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "CONTACT_NOT_AUTHORIZED_FOR_SOLD_PRODUCT");
    // As an Authorized Contact of the product X may be linked; a Listed contact still may not.
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::SoldProduct, "Authorized Contact").await;
    let listed =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::SoldProduct, "Listed Contact").await;
    add_party(suite, &admin, Subject::SoldProduct(&product), pb::PartyKind::Contact, &x.to_string(), &authorized)
        .await
        .unwrap();
    add_party(suite, &admin, Subject::SoldProduct(&product), pb::PartyKind::Contact, &y.to_string(), &listed)
        .await
        .unwrap();
    create_case(suite, &agent, case_draft(&b, &x.to_string(), &product, "")).await.expect("authorized contact");
    let status = create_case(suite, &agent, case_draft(&b, &y.to_string(), &product, "")).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "CONTACT_NOT_AUTHORIZED_FOR_SOLD_PRODUCT");
    // The picker offers only authorized parties.
    let picker = suite
        .case_access(Some(&agent))
        .list_related_parties(pb::ListRelatedPartiesRequest {
            subject: Some(pb::list_related_parties_request::Subject::SoldProductId(product.clone())),
            authorized_only: true,
            party_kind: pb::PartyKind::Contact as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(picker.related_parties.iter().map(|p| p.party_id.clone()).collect::<Vec<_>>(), vec![x.to_string()]);
});

backend_test!(r5_11_install_base_parties_reach_child_items_the_product_and_cases, |suite| {
    let admin = manager(suite).await;
    let a = account(suite, "Acme", None).await;
    let b = account(suite, "Beta", None).await;
    let product = sold_product(suite, &admin, &a, "").await;
    let parent = item(suite, &admin, &a, &product, "", &[]).await;
    let child = item(suite, &admin, &a, "", &parent, &[]).await;
    let unrelated = item(suite, &admin, &a, "", "", &[]).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (l, _) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let (k, k_token) = contact(suite, &b, "Kim", &[INSTALL_BASE_AUTHORIZED_CONTACT]).await;
    let case = new_case(suite, &agent, case_draft(&a, &l.to_string(), "", &parent)).await;
    let other = new_case(suite, &agent, case_draft(&a, &l.to_string(), "", &unrelated)).await;
    // Before: nothing.
    assert_status(&get_item(suite, &k_token, &parent).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
    assert!(!on_case(suite, &k_token, &case, pb::Action::Read).await.allowed);
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::InstallBase, "Authorized Contact").await;
    add_party(suite, &admin, Subject::Item(&parent), pb::PartyKind::Contact, &k.to_string(), &authorized)
        .await
        .unwrap();
    // The install base, its child item, its sold product and its cases.
    assert_eq!(listed_items(suite, &k_token).await, BTreeSet::from([parent.clone(), child.clone()]));
    get_item(suite, &k_token, &child).await.expect("child item");
    get_product(suite, &k_token, &product).await.expect("its sold product");
    assert_eq!(listed_products(suite, &k_token).await, BTreeSet::from([product.clone()]));
    assert_status(&get_item(suite, &k_token, &unrelated).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
    let read = on_case(suite, &k_token, &case, pb::Action::Read).await;
    assert!(read.allowed);
    assert_eq!(read.rule, "R5.11");
    assert!(!on_case(suite, &k_token, &other, pb::Action::Read).await.allowed);
    assert_eq!(visible(suite, &k_token, 1).await, vec![case.clone()]);
    // Cases may be created for an install base only with a contact of its account.
    let status = create_case(suite, &agent, case_draft(&b, &k.to_string(), "", &parent)).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "INSTALL_BASE_ACCOUNT_MISMATCH");
    create_case(suite, &agent, case_draft(&a, &l.to_string(), "", &child)).await.expect("same account");
});

// ------------------------------------------------------------------ R4.10, R4.16 (assets)

backend_test!(r4_10_customers_see_assets_of_their_accounts_partner_admins_also_of_customers, |suite| {
    let admin = manager(suite).await;
    let a = account(suite, "Acme", None).await;
    let b = account(suite, "Beta", None).await;
    let p = account_of_kind(suite, "Var", None, id_pb::AccountKind::Partner).await;
    let own = item(suite, &admin, &a, "", "", &[]).await;
    let foreign = item(suite, &admin, &b, "", "", &[]).await;
    let own_product = sold_product(suite, &admin, &a, "").await;
    let foreign_product = sold_product(suite, &admin, &b, "").await;
    let (_, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    get_item(suite, &customer, &own).await.expect("own account's asset");
    assert_status(&get_item(suite, &customer, &foreign).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
    assert_eq!(listed_items(suite, &customer).await, BTreeSet::from([own.clone()]));
    assert_eq!(listed_products(suite, &customer).await, BTreeSet::from([own_product.clone()]));
    // Partner P → customer B: the partner admin also sees B's assets.
    suite
        .account_team(Some(&admin))
        .create_account_relationship(at_pb::CreateAccountRelationshipRequest {
            request_id: String::new(),
            account_relationship: Some(at_pb::AccountRelationship {
                from_account_id: p.clone(),
                to_account_id: b.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("partner relationship");
    let (_, partner_admin) = contact(suite, &p, "Pat", &[PARTNER_ADMIN]).await;
    let (_, plain) = contact(suite, &p, "Pia", &[]).await;
    let decision =
        decide(suite, &partner_admin, pb::target::Resource::InstallBaseItemId(foreign.clone()), pb::Action::Read).await;
    assert!(decision.allowed);
    assert_eq!(decision.rule, "R4.10");
    assert_eq!(listed_items(suite, &partner_admin).await, BTreeSet::from([foreign.clone()]));
    assert_eq!(listed_products(suite, &partner_admin).await, BTreeSet::from([foreign_product]));
    assert!(listed_items(suite, &plain).await.is_empty(), "no portal role, no assets");
});

backend_test!(r4_16_customer_data_viewer_reads_sold_products_and_install_base_read_only, |suite| {
    let admin = manager(suite).await;
    let a = account(suite, "Acme", None).await;
    let product = sold_product(suite, &admin, &a, "").await;
    let unit = item(suite, &admin, &a, &product, "", &[]).await;
    let (_, viewer) = employee(suite, "Vic", &[CUSTOMER_DATA_VIEWER]).await;
    let (_, nobody) = employee(suite, "Ned", &[]).await;
    get_product(suite, &viewer, &product).await.expect("viewer reads sold products");
    get_item(suite, &viewer, &unit).await.expect("viewer reads install base");
    assert!(listed_products(suite, &viewer).await.contains(&product));
    let target = pb::target::Resource::SoldProductId(product.clone());
    assert_eq!(decide(suite, &viewer, target.clone(), pb::Action::Read).await.rule, "R4.16");
    assert!(!decide(suite, &viewer, target.clone(), pb::Action::WriteFull).await.allowed);
    assert!(!decide(suite, &viewer, target, pb::Action::Delete).await.allowed);
    let status = suite
        .case_access(Some(&viewer))
        .update_sold_product(pb::UpdateSoldProductRequest {
            sold_product: Some(pb::SoldProduct {
                sold_product_id: product.clone(),
                name: "Renamed".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["name".to_owned()] }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ACCESS_DENIED");
    assert_status(&get_product(suite, &nobody, &product).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
});

// ------------------------------------------------------------------ R5.14 (CAM roles)

backend_test!(r5_14_related_party_write_role_lets_a_reader_add_parties, |suite| {
    let a = account(suite, "Acme", None).await;
    let (k, customer) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (l, _) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let case = new_case(suite, &customer, draft(pb::CreateFor::Account, &a, "")).await;
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Authorized Contact").await;
    // READ alone does not write related parties.
    let status = add_party(suite, &customer, Subject::Case(&case), pb::PartyKind::Contact, &l.to_string(), &authorized)
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ACCESS_DENIED");
    // READ + case_related_party_write does.
    suite.assign_role(k, CASE_RELATED_PARTY_WRITE).await.unwrap();
    add_party(suite, &customer, Subject::Case(&case), pb::PartyKind::Contact, &l.to_string(), &authorized)
        .await
        .expect("granular related-party write");
    // Functional roles contain case_write (and case_write its read/create parts).
    let (m, _) = contact(suite, &a, "Max", &[CASE_AUTHORIZED_CONTACT]).await;
    let roles = suite.effective_roles(m).await;
    assert!(roles.iter().any(|role| role == CASE_WRITE), "{roles:?}");
    assert!(roles.iter().any(|role| role == roles::CASE_READ_GRANULAR), "{roles:?}");
    let (n, _) = contact(suite, &a, "Ned", &[]).await;
    assert!(!suite.effective_roles(n).await.iter().any(|role| role == CASE_WRITE));
});

// ------------------------------------------------------------------ bad input

backend_test!(r5_6_bad_input_is_refused_with_precise_reasons, |suite| {
    let admin = manager(suite).await;
    let a = account(suite, "Acme", None).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let (k, _) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let c = consumer(suite, "Cleo").await;
    let case = new_case(suite, &agent, draft(pb::CreateFor::Account, &a, "")).await;
    let case_contact =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::Case, "Authorized Contact").await;
    let product_contact =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::SoldProduct, "Authorized Contact").await;
    let missing = uuid::Uuid::now_v7().to_string();
    let k = k.to_string();
    // Unknown subject, type and party → NOT_FOUND.
    let status =
        add_party(suite, &agent, Subject::Case(&missing), pb::PartyKind::Contact, &k, &case_contact).await.unwrap_err();
    assert_status(&status, Code::NotFound, "CASE_NOT_FOUND");
    let status =
        add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Contact, &k, &missing).await.unwrap_err();
    assert_status(&status, Code::NotFound, "REFERENCED_ENTITY_NOT_FOUND");
    let status = add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Contact, &missing, &case_contact)
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "REFERENCED_ENTITY_NOT_FOUND");
    let status = add_party(suite, &admin, Subject::SoldProduct(&missing), pb::PartyKind::Contact, &k, &product_contact)
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "SOLD_PRODUCT_NOT_FOUND");
    // Wrong type for the subject, or for the party kind.
    let status =
        add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Contact, &k, &product_contact).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RELATED_PARTY_TYPE_MISMATCH");
    let status =
        add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Consumer, &c, &case_contact).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RELATED_PARTY_TYPE_MISMATCH");
    // Duplicate (same subject, party and type).
    add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Contact, &k, &case_contact).await.unwrap();
    let status =
        add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Contact, &k, &case_contact).await.unwrap_err();
    assert_status(&status, Code::AlreadyExists, "RELATED_PARTY_EXISTS");
    // Missing fields name the field.
    let status = add_party(suite, &agent, Subject::Case(&case), pb::PartyKind::Unspecified, &k, &case_contact)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(csm_tests::violated_fields(&status), vec!["party_kind".to_owned()]);
    assert_status(&remove_party(suite, &agent, &missing).await.unwrap_err(), Code::NotFound, "RELATED_PARTY_NOT_FOUND");
    // A retried add with the same request_id answers the original row.
    let (m, _) = contact(suite, &a, "Max", &[CUSTOMER]).await;
    let request = pb::AddRelatedPartyRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        subject: Some(pb::add_related_party_request::Subject::CaseId(case.clone())),
        party_kind: pb::PartyKind::Contact as i32,
        party_id: m.to_string(),
        related_party_configuration_id: case_contact.clone(),
        ..Default::default()
    };
    let first = suite.case_access(Some(&agent)).add_related_party(request.clone()).await.unwrap().into_inner();
    let again = suite.case_access(Some(&agent)).add_related_party(request).await.unwrap().into_inner();
    assert_eq!(first.related_party.unwrap().related_party_id, again.related_party.unwrap().related_party_id);
});

backend_test!(r5_8_sold_products_in_use_and_item_cycles_are_refused, |suite| {
    let a = account(suite, "Acme", None).await;
    let admin = manager(suite).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let product = sold_product(suite, &admin, &a, "").await;
    let parent = item(suite, &admin, &a, &product, "", &[]).await;
    let child = item(suite, &admin, &a, "", &parent, &[]).await;
    // Only managers, admins and services create assets.
    let status = suite
        .case_access(Some(&agent))
        .create_sold_product(pb::CreateSoldProductRequest {
            sold_product: Some(pb::SoldProduct { name: "X".to_owned(), account_id: a.clone(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "ACCESS_DENIED");
    // Exactly one owner.
    let status = suite
        .case_access(Some(&admin))
        .create_sold_product(pb::CreateSoldProductRequest {
            sold_product: Some(pb::SoldProduct { name: "X".to_owned(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let delete = |id: String| {
        let admin = admin.clone();
        async move {
            suite
                .case_access(Some(&admin))
                .delete_sold_product(pb::DeleteSoldProductRequest { sold_product_id: id, ..Default::default() })
                .await
        }
    };
    assert_status(&delete(product.clone()).await.unwrap_err(), Code::FailedPrecondition, "SOLD_PRODUCT_IN_USE");
    assert_status(
        &delete(uuid::Uuid::now_v7().to_string()).await.unwrap_err(),
        Code::NotFound,
        "SOLD_PRODUCT_NOT_FOUND",
    );
    // A parent cannot become its own descendant.
    let status = suite
        .case_access(Some(&admin))
        .update_install_base_item(pb::UpdateInstallBaseItemRequest {
            install_base_item: Some(pb::InstallBaseItem {
                install_base_item_id: parent.clone(),
                parent_install_base_item_id: child.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["parent_install_base_item_id".to_owned()] }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // In use by a child item; then deletable bottom-up.
    let delete_item = |id: String| {
        let admin = admin.clone();
        async move {
            suite
                .case_access(Some(&admin))
                .delete_install_base_item(pb::DeleteInstallBaseItemRequest {
                    install_base_item_id: id,
                    ..Default::default()
                })
                .await
        }
    };
    assert_status(
        &delete_item(parent.clone()).await.unwrap_err(),
        Code::FailedPrecondition,
        "INSTALL_BASE_ITEM_IN_USE",
    );
    delete_item(child).await.expect("leaf item");
    delete_item(parent.clone()).await.expect("now a leaf");
    delete(product.clone()).await.expect("no longer referenced");
    assert_status(&get_product(suite, &admin, &product).await.unwrap_err(), Code::NotFound, "SOLD_PRODUCT_NOT_FOUND");
});

backend_test!(explain_on_a_sold_product_names_the_asset_rule_or_the_closest_miss, |suite| {
    let own = account(suite, "Acme", None).await;
    let other = account(suite, "Other", None).await;
    let (_, manager) = employee(suite, "Max", &[MANAGER]).await;
    let product = sold_product(suite, &manager, &own, "").await;
    let explain = |token: String| {
        let product = product.clone();
        async move {
            suite
                .case_access(Some(&token))
                .explain(pb::ExplainRequest {
                    target: Some(pb::Target { resource: Some(pb::target::Resource::SoldProductId(product)) }),
                    action: pb::Action::Read as i32,
                    ..Default::default()
                })
                .await
                .expect("explain")
                .into_inner()
        }
    };
    let (_, customer) = contact(suite, &own, "Kim", &[CUSTOMER]).await;
    let allowed = explain(customer.clone()).await;
    let decision = allowed.decision.unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.rule, "R4.10");
    assert!(allowed.rules.iter().any(|rule| rule.rule == "R4.10" && rule.outcome == pb::RuleOutcome::Matched as i32));
    let (_, stranger) = contact(suite, &other, "Lou", &[CUSTOMER]).await;
    let denied = explain(stranger).await;
    assert!(!denied.decision.unwrap().allowed);
    let closest = denied.closest_rule.expect("a denial names the closest rule");
    assert_eq!(closest.outcome, pb::RuleOutcome::NotMatched as i32);
    assert!(closest.conditions.iter().any(|condition| condition.detail.contains(&own)), "{closest:?}");
});

// ------------------------------------------------------------------ R5.12, R5.13 (account access)

/// The Account Access record of an account (account-team, R5.12, R5.13), created by the administrator.
async fn account_access(suite: &Suite, access: at_pb::AccountAccess) -> at_pb::AccountAccess {
    let token = suite.admin_token();
    suite
        .account_team(Some(&token))
        .create_account_access(at_pb::CreateAccountAccessRequest {
            request_id: String::new(),
            account_access: Some(access),
        })
        .await
        .expect("create account access")
        .into_inner()
        .account_access
        .unwrap()
}

backend_test!(r5_12_restricted_contact_access_limits_asset_reads, |suite| {
    let admin = manager(suite).await;
    let a = account(suite, "Acme", None).await;
    let product = sold_product(suite, &admin, &a, "").await;
    let asset = item(suite, &admin, &a, &product, "", &[]).await;
    let (_, kim) = contact(suite, &a, "Kim", &[CUSTOMER]).await;
    let (lou, lou_token) = contact(suite, &a, "Lou", &[CUSTOMER]).await;
    let (rep, rep_token) = contact(suite, &a, "Rae", &[CUSTOMER, SOLD_PRODUCT_AUTHORIZED_CONTACT]).await;
    let product_target = || pb::target::Resource::SoldProductId(product.clone());
    // Unrestricted: every contact of the account reads its assets (R4.10).
    get_product(suite, &kim, &product).await.expect("unrestricted read");
    assert_eq!(listed_items(suite, &kim).await, BTreeSet::from([asset.clone()]));

    let record = account_access(
        suite,
        at_pb::AccountAccess {
            account_id: a.clone(),
            restrict_contact_access: true,
            allowed_contact_ids: vec![lou.to_string()],
            ..Default::default()
        },
    )
    .await;
    // (a) the contact listed on the record: check, list and get agree.
    let listed = decide(suite, &lou_token, product_target(), pb::Action::Read).await;
    assert!(listed.allowed);
    assert_eq!(listed.rule, "R5.12");
    assert_eq!(listed_products(suite, &lou_token).await, BTreeSet::from([product.clone()]));
    get_item(suite, &lou_token, &asset).await.expect("listed contact reads the install base");
    // Any other contact of the account: no read, no list, no get.
    assert!(!decide(suite, &kim, product_target(), pb::Action::Read).await.allowed);
    assert_status(&get_product(suite, &kim, &product).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
    assert_status(&get_item(suite, &kim, &asset).await.unwrap_err(), Code::PermissionDenied, "ACCESS_DENIED");
    assert!(listed_products(suite, &kim).await.is_empty());
    assert!(listed_items(suite, &kim).await.is_empty());
    let explained = suite
        .case_access(Some(&kim))
        .explain(pb::ExplainRequest {
            target: Some(pb::Target { resource: Some(product_target()) }),
            action: pb::Action::Read as i32,
            consistency: fresh(),
            ..Default::default()
        })
        .await
        .expect("explain")
        .into_inner();
    assert!(!explained.decision.unwrap().allowed);
    assert!(explained.rules.iter().all(|rule| rule.rule != "R4.10"), "no R4.10 grant on a restricted account");
    // (b) a contact added as Authorized Representative reads through the related party (R5.8).
    assert!(!decide(suite, &rep_token, product_target(), pb::Action::Read).await.allowed);
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::SoldProduct, "Authorized Contact").await;
    add_party(suite, &admin, Subject::SoldProduct(&product), pb::PartyKind::Contact, &rep.to_string(), &authorized)
        .await
        .unwrap();
    let related = decide(suite, &rep_token, product_target(), pb::Action::Read).await;
    assert!(related.allowed);
    assert_eq!(related.rule, "R5.8");
    // Lifting the restriction gives every contact its read back.
    let token = suite.admin_token();
    suite
        .account_team(Some(&token))
        .delete_account_access(at_pb::DeleteAccountAccessRequest { account_access_id: record.account_access_id })
        .await
        .expect("delete account access");
    get_product(suite, &kim, &product).await.expect("unrestricted again");
});

backend_test!(r5_13_case_partner_contact_must_be_eligible, |suite| {
    let admin = manager(suite).await;
    let (_, agent) = employee(suite, "Bea", &[AGENT]).await;
    let customer_account = account(suite, "Acme", None).await;
    let partner = account_of_kind(suite, "Var", None, id_pb::AccountKind::Partner).await;
    let stranger = account_of_kind(suite, "Other Var", None, id_pb::AccountKind::Partner).await;
    suite
        .account_team(Some(&admin))
        .create_account_relationship(at_pb::CreateAccountRelationshipRequest {
            request_id: String::new(),
            account_relationship: Some(at_pb::AccountRelationship {
                from_account_id: partner.clone(),
                to_account_id: customer_account.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("partner relationship");
    let (plain, _) = contact(suite, &partner, "Pia", &[]).await;
    let (partner_admin, _) = contact(suite, &partner, "Pam", &[PARTNER_ADMIN]).await;
    let (outsider, _) = contact(suite, &stranger, "Oz", &[]).await;
    let (customer_contact, _) = contact(suite, &customer_account, "Kim", &[CUSTOMER]).await;
    let with_partner_contact = |contact: ProfileId, item: &str| pb::CaseDraft {
        partner_contact_id: contact.to_string(),
        contact_id: customer_contact.to_string(),
        install_base_item_id: item.to_owned(),
        ..draft(pb::CreateFor::Account, &customer_account, "")
    };
    let not_eligible =
        |status: Status| assert_status(&status, Code::FailedPrecondition, "PARTNER_CONTACT_NOT_ELIGIBLE");

    // Restrict Account Access off: every partner contact of a partner account of the case's account.
    new_case(suite, &agent, with_partner_contact(plain, "")).await;
    let case = new_case(suite, &agent, case_draft(&customer_account, &customer_contact.to_string(), "", "")).await;
    not_eligible(create_case(suite, &agent, with_partner_contact(outsider, "")).await.unwrap_err());
    not_eligible(create_case(suite, &agent, with_partner_contact(customer_contact, "")).await.unwrap_err());

    // On: only partner admins — on CreateCase and on UpdateCase.
    account_access(
        suite,
        at_pb::AccountAccess {
            account_id: customer_account.clone(),
            restrict_account_access: true,
            ..Default::default()
        },
    )
    .await;
    not_eligible(create_case(suite, &agent, with_partner_contact(plain, "")).await.unwrap_err());
    let update = |contact: ProfileId| {
        let case = case.clone();
        let agent = agent.clone();
        async move {
            suite
                .case_access(Some(&agent))
                .update_case(csm_tests::masked!(
                    pb::UpdateCaseRequest {
                        support_case: Some(pb::Case {
                            case_id: case,
                            partner_contact_id: contact.to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ["partner_contact_id"]
                ))
                .await
                .map(|response| response.into_inner().support_case.unwrap())
        }
    };
    not_eligible(update(plain).await.unwrap_err());
    let updated = update(partner_admin).await.expect("a partner admin is eligible");
    assert_eq!(updated.partner_contact_id, partner_admin.to_string());
    new_case(suite, &agent, with_partner_contact(partner_admin, "")).await;

    // Plus partner contacts added to the install base as Authorized Representative.
    let asset = item(suite, &admin, &customer_account, "", "", &[]).await;
    not_eligible(create_case(suite, &agent, with_partner_contact(plain, &asset)).await.unwrap_err());
    let authorized =
        csm_tests::world::related_party_type_id(suite, at_pb::RecordTable::InstallBase, "Authorized Contact").await;
    add_party(suite, &admin, Subject::Item(&asset), pb::PartyKind::Contact, &plain.to_string(), &authorized)
        .await
        .unwrap();
    new_case(suite, &agent, with_partner_contact(plain, &asset)).await;
});
