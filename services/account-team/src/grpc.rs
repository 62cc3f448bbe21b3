//! gRPC adapter of account-team.

use std::sync::Arc;

use csm_proto::account_team as pb;
use csm_proto::account_team::account_team_service_server::AccountTeamService;
use csm_server::Readiness;
use tokio_stream::StreamExt as _;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use crate::AccountTeamApp;

pub struct AccountTeamGrpc {
    app: Arc<Readiness<AccountTeamApp>>,
}

impl AccountTeamGrpc {
    pub fn new(app: Arc<Readiness<AccountTeamApp>>) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl AccountTeamService for AccountTeamGrpc {
    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let app = self.app.get()?;
        let service = app.feed.service();
        let stream = app.feed.watch(request.into_inner().from_revision).map(move |change| {
            change.map(|change| pb::WatchResponse { change: Some(change.to_proto(service)) }).map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
