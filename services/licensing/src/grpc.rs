//! gRPC adapter of licensing. The RPCs not written here answer UNIMPLEMENTED
//! (the generated default stubs).

use std::sync::Arc;

use csm_proto::licensing::licensing_service_server::LicensingService;
use csm_server::Readiness;

use crate::LicensingApp;

pub struct LicensingGrpc {
    #[allow(dead_code)]
    app: Arc<Readiness<LicensingApp>>,
}

impl LicensingGrpc {
    pub fn new(app: Arc<Readiness<LicensingApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl LicensingService for LicensingGrpc {}
