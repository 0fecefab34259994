//! `manifest.json`: the last object written for an instance. Its presence means "this archive
//! is complete"; it lists every object with its size and SHA-256 so the archive can be verified
//! without asking Altinn again.

use altinn::instance::FileScanResult;
use serde::{Deserialize, Serialize};

/// The manifest format version; bump it when a field changes meaning. Version 2 added the
/// instance's history, the app's metadata and each data element's record from Altinn
/// (`fileScanResult`, `contentHash`, `created`, `lastChanged`, `locked`).
pub const MANIFEST_VERSION: u32 = 2;

/// The archive of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub manifest_version: u32,
    /// Altinn's instance id, `{partyId}/{instanceGuid}`.
    pub instance_id: String,
    /// `{org}/{app}`.
    pub app_id: String,
    /// When this manifest was written (RFC 3339, UTC).
    pub archived_at: String,
    /// The event that caused the archive.
    pub event_id: String,
    pub event_type: String,
    /// `instance.json`, the event, the instance events, the process history, the app's
    /// metadata, then the data elements in the instance's order.
    pub objects: Vec<ManifestObject>,
    /// Data elements deliberately not archived (hard-deleted ones), so a reader can tell
    /// "skipped" from "lost".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_data_elements: Vec<SkippedDataElement>,
}

/// What an archived object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectRole {
    /// `instance.json`.
    Instance,
    /// `events/{eventId}.json`.
    Event,
    /// `data/{dataGuid}`.
    DataElement,
    /// `history/instance-events.json`: Storage's instance events.
    InstanceEvents,
    /// `history/process-history.json`: Storage's process history.
    ProcessHistory,
    /// `{org}/{app}/_app/metadata-{sha256}.json`: the app's metadata, shared by the instances
    /// archived while it was current.
    AppMetadata,
}

/// One archived object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestObject {
    /// The full S3 key.
    pub key: String,
    pub role: ObjectRole,
    pub size: u64,
    /// Lower-case hex SHA-256 of the object's bytes.
    pub sha256: String,
    pub content_type: String,
    /// The data element's id (data elements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_element_id: Option<String>,
    /// The data element's `dataType` (data elements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// The data element's filename as Altinn has it (UTF-8, unencoded), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The data element's malware scan result in Altinn when it was archived (data elements
    /// only, when Altinn gave one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_scan_result: Option<FileScanResult>,
    /// Altinn's `contentHash` of the element, as Altinn wrote it (Base64 MD5), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// With `contentHash`: `true` when it is the MD5 of the archived bytes, `false` when it is
    /// not a Base64 MD5 and could not be checked. An MD5 that differs is never archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash_verified: Option<bool>,
    /// The data element's `created` in Altinn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The data element's `createdBy` in Altinn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// The data element's `lastChanged` in Altinn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<String>,
    /// The data element's `locked` in Altinn (data elements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// True for an `Infected` element: its bytes are under the instance's `quarantine/`, not
    /// `data/`, tagged `altinn-file-scan=Infected`. Left out when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quarantined: bool,
}

impl ManifestObject {
    /// An entry for a stored object that is not a data element (the element fields empty).
    pub fn plain(
        key: String,
        role: ObjectRole,
        size: u64,
        sha256: String,
        content_type: String,
    ) -> Self {
        ManifestObject {
            key,
            role,
            size,
            sha256,
            content_type,
            data_element_id: None,
            data_type: None,
            filename: None,
            file_scan_result: None,
            content_hash: None,
            content_hash_verified: None,
            created: None,
            created_by: None,
            last_changed: None,
            locked: None,
            quarantined: false,
        }
    }
}

/// A data element that was not archived, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedDataElement {
    pub data_element_id: String,
    pub data_type: String,
    /// `"hardDeleted"`.
    pub reason: String,
}

impl Manifest {
    /// The manifest as pretty JSON (it is read by people as well as tools).
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The data-element entries.
    pub fn data_elements(&self) -> impl Iterator<Item = &ManifestObject> {
        self.objects
            .iter()
            .filter(|o| o.role == ObjectRole::DataElement)
    }

    /// The entry of the app's metadata, when the manifest has one (from version 2).
    pub fn app_metadata(&self) -> Option<&ManifestObject> {
        self.objects
            .iter()
            .find(|o| o.role == ObjectRole::AppMetadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_with_camel_case_fields() {
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            instance_id: "1/2".into(),
            app_id: "ttd/app".into(),
            archived_at: "2026-01-01T00:00:00Z".into(),
            event_id: "e".into(),
            event_type: "app.instance.process.completed".into(),
            objects: vec![
                ManifestObject::plain(
                    "m".into(),
                    ObjectRole::AppMetadata,
                    2,
                    "cd".into(),
                    "application/json".into(),
                ),
                ManifestObject {
                    data_element_id: Some("d".into()),
                    data_type: Some("ref-data-as-pdf".into()),
                    filename: Some("kvittering å.pdf".into()),
                    file_scan_result: Some(FileScanResult::Clean),
                    content_hash: Some("rL0Y20zC+Fzt72VPzMSk2A==".into()),
                    content_hash_verified: Some(true),
                    created: Some("2026-01-01T00:00:00Z".into()),
                    created_by: Some("12345".into()),
                    last_changed: Some("2026-01-01T00:00:01Z".into()),
                    locked: Some(true),
                    ..ManifestObject::plain(
                        "k".into(),
                        ObjectRole::DataElement,
                        3,
                        "ab".into(),
                        "application/pdf".into(),
                    )
                },
            ],
            skipped_data_elements: vec![],
        };
        let json: serde_json::Value = serde_json::from_slice(&manifest.to_json()).unwrap();
        assert_eq!(json["instanceId"], "1/2");
        assert_eq!(json["manifestVersion"], 2);
        assert_eq!(json["objects"][0]["role"], "appMetadata");
        assert_eq!(
            json["objects"][0].as_object().unwrap().len(),
            5,
            "no element fields on other objects: {}",
            json["objects"][0]
        );
        let element = &json["objects"][1];
        assert_eq!(element["dataType"], "ref-data-as-pdf");
        assert_eq!(element["role"], "dataElement");
        assert_eq!(element["fileScanResult"], "Clean");
        assert_eq!(element["contentHash"], "rL0Y20zC+Fzt72VPzMSk2A==");
        assert_eq!(element["contentHashVerified"], true);
        assert_eq!(element["createdBy"], "12345");
        assert_eq!(element["lastChanged"], "2026-01-01T00:00:01Z");
        assert_eq!(element["locked"], true);
        assert!(json.get("skippedDataElements").is_none());
        assert!(element.get("quarantined").is_none(), "left out when false");
        let back: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, manifest);

        let mut flagged = manifest.clone();
        flagged.objects[1].quarantined = true;
        let json: serde_json::Value = serde_json::from_slice(&flagged.to_json()).unwrap();
        assert_eq!(json["objects"][1]["quarantined"], true);
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), flagged);
        assert_eq!(back.data_elements().count(), 1);
        assert_eq!(back.app_metadata().unwrap().key, "m");
    }
}
