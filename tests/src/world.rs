//! World building shared by the conformance tests: accounts, contacts,
//! employees and consumers made through identity (with roles through role),
//! each with a token acting as it, and the case-access calls most tests make.

use csm_proto::account_team as at_pb;
use csm_proto::case_access as pb;
use csm_proto::identity as id_pb;
use csm_proto::role as role_pb;
use csm_types::roles;
use csm_types::{LoginId, ProfileId};

use crate::Suite;

pub async fn account(suite: &Suite, name: &str, parent: Option<&str>) -> String {
    account_of_kind(suite, name, parent, id_pb::AccountKind::Customer).await
}

pub async fn account_of_kind(suite: &Suite, name: &str, parent: Option<&str>, kind: id_pb::AccountKind) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_account(id_pb::CreateAccountRequest {
            request_id: String::new(),
            name: name.to_owned(),
            kind: kind as i32,
            parent_account_id: parent.unwrap_or_default().to_owned(),
        })
        .await
        .expect("create account")
        .into_inner()
        .account
        .unwrap()
        .account_id
}

pub fn details(first: &str) -> Option<id_pb::PersonDetails> {
    Some(id_pb::PersonDetails {
        first_name: first.to_owned(),
        last_name: "Case".to_owned(),
        email: format!("{}.{}@example.com", first.to_lowercase(), uuid::Uuid::now_v7().simple()),
        ..Default::default()
    })
}

/// A contact of `account` holding `roles`, and a token acting as it.
pub async fn contact(suite: &Suite, account: &str, first: &str, roles: &[&str]) -> (ProfileId, String) {
    let token = suite.admin_token();
    let profile = suite
        .identity(Some(&token))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account.to_owned(),
            details: details(first),
            ..Default::default()
        })
        .await
        .expect("create contact")
        .into_inner()
        .profile
        .unwrap();
    let profile = ProfileId::parse(&profile.profile_id).unwrap();
    for role in roles {
        suite.assign_role(profile, role).await.unwrap_or_else(|status| panic!("assign {role}: {status:?}"));
    }
    (profile, suite.token_as(profile).await)
}

/// A person no RPC but their own gives any right: an employee without roles
/// (but the class a first login gives), and a token acting as it.
pub async fn nobody(suite: &Suite) -> (ProfileId, String) {
    employee(suite, "Nobody", &[]).await
}

/// An employee whose only roles are `roles` (no class yet: a first login
/// would give one, R2.13a), and a token acting as it.
pub async fn person_with_roles(suite: &Suite, roles: &[&str]) -> (ProfileId, String) {
    let token = suite.admin_token();
    let profile = suite
        .identity(Some(&token))
        .create_employee(id_pb::CreateEmployeeRequest { details: details("Person"), ..Default::default() })
        .await
        .expect("create employee")
        .into_inner()
        .profile
        .unwrap();
    let profile = ProfileId::parse(&profile.profile_id).unwrap();
    for role in roles {
        suite.assign_role(profile, role).await.unwrap_or_else(|status| panic!("assign {role}: {status:?}"));
    }
    (profile, suite.token_as(profile).await)
}

/// An employee holding `roles`, and a token acting as it.
pub async fn employee(suite: &Suite, first: &str, roles: &[&str]) -> (ProfileId, String) {
    let token = suite.admin_token();
    let profile = suite
        .identity(Some(&token))
        .create_employee(id_pb::CreateEmployeeRequest {
            details: details(first),
            title: "Agent".to_owned(),
            ..Default::default()
        })
        .await
        .expect("create employee")
        .into_inner()
        .profile
        .unwrap();
    let profile = ProfileId::parse(&profile.profile_id).unwrap();
    // The class a first login would give (R2.13a), so contributor preconditions hold.
    for role in std::iter::once(&roles::SNC_INTERNAL).chain(roles) {
        suite.assign_role(profile, role).await.unwrap_or_else(|status| panic!("assign {role}: {status:?}"));
    }
    (profile, suite.token_as(profile).await)
}

pub async fn consumer(suite: &Suite, name: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_consumer(id_pb::CreateConsumerRequest {
            display_name: name.to_owned(),
            details: details(name),
            ..Default::default()
        })
        .await
        .expect("create consumer")
        .into_inner()
        .consumer
        .unwrap()
        .consumer_id
}

pub fn draft(create_for: pb::CreateFor, account: &str, consumer: &str) -> pb::CaseDraft {
    pb::CaseDraft {
        create_for: create_for as i32,
        short_description: "Printer on fire".to_owned(),
        account_id: account.to_owned(),
        consumer_id: consumer.to_owned(),
        ..Default::default()
    }
}

pub async fn create_case(
    suite: &Suite,
    token: &str,
    draft: pb::CaseDraft,
) -> Result<pb::CreateCaseResponse, tonic::Status> {
    suite
        .case_access(Some(token))
        .create_case(pb::CreateCaseRequest { draft: Some(draft), ..Default::default() })
        .await
        .map(tonic::Response::into_inner)
}

