//! identity's accounts and their hierarchy over real gRPC (SPEC R1.2, R3.1,
//! R3.2, R3.3 and DESC(a) of §0.4): CreateAccount, GetAccount, UpdateAccount,
//! ListAccounts, SetAccountParent, ListAccountAncestors,
//! ListAccountDescendants, BatchGetAccounts. Each test runs on SQLite and on
//! PostgreSQL (see `backend_test!`).
//!
//! People holding a role are minted with `assign_role_as_service` (no identity
//! record needed), so these tests depend only on the accounts area.

use csm_types::roles;
use std::collections::BTreeSet;

use csm_proto::identity as pb;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_tests::{Suite, TestChannel, backend_test, masked, reason_of, violated_fields};
use csm_types::ServiceName;
use tonic::Code;

// ------------------------------------------------------------------ helpers

type Identity = IdentityServiceClient<TestChannel>;

fn admin(suite: &Suite) -> Identity {
    let token = suite.admin_token();
    suite.identity(Some(&token))
}

/// A client of a person whose only role is `role`.
async fn person_with_role(suite: &Suite, role: &str) -> Identity {
    let (_, token) = csm_tests::world::person_with_roles(suite, &[role]).await;
    suite.identity(Some(&token))
}

fn new_account(name: &str, kind: pb::AccountKind, parent: Option<&pb::Account>) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        request_id: String::new(),
        name: name.to_owned(),
        kind: kind as i32,
        parent_account_id: parent.map(|parent| parent.account_id.clone()).unwrap_or_default(),
    }
}

async fn create(suite: &Suite, name: &str, parent: Option<&pb::Account>) -> pb::Account {
    admin(suite)
        .create_account(new_account(name, pb::AccountKind::Customer, parent))
        .await
        .unwrap_or_else(|status| panic!("create {name}: {status}"))
        .into_inner()
        .account
        .unwrap()
}

async fn get(suite: &Suite, id: &str) -> pb::Account {
    admin(suite)
        .get_account(pb::GetAccountRequest { account_id: id.to_owned() })
        .await
        .expect("get")
        .into_inner()
        .account
        .unwrap()
}

async fn set_parent(
    client: &mut Identity,
    account: &str,
    parent: Option<&str>,
) -> Result<pb::SetAccountParentResponse, tonic::Status> {
    client
        .set_account_parent(pb::SetAccountParentRequest {
            account_id: account.to_owned(),
            parent_account_id: parent.unwrap_or_default().to_owned(),
        })
        .await
        .map(|response| response.into_inner())
}

