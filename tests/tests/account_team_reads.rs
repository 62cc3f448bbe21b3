//! Who reads and who builds account, consumer and household teams (R4.12),
//! and what external people read of account relationships, PCUST, account
//! access records and eligible partner contacts (R4.9), over real gRPC, on
//! SQLite and PostgreSQL.

use csm_proto::account_team as pb;
use csm_proto::identity as id_pb;
use csm_tests::world::*;
use csm_tests::{Suite, backend_test, reason_of};
use csm_types::ProfileId;
use csm_types::roles;
use std::collections::BTreeSet;
use tonic::Code;

/// The seeded "Account Manager" and "Relationship Manager" responsibilities.
const ACCOUNT_MANAGER: &str = "a7000000-0000-4000-8000-000000000001";
const RELATIONSHIP_MANAGER: &str = "a7000000-0000-4000-8000-000000000005";

fn member(team: pb::team_member::Team, profile: ProfileId, responsibility: &str) -> pb::CreateTeamMemberRequest {
    pb::CreateTeamMemberRequest {
        request_id: String::new(),
        team_member: Some(pb::TeamMember {
            team: Some(team),
            profile_id: profile.to_string(),
            member_kind: pb::TeamMemberKind::Internal as i32,
            responsibility_id: responsibility.to_owned(),
            ..Default::default()
        }),
    }
}

async fn list(suite: &Suite, token: &str, team: pb::list_team_members_request::Team) -> Result<usize, tonic::Status> {
    suite
        .account_team(Some(token))
        .list_team_members(pb::ListTeamMembersRequest { team: Some(team), page_size: 10, ..Default::default() })
        .await
        .map(|response| response.into_inner().team_members.len())
}

