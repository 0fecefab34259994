//! Which event types the webhook passes on (`EVENT_TYPES`).
//!
//! Everything else is answered 200 and dropped: a 4xx or 5xx would make Altinn retry the event
//! twelve times over about 35 hours although it will never be wanted.

use std::fmt;
use std::str::FromStr;

/// The default `EVENT_TYPES`: only the event the archiver acts on.
pub const DEFAULT_EVENT_TYPES: &str = altinn::event::PROCESS_COMPLETED;

/// One entry of `EVENT_TYPES`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EventTypePattern {
    /// The type must be exactly this (case-sensitive: Altinn types such as
    /// `app.instance.process.movedTo.Task_2` mix cases).
    Exact(String),
    /// `prefix*`: the type must start with `prefix` (a lone `*` matches every type).
    Prefix(String),
}

/// The parsed `EVENT_TYPES`: a comma-separated list of exact types and `prefix*` patterns,
/// e.g. `app.instance.process.completed,no.altinn.correspondence.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeFilter {
    patterns: Vec<EventTypePattern>,
}

/// Why an `EVENT_TYPES` value is not acceptable. Names the offending entry, which is
/// configuration, not a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeFilterError(String);

impl fmt::Display for EventTypeFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EventTypeFilterError {}

impl EventTypeFilter {
    /// True when `event_type` is one of the configured types or starts with a configured prefix.
    pub fn matches(&self, event_type: &str) -> bool {
        self.patterns.iter().any(|pattern| match pattern {
            EventTypePattern::Exact(exact) => event_type == exact,
            EventTypePattern::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
        })
    }
}

impl Default for EventTypeFilter {
    fn default() -> Self {
        EventTypeFilter {
            patterns: vec![EventTypePattern::Exact(DEFAULT_EVENT_TYPES.to_owned())],
        }
    }
}

impl FromStr for EventTypeFilter {
    type Err = EventTypeFilterError;

    /// Parses the comma-separated list. Entries are trimmed; an empty entry, whitespace or a
    /// control character inside an entry, or a `*` anywhere but at the end is an error, so a
    /// typo fails at start-up instead of silently dropping every event.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut patterns = Vec::new();
        for (position, entry) in text.split(',').enumerate() {
            let entry = entry.trim();
            let number = position + 1;
            if entry.is_empty() {
                return Err(EventTypeFilterError(format!("entry {number} is empty")));
            }
            if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(EventTypeFilterError(format!(
                    "entry {number} contains whitespace or a control character"
                )));
            }
            let pattern = match entry.strip_suffix('*') {
                Some(prefix) if prefix.contains('*') => {
                    return Err(EventTypeFilterError(format!(
                        "entry {number} (`{entry}`): `*` is only allowed once, at the end"
                    )));
                }
                Some(prefix) => EventTypePattern::Prefix(prefix.to_owned()),
                None if entry.contains('*') => {
                    return Err(EventTypeFilterError(format!(
                        "entry {number} (`{entry}`): `*` is only allowed at the end"
                    )));
                }
                None => EventTypePattern::Exact(entry.to_owned()),
            };
            patterns.push(pattern);
        }
        Ok(EventTypeFilter { patterns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_passes_only_process_completed() {
        let filter = EventTypeFilter::default();
        assert!(filter.matches("app.instance.process.completed"));
        assert!(!filter.matches("app.instance.process.completed.extra"));
        assert!(!filter.matches("app.instance.created"));
        assert!(!filter.matches("APP.INSTANCE.PROCESS.COMPLETED"));
    }

    #[test]
    fn exact_and_prefix_entries_combine() {
        let filter: EventTypeFilter =
            " app.instance.process.completed , no.altinn.correspondence.* "
                .parse()
                .unwrap();
        assert!(filter.matches("app.instance.process.completed"));
        assert!(filter.matches("no.altinn.correspondence.correspondencepublished"));
        assert!(!filter.matches("no.altinn.correspondenc"));
        assert!(!filter.matches("app.instance.created"));
    }

    #[test]
    fn lone_star_matches_everything() {
        let filter: EventTypeFilter = "*".parse().unwrap();
        assert!(filter.matches("anything.at.all"));
    }

    #[test]
    fn bad_lists_are_refused_with_the_entry_named() {
        for (text, expected) in [
            ("", "entry 1 is empty"),
            ("a,,b", "entry 2 is empty"),
            ("a,b,", "entry 3 is empty"),
            (
                "app.*.completed",
                "entry 1 (`app.*.completed`): `*` is only allowed at the end",
            ),
            (
                "app.**",
                "entry 1 (`app.**`): `*` is only allowed once, at the end",
            ),
            (
                "app instance",
                "entry 1 contains whitespace or a control character",
            ),
        ] {
            let error = text.parse::<EventTypeFilter>().unwrap_err();
            assert_eq!(error.to_string(), expected, "for {text:?}");
        }
    }
}
