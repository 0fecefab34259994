//! Parsing hostile and valid bodies, and classifying events against an allowlist.

use super::*;
use crate::environment::Allowlist;
use crate::environment::AltinnEnvironment;
use serde_json::json;

const SOURCE: &str = "https://ttd.apps.at23.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd";

/// A real `app.instance.process.completed` event as Altinn Events delivers it.
fn app_event() -> Value {
    json!({
        "specversion": "1.0",
        "id": "8c3e1b5a-1f62-4f5e-9a39-0c9f0a4b2d11",
        "time": "2024-05-02T09:31:12.1234567Z",
        "type": "app.instance.process.completed",
        "source": SOURCE,
        "resource": "urn:altinn:resource:app_ttd_apps-test",
        "resourceinstance": "50660768/428a4575-2c04-4400-89a3-1aaadd2579cd",
        "subject": "/party/50660768",
        "alternativesubject": "/person/07837399275"
    })
}

fn with(mut event: Value, name: &str, value: Value) -> Vec<u8> {
    event
        .as_object_mut()
        .unwrap()
        .insert(name.to_owned(), value);
    serde_json::to_vec(&event).unwrap()
}

fn without(mut event: Value, name: &str) -> Vec<u8> {
    event.as_object_mut().unwrap().remove(name);
    serde_json::to_vec(&event).unwrap()
}

fn at23() -> Allowlist {
    Allowlist::new(
        AltinnEnvironment::parse("at23", None, None).unwrap(),
        Some("ttd".into()),
    )
}

#[test]
fn parses_the_reference_app_event() {
    let event = CloudEvent::parse(&serde_json::to_vec(&app_event()).unwrap()).unwrap();
    assert_eq!(event.id, "8c3e1b5a-1f62-4f5e-9a39-0c9f0a4b2d11");
    assert_eq!(event.source, SOURCE);
    assert_eq!(event.specversion, "1.0");
    assert_eq!(event.event_type, PROCESS_COMPLETED);
    assert_eq!(event.subject.as_deref(), Some("/party/50660768"));
    assert_eq!(
        event.alternativesubject.as_deref(),
        Some("/person/07837399275")
    );
    assert_eq!(event.time.as_deref(), Some("2024-05-02T09:31:12.1234567Z"));
    assert_eq!(
        event.resource.as_deref(),
        Some("urn:altinn:resource:app_ttd_apps-test")
    );
    assert_eq!(
        event.resourceinstance.as_deref(),
        Some("50660768/428a4575-2c04-4400-89a3-1aaadd2579cd")
    );
    assert_eq!(event.data, None);
    assert!(event.extensions.is_empty());

    let kind = event.classify(&at23()).unwrap();
    let EventKind::AppInstance {
        instance,
        event_type,
    } = kind
    else {
        panic!("expected an app event, got {kind:?}");
    };
    assert_eq!(event_type, PROCESS_COMPLETED);
    assert_eq!(instance.app_id(), "ttd/apps-test");
    assert_eq!(
        instance.instance_id(),
        "50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"
    );
    assert_eq!(instance.resource(), "urn:altinn:resource:app_ttd_apps-test");
}

#[test]
fn parses_the_validation_event_and_finds_the_subscription_id() {
    let body = br#"{"specversion":"1.0","id":"694caa35-8b25-4cd7-b800-f6eeb93c56ed",
        "source":"https://platform.altinn.no/events/api/v1/subscriptions/1234",
        "type":"platform.events.validatesubscription"}"#;
    let event = CloudEvent::parse(body).unwrap();
    assert_eq!(event.time, None);
    assert_eq!(
        event.classify(&at23()),
        Ok(EventKind::SubscriptionValidation {
            subscription_id: Some("1234".into())
        })
    );
    for (source, expected) in [
        (
            "https://platform.altinn.no/events/api/v1/subscriptions/",
            None,
        ),
        (
            "https://platform.altinn.no/events/api/v1/subscriptions/abc",
            None,
        ),
        ("not a url", None),
        (
            "https://platform.tt02.altinn.no/events/api/v1/subscriptions/77",
            Some("77"),
        ),
    ] {
        let mut event = event.clone();
        event.source = source.into();
        assert_eq!(
            event.classify(&at23()),
            Ok(EventKind::SubscriptionValidation {
                subscription_id: expected.map(Into::into)
            }),
            "{source}"
        );
    }
}

