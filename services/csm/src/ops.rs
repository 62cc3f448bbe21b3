//! The operator client: `csm check` (a decision, or its full explanation)
//! and `csm audit` (a service's audit trail), against a running suite —
//! `csm dev` by default, with the keys of its data directory. The access
//! review commands are in [`crate::review`].

use std::time::Duration;

use csm_proto::audit as audit_pb;
use csm_proto::audit::audit_service_client::AuditServiceClient;
use csm_proto::case_access as pb;
use csm_proto::case_access::case_access_service_client::CaseAccessServiceClient;
use csm_types::ServiceName;

use crate::load::{Target, authed, dev_url};

/// Where the suite is.
#[derive(Debug, Clone, clap::Args)]
pub struct SuiteArgs {
    /// Identity's `host:port`; the other services listen on the next ports (as `csm dev`).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub target: String,
    /// The data directory of `csm dev` (token keys and the administrator).
    #[arg(long, default_value = "data", env = "CSM_DATA_DIR")]
    pub data_dir: std::path::PathBuf,
}

/// `csm check`: may a profile do an action on a case, and why.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// The profile asking (a token acting as it is minted); default: the administrator.
    #[arg(long = "as")]
    pub profile: Option<String>,
    /// The case.
    #[arg(long)]
    pub case: String,
    /// READ, WRITE_FULL, WRITE_CUSTOMER or WRITE_LIMITED.
    #[arg(long, default_value = "READ")]
    pub action: String,
    /// Print every rule considered (Explain) instead of the decision only.
    #[arg(long)]
    pub explain: bool,
}

/// `csm audit`: one service's audit trail, oldest first.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// identity, role, account-team, case-access or licensing.
    #[arg(long, default_value = "case-access")]
    pub service: String,
    /// How far back: e.g. 90s, 15m, 2h, 1d.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Only events of this login id, `service:<name>` or profile id.
    #[arg(long, default_value = "")]
    pub principal: String,
    /// mutation, denied-call or denied-check (default: all).
    #[arg(long)]
    pub kind: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

pub async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let target = Target::from_dev(&args.suite.data_dir, &args.suite.target)?;
    let token = match &args.profile {
        Some(profile) => target.token_for(profile)?,
        None => target.admin_token(),
    };
    let action = pb::Action::from_str_name(&format!("ACTION_{}", args.action.to_ascii_uppercase()))
        .ok_or_else(|| anyhow::anyhow!("--action: unknown action {:?}", args.action))?;
    let case = pb::Target { resource: Some(pb::target::Resource::CaseId(args.case.clone())) };
    let mut client = CaseAccessServiceClient::new(Target::channel(&target.case_access)?);
    if args.explain {
        let request = pb::ExplainRequest { target: Some(case), action: action as i32, ..Default::default() };
        let explained = client.explain(authed(request, &token)).await?.into_inner();
        if let Some(decision) = &explained.decision {
            print_decision(decision);
        }
        for rule in &explained.rules {
            let outcome = pb::RuleOutcome::try_from(rule.outcome).map(|o| o.as_str_name()).unwrap_or("?");
            println!("  {:<28} {:<24} {}", rule.rule, outcome.trim_start_matches("RULE_OUTCOME_"), rule.summary);
            for condition in &rule.conditions {
                let mark = if condition.satisfied { "+" } else { "-" };
                println!("      {mark} {}   {}", condition.description, condition.detail);
            }
        }
        if let Some(closest) = &explained.closest_rule {
            println!("closest grant: {}", closest.rule);
        }
    } else {
        let request = pb::CheckRequest { target: Some(case), action: action as i32, ..Default::default() };
        let decision = client.check(authed(request, &token)).await?.into_inner().decision.unwrap_or_default();
        print_decision(&decision);
    }
    Ok(())
}

