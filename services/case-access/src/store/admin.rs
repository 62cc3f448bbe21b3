//! SQL of the settings row and of the security groups' Cherwell rights
//! (contract: Settings, SecurityGroupRights; R6.3–R6.6).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use csm_db::{Db, DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::SecurityGroupId;
use uuid::Uuid;

use crate::domain::principal::{OwnershipRelation, RecordRight, SecurityGroupRights};
use crate::domain::table::{OwnershipHolds, TableSettings};

const SETTINGS_COLUMNS: &str = "nonb2x_case_agents_both, partner_sees_account_cases, use_asset_contact_relationship, \
     consumer_max_new_cases_daily, consumer_max_comments_per_case_daily, consumer_max_attachments_per_record, \
     holds_owner, holds_owner_group, holds_department, holds_manager, updated_at";

fn limit(row: &impl DbRow, column: &str) -> CsmResult<u32> {
    let value = row.int(column).map_err(db_error)?;
    u32::try_from(value).map_err(|_| CsmError::internal(format!("settings column {column} holds {value}")))
}

fn settings_from_row(row: &impl DbRow) -> CsmResult<(TableSettings, DateTime<Utc>)> {
    let flag = |column: &str| row.boolean(column).map_err(db_error);
    let settings = TableSettings {
        nonb2x_case_agents_both: flag("nonb2x_case_agents_both")?,
        partner_sees_account_cases: flag("partner_sees_account_cases")?,
        use_asset_contact_relationship: flag("use_asset_contact_relationship")?,
        consumer_max_new_cases_daily: limit(row, "consumer_max_new_cases_daily")?,
        consumer_max_comments_per_case_daily: limit(row, "consumer_max_comments_per_case_daily")?,
        consumer_max_attachments_per_record: limit(row, "consumer_max_attachments_per_record")?,
        holds: OwnershipHolds {
            owner: flag("holds_owner")?,
            owner_group: flag("holds_owner_group")?,
            department: flag("holds_department")?,
            manager: flag("holds_manager")?,
        },
    };
    Ok((settings, row.timestamp("updated_at").map_err(db_error)?))
}

/// The stored settings and when they last changed.
pub async fn settings(db: &Db) -> CsmResult<(TableSettings, DateTime<Utc>)> {
    let sql = format!("SELECT {SETTINGS_COLUMNS} FROM case_access_settings WHERE id = 1");
    with_db!(db, |pool| {
        let row = sqlx::query(&sql).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(settings_from_row).transpose()?.ok_or_else(|| CsmError::internal("settings row missing"))
    })
}

/// The settings fields an update writes; `None` keeps the stored value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsChanges {
    pub nonb2x_case_agents_both: Option<bool>,
    pub partner_sees_account_cases: Option<bool>,
    pub use_asset_contact_relationship: Option<bool>,
    pub consumer_max_new_cases_daily: Option<u32>,
    pub consumer_max_comments_per_case_daily: Option<u32>,
    pub consumer_max_attachments_per_record: Option<u32>,
    pub holds_owner: Option<bool>,
    pub holds_owner_group: Option<bool>,
    pub holds_department: Option<bool>,
    pub holds_manager: Option<bool>,
}

impl SettingsChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The field names it changes (the change row's attribute).
    pub fn fields(&self) -> Vec<&'static str> {
        let named: [(&'static str, bool); 10] = [
            ("nonb2x_case_agents", self.nonb2x_case_agents_both.is_some()),
            ("partner_sees_account_cases", self.partner_sees_account_cases.is_some()),
            ("use_asset_contact_relationship", self.use_asset_contact_relationship.is_some()),
            ("consumer_max_new_cases_daily", self.consumer_max_new_cases_daily.is_some()),
            ("consumer_max_comments_per_case_daily", self.consumer_max_comments_per_case_daily.is_some()),
            ("consumer_max_attachments_per_record", self.consumer_max_attachments_per_record.is_some()),
            ("ownership_holds.owner_defined", self.holds_owner.is_some()),
            ("ownership_holds.owner_group_defined", self.holds_owner_group.is_some()),
            ("ownership_holds.department_defined", self.holds_department.is_some()),
            ("ownership_holds.manager_defined", self.holds_manager.is_some()),
        ];
        named.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name).collect()
    }
}

