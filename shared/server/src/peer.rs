//! Channels to peer services: lazy (a service starts while its peers are
//! down), traced (client span + `traceparent`) and authenticated (service token).

use std::time::Duration;

use csm_auth::{ServiceTokenLayer, ServiceTokenSource, WithServiceToken};
use csm_telemetry::{ClientTrace, ClientTraceLayer};
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;

/// The channel type every generated client of a peer is built on.
pub type PeerChannel = ClientTrace<WithServiceToken<Channel>>;

/// A lazily connecting channel to `url` (e.g. `http://127.0.0.1:50051`).
pub fn peer_channel(url: &str, tokens: ServiceTokenSource, call_timeout: Duration) -> anyhow::Result<PeerChannel> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| anyhow::anyhow!("invalid peer URL {url:?}: {error}"))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(call_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    let channel = endpoint.connect_lazy();
    Ok(ServiceBuilder::new().layer(ClientTraceLayer::new()).layer(ServiceTokenLayer::new(tokens)).service(channel))
}
