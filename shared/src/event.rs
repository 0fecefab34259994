//! CloudEvents as Altinn Events delivers them, what kind of event each one is, and the strict
//! parsing of an app event's `source` (see reference §3 and §9).
//!
//! The webhook receives events with no authentication from Altinn (§3.4), so
//! [`CloudEvent::parse`] treats the body as hostile: it never panics, rejects anything that is
//! not a well-formed CloudEvent 1.0 JSON object, and its errors are short and never echo the
//! input. [`CloudEvent::classify`] then decides what the event is about, and for app events
//! runs the strict `source` parser of [`Allowlist::parse_app_source`].
//!
//! # Limits
//!
//! | what | limit | why |
//! |---|---|---|
//! | body | [`MAX_BODY_BYTES`] (64 KiB) | Altinn's events are well under 2 KiB; the body also has to fit an SQS message |
//! | `id`, `type`, `datacontenttype` | 256 bytes | `id` becomes part of an S3 key (at most 1024 bytes in all) |
//! | `source`, `subject`, `alternativesubject`, `resource`, `resourceinstance`, `dataschema` | 2048 bytes | the common practical URL limit |
//! | `time` | 64 bytes | an RFC 3339 timestamp is about 35 |
//! | `specversion` | 16 bytes | it must be `"1.0"` anyway |
//!
//! Lengths are counted in bytes of UTF-8, so a limit is never looser than the same number of
//! characters. Known string attributes must not contain control characters (they end up in
//! log lines). A JSON `null` counts as an absent attribute.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::environment::Allowlist;

/// The event type Altinn sends to a new subscription's endpoint.
pub const VALIDATE_SUBSCRIPTION: &str = "platform.events.validatesubscription";
/// The app event that means "the instance's process reached its end": the one we archive.
pub const PROCESS_COMPLETED: &str = "app.instance.process.completed";
/// Prefix of every Correspondence event type.
pub const CORRESPONDENCE_PREFIX: &str = "no.altinn.correspondence.";
/// Prefix of every app event type (`app.instance.created`, …).
pub const APP_EVENT_PREFIX: &str = "app.";
/// Prefix of an app's `resource`: `urn:altinn:resource:app_{org}_{app}`.
pub const APP_RESOURCE_PREFIX: &str = "urn:altinn:resource:app_";
/// The largest request body [`CloudEvent::parse`] accepts. The webhook can use it to stop
/// reading a body early.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const MAX_ID_LEN: usize = 256;
const MAX_TYPE_LEN: usize = 256;
const MAX_URI_LEN: usize = 2048;
const MAX_TIME_LEN: usize = 64;
const MAX_SPECVERSION_LEN: usize = 16;
const MAX_CONTENT_TYPE_LEN: usize = 256;

/// Longest attribute name echoed back in [`EventError::DuplicateAttribute`]; longer or odd
/// names are replaced by a placeholder so the error never carries arbitrary input.
const MAX_ECHOED_NAME_LEN: usize = 32;

/// A CloudEvent 1.0 in structured JSON mode, with every attribute Altinn sends.
/// Unknown attributes are kept in `extensions` (and written back on serialization).
///
/// Build one from untrusted bytes with [`CloudEvent::parse`]; the `Deserialize` impl does no
/// validation and is meant for events this system has already parsed (e.g. read back from SQS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Event id, a GUID set by Altinn Events. Use it for de-duplication.
    pub id: String,
    /// For app events `https://{org}.apps.{domain}/{org}/{app}/instances/{partyId}/{guid}`.
    pub source: String,
    /// Always `"1.0"`.
    pub specversion: String,
    /// Event type, e.g. [`PROCESS_COMPLETED`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// For app events `/party/{partyId}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `/org/{orgno}` or `/person/{ssn}` for app events; may be personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternativesubject: Option<String>,
    /// RFC 3339 time set by Altinn Events; absent on the validation event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// For app events `urn:altinn:resource:app_{org}_{app}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// For app events `{partyId}/{instanceGuid}`; for Correspondence events an id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resourceinstance: Option<String>,
    /// Media type of `data`; absent for app events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    /// Schema of `data`; absent for app events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataschema: Option<String>,
    /// Event payload; absent for app and Correspondence events, accepted and ignored otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Attributes this crate does not know; tolerated and preserved.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

