//! Builds a [`PrincipalContext`] from the owning services (DESIGN §3): identity
//! (profile, account, consumer, households, hierarchy, security group,
//! department members and reports), role (effective roles, groups and managed
//! groups) and account-team (contact relationships, teams, partner customers,
//! consumer relationships, active access configurations), plus case-access's
//! own security-group rights. After identity has resolved the profile, every
//! other input is fetched at once (`tokio::join!`): this is the cache-miss path.
//! Any peer that does not answer fails the build with UNAVAILABLE — a decision
//! never falls back to a partial context.
//!
//! Business locations of a service organization contributor (T4.4,
//! [INTERP]): identity models a service organization as an account and its
//! business locations as that account's hierarchy, so a contributor's
//! locations are acct(me) and DESC(acct(me)) ([`business_locations`]).

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;

use csm_db::Db;
use csm_errors::{CsmError, CsmResult};
use csm_peers::{AccountTeamPeer, IdentityPeer, RolePeer};
use csm_proto::account_team::team_member::Team;
use csm_proto::account_team::{
    AccessLevel, AssociationType, ContactRelationship, PrincipalRelationships, RecordTable,
    ResponsibilityAccessConfiguration,
};
use csm_proto::common::Change;
use csm_proto::identity::{HouseholdMemberStatus, ListProfilesRequest, ProfileKind};
use csm_proto::role::{PreviewEffectiveRolesRequest, ProfileGroupMembership};
use csm_server::PeerChannel;
use csm_types::{AccountId, ConsumerId, GroupId, HouseholdId, ProfileId, SecurityGroupId, ServiceName};
use tokio_stream::{Stream, StreamExt as _};
use uuid::Uuid;

use crate::domain::principal::{
    AccessConfiguration, OwnershipGrants, PrincipalContext, PrincipalKind, TeamMembership, TeamTarget,
};

#[derive(Clone)]
pub struct ContextSource {
    identity: IdentityPeer,
    roles: RolePeer,
    account_team: AccountTeamPeer,
    /// case-access's own database (security-group rights); set by the app.
    db: Option<Db>,
}

/// A change to what a principal holds that is not written (access review
/// "what if", PreviewAccessChange): applied to role's and account-team's
/// answers before the context is assembled, so a previewed context is built
/// exactly as a real one. Empty: the context as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceChange {
    pub assign_roles: Vec<String>,
    pub revoke_roles: Vec<String>,
    pub join_groups: Vec<GroupId>,
    pub leave_groups: Vec<GroupId>,
    /// Accounts a contact relationship would add the profile to (R3.7).
    pub add_contact_relationships: Vec<AccountId>,
    pub remove_contact_relationships: Vec<AccountId>,
}

impl SourceChange {
    fn touches_roles(&self) -> bool {
        !(self.assign_roles.is_empty()
            && self.revoke_roles.is_empty()
            && self.join_groups.is_empty()
            && self.leave_groups.is_empty())
    }

    /// CR(me) with the proposed relationships added and removed; NOT_FOUND
    /// for removing one the profile does not have.
    fn apply_to(&self, profile: ProfileId, relationships: &mut PrincipalRelationships) -> CsmResult<()> {
        for account in &self.remove_contact_relationships {
            let account = account.to_string();
            let before = relationships.contact_relationships.len();
            relationships.contact_relationships.retain(|relationship| relationship.account_id != account);
            if relationships.contact_relationships.len() == before {
                return Err(CsmError::not_found("contact relationship", format!("{profile}/{account}"))
                    .with_metadata("field", "change.remove_contact_relationship_account_ids"));
            }
        }
        for account in &self.add_contact_relationships {
            let account = account.to_string();
            if !relationships.contact_relationships.iter().any(|relationship| relationship.account_id == account) {
                relationships.contact_relationships.push(ContactRelationship {
                    contact_relationship_id: Uuid::nil().to_string(),
                    account_id: account,
                    ..Default::default()
                });
            }
        }
        Ok(())
    }
}

