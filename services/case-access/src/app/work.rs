//! Case updates and deletes, comments, attachments, tasks, email intake (R4.15–R4.21, R1.16).

use csm_errors::{CsmError, CsmResult};
use uuid::Uuid;

use super::{CaseAccessApp, Decided};
use crate::domain::principal::PrincipalContext;
use crate::domain::table::Action;

impl CaseAccessApp {
    /// Decides `action` on case task `id` for `ctx` (Check, BatchCheck, Explain).
    pub async fn decide_on_task(&self, _ctx: &PrincipalContext, _id: Uuid, _action: Action) -> CsmResult<Decided> {
        Err(CsmError::unimplemented("decisions on case tasks"))
    }
}