/// Writes the changed fields in one conditional UPDATE (the row lock
/// serializes concurrent updates, so no field is lost) and returns the row.
pub async fn save_settings(tx: &mut Tx, changes: &SettingsChanges) -> CsmResult<(TableSettings, DateTime<Utc>)> {
    let sql = format!(
        "UPDATE case_access_settings SET \
         nonb2x_case_agents_both = COALESCE($1, nonb2x_case_agents_both), \
         partner_sees_account_cases = COALESCE($2, partner_sees_account_cases), \
         use_asset_contact_relationship = COALESCE($3, use_asset_contact_relationship), \
         consumer_max_new_cases_daily = COALESCE($4, consumer_max_new_cases_daily), \
         consumer_max_comments_per_case_daily = COALESCE($5, consumer_max_comments_per_case_daily), \
         consumer_max_attachments_per_record = COALESCE($6, consumer_max_attachments_per_record), \
         holds_owner = COALESCE($7, holds_owner), \
         holds_owner_group = COALESCE($8, holds_owner_group), \
         holds_department = COALESCE($9, holds_department), \
         holds_manager = COALESCE($10, holds_manager), \
         updated_at = $11 WHERE id = 1 RETURNING {SETTINGS_COLUMNS}"
    );
    let wide = |value: Option<u32>| value.map(i64::from);
    with_tx!(tx, |tx| {
        let row = sqlx::query(&sql)
            .bind(changes.nonb2x_case_agents_both)
            .bind(changes.partner_sees_account_cases)
            .bind(changes.use_asset_contact_relationship)
            .bind(wide(changes.consumer_max_new_cases_daily))
            .bind(wide(changes.consumer_max_comments_per_case_daily))
            .bind(wide(changes.consumer_max_attachments_per_record))
            .bind(changes.holds_owner)
            .bind(changes.holds_owner_group)
            .bind(changes.holds_department)
            .bind(changes.holds_manager)
            .bind(csm_db::now())
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
        settings_from_row(&row)
    })
}

// ------------------------------------------------------------ security group rights

fn rights_text(rights: &BTreeSet<RecordRight>) -> String {
    rights.iter().map(|right| right.code()).collect::<Vec<_>>().join(",")
}

fn rights_from_text(text: &str) -> CsmResult<BTreeSet<RecordRight>> {
    text.split(',')
        .filter(|code| !code.is_empty())
        .map(|code| RecordRight::from_code(code).ok_or_else(|| CsmError::internal(format!("stored right {code:?}"))))
        .collect()
}

fn relations_text(by_relation: &BTreeMap<OwnershipRelation, BTreeSet<RecordRight>>) -> String {
    by_relation
        .iter()
        .map(|(relation, rights)| format!("{}={}", relation.code(), rights_text(rights)))
        .collect::<Vec<_>>()
        .join(";")
}

fn relations_from_text(text: &str) -> CsmResult<BTreeMap<OwnershipRelation, BTreeSet<RecordRight>>> {
    text.split(';')
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (relation, rights) = entry.split_once('=').unwrap_or((entry, ""));
            let relation = OwnershipRelation::from_code(relation)
                .ok_or_else(|| CsmError::internal(format!("stored relation {relation:?}")))?;
            Ok((relation, rights_from_text(rights)?))
        })
        .collect()
}

/// Stored rights with their last change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRights {
    pub rights: SecurityGroupRights,
    pub updated_at: DateTime<Utc>,
}

const RIGHTS_COLUMNS: &str = "security_group_id, base_rights, rights_based_on_ownership, ownership_rights, updated_at";

