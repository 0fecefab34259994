//! What happens to a message that failed: the dead-letter queue (with the reason attached) or
//! a later retry (its visibility pushed out with backoff).
//!
//! A message that is dead-lettered by us is reported to Lambda as a *success*, so SQS deletes
//! it from the source queue: the DLQ copy (with `Reason`, `ErrorClass`, `EventId`, `Instance`,
//! `FailedAt`, `Detail`, `ReceiveCount`, `SourceMessageId` as message attributes) is the one to
//! act on. When the DLQ send itself fails, the message is reported as a batch item failure
//! instead, and the source queue's redrive policy is the last line.

use std::time::Duration;

use altinn::Backoff;
use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::error::{ArchiveError, FailureReason};

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

/// The archiver's SQS client, built at most once per process.
///
/// The archiver calls SQS only for a message that failed (a dead letter or a delayed retry).
/// [`Archiver::from_config`](crate::Archiver::from_config), the Lambda entry point's path, has
/// the client built at the first such call, so an environment whose messages all archive never
/// builds it.
pub type SqsClient = lambda_support::aws::OnFirstUse<aws_sdk_sqs::Client>;

/// The source queue and the dead-letter queue.
#[derive(Debug, Clone)]
pub struct MessageQueues {
    sqs: SqsClient,
    source_queue_url: Option<String>,
    dead_letter_queue_url: String,
}

impl MessageQueues {
    /// `source_queue_url` is needed only to change visibility (receipt handles are per queue).
    pub fn new(
        sqs: SqsClient,
        source_queue_url: Option<String>,
        dead_letter_queue_url: String,
    ) -> Self {
        MessageQueues {
            sqs,
            source_queue_url,
            dead_letter_queue_url,
        }
    }

    /// The dead-letter queue's URL.
    pub fn dead_letter_queue_url(&self) -> &str {
        &self.dead_letter_queue_url
    }

    /// The SQS client these queues are reached through.
    pub fn client(&self) -> &SqsClient {
        &self.sqs
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
            .get()
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
            .get()
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

/// What to do with a message that failed: the one place that decides retry or dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Make the message visible again after `visibility`.
    Retry { visibility: Duration },
    /// Send it to the DLQ; `retries_exhausted` for a transient failure out of receives.
    DeadLetter { retries_exhausted: bool },
}

/// `MAX_RECEIVE_COUNT` and `VISIBILITY_BACKOFF_SECS`: how failed messages are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// On this receive (or later) a transient failure is dead-lettered instead of retried.
    pub max_receive_count: u32,
    /// The visibility backoff: its base doubles per receive, capped at SQS's 12 h.
    pub visibility: Backoff,
}

impl FailurePolicy {
    /// A policy retrying transient failures up to `max_receive_count` receives, the first after
    /// about `visibility_base` (jittered, doubling per receive).
    pub fn new(max_receive_count: u32, visibility_base: Duration) -> Self {
        FailurePolicy {
            max_receive_count: max_receive_count.max(1),
            visibility: Backoff::new(visibility_base, MAX_VISIBILITY),
        }
    }

    /// Transient and received fewer than `max_receive_count` times: retry with backoff (at
    /// least the server's `Retry-After`). Out of time in this invocation (transient too):
    /// retry at once, whatever the count, since no attempt was used up. Anything else: DLQ.
    pub fn decide(&self, error: &ArchiveError, receive_count: u32) -> Verdict {
        if error.reason == FailureReason::Deadline {
            return Verdict::Retry {
                visibility: Duration::ZERO,
            };
        }
        if error.reason == FailureReason::ScanPending
            && error.is_transient()
            && receive_count < self.max_receive_count
        {
            return Verdict::Retry {
                visibility: self.scan_pending_visibility(receive_count, error.retry_after),
            };
        }
        if error.is_transient() && receive_count < self.max_receive_count {
            return Verdict::Retry {
                visibility: visibility_backoff(&self.visibility, receive_count, error.retry_after),
            };
        }
        Verdict::DeadLetter {
            retries_exhausted: error.is_transient(),
        }
    }
}

impl FailurePolicy {
    /// The visibility after a pending malware scan, whose `retry_after` is the time left of
    /// `SCAN_PENDING_MAX_WAIT`: the usual backoff, but at least a share of that time that
    /// doubles with each receive (of `n` receives left, `1/(2ⁿ−1)`: with 5 receives and an
    /// hour, after 4, 12, 28 and 60 minutes), and never past it. A scan that ends soon is
    /// picked up soon, and the last receive comes after the wait has ended, so the pipeline
    /// says `scan_pending` for good instead of the receive count running out first. (Config
    /// refuses a wait longer than the receives can cover at 12 h each.)
    fn scan_pending_visibility(&self, receive_count: u32, left: Option<Duration>) -> Duration {
        let backoff = visibility_backoff(&self.visibility, receive_count, None);
        let Some(left) = left else {
            return backoff;
        };
        let left = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0));
        let receives_left = self.max_receive_count.saturating_sub(receive_count).max(1);
        let shares = (1u64 << receives_left.min(32)) - 1;
        let spread = Duration::from_secs(left.as_secs().div_ceil(shares));
        // What the receives after this one cannot cover at 12 h each must be waited now.
        let uncovered = left.saturating_sub(MAX_VISIBILITY * (receives_left - 1));
        backoff
            .max(spread)
            .max(uncovered)
            .min(left)
            .min(MAX_VISIBILITY)
    }
}

