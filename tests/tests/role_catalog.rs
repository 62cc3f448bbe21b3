//! role: the seeded catalog, listed over gRPC, matches SPEC §2.2 row for row
//! (the test reads the SPEC's tables from the guidance folder beside the
//! repository), and its families and classes follow the containment closure.

use csm_types::roles;
use std::collections::{BTreeMap, BTreeSet};

use csm_proto::role as role_pb;
use csm_tests::{Suite, backend_test, reason_of};
use tonic::Code;

/// Every role of the catalog, listed page by page with containment.
async fn list_catalog(suite: &Suite) -> BTreeMap<String, role_pb::Role> {
    let token = suite.admin_token();
    let mut roles = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .role(Some(&token))
            .list_roles(role_pb::ListRolesRequest {
                page_size: 40,
                page_token: page_token.clone(),
                include_containment: true,
                ..Default::default()
            })
            .await
            .expect("ListRoles answers")
            .into_inner();
        for role in page.roles {
            assert!(roles.insert(role.role_name.clone(), role).is_none(), "a role is listed twice across pages");
        }
        if page.next_page_token.is_empty() {
            return roles;
        }
        page_token = page.next_page_token;
    }
}

/// The (role, contained roles) rows of the two §2.2 tables.
fn spec_rows() -> Option<Vec<(String, Vec<String>)>> {
    // The tables, as copied into the repository (so CI needs no guidance folder)…
    let fixture = include_str!("../fixtures/spec-2.2-role-catalog.md");
    let copied = fixture.split("### 2.2").nth(1)?;
    // …and, when SPEC.md sits beside the repository, the copy must still match it.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/SPEC.md");
    if let Ok(spec) = std::fs::read_to_string(path) {
        let current = spec.split("### 2.2").nth(1)?.split("**R2.8").next()?;
        assert_eq!(copied, current, "tests/fixtures/spec-2.2-role-catalog.md differs from {path}: copy it again");
    }
    let section = copied;
    let mut rows = Vec::new();
    for line in section.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 2 {
            continue;
        }
        let Some(role) = cells[0].split('`').nth(1) else { continue };
        let mut contains = cells[1].to_owned();
        // Drop italic notes "*(…)*" and the "*documented:*" marker; keep the names.
        while let (Some(start), Some(end)) = (contains.find("*("), contains.find(")*")) {
            if end < start {
                break;
            }
            contains.replace_range(start..end + 2, "");
        }
        let contains = contains.replace("*documented:*", "").replace("**", "");
        // "—" alone means none; after a name it starts a comment ("— SUSPECT, …").
        let contains = contains.trim().trim_start_matches('—');
        let contains = contains.split('—').next().unwrap_or_default();
        let names = contains
            .split([',', ';', '+'])
            .filter_map(|piece| {
                let piece = piece.trim().trim_start_matches('—').trim();
                let name: String =
                    piece.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').collect();
                (name.len() > 1 && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())).then_some(name)
            })
            // "none" and the plugin-conditional notify_view (catalog docs) are not edges.
            .filter(|name| name != "none" && name != "notify_view")
            .collect();
        rows.push((role.to_owned(), names));
    }
    Some(rows)
}

/// The catalog name of a SPEC cell's (possibly abbreviated) role name.
fn resolve<'a>(catalog: &'a BTreeMap<String, role_pb::Role>, name: &str) -> Option<&'a role_pb::Role> {
    [name.to_owned(), format!("sn_customerservice.{name}"), format!("sn_{name}")]
        .iter()
        .find_map(|candidate| catalog.get(candidate))
}

backend_test!(r2_2_the_seeded_catalog_matches_the_spec_table_row_for_row, |suite| {
    let catalog = list_catalog(suite).await;
    let Some(rows) = spec_rows() else { return };
    assert!(rows.len() >= 35, "parsed {} rows of §2.2", rows.len());
    let mut compared_edges = 0;
    for (role, expected) in rows {
        let listed = resolve(&catalog, &role).unwrap_or_else(|| panic!("{role} is missing from the catalog"));
        let edges: BTreeMap<&str, &role_pb::RoleContainment> =
            listed.contains.iter().map(|edge| (edge.child_role.as_str(), edge)).collect();
        for child in expected {
            let child_role =
                resolve(&catalog, &child).unwrap_or_else(|| panic!("{child} (contained by {role}) is missing"));
            let edge = edges
                .get(child_role.role_name.as_str())
                .unwrap_or_else(|| panic!("{role} ⊃ {child} is missing; it has {:?}", edges.keys()));
            // X1: the one suspect edge is seeded but inactive by default.
            let suspect = role.ends_with("escalation_requester") && child.ends_with("consumer_agent");
            assert_eq!(edge.suspect, suspect, "{role} ⊃ {child}");
            assert_eq!(edge.active, !suspect, "{role} ⊃ {child}");
            compared_edges += 1;
        }
    }
    assert!(compared_edges >= 90, "compared only {compared_edges} edges");
});

backend_test!(r2_6_families_and_classes_follow_the_closure, |suite| {
    let token = suite.admin_token();
    let get = |name: &'static str| {
        let mut client = suite.role(Some(&token));
        async move { client.get_role(role_pb::GetRoleRequest { role: name.to_owned() }).await }
    };
    let agent = get(roles::AGENT).await.unwrap().into_inner().role.unwrap();
    assert_eq!(agent.family, role_pb::RoleFamily::Agent as i32);
    // X1 off: the B2B agent does not reach the B2C agent role.
    assert!(!agent.closure.contains(&roles::CONSUMER_AGENT.to_owned()));
    let customer = get(roles::CUSTOMER).await.unwrap().into_inner().role.unwrap();
    assert_eq!(customer.family, role_pb::RoleFamily::Requester as i32);
    assert_eq!(customer.explicit_class, role_pb::PrincipalClass::External as i32);
    let unified = get(roles::UNIFIED_CONSUMER).await.unwrap().into_inner().role.unwrap();
    assert_eq!(unified.family, role_pb::RoleFamily::Neutral as i32);
    assert_eq!(unified.explicit_class, role_pb::PrincipalClass::None as i32);
    // X11: the alias names the same role.
    let proxy = get(roles::CSM_PROXY_CONT).await.unwrap().into_inner().role.unwrap();
    assert_eq!(proxy.role_name, roles::PROXY_CONTACT);
    assert_eq!(proxy.aliases, vec![roles::CSM_PROXY_CONT.to_owned()]);
    let missing = get("no_such_role").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(reason_of(&missing), "ROLE_NOT_FOUND");

    // Filters: agent-family roles only.
    let agents = suite
        .role(Some(&token))
        .list_roles(role_pb::ListRolesRequest {
            family: role_pb::RoleFamily::Agent as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .roles;
    let names: BTreeSet<String> = agents.iter().map(|role| role.role_name.clone()).collect();
    assert!(names.contains(roles::MANAGER));
    assert!(names.contains(roles::ESM_AGENT));
    assert!(!names.contains(roles::CUSTOMER));
    let bad = suite
        .role(Some(&token))
        .list_roles(role_pb::ListRolesRequest { page_token: "forged".to_owned(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
});
