//! identity's consumers over real gRPC: consumer records and their user link
//! (R1.3, R1.11, R1.12, R1.18, R2.14), consumer profiles (R1.17) and
//! households (R1.5, R4.11). Each test runs on SQLite and on PostgreSQL.
//!
//! Changes need admin, sn_customerservice.consumer_agent or
//! sn_customerservice_manager; reads are open to every authenticated caller.

use csm_types::roles;
use std::time::Duration;

use csm_proto::common::Change;
use csm_proto::identity as pb;
use csm_tests::{Suite, backend_test, masked, reason_of, violated_fields};
use csm_types::{ProfileId, ServiceName};
use tokio_stream::StreamExt as _;
use tonic::Code;

/// Every change of `entity_type` from revision 1 up to the one of `consistency_token`.
async fn changes_until(suite: &Suite, entity_type: &str, consistency_token: &str) -> Vec<Change> {
    let last: u64 = consistency_token.strip_prefix("identity:").and_then(|revision| revision.parse().ok()).unwrap();
    let token = suite.admin_token();
    let mut stream = suite
        .identity(Some(&token))
        .watch(pb::WatchRequest { from_revision: 0, entity_types: vec![entity_type.to_owned()] })
        .await
        .expect("watch opens")
        .into_inner();
    let mut changes = Vec::new();
    while changes.last().map(|change: &Change| change.revision < last).unwrap_or(true) {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        let Ok(Some(Ok(response))) = next else { break };
        let change = response.change.unwrap();
        if change.revision > last {
            break;
        }
        changes.push(change);
    }
    changes
}

fn person(first_name: &str, last_name: &str) -> Option<pb::PersonDetails> {
    Some(pb::PersonDetails {
        first_name: first_name.to_owned(),
        last_name: last_name.to_owned(),
        email: format!("{}.{}@example.com", first_name.to_lowercase(), last_name.to_lowercase()),
        ..Default::default()
    })
}

/// An unlinked consumer record.
async fn create_consumer(suite: &Suite, first_name: &str) -> pb::Consumer {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_consumer(pb::CreateConsumerRequest { details: person(first_name, "Doe"), ..Default::default() })
        .await
        .expect("the administrator creates a consumer")
        .into_inner()
        .consumer
        .unwrap()
}

fn new_consumer_user(
    channels: &[pb::Channel],
    login: Option<pb::new_consumer_user::Login>,
) -> Option<pb::create_consumer_request::User> {
    Some(pb::create_consumer_request::User::NewConsumerUser(pb::NewConsumerUser {
        channels: channels.iter().map(|channel| *channel as i32).collect(),
        security_group_id: String::new(),
        login,
    }))
}

/// A consumer with a new consumer-user (CONSUMER) profile on the consumer portal.
async fn create_consumer_user(suite: &Suite, first_name: &str) -> pb::CreateConsumerResponse {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_consumer(pb::CreateConsumerRequest {
            details: person(first_name, "Consumer"),
            user: new_consumer_user(&[pb::Channel::ConsumerPortal], None),
            ..Default::default()
        })
        .await
        .expect("the administrator creates a consumer user")
        .into_inner()
}

async fn create_employee(suite: &Suite, first_name: &str) -> pb::Profile {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_employee(pb::CreateEmployeeRequest {
            details: person(first_name, "Staff"),
            channels: vec![pb::Channel::Browser as i32],
            ..Default::default()
        })
        .await
        .expect("the administrator creates an employee")
        .into_inner()
        .profile
        .unwrap()
}

async fn create_contact(suite: &Suite, first_name: &str) -> pb::Profile {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let account = identity
        .create_account(pb::CreateAccountRequest {
            request_id: String::new(),
            name: format!("{first_name}'s company"),
            kind: pb::AccountKind::Customer as i32,
            parent_account_id: String::new(),
        })
        .await
        .expect("an account")
        .into_inner()
        .account
        .unwrap();
    identity
        .create_contact(pb::CreateContactRequest {
            account_id: account.account_id,
            details: person(first_name, "Contact"),
            channels: vec![pb::Channel::CustomerPortal as i32],
            ..Default::default()
        })
        .await
        .expect("the administrator creates a contact")
        .into_inner()
        .profile
        .unwrap()
}

