//! The one idempotency rule (`csm_changefeed::idempotency::RequestKey`) over
//! real gRPC, for every RPC whose request has a `request_id`: a retry with the
//! same request id by the same caller answers the first result (the same
//! entity, the same consistency token); the same request id with another
//! request is FAILED_PRECONDITION `REQUEST_ID_CONFLICT`; request ids are their
//! caller's. The RPCs are taken from the descriptor set, so a new create RPC
//! without a case here fails `every_rpc_with_a_request_id_has_a_case` (and
//! its service's test). Each service test runs on SQLite and on PostgreSQL.

use csm_types::roles;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use csm_proto::account_team as at_pb;
use csm_proto::case_access as ca_pb;
use csm_proto::identity as id_pb;
use csm_proto::licensing as lic_pb;
use csm_proto::role as role_pb;
use csm_tests::{Suite, backend_test, raw, reason_of, world};
use csm_types::{LoginId, ProfileId, ServiceName};
use tonic::{Code, Status};

/// Every RPC with a `request_id`, by service; each has a case in its service's test.
const COVERED: &[(&str, &[&str])] = &[
    (
        "csm.account_team.v1.AccountTeamService",
        &[
            "CreateResponsibilityDefinition",
            "CreateAccountRelationshipType",
            "CreateAccountRelationship",
            "CreateContactRelationship",
            "CreateTeamMember",
            "CreateConsumerRelationship",
            "CreateResponsibilityAccessConfiguration",
            "CreateRelatedPartyConfiguration",
            "CreateAccountAccess",
        ],
    ),
    (
        "csm.case_access.v1.CaseAccessService",
        &[
            "CreateCase",
            "CreateCaseFromEmail",
            "AddComment",
            "AddAttachment",
            "CreateCaseTask",
            "AddRelatedParty",
            "CreateSoldProduct",
            "CreateInstallBaseItem",
        ],
    ),
    (
        "csm.identity.v1.IdentityService",
        &[
            "CreateLogin",
            "StartSession",
            "CreateEmployee",
            "CreateContact",
            "CreateDepartment",
            "CreateAccount",
            "CreateConsumer",
            "CreateConsumerProfile",
            "CreateHousehold",
            "CreateSecurityGroup",
        ],
    ),
    (
        "csm.licensing.v1.LicensingService",
        &["CreatePool", "Login", "GrantLicenseRight", "CreateSeatPlan", "GrantAgentSeat"],
    ),
    (
        "csm.role.v1.RoleService",
        &[
            "DefineRole",
            "AddRoleContainment",
            "AddRoleAlias",
            "CreateGroup",
            "AddGroupMember",
            "AddGroupRole",
            "AssignRole",
            "FixRoleAnomalies",
        ],
    ),
];

const PASSWORD: &str = "correct horse battery";
const AGENT: &str = roles::AGENT;
const CUSTOMER: &str = roles::CUSTOMER;
const MANAGER: &str = roles::MANAGER;
const PROXY_CONTACT: &str = roles::PROXY_CONTACT;
const KNOWLEDGE: &str = "knowledge";
const CASE_VIEWER: &str = roles::CASE_VIEWER;
/// Seeded responsibilities and related-party types (account-team's migrations).
const ACCOUNT_MANAGER: &str = "a7000000-0000-4000-8000-000000000001";
const PREFERRED_TECHNICIAN: &str = "a7000000-0000-4000-8000-000000000002";
const ASSET_CONTACT: &str = "a7000000-0000-4000-8000-000000000006";
const AUTHORIZED_REPRESENTATIVE: &str = "a7000000-0000-4000-8000-000000000007";
/// Seeded "Authorized Contact" related-party type on CASE.
const CASE_AUTHORIZED_CONTACT_TYPE: &str = "a7000000-0000-4000-8000-000000000301";

// ------------------------------------------------------------------ coverage

/// The RPCs whose request message has a top-level `request_id`, by service,
/// as the descriptor set declares them.
fn rpcs_with_request_id() -> BTreeMap<String, BTreeSet<String>> {
    raw::methods()
        .into_iter()
        .map(|(service, methods)| {
            let names = methods
                .into_iter()
                .filter(|method| method.fields.iter().any(|field| field.name == "request_id"))
                .map(|method| method.name)
                .collect::<BTreeSet<_>>();
            (service, names)
        })
        .filter(|(_, names)| !names.is_empty())
        .collect()
}

fn covered() -> BTreeMap<String, BTreeSet<String>> {
    COVERED
        .iter()
        .map(|(service, rpcs)| (service.to_string(), rpcs.iter().map(|rpc| rpc.to_string()).collect()))
        .collect()
}

#[test]
fn every_rpc_with_a_request_id_has_a_case() {
    let declared = rpcs_with_request_id();
    let covered = covered();
    for (service, rpcs) in &declared {
        let cases = covered.get(service).cloned().unwrap_or_default();
        let missing: Vec<&String> = rpcs.difference(&cases).collect();
        assert!(missing.is_empty(), "{service}: no idempotency case for {missing:?}; add one to tests/idempotency.rs");
    }
    assert_eq!(covered, declared, "COVERED names exactly the RPCs that take a request_id");
    let total: usize = declared.values().map(BTreeSet::len).sum();
    assert_eq!(total, 40, "the 40 RPCs with a request_id when this test was written (update with a new case)");
}

// ------------------------------------------------------------------ the rule

/// The RPCs of one service checked so far.
struct Cases {
    service: &'static str,
    checked: BTreeSet<String>,
}

impl Cases {
    fn new(service: &'static str) -> Self {
        Self { service, checked: BTreeSet::new() }
    }

