//! What Storage tells about an instance's past and parts: instance events
//! (`InstanceEventsController.GetAllInstanceEvents`), process history
//! (`ProcessController.GetProcessHistory` with `ProcessHelper.MapInstanceEventsToProcessHistory`;
//! the app's route proxies it), and the data element list (`DataController.GetMany`), from
//! <https://github.com/Altinn/altinn-storage>.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::lifecycle::{Actor, InstanceEvent};
use super::{InstanceAddress, READ_SCOPE, authorized_instance};
use crate::dialect::{Dialect, render_instance, render_process, timestamp};
use crate::reply::{Reject, json_response, text_response};
use crate::seed::StoredInstance;
use crate::state::Shared;

/// Service owners' tokens come from Maskinporten: authentication level 3.
const ORG_AUTHENTICATION_LEVEL: u8 = 3;
/// The seeded end user logged in with ID-porten at level 2.
const PERSON_AUTHENTICATION_LEVEL: u8 = 2;

/// `PlatformUser` (Newtonsoft, nulls omitted).
fn render_user(actor: &Actor) -> Value {
    match actor {
        Actor::Person {
            user_id,
            person_number,
        } => json!({
            "userId": user_id,
            "authenticationLevel": PERSON_AUTHENTICATION_LEVEL,
            "nationalIdentityNumber": person_number,
        }),
        Actor::Org { code, .. } => json!({
            "orgId": code,
            "authenticationLevel": ORG_AUTHENTICATION_LEVEL,
        }),
    }
}

/// `ProcessHistoryItem.performedBy`: the national identity number, else the org code.
fn performed_by(actor: &Actor) -> String {
    match actor {
        Actor::Person { person_number, .. } => person_number.clone(),
        Actor::Org { code, .. } => code.clone(),
    }
}

fn render_event(instance: &StoredInstance, event: &InstanceEvent) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), event.id.to_string().into());
    map.insert("instanceId".into(), instance.instance_id().into());
    if let Some(data_id) = event.data_id {
        map.insert("dataId".into(), data_id.to_string().into());
    }
    map.insert("created".into(), timestamp(event.created).into());
    map.insert("eventType".into(), event.event_type.into());
    map.insert(
        "instanceOwnerPartyId".into(),
        instance.party_id.to_string().into(),
    );
    map.insert("user".into(), render_user(&event.actor));
    map.insert(
        "processInfo".into(),
        render_process(&event.process, Dialect::Storage),
    );
    Value::Object(map)
}

/// The events in time order (the log is appended as things happen, but seeding logs the
/// elements' `Created` after the process events).
fn events_in_order(instance: &StoredInstance) -> Vec<&InstanceEvent> {
    let mut events: Vec<&InstanceEvent> = instance.events.iter().collect();
    events.sort_by_key(|e| e.created);
    events
}

/// The `eventTypes` (repeatable) and `from`/`to` filters; the times apply only when both are
/// given, as in Storage.
struct EventFilter {
    types: Vec<String>,
    window: Option<(OffsetDateTime, OffsetDateTime)>,
}

fn parse_filter(raw: &str) -> Result<EventFilter, Reject> {
    let mut types = Vec::new();
    let (mut from, mut to) = (None, None);
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "eventTypes" => types.push(value.into_owned()),
            "from" => from = Some(value.into_owned()).filter(|v| !v.is_empty()),
            "to" => to = Some(value.into_owned()).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    let window = match (from, to) {
        (Some(from), Some(to)) => {
            let parse = |v: &str| OffsetDateTime::parse(v, &Rfc3339).ok();
            match (parse(&from), parse(&to)) {
                (Some(from), Some(to)) => Some((from, to)),
                _ => {
                    return Err(text_response(
                        StatusCode::BAD_REQUEST,
                        "Unable to perform query. Invalid format for time span. Use string format of UTC.",
                    )
                    .into());
                }
            }
        }
        _ => None,
    };
    Ok(EventFilter { types, window })
}

impl EventFilter {
    fn accepts(&self, event: &InstanceEvent) -> bool {
        let type_ok = self.types.is_empty() || self.types.iter().any(|t| t == event.event_type);
        let time_ok = self
            .window
            .is_none_or(|(from, to)| event.created >= from && event.created <= to);
        type_ok && time_ok
    }
}

