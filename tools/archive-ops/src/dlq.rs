//! `archive-ops dlq list | show | redrive`: the dead-letter queue.
//!
//! Reading a queue without consuming it: messages are received with a short visibility
//! timeout (so one listing sees each message once) and made visible again right after
//! (`ChangeMessageVisibility` 0). The archiver puts the failure on each dead letter as message
//! attributes (`Reason`, `ErrorClass`, `Detail`, `FailedAt`, `ReceiveCount`, `EventId`,
//! `Instance`); a message SQS itself moved there (its redrive policy, after repeated crashes or
//! timeouts) has none of those and shows the reason `redrive-policy`.
//!
//! Redrive sends the original body to the event queue with the routing attributes the webhook
//! sets (`EventType`, `EventId`, `Instance`, and `Origin` when present), then deletes the dead
//! letter. A crash between the two leaves a duplicate, which the archiver tolerates.

use std::collections::BTreeMap;
use std::io::Write;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use serde::Serialize;

use crate::cli::{DlqCommand, DlqQueues, RedriveArgs};
use crate::{CommandError, Context, EXIT_FAILURE, EXIT_OK, progress, table, write_json};

/// Longest wait for one `ReceiveMessage` (long polling ends early when messages exist).
const WAIT_SECS: i32 = 1;
/// How long received messages stay hidden while a command looks at them.
const PEEK_VISIBILITY_SECS: i32 = 60;

/// One dead letter, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// SQS message id.
    pub message_id: String,
    /// The archiver's reason code, or `redrive-policy`.
    pub reason: String,
    /// `permanent`, `retries_exhausted`, or empty.
    pub error_class: String,
    /// `{org}/{app}/{partyId}/{instanceGuid}`, when known.
    pub instance: String,
    /// The CloudEvent id.
    pub event_id: String,
    /// The CloudEvent type (from the attributes or the body).
    pub event_type: String,
    /// When the archiver gave up (RFC 3339).
    pub failed_at: String,
    /// The archiver's description of the failure.
    pub detail: String,
    /// The message body (the CloudEvent JSON); only in `show`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Every string message attribute; only in `show`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl DeadLetter {
    fn from_message(message: &Message) -> Self {
        let attributes: BTreeMap<String, String> = message
            .message_attributes()
            .map(|all| {
                all.iter()
                    .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let get = |name: &str| attributes.get(name).cloned().unwrap_or_default();
        let body_type = message
            .body()
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
        DeadLetter {
            message_id: message.message_id().unwrap_or_default().to_owned(),
            reason: attributes
                .get("Reason")
                .cloned()
                .unwrap_or_else(|| "redrive-policy".to_owned()),
            error_class: get("ErrorClass"),
            instance: get("Instance"),
            event_id: get("EventId"),
            event_type: attributes
                .get("EventType")
                .cloned()
                .or(body_type)
                .unwrap_or_default(),
            failed_at: get("FailedAt"),
            detail: get("Detail"),
            body: None,
            attributes,
        }
    }

    /// Without body and attributes (the list view).
    fn summary(mut self) -> Self {
        self.body = None;
        self.attributes.clear();
        self
    }
}

/// The queues a command works on.
struct Queues {
    sqs: aws_sdk_sqs::Client,
    dlq_url: String,
}

impl Queues {
    /// Receives up to `max` messages, hiding them for [`PEEK_VISIBILITY_SECS`].
    async fn receive(&self, max: usize) -> Result<Vec<Message>, CommandError> {
        let mut all: Vec<Message> = Vec::new();
        while all.len() < max {
            let batch = (max - all.len()).min(10) as i32;
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(batch)
                .wait_time_seconds(WAIT_SECS)
                .visibility_timeout(PEEK_VISIBILITY_SECS)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| {
                    CommandError::failed(format!(
                        "receive from the DLQ: {}",
                        DisplayErrorContext(&e)
                    ))
                })?;
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            all.extend(messages);
        }
        Ok(all)
    }

    /// Makes received messages visible again at once.
    async fn release(&self, messages: &[&Message]) -> Result<(), CommandError> {
        for message in messages {
            if let Some(handle) = message.receipt_handle() {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&self.dlq_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map_err(|e| {
                        CommandError::failed(format!(
                            "release a DLQ message: {}",
                            DisplayErrorContext(&e)
                        ))
                    })?;
            }
        }
        Ok(())
    }
}

/// Runs `dlq …`.
pub async fn command(
    command: &DlqCommand,
    json: bool,
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    let queues = |flags: &DlqQueues| -> Result<Queues, CommandError> {
        Ok(Queues {
            sqs: aws_sdk_sqs::Client::new(&context.sdk),
            dlq_url: context.required(
                flags.dlq_url.as_deref(),
                "dlq-url",
                "DEAD_LETTER_QUEUE_URL",
            )?,
        })
    };
    match command {
        DlqCommand::List { max, queues: flags } => {
            let queues = queues(flags)?;
            let messages = queues.receive((*max).max(1)).await?;
            queues.release(&messages.iter().collect::<Vec<_>>()).await?;
            let letters: Vec<DeadLetter> = messages
                .iter()
                .map(|m| DeadLetter::from_message(m).summary())
                .collect();
            if json {
                write_json(out, &letters)?;
            } else {
                print_list(out, &letters)?;
            }
            Ok(EXIT_OK)
        }
        DlqCommand::Show {
            message_id: id,
            max,
            queues: flags,
        } => {
            let queues = queues(flags)?;
            let messages = queues.receive((*max).max(1)).await?;
            queues.release(&messages.iter().collect::<Vec<_>>()).await?;
            let Some(message) = messages
                .iter()
                .find(|m| m.message_id() == Some(id.as_str()))
            else {
                writeln!(err, "no message {id} in the dead-letter queue")
                    .map_err(CommandError::failed)?;
                return Ok(EXIT_FAILURE);
            };
            let mut letter = DeadLetter::from_message(message);
            letter.body = message.body().map(str::to_owned);
            if json {
                write_json(out, &letter)?;
            } else {
                print_one(out, &letter)?;
            }
            Ok(EXIT_OK)
        }
        DlqCommand::Redrive(args) => {
            let queue_url =
                context.required(args.queue_url.as_deref(), "queue-url", "QUEUE_URL")?;
            let queues = queues(&args.queues)?;
            redrive(&queues, &queue_url, args, json, context, out).await
        }
    }
}

