//! The webhook's decision for one request, as a plain async function on an
//! `http::Request<lambda_http::Body>`: Lambda (`main.rs`), the tests and the local demo server
//! all call [`Webhook::handle`].
//!
//! The steps, in order, each ending the request when it fails:
//!
//! 1. **Method**: only `POST` (else 405 with `Allow: POST`).
//! 2. **Secret**: exactly one `code` query parameter equal to an accepted secret (else 401;
//!    see [`crate::secret_source`] for rotation and the periodic refresh). Nothing
//!    about the body is looked at before this, so an unauthenticated caller learns nothing
//!    and costs us almost nothing.
//! 3. **Size**: `Content-Length` and the actual body at most [`MAX_BODY_BYTES`] (else 413).
//! 4. **Content type**: `application/json` or `application/cloudevents+json`, charset utf-8 if
//!    given (else 400; Altinn treats every non-2xx the same way).
//! 5. **Parse**: a CloudEvent 1.0 ([`CloudEvent::parse`]; else 400 with the exact reason).
//! 6. **Validation event**: `platform.events.validatesubscription` gets 200, never enqueued.
//! 7. **Type filter**: types outside `EVENT_TYPES` get 200 and are dropped.
//! 8. **Source**: app events must have an allowlisted `source` for our org; Correspondence
//!    events the exact `source` of the Correspondence API that publishes their type, and with
//!    `CORRESPONDENCE_ROLE` set, our organisation as `subject` (recipient) or one of our
//!    resources (sender) (else 403; see `correspondence_check`).
//! 9. **Enqueue**: 200 only after SQS accepted the message; 503 when it failed or timed out.
//!
//! Why the type filter (7) comes before the source check (8): the source check
//! protects what we *enqueue* (the archiver acts on it with our Altinn token), and a dropped
//! event is never enqueued, so checking its source protects nothing. Checking it anyway would
//! turn events we merely don't handle, e.g. a Correspondence event or an app event whose source
//! we cannot parse, into 403s that Altinn retries for 35 hours, while the caller has already
//! proved it holds the secret. Events we *do* handle get the full source check.
//!
//! No step can panic on input: there is no `unwrap`/`expect`/indexing on request data, and
//! every response is built infallibly, so malformed input ends in a 4xx, never a 5xx.
//! Neither the query string nor headers are ever logged.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use altinn::event::VALIDATE_SUBSCRIPTION;
use altinn::{Allowlist, CloudEvent, CorrespondenceMode, EventKind};
use aws_config::SdkConfig;
use lambda_http::http::header::RETRY_AFTER;
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use lambda_support::aws::SecretError;
use lambda_support::metrics::{Metric, MetricsLogger};
use serde_json::json;
use tracing::Instrument;
use tracing::field::Empty;

use crate::config::WebhookConfig;
use crate::correspondence_check::check_correspondence;
use crate::event_filter::EventTypeFilter;
use crate::problem::{Problem, json_response};
use crate::queue::{EnqueueError, EventQueue, QueueMessage, SqsEventQueue};
use crate::request_checks::{check_content_type, check_size, queueable_text};
use crate::secret_check::{CODE_PARAMETER, CodeCheck, SecretCheck};
use crate::secret_source::AcceptedSecrets;

/// The largest body accepted (64 KiB, the same bound [`CloudEvent::parse`] applies). Altinn's
/// events are well under 4 KiB; 64 KiB leaves room for generic events with `data` while keeping
/// every request cheap to handle and every message far below SQS's size limit.
pub const MAX_BODY_BYTES: usize = altinn::event::MAX_BODY_BYTES;

/// The function name used as the metrics' `Function` dimension.
pub const FUNCTION_NAME: &str = "webhook";

/// The webhook: the secrets it accepts, the environment's allowlist, the event types it passes
/// on, and the queue. Build it once per process and share it by reference across invocations.
#[derive(Debug)]
pub struct Webhook<Q = SqsEventQueue> {
    secrets: AcceptedSecrets,
    allowlist: Allowlist,
    event_types: EventTypeFilter,
    /// `CORRESPONDENCE_ROLE` and what it names: whose Correspondence events we take.
    correspondence: Option<CorrespondenceMode>,
    queue: Q,
    metrics: MetricsLogger,
    metric_lines: Option<MetricLines>,
}

/// A buffer that receives the EMF lines instead of stdout (see [`Webhook::with_metric_lines`]).
pub type MetricLines = Arc<Mutex<Vec<String>>>;

