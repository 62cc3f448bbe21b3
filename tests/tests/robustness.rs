//! Every RPC of the descriptor set, sent bad requests: random bytes, an empty
//! body, and each top-level field alone set to a bad value (100 KiB, a NUL, a
//! non-UUID, a negative number, an unknown enum value, an empty message).
//! Whatever the RPC: never INTERNAL or UNKNOWN, a BadRequest on every
//! INVALID_ARGUMENT, small error details, nothing written when refused, and
//! the servers still serving — on SQLite and on PostgreSQL.

use std::collections::BTreeMap;

use csm_auth::{CallerKind, CallerKinds, Matrix};
use csm_tests::backend_test;
use csm_tests::raw::{self, FieldKind};
use csm_types::ServiceName;
use tonic::Code;
use tonic_types::StatusExt as _;

fn server_of(service: &str) -> ServiceName {
    match service {
        "csm.identity.v1.IdentityService" | "csm.audit.v1.AuditService" => ServiceName::Identity,
        "csm.role.v1.RoleService" => ServiceName::Role,
        "csm.account_team.v1.AccountTeamService" => ServiceName::AccountTeam,
        "csm.case_access.v1.CaseAccessService" => ServiceName::CaseAccess,
        "csm.licensing.v1.LicensingService" => ServiceName::Licensing,
        other => panic!("no server serves {other}"),
    }
}

/// A deterministic pseudo-random byte string (xorshift).
fn noise(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The bad requests for a method's fields.
fn bad_bodies(method: &raw::Method) -> Vec<(String, Vec<u8>)> {
    let mut bodies = vec![("empty".to_owned(), Vec::new())];
    for seed in 1..=3u64 {
        bodies
            .push((format!("random bytes #{seed}"), noise(seed * 7919 + method.name.len() as u64, 16 * seed as usize)));
    }
    let huge = "x".repeat(100 * 1024);
    for field in &method.fields {
        let name = &field.name;
        match field.kind {
            FieldKind::String => {
                if field.repeated {
                    // Past every batch limit.
                    let many: Vec<u8> =
                        (0..1001).flat_map(|_| field.encode_string(&uuid::Uuid::now_v7().to_string())).collect();
                    bodies.push((format!("{name}: 1001 items"), many));
                }
                bodies.push((format!("{name}: 100 KiB"), field.encode_string(&huge)));
                bodies.push((format!("{name}: NUL"), field.encode_string("bad\0value")));
                bodies.push((format!("{name}: not a UUID"), field.encode_string("not-a-uuid")));
            }
            FieldKind::Integer => {
                bodies.push((format!("{name}: negative"), field.encode_varint(-5i64 as u64)));
                bodies.push((format!("{name}: huge"), field.encode_varint(u64::MAX)));
            }
            FieldKind::Enum => {
                bodies.push((format!("{name}: unknown enum"), field.encode_varint(9999)));
                bodies.push((format!("{name}: negative enum"), field.encode_varint(-1i64 as u64)));
            }
            FieldKind::Message => {
                bodies.push((format!("{name}: empty message"), field.encode_empty_message()));
                // The nested messages clients get wrong most: masks and consistency tokens.
                let nested = match name.as_str() {
                    "update_mask" => Some(raw::Field::string(1).encode_string("no_such_field")),
                    "consistency" => Some(raw::Field::string(2).encode_string("not a token")),
                    _ => None,
                };
                if let Some(nested) = nested {
                    bodies.push((format!("{name}: wrong content"), field.encode_message(&nested)));
                }
            }
            FieldKind::Other => {}
        }
    }
    bodies
}

backend_test!(every_rpc_answers_bad_requests_precisely_and_writes_nothing, |suite| {
    let matrix = Matrix::suite();
    let admin = suite.admin_token();
    let admin_kinds = CallerKinds::of(CallerKind::Agent).with(CallerKind::Admin);
    let mut answers: BTreeMap<ServiceName, BTreeMap<String, usize>> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut sent = 0usize;
    for methods in raw::methods().values() {
        for method in methods {
            let path = method.path();
            let rule = matrix.rule(&path).unwrap_or_else(|| panic!("{path} has no row"));
            let server = server_of(&method.service);
            // The most permissive caller the matrix lets through: the administrator, else a service.
            let token = if rule.allows_person(admin_kinds) {
                admin.clone()
            } else if let Some(service) = rule.services.first() {
                suite.service_token(*service)
            } else {
                admin.clone()
            };
            let head_before = suite.feed_head(server).await;
            let mut any_success = false;
            for (label, body) in bad_bodies(method) {
                sent += 1;
                let status = raw::call(suite.channel(server, Some(&token)), method, body).await;
                *answers.entry(server).or_default().entry(format!("{:?}", status.code())).or_default() += 1;
                let what = format!("{path} with {label}");
                if std::env::var_os("CSM_ROBUSTNESS_VERBOSE").is_some() {
                    eprintln!("{what}: {:?} {}", status.code(), csm_tests::reason_of(&status));
                }
                match status.code() {
                    Code::Ok => any_success = true,
                    Code::Internal | Code::Unknown => {
                        problems.push(format!("{what}: {:?} {}", status.code(), status.message()))
                    }
                    Code::InvalidArgument => {
                        let details = status.get_error_details();
                        if details.bad_request().is_none_or(|bad| bad.field_violations.is_empty()) {
                            problems.push(format!("{what}: INVALID_ARGUMENT without BadRequest: {}", status.message()));
                        }
                    }
                    _ => {}
                }
                if status.details().len() > 2048 || status.message().len() > 1024 {
                    problems.push(format!(
                        "{what}: error of {} + {} bytes",
                        status.message().len(),
                        status.details().len()
                    ));
                }
            }
            // A refused request writes nothing (a lucky one may have been valid).
            if !any_success && !method.server_streaming {
                let head_after = suite.feed_head(server).await;
                if head_after != head_before {
                    problems.push(format!("{path}: refused, yet its feed moved {head_before} -> {head_after}"));
                }
            }
        }
    }
    // Still serving.
    for service in ServiceName::ALL {
        suite.wait_until_serving(service, std::time::Duration::from_secs(5)).await;
    }
    eprintln!("robustness: {sent} bad requests; answers per service:");
    for (service, codes) in &answers {
        let total: usize = codes.values().sum();
        eprintln!("  {:<13} {total:>5}  {codes:?}", service.as_str());
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
});
