//! The sample events in `events/` (for `cargo lambda invoke --data-file`) and the trigger
//! shapes in `tests/fixtures/` (REST API v1, function URL) go through lambda_http's own
//! deserializer and the handler, with the configuration `cargo lambda watch` uses.

mod common;

use std::path::Path;

use common::*;
use md5::{Digest, Md5};
use serde_json::{Value, json};

/// Loads a Lambda event file the way the runtime does.
fn load(path: &Path) -> lambda_http::Request {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The expected status for each webhook sample in `events/`, with the `--env-file` it is meant
/// for (none: the crate's `[package.metadata.lambda.env]` alone) and whether it is enqueued.
const EXPECTED: &[(&str, Option<&str>, u16, bool)] = &[
    ("webhook-completed.json", None, 200, true),
    ("webhook-validation.json", None, 200, false),
    ("webhook-wrong-secret.json", None, 401, false),
    ("webhook-malformed.json", None, 400, false),
    ("webhook-foreign-source.json", None, 403, false),
    (
        "webhook-correspondence-sender.json",
        Some("correspondence-sender.env"),
        200,
        true,
    ),
    (
        "webhook-correspondence-recipient.json",
        Some("correspondence-recipient.env"),
        200,
        true,
    ),
];

/// The `KEY=VALUE` lines of an env file in `events/` (as `cargo lambda watch --env-file` reads
/// it), on top of `extra`.
fn env_file(name: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(events_dir().join(name)).expect("the env file");
    let mut vars: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').expect("KEY=VALUE");
        vars.push((name.to_owned(), value.to_owned()));
    }
    vars
}

fn webhook_for(vars: &[(String, String)]) -> TestWebhook<RecordingQueue> {
    let overrides: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    webhook_with(&config_with(&overrides), RecordingQueue::default())
}

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
        .map(|(name, ..)| (*name).to_owned())
        .collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "every events/webhook-*.json needs an expected status here"
    );

    for (name, env, status, enqueued) in EXPECTED {
        let webhook = match env {
            None => webhook(),
            Some(env) => webhook_for(&env_file(env, &[])),
        };
        let request = load(&events_dir().join(name));
        let sent: Value = serde_json::from_slice(request.body().as_ref()).unwrap_or(Value::Null);
        let response = webhook.handle(request).await;
        assert_eq!(response.status().as_u16(), *status, "{name}");
        let messages = webhook.queue().messages();
        if *enqueued {
            assert_eq!(messages.len(), 1, "{name}");
            let body: Value = serde_json::from_str(&messages[0].body).unwrap();
            assert_eq!(body, sent, "{name}");
        } else {
            assert!(messages.is_empty(), "{name} must not be enqueued");
        }
    }
    let completed = webhook();
    completed
        .handle(load(&events_dir().join("webhook-completed.json")))
        .await;
    assert_eq!(
        completed.queue().messages()[0].instance,
        format!("ttd/{APP}/{PARTY_ID}/{INSTANCE_GUID}")
    );
}

#[tokio::test]
async fn correspondence_samples_are_refused_by_the_other_role() {
    // The sender's event is addressed to the sender's organisation, not to the recipient.
    let recipient = webhook_for(&env_file("correspondence-recipient.env", &[]));
    let response = recipient
        .handle(load(
            &events_dir().join("webhook-correspondence-sender.json"),
        ))
        .await;
    let (status, problem) = status_and_json(&response);
    assert_eq!(
        (status, problem["reason"].as_str()),
        (403, Some("forbidden_subject"))
    );
    // Without a role, and with the crate's EVENT_TYPES, a Correspondence event is dropped.
    let plain = webhook();
    let response = plain
        .handle(load(
            &events_dir().join("webhook-correspondence-recipient.json"),
        ))
        .await;
    assert_eq!(
        status_and_json(&response),
        (200, json!({"outcome": "ignored"}))
    );
}

/// The archiver's SQS samples hold what the webhook enqueues: each body is accepted by a
/// webhook set up like the archiver's `cargo lambda watch` environment (the simulator on
/// 127.0.0.1:5101, the role of the sample's env file), with the same `EventType` attribute, and
/// `md5OfBody` is right (the Lambda runtime does not check it, but a wrong one misleads).
#[tokio::test]
async fn archiver_samples_hold_what_the_webhook_enqueues() {
    let local = [
        ("ALTINN_ENV", "local"),
        ("ALTINN_PLATFORM_URL", "http://127.0.0.1:5101/"),
        ("ALTINN_APPS_URL", "http://127.0.0.1:5101/"),
        (
            "EVENT_TYPES",
            "app.instance.process.completed,no.altinn.correspondence.*",
        ),
    ];
    let samples = [
        ("archiver-sqs-batch.json", None, 2),
        (
            "archiver-sqs-correspondence.json",
            Some("correspondence-sender.env"),
            4,
        ),
    ];
    for (name, env, count) in samples {
        let vars = match env {
            Some(env) => env_file(env, &local),
            None => local
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let webhook = webhook_for(&vars);
        let text = std::fs::read_to_string(events_dir().join(name)).expect(name);
        let batch: Value = serde_json::from_str(&text).expect(name);
        let records = batch["Records"].as_array().expect("Records");
        assert_eq!(records.len(), count, "{name}");
        for (index, record) in records.iter().enumerate() {
            let body = record["body"].as_str().expect("body");
            assert_eq!(
                record["md5OfBody"].as_str(),
                Some(hex::encode(Md5::digest(body.as_bytes())).as_str()),
                "{name} record {index}"
            );
            let response = webhook.handle(authorised_post(body)).await;
            let (status, answer) = status_and_json(&response);
            assert_eq!(status, 200, "{name} record {index}: {answer}");
            assert_eq!(
                answer,
                json!({"outcome": "accepted"}),
                "{name} record {index}"
            );
            let message = webhook.queue().messages().pop().expect("enqueued");
            assert_eq!(message.body, body, "{name} record {index}");
            assert_eq!(
                record["messageAttributes"]["EventType"]["stringValue"].as_str(),
                Some(message.event_type.as_str()),
                "{name} record {index}"
            );
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
