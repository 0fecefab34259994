//! The Lambda entry point's logic: an SQS batch in, partial batch failures out.
//!
//! Each message is handled on its own (up to `MESSAGE_CONCURRENCY` at once):
//!
//! | result | what we do | reported to Lambda |
//! | --- | --- | --- |
//! | archived, duplicate, event stored | nothing more | success (SQS deletes it) |
//! | transient failure | visibility pushed out with backoff (or `Retry-After`) | batch item failure |
//! | transient, on receive ≥ `MAX_RECEIVE_COUNT` | sent to the DLQ with the reason | success |
//! | permanent failure | sent to the DLQ with the reason | success |
//! | DLQ send failed | logged | batch item failure (the redrive policy is the last line) |
//! | too little time left | not started / cancelled; visible again at once | batch item failure |

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use altinn::{Allowlist, AltinnClient, AuthError, EventKind};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use lambda_support::aws::SecretError;
use lambda_support::metrics::MetricsLogger;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;

use crate::config::{ArchiverConfig, EventTypeFilter};
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::layout::ArchiveLayout;
use crate::metrics::message_metrics;
use crate::pipeline::{
    ArchiveOutcome, ArchiveSummary, EventLocation, EventOutcome, Pipeline, PipelineSettings,
    ReceivedEvent, RunStats,
};
use crate::queue::{DeadLetter, MessageQueues, SqsClient, visibility_backoff};
use crate::receipt::ReceiptUploader;
use crate::store::ArchiveStore;

/// The function name in metrics.
const FUNCTION: &str = "archiver";

