//! The account-team service, as its peers use it.

use csm_errors::CsmResult;
use csm_proto::account_team::ListPartnerCustomersRequest;
use csm_proto::account_team::account_team_service_client::AccountTeamServiceClient;
use csm_server::PeerChannel;
use csm_types::{AccountId, ServiceName};

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
}
