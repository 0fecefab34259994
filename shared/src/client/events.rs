//! The Events API's subscriptions: create, get, list, delete
//! ([Altinn Events](https://github.com/Altinn/altinn-events)).
//!
//! Tokens: a subscription to a generic (non-app) resource is created with
//! [`ScopeSet::EventsGenericResource`] (the only Events call that needs
//! `altinn:events.subscribe`); every other call uses [`ScopeSet::EventsServiceOwner`]. Both make
//! us `/org/{org}` to Events, the identity get, list and delete compare with the creator's.
//! A client made [`AltinnClient::subscribing_as_organisation`] makes every call with
//! [`ScopeSet::EventsOrganisation`] instead: `/organisation/{orgno}`, a Correspondence
//! recipient's identity.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use super::transport::{Call, Payload, parse_json};
use super::{AltinnClient, ClientError};
use crate::auth::ScopeSet;

/// Resource filters of app subscriptions start with this (compared case-insensitively, as
/// Altinn does).
const APP_RESOURCE_PREFIX: &str = "urn:altinn:resource:app_";

/// An Events subscription as Altinn returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Altinn's subscription id.
    pub id: i64,
    /// Where Altinn pushes events. May carry our webhook secret in its query: never log it.
    #[serde(alias = "endpoint")]
    pub end_point: String,
    /// `https://{org}.apps.{domain}/{org}/{app}` for app subscriptions.
    #[serde(default)]
    pub source_filter: Option<String>,
    /// `urn:altinn:resource:app_{org}_{app}` for app subscriptions.
    #[serde(default)]
    pub resource_filter: Option<String>,
    /// `/party/{id}` (apps) or the subject URN (generic resources), when set.
    #[serde(default)]
    pub subject_filter: Option<String>,
    /// One exact event type, when set.
    #[serde(default)]
    pub type_filter: Option<String>,
    /// `/org/{org}` for a service owner.
    #[serde(default)]
    pub consumer: Option<String>,
    /// Who created it (same as `consumer`).
    #[serde(default)]
    pub created_by: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
    /// True once our endpoint answered the validation event with 2xx; only validated
    /// subscriptions receive events.
    #[serde(default)]
    pub validated: bool,
    /// Whether subunits of the subject are included.
    #[serde(default)]
    pub include_subunits: bool,
}

/// A request to create a subscription. `end_point` carries our secret in its query: never log it.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// Absolute https URL Altinn pushes events to.
    pub end_point: String,
    /// App subscriptions only: `https://{org}.apps.{domain}/{org}/{app}`. Altinn refuses it
    /// (400) for generic resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_filter: Option<String>,
    /// `urn:altinn:resource:…`: derived from `source_filter` for apps when absent; required for
    /// generic resources (e.g. `urn:altinn:resource:{correspondence resource}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_filter: Option<String>,
    /// Apps: `/party/{id}`, optional for service owners. Generic resources: the event `subject`
    /// exactly as the publisher writes it, e.g. `urn:altinn:organization:identifier-no:{orgno}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_filter: Option<String>,
    /// App subscriptions only: `/org/{orgno}`, `/organisation/{orgno}` or `/person/{ssn}`,
    /// converted by Altinn. Altinn refuses it (400) for generic resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative_subject_filter: Option<String>,
    /// One exact event type, e.g. `app.instance.process.completed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_filter: Option<String>,
    /// Events of the subject's subunits too; needs `subject_filter`. Sent only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub include_subunits: bool,
}

impl SubscriptionRequest {
    /// Whether Altinn treats this as an app subscription: an app resource filter, or no
    /// resource filter at all (then Altinn derives it from the app's source filter). Anything
    /// else is a generic resource, which needs `altinn:events.subscribe`.
    pub fn is_app_subscription(&self) -> bool {
        match &self.resource_filter {
            None => true,
            Some(resource) => resource
                .get(..APP_RESOURCE_PREFIX.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(APP_RESOURCE_PREFIX)),
        }
    }

    /// The scope set the request is sent with, as the organisation or the service owner.
    fn scope_set(&self, as_organisation: bool) -> ScopeSet {
        ScopeSet::for_subscriptions(as_organisation, !self.is_app_subscription())
    }
}

impl std::fmt::Debug for SubscriptionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRequest")
            .field("end_point", &"[redacted: carries the webhook secret]")
            .field("source_filter", &self.source_filter)
            .field("resource_filter", &self.resource_filter)
            .field("subject_filter", &self.subject_filter)
            .field("type_filter", &self.type_filter)
            .field("include_subunits", &self.include_subunits)
            .finish_non_exhaustive()
    }
}

/// `GET /subscriptions`: `{count, subscriptions}`.
#[derive(Deserialize)]
struct SubscriptionList {
    #[serde(default)]
    subscriptions: Vec<Subscription>,
}

