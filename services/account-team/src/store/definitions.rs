//! SQL of responsibility definitions (R3.12, R3.18) and account relationship
//! types (R3.4).

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, on_unique_violation, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::ResponsibilityId;

use super::{AccountTeamStore, where_clause};
use crate::domain::definitions::{
    EndKind, NewRelationshipType, NewResponsibilityDefinition, RelationshipType, RelationshipTypeId,
    ResponsibilityDefinition, ResponsibilityKind,
};
use crate::domain::relationships::AccountRelationshipId;

const RESPONSIBILITY_COLUMNS: &str =
    "id, name, kind, is_unique, description, seeded, created_at, updated_at, lower(name) AS sort_key";
const TYPE_COLUMNS: &str = "id, name, from_kind, to_kind, label, reverse_label, active, default_partner_type, \
                            created_at, updated_at, lower(name) AS sort_key";

/// Every (table, column) referencing a responsibility definition (R3.18).
const RESPONSIBILITY_REFERENCES: [(&str, &str); 5] = [
    ("team_members", "responsibility_id"),
    ("contact_relationships", "responsibility_id"),
    ("consumer_relationships", "responsibility_id"),
    ("responsibility_access_configurations", "responsibility_id"),
    ("related_party_configurations", "default_responsibility_id"),
];

fn responsibility_change(id: ResponsibilityId, operation: Operation) -> NewChange {
    NewChange::new("responsibility_definition", id, operation).attribute("responsibility_id", id)
}

fn type_change(id: RelationshipTypeId, operation: Operation) -> NewChange {
    NewChange::new("account_relationship_type", id, operation).attribute("account_relationship_type_id", id)
}

impl AccountTeamStore {
    // ------------------------------------------------ responsibility definitions

    /// Inserts a definition and its change. ALREADY_EXISTS reason RESPONSIBILITY_NAME_TAKEN.
    pub async fn insert_responsibility(
        &self,
        tx: &mut Tx,
        new: &NewResponsibilityDefinition,
    ) -> CsmResult<(ResponsibilityDefinition, u64)> {
        let now = csm_db::now();
        let definition = ResponsibilityDefinition {
            id: ResponsibilityId::new(),
            name: new.name.clone(),
            kind: new.kind,
            unique: new.unique,
            description: new.description.clone(),
            seeded: false,
            created_at: now,
            updated_at: now,
        };
        let inserted = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO responsibility_definitions \
                 (id, name, kind, is_unique, description, seeded, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7)",
            )
            .bind(definition.id.as_uuid())
            .bind(&definition.name)
            .bind(definition.kind.as_str())
            .bind(definition.unique)
            .bind(&definition.description)
            .bind(definition.created_at)
            .bind(definition.updated_at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        inserted.map_err(|error| responsibility_name_error(error, &definition.name))?;
        let revision = csm_changefeed::append(tx, &responsibility_change(definition.id, Operation::Created)).await?;
        Ok((definition, revision))
    }

