//! SQL of identity directory.

#[allow(unused_imports)]
use super::IdentityStore;
