//! The archiver's settings, read once at start-up from the environment (or a map in tests).
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `ARCHIVE_BUCKET` | required | the archive bucket |
//! | `ARCHIVE_PREFIX` | `""` | key prefix; a trailing `/` is added when missing |
//! | `QUEUE_URL` | unset | the source queue; needed to push a failed message's visibility out |
//! | `DEAD_LETTER_QUEUE_URL` | required | where permanent failures go, with the reason attached |
//! | `ARCHIVE_EVENT_TYPES` | `app.instance.process.completed` | event types that archive the instance |
//! | `MESSAGE_CONCURRENCY` | 4 | messages of one batch handled at once |
//! | `ELEMENT_CONCURRENCY` | 4 | data element transfers in flight at once (whole process) |
//! | `PART_SIZE_MIB` | 8 | multipart part size and single-put threshold, 5..=512 |
//! | `DEADLINE_MARGIN_SECS` | 15 | no new work starts when less than this is left of the invocation |
//! | `MAX_RECEIVE_COUNT` | 5 | a transient failure on this receive goes to the DLQ with its reason |
//! | `VISIBILITY_BACKOFF_SECS` | 30 | visibility after the first transient failure: jittered between half and all of it, doubling per receive |
//! | `DOWNLOAD_ATTEMPTS` | 3 | attempts per element when a body is cut short or does not match |
//! | `ALTINN_MAX_ATTEMPTS` | 4 | attempts per Altinn request (the client's own retries) |
//! | `ALTINN_REQUEST_TIMEOUT_SECS` | 30 | per Altinn request; between body chunks for downloads |
//! | `FEEDBACK_TASK` | unset (off) | the app's feedback task (e.g. `Task_2`): on entering it, archive the elements, upload the receipt, move the process on |
//! | `RECEIPT_DATA_TYPE` | unset | the data type of that receipt; set together with `FEEDBACK_TASK` |
//! | `RECEIPT_FORMAT` | `xml` | the receipt document: `xml` or `json` |
//! | `ARCHIVED_SUBSTATUS_LABEL` | unset (off) | the substatus set after the manifest, before `complete` |
//! | `ARCHIVED_SUBSTATUS_DESCRIPTION` | unset | its description (needs the label) |
//! | `CORRESPONDENCE_ROLE` | unset (store events only) | `sender` or `recipient`: archive Correspondence as that side |
//! | `CORRESPONDENCE_RESOURCES` | | sender: our resource ids, comma-separated |
//! | `CORRESPONDENCE_RECIPIENT_ORGNO` | | recipient: our organisation number |
//! | `ALTINN_SUBSCRIPTION_KEY` | unset | `Ocp-Apim-Subscription-Key` on Correspondence calls only (never logged) |
//! | `ALTINN_SUBSCRIPTION_KEY_SECRET_ARN` | unset | the same, from Secrets Manager (at most one of the two) |
//! | `FOLLOW_UP_TOPIC_ARN` | unset (metric only) | the SNS topic of the follow-up alerts |
//! | `EVENT_BUS_NAME` | unset (off) | the EventBridge bus (name or ARN) of the hand-off events |
//! | `SCAN_PENDING_MAX_WAIT` | `1h` | how long an element's malware scan may stay `Pending` (seconds, or `90s`, `45m`, `2h`); counted from the event's `time`, then dead letter `scan_pending`. At most `(MAX_RECEIVE_COUNT − 1) × 12 h`: the retries wait doubling shares of it (1 h, 5 receives: after 4, 12, 28, 60 min), so the last receive comes after the wait |
//! | `INFECTED_POLICY` | `hold` | an `Infected` element: `hold` (quarantine, dead letter `infected`, `archive-ops quarantine release`) or `archive` (quarantine and complete) |
//! | `ALTINN_*`, `MASKINPORTEN_*` | | see [`altinn::AltinnConfig`] |
//!
//! Memory: at most `2 × ELEMENT_CONCURRENCY × PART_SIZE_MIB` of element bytes are held at once
//! (per transfer, one part uploading while the next fills).

use std::time::Duration;

use altinn::{AltinnConfig, ConfigError, RetryPolicy, Secret};
use lambda_support::settings::{
    Lookup, altinn_retry_policy, correspondence_mode, feedback_task, in_range, optional,
    parse_duration, required,
};

