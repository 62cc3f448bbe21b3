//! account-team: account relationship types and account (partner)
//! relationships, PCUST(p), responsibility definitions and account teams over
//! real gRPC (SPEC R3.4–R3.6, R3.12–R3.14, R3.17, R3.18, R5.1, X7). Accounts,
//! employees and contacts are created in identity; people holding one role are
//! minted with `assign_role_as_service`. Each test runs on SQLite and on PostgreSQL.

use csm_types::roles;
use std::time::Duration;

use csm_proto::account_team as pb;
use csm_proto::account_team::account_team_service_client::AccountTeamServiceClient;
use csm_proto::identity as id_pb;
use csm_tests::{Suite, TestChannel, backend_test, masked, reason_of, violated_fields};
use tokio_stream::StreamExt as _;
use tonic::{Code, Status};

const PARTNER_TYPE: &str = "a7000000-0000-4000-8000-000000000101";
const ACCOUNT_MANAGER: &str = "a7000000-0000-4000-8000-000000000001";
const PREFERRED_TECHNICIAN: &str = "a7000000-0000-4000-8000-000000000002";
const RELATIONSHIP_MANAGER: &str = "a7000000-0000-4000-8000-000000000005";
const ASSET_CONTACT: &str = "a7000000-0000-4000-8000-000000000006";

// ------------------------------------------------------------------ helpers

type AccountTeam = AccountTeamServiceClient<TestChannel>;

fn admin(suite: &Suite) -> AccountTeam {
    let token = suite.admin_token();
    suite.account_team(Some(&token))
}

/// A client of a person whose only role is `role`.
async fn person_with_role(suite: &Suite, role: &str) -> AccountTeam {
    let (_, token) = csm_tests::world::person_with_roles(suite, &[role]).await;
    suite.account_team(Some(&token))
}

fn metadata(status: &Status, key: &str) -> String {
    use tonic_types::StatusExt as _;
    status.get_error_details().error_info().and_then(|info| info.metadata.get(key).cloned()).unwrap_or_default()
}

fn assert_status(status: &Status, code: Code, reason: &str) {
    assert_eq!((status.code(), reason_of(status).as_str()), (code, reason), "{status:?}");
}

fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

async fn account(suite: &Suite, name: &str, kind: id_pb::AccountKind) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_account(id_pb::CreateAccountRequest {
            request_id: String::new(),
            name: format!("{name} {}", unique_suffix()),
            kind: kind as i32,
            parent_account_id: String::new(),
        })
        .await
        .unwrap_or_else(|status| panic!("create account {name}: {status}"))
        .into_inner()
        .account
        .unwrap()
        .account_id
}

async fn customer(suite: &Suite, name: &str) -> String {
    account(suite, name, id_pb::AccountKind::Customer).await
}

async fn partner(suite: &Suite, name: &str) -> String {
    account(suite, name, id_pb::AccountKind::Partner).await
}

fn person_details(first: &str) -> Option<id_pb::PersonDetails> {
    Some(id_pb::PersonDetails {
        first_name: first.to_owned(),
        last_name: "Teamed".to_owned(),
        email: format!("{}.{}@example.com", first.to_lowercase(), unique_suffix()),
        ..Default::default()
    })
}

/// An employee (INTERNAL profile) created in identity.
async fn employee(suite: &Suite, first: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_employee(id_pb::CreateEmployeeRequest {
            details: person_details(first),
            title: "Account executive".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("create employee {first}: {status}"))
        .into_inner()
        .profile
        .unwrap()
        .profile_id
}

/// A contact of `account` created in identity.
async fn contact_of(suite: &Suite, account: &str, first: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account.to_owned(),
            details: person_details(first),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("create contact {first}: {status}"))
        .into_inner()
        .profile
        .unwrap()
        .profile_id
}

fn new_type(name: &str, from: pb::RelationshipEndKind, to: pb::RelationshipEndKind) -> pb::AccountRelationshipType {
    pb::AccountRelationshipType {
        name: name.to_owned(),
        from_kind: from as i32,
        to_kind: to as i32,
        label: format!("{name} of"),
        reverse_label: format!("Has {name}"),
        ..Default::default()
    }
}

async fn create_type(
    client: &mut AccountTeam,
    kind: pb::AccountRelationshipType,
) -> Result<pb::AccountRelationshipType, Status> {
    client
        .create_account_relationship_type(pb::CreateAccountRelationshipTypeRequest {
            request_id: String::new(),
            account_relationship_type: Some(kind),
        })
        .await
        .map(|response| response.into_inner().account_relationship_type.unwrap())
}

