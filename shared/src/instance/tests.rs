//! The instance model against fixtures of both dialects and hand-made odd values.

use serde_json::Value;

use super::*;
use serde_json::json;

const STORAGE_COMPLETED: &[u8] =
    include_bytes!("../../tests/fixtures/storage-instance-completed.json");
const APP_COMPLETED: &[u8] = include_bytes!("../../tests/fixtures/app-instance-completed.json");
const APP_IN_PROGRESS: &[u8] = include_bytes!("../../tests/fixtures/app-instance-in-progress.json");
const QUERY_PAGE: &[u8] = include_bytes!("../../tests/fixtures/storage-instance-query-page.json");

const INSTANCE_ID: &str = "50660768/428a4575-2c04-4400-89a3-1aaadd2579cd";

fn parse(bytes: &[u8]) -> Instance {
    RawInstance::parse(Bytes::copy_from_slice(bytes))
        .unwrap()
        .instance
}

fn instance_ref() -> InstanceRef {
    InstanceRef {
        org: "ttd".into(),
        app: "apps-test".into(),
        party_id: 50660768,
        instance_guid: Uuid::parse_str("428a4575-2c04-4400-89a3-1aaadd2579cd").unwrap(),
    }
}

#[test]
fn storage_dialect_completed_instance() {
    let raw = RawInstance::parse(Bytes::from_static(STORAGE_COMPLETED)).unwrap();
    assert_eq!(
        &raw.raw[..],
        STORAGE_COMPLETED,
        "the raw bytes are kept verbatim"
    );
    let instance = raw.instance;
    assert_eq!(instance.id, INSTANCE_ID);
    assert_eq!(instance.party_id(), Some(50660768));
    assert_eq!(instance.instance_guid(), Some(instance_ref().instance_guid));
    assert!(instance.is_instance(&instance_ref()));
    assert_eq!(instance.org, "ttd");
    assert_eq!(
        instance.instance_owner.party_id.as_deref(),
        Some("50660768")
    );
    assert_eq!(
        instance.instance_owner.person_number.as_deref(),
        Some("07837399275")
    );
    assert_eq!(instance.instance_owner.party, None);
    assert!(instance.is_process_complete());
    assert!(instance.is_confirmed_by("ttd"));
    assert!(instance.is_confirmed_by("TTD"));
    assert!(!instance.is_confirmed_by("skd"));

    let status = instance.status.as_ref().unwrap();
    assert!(status.is_archived);
    assert_eq!(
        status.archived.as_deref(),
        Some("2024-05-02T09:31:11.8211235Z")
    );
    assert_eq!(status.read_status, Some(ReadStatus::Read));
    assert_eq!(
        status.substatus.as_ref().unwrap().label.as_deref(),
        Some("substatus.approved")
    );
    assert_eq!(status.substatus.as_ref().unwrap().description, None);

    assert_eq!(
        instance.self_links.as_ref().unwrap().platform.as_deref(),
        Some(
            "https://platform.tt02.altinn.no/storage/api/v1/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd"
        )
    );
    assert_eq!(instance.due_before.as_deref(), Some("2024-06-30T00:00:00Z"));
    assert_eq!(
        instance.presentation_texts.get("Navn").map(String::as_str),
        Some("Ola Nordmann")
    );
    assert_eq!(
        instance.data_values.get("saksnummer").map(String::as_str),
        Some("2024-0042")
    );
    assert_eq!(instance.last_changed_by.as_deref(), Some("991825827"));

    assert_eq!(instance.data.len(), 4);
    let archivable: Vec<&str> = instance
        .archivable_data()
        .map(|d| d.data_type.as_str())
        .collect();
    assert_eq!(archivable, ["model", "ref-data-as-pdf", "vedlegg"]);

    let form = &instance.data[0];
    assert_eq!(form.content_type.as_deref(), Some("application/xml"));
    assert_eq!(form.filename, None);
    assert_eq!(form.size, 1523);
    assert!(form.locked);
    assert!(form.is_read);
    assert_eq!(form.file_scan_result, Some(FileScanResult::NotApplicable));
    assert_eq!(
        form.data_guid(),
        Some(Uuid::parse_str("1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5b").unwrap())
    );
    assert_eq!(
        form.blob_storage_path.as_deref(),
        Some(
            "ttd/apps-test/428a4575-2c04-4400-89a3-1aaadd2579cd/data/1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
        )
    );

    let pdf = &instance.data[1];
    assert_eq!(pdf.filename.as_deref(), Some("apps-test.pdf"));
    assert_eq!(
        pdf.content_hash.as_deref(),
        Some("q8Jt4n3yVbFzH0wX1e2dKA==")
    );
    assert_eq!(
        pdf.references,
        [Reference {
            value: Some("Task_1".into()),
            relation: Some("GeneratedFrom".into()),
            value_type: Some("Task".into())
        }]
    );

    let attachment = &instance.data[2];
    assert_eq!(attachment.file_scan_result, Some(FileScanResult::Clean));
    assert_eq!(attachment.tags, ["kvittering"]);
    assert_eq!(
        attachment.user_defined_metadata,
        [KeyValueEntry {
            key: "kilde".into(),
            value: Some("opplasting".into())
        }]
    );
    assert!(!attachment.is_read);

    let deleted = &instance.data[3];
    assert!(deleted.is_hard_deleted());
    assert_eq!(
        deleted
            .delete_status
            .as_ref()
            .unwrap()
            .hard_deleted
            .as_deref(),
        Some("2024-05-02T09:19:02.1012345Z")
    );
}

