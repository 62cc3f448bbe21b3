//! `csm-identity`: the identity service as its own process.

/// mimalloc rather than glibc malloc: allocation is a large part of a request (issue 15, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    csm_server::main_for(csm_identity::SERVICE, |config, listener, shutdown| {
        csm_identity::run(config, listener, shutdown)
    })
    .await
}
