//! Reading settings from the environment through a lookup function, so tests pass a map and
//! every error names the variable (and never shows its value).

use std::str::FromStr;
use std::time::Duration;

pub use altinn::ConfigError;
use altinn::RetryPolicy;

/// A lookup from variable name to value; `std::env::var` in production, a map in tests.
pub trait Lookup: Fn(&str) -> Option<String> {}
impl<F: Fn(&str) -> Option<String>> Lookup for F {}

/// The process environment as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of `name`, trimmed; empty counts as unset.
pub fn optional(lookup: &impl Lookup, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The value of `name`, or [`ConfigError::Missing`].
pub fn required(lookup: &impl Lookup, name: &'static str) -> Result<String, ConfigError> {
    optional(lookup, name).ok_or(ConfigError::Missing { variable: name })
}

/// `name` parsed as `T`, or `default` when unset; a bad value is [`ConfigError::Invalid`].
pub fn parsed_or<T: FromStr>(
    lookup: &impl Lookup,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match optional(lookup, name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|e: T::Err| ConfigError::Invalid {
            variable: name,
            reason: e.to_string(),
        }),
    }
}

/// A duration written as whole seconds, or a number with `s`, `m` or `h` (`90`, `90s`, `45m`,
/// `1h`): for settings and command-line flags alike. `None` for anything else.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        _ => None,
    }?;
    Some(Duration::from_secs(seconds))
}

/// `name` as a whole number in `min..=max`, or `default` when unset.
pub fn in_range(
    lookup: &impl Lookup,
    name: &'static str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, ConfigError> {
    let value: usize = parsed_or(lookup, name, default)?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            variable: name,
            reason: format!("must be between {min} and {max}"),
        })
    }
}

/// The retry policy for Altinn calls: `ALTINN_MAX_ATTEMPTS` (1–10) and
/// `ALTINN_REQUEST_TIMEOUT_SECS` (1–`max_timeout_secs`; a function must not wait longer on one
/// call than its own timeout allows), the rest from [`RetryPolicy::default`].
pub fn altinn_retry_policy(
    lookup: &impl Lookup,
    max_timeout_secs: usize,
) -> Result<RetryPolicy, ConfigError> {
    let defaults = RetryPolicy::default();
    let max_attempts = in_range(
        lookup,
        "ALTINN_MAX_ATTEMPTS",
        defaults.max_attempts as usize,
        1,
        10,
    )?;
    let timeout_secs = in_range(
        lookup,
        "ALTINN_REQUEST_TIMEOUT_SECS",
        defaults.request_timeout.as_secs() as usize,
        1,
        max_timeout_secs,
    )?;
    Ok(RetryPolicy {
        max_attempts: max_attempts as u32,
        request_timeout: Duration::from_secs(timeout_secs as u64),
        ..defaults
    })
}

/// `FEEDBACK_TASK`: the app's feedback task where the archiver writes back, read the same way by
/// every function that needs it (unset is `None`). It becomes part of an event type and a query,
/// so only a BPMN task id ([`altinn::event::is_valid_task_id`]) is accepted.
pub fn feedback_task(lookup: &impl Lookup) -> Result<Option<String>, ConfigError> {
    match optional(lookup, "FEEDBACK_TASK") {
        Some(task) if !altinn::event::is_valid_task_id(&task) => Err(ConfigError::Invalid {
            variable: "FEEDBACK_TASK",
            reason: "must be a BPMN task id such as Task_2: letters, digits, `_`, `-` or `.`, \
                     starting with a letter or `_`, at most 100"
                .into(),
        }),
        task => Ok(task),
    }
}

