//! identity's domain: pure types and rules, no I/O. One module per area.

pub mod accounts;
pub mod consumers;
pub mod directory;
pub mod people;
pub mod sessions;
pub mod visibility;
