//! SQL of account relationships (R3.5) and PCUST(p) (R3.6).

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, unique_as, with_db, with_tx};
use csm_errors::CsmResult;
use csm_types::AccountId;
use uuid::Uuid;

use super::{AccountTeamStore, invalid_token, page_after_id, where_clause};
use crate::domain::definitions::RelationshipTypeId;
use crate::domain::relationships::{
    AccountRelationship, AccountRelationshipId, Direction, PartnerCustomer, RelationshipFilter,
};

const RELATIONSHIP_COLUMNS: &str = "id, from_account_id, type_id, to_account_id, active, created_at, updated_at";

fn relationship_change(relationship: &AccountRelationship, operation: Operation) -> NewChange {
    NewChange::new("account_relationship", relationship.id, operation)
        .attribute("from_account_id", relationship.from_account)
        .attribute("to_account_id", relationship.to_account)
        .attribute("account_relationship_type_id", relationship.type_id)
}

impl AccountTeamStore {
    /// Inserts a relationship and its change. ALREADY_EXISTS reason
    /// ACCOUNT_RELATIONSHIP_EXISTS for the same (from, type, to).
    pub async fn insert_account_relationship(&self, tx: &mut Tx, relationship: &AccountRelationship) -> CsmResult<u64> {
        let inserted = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO account_relationships (id, from_account_id, type_id, to_account_id, active, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(relationship.id.as_uuid())
            .bind(relationship.from_account.as_uuid())
            .bind(relationship.type_id.as_uuid())
            .bind(relationship.to_account.as_uuid())
            .bind(relationship.active)
            .bind(relationship.created_at)
            .bind(relationship.updated_at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        inserted.map_err(|error| {
            unique_as(error, "ACCOUNT_RELATIONSHIP_EXISTS", "this relationship (from, type, to) already exists")
        })?;
        csm_changefeed::append(tx, &relationship_change(relationship, Operation::Created)).await
    }

    /// The existing relationship (from, type, to), if any.
    pub async fn find_account_relationship(
        &self,
        from: AccountId,
        type_id: RelationshipTypeId,
        to: AccountId,
    ) -> CsmResult<Option<AccountRelationship>> {
        let sql = format!(
            "SELECT {RELATIONSHIP_COLUMNS} FROM account_relationships \
             WHERE from_account_id = $1 AND type_id = $2 AND to_account_id = $3"
        );
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(from.as_uuid())
                .bind(type_id.as_uuid())
                .bind(to.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(relationship_from_row).transpose()
        })
    }

    pub async fn get_account_relationship(&self, id: AccountRelationshipId) -> CsmResult<Option<AccountRelationship>> {
        let sql = format!("SELECT {RELATIONSHIP_COLUMNS} FROM account_relationships WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(relationship_from_row).transpose()
        })
    }