/// Why a request body is not an acceptable CloudEvent. `Display` is a short, precise message
/// fit for a problem+json `detail` (it never echoes large or secret input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is empty or only whitespace.
    #[error("body is empty")]
    Empty,
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The body is not UTF-8.
    #[error("body is not valid UTF-8")]
    NotUtf8,
    /// The body is not JSON; the text says where (line and column), never what.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("a CloudEvent must be a JSON object")]
    NotAnObject,
    /// A top-level attribute appears twice (serde_json would silently keep the last one).
    #[error("attribute `{0}` appears more than once")]
    DuplicateAttribute(String),
    /// An object inside the attribute (e.g. in `data`) has a duplicated key.
    #[error("attribute `{0}` contains an object with a duplicated key")]
    DuplicateNestedKey(String),
    /// A required attribute is absent or `null`.
    #[error("required attribute `{0}` is missing")]
    MissingAttribute(&'static str),
    /// An attribute has the wrong JSON type.
    #[error("attribute `{attribute}` must be {expected}")]
    WrongType {
        /// The attribute name.
        attribute: String,
        /// What it must be, e.g. "a string".
        expected: &'static str,
    },
    /// A string attribute is `""`.
    #[error("attribute `{0}` must not be empty")]
    EmptyAttribute(&'static str),
    /// A string attribute is longer than its limit (see the module docs).
    #[error("attribute `{0}` is too long")]
    TooLong(&'static str),
    /// A string attribute contains control characters (newlines, escapes, …).
    #[error("attribute `{0}` must not contain control characters")]
    ControlCharacters(&'static str),
    /// `specversion` is not `"1.0"`.
    #[error("specversion must be \"1.0\"")]
    UnsupportedSpecVersion,
}

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
    /// Parses and validates a request body: UTF-8, JSON object, no duplicated attributes,
    /// `id`, `source`, `type` and `specversion` present, non-empty strings, `specversion` "1.0",
    /// the optional string attributes strings when present.
    ///
    /// Checks run in this order and the first failure is returned: size, UTF-8, JSON syntax,
    /// object, duplicated keys (top level, then nested), `id`, `source`, `specversion`, `type`,
    /// then the optional attributes. See the module docs for the limits.
    pub fn parse(body: &[u8]) -> Result<CloudEvent, EventError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(EventError::TooLarge);
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(EventError::Empty);
        }
        let text = std::str::from_utf8(body).map_err(|_| EventError::NotUtf8)?;
        let top_level = serde_json::from_str::<TopLevel>(text).map_err(describe_json_error)?;
        let mut attributes = match top_level {
            TopLevel::Object(map) => map,
            TopLevel::NotAnObject => return Err(EventError::NotAnObject),
            TopLevel::Duplicate(name) => return Err(EventError::DuplicateAttribute(name)),
            TopLevel::NestedDuplicate(name) => return Err(EventError::DuplicateNestedKey(name)),
        };

        let id = take_required(&mut attributes, "id", MAX_ID_LEN)?;
        let source = take_required(&mut attributes, "source", MAX_URI_LEN)?;
        let specversion = take_required(&mut attributes, "specversion", MAX_SPECVERSION_LEN)?;
        if specversion != "1.0" {
            return Err(EventError::UnsupportedSpecVersion);
        }
        let event_type = take_required(&mut attributes, "type", MAX_TYPE_LEN)?;
        let subject = take_optional(&mut attributes, "subject", MAX_URI_LEN)?;
        let alternativesubject = take_optional(&mut attributes, "alternativesubject", MAX_URI_LEN)?;
        let time = take_optional(&mut attributes, "time", MAX_TIME_LEN)?;
        let resource = take_optional(&mut attributes, "resource", MAX_URI_LEN)?;
        let resourceinstance = take_optional(&mut attributes, "resourceinstance", MAX_URI_LEN)?;
        let datacontenttype =
            take_optional(&mut attributes, "datacontenttype", MAX_CONTENT_TYPE_LEN)?;
        let dataschema = take_optional(&mut attributes, "dataschema", MAX_URI_LEN)?;
        let data = attributes.remove("data").filter(|value| !value.is_null());

        Ok(CloudEvent {
            id,
            source,
            specversion,
            event_type,
            subject,
            alternativesubject,
            time,
            resource,
            resourceinstance,
            datacontenttype,
            dataschema,
            data,
            extensions: attributes,
        })
    }

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

/// A short description of a JSON error that never quotes the input: serde_json's syntax and
/// end-of-input messages are fixed texts with a line and column; data errors can quote
/// values, so they get a generic text.
fn describe_json_error(error: serde_json::Error) -> EventError {
    use serde_json::error::Category;
    let text = match error.classify() {
        Category::Syntax | Category::Eof => error.to_string(),
        Category::Data | Category::Io => {
            format!(
                "unexpected content at line {} column {}",
                error.line(),
                error.column()
            )
        }
    };
    EventError::NotJson(text)
}

/// Removes a required string attribute and checks it.
fn take_required(
    attributes: &mut Map<String, Value>,
    name: &'static str,
    max_len: usize,
) -> Result<String, EventError> {
    take_optional(attributes, name, max_len)?.ok_or(EventError::MissingAttribute(name))
}

/// Removes an optional string attribute and checks it; `null` counts as absent.
fn take_optional(
    attributes: &mut Map<String, Value>,
    name: &'static str,
    max_len: usize,
) -> Result<Option<String>, EventError> {
    match attributes.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => {
            if value.is_empty() {
                Err(EventError::EmptyAttribute(name))
            } else if value.len() > max_len {
                Err(EventError::TooLong(name))
            } else if value.chars().any(char::is_control) {
                Err(EventError::ControlCharacters(name))
            } else {
                Ok(Some(value))
            }
        }
        Some(_) => Err(EventError::WrongType {
            attribute: name.to_owned(),
            expected: "a string",
        }),
    }
}

