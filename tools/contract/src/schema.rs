//! OpenAPI 3.0 schemas as JSON Schema (draft 2020-12), and validators built from them.
//!
//! The conversion:
//! - `nullable: true` (OpenAPI 3.0's own keyword) becomes `null` added to `type` (and to `enum`);
//! - `$ref: #/components/schemas/X` becomes `#/$defs/X`, with every component of the same
//!   document under `$defs`, so references resolve inside the document and nothing is fetched;
//! - a property that is only a `$ref` to an object schema also accepts `null`. OpenAPI 3.0
//!   ignores siblings of `$ref`, so a generator cannot mark such a property nullable, yet the C#
//!   property behind it is a class and may be null: app-lib's System.Text.Json writes
//!   `"currentTask": null` once the process has ended, `"substatus": null` when there is none.
//!   A `$ref` to an enum (a C# value type) stays non-null;
//! - `format: int32` becomes the int32 bounds; `date-time` and `uuid` are checked as formats;
//! - an object schema with `properties` and no `additionalProperties` gets
//!   `additionalProperties: false`, so every property name a response carries must be declared,
//!   with its exact casing. Altinn's documents already say `false` on their objects; this keeps
//!   the check when a schema does not.

use serde_json::{Map, Value, json};

use crate::document::Document;

/// A schema that could not be found or built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaError {}

const COMPONENTS: &str = "#/components/schemas/";
const DEFS: &str = "#/$defs/";

/// `schema` (an OpenAPI schema of `document`) as a standalone JSON Schema document carrying
/// every component of `document` under `$defs`.
pub fn to_json_schema(document: &Document, schema: &Value) -> Value {
    let components = &document.json["components"]["schemas"];
    let defs: Map<String, Value> = components
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, component)| (name.clone(), convert(component, components)))
        .collect();
    let root = convert(schema, components);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": defs,
        "allOf": [root],
    })
}

/// The JSON Schema of `components.schemas.{name}` of `document`.
pub fn component_schema(document: &Document, name: &str) -> Result<Value, SchemaError> {
    if document.component(name).is_none() {
        return Err(SchemaError(format!(
            "{} has no schema {name}",
            document.name()
        )));
    }
    Ok(to_json_schema(
        document,
        &json!({ "$ref": format!("{COMPONENTS}{name}") }),
    ))
}

fn convert(schema: &Value, components: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        match key.as_str() {
            "$ref" => {
                let target = value.as_str().unwrap_or_default();
                let target = target
                    .strip_prefix(COMPONENTS)
                    .map(|name| format!("{DEFS}{name}"))
                    .unwrap_or_else(|| target.to_owned());
                out.insert(key.clone(), Value::String(target));
            }
            "properties" => {
                let properties = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, property)| {
                        let converted = convert(property, components);
                        let converted = if refers_to_object(property, components) {
                            json!({ "anyOf": [converted, { "type": "null" }] })
                        } else {
                            converted
                        };
                        (name.clone(), converted)
                    })
                    .collect();
                out.insert(key.clone(), Value::Object(properties));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key.clone(), convert(value, components));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let all = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|member| convert(member, components))
                    .collect();
                out.insert(key.clone(), Value::Array(all));
            }
            // OpenAPI-only keywords with no JSON Schema meaning.
            "nullable" | "example" | "xml" | "discriminator" | "externalDocs" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if object.get("format").and_then(Value::as_str) == Some("int32") {
        out.insert("minimum".into(), json!(i32::MIN));
        out.insert("maximum".into(), json!(i32::MAX));
    }
    if object.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(kind) = out.get("type").cloned() {
            out.insert("type".into(), json!([kind, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// True when `schema` is only a `$ref` to a component that is an object (see the module docs).
fn refers_to_object(schema: &Value, components: &Value) -> bool {
    let Some(object) = schema.as_object() else {
        return false;
    };
    let Some(name) = object
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|target| target.strip_prefix(COMPONENTS))
    else {
        return false;
    };
    object.len() == 1
        && components[name]["type"] == "object"
        && components[name].get("enum").is_none()
}

/// A validator for a JSON Schema from [`to_json_schema`]: draft 2020-12, formats checked.
pub fn validator(schema: &Value) -> Result<jsonschema::Validator, SchemaError> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| SchemaError(format!("the schema does not build: {error}")))
}

/// Every way `instance` fails `schema`, one line each (`at /path: message`); empty when valid.
pub fn violations(schema: &Value, instance: &Value) -> Result<Vec<String>, SchemaError> {
    let validator = validator(schema)?;
    Ok(validator
        .iter_errors(instance)
        .map(|error| format!("at {}: {error}", error.instance_path()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(schemas: Value) -> Document {
        Document {
            api: crate::Api::Storage,
            path: "test.json".into(),
            json: json!({ "paths": {}, "components": { "schemas": schemas } }),
        }
    }

    fn check(document: &Document, name: &str, instance: Value) -> Vec<String> {
        violations(&component_schema(document, name).unwrap(), &instance).unwrap()
    }

    #[test]
    fn nullable_and_refs_convert() {
        let document = document(json!({
            "Thing": {
                "type": "object",
                "properties": {
                    "name": { "type": "string", "nullable": true },
                    "count": { "type": "integer", "format": "int32" },
                    "kind": { "$ref": "#/components/schemas/Kind" },
                    "inner": { "$ref": "#/components/schemas/Inner" },
                    "when": { "type": "string", "format": "date-time", "nullable": true }
                },
                "additionalProperties": false
            },
            "Kind": { "enum": ["A", "B"], "type": "string" },
            "Inner": { "type": "object", "properties": { "x": { "type": "boolean" } } }
        }));
        assert!(check(&document, "Thing", json!({})).is_empty());
        let good = json!({"name": null, "count": 3, "kind": "B", "inner": null,
                          "when": "2026-08-07T10:00:00.1234567+02:00"});
        assert_eq!(check(&document, "Thing", good), Vec::<String>::new());
        for bad in [
            json!({"name": 1}),
            json!({"count": 2_147_483_648_i64}),
            json!({"kind": "C"}),
            json!({"kind": null}),
            json!({"when": "yesterday"}),
            json!({"Name": "casing counts"}),
            json!({"inner": {"x": true, "y": 1}}),
        ] {
            assert!(!check(&document, "Thing", bad.clone()).is_empty(), "{bad}");
        }
    }
}
