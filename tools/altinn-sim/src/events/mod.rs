//! Altinn Events (<https://docs.altinn.studio/events/>): the subscription API, the validation
//! event sent to a new subscription's endpoint, and pushing events to webhooks with Altinn's
//! retry schedule. The subscription API is here, its request checks in [`request`], delivery
//! in [`push`].

mod push;
mod request;

pub(crate) use push::{cloud_event, instance_source, publish_event, start_validation};

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::authentication::{Caller, authenticate};
use crate::dialect::timestamp;
use crate::reply::{Reject, json_response, validation_problem};
use crate::state::Shared;
use request::{RequestFields, app_of_resource, may_receive_generic, subscription_from_request};

const APP_RESOURCE_PREFIX: &str = "urn:altinn:resource:app_";

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub id: i64,
    pub end_point: String,
    pub source_filter: Option<String>,
    pub resource_filter: String,
    pub subject_filter: Option<String>,
    pub type_filter: Option<String>,
    pub consumer: String,
    pub created_by: String,
    pub created: OffsetDateTime,
    pub validated: bool,
    pub include_subunits: bool,
}

impl Subscription {
    /// System.Text.Json, camelCase, nulls omitted.
    pub(crate) fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("id".into(), self.id.into());
        map.insert("endPoint".into(), self.end_point.clone().into());
        if let Some(source) = &self.source_filter {
            map.insert("sourceFilter".into(), source.clone().into());
        }
        map.insert("resourceFilter".into(), self.resource_filter.clone().into());
        if let Some(subject) = &self.subject_filter {
            map.insert("subjectFilter".into(), subject.clone().into());
        }
        if let Some(type_filter) = &self.type_filter {
            map.insert("typeFilter".into(), type_filter.clone().into());
        }
        map.insert("consumer".into(), self.consumer.clone().into());
        map.insert("createdBy".into(), self.created_by.clone().into());
        map.insert("created".into(), timestamp(self.created).into());
        map.insert("validated".into(), self.validated.into());
        map.insert("includeSubunits".into(), self.include_subunits.into());
        Value::Object(map)
    }

    /// Same filters, consumer, endpoint and includeSubunits: Altinn returns the existing one.
    fn same_as(&self, other: &Subscription) -> bool {
        self.resource_filter == other.resource_filter
            && self.source_filter == other.source_filter
            && self.subject_filter == other.subject_filter
            && self.type_filter == other.type_filter
            && self.consumer == other.consumer
            && self.end_point == other.end_point
            && self.include_subunits == other.include_subunits
    }

    /// Altinn's matching: resource equal, subject and type filters absent or equal (subunits
    /// are not modelled: the subject must match exactly), and validated. The XACML check that
    /// follows is reduced: app events reach the app owner org; generic-resource events reach
    /// `owner` (the resource's owner org) and the organisation the event is about.
    fn matches(&self, event: &Value, owner: &str) -> bool {
        let field = |name: &str| event.get(name).and_then(Value::as_str);
        let authorized = if app_of_resource(&self.resource_filter).is_some() {
            self.consumer == format!("/org/{owner}")
        } else {
            may_receive_generic(&self.consumer, owner, field("subject"))
        };
        self.validated
            && field("resource") == Some(self.resource_filter.as_str())
            && self
                .subject_filter
                .as_deref()
                .is_none_or(|s| field("subject") == Some(s))
            && self
                .type_filter
                .as_deref()
                .is_none_or(|t| field("type") == Some(t))
            && authorized
    }
}

/// The identity Events uses for a caller: `/org/{org}` for service-owner tokens.
fn identity(caller: &Caller) -> String {
    match (&caller.org, &caller.org_number) {
        (Some(org), _) => format!("/org/{org}"),
        (None, Some(number)) => format!("/organisation/{number}"),
        (None, None) => "/unknown".to_owned(),
    }
}

/// `POST /events/api/v1/subscriptions`
pub(crate) async fn create_subscription(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(reject) => return reject.into_response(),
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !is_json {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let fields = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => RequestFields(map),
        Ok(_) => return validation_problem("$", "The JSON value must be an object."),
        Err(error) => return validation_problem("$", &format!("Invalid JSON: {error}")),
    };
    let candidate = match subscription_from_request(&shared, &caller, &fields) {
        Ok(subscription) => subscription,
        Err(reject) => return reject.into_response(),
    };
    let subscription = {
        let mut inner = shared.lock();
        let existing = inner
            .subscriptions
            .values()
            .find(|s| s.same_as(&candidate))
            .cloned();
        existing.unwrap_or_else(|| {
            let id = inner.next_subscription_id;
            inner.next_subscription_id += 1;
            let created = Subscription { id, ..candidate };
            inner.subscriptions.insert(id, created.clone());
            created
        })
    };
    // Created or found again: the validation event is (re)sent either way.
    start_validation(&shared, subscription.id);
    let mut response = json_response(StatusCode::CREATED, &subscription.to_json());
    if let Ok(location) =
        HeaderValue::from_str(&format!("/events/api/v1/subscription/{}", subscription.id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `GET /events/api/v1/subscriptions`: the caller's subscriptions, unvalidated ones included.
pub(crate) async fn list_subscriptions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(reject) => return reject.into_response(),
    };
    let consumer = identity(&caller);
    let subscriptions: Vec<Value> = shared
        .lock()
        .subscriptions
        .values()
        .filter(|s| s.consumer == consumer)
        .map(Subscription::to_json)
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"count": subscriptions.len(), "subscriptions": subscriptions}),
    )
}

/// The subscription `id` if the caller created it: 404 (no body) unknown, 403 someone else's.
fn own_subscription(shared: &Shared, caller: &Caller, id: &str) -> Result<Subscription, Reject> {
    let subscription = id
        .parse::<i64>()
        .ok()
        .and_then(|id| shared.lock().subscriptions.get(&id).cloned())
        .ok_or(Reject::from(StatusCode::NOT_FOUND))?;
    if subscription.created_by != identity(caller) {
        return Err(StatusCode::FORBIDDEN.into());
    }
    Ok(subscription)
}

/// `GET /events/api/v1/subscriptions/{id}`
pub(crate) async fn get_subscription(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(reject) => return reject.into_response(),
    };
    match own_subscription(&shared, &caller, &id) {
        Ok(subscription) => json_response(StatusCode::OK, &subscription.to_json()),
        Err(reject) => reject.into_response(),
    }
}

/// `DELETE /events/api/v1/subscriptions/{id}`
pub(crate) async fn delete_subscription(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(reject) => return reject.into_response(),
    };
    match own_subscription(&shared, &caller, &id) {
        Ok(subscription) => {
            shared.lock().subscriptions.remove(&subscription.id);
            StatusCode::OK.into_response()
        }
        Err(reject) => reject.into_response(),
    }
}
