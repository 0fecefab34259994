//! CloudEvents as Altinn Events delivers them, what kind of event each one is, and the strict
//! parsing of an app event's `source` ([Altinn Events](https://github.com/Altinn/altinn-events)).
//!
//! The webhook receives events with no authentication from Altinn (Events sends none), so
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

mod json;
mod kind;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use kind::{CorrespondenceRef, EventKind, InstanceRef, SourceError};

use json::TopLevel;

/// The event type Altinn sends to a new subscription's endpoint.
pub const VALIDATE_SUBSCRIPTION: &str = "platform.events.validatesubscription";
/// The app event that means "the instance's process reached its end": the one we archive.
pub const PROCESS_COMPLETED: &str = "app.instance.process.completed";
/// Prefix of the event an app publishes when its process enters a task:
/// `app.instance.process.movedTo.{taskId}`, e.g. `…movedTo.Task_2`.
pub const PROCESS_MOVED_TO_PREFIX: &str = "app.instance.process.movedTo.";
/// Prefix of every Correspondence event type.
pub const CORRESPONDENCE_PREFIX: &str = "no.altinn.correspondence.";
/// Prefix of every app event type (`app.instance.created`, …).
pub const APP_EVENT_PREFIX: &str = "app.";
/// Prefix of an app's `resource`: `urn:altinn:resource:app_{org}_{app}`.
pub const APP_RESOURCE_PREFIX: &str = "urn:altinn:resource:app_";
/// The largest request body [`CloudEvent::parse`] accepts. The webhook can use it to stop
/// reading a body early.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The event type an app publishes when its process enters `task_id`.
pub fn process_moved_to(task_id: &str) -> String {
    format!("{PROCESS_MOVED_TO_PREFIX}{task_id}")
}

/// True for a BPMN task id as Altinn apps name them (`Task_2`, `Feedback-1`): an XML name of
/// ASCII letters, digits, `_`, `-` and `.`, starting with a letter or `_`, at most 100 long. Such
/// an id can neither widen an event-type match nor steer anything it is pasted into.
pub fn is_valid_task_id(task_id: &str) -> bool {
    let mut bytes = task_id.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && task_id.len() <= 100
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

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
