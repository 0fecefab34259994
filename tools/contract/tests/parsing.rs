//! The Altinn crate reads every `Instance` and `DataElement` example derived from Altinn's
//! schemas, in both dialects: every property present, only the required ones, every nullable
//! one `null`, and each value of each enum they reach (every `fileScanResult`, every
//! `readStatus` form, every party type). Each example is first checked against its own schema,
//! so the examples are ones Altinn's documents allow.

mod common;

use altinn::instance::{DataElement, RawInstance};
use common::contracts;
use contract_tests::Document;
use contract_tests::example::{Fill, Options, example, reachable_enums};
use contract_tests::schema::{component_schema, violations};
use serde_json::Value;

/// Storage's `ReadStatus` names, which the App dialect writes as their index.
const READ_STATUS: [&str; 3] = ["Unread", "Read", "UpdatedSinceLastReview"];
/// Register's `PartyType` names, which the App dialect writes as their number (from 1).
const PARTY_TYPE: [&str; 5] = [
    "Person",
    "Organisation",
    "SelfIdentified",
    "SubUnit",
    "BankruptcyEstate",
];

/// The fields our code requires although the documents mark them nullable: the ids, which
/// Altinn always writes (Storage generates them; a confirmation always names its org). The
/// archive keys on them, so an instance without one is refused rather than guessed at.
fn options() -> Options {
    Options {
        keep: [
            ("Instance", "id"),
            ("InstanceResponse", "id"),
            ("DataElement", "id"),
            ("CompleteConfirmation", "stakeholderId"),
        ]
        .iter()
        .map(|(component, field)| ((*component).to_owned(), (*field).to_owned()))
        .collect(),
        ..Options::default()
    }
}

/// The instance schemas: Storage's `Instance`, the App's `Instance` (what `complete` answers)
/// and `InstanceResponse` (what GET instance answers).
fn instance_schemas() -> Vec<(&'static Document, &'static str)> {
    let contracts = contracts();
    vec![
        (&contracts.storage, "Instance"),
        (&contracts.app, "Instance"),
        (&contracts.app, "InstanceResponse"),
    ]
}

fn data_element_schemas() -> Vec<(&'static Document, &'static str)> {
    let contracts = contracts();
    vec![
        (&contracts.storage, "DataElement"),
        (&contracts.app, "DataElement"),
    ]
}

/// `example` of `component`, checked against the component's own schema.
fn valid_example(document: &Document, component: &str, fill: Fill, options: &Options) -> Value {
    let value = example(document, component, fill, options);
    let schema = component_schema(document, component).expect("the component exists");
    let problems = violations(&schema, &value).expect("the schema builds");
    assert!(
        problems.is_empty(),
        "the generated {component} ({fill:?}) does not fit {}: {problems:?}\n{value:#}",
        document.name()
    );
    value
}

fn parse_instance(example: &Value, what: &str) -> altinn::Instance {
    let bytes = bytes::Bytes::from(serde_json::to_vec(example).expect("JSON serialises"));
    RawInstance::parse(bytes)
        .unwrap_or_else(|error| panic!("{what} does not parse: {error}\n{example:#}"))
        .instance
}

fn parse_element(example: &Value, what: &str) -> DataElement {
    serde_json::from_value(example.clone())
        .unwrap_or_else(|error| panic!("{what} does not parse: {error}\n{example:#}"))
}

#[test]
fn instances_parse_with_every_field_none_and_nulls() {
    for (document, component) in instance_schemas() {
        for fill in [Fill::Every, Fill::Required, Fill::Nulls] {
            let what = format!("{} {component} ({fill:?})", document.name());
            let example = valid_example(document, component, fill, &options());
            let instance = parse_instance(&example, &what);
            assert_eq!(Some(instance.id.as_str()), example["id"].as_str(), "{what}");
            if fill == Fill::Every {
                let kept = serde_json::to_value(&instance).expect("the model serialises");
                assert_kept(&example, &kept, &what);
                assert_eq!(instance.data.len(), 1, "{what}");
                assert!(instance.process.is_some_and(|p| p.current_task.is_some()));
            } else {
                assert!(instance.data.is_empty(), "{what}");
                assert!(!instance.is_process_complete(), "{what}");
            }
        }
    }
}

#[test]
fn data_elements_parse_with_every_field_none_and_nulls() {
    for (document, component) in data_element_schemas() {
        for fill in [Fill::Every, Fill::Required, Fill::Nulls] {
            let what = format!("{} {component} ({fill:?})", document.name());
            let example = valid_example(document, component, fill, &options());
            let element = parse_element(&example, &what);
            assert_eq!(Some(element.id.as_str()), example["id"].as_str(), "{what}");
            if fill == Fill::Every {
                let kept = serde_json::to_value(&element).expect("the model serialises");
                assert_kept(&example, &kept, &what);
                // Declared by both documents; Storage never writes it, but one that is there
                // (an old element) is read.
                assert!(element.content_hash.is_some(), "{what}");
            } else {
                assert!(!element.is_hard_deleted(), "{what}");
                assert_eq!(element.content_hash, None, "{what}");
            }
        }
    }
}