pub async fn check(suite: &Suite, token: &str, case_id: &str, action: pb::Action) -> pb::Decision {
    suite
        .case_access(Some(token))
        .check(pb::CheckRequest {
            target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case_id.to_owned())) }),
            action: action as i32,
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
        .decision
        .unwrap()
}

pub async fn visible(suite: &Suite, token: &str, page_size: i32) -> Vec<String> {
    visible_at(suite, token, page_size, None).await
}

/// [`visible`] at the given freshness (e.g. fully consistent: read through every cache).
pub async fn visible_at(
    suite: &Suite,
    token: &str,
    page_size: i32,
    consistency: Option<csm_proto::common::Consistency>,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .case_access(Some(token))
            .list_visible_cases(pb::ListVisibleCasesRequest {
                page_size,
                page_token,
                consistency: consistency.clone(),
                ..Default::default()
            })
            .await
            .expect("list visible cases")
            .into_inner();
        ids.extend(page.cases.into_iter().map(|case| case.support_case.unwrap().case_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

/// A contact with a login of its own (licensing counts seats per login).
pub async fn contact_with_login(suite: &Suite, account: &str, first: &str, roles: &[&str]) -> (ProfileId, String) {
    let admin = suite.admin_token();
    let profile = suite
        .identity(Some(&admin))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account.to_owned(),
            details: details(first),
            login: Some(id_pb::create_contact_request::Login::NewLogin(id_pb::NewLogin {
                login_name: format!("{}-{}", first.to_lowercase(), uuid::Uuid::now_v7().simple()),
                password: "correct horse battery".to_owned(),
            })),
            ..Default::default()
        })
        .await
        .expect("create contact")
        .into_inner()
        .profile
        .unwrap();
    let id = ProfileId::parse(&profile.profile_id).unwrap();
    for role in roles {
        suite.assign_role(id, role).await.unwrap_or_else(|status| panic!("assign {role}: {status:?}"));
    }
    let login = LoginId::parse(&profile.login_id).unwrap();
    (id, suite.token_for(login, Some(id)))
}

/// A consumer record with its own CONSUMER profile holding `roles`, and a token acting as it.
pub async fn consumer_user(suite: &Suite, name: &str, roles: &[&str]) -> (ProfileId, String, String) {
    let token = suite.admin_token();
    let created = suite
        .identity(Some(&token))
        .create_consumer(id_pb::CreateConsumerRequest {
            details: details(name),
            user: Some(id_pb::create_consumer_request::User::NewConsumerUser(id_pb::NewConsumerUser {
                channels: vec![id_pb::Channel::ConsumerPortal as i32],
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .expect("create consumer user")
        .into_inner();
    let profile = ProfileId::parse(&created.user_profile.unwrap().profile_id).unwrap();
    for role in roles {
        suite.assign_role(profile, role).await.unwrap_or_else(|status| panic!("assign {role}: {status:?}"));
    }
    let token = suite.token_as(profile).await;
    (profile, created.consumer.unwrap().consumer_id, token)
}

/// The effective roles of `profile`, as role answers them to an administrator.
pub async fn effective_roles(suite: &Suite, profile: impl ToString) -> role_pb::EffectiveRoles {
    suite
        .role(Some(&suite.admin_token()))
        .get_effective_roles(role_pb::GetEffectiveRolesRequest { profile_id: profile.to_string(), consistency: None })
        .await
        .expect("effective roles")
        .into_inner()
        .effective_roles
        .unwrap_or_default()
}

/// The seeded related-party type `name` applying to `table` (R5.4, R5.5).
pub async fn related_party_type(
    suite: &Suite,
    table: at_pb::RecordTable,
    name: &str,
) -> at_pb::RelatedPartyConfiguration {
    suite
        .account_team(Some(&suite.admin_token()))
        .list_related_party_configurations(at_pb::ListRelatedPartyConfigurationsRequest {
            applies_to: table as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("list related-party types")
        .into_inner()
        .related_party_configurations
        .into_iter()
        .find(|kind| kind.name == name)
        .unwrap_or_else(|| panic!("no seeded type {name:?} on {table:?}"))
}

/// The id of the seeded related-party type `name` applying to `table`.
pub async fn related_party_type_id(suite: &Suite, table: at_pb::RecordTable, name: &str) -> String {
    related_party_type(suite, table, name).await.related_party_configuration_id
}

/// An active relationship `partner` → `customer` of the default partner type
/// (R3.6: `customer` joins PCUST(`partner`)); its id.
pub async fn partner_relationship(suite: &Suite, partner: &str, customer: &str) -> String {
    suite
        .account_team(Some(&suite.admin_token()))
        .create_account_relationship(at_pb::CreateAccountRelationshipRequest {
            request_id: String::new(),
            account_relationship: Some(at_pb::AccountRelationship {
                from_account_id: partner.to_owned(),
                to_account_id: customer.to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect("partner relationship")
        .into_inner()
        .account_relationship
        .unwrap()
        .account_relationship_id
}
