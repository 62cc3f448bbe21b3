//! SQL of account, consumer and household team members (R3.13, R3.14).
//! R3.13 is the partial unique index `team_members_unique_holder`.

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, is_unique_violation, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{ProfileId, ResponsibilityId};
use uuid::Uuid;

use super::{AccountTeamStore, invalid_token, page_after_id};
use crate::domain::teams::{MemberKind, Team, TeamMember, TeamMemberId};

const MEMBER_COLUMNS: &str = "id, team_kind, team_id, profile_id, member_kind, related_party_configuration_id, \
                              responsibility_id, sort_order, created_at, updated_at";

fn member_change(member: &TeamMember, operation: Operation) -> NewChange {
    NewChange::new("team_member", member.id, operation)
        .attribute(member.team.attribute(), member.team.uuid())
        .attribute("profile_id", member.profile)
        .attribute("responsibility_id", member.responsibility)
}

/// A write refused by one of the team-member unique keys; the caller reads
/// which one after rolling back (a PostgreSQL transaction is aborted by then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamMemberConflict;

impl AccountTeamStore {
    /// Inserts a member (with its responsibility's unique flag) and its change.
    /// `Ok(Err(TeamMemberConflict))` when a unique key refused the row.
    pub async fn insert_team_member(
        &self,
        tx: &mut Tx,
        member: &TeamMember,
        unique_responsibility: bool,
    ) -> CsmResult<Result<u64, TeamMemberConflict>> {
        let inserted = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO team_members (id, team_kind, team_id, profile_id, member_kind, \
                 related_party_configuration_id, responsibility_id, unique_responsibility, sort_order, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(member.id.as_uuid())
            .bind(member.team.kind_str())
            .bind(member.team.uuid())
            .bind(member.profile.as_uuid())
            .bind(member.member_kind.as_str())
            .bind(member.related_party_configuration)
            .bind(member.responsibility.as_uuid())
            .bind(unique_responsibility)
            .bind(member.order)
            .bind(member.created_at)
            .bind(member.updated_at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        match inserted {
            Ok(()) => {}
            Err(error) if is_unique_violation(&error) => return Ok(Err(TeamMemberConflict)),
            Err(error) => return Err(db_error(error)),
        }
        Ok(Ok(csm_changefeed::append(tx, &member_change(member, Operation::Created)).await?))
    }

    /// Writes the mutable fields of `member` (its `updated_at` is set here) and its change.
    pub async fn save_team_member(
        &self,
        tx: &mut Tx,
        member: &TeamMember,
        unique_responsibility: bool,
    ) -> CsmResult<Result<(TeamMember, u64), TeamMemberConflict>> {
        let member = TeamMember { updated_at: csm_db::now(), ..member.clone() };
        let saved = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE team_members SET member_kind = $2, related_party_configuration_id = $3, \
                 responsibility_id = $4, unique_responsibility = $5, sort_order = $6, updated_at = $7 WHERE id = $1",
            )
            .bind(member.id.as_uuid())
            .bind(member.member_kind.as_str())
            .bind(member.related_party_configuration)
            .bind(member.responsibility.as_uuid())
            .bind(unique_responsibility)
            .bind(member.order)
            .bind(member.updated_at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        match saved {
            Ok(()) => {}
            Err(error) if is_unique_violation(&error) => return Ok(Err(TeamMemberConflict)),
            Err(error) => return Err(db_error(error)),
        }
        let revision = csm_changefeed::append(tx, &member_change(&member, Operation::Updated)).await?;
        Ok(Ok((member, revision)))
    }

    /// Deletes one member row and writes its change.
    pub async fn delete_team_member_row(&self, tx: &mut Tx, member: &TeamMember) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM team_members WHERE id = $1")
                .bind(member.id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        csm_changefeed::append(tx, &member_change(member, Operation::Deleted)).await
    }

    pub async fn get_team_member(&self, id: TeamMemberId) -> CsmResult<Option<TeamMember>> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM team_members WHERE id = $1");
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db_error)?;
            row.as_ref().map(member_from_row).transpose()
        })
    }

    /// Locks the member (no-op UPDATE first) and returns it.
    pub async fn team_member_for_update(&self, tx: &mut Tx, id: TeamMemberId) -> CsmResult<Option<TeamMember>> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM team_members WHERE id = $1");
        with_tx!(tx, |tx| {
            let locked = sqlx::query("UPDATE team_members SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            if locked.rows_affected() == 0 {
                return Ok(None);
            }
            let row = sqlx::query(&sql).bind(id.as_uuid()).fetch_one(&mut **tx).await.map_err(db_error)?;
            member_from_row(&row).map(Some)
        })
    }

    /// Every member holding `responsibility` (for the R3.18 cascade).
    pub async fn team_members_with_responsibility(
        &self,
        tx: &mut Tx,
        responsibility: ResponsibilityId,
    ) -> CsmResult<Vec<TeamMember>> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM team_members WHERE responsibility_id = $1 ORDER BY id");
        with_tx!(tx, |tx| {
            let rows = sqlx::query(&sql).bind(responsibility.as_uuid()).fetch_all(&mut **tx).await.map_err(db_error)?;
            rows.iter().map(member_from_row).collect()
        })
    }

    /// The member (team, profile, responsibility), if any.
    pub async fn find_team_member(
        &self,
        team: Team,
        profile: ProfileId,
        responsibility: ResponsibilityId,
    ) -> CsmResult<Option<TeamMember>> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM team_members \
             WHERE team_kind = $1 AND team_id = $2 AND profile_id = $3 AND responsibility_id = $4"
        );
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(team.kind_str())
                .bind(team.uuid())
                .bind(profile.as_uuid())
                .bind(responsibility.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(member_from_row).transpose()
        })
    }

    /// The holder of a unique `responsibility` on `team`, if any (R3.13).
    pub async fn unique_holder(&self, team: Team, responsibility: ResponsibilityId) -> CsmResult<Option<TeamMember>> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM team_members \
             WHERE team_kind = $1 AND team_id = $2 AND responsibility_id = $3 AND unique_responsibility = TRUE"
        );
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&sql)
                .bind(team.kind_str())
                .bind(team.uuid())
                .bind(responsibility.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(member_from_row).transpose()
        })
    }

    /// One page of a team ordered by (order, id); key "order|id".
    pub async fn list_team_members(
        &self,
        team: Team,
        responsibility: Option<ResponsibilityId>,
        page: &PageRequest,
    ) -> CsmResult<Vec<TeamMember>> {
        let after = page.after.as_deref().map(parse_member_key).transpose()?;
        let mut sql = format!("SELECT {MEMBER_COLUMNS} FROM team_members WHERE team_kind = $1 AND team_id = $2");
        let mut next = 3;
        if after.is_some() {
            sql.push_str(&format!(
                " AND (sort_order > ${a} OR (sort_order = ${a} AND id > ${b}))",
                a = next,
                b = next + 1
            ));
            next += 2;
        }
        if responsibility.is_some() {
            sql.push_str(&format!(" AND responsibility_id = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY sort_order, id LIMIT ${next}"));
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql).bind(team.kind_str()).bind(team.uuid());
            if let Some((order, id)) = after {
                query = query.bind(order).bind(id);
            }
            if let Some(responsibility) = responsibility {
                query = query.bind(*responsibility.as_uuid());
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(member_from_row).collect()
        })
    }

    /// One page of the memberships of `profile`, ordered by id (v7, so by creation).
    pub async fn list_memberships_of_profile(
        &self,
        profile: ProfileId,
        page: &PageRequest,
    ) -> CsmResult<Vec<TeamMember>> {
        let after = page_after_id(page)?;
        let sql = match after {
            Some(_) => format!(
                "SELECT {MEMBER_COLUMNS} FROM team_members WHERE profile_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ),
            None => format!("SELECT {MEMBER_COLUMNS} FROM team_members WHERE profile_id = $1 ORDER BY id LIMIT $2"),
        };
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql).bind(profile.as_uuid());
            if let Some(after) = after {
                query = query.bind(after);
            }
            let rows = query.bind(page.fetch_limit()).fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(member_from_row).collect()
        })
    }
}