backend_test!(r4_12_agents_read_their_segments_teams_and_only_managers_build_them, |suite| {
    let admin = suite.admin_token();
    let acme = account(suite, "Acme", None).await;
    let cleo = consumer(suite, "Cleo").await;
    let (uli, uli_token) = employee(suite, "Uli", &[]).await;
    let (_, b2b_agent) = employee(suite, "Bea", &[roles::AGENT]).await;
    let (_, b2c_agent) = employee(suite, "Cal", &[roles::CONSUMER_AGENT]).await;
    let (_, manager) = employee(suite, "Max", &[roles::MANAGER]).await;
    let (_, customer) = contact(suite, &acme, "Kim", &[roles::CUSTOMER]).await;

    // Only the CSM manager (and location managers, data managers) build teams.
    let status = suite
        .account_team(Some(&b2b_agent))
        .create_team_member(member(pb::team_member::Team::AccountId(acme.clone()), uli, ACCOUNT_MANAGER))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    let account_member = suite
        .account_team(Some(&manager))
        .create_team_member(member(pb::team_member::Team::AccountId(acme.clone()), uli, ACCOUNT_MANAGER))
        .await
        .expect("the manager builds account teams")
        .into_inner()
        .team_member
        .unwrap();
    suite
        .account_team(Some(&manager))
        .create_team_member(member(pb::team_member::Team::ConsumerId(cleo.clone()), uli, RELATIONSHIP_MANAGER))
        .await
        .expect("the manager builds consumer teams");

    let account_team = || pb::list_team_members_request::Team::AccountId(acme.clone());
    let consumer_team = || pb::list_team_members_request::Team::ConsumerId(cleo.clone());
    // Customer agents read account team members, consumer agents consumer team members.
    assert_eq!(list(suite, &b2b_agent, account_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &b2b_agent, consumer_team()).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(list(suite, &b2c_agent, consumer_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &b2c_agent, account_team()).await.unwrap_err().code(), Code::PermissionDenied);
    // The manager reads both (it contains both agent roles); a customer neither.
    assert_eq!(list(suite, &manager, account_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &manager, consumer_team()).await.unwrap(), 1);
    assert_eq!(list(suite, &customer, account_team()).await.unwrap_err().code(), Code::PermissionDenied);
    let status = suite
        .account_team(Some(&customer))
        .get_team_member(pb::GetTeamMemberRequest { team_member_id: account_member.team_member_id.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // A member reads its own memberships; others need to read every kind of team.
    let own = suite
        .account_team(Some(&uli_token))
        .list_team_memberships_of_user(pb::ListTeamMembershipsOfUserRequest {
            profile_id: uli.to_string(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("own memberships")
        .into_inner();
    assert_eq!(own.team_members.len(), 2);
    let status = suite
        .account_team(Some(&b2b_agent))
        .list_team_memberships_of_user(pb::ListTeamMembershipsOfUserRequest {
            profile_id: uli.to_string(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        suite
            .account_team(Some(&admin))
            .get_team_member(pb::GetTeamMemberRequest { team_member_id: account_member.team_member_id })
            .await
            .is_ok()
    );
});

async fn restrict(suite: &Suite, account: &str) -> String {
    suite
        .account_team(Some(&suite.admin_token()))
        .create_account_access(pb::CreateAccountAccessRequest {
            request_id: String::new(),
            account_access: Some(pb::AccountAccess {
                account_id: account.to_owned(),
                restrict_account_access: false,
                ..Default::default()
            }),
        })
        .await
        .expect("account access")
        .into_inner()
        .account_access
        .unwrap()
        .account_access_id
}

/// Every account whose access record `token` lists, over all pages.
async fn listed_accesses(suite: &Suite, token: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .account_team(Some(token))
            .list_account_accesses(pb::ListAccountAccessesRequest { page_size: 1, page_token, ..Default::default() })
            .await
            .expect("list account accesses")
            .into_inner();
        seen.extend(page.account_accesses.into_iter().map(|access| access.account_id));
        if page.next_page_token.is_empty() {
            return seen;
        }
        page_token = page.next_page_token;
    }
}

/// What `token` may read of `customer` and `partner`, one answer per RPC
/// (`Ok(ids listed)` or the refusal's reason).
struct Reads {
    relationship: Result<(), String>,
    relationships_of_customer: Result<usize, String>,
    partner_customers: Result<BTreeSet<String>, String>,
    access_by_id: Result<(), String>,
    access_of_customer: Result<(), String>,
    eligible_partner_contacts: Result<BTreeSet<String>, String>,
}

fn not_visible<T>() -> Result<T, String> {
    Err("ACCOUNT_NOT_VISIBLE".to_owned())
}

fn refusal(status: tonic::Status) -> String {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    reason_of(&status)
}

async fn reads(suite: &Suite, token: &str, customer: &str, partner: &str, relationship: &str, access: &str) -> Reads {
    let client = || suite.account_team(Some(token));
    Reads {
        relationship: client()
            .get_account_relationship(pb::GetAccountRelationshipRequest {
                account_relationship_id: relationship.to_owned(),
            })
            .await
            .map(|_| ())
            .map_err(refusal),
        relationships_of_customer: client()
            .list_account_relationships(pb::ListAccountRelationshipsRequest {
                account_id: customer.to_owned(),
                page_size: 10,
                ..Default::default()
            })
            .await
            .map(|response| response.into_inner().account_relationships.len())
            .map_err(refusal),
        partner_customers: client()
            .list_partner_customers(pb::ListPartnerCustomersRequest {
                partner_account_id: partner.to_owned(),
                page_size: 10,
                ..Default::default()
            })
            .await
            .map(|response| {
                response.into_inner().partner_customers.into_iter().map(|c| c.customer_account_id).collect()
            })
            .map_err(refusal),
        access_by_id: client()
            .get_account_access(pb::GetAccountAccessRequest {
                key: Some(pb::get_account_access_request::Key::AccountAccessId(access.to_owned())),
            })
            .await
            .map(|_| ())
            .map_err(refusal),
        access_of_customer: client()
            .get_account_access(pb::GetAccountAccessRequest {
                key: Some(pb::get_account_access_request::Key::AccountId(customer.to_owned())),
            })
            .await
            .map(|_| ())
            .map_err(refusal),
        eligible_partner_contacts: client()
            .list_eligible_partner_contacts(pb::ListEligiblePartnerContactsRequest {
                account_id: customer.to_owned(),
                page_size: 10,
                ..Default::default()
            })
            .await
            .map(|response| response.into_inner().eligible_partner_contacts.into_iter().map(|c| c.contact_id).collect())
            .map_err(refusal),
    }
}

backend_test!(r4_9_external_people_read_account_team_records_only_of_accounts_they_may_see, |suite| {
    let acme = account(suite, "Acme", None).await;
    let globex = account(suite, "Globex", None).await;
    let partner = account_of_kind(suite, "Partner", None, id_pb::AccountKind::Partner).await;
    let rival = account_of_kind(suite, "Rival Partner", None, id_pb::AccountKind::Partner).await;
    let relationship = partner_relationship(suite, &partner, &acme).await;
    partner_relationship(suite, &rival, &globex).await;
    let acme_access = restrict(suite, &acme).await;
    restrict(suite, &globex).await;
    let (_, kim) = contact(suite, &acme, "Kim", &[roles::CUSTOMER]).await;
    let (pat, pat_token) = contact(suite, &partner, "Pat", &[roles::PARTNER]).await;
    let (_, fay) = contact(suite, &globex, "Fay", &[roles::CUSTOMER]).await;
    let (_, rita) = contact(suite, &rival, "Rita", &[roles::PARTNER, roles::PARTNER_ADMIN]).await;
    let (_, _, cleo) = consumer_user(suite, "Cleo", &[]).await;
    let (_, agent) = employee(suite, "Bea", &[roles::AGENT]).await;
    let everything = BTreeSet::from([acme.clone(), globex.clone()]);

    // Another tenant's people, and consumers, read nothing of Acme or its partner.
    for token in [&fay, &rita, &cleo] {
        let seen = reads(suite, token, &acme, &partner, &relationship, &acme_access).await;
        assert_eq!(seen.relationship, not_visible());
        assert_eq!(seen.relationships_of_customer, not_visible());
        assert_eq!(seen.partner_customers, not_visible());
        assert_eq!(seen.access_by_id, not_visible());
        assert_eq!(seen.access_of_customer, not_visible());
        assert_eq!(seen.eligible_partner_contacts, not_visible());
        assert!(!listed_accesses(suite, token).await.contains(&acme));
    }
    assert_eq!(listed_accesses(suite, &fay).await, BTreeSet::from([globex.clone()]));
    assert_eq!(listed_accesses(suite, &rita).await, BTreeSet::from([globex.clone()]));
    assert_eq!(listed_accesses(suite, &cleo).await, BTreeSet::new());

    // Acme's customer reads its own account's records, not its partner's
    // customer list, and no partner contact (a plain customer sees no contacts).
    let seen = reads(suite, &kim, &acme, &partner, &relationship, &acme_access).await;
    assert_eq!(seen.relationship, Ok(()));
    assert_eq!(seen.relationships_of_customer, Ok(1));
    assert_eq!(seen.partner_customers, not_visible());
    assert_eq!((seen.access_by_id, seen.access_of_customer), (Ok(()), Ok(())));
    assert_eq!(seen.eligible_partner_contacts, Ok(BTreeSet::new()));
    assert_eq!(listed_accesses(suite, &kim).await, BTreeSet::from([acme.clone()]));

    // The partner reads its customers (PCUST) and their partner contacts.
    let seen = reads(suite, &pat_token, &acme, &partner, &relationship, &acme_access).await;
    assert_eq!(seen.relationship, Ok(()));
    assert_eq!(seen.partner_customers, Ok(BTreeSet::from([acme.clone()])));
    assert_eq!(seen.eligible_partner_contacts, Ok(BTreeSet::from([pat.to_string()])));
    assert_eq!(listed_accesses(suite, &pat_token).await, BTreeSet::from([acme.clone()]));

    // Agents read everything.
    let seen = reads(suite, &agent, &acme, &partner, &relationship, &acme_access).await;
    assert_eq!(seen.partner_customers, Ok(BTreeSet::from([acme.clone()])));
    assert_eq!(seen.eligible_partner_contacts, Ok(BTreeSet::from([pat.to_string()])));
    assert_eq!((seen.relationship, seen.access_by_id), (Ok(()), Ok(())));
    assert_eq!(listed_accesses(suite, &agent).await, everything);
});
