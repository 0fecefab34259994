//! Where things go in the archive bucket (docs/layout.md has the same picture, with what each
//! object holds). Every key the system writes or lists is built here:
//!
//! ```text
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/instance.json            raw bytes as Altinn sent them
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/events/{eventId}.json     every event that touched it
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/data/{dataGuid}           the element's bytes
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/quarantine/{dataGuid}     an Infected element's bytes (tagged)
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/history/instance-events.json  Storage's instance events
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/history/process-history.json  Storage's process history
//! {prefix}{org}/{app}/_app/metadata-{sha256}.json                         the app's metadata, once per content
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/manifest.json             written last
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/receipt-upload.json       receipt upload claim
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/hand-off.json             InstanceArchived claim
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/reconcile-enqueued.json   reconciler's marker
//! {prefix}{org}/{app}/{partyId}/{instanceGuid}/reconcile-feedback.json   …for the feedback task
//! {prefix}correspondence/{resourceId}/{correspondenceId}/events/{eventId}.json
//! {prefix}correspondence/{resourceId}/{correspondenceId}/details/{fetchedAt}.json   raw, one per fetch
//! {prefix}correspondence/{resourceId}/{correspondenceId}/attachments/{attachmentId}/{fileName or "data"}
//! {prefix}correspondence/{resourceId}/{correspondenceId}/attachments/{attachmentId}/overview.json
//! {prefix}correspondence/{resourceId}/{correspondenceId}/follow-up/{typeSuffix}.json  alert claim
//! {prefix}correspondence/{resourceId}/{correspondenceId}/hand-off/archived-{eventId}.json  hand-off claims
//! {prefix}correspondence/{resourceId}/{correspondenceId}/hand-off/follow-up-{typeSuffix}.json
//! {prefix}correspondence/{resourceId}/{correspondenceId}/manifest.json   rewritten by every event
//! {prefix}correspondence-attachments/{attachmentId}/events/{eventId}.json   sender's attachment events
//! {prefix}correspondence-attachments/{attachmentId}/overview.json       overview + download state
//! {prefix}correspondence-attachments/{attachmentId}/data                the bytes (sender)
//! {prefix}correspondence-notifications/{orderId}/events/{eventId}.json
//! {prefix}events/{eventId}.json                                          any other event
//! {prefix}_quarantine/{org}/{app}/{partyId}/{instanceGuid}/{dataGuid}.json           held for review
//! {prefix}_quarantine/{org}/{app}/{partyId}/{instanceGuid}/{dataGuid}.released.json  a person's release
//! ```
//!
//! Without a correspondence role configured, every Correspondence event is kept under
//! `correspondence/{resourceId}/{resourceinstance}/events/`, whatever the resource instance is.
//!
//! Every component that comes from outside (org, app, event id, data element id, resource,
//! resource instance) is checked before it becomes part of a key: 1 to 128 characters of
//! `A-Z a-z 0-9 . _ -`, and never `.` or `..`. So a key can never climb out of its prefix, carry
//! a `/` it should not, or need URL encoding (which also keeps `CopySource` simple). The keys of
//! the different kinds have different depths, so they cannot collide even if an org were called
//! `events` or `correspondence`. An app's `_app/` folder sits where party folders do, and cannot
//! be one: a party id is digits only.

use altinn::{CorrespondenceRef, InstanceRef};

/// The URN prefix of an Altinn resource id.
const RESOURCE_URN_PREFIX: &str = "urn:altinn:resource:";
/// Longest component we accept (GUIDs are 36, Altinn app names are short).
const MAX_COMPONENT_LEN: usize = 128;

/// The name of a correspondence's manifest (and of an instance's).
pub const MANIFEST_NAME: &str = "manifest.json";
/// The name of an attachment's overview record.
pub const ATTACHMENT_OVERVIEW_NAME: &str = "overview.json";
/// The object name of an attachment's bytes when its file name cannot be a key component.
pub const ATTACHMENT_DATA_NAME: &str = "data";
/// The folder of a correspondence's follow-up alert claims (not part of its manifest).
pub const FOLLOW_UP_FOLDER: &str = "follow-up/";
/// The folder of a correspondence's hand-off event claims (not part of its manifest).
pub const HAND_OFF_FOLDER: &str = "hand-off/";
/// The name of the claim that an instance's `InstanceArchived` hand-off event is sent once.
pub const HAND_OFF_CLAIM_NAME: &str = "hand-off.json";

