//! Where things go in the archive bucket (docs/layout.md has the same picture, with what each
//! object holds). Every key the system writes or lists is built here:
//!
//! ```text
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/instance.json            raw bytes as Altinn sent them
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/events/{eventId}.json     every event that touched it
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/data/{dataGuid}           the element's bytes
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/manifest.json             written last
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/receipt-upload.json       receipt upload claim
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/reconcile-enqueued.json   reconciler's marker
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/reconcile-feedback.json   …for the feedback task
//! {prefix}correspondence/{resourceId}/{resourceinstance}/events/{eventId}.json
//! {prefix}events/{eventId}.json                                          any other event
//! ```
//!
//! Every component that comes from outside (org, app, event id, data element id, resource,
//! resource instance) is checked before it becomes part of a key: 1 to 128 characters of
//! `A-Z a-z 0-9 . _ -`, and never `.` or `..`. So a key can never climb out of its prefix, carry
//! a `/` it should not, or need URL encoding (which also keeps `CopySource` simple). The keys of
//! the different kinds have different depths, so they cannot collide even if an org were called
//! `events` or `correspondence`.

use altinn::{CorrespondenceRef, InstanceRef};

/// The URN prefix of an Altinn resource id.
const RESOURCE_URN_PREFIX: &str = "urn:altinn:resource:";
/// Longest component we accept (GUIDs are 36, Altinn app names are short).
const MAX_COMPONENT_LEN: usize = 128;

/// The name of the receipt claim object next to an instance's archive.
pub const RECEIPT_CLAIM_NAME: &str = "receipt-upload.json";
/// The name of the reconciler's marker next to an instance's archive.
pub const RECONCILE_MARKER_NAME: &str = "reconcile-enqueued.json";
/// The name of the reconciler's marker for an instance waiting in our feedback task.
pub const RECONCILE_FEEDBACK_MARKER_NAME: &str = "reconcile-feedback.json";

/// A value that cannot be part of an S3 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} cannot be used in an archive key: {reason}")]
pub struct KeyError {
    /// What the value was (`"event id"`, `"data element id"`, …).
    pub what: &'static str,
    /// Why it was refused (never the value itself, which may be long or hostile).
    pub reason: &'static str,
}

/// Builds archive keys under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLayout {
    prefix: String,
}

impl ArchiveLayout {
    /// A layout under `prefix`, which must already be normalised (see
    /// [`ArchiveLayout::normalise_prefix`]).
    pub fn new(prefix: impl Into<String>) -> Result<Self, String> {
        let prefix = prefix.into();
        let normalised = Self::normalise_prefix(Some(&prefix))?;
        Ok(ArchiveLayout { prefix: normalised })
    }

