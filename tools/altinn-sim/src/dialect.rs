//! The two JSON dialects of an Altinn instance, Storage's and the app's:
//!
//! - **Storage** (Newtonsoft): null properties omitted on Instance, InstanceOwner, InstanceStatus,
//!   ProcessState, ProcessElementInfo, ResourceLinks, CompleteConfirmation and DataElement (but
//!   still written on DeleteStatus); enums as strings (`readStatus: "Read"`); `selfLinks.platform`.
//! - **App** (System.Text.Json, app-lib v8): every null written; `readStatus` as an integer;
//!   `selfLinks.apps` (and the platform link the app got from Storage); GET adds
//!   `instanceOwner.party`.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use crate::platform::{END_EVENT, FLOW_TYPE, ProcessState, START_EVENT};
use crate::seed::{StoredData, StoredInstance};

/// Which serializer the simulated endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Platform Storage, Newtonsoft.
    Storage,
    /// The app, System.Text.Json. `with_party`: the GET `InstanceResponse` (POST `/complete`
    /// returns a plain `Instance` without `instanceOwner.party`).
    App { with_party: bool },
}

impl Dialect {
    fn keeps_nulls(self) -> bool {
        matches!(self, Dialect::App { .. })
    }
}

/// RFC 3339 UTC timestamp, the way both serializers write `DateTime` values.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn opt_time(at: Option<OffsetDateTime>) -> Value {
    at.map_or(Value::Null, |at| Value::String(timestamp(at)))
}

/// An object under construction that drops nulls when its class is marked
/// `ItemNullValueHandling = Ignore` and the dialect is Storage.
struct Obj {
    map: Map<String, Value>,
    omit_nulls: bool,
}

impl Obj {
    fn new(dialect: Dialect, ignores_nulls_in_storage: bool) -> Self {
        Obj {
            map: Map::new(),
            omit_nulls: ignores_nulls_in_storage && !dialect.keeps_nulls(),
        }
    }

    fn put(mut self, key: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        if !(self.omit_nulls && value.is_null()) {
            self.map.insert(key.to_owned(), value);
        }
        self
    }

    fn done(self) -> Value {
        Value::Object(self.map)
    }
}

/// `{base}storage/api/v1/instances/{partyId}/{guid}`
pub(crate) fn storage_instance_url(base: &Url, instance: &StoredInstance) -> String {
    format!("{base}storage/api/v1/instances/{}", instance.instance_id())
}

/// `{base}{org}/{app}/instances/{partyId}/{guid}`
pub(crate) fn app_instance_url(base: &Url, instance: &StoredInstance) -> String {
    format!(
        "{base}{}/{}/instances/{}",
        instance.org,
        instance.app,
        instance.instance_id()
    )
}

/// The instance JSON as the given endpoint writes it.
pub(crate) fn render_instance(instance: &StoredInstance, base: &Url, dialect: Dialect) -> Value {
    let platform_link = storage_instance_url(base, instance);
    let self_links = match dialect {
        Dialect::Storage => Obj::new(dialect, true).put("platform", platform_link.clone()),
        Dialect::App { .. } => Obj::new(dialect, true)
            .put("apps", app_instance_url(base, instance))
            .put("platform", platform_link.clone()),
    }
    .done();

    let mut owner = Obj::new(dialect, true)
        .put("partyId", instance.party_id.to_string())
        .put("personNumber", instance.person_number.clone())
        .put("organisationNumber", Value::Null)
        .put("username", Value::Null);
    if dialect == (Dialect::App { with_party: true }) {
        owner = owner.put(
            "party",
            json!({
                "partyId": instance.party_id,
                "partyUuid": Value::Null,
                "partyTypeName": 1,
                "ssn": instance.person_number,
                "orgNumber": Value::Null,
                "unitType": Value::Null,
                "name": format!("Simulert Person {}", instance.party_id),
                "isDeleted": false,
            }),
        );
    }

    let confirmations = if instance.complete_confirmations.is_empty() {
        // Storage keeps the list null until the first confirmation.
        Value::Null
    } else {
        Value::Array(
            instance
                .complete_confirmations
                .iter()
                .map(|c| {
                    Obj::new(dialect, true)
                        .put("stakeholderId", c.stakeholder_id.clone())
                        .put("confirmedOn", timestamp(c.confirmed_on))
                        .done()
                })
                .collect(),
        )
    };

    let data: Vec<Value> = instance
        .data
        .iter()
        .map(|d| render_data_element(instance, d, base, &platform_link, dialect))
        .collect();

    Obj::new(dialect, true)
        .put("id", instance.instance_id())
        .put("instanceOwner", owner.done())
        .put("appId", format!("{}/{}", instance.org, instance.app))
        .put("org", instance.org.clone())
        .put("selfLinks", self_links)
        .put("dueBefore", Value::Null)
        .put("visibleAfter", timestamp(instance.created))
        .put("process", render_process(&instance.process, dialect))
        .put("status", render_status(instance, dialect))
        .put("completeConfirmations", confirmations)
        .put("data", Value::Array(data))
        .put("presentationTexts", Value::Null)
        .put("dataValues", Value::Null)
        .put("created", timestamp(instance.created))
        .put("createdBy", "1337")
        .put("lastChanged", timestamp(instance.last_changed))
        .put("lastChangedBy", instance.last_changed_by.clone())
        .done()
}

