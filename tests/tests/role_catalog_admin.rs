//! role: catalog administration over real gRPC — the seeded primary, base and
//! explicit roles (R2.1, R2.3–R2.5), custom roles (R2.6), the explicit class
//! (R2.7), containment edits with their graph rules (R2.8, R2.9, R2.10,
//! R2.11.3) and holder checks (R2.12.1, R2.10 for groups), R4.13 (role side),
//! aliases (X11) and the suspect edge (X1). Assignments use identity's service
//! identity, so no identity records are needed. Each test runs on SQLite and
//! on PostgreSQL.

use csm_types::roles;
use std::time::Duration;

use csm_proto::role as pb;
use csm_tests::{Suite, backend_test, masked, reason_of, violated_fields};
use csm_types::{ProfileId, ServiceName};
use tokio_stream::StreamExt as _;
use tonic::{Code, Status};

const AGENT: &str = roles::AGENT;
const MANAGER: &str = roles::MANAGER;

// ------------------------------------------------------------------ helpers

type RoleClient = pb::role_service_client::RoleServiceClient<csm_tests::TestChannel>;

fn admin(suite: &Suite) -> RoleClient {
    let token = suite.admin_token();
    suite.role(Some(&token))
}

fn metadata(status: &Status, key: &str) -> String {
    use tonic_types::StatusExt as _;
    status.get_error_details().error_info().and_then(|info| info.metadata.get(key).cloned()).unwrap_or_default()
}

async fn get_role(suite: &Suite, name: &str) -> Result<pb::Role, Status> {
    admin(suite).get_role(pb::GetRoleRequest { role: name.to_owned() }).await.map(|r| r.into_inner().role.unwrap())
}

async fn closure(suite: &Suite, name: &str) -> Vec<String> {
    get_role(suite, name).await.expect("the role exists").closure
}

async fn define(suite: &Suite, name: &str, contains: &[&str]) -> Result<pb::DefineRoleResponse, Status> {
    define_with(suite, name, contains, pb::RoleFamily::Unspecified).await
}

async fn define_with(
    suite: &Suite,
    name: &str,
    contains: &[&str],
    intended_family: pb::RoleFamily,
) -> Result<pb::DefineRoleResponse, Status> {
    admin(suite)
        .define_role(pb::DefineRoleRequest {
            request_id: String::new(),
            role_name: name.to_owned(),
            display_name: format!("{name} (test)"),
            description: format!("custom role {name}"),
            contains: contains.iter().map(|role| role.to_string()).collect(),
            intended_family: intended_family as i32,
        })
        .await
        .map(|response| response.into_inner())
}

