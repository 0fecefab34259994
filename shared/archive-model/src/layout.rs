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

use altinn::InstanceRef;

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

mod correspondence;
#[cfg(test)]
mod tests;
