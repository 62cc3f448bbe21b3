//! SQL of identity's directory: departments, security groups (with the default
//! group of each kind, kept in `settings`) and settings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, on_unique_violation, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{DepartmentId, SecurityGroupId};
use uuid::Uuid;

use super::IdentityStore;
use crate::domain::directory::{
    Department, IdentitySettings, NewDepartment, NewSecurityGroup, PresentationRoles, SEED_SECURITY_GROUPS,
    SecurityGroup, SecurityGroupKind, default_security_group_key, setting_keys,
};

const DEPARTMENT_COLUMNS: &str = "id, name, description, active, created_at, updated_at";
const SECURITY_GROUP_COLUMNS: &str =
    "id, name, kind, description, presentation_roles, default_presentation_role, created_at, updated_at";

/// Settings id of the "settings" change (the proto's entity_id "identity").
const SETTINGS_ENTITY_ID: &str = "identity";

impl IdentityStore {
    // ------------------------------------------------------------ departments

    /// Inserts a department and its change row in `tx`.
    /// ALREADY_EXISTS reason DEPARTMENT_NAME_TAKEN when the name is in use.
    pub async fn insert_department(&self, tx: &mut Tx, new: &NewDepartment) -> CsmResult<(Department, u64)> {
        let now = csm_db::now();
        let department = Department {
            id: DepartmentId::new(),
            name: new.name.clone(),
            description: new.description.clone(),
            active: true,
            created_at: now,
            updated_at: now,
        };
        let inserted = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO departments (id, name, description, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(department.id.as_uuid())
            .bind(&department.name)
            .bind(&department.description)
            .bind(department.active)
            .bind(department.created_at)
            .bind(department.updated_at)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        inserted.map_err(|error| department_write_error(error, &department.name))?;
        let change =
            NewChange::new("department", department.id, Operation::Created).attribute("department_id", department.id);
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((department, revision))
    }

    pub async fn get_department(&self, id: DepartmentId) -> CsmResult<Option<Department>> {
        let sql = format!("SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(department_from_row).transpose()
        })
    }

    /// Locks the department (a no-op UPDATE, so the transaction holds the write
    /// lock before it reads) and returns it.
    pub async fn department_for_update(&self, tx: &mut Tx, id: DepartmentId) -> CsmResult<Option<Department>> {
        let sql = format!("SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE id = $1");
        with_tx!(tx, |tx| {
            let locked = sqlx::query("UPDATE departments SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            if locked.rows_affected() == 0 {
                return Ok(None);
            }
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
            department_from_row(&row).map(Some)
        })
    }

    /// Writes `department` (its `updated_at` is set here) and its change row.
    pub async fn save_department(&self, tx: &mut Tx, department: &Department) -> CsmResult<(Department, u64)> {
        let department = Department { updated_at: csm_db::now(), ..department.clone() };
        let updated = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE departments SET name = $2, description = $3, active = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(department.id.as_uuid())
            .bind(&department.name)
            .bind(&department.description)
            .bind(department.active)
            .bind(department.updated_at)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        updated.map_err(|error| department_write_error(error, &department.name))?;
        let change =
            NewChange::new("department", department.id, Operation::Updated).attribute("department_id", department.id);
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((department, revision))
    }