#[test]
fn app_dialect_completed_instance_with_nulls_everywhere() {
    let instance = parse(APP_COMPLETED);
    assert_eq!(instance.id, INSTANCE_ID);
    assert!(instance.is_instance(&instance_ref()));
    assert!(instance.is_process_complete());
    assert!(
        !instance.is_confirmed_by("ttd"),
        "completeConfirmations: null reads as empty"
    );
    assert!(instance.complete_confirmations.is_empty());
    assert_eq!(instance.due_before, None);
    assert!(instance.presentation_texts.is_empty());

    let owner = &instance.instance_owner;
    assert_eq!(owner.party_id.as_deref(), Some("50660768"));
    assert_eq!(owner.organisation_number, None);
    let party = owner.party.as_ref().unwrap();
    assert_eq!(party.party_id, Some(50660768));
    assert_eq!(party.party_type_name, Some(PartyType::Person));
    assert_eq!(party.name.as_deref(), Some("Ola Nordmann"));
    assert!(!party.is_deleted);

    let status = instance.status.as_ref().unwrap();
    assert_eq!(status.read_status, Some(ReadStatus::Read));
    assert_eq!(status.substatus, None);

    let links = instance.self_links.as_ref().unwrap();
    assert!(
        links
            .apps
            .as_deref()
            .unwrap()
            .starts_with("https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/")
    );

    let archivable: Vec<&str> = instance
        .archivable_data()
        .map(|d| d.data_type.as_str())
        .collect();
    assert_eq!(archivable, ["model", "ref-data-as-pdf", "vedlegg"]);
    let form = &instance.data[0];
    assert_eq!(form.filename, None);
    assert!(form.refs.is_empty() && form.tags.is_empty() && form.metadata.is_empty());
    assert!(form.is_read, "isRead: null reads as Altinn's default, true");
    assert_eq!(form.delete_status, None);
    let pdf = &instance.data[1];
    assert_eq!(pdf.references[0].relation.as_deref(), Some("0"));
    assert_eq!(pdf.references[0].value_type.as_deref(), Some("1"));
    assert!(instance.data[3].is_hard_deleted());
}