/// The visibility timeout after a transient failure on the `receive_count`th receive:
/// [`Backoff::delay`] (at least `Retry-After`), rounded up to whole seconds because SQS counts
/// in seconds, and at most SQS's 12 h.
pub fn visibility_backoff(
    backoff: &Backoff,
    receive_count: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let delay = backoff.delay(receive_count, retry_after);
    let whole_seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    Duration::from_secs(whole_seconds).min(MAX_VISIBILITY)
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
        let backoff = Backoff::new(Duration::from_secs(30), MAX_VISIBILITY);
        for _ in 0..50 {
            let first = visibility_backoff(&backoff, 1, None);
            assert!(
                first >= Duration::from_secs(15) && first <= Duration::from_secs(30),
                "{first:?}"
            );
            assert_eq!(first.subsec_nanos(), 0, "whole seconds");
            let third = visibility_backoff(&backoff, 3, None);
            assert!(
                third >= Duration::from_secs(60) && third <= Duration::from_secs(120),
                "{third:?}"
            );
        }
        let asked = visibility_backoff(&backoff, 1, Some(Duration::from_secs(600)));
        assert_eq!(asked, Duration::from_secs(600));
        let none = Backoff::new(Duration::ZERO, MAX_VISIBILITY);
        let rounded = visibility_backoff(&none, 1, Some(Duration::from_millis(1500)));
        assert_eq!(rounded, Duration::from_secs(2));
        assert!(visibility_backoff(&backoff, 40, None) >= MAX_VISIBILITY / 2);
        assert!(visibility_backoff(&backoff, 40, None) <= MAX_VISIBILITY);
        assert_eq!(
            visibility_backoff(&backoff, 1, Some(Duration::from_secs(86_400))),
            MAX_VISIBILITY
        );
    }

    #[test]
    fn transient_failures_retry_until_the_last_receive_then_dead_letter() {
        let policy = FailurePolicy::new(3, Duration::ZERO);
        let transient = ArchiveError::transient(FailureReason::AltinnServerError, "503");
        let permanent = ArchiveError::permanent(FailureReason::AltinnNotFound, "404");
        assert_eq!(
            policy.decide(&transient, 1),
            Verdict::Retry {
                visibility: Duration::ZERO
            }
        );
        assert_eq!(
            policy.decide(&transient, 2),
            Verdict::Retry {
                visibility: Duration::ZERO
            }
        );
        assert_eq!(
            policy.decide(&transient, 3),
            Verdict::DeadLetter {
                retries_exhausted: true
            }
        );
        assert_eq!(
            policy.decide(&permanent, 1),
            Verdict::DeadLetter {
                retries_exhausted: false
            }
        );
        let mut throttled = transient.clone();
        throttled.retry_after = Some(Duration::from_secs(90));
        assert_eq!(
            policy.decide(&throttled, 1),
            Verdict::Retry {
                visibility: Duration::from_secs(90)
            }
        );
        assert_eq!(
            policy.decide(&ArchiveError::deadline("download"), 7),
            Verdict::Retry {
                visibility: Duration::ZERO
            },
            "running out of time uses up no receive"
        );
    }

    #[test]
    fn a_pending_scan_is_retried_so_the_last_receive_comes_after_its_wait() {
        let policy = FailurePolicy::new(5, Duration::from_secs(30));
        let mut pending = ArchiveError::transient(FailureReason::ScanPending, "Pending");
        pending.retry_after = Some(Duration::from_secs(3600));
        assert_eq!(
            policy.decide(&pending, 1),
            Verdict::Retry {
                visibility: Duration::from_secs(240)
            },
            "a fifteenth of the hour: the first retry comes soon"
        );
        let mut waited = Duration::ZERO;
        for receive in 1..5 {
            let Verdict::Retry { visibility } = policy.decide(&pending, receive) else {
                panic!("receive {receive} is retried");
            };
            waited += visibility;
            let left = Duration::from_secs(3600).saturating_sub(waited);
            pending.retry_after = Some(left);
        }
        assert!(
            waited >= Duration::from_secs(3600),
            "the fifth receive comes after the hour: {waited:?}"
        );
        assert_eq!(
            policy.decide(&pending, 5),
            Verdict::DeadLetter {
                retries_exhausted: true
            }
        );

        // The longest wait config allows (4 × 12 h) is still covered: 12 h every time.
        for receive in 1..5 {
            let left = MAX_VISIBILITY * (5 - receive);
            pending.retry_after = Some(left);
            assert_eq!(
                policy.decide(&pending, receive),
                Verdict::Retry {
                    visibility: MAX_VISIBILITY
                }
            );
        }

        // Near the end, never past the wait; without a time left, the usual backoff.
        pending.retry_after = Some(Duration::from_millis(2500));
        assert_eq!(
            policy.decide(&pending, 1),
            Verdict::Retry {
                visibility: Duration::from_secs(3)
            }
        );
        pending.retry_after = None;
        let Verdict::Retry { visibility } = policy.decide(&pending, 1) else {
            panic!("retried");
        };
        assert!(visibility <= Duration::from_secs(30));
        let permanent = ArchiveError::permanent(FailureReason::ScanPending, "gave up");
        assert_eq!(
            policy.decide(&permanent, 1),
            Verdict::DeadLetter {
                retries_exhausted: false
            }
        );
    }

    #[test]
    fn details_are_truncated_at_character_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ææææ", 3), "æ…");
    }
}
