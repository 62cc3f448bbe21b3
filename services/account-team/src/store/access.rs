//! SQL of responsibility access configurations (R5.2), related-party
//! configurations (R5.4, R5.5) and account access records (R5.12).
//! List-valued fields are stored as JSON text.

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, unique_as, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, ProfileId, ResponsibilityId};
use serde_json::{Value, json};
use uuid::Uuid;

use super::contacts::page_after;
use super::{AccountTeamStore, decode};
use crate::domain::access::{
    AccessConfiguration, AccessConfigurationFilter, AccessLevel, AccountAccess, AssociationType, ConditionOperator,
    FieldCondition, PartyEntityType, RecordTable, RelatedPartyConfiguration, RelatedPartyDraft, RelatedPartyFilter,
    ValidAccessConfiguration, seeded_access_configurations, seeded_related_parties,
};

fn conditions_to_json(conditions: &[FieldCondition]) -> String {
    Value::Array(
        conditions
            .iter()
            .map(|condition| {
                json!({"field": condition.field, "operator": condition.operator.as_str(), "values": condition.values})
            })
            .collect(),
    )
    .to_string()
}

fn conditions_from_json(text: &str) -> CsmResult<Vec<FieldCondition>> {
    let corrupt = || CsmError::internal(format!("malformed stored conditions {text:?}"));
    let value: Value = serde_json::from_str(text).map_err(|_| corrupt())?;
    let items = value.as_array().ok_or_else(corrupt)?;
    items
        .iter()
        .map(|item| {
            Ok(FieldCondition {
                field: item["field"].as_str().ok_or_else(corrupt)?.to_owned(),
                operator: ConditionOperator::parse(item["operator"].as_str().ok_or_else(corrupt)?)
                    .ok_or_else(corrupt)?,
                values: item["values"]
                    .as_array()
                    .ok_or_else(corrupt)?
                    .iter()
                    .map(|value| value.as_str().map(str::to_owned).ok_or_else(corrupt))
                    .collect::<CsmResult<_>>()?,
            })
        })
        .collect()
}

fn strings_to_json<T: ToString>(values: &[T]) -> String {
    Value::Array(values.iter().map(|value| Value::String(value.to_string())).collect()).to_string()
}

fn strings_from_json(text: &str) -> CsmResult<Vec<String>> {
    serde_json::from_str::<Vec<String>>(text).map_err(|_| CsmError::internal(format!("malformed stored list {text:?}")))
}

fn table(text: &str) -> CsmResult<RecordTable> {
    RecordTable::parse(text).ok_or_else(|| CsmError::internal(format!("unknown stored table {text:?}")))
}

const ACCESS_COLUMNS: &str = "id, name, responsibility_id, active, required_roles, access_levels, accessible_table, \
     accessible_filter, relationship_table, relationship_filter, association_type, relationship_field, \
     accessible_field, dependent_table, dependent_relationship_field, dependent_accessible_field, advanced_resolver, \
     seeded, created_at, updated_at";

fn access_from_row(row: &impl DbRow) -> CsmResult<AccessConfiguration> {
    let levels = strings_from_json(&row.text("access_levels").map_err(decode)?)?;
    let dependent = row.text("dependent_table").map_err(decode)?;
    let association = row.text("association_type").map_err(decode)?;
    Ok(AccessConfiguration {
        id: row.uuid("id").map_err(decode)?,
        name: row.text("name").map_err(decode)?,
        responsibility: ResponsibilityId::from_uuid(row.uuid("responsibility_id").map_err(decode)?),
        active: row.boolean("active").map_err(decode)?,
        required_roles: strings_from_json(&row.text("required_roles").map_err(decode)?)?,
        access_levels: levels
            .iter()
            .map(|level| AccessLevel::parse(level).ok_or_else(|| CsmError::internal("unknown stored access level")))
            .collect::<CsmResult<_>>()?,
        accessible_table: table(&row.text("accessible_table").map_err(decode)?)?,
        accessible_filter: conditions_from_json(&row.text("accessible_filter").map_err(decode)?)?,
        relationship_table: table(&row.text("relationship_table").map_err(decode)?)?,
        relationship_filter: conditions_from_json(&row.text("relationship_filter").map_err(decode)?)?,
        association_type: AssociationType::parse(&association)
            .ok_or_else(|| CsmError::internal("unknown stored association type"))?,
        relationship_field: row.text("relationship_field").map_err(decode)?,
        accessible_field: row.text("accessible_field").map_err(decode)?,
        dependent_table: if dependent.is_empty() { None } else { Some(table(&dependent)?) },
        dependent_relationship_field: row.text("dependent_relationship_field").map_err(decode)?,
        dependent_accessible_field: row.text("dependent_accessible_field").map_err(decode)?,
        advanced_resolver: row.text("advanced_resolver").map_err(decode)?,
        seeded: row.boolean("seeded").map_err(decode)?,
        created_at: row.timestamp("created_at").map_err(decode)?,
        updated_at: row.timestamp("updated_at").map_err(decode)?,
    })
}

