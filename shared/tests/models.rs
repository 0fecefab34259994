//! The models end to end through the public API, as the webhook and the archiver use them:
//! configuration → allowlist → event bytes → classification → instance bytes → what to fetch.

use std::collections::HashMap;

use altinn::environment::AltinnEnvironment;
use altinn::event::{EventError, PROCESS_COMPLETED};
use altinn::instance::{InstanceQueryPage, ReadStatus};
use altinn::{AltinnConfig, CloudEvent, EventKind, RawInstance, SourceError};
use bytes::Bytes;

const APP_EVENT: &[u8] = include_bytes!("fixtures/event-app-process-completed.json");
const VALIDATION_EVENT: &[u8] = include_bytes!("fixtures/event-validate-subscription.json");
const CORRESPONDENCE_EVENT: &[u8] = include_bytes!("fixtures/event-correspondence-published.json");
const STORAGE_INSTANCE: &[u8] = include_bytes!("fixtures/storage-instance-completed.json");
const APP_INSTANCE: &[u8] = include_bytes!("fixtures/app-instance-completed.json");
const APP_INSTANCE_IN_PROGRESS: &[u8] = include_bytes!("fixtures/app-instance-in-progress.json");
const QUERY_PAGE: &[u8] = include_bytes!("fixtures/storage-instance-query-page.json");

fn config(env: &str, org: &str) -> AltinnConfig {
    let vars = HashMap::from([
        ("ALTINN_ENV", env.to_owned()),
        ("ALTINN_ORG", org.to_owned()),
        (
            "MASKINPORTEN_CLIENT_ID",
            "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f".to_owned(),
        ),
        (
            "MASKINPORTEN_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:eu-north-1:123456789012:secret:mp-key".to_owned(),
        ),
    ]);
    AltinnConfig::from_lookup(|name| vars.get(name).cloned()).expect("valid configuration")
}

#[test]
fn completed_event_leads_to_the_instance_and_its_archivable_data() {
    let config = config("tt02", "ttd");
    let allowlist = config.allowlist();

    let event = CloudEvent::parse(APP_EVENT).expect("the fixture is a valid CloudEvent");
    let EventKind::AppInstance {
        instance: instance_ref,
        event_type,
    } = event
        .classify(&allowlist)
        .expect("the source is allowlisted")
    else {
        panic!("expected an app instance event");
    };
    assert_eq!(event_type, PROCESS_COMPLETED);
    assert_eq!(
        instance_ref.instance_id(),
        "50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"
    );

    // The URLs the archiver builds from the parsed ids may carry our token.
    let storage = config
        .environment
        .platform_url()
        .join(&format!(
            "storage/api/v1/instances/{}",
            instance_ref.instance_id()
        ))
        .unwrap();
    assert!(allowlist.permits(&storage), "{storage}");
    let complete = config
        .environment
        .apps_url(&instance_ref.org)
        .join(&format!(
            "{}/instances/{}/complete",
            instance_ref.app_id(),
            instance_ref.instance_id()
        ))
        .unwrap();
    assert_eq!(
        complete.as_str(),
        "https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/complete"
    );
    assert!(allowlist.permits(&complete));

    for body in [STORAGE_INSTANCE, APP_INSTANCE] {
        let raw = RawInstance::parse(Bytes::from_static(body)).expect("both dialects parse");
        assert_eq!(&raw.raw[..], body);
        let instance = raw.instance;
        assert!(instance.is_instance(&instance_ref));
        assert!(instance.is_process_complete());
        let guids: Vec<String> = instance
            .archivable_data()
            .map(|element| element.data_guid().expect("canonical guid").to_string())
            .collect();
        assert_eq!(
            guids,
            [
                "1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
                "7c1d9e2f-5a6b-4c7d-9e8f-a0b1c2d3e4f5",
                "b3a2c1d0-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
            ]
        );
        assert_eq!(instance.status.unwrap().read_status, Some(ReadStatus::Read));
    }

    // Storage's copy carries our confirmation; the App's (fetched before `complete`) does not.
    let storage = RawInstance::parse(Bytes::from_static(STORAGE_INSTANCE))
        .unwrap()
        .instance;
    let app = RawInstance::parse(Bytes::from_static(APP_INSTANCE))
        .unwrap()
        .instance;
    assert!(storage.is_confirmed_by(&config.org));
    assert!(!app.is_confirmed_by(&config.org));

    let in_progress = RawInstance::parse(Bytes::from_static(APP_INSTANCE_IN_PROGRESS)).unwrap();
    assert!(!in_progress.instance.is_process_complete());
}

