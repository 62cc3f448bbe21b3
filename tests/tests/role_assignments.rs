//! role: direct assignments and the collision rules, over gRPC (SPEC §2.3,
//! R1.13–R1.15, R2.17). Assignments here use identity's service identity, as
//! identity does for new contacts, so no identity records are needed.

use csm_proto::role as role_pb;
use csm_tests::{backend_test, reason_of};
use csm_types::roles;
use csm_types::{ProfileId, ServiceName};
use tonic::{Code, Status};

fn metadata(status: &Status, key: &str) -> String {
    use tonic_types::StatusExt as _;
    status.get_error_details().error_info().and_then(|info| info.metadata.get(key).cloned()).unwrap_or_default()
}

async fn assign(suite: &csm_tests::Suite, profile: ProfileId, role: &str) -> Result<String, Status> {
    suite.assign_role_as_service(profile, role).await
}

backend_test!(r2_11_adding_external_to_an_internal_user_is_aborted, |suite| {
    let profile = ProfileId::new();
    assign(suite, profile, roles::SNC_INTERNAL).await.unwrap();
    let status = assign(suite, profile, roles::SNC_EXTERNAL).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
    assert_eq!(metadata(&status, "rule"), "R2.11.1");
    assert_eq!(metadata(&status, "conflicting_role"), roles::SNC_INTERNAL);
    // No state change.
    assert_eq!(suite.effective_roles(profile).await, vec![roles::SNC_INTERNAL.to_owned()]);
    // And the other way round.
    let other = ProfileId::new();
    assign(suite, other, roles::SNC_EXTERNAL).await.unwrap();
    assert_eq!(reason_of(&assign(suite, other, roles::SNC_INTERNAL).await.unwrap_err()), "ROLE_COLLISION");
});

backend_test!(r2_10_a_role_reaching_the_other_explicit_role_is_a_collision_too, |suite| {
    // customer ⊃ snc_external: an internal user cannot take it.
    let profile = ProfileId::new();
    assign(suite, profile, roles::SNC_INTERNAL).await.unwrap();
    let status = assign(suite, profile, roles::CUSTOMER).await.unwrap_err();
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
    assert_eq!(metadata(&status, "path"), "snc_internal | sn_customerservice.customer > snc_external");
});

backend_test!(r1_13_unified_consumer_is_legal_for_internal_users_consumer_is_not, |suite| {
    let employee = ProfileId::new();
    assign(suite, employee, roles::SNC_INTERNAL).await.unwrap();
    assign(suite, employee, roles::UNIFIED_CONSUMER).await.expect("internal unified consumer is legal");
    let status = assign(suite, employee, roles::CONSUMER).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
});

backend_test!(r2_15_family_mixing_is_denied_by_default, |suite| {
    let contact = ProfileId::new();
    assign(suite, contact, roles::CUSTOMER).await.unwrap();
    let status = assign(suite, contact, roles::AGENT).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ROLE_FAMILY_COLLISION");
    assert!(!suite.effective_roles(contact).await.contains(&roles::ESM_AGENT.to_owned()));
});

backend_test!(r1_15_unified_consumer_with_a_fulfiller_role_is_an_unsupported_persona, |suite| {
    let profile = ProfileId::new();
    assign(suite, profile, roles::UNIFIED_CONSUMER).await.unwrap();
    let status = assign(suite, profile, roles::ACCOUNT_CONTRIBUTOR).await.unwrap_err();
    assert_eq!(reason_of(&status), "UNSUPPORTED_PERSONA");
});

backend_test!(r2_17_proxy_contact_cannot_take_contributor_roles, |suite| {
    let profile = ProfileId::new();
    assign(suite, profile, roles::PROXY_CONTACT).await.unwrap();
    let status = assign(suite, profile, roles::ACCOUNT_CONTRIBUTOR).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "PROXY_CONTRIBUTOR_CONFLICT");
    // The alias of X11 names the same role.
    let aliased = ProfileId::new();
    assign(suite, aliased, roles::CSM_PROXY_CONT).await.unwrap();
    assert!(suite.effective_roles(aliased).await.contains(&roles::PROXY_CONTACT.to_owned()));
});