const RELATED_PARTY_COLUMNS: &str = "id, name, applies_to, entity_type, reference_condition, \
     default_responsibility_id, default_order, seeded, created_at, updated_at";

fn related_party_from_row(row: &impl DbRow) -> CsmResult<RelatedPartyConfiguration> {
    let entity_type = row.text("entity_type").map_err(decode)?;
    Ok(RelatedPartyConfiguration {
        id: row.uuid("id").map_err(decode)?,
        name: row.text("name").map_err(decode)?,
        applies_to: table(&row.text("applies_to").map_err(decode)?)?,
        entity_type: PartyEntityType::parse(&entity_type)
            .ok_or_else(|| CsmError::internal("unknown stored party entity type"))?,
        reference_condition: conditions_from_json(&row.text("reference_condition").map_err(decode)?)?,
        default_responsibility: row
            .opt_uuid("default_responsibility_id")
            .map_err(decode)?
            .map(ResponsibilityId::from_uuid),
        default_order: row.int("default_order").map_err(decode)? as i32,
        seeded: row.boolean("seeded").map_err(decode)?,
        created_at: row.timestamp("created_at").map_err(decode)?,
        updated_at: row.timestamp("updated_at").map_err(decode)?,
    })
}

const ACCOUNT_ACCESS_COLUMNS: &str =
    "id, account_id, restrict_contact_access, allowed_contact_ids, restrict_account_access, created_at, updated_at";

fn account_access_from_row(row: &impl DbRow) -> CsmResult<AccountAccess> {
    Ok(AccountAccess {
        id: row.uuid("id").map_err(decode)?,
        account: AccountId::from_uuid(row.uuid("account_id").map_err(decode)?),
        restrict_contact_access: row.boolean("restrict_contact_access").map_err(decode)?,
        allowed_contacts: strings_from_json(&row.text("allowed_contact_ids").map_err(decode)?)?
            .iter()
            .map(|id| ProfileId::parse(id).map_err(CsmError::internal))
            .collect::<CsmResult<_>>()?,
        restrict_account_access: row.boolean("restrict_account_access").map_err(decode)?,
        created_at: row.timestamp("created_at").map_err(decode)?,
        updated_at: row.timestamp("updated_at").map_err(decode)?,
    })
}

fn access_change(configuration: &AccessConfiguration, operation: Operation) -> NewChange {
    NewChange::new("responsibility_access_configuration", configuration.id, operation)
        .attribute("responsibility_id", configuration.responsibility)
        .attribute("accessible_table", configuration.accessible_table.as_str())
}

fn related_party_change(configuration: &RelatedPartyConfiguration, operation: Operation) -> NewChange {
    NewChange::new("related_party_configuration", configuration.id, operation)
        .attribute("applies_to", configuration.applies_to.as_str())
}

fn account_access_change(access: &AccountAccess, operation: Operation) -> NewChange {
    NewChange::new("account_access", access.id, operation).attribute("account_id", access.account)
}