/// Why the archiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("reading the Maskinporten key: {0}")]
    Secret(#[from] SecretError),
    #[error("the Maskinporten key: {0}")]
    Key(#[from] AuthError),
    #[error("ARCHIVE_PREFIX: {0}")]
    Prefix(String),
    #[error("HTTPS set-up: {0}")]
    Tls(#[from] altinn::tls::TlsError),
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageOutcome {
    /// Archived and completed by this run.
    Archived(ArchiveSummary),
    /// The archive existed; nothing downloaded (`completed_now`: our completion was missing).
    AlreadyArchived {
        manifest_key: String,
        completed_now: bool,
    },
    /// A concurrent run claimed the manifest; it completes the instance.
    ClaimedByAnotherRun(ArchiveSummary),
    /// A non-archive event was stored.
    EventStored { key: String },
    /// A non-archive event had been stored before.
    EventAlreadyStored { key: String },
    /// Transient failure: the message comes back (`visibility`: what we set, if we could).
    Retry {
        error: ArchiveError,
        visibility: Option<Duration>,
    },
    /// Sent to the DLQ (`retries_exhausted`: a transient failure on the last allowed receive).
    DeadLettered {
        error: ArchiveError,
        retries_exhausted: bool,
    },
    /// Should have gone to the DLQ, but the send failed: reported as a failure.
    DeadLetterFailed {
        error: ArchiveError,
        send_error: String,
    },
}

impl MessageOutcome {
    /// True when Lambda must be told the message failed (so SQS keeps it).
    pub fn is_batch_item_failure(&self) -> bool {
        matches!(
            self,
            MessageOutcome::Retry { .. } | MessageOutcome::DeadLetterFailed { .. }
        )
    }

    /// A short label for logs and the metrics `Outcome` dimension.
    pub fn label(&self) -> &'static str {
        match self {
            MessageOutcome::Archived(_) => "archived",
            MessageOutcome::AlreadyArchived { .. } => "already_archived",
            MessageOutcome::ClaimedByAnotherRun(_) => "claimed_by_another_run",
            MessageOutcome::EventStored { .. } => "event_stored",
            MessageOutcome::EventAlreadyStored { .. } => "event_already_stored",
            MessageOutcome::Retry { .. } => "retry",
            MessageOutcome::DeadLettered { .. } => "dead_lettered",
            MessageOutcome::DeadLetterFailed { .. } => "dead_letter_failed",
        }
    }

    /// The failure, for the failing outcomes.
    pub fn error(&self) -> Option<&ArchiveError> {
        match self {
            MessageOutcome::Retry { error, .. }
            | MessageOutcome::DeadLettered { error, .. }
            | MessageOutcome::DeadLetterFailed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A batch's response together with each message's outcome (for the demo runner and tests).
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    /// `(messageId, outcome)` in completion order.
    pub outcomes: Vec<(Option<String>, MessageOutcome)>,
}

/// What a successful message did.
enum Handled {
    Archive(ArchiveOutcome),
    Event(EventOutcome),
}

/// What the DLQ needs to know about a message, filled in as it is understood.
#[derive(Default)]
struct MessageContext {
    event_id: Option<String>,
    instance: Option<String>,
}

/// The archiver: built once per process, then handed every batch.
pub struct Archiver {
    pipeline: Pipeline,
    queues: MessageQueues,
    allowlist: Allowlist,
    archive_event_types: EventTypeFilter,
    message_concurrency: usize,
    deadline_margin: Duration,
    max_receive_count: u32,
    visibility_backoff: Duration,
    metrics: MetricsLogger,
    metric_lines: Option<MetricLines>,
}

/// A buffer that receives the EMF lines instead of stdout (see [`Archiver::with_metric_lines`]).
pub type MetricLines = Arc<Mutex<Vec<String>>>;

impl Archiver {
    /// Builds the clients from the configuration: reads the Maskinporten key (from Secrets
    /// Manager when `MASKINPORTEN_KEY_SECRET_ARN` is set), then the one reqwest client, the token
    /// provider, the Altinn client, and the S3 client from `sdk`. The SQS client is built from
    /// `sdk` at the first dead letter or delayed retry ([`SqsClient::on_first_use`]).
    pub async fn from_config(
        config: &ArchiverConfig,
        sdk: &SdkConfig,
    ) -> Result<Self, StartupError> {
        let key_text =
            lambda_support::aws::maskinporten_key_text(&config.altinn.maskinporten_key, sdk)
                .await?;
        let http = AltinnClient::try_http_client(&config.retry)?;
        let altinn =
            AltinnClient::from_config(&config.altinn, &key_text, http, config.retry.clone())?;
        let s3 = lambda_support::aws::s3_client(sdk);
        Self::new(config, altinn, s3, SqsClient::on_first_use(sdk))
    }

    /// An archiver over ready-made clients.
    pub fn new(
        config: &ArchiverConfig,
        altinn: AltinnClient,
        s3: aws_sdk_s3::Client,
        sqs: impl Into<SqsClient>,
    ) -> Result<Self, StartupError> {
        let layout = ArchiveLayout::new(config.prefix.clone()).map_err(StartupError::Prefix)?;
        let store = ArchiveStore::new(s3, config.bucket.clone(), layout, config.part_size)
            .with_parts_in_flight(config.element_concurrency);
        // Receipts go through the Altinn client's own reqwest client: one pool per process.
        let receipts = config.receipt.as_ref().map(|settings| {
            ReceiptUploader::new(
                altinn.http().clone(),
                altinn.allowlist().clone(),
                altinn.tokens().clone(),
                config.retry.request_timeout,
                settings.clone(),
            )
        });
        let pipeline = Pipeline::new(
            altinn,
            store,
            PipelineSettings {
                org: config.altinn.org.clone(),
                element_concurrency: config.element_concurrency,
                download_attempts: config.download_attempts,
                retry_delay: config.retry.base_delay,
                receipts,
            },
        );
        Ok(Archiver {
            pipeline,
            queues: MessageQueues::new(
                sqs.into(),
                config.queue_url.clone(),
                config.dead_letter_queue_url.clone(),
            ),
            // Pinned to our org: events naming another org's apps are refused.
            allowlist: config.altinn.allowlist(),
            archive_event_types: config.archive_event_types.clone(),
            message_concurrency: config.message_concurrency.max(1),
            deadline_margin: config.deadline_margin,
            max_receive_count: config.max_receive_count.max(1),
            visibility_backoff: config.visibility_backoff,
            metrics: MetricsLogger::new(FUNCTION),
            metric_lines: None,
        })
    }

    /// Sends the EMF metric lines (one per message) to `lines` instead of stdout: the local
    /// runner keeps its console readable and tests can assert on them. In Lambda they must go
    /// to stdout, where CloudWatch picks them up, which is the default.
    pub fn with_metric_lines(mut self, lines: MetricLines) -> Self {
        self.metric_lines = Some(lines);
        self
    }

    /// The source and dead-letter queues.
    pub fn queues(&self) -> &MessageQueues {
        &self.queues
    }

    /// The pipeline (archive store and Altinn client included).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The archive store.
    pub fn store(&self) -> &ArchiveStore {
        self.pipeline.store()
    }

    /// Handles a batch the way Lambda's SQS event source mapping delivers it; `deadline` is the
    /// invocation's (`Context::deadline()`). Failed messages are listed in the response
    /// (`ReportBatchItemFailures` must be on for the event source mapping).
    pub async fn handle_batch(&self, batch: &SqsEvent, deadline: SystemTime) -> SqsBatchResponse {
        self.handle_batch_with_report(batch, deadline)
            .await
            .response
    }

    /// Like [`Archiver::handle_batch`], with every message's outcome.
    pub async fn handle_batch_with_report(
        &self,
        batch: &SqsEvent,
        deadline: SystemTime,
    ) -> BatchReport {
        let deadline = Deadline::from_system_time(deadline, self.deadline_margin);
        // Built and boxed as `dyn Future + Send` before they go into the stream, so the batch
        // future is `Send` and can be `tokio::spawn`ed (see `Pipeline::archive_instance`).
        let deadline = &deadline;
        let message_futures: Vec<BoxFuture<'_, (Option<String>, MessageOutcome)>> = batch
            .records
            .iter()
            .map(|message| {
                async move {
                    (
                        message.message_id.clone(),
                        self.handle_message(message, deadline).await,
                    )
                }
                .boxed()
            })
            .collect();
        let outcomes: Vec<(Option<String>, MessageOutcome)> =
            futures_util::stream::iter(message_futures)
                .buffer_unordered(self.message_concurrency)
                .collect()
                .await;
        let mut response = SqsBatchResponse::default();
        for (message_id, outcome) in &outcomes {
            if outcome.is_batch_item_failure() {
                // Without a message id Lambda treats the whole batch as failed: safe, since
                // every step can be repeated.
                response.add_failure(message_id.clone().unwrap_or_default());
            }
        }
        BatchReport { response, outcomes }
    }

    /// Handles one message (never fails: the outcome says what to report).
    pub async fn handle_message(
        &self,
        message: &SqsMessage,
        deadline: &Deadline,
    ) -> MessageOutcome {
        let receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        let span = tracing::info_span!(
            "message",
            message_id = message.message_id.as_deref().unwrap_or(""),
            receive_count,
            event_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
            instance_id = tracing::field::Empty,
        );
        async {
            let started = std::time::Instant::now();
            let stats = RunStats::default();
            let mut context = MessageContext::default();
            let result = match deadline.check("start a message") {
                Err(error) => Err(error),
                Ok(()) => {
                    let work = self.process(message, deadline, &stats, &mut context);
                    match tokio::time::timeout_at(deadline.hard_stop(), work).await {
                        Ok(result) => result,
                        Err(_) => Err(ArchiveError::deadline("finish this message")),
                    }
                }
            };
            let outcome = self.settle(message, receive_count, &context, result).await;
            log_outcome(&outcome);
            let (dimensions, metrics) =
                message_metrics(&outcome, stats.retries(), started.elapsed());
            let dimensions: Vec<(&'static str, &str)> =
                dimensions.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let line = self.metrics.line(&dimensions, &metrics, unix_millis());
            match &self.metric_lines {
                Some(lines) => lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line),
                // `println!` rather than `MetricsLogger::emit`: the same line on Lambda's
                // stdout, but captured with the rest of a test's output under `cargo test`.
                None => println!("{line}"),
            }
            outcome
        }
        .instrument(span)
        .await
    }

    async fn process(
        &self,
        message: &SqsMessage,
        deadline: &Deadline,
        stats: &RunStats,
        context: &mut MessageContext,
    ) -> Result<Handled, ArchiveError> {
        let body = message.body.as_deref().ok_or_else(|| {
            ArchiveError::permanent(FailureReason::InvalidMessage, "the message has no body")
        })?;
        let event = ReceivedEvent::parse(Bytes::copy_from_slice(body.as_bytes()))?;
        let span = tracing::Span::current();
        span.record("event_id", event.event.id.as_str());
        span.record("event_type", event.event.event_type.as_str());
        context.event_id = Some(event.event.id.clone());
        let kind = event
            .event
            .classify(&self.allowlist)
            .map_err(|e| ArchiveError::permanent(FailureReason::SourceNotAllowed, e.to_string()))?;
        match kind {
            EventKind::AppInstance {
                instance,
                event_type,
            } => {
                span.record("instance_id", instance.instance_id().as_str());
                context.instance =
                    Some(format!("{}/{}", instance.app_id(), instance.instance_id()));
                if self.archive_event_types.matches(&event_type) {
                    let outcome = self
                        .pipeline
                        .archive_instance(&event, &instance, deadline, stats)
                        .await?;
                    Ok(Handled::Archive(outcome))
                } else {
                    let location = EventLocation::Instance(instance);
                    Ok(Handled::Event(
                        self.pipeline.store_event(&event, &location).await?,
                    ))
                }
            }
            EventKind::Correspondence(correspondence) => {
                let location = EventLocation::Correspondence(correspondence);
                Ok(Handled::Event(
                    self.pipeline.store_event(&event, &location).await?,
                ))
            }
            EventKind::SubscriptionValidation { .. } | EventKind::Other => Ok(Handled::Event(
                self.pipeline
                    .store_event(&event, &EventLocation::Unscoped)
                    .await?,
            )),
        }
    }

    /// Turns the result into an outcome, doing the queue work a failure needs.
    async fn settle(
        &self,
        message: &SqsMessage,
        receive_count: u32,
        context: &MessageContext,
        result: Result<Handled, ArchiveError>,
    ) -> MessageOutcome {
        let error = match result {
            Ok(Handled::Archive(ArchiveOutcome::Archived(summary))) => {
                return MessageOutcome::Archived(summary);
            }
            Ok(Handled::Archive(ArchiveOutcome::AlreadyArchived {
                manifest_key,
                completed_now,
            })) => {
                return MessageOutcome::AlreadyArchived {
                    manifest_key,
                    completed_now,
                };
            }
            Ok(Handled::Archive(ArchiveOutcome::ClaimedByAnotherRun(summary))) => {
                return MessageOutcome::ClaimedByAnotherRun(summary);
            }
            Ok(Handled::Event(EventOutcome::Stored { key })) => {
                return MessageOutcome::EventStored { key };
            }
            Ok(Handled::Event(EventOutcome::AlreadyStored { key })) => {
                return MessageOutcome::EventAlreadyStored { key };
            }
            Err(error) => error,
        };
        let deadline_hit = error.reason == FailureReason::Deadline;
        if error.is_transient() && (deadline_hit || receive_count < self.max_receive_count) {
            // Out of time: come back at once and continue; otherwise back off.
            let visibility = if deadline_hit {
                Duration::ZERO
            } else {
                visibility_backoff(self.visibility_backoff, receive_count, error.retry_after)
            };
            let applied = match message.receipt_handle.as_deref() {
                Some(handle) => match self.queues.delay_retry(handle, visibility).await {
                    Ok(true) => Some(visibility),
                    Ok(false) => None,
                    Err(queue_error) => {
                        tracing::warn!(error = %queue_error, "could not change the message's visibility");
                        None
                    }
                },
                None => None,
            };
            return MessageOutcome::Retry {
                error,
                visibility: applied,
            };
        }
        let retries_exhausted = error.is_transient();
        let letter = DeadLetter {
            reason: error.reason.as_str().to_owned(),
            error_class: if retries_exhausted {
                "retries_exhausted"
            } else {
                "permanent"
            }
            .to_owned(),
            event_id: context.event_id.clone(),
            instance: context.instance.clone(),
            failed_at: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
            detail: error.detail.clone(),
            receive_count,
            source_message_id: message.message_id.clone(),
        };
        match self
            .queues
            .dead_letter(message.body.as_deref().unwrap_or(""), &letter)
            .await
        {
            Ok(()) => MessageOutcome::DeadLettered {
                error,
                retries_exhausted,
            },
            Err(send_error) => MessageOutcome::DeadLetterFailed {
                error,
                send_error: send_error.to_string(),
            },
        }
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn log_outcome(outcome: &MessageOutcome) {
    match outcome {
        MessageOutcome::Archived(summary) => tracing::info!(
            outcome = outcome.label(),
            elements = summary.elements,
            downloaded = summary.elements_downloaded,
            reused = summary.elements_reused,
            skipped = summary.elements_skipped,
            bytes = summary.bytes_downloaded,
            "instance archived and completed"
        ),
        MessageOutcome::AlreadyArchived { completed_now, .. } => {
            tracing::info!(
                outcome = outcome.label(),
                completed_now,
                "duplicate: the archive already exists"
            )
        }
        MessageOutcome::ClaimedByAnotherRun(_) => {
            tracing::info!(outcome = outcome.label(), "another run claimed the archive")
        }
        MessageOutcome::EventStored { key } | MessageOutcome::EventAlreadyStored { key } => {
            tracing::info!(outcome = outcome.label(), key = %key, "event kept")
        }
        MessageOutcome::Retry { error, visibility } => tracing::warn!(
            outcome = outcome.label(),
            reason = %error.reason,
            detail = %error.detail,
            visibility_secs = visibility.map(|v| v.as_secs()),
            "transient failure; the message will come back"
        ),
        MessageOutcome::DeadLettered {
            error,
            retries_exhausted,
        } => tracing::error!(
            outcome = outcome.label(),
            reason = %error.reason,
            detail = %error.detail,
            retries_exhausted,
            "sent to the dead-letter queue"
        ),
        MessageOutcome::DeadLetterFailed { error, send_error } => tracing::error!(
            outcome = outcome.label(),
            reason = %error.reason,
            detail = %error.detail,
            send_error = %send_error,
            "could not dead-letter; reported as a failure"
        ),
    }
}

#[cfg(test)]
mod send_check {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Compile-time: the batch future can be `tokio::spawn`ed.
    #[allow(dead_code)]
    fn handle_batch_future_is_send(archiver: &Archiver, batch: &SqsEvent) {
        let future = archiver.handle_batch(batch, SystemTime::UNIX_EPOCH);
        assert_send(&future);
    }
}
