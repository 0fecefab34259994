//! The App API's `PUT …/process/next` (app-lib `ProcessController.NextElement` and
//! `ProcessEngine.Next`, <https://github.com/Altinn/app-lib-dotnet>): checks, the task's
//! validation, the move, and the CloudEvent an app with events enabled publishes after it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::lifecycle::{Actor, Moved};
use super::metadata::data_types_of;
use super::{InstanceAddress, WRITE_SCOPE, authorized_instance, instance_not_found};
use crate::dialect::{Dialect, render_process};
use crate::events;
use crate::reply::{json_response, problem, problem_with};
use crate::seed::StoredInstance;
use crate::state::Shared;

/// The largest `process/next` body read (it is at most `{"action": …}`).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why the instance may not leave its task: app-lib's `Conflict` answers, in its order.
fn process_conflict(instance: &StoredInstance) -> Option<&'static str> {
    if instance.process.is_ended() {
        Some("Process is ended.")
    } else if instance.process.current_task().is_none() {
        Some("Process is not started. Use start!")
    } else {
        None
    }
}

/// The current task's validation: every data type bound to the task (`taskId`) must have at
/// least `minCount` and at most `maxCount` live elements (app-lib's
/// `DefaultDataElementValidator`). Returns the issues as app-lib writes them.
fn validation_issues(shared: &Shared, instance: &StoredInstance) -> Vec<Value> {
    let Some(task) = instance.process.current_task() else {
        return Vec::new();
    };
    let app_id = format!("{}/{}", instance.org, instance.app);
    let mut issues = Vec::new();
    for data_type in data_types_of(shared, &app_id)
        .iter()
        .filter(|t| t.task_id.as_deref() == Some(task.id.as_str()))
    {
        let count = instance
            .data
            .iter()
            .filter(|d| d.data_type == data_type.id && d.hard_deleted.is_none())
            .count();
        let code = if data_type.min_count > 0 && count < data_type.min_count as usize {
            "TooFewDataElementsOfType"
        } else if data_type.max_count > 0 && count > data_type.max_count as usize {
            "TooManyDataElementsOfType"
        } else {
            continue;
        };
        issues.push(json!({
            "severity": 1,
            "dataElementId": Value::Null,
            "field": data_type.id,
            "code": code,
            "description": code,
            "source": "Required",
            "customTextKey": Value::Null,
        }));
    }
    issues
}

/// The `AppProcessState` answer: the process plus the task list, with the app's extra
/// fields on the current task (what the caller may do there).
fn app_process_state(instance: &StoredInstance) -> Value {
    let dialect = Dialect::App { with_party: false };
    let mut state = render_process(&instance.process, dialect);
    if let Some(current) = state.get_mut("currentTask").filter(|c| c.is_object()) {
        current["actions"] = json!({"read": true, "write": true, "complete": true});
        current["userActions"] = json!([]);
        current["read"] = Value::Bool(true);
        current["write"] = Value::Bool(true);
        current["elementType"] = Value::from("Task");
    }
    state["processTasks"] = instance
        .process
        .tasks
        .iter()
        .map(|t| json!({"altinnTaskType": t.task_type, "elementId": t.id, "elementType": "Task"}))
        .collect();
    state
}

/// `PUT /{org}/{app}/instances/{partyId}/{guid}/process/next`. The body (`{"action": …}`) is
/// optional and ignored, as is `?elementId=`. 403 unless the caller is the owner org with
/// `instances.write` (the write right in every task of the simulated apps' policy).
pub(crate) async fn app_process_next(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    let (caller, instance) = match authorized_instance(&shared, &headers, &address, WRITE_SCOPE) {
        Ok(found) => found,
        Err(reject) => return reject.into_response(),
    };
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    if !body.iter().all(u8::is_ascii_whitespace) && serde_json::from_slice::<Value>(&body).is_err()
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON",
        );
    }
    if let Some(conflict) = process_conflict(&instance) {
        return problem(StatusCode::CONFLICT, conflict);
    }
    let issues = validation_issues(&shared, &instance);
    if !issues.is_empty() {
        return problem_with(
            StatusCode::CONFLICT,
            "Validation failed for task",
            "Validation failed for task",
            [("validationIssues", Value::Array(issues))],
        );
    }
    let actor = Actor::Org {
        code: caller.org.clone().unwrap_or_default(),
        org_number: caller.org_number.clone(),
    };
    let (updated, moved) = {
        let mut inner = shared.lock();
        let Some(stored) = inner.instances.get_mut(&instance.guid) else {
            return instance_not_found(address.api, address.party, address.guid);
        };
        // Another request may have moved it since the checks above.
        if let Some(conflict) = process_conflict(stored) {
            return problem(StatusCode::CONFLICT, conflict);
        }
        let moved = stored.advance(OffsetDateTime::now_utc(), &actor);
        (stored.clone(), moved)
    };
    let event_type = match &moved {
        Some(Moved::ToTask(task)) => format!("app.instance.process.movedTo.{task}"),
        Some(Moved::ToEnd) | None => "app.instance.process.completed".to_owned(),
    };
    let seeded = updated.as_seeded();
    let event = events::cloud_event(&shared, &seeded, &event_type);
    let targets = events::publish_event(&shared, event, &updated.org);
    tracing::debug!(%event_type, targets, "process moved");
    json_response(StatusCode::OK, &app_process_state(&updated))
}
