//! Follow-up alerts: the Correspondence events after which the agency has to act by other means
//! (a letter, a phone call, a new attempt), sent as one message on an SNS topic.
//!
//! | type suffix (`no.altinn.correspondence.…`) | what it means for the agency |
//! | --- | --- |
//! | `correspondencepublishfailed` | Altinn could not publish the correspondence; the recipient never got it |
//! | `correspondencenotificationcreationfailed` | no notification (e-mail/SMS) order could be created; the recipient was not told |
//! | `correspondencenotificationallfailed` | every notification attempt failed |
//! | `correspondencenotificationfailed` | one notification (e-mail or SMS) could not be delivered |
//! | `correspondencereceiverneverread` | the due date passed and the recipient has not read it |
//! | `correspondencereceiverneverconfirmed` | the due date passed and the recipient has not confirmed it |
//!
//! The SNS message body is the JSON of [`FollowUp`] (camelCase):
//!
//! ```json
//! {"correspondenceId":"0191d6a4-…","resourceId":"our-resource",
//!  "eventType":"no.altinn.correspondence.correspondencereceiverneverread",
//!  "eventId":"9b0c…","eventTime":"2026-12-04T05:12:33.123Z",
//!  "manifestKey":"archive/correspondence/our-resource/0191d6a4-…/manifest.json"}
//! ```
//!
//! with a short human-readable `Subject` (for e-mail subscriptions) and the message attribute
//! `event_type` (the full type), so a subscription can filter on it. The caller sends at most
//! one message per (correspondence, type); this module only delivers it.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use lambda_support::aws::OnFirstUse;

use crate::error::{ArchiveError, FailureReason};
use crate::memory::MemorySink;

/// The prefix of every Correspondence event type.
const TYPE_PREFIX: &str = "no.altinn.correspondence.";

/// The type suffixes that need follow-up, each with the short title used in the SNS subject.
const FOLLOW_UP_TYPES: [(&str, &str); 6] = [
    ("correspondencepublishfailed", "publishing failed"),
    (
        "correspondencenotificationcreationfailed",
        "notification could not be created",
    ),
    (
        "correspondencenotificationallfailed",
        "all notifications failed",
    ),
    ("correspondencenotificationfailed", "a notification failed"),
    ("correspondencereceiverneverread", "recipient never read it"),
    (
        "correspondencereceiverneverconfirmed",
        "recipient never confirmed it",
    ),
];

/// SNS refuses a `Subject` longer than this.
const MAX_SUBJECT_CHARS: usize = 100;

/// True for the Correspondence event types after which the agency must follow up (the suffix
/// after `no.altinn.correspondence.`, e.g. `correspondencereceiverneverread`).
pub fn needs_follow_up(type_suffix: &str) -> bool {
    title(type_suffix).is_some()
}

fn title(type_suffix: &str) -> Option<&'static str> {
    FOLLOW_UP_TYPES
        .iter()
        .find(|(suffix, _)| *suffix == type_suffix)
        .map(|(_, title)| *title)
}

/// One follow-up alert; its JSON is the SNS message body (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowUp {
    /// The correspondence the event is about (its `resourceinstance`).
    pub correspondence_id: String,
    /// The Altinn resource id, without `urn:altinn:resource:`.
    pub resource_id: String,
    /// The full event type, e.g. `no.altinn.correspondence.correspondencereceiverneverread`.
    pub event_type: String,
    /// The CloudEvent id.
    pub event_id: String,
    /// The CloudEvent `time`, when Altinn set one.
    pub event_time: Option<String>,
    /// Where the correspondence's manifest is in the archive bucket, once written.
    pub manifest_key: Option<String>,
}

impl FollowUp {
    /// The type suffix, e.g. `correspondencereceiverneverread` (the whole type when it does
    /// not start with `no.altinn.correspondence.`).
    pub fn type_suffix(&self) -> &str {
        self.event_type
            .strip_prefix(TYPE_PREFIX)
            .unwrap_or(&self.event_type)
    }

