//! What the subscription and rotate tests share: a CLI run that fails the test when anything
//! printed holds the secret, and the simulator as the CLI's Altinn.

use std::collections::HashMap;

use altinn_sim::Simulator;
use testkit::MotoServer;

use crate::common::{self, Output};

/// The webhook secret used throughout: characters that need URL encoding, and a marker
/// (`S3cret`) that must never show up in anything the CLI prints.
pub const SECRET: &str = "ops-S3cret+/=&% with-space-and-length";
pub const MARKER: &str = "S3cret";

/// Runs the CLI (see [`common::run`]) and fails the test if anything it printed holds the secret.
pub async fn run(moto: &MotoServer, env: &HashMap<&'static str, String>, words: &[&str]) -> Output {
    let output = common::run(moto, env, words).await;
    let encoded: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    for text in [&output.out, &output.err] {
        assert!(
            !text.contains(MARKER) && !text.contains(&encoded),
            "{words:?} printed the secret:\n{text}"
        );
    }
    output
}

/// The simulator as the CLI's Altinn (`ALTINN_ENV=local`) with its test client.
pub fn altinn_env(sim: &Simulator) -> HashMap<&'static str, String> {
    let base = sim.base_url().to_string();
    HashMap::from([
        ("ALTINN_ENV", "local".to_owned()),
        ("ALTINN_ORG", "ttd".to_owned()),
        ("ALTINN_PLATFORM_URL", base.clone()),
        ("ALTINN_APPS_URL", base),
        ("MASKINPORTEN_URL", sim.maskinporten_issuer().to_string()),
        ("MASKINPORTEN_CLIENT_ID", "sim-client".to_owned()),
        ("MASKINPORTEN_KID", "sim-kid".to_owned()),
        (
            "MASKINPORTEN_KEY",
            altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM.to_owned(),
        ),
    ])
}

/// stdout as JSON.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&output.out).unwrap_or_else(|e| panic!("{e}: {}", output.out))
}
