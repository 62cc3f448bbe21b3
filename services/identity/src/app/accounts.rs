//! identity's account use cases (R3.1–R3.2).

use csm_auth::Caller;
use csm_errors::{CsmError, CsmResult};
use csm_types::AccountId;

use super::{IdentityApp, Written};
use crate::domain::accounts::{ACCOUNT_ADMIN_ROLES, Account, NewAccount};

impl IdentityApp {
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
        if let Some((id, revision)) = self.replayed(RPC, request_id).await? {
            let account = self.store.get_account(AccountId::from_uuid(id)).await?;
            let account = account.ok_or_else(|| CsmError::not_found("account", id))?;
            return Ok(self.written(account, revision));
        }
        let mut tx = self.store.db().begin().await?;
        let (account, revision) = self.store.insert_account(&mut tx, &new).await?;
        if !self.record_created(&mut tx, RPC, request_id, *account.id.as_uuid(), revision).await? {
            // A concurrent retry with the same request id won: answer with its result.
            drop(tx);
            return Box::pin(self.create_account(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(account, revision))
    }

    /// Reads one account.
    // TODO(issue 3): restrict reads to R4.9's visibility for external callers.
    pub async fn get_account(&self, _caller: &Caller, id: AccountId) -> CsmResult<Account> {
        self.store.get_account(id).await?.ok_or_else(|| CsmError::not_found("account", id))
    }
}
