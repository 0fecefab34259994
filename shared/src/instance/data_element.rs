//! A data element: one file or form of an instance, in either dialect.

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::ResourceLinks;
use super::dialect::{
    default_true, lenient, name_or_number, null_as_default, null_as_true, string_or_number,
};
use crate::environment::parse_instance_guid;

/// A data element: one file or form of the instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataElement {
    /// The element's guid; see [`DataElement::data_guid`].
    pub id: String,
    /// The instance's guid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_guid: Option<String>,
    /// The data type id from the app metadata, e.g. `model`, `ref-data-as-pdf`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data_type: String,
    /// File name; `None` for form data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Media type, e.g. `application/xml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `{org}/{app}/{instanceGuid}/data/{dataId}` (or `ondemand/…`); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_storage_path: Option<String>,
    /// Links to the element in the App and Storage APIs (do not follow blindly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_links: Option<ResourceLinks>,
    /// Size in bytes; check the downloaded byte count against it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub size: u64,
    /// Base64 MD5 of the blob, when Altinn has computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Locked elements can no longer be changed (set when their task is done).
    #[serde(default, deserialize_with = "null_as_default")]
    pub locked: bool,
    /// Guids of elements this one refers to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub refs: Vec<String>,
    /// Whether the owner has read it; Altinn's default is `true`.
    #[serde(default = "default_true", deserialize_with = "null_as_true")]
    pub is_read: bool,
    /// Free tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Key/value pairs the uploader attached.
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_defined_metadata: Vec<KeyValueEntry>,
    /// Key/value pairs the platform attached.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Vec<KeyValueEntry>,
    /// Deletion state; hard-deleted elements are not archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_status: Option<DeleteStatus>,
    /// Malware scan result; `None` when absent or unknown.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_scan_result: Option<FileScanResult>,
    /// What this element was generated from (e.g. the PDF receipt from `Task_1`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub references: Vec<Reference>,
    /// When the element was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<String>,
    /// Who changed it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed_by: Option<String>,
}

/// A data element's deletion state; hard-deleted elements are visible only to the app owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteStatus {
    /// True when the element is hard-deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_hard_deleted: bool,
    /// When it was hard-deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_deleted: Option<String>,
}

/// A malware scan result (a string in both dialects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FileScanResult {
    /// The data type is not scanned.
    NotApplicable,
    /// Not scanned yet.
    Pending,
    /// Scanned, nothing found.
    Clean,
    /// Scanned, malware found.
    Infected,
}

impl<'de> Deserialize<'de> for FileScanResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use FileScanResult::*;
        // Only names: both dialects write this enum as a string (Storage's model declares it so), so no
        // number mapping is guessed.
        name_or_number(
            deserializer,
            "a file scan result",
            &[
                ("NotApplicable", u64::MAX, NotApplicable),
                ("Pending", u64::MAX, Pending),
                ("Clean", u64::MAX, Clean),
                ("Infected", u64::MAX, Infected),
            ],
        )
    }
}

/// A `{key, value}` metadata entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValueEntry {
    /// The key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A data element's reference to what it was generated from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// A task id (`Task_1`) or a data element guid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `GeneratedFrom` in the Storage dialect; the App dialect may write the enum's number,
    /// kept here as its decimal text.
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub relation: Option<String>,
    /// `DataElement` or `Task` (or the enum's number as text, as for `relation`).
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub value_type: Option<String>,
}

impl DataElement {
    /// True when `deleteStatus.isHardDeleted` is set.
    pub fn is_hard_deleted(&self) -> bool {
        self.delete_status
            .as_ref()
            .is_some_and(|d| d.is_hard_deleted)
    }

    /// The element's guid when `id` is a canonical lowercase hyphenated guid. Build download
    /// URLs from this, not from `id` or `selfLinks`: the guid can carry no path characters.
    pub fn data_guid(&self) -> Option<Uuid> {
        parse_instance_guid(&self.id)
    }
}
