//! `csm-role`: the role service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    csm_server::main_for(csm_role::SERVICE, csm_role::run).await
}
