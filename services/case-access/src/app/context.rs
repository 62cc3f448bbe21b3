//! Builds a [`PrincipalContext`] from the owning services (DESIGN §3): identity
//! (profile, account, consumer, households, hierarchy), role (effective roles)
//! and account-team (contact relationships, teams, partner customers,
//! consumer relationships). Any peer that does not answer fails the build
//! with UNAVAILABLE — a decision never falls back to a partial context.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;

use csm_errors::{CsmError, CsmResult};
use csm_peers::{RolePeer, peer_error};
use csm_proto::account_team::GetPrincipalRelationshipsRequest;
use csm_proto::account_team::account_team_service_client::AccountTeamServiceClient;
use csm_proto::account_team::team_member::Team;
use csm_proto::common::Change;
use csm_proto::identity::identity_service_client::IdentityServiceClient;
use csm_proto::identity::{
    HouseholdMemberStatus, ListAccountDescendantsRequest, ListHouseholdMembersRequest, ProfileKind,
    ResolvePrincipalRequest, resolve_principal_request,
};
use csm_proto::role::role_service_client::RoleServiceClient;
use csm_server::PeerChannel;
use csm_types::{AccountId, ConsumerId, HouseholdId, ProfileId, ServiceName};
use tokio_stream::{Stream, StreamExt as _};
use tonic::Code;
use uuid::Uuid;

use crate::domain::principal::{PrincipalContext, PrincipalKind, TeamMembership, TeamTarget};

/// Page size used when draining peer lists.
const PAGE: i32 = 1000;

#[derive(Clone)]
pub struct ContextSource {
    identity: IdentityServiceClient<PeerChannel>,
    roles: RolePeer,
    role_client: RoleServiceClient<PeerChannel>,
    account_team: AccountTeamServiceClient<PeerChannel>,
}

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
            identity: IdentityServiceClient::new(identity),
            roles: RolePeer::new(roles.clone()),
            role_client: RoleServiceClient::new(roles),
            account_team: AccountTeamServiceClient::new(account_team),
        }
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
            ServiceName::Identity => changes(
                self.identity
                    .clone()
                    .watch(csm_proto::identity::WatchRequest { from_revision, entity_types: Vec::new() })
                    .await
                    .map_err(|status| peer_error(feed, status))?
                    .into_inner(),
                |message| message.change,
            ),
            ServiceName::Role => changes(
                self.role_client
                    .clone()
                    .watch(csm_proto::role::WatchRequest { from_revision })
                    .await
                    .map_err(|status| peer_error(feed, status))?
                    .into_inner(),
                |message| message.change,
            ),
            ServiceName::AccountTeam => changes(
                self.account_team
                    .clone()
                    .watch(csm_proto::account_team::WatchRequest { from_revision })
                    .await
                    .map_err(|status| peer_error(feed, status))?
                    .into_inner(),
                |message| message.change,
            ),
            other => return Err(CsmError::internal(format!("case-access does not watch {other}"))),
        };
        Ok(stream)
    }

    /// The context of `profile`, or `None` when identity does not know it.
    pub async fn build(&self, profile: ProfileId) -> CsmResult<Option<PrincipalContext>> {
        let identity = ServiceName::Identity;
        let resolved = match self
            .identity
            .clone()
            .resolve_principal(ResolvePrincipalRequest {
                principal: Some(resolve_principal_request::Principal::ProfileId(profile.to_string())),
            })
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(peer_error(identity, status)),
        };
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
        // Roles and relationships do not depend on identity's answer: ask both at once.
        let mut account_team = self.account_team.clone();
        let (roles, relationships) = tokio::join!(
            self.roles.effective_roles(profile),
            account_team
                .get_principal_relationships(GetPrincipalRelationshipsRequest { profile_id: profile.to_string() })
        );
        let mut ctx = PrincipalContext::new(profile, kind, roles?);
        ctx.account = parse_uuid(identity, "account_id", &record.account_id)?.map(AccountId::from_uuid);
        ctx.consumer = match &principal.consumer {
            Some(consumer) => parse_uuid(identity, "consumer_id", &consumer.consumer_id)?.map(ConsumerId::from_uuid),
            None => parse_uuid(identity, "consumer_id", &record.consumer_id)?.map(ConsumerId::from_uuid),
        };
        if let Some(account) = ctx.account {
            ctx.descendants = self.descendants(account).await?;
        }
        for membership in &principal.household_memberships {
            let current = membership.status == HouseholdMemberStatus::Current as i32;
            if !(current && membership.head) {
                continue;
            }
            if let Some(household) = parse_uuid(identity, "household_id", &membership.household_id)? {
                let household = HouseholdId::from_uuid(household);
                for member in self.current_members(household).await? {
                    if Some(member) != ctx.consumer {
                        ctx.household_members.insert(member, household);
                    }
                }
            }
        }
        let relationships = relationships
            .map_err(|status| peer_error(ServiceName::AccountTeam, status))?
            .into_inner()
            .principal_relationships
            .unwrap_or_default();
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
        Ok(Some(ctx))
    }

    /// DESC(account) without the account itself.
    async fn descendants(&self, account: AccountId) -> CsmResult<BTreeSet<AccountId>> {
        let mut accounts = BTreeSet::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .identity
                .clone()
                .list_account_descendants(ListAccountDescendantsRequest {
                    page_size: PAGE,
                    page_token: page_token.clone(),
                    account_id: account.to_string(),
                    max_depth: 0,
                    include_inactive: true,
                })
                .await
                .map_err(|status| peer_error(ServiceName::Identity, status))?
                .into_inner();
            for descendant in page.accounts {
                if let Some(id) = parse_uuid(ServiceName::Identity, "account_id", &descendant.account_id)? {
                    accounts.insert(AccountId::from_uuid(id));
                }
            }
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        accounts.remove(&account);
        Ok(accounts)
    }

    /// Current members of `household` (R4.11: former members grant nothing).
    async fn current_members(&self, household: HouseholdId) -> CsmResult<Vec<ConsumerId>> {
        let mut members = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .identity
                .clone()
                .list_household_members(ListHouseholdMembersRequest {
                    page_size: PAGE,
                    page_token: page_token.clone(),
                    household_id: household.to_string(),
                    include_former: false,
                })
                .await
                .map_err(|status| peer_error(ServiceName::Identity, status))?
                .into_inner();
            for member in page.members {
                if member.status == HouseholdMemberStatus::Current as i32
                    && let Some(id) = parse_uuid(ServiceName::Identity, "consumer_id", &member.consumer_id)?
                {
                    members.push(ConsumerId::from_uuid(id));
                }
            }
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        Ok(members)
    }
}