#[test]
fn both_dialects_describe_the_same_instance() {
    let storage = parse(STORAGE_COMPLETED);
    let app = parse(APP_COMPLETED);
    assert_eq!(storage.id, app.id);
    assert_eq!(storage.app_id, app.app_id);
    let ids = |i: &Instance| {
        i.archivable_data()
            .map(|d| (d.id.clone(), d.size))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&storage), ids(&app));
    assert_eq!(
        storage.status.unwrap().read_status,
        app.status.unwrap().read_status
    );
}

#[test]
fn app_dialect_instance_in_progress() {
    let instance = parse(APP_IN_PROGRESS);
    assert!(!instance.is_process_complete());
    let task = instance
        .process
        .as_ref()
        .unwrap()
        .current_task
        .as_ref()
        .unwrap();
    assert_eq!(task.element_id.as_deref(), Some("Task_1"));
    assert_eq!(task.altinn_task_type.as_deref(), Some("data"));
    assert_eq!(task.flow, Some(2));
    assert_eq!(task.flow_type.as_deref(), Some("CompleteCurrentMoveToNext"));
    assert_eq!(task.ended, None);
    assert_eq!(
        instance.status.unwrap().read_status,
        Some(ReadStatus::Unread)
    );
}

#[test]
fn query_page() {
    let page: InstanceQueryPage = serde_json::from_slice(QUERY_PAGE).unwrap();
    assert_eq!(page.count, 2);
    assert_eq!(page.instances.len(), 2);
    assert!(page.next.as_deref().unwrap().contains("continuationToken="));
    assert!(page.self_link.is_some());
    assert!(page.instances.iter().all(Instance::is_process_complete));
    let last: InstanceQueryPage =
        serde_json::from_value(json!({"count": 0, "self": "x", "next": null, "instances": null}))
            .unwrap();
    assert_eq!(last.next, None);
    assert!(last.instances.is_empty());
}

#[test]
fn read_status_in_both_dialects() {
    for (value, expected) in [
        (json!("Unread"), Some(ReadStatus::Unread)),
        (json!("Read"), Some(ReadStatus::Read)),
        (
            json!("UpdatedSinceLastReview"),
            Some(ReadStatus::UpdatedSinceLastReview),
        ),
        (json!("read"), Some(ReadStatus::Read)),
        (json!(0), Some(ReadStatus::Unread)),
        (json!(1), Some(ReadStatus::Read)),
        (json!(2), Some(ReadStatus::UpdatedSinceLastReview)),
        (json!(3), None),
        (json!(-1), None),
        (json!(1.5), None),
        (json!("Archived"), None),
        (json!(null), None),
        (json!({"x": 1}), None),
    ] {
        let status: InstanceStatus = serde_json::from_value(json!({"readStatus": value})).unwrap();
        assert_eq!(status.read_status, expected, "{value}");
    }
    assert!(
        serde_json::from_value::<ReadStatus>(json!(7)).is_err(),
        "the type itself is strict"
    );
    assert_eq!(
        serde_json::to_value(ReadStatus::UpdatedSinceLastReview).unwrap(),
        json!("UpdatedSinceLastReview")
    );
}

#[test]
fn process_completion_rules() {
    let complete = |process: Value| {
        parse(&serde_json::to_vec(&json!({"id": INSTANCE_ID, "process": process})).unwrap())
            .is_process_complete()
    };
    assert!(complete(
        json!({"ended": "2024-05-02T09:31:11Z", "endEvent": "EndEvent_1"})
    ));
    assert!(complete(
        json!({"ended": "2024-05-02T09:31:11Z", "currentTask": null})
    ));
    assert!(
        complete(json!({"endEvent": "EndEvent_1"})),
        "endEvent alone is accepted"
    );
    assert!(!complete(json!({"started": "2024-05-02T09:00:00Z"})));
    assert!(!complete(json!({"ended": "", "endEvent": null})));
    assert!(!complete(
        json!({"ended": "2024-05-02T09:31:11Z", "currentTask": {"elementId": "Task_2"}})
    ));
    assert!(
        !complete(json!({"ended": "2024-05-02T09:31:11Z", "currentTask": "Task_2"})),
        "an odd task still counts"
    );
    assert!(!complete(
        json!({"ended": "2024-05-02T09:31:11Z", "currentTask": {"flow": "two"}})
    ));
    assert!(!complete(json!(null)));
    let no_process: Instance = serde_json::from_value(json!({"id": INSTANCE_ID})).unwrap();
    assert!(!no_process.is_process_complete());
}

