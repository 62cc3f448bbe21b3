//! `csm load seed`: creates the planned data set through the public RPCs,
//! with bounded parallelism, deterministic request ids (a rerun returns the
//! original results instead of duplicating) and a manifest checkpoint, so a
//! stopped run resumes where it stopped.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use csm_proto::account_team as at_pb;
use csm_proto::account_team::account_team_service_client::AccountTeamServiceClient;
use csm_proto::case_access as pb;
use csm_proto::case_access::case_access_service_client::CaseAccessServiceClient;
use csm_proto::identity as id_pb;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_proto::role as role_pb;
use csm_proto::role::role_service_client::RoleServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::load::manifest::{CaseRecord, Manifest};
use crate::load::plan::{self, AccountKind, Plan, PlannedCase, Sizes};
use crate::load::{Rng, Target, authed, request_id};

mod driving;
mod journal;

use driving::{Progress, drive, retry};
use journal::Journal;
pub use journal::journal_path;

/// `retry` of `client.method(request)` with `token`, cloning the client per attempt.
macro_rules! call {
    ($client:expr, $method:ident, $request:expr, $token:expr) => {
        retry(|| {
            let mut client = $client.clone();
            let request = authed($request.clone(), $token);
            async move { client.$method(request).await }
        })
    };
}

/// Options of a seeding run.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub accounts: usize,
    pub contacts: usize,
    pub cases: usize,
    pub seed: u64,
    /// Requests in flight at once.
    pub parallelism: usize,
    /// Start over even if the manifest holds another data set.
    pub fresh: bool,
    /// Where to checkpoint (None: keep it in memory only).
    pub manifest: Option<PathBuf>,
    /// No progress lines.
    pub quiet: bool,
}

/// Share of B2B cases that get a related party (an authorized contact of another account).
const RELATED_PARTY_SHARE: f64 = 0.05;
/// The ListVisibleCases subject's target size, which sizes the hierarchies.
const VISIBLE_TARGET: usize = 1000;
const CHECKPOINT_EVERY: usize = 2000;