async fn contain(suite: &Suite, parent: &str, child: &str) -> Result<pb::AddRoleContainmentResponse, Status> {
    admin(suite)
        .add_role_containment(pb::AddRoleContainmentRequest {
            request_id: String::new(),
            parent_role: parent.to_owned(),
            child_role: child.to_owned(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn uncontain(suite: &Suite, parent: &str, child: &str) -> Result<String, Status> {
    admin(suite)
        .remove_role_containment(pb::RemoveRoleContainmentRequest {
            parent_role: parent.to_owned(),
            child_role: child.to_owned(),
        })
        .await
        .map(|response| response.into_inner().consistency_token)
}

async fn assign(suite: &Suite, profile: ProfileId, role: &str) -> Result<String, Status> {
    suite.assign_role_as_service(profile, role).await
}

fn has(roles: &[String], role: &str) -> bool {
    roles.iter().any(|held| held == role)
}

/// The change a role mutation wrote, read back from Watch by its consistency token.
async fn role_change(suite: &Suite, consistency_token: &str) -> csm_proto::common::Change {
    let revision: u64 = consistency_token
        .strip_prefix("role:")
        .and_then(|revision| revision.parse().ok())
        .unwrap_or_else(|| panic!("not a role token: {consistency_token:?}"));
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

/// ValidateAssignment of `parent ⊃ child` as the administrator, checked to
/// write nothing: the role feed's head does not move.
async fn dry_run_containment(suite: &Suite, parent: &str, child: &str) -> pb::ValidateAssignmentResponse {
    let head = suite.feed_head(ServiceName::Role).await;
    let validation = admin(suite)
        .validate_assignment(pb::ValidateAssignmentRequest {
            proposal: Some(pb::validate_assignment_request::Proposal::Containment(pb::ProposedContainment {
                parent_role: parent.to_owned(),
                child_role: child.to_owned(),
            })),
        })
        .await
        .unwrap_or_else(|status| panic!("{parent} ⊃ {child} validated: {status:?}"))
        .into_inner();
    assert_eq!(suite.feed_head(ServiceName::Role).await, head, "a dry run writes nothing: {parent} ⊃ {child}");
    validation
}

/// The dry run agrees with the mutation made next: allowed ⇔ it succeeds;
/// blocked ⇒ it fails with the first blocking finding's reason and rule.
fn assert_agrees<T: std::fmt::Debug>(validation: &pb::ValidateAssignmentResponse, outcome: &Result<T, Status>) {
    assert_eq!(validation.allowed, outcome.is_ok(), "{validation:?} vs {outcome:?}");
    if let Err(status) = outcome {
        let blocking = &validation.findings[0];
        assert_eq!(blocking.severity, pb::FindingSeverity::Blocking as i32, "{validation:?}");
        assert_eq!((blocking.reason.clone(), blocking.rule.clone()), (reason_of(status), metadata(status, "rule")));
    }
}

async fn set_load_suspect_edges(suite: &Suite, load: bool) -> Result<pb::UpdateRoleSettingsResponse, Status> {
    admin(suite)
        .update_role_settings(masked!(
            pb::UpdateRoleSettingsRequest {
                settings: Some(pb::RoleSettings { load_suspect_edges: load, ..Default::default() }),
                update_mask: None,
            },
            ["load_suspect_edges"]
        ))
        .await
        .map(|response| response.into_inner())
}

// ------------------------------------------------------------- seeded roles

backend_test!(r2_1_the_nine_primary_csm_roles_are_seeded, |suite| {
    for (name, family) in [
        (AGENT, pb::RoleFamily::Agent),
        (MANAGER, pb::RoleFamily::Agent),
        (roles::CUSTOMER, pb::RoleFamily::Requester),
        (roles::CUSTOMER_ADMIN, pb::RoleFamily::Requester),
        (roles::CUSTOMER_CASE_MANAGER, pb::RoleFamily::Requester),
        (roles::PARTNER, pb::RoleFamily::Requester),
        (roles::PARTNER_ADMIN, pb::RoleFamily::Requester),
        (roles::CONSUMER, pb::RoleFamily::Requester),
        (roles::CONSUMER_AGENT, pb::RoleFamily::Agent),
    ] {
        let role = get_role(suite, name).await.unwrap_or_else(|status| panic!("{name}: {status:?}"));
        assert_eq!(role.role_name, name);
        assert_eq!(role.origin, pb::RoleOrigin::Seeded as i32, "{name}");
        assert_eq!(role.family, family as i32, "{name}");
    }
});

backend_test!(r2_3_the_six_base_roles_are_seeded, |suite| {
    for (name, family) in [
        (roles::ESM_AGENT, pb::RoleFamily::Agent),
        (roles::ESM_ADMIN, pb::RoleFamily::Neutral),
        (roles::ESM_PARTNER, pb::RoleFamily::Requester),
        (roles::ESM_PARTNER_ADMIN, pb::RoleFamily::Requester),
        (roles::ESM_USER, pb::RoleFamily::Requester),
        (roles::ESM_USER_ADMIN, pb::RoleFamily::Requester),
    ] {
        let role = get_role(suite, name).await.unwrap_or_else(|status| panic!("{name}: {status:?}"));
        assert_eq!(role.origin, pb::RoleOrigin::Seeded as i32, "{name}");
        assert_eq!(role.family, family as i32, "{name}");
    }
});

backend_test!(r2_4_explicit_roles_exist_and_esm_user_contains_snc_external, |suite| {
    let internal = get_role(suite, roles::SNC_INTERNAL).await.unwrap();
    assert_eq!(internal.explicit_class, pb::PrincipalClass::Internal as i32);
    assert_eq!(internal.closure, vec![roles::SNC_INTERNAL.to_owned()]);
    let external = get_role(suite, roles::SNC_EXTERNAL).await.unwrap();
    assert_eq!(external.explicit_class, pb::PrincipalClass::External as i32);
    let user = get_role(suite, roles::ESM_USER).await.unwrap();
    assert!(has(&user.closure, roles::SNC_EXTERNAL), "{:?}", user.closure);
    assert_eq!(user.explicit_class, pb::PrincipalClass::External as i32);
});

backend_test!(r2_5_public_is_neutral_and_unclassed, |suite| {
    let public = get_role(suite, "public").await.unwrap();
    assert_eq!(public.family, pb::RoleFamily::Neutral as i32);
    assert_eq!(public.explicit_class, pb::PrincipalClass::None as i32);
    assert_eq!(public.closure, vec!["public".to_owned()]);
    // Holding `public` classifies nobody (it is unrelated to internal/external).
    let profile = ProfileId::new();
    assign(suite, profile, "public").await.unwrap();
    let roles = csm_tests::world::effective_roles(suite, profile).await;
    assert_eq!(roles.principal_class, pb::PrincipalClass::None as i32);
    // And it mixes with either class.
    assign(suite, profile, roles::SNC_EXTERNAL).await.expect("public + snc_external");
    let other = ProfileId::new();
    assign(suite, other, roles::SNC_INTERNAL).await.unwrap();
    assign(suite, other, "public").await.expect("snc_internal + public");
});

// ------------------------------------------------------------- custom roles

backend_test!(r2_6_custom_roles_take_their_family_from_containment, |suite| {
    // "Parallel to consumer": contains sn_esm_user, so REQUESTER.
    let defined = define_with(suite, "x_parallel_consumer", &[roles::ESM_USER], pb::RoleFamily::Requester)
        .await
        .expect("a requester-family custom role");
    let role = defined.role.unwrap();
    assert_eq!(role.family, pb::RoleFamily::Requester as i32);
    assert_eq!(role.origin, pb::RoleOrigin::Custom as i32);
    assert_eq!(role.display_name, "x_parallel_consumer (test)");
    assert!(has(&role.closure, roles::SNC_EXTERNAL));
    // The last change of the definition is its edge.
    assert_eq!(role_change(suite, &defined.consistency_token).await.entity_type, "role_containment");
    // "Like customer agent" through an alias-free name; AGENT.
    let like_agent = define_with(suite, "x_like_agent", &[AGENT], pb::RoleFamily::Agent).await.unwrap().role.unwrap();
    assert_eq!(like_agent.family, pb::RoleFamily::Agent as i32);

    // Both families: rejected at definition time (R2.6), nothing written.
    let both = define(suite, "x_both", &[AGENT, roles::PARTNER]).await.unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&both), "ROLE_FAMILY_BOTH");
    assert_eq!(get_role(suite, "x_both").await.unwrap_err().code(), Code::NotFound);
    // The intended family must match the computed one.
    let mismatch = define_with(suite, "x_mismatch", &[roles::ESM_USER], pb::RoleFamily::Agent).await.unwrap_err();
    assert_eq!(mismatch.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&mismatch), "ROLE_FAMILY_MISMATCH");
    // Both explicit roles (R2.10).
    let explicit = define(suite, "x_explicit_both", &[roles::SNC_INTERNAL, roles::SNC_EXTERNAL]).await.unwrap_err();
    assert_eq!(explicit.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&explicit), "ROLE_COLLISION");
    // Names are unique across roles and aliases.
    let taken = define(suite, "x_parallel_consumer", &[]).await.unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    assert_eq!(reason_of(&taken), "ROLE_EXISTS");
    assert_eq!(reason_of(&define(suite, roles::CSM_PROXY_CONT, &[]).await.unwrap_err()), "ROLE_EXISTS");
    // Unknown contained role.
    let unknown = define(suite, "x_unknown_child", &["no_such_role"]).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(reason_of(&unknown), "ROLE_NOT_FOUND");
});

backend_test!(r2_7_the_explicit_class_follows_the_effective_roles, |suite| {
    define(suite, "x_staff", &[roles::SNC_INTERNAL]).await.unwrap();
    let profile = ProfileId::new();
    assign(suite, profile, "x_staff").await.unwrap();
    assert_eq!(
        csm_tests::world::effective_roles(suite, profile).await.principal_class,
        pb::PrincipalClass::Internal as i32
    );
    // Reaching snc_internal only through containment: removing the edge unclassifies.
    uncontain(suite, "x_staff", roles::SNC_INTERNAL).await.unwrap();
    assert_eq!(
        csm_tests::world::effective_roles(suite, profile).await.principal_class,
        pb::PrincipalClass::None as i32
    );
    let customer = ProfileId::new();
    assign(suite, customer, roles::CUSTOMER).await.unwrap();
    assert_eq!(
        csm_tests::world::effective_roles(suite, customer).await.principal_class,
        pb::PrincipalClass::External as i32
    );
});

// ------------------------------------------------------- containment edits

backend_test!(r2_8_explicit_roles_cannot_contain_other_roles, |suite| {
    for parent in [roles::SNC_EXTERNAL, roles::SNC_INTERNAL] {
        let status = contain(suite, parent, "knowledge").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{parent}");
        assert_eq!(reason_of(&status), "EXPLICIT_ROLE_CANNOT_CONTAIN");
        assert_eq!(closure(suite, parent).await, vec![parent.to_owned()]);
    }
});

backend_test!(r2_9_containment_cycles_are_refused, |suite| {
    let status = contain(suite, roles::ESM_AGENT, MANAGER).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&status), "CONTAINMENT_CYCLE");
    assert!(metadata(&status, "path").starts_with(MANAGER), "{}", metadata(&status, "path"));
    assert!(!has(&closure(suite, roles::ESM_AGENT).await, MANAGER));
    // parent == child is a cycle too.
    assert_eq!(reason_of(&contain(suite, "knowledge", "knowledge").await.unwrap_err()), "CONTAINMENT_CYCLE");
    // A custom chain: a ⊃ b ⊃ c, then c ⊃ a closes it.
    define(suite, "x_c", &[]).await.unwrap();
    define(suite, "x_b", &["x_c"]).await.unwrap();
    define(suite, "x_a", &["x_b"]).await.unwrap();
    assert_eq!(reason_of(&contain(suite, "x_c", "x_a").await.unwrap_err()), "CONTAINMENT_CYCLE");
});

