//! SQL of identity's accounts and their hierarchy (R3.1).
//!
//! The hierarchy is kept twice: `accounts.parent_id` (the parent itself) and
//! the closure table `account_ancestors` (every ancestor/descendant pair with
//! its distance, each account paired with itself at depth 0), so ancestor
//! chains and DESC(a) are single indexed reads on deep and wide trees. Both
//! are written in the same transaction, after [`IdentityStore::lock_account_hierarchy`].

use std::collections::HashMap;

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::AccountId;
use uuid::Uuid;

use super::IdentityStore;
use super::directory::{like_prefix_pattern, page_after, where_clause};
use crate::domain::accounts::{Account, AccountFilter, AccountKind, DescendantFilter, NewAccount};

const ACCOUNT_COLUMNS: &str = "id, name, kind, parent_id, active, created_at, updated_at";
/// [`ACCOUNT_COLUMNS`] of the table aliased `account`.
const ACCOUNT_COLUMNS_OF_ALIAS: &str = "account.id, account.name, account.kind, account.parent_id, account.active, \
     account.created_at, account.updated_at";

impl IdentityStore {
    /// Takes the hierarchy write lock until `tx` ends. Call it as the FIRST
    /// statement of every transaction that writes accounts: SQLite then holds
    /// its write lock before reading, and PostgreSQL runs such writers one at a
    /// time, each reading the tree as the previous one committed it — so two
    /// concurrent moves cannot both pass the cycle check (R3.1).
    pub async fn lock_account_hierarchy(&self, tx: &mut Tx) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE account_hierarchy_lock SET version = version + 1 WHERE id = 1")
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// Inserts `new` with its hierarchy paths and its change row in `tx` (after
    /// [`lock_account_hierarchy`](Self::lock_account_hierarchy); the caller has
    /// checked the parent).
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
            // The account itself at depth 0, then every path to the parent's chain.
            sqlx::query("INSERT INTO account_ancestors (ancestor_id, descendant_id, depth) VALUES ($1, $1, 0)")
                .bind(account.id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            if let Some(parent) = account.parent {
                sqlx::query(
                    "INSERT INTO account_ancestors (ancestor_id, descendant_id, depth) \
                     SELECT ancestor_id, $1, depth + 1 FROM account_ancestors WHERE descendant_id = $2",
                )
                .bind(account.id.as_uuid())
                .bind(parent.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
        });
        let revision = csm_changefeed::append(tx, &account_change(&account, Operation::Created, None)).await?;
        Ok((account, revision))
    }