/// The name of the receipt claim object next to an instance's archive.
pub const RECEIPT_CLAIM_NAME: &str = "receipt-upload.json";
/// The name of the reconciler's marker next to an instance's archive.
pub const RECONCILE_MARKER_NAME: &str = "reconcile-enqueued.json";
/// The name of the reconciler's marker for an instance waiting in our feedback task.
pub const RECONCILE_FEEDBACK_MARKER_NAME: &str = "reconcile-feedback.json";

/// The folder of an instance's history as Storage tells it (instance events, process history).
pub const HISTORY_FOLDER: &str = "history/";
/// The name of an instance's instance events, under [`HISTORY_FOLDER`].
pub const INSTANCE_EVENTS_NAME: &str = "instance-events.json";
/// The name of an instance's process history, under [`HISTORY_FOLDER`].
pub const PROCESS_HISTORY_NAME: &str = "process-history.json";
/// The folder of an instance's `Infected` elements (instead of `data/`).
pub const QUARANTINE_FOLDER: &str = "quarantine/";
/// The top-level folder of the review records of held instances. Its keys are one level deeper
/// than an instance's (and hold a GUID where an instance key has a party id), so they cannot
/// collide with an org called `_quarantine`.
pub const QUARANTINE_REVIEWS_FOLDER: &str = "_quarantine/";
/// The suffix of a release marker next to its review record.
pub const QUARANTINE_RELEASE_SUFFIX: &str = ".released.json";

