//! SQL of identity's consumers: consumer records and their link to a user
//! profile, consumer profiles, households and their members. Profiles are
//! read and written with the people area's store; only the two profile
//! columns that follow consumer records (consumer link, sub-profile type) are
//! written here.

use chrono::{DateTime, Utc};
use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, on_unique_violation, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{ConsumerId, HouseholdId, ProfileId};
use uuid::Uuid;

use super::IdentityStore;
use super::directory::{page_after, where_clause};
use crate::domain::consumers::{
    Consumer, ConsumerProfile, ConsumerProfileId, Household, HouseholdMember, HouseholdMemberStatus,
    household_member_entity_id,
};
use crate::domain::people::PersonDetails;

const CONSUMER_COLUMNS: &str = "id, display_name, first_name, middle_name, last_name, email, mobile_phone, \
     business_phone, home_phone, user_profile_id, active, created_at, updated_at";
const CONSUMER_PROFILE_COLUMNS: &str =
    "id, consumer_id, sub_profile_type, display_name, active, profile_id, created_at, updated_at";
const HOUSEHOLD_COLUMNS: &str = "id, name, head_consumer_id, active, created_at, updated_at";

/// Filters of ListConsumers (combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerFilter {
    /// Exact match, case-insensitive.
    pub email: Option<String>,
    pub user_profile: Option<ProfileId>,
    pub include_inactive: bool,
    /// Only these consumers (a caller's consumer scope).
    pub only: Option<Vec<ConsumerId>>,
}

/// Filters of ListConsumerProfiles (combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerProfileFilter {
    pub consumer: Option<ConsumerId>,
    pub ids: Vec<ConsumerProfileId>,
    pub include_inactive: bool,
    /// Only profiles of these consumers (a caller's consumer scope).
    pub consumers_in: Option<Vec<ConsumerId>>,
}

/// Filters of ListHouseholds (combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseholdFilter {
    pub member: Option<ConsumerId>,
    /// With `member`: also households it has left.
    pub include_former: bool,
    pub head: Option<ConsumerId>,
    pub include_inactive: bool,
    /// Only households one of these consumers currently belongs to (a caller's consumer scope).
    pub members_any: Option<Vec<ConsumerId>>,
}

/// `$n, $n+1, …` for `count` parameters, advancing `next`; `NULL` for none
/// (so `IN (NULL)` matches nothing).
fn placeholders(next: &mut usize, count: usize) -> String {
    if count == 0 {
        return "NULL".to_owned();
    }
    let list: Vec<String> = (0..count).map(|offset| format!("${}", *next + offset)).collect();
    *next += count;
    list.join(", ")
}

impl IdentityStore {
    // -------------------------------------------------------------- consumers

    /// The current members of the households `head` heads (the consumer rules' "household head").
    pub async fn members_of_households_headed_by(&self, head: ConsumerId) -> CsmResult<Vec<ConsumerId>> {
        with_db!(self.db(), |pool| {
            let rows: Vec<uuid::Uuid> = sqlx::query_scalar(
                "SELECT m.consumer_id FROM household_members m JOIN households h ON h.id = m.household_id \
                 WHERE h.head_consumer_id = $1 AND h.active = TRUE AND m.status = 'current'",
            )
            .bind(head.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows.into_iter().map(ConsumerId::from_uuid).collect())
        })
    }

