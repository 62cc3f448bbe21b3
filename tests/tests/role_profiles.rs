//! role: profile-level RPCs over gRPC — ReplaceProfileRoles (R1.6),
//! ListProfileRoles, BatchGetEffectiveRoles, GetPrincipalClass (R2.7),
//! EnsureDefaultClass (R2.13, R2.13a), delegated assignment (R4.7, R4.8),
//! ValidateAssignment and the anomaly scan and fixes (R2.16, R2.15).
//! Each test runs on SQLite and on PostgreSQL (see `backend_test!`).

use csm_types::roles;
use std::collections::BTreeSet;

use csm_proto::identity as id_pb;
use csm_proto::role as pb;
use csm_tests::{Suite, backend_test, masked, reason_of, violated_fields};
use csm_types::{ProfileId, ServiceName};
use tonic::{Code, Status};

// ------------------------------------------------------------------ helpers

type RoleClient = pb::role_service_client::RoleServiceClient<csm_tests::TestChannel>;

fn admin(suite: &Suite) -> RoleClient {
    suite.role(Some(&suite.admin_token()))
}

/// A role client acting as `profile` (a person with that active profile).
async fn as_person(suite: &Suite, profile: ProfileId) -> RoleClient {
    suite.role(Some(&suite.token_as(profile).await))
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn person_details(first: &str) -> Option<id_pb::PersonDetails> {
    Some(id_pb::PersonDetails {
        first_name: first.to_owned(),
        last_name: "Profiled".to_owned(),
        email: format!("{}.{}@example.com", first.to_lowercase(), unique()),
        ..Default::default()
    })
}

async fn account(suite: &Suite, name: &str, kind: id_pb::AccountKind, parent: Option<&str>) -> String {
    suite
        .identity(Some(&suite.admin_token()))
        .create_account(id_pb::CreateAccountRequest {
            request_id: String::new(),
            name: format!("{name} {}", unique()),
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

/// A contact of `account` (CONTACT or PARTNER_CONTACT); identity gives it snc_external (R2.14).
async fn contact(suite: &Suite, account: &str, first: &str) -> ProfileId {
    let profile = suite
        .identity(Some(&suite.admin_token()))
        .create_contact(id_pb::CreateContactRequest {
            account_id: account.to_owned(),
            details: person_details(first),
            ..Default::default()
        })
        .await
        .expect("create contact")
        .into_inner()
        .profile
        .unwrap();
    ProfileId::parse(&profile.profile_id).unwrap()
}

/// An employee (INTERNAL profile) without any role.
async fn employee(suite: &Suite, first: &str) -> ProfileId {
    let profile = suite
        .identity(Some(&suite.admin_token()))
        .create_employee(id_pb::CreateEmployeeRequest {
            details: person_details(first),
            title: "Agent".to_owned(),
            ..Default::default()
        })
        .await
        .expect("create employee")
        .into_inner()
        .profile
        .unwrap();
    ProfileId::parse(&profile.profile_id).unwrap()
}

async fn replace(
    client: &mut RoleClient,
    profile: ProfileId,
    roles: &[&str],
) -> Result<pb::ReplaceProfileRolesResponse, Status> {
    client
        .replace_profile_roles(pb::ReplaceProfileRolesRequest {
            profile_id: profile.to_string(),
            roles: roles.iter().map(|role| role.to_string()).collect(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn assign(client: &mut RoleClient, profile: ProfileId, role: &str) -> Result<pb::AssignRoleResponse, Status> {
    client
        .assign_role(pb::AssignRoleRequest {
            request_id: String::new(),
            profile_id: profile.to_string(),
            role: role.to_owned(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn revoke(client: &mut RoleClient, profile: ProfileId, role: &str) -> Result<String, Status> {
    client
        .revoke_role(pb::RevokeRoleRequest { profile_id: profile.to_string(), role: role.to_owned() })
        .await
        .map(|response| response.into_inner().consistency_token)
}

/// The direct roles of `profile`, sorted.
async fn direct_roles(suite: &Suite, profile: ProfileId) -> Vec<String> {
    let grants = admin(suite)
        .list_profile_roles(pb::ListProfileRolesRequest {
            profile_id: profile.to_string(),
            page_size: 1000,
            sources: vec![pb::RoleSource::Direct as i32],
            ..Default::default()
        })
        .await
        .expect("list profile roles")
        .into_inner()
        .grants;
    let roles: BTreeSet<String> = grants.into_iter().map(|grant| grant.role).collect();
    roles.into_iter().collect()
}

fn strings(roles: &[&str]) -> Vec<String> {
    roles.iter().map(|role| role.to_string()).collect()
}

fn assert_denied(status: &Status, reason: &str) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(reason_of(status), reason, "{status:?}");
}

async fn set_contact_role_assignment(suite: &Suite, roles: &[&str]) {
    admin(suite)
        .update_role_settings(masked!(
            pb::UpdateRoleSettingsRequest {
                settings: Some(pb::RoleSettings { contact_role_assignment: strings(roles), ..Default::default() }),
                update_mask: None,
            },
            ["contact_role_assignment"]
        ))
        .await
        .expect("settings updated");
}

async fn set_mixing_policy(suite: &Suite, policy: pb::CsmRoleMixingPolicy) {
    admin(suite)
        .update_role_settings(masked!(
            pb::UpdateRoleSettingsRequest {
                settings: Some(pb::RoleSettings { csm_role_mixing_policy: policy as i32, ..Default::default() }),
                update_mask: None,
            },
            ["csm_role_mixing_policy"]
        ))
        .await
        .expect("settings updated");
}

/// A customer admin: a contact of `account` holding customer_admin.
async fn customer_admin(suite: &Suite, account: &str) -> ProfileId {
    let profile = contact(suite, account, "Ada").await;
    suite.assign_role(profile, roles::CUSTOMER_ADMIN).await.expect("customer admin role");
    profile
}

async fn anomalies(suite: &Suite, categories: &[pb::RoleAnomalyCategory]) -> Vec<pb::RoleAnomaly> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin(suite)
            .list_role_anomalies(pb::ListRoleAnomaliesRequest {
                page_size: 1,
                page_token: page_token.clone(),
                categories: categories.iter().map(|category| *category as i32).collect(),
            })
            .await
            .expect("list anomalies")
            .into_inner();
        assert!(page.anomalies.len() <= 1);
        all.extend(page.anomalies);
        assert!(page.total_count as usize >= all.len());
        if page.next_page_token.is_empty() {
            assert_eq!(page.total_count as usize, all.len(), "total_count counts every page");
            return all;
        }
        page_token = page.next_page_token;
    }
}

async fn fix(
    suite: &Suite,
    categories: &[pb::RoleAnomalyCategory],
    batch_size: i32,
) -> Result<pb::FixRoleAnomaliesResponse, Status> {
    admin(suite)
        .fix_role_anomalies(pb::FixRoleAnomaliesRequest {
            request_id: String::new(),
            categories: categories.iter().map(|category| *category as i32).collect(),
            profile_ids: Vec::new(),
            batch_size,
        })
        .await
        .map(|response| response.into_inner())
}

// ------------------------------------------------------------- SPEC rules

backend_test!(r1_6_an_empty_role_set_is_refused_and_the_contact_keeps_its_roles, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let ca = customer_admin(suite, &acme).await;
    let k = contact(suite, &acme, "Kim").await;
    suite.assign_role(k, roles::CUSTOMER).await.unwrap();
    let before = direct_roles(suite, k).await;
    assert_eq!(before, strings(&[roles::CUSTOMER, roles::SNC_EXTERNAL]));

    // The customer admin submits the edit-roles form empty.
    let status = replace(&mut as_person(suite, ca).await, k, &[]).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "EMPTY_ROLE_SET".to_owned()));
    // So does the administrator.
    let status = replace(&mut admin(suite), k, &[]).await.unwrap_err();
    assert_eq!(reason_of(&status), "EMPTY_ROLE_SET");
    assert_eq!(direct_roles(suite, k).await, before, "K keeps its roles");

    // RevokeRole never leaves a profile without a role either.
    let lone = contact(suite, &acme, "Lone").await;
    let status = revoke(&mut admin(suite), lone, roles::SNC_EXTERNAL).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "LAST_ROLE".to_owned()));
});

backend_test!(r1_6_replace_profile_roles_replaces_the_direct_set_in_one_transaction, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let k = contact(suite, &acme, "Kim").await;
    suite.assign_role(k, roles::CUSTOMER).await.unwrap();

    let replaced = replace(&mut admin(suite), k, &[roles::CUSTOMER_CASE_MANAGER, "knowledge"]).await.unwrap();
    let roles: Vec<String> = replaced.assignments.iter().map(|assignment| assignment.role.clone()).collect();
    assert_eq!(roles, strings(&["knowledge", roles::CUSTOMER_CASE_MANAGER]));
    assert!(replaced.retained_roles.is_empty());
    assert!(replaced.consistency_token.starts_with("role:"));
    // customer_case_manager ⊃ customer ⊃ snc_external: still external.
    assert!(suite.effective_roles(k).await.contains(&roles::SNC_EXTERNAL.to_owned()));

    // A set that collides in itself is refused and nothing changes.
    let status = replace(&mut admin(suite), k, &[roles::CUSTOMER, roles::SNC_INTERNAL]).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::FailedPrecondition, "ROLE_COLLISION".to_owned()));
    let status = replace(&mut admin(suite), k, &[roles::CUSTOMER, "no_such_role"]).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "ROLE_NOT_FOUND".to_owned()));
    assert_eq!(direct_roles(suite, k).await, strings(&["knowledge", roles::CUSTOMER_CASE_MANAGER]));

    // An alias is accepted and answered canonically (X11); duplicates collapse.
    let replaced = replace(&mut admin(suite), k, &[roles::CSM_PROXY_CONT, roles::PROXY_CONTACT, roles::SNC_EXTERNAL])
        .await
        .unwrap();
    let roles: Vec<String> = replaced.assignments.iter().map(|assignment| assignment.role.clone()).collect();
    assert_eq!(roles, strings(&[roles::PROXY_CONTACT, roles::SNC_EXTERNAL]));

    // A profile identity does not know is NOT_FOUND for a person.
    let status = replace(&mut admin(suite), ProfileId::new(), &["knowledge"]).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "PROFILE_NOT_FOUND".to_owned()));
});

