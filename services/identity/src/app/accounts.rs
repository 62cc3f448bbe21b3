//! identity's account use cases: accounts and their hierarchy (R3.1–R3.3).
//!
//! Every account write starts its transaction with the hierarchy lock
//! ([`IdentityStore::lock_account_hierarchy`](crate::store::IdentityStore::lock_account_hierarchy)),
//! then reads what its rules need (parent, chain), then writes: concurrent
//! moves are checked one after the other and cannot build a cycle together.

use std::collections::HashSet;

use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_types::AccountId;

use super::{IdentityApp, Written};
use crate::domain::accounts::{
    ACCOUNT_EDITOR_ROLES, ACCOUNT_HIERARCHY_ROLES, Account, AccountAncestry, AccountBatch, AccountChanges,
    AccountFilter, AccountMoved, DescendantFilter, NewAccount, ensure_parent_active, ensure_parent_keeps_tree,
    roles_to_create,
};
use crate::domain::visibility::Visibility;

impl IdentityApp {
    /// Creates an account (R3.1); under a parent only for R3.2's roles. A retry
    /// with the same `request_id` returns the account the first call created;
    /// the same id with another request is REQUEST_ID_CONFLICT.
    pub async fn create_account(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewAccount,
    ) -> CsmResult<Written<Account>> {
        const RPC: &str = "CreateAccount";
        self.roles.authorize(caller, roles_to_create(&new), RPC).await?;
        let key = RequestKey::new(RPC, caller.request_scope(), request_id, &new);
        if let Some((id, revision)) = self.replayed(&key).await? {
            let id = AccountId::from_uuid(id);
            let account = self.store.get_account(id).await?;
            let account = account.ok_or_else(|| CsmError::not_found("account", id))?;
            return Ok(self.written(account, revision));
        }
        let mut tx = self.store.db().begin().await?;
        self.store.lock_account_hierarchy(&mut tx).await?;
        if let Some(parent_id) = new.parent {
            let parent = self.store.account_in(&mut tx, parent_id).await?;
            let parent = parent
                .ok_or_else(|| CsmError::not_found("account", parent_id).with_metadata("field", "parent_account_id"))?;
            ensure_parent_active(&parent)?;
        }
        let (account, revision) = self.store.insert_account(&mut tx, &new).await?;
        if !self.record_created(&mut tx, &key, *account.id.as_uuid(), revision).await? {
            // A concurrent retry with the same request id won: answer with its result.
            drop(tx);
            return Box::pin(self.create_account(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(account, revision))
    }

    /// Reads one account, if the caller may see it (R4.9).
    pub async fn get_account(&self, caller: &Caller, id: AccountId) -> CsmResult<Account> {
        let account = self.store.get_account(id).await?.ok_or_else(|| CsmError::not_found("account", id))?;
        self.visible_account(caller, id, "GetAccount").await?;
        Ok(account)
    }

    /// Changes an account's name or active flag (T4.3 manager row, R3.2 roles).
    pub async fn update_account(
        &self,
        caller: &Caller,
        id: AccountId,
        changes: AccountChanges,
    ) -> CsmResult<Written<Account>> {
        self.roles.authorize(caller, ACCOUNT_EDITOR_ROLES, "UpdateAccount").await?;
        let mut tx = self.store.db().begin().await?;
        // Also taken here: CreateAccount's "parent is active" check must not
        // race with the parent's deactivation.
        self.store.lock_account_hierarchy(&mut tx).await?;
        let current = self.store.account_in(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("account", id))?;
        let (account, revision) = self.store.save_account(&mut tx, &changes.apply_to(&current)).await?;
        tx.commit().await?;
        Ok(self.committed(account, revision))
    }

    /// One page of accounts ordered by id, and the next page token.
    pub async fn list_accounts(
        &self,
        caller: &Caller,
        page: PageRequest,
        mut filter: AccountFilter,
    ) -> CsmResult<(Vec<Account>, String)> {
        // R4.9: an external caller lists only the accounts it may see.
        if let Visibility::Restricted { accounts, .. } = self.visibility(caller, "ListAccounts").await? {
            filter.only = Some(accounts);
        }
        let rows = self.store.list_accounts(&page, &filter).await?;
        Ok(page.finish(rows, |account| account.id.to_string()))
    }

    /// Sets or clears an account's parent; its whole subtree moves with it
    /// (R3.1). Only R3.2's roles. A parent that is the account or one of its
    /// descendants is INVALID_ARGUMENT reason ACCOUNT_HIERARCHY_CYCLE; an
    /// inactive parent FAILED_PRECONDITION reason ACCOUNT_INACTIVE. Setting the
    /// parent it already has changes nothing and writes no change.
    pub async fn set_account_parent(
        &self,
        caller: &Caller,
        id: AccountId,
        new_parent: Option<AccountId>,
    ) -> CsmResult<Written<AccountMoved>> {
        self.roles.authorize(caller, ACCOUNT_HIERARCHY_ROLES, "SetAccountParent").await?;
        let mut tx = self.store.db().begin().await?;
        self.store.lock_account_hierarchy(&mut tx).await?;
        let account = self.store.account_in(&mut tx, id).await?;
        let account = account.ok_or_else(|| CsmError::not_found("account", id).with_metadata("field", "account_id"))?;
        if let Some(parent_id) = new_parent {
            let parent = self.store.account_in(&mut tx, parent_id).await?;
            let parent = parent
                .ok_or_else(|| CsmError::not_found("account", parent_id).with_metadata("field", "parent_account_id"))?;
            // Read under the lock: no other move can change this chain before commit.
            let chain = self.store.account_chain_in(&mut tx, parent_id).await?;
            ensure_parent_keeps_tree(account.id, &chain)?;
            ensure_parent_active(&parent)?;
        }
        if account.parent == new_parent {
            drop(tx);
            let revision = self.feed.head().await?;
            return Ok(self.written(AccountMoved { previous_parent: account.parent, account }, revision));
        }
        let (moved, revision) = self.store.move_account(&mut tx, &account, new_parent).await?;
        tx.commit().await?;
        Ok(self.committed(AccountMoved { account: moved, previous_parent: account.parent }, revision))
    }

    /// One page of an account's ancestors, nearest (parent) first. External
    /// callers: the account must be one R4.9 lets them see (as GetAccount),
    /// and only the ancestors they may see are listed.
    pub async fn list_account_ancestors(
        &self,
        caller: &Caller,
        id: AccountId,
        page: PageRequest,
    ) -> CsmResult<(Vec<Account>, String)> {
        let after_depth = match page.after.as_deref() {
            None => None,
            Some(after) => Some(after.parse::<i64>().ok().filter(|depth| *depth > 0).ok_or_else(|| {
                CsmError::invalid_field("page_token", "is not a token returned by ListAccountAncestors")
            })?),
        };
        self.ensure_account_exists(id).await?;
        let visible = self.visible_account(caller, id, "ListAccountAncestors").await?;
        let rows = self.store.list_account_ancestors(id, after_depth, page.fetch_limit()).await?;
        let (rows, next_page_token) = page.finish(rows, |(depth, _)| depth.to_string());
        let accounts = rows.into_iter().map(|(_, account)| account).filter(|account| visible.account(account.id));
        Ok((accounts.collect(), next_page_token))
    }

    /// One page of DESC(a) (R3.1, R3.3): transitive children of `id`, never
    /// `id` itself nor its ancestors, ordered by id.
    /// External callers: as ListAccountAncestors (R4.9).
    pub async fn list_account_descendants(
        &self,
        caller: &Caller,
        id: AccountId,
        filter: DescendantFilter,
        page: PageRequest,
    ) -> CsmResult<(Vec<Account>, String)> {
        self.ensure_account_exists(id).await?;
        let visible = self.visible_account(caller, id, "ListAccountDescendants").await?;
        let rows = self.store.list_account_descendants(id, filter, &page).await?;
        let (rows, next_page_token) = page.finish(rows, |account| account.id.to_string());
        Ok((rows.into_iter().filter(|account| visible.account(account.id)).collect(), next_page_token))
    }

    /// Up to [`BATCH_GET_ACCOUNTS_MAX`](crate::domain::accounts::BATCH_GET_ACCOUNTS_MAX)
    /// accounts with their ancestor chains (DESIGN §3 cache misses). Found
    /// accounts come in request order, each once; unknown ids are reported in
    /// `missing`. The revision is read first, so every change up to it is in
    /// the answer. An external caller gets only the accounts (and ancestors)
    /// R4.9 lets it see; the others are reported missing, as if they did not
    /// exist (a batch must not tell another tenant's ids from unknown ones).
    pub async fn batch_get_accounts(
        &self,
        caller: &Caller,
        ids: &[AccountId],
        include_ancestors: bool,
    ) -> CsmResult<AccountBatch> {
        let visible = self.visibility(caller, "BatchGetAccounts").await?;
        let revision = self.feed.head().await?;
        let mut seen = HashSet::new();
        let unique: Vec<AccountId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let mut found_by_id = self.store.accounts_with_ancestors(&unique, include_ancestors).await?;
        let mut batch = AccountBatch { found: Vec::new(), missing: Vec::new(), revision };
        for id in unique {
            match found_by_id.remove(&id).filter(|_| visible.account(id)) {
                Some((account, mut ancestors)) => {
                    ancestors.retain(|ancestor| visible.account(*ancestor));
                    batch.found.push(AccountAncestry { account, ancestors });
                }
                None => batch.missing.push(id),
            }
        }
        Ok(batch)
    }

    /// What `caller` may see of accounts (R4.9), when it may see account `id`;
    /// PERMISSION_DENIED `ACCOUNT_NOT_VISIBLE` otherwise.
    async fn visible_account(&self, caller: &Caller, id: AccountId, action: &str) -> CsmResult<Visibility> {
        let visible = self.visibility(caller, action).await?;
        if !visible.account(id) {
            return Err(account_not_visible(id));
        }
        Ok(visible)
    }

    async fn ensure_account_exists(&self, id: AccountId) -> CsmResult<()> {
        match self.store.get_account(id).await? {
            Some(_) => Ok(()),
            None => Err(CsmError::not_found("account", id).with_metadata("field", "account_id")),
        }
    }
}

/// R4.9: the account is not among those the caller may see.
fn account_not_visible(id: AccountId) -> CsmError {
    CsmError::permission_denied("ACCOUNT_NOT_VISIBLE", format!("account {id} is not visible to this caller (R4.9)"))
        .with_metadata("account_id", id.to_string())
}
