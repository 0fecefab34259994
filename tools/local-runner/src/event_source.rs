//! A local stand-in for Lambda's SQS event source mapping with `ReportBatchItemFailures`:
//!
//! 1. long-poll `ReceiveMessage` (up to 10 messages, all message and system attributes, so
//!    `ApproximateReceiveCount` is there for the archiver's retry decisions),
//! 2. turn the messages into the `SqsEvent` Lambda would deliver (`eventSourceARN`,
//!    `awsRegion`, attributes, message attributes),
//! 3. invoke the archiver's handler with the deadline of a function timeout,
//! 4. delete every message not listed in `batchItemFailures` and leave the failures on the
//!    queue; SQS's redrive policy moves a message that keeps failing to the dead-letter queue.
//!
//! As in Lambda, a failure list naming a message that was not in the batch (or an empty id)
//! fails the whole batch: nothing is deleted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use archiver::{Archiver, MessageOutcome};
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use tokio::sync::watch;

use crate::error::RunError;
use crate::ledger::Ledger;
use crate::local_aws::Queues;
use crate::progress::{Progress, human_bytes};

/// Lambda's largest SQS batch without a batching window.
pub const MAX_BATCH: i32 = 10;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollResult {
    /// Messages received and handed to the archiver.
    pub received: usize,
    /// Of those, deleted (the archiver reported them done).
    pub deleted: usize,
    /// Of those, left on the queue (batch item failures).
    pub left: usize,
}

/// The event source mapping: one queue, one function.
pub struct EventSourceMapping {
    sqs: aws_sdk_sqs::Client,
    queues: Queues,
    region: String,
    archiver: Arc<Archiver>,
    ledger: Arc<Ledger>,
    progress: Progress,
    /// The function timeout: each batch is handed a deadline this far out.
    function_timeout: Duration,
    /// Long-poll wait per `ReceiveMessage` (SQS allows up to 20 s; short keeps stopping quick).
    wait: Duration,
}

impl std::fmt::Debug for EventSourceMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSourceMapping")
            .field("queue", &self.queues.queue_url)
            .field("function_timeout", &self.function_timeout)
            .finish_non_exhaustive()
    }
}

