//! Item 2, the webhook's warm path.
//!
//! - **Handler cost**: [`Webhook::handle`] on pre-built requests (parse, validate, build the SQS
//!   request) into a queue that builds the `SendMessage` input as the SQS adapter does and then
//!   drops it, so no network is involved. The median over batches is reported per event. No
//!   tracing subscriber is installed, so log formatting is not part of the figure.
//! - **End to end**: events per second through the local runner's HTTP server (the same
//!   [`Webhook::handle`] the Lambda calls) into SQS on the S3/SQS server, against raw
//!   `SendMessage` calls at the same concurrency to the same server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use altinn::Secret;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::types::MessageAttributeValue;
use futures_util::StreamExt;
use lambda_http::Body;
use serde_json::json;
use webhook::{
    EnqueueError, EventQueue, QueueMessage, SecretCheck, SqsEventQueue, Webhook, WebhookConfig,
};

use crate::median;

/// A strong-enough throwaway secret for the benchmark's webhook.
const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef0123456789abcdef";
const EVENT_TYPE: &str = "app.instance.process.completed";

/// The settings a benchmark webhook is built from.
fn settings(queue_url: &str) -> impl Fn(&str) -> Option<String> + use<> {
    let queue_url = queue_url.to_owned();
    move |name: &str| {
        match name {
            "WEBHOOK_SECRET" => Some(SECRET),
            "ALTINN_ENV" => Some("tt02"),
            "ALTINN_ORG" => Some("ttd"),
            "EVENT_TYPES" => Some(EVENT_TYPE),
            "QUEUE_URL" => Some(queue_url.as_str()),
            _ => None,
        }
        .map(str::to_owned)
    }
}

/// A realistic `app.instance.process.completed` event for org ttd on tt02 (event `n`).
pub fn completed_event(n: usize) -> String {
    let party = 50_019_855;
    let guid = "5d9e906b-83ed-44df-85a7-2f104c640bff";
    json!({
        "specversion": "1.0",
        "id": uuid::Uuid::from_u128(n as u128).to_string(),
        "time": "2026-08-20T10:15:42.8351632Z",
        "type": EVENT_TYPE,
        "source": format!("https://ttd.apps.tt02.altinn.no/ttd/archive-demo/instances/{party}/{guid}"),
        "resource": "urn:altinn:resource:app_ttd_archive-demo",
        "resourceinstance": format!("{party}/{guid}"),
        "subject": format!("/party/{party}"),
        "alternativesubject": "/org/313725138"
    })
    .to_string()
}

/// The queue for the handler-cost loop: builds the `SendMessage` input exactly like the SQS
/// adapter (body plus three string attributes), counts it, and drops it.
#[derive(Debug, Default)]
pub struct BuildOnlyQueue {
    sent: AtomicUsize,
}

impl BuildOnlyQueue {
    /// Messages accepted so far.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, EnqueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| EnqueueError::Failed(e.to_string()))
}

impl EventQueue for BuildOnlyQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), EnqueueError> {
        let input = SendMessageInput::builder()
            .queue_url("https://sqs.eu-north-1.amazonaws.com/123456789012/altinn-events")
            .message_body(message.body.clone())
            .message_attributes("EventType", string_attribute(&message.event_type)?)
            .message_attributes("EventId", string_attribute(&message.event_id)?)
            .message_attributes("Instance", string_attribute(&message.instance)?)
            .build()
            .map_err(|e| EnqueueError::Failed(e.to_string()))?;
        std::hint::black_box(input);
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The handler's own cost per event.
#[derive(Debug, Clone, Copy)]
pub struct HandlerCost {
    /// Median over batches of (batch time / events in the batch).
    pub median_per_event: Duration,
    /// Events handled in all.
    pub events: usize,
}

fn request(body: &str) -> lambda_http::Request {
    http::Request::builder()
        .method("POST")
        .uri(format!("https://webhook.example/events?code={SECRET}"))
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::Binary(body.as_bytes().to_vec()))
        .unwrap_or_default()
}