async fn allow_user_types(suite: &Suite, classes: &[pb::UserClass]) {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .update_settings(masked!(
            pb::UpdateSettingsRequest {
                settings: Some(pb::Settings {
                    consumer_allowed_user_types: classes.iter().map(|class| *class as i32).collect(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["consumer_allowed_user_types"]
        ))
        .await
        .expect("settings updated");
}

async fn set_consumer_user(
    suite: &Suite,
    consumer_id: &str,
    profile_id: &str,
) -> Result<pb::SetConsumerUserResponse, tonic::Status> {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .set_consumer_user(pb::SetConsumerUserRequest {
            consumer_id: consumer_id.to_owned(),
            profile_id: profile_id.to_owned(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn get_consumer(suite: &Suite, consumer_id: &str) -> pb::Consumer {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .get_consumer(pb::GetConsumerRequest { consumer_id: consumer_id.to_owned() })
        .await
        .expect("the consumer reads")
        .into_inner()
        .consumer
        .unwrap()
}

async fn get_profile(suite: &Suite, profile_id: &str) -> pb::Profile {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .get_profile(pb::GetProfileRequest { profile_id: profile_id.to_owned() })
        .await
        .expect("the profile reads")
        .into_inner()
        .profile
        .unwrap()
}

async fn create_household(suite: &Suite, name: &str, head_consumer_id: &str) -> pb::CreateHouseholdResponse {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_household(pb::CreateHouseholdRequest {
            request_id: String::new(),
            name: name.to_owned(),
            head_consumer_id: head_consumer_id.to_owned(),
        })
        .await
        .expect("the administrator creates a household")
        .into_inner()
}

async fn set_membership(
    suite: &Suite,
    household_id: &str,
    consumer_id: &str,
    status: pb::HouseholdMemberStatus,
) -> Result<pb::SetHouseholdMembershipResponse, tonic::Status> {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .set_household_membership(pb::SetHouseholdMembershipRequest {
            household_id: household_id.to_owned(),
            consumer_id: consumer_id.to_owned(),
            status: status as i32,
        })
        .await
        .map(|response| response.into_inner())
}

async fn members(suite: &Suite, household_id: &str, include_former: bool) -> Vec<pb::HouseholdMember> {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .list_household_members(pb::ListHouseholdMembersRequest {
            household_id: household_id.to_owned(),
            include_former,
            ..Default::default()
        })
        .await
        .expect("members list")
        .into_inner()
        .members
}

async fn households_of(suite: &Suite, consumer_id: &str, include_former: bool) -> Vec<String> {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .list_households(pb::ListHouseholdsRequest {
            member_consumer_id: consumer_id.to_owned(),
            include_former,
            ..Default::default()
        })
        .await
        .expect("households list")
        .into_inner()
        .households
        .into_iter()
        .map(|household| household.household_id)
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

// ------------------------------------------------------------ SPEC rules

backend_test!(r1_3_linking_a_consumer_to_an_internal_user_needs_sys_user_in_the_allowed_types, |suite| {
    let employee = create_employee(suite, "Erin").await;
    let consumer = create_consumer(suite, "Erin").await;

    // Given allowed types = {consumer_user}, linking to an internal user is refused.
    let status = set_consumer_user(suite, &consumer.consumer_id, &employee.profile_id).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "USER_TYPE_NOT_ALLOWED");
    assert_eq!(get_consumer(suite, &consumer.consumer_id).await.user_profile_id, "");

    // After adding sys_user to the allowed types, the same call succeeds.
    allow_user_types(suite, &[pb::UserClass::ConsumerUser, pb::UserClass::SysUser]).await;
    let linked = set_consumer_user(suite, &consumer.consumer_id, &employee.profile_id).await.expect("linked");
    assert_eq!(linked.consumer.unwrap().user_profile_id, employee.profile_id);
    assert_eq!(linked.user_profile.unwrap().consumer_id, consumer.consumer_id);
    assert_eq!(get_profile(suite, &employee.profile_id).await.consumer_id, consumer.consumer_id);
    let change = suite.identity_change(&linked.consistency_token).await;
    assert_eq!(change.entity_type, "profile");
    assert_eq!(change.attributes.get("consumer_id"), Some(&consumer.consumer_id));
    let consumer_changes = changes_until(suite, "consumer", &linked.consistency_token).await;
    let last = consumer_changes.last().expect("the consumer change");
    assert_eq!(last.entity_id, consumer.consumer_id);
    assert_eq!(last.attributes.get("profile_id"), Some(&employee.profile_id));

    // Narrowing the allowed types later does not break the existing link.
    allow_user_types(suite, &[pb::UserClass::ConsumerUser]).await;
    assert_eq!(get_consumer(suite, &consumer.consumer_id).await.user_profile_id, employee.profile_id);
    let again = set_consumer_user(suite, &consumer.consumer_id, &employee.profile_id).await.expect("unchanged link");
    assert_eq!(again.consumer.unwrap().user_profile_id, employee.profile_id);
});

backend_test!(r1_5_a_household_has_a_head_and_a_consumer_may_belong_to_several, |suite| {
    let ann = create_consumer(suite, "Ann").await;
    let bob = create_consumer(suite, "Bob").await;
    let lees = create_household(suite, "The Lees", &ann.consumer_id).await.household.unwrap();
    assert_eq!(lees.head_consumer_id, ann.consumer_id);
    assert!(lees.active);

    // The head is the first current member.
    let current = members(suite, &lees.household_id, false).await;
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].consumer_id, ann.consumer_id);
    assert!(current[0].head);
    assert_eq!(current[0].status, pb::HouseholdMemberStatus::Current as i32);

    // A consumer may belong to more than one household.
    let kims = create_household(suite, "The Kims", &bob.consumer_id).await.household.unwrap();
    let joined =
        set_membership(suite, &kims.household_id, &ann.consumer_id, pb::HouseholdMemberStatus::Current).await.unwrap();
    assert!(!joined.member.unwrap().head);
    assert_eq!(
        households_of(suite, &ann.consumer_id, false).await,
        sorted(vec![lees.household_id.clone(), kims.household_id.clone()])
    );
    let token = suite.admin_token();
    let headed = suite
        .identity(Some(&token))
        .list_households(pb::ListHouseholdsRequest { head_consumer_id: ann.consumer_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .households;
    assert_eq!(
        headed.iter().map(|household| household.household_id.clone()).collect::<Vec<_>>(),
        vec![lees.household_id.clone()]
    );

    // The head must be a current member.
    let make_bob_head = masked!(
        pb::UpdateHouseholdRequest {
            household: Some(pb::Household {
                household_id: lees.household_id.clone(),
                head_consumer_id: bob.consumer_id.clone(),
                ..Default::default()
            }),
            update_mask: None,
        },
        ["head_consumer_id"]
    );
    let status = suite.identity(Some(&token)).update_household(make_bob_head.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "HEAD_NOT_CURRENT_MEMBER");
    set_membership(suite, &lees.household_id, &bob.consumer_id, pb::HouseholdMemberStatus::Current).await.unwrap();
    let updated = suite.identity(Some(&token)).update_household(make_bob_head).await.expect("new head").into_inner();
    assert_eq!(updated.household.unwrap().head_consumer_id, bob.consumer_id);
    let change = suite.identity_change(&updated.consistency_token).await;
    assert_eq!(change.entity_type, "household");
    assert_eq!(change.attributes.get("head_consumer_id"), Some(&bob.consumer_id));
    assert_eq!(change.attributes.get("previous_head_consumer_id"), Some(&ann.consumer_id));
    let heads: Vec<(String, bool)> = members(suite, &lees.household_id, false)
        .await
        .into_iter()
        .map(|member| (member.consumer_id, member.head))
        .collect();
    assert!(heads.contains(&(bob.consumer_id.clone(), true)));
    assert!(heads.contains(&(ann.consumer_id.clone(), false)));
});

backend_test!(r1_11_a_contact_becomes_a_consumer_once_customer_contact_is_allowed, |suite| {
    let contact = create_contact(suite, "Kim").await;
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let link_contact = pb::CreateConsumerRequest {
        details: person("Kim", "Contact"),
        user: Some(pb::create_consumer_request::User::LinkProfileId(contact.profile_id.clone())),
        ..Default::default()
    };
    let status = identity.create_consumer(link_contact.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "USER_TYPE_NOT_ALLOWED");

    allow_user_types(suite, &[pb::UserClass::ConsumerUser, pb::UserClass::CustomerContact]).await;
    let created = identity.create_consumer(link_contact).await.expect("contact-as-consumer").into_inner();
    let consumer = created.consumer.unwrap();
    assert_eq!(consumer.user_profile_id, contact.profile_id);
    let linked = created.user_profile.unwrap();
    assert_eq!(linked.kind, pb::ProfileKind::Contact as i32);
    assert_eq!(linked.consumer_id, consumer.consumer_id);

    // One login for both portals: the linked contact may now hold the consumer portal.
    let both = identity
        .update_profile(masked!(
            pb::UpdateProfileRequest {
                profile: Some(pb::Profile {
                    profile_id: contact.profile_id.clone(),
                    channels: vec![pb::Channel::CustomerPortal as i32, pb::Channel::ConsumerPortal as i32],
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["channels"]
        ))
        .await
        .expect("the linked contact gets the consumer portal")
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(both.channels.len(), 2);

    // Unlinking takes the consumer portal away again (it needs the link).
    let unlinked = set_consumer_user(suite, &consumer.consumer_id, "").await.expect("unlinked");
    assert_eq!(unlinked.consumer.unwrap().user_profile_id, "");
    assert!(unlinked.user_profile.is_none());
    let after = get_profile(suite, &contact.profile_id).await;
    assert_eq!(after.consumer_id, "");
    assert_eq!(after.channels, vec![pb::Channel::CustomerPortal as i32]);
});

backend_test!(r1_12_an_employee_gets_a_consumer_record_before_the_unified_consumer_role, |suite| {
    allow_user_types(suite, &[pb::UserClass::ConsumerUser, pb::UserClass::SysUser]).await;
    let employee = create_employee(suite, "Eve").await;
    let token = suite.admin_token();
    let created = suite
        .identity(Some(&token))
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Eve", "Staff"),
            user: Some(pb::create_consumer_request::User::LinkProfileId(employee.profile_id.clone())),
            ..Default::default()
        })
        .await
        .expect("the consumer record comes first")
        .into_inner();
    let consumer = created.consumer.unwrap();
    let listed = suite
        .identity(Some(&token))
        .list_consumers(pb::ListConsumersRequest { user_profile_id: employee.profile_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .consumers;
    assert_eq!(
        listed.iter().map(|consumer| consumer.consumer_id.clone()).collect::<Vec<_>>(),
        vec![consumer.consumer_id.clone()]
    );

    // Then the role; the principal carries the consumer record.
    let employee_id = ProfileId::parse(&employee.profile_id).unwrap();
    suite.assign_role(employee_id, roles::UNIFIED_CONSUMER).await.expect("unified_consumer assigned");
    let principal = suite
        .identity(Some(&token))
        .resolve_principal(pb::ResolvePrincipalRequest {
            principal: Some(pb::resolve_principal_request::Principal::ProfileId(employee.profile_id.clone())),
        })
        .await
        .expect("the principal resolves")
        .into_inner()
        .principal
        .unwrap();
    assert_eq!(principal.consumer.unwrap().consumer_id, consumer.consumer_id);
    assert_eq!(principal.profile.unwrap().kind, pb::ProfileKind::Internal as i32);
});

backend_test!(r1_17_each_consumer_profile_of_a_consumer_user_gets_a_sub_profile, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let created = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Pat", "Ient"),
            user: new_consumer_user(
                &[pb::Channel::ConsumerPortal],
                Some(pb::new_consumer_user::Login::NewLogin(pb::NewLogin {
                    login_name: "pat@example.com".into(),
                    password: "correct horse battery".into(),
                })),
            ),
            ..Default::default()
        })
        .await
        .expect("a consumer user with a login")
        .into_inner();
    let consumer = created.consumer.unwrap();
    let user = created.user_profile.unwrap();
    assert!(!user.login_id.is_empty());

    let mut records = Vec::new();
    for sub_profile_type in ["patient", "constituent"] {
        let response = identity
            .create_consumer_profile(pb::CreateConsumerProfileRequest {
                request_id: String::new(),
                consumer_id: consumer.consumer_id.clone(),
                sub_profile_type: sub_profile_type.into(),
                display_name: String::new(),
            })
            .await
            .expect("a consumer profile")
            .into_inner();
        let record = response.consumer_profile.unwrap();
        let sub_profile = response.sub_profile.expect("a sub-profile for a consumer user");
        assert_eq!(record.display_name, format!("Pat Ient ({sub_profile_type})"));
        assert_eq!(record.profile_id, sub_profile.profile_id);
        assert_eq!(sub_profile.kind, pb::ProfileKind::ConsumerSubProfile as i32);
        assert_eq!(sub_profile.parent_profile_id, user.profile_id);
        assert_eq!(sub_profile.login_id, user.login_id);
        assert_eq!(sub_profile.consumer_id, consumer.consumer_id);
        assert_eq!(sub_profile.consumer_profile_id, record.consumer_profile_id);
        assert_eq!(sub_profile.sub_profile_type, sub_profile_type);
        assert_eq!(sub_profile.channels, vec![pb::Channel::ConsumerPortal as i32], "its parent's channels");
        let change = suite.identity_change(&response.consistency_token).await;
        assert_eq!(change.entity_type, "consumer_profile");
        assert_eq!(change.attributes.get("profile_id"), Some(&sub_profile.profile_id));
        records.push(record);
    }

    let listed = identity
        .list_consumer_profiles(pb::ListConsumerProfilesRequest {
            consumer_id: consumer.consumer_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .consumer_profiles;
    assert_eq!(listed, records);
    let by_id = identity
        .list_consumer_profiles(pb::ListConsumerProfilesRequest {
            consumer_profile_ids: vec![records[1].consumer_profile_id.clone()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .consumer_profiles;
    assert_eq!(by_id, vec![records[1].clone()]);

    // The sub-profile resolves to its consumer profile.
    let principal = identity
        .resolve_principal(pb::ResolvePrincipalRequest {
            principal: Some(pb::resolve_principal_request::Principal::ProfileId(records[0].profile_id.clone())),
        })
        .await
        .expect("the sub-profile resolves")
        .into_inner()
        .principal
        .unwrap();
    assert_eq!(principal.consumer_profile.unwrap().consumer_profile_id, records[0].consumer_profile_id);
    assert_eq!(principal.consumer.unwrap().consumer_id, consumer.consumer_id);

    // Deactivating the record deactivates its sub-profile; the type follows too.
    let updated = identity
        .update_consumer_profile(masked!(
            pb::UpdateConsumerProfileRequest {
                consumer_profile: Some(pb::ConsumerProfile {
                    consumer_profile_id: records[0].consumer_profile_id.clone(),
                    sub_profile_type: "outpatient".into(),
                    active: false,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["sub_profile_type", "active"]
        ))
        .await
        .expect("deactivated")
        .into_inner()
        .consumer_profile
        .unwrap();
    assert!(!updated.active);
    let sub_profile = get_profile(suite, &records[0].profile_id).await;
    assert!(!sub_profile.active);
    assert_eq!(sub_profile.sub_profile_type, "outpatient");
    let active_only = identity
        .list_consumer_profiles(pb::ListConsumerProfilesRequest {
            consumer_id: consumer.consumer_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .consumer_profiles;
    assert_eq!(active_only.len(), 1);

    // A consumer without a consumer-user profile gets the record only.
    let plain = create_consumer(suite, "Plain").await;
    let response = identity
        .create_consumer_profile(pb::CreateConsumerProfileRequest {
            consumer_id: plain.consumer_id,
            sub_profile_type: "patient".into(),
            display_name: "Plain at the clinic".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(response.sub_profile.is_none());
    let record = response.consumer_profile.unwrap();
    assert_eq!(record.profile_id, "");
    assert_eq!(record.display_name, "Plain at the clinic");
});

backend_test!(r1_18_a_consumer_update_reaches_its_consumer_user_profile_only, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let created = create_consumer_user(suite, "Sam").await;
    let consumer = created.consumer.unwrap();
    let user = created.user_profile.unwrap();

    let update = |consumer_id: &str, details: pb::PersonDetails, paths: &[&str]| {
        let mut request = pb::UpdateConsumerRequest {
            consumer: Some(pb::Consumer {
                consumer_id: consumer_id.to_owned(),
                details: Some(details),
                ..Default::default()
            }),
            update_mask: None,
        };
        request = masked!(request, []);
        if let Some(mask) = request.update_mask.as_mut() {
            mask.paths = paths.iter().map(|path| path.to_string()).collect();
        }
        request
    };
    let new_details = pb::PersonDetails {
        first_name: "Samantha".into(),
        last_name: "Stone".into(),
        email: "sam@stone.example".into(),
        mobile_phone: "+1 555 0100".into(),
        ..Default::default()
    };
    let response = identity
        .update_consumer(update(
            &consumer.consumer_id,
            new_details.clone(),
            &["details.email", "details.mobile_phone", "details.last_name"],
        ))
        .await
        .expect("updated")
        .into_inner();
    let updated = response.consumer.unwrap();
    let details = updated.details.unwrap();
    assert_eq!(details.email, "sam@stone.example");
    assert_eq!(details.first_name, "Sam", "not in the mask");
    let synced = response.synced_profile.expect("the consumer-user profile is synchronized");
    assert_eq!(synced.profile_id, user.profile_id);
    let synced_details = get_profile(suite, &user.profile_id).await.details.unwrap();
    assert_eq!(synced_details.email, "sam@stone.example");
    assert_eq!(synced_details.mobile_phone, "+1 555 0100");
    assert_eq!(synced_details.last_name, "Stone");
    assert_eq!(synced_details.first_name, "Sam");
    let change = suite.identity_change(&response.consistency_token).await;
    assert_eq!(change.entity_type, "profile");
    assert_eq!(change.entity_id, user.profile_id);

    // Changing only the active flag synchronizes nothing.
    let response = identity
        .update_consumer(masked!(
            pb::UpdateConsumerRequest {
                consumer: Some(pb::Consumer {
                    consumer_id: consumer.consumer_id.clone(),
                    active: true,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(response.synced_profile.is_none());

    // An employee linked as consumer keeps its own data.
    allow_user_types(suite, &[pb::UserClass::ConsumerUser, pb::UserClass::SysUser]).await;
    let employee = create_employee(suite, "Ed").await;
    let linked = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Ed", "Staff"),
            user: Some(pb::create_consumer_request::User::LinkProfileId(employee.profile_id.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .consumer
        .unwrap();
    let response = identity
        .update_consumer(update(&linked.consumer_id, new_details, &["details"]))
        .await
        .expect("updated")
        .into_inner();
    assert!(response.synced_profile.is_none());
    assert_eq!(response.consumer.unwrap().details.unwrap().first_name, "Samantha");
    let untouched = get_profile(suite, &employee.profile_id).await.details.unwrap();
    assert_eq!(untouched.first_name, "Ed");
    assert_eq!(untouched.email, "ed.staff@example.com");
});

backend_test!(r4_11_leaving_a_household_is_published_for_account_team, |suite| {
    let head = create_consumer(suite, "Hana").await;
    let member = create_consumer(suite, "Milo").await;
    let household = create_household(suite, "The Parks", &head.consumer_id).await.household.unwrap();
    let joined =
        set_membership(suite, &household.household_id, &member.consumer_id, pb::HouseholdMemberStatus::Current)
            .await
            .unwrap();
    let joined_at = joined.member.unwrap().joined_at;

    let left = set_membership(suite, &household.household_id, &member.consumer_id, pb::HouseholdMemberStatus::Former)
        .await
        .expect("left");
    let former = left.member.unwrap();
    assert_eq!(former.status, pb::HouseholdMemberStatus::Former as i32);
    assert!(former.left_at.is_some());
    assert_eq!(former.joined_at, joined_at);

    // The feed tells account-team which consumer left which household.
    let change = suite.identity_change(&left.consistency_token).await;
    assert_eq!(change.entity_type, "household_member");
    assert_eq!(change.entity_id, format!("{}/{}", household.household_id, member.consumer_id));
    assert_eq!(change.attributes.get("household_id"), Some(&household.household_id));
    assert_eq!(change.attributes.get("consumer_id"), Some(&member.consumer_id));
    assert_eq!(change.attributes.get("status").map(String::as_str), Some("former"));
    assert_eq!(change.attributes.get("previous_status").map(String::as_str), Some("current"));

    // Former members are listed only on request.
    let current: Vec<String> =
        members(suite, &household.household_id, false).await.into_iter().map(|m| m.consumer_id).collect();
    assert_eq!(current, vec![head.consumer_id.clone()]);
    assert_eq!(members(suite, &household.household_id, true).await.len(), 2);
    assert!(households_of(suite, &member.consumer_id, false).await.is_empty());
    assert_eq!(households_of(suite, &member.consumer_id, true).await, vec![household.household_id.clone()]);

    // Leaving twice changes nothing; the head cannot leave; a stranger was never a member.
    let again = set_membership(suite, &household.household_id, &member.consumer_id, pb::HouseholdMemberStatus::Former)
        .await
        .expect("already former");
    assert_eq!(again.member.unwrap().left_at, former.left_at);
    let status = set_membership(suite, &household.household_id, &head.consumer_id, pb::HouseholdMemberStatus::Former)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "HEAD_OF_HOUSEHOLD");
    let stranger = create_consumer(suite, "Stan").await;
    let status =
        set_membership(suite, &household.household_id, &stranger.consumer_id, pb::HouseholdMemberStatus::Former)
            .await
            .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "HOUSEHOLD_MEMBER_NOT_FOUND");

    // Re-admission starts a new membership.
    let back = set_membership(suite, &household.household_id, &member.consumer_id, pb::HouseholdMemberStatus::Current)
        .await
        .expect("re-admitted")
        .member
        .unwrap();
    assert_eq!(back.status, pb::HouseholdMemberStatus::Current as i32);
    assert!(back.left_at.is_none());
    assert!(back.joined_at.unwrap().seconds >= joined_at.unwrap().seconds);
});

backend_test!(r2_14_a_new_consumer_user_is_given_snc_external, |suite| {
    let created = create_consumer_user(suite, "Rex").await;
    let user = created.user_profile.unwrap();
    assert_eq!(user.kind, pb::ProfileKind::Consumer as i32);
    assert_eq!(user.user_class, pb::UserClass::ConsumerUser as i32);
    let roles = suite.effective_roles(ProfileId::parse(&user.profile_id).unwrap()).await;
    assert!(roles.contains(&roles::SNC_EXTERNAL.to_owned()), "{roles:?}");
});

// ------------------------------------------------------------ links

backend_test!(a_profile_is_linked_to_one_consumer_and_a_consumer_user_keeps_its_consumer, |suite| {
    let first = create_consumer_user(suite, "Lou").await;
    let consumer = first.consumer.unwrap();
    let user = first.user_profile.unwrap();
    assert_eq!(user.consumer_id, consumer.consumer_id);
    assert_eq!(consumer.user_profile_id, user.profile_id);

    let other = create_consumer(suite, "Other").await;
    let status = set_consumer_user(suite, &other.consumer_id, &user.profile_id).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "PROFILE_ALREADY_LINKED");

    // A CONSUMER profile cannot lose its consumer, neither by unlinking nor by replacement.
    let status = set_consumer_user(suite, &consumer.consumer_id, "").await.unwrap_err();
    assert_eq!(reason_of(&status), "CONSUMER_LINK_REQUIRED");
    allow_user_types(suite, &[pb::UserClass::ConsumerUser, pb::UserClass::SysUser]).await;
    let employee = create_employee(suite, "Emp").await;
    let status = set_consumer_user(suite, &consumer.consumer_id, &employee.profile_id).await.unwrap_err();
    assert_eq!(reason_of(&status), "CONSUMER_LINK_REQUIRED");
    assert_eq!(get_consumer(suite, &consumer.consumer_id).await.user_profile_id, user.profile_id);

    // Moving an employee link from one consumer to another needs it unlinked first.
    let linked = set_consumer_user(suite, &other.consumer_id, &employee.profile_id).await.expect("linked");
    let change = suite.identity_change(&linked.consistency_token).await;
    assert_eq!(change.attributes.get("consumer_id"), Some(&other.consumer_id));
    let third = create_consumer(suite, "Third").await;
    let status = set_consumer_user(suite, &third.consumer_id, &employee.profile_id).await.unwrap_err();
    assert_eq!(reason_of(&status), "PROFILE_ALREADY_LINKED");
    set_consumer_user(suite, &other.consumer_id, "").await.expect("unlinked");
    let relinked = set_consumer_user(suite, &third.consumer_id, &employee.profile_id).await.expect("relinked");
    assert_eq!(relinked.user_profile.unwrap().consumer_id, third.consumer_id);

    let status = set_consumer_user(suite, &third.consumer_id, &uuid::Uuid::now_v7().to_string()).await.unwrap_err();
    assert_eq!(reason_of(&status), "PROFILE_NOT_FOUND");
    let status = set_consumer_user(suite, &uuid::Uuid::now_v7().to_string(), "").await.unwrap_err();
    assert_eq!(reason_of(&status), "CONSUMER_NOT_FOUND");
});

backend_test!(a_new_consumer_user_holds_the_consumer_portal_with_a_customer_group_and_a_login, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let customers = identity
        .create_security_group(pb::CreateSecurityGroupRequest {
            name: "Consumers".into(),
            kind: pb::SecurityGroupKind::Customer as i32,
            presentation_roles: vec!["Self Service".into()],
            default_group: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .security_group
        .unwrap();
    let agents = identity
        .create_security_group(pb::CreateSecurityGroupRequest {
            name: "Agents".into(),
            kind: pb::SecurityGroupKind::User as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .security_group
        .unwrap();

    // A portal channel without a group gets the default CUSTOMER group (R1.8).
    let created = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Gia", "Group"),
            user: new_consumer_user(
                &[pb::Channel::ConsumerPortal],
                Some(pb::new_consumer_user::Login::NewLogin(pb::NewLogin {
                    login_name: "Gia@Example.com".into(),
                    password: String::new(),
                })),
            ),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    let user = created.user_profile.unwrap();
    assert_eq!(user.security_group_id, customers.security_group_id);
    assert_eq!(user.channels, vec![pb::Channel::ConsumerPortal as i32]);
    assert_eq!(user.display_name, "Gia Group");

    // A second consumer-user may join the same login (R1.10a); login names are unique.
    let joined = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Gia", "Second"),
            user: new_consumer_user(&[], Some(pb::new_consumer_user::Login::LoginId(user.login_id.clone()))),
            ..Default::default()
        })
        .await
        .expect("joined the login")
        .into_inner()
        .user_profile
        .unwrap();
    assert_eq!(joined.login_id, user.login_id);
    assert_eq!(joined.security_group_id, "", "no portal channel, no group yet");
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Gia", "Third"),
            user: new_consumer_user(
                &[],
                Some(pb::new_consumer_user::Login::NewLogin(pb::NewLogin {
                    login_name: "gia@example.com".into(),
                    password: String::new(),
                })),
            ),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason_of(&status), "LOGIN_NAME_TAKEN");
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Gia", "Fourth"),
            user: new_consumer_user(&[], Some(pb::new_consumer_user::Login::LoginId(uuid::Uuid::now_v7().to_string()))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "LOGIN_NOT_FOUND");

    // Only the consumer portal, and only a CUSTOMER group.
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Bad", "Channel"),
            user: new_consumer_user(&[pb::Channel::CustomerPortal], None),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "CHANNEL_NOT_ALLOWED_FOR_PROFILE");
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Bad", "Group"),
            user: Some(pb::create_consumer_request::User::NewConsumerUser(pb::NewConsumerUser {
                channels: vec![pb::Channel::ConsumerPortal as i32],
                security_group_id: agents.security_group_id.clone(),
                login: None,
            })),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "SECURITY_GROUP_KIND_MISMATCH");
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("Bad", "Password"),
            user: new_consumer_user(
                &[],
                Some(pb::new_consumer_user::Login::NewLogin(pb::NewLogin {
                    login_name: "short@example.com".into(),
                    password: "x".into(),
                })),
            ),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "PASSWORD_POLICY");

    // Nothing of the refused requests was written.
    let listed = identity.list_consumers(pb::ListConsumersRequest::default()).await.unwrap().into_inner().consumers;
    assert_eq!(listed.len(), 2);
});

// ------------------------------------------------------------ retries, input, lists

backend_test!(creates_with_a_request_id_are_idempotent, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let request = pb::CreateConsumerRequest {
        request_id: "consumer-1".into(),
        details: person("Ida", "Empotent"),
        user: new_consumer_user(&[pb::Channel::ConsumerPortal], None),
        ..Default::default()
    };
    let first = identity.create_consumer(request.clone()).await.expect("created").into_inner();
    let second = identity.create_consumer(request).await.expect("replayed").into_inner();
    assert_eq!(first.consumer, second.consumer);
    assert_eq!(
        first.user_profile.as_ref().map(|profile| profile.profile_id.clone()),
        second.user_profile.map(|profile| profile.profile_id)
    );
    assert_eq!(first.consistency_token, second.consistency_token);
    let consumers = identity.list_consumers(pb::ListConsumersRequest::default()).await.unwrap().into_inner().consumers;
    assert_eq!(consumers.len(), 1);
    let consumer_id = first.consumer.unwrap().consumer_id;

    let household = pb::CreateHouseholdRequest {
        request_id: "household-1".into(),
        name: "Empotents".into(),
        head_consumer_id: consumer_id.clone(),
    };
    let first = identity.create_household(household.clone()).await.unwrap().into_inner();
    let second = identity.create_household(household).await.unwrap().into_inner();
    assert_eq!(first.household, second.household);

    let record = pb::CreateConsumerProfileRequest {
        request_id: "record-1".into(),
        consumer_id,
        sub_profile_type: "patient".into(),
        display_name: String::new(),
    };
    let first = identity.create_consumer_profile(record.clone()).await.unwrap().into_inner();
    let second = identity.create_consumer_profile(record).await.unwrap().into_inner();
    assert_eq!(first.consumer_profile, second.consumer_profile);
    assert_eq!(
        first.sub_profile.map(|profile| profile.profile_id),
        second.sub_profile.map(|profile| profile.profile_id)
    );
});

backend_test!(consumer_requests_name_every_bad_field, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: Some(pb::PersonDetails { email: "e".repeat(201), ..Default::default() }),
            user: Some(pb::create_consumer_request::User::NewConsumerUser(pb::NewConsumerUser {
                channels: vec![0],
                security_group_id: "group".into(),
                login: Some(pb::new_consumer_user::Login::LoginId("login".into())),
            })),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "details.email",
            "display_name",
            "new_consumer_user.channels[0]",
            "new_consumer_user.login_id",
            "new_consumer_user.security_group_id",
        ]
    );
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("No", "Body"),
            user: Some(pb::create_consumer_request::User::LinkProfileId("nobody".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["link_profile_id"]);
    let status = identity
        .create_consumer(pb::CreateConsumerRequest {
            details: person("No", "Body"),
            user: Some(pb::create_consumer_request::User::LinkProfileId(uuid::Uuid::now_v7().to_string())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "PROFILE_NOT_FOUND");

    let consumer = create_consumer(suite, "Val").await;
    let status = identity
        .update_consumer(masked!(
            pb::UpdateConsumerRequest {
                consumer: Some(pb::Consumer { consumer_id: consumer.consumer_id.clone(), ..Default::default() }),
                update_mask: None,
            },
            ["user_profile_id"]
        ))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "FIELD_NOT_UPDATABLE");
    let status = identity
        .update_consumer(masked!(
            pb::UpdateConsumerRequest {
                consumer: Some(pb::Consumer { consumer_id: consumer.consumer_id.clone(), ..Default::default() }),
                update_mask: None,
            },
            ["display_name"]
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["consumer.display_name"]);
    let status = identity
        .get_consumer(pb::GetConsumerRequest { consumer_id: uuid::Uuid::now_v7().to_string() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "CONSUMER_NOT_FOUND");

    let status = identity
        .create_household(pb::CreateHouseholdRequest {
            name: " ".into(),
            head_consumer_id: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["head_consumer_id", "name"]);
    let status = identity
        .create_household(pb::CreateHouseholdRequest {
            name: "Ghosts".into(),
            head_consumer_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "CONSUMER_NOT_FOUND");
    let status = identity
        .get_household(pb::GetHouseholdRequest { household_id: uuid::Uuid::now_v7().to_string() })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "HOUSEHOLD_NOT_FOUND");
    let status = identity
        .list_household_members(pb::ListHouseholdMembersRequest {
            household_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "HOUSEHOLD_NOT_FOUND");
    let status = identity
        .set_household_membership(pb::SetHouseholdMembershipRequest {
            household_id: uuid::Uuid::now_v7().to_string(),
            consumer_id: consumer.consumer_id.clone(),
            status: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["status"]);

    let status = identity.list_consumer_profiles(pb::ListConsumerProfilesRequest::default()).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["consumer_id"]);
    let status = identity
        .create_consumer_profile(pb::CreateConsumerProfileRequest {
            consumer_id: uuid::Uuid::now_v7().to_string(),
            sub_profile_type: "patient".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "CONSUMER_NOT_FOUND");
    let status = identity
        .update_consumer_profile(masked!(
            pb::UpdateConsumerProfileRequest {
                consumer_profile: Some(pb::ConsumerProfile {
                    consumer_profile_id: uuid::Uuid::now_v7().to_string(),
                    active: false,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "CONSUMER_PROFILE_NOT_FOUND");
});

backend_test!(consumers_list_by_email_and_in_pages, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let mut created = Vec::new();
    for name in ["Ava", "Ben", "Cy", "Di", "Ed"] {
        created.push(create_consumer(suite, name).await.consumer_id);
    }
    let by_email = identity
        .list_consumers(pb::ListConsumersRequest { email: "CY.DOE@Example.COM".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .consumers;
    assert_eq!(
        by_email.iter().map(|consumer| consumer.consumer_id.clone()).collect::<Vec<_>>(),
        vec![created[2].clone()]
    );

    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = identity
            .list_consumers(pb::ListConsumersRequest {
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.consumers.len() <= 2);
        seen.extend(page.consumers.into_iter().map(|consumer| consumer.consumer_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, created, "every consumer once, ordered by id");

    // Inactive consumers are listed only on request.
    identity
        .update_consumer(masked!(
            pb::UpdateConsumerRequest {
                consumer: Some(pb::Consumer { consumer_id: created[0].clone(), active: false, ..Default::default() }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .unwrap();
    let active = identity.list_consumers(pb::ListConsumersRequest::default()).await.unwrap().into_inner().consumers;
    assert_eq!(active.len(), 4);
    let all = identity
        .list_consumers(pb::ListConsumersRequest { include_inactive: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .consumers;
    assert_eq!(all.len(), 5);

    // Household members page by consumer id.
    let household = create_household(suite, "Many", &created[1]).await.household.unwrap();
    for consumer in &created[2..] {
        set_membership(suite, &household.household_id, consumer, pb::HouseholdMemberStatus::Current).await.unwrap();
    }
    let first = identity
        .list_household_members(pb::ListHouseholdMembersRequest {
            household_id: household.household_id.clone(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.members.len(), 3);
    let rest = identity
        .list_household_members(pb::ListHouseholdMembersRequest {
            household_id: household.household_id.clone(),
            page_size: 3,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.members.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let all_members: Vec<String> =
        first.members.into_iter().chain(rest.members).map(|member| member.consumer_id).collect();
    assert_eq!(all_members, created[1..].to_vec());
});

// ------------------------------------------------------------ concurrency

backend_test!(concurrent_links_of_one_profile_leave_exactly_one_link, |suite| {
    allow_user_types(suite, &[pb::UserClass::ConsumerUser, pb::UserClass::SysUser]).await;
    let employee = create_employee(suite, "Cody").await;
    let mut consumers = Vec::new();
    for index in 0..6 {
        consumers.push(create_consumer(suite, &format!("Racer{index}")).await.consumer_id);
    }
    let attempts = consumers.iter().map(|consumer| set_consumer_user(suite, consumer, &employee.profile_id));
    let results = futures::future::join_all(attempts).await;
    let linked: Vec<&String> =
        consumers.iter().zip(&results).filter(|(_, result)| result.is_ok()).map(|(consumer, _)| consumer).collect();
    assert_eq!(linked.len(), 1, "{results:?}");
    for status in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(reason_of(status), "PROFILE_ALREADY_LINKED", "{status:?}");
    }
    assert_eq!(&get_profile(suite, &employee.profile_id).await.consumer_id, linked[0]);
});

backend_test!(concurrent_joins_of_one_household_all_land, |suite| {
    let head = create_consumer(suite, "Head").await;
    let household = create_household(suite, "Crowd", &head.consumer_id).await.household.unwrap();
    let mut joiners = Vec::new();
    for index in 0..8 {
        joiners.push(create_consumer(suite, &format!("Joiner{index}")).await.consumer_id);
    }
    let joins = joiners
        .iter()
        .map(|consumer| set_membership(suite, &household.household_id, consumer, pb::HouseholdMemberStatus::Current));
    for result in futures::future::join_all(joins).await {
        result.expect("every join lands");
    }
    assert_eq!(members(suite, &household.household_id, false).await.len(), 9);
});

// ------------------------------------------------------------ who may

backend_test!(consumer_changes_and_reads_need_a_consumer_role, |suite| {
    let consumer = create_consumer(suite, "Rita").await;
    let household = create_household(suite, "Readers", &consumer.consumer_id).await.household.unwrap();

    let nobody = csm_tests::world::nobody(suite).await.1;
    let mut identity = suite.identity(Some(&nobody));
    let status = identity
        .create_consumer(pb::CreateConsumerRequest { details: person("No", "Role"), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    let status = set_membership_as(&mut identity, &household.household_id, &consumer.consumer_id).await.unwrap_err();
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    // Consumers' personal data is not for internal people without a consumer-facing role.
    let status =
        identity.get_consumer(pb::GetConsumerRequest { consumer_id: consumer.consumer_id.clone() }).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::PermissionDenied, "MISSING_ROLE".to_owned()));
    let status = identity
        .get_household(pb::GetHouseholdRequest { household_id: household.household_id.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // A consumer agent may change consumer data.
    let (_, agent_token) = csm_tests::world::person_with_roles(suite, &[roles::CONSUMER_AGENT]).await;
    let mut identity = suite.identity(Some(&agent_token));
    identity
        .create_consumer(pb::CreateConsumerRequest { details: person("By", "Agent"), ..Default::default() })
        .await
        .expect("the consumer agent creates a consumer");
    identity
        .get_consumer(pb::GetConsumerRequest { consumer_id: consumer.consumer_id.clone() })
        .await
        .expect("the consumer agent reads consumers");
    let other = create_consumer(suite, "Otto").await;
    set_membership_as(&mut identity, &household.household_id, &other.consumer_id)
        .await
        .expect("the agent adds a member");

    // Services read households (static policy) but do not change them.
    let service = suite.service_token(ServiceName::AccountTeam);
    let mut identity = suite.identity(Some(&service));
    identity
        .list_household_members(pb::ListHouseholdMembersRequest {
            household_id: household.household_id.clone(),
            ..Default::default()
        })
        .await
        .expect("account-team reads household members");
    let status = set_membership_as(&mut identity, &household.household_id, &consumer.consumer_id).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

async fn set_membership_as(
    identity: &mut pb::identity_service_client::IdentityServiceClient<csm_tests::TestChannel>,
    household_id: &str,
    consumer_id: &str,
) -> Result<pb::SetHouseholdMembershipResponse, tonic::Status> {
    identity
        .set_household_membership(pb::SetHouseholdMembershipRequest {
            household_id: household_id.to_owned(),
            consumer_id: consumer_id.to_owned(),
            status: pb::HouseholdMemberStatus::Current as i32,
        })
        .await
        .map(|response| response.into_inner())
}
