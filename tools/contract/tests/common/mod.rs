//! Set-up shared by the contract tests: the documents, an in-process simulator, an Altinn client
//! wired to it (the way the functions build theirs), and raw requests with a valid token.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use altinn::auth::{KeyIdentity, MaskinportenKey, MaskinportenSettings, TokenProvider};
use altinn::client::{AltinnClient, RetryPolicy};
use altinn::environment::{Allowlist, AltinnEnvironment};
use altinn::event::InstanceRef;
use altinn::secret::Secret;
use altinn_sim::{
    DataSpec, DataTypeSpec, InstanceSpec, SeededInstance, SimConfig, Simulator, TaskSpec,
};
use contract_tests::Contracts;
use serde_json::Value;

/// The scopes the archiver asks for.
pub const SCOPES: &str = "altinn:serviceowner/instances.read altinn:serviceowner/instances.write";

/// Both documents, read once per test binary (panics naming `ALTINN_CONTRACTS_DIR` when they
/// cannot be read).
pub fn contracts() -> &'static Contracts {
    static CONTRACTS: OnceLock<Contracts> = OnceLock::new();
    CONTRACTS.get_or_init(Contracts::load)
}

pub async fn start_sim() -> Simulator {
    Simulator::start(SimConfig::default())
        .await
        .expect("the simulator starts")
}

pub fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
    }
}

pub fn tokens(sim: &Simulator) -> TokenProvider {
    let key = MaskinportenKey::parse(
        &Secret::new(altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM),
        Some(KeyIdentity::Kid(sim.config().client_kid.clone())),
    )
    .expect("the test key parses");
    let settings = MaskinportenSettings {
        issuer: sim.maskinporten_issuer(),
        client_id: sim.config().client_id.clone(),
        scopes: SCOPES.to_owned(),
        key,
    };
    TokenProvider::new(
        AltinnClient::http_client(&retry()),
        settings,
        sim.platform_url(),
    )
}

pub fn allowlist(sim: &Simulator) -> Allowlist {
    let environment = AltinnEnvironment::Local {
        platform_url: sim.platform_url(),
        apps_url: sim.apps_url(),
    };
    Allowlist::new(environment, Some(sim.config().org.clone()))
}

pub fn client(sim: &Simulator) -> AltinnClient {
    AltinnClient::new(
        AltinnClient::http_client(&retry()),
        allowlist(sim),
        tokens(sim),
        retry(),
    )
}

pub fn instance_ref(seeded: &SeededInstance) -> InstanceRef {
    InstanceRef {
        org: seeded.org.clone(),
        app: seeded.app.clone(),
        party_id: seeded.party_id,
        instance_guid: seeded.instance_guid,
    }
}

/// A completed instance with a form, a PDF, an attachment with a content hash and a
/// hard-deleted attachment: every optional part of the simulator's JSON.
pub fn rich_instance(sim: &Simulator, completed: bool) -> SeededInstance {
    sim.add_instance(
        InstanceSpec::default()
            .completed(completed)
            .with_data(DataSpec::attachment("vedlegg.pdf", 2048, 1).with_content_hash())
            .with_data(DataSpec::attachment("slettet.txt", 10, 2).hard_deleted()),
    )
}

/// The `Content-Disposition` of an uploaded receipt (app-lib requires one for binary types).
pub const RECEIPT_DISPOSITION: (&str, &str) = (
    "content-disposition",
    "attachment; filename=\"archive-receipt.json\"",
);

/// The receipt's data type in the tests' app metadata.
pub const RECEIPT_DATA_TYPE: &str = "archive-receipt";

/// An instance waiting in a feedback task (`Task_2`, after the data task `Task_1`) of an app
/// whose metadata has the receipt's data type: where the archiver writes back.
pub fn feedback_instance(sim: &Simulator) -> SeededInstance {
    let spec = InstanceSpec::default()
        .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")])
        .at_task("Task_2")
        .with_data(DataSpec::attachment("vedlegg.pdf", 2048, 1));
    sim.add_data_type(
        &format!("{}/{}", sim.config().org, spec.app),
        DataTypeSpec::binary(RECEIPT_DATA_TYPE),
    );
    sim.add_instance(spec)
}

/// An answer to a raw request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// Sends `method path` (relative to the simulator's base URL) with a valid Altinn token and,
/// when given, a JSON body.
pub async fn send(sim: &Simulator, method: &str, path: &str, body: Option<&Value>) -> Answer {
    send_with_headers(sim, method, path, body, &[]).await
}

/// [`send`] with extra headers (a file upload's `Content-Disposition`).
pub async fn send_with_headers(
    sim: &Simulator,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let token = tokens(sim).token().await.expect("an Altinn token");
    let url = sim
        .base_url()
        .join(path.trim_start_matches('/'))
        .expect("a path joins onto the base URL");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token.value.expose())
        .header("accept", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the simulator answers");
    Answer {
        status: response.status().as_u16(),
        body: response.text().await.unwrap_or_default(),
    }
}
