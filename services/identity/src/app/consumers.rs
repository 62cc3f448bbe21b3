//! identity consumers use cases.

#[allow(unused_imports)]
use super::IdentityApp;
