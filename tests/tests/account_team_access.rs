//! account-team's access half over real gRPC (SPEC R3.7–R3.11, R3.13, R5.1,
//! R5.2, R5.4, R5.5, R5.12, R5.13): settings, contact and consumer
//! relationships, responsibility access and related-party configurations,
//! account access records. Accounts, contacts and consumers are created in
//! identity; people holding one role are minted with `assign_role_as_service`.
//! Each test runs on SQLite and on PostgreSQL.

use csm_types::roles;
use std::collections::BTreeSet;
use std::time::Duration;

use csm_proto::account_team as pb;
use csm_proto::account_team::account_team_service_client::AccountTeamServiceClient;
use csm_proto::identity as id_pb;
use csm_tests::world::partner_relationship;
use csm_tests::{Suite, TestChannel, backend_test, masked, reason_of, violated_fields};
use csm_types::ProfileId;
use tokio_stream::StreamExt as _;
use tonic::{Code, Status};

const ACCOUNT_MANAGER: &str = "a7000000-0000-4000-8000-000000000001";
const ASSET_CONTACT: &str = "a7000000-0000-4000-8000-000000000006";
const AUTHORIZED_REPRESENTATIVE: &str = "a7000000-0000-4000-8000-000000000007";
/// Seeded related-party type "Asset Contact" (CONTACT_RELATIONSHIP), the last seed.
const ASSET_CONTACT_TYPE: &str = "a7000000-0000-4000-8000-00000000031e";
/// Seeded "Authorized Contact" on CASE, the first seed.
const CASE_AUTHORIZED_CONTACT_TYPE: &str = "a7000000-0000-4000-8000-000000000301";
/// Seeded "Authorized Representative" on CONSUMER_RELATIONSHIP.
const CONSUMER_AR_TYPE: &str = "a7000000-0000-4000-8000-000000000318";

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

/// A client acting as the existing profile `profile`.
async fn acting_as(suite: &Suite, profile: &str) -> AccountTeam {
    let token = suite.token_as(ProfileId::parse(profile).unwrap()).await;
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

async fn account_under(suite: &Suite, name: &str, kind: id_pb::AccountKind, parent: Option<&str>) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_account(id_pb::CreateAccountRequest {
            request_id: String::new(),
            name: format!("{name} {}", unique_suffix()),
            kind: kind as i32,
            parent_account_id: parent.unwrap_or_default().to_owned(),
        })
        .await
        .unwrap_or_else(|status| panic!("create account {name}: {status}"))
        .into_inner()
        .account
        .unwrap()
        .account_id
}

async fn customer(suite: &Suite, name: &str) -> String {
    account_under(suite, name, id_pb::AccountKind::Customer, None).await
}