    /// The consumers currently in `household`, its head included.
    pub async fn current_members_of(&self, household: HouseholdId) -> CsmResult<Vec<ConsumerId>> {
        with_db!(self.db(), |pool| {
            let rows: Vec<uuid::Uuid> = sqlx::query_scalar(
                "SELECT consumer_id FROM household_members WHERE household_id = $1 AND status = 'current' \
                 UNION SELECT head_consumer_id FROM households WHERE id = $1",
            )
            .bind(household.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            Ok(rows.into_iter().map(ConsumerId::from_uuid).collect())
        })
    }

    /// Inserts `consumer` (its linked profile must exist) and its change row.
    pub async fn insert_consumer(&self, tx: &mut Tx, consumer: &Consumer) -> CsmResult<u64> {
        let inserted = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO consumers (id, display_name, first_name, middle_name, last_name, email, email_key, \
                 mobile_phone, business_phone, home_phone, user_profile_id, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(consumer.id.as_uuid())
            .bind(&consumer.display_name)
            .bind(&consumer.details.first_name)
            .bind(&consumer.details.middle_name)
            .bind(&consumer.details.last_name)
            .bind(&consumer.details.email)
            .bind(email_key(&consumer.details.email))
            .bind(&consumer.details.mobile_phone)
            .bind(&consumer.details.business_phone)
            .bind(&consumer.details.home_phone)
            .bind(consumer.user_profile.map(|id| *id.as_uuid()))
            .bind(consumer.active)
            .bind(consumer.created_at)
            .bind(consumer.updated_at)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        inserted.map_err(link_write_error)?;
        let mut change =
            NewChange::new("consumer", consumer.id, Operation::Created).attribute("consumer_id", consumer.id);
        if let Some(profile) = consumer.user_profile {
            change = change.attribute("profile_id", profile);
        }
        csm_changefeed::append(tx, &change).await
    }

    pub async fn get_consumer(&self, id: ConsumerId) -> CsmResult<Option<Consumer>> {
        let sql = format!("SELECT {CONSUMER_COLUMNS} FROM consumers WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(consumer_from_row).transpose()
        })
    }

    pub async fn consumer_in(&self, tx: &mut Tx, id: ConsumerId) -> CsmResult<Option<Consumer>> {
        let sql = format!("SELECT {CONSUMER_COLUMNS} FROM consumers WHERE id = $1");
        with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(&mut **tx).await.map_err(db_error)?;
            row.as_ref().map(consumer_from_row).transpose()
        })
    }

    /// Locks the consumer (a no-op UPDATE first, so the transaction writes
    /// before it reads) and returns it.
    pub async fn consumer_for_update(&self, tx: &mut Tx, id: ConsumerId) -> CsmResult<Option<Consumer>> {
        if lock_row(tx, "consumers", id.as_uuid()).await? == 0 {
            return Ok(None);
        }
        self.consumer_in(tx, id).await
    }

    /// Writes `consumer` (its `updated_at` is set here) and its change row;
    /// `previous_profile` is the linked profile before, when the link changed.
    pub async fn save_consumer(
        &self,
        tx: &mut Tx,
        consumer: &Consumer,
        previous_profile: Option<Option<ProfileId>>,
    ) -> CsmResult<(Consumer, u64)> {
        let consumer = Consumer { updated_at: csm_db::now(), ..consumer.clone() };
        let updated = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE consumers SET display_name = $2, first_name = $3, middle_name = $4, last_name = $5, \
                 email = $6, email_key = $7, mobile_phone = $8, business_phone = $9, home_phone = $10, \
                 user_profile_id = $11, active = $12, updated_at = $13 WHERE id = $1",
            )
            .bind(consumer.id.as_uuid())
            .bind(&consumer.display_name)
            .bind(&consumer.details.first_name)
            .bind(&consumer.details.middle_name)
            .bind(&consumer.details.last_name)
            .bind(&consumer.details.email)
            .bind(email_key(&consumer.details.email))
            .bind(&consumer.details.mobile_phone)
            .bind(&consumer.details.business_phone)
            .bind(&consumer.details.home_phone)
            .bind(consumer.user_profile.map(|id| *id.as_uuid()))
            .bind(consumer.active)
            .bind(consumer.updated_at)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        updated.map_err(link_write_error)?;
        let mut change =
            NewChange::new("consumer", consumer.id, Operation::Updated).attribute("consumer_id", consumer.id);
        if let Some(profile) = consumer.user_profile {
            change = change.attribute("profile_id", profile);
        }
        if let Some(Some(previous)) = previous_profile {
            change = change.attribute("previous_profile_id", previous);
        }
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((consumer, revision))
    }

    /// One page of consumers ordered by id.
    pub async fn list_consumers(&self, page: &PageRequest, filter: &ConsumerFilter) -> CsmResult<Vec<Consumer>> {
        let after = page_after(page)?;
        let email = filter.email.as_deref().map(email_key);
        let mut filters = Vec::new();
        let mut next_parameter = 1;
        for (present, clause) in [
            (after.is_some(), "id > $"),
            (email.is_some(), "email_key = $"),
            (filter.user_profile.is_some(), "user_profile_id = $"),
        ] {
            if present {
                filters.push(format!("{clause}{next_parameter}"));
                next_parameter += 1;
            }
        }
        if !filter.include_inactive {
            filters.push("active = TRUE".to_owned());
        }
        let only = filter.only.as_deref().unwrap_or_default();
        if filter.only.is_some() {
            filters.push(format!("id IN ({})", placeholders(&mut next_parameter, only.len())));
        }
        let sql = format!(
            "SELECT {CONSUMER_COLUMNS} FROM consumers {} ORDER BY id LIMIT ${next_parameter}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            if let Some(after) = after {
                query = query.bind(after);
            }
            if let Some(email) = &email {
                query = query.bind(email.clone());
            }
            if let Some(profile) = filter.user_profile {
                query = query.bind(*profile.as_uuid());
            }
            for consumer in only {
                query = query.bind(*consumer.as_uuid());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(consumer_from_row).collect()
        })
    }

    // ------------------------------------------------- profiles of consumers

    /// Sets (or clears) a profile's consumer link, the one profile column the
    /// people area does not write. The caller appends the profile's change.
    pub async fn set_profile_consumer(
        &self,
        tx: &mut Tx,
        profile: ProfileId,
        consumer: Option<ConsumerId>,
    ) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE profiles SET consumer_id = $2 WHERE id = $1")
                .bind(profile.as_uuid())
                .bind(consumer.map(|id| *id.as_uuid()))
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// Sets a CONSUMER_SUB_PROFILE's sub-profile type, following its consumer
    /// profile record (R1.17). The caller appends the profile's change.
    pub async fn set_sub_profile_type(&self, tx: &mut Tx, profile: ProfileId, sub_profile_type: &str) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE profiles SET sub_profile_type = $2 WHERE id = $1")
                .bind(profile.as_uuid())
                .bind(sub_profile_type)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    // ------------------------------------------------------ consumer profiles

    /// Inserts a consumer profile record and its change row.
    pub async fn insert_consumer_profile(&self, tx: &mut Tx, record: &ConsumerProfile) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO consumer_profiles \
                 (id, consumer_id, sub_profile_type, display_name, active, profile_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(record.id.as_uuid())
            .bind(record.consumer.as_uuid())
            .bind(&record.sub_profile_type)
            .bind(&record.display_name)
            .bind(record.active)
            .bind(record.profile.map(|id| *id.as_uuid()))
            .bind(record.created_at)
            .bind(record.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        csm_changefeed::append(tx, &consumer_profile_change(record, Operation::Created)).await
    }

    pub async fn get_consumer_profile(&self, id: ConsumerProfileId) -> CsmResult<Option<ConsumerProfile>> {
        let sql = format!("SELECT {CONSUMER_PROFILE_COLUMNS} FROM consumer_profiles WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(consumer_profile_from_row).transpose()
        })
    }

    /// Locks the record (no-op UPDATE first) and returns it.
    pub async fn consumer_profile_for_update(
        &self,
        tx: &mut Tx,
        id: ConsumerProfileId,
    ) -> CsmResult<Option<ConsumerProfile>> {
        if lock_row(tx, "consumer_profiles", id.as_uuid()).await? == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {CONSUMER_PROFILE_COLUMNS} FROM consumer_profiles WHERE id = $1");
        with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
            consumer_profile_from_row(&row).map(Some)
        })
    }

    /// Writes the record (its `updated_at` is set here) and its change row.
    pub async fn save_consumer_profile(
        &self,
        tx: &mut Tx,
        record: &ConsumerProfile,
    ) -> CsmResult<(ConsumerProfile, u64)> {
        let record = ConsumerProfile { updated_at: csm_db::now(), ..record.clone() };
        with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE consumer_profiles SET sub_profile_type = $2, display_name = $3, active = $4, updated_at = $5 \
                 WHERE id = $1",
            )
            .bind(record.id.as_uuid())
            .bind(&record.sub_profile_type)
            .bind(&record.display_name)
            .bind(record.active)
            .bind(record.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        let revision = csm_changefeed::append(tx, &consumer_profile_change(&record, Operation::Updated)).await?;
        Ok((record, revision))
    }

    /// One page of consumer profiles ordered by id.
    pub async fn list_consumer_profiles(
        &self,
        page: &PageRequest,
        filter: &ConsumerProfileFilter,
    ) -> CsmResult<Vec<ConsumerProfile>> {
        let after = page_after(page)?;
        let mut filters = Vec::new();
        let mut next_parameter = 1;
        if after.is_some() {
            filters.push(format!("id > ${next_parameter}"));
            next_parameter += 1;
        }
        if filter.consumer.is_some() {
            filters.push(format!("consumer_id = ${next_parameter}"));
            next_parameter += 1;
        }
        if !filter.ids.is_empty() {
            let placeholders: Vec<String> =
                (0..filter.ids.len()).map(|offset| format!("${}", next_parameter + offset)).collect();
            filters.push(format!("id IN ({})", placeholders.join(", ")));
            next_parameter += filter.ids.len();
        }
        if !filter.include_inactive {
            filters.push("active = TRUE".to_owned());
        }
        let consumers_in = filter.consumers_in.as_deref().unwrap_or_default();
        if filter.consumers_in.is_some() {
            filters.push(format!("consumer_id IN ({})", placeholders(&mut next_parameter, consumers_in.len())));
        }
        let sql = format!(
            "SELECT {CONSUMER_PROFILE_COLUMNS} FROM consumer_profiles {} ORDER BY id LIMIT ${next_parameter}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            if let Some(after) = after {
                query = query.bind(after);
            }
            if let Some(consumer) = filter.consumer {
                query = query.bind(*consumer.as_uuid());
            }
            for id in &filter.ids {
                query = query.bind(*id.as_uuid());
            }
            for consumer in consumers_in {
                query = query.bind(*consumer.as_uuid());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(consumer_profile_from_row).collect()
        })
    }

    // ------------------------------------------------------------- households

    /// Inserts a household and its change row (its head joins separately).
    pub async fn insert_household(&self, tx: &mut Tx, household: &Household) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO households (id, name, head_consumer_id, active, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(household.id.as_uuid())
            .bind(&household.name)
            .bind(household.head.as_uuid())
            .bind(household.active)
            .bind(household.created_at)
            .bind(household.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        let change = NewChange::new("household", household.id, Operation::Created)
            .attribute("household_id", household.id)
            .attribute("head_consumer_id", household.head);
        csm_changefeed::append(tx, &change).await
    }

    pub async fn get_household(&self, id: HouseholdId) -> CsmResult<Option<Household>> {
        let sql = format!("SELECT {HOUSEHOLD_COLUMNS} FROM households WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(household_from_row).transpose()
        })
    }

    /// Locks the household (no-op UPDATE first): its membership changes and
    /// head changes are serialized on this row.
    pub async fn household_for_update(&self, tx: &mut Tx, id: HouseholdId) -> CsmResult<Option<Household>> {
        if lock_row(tx, "households", id.as_uuid()).await? == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {HOUSEHOLD_COLUMNS} FROM households WHERE id = $1");
        with_tx!(tx, |tx| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
            household_from_row(&row).map(Some)
        })
    }

    /// Writes the household (its `updated_at` is set here) and its change row
    /// with the previous head when the head changed.
    pub async fn save_household(
        &self,
        tx: &mut Tx,
        household: &Household,
        previous_head: ConsumerId,
    ) -> CsmResult<(Household, u64)> {
        let household = Household { updated_at: csm_db::now(), ..household.clone() };
        with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE households SET name = $2, head_consumer_id = $3, active = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(household.id.as_uuid())
            .bind(&household.name)
            .bind(household.head.as_uuid())
            .bind(household.active)
            .bind(household.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        let mut change = NewChange::new("household", household.id, Operation::Updated)
            .attribute("household_id", household.id)
            .attribute("head_consumer_id", household.head);
        if previous_head != household.head {
            change = change.attribute("previous_head_consumer_id", previous_head);
        }
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((household, revision))
    }

    /// One page of households ordered by id.
    pub async fn list_households(&self, page: &PageRequest, filter: &HouseholdFilter) -> CsmResult<Vec<Household>> {
        let after = page_after(page)?;
        let mut filters = Vec::new();
        let mut next_parameter = 1;
        if after.is_some() {
            filters.push(format!("id > ${next_parameter}"));
            next_parameter += 1;
        }
        if filter.member.is_some() {
            let status = if filter.include_former { "" } else { " AND m.status = 'current'" };
            filters.push(format!(
                "EXISTS (SELECT 1 FROM household_members m WHERE m.household_id = households.id \
                 AND m.consumer_id = ${next_parameter}{status})"
            ));
            next_parameter += 1;
        }
        if filter.head.is_some() {
            filters.push(format!("head_consumer_id = ${next_parameter}"));
            next_parameter += 1;
        }
        if !filter.include_inactive {
            filters.push("active = TRUE".to_owned());
        }
        let members_any = filter.members_any.as_deref().unwrap_or_default();
        if filter.members_any.is_some() {
            filters.push(format!(
                "EXISTS (SELECT 1 FROM household_members scope WHERE scope.household_id = households.id \
                 AND scope.status = 'current' AND scope.consumer_id IN ({}))",
                placeholders(&mut next_parameter, members_any.len())
            ));
        }
        let sql = format!(
            "SELECT {HOUSEHOLD_COLUMNS} FROM households {} ORDER BY id LIMIT ${next_parameter}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            if let Some(after) = after {
                query = query.bind(after);
            }
            if let Some(member) = filter.member {
                query = query.bind(*member.as_uuid());
            }
            if let Some(head) = filter.head {
                query = query.bind(*head.as_uuid());
            }
            for consumer in members_any {
                query = query.bind(*consumer.as_uuid());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(household_from_row).collect()
        })
    }

    /// A consumer's membership in a household, read in `tx` (`head` is filled
    /// from `head_of_household`).
    pub async fn household_member_in(
        &self,
        tx: &mut Tx,
        household: HouseholdId,
        consumer: ConsumerId,
        head_of_household: ConsumerId,
    ) -> CsmResult<Option<HouseholdMember>> {
        with_tx!(tx, |tx| {
            let row = sqlx::query(
                "SELECT household_id, consumer_id, status, joined_at, left_at FROM household_members \
                 WHERE household_id = $1 AND consumer_id = $2",
            )
            .bind(household.as_uuid())
            .bind(consumer.as_uuid())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
            row.map(|row| household_member_from_row(&row, head_of_household)).transpose()
        })
    }

    /// Inserts or rewrites a membership and appends its change row (R4.11:
    /// a FORMER change carries household_id and consumer_id, so account-team
    /// can delete the relationships created within the household).
    pub async fn save_household_member(
        &self,
        tx: &mut Tx,
        member: &HouseholdMember,
        previous_status: Option<HouseholdMemberStatus>,
    ) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO household_members (household_id, consumer_id, status, joined_at, left_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (household_id, consumer_id) DO UPDATE SET \
                 status = excluded.status, joined_at = excluded.joined_at, left_at = excluded.left_at",
            )
            .bind(member.household.as_uuid())
            .bind(member.consumer.as_uuid())
            .bind(member.status.as_str())
            .bind(member.joined_at)
            .bind(member.left_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        let operation = if previous_status.is_none() { Operation::Created } else { Operation::Updated };
        let mut change = NewChange::new(
            "household_member",
            household_member_entity_id(member.household, member.consumer),
            operation,
        )
        .attribute("household_id", member.household)
        .attribute("consumer_id", member.consumer)
        .attribute("status", member.status.as_str());
        if let Some(previous) = previous_status {
            change = change.attribute("previous_status", previous.as_str());
        }
        csm_changefeed::append(tx, &change).await
    }

    /// Every membership (current and former) of a consumer, by household id:
    /// what a principal carries (R1.5, R4.11). A consumer belongs to few
    /// households, so this is not paged.
    pub async fn household_memberships_of(&self, consumer: ConsumerId) -> CsmResult<Vec<HouseholdMember>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(
                "SELECT m.household_id, m.consumer_id, m.status, m.joined_at, m.left_at, h.head_consumer_id \
                 FROM household_members m JOIN households h ON h.id = m.household_id \
                 WHERE m.consumer_id = $1 ORDER BY m.household_id",
            )
            .bind(consumer.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter()
                .map(|row| {
                    let head = ConsumerId::from_uuid(row.uuid("head_consumer_id").map_err(db_error)?);
                    household_member_from_row(row, head)
                })
                .collect()
        })
    }

    /// One page of a household's members ordered by consumer id (current only
    /// unless `include_former`).
    pub async fn list_household_members(
        &self,
        page: &PageRequest,
        household: &Household,
        include_former: bool,
    ) -> CsmResult<Vec<HouseholdMember>> {
        let after = page_after(page)?;
        let mut filters = vec!["household_id = $1".to_owned()];
        let mut next_parameter = 2;
        if after.is_some() {
            filters.push(format!("consumer_id > ${next_parameter}"));
            next_parameter += 1;
        }
        if !include_former {
            filters.push("status = 'current'".to_owned());
        }
        let sql = format!(
            "SELECT household_id, consumer_id, status, joined_at, left_at FROM household_members {} \
             ORDER BY consumer_id LIMIT ${next_parameter}",
            where_clause(&filters)
        );
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql).bind(*household.id.as_uuid());
            if let Some(after) = after {
                query = query.bind(after);
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(|row| household_member_from_row(row, household.head)).collect()
        })
    }
}