fn rights_from_row(row: &impl DbRow) -> CsmResult<StoredRights> {
    Ok(StoredRights {
        rights: SecurityGroupRights {
            security_group: SecurityGroupId::from_uuid(row.uuid("security_group_id").map_err(db_error)?),
            base: rights_from_text(&row.text("base_rights").map_err(db_error)?)?,
            rights_based_on_ownership: row.boolean("rights_based_on_ownership").map_err(db_error)?,
            by_relation: relations_from_text(&row.text("ownership_rights").map_err(db_error)?)?,
        },
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

/// The rights of one group, if set.
pub async fn security_group_rights(db: &Db, group: SecurityGroupId) -> CsmResult<Option<StoredRights>> {
    let sql = format!("SELECT {RIGHTS_COLUMNS} FROM security_group_rights WHERE security_group_id = $1");
    with_db!(db, |pool| {
        let row = sqlx::query(&sql).bind(group.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
        row.as_ref().map(rights_from_row).transpose()
    })
}

/// Up to `limit` groups' rights after `after`, ordered by security group id.
pub async fn list_security_group_rights(db: &Db, after: Option<Uuid>, limit: i64) -> CsmResult<Vec<StoredRights>> {
    let sql = format!(
        "SELECT {RIGHTS_COLUMNS} FROM security_group_rights \
         WHERE ($1 IS NULL OR security_group_id > $1) ORDER BY security_group_id LIMIT $2"
    );
    with_db!(db, |pool| {
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(pool).await.map_err(db_error)?;
        rows.iter().map(rights_from_row).collect()
    })
}

/// Creates or replaces the rights of one group.
pub async fn upsert_security_group_rights(tx: &mut Tx, rights: &SecurityGroupRights) -> CsmResult<StoredRights> {
    let sql = format!(
        "INSERT INTO security_group_rights ({RIGHTS_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (security_group_id) DO UPDATE SET base_rights = excluded.base_rights, \
         rights_based_on_ownership = excluded.rights_based_on_ownership, \
         ownership_rights = excluded.ownership_rights, updated_at = excluded.updated_at \
         RETURNING {RIGHTS_COLUMNS}"
    );
    with_tx!(tx, |tx| {
        let row = sqlx::query(&sql)
            .bind(rights.security_group.as_uuid())
            .bind(rights_text(&rights.base))
            .bind(rights.rights_based_on_ownership)
            .bind(relations_text(&rights.by_relation))
            .bind(csm_db::now())
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
        rights_from_row(&row)
    })
}

/// Inserts the rights of a group that has none; false when it had some.
pub async fn insert_security_group_rights(tx: &mut Tx, rights: &SecurityGroupRights) -> CsmResult<bool> {
    let sql = format!(
        "INSERT INTO security_group_rights ({RIGHTS_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (security_group_id) DO NOTHING"
    );
    with_tx!(tx, |tx| {
        let done = sqlx::query(&sql)
            .bind(rights.security_group.as_uuid())
            .bind(rights_text(&rights.base))
            .bind(rights.rights_based_on_ownership)
            .bind(relations_text(&rights.by_relation))
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    })
}

/// Removes the rights of one group; false when it had none.
pub async fn delete_security_group_rights(tx: &mut Tx, group: SecurityGroupId) -> CsmResult<bool> {
    with_tx!(tx, |tx| {
        let done = sqlx::query("DELETE FROM security_group_rights WHERE security_group_id = $1")
            .bind(group.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    })
}

/// Marks `group` as having had its out-of-the-box rights seeded; false when
/// it already was (then nothing is to be seeded: a deliberate delete stays).
pub async fn mark_seeded(tx: &mut Tx, group: SecurityGroupId) -> CsmResult<bool> {
    with_tx!(tx, |tx| {
        let done = sqlx::query(
            "INSERT INTO security_group_rights_seeded (security_group_id, seeded_at) VALUES ($1, $2) \
             ON CONFLICT (security_group_id) DO NOTHING",
        )
        .bind(group.as_uuid())
        .bind(csm_db::now())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    })
}
