//! gRPC adapter of case-access. The RPCs not written here answer UNIMPLEMENTED
//! (the generated default stubs).

use std::sync::Arc;

use csm_proto::case_access::case_access_service_server::CaseAccessService;
use csm_server::Readiness;

use crate::CaseAccessApp;

pub struct CaseAccessGrpc {
    #[allow(dead_code)]
    app: Arc<Readiness<CaseAccessApp>>,
}

impl CaseAccessGrpc {
    pub fn new(app: Arc<Readiness<CaseAccessApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl CaseAccessService for CaseAccessGrpc {}
