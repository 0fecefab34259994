//! A correspondence's `manifest.json`, and the attachment overview record.
//!
//! Unlike an instance's manifest, a correspondence's is rewritten by every event: it is built
//! from what is stored under the correspondence (every event, every details answer, every
//! attachment), so a rewrite never drops what an earlier or concurrent run stored. It holds the
//! latest status, the status history merged from every details answer and every event, the
//! notifications with their delivery state, the attachments, and every object with its SHA-256.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The correspondence manifest format version; bump it when a field changes meaning.
pub const CORRESPONDENCE_MANIFEST_VERSION: u32 = 1;

/// Which side of the correspondence we archive it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArchiveRole {
    /// We are the service owner that sent it.
    Sender,
    /// We are the organisation it was sent to.
    Recipient,
}

impl ArchiveRole {
    /// `sender` or `recipient`, as in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveRole::Sender => "sender",
            ArchiveRole::Recipient => "recipient",
        }
    }
}

/// The archive of one correspondence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrespondenceManifest {
    pub version: u32,
    pub correspondence_id: String,
    /// The resource id, without `urn:altinn:resource:`.
    pub resource_id: String,
    pub role: ArchiveRole,
    /// When this manifest was written (RFC 3339, UTC).
    pub written_at: String,
    /// The newest entry of `statusHistory`.
    pub latest_status: Option<StatusRecord>,
    /// Every status seen in any details answer or event, oldest first, each once.
    pub status_history: Vec<StatusRecord>,
    /// The notifications of the newest details answer, with their delivery state.
    #[serde(default)]
    pub notifications: Vec<NotificationRecord>,
    /// The notification events (`…notificationdelivered`, `…notificationfailed`, …), in order.
    #[serde(default)]
    pub notification_events: Vec<EventRecord>,
    /// The attachments, with what became of their bytes.
    #[serde(default)]
    pub attachments: Vec<AttachmentRecord>,
    /// Every archived object under the correspondence (not the manifest or the alert claims).
    pub objects: Vec<CorrespondenceObject>,
}

/// Where a status entry was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StatusSource {
    /// The `status` or `statusHistory` of a details answer.
    Details,
    /// An event whose type implies the status; `statusChanged` is the event's `time`.
    Event,
}

/// One status the correspondence had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRecord {
    /// Altinn's status name (`Published`, `Read`, …), or for events without one in Altinn's
    /// list the event's own name (`ReceiverNeverRead`, `ReceiverNeverConfirmed`, `Purged`).
    pub status: String,
    /// When (as Altinn wrote it).
    pub status_changed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    pub source: StatusSource,
    /// The event's id, for entries seen in an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// One notification of the newest details answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecord {
    /// The Notifications order id (v1) or shipment id (v2), as the details gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_reminder: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `{status, description, lastUpdate}` as Altinn sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_status: Option<serde_json::Value>,
    /// The delivery per channel and recipient, as Altinn sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_status_details: Option<serde_json::Value>,
}

/// An archived event, as the manifest lists the notification events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub event_id: String,
    /// The type suffix after `no.altinn.correspondence.`.
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub key: String,
}

/// What became of an attachment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttachmentState {
    /// Downloaded, its MD5 checked against Altinn's `checksum`, and stored.
    Downloaded,
    /// The sender asked too late: a linked correspondence was published (Altinn's error
    /// 2016), so only the recipient can download it now.
    NoLongerAccessibleToSender,
    /// Known from a details answer or overview, not (yet) downloaded.
    NotDownloaded,
}

/// One attachment of the correspondence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentRecord {
    pub attachment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Altinn's lower-case hex MD5 of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    pub state: AttachmentState,
    /// Where the bytes are, when downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What an archived object under a correspondence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CorrespondenceObjectRole {
    /// `events/{eventId}.json`.
    Event,
    /// `details/{fetchedAt}.json`.
    Details,
    /// `attachments/{attachmentId}/{fileName or "data"}`.
    Attachment,
    /// `attachments/{attachmentId}/overview.json`.
    AttachmentOverview,
    /// Anything else found under the correspondence.
    Other,
}

/// One archived object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrespondenceObject {
    /// The full S3 key.
    pub key: String,
    pub role: CorrespondenceObjectRole,
    pub size: u64,
    /// Lower-case hex SHA-256 of the object's bytes.
    pub sha256: String,
}

/// Our record of one attachment, as the sender saw it: stored at
/// `correspondence-attachments/{attachmentId}/overview.json`, and under each linked
/// correspondence at `attachments/{attachmentId}/overview.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentOverviewRecord {
    pub version: u32,
    pub attachment_id: String,
    /// When the overview was fetched (RFC 3339, UTC).
    pub fetched_at: String,
    /// The attachment overview exactly as Altinn sent it (parsed).
    pub overview: serde_json::Value,
    pub state: AttachmentState,
    /// The stored bytes, when downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<StoredBytes>,
    /// Why the bytes are not there (Altinn's answer), when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where downloaded bytes are, and their digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredBytes {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    /// Lower-case hex MD5, as Altinn's `checksum`.
    pub md5: String,
}