/// What the functions do with Correspondence, read the same way by the webhook and the archiver:
/// `CORRESPONDENCE_ROLE` `sender` (with `CORRESPONDENCE_RESOURCES`, comma-separated resource ids)
/// or `recipient` (with `CORRESPONDENCE_RECIPIENT_ORGNO`, 9 digits). Unset is `None`: events are
/// stored as they came, nothing is fetched.
pub fn correspondence_mode(
    lookup: &impl Lookup,
) -> Result<Option<altinn::CorrespondenceMode>, ConfigError> {
    use altinn::correspondence::ModeError;
    let Some(role) = optional(lookup, "CORRESPONDENCE_ROLE") else {
        return Ok(None);
    };
    let resources = optional(lookup, "CORRESPONDENCE_RESOURCES");
    let orgno = optional(lookup, "CORRESPONDENCE_RECIPIENT_ORGNO");
    altinn::CorrespondenceMode::parse(&role, resources.as_deref(), orgno.as_deref())
        .map(Some)
        .map_err(|error| {
            let variable = match error {
                ModeError::BadRole => "CORRESPONDENCE_ROLE",
                ModeError::NoResources | ModeError::BadResource(_) | ModeError::AppResource => {
                    "CORRESPONDENCE_RESOURCES"
                }
                ModeError::BadOrgNo => "CORRESPONDENCE_RECIPIENT_ORGNO",
            };
            ConfigError::Invalid {
                variable,
                reason: error.to_string(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("45m"), Some(Duration::from_secs(2700)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert!(parse_duration("1d").is_none());
        assert!(parse_duration("h").is_none());
        assert!(parse_duration("-5").is_none());
    }

    #[test]
    fn correspondence_mode_names_the_variable_at_fault() {
        let from = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(variable, _)| *variable == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(correspondence_mode(&from(&[])).unwrap(), None);
        assert_eq!(
            correspondence_mode(&from(&[("CORRESPONDENCE_ROLE", " ")])).unwrap(),
            None
        );
        assert_eq!(
            correspondence_mode(&from(&[
                ("CORRESPONDENCE_ROLE", "recipient"),
                ("CORRESPONDENCE_RECIPIENT_ORGNO", "910000001"),
            ]))
            .unwrap(),
            Some(altinn::CorrespondenceMode::Recipient {
                orgno: "910000001".into()
            })
        );
        for (pairs, variable) in [
            (
                &[("CORRESPONDENCE_ROLE", "owner")][..],
                "CORRESPONDENCE_ROLE",
            ),
            (
                &[("CORRESPONDENCE_ROLE", "sender")][..],
                "CORRESPONDENCE_RESOURCES",
            ),
            (
                &[("CORRESPONDENCE_ROLE", "recipient")][..],
                "CORRESPONDENCE_RECIPIENT_ORGNO",
            ),
        ] {
            let error = correspondence_mode(&from(pairs)).unwrap_err();
            assert!(error.to_string().starts_with(variable), "{error}");
        }
    }

    fn lookup(name: &str) -> Option<String> {
        match name {
            "SET" => Some(" value ".into()),
            "EMPTY" => Some("  ".into()),
            "NUMBER" => Some("42".into()),
            "BAD_NUMBER" => Some("forty".into()),
            _ => None,
        }
    }

    #[test]
    fn empty_counts_as_missing_and_errors_name_the_variable() {
        assert_eq!(required(&lookup, "SET").unwrap(), "value");
        let missing = required(&lookup, "EMPTY").unwrap_err();
        assert_eq!(missing.to_string(), "EMPTY is not set");
        assert_eq!(parsed_or(&lookup, "NUMBER", 7u32).unwrap(), 42);
        assert_eq!(parsed_or(&lookup, "UNSET", 7u32).unwrap(), 7);
        let bad = parsed_or(&lookup, "BAD_NUMBER", 7u32).unwrap_err();
        assert!(
            bad.to_string().starts_with("BAD_NUMBER is invalid"),
            "{bad}"
        );
        assert!(
            !bad.to_string().contains("forty"),
            "the value is not echoed"
        );
    }

    #[test]
    fn altinn_retry_policy_reads_attempts_and_timeout_within_bounds() {
        let set = |name: &str| match name {
            "ALTINN_MAX_ATTEMPTS" => Some("6".to_owned()),
            "ALTINN_REQUEST_TIMEOUT_SECS" => Some("45".to_owned()),
            _ => None,
        };
        let policy = altinn_retry_policy(&set, 300).unwrap();
        assert_eq!(policy.max_attempts, 6);
        assert_eq!(policy.request_timeout, Duration::from_secs(45));
        let too_long = altinn_retry_policy(&set, 30).unwrap_err();
        assert!(
            too_long
                .to_string()
                .starts_with("ALTINN_REQUEST_TIMEOUT_SECS is invalid")
        );
        let unset = altinn_retry_policy(&|_: &str| None, 300).unwrap();
        assert_eq!(unset.max_attempts, RetryPolicy::default().max_attempts);
    }
}
