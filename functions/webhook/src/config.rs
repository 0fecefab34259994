//! The webhook's configuration, read once at start-up. Every error names the variable and
//! never shows a secret value, so a misconfigured function fails its first cold start with a
//! message that says what to fix.
//!
//! | Variable | Meaning |
//! | --- | --- |
//! | `WEBHOOK_SECRET` | the shared secret (local runs); at least 16 characters. Several, comma-separated, are all accepted (rotation) |
//! | `WEBHOOK_SECRET_ARN` | a Secrets Manager secret holding it (AWS); exactly one of the two. Its `AWSCURRENT` and `AWSPREVIOUS` versions are both accepted |
//! | `WEBHOOK_SECRET_REFRESH_SECS` | with `WEBHOOK_SECRET_ARN`: how often the two versions are re-read; default 300, 1 to 3600 |
//! | `QUEUE_URL` | the SQS queue accepted events go to (`….fifo` makes it a FIFO queue) |
//! | `ALTINN_ENV` | `prod`, `tt02`, `at21`…`at24`, `yt01` or `local` |
//! | `ALTINN_ORG` | our org code; app events for other orgs are refused |
//! | `ALTINN_PLATFORM_URL`, `ALTINN_APPS_URL` | base URLs, only for `ALTINN_ENV=local` |
//! | `EVENT_TYPES` | types to enqueue, comma-separated, `prefix*` allowed; default `app.instance.process.completed` |
//! | `FEEDBACK_TASK` | the archiver's feedback task (e.g. `Task_2`): `app.instance.process.movedTo.{FEEDBACK_TASK}` is enqueued too, whatever `EVENT_TYPES` says |
//! | `CORRESPONDENCE_ROLE` | `sender`, `recipient` or unset: which Correspondence events are ours (see `correspondence_check`); when set, `no.altinn.correspondence.*` is enqueued whatever `EVENT_TYPES` says |
//! | `CORRESPONDENCE_RESOURCES` | with `sender`: our resource ids, comma-separated (`urn:altinn:resource:` may be included) |
//! | `CORRESPONDENCE_RECIPIENT_ORGNO` | with `recipient`: our organisation number (9 digits) |
//! | `ENQUEUE_TIMEOUT_MS` | how long SQS may take before we answer 503; default 4000, at most 25000 |
//!
//! The webhook holds no Maskinporten settings: it never calls Altinn, so it never needs a token.

use std::time::Duration;

use altinn::{Allowlist, AltinnEnvironment, ConfigError, CorrespondenceMode, Secret};
use lambda_support::settings::{
    Lookup, correspondence_mode, feedback_task, optional, parsed_or, process_env, required,
};

use crate::event_filter::{DEFAULT_EVENT_TYPES, EventTypeFilter, EventTypeFilterError};

/// Default bound on one SQS `SendMessage`, in milliseconds. Altinn Events waits 45 s for an answer
/// and API Gateway at most 30 s; 4 s leaves room for the SDK's own retries while a slow queue
/// still turns into a quick 503 (and an Altinn retry) instead of a gateway timeout.
pub const DEFAULT_ENQUEUE_TIMEOUT_MS: u64 = 4_000;
/// Upper bound for `ENQUEUE_TIMEOUT_MS`: below API Gateway's 29–30 s integration timeout, so
/// the 503 is ours and not the gateway's.
pub const MAX_ENQUEUE_TIMEOUT_MS: u64 = 25_000;
/// The shortest webhook secret accepted. It travels in a URL, so it should be long and random
/// (e.g. 32 bytes of base64url); this only stops obvious mistakes such as `test`.
pub const MIN_SECRET_LEN: usize = 16;
/// Default for `WEBHOOK_SECRET_REFRESH_SECS`: a rotated secret is picked up within five minutes
/// without a restart, at the cost of one or two Secrets Manager reads per warm instance.
pub const DEFAULT_SECRET_REFRESH_SECS: u64 = 300;
/// Upper bound for `WEBHOOK_SECRET_REFRESH_SECS`: a longer interval would stretch the rotation
/// overlap (and the time an old subscription keeps working after its secret was retired).
pub const MAX_SECRET_REFRESH_SECS: u64 = 3_600;

/// Where the webhook secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookSecretSource {
    /// `WEBHOOK_SECRET`: the values themselves (local runs, tests), one or more; each is
    /// accepted, so a local rotation lists the new and the old secret for the overlap.
    Inline(Vec<Secret>),
    /// `WEBHOOK_SECRET_ARN`: a Secrets Manager secret whose `AWSCURRENT` string is the secret;
    /// its `AWSPREVIOUS` string, while there is one, is accepted too (rotation overlap).
    SecretsManager { arn: String },
}