    /// One page of departments ordered by id (fetches `page.fetch_limit()` rows).
    pub async fn list_departments(
        &self,
        page: &PageRequest,
        name_prefix: Option<&str>,
        include_inactive: bool,
    ) -> CsmResult<Vec<Department>> {
        let after = page_after(page)?;
        let mut filters = Vec::new();
        let mut next_parameter = 1;
        if after.is_some() {
            filters.push(format!("id > ${next_parameter}"));
            next_parameter += 1;
        }
        let prefix_pattern = name_prefix.map(like_prefix_pattern);
        if prefix_pattern.is_some() {
            filters.push(format!("LOWER(name) LIKE ${next_parameter} ESCAPE '\\'"));
            next_parameter += 1;
        }
        if !include_inactive {
            filters.push("active = TRUE".to_owned());
        }
        let sql = format!(
            "SELECT {DEPARTMENT_COLUMNS} FROM departments {} ORDER BY id LIMIT ${next_parameter}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            if let Some(after) = after {
                query = query.bind(after);
            }
            if let Some(pattern) = &prefix_pattern {
                query = query.bind(pattern.clone());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(department_from_row).collect()
        })
    }

    // -------------------------------------------------------- security groups

    /// Inserts a security group and its change row in `tx`; when it is to be
    /// the default group of its kind, it replaces the previous default (which
    /// gets its own change row). ALREADY_EXISTS reason SECURITY_GROUP_NAME_TAKEN.
    pub async fn insert_security_group(&self, tx: &mut Tx, new: &NewSecurityGroup) -> CsmResult<(SecurityGroup, u64)> {
        let group = self.insert_security_group_row(tx, new).await?;
        let change =
            NewChange::new("security_group", group.id, Operation::Created).attribute("security_group_id", group.id);
        let mut revision = csm_changefeed::append(tx, &change).await?;
        if new.default_group
            && let Some(replaced) = self.set_default_security_group(tx, group.kind, Some(group.id)).await?
        {
            revision = replaced;
        }
        Ok((group, revision))
    }

    async fn insert_security_group_row(&self, tx: &mut Tx, new: &NewSecurityGroup) -> CsmResult<SecurityGroup> {
        let now = csm_db::now();
        let group = SecurityGroup {
            id: SecurityGroupId::new(),
            name: new.name.clone(),
            kind: new.kind,
            description: new.description.clone(),
            presentation_roles: new.presentation_roles.clone(),
            default_group: new.default_group,
            created_at: now,
            updated_at: now,
        };
        let inserted = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO security_groups \
                 (id, name, kind, description, presentation_roles, default_presentation_role, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(group.id.as_uuid())
            .bind(&group.name)
            .bind(group.kind.as_str())
            .bind(&group.description)
            .bind(group.presentation_roles.roles_to_storage())
            .bind(group.presentation_roles.default_role())
            .bind(group.created_at)
            .bind(group.updated_at)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        inserted.map_err(|error| security_group_write_error(error, &group.name))?;
        Ok(group)
    }

    pub async fn get_security_group(&self, id: SecurityGroupId) -> CsmResult<Option<SecurityGroup>> {
        let sql = format!("SELECT {SECURITY_GROUP_COLUMNS} FROM security_groups WHERE id = $1");
        let defaults = self.default_security_group_ids().await?;
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.map(|row| security_group_from_row(&row, &defaults)).transpose()
        })
    }

    /// Reads a security group inside `tx` (e.g. to validate an assignment).
    pub async fn security_group_in(&self, tx: &mut Tx, id: SecurityGroupId) -> CsmResult<Option<SecurityGroup>> {
        let sql = format!("SELECT {SECURITY_GROUP_COLUMNS} FROM security_groups WHERE id = $1");
        let defaults = self.default_security_group_ids_in(tx).await?;
        with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.map(|row| security_group_from_row(&row, &defaults)).transpose()
        })
    }

    /// Locks the security group (no-op UPDATE first) and returns it.
    pub async fn security_group_for_update(
        &self,
        tx: &mut Tx,
        id: SecurityGroupId,
    ) -> CsmResult<Option<SecurityGroup>> {
        let locked = with_tx!(tx, |tx| {
            sqlx::query("UPDATE security_groups SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        if locked == 0 {
            return Ok(None);
        }
        self.security_group_in(tx, id).await
    }

    /// Writes `group` (its `updated_at` is set here), moves the default-group
    /// mark when its `default_group` changed, and appends the change rows.
    /// Returns the group and the last revision written.
    pub async fn save_security_group(
        &self,
        tx: &mut Tx,
        previous: &SecurityGroup,
        group: &SecurityGroup,
    ) -> CsmResult<(SecurityGroup, u64)> {
        let group = SecurityGroup { updated_at: csm_db::now(), ..group.clone() };
        let updated = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE security_groups SET name = $2, description = $3, presentation_roles = $4, \
                 default_presentation_role = $5, updated_at = $6 WHERE id = $1",
            )
            .bind(group.id.as_uuid())
            .bind(&group.name)
            .bind(&group.description)
            .bind(group.presentation_roles.roles_to_storage())
            .bind(group.presentation_roles.default_role())
            .bind(group.updated_at)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        updated.map_err(|error| security_group_write_error(error, &group.name))?;
        let change =
            NewChange::new("security_group", group.id, Operation::Updated).attribute("security_group_id", group.id);
        let mut revision = csm_changefeed::append(tx, &change).await?;
        if group.default_group != previous.default_group {
            let new_default = group.default_group.then_some(group.id);
            if let Some(replaced) = self.set_default_security_group(tx, group.kind, new_default).await? {
                revision = replaced;
            }
        }
        Ok((group, revision))
    }

    /// Makes `group` (or no group) the default of `kind`. A previous default
    /// that loses the mark gets an "updated" change row; returns its revision.
    async fn set_default_security_group(
        &self,
        tx: &mut Tx,
        kind: SecurityGroupKind,
        group: Option<SecurityGroupId>,
    ) -> CsmResult<Option<u64>> {
        let Some(key) = default_security_group_key(kind) else {
            return Ok(None);
        };
        let previous = self.default_security_group_ids_in(tx).await?.get(&kind).copied();
        match group {
            Some(group) => self.upsert_setting(tx, key, &group.to_string()).await?,
            None => self.delete_setting(tx, key).await?,
        }
        match previous {
            Some(previous) if Some(previous) != group => {
                let change = NewChange::new("security_group", previous, Operation::Updated)
                    .attribute("security_group_id", previous);
                Ok(Some(csm_changefeed::append(tx, &change).await?))
            }
            _ => Ok(None),
        }
    }

    /// The default security group of `kind` (R1.8): what a new employee
    /// (USER) or a new portal customer (CUSTOMER) gets when none is given.
    pub async fn default_security_group_in(
        &self,
        tx: &mut Tx,
        kind: SecurityGroupKind,
    ) -> CsmResult<Option<SecurityGroup>> {
        let Some(id) = self.default_security_group_ids_in(tx).await?.get(&kind).copied() else {
            return Ok(None);
        };
        self.security_group_in(tx, id).await
    }

    /// The default security group of `kind`, read outside a transaction.
    pub async fn default_security_group(&self, kind: SecurityGroupKind) -> CsmResult<Option<SecurityGroup>> {
        let Some(id) = self.default_security_group_ids().await?.get(&kind).copied() else {
            return Ok(None);
        };
        self.get_security_group(id).await
    }

    /// One page of security groups ordered by id, optionally of one kind.
    pub async fn list_security_groups(
        &self,
        page: &PageRequest,
        kind: Option<SecurityGroupKind>,
    ) -> CsmResult<Vec<SecurityGroup>> {
        let after = page_after(page)?;
        let defaults = self.default_security_group_ids().await?;
        let mut filters = Vec::new();
        let mut next_parameter = 1;
        if after.is_some() {
            filters.push(format!("id > ${next_parameter}"));
            next_parameter += 1;
        }
        if kind.is_some() {
            filters.push(format!("kind = ${next_parameter}"));
            next_parameter += 1;
        }
        let sql = format!(
            "SELECT {SECURITY_GROUP_COLUMNS} FROM security_groups {} ORDER BY id LIMIT ${next_parameter}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            if let Some(after) = after {
                query = query.bind(after);
            }
            if let Some(kind) = kind {
                query = query.bind(kind.as_str());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(|row| security_group_from_row(row, &defaults)).collect()
        })
    }

    /// Creates the out-of-the-box groups (R6.6) that were never created, each
    /// in its own transaction. Seed groups have fixed ids, so a renamed seed
    /// group is not created again; a seed group becomes the default of its
    /// kind only when it is created and its kind has no default yet.
    /// Returns the last revision written, if any.
    pub async fn seed_security_groups(&self) -> CsmResult<Option<u64>> {
        let mut last_revision = None;
        for (index, seed) in SEED_SECURITY_GROUPS.iter().enumerate() {
            let id = seed_security_group_id(index);
            let new = seed.to_new_group();
            let mut tx = self.db().begin().await?;
            // The INSERT is the first statement: the transaction writes (and
            // locks) before it reads. A conflict on id or name means present.
            let now = csm_db::now();
            let inserted = with_tx!(&mut tx, |tx| {
                sqlx::query(
                    "INSERT INTO security_groups \
                     (id, name, kind, description, presentation_roles, default_presentation_role, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(id.as_uuid())
                .bind(&new.name)
                .bind(new.kind.as_str())
                .bind(&new.description)
                .bind(new.presentation_roles.roles_to_storage())
                .bind(new.presentation_roles.default_role())
                .bind(now)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
            });
            if inserted == 0 {
                continue;
            }
            let change = NewChange::new("security_group", id, Operation::Created).attribute("security_group_id", id);
            let revision = csm_changefeed::append(&mut tx, &change).await?;
            if let Some(key) = default_security_group_key(new.kind).filter(|_| new.default_group) {
                // The default mark is part of the group: its "created" change covers it.
                if !self.default_security_group_ids_in(&mut tx).await?.contains_key(&new.kind) {
                    self.upsert_setting(&mut tx, key, &id.to_string()).await?;
                }
            }
            tx.commit().await?;
            last_revision = Some(revision);
        }
        Ok(last_revision)
    }

    // --------------------------------------------------------------- settings

    /// identity's switches (defaults for keys never written).
    pub async fn settings(&self) -> CsmResult<IdentitySettings> {
        let rows = with_db!(self.db(), |pool| {
            let rows =
                sqlx::query("SELECT key, value, updated_at FROM settings").fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(setting_from_row).collect::<CsmResult<Vec<_>>>()?
        });
        IdentitySettings::from_rows(&rows).map_err(CsmError::internal)
    }

    /// identity's switches, read inside `tx`.
    pub async fn settings_in(&self, tx: &mut Tx) -> CsmResult<IdentitySettings> {
        let rows = with_tx!(tx, |tx| {
            let rows = sqlx::query("SELECT key, value, updated_at FROM settings")
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
            rows.iter().map(setting_from_row).collect::<CsmResult<Vec<_>>>()?
        });
        IdentitySettings::from_rows(&rows).map_err(CsmError::internal)
    }

    /// Takes the settings' write lock before they are read and changed: the
    /// "settings" change row is appended first. Returns its revision.
    pub async fn lock_settings(&self, tx: &mut Tx) -> CsmResult<u64> {
        let change = NewChange::new("settings", SETTINGS_ENTITY_ID, Operation::Updated);
        csm_changefeed::append(tx, &change).await
    }

    /// Writes every switch of `settings`; returns them with the write time.
    pub async fn save_settings(&self, tx: &mut Tx, settings: &IdentitySettings) -> CsmResult<IdentitySettings> {
        let now = csm_db::now();
        for (key, value) in settings.to_rows() {
            self.upsert_setting_at(tx, key, &value, now).await?;
        }
        Ok(IdentitySettings { updated_at: Some(now), ..settings.clone() })
    }

    async fn upsert_setting(&self, tx: &mut Tx, key: &str, value: &str) -> CsmResult<()> {
        self.upsert_setting_at(tx, key, value, csm_db::now()).await
    }

    async fn upsert_setting_at(&self, tx: &mut Tx, key: &str, value: &str, at: DateTime<Utc>) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value)
            .bind(at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    async fn delete_setting(&self, tx: &mut Tx, key: &str) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut **tx).await.map_err(db_error)?;
        });
        Ok(())
    }

    async fn default_security_group_ids(&self) -> CsmResult<BTreeMap<SecurityGroupKind, SecurityGroupId>> {
        let rows = with_db!(self.db(), |pool| {
            let rows = sqlx::query("SELECT key, value, updated_at FROM settings WHERE key IN ($1, $2)")
                .bind(setting_keys::DEFAULT_USER_SECURITY_GROUP)
                .bind(setting_keys::DEFAULT_CUSTOMER_SECURITY_GROUP)
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(setting_from_row).collect::<CsmResult<Vec<_>>>()?
        });
        default_groups_from_settings(&rows)
    }

    async fn default_security_group_ids_in(
        &self,
        tx: &mut Tx,
    ) -> CsmResult<BTreeMap<SecurityGroupKind, SecurityGroupId>> {
        let rows = with_tx!(tx, |tx| {
            let rows = sqlx::query("SELECT key, value, updated_at FROM settings WHERE key IN ($1, $2)")
                .bind(setting_keys::DEFAULT_USER_SECURITY_GROUP)
                .bind(setting_keys::DEFAULT_CUSTOMER_SECURITY_GROUP)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
            rows.iter().map(setting_from_row).collect::<CsmResult<Vec<_>>>()?
        });
        default_groups_from_settings(&rows)
    }
}

