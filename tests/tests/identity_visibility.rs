//! identity's account and contact visibility for external people (R4.9) and
//! the partner admin's delegated scope over its customers' contacts (R4.8),
//! over real gRPC, on SQLite and PostgreSQL.

use csm_types::roles;
use std::collections::BTreeSet;

use csm_proto::account_team as at_pb;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of};
use tonic::Code;

const CUSTOMER: &str = roles::CUSTOMER;
const CUSTOMER_ADMIN: &str = roles::CUSTOMER_ADMIN;
const PARTNER: &str = roles::PARTNER;
const PARTNER_ADMIN: &str = roles::PARTNER_ADMIN;

async fn get_account(suite: &Suite, token: &str, account: &str) -> Result<id_pb::Account, tonic::Status> {
    suite
        .identity(Some(token))
        .get_account(id_pb::GetAccountRequest { account_id: account.to_owned() })
        .await
        .map(|response| response.into_inner().account.unwrap())
}

async fn listed_accounts(suite: &Suite, token: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .identity(Some(token))
            .list_accounts(id_pb::ListAccountsRequest { page_size: 2, page_token, ..Default::default() })
            .await
            .expect("list accounts")
            .into_inner();
        seen.extend(page.accounts.into_iter().map(|account| account.account_id));
        if page.next_page_token.is_empty() {
            return seen;
        }
        page_token = page.next_page_token;
    }
}

