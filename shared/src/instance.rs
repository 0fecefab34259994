//! Instance, DataElement and friends, tolerant of both Altinn JSON dialects (reference §4):
//! Storage (Newtonsoft: nulls omitted, `readStatus` a string) and App (System.Text.Json: nulls
//! present, enums as numbers, `instanceOwner.party`). Every field but the ids is optional
//! with a default, and unknown fields are ignored. [`RawInstance`] keeps the bytes Altinn sent,
//! because the archive stores those, not a re-serialization.
//!
//! # Tolerance
//!
//! The typed model only feeds decisions (is the process complete, which data elements to
//! fetch, have we confirmed); the archive keeps the raw bytes. So a new or odd value in a
//! field that is informational must never stop archiving:
//!
//! * enum-like fields (`readStatus`, `fileScanResult`, `party.partyTypeName`,
//!   `references[].relation`/`valueType`) accept both the name and the number, and an unknown
//!   value reads as `None` instead of failing the whole instance;
//! * `null` reads as the default everywhere;
//! * `process.currentTask` is the exception that leans the other way: anything present and not
//!   `null`, even malformed, counts as a current task, so an odd value can only delay
//!   archiving, never make an unfinished instance look complete.
//!
//! Timestamps are kept as the strings Altinn wrote: the two serializers differ in fractional
//! digits and offsets, and nothing here computes with them.
//!
//! Serialization writes the Storage dialect (`None` omitted, enums as names).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::environment::{parse_instance_guid, parse_party_id};
use crate::event::InstanceRef;

/// An Altinn app instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// `{partyId}/{instanceGuid}`.
    pub id: String,
    /// Who the instance belongs to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub instance_owner: InstanceOwner,
    /// `{org}/{app}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub app_id: String,
    /// The app owner's org code, e.g. `ttd`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub org: String,
    /// Links to this instance in the App (`apps`) and Storage (`platform`) APIs. Never follow
    /// them blindly: build URLs from parsed ids and the allowlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_links: Option<ResourceLinks>,
    /// Deadline for the instance owner, when the app sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_before: Option<String>,
    /// When the instance becomes visible to its owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_after: Option<String>,
    /// Process state; see [`Instance::is_process_complete`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessState>,
    /// Archived, deleted and read flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<InstanceStatus>,
    /// `null` in the App dialect is read as empty.
    #[serde(default, deserialize_with = "null_as_default")]
    pub complete_confirmations: Vec<CompleteConfirmation>,
    /// The instance's files and forms; see [`Instance::archivable_data`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<DataElement>,
    /// Texts the app shows in the inbox (`presentationFields`), by name.
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub presentation_texts: BTreeMap<String, String>,
    /// Values the app exposes for searching (`dataFields`), by name.
    #[serde(
        default,
        deserialize_with = "string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data_values: BTreeMap<String, String>,
    /// When the instance was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who created it: a user id or an org number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When the instance last changed (a new confirmation changes it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<String>,
    /// Who changed it last: a user id or an org number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changed_by: Option<String>,
}

/// The instance owner. `party` is only in the App dialect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceOwner {
    /// The owner's party id, a string in both dialects (a number is accepted too).
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub party_id: Option<String>,
    /// National identity number, when the owner is a person. Personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_number: Option<String>,
    /// Organisation number, when the owner is an organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_number: Option<String>,
    /// Username, for self-identified users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// An external identifier, when the owner is identified that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_identifier: Option<String>,
    /// The App dialect's `party` (app-lib v8.6+); `None` when absent or unreadable.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub party: Option<Party>,
}

/// The owner's party as the App API adds it to `instanceOwner`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    /// Party id (a number in this object).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub party_id: Option<u64>,
    /// Party UUID.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub party_uuid: Option<String>,
    /// Person, organisation, …; `None` when absent or unknown.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub party_type_name: Option<PartyType>,
    /// National identity number for a person. Personal data.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ssn: Option<String>,
    /// Organisation number for an organisation.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub org_number: Option<String>,
    /// Organisation form, e.g. `AS`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub unit_type: Option<String>,
    /// Display name.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// True when the party has been deleted in the register.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub is_deleted: bool,
}

