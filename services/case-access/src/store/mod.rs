//! case-access's SQL: the decision table compiled to a predicate, and the
//! case facts a check reads.

pub mod cases;
pub mod facts;
pub mod predicate;

#[cfg(test)]
mod agreement;
