//! case-access's pure rules: the case facts a decision reads, the principal
//! context it reads them against, and the decision table (SPEC §4–§6).

pub mod case;
pub mod grants;
pub mod parties;
pub mod principal;
pub mod record;
pub mod table;
pub mod work;

#[cfg(test)]
mod tests;