/// The list view: a table and a count.
fn print_list(out: &mut dyn Write, letters: &[DeadLetter]) -> Result<(), CommandError> {
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|l| {
            vec![
                l.message_id.clone(),
                l.reason.clone(),
                l.instance.clone(),
                l.failed_at.clone(),
                table::truncate(&l.detail, 60),
            ]
        })
        .collect();
    let text = table::render(
        &["MESSAGE ID", "REASON", "INSTANCE", "FAILED AT", "DETAIL"],
        &rows,
    );
    out.write_all(text.as_bytes())
        .map_err(CommandError::failed)?;
    writeln!(out, "{} message(s)", letters.len()).map_err(CommandError::failed)
}

/// One message: its attributes, then its body (pretty-printed when it is JSON).
fn print_one(out: &mut dyn Write, letter: &DeadLetter) -> Result<(), CommandError> {
    let mut text = String::new();
    for (name, value) in &letter.attributes {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push('\n');
    let body = letter.body.as_deref().unwrap_or("");
    let pretty = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned());
    text.push_str(&pretty);
    writeln!(out, "message {}\n{text}", letter.message_id).map_err(CommandError::failed)
}

/// `dlq redrive`: the chosen messages back to the event queue, the others released.
async fn redrive(
    queues: &Queues,
    queue_url: &str,
    args: &RedriveArgs,
    json: bool,
    context: &Context,
    out: &mut dyn Write,
) -> Result<i32, CommandError> {
    let ids = &args.id;
    let messages = queues.receive(args.max.max(1)).await?;
    let (chosen, others): (Vec<&Message>, Vec<&Message>) = messages
        .iter()
        .partition(|m| args.all || ids.iter().any(|id| m.message_id() == Some(id.as_str())));
    queues.release(&others).await?;
    let mut moved = Vec::new();
    let bar = progress::bar(context.progress && !json, chosen.len() as u64, "redriving");
    for message in chosen {
        redrive_one(queues, queue_url, message).await?;
        moved.push(message.message_id().unwrap_or_default().to_owned());
        bar.inc(1);
    }
    bar.finish_and_clear();
    let not_found: Vec<&String> = ids.iter().filter(|id| !moved.contains(id)).collect();
    if json {
        write_json(
            out,
            &serde_json::json!({"redriven": moved, "notFound": not_found}),
        )?;
    } else {
        for id in &moved {
            writeln!(out, "redriven {id}").map_err(CommandError::failed)?;
        }
        for id in &not_found {
            writeln!(out, "not found {id}").map_err(CommandError::failed)?;
        }
        writeln!(out, "{} message(s) moved to the event queue", moved.len())
            .map_err(CommandError::failed)?;
    }
    Ok(if not_found.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

/// Sends one dead letter back to the event queue, then deletes it from the DLQ.
async fn redrive_one(
    queues: &Queues,
    queue_url: &str,
    message: &Message,
) -> Result<(), CommandError> {
    let letter = DeadLetter::from_message(message);
    let body = message.body().unwrap_or_default();
    let origin = letter
        .attributes
        .get("Origin")
        .map(String::as_str)
        .unwrap_or("");
    let routing = [
        ("EventType", letter.event_type.as_str()),
        ("EventId", letter.event_id.as_str()),
        ("Instance", letter.instance.as_str()),
        ("Origin", origin),
    ];
    let group = if letter.instance.is_empty() {
        "redriven"
    } else {
        letter.instance.as_str()
    };
    send_to_event_queue(&queues.sqs, queue_url, body, &routing, group).await?;
    if let Some(handle) = message.receipt_handle() {
        queues
            .sqs
            .delete_message()
            .queue_url(&queues.dlq_url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(|e| {
                CommandError::failed(format!("delete from the DLQ: {}", DisplayErrorContext(&e)))
            })?;
    }
    Ok(())
}

/// Sends an event body to the event queue with the routing attributes the webhook sets (empty
/// ones left out); a FIFO queue gets `group` as message group and a fresh deduplication id.
pub(crate) async fn send_to_event_queue(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    body: &str,
    routing: &[(&str, &str)],
    group: &str,
) -> Result<(), CommandError> {
    let mut request = sqs.send_message().queue_url(queue_url).message_body(body);
    for (name, value) in routing.iter().filter(|(_, value)| !value.is_empty()) {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()
            .map_err(CommandError::failed)?;
        request = request.message_attributes(*name, attribute);
    }
    if queue_url.ends_with(".fifo") {
        request = request
            .message_group_id(group)
            .message_deduplication_id(uuid::Uuid::new_v4().to_string());
    }
    request.send().await.map_err(|e| {
        CommandError::failed(format!(
            "send to the event queue: {}",
            DisplayErrorContext(&e)
        ))
    })?;
    Ok(())
}
