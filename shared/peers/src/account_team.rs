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