/// Why the webhook could not start. Names the variable; never shows a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A missing or malformed environment variable.
    #[error(transparent)]
    Config(#[from] altinn::ConfigError),
    /// `WEBHOOK_SECRET_ARN` could not be read.
    #[error("WEBHOOK_SECRET_ARN: {0}")]
    Secret(#[from] SecretError),
    /// The secret read from `WEBHOOK_SECRET_ARN` is unusable.
    #[error("WEBHOOK_SECRET_ARN is invalid: the secret value {0}")]
    WeakSecret(String),
    /// `SSL_CERT_FILE` names an unusable file.
    #[error("HTTPS set-up: {0}")]
    Tls(#[from] altinn::tls::TlsError),
}

impl Webhook<SqsEventQueue> {
    /// The production wiring: loads the secrets (from Secrets Manager when the configuration
    /// names an ARN, then refreshed every `WEBHOOK_SECRET_REFRESH_SECS`) and builds the SQS
    /// client from `sdk_config`, once.
    pub async fn from_config(
        config: WebhookConfig,
        sdk_config: &SdkConfig,
    ) -> Result<Self, StartupError> {
        let secrets = AcceptedSecrets::from_config(&config, sdk_config).await?;
        let queue =
            SqsEventQueue::new(sdk_config, config.queue_url.clone(), config.enqueue_timeout);
        Ok(Webhook::with_accepted_secrets(&config, secrets, queue))
    }
}

/// What one request came to; decides the answer, the log line and the metric.
enum Outcome {
    /// Enqueued.
    Accepted,
    /// A subscription validation event, answered 200.
    Validated { subscription_id: Option<String> },
    /// A type outside `EVENT_TYPES`, answered 200 and dropped.
    Ignored,
    /// A 4xx.
    Rejected(Problem),
    /// The queue failed; answered 503 so Altinn retries.
    EnqueueFailed(EnqueueError),
}

impl<Q: EventQueue> Webhook<Q> {
    /// A webhook for `config` that accepts `secrets` and enqueues to `queue` (tests pass an
    /// in-memory queue; `config.secret` is not read here, the caller resolved it into `secrets`).
    pub fn new(config: &WebhookConfig, secrets: SecretCheck, queue: Q) -> Self {
        Self::with_accepted_secrets(config, AcceptedSecrets::fixed(secrets), queue)
    }

    /// A webhook for `config` that checks requests against `secrets` (fixed, or refreshed
    /// from Secrets Manager) and enqueues to `queue`.
    pub fn with_accepted_secrets(
        config: &WebhookConfig,
        secrets: AcceptedSecrets,
        queue: Q,
    ) -> Self {
        Webhook {
            secrets,
            allowlist: config.allowlist.clone(),
            event_types: config.event_types.clone(),
            correspondence: config.correspondence.clone(),
            queue,
            metrics: MetricsLogger::new(FUNCTION_NAME),
            metric_lines: None,
        }
    }

    /// Sends the EMF lines to `lines` instead of stdout: tests assert on them, and a local
    /// server can keep its console readable. In Lambda they must go to stdout, where
    /// CloudWatch picks them up.
    pub fn with_metric_lines(mut self, lines: MetricLines) -> Self {
        self.metric_lines = Some(lines);
        self
    }

    /// The queue events go to.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Answers one webhook request. Never panics and never fails: every outcome is a response
    /// (200, 401, 403, 405, 400, 413 or 503), logged in a span carrying the event id, and
    /// counted with one EMF metric line.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let span = tracing::info_span!(
            "webhook",
            event_id = Empty,
            event_type = Empty,
            instance = Empty,
            source_ip = Empty,
        );
        if let Some(ip) = source_ip(&request) {
            span.record("source_ip", ip);
        }
        async {
            let outcome = self.decide(&request).await;
            self.respond(outcome)
        }
        .instrument(span)
        .await
    }

    async fn decide(&self, request: &Request) -> Outcome {
        if request.method() != Method::POST {
            tracing::debug!(method = %request.method(), "method not allowed");
            return Outcome::Rejected(
                Problem::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "only POST is served",
                )
                .with_header(lambda_http::http::header::ALLOW, "POST"),
            );
        }

        match self.check_code(request).await {
            CodeCheck::Accepted => {}
            refused => {
                // Which way it failed is logged (missing/repeated/wrong), never what was sent.
                tracing::debug!(code = refused.as_str(), "code refused");
                return Outcome::Rejected(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the `code` query parameter is missing or wrong",
                ));
            }
        }

        let body: &[u8] = request.body().as_ref();
        if let Err(problem) = check_size(request.headers(), body.len()) {
            return Outcome::Rejected(problem);
        }
        if let Err(problem) = check_content_type(request.headers()) {
            return Outcome::Rejected(problem);
        }

        let event = match CloudEvent::parse(body) {
            Ok(event) => event,
            Err(error) => {
                return Outcome::Rejected(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_event",
                    error.to_string(),
                ));
            }
        };
        let span = tracing::Span::current();
        span.record("event_id", event.id.as_str());
        span.record("event_type", event.event_type.as_str());
        let event_json = match queueable_text(body, &event) {
            Ok(text) => text,
            Err(problem) => return Outcome::Rejected(problem),
        };

        if event.event_type == VALIDATE_SUBSCRIPTION {
            let subscription_id = match event.classify(&self.allowlist) {
                Ok(EventKind::SubscriptionValidation { subscription_id }) => subscription_id,
                _ => None,
            };
            return Outcome::Validated { subscription_id };
        }

        if !self.event_types.matches(&event.event_type) {
            return Outcome::Ignored;
        }

        let instance = match self.verified_instance(&event) {
            Ok(instance) => instance,
            Err(outcome) => return outcome,
        };
        span.record("instance", instance.as_str());

        let message = QueueMessage {
            body: event_json.to_owned(),
            event_type: event.event_type,
            event_id: event.id,
            instance,
        };
        match self.queue.send(&message).await {
            Ok(()) => Outcome::Accepted,
            Err(error) => Outcome::EnqueueFailed(error),
        }
    }

    /// Step 2. The request URI carries the query exactly as received for every trigger
    /// (lambda_http puts HTTP API's `rawQueryString` there and rebuilds REST API's from its
    /// parameters); only a hand-written Lambda event without `rawQueryString` needs the
    /// decoded `queryStringParameters` instead.
    async fn check_code(&self, request: &Request) -> CodeCheck {
        let secrets = self.secrets.current().await;
        match request.uri().query() {
            Some(query) => secrets.check_query(Some(query)),
            None => {
                let values = request
                    .query_string_parameters_ref()
                    .and_then(|parameters| parameters.all(CODE_PARAMETER))
                    .unwrap_or_default();
                secrets.check_values(&values)
            }
        }
    }

    /// The instance an event we handle is about, after its source passed the checks.
    fn verified_instance(&self, event: &CloudEvent) -> Result<String, Outcome> {
        let forbidden = |reason: &'static str, detail: String| {
            Outcome::Rejected(Problem::new(StatusCode::FORBIDDEN, reason, detail))
        };
        match event.classify(&self.allowlist) {
            Err(error) => Err(forbidden("forbidden_source", error.to_string())),
            Ok(EventKind::AppInstance { instance, .. }) => Ok(format!(
                "{}/{}/{}/{}",
                instance.org, instance.app, instance.party_id, instance.instance_guid
            )),
            Ok(EventKind::Correspondence(reference)) => {
                check_correspondence(
                    event,
                    &reference.resource,
                    self.allowlist.environment(),
                    self.correspondence.as_ref(),
                )
                .map_err(Outcome::Rejected)?;
                let id = reference.resourceinstance;
                if id.len() != 36 || uuid::Uuid::try_parse(&id).is_err() {
                    return Err(Outcome::Rejected(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_event",
                        "attribute `resourceinstance` must be a GUID for a Correspondence event",
                    )));
                }
                Ok(id)
            }
            Ok(EventKind::SubscriptionValidation { subscription_id }) => {
                Err(Outcome::Validated { subscription_id })
            }
            Ok(EventKind::Other) => Err(forbidden(
                "unverifiable_source",
                "only Altinn app and Correspondence events have a source this webhook can verify"
                    .into(),
            )),
        }
    }

    /// Writes one EMF line: `Events = 1` with the outcome's dimensions.
    fn count_event(&self, dimensions: &[(&'static str, &str)]) {
        let events = [Metric::count("Events", 1)];
        match &self.metric_lines {
            None => self.metrics.emit(dimensions, &events),
            Some(lines) => {
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |elapsed| {
                        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
                    });
                let line = self.metrics.line(dimensions, &events, now_ms);
                lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        }
    }

    /// Logs the outcome, writes its metric and builds the answer.
    fn respond(&self, outcome: Outcome) -> Response<Body> {
        match outcome {
            Outcome::Accepted => {
                tracing::info!("event enqueued");
                self.count_event(&[("Outcome", "accepted")]);
                json_response(StatusCode::OK, &json!({"outcome": "accepted"}))
            }
            Outcome::Validated { subscription_id } => {
                tracing::info!(
                    subscription_id = subscription_id.as_deref().unwrap_or("unknown"),
                    "subscription validation event answered"
                );
                self.count_event(&[("Outcome", "validation")]);
                json_response(StatusCode::OK, &json!({"outcome": "validation"}))
            }
            Outcome::Ignored => {
                tracing::info!("event type not in EVENT_TYPES; dropped");
                self.count_event(&[("Outcome", "ignored")]);
                json_response(StatusCode::OK, &json!({"outcome": "ignored"}))
            }
            Outcome::Rejected(problem) => {
                tracing::warn!(
                    status = problem.status().as_u16(),
                    reason = problem.reason(),
                    detail = problem.detail(),
                    "request rejected"
                );
                self.count_event(&[("Outcome", "rejected"), ("Reason", problem.reason())]);
                problem.into_response()
            }
            Outcome::EnqueueFailed(error) => {
                tracing::error!(error = %error, "event could not be enqueued; answering 503 so Altinn retries");
                self.count_event(&[("Outcome", "enqueue_failed"), ("Reason", error.reason())]);
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "enqueue_failed",
                    "the event could not be queued; please retry",
                )
                .with_header(RETRY_AFTER, "10")
                .into_response()
            }
        }
    }
}

/// The caller's IP as API Gateway or the function URL saw it (for logs; Altinn calls from
/// fixed addresses).
fn source_ip(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.clone(),
        _ => None,
    }
}
