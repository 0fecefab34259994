//! Correspondence's CloudEvents as `AltinnEventBus.Publish` writes them
//! (<https://github.com/Altinn/altinn-correspondence/blob/main/src/Altinn.Correspondence.Integrations/Altinn/Events/AltinnEventBus.cs>):
//! type `no.altinn.correspondence.{suffix}`, source `{platform}correspondence/api/v1/{topic}`,
//! `resource` `urn:altinn:resource:{id}`, `resourceinstance` the correspondence, attachment or
//! notification order id, `subject` the addressed party's URN, no `data`. Pushing goes through
//! the Events machinery ([`crate::events::publish_event`]) with the sender org as the
//! resource owner, so the sender's subscription gets every event of its resource and a
//! recipient's subscription (subject filter = its own URN) gets the events addressed to it.

use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store::{Status, organization_urn};
use crate::dialect::timestamp;
use crate::state::Shared;

/// Prefix of every Correspondence event type.
pub const CORRESPONDENCE_EVENT_PREFIX: &str = "no.altinn.correspondence.";

/// Which API an event comes from: the last segment of its `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Topic {
    Correspondence,
    Attachment,
    Notification,
}

impl Topic {
    pub(crate) fn of_suffix(suffix: &str) -> Topic {
        if suffix.starts_with("attachment") {
            Topic::Attachment
        } else if suffix == "notificationcreated" {
            Topic::Notification
        } else {
            Topic::Correspondence
        }
    }

    fn segment(self) -> &'static str {
        match self {
            Topic::Correspondence => "correspondence",
            Topic::Attachment => "attachment",
            Topic::Notification => "notification",
        }
    }
}

/// The type suffix in Altinn's spelling: a full type loses its prefix, and the short forms
/// tests may use (`receiverread`, `published`, `purged`) get their `correspondence` prefix.
pub(crate) fn normalise_suffix(suffix: &str) -> String {
    let suffix = suffix
        .strip_prefix(CORRESPONDENCE_EVENT_PREFIX)
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    if ["correspondence", "attachment", "notification"]
        .iter()
        .any(|p| suffix.starts_with(p))
    {
        suffix
    } else {
        format!("correspondence{suffix}")
    }
}

/// Events `PublishCorrespondenceHandler` and `CorrespondenceDueDateHandler` address to the
/// recipient; every other event is addressed to the sender.
pub(crate) fn addressed_to_recipient(suffix: &str) -> bool {
    matches!(
        suffix,
        "correspondencepublished"
            | "correspondencereceiverneverread"
            | "correspondencereceiverneverconfirmed"
    )
}

/// The status an event of this type reports, which publishing it applies.
pub(crate) fn implied_status(suffix: &str) -> Option<Status> {
    match suffix {
        "correspondencereceiverread" => Some(Status::Read),
        "correspondencereceiverconfirmed" => Some(Status::Confirmed),
        "correspondencepurged" => Some(Status::PurgedByRecipient),
        "correspondencepublishfailed" => Some(Status::Failed),
        _ => None,
    }
}

/// The attachment status an attachment event reports.
pub(crate) fn implied_attachment_status(suffix: &str) -> Option<&'static str> {
    match suffix {
        "attachmentexpired" => Some("Expired"),
        "attachmentuploadfailed" => Some("Failed"),
        _ => None,
    }
}

/// A CloudEvent about `instance` (a correspondence, attachment or notification order id) of
/// `resource_id`, addressed to the organisation `subject_orgno`.
pub(crate) fn cloud_event(
    shared: &Shared,
    suffix: &str,
    resource_id: &str,
    instance: Uuid,
    subject_orgno: &str,
) -> Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": format!(
            "{}correspondence/api/v1/{}",
            shared.base_url,
            Topic::of_suffix(suffix).segment()
        ),
        "type": format!("{CORRESPONDENCE_EVENT_PREFIX}{suffix}"),
        "subject": organization_urn(subject_orgno),
        "alternativesubject": format!("/organisation/{subject_orgno}"),
        "time": timestamp(OffsetDateTime::now_utc()),
        "resource": format!("urn:altinn:resource:{resource_id}"),
        "resourceinstance": instance.to_string(),
    })
}

/// Pushes `event` to the matching subscriptions and records it for the correspondences it
/// concerns. Returns the event id.
pub(crate) fn push(
    shared: &Arc<Shared>,
    event: Value,
    sender_org: &str,
    correspondences: Vec<Uuid>,
) -> String {
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    shared
        .lock()
        .correspondence
        .pushed
        .push(super::store::PushedEvent {
            correspondences,
            event: event.clone(),
        });
    let targets = crate::events::publish_event(shared, event, sender_org);
    tracing::debug!(event_id = %id, targets, "correspondence event published");
    id
}

/// Builds and pushes the event of type `suffix` about correspondence `id`, addressed to the
/// party Altinn addresses it to. `None` if the correspondence does not exist.
pub(crate) fn push_correspondence_event(
    shared: &Arc<Shared>,
    id: Uuid,
    suffix: &str,
) -> Option<String> {
    let (event, sender_org) = {
        let inner = shared.lock();
        let c = inner.correspondence.correspondences.get(&id)?;
        let orgno = if addressed_to_recipient(suffix) {
            &c.recipient_orgno
        } else {
            &c.sender_orgno
        };
        (
            cloud_event(shared, suffix, &c.resource_id, id, orgno),
            c.sender_org.clone(),
        )
    };
    Some(push(shared, event, &sender_org, vec![id]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_normalised_and_routed_to_their_topic() {
        assert_eq!(
            normalise_suffix("receiverread"),
            "correspondencereceiverread"
        );
        assert_eq!(
            normalise_suffix("no.altinn.correspondence.correspondencepublished"),
            "correspondencepublished"
        );
        assert_eq!(
            normalise_suffix("attachmentpublished"),
            "attachmentpublished"
        );
        assert_eq!(
            normalise_suffix("notificationcreated"),
            "notificationcreated"
        );
        assert_eq!(Topic::of_suffix("attachmentexpired"), Topic::Attachment);
        assert_eq!(Topic::of_suffix("notificationcreated"), Topic::Notification);
        assert_eq!(
            Topic::of_suffix("correspondencenotificationfailed"),
            Topic::Correspondence
        );
        assert!(addressed_to_recipient("correspondencereceiverneverread"));
        assert!(!addressed_to_recipient("correspondencereceiverread"));
    }
}
