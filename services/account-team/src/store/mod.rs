//! All of account-team's SQL, one module per area, on one [`AccountTeamStore`].

pub mod access;
pub mod contacts;
pub mod definitions;
pub mod relationships;
pub mod settings;
pub mod teams;

use csm_db::{Db, PageRequest};
use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

/// account-team's tables.
#[derive(Clone, Debug)]
pub struct AccountTeamStore {
    db: Db,
}

impl AccountTeamStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// The id after which a page keyed on an id starts.
pub(crate) fn page_after_id(page: &PageRequest) -> CsmResult<Option<Uuid>> {
    page.after.as_deref().map(|after| Uuid::parse_str(after).map_err(|_| invalid_token())).transpose()
}

pub(crate) fn invalid_token() -> CsmError {
    CsmError::invalid_field("page_token", "is not a token returned by this list")
}

/// `WHERE a AND b …`, or nothing.
pub(crate) fn where_clause(filters: &[String]) -> String {
    if filters.is_empty() { String::new() } else { format!("WHERE {}", filters.join(" AND ")) }
}

/// A row decoding failure is a bug or a corrupt row: INTERNAL.
pub(crate) fn decode(error: sqlx::Error) -> CsmError {
    CsmError::internal(error)
}
