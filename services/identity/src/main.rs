//! `csm-identity`: the identity service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    csm_server::main_for(csm_identity::SERVICE, |config, listener, shutdown| {
        csm_identity::run(config, listener, shutdown)
    })
    .await
}