/// Altinn Register's party type. Only `1 = Person` has been observed in the App dialect;
/// the other numbers follow Register's `PartyType` enum (UNCONFIRMED for this field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PartyType {
    /// 1.
    Person,
    /// 2.
    Organisation,
    /// 3.
    SelfIdentified,
    /// 4.
    SubUnit,
    /// 5.
    BankruptcyEstate,
}

impl<'de> Deserialize<'de> for PartyType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use PartyType::*;
        name_or_number(
            deserializer,
            "a party type",
            &[
                ("Person", 1, Person),
                ("Organisation", 2, Organisation),
                ("SelfIdentified", 3, SelfIdentified),
                ("SubUnit", 4, SubUnit),
                ("BankruptcyEstate", 5, BankruptcyEstate),
            ],
        )
    }
}

/// The process state; a completed process has `ended` and `endEvent` and no `currentTask`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessState {
    /// When the process started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    /// The BPMN start event, e.g. `StartEvent_1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_event: Option<String>,
    /// When the process reached an end event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// The BPMN end event reached, e.g. `EndEvent_1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_event: Option<String>,
    /// The task the process is in; absent or `null` once it has ended. Anything present and
    /// not `null` is `Some`, even when malformed (see the module docs).
    #[serde(
        default,
        deserialize_with = "current_task",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_task: Option<ProcessElementInfo>,
}

/// A process task (`process.currentTask`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessElementInfo {
    /// The BPMN element id, e.g. `Task_1`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub element_id: Option<String>,
    /// The task's display name.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// `data`, `confirmation`, `signing`, `payment`, …
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub altinn_task_type: Option<String>,
    /// How many process steps have been taken.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow: Option<i64>,
    /// When the task started.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub started: Option<String>,
    /// When the task ended.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub ended: Option<String>,
    /// e.g. `CompleteCurrentMoveToNext`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_type: Option<String>,
}

/// Instance status flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Set when the process has ended (Altinn calls that "archived").
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_archived: bool,
    /// When it was archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<String>,
    /// Soft-deleted by the owner (restorable).
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_soft_deleted: bool,
    /// When it was soft-deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_deleted: Option<String>,
    /// Hard-deleted (gone for the owner).
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_hard_deleted: bool,
    /// When it was hard-deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_deleted: Option<String>,
    /// `"Read"` (Storage) or `1` (App); see [`ReadStatus`]. An unknown value reads as `None`.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_status: Option<ReadStatus>,
    /// The app's custom status for the owner's inbox.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub substatus: Option<Substatus>,
}

/// `readStatus` in either dialect: `"Unread"`/`"Read"`/`"UpdatedSinceLastReview"` (Storage,
/// matched case-insensitively) or `0`/`1`/`2` (App). Serializes as the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReadStatus {
    /// 0: the owner has not opened the instance.
    Unread,
    /// 1: the owner has opened it.
    Read,
    /// 2: changed since the owner last looked.
    UpdatedSinceLastReview,
}

impl<'de> Deserialize<'de> for ReadStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use ReadStatus::*;
        name_or_number(
            deserializer,
            "a read status",
            &[
                ("Unread", 0, Unread),
                ("Read", 1, Read),
                ("UpdatedSinceLastReview", 2, UpdatedSinceLastReview),
            ],
        )
    }
}

/// An app-defined status shown in the owner's inbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Substatus {
    /// Short label (a text key).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub label: Option<String>,
    /// Longer description (a text key).
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
}

/// One org's confirmation that it has what it needs from the instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteConfirmation {
    /// The confirming org's code, e.g. `ttd`.
    pub stakeholder_id: String,
    /// When it confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_on: Option<String>,
}

/// Links to a resource in the App and Storage APIs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLinks {
    /// `https://{org}.apps.{domain}/{org}/{app}/instances/…` (set by the app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<String>,
    /// `https://platform.{domain}/storage/api/v1/instances/…` (set by Storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

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
        // Only names: both dialects write this enum as a string (reference §4.0), so no
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