/// Groups of a profile: all it belongs to directly, and those it manages.
type Groups = (BTreeSet<GroupId>, BTreeSet<GroupId>);

/// A followed change feed.
pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<Change, tonic::Status>> + Send>>;

fn parse_uuid(service: ServiceName, field: &str, value: &str) -> CsmResult<Option<Uuid>> {
    if value.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(value)
        .map(Some)
        .map_err(|_| CsmError::internal(format!("{service} answered a malformed {field}: {value:?}")))
}

impl ContextSource {
    pub fn new(identity: PeerChannel, roles: PeerChannel, account_team: PeerChannel) -> Self {
        Self {
            identity: IdentityPeer::new(identity),
            roles: RolePeer::new(roles),
            account_team: AccountTeamPeer::new(account_team),
            db: None,
        }
    }

    /// The source reading security-group rights from `db` (case-access's own).
    pub fn with_db(mut self, db: Db) -> Self {
        self.db = Some(db);
        self
    }

    /// The role peer (effective roles; admin authorization).
    pub fn roles(&self) -> &RolePeer {
        &self.roles
    }

    /// Follows `feed` from after `from_revision` (identity, role or account-team).
    pub async fn watch(&self, feed: ServiceName, from_revision: u64) -> CsmResult<ChangeStream> {
        fn changes<T: Send + 'static>(stream: tonic::Streaming<T>, change: fn(T) -> Option<Change>) -> ChangeStream {
            Box::pin(stream.filter_map(move |item| match item {
                Ok(message) => change(message).map(Ok),
                Err(status) => Some(Err(status)),
            }))
        }
        let stream = match feed {
            ServiceName::Identity => changes(self.identity.watch(from_revision).await?, |message| message.change),
            ServiceName::Role => changes(self.roles.watch(from_revision).await?, |message| message.change),
            ServiceName::AccountTeam => {
                changes(self.account_team.watch(from_revision).await?, |message| message.change)
            }
            other => return Err(CsmError::internal(format!("case-access does not watch {other}"))),
        };
        Ok(stream)
    }

    /// The context of `profile`, or `None` when identity does not know it.
    pub async fn build(&self, profile: ProfileId) -> CsmResult<Option<PrincipalContext>> {
        self.build_with(profile, &SourceChange::default()).await
    }

    /// [`ContextSource::build`] with `change` applied to the sources (never cached).
    pub async fn build_with(&self, profile: ProfileId, change: &SourceChange) -> CsmResult<Option<PrincipalContext>> {
        let identity = ServiceName::Identity;
        let Some(resolved) = self.identity.resolve_principal(profile).await? else { return Ok(None) };
        let principal = resolved.principal.unwrap_or_default();
        let record = principal.profile.unwrap_or_default();
        let kind = match ProfileKind::try_from(record.kind).unwrap_or(ProfileKind::Unspecified) {
            ProfileKind::Internal => PrincipalKind::Employee,
            ProfileKind::Contact => PrincipalKind::Contact,
            ProfileKind::PartnerContact => PrincipalKind::PartnerContact,
            ProfileKind::Consumer | ProfileKind::ConsumerSubProfile => PrincipalKind::Consumer,
            ProfileKind::Unspecified => {
                return Err(CsmError::internal(format!("identity answered no kind for profile {profile}")));
            }
        };
        let account = parse_uuid(identity, "account_id", &record.account_id)?.map(AccountId::from_uuid);
        let consumer = match &principal.consumer {
            Some(consumer) => parse_uuid(identity, "consumer_id", &consumer.consumer_id)?.map(ConsumerId::from_uuid),
            None => parse_uuid(identity, "consumer_id", &record.consumer_id)?.map(ConsumerId::from_uuid),
        };
        let department = parse_uuid(identity, "department_id", &record.department_id)?;
        let security_group = match &principal.security_group {
            Some(group) => parse_uuid(identity, "security_group_id", &group.security_group_id)?,
            None => parse_uuid(identity, "security_group_id", &record.security_group_id)?,
        }
        .map(SecurityGroupId::from_uuid);
        let mut headed = Vec::new();
        for membership in &principal.household_memberships {
            let current = membership.status == HouseholdMemberStatus::Current as i32;
            if current
                && membership.head
                && let Some(household) = parse_uuid(identity, "household_id", &membership.household_id)?
            {
                headed.push(HouseholdId::from_uuid(household));
            }
        }
        // Everything else depends only on what identity answered: ask it all at once.
        let (
            roles_and_groups,
            relationships,
            descendants,
            household_members,
            department_members,
            reports,
            configs,
            rights,
        ) = tokio::join!(
            self.roles_and_groups(profile, change),
            self.account_team.principal_relationships(profile),
            async {
                match account {
                    Some(account) => self.descendants(account).await,
                    None => Ok(BTreeSet::new()),
                }
            },
            async {
                let mut members = BTreeMap::new();
                for household in &headed {
                    for member in self.current_members(*household).await? {
                        members.insert(member, *household);
                    }
                }
                CsmResult::Ok(members)
            },
            async {
                match department {
                    Some(department) => {
                        self.profiles(ListProfilesRequest {
                            department_id: department.to_string(),
                            ..Default::default()
                        })
                        .await
                    }
                    None => Ok(BTreeSet::new()),
                }
            },
            self.profiles(ListProfilesRequest { manager_profile_id: profile.to_string(), ..Default::default() }),
            self.access_configurations(),
            self.ownership(security_group),
        );
        let (roles, groups) = roles_and_groups?;
        let mut ctx = PrincipalContext::new(profile, kind, roles);
        ctx.account = account;
        ctx.consumer = consumer;
        ctx.descendants = descendants?;
        ctx.business_locations = business_locations(&ctx);
        ctx.household_members = household_members?;
        ctx.household_members.retain(|member, _| Some(*member) != ctx.consumer);
        (ctx.groups, ctx.managed_groups) = groups;
        ctx.department = department;
        ctx.department_members = department_members?;
        ctx.department_members.remove(&profile);
        ctx.reports = reports?;
        ctx.reports.remove(&profile);
        ctx.ownership = rights?;
        let mut relationships = relationships?;
        change.apply_to(profile, &mut relationships)?;
        let account_team = ServiceName::AccountTeam;
        let responsibility_names: BTreeMap<&str, &str> = relationships
            .responsibilities
            .iter()
            .map(|definition| (definition.responsibility_id.as_str(), definition.name.as_str()))
            .collect();
        for relationship in &relationships.contact_relationships {
            if let (Some(id), Some(account)) = (
                parse_uuid(account_team, "contact_relationship_id", &relationship.contact_relationship_id)?,
                parse_uuid(account_team, "account_id", &relationship.account_id)?,
            ) {
                ctx.contact_relationships.insert(AccountId::from_uuid(account), id);
            }
        }
        for customer in &relationships.partner_customers {
            if let (Some(id), Some(account)) = (
                parse_uuid(account_team, "account_relationship_id", &customer.account_relationship_id)?,
                parse_uuid(account_team, "customer_account_id", &customer.customer_account_id)?,
            ) {
                ctx.partner_customers.insert(AccountId::from_uuid(account), id);
            }
        }
        for member in &relationships.team_memberships {
            let Some(id) = parse_uuid(account_team, "team_member_id", &member.team_member_id)? else { continue };
            let target = match &member.team {
                Some(Team::AccountId(account)) => parse_uuid(account_team, "account_id", account)?
                    .map(|id| TeamTarget::Account(AccountId::from_uuid(id))),
                Some(Team::ConsumerId(consumer)) => parse_uuid(account_team, "consumer_id", consumer)?
                    .map(|id| TeamTarget::Consumer(ConsumerId::from_uuid(id))),
                Some(Team::HouseholdId(household)) => parse_uuid(account_team, "household_id", household)?
                    .map(|id| TeamTarget::Household(HouseholdId::from_uuid(id))),
                None => None,
            };
            let responsibility =
                responsibility_names.get(member.responsibility_id.as_str()).copied().unwrap_or_default();
            if let Some(target) = target {
                ctx.teams.push(TeamMembership { id, target, responsibility: responsibility.to_owned() });
            }
        }
        for relationship in &relationships.consumer_relationships {
            let named = responsibility_names.get(relationship.responsibility_id.as_str()).copied();
            // Only an Authorized Representative responsibility represents (T4.2); empty grants nothing.
            if named.is_none_or(|name| !name.eq_ignore_ascii_case(crate::domain::table::AUTHORIZED_REPRESENTATIVE)) {
                continue;
            }
            if let (Some(id), Some(consumer)) = (
                parse_uuid(account_team, "consumer_relationship_id", &relationship.consumer_relationship_id)?,
                parse_uuid(account_team, "consumer_id", &relationship.consumer_id)?,
            ) {
                ctx.represented_consumers.insert(ConsumerId::from_uuid(consumer), id);
            }
        }
        // R5.12: the Account Access records of acct(me) and CR(me) that restrict contact access.
        for access in relationships.account_accesses.iter().filter(|access| access.restrict_contact_access) {
            let Some(account) = parse_uuid(account_team, "account_id", &access.account_id)? else { continue };
            let listed = access.allowed_contact_ids.iter().any(|contact| contact == &profile.to_string());
            ctx.restricted_contact_access.insert(AccountId::from_uuid(account), listed);
        }
        // A configuration names its responsibility by id; only those of the
        // principal's own memberships can match (R5.3), so the others are dropped.
        for config in configs? {
            if let Some(name) = responsibility_names.get(config.responsibility_id.as_str()) {
                ctx.access_configurations
                    .push(AccessConfiguration { responsibility: (*name).to_owned(), ..config.value });
            }
        }
        Ok(Some(ctx))
    }

    /// The profile's effective roles, its direct group memberships and the
    /// groups it manages (R2.18, R6.2, R6.3) — after `change`, when it touches
    /// them (role's PreviewEffectiveRoles computes both in one answer).
    async fn roles_and_groups(
        &self,
        profile: ProfileId,
        change: &SourceChange,
    ) -> CsmResult<(BTreeSet<String>, Groups)> {
        if !change.touches_roles() {
            let (roles, memberships) =
                tokio::join!(self.roles.effective_roles(profile), self.roles.profile_groups(profile));
            return Ok((roles?, groups_of(&memberships?)?));
        }
        let ids = |groups: &[GroupId]| groups.iter().map(ToString::to_string).collect();
        let effective = self
            .roles
            .preview_effective_roles(PreviewEffectiveRolesRequest {
                profile_id: profile.to_string(),
                assign_roles: change.assign_roles.clone(),
                revoke_roles: change.revoke_roles.clone(),
                join_group_ids: ids(&change.join_groups),
                leave_group_ids: ids(&change.leave_groups),
            })
            .await?;
        let direct: Vec<ProfileGroupMembership> =
            effective.group_memberships.into_iter().filter(|membership| membership.direct).collect();
        Ok((effective.roles.into_iter().collect(), groups_of(&direct)?))
    }

    /// The active profiles matching `filter` (department members, reports; R6.3).
    async fn profiles(&self, filter: ListProfilesRequest) -> CsmResult<BTreeSet<ProfileId>> {
        let mut profiles = BTreeSet::new();
        for found in self.identity.profiles_where(&filter).await? {
            if let Some(id) = parse_uuid(ServiceName::Identity, "profile_id", &found.profile_id)? {
                profiles.insert(ProfileId::from_uuid(id));
            }
        }
        Ok(profiles)
    }

    /// The active responsibility access configurations on cases that case-access
    /// evaluates: the Simple association `team_member.account = case.account`
    /// without filters (R5.2, R5.3). Others (Dependent, Advanced, filtered) are
    /// skipped: ignoring a filter would grant more than configured (fail closed).
    async fn access_configurations(&self) -> CsmResult<Vec<ConfigOf>> {
        let mut configs = Vec::new();
        for config in &self.account_team.access_configurations(RecordTable::Case, true).await? {
            if let Some(config) = case_access_configuration(config)? {
                configs.push(config);
            }
        }
        Ok(configs)
    }

    /// The Cherwell rights of the principal's security group (R6.4); none
    /// without a group, or when the group has no rights set.
    async fn ownership(&self, group: Option<SecurityGroupId>) -> CsmResult<OwnershipGrants> {
        let (Some(group), Some(db)) = (group, &self.db) else {
            return Ok(OwnershipGrants { security_group: group, ..OwnershipGrants::default() });
        };
        Ok(match crate::store::admin::security_group_rights(db, group).await? {
            Some(stored) => stored.rights.grants(),
            None => OwnershipGrants { security_group: Some(group), ..OwnershipGrants::default() },
        })
    }

    /// DESC(account) without the account itself.
    async fn descendants(&self, account: AccountId) -> CsmResult<BTreeSet<AccountId>> {
        let mut accounts: BTreeSet<AccountId> = self.identity.account_descendants(account).await?.into_iter().collect();
        accounts.remove(&account);
        Ok(accounts)
    }

    /// Current members of `household` (R4.11: former members grant nothing);
    /// none for a household identity does not know.
    async fn current_members(&self, household: HouseholdId) -> CsmResult<Vec<ConsumerId>> {
        Ok(self.identity.current_household_members(household).await?.unwrap_or_default())
    }
}

