//! identity's directory over real gRPC: departments, Cherwell security groups
//! (R1.8, R6.1, R6.6) and identity's settings (R1.3, R2.13a). Each test runs
//! on SQLite and on PostgreSQL (see `backend_test!`).
//!
//! Changes need `admin`; reads are open to every authenticated caller.

use csm_proto::identity as pb;
use csm_tests::{Backend, Suite, SuiteOptions, backend_test, masked, reason_of, violated_fields};
use csm_types::ServiceName;
use tonic::Code;

async fn create_department(suite: &Suite, name: &str) -> pb::Department {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_department(pb::CreateDepartmentRequest {
            request_id: String::new(),
            name: name.to_owned(),
            description: format!("{name} people"),
        })
        .await
        .expect("the administrator creates a department")
        .into_inner()
        .department
        .unwrap()
}

fn new_group(
    name: &str,
    kind: pb::SecurityGroupKind,
    roles: &[&str],
    default_role: &str,
) -> pb::CreateSecurityGroupRequest {
    pb::CreateSecurityGroupRequest {
        request_id: String::new(),
        name: name.to_owned(),
        kind: kind as i32,
        description: String::new(),
        presentation_roles: roles.iter().map(|role| role.to_string()).collect(),
        default_presentation_role: default_role.to_owned(),
        default_group: false,
    }
}

async fn create_group(suite: &Suite, request: pb::CreateSecurityGroupRequest) -> pb::SecurityGroup {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_security_group(request)
        .await
        .expect("the administrator creates a security group")
        .into_inner()
        .security_group
        .unwrap()
}

async fn create_employee(suite: &Suite, first_name: &str, security_group_id: &str) -> pb::Profile {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_employee(pb::CreateEmployeeRequest {
            details: Some(pb::PersonDetails {
                first_name: first_name.to_owned(),
                last_name: "Agent".to_owned(),
                ..Default::default()
            }),
            security_group_id: security_group_id.to_owned(),
            channels: vec![pb::Channel::Browser as i32],
            ..Default::default()
        })
        .await
        .expect("the administrator creates an employee")
        .into_inner()
        .profile
        .unwrap()
}

/// A consumer with a new consumer-user (CONSUMER) profile on the consumer portal.
async fn create_consumer_user(suite: &Suite, first_name: &str, security_group_id: &str) -> pb::CreateConsumerResponse {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .create_consumer(pb::CreateConsumerRequest {
            details: Some(pb::PersonDetails {
                first_name: first_name.to_owned(),
                last_name: "Consumer".to_owned(),
                ..Default::default()
            }),
            user: Some(pb::create_consumer_request::User::NewConsumerUser(pb::NewConsumerUser {
                channels: vec![pb::Channel::ConsumerPortal as i32],
                security_group_id: security_group_id.to_owned(),
                login: None,
            })),
            ..Default::default()
        })
        .await
        .expect("the administrator creates a consumer user")
        .into_inner()
}

async fn assign_group(
    suite: &Suite,
    profile_id: &str,
    group_id: &str,
) -> Result<pb::AssignSecurityGroupResponse, tonic::Status> {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .assign_security_group(pb::AssignSecurityGroupRequest {
            profile_id: profile_id.to_owned(),
            security_group_id: group_id.to_owned(),
        })
        .await
        .map(|response| response.into_inner())
}

async fn security_group_of(suite: &Suite, profile_id: &str) -> String {
    let token = suite.admin_token();
    suite
        .identity(Some(&token))
        .get_profile(pb::GetProfileRequest { profile_id: profile_id.to_owned() })
        .await
        .expect("the profile reads")
        .into_inner()
        .profile
        .unwrap()
        .security_group_id
}

// ------------------------------------------------------------ SPEC rules

