//! SQL of groups (R2.18, R2.19, R6.2, R1.8): the groups with their ancestry
//! closure, memberships, group roles, and the part of the hierarchy and the
//! holdings a group write's collision check loads.

use std::collections::BTreeMap;

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, Tx, db_error, unique_as, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{GroupId, ProfileId};
use uuid::Uuid;

use super::{RoleStore, placeholders};
use crate::domain::groups::{
    Group, GroupDetails, GroupFilter, GroupHierarchy, GroupKind, GroupMember, GroupMembership, NewGroup,
    ProfileHoldings, group_name_key,
};

/// Which part of the hierarchy and which profiles a collision check loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupScope {
    /// One group's chain.
    Group(GroupId),
    /// One profile: its memberships and their chains.
    Profile(ProfileId),
    /// A group's subtree with every member of it, and every other group those members belong to.
    Subtree(GroupId),
}

impl GroupScope {
    /// The groups whose ancestry is loaded (`$1` is the scope's id).
    fn groups_sql(self) -> &'static str {
        match self {
            GroupScope::Group(_) => "SELECT $1",
            GroupScope::Profile(_) => "SELECT m.group_id FROM role_group_members m WHERE m.profile_id = $1",
            GroupScope::Subtree(_) => {
                "SELECT s.group_id FROM role_group_ancestors s WHERE s.ancestor_id = $1 \
                 UNION SELECT m.group_id FROM role_group_members m WHERE m.profile_id IN (\
                 SELECT sm.profile_id FROM role_group_members sm \
                 JOIN role_group_ancestors ss ON ss.group_id = sm.group_id WHERE ss.ancestor_id = $1)"
            }
        }
    }

    /// The profiles whose holdings are loaded (`$1` is the scope's id); none for a group.
    fn profiles_sql(self) -> Option<&'static str> {
        match self {
            GroupScope::Group(_) => None,
            GroupScope::Profile(_) => Some("SELECT $1"),
            GroupScope::Subtree(_) => Some(
                "SELECT sm.profile_id FROM role_group_members sm \
                 JOIN role_group_ancestors ss ON ss.group_id = sm.group_id WHERE ss.ancestor_id = $1",
            ),
        }
    }

    fn id(self) -> Uuid {
        match self {
            GroupScope::Group(group) | GroupScope::Subtree(group) => *group.as_uuid(),
            GroupScope::Profile(profile) => *profile.as_uuid(),
        }
    }
}

const GROUP_COLUMNS: &str = "id, name, kind, description, parent_id, created_at, updated_at";

fn group_from_row(row: &impl DbRow) -> CsmResult<Group> {
    let kind = row.text("kind").map_err(db_error)?;
    Ok(Group {
        id: GroupId::from_uuid(row.uuid("id").map_err(db_error)?),
        name: row.text("name").map_err(db_error)?,
        kind: GroupKind::parse(&kind).ok_or_else(|| CsmError::internal(format!("stored group kind {kind:?}")))?,
        description: row.text("description").map_err(db_error)?,
        parent: row.opt_uuid("parent_id").map_err(db_error)?.map(GroupId::from_uuid),
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}

fn member_from_row(row: &impl DbRow) -> CsmResult<GroupMember> {
    Ok(GroupMember {
        group: GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?),
        profile: ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?),
        manager: row.boolean("manager").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
    })
}

