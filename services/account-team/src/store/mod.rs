//! All of account-team's SQL, one module per area, on one [`AccountTeamStore`].

pub mod access;
pub mod contacts;
pub mod settings;

use csm_db::Db;
use csm_errors::CsmError;

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

/// A row decoding failure is a bug or a corrupt row: INTERNAL.
pub(crate) fn decode(error: sqlx::Error) -> CsmError {
    CsmError::internal(error)
}