backend_test!(r1_8_assigning_a_security_group_replaces_the_previous_one_and_never_crosses_kinds, |suite| {
    let service_desk =
        create_group(suite, new_group("IT Service Desk", pb::SecurityGroupKind::User, &["Agent"], "")).await;
    let admin = create_group(suite, new_group("Administrators", pb::SecurityGroupKind::User, &["Admin"], "")).await;
    let portal =
        create_group(suite, new_group("Portal Users", pb::SecurityGroupKind::Customer, &["Self Service"], "")).await;
    let members =
        create_group(suite, new_group("Portal Members", pb::SecurityGroupKind::Customer, &["Self Service"], "")).await;

    // Given User U in "IT Service Desk", when U is assigned to "Admin", U is in exactly one group: Admin.
    let user = create_employee(suite, "Uma", &service_desk.security_group_id).await;
    assert_eq!(user.security_group_id, service_desk.security_group_id);
    let assigned = assign_group(suite, &user.profile_id, &admin.security_group_id).await.expect("reassigned");
    assert_eq!(assigned.previous_security_group_id, service_desk.security_group_id);
    assert_eq!(
        assigned.profile.as_ref().map(|profile| profile.security_group_id.clone()),
        Some(admin.security_group_id.clone())
    );
    assert_eq!(security_group_of(suite, &user.profile_id).await, admin.security_group_id);
    let change = suite.identity_change(&assigned.consistency_token).await;
    assert_eq!(change.entity_type, "profile");
    assert_eq!(change.attributes.get("security_group_id"), Some(&admin.security_group_id));
    assert_eq!(change.attributes.get("previous_security_group_id"), Some(&service_desk.security_group_id));

    // When U is assigned to a Customer Security Group: FAILED_PRECONDITION, and U stays in Admin.
    let status = assign_group(suite, &user.profile_id, &portal.security_group_id).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&status), "SECURITY_GROUP_KIND_MISMATCH");
    assert_eq!(security_group_of(suite, &user.profile_id).await, admin.security_group_id);

    // A Customer (here a consumer-user) moves between Customer groups, never into a User group.
    let customer = create_consumer_user(suite, "Cora", &portal.security_group_id).await.user_profile.unwrap();
    assert_eq!(customer.security_group_id, portal.security_group_id);
    let moved = assign_group(suite, &customer.profile_id, &members.security_group_id).await.expect("moved");
    assert_eq!(moved.previous_security_group_id, portal.security_group_id);
    let status = assign_group(suite, &customer.profile_id, &admin.security_group_id).await.unwrap_err();
    assert_eq!(reason_of(&status), "SECURITY_GROUP_KIND_MISMATCH");
    assert_eq!(security_group_of(suite, &customer.profile_id).await, members.security_group_id);

    // Assigning the group a profile is already in changes nothing.
    let again = assign_group(suite, &customer.profile_id, &members.security_group_id).await.expect("no-op");
    assert_eq!(again.previous_security_group_id, members.security_group_id);
});

backend_test!(r6_2_people_data_tells_users_for_teams_from_customers_for_workgroups, |suite| {
    // Teams and workgroups live in the role service; identity's part is the
    // people data it checks members against: User or Customer, by group kind.
    let employee = create_employee(suite, "Tess", "").await;
    assert_eq!(employee.security_group_kind, pb::SecurityGroupKind::User as i32);
    let consumer = create_consumer_user(suite, "Walt", "").await.user_profile.unwrap();
    assert_eq!(consumer.security_group_kind, pb::SecurityGroupKind::Customer as i32);
    let read = suite
        .identity(Some(&suite.service_token(ServiceName::Role)))
        .get_profile(pb::GetProfileRequest { profile_id: consumer.profile_id.clone() })
        .await
        .expect("the role service reads people data")
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(read.security_group_kind, pb::SecurityGroupKind::Customer as i32);
});

