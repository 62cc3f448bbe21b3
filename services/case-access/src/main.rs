//! `csm-case-access`: the case-access service as its own process.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    csm_server::main_for(csm_case_access::SERVICE, |config, listener, shutdown| {
        csm_case_access::run(config, listener, shutdown)
    })
    .await
}