    /// `""` or `a/b/`: each segment a valid component, a trailing `/` added when missing.
    pub fn normalise_prefix(prefix: Option<&str>) -> Result<String, String> {
        let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
            return Ok(String::new());
        };
        let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
        for segment in trimmed.split('/') {
            check_component("prefix segment", segment).map_err(|e| e.reason.to_owned())?;
        }
        Ok(format!("{trimmed}/"))
    }

    /// The prefix (empty or ending in `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}{org}/{app}/{partyId}/{instanceGuid}/`.
    pub fn instance_prefix(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        check_component("org", &instance.org)?;
        check_component("app", &instance.app)?;
        Ok(format!(
            "{}{}/{}/{}/{}/",
            self.prefix, instance.org, instance.app, instance.party_id, instance.instance_guid
        ))
    }

    /// `…/receipt-upload.json`: the claim of the archiver run that uploads the archive receipt
    /// into the instance, so that two runs never upload it twice; not part of the archive and
    /// not listed in the manifest.
    pub fn receipt_claim(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!(
            "{}{RECEIPT_CLAIM_NAME}",
            self.instance_prefix(instance)?
        ))
    }

    /// `…/reconcile-enqueued.json`: written by the reconciler when it enqueues a synthetic event
    /// for an instance, so later runs count it as pending instead of enqueueing it again; not
    /// part of the archive and not listed in the manifest.
    pub fn reconcile_marker(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!(
            "{}{RECONCILE_MARKER_NAME}",
            self.instance_prefix(instance)?
        ))
    }

    /// `…/reconcile-feedback.json`: like [`ArchiveLayout::reconcile_marker`], for a synthetic
    /// `movedTo` event of an instance waiting in our feedback task. Its own key, so that marker
    /// never holds off the recovery of the same instance's `completed` event later.
    pub fn reconcile_feedback_marker(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!(
            "{}{RECONCILE_FEEDBACK_MARKER_NAME}",
            self.instance_prefix(instance)?
        ))
    }

    /// `…/instance.json`.
    pub fn instance_json(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!("{}instance.json", self.instance_prefix(instance)?))
    }

    /// `…/manifest.json`.
    pub fn manifest(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!("{}manifest.json", self.instance_prefix(instance)?))
    }

    /// `…/data/`: the folder of an instance's data elements (listed to find the ones an earlier
    /// run already stored).
    pub fn data_prefix(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!("{}data/", self.instance_prefix(instance)?))
    }

    /// `…/data/{dataId}`.
    pub fn data_element(&self, instance: &InstanceRef, data_id: &str) -> Result<String, KeyError> {
        check_component("data element id", data_id)?;
        Ok(format!("{}{data_id}", self.data_prefix(instance)?))
    }

    /// `…/events/{eventId}.json` under the instance.
    pub fn instance_event(
        &self,
        instance: &InstanceRef,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}events/{event_id}.json",
            self.instance_prefix(instance)?
        ))
    }

    /// `{prefix}correspondence/{resourceId}/{resourceinstance}/events/`: one correspondence's
    /// (or attachment's, or notification order's) events.
    pub fn correspondence_events_prefix(
        &self,
        correspondence: &CorrespondenceRef,
    ) -> Result<String, KeyError> {
        let resource_id = correspondence
            .resource
            .strip_prefix(RESOURCE_URN_PREFIX)
            .ok_or(KeyError {
                what: "resource",
                reason: "not an urn:altinn:resource: URN",
            })?;
        check_component("resource id", resource_id)?;
        check_component("resource instance", &correspondence.resourceinstance)?;
        Ok(format!(
            "{}correspondence/{resource_id}/{}/events/",
            self.prefix, correspondence.resourceinstance
        ))
    }

    /// `{prefix}correspondence/{resourceId}/{resourceinstance}/events/{eventId}.json`.
    pub fn correspondence_event(
        &self,
        correspondence: &CorrespondenceRef,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}{event_id}.json",
            self.correspondence_events_prefix(correspondence)?
        ))
    }

    /// `{prefix}events/{eventId}.json`: events that belong to no instance or correspondence
    /// (subscription validations that reached the queue, generic events).
    pub fn unscoped_event(&self, event_id: &str) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!("{}events/{event_id}.json", self.prefix))
    }
}