fn related_party_write_error(error: sqlx::Error) -> CsmError {
    unique_as(
        error,
        "RELATED_PARTY_TYPE_NAME_TAKEN",
        "a related-party type with this name already applies to this table",
    )
}

impl AccountTeamStore {
    /// Installs the seeded related-party types (R3.17, R5.5) and Account
    /// Manager access configurations (R3.15, R3.16); idempotent across restarts and replicas.
    pub async fn seed_access_vocabulary(&self) -> CsmResult<()> {
        let now = csm_db::now();
        with_db!(self.db(), |pool| {
            for seed in seeded_related_parties() {
                sqlx::query(
                    "INSERT INTO related_party_configurations (id, name, applies_to, entity_type, reference_condition, \
                     default_responsibility_id, default_order, seeded, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, '[]', $5, 100, TRUE, $6, $6) ON CONFLICT DO NOTHING",
                )
                .bind(seed.id)
                .bind(seed.name)
                .bind(seed.applies_to.as_str())
                .bind(seed.entity_type.as_str())
                .bind(seed.default_responsibility.map(Uuid::from))
                .bind(now)
                .execute(pool)
                .await
                .map_err(db_error)?;
            }
            for (id, configuration) in seeded_access_configurations() {
                sqlx::query(&format!(
                    "INSERT INTO responsibility_access_configurations ({ACCESS_COLUMNS}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, TRUE, $18, $18) \
                     ON CONFLICT DO NOTHING"
                ))
                .bind(id)
                .bind(&configuration.name)
                .bind(configuration.responsibility.as_uuid())
                .bind(configuration.active)
                .bind(strings_to_json(&configuration.required_roles))
                .bind(strings_to_json(&configuration.access_levels.iter().map(|l| l.as_str()).collect::<Vec<_>>()))
                .bind(configuration.accessible_table.as_str())
                .bind(conditions_to_json(&configuration.accessible_filter))
                .bind(configuration.relationship_table.as_str())
                .bind(conditions_to_json(&configuration.relationship_filter))
                .bind(configuration.association_type.as_str())
                .bind(&configuration.relationship_field)
                .bind(&configuration.accessible_field)
                .bind(configuration.dependent_table.map(|table| table.as_str()).unwrap_or_default())
                .bind(&configuration.dependent_relationship_field)
                .bind(&configuration.dependent_accessible_field)
                .bind(&configuration.advanced_resolver)
                .bind(now)
                .execute(pool)
                .await
                .map_err(db_error)?;
            }
        });
        Ok(())
    }