backend_test!(r2_10_racing_writers_cannot_create_a_collision_together, |suite| {
    // Many rounds of two concurrent assignments that collide with each other:
    // the profile lock lets exactly one win every time.
    for _ in 0..10 {
        let profile = ProfileId::new();
        let (internal, external) =
            tokio::join!(assign(suite, profile, roles::SNC_INTERNAL), assign(suite, profile, roles::SNC_EXTERNAL));
        let winners = [internal.is_ok(), external.is_ok()].into_iter().filter(|won| *won).count();
        assert_eq!(winners, 1, "internal: {internal:?}, external: {external:?}");
        let loser = internal.err().or(external.err()).unwrap();
        assert_eq!(reason_of(&loser), "ROLE_COLLISION");
        let roles = suite.effective_roles(profile).await;
        assert!(!(roles.contains(&roles::SNC_INTERNAL.to_owned()) && roles.contains(&roles::SNC_EXTERNAL.to_owned())));
    }
});

backend_test!(assignments_are_idempotent_and_duplicates_are_refused, |suite| {
    let profile = ProfileId::new();
    let token = suite.service_token(ServiceName::Identity);
    let request = role_pb::AssignRoleRequest {
        request_id: "assign-once".to_owned(),
        profile_id: profile.to_string(),
        role: roles::CUSTOMER.to_owned(),
    };
    let first = suite.role(Some(&token)).assign_role(request.clone()).await.unwrap().into_inner();
    let again = suite.role(Some(&token)).assign_role(request).await.unwrap().into_inner();
    assert_eq!(first.assignment, again.assignment);
    assert_eq!(first.consistency_token, again.consistency_token);
    let duplicate = assign(suite, profile, roles::CUSTOMER).await.unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert_eq!(reason_of(&duplicate), "ASSIGNMENT_EXISTS");
    let unknown = assign(suite, profile, "no_such_role").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(reason_of(&unknown), "ROLE_NOT_FOUND");
});

backend_test!(r2_21_a_revoke_is_visible_at_its_consistency_token, |suite| {
    let profile = ProfileId::new();
    assign(suite, profile, roles::CUSTOMER).await.unwrap();
    assign(suite, profile, roles::CASE_VIEWER).await.unwrap();
    // Revoking is for role administrators (identity's service identity may only assign).
    let token = suite.admin_token();
    let revoked = suite
        .role(Some(&token))
        .revoke_role(role_pb::RevokeRoleRequest {
            profile_id: profile.to_string(),
            role: roles::CASE_VIEWER.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.consistency_token.starts_with("role:"));
    assert!(!suite.effective_roles(profile).await.contains(&roles::CASE_VIEWER.to_owned()));
    // The last role cannot be revoked (R1.6).
    let status = suite
        .role(Some(&token))
        .revoke_role(role_pb::RevokeRoleRequest { profile_id: profile.to_string(), role: roles::CUSTOMER.to_owned() })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "LAST_ROLE");
    // Revoking what is not held is NOT_FOUND.
    let status = suite
        .role(Some(&token))
        .revoke_role(role_pb::RevokeRoleRequest { profile_id: profile.to_string(), role: "admin".to_owned() })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "ASSIGNMENT_NOT_FOUND");
});

