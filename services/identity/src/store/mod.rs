//! All of identity's SQL, one module per area, on one [`IdentityStore`].

pub mod accounts;
pub mod consumers;
pub mod directory;
pub mod people;
pub mod sessions;

use csm_db::Db;

/// identity's tables.
#[derive(Clone, Debug)]
pub struct IdentityStore {
    db: Db,
}

impl IdentityStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}