/// The fixed id of the `index`-th seed group (R6.6): stable across restarts
/// and replicas, so seeding is idempotent even after a rename.
pub fn seed_security_group_id(index: usize) -> SecurityGroupId {
    // UUID v7 layout with a zero timestamp: sorts before every created group.
    SecurityGroupId::from_uuid(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0000 | (index as u128 + 1)))
}

fn default_groups_from_settings(
    rows: &[(String, String, DateTime<Utc>)],
) -> CsmResult<BTreeMap<SecurityGroupKind, SecurityGroupId>> {
    let mut defaults = BTreeMap::new();
    for kind in [SecurityGroupKind::User, SecurityGroupKind::Customer] {
        let Some(key) = default_security_group_key(kind) else { continue };
        if let Some((_, value, _)) = rows.iter().find(|(row_key, _, _)| row_key == key) {
            let id = SecurityGroupId::parse(value)
                .map_err(|_| CsmError::internal(format!("setting {key} is not a UUID: {value:?}")))?;
            defaults.insert(kind, id);
        }
    }
    Ok(defaults)
}

fn setting_from_row(row: &impl DbRow) -> CsmResult<(String, String, DateTime<Utc>)> {
    Ok((
        row.text("key").map_err(db_error)?,
        row.text("value").map_err(db_error)?,
        row.timestamp("updated_at").map_err(db_error)?,
    ))
}