/// Checks one key component: 1..=128 characters of `A-Z a-z 0-9 . _ -`, not `.` or `..`.
pub fn check_component(what: &'static str, value: &str) -> Result<(), KeyError> {
    if value.is_empty() {
        return Err(KeyError {
            what,
            reason: "empty",
        });
    }
    if value.len() > MAX_COMPONENT_LEN {
        return Err(KeyError {
            what,
            reason: "longer than 128 characters",
        });
    }
    if value == "." || value == ".." {
        return Err(KeyError {
            what,
            reason: "a dot segment",
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(KeyError {
            what,
            reason: "only A-Z, a-z, 0-9, '.', '_' and '-' are allowed",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> InstanceRef {
        InstanceRef {
            org: "ttd".into(),
            app: "archive-test".into(),
            party_id: 50_001_234,
            instance_guid: "6f0b5a4e-3c1d-4f5e-9a7b-2c3d4e5f6a7b".parse().unwrap(),
        }
    }

    #[test]
    fn instance_keys_follow_the_design_layout() {
        let layout = ArchiveLayout::new("archive").unwrap();
        let base = "archive/ttd/archive-test/50001234/6f0b5a4e-3c1d-4f5e-9a7b-2c3d4e5f6a7b/";
        assert_eq!(
            layout.instance_json(&instance()).unwrap(),
            format!("{base}instance.json")
        );
        assert_eq!(
            layout.manifest(&instance()).unwrap(),
            format!("{base}manifest.json")
        );
        assert_eq!(
            layout
                .data_element(&instance(), "0b0c0d0e-0000-4000-8000-000000000001")
                .unwrap(),
            format!("{base}data/0b0c0d0e-0000-4000-8000-000000000001")
        );
        assert_eq!(
            layout.data_prefix(&instance()).unwrap(),
            format!("{base}data/")
        );
        assert_eq!(
            layout.instance_event(&instance(), "e-1").unwrap(),
            format!("{base}events/e-1.json")
        );
        assert_eq!(
            layout.receipt_claim(&instance()).unwrap(),
            format!("{base}receipt-upload.json")
        );
        assert_eq!(
            layout.reconcile_marker(&instance()).unwrap(),
            format!("{base}reconcile-enqueued.json")
        );
        assert_eq!(
            layout.reconcile_feedback_marker(&instance()).unwrap(),
            format!("{base}reconcile-feedback.json")
        );
        assert_eq!(
            ArchiveLayout::new("")
                .unwrap()
                .unscoped_event("e-2")
                .unwrap(),
            "events/e-2.json"
        );
    }

    #[test]
    fn correspondence_keys_strip_the_resource_urn() {
        let layout = ArchiveLayout::new("").unwrap();
        let correspondence = CorrespondenceRef {
            resource: "urn:altinn:resource:skd-melding_2024".into(),
            resourceinstance: "1a2b3c4d-0000-4000-8000-000000000000".into(),
        };
        assert_eq!(
            layout.correspondence_event(&correspondence, "ev1").unwrap(),
            "correspondence/skd-melding_2024/1a2b3c4d-0000-4000-8000-000000000000/events/ev1.json"
        );
        let not_urn = CorrespondenceRef {
            resource: "skd".into(),
            ..correspondence.clone()
        };
        assert_eq!(
            layout
                .correspondence_event(&not_urn, "ev1")
                .unwrap_err()
                .what,
            "resource"
        );
        let climbing = CorrespondenceRef {
            resourceinstance: "..".into(),
            ..correspondence
        };
        assert!(layout.correspondence_event(&climbing, "ev1").is_err());
    }

    #[test]
    fn hostile_components_are_refused() {
        let layout = ArchiveLayout::new("").unwrap();
        for bad in ["", ".", "..", "a/b", "a%2Fb", "ä", "a b", &"x".repeat(129)] {
            assert!(
                layout.instance_event(&instance(), bad).is_err(),
                "{bad:?} must be refused"
            );
            assert!(
                layout.data_element(&instance(), bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        let mut foreign = instance();
        foreign.app = "../other".into();
        assert_eq!(layout.manifest(&foreign).unwrap_err().what, "app");
    }

    #[test]
    fn prefixes_are_normalised() {
        assert_eq!(ArchiveLayout::normalise_prefix(None).unwrap(), "");
        assert_eq!(ArchiveLayout::normalise_prefix(Some("")).unwrap(), "");
        assert_eq!(ArchiveLayout::normalise_prefix(Some("a")).unwrap(), "a/");
        assert_eq!(
            ArchiveLayout::normalise_prefix(Some("a/b/")).unwrap(),
            "a/b/"
        );
        assert!(ArchiveLayout::normalise_prefix(Some("/a")).is_err());
        assert!(ArchiveLayout::normalise_prefix(Some("a//b")).is_err());
        assert!(ArchiveLayout::normalise_prefix(Some("a/../b")).is_err());
    }
}