/// The no-op UPDATE that makes a read-then-write transaction take its write
/// lock first. Returns the rows locked (0: no such row).
async fn lock_row(tx: &mut Tx, table: &'static str, id: &Uuid) -> CsmResult<u64> {
    let sql = format!("UPDATE {table} SET updated_at = updated_at WHERE id = $1");
    with_tx!(tx, |tx| {
        let done = sqlx::query(&sql).bind(id).execute(&mut **tx).await.map_err(db_error)?;
        Ok(done.rows_affected())
    })
}

/// Lower-cased email, for case-insensitive matching.
fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A unique violation on `consumers.user_profile_id`: a concurrent link of
/// the same profile won.
fn link_write_error(error: sqlx::Error) -> CsmError {
    on_unique_violation(error, || {
        CsmError::failed_precondition("PROFILE_ALREADY_LINKED", "the profile is already linked to a consumer")
    })
}

fn consumer_profile_change(record: &ConsumerProfile, operation: Operation) -> NewChange {
    let mut change = NewChange::new("consumer_profile", record.id, operation)
        .attribute("consumer_profile_id", record.id)
        .attribute("consumer_id", record.consumer);
    if let Some(profile) = record.profile {
        change = change.attribute("profile_id", profile);
    }
    change
}

fn details_from_row(row: &impl DbRow) -> CsmResult<PersonDetails> {
    Ok(PersonDetails {
        first_name: row.text("first_name").map_err(db_error)?,
        middle_name: row.text("middle_name").map_err(db_error)?,
        last_name: row.text("last_name").map_err(db_error)?,
        email: row.text("email").map_err(db_error)?,
        mobile_phone: row.text("mobile_phone").map_err(db_error)?,
        business_phone: row.text("business_phone").map_err(db_error)?,
        home_phone: row.text("home_phone").map_err(db_error)?,
    })
}