/// Everything the webhook needs, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The shared secret, or where to load it from.
    pub secret: WebhookSecretSource,
    /// `QUEUE_URL`.
    pub queue_url: String,
    /// The environment's hosts, pinned to `ALTINN_ORG`.
    pub allowlist: Allowlist,
    /// `EVENT_TYPES`, plus the feedback task's `movedTo` event when `FEEDBACK_TASK` is set and
    /// every Correspondence type when `CORRESPONDENCE_ROLE` is.
    pub event_types: EventTypeFilter,
    /// `CORRESPONDENCE_ROLE` with its resources or organisation number; `None` takes every
    /// Correspondence event from the right source.
    pub correspondence: Option<CorrespondenceMode>,
    /// `ENQUEUE_TIMEOUT_MS`.
    pub enqueue_timeout: Duration,
    /// `WEBHOOK_SECRET_REFRESH_SECS`: how often a Secrets Manager secret is re-read (unused
    /// for inline secrets, which cannot change without a restart).
    pub secret_refresh_interval: Duration,
}

impl WebhookConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&process_env)
    }

    /// Reads settings through `lookup` (tests pass a map). Empty values count as unset.
    pub fn from_lookup(lookup: &impl Lookup) -> Result<Self, ConfigError> {
        let secret = secret_source(lookup)?;
        let queue_url = queue_url(lookup)?;
        let environment = AltinnEnvironment::parse(
            &required(lookup, "ALTINN_ENV")?,
            optional(lookup, "ALTINN_PLATFORM_URL").as_deref(),
            optional(lookup, "ALTINN_APPS_URL").as_deref(),
        )?;
        let org = org(lookup)?;
        let correspondence = correspondence_mode(lookup)?;
        let event_types = event_types(lookup, correspondence.as_ref())?;
        let timeout_ms = parsed_or(lookup, "ENQUEUE_TIMEOUT_MS", DEFAULT_ENQUEUE_TIMEOUT_MS)?;
        if !(1..=MAX_ENQUEUE_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(ConfigError::Invalid {
                variable: "ENQUEUE_TIMEOUT_MS",
                reason: format!("must be between 1 and {MAX_ENQUEUE_TIMEOUT_MS} milliseconds"),
            });
        }
        let refresh_secs = parsed_or(
            lookup,
            "WEBHOOK_SECRET_REFRESH_SECS",
            DEFAULT_SECRET_REFRESH_SECS,
        )?;
        if !(1..=MAX_SECRET_REFRESH_SECS).contains(&refresh_secs) {
            return Err(ConfigError::Invalid {
                variable: "WEBHOOK_SECRET_REFRESH_SECS",
                reason: format!("must be between 1 and {MAX_SECRET_REFRESH_SECS} seconds"),
            });
        }
        Ok(WebhookConfig {
            secret,
            queue_url,
            allowlist: Allowlist::new(environment, Some(org)),
            event_types,
            correspondence,
            enqueue_timeout: Duration::from_millis(timeout_ms),
            secret_refresh_interval: Duration::from_secs(refresh_secs),
        })
    }

    /// True when `QUEUE_URL` names a FIFO queue (SQS requires FIFO names to end in `.fifo`).
    pub fn queue_is_fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }
}

fn secret_source(lookup: &impl Lookup) -> Result<WebhookSecretSource, ConfigError> {
    match (
        optional(lookup, "WEBHOOK_SECRET"),
        optional(lookup, "WEBHOOK_SECRET_ARN"),
    ) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            variable: "WEBHOOK_SECRET",
            reason: "set either WEBHOOK_SECRET or WEBHOOK_SECRET_ARN, not both".into(),
        }),
        (Some(text), None) => inline_secrets(&text).map(WebhookSecretSource::Inline),
        (None, Some(arn)) => {
            if !arn.starts_with("arn:") {
                return Err(ConfigError::Invalid {
                    variable: "WEBHOOK_SECRET_ARN",
                    reason: "must be a Secrets Manager ARN (arn:aws:secretsmanager:…)".into(),
                });
            }
            Ok(WebhookSecretSource::SecretsManager { arn })
        }
        (None, None) => Err(ConfigError::Missing {
            variable: "WEBHOOK_SECRET or WEBHOOK_SECRET_ARN",
        }),
    }
}

