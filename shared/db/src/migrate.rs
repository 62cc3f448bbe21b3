//! Versioned migrations, embedded in the binary (`include_str!`), one list per backend.

use std::borrow::Cow;

use sqlx::migrate::{Migration as SqlxMigration, MigrationType, Migrator};

use crate::{Db, with_db};

/// One migration: a version (unique per service), a description and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// A service's migrations for both backends.
#[derive(Debug, Clone, Default)]
pub struct Migrations {
    pub sqlite: Vec<Migration>,
    pub postgres: Vec<Migration>,
}

impl Migrations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a migration that exists for both backends.
    pub fn with(mut self, sqlite: Migration, postgres: Migration) -> Self {
        assert_eq!(sqlite.version, postgres.version, "backend migrations must share a version");
        self.sqlite.push(sqlite);
        self.postgres.push(postgres);
        self
    }

    /// Adds every migration of `other` (e.g. the shared change-feed tables).
    pub fn extend(mut self, other: Migrations) -> Self {
        self.sqlite.extend(other.sqlite);
        self.postgres.extend(other.postgres);
        self
    }

    /// Applies every pending migration (idempotent; safe with several replicas:
    /// sqlx takes an advisory lock on PostgreSQL).
    pub async fn run(&self, db: &Db) -> anyhow::Result<()> {
        let list = match db {
            Db::Sqlite(_) => &self.sqlite,
            Db::Postgres(_) => &self.postgres,
        };
        let mut migrations: Vec<SqlxMigration> = list
            .iter()
            .map(|migration| {
                SqlxMigration::new(
                    migration.version,
                    Cow::Borrowed(migration.description),
                    MigrationType::Simple,
                    Cow::Borrowed(migration.sql),
                    false,
                )
            })
            .collect();
        migrations.sort_by_key(|migration| migration.version);
        let mut migrator = Migrator::DEFAULT;
        migrator.migrations = Cow::Owned(migrations);
        with_db!(db, |pool| migrator.run(pool).await)?;
        Ok(())
    }
}
