//! identity's use cases: authorize the caller, validate, call the store, emit the change.

use csm_auth::Caller;
use csm_changefeed::{ChangeFeed, idempotency};
use csm_db::Tx;
use csm_errors::{CsmError, CsmResult};
use csm_peers::RolePeer;
use csm_types::AccountId;

use crate::domain::{ACCOUNT_ADMIN_ROLES, Account, NewAccount};
use crate::store::IdentityStore;

/// A mutation's result with the consistency token of its change.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub consistency_token: String,
}

pub struct IdentityApp {
    store: IdentityStore,
    feed: ChangeFeed,
    roles: RolePeer,
}

impl IdentityApp {
    pub fn new(store: IdentityStore, feed: ChangeFeed, roles: RolePeer) -> Self {
        Self { store, feed, roles }
    }

    pub fn feed(&self) -> &ChangeFeed {
        &self.feed
    }

    /// Creates an account (R3.1; who may: R3.2). A retry with the same
    /// `request_id` returns the account the first call created.
    pub async fn create_account(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewAccount,
    ) -> CsmResult<Written<Account>> {
        self.roles.authorize(caller, ACCOUNT_ADMIN_ROLES, "CreateAccount").await?;
        const RPC: &str = "CreateAccount";
        if let Some(request_id) = request_id {
            if let Some(written) = self.replay_account(RPC, request_id).await? {
                return Ok(written);
            }
        }
        let mut tx: Tx = self.store.db().begin().await?;
        let (account, revision) = self.store.insert_account(&mut tx, &new).await?;
        if let Some(request_id) = request_id {
            let response = format!("{}|{}", account.id, revision);
            if !idempotency::record_response(&mut tx, RPC, request_id, response.as_bytes()).await? {
                // A concurrent retry won: answer with its result.
                drop(tx);
                return self
                    .replay_account(RPC, request_id)
                    .await?
                    .ok_or_else(|| CsmError::internal("idempotency record vanished"));
            }
        }
        tx.commit().await?;
        self.feed.committed(revision);
        Ok(Written { value: account, consistency_token: self.feed.token(revision) })
    }

    async fn replay_account(&self, rpc: &str, request_id: &str) -> CsmResult<Option<Written<Account>>> {
        let Some(stored) = idempotency::stored_response(self.store.db(), rpc, request_id).await? else {
            return Ok(None);
        };
        let stored = String::from_utf8(stored).map_err(CsmError::internal)?;
        let (id, revision) = stored.split_once('|').ok_or_else(|| CsmError::internal("bad idempotency record"))?;
        let id = AccountId::parse(id).map_err(CsmError::internal)?;
        let revision: u64 = revision.parse().map_err(CsmError::internal)?;
        let account = self.store.get_account(id).await?.ok_or_else(|| CsmError::not_found("account", id))?;
        Ok(Some(Written { value: account, consistency_token: self.feed.token(revision) }))
    }

    /// Reads one account.
    // TODO(issue 3): restrict reads to R4.9's visibility for external callers.
    pub async fn get_account(&self, _caller: &Caller, id: AccountId) -> CsmResult<Account> {
        self.store.get_account(id).await?.ok_or_else(|| CsmError::not_found("account", id))
    }
}
