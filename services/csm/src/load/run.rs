//! `csm load run`: Check throughput and latency at several concurrency
//! levels over a mix of principals, the principal-context and case cache hit rates
//! (from case-access's Prometheus endpoint when given), and full drains of
//! ListVisibleCases for a customer admin with about a thousand visible cases.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use csm_proto::case_access as pb;
use csm_proto::case_access::case_access_service_client::CaseAccessServiceClient;
use tonic::transport::Channel;

use super::manifest::Manifest;
use super::plan::{ContactRole, PlannedCase};
use super::{Rng, Samples, Target, authed};

/// Options of a load run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub metrics_url: Option<String>,
    pub list_runs: usize,
    pub list_page_sizes: Vec<i32>,
    pub list_visible: usize,
    pub seed: u64,
    /// Only the first `hot` principals of each kind ask (a cache-friendly hot set); None = all.
    pub hot: Option<usize>,
    pub quiet: bool,
}

/// One concurrency level.
#[derive(Debug, Clone)]
pub struct LevelReport {
    pub concurrency: usize,
    pub requests: usize,
    pub allowed: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// principal_context hits / (hits + misses) during the level, when scraped.
    pub cache_hit_rate: Option<f64>,
    /// The same for the case cache (`cache="case"`), when scraped.
    pub case_cache_hit_rate: Option<f64>,
}

impl LevelReport {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(0.001)
    }
}

/// ListVisibleCases drains at one page size.
#[derive(Debug, Clone)]
pub struct ListReport {
    pub page_size: i32,
    pub runs: usize,
    pub visible: usize,
    pub pages: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub cases: usize,
    pub principals: usize,
    pub levels: Vec<LevelReport>,
    /// The customer admin drained and the cases its hierarchy holds (manifest).
    pub list_admin: Option<(String, usize)>,
    pub lists: Vec<ListReport>,
    /// Why the cache hit rate is n/a, when it is.
    pub cache_note: Option<String>,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Check over {} cases, {} principals (READ 70% / WRITE_CUSTOMER 30%)", self.cases, self.principals)?;
        writeln!(f)?;
        writeln!(
            f,
            "| concurrency | requests | throughput (checks/s) | p50 ms | p90 ms | p99 ms | allowed | errors | context cache hit rate | case cache hit rate |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        let rate = |rate: Option<f64>| rate.map(|rate| format!("{:.1}%", rate * 100.0)).unwrap_or_else(|| "n/a".into());
        for level in &self.levels {
            let (hit, case_hit) = (rate(level.cache_hit_rate), rate(level.case_cache_hit_rate));
            writeln!(
                f,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0}% | {} | {hit} | {case_hit} |",
                level.concurrency,
                level.requests,
                level.throughput(),
                level.p50_ms,
                level.p90_ms,
                level.p99_ms,
                100.0 * level.allowed as f64 / level.requests.max(1) as f64,
                level.errors,
            )?;
        }
        if let Some(note) = &self.cache_note {
            writeln!(f, "\ncache hit rate: n/a ({note})")?;
        }
        for level in &self.levels {
            if let Some(error) = &level.first_error {
                writeln!(f, "first error at concurrency {}: {error}", level.concurrency)?;
            }
        }
        writeln!(f)?;
        match &self.list_admin {
            Some((profile, expected)) => writeln!(
                f,
                "ListVisibleCases full drain, customer admin {profile} (hierarchy holds {expected} cases):"
            )?,
            None => writeln!(f, "ListVisibleCases: no customer admin in the manifest")?,
        }
        if !self.lists.is_empty() {
            writeln!(f)?;
            writeln!(f, "| page size | runs | cases seen | pages | p50 ms | p99 ms | errors |")?;
            writeln!(f, "|---:|---:|---:|---:|---:|---:|---:|")?;
            for list in &self.lists {
                writeln!(
                    f,
                    "| {} | {} | {} | {} | {:.1} | {:.1} | {} |",
                    list.page_size, list.runs, list.visible, list.pages, list.p50_ms, list.p99_ms, list.errors
                )?;
            }
        }
        Ok(())
    }
}

/// A principal that asks, with the cases it is most likely to ask about.
struct Principal {
    token: String,
    /// Indexes into the case list ("its" cases; empty = any case).
    own: Arc<Vec<u32>>,
}

/// Who asks: customers 35%, customer admins 20%, partners 20%, agents 25%.
struct Mix {
    groups: Vec<(u32, Vec<Principal>)>,
    case_ids: Vec<String>,
}