backend_test!(r6_1_a_security_group_has_presentation_roles_and_one_default_among_them, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));

    // The default defaults to the first role; an explicit default must be one of the roles.
    let first = create_group(suite, new_group("Analysts", pb::SecurityGroupKind::User, &["R1", "R2"], "")).await;
    assert_eq!(first.presentation_roles, vec!["R1", "R2"]);
    assert_eq!(first.default_presentation_role, "R1");
    let second =
        create_group(suite, new_group("Customers", pb::SecurityGroupKind::Customer, &["R1", "R2"], "R2")).await;
    assert_eq!(second.default_presentation_role, "R2");
    let status = identity
        .create_security_group(new_group("Broken", pb::SecurityGroupKind::User, &["R1"], "R3"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&status), "DEFAULT_ROLE_NOT_IN_GROUP");

    // Changing the roles keeps a default that is still there, else falls back to the first.
    let updated = identity
        .update_security_group(masked!(
            pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    security_group_id: second.security_group_id.clone(),
                    presentation_roles: vec!["R2".into(), "R3".into()],
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["presentation_roles"]
        ))
        .await
        .expect("roles updated")
        .into_inner()
        .security_group
        .unwrap();
    assert_eq!(updated.default_presentation_role, "R2");
    let updated = identity
        .update_security_group(masked!(
            pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    security_group_id: second.security_group_id.clone(),
                    default_presentation_role: "R3".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["default_presentation_role"]
        ))
        .await
        .expect("default updated")
        .into_inner()
        .security_group
        .unwrap();
    assert_eq!(updated.default_presentation_role, "R3");
    let status = identity
        .update_security_group(masked!(
            pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    security_group_id: second.security_group_id.clone(),
                    default_presentation_role: "R9".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["default_presentation_role"]
        ))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "DEFAULT_ROLE_NOT_IN_GROUP");

    // The kind never changes.
    let status = identity
        .update_security_group(masked!(
            pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    security_group_id: second.security_group_id.clone(),
                    kind: pb::SecurityGroupKind::User as i32,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["kind"]
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&status), "FIELD_NOT_UPDATABLE");
    let read = identity
        .get_security_group(pb::GetSecurityGroupRequest { security_group_id: second.security_group_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .security_group
        .unwrap();
    assert_eq!(read.kind, pb::SecurityGroupKind::Customer as i32);
    assert_eq!(read.presentation_roles, vec!["R2", "R3"]);
});

backend_test!(r6_6_the_out_of_the_box_security_groups_exist_from_the_start, |suite| {
    let token = suite.admin_token();
    let groups = suite
        .identity(Some(&token))
        .list_security_groups(pb::ListSecurityGroupsRequest::default())
        .await
        .expect("groups list")
        .into_inner()
        .security_groups;
    let expected = [
        ("Admin", pb::SecurityGroupKind::User),
        ("IT Service Desk Level 1", pb::SecurityGroupKind::User),
        ("IT Service Desk Level 2 & 3", pb::SecurityGroupKind::User),
        ("IT Service Desk Manager", pb::SecurityGroupKind::User),
        ("Portal Customer", pb::SecurityGroupKind::Customer),
        ("Portal Workgroup Manager", pb::SecurityGroupKind::Customer),
        ("Anonymous Browser", pb::SecurityGroupKind::Anonymous),
    ];
    for (name, kind) in expected {
        let group = groups.iter().find(|group| group.name == name).unwrap_or_else(|| panic!("{name} is missing"));
        assert_eq!(group.kind, kind as i32, "{name}");
        assert!(!group.default_presentation_role.is_empty(), "{name} has a default presentation role");
    }
    // One default group for Users and one for Customers; none for anonymous visitors.
    let defaults: Vec<&str> =
        groups.iter().filter(|group| group.default_group).map(|group| group.name.as_str()).collect();
    assert_eq!(defaults, vec!["IT Service Desk Level 1", "Portal Customer"]);

    // Nothing can be put into the Anonymous Browser group.
    let anonymous = groups.iter().find(|group| group.name == "Anonymous Browser").unwrap();
    let employee = create_employee(suite, "Ada", "").await;
    let status = assign_group(suite, &employee.profile_id, &anonymous.security_group_id).await.unwrap_err();
    assert_eq!(reason_of(&status), "SECURITY_GROUP_KIND_MISMATCH");
});

