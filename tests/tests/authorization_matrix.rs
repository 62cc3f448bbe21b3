//! The authorization matrix (shared/auth/authorization.csv, docs/authorization.md)
//! against the running suite: every RPC of the descriptor set has exactly one
//! row, and every RPC, called by every kind of caller, is let through or
//! refused exactly as its row says — on SQLite and on PostgreSQL.
//!
//! The gate's refusals carry their own reasons (MISSING_CREDENTIALS,
//! CALLER_KIND_NOT_ALLOWED, SERVICE_NOT_ALLOWED); a call let through reaches
//! the handler, which may still refuse it for its scope (MISSING_ROLE …) or
//! its (here empty) input — never with a gate reason.

use csm_types::roles;
use std::collections::{BTreeMap, BTreeSet};

use csm_auth::{CallerKind, CallerKinds, Matrix};
use csm_proto::identity as id_pb;
use csm_tests::raw::{self, Method};
use csm_tests::{Suite, TestChannel, backend_test, reason_of, world};
use csm_types::ServiceName;
use tonic::Code;

/// The server that serves `service` (the audit service: every one of them).
fn servers_of(service: &str) -> Vec<ServiceName> {
    match service {
        "csm.identity.v1.IdentityService" => vec![ServiceName::Identity],
        "csm.role.v1.RoleService" => vec![ServiceName::Role],
        "csm.account_team.v1.AccountTeamService" => vec![ServiceName::AccountTeam],
        "csm.case_access.v1.CaseAccessService" => vec![ServiceName::CaseAccess],
        "csm.licensing.v1.LicensingService" => vec![ServiceName::Licensing],
        "csm.audit.v1.AuditService" => ServiceName::ALL.to_vec(),
        other => panic!("no server serves {other}"),
    }
}

#[test]
fn every_rpc_of_the_descriptor_set_has_exactly_one_row() {
    let matrix = Matrix::suite();
    let described: BTreeSet<String> = raw::methods().values().flatten().map(Method::path).collect();
    let rows: BTreeSet<String> = matrix.rules().iter().map(|rule| rule.method.clone()).collect();
    let missing: Vec<&String> = described.difference(&rows).collect();
    let stale: Vec<&String> = rows.difference(&described).collect();
    assert!(missing.is_empty(), "RPCs without a row in shared/auth/authorization.csv: {missing:?}");
    assert!(stale.is_empty(), "rows for RPCs that do not exist: {stale:?}");
    assert!(described.len() > 200, "{} RPCs", described.len());
}

/// One caller per kind, as the matrix defines the kinds.
struct Callers {
    /// (kind, every kind the caller has, token)
    people: Vec<(CallerKind, CallerKinds, String)>,
}

async fn callers(suite: &Suite) -> Callers {
    let customer_account = world::account(suite, "Matrix Customer", None).await;
    let partner_account = world::account_of_kind(suite, "Matrix Partner", None, id_pb::AccountKind::Partner).await;
    let (_, agent) = world::nobody(suite).await;
    let (_, manager) = world::employee(suite, "Manny", &[roles::MANAGER]).await;
    let (_, customer) = world::contact(suite, &customer_account, "Cus", &[roles::CUSTOMER]).await;
    let (_, customer_admin) = world::contact(suite, &customer_account, "Cadmin", &[roles::CUSTOMER_ADMIN]).await;
    let (_, partner) = world::contact(suite, &partner_account, "Pat", &[roles::PARTNER]).await;
    let (_, partner_admin) = world::contact(suite, &partner_account, "Padmin", &[roles::PARTNER_ADMIN]).await;
    let (_, _, consumer) = world::consumer_user(suite, "Connie", &[roles::CONSUMER]).await;
    let kinds = |base: CallerKind, extra: Option<CallerKind>| {
        let kinds = CallerKinds::of(base);
        extra.map_or(kinds, |extra| kinds.with(extra))
    };
    Callers {
        people: vec![
            (CallerKind::Agent, kinds(CallerKind::Agent, None), agent),
            (CallerKind::Manager, kinds(CallerKind::Agent, Some(CallerKind::Manager)), manager),
            (CallerKind::Admin, kinds(CallerKind::Agent, Some(CallerKind::Admin)), suite.admin_token()),
            (CallerKind::Customer, kinds(CallerKind::Customer, None), customer),
            (CallerKind::CustomerAdmin, kinds(CallerKind::Customer, Some(CallerKind::CustomerAdmin)), customer_admin),
            (CallerKind::Partner, kinds(CallerKind::Partner, None), partner),
            (CallerKind::PartnerAdmin, kinds(CallerKind::Partner, Some(CallerKind::PartnerAdmin)), partner_admin),
            (CallerKind::Consumer, kinds(CallerKind::Consumer, None), consumer),
        ],
    }
}

/// The reasons only the gate gives.
const GATE_REASONS: [&str; 4] =
    ["MISSING_CREDENTIALS", "CALLER_KIND_NOT_ALLOWED", "SERVICE_NOT_ALLOWED", "RPC_NOT_IN_MATRIX"];

fn refused_by_gate(status: &tonic::Status) -> bool {
    GATE_REASONS.contains(&reason_of(status).as_str())
}

backend_test!(every_rpc_answers_each_kind_of_caller_as_the_matrix_says, |suite| {
    let matrix = Matrix::suite();
    let callers = callers(suite).await;
    let mut mismatches = Vec::new();
    // Per kind: (let through, refused by the gate).
    let mut tally: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut calls = 0usize;
    for methods in raw::methods().values() {
        for method in methods {
            let path = method.path();
            let rule = matrix.rule(&path).unwrap_or_else(|| panic!("{path} has no row"));
            for server in servers_of(&method.service) {
                let channel = |token: Option<&str>| -> TestChannel { suite.channel(server, token) };
                let mut check = |kind: &'static str, allowed: bool, status: tonic::Status| {
                    calls += 1;
                    let refused = refused_by_gate(&status);
                    let entry = tally.entry(kind).or_default();
                    if refused {
                        entry.1 += 1
                    } else {
                        entry.0 += 1
                    }
                    if allowed == refused {
                        mismatches.push(format!(
                            "{path} on {server} as {kind}: matrix says {}, got {:?} {}",
                            if allowed { "allowed" } else { "refused" },
                            status.code(),
                            reason_of(&status)
                        ));
                    }
                    if !allowed && kind == "anonymous" && status.code() != Code::Unauthenticated {
                        mismatches.push(format!("{path} as anonymous: {:?}, not UNAUTHENTICATED", status.code()));
                    }
                    if !allowed && kind != "anonymous" && status.code() != Code::PermissionDenied {
                        mismatches.push(format!("{path} as {kind}: {:?}, not PERMISSION_DENIED", status.code()));
                    }
                };
                let status = raw::call(channel(None), method, Vec::new()).await;
                check("anonymous", rule.kinds.contains(CallerKind::Anonymous), status);
                for service in ServiceName::ALL {
                    let token = suite.service_token(service);
                    let status = raw::call(channel(Some(&token)), method, Vec::new()).await;
                    check(service.as_str(), rule.allows_service(service), status);
                }
                for (kind, kinds, token) in &callers.people {
                    let status = raw::call(channel(Some(token)), method, Vec::new()).await;
                    check(kind.as_str(), rule.allows_person(*kinds), status);
                }
            }
        }
    }
    eprintln!("authorization matrix: {calls} calls; per caller kind (let through / refused by the gate):");
    for (kind, (through, refused)) in &tally {
        eprintln!("  {kind:<15} {through:>4} / {refused:>4}");
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
});