impl Mix {
    fn build(
        target: &Target,
        manifest: &Manifest,
        hot: Option<usize>,
    ) -> anyhow::Result<(Mix, Option<(String, usize)>)> {
        let plan = &manifest.plan;
        let mut cases_of_account: Vec<Vec<u32>> = vec![Vec::new(); plan.accounts.len()];
        let mut cases_of_partner: Vec<Vec<u32>> = vec![Vec::new(); plan.accounts.len()];
        // Customers and partner contacts see the cases they opened (T4.1): who
        // opened case i is a pure function of the plan, so it is recomputed here.
        let mut cases_of_contact: Vec<Vec<u32>> = vec![Vec::new(); plan.contacts.len()];
        let lookup = plan.lookup();
        let mut case_ids = Vec::with_capacity(manifest.cases.len());
        for (position, case) in manifest.cases.iter().enumerate() {
            if case.id.is_empty() {
                continue;
            }
            let index = case_ids.len() as u32;
            case_ids.push(case.id.clone());
            if let Some(PlannedCase::Customer { contact, .. } | PlannedCase::Partner { contact, .. }) =
                plan.case(position, &lookup)
            {
                cases_of_contact[contact].push(index);
            }
            if let Some(account) = case.account {
                cases_of_account[account].push(index);
            }
            if let Some(partner) = case.partner {
                cases_of_partner[partner].push(index);
            }
        }
        anyhow::ensure!(!case_ids.is_empty(), "the manifest holds no cases (run `csm load seed`)");
        let subtree_cases = |account: usize| -> Vec<u32> {
            plan.subtree(account).into_iter().flat_map(|a| cases_of_account[a].iter().copied()).collect()
        };
        let mut customers = Vec::new();
        let mut admins = Vec::new();
        let mut partners = Vec::new();
        let mut list_admin: Option<(String, usize)> = None;
        let mut own_cache: std::collections::HashMap<(u8, usize), Arc<Vec<u32>>> = Default::default();
        for (index, contact) in plan.contacts.iter().enumerate() {
            let profile = &manifest.contact_ids[index];
            if profile.is_empty() {
                continue;
            }
            let token = target.token_for(profile)?;
            let account = contact.account;
            match contact.role {
                ContactRole::Customer => {
                    customers.push(Principal { token, own: Arc::new(std::mem::take(&mut cases_of_contact[index])) });
                }
                ContactRole::CustomerAdmin => {
                    let own = own_cache.entry((1, account)).or_insert_with(|| Arc::new(subtree_cases(account))).clone();
                    let distance = |count: usize| count.abs_diff(1000);
                    if list_admin.as_ref().is_none_or(|(_, count)| distance(own.len()) < distance(*count)) {
                        list_admin = Some((profile.clone(), own.len()));
                    }
                    admins.push(Principal { token, own });
                }
                ContactRole::Partner => {
                    partners.push(Principal { token, own: Arc::new(std::mem::take(&mut cases_of_contact[index])) });
                }
                ContactRole::PartnerAdmin => {
                    let own = own_cache
                        .entry((2, account))
                        .or_insert_with(|| Arc::new(cases_of_partner[account].clone()))
                        .clone();
                    partners.push(Principal { token, own });
                }
            }
        }
        let any = Arc::new(Vec::new());
        let agents = manifest
            .agent_ids
            .iter()
            .filter(|id| !id.is_empty())
            .map(|id| Ok(Principal { token: target.token_for(id)?, own: any.clone() }))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let groups = [(35, customers), (20, admins), (20, partners), (25, agents)]
            .into_iter()
            .map(|(weight, mut group)| {
                group.truncate(hot.unwrap_or(usize::MAX));
                (weight, group)
            })
            .filter(|(_, group)| !group.is_empty())
            .collect();
        Ok((Mix { groups, case_ids }, list_admin))
    }

    fn principals(&self) -> usize {
        self.groups.iter().map(|(_, group)| group.len()).sum()
    }

