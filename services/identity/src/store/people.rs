//! SQL of identity people.

#[allow(unused_imports)]
use super::IdentityStore;
