//! The Lambda entry point's logic: an SQS batch in, partial batch failures out. It fans the
//! batch out (up to `MESSAGE_CONCURRENCY` messages at once), hands each body to the
//! [`Pipeline`], and maps the one [`MessageOutcome`] to what Lambda and SQS must do:
//!
//! | outcome | what we do | reported to Lambda |
//! | --- | --- | --- |
//! | archived, duplicate, event stored | nothing more | success (SQS deletes it) |
//! | transient failure | visibility pushed out with backoff (or `Retry-After`) | batch item failure |
//! | transient, on receive ≥ `MAX_RECEIVE_COUNT` | sent to the DLQ with the reason | success |
//! | permanent failure | sent to the DLQ with the reason | success |
//! | DLQ send failed | logged | batch item failure (the redrive policy is the last line) |
//! | too little time left | not started / cancelled; visible again at once | batch item failure |
//!
//! Which failures retry and which go to the DLQ is [`FailurePolicy::decide`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use altinn::{AltinnClient, AuthError, Backoff};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use lambda_support::aws::SecretError;
use lambda_support::metrics::MetricsLogger;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;

use crate::config::{ArchiverConfig, SubscriptionKeySource};
use crate::deadline::Deadline;
use crate::error::ArchiveError;
use crate::follow_up::SnsFollowUp;
use crate::hand_off::{ArchiveFailed, EventBridgeHandOff};
use crate::layout::ArchiveLayout;
use crate::metrics::message_metrics;
use crate::outcome::{MessageOutcome, RunStats};
use crate::pipeline::{HandOffBus, MessageContext, Pipeline, PipelineSettings};
use crate::queue::{DeadLetter, FailurePolicy, MessageQueues, SqsClient, Verdict};
use crate::receipt::{ReceiptUploader, claim_ttl};
use crate::seams::AltinnApi;
use crate::store::ArchiveStore;

/// The function name in metrics.
const FUNCTION: &str = "archiver";