    pub async fn get_responsibility(&self, id: ResponsibilityId) -> CsmResult<Option<ResponsibilityDefinition>> {
        let sql = format!("SELECT {RESPONSIBILITY_COLUMNS} FROM responsibility_definitions WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(responsibility_from_row).transpose()
        })
    }

    /// Several definitions by id (unknown ids are skipped).
    pub async fn get_responsibilities(&self, ids: &[ResponsibilityId]) -> CsmResult<Vec<ResponsibilityDefinition>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(definition) = self.get_responsibility(*id).await? {
                found.push(definition);
            }
        }
        Ok(found)
    }

    /// Locks the definition (a no-op UPDATE, so the transaction holds the
    /// write lock before it reads) and returns it. Team-member writes take the
    /// same lock, so a kind or unique change and a new member never interleave.
    pub async fn responsibility_for_update(
        &self,
        tx: &mut Tx,
        id: ResponsibilityId,
    ) -> CsmResult<Option<ResponsibilityDefinition>> {
        let sql = format!("SELECT {RESPONSIBILITY_COLUMNS} FROM responsibility_definitions WHERE id = $1");
        with_tx!(tx, |tx| {
            let locked = sqlx::query("UPDATE responsibility_definitions SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            if locked.rows_affected() == 0 {
                return Ok(None);
            }
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
            responsibility_from_row(&row).map(Some)
        })
    }

    /// Writes `updated` and its change; when the unique flag changed, the
    /// team-member copies follow in the same transaction (FAILED_PRECONDITION
    /// reason UNIQUE_RESPONSIBILITY_VIOLATED when a team already has several holders).
    pub async fn save_responsibility(
        &self,
        tx: &mut Tx,
        current: &ResponsibilityDefinition,
        updated: &ResponsibilityDefinition,
    ) -> CsmResult<(ResponsibilityDefinition, u64)> {
        let updated = ResponsibilityDefinition { updated_at: csm_db::now(), ..updated.clone() };
        let saved = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE responsibility_definitions SET name = $2, kind = $3, is_unique = $4, description = $5, \
                 updated_at = $6 WHERE id = $1",
            )
            .bind(updated.id.as_uuid())
            .bind(&updated.name)
            .bind(updated.kind.as_str())
            .bind(updated.unique)
            .bind(&updated.description)
            .bind(updated.updated_at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        saved.map_err(|error| responsibility_name_error(error, &updated.name))?;
        if updated.unique != current.unique {
            // The copies the partial unique indexes read (team members, contact relationships).
            let copied = with_tx!(tx, |tx| {
                let team =
                    sqlx::query("UPDATE team_members SET unique_responsibility = $2 WHERE responsibility_id = $1")
                        .bind(updated.id.as_uuid())
                        .bind(updated.unique)
                        .execute(&mut **tx)
                        .await;
                match team {
                    Ok(_) => sqlx::query(
                        "UPDATE contact_relationships SET unique_responsibility_id = \
                         CASE WHEN $2 THEN responsibility_id ELSE NULL END WHERE responsibility_id = $1",
                    )
                    .bind(updated.id.as_uuid())
                    .bind(updated.unique)
                    .execute(&mut **tx)
                    .await
                    .map(|_| ()),
                    Err(error) => Err(error),
                }
            });
            copied.map_err(|error| {
                on_unique_violation(error, || {
                    CsmError::failed_precondition(
                        "UNIQUE_RESPONSIBILITY_VIOLATED",
                        format!("{} cannot become unique: a team already has several holders", updated.name),
                    )
                })
            })?;
        }
        let revision = csm_changefeed::append(tx, &responsibility_change(updated.id, Operation::Updated)).await?;
        Ok((updated, revision))
    }

    /// How many rows of this service reference the definition (R3.18): team
    /// members, contact and consumer relationships, responsibility access
    /// configurations and related-party configuration defaults.
    pub async fn responsibility_reference_count(&self, tx: &mut Tx, id: ResponsibilityId) -> CsmResult<i64> {
        let mut total = 0;
        for (table, column) in RESPONSIBILITY_REFERENCES {
            let sql = format!("SELECT COUNT(*) AS references_count FROM {table} WHERE {column} = $1");
            total += with_tx!(tx, |tx| {
                let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
                row.int("references_count").map_err(db_error)?
            });
        }
        Ok(total)
    }

    /// Ids of the rows of `table` whose `column` is the definition.
    async fn referencing_ids(
        &self,
        tx: &mut Tx,
        table: &str,
        column: &str,
        id: ResponsibilityId,
    ) -> CsmResult<Vec<uuid::Uuid>> {
        let sql = format!("SELECT id FROM {table} WHERE {column} = $1 ORDER BY id");
        with_tx!(tx, |tx| {
            let rows = sqlx::query(&sql).bind(id.as_uuid()).fetch_all(&mut **tx).await.map_err(db_error)?;
            rows.iter().map(|row| row.uuid("id").map_err(db_error)).collect()
        })
    }

    /// Deletes the definition; with `cascade`, first every row referencing it,
    /// each with its own change (R3.18). Returns the cascaded row count and the
    /// last revision. Without `cascade`, a reference written meanwhile makes
    /// the foreign key refuse the delete.
    pub async fn delete_responsibility(
        &self,
        tx: &mut Tx,
        id: ResponsibilityId,
        cascade: bool,
    ) -> CsmResult<(i64, u64)> {
        let mut cascaded = 0;
        if cascade {
            for member in self.team_members_with_responsibility(tx, id).await? {
                self.delete_team_member_row(tx, &member).await?;
                cascaded += 1;
            }
            for relationship in self.referencing_ids(tx, "contact_relationships", "responsibility_id", id).await? {
                if self.delete_contact_relationship(tx, relationship).await?.is_some() {
                    cascaded += 1;
                }
            }
            for relationship in self.referencing_ids(tx, "consumer_relationships", "responsibility_id", id).await? {
                if self.delete_consumer_relationship(tx, relationship).await?.is_some() {
                    cascaded += 1;
                }
            }
            for configuration in
                self.referencing_ids(tx, "responsibility_access_configurations", "responsibility_id", id).await?
            {
                if self.delete_access_configuration(tx, configuration).await?.is_some() {
                    cascaded += 1;
                }
            }
            // Related-party types lose their default and become Listed (X7, R5.4).
            for configuration in
                self.referencing_ids(tx, "related_party_configurations", "default_responsibility_id", id).await?
            {
                let now = csm_db::now();
                with_tx!(tx, |tx| {
                    sqlx::query(
                        "UPDATE related_party_configurations SET default_responsibility_id = NULL, updated_at = $2 \
                         WHERE id = $1",
                    )
                    .bind(configuration)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected()
                });
                let change = NewChange::new("related_party_configuration", configuration, Operation::Updated)
                    .attribute("responsibility_id", id);
                csm_changefeed::append(tx, &change).await?;
                cascaded += 1;
            }
        }
        let deleted = with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM responsibility_definitions WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(CsmError::not_found("responsibility", id));
        }
        let revision = csm_changefeed::append(tx, &responsibility_change(id, Operation::Deleted)).await?;
        Ok((cascaded, revision))
    }

    /// One page of definitions ordered by name (key: the lower-cased name).
    pub async fn list_responsibilities(
        &self,
        page: &PageRequest,
        kind: Option<ResponsibilityKind>,
    ) -> CsmResult<Vec<(ResponsibilityDefinition, String)>> {
        let mut filters = Vec::new();
        let mut next = 1;
        if page.after.is_some() {
            filters.push(format!("lower(name) > ${next}"));
            next += 1;
        }
        if kind.is_some() {
            filters.push(format!("kind = ${next}"));
            next += 1;
        }
        let sql = format!(
            "SELECT {RESPONSIBILITY_COLUMNS} FROM responsibility_definitions {} ORDER BY lower(name) LIMIT ${next}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            if let Some(after) = &page.after {
                query = query.bind(after.clone());
            }
            if let Some(kind) = kind {
                query = query.bind(kind.as_str());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter()
                .map(|row| Ok((responsibility_from_row(row)?, row.text("sort_key").map_err(db_error)?)))
                .collect()
        })
    }

    // ------------------------------------------------------ relationship types

    /// Inserts a relationship type and its change. ALREADY_EXISTS reason RELATIONSHIP_TYPE_NAME_TAKEN.
    pub async fn insert_relationship_type(
        &self,
        tx: &mut Tx,
        new: &NewRelationshipType,
    ) -> CsmResult<(RelationshipType, u64)> {
        let now = csm_db::now();
        let kind = RelationshipType {
            id: RelationshipTypeId::new(),
            name: new.name.clone(),
            from_kind: new.from_kind,
            to_kind: new.to_kind,
            label: new.label.clone(),
            reverse_label: new.reverse_label.clone(),
            active: new.active,
            default_partner_type: false,
            created_at: now,
            updated_at: now,
        };
        let inserted = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO account_relationship_types (id, name, from_kind, to_kind, label, reverse_label, active, \
                 default_partner_type, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9)",
            )
            .bind(kind.id.as_uuid())
            .bind(&kind.name)
            .bind(kind.from_kind.as_str())
            .bind(kind.to_kind.as_str())
            .bind(&kind.label)
            .bind(&kind.reverse_label)
            .bind(kind.active)
            .bind(kind.created_at)
            .bind(kind.updated_at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        inserted.map_err(|error| type_name_error(error, &kind.name))?;
        let revision = csm_changefeed::append(tx, &type_change(kind.id, Operation::Created)).await?;
        Ok((kind, revision))
    }

    pub async fn get_relationship_type(&self, id: RelationshipTypeId) -> CsmResult<Option<RelationshipType>> {
        let sql = format!("SELECT {TYPE_COLUMNS} FROM account_relationship_types WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(type_from_row).transpose()
        })
    }

    /// Locks the type (no-op UPDATE first) and returns it. Relationship writes
    /// take the same lock, so a deactivation or kind change and a new
    /// relationship never interleave.
    pub async fn relationship_type_for_update(
        &self,
        tx: &mut Tx,
        id: RelationshipTypeId,
    ) -> CsmResult<Option<RelationshipType>> {
        let sql = format!("SELECT {TYPE_COLUMNS} FROM account_relationship_types WHERE id = $1");
        with_tx!(tx, |tx| {
            let locked = sqlx::query("UPDATE account_relationship_types SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            if locked.rows_affected() == 0 {
                return Ok(None);
            }
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
            type_from_row(&row).map(Some)
        })
    }

    /// Writes `kind` (its `updated_at` is set here) and its change.
    pub async fn save_relationship_type(
        &self,
        tx: &mut Tx,
        kind: &RelationshipType,
    ) -> CsmResult<(RelationshipType, u64)> {
        let kind = RelationshipType { updated_at: csm_db::now(), ..kind.clone() };
        let saved = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE account_relationship_types SET name = $2, from_kind = $3, to_kind = $4, label = $5, \
                 reverse_label = $6, active = $7, updated_at = $8 WHERE id = $1",
            )
            .bind(kind.id.as_uuid())
            .bind(&kind.name)
            .bind(kind.from_kind.as_str())
            .bind(kind.to_kind.as_str())
            .bind(&kind.label)
            .bind(&kind.reverse_label)
            .bind(kind.active)
            .bind(kind.updated_at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        saved.map_err(|error| type_name_error(error, &kind.name))?;
        let revision = csm_changefeed::append(tx, &type_change(kind.id, Operation::Updated)).await?;
        Ok((kind, revision))
    }

    /// (all, active) relationships of a type.
    pub async fn relationship_counts_of_type(&self, tx: &mut Tx, id: RelationshipTypeId) -> CsmResult<(i64, i64)> {
        with_tx!(tx, |tx| {
            let row = sqlx::query(
                "SELECT COUNT(*) AS total_count, \
                 COALESCE(SUM(CASE WHEN active THEN 1 ELSE 0 END), 0) AS active_count \
                 FROM account_relationships WHERE type_id = $1",
            )
            .bind(id.as_uuid())
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok::<_, CsmError>((row.int("total_count").map_err(db_error)?, row.int("active_count").map_err(db_error)?))
        })
    }

    /// Deletes the type and every relationship of it, one change per deleted
    /// row (R3.4). Returns the deleted relationship count and the last revision.
    pub async fn delete_relationship_type(&self, tx: &mut Tx, id: RelationshipTypeId) -> CsmResult<(i64, u64)> {
        let ids: Vec<uuid::Uuid> = with_tx!(tx, |tx| {
            let rows = sqlx::query("SELECT id FROM account_relationships WHERE type_id = $1")
                .bind(id.as_uuid())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("id").map_err(db_error)).collect::<CsmResult<Vec<_>>>()?
        });
        let mut deleted = 0;
        for relationship in ids {
            if let Some(relationship) =
                self.account_relationship_in(tx, AccountRelationshipId::from_uuid(relationship)).await?
            {
                self.delete_account_relationship_row(tx, &relationship).await?;
                deleted += 1;
            }
        }
        with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM account_relationship_types WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        let revision = csm_changefeed::append(tx, &type_change(id, Operation::Deleted)).await?;
        Ok((deleted, revision))
    }

    /// One page of relationship types ordered by name (key: the lower-cased name).
    pub async fn list_relationship_types(
        &self,
        page: &PageRequest,
        include_inactive: bool,
    ) -> CsmResult<Vec<(RelationshipType, String)>> {
        let mut filters = Vec::new();
        let mut next = 1;
        if page.after.is_some() {
            filters.push(format!("lower(name) > ${next}"));
            next += 1;
        }
        if !include_inactive {
            filters.push("active = TRUE".to_owned());
        }
        let sql = format!(
            "SELECT {TYPE_COLUMNS} FROM account_relationship_types {} ORDER BY lower(name) LIMIT ${next}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            if let Some(after) = &page.after {
                query = query.bind(after.clone());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(|row| Ok((type_from_row(row)?, row.text("sort_key").map_err(db_error)?))).collect()
        })
    }
}

