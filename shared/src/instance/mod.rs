//! Instance, DataElement and friends, tolerant of both Altinn JSON dialects
//! ([Storage's model](https://github.com/Altinn/altinn-storage)):
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

mod data_element;
mod dialect;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

pub use data_element::{DataElement, DeleteStatus, FileScanResult, KeyValueEntry, Reference};

use crate::environment::{parse_instance_guid, parse_party_id};
use crate::event::InstanceRef;
use dialect::{
    current_task, is_set, lenient, lenient_bool, name_or_number, null_as_default, string_map,
    string_or_number,
};

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