/// A `ProcessState` (the instance's `process`, an instance event's `processInfo`).
pub(crate) fn render_process(process: &ProcessState, dialect: Dialect) -> Value {
    let current_task = match (&process.current, process.current_task()) {
        (Some(current), Some(task)) => Obj::new(dialect, true)
            .put("flow", current.flow)
            .put("started", timestamp(current.started))
            .put("elementId", task.id.clone())
            .put("name", task.name())
            .put("altinnTaskType", task.task_type.clone())
            .put("ended", opt_time(current.ended))
            .put("validated", Value::Null)
            .put("flowType", FLOW_TYPE)
            .done(),
        _ => Value::Null,
    };
    Obj::new(dialect, true)
        .put("started", opt_time(process.started))
        .put(
            "startEvent",
            if process.started.is_some() {
                Value::from(START_EVENT)
            } else {
                Value::Null
            },
        )
        .put("currentTask", current_task)
        .put("ended", opt_time(process.ended))
        .put(
            "endEvent",
            if process.is_ended() {
                Value::from(END_EVENT)
            } else {
                Value::Null
            },
        )
        .done()
}

fn render_status(instance: &StoredInstance, dialect: Dialect) -> Value {
    // The owner org's reads never change readStatus; the seeded instances have been read.
    let read_status = match dialect {
        Dialect::Storage => Value::from("Read"),
        Dialect::App { .. } => Value::from(1),
    };
    // Substatus is not marked to ignore nulls, so Storage writes its null description too.
    let substatus = instance.substatus.as_ref().map_or(
        Value::Null,
        |(label, description)| json!({"label": label, "description": description}),
    );
    Obj::new(dialect, true)
        .put("isArchived", instance.archived.is_some())
        .put("archived", opt_time(instance.archived))
        .put("isSoftDeleted", false)
        .put("softDeleted", Value::Null)
        .put("isHardDeleted", false)
        .put("hardDeleted", Value::Null)
        .put("readStatus", read_status)
        .put("substatus", substatus)
        .done()
}

/// One data element as the given endpoint writes it (the App API's upload answer).
pub(crate) fn render_data(
    instance: &StoredInstance,
    data: &StoredData,
    base: &Url,
    dialect: Dialect,
) -> Value {
    let platform_link = storage_instance_url(base, instance);
    render_data_element(instance, data, base, &platform_link, dialect)
}

fn render_data_element(
    instance: &StoredInstance,
    data: &StoredData,
    base: &Url,
    platform_instance_link: &str,
    dialect: Dialect,
) -> Value {
    let platform = format!("{platform_instance_link}/data/{}", data.id);
    let self_links = match dialect {
        Dialect::Storage => Obj::new(dialect, true).put("platform", platform),
        Dialect::App { .. } => Obj::new(dialect, true)
            .put(
                "apps",
                format!("{}/data/{}", app_instance_url(base, instance), data.id),
            )
            .put("platform", platform),
    }
    .done();
    // DeleteStatus is not marked to ignore nulls, so Storage writes its nulls too.
    let delete_status = data.hard_deleted.map_or(
        Value::Null,
        |at| json!({"isHardDeleted": true, "hardDeleted": timestamp(at)}),
    );
    let references = if data.is_generated_receipt() {
        json!([{"value": "Task_1", "relation": "GeneratedFrom", "valueType": "Task"}])
    } else {
        Value::Null
    };
    let content_hash = if data.with_content_hash {
        Value::from(data.md5_base64.clone())
    } else {
        Value::Null
    };
    Obj::new(dialect, true)
        .put("id", data.id.to_string())
        .put("instanceGuid", instance.guid.to_string())
        .put("dataType", data.data_type.clone())
        .put(
            "filename",
            data.filename.clone().map_or(Value::Null, Value::from),
        )
        .put("contentType", data.content_type.clone())
        .put(
            "blobStoragePath",
            format!(
                "{}/{}/{}/data/{}",
                instance.org, instance.app, instance.guid, data.id
            ),
        )
        .put("selfLinks", self_links)
        .put("size", data.content.size())
        .put("contentHash", content_hash)
        .put("locked", instance.is_ended())
        .put("refs", Value::Null)
        .put("isRead", true)
        .put("tags", Value::Array(Vec::new()))
        .put("userDefinedMetadata", Value::Null)
        .put("metadata", Value::Null)
        .put("deleteStatus", delete_status)
        .put("fileScanResult", data.scan.show())
        .put("references", references)
        .put("created", timestamp(data.created))
        .put("createdBy", "1337")
        .put("lastChanged", timestamp(data.created))
        .put("lastChangedBy", "1337")
        .done()
}