fn department_from_row(row: &impl DbRow) -> CsmResult<Department> {
    Ok(Department {
        id: DepartmentId::from_uuid(row.uuid("id").map_err(db_error)?),
        name: row.text("name").map_err(db_error)?,
        description: row.text("description").map_err(db_error)?,
        active: row.boolean("active").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

fn security_group_from_row(
    row: &impl DbRow,
    defaults: &BTreeMap<SecurityGroupKind, SecurityGroupId>,
) -> CsmResult<SecurityGroup> {
    let id = SecurityGroupId::from_uuid(row.uuid("id").map_err(db_error)?);
    let kind_name = row.text("kind").map_err(db_error)?;
    let kind = SecurityGroupKind::parse(&kind_name)
        .ok_or_else(|| CsmError::internal(format!("unknown security group kind {kind_name:?}")))?;
    let presentation_roles = PresentationRoles::from_storage(
        &row.text("presentation_roles").map_err(db_error)?,
        &row.text("default_presentation_role").map_err(db_error)?,
    )
    .map_err(|error| CsmError::internal(format!("stored presentation roles of {id}: {error}")))?;
    Ok(SecurityGroup {
        id,
        name: row.text("name").map_err(db_error)?,
        kind,
        description: row.text("description").map_err(db_error)?,
        presentation_roles,
        default_group: defaults.get(&kind) == Some(&id),
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

fn department_write_error(error: sqlx::Error, name: &str) -> CsmError {
    on_unique_violation(error, || {
        CsmError::already_exists("DEPARTMENT_NAME_TAKEN", format!("a department named {name:?} already exists"))
            .with_metadata("field", "name")
    })
}

fn security_group_write_error(error: sqlx::Error, name: &str) -> CsmError {
    on_unique_violation(error, || {
        CsmError::already_exists("SECURITY_GROUP_NAME_TAKEN", format!("a security group named {name:?} already exists"))
            .with_metadata("field", "name")
    })
}

/// The keyset position of a page token: the last id of the previous page.
pub(crate) fn page_after(page: &PageRequest) -> CsmResult<Option<Uuid>> {
    page.after
        .as_deref()
        .map(|after| {
            Uuid::parse_str(after)
                .map_err(|_| CsmError::invalid_field("page_token", "is not a token returned by this list"))
        })
        .transpose()
}

/// `WHERE a AND b …`, or nothing.
pub(crate) fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() { String::new() } else { format!("WHERE {}", filters.join(" AND ")) }
}

/// A LIKE pattern matching names that start with `prefix`, case-insensitively
/// (compare with `LOWER(column) LIKE $n ESCAPE '\'`).
pub(crate) fn like_prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.to_lowercase().chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}
