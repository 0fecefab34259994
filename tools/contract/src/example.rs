//! Example JSON generated from a document's schemas, to feed the Altinn crate's parsers what
//! Altinn may send: every property present, only what is required, every nullable property
//! `null`, and each value of each enum.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::document::Document;

const COMPONENTS: &str = "#/components/schemas/";
/// Deeper than any Instance field; stops recursive schemas (app-lib's `JsonNode` refers to itself).
const MAX_DEPTH: usize = 12;
/// The instance guid every generated example uses.
pub const EXAMPLE_GUID: &str = "5d9e2c6a-7f1b-4c3e-9a8d-2b6f0e1c4a77";
/// The instance owner's party id in generated examples.
pub const EXAMPLE_PARTY: &str = "50001";
/// Every generated `date-time`: .NET's seven fractional digits, UTC.
pub const EXAMPLE_TIME: &str = "2026-08-07T12:34:56.1234567Z";

/// Which properties an example carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Every property, each with a value; arrays with one item, maps with one entry.
    Every,
    /// Only the schema's `required` properties (`null` where nullable) and the kept ones.
    Required,
    /// Every property; each nullable one (and each that refers to an object) `null`.
    Nulls,
}

/// How to generate an example.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The value to use for an enum component (by name) instead of its first value.
    pub enum_values: BTreeMap<String, Value>,
    /// `(component, property)` pairs always given a value, whatever the fill: the fields our
    /// code requires (the ids), which Altinn always writes though the documents say nullable.
    pub keep: Vec<(String, String)>,
}

/// An example of `components.schemas.{component}` of `document`.
pub fn example(document: &Document, component: &str, fill: Fill, options: &Options) -> Value {
    let generator = Generator {
        components: &document.json["components"]["schemas"],
        fill,
        options,
    };
    generator.component(component, 0)
}

/// Every enum component reachable from `component` through properties, items and maps, with
/// its values, by name.
pub fn reachable_enums(document: &Document, component: &str) -> BTreeMap<String, Vec<Value>> {
    let components = &document.json["components"]["schemas"];
    let mut seen = Vec::new();
    let mut enums = BTreeMap::new();
    let mut pending = vec![component.to_owned()];
    while let Some(name) = pending.pop() {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        let schema = &components[&name];
        if let Some(values) = schema["enum"].as_array() {
            enums.insert(name, values.clone());
            continue;
        }
        collect_refs(schema, &mut pending);
    }
    enums
}

fn collect_refs(schema: &Value, into: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            if let Some(name) = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|target| target.strip_prefix(COMPONENTS))
            {
                into.push(name.to_owned());
            }
            object.values().for_each(|value| collect_refs(value, into));
        }
        Value::Array(values) => values.iter().for_each(|value| collect_refs(value, into)),
        _ => {}
    }
}

struct Generator<'a> {
    components: &'a Value,
    fill: Fill,
    options: &'a Options,
}

impl Generator<'_> {
    fn component(&self, name: &str, depth: usize) -> Value {
        let schema = &self.components[name];
        if let Some(values) = schema["enum"].as_array() {
            return self
                .options
                .enum_values
                .get(name)
                .cloned()
                .or_else(|| values.first().cloned())
                .unwrap_or(Value::Null);
        }
        self.value(schema, Some(name), "", depth)
    }

    /// A value for `schema`, the property `property` of component `owner`.
    fn value(&self, schema: &Value, owner: Option<&str>, property: &str, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(name) = schema["$ref"]
            .as_str()
            .and_then(|target| target.strip_prefix(COMPONENTS))
        {
            return self.component(name, depth + 1);
        }
        if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
            return first.clone();
        }
        match schema["type"].as_str() {
            Some("object") => self.object(schema, owner, depth),
            Some("array") => match self.fill {
                Fill::Every => json!([self.value(&schema["items"], owner, property, depth + 1)]),
                Fill::Required | Fill::Nulls => json!([]),
            },
            Some("string") => string_for(schema, owner, property),
            Some("integer") => json!(1),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            _ => match self.fill {
                Fill::Every => json!("any"),
                Fill::Required | Fill::Nulls => Value::Null,
            },
        }
    }

    fn object(&self, schema: &Value, owner: Option<&str>, depth: usize) -> Value {
        let Some(properties) = schema["properties"].as_object() else {
            // A map (`additionalProperties` a schema) or a free object.
            let mut map = Map::new();
            if self.fill == Fill::Every && schema["additionalProperties"].is_object() {
                let entry = self.value(&schema["additionalProperties"], owner, "", depth + 1);
                map.insert("key".into(), entry);
            }
            return Value::Object(map);
        };
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut out = Map::new();
        for (name, property) in properties {
            let kept = owner.is_some_and(|owner| {
                self.options
                    .keep
                    .iter()
                    .any(|(component, field)| component == owner && field == name)
            });
            let may_be_null = property["nullable"] == true || self.refers_to_object(property);
            let value = || self.value(property, owner, name, depth + 1);
            match self.fill {
                _ if kept => {
                    out.insert(name.clone(), value());
                }
                Fill::Every => {
                    out.insert(name.clone(), value());
                }
                Fill::Required if required.contains(&name.as_str()) => {
                    let entry = if may_be_null { Value::Null } else { value() };
                    out.insert(name.clone(), entry);
                }
                Fill::Required => {}
                Fill::Nulls => {
                    let entry = if may_be_null { Value::Null } else { value() };
                    out.insert(name.clone(), entry);
                }
            }
        }
        Value::Object(out)
    }

    /// A `$ref` to an object component: null is allowed (see `schema`'s module docs).
    fn refers_to_object(&self, schema: &Value) -> bool {
        schema.as_object().is_some_and(|object| object.len() == 1)
            && schema["$ref"]
                .as_str()
                .and_then(|target| target.strip_prefix(COMPONENTS))
                .is_some_and(|name| self.components[name]["type"] == "object")
    }
}