/// What a seeding run did.
pub struct SeedReport {
    pub manifest: Manifest,
    /// (phase, items done in this run, elapsed)
    pub phases: Vec<(String, usize, Duration)>,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let manifest = &self.manifest;
        let sizes = manifest.plan.sizes;
        writeln!(
            f,
            "seeded (seed {}): {} accounts, {} contacts, {} agents, {} consumers, {} partner relationships, {} cases, {} related parties",
            sizes.seed,
            manifest.account_ids.iter().filter(|id| !id.is_empty()).count(),
            manifest.contact_ids.iter().filter(|id| !id.is_empty()).count(),
            manifest.agent_ids.iter().filter(|id| !id.is_empty()).count(),
            manifest.consumer_ids.iter().filter(|id| !id.is_empty()).count(),
            manifest.plan.partner_relationships.len(),
            manifest.cases.len(),
            manifest.related_parties.len(),
        )?;
        if !manifest.related_parties_note.is_empty() {
            writeln!(f, "related parties: {}", manifest.related_parties_note)?;
        }
        for (phase, count, elapsed) in &self.phases {
            let rate = *count as f64 / elapsed.as_secs_f64().max(0.001);
            writeln!(f, "  {phase:<22} {count:>7} in {:>8.1} s  ({rate:.0}/s)", elapsed.as_secs_f64())?;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Clients {
    identity: IdentityServiceClient<Channel>,
    role: RoleServiceClient<Channel>,
    account_team: AccountTeamServiceClient<Channel>,
    case_access: CaseAccessServiceClient<Channel>,
}

impl Clients {
    fn new(target: &Target) -> anyhow::Result<Self> {
        Ok(Self {
            identity: IdentityServiceClient::new(Target::channel(&target.identity)?),
            role: RoleServiceClient::new(Target::channel(&target.role)?),
            account_team: AccountTeamServiceClient::new(Target::channel(&target.account_team)?),
            case_access: CaseAccessServiceClient::new(Target::channel(&target.case_access)?),
        })
    }
}

/// Creates (or completes) the data set described by `options`.
pub async fn seed(target: &Target, options: &SeedOptions) -> anyhow::Result<SeedReport> {
    let sizes =
        Sizes { accounts: options.accounts, contacts: options.contacts, cases: options.cases, seed: options.seed };
    let plan = Plan::new(sizes, VISIBLE_TARGET);
    let mut manifest = match &options.manifest {
        Some(path) if path.exists() && !options.fresh => {
            let manifest = Manifest::read(path)?;
            anyhow::ensure!(
                manifest.plan == plan,
                "{} holds another data set ({:?}); use --fresh or another --manifest",
                path.display(),
                manifest.plan.sizes
            );
            manifest
        }
        _ => Manifest::new(plan),
    };
    let mut seeder = Seeder {
        target: target.clone(),
        clients: Clients::new(target)?,
        admin: target.admin_token(),
        options: options.clone(),
        phases: Vec::new(),
    };
    seeder.accounts(&mut manifest).await?;
    seeder.contacts(&mut manifest).await?;
    seeder.agents(&mut manifest).await?;
    // People seeded by an earlier, interrupted run: their logins, for their tokens.
    target.resolve_logins(manifest.contact_ids.iter().chain(&manifest.agent_ids)).await?;
    seeder.consumers(&mut manifest).await?;
    seeder.partner_relationships(&mut manifest).await?;
    seeder.cases(&mut manifest).await?;
    seeder.related_parties(&mut manifest).await?;
    seeder.checkpoint(&manifest)?;
    Ok(SeedReport { manifest, phases: seeder.phases })
}

struct Seeder {
    target: Target,
    clients: Clients,
    admin: String,
    options: SeedOptions,
    phases: Vec<(String, usize, Duration)>,
}

impl Seeder {
    fn checkpoint(&self, manifest: &Manifest) -> anyhow::Result<()> {
        match &self.options.manifest {
            Some(path) => manifest.write(path),
            None => Ok(()),
        }
    }

    fn progress(&self, phase: &str, total: usize) -> Progress {
        Progress::new(phase, total, self.options.quiet)
    }

    fn finish(&mut self, progress: Progress) {
        progress.finish();
        self.phases.push((progress.phase, progress.done, progress.started.elapsed()));
    }

    async fn accounts(&mut self, manifest: &mut Manifest) -> anyhow::Result<()> {
        let seed = manifest.plan.sizes.seed;
        let missing = manifest.account_ids.iter().filter(|id| id.is_empty()).count();
        let mut progress = self.progress("accounts", missing);
        // Level by level, so every parent exists before its children.
        for depth in 0..=plan::MAX_DEPTH {
            let items: Vec<(usize, AccountKind, String)> = manifest
                .plan
                .accounts
                .iter()
                .enumerate()
                .filter(|(index, account)| account.depth == depth && manifest.account_ids[*index].is_empty())
                .map(|(index, account)| {
                    let parent = account.parent.map(|parent| manifest.account_ids[parent].clone()).unwrap_or_default();
                    (index, account.kind, parent)
                })
                .collect();
            let clients = self.clients.clone();
            let admin = self.admin.clone();
            drive(
                &mut progress,
                items,
                self.options.parallelism,
                |(index, kind, parent)| {
                    let identity = clients.identity.clone();
                    let admin = admin.clone();
                    async move {
                        let kind = match kind {
                            AccountKind::Customer => id_pb::AccountKind::Customer,
                            AccountKind::Partner => id_pb::AccountKind::Partner,
                        };
                        let name = match kind {
                            id_pb::AccountKind::Partner => format!("Load {seed} Partner {index}"),
                            _ => format!("Load {seed} Account {index}"),
                        };
                        let request = id_pb::CreateAccountRequest {
                            request_id: request_id(seed, plan::STREAM_ACCOUNT, index as u64),
                            name,
                            kind: kind as i32,
                            parent_account_id: parent,
                        };
                        let account = call!(identity, create_account, request, &admin)
                            .await
                            .with_context(|| format!("create account {index}"))?
                            .account
                            .context("create account: empty response")?;
                        Ok((index, account.account_id))
                    }
                },
                |(index, id)| {
                    manifest.account_ids[index] = id;
                    Ok(())
                },
            )
            .await?;
        }
        self.finish(progress);
        self.checkpoint(manifest)
    }

    async fn contacts(&mut self, manifest: &mut Manifest) -> anyhow::Result<()> {
        let seed = manifest.plan.sizes.seed;
        let assign = !manifest.roles_assigned;
        let items: Vec<(usize, String, &'static str, String)> = manifest
            .plan
            .contacts
            .iter()
            .enumerate()
            .filter(|(index, _)| assign || manifest.contact_ids[*index].is_empty())
            .map(|(index, contact)| {
                (
                    index,
                    manifest.account_ids[contact.account].clone(),
                    contact.role.role(),
                    manifest.contact_ids[index].clone(),
                )
            })
            .collect();
        let mut progress = self.progress("contacts (+role)", items.len());
        let clients = self.clients.clone();
        let admin = self.admin.clone();
        let target = self.target.clone();
        drive(
            &mut progress,
            items,
            self.options.parallelism,
            |(index, account_id, role, existing)| {
                let identity = clients.identity.clone();
                let roles = clients.role.clone();
                let admin = admin.clone();
                let target = target.clone();
                async move {
                    let profile_id = if existing.is_empty() {
                        let request = id_pb::CreateContactRequest {
                            request_id: request_id(seed, plan::STREAM_CONTACT, index as u64),
                            account_id,
                            details: Some(person("Contact", seed, index)),
                            login: Some(id_pb::create_contact_request::Login::NewLogin(id_pb::NewLogin {
                                login_name: format!("load-{seed}-contact-{index}"),
                                password: String::new(),
                            })),
                            ..Default::default()
                        };
                        let profile = call!(identity, create_contact, request, &admin)
                            .await
                            .with_context(|| format!("create contact {index}"))?
                            .profile
                            .context("create contact: empty response")?;
                        target.remember_login(&profile.profile_id, &profile.login_id)?;
                        profile.profile_id
                    } else {
                        existing
                    };
                    assign_role(&roles, &admin, seed, plan::STREAM_ROLE, index, &profile_id, role).await?;
                    Ok((index, profile_id))
                }
            },
            |(index, id)| {
                manifest.contact_ids[index] = id;
                Ok(())
            },
        )
        .await?;
        self.finish(progress);
        self.checkpoint(manifest)
    }

    async fn agents(&mut self, manifest: &mut Manifest) -> anyhow::Result<()> {
        let seed = manifest.plan.sizes.seed;
        let assign = !manifest.roles_assigned;
        let items: Vec<(usize, Vec<&'static str>, String)> = manifest
            .plan
            .agents
            .iter()
            .enumerate()
            .filter(|(index, _)| assign || manifest.agent_ids[*index].is_empty())
            .map(|(index, agent)| (index, agent.roles(), manifest.agent_ids[index].clone()))
            .collect();
        let mut progress = self.progress("agents (+roles)", items.len());
        let clients = self.clients.clone();
        let admin = self.admin.clone();
        let target = self.target.clone();
        drive(
            &mut progress,
            items,
            self.options.parallelism,
            |(index, agent_roles, existing)| {
                let identity = clients.identity.clone();
                let roles = clients.role.clone();
                let admin = admin.clone();
                let target = target.clone();
                async move {
                    let profile_id = if existing.is_empty() {
                        let request = id_pb::CreateEmployeeRequest {
                            request_id: request_id(seed, plan::STREAM_AGENT, index as u64),
                            details: Some(person("Agent", seed, index)),
                            title: "Agent".to_owned(),
                            login: Some(id_pb::create_employee_request::Login::NewLogin(id_pb::NewLogin {
                                login_name: format!("load-{seed}-agent-{index}"),
                                password: String::new(),
                            })),
                            ..Default::default()
                        };
                        let profile = call!(identity, create_employee, request, &admin)
                            .await
                            .with_context(|| format!("create employee {index}"))?
                            .profile
                            .context("create employee: empty response")?;
                        target.remember_login(&profile.profile_id, &profile.login_id)?;
                        profile.profile_id
                    } else {
                        existing
                    };
                    for (offset, role) in agent_roles.into_iter().enumerate() {
                        let item = 1_000_000_000 + index * 10 + offset;
                        assign_role(&roles, &admin, seed, plan::STREAM_ROLE, item, &profile_id, role).await?;
                    }
                    Ok((index, profile_id))
                }
            },
            |(index, id)| {
                manifest.agent_ids[index] = id;
                Ok(())
            },
        )
        .await?;
        manifest.roles_assigned = true;
        self.finish(progress);
        self.checkpoint(manifest)
    }

    async fn consumers(&mut self, manifest: &mut Manifest) -> anyhow::Result<()> {
        let seed = manifest.plan.sizes.seed;
        let items: Vec<usize> =
            (0..manifest.consumer_ids.len()).filter(|&i| manifest.consumer_ids[i].is_empty()).collect();
        let mut progress = self.progress("consumers", items.len());
        let clients = self.clients.clone();
        let admin = self.admin.clone();
        drive(
            &mut progress,
            items,
            self.options.parallelism,
            |index| {
                let identity = clients.identity.clone();
                let admin = admin.clone();
                async move {
                    let request = id_pb::CreateConsumerRequest {
                        request_id: request_id(seed, plan::STREAM_CONSUMER, index as u64),
                        display_name: format!("Load {seed} Consumer {index}"),
                        details: Some(person("Consumer", seed, index)),
                        ..Default::default()
                    };
                    let consumer = call!(identity, create_consumer, request, &admin)
                        .await
                        .with_context(|| format!("create consumer {index}"))?
                        .consumer
                        .context("create consumer: empty response")?;
                    Ok((index, consumer.consumer_id))
                }
            },
            |(index, id)| {
                manifest.consumer_ids[index] = id;
                Ok(())
            },
        )
        .await?;
        self.finish(progress);
        self.checkpoint(manifest)
    }

    async fn partner_relationships(&mut self, manifest: &mut Manifest) -> anyhow::Result<()> {
        if manifest.partner_relationships_created {
            return Ok(());
        }
        let seed = manifest.plan.sizes.seed;
        let items: Vec<(usize, String, String)> = manifest
            .plan
            .partner_relationships
            .iter()
            .enumerate()
            .map(|(index, &(partner, customer))| {
                (index, manifest.account_ids[partner].clone(), manifest.account_ids[customer].clone())
            })
            .collect();
        let mut progress = self.progress("partner relationships", items.len());
        let clients = self.clients.clone();
        let admin = self.admin.clone();
        drive(
            &mut progress,
            items,
            self.options.parallelism,
            |(index, from, to)| {
                let account_team = clients.account_team.clone();
                let admin = admin.clone();
                async move {
                    let request = at_pb::CreateAccountRelationshipRequest {
                        request_id: request_id(seed, plan::STREAM_PARTNER_REL, index as u64),
                        account_relationship: Some(at_pb::AccountRelationship {
                            from_account_id: from,
                            to_account_id: to,
                            ..Default::default()
                        }),
                    };
                    match call!(account_team, create_account_relationship, request, &admin).await {
                        Ok(_) => Ok(()),
                        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
                        Err(status) => Err(anyhow::anyhow!("partner relationship {index}: {status}")),
                    }
                }
            },
            |()| Ok(()),
        )
        .await?;
        manifest.partner_relationships_created = true;
        self.finish(progress);
        self.checkpoint(manifest)
    }

    async fn cases(&mut self, manifest: &mut Manifest) -> anyhow::Result<()> {
        let seed = manifest.plan.sizes.seed;
        let total = manifest.plan.sizes.cases;
        // CreateCase does not honour request_id yet, so every created case is
        // journalled at once: a resumed run repeats at most the cases in flight.
        let mut journal = match &self.options.manifest {
            Some(path) => Some(Journal::open(&journal_path(path), manifest)?),
            None => None,
        };
        let start = manifest.cases.len();
        let snapshot = Arc::new(manifest.clone());
        let lookup = Arc::new(snapshot.plan.lookup());
        let items: Vec<usize> = (start..total).collect();
        let mut progress = self.progress("cases", items.len());
        let clients = self.clients.clone();
        let target = self.target.clone();
        let options_manifest = self.options.manifest.clone();
        drive(
            &mut progress,
            items,
            self.options.parallelism,
            |index| {
                let case_access = clients.case_access.clone();
                let snapshot = snapshot.clone();
                let lookup = lookup.clone();
                let target = target.clone();
                async move {
                    let Some(planned) = snapshot.plan.case(index, &lookup) else {
                        return Ok(CaseRecord { id: String::new(), account: None, partner: None });
                    };
                    let ids = &snapshot;
                    let (creator, create_for, account, consumer, partner) = match planned {
                        PlannedCase::Customer { contact, account } => {
                            (&ids.contact_ids[contact], pb::CreateFor::Account, Some(account), None, None)
                        }
                        PlannedCase::Partner { contact, account } => (
                            &ids.contact_ids[contact],
                            pb::CreateFor::Account,
                            Some(account),
                            None,
                            Some(snapshot.plan.contacts[contact].account),
                        ),
                        PlannedCase::Agent { agent, account } => {
                            (&ids.agent_ids[agent], pb::CreateFor::Account, Some(account), None, None)
                        }
                        PlannedCase::Consumer { agent, consumer } => {
                            (&ids.agent_ids[agent], pb::CreateFor::Consumer, None, Some(consumer), None)
                        }
                    };
                    let token = target.token_for(creator)?;
                    let request = pb::CreateCaseRequest {
                        request_id: request_id(seed, plan::STREAM_CASE, index as u64),
                        draft: Some(pb::CaseDraft {
                            create_for: create_for as i32,
                            short_description: format!("Load case {index}"),
                            account_id: account.map(|a| ids.account_ids[a].clone()).unwrap_or_default(),
                            consumer_id: consumer.map(|c| ids.consumer_ids[c].clone()).unwrap_or_default(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    };
                    let case = call!(case_access, create_case, request, &token)
                        .await
                        .with_context(|| format!("create case {index} ({planned:?})"))?
                        .support_case
                        .context("create case: empty response")?;
                    Ok(CaseRecord { id: case.case_id, account, partner })
                }
            },
            |record| {
                if let Some(journal) = &mut journal {
                    journal.append(manifest.cases.len(), &record)?;
                }
                manifest.cases.push(record);
                if manifest.cases.len().is_multiple_of(CHECKPOINT_EVERY)
                    && let Some(path) = &options_manifest
                {
                    manifest.write(path)?;
                }
                Ok(())
            },
        )
        .await?;
        self.finish(progress);
        self.checkpoint(manifest)
    }

    /// A share of B2B cases get a contact of another account as a related
    /// party, added by an agent (R5.6: agents add related parties; the
    /// administrator of the target has no identity profile, so case-access
    /// cannot build its context); skipped (and said so) when AddRelatedParty
    /// is not available.
    async fn related_parties(&mut self, manifest: &mut Manifest) -> anyhow::Result<()> {
        if manifest.related_parties_done {
            return Ok(());
        }
        let seed = manifest.plan.sizes.seed;
        let mut account_team = self.clients.account_team.clone();
        let configurations = account_team
            .list_related_party_configurations(authed(
                at_pb::ListRelatedPartyConfigurationsRequest {
                    applies_to: at_pb::RecordTable::Case as i32,
                    entity_type: at_pb::PartyEntityType::Contact as i32,
                    page_size: 100,
                    page_token: String::new(),
                },
                &self.admin,
            ))
            .await;
        let configuration = match configurations {
            Ok(response) => response
                .into_inner()
                .related_party_configurations
                .into_iter()
                .find(|configuration| !configuration.listed)
                .map(|configuration| configuration.related_party_configuration_id),
            Err(status) => {
                manifest.related_parties_note =
                    format!("skipped: ListRelatedPartyConfigurations answered {:?}", status.code());
                None
            }
        };
        let Some(configuration) = configuration else {
            if manifest.related_parties_note.is_empty() {
                manifest.related_parties_note = "skipped: no granting CASE/CONTACT related-party type".to_owned();
            }
            manifest.related_parties_done = true;
            return Ok(());
        };
        let customer_contacts: Vec<usize> = (0..manifest.plan.contacts.len())
            .filter(|&index| manifest.plan.contacts[index].role == plan::ContactRole::Customer)
            .collect();
        let agents: Vec<&String> = manifest.agent_ids.iter().filter(|id| !id.is_empty()).collect();
        if agents.is_empty() {
            manifest.related_parties_note = "skipped: no agent to add them".to_owned();
            manifest.related_parties_done = true;
            return Ok(());
        }
        let items: Vec<(usize, usize, String, String, String)> = manifest
            .cases
            .iter()
            .enumerate()
            .filter_map(|(index, case)| {
                let account = case.account?;
                let mut rng = Rng::derive(seed, plan::STREAM_RELATED_PARTY, index as u64);
                if case.id.is_empty() || !rng.chance(RELATED_PARTY_SHARE) {
                    return None;
                }
                let contact = *rng.pick(&customer_contacts)?;
                let agent = (*rng.pick(&agents)?).clone();
                (manifest.plan.contacts[contact].account != account)
                    .then(|| (index, contact, case.id.clone(), manifest.contact_ids[contact].clone(), agent))
            })
            .collect();
        let mut progress = self.progress("related parties", items.len());
        let clients = self.clients.clone();
        let target = self.target.clone();
        let mut added = Vec::new();
        let mut failures = 0usize;
        let mut first_failure = None;
        let result = drive(
            &mut progress,
            items,
            self.options.parallelism,
            |(index, contact, case_id, party_id, agent)| {
                let case_access = clients.case_access.clone();
                let configuration = configuration.clone();
                let token = target.token_for(&agent);
                async move {
                    let token = token?;
                    let request = pb::AddRelatedPartyRequest {
                        request_id: request_id(seed, plan::STREAM_RELATED_PARTY, index as u64),
                        subject: Some(pb::add_related_party_request::Subject::CaseId(case_id)),
                        party_kind: pb::PartyKind::Contact as i32,
                        party_id,
                        related_party_configuration_id: configuration,
                        ..Default::default()
                    };
                    match call!(case_access, add_related_party, request, &token).await {
                        Ok(_) => Ok(Ok((index, contact))),
                        Err(status) if status.code() == Code::AlreadyExists => Ok(Ok((index, contact))),
                        Err(status) if status.code() == Code::Unimplemented => {
                            Err(anyhow::anyhow!("AddRelatedParty answered UNIMPLEMENTED"))
                        }
                        Err(status) => Ok(Err(status)),
                    }
                }
            },
            |outcome| {
                match outcome {
                    Ok(pair) => added.push(pair),
                    Err(status) => {
                        failures += 1;
                        first_failure.get_or_insert(status);
                    }
                }
                Ok(())
            },
        )
        .await;
        manifest.related_parties = added;
        manifest.related_parties_note = match (result, first_failure) {
            (Err(error), _) => format!("skipped: {error}"),
            (Ok(()), Some(status)) => format!(
                "{} added, {failures} refused (first: {:?} {})",
                manifest.related_parties.len(),
                status.code(),
                status.message()
            ),
            (Ok(()), None) => format!("{} added", manifest.related_parties.len()),
        };
        manifest.related_parties_done = true;
        self.finish(progress);
        self.checkpoint(manifest)
    }
}

async fn assign_role(
    roles: &RoleServiceClient<Channel>,
    admin: &str,
    seed: u64,
    stream: u64,
    index: usize,
    profile_id: &str,
    role: &str,
) -> anyhow::Result<()> {
    let request = role_pb::AssignRoleRequest {
        request_id: request_id(seed, stream, index as u64),
        profile_id: profile_id.to_owned(),
        role: role.to_owned(),
    };
    match call!(roles, assign_role, request, admin).await {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
        Err(status) => Err(anyhow::anyhow!("assign {role} to {profile_id}: {status}")),
    }
}

fn person(kind: &str, seed: u64, index: usize) -> id_pb::PersonDetails {
    id_pb::PersonDetails {
        first_name: format!("{kind}{index}"),
        last_name: format!("Load{seed}"),
        email: format!("{}{index}.load{seed}@example.com", kind.to_lowercase()),
        ..Default::default()
    }
}
