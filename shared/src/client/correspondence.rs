//! The Correspondence API, read-only: a correspondence's details and its attachments, as the
//! sender or as the recipient ([Altinn Correspondence](https://github.com/Altinn/altinn-correspondence)).
//!
//! Each call carries the token of its role only ([`ScopeSet::CorrespondenceSender`] or
//! [`ScopeSet::CorrespondenceRecipient`]), and the optional subscription key. There is no method
//! for `/content`, `markasread` or `confirm`: those change the correspondence's state (`Read`,
//! `Confirmed`) and tell the sender, which an archive must never do. The details call still
//! leaves a `Fetched` status when made as the recipient, and a recipient's attachment download an
//! `AttachmentsDownloaded` status; both are visible to the sender.

use uuid::Uuid;

use super::transport::{Call, parse_json};
use super::{AltinnClient, ClientError, DataStream};
use crate::auth::ScopeSet;
use crate::correspondence::{
    AttachmentOverview, CorrespondenceDetails, CorrespondenceRole, RawJson,
};

/// The token scope set of each role.
fn scopes_of(role: CorrespondenceRole) -> ScopeSet {
    match role {
        CorrespondenceRole::Sender => ScopeSet::CorrespondenceSender,
        CorrespondenceRole::Recipient => ScopeSet::CorrespondenceRecipient,
    }
}

impl AltinnClient {
    /// `GET {platform}correspondence/api/v1/correspondence/{id}/details`, as `role`, its bytes
    /// kept. As the recipient this records a `Fetched` status.
    pub async fn correspondence_details(
        &self,
        role: CorrespondenceRole,
        correspondence_id: Uuid,
    ) -> Result<RawJson<CorrespondenceDetails>, ClientError> {
        const OPERATION: &str = "correspondence_details";
        let id = correspondence_id.to_string();
        let url = self.correspondence_url(OPERATION, &["correspondence", &id, "details"])?;
        let raw = self
            .buffered_as(Call::get(OPERATION, url), scopes_of(role))
            .await?;
        let value: CorrespondenceDetails = parse_json(OPERATION, &raw)?;
        if value.correspondence_id != correspondence_id {
            return Err(ClientError::Decode {
                operation: OPERATION,
                reason: "the details are of another correspondence".into(),
            });
        }
        Ok(RawJson { raw, value })
    }

    /// `GET {platform}correspondence/api/v1/attachment/{id}` as the sender: the attachment's
    /// overview, with its checksum and the correspondences it belongs to.
    pub async fn attachment_overview(
        &self,
        attachment_id: Uuid,
    ) -> Result<RawJson<AttachmentOverview>, ClientError> {
        const OPERATION: &str = "attachment_overview";
        let id = attachment_id.to_string();
        let url = self.correspondence_url(OPERATION, &["attachment", &id])?;
        let raw = self
            .buffered_as(Call::get(OPERATION, url), ScopeSet::CorrespondenceSender)
            .await?;
        let value: AttachmentOverview = parse_json(OPERATION, &raw)?;
        if value.attachment_id != attachment_id {
            return Err(ClientError::Decode {
                operation: OPERATION,
                reason: "the overview is of another attachment".into(),
            });
        }
        Ok(RawJson { raw, value })
    }

    /// `GET {platform}correspondence/api/v1/attachment/{id}/download` as the sender, streamed.
    /// Refused with 400 and [`ClientError::error_code`] 2016 once a correspondence it belongs to
    /// is published.
    pub async fn download_sender_attachment(
        &self,
        attachment_id: Uuid,
    ) -> Result<DataStream, ClientError> {
        const OPERATION: &str = "download_sender_attachment";
        let id = attachment_id.to_string();
        let url = self.correspondence_url(OPERATION, &["attachment", &id, "download"])?;
        self.streamed_as(
            OPERATION,
            Call::get(OPERATION, url),
            ScopeSet::CorrespondenceSender,
        )
        .await
    }

    /// `GET {platform}correspondence/api/v1/correspondence/{id}/attachment/{attachmentId}/download`
    /// as the recipient, streamed. Records `AttachmentsDownloaded` on the correspondence.
    pub async fn download_recipient_attachment(
        &self,
        correspondence_id: Uuid,
        attachment_id: Uuid,
    ) -> Result<DataStream, ClientError> {
        const OPERATION: &str = "download_recipient_attachment";
        let correspondence = correspondence_id.to_string();
        let attachment = attachment_id.to_string();
        let url = self.correspondence_url(
            OPERATION,
            &[
                "correspondence",
                &correspondence,
                "attachment",
                &attachment,
                "download",
            ],
        )?;
        self.streamed_as(
            OPERATION,
            Call::get(OPERATION, url),
            ScopeSet::CorrespondenceRecipient,
        )
        .await
    }

    /// `{platform}correspondence/api/v1/` + segments.
    fn correspondence_url(
        &self,
        operation: &'static str,
        segments: &[&str],
    ) -> Result<url::Url, ClientError> {
        let mut all = vec!["correspondence", "api", "v1"];
        all.extend_from_slice(segments);
        self.platform_url(operation, &all)
    }
}
