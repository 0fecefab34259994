//! The sample events in `events/` (for `cargo lambda invoke --data-file`) and the trigger
//! shapes in `tests/fixtures/` (REST API v1, function URL) go through lambda_http's own
//! deserializer and the handler, with the configuration `cargo lambda watch` uses.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Loads a Lambda event file the way the runtime does.
fn load(path: &Path) -> lambda_http::Request {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The expected status for each webhook sample in `events/`.
const EXPECTED: &[(&str, u16)] = &[
    ("webhook-completed.json", 200),
    ("webhook-validation.json", 200),
    ("webhook-wrong-secret.json", 401),
    ("webhook-malformed.json", 400),
    ("webhook-foreign-source.json", 403),
];

#[tokio::test]
async fn every_webhook_sample_event_gets_its_expected_status() {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/ exists")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("webhook-") && name.ends_with(".json"))
        .collect();
    files.sort();
    let mut expected: Vec<String> = EXPECTED
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "every events/webhook-*.json needs an expected status here"
    );

    for (name, status) in EXPECTED {
        let webhook = webhook();
        let response = webhook.handle(load(&events_dir().join(name))).await;
        assert_eq!(response.status().as_u16(), *status, "{name}");
        let enqueued = webhook.queue().messages();
        if *name == "webhook-completed.json" {
            assert_eq!(enqueued.len(), 1, "{name}");
            let body: Value = serde_json::from_str(&enqueued[0].body).unwrap();
            assert_eq!(body["type"], "app.instance.process.completed");
            assert_eq!(
                enqueued[0].instance,
                format!("ttd/{APP}/{PARTY_ID}/{INSTANCE_GUID}")
            );
        } else {
            assert!(enqueued.is_empty(), "{name} must not be enqueued");
        }
    }
}

#[tokio::test]
async fn sample_events_are_api_gateway_v2_requests() {
    let request = load(&events_dir().join("webhook-completed.json"));
    assert!(matches!(
        lambda_http::RequestExt::request_context_ref(&request),
        Some(lambda_http::request::RequestContext::ApiGatewayV2(_))
    ));
}

#[tokio::test]
async fn trigger_shapes_get_their_expected_status() {
    let fixtures = crate_dir().join("tests/fixtures");
    for (name, status, enqueued) in [
        ("rest-v1-completed.json", 200, 1),
        ("rest-v1-repeated-code.json", 401, 0),
        ("rest-v1-no-code.json", 401, 0),
        ("function-url-completed.json", 200, 1),
        ("function-url-get.json", 405, 0),
        ("http-api-parameters-only.json", 200, 1),
        ("http-api-parameters-only-wrong.json", 401, 0),
    ] {
        let webhook = webhook();
        let response = webhook.handle(load(&fixtures.join(name))).await;
        assert_eq!(response.status().as_u16(), status, "{name}");
        assert_eq!(webhook.queue().messages().len(), enqueued, "{name}");
    }
}

#[tokio::test]
async fn rest_v1_request_is_recognised_as_such() {
    let request = load(&crate_dir().join("tests/fixtures/rest-v1-completed.json"));
    assert!(matches!(
        lambda_http::RequestExt::request_context_ref(&request),
        Some(lambda_http::request::RequestContext::ApiGatewayV1(_))
    ));
}

#[tokio::test]
async fn base64_function_url_body_is_decoded_before_enqueueing() {
    let webhook = webhook();
    let request = load(&crate_dir().join("tests/fixtures/function-url-completed.json"));
    assert_eq!(webhook.handle(request).await.status(), 200);
    let body: Value = serde_json::from_str(&webhook.queue().messages()[0].body).unwrap();
    assert_eq!(body, completed_event());
}