backend_test!(r2_7_principal_class_follows_the_explicit_roles, |suite| {
    let agent = employee(suite, "Agnes").await;
    suite.assign_role(agent, roles::SNC_INTERNAL).await.unwrap();
    suite.assign_role(agent, roles::AGENT).await.unwrap();
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let customer = contact(suite, &acme, "Cleo").await;
    suite.assign_role(customer, roles::CUSTOMER).await.unwrap();

    let class_of = |profile: ProfileId| {
        let mut client = admin(suite);
        async move {
            client
                .get_principal_class(pb::GetPrincipalClassRequest {
                    profile_id: profile.to_string(),
                    consistency: None,
                })
                .await
                .expect("principal class")
                .into_inner()
        }
    };
    let internal = class_of(agent).await;
    assert_eq!(internal.principal_class, pb::PrincipalClass::Internal as i32);
    assert_eq!(internal.explicit_grants.len(), 1);
    assert_eq!(internal.explicit_grants[0].source, pb::RoleSource::Direct as i32);
    let external = class_of(customer).await;
    assert_eq!(external.principal_class, pb::PrincipalClass::External as i32);
    // Direct snc_external and through customer ⊃ sn_esm_user ⊃ snc_external (or customer ⊃ snc_external).
    assert!(external.explicit_grants.iter().all(|grant| grant.role == roles::SNC_EXTERNAL));
    assert!(external.explicit_grants.iter().any(|grant| grant.source == pb::RoleSource::Containment as i32));
    let unknown = class_of(ProfileId::new()).await;
    assert_eq!(unknown.principal_class, pb::PrincipalClass::None as i32);

    // A person reads its own class, not another's.
    let own = as_person(suite, customer)
        .await
        .get_principal_class(pb::GetPrincipalClassRequest { profile_id: customer.to_string(), consistency: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.principal_class, pb::PrincipalClass::External as i32);
    let status = as_person(suite, customer)
        .await
        .get_principal_class(pb::GetPrincipalClassRequest { profile_id: agent.to_string(), consistency: None })
        .await
        .unwrap_err();
    assert_denied(&status, "MISSING_ROLE");
});

backend_test!(r2_13_ensure_default_class_persists_internal_unless_the_class_is_deny_listed, |suite| {
    let ensure = |profile: ProfileId| {
        let mut client = suite.role(Some(&suite.service_token(ServiceName::Identity)));
        async move { client.ensure_default_class(pb::EnsureDefaultClassRequest { profile_id: profile.to_string() }).await }
    };
    // A new employee without roles: snc_internal (R2.13).
    let new_employee = employee(suite, "Nora").await;
    let first = ensure(new_employee).await.unwrap().into_inner();
    assert_eq!(first.outcome, pb::DefaultClassOutcome::AssignedInternal as i32);
    assert_eq!(first.principal_class, pb::PrincipalClass::Internal as i32);
    assert_eq!(first.assignment.as_ref().unwrap().role, roles::SNC_INTERNAL);
    assert!(suite.effective_roles(new_employee).await.contains(&roles::SNC_INTERNAL.to_owned()));
    // Idempotent.
    let again = ensure(new_employee).await.unwrap().into_inner();
    assert_eq!(again.outcome, pb::DefaultClassOutcome::AlreadyClassified as i32);
    assert!(again.assignment.is_none());
    assert_eq!(direct_roles(suite, new_employee).await, strings(&[roles::SNC_INTERNAL]));

    // A contact (deny-listed class by default) left without an explicit role: snc_external (R2.13a).
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let m = contact(suite, &acme, "Milo").await;
    assert_eq!(ensure(m).await.unwrap().into_inner().outcome, pb::DefaultClassOutcome::AlreadyClassified as i32);
    replace(&mut admin(suite), m, &["knowledge"]).await.unwrap();
    let outcome = ensure(m).await.unwrap().into_inner();
    assert_eq!(outcome.outcome, pb::DefaultClassOutcome::AssignedExternal as i32);
    assert_eq!(outcome.principal_class, pb::PrincipalClass::External as i32);

    // Concurrent first logins write once.
    let racer = employee(suite, "Rae").await;
    let calls: Vec<_> = (0..6).map(|_| tokio::spawn(ensure(racer))).collect();
    let mut assigned = 0;
    for call in calls {
        let outcome = call.await.unwrap().expect("ensure").into_inner().outcome;
        if outcome == pb::DefaultClassOutcome::AssignedInternal as i32 {
            assigned += 1;
        }
    }
    assert_eq!(assigned, 1);
    assert_eq!(direct_roles(suite, racer).await, strings(&[roles::SNC_INTERNAL]));

    // Unknown profile; another person's profile.
    let status = ensure(ProfileId::new()).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::NotFound, "PROFILE_NOT_FOUND".to_owned()));
    let status = as_person(suite, m)
        .await
        .ensure_default_class(pb::EnsureDefaultClassRequest { profile_id: racer.to_string() })
        .await
        .unwrap_err();
    assert_denied(&status, "MISSING_ROLE");
    // The profile itself may call it.
    let own = as_person(suite, m)
        .await
        .ensure_default_class(pb::EnsureDefaultClassRequest { profile_id: m.to_string() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.outcome, pb::DefaultClassOutcome::AlreadyClassified as i32);
});

