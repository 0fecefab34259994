//! [`MemoryAltinn`]'s Correspondence API: details per role, attachment overviews and bytes,
//! the sender's 2016 once a linked correspondence is published, and download faults.

use std::collections::{HashMap, HashSet, VecDeque};

use altinn::ClientError;
use bytes::Bytes;
use futures_util::StreamExt;
use uuid::Uuid;

use super::{DownloadFault, MemoryAltinn, lock};
use crate::error::{ArchiveError, FailureReason};
use crate::seams::{CorrespondenceSource, Download, SenderDownload, details_error};
use altinn::correspondence::{AttachmentOverview, CorrespondenceDetails};
use altinn::{CorrespondenceRole, RawJson};

#[derive(Debug, Default)]
pub(super) struct CorrespondenceState {
    /// Details JSON by (role, correspondence id).
    details: HashMap<(bool, Uuid), serde_json::Value>,
    overviews: HashMap<Uuid, serde_json::Value>,
    attachments: HashMap<Uuid, Bytes>,
    /// Attachments the sender may no longer download (2016).
    blocked: HashSet<Uuid>,
    faults: HashMap<Uuid, VecDeque<DownloadFault>>,
}

fn is_sender(role: CorrespondenceRole) -> bool {
    role == CorrespondenceRole::Sender
}

fn role_name(role: CorrespondenceRole) -> &'static str {
    if is_sender(role) {
        "sender"
    } else {
        "recipient"
    }
}

impl MemoryAltinn {
    /// Sets what a details call of `role` answers for `id` (replacing the last answer).
    pub fn put_details(&self, role: CorrespondenceRole, id: Uuid, json: serde_json::Value) {
        lock(&self.correspondence)
            .details
            .insert((is_sender(role), id), json);
    }

    /// From now on a details call of `role` for `id` answers 404, as for a purged one.
    pub fn forget_details(&self, role: CorrespondenceRole, id: Uuid) {
        lock(&self.correspondence)
            .details
            .remove(&(is_sender(role), id));
    }

    /// Sets an attachment's overview (sender).
    pub fn put_attachment_overview(&self, id: Uuid, json: serde_json::Value) {
        lock(&self.correspondence).overviews.insert(id, json);
    }

    /// Sets an attachment's bytes (both routes).
    pub fn put_attachment(&self, id: Uuid, bytes: impl Into<Bytes>) {
        lock(&self.correspondence)
            .attachments
            .insert(id, bytes.into());
    }

    /// From now on the sender's download of `id` answers 2016.
    pub fn block_sender_download(&self, id: Uuid) {
        lock(&self.correspondence).blocked.insert(id);
    }

    /// The next download of attachment `id` (either route) goes wrong as `fault` says.
    pub fn fault_attachment(&self, id: Uuid, fault: DownloadFault) {
        lock(&self.correspondence)
            .faults
            .entry(id)
            .or_default()
            .push_back(fault);
    }

    fn attachment_download(&self, id: Uuid) -> Result<Download, ArchiveError> {
        let (bytes, fault) = {
            let mut state = lock(&self.correspondence);
            let fault = state.faults.get_mut(&id).and_then(VecDeque::pop_front);
            (state.attachments.get(&id).cloned(), fault)
        };
        let bytes = bytes.ok_or_else(|| not_found("download attachment"))?;
        let chunks: Vec<Result<Bytes, ArchiveError>> = match fault {
            None => vec![Ok(bytes.clone())],
            Some(DownloadFault::Fails(error)) => return Err(error),
            Some(DownloadFault::CutShort) => vec![
                Ok(bytes.slice(..bytes.len() / 2)),
                Err(ArchiveError::transient(
                    FailureReason::AltinnUnreachable,
                    "download attachment: the body was cut short",
                )),
            ],
            Some(DownloadFault::Corrupted) => {
                let mut corrupted = bytes.to_vec();
                if let Some(last) = corrupted.last_mut() {
                    *last ^= 0xff;
                }
                vec![Ok(Bytes::from(corrupted))]
            }
        };
        Ok(Download {
            content_length: Some(bytes.len() as u64),
            body: futures_util::stream::iter(chunks).boxed(),
        })
    }
}

fn not_found(operation: &'static str) -> ArchiveError {
    ArchiveError::from_altinn(&status(operation, 404))
}

fn status(operation: &'static str, status: u16) -> ClientError {
    ClientError::Status {
        operation,
        status,
        transient: false,
        retry_after: None,
        problem: None,
    }
}

fn raw<T: serde::de::DeserializeOwned>(
    json: serde_json::Value,
) -> Result<RawJson<T>, ArchiveError> {
    let raw = Bytes::from(json.to_string());
    let value = serde_json::from_slice(&raw).map_err(|e| {
        ArchiveError::transient(FailureReason::AltinnUnexpectedResponse, e.to_string())
    })?;
    Ok(RawJson { raw, value })
}

impl CorrespondenceSource for MemoryAltinn {
    async fn correspondence_details(
        &self,
        role: CorrespondenceRole,
        correspondence_id: Uuid,
    ) -> Result<RawJson<CorrespondenceDetails>, ArchiveError> {
        self.journal
            .record(format!("details {} {correspondence_id}", role_name(role)));
        let json = lock(&self.correspondence)
            .details
            .get(&(is_sender(role), correspondence_id))
            .cloned();
        match json {
            Some(json) => raw(json),
            None => Err(details_error(
                &status("correspondence_details", 404),
                role,
                correspondence_id,
            )),
        }
    }

    async fn attachment_overview(
        &self,
        attachment_id: Uuid,
    ) -> Result<RawJson<AttachmentOverview>, ArchiveError> {
        self.journal
            .record(format!("attachment_overview {attachment_id}"));
        let json = lock(&self.correspondence)
            .overviews
            .get(&attachment_id)
            .cloned();
        raw(json.ok_or_else(|| not_found("attachment_overview"))?)
    }

    async fn download_sender_attachment(
        &self,
        attachment_id: Uuid,
    ) -> Result<SenderDownload, ArchiveError> {
        self.journal
            .record(format!("download_sender_attachment {attachment_id}"));
        if lock(&self.correspondence).blocked.contains(&attachment_id) {
            return Ok(SenderDownload::NoLongerAccessible {
                detail: "download_sender_attachment: HTTP 400 (error 2016)".into(),
            });
        }
        self.attachment_download(attachment_id)
            .map(SenderDownload::Bytes)
    }

    async fn download_recipient_attachment(
        &self,
        correspondence_id: Uuid,
        attachment_id: Uuid,
    ) -> Result<Download, ArchiveError> {
        self.journal.record(format!(
            "download_recipient_attachment {correspondence_id} {attachment_id}"
        ));
        self.attachment_download(attachment_id)
    }
}