#[test]
fn keeps_unknown_attributes_and_generic_data() {
    let body = with(app_event(), "traceparent", json!("00-abc-def-01"));
    let event = CloudEvent::parse(&body).unwrap();
    assert_eq!(
        event.extensions.get("traceparent"),
        Some(&json!("00-abc-def-01"))
    );

    let mut generic = app_event();
    let object = generic.as_object_mut().unwrap();
    object.insert("type".into(), json!("platform.something.happened"));
    object.insert(
        "data".into(),
        json!({"a": [1, 2.5, {"b": null}], "c": true}),
    );
    object.insert("datacontenttype".into(), json!("application/json"));
    object.insert("dataschema".into(), json!("https://example.test/schema"));
    object.insert("Weird-Name".into(), json!(42));
    let event = CloudEvent::parse(&serde_json::to_vec(&generic).unwrap()).unwrap();
    assert_eq!(
        event.data,
        Some(json!({"a": [1, 2.5, {"b": null}], "c": true}))
    );
    assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(event.extensions.get("Weird-Name"), Some(&json!(42)));

    // Serialization writes every attribute back, and parses to the same event.
    let again = CloudEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    assert_eq!(again, event);
    assert_eq!(serde_json::to_value(&event).unwrap(), generic);
}

#[test]
fn null_optional_attributes_count_as_absent() {
    let mut event = app_event();
    for name in [
        "subject",
        "alternativesubject",
        "time",
        "datacontenttype",
        "dataschema",
        "data",
    ] {
        event
            .as_object_mut()
            .unwrap()
            .insert(name.into(), Value::Null);
    }
    let parsed = CloudEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    assert_eq!(parsed.subject, None);
    assert_eq!(parsed.time, None);
    assert_eq!(parsed.data, None);
    assert!(parsed.extensions.is_empty());
}

