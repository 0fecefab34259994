//! The real SQS path against `moto_server`: the message and its attributes as a consumer
//! receives them, FIFO groups and deduplication, an SQS outage and a hanging SQS (both 503
//! within the bound), the hostile corpus (nothing reaches the queue), and the secret loaded
//! from Secrets Manager.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use common::corpus::hostile_requests;
use common::*;
use serde_json::Value;
use testkit::MotoServer;
use webhook::{SqsEventQueue, StartupError, Webhook};

/// A webhook on the real SQS path for `queue_url`, configured like `cargo lambda watch`.
async fn sqs_webhook(
    sdk_config: &SdkConfig,
    overrides: &[(&str, &str)],
) -> TestWebhook<SqsEventQueue> {
    let config = config_with(overrides);
    TestWebhook::new(
        Webhook::from_config(config, sdk_config)
            .await
            .expect("webhook starts"),
    )
}

fn attribute<'m>(message: &'m Message, name: &str) -> &'m str {
    message
        .message_attributes()
        .and_then(|attributes| attributes.get(name))
        .and_then(|value| value.string_value())
        .unwrap_or_else(|| panic!("message attribute {name} missing"))
}

fn system_attribute(message: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    message
        .attributes()
        .and_then(|a| a.get(&name))
        .map(String::as_str)
}

fn body_json(message: &Message) -> Value {
    serde_json::from_str(message.body().expect("message body")).expect("body is JSON")
}

#[tokio::test]
async fn accepted_event_arrives_on_a_standard_queue_with_its_attributes() {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events").await;
    let webhook = sqs_webhook(&moto.sdk_config().await, &[("QUEUE_URL", &queue_url)]).await;
    assert!(!webhook.queue().is_fifo());

    let event = completed_event();
    let response = webhook.handle(authorised_post(text(&event))).await;
    assert_eq!(response.status(), 200);

    let messages = moto.receive_all(&queue_url).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(body_json(message), event);
    assert_eq!(
        attribute(message, "EventType"),
        "app.instance.process.completed"
    );
    assert_eq!(
        attribute(message, "EventId"),
        "c8a31a5e-6e3f-4c5b-9f51-0d6f3f6d2a11"
    );
    assert_eq!(
        attribute(message, "Instance"),
        format!("ttd/{APP}/{PARTY_ID}/{INSTANCE_GUID}")
    );

    // Events that are not accepted never reach the queue.
    webhook
        .handle(authorised_post(text(&validation_event())))
        .await;
    webhook
        .handle(authorised_post(text(&app_event(
            "ttd",
            APP,
            "app.instance.created",
            "0c000000-0000-4000-8000-000000000001",
        ))))
        .await;
    assert!(moto.receive_all(&queue_url).await.is_empty());
}

#[tokio::test]
async fn fifo_queue_groups_by_instance_and_deduplicates_altinn_retries() {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events.fifo").await;
    let webhook = sqs_webhook(&moto.sdk_config().await, &[("QUEUE_URL", &queue_url)]).await;
    assert!(webhook.queue().is_fifo());

    let event = completed_event();
    // Altinn retried after a timeout: the same event twice.
    for _ in 0..2 {
        assert_eq!(
            webhook.handle(authorised_post(text(&event))).await.status(),
            200
        );
    }
    let messages = moto.receive_all(&queue_url).await;
    assert_eq!(
        messages.len(),
        1,
        "the retry was deduplicated by the event id"
    );
    let message = &messages[0];
    assert_eq!(body_json(message), event);
    let instance = format!("ttd/{APP}/{PARTY_ID}/{INSTANCE_GUID}");
    assert_eq!(attribute(message, "Instance"), instance);
    assert_eq!(
        system_attribute(message, MessageSystemAttributeName::MessageGroupId),
        Some(instance.as_str())
    );
    assert_eq!(
        system_attribute(message, MessageSystemAttributeName::MessageDeduplicationId),
        Some("c8a31a5e-6e3f-4c5b-9f51-0d6f3f6d2a11")
    );
}

#[tokio::test]
async fn sqs_down_gets_503_within_the_bound() {
    let mut moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events").await;
    let webhook = sqs_webhook(
        &moto.sdk_config().await,
        &[("QUEUE_URL", &queue_url), ("ENQUEUE_TIMEOUT_MS", "2000")],
    )
    .await;
    moto.stop();

    let started = Instant::now();
    let response = webhook
        .handle(authorised_post(text(&completed_event())))
        .await;
    let elapsed = started.elapsed();
    let (status, problem) = status_and_json(&response);
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["reason"], "enqueue_failed");
    assert!(
        elapsed < Duration::from_millis(2000 + 1000),
        "took {elapsed:?}"
    );
    let metrics = webhook.metrics();
    assert_eq!(
        metrics.last().map(|m| m["Outcome"].clone()),
        Some(Value::from("enqueue_failed"))
    );
}

