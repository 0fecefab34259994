//! The JSON of Correspondence's details and attachment overview, as its API writes them
//! (`CorrespondenceDetailsExt`, `AttachmentOverviewExt`). Only what the archive reads is typed;
//! unknown fields are ignored here and kept in the raw bytes.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A JSON answer kept as the exact bytes Altinn sent (what the archive stores), with its
/// parsed view (what the archive decides by).
#[derive(Debug, Clone)]
pub struct RawJson<T> {
    pub raw: Bytes,
    pub value: T,
}

/// `GET …/correspondence/{id}/details`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrespondenceDetails {
    pub correspondence_id: Uuid,
    pub resource_id: String,
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub recipient: Option<String>,
    #[serde(default)]
    pub senders_reference: Option<String>,
    /// The latest status, e.g. `Published`, `Read`, `Confirmed`.
    pub status: String,
    #[serde(default)]
    pub status_text: Option<String>,
    #[serde(default)]
    pub status_changed: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    /// Empty (title, summary, body and attachments blank) for a sender once published.
    #[serde(default)]
    pub content: Option<CorrespondenceContent>,
    /// In time order; a sender's leaves out `Archived` and the two purge statuses.
    #[serde(default)]
    pub status_history: Vec<StatusEntry>,
    #[serde(default)]
    pub notifications: Vec<NotificationDetails>,
}

/// The statuses that mean a correspondence has been published (it went out to the recipient).
const PUBLISHED_OR_LATER: &[&str] = &[
    "Published",
    "Fetched",
    "Read",
    "Replied",
    "Confirmed",
    "PurgedByRecipient",
    "PurgedByAltinn",
    "Archived",
    "AttachmentsDownloaded",
    "Forwarded",
];

impl CorrespondenceDetails {
    /// True when the correspondence has been published: from then on its sender can no longer
    /// read its content or attachments.
    pub fn is_published(&self) -> bool {
        self.published.is_some()
            || std::iter::once(self.status.as_str())
                .chain(
                    self.status_history
                        .iter()
                        .map(|entry| entry.status.as_str()),
                )
                .any(|status| PUBLISHED_OR_LATER.contains(&status))
    }

    /// The attachments listed in the content (none for a sender once published).
    pub fn attachments(&self) -> &[CorrespondenceAttachment] {
        self.content
            .as_ref()
            .map(|content| content.attachments.as_slice())
            .unwrap_or_default()
    }
}

/// `content` of the details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrespondenceContent {
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub message_title: Option<String>,
    #[serde(default)]
    pub message_summary: Option<String>,
    #[serde(default)]
    pub message_body: Option<String>,
    #[serde(default)]
    pub attachments: Vec<CorrespondenceAttachment>,
}

/// One attachment in a correspondence's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrespondenceAttachment {
    /// The attachment id (`attachmentId` in some versions of the model).
    #[serde(alias = "attachmentId")]
    pub id: Uuid,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Lowercase hex MD5 of the bytes (not Storage's Base64 `contentHash`).
    #[serde(default)]
    pub checksum: Option<String>,
    /// The MIME type derived from the file name.
    #[serde(default)]
    pub data_type: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// One entry of a status history.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEntry {
    pub status: String,
    #[serde(default)]
    pub status_text: Option<String>,
    pub status_changed: String,
}

/// One notification in the details (the overview has only the order id and `isReminder`).
/// The delivery state is kept as Altinn wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationDetails {
    /// The Notifications order id (v1 notifications) or shipment id (v2). The details carry no
    /// separate `notificationOrderId`; only the overview does.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub is_reminder: Option<bool>,
    #[serde(default)]
    pub notification_channel: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    /// `{status, description, lastUpdate}`.
    #[serde(default)]
    pub processing_status: Option<serde_json::Value>,
    /// `{email, sms, emails[], smses[]}`, each with its `sendStatus`.
    #[serde(default)]
    pub notification_status_details: Option<serde_json::Value>,
}

/// `GET …/attachment/{id}` (sender).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentOverview {
    pub attachment_id: Uuid,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
    /// Lowercase hex MD5 of the bytes.
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_changed: Option<String>,
    /// Every correspondence the attachment is part of.
    #[serde(default)]
    pub correspondence_ids: Vec<Uuid>,
    #[serde(default)]
    pub data_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_as_correspondence_writes_them() {
        let json = r#"{
            "correspondenceId": "6f7e5a52-1c61-4a41-9e50-3c1a0d9b1f10",
            "resourceId": "corr-a",
            "sender": "urn:altinn:organization:identifier-no:991825827",
            "recipient": "urn:altinn:organization:identifier-no:910000001",
            "status": "Read", "statusText": "Read", "statusChanged": "2026-12-01T10:00:00+00:00",
            "published": "2026-12-01T09:00:00+00:00",
            "isConfirmationNeeded": false, "propertyList": {}, "futureField": [1],
            "content": {"language": "nb", "messageTitle": "T", "messageSummary": "S",
                "messageBody": "B", "attachments": [{"id": "0b5b7c38-3b1e-4c8b-9d0e-2f3a4b5c6d7e",
                "fileName": "a.pdf", "checksum": "9e107d9d372bb6826bd81d3542a419d6",
                "dataType": "application/pdf", "status": "Published", "isEncrypted": false}]},
            "statusHistory": [
                {"status": "Published", "statusText": "Published", "statusChanged": "2026-12-01T09:00:00+00:00"},
                {"status": "Read", "statusText": "Read", "statusChanged": "2026-12-01T10:00:00+00:00"}],
            "notifications": [{"id": "3c4d5e6f-0000-4000-8000-000000000001",
                "isReminder": false, "notificationChannel": "Email",
                "processingStatus": {"status": "Completed"}}]
        }"#;
        let details: CorrespondenceDetails = serde_json::from_str(json).unwrap();
        assert!(details.is_published());
        assert_eq!(details.attachments().len(), 1);
        assert_eq!(
            details.attachments()[0].checksum.as_deref(),
            Some("9e107d9d372bb6826bd81d3542a419d6")
        );
        assert_eq!(details.status_history.len(), 2);
        assert_eq!(
            details.notifications[0].id.as_deref(),
            Some("3c4d5e6f-0000-4000-8000-000000000001")
        );

        let minimal: CorrespondenceDetails = serde_json::from_str(
            r#"{"correspondenceId": "6f7e5a52-1c61-4a41-9e50-3c1a0d9b1f10",
                "resourceId": "corr-a", "status": "Initialized", "content": null}"#,
        )
        .unwrap();
        assert!(!minimal.is_published());
        assert!(minimal.attachments().is_empty());
    }

    #[test]
    fn attachment_overview_lists_its_correspondences() {
        let overview: AttachmentOverview = serde_json::from_str(
            r#"{"attachmentId": "0b5b7c38-3b1e-4c8b-9d0e-2f3a4b5c6d7e", "status": "Published",
                "checksum": "9e107d9d372bb6826bd81d3542a419d6", "isEncrypted": false,
                "correspondenceIds": ["6f7e5a52-1c61-4a41-9e50-3c1a0d9b1f10"]}"#,
        )
        .unwrap();
        assert_eq!(overview.correspondence_ids.len(), 1);
    }
}
