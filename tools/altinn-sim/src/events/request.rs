//! `POST /subscriptions`: the request checks in Altinn's order (altinn-events
//! `SubscriptionController.Post`, then `AppSubscriptionService` or `GenericSubscriptionService`,
//! <https://github.com/Altinn/altinn-events>), with Altinn's messages.
//!
//! ```text
//! endPoint https ── sourceFilter https ── app or generic? ── generic without
//! altinn:events.subscribe: 403, empty body ── resourceFilter a URN ──┬─ app rules
//!                                                                    └─ generic rules
//! ```
//!
//! An *app* subscription has an app resource filter (`urn:altinn:resource:app_…`, any case) or
//! a source filter on an apps host; anything else is *generic* (e.g. Correspondence).

use std::net::IpAddr;

use axum::http::StatusCode;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use url::Url;

use super::{APP_RESOURCE_PREFIX, Subscription, identity};
use crate::authentication::Caller;
use crate::reply::{Reject, text_response, validation_problem};
use crate::state::Shared;

const EVENTS_SUBSCRIBE_SCOPE: &str = "altinn:events.subscribe";
/// How a generic resource's publisher names an organisation as an event's subject.
const ORGANIZATION_SUBJECT_PREFIX: &str = "urn:altinn:organization:identifier-no:";

/// The request body, with property names matched case-insensitively like System.Text.Json's
/// `PropertyNameCaseInsensitive`.
pub(super) struct RequestFields(pub(super) Map<String, Value>);

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

/// What every subscription request carries once the controller's checks passed.
struct Checked {
    end_point: Url,
    source_filter: Option<Url>,
    resource_filter: Option<String>,
    subject_filter: Option<String>,
    alternative_subject_filter: Option<String>,
    type_filter: Option<String>,
    include_subunits: bool,
}

fn bad_request(message: &str) -> Reject {
    Reject::from(text_response(StatusCode::BAD_REQUEST, message))
}

fn not_authorized(resource_filter: &str) -> Reject {
    Reject::from(text_response(
        StatusCode::FORBIDDEN,
        format!("Not authorized to create a subscription for resource {resource_filter}."),
    ))
}

/// `https`, or (simulator only) `http` to a loopback host so tests can run webhooks locally.
pub(super) fn is_allowed_push_url(url: &Url) -> bool {
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

/// `(org, app)` of an app resource URN `urn:altinn:resource:app_{org}_{app}`.
pub(super) fn app_of_resource(resource: &str) -> Option<(&str, &str)> {
    let rest = resource.strip_prefix(APP_RESOURCE_PREFIX)?;
    let (org, app) = rest.split_once('_')?;
    (!org.is_empty() && !app.is_empty()).then_some((org, app))
}

/// Altinn's app test: case-insensitive prefix.
fn is_app_resource(resource: &str) -> bool {
    resource
        .get(..APP_RESOURCE_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(APP_RESOURCE_PREFIX))
}

pub(super) fn is_urn(value: &str) -> bool {
    let mut parts = value.split(':');
    parts.next().is_some_and(|p| p.eq_ignore_ascii_case("urn"))
        && parts.clone().count() >= 2
        && parts.all(|p| !p.is_empty())
}

/// Validates a subscription request and builds the subscription (id 0 until stored).
pub(super) fn subscription_from_request(
    shared: &Shared,
    caller: &Caller,
    fields: &RequestFields,
) -> Result<Subscription, Reject> {
    let end_point = fields
        .string("endPoint")?
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
                .ok_or_else(|| {
                    bad_request("SourceFilter must be an absolute URL with the https scheme.")
                })?,
        ),
    };
    let resource_filter = fields.string("resourceFilter")?;
    // The simulator serves apps on its own host, so "an apps host" is that host.
    let is_app = resource_filter.as_deref().is_some_and(is_app_resource)
        || source_filter
            .as_ref()
            .is_some_and(|source| source.host_str() == shared.base_url.host_str());
    if !is_app && !caller.has_scope(EVENTS_SUBSCRIBE_SCOPE) {
        // Altinn's `Forbid()`: no body.
        return Err(StatusCode::FORBIDDEN.into());
    }
    if resource_filter.as_deref().is_some_and(|r| !is_urn(r)) {
        return Err(bad_request("Resource filter must be a valid urn"));
    }
    let checked = Checked {
        end_point,
        source_filter,
        resource_filter,
        subject_filter: fields.string("subjectFilter")?,
        alternative_subject_filter: fields.string("alternativeSubjectFilter")?,
        type_filter: fields.string("typeFilter")?,
        include_subunits: fields.boolean("includeSubunits")?,
    };
    if is_app {
        app_subscription(shared, caller, checked)
    } else {
        generic_subscription(caller, checked)
    }
}