#[test]
fn minimal_and_odd_instances_still_parse() {
    let minimal: Instance = serde_json::from_value(json!({"id": INSTANCE_ID})).unwrap();
    assert_eq!(minimal.app_id, "");
    assert!(minimal.data.is_empty());
    assert!(!minimal.is_instance(&instance_ref()));

    let odd: Instance = serde_json::from_value(json!({
        "id": INSTANCE_ID, "appId": null, "org": null, "instanceOwner": null,
        "instanceOwner2": {"anything": true},
        "presentationTexts": {"a": "b", "n": null, "x": 3},
        "status": {"isArchived": null, "readStatus": "SomethingNew", "substatus": "odd"},
        "data": [{"id": "not-a-guid", "dataType": null, "size": null, "isRead": null,
                  "fileScanResult": "Quarantined", "references": [{"value": "x", "relation": {"a": 1}}]}]
    }))
    .unwrap();
    assert_eq!(
        odd.presentation_texts,
        BTreeMap::from([("a".to_owned(), "b".to_owned())])
    );
    let status = odd.status.as_ref().unwrap();
    assert!(!status.is_archived);
    assert_eq!(status.read_status, None);
    assert_eq!(status.substatus, None);
    let element = &odd.data[0];
    assert_eq!(element.size, 0);
    assert!(element.is_read);
    assert_eq!(element.file_scan_result, None);
    assert_eq!(element.references[0].relation, None);
    assert_eq!(element.data_guid(), None);
}

#[test]
fn ids_are_required() {
    assert!(serde_json::from_value::<Instance>(json!({"appId": "ttd/a"})).is_err());
    assert!(
        serde_json::from_value::<Instance>(
            json!({"id": INSTANCE_ID, "data": [{"dataType": "model"}]})
        )
        .is_err()
    );
    assert!(
        serde_json::from_value::<Instance>(
            json!({"id": INSTANCE_ID, "completeConfirmations": [{"confirmedOn": "x"}]})
        )
        .is_err()
    );
    assert!(RawInstance::parse(Bytes::from_static(b"[]")).is_err());
}

#[test]
fn ids_parse_only_in_canonical_form() {
    for (id, party, guid) in [
        (INSTANCE_ID, Some(50660768), true),
        (
            "050660768/428a4575-2c04-4400-89a3-1aaadd2579cd",
            None,
            false,
        ),
        (
            "50660768/428A4575-2C04-4400-89A3-1AAADD2579CD",
            Some(50660768),
            false,
        ),
        ("50660768", None, false),
        ("", None, false),
    ] {
        let instance: Instance = serde_json::from_value(json!({"id": id})).unwrap();
        assert_eq!(instance.party_id(), party, "{id}");
        assert_eq!(instance.instance_guid().is_some(), guid, "{id}");
    }
}

#[test]
fn serialization_round_trips_in_the_storage_style() {
    for fixture in [STORAGE_COMPLETED, APP_COMPLETED, APP_IN_PROGRESS] {
        let instance = parse(fixture);
        let written = serde_json::to_value(&instance).unwrap();
        assert_eq!(
            serde_json::from_value::<Instance>(written.clone()).unwrap(),
            instance
        );
        assert!(
            !written.to_string().contains("null"),
            "None is omitted: {written}"
        );
    }
    let written = serde_json::to_value(parse(APP_COMPLETED)).unwrap();
    assert_eq!(written["status"]["readStatus"], json!("Read"));
    assert_eq!(
        written["instanceOwner"]["party"]["partyTypeName"],
        json!("Person")
    );
}