fn responsibility_name_error(error: sqlx::Error, name: &str) -> CsmError {
    on_unique_violation(error, || {
        CsmError::already_exists(
            "RESPONSIBILITY_NAME_TAKEN",
            format!("a responsibility definition named {name:?} already exists"),
        )
        .with_metadata("field", "name")
    })
}

fn type_name_error(error: sqlx::Error, name: &str) -> CsmError {
    on_unique_violation(error, || {
        CsmError::already_exists(
            "RELATIONSHIP_TYPE_NAME_TAKEN",
            format!("an account relationship type named {name:?} already exists"),
        )
        .with_metadata("field", "name")
    })
}

pub(crate) fn responsibility_from_row(row: &impl DbRow) -> CsmResult<ResponsibilityDefinition> {
    let kind = row.text("kind").map_err(db_error)?;
    Ok(ResponsibilityDefinition {
        id: ResponsibilityId::from_uuid(row.uuid("id").map_err(db_error)?),
        name: row.text("name").map_err(db_error)?,
        kind: ResponsibilityKind::parse(&kind)
            .ok_or_else(|| CsmError::internal(format!("unknown responsibility kind {kind:?}")))?,
        unique: row.boolean("is_unique").map_err(db_error)?,
        description: row.text("description").map_err(db_error)?,
        seeded: row.boolean("seeded").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

pub(crate) fn type_from_row(row: &impl DbRow) -> CsmResult<RelationshipType> {
    let end = |column: &str| -> CsmResult<EndKind> {
        let value = row.text(column).map_err(db_error)?;
        EndKind::parse(&value).ok_or_else(|| CsmError::internal(format!("unknown end kind {value:?}")))
    };
    Ok(RelationshipType {
        id: RelationshipTypeId::from_uuid(row.uuid("id").map_err(db_error)?),
        name: row.text("name").map_err(db_error)?,
        from_kind: end("from_kind")?,
        to_kind: end("to_kind")?,
        label: row.text("label").map_err(db_error)?,
        reverse_label: row.text("reverse_label").map_err(db_error)?,
        active: row.boolean("active").map_err(db_error)?,
        default_partner_type: row.boolean("default_partner_type").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}
