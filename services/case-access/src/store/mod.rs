//! case-access's SQL: the decision table compiled to a predicate, and the
//! case facts a check reads.

pub mod admin;
pub mod cases;
pub mod facts;
pub mod parties;
pub mod predicate;
pub mod work;

#[cfg(test)]
mod agreement;
