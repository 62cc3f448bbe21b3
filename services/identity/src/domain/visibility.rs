//! R4.9's visibility table lives in `csm_types::visibility`, shared with
//! account-team (one rule, one place).

pub use csm_types::visibility::*;