/// An instance together with the exact bytes Altinn sent for it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawInstance {
    /// The parsed instance.
    pub instance: Instance,
    /// The body as received; this is what the archive stores.
    pub raw: Bytes,
}

impl RawInstance {
    /// Parses an instance response body, keeping the bytes.
    pub fn parse(raw: Bytes) -> Result<Self, serde_json::Error> {
        let instance = serde_json::from_slice(&raw)?;
        Ok(RawInstance { instance, raw })
    }
}

impl Instance {
    /// True when the process has ended: `process.ended` (or, for tolerance, `endEvent`) set
    /// and non-empty, and no current task.
    pub fn is_process_complete(&self) -> bool {
        self.process.as_ref().is_some_and(|process| {
            let ended = is_set(&process.ended) || is_set(&process.end_event);
            ended && process.current_task.is_none()
        })
    }

    /// True when `org` is among the `completeConfirmations`. Org codes are compared without
    /// regard to ASCII case: Altinn writes them lowercase, and a false "not confirmed" would
    /// only cost a repeated, idempotent `complete`, while case is never meaningful in a code.
    pub fn is_confirmed_by(&self, org: &str) -> bool {
        self.complete_confirmations
            .iter()
            .any(|c| c.stakeholder_id.eq_ignore_ascii_case(org))
    }

    /// The data elements to archive: all but the hard-deleted ones.
    pub fn archivable_data(&self) -> impl Iterator<Item = &DataElement> {
        self.data.iter().filter(|d| !d.is_hard_deleted())
    }

    /// The party id from `id`, when `id` is a canonical `{partyId}/{guid}`.
    pub fn party_id(&self) -> Option<u64> {
        self.id
            .split_once('/')
            .and_then(|(party, _)| parse_party_id(party))
    }

    /// The instance guid from `id`, when `id` is a canonical `{partyId}/{guid}` (lowercase).
    pub fn instance_guid(&self) -> Option<Uuid> {
        let (party, guid) = self.id.split_once('/')?;
        parse_party_id(party)?;
        parse_instance_guid(guid)
    }

    /// True when this is the instance `instance` names: same `id` and `appId`. The archiver
    /// checks this before storing what a fetch returned under the event's keys.
    pub fn is_instance(&self, instance: &InstanceRef) -> bool {
        self.id == instance.instance_id() && self.app_id == instance.app_id()
    }
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

/// A page of `GET storage/api/v1/instances?…` (`{count, self, next, instances}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceQueryPage {
    /// Instances on this page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub count: u64,
    /// This page's URL.
    #[serde(rename = "self", default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<String>,
    /// The next page's URL (carries `continuationToken`); `None` on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The instances.
    #[serde(default, deserialize_with = "null_as_default")]
    pub instances: Vec<Instance>,
}

/// Reads `null` as the type's default (the App dialect writes nulls the Storage one omits).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn default_true() -> bool {
    true
}

/// `isRead`: `null` means Altinn's default, `true`.
fn null_as_true<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

/// Reads any JSON value and keeps it only if it reads as `T`; anything else is `None`.
/// For informational fields whose values may grow (see the module docs).
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// A boolean that is `false` unless it is literally `true`.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Value::deserialize(deserializer)? == Value::Bool(true))
}

/// A string, or a number kept as its decimal text; anything else is `None`.
fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(text),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

/// A `{string: string}` map; `null` is empty and entries whose value is not a string are
/// dropped.
fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Object(entries) => entries
            .into_iter()
            .filter_map(|(key, value)| match value {
                Value::String(text) => Some((key, text)),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// `process.currentTask`: `null` or absent is `None`; any other value is `Some`, read
/// leniently, so a malformed task can never make the process look complete.
fn current_task<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ProcessElementInfo>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        value => Some(serde_json::from_value(value).unwrap_or_default()),
    })
}