/// A plausible string: a date-time or uuid by format, Altinn's id shapes by name.
fn string_for(schema: &Value, owner: Option<&str>, property: &str) -> Value {
    let text = match (schema["format"].as_str(), owner, property) {
        (Some("date-time"), _, _) => EXAMPLE_TIME.to_owned(),
        (Some("uuid"), _, _) => EXAMPLE_GUID.to_owned(),
        (_, Some("Instance" | "InstanceResponse"), "id") => {
            format!("{EXAMPLE_PARTY}/{EXAMPLE_GUID}")
        }
        (_, _, "instanceGuid") => EXAMPLE_GUID.to_owned(),
        (_, Some("DataElement"), "id") => "0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11".to_owned(),
        (_, _, "partyId") => EXAMPLE_PARTY.to_owned(),
        (_, _, "appId") => "ttd/example-app".to_owned(),
        (_, _, "org") => "ttd".to_owned(),
        _ if property.is_empty() => "value".to_owned(),
        _ => format!("{property}-example"),
    };
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Document {
        Document {
            api: crate::Api::App,
            path: "test.json".into(),
            json: json!({ "paths": {}, "components": { "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["must"],
                    "properties": {
                        "id": { "type": "string", "nullable": true },
                        "must": { "type": "string", "nullable": true },
                        "kind": { "$ref": "#/components/schemas/Kind" },
                        "inner": { "$ref": "#/components/schemas/Thing" },
                        "tags": { "type": "array", "items": { "type": "string" }, "nullable": true },
                        "map": { "type": "object", "additionalProperties": { "type": "string" } }
                    }
                },
                "Kind": { "enum": [0, 1, 2], "type": "integer" }
            }}}),
        }
    }

    #[test]
    fn fills() {
        let document = document();
        let keep = Options {
            keep: vec![("Thing".into(), "id".into())],
            ..Options::default()
        };
        let every = example(&document, "Thing", Fill::Every, &Options::default());
        assert_eq!(every["kind"], 0);
        assert_eq!(every["tags"], json!(["tags-example"]));
        assert_eq!(every["map"], json!({"key": "value"}));
        assert!(
            every["inner"]["inner"].is_object(),
            "recursion is bounded, not cut at once"
        );
        let required = example(&document, "Thing", Fill::Required, &keep);
        assert_eq!(required, json!({"id": "id-example", "must": null}));
        let nulls = example(&document, "Thing", Fill::Nulls, &keep);
        assert_eq!(nulls["id"], "id-example");
        assert_eq!(nulls["inner"], Value::Null);
        assert_eq!(nulls["tags"], Value::Null);
        assert_eq!(nulls["kind"], 0);
        let choice = Options {
            enum_values: BTreeMap::from([("Kind".into(), json!(2))]),
            ..Options::default()
        };
        assert_eq!(example(&document, "Thing", Fill::Every, &choice)["kind"], 2);
        assert_eq!(
            reachable_enums(&document, "Thing"),
            BTreeMap::from([("Kind".to_owned(), vec![json!(0), json!(1), json!(2)])])
        );
    }
}