#[test]
fn the_same_event_is_refused_in_other_environments_and_for_other_orgs() {
    let event = CloudEvent::parse(APP_EVENT).unwrap();
    assert_eq!(
        event.classify(&config("prod", "ttd").allowlist()),
        Err(SourceError::HostNotAllowed)
    );
    assert_eq!(
        event.classify(&config("at22", "ttd").allowlist()),
        Err(SourceError::HostNotAllowed)
    );
    assert_eq!(
        event.classify(&config("tt02", "skd").allowlist()),
        Err(SourceError::ForeignOrg)
    );

    let local = AltinnEnvironment::parse(
        "local",
        Some("http://127.0.0.1:5101/"),
        Some("http://127.0.0.1:5102/"),
    )
    .unwrap();
    let allowlist = altinn::Allowlist::new(local, Some("ttd".into()));
    assert_eq!(event.classify(&allowlist), Err(SourceError::HostNotAllowed));
}

#[test]
fn validation_and_correspondence_events() {
    let allowlist = config("tt02", "ttd").allowlist();
    let validation = CloudEvent::parse(VALIDATION_EVENT).unwrap();
    assert_eq!(
        validation.classify(&allowlist),
        Ok(EventKind::SubscriptionValidation {
            subscription_id: Some("1234".into())
        })
    );
    let correspondence = CloudEvent::parse(CORRESPONDENCE_EVENT).unwrap();
    let Ok(EventKind::Correspondence(reference)) = correspondence.classify(&allowlist) else {
        panic!("expected a correspondence event");
    };
    assert_eq!(reference.resource, "urn:altinn:resource:ttd-melding");
    assert_eq!(
        reference.resourceinstance,
        "0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00"
    );
}

#[test]
fn a_tampered_event_is_refused_before_classification() {
    let text = std::str::from_utf8(APP_EVENT).unwrap();
    // Appending a second `source` would make serde_json keep the attacker's one.
    let tampered = text.trim_end().trim_end_matches('}').to_owned()
        + r#","source":"https://evil.example/ttd/apps-test/instances/1/428a4575-2c04-4400-89a3-1aaadd2579cd"}"#;
    assert_eq!(
        CloudEvent::parse(tampered.as_bytes()),
        Err(EventError::DuplicateAttribute("source".into()))
    );
}

#[test]
fn reconciliation_page_lists_completed_instances_not_yet_confirmed() {
    let page: InstanceQueryPage = serde_json::from_slice(QUERY_PAGE).unwrap();
    assert_eq!(page.count as usize, page.instances.len());
    assert!(page.next.is_some());
    for instance in &page.instances {
        assert!(instance.is_process_complete());
        assert!(!instance.is_confirmed_by("ttd"));
        assert!(instance.party_id().is_some() && instance.instance_guid().is_some());
    }
}

/// The simulator's events and Storage JSON (written independently from the reference) go
/// through the same parsers: a drift between the two shows up here.
#[tokio::test]
async fn simulator_events_and_instances_parse_into_the_same_instance() {
    use altinn_sim::{DataSpec, InstanceSpec, SimConfig, Simulator};

    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let seeded = sim.add_instance(
        InstanceSpec::new("apps-test", 50660768)
            .with_data(DataSpec::xml_form())
            .with_data(DataSpec::pdf())
            .with_data(DataSpec::attachment("vedlegg.bin", 4096, 7).with_content_hash())
            .with_data(DataSpec::attachment("slettet.bin", 10, 8).hard_deleted())
            .completed(true),
    );
    let environment = AltinnEnvironment::parse(
        "local",
        Some(sim.platform_url().as_str()),
        Some(sim.apps_url().as_str()),
    )
    .unwrap();
    let allowlist = altinn::Allowlist::new(environment, Some(seeded.org.clone()));

    let body = serde_json::to_vec(&sim.cloud_event(&seeded, PROCESS_COMPLETED)).unwrap();
    let event = CloudEvent::parse(&body).expect("the simulator's event is a valid CloudEvent");
    let Ok(EventKind::AppInstance {
        instance: instance_ref,
        ..
    }) = event.classify(&allowlist)
    else {
        panic!(
            "expected an allowlisted app event, got {:?}",
            event.classify(&allowlist)
        );
    };
    assert_eq!(instance_ref.instance_id(), seeded.instance_id());
    assert_eq!(instance_ref.app_id(), seeded.app_id());

    let json = sim
        .instance_json(seeded.party_id, seeded.instance_guid)
        .expect("seeded");
    let raw = RawInstance::parse(Bytes::from(serde_json::to_vec(&json).unwrap())).unwrap();
    let instance = raw.instance;
    assert!(instance.is_instance(&instance_ref));
    assert!(instance.is_process_complete());
    let archivable: Vec<_> = instance
        .archivable_data()
        .map(|element| {
            (
                element.data_guid().unwrap(),
                element.size,
                element.data_type.clone(),
            )
        })
        .collect();
    let expected: Vec<_> = seeded
        .live_data()
        .map(|data| (data.id, data.size, data.data_type.clone()))
        .collect();
    assert_eq!(archivable, expected);
}