#[tokio::test]
async fn unreachable_sqs_port_gets_503() {
    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let queue_url = format!("{endpoint}/123456789012/altinn-events");
    let sdk_config = testkit::sdk_config_for(&endpoint).await;
    let webhook = sqs_webhook(
        &sdk_config,
        &[("QUEUE_URL", &queue_url), ("ENQUEUE_TIMEOUT_MS", "1500")],
    )
    .await;
    let started = Instant::now();
    let response = webhook
        .handle(authorised_post(text(&completed_event())))
        .await;
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(1500 + 1000),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn hanging_sqs_gets_503_after_the_bounded_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let endpoint = format!("http://{address}");
    let queue_url = format!("{endpoint}/123456789012/altinn-events");
    let sdk_config = testkit::sdk_config_for(&endpoint).await;
    let webhook = sqs_webhook(
        &sdk_config,
        &[("QUEUE_URL", &queue_url), ("ENQUEUE_TIMEOUT_MS", "800")],
    )
    .await;

    let started = Instant::now();
    let response = tokio::time::timeout(
        TEST_DEADLINE,
        webhook.handle(authorised_post(text(&completed_event()))),
    )
    .await
    .expect("the handler answers within the test deadline");
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(
        elapsed >= Duration::from_millis(800),
        "answered before the bound: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(800 + 1500),
        "took {elapsed:?}"
    );
    let last = webhook.metrics().pop().expect("a metric line");
    assert_eq!(last["Reason"], "timeout");
    silent.abort();
}

#[tokio::test]
async fn hostile_corpus_leaves_the_real_queue_empty() {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events").await;
    let webhook = sqs_webhook(&moto.sdk_config().await, &[("QUEUE_URL", &queue_url)]).await;
    for case in hostile_requests() {
        let status = webhook.handle(case.request).await.status().as_u16();
        assert_eq!(status, case.status, "{}", case.name);
    }
    assert!(moto.receive_all(&queue_url).await.is_empty());
}

async fn store_secret(moto: &MotoServer, name: &str, value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("secret ARN")
}

#[tokio::test]
async fn secret_is_loaded_once_from_secrets_manager() {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events").await;
    // Stored with a trailing newline, as `--secret-string file://…` often does.
    let arn = store_secret(&moto, "webhook-secret", "stored-secret-0123456789\n").await;
    let webhook = sqs_webhook(
        &moto.sdk_config().await,
        &[
            ("QUEUE_URL", &queue_url),
            ("WEBHOOK_SECRET", ""),
            ("WEBHOOK_SECRET_ARN", &arn),
        ],
    )
    .await;
    let event = text(&completed_event());
    assert_eq!(
        webhook
            .handle(post("code=stored-secret-0123456789", event.clone()))
            .await
            .status(),
        200
    );
    assert_eq!(
        webhook
            .handle(post(&format!("code={}", secret()), event))
            .await
            .status(),
        401
    );
    assert_eq!(moto.receive_all(&queue_url).await.len(), 1);
}

#[tokio::test]
async fn unusable_stored_secrets_fail_start_up_naming_the_variable() {
    let moto = MotoServer::start().await;
    let sdk_config = moto.sdk_config().await;
    let weak = store_secret(&moto, "weak", "short-value").await;
    let config = config_with(&[("WEBHOOK_SECRET", ""), ("WEBHOOK_SECRET_ARN", &weak)]);
    let error = Webhook::from_config(config, &sdk_config).await.unwrap_err();
    assert!(matches!(error, StartupError::WeakSecret(_)));
    let message = error.to_string();
    assert!(
        message.starts_with("WEBHOOK_SECRET_ARN is invalid"),
        "{message}"
    );
    assert!(!message.contains("short-value"), "{message}");

    let missing = "arn:aws:secretsmanager:eu-north-1:123456789012:secret:does-not-exist-AbCdEf";
    let config = config_with(&[("WEBHOOK_SECRET", ""), ("WEBHOOK_SECRET_ARN", missing)]);
    let error = Webhook::from_config(config, &sdk_config).await.unwrap_err();
    assert!(matches!(error, StartupError::Secret(_)), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("WEBHOOK_SECRET_ARN: could not read secret"),
        "{error}"
    );
}

#[tokio::test]
async fn warm_up_reaches_the_queue_or_says_why_not() {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events").await;
    let sdk_config = moto.sdk_config().await;
    let queue = SqsEventQueue::new(&sdk_config, &queue_url, Duration::from_secs(4));
    queue.warm_up().await.expect("queue exists");
    let missing = SqsEventQueue::new(
        &sdk_config,
        format!("{}/123456789012/nope", moto.endpoint()),
        Duration::from_secs(4),
    );
    assert!(missing.warm_up().await.is_err());
}
