//! The Events API's subscriptions: create, get, list, delete
//! ([Altinn Events](https://github.com/Altinn/altinn-events)).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use url::Url;

use super::transport::{Call, Payload, parse_json};
use super::{AltinnClient, ClientError};

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
    /// `/party/{id}`, when set.
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
    /// App subscriptions: `https://{org}.apps.{domain}/{org}/{app}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_filter: Option<String>,
    /// `urn:altinn:resource:…`; derived from `source_filter` for apps when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_filter: Option<String>,
    /// `/party/{id}`; optional for service owners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_filter: Option<String>,
    /// `/org/{orgno}`, `/organisation/{orgno}` or `/person/{ssn}`; converted by Altinn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative_subject_filter: Option<String>,
    /// One exact event type, e.g. `app.instance.process.completed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_filter: Option<String>,
}

impl std::fmt::Debug for SubscriptionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRequest")
            .field("end_point", &"[redacted: carries the webhook secret]")
            .field("source_filter", &self.source_filter)
            .field("resource_filter", &self.resource_filter)
            .field("type_filter", &self.type_filter)
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
    /// subscription instead of a duplicate, so retrying is safe.
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
        };
        let body = self.buffered(call).await?;
        parse_json(OPERATION, &body)
    }

    /// `GET {platform}events/api/v1/subscriptions/{id}`.
    pub async fn get_subscription(&self, id: i64) -> Result<Subscription, ClientError> {
        const OPERATION: &str = "get_subscription";
        let url = self.subscriptions_url(OPERATION, Some(id))?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_json(OPERATION, &body)
    }

    /// `GET {platform}events/api/v1/subscriptions` (unvalidated ones included).
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ClientError> {
        const OPERATION: &str = "list_subscriptions";
        let url = self.subscriptions_url(OPERATION, None)?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
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
        };
        self.buffered(call).await.map(|_| ())
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