/// `AppSubscriptionService`: the alternative subject becomes `/party/{id}` (and is not
/// stored), then the subject, source and resource checks; the resource is derived from the
/// source when absent.
fn app_subscription(
    shared: &Shared,
    caller: &Caller,
    checked: Checked,
) -> Result<Subscription, Reject> {
    let mut subject_filter = checked.subject_filter.filter(|s| !s.is_empty());
    let alternative = checked.alternative_subject_filter.filter(|s| !s.is_empty());
    if subject_filter.is_none()
        && let Some(alternative) = &alternative
    {
        subject_filter = party_of_alternative_subject(shared, alternative);
    }
    if subject_filter.is_none() && (caller.org.is_none() || alternative.is_some()) {
        return Err(bad_request(
            "A valid subject to the authenticated identity is required",
        ));
    }
    if checked.include_subunits && subject_filter.is_none() {
        return Err(bad_request("IncludeSubunits requires a subject filter."));
    }
    let derived = match &checked.source_filter {
        None => None,
        Some(source) => {
            let segments: Vec<&str> = source.path().split('/').collect();
            match segments.as_slice() {
                ["", org, app] if !org.is_empty() && !app.is_empty() => {
                    Some(format!("{APP_RESOURCE_PREFIX}{org}_{app}"))
                }
                _ => {
                    return Err(bad_request(
                        "A valid app id is required in source filter {environment}/{org}/{app}",
                    ));
                }
            }
        }
    };
    let resource_filter = match (checked.resource_filter, derived) {
        (Some(resource), Some(derived)) if resource != derived => {
            return Err(bad_request(
                "Provided resource filter and source filter are not compatible",
            ));
        }
        (Some(resource), _) => resource,
        (None, Some(derived)) => derived,
        (None, None) => unreachable!("an app subscription has an app resource or an app source"),
    };
    // The XACML check, reduced: an app owner may subscribe to all events of its own apps; a
    // subject filter stands for a party that may read them.
    let owner = app_of_resource(&resource_filter).map(|(org, _)| org);
    if subject_filter.is_none() && caller.org.as_deref() != owner {
        return Err(not_authorized(&resource_filter));
    }
    Ok(new_subscription(
        caller,
        checked.end_point,
        checked.source_filter,
        resource_filter,
        subject_filter,
        checked.type_filter,
        checked.include_subunits,
    ))
}

/// `GenericSubscriptionService`: a resource filter is required, the app-only filters are
/// refused, and the subject filter is kept as written (it must equal the event's `subject`,
/// e.g. `urn:altinn:organization:identifier-no:{orgno}`).
fn generic_subscription(caller: &Caller, checked: Checked) -> Result<Subscription, Reject> {
    let Some(resource_filter) = checked.resource_filter.filter(|r| !r.is_empty()) else {
        return Err(bad_request("Resource filter is required."));
    };
    if checked.source_filter.is_some() {
        return Err(bad_request(
            "Source filter is not supported for subscriptions on this resource.",
        ));
    }
    if checked
        .alternative_subject_filter
        .is_some_and(|s| !s.is_empty())
    {
        return Err(bad_request(
            "AlternativeSubject filter is not supported for subscriptions on this resource.",
        ));
    }
    let subject_filter = checked.subject_filter.filter(|s| !s.is_empty());
    if checked.include_subunits && subject_filter.is_none() {
        return Err(bad_request("IncludeSubunits requires a subject filter."));
    }
    // The XACML `subscribe` check, reduced (the simulator has no resource policies): a service
    // owner may subscribe to any resource; an organisation only to events about itself.
    let own_subject = caller
        .org_number
        .as_ref()
        .map(|number| format!("{ORGANIZATION_SUBJECT_PREFIX}{number}"));
    if caller.org.is_none() && (subject_filter.is_none() || subject_filter != own_subject) {
        return Err(not_authorized(&resource_filter));
    }
    Ok(new_subscription(
        caller,
        checked.end_point,
        None,
        resource_filter,
        subject_filter,
        checked.type_filter,
        checked.include_subunits,
    ))
}

fn new_subscription(
    caller: &Caller,
    end_point: Url,
    source_filter: Option<Url>,
    resource_filter: String,
    subject_filter: Option<String>,
    type_filter: Option<String>,
    include_subunits: bool,
) -> Subscription {
    let consumer = identity(caller);
    Subscription {
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
    }
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

/// Whether a generic-resource event may reach `consumer` (the XACML check on delivery,
/// reduced): the resource's owner org, or the organisation the event is about.
pub(super) fn may_receive_generic(consumer: &str, owner: &str, subject: Option<&str>) -> bool {
    if consumer == format!("/org/{owner}") {
        return true;
    }
    let about = subject.and_then(|s| s.strip_prefix(ORGANIZATION_SUBJECT_PREFIX));
    consumer
        .strip_prefix("/organisation/")
        .is_some_and(|number| about == Some(number))
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
        assert!(is_app_resource("URN:ALTINN:RESOURCE:APP_ttd_x"));
        assert!(!is_app_resource("urn:altinn:resource:ap"));
        assert!(is_urn("urn:altinn:resource:x"));
        assert!(!is_urn("urn:"));
        assert!(!is_urn("not a urn"));
    }

    #[test]
    fn generic_events_reach_the_owner_or_the_organisation_they_are_about() {
        let about = Some("urn:altinn:organization:identifier-no:910000001");
        assert!(may_receive_generic("/org/ttd", "ttd", about));
        assert!(!may_receive_generic("/org/skd", "ttd", about));
        assert!(may_receive_generic("/organisation/910000001", "ttd", about));
        assert!(!may_receive_generic(
            "/organisation/910000002",
            "ttd",
            about
        ));
        assert!(!may_receive_generic("/organisation/910000001", "ttd", None));
    }
}