/// An enum written as its name (case-insensitive) or its number. `u64::MAX` in the table
/// means "no number".
fn name_or_number<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    table: &[(&str, u64, T)],
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Copy,
{
    let found = match Value::deserialize(deserializer)? {
        Value::String(text) => table
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(&text)),
        Value::Number(number) => number
            .as_u64()
            .filter(|&n| n != u64::MAX)
            .and_then(|n| table.iter().find(|(_, number, _)| *number == n)),
        _ => None,
    };
    found
        .map(|(_, _, value)| *value)
        .ok_or_else(|| serde::de::Error::custom(format!("expected {expecting}")))
}

/// True when the option holds a non-empty string.
fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STORAGE_COMPLETED: &[u8] =
        include_bytes!("../tests/fixtures/storage-instance-completed.json");
    const APP_COMPLETED: &[u8] = include_bytes!("../tests/fixtures/app-instance-completed.json");
    const APP_IN_PROGRESS: &[u8] =
        include_bytes!("../tests/fixtures/app-instance-in-progress.json");
    const QUERY_PAGE: &[u8] = include_bytes!("../tests/fixtures/storage-instance-query-page.json");

    const INSTANCE_ID: &str = "50660768/428a4575-2c04-4400-89a3-1aaadd2579cd";

    fn parse(bytes: &[u8]) -> Instance {
        RawInstance::parse(Bytes::copy_from_slice(bytes))
            .unwrap()
            .instance
    }

    fn instance_ref() -> InstanceRef {
        InstanceRef {
            org: "ttd".into(),
            app: "apps-test".into(),
            party_id: 50660768,
            instance_guid: Uuid::parse_str("428a4575-2c04-4400-89a3-1aaadd2579cd").unwrap(),
        }
    }

    #[test]
    fn storage_dialect_completed_instance() {
        let raw = RawInstance::parse(Bytes::from_static(STORAGE_COMPLETED)).unwrap();
        assert_eq!(
            &raw.raw[..],
            STORAGE_COMPLETED,
            "the raw bytes are kept verbatim"
        );
        let instance = raw.instance;
        assert_eq!(instance.id, INSTANCE_ID);
        assert_eq!(instance.party_id(), Some(50660768));
        assert_eq!(instance.instance_guid(), Some(instance_ref().instance_guid));
        assert!(instance.is_instance(&instance_ref()));
        assert_eq!(instance.org, "ttd");
        assert_eq!(
            instance.instance_owner.party_id.as_deref(),
            Some("50660768")
        );
        assert_eq!(
            instance.instance_owner.person_number.as_deref(),
            Some("07837399275")
        );
        assert_eq!(instance.instance_owner.party, None);
        assert!(instance.is_process_complete());
        assert!(instance.is_confirmed_by("ttd"));
        assert!(instance.is_confirmed_by("TTD"));
        assert!(!instance.is_confirmed_by("skd"));

        let status = instance.status.as_ref().unwrap();
        assert!(status.is_archived);
        assert_eq!(
            status.archived.as_deref(),
            Some("2024-05-02T09:31:11.8211235Z")
        );
        assert_eq!(status.read_status, Some(ReadStatus::Read));
        assert_eq!(
            status.substatus.as_ref().unwrap().label.as_deref(),
            Some("substatus.approved")
        );
        assert_eq!(status.substatus.as_ref().unwrap().description, None);

        assert_eq!(
            instance.self_links.as_ref().unwrap().platform.as_deref(),
            Some(
                "https://platform.tt02.altinn.no/storage/api/v1/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"
            )
        );
        assert_eq!(instance.due_before.as_deref(), Some("2024-06-30T00:00:00Z"));
        assert_eq!(
            instance.presentation_texts.get("Navn").map(String::as_str),
            Some("Ola Nordmann")
        );
        assert_eq!(
            instance.data_values.get("saksnummer").map(String::as_str),
            Some("2024-0042")
        );
        assert_eq!(instance.last_changed_by.as_deref(), Some("991825827"));

        assert_eq!(instance.data.len(), 4);
        let archivable: Vec<&str> = instance
            .archivable_data()
            .map(|d| d.data_type.as_str())
            .collect();
        assert_eq!(archivable, ["model", "ref-data-as-pdf", "vedlegg"]);

        let form = &instance.data[0];
        assert_eq!(form.content_type.as_deref(), Some("application/xml"));
        assert_eq!(form.filename, None);
        assert_eq!(form.size, 1523);
        assert!(form.locked);
        assert!(form.is_read);
        assert_eq!(form.file_scan_result, Some(FileScanResult::NotApplicable));
        assert_eq!(
            form.data_guid(),
            Some(Uuid::parse_str("1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5b").unwrap())
        );
        assert_eq!(
            form.blob_storage_path.as_deref(),
            Some(
                "ttd/apps-test/428a4575-2c04-4400-89a3-1aaadd2579cd/data/1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
            )
        );

        let pdf = &instance.data[1];
        assert_eq!(pdf.filename.as_deref(), Some("apps-test.pdf"));
        assert_eq!(
            pdf.content_hash.as_deref(),
            Some("q8Jt4n3yVbFzH0wX1e2dKA==")
        );
        assert_eq!(
            pdf.references,
            [Reference {
                value: Some("Task_1".into()),
                relation: Some("GeneratedFrom".into()),
                value_type: Some("Task".into())
            }]
        );

        let attachment = &instance.data[2];
        assert_eq!(attachment.file_scan_result, Some(FileScanResult::Clean));
        assert_eq!(attachment.tags, ["kvittering"]);
        assert_eq!(
            attachment.user_defined_metadata,
            [KeyValueEntry {
                key: "kilde".into(),
                value: Some("opplasting".into())
            }]
        );
        assert!(!attachment.is_read);

        let deleted = &instance.data[3];
        assert!(deleted.is_hard_deleted());
        assert_eq!(
            deleted
                .delete_status
                .as_ref()
                .unwrap()
                .hard_deleted
                .as_deref(),
            Some("2024-05-02T09:19:02.1012345Z")
        );
    }

    #[test]
    fn app_dialect_completed_instance_with_nulls_everywhere() {
        let instance = parse(APP_COMPLETED);
        assert_eq!(instance.id, INSTANCE_ID);
        assert!(instance.is_instance(&instance_ref()));
        assert!(instance.is_process_complete());
        assert!(
            !instance.is_confirmed_by("ttd"),
            "completeConfirmations: null reads as empty"
        );
        assert!(instance.complete_confirmations.is_empty());
        assert_eq!(instance.due_before, None);
        assert!(instance.presentation_texts.is_empty());

        let owner = &instance.instance_owner;
        assert_eq!(owner.party_id.as_deref(), Some("50660768"));
        assert_eq!(owner.organisation_number, None);
        let party = owner.party.as_ref().unwrap();
        assert_eq!(party.party_id, Some(50660768));
        assert_eq!(party.party_type_name, Some(PartyType::Person));
        assert_eq!(party.name.as_deref(), Some("Ola Nordmann"));
        assert!(!party.is_deleted);

        let status = instance.status.as_ref().unwrap();
        assert_eq!(status.read_status, Some(ReadStatus::Read));
        assert_eq!(status.substatus, None);

        let links = instance.self_links.as_ref().unwrap();
        assert!(
            links
                .apps
                .as_deref()
                .unwrap()
                .starts_with("https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/")
        );

        let archivable: Vec<&str> = instance
            .archivable_data()
            .map(|d| d.data_type.as_str())
            .collect();
        assert_eq!(archivable, ["model", "ref-data-as-pdf", "vedlegg"]);
        let form = &instance.data[0];
        assert_eq!(form.filename, None);
        assert!(form.refs.is_empty() && form.tags.is_empty() && form.metadata.is_empty());
        assert!(form.is_read, "isRead: null reads as Altinn's default, true");
        assert_eq!(form.delete_status, None);
        let pdf = &instance.data[1];
        assert_eq!(pdf.references[0].relation.as_deref(), Some("0"));
        assert_eq!(pdf.references[0].value_type.as_deref(), Some("1"));
        assert!(instance.data[3].is_hard_deleted());
    }

    #[test]
    fn both_dialects_describe_the_same_instance() {
        let storage = parse(STORAGE_COMPLETED);
        let app = parse(APP_COMPLETED);
        assert_eq!(storage.id, app.id);
        assert_eq!(storage.app_id, app.app_id);
        let ids = |i: &Instance| {
            i.archivable_data()
                .map(|d| (d.id.clone(), d.size))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&storage), ids(&app));
        assert_eq!(
            storage.status.unwrap().read_status,
            app.status.unwrap().read_status
        );
    }

    #[test]
    fn app_dialect_instance_in_progress() {
        let instance = parse(APP_IN_PROGRESS);
        assert!(!instance.is_process_complete());
        let task = instance
            .process
            .as_ref()
            .unwrap()
            .current_task
            .as_ref()
            .unwrap();
        assert_eq!(task.element_id.as_deref(), Some("Task_1"));
        assert_eq!(task.altinn_task_type.as_deref(), Some("data"));
        assert_eq!(task.flow, Some(2));
        assert_eq!(task.flow_type.as_deref(), Some("CompleteCurrentMoveToNext"));
        assert_eq!(task.ended, None);
        assert_eq!(
            instance.status.unwrap().read_status,
            Some(ReadStatus::Unread)
        );
    }

    #[test]
    fn query_page() {
        let page: InstanceQueryPage = serde_json::from_slice(QUERY_PAGE).unwrap();
        assert_eq!(page.count, 2);
        assert_eq!(page.instances.len(), 2);
        assert!(page.next.as_deref().unwrap().contains("continuationToken="));
        assert!(page.self_link.is_some());
        assert!(page.instances.iter().all(Instance::is_process_complete));
        let last: InstanceQueryPage = serde_json::from_value(
            json!({"count": 0, "self": "x", "next": null, "instances": null}),
        )
        .unwrap();
        assert_eq!(last.next, None);
        assert!(last.instances.is_empty());
    }

    #[test]
    fn read_status_in_both_dialects() {
        for (value, expected) in [
            (json!("Unread"), Some(ReadStatus::Unread)),
            (json!("Read"), Some(ReadStatus::Read)),
            (
                json!("UpdatedSinceLastReview"),
                Some(ReadStatus::UpdatedSinceLastReview),
            ),
            (json!("read"), Some(ReadStatus::Read)),
            (json!(0), Some(ReadStatus::Unread)),
            (json!(1), Some(ReadStatus::Read)),
            (json!(2), Some(ReadStatus::UpdatedSinceLastReview)),
            (json!(3), None),
            (json!(-1), None),
            (json!(1.5), None),
            (json!("Archived"), None),
            (json!(null), None),
            (json!({"x": 1}), None),
        ] {
            let status: InstanceStatus =
                serde_json::from_value(json!({"readStatus": value})).unwrap();
            assert_eq!(status.read_status, expected, "{value}");
        }
        assert!(
            serde_json::from_value::<ReadStatus>(json!(7)).is_err(),
            "the type itself is strict"
        );
        assert_eq!(
            serde_json::to_value(ReadStatus::UpdatedSinceLastReview).unwrap(),
            json!("UpdatedSinceLastReview")
        );
    }

    #[test]
    fn process_completion_rules() {
        let complete = |process: Value| {
            parse(&serde_json::to_vec(&json!({"id": INSTANCE_ID, "process": process})).unwrap())
                .is_process_complete()
        };
        assert!(complete(
            json!({"ended": "2024-05-02T09:31:11Z", "endEvent": "EndEvent_1"})
        ));
        assert!(complete(
            json!({"ended": "2024-05-02T09:31:11Z", "currentTask": null})
        ));
        assert!(
            complete(json!({"endEvent": "EndEvent_1"})),
            "endEvent alone is accepted"
        );
        assert!(!complete(json!({"started": "2024-05-02T09:00:00Z"})));
        assert!(!complete(json!({"ended": "", "endEvent": null})));
        assert!(!complete(
            json!({"ended": "2024-05-02T09:31:11Z", "currentTask": {"elementId": "Task_2"}})
        ));
        assert!(
            !complete(json!({"ended": "2024-05-02T09:31:11Z", "currentTask": "Task_2"})),
            "an odd task still counts"
        );
        assert!(!complete(
            json!({"ended": "2024-05-02T09:31:11Z", "currentTask": {"flow": "two"}})
        ));
        assert!(!complete(json!(null)));
        let no_process: Instance = serde_json::from_value(json!({"id": INSTANCE_ID})).unwrap();
        assert!(!no_process.is_process_complete());
    }

    #[test]
    fn minimal_and_odd_instances_still_parse() {
        let minimal: Instance = serde_json::from_value(json!({"id": INSTANCE_ID})).unwrap();
        assert_eq!(minimal.app_id, "");
        assert!(minimal.data.is_empty());
        assert!(!minimal.is_instance(&instance_ref()));

        let odd: Instance = serde_json::from_value(json!({
            "id": INSTANCE_ID, "appId": null, "org": null, "instanceOwner": null,
            "instanceOwner2": {"anything": true},
            "presentationTexts": {"a": "b", "n": null, "x": 3},
            "status": {"isArchived": null, "readStatus": "SomethingNew", "substatus": "odd"},
            "data": [{"id": "not-a-guid", "dataType": null, "size": null, "isRead": null,
                      "fileScanResult": "Quarantined", "references": [{"value": "x", "relation": {"a": 1}}]}]
        }))
        .unwrap();
        assert_eq!(
            odd.presentation_texts,
            BTreeMap::from([("a".to_owned(), "b".to_owned())])
        );
        let status = odd.status.as_ref().unwrap();
        assert!(!status.is_archived);
        assert_eq!(status.read_status, None);
        assert_eq!(status.substatus, None);
        let element = &odd.data[0];
        assert_eq!(element.size, 0);
        assert!(element.is_read);
        assert_eq!(element.file_scan_result, None);
        assert_eq!(element.references[0].relation, None);
        assert_eq!(element.data_guid(), None);
    }

    #[test]
    fn ids_are_required() {
        assert!(serde_json::from_value::<Instance>(json!({"appId": "ttd/a"})).is_err());
        assert!(
            serde_json::from_value::<Instance>(
                json!({"id": INSTANCE_ID, "data": [{"dataType": "model"}]})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<Instance>(
                json!({"id": INSTANCE_ID, "completeConfirmations": [{"confirmedOn": "x"}]})
            )
            .is_err()
        );
        assert!(RawInstance::parse(Bytes::from_static(b"[]")).is_err());
    }

    #[test]
    fn ids_parse_only_in_canonical_form() {
        for (id, party, guid) in [
            (INSTANCE_ID, Some(50660768), true),
            (
                "050660768/428a4575-2c04-4400-89a3-1aaadd2579cd",
                None,
                false,
            ),
            (
                "50660768/428A4575-2C04-4400-89A3-1AAADD2579CD",
                Some(50660768),
                false,
            ),
            ("50660768", None, false),
            ("", None, false),
        ] {
            let instance: Instance = serde_json::from_value(json!({"id": id})).unwrap();
            assert_eq!(instance.party_id(), party, "{id}");
            assert_eq!(instance.instance_guid().is_some(), guid, "{id}");
        }
    }

    #[test]
    fn serialization_round_trips_in_the_storage_style() {
        for fixture in [STORAGE_COMPLETED, APP_COMPLETED, APP_IN_PROGRESS] {
            let instance = parse(fixture);
            let written = serde_json::to_value(&instance).unwrap();
            assert_eq!(
                serde_json::from_value::<Instance>(written.clone()).unwrap(),
                instance
            );
            assert!(
                !written.to_string().contains("null"),
                "None is omitted: {written}"
            );
        }
        let written = serde_json::to_value(parse(APP_COMPLETED)).unwrap();
        assert_eq!(written["status"]["readStatus"], json!("Read"));
        assert_eq!(
            written["instanceOwner"]["party"]["partyTypeName"],
            json!("Person")
        );
    }
}
