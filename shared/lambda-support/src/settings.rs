//! Reading settings from the environment through a lookup function, so tests pass a map and
//! every error names the variable (and never shows its value).

use std::str::FromStr;

pub use altinn::ConfigError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