async fn relate(
    client: &mut AccountTeam,
    from: &str,
    type_id: &str,
    to: &str,
) -> Result<pb::CreateAccountRelationshipResponse, Status> {
    client
        .create_account_relationship(pb::CreateAccountRelationshipRequest {
            request_id: String::new(),
            account_relationship: Some(pb::AccountRelationship {
                from_account_id: from.to_owned(),
                account_relationship_type_id: type_id.to_owned(),
                to_account_id: to.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .map(|response| response.into_inner())
}

/// Every view of `account`'s relationships, page by page.
async fn views(suite: &Suite, account: &str, page_size: i32) -> Vec<pb::AccountRelationshipView> {
    let mut client = admin(suite);
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_account_relationships(pb::ListAccountRelationshipsRequest {
                account_id: account.to_owned(),
                page_size,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("list relationships")
            .into_inner();
        all.extend(page.account_relationships);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

/// PCUST(partner), page by page.
async fn partner_customers(suite: &Suite, partner: &str, page_size: i32) -> Vec<String> {
    let mut client = admin(suite);
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_partner_customers(pb::ListPartnerCustomersRequest {
                partner_account_id: partner.to_owned(),
                page_size,
                page_token: page_token.clone(),
            })
            .await
            .expect("list partner customers")
            .into_inner();
        all.extend(page.partner_customers.into_iter().map(|customer| customer.customer_account_id));
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

/// The account-team change a mutation wrote, read back from Watch by its token.
async fn change_of(suite: &Suite, consistency_token: &str) -> csm_proto::common::Change {
    let revision: u64 = consistency_token
        .rsplit(':')
        .next()
        .and_then(|revision| revision.parse().ok())
        .unwrap_or_else(|| panic!("not a revision token: {consistency_token:?}"));
    let mut stream =
        admin(suite).watch(pb::WatchRequest { from_revision: revision - 1 }).await.expect("watch opens").into_inner();
    let change = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the change arrives")
        .expect("stream open")
        .expect("no error")
        .change
        .expect("a change");
    assert_eq!(change.revision, revision);
    change
}

// ------------------------------------------------------------------ R3.4

backend_test!(r3_4_relationship_type_names_are_unique_case_insensitively, |suite| {
    let mut client = admin(suite);
    let reseller = create_type(
        &mut client,
        new_type("Reseller", pb::RelationshipEndKind::Partner, pb::RelationshipEndKind::Account),
    )
    .await
    .expect("a new type");
    assert_eq!(reseller.active, Some(true), "unset active means true");
    assert!(!reseller.default_partner_type);
    let status = create_type(
        &mut client,
        new_type("RESELLER", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account),
    )
    .await
    .unwrap_err();
    assert_status(&status, Code::AlreadyExists, "RELATIONSHIP_TYPE_NAME_TAKEN");
    // Renaming another type onto the name is refused too.
    let other = create_type(
        &mut client,
        new_type("Supplier", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account),
    )
    .await
    .unwrap();
    let status = client
        .update_account_relationship_type(masked!(
            pb::UpdateAccountRelationshipTypeRequest {
                account_relationship_type: Some(pb::AccountRelationshipType {
                    name: "reseller".into(),
                    ..other.clone()
                }),
                update_mask: None,
            },
            ["name"]
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::AlreadyExists, "RELATIONSHIP_TYPE_NAME_TAKEN");
    // Missing fields are named.
    let status = create_type(&mut client, pb::AccountRelationshipType::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = violated_fields(&status);
    for field in [
        "account_relationship_type.name",
        "account_relationship_type.from_kind",
        "account_relationship_type.to_kind",
        "account_relationship_type.label",
        "account_relationship_type.reverse_label",
    ] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
});

backend_test!(r3_4_inactive_types_refuse_new_relationships, |suite| {
    let mut client = admin(suite);
    let (a, b) = (customer(suite, "Alpha").await, customer(suite, "Beta").await);
    let sister = create_type(
        &mut client,
        new_type("Sister", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account),
    )
    .await
    .unwrap();
    let existing = relate(&mut client, &a, &sister.account_relationship_type_id, &b)
        .await
        .expect("active type")
        .account_relationship
        .unwrap();
    client
        .update_account_relationship_type(masked!(
            pb::UpdateAccountRelationshipTypeRequest {
                account_relationship_type: Some(pb::AccountRelationshipType { active: Some(false), ..sister.clone() }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .expect("deactivate");
    let c = customer(suite, "Gamma").await;
    let status = relate(&mut client, &a, &sister.account_relationship_type_id, &c).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RELATIONSHIP_TYPE_INACTIVE");
    // Existing records stay.
    let seen = views(suite, &a, 0).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].account_relationship.as_ref().unwrap().account_relationship_id,
        existing.account_relationship_id
    );
    // Inactive types are listed only on request.
    let active_only = client
        .list_account_relationship_types(pb::ListAccountRelationshipTypesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .account_relationship_types;
    assert!(active_only.iter().all(|kind| kind.name != "Sister"));
    let all = client
        .list_account_relationship_types(pb::ListAccountRelationshipTypesRequest {
            include_inactive: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .account_relationship_types;
    assert!(all.iter().any(|kind| kind.name == "Sister"));
});

backend_test!(r3_4_renaming_labels_updates_existing_relationships, |suite| {
    let mut client = admin(suite);
    let (a, b) = (customer(suite, "Holding").await, customer(suite, "Subsidiary").await);
    let kind = create_type(
        &mut client,
        new_type("Affiliate", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account),
    )
    .await
    .unwrap();
    relate(&mut client, &a, &kind.account_relationship_type_id, &b).await.unwrap();
    client
        .update_account_relationship_type(masked!(
            pb::UpdateAccountRelationshipTypeRequest {
                account_relationship_type: Some(pb::AccountRelationshipType {
                    label: "Owns".into(),
                    reverse_label: "Owned by".into(),
                    ..kind.clone()
                }),
                update_mask: None,
            },
            ["label", "reverse_label"]
        ))
        .await
        .expect("rename labels");
    assert_eq!(views(suite, &a, 0).await[0].label, "Owns");
    assert_eq!(views(suite, &b, 0).await[0].label, "Owned by");
    // Kinds cannot change while relationships of the type exist.
    let status = client
        .update_account_relationship_type(masked!(
            pb::UpdateAccountRelationshipTypeRequest {
                account_relationship_type: Some(pb::AccountRelationshipType {
                    from_kind: pb::RelationshipEndKind::Partner as i32,
                    ..kind.clone()
                }),
                update_mask: None,
            },
            ["from_kind"]
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RELATIONSHIP_TYPE_IN_USE");
    // Unknown mask paths are refused.
    let status = client
        .update_account_relationship_type(masked!(
            pb::UpdateAccountRelationshipTypeRequest {
                account_relationship_type: Some(kind.clone()),
                update_mask: None
            },
            ["default_partner_type"]
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
});

backend_test!(r3_4_deleting_a_type_with_active_relationships_warns_then_deletes_them, |suite| {
    let mut client = admin(suite);
    let (a, b, c) = (customer(suite, "One").await, customer(suite, "Two").await, customer(suite, "Three").await);
    let kind = create_type(
        &mut client,
        new_type("Franchise", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account),
    )
    .await
    .unwrap();
    relate(&mut client, &a, &kind.account_relationship_type_id, &b).await.unwrap();
    relate(&mut client, &a, &kind.account_relationship_type_id, &c).await.unwrap();
    let delete = |confirm: bool| pb::DeleteAccountRelationshipTypeRequest {
        account_relationship_type_id: kind.account_relationship_type_id.clone(),
        confirm,
    };
    let status = client.delete_account_relationship_type(delete(false)).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RELATIONSHIP_TYPE_IN_USE");
    assert_eq!(metadata(&status, "active_relationship_count"), "2");
    assert_eq!(views(suite, &a, 0).await.len(), 2, "the warning deletes nothing");
    let deleted = client.delete_account_relationship_type(delete(true)).await.expect("confirmed").into_inner();
    assert_eq!(deleted.deleted_relationship_count, 2);
    assert!(views(suite, &a, 0).await.is_empty());
    assert!(views(suite, &b, 0).await.is_empty());
    let status = client
        .get_account_relationship_type(pb::GetAccountRelationshipTypeRequest {
            account_relationship_type_id: kind.account_relationship_type_id.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "RELATIONSHIP_TYPE_NOT_FOUND");
    // The default partner type is protected.
    let status = client
        .delete_account_relationship_type(pb::DeleteAccountRelationshipTypeRequest {
            account_relationship_type_id: PARTNER_TYPE.into(),
            confirm: true,
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "DEFAULT_TYPE_PROTECTED");
});

backend_test!(r3_4_only_relationship_type_admins_manage_types, |suite| {
    let mut agent = person_with_role(suite, roles::AGENT).await;
    let status =
        create_type(&mut agent, new_type("Nope", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account))
            .await
            .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut manager = person_with_role(suite, roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER).await;
    create_type(&mut manager, new_type("Yes", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account))
        .await
        .expect("a relationship data manager creates types");
});

// ------------------------------------------------------------------ R3.5

backend_test!(r3_5_relationship_is_visible_from_both_accounts_with_forward_and_reverse_label, |suite| {
    let mut client = admin(suite);
    let (p, c) = (partner(suite, "Channel").await, customer(suite, "Buyer").await);
    // No type means the default partner type.
    let created = relate(&mut client, &p, "", &c).await.expect("partner relationship");
    let relationship = created.account_relationship.unwrap();
    assert_eq!(relationship.account_relationship_type_id, PARTNER_TYPE);
    assert_eq!(relationship.active, Some(true));
    let from_partner = views(suite, &p, 0).await;
    assert_eq!(from_partner.len(), 1);
    assert_eq!(from_partner[0].direction, pb::RelationshipDirection::Forward as i32);
    assert_eq!(from_partner[0].label, "Partner of");
    assert_eq!(from_partner[0].related_account_id, c);
    assert_eq!(from_partner[0].relationship_type_name, "Partner");
    let from_customer = views(suite, &c, 0).await;
    assert_eq!(from_customer.len(), 1);
    assert_eq!(from_customer[0].direction, pb::RelationshipDirection::Reverse as i32);
    assert_eq!(from_customer[0].label, "Partner");
    assert_eq!(from_customer[0].related_account_id, p);
    // The change carries both ends.
    let change = change_of(suite, &created.consistency_token).await;
    assert_eq!(change.entity_type, "account_relationship");
    assert_eq!(change.attributes.get("from_account_id"), Some(&p));
    assert_eq!(change.attributes.get("to_account_id"), Some(&c));
    // The same (from, type, to) twice is refused.
    let status = relate(&mut client, &p, PARTNER_TYPE, &c).await.unwrap_err();
    assert_status(&status, Code::AlreadyExists, "ACCOUNT_RELATIONSHIP_EXISTS");
    // Deleting it removes both views.
    client
        .delete_account_relationship(pb::DeleteAccountRelationshipRequest {
            account_relationship_id: relationship.account_relationship_id.clone(),
        })
        .await
        .expect("delete");
    assert!(views(suite, &p, 0).await.is_empty());
    assert!(views(suite, &c, 0).await.is_empty());
    let status = client
        .get_account_relationship(pb::GetAccountRelationshipRequest {
            account_relationship_id: relationship.account_relationship_id,
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "ACCOUNT_RELATIONSHIP_NOT_FOUND");
});

backend_test!(r3_5_only_the_named_roles_create_account_relationships, |suite| {
    let (p, c) = (partner(suite, "Var").await, customer(suite, "Client").await);
    for role in [roles::AGENT, roles::CUSTOMER_ADMIN] {
        let mut client = person_with_role(suite, role).await;
        let status = relate(&mut client, &p, "", &c).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
    }
    let mut manager = person_with_role(suite, roles::MANAGER).await;
    let created = relate(&mut manager, &p, "", &c).await.expect("a CSM manager creates relationships");
    let mut data_manager = person_with_role(suite, roles::CRM_FOUNDATION_DATA_MANAGER).await;
    data_manager
        .update_account_relationship(masked!(
            pb::UpdateAccountRelationshipRequest {
                account_relationship: Some(pb::AccountRelationship {
                    active: Some(false),
                    ..created.account_relationship.unwrap()
                }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .expect("a foundation data manager updates them");
});

backend_test!(r3_5_account_relationship_input_is_validated, |suite| {
    let mut client = admin(suite);
    let (a, p) = (customer(suite, "Self").await, partner(suite, "Reseller").await);
    // from = to.
    let status = relate(&mut client, &a, "", &a).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["account_relationship.to_account_id".to_owned()]);
    // Missing and malformed ids are all named.
    let status = relate(&mut client, "", "not-a-uuid", "").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = violated_fields(&status);
    for field in [
        "account_relationship.from_account_id",
        "account_relationship.to_account_id",
        "account_relationship.account_relationship_type_id",
    ] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    // Unknown accounts and types.
    let status = relate(&mut client, &a, "", &uuid::Uuid::now_v7().to_string()).await.unwrap_err();
    assert_status(&status, Code::NotFound, "ACCOUNT_NOT_FOUND");
    let status = relate(&mut client, &p, &uuid::Uuid::now_v7().to_string(), &a).await.unwrap_err();
    assert_status(&status, Code::NotFound, "RELATIONSHIP_TYPE_NOT_FOUND");
    // The partner end of the partner type must be a partner account.
    let other = customer(suite, "NotAPartner").await;
    let status = relate(&mut client, &other, "", &a).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "ACCOUNT_KIND_MISMATCH");
    // Idempotent retries: the same request id answers the first result; another payload is refused.
    let request = |to: &str| pb::CreateAccountRelationshipRequest {
        request_id: "retry-1".into(),
        account_relationship: Some(pb::AccountRelationship {
            from_account_id: p.clone(),
            to_account_id: to.to_owned(),
            ..Default::default()
        }),
    };
    let first = client.create_account_relationship(request(&a)).await.unwrap().into_inner();
    let again = client.create_account_relationship(request(&a)).await.expect("replayed").into_inner();
    assert_eq!(first.account_relationship, again.account_relationship);
    assert_eq!(first.consistency_token, again.consistency_token);
    let status = client.create_account_relationship(request(&other)).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "REQUEST_ID_CONFLICT");
});

// ------------------------------------------------------------------ R3.6

backend_test!(r3_6_partner_customers_are_the_active_partner_relationships_of_the_partner, |suite| {
    let mut client = admin(suite);
    let p = partner(suite, "Distributor").await;
    let mut expected = Vec::new();
    for index in 0..5 {
        let c = customer(suite, &format!("Customer {index}")).await;
        relate(&mut client, &p, "", &c).await.unwrap();
        expected.push(c);
    }
    // Inactive relationships and account→account types do not count.
    let paused = customer(suite, "Paused").await;
    let relationship = relate(&mut client, &p, "", &paused).await.unwrap().account_relationship.unwrap();
    client
        .update_account_relationship(masked!(
            pb::UpdateAccountRelationshipRequest {
                account_relationship: Some(pb::AccountRelationship { active: Some(false), ..relationship }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .unwrap();
    let plain = create_type(
        &mut client,
        new_type("Neighbour", pb::RelationshipEndKind::Account, pb::RelationshipEndKind::Account),
    )
    .await
    .unwrap();
    let neighbour = customer(suite, "Neighbour").await;
    relate(&mut client, &p, &plain.account_relationship_type_id, &neighbour).await.unwrap();
    // Another partner type counts too.
    let msp = create_type(
        &mut client,
        new_type("Managed service provider", pb::RelationshipEndKind::Partner, pb::RelationshipEndKind::Account),
    )
    .await
    .unwrap();
    let managed = customer(suite, "Managed").await;
    relate(&mut client, &p, &msp.account_relationship_type_id, &managed).await.unwrap();
    expected.push(managed);
    expected.sort();
    // Paged by two: complete, ordered by customer, no duplicates.
    assert_eq!(partner_customers(suite, &p, 2).await, expected);
    assert_eq!(partner_customers(suite, &p, 0).await, expected);
    // Another partner's PCUST is empty; a customer is nobody's partner.
    let other = partner(suite, "Other").await;
    assert!(partner_customers(suite, &other, 0).await.is_empty());
    // Validation.
    let status = client
        .list_partner_customers(pb::ListPartnerCustomersRequest {
            partner_account_id: String::new(),
            page_size: -1,
            page_token: "bogus".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        vec!["partner_account_id".to_owned(), "page_size".to_owned(), "page_token".to_owned()]
    );
});

// ------------------------------------------------------------------ R3.17

backend_test!(r3_17_default_partner_type_and_team_responsibilities_are_seeded, |suite| {
    let mut client = admin(suite);
    let partner_type = client
        .get_account_relationship_type(pb::GetAccountRelationshipTypeRequest {
            account_relationship_type_id: PARTNER_TYPE.into(),
        })
        .await
        .expect("the default partner type")
        .into_inner()
        .account_relationship_type
        .unwrap();
    assert_eq!(partner_type.name, "Partner");
    assert!(partner_type.default_partner_type);
    assert_eq!(partner_type.from_kind, pb::RelationshipEndKind::Partner as i32);
    assert_eq!(partner_type.to_kind, pb::RelationshipEndKind::Account as i32);
    let users = client
        .list_responsibility_definitions(pb::ListResponsibilityDefinitionsRequest {
            kind: pb::ResponsibilityKind::User as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .responsibility_definitions;
    let names: Vec<&str> = users.iter().map(|definition| definition.name.as_str()).collect();
    for name in ["Account Manager", "Preferred Technician", "Primary Support Agent", "Support Manager"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(users.iter().all(|definition| definition.seeded));
    let manager = users.iter().find(|definition| definition.name == "Account Manager").unwrap();
    assert_eq!(manager.responsibility_id, ACCOUNT_MANAGER);
    assert!(manager.unique);
    let asset_contact = client
        .get_responsibility_definition(pb::GetResponsibilityDefinitionRequest {
            responsibility_id: ASSET_CONTACT.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .responsibility_definition
        .unwrap();
    assert_eq!(
        (asset_contact.name.as_str(), asset_contact.kind),
        ("Asset Contact", pb::ResponsibilityKind::Contact as i32)
    );
});

// ------------------------------------------------- responsibility definitions

fn new_definition(name: &str, kind: pb::ResponsibilityKind, unique: bool) -> pb::CreateResponsibilityDefinitionRequest {
    pb::CreateResponsibilityDefinitionRequest {
        request_id: String::new(),
        responsibility_definition: Some(pb::ResponsibilityDefinition {
            name: name.to_owned(),
            kind: kind as i32,
            unique,
            description: format!("{name} (test)"),
            ..Default::default()
        }),
    }
}

async fn create_definition(
    client: &mut AccountTeam,
    name: &str,
    kind: pb::ResponsibilityKind,
    unique: bool,
) -> Result<pb::ResponsibilityDefinition, Status> {
    client
        .create_responsibility_definition(new_definition(name, kind, unique))
        .await
        .map(|response| response.into_inner().responsibility_definition.unwrap())
}

fn account_member(
    account: &str,
    profile: &str,
    kind: pb::TeamMemberKind,
    responsibility: &str,
) -> pb::CreateTeamMemberRequest {
    pb::CreateTeamMemberRequest {
        request_id: String::new(),
        team_member: Some(pb::TeamMember {
            team: Some(pb::team_member::Team::AccountId(account.to_owned())),
            profile_id: profile.to_owned(),
            member_kind: kind as i32,
            responsibility_id: responsibility.to_owned(),
            ..Default::default()
        }),
    }
}

async fn add_member(
    client: &mut AccountTeam,
    account: &str,
    profile: &str,
    responsibility: &str,
) -> Result<pb::TeamMember, Status> {
    client
        .create_team_member(account_member(account, profile, pb::TeamMemberKind::Internal, responsibility))
        .await
        .map(|response| response.into_inner().team_member.unwrap())
}

/// The whole team of `account`, page by page.
async fn team_of(suite: &Suite, account: &str, page_size: i32) -> Vec<pb::TeamMember> {
    let mut client = admin(suite);
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_team_members(pb::ListTeamMembersRequest {
                team: Some(pb::list_team_members_request::Team::AccountId(account.to_owned())),
                page_size,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("list team")
            .into_inner();
        all.extend(page.team_members);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

backend_test!(r3_12_responsibility_definition_has_name_kind_unique_flag_and_description, |suite| {
    let mut client = admin(suite);
    let created = client
        .create_responsibility_definition(new_definition("Escalation Manager", pb::ResponsibilityKind::User, true))
        .await
        .expect("create")
        .into_inner();
    let definition = created.responsibility_definition.unwrap();
    assert_eq!(definition.kind, pb::ResponsibilityKind::User as i32);
    assert!(definition.unique);
    assert!(!definition.seeded);
    assert_eq!(definition.description, "Escalation Manager (test)");
    let change = change_of(suite, &created.consistency_token).await;
    assert_eq!(change.entity_type, "responsibility_definition");
    assert_eq!(change.attributes.get("responsibility_id"), Some(&definition.responsibility_id));
    // Names are unique, case-insensitively.
    let status =
        create_definition(&mut client, "escalation MANAGER", pb::ResponsibilityKind::Contact, false).await.unwrap_err();
    assert_status(&status, Code::AlreadyExists, "RESPONSIBILITY_NAME_TAKEN");
    // Update: description and unique flag.
    let updated = client
        .update_responsibility_definition(masked!(
            pb::UpdateResponsibilityDefinitionRequest {
                responsibility_definition: Some(pb::ResponsibilityDefinition {
                    unique: false,
                    description: "Owns escalations".into(),
                    ..definition.clone()
                }),
                update_mask: None,
            },
            ["unique", "description"]
        ))
        .await
        .expect("update")
        .into_inner()
        .responsibility_definition
        .unwrap();
    assert!(!updated.unique);
    assert_eq!(updated.description, "Owns escalations");
    // Every kind can be created; listing filters by kind and orders by name.
    for (name, kind) in [
        ("Billing Contact", pb::ResponsibilityKind::Contact),
        ("Guardian", pb::ResponsibilityKind::Consumer),
        ("Reseller Account", pb::ResponsibilityKind::Account),
        ("Spouse", pb::ResponsibilityKind::None),
    ] {
        create_definition(&mut client, name, kind, false).await.unwrap_or_else(|status| panic!("{name}: {status}"));
    }
    let contacts = client
        .list_responsibility_definitions(pb::ListResponsibilityDefinitionsRequest {
            kind: pb::ResponsibilityKind::Contact as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .responsibility_definitions;
    let names: Vec<&str> = contacts.iter().map(|definition| definition.name.as_str()).collect();
    assert_eq!(names, vec!["Asset Contact", "Billing Contact"]);
    // Bad input names every field.
    let status = client
        .create_responsibility_definition(pb::CreateResponsibilityDefinitionRequest {
            request_id: String::new(),
            responsibility_definition: Some(pb::ResponsibilityDefinition::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        vec!["responsibility_definition.name".to_owned(), "responsibility_definition.kind".to_owned()]
    );
    let status = client
        .get_responsibility_definition(pb::GetResponsibilityDefinitionRequest {
            responsibility_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "RESPONSIBILITY_NOT_FOUND");
});

backend_test!(r3_12_only_cam_and_foundation_admins_create_responsibility_definitions, |suite| {
    for role in [roles::MANAGER, roles::AGENT] {
        let mut client = person_with_role(suite, role).await;
        let status = create_definition(&mut client, &format!("By {role}"), pb::ResponsibilityKind::User, false)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{role}: {status:?}");
    }
    for role in [roles::CRM_CUSTOMER_ACCESS_MANAGEMENT_ADMIN, roles::CRM_FOUNDATION_ADMIN] {
        let mut client = person_with_role(suite, role).await;
        create_definition(&mut client, &format!("By {role}"), pb::ResponsibilityKind::User, false)
            .await
            .unwrap_or_else(|status| panic!("{role}: {status}"));
    }
});

backend_test!(r3_12_only_user_responsibilities_are_used_on_team_members, |suite| {
    let mut client = admin(suite);
    let (account, member) = (customer(suite, "Kinds").await, employee(suite, "Kim").await);
    let status = add_member(&mut client, &account, &member, ASSET_CONTACT).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RESPONSIBILITY_KIND_MISMATCH");
    add_member(&mut client, &account, &member, PREFERRED_TECHNICIAN).await.expect("a USER responsibility");
    // A used responsibility cannot change its kind.
    let status = client
        .update_responsibility_definition(masked!(
            pb::UpdateResponsibilityDefinitionRequest {
                responsibility_definition: Some(pb::ResponsibilityDefinition {
                    responsibility_id: PREFERRED_TECHNICIAN.into(),
                    kind: pb::ResponsibilityKind::Contact as i32,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["kind"]
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RESPONSIBILITY_IN_USE");
});

// ------------------------------------------------------------------ R3.13

backend_test!(r3_13_unique_responsibility_one_holder_per_account, |suite| {
    let mut client = admin(suite);
    let (a, b) = (customer(suite, "Acme").await, customer(suite, "Bolt").await);
    let (u1, u2) = (employee(suite, "Una").await, employee(suite, "Udo").await);
    // Given account A with Account Manager U1 (unique),
    let holder = add_member(&mut client, &a, &u1, ACCOUNT_MANAGER).await.expect("U1 manages A");
    // when adding U2 as Account Manager of A, then ALREADY_EXISTS;
    let status = add_member(&mut client, &a, &u2, ACCOUNT_MANAGER).await.unwrap_err();
    assert_status(&status, Code::AlreadyExists, "UNIQUE_RESPONSIBILITY_TAKEN");
    assert_eq!(metadata(&status, "team_member_id"), holder.team_member_id);
    // adding U1 as Account Manager of B succeeds.
    add_member(&mut client, &b, &u1, ACCOUNT_MANAGER).await.expect("U1 also manages B");
    // Non-unique responsibilities take several holders; the same member twice is refused.
    add_member(&mut client, &a, &u1, PREFERRED_TECHNICIAN).await.unwrap();
    add_member(&mut client, &a, &u2, PREFERRED_TECHNICIAN).await.unwrap();
    let status = add_member(&mut client, &a, &u2, PREFERRED_TECHNICIAN).await.unwrap_err();
    assert_status(&status, Code::AlreadyExists, "TEAM_MEMBER_EXISTS");
    // Moving U2 onto the unique responsibility by update is refused too.
    let technician = team_of(suite, &a, 0)
        .await
        .into_iter()
        .find(|member| member.profile_id == u2 && member.responsibility_id == PREFERRED_TECHNICIAN)
        .unwrap();
    let status = client
        .update_team_member(masked!(
            pb::UpdateTeamMemberRequest {
                team_member: Some(pb::TeamMember { responsibility_id: ACCOUNT_MANAGER.into(), ..technician }),
                update_mask: None,
            },
            ["responsibility_id"]
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::AlreadyExists, "UNIQUE_RESPONSIBILITY_TAKEN");
    // Making a responsibility unique while A has two holders is refused.
    let status = client
        .update_responsibility_definition(masked!(
            pb::UpdateResponsibilityDefinitionRequest {
                responsibility_definition: Some(pb::ResponsibilityDefinition {
                    responsibility_id: PREFERRED_TECHNICIAN.into(),
                    unique: true,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["unique"]
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "UNIQUE_RESPONSIBILITY_VIOLATED");
    // After the holder leaves, U2 can take over.
    client.delete_team_member(pb::DeleteTeamMemberRequest { team_member_id: holder.team_member_id }).await.unwrap();
    add_member(&mut client, &a, &u2, ACCOUNT_MANAGER).await.expect("U2 takes over A");
});

backend_test!(r3_13_concurrent_account_manager_writes_leave_exactly_one_holder, |suite| {
    let account = customer(suite, "Contested").await;
    let mut candidates = Vec::new();
    for index in 0..20 {
        candidates.push(employee(suite, &format!("Candidate{index}")).await);
    }
    let mut tasks = Vec::new();
    for candidate in candidates {
        let mut client = admin(suite);
        let account = account.clone();
        tasks.push(tokio::spawn(async move { add_member(&mut client, &account, &candidate, ACCOUNT_MANAGER).await }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => winners += 1,
            Err(status) => assert_status(&status, Code::AlreadyExists, "UNIQUE_RESPONSIBILITY_TAKEN"),
        }
    }
    assert_eq!(winners, 1);
    let managers: Vec<_> = team_of(suite, &account, 0)
        .await
        .into_iter()
        .filter(|member| member.responsibility_id == ACCOUNT_MANAGER)
        .collect();
    assert_eq!(managers.len(), 1);
});

// ------------------------------------------------------------------ R3.14

backend_test!(r3_14_account_team_members_are_employees_or_external_organization_staff, |suite| {
    let mut client = admin(suite);
    let account = customer(suite, "Staffed").await;
    let employee_profile = employee(suite, "Emma").await;
    let reseller = partner(suite, "Reseller").await;
    let partner_contact = contact_of(suite, &reseller, "Pat").await;
    // An employee is an INTERNAL member, not external staff.
    let status = client
        .create_team_member(account_member(
            &account,
            &employee_profile,
            pb::TeamMemberKind::ExternalOrganizationStaff,
            RELATIONSHIP_MANAGER,
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "INVALID_TEAM_MEMBER_PROFILE");
    // A partner's contact is external organization staff (an account relationship manager), not INTERNAL.
    let status = client
        .create_team_member(account_member(
            &account,
            &partner_contact,
            pb::TeamMemberKind::Internal,
            RELATIONSHIP_MANAGER,
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "INVALID_TEAM_MEMBER_PROFILE");
    let created = client
        .create_team_member(account_member(
            &account,
            &partner_contact,
            pb::TeamMemberKind::ExternalOrganizationStaff,
            RELATIONSHIP_MANAGER,
        ))
        .await
        .expect("external organization staff")
        .into_inner();
    let staff = created.team_member.unwrap();
    assert_eq!(staff.member_kind, pb::TeamMemberKind::ExternalOrganizationStaff as i32);
    assert_eq!(staff.order, Some(100), "the default order");
    let change = change_of(suite, &created.consistency_token).await;
    assert_eq!(change.entity_type, "team_member");
    assert_eq!(change.attributes.get("account_id"), Some(&account));
    assert_eq!(change.attributes.get("profile_id"), Some(&partner_contact));
    assert_eq!(change.attributes.get("responsibility_id").map(String::as_str), Some(RELATIONSHIP_MANAGER));
    // Unknown profile, account and responsibility.
    let status =
        add_member(&mut client, &account, &uuid::Uuid::now_v7().to_string(), PREFERRED_TECHNICIAN).await.unwrap_err();
    assert_status(&status, Code::NotFound, "PROFILE_NOT_FOUND");
    let status = add_member(&mut client, &uuid::Uuid::now_v7().to_string(), &employee_profile, PREFERRED_TECHNICIAN)
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "ACCOUNT_NOT_FOUND");
    let status =
        add_member(&mut client, &account, &employee_profile, &uuid::Uuid::now_v7().to_string()).await.unwrap_err();
    assert_status(&status, Code::NotFound, "RESPONSIBILITY_NOT_FOUND");
    // Missing fields are all named.
    let status = client
        .create_team_member(pb::CreateTeamMemberRequest {
            request_id: String::new(),
            team_member: Some(pb::TeamMember::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = violated_fields(&status);
    for field in
        ["team_member.team", "team_member.profile_id", "team_member.member_kind", "team_member.responsibility_id"]
    {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    // Builders: the CSM manager yes, an agent no.
    let mut agent = person_with_role(suite, roles::AGENT).await;
    let status = add_member(&mut agent, &account, &employee_profile, PREFERRED_TECHNICIAN).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut manager = person_with_role(suite, roles::MANAGER).await;
    add_member(&mut manager, &account, &employee_profile, PREFERRED_TECHNICIAN)
        .await
        .expect("the CSM manager builds teams");
});

backend_test!(r3_14_team_lists_page_by_order_and_memberships_of_a_user, |suite| {
    let mut client = admin(suite);
    let (a, b) = (customer(suite, "Big").await, customer(suite, "Small").await);
    let lead = employee(suite, "Lead").await;
    let mut expected = Vec::new();
    for (index, order) in [30, 10, 20, 10, 40].into_iter().enumerate() {
        let profile = employee(suite, &format!("Member{index}")).await;
        let mut request = account_member(&a, &profile, pb::TeamMemberKind::Internal, PREFERRED_TECHNICIAN);
        request.team_member.as_mut().unwrap().order = Some(order);
        let member = client.create_team_member(request).await.unwrap().into_inner().team_member.unwrap();
        expected.push((order, member.team_member_id));
    }
    expected.sort_by_key(|(order, _)| *order);
    let listed: Vec<(i32, String)> =
        team_of(suite, &a, 2).await.into_iter().map(|member| (member.order.unwrap(), member.team_member_id)).collect();
    assert_eq!(listed, expected, "ordered by (order, create time), complete across pages");
    // Filter on responsibility.
    add_member(&mut client, &a, &lead, ACCOUNT_MANAGER).await.unwrap();
    add_member(&mut client, &b, &lead, ACCOUNT_MANAGER).await.unwrap();
    let managers = client
        .list_team_members(pb::ListTeamMembersRequest {
            team: Some(pb::list_team_members_request::Team::AccountId(a.clone())),
            responsibility_id: ACCOUNT_MANAGER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .team_members;
    assert_eq!(managers.len(), 1);
    assert_eq!(managers[0].profile_id, lead);
    // Every membership of the lead, in creation order, page by page.
    let mut accounts = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_team_memberships_of_user(pb::ListTeamMembershipsOfUserRequest {
                profile_id: lead.clone(),
                page_size: 1,
                page_token: page_token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        for member in page.team_members {
            match member.team {
                Some(pb::team_member::Team::AccountId(account)) => accounts.push(account),
                other => panic!("unexpected team {other:?}"),
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(accounts, vec![a.clone(), b.clone()]);
    // A list needs exactly one team.
    let status = client.list_team_members(pb::ListTeamMembersRequest::default()).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["team".to_owned()]);
});

// ------------------------------------------------------------------ R3.18

backend_test!(r3_18_referenced_responsibility_delete_is_refused_unless_admin_forces_it, |suite| {
    let mut client = admin(suite);
    let definition =
        create_definition(&mut client, "Renewal Owner", pb::ResponsibilityKind::User, false).await.unwrap();
    let id = definition.responsibility_id.clone();
    let (a, b) = (customer(suite, "Renew A").await, customer(suite, "Renew B").await);
    let owner = employee(suite, "Rene").await;
    add_member(&mut client, &a, &owner, &id).await.unwrap();
    add_member(&mut client, &b, &owner, &id).await.unwrap();
    let delete = |force: bool| pb::DeleteResponsibilityDefinitionRequest { responsibility_id: id.clone(), force };
    // Referenced: FAILED_PRECONDITION with the count.
    let status = client.delete_responsibility_definition(delete(false)).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RESPONSIBILITY_IN_USE");
    assert_eq!(metadata(&status, "reference_count"), "2");
    // force=true needs admin, even for a responsibility administrator.
    let mut foundation_admin = person_with_role(suite, roles::CRM_FOUNDATION_ADMIN).await;
    let status = foundation_admin.delete_responsibility_definition(delete(true)).await.unwrap_err();
    assert_status(&status, Code::PermissionDenied, "FORCE_REQUIRES_ADMIN");
    assert_eq!(team_of(suite, &a, 0).await.len(), 1, "nothing was deleted");
    // The admin's force cascades in one transaction.
    let deleted = client.delete_responsibility_definition(delete(true)).await.expect("forced").into_inner();
    assert_eq!(deleted.cascaded_record_count, 2);
    assert!(team_of(suite, &a, 0).await.is_empty());
    assert!(team_of(suite, &b, 0).await.is_empty());
    let status = client
        .get_responsibility_definition(pb::GetResponsibilityDefinitionRequest { responsibility_id: id.clone() })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "RESPONSIBILITY_NOT_FOUND");
    // An unreferenced definition is deleted without force, by a responsibility administrator.
    let spare = create_definition(&mut client, "Spare", pb::ResponsibilityKind::User, false).await.unwrap();
    let deleted = foundation_admin
        .delete_responsibility_definition(pb::DeleteResponsibilityDefinitionRequest {
            responsibility_id: spare.responsibility_id,
            force: false,
        })
        .await
        .expect("unreferenced")
        .into_inner();
    assert_eq!(deleted.cascaded_record_count, 0);
});

// ------------------------------------------------------------------ R5.1

backend_test!(r5_1_responsibility_definitions_are_a_configuration_object_with_the_seeded_vocabulary, |suite| {
    let mut client = admin(suite);
    // All seeded definitions, ordered by name, across pages.
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_responsibility_definitions(pb::ListResponsibilityDefinitionsRequest {
                page_size: 4,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        names.extend(page.responsibility_definitions.into_iter().map(|definition| definition.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(
        names,
        vec![
            "Account Manager",
            "Asset Contact",
            "Authorized Account",
            "Authorized Representative",
            "Authorized Service Organization",
            "Preferred Technician",
            "Primary Support Agent",
            "Relationship Manager",
            "Support Manager",
        ]
    );
    // Created ones are idempotent by request id.
    let mut request = new_definition("Warranty Owner", pb::ResponsibilityKind::User, false);
    request.request_id = "definition-1".into();
    let first = client.create_responsibility_definition(request.clone()).await.unwrap().into_inner();
    let again = client.create_responsibility_definition(request.clone()).await.expect("replayed").into_inner();
    assert_eq!(first.responsibility_definition, again.responsibility_definition);
    request.responsibility_definition.as_mut().unwrap().unique = true;
    let status = client.create_responsibility_definition(request).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "REQUEST_ID_CONFLICT");
});

// ------------------------------------------- related-party types on team members

backend_test!(r3_17_account_team_member_types_default_to_the_same_named_responsibility, |suite| {
    let mut client = admin(suite);
    let account = customer(suite, "Typed").await;
    let profile = employee(suite, "Tara").await;
    let manager_type =
        csm_tests::world::related_party_type(suite, pb::RecordTable::AccountTeamMember, "Account Manager").await;
    assert_eq!(manager_type.default_responsibility_id, ACCOUNT_MANAGER);
    // A member created with only the type gets the type's responsibility and order.
    let mut request = account_member(&account, &profile, pb::TeamMemberKind::Internal, "");
    request.team_member.as_mut().unwrap().related_party_configuration_id =
        manager_type.related_party_configuration_id.clone();
    let member = client.create_team_member(request).await.expect("typed member").into_inner().team_member.unwrap();
    assert_eq!(member.responsibility_id, ACCOUNT_MANAGER);
    assert_eq!(member.related_party_configuration_id, manager_type.related_party_configuration_id);
    assert_eq!(member.order, Some(manager_type.default_order));
    for name in ["Preferred Technician", "Primary Support Agent", "Support Manager"] {
        let kind = csm_tests::world::related_party_type(suite, pb::RecordTable::AccountTeamMember, name).await;
        let definition = client
            .get_responsibility_definition(pb::GetResponsibilityDefinitionRequest {
                responsibility_id: kind.default_responsibility_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .responsibility_definition
            .unwrap();
        assert_eq!(definition.name, name);
    }
    // A contact-relationship type does not apply to team members.
    let asset_contact =
        csm_tests::world::related_party_type(suite, pb::RecordTable::ContactRelationship, "Asset Contact").await;
    let mut request = account_member(&account, &profile, pb::TeamMemberKind::Internal, PREFERRED_TECHNICIAN);
    request.team_member.as_mut().unwrap().related_party_configuration_id = asset_contact.related_party_configuration_id;
    let status = client.create_team_member(request).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RELATED_PARTY_TYPE_NOT_APPLICABLE");
    // Neither a responsibility nor a type: the responsibility is required.
    let status = client
        .create_team_member(account_member(&account, &profile, pb::TeamMemberKind::Internal, ""))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["team_member.responsibility_id".to_owned()]);
});

backend_test!(r3_18_force_delete_clears_related_party_defaults_so_types_become_listed, |suite| {
    let mut client = admin(suite);
    let definition = create_definition(&mut client, "Site Lead", pb::ResponsibilityKind::User, false).await.unwrap();
    let configuration = client
        .create_related_party_configuration(pb::CreateRelatedPartyConfigurationRequest {
            request_id: String::new(),
            related_party_configuration: Some(pb::RelatedPartyConfiguration {
                name: "Site Lead".into(),
                applies_to: pb::RecordTable::AccountTeamMember as i32,
                entity_type: pb::PartyEntityType::User as i32,
                default_responsibility_id: definition.responsibility_id.clone(),
                default_order: 10,
                ..Default::default()
            }),
        })
        .await
        .expect("a related-party type")
        .into_inner()
        .related_party_configuration
        .unwrap();
    let delete = |force: bool| pb::DeleteResponsibilityDefinitionRequest {
        responsibility_id: definition.responsibility_id.clone(),
        force,
    };
    let status = client.delete_responsibility_definition(delete(false)).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "RESPONSIBILITY_IN_USE");
    assert_eq!(metadata(&status, "reference_count"), "1");
    let deleted = client.delete_responsibility_definition(delete(true)).await.expect("forced").into_inner();
    assert_eq!(deleted.cascaded_record_count, 1);
    let cleared = client
        .get_related_party_configuration(pb::GetRelatedPartyConfigurationRequest {
            related_party_configuration_id: configuration.related_party_configuration_id,
        })
        .await
        .unwrap()
        .into_inner()
        .related_party_configuration
        .unwrap();
    assert!(cleared.default_responsibility_id.is_empty());
    assert!(cleared.listed);
});