    /// Inserts (`existing` = None) or rewrites a responsibility access configuration with its change row.
    pub async fn save_access_configuration(
        &self,
        tx: &mut Tx,
        id: Uuid,
        configuration: &ValidAccessConfiguration,
        existing: Option<&AccessConfiguration>,
    ) -> CsmResult<(AccessConfiguration, u64)> {
        let now = csm_db::now();
        let saved = AccessConfiguration {
            id,
            name: configuration.name.clone(),
            responsibility: configuration.responsibility,
            active: configuration.active,
            required_roles: configuration.required_roles.clone(),
            access_levels: configuration.access_levels.clone(),
            accessible_table: configuration.accessible_table,
            accessible_filter: configuration.accessible_filter.clone(),
            relationship_table: configuration.relationship_table,
            relationship_filter: configuration.relationship_filter.clone(),
            association_type: configuration.association_type,
            relationship_field: configuration.relationship_field.clone(),
            accessible_field: configuration.accessible_field.clone(),
            dependent_table: configuration.dependent_table,
            dependent_relationship_field: configuration.dependent_relationship_field.clone(),
            dependent_accessible_field: configuration.dependent_accessible_field.clone(),
            advanced_resolver: configuration.advanced_resolver.clone(),
            seeded: existing.is_some_and(|existing| existing.seeded),
            created_at: existing.map(|existing| existing.created_at).unwrap_or(now),
            updated_at: now,
        };
        let sql = if existing.is_some() {
            "UPDATE responsibility_access_configurations SET name = $2, responsibility_id = $3, active = $4, \
             required_roles = $5, access_levels = $6, accessible_table = $7, accessible_filter = $8, \
             relationship_table = $9, relationship_filter = $10, association_type = $11, relationship_field = $12, \
             accessible_field = $13, dependent_table = $14, dependent_relationship_field = $15, \
             dependent_accessible_field = $16, advanced_resolver = $17, seeded = $18, updated_at = $20 \
             WHERE id = $1 AND created_at = $19"
                .to_owned()
        } else {
            format!(
                "INSERT INTO responsibility_access_configurations ({ACCESS_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
            )
        };
        with_tx!(tx, |tx| {
            sqlx::query(&sql)
                .bind(saved.id)
                .bind(&saved.name)
                .bind(saved.responsibility.as_uuid())
                .bind(saved.active)
                .bind(strings_to_json(&saved.required_roles))
                .bind(strings_to_json(&saved.access_levels.iter().map(|level| level.as_str()).collect::<Vec<_>>()))
                .bind(saved.accessible_table.as_str())
                .bind(conditions_to_json(&saved.accessible_filter))
                .bind(saved.relationship_table.as_str())
                .bind(conditions_to_json(&saved.relationship_filter))
                .bind(saved.association_type.as_str())
                .bind(&saved.relationship_field)
                .bind(&saved.accessible_field)
                .bind(saved.dependent_table.map(|table| table.as_str()).unwrap_or_default())
                .bind(&saved.dependent_relationship_field)
                .bind(&saved.dependent_accessible_field)
                .bind(&saved.advanced_resolver)
                .bind(saved.seeded)
                .bind(saved.created_at)
                .bind(saved.updated_at)
                .execute(&mut **tx)
                .await
                .map_err(|error| match error {
                    sqlx::Error::Database(ref database)
                        if database.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
                    {
                        CsmError::not_found("responsibility", saved.responsibility)
                    }
                    error => db_error(error),
                })?;
        });
        let operation = if existing.is_some() { Operation::Updated } else { Operation::Created };
        let revision = csm_changefeed::append(tx, &access_change(&saved, operation)).await?;
        Ok((saved, revision))
    }

