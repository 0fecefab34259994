//! The synthetic events the reconciler enqueues for an instance whose real event never reached
//! us (`app.instance.process.completed`, or `app.instance.process.movedTo.{FEEDBACK_TASK}`), and
//! the SQS message that carries one.
//!
//! To the archiver it is indistinguishable from an event the webhook enqueued: a full
//! CloudEvent 1.0 with the `source`, `subject`, `resource` and `resourceinstance` Altinn Events
//! would have written for the instance, so it passes the same strict `source` checks. Two marks
//! tell people where it came from: the CloudEvent extension attribute
//! [`ORIGIN_EXTENSION`]` = "reconciler"` (kept in the archived `events/{id}.json`) and the SQS
//! message attribute `Origin = reconciler`.

use altinn::event::PROCESS_COMPLETED;
use altinn::{AltinnEnvironment, CloudEvent, InstanceRef};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The CloudEvents extension attribute naming who made the event (CloudEvents attribute names
/// are lower-case ASCII letters and digits only, no `-` or `_`).
pub const ORIGIN_EXTENSION: &str = "altinnarchiveorigin";
/// The value of [`ORIGIN_EXTENSION`] and of the `Origin` message attribute.
pub const ORIGIN_RECONCILER: &str = "reconciler";

/// A fresh synthetic `app.instance.process.completed` event for `instance`, timed `now`.
pub fn synthetic_completed_event(
    environment: &AltinnEnvironment,
    instance: &InstanceRef,
    now: OffsetDateTime,
) -> CloudEvent {
    synthetic_event(environment, instance, PROCESS_COMPLETED, now)
}

/// A fresh synthetic `app.instance.process.movedTo.{task}` event for `instance`, timed `now`:
/// what the app publishes when the instance enters `task`.
pub fn synthetic_moved_to_event(
    environment: &AltinnEnvironment,
    instance: &InstanceRef,
    task: &str,
    now: OffsetDateTime,
) -> CloudEvent {
    synthetic_event(
        environment,
        instance,
        &format!("app.instance.process.movedTo.{task}"),
        now,
    )
}

fn synthetic_event(
    environment: &AltinnEnvironment,
    instance: &InstanceRef,
    event_type: &str,
    now: OffsetDateTime,
) -> CloudEvent {
    let source = format!(
        "{}{}/{}/instances/{}",
        environment.apps_url(&instance.org),
        instance.org,
        instance.app,
        instance.instance_id()
    );
    let mut extensions = Map::new();
    extensions.insert(
        ORIGIN_EXTENSION.to_owned(),
        Value::String(ORIGIN_RECONCILER.to_owned()),
    );
    CloudEvent {
        id: Uuid::new_v4().to_string(),
        source,
        specversion: "1.0".to_owned(),
        event_type: event_type.to_owned(),
        subject: Some(format!("/party/{}", instance.party_id)),
        alternativesubject: None,
        // Formatting a UTC time as RFC 3339 cannot fail for years 0–9999.
        time: now.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok(),
        resource: Some(instance.resource()),
        resourceinstance: Some(instance.instance_id()),
        datacontenttype: None,
        dataschema: None,
        data: None,
        extensions,
    }
}

/// One SQS message: the body and the attributes the webhook also sets, plus `Origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticMessage {
    /// The CloudEvent as JSON.
    pub body: String,
    /// `EventType`.
    pub event_type: String,
    /// `EventId`.
    pub event_id: String,
    /// `Instance`: `{org}/{app}/{partyId}/{instanceGuid}`.
    pub instance: String,
}

impl SyntheticMessage {
    /// The message for `event` about `instance`.
    pub fn new(event: &CloudEvent, instance: &InstanceRef) -> Self {
        SyntheticMessage {
            // A struct of strings and a string map always serialises.
            body: serde_json::to_string(event).unwrap_or_default(),
            event_type: event.event_type.clone(),
            event_id: event.id.clone(),
            instance: format!("{}/{}", instance.app_id(), instance.instance_id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use altinn::{Allowlist, EventKind};

    use super::*;

    fn instance() -> InstanceRef {
        InstanceRef {
            org: "ttd".into(),
            app: "archive-demo".into(),
            party_id: 50_019_855,
            instance_guid: "5d9e906b-83ed-44df-85a7-2f104c640bff".parse().unwrap(),
        }
    }

    #[test]
    fn the_synthetic_event_looks_like_altinns_and_passes_the_strict_checks() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let event = synthetic_completed_event(&AltinnEnvironment::Tt02, &instance(), now);
        assert_eq!(
            event.source,
            "https://ttd.apps.tt02.altinn.no/ttd/archive-demo/instances/50019855/5d9e906b-83ed-44df-85a7-2f104c640bff"
        );
        assert_eq!(event.subject.as_deref(), Some("/party/50019855"));
        assert_eq!(event.time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(event.extensions[ORIGIN_EXTENSION], ORIGIN_RECONCILER);

        // Through the webhook's own parser and the archiver's classification.
        let message = SyntheticMessage::new(&event, &instance());
        let parsed = CloudEvent::parse(message.body.as_bytes()).unwrap();
        assert_eq!(parsed, event);
        let allowlist = Allowlist::new(AltinnEnvironment::Tt02, Some("ttd".into()));
        assert_eq!(
            parsed.classify(&allowlist).unwrap(),
            EventKind::AppInstance {
                instance: instance(),
                event_type: PROCESS_COMPLETED.to_owned()
            }
        );
        assert_eq!(
            message.instance,
            "ttd/archive-demo/50019855/5d9e906b-83ed-44df-85a7-2f104c640bff"
        );
        let other = synthetic_completed_event(&AltinnEnvironment::Tt02, &instance(), now);
        assert_ne!(other.id, event.id, "every synthetic event has its own id");
    }

    #[test]
    fn the_synthetic_moved_to_event_names_the_task() {
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let event = synthetic_moved_to_event(&AltinnEnvironment::Tt02, &instance(), "Task_2", now);
        assert_eq!(event.event_type, "app.instance.process.movedTo.Task_2");
        let allowlist = Allowlist::new(AltinnEnvironment::Tt02, Some("ttd".into()));
        let parsed =
            CloudEvent::parse(SyntheticMessage::new(&event, &instance()).body.as_bytes()).unwrap();
        assert_eq!(
            parsed.classify(&allowlist).unwrap(),
            EventKind::AppInstance {
                instance: instance(),
                event_type: "app.instance.process.movedTo.Task_2".to_owned()
            }
        );
    }
}