    /// Sends `a` twice and `b` (another request with `a`'s request id) once:
    /// both `a`s succeed and the retry names what the first created (`created`:
    /// entity id and consistency token), `b` is REQUEST_ID_CONFLICT. Returns
    /// the two answers to `a`.
    async fn check<Req, Resp, Call, Fut>(
        &mut self,
        rpc: &str,
        a: Req,
        b: Req,
        mut call: Call,
        created: impl Fn(&Resp) -> (String, String),
    ) -> (Resp, Resp)
    where
        Req: Clone + PartialEq + std::fmt::Debug,
        Resp: std::fmt::Debug,
        Call: FnMut(Req) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        assert_ne!(a, b, "{rpc}: B differs from A");
        let first = call(a.clone()).await.unwrap_or_else(|status| panic!("{rpc}: A refused: {status:?}")).into_inner();
        let retry =
            call(a).await.unwrap_or_else(|status| panic!("{rpc}: the retry of A refused: {status:?}")).into_inner();
        let (id, token) = created(&first);
        assert!(!id.is_empty(), "{rpc}: A names what it created: {first:?}");
        assert!(!token.is_empty(), "{rpc}: A carries a consistency token: {first:?}");
        assert_eq!(created(&retry), (id, token), "{rpc}: the retry answers the first result: {retry:?}");
        match call(b).await {
            Ok(answer) => panic!("{rpc}: the same request id with another request succeeded: {answer:?}"),
            Err(status) => assert_eq!(
                (status.code(), reason_of(&status).as_str()),
                (Code::FailedPrecondition, "REQUEST_ID_CONFLICT"),
                "{rpc}: B: {status:?}"
            ),
        }
        assert!(self.checked.insert(rpc.to_owned()), "{rpc} checked twice");
        (first, retry)
    }

    /// Every RPC of the service that takes a request id was checked.
    fn finish(self) {
        let declared = rpcs_with_request_id().remove(self.service).unwrap_or_default();
        assert_eq!(self.checked, declared, "{}: the RPCs with a request_id and their cases", self.service);
    }
}

/// A call of `$method` on a new client (`$client` is evaluated per call).
macro_rules! rpc {
    ($client:expr, $method:ident) => {
        |request| {
            let mut client = $client;
            async move { client.$method(request).await }
        }
    };
}

fn request_id(rpc: &str) -> String {
    format!("idem-{rpc}-1")
}

fn unique(name: &str) -> String {
    format!("{name} {}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// (entity id, consistency token) of an answer.
fn created<T>(entity: Option<&T>, id: impl Fn(&T) -> &String, token: &str) -> (String, String) {
    (entity.map(id).cloned().unwrap_or_default(), token.to_owned())
}

// ------------------------------------------------------------------ helpers

/// A contact of `account` made by the administrator, without a login.
async fn contact_profile(suite: &Suite, account: &str, first: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account.to_owned(),
            details: world::details(first),
            ..Default::default()
        })
        .await
        .expect("create contact")
        .into_inner()
        .profile
        .unwrap()
        .profile_id
}

/// An employee with a login of its own on `channels`: its profile, login name and a token acting as it.
async fn employee_with_login(suite: &Suite, first: &str, channels: &[id_pb::Channel]) -> (ProfileId, String, String) {
    let token = suite.admin_token();
    let login_name = format!("{}-{}", first.to_lowercase(), uuid::Uuid::now_v7().simple());
    let profile = suite
        .identity(Some(&token))
        .create_employee(id_pb::CreateEmployeeRequest {
            details: world::details(first),
            title: "Agent".to_owned(),
            channels: channels.iter().map(|channel| *channel as i32).collect(),
            login: Some(id_pb::create_employee_request::Login::NewLogin(id_pb::NewLogin {
                login_name: login_name.clone(),
                password: PASSWORD.to_owned(),
            })),
            ..Default::default()
        })
        .await
        .expect("create employee")
        .into_inner()
        .profile
        .unwrap();
    let id = ProfileId::parse(&profile.profile_id).unwrap();
    let login = LoginId::parse(&profile.login_id).expect("the employee has a login");
    (id, login_name, suite.token_for(login, Some(id)))
}

async fn email_of(suite: &Suite, profile: ProfileId) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .get_profile(id_pb::GetProfileRequest { profile_id: profile.to_string() })
        .await
        .expect("get profile")
        .into_inner()
        .profile
        .unwrap()
        .details
        .unwrap()
        .email
}

// ------------------------------------------------------------------ identity

