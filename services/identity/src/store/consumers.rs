//! SQL of identity consumers.

#[allow(unused_imports)]
use super::IdentityStore;