backend_test!(r2_16_role_anomalies_of_contacts_are_categorized_and_paged, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let non_intentional = contact(suite, &acme, "Nia").await;
    replace(&mut admin(suite), non_intentional, &[roles::SNC_INTERNAL]).await.unwrap();
    let possibly = contact(suite, &acme, "Pia").await;
    replace(&mut admin(suite), possibly, &[roles::SNC_INTERNAL, roles::AGENT]).await.unwrap();
    let contained = contact(suite, &acme, "Cai").await;
    replace(&mut admin(suite), contained, &[roles::RELATIONSHIP_AGENT]).await.unwrap();
    // An employee holding snc_internal is no anomaly.
    let staff = employee(suite, "Sam").await;
    suite.assign_role(staff, roles::SNC_INTERNAL).await.unwrap();

    let all = anomalies(suite, &[]).await;
    let found: Vec<(String, i32)> = all.iter().map(|anomaly| (anomaly.profile_id.clone(), anomaly.category)).collect();
    let mut expected = vec![
        (non_intentional.to_string(), pb::RoleAnomalyCategory::NonIntentional as i32),
        (possibly.to_string(), pb::RoleAnomalyCategory::PossiblyIntentional as i32),
        (contained.to_string(), pb::RoleAnomalyCategory::Contained as i32),
    ];
    expected.sort();
    assert_eq!(found, expected, "ordered by profile_id");
    let by_profile = |profile: ProfileId| all.iter().find(|anomaly| anomaly.profile_id == profile.to_string()).unwrap();
    let first = by_profile(non_intentional);
    assert_eq!(first.proposed_remove_roles, strings(&[roles::SNC_INTERNAL]));
    assert_eq!(first.proposed_add_roles, strings(&[roles::SNC_EXTERNAL]));
    assert!(first.fixable);
    assert_eq!(first.evidence[0].role, roles::SNC_INTERNAL);
    let second = by_profile(possibly);
    assert_eq!(second.proposed_remove_roles, strings(&[roles::AGENT, roles::SNC_INTERNAL]));
    let third = by_profile(contained);
    assert!(!third.fixable);
    assert!(third.proposed_remove_roles.is_empty());
    assert_eq!(third.evidence[0].source, pb::RoleSource::Containment as i32);

    let only = anomalies(suite, &[pb::RoleAnomalyCategory::Contained]).await;
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].profile_id, contained.to_string());

    // Role administrators only: a contact is refused by the authorization
    // matrix before the handler asks for roles.
    let status = as_person(suite, non_intentional)
        .await
        .list_role_anomalies(pb::ListRoleAnomaliesRequest::default())
        .await
        .unwrap_err();
    assert_denied(&status, "CALLER_KIND_NOT_ALLOWED");
});