    /// (token, case id, action) of one Check.
    fn next(&self, rng: &mut Rng) -> (&str, &str, pb::Action) {
        let total: u32 = self.groups.iter().map(|(weight, _)| weight).sum();
        let mut roll = rng.below(total as usize) as u32;
        let mut group = &self.groups[0].1;
        for (weight, principals) in &self.groups {
            if roll < *weight {
                group = principals;
                break;
            }
            roll -= weight;
        }
        let principal = rng.pick(group).expect("groups are not empty");
        // 70% one of "its" cases (allowed mostly), 30% any case (denied mostly).
        let case = match rng.pick(&principal.own) {
            Some(&index) if rng.chance(0.7) => index as usize,
            _ => rng.below(self.case_ids.len()),
        };
        let action = if rng.chance(0.7) { pb::Action::Read } else { pb::Action::WriteCustomer };
        (&principal.token, &self.case_ids[case], action)
    }
}

/// Drives the levels, then the list drains.
pub async fn run(target: &Target, manifest: &Manifest, options: &RunOptions) -> anyhow::Result<RunReport> {
    target.resolve_logins(manifest.contact_ids.iter().chain(&manifest.agent_ids)).await?;
    let (mix, list_admin) = Mix::build(target, manifest, options.hot)?;
    let mix = Arc::new(mix);
    // A few connections, so high concurrency is not one HTTP/2 connection's window.
    let channels: Vec<Channel> = (0..4).map(|_| Target::channel(&target.case_access)).collect::<anyhow::Result<_>>()?;
    if !options.warmup.is_zero() {
        let _ = level(&mix, &channels, 8, options.warmup, options.seed ^ 0xface).await;
    }
    let mut levels = Vec::new();
    let mut cache_note = None;
    for &concurrency in &options.concurrency {
        let before = scrape(options.metrics_url.as_deref()).await;
        let mut report = level(&mix, &channels, concurrency, options.duration, options.seed).await;
        let after = scrape(options.metrics_url.as_deref()).await;
        match (before, after) {
            (Ok(before), Ok(after)) => {
                let rate = |cache: &str| {
                    let ((hits0, misses0), (hits1, misses1)) =
                        (parse_cache_counters(&before, cache)?, parse_cache_counters(&after, cache)?);
                    let (hits, misses) = (hits1 - hits0, misses1 - misses0);
                    (hits + misses > 0.0).then(|| hits / (hits + misses))
                };
                report.cache_hit_rate = rate("principal_context");
                report.case_cache_hit_rate = rate("case");
                if report.cache_hit_rate.is_none() {
                    cache_note = Some("no csm_cache_requests_total{cache=\"principal_context\"} series".into());
                }
            }
            (Err(note), _) | (_, Err(note)) => cache_note = Some(note),
        }
        if !options.quiet {
            println!(
                "[run] concurrency {:>4}: {:>8.0} checks/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
                concurrency,
                report.throughput(),
                report.p50_ms,
                report.p99_ms,
                report.errors
            );
        }
        levels.push(report);
    }

    let mut lists = Vec::new();
    if let Some((profile, _)) = &list_admin {
        let token = target.token_for(profile)?;
        let mut client = CaseAccessServiceClient::new(channels[0].clone());
        for &page_size in &options.list_page_sizes {
            let mut samples = Samples::default();
            let (mut visible, mut pages, mut errors) = (0, 0, 0);
            for _ in 0..options.list_runs.max(1) {
                let started = Instant::now();
                match drain(&mut client, &token, page_size).await {
                    Ok((count, page_count)) => {
                        samples.record(started.elapsed());
                        visible = count;
                        pages = page_count;
                    }
                    Err(_) => errors += 1,
                }
            }
            let report = ListReport {
                page_size,
                runs: samples.len(),
                visible,
                pages,
                p50_ms: samples.quantile_ms(0.5),
                p99_ms: samples.quantile_ms(0.99),
                errors,
            };
            if !options.quiet {
                println!(
                    "[run] ListVisibleCases page {page_size}: {visible} cases, p50 {:.1} ms p99 {:.1} ms",
                    report.p50_ms, report.p99_ms
                );
            }
            lists.push(report);
        }
    }
    Ok(RunReport { cases: mix.case_ids.len(), principals: mix.principals(), levels, list_admin, lists, cache_note })
}