/// Runs `batches` batches of `per_batch` accepted events through [`Webhook::handle`].
pub async fn handler_cost(per_batch: usize, batches: usize) -> Result<HandlerCost, String> {
    let lookup = settings("https://sqs.eu-north-1.amazonaws.com/123456789012/altinn-events");
    let config = WebhookConfig::from_lookup(&lookup).map_err(|e| e.to_string())?;
    let secret = Secret::new(SECRET.to_owned());
    let webhook = Webhook::new(
        &config,
        SecretCheck::new([&secret]),
        BuildOnlyQueue::default(),
    )
    .with_metric_lines(Default::default());
    let bodies: Vec<String> = (0..per_batch).map(completed_event).collect();
    let mut per_event = Vec::with_capacity(batches);
    // One warm-up batch, not counted.
    for batch in 0..=batches {
        let requests: Vec<lambda_http::Request> = bodies.iter().map(|b| request(b)).collect();
        let started = Instant::now();
        for request in requests {
            let response = webhook.handle(request).await;
            if response.status() != 200 {
                return Err(format!("the webhook answered {}", response.status()));
            }
        }
        let elapsed = started.elapsed();
        if batch > 0 {
            per_event.push(elapsed.as_secs_f64() / per_batch as f64);
        }
    }
    let events = webhook.queue().sent();
    if events != per_batch * (batches + 1) {
        return Err(format!("{events} events reached the queue"));
    }
    Ok(HandlerCost {
        median_per_event: Duration::from_secs_f64(median(&per_event).unwrap_or_default()),
        events,
    })
}

/// Events per second end to end and for raw `SendMessage`.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Through the webhook's HTTP server into SQS.
    pub webhook_per_sec: f64,
    /// Raw `SendMessage` calls to the same server.
    pub raw_sqs_per_sec: f64,
}

/// Posts `events` events to the local webhook server (`concurrency` in flight) and sends the
/// same number of messages straight to SQS, against the server at `moto`.
pub async fn end_to_end(
    moto: &testkit::MotoServer,
    events: usize,
    concurrency: usize,
) -> Result<Throughput, String> {
    let queue_url = moto.create_queue("bench-webhook-events").await;
    let raw_queue_url = moto.create_queue("bench-raw-events").await;
    let sdk = moto.sdk_config().await;
    let config = WebhookConfig::from_lookup(&settings(&queue_url)).map_err(|e| e.to_string())?;
    let webhook = Webhook::from_config(config, &sdk)
        .await
        .map_err(|e| e.to_string())?
        .with_metric_lines(Default::default());
    let (base_url, server) = serve(Arc::new(webhook)).await?;
    let url = format!("{base_url}/events?code={SECRET}");
    let client = reqwest::Client::new();
    let bodies: Vec<String> = (0..events).map(completed_event).collect();

    let started = Instant::now();
    let statuses: Vec<Result<u16, String>> = futures_util::stream::iter(&bodies)
        .map(|body| {
            let request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone());
            async move {
                request
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let webhook_secs = started.elapsed().as_secs_f64();
    server.abort();
    if let Some(bad) = statuses.iter().find(|s| !matches!(s, Ok(200))) {
        return Err(format!("a webhook request ended with {bad:?}"));
    }

    let sqs = moto.sqs().await;
    let event_type = string_attribute(EVENT_TYPE).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let sent: Vec<Result<(), String>> = futures_util::stream::iter(&bodies)
        .map(|body| {
            let call = sqs
                .send_message()
                .queue_url(&raw_queue_url)
                .message_body(body.clone())
                .message_attributes("EventType", event_type.clone());
            async move { call.send().await.map(|_| ()).map_err(|e| e.to_string()) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let raw_secs = started.elapsed().as_secs_f64();
    if let Some(Err(error)) = sent.iter().find(|s| s.is_err()) {
        return Err(format!("raw SendMessage failed: {error}"));
    }
    Ok(Throughput {
        webhook_per_sec: events as f64 / webhook_secs,
        raw_sqs_per_sec: events as f64 / raw_secs,
    })
}

/// Serves `webhook` over HTTP/1 on 127.0.0.1 the way a function URL hands requests to Lambda
/// (body read whole, then one [`Webhook::handle`] call); the base URL and the server task.
/// The local runner's server would do, but it narrates every request on stdout.
async fn serve(
    webhook: Arc<Webhook<SqsEventQueue>>,
) -> Result<(String, tokio::task::JoinHandle<()>), String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("binding the webhook server: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let webhook = Arc::clone(&webhook);
        async move {
            let (parts, body) = request.into_parts();
            let Ok(body) = axum::body::to_bytes(body, webhook::MAX_BODY_BYTES + 1).await else {
                return http::Response::builder()
                    .status(http::StatusCode::PAYLOAD_TOO_LARGE)
                    .body(axum::body::Body::empty())
                    .unwrap_or_default();
            };
            let mut request = http::Request::new(Body::Binary(body.to_vec()));
            *request.method_mut() = parts.method;
            *request.uri_mut() = parts.uri;
            *request.headers_mut() = parts.headers;
            let (parts, body) = webhook.handle(request).await.into_parts();
            http::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
        }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((format!("http://{addr}"), task))
}
