//! SQL of identity's accounts and their hierarchy.

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::AccountId;

use super::IdentityStore;
use crate::domain::accounts::{Account, AccountKind, NewAccount};

impl IdentityStore {
    /// Inserts `account` and its change row in `tx`; the parent must exist.
    pub async fn insert_account(&self, tx: &mut Tx, new: &NewAccount) -> CsmResult<(Account, u64)> {
        let now = csm_db::now();
        let account = Account {
            id: AccountId::new(),
            name: new.name.clone(),
            kind: new.kind,
            parent: new.parent,
            active: true,
            created_at: now,
            updated_at: now,
        };
        if let Some(parent) = new.parent {
            if !self.account_exists_in(tx, parent).await? {
                return Err(CsmError::not_found("account", parent).with_metadata("field", "parent_account_id"));
            }
        }
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO accounts (id, name, kind, parent_id, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(account.id.as_uuid())
            .bind(&account.name)
            .bind(account.kind.as_str())
            .bind(account.parent.map(|id| *id.as_uuid()))
            .bind(account.active)
            .bind(account.created_at)
            .bind(account.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        let mut change = NewChange::new("account", account.id, Operation::Created).attribute("account_id", account.id);
        if let Some(parent) = account.parent {
            change = change.attribute("parent_account_id", parent);
        }
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((account, revision))
    }

    async fn account_exists_in(&self, tx: &mut Tx, id: AccountId) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_one(&mut **tx)
                .await
                .map_err(db_error)?;
            Ok(found > 0)
        })
    }

    pub async fn get_account(&self, id: AccountId) -> CsmResult<Option<Account>> {
        with_db!(&self.db, |pool| {
            let row = sqlx::query(
                "SELECT id, name, kind, parent_id, active, created_at, updated_at FROM accounts WHERE id = $1",
            )
            .bind(id.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            row.as_ref().map(account_from_row).transpose()
        })
    }
}

fn account_from_row(row: &impl DbRow) -> CsmResult<Account> {
    let kind = row.text("kind").map_err(db_error)?;
    Ok(Account {
        id: AccountId::from_uuid(row.uuid("id").map_err(db_error)?),
        name: row.text("name").map_err(db_error)?,
        kind: AccountKind::parse(&kind).ok_or_else(|| CsmError::internal(format!("unknown account kind {kind:?}")))?,
        parent: row.opt_uuid("parent_id").map_err(db_error)?.map(AccountId::from_uuid),
        active: row.boolean("active").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}
