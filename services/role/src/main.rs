//! `csm-role`: the role service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    csm_server::main_for(csm_role::SERVICE, |config, listener, shutdown| csm_role::run(config, listener, shutdown))
        .await
}
