//! The archive's hand-off bus on moto, as a case system would see it: an EventBridge bus, a
//! rule matching `source: altinn.archive`, and an SQS queue as the rule's target. Every event
//! read back is checked against its JSON Schema in the repository's `schemas/hand-off/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::Value;

/// The `source` of the archive's hand-off events.
pub const SOURCE: &str = "altinn.archive";

/// The JSON Schema file of a hand-off event's detail.
pub fn schema_path(detail_type: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas/hand-off")
        .join(format!("{detail_type}.schema.json"))
}

/// Every way `detail` fails the schema of `detail_type`, one line each; empty when valid. An
/// unknown detail type is a violation too.
pub fn violations(detail_type: &str, detail: &Value) -> Vec<String> {
    let path = schema_path(detail_type);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => return vec![format!("no schema {}: {error}", path.display())],
    };
    let schema: Value = match serde_json::from_str(&text) {
        Ok(schema) => schema,
        Err(error) => return vec![format!("{} is not JSON: {error}", path.display())],
    };
    let validator = match jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
    {
        Ok(validator) => validator,
        Err(error) => return vec![format!("{} does not build: {error}", path.display())],
    };
    validator
        .iter_errors(detail)
        .map(|error| format!("at {}: {error}", error.instance_path()))
        .collect()
}

/// One hand-off event as the target queue received it.
#[derive(Debug, Clone)]
pub struct HandOffEvent {
    pub detail_type: String,
    pub detail: Value,
    /// The whole EventBridge envelope.
    pub envelope: Value,
}

/// A bus with a rule sending every `altinn.archive` event to a queue.
pub struct HandOffBus {
    pub bus_name: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl HandOffBus {
    /// Creates the bus `bus_name`, a queue, and the rule between them on the server `sdk`
    /// points at.
    ///
    /// # Panics
    /// When any of them cannot be created: the test must fail loudly.
    pub async fn create(sdk: &SdkConfig, bus_name: &str) -> HandOffBus {
        let events = aws_sdk_eventbridge::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        events
            .create_event_bus()
            .name(bus_name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create event bus {bus_name}: {e:?}"));
        let queue_name = format!("{bus_name}-case-system");
        let queue_url = sqs
            .create_queue()
            .queue_name(&queue_name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create queue {queue_name}: {e:?}"))
            .queue_url
            .expect("create_queue returned no URL");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("queue ARN: {e:?}"))
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("the queue has an ARN");
        let rule = format!("{bus_name}-to-case-system");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(bus_name)
            .event_pattern(serde_json::json!({ "source": [SOURCE] }).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put rule {rule}: {e:?}"));
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(bus_name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("case-system-queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("put targets on {rule}: {e:?}"));
        HandOffBus {
            bus_name: bus_name.to_owned(),
            queue_url,
            sqs,
        }
    }

    /// Reads (and deletes) every event on the queue until it has stayed empty for `quiet`.
    ///
    /// # Panics
    /// When an event is not an `altinn.archive` event or its detail fails its schema.
    pub async fn drain(&self, quiet: Duration) -> Vec<HandOffEvent> {
        let mut events = Vec::new();
        let mut last_seen = Instant::now();
        while last_seen.elapsed() < quiet {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap_or_else(|e| panic!("receive from the hand-off queue: {e:?}"));
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            last_seen = Instant::now();
            for message in messages {
                events.push(parse(message.body.as_deref().unwrap_or_default()));
                if let Some(handle) = message.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("delete from the hand-off queue: {e:?}"));
                }
            }
        }
        events
    }
}

/// An EventBridge envelope, checked.
fn parse(body: &str) -> HandOffEvent {
    let envelope: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("hand-off message is not JSON ({e}): {body}"));
    assert_eq!(envelope["source"], SOURCE, "source of {envelope}");
    let detail_type = envelope["detail-type"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail-type in {envelope}"))
        .to_owned();
    let detail = envelope["detail"].clone();
    let violations = violations(&detail_type, &detail);
    assert!(
        violations.is_empty(),
        "{detail_type} detail fails its schema: {violations:#?}\n{detail:#}"
    );
    HandOffEvent {
        detail_type,
        detail,
        envelope,
    }
}
