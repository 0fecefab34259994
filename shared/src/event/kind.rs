//! What an event is about: the validation event, an app instance (named by a `source` that
//! passed [`Allowlist::parse_app_source`]), a Correspondence, or something else.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    APP_EVENT_PREFIX, APP_RESOURCE_PREFIX, CORRESPONDENCE_PREFIX, CloudEvent, VALIDATE_SUBSCRIPTION,
};
use crate::environment::Allowlist;

/// Why an app event's `source` (or its `resource`/`resourceinstance`) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Not an absolute URL made of RFC 3986 characters with `scheme://`.
    #[error("source is not an absolute URL")]
    NotAUrl,
    /// A scheme other than (lowercase) `https`.
    #[error("source must use https")]
    NotHttps,
    /// `user@` or `user:password@` before the host.
    #[error("source must not carry user information")]
    UserInfo,
    /// Any explicit port, including `:443`.
    #[error("source must not name a port")]
    Port,
    /// The host is not `{org}.apps.{domain}` of this environment (or, for `local`, the exact
    /// configured apps base).
    #[error("source host is not an Altinn apps host of this environment")]
    HostNotAllowed,
    /// The path is not exactly `/{org}/{app}/instances/{partyId}/{instanceGuid}`.
    #[error("source path must be /{{org}}/{{app}}/instances/{{partyId}}/{{instanceGuid}}")]
    BadPath,
    /// `https://a.apps…/b/…`.
    #[error("org in the source host does not match the org in its path")]
    OrgMismatch,
    /// The allowlist is pinned to our org and the event is another org's.
    #[error("event is for another org than ours")]
    ForeignOrg,
    /// A `?query` or `#fragment`, even an empty one.
    #[error("source must not have a query or fragment")]
    QueryOrFragment,
    /// `resource` is not `urn:altinn:resource:app_{org}_{app}` of the source.
    #[error("resource does not match the source")]
    ResourceMismatch,
    /// `resourceinstance` is not `{partyId}/{instanceGuid}` of the source.
    #[error("resourceinstance does not match the source")]
    ResourceInstanceMismatch,
    /// A Correspondence event without `resource`.
    #[error("event has no resource")]
    MissingResource,
    /// A Correspondence event without `resourceinstance`.
    #[error("event has no resourceinstance")]
    MissingResourceInstance,
}

/// One app instance, identified by the parts of an allowlisted `source`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstanceRef {
    /// The app owner's org code, e.g. `ttd`.
    pub org: String,
    /// The app name, e.g. `apps-test`.
    pub app: String,
    /// The instance owner's party id.
    pub party_id: u64,
    /// The instance guid.
    pub instance_guid: Uuid,
}

impl InstanceRef {
    /// Altinn's instance id: `{partyId}/{instanceGuid}`.
    pub fn instance_id(&self) -> String {
        format!("{}/{}", self.party_id, self.instance_guid)
    }

    /// Altinn's app id: `{org}/{app}`.
    pub fn app_id(&self) -> String {
        format!("{}/{}", self.org, self.app)
    }

    /// The app's resource id as Altinn Events writes it: `urn:altinn:resource:app_{org}_{app}`.
    /// Org codes have no `_`, so the form is unambiguous.
    pub fn resource(&self) -> String {
        format!("{APP_RESOURCE_PREFIX}{}_{}", self.org, self.app)
    }
}

/// A Correspondence event's resource and resource instance (correspondence, attachment or
/// notification order id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrespondenceRef {
    /// `urn:altinn:resource:{resourceId}`.
    pub resource: String,
    /// The correspondence, attachment or notification order id.
    pub resourceinstance: String,
}

/// What an event is, decided by its type and checked against the allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `platform.events.validatesubscription`; `subscription_id` is the last path segment of
    /// its source (`…/events/api/v1/subscriptions/{id}`) when it has one.
    SubscriptionValidation {
        /// The numeric subscription id, when the source ends with one.
        subscription_id: Option<String>,
    },
    /// An app instance event (type `app.…` or resource `urn:altinn:resource:app_…`) whose
    /// source passed the strict checks.
    AppInstance {
        /// The instance named by the source.
        instance: InstanceRef,
        /// The event type, e.g. [`PROCESS_COMPLETED`].
        event_type: String,
    },
    /// A `no.altinn.correspondence.*` event with its resource and resource instance.
    Correspondence(CorrespondenceRef),
    /// Anything else.
    Other,
}

impl CloudEvent {
    /// Classifies the event. App events must pass [`Allowlist::parse_app_source`] and agree
    /// with `resource`/`resourceinstance` when those are present; otherwise `Err`.
    ///
    /// In order: the validation event (by type; its source is not checked, because the
    /// webhook only answers 200 to it and fetches nothing); app events (type `app.…` or an
    /// app resource; an event claiming to be about an app must name one strictly); Correspondence
    /// events (which need `resource` and `resourceinstance`); everything else is
    /// [`EventKind::Other`].
    pub fn classify(&self, allowlist: &Allowlist) -> Result<EventKind, SourceError> {
        if self.event_type == VALIDATE_SUBSCRIPTION {
            return Ok(EventKind::SubscriptionValidation {
                subscription_id: subscription_id_of(&self.source),
            });
        }
        let app_resource = self
            .resource
            .as_deref()
            .is_some_and(|r| r.starts_with(APP_RESOURCE_PREFIX));
        if self.event_type.starts_with(APP_EVENT_PREFIX) || app_resource {
            let instance = allowlist.parse_app_source(&self.source)?;
            if self
                .resource
                .as_ref()
                .is_some_and(|r| *r != instance.resource())
            {
                return Err(SourceError::ResourceMismatch);
            }
            if self
                .resourceinstance
                .as_ref()
                .is_some_and(|r| *r != instance.instance_id())
            {
                return Err(SourceError::ResourceInstanceMismatch);
            }
            return Ok(EventKind::AppInstance {
                instance,
                event_type: self.event_type.clone(),
            });
        }
        if self.event_type.starts_with(CORRESPONDENCE_PREFIX) {
            let resource = self.resource.clone().ok_or(SourceError::MissingResource)?;
            let resourceinstance = self
                .resourceinstance
                .clone()
                .ok_or(SourceError::MissingResourceInstance)?;
            return Ok(EventKind::Correspondence(CorrespondenceRef {
                resource,
                resourceinstance,
            }));
        }
        Ok(EventKind::Other)
    }
}

/// The numeric last path segment of a validation event's source, if any.
fn subscription_id_of(source: &str) -> Option<String> {
    let url = url::Url::parse(source).ok()?;
    let last = url.path_segments()?.next_back()?;
    let numeric = (1..=20).contains(&last.len()) && last.bytes().all(|b| b.is_ascii_digit());
    numeric.then(|| last.to_owned())
}