#[test]
fn rejects_malformed_bodies_with_the_exact_error() {
    use EventError::*;
    let long = |n: usize| json!("x".repeat(n));
    let cases: Vec<(Vec<u8>, EventError)> = vec![
        (b"".to_vec(), Empty),
        (b" \n\t ".to_vec(), Empty),
        (vec![b' '; MAX_BODY_BYTES + 1], TooLarge),
        (b"{\"id\":\"\xff\"}".to_vec(), NotUtf8),
        (b"\xef\xbb\xbf{}".to_vec(), NotJson("expected value at line 1 column 1".into())),
        (b"{".to_vec(), NotJson("EOF while parsing an object at line 1 column 1".into())),
        (b"{} {}".to_vec(), NotJson("trailing characters at line 1 column 4".into())),
        (b"{\"id\":\"a\",}".to_vec(), NotJson("trailing comma at line 1 column 11".into())),
        (b"[1,2]".to_vec(), NotAnObject),
        (b"\"event\"".to_vec(), NotAnObject),
        (b"null".to_vec(), NotAnObject),
        (b"12".to_vec(), NotAnObject),
        (b"true".to_vec(), NotAnObject),
        (without(app_event(), "id"), MissingAttribute("id")),
        (without(app_event(), "source"), MissingAttribute("source")),
        (without(app_event(), "specversion"), MissingAttribute("specversion")),
        (without(app_event(), "type"), MissingAttribute("type")),
        (with(app_event(), "id", Value::Null), MissingAttribute("id")),
        (with(app_event(), "id", json!("")), EmptyAttribute("id")),
        (with(app_event(), "source", json!("")), EmptyAttribute("source")),
        (with(app_event(), "type", json!("")), EmptyAttribute("type")),
        (with(app_event(), "specversion", json!("")), EmptyAttribute("specversion")),
        (with(app_event(), "id", json!(12)), WrongType { attribute: "id".into(), expected: "a string" }),
        (with(app_event(), "source", json!({"href": SOURCE})), WrongType { attribute: "source".into(), expected: "a string" }),
        (with(app_event(), "type", json!(["app.x"])), WrongType { attribute: "type".into(), expected: "a string" }),
        (with(app_event(), "specversion", json!(1.0)), WrongType { attribute: "specversion".into(), expected: "a string" }),
        (with(app_event(), "specversion", json!("0.3")), UnsupportedSpecVersion),
        (with(app_event(), "specversion", json!("1.0 ")), UnsupportedSpecVersion),
        (with(app_event(), "subject", json!(5)), WrongType { attribute: "subject".into(), expected: "a string" }),
        (with(app_event(), "alternativesubject", json!(false)), WrongType { attribute: "alternativesubject".into(), expected: "a string" }),
        (with(app_event(), "time", json!(1714642272)), WrongType { attribute: "time".into(), expected: "a string" }),
        (with(app_event(), "resource", json!({})), WrongType { attribute: "resource".into(), expected: "a string" }),
        (with(app_event(), "resourceinstance", json!(50660768)), WrongType { attribute: "resourceinstance".into(), expected: "a string" }),
        (with(app_event(), "datacontenttype", json!([])), WrongType { attribute: "datacontenttype".into(), expected: "a string" }),
        (with(app_event(), "dataschema", json!(1)), WrongType { attribute: "dataschema".into(), expected: "a string" }),
        (with(app_event(), "subject", json!("")), EmptyAttribute("subject")),
        (with(app_event(), "id", long(257)), TooLong("id")),
        (with(app_event(), "type", long(257)), TooLong("type")),
        (with(app_event(), "source", long(2049)), TooLong("source")),
        (with(app_event(), "specversion", long(17)), TooLong("specversion")),
        (with(app_event(), "resource", long(2049)), TooLong("resource")),
        (with(app_event(), "resourceinstance", long(2049)), TooLong("resourceinstance")),
        (with(app_event(), "subject", long(2049)), TooLong("subject")),
        (with(app_event(), "time", long(65)), TooLong("time")),
        // 129 two-byte characters: within 256 characters, but 258 bytes.
        (with(app_event(), "id", json!("é".repeat(129))), TooLong("id")),
        (with(app_event(), "id", json!("a\nb")), ControlCharacters("id")),
        (with(app_event(), "type", json!("app.x\u{1b}[31m")), ControlCharacters("type")),
        (with(app_event(), "subject", json!("/party/1\r\n")), ControlCharacters("subject")),
        (br#"{"id":"a","id":"b","source":"s","specversion":"1.0","type":"t"}"#.to_vec(), DuplicateAttribute("id".into())),
        (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","type":"t"}"#.to_vec(), DuplicateAttribute("type".into())),
        (br#"{"id":"a","\u0069d":"b","source":"s","specversion":"1.0","type":"t"}"#.to_vec(), DuplicateAttribute("id".into())),
        (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","X-Y":1,"X-Y":2}"#.to_vec(), DuplicateAttribute("(unprintable name)".into())),
        (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","data":{"k":1,"k":2}}"#.to_vec(), DuplicateNestedKey("data".into())),
        (br#"{"id":"a","source":"s","specversion":"1.0","type":"t","data":[{"x":{"k":1,"k":2}}]}"#.to_vec(), DuplicateNestedKey("data".into())),
        // A syntax error after a duplicate still reports the syntax error.
        (br#"{"id":"a","id":"b",}"#.to_vec(), NotJson("trailing comma at line 1 column 20".into())),
    ];
    for (index, (body, expected)) in cases.into_iter().enumerate() {
        assert_eq!(CloudEvent::parse(&body), Err(expected), "case {index}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let mut body = String::from(r#"{"id":"a","source":"s","specversion":"1.0","type":"t","data":"#);
    body.push_str(&"[".repeat(10_000));
    body.push_str(&"]".repeat(10_000));
    body.push('}');
    let err = CloudEvent::parse(body.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, EventError::NotJson(text) if text.starts_with("recursion limit exceeded")),
        "{err:?}"
    );
}

#[test]
fn errors_never_echo_the_input() {
    let marker = "SECRET-MARKER-0123456789";
    let bodies = [
        format!("{{\"id\":\"{marker}"),
        format!("{{\"{marker}\":1,\"{marker}\":2}}"),
        format!("[\"{marker}\"]"),
        format!(
            "{{\"id\":{{\"{marker}\":1}},\"source\":\"s\",\"specversion\":\"1.0\",\"type\":\"t\"}}"
        ),
        format!("{{\"id\":\"a\",\"source\":\"s\",\"specversion\":\"{marker}\",\"type\":\"t\"}}"),
        format!(
            "{{\"id\":\"a\",\"source\":\"s\",\"specversion\":\"1.0\",\"type\":\"t\",\"subject\":\"{}\"}}",
            marker.repeat(100)
        ),
        format!(
            "{{\"id\":\"a\",\"source\":\"s\",\"specversion\":\"1.0\",\"type\":\"t\",\"time\":\"{marker}\n\"}}"
        ),
        format!("{{\"id\":\"a\"}} {marker}"),
        format!("{{\"id\":\"a\",\"x\":{marker}}}"),
    ];
    for body in bodies {
        let err = CloudEvent::parse(body.as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.len() < 120, "{text}");
    }
}

/// Mutates valid events at random (flips, inserts, deletes, truncations) and checks that
/// parsing never panics, that errors stay short, and that whatever parses survives a
/// serialization round trip and classifies without panicking.
#[test]
fn random_mutations_never_panic() {
    let seeds: Vec<Vec<u8>> = vec![
        serde_json::to_vec(&app_event()).unwrap(),
        with(app_event(), "data", json!({"a": [1, {"b": "c"}], "d": null})),
        br#"{"specversion":"1.0","id":"x","source":"https://platform.altinn.no/events/api/v1/subscriptions/1","type":"platform.events.validatesubscription"}"#.to_vec(),
        br#"{"specversion":"1.0","id":"x","source":"https://platform.altinn.no/correspondence/api/v1/correspondence","type":"no.altinn.correspondence.correspondencepublished","resource":"urn:altinn:resource:r","resourceinstance":"0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00"}"#.to_vec(),
    ];
    let interesting = b"{}[]\",:\\u0000\xff\xc3./@%?#0123456789 \n";
    let allowlists = [at23(), Allowlist::new(AltinnEnvironment::Prod, None)];
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut body = seeds[rng.usize(..seeds.len())].clone();
        for _ in 0..rng.usize(1..4) {
            let at = rng.usize(..=body.len());
            match rng.u8(..4) {
                0 if at < body.len() => body[at] = interesting[rng.usize(..interesting.len())],
                1 => body.insert(at, interesting[rng.usize(..interesting.len())]),
                2 if at < body.len() => {
                    body.remove(at);
                }
                _ => body.truncate(at),
            }
        }
        match CloudEvent::parse(&body) {
            Ok(event) => {
                parsed += 1;
                let again = CloudEvent::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
                assert_eq!(again, event);
                for allowlist in &allowlists {
                    let _kind = event.classify(allowlist);
                }
            }
            Err(err) => assert!(err.to_string().len() < 120, "{err}"),
        }
    }
    assert!(
        parsed > 100,
        "the mutations should leave some events valid ({parsed})"
    );
}

#[test]
fn classifies_app_events_strictly() {
    let classify = |event: Value| {
        CloudEvent::parse(&serde_json::to_vec(&event).unwrap())
            .unwrap()
            .classify(&at23())
    };
    let cases: Vec<(Value, Result<(), SourceError>)> = vec![
        (app_event(), Ok(())),
        (serde_json::from_slice(&without(app_event(), "resource")).unwrap(), Ok(())),
        (serde_json::from_slice(&without(app_event(), "resourceinstance")).unwrap(), Ok(())),
        (serde_json::from_slice(&with(app_event(), "resource", json!("urn:altinn:resource:app_ttd_other"))).unwrap(), Err(SourceError::ResourceMismatch)),
        (serde_json::from_slice(&with(app_event(), "resource", json!("urn:altinn:app:ttd.apps-test"))).unwrap(), Err(SourceError::ResourceMismatch)),
        (serde_json::from_slice(&with(app_event(), "resourceinstance", json!("428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::ResourceInstanceMismatch)),
        (serde_json::from_slice(&with(app_event(), "resourceinstance", json!("50660769/428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::ResourceInstanceMismatch)),
        (serde_json::from_slice(&with(app_event(), "source", json!("https://evil.example/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::HostNotAllowed)),
        (serde_json::from_slice(&with(app_event(), "source", json!("https://skd.apps.at23.altinn.cloud/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"))).unwrap(), Err(SourceError::ForeignOrg)),
    ];
    for (index, (event, expected)) in cases.into_iter().enumerate() {
        let result =
            classify(event).map(|kind| assert!(matches!(kind, EventKind::AppInstance { .. })));
        assert_eq!(result, expected, "case {index}");
    }

    // An event that is not typed `app.` but names an app resource is still checked.
    let mut disguised = app_event();
    disguised["type"] = json!("platform.custom");
    disguised["source"] = json!("https://evil.example/x");
    assert_eq!(classify(disguised), Err(SourceError::HostNotAllowed));
}

#[test]
fn classifies_correspondence_and_other_events() {
    let correspondence = json!({
        "specversion": "1.0",
        "id": "d1c2b3a4-0000-4000-8000-000000000001",
        "time": "2025-01-10T10:00:00Z",
        "type": "no.altinn.correspondence.correspondencepublished",
        "source": "https://platform.altinn.no/correspondence/api/v1/correspondence",
        "resource": "urn:altinn:resource:skd-melding",
        "resourceinstance": "0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00",
        "subject": "urn:altinn:organization:identifier-no:991825827",
        "alternativesubject": "/organisation/991825827"
    });
    let parse = |value: &Value| CloudEvent::parse(&serde_json::to_vec(value).unwrap()).unwrap();
    assert_eq!(
        parse(&correspondence).classify(&at23()),
        Ok(EventKind::Correspondence(CorrespondenceRef {
            resource: "urn:altinn:resource:skd-melding".into(),
            resourceinstance: "0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00".into(),
        }))
    );
    let mut no_resource = correspondence.clone();
    no_resource.as_object_mut().unwrap().remove("resource");
    assert_eq!(
        parse(&no_resource).classify(&at23()),
        Err(SourceError::MissingResource)
    );
    let mut no_instance = correspondence.clone();
    no_instance
        .as_object_mut()
        .unwrap()
        .remove("resourceinstance");
    assert_eq!(
        parse(&no_instance).classify(&at23()),
        Err(SourceError::MissingResourceInstance)
    );

    let mut other = correspondence;
    other["type"] = json!("platform.party.changed");
    assert_eq!(parse(&other).classify(&at23()), Ok(EventKind::Other));
}
