//! `csm-licensing`: the licensing service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    csm_server::main_for(csm_licensing::SERVICE, |config, listener, shutdown| {
        csm_licensing::run(config, listener, shutdown)
    })
    .await
}
