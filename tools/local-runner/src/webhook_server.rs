//! The real webhook handler ([`webhook::Webhook::handle`]), counted and narrated, and served
//! over plain HTTP on a loopback port the way API Gateway would hand it requests.
//!
//! The HTTP side reads at most [`webhook::MAX_BODY_BYTES`]` + 1` bytes of a body (enough for
//! the handler to see that it is too large and answer 413) and passes the full URI with its
//! query, the headers and the bytes to the handler, then returns its answer unchanged.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use aws_config::SdkConfig;
use futures_util::StreamExt;
use lambda_http::Body;
use lambda_support::settings::Lookup;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webhook::{MetricLines, SqsEventQueue, Webhook, WebhookConfig};

use crate::error::RunError;
use crate::progress::Progress;

/// What the webhook has answered so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebhookStats {
    /// Requests handled.
    pub requests: usize,
    /// Subscription validation events answered with 200.
    pub validation_events: usize,
    /// Events put on the queue (200).
    pub accepted: usize,
    /// The ids of the events put on the queue (a redelivered event counts once).
    pub accepted_event_ids: BTreeSet<String>,
    /// Events of types outside `EVENT_TYPES`, answered 200 and dropped.
    pub ignored: usize,
    /// Every refusal: status and the webhook's reason code.
    pub rejected: Vec<(u16, String)>,
}

/// The webhook with counters. Shared by the HTTP server (demo) and direct calls (`altinn` mode).
pub struct WebhookService {
    webhook: Webhook<SqsEventQueue>,
    stats: Mutex<WebhookStats>,
    progress: Progress,
}

impl std::fmt::Debug for WebhookService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookService")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl WebhookService {
    /// Builds the webhook exactly as its Lambda `main` does, from settings read through
    /// `lookup` and an SDK configuration for the queue. Its EMF metric lines are kept in
    /// memory instead of stdout, so the console stays readable.
    pub async fn start(
        lookup: &impl Lookup,
        sdk: &SdkConfig,
        progress: &Progress,
    ) -> Result<WebhookService, RunError> {
        let config = WebhookConfig::from_lookup(lookup)?;
        let metric_lines = MetricLines::default();
        let webhook = Webhook::from_config(config, sdk)
            .await?
            .with_metric_lines(metric_lines);
        Ok(WebhookService {
            webhook,
            stats: Mutex::new(WebhookStats::default()),
            progress: progress.clone(),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> WebhookStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Hands one request to the webhook, counts and narrates the answer. The body is only
    /// looked at (for the event id in the progress line) once the webhook accepted it, i.e.
    /// after the secret was checked; the query string is never printed.
    pub async fn handle(&self, request: lambda_http::Request) -> http::Response<Body> {
        let body = request.body().as_ref().to_vec();
        let response = self.webhook.handle(request).await;
        let status = response.status().as_u16();
        let answer: serde_json::Value =
            serde_json::from_slice(response.body().as_ref()).unwrap_or_default();
        let text = |value: &serde_json::Value, name: &str| {
            value
                .get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.requests += 1;
        if !response.status().is_success() {
            let reason = text(&answer, "reason");
            self.progress.step(format!(
                "webhook  <- refused with {status} {reason}: {}",
                text(&answer, "detail")
            ));
            stats.rejected.push((status, reason));
            return response;
        }
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let event_type = text(&event, "type");
        match text(&answer, "outcome").as_str() {
            "validation" => {
                stats.validation_events += 1;
                self.progress.step(format!(
                    "webhook  <- validation event from {}: 200 (answered, not queued)",
                    text(&event, "source")
                ));
            }
            "accepted" => {
                stats.accepted += 1;
                stats.accepted_event_ids.insert(text(&event, "id"));
                self.progress.step(format!(
                    "webhook  <- {event_type} for {}: 200, queued (event {})",
                    text(&event, "resourceinstance"),
                    text(&event, "id")
                ));
            }
            _ => {
                stats.ignored += 1;
                self.progress.step(format!(
                    "webhook  <- {event_type}: 200, dropped (not in EVENT_TYPES)"
                ));
            }
        }
        response
    }
}

/// The webhook served over HTTP on `127.0.0.1`. Stops when dropped or [`WebhookServer::stop`]ped.
#[derive(Debug)]
pub struct WebhookServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl WebhookServer {
    /// Serves `service` on a free port of 127.0.0.1, every path and method.
    pub async fn start(service: Arc<WebhookService>) -> Result<WebhookServer, RunError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| RunError::Setup(format!("cannot bind the webhook's port: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| RunError::Setup(format!("cannot read the webhook's port: {e}")))?;
        let router = axum::Router::new()
            .fallback(move |request: axum::extract::Request| {
                let service = Arc::clone(&service);
                async move { serve_one(&service, addr, request).await }
            })
            .into_make_service();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(error = %error, "the webhook's HTTP server stopped");
            }
        });
        Ok(WebhookServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests and waits for the ones in flight.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// One HTTP request → one `lambda_http::Request` → the webhook → the HTTP answer.
async fn serve_one(
    service: &WebhookService,
    addr: SocketAddr,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = match read_at_most(body, webhook::MAX_BODY_BYTES + 1).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(error = %error, "could not read a webhook request body");
            return http::Response::builder()
                .status(http::StatusCode::BAD_REQUEST)
                .body(axum::body::Body::empty())
                .unwrap_or_default();
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let uri = match format!("http://{addr}{path_and_query}").parse::<http::Uri>() {
        Ok(uri) => uri,
        Err(_) => parts.uri.clone(),
    };
    let mut lambda_request = http::Request::new(if body.is_empty() {
        Body::Empty
    } else {
        Body::Binary(body)
    });
    *lambda_request.method_mut() = parts.method;
    *lambda_request.uri_mut() = uri;
    *lambda_request.version_mut() = parts.version;
    *lambda_request.headers_mut() = parts.headers;

    let body_left_unread =
        matches!(lambda_request.body(), Body::Binary(b) if b.len() > webhook::MAX_BODY_BYTES);
    let (mut parts, body) = service.handle(lambda_request).await.into_parts();
    if body_left_unread {
        // The rest of an oversized body was never read, so this connection cannot carry another
        // request: say so, or a keep-alive client reuses it and its next request is lost.
        parts.headers.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.as_ref().to_vec()))
}

/// The body's first `limit` bytes; the rest is not read.
async fn read_at_most(body: axum::body::Body, limit: usize) -> Result<Vec<u8>, axum::Error> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= limit {
            break;
        }
    }
    Ok(bytes)
}
