//! account-team's pure rules and types (no I/O). One module per area.

pub mod access;
pub mod contacts;
pub mod settings;
