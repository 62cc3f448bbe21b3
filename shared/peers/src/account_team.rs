//! The account-team service, as its peers use it.

use csm_errors::CsmResult;
use csm_proto::account_team::account_team_service_client::AccountTeamServiceClient;
use csm_proto::account_team::{
    GetPrincipalRelationshipsRequest, ListEligiblePartnerContactsRequest, ListPartnerCustomersRequest,
};
use csm_server::PeerChannel;
use csm_types::{AccountId, ProfileId, ServiceName};

use crate::peer_error;

#[derive(Clone)]
pub struct AccountTeamPeer {
    client: AccountTeamServiceClient<PeerChannel>,
}

impl AccountTeamPeer {
    pub fn new(channel: PeerChannel) -> Self {
        Self { client: AccountTeamServiceClient::new(channel) }
    }

    /// PCUST(`partner`): the customer accounts of its active partner relationships (R3.6).
    pub async fn partner_customers(&self, partner: AccountId) -> CsmResult<Vec<AccountId>> {
        let mut customers = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_partner_customers(ListPartnerCustomersRequest {
                    partner_account_id: partner.to_string(),
                    page_size: 1000,
                    page_token,
                })
                .await
                .map_err(|status| peer_error(ServiceName::AccountTeam, status))?
                .into_inner();
            customers.extend(
                page.partner_customers.iter().filter_map(|row| AccountId::parse(&row.customer_account_id).ok()),
            );
            if page.next_page_token.is_empty() {
                return Ok(customers);
            }
            page_token = page.next_page_token;
        }
    }

    /// Whether `contact` is eligible as partner contact on a case of customer
    /// `account` through its Account Access record (R5.13: every contact of a
    /// partner account while restrict_account_access is off, else only partner
    /// admins), for partner account `partner` or, without one, any partner of
    /// `account`. A `partner` that is not a partner of `account` makes no one eligible.
    pub async fn partner_contact_eligible(
        &self,
        account: AccountId,
        partner: Option<AccountId>,
        contact: ProfileId,
    ) -> CsmResult<bool> {
        let wanted = contact.to_string();
        let mut page_token = String::new();
        loop {
            let request = ListEligiblePartnerContactsRequest {
                account_id: account.to_string(),
                partner_account_id: partner.map(|partner| partner.to_string()).unwrap_or_default(),
                page_size: 1000,
                page_token,
            };
            let page = match self.client.clone().list_eligible_partner_contacts(request).await {
                Ok(response) => response.into_inner(),
                Err(status) if status.code() == tonic::Code::FailedPrecondition => return Ok(false),
                Err(status) => return Err(peer_error(ServiceName::AccountTeam, status)),
            };
            if page.eligible_partner_contacts.iter().any(|eligible| eligible.contact_id == wanted) {
                return Ok(true);
            }
            if page.next_page_token.is_empty() {
                return Ok(false);
            }
            page_token = page.next_page_token;
        }
    }

    /// CR(`profile`) and PCUST(acct(`profile`)): the accounts of its contact
    /// relationships (R3.7) and, for a partner contact, its partner account's
    /// customers (R3.6), from one snapshot.
    pub async fn principal_accounts(&self, profile: ProfileId) -> CsmResult<PrincipalAccounts> {
        let relationships = self
            .client
            .clone()
            .get_principal_relationships(GetPrincipalRelationshipsRequest { profile_id: profile.to_string() })
            .await
            .map_err(|status| peer_error(ServiceName::AccountTeam, status))?
            .into_inner()
            .principal_relationships
            .unwrap_or_default();
        Ok(PrincipalAccounts {
            contact_relationships: relationships
                .contact_relationships
                .iter()
                .filter_map(|row| AccountId::parse(&row.account_id).ok())
                .collect(),
            partner_customers: relationships
                .partner_customers
                .iter()
                .filter_map(|row| AccountId::parse(&row.customer_account_id).ok())
                .collect(),
        })
    }

    /// Every relationship that decides what `profile` may see (DESIGN §3).
    pub async fn principal_relationships(
        &self,
        profile: ProfileId,
    ) -> CsmResult<csm_proto::account_team::PrincipalRelationships> {
        let request = GetPrincipalRelationshipsRequest { profile_id: profile.to_string() };
        let response = self
            .client
            .clone()
            .get_principal_relationships(request)
            .await
            .map_err(|status| peer_error(ServiceName::AccountTeam, status))?;
        Ok(response.into_inner().principal_relationships.unwrap_or_default())
    }

    /// The responsibility access configurations on `table` (active ones only when asked), every page.
    pub async fn access_configurations(
        &self,
        table: csm_proto::account_team::RecordTable,
        active_only: bool,
    ) -> CsmResult<Vec<csm_proto::account_team::ResponsibilityAccessConfiguration>> {
        crate::every_page(ServiceName::AccountTeam, |page_token| {
            let mut client = self.client.clone();
            let request = csm_proto::account_team::ListResponsibilityAccessConfigurationsRequest {
                responsibility_id: String::new(),
                accessible_table: table as i32,
                active_only,
                page_size: crate::PAGE,
                page_token,
            };
            async move {
                let page = client.list_responsibility_access_configurations(request).await?.into_inner();
                Ok((page.responsibility_access_configurations, page.next_page_token))
            }
        })
        .await
    }

    /// Responsibility definition `id`; `None` when account-team does not know it.
    pub async fn responsibility_definition(
        &self,
        id: &str,
    ) -> CsmResult<Option<csm_proto::account_team::ResponsibilityDefinition>> {
        let request = csm_proto::account_team::GetResponsibilityDefinitionRequest { responsibility_id: id.to_owned() };
        match self.client.clone().get_responsibility_definition(request).await {
            Ok(response) => Ok(response.into_inner().responsibility_definition),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::AccountTeam, status)),
        }
    }

    /// Related-party configuration (type) `id` (R5.4); `None` when account-team does not know it.
    pub async fn related_party_configuration(
        &self,
        id: &str,
    ) -> CsmResult<Option<csm_proto::account_team::RelatedPartyConfiguration>> {
        let request = csm_proto::account_team::GetRelatedPartyConfigurationRequest {
            related_party_configuration_id: id.to_owned(),
        };
        match self.client.clone().get_related_party_configuration(request).await {
            Ok(response) => Ok(response.into_inner().related_party_configuration),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(peer_error(ServiceName::AccountTeam, status)),
        }
    }

    /// account-team's change feed from after `from_revision` (DESIGN §3).
    pub async fn watch(
        &self,
        from_revision: u64,
    ) -> CsmResult<tonic::Streaming<csm_proto::account_team::WatchResponse>> {
        let request = csm_proto::account_team::WatchRequest { from_revision };
        let stream =
            self.client.clone().watch(request).await.map_err(|status| peer_error(ServiceName::AccountTeam, status))?;
        Ok(stream.into_inner())
    }
}

