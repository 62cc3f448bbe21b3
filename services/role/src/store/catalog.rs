//! SQL of the catalog as read: the seeded roles, edges and aliases written at
//! start-up (SPEC §2.2, §5.4, X11) and the catalog loaded from the database.

use std::collections::BTreeMap;

use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, Tx, db_error, with_db, with_tx};
use csm_errors::CsmResult;

use super::RoleStore;
use super::catalog_admin::edge_key;
use crate::domain::catalog::{
    CatalogRole, CatalogSnapshot, ContainmentEdge, ROLE_ALIASES, SEED_EDGES, SEED_ROLES, SeedSource,
};
use crate::domain::settings::LOAD_SUSPECT_EDGES_KEY;

const ROLE_ROWS_SQL: &str =
    "SELECT name, description, origin, created_at, display_name, updated_at FROM roles ORDER BY name";
const EDGE_ROWS_SQL: &str = "SELECT parent, child, suspect, origin FROM role_contains ORDER BY parent, child";

fn role_row_from(row: &impl DbRow) -> CsmResult<CatalogRole> {
    Ok(CatalogRole {
        name: row.text("name").map_err(db_error)?,
        description: row.text("description").map_err(db_error)?,
        origin: row.text("origin").map_err(db_error)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        display_name: row.opt_text("display_name").map_err(db_error)?,
        updated_at: row.opt_timestamp("updated_at").map_err(db_error)?,
    })
}

fn edge_row_from(row: &impl DbRow) -> CsmResult<ContainmentEdge> {
    Ok(ContainmentEdge {
        parent: row.text("parent").map_err(db_error)?,
        child: row.text("child").map_err(db_error)?,
        suspect: row.boolean("suspect").map_err(db_error)?,
        origin: row.text("origin").map_err(db_error)?,
    })
}

const ALIASES_SQL: &str = "SELECT alias, role FROM role_aliases ORDER BY alias";
const LOAD_SUSPECT_SQL: &str = "SELECT value FROM role_settings WHERE key = $1";
const GRAPH_VERSION_SQL: &str = "SELECT version FROM role_graph_lock WHERE id = 1";

fn alias_from(row: &impl DbRow) -> CsmResult<(String, String)> {
    Ok((row.text("alias").map_err(db_error)?, row.text("role").map_err(db_error)?))
}

