//! A one-pass reader of a body's top level that reports duplicated names, at the top and in
//! nested objects, where `serde_json::Map` would silently keep the last one: a hostile body
//! cannot smuggle a second `source` past the checks.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::echoable_name;

/// The outcome of reading the top level of a body, in one pass.
pub(super) enum TopLevel {
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