/// `GET /storage/api/v1/instances/{partyId}/{guid}/events?eventTypes=&from=&to=`
pub(crate) async fn storage_instance_events(
    State(shared): State<Arc<Shared>>,
    Path((party, guid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::storage(&party, &guid);
    let instance = match authorized_instance(&shared, &headers, &address, READ_SCOPE) {
        Ok((_, instance)) => instance,
        Err(reject) => return reject.into_response(),
    };
    let filter = match parse_filter(&raw.unwrap_or_default()) {
        Ok(filter) => filter,
        Err(reject) => return reject.into_response(),
    };
    let events: Vec<Value> = events_in_order(&instance)
        .into_iter()
        .filter(|e| filter.accepts(e))
        .map(|e| render_event(&instance, e))
        .collect();
    json_response(StatusCode::OK, &json!({ "instanceEvents": events }))
}

/// Storage's `ProcessHelper`: one item per start and end event, and one per task whose
/// `process_StartTask` and `process_EndTask` are merged (the first item with the same element id
/// gets the other's time).
fn process_history(instance: &StoredInstance) -> Vec<Value> {
    struct Item {
        event_type: &'static str,
        element_id: String,
        occured: Option<OffsetDateTime>,
        started: Option<OffsetDateTime>,
        ended: Option<OffsetDateTime>,
        performed_by: String,
    }
    let mut history: Vec<Item> = Vec::new();
    for event in events_in_order(instance) {
        let task_id = || {
            event
                .process
                .current_task()
                .map(|t| t.id.clone())
                .unwrap_or_default()
        };
        let item = |element_id: String| Item {
            event_type: event.event_type,
            element_id,
            occured: None,
            started: None,
            ended: None,
            performed_by: performed_by(&event.actor),
        };
        match event.event_type {
            "process_StartEvent" => history.push(Item {
                occured: Some(event.created),
                ..item(super::START_EVENT.to_owned())
            }),
            "process_EndEvent" => history.push(Item {
                occured: Some(event.created),
                ..item(super::END_EVENT.to_owned())
            }),
            "process_StartTask" | "process_EndTask" => {
                let id = task_id();
                let starts = event.event_type == "process_StartTask";
                match history.iter_mut().find(|i| i.element_id == id) {
                    Some(existing) if starts => existing.started = Some(event.created),
                    Some(existing) => existing.ended = Some(event.created),
                    None if starts => history.push(Item {
                        started: Some(event.created),
                        ..item(id)
                    }),
                    None => history.push(Item {
                        ended: Some(event.created),
                        ..item(id)
                    }),
                }
            }
            _ => {}
        }
    }
    let opt = |t: Option<OffsetDateTime>| t.map_or(Value::Null, |t| Value::from(timestamp(t)));
    history
        .into_iter()
        .map(|i| {
            json!({
                "eventType": i.event_type,
                "elementId": i.element_id,
                "occured": opt(i.occured),
                "started": opt(i.started),
                "ended": opt(i.ended),
                "performedBy": i.performed_by,
            })
        })
        .collect()
}

async fn get_process_history(
    shared: &Shared,
    headers: &HeaderMap,
    address: InstanceAddress<'_>,
) -> Response {
    match authorized_instance(shared, headers, &address, READ_SCOPE) {
        Ok((_, instance)) => json_response(
            StatusCode::OK,
            &json!({ "processHistory": process_history(&instance) }),
        ),
        Err(reject) => reject.into_response(),
    }
}

/// `GET /storage/api/v1/instances/{partyId}/{guid}/process/history`
pub(crate) async fn storage_process_history(
    State(shared): State<Arc<Shared>>,
    Path((party, guid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    get_process_history(&shared, &headers, InstanceAddress::storage(&party, &guid)).await
}

/// `GET /{org}/{app}/instances/{partyId}/{guid}/process/history` (the app proxies Storage).
pub(crate) async fn app_process_history(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    get_process_history(&shared, &headers, address).await
}

/// `GET /storage/api/v1/instances/{partyId}/{guid}/dataelements`: `{"dataElements": […]}`,
/// the same elements (hard-deleted ones included, for the owner org) as the instance's `data`.
pub(crate) async fn storage_data_elements(
    State(shared): State<Arc<Shared>>,
    Path((party, guid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::storage(&party, &guid);
    let instance = match authorized_instance(&shared, &headers, &address, READ_SCOPE) {
        Ok((_, instance)) => instance,
        Err(reject) => return reject.into_response(),
    };
    let rendered = render_instance(&instance, &shared.base_url, Dialect::Storage);
    let elements = rendered.get("data").cloned().unwrap_or(json!([]));
    json_response(StatusCode::OK, &json!({ "dataElements": elements }))
}
