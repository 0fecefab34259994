//! Shared test helpers: the configuration `cargo lambda watch` uses, an in-memory queue, request
//! builders and sample events.
#![allow(dead_code)] // each test binary uses a different subset

pub mod corpus;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use altinn::Secret;
use lambda_http::http::{Method, Request, Response};
use lambda_http::{Body, http};
use serde_json::{Value, json};
use webhook::{
    EnqueueError, EventQueue, MetricLines, QueueMessage, SecretCheck, Webhook, WebhookConfig,
};

/// The crate directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace's `events/` directory.
pub fn events_dir() -> PathBuf {
    crate_dir().join("../../events")
}

/// `[package.metadata.lambda.env]` of this crate's Cargo.toml: what `cargo lambda watch`
/// gives the function. The fixtures in `events/` are written for exactly these values, so the
/// tests read them from the same place instead of repeating them.
pub fn lambda_env() -> HashMap<String, String> {
    let manifest =
        std::fs::read_to_string(crate_dir().join("Cargo.toml")).expect("read Cargo.toml");
    let mut in_section = false;
    let mut vars = HashMap::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[package.metadata.lambda.env]";
            continue;
        }
        if !in_section || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').expect("KEY = \"value\"");
        vars.insert(
            name.trim().to_owned(),
            value.trim().trim_matches('"').to_owned(),
        );
    }
    assert!(
        vars.contains_key("WEBHOOK_SECRET"),
        "metadata env has WEBHOOK_SECRET"
    );
    vars
}

/// The local secret from the metadata.
pub fn secret() -> String {
    lambda_env()["WEBHOOK_SECRET"].clone()
}

/// The webhook configuration `cargo lambda watch` would load, with `overrides` applied.
pub fn config_with(overrides: &[(&str, &str)]) -> WebhookConfig {
    let mut vars = lambda_env();
    for (name, value) in overrides {
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    WebhookConfig::from_lookup(&|name: &str| vars.get(name).cloned()).expect("test configuration")
}

/// The default test configuration (tt02, org ttd, the local secret).
pub fn config() -> WebhookConfig {
    config_with(&[])
}

/// A queue that records what it was given, or fails every send.
#[derive(Debug, Default)]
pub struct RecordingQueue {
    messages: Mutex<Vec<QueueMessage>>,
    fail_with: Option<EnqueueError>,
}

impl RecordingQueue {
    /// A queue that fails every send with `error`.
    pub fn failing(error: EnqueueError) -> Self {
        RecordingQueue {
            messages: Mutex::default(),
            fail_with: Some(error),
        }
    }

    /// Everything sent so far.
    pub fn messages(&self) -> Vec<QueueMessage> {
        self.messages.lock().unwrap().clone()
    }
}

impl EventQueue for RecordingQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), EnqueueError> {
        if let Some(error) = &self.fail_with {
            return Err(error.clone());
        }
        self.messages.lock().unwrap().push(message.clone());
        Ok(())
    }
}

/// A webhook whose EMF lines are captured.
pub struct TestWebhook<Q: EventQueue> {
    webhook: Webhook<Q>,
    metric_lines: MetricLines,
}

impl<Q: EventQueue> TestWebhook<Q> {
    /// Wraps a webhook, capturing its metric lines.
    pub fn new(webhook: Webhook<Q>) -> Self {
        let metric_lines = MetricLines::default();
        TestWebhook {
            webhook: webhook.with_metric_lines(metric_lines.clone()),
            metric_lines,
        }
    }

    /// The EMF lines written so far, parsed.
    pub fn metrics(&self) -> Vec<Value> {
        self.metric_lines
            .lock()
            .unwrap()
            .iter()
            .map(|line| serde_json::from_str(line).expect("EMF line is JSON"))
            .collect()
    }
}

impl<Q: EventQueue> std::ops::Deref for TestWebhook<Q> {
    type Target = Webhook<Q>;

    fn deref(&self) -> &Webhook<Q> {
        &self.webhook
    }
}

/// A webhook for `config` with an in-memory queue accepting the local secret.
pub fn webhook_with(config: &WebhookConfig, queue: RecordingQueue) -> TestWebhook<RecordingQueue> {
    TestWebhook::new(webhook_on(config, queue))
}