backend_test!(r2_9_racing_containment_edits_cannot_create_a_cycle, |suite| {
    // Five pairs of roles; for each pair both directions are added at once.
    let mut tasks = Vec::new();
    for pair in 0..5 {
        let (left, right) = (format!("x_race_left_{pair}"), format!("x_race_right_{pair}"));
        define(suite, &left, &[]).await.unwrap();
        define(suite, &right, &[]).await.unwrap();
        for (parent, child) in [(left.clone(), right.clone()), (right.clone(), left.clone())] {
            let mut client = admin(suite);
            tasks.push(tokio::spawn(async move {
                let result = client
                    .add_role_containment(pb::AddRoleContainmentRequest {
                        request_id: String::new(),
                        parent_role: parent,
                        child_role: child,
                    })
                    .await;
                (pair, result.map(|_| ()))
            }));
        }
    }
    let mut wins = [0; 5];
    for task in tasks {
        let (pair, result) = task.await.unwrap();
        match result {
            Ok(()) => wins[pair] += 1,
            Err(status) => assert_eq!(reason_of(&status), "CONTAINMENT_CYCLE", "{status:?}"),
        }
    }
    assert_eq!(wins, [1; 5], "exactly one direction of each pair wins");
    for pair in 0..5 {
        let (left, right) = (format!("x_race_left_{pair}"), format!("x_race_right_{pair}"));
        let one_way = has(&closure(suite, &left).await, &right) ^ has(&closure(suite, &right).await, &left);
        assert!(one_way, "pair {pair} holds exactly one edge");
    }
});

