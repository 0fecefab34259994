//! The instance's record beyond its data: Storage's instance events and process history, the
//! app's metadata (stored once per distinct content and shared by the app's instances), and
//! what the manifest keeps of Altinn's description of each data element.

use altinn::instance::FileScanResult;
use altinn::{DataElement, InstanceRef};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::Pipeline;
use super::element::altinn_md5;
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::manifest::{ManifestObject, ObjectRole};
use crate::seams::{AltinnSource, ArchiveTarget};
use crate::store::StoredObject;

impl<A: AltinnSource, T: ArchiveTarget> Pipeline<A, T> {
    /// Fetches the instance events, the process history and the app's metadata from Storage
    /// and stores each as Storage sent it, write-once like `instance.json`. The metadata goes
    /// under its own SHA-256, so an app's instances share one object per version of it. Returns
    /// their manifest entries in manifest order.
    pub(super) async fn keep_record(
        &self,
        instance: &InstanceRef,
        deadline: &Deadline,
    ) -> Result<Vec<ManifestObject>, ArchiveError> {
        deadline.check("fetch the instance's history")?;
        let (events, history, metadata) = futures_util::future::try_join3(
            self.altinn.instance_events(instance),
            self.altinn.process_history(instance),
            self.altinn.app_metadata(&instance.org, &instance.app),
        )
        .await?;
        let layout = &self.settings.layout;
        let events = self
            .keep_first(&layout.instance_events(instance)?, events)
            .await?;
        let history = self
            .keep_first(&layout.process_history(instance)?, history)
            .await?;
        let sha256 = hex::encode(Sha256::digest(&metadata));
        let metadata_key = layout.app_metadata(&instance.org, &instance.app, &sha256)?;
        let metadata = self.keep_first(&metadata_key, metadata).await?;
        // The key names the content; an object of ours there with other bytes was changed
        // after it was written, and a manifest must not point to it.
        if metadata.sha256 != sha256 {
            return Err(ArchiveError::permanent(
                FailureReason::ChecksumMismatch,
                format!(
                    "{metadata_key} holds bytes with SHA-256 {}, not the one its name says",
                    metadata.sha256
                ),
            ));
        }
        Ok(vec![
            plain_entry(events, ObjectRole::InstanceEvents),
            plain_entry(history, ObjectRole::ProcessHistory),
            plain_entry(metadata, ObjectRole::AppMetadata),
        ])
    }
}

/// The manifest entry of an object that is not a data element.
pub(super) fn plain_entry(stored: StoredObject, role: ObjectRole) -> ManifestObject {
    ManifestObject::plain(
        stored.key,
        role,
        stored.size,
        stored.sha256,
        stored.content_type,
    )
}

/// The manifest entry of an archived data element, with Altinn's record of it. When Altinn gave
/// a `contentHash` that is a Base64 MD5, the archived bytes must have it: the upload and the
/// reuse check already refuse any other, so a difference here means the object changed under
/// us, and it fails like an MD5 mismatch on upload (never a manifest over it).
pub(super) fn element_entry(
    stored: StoredObject,
    element: &DataElement,
) -> Result<ManifestObject, ArchiveError> {
    let content_hash_verified = match element.content_hash.as_deref() {
        None => None,
        Some(_) => match altinn_md5(element) {
            // Not a Base64 MD5: only the size could be checked.
            None => Some(false),
            Some(md5) if BASE64.encode(md5) == stored.md5 => Some(true),
            Some(_) => {
                return Err(ArchiveError::permanent(
                    FailureReason::ChecksumMismatch,
                    format!(
                        "data element {}: archived MD5 {}, Altinn's contentHash {}",
                        element.id,
                        stored.md5,
                        element.content_hash.as_deref().unwrap_or_default()
                    ),
                ));
            }
        },
    };
    Ok(ManifestObject {
        data_element_id: Some(element.id.clone()),
        data_type: Some(element.data_type.clone()),
        filename: element.filename.clone(),
        file_scan_result: element.file_scan_result,
        content_hash: element.content_hash.clone(),
        content_hash_verified,
        created: element.created.clone(),
        created_by: element.created_by.clone(),
        last_changed: element.last_changed.clone(),
        locked: Some(element.locked),
        // Decided like the key: an `Infected` element was stored under `quarantine/`.
        quarantined: element.file_scan_result == Some(FileScanResult::Infected),
        ..plain_entry(stored, ObjectRole::DataElement)
    })
}

#[cfg(test)]
mod tests {
    use md5::Md5;

    use super::*;

    fn stored(bytes: &[u8]) -> StoredObject {
        StoredObject {
            key: "k".into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
            md5: BASE64.encode(Md5::digest(bytes)),
            content_type: "application/pdf".into(),
            last_changed: None,
        }
    }

    fn element(content_hash: Option<&str>) -> DataElement {
        serde_json::from_value(serde_json::json!({
            "id": "5f0e0000-0000-4000-8000-000000000001",
            "dataType": "attachment",
            "size": 3,
            "contentHash": content_hash,
            "fileScanResult": "Infected",
            "created": "2026-11-01T09:00:00Z",
            "createdBy": "12345",
            "lastChanged": "2026-11-01T09:30:00Z",
            "locked": true,
        }))
        .unwrap()
    }

    #[test]
    fn an_element_entry_carries_altinns_record() {
        let md5 = BASE64.encode(Md5::digest(b"abc"));
        let entry = element_entry(stored(b"abc"), &element(Some(&md5))).unwrap();
        assert_eq!(entry.role, ObjectRole::DataElement);
        assert_eq!(entry.file_scan_result, Some(FileScanResult::Infected));
        assert!(entry.quarantined, "an Infected element is flagged");
        assert_eq!(entry.content_hash.as_deref(), Some(md5.as_str()));
        assert_eq!(entry.content_hash_verified, Some(true));
        assert_eq!(entry.created.as_deref(), Some("2026-11-01T09:00:00Z"));
        assert_eq!(entry.created_by.as_deref(), Some("12345"));
        assert_eq!(entry.last_changed.as_deref(), Some("2026-11-01T09:30:00Z"));
        assert_eq!(entry.locked, Some(true));

        let without = element_entry(stored(b"abc"), &element(None)).unwrap();
        assert_eq!(
            (without.content_hash, without.content_hash_verified),
            (None, None),
            "no contentHash (Storage's usual): nothing to verify"
        );

        let unreadable = element_entry(stored(b"abc"), &element(Some("not-md5"))).unwrap();
        assert_eq!(unreadable.content_hash.as_deref(), Some("not-md5"));
        assert_eq!(unreadable.content_hash_verified, Some(false));
    }

    #[test]
    fn a_content_hash_of_other_bytes_is_a_checksum_mismatch() {
        let other = BASE64.encode(Md5::digest(b"xyz"));
        let error = element_entry(stored(b"abc"), &element(Some(&other))).unwrap_err();
        assert_eq!(error.reason, FailureReason::ChecksumMismatch);
        assert!(!error.is_transient());
    }
}