impl EventSourceMapping {
    /// A mapping from `queues.queue_url` to `archiver`, recording outcomes in `ledger`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        queues: Queues,
        region: impl Into<String>,
        archiver: Arc<Archiver>,
        ledger: Arc<Ledger>,
        progress: Progress,
        function_timeout: Duration,
    ) -> Self {
        EventSourceMapping {
            sqs,
            queues,
            region: region.into(),
            archiver,
            ledger,
            progress,
            function_timeout,
            wait: Duration::from_secs(1),
        }
    }

    /// One receive → invoke → delete round. `Ok` with `received == 0` when the queue was empty.
    pub async fn poll_once(&self) -> Result<PollResult, RunError> {
        let messages = self
            .sqs
            .receive_message()
            .queue_url(&self.queues.queue_url)
            .max_number_of_messages(MAX_BATCH)
            .wait_time_seconds(i32::try_from(self.wait.as_secs()).unwrap_or(1))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| RunError::aws("SQS ReceiveMessage", e))?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(PollResult::default());
        }
        let event = sqs_event(&messages, &self.queues.queue_arn, &self.region);
        self.progress.step(format!(
            "queue    -> archiver: batch of {} message(s)",
            messages.len()
        ));
        let deadline = SystemTime::now() + self.function_timeout;
        let report = self
            .archiver
            .handle_batch_with_report(&event, deadline)
            .await;

        let outcomes: HashMap<String, &MessageOutcome> = report
            .outcomes
            .iter()
            .filter_map(|(id, outcome)| id.clone().map(|id| (id, outcome)))
            .collect();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let Some(outcome) = outcomes.get(&id) else {
                continue;
            };
            let event_id = event_id_of(record);
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let instance = record
                .message_attributes
                .get("Instance")
                .and_then(|a| a.string_value.as_deref());
            self.ledger
                .record(event_id.as_deref(), instance, receive_count, outcome);
            self.progress.step(describe(record, receive_count, outcome));
        }

        let batch_ids: HashSet<&str> = event
            .records
            .iter()
            .filter_map(|r| r.message_id.as_deref())
            .collect();
        let failures: HashSet<&str> = report
            .response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let whole_batch_failed = failures
            .iter()
            .any(|id| id.is_empty() || !batch_ids.contains(id));
        let to_delete: Vec<&Message> = if whole_batch_failed {
            Vec::new()
        } else {
            messages
                .iter()
                .filter(|m| {
                    m.message_id
                        .as_deref()
                        .is_some_and(|id| !failures.contains(id))
                })
                .collect()
        };
        let deleted = self.delete(&to_delete).await?;
        let left = messages.len() - deleted;
        self.progress.step(format!(
            "queue    deleted {deleted}, left {left} on the queue{}",
            if whole_batch_failed {
                " (the whole batch failed)"
            } else {
                ""
            }
        ));
        Ok(PollResult {
            received: messages.len(),
            deleted,
            left,
        })
    }

    /// Deletes the messages; returns how many SQS confirmed.
    async fn delete(&self, messages: &[&Message]) -> Result<usize, RunError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let mut entries = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .set_receipt_handle(message.receipt_handle.clone())
                .build()
                .map_err(|e| RunError::aws("SQS DeleteMessageBatch", e))?;
            entries.push(entry);
        }
        let output = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.queues.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| RunError::aws("SQS DeleteMessageBatch", e))?;
        for failed in output.failed() {
            self.progress.step(format!(
                "queue    could not delete a message ({}: {}); it will be delivered again",
                failed.code(),
                failed.message().unwrap_or_default()
            ));
        }
        Ok(output.successful().len())
    }

    /// Runs `pollers` receive loops, like Lambda running several pollers for one mapping,
    /// until `stop` turns true. A loop checks `stop` between polls, so a batch in hand is
    /// finished (its deletes included) before the loop ends; dropping the returned future
    /// instead abandons a batch mid-way, which is safe (every archiver step can be repeated,
    /// and the messages stay on the queue).
    ///
    /// The loops run inside the caller's task rather than spawned: the archiver's batch future
    /// is not `Send` as far as the compiler can prove (higher-ranked lifetimes in its stream
    /// combinators), and spawning requires `Send`.
    pub async fn run(&self, pollers: usize, stop: watch::Receiver<bool>) {
        let loops = (0..pollers.max(1)).map(|_| {
            let stop = stop.clone();
            async move {
                while !*stop.borrow() {
                    if let Err(error) = self.poll_once().await {
                        self.progress
                            .step(format!("queue    poll failed: {error}; trying again"));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        futures_util::future::join_all(loops).await;
    }
}

/// The `SqsEvent` Lambda would deliver for these messages.
pub fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.md5_of_body = message.md5_of_body.clone();
            record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
            record.attributes = message
                .attributes
                .iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
                .collect();
            record.message_attributes = message
                .message_attributes
                .iter()
                .flatten()
                .map(|(name, value)| {
                    let mut attribute = SqsMessageAttribute::default();
                    attribute.data_type = Some(value.data_type.clone());
                    attribute.string_value = value.string_value.clone();
                    attribute.binary_value = value.binary_value.clone().map(base64_data);
                    attribute.string_list_values = value.string_list_values().to_vec();
                    attribute.binary_list_values = value
                        .binary_list_values()
                        .iter()
                        .cloned()
                        .map(base64_data)
                        .collect();
                    (name.clone(), attribute)
                })
                .collect();
            record.event_source_arn = Some(queue_arn.to_owned());
            record.event_source = Some("aws:sqs".to_owned());
            record.aws_region = Some(region.to_owned());
            record
        })
        .collect();
    event
}

fn base64_data(blob: aws_sdk_sqs::primitives::Blob) -> Base64Data {
    let mut data = Base64Data::default();
    *data = blob.into_inner();
    data
}

/// The CloudEvent id: the webhook's `EventId` attribute, else the body's `id`.
fn event_id_of(record: &SqsMessage) -> Option<String> {
    record
        .message_attributes
        .get("EventId")
        .and_then(|a| a.string_value.clone())
        .or_else(|| {
            record
                .body
                .as_deref()
                .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
                .and_then(|event| event.get("id")?.as_str().map(str::to_owned))
        })
}

/// One progress line for a message's outcome.
fn describe(record: &SqsMessage, receive_count: u32, outcome: &MessageOutcome) -> String {
    let subject = record
        .message_attributes
        .get("Instance")
        .and_then(|a| a.string_value.clone())
        .unwrap_or_else(|| {
            format!(
                "message {}",
                record.message_id.as_deref().unwrap_or_default()
            )
        });
    match outcome {
        MessageOutcome::Archived(summary) => format!(
            "archiver archived {subject}: {} element(s) ({} downloaded, {} reused), {} \
             hard-deleted skipped, {}; manifest written, completed in Altinn",
            summary.elements,
            summary.elements_downloaded,
            summary.elements_reused,
            summary.elements_skipped,
            human_bytes(summary.bytes_downloaded)
        ),
        MessageOutcome::AlreadyArchived { completed_now, .. } => format!(
            "archiver {subject}: already archived (a duplicate event){}",
            if *completed_now {
                "; the missing completion was sent now"
            } else {
                ""
            }
        ),
        MessageOutcome::ClaimedByAnotherRun(_) => {
            format!("archiver {subject}: another run wrote the manifest first and completes it")
        }
        MessageOutcome::WrittenBack(summary) => format!(
            "archiver {subject}: in the feedback task: {} element(s) archived ({} downloaded), \
             receipt {}, process {}",
            summary.elements,
            summary.elements_downloaded,
            if summary.receipt_uploaded {
                "uploaded"
            } else {
                "already there"
            },
            if summary.moved_on {
                "moved on"
            } else {
                "had already moved on"
            }
        ),
        MessageOutcome::AlreadyWrittenBack => {
            format!("archiver {subject}: already written back (the process left the feedback task)")
        }
        MessageOutcome::CorrespondenceArchived(summary) => format!(
            "archiver kept the Correspondence event at {}{}: {} attachment(s) downloaded ({}), \
             {} reused, {} no longer accessible to the sender{}",
            summary.event_key,
            if summary.event_new {
                ""
            } else {
                " (a duplicate)"
            },
            summary.attachments_downloaded,
            human_bytes(summary.bytes_downloaded),
            summary.attachments_reused,
            summary.attachments_not_accessible,
            summary
                .manifest_key
                .as_ref()
                .map_or(String::new(), |key| format!("; manifest {key}"))
        ),
        MessageOutcome::EventStored { key } => format!("archiver kept the event at {key}"),
        MessageOutcome::EventAlreadyStored { key } => {
            format!("archiver the event was already kept at {key}")
        }
        MessageOutcome::Retry { error, visibility } => format!(
            "archiver {subject}: {} ({}); left on the queue after receive {receive_count}{}",
            error.reason,
            error.detail,
            visibility.map_or(String::new(), |v| format!(
                ", visible again in {} s",
                v.as_secs()
            ))
        ),
        MessageOutcome::DeadLettered {
            error,
            retries_exhausted,
        } => format!(
            "archiver {subject}: {} ({}); sent to the dead-letter queue{}",
            error.reason,
            error.detail,
            if *retries_exhausted {
                format!(" after {receive_count} receives")
            } else {
                " (a retry cannot help)".to_owned()
            }
        ),
        MessageOutcome::DeadLetterFailed { error, send_error } => format!(
            "archiver {subject}: {} ({}); could not reach the dead-letter queue ({send_error}), \
             left on the queue for the redrive policy",
            error.reason, error.detail
        ),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::MessageAttributeValue;

    use super::*;

    #[test]
    fn messages_become_the_records_lambda_delivers() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("handle-1")
            .body(r#"{"id":"e-1"}"#)
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .message_attributes(
                "EventType",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("app.instance.process.completed")
                    .build()
                    .expect("attribute"),
            )
            .message_attributes(
                "Blob",
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![1, 2, 3]))
                    .build()
                    .expect("attribute"),
            )
            .build();
        let event = sqs_event(
            &[message],
            "arn:aws:sqs:eu-north-1:123456789012:q",
            "eu-north-1",
        );
        assert_eq!(event.records.len(), 1);
        let record = &event.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.receipt_handle.as_deref(), Some("handle-1"));
        assert_eq!(
            record
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str),
            Some("2")
        );
        assert_eq!(
            record.message_attributes["EventType"]
                .string_value
                .as_deref(),
            Some("app.instance.process.completed")
        );
        assert_eq!(
            record.message_attributes["Blob"]
                .binary_value
                .as_deref()
                .map(Vec::as_slice),
            Some(&[1u8, 2, 3][..])
        );
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:eu-north-1:123456789012:q")
        );
        assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
        assert_eq!(record.aws_region.as_deref(), Some("eu-north-1"));
        assert_eq!(event_id_of(record).as_deref(), Some("e-1"));
    }
}