impl RoleStore {
    /// Creates a group with its ancestry rows and its change.
    pub async fn insert_group(&self, tx: &mut Tx, group: &NewGroup) -> CsmResult<(Group, u64)> {
        let id = GroupId::new();
        let now = csm_db::now();
        let name_key = group_name_key(&group.name);
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO role_groups (id, name, name_key, kind, description, parent_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(*id.as_uuid())
            .bind(&group.name)
            .bind(&name_key)
            .bind(group.kind.as_str())
            .bind(&group.description)
            .bind(group.parent.map(|parent| *parent.as_uuid()))
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(|error| {
                unique_as(
                    error,
                    "GROUP_NAME_EXISTS",
                    format!("a {} named {:?} exists", group.kind.as_str(), group.name),
                )
            })?;
            // The group is its own ancestor at depth 0; the parent's ancestors follow one level deeper.
            sqlx::query(
                "INSERT INTO role_group_ancestors (group_id, ancestor_id, depth) \
                 SELECT $1, $1, 0 UNION ALL \
                 SELECT $1, ancestor_id, depth + 1 FROM role_group_ancestors WHERE group_id = $2",
            )
            .bind(*id.as_uuid())
            .bind(group.parent.map(|parent| *parent.as_uuid()))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        let change = NewChange::new("group", id, Operation::Created)
            .attribute("group_id", id)
            .attribute("parent_group_id", group.parent.map(|parent| parent.to_string()).unwrap_or_default())
            .attribute("previous_parent_group_id", "");
        let revision = csm_changefeed::append(tx, &change).await?;
        let row = Group {
            id,
            name: group.name.clone(),
            kind: group.kind,
            description: group.description.clone(),
            parent: group.parent,
            created_at: now,
            updated_at: now,
        };
        Ok((row, revision))
    }

    /// One group.
    pub async fn group(&self, id: GroupId) -> CsmResult<Option<Group>> {
        with_db!(&self.db, |pool| {
            sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM role_groups WHERE id = $1"))
                .bind(*id.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?
                .as_ref()
                .map(group_from_row)
                .transpose()
        })
    }

    /// One group, read inside `tx`.
    pub async fn group_in(&self, tx: &mut Tx, id: GroupId) -> CsmResult<Option<Group>> {
        with_tx!(tx, |tx| {
            sqlx::query(&format!("SELECT {GROUP_COLUMNS} FROM role_groups WHERE id = $1"))
                .bind(*id.as_uuid())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
                .as_ref()
                .map(group_from_row)
                .transpose()
        })
    }

    /// Renames and/or re-describes a group.
    pub async fn update_group(
        &self,
        tx: &mut Tx,
        group: &Group,
        name: Option<&str>,
        description: Option<&str>,
    ) -> CsmResult<u64> {
        let name = name.unwrap_or(&group.name);
        with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE role_groups SET name = $2, name_key = $3, description = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(*group.id.as_uuid())
            .bind(name)
            .bind(group_name_key(name))
            .bind(description.unwrap_or(&group.description))
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map_err(|error| {
                unique_as(error, "GROUP_NAME_EXISTS", format!("a {} named {name:?} exists", group.kind.as_str()))
            })?;
        });
        let change = NewChange::new("group", group.id, Operation::Updated)
            .attribute("group_id", group.id)
            .attribute("parent_group_id", group.parent.map(|parent| parent.to_string()).unwrap_or_default())
            .attribute("previous_parent_group_id", group.parent.map(|parent| parent.to_string()).unwrap_or_default());
        csm_changefeed::append(tx, &change).await
    }