backend_test!(identity_creates_answer_retries_and_refuse_reused_request_ids, |suite| {
    let admin = suite.admin_token();
    let identity = || suite.identity(Some(&admin));
    let mut cases = Cases::new("csm.identity.v1.IdentityService");

    let a = id_pb::CreateLoginRequest {
        request_id: request_id("CreateLogin"),
        login_name: format!("idem-{}", uuid::Uuid::now_v7().simple()),
        ..Default::default()
    };
    let b = id_pb::CreateLoginRequest { login_name: format!("other-{}", uuid::Uuid::now_v7().simple()), ..a.clone() };
    cases
        .check("CreateLogin", a, b, rpc!(identity(), create_login), |r: &id_pb::CreateLoginResponse| {
            created(r.login.as_ref(), |login| &login.login_id, &r.consistency_token)
        })
        .await;

    // StartSession is a password login (no bearer token): its request ids
    // are the login's. As its response documents, the refresh token is shown
    // once: the replay answers the same session without it.
    let (_, login_name, _) =
        employee_with_login(suite, "Sam", &[id_pb::Channel::Browser, id_pb::Channel::Mobile]).await;
    let a = id_pb::StartSessionRequest {
        request_id: request_id("StartSession"),
        login_name,
        proof: Some(id_pb::start_session_request::Proof::Password(PASSWORD.to_owned())),
        channel: id_pb::Channel::Browser as i32,
        ..Default::default()
    };
    let b = id_pb::StartSessionRequest { channel: id_pb::Channel::Mobile as i32, ..a.clone() };
    let (first, retry) = cases
        .check("StartSession", a, b, rpc!(suite.identity(None), start_session), |r: &id_pb::StartSessionResponse| {
            created(r.session.as_ref(), |session| &session.session_id, &r.consistency_token)
        })
        .await;
    assert!(!first.refresh_token.is_empty(), "the first answer carries the refresh token");
    assert!(retry.refresh_token.is_empty(), "empty on a replayed request_id");
    assert_eq!(first.assigned_explicit_role, retry.assigned_explicit_role);

    let a = id_pb::CreateEmployeeRequest {
        request_id: request_id("CreateEmployee"),
        details: world::details("Emma"),
        title: "Agent".to_owned(),
        ..Default::default()
    };
    let b = id_pb::CreateEmployeeRequest { details: world::details("Ezra"), ..a.clone() };
    cases
        .check("CreateEmployee", a, b, rpc!(identity(), create_employee), |r: &id_pb::CreateEmployeeResponse| {
            created(r.profile.as_ref(), |profile| &profile.profile_id, &r.consistency_token)
        })
        .await;

    let account = world::account(suite, &unique("Idem Co"), None).await;
    let a = id_pb::CreateContactRequest {
        request_id: request_id("CreateContact"),
        account_id: account.clone(),
        details: world::details("Cora"),
        ..Default::default()
    };
    let b = id_pb::CreateContactRequest { details: world::details("Carl"), ..a.clone() };
    cases
        .check("CreateContact", a, b, rpc!(identity(), create_contact), |r: &id_pb::CreateContactResponse| {
            created(r.profile.as_ref(), |profile| &profile.profile_id, &r.consistency_token)
        })
        .await;

    let a = id_pb::CreateDepartmentRequest {
        request_id: request_id("CreateDepartment"),
        name: "Idem Support".to_owned(),
        description: "Support people".to_owned(),
    };
    let b = id_pb::CreateDepartmentRequest { name: "Idem Sales".to_owned(), ..a.clone() };
    cases
        .check("CreateDepartment", a, b, rpc!(identity(), create_department), |r: &id_pb::CreateDepartmentResponse| {
            created(r.department.as_ref(), |department| &department.department_id, &r.consistency_token)
        })
        .await;

    let a = id_pb::CreateAccountRequest {
        request_id: request_id("CreateAccount"),
        name: unique("Idem Account"),
        kind: id_pb::AccountKind::Customer as i32,
        parent_account_id: String::new(),
    };
    let b = id_pb::CreateAccountRequest { name: unique("Other Account"), ..a.clone() };
    let (first, _) = cases
        .check("CreateAccount", a.clone(), b, rpc!(identity(), create_account), |r: &id_pb::CreateAccountResponse| {
            created(r.account.as_ref(), |account| &account.account_id, &r.consistency_token)
        })
        .await;
    // Request ids are their caller's: another administrator sending the same
    // request with the same request id gets an account of its own, not the
    // first caller's, and its retry answers its own.
    let (_, other_admin) = world::person_with_roles(suite, &["admin"]).await;
    let theirs = suite
        .identity(Some(&other_admin))
        .create_account(a.clone())
        .await
        .expect("another caller's request id is its own")
        .into_inner();
    let (mine, their_account) = (first.account.unwrap(), theirs.account.clone().unwrap());
    assert_ne!(their_account.account_id, mine.account_id, "not the first caller's account");
    assert_ne!(theirs.consistency_token, first.consistency_token);
    let again = suite.identity(Some(&other_admin)).create_account(a).await.expect("its retry").into_inner();
    assert_eq!(
        (again.account.unwrap().account_id, again.consistency_token),
        (their_account.account_id, theirs.consistency_token)
    );

    let a = id_pb::CreateConsumerRequest {
        request_id: request_id("CreateConsumer"),
        display_name: "Ida Consumer".to_owned(),
        details: world::details("Ida"),
        ..Default::default()
    };
    let b = id_pb::CreateConsumerRequest { display_name: "Ida C.".to_owned(), ..a.clone() };
    cases
        .check("CreateConsumer", a, b, rpc!(identity(), create_consumer), |r: &id_pb::CreateConsumerResponse| {
            created(r.consumer.as_ref(), |consumer| &consumer.consumer_id, &r.consistency_token)
        })
        .await;

    let consumer = world::consumer(suite, "Hank").await;
    let a = id_pb::CreateConsumerProfileRequest {
        request_id: request_id("CreateConsumerProfile"),
        consumer_id: consumer.clone(),
        sub_profile_type: "patient".to_owned(),
        display_name: String::new(),
    };
    let b = id_pb::CreateConsumerProfileRequest { sub_profile_type: "constituent".to_owned(), ..a.clone() };
    cases
        .check(
            "CreateConsumerProfile",
            a,
            b,
            rpc!(identity(), create_consumer_profile),
            |r: &id_pb::CreateConsumerProfileResponse| {
                created(r.consumer_profile.as_ref(), |record| &record.consumer_profile_id, &r.consistency_token)
            },
        )
        .await;

    let a = id_pb::CreateHouseholdRequest {
        request_id: request_id("CreateHousehold"),
        name: "The Idems".to_owned(),
        head_consumer_id: consumer,
    };
    let b = id_pb::CreateHouseholdRequest { name: "The Others".to_owned(), ..a.clone() };
    cases
        .check("CreateHousehold", a, b, rpc!(identity(), create_household), |r: &id_pb::CreateHouseholdResponse| {
            created(r.household.as_ref(), |household| &household.household_id, &r.consistency_token)
        })
        .await;

    let a = id_pb::CreateSecurityGroupRequest {
        request_id: request_id("CreateSecurityGroup"),
        name: "Idem Desk".to_owned(),
        kind: id_pb::SecurityGroupKind::User as i32,
        description: String::new(),
        presentation_roles: vec!["Agent".to_owned()],
        default_presentation_role: String::new(),
        default_group: false,
    };
    let b = id_pb::CreateSecurityGroupRequest { name: "Idem Desk Two".to_owned(), ..a.clone() };
    cases
        .check(
            "CreateSecurityGroup",
            a,
            b,
            rpc!(identity(), create_security_group),
            |r: &id_pb::CreateSecurityGroupResponse| {
                created(r.security_group.as_ref(), |group| &group.security_group_id, &r.consistency_token)
            },
        )
        .await;

    cases.finish();
});