use crate::layout::ArchiveLayout;
use crate::receipt::{FeedbackSettings, ReceiptFormat, ReceiptSettings, SubstatusSettings};
use crate::scan::{InfectedPolicy, ScanSettings};
use altinn::CorrespondenceMode;

/// The event type archived when `ARCHIVE_EVENT_TYPES` is not set.
pub const DEFAULT_ARCHIVE_EVENT_TYPES: &str = altinn::event::PROCESS_COMPLETED;

/// Everything the archiver needs, validated.
#[derive(Debug, Clone)]
pub struct ArchiverConfig {
    /// `ARCHIVE_BUCKET`.
    pub bucket: String,
    /// `ARCHIVE_PREFIX`, normalised: empty or ending in `/`.
    pub prefix: String,
    /// `QUEUE_URL`: the queue the messages come from. Without it a transient failure is only
    /// reported; the message then returns after the queue's own visibility timeout.
    pub queue_url: Option<String>,
    /// `DEAD_LETTER_QUEUE_URL`.
    pub dead_letter_queue_url: String,
    /// `ARCHIVE_EVENT_TYPES`.
    pub archive_event_types: EventTypeFilter,
    /// `MESSAGE_CONCURRENCY`.
    pub message_concurrency: usize,
    /// `ELEMENT_CONCURRENCY`.
    pub element_concurrency: usize,
    /// `PART_SIZE_MIB` in bytes.
    pub part_size: usize,
    /// `DEADLINE_MARGIN_SECS`.
    pub deadline_margin: Duration,
    /// `MAX_RECEIVE_COUNT`: on this receive (or later) a transient failure is dead-lettered by us,
    /// with its reason, instead of coming back once more. Set it below the queue's redrive
    /// `maxReceiveCount`, so SQS's own redrive (which cannot say why) is only the last line.
    pub max_receive_count: u32,
    /// `VISIBILITY_BACKOFF_SECS`: the backoff base of the visibility timeout after a failed
    /// receive ([`crate::queue::FailurePolicy`]): it doubles with every receive, is jittered
    /// between half and all of that, and is capped at 12 h (SQS's limit). `Retry-After` wins
    /// when larger.
    pub visibility_backoff: Duration,
    /// `DOWNLOAD_ATTEMPTS`.
    pub download_attempts: u32,
    /// `ALTINN_MAX_ATTEMPTS`, `ALTINN_REQUEST_TIMEOUT_SECS` (delays: the client's defaults).
    pub retry: RetryPolicy,
    /// The Altinn and Maskinporten settings.
    pub altinn: AltinnConfig,
    /// `FEEDBACK_TASK`, `RECEIPT_DATA_TYPE` and `RECEIPT_FORMAT`; `None`: nothing is ever
    /// uploaded into an instance.
    pub feedback: Option<FeedbackSettings>,
    /// `ARCHIVED_SUBSTATUS_LABEL` and `ARCHIVED_SUBSTATUS_DESCRIPTION`; `None`: no substatus.
    pub substatus: Option<SubstatusSettings>,
    /// `CORRESPONDENCE_ROLE` with its resources or organisation number.
    pub correspondence: Option<CorrespondenceMode>,
    /// `ALTINN_SUBSCRIPTION_KEY` or `ALTINN_SUBSCRIPTION_KEY_SECRET_ARN`.
    pub subscription_key: Option<SubscriptionKeySource>,
    /// `FOLLOW_UP_TOPIC_ARN`.
    pub follow_up_topic_arn: Option<String>,
    /// `EVENT_BUS_NAME`.
    pub event_bus_name: Option<String>,
    /// `SCAN_PENDING_MAX_WAIT` and `INFECTED_POLICY`.
    pub scan: ScanSettings,
}

/// Where the API Management subscription key comes from. `Debug` never shows the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionKeySource {
    /// `ALTINN_SUBSCRIPTION_KEY`.
    Inline(Secret),
    /// `ALTINN_SUBSCRIPTION_KEY_SECRET_ARN`: a Secrets Manager secret holding the key.
    SecretArn(String),
}

