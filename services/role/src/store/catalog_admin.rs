//! SQL of catalog administration: custom roles, containment edges, aliases,
//! the suspect-edge setting, and the holders a containment edit must check
//! (§2.2, R2.6–R2.12, R4.13, X1, X11). Every write appends its change in the
//! caller's transaction; callers take the role-graph lock first.

use std::collections::{BTreeMap, BTreeSet};

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, Tx, db_error, unique_as, with_tx};
use csm_errors::CsmResult;
use csm_types::{GroupId, ProfileId};

use super::{RoleStore, placeholders};
use crate::domain::catalog::ROLE_ALIASES;
use crate::domain::catalog_admin::RoleHolders;
use crate::domain::settings::{CONTACT_ROLE_ASSIGNMENT_KEY, LOAD_SUSPECT_EDGES_KEY};

/// The change-feed entity id (and seed-removal name) of an edge.
pub(crate) fn edge_key(parent: &str, child: &str) -> String {
    format!("{parent}>{child}")
}

/// `WITH affected AS (profiles holding one of the $1..$n roles directly or
/// through a group), held AS (every (profile, role) those profiles hold)`.
fn held_by_profiles_sql(roles: usize) -> String {
    let list = placeholders(1, roles);
    format!(
        "WITH affected AS ( \
             SELECT profile_id FROM role_assignments WHERE role IN ({list}) \
             UNION \
             SELECT m.profile_id FROM role_group_roles r \
             JOIN role_group_ancestors a ON a.ancestor_id = r.group_id \
             JOIN role_group_members m ON m.group_id = a.group_id \
             WHERE r.role IN ({list})), \
         held AS ( \
             SELECT x.profile_id, x.role FROM role_assignments x \
             WHERE x.profile_id IN (SELECT profile_id FROM affected) \
             UNION \
             SELECT m.profile_id, r.role FROM role_group_members m \
             JOIN role_group_ancestors a ON a.group_id = m.group_id \
             JOIN role_group_roles r ON r.group_id = a.ancestor_id \
             WHERE m.profile_id IN (SELECT profile_id FROM affected))"
    )
}

