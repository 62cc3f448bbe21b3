//! SQL of contact relationships (R3.7–R3.10) and consumer / household member
//! relationships (R3.12, R3.13).
//!
//! R3.9 and R3.10 hold under concurrency because the database enforces them:
//! `unique_responsibility_id` carries a partial unique index per account, and a
//! new row of an (account, contact) pair is admitted by a guarded upsert of
//! `contact_relationship_pairs` (the first statement of the transaction) that
//! refuses a second row while several responsibilities are not allowed.

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, is_unique_violation, unique_as, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, ConsumerId, HouseholdId, ProfileId, ResponsibilityId};
use uuid::Uuid;

use super::{AccountTeamStore, decode};
use crate::domain::contacts::{
    ConsumerRelationship, ConsumerRelationshipFilter, ContactRelationship, ContactRelationshipFilter,
    ResponsibilityKind, ResponsibilityRef,
};

const CONTACT_COLUMNS: &str =
    "id, account_id, contact_id, related_party_configuration_id, responsibility_id, sort_order, created_at, updated_at";
const CONSUMER_COLUMNS: &str = "id, consumer_id, related_consumer_id, household_id, related_party_configuration_id, \
     responsibility_id, sort_order, created_at, updated_at";

fn contact_from_row(row: &impl DbRow) -> CsmResult<ContactRelationship> {
    Ok(ContactRelationship {
        id: row.uuid("id").map_err(decode)?,
        account: AccountId::from_uuid(row.uuid("account_id").map_err(decode)?),
        contact: ProfileId::from_uuid(row.uuid("contact_id").map_err(decode)?),
        related_party_configuration: row.opt_uuid("related_party_configuration_id").map_err(decode)?,
        responsibility: row.opt_uuid("responsibility_id").map_err(decode)?.map(ResponsibilityId::from_uuid),
        order: row.int("sort_order").map_err(decode)? as i32,
        created_at: row.timestamp("created_at").map_err(decode)?,
        updated_at: row.timestamp("updated_at").map_err(decode)?,
    })
}

fn consumer_from_row(row: &impl DbRow) -> CsmResult<ConsumerRelationship> {
    Ok(ConsumerRelationship {
        id: row.uuid("id").map_err(decode)?,
        consumer: ConsumerId::from_uuid(row.uuid("consumer_id").map_err(decode)?),
        related_consumer: ConsumerId::from_uuid(row.uuid("related_consumer_id").map_err(decode)?),
        household: row.opt_uuid("household_id").map_err(decode)?.map(HouseholdId::from_uuid),
        related_party_configuration: row.opt_uuid("related_party_configuration_id").map_err(decode)?,
        responsibility: row.opt_uuid("responsibility_id").map_err(decode)?.map(ResponsibilityId::from_uuid),
        order: row.int("sort_order").map_err(decode)? as i32,
        created_at: row.timestamp("created_at").map_err(decode)?,
        updated_at: row.timestamp("updated_at").map_err(decode)?,
    })
}

fn contact_change(relationship: &ContactRelationship, operation: Operation) -> NewChange {
    let mut change = NewChange::new("contact_relationship", relationship.id, operation)
        .attribute("account_id", relationship.account)
        .attribute("contact_id", relationship.contact);
    if let Some(responsibility) = relationship.responsibility {
        change = change.attribute("responsibility_id", responsibility);
    }
    change
}

fn consumer_change(relationship: &ConsumerRelationship, operation: Operation) -> NewChange {
    let mut change = NewChange::new("consumer_relationship", relationship.id, operation)
        .attribute("consumer_id", relationship.consumer)
        .attribute("related_consumer_id", relationship.related_consumer);
    if let Some(household) = relationship.household {
        change = change.attribute("household_id", household);
    }
    change
}

/// Maps a unique violation of contact_relationships to the proto's reasons.
fn contact_write_error(error: sqlx::Error) -> CsmError {
    if is_unique_violation(&error) {
        if error.to_string().contains("unique_responsibility") {
            return CsmError::already_exists(
                "UNIQUE_RESPONSIBILITY_TAKEN",
                "this unique responsibility is held by another contact on the account (R3.9)",
            );
        }
        return CsmError::already_exists(
            "CONTACT_RELATIONSHIP_EXISTS",
            "the contact already has this relationship on the account (R3.10)",
        );
    }
    db_error(error)
}

