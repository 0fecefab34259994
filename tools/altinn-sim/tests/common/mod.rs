//! Helpers shared by the simulator's integration tests: grants signed with the test client key,
//! tokens, and an HTTP client. Each test binary uses a different subset.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use altinn_sim::{ISSUER_PUBLIC_KEY_PEM, SimConfig, Simulator, TEST_CLIENT_PRIVATE_KEY_PEM};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{Value, json};

pub const READ: &str = "altinn:serviceowner/instances.read";
pub const WRITE: &str = "altinn:serviceowner/instances.write";
pub const READ_WRITE: &str =
    "altinn:serviceowner/instances.read altinn:serviceowner/instances.write";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("reqwest client")
}

pub async fn start() -> Simulator {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

/// Signs `header` + `claims` with the test client key: built by hand so tests can send headers
/// jsonwebtoken's `Header` cannot express (an `x5c` string, both `kid` and `x5c`).
pub fn sign_raw(header: &Value, claims: &Value) -> String {
    let alg = match header["alg"].as_str().unwrap_or("RS256") {
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        _ => Algorithm::RS256,
    };
    let key =
        EncodingKey::from_rsa_pem(TEST_CLIENT_PRIVATE_KEY_PEM.as_bytes()).expect("client key");
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).expect("sign");
    format!("{message}.{signature}")
}

/// The claims of a valid grant for the simulator's client.
pub fn grant_claims(sim: &Simulator, scope: &str) -> Value {
    let now = now();
    json!({
        "aud": sim.maskinporten_issuer().as_str(),
        "iss": sim.config().client_id,
        "iat": now,
        "exp": now + 10,
        "jti": uuid::Uuid::new_v4().to_string(),
        "scope": scope,
    })
}

pub fn kid_header(sim: &Simulator) -> Value {
    json!({"alg": "RS256", "kid": sim.config().client_kid, "typ": "JWT"})
}

/// The test certificate's DER, base64 (standard, as `x5c` wants it).
pub fn cert_b64() -> String {
    let pem = altinn_sim::TEST_CLIENT_CERT_PEM;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.encode(STANDARD.decode(body).expect("pem base64"))
}

/// POSTs a grant; returns status and JSON body.
pub async fn post_grant(sim: &Simulator, assertion: &str) -> (u16, Value) {
    let response = http()
        .post(sim.maskinporten_token_url())
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ])
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

/// A Maskinporten access token for `scope`.
pub async fn maskinporten_token(sim: &Simulator, scope: &str) -> String {
    let assertion = sign_raw(&kid_header(sim), &grant_claims(sim, scope));
    let (status, body) = post_grant(sim, &assertion).await;
    assert_eq!(status, 200, "grant refused: {body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// An Altinn token for `scope` (Maskinporten grant + exchange, text/plain form).
pub async fn altinn_token(sim: &Simulator, scope: &str) -> String {
    let mp = maskinporten_token(sim, scope).await;
    let response = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&mp)
        .send()
        .await
        .expect("exchange request");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.expect("body").trim().to_owned()
}

/// Claims of a token the simulator issued, signature checked with its issuer key.
pub fn issued_claims(token: &str) -> Value {
    let key = DecodingKey::from_rsa_pem(ISSUER_PUBLIC_KEY_PEM.as_bytes()).expect("issuer key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("a token signed by the simulator")
        .claims
}

/// Signs arbitrary claims with the simulator's issuer key: forged "Maskinporten" tokens for
/// exchange tests (the key is a public test key).
pub fn sign_as_issuer(claims: &Value) -> String {
    let pem = include_str!("../../testdata/issuer-key.pkcs8.pem");
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("issuer key");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::RS256), claims, &key).expect("sign")
}

/// Polls `check` every 10 ms until it is true or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `{base}storage/api/v1/instances/{partyId}/{guid}{suffix}`
pub fn storage_url(sim: &Simulator, i: &altinn_sim::SeededInstance, suffix: &str) -> String {
    format!(
        "{}storage/api/v1/instances/{}{suffix}",
        sim.base_url(),
        i.instance_id()
    )
}

/// `{base}{org}/{app}/instances/{partyId}/{guid}{suffix}`
pub fn app_url(sim: &Simulator, i: &altinn_sim::SeededInstance, suffix: &str) -> String {
    format!(
        "{}{}/{}/instances/{}{suffix}",
        sim.base_url(),
        i.org,
        i.app,
        i.instance_id()
    )
}

/// Sends the request; returns the status, the `Content-Type` and the body as JSON (a JSON
/// string when it is not JSON, `Null` when empty).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, content_type, body)
}

/// `PUT …/process/next` on the App API without a body.
pub async fn process_next(
    sim: &Simulator,
    i: &altinn_sim::SeededInstance,
    token: &str,
) -> (u16, Value) {
    let (status, _, body) = send(
        http()
            .put(app_url(sim, i, "/process/next"))
            .bearer_auth(token),
    )
    .await;
    (status, body)
}