backend_test!(r2_10_racing_containment_edits_cannot_create_a_collision, |suite| {
    define(suite, "x_racing", &[]).await.unwrap();
    let mut tasks = Vec::new();
    for explicit in [roles::SNC_INTERNAL, roles::SNC_EXTERNAL] {
        let mut client = admin(suite);
        tasks.push(tokio::spawn(async move {
            client
                .add_role_containment(pb::AddRoleContainmentRequest {
                    request_id: String::new(),
                    parent_role: "x_racing".to_owned(),
                    child_role: explicit.to_owned(),
                })
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition);
                assert_eq!(reason_of(&status), "ROLE_COLLISION");
            }
        }
    }
    assert_eq!(wins, 1);
    let reached = closure(suite, "x_racing").await;
    assert!(has(&reached, roles::SNC_INTERNAL) ^ has(&reached, roles::SNC_EXTERNAL), "{reached:?}");
});

backend_test!(r2_11_3_a_role_reaching_one_explicit_role_cannot_contain_the_other, |suite| {
    // Assigned to nobody, contains snc_internal; adding snc_external is aborted.
    define(suite, "x_internal_only", &[roles::SNC_INTERNAL]).await.unwrap();
    let status = contain(suite, "x_internal_only", roles::SNC_EXTERNAL).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
    assert_eq!(metadata(&status, "rule"), "R2.11.3");
    assert!(!has(&closure(suite, "x_internal_only").await, roles::SNC_EXTERNAL));
    // And through containment: a seeded external role into a role reaching snc_internal.
    let status = contain(suite, "csm_ws_integration", roles::CUSTOMER).await.unwrap_err();
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
});

backend_test!(r2_12_1_a_containment_edit_is_checked_against_every_holder, |suite| {
    // U (snc_internal) holds T; adding snc_external into T is aborted, nothing written.
    define(suite, "x_team_role", &[]).await.unwrap();
    let user = ProfileId::new();
    assign(suite, user, roles::SNC_INTERNAL).await.unwrap();
    assign(suite, user, "x_team_role").await.unwrap();
    let status = contain(suite, "x_team_role", roles::SNC_EXTERNAL).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
    assert_eq!(metadata(&status, "rule"), "R2.12.1");
    assert_eq!(metadata(&status, "profile_id"), user.to_string());
    assert_eq!(metadata(&status, "conflicting_role"), roles::SNC_INTERNAL);
    assert!(!has(&closure(suite, "x_team_role").await, roles::SNC_EXTERNAL));
    assert!(!has(&csm_tests::world::effective_roles(suite, user).await.roles, roles::SNC_EXTERNAL));

    // U2 without an explicit role: the add succeeds and U2 and T2 both get snc_external.
    define(suite, "x_other_team_role", &[]).await.unwrap();
    let unclassed = ProfileId::new();
    assign(suite, unclassed, "x_other_team_role").await.unwrap();
    let added = contain(suite, "x_other_team_role", roles::SNC_EXTERNAL).await.expect("no holder collides");
    assert!(has(&closure(suite, "x_other_team_role").await, roles::SNC_EXTERNAL));
    let roles = csm_tests::world::effective_roles(suite, unclassed).await;
    assert!(has(&roles.roles, roles::SNC_EXTERNAL));
    assert_eq!(roles.principal_class, pb::PrincipalClass::External as i32);
    let change = role_change(suite, &added.consistency_token).await;
    assert_eq!(change.entity_type, "role_containment");
    assert_eq!(change.attributes.get("child_role").map(String::as_str), Some(roles::SNC_EXTERNAL));
});