impl AccountTeamStore {
    /// The responsibility definition `id` (kind and unique flag), if it exists.
    pub async fn responsibility(&self, id: ResponsibilityId) -> CsmResult<Option<ResponsibilityRef>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query("SELECT id, kind, is_unique FROM responsibility_definitions WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.map(|row| {
                let kind = row.text("kind").map_err(decode)?;
                Ok(ResponsibilityRef {
                    id,
                    kind: ResponsibilityKind::parse(&kind)
                        .ok_or_else(|| CsmError::internal(format!("unknown responsibility kind {kind:?}")))?,
                    is_unique: row.boolean("is_unique").map_err(decode)?,
                })
            })
            .transpose()
        })
    }

    /// Accounts linked to `account` by an active account relationship, either direction (R3.8).
    pub async fn related_accounts(&self, account: AccountId) -> CsmResult<Vec<AccountId>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT to_account_id AS other FROM account_relationships WHERE from_account_id = $1 AND active \
                 UNION SELECT from_account_id AS other FROM account_relationships WHERE to_account_id = $1 AND active",
            )
            .bind(account.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("other").map(AccountId::from_uuid).map_err(decode)).collect()
        })
    }

    /// Partner accounts p with `customer` ∈ PCUST(p): active relationships of a partner→account type (R3.6).
    pub async fn partners_of(&self, customer: AccountId) -> CsmResult<Vec<AccountId>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT DISTINCT r.from_account_id AS partner FROM account_relationships r \
                 JOIN account_relationship_types t ON t.id = r.type_id \
                 WHERE r.to_account_id = $1 AND r.active AND t.from_kind = 'partner' AND t.to_kind = 'account' \
                 ORDER BY r.from_account_id",
            )
            .bind(customer.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("partner").map(AccountId::from_uuid).map_err(decode)).collect()
        })
    }

    /// Inserts a contact relationship with its change row. `allow_multiple` is
    /// R3.10's setting as read for this write; `unique` tells whether the
    /// responsibility is unique (R3.9). Errors: ALREADY_EXISTS
    /// CONTACT_RELATIONSHIP_EXISTS / UNIQUE_RESPONSIBILITY_TAKEN.
    pub async fn insert_contact_relationship(
        &self,
        tx: &mut Tx,
        relationship: &ContactRelationship,
        unique: bool,
        allow_multiple: bool,
    ) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            // First statement, a write: the pair's row is the lock of R3.10. With
            // several responsibilities off, an existing pair admits no further row.
            let admitted = sqlx::query(
                "INSERT INTO contact_relationship_pairs (account_id, contact_id, relationship_count) VALUES ($1, $2, 1) \
                 ON CONFLICT (account_id, contact_id) DO UPDATE \
                 SET relationship_count = contact_relationship_pairs.relationship_count + 1 WHERE $3 \
                 RETURNING relationship_count",
            )
            .bind(relationship.account.as_uuid())
            .bind(relationship.contact.as_uuid())
            .bind(allow_multiple)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
            if admitted.is_none() {
                return Err(CsmError::already_exists(
                    "CONTACT_RELATIONSHIP_EXISTS",
                    "the contact already has a relationship on this account and allow_multiple_contact_responsibilities is off (R3.10)",
                ));
            }
            sqlx::query(
                "INSERT INTO contact_relationships (id, account_id, contact_id, related_party_configuration_id, \
                 responsibility_id, unique_responsibility_id, sort_order, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(relationship.id)
            .bind(relationship.account.as_uuid())
            .bind(relationship.contact.as_uuid())
            .bind(relationship.related_party_configuration)
            .bind(relationship.responsibility.map(Uuid::from))
            .bind(relationship.responsibility.filter(|_| unique).map(Uuid::from))
            .bind(relationship.order)
            .bind(relationship.created_at)
            .bind(relationship.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(contact_write_error)?;
        });
        csm_changefeed::append(tx, &contact_change(relationship, Operation::Created)).await
    }

    /// The contact relationship holding `responsibility` on `account`, if any.
    pub async fn unique_contact_holder(
        &self,
        account: AccountId,
        responsibility: ResponsibilityId,
    ) -> CsmResult<Option<Uuid>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(
                "SELECT id FROM contact_relationships WHERE account_id = $1 AND unique_responsibility_id = $2",
            )
            .bind(account.as_uuid())
            .bind(responsibility.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
            row.map(|row| row.uuid("id").map_err(decode)).transpose()
        })
    }

    pub async fn contact_relationship(&self, id: Uuid) -> CsmResult<Option<ContactRelationship>> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contact_relationships WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(contact_from_row).transpose()
        })
    }

    /// Writes type, responsibility and order of `relationship` (first statement of `tx`).
    pub async fn update_contact_relationship(
        &self,
        tx: &mut Tx,
        relationship: &ContactRelationship,
        unique: bool,
    ) -> CsmResult<Option<u64>> {
        let updated = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE contact_relationships SET related_party_configuration_id = $2, responsibility_id = $3, \
                 unique_responsibility_id = $4, sort_order = $5, updated_at = $6 WHERE id = $1",
            )
            .bind(relationship.id)
            .bind(relationship.related_party_configuration)
            .bind(relationship.responsibility.map(Uuid::from))
            .bind(relationship.responsibility.filter(|_| unique).map(Uuid::from))
            .bind(relationship.order)
            .bind(relationship.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(contact_write_error)?
            .rows_affected()
        });
        if updated == 0 {
            return Ok(None);
        }
        Ok(Some(csm_changefeed::append(tx, &contact_change(relationship, Operation::Updated)).await?))
    }

    /// Deletes a contact relationship and releases its slot in the pair count.
    pub async fn delete_contact_relationship(
        &self,
        tx: &mut Tx,
        id: Uuid,
    ) -> CsmResult<Option<(ContactRelationship, u64)>> {
        let sql = format!("DELETE FROM contact_relationships WHERE id = $1 RETURNING {CONTACT_COLUMNS}");
        let deleted = with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error)?;
            let Some(deleted) = row.as_ref().map(contact_from_row).transpose()? else {
                return Ok(None);
            };
            sqlx::query(
                "UPDATE contact_relationship_pairs SET relationship_count = relationship_count - 1 \
                 WHERE account_id = $1 AND contact_id = $2",
            )
            .bind(deleted.account.as_uuid())
            .bind(deleted.contact.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            sqlx::query(
                "DELETE FROM contact_relationship_pairs WHERE account_id = $1 AND contact_id = $2 \
                 AND relationship_count <= 0",
            )
            .bind(deleted.account.as_uuid())
            .bind(deleted.contact.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            deleted
        });
        let revision = csm_changefeed::append(tx, &contact_change(&deleted, Operation::Deleted)).await?;
        Ok(Some((deleted, revision)))
    }

    /// One page of contact relationships ordered by id (fetches `page.fetch_limit()` rows).
    pub async fn list_contact_relationships(
        &self,
        filter: &ContactRelationshipFilter,
        page: &PageRequest,
    ) -> CsmResult<Vec<ContactRelationship>> {
        let after = page_after(page)?;
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contact_relationships \
             WHERE ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR contact_id = $2) \
             AND ($3 IS NULL OR responsibility_id = $3) AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(filter.account.map(Uuid::from))
                .bind(filter.contact.map(Uuid::from))
                .bind(filter.responsibility.map(Uuid::from))
                .bind(after)
                .bind(page.fetch_limit())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(contact_from_row).collect()
        })
    }

    /// CR(contact): accounts on which `contact` has a contact relationship.
    pub async fn contact_relationship_accounts(&self, contact: ProfileId) -> CsmResult<Vec<AccountId>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query("SELECT DISTINCT account_id FROM contact_relationships WHERE contact_id = $1")
                .bind(contact.as_uuid())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("account_id").map(AccountId::from_uuid).map_err(decode)).collect()
        })
    }

    /// Inserts a consumer or household member relationship with its change row.
    pub async fn insert_consumer_relationship(
        &self,
        tx: &mut Tx,
        relationship: &ConsumerRelationship,
    ) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO consumer_relationships (id, consumer_id, related_consumer_id, household_id, \
                 related_party_configuration_id, responsibility_id, sort_order, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(relationship.id)
            .bind(relationship.consumer.as_uuid())
            .bind(relationship.related_consumer.as_uuid())
            .bind(relationship.household.map(Uuid::from))
            .bind(relationship.related_party_configuration)
            .bind(relationship.responsibility.map(Uuid::from))
            .bind(relationship.order)
            .bind(relationship.created_at)
            .bind(relationship.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(consumer_write_error)?;
        });
        csm_changefeed::append(tx, &consumer_change(relationship, Operation::Created)).await
    }

    pub async fn consumer_relationship(&self, id: Uuid) -> CsmResult<Option<ConsumerRelationship>> {
        let sql = format!("SELECT {CONSUMER_COLUMNS} FROM consumer_relationships WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(consumer_from_row).transpose()
        })
    }

    pub async fn update_consumer_relationship(
        &self,
        tx: &mut Tx,
        relationship: &ConsumerRelationship,
    ) -> CsmResult<Option<u64>> {
        let updated = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE consumer_relationships SET related_party_configuration_id = $2, responsibility_id = $3, \
                 sort_order = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(relationship.id)
            .bind(relationship.related_party_configuration)
            .bind(relationship.responsibility.map(Uuid::from))
            .bind(relationship.order)
            .bind(relationship.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(consumer_write_error)?
            .rows_affected()
        });
        if updated == 0 {
            return Ok(None);
        }
        Ok(Some(csm_changefeed::append(tx, &consumer_change(relationship, Operation::Updated)).await?))
    }

    pub async fn delete_consumer_relationship(
        &self,
        tx: &mut Tx,
        id: Uuid,
    ) -> CsmResult<Option<(ConsumerRelationship, u64)>> {
        let sql = format!("DELETE FROM consumer_relationships WHERE id = $1 RETURNING {CONSUMER_COLUMNS}");
        let deleted = with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.as_ref().map(consumer_from_row).transpose()?
        });
        let Some(deleted) = deleted else {
            return Ok(None);
        };
        let revision = csm_changefeed::append(tx, &consumer_change(&deleted, Operation::Deleted)).await?;
        Ok(Some((deleted, revision)))
    }

    /// One page of consumer relationships ordered by id (ids are time-ordered, so
    /// this is creation order).
    pub async fn list_consumer_relationships(
        &self,
        filter: &ConsumerRelationshipFilter,
        page: &PageRequest,
    ) -> CsmResult<Vec<ConsumerRelationship>> {
        let after = page_after(page)?;
        let sql = format!(
            "SELECT {CONSUMER_COLUMNS} FROM consumer_relationships \
             WHERE ($1 IS NULL OR consumer_id = $1) AND ($2 IS NULL OR related_consumer_id = $2) \
             AND ($3 IS NULL OR household_id = $3) AND ($4 IS NULL OR id > $4) \
             AND ($6 IS NULL OR consumer_id = $6 OR related_consumer_id = $6) ORDER BY id LIMIT $5"
        );
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&sql)
                .bind(filter.consumer.map(Uuid::from))
                .bind(filter.related_consumer.map(Uuid::from))
                .bind(filter.household.map(Uuid::from))
                .bind(after)
                .bind(page.fetch_limit())
                .bind(filter.naming.map(Uuid::from))
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(consumer_from_row).collect()
        })
    }
}

fn consumer_write_error(error: sqlx::Error) -> CsmError {
    unique_as(
        error,
        "CONSUMER_RELATIONSHIP_EXISTS",
        "the same (consumer, related consumer, household, responsibility) already exists",
    )
}

/// The id after which a page keyed on `id` starts.
pub(crate) fn page_after(page: &PageRequest) -> CsmResult<Option<Uuid>> {
    page.after
        .as_deref()
        .map(|after| {
            Uuid::parse_str(after)
                .map_err(|_| CsmError::invalid_argument("INVALID_PAGE_TOKEN", "page_token is not a token of this list"))
        })
        .transpose()
}