/// A webhook for `config` with `queue`, accepting the local secret.
pub fn webhook_on<Q: EventQueue>(config: &WebhookConfig, queue: Q) -> Webhook<Q> {
    let secret = Secret::new(secret());
    Webhook::new(config, SecretCheck::new([&secret]), queue)
}

/// The default webhook with an in-memory queue.
pub fn webhook() -> TestWebhook<RecordingQueue> {
    webhook_with(&config(), RecordingQueue::default())
}

/// A `POST /events?{query}` with a JSON body.
pub fn post(query: &str, body: impl Into<Vec<u8>>) -> Request<Body> {
    request(
        Method::POST,
        query,
        Some("application/json; charset=utf-8"),
        body,
    )
}

/// A `POST /events?code={the local secret}` with a JSON body.
pub fn authorised_post(body: impl Into<Vec<u8>>) -> Request<Body> {
    post(&format!("code={}", secret()), body)
}

/// Any request to `/events`.
pub fn request(
    method: Method,
    query: &str,
    content_type: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Request<Body> {
    let uri = if query.is_empty() {
        "https://webhook.example/events".to_owned()
    } else {
        format!("https://webhook.example/events?{query}")
    };
    let mut builder = http::Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    let body: Vec<u8> = body.into();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Binary(body)
    };
    builder.body(body).expect("test request")
}

/// The app instance of the sample events.
pub const PARTY_ID: u64 = 50019855;
pub const INSTANCE_GUID: &str = "5d9e906b-83ed-44df-85a7-2f104c640bff";
pub const APP: &str = "archive-demo";

/// A realistic tt02 `app.instance.process.completed` event for org ttd.
pub fn completed_event() -> Value {
    app_event(
        "ttd",
        APP,
        "app.instance.process.completed",
        "c8a31a5e-6e3f-4c5b-9f51-0d6f3f6d2a11",
    )
}

/// An app event for `org`/`app` on tt02.
pub fn app_event(org: &str, app: &str, event_type: &str, id: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "time": "2026-08-20T10:15:42.8351632Z",
        "type": event_type,
        "source": format!("https://{org}.apps.tt02.altinn.no/{org}/{app}/instances/{PARTY_ID}/{INSTANCE_GUID}"),
        "resource": format!("urn:altinn:resource:app_{org}_{app}"),
        "resourceinstance": format!("{PARTY_ID}/{INSTANCE_GUID}"),
        "subject": format!("/party/{PARTY_ID}"),
        "alternativesubject": "/org/313725138"
    })
}

/// The validation event Altinn sends to a new subscription.
pub fn validation_event() -> Value {
    json!({
        "specversion": "1.0",
        "id": "694caa35-8b25-4cd7-b800-f6eeb93c56ed",
        "source": "https://platform.tt02.altinn.no/events/api/v1/subscriptions/1234",
        "type": "platform.events.validatesubscription"
    })
}

/// A Correspondence event on tt02.
pub fn correspondence_event() -> Value {
    json!({
        "specversion": "1.0",
        "id": "0b6f8a2e-4c1d-4e3f-9a5b-7c8d9e0f1a2b",
        "time": "2026-08-20T10:20:00.123Z",
        "type": "no.altinn.correspondence.correspondencepublished",
        "source": "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence",
        "resource": "urn:altinn:resource:ttd-archive-correspondence",
        "resourceinstance": "a4f1c7e2-9b3d-4f6a-8e2c-1d5b7a9c3e0f",
        "subject": "urn:altinn:organization:identifier-no:313725138",
        "alternativesubject": "/organisation/313725138"
    })
}

/// The JSON text of a value.
pub fn text(value: &Value) -> String {
    value.to_string()
}

/// A response's status and parsed JSON body.
pub fn status_and_json(response: &Response<Body>) -> (u16, Value) {
    let body: &[u8] = response.body().as_ref();
    let json = serde_json::from_slice(body).unwrap_or(Value::Null);
    (response.status().as_u16(), json)
}

/// The content type of a response.
pub fn content_type(response: &Response<Body>) -> &str {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// A generous bound used to check that timeouts are bounded.
pub const TEST_DEADLINE: Duration = Duration::from_secs(20);