backend_test!(r2_16_fixes_run_in_batches_and_report_what_remains, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let non_intentional = contact(suite, &acme, "Nia").await;
    replace(&mut admin(suite), non_intentional, &[roles::SNC_INTERNAL, "knowledge"]).await.unwrap();
    let possibly = contact(suite, &acme, "Pia").await;
    replace(&mut admin(suite), possibly, &[roles::SNC_INTERNAL, roles::AGENT]).await.unwrap();
    let contained = contact(suite, &acme, "Cai").await;
    replace(&mut admin(suite), contained, &[roles::RELATIONSHIP_AGENT]).await.unwrap();

    let status = fix(suite, &[pb::RoleAnomalyCategory::Contained], 0).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "ANOMALY_NOT_FIXABLE".to_owned()));
    let status = fix(suite, &[], 3001).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "BATCH_TOO_LARGE".to_owned()));

    let first = fix(suite, &[], 1).await.unwrap();
    assert_eq!((first.fixed_count, first.remaining_count), (1, 1));
    assert!(first.consistency_token.starts_with("role:"));
    let second = fix(suite, &[], 0).await.unwrap();
    assert_eq!((second.fixed_count, second.remaining_count), (1, 0));
    let third = fix(suite, &[], 0).await.unwrap();
    assert_eq!((third.fixed_count, third.remaining_count, third.consistency_token.as_str()), (0, 0, ""));

    assert_eq!(direct_roles(suite, non_intentional).await, strings(&["knowledge", roles::SNC_EXTERNAL]));
    assert_eq!(direct_roles(suite, possibly).await, strings(&[roles::SNC_EXTERNAL]));
    // CONTAINED is manual: untouched, still listed.
    assert_eq!(direct_roles(suite, contained).await, strings(&[roles::RELATIONSHIP_AGENT]));
    let left = anomalies(suite, &[]).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].category, pb::RoleAnomalyCategory::Contained as i32);
});

backend_test!(r2_15_a_warn_flagged_profile_is_listed_as_family_mixing, |suite| {
    set_mixing_policy(suite, pb::CsmRoleMixingPolicy::Warn).await;
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let k = contact(suite, &acme, "Kit").await;
    suite.assign_role(k, roles::CUSTOMER).await.unwrap();
    // The dry run reports the WARN finding and allows it.
    let validation = admin(suite)
        .validate_assignment(pb::ValidateAssignmentRequest {
            proposal: Some(pb::validate_assignment_request::Proposal::ProfileRole(pb::ProposedProfileRole {
                profile_id: k.to_string(),
                role: roles::AGENT.to_owned(),
            })),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(validation.allowed);
    assert_eq!(validation.findings[0].reason, "ROLE_FAMILY_COLLISION");
    assert_eq!(validation.findings[0].severity, pb::FindingSeverity::Warning as i32);
    assert!(anomalies(suite, &[pb::RoleAnomalyCategory::FamilyMixing]).await.is_empty(), "nothing flagged yet");
    let assigned = assign(&mut admin(suite), k, roles::AGENT).await.expect("WARN lets it through");
    assert_eq!(assigned.warnings[0].reason, "ROLE_FAMILY_COLLISION");
    let listed = anomalies(suite, &[pb::RoleAnomalyCategory::FamilyMixing]).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].profile_id, k.to_string());
    assert!(!listed[0].fixable);
    assert!(listed[0].detect_time.is_some());
    assert!(listed[0].evidence.iter().any(|grant| grant.role == roles::ESM_AGENT));
});

backend_test!(r4_7_customer_case_manager_is_assignable_only_once_listed, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let ca = customer_admin(suite, &acme).await;
    let k = contact(suite, &acme, "Kim").await;
    let status = assign(&mut as_person(suite, ca).await, k, roles::CUSTOMER_CASE_MANAGER).await.unwrap_err();
    assert_denied(&status, "ROLE_NOT_ASSIGNABLE");
    let assignable = as_person(suite, ca)
        .await
        .list_assignable_roles(pb::ListAssignableRolesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assignable.roles, strings(&[roles::CUSTOMER, roles::CUSTOMER_ADMIN]));
    assert!(!assignable.unrestricted);

    set_contact_role_assignment(
        suite,
        &[roles::PARTNER_ADMIN, roles::PARTNER, roles::CUSTOMER_ADMIN, roles::CUSTOMER, roles::CUSTOMER_CASE_MANAGER],
    )
    .await;
    let assigned =
        assign(&mut as_person(suite, ca).await, k, roles::CUSTOMER_CASE_MANAGER).await.expect("now assignable");
    assert_eq!(assigned.assignment.unwrap().granted_by_profile_id, ca.to_string());
    assert!(suite.effective_roles(k).await.contains(&roles::CUSTOMER_CASE_MANAGER.to_owned()));
});