impl RoleStore {
    /// Writes the seeded catalog (SPEC §2.2, §5.4): missing roles and edges are
    /// added, existing ones left alone, so start-up is idempotent across restarts
    /// and replicas. Returns the revision of the last change written, if any.
    pub async fn seed_catalog(&self) -> CsmResult<Option<u64>> {
        let mut tx = self.db.begin().await?;
        let now = csm_db::now();
        let mut last_revision = None;
        for role in SEED_ROLES {
            let origin = match role.source {
                SeedSource::Seed => "seed",
                SeedSource::Doc => "doc",
            };
            let inserted = with_tx!(&mut tx, |tx| {
                sqlx::query(
                    "INSERT INTO roles (name, description, origin, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(role.name)
                .bind(role.description)
                .bind(origin)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
            });
            if inserted > 0 {
                let change = NewChange::new("role", role.name, Operation::Created).attribute("role", role.name);
                last_revision = Some(csm_changefeed::append(&mut tx, &change).await?);
            }
        }
        for edge in SEED_EDGES {
            let inserted = with_tx!(&mut tx, |tx| {
                // A seeded edge an administrator removed stays removed (R4.13).
                sqlx::query(
                    "INSERT INTO role_contains (parent, child, suspect) SELECT $1, $2, $3 \
                     WHERE NOT EXISTS (SELECT 1 FROM role_seed_removals WHERE kind = 'edge' AND name = $4) \
                     ON CONFLICT (parent, child) DO NOTHING",
                )
                .bind(edge.parent)
                .bind(edge.child)
                .bind(edge.suspect)
                .bind(edge_key(edge.parent, edge.child))
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
            });
            if inserted > 0 {
                let change =
                    NewChange::new("role_containment", format!("{}>{}", edge.parent, edge.child), Operation::Created)
                        .attribute("parent_role", edge.parent)
                        .attribute("child_role", edge.child);
                last_revision = Some(csm_changefeed::append(&mut tx, &change).await?);
            }
        }
        tx.commit().await?;
        Ok(last_revision)
    }

    /// Writes the seeded aliases (X11) that are missing and were not removed
    /// by an administrator. Returns the revision of the last change written.
    pub async fn seed_aliases(&self) -> CsmResult<Option<u64>> {
        let mut tx = self.db().begin().await?;
        let mut last_revision = None;
        for (alias, role) in ROLE_ALIASES {
            let inserted = with_tx!(&mut tx, |tx| {
                sqlx::query(
                    "INSERT INTO role_aliases (alias, role) SELECT $1, $2 \
                     WHERE NOT EXISTS (SELECT 1 FROM role_seed_removals WHERE kind = 'alias' AND name = $1) \
                     ON CONFLICT (alias) DO NOTHING",
                )
                .bind(*alias)
                .bind(*role)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?
                .rows_affected()
            });
            if inserted > 0 {
                let change = NewChange::new("role_alias", alias, Operation::Created).attribute("role", role);
                last_revision = Some(csm_changefeed::append(&mut tx, &change).await?);
            }
        }
        tx.commit().await?;
        Ok(last_revision)
    }

    /// Every role and every containment edge (suspect ones included).
    pub async fn load_catalog(&self) -> CsmResult<(Vec<CatalogRole>, Vec<ContainmentEdge>)> {
        with_db!(&self.db, |pool| {
            let roles = sqlx::query(ROLE_ROWS_SQL)
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(role_row_from)
                .collect::<CsmResult<Vec<_>>>()?;
            let edges = sqlx::query(EDGE_ROWS_SQL)
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(edge_row_from)
                .collect::<CsmResult<Vec<_>>>()?;
            Ok((roles, edges))
        })
    }

    /// The catalog as stored (start-up).
    pub async fn catalog_snapshot(&self) -> CsmResult<CatalogSnapshot> {
        with_db!(self.db(), |pool| {
            let roles = sqlx::query(ROLE_ROWS_SQL)
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(role_row_from)
                .collect::<CsmResult<Vec<_>>>()?;
            let edges = sqlx::query(EDGE_ROWS_SQL)
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(edge_row_from)
                .collect::<CsmResult<Vec<_>>>()?;
            let aliases = sqlx::query(ALIASES_SQL)
                .fetch_all(pool)
                .await
                .map_err(db_error)?
                .iter()
                .map(alias_from)
                .collect::<CsmResult<BTreeMap<_, _>>>()?;
            let load: Option<String> = sqlx::query_scalar(LOAD_SUSPECT_SQL)
                .bind(LOAD_SUSPECT_EDGES_KEY)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            let version: i64 = sqlx::query_scalar(GRAPH_VERSION_SQL).fetch_one(pool).await.map_err(db_error)?;
            Ok(CatalogSnapshot { roles, edges, aliases, load_suspect_edges: load.as_deref() == Some("true"), version })
        })
    }

    /// The catalog as stored, read inside `tx` (after the role-graph lock, so
    /// an edit sees every edit committed before it, from any replica).
    pub async fn catalog_snapshot_in(&self, tx: &mut Tx) -> CsmResult<CatalogSnapshot> {
        with_tx!(tx, |tx| {
            let roles = sqlx::query(ROLE_ROWS_SQL)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(role_row_from)
                .collect::<CsmResult<Vec<_>>>()?;
            let edges = sqlx::query(EDGE_ROWS_SQL)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(edge_row_from)
                .collect::<CsmResult<Vec<_>>>()?;
            let aliases = sqlx::query(ALIASES_SQL)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?
                .iter()
                .map(alias_from)
                .collect::<CsmResult<BTreeMap<_, _>>>()?;
            let load: Option<String> = sqlx::query_scalar(LOAD_SUSPECT_SQL)
                .bind(LOAD_SUSPECT_EDGES_KEY)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            let version: i64 = sqlx::query_scalar(GRAPH_VERSION_SQL).fetch_one(&mut **tx).await.map_err(db_error)?;
            Ok(CatalogSnapshot { roles, edges, aliases, load_suspect_edges: load.as_deref() == Some("true"), version })
        })
    }
}
