//! The real `webhook` binary, end to end: started the way Lambda starts it (only Lambda's
//! environment plus the function's configuration, `AWS_LAMBDA_RUNTIME_API` pointing at the
//! Runtime API emulator of `testkit::runtime_api`), sent API Gateway HTTP API (payload 2.0)
//! events from `events/`, and checked on its answers and on the real SQS queue in moto.
//!
//! `main` picks its tokio runtime from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, so each test runs at
//! a size that gets a single-threaded runtime (128 MB, the deployed size) and at one that gets
//! Tokio's worker pool (3008 MB).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use lambda_support::runtime::Flavor;
use serde_json::Value;
use testkit::MotoServer;
use testkit::runtime_api::{FunctionProcess, RuntimeApi, lambda_environment};

/// Bound on each invocation, start-up of the debug binary included.
const WAIT: Duration = Duration::from_secs(60);

/// A sample API Gateway event from `events/`.
fn sample(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `event` with its `code` query parameter set to `code`, in both places API Gateway puts it.
fn with_code(mut event: Value, code: &str) -> Value {
    event["rawQueryString"] = Value::String(format!("code={code}"));
    event["queryStringParameters"]["code"] = Value::String(code.to_owned());
    event
}

/// A new secret for this run, 48 letters and digits like the stack's generated one. Never
/// printed.
fn fresh_secret() -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(48)
        .collect()
}

/// The webhook's environment: what Lambda sets for a function of `memory_mb`, then the
/// configuration `cargo lambda watch` uses (tt02, org ttd; the events in `events/` are written
/// for it), with this run's queue, secret and moto as every AWS endpoint.
fn webhook_env(
    memory_mb: u32,
    moto: &MotoServer,
    queue_url: &str,
    secret: &str,
) -> Vec<(String, String)> {
    let mut env: HashMap<String, String> = lambda_environment("webhook", memory_mb)
        .into_iter()
        .collect();
    env.extend(lambda_env());
    env.insert("AWS_ENDPOINT_URL".into(), moto.endpoint());
    env.insert("QUEUE_URL".into(), queue_url.to_owned());
    env.insert("WEBHOOK_SECRET".into(), secret.to_owned());
    env.into_iter().collect()
}

fn attribute<'m>(message: &'m aws_sdk_sqs::types::Message, name: &str) -> Option<&'m str> {
    message.message_attributes()?.get(name)?.string_value()
}

/// A wrong `code` is refused and nothing is queued; the completed event is answered 200 only
/// once it is on the queue, as it was sent; the process serves both (a warm second invocation)
/// and goes back to waiting for the next one.
async fn binary_serves_http_api_events(memory_mb: u32, flavor: Flavor) {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events").await;
    let secret = fresh_secret();
    let api = RuntimeApi::start().await;
    let mut webhook = FunctionProcess::spawn(
        env!("CARGO_BIN_EXE_webhook"),
        webhook_env(memory_mb, &moto, &queue_url, &secret),
        &api,
    );

    // The sample's `code` is a fixed wrong one, never this run's secret.
    let wrong = sample("webhook-wrong-secret.json");
    let refused = webhook.invoke(&api, wrong, WAIT).await.response_json();
    assert_eq!(refused["statusCode"], 401, "{}", refused["body"]);
    let problem: Value =
        serde_json::from_str(refused["body"].as_str().expect("a body")).expect("problem JSON");
    assert_eq!(problem["status"], 401);

    let completed = with_code(sample("webhook-completed.json"), &secret);
    let sent: Value =
        serde_json::from_str(completed["body"].as_str().expect("event body")).expect("event");
    let accepted = webhook.invoke(&api, completed, WAIT).await.response_json();
    assert_eq!(accepted["statusCode"], 200, "{}", accepted["body"]);

    // Only the accepted event is on the queue: the refused one never reached SQS (and the
    // webhook answers 200 only after SQS has the message, so nothing is still on its way).
    let messages = moto.receive_all(&queue_url).await;
    assert_eq!(messages.len(), 1, "exactly the accepted event is queued");
    let message = &messages[0];
    let queued: Value = serde_json::from_str(message.body().expect("body")).expect("JSON body");
    assert_eq!(queued, sent);
    assert_eq!(
        attribute(message, "EventType"),
        Some("app.instance.process.completed")
    );
    assert_eq!(attribute(message, "EventId"), sent["id"].as_str());
    assert_eq!(
        attribute(message, "Instance"),
        Some(format!("ttd/{APP}/{PARTY_ID}/{INSTANCE_GUID}").as_str())
    );

    // Back at the loop's head, alive, without an init error, on the runtime for its size.
    webhook.assert_waiting_for_more(&api, 2, flavor, WAIT).await;
}

#[tokio::test]
async fn binary_at_128_mb_on_a_single_threaded_runtime() {
    binary_serves_http_api_events(128, Flavor::CurrentThread).await;
}

#[tokio::test]
async fn binary_at_3008_mb_on_the_worker_pool() {
    binary_serves_http_api_events(3008, Flavor::MultiThread).await;
}