/// At most one of `ALTINN_SUBSCRIPTION_KEY` and `ALTINN_SUBSCRIPTION_KEY_SECRET_ARN`.
fn subscription_key(lookup: &impl Lookup) -> Result<Option<SubscriptionKeySource>, ConfigError> {
    let inline = optional(lookup, "ALTINN_SUBSCRIPTION_KEY").map(Secret::new);
    match (
        inline,
        optional(lookup, "ALTINN_SUBSCRIPTION_KEY_SECRET_ARN"),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            variable: "ALTINN_SUBSCRIPTION_KEY",
            reason: "set either ALTINN_SUBSCRIPTION_KEY or ALTINN_SUBSCRIPTION_KEY_SECRET_ARN, \
                     not both"
                .into(),
        }),
        (Some(key), None) => Ok(Some(SubscriptionKeySource::Inline(key))),
        (None, Some(arn)) => {
            let parts: Vec<&str> = arn.splitn(7, ':').collect();
            let well_formed = parts.len() == 7
                && parts[0] == "arn"
                && parts[2] == "secretsmanager"
                && parts[5] == "secret"
                && !parts[6].is_empty();
            if !well_formed {
                return Err(ConfigError::Invalid {
                    variable: "ALTINN_SUBSCRIPTION_KEY_SECRET_ARN",
                    reason: "must be a Secrets Manager secret ARN".into(),
                });
            }
            Ok(Some(SubscriptionKeySource::SecretArn(arn)))
        }
        (None, None) => Ok(None),
    }
}

/// `FOLLOW_UP_TOPIC_ARN`: an SNS topic ARN when set.
fn follow_up_topic(lookup: &impl Lookup) -> Result<Option<String>, ConfigError> {
    let Some(arn) = optional(lookup, "FOLLOW_UP_TOPIC_ARN") else {
        return Ok(None);
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
        return Err(ConfigError::Invalid {
            variable: "FOLLOW_UP_TOPIC_ARN",
            reason: "must be an SNS topic ARN (arn:aws:sns:{region}:{account}:{name})".into(),
        });
    }
    Ok(Some(arn))
}

/// `EVENT_BUS_NAME`: an EventBridge bus name or ARN when set.
fn event_bus(lookup: &impl Lookup) -> Result<Option<String>, ConfigError> {
    let Some(bus) = optional(lookup, "EVENT_BUS_NAME") else {
        return Ok(None);
    };
    let name = match bus.strip_prefix("arn:") {
        Some(arn) => {
            let parts: Vec<&str> = arn.splitn(5, ':').collect();
            match parts.as_slice() {
                [_, "events", _, _, resource] => resource.strip_prefix("event-bus/").unwrap_or(""),
                _ => "",
            }
        }
        None => bus.as_str(),
    };
    let valid = (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    if !valid {
        return Err(ConfigError::Invalid {
            variable: "EVENT_BUS_NAME",
            reason: "must be an EventBridge bus name (A-Z a-z 0-9 . - _ /, at most 256) or its \
                     ARN (arn:aws:events:{region}:{account}:event-bus/{name})"
                .into(),
        });
    }
    Ok(Some(bus))
}

/// Smallest multipart part S3 accepts (all but the last part).
const MIN_PART_SIZE_MIB: usize = 5;
/// Largest part size we allow: the part buffer is held in memory per transfer.
const MAX_PART_SIZE_MIB: usize = 512;

impl ArchiverConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(lambda_support::settings::process_env)
    }

    /// Reads settings through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Lookup) -> Result<Self, ConfigError> {
        let bucket = required(&lookup, "ARCHIVE_BUCKET")?;
        let prefix =
            ArchiveLayout::normalise_prefix(optional(&lookup, "ARCHIVE_PREFIX").as_deref())
                .map_err(|reason| ConfigError::Invalid {
                    variable: "ARCHIVE_PREFIX",
                    reason,
                })?;
        let queue_url = optional(&lookup, "QUEUE_URL");
        let dead_letter_queue_url = required(&lookup, "DEAD_LETTER_QUEUE_URL")?;
        let archive_event_types = EventTypeFilter::parse(
            optional(&lookup, "ARCHIVE_EVENT_TYPES")
                .as_deref()
                .unwrap_or(DEFAULT_ARCHIVE_EVENT_TYPES),
        )
        .map_err(|reason| ConfigError::Invalid {
            variable: "ARCHIVE_EVENT_TYPES",
            reason,
        })?;
        let message_concurrency = in_range(&lookup, "MESSAGE_CONCURRENCY", 4, 1, 100)?;
        let element_concurrency = in_range(&lookup, "ELEMENT_CONCURRENCY", 4, 1, 64)?;
        let part_size_mib = in_range(
            &lookup,
            "PART_SIZE_MIB",
            8,
            MIN_PART_SIZE_MIB,
            MAX_PART_SIZE_MIB,
        )?;
        let deadline_margin_secs = in_range(&lookup, "DEADLINE_MARGIN_SECS", 15, 0, 600)?;
        let max_receive_count = in_range(&lookup, "MAX_RECEIVE_COUNT", 5, 1, 1000)?;
        let visibility_backoff_secs = in_range(&lookup, "VISIBILITY_BACKOFF_SECS", 30, 0, 43_200)?;
        let download_attempts = in_range(&lookup, "DOWNLOAD_ATTEMPTS", 3, 1, 10)?;
        let retry = altinn_retry_policy(&lookup, 900)?;
        let altinn = AltinnConfig::from_lookup(&lookup)?;
        let feedback = feedback_settings(&lookup)?;
        let substatus = substatus_settings(&lookup)?;
        let correspondence = correspondence_mode(&lookup)?;
        let subscription_key = subscription_key(&lookup)?;
        let follow_up_topic_arn = follow_up_topic(&lookup)?;
        let event_bus_name = event_bus(&lookup)?;
        let scan = scan_settings(&lookup, max_receive_count as u32)?;
        Ok(ArchiverConfig {
            bucket,
            prefix,
            queue_url,
            dead_letter_queue_url,
            archive_event_types,
            message_concurrency,
            element_concurrency,
            part_size: part_size_mib * 1024 * 1024,
            deadline_margin: Duration::from_secs(deadline_margin_secs as u64),
            max_receive_count: max_receive_count as u32,
            visibility_backoff: Duration::from_secs(visibility_backoff_secs as u64),
            download_attempts: download_attempts as u32,
            retry,
            altinn,
            feedback,
            substatus,
            correspondence,
            subscription_key,
            follow_up_topic_arn,
            event_bus_name,
            scan,
        })
    }
}