/// The status an event's type implies, by its suffix after `no.altinn.correspondence.`:
/// `None` for events that say nothing about the correspondence's status (attachments,
/// notifications).
pub fn event_status(type_suffix: &str) -> Option<&'static str> {
    Some(match type_suffix {
        "correspondenceinitialized" => "Initialized",
        "correspondencepublished" => "Published",
        "correspondencepublishfailed" => "Failed",
        "correspondencereceiverread" => "Read",
        "correspondencereceiverconfirmed" => "Confirmed",
        "correspondencereceiverreplied" => "Replied",
        "correspondencereceiverreserved" => "Reserved",
        "correspondencearchived" => "Archived",
        // The event does not say whether the recipient or Altinn purged it.
        "correspondencepurged" => "Purged",
        // Not statuses in Altinn: its due-date job found no Read or Confirmed in time.
        "correspondencereceiverneverread" => "ReceiverNeverRead",
        "correspondencereceiverneverconfirmed" => "ReceiverNeverConfirmed",
        _ => return None,
    })
}

/// True for the notification events of a correspondence (`correspondencenotification…`).
pub fn is_notification_event(type_suffix: &str) -> bool {
    type_suffix.starts_with("correspondencenotification")
}

/// Merges status entries: each (status, statusChanged, statusText) once (the first seen
/// wins, so pass details entries before event entries), ordered by time; entries whose time
/// cannot be read keep their place after the readable ones.
pub fn merge_statuses(entries: impl IntoIterator<Item = StatusRecord>) -> Vec<StatusRecord> {
    let mut seen = HashSet::new();
    let mut merged: Vec<StatusRecord> = entries
        .into_iter()
        .filter(|entry| {
            seen.insert((
                entry.status.clone(),
                entry.status_changed.clone(),
                entry.status_text.clone(),
            ))
        })
        .collect();
    merged.sort_by(|a, b| compare_times(&a.status_changed, &b.status_changed));
    merged
}

/// Orders RFC 3339 times by the instant they name (Altinn writes several precisions and
/// offsets); unreadable ones last, in text order.
pub fn compare_times(a: &str, b: &str) -> Ordering {
    let parse = |text: &str| OffsetDateTime::parse(text, &Rfc3339).ok();
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

impl CorrespondenceManifest {
    /// The manifest as pretty JSON (it is read by people as well as tools).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing strings, numbers and JSON values cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

impl AttachmentOverviewRecord {
    /// The record as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str, at: &str, text: Option<&str>, source: StatusSource) -> StatusRecord {
        StatusRecord {
            status: status.into(),
            status_changed: at.into(),
            status_text: text.map(Into::into),
            source,
            event_id: None,
        }
    }

    #[test]
    fn statuses_are_merged_once_each_in_time_order() {
        let details = StatusSource::Details;
        let merged = merge_statuses([
            entry("Read", "2026-12-04T05:00:02+01:00", None, details),
            entry("Published", "2026-12-04T04:00:00.5Z", Some("p"), details),
            entry(
                "Published",
                "2026-12-04T04:00:00.5Z",
                Some("p"),
                StatusSource::Event,
            ),
            entry(
                "Published",
                "2026-12-04T04:00:00.5Z",
                Some("other"),
                details,
            ),
            entry("Fetched", "2026-12-04T04:00:01Z", None, details),
            entry("Odd", "yesterday", None, details),
        ]);
        let order: Vec<(&str, StatusSource)> = merged
            .iter()
            .map(|e| (e.status.as_str(), e.source))
            .collect();
        assert_eq!(
            order,
            vec![
                ("Published", details),
                ("Published", details),
                ("Fetched", details),
                ("Read", details),
                ("Odd", details),
            ]
        );
    }

    #[test]
    fn event_types_imply_their_statuses() {
        assert_eq!(event_status("correspondencereceiverread"), Some("Read"));
        assert_eq!(
            event_status("correspondencereceiverconfirmed"),
            Some("Confirmed")
        );
        assert_eq!(event_status("correspondencepurged"), Some("Purged"));
        assert_eq!(event_status("correspondencepublishfailed"), Some("Failed"));
        assert_eq!(
            event_status("correspondencereceiverneverread"),
            Some("ReceiverNeverRead")
        );
        assert_eq!(event_status("correspondencenotificationdelivered"), None);
        assert_eq!(event_status("attachmentpublished"), None);
        assert!(is_notification_event("correspondencenotificationallfailed"));
        assert!(!is_notification_event("notificationcreated"));
    }

    #[test]
    fn the_manifest_is_camel_case_json() {
        let manifest = CorrespondenceManifest {
            version: CORRESPONDENCE_MANIFEST_VERSION,
            correspondence_id: "c".into(),
            resource_id: "letters".into(),
            role: ArchiveRole::Recipient,
            written_at: "2026-12-04T05:00:00Z".into(),
            latest_status: None,
            status_history: vec![],
            notifications: vec![],
            notification_events: vec![],
            attachments: vec![AttachmentRecord {
                attachment_id: "a".into(),
                file_name: Some("brev.pdf".into()),
                checksum: Some("00".into()),
                state: AttachmentState::NoLongerAccessibleToSender,
                key: None,
                size: None,
                sha256: None,
            }],
            objects: vec![],
        };
        let json: serde_json::Value = serde_json::from_slice(&manifest.to_json()).unwrap();
        assert_eq!(json["role"], "recipient");
        assert_eq!(json["correspondenceId"], "c");
        assert_eq!(
            json["attachments"][0]["state"],
            "noLongerAccessibleToSender"
        );
        let back: CorrespondenceManifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, manifest);
    }
}