fn print_decision(decision: &pb::Decision) {
    let path: Vec<String> = decision.path.iter().map(|step| step.label.clone()).collect();
    println!(
        "{} {} by {}{}  (token {})",
        if decision.allowed { "ALLOW" } else { "DENY" },
        pb::Action::try_from(decision.action).map(|a| a.as_str_name()).unwrap_or("?").trim_start_matches("ACTION_"),
        decision.rule,
        if path.is_empty() { String::new() } else { format!(" via {}", path.join(" → ")) },
        decision.consistency_token
    );
}

/// `90s`, `15m`, `2h`, `1d`.
fn parse_since(value: &str) -> anyhow::Result<Duration> {
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().map_err(|_| anyhow::anyhow!("--since: {value:?} is not like 15m"))?;
    let seconds = match unit {
        "s" => 1,
        "m" | "" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("--since: unit must be s, m, h or d, got {unit:?}"),
    };
    Ok(Duration::from_secs(number * seconds))
}

pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let target = Target::from_dev(&args.suite.data_dir, &args.suite.target)?;
    let service: ServiceName = args.service.parse().map_err(|error| anyhow::anyhow!("--service: {error}"))?;
    let kind = match args.kind.as_deref() {
        None => audit_pb::AuditEventKind::Unspecified,
        Some("mutation") => audit_pb::AuditEventKind::Mutation,
        Some("denied-call") => audit_pb::AuditEventKind::DeniedCall,
        Some("denied-check") => audit_pb::AuditEventKind::DeniedCheck,
        Some(other) => anyhow::bail!("--kind: mutation, denied-call or denied-check, got {other:?}"),
    };
    let since = chrono::Utc::now() - parse_since(&args.since)?;
    let mut client = AuditServiceClient::new(Target::channel(&dev_url(&args.suite.target, service)?)?);
    let token = target.admin_token();
    let mut page_token = String::new();
    let mut printed = 0;
    println!("occurred_at\tkind\tactor\tprincipal\toperation\tentity\tdecision\trule\ttrace_id");
    while printed < args.limit {
        let request = audit_pb::ListAuditEventsRequest {
            start_time: Some(csm_proto::timestamp(since)),
            principal: args.principal.clone(),
            kind: kind as i32,
            page_size: i32::try_from((args.limit - printed).min(1000)).unwrap_or(1000),
            page_token,
            ..Default::default()
        };
        let page = client.list_audit_events(authed(request, &token)).await?.into_inner();
        for event in &page.events {
            let at =
                event.occurred_at.as_ref().and_then(|at| chrono::DateTime::from_timestamp(at.seconds, at.nanos as u32));
            let kind = audit_pb::AuditEventKind::try_from(event.kind).map(|k| k.as_str_name()).unwrap_or("?");
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}:{}\t{}\t{}\t{}",
                at.map(|at| at.to_rfc3339()).unwrap_or_default(),
                kind.trim_start_matches("AUDIT_EVENT_KIND_").to_ascii_lowercase(),
                if event.actor_id.is_empty() { "-" } else { &event.actor_id },
                if event.principal_id.is_empty() { "-" } else { &event.principal_id },
                event.operation,
                event.entity_type,
                event.entity_id,
                event.decision,
                if event.rule.is_empty() { "-" } else { &event.rule },
                if event.trace_id.is_empty() { "-" } else { &event.trace_id },
            );
        }
        printed += page.events.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_since("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_since("h").is_err());
        assert!(parse_since("3w").is_err());
    }

    #[test]
    fn services_follow_identity_on_the_next_ports() {
        assert_eq!(dev_url("127.0.0.1:50051", ServiceName::Identity).unwrap(), "http://127.0.0.1:50051");
        assert_eq!(dev_url("127.0.0.1:23051", ServiceName::CaseAccess).unwrap(), "http://127.0.0.1:23054");
        assert_eq!(dev_url("127.0.0.1:50051", ServiceName::Licensing).unwrap(), "http://127.0.0.1:50055");
        assert_eq!(dev_url("localhost", ServiceName::Role).unwrap(), "http://localhost:50052");
        assert!(dev_url("127.0.0.1:x", ServiceName::Role).is_err());
    }
}