    /// Whether `group` has child groups.
    pub async fn has_child_groups_in(&self, tx: &mut Tx, group: GroupId) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM role_groups WHERE parent_id = $1")
                .bind(*group.as_uuid())
                .fetch_one(&mut **tx)
                .await
                .map_err(db_error)?;
            Ok(count > 0)
        })
    }

    /// Deletes a childless group with its memberships and roles; one change
    /// per membership and role removed, so watchers evict exactly the former
    /// members (R2.18). Returns the last revision.
    pub async fn delete_group(&self, tx: &mut Tx, group: GroupId) -> CsmResult<u64> {
        let (profiles, roles): (Vec<Uuid>, Vec<String>) = with_tx!(tx, |tx| {
            let profiles: Vec<Uuid> =
                sqlx::query_scalar("DELETE FROM role_group_members WHERE group_id = $1 RETURNING profile_id")
                    .bind(*group.as_uuid())
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(db_error)?;
            let roles: Vec<String> =
                sqlx::query_scalar("DELETE FROM role_group_roles WHERE group_id = $1 RETURNING role")
                    .bind(*group.as_uuid())
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(db_error)?;
            sqlx::query("DELETE FROM role_group_ancestors WHERE group_id = $1")
                .bind(*group.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            sqlx::query("DELETE FROM role_groups WHERE id = $1")
                .bind(*group.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            (profiles, roles)
        });
        for profile in profiles {
            let profile = ProfileId::from_uuid(profile);
            let change = NewChange::new("group_member", profile, Operation::Deleted)
                .attribute("group_id", group)
                .attribute("profile_id", profile);
            csm_changefeed::append(tx, &change).await?;
        }
        for role in roles {
            let change = NewChange::new("group_role", group, Operation::Deleted)
                .attribute("group_id", group)
                .attribute("role", &role);
            csm_changefeed::append(tx, &change).await?;
        }
        let change = NewChange::new("group", group, Operation::Deleted)
            .attribute("group_id", group)
            .attribute("parent_group_id", "")
            .attribute("previous_parent_group_id", "");
        csm_changefeed::append(tx, &change).await
    }

    /// Whether `ancestor` is `group` or one of its ancestors.
    pub async fn is_ancestor_in(&self, tx: &mut Tx, group: GroupId, ancestor: GroupId) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM role_group_ancestors WHERE group_id = $1 AND ancestor_id = $2",
            )
            .bind(*group.as_uuid())
            .bind(*ancestor.as_uuid())
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
            Ok(count > 0)
        })
    }

    /// Moves `group` with its subtree under `parent` (none: top level): the
    /// subtree's rows to the old ancestors go, rows to the new parent's chain
    /// come, so the closure stays exact.
    pub async fn set_group_parent(&self, tx: &mut Tx, group: &Group, parent: Option<GroupId>) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "DELETE FROM role_group_ancestors \
                 WHERE group_id IN (SELECT s.group_id FROM role_group_ancestors s WHERE s.ancestor_id = $1) \
                 AND ancestor_id IN (SELECT o.ancestor_id FROM role_group_ancestors o WHERE o.group_id = $1 AND o.depth > 0)",
            )
            .bind(*group.id.as_uuid())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            sqlx::query(
                "INSERT INTO role_group_ancestors (group_id, ancestor_id, depth) \
                 SELECT s.group_id, p.ancestor_id, s.depth + p.depth + 1 \
                 FROM role_group_ancestors s CROSS JOIN role_group_ancestors p \
                 WHERE s.ancestor_id = $1 AND p.group_id = $2",
            )
            .bind(*group.id.as_uuid())
            .bind(parent.map(|parent| *parent.as_uuid()))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            sqlx::query("UPDATE role_groups SET parent_id = $2, updated_at = $3 WHERE id = $1")
                .bind(*group.id.as_uuid())
                .bind(parent.map(|parent| *parent.as_uuid()))
                .bind(csm_db::now())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        let change = NewChange::new("group", group.id, Operation::Updated)
            .attribute("group_id", group.id)
            .attribute("parent_group_id", parent.map(|parent| parent.to_string()).unwrap_or_default())
            .attribute("previous_parent_group_id", group.parent.map(|parent| parent.to_string()).unwrap_or_default());
        csm_changefeed::append(tx, &change).await
    }

    /// The part of the hierarchy `scope` needs (chains and their roles), read in `tx`.
    pub async fn hierarchy_in(&self, tx: &mut Tx, scope: GroupScope) -> CsmResult<GroupHierarchy> {
        let sql = format!(
            "SELECT a.group_id, a.ancestor_id, a.depth, r.role FROM role_group_ancestors a \
             LEFT JOIN role_group_roles r ON r.group_id = a.ancestor_id \
             WHERE a.group_id IN ({})",
            scope.groups_sql()
        );
        let rows = with_tx!(tx, |tx| {
            sqlx::query(&sql)
                .bind(scope.id())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok((
                        GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?),
                        GroupId::from_uuid(row.uuid("ancestor_id").map_err(db_error)?),
                        row.int("depth").map_err(db_error)?,
                        row.opt_text("role").map_err(db_error)?,
                    ))
                })
                .collect::<CsmResult<Vec<_>>>()?
        });
        let ancestry: Vec<(GroupId, GroupId, i64)> =
            rows.iter().map(|(group, ancestor, depth, _)| (*group, *ancestor, *depth)).collect();
        let roles = rows.into_iter().filter_map(|(_, ancestor, _, role)| role.map(|role| (ancestor, role)));
        Ok(GroupHierarchy::new(ancestry, roles))
    }

    /// The direct roles and memberships of the profiles in `scope`, read in
    /// `tx`, in profile order. A profile of a `Profile` scope is returned even
    /// when it holds nothing.
    pub async fn profile_holdings_in(&self, tx: &mut Tx, scope: GroupScope) -> CsmResult<Vec<ProfileHoldings>> {
        let Some(profiles_sql) = scope.profiles_sql() else { return Ok(Vec::new()) };
        let direct_sql = format!("SELECT profile_id, role FROM role_assignments WHERE profile_id IN ({profiles_sql})");
        let member_sql =
            format!("SELECT profile_id, group_id FROM role_group_members WHERE profile_id IN ({profiles_sql})");
        let mut holdings: BTreeMap<ProfileId, ProfileHoldings> = BTreeMap::new();
        if let GroupScope::Profile(profile) = scope {
            holdings.insert(profile, ProfileHoldings::new(profile));
        }
        let (direct, memberships) = with_tx!(tx, |tx| {
            let direct = sqlx::query(&direct_sql)
                .bind(scope.id())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok((
                        ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?),
                        row.text("role").map_err(db_error)?,
                    ))
                })
                .collect::<CsmResult<Vec<_>>>()?;
            let memberships = sqlx::query(&member_sql)
                .bind(scope.id())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok((
                        ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?),
                        GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?),
                    ))
                })
                .collect::<CsmResult<Vec<_>>>()?;
            (direct, memberships)
        });
        for (profile, role) in direct {
            holdings.entry(profile).or_insert_with(|| ProfileHoldings::new(profile)).direct_roles.insert(role);
        }
        for (profile, group) in memberships {
            holdings.entry(profile).or_insert_with(|| ProfileHoldings::new(profile)).member_of.insert(group);
        }
        Ok(holdings.into_values().collect())
    }

    /// A direct membership, read inside `tx`.
    pub async fn membership_in(
        &self,
        tx: &mut Tx,
        group: GroupId,
        profile: ProfileId,
    ) -> CsmResult<Option<GroupMember>> {
        with_tx!(tx, |tx| {
            sqlx::query("SELECT group_id, profile_id, manager, created_at FROM role_group_members WHERE group_id = $1 AND profile_id = $2")
                .bind(*group.as_uuid())
                .bind(*profile.as_uuid())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
                .as_ref()
                .map(member_from_row)
                .transpose()
        })
    }

    /// A direct membership.
    pub async fn membership(&self, group: GroupId, profile: ProfileId) -> CsmResult<Option<GroupMember>> {
        with_db!(&self.db, |pool| {
            sqlx::query("SELECT group_id, profile_id, manager, created_at FROM role_group_members WHERE group_id = $1 AND profile_id = $2")
                .bind(*group.as_uuid())
                .bind(*profile.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?
                .as_ref()
                .map(member_from_row)
                .transpose()
        })
    }

    /// Adds `profile` to `group` with its change.
    pub async fn insert_membership(
        &self,
        tx: &mut Tx,
        group: GroupId,
        profile: ProfileId,
        manager: bool,
    ) -> CsmResult<(GroupMember, u64)> {
        let created_at = csm_db::now();
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO role_group_members (group_id, profile_id, manager, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(*group.as_uuid())
            .bind(*profile.as_uuid())
            .bind(manager)
            .bind(created_at)
            .execute(&mut **tx)
            .await
            .map_err(|error| {
                unique_as(error, "MEMBERSHIP_EXISTS", format!("{profile} is already a member of {group}"))
            })?;
        });
        let change = NewChange::new("group_member", profile, Operation::Created)
            .attribute("group_id", group)
            .attribute("profile_id", profile)
            .attribute("manager", manager);
        let revision = csm_changefeed::append(tx, &change).await?;
        Ok((GroupMember { group, profile, manager, created_at }, revision))
    }

    /// Removes a direct membership; `None` when there was none.
    pub async fn delete_membership(&self, tx: &mut Tx, group: GroupId, profile: ProfileId) -> CsmResult<Option<u64>> {
        let deleted = with_tx!(tx, |tx| {
            sqlx::query("DELETE FROM role_group_members WHERE group_id = $1 AND profile_id = $2")
                .bind(*group.as_uuid())
                .bind(*profile.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        if deleted == 0 {
            return Ok(None);
        }
        let change = NewChange::new("group_member", profile, Operation::Deleted)
            .attribute("group_id", group)
            .attribute("profile_id", profile);
        Ok(Some(csm_changefeed::append(tx, &change).await?))
    }

    /// Sets the manager flag of a membership (R6.2); `None` when there is no such membership.
    pub async fn set_membership_manager(
        &self,
        tx: &mut Tx,
        group: GroupId,
        profile: ProfileId,
        manager: bool,
    ) -> CsmResult<Option<(GroupMember, u64)>> {
        let row = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE role_group_members SET manager = $3 WHERE group_id = $1 AND profile_id = $2 \
                 RETURNING group_id, profile_id, manager, created_at",
            )
            .bind(*group.as_uuid())
            .bind(*profile.as_uuid())
            .bind(manager)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(member_from_row)
            .transpose()?
        });
        let Some(row) = row else { return Ok(None) };
        let change = NewChange::new("group_member", profile, Operation::Updated)
            .attribute("group_id", group)
            .attribute("profile_id", profile)
            .attribute("manager", manager);
        Ok(Some((row, csm_changefeed::append(tx, &change).await?)))
    }

    /// Whether `role` is assigned to `group` itself.
    pub async fn group_has_role_in(&self, tx: &mut Tx, group: GroupId, role: &str) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM role_group_roles WHERE group_id = $1 AND role = $2")
                    .bind(*group.as_uuid())
                    .bind(role)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(db_error)?;
            Ok(count > 0)
        })
    }

    /// Assigns `role` to `group` with its change.
    pub async fn insert_group_role(&self, tx: &mut Tx, group: GroupId, role: &str) -> CsmResult<u64> {
        let now = csm_db::now();
        with_tx!(tx, |tx| {
            sqlx::query("INSERT INTO role_group_roles (group_id, role, created_at) VALUES ($1, $2, $3)")
                .bind(*group.as_uuid())
                .bind(role)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(|error| unique_as(error, "GROUP_ROLE_EXISTS", format!("{group} already holds {role}")))?;
            sqlx::query("UPDATE role_groups SET updated_at = $2 WHERE id = $1")
                .bind(*group.as_uuid())
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        let change = NewChange::new("group_role", group, Operation::Created)
            .attribute("group_id", group)
            .attribute("role", role);
        csm_changefeed::append(tx, &change).await
    }

    /// Removes `role` from `group`; `None` when the group did not hold it.
    pub async fn delete_group_role(&self, tx: &mut Tx, group: GroupId, role: &str) -> CsmResult<Option<u64>> {
        let deleted = with_tx!(tx, |tx| {
            let deleted = sqlx::query("DELETE FROM role_group_roles WHERE group_id = $1 AND role = $2")
                .bind(*group.as_uuid())
                .bind(role)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected();
            if deleted > 0 {
                sqlx::query("UPDATE role_groups SET updated_at = $2 WHERE id = $1")
                    .bind(*group.as_uuid())
                    .bind(csm_db::now())
                    .execute(&mut **tx)
                    .await
                    .map_err(db_error)?;
            }
            deleted
        });
        if deleted == 0 {
            return Ok(None);
        }
        let change = NewChange::new("group_role", group, Operation::Deleted)
            .attribute("group_id", group)
            .attribute("role", role);
        Ok(Some(csm_changefeed::append(tx, &change).await?))
    }

    /// Roles (own and of the chain) and managers of each of `groups`.
    pub async fn group_details(&self, groups: &[GroupId]) -> CsmResult<BTreeMap<GroupId, GroupDetails>> {
        let mut details: BTreeMap<GroupId, GroupDetails> =
            groups.iter().map(|group| (*group, GroupDetails::default())).collect();
        if groups.is_empty() {
            return Ok(details);
        }
        let roles_sql = format!(
            "SELECT a.group_id, a.depth, r.role FROM role_group_ancestors a \
             JOIN role_group_roles r ON r.group_id = a.ancestor_id WHERE a.group_id IN ({})",
            placeholders(1, groups.len())
        );
        let managers_sql = format!(
            "SELECT group_id, profile_id FROM role_group_members WHERE manager AND group_id IN ({}) ORDER BY profile_id",
            placeholders(1, groups.len())
        );
        let (roles, managers) = with_db!(&self.db, |pool| {
            let mut roles_query = sqlx::query(&roles_sql);
            let mut managers_query = sqlx::query(&managers_sql);
            for group in groups {
                roles_query = roles_query.bind(*group.as_uuid());
                managers_query = managers_query.bind(*group.as_uuid());
            }
            let roles = roles_query
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok((
                        GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?),
                        row.int("depth").map_err(db_error)?,
                        row.text("role").map_err(db_error)?,
                    ))
                })
                .collect::<CsmResult<Vec<_>>>()?;
            let managers = managers_query
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    Ok((
                        GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?),
                        ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?),
                    ))
                })
                .collect::<CsmResult<Vec<_>>>()?;
            (roles, managers)
        });
        for (group, depth, role) in roles {
            let entry = details.entry(group).or_default();
            if depth == 0 {
                entry.roles.insert(role.clone());
            }
            entry.chain_roles.insert(role);
        }
        for (group, profile) in managers {
            details.entry(group).or_default().managers.push(profile);
        }
        Ok(details)
    }

    /// A page of groups ordered by name (case-insensitively), then id; `after`
    /// is the (name key, id) of the last group of the previous page.
    pub async fn list_groups(
        &self,
        filter: &GroupFilter,
        after: Option<(String, GroupId)>,
        limit: i64,
    ) -> CsmResult<Vec<Group>> {
        // LIKE with an escape character, so '%' and '_' in the needle match themselves.
        let pattern = filter.name_contains.as_ref().map(|needle| {
            let escaped = group_name_key(needle).replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        let (after_key, after_id) = match after {
            Some((key, id)) => (Some(key), Some(*id.as_uuid())),
            None => (None, None),
        };
        with_db!(&self.db, |pool| {
            sqlx::query(&format!(
                "SELECT {GROUP_COLUMNS} FROM role_groups \
                 WHERE ($1 IS NULL OR kind = $1) \
                 AND ($2 IS NULL OR parent_id = $2) \
                 AND (NOT $3 OR parent_id IS NULL) \
                 AND ($4 IS NULL OR name_key LIKE $4 ESCAPE '\\') \
                 AND ($5 IS NULL OR name_key > $5 OR (name_key = $5 AND id > $6)) \
                 ORDER BY name_key, id LIMIT $7"
            ))
            .bind(filter.kind.map(GroupKind::as_str))
            .bind(filter.parent.map(|parent| *parent.as_uuid()))
            .bind(filter.top_level_only)
            .bind(pattern)
            .bind(after_key)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(group_from_row)
            .collect()
        })
    }

    /// A page of the members of `group` (and, if asked, of its descendants)
    /// ordered by profile, then group; `after` is the last (profile, group) of
    /// the previous page.
    pub async fn list_group_members(
        &self,
        group: GroupId,
        include_descendants: bool,
        managers_only: bool,
        after: Option<(ProfileId, GroupId)>,
        limit: i64,
    ) -> CsmResult<Vec<GroupMember>> {
        with_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT m.group_id, m.profile_id, m.manager, m.created_at FROM role_group_members m \
                 WHERE m.group_id IN (SELECT s.group_id FROM role_group_ancestors s WHERE s.ancestor_id = $1 AND (s.depth = 0 OR $2)) \
                 AND (NOT $3 OR m.manager) \
                 AND ($4 IS NULL OR m.profile_id > $4 OR (m.profile_id = $4 AND m.group_id > $5)) \
                 ORDER BY m.profile_id, m.group_id LIMIT $6",
            )
            .bind(*group.as_uuid())
            .bind(include_descendants)
            .bind(managers_only)
            .bind(after.map(|(profile, _)| *profile.as_uuid()))
            .bind(after.map(|(_, group)| *group.as_uuid()))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(member_from_row)
            .collect()
        })
    }

    /// A page of the groups `profile` belongs to (directly, and through
    /// ancestry if asked) ordered by group id; an ancestor reached through
    /// several memberships is listed once, via the nearest one.
    pub async fn list_profile_groups(
        &self,
        profile: ProfileId,
        kind: Option<GroupKind>,
        include_ancestors: bool,
        after: Option<GroupId>,
        limit: i64,
    ) -> CsmResult<Vec<GroupMembership>> {
        with_db!(&self.db, |pool| {
            sqlx::query(
                "SELECT g.id, g.kind, d.profile_id IS NOT NULL AS direct, COALESCE(d.manager, FALSE) AS manager, \
                 (SELECT v.group_id FROM role_group_members v JOIN role_group_ancestors va ON va.group_id = v.group_id \
                  WHERE v.profile_id = $1 AND va.ancestor_id = g.id ORDER BY va.depth, v.group_id LIMIT 1) AS via_group_id \
                 FROM role_groups g \
                 LEFT JOIN role_group_members d ON d.group_id = g.id AND d.profile_id = $1 \
                 WHERE g.id IN (SELECT a.ancestor_id FROM role_group_members m \
                                JOIN role_group_ancestors a ON a.group_id = m.group_id \
                                WHERE m.profile_id = $1 AND (a.depth = 0 OR $2)) \
                 AND ($3 IS NULL OR g.kind = $3) \
                 AND ($4 IS NULL OR g.id > $4) \
                 ORDER BY g.id LIMIT $5",
            )
            .bind(*profile.as_uuid())
            .bind(include_ancestors)
            .bind(kind.map(GroupKind::as_str))
            .bind(after.map(|group| *group.as_uuid()))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| {
                let kind = row.text("kind").map_err(db_error)?;
                let direct = row.boolean("direct").map_err(db_error)?;
                Ok(GroupMembership {
                    group: GroupId::from_uuid(row.uuid("id").map_err(db_error)?),
                    kind: GroupKind::parse(&kind).ok_or_else(|| CsmError::internal(format!("stored group kind {kind:?}")))?,
                    direct,
                    manager: row.boolean("manager").map_err(db_error)?,
                    via: if direct { None } else { row.opt_uuid("via_group_id").map_err(db_error)?.map(GroupId::from_uuid) },
                })
            })
            .collect()
        })
    }
}