backend_test!(r2_12_1_validate_assignment_agrees_with_add_role_containment_and_writes_nothing, |suite| {
    // Blocked: U (snc_internal) holds T; T ⊃ snc_external would collide for U (R2.12.1).
    define(suite, "x_dry_team_role", &[]).await.unwrap();
    let user = ProfileId::new();
    assign(suite, user, roles::SNC_INTERNAL).await.unwrap();
    assign(suite, user, "x_dry_team_role").await.unwrap();
    let validation = dry_run_containment(suite, "x_dry_team_role", roles::SNC_EXTERNAL).await;
    assert!(!validation.allowed);
    let blocking = &validation.findings[0];
    assert_eq!((blocking.reason.as_str(), blocking.rule.as_str()), ("ROLE_COLLISION", "R2.12.1"));
    let path = blocking.path.clone().expect("a holder collision names its path");
    assert_eq!((path.profile_id, path.conflicting_role), (user.to_string(), roles::SNC_INTERNAL.to_owned()));
    assert!(!has(&closure(suite, "x_dry_team_role").await, roles::SNC_EXTERNAL), "the dry run added no edge");
    assert_agrees(&validation, &contain(suite, "x_dry_team_role", roles::SNC_EXTERNAL).await);

    // Allowed, then added; nothing reaches the holder before the mutation.
    let validation = dry_run_containment(suite, "x_dry_team_role", "knowledge").await;
    assert!(validation.allowed && validation.findings.is_empty(), "{validation:?}");
    assert!(!has(&closure(suite, "x_dry_team_role").await, "knowledge"), "the dry run added no edge");
    assert!(!has(&csm_tests::world::effective_roles(suite, user).await.roles, "knowledge"));
    assert_agrees(&validation, &contain(suite, "x_dry_team_role", "knowledge").await);
    assert!(has(&closure(suite, "x_dry_team_role").await, "knowledge"));

    // The graph rules and the other refusals, with the mutation's reasons and rules.
    for (parent, child, reason, rule) in [
        (roles::ESM_AGENT, MANAGER, "CONTAINMENT_CYCLE", "R2.9"),
        (roles::SNC_EXTERNAL, "knowledge", "EXPLICIT_ROLE_CANNOT_CONTAIN", "R2.8"),
        ("csm_ws_integration", roles::CUSTOMER, "ROLE_COLLISION", "R2.11.3"),
        ("x_dry_team_role", "knowledge", "CONTAINMENT_EXISTS", ""),
        ("x_no_such_role", "knowledge", "ROLE_NOT_FOUND", ""),
        ("x_dry_team_role", "x_no_such_role", "ROLE_NOT_FOUND", ""),
    ] {
        let before = get_role(suite, parent).await.ok().map(|role| role.closure);
        let validation = dry_run_containment(suite, parent, child).await;
        assert!(!validation.allowed, "{parent} ⊃ {child}: {validation:?}");
        let blocking = &validation.findings[0];
        assert_eq!((blocking.reason.as_str(), blocking.rule.as_str()), (reason, rule), "{parent} ⊃ {child}");
        assert_eq!(get_role(suite, parent).await.ok().map(|role| role.closure), before, "the dry run added no edge");
        assert_agrees(&validation, &contain(suite, parent, child).await);
    }

    // WARN policy (R2.15): allowed with the warning the mutation reports, and the holder is not flagged yet.
    let contact = ProfileId::new();
    assign(suite, contact, roles::CUSTOMER).await.unwrap();
    define(suite, "x_dry_portal_extra", &[]).await.unwrap();
    assign(suite, contact, "x_dry_portal_extra").await.unwrap();
    admin(suite)
        .update_role_settings(masked!(
            pb::UpdateRoleSettingsRequest {
                settings: Some(pb::RoleSettings {
                    csm_role_mixing_policy: pb::CsmRoleMixingPolicy::Warn as i32,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["csm_role_mixing_policy"]
        ))
        .await
        .unwrap();
    let validation = dry_run_containment(suite, "x_dry_portal_extra", roles::ESM_AGENT).await;
    assert!(validation.allowed);
    assert_eq!(validation.findings[0].severity, pb::FindingSeverity::Warning as i32);
    assert_eq!(validation.findings[0].reason, "ROLE_FAMILY_COLLISION");
    assert!(!csm_tests::world::effective_roles(suite, contact).await.flagged_for_review, "the dry run flags nobody");
    let added = contain(suite, "x_dry_portal_extra", roles::ESM_AGENT).await;
    assert_agrees(&validation, &added);
    assert_eq!(added.unwrap().warnings, validation.findings);

    // Malformed proposals name the field.
    let status = admin(suite)
        .validate_assignment(pb::ValidateAssignmentRequest {
            proposal: Some(pb::validate_assignment_request::Proposal::Containment(pb::ProposedContainment {
                parent_role: "knowledge".to_owned(),
                child_role: String::new(),
            })),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["containment.child_role".to_owned()]);
});

backend_test!(r2_10_a_group_holding_the_role_blocks_a_colliding_containment, |suite| {
    define(suite, "x_group_role", &[]).await.unwrap();
    let group = admin(suite)
        .create_group(pb::CreateGroupRequest {
            request_id: String::new(),
            name: "containment holders".to_owned(),
            kind: pb::GroupKind::AssignmentGroup as i32,
            description: String::new(),
            parent_group_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap()
        .group_id;
    for role in [roles::SNC_INTERNAL, "x_group_role"] {
        admin(suite)
            .add_group_role(pb::AddGroupRoleRequest {
                request_id: String::new(),
                group_id: group.clone(),
                role: role.to_owned(),
            })
            .await
            .unwrap();
    }
    // An empty group holding snc_internal and the role: the role may not reach snc_external.
    let status = contain(suite, "x_group_role", roles::CUSTOMER).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ROLE_COLLISION");
    assert_eq!(metadata(&status, "group_id"), group);
    assert_eq!(metadata(&status, "rule"), "R2.12.4");
    assert!(!has(&closure(suite, "x_group_role").await, roles::SNC_EXTERNAL));
});

backend_test!(r4_13_removing_manager_contains_agent_removes_the_agent_closure, |suite| {
    let manager = ProfileId::new();
    assign(suite, manager, MANAGER).await.unwrap();
    let before = csm_tests::world::effective_roles(suite, manager).await.roles;
    assert!(has(&before, AGENT));
    assert!(has(&before, roles::DEESCALATION_REQUESTER));
    let token = uncontain(suite, MANAGER, AGENT).await.expect("a seeded edge can be removed");
    let change = role_change(suite, &token).await;
    assert_eq!(change.entity_type, "role_containment");
    assert_eq!(change.attributes.get("parent_role").map(String::as_str), Some(MANAGER));
    let after = csm_tests::world::effective_roles(suite, manager).await.roles;
    // What the manager reached only through the agent role is gone …
    for lost in [AGENT, roles::DEESCALATION_REQUESTER, "timecard_user", "domain_expand_scope"] {
        assert!(!has(&after, lost), "{lost} still held: {after:?}");
    }
    // … what it reaches otherwise stays (manager ⊃ consumer_agent ⊃ sn_esm_agent).
    assert!(has(&after, roles::ESM_AGENT));
    assert!(has(&after, MANAGER));
    assert!(!has(&closure(suite, MANAGER).await, AGENT));
    // Removing it again: no such edge.
    let missing = uncontain(suite, MANAGER, AGENT).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(reason_of(&missing), "CONTAINMENT_NOT_FOUND");
    // Putting it back restores the closure.
    contain(suite, MANAGER, AGENT).await.expect("the edge is added back");
    assert!(has(&csm_tests::world::effective_roles(suite, manager).await.roles, roles::DEESCALATION_REQUESTER));
});

// ------------------------------------------------------------------ aliases

backend_test!(x11_aliases_are_accepted_wherever_a_role_name_is, |suite| {
    // The seeded alias.
    let proxy = get_role(suite, roles::CSM_PROXY_CONT).await.unwrap();
    assert_eq!(proxy.role_name, roles::PROXY_CONTACT);
    let holder = ProfileId::new();
    assign(suite, holder, roles::CSM_PROXY_CONT).await.expect("assigned by alias");
    assert!(has(&csm_tests::world::effective_roles(suite, holder).await.roles, roles::PROXY_CONTACT));

    // A new alias.
    let added = admin(suite)
        .add_role_alias(pb::AddRoleAliasRequest {
            request_id: String::new(),
            role: roles::CASE_VIEWER.to_owned(),
            alias: "x_case_viewer".to_owned(),
        })
        .await
        .expect("alias added")
        .into_inner();
    assert_eq!(added.role.unwrap().aliases, vec!["x_case_viewer".to_owned()]);
    assert_eq!(role_change(suite, &added.consistency_token).await.entity_type, "role_alias");
    let profile = ProfileId::new();
    assign(suite, profile, "x_case_viewer").await.unwrap();
    assert!(has(&csm_tests::world::effective_roles(suite, profile).await.roles, roles::CASE_VIEWER));
    define(suite, "x_alias_parent", &[]).await.unwrap();
    let edge = contain(suite, "x_alias_parent", "x_case_viewer").await.unwrap().containment.unwrap();
    assert_eq!(edge.child_role, roles::CASE_VIEWER, "responses carry canonical names");

    // An alias must be a free name.
    for taken in ["x_case_viewer", roles::AGENT, roles::CSM_PROXY_CONT] {
        let status = admin(suite)
            .add_role_alias(pb::AddRoleAliasRequest {
                request_id: String::new(),
                role: "knowledge".to_owned(),
                alias: taken.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists, "{taken}");
        assert_eq!(reason_of(&status), "ROLE_EXISTS");
    }
    let unknown = admin(suite)
        .add_role_alias(pb::AddRoleAliasRequest {
            request_id: String::new(),
            role: "no_such_role".to_owned(),
            alias: "x_free_name".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&unknown), "ROLE_NOT_FOUND");

    // Removing it: the name is no longer accepted.
    admin(suite).remove_role_alias(pb::RemoveRoleAliasRequest { alias: "x_case_viewer".to_owned() }).await.unwrap();
    assert_eq!(reason_of(&get_role(suite, "x_case_viewer").await.unwrap_err()), "ROLE_NOT_FOUND");
    let gone = admin(suite)
        .remove_role_alias(pb::RemoveRoleAliasRequest { alias: "x_case_viewer".to_owned() })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(reason_of(&gone), "ALIAS_NOT_FOUND");
});

// ------------------------------------------------------------ suspect edge

backend_test!(x1_loading_the_suspect_edge_is_a_checked_containment_edit, |suite| {
    assert!(!has(&closure(suite, AGENT).await, roles::CONSUMER_AGENT));
    // A unified consumer holding escalation_requester would become a B2C agent: refused (R1.15).
    let consumer = ProfileId::new();
    assign(suite, consumer, roles::UNIFIED_CONSUMER).await.unwrap();
    assign(suite, consumer, roles::ESCALATION_REQUESTER).await.unwrap();
    let status = set_load_suspect_edges(suite, true).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "UNSUPPORTED_PERSONA");
    assert_eq!(metadata(&status, "profile_id"), consumer.to_string());
    let settings = admin(suite).get_role_settings(pb::GetRoleSettingsRequest {}).await.unwrap().into_inner();
    assert!(!settings.settings.unwrap().load_suspect_edges, "nothing written");

    // Without that holder the edge loads: every agent now reaches consumer_agent.
    admin(suite)
        .revoke_role(pb::RevokeRoleRequest {
            profile_id: consumer.to_string(),
            role: roles::ESCALATION_REQUESTER.to_owned(),
        })
        .await
        .unwrap();
    let agent = ProfileId::new();
    assign(suite, agent, AGENT).await.unwrap();
    let loaded = set_load_suspect_edges(suite, true).await.expect("the suspect edge loads");
    assert!(loaded.settings.unwrap().load_suspect_edges);
    assert!(has(&closure(suite, AGENT).await, roles::CONSUMER_AGENT));
    assert!(has(&csm_tests::world::effective_roles(suite, agent).await.roles, roles::CONSUMER_AGENT));
    let escalation = get_role(suite, roles::ESCALATION_REQUESTER).await.unwrap();
    assert!(escalation.contains.iter().any(|edge| edge.suspect && edge.active));

    // Unloading takes it out again.
    set_load_suspect_edges(suite, false).await.unwrap();
    assert!(!has(&csm_tests::world::effective_roles(suite, agent).await.roles, roles::CONSUMER_AGENT));
});

// ------------------------------------------------------ validation and auth

backend_test!(role_catalog_admin_validates_input_and_requires_admin, |suite| {
    // Bad input names every bad field.
    let status = admin(suite)
        .define_role(pb::DefineRoleRequest {
            request_id: String::new(),
            role_name: "Bad Name".to_owned(),
            display_name: String::new(),
            description: String::new(),
            contains: vec![String::new()],
            intended_family: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields = violated_fields(&status);
    for field in ["role_name", "display_name", "contains[0]"] {
        assert!(fields.contains(&field.to_owned()), "{field} missing from {fields:?}");
    }
    // An undeclared family is refused at the request edge, naming the field.
    let status = admin(suite)
        .define_role(pb::DefineRoleRequest {
            request_id: String::new(),
            role_name: "x_valid_name".to_owned(),
            display_name: "Valid".to_owned(),
            description: String::new(),
            contains: vec![],
            intended_family: 99,
        })
        .await
        .unwrap_err();
    assert_eq!((status.code(), violated_fields(&status)), (Code::InvalidArgument, vec!["intended_family".to_owned()]));
    let status = admin(suite)
        .update_role(masked!(
            pb::UpdateRoleRequest {
                role: Some(pb::Role { role_name: "knowledge".to_owned(), ..Default::default() }),
                update_mask: None
            },
            ["family"]
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["update_mask".to_owned()]);
    let status = contain(suite, "", "").await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["parent_role".to_owned(), "child_role".to_owned()]);
    assert_eq!(reason_of(&contain(suite, "no_such_role", "knowledge").await.unwrap_err()), "ROLE_NOT_FOUND");
    assert_eq!(reason_of(&contain(suite, MANAGER, AGENT).await.unwrap_err()), "CONTAINMENT_EXISTS");

    // Only role administrators edit the catalog.
    let person = csm_tests::world::nobody(suite).await.1;
    let denied = suite
        .role(Some(&person))
        .define_role(pb::DefineRoleRequest {
            request_id: String::new(),
            role_name: "x_denied".to_owned(),
            display_name: "Denied".to_owned(),
            description: String::new(),
            contains: Vec::new(),
            intended_family: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&denied), "MISSING_ROLE");
    let denied = suite
        .role(Some(&person))
        .add_role_containment(pb::AddRoleContainmentRequest {
            request_id: String::new(),
            parent_role: MANAGER.to_owned(),
            child_role: "knowledge".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        suite.role(None).get_role(pb::GetRoleRequest { role: AGENT.to_owned() }).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // UpdateRole changes display name and description, seeded roles included.
    let updated = admin(suite)
        .update_role(masked!(
            pb::UpdateRoleRequest {
                role: Some(pb::Role {
                    role_name: "knowledge".to_owned(),
                    display_name: "Knowledge user".to_owned(),
                    description: "Reads knowledge articles".to_owned(),
                    ..Default::default()
                }),
                update_mask: None
            },
            ["display_name", "description"]
        ))
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert_eq!(updated.display_name, "Knowledge user");
    assert_eq!(get_role(suite, "knowledge").await.unwrap().description, "Reads knowledge articles");

    // DeleteRole: seeded roles stay, used roles stay, unused custom roles go.
    let seeded = admin(suite).delete_role(pb::DeleteRoleRequest { role: "knowledge".to_owned() }).await.unwrap_err();
    assert_eq!(seeded.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&seeded), "ROLE_SEEDED");
    define(suite, "x_in_use", &["knowledge"]).await.unwrap();
    let profile = ProfileId::new();
    assign(suite, profile, "x_in_use").await.unwrap();
    let in_use = admin(suite).delete_role(pb::DeleteRoleRequest { role: "x_in_use".to_owned() }).await.unwrap_err();
    assert_eq!(reason_of(&in_use), "ROLE_IN_USE");
    assert_eq!(metadata(&in_use, "usage"), format!("profile:{profile}"));
    define(suite, "x_container", &["x_in_use"]).await.unwrap();
    define(suite, "x_unused", &["knowledge"]).await.unwrap();
    admin(suite).delete_role(pb::DeleteRoleRequest { role: "x_unused".to_owned() }).await.expect("unused custom role");
    assert_eq!(reason_of(&get_role(suite, "x_unused").await.unwrap_err()), "ROLE_NOT_FOUND");
    let contained = admin(suite).delete_role(pb::DeleteRoleRequest { role: "x_container".to_owned() }).await;
    contained.expect("x_container is used by nobody (it contains, it is not contained)");
});

backend_test!(r2_15_a_containment_edit_mixing_families_is_denied_or_flags_the_holders, |suite| {
    define(suite, "x_portal_extra", &[]).await.unwrap();
    let contact = ProfileId::new();
    assign(suite, contact, roles::CUSTOMER).await.unwrap();
    assign(suite, contact, "x_portal_extra").await.unwrap();
    // DENY (default): the contact would reach sn_esm_agent through the edit.
    let status = contain(suite, "x_portal_extra", roles::ESM_AGENT).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "ROLE_FAMILY_COLLISION");
    assert_eq!(metadata(&status, "profile_id"), contact.to_string());
    assert!(!csm_tests::world::effective_roles(suite, contact).await.flagged_for_review);
    // WARN: the edge is added, the holder is named and flagged for review.
    admin(suite)
        .update_role_settings(masked!(
            pb::UpdateRoleSettingsRequest {
                settings: Some(pb::RoleSettings {
                    csm_role_mixing_policy: pb::CsmRoleMixingPolicy::Warn as i32,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["csm_role_mixing_policy"]
        ))
        .await
        .unwrap();
    let added = contain(suite, "x_portal_extra", roles::ESM_AGENT).await.expect("WARN lets it through");
    let warned: Vec<String> =
        added.warnings.iter().filter_map(|warning| warning.path.as_ref()).map(|path| path.profile_id.clone()).collect();
    assert_eq!(warned, vec![contact.to_string()]);
    assert_eq!(added.warnings[0].reason, "ROLE_FAMILY_COLLISION");
    let roles = csm_tests::world::effective_roles(suite, contact).await;
    assert!(roles.flagged_for_review);
    assert!(has(&roles.roles, roles::ESM_AGENT));
});