/// Every value of every enum an instance reaches, one example each: the model reads the
/// enums it keeps to the right variant, and no other enum value stops the parse.
#[test]
fn instances_parse_every_enum_value() {
    let mut seen = Vec::new();
    for (document, component) in instance_schemas() {
        for (name, values) in reachable_enums(document, component) {
            for value in values {
                let mut options = options();
                options.enum_values.insert(name.clone(), value.clone());
                let what = format!("{} {component} with {name} = {value}", document.name());
                let example = valid_example(document, component, Fill::Every, &options);
                let instance = parse_instance(&example, &what);
                let element = &instance.data[0];
                let status = instance.status.as_ref().expect("a status");
                match name.as_str() {
                    "FileScanResult" => assert_eq!(
                        format!("{:?}", element.file_scan_result.expect("a result")),
                        value.as_str().expect("a name in both dialects"),
                        "{what}"
                    ),
                    "ReadStatus" => assert_eq!(
                        format!("{:?}", status.read_status.expect("a read status")),
                        enum_name(&value, &READ_STATUS, 0),
                        "{what}"
                    ),
                    "PartyType" => {
                        let party = instance.instance_owner.party.as_ref().expect("a party");
                        assert_eq!(
                            format!("{:?}", party.party_type_name.expect("a party type")),
                            enum_name(&value, &PARTY_TYPE, 1),
                            "{what}"
                        );
                    }
                    "RelationType" => assert_eq!(
                        element.references[0].relation.as_deref(),
                        Some(scalar_text(&value).as_str()),
                        "{what}"
                    ),
                    "ReferenceType" => assert_eq!(
                        element.references[0].value_type.as_deref(),
                        Some(scalar_text(&value).as_str()),
                        "{what}"
                    ),
                    _ => {}
                }
                seen.push(format!("{} {name}={value}", document.name()));
            }
        }
    }
    for expected in [
        "storage-openapi.json FileScanResult=\"NotApplicable\"",
        "storage-openapi.json FileScanResult=\"Pending\"",
        "storage-openapi.json FileScanResult=\"Clean\"",
        "storage-openapi.json FileScanResult=\"Infected\"",
        "app-openapi.json FileScanResult=\"Infected\"",
        "storage-openapi.json ReadStatus=\"UpdatedSinceLastReview\"",
        "app-openapi.json ReadStatus=2",
        "app-openapi.json PartyType=5",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "{expected} was not tried: {seen:?}"
        );
    }
}

#[test]
fn data_elements_parse_every_enum_value() {
    for (document, component) in data_element_schemas() {
        for (name, values) in reachable_enums(document, component) {
            for value in values {
                let mut options = options();
                options.enum_values.insert(name.clone(), value.clone());
                let what = format!("{} {component} with {name} = {value}", document.name());
                let example = valid_example(document, component, Fill::Every, &options);
                let element = parse_element(&example, &what);
                if name == "FileScanResult" {
                    assert_eq!(
                        format!("{:?}", element.file_scan_result.expect("a result")),
                        value.as_str().expect("a name"),
                        "{what}"
                    );
                }
            }
        }
    }
}

/// The variant name of an enum written as a name (Storage) or a number (App, from `first`).
fn enum_name(value: &Value, names: &[&str], first: u64) -> String {
    match value {
        Value::Number(number) => {
            let index = number.as_u64().expect("a small number") - first;
            names[usize::try_from(index).expect("an index")].to_owned()
        }
        other => other.as_str().expect("a name").to_owned(),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Everything the model kept (its own serialisation, the Storage dialect) has the value the
/// example gave it: no field misnamed or misread. Enums the App dialect writes as numbers are
/// kept as their names (readStatus, partyTypeName) or their number's text.
fn assert_kept(example: &Value, kept: &Value, what: &str) {
    fn walk(example: &Value, kept: &Value, path: &str, key: &str, problems: &mut Vec<String>) {
        match (example, kept) {
            (Value::Object(example), Value::Object(kept)) => {
                for (name, value) in kept {
                    match example.get(name) {
                        Some(given) => {
                            walk(given, value, &format!("{path}/{name}"), name, problems)
                        }
                        None => problems.push(format!("{path}/{name}: not in the example")),
                    }
                }
            }
            (Value::Array(example), Value::Array(kept)) if example.len() == kept.len() => {
                for (index, (given, value)) in example.iter().zip(kept).enumerate() {
                    walk(given, value, &format!("{path}/{index}"), key, problems);
                }
            }
            (Value::Number(number), Value::String(text)) => {
                let same = match key {
                    "readStatus" => enum_name(example, &READ_STATUS, 0) == *text,
                    "partyTypeName" => enum_name(example, &PARTY_TYPE, 1) == *text,
                    _ => number.to_string() == *text,
                };
                if !same {
                    problems.push(format!("{path}: {example} read as {kept}"));
                }
            }
            _ if example == kept => {}
            _ => problems.push(format!("{path}: {example} read as {kept}")),
        }
    }
    let mut problems = Vec::new();
    walk(example, kept, "", "", &mut problems);
    assert!(problems.is_empty(), "{what}: {problems:#?}");
}