/// Direct group memberships → (groups, managed groups) (R6.2, R6.3).
fn groups_of(memberships: &[ProfileGroupMembership]) -> CsmResult<Groups> {
    let (mut groups, mut managed) = (BTreeSet::new(), BTreeSet::new());
    for membership in memberships {
        if let Some(id) = parse_uuid(ServiceName::Role, "group_id", &membership.group_id)? {
            let group = GroupId::from_uuid(id);
            groups.insert(group);
            if membership.manager {
                managed.insert(group);
            }
        }
    }
    Ok((groups, managed))
}

/// An access configuration with its responsibility still named by id.
struct ConfigOf {
    responsibility_id: String,
    value: AccessConfiguration,
}

/// The configuration as case-access evaluates it, or `None` when it is not a
/// plain Simple association on the case account (see `access_configurations`).
fn case_access_configuration(config: &ResponsibilityAccessConfiguration) -> CsmResult<Option<ConfigOf>> {
    let simple_on_account = config.active.unwrap_or(true)
        && config.accessible_table == RecordTable::Case as i32
        && config.relationship_table == RecordTable::AccountTeamMember as i32
        && config.association_type == AssociationType::Simple as i32
        && config.relationship_field == "account"
        && config.accessible_field == "account"
        && config.accessible_filter.is_empty()
        && config.relationship_filter.is_empty();
    if !simple_on_account {
        return Ok(None);
    }
    let Some(id) = parse_uuid(
        ServiceName::AccountTeam,
        "responsibility_access_configuration_id",
        &config.responsibility_access_configuration_id,
    )?
    else {
        return Ok(None);
    };
    let levels: BTreeSet<i32> = config.access_levels.iter().copied().collect();
    let full = levels.contains(&(AccessLevel::Full as i32));
    Ok(Some(ConfigOf {
        responsibility_id: config.responsibility_id.clone(),
        value: AccessConfiguration {
            id,
            responsibility: String::new(),
            roles_required: config.required_roles.iter().cloned().collect(),
            read: full || levels.contains(&(AccessLevel::Read as i32)),
            write: full || levels.contains(&(AccessLevel::Write as i32)),
            create: full,
        },
    }))
}

/// T4.4 service organization contributor, [INTERP]: the organization a
/// contributor is a member of is its own account; its business locations are
/// that account and the accounts below it. Empty without the role.
fn business_locations(ctx: &PrincipalContext) -> BTreeSet<uuid::Uuid> {
    if !ctx.has(crate::domain::table::SERVICE_ORGANIZATION_CONTRIBUTOR) {
        return BTreeSet::new();
    }
    ctx.account.iter().chain(&ctx.descendants).map(|account| *account.as_uuid()).collect()
}
