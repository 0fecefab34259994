//! Serde helpers that read both Altinn JSON dialects (Storage's Newtonsoft and App's
//! System.Text.Json) leniently; see the tolerance rules in the `instance` module docs.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::ProcessElementInfo;

/// Reads `null` as the type's default (the App dialect writes nulls the Storage one omits).
pub(super) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

pub(super) fn default_true() -> bool {
    true
}

/// `isRead`: `null` means Altinn's default, `true`.
pub(super) fn null_as_true<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

/// Reads any JSON value and keeps it only if it reads as `T`; anything else is `None`.
/// For informational fields whose values may grow (see the module docs).
pub(super) fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// A boolean that is `false` unless it is literally `true`.
pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Value::deserialize(deserializer)? == Value::Bool(true))
}

/// A string, or a number kept as its decimal text; anything else is `None`.
pub(super) fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(text),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

/// A `{string: string}` map; `null` is empty and entries whose value is not a string are
/// dropped.
pub(super) fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Object(entries) => entries
            .into_iter()
            .filter_map(|(key, value)| match value {
                Value::String(text) => Some((key, text)),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// `process.currentTask`: `null` or absent is `None`; any other value is `Some`, read
/// leniently, so a malformed task can never make the process look complete.
pub(super) fn current_task<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ProcessElementInfo>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        value => Some(serde_json::from_value(value).unwrap_or_default()),
    })
}

/// An enum written as its name (case-insensitive) or its number. `u64::MAX` in the table
/// means "no number".
pub(super) fn name_or_number<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    table: &[(&str, u64, T)],
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Copy,
{
    let found = match Value::deserialize(deserializer)? {
        Value::String(text) => table
            .iter()
            .find(|(name, _, _)| name.eq_ignore_ascii_case(&text)),
        Value::Number(number) => number
            .as_u64()
            .filter(|&n| n != u64::MAX)
            .and_then(|n| table.iter().find(|(_, number, _)| *number == n)),
        _ => None,
    };
    found
        .map(|(_, _, value)| *value)
        .ok_or_else(|| serde::de::Error::custom(format!("expected {expecting}")))
}

/// True when the option holds a non-empty string.
pub(super) fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|text| !text.is_empty())
}