    pub async fn access_configuration(&self, id: Uuid) -> CsmResult<Option<AccessConfiguration>> {
        let sql = format!("SELECT {ACCESS_COLUMNS} FROM responsibility_access_configurations WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(access_from_row).transpose()
        })
    }

    pub async fn delete_access_configuration(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<u64>> {
        let sql = format!("DELETE FROM responsibility_access_configurations WHERE id = $1 RETURNING {ACCESS_COLUMNS}");
        let deleted = with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.as_ref().map(access_from_row).transpose()?
        });
        match deleted {
            Some(deleted) => Ok(Some(csm_changefeed::append(tx, &access_change(&deleted, Operation::Deleted)).await?)),
            None => Ok(None),
        }
    }

    /// One page ordered by id (time-ordered ids: creation order; seeded rows last).
    pub async fn list_access_configurations(
        &self,
        filter: &AccessConfigurationFilter,
        page: &PageRequest,
    ) -> CsmResult<Vec<AccessConfiguration>> {
        let after = page_after(page)?;
        let sql = format!(
            "SELECT {ACCESS_COLUMNS} FROM responsibility_access_configurations \
             WHERE ($1 IS NULL OR responsibility_id = $1) AND ($2 IS NULL OR accessible_table = $2) \
             AND (active OR NOT $3) AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(filter.responsibility.map(Uuid::from))
                .bind(filter.accessible_table.map(|table| table.as_str()))
                .bind(filter.active_only)
                .bind(after)
                .bind(page.fetch_limit())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(access_from_row).collect()
        })
    }

    /// Inserts (`existing` = None) or rewrites a related-party configuration with its change row.
    pub async fn save_related_party(
        &self,
        tx: &mut Tx,
        id: Uuid,
        draft: &RelatedPartyDraft,
        existing: Option<&RelatedPartyConfiguration>,
    ) -> CsmResult<(RelatedPartyConfiguration, u64)> {
        let now = csm_db::now();
        let saved = RelatedPartyConfiguration {
            id,
            name: draft.name.clone(),
            applies_to: draft.applies_to,
            entity_type: draft.entity_type,
            reference_condition: draft.reference_condition.clone(),
            default_responsibility: draft.default_responsibility,
            default_order: draft.default_order,
            seeded: existing.is_some_and(|existing| existing.seeded),
            created_at: existing.map(|existing| existing.created_at).unwrap_or(now),
            updated_at: now,
        };
        let sql = if existing.is_some() {
            "UPDATE related_party_configurations SET name = $2, applies_to = $3, entity_type = $4, \
             reference_condition = $5, default_responsibility_id = $6, default_order = $7, seeded = $8, \
             updated_at = $10 WHERE id = $1 AND created_at = $9"
                .to_owned()
        } else {
            format!(
                "INSERT INTO related_party_configurations ({RELATED_PARTY_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            )
        };
        with_tx!(tx, |tx| {
            sqlx::query(&sql)
                .bind(saved.id)
                .bind(&saved.name)
                .bind(saved.applies_to.as_str())
                .bind(saved.entity_type.as_str())
                .bind(conditions_to_json(&saved.reference_condition))
                .bind(saved.default_responsibility.map(Uuid::from))
                .bind(saved.default_order)
                .bind(saved.seeded)
                .bind(saved.created_at)
                .bind(saved.updated_at)
                .execute(&mut **tx)
                .await
                .map_err(related_party_write_error)?;
        });
        let operation = if existing.is_some() { Operation::Updated } else { Operation::Created };
        let revision = csm_changefeed::append(tx, &related_party_change(&saved, operation)).await?;
        Ok((saved, revision))
    }

    pub async fn related_party(&self, id: Uuid) -> CsmResult<Option<RelatedPartyConfiguration>> {
        let sql = format!("SELECT {RELATED_PARTY_COLUMNS} FROM related_party_configurations WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(related_party_from_row).transpose()
        })
    }

    /// Deletes a related-party type; FAILED_PRECONDITION RELATED_PARTY_TYPE_IN_USE
    /// when relationships of this service reference it (the foreign keys say so).
    pub async fn delete_related_party(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<u64>> {
        let sql = format!("DELETE FROM related_party_configurations WHERE id = $1 RETURNING {RELATED_PARTY_COLUMNS}");
        let deleted = with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(|error| match error {
                sqlx::Error::Database(ref database)
                    if database.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
                {
                    CsmError::failed_precondition(
                        "RELATED_PARTY_TYPE_IN_USE",
                        "relationships of this type exist; delete or retype them first",
                    )
                }
                error => db_error(error),
            })?;
            row.as_ref().map(related_party_from_row).transpose()?
        });
        match deleted {
            Some(deleted) => {
                Ok(Some(csm_changefeed::append(tx, &related_party_change(&deleted, Operation::Deleted)).await?))
            }
            None => Ok(None),
        }
    }

    /// One page ordered by (applies_to, lower(name)); the key is "applies_to\u{1f}lower(name)".
    pub async fn list_related_parties(
        &self,
        filter: &RelatedPartyFilter,
        page: &PageRequest,
    ) -> CsmResult<Vec<RelatedPartyConfiguration>> {
        let (after_table, after_name) = match page.after.as_deref() {
            None => (None, None),
            Some(after) => {
                let (table, name) = after.split_once('\u{1f}').ok_or_else(|| {
                    CsmError::invalid_argument("INVALID_PAGE_TOKEN", "page_token is not a token of this list")
                })?;
                (Some(table.to_owned()), Some(name.to_owned()))
            }
        };
        let sql = format!(
            "SELECT {RELATED_PARTY_COLUMNS} FROM related_party_configurations \
             WHERE ($1 IS NULL OR applies_to = $1) AND ($2 IS NULL OR entity_type = $2) \
             AND ($3 IS NULL OR applies_to > $3 OR (applies_to = $3 AND lower(name) > $4)) \
             ORDER BY applies_to, lower(name) LIMIT $5"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(filter.applies_to.map(|table| table.as_str()))
                .bind(filter.entity_type.map(|kind| kind.as_str()))
                .bind(after_table)
                .bind(after_name)
                .bind(page.fetch_limit())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(related_party_from_row).collect()
        })
    }

    /// Inserts an account access record; ALREADY_EXISTS ACCOUNT_ACCESS_EXISTS
    /// when the account has one (unique account_id, R5.12).
    pub async fn insert_account_access(&self, tx: &mut Tx, access: &AccountAccess) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query(&format!(
                "INSERT INTO account_accesses ({ACCOUNT_ACCESS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(access.id)
            .bind(access.account.as_uuid())
            .bind(access.restrict_contact_access)
            .bind(strings_to_json(&access.allowed_contacts))
            .bind(access.restrict_account_access)
            .bind(access.created_at)
            .bind(access.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(|error| {
                unique_as(error, "ACCOUNT_ACCESS_EXISTS", "the account already has an account access record")
            })?;
        });
        csm_changefeed::append(tx, &account_access_change(access, Operation::Created)).await
    }

    pub async fn account_access(&self, id: Uuid) -> CsmResult<Option<AccountAccess>> {
        let sql = format!("SELECT {ACCOUNT_ACCESS_COLUMNS} FROM account_accesses WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(account_access_from_row).transpose()
        })
    }

    pub async fn account_access_of(&self, account: AccountId) -> CsmResult<Option<AccountAccess>> {
        let sql = format!("SELECT {ACCOUNT_ACCESS_COLUMNS} FROM account_accesses WHERE account_id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(account.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(account_access_from_row).transpose()
        })
    }

    pub async fn update_account_access(&self, tx: &mut Tx, access: &AccountAccess) -> CsmResult<Option<u64>> {
        let updated = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE account_accesses SET restrict_contact_access = $2, allowed_contact_ids = $3, \
                 restrict_account_access = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(access.id)
            .bind(access.restrict_contact_access)
            .bind(strings_to_json(&access.allowed_contacts))
            .bind(access.restrict_account_access)
            .bind(access.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected()
        });
        if updated == 0 {
            return Ok(None);
        }
        Ok(Some(csm_changefeed::append(tx, &account_access_change(access, Operation::Updated)).await?))
    }

    pub async fn delete_account_access(&self, tx: &mut Tx, id: Uuid) -> CsmResult<Option<u64>> {
        let sql = format!("DELETE FROM account_accesses WHERE id = $1 RETURNING {ACCOUNT_ACCESS_COLUMNS}");
        let deleted = with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.as_ref().map(account_access_from_row).transpose()?
        });
        match deleted {
            Some(deleted) => {
                Ok(Some(csm_changefeed::append(tx, &account_access_change(&deleted, Operation::Deleted)).await?))
            }
            None => Ok(None),
        }
    }

    /// One page ordered by account_id.
    pub async fn list_account_accesses(
        &self,
        restricted_only: bool,
        page: &PageRequest,
    ) -> CsmResult<Vec<AccountAccess>> {
        let after = page_after(page)?;
        let sql = format!(
            "SELECT {ACCOUNT_ACCESS_COLUMNS} FROM account_accesses \
             WHERE (NOT $1 OR restrict_contact_access OR restrict_account_access) AND ($2 IS NULL OR account_id > $2) \
             ORDER BY account_id LIMIT $3"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(restricted_only)
                .bind(after)
                .bind(page.fetch_limit())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(account_access_from_row).collect()
        })
    }

    /// Whether `contact` has a contact relationship on `account`.
    pub async fn has_contact_relationship(&self, account: AccountId, contact: ProfileId) -> CsmResult<bool> {
        with_db!(self.db(), |pool| {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM contact_relationships WHERE account_id = $1 AND contact_id = $2",
            )
            .bind(account.as_uuid())
            .bind(contact.as_uuid())
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
            Ok(count > 0)
        })
    }
}