impl AltinnClient {
    /// `POST {platform}events/api/v1/subscriptions`. Altinn returns an identical existing
    /// subscription instead of a duplicate, so retrying is safe. The token is the one for
    /// [`SubscriptionRequest::is_app_subscription`]'s answer: generic resources get the
    /// `altinn:events.subscribe` one.
    pub async fn create_subscription(
        &self,
        request: &SubscriptionRequest,
    ) -> Result<Subscription, ClientError> {
        const OPERATION: &str = "create_subscription";
        let url = self.subscriptions_url(OPERATION, None)?;
        let json = serde_json::to_vec(request).map_err(|e| ClientError::InvalidInput {
            operation: OPERATION,
            reason: e.to_string(),
        })?;
        let call = Call {
            operation: OPERATION,
            method: Method::POST,
            url,
            payload: Payload::Json(json),
            once: false,
        };
        let set = request.scope_set(self.events_as_organisation);
        let body = self.buffered_as(call, set).await?;
        parse_json(OPERATION, &body)
    }

    /// `GET {platform}events/api/v1/subscriptions/{id}`.
    pub async fn get_subscription(&self, id: i64) -> Result<Subscription, ClientError> {
        const OPERATION: &str = "get_subscription";
        let url = self.subscriptions_url(OPERATION, Some(id))?;
        let body = self
            .buffered_as(Call::get(OPERATION, url), self.events_identity())
            .await?;
        parse_json(OPERATION, &body)
    }

    /// `GET {platform}events/api/v1/subscriptions` (unvalidated ones included).
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ClientError> {
        const OPERATION: &str = "list_subscriptions";
        let url = self.subscriptions_url(OPERATION, None)?;
        let body = self
            .buffered_as(Call::get(OPERATION, url), self.events_identity())
            .await?;
        parse_json::<SubscriptionList>(OPERATION, &body).map(|list| list.subscriptions)
    }

    /// `DELETE {platform}events/api/v1/subscriptions/{id}`.
    pub async fn delete_subscription(&self, id: i64) -> Result<(), ClientError> {
        const OPERATION: &str = "delete_subscription";
        let url = self.subscriptions_url(OPERATION, Some(id))?;
        let call = Call {
            operation: OPERATION,
            method: Method::DELETE,
            url,
            payload: Payload::None,
            once: false,
        };
        self.buffered_as(call, self.events_identity())
            .await
            .map(|_| ())
    }

    /// The scope set of get, list and delete: the identity every subscription was made as.
    fn events_identity(&self) -> ScopeSet {
        ScopeSet::for_subscriptions(self.events_as_organisation, false)
    }

    /// `{platform}events/api/v1/subscriptions[/{id}]`.
    fn subscriptions_url(
        &self,
        operation: &'static str,
        id: Option<i64>,
    ) -> Result<Url, ClientError> {
        let id = id.map(|id| id.to_string());
        let mut segments = vec!["events", "api", "v1", "subscriptions"];
        segments.extend(id.as_deref());
        self.platform_url(operation, &segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(resource: Option<&str>, source: Option<&str>) -> SubscriptionRequest {
        SubscriptionRequest {
            end_point: "https://example.test/events?code=hunter2-hunter2".into(),
            resource_filter: resource.map(str::to_owned),
            source_filter: source.map(str::to_owned),
            ..SubscriptionRequest::default()
        }
    }

    #[test]
    fn generic_resources_get_the_events_subscribe_token() {
        let app_source = Some("https://ttd.apps.tt02.altinn.no/ttd/app");
        for (resource, source, set) in [
            (None, app_source, ScopeSet::EventsServiceOwner),
            (
                Some("urn:altinn:resource:app_ttd_app"),
                None,
                ScopeSet::EventsServiceOwner,
            ),
            (
                Some("URN:ALTINN:RESOURCE:APP_ttd_app"),
                None,
                ScopeSet::EventsServiceOwner,
            ),
            (
                Some("urn:altinn:resource:ttd-correspondence"),
                None,
                ScopeSet::EventsGenericResource,
            ),
            (Some("urn:x"), None, ScopeSet::EventsGenericResource),
        ] {
            assert_eq!(
                request(resource, source).scope_set(false),
                set,
                "{resource:?}"
            );
        }
    }

    #[test]
    fn include_subunits_is_sent_only_when_true() {
        let mut generic = request(Some("urn:altinn:resource:r"), None);
        let json = serde_json::to_value(&generic).unwrap();
        assert!(json.get("includeSubunits").is_none(), "{json}");
        generic.subject_filter = Some("urn:altinn:organization:identifier-no:991825827".into());
        generic.include_subunits = true;
        let json = serde_json::to_value(&generic).unwrap();
        assert_eq!(json["includeSubunits"], true);
        assert!(
            json.get("sourceFilter").is_none() && json.get("alternativeSubjectFilter").is_none()
        );
        assert!(!format!("{generic:?}").contains("hunter2"));
    }
}