impl RoleStore {
    /// Creates a custom role with its change.
    pub async fn insert_custom_role(
        &self,
        tx: &mut Tx,
        name: &str,
        display_name: &str,
        description: &str,
    ) -> CsmResult<u64> {
        let now = csm_db::now();
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO roles (name, description, origin, created_at, display_name, updated_at) \
                 VALUES ($1, $2, 'custom', $3, $4, $3)",
            )
            .bind(name)
            .bind(description)
            .bind(now)
            .bind(display_name)
            .execute(&mut **tx)
            .await
            .map_err(|error| unique_as(error, "ROLE_EXISTS", format!("role {name} already exists")))?;
        });
        let change = NewChange::new("role", name, Operation::Created).attribute("role", name);
        csm_changefeed::append(tx, &change).await
    }

    /// Updates display name and/or description; `None` when the role does not exist.
    pub async fn update_role(
        &self,
        tx: &mut Tx,
        name: &str,
        display_name: Option<&str>,
        description: Option<&str>,
    ) -> CsmResult<Option<u64>> {
        let updated = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE roles SET display_name = COALESCE($2, display_name), \
                 description = COALESCE($3, description), updated_at = $4 WHERE name = $1",
            )
            .bind(name)
            .bind(display_name)
            .bind(description)
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?
            .rows_affected()
        });
        if updated == 0 {
            return Ok(None);
        }
        let mut fields = Vec::new();
        if display_name.is_some() {
            fields.push("display_name");
        }
        if description.is_some() {
            fields.push("description");
        }
        let change = NewChange::new("role", name, Operation::Updated)
            .attribute("role", name)
            .attribute("fields", fields.join(","));
        Ok(Some(csm_changefeed::append(tx, &change).await?))
    }

    /// The first use of `role` that forbids deleting it (DeleteRole,
    /// metadata "usage"): a profile or group holding it, a role containing it,
    /// or the delegated-assignment setting listing it.
    pub async fn role_usage_in(&self, tx: &mut Tx, role: &str) -> CsmResult<Option<String>> {
        with_tx!(tx, |tx| {
            let profile: Option<uuid::Uuid> =
                sqlx::query_scalar("SELECT profile_id FROM role_assignments WHERE role = $1 LIMIT 1")
                    .bind(role)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
            if let Some(profile) = profile {
                return Ok(Some(format!("profile:{profile}")));
            }
            let group: Option<uuid::Uuid> =
                sqlx::query_scalar("SELECT group_id FROM role_group_roles WHERE role = $1 LIMIT 1")
                    .bind(role)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
            if let Some(group) = group {
                return Ok(Some(format!("group:{group}")));
            }
            let parent: Option<String> =
                sqlx::query_scalar("SELECT parent FROM role_contains WHERE child = $1 ORDER BY parent LIMIT 1")
                    .bind(role)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
            if let Some(parent) = parent {
                return Ok(Some(format!("role:{parent}")));
            }
            let listed: Option<String> = sqlx::query_scalar("SELECT value FROM role_settings WHERE key = $1")
                .bind(CONTACT_ROLE_ASSIGNMENT_KEY)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            if listed.is_some_and(|list| list.split(',').any(|listed| listed == role)) {
                return Ok(Some(CONTACT_ROLE_ASSIGNMENT_KEY.to_owned()));
            }
            Ok(None)
        })
    }

    /// Deletes a role with its own edges and aliases (callers checked it is unused).
    pub async fn delete_role(&self, tx: &mut Tx, role: &str) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            for sql in [
                "DELETE FROM role_aliases WHERE role = $1",
                "DELETE FROM role_contains WHERE parent = $1",
                "DELETE FROM roles WHERE name = $1",
            ] {
                sqlx::query(sql).bind(role).execute(&mut **tx).await.map_err(db_error)?;
            }
        });
        let change = NewChange::new("role", role, Operation::Deleted).attribute("role", role);
        csm_changefeed::append(tx, &change).await
    }

    /// Adds the edge `parent ⊃ child` with its change, and forgets an earlier
    /// removal of the same seeded edge.
    pub async fn insert_edge(&self, tx: &mut Tx, parent: &str, child: &str) -> CsmResult<u64> {
        let now = csm_db::now();
        let key = edge_key(parent, child);
        with_tx!(tx, |tx| {
            sqlx::query("INSERT INTO role_contains (parent, child, suspect, origin) VALUES ($1, $2, FALSE, 'custom')")
                .bind(parent)
                .bind(child)
                .execute(&mut **tx)
                .await
                .map_err(|error| {
                    unique_as(error, "CONTAINMENT_EXISTS", format!("{parent} already contains {child}"))
                })?;
            sqlx::query("DELETE FROM role_seed_removals WHERE kind = 'edge' AND name = $1")
                .bind(&key)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            sqlx::query("UPDATE roles SET updated_at = $2 WHERE name = $1")
                .bind(parent)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        let change = NewChange::new("role_containment", key, Operation::Created)
            .attribute("parent_role", parent)
            .attribute("child_role", child);
        csm_changefeed::append(tx, &change).await
    }

    /// Removes the edge `parent ⊃ child` with its change (a seeded edge is
    /// remembered as removed, R4.13); `None` when there was no such edge.
    pub async fn delete_edge(&self, tx: &mut Tx, parent: &str, child: &str) -> CsmResult<Option<u64>> {
        let key = edge_key(parent, child);
        let origin: Option<String> = with_tx!(tx, |tx| {
            sqlx::query_scalar("DELETE FROM role_contains WHERE parent = $1 AND child = $2 RETURNING origin")
                .bind(parent)
                .bind(child)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
        });
        let Some(origin) = origin else { return Ok(None) };
        let now = csm_db::now();
        with_tx!(tx, |tx| {
            if origin == "seed" {
                sqlx::query(
                    "INSERT INTO role_seed_removals (kind, name) VALUES ('edge', $1) ON CONFLICT (kind, name) DO NOTHING",
                )
                .bind(&key)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
            sqlx::query("UPDATE roles SET updated_at = $2 WHERE name = $1")
                .bind(parent)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        let change = NewChange::new("role_containment", key, Operation::Deleted)
            .attribute("parent_role", parent)
            .attribute("child_role", child);
        Ok(Some(csm_changefeed::append(tx, &change).await?))
    }

    /// Adds `alias` for `role` with its change (callers checked the name is free).
    pub async fn insert_alias(&self, tx: &mut Tx, alias: &str, role: &str) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query("INSERT INTO role_aliases (alias, role) VALUES ($1, $2)")
                .bind(alias)
                .bind(role)
                .execute(&mut **tx)
                .await
                .map_err(|error| unique_as(error, "ROLE_EXISTS", format!("alias {alias} already exists")))?;
            sqlx::query("DELETE FROM role_seed_removals WHERE kind = 'alias' AND name = $1")
                .bind(alias)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        let change = NewChange::new("role_alias", alias, Operation::Created).attribute("role", role);
        csm_changefeed::append(tx, &change).await
    }

    /// Removes `alias` with its change (a seeded alias is remembered as
    /// removed); `None` when there was no such alias.
    pub async fn delete_alias(&self, tx: &mut Tx, alias: &str) -> CsmResult<Option<u64>> {
        let role: Option<String> = with_tx!(tx, |tx| {
            sqlx::query_scalar("DELETE FROM role_aliases WHERE alias = $1 RETURNING role")
                .bind(alias)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?
        });
        let Some(role) = role else { return Ok(None) };
        if ROLE_ALIASES.iter().any(|(seeded, _)| *seeded == alias) {
            with_tx!(tx, |tx| {
                sqlx::query(
                    "INSERT INTO role_seed_removals (kind, name) VALUES ('alias', $1) ON CONFLICT (kind, name) DO NOTHING",
                )
                .bind(alias)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            });
        }
        let change = NewChange::new("role_alias", alias, Operation::Deleted).attribute("role", role);
        Ok(Some(csm_changefeed::append(tx, &change).await?))
    }

    /// Writes the load_suspect_edges setting (X1) with its change.
    pub async fn write_load_suspect_edges(&self, tx: &mut Tx, load: bool) -> CsmResult<u64> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO role_settings (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(LOAD_SUSPECT_EDGES_KEY)
            .bind(if load { "true" } else { "false" })
            .bind(csm_db::now())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        let change = NewChange::new("role_settings", "role_settings", Operation::Updated)
            .attribute("fields", LOAD_SUSPECT_EDGES_KEY);
        csm_changefeed::append(tx, &change).await
    }

    /// Every profile and group holding one of `roles` (directly, through a
    /// group or a parent group), with everything each holds, read in `tx`.
    pub async fn holders_in(&self, tx: &mut Tx, roles: &[String]) -> CsmResult<RoleHolders> {
        if roles.is_empty() {
            return Ok(RoleHolders::default());
        }
        let sql = format!("{} SELECT profile_id, role FROM held", held_by_profiles_sql(roles.len()));
        let mut holders = RoleHolders::default();
        with_tx!(tx, |tx| {
            let mut query = sqlx::query(&sql);
            for role in roles {
                query = query.bind(role);
            }
            for row in query.fetch_all(&mut **tx).await.map_err(db_error)? {
                let profile = ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?);
                holders.profiles.entry(profile).or_default().insert(row.text("role").map_err(db_error)?);
            }
        });
        holders.groups = self.holder_groups_in(tx, roles).await?;
        Ok(holders)
    }

    /// The distinct role sets of the profiles holding one of `roles`, each
    /// with one profile holding it, computed in the database: a containment
    /// edit checks each set once instead of loading every holder (R2.12.1).
    pub async fn holder_role_sets_in(
        &self,
        tx: &mut Tx,
        roles: &[String],
    ) -> CsmResult<Vec<(BTreeSet<String>, ProfileId)>> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        // One signature per profile (its roles, sorted), then one row per signature.
        let (signature, example) = match tx {
            Tx::Postgres(_) => ("string_agg(role, ',' ORDER BY role)", "(array_agg(profile_id))[1]"),
            _ => ("group_concat(role, ',' ORDER BY role)", "MIN(profile_id)"),
        };
        let sql = format!(
            "{}, signatures AS (SELECT profile_id, {signature} AS roles FROM held GROUP BY profile_id) \
             SELECT roles, {example} AS profile_id FROM signatures GROUP BY roles",
            held_by_profiles_sql(roles.len())
        );
        let sets = with_tx!(tx, |tx| {
            let mut query = sqlx::query(&sql);
            for role in roles {
                query = query.bind(role);
            }
            query
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| {
                    let roles: String = row.text("roles").map_err(db_error)?;
                    let profile = ProfileId::from_uuid(row.uuid("profile_id").map_err(db_error)?);
                    Ok((roles.split(',').map(str::to_owned).collect::<BTreeSet<String>>(), profile))
                })
                .collect::<CsmResult<Vec<_>>>()?
        });
        Ok(sets)
    }

    /// Every group holding one of `roles` itself or through an ancestor, with
    /// all the roles of the group and its ancestors, read in `tx`.
    pub async fn holder_groups_in(
        &self,
        tx: &mut Tx,
        roles: &[String],
    ) -> CsmResult<BTreeMap<GroupId, BTreeSet<String>>> {
        if roles.is_empty() {
            return Ok(BTreeMap::new());
        }
        let sql = format!(
            "SELECT a.group_id, r.role FROM role_group_ancestors a \
             JOIN role_group_roles r ON r.group_id = a.ancestor_id \
             WHERE a.group_id IN ( \
                 SELECT d.group_id FROM role_group_roles h \
                 JOIN role_group_ancestors d ON d.ancestor_id = h.group_id \
                 WHERE h.role IN ({}))",
            placeholders(1, roles.len())
        );
        let mut groups: BTreeMap<GroupId, BTreeSet<String>> = BTreeMap::new();
        with_tx!(tx, |tx| {
            let mut query = sqlx::query(&sql);
            for role in roles {
                query = query.bind(role);
            }
            for row in query.fetch_all(&mut **tx).await.map_err(db_error)? {
                let group = GroupId::from_uuid(row.uuid("group_id").map_err(db_error)?);
                groups.entry(group).or_default().insert(row.text("role").map_err(db_error)?);
            }
        });
        Ok(groups)
    }
}