async fn contacts_of(suite: &Suite, token: &str, account: &str) -> Result<usize, tonic::Status> {
    suite
        .identity(Some(token))
        .list_account_contacts(id_pb::ListAccountContactsRequest {
            account_id: account.to_owned(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().profiles.len())
}

backend_test!(r4_9_external_people_see_only_their_accounts_and_contacts, |suite| {
    // The contact relationship goes to the parent (R3.8: within the hierarchy).
    let related = account(suite, "Holding", None).await;
    let own = account(suite, "Acme", Some(&related)).await;
    let child = account(suite, "Acme Labs", Some(&own)).await;
    let foreign = account(suite, "Foreign", None).await;
    let (kim, customer) = contact(suite, &own, "Kim", &[CUSTOMER]).await;
    contact(suite, &child, "Cid", &[CUSTOMER]).await;
    suite
        .account_team(Some(&suite.admin_token()))
        .create_contact_relationship(at_pb::CreateContactRelationshipRequest {
            request_id: String::new(),
            contact_relationship: Some(at_pb::ContactRelationship {
                account_id: related.clone(),
                contact_id: kim.to_string(),
                ..Default::default()
            }),
        })
        .await
        .expect("contact relationship");

    // customer: its account and its contact-relationship accounts; no contacts of others.
    assert_eq!(listed_accounts(suite, &customer).await, BTreeSet::from([own.clone(), related.clone()]));
    assert!(get_account(suite, &customer, &related).await.is_ok());
    let status = get_account(suite, &customer, &child).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_VISIBLE");
    assert_eq!(contacts_of(suite, &customer, &child).await.unwrap_err().code(), Code::PermissionDenied);

    // customer admin: also the hierarchy accounts and all their contacts.
    let (_, admin) = contact(suite, &own, "Ada", &[CUSTOMER, CUSTOMER_ADMIN]).await;
    assert_eq!(listed_accounts(suite, &admin).await, BTreeSet::from([own.clone(), child.clone()]));
    assert_eq!(contacts_of(suite, &admin, &child).await.unwrap(), 1);
    assert!(contacts_of(suite, &admin, &own).await.unwrap() >= 2);
    assert_eq!(get_account(suite, &admin, &foreign).await.unwrap_err().code(), Code::PermissionDenied);

    // partner: its account and PCUST(acct(me)) with their contacts.
    let partner = account_of_kind(suite, "Partner", None, id_pb::AccountKind::Partner).await;
    let (_, partner_contact) = contact(suite, &partner, "Quinn", &[PARTNER]).await;
    assert_eq!(listed_accounts(suite, &partner_contact).await, BTreeSet::from([partner.clone()]));
    assert_eq!(get_account(suite, &partner_contact, &own).await.unwrap_err().code(), Code::PermissionDenied);
    partner_relationship(suite, &partner, &own).await;
    assert_eq!(listed_accounts(suite, &partner_contact).await, BTreeSet::from([partner.clone(), own.clone()]));
    assert!(contacts_of(suite, &partner_contact, &own).await.unwrap() >= 2);
    assert_eq!(contacts_of(suite, &partner_contact, &child).await.unwrap_err().code(), Code::PermissionDenied);

    // Agents see everything.
    let (_, agent) = employee(suite, "Bea", &[roles::AGENT]).await;
    assert!(get_account(suite, &agent, &foreign).await.is_ok());
    assert!(listed_accounts(suite, &agent).await.is_superset(&BTreeSet::from([own, child, related, foreign, partner])));
});

backend_test!(r4_8_partner_admin_manages_contacts_of_its_customer_accounts, |suite| {
    let customer = account(suite, "Customer", None).await;
    let unrelated = account(suite, "Unrelated", None).await;
    let partner = account_of_kind(suite, "Partner", None, id_pb::AccountKind::Partner).await;
    let (_, partner_admin) = contact(suite, &partner, "Pat", &[PARTNER, PARTNER_ADMIN]).await;
    let create = |account: String| {
        let token = partner_admin.clone();
        async move {
            suite
                .identity(Some(&token))
                .create_contact(id_pb::CreateContactRequest {
                    account_id: account,
                    details: details("Neu"),
                    ..Default::default()
                })
                .await
        }
    };
    // Before the partner relationship the customer is outside its scope.
    let status = create(customer.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "OUT_OF_ADMIN_SCOPE");
    partner_relationship(suite, &partner, &customer).await;
    create(customer.clone()).await.expect("PCUST(acct(me)) is in scope");
    create(partner.clone()).await.expect("its own partner account is in scope");
    let status = create(unrelated).await.unwrap_err();
    assert_eq!(reason_of(&status), "OUT_OF_ADMIN_SCOPE");
});

/// Every account of a hierarchy read (ancestors or descendants), over all pages.
async fn hierarchy(suite: &Suite, token: &str, account: &str, ancestors: bool) -> Result<Vec<String>, tonic::Status> {
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let mut client = suite.identity(Some(token));
        let (accounts, next) = if ancestors {
            let page = client
                .list_account_ancestors(id_pb::ListAccountAncestorsRequest {
                    account_id: account.to_owned(),
                    page_size: 1,
                    page_token,
                })
                .await?
                .into_inner();
            (page.accounts, page.next_page_token)
        } else {
            let page = client
                .list_account_descendants(id_pb::ListAccountDescendantsRequest {
                    account_id: account.to_owned(),
                    page_size: 1,
                    page_token,
                    ..Default::default()
                })
                .await?
                .into_inner();
            (page.accounts, page.next_page_token)
        };
        seen.extend(accounts.into_iter().map(|account| account.account_id));
        if next.is_empty() {
            return Ok(seen);
        }
        page_token = next;
    }
}

/// BatchGetAccounts with ancestors: (account → its ancestors, missing ids).
async fn batch_get(
    suite: &Suite,
    token: &str,
    ids: &[&String],
) -> (std::collections::BTreeMap<String, Vec<String>>, BTreeSet<String>) {
    let response = suite
        .identity(Some(token))
        .batch_get_accounts(id_pb::BatchGetAccountsRequest {
            account_ids: ids.iter().map(|id| (*id).clone()).collect(),
            include_ancestors: true,
        })
        .await
        .expect("batch get accounts")
        .into_inner();
    let found = response
        .accounts
        .into_iter()
        .map(|found| (found.account.unwrap().account_id, found.ancestor_account_ids))
        .collect();
    (found, response.missing_account_ids.into_iter().collect())
}

backend_test!(r4_9_hierarchy_reads_show_external_people_only_the_accounts_they_may_see, |suite| {
    let holding = account(suite, "Holding", None).await;
    let own = account(suite, "Acme", Some(&holding)).await;
    let child = account(suite, "Acme Labs", Some(&own)).await;
    let foreign = account(suite, "Foreign", None).await;
    let foreign_child = account(suite, "Foreign Labs", Some(&foreign)).await;
    let (_, customer) = contact(suite, &own, "Kim", &[CUSTOMER]).await;
    let (_, admin) = contact(suite, &own, "Ada", &[CUSTOMER, CUSTOMER_ADMIN]).await;
    let (_, agent) = employee(suite, "Bea", &[roles::AGENT]).await;

    // Another tenant's hierarchy is refused, as GetAccount refuses its account.
    for token in [&customer, &admin] {
        for (account, ancestors) in [(&foreign_child, true), (&foreign, false)] {
            let status = hierarchy(suite, token, account, ancestors).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied);
            assert_eq!(reason_of(&status), "ACCOUNT_NOT_VISIBLE");
        }
    }
    // Its own hierarchy: only what R4.9 shows (the holding above is not theirs to see).
    assert_eq!(hierarchy(suite, &customer, &own, true).await.unwrap(), Vec::<String>::new());
    assert_eq!(hierarchy(suite, &customer, &own, false).await.unwrap(), Vec::<String>::new());
    assert_eq!(hierarchy(suite, &admin, &own, false).await.unwrap(), vec![child.clone()]);
    assert_eq!(hierarchy(suite, &admin, &child, true).await.unwrap(), vec![own.clone()]);
    assert_eq!(hierarchy(suite, &agent, &child, true).await.unwrap(), vec![own.clone(), holding.clone()]);

    // A batch reports another tenant's accounts exactly as unknown ids.
    let unknown = uuid::Uuid::now_v7().to_string();
    let (found, missing) = batch_get(suite, &admin, &[&own, &child, &foreign, &unknown]).await;
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), BTreeSet::from([own.clone(), child.clone()]));
    assert_eq!(found[&child], vec![own.clone()], "the holding is not in the chain");
    assert_eq!(missing, BTreeSet::from([foreign.clone(), unknown.clone()]));
    let (found, missing) = batch_get(suite, &agent, &[&own, &child, &foreign, &unknown]).await;
    assert_eq!(found.len(), 3);
    assert_eq!(found[&child], vec![own.clone(), holding.clone()]);
    assert_eq!(missing, BTreeSet::from([unknown]));
});