impl AccountTeamPeer {
    /// The consumers `profile`'s consumer represents: consumer relationships
    /// naming it as the related consumer with the Authorized Representative
    /// responsibility (T4.2).
    pub async fn represented_consumers(&self, profile: ProfileId) -> CsmResult<Vec<csm_types::ConsumerId>> {
        let relationships = self
            .client
            .clone()
            .get_principal_relationships(GetPrincipalRelationshipsRequest { profile_id: profile.to_string() })
            .await
            .map_err(|status| peer_error(ServiceName::AccountTeam, status))?
            .into_inner()
            .principal_relationships
            .unwrap_or_default();
        let representative: Vec<&str> = relationships
            .responsibilities
            .iter()
            .filter(|definition| {
                definition.name.eq_ignore_ascii_case(csm_types::responsibilities::AUTHORIZED_REPRESENTATIVE)
            })
            .map(|definition| definition.responsibility_id.as_str())
            .collect();
        Ok(relationships
            .consumer_relationships
            .iter()
            .filter(|row| representative.contains(&row.responsibility_id.as_str()))
            .filter_map(|row| csm_types::ConsumerId::parse(&row.consumer_id).ok())
            .collect())
    }
}

/// The accounts a profile reaches through account-team relationships.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalAccounts {
    /// CR(me) (R3.7).
    pub contact_relationships: Vec<AccountId>,
    /// PCUST(acct(me)) (R3.6).
    pub partner_customers: Vec<AccountId>,
}