backend_test!(r4_8_customer_admin_assigns_only_held_roles_to_contacts_in_its_hierarchy, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let east = account(suite, "Acme East", id_pb::AccountKind::Customer, Some(&acme)).await;
    let initech = account(suite, "Initech", id_pb::AccountKind::Customer, None).await;
    let ca = customer_admin(suite, &acme).await;
    let own = contact(suite, &acme, "Olga").await;
    let child = contact(suite, &east, "Chad").await;
    let other = contact(suite, &initech, "Otto").await;
    let staff = employee(suite, "Stan").await;
    let mut client = as_person(suite, ca).await;

    // Own account and descendants: OK, assign and revoke.
    assign(&mut client, own, roles::CUSTOMER).await.expect("own account");
    assign(&mut client, child, roles::CUSTOMER_ADMIN).await.expect("descendant account");
    revoke(&mut client, child, roles::CUSTOMER_ADMIN).await.expect("revoke in scope");
    // Another account's contact, and an employee: out of scope, nothing written.
    assert_denied(&assign(&mut client, other, roles::CUSTOMER).await.unwrap_err(), "PROFILE_OUT_OF_SCOPE");
    assert_denied(&assign(&mut client, staff, roles::CUSTOMER).await.unwrap_err(), "PROFILE_OUT_OF_SCOPE");
    assert_eq!(direct_roles(suite, other).await, strings(&[roles::SNC_EXTERNAL]));
    // A role it does not hold (no privilege escalation), or not in the list.
    assert_denied(&assign(&mut client, own, roles::PARTNER_ADMIN).await.unwrap_err(), "ROLE_NOT_ASSIGNABLE");
    assert_denied(&assign(&mut client, own, roles::AGENT).await.unwrap_err(), "ROLE_NOT_ASSIGNABLE");
    assert_denied(&revoke(&mut client, own, roles::SNC_EXTERNAL).await.unwrap_err(), "ROLE_NOT_ASSIGNABLE");
    // The scope check of ListAssignableRoles is the same rule.
    let in_scope = client
        .list_assignable_roles(pb::ListAssignableRolesRequest {
            actor_profile_id: String::new(),
            target_profile_id: child.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(in_scope.roles.len(), 2);
    let status = client
        .list_assignable_roles(pb::ListAssignableRolesRequest {
            actor_profile_id: String::new(),
            target_profile_id: other.to_string(),
        })
        .await
        .unwrap_err();
    assert_denied(&status, "PROFILE_OUT_OF_SCOPE");
    // The administrator is unrestricted and may ask for another actor.
    let for_ca = admin(suite)
        .list_assignable_roles(pb::ListAssignableRolesRequest {
            actor_profile_id: ca.to_string(),
            target_profile_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(for_ca.roles.len(), 2);
    let own_admin = admin(suite).list_assignable_roles(pb::ListAssignableRolesRequest::default()).await.unwrap();
    assert!(own_admin.into_inner().unrestricted);
    // A delegated admin may not ask for another actor.
    let status = client
        .list_assignable_roles(pb::ListAssignableRolesRequest {
            actor_profile_id: own.to_string(),
            target_profile_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_denied(&status, "MISSING_ROLE");

    // A plain customer has no assignment right at all (the matrix opens
    // AssignRole to customer admins, not to customers).
    let status = assign(&mut as_person(suite, own).await, child, roles::CUSTOMER).await.unwrap_err();
    assert_denied(&status, "CALLER_KIND_NOT_ALLOWED");
    // A delegated admin reads the roles of contacts in scope only.
    client
        .list_profile_roles(pb::ListProfileRolesRequest { profile_id: child.to_string(), ..Default::default() })
        .await
        .expect("in scope");
    let status = client
        .list_profile_roles(pb::ListProfileRolesRequest { profile_id: other.to_string(), ..Default::default() })
        .await
        .unwrap_err();
    assert_denied(&status, "PROFILE_OUT_OF_SCOPE");
});

backend_test!(r4_8_a_delegated_replace_keeps_the_roles_it_may_not_assign, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let ca = customer_admin(suite, &acme).await;
    let k = contact(suite, &acme, "Kim").await;
    suite.assign_role(k, roles::CUSTOMER).await.unwrap();
    suite.assign_role(k, "knowledge").await.unwrap();

    let replaced = replace(&mut as_person(suite, ca).await, k, &[roles::CUSTOMER_ADMIN]).await.unwrap();
    let roles: Vec<String> = replaced.assignments.iter().map(|assignment| assignment.role.clone()).collect();
    assert_eq!(roles, strings(&["knowledge", roles::CUSTOMER_ADMIN, roles::SNC_EXTERNAL]));
    assert_eq!(replaced.retained_roles, strings(&["knowledge", roles::SNC_EXTERNAL]));
    let status = replace(&mut as_person(suite, ca).await, k, &[roles::PARTNER]).await.unwrap_err();
    assert_denied(&status, "ROLE_NOT_ASSIGNABLE");
});

backend_test!(r4_8_partner_admin_manages_its_partner_accounts_contacts, |suite| {
    let partner = account(suite, "Resellers", id_pb::AccountKind::Partner, None).await;
    let customer_account = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let pa = contact(suite, &partner, "Pat").await;
    suite.assign_role(pa, roles::PARTNER_ADMIN).await.unwrap();
    let colleague = contact(suite, &partner, "Quinn").await;
    let customer = contact(suite, &customer_account, "Cleo").await;
    let mut client = as_person(suite, pa).await;

    assign(&mut client, colleague, roles::PARTNER).await.expect("own partner account");
    assign(&mut client, colleague, roles::PARTNER_ADMIN).await.expect("a role it holds");
    let assignable = client.list_assignable_roles(pb::ListAssignableRolesRequest::default()).await.unwrap();
    assert_eq!(assignable.into_inner().roles.len(), 4);
    // A customer's contact is out of scope until the customer is in PCUST(acct(me)).
    assert_denied(&assign(&mut client, customer, roles::CUSTOMER).await.unwrap_err(), "PROFILE_OUT_OF_SCOPE");
    let admin = suite.admin_token();
    suite
        .account_team(Some(&admin))
        .create_account_relationship(csm_proto::account_team::CreateAccountRelationshipRequest {
            request_id: String::new(),
            account_relationship: Some(csm_proto::account_team::AccountRelationship {
                from_account_id: partner.clone(),
                to_account_id: customer_account.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("partner relationship");
    assign(&mut client, customer, roles::CUSTOMER).await.expect("a contact of a PCUST account");
    // Still not any account: a third customer stays out of scope.
    let stranger_account = account(suite, "Initech", id_pb::AccountKind::Customer, None).await;
    let stranger = contact(suite, &stranger_account, "Stan").await;
    assert_denied(&assign(&mut client, stranger, roles::CUSTOMER).await.unwrap_err(), "PROFILE_OUT_OF_SCOPE");
});

backend_test!(r4_8_validate_assignment_agrees_with_the_mutations_and_writes_nothing, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let initech = account(suite, "Initech", id_pb::AccountKind::Customer, None).await;
    let ca = customer_admin(suite, &acme).await;
    let own = contact(suite, &acme, "Olga").await;
    let other = contact(suite, &initech, "Otto").await;

    let validate = |token: String, proposal: pb::validate_assignment_request::Proposal| {
        let mut client = suite.role(Some(&token));
        async move {
            client
                .validate_assignment(pb::ValidateAssignmentRequest { proposal: Some(proposal) })
                .await
                .map(|response| response.into_inner())
        }
    };
    let single = |profile: ProfileId, role: &str| {
        pb::validate_assignment_request::Proposal::ProfileRole(pb::ProposedProfileRole {
            profile_id: profile.to_string(),
            role: role.to_owned(),
        })
    };
    let ca_token = suite.token_as(ca).await;
    let admin_token = suite.admin_token();
    let cases: Vec<(String, ProfileId, &str)> = vec![
        (ca_token.clone(), own, roles::PARTNER_ADMIN),
        (ca_token.clone(), other, roles::CUSTOMER),
        (admin_token.clone(), own, roles::SNC_INTERNAL),
        (admin_token.clone(), own, roles::SNC_EXTERNAL),
        (ca_token.clone(), own, roles::CUSTOMER),
        // Refusals that are not collisions are blocking findings too: an unknown role, a held one.
        (admin_token.clone(), own, "x_no_such_role"),
        (admin_token.clone(), own, roles::CUSTOMER),
    ];
    for (token, profile, role) in cases {
        let before = direct_roles(suite, profile).await;
        let validation = validate(token.clone(), single(profile, role)).await.expect("validated");
        assert_eq!(direct_roles(suite, profile).await, before, "a dry run writes nothing");
        let outcome = assign(&mut suite.role(Some(&token)), profile, role).await;
        assert_eq!(validation.allowed, outcome.is_ok(), "{role} on {profile}: {validation:?} vs {outcome:?}");
        if let Err(status) = outcome {
            assert_eq!(validation.findings[0].reason, reason_of(&status));
            assert_eq!(validation.findings[0].severity, pb::FindingSeverity::Blocking as i32);
        }
    }
    // A set, as ReplaceProfileRoles.
    let set = pb::validate_assignment_request::Proposal::ProfileRoleSet(pb::ProposedProfileRoleSet {
        profile_id: own.to_string(),
        roles: strings(&[roles::SNC_INTERNAL, roles::CUSTOMER]),
    });
    let validation = validate(admin_token.clone(), set).await.unwrap();
    assert!(!validation.allowed);
    assert_eq!(validation.findings[0].reason, "ROLE_COLLISION");
    assert_eq!(validation.findings[0].path.as_ref().unwrap().conflicting_role, roles::SNC_INTERNAL);
    let status = replace(&mut admin(suite), own, &[roles::SNC_INTERNAL, roles::CUSTOMER]).await.unwrap_err();
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
    // Missing proposal.
    let status = admin(suite).validate_assignment(pb::ValidateAssignmentRequest { proposal: None }).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["proposal".to_owned()]);
});

backend_test!(r2_18_list_profile_roles_names_direct_group_and_containment_sources, |suite| {
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let k = contact(suite, &acme, "Kim").await;
    suite.assign_role(k, roles::CUSTOMER_ADMIN).await.unwrap();
    let group = admin(suite)
        .create_group(pb::CreateGroupRequest {
            name: format!("Readers {}", unique()),
            kind: pb::GroupKind::AssignmentGroup as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap()
        .group_id;
    admin(suite)
        .add_group_role(pb::AddGroupRoleRequest {
            request_id: String::new(),
            group_id: group.clone(),
            role: roles::CASE_VIEWER.to_owned(),
        })
        .await
        .unwrap();
    admin(suite)
        .add_group_member(pb::AddGroupMemberRequest {
            request_id: String::new(),
            group_id: group.clone(),
            profile_id: k.to_string(),
            manager: false,
        })
        .await
        .unwrap();

    // Page through with page_size 2; the union is every grant of GetEffectiveRoles.
    let mut grants = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = as_person(suite, k)
            .await
            .list_profile_roles(pb::ListProfileRolesRequest {
                profile_id: k.to_string(),
                page_size: 2,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("own roles")
            .into_inner();
        assert!(page.grants.len() <= 2);
        grants.extend(page.grants);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let effective = admin(suite)
        .get_effective_roles(pb::GetEffectiveRolesRequest { profile_id: k.to_string(), consistency: None })
        .await
        .unwrap()
        .into_inner()
        .effective_roles
        .unwrap();
    assert_eq!(grants.len(), effective.grants.len());
    let roles: Vec<&str> = grants.iter().map(|grant| grant.role.as_str()).collect();
    let mut sorted = roles.clone();
    sorted.sort();
    assert_eq!(roles, sorted, "ordered by role");
    let viewer = grants.iter().find(|grant| grant.role == roles::CASE_VIEWER).unwrap();
    assert_eq!((viewer.source, viewer.group_id.as_str()), (pb::RoleSource::Group as i32, group.as_str()));
    let customer = grants.iter().find(|grant| grant.role == roles::CUSTOMER).unwrap();
    assert_eq!(customer.source, pb::RoleSource::Containment as i32);
    assert_eq!(customer.containment_path, strings(&[roles::CUSTOMER_ADMIN, roles::CUSTOMER]));

    // Only direct grants.
    assert_eq!(direct_roles(suite, k).await, strings(&[roles::CUSTOMER_ADMIN, roles::SNC_EXTERNAL]));
    // Validation: every bad field named.
    // An undeclared enum value is refused at the request edge, by position.
    let status = admin(suite)
        .list_profile_roles(pb::ListProfileRolesRequest {
            profile_id: ProfileId::new().to_string(),
            sources: vec![42],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), violated_fields(&status)), (Code::InvalidArgument, vec!["sources[0]".to_owned()]));
    let status = admin(suite)
        .list_profile_roles(pb::ListProfileRolesRequest {
            profile_id: "nope".to_owned(),
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: BTreeSet<String> = violated_fields(&status).into_iter().collect();
    assert_eq!(fields, ["page_size", "profile_id"].iter().map(|field| field.to_string()).collect());
});

backend_test!(batch_get_effective_roles_answers_each_profile_once_in_request_order, |suite| {
    let first = ProfileId::new();
    let second = ProfileId::new();
    suite.assign_role_as_service(first, roles::SNC_INTERNAL).await.unwrap();
    suite.assign_role_as_service(second, roles::CUSTOMER).await.unwrap();
    let unknown = ProfileId::new();
    let response = admin(suite)
        .batch_get_effective_roles(pb::BatchGetEffectiveRolesRequest {
            profile_ids: vec![second.to_string(), first.to_string(), second.to_string(), unknown.to_string()],
            consistency: None,
        })
        .await
        .unwrap()
        .into_inner();
    let order: Vec<&str> = response.effective_roles.iter().map(|roles| roles.profile_id.as_str()).collect();
    assert_eq!(order, vec![second.to_string(), first.to_string(), unknown.to_string()]);
    assert_eq!(response.effective_roles[0].principal_class, pb::PrincipalClass::External as i32);
    assert_eq!(response.effective_roles[1].principal_class, pb::PrincipalClass::Internal as i32);
    assert!(response.effective_roles[2].roles.is_empty());
    assert!(response.consistency_token.starts_with("role:"));

    // Services read it too (cache misses, DESIGN §3).
    suite
        .role(Some(&suite.service_token(ServiceName::CaseAccess)))
        .batch_get_effective_roles(pb::BatchGetEffectiveRolesRequest {
            profile_ids: vec![first.to_string()],
            consistency: None,
        })
        .await
        .expect("case-access may batch-read");

    let too_many = (0..1001).map(|_| ProfileId::new().to_string()).collect();
    let status = admin(suite)
        .batch_get_effective_roles(pb::BatchGetEffectiveRolesRequest { profile_ids: too_many, consistency: None })
        .await
        .unwrap_err();
    assert_eq!((status.code(), reason_of(&status)), (Code::InvalidArgument, "BATCH_TOO_LARGE".to_owned()));
    let status = admin(suite)
        .batch_get_effective_roles(pb::BatchGetEffectiveRolesRequest {
            profile_ids: vec![first.to_string(), "bad".to_owned()],
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["profile_ids[1]".to_owned()]);
    let status =
        admin(suite).batch_get_effective_roles(pb::BatchGetEffectiveRolesRequest::default()).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["profile_ids".to_owned()]);
    // A person reads only its own.
    let (person, person_token) = csm_tests::world::person_with_roles(suite, &[roles::SNC_INTERNAL]).await;
    let status = suite
        .role(Some(&person_token))
        .batch_get_effective_roles(pb::BatchGetEffectiveRolesRequest {
            profile_ids: vec![person.to_string(), second.to_string()],
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_denied(&status, "MISSING_ROLE");
});

backend_test!(replace_profile_roles_validates_every_field, |suite| {
    let status = admin(suite)
        .replace_profile_roles(pb::ReplaceProfileRolesRequest {
            profile_id: "not-a-uuid".to_owned(),
            roles: vec!["knowledge".to_owned(), "  ".to_owned()],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: BTreeSet<String> = violated_fields(&status).into_iter().collect();
    assert_eq!(fields, ["profile_id", "roles[1]"].iter().map(|field| field.to_string()).collect());
    // No credentials.
    let status = suite
        .role(None)
        .replace_profile_roles(pb::ReplaceProfileRolesRequest {
            profile_id: ProfileId::new().to_string(),
            roles: vec!["knowledge".to_owned()],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
});

backend_test!(r2_10_concurrent_replace_and_assign_cannot_create_a_collision_together, |suite| {
    // K holds only `knowledge`. The administrator assigns snc_internal while
    // the customer admin replaces K's assignable roles with {customer}
    // (⊃ snc_external; snc_internal would be retained): only one may win.
    let acme = account(suite, "Acme", id_pb::AccountKind::Customer, None).await;
    let ca = customer_admin(suite, &acme).await;
    let mut targets = Vec::new();
    for index in 0..5 {
        let k = contact(suite, &acme, &format!("Kay{index}")).await;
        replace(&mut admin(suite), k, &["knowledge"]).await.unwrap();
        targets.push(k);
    }
    let mut tasks = Vec::new();
    for k in &targets {
        let k = *k;
        let mut admin_client = admin(suite);
        let mut ca_client = as_person(suite, ca).await;
        tasks.push(tokio::spawn(async move {
            let internal = async move { assign(&mut admin_client, k, roles::SNC_INTERNAL).await };
            let external = async move { replace(&mut ca_client, k, &[roles::CUSTOMER]).await };
            let (internal, external) = tokio::join!(internal, external);
            (k, internal.is_ok(), external.is_ok(), internal.err().or(external.err()))
        }));
    }
    for task in tasks {
        let (k, internal, external, error) = task.await.unwrap();
        assert!(internal ^ external, "exactly one writer wins for {k}: {error:?}");
        let error = error.unwrap();
        assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
        let class = admin(suite)
            .get_principal_class(pb::GetPrincipalClassRequest { profile_id: k.to_string(), consistency: None })
            .await
            .unwrap()
            .into_inner()
            .principal_class;
        assert_ne!(class, pb::PrincipalClass::Both as i32);
    }
});

// ------------------------------------------------------------------ PreviewEffectiveRoles (access review)

async fn previewed(suite: &Suite, request: pb::PreviewEffectiveRolesRequest) -> Result<pb::EffectiveRoles, Status> {
    admin(suite).preview_effective_roles(request).await.map(|response| response.into_inner().effective_roles.unwrap())
}

backend_test!(r2_19_a_previewed_change_gives_the_effective_roles_the_change_gives, |suite| {
    let mut client = admin(suite);
    let bea = employee(suite, &format!("Bea{}", unique())).await;
    assign(&mut client, bea, roles::CONSUMER_AGENT).await.expect("consumer agent");
    // A parent group holding agent, a child group under it (R2.19).
    let group = |name: &str, parent: &str| pb::CreateGroupRequest {
        name: format!("{name}{}", unique()),
        kind: pb::GroupKind::AssignmentGroup as i32,
        parent_group_id: parent.to_owned(),
        ..Default::default()
    };
    let parent = client.create_group(group("Desk", "")).await.unwrap().into_inner().group.unwrap().group_id;
    let child = client.create_group(group("Tier1", &parent)).await.unwrap().into_inner().group.unwrap().group_id;
    client
        .add_group_role(pb::AddGroupRoleRequest {
            group_id: parent.clone(),
            role: roles::AGENT.to_owned(),
            ..Default::default()
        })
        .await
        .expect("group role");
    // Preview: assign manager, revoke itil, join the child group.
    let request = pb::PreviewEffectiveRolesRequest {
        profile_id: bea.to_string(),
        assign_roles: vec![roles::MANAGER.to_owned()],
        revoke_roles: vec![roles::CONSUMER_AGENT.to_owned()],
        join_group_ids: vec![child.clone()],
        leave_group_ids: Vec::new(),
    };
    let preview = previewed(suite, request).await.expect("preview");
    assert!(preview.roles.contains(&roles::AGENT.to_owned()), "inherited from the parent of the joined group");
    assert!(preview.grants.iter().all(|grant| grant.assigned_role != roles::CONSUMER_AGENT), "revoked");
    // Nothing was written…
    let now = csm_tests::world::effective_roles(suite, bea).await;
    assert!(!now.roles.contains(&roles::MANAGER.to_owned()) && now.group_memberships.is_empty());
    // …and making the change gives exactly the previewed roles and memberships.
    assign(&mut client, bea, roles::MANAGER).await.expect("manager");
    revoke(&mut client, bea, roles::CONSUMER_AGENT).await.expect("revoke consumer agent");
    client
        .add_group_member(pb::AddGroupMemberRequest {
            group_id: child.clone(),
            profile_id: bea.to_string(),
            ..Default::default()
        })
        .await
        .expect("join");
    let after = csm_tests::world::effective_roles(suite, bea).await;
    assert_eq!(preview.roles, after.roles);
    assert_eq!(preview.principal_class, after.principal_class);
    let groups = |roles: &pb::EffectiveRoles| -> BTreeSet<(String, bool)> {
        roles.group_memberships.iter().map(|membership| (membership.group_id.clone(), membership.direct)).collect()
    };
    assert_eq!(groups(&preview), groups(&after));
    // Leaving the group again is previewed as the removal gives it.
    let leave = pb::PreviewEffectiveRolesRequest {
        profile_id: bea.to_string(),
        leave_group_ids: vec![child.clone()],
        ..Default::default()
    };
    let left = previewed(suite, leave).await.expect("preview leave");
    assert!(left.group_memberships.is_empty());
    // What the profile does not hold is NOT_FOUND, as RevokeRole and RemoveGroupMember answer.
    let not_held = pb::PreviewEffectiveRolesRequest {
        profile_id: bea.to_string(),
        revoke_roles: vec![roles::CONSUMER_AGENT.to_owned()],
        ..Default::default()
    };
    let status = previewed(suite, not_held).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::NotFound, "ASSIGNMENT_NOT_FOUND"));
    let not_member = pb::PreviewEffectiveRolesRequest {
        profile_id: bea.to_string(),
        leave_group_ids: vec![parent.clone()],
        ..Default::default()
    };
    let status = previewed(suite, not_member).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::NotFound, "MEMBERSHIP_NOT_FOUND"));
    let unknown = pb::PreviewEffectiveRolesRequest {
        profile_id: bea.to_string(),
        join_group_ids: vec![csm_types::GroupId::new().to_string()],
        assign_roles: Vec::new(),
        ..Default::default()
    };
    let status = previewed(suite, unknown).await.unwrap_err();
    assert_eq!((status.code(), reason_of(&status).as_str()), (Code::NotFound, "GROUP_NOT_FOUND"));
    let bad = pb::PreviewEffectiveRolesRequest { profile_id: "x".to_owned(), ..Default::default() };
    assert_eq!(violated_fields(&previewed(suite, bad).await.unwrap_err()), vec!["profile_id".to_owned()]);
    // Only role administrators preview.
    let mut as_bea = as_person(suite, bea).await;
    let refused = as_bea
        .preview_effective_roles(pb::PreviewEffectiveRolesRequest {
            profile_id: bea.to_string(),
            assign_roles: vec![roles::ADMIN.to_owned()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((refused.code(), reason_of(&refused).as_str()), (Code::PermissionDenied, "MISSING_ROLE"));
});
