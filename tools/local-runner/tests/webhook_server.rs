//! The webhook over HTTP: requests reach the real handler with their query, headers and body,
//! and its answers come back unchanged.

mod common;

use std::sync::Arc;

use altinn_sim::{SimConfig, Simulator};
use local_runner::demo::demo_settings;
use local_runner::local_aws::{LocalAws, QueueSettings, create_queues};
use local_runner::progress::Progress;
use local_runner::webhook_server::{WebhookServer, WebhookService};

const SECRET: &str = "a-test-secret-that-is-long-enough";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_sees_the_request_as_sent_and_answers_unchanged() {
    let aws = LocalAws::start().await.expect("moto_server");
    let sqs = aws.sqs();
    let queues = create_queues(
        &sqs,
        "webhook-test",
        QueueSettings {
            redrive_max_receive_count: 3,
            visibility_timeout: std::time::Duration::from_secs(30),
        },
    )
    .await
    .expect("queues");
    let simulator = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let instance = simulator.add_instance(altinn_sim::InstanceSpec::default());
    let settings = demo_settings(&simulator).with(&[
        ("WEBHOOK_SECRET", SECRET.to_owned()),
        ("QUEUE_URL", queues.queue_url.clone()),
    ]);
    let progress = Progress::capturing();
    let service = Arc::new(
        WebhookService::start(&settings.lookup(), aws.sdk_config(), &progress)
            .await
            .expect("webhook"),
    );
    let server = WebhookServer::start(Arc::clone(&service))
        .await
        .expect("server");
    let http = reqwest::Client::new();
    let url = |query: &str| format!("{}/altinn/events{query}", server.base_url());
    let event = simulator
        .cloud_event(&instance, "app.instance.process.completed")
        .to_string();

    // The secret travels in the query: accepted and queued, body unchanged.
    let accepted = http
        .post(url(&format!("?code={SECRET}")))
        .header("content-type", "application/json; charset=utf-8")
        .body(event.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(accepted.status(), 200);
    let messages = sqs
        .receive_message()
        .queue_url(&queues.queue_url)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body(), Some(event.as_str()));

    // The handler's own refusals come back as it made them.
    let wrong_code = http
        .post(url("?code=wrong-but-long-enough-to-compare"))
        .header("content-type", "application/json")
        .body(event.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_code.status(), 401);
    assert_eq!(
        wrong_code.headers()["content-type"],
        "application/problem+json"
    );
    let get = http
        .get(url(&format!("?code={SECRET}")))
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    // A body over the limit is cut at limit + 1 bytes, which the handler refuses with 413
    // (no Content-Length: chunked, so only the body itself can tell).
    let oversized = vec![b' '; webhook::MAX_BODY_BYTES + 10_000];
    let too_large = http
        .post(url(&format!("?code={SECRET}")))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            oversized
                .chunks(8192)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )))
        .send()
        .await
        .expect("post");
    assert_eq!(too_large.status(), 413);
    // The unread rest of the body makes the connection unusable: the client must not reuse it.
    assert_eq!(too_large.headers()["connection"], "close");

    let stats = service.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.accepted, 1);
    let statuses: Vec<u16> = stats.rejected.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, vec![401, 405, 413]);
    common::assert_no_secret_printed(&progress.lines());
    assert!(!progress.lines().iter().any(|l| l.contains(SECRET)));
    server.stop().await;
}