// ------------------------------------------------------------------ role

backend_test!(role_writes_answer_retries_and_refuse_reused_request_ids, |suite| {
    let admin = suite.admin_token();
    let role = || suite.role(Some(&admin));
    let mut cases = Cases::new("csm.role.v1.RoleService");

    // B is the same role with another description: the whole definition is the request.
    let a = role_pb::DefineRoleRequest {
        request_id: request_id("DefineRole"),
        role_name: "x_idem_role".to_owned(),
        display_name: "Idempotent role".to_owned(),
        description: "custom role x_idem_role".to_owned(),
        contains: Vec::new(),
        intended_family: role_pb::RoleFamily::Unspecified as i32,
    };
    let b = role_pb::DefineRoleRequest { description: "another description".to_owned(), ..a.clone() };
    cases
        .check("DefineRole", a, b, rpc!(role(), define_role), |r: &role_pb::DefineRoleResponse| {
            created(r.role.as_ref(), |role| &role.role_name, &r.consistency_token)
        })
        .await;

    let a = role_pb::AddRoleContainmentRequest {
        request_id: request_id("AddRoleContainment"),
        parent_role: "x_idem_role".to_owned(),
        child_role: CASE_VIEWER.to_owned(),
    };
    let b = role_pb::AddRoleContainmentRequest { child_role: KNOWLEDGE.to_owned(), ..a.clone() };
    cases
        .check(
            "AddRoleContainment",
            a,
            b,
            rpc!(role(), add_role_containment),
            |r: &role_pb::AddRoleContainmentResponse| {
                let edge = r.containment.as_ref().map(|edge| format!("{}>{}", edge.parent_role, edge.child_role));
                (edge.unwrap_or_default(), r.consistency_token.clone())
            },
        )
        .await;

    let a = role_pb::AddRoleAliasRequest {
        request_id: request_id("AddRoleAlias"),
        role: CASE_VIEWER.to_owned(),
        alias: "x_idem_alias".to_owned(),
    };
    let b = role_pb::AddRoleAliasRequest { alias: "x_idem_other_alias".to_owned(), ..a.clone() };
    let (aliased, _) = cases
        .check("AddRoleAlias", a, b, rpc!(role(), add_role_alias), |r: &role_pb::AddRoleAliasResponse| {
            created(r.role.as_ref(), |role| &role.role_name, &r.consistency_token)
        })
        .await;
    assert_eq!(aliased.role.unwrap().aliases, vec!["x_idem_alias".to_owned()]);

    let a = role_pb::CreateGroupRequest {
        request_id: request_id("CreateGroup"),
        name: "Idem desk".to_owned(),
        kind: role_pb::GroupKind::AssignmentGroup as i32,
        description: "Idempotent group".to_owned(),
        parent_group_id: String::new(),
    };
    let b = role_pb::CreateGroupRequest { name: "Idem desk two".to_owned(), ..a.clone() };
    let (group, _) = cases
        .check("CreateGroup", a, b, rpc!(role(), create_group), |r: &role_pb::CreateGroupResponse| {
            created(r.group.as_ref(), |group| &group.group_id, &r.consistency_token)
        })
        .await;
    let group = group.group.unwrap().group_id;

    let (member, _) = world::employee(suite, "Gus", &[]).await;
    let a = role_pb::AddGroupMemberRequest {
        request_id: request_id("AddGroupMember"),
        group_id: group.clone(),
        profile_id: member.to_string(),
        manager: false,
    };
    let b = role_pb::AddGroupMemberRequest { manager: true, ..a.clone() };
    cases
        .check("AddGroupMember", a, b, rpc!(role(), add_group_member), |r: &role_pb::AddGroupMemberResponse| {
            let member = r.member.as_ref().map(|member| format!("{}/{}", member.group_id, member.profile_id));
            (member.unwrap_or_default(), r.consistency_token.clone())
        })
        .await;

    // A group without members takes the role.
    let roles_group = role()
        .create_group(role_pb::CreateGroupRequest {
            name: "Idem readers".to_owned(),
            kind: role_pb::GroupKind::AssignmentGroup as i32,
            ..Default::default()
        })
        .await
        .expect("create group")
        .into_inner()
        .group
        .unwrap()
        .group_id;
    let a = role_pb::AddGroupRoleRequest {
        request_id: request_id("AddGroupRole"),
        group_id: roles_group,
        role: KNOWLEDGE.to_owned(),
    };
    let b = role_pb::AddGroupRoleRequest { role: CASE_VIEWER.to_owned(), ..a.clone() };
    cases
        .check("AddGroupRole", a, b, rpc!(role(), add_group_role), |r: &role_pb::AddGroupRoleResponse| {
            created(r.group.as_ref(), |group| &group.group_id, &r.consistency_token)
        })
        .await;

    let (profile, _) = world::employee(suite, "Ava", &[]).await;
    let a = role_pb::AssignRoleRequest {
        request_id: request_id("AssignRole"),
        profile_id: profile.to_string(),
        role: KNOWLEDGE.to_owned(),
    };
    let b = role_pb::AssignRoleRequest { role: AGENT.to_owned(), ..a.clone() };
    let (assigned, _) = cases
        .check("AssignRole", a.clone(), b.clone(), rpc!(role(), assign_role), |r: &role_pb::AssignRoleResponse| {
            created(r.assignment.as_ref(), |assignment| &assignment.assignment_id, &r.consistency_token)
        })
        .await;
    let assigned = assigned.assignment.unwrap();
    // Request ids are their caller's: identity's service identity (which the
    // matrix lets assign roles) sending the administrator's request id with
    // the same request is a new request of its own, not the administrator's
    // assignment (the profile holds the role already) ...
    let identity_service = suite.service_token(ServiceName::Identity);
    let status = suite.role(Some(&identity_service)).assign_role(a).await.unwrap_err();
    assert_eq!(
        (status.code(), reason_of(&status).as_str()),
        (Code::AlreadyExists, "ASSIGNMENT_EXISTS"),
        "not the administrator's record: {status:?}"
    );
    // ... and with another request it is no conflict.
    let own =
        suite.role(Some(&identity_service)).assign_role(b.clone()).await.expect("its own request id").into_inner();
    let own_assignment = own.assignment.unwrap();
    assert_ne!(own_assignment.assignment_id, assigned.assignment_id);
    assert_eq!(own_assignment.role, AGENT);
    let retried = suite.role(Some(&identity_service)).assign_role(b).await.expect("its own retry").into_inner();
    assert_eq!(retried.assignment.unwrap().assignment_id, own_assignment.assignment_id);
    assert_eq!(retried.consistency_token, own.consistency_token);

    // Two contacts holding snc_internal directly (NON_INTENTIONAL, R2.16).
    let account = world::account(suite, &unique("Idem Anomalies"), None).await;
    let mut anomalous = Vec::new();
    for first in ["Nia", "Pia"] {
        let contact = contact_profile(suite, &account, first).await;
        role()
            .replace_profile_roles(role_pb::ReplaceProfileRolesRequest {
                profile_id: contact.clone(),
                roles: vec![roles::SNC_INTERNAL.to_owned(), KNOWLEDGE.to_owned()],
            })
            .await
            .expect("an anomalous role set");
        anomalous.push(contact);
    }
    let a = role_pb::FixRoleAnomaliesRequest {
        request_id: request_id("FixRoleAnomalies"),
        categories: Vec::new(),
        profile_ids: vec![anomalous[0].clone()],
        batch_size: 0,
    };
    let b = role_pb::FixRoleAnomaliesRequest { profile_ids: vec![anomalous[1].clone()], ..a.clone() };
    let (first, retry) = cases
        .check("FixRoleAnomalies", a, b, rpc!(role(), fix_role_anomalies), |r: &role_pb::FixRoleAnomaliesResponse| {
            let fixed: Vec<&str> = r.fixes.iter().map(|fix| fix.profile_id.as_str()).collect();
            (fixed.join(","), r.consistency_token.clone())
        })
        .await;
    assert_eq!(first.fixed_count, 1);
    assert_eq!(first.fixes[0].profile_id, anomalous[0]);
    assert_eq!(retry, first, "the retry answers what the first call fixed");

    cases.finish();
});