/// R6.6's seeding runs at every start-up: it creates nothing twice, and a
/// renamed out-of-the-box group is not created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_6_seeding_again_at_the_next_start_creates_nothing() {
    for backend in Backend::all("r6_6_seeding_again_at_the_next_start_creates_nothing") {
        let database = backend.fresh_database("identity");
        let options = SuiteOptions {
            database_overrides: [(ServiceName::Identity, database.url.clone())].into_iter().collect(),
            ..SuiteOptions::default()
        };
        let mut names_per_start = Vec::new();
        for start in 0..2 {
            let suite = Suite::start_with(backend.clone(), options.clone()).await;
            let token = suite.admin_token();
            let mut identity = suite.identity(Some(&token));
            let groups = identity
                .list_security_groups(pb::ListSecurityGroupsRequest::default())
                .await
                .expect("groups list")
                .into_inner()
                .security_groups;
            if start == 0 {
                let admin = groups.iter().find(|group| group.name == "Admin").expect("seeded");
                identity
                    .update_security_group(masked!(
                        pb::UpdateSecurityGroupRequest {
                            security_group: Some(pb::SecurityGroup {
                                security_group_id: admin.security_group_id.clone(),
                                name: "Administrators".into(),
                                ..Default::default()
                            }),
                            update_mask: None,
                        },
                        ["name"]
                    ))
                    .await
                    .expect("renamed");
            }
            let mut names: Vec<String> = groups.into_iter().map(|group| group.name).collect();
            names.sort();
            names_per_start.push(names);
            suite.stop().await;
        }
        assert_eq!(names_per_start[0].len(), 7, "{}: {:?}", backend.name(), names_per_start[0]);
        let mut expected = names_per_start[0].clone();
        expected.retain(|name| name != "Admin");
        expected.push("Administrators".into());
        expected.sort();
        assert_eq!(names_per_start[1], expected, "{}", backend.name());
        database.remove().await;
    }
}

