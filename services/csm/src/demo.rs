//! The demo data set of `csm dev`, loaded over gRPC as the development
//! administrator. Every create carries a fixed `request_id`, so loading it
//! again (every start) changes nothing.

use csm_types::roles;
use std::time::Duration;

use csm_auth::SuiteKeys;
use csm_proto::case_access as case_pb;
use csm_proto::case_access::case_access_service_client::CaseAccessServiceClient;
use csm_proto::identity as identity_pb;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_proto::role as role_pb;
use csm_proto::role::role_service_client::RoleServiceClient;
use csm_server::PeerUrls;
use csm_telemetry::ClientTraceLayer;
use csm_types::{LoginId, ProfileId, ServiceName};
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::Layer as _;

/// What the demo loaded: (name, id) of each account and each person.
pub struct DemoData {
    pub accounts: Vec<(String, String)>,
    /// (name, profile id, role, login name)
    pub people: Vec<(String, String, String, String)>,
    /// (account name and description, case id), created by the demo agent.
    pub cases: Vec<(String, String)>,
}

/// The password of every demo login (development data only).
pub const DEMO_PASSWORD: &str = "demo-password-1";

/// Waits until every service reports SERVING.
pub async fn wait_until_serving(endpoints: &[(ServiceName, String)], limit: Duration) -> anyhow::Result<()> {
    let wait = async {
        for (_, url) in endpoints {
            let channel = Endpoint::from_shared(url.clone())?.connect_lazy();
            let mut health = HealthClient::new(channel);
            loop {
                let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
                if let Ok(response) = health.check(request).await
                    && response.into_inner().status == ServingStatus::Serving as i32
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(limit, wait)
        .await
        .map_err(|_| anyhow::anyhow!("services did not become SERVING in {limit:?}"))?
}

/// Loads the demo data set into the suite at `peers`, as the administrator
/// (`admin_token`) and, for cases, as the demo agent (a token minted with `keys`).
pub async fn load(peers: &PeerUrls, keys: &SuiteKeys, admin_token: &str) -> anyhow::Result<DemoData> {
    let identity_url = peers.url(ServiceName::Identity);
    let role_url = peers.url(ServiceName::Role);
    let channel = ClientTraceLayer::with_bearer_token(admin_token)
        .layer(Endpoint::from_shared(identity_url.to_owned())?.connect_lazy());
    let mut identity = IdentityServiceClient::new(channel);
    let role_channel = ClientTraceLayer::with_bearer_token(admin_token)
        .layer(Endpoint::from_shared(role_url.to_owned())?.connect_lazy());
    let mut roles = RoleServiceClient::new(role_channel);
    // (request id, name, kind, parent index)
    let accounts: [(&str, &str, identity_pb::AccountKind, Option<usize>); 5] = [
        ("demo-account-acme", "Acme Corp", identity_pb::AccountKind::Customer, None),
        ("demo-account-acme-eu", "Acme Europe", identity_pb::AccountKind::Customer, Some(0)),
        ("demo-account-acme-fr", "Acme France", identity_pb::AccountKind::Customer, Some(1)),
        ("demo-account-globex", "Globex", identity_pb::AccountKind::Customer, None),
        ("demo-account-initech", "Initech Partners", identity_pb::AccountKind::Partner, None),
    ];
    let mut created: Vec<(String, String)> = Vec::new();
    for (request_id, name, kind, parent) in accounts {
        let parent_account_id = parent.map(|index| created[index].1.clone()).unwrap_or_default();
        let account = identity
            .create_account(identity_pb::CreateAccountRequest {
                request_id: request_id.to_owned(),
                name: name.to_owned(),
                kind: kind as i32,
                parent_account_id,
            })
            .await
            .map_err(|status| anyhow::anyhow!("demo account {name}: {status}"))?
            .into_inner()
            .account
            .ok_or_else(|| anyhow::anyhow!("demo account {name}: empty response"))?;
        created.push((name.to_owned(), account.account_id));
    }

    let details = |first: &str, last: &str| identity_pb::PersonDetails {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
        ..Default::default()
    };
    let new_login = |login_name: &str| {
        Some(identity_pb::NewLogin { login_name: login_name.to_owned(), password: DEMO_PASSWORD.to_owned() })
    };
    let mut people = Vec::new();
    let agent = identity
        .create_employee(identity_pb::CreateEmployeeRequest {
            request_id: "demo-employee-ada".to_owned(),
            details: Some(details("Ada", "Agent")),
            title: "Customer service agent".to_owned(),
            channels: vec![identity_pb::Channel::Browser as i32],
            login: Some(identity_pb::create_employee_request::Login::NewLogin(new_login("ada.agent").unwrap())),
            ..Default::default()
        })
        .await
        .map_err(|status| anyhow::anyhow!("demo employee: {status}"))?
        .into_inner()
        .profile
        .ok_or_else(|| anyhow::anyhow!("demo employee: empty response"))?;
    people.push(("Ada Agent".to_owned(), agent.profile_id.clone(), roles::AGENT.to_owned(), "ada.agent".to_owned()));
    let contact = identity
        .create_contact(identity_pb::CreateContactRequest {
            request_id: "demo-contact-carl".to_owned(),
            account_id: created[0].1.clone(),
            details: Some(details("Carl", "Contact")),
            channels: vec![identity_pb::Channel::CustomerPortal as i32],
            login: Some(identity_pb::create_contact_request::Login::NewLogin(new_login("carl.contact").unwrap())),
            ..Default::default()
        })
        .await
        .map_err(|status| anyhow::anyhow!("demo contact: {status}"))?
        .into_inner()
        .profile
        .ok_or_else(|| anyhow::anyhow!("demo contact: empty response"))?;
    people.push((
        "Carl Contact".to_owned(),
        contact.profile_id,
        roles::CUSTOMER_ADMIN.to_owned(),
        "carl.contact".to_owned(),
    ));
    for (name, profile_id, role, _) in &people {
        let result = roles
            .assign_role(role_pb::AssignRoleRequest {
                request_id: format!("demo-role-{profile_id}-{role}"),
                profile_id: profile_id.clone(),
                role: role.clone(),
            })
            .await;
        match result {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => anyhow::bail!("demo role {role} for {name}: {status}"),
        }
    }

    // Cases, created by the agent: one in Acme's hierarchy, one at Globex.
    let agent_token = keys.mint_person(
        LoginId::parse(&agent.login_id).map_err(|error| anyhow::anyhow!("demo agent login: {error}"))?,
        None,
        ProfileId::parse(&agent.profile_id).map_err(|error| anyhow::anyhow!("demo agent: {error}"))?,
        Duration::from_secs(600),
    );
    let case_channel = ClientTraceLayer::with_bearer_token(&agent_token)
        .layer(Endpoint::from_shared(peers.url(ServiceName::CaseAccess).to_owned())?.connect_lazy());
    let mut case_access = CaseAccessServiceClient::new(case_channel);
    let mut cases = Vec::new();
    for (request_id, account, description) in
        [("demo-case-acme-fr", &created[2], "Printer on fire"), ("demo-case-globex", &created[3], "VPN down")]
    {
        let draft = case_pb::CaseDraft {
            create_for: case_pb::CreateFor::Account as i32,
            short_description: description.to_owned(),
            account_id: account.1.clone(),
            ..Default::default()
        };
        let case = case_access
            .create_case(case_pb::CreateCaseRequest {
                request_id: request_id.to_owned(),
                draft: Some(draft),
                ..Default::default()
            })
            .await
            .map_err(|status| anyhow::anyhow!("demo case {description}: {status}"))?
            .into_inner()
            .support_case
            .ok_or_else(|| anyhow::anyhow!("demo case {description}: empty response"))?;
        cases.push((format!("{}: {description}", account.0), case.case_id));
    }
    Ok(DemoData { accounts: created, people, cases })
}
