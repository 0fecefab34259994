//! Shared set-up for the auth and client tests: an in-process simulator and clients wired to it.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use altinn::auth::{KeyIdentity, MaskinportenKey, MaskinportenSettings, TokenProvider};
use altinn::client::{AltinnClient, RetryPolicy};
use altinn::environment::{Allowlist, AltinnEnvironment};
use altinn::event::InstanceRef;
use altinn::secret::Secret;
use altinn_sim::{Route, SeededInstance, SimConfig, Simulator};

pub const PKCS8: &str = include_str!("../../../tools/altinn-sim/testdata/client-key.pkcs8.pem");
pub const PKCS1: &str = include_str!("../../../tools/altinn-sim/testdata/client-key.pkcs1.pem");
pub const CERT: &str = include_str!("../../../tools/altinn-sim/testdata/client-cert.pem");
pub const JWK: &str = include_str!("../fixtures/client-key.jwk.json");

/// The Storage and App scopes our Lambda asks for (the other APIs' sets are fixed).
pub const SCOPES: &str = altinn::config::DEFAULT_SCOPES;

/// A simulator with test-speed event retries.
pub async fn start_sim() -> Simulator {
    start_sim_with(SimConfig::default()).await
}

/// A simulator with `config` (event retries always at test speed).
pub async fn start_sim_with(config: SimConfig) -> Simulator {
    Simulator::start(SimConfig {
        retry_time_scale: 0.001,
        ..config
    })
    .await
    .expect("simulator starts")
}

/// The PKCS#8 test key named by the simulator's registered `kid`.
pub fn kid_key(sim: &Simulator) -> MaskinportenKey {
    MaskinportenKey::parse(
        &Secret::new(PKCS8),
        Some(KeyIdentity::Kid(sim.config().client_kid.clone())),
    )
    .expect("test key parses")
}

/// Maskinporten settings for the simulator's registered client.
pub fn settings(sim: &Simulator, key: MaskinportenKey) -> MaskinportenSettings {
    MaskinportenSettings {
        issuer: sim.maskinporten_issuer(),
        client_id: sim.config().client_id.clone(),
        scopes: SCOPES.to_owned(),
        key,
    }
}

/// Retries fast enough for tests.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
    }
}

pub fn http() -> reqwest::Client {
    AltinnClient::http_client(&fast_retry())
}

pub fn provider(sim: &Simulator) -> TokenProvider {
    TokenProvider::new(http(), settings(sim, kid_key(sim)), sim.platform_url())
}

/// `local` with both base URLs on the simulator.
pub fn local_environment(sim: &Simulator) -> AltinnEnvironment {
    AltinnEnvironment::Local {
        platform_url: sim.platform_url(),
        apps_url: sim.apps_url(),
    }
}

pub fn client_with(sim: &Simulator, retry: RetryPolicy) -> AltinnClient {
    AltinnClient::new(
        AltinnClient::http_client(&retry),
        Allowlist::new(local_environment(sim), Some(sim.config().org.clone())),
        provider(sim),
        retry,
    )
}

pub fn client(sim: &Simulator) -> AltinnClient {
    client_with(sim, fast_retry())
}

pub fn instance_ref(seeded: &SeededInstance) -> InstanceRef {
    InstanceRef {
        org: seeded.org.clone(),
        app: seeded.app.clone(),
        party_id: seeded.party_id,
        instance_guid: seeded.instance_guid,
    }
}

/// How many requests for `route` the simulator has seen.
pub fn count(sim: &Simulator, route: Route) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.route == Some(route))
        .count()
}

/// The statuses answered on `route`, in order.
pub fn statuses(sim: &Simulator, route: Route) -> Vec<u16> {
    sim.requests()
        .iter()
        .filter(|r| r.route == Some(route))
        .map(|r| r.status)
        .collect()
}

/// The claims of a JWT, read without verification.
pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&json).expect("JSON claims")
}
