//! Bulk loading of groups, memberships and assignments in multi-row INSERTs,
//! for imports and benchmarks (services/role/benches/effective_roles.rs).
//! It writes no change-feed entries and checks no collision rule: the caller
//! vouches for the data (an initial load into an empty database).

use csm_db::{Tx, db_error, with_tx};
use csm_errors::CsmResult;
use csm_types::{GroupId, ProfileId};
use uuid::Uuid;

use super::{RoleStore, placeholders};
use crate::domain::groups::{GroupKind, group_name_key};

/// A group of a bulk load; parents must come before their children.
#[derive(Debug, Clone)]
pub struct BulkGroup {
    pub id: GroupId,
    pub name: String,
    pub parent: Option<GroupId>,
    /// The group's ancestors from its parent up to the root (the closure rows).
    pub ancestors: Vec<GroupId>,
    pub roles: Vec<String>,
}

/// Rows per INSERT statement (well under SQLite's and PostgreSQL's bind limits).
const ROWS_PER_STATEMENT: usize = 500;

impl RoleStore {
    /// Inserts assignment groups with their ancestry rows and roles.
    pub async fn bulk_insert_groups(&self, tx: &mut Tx, groups: &[BulkGroup]) -> CsmResult<()> {
        let now = csm_db::now();
        self.bulk_rows(
            tx,
            "role_groups (id, name, name_key, kind, description, parent_id, created_at, updated_at)",
            groups,
            |query, group| {
                query
                    .bind(*group.id.as_uuid())
                    .bind(group.name.clone())
                    .bind(group_name_key(&group.name))
                    .bind(GroupKind::AssignmentGroup.as_str().to_owned())
                    .bind(String::new())
                    .bind(group.parent.map(|parent| *parent.as_uuid()))
                    .bind(now)
                    .bind(now)
            },
        )
        .await?;
        let ancestry: Vec<(Uuid, Uuid, i64)> = groups
            .iter()
            .flat_map(|group| {
                std::iter::once((*group.id.as_uuid(), *group.id.as_uuid(), 0)).chain(
                    group
                        .ancestors
                        .iter()
                        .enumerate()
                        .map(|(depth, ancestor)| (*group.id.as_uuid(), *ancestor.as_uuid(), depth as i64 + 1)),
                )
            })
            .collect();
        self.bulk_rows(tx, "role_group_ancestors (group_id, ancestor_id, depth)", &ancestry, |query, row| {
            query.bind(row.0).bind(row.1).bind(row.2)
        })
        .await?;
        let roles: Vec<(Uuid, String)> = groups
            .iter()
            .flat_map(|group| group.roles.iter().map(|role| (*group.id.as_uuid(), role.clone())))
            .collect();
        self.bulk_rows(tx, "role_group_roles (group_id, role, created_at)", &roles, |query, row| {
            query.bind(row.0).bind(row.1.clone()).bind(now)
        })
        .await
    }

    /// Inserts group memberships (not managers).
    pub async fn bulk_insert_memberships(&self, tx: &mut Tx, members: &[(GroupId, ProfileId)]) -> CsmResult<()> {
        let now = csm_db::now();
        let rows: Vec<(Uuid, Uuid)> =
            members.iter().map(|(group, profile)| (*group.as_uuid(), *profile.as_uuid())).collect();
        self.bulk_rows(tx, "role_group_members (group_id, profile_id, manager, created_at)", &rows, |query, row| {
            query.bind(row.0).bind(row.1).bind(false).bind(now)
        })
        .await
    }

    /// Inserts direct role assignments.
    pub async fn bulk_insert_assignments(&self, tx: &mut Tx, assignments: &[(ProfileId, String)]) -> CsmResult<()> {
        let now = csm_db::now();
        let rows: Vec<(Uuid, Uuid, String)> =
            assignments.iter().map(|(profile, role)| (Uuid::now_v7(), *profile.as_uuid(), role.clone())).collect();
        self.bulk_rows(tx, "role_assignments (id, profile_id, role, created_at)", &rows, |query, row| {
            query.bind(row.0).bind(row.1).bind(row.2.clone()).bind(now)
        })
        .await
    }

    /// Refreshes the planner statistics after a bulk load (PostgreSQL plans
    /// from them; a freshly loaded table still looks empty until then).
    pub async fn analyze(&self) -> CsmResult<()> {
        csm_db::with_db!(self.db(), |pool| {
            sqlx::query("ANALYZE").execute(pool).await.map_err(db_error)?;
        });
        Ok(())
    }

    /// `INSERT INTO <table_and_columns> VALUES (...), (...)` in chunks; `bind`
    /// binds one row's values (as many as the column list names).
    async fn bulk_rows<Row>(
        &self,
        tx: &mut Tx,
        table_and_columns: &str,
        rows: &[Row],
        bind: impl for<'q> Fn(BulkQuery<'q>, &Row) -> BulkQuery<'q> + Copy,
    ) -> CsmResult<()> {
        let columns = table_and_columns.matches(',').count() + 1;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> =
                (0..chunk.len()).map(|row| format!("({})", placeholders(row * columns + 1, columns))).collect();
            let sql = format!("INSERT INTO {table_and_columns} VALUES {}", values.join(", "));
            let mut query = BulkQuery::new(&sql);
            for row in chunk {
                query = bind(query, row);
            }
            query.execute(tx).await?;
        }
        Ok(())
    }
}

/// Values bound for one statement, whichever backend runs it.
pub struct BulkQuery<'q> {
    sql: &'q str,
    values: Vec<BulkValue>,
}

enum BulkValue {
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Text(String),
    Int(i64),
    Bool(bool),
    Time(chrono::DateTime<chrono::Utc>),
}

impl<'q> BulkQuery<'q> {
    fn new(sql: &'q str) -> Self {
        Self { sql, values: Vec::new() }
    }

    pub fn bind(mut self, value: impl Into<BulkValueOf>) -> Self {
        self.values.push(value.into().0);
        self
    }

    async fn execute(self, tx: &mut Tx) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            let mut query = sqlx::query(self.sql);
            for value in self.values {
                query = match value {
                    BulkValue::Uuid(value) => query.bind(value),
                    BulkValue::OptUuid(value) => query.bind(value),
                    BulkValue::Text(value) => query.bind(value),
                    BulkValue::Int(value) => query.bind(value),
                    BulkValue::Bool(value) => query.bind(value),
                    BulkValue::Time(value) => query.bind(value),
                };
            }
            query.execute(&mut **tx).await.map_err(db_error)?;
        });
        Ok(())
    }
}

/// A value [`BulkQuery::bind`] accepts.
pub struct BulkValueOf(BulkValue);

impl From<Uuid> for BulkValueOf {
    fn from(value: Uuid) -> Self {
        Self(BulkValue::Uuid(value))
    }
}
impl From<Option<Uuid>> for BulkValueOf {
    fn from(value: Option<Uuid>) -> Self {
        Self(BulkValue::OptUuid(value))
    }
}
impl From<String> for BulkValueOf {
    fn from(value: String) -> Self {
        Self(BulkValue::Text(value))
    }
}
impl From<i64> for BulkValueOf {
    fn from(value: i64) -> Self {
        Self(BulkValue::Int(value))
    }
}
impl From<bool> for BulkValueOf {
    fn from(value: bool) -> Self {
        Self(BulkValue::Bool(value))
    }
}
impl From<chrono::DateTime<chrono::Utc>> for BulkValueOf {
    fn from(value: chrono::DateTime<chrono::Utc>) -> Self {
        Self(BulkValue::Time(value))
    }
}