    pub async fn account_relationship_in(
        &self,
        tx: &mut Tx,
        id: AccountRelationshipId,
    ) -> CsmResult<Option<AccountRelationship>> {
        let sql = format!("SELECT {RELATIONSHIP_COLUMNS} FROM account_relationships WHERE id = $1");
        with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.as_ref().map(relationship_from_row).transpose()
        })
    }

    /// Locks the relationship (no-op UPDATE first) and returns it.
    pub async fn account_relationship_for_update(
        &self,
        tx: &mut Tx,
        id: AccountRelationshipId,
    ) -> CsmResult<Option<AccountRelationship>> {
        let locked = with_tx!(tx, |tx| {
            sqlx::query("UPDATE account_relationships SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        if locked == 0 {
            return Ok(None);
        }
        self.account_relationship_in(tx, id).await
    }

    /// Writes `active` of `relationship` (its `updated_at` is set here) and its change.
    pub async fn save_account_relationship(
        &self,
        tx: &mut Tx,
        relationship: &AccountRelationship,
    ) -> CsmResult<(AccountRelationship, u64)> {
        let relationship = AccountRelationship { updated_at: csm_db::now(), ..relationship.clone() };
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE account_relationships SET active = $2, updated_at = $3 WHERE id = $1")
                .bind(relationship.id.as_uuid())
                .bind(relationship.active)
                .bind(relationship.updated_at)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        let revision = csm_changefeed::append(tx, &relationship_change(&relationship, Operation::Updated)).await?;
        Ok((relationship, revision))
    }

    /// Deletes one relationship row (both ends stop showing it) and writes its change.
    pub async fn delete_account_relationship_row(
        &self,
        tx: &mut Tx,
        relationship: &AccountRelationship,
    ) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM account_relationships WHERE id = $1")
                .bind(relationship.id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        csm_changefeed::append(tx, &relationship_change(relationship, Operation::Deleted)).await
    }

    /// One page of the relationships touching `filter.account` (either end),
    /// ordered by id (v7, so by creation).
    pub async fn list_account_relationships(
        &self,
        filter: &RelationshipFilter,
        page: &PageRequest,
    ) -> CsmResult<Vec<AccountRelationship>> {
        let after = page_after_id(page)?;
        // $1 is the viewing account.
        let mut filters = vec![match filter.direction {
            Some(Direction::Forward) => "from_account_id = $1".to_owned(),
            Some(Direction::Reverse) => "to_account_id = $1".to_owned(),
            None => "(from_account_id = $1 OR to_account_id = $1)".to_owned(),
        }];
        let mut next = 2;
        if after.is_some() {
            filters.push(format!("id > ${next}"));
            next += 1;
        }
        if filter.type_id.is_some() {
            filters.push(format!("type_id = ${next}"));
            next += 1;
        }
        if !filter.include_inactive {
            filters.push("active = TRUE".to_owned());
        }
        let sql = format!(
            "SELECT {RELATIONSHIP_COLUMNS} FROM account_relationships {} ORDER BY id LIMIT ${next}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql).bind(filter.account.as_uuid());
            if let Some(after) = after {
                query = query.bind(after);
            }
            if let Some(type_id) = filter.type_id {
                query = query.bind(*type_id.as_uuid());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(relationship_from_row).collect()
        })
    }

    /// One page of PCUST(`partner`): customers linked by an active relationship
    /// whose type is partner→account, ordered by (customer, relationship id).
    /// One range of the (from_account_id, to_account_id, id) index.
    pub async fn list_partner_customers(
        &self,
        partner: AccountId,
        page: &PageRequest,
    ) -> CsmResult<Vec<PartnerCustomer>> {
        let after = page.after.as_deref().map(parse_customer_key).transpose()?;
        let keyset =
            if after.is_some() { "AND (r.to_account_id > $2 OR (r.to_account_id = $2 AND r.id > $3))" } else { "" };
        let limit = if after.is_some() { "$4" } else { "$2" };
        let sql = format!(
            "SELECT r.id, r.type_id, r.to_account_id, r.created_at FROM account_relationships r \
             JOIN account_relationship_types t ON t.id = r.type_id \
             WHERE r.from_account_id = $1 AND r.active = TRUE AND t.from_kind = 'partner' AND t.to_kind = 'account' \
             {keyset} ORDER BY r.to_account_id, r.id LIMIT {limit}"
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql).bind(partner.as_uuid());
            if let Some((customer, relationship)) = after {
                query = query.bind(customer).bind(relationship);
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    Ok(PartnerCustomer {
                        customer_account: AccountId::from_uuid(row.uuid("to_account_id").map_err(db_error)?),
                        relationship: AccountRelationshipId::from_uuid(row.uuid("id").map_err(db_error)?),
                        type_id: RelationshipTypeId::from_uuid(row.uuid("type_id").map_err(db_error)?),
                        created_at: row.timestamp("created_at").map_err(db_error)?,
                    })
                })
                .collect()
        })
    }
}

/// The page key of a partner customer: "customer|relationship".
pub(crate) fn customer_key(customer: &PartnerCustomer) -> String {
    format!("{}|{}", customer.customer_account, customer.relationship)
}

fn parse_customer_key(key: &str) -> CsmResult<(Uuid, Uuid)> {
    let (customer, relationship) = key.split_once('|').ok_or_else(invalid_token)?;
    Ok((
        Uuid::parse_str(customer).map_err(|_| invalid_token())?,
        Uuid::parse_str(relationship).map_err(|_| invalid_token())?,
    ))
}

pub(crate) fn relationship_from_row(row: &impl DbRow) -> CsmResult<AccountRelationship> {
    Ok(AccountRelationship {
        id: AccountRelationshipId::from_uuid(row.uuid("id").map_err(db_error)?),
        from_account: AccountId::from_uuid(row.uuid("from_account_id").map_err(db_error)?),
        type_id: RelationshipTypeId::from_uuid(row.uuid("type_id").map_err(db_error)?),
        to_account: AccountId::from_uuid(row.uuid("to_account_id").map_err(db_error)?),
        active: row.boolean("active").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}