fn consumer_from_row(row: &impl DbRow) -> CsmResult<Consumer> {
    Ok(Consumer {
        id: ConsumerId::from_uuid(row.uuid("id").map_err(db_error)?),
        display_name: row.text("display_name").map_err(db_error)?,
        details: details_from_row(row)?,
        user_profile: row.opt_uuid("user_profile_id").map_err(db_error)?.map(ProfileId::from_uuid),
        active: row.boolean("active").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

fn consumer_profile_from_row(row: &impl DbRow) -> CsmResult<ConsumerProfile> {
    Ok(ConsumerProfile {
        id: ConsumerProfileId::from_uuid(row.uuid("id").map_err(db_error)?),
        consumer: ConsumerId::from_uuid(row.uuid("consumer_id").map_err(db_error)?),
        sub_profile_type: row.text("sub_profile_type").map_err(db_error)?,
        display_name: row.text("display_name").map_err(db_error)?,
        active: row.boolean("active").map_err(db_error)?,
        profile: row.opt_uuid("profile_id").map_err(db_error)?.map(ProfileId::from_uuid),
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

fn household_from_row(row: &impl DbRow) -> CsmResult<Household> {
    Ok(Household {
        id: HouseholdId::from_uuid(row.uuid("id").map_err(db_error)?),
        name: row.text("name").map_err(db_error)?,
        head: ConsumerId::from_uuid(row.uuid("head_consumer_id").map_err(db_error)?),
        active: row.boolean("active").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

fn household_member_from_row(row: &impl DbRow, head_of_household: ConsumerId) -> CsmResult<HouseholdMember> {
    let status = row.text("status").map_err(db_error)?;
    let consumer = ConsumerId::from_uuid(row.uuid("consumer_id").map_err(db_error)?);
    let left_at: Option<DateTime<Utc>> = row.opt_timestamp("left_at").map_err(db_error)?;
    Ok(HouseholdMember {
        household: HouseholdId::from_uuid(row.uuid("household_id").map_err(db_error)?),
        consumer,
        status: HouseholdMemberStatus::parse(&status)
            .ok_or_else(|| CsmError::internal(format!("unknown household member status {status:?}")))?,
        head: consumer == head_of_household,
        joined_at: row.timestamp("joined_at").map_err(db_error)?,
        left_at,
    })
}