/// An attribute name fit to appear in an error: CloudEvents names (`[a-z0-9]`) up to
/// [`MAX_ECHOED_NAME_LEN`] bytes, anything else a placeholder.
fn echoable_name(name: String) -> String {
    let plain = !name.is_empty()
        && name.len() <= MAX_ECHOED_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if plain {
        name
    } else {
        "(unprintable name)".to_owned()
    }
}

/// The outcome of reading the top level of a body, in one pass.
enum TopLevel {
    Object(Map<String, Value>),
    NotAnObject,
    /// The first top-level name seen twice.
    Duplicate(String),
    /// The first top-level attribute whose value has an object with a duplicated key.
    NestedDuplicate(String),
}

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

/// Reads the top-level value. A non-object is drained and reported, not an error, so that
/// serde_json's own errors are all about syntax.
struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }
    fn visit_unit<E>(self) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::NotAnObject)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut attributes = Map::new();
        let mut problem = None;
        while let Some(name) = map.next_key::<String>()? {
            if problem.is_some() {
                // Keep reading so a syntax error later in the body still wins.
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let mut nested_duplicate = false;
            let value = map.next_value_seed(CheckedValue {
                nested_duplicate: &mut nested_duplicate,
            })?;
            if attributes.contains_key(&name) {
                problem = Some(TopLevel::Duplicate(echoable_name(name)));
            } else if nested_duplicate {
                problem = Some(TopLevel::NestedDuplicate(echoable_name(name)));
            } else {
                attributes.insert(name, value);
            }
        }
        Ok(problem.unwrap_or(TopLevel::Object(attributes)))
    }
}

