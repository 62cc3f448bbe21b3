//! `csm-account-team`: the account-team service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    csm_server::main_for(csm_account_team::SERVICE, |config, listener, shutdown| {
        csm_account_team::run(config, listener, shutdown)
    })
    .await
}