/// Why the archiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("reading a secret (the Maskinporten key, the subscription key): {0}")]
    Secret(#[from] SecretError),
    #[error("the Maskinporten key: {0}")]
    Key(#[from] AuthError),
    #[error("ARCHIVE_PREFIX: {0}")]
    Prefix(String),
    #[error("HTTPS set-up: {0}")]
    Tls(#[from] altinn::tls::TlsError),
}

/// A batch's response together with each message's outcome (for the demo runner and tests).
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    /// `(messageId, outcome)` in completion order.
    pub outcomes: Vec<(Option<String>, MessageOutcome)>,
}

/// The archiver: built once per process, then handed every batch.
pub struct Archiver {
    pipeline: Pipeline,
    queues: MessageQueues,
    failures: FailurePolicy,
    message_concurrency: usize,
    deadline_margin: Duration,
    metrics: MetricsLogger,
    metric_lines: Option<MetricLines>,
}

/// A buffer that receives the EMF lines instead of stdout (see [`Archiver::with_metric_lines`]).
pub type MetricLines = Arc<Mutex<Vec<String>>>;

impl Archiver {
    /// Builds the clients from the configuration: reads the Maskinporten key and the optional
    /// subscription key (from Secrets Manager when their `…_SECRET_ARN` is set), then the one
    /// reqwest client, the token provider, the Altinn client, and the S3 client from `sdk`. The
    /// SQS client (and the SNS client of the follow-up alerts, with `FOLLOW_UP_TOPIC_ARN`, and
    /// the EventBridge client of the hand-off events, with `EVENT_BUS_NAME`) is built from
    /// `sdk` at first use ([`SqsClient`]).
    pub async fn from_config(
        config: &ArchiverConfig,
        sdk: &SdkConfig,
    ) -> Result<Self, StartupError> {
        let key_text =
            lambda_support::aws::maskinporten_key_text(&config.altinn.maskinporten_key, sdk)
                .await?;
        let http = AltinnClient::try_http_client(&config.retry)?;
        let subscription_key = match &config.subscription_key {
            None => None,
            Some(SubscriptionKeySource::Inline(key)) => Some(key.clone()),
            Some(SubscriptionKeySource::SecretArn(arn)) => {
                Some(lambda_support::aws::read_secret(sdk, arn).await?)
            }
        };
        let altinn =
            AltinnClient::from_config(&config.altinn, &key_text, http, config.retry.clone())?
                .with_subscription_key(subscription_key);
        let s3 = lambda_support::aws::s3_client(sdk);
        let archiver = Self::new(
            config,
            altinn,
            s3,
            SqsClient::new(sdk, aws_sdk_sqs::Client::new),
        )?;
        let archiver = match &config.follow_up_topic_arn {
            Some(arn) => archiver.with_follow_up(Arc::new(SnsFollowUp::on_first_use(sdk, arn))),
            None => archiver,
        };
        Ok(match &config.event_bus_name {
            Some(bus) => {
                archiver.with_hand_off(Arc::new(EventBridgeHandOff::on_first_use(sdk, bus)))
            }
            None => archiver,
        })
    }

    /// Sends the follow-up alerts to `sink` (without one, only their metric is emitted).
    pub fn with_follow_up(mut self, sink: Arc<dyn crate::follow_up::FollowUpSink>) -> Self {
        self.pipeline = self.pipeline.with_follow_up(sink);
        self
    }

    /// Puts hand-off events on `sink`'s bus (without one, none are sent).
    pub fn with_hand_off(mut self, sink: Arc<dyn crate::hand_off::HandOffSink>) -> Self {
        let bus = HandOffBus {
            sink,
            bucket: self.pipeline.target().bucket().to_owned(),
        };
        self.pipeline = self.pipeline.with_hand_off(bus);
        self
    }

    /// An archiver over ready-made clients.
    pub fn new(
        config: &ArchiverConfig,
        altinn: AltinnClient,
        s3: aws_sdk_s3::Client,
        sqs: impl Into<SqsClient>,
    ) -> Result<Self, StartupError> {
        let layout = ArchiveLayout::new(config.prefix.clone()).map_err(StartupError::Prefix)?;
        let store = ArchiveStore::new(s3, config.bucket.clone(), layout.clone(), config.part_size)
            .with_parts_in_flight(config.element_concurrency);
        // Receipts go through the Altinn client's own reqwest client: one pool per process.
        let receipts = ReceiptUploader::new(
            altinn.http().clone(),
            altinn.allowlist().clone(),
            altinn.tokens().clone(),
            config.retry.request_timeout,
        );
        let pipeline = Pipeline::new(
            AltinnApi {
                client: altinn,
                receipts,
            },
            store,
            PipelineSettings {
                org: config.altinn.org.clone(),
                // Pinned to our org: events naming another org's apps are refused.
                allowlist: config.altinn.allowlist(),
                archive_event_types: config.archive_event_types.clone(),
                layout,
                element_concurrency: config.element_concurrency,
                download_attempts: config.download_attempts,
                download_backoff: Backoff::new(config.retry.base_delay, config.retry.max_delay),
                feedback: config.feedback.clone(),
                substatus: config.substatus.clone(),
                write_back_claim_ttl: claim_ttl(&config.retry),
                correspondence: config.correspondence.clone(),
                send_claim_ttl: claim_ttl(&config.retry),
                scan: config.scan,
            },
        );
        Ok(Archiver {
            pipeline,
            queues: MessageQueues::new(
                sqs.into(),
                config.queue_url.clone(),
                config.dead_letter_queue_url.clone(),
            ),
            failures: FailurePolicy::new(config.max_receive_count, config.visibility_backoff),
            message_concurrency: config.message_concurrency.max(1),
            deadline_margin: config.deadline_margin,
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
        self.pipeline.target()
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
        // Built and boxed as `dyn Future + Send` before they go into the stream: a
        // `.map(|message| async move { … })` closure over borrowed items makes rustc unable to
        // prove the batch future `Send` ("FnOnce is not general enough"), and it must be, so
        // callers can `tokio::spawn` it.
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
            let mut context = MessageContext {
                message_id: message.message_id.clone(),
                ..MessageContext::default()
            };
            let result = match deadline.check("start a message") {
                Err(error) => Err(error),
                Ok(()) => {
                    let work = self.pipeline.handle(
                        message.body.as_deref(),
                        deadline,
                        &stats,
                        &mut context,
                    );
                    match tokio::time::timeout_at(deadline.hard_stop(), work).await {
                        Ok(result) => result,
                        Err(_) => Err(ArchiveError::deadline("finish this message")),
                    }
                }
            };
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(error) => self.settle(message, receive_count, &context, error).await,
            };
            outcome.log();
            self.emit_metrics(&outcome, &stats, started.elapsed());
            outcome
        }
        .instrument(span)
        .await
    }

    /// Does what [`FailurePolicy::decide`] says for a failed message: push its visibility out,
    /// or send it to the DLQ with the reason (after its `ArchiveFailed` hand-off event).
    async fn settle(
        &self,
        message: &SqsMessage,
        receive_count: u32,
        context: &MessageContext,
        error: ArchiveError,
    ) -> MessageOutcome {
        let retries_exhausted = match self.failures.decide(&error, receive_count) {
            Verdict::Retry { visibility } => return self.retry(message, error, visibility).await,
            Verdict::DeadLetter { retries_exhausted } => retries_exhausted,
        };
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
        // Before the dead letter, so a failed put can still bring the message back; on its
        // last receive the dead letter (which says the same) goes ahead without it.
        let failed = self.archive_failed(&letter);
        if let Err(mut hand_off_error) = self.pipeline.hand_off_failure(failed).await {
            if let Verdict::Retry { visibility } =
                self.failures.decide(&hand_off_error, receive_count)
            {
                hand_off_error.detail = format!(
                    "{} (before dead-lettering {}: {})",
                    hand_off_error.detail, error.reason, error.detail
                );
                return self.retry(message, hand_off_error, visibility).await;
            }
            tracing::error!(reason = %hand_off_error.reason, detail = %hand_off_error.detail, "dead-lettered without its ArchiveFailed event");
        }
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

    /// Makes the message visible again after `visibility` (when it can).
    async fn retry(
        &self,
        message: &SqsMessage,
        error: ArchiveError,
        visibility: Duration,
    ) -> MessageOutcome {
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
        MessageOutcome::Retry {
            error,
            visibility: applied,
        }
    }

    /// The `ArchiveFailed` hand-off event of a dead letter.
    fn archive_failed(&self, letter: &DeadLetter) -> ArchiveFailed {
        ArchiveFailed {
            reason: letter.reason.clone(),
            error_class: letter.error_class.clone(),
            detail: letter.detail.clone(),
            event_id: letter.event_id.clone(),
            instance: letter.instance.clone(),
            dead_letter_queue: self.queues.dead_letter_queue_url().to_owned(),
            failed_at: letter.failed_at.clone(),
            receive_count: letter.receive_count,
        }
    }

    /// One EMF line for the message, to stdout or to [`Archiver::with_metric_lines`]' buffer.
    fn emit_metrics(&self, outcome: &MessageOutcome, stats: &RunStats, elapsed: Duration) {
        let (dimensions, mut metrics) = message_metrics(outcome, stats.retries(), elapsed);
        metrics.extend(crate::metrics::quarantine_metric(stats));
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
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
