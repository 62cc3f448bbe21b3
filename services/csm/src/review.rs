//! The access review commands (issue 13): `csm access-review` (who can act
//! on which cases, and why) and `csm access-preview` (which cases a profile
//! would gain or lose under a change an administrator is about to approve),
//! against a running suite with the administrator's token.

use csm_proto::case_access as pb;
use csm_proto::case_access::case_access_service_client::CaseAccessServiceClient;

use crate::load::{Target, authed};
use crate::ops::SuiteArgs;

/// `csm access-review`: who can act on which cases, and why, as CSV or NDJSON
/// on stdout, progress on stderr. READ over an account or the whole suite is
/// one server-side stream (case-access ExportAccessReview); one case, or
/// other actions, ask ListCaseAccessors case by case.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessReviewArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// One case (default: every case the administrator sees, or those of --account).
    #[arg(long)]
    pub case: Option<String>,
    /// Only the cases of this account.
    #[arg(long)]
    pub account: Option<String>,
    /// READ, WRITE_FULL, WRITE_CUSTOMER, WRITE_LIMITED or DELETE; repeat for several.
    #[arg(long = "action", default_value = "READ")]
    pub actions: Vec<String>,
    /// csv or ndjson.
    #[arg(long, default_value = "csv")]
    pub format: String,
}

/// One row of an access review.
#[derive(Debug, serde::Serialize)]
struct ReviewRow<'a> {
    case_id: &'a str,
    action: &'a str,
    profile_id: &'a str,
    profile_kind: &'a str,
    account_id: &'a str,
    rule: &'a str,
    path: String,
    requires_license: bool,
}

/// A CSV field: quoted when it holds a comma, quote or line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// `--format`: true for csv, false for ndjson.
fn csv_format(format: &str) -> anyhow::Result<bool> {
    match format {
        "csv" => Ok(true),
        "ndjson" => Ok(false),
        other => anyhow::bail!("--format: csv or ndjson, got {other:?}"),
    }
}

/// Prints one row: `fields` as a CSV line, or `row` as a JSON line.
fn print_line(csv: bool, fields: &[&str], row: &impl serde::Serialize) -> anyhow::Result<()> {
    if csv {
        println!("{}", fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(","));
    } else {
        println!("{}", serde_json::to_string(row)?);
    }
    Ok(())
}

/// A decision's path as one line.
fn path_text(decision: &pb::Decision) -> String {
    decision.path.iter().map(|step| step.label.as_str()).collect::<Vec<_>>().join(" → ")
}

/// Prints one review row in the chosen format.
fn print_row(csv: bool, row: &ReviewRow<'_>) -> anyhow::Result<()> {
    let license = row.requires_license.to_string();
    let fields =
        [row.case_id, row.action, row.profile_id, row.profile_kind, row.account_id, row.rule, &row.path, &license];
    print_line(csv, &fields, row)
}

/// The review row of one allowed decision.
fn review_row<'a>(
    case_id: &'a str,
    action: &'a str,
    principal: &'a pb::PrincipalSummary,
    decision: &'a pb::Decision,
) -> ReviewRow<'a> {
    ReviewRow {
        case_id,
        action,
        profile_id: &principal.profile_id,
        profile_kind: &principal.profile_kind,
        account_id: &principal.account_id,
        rule: &decision.rule,
        path: path_text(decision),
        requires_license: decision.requires_license,
    }
}