async fn contact_of(suite: &Suite, account: &str, first: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account.to_owned(),
            details: Some(id_pb::PersonDetails {
                first_name: first.to_owned(),
                last_name: "Related".to_owned(),
                email: format!("{}.{}@example.com", first.to_lowercase(), unique_suffix()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("create contact {first}: {status}"))
        .into_inner()
        .profile
        .unwrap()
        .profile_id
}

async fn consumer(suite: &Suite, first: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_consumer(id_pb::CreateConsumerRequest {
            details: Some(id_pb::PersonDetails {
                first_name: first.to_owned(),
                last_name: "Consumer".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("create consumer {first}: {status}"))
        .into_inner()
        .consumer
        .unwrap()
        .consumer_id
}

fn contact_relationship(account: &str, contact: &str, responsibility: &str) -> pb::ContactRelationship {
    pb::ContactRelationship {
        account_id: account.to_owned(),
        contact_id: contact.to_owned(),
        responsibility_id: responsibility.to_owned(),
        ..Default::default()
    }
}

async fn create_cr(
    client: &mut AccountTeam,
    relationship: pb::ContactRelationship,
) -> Result<pb::CreateContactRelationshipResponse, Status> {
    client
        .create_contact_relationship(pb::CreateContactRelationshipRequest {
            request_id: String::new(),
            contact_relationship: Some(relationship),
        })
        .await
        .map(|response| response.into_inner())
}

async fn set_settings(suite: &Suite, restrict: Option<bool>, allow_multiple: Option<bool>) -> String {
    let mut paths = Vec::new();
    if restrict.is_some() {
        paths.push("restrict_within_account_hierarchy".to_owned());
    }
    if allow_multiple.is_some() {
        paths.push("allow_multiple_contact_responsibilities".to_owned());
    }
    admin(suite)
        .update_account_team_settings(pb::UpdateAccountTeamSettingsRequest {
            settings: Some(pb::AccountTeamSettings {
                restrict_within_account_hierarchy: restrict.unwrap_or_default(),
                allow_multiple_contact_responsibilities: allow_multiple.unwrap_or_default(),
                update_time: None,
            }),
            update_mask: Some(prost_types::FieldMask { paths }),
        })
        .await
        .expect("update settings")
        .into_inner()
        .consistency_token
}

/// A new responsibility definition (at-core's RPC).
async fn responsibility(suite: &Suite, kind: pb::ResponsibilityKind, unique: bool) -> String {
    admin(suite)
        .create_responsibility_definition(pb::CreateResponsibilityDefinitionRequest {
            request_id: String::new(),
            responsibility_definition: Some(pb::ResponsibilityDefinition {
                name: format!("Responsibility {}", unique_suffix()),
                kind: kind as i32,
                unique,
                ..Default::default()
            }),
        })
        .await
        .expect("create responsibility definition")
        .into_inner()
        .responsibility_definition
        .unwrap()
        .responsibility_id
}

/// Every contact relationship matching the request, page by page.
async fn all_contact_relationships(
    client: &mut AccountTeam,
    account: &str,
    contact: &str,
    page_size: i32,
) -> Result<Vec<pb::ContactRelationship>, Status> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_contact_relationships(pb::ListContactRelationshipsRequest {
                account_id: account.to_owned(),
                contact_id: contact.to_owned(),
                page_size,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        assert!(page.contact_relationships.len() <= page_size.max(1) as usize || page_size == 0);
        all.extend(page.contact_relationships);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

/// Every eligible contact of `account` (contact id → path), page by page.
async fn eligible(suite: &Suite, account: &str, page_size: i32) -> Vec<(String, i32)> {
    let mut client = admin(suite);
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_eligible_contacts(pb::ListEligibleContactsRequest {
                account_id: account.to_owned(),
                page_size,
                page_token: page_token.clone(),
            })
            .await
            .expect("eligible contacts")
            .into_inner();
        all.extend(page.eligible_contacts.into_iter().map(|contact| (contact.contact_id, contact.path)));
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

/// The account-team change a mutation wrote, read back from Watch by its token.
async fn change_of(suite: &Suite, consistency_token: &str) -> csm_proto::common::Change {
    let revision: u64 = consistency_token
        .strip_prefix("account-team:")
        .and_then(|revision| revision.parse().ok())
        .unwrap_or_else(|| panic!("not an account-team token: {consistency_token:?}"));
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

// ------------------------------------------------------------------ settings, R3.7

backend_test!(r3_8_r3_10_settings_have_the_spec_defaults_and_only_admins_change_them, |suite| {
    let settings = admin(suite)
        .get_account_team_settings(pb::GetAccountTeamSettingsRequest {})
        .await
        .expect("settings")
        .into_inner()
        .settings
        .unwrap();
    assert!(settings.restrict_within_account_hierarchy);
    assert!(!settings.allow_multiple_contact_responsibilities);

    let mut agent = person_with_role(suite, roles::AGENT).await;
    let denied = agent
        .update_account_team_settings(masked!(
            pb::UpdateAccountTeamSettingsRequest { settings: Some(settings), update_mask: None },
            ["allow_multiple_contact_responsibilities"]
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Any authenticated caller reads them.
    agent.get_account_team_settings(pb::GetAccountTeamSettingsRequest {}).await.expect("agent reads settings");

    let bad_path = admin(suite)
        .update_account_team_settings(masked!(
            pb::UpdateAccountTeamSettingsRequest { settings: Some(settings), update_mask: None },
            ["update_time"]
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_path.code(), Code::InvalidArgument);

    let mut foundation_admin = person_with_role(suite, roles::CRM_FOUNDATION_ADMIN).await;
    let updated = foundation_admin
        .update_account_team_settings(masked!(
            pb::UpdateAccountTeamSettingsRequest {
                settings: Some(pb::AccountTeamSettings {
                    restrict_within_account_hierarchy: false,
                    allow_multiple_contact_responsibilities: true,
                    update_time: None,
                }),
                update_mask: None,
            },
            ["allow_multiple_contact_responsibilities"]
        ))
        .await
        .expect("foundation admin updates")
        .into_inner();
    let after = updated.settings.unwrap();
    assert!(after.allow_multiple_contact_responsibilities);
    assert!(after.restrict_within_account_hierarchy, "unmasked field kept");
    let change = change_of(suite, &updated.consistency_token).await;
    assert_eq!(change.entity_type, "account_team_settings");
});

backend_test!(r3_7_contact_relationship_is_stored_and_listed_for_the_contact, |suite| {
    let parent = customer(suite, "Parent").await;
    let child = account_under(suite, "Child", id_pb::AccountKind::Customer, Some(&parent)).await;
    let kim = contact_of(suite, &parent, "Kim").await;

    let created =
        create_cr(&mut admin(suite), contact_relationship(&child, &kim, ASSET_CONTACT)).await.expect("create");
    let relationship = created.contact_relationship.unwrap();
    assert_eq!((relationship.account_id.as_str(), relationship.contact_id.as_str()), (child.as_str(), kim.as_str()));
    assert_eq!(relationship.responsibility_id, ASSET_CONTACT);
    assert_eq!(relationship.order, Some(100));
    let change = change_of(suite, &created.consistency_token).await;
    assert_eq!(change.entity_type, "contact_relationship");
    assert_eq!(change.entity_id, relationship.contact_relationship_id);
    assert_eq!(change.attributes.get("contact_id"), Some(&kim));
    assert_eq!(change.attributes.get("account_id"), Some(&child));

    // Listed for the contact (CR(me)) — by an agent and by the contact itself — and for the account.
    let mut agent = person_with_role(suite, roles::AGENT).await;
    let of_contact = all_contact_relationships(&mut agent, "", &kim, 10).await.expect("agent lists");
    assert_eq!(of_contact, vec![relationship.clone()]);
    let own =
        all_contact_relationships(&mut acting_as(suite, &kim).await, "", &kim, 10).await.expect("contact lists own");
    assert_eq!(own.len(), 1);
    let of_account = all_contact_relationships(&mut admin(suite), &child, "", 10).await.unwrap();
    assert_eq!(of_account, vec![relationship.clone()]);
    let got = admin(suite)
        .get_contact_relationship(pb::GetContactRelationshipRequest {
            contact_relationship_id: relationship.contact_relationship_id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
        .contact_relationship
        .unwrap();
    assert_eq!(got, relationship);

    // Delete: gone from the lists, NOT_FOUND afterwards.
    let deleted = admin(suite)
        .delete_contact_relationship(pb::DeleteContactRelationshipRequest {
            contact_relationship_id: relationship.contact_relationship_id.clone(),
        })
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(
        change_of(suite, &deleted.consistency_token).await.operation,
        csm_proto::common::ChangeOperation::Deleted as i32
    );
    assert!(all_contact_relationships(&mut admin(suite), "", &kim, 10).await.unwrap().is_empty());
    let missing = admin(suite)
        .get_contact_relationship(pb::GetContactRelationshipRequest {
            contact_relationship_id: relationship.contact_relationship_id,
        })
        .await
        .unwrap_err();
    assert_status(&missing, Code::NotFound, "CONTACT_RELATIONSHIP_NOT_FOUND");
});

backend_test!(r3_7_contact_relationship_input_is_validated_paged_and_idempotent, |suite| {
    let mut client = admin(suite);
    let invalid = create_cr(
        &mut client,
        pb::ContactRelationship { account_id: String::new(), contact_id: "nope".into(), ..Default::default() },
    )
    .await
    .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = violated_fields(&invalid);
    assert!(fields.contains(&"contact_relationship.account_id".to_owned()), "{fields:?}");
    assert!(fields.contains(&"contact_relationship.contact_id".to_owned()), "{fields:?}");

    let unfiltered =
        client.list_contact_relationships(pb::ListContactRelationshipsRequest::default()).await.unwrap_err();
    assert_eq!(unfiltered.code(), Code::InvalidArgument);
    let bad_token = client
        .list_contact_relationships(pb::ListContactRelationshipsRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);

    // Unknown account / contact.
    let account = customer(suite, "Acme").await;
    let unknown_contact = create_cr(&mut client, contact_relationship(&account, &uuid::Uuid::new_v4().to_string(), ""))
        .await
        .unwrap_err();
    assert_status(&unknown_contact, Code::NotFound, "CONTACT_NOT_FOUND");
    let kim = contact_of(suite, &account, "Kim").await;
    let unknown_account =
        create_cr(&mut client, contact_relationship(&uuid::Uuid::new_v4().to_string(), &kim, "")).await.unwrap_err();
    assert_status(&unknown_account, Code::NotFound, "ACCOUNT_NOT_FOUND");

    // Idempotent retries; a reused request id with another payload is refused.
    let request = pb::CreateContactRelationshipRequest {
        request_id: "cr-1".into(),
        contact_relationship: Some(contact_relationship(&account, &kim, "")),
    };
    let first = client.create_contact_relationship(request.clone()).await.expect("first").into_inner();
    let retry = client.create_contact_relationship(request.clone()).await.expect("retry").into_inner();
    assert_eq!(first, retry);
    let mut other = request.clone();
    other.contact_relationship = Some(contact_relationship(&account, &kim, ASSET_CONTACT));
    let reused = client.create_contact_relationship(other).await.unwrap_err();
    assert_status(&reused, Code::FailedPrecondition, "REQUEST_ID_CONFLICT");

    // Pagination: five relationships on one account, pages of two, complete and ordered.
    let mut expected = BTreeSet::from([first.contact_relationship.unwrap().contact_relationship_id]);
    for index in 0..4 {
        let contact = contact_of(suite, &account, &format!("Pat{index}")).await;
        let created = create_cr(&mut client, contact_relationship(&account, &contact, "")).await.unwrap();
        expected.insert(created.contact_relationship.unwrap().contact_relationship_id);
    }
    let listed = all_contact_relationships(&mut client, &account, "", 2).await.unwrap();
    let ids: Vec<String> = listed.iter().map(|relationship| relationship.contact_relationship_id.clone()).collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(ids.len(), 5, "no duplicates across pages");
});

// ------------------------------------------------------------------ R3.8

backend_test!(r3_8_eligible_contacts_are_of_the_hierarchy_and_related_accounts, |suite| {
    let top = customer(suite, "Top").await;
    let child = account_under(suite, "Child", id_pb::AccountKind::Customer, Some(&top)).await;
    let grandchild = account_under(suite, "Grandchild", id_pb::AccountKind::Customer, Some(&child)).await;
    let related = account_under(suite, "Reseller", id_pb::AccountKind::Partner, None).await;
    let outsider_account = customer(suite, "Elsewhere").await;
    let at_top = contact_of(suite, &top, "Tina").await;
    let at_grandchild = contact_of(suite, &grandchild, "Gus").await;
    let at_related = contact_of(suite, &related, "Rita").await;
    let outsider = contact_of(suite, &outsider_account, "Otto").await;
    partner_relationship(suite, &related, &child).await;

    let hierarchy = pb::ContactEligibilityPath::Hierarchy as i32;
    let via_relationship = pb::ContactEligibilityPath::AccountRelationship as i32;
    let listed = eligible(suite, &child, 1).await;
    let mut expected =
        vec![(at_top.clone(), hierarchy), (at_grandchild.clone(), hierarchy), (at_related.clone(), via_relationship)];
    expected.sort();
    assert_eq!(listed, expected, "ordered by contact id, outsider excluded");

    let mut client = admin(suite);
    create_cr(&mut client, contact_relationship(&child, &at_top, "")).await.expect("ancestor's contact");
    create_cr(&mut client, contact_relationship(&child, &at_related, "")).await.expect("related account's contact");
    let refused = create_cr(&mut client, contact_relationship(&child, &outsider, "")).await.unwrap_err();
    assert_status(&refused, Code::FailedPrecondition, "CONTACT_NOT_ELIGIBLE");
});

backend_test!(r3_8_unrestricted_setting_makes_any_contact_eligible, |suite| {
    let account = customer(suite, "Acme").await;
    let elsewhere = customer(suite, "Elsewhere").await;
    let otto = contact_of(suite, &elsewhere, "Otto").await;
    let mut client = admin(suite);
    let refused = create_cr(&mut client, contact_relationship(&account, &otto, "")).await.unwrap_err();
    assert_status(&refused, Code::FailedPrecondition, "CONTACT_NOT_ELIGIBLE");

    set_settings(suite, Some(false), None).await;
    let listed = eligible(suite, &account, 100).await;
    assert!(listed.contains(&(otto.clone(), pb::ContactEligibilityPath::Unrestricted as i32)), "{listed:?}");
    create_cr(&mut client, contact_relationship(&account, &otto, "")).await.expect("unrestricted");

    // Switched back on: later writes are checked again, existing rows stay.
    set_settings(suite, Some(true), None).await;
    let other = contact_of(suite, &elsewhere, "Olga").await;
    let refused = create_cr(&mut client, contact_relationship(&account, &other, "")).await.unwrap_err();
    assert_status(&refused, Code::FailedPrecondition, "CONTACT_NOT_ELIGIBLE");
    assert_eq!(all_contact_relationships(&mut client, &account, "", 10).await.unwrap().len(), 1);
});

// ------------------------------------------------------------------ R3.9

backend_test!(r3_9_only_contact_responsibilities_and_a_unique_one_once_per_account, |suite| {
    let account = customer(suite, "Acme").await;
    let other_account = customer(suite, "Other").await;
    let kim = contact_of(suite, &account, "Kim").await;
    let lou = contact_of(suite, &account, "Lou").await;
    let mo = contact_of(suite, &other_account, "Mo").await;
    let mut client = admin(suite);

    let wrong_kind = create_cr(&mut client, contact_relationship(&account, &kim, ACCOUNT_MANAGER)).await.unwrap_err();
    assert_status(&wrong_kind, Code::FailedPrecondition, "RESPONSIBILITY_KIND_MISMATCH");
    let none_kind =
        create_cr(&mut client, contact_relationship(&account, &kim, AUTHORIZED_REPRESENTATIVE)).await.unwrap_err();
    assert_status(&none_kind, Code::FailedPrecondition, "RESPONSIBILITY_KIND_MISMATCH");
    let unknown = create_cr(&mut client, contact_relationship(&account, &kim, &uuid::Uuid::new_v4().to_string()))
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, "RESPONSIBILITY_NOT_FOUND");

    let primary = responsibility(suite, pb::ResponsibilityKind::Contact, true).await;
    let held = create_cr(&mut client, contact_relationship(&account, &kim, &primary)).await.expect("first holder");
    let taken = create_cr(&mut client, contact_relationship(&account, &lou, &primary)).await.unwrap_err();
    assert_status(&taken, Code::AlreadyExists, "UNIQUE_RESPONSIBILITY_TAKEN");
    assert_eq!(metadata(&taken, "contact_relationship_id"), held.contact_relationship.unwrap().contact_relationship_id);
    // The same contact may hold it on another account; another account has its own holder.
    set_settings(suite, Some(false), None).await;
    create_cr(&mut client, contact_relationship(&other_account, &kim, &primary)).await.expect("kim elsewhere");
    let elsewhere = create_cr(&mut client, contact_relationship(&other_account, &mo, &primary)).await.unwrap_err();
    assert_status(&elsewhere, Code::AlreadyExists, "UNIQUE_RESPONSIBILITY_TAKEN");

    // An update onto a held unique responsibility is refused too.
    let lou_plain = create_cr(&mut client, contact_relationship(&account, &lou, "")).await.expect("lou without");
    let updated = client
        .update_contact_relationship(masked!(
            pb::UpdateContactRelationshipRequest {
                contact_relationship: Some(pb::ContactRelationship {
                    responsibility_id: primary.clone(),
                    ..lou_plain.contact_relationship.unwrap()
                }),
                update_mask: None,
            },
            ["responsibility_id"]
        ))
        .await
        .unwrap_err();
    assert_status(&updated, Code::AlreadyExists, "UNIQUE_RESPONSIBILITY_TAKEN");
});

backend_test!(r3_9_concurrent_unique_responsibility_assignments_have_exactly_one_winner, |suite| {
    let account = customer(suite, "Acme").await;
    let primary = responsibility(suite, pb::ResponsibilityKind::Contact, true).await;
    let mut contacts = Vec::new();
    for index in 0..8 {
        contacts.push(contact_of(suite, &account, &format!("Racer{index}")).await);
    }
    let mut tasks = Vec::new();
    for contact in contacts {
        let mut client = admin(suite);
        let relationship = contact_relationship(&account, &contact, &primary);
        tasks.push(tokio::spawn(async move { create_cr(&mut client, relationship).await }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => winners += 1,
            Err(status) => assert_status(&status, Code::AlreadyExists, "UNIQUE_RESPONSIBILITY_TAKEN"),
        }
    }
    assert_eq!(winners, 1);
    let holders = all_contact_relationships(&mut admin(suite), &account, "", 100).await.unwrap();
    assert_eq!(holders.len(), 1);
});

// ------------------------------------------------------------------ R3.10

backend_test!(r3_10_one_responsibility_per_account_contact_unless_allowed, |suite| {
    let account = customer(suite, "Acme").await;
    let kim = contact_of(suite, &account, "Kim").await;
    let second = responsibility(suite, pb::ResponsibilityKind::Contact, false).await;
    let third = responsibility(suite, pb::ResponsibilityKind::Contact, false).await;
    let mut client = admin(suite);
    create_cr(&mut client, contact_relationship(&account, &kim, ASSET_CONTACT)).await.expect("first");
    let duplicate = create_cr(&mut client, contact_relationship(&account, &kim, &second)).await.unwrap_err();
    assert_status(&duplicate, Code::AlreadyExists, "CONTACT_RELATIONSHIP_EXISTS");

    set_settings(suite, None, Some(true)).await;
    create_cr(&mut client, contact_relationship(&account, &kim, &second)).await.expect("allowed now");
    let same_triple = create_cr(&mut client, contact_relationship(&account, &kim, &second)).await.unwrap_err();
    assert_status(&same_triple, Code::AlreadyExists, "CONTACT_RELATIONSHIP_EXISTS");

    set_settings(suite, None, Some(false)).await;
    let again = create_cr(&mut client, contact_relationship(&account, &kim, &third)).await.unwrap_err();
    assert_status(&again, Code::AlreadyExists, "CONTACT_RELATIONSHIP_EXISTS");
    assert_eq!(all_contact_relationships(&mut client, &account, &kim, 10).await.unwrap().len(), 2);
});

backend_test!(r3_10_concurrent_relationships_of_one_pair_admit_one_by_default, |suite| {
    let account = customer(suite, "Acme").await;
    let kim = contact_of(suite, &account, "Kim").await;
    let mut responsibilities = vec![String::new(), ASSET_CONTACT.to_owned()];
    for _ in 0..4 {
        responsibilities.push(responsibility(suite, pb::ResponsibilityKind::Contact, false).await);
    }
    let mut tasks = Vec::new();
    for responsibility in responsibilities {
        let mut client = admin(suite);
        let relationship = contact_relationship(&account, &kim, &responsibility);
        tasks.push(tokio::spawn(async move { create_cr(&mut client, relationship).await }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => winners += 1,
            Err(status) => assert_status(&status, Code::AlreadyExists, "CONTACT_RELATIONSHIP_EXISTS"),
        }
    }
    assert_eq!(winners, 1);
});

// ------------------------------------------------------------------ R3.11

backend_test!(r3_11_writers_write_and_viewers_only_view_contact_relationships, |suite| {
    let account = customer(suite, "Acme").await;
    let kim = contact_of(suite, &account, "Kim").await;
    let lou = contact_of(suite, &account, "Lou").await;
    for role in [roles::MANAGER, roles::CRM_FOUNDATION_DATA_MANAGER, roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER] {
        let mut writer = person_with_role(suite, role).await;
        let contact = contact_of(suite, &account, "Writer").await;
        create_cr(&mut writer, contact_relationship(&account, &contact, ""))
            .await
            .unwrap_or_else(|s| panic!("{role}: {s}"));
    }
    let mut agent = person_with_role(suite, roles::AGENT).await;
    let denied = create_cr(&mut agent, contact_relationship(&account, &kim, "")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(all_contact_relationships(&mut agent, &account, "", 10).await.expect("agent views").len(), 3);
    let mut viewer = person_with_role(suite, roles::CUSTOMER_DATA_VIEWER).await;
    all_contact_relationships(&mut viewer, &account, "", 10).await.expect("data viewer views");

    let mut nobody = person_with_role(suite, roles::CUSTOMER).await;
    let hidden = all_contact_relationships(&mut nobody, &account, "", 10).await.unwrap_err();
    assert_eq!(hidden.code(), Code::PermissionDenied);
    // A contact sees its own relationships, not another contact's.
    all_contact_relationships(&mut acting_as(suite, &kim).await, "", &kim, 10).await.expect("own");
    let others = all_contact_relationships(&mut acting_as(suite, &kim).await, "", &lou, 10).await.unwrap_err();
    assert_eq!(others.code(), Code::PermissionDenied);

    // Customer admins view the relationships of accounts in their scope only.
    let customer_admin = contact_of(suite, &account, "Cora").await;
    suite.assign_role(ProfileId::parse(&customer_admin).unwrap(), roles::CUSTOMER_ADMIN).await.unwrap();
    all_contact_relationships(&mut acting_as(suite, &customer_admin).await, &account, "", 10)
        .await
        .expect("own account");
    let foreign_account = customer(suite, "Foreign").await;
    let foreign = all_contact_relationships(&mut acting_as(suite, &customer_admin).await, &foreign_account, "", 10)
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::PermissionDenied);

    let created = create_cr(&mut admin(suite), contact_relationship(&account, &kim, "")).await.unwrap();
    let id = created.contact_relationship.unwrap().contact_relationship_id;
    let delete_denied =
        agent.delete_contact_relationship(pb::DeleteContactRelationshipRequest { contact_relationship_id: id }).await;
    assert_eq!(delete_denied.unwrap_err().code(), Code::PermissionDenied);
});

// ------------------------------------------------------------------ R3.13 (consumer relationships)

backend_test!(r3_13_consumer_relationships_do_not_enforce_unique_responsibilities, |suite| {
    let represented = consumer(suite, "Rhea").await;
    let first = consumer(suite, "Fay").await;
    let second = consumer(suite, "Sam").await;
    let unique_none = responsibility(suite, pb::ResponsibilityKind::None, true).await;
    let mut client = admin(suite);
    let create = |related: &str, responsibility: &str, type_id: &str| pb::CreateConsumerRelationshipRequest {
        request_id: String::new(),
        consumer_relationship: Some(pb::ConsumerRelationship {
            consumer_id: represented.clone(),
            related_consumer_id: related.to_owned(),
            responsibility_id: responsibility.to_owned(),
            related_party_configuration_id: type_id.to_owned(),
            ..Default::default()
        }),
    };
    client.create_consumer_relationship(create(&first, &unique_none, "")).await.expect("first");
    client.create_consumer_relationship(create(&second, &unique_none, "")).await.expect("unique not enforced (R3.13)");
    let duplicate = client.create_consumer_relationship(create(&first, &unique_none, "")).await.unwrap_err();
    assert_status(&duplicate, Code::AlreadyExists, "CONSUMER_RELATIONSHIP_EXISTS");

    // The Authorized Representative type fills the responsibility (R5.4, R5.5).
    let typed =
        client.create_consumer_relationship(create(&first, "", CONSUMER_AR_TYPE)).await.expect("typed").into_inner();
    let typed_relationship = typed.consumer_relationship.unwrap();
    assert_eq!(typed_relationship.responsibility_id, AUTHORIZED_REPRESENTATIVE);
    assert_eq!(change_of(suite, &typed.consistency_token).await.entity_type, "consumer_relationship");

    let wrong_kind = client.create_consumer_relationship(create(&second, ASSET_CONTACT, "")).await.unwrap_err();
    assert_status(&wrong_kind, Code::FailedPrecondition, "RESPONSIBILITY_KIND_MISMATCH");
    let to_self = client.create_consumer_relationship(create(&represented, "", "")).await.unwrap_err();
    assert_eq!(to_self.code(), Code::InvalidArgument);
    let listed = client
        .list_consumer_relationships(pb::ListConsumerRelationshipsRequest {
            consumer_id: represented.clone(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.consumer_relationships.len(), 2);
    assert!(!listed.next_page_token.is_empty());
    let mut agent = person_with_role(suite, roles::AGENT).await;
    let denied = agent.create_consumer_relationship(create(&second, "", "")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
});

backend_test!(r5_5_a_consumer_reads_only_the_consumer_relationships_that_name_it, |suite| {
    let (_, rhea, rhea_token) = csm_tests::world::consumer_user(suite, "Rhea", &[roles::CONSUMER]).await;
    let (_, olga, _) = csm_tests::world::consumer_user(suite, "Olga", &[roles::CONSUMER]).await;
    let fay = consumer(suite, "Fay").await;
    let client = admin(suite);
    let relate = |consumer_id: String| {
        let request = pb::CreateConsumerRelationshipRequest {
            request_id: String::new(),
            consumer_relationship: Some(pb::ConsumerRelationship {
                consumer_id,
                related_consumer_id: fay.clone(),
                ..Default::default()
            }),
        };
        let mut client = client.clone();
        async move { client.create_consumer_relationship(request).await.expect("relate").into_inner() }
    };
    let own = relate(rhea.clone()).await.consumer_relationship.unwrap().consumer_relationship_id;
    let foreign = relate(olga.clone()).await.consumer_relationship.unwrap().consumer_relationship_id;
    let list = |token: String| {
        let fay = fay.clone();
        async move {
            suite
                .account_team(Some(&token))
                .list_consumer_relationships(pb::ListConsumerRelationshipsRequest {
                    related_consumer_id: fay,
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .map(|page| {
                    page.into_inner()
                        .consumer_relationships
                        .into_iter()
                        .map(|relationship| relationship.consumer_relationship_id)
                        .collect::<Vec<_>>()
                })
        }
    };
    let get = |token: String, id: String| async move {
        suite
            .account_team(Some(&token))
            .get_consumer_relationship(pb::GetConsumerRelationshipRequest { consumer_relationship_id: id })
            .await
    };
    // Rhea sees her own relationship, not Olga's (another person's personal data).
    assert_eq!(list(rhea_token.clone()).await.unwrap(), vec![own.clone()]);
    get(rhea_token.clone(), own.clone()).await.expect("her own");
    let refused = get(rhea_token, foreign.clone()).await.unwrap_err();
    assert_status(&refused, Code::PermissionDenied, "CONSUMER_RELATIONSHIP_NOT_VISIBLE");
    // A consumer agent reads both; an agent without a consumer role neither.
    let (_, consumer_agent) = csm_tests::world::employee(suite, "Cora", &[roles::CONSUMER_AGENT]).await;
    assert_eq!(list(consumer_agent.clone()).await.unwrap().len(), 2);
    get(consumer_agent, foreign.clone()).await.expect("a consumer agent reads any");
    let (_, agent) = csm_tests::world::employee(suite, "Bea", &[roles::AGENT]).await;
    assert_status(&list(agent.clone()).await.unwrap_err(), Code::PermissionDenied, "MISSING_ROLE");
    assert_status(&get(agent, own).await.unwrap_err(), Code::PermissionDenied, "MISSING_ROLE");
});

// ------------------------------------------------------------------ R5.1, R5.2

fn simple_configuration(responsibility: &str) -> pb::ResponsibilityAccessConfiguration {
    pb::ResponsibilityAccessConfiguration {
        name: "Account managers read cases".into(),
        responsibility_id: responsibility.to_owned(),
        required_roles: vec![roles::RELATIONSHIP_AGENT.into()],
        access_levels: vec![pb::AccessLevel::Read as i32],
        accessible_table: pb::RecordTable::Case as i32,
        relationship_table: pb::RecordTable::AccountTeamMember as i32,
        association_type: pb::AssociationType::Simple as i32,
        relationship_field: "account".into(),
        accessible_field: "account".into(),
        ..Default::default()
    }
}

async fn create_configuration(
    client: &mut AccountTeam,
    configuration: pb::ResponsibilityAccessConfiguration,
) -> Result<pb::CreateResponsibilityAccessConfigurationResponse, Status> {
    client
        .create_responsibility_access_configuration(pb::CreateResponsibilityAccessConfigurationRequest {
            request_id: String::new(),
            responsibility_access_configuration: Some(configuration),
        })
        .await
        .map(|response| response.into_inner())
}

backend_test!(r5_2_responsibility_access_configurations_are_validated_and_stored, |suite| {
    let mut cam_admin = person_with_role(suite, roles::CRM_CUSTOMER_ACCESS_MANAGEMENT_ADMIN).await;
    let created = create_configuration(&mut cam_admin, simple_configuration(ACCOUNT_MANAGER)).await.expect("create");
    let configuration = created.responsibility_access_configuration.unwrap();
    assert_eq!(configuration.active, Some(true), "active defaults to true");
    assert!(!configuration.seeded);
    let change = change_of(suite, &created.consistency_token).await;
    assert_eq!(change.entity_type, "responsibility_access_configuration");

    // Dependent: every field of the type is required; fields of another type are refused.
    let mut dependent = simple_configuration(ACCOUNT_MANAGER);
    dependent.association_type = pb::AssociationType::Dependent as i32;
    dependent.advanced_resolver = "case_account_managed_by_me".into();
    let invalid = create_configuration(&mut cam_admin, dependent).await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = violated_fields(&invalid);
    for field in ["dependent_table", "dependent_relationship_field", "dependent_accessible_field", "advanced_resolver"]
    {
        assert!(fields.contains(&format!("responsibility_access_configuration.{field}")), "{field}: {fields:?}");
    }
    let empty = pb::ResponsibilityAccessConfiguration {
        accessible_table: pb::RecordTable::AccountTeamMember as i32,
        ..Default::default()
    };
    let fields = violated_fields(&create_configuration(&mut cam_admin, empty).await.unwrap_err());
    for field in ["responsibility_id", "access_levels", "accessible_table", "relationship_table", "association_type"] {
        assert!(fields.contains(&format!("responsibility_access_configuration.{field}")), "{field}: {fields:?}");
    }
    let mut bad_field = simple_configuration(ACCOUNT_MANAGER);
    bad_field.accessible_field = "colour".into();
    bad_field.accessible_filter = vec![pb::FieldCondition {
        field: "active".into(),
        operator: pb::ConditionOperator::Equals as i32,
        values: vec![],
    }];
    let fields = violated_fields(&create_configuration(&mut cam_admin, bad_field).await.unwrap_err());
    assert!(fields.contains(&"responsibility_access_configuration.accessible_field".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"responsibility_access_configuration.accessible_filter[0].values".to_owned()),
        "{fields:?}"
    );
    let mut advanced = simple_configuration(ACCOUNT_MANAGER);
    advanced.association_type = pb::AssociationType::Advanced as i32;
    advanced.relationship_field = String::new();
    advanced.advanced_resolver = "run_my_script".into();
    assert_status(
        &create_configuration(&mut cam_admin, advanced).await.unwrap_err(),
        Code::InvalidArgument,
        "UNKNOWN_RESOLVER",
    );
    let unknown = create_configuration(&mut cam_admin, simple_configuration(&uuid::Uuid::new_v4().to_string()))
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, "RESPONSIBILITY_NOT_FOUND");

    // A dependent configuration through the affected install base (R5.3's example).
    let mut through_install_base = simple_configuration(AUTHORIZED_REPRESENTATIVE);
    through_install_base.relationship_table = pb::RecordTable::InstallBaseRelatedParty as i32;
    through_install_base.association_type = pb::AssociationType::Dependent as i32;
    through_install_base.relationship_field = "install_base".into();
    through_install_base.accessible_field = "id".into();
    through_install_base.dependent_table = pb::RecordTable::CaseAffectedInstallBase as i32;
    through_install_base.dependent_relationship_field = "install_base".into();
    through_install_base.dependent_accessible_field = "case".into();
    create_configuration(&mut cam_admin, through_install_base).await.expect("dependent");

    // Roles: agents may not write.
    let mut agent = person_with_role(suite, roles::AGENT).await;
    assert_eq!(
        create_configuration(&mut agent, simple_configuration(ACCOUNT_MANAGER)).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // Update (validated as a whole), then the active-only list leaves it out.
    let updated = cam_admin
        .update_responsibility_access_configuration(masked!(
            pb::UpdateResponsibilityAccessConfigurationRequest {
                responsibility_access_configuration: Some(pb::ResponsibilityAccessConfiguration {
                    active: Some(false),
                    access_levels: vec![pb::AccessLevel::Read as i32, pb::AccessLevel::Write as i32],
                    ..configuration.clone()
                }),
                update_mask: None,
            },
            ["active", "access_levels"]
        ))
        .await
        .expect("update")
        .into_inner()
        .responsibility_access_configuration
        .unwrap();
    assert_eq!(updated.active, Some(false));
    assert_eq!(updated.access_levels.len(), 2);
    let list = |active_only: bool| pb::ListResponsibilityAccessConfigurationsRequest {
        responsibility_id: ACCOUNT_MANAGER.into(),
        accessible_table: pb::RecordTable::Case as i32,
        active_only,
        page_size: 1,
        page_token: String::new(),
    };
    let mut all = Vec::new();
    let mut request = list(false);
    loop {
        let page = admin(suite).list_responsibility_access_configurations(request.clone()).await.unwrap().into_inner();
        all.extend(page.responsibility_access_configurations);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    // Ours plus the two seeded Account Manager configurations (R3.15, R3.16).
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all.iter().filter(|configuration| configuration.seeded).count(), 2);
    let mut active_request = list(true);
    active_request.page_size = 100;
    let active = admin(suite).list_responsibility_access_configurations(active_request).await.unwrap().into_inner();
    assert!(
        active
            .responsibility_access_configurations
            .iter()
            .all(|configuration| configuration.responsibility_access_configuration_id
                != updated.responsibility_access_configuration_id)
    );

    let deleted = cam_admin
        .delete_responsibility_access_configuration(pb::DeleteResponsibilityAccessConfigurationRequest {
            responsibility_access_configuration_id: updated.responsibility_access_configuration_id.clone(),
        })
        .await
        .expect("delete");
    assert!(!deleted.into_inner().consistency_token.is_empty());
    let gone = admin(suite)
        .get_responsibility_access_configuration(pb::GetResponsibilityAccessConfigurationRequest {
            responsibility_access_configuration_id: updated.responsibility_access_configuration_id,
        })
        .await
        .unwrap_err();
    assert_status(&gone, Code::NotFound, "RESPONSIBILITY_ACCESS_CONFIGURATION_NOT_FOUND");
});

// ------------------------------------------------------------------ R5.4, R5.5

async fn create_type(
    client: &mut AccountTeam,
    configuration: pb::RelatedPartyConfiguration,
) -> Result<pb::CreateRelatedPartyConfigurationResponse, Status> {
    client
        .create_related_party_configuration(pb::CreateRelatedPartyConfigurationRequest {
            request_id: String::new(),
            related_party_configuration: Some(configuration),
        })
        .await
        .map(|response| response.into_inner())
}

backend_test!(r5_4_related_party_type_defaults_fill_new_records_and_listed_types_grant_nothing, |suite| {
    let account = customer(suite, "Acme").await;
    let mut client = admin(suite);
    set_settings(suite, None, Some(true)).await;

    // Seeded "Asset Contact" type: responsibility and order come from it.
    let kim = contact_of(suite, &account, "Kim").await;
    let typed = create_cr(
        &mut client,
        pb::ContactRelationship {
            related_party_configuration_id: ASSET_CONTACT_TYPE.into(),
            ..contact_relationship(&account, &kim, "")
        },
    )
    .await
    .expect("typed")
    .contact_relationship
    .unwrap();
    assert_eq!((typed.responsibility_id.as_str(), typed.order), (ASSET_CONTACT, Some(100)));

    // A custom type with its own default order; a "Listed" type without responsibility.
    let custom_responsibility = responsibility(suite, pb::ResponsibilityKind::Contact, false).await;
    let custom = create_type(
        &mut client,
        pb::RelatedPartyConfiguration {
            name: "Billing Contact".into(),
            applies_to: pb::RecordTable::ContactRelationship as i32,
            entity_type: pb::PartyEntityType::Contact as i32,
            default_responsibility_id: custom_responsibility.clone(),
            default_order: 7,
            ..Default::default()
        },
    )
    .await
    .expect("custom type");
    assert_eq!(change_of(suite, &custom.consistency_token).await.entity_type, "related_party_configuration");
    let custom = custom.related_party_configuration.unwrap();
    assert!(!custom.listed);
    let listed = create_type(
        &mut client,
        pb::RelatedPartyConfiguration {
            name: "Listed Contact".into(),
            applies_to: pb::RecordTable::ContactRelationship as i32,
            entity_type: pb::PartyEntityType::Contact as i32,
            ..Default::default()
        },
    )
    .await
    .expect("listed type")
    .related_party_configuration
    .unwrap();
    assert!(listed.listed, "no responsibility: a Listed type");

    let filled = create_cr(
        &mut client,
        pb::ContactRelationship {
            related_party_configuration_id: custom.related_party_configuration_id.clone(),
            ..contact_relationship(&account, &kim, "")
        },
    )
    .await
    .expect("custom typed")
    .contact_relationship
    .unwrap();
    assert_eq!((filled.responsibility_id.as_str(), filled.order), (custom_responsibility.as_str(), Some(7)));
    let lou = contact_of(suite, &account, "Lou").await;
    let listed_row = create_cr(
        &mut client,
        pb::ContactRelationship {
            related_party_configuration_id: listed.related_party_configuration_id.clone(),
            order: Some(3),
            ..contact_relationship(&account, &lou, "")
        },
    )
    .await
    .expect("listed typed")
    .contact_relationship
    .unwrap();
    assert_eq!((listed_row.responsibility_id.as_str(), listed_row.order), ("", Some(3)), "listed grants nothing");

    // A type of another table does not apply; names are unique per table.
    let not_applicable = create_cr(
        &mut client,
        pb::ContactRelationship {
            related_party_configuration_id: CASE_AUTHORIZED_CONTACT_TYPE.into(),
            ..contact_relationship(&account, &lou, "")
        },
    )
    .await
    .unwrap_err();
    assert_status(&not_applicable, Code::FailedPrecondition, "RELATED_PARTY_TYPE_NOT_APPLICABLE");
    let taken = create_type(
        &mut client,
        pb::RelatedPartyConfiguration {
            name: "billing contact".into(),
            applies_to: pb::RecordTable::ContactRelationship as i32,
            entity_type: pb::PartyEntityType::Contact as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_status(&taken, Code::AlreadyExists, "RELATED_PARTY_TYPE_NAME_TAKEN");
    let invalid = create_type(&mut client, pb::RelatedPartyConfiguration::default()).await.unwrap_err();
    let fields = violated_fields(&invalid);
    for field in ["name", "applies_to", "entity_type"] {
        assert!(fields.contains(&format!("related_party_configuration.{field}")), "{field}: {fields:?}");
    }

    // Changed defaults apply to later records only; types in use cannot be deleted.
    client
        .update_related_party_configuration(masked!(
            pb::UpdateRelatedPartyConfigurationRequest {
                related_party_configuration: Some(pb::RelatedPartyConfiguration { default_order: 9, ..custom.clone() }),
                update_mask: None,
            },
            ["default_order"]
        ))
        .await
        .expect("update type");
    let unchanged = client
        .get_contact_relationship(pb::GetContactRelationshipRequest {
            contact_relationship_id: filled.contact_relationship_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .contact_relationship
        .unwrap();
    assert_eq!(unchanged.order, Some(7));
    let in_use = client
        .delete_related_party_configuration(pb::DeleteRelatedPartyConfigurationRequest {
            related_party_configuration_id: custom.related_party_configuration_id.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&in_use, Code::FailedPrecondition, "RELATED_PARTY_TYPE_IN_USE");
    let mut agent = person_with_role(suite, roles::AGENT).await;
    assert_eq!(create_type(&mut agent, custom.clone()).await.unwrap_err().code(), Code::PermissionDenied);
});

backend_test!(r5_5_base_related_party_types_are_seeded, |suite| {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin(suite)
            .list_related_party_configurations(pb::ListRelatedPartyConfigurationsRequest {
                page_size: 7,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("list types")
            .into_inner();
        all.extend(page.related_party_configurations);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(all.len(), 30, "every base type once");
    let find = |table: pb::RecordTable, name: &str| {
        all.iter()
            .find(|kind| kind.applies_to == table as i32 && kind.name == name)
            .unwrap_or_else(|| panic!("{table:?} {name} seeded"))
            .clone()
    };
    let case_contact = find(pb::RecordTable::Case, "Authorized Contact");
    assert_eq!(case_contact.default_responsibility_id, AUTHORIZED_REPRESENTATIVE);
    assert!(case_contact.seeded && !case_contact.listed);
    assert!(find(pb::RecordTable::Case, "Listed Consumer").listed);
    assert_eq!(
        find(pb::RecordTable::SoldProduct, "Authorized Account").default_responsibility_id,
        "a7000000-0000-4000-8000-000000000008"
    );
    assert_eq!(
        find(pb::RecordTable::InstallBase, "Authorized Service Organization").default_responsibility_id,
        "a7000000-0000-4000-8000-000000000009"
    );
    assert!(find(pb::RecordTable::InstallBase, "Listed Member").listed);
    assert_eq!(
        find(pb::RecordTable::HouseholdMemberRelationship, "Authorized Representative").default_responsibility_id,
        AUTHORIZED_REPRESENTATIVE
    );
    assert_eq!(find(pb::RecordTable::AccountTeamMember, "Account Manager").default_responsibility_id, ACCOUNT_MANAGER);
    assert_eq!(
        find(pb::RecordTable::ContactRelationship, "Asset Contact").related_party_configuration_id,
        ASSET_CONTACT_TYPE
    );
    // Filters combine.
    let listed_case_types = admin(suite)
        .list_related_party_configurations(pb::ListRelatedPartyConfigurationsRequest {
            applies_to: pb::RecordTable::Case as i32,
            entity_type: pb::PartyEntityType::Consumer as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .related_party_configurations;
    let names: BTreeSet<String> = listed_case_types.into_iter().map(|kind| kind.name).collect();
    assert_eq!(names, BTreeSet::from(["Authorized Consumer".to_owned(), "Listed Consumer".to_owned()]));
});

// ------------------------------------------------------------------ R5.12, R5.13

async fn create_access(
    client: &mut AccountTeam,
    access: pb::AccountAccess,
) -> Result<pb::CreateAccountAccessResponse, Status> {
    client
        .create_account_access(pb::CreateAccountAccessRequest {
            request_id: String::new(),
            account_access: Some(access),
        })
        .await
        .map(|response| response.into_inner())
}

backend_test!(r5_12_one_account_access_record_per_account, |suite| {
    let account = customer(suite, "Acme").await;
    let elsewhere = customer(suite, "Elsewhere").await;
    let kim = contact_of(suite, &account, "Kim").await;
    let otto = contact_of(suite, &elsewhere, "Otto").await;
    let mut client = admin(suite);

    let not_of_account = create_access(
        &mut client,
        pb::AccountAccess {
            account_id: account.clone(),
            restrict_contact_access: true,
            allowed_contact_ids: vec![otto.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_status(&not_of_account, Code::FailedPrecondition, "CONTACT_NOT_OF_ACCOUNT");

    let created = create_access(
        &mut client,
        pb::AccountAccess {
            account_id: account.clone(),
            restrict_contact_access: true,
            allowed_contact_ids: vec![kim.clone()],
            ..Default::default()
        },
    )
    .await
    .expect("first record");
    let record = created.account_access.unwrap();
    assert_eq!(change_of(suite, &created.consistency_token).await.attributes.get("account_id"), Some(&account));
    let second = create_access(&mut client, pb::AccountAccess { account_id: account.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_status(&second, Code::AlreadyExists, "ACCOUNT_ACCESS_EXISTS");
    assert_eq!(metadata(&second, "account_access_id"), record.account_access_id);

    let by_account = client
        .get_account_access(pb::GetAccountAccessRequest {
            key: Some(pb::get_account_access_request::Key::AccountId(account.clone())),
        })
        .await
        .expect("by account")
        .into_inner()
        .account_access
        .unwrap();
    assert_eq!(by_account, record);
    let none = client
        .get_account_access(pb::GetAccountAccessRequest {
            key: Some(pb::get_account_access_request::Key::AccountId(elsewhere.clone())),
        })
        .await
        .unwrap_err();
    assert_status(&none, Code::NotFound, "ACCOUNT_ACCESS_NOT_FOUND");

    // A contact linked by a contact relationship may be allowed.
    set_settings(suite, Some(false), None).await;
    create_cr(&mut client, contact_relationship(&account, &otto, "")).await.expect("otto related");
    let updated = client
        .update_account_access(masked!(
            pb::UpdateAccountAccessRequest {
                account_access: Some(pb::AccountAccess {
                    allowed_contact_ids: vec![kim.clone(), otto.clone()],
                    restrict_account_access: true,
                    ..record.clone()
                }),
                update_mask: None,
            },
            ["allowed_contact_ids", "restrict_account_access"]
        ))
        .await
        .expect("update")
        .into_inner()
        .account_access
        .unwrap();
    assert_eq!(updated.allowed_contact_ids, vec![kim.clone(), otto.clone()]);
    assert!(updated.restrict_account_access && updated.restrict_contact_access);
    let restricted = client
        .list_account_accesses(pb::ListAccountAccessesRequest { restricted_only: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .account_accesses;
    assert_eq!(restricted.len(), 1);

    // Customer admins manage records of their own scope only; agents not at all.
    let admin_contact = contact_of(suite, &elsewhere, "Ada").await;
    suite.assign_role(ProfileId::parse(&admin_contact).unwrap(), roles::CUSTOMER_ADMIN).await.unwrap();
    let mut customer_admin = acting_as(suite, &admin_contact).await;
    create_access(&mut customer_admin, pb::AccountAccess { account_id: elsewhere.clone(), ..Default::default() })
        .await
        .expect("own account");
    let foreign = customer_admin
        .delete_account_access(pb::DeleteAccountAccessRequest { account_access_id: record.account_access_id.clone() })
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::PermissionDenied);
    let mut agent = person_with_role(suite, roles::AGENT).await;
    let third = customer(suite, "Third").await;
    assert_eq!(
        create_access(&mut agent, pb::AccountAccess { account_id: third, ..Default::default() })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    client
        .delete_account_access(pb::DeleteAccountAccessRequest { account_access_id: record.account_access_id.clone() })
        .await
        .expect("delete");
    let gone = client
        .get_account_access(pb::GetAccountAccessRequest {
            key: Some(pb::get_account_access_request::Key::AccountAccessId(record.account_access_id)),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
});

backend_test!(r5_13_partner_contacts_eligible_by_restrict_account_access, |suite| {
    let customer_account = customer(suite, "Acme").await;
    let partner = account_under(suite, "Resellers", id_pb::AccountKind::Partner, None).await;
    let stranger = account_under(suite, "Strangers", id_pb::AccountKind::Partner, None).await;
    let plain = contact_of(suite, &partner, "Pia").await;
    let partner_admin = contact_of(suite, &partner, "Pam").await;
    suite.assign_role(ProfileId::parse(&partner_admin).unwrap(), roles::PARTNER_ADMIN).await.unwrap();
    partner_relationship(suite, &partner, &customer_account).await;

    let list = |partner_account: &str| pb::ListEligiblePartnerContactsRequest {
        account_id: customer_account.clone(),
        partner_account_id: partner_account.to_owned(),
        page_size: 1,
        page_token: String::new(),
    };
    let collect = |suite: &Suite, mut request: pb::ListEligiblePartnerContactsRequest| {
        let mut client = admin(suite);
        async move {
            let mut all = Vec::new();
            loop {
                let page = client.list_eligible_partner_contacts(request.clone()).await?.into_inner();
                all.extend(
                    page.eligible_partner_contacts.into_iter().map(|contact| (contact.contact_id, contact.path)),
                );
                if page.next_page_token.is_empty() {
                    return Ok::<_, Status>(all);
                }
                request.page_token = page.next_page_token;
            }
        }
    };
    let all = pb::PartnerContactEligibilityPath::AllPartnerContacts as i32;
    let mut expected = vec![(plain.clone(), all), (partner_admin.clone(), all)];
    expected.sort();
    assert_eq!(collect(suite, list("")).await.unwrap(), expected);

    create_access(
        &mut admin(suite),
        pb::AccountAccess { account_id: customer_account.clone(), restrict_account_access: true, ..Default::default() },
    )
    .await
    .expect("restrict account access");
    assert_eq!(
        collect(suite, list(&partner)).await.unwrap(),
        vec![(partner_admin.clone(), pb::PartnerContactEligibilityPath::PartnerAdmin as i32)]
    );
    let not_partner = collect(suite, list(&stranger)).await.unwrap_err();
    assert_status(&not_partner, Code::FailedPrecondition, "NOT_A_PARTNER_OF_ACCOUNT");
});

backend_test!(r3_12_household_member_relationships_need_current_members, |suite| {
    let head = consumer(suite, "Hana").await;
    let member = consumer(suite, "Milo").await;
    let outsider = consumer(suite, "Olli").await;
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let household = identity
        .create_household(id_pb::CreateHouseholdRequest {
            request_id: String::new(),
            name: format!("Household {}", unique_suffix()),
            head_consumer_id: head.clone(),
        })
        .await
        .expect("household")
        .into_inner()
        .household
        .unwrap()
        .household_id;
    identity
        .set_household_membership(id_pb::SetHouseholdMembershipRequest {
            household_id: household.clone(),
            consumer_id: member.clone(),
            status: id_pb::HouseholdMemberStatus::Current as i32,
        })
        .await
        .expect("member joins");

    let mut client = admin(suite);
    let request = |related: &str, type_id: &str| pb::CreateConsumerRelationshipRequest {
        request_id: format!("household-{related}-{type_id}"),
        consumer_relationship: Some(pb::ConsumerRelationship {
            consumer_id: head.clone(),
            related_consumer_id: related.to_owned(),
            household_id: household.clone(),
            related_party_configuration_id: type_id.to_owned(),
            ..Default::default()
        }),
    };
    // The household type applies; the consumer-relationship type does not.
    let household_type = "a7000000-0000-4000-8000-000000000319";
    let created = client.create_consumer_relationship(request(&member, household_type)).await.expect("members");
    let created = created.into_inner();
    let relationship = created.consumer_relationship.clone().unwrap();
    assert_eq!(relationship.responsibility_id, AUTHORIZED_REPRESENTATIVE);
    assert_eq!(relationship.household_id, household);
    // A retry with the same request id answers the original result.
    let retry =
        client.create_consumer_relationship(request(&member, household_type)).await.expect("retry").into_inner();
    assert_eq!(retry, created);
    let wrong_type = client.create_consumer_relationship(request(&member, CONSUMER_AR_TYPE)).await.unwrap_err();
    assert_status(&wrong_type, Code::FailedPrecondition, "RELATED_PARTY_TYPE_NOT_APPLICABLE");
    let not_member = client.create_consumer_relationship(request(&outsider, household_type)).await.unwrap_err();
    assert_status(&not_member, Code::FailedPrecondition, "NOT_CURRENT_HOUSEHOLD_MEMBER");

    let of_household = client
        .list_consumer_relationships(pb::ListConsumerRelationshipsRequest {
            household_id: household.clone(),
            ..Default::default()
        })
        .await
        .expect("list by household")
        .into_inner()
        .consumer_relationships;
    assert_eq!(of_household, vec![relationship.clone()]);
    let updated = client
        .update_consumer_relationship(masked!(
            pb::UpdateConsumerRelationshipRequest {
                consumer_relationship: Some(pb::ConsumerRelationship { order: Some(5), ..relationship.clone() }),
                update_mask: None,
            },
            ["order"]
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.consumer_relationship.unwrap().order, Some(5));
    client
        .delete_consumer_relationship(pb::DeleteConsumerRelationshipRequest {
            consumer_relationship_id: relationship.consumer_relationship_id.clone(),
        })
        .await
        .expect("delete");
    let gone = client
        .get_consumer_relationship(pb::GetConsumerRelationshipRequest {
            consumer_relationship_id: relationship.consumer_relationship_id,
        })
        .await
        .unwrap_err();
    assert_status(&gone, Code::NotFound, "CONSUMER_RELATIONSHIP_NOT_FOUND");
});

backend_test!(r5_1_access_and_related_party_configurations_are_idempotent_and_change_fed, |suite| {
    let mut client = admin(suite);
    let request = pb::CreateResponsibilityAccessConfigurationRequest {
        request_id: "rac-1".into(),
        responsibility_access_configuration: Some(simple_configuration(ACCOUNT_MANAGER)),
    };
    let first = client.create_responsibility_access_configuration(request.clone()).await.expect("first").into_inner();
    let retry = client.create_responsibility_access_configuration(request.clone()).await.expect("retry").into_inner();
    assert_eq!(first, retry);
    let mut other = request;
    other.responsibility_access_configuration.as_mut().unwrap().name = "Another".into();
    let reused = client.create_responsibility_access_configuration(other).await.unwrap_err();
    assert_status(&reused, Code::FailedPrecondition, "REQUEST_ID_CONFLICT");
    let change = change_of(suite, &first.consistency_token).await;
    assert_eq!(change.attributes.get("responsibility_id").map(String::as_str), Some(ACCOUNT_MANAGER));

    let type_request = pb::CreateRelatedPartyConfigurationRequest {
        request_id: "rpc-1".into(),
        related_party_configuration: Some(pb::RelatedPartyConfiguration {
            name: "Escalation Contact".into(),
            applies_to: pb::RecordTable::Case as i32,
            entity_type: pb::PartyEntityType::Contact as i32,
            default_responsibility_id: AUTHORIZED_REPRESENTATIVE.into(),
            reference_condition: vec![pb::FieldCondition {
                field: "active".into(),
                operator: pb::ConditionOperator::Equals as i32,
                values: vec!["true".into()],
            }],
            ..Default::default()
        }),
    };
    let created = client.create_related_party_configuration(type_request.clone()).await.expect("type").into_inner();
    let again = client.create_related_party_configuration(type_request).await.expect("type retry").into_inner();
    assert_eq!(created, again);
    let kind = created.related_party_configuration.unwrap();
    assert_eq!(kind.reference_condition.len(), 1);
    let deleted = client
        .delete_related_party_configuration(pb::DeleteRelatedPartyConfigurationRequest {
            related_party_configuration_id: kind.related_party_configuration_id.clone(),
        })
        .await
        .expect("unused type deleted")
        .into_inner();
    let change = change_of(suite, &deleted.consistency_token).await;
    assert_eq!(change.entity_id, kind.related_party_configuration_id);
    assert_eq!(change.operation, csm_proto::common::ChangeOperation::Deleted as i32);
});