backend_test!(people_without_admin_cannot_assign_roles, |suite| {
    let (person, token) = csm_tests::world::nobody(suite).await;
    let status = suite
        .role(Some(&token))
        .assign_role(role_pb::AssignRoleRequest {
            request_id: String::new(),
            profile_id: person.to_string(),
            role: "admin".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");
});

async fn set_policies(
    suite: &csm_tests::Suite,
    mixing: role_pb::CsmRoleMixingPolicy,
    persona: role_pb::UnsupportedPersonaPolicy,
) {
    let token = suite.admin_token();
    suite
        .role(Some(&token))
        .update_role_settings(role_pb::UpdateRoleSettingsRequest {
            settings: Some(role_pb::RoleSettings {
                csm_role_mixing_policy: mixing as i32,
                unsupported_persona_policy: persona as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["csm_role_mixing_policy".to_owned(), "unsupported_persona_policy".to_owned()],
            }),
        })
        .await
        .expect("settings updated");
}

backend_test!(r2_15_warn_policy_permits_mixing_and_flags_the_profile, |suite| {
    set_policies(suite, role_pb::CsmRoleMixingPolicy::Warn, role_pb::UnsupportedPersonaPolicy::Reject).await;
    let contact = ProfileId::new();
    assign(suite, contact, roles::CUSTOMER).await.unwrap();
    let token = suite.service_token(ServiceName::Identity);
    let response = suite
        .role(Some(&token))
        .assign_role(role_pb::AssignRoleRequest {
            request_id: String::new(),
            profile_id: contact.to_string(),
            role: roles::AGENT.to_owned(),
        })
        .await
        .expect("WARN lets it through")
        .into_inner();
    assert_eq!(response.warnings.len(), 1);
    assert_eq!(response.warnings[0].reason, "ROLE_FAMILY_COLLISION");
    assert_eq!(response.warnings[0].rule, "R2.15");
    assert!(response.assignment.unwrap().flagged_for_review);
    let admin = suite.admin_token();
    let effective = suite
        .role(Some(&admin))
        .get_effective_roles(role_pb::GetEffectiveRolesRequest { profile_id: contact.to_string(), consistency: None })
        .await
        .unwrap()
        .into_inner()
        .effective_roles
        .unwrap();
    assert!(effective.flagged_for_review);
    // ROLE_COLLISION (snc_internal with snc_external) is never a mere warning.
    let internal = ProfileId::new();
    assign(suite, internal, roles::SNC_INTERNAL).await.unwrap();
    assert_eq!(reason_of(&assign(suite, internal, roles::CUSTOMER).await.unwrap_err()), "ROLE_COLLISION");
});

backend_test!(r1_15_warn_policy_permits_an_unsupported_persona, |suite| {
    set_policies(suite, role_pb::CsmRoleMixingPolicy::Deny, role_pb::UnsupportedPersonaPolicy::Warn).await;
    let profile = ProfileId::new();
    assign(suite, profile, roles::UNIFIED_CONSUMER).await.unwrap();
    assign(suite, profile, roles::ACCOUNT_CONTRIBUTOR).await.expect("WARN lets it through");
});

backend_test!(role_settings_validate_their_input, |suite| {
    let admin = suite.admin_token();
    let settings = suite
        .role(Some(&admin))
        .get_role_settings(role_pb::GetRoleSettingsRequest {})
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(settings.csm_role_mixing_policy, role_pb::CsmRoleMixingPolicy::Deny as i32);
    assert_eq!(settings.unsupported_persona_policy, role_pb::UnsupportedPersonaPolicy::Reject as i32);
    assert!(!settings.load_suspect_edges);
    assert_eq!(settings.contact_role_assignment.len(), 4);
    let status = suite
        .role(Some(&admin))
        .update_role_settings(role_pb::UpdateRoleSettingsRequest {
            settings: Some(role_pb::RoleSettings::default()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["colour".to_owned(), "csm_role_mixing_policy".to_owned()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = csm_tests::violated_fields(&status);
    assert!(
        fields.contains(&"update_mask".to_owned()) && fields.contains(&"settings.csm_role_mixing_policy".to_owned())
    );
    let status = suite
        .role(Some(&admin))
        .update_role_settings(role_pb::UpdateRoleSettingsRequest {
            settings: Some(role_pb::RoleSettings {
                contact_role_assignment: vec!["bogus".to_owned()],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["contact_role_assignment".to_owned()] }),
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "ROLE_NOT_FOUND");
    // Only role administrators change settings.
    let person = csm_tests::world::nobody(suite).await.1;
    let status = suite
        .role(Some(&person))
        .update_role_settings(role_pb::UpdateRoleSettingsRequest {
            settings: Some(role_pb::RoleSettings {
                csm_role_mixing_policy: role_pb::CsmRoleMixingPolicy::Warn as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["csm_role_mixing_policy".to_owned()] }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
});

backend_test!(r1_14_the_supported_personas_are_accepted, |suite| {
    // Internal unified consumer: snc_internal (+ other internal non-CSM roles) + unified_consumer.
    let internal = ProfileId::new();
    assign(suite, internal, roles::SNC_INTERNAL).await.unwrap();
    assign(suite, internal, "knowledge").await.unwrap();
    assign(suite, internal, roles::UNIFIED_CONSUMER).await.expect("internal unified consumer");
    // External unified consumer: snc_external + unified_consumer.
    let external = ProfileId::new();
    assign(suite, external, roles::SNC_EXTERNAL).await.unwrap();
    assign(suite, external, roles::UNIFIED_CONSUMER).await.expect("external unified consumer");
    // Employee as account consumer (B2B2C): snc_internal + sn_acct_consumer.consumer.
    let b2b2c = ProfileId::new();
    assign(suite, b2b2c, roles::SNC_INTERNAL).await.unwrap();
    assign(suite, b2b2c, roles::ACCT_CONSUMER_CONSUMER).await.expect("employee as account consumer");
    for (profile, expected) in
        [(internal, roles::SNC_INTERNAL), (external, roles::SNC_EXTERNAL), (b2b2c, roles::ACCT_CONSUMER_CONSUMER)]
    {
        assert!(suite.effective_roles(profile).await.contains(&expected.to_owned()));
    }
});