/// READ over an account or the suite: case-access streams every row.
async fn export_review(
    client: &mut CaseAccessServiceClient<tonic::transport::Channel>,
    token: &str,
    account: Option<String>,
    csv: bool,
) -> anyhow::Result<()> {
    let request = pb::ExportAccessReviewRequest { account_id: account.unwrap_or_default() };
    let mut stream = client.export_access_review(authed(request, token)).await?.into_inner();
    let started = std::time::Instant::now();
    let mut reported = started;
    let (mut profiles, mut rows) = (0, 0);
    while let Some(message) = stream.message().await? {
        match message.item {
            Some(pb::export_access_review_response::Item::Row(row)) => {
                let (principal, decision) = (row.principal.unwrap_or_default(), row.decision.unwrap_or_default());
                print_row(csv, &review_row(&row.case_id, "READ", &principal, &decision))?;
            }
            Some(pb::export_access_review_response::Item::Progress(progress)) => {
                (profiles, rows) = (progress.profiles_done, progress.rows);
                if reported.elapsed() >= std::time::Duration::from_secs(1) {
                    reported = std::time::Instant::now();
                    eprintln!(
                        "access review: {profiles} profiles, {rows} rows, {:.1}s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            None => {}
        }
    }
    eprintln!("access review: {profiles} profiles, {rows} rows, {:.1}s (done)", started.elapsed().as_secs_f64());
    Ok(())
}

pub async fn access_review(args: AccessReviewArgs) -> anyhow::Result<()> {
    let csv = csv_format(&args.format)?;
    let mut actions = Vec::new();
    for action in &args.actions {
        let name = action.to_ascii_uppercase();
        let parsed = pb::Action::from_str_name(&format!("ACTION_{name}"))
            .ok_or_else(|| anyhow::anyhow!("--action: unknown action {action:?}"))?;
        actions.push((parsed, name));
    }
    let target = Target::from_dev(&args.suite.data_dir, &args.suite.target)?;
    let token = target.admin_token();
    let mut client = CaseAccessServiceClient::new(Target::channel(&target.case_access)?);
    if csv {
        println!("case_id,action,profile_id,profile_kind,account_id,rule,path,requires_license");
    }
    if args.case.is_none() && actions.iter().all(|(action, _)| *action == pb::Action::Read) {
        return export_review(&mut client, &token, args.account.clone(), csv).await;
    }
    let cases = match &args.case {
        Some(case) => vec![case.clone()],
        None => {
            let mut cases = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = pb::ListVisibleCasesRequest {
                    account_id: args.account.clone().unwrap_or_default(),
                    page_size: 1000,
                    page_token,
                    ..Default::default()
                };
                let page = client.list_visible_cases(authed(request, &token)).await?.into_inner();
                cases.extend(page.cases.into_iter().filter_map(|case| case.support_case.map(|case| case.case_id)));
                if page.next_page_token.is_empty() {
                    break cases;
                }
                page_token = page.next_page_token;
            }
        }
    };
    let started = std::time::Instant::now();
    let mut rows = 0usize;
    for (index, case) in cases.iter().enumerate() {
        for (action, action_name) in &actions {
            let mut page_token = String::new();
            loop {
                let request = pb::ListCaseAccessorsRequest {
                    case_id: case.clone(),
                    action: *action as i32,
                    page_size: 1000,
                    page_token,
                    consistency: None,
                };
                let page = client.list_case_accessors(authed(request, &token)).await?.into_inner();
                for accessor in &page.accessors {
                    let (principal, decision) =
                        (accessor.principal.clone().unwrap_or_default(), accessor.decision.clone().unwrap_or_default());
                    print_row(csv, &review_row(case, action_name, &principal, &decision))?;
                    rows += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        if (index + 1) % 10 == 0 || index + 1 == cases.len() {
            eprintln!(
                "access review: {}/{} cases, {rows} rows, {:.1}s",
                index + 1,
                cases.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// `csm access-preview`: which cases a profile would gain or lose READ on
/// under a change that is not written (case-access PreviewAccessChange).
#[derive(Debug, Clone, clap::Args)]
pub struct AccessPreviewArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// The profile whose access would change.
    #[arg(long)]
    pub profile: String,
    /// A role to assign directly (repeatable).
    #[arg(long = "assign-role")]
    pub assign_roles: Vec<String>,
    /// A directly assigned role to revoke (repeatable).
    #[arg(long = "revoke-role")]
    pub revoke_roles: Vec<String>,
    /// A group to join (repeatable).
    #[arg(long = "join-group")]
    pub join_groups: Vec<String>,
    /// A group to leave (repeatable).
    #[arg(long = "leave-group")]
    pub leave_groups: Vec<String>,
    /// An account a contact relationship would relate the profile to (repeatable).
    #[arg(long = "add-contact-relationship")]
    pub add_contact_relationships: Vec<String>,
    /// An account whose contact relationship would be removed (repeatable).
    #[arg(long = "remove-contact-relationship")]
    pub remove_contact_relationships: Vec<String>,
    /// A related party to remove from its case (repeatable).
    #[arg(long = "remove-related-party")]
    pub remove_related_parties: Vec<String>,
    /// csv or ndjson.
    #[arg(long, default_value = "csv")]
    pub format: String,
}

/// One case whose READ the change would flip.
#[derive(Debug, serde::Serialize)]
struct PreviewRow<'a> {
    case_id: &'a str,
    change: &'a str,
    rule_before: &'a str,
    rule_after: &'a str,
    path: String,
}

pub async fn access_preview(args: AccessPreviewArgs) -> anyhow::Result<()> {
    let csv = csv_format(&args.format)?;
    let target = Target::from_dev(&args.suite.data_dir, &args.suite.target)?;
    let token = target.admin_token();
    let mut client = CaseAccessServiceClient::new(Target::channel(&target.case_access)?);
    let change = pb::ProposedAccessChange {
        assign_roles: args.assign_roles,
        revoke_roles: args.revoke_roles,
        join_group_ids: args.join_groups,
        leave_group_ids: args.leave_groups,
        add_contact_relationship_account_ids: args.add_contact_relationships,
        remove_contact_relationship_account_ids: args.remove_contact_relationships,
        add_related_parties: Vec::new(),
        remove_related_party_ids: args.remove_related_parties,
    };
    if csv {
        println!("case_id,change,rule_before,rule_after,path");
    }
    let (mut gained, mut lost) = (0, 0);
    let mut page_token = String::new();
    loop {
        let request = pb::PreviewAccessChangeRequest {
            profile_id: args.profile.clone(),
            change: Some(change.clone()),
            page_size: 1000,
            page_token,
        };
        let page = client.preview_access_change(authed(request, &token)).await?.into_inner();
        for role in &page.roles_gained {
            eprintln!("role gained: {role}");
        }
        for role in &page.roles_lost {
            eprintln!("role lost: {role}");
        }
        for row in &page.changes {
            let (before, after) = (row.before.clone().unwrap_or_default(), row.after.clone().unwrap_or_default());
            if row.gained {
                gained += 1;
            } else {
                lost += 1;
            }
            let row = PreviewRow {
                case_id: &row.case_id,
                change: if row.gained { "GAINED" } else { "LOST" },
                rule_before: &before.rule,
                rule_after: &after.rule,
                path: path_text(if row.gained { &after } else { &before }),
            };
            print_line(csv, &[row.case_id, row.change, row.rule_before, row.rule_after, &row.path], &row)?;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    eprintln!("access preview: {gained} cases gained, {lost} lost (nothing written)");
    Ok(())
}
