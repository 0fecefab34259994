//! The properties the fuzz targets check (fuzz/fuzz_targets include this file by path), also run
//! by `tests/fuzz_regressions.rs` on the seed inputs and every input a fuzzer ever crashed on.
//! Depends only on `altinn`, `serde_json` and `bytes`, so the fuzz crate stays small.

use altinn::{Allowlist, AltinnEnvironment, CloudEvent, Instance, RawInstance};

/// `CloudEvent::parse` never panics; what it accepts serialises to JSON it accepts again as
/// the same event; classifying it against any environment's allowlist never panics.
pub fn cloud_event(data: &[u8]) {
    let Ok(event) = CloudEvent::parse(data) else {
        return;
    };
    let again = serde_json::to_vec(&event).expect("a parsed event serialises");
    let reparsed = CloudEvent::parse(&again).expect("a serialised event parses again");
    assert_eq!(event, reparsed, "round trip changed the event");
    for allowlist in allowlists() {
        let _ = event.classify(&allowlist);
    }
}

/// `parse_app_source` never panics for any environment; what it accepts names a host the
/// allowlist permits, and the canonical source built from the parsed ids parses to the same ids.
pub fn source(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for allowlist in allowlists() {
        let Ok(instance) = allowlist.parse_app_source(&text) else {
            continue;
        };
        let base = allowlist.environment().apps_url(&instance.org);
        assert!(
            allowlist.permits(&base),
            "accepted a source of an org whose apps host is not permitted"
        );
        let canonical = format!(
            "{base}{}/{}/instances/{}/{}",
            instance.org, instance.app, instance.party_id, instance.instance_guid
        );
        let again = allowlist
            .parse_app_source(&canonical)
            .expect("the canonical source parses");
        assert_eq!(again, instance, "canonical source names other ids");
    }
}

/// Instance JSON (either Altinn dialect) never panics the parsers, and what parses serialises to
/// JSON that parses to the same instance.
pub fn instance(data: &[u8]) {
    let from_slice = serde_json::from_slice::<Instance>(data);
    let raw = RawInstance::parse(bytes::Bytes::copy_from_slice(data));
    assert_eq!(from_slice.is_ok(), raw.is_ok(), "the two parsers disagree");
    let Ok(instance) = from_slice else {
        return;
    };
    let _ = instance.is_process_complete();
    let again = serde_json::to_vec(&instance).expect("an instance serialises");
    let reparsed: Instance =
        serde_json::from_slice(&again).expect("a serialised instance parses again");
    assert_eq!(instance, reparsed, "round trip changed the instance");
}

/// Every kind of environment, with and without a pinned org.
fn allowlists() -> Vec<Allowlist> {
    let mut environments = Vec::new();
    for name in ["prod", "tt02", "at22", "yt01"] {
        if let Ok(environment) = AltinnEnvironment::parse(name, None, None) {
            environments.push(environment);
        }
    }
    if let Ok(local) = AltinnEnvironment::parse(
        "local",
        Some("http://127.0.0.1:5101/"),
        Some("http://127.0.0.1:5101/apps/"),
    ) {
        environments.push(local);
    }
    let mut allowlists = Vec::new();
    for environment in environments {
        allowlists.push(Allowlist::new(environment.clone(), None));
        allowlists.push(Allowlist::new(environment, Some("ttd".to_owned())));
    }
    allowlists
}
