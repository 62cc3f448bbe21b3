//! Fresh databases for tests: a SQLite file in its own temporary folder, and,
//! when `CSM_TEST_POSTGRES_URL` is set, a PostgreSQL schema of its own.

use std::path::PathBuf;

/// The variable that enables the PostgreSQL variants of the tests.
pub const POSTGRES_URL_VARIABLE: &str = "CSM_TEST_POSTGRES_URL";

/// A backend the tests run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    /// The base URL of a PostgreSQL database the tests may create schemas in.
    Postgres(String),
}

impl TestBackend {
    pub fn name(&self) -> &'static str {
        match self {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL backend if `CSM_TEST_POSTGRES_URL` is set. When it is not,
    /// says so loudly on stderr: a skipped PostgreSQL run is never silent.
    pub fn postgres_from_env(test_name: &str) -> Option<TestBackend> {
        match std::env::var(POSTGRES_URL_VARIABLE) {
            Ok(url) if !url.trim().is_empty() => Some(TestBackend::Postgres(url)),
            _ => {
                // In CI a missing PostgreSQL is a failure, not a skip.
                if std::env::var_os("CI").is_some() {
                    panic!(
                        "{test_name}: CI is set but {POSTGRES_URL_VARIABLE} is not: the PostgreSQL variant cannot run"
                    );
                }
                eprintln!(
                    "SKIPPED (postgres): {test_name} ran on SQLite only; set {POSTGRES_URL_VARIABLE} to run it on PostgreSQL"
                );
                None
            }
        }
    }

    /// SQLite, then PostgreSQL when configured.
    pub fn all(test_name: &str) -> Vec<TestBackend> {
        let mut backends = vec![TestBackend::Sqlite];
        backends.extend(Self::postgres_from_env(test_name));
        backends
    }

    /// A fresh, empty database named after `label` (a service name).
    pub fn fresh_database(&self, label: &str) -> TestDatabase {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let label: String =
            label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        match self {
            TestBackend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("csm-test-{unique}"));
                std::fs::create_dir_all(&dir).expect("create a temporary test folder");
                let file = dir.join(format!("{label}.db"));
                TestDatabase { url: format!("sqlite://{}", file.display()), cleanup: Cleanup::Folder(dir) }
            }
            TestBackend::Postgres(base) => {
                let schema = format!("csmt_{label}_{}", &unique[..12]);
                let separator = if base.contains('?') { '&' } else { '?' };
                TestDatabase {
                    url: format!("{base}{separator}csm_schema={schema}"),
                    cleanup: Cleanup::Schema { base: base.clone(), schema },
                }
            }
        }
    }
}

#[derive(Debug)]
enum Cleanup {
    Folder(PathBuf),
    Schema { base: String, schema: String },
}

/// A database created for one test; [`TestDatabase::remove`] deletes it.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

impl TestDatabase {
    /// Deletes the database (call after the services using it stopped).
    pub async fn remove(self) {
        match self.cleanup {
            Cleanup::Folder(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { base, schema } => {
                if let Ok(pool) = sqlx::PgPool::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).execute(&pool).await;
                    pool.close().await;
                }
            }
        }
    }
}