    /// One account, read in `tx`.
    pub async fn account_in(&self, tx: &mut Tx, id: AccountId) -> CsmResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.as_ref().map(account_from_row).transpose()
        })
    }

    /// `id` followed by its ancestors, nearest first, read in `tx`.
    pub async fn account_chain_in(&self, tx: &mut Tx, id: AccountId) -> CsmResult<Vec<AccountId>> {
        with_tx!(tx, |tx| {
            let rows = sqlx::query("SELECT ancestor_id FROM account_ancestors WHERE descendant_id = $1 ORDER BY depth")
                .bind(id.as_uuid())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("ancestor_id").map(AccountId::from_uuid).map_err(db_error)).collect()
        })
    }

    /// Writes the name and active flag of `account` (its `updated_at` is set
    /// here) and its change row.
    pub async fn save_account(&self, tx: &mut Tx, account: &Account) -> CsmResult<(Account, u64)> {
        let account = Account { updated_at: csm_db::now(), ..account.clone() };
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE accounts SET name = $2, active = $3, updated_at = $4 WHERE id = $1")
                .bind(account.id.as_uuid())
                .bind(&account.name)
                .bind(account.active)
                .bind(account.updated_at)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        let revision = csm_changefeed::append(tx, &account_change(&account, Operation::Updated, None)).await?;
        Ok((account, revision))
    }

    /// Moves `account` and its whole subtree under `new_parent` (None: top
    /// level) and appends the change. The caller holds the hierarchy lock and
    /// has checked R3.1 (no cycle). Paths from the old ancestors into the
    /// subtree are deleted, then the new parent's chain × the subtree inserted.
    pub async fn move_account(
        &self,
        tx: &mut Tx,
        account: &Account,
        new_parent: Option<AccountId>,
    ) -> CsmResult<(Account, u64)> {
        let moved = Account { parent: new_parent, updated_at: csm_db::now(), ..account.clone() };
        // The old ancestors are bound as a short literal list (at most the
        // depth of the tree): the DELETE then reads only their index ranges,
        // whatever the planner's statistics say about the table.
        let old_ancestors: Vec<AccountId> = self.account_chain_in(tx, moved.id).await?.into_iter().skip(1).collect();
        let old_ancestor_placeholders =
            (0..old_ancestors.len()).map(|index| format!("${}", index + 2)).collect::<Vec<_>>().join(", ");
        let delete_old_paths = format!(
            "DELETE FROM account_ancestors WHERE ancestor_id IN ({old_ancestor_placeholders}) \
             AND descendant_id IN (SELECT descendant_id FROM account_ancestors WHERE ancestor_id = $1)"
        );
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE accounts SET parent_id = $2, updated_at = $3 WHERE id = $1")
                .bind(moved.id.as_uuid())
                .bind(new_parent.map(|id| *id.as_uuid()))
                .bind(moved.updated_at)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            if !old_ancestors.is_empty() {
                let mut query = sqlx::query(&delete_old_paths).bind(*moved.id.as_uuid());
                for ancestor in &old_ancestors {
                    query = query.bind(*ancestor.as_uuid());
                }
                query.execute(&mut **tx).await.map_err(db_error)?;
            }
            if let Some(parent) = new_parent {
                sqlx::query(
                    "INSERT INTO account_ancestors (ancestor_id, descendant_id, depth) \
                     SELECT above.ancestor_id, below.descendant_id, above.depth + below.depth + 1 \
                     FROM account_ancestors above CROSS JOIN account_ancestors below \
                     WHERE above.descendant_id = $1 AND below.ancestor_id = $2",
                )
                .bind(parent.as_uuid())
                .bind(moved.id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
        });
        let change = account_change(&moved, Operation::Updated, Some(account.parent));
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((moved, revision))
    }

    pub async fn get_account(&self, id: AccountId) -> CsmResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(account_from_row).transpose()
        })
    }

    /// One page of accounts ordered by id (fetches `page.fetch_limit()` rows).
    pub async fn list_accounts(&self, page: &PageRequest, filter: &AccountFilter) -> CsmResult<Vec<Account>> {
        let after = page_after(page)?;
        let mut filters = Vec::new();
        let mut binds: Vec<Bind> = Vec::new();
        if let Some(after) = after {
            binds.push(Bind::Uuid(after));
            filters.push(format!("id > ${}", binds.len()));
        }
        if let Some(kind) = filter.kind {
            binds.push(Bind::Text(kind.as_str().to_owned()));
            filters.push(format!("kind = ${}", binds.len()));
        }
        if let Some(parent) = filter.parent {
            binds.push(Bind::Uuid(*parent.as_uuid()));
            filters.push(format!("parent_id = ${}", binds.len()));
        }
        if filter.top_level_only {
            filters.push("parent_id IS NULL".to_owned());
        }
        if let Some(prefix) = &filter.name_prefix {
            binds.push(Bind::Text(like_prefix_pattern(prefix)));
            filters.push(format!("LOWER(name) LIKE ${} ESCAPE '\\'", binds.len()));
        }
        if !filter.include_inactive {
            filters.push("active = TRUE".to_owned());
        }
        if let Some(only) = &filter.only {
            if only.is_empty() {
                return Ok(Vec::new());
            }
            let mut placeholders = Vec::with_capacity(only.len());
            for account in only {
                binds.push(Bind::Uuid(*account.as_uuid()));
                placeholders.push(format!("${}", binds.len()));
            }
            filters.push(format!("id IN ({})", placeholders.join(", ")));
        }
        binds.push(Bind::Int(page.fetch_limit()));
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts {} ORDER BY id LIMIT ${}",
            where_clause(&filters),
            binds.len()
        );
        self.fetch_accounts(&sql, &binds).await
    }

    /// One page of `account`'s ancestors, nearest first, each with its distance
    /// (1 = parent; the keyset of the page). `after_depth`: the last distance
    /// of the previous page.
    pub async fn list_account_ancestors(
        &self,
        account: AccountId,
        after_depth: Option<i64>,
        limit: i64,
    ) -> CsmResult<Vec<(i64, Account)>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS_OF_ALIAS}, path.depth AS depth \
             FROM account_ancestors path JOIN accounts account ON account.id = path.ancestor_id \
             WHERE path.descendant_id = $1 AND path.depth > $2 ORDER BY path.depth LIMIT $3"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(account.as_uuid())
                .bind(after_depth.unwrap_or(0))
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(|row| Ok((row.int("depth").map_err(db_error)?, account_from_row(row)?))).collect()
        })
    }

    /// One page of DESC(`account`) (never the account itself), ordered by id
    /// (fetches `page.fetch_limit()` rows).
    pub async fn list_account_descendants(
        &self,
        account: AccountId,
        filter: DescendantFilter,
        page: &PageRequest,
    ) -> CsmResult<Vec<Account>> {
        let after = page_after(page)?;
        let mut binds = vec![Bind::Uuid(*account.as_uuid())];
        let mut filters = vec!["path.ancestor_id = $1".to_owned(), "path.depth > 0".to_owned()];
        if let Some(max_depth) = filter.max_depth {
            binds.push(Bind::Int(i64::from(max_depth)));
            filters.push(format!("path.depth <= ${}", binds.len()));
        }
        if let Some(after) = after {
            binds.push(Bind::Uuid(after));
            filters.push(format!("path.descendant_id > ${}", binds.len()));
        }
        if !filter.include_inactive {
            filters.push("account.active = TRUE".to_owned());
        }
        binds.push(Bind::Int(page.fetch_limit()));
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS_OF_ALIAS} \
             FROM account_ancestors path JOIN accounts account ON account.id = path.descendant_id \
             {} ORDER BY path.descendant_id LIMIT ${}",
            where_clause(&filters),
            binds.len()
        );
        self.fetch_accounts(&sql, &binds).await
    }

    /// The ids of DESC(`account`) (all transitive children, not the account
    /// itself), ordered by id: the account scope other rules build on (R3.3,
    /// R4.8's customer-admin scope).
    pub async fn descendant_account_ids(&self, account: AccountId) -> CsmResult<Vec<AccountId>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT descendant_id FROM account_ancestors WHERE ancestor_id = $1 AND depth > 0 \
                 ORDER BY descendant_id",
            )
            .bind(account.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("descendant_id").map(AccountId::from_uuid).map_err(db_error)).collect()
        })
    }

    /// The accounts of `ids` that exist, each with its ancestors nearest first
    /// (empty unless `include_ancestors`), read in one statement so accounts
    /// and chains agree.
    pub async fn accounts_with_ancestors(
        &self,
        ids: &[AccountId],
        include_ancestors: bool,
    ) -> CsmResult<HashMap<AccountId, (Account, Vec<AccountId>)>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders = (1..=ids.len()).map(|index| format!("${index}")).collect::<Vec<_>>().join(", ");
        let sql = if include_ancestors {
            format!(
                "SELECT {ACCOUNT_COLUMNS_OF_ALIAS}, path.ancestor_id AS ancestor_id \
                 FROM accounts account \
                 LEFT JOIN account_ancestors path ON path.descendant_id = account.id AND path.depth > 0 \
                 WHERE account.id IN ({placeholders}) ORDER BY account.id, path.depth"
            )
        } else {
            format!("SELECT {ACCOUNT_COLUMNS_OF_ALIAS} FROM accounts account WHERE account.id IN ({placeholders})")
        };
        let rows: Vec<(Account, Option<Uuid>)> = with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(*id.as_uuid());
            }
            let rows = query.fetch_all(pool).await.map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    let ancestor =
                        if include_ancestors { row.opt_uuid("ancestor_id").map_err(db_error)? } else { None };
                    Ok((account_from_row(row)?, ancestor))
                })
                .collect::<CsmResult<Vec<_>>>()
        })?;
        let mut found: HashMap<AccountId, (Account, Vec<AccountId>)> = HashMap::new();
        for (account, ancestor) in rows {
            let entry = found.entry(account.id).or_insert_with(|| (account, Vec::new()));
            entry.1.extend(ancestor.map(AccountId::from_uuid));
        }
        Ok(found)
    }

    async fn fetch_accounts(&self, sql: &str, binds: &[Bind]) -> CsmResult<Vec<Account>> {
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = match bind {
                    Bind::Uuid(value) => query.bind(*value),
                    Bind::Text(value) => query.bind(value.clone()),
                    Bind::Int(value) => query.bind(*value),
                };
            }
            let rows = query.fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(account_from_row).collect()
        })
    }
}

/// A value bound to a query built at run time.
enum Bind {
    Uuid(Uuid),
    Text(String),
    Int(i64),
}

/// The "account" change of `account` with the ids consumers invalidate by;
/// a move also names the parent it left (`previous_parent`: Some(previous)).
fn account_change(account: &Account, operation: Operation, previous_parent: Option<Option<AccountId>>) -> NewChange {
    let mut change = NewChange::new("account", account.id, operation).attribute("account_id", account.id);
    if let Some(parent) = account.parent {
        change = change.attribute("parent_account_id", parent);
    }
    if let Some(Some(previous)) = previous_parent {
        change = change.attribute("previous_parent_account_id", previous);
    }
    change
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
