//! Where accepted events go: a small [`EventQueue`] port and its SQS adapter.
//!
//! Each event becomes one SQS message whose body is the event's JSON exactly as Altinn sent it,
//! with three string message attributes so consumers and operators can route and search without
//! parsing the body:
//!
//! - `EventType`: the CloudEvent `type`,
//! - `EventId`: the CloudEvent `id`,
//! - `Instance`: `{org}/{app}/{partyId}/{instanceGuid}` for app events, the `resourceinstance`
//!   (a correspondence, attachment or notification order id) for Correspondence events.
//!
//! On a FIFO queue the instance is the message group (events of one instance stay in order,
//! different instances are processed in parallel) and the event id is the deduplication id
//! (Altinn's retries of one event within SQS's 5-minute window collapse into one message).

use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use sha2::{Digest, Sha256};

/// The longest FIFO `MessageGroupId` / `MessageDeduplicationId` SQS accepts.
const MAX_FIFO_ID_LEN: usize = 128;

/// One event to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The event's JSON text (the request body).
    pub body: String,
    /// The CloudEvent `type`.
    pub event_type: String,
    /// The CloudEvent `id`.
    pub event_id: String,
    /// The instance the event is about (see the module documentation).
    pub instance: String,
}

/// Why a message was not enqueued. Either way the webhook answers 503 so Altinn retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The queue did not confirm within the bound; the message may or may not have arrived
    /// (a retry then makes a duplicate, which the archiver tolerates).
    #[error("the queue did not answer within {0:?}")]
    TimedOut(Duration),
    /// The queue refused the message or could not be reached.
    #[error("the queue refused the message: {0}")]
    Failed(String),
}

impl EnqueueError {
    /// A fixed name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            EnqueueError::TimedOut(_) => "timeout",
            EnqueueError::Failed(_) => "error",
        }
    }
}

/// Somewhere accepted events are put. `send` returns only once the message is durably
/// accepted, because the webhook answers 200 on that promise alone.
pub trait EventQueue: Send + Sync {
    /// Enqueues one event.
    fn send(&self, message: &QueueMessage)
    -> impl Future<Output = Result<(), EnqueueError>> + Send;
}

/// The SQS adapter. Build it once per process: the client keeps its connection pool (and the
/// TLS session, the largest part of a cold start's first call) across invocations.
#[derive(Debug, Clone)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    fifo: bool,
    timeout: Duration,
}

impl SqsEventQueue {
    /// A queue at `queue_url` using a client built from `sdk_config`. Every send is bounded by
    /// `timeout`, SDK retries included. A URL ending in `.fifo` is treated as a FIFO queue.
    pub fn new(sdk_config: &SdkConfig, queue_url: impl Into<String>, timeout: Duration) -> Self {
        Self::from_client(aws_sdk_sqs::Client::new(sdk_config), queue_url, timeout)
    }

    /// Like [`SqsEventQueue::new`] with an existing client.
    pub fn from_client(
        client: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        let queue_url = queue_url.into();
        let fifo = queue_url.ends_with(".fifo");
        SqsEventQueue {
            client,
            queue_url,
            fifo,
            timeout,
        }
    }

    /// True for a FIFO queue.
    pub fn is_fifo(&self) -> bool {
        self.fifo
    }

    /// One cheap call (`GetQueueAttributes`, needs `sqs:GetQueueAttributes`) so the first
    /// real event after a cold start does not pay for the TLS handshake, and a wrong
    /// `QUEUE_URL` shows in the logs at start-up. Bounded like a send.
    pub async fn warm_up(&self) -> Result<(), EnqueueError> {
        let call = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send();
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(EnqueueError::TimedOut(self.timeout)),
            Ok(Err(error)) => Err(EnqueueError::Failed(
                DisplayErrorContext(&error).to_string(),
            )),
            Ok(Ok(_)) => Ok(()),
        }
    }

    async fn send_unbounded(&self, message: &QueueMessage) -> Result<(), EnqueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&message.body)
            .message_attributes("EventType", string_attribute(&message.event_type)?)
            .message_attributes("EventId", string_attribute(&message.event_id)?)
            .message_attributes("Instance", string_attribute(&message.instance)?);
        if self.fifo {
            request = request
                .message_group_id(fifo_id(&message.instance))
                .message_deduplication_id(fifo_id(&message.event_id));
        }
        let output = request
            .send()
            .await
            .map_err(|error| EnqueueError::Failed(DisplayErrorContext(&error).to_string()))?;
        tracing::debug!(
            message_id = output.message_id().unwrap_or_default(),
            "SQS accepted the event"
        );
        Ok(())
    }
}

impl EventQueue for SqsEventQueue {
    async fn send(&self, message: &QueueMessage) -> Result<(), EnqueueError> {
        match tokio::time::timeout(self.timeout, self.send_unbounded(message)).await {
            Ok(result) => result,
            Err(_) => Err(EnqueueError::TimedOut(self.timeout)),
        }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, EnqueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|error| EnqueueError::Failed(format!("message attribute: {error}")))
}

/// A FIFO group or deduplication id for `value`: the value itself when SQS accepts it
/// (1–128 characters, ASCII letters, digits and punctuation), otherwise its SHA-256 in hex,
/// which is stable, so equal inputs still share a group and deduplicate.
pub fn fifo_id(value: &str) -> String {
    let usable = !value.is_empty()
        && value.len() <= MAX_FIFO_ID_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation());
    if usable {
        return value.to_owned();
    }
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_ids_are_kept_when_valid_and_hashed_otherwise() {
        let instance = "ttd/archive-demo/50019855/5d9e906b-83ed-44df-85a7-2f104c640bff";
        assert_eq!(fifo_id(instance), instance);
        let long = "x".repeat(129);
        let hashed = fifo_id(&long);
        assert_eq!(hashed.len(), 64);
        assert!(hashed.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hashed, fifo_id(&long), "stable");
        assert_ne!(fifo_id("with space"), "with space");
        assert_ne!(fifo_id("æøå"), "æøå");
        assert_eq!(fifo_id("").len(), 64);
    }

    #[test]
    fn error_reasons_are_fixed_names() {
        assert_eq!(
            EnqueueError::TimedOut(Duration::from_secs(1)).reason(),
            "timeout"
        );
        assert_eq!(EnqueueError::Failed("x".into()).reason(), "error");
    }
}
