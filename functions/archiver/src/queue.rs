//! What happens to a message that failed: the dead-letter queue (with the reason attached) or
//! a later retry (its visibility pushed out with backoff).
//!
//! A message that is dead-lettered by us is reported to Lambda as a *success*, so SQS deletes
//! it from the source queue: the DLQ copy (with `Reason`, `ErrorClass`, `EventId`, `Instance`,
//! `FailedAt`, `Detail`, `ReceiveCount`, `SourceMessageId` as message attributes) is the one to
//! act on. When the DLQ send itself fails, the message is reported as a batch item failure
//! instead, and the source queue's redrive policy is the last line.

use std::time::Duration;

use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;

/// SQS's largest visibility timeout.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// Longest `Detail` attribute we send.
const MAX_DETAIL: usize = 1000;

/// An SQS call that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SQS {operation}: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub message: String,
}

impl QueueError {
    fn from_sdk<E: std::error::Error + Send + Sync + 'static>(
        operation: &'static str,
        error: SdkError<E>,
    ) -> Self {
        QueueError {
            operation,
            message: DisplayErrorContext(&error).to_string(),
        }
    }
}

/// Why and what: the attributes a dead letter carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The failure reason code (`altinn_not_found`, …).
    pub reason: String,
    /// `permanent`, or `retries_exhausted` for a transient failure on the last allowed receive.
    pub error_class: String,
    pub event_id: Option<String>,
    /// `{org}/{app}/{partyId}/{instanceGuid}` for app events.
    pub instance: Option<String>,
    /// RFC 3339.
    pub failed_at: String,
    pub detail: String,
    pub receive_count: u32,
    pub source_message_id: Option<String>,
}

/// The source queue and the dead-letter queue.
#[derive(Debug, Clone)]
pub struct MessageQueues {
    sqs: aws_sdk_sqs::Client,
    source_queue_url: Option<String>,
    dead_letter_queue_url: String,
}

impl MessageQueues {
    /// `source_queue_url` is needed only to change visibility (receipt handles are per queue).
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        source_queue_url: Option<String>,
        dead_letter_queue_url: String,
    ) -> Self {
        MessageQueues {
            sqs,
            source_queue_url,
            dead_letter_queue_url,
        }
    }

    /// Sends the original body to the DLQ with the reason as message attributes.
    pub async fn dead_letter(&self, body: &str, letter: &DeadLetter) -> Result<(), QueueError> {
        let mut attributes = vec![
            ("Reason", letter.reason.clone()),
            ("ErrorClass", letter.error_class.clone()),
            ("FailedAt", letter.failed_at.clone()),
            ("ReceiveCount", letter.receive_count.to_string()),
            ("Detail", truncate(&letter.detail, MAX_DETAIL)),
        ];
        if let Some(event_id) = &letter.event_id {
            attributes.push(("EventId", event_id.clone()));
        }
        if let Some(instance) = &letter.instance {
            attributes.push(("Instance", instance.clone()));
        }
        if let Some(id) = &letter.source_message_id {
            attributes.push(("SourceMessageId", id.clone()));
        }
        // SQS refuses an empty body.
        let body = if body.is_empty() {
            "(empty message body)"
        } else {
            body
        };
        let mut request = self
            .sqs
            .send_message()
            .queue_url(&self.dead_letter_queue_url)
            .message_body(body);
        for (name, value) in attributes {
            // SQS refuses empty attribute values.
            if value.is_empty() {
                continue;
            }
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| QueueError {
                    operation: "SendMessage",
                    message: e.to_string(),
                })?;
            request = request.message_attributes(name, value);
        }
        if self.dead_letter_queue_url.ends_with(".fifo") {
            // A FIFO DLQ needs a group; the source message id deduplicates redeliveries.
            request = request.message_group_id("archiver-dead-letters");
            if let Some(id) = &letter.source_message_id {
                request = request.message_deduplication_id(id);
            }
        }
        request
            .send()
            .await
            .map_err(|e| QueueError::from_sdk("SendMessage", e))?;
        Ok(())
    }

    /// Pushes a received message's visibility out to `visibility` from now. Does nothing
    /// (`Ok(false)`) without a `QUEUE_URL`.
    pub async fn delay_retry(
        &self,
        receipt_handle: &str,
        visibility: Duration,
    ) -> Result<bool, QueueError> {
        let Some(queue_url) = &self.source_queue_url else {
            return Ok(false);
        };
        let seconds = visibility.min(MAX_VISIBILITY).as_secs() as i32;
        self.sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| QueueError::from_sdk("ChangeMessageVisibility", e))?;
        Ok(true)
    }
}

/// The visibility timeout after a transient failure on the `receive_count`th receive:
/// `base × 2^(receive_count − 1)` with ±20 % jitter, at least the server's `Retry-After`, at
/// most 12 h.
pub fn visibility_backoff(
    base: Duration,
    receive_count: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(20);
    let exponential = base.saturating_mul(1u32 << doublings);
    let jitter = 0.8 + fastrand::f64() * 0.4;
    let jittered = exponential.mul_f64(jitter);
    // Round Retry-After up to whole seconds: SQS counts in seconds.
    let retry_after =
        retry_after.map(|d| Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)));
    jittered
        .max(retry_after.unwrap_or(Duration::ZERO))
        .min(MAX_VISIBILITY)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_receive_honours_retry_after_and_is_capped() {
        let base = Duration::from_secs(30);
        let first = visibility_backoff(base, 1, None);
        assert!(
            first >= Duration::from_secs(24) && first <= Duration::from_secs(36),
            "{first:?}"
        );
        let third = visibility_backoff(base, 3, None);
        assert!(
            third >= Duration::from_secs(96) && third <= Duration::from_secs(144),
            "{third:?}"
        );
        let asked = visibility_backoff(base, 1, Some(Duration::from_secs(600)));
        assert_eq!(asked, Duration::from_secs(600));
        let rounded = visibility_backoff(Duration::ZERO, 1, Some(Duration::from_millis(1500)));
        assert_eq!(rounded, Duration::from_secs(2));
        assert_eq!(visibility_backoff(base, 40, None), MAX_VISIBILITY);
        assert_eq!(
            visibility_backoff(base, 1, Some(Duration::from_secs(86_400))),
            MAX_VISIBILITY
        );
    }

    #[test]
    fn details_are_truncated_at_character_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ææææ", 3), "æ…");
    }
}