/// Builds a [`Value`] like serde_json does, but notes objects with duplicated keys instead of
/// silently keeping the last one.
struct CheckedValue<'a> {
    nested_duplicate: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for CheckedValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CheckedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }
    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(CheckedValue {
            nested_duplicate: &mut *self.nested_duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(CheckedValue {
                nested_duplicate: &mut *self.nested_duplicate,
            })?;
            if seen.insert(key.clone()) {
                object.insert(key, value);
            } else {
                *self.nested_duplicate = true;
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::AltinnEnvironment;
    use serde_json::json;

    const SOURCE: &str = "https://ttd.apps.at23.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd";

    /// The real example from reference §3.1.
    fn app_event() -> Value {
        json!({
            "specversion": "1.0",
            "id": "8c3e1b5a-1f62-4f5e-9a39-0c9f0a4b2d11",
            "time": "2024-05-02T09:31:12.1234567Z",
            "type": "app.instance.process.completed",
            "source": SOURCE,
            "resource": "urn:altinn:resource:app_ttd_apps-test",
            "resourceinstance": "50660768/428a4575-2c04-4400-89a3-1aaadd2579cd",
            "subject": "/party/50660768",
            "alternativesubject": "/person/07837399275"
        })
    }

    fn with(mut event: Value, name: &str, value: Value) -> Vec<u8> {
        event
            .as_object_mut()
            .unwrap()
            .insert(name.to_owned(), value);
        serde_json::to_vec(&event).unwrap()
    }

    fn without(mut event: Value, name: &str) -> Vec<u8> {
        event.as_object_mut().unwrap().remove(name);
        serde_json::to_vec(&event).unwrap()
    }

    fn at23() -> Allowlist {
        Allowlist::new(
            AltinnEnvironment::parse("at23", None, None).unwrap(),
            Some("ttd".into()),
        )
    }

    #[test]
    fn parses_the_reference_app_event() {
        let event = CloudEvent::parse(&serde_json::to_vec(&app_event()).unwrap()).unwrap();
        assert_eq!(event.id, "8c3e1b5a-1f62-4f5e-9a39-0c9f0a4b2d11");
        assert_eq!(event.source, SOURCE);
        assert_eq!(event.specversion, "1.0");
        assert_eq!(event.event_type, PROCESS_COMPLETED);
        assert_eq!(event.subject.as_deref(), Some("/party/50660768"));
        assert_eq!(
            event.alternativesubject.as_deref(),
            Some("/person/07837399275")
        );
        assert_eq!(event.time.as_deref(), Some("2024-05-02T09:31:12.1234567Z"));
        assert_eq!(
            event.resource.as_deref(),
            Some("urn:altinn:resource:app_ttd_apps-test")
        );
        assert_eq!(
            event.resourceinstance.as_deref(),
            Some("50660768/428a4575-2c04-4400-89a3-1aaadd2579cd")
        );
        assert_eq!(event.data, None);
        assert!(event.extensions.is_empty());

        let kind = event.classify(&at23()).unwrap();
        let EventKind::AppInstance {
            instance,
            event_type,
        } = kind
        else {
            panic!("expected an app event, got {kind:?}");
        };
        assert_eq!(event_type, PROCESS_COMPLETED);
        assert_eq!(instance.app_id(), "ttd/apps-test");
        assert_eq!(
            instance.instance_id(),
            "50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"
        );
        assert_eq!(instance.resource(), "urn:altinn:resource:app_ttd_apps-test");
    }

    #[test]
    fn parses_the_validation_event_and_finds_the_subscription_id() {
        let body = br#"{"specversion":"1.0","id":"694caa35-8b25-4cd7-b800-f6eeb93c56ed",
            "source":"https://platform.altinn.no/events/api/v1/subscriptions/1234",
            "type":"platform.events.validatesubscription"}"#;
        let event = CloudEvent::parse(body).unwrap();
        assert_eq!(event.time, None);
        assert_eq!(
            event.classify(&at23()),
            Ok(EventKind::SubscriptionValidation {
                subscription_id: Some("1234".into())
            })
        );
        for (source, expected) in [
            (
                "https://platform.altinn.no/events/api/v1/subscriptions/",
                None,
            ),
            (
                "https://platform.altinn.no/events/api/v1/subscriptions/abc",
                None,
            ),
            ("not a url", None),
            (
                "https://platform.tt02.altinn.no/events/api/v1/subscriptions/77",
                Some("77"),
            ),
        ] {
            let mut event = event.clone();
            event.source = source.into();
            assert_eq!(
                event.classify(&at23()),
                Ok(EventKind::SubscriptionValidation {
                    subscription_id: expected.map(Into::into)
                }),
                "{source}"
            );
        }
    }

    #[test]
    fn keeps_unknown_attributes_and_generic_data() {
        let body = with(app_event(), "traceparent", json!("00-abc-def-01"));
        let event = CloudEvent::parse(&body).unwrap();
        assert_eq!(
            event.extensions.get("traceparent"),
            Some(&json!("00-abc-def-01"))
        );

        let mut generic = app_event();
        let object = generic.as_object_mut().unwrap();
        object.insert("type".into(), json!("platform.something.happened"));
        object.insert(
            "data".into(),
            json!({"a": [1, 2.5, {"b": null}], "c": true}),
        );
        object.insert("datacontenttype".into(), json!("application/json"));
        object.insert("dataschema".into(), json!("https://example.test/schema"));
        object.insert("Weird-Name".into(), json!(42));
        let event = CloudEvent::parse(&serde_json::to_vec(&generic).unwrap()).unwrap();
        assert_eq!(
            event.data,
            Some(json!({"a": [1, 2.5, {"b": null}], "c": true}))
        );
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(event.extensions.get("Weird-Name"), Some(&json!(42)));

        // Serialization writes every attribute back, and parses to the same event.
        let again = CloudEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(again, event);
        assert_eq!(serde_json::to_value(&event).unwrap(), generic);
    }

    #[test]
    fn null_optional_attributes_count_as_absent() {
        let mut event = app_event();
        for name in [
            "subject",
            "alternativesubject",
            "time",
            "datacontenttype",
            "dataschema",
            "data",
        ] {
            event
                .as_object_mut()
                .unwrap()
                .insert(name.into(), Value::Null);
        }
        let parsed = CloudEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert_eq!(parsed.subject, None);
        assert_eq!(parsed.time, None);
        assert_eq!(parsed.data, None);
        assert!(parsed.extensions.is_empty());
    }

    #[test]
    fn rejects_malformed_bodies_with_the_exact_error() {
        use EventError::*;
        let long = |n: usize| json!("x".repeat(n));
        let cases: Vec<(Vec<u8>, EventError)> = vec![
            (b"".to_vec(), Empty),
            (b" \n\t ".to_vec(), Empty),
            (vec![b' '; MAX_BODY_BYTES + 1], TooLarge),
            (b"{\"id\":\"\xff\"}".to_vec(), NotUtf8),
            (b"\xef\xbb\xbf{}".to_vec(), NotJson("expected value at line 1 column 1".into())),
            (b"{".to_vec(), NotJson("EOF while parsing an object at line 1 column 1".into())),
            (b"{} {}".to_vec(), NotJson("trailing characters at line 1 column 4".into())),
            (b"{\"id\":\"a\",}".to_vec(), NotJson("trailing comma at line 1 column 11".into())),
            (b"[1,2]".to_vec(), NotAnObject),
            (b"\"event\"".to_vec(), NotAnObject),
            (b"null".to_vec(), NotAnObject),
            (b"12".to_vec(), NotAnObject),
            (b"true".to_vec(), NotAnObject),
            (without(app_event(), "id"), MissingAttribute("id")),
            (without(app_event(), "source"), MissingAttribute("source")),
            (without(app_event(), "specversion"), MissingAttribute("specversion")),
            (without(app_event(), "type"), MissingAttribute("type")),
            (with(app_event(), "id", Value::Null), MissingAttribute("id")),
            (with(app_event(), "id", json!("")), EmptyAttribute("id")),
            (with(app_event(), "source", json!("")), EmptyAttribute("source")),
            (with(app_event(), "type", json!("")), EmptyAttribute("type")),
            (with(app_event(), "specversion", json!("")), EmptyAttribute("specversion")),
            (with(app_event(), "id", json!(12)), WrongType { attribute: "id".into(), expected: "a string" }),
            (with(app_event(), "source", json!({"href": SOURCE})), WrongType { attribute: "source".into(), expected: "a string" }),
            (with(app_event(), "type", json!(["app.x"])), WrongType { attribute: "type".into(), expected: "a string" }),
            (with(app_event(), "specversion", json!(1.0)), WrongType { attribute: "specversion".into(), expected: "a string" }),
            (with(app_event(), "specversion", json!("0.3")), UnsupportedSpecVersion),
            (with(app_event(), "specversion", json!("1.0 ")), UnsupportedSpecVersion),
            (with(app_event(), "subject", json!(5)), WrongType { attribute: "subject".into(), expected: "a string" }),
            (with(app_event(), "alternativesubject", json!(false)), WrongType { attribute: "alternativesubject".into(), expected: "a string" }),
            (with(app_event(), "time", json!(1714642272)), WrongType { attribute: "time".into(), expected: "a string" }),
            (with(app_event(), "resource", json!({})), WrongType { attribute: "resource".into(), expected: "a string" }),
            (with(app_event(), "resourceinstance", json!(50660768)), WrongType { attribute: "resourceinstance".into(), expected: "a string" }),
            (with(app_event(), "datacontenttype", json!([])), WrongType { attribute: "datacontenttype".into(), expected: "a string" }),
            (with(app_event(), "dataschema", json!(1)), WrongType { attribute: "dataschema".into(), expected: "a string" }),
            (with(app_event(), "subject", json!("")), EmptyAttribute("subject")),
            (with(app_event(), "id", long(257)), TooLong("id")),
            (with(app_event(), "type", long(257)), TooLong("type")),
            (with(app_event(), "source", long(2049)), TooLong("source")),
            (with(app_event(), "specversion", long(17)), TooLong("specversion")),
            (with(app_event(), "resource", long(2049)), TooLong("resource")),
            (with(app_event(), "resourceinstance", long(2049)), TooLong("resourceinstance")),
            (with(app_event(), "subject", long(2049)), TooLong("subject")),
            (with(app_event(), "time", long(65)), TooLong("time")),
            // 129 two-byte characters: within 256 characters, but 258 bytes.
            (with(app_event(), "id", json!("é".repeat(129))), TooLong("id")),
            (with(app_event(), "id", json!("a\nb")), ControlCharacters("id")),
            (with(app_event(), "type", json!("app.x\u{1b}[31m")), ControlCharacters("type")),
            (with(app_event(), "subject", json!("/party/1\r\n")), ControlCharacters("subject")),
            (br#"{"id":"a","id":"b","source":"s","specversion":"1.0","type":"t"}"#.to_vec(), DuplicateAttribute("id".into())),
            (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","type":"t"}"#.to_vec(), DuplicateAttribute("type".into())),
            (br#"{"id":"a","\u0069d":"b","source":"s","specversion":"1.0","type":"t"}"#.to_vec(), DuplicateAttribute("id".into())),
            (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","X-Y":1,"X-Y":2}"#.to_vec(), DuplicateAttribute("(unprintable name)".into())),
            (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","data":{"k":1,"k":2}}"#.to_vec(), DuplicateNestedKey("data".into())),
            (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","data":[{"x":{"k":1,"k":2}}]}"#.to_vec(), DuplicateNestedKey("data".into())),
            // A syntax error after a duplicate still reports the syntax error.
            (br#"{"id":"a","id":"b",}"#.to_vec(), NotJson("trailing comma at line 1 column 20".into())),
        ];
        for (index, (body, expected)) in cases.into_iter().enumerate() {
            assert_eq!(CloudEvent::parse(&body), Err(expected), "case {index}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut body =
            String::from(r#"{"id":"a","source":"s","specversion":"1.0","type":"t","data":"#);
        body.push_str(&"[".repeat(10_000));
        body.push_str(&"]".repeat(10_000));
        body.push('}');
        let err = CloudEvent::parse(body.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, EventError::NotJson(text) if text.starts_with("recursion limit exceeded")),
            "{err:?}"
        );
    }

    #[test]
    fn errors_never_echo_the_input() {
        let marker = "SECRET-MARKER-0123456789";
        let bodies = [
            format!("{{\"id\":\"{marker}"),
            format!("{{\"{marker}\":1,\"{marker}\":2}}"),
            format!("[\"{marker}\"]"),
            format!(
                "{{\"id\":{{\"{marker}\":1}},\"source\":\"s\",\"specversion\":\"1.0\",\"type\":\"t\"}}"
            ),
            format!(
                "{{\"id\":\"a\",\"source\":\"s\",\"specversion\":\"{marker}\",\"type\":\"t\"}}"
            ),
            format!(
                "{{\"id\":\"a\",\"source\":\"s\",\"specversion\":\"1.0\",\"type\":\"t\",\"subject\":\"{}\"}}",
                marker.repeat(100)
            ),
            format!(
                "{{\"id\":\"a\",\"source\":\"s\",\"specversion\":\"1.0\",\"type\":\"t\",\"time\":\"{marker}\n\"}}"
            ),
            format!("{{\"id\":\"a\"}} {marker}"),
            format!("{{\"id\":\"a\",\"x\":{marker}}}"),
        ];
        for body in bodies {
            let err = CloudEvent::parse(body.as_bytes()).unwrap_err();
            let text = err.to_string();
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.len() < 120, "{text}");
        }
    }

    /// Mutates valid events at random (flips, inserts, deletes, truncations) and checks that
    /// parsing never panics, that errors stay short, and that whatever parses survives a
    /// serialization round trip and classifies without panicking.
    #[test]
    fn random_mutations_never_panic() {
        let seeds: Vec<Vec<u8>> = vec![
            serde_json::to_vec(&app_event()).unwrap(),
            with(app_event(), "data", json!({"a": [1, {"b": "c"}], "d": null})),
            br#"{"specversion":"1.0","id":"x","source":"https://platform.altinn.no/events/api/v1/subscriptions/1","type":"platform.events.validatesubscription"}"#.to_vec(),
            br#"{"specversion":"1.0","id":"x","source":"https://platform.altinn.no/correspondence/api/v1/correspondence","type":"no.altinn.correspondence.correspondencepublished","resource":"urn:altinn:resource:r","resourceinstance":"0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00"}"#.to_vec(),
        ];
        let interesting = b"{}[]\",:\\u0000\xff\xc3./@%?#0123456789 \n";
        let allowlists = [at23(), Allowlist::new(AltinnEnvironment::Prod, None)];
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut body = seeds[rng.usize(..seeds.len())].clone();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..=body.len());
                match rng.u8(..4) {
                    0 if at < body.len() => body[at] = interesting[rng.usize(..interesting.len())],
                    1 => body.insert(at, interesting[rng.usize(..interesting.len())]),
                    2 if at < body.len() => {
                        body.remove(at);
                    }
                    _ => body.truncate(at),
                }
            }
            match CloudEvent::parse(&body) {
                Ok(event) => {
                    parsed += 1;
                    let again = CloudEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
                    assert_eq!(again, event);
                    for allowlist in &allowlists {
                        let _kind = event.classify(allowlist);
                    }
                }
                Err(err) => assert!(err.to_string().len() < 120, "{err}"),
            }
        }
        assert!(
            parsed > 100,
            "the mutations should leave some events valid ({parsed})"
        );
    }

    #[test]
    fn classifies_app_events_strictly() {
        let classify = |event: Value| {
            CloudEvent::parse(&serde_json::to_vec(&event).unwrap())
                .unwrap()
                .classify(&at23())
        };
        let cases: Vec<(Value, Result<(), SourceError>)> = vec![
            (app_event(), Ok(())),
            (serde_json::from_slice(&without(app_event(), "resource")).unwrap(), Ok(())),
            (serde_json::from_slice(&without(app_event(), "resourceinstance")).unwrap(), Ok(())),
            (serde_json::from_slice(&with(app_event(), "resource", json!("urn:altinn:resource:app_ttd_other"))).unwrap(), Err(SourceError::ResourceMismatch)),
            (serde_json::from_slice(&with(app_event(), "resource", json!("urn:altinn:app:ttd.apps-test"))).unwrap(), Err(SourceError::ResourceMismatch)),
            (serde_json::from_slice(&with(app_event(), "resourceinstance", json!("428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::ResourceInstanceMismatch)),
            (serde_json::from_slice(&with(app_event(), "resourceinstance", json!("50660769/428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::ResourceInstanceMismatch)),
            (serde_json::from_slice(&with(app_event(), "source", json!("https://evil.example/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::HostNotAllowed)),
            (serde_json::from_slice(&with(app_event(), "source", json!("https://skd.apps.at23.altinn.cloud/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::ForeignOrg)),
        ];
        for (index, (event, expected)) in cases.into_iter().enumerate() {
            let result =
                classify(event).map(|kind| assert!(matches!(kind, EventKind::AppInstance { .. })));
            assert_eq!(result, expected, "case {index}");
        }

        // An event that is not typed `app.` but names an app resource is still checked.
        let mut disguised = app_event();
        disguised["type"] = json!("platform.custom");
        disguised["source"] = json!("https://evil.example/x");
        assert_eq!(classify(disguised), Err(SourceError::HostNotAllowed));
    }

    #[test]
    fn classifies_correspondence_and_other_events() {
        let correspondence = json!({
            "specversion": "1.0",
            "id": "d1c2b3a4-0000-4000-8000-000000000001",
            "time": "2025-01-10T10:00:00Z",
            "type": "no.altinn.correspondence.correspondencepublished",
            "source": "https://platform.altinn.no/correspondence/api/v1/correspondence",
            "resource": "urn:altinn:resource:skd-melding",
            "resourceinstance": "0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00",
            "subject": "urn:altinn:organization:identifier-no:991825827",
            "alternativesubject": "/organisation/991825827"
        });
        let parse = |value: &Value| CloudEvent::parse(&serde_json::to_vec(value).unwrap()).unwrap();
        assert_eq!(
            parse(&correspondence).classify(&at23()),
            Ok(EventKind::Correspondence(CorrespondenceRef {
                resource: "urn:altinn:resource:skd-melding".into(),
                resourceinstance: "0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00".into(),
            }))
        );
        let mut no_resource = correspondence.clone();
        no_resource.as_object_mut().unwrap().remove("resource");
        assert_eq!(
            parse(&no_resource).classify(&at23()),
            Err(SourceError::MissingResource)
        );
        let mut no_instance = correspondence.clone();
        no_instance
            .as_object_mut()
            .unwrap()
            .remove("resourceinstance");
        assert_eq!(
            parse(&no_instance).classify(&at23()),
            Err(SourceError::MissingResourceInstance)
        );

        let mut other = correspondence;
        other["type"] = json!("platform.party.changed");
        assert_eq!(parse(&other).classify(&at23()), Ok(EventKind::Other));
    }
}