async fn level(mix: &Arc<Mix>, channels: &[Channel], concurrency: usize, duration: Duration, seed: u64) -> LevelReport {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency.max(1) {
        let mix = mix.clone();
        let mut client = CaseAccessServiceClient::new(channels[worker % channels.len()].clone());
        let mut rng = Rng::derive(seed, concurrency as u64, worker as u64);
        workers.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let (mut allowed, mut errors, mut first_error) = (0usize, 0usize, None);
            while Instant::now() < deadline {
                let (token, case_id, action) = mix.next(&mut rng);
                let request = pb::CheckRequest {
                    target: Some(pb::Target { resource: Some(pb::target::Resource::CaseId(case_id.to_owned())) }),
                    action: action as i32,
                    ..Default::default()
                };
                let call = Instant::now();
                match client.check(authed(request, token)).await {
                    Ok(response) => {
                        samples.record(call.elapsed());
                        if response.into_inner().decision.is_some_and(|decision| decision.allowed) {
                            allowed += 1;
                        }
                    }
                    Err(status) => {
                        samples.record(call.elapsed());
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
                    }
                }
            }
            (samples, allowed, errors, first_error)
        }));
    }
    let mut samples = Samples::default();
    let (mut allowed, mut errors, mut first_error) = (0, 0, None);
    for worker in workers {
        if let Ok((worker_samples, worker_allowed, worker_errors, worker_error)) = worker.await {
            samples.merge(worker_samples);
            allowed += worker_allowed;
            errors += worker_errors;
            if first_error.is_none() {
                first_error = worker_error;
            }
        }
    }
    let elapsed = started.elapsed();
    LevelReport {
        concurrency,
        requests: samples.len(),
        allowed,
        errors,
        first_error,
        elapsed,
        p50_ms: samples.quantile_ms(0.5),
        p90_ms: samples.quantile_ms(0.9),
        p99_ms: samples.quantile_ms(0.99),
        cache_hit_rate: None,
        case_cache_hit_rate: None,
    }
}

/// Reads every page; returns (cases, pages).
async fn drain(
    client: &mut CaseAccessServiceClient<Channel>,
    token: &str,
    page_size: i32,
) -> Result<(usize, usize), tonic::Status> {
    let (mut count, mut pages, mut page_token) = (0, 0, String::new());
    loop {
        let page = client
            .list_visible_cases(authed(
                pb::ListVisibleCasesRequest { page_size, page_token, ..Default::default() },
                token,
            ))
            .await?
            .into_inner();
        count += page.cases.len();
        pages += 1;
        if page.next_page_token.is_empty() {
            return Ok((count, pages));
        }
        page_token = page.next_page_token;
    }
}

/// The metrics exposition of case-access, or why not.
async fn scrape(url: Option<&str>) -> Result<String, String> {
    let url = url.ok_or_else(|| "no --metrics-url given".to_owned())?;
    http_get(url).await.map_err(|error| format!("{url}: {error}"))
}

/// Sums the hit and miss counters of cache `cache` (`principal_context`,
/// `case`) in a Prometheus text exposition.
pub fn parse_cache_counters(body: &str, cache: &str) -> Option<(f64, f64)> {
    let wanted = format!("cache=\"{cache}\"");
    let (mut hits, mut misses, mut found) = (0.0, 0.0, false);
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("csm_cache_requests_total{") else { continue };
        let Some((labels, value)) = rest.split_once('}') else { continue };
        if !labels.contains(&wanted) {
            continue;
        }
        let Ok(value) = value.split_whitespace().next().unwrap_or_default().parse::<f64>() else { continue };
        if labels.contains("result=\"hit\"") {
            hits += value;
            found = true;
        } else if labels.contains("result=\"miss\"") {
            misses += value;
            found = true;
        }
    }
    found.then_some((hits, misses))
}

/// A minimal HTTP/1.0 GET (plain http only), enough for a metrics endpoint.
async fn http_get(url: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(index) => rest.split_at(index),
        None => (rest, "/metrics"),
    };
    let mut stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(authority)).await??;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await??;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow::anyhow!("malformed HTTP response"))?;
    anyhow::ensure!(head.split_whitespace().nth(1) == Some("200"), "HTTP {}", head.lines().next().unwrap_or(""));
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_counters_are_read_from_the_exposition() {
        let body = "# TYPE csm_cache_requests_total counter\n\
            csm_cache_requests_total{cache=\"principal_context\",result=\"hit\"} 90\n\
            csm_cache_requests_total{cache=\"principal_context\",result=\"miss\"} 10\n\
            csm_cache_requests_total{cache=\"case\",result=\"hit\"} 5\n";
        assert_eq!(parse_cache_counters(body, "principal_context"), Some((90.0, 10.0)));
        assert_eq!(parse_cache_counters(body, "case"), Some((5.0, 0.0)));
        assert_eq!(parse_cache_counters("other_metric 1\n", "case"), None);
    }
}