/// Every ancestor id of `id`, nearest first, read page by page.
async fn ancestors(suite: &Suite, id: &str, page_size: i32) -> Vec<String> {
    let mut client = admin(suite);
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_account_ancestors(pb::ListAccountAncestorsRequest {
                page_size,
                page_token: page_token.clone(),
                account_id: id.to_owned(),
            })
            .await
            .expect("ancestors")
            .into_inner();
        ids.extend(page.accounts.into_iter().map(|account| account.account_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

/// Every descendant id of `id` (DESC(a)), in the order served, page by page.
async fn descendants(suite: &Suite, id: &str, max_depth: i32, include_inactive: bool, page_size: i32) -> Vec<String> {
    let mut client = admin(suite);
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_account_descendants(pb::ListAccountDescendantsRequest {
                page_size,
                page_token: page_token.clone(),
                account_id: id.to_owned(),
                max_depth,
                include_inactive,
            })
            .await
            .expect("descendants")
            .into_inner();
        ids.extend(page.accounts.into_iter().map(|account| account.account_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

fn ids_of(accounts: &[&pb::Account]) -> Vec<String> {
    accounts.iter().map(|account| account.account_id.clone()).collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn revision_of(consistency_token: &str) -> u64 {
    consistency_token.strip_prefix("identity:").and_then(|revision| revision.parse().ok()).expect("identity token")
}

// ------------------------------------------------------------------ R3.1

backend_test!(r3_1_an_account_has_at_most_one_parent_and_a_cycle_is_invalid_argument, |suite| {
    let top = create(suite, "Holding", None).await;
    let middle = create(suite, "Subsidiary", Some(&top)).await;
    let leaf = create(suite, "Branch", Some(&middle)).await;
    assert_eq!(top.parent_account_id, "", "a top-level account has no parent");
    assert_eq!(leaf.parent_account_id, middle.account_id, "exactly one parent");

    let mut client = admin(suite);
    // Under one of its descendants (grandchild, child) or itself: a cycle.
    for parent in [&leaf, &middle, &top] {
        let status = set_parent(&mut client, &top.account_id, Some(&parent.account_id)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{}", parent.name);
        assert_eq!(reason_of(&status), "ACCOUNT_HIERARCHY_CYCLE", "{}", parent.name);
    }
    // Nothing was written.
    assert_eq!(get(suite, &top.account_id).await.parent_account_id, "");
    assert_eq!(ancestors(suite, &leaf.account_id, 0).await, ids_of(&[&middle, &top]));
    assert_eq!(sorted(descendants(suite, &top.account_id, 0, true, 0).await), sorted(ids_of(&[&middle, &leaf])));
});

backend_test!(r3_1_moving_an_account_moves_its_whole_subtree, |suite| {
    let old_root = create(suite, "Old Group", None).await;
    let moved = create(suite, "Division", Some(&old_root)).await;
    let child = create(suite, "Team", Some(&moved)).await;
    let grandchild = create(suite, "Squad", Some(&child)).await;
    let new_root = create(suite, "New Group", None).await;
    let new_parent = create(suite, "New Division", Some(&new_root)).await;

    let mut client = admin(suite);
    let response = set_parent(&mut client, &moved.account_id, Some(&new_parent.account_id)).await.expect("move");
    let account = response.account.unwrap();
    assert_eq!(account.parent_account_id, new_parent.account_id);
    assert_eq!(response.previous_parent_account_id, old_root.account_id);
    assert!(!response.consistency_token.is_empty());

    // The subtree follows: every node's chain now ends in the new root.
    assert_eq!(ancestors(suite, &grandchild.account_id, 0).await, ids_of(&[&child, &moved, &new_parent, &new_root]));
    assert_eq!(ancestors(suite, &child.account_id, 0).await, ids_of(&[&moved, &new_parent, &new_root]));
    assert!(descendants(suite, &old_root.account_id, 0, true, 0).await.is_empty());
    assert_eq!(
        sorted(descendants(suite, &new_root.account_id, 0, true, 0).await),
        sorted(ids_of(&[&new_parent, &moved, &child, &grandchild]))
    );
    // Only the moved account's own parent changed.
    assert_eq!(get(suite, &child.account_id).await.parent_account_id, moved.account_id);

    // Clearing the parent makes the subtree a tree of its own.
    let response = set_parent(&mut client, &moved.account_id, None).await.expect("make top-level");
    assert_eq!(response.account.unwrap().parent_account_id, "");
    assert_eq!(response.previous_parent_account_id, new_parent.account_id);
    assert_eq!(ancestors(suite, &grandchild.account_id, 0).await, ids_of(&[&child, &moved]));
    assert_eq!(descendants(suite, &new_root.account_id, 0, true, 0).await, ids_of(&[&new_parent]));

    // Back under the old root; and a move to the parent it already has changes nothing.
    set_parent(&mut client, &moved.account_id, Some(&old_root.account_id)).await.expect("move back");
    let before = get(suite, &moved.account_id).await;
    let response = set_parent(&mut client, &moved.account_id, Some(&old_root.account_id)).await.expect("no-op");
    assert_eq!(response.previous_parent_account_id, old_root.account_id);
    assert_eq!(response.account.unwrap().updated_at, before.updated_at, "a no-op writes nothing");
    assert_eq!(ancestors(suite, &grandchild.account_id, 0).await, ids_of(&[&child, &moved, &old_root]));
});

backend_test!(r3_1_concurrent_opposite_moves_never_create_a_cycle, |suite| {
    const ROUNDS: usize = 25;
    let mut first = admin(suite);
    let mut second = admin(suite);
    for round in 0..ROUNDS {
        let a = create(suite, &format!("A{round}"), None).await;
        let b = create(suite, &format!("B{round}"), None).await;
        // A under B and B under A at the same time: each alone is valid, together a cycle.
        let (a_under_b, b_under_a) = tokio::join!(
            set_parent(&mut first, &a.account_id, Some(&b.account_id)),
            set_parent(&mut second, &b.account_id, Some(&a.account_id)),
        );
        let outcomes = [&a_under_b, &b_under_a];
        let winners = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: exactly one move wins: {a_under_b:?} / {b_under_a:?}");
        for outcome in outcomes {
            if let Err(status) = outcome {
                assert_eq!(status.code(), Code::InvalidArgument, "round {round}: {status}");
                assert_eq!(reason_of(status), "ACCOUNT_HIERARCHY_CYCLE", "round {round}");
            }
        }
        // No cycle in either representation (parent ids and ancestor chains).
        let a_now = get(suite, &a.account_id).await;
        let b_now = get(suite, &b.account_id).await;
        assert!(
            !(a_now.parent_account_id == b.account_id && b_now.parent_account_id == a.account_id),
            "round {round}: A and B are each other's parent"
        );
        let a_chain = ancestors(suite, &a.account_id, 0).await;
        let b_chain = ancestors(suite, &b.account_id, 0).await;
        assert!(!a_chain.contains(&a.account_id) && !b_chain.contains(&b.account_id), "round {round}");
        let (winner_chain, loser_chain) = if a_under_b.is_ok() { (a_chain, b_chain) } else { (b_chain, a_chain) };
        assert_eq!(winner_chain.len(), 1, "round {round}: the winner has one ancestor");
        assert!(loser_chain.is_empty(), "round {round}: the loser stays top-level");
    }
});

// ------------------------------------------------------------------ R3.2

backend_test!(r3_2_only_the_listed_roles_may_set_the_parent, |suite| {
    let parent = create(suite, "Parent", None).await;
    let child = create(suite, "Child", None).await;

    // Each R3.2 role sets and clears the parent (admin: the bootstrap administrator).
    let mut holders = vec![("admin", admin(suite))];
    for role in [
        roles::CRM_ACCOUNT_DATA_MANAGER,
        roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
        roles::CRM_FOUNDATION_DATA_MANAGER,
        roles::CRM_FOUNDATION_ADMIN,
    ] {
        holders.push((role, person_with_role(suite, role).await));
    }
    for (role, client) in &mut holders {
        let moved = set_parent(client, &child.account_id, Some(&parent.account_id))
            .await
            .unwrap_or_else(|status| panic!("{role} sets the parent: {status}"));
        assert_eq!(moved.account.unwrap().parent_account_id, parent.account_id, "{role}");
        set_parent(client, &child.account_id, None).await.unwrap_or_else(|status| panic!("{role} clears: {status}"));
        // Creating an account under a parent places it in the hierarchy: also R3.2.
        client
            .create_account(new_account(&format!("Under by {role}"), pb::AccountKind::Partner, Some(&parent)))
            .await
            .unwrap_or_else(|status| panic!("{role} creates under a parent: {status}"));
    }

    // The CSM manager creates and updates accounts (T4.3) but may not set parents.
    let mut manager = person_with_role(suite, roles::MANAGER).await;
    let managed = manager
        .create_account(new_account("Manager's", pb::AccountKind::Customer, None))
        .await
        .expect("the manager creates a top-level account")
        .into_inner()
        .account
        .unwrap();
    manager
        .update_account(masked!(
            pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    account_id: managed.account_id.clone(),
                    name: "Renamed".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["name"]
        ))
        .await
        .expect("the manager renames an account");
    let status = set_parent(&mut manager, &child.account_id, Some(&parent.account_id)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    let status =
        manager.create_account(new_account("Under", pb::AccountKind::Customer, Some(&parent))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    assert_eq!(get(suite, &child.account_id).await.parent_account_id, "", "nothing moved");

    // Another role (an agent) and a person without roles may do neither.
    let mut agent = person_with_role(suite, roles::AGENT).await;
    let nobody_token = csm_tests::world::nobody(suite).await.1;
    let mut nobody = suite.identity(Some(&nobody_token));
    for client in [&mut agent, &mut nobody] {
        let status = set_parent(client, &child.account_id, Some(&parent.account_id)).await.unwrap_err();
        assert_eq!(reason_of(&status), "MISSING_ROLE");
        let status = client.create_account(new_account("No", pb::AccountKind::Customer, None)).await.unwrap_err();
        assert_eq!(reason_of(&status), "MISSING_ROLE");
        let status = client
            .update_account(masked!(
                pb::UpdateAccountRequest {
                    account: Some(pb::Account {
                        account_id: child.account_id.clone(),
                        active: false,
                        ..Default::default()
                    }),
                    update_mask: None,
                },
                ["active"]
            ))
            .await
            .unwrap_err();
        assert_eq!(reason_of(&status), "MISSING_ROLE");
        // Reads are open to every authenticated caller.
        client
            .list_account_ancestors(pb::ListAccountAncestorsRequest {
                account_id: child.account_id.clone(),
                ..Default::default()
            })
            .await
            .expect("reads are open");
    }

    // Services read the hierarchy (static policy) but do not change it.
    let service_token = suite.service_token(ServiceName::CaseAccess);
    let mut service = suite.identity(Some(&service_token));
    service
        .list_account_descendants(pb::ListAccountDescendantsRequest {
            account_id: parent.account_id.clone(),
            ..Default::default()
        })
        .await
        .expect("case-access reads descendants");
    let status = set_parent(&mut service, &child.account_id, Some(&parent.account_id)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

// ------------------------------------------------------------------ R3.3 / DESC(a)

backend_test!(r3_3_descendants_include_grandchildren_and_exclude_the_account_and_its_ancestors, |suite| {
    // group > customer > {site > desk, office}; the customer admin's account is `customer`.
    let group = create(suite, "Group", None).await;
    let customer = create(suite, "Customer", Some(&group)).await;
    let site = create(suite, "Site", Some(&customer)).await;
    let desk = create(suite, "Desk", Some(&site)).await;
    let office = create(suite, "Office", Some(&customer)).await;
    let sibling = create(suite, "Sibling", Some(&group)).await;

    let desc = descendants(suite, &customer.account_id, 0, false, 0).await;
    assert_eq!(desc, sorted(ids_of(&[&site, &desk, &office])), "DESC(a), ordered by account_id");
    assert!(desc.contains(&desk.account_id), "grandchildren are in DESC(a)");
    assert!(!desc.contains(&customer.account_id), "DESC(a) excludes a");
    assert!(!desc.contains(&group.account_id), "DESC(a) excludes ancestors");
    assert!(!desc.contains(&sibling.account_id), "DESC(a) excludes siblings");

    // max_depth 1: direct children only; a leaf has no descendants.
    assert_eq!(descendants(suite, &customer.account_id, 1, false, 0).await, sorted(ids_of(&[&site, &office])));
    assert_eq!(descendants(suite, &customer.account_id, 2, false, 0).await, desc);
    assert!(descendants(suite, &desk.account_id, 0, false, 0).await.is_empty());

    // Inactive descendants are left out unless asked for; their subtree stays in DESC(a).
    let status = admin(suite)
        .update_account(masked!(
            pb::UpdateAccountRequest {
                account: Some(pb::Account { account_id: site.account_id.clone(), active: false, ..Default::default() }),
                update_mask: None,
            },
            ["active"]
        ))
        .await;
    status.expect("deactivate the site");
    assert_eq!(descendants(suite, &customer.account_id, 0, false, 0).await, sorted(ids_of(&[&desk, &office])));
    assert_eq!(descendants(suite, &customer.account_id, 0, true, 0).await, desc);
});

// ------------------------------------------------------------------ reads and pagination

backend_test!(list_account_ancestors_are_nearest_first_and_paginated, |suite| {
    let mut chain = vec![create(suite, "Level 0", None).await];
    for level in 1..=6 {
        let parent = chain.last().unwrap().clone();
        chain.push(create(suite, &format!("Level {level}"), Some(&parent)).await);
    }
    let leaf = chain.last().unwrap().clone();
    let expected: Vec<String> = chain[..6].iter().rev().map(|account| account.account_id.clone()).collect();
    assert_eq!(ancestors(suite, &leaf.account_id, 0).await, expected, "one page");
    assert_eq!(ancestors(suite, &leaf.account_id, 2).await, expected, "pages of two");
    assert_eq!(ancestors(suite, &leaf.account_id, 5).await, expected, "a page of five, then one");
    assert!(ancestors(suite, &chain[0].account_id, 1).await.is_empty(), "a top-level account has none");

    let mut client = admin(suite);
    let first = client
        .list_account_ancestors(pb::ListAccountAncestorsRequest {
            page_size: 6,
            page_token: String::new(),
            account_id: leaf.account_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.accounts.len(), 6);
    assert!(first.next_page_token.is_empty(), "an exactly full last page has no token");

    let status = client
        .list_account_ancestors(pb::ListAccountAncestorsRequest {
            page_size: 1,
            page_token: "not-a-token".into(),
            account_id: leaf.account_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["page_token"]);
    let status = client
        .list_account_ancestors(pb::ListAccountAncestorsRequest {
            account_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
    let status = client
        .list_account_ancestors(pb::ListAccountAncestorsRequest {
            page_size: -1,
            account_id: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(sorted(violated_fields(&status)), vec!["account_id", "page_size"]);
});

backend_test!(list_account_descendants_are_paginated_by_id, |suite| {
    let root = create(suite, "Root", None).await;
    let mut expected = Vec::new();
    for index in 0..5 {
        let child = create(suite, &format!("Child {index}"), Some(&root)).await;
        let grandchild = create(suite, &format!("Grandchild {index}"), Some(&child)).await;
        expected.push(child.account_id);
        expected.push(grandchild.account_id);
    }
    let expected = sorted(expected);
    for page_size in [1, 2, 3, 10, 1000] {
        assert_eq!(descendants(suite, &root.account_id, 0, false, page_size).await, expected, "page size {page_size}");
    }
    let mut client = admin(suite);
    let status = client
        .list_account_descendants(pb::ListAccountDescendantsRequest {
            account_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
    let status = client
        .list_account_descendants(pb::ListAccountDescendantsRequest {
            account_id: root.account_id.clone(),
            max_depth: -1,
            page_token: "p1.zz".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(sorted(violated_fields(&status)), vec!["max_depth", "page_token"]);
});

backend_test!(list_accounts_filters_combine_and_pages_are_keyset_based, |suite| {
    let acme = create(suite, "Acme 100% Corp", None).await;
    let acme_east = create(suite, "ACME East", Some(&acme)).await;
    let acme_west = create(suite, "acme_west", Some(&acme)).await;
    let partner = admin(suite)
        .create_account(new_account("Acme Partners", pb::AccountKind::Partner, None))
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap();
    let other = create(suite, "Globex", None).await;
    admin(suite)
        .update_account(masked!(
            pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    account_id: other.account_id.clone(),
                    active: false,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .expect("deactivate");

    let list = |request: pb::ListAccountsRequest| {
        let mut client = admin(suite);
        async move {
            let mut ids = Vec::new();
            let mut request = request;
            loop {
                let page = client.list_accounts(request.clone()).await.expect("list").into_inner();
                ids.extend(page.accounts.into_iter().map(|account| account.account_id));
                if page.next_page_token.is_empty() {
                    return ids;
                }
                request.page_token = page.next_page_token;
            }
        }
    };
    let all_active = sorted(ids_of(&[&acme, &acme_east, &acme_west, &partner]));
    assert_eq!(list(pb::ListAccountsRequest::default()).await, all_active, "active, ordered by id");
    assert_eq!(list(pb::ListAccountsRequest { page_size: 1, ..Default::default() }).await, all_active);
    assert_eq!(
        list(pb::ListAccountsRequest { include_inactive: true, page_size: 2, ..Default::default() }).await,
        sorted(ids_of(&[&acme, &acme_east, &acme_west, &partner, &other]))
    );
    assert_eq!(
        list(pb::ListAccountsRequest { kind: pb::AccountKind::Partner as i32, ..Default::default() }).await,
        ids_of(&[&partner])
    );
    assert_eq!(
        list(pb::ListAccountsRequest { parent_account_id: acme.account_id.clone(), ..Default::default() }).await,
        sorted(ids_of(&[&acme_east, &acme_west]))
    );
    assert_eq!(
        list(pb::ListAccountsRequest { top_level_only: true, ..Default::default() }).await,
        sorted(ids_of(&[&acme, &partner]))
    );
    // Case-insensitive prefix; % and _ are literal characters.
    assert_eq!(list(pb::ListAccountsRequest { name_prefix: "acme".into(), ..Default::default() }).await, all_active);
    assert_eq!(
        list(pb::ListAccountsRequest { name_prefix: "ACME 100%".into(), ..Default::default() }).await,
        ids_of(&[&acme])
    );
    assert_eq!(
        list(pb::ListAccountsRequest { name_prefix: "acme_".into(), ..Default::default() }).await,
        ids_of(&[&acme_west])
    );
    // Filters combine with AND.
    assert_eq!(
        list(pb::ListAccountsRequest {
            top_level_only: true,
            kind: pb::AccountKind::Customer as i32,
            name_prefix: "a".into(),
            ..Default::default()
        })
        .await,
        ids_of(&[&acme])
    );

    // An undeclared enum value is refused at the request edge, naming the field.
    let status =
        admin(suite).list_accounts(pb::ListAccountsRequest { kind: 42, ..Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["kind"]);
    // Every other bad field is named in one answer.
    let status = admin(suite)
        .list_accounts(pb::ListAccountsRequest {
            parent_account_id: "nope".into(),
            page_size: -5,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(sorted(violated_fields(&status)), vec!["page_size", "parent_account_id"]);
});

backend_test!(batch_get_accounts_returns_chains_in_request_order_and_reports_missing, |suite| {
    let top = create(suite, "Top", None).await;
    let middle = create(suite, "Middle", Some(&top)).await;
    let leaf = create(suite, "Leaf", Some(&middle)).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let token_revision = revision_of(
        &admin(suite)
            .create_account(new_account("Latest", pb::AccountKind::Customer, None))
            .await
            .unwrap()
            .into_inner()
            .consistency_token,
    );

    let mut client = admin(suite);
    let batch = client
        .batch_get_accounts(pb::BatchGetAccountsRequest {
            account_ids: vec![
                leaf.account_id.clone(),
                unknown.clone(),
                top.account_id.clone(),
                leaf.account_id.clone(),
            ],
            include_ancestors: true,
        })
        .await
        .expect("batch")
        .into_inner();
    let found: Vec<(String, Vec<String>)> = batch
        .accounts
        .iter()
        .map(|found| (found.account.as_ref().unwrap().account_id.clone(), found.ancestor_account_ids.clone()))
        .collect();
    assert_eq!(
        found,
        vec![(leaf.account_id.clone(), ids_of(&[&middle, &top])), (top.account_id.clone(), Vec::new()),],
        "request order, each account once, ancestors nearest first"
    );
    assert_eq!(batch.missing_account_ids, vec![unknown.clone()]);
    assert!(batch.revision >= token_revision, "the answer reflects every change up to its revision");

    let without = client
        .batch_get_accounts(pb::BatchGetAccountsRequest {
            account_ids: vec![leaf.account_id.clone()],
            include_ancestors: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(without.accounts[0].ancestor_account_ids.is_empty(), "ancestors only when asked for");
    assert_eq!(without.accounts[0].account.as_ref().unwrap().parent_account_id, middle.account_id);

    let empty = client.batch_get_accounts(pb::BatchGetAccountsRequest::default()).await.unwrap().into_inner();
    assert!(empty.accounts.is_empty() && empty.missing_account_ids.is_empty());

    // 1000 ids are fine; 1001 are INVALID_ARGUMENT.
    let mut many: Vec<String> = (0..999).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    many.push(top.account_id.clone());
    let batch = client
        .batch_get_accounts(pb::BatchGetAccountsRequest { account_ids: many.clone(), include_ancestors: true })
        .await
        .expect("1000 ids")
        .into_inner();
    assert_eq!(batch.accounts.len(), 1);
    assert_eq!(batch.missing_account_ids.len(), 999);
    many.push(uuid::Uuid::now_v7().to_string());
    let status = client
        .batch_get_accounts(pb::BatchGetAccountsRequest { account_ids: many, include_ancestors: true })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["account_ids"]);
    let status = client
        .batch_get_accounts(pb::BatchGetAccountsRequest {
            account_ids: vec![top.account_id.clone(), "bad".into(), String::new()],
            include_ancestors: false,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["account_ids[1]", "account_ids[2]"]);
});

// ------------------------------------------------------------------ writes

backend_test!(update_account_writes_only_the_masked_fields, |suite| {
    let parent = create(suite, "Parent", None).await;
    let account = create(suite, "Original", Some(&parent)).await;
    let mut client = admin(suite);
    let update =
        |account_id: &str, name: &str, active: bool, kind: pb::AccountKind, parent: &str| pb::UpdateAccountRequest {
            account: Some(pb::Account {
                account_id: account_id.to_owned(),
                name: name.to_owned(),
                kind: kind as i32,
                parent_account_id: parent.to_owned(),
                active,
                ..Default::default()
            }),
            update_mask: None,
        };

    // Only name: active=false in the body is ignored.
    let renamed = client
        .update_account(masked!(
            update(&account.account_id, " Renamed ", false, pb::AccountKind::Partner, ""),
            ["name"]
        ))
        .await
        .expect("rename")
        .into_inner();
    let renamed_account = renamed.account.unwrap();
    assert_eq!(renamed_account.name, "Renamed");
    assert!(renamed_account.active);
    assert_eq!(renamed_account.kind, pb::AccountKind::Customer as i32);
    assert_eq!(renamed_account.parent_account_id, parent.account_id);
    assert!(!renamed.consistency_token.is_empty());
    // Only active.
    let deactivated = client
        .update_account(masked!(update(&account.account_id, "", false, pb::AccountKind::Customer, ""), ["active"]))
        .await
        .expect("deactivate")
        .into_inner()
        .account
        .unwrap();
    assert!(!deactivated.active);
    assert_eq!(deactivated.name, "Renamed");
    assert_eq!(get(suite, &account.account_id).await, deactivated);

    // kind and parent_account_id are not updatable here.
    for path in ["kind", "parent_account_id", "created_at"] {
        let status = client
            .update_account(masked!(update(&account.account_id, "X", true, pb::AccountKind::Partner, ""), [path]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{path}");
        assert_eq!(reason_of(&status), "FIELD_NOT_UPDATABLE", "{path}");
    }
    let status =
        client.update_account(update(&account.account_id, "X", true, pb::AccountKind::Customer, "")).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["update_mask"]);
    let status = client
        .update_account(masked!(update("", "  ", true, pb::AccountKind::Customer, ""), ["name"]))
        .await
        .unwrap_err();
    assert_eq!(sorted(violated_fields(&status)), vec!["account.account_id", "account.name"]);
    let status = client
        .update_account(masked!(
            update(&uuid::Uuid::now_v7().to_string(), "X", true, pb::AccountKind::Customer, ""),
            ["name"]
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
});

backend_test!(an_inactive_or_unknown_parent_is_refused, |suite| {
    let parent = create(suite, "Closing", None).await;
    let child = create(suite, "Child", None).await;
    admin(suite)
        .update_account(masked!(
            pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    account_id: parent.account_id.clone(),
                    active: false,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .expect("deactivate");
    let mut client = admin(suite);
    let status =
        client.create_account(new_account("Under", pb::AccountKind::Customer, Some(&parent))).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ACCOUNT_INACTIVE");
    let status = set_parent(&mut client, &child.account_id, Some(&parent.account_id)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ACCOUNT_INACTIVE");

    let unknown = pb::Account { account_id: uuid::Uuid::now_v7().to_string(), ..Default::default() };
    let status =
        client.create_account(new_account("Orphan", pb::AccountKind::Customer, Some(&unknown))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
    let status = set_parent(&mut client, &child.account_id, Some(&unknown.account_id)).await.unwrap_err();
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
    let status = set_parent(&mut client, &unknown.account_id, None).await.unwrap_err();
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
    // Nothing half-written.
    assert_eq!(get(suite, &child.account_id).await.parent_account_id, "");
    assert!(descendants(suite, &parent.account_id, 0, true, 0).await.is_empty());
});

backend_test!(create_account_retry_with_the_same_request_id_returns_the_first_account, |suite| {
    let parent = create(suite, "Parent", None).await;
    let mut client = admin(suite);
    let request = pb::CreateAccountRequest {
        request_id: "create-acme-1".into(),
        ..new_account("Acme", pb::AccountKind::Customer, Some(&parent))
    };
    let first = client.create_account(request.clone()).await.expect("first").into_inner();
    let retry = client.create_account(request.clone()).await.expect("retry").into_inner();
    assert_eq!(retry.account, first.account);
    assert_eq!(retry.consistency_token, first.consistency_token);
    assert_eq!(descendants(suite, &parent.account_id, 0, true, 0).await.len(), 1, "created once");

    let status =
        client.create_account(pb::CreateAccountRequest { name: "Other".into(), ..request.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "REQUEST_ID_CONFLICT");

    // Concurrent retries still create one account.
    let concurrent = pb::CreateAccountRequest { request_id: "create-acme-2".into(), ..request };
    let mut second_client = admin(suite);
    let (one, two) = tokio::join!(client.create_account(concurrent.clone()), second_client.create_account(concurrent));
    assert_eq!(one.expect("one").into_inner().account, two.expect("two").into_inner().account);
    assert_eq!(descendants(suite, &parent.account_id, 0, true, 0).await.len(), 2);
});

backend_test!(bad_input_names_every_field, |suite| {
    let mut client = admin(suite);
    let status = client
        .create_account(pb::CreateAccountRequest {
            request_id: "x".repeat(129),
            name: " ".into(),
            kind: pb::AccountKind::Unspecified as i32,
            parent_account_id: "not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(sorted(violated_fields(&status)), vec!["kind", "name", "parent_account_id", "request_id"]);
    let status =
        client.create_account(new_account(&"n".repeat(201), pb::AccountKind::Customer, None)).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["name"]);
    let status = client.get_account(pb::GetAccountRequest { account_id: "nope".into() }).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["account_id"]);
    let status =
        client.get_account(pb::GetAccountRequest { account_id: uuid::Uuid::now_v7().to_string() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "ACCOUNT_NOT_FOUND");
    let status = set_parent(&mut client, "", Some("bad")).await.unwrap_err();
    assert_eq!(sorted(violated_fields(&status)), vec!["account_id", "parent_account_id"]);
});

backend_test!(account_mutations_show_up_in_watch, |suite| {
    let parent = create(suite, "Parent", None).await;
    let other = create(suite, "Other", None).await;
    let mut client = admin(suite);
    let created = client
        .create_account(new_account("Child", pb::AccountKind::Customer, Some(&parent)))
        .await
        .unwrap()
        .into_inner();
    let child = created.account.unwrap();
    let change = suite.identity_change(&created.consistency_token).await;
    assert_eq!(change.entity_type, "account");
    assert_eq!(change.entity_id, child.account_id);
    assert_eq!(change.operation, csm_proto::common::ChangeOperation::Created as i32);
    assert_eq!(change.attributes["account_id"], child.account_id);
    assert_eq!(change.attributes["parent_account_id"], parent.account_id);

    let updated = client
        .update_account(masked!(
            pb::UpdateAccountRequest {
                account: Some(pb::Account {
                    account_id: child.account_id.clone(),
                    name: "Kid".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["name"]
        ))
        .await
        .unwrap()
        .into_inner();
    let change = suite.identity_change(&updated.consistency_token).await;
    assert_eq!(change.operation, csm_proto::common::ChangeOperation::Updated as i32);
    assert_eq!(change.attributes["account_id"], child.account_id);

    let moved = set_parent(&mut client, &child.account_id, Some(&other.account_id)).await.unwrap();
    let change = suite.identity_change(&moved.consistency_token).await;
    assert_eq!(change.entity_id, child.account_id);
    assert_eq!(change.operation, csm_proto::common::ChangeOperation::Updated as i32);
    assert_eq!(change.attributes["parent_account_id"], other.account_id);
    assert_eq!(change.attributes["previous_parent_account_id"], parent.account_id);

    let cleared = set_parent(&mut client, &child.account_id, None).await.unwrap();
    let change = suite.identity_change(&cleared.consistency_token).await;
    assert!(!change.attributes.contains_key("parent_account_id"));
    assert_eq!(change.attributes["previous_parent_account_id"], other.account_id);
    let keys: BTreeSet<&str> = change.attributes.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["account_id", "previous_parent_account_id"]));
});
