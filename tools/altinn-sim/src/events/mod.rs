//! Altinn Events (<https://docs.altinn.studio/events/>): the subscription API, the validation
//! event sent to a new subscription's endpoint, and pushing events to webhooks with Altinn's
//! retry schedule. The subscription API is here, delivery in [`push`].

mod push;

pub(crate) use push::{cloud_event, instance_source, publish_event, start_validation};

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use url::Url;

use crate::authentication::{Caller, authenticate};
use crate::dialect::timestamp;
use crate::reply::{Reject, json_response, text_response, validation_problem};
use crate::state::Shared;

const APP_RESOURCE_PREFIX: &str = "urn:altinn:resource:app_";
const EVENTS_SUBSCRIBE_SCOPE: &str = "altinn:events.subscribe";

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

    /// Altinn's matching: resource equal, subject and type filters absent or equal, and
    /// validated. The XACML check that follows is reduced to "the consumer is the app owner org".
    fn matches(&self, event: &Value, app_owner: &str) -> bool {
        let field = |name: &str| event.get(name).and_then(Value::as_str);
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
            && self.consumer == format!("/org/{app_owner}")
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

fn bad_request(message: &str) -> Reject {
    Reject::from(text_response(StatusCode::BAD_REQUEST, message))
}

/// `https`, or (simulator only) `http` to a loopback host so tests can run webhooks locally.
fn is_allowed_push_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// The request body, with property names matched case-insensitively like System.Text.Json's
/// `PropertyNameCaseInsensitive`.
struct RequestFields(Map<String, Value>);

impl RequestFields {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<String>, Reject> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => {
                Err(validation_problem(&format!("$.{name}"), "The value is not a string.").into())
            }
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, Reject> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => {
                Err(validation_problem(&format!("$.{name}"), "The value is not a boolean.").into())
            }
        }
    }
}

/// `(org, app)` of an app resource URN `urn:altinn:resource:app_{org}_{app}`.
fn app_of_resource(resource: &str) -> Option<(&str, &str)> {
    let rest = resource.strip_prefix(APP_RESOURCE_PREFIX)?;
    let (org, app) = rest.split_once('_')?;
    (!org.is_empty() && !app.is_empty()).then_some((org, app))
}

fn is_urn(value: &str) -> bool {
    let mut parts = value.split(':');
    parts.next().is_some_and(|p| p.eq_ignore_ascii_case("urn"))
        && parts.clone().count() >= 2
        && parts.all(|p| !p.is_empty())
}

/// Validates a subscription request and builds the subscription (id 0 until stored).
fn subscription_from_request(
    shared: &Shared,
    caller: &Caller,
    fields: &RequestFields,
) -> Result<Subscription, Reject> {
    let end_point = fields.string("endPoint")?;
    let end_point = end_point
        .as_deref()
        .and_then(|e| Url::parse(e).ok())
        .filter(is_allowed_push_url)
        .ok_or_else(|| bad_request("Missing or invalid endpoint to push events towards"))?;

    let source_filter = match fields.string("sourceFilter")? {
        None => None,
        Some(source) => Some(
            Url::parse(&source)
                .ok()
                .filter(is_allowed_push_url)
                .ok_or_else(|| bad_request("SourceFilter must be an absolute URI"))?,
        ),
    };
    // The simulator serves apps on its own host, so "an apps host" is that host.
    let app_from_source = match &source_filter {
        Some(source) if source.host_str() == shared.base_url.host_str() => {
            let segments: Vec<&str> = source.path().trim_matches('/').split('/').collect();
            match segments.as_slice() {
                [org, app]
                    if !org.is_empty() && !app.is_empty() && !source.path().ends_with('/') =>
                {
                    Some(format!("{APP_RESOURCE_PREFIX}{org}_{app}"))
                }
                _ => {
                    return Err(bad_request(
                        "A valid app id is required in source filter {environment}/{org}/{app}",
                    ));
                }
            }
        }
        _ => None,
    };

    let resource_filter = match (fields.string("resourceFilter")?, app_from_source) {
        (Some(resource), _) if !is_urn(&resource) => {
            return Err(bad_request("Resource filter must be a valid URN"));
        }
        (Some(resource), Some(derived)) if resource != derived => {
            return Err(bad_request(
                "Provided resource filter and source filter are not compatible",
            ));
        }
        (Some(resource), _) => resource,
        (None, Some(derived)) => derived,
        (None, None) => return Err(bad_request("A valid resource filter is required")),
    };

    let mut subject_filter = fields.string("subjectFilter")?;
    if subject_filter.is_none()
        && let Some(alternative) = fields.string("alternativeSubjectFilter")?
    {
        subject_filter = party_of_alternative_subject(shared, &alternative);
        if subject_filter.is_none() {
            return Err(bad_request(
                "A valid subject to the authenticated identity is required",
            ));
        }
    }
    if subject_filter.is_none() && caller.org.is_none() {
        return Err(bad_request(
            "A valid subject to the authenticated identity is required",
        ));
    }
    let include_subunits = fields.boolean("includeSubunits")?;
    if include_subunits && subject_filter.is_none() {
        return Err(bad_request("includeSubunits requires a subject filter"));
    }
    let type_filter = fields.string("typeFilter")?;

    let not_authorized = || {
        Reject::from(text_response(
            StatusCode::FORBIDDEN,
            format!("Not authorized to create a subscription for resource {resource_filter}"),
        ))
    };
    match app_of_resource(&resource_filter) {
        // An app owner may subscribe to all events of its own apps without a subject.
        Some((org, _)) => {
            if subject_filter.is_none() && caller.org.as_deref() != Some(org) {
                return Err(not_authorized());
            }
        }
        None => {
            if !caller.has_scope(EVENTS_SUBSCRIBE_SCOPE) {
                return Err(not_authorized());
            }
        }
    }

    let consumer = identity(caller);
    Ok(Subscription {
        id: 0,
        end_point: end_point.to_string(),
        source_filter: source_filter.map(|s| s.to_string()),
        resource_filter,
        subject_filter,
        type_filter,
        created_by: consumer.clone(),
        consumer,
        created: OffsetDateTime::now_utc(),
        validated: false,
        include_subunits,
    })
}

/// `/person/{ssn}` → `/party/{id}` for the seeded instance owners (the simulator's register).
fn party_of_alternative_subject(shared: &Shared, alternative: &str) -> Option<String> {
    let person = alternative.strip_prefix("/person/")?;
    shared
        .lock()
        .instances
        .values()
        .find(|i| i.person_number == person)
        .map(|i| format!("/party/{}", i.party_id))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_urls_are_https_or_loopback_http() {
        let ok = |u: &str| is_allowed_push_url(&Url::parse(u).expect("url"));
        assert!(ok("https://example.com/hook"));
        assert!(ok("http://127.0.0.1:8080/hook"));
        assert!(ok("http://[::1]:8080/hook"));
        assert!(ok("http://localhost/hook"));
        assert!(!ok("http://example.com/hook"));
        assert!(!ok("http://10.0.0.1/hook"));
        assert!(!ok("ftp://example.com/hook"));
    }

    #[test]
    fn app_resources_and_urns() {
        assert_eq!(
            app_of_resource("urn:altinn:resource:app_ttd_my-app"),
            Some(("ttd", "my-app"))
        );
        assert_eq!(app_of_resource("urn:altinn:resource:app_ttd"), None);
        assert_eq!(
            app_of_resource("urn:altinn:resource:skd-korrespondanse"),
            None
        );
        assert!(is_urn("urn:altinn:resource:x"));
        assert!(!is_urn("urn:"));
        assert!(!is_urn("not a urn"));
    }
}