/// `SCAN_PENDING_MAX_WAIT` and `INFECTED_POLICY`. The wait must fit in the receives a message
/// has (each retry waits at most SQS's 12 h), or a pending scan would be dead-lettered as out
/// of retries before its wait ended.
fn scan_settings(
    lookup: &impl Lookup,
    max_receive_count: u32,
) -> Result<ScanSettings, ConfigError> {
    let pending_max_wait = match optional(lookup, "SCAN_PENDING_MAX_WAIT") {
        Some(text) => parse_duration(&text).ok_or_else(|| ConfigError::Invalid {
            variable: "SCAN_PENDING_MAX_WAIT",
            reason: "must look like 3600, 90s, 45m or 1h".into(),
        })?,
        None => crate::scan::DEFAULT_SCAN_PENDING_MAX_WAIT,
    };
    let longest = crate::queue::MAX_VISIBILITY * max_receive_count.saturating_sub(1);
    if pending_max_wait > longest {
        return Err(ConfigError::Invalid {
            variable: "SCAN_PENDING_MAX_WAIT",
            reason: format!(
                "must be at most (MAX_RECEIVE_COUNT - 1) x 12 h = {} s, the longest the retries \
                 of one message can wait",
                longest.as_secs()
            ),
        });
    }
    let infected_policy = match optional(lookup, "INFECTED_POLICY") {
        Some(text) => InfectedPolicy::parse(&text).map_err(|reason| ConfigError::Invalid {
            variable: "INFECTED_POLICY",
            reason,
        })?,
        None => InfectedPolicy::default(),
    };
    Ok(ScanSettings {
        pending_max_wait,
        infected_policy,
    })
}