/// The folder, next to an app's party folders, of what belongs to the app rather than to one
/// instance. Not digits, so never a party id.
pub const APP_FOLDER: &str = "_app/";

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

    /// `…/hand-off.json`: the claim that the instance's `InstanceArchived` event is put on the
    /// hand-off bus once; not part of the archive and not listed in the manifest.
    pub fn instance_hand_off_claim(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!(
            "{}{HAND_OFF_CLAIM_NAME}",
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

    /// `…/quarantine/`: the folder of an instance's `Infected` elements.
    pub fn quarantine_prefix(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!(
            "{}{QUARANTINE_FOLDER}",
            self.instance_prefix(instance)?
        ))
    }

    /// `…/quarantine/{dataId}`: an `Infected` element's bytes, in place of `data/{dataId}`.
    pub fn quarantined_element(
        &self,
        instance: &InstanceRef,
        data_id: &str,
    ) -> Result<String, KeyError> {
        check_component("data element id", data_id)?;
        Ok(format!("{}{data_id}", self.quarantine_prefix(instance)?))
    }

    /// `{prefix}_quarantine/`: every review record and release marker, for listing.
    pub fn quarantine_reviews_prefix(&self) -> String {
        format!("{}{QUARANTINE_REVIEWS_FOLDER}", self.prefix)
    }

    /// `{prefix}_quarantine/{org}/{app}/{partyId}/{instanceGuid}/`.
    fn quarantine_review_folder(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        check_component("org", &instance.org)?;
        check_component("app", &instance.app)?;
        Ok(format!(
            "{}{}/{}/{}/{}/",
            self.quarantine_reviews_prefix(),
            instance.org,
            instance.app,
            instance.party_id,
            instance.instance_guid
        ))
    }

    /// `{prefix}_quarantine/{org}/{app}/{partyId}/{instanceGuid}/{dataId}.json`: the review
    /// record of an `Infected` element held under `INFECTED_POLICY=hold`.
    pub fn quarantine_review(
        &self,
        instance: &InstanceRef,
        data_id: &str,
    ) -> Result<String, KeyError> {
        check_component("data element id", data_id)?;
        Ok(format!(
            "{}{data_id}.json",
            self.quarantine_review_folder(instance)?
        ))
    }

    /// `{prefix}_quarantine/{org}/{app}/{partyId}/{instanceGuid}/{dataId}.released.json`: a
    /// person's decision that the held element may be archived (written by `archive-ops`).
    pub fn quarantine_release(
        &self,
        instance: &InstanceRef,
        data_id: &str,
    ) -> Result<String, KeyError> {
        check_component("data element id", data_id)?;
        Ok(format!(
            "{}{data_id}{QUARANTINE_RELEASE_SUFFIX}",
            self.quarantine_review_folder(instance)?
        ))
    }

    /// `…/history/instance-events.json`: Storage's instance events, as Storage sent them.
    pub fn instance_events(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!(
            "{}{HISTORY_FOLDER}{INSTANCE_EVENTS_NAME}",
            self.instance_prefix(instance)?
        ))
    }

    /// `…/history/process-history.json`: Storage's process history, as Storage sent it.
    pub fn process_history(&self, instance: &InstanceRef) -> Result<String, KeyError> {
        Ok(format!(
            "{}{HISTORY_FOLDER}{PROCESS_HISTORY_NAME}",
            self.instance_prefix(instance)?
        ))
    }

    /// `{prefix}{org}/{app}/_app/metadata-{sha256}.json`: the app's metadata as Storage sent
    /// it, named by the SHA-256 of those bytes, so every distinct version is stored once and
    /// shared by the manifests of all instances archived while it was current. `sha256` must
    /// be 64 lower-case hex digits.
    pub fn app_metadata(&self, org: &str, app: &str, sha256: &str) -> Result<String, KeyError> {
        check_component("org", org)?;
        check_component("app", app)?;
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(KeyError {
                what: "metadata SHA-256",
                reason: "not 64 lower-case hex digits",
            });
        }
        Ok(format!(
            "{}{org}/{app}/{APP_FOLDER}metadata-{sha256}.json",
            self.prefix
        ))
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

    /// `{prefix}correspondence/{resourceId}/{correspondenceId}/`: everything archived about one
    /// correspondence. `resource_id` is without the `urn:altinn:resource:` prefix.
    pub fn correspondence_prefix(
        &self,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<String, KeyError> {
        check_component("resource id", resource_id)?;
        check_component("correspondence id", correspondence_id)?;
        Ok(format!(
            "{}correspondence/{resource_id}/{correspondence_id}/",
            self.prefix
        ))
    }

    /// `…/events/{eventId}.json` under a correspondence.
    pub fn correspondence_event_under(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}events/{event_id}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/details/` under a correspondence: every details answer archived for it.
    pub fn correspondence_details_prefix(
        &self,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<String, KeyError> {
        Ok(format!(
            "{}details/",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/details/{fetchedAt}.json`: one details answer as Altinn sent it. `fetched_at` is
    /// [`fetched_at`]'s form, so the keys sort by time.
    pub fn correspondence_details(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        fetched_at: &str,
    ) -> Result<String, KeyError> {
        check_component("fetchedAt", fetched_at)?;
        Ok(format!(
            "{}{fetched_at}.json",
            self.correspondence_details_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/attachments/{attachmentId}/`: one attachment of a correspondence.
    pub fn correspondence_attachment_prefix(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        attachment_id: &str,
    ) -> Result<String, KeyError> {
        check_component("attachment id", attachment_id)?;
        Ok(format!(
            "{}attachments/{attachment_id}/",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/attachments/{attachmentId}/{fileName}`, or `…/data` when the file name cannot be a
    /// key component (the manifest keeps the real name).
    pub fn correspondence_attachment(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        attachment_id: &str,
        file_name: Option<&str>,
    ) -> Result<String, KeyError> {
        let name = file_name
            .filter(|name| {
                check_component("file name", name).is_ok() && *name != ATTACHMENT_OVERVIEW_NAME
            })
            .unwrap_or(ATTACHMENT_DATA_NAME);
        Ok(format!(
            "{}{name}",
            self.correspondence_attachment_prefix(resource_id, correspondence_id, attachment_id)?
        ))
    }

    /// `…/attachments/{attachmentId}/overview.json` under a correspondence (sender: the
    /// attachment's overview record, linked from `correspondenceIds`).
    pub fn correspondence_attachment_overview(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        attachment_id: &str,
    ) -> Result<String, KeyError> {
        Ok(format!(
            "{}{ATTACHMENT_OVERVIEW_NAME}",
            self.correspondence_attachment_prefix(resource_id, correspondence_id, attachment_id)?
        ))
    }

    /// `…/follow-up/{typeSuffix}.json`: the claim that one follow-up alert per
    /// (correspondence, event type) is sent; not part of the manifest.
    pub fn follow_up_claim(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        type_suffix: &str,
    ) -> Result<String, KeyError> {
        check_component("event type", type_suffix)?;
        Ok(format!(
            "{}{FOLLOW_UP_FOLDER}{type_suffix}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/hand-off/archived-{eventId}.json`: the claim that the `CorrespondenceArchived`
    /// event for one Correspondence event is put on the hand-off bus once; not part of the
    /// manifest.
    pub fn correspondence_hand_off_claim(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}{HAND_OFF_FOLDER}archived-{event_id}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/hand-off/follow-up-{typeSuffix}.json`: the claim that one
    /// `CorrespondenceNeedsFollowUp` event per (correspondence, event type) is put on the
    /// hand-off bus; not part of the manifest.
    pub fn follow_up_hand_off_claim(
        &self,
        resource_id: &str,
        correspondence_id: &str,
        type_suffix: &str,
    ) -> Result<String, KeyError> {
        check_component("event type", type_suffix)?;
        Ok(format!(
            "{}{HAND_OFF_FOLDER}follow-up-{type_suffix}.json",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `…/manifest.json` of a correspondence.
    pub fn correspondence_manifest(
        &self,
        resource_id: &str,
        correspondence_id: &str,
    ) -> Result<String, KeyError> {
        Ok(format!(
            "{}{MANIFEST_NAME}",
            self.correspondence_prefix(resource_id, correspondence_id)?
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/`: the sender's record of one
    /// attachment (an attachment can serve several correspondences).
    pub fn attachment_prefix(&self, attachment_id: &str) -> Result<String, KeyError> {
        check_component("attachment id", attachment_id)?;
        Ok(format!(
            "{}correspondence-attachments/{attachment_id}/",
            self.prefix
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/events/{eventId}.json`.
    pub fn attachment_event(
        &self,
        attachment_id: &str,
        event_id: &str,
    ) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!(
            "{}events/{event_id}.json",
            self.attachment_prefix(attachment_id)?
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/overview.json`.
    pub fn attachment_overview(&self, attachment_id: &str) -> Result<String, KeyError> {
        Ok(format!(
            "{}{ATTACHMENT_OVERVIEW_NAME}",
            self.attachment_prefix(attachment_id)?
        ))
    }

    /// `{prefix}correspondence-attachments/{attachmentId}/data`: the bytes the sender could
    /// still download.
    pub fn attachment_data(&self, attachment_id: &str) -> Result<String, KeyError> {
        Ok(format!(
            "{}{ATTACHMENT_DATA_NAME}",
            self.attachment_prefix(attachment_id)?
        ))
    }

    /// `{prefix}correspondence-notifications/{orderId}/events/{eventId}.json`.
    pub fn notification_event(&self, order_id: &str, event_id: &str) -> Result<String, KeyError> {
        check_component("notification order id", order_id)?;
        check_component("event id", event_id)?;
        Ok(format!(
            "{}correspondence-notifications/{order_id}/events/{event_id}.json",
            self.prefix
        ))
    }

    /// `{prefix}events/{eventId}.json`: events that belong to no instance or correspondence
    /// (subscription validations that reached the queue, generic events).
    pub fn unscoped_event(&self, event_id: &str) -> Result<String, KeyError> {
        check_component("event id", event_id)?;
        Ok(format!("{}events/{event_id}.json", self.prefix))
    }
}

/// A `fetchedAt` key component: UTC with nanoseconds, `20261204T051233.123456789Z`. It sorts
/// as time does and needs no encoding.
pub fn fetched_at(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond()
    )
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
mod tests;
