//! Keeps a service's copy of identity's published signing keys current, so
//! identity can rotate keys without a restart anywhere (deploy/README.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use csm_auth::{Jwk, Jwks, Verifier};
use csm_proto::identity::GetSigningKeysRequest;
use csm_proto::identity::identity_service_client::IdentityServiceClient;

use crate::peer::PeerChannel;

/// The least time between two fetches prompted by unknown keys.
const UNKNOWN_KEY_COOLDOWN: Duration = Duration::from_secs(5);

/// Fetches identity's keys every `every`, and soon after a token named a key
/// this service does not know; runs until the task is aborted.
pub fn spawn_key_refresher(
    verifier: Arc<Verifier>,
    identity: PeerChannel,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut client = IdentityServiceClient::new(identity);
        let mut last: Option<Instant> = None;
        loop {
            let due = match last {
                None => true,
                Some(at) => {
                    at.elapsed() >= every || (at.elapsed() >= UNKNOWN_KEY_COOLDOWN && verifier.take_unknown_key_seen())
                }
            };
            if due {
                match client.get_signing_keys(GetSigningKeysRequest {}).await {
                    Ok(response) => {
                        let keys = response.into_inner().keys;
                        let jwks = Jwks {
                            keys: keys
                                .into_iter()
                                .map(|key| Jwk {
                                    kty: key.kty,
                                    kid: key.kid,
                                    alg: key.alg,
                                    key_use: key.r#use,
                                    crv: key.crv,
                                    x: key.x,
                                    y: String::new(),
                                    n: String::new(),
                                    e: String::new(),
                                })
                                .collect(),
                        };
                        if let Err(error) = verifier.set_identity_keys(jwks) {
                            tracing::warn!(error = %error, "identity published signing keys this service cannot use");
                        }
                        last = Some(Instant::now());
                    }
                    Err(status) => {
                        tracing::debug!(code = ?status.code(), "identity's signing keys not available yet");
                        // Retry soon, not at full cadence.
                        last = Some(Instant::now() - every + Duration::from_secs(1).min(every));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}