// ------------------------------------------------------------------ account-team

backend_test!(account_team_creates_answer_retries_and_refuse_reused_request_ids, |suite| {
    let admin = suite.admin_token();
    let account_team = || suite.account_team(Some(&admin));
    let mut cases = Cases::new("csm.account_team.v1.AccountTeamService");

    let a = at_pb::CreateResponsibilityDefinitionRequest {
        request_id: request_id("CreateResponsibilityDefinition"),
        responsibility_definition: Some(at_pb::ResponsibilityDefinition {
            name: "Idem Responsibility".to_owned(),
            kind: at_pb::ResponsibilityKind::User as i32,
            description: "Idempotent responsibility".to_owned(),
            ..Default::default()
        }),
    };
    let mut b = a.clone();
    b.responsibility_definition.as_mut().unwrap().name = "Idem Responsibility Two".to_owned();
    cases
        .check(
            "CreateResponsibilityDefinition",
            a,
            b,
            rpc!(account_team(), create_responsibility_definition),
            |r: &at_pb::CreateResponsibilityDefinitionResponse| {
                created(
                    r.responsibility_definition.as_ref(),
                    |definition| &definition.responsibility_id,
                    &r.consistency_token,
                )
            },
        )
        .await;

    let a = at_pb::CreateAccountRelationshipTypeRequest {
        request_id: request_id("CreateAccountRelationshipType"),
        account_relationship_type: Some(at_pb::AccountRelationshipType {
            name: "Idem Reseller".to_owned(),
            from_kind: at_pb::RelationshipEndKind::Partner as i32,
            to_kind: at_pb::RelationshipEndKind::Account as i32,
            label: "Idem Reseller of".to_owned(),
            reverse_label: "Has Idem Reseller".to_owned(),
            ..Default::default()
        }),
    };
    let mut b = a.clone();
    b.account_relationship_type.as_mut().unwrap().name = "Idem Supplier".to_owned();
    cases
        .check(
            "CreateAccountRelationshipType",
            a,
            b,
            rpc!(account_team(), create_account_relationship_type),
            |r: &at_pb::CreateAccountRelationshipTypeResponse| {
                created(
                    r.account_relationship_type.as_ref(),
                    |kind| &kind.account_relationship_type_id,
                    &r.consistency_token,
                )
            },
        )
        .await;

    let partner = world::account_of_kind(suite, &unique("Idem Partner"), None, id_pb::AccountKind::Partner).await;
    let customer = world::account(suite, &unique("Idem Customer"), None).await;
    let elsewhere = world::account(suite, &unique("Idem Elsewhere"), None).await;
    // The default partner type.
    let relationship = |to: &str| at_pb::CreateAccountRelationshipRequest {
        request_id: request_id("CreateAccountRelationship"),
        account_relationship: Some(at_pb::AccountRelationship {
            from_account_id: partner.clone(),
            to_account_id: to.to_owned(),
            ..Default::default()
        }),
    };
    cases
        .check(
            "CreateAccountRelationship",
            relationship(&customer),
            relationship(&elsewhere),
            rpc!(account_team(), create_account_relationship),
            |r: &at_pb::CreateAccountRelationshipResponse| {
                created(
                    r.account_relationship.as_ref(),
                    |relationship| &relationship.account_relationship_id,
                    &r.consistency_token,
                )
            },
        )
        .await;

    let kim = contact_profile(suite, &customer, "Kim").await;
    let contact_relationship = |responsibility: &str| at_pb::CreateContactRelationshipRequest {
        request_id: request_id("CreateContactRelationship"),
        contact_relationship: Some(at_pb::ContactRelationship {
            account_id: customer.clone(),
            contact_id: kim.clone(),
            responsibility_id: responsibility.to_owned(),
            ..Default::default()
        }),
    };
    cases
        .check(
            "CreateContactRelationship",
            contact_relationship(""),
            contact_relationship(ASSET_CONTACT),
            rpc!(account_team(), create_contact_relationship),
            |r: &at_pb::CreateContactRelationshipResponse| {
                created(
                    r.contact_relationship.as_ref(),
                    |relationship| &relationship.contact_relationship_id,
                    &r.consistency_token,
                )
            },
        )
        .await;

    let (employee, _) = world::employee(suite, "Tess", &[]).await;
    let member = |responsibility: &str| at_pb::CreateTeamMemberRequest {
        request_id: request_id("CreateTeamMember"),
        team_member: Some(at_pb::TeamMember {
            team: Some(at_pb::team_member::Team::AccountId(customer.clone())),
            profile_id: employee.to_string(),
            member_kind: at_pb::TeamMemberKind::Internal as i32,
            responsibility_id: responsibility.to_owned(),
            ..Default::default()
        }),
    };
    cases
        .check(
            "CreateTeamMember",
            member(PREFERRED_TECHNICIAN),
            member(ACCOUNT_MANAGER),
            rpc!(account_team(), create_team_member),
            |r: &at_pb::CreateTeamMemberResponse| {
                created(r.team_member.as_ref(), |member| &member.team_member_id, &r.consistency_token)
            },
        )
        .await;

    let represented = world::consumer(suite, "Rita").await;
    let first = world::consumer(suite, "Fay").await;
    let second = world::consumer(suite, "Sid").await;
    let consumer_relationship = |related: &str| at_pb::CreateConsumerRelationshipRequest {
        request_id: request_id("CreateConsumerRelationship"),
        consumer_relationship: Some(at_pb::ConsumerRelationship {
            consumer_id: represented.clone(),
            related_consumer_id: related.to_owned(),
            ..Default::default()
        }),
    };
    cases
        .check(
            "CreateConsumerRelationship",
            consumer_relationship(&first),
            consumer_relationship(&second),
            rpc!(account_team(), create_consumer_relationship),
            |r: &at_pb::CreateConsumerRelationshipResponse| {
                created(
                    r.consumer_relationship.as_ref(),
                    |relationship| &relationship.consumer_relationship_id,
                    &r.consistency_token,
                )
            },
        )
        .await;

    let configuration = |name: &str| at_pb::CreateResponsibilityAccessConfigurationRequest {
        request_id: request_id("CreateResponsibilityAccessConfiguration"),
        responsibility_access_configuration: Some(at_pb::ResponsibilityAccessConfiguration {
            name: name.to_owned(),
            responsibility_id: ACCOUNT_MANAGER.to_owned(),
            required_roles: vec![roles::RELATIONSHIP_AGENT.to_owned()],
            access_levels: vec![at_pb::AccessLevel::Read as i32],
            accessible_table: at_pb::RecordTable::Case as i32,
            relationship_table: at_pb::RecordTable::AccountTeamMember as i32,
            association_type: at_pb::AssociationType::Simple as i32,
            relationship_field: "account".to_owned(),
            accessible_field: "account".to_owned(),
            ..Default::default()
        }),
    };
    cases
        .check(
            "CreateResponsibilityAccessConfiguration",
            configuration("Idem managers read cases"),
            configuration("Idem managers read more cases"),
            rpc!(account_team(), create_responsibility_access_configuration),
            |r: &at_pb::CreateResponsibilityAccessConfigurationResponse| {
                created(
                    r.responsibility_access_configuration.as_ref(),
                    |configuration| &configuration.responsibility_access_configuration_id,
                    &r.consistency_token,
                )
            },
        )
        .await;

    let party_type = |name: &str| at_pb::CreateRelatedPartyConfigurationRequest {
        request_id: request_id("CreateRelatedPartyConfiguration"),
        related_party_configuration: Some(at_pb::RelatedPartyConfiguration {
            name: name.to_owned(),
            applies_to: at_pb::RecordTable::Case as i32,
            entity_type: at_pb::PartyEntityType::Contact as i32,
            default_responsibility_id: AUTHORIZED_REPRESENTATIVE.to_owned(),
            ..Default::default()
        }),
    };
    cases
        .check(
            "CreateRelatedPartyConfiguration",
            party_type("Idem Escalation Contact"),
            party_type("Idem Billing Contact"),
            rpc!(account_team(), create_related_party_configuration),
            |r: &at_pb::CreateRelatedPartyConfigurationResponse| {
                created(
                    r.related_party_configuration.as_ref(),
                    |configuration| &configuration.related_party_configuration_id,
                    &r.consistency_token,
                )
            },
        )
        .await;

    let a = at_pb::CreateAccountAccessRequest {
        request_id: request_id("CreateAccountAccess"),
        account_access: Some(at_pb::AccountAccess {
            account_id: customer.clone(),
            restrict_contact_access: true,
            allowed_contact_ids: vec![kim.clone()],
            ..Default::default()
        }),
    };
    let b = at_pb::CreateAccountAccessRequest {
        account_access: Some(at_pb::AccountAccess { account_id: customer.clone(), ..Default::default() }),
        ..a.clone()
    };
    cases
        .check(
            "CreateAccountAccess",
            a,
            b,
            rpc!(account_team(), create_account_access),
            |r: &at_pb::CreateAccountAccessResponse| {
                created(r.account_access.as_ref(), |access| &access.account_access_id, &r.consistency_token)
            },
        )
        .await;

    cases.finish();
});