    /// The SNS subject: what happened and to which correspondence, within SNS's 100 characters
    /// and without line breaks (SNS refuses both).
    pub fn subject(&self) -> String {
        let what = title(self.type_suffix()).unwrap_or("needs follow-up");
        let subject = format!("Altinn correspondence {}: {what}", self.correspondence_id);
        subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_SUBJECT_CHARS)
            .collect()
    }

    /// The SNS message body.
    pub fn to_json(&self) -> String {
        // A struct of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where follow-up alerts go. Object-safe, so the archiver holds an `Arc<dyn FollowUpSink>`
/// (SNS in AWS, [`MemoryFollowUp`] in tests).
pub trait FollowUpSink: Send + Sync {
    /// Delivers one alert; a failure is transient, so the event is retried.
    fn send(&self, alert: &FollowUp) -> BoxFuture<'_, Result<(), ArchiveError>>;
}

/// Publishes alerts to an SNS topic (`FOLLOW_UP_TOPIC_ARN`).
#[derive(Clone)]
pub struct SnsFollowUp {
    topic_arn: String,
    /// Built at the first alert: most runs send none.
    client: OnFirstUse<aws_sdk_sns::Client>,
}

impl SnsFollowUp {
    /// Publishes to `topic_arn` with a client built from `sdk` at the first alert.
    pub fn on_first_use(sdk: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        SnsFollowUp {
            topic_arn: topic_arn.into(),
            client: OnFirstUse::new(sdk, aws_sdk_sns::Client::new),
        }
    }

    /// Publishes to `topic_arn` with `client`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsFollowUp {
            topic_arn: topic_arn.into(),
            client: client.into(),
        }
    }

    /// The topic alerts go to.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    async fn publish(&self, alert: &FollowUp) -> Result<(), ArchiveError> {
        let failed = |detail: String| {
            // Like S3, SNS is an AWS service of ours whose failure is not the message's fault,
            // so it is retried.
            ArchiveError::transient(
                FailureReason::FollowUpUnavailable,
                format!(
                    "follow-up alert for correspondence {} to SNS topic {}: {detail}",
                    alert.correspondence_id, self.topic_arn
                ),
            )
        };
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&alert.event_type)
            .build()
            .map_err(|error| failed(error.to_string()))?;
        self.client
            .get()
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(alert.subject())
            .message(alert.to_json())
            .message_attributes("event_type", attribute)
            .send()
            .await
            .map_err(|error| {
                let error = aws_sdk_sns::error::DisplayErrorContext(error);
                failed(format!("Publish failed: {error}"))
            })?;
        tracing::info!(
            correspondence_id = %alert.correspondence_id,
            event_type = %alert.event_type,
            "follow-up alert published"
        );
        Ok(())
    }
}

impl FollowUpSink for SnsFollowUp {
    fn send(&self, alert: &FollowUp) -> BoxFuture<'_, Result<(), ArchiveError>> {
        let alert = alert.clone();
        async move { self.publish(&alert).await }.boxed()
    }
}

impl std::fmt::Debug for SnsFollowUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsFollowUp")
            .field("topic_arn", &self.topic_arn)
            .finish_non_exhaustive()
    }
}

/// An in-memory sink for tests.
pub type MemoryFollowUp = MemorySink<FollowUp>;

impl FollowUpSink for MemorySink<FollowUp> {
    fn send(&self, alert: &FollowUp) -> BoxFuture<'_, Result<(), ArchiveError>> {
        let result = if self.accept(alert) {
            Ok(())
        } else {
            Err(ArchiveError::transient(
                FailureReason::FollowUpUnavailable,
                format!(
                    "follow-up alert for correspondence {}: the test sink was told to fail",
                    alert.correspondence_id
                ),
            ))
        };
        futures_util::future::ready(result).boxed()
    }
}

#[cfg(test)]
mod tests;