backend_test!(r2_13a_the_internal_user_deny_list_is_a_setting_enforced_by_default, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let settings = identity.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner().settings.unwrap();
    assert!(settings.enforce_internal_user_deny_list);
    assert_eq!(
        settings.internal_user_deny_list,
        vec![pb::UserClass::CustomerContact as i32, pb::UserClass::ConsumerUser as i32]
    );
    assert_eq!(settings.consumer_allowed_user_types, vec![pb::UserClass::ConsumerUser as i32]);

    let updated = identity
        .update_settings(masked!(
            pb::UpdateSettingsRequest {
                settings: Some(pb::Settings {
                    enforce_internal_user_deny_list: false,
                    internal_user_deny_list: vec![pb::UserClass::ConsumerUser as i32],
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["enforce_internal_user_deny_list", "internal_user_deny_list"]
        ))
        .await
        .expect("settings updated")
        .into_inner();
    let settings = updated.settings.unwrap();
    assert!(!settings.enforce_internal_user_deny_list);
    assert_eq!(settings.internal_user_deny_list, vec![pb::UserClass::ConsumerUser as i32]);
    // Paths not in the mask are untouched.
    assert_eq!(settings.consumer_allowed_user_types, vec![pb::UserClass::ConsumerUser as i32]);
    assert!(settings.updated_at.is_some());
    let change = suite.identity_change(&updated.consistency_token).await;
    assert_eq!(change.entity_type, "settings");
    assert_eq!(change.entity_id, "identity");

    // Services read the settings (static policy); they do not change them.
    let service = suite.service_token(ServiceName::CaseAccess);
    let read = suite.identity(Some(&service)).get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
    assert!(!read.settings.unwrap().enforce_internal_user_deny_list);
});

backend_test!(r1_3_the_allowed_consumer_user_types_can_never_be_emptied, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let status = identity
        .update_settings(masked!(
            pb::UpdateSettingsRequest { settings: Some(pb::Settings::default()), update_mask: None },
            ["consumer_allowed_user_types"]
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason_of(&status), "EMPTY_ALLOWED_USER_TYPES");
    let status = identity
        .update_settings(masked!(
            pb::UpdateSettingsRequest {
                settings: Some(pb::Settings { consumer_allowed_user_types: vec![0], ..Default::default() }),
                update_mask: None,
            },
            ["consumer_allowed_user_types"]
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["settings.consumer_allowed_user_types[0]"]);
    let settings = identity.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner().settings.unwrap();
    assert_eq!(settings.consumer_allowed_user_types, vec![pb::UserClass::ConsumerUser as i32]);
});

// ------------------------------------------------------------ departments

backend_test!(departments_are_created_read_renamed_and_deactivated, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let created = identity
        .create_department(pb::CreateDepartmentRequest {
            request_id: "dept-1".into(),
            name: "  Support  ".into(),
            description: "First line".into(),
        })
        .await
        .expect("created")
        .into_inner();
    let department = created.department.clone().unwrap();
    assert_eq!(department.name, "Support");
    assert!(department.active);
    let change = suite.identity_change(&created.consistency_token).await;
    assert_eq!(change.entity_type, "department");
    assert_eq!(change.attributes.get("department_id"), Some(&department.department_id));

    // A retry with the same request id returns the first result.
    let retried = identity
        .create_department(pb::CreateDepartmentRequest {
            request_id: "dept-1".into(),
            name: "Support".into(),
            description: "First line".into(),
        })
        .await
        .expect("replayed")
        .into_inner();
    assert_eq!(retried.department.unwrap().department_id, department.department_id);
    assert_eq!(retried.consistency_token, created.consistency_token);

    // Names are unique.
    let status = identity
        .create_department(pb::CreateDepartmentRequest { name: "Support".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason_of(&status), "DEPARTMENT_NAME_TAKEN");
    let sales = create_department(suite, "Sales").await;
    let status = identity
        .update_department(masked!(
            pb::UpdateDepartmentRequest {
                department: Some(pb::Department {
                    department_id: sales.department_id.clone(),
                    name: "Support".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["name"]
        ))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "DEPARTMENT_NAME_TAKEN");

    // Only masked paths change.
    let updated = identity
        .update_department(masked!(
            pb::UpdateDepartmentRequest {
                department: Some(pb::Department {
                    department_id: department.department_id.clone(),
                    name: "ignored".into(),
                    active: false,
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .expect("deactivated")
        .into_inner();
    let deactivated = updated.department.unwrap();
    assert_eq!(deactivated.name, "Support");
    assert!(!deactivated.active);
    assert_eq!(suite.identity_change(&updated.consistency_token).await.entity_id, department.department_id);
    let read = identity
        .get_department(pb::GetDepartmentRequest { department_id: department.department_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .department
        .unwrap();
    assert_eq!(read, deactivated);

    // Inactive departments are listed only on request.
    let listed = identity.list_departments(pb::ListDepartmentsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.departments.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["Sales"]);
    let listed = identity
        .list_departments(pb::ListDepartmentsRequest { include_inactive: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.departments.len(), 2);
});

backend_test!(departments_list_by_name_prefix_in_pages, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    for name in ["Field Ops", "field_support", "FIELD%X", "Finance"] {
        create_department(suite, name).await;
    }
    // The prefix is case-insensitive and LIKE wildcards in it are literal.
    let listed = identity
        .list_departments(pb::ListDepartmentsRequest { name_prefix: "field".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.departments.len(), 3);
    let listed = identity
        .list_departments(pb::ListDepartmentsRequest { name_prefix: "field_".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.departments.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["field_support"]);

    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = identity
            .list_departments(pb::ListDepartmentsRequest {
                page_size: 3,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.departments.len() <= 3);
        seen.extend(page.departments.into_iter().map(|department| department.department_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), 4);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by id");

    let status = identity
        .list_departments(pb::ListDepartmentsRequest { page_token: "bogus".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_token"]);
    let status = identity
        .list_departments(pb::ListDepartmentsRequest { page_size: -1, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_size"]);
});

backend_test!(department_requests_name_every_bad_field, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let status = identity
        .create_department(pb::CreateDepartmentRequest {
            request_id: "x".repeat(129),
            name: " ".into(),
            description: "d".repeat(2001),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["description", "name", "request_id"]);

    let status = identity.get_department(pb::GetDepartmentRequest { department_id: "nope".into() }).await.unwrap_err();
    assert_eq!(violated_fields(&status), vec!["department_id"]);
    let missing = uuid::Uuid::now_v7().to_string();
    let status =
        identity.get_department(pb::GetDepartmentRequest { department_id: missing.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason_of(&status), "DEPARTMENT_NOT_FOUND");
    let status = identity
        .update_department(masked!(
            pb::UpdateDepartmentRequest {
                department: Some(pb::Department { department_id: missing, active: true, ..Default::default() }),
                update_mask: None,
            },
            ["active"]
        ))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "DEPARTMENT_NOT_FOUND");
    let status = identity
        .update_department(pb::UpdateDepartmentRequest {
            department: Some(pb::Department::default()),
            update_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["update_mask"]);
});

// -------------------------------------------------------- security groups

backend_test!(security_groups_have_unique_names_and_one_default_per_kind, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    let mut request = new_group("Tier 1", pb::SecurityGroupKind::User, &["Agent"], "");
    request.default_group = true;
    request.request_id = "group-1".into();
    let created = identity.create_security_group(request.clone()).await.expect("created").into_inner();
    let tier1 = created.security_group.clone().unwrap();
    assert!(tier1.default_group);
    let change = suite.identity_change(&created.consistency_token).await;
    assert_eq!(change.entity_type, "security_group");
    let retried = identity.create_security_group(request).await.expect("replayed").into_inner();
    assert_eq!(retried.security_group.unwrap().security_group_id, tier1.security_group_id);

    let status = identity
        .create_security_group(new_group("Tier 1", pb::SecurityGroupKind::Customer, &[], ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason_of(&status), "SECURITY_GROUP_NAME_TAKEN");

    // Making another group the default clears the previous default of that kind only.
    let mut request = new_group("Tier 2", pb::SecurityGroupKind::User, &["Agent"], "");
    request.default_group = true;
    let tier2 = create_group(suite, request).await;
    assert!(tier2.default_group);
    let read = |id: String| {
        let mut identity = suite.identity(Some(&token));
        async move {
            identity
                .get_security_group(pb::GetSecurityGroupRequest { security_group_id: id })
                .await
                .unwrap()
                .into_inner()
                .security_group
                .unwrap()
        }
    };
    assert!(!read(tier1.security_group_id.clone()).await.default_group);
    let mut customer_default = new_group("Customers", pb::SecurityGroupKind::Customer, &[], "");
    customer_default.default_group = true;
    let customers = create_group(suite, customer_default).await;
    assert!(read(tier2.security_group_id.clone()).await.default_group);
    assert!(read(customers.security_group_id.clone()).await.default_group);
    assert_eq!(customers.default_presentation_role, "");

    // Clearing the mark leaves the kind without a default.
    identity
        .update_security_group(masked!(
            pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    security_group_id: tier2.security_group_id.clone(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["default_group"]
        ))
        .await
        .expect("default cleared");
    let users = identity
        .list_security_groups(pb::ListSecurityGroupsRequest {
            kind: pb::SecurityGroupKind::User as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .security_groups;
    assert!(users.iter().all(|group| !group.default_group));
    assert!(users.iter().all(|group| group.kind == pb::SecurityGroupKind::User as i32));

    // Renaming onto a taken name is refused.
    let status = identity
        .update_security_group(masked!(
            pb::UpdateSecurityGroupRequest {
                security_group: Some(pb::SecurityGroup {
                    security_group_id: tier2.security_group_id.clone(),
                    name: "Tier 1".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
            ["name"]
        ))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "SECURITY_GROUP_NAME_TAKEN");
});

backend_test!(security_group_requests_are_validated, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    // ANONYMOUS groups are seeded, never created (R6.6).
    let status = identity
        .create_security_group(new_group("Visitors", pb::SecurityGroupKind::Anonymous, &[], ""))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["kind"]);
    let status = identity
        .create_security_group(new_group("", pb::SecurityGroupKind::Unspecified, &["A,B"], ""))
        .await
        .unwrap_err();
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["kind", "name"]);
    let status = identity
        .create_security_group(new_group("Dupes", pb::SecurityGroupKind::User, &["A", "A"], ""))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["presentation_roles"]);
    let status = identity
        .get_security_group(pb::GetSecurityGroupRequest { security_group_id: uuid::Uuid::now_v7().to_string() })
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "SECURITY_GROUP_NOT_FOUND");
    let status =
        assign_group(suite, &uuid::Uuid::now_v7().to_string(), &uuid::Uuid::now_v7().to_string()).await.unwrap_err();
    assert_eq!(reason_of(&status), "PROFILE_NOT_FOUND");
    let status = assign_group(suite, "x", "").await.unwrap_err();
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["profile_id", "security_group_id"]);
});

backend_test!(security_groups_list_in_pages_by_kind, |suite| {
    let token = suite.admin_token();
    let mut identity = suite.identity(Some(&token));
    for index in 0..5 {
        create_group(suite, new_group(&format!("Customer group {index}"), pb::SecurityGroupKind::Customer, &[], ""))
            .await;
    }
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = identity
            .list_security_groups(pb::ListSecurityGroupsRequest {
                page_size: 2,
                page_token: page_token.clone(),
                kind: pb::SecurityGroupKind::Customer as i32,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.security_groups.len() <= 2);
        names.extend(page.security_groups.into_iter().map(|group| group.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let created: Vec<String> = names.into_iter().filter(|name| name.starts_with("Customer group")).collect();
    assert_eq!(created, (0..5).map(|index| format!("Customer group {index}")).collect::<Vec<_>>());
});

// ------------------------------------------------------------ who may

backend_test!(directory_changes_need_admin_and_reads_any_caller, |suite| {
    let person = csm_tests::world::nobody(suite).await.1;
    let mut identity = suite.identity(Some(&person));
    let status = identity
        .create_department(pb::CreateDepartmentRequest { name: "Shadow IT".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    let status = identity
        .update_settings(masked!(
            pb::UpdateSettingsRequest {
                settings: Some(pb::Settings { enforce_internal_user_deny_list: false, ..Default::default() }),
                update_mask: None,
            },
            ["enforce_internal_user_deny_list"]
        ))
        .await
        .unwrap_err();
    assert_eq!(reason_of(&status), "MISSING_ROLE");
    let status =
        identity.create_security_group(new_group("Mine", pb::SecurityGroupKind::User, &[], "")).await.unwrap_err();
    assert_eq!(reason_of(&status), "MISSING_ROLE");

    // Reads are open to any authenticated caller.
    let department = create_department(suite, "Legal").await;
    let read = identity
        .get_department(pb::GetDepartmentRequest { department_id: department.department_id.clone() })
        .await
        .expect("any caller reads a department")
        .into_inner();
    assert_eq!(read.department.unwrap().name, "Legal");
    identity.get_settings(pb::GetSettingsRequest {}).await.expect("any caller reads the settings");
    identity.list_security_groups(pb::ListSecurityGroupsRequest::default()).await.expect("any caller lists groups");

    // Without credentials nothing is answered.
    let status = suite.identity(None).get_settings(pb::GetSettingsRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
});

// R6.7: Cherwell clients may see security-group changes only after their sync
// interval (15 s); here a change is visible to every reader at once, and the
// feed carries it for caches (R2.21 beats R6.7).
backend_test!(r6_7_a_security_group_change_is_visible_at_once_and_in_the_feed, |suite| {
    let first = create_group(suite, new_group("Desk One", pb::SecurityGroupKind::User, &["Desk"], "Desk")).await;
    let second = create_group(suite, new_group("Desk Two", pb::SecurityGroupKind::User, &["Desk"], "Desk")).await;
    let employee = create_employee(suite, "Sync", &first.security_group_id).await;
    let assigned = assign_group(suite, &employee.profile_id, &second.security_group_id).await.expect("assigned");
    // Read straight after the write, without waiting for any sync interval.
    assert_eq!(security_group_of(suite, &employee.profile_id).await, second.security_group_id);
    let change = suite.identity_change(&assigned.consistency_token).await;
    assert_eq!(change.attributes.get("profile_id"), Some(&employee.profile_id));
});