// ------------------------------------------------------------------ case-access

backend_test!(case_access_creates_answer_retries_and_refuse_reused_request_ids, |suite| {
    let mut cases = Cases::new("csm.case_access.v1.CaseAccessService");
    let account = world::account(suite, &unique("Idem Co"), None).await;
    let (_, agent) = world::employee(suite, "Bea", &[AGENT]).await;
    let (kim, _) = world::contact(suite, &account, "Kim", &[CUSTOMER]).await;
    let (lou, _) = world::contact(suite, &account, "Lou", &[CUSTOMER]).await;
    let as_agent = || suite.case_access(Some(&agent));

    let a = ca_pb::CreateCaseRequest {
        request_id: request_id("CreateCase"),
        draft: Some(world::draft(ca_pb::CreateFor::Account, &account, "")),
        ..Default::default()
    };
    let mut b = a.clone();
    b.draft.as_mut().unwrap().short_description = "Scanner on fire".to_owned();
    let (case, _) = cases
        .check("CreateCase", a, b, rpc!(as_agent(), create_case), |r: &ca_pb::CreateCaseResponse| {
            created(r.support_case.as_ref(), |case| &case.case_id, &r.consistency_token)
        })
        .await;
    let case = case.support_case.unwrap().case_id;

    let a = ca_pb::AddCommentRequest {
        request_id: request_id("AddComment"),
        case_id: case.clone(),
        kind: ca_pb::CommentKind::WorkNote as i32,
        body: "A note".to_owned(),
        ..Default::default()
    };
    let b = ca_pb::AddCommentRequest { body: "Another note".to_owned(), ..a.clone() };
    cases
        .check("AddComment", a, b, rpc!(as_agent(), add_comment), |r: &ca_pb::AddCommentResponse| {
            created(r.comment.as_ref(), |comment| &comment.comment_id, &r.consistency_token)
        })
        .await;

    let a = ca_pb::AddAttachmentRequest {
        request_id: request_id("AddAttachment"),
        case_id: case.clone(),
        file_name: "screenshot.png".to_owned(),
        content_type: "image/png".to_owned(),
        size_bytes: 1024,
        content_uri: "blob://attachments/screenshot.png".to_owned(),
        ..Default::default()
    };
    let b = ca_pb::AddAttachmentRequest { file_name: "photo.png".to_owned(), ..a.clone() };
    cases
        .check("AddAttachment", a, b, rpc!(as_agent(), add_attachment), |r: &ca_pb::AddAttachmentResponse| {
            created(r.attachment.as_ref(), |attachment| &attachment.attachment_id, &r.consistency_token)
        })
        .await;

    let task = |short_description: &str| ca_pb::CreateCaseTaskRequest {
        request_id: request_id("CreateCaseTask"),
        case_task: Some(ca_pb::CaseTask {
            case_id: case.clone(),
            short_description: short_description.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    };
    cases
        .check(
            "CreateCaseTask",
            task("Replace the toner"),
            task("Clean the drum"),
            rpc!(as_agent(), create_case_task),
            |r: &ca_pb::CreateCaseTaskResponse| {
                created(r.case_task.as_ref(), |task| &task.case_task_id, &r.consistency_token)
            },
        )
        .await;

    let party = |party: ProfileId| ca_pb::AddRelatedPartyRequest {
        request_id: request_id("AddRelatedParty"),
        subject: Some(ca_pb::add_related_party_request::Subject::CaseId(case.clone())),
        party_kind: ca_pb::PartyKind::Contact as i32,
        party_id: party.to_string(),
        related_party_configuration_id: CASE_AUTHORIZED_CONTACT_TYPE.to_owned(),
        ..Default::default()
    };
    cases
        .check(
            "AddRelatedParty",
            party(kim),
            party(lou),
            rpc!(as_agent(), add_related_party),
            |r: &ca_pb::AddRelatedPartyResponse| {
                created(r.related_party.as_ref(), |party| &party.related_party_id, &r.consistency_token)
            },
        )
        .await;

    // Assets are the CSM manager's (T4.3).
    let (_, manager) = world::employee(suite, "Mona", &[MANAGER]).await;
    let as_manager = || suite.case_access(Some(&manager));
    let product = |name: &str| ca_pb::CreateSoldProductRequest {
        request_id: request_id("CreateSoldProduct"),
        sold_product: Some(ca_pb::SoldProduct {
            name: name.to_owned(),
            account_id: account.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (product, _) = cases
        .check(
            "CreateSoldProduct",
            product("Printer X100"),
            product("Printer X200"),
            rpc!(as_manager(), create_sold_product),
            |r: &ca_pb::CreateSoldProductResponse| {
                created(r.sold_product.as_ref(), |product| &product.sold_product_id, &r.consistency_token)
            },
        )
        .await;
    let product = product.sold_product.unwrap().sold_product_id;

    let item = |name: &str| ca_pb::CreateInstallBaseItemRequest {
        request_id: request_id("CreateInstallBaseItem"),
        install_base_item: Some(ca_pb::InstallBaseItem {
            name: name.to_owned(),
            account_id: account.clone(),
            sold_product_id: product.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    cases
        .check(
            "CreateInstallBaseItem",
            item("Printer at desk 4"),
            item("Printer at desk 5"),
            rpc!(as_manager(), create_install_base_item),
            |r: &ca_pb::CreateInstallBaseItemResponse| {
                created(r.install_base_item.as_ref(), |item| &item.install_base_item_id, &r.consistency_token)
            },
        )
        .await;

    // Email intake: the mail gateway is case-access's own service identity,
    // and the request id is the email's Message-ID. A proxy contact emails
    // the case inbox naming Kim: a proxy case for Kim's account (R4.21).
    let (proxy, _) = world::employee(suite, "Emil", &[PROXY_CONTACT]).await;
    let (sender, recipient) = (email_of(suite, proxy).await, email_of(suite, kim).await);
    let gateway = suite.service_token(ServiceName::CaseAccess);
    let a = ca_pb::CreateCaseFromEmailRequest {
        request_id: "<idem-1@mail.example.com>".to_owned(),
        sender_address: sender,
        to_addresses: vec![recipient],
        subject: "Printer on fire".to_owned(),
        body: "Please help".to_owned(),
        ..Default::default()
    };
    let b = ca_pb::CreateCaseFromEmailRequest { subject: "Toner is empty".to_owned(), ..a.clone() };
    let (first, _) = cases
        .check(
            "CreateCaseFromEmail",
            a,
            b,
            rpc!(suite.case_access(Some(&gateway)), create_case_from_email),
            |r: &ca_pb::CreateCaseFromEmailResponse| {
                created(r.support_case.as_ref(), |case| &case.case_id, &r.consistency_token)
            },
        )
        .await;
    assert_eq!(first.outcome, ca_pb::EmailIntakeOutcome::CaseCreated as i32);
    assert_eq!(first.sender_profile_id, proxy.to_string());

    cases.finish();
});

// ------------------------------------------------------------------ licensing

backend_test!(licensing_writes_answer_retries_and_refuse_reused_request_ids, |suite| {
    let admin = suite.admin_token();
    let licensing = || suite.licensing(Some(&admin));
    let mut cases = Cases::new("csm.licensing.v1.LicensingService");

    let pool = |name: &str| lic_pb::CreatePoolRequest {
        request_id: request_id("CreatePool"),
        pool: Some(lic_pb::LicensePool { name: name.to_owned(), seat_count: 5, ..Default::default() }),
    };
    let (pool, _) = cases
        .check(
            "CreatePool",
            pool("Idem pool"),
            pool("Idem pool two"),
            rpc!(licensing(), create_pool),
            |r: &lic_pb::CreatePoolResponse| created(r.pool.as_ref(), |pool| &pool.pool_id, &r.consistency_token),
        )
        .await;
    let pool = pool.pool.unwrap().pool_id;

    // A person logs itself in.
    let (user, _, user_token) = employee_with_login(suite, "Lena", &[]).await;
    let a = lic_pb::LoginRequest {
        request_id: request_id("Login"),
        pool_id: pool,
        profile_id: user.to_string(),
        channel: lic_pb::ClientChannel::Desktop as i32,
        device_id: "laptop".to_owned(),
    };
    let b = lic_pb::LoginRequest {
        channel: lic_pb::ClientChannel::Mobile as i32,
        device_id: "phone".to_owned(),
        ..a.clone()
    };
    let (first, _) = cases
        .check("Login", a, b, rpc!(suite.licensing(Some(&user_token)), login), |r: &lic_pb::LoginResponse| {
            created(r.session.as_ref(), |session| &session.session_id, &r.consistency_token)
        })
        .await;
    assert!(first.seat_newly_acquired);

    let account = world::account(suite, &unique("Idem Portal Co"), None).await;
    let (cleo, _) = world::contact(suite, &account, "Cleo", &[CUSTOMER]).await;
    let (cody, _) = world::contact(suite, &account, "Cody", &[CUSTOMER]).await;
    let right = |profile: ProfileId| lic_pb::GrantLicenseRightRequest {
        request_id: request_id("GrantLicenseRight"),
        subject: Some(lic_pb::grant_license_right_request::Subject::ProfileId(profile.to_string())),
    };
    cases
        .check(
            "GrantLicenseRight",
            right(cleo),
            right(cody),
            rpc!(licensing(), grant_license_right),
            |r: &lic_pb::GrantLicenseRightResponse| {
                created(r.grant.as_ref(), |grant| &grant.license_right_grant_id, &r.consistency_token)
            },
        )
        .await;

    let plan = |product: lic_pb::LicensedProduct| lic_pb::CreateSeatPlanRequest {
        request_id: request_id("CreateSeatPlan"),
        seat_plan: Some(lic_pb::SeatPlan { product: product as i32, seat_limit: 5, ..Default::default() }),
    };
    let (plan, _) = cases
        .check(
            "CreateSeatPlan",
            plan(lic_pb::LicensedProduct::JiraServiceManagement),
            plan(lic_pb::LicensedProduct::ServicenowCsm),
            rpc!(licensing(), create_seat_plan),
            |r: &lic_pb::CreateSeatPlanResponse| {
                created(r.seat_plan.as_ref(), |plan| &plan.seat_plan_id, &r.consistency_token)
            },
        )
        .await;
    let plan = plan.seat_plan.unwrap().seat_plan_id;

    let (agent, _) = world::employee(suite, "Ada", &[]).await;
    let (other_agent, _) = world::employee(suite, "Abe", &[]).await;
    let seat = |profile: ProfileId| lic_pb::GrantAgentSeatRequest {
        request_id: request_id("GrantAgentSeat"),
        seat_plan_id: plan.clone(),
        profile_id: profile.to_string(),
        kind: lic_pb::SeatKind::Agent as i32,
    };
    cases
        .check(
            "GrantAgentSeat",
            seat(agent),
            seat(other_agent),
            rpc!(licensing(), grant_agent_seat),
            |r: &lic_pb::GrantAgentSeatResponse| {
                created(r.agent_seat.as_ref(), |seat| &seat.agent_seat_id, &r.consistency_token)
            },
        )
        .await;

    cases.finish();
});