/// `FEEDBACK_TASK` with `RECEIPT_DATA_TYPE` (both or neither: a receipt can only be uploaded
/// while the instance waits in a feedback task, and the feedback task is there for the receipt)
/// and `RECEIPT_FORMAT`.
fn feedback_settings(lookup: &impl Lookup) -> Result<Option<FeedbackSettings>, ConfigError> {
    let format = match optional(lookup, "RECEIPT_FORMAT") {
        Some(text) => ReceiptFormat::parse(&text).map_err(|reason| ConfigError::Invalid {
            variable: "RECEIPT_FORMAT",
            reason,
        })?,
        None => ReceiptFormat::default(),
    };
    let (task, data_type) = match (
        feedback_task(lookup)?,
        optional(lookup, "RECEIPT_DATA_TYPE"),
    ) {
        (None, None) => return Ok(None),
        (Some(task), Some(data_type)) => (task, data_type),
        (Some(_), None) => {
            return Err(ConfigError::Invalid {
                variable: "FEEDBACK_TASK",
                reason: "needs RECEIPT_DATA_TYPE: FEEDBACK_TASK and RECEIPT_DATA_TYPE are set \
                         together or not at all"
                    .into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                variable: "RECEIPT_DATA_TYPE",
                reason: "needs FEEDBACK_TASK: a receipt can only be uploaded while the \
                         instance waits in a feedback task; FEEDBACK_TASK and \
                         RECEIPT_DATA_TYPE are set together or not at all"
                    .into(),
            });
        }
    };
    let well_formed = data_type.len() <= 100
        && data_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !well_formed {
        return Err(ConfigError::Invalid {
            variable: "RECEIPT_DATA_TYPE",
            reason: "must be a data type id: letters, digits, `-`, `_` or `.`, at most 100".into(),
        });
    }
    Ok(Some(FeedbackSettings {
        task,
        receipt: ReceiptSettings { data_type, format },
    }))
}

/// The longest substatus text we send; the inbox shows a short line, and Altinn stores it
/// with the instance.
const MAX_SUBSTATUS_LEN: usize = 255;

/// `ARCHIVED_SUBSTATUS_LABEL` and `ARCHIVED_SUBSTATUS_DESCRIPTION` (which needs the label:
/// Altinn refuses a substatus without one).
fn substatus_settings(lookup: &impl Lookup) -> Result<Option<SubstatusSettings>, ConfigError> {
    let text = |variable: &'static str| -> Result<Option<String>, ConfigError> {
        let Some(value) = optional(lookup, variable) else {
            return Ok(None);
        };
        if value.chars().count() > MAX_SUBSTATUS_LEN || value.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                variable,
                reason: format!(
                    "must be at most {MAX_SUBSTATUS_LEN} characters, without control characters"
                ),
            });
        }
        Ok(Some(value))
    };
    let label = text("ARCHIVED_SUBSTATUS_LABEL")?;
    let description = text("ARCHIVED_SUBSTATUS_DESCRIPTION")?;
    match (label, description) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ConfigError::Invalid {
            variable: "ARCHIVED_SUBSTATUS_DESCRIPTION",
            reason: "needs ARCHIVED_SUBSTATUS_LABEL: Altinn refuses a substatus without a label"
                .into(),
        }),
        (Some(label), description) => Ok(Some(SubstatusSettings { label, description })),
    }
}

/// Which event types archive the instance. The syntax is the webhook's `EVENT_TYPES`: a list
/// separated by commas or white space; an entry ending in `*` matches every type starting with
/// what comes before it (`app.instance.process.*`), any other entry matches exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeFilter {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl EventTypeFilter {
    /// Parses the list; it must name at least one type, and `*` may only end an entry.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut exact = Vec::new();
        let mut prefixes = Vec::new();
        for entry in list.split(|c: char| c == ',' || c.is_whitespace()) {
            if entry.is_empty() {
                continue;
            }
            let (body, wildcard) = match entry.strip_suffix('*') {
                Some(body) => (body, true),
                None => (entry, false),
            };
            if body.contains('*') {
                return Err("`*` may only end an entry".into());
            }
            if !body.chars().all(|c| c.is_ascii_graphic()) {
                return Err("event types are printable ASCII".into());
            }
            if wildcard {
                prefixes.push(body.to_owned());
            } else {
                exact.push(body.to_owned());
            }
        }
        if exact.is_empty() && prefixes.is_empty() {
            return Err("names no event type".into());
        }
        Ok(EventTypeFilter { exact, prefixes })
    }

    /// True when `event_type` is one of the listed types or starts with a listed prefix.
    pub fn matches(&self, event_type: &str) -> bool {
        self.exact.iter().any(|t| t == event_type)
            || self
                .prefixes
                .iter()
                .any(|p| event_type.starts_with(p.as_str()))
    }
}

#[cfg(test)]
mod tests;