/// Splits `WEBHOOK_SECRET` at commas (whitespace around them is ignored) and checks each
/// entry. Errors name the entry by position when there are several, never by value.
fn inline_secrets(text: &str) -> Result<Vec<Secret>, ConfigError> {
    let entries: Vec<&str> = text.split(',').map(str::trim).collect();
    let several = entries.len() > 1;
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            check_secret_strength(entry)
                .map(|()| Secret::new(*entry))
                .map_err(|reason| ConfigError::Invalid {
                    variable: "WEBHOOK_SECRET",
                    reason: if several {
                        format!("entry {} {reason}", index + 1)
                    } else {
                        reason
                    },
                })
        })
        .collect()
}

/// Checks a secret's shape without ever echoing it: long enough, and no whitespace or control
/// characters (which could not survive a URL or a copy into the subscription unchanged).
/// Used for both `WEBHOOK_SECRET` and the value read from Secrets Manager.
pub fn check_secret_strength(secret: &str) -> Result<(), String> {
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(format!("must be at least {MIN_SECRET_LEN} characters"));
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}

fn queue_url(lookup: &impl Lookup) -> Result<String, ConfigError> {
    let text = required(lookup, "QUEUE_URL")?;
    let invalid = |reason: &str| ConfigError::Invalid {
        variable: "QUEUE_URL",
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(&text).map_err(|_| invalid("not an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("must be an http(s) SQS queue URL"));
    }
    let has_queue_name = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .is_some_and(|name| !name.is_empty());
    if !has_queue_name {
        return Err(invalid(
            "must end with the queue name (…/{account}/{queue})",
        ));
    }
    Ok(text)
}

/// `EVENT_TYPES` (or its default), plus what another setting makes ours whatever the list says:
/// `app.instance.process.movedTo.{FEEDBACK_TASK}` when `FEEDBACK_TASK` is set (an instance whose
/// event is dropped would wait in the feedback task for ever), and every
/// `no.altinn.correspondence.*` type when `CORRESPONDENCE_ROLE` is set (a dropped event would be a
/// status missing from the record).
fn event_types(
    lookup: &impl Lookup,
    correspondence: Option<&CorrespondenceMode>,
) -> Result<EventTypeFilter, ConfigError> {
    let mut extra = Vec::new();
    if let Some(task) = feedback_task(lookup)? {
        extra.push(altinn::event::process_moved_to(&task));
    }
    if correspondence.is_some() {
        extra.push(format!("{}*", altinn::event::CORRESPONDENCE_PREFIX));
    }
    let listed = optional(lookup, "EVENT_TYPES");
    if extra.is_empty() {
        return parsed_or(lookup, "EVENT_TYPES", EventTypeFilter::default());
    }
    // Appended last, so a parse error's entry number is still that of the listed entry.
    let list = format!(
        "{},{}",
        listed.as_deref().unwrap_or(DEFAULT_EVENT_TYPES),
        extra.join(",")
    );
    list.parse()
        .map_err(|error: EventTypeFilterError| ConfigError::Invalid {
            variable: "EVENT_TYPES",
            reason: error.to_string(),
        })
}

fn org(lookup: &impl Lookup) -> Result<String, ConfigError> {
    let org = required(lookup, "ALTINN_ORG")?;
    let well_formed = altinn::environment::is_valid_org_code(&org);
    if !well_formed {
        return Err(ConfigError::Invalid {
            variable: "ALTINN_ORG",
            reason: "must be an Altinn org code: 2 to 20 lowercase letters and digits".into(),
        });
    }
    Ok(org)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("WEBHOOK_SECRET", "a-long-enough-secret"),
            (
                "QUEUE_URL",
                "https://sqs.eu-north-1.amazonaws.com/123456789012/altinn-events",
            ),
            ("ALTINN_ENV", "tt02"),
            ("ALTINN_ORG", "ttd"),
        ])
    }

    fn load(vars: &HashMap<&'static str, &'static str>) -> Result<WebhookConfig, ConfigError> {
        WebhookConfig::from_lookup(&|name: &str| vars.get(name).map(|v| (*v).to_owned()))
    }

    fn error_for(change: impl FnOnce(&mut HashMap<&'static str, &'static str>)) -> String {
        let mut vars = base();
        change(&mut vars);
        load(&vars).unwrap_err().to_string()
    }

    #[test]
    fn error_messages_name_the_variable() {
        assert_eq!(
            error_for(|v| {
                v.remove("WEBHOOK_SECRET");
            }),
            "WEBHOOK_SECRET or WEBHOOK_SECRET_ARN is not set"
        );
        assert!(
            error_for(|v| {
                v.insert(
                    "WEBHOOK_SECRET_ARN",
                    "arn:aws:secretsmanager:eu-north-1:1:secret:x",
                );
            })
            .starts_with("WEBHOOK_SECRET is invalid: set either")
        );
        assert_eq!(
            error_for(|v| {
                v.insert("WEBHOOK_SECRET", "short");
            }),
            "WEBHOOK_SECRET is invalid: must be at least 16 characters"
        );
        assert!(
            error_for(|v| {
                v.remove("WEBHOOK_SECRET");
                v.insert("WEBHOOK_SECRET_ARN", "my-secret");
            })
            .starts_with("WEBHOOK_SECRET_ARN is invalid")
        );
        assert_eq!(
            error_for(|v| {
                v.remove("QUEUE_URL");
            }),
            "QUEUE_URL is not set"
        );
        assert!(
            error_for(|v| {
                v.insert("QUEUE_URL", "altinn-events");
            })
            .starts_with("QUEUE_URL is invalid")
        );
        assert_eq!(
            error_for(|v| {
                v.remove("ALTINN_ORG");
            }),
            "ALTINN_ORG is not set"
        );
        assert!(
            error_for(|v| {
                v.insert("ALTINN_ORG", "TTD");
            })
            .starts_with("ALTINN_ORG is invalid")
        );
        assert!(
            error_for(|v| {
                v.remove("ALTINN_ENV");
            })
            .starts_with("ALTINN_ENV")
        );
        assert!(
            error_for(|v| {
                v.insert("EVENT_TYPES", "app.*.completed");
            })
            .starts_with("EVENT_TYPES is invalid: entry 1")
        );
        assert!(
            error_for(|v| {
                v.insert("ENQUEUE_TIMEOUT_MS", "soon");
            })
            .starts_with("ENQUEUE_TIMEOUT_MS is invalid")
        );
        assert!(
            error_for(|v| {
                v.insert("ENQUEUE_TIMEOUT_MS", "60000");
            })
            .starts_with("ENQUEUE_TIMEOUT_MS is invalid")
        );
    }

    #[test]
    fn secret_values_never_appear_in_errors_or_debug() {
        let message = error_for(|v| {
            v.insert("WEBHOOK_SECRET", "has space in the secret value");
        });
        assert!(
            message.starts_with("WEBHOOK_SECRET is invalid"),
            "{message}"
        );
        assert!(!message.contains("space in the secret"), "{message}");
        let config = load(&base()).unwrap();
        assert!(!format!("{config:?}").contains("a-long-enough-secret"));
    }

    #[test]
    fn defaults_and_explicit_values() {
        let config = load(&base()).unwrap();
        assert_eq!(
            config.secret,
            WebhookSecretSource::Inline(vec![Secret::new("a-long-enough-secret")])
        );
        assert_eq!(
            config.secret_refresh_interval,
            Duration::from_secs(DEFAULT_SECRET_REFRESH_SECS)
        );
        assert_eq!(
            config.enqueue_timeout,
            Duration::from_millis(DEFAULT_ENQUEUE_TIMEOUT_MS)
        );
        assert!(config.event_types.matches("app.instance.process.completed"));
        assert!(!config.event_types.matches("app.instance.created"));
        assert_eq!(config.allowlist.pinned_org(), Some("ttd"));
        assert!(!config.queue_is_fifo());

        let mut vars = base();
        vars.remove("WEBHOOK_SECRET");
        vars.insert(
            "WEBHOOK_SECRET_ARN",
            "arn:aws:secretsmanager:eu-north-1:123456789012:secret:webhook",
        );
        vars.insert(
            "QUEUE_URL",
            "https://sqs.eu-north-1.amazonaws.com/123456789012/events.fifo",
        );
        vars.insert(
            "EVENT_TYPES",
            "app.instance.process.completed,no.altinn.correspondence.*",
        );
        vars.insert("ENQUEUE_TIMEOUT_MS", "1500");
        vars.insert("WEBHOOK_SECRET_REFRESH_SECS", "60");
        let config = load(&vars).unwrap();
        assert_eq!(config.secret_refresh_interval, Duration::from_secs(60));
        assert_eq!(
            config.secret,
            WebhookSecretSource::SecretsManager {
                arn: "arn:aws:secretsmanager:eu-north-1:123456789012:secret:webhook".into()
            }
        );
        assert!(config.queue_is_fifo());
        assert!(
            config
                .event_types
                .matches("no.altinn.correspondence.correspondencepublished")
        );
        assert_eq!(config.enqueue_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn the_feedback_tasks_event_is_always_enqueued() {
        let moved_to = "app.instance.process.movedTo.Task_2";
        let config = load(&base()).unwrap();
        assert!(!config.event_types.matches(moved_to));

        let mut vars = base();
        vars.insert("FEEDBACK_TASK", "Task_2");
        let config = load(&vars).unwrap();
        assert!(config.event_types.matches(moved_to), "with the default");
        assert!(config.event_types.matches("app.instance.process.completed"));
        assert!(
            !config
                .event_types
                .matches("app.instance.process.movedTo.Task_1")
        );

        vars.insert(
            "EVENT_TYPES",
            "app.instance.process.completed,app.instance.created",
        );
        let config = load(&vars).unwrap();
        assert!(
            config.event_types.matches(moved_to),
            "with an explicit list"
        );
        assert!(config.event_types.matches("app.instance.created"));

        vars.insert("EVENT_TYPES", "a,,b");
        assert_eq!(
            load(&vars).unwrap_err().to_string(),
            "EVENT_TYPES is invalid: entry 2 is empty"
        );
        vars.remove("EVENT_TYPES");
        vars.insert("FEEDBACK_TASK", "Task_*");
        assert!(
            load(&vars)
                .unwrap_err()
                .to_string()
                .starts_with("FEEDBACK_TASK is invalid")
        );
    }

    #[test]
    fn the_correspondence_role_is_read_with_what_it_names() {
        let published = "no.altinn.correspondence.correspondencepublished";
        let config = load(&base()).unwrap();
        assert_eq!(config.correspondence, None);
        assert!(!config.event_types.matches(published));
        let mut vars = base();
        vars.insert("CORRESPONDENCE_ROLE", "recipient");
        vars.insert("CORRESPONDENCE_RECIPIENT_ORGNO", "313725138");
        let config = load(&vars).unwrap();
        assert!(config.event_types.matches(published), "a role lets them in");
        assert!(config.event_types.matches(altinn::event::PROCESS_COMPLETED));
        let mode = config.correspondence.expect("a mode");
        assert_eq!(
            mode.recipient_subject().as_deref(),
            Some("urn:altinn:organization:identifier-no:313725138")
        );
        vars.insert("CORRESPONDENCE_ROLE", "sender");
        let error = load(&vars).unwrap_err().to_string();
        assert!(error.contains("CORRESPONDENCE_RESOURCES"), "{error}");
        vars.insert(
            "CORRESPONDENCE_RESOURCES",
            "a-resource,urn:altinn:resource:b",
        );
        let mode = load(&vars).unwrap().correspondence.expect("a mode");
        assert!(mode.is_our_resource("urn:altinn:resource:b"));
        assert!(!mode.is_our_resource("urn:altinn:resource:c"));
    }

    #[test]
    fn comma_separated_secrets_are_each_checked_and_never_echoed() {
        let mut vars = base();
        vars.insert(
            "WEBHOOK_SECRET",
            "new-secret-0123456789 , old-secret-0123456789",
        );
        let config = load(&vars).unwrap();
        assert_eq!(
            config.secret,
            WebhookSecretSource::Inline(vec![
                Secret::new("new-secret-0123456789"),
                Secret::new("old-secret-0123456789"),
            ])
        );
        for (value, expected) in [
            (
                "new-secret-0123456789,short",
                "WEBHOOK_SECRET is invalid: entry 2 must be at least 16 characters",
            ),
            (
                "new-secret-0123456789,",
                "WEBHOOK_SECRET is invalid: entry 2 must be at least 16 characters",
            ),
            (
                "new secret 0123456789,old-secret-0123456789",
                "WEBHOOK_SECRET is invalid: entry 1 must not contain whitespace or control characters",
            ),
        ] {
            let message = error_for(|v| {
                v.insert("WEBHOOK_SECRET", value);
            });
            assert_eq!(message, expected);
            assert!(!message.contains("0123456789"), "{message}");
        }
        for refresh in ["0", "3601", "soon"] {
            assert!(
                error_for(|v| {
                    v.insert("WEBHOOK_SECRET_REFRESH_SECS", refresh);
                })
                .starts_with("WEBHOOK_SECRET_REFRESH_SECS is invalid"),
                "{refresh}"
            );
        }
    }
}