/// The page key of a team member in its team: "order|id".
pub(crate) fn member_key(member: &TeamMember) -> String {
    format!("{}|{}", member.order, member.id)
}

fn parse_member_key(key: &str) -> CsmResult<(i64, Uuid)> {
    let (order, id) = key.split_once('|').ok_or_else(invalid_token)?;
    Ok((order.parse().map_err(|_| invalid_token())?, Uuid::parse_str(id).map_err(|_| invalid_token())?))
}

pub(crate) fn member_from_row(row: &impl DbRow) -> CsmResult<TeamMember> {
    let team_kind = row.text("team_kind").map_err(db_error)?;
    let member_kind = row.text("member_kind").map_err(db_error)?;
    Ok(TeamMember {
        id: TeamMemberId::from_uuid(row.uuid("id").map_err(db_error)?),
        team: Team::from_parts(&team_kind, row.uuid("team_id").map_err(db_error)?)
            .ok_or_else(|| CsmError::internal(format!("unknown team kind {team_kind:?}")))?,
        profile: ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?),
        member_kind: MemberKind::parse(&member_kind)
            .ok_or_else(|| CsmError::internal(format!("unknown member kind {member_kind:?}")))?,
        related_party_configuration: row.opt_uuid("related_party_configuration_id").map_err(db_error)?,
        responsibility: ResponsibilityId::from_uuid(row.uuid("responsibility_id").map_err(db_error)?),
        order: row.int("sort_order").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}
