//! `manifest.json`: the last object written for an instance. Its presence means "this archive
//! is complete"; it lists every object with its size and SHA-256 so the archive can be verified
//! without asking Altinn again.

use serde::{Deserialize, Serialize};

/// The manifest format version; bump it when a field changes meaning.
pub const MANIFEST_VERSION: u32 = 1;

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
    /// `instance.json`, the event, then the data elements in the instance's order.
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
            objects: vec![ManifestObject {
                key: "k".into(),
                role: ObjectRole::DataElement,
                size: 3,
                sha256: "ab".into(),
                content_type: "application/pdf".into(),
                data_element_id: Some("d".into()),
                data_type: Some("ref-data-as-pdf".into()),
                filename: Some("kvittering å.pdf".into()),
            }],
            skipped_data_elements: vec![],
        };
        let json: serde_json::Value = serde_json::from_slice(&manifest.to_json()).unwrap();
        assert_eq!(json["instanceId"], "1/2");
        assert_eq!(json["objects"][0]["dataType"], "ref-data-as-pdf");
        assert_eq!(json["objects"][0]["role"], "dataElement");
        assert!(json.get("skippedDataElements").is_none());
        let back: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, manifest);
        assert_eq!(back.data_elements().count(), 1);
    }
}
