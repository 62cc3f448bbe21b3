//! Related parties on cases, sold products and install base items (R5.6–R5.11).

use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use super::{CaseAccessApp, Decided};
use crate::domain::principal::PrincipalContext;
use crate::domain::table::Action;

impl CaseAccessApp {
    /// Decides `action` on sold product `id` for `ctx` (Check, BatchCheck, Explain).
    pub async fn decide_on_sold_product(
        &self,
        _ctx: &PrincipalContext,
        _id: Uuid,
        _action: Action,
    ) -> CsmResult<Decided> {
        Err(CsmError::unimplemented("decisions on sold products"))
    }

    /// Decides `action` on install base item `id` for `ctx` (Check, BatchCheck, Explain).
    pub async fn decide_on_install_base_item(
        &self,
        _ctx: &PrincipalContext,
        _id: Uuid,
        _action: Action,
    ) -> CsmResult<Decided> {
        Err(CsmError::unimplemented("decisions on install base items"))
    }
}
