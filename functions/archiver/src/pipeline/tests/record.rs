//! The instance's record beyond its data: Storage's history and the app's metadata stored
//! before the manifest and listed in it, and Altinn's description of each element in the
//! manifest.

use altinn::instance::FileScanResult;
use sha2::Sha256;

use super::*;
use crate::manifest::{ManifestObject, ObjectRole};
use crate::memory::Read;

fn entry(manifest: &Manifest, role: ObjectRole) -> ManifestObject {
    manifest
        .objects
        .iter()
        .find(|o| o.role == role)
        .unwrap_or_else(|| panic!("no {role:?} in the manifest"))
        .clone()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn metadata_key(sha256: &str) -> String {
    format!("archive/{ORG}/{APP}/_app/metadata-{sha256}.json")
}

#[tokio::test]
async fn history_and_app_metadata_are_stored_raw_before_the_manifest_and_listed_in_it() {
    let fixture = Fixture::new();
    let form = element(3, 100);
    fixture.seed(&[&form], &[], true);
    let events = json!({ "instanceEvents": [{ "id": "e1", "eventType": "Created" }] });
    let history = json!({ "processHistory": [{ "eventType": "process_EndEvent" }] });
    fixture
        .altinn
        .put_history(&fixture.instance, events.clone(), history.clone());
    let metadata = json!({ "id": format!("{ORG}/{APP}"), "versionId": "8.1.0" });
    fixture.altinn.put_app_metadata(ORG, APP, metadata.clone());

    summary(fixture.archive().await.unwrap());
    let manifest = fixture.manifest();
    assert_eq!(manifest.manifest_version, 2);
    let roles: Vec<ObjectRole> = manifest.objects.iter().map(|o| o.role).collect();
    assert_eq!(
        roles,
        [
            ObjectRole::Instance,
            ObjectRole::Event,
            ObjectRole::InstanceEvents,
            ObjectRole::ProcessHistory,
            ObjectRole::AppMetadata,
            ObjectRole::DataElement,
        ]
    );
    for (role, key, json) in [
        (
            ObjectRole::InstanceEvents,
            fixture.key("history/instance-events.json"),
            &events,
        ),
        (
            ObjectRole::ProcessHistory,
            fixture.key("history/process-history.json"),
            &history,
        ),
        (
            ObjectRole::AppMetadata,
            metadata_key(&sha256_hex(metadata.to_string().as_bytes())),
            &metadata,
        ),
    ] {
        let listed = entry(&manifest, role);
        assert_eq!(listed.key, key, "{role:?}");
        let stored = fixture.archive.object(&key).expect("stored");
        assert_eq!(stored.bytes, json.to_string().as_bytes(), "raw bytes kept");
        assert_eq!(listed.sha256, sha256_hex(&stored.bytes));
        assert_eq!(listed.size, stored.bytes.len() as u64);
        assert_eq!(listed.content_type, "application/json");
        assert_eq!((listed.data_element_id, listed.locked), (None, None));
        let put = fixture.journal.position(&format!("put {key}")).unwrap();
        let manifest_put = fixture
            .journal
            .position(&format!("put {}", fixture.key("manifest.json")))
            .unwrap();
        assert!(put < manifest_put, "{role:?} is stored before the manifest");
    }
    assert_eq!(
        manifest.app_metadata().map(|m| m.key.clone()),
        Some(entry(&manifest, ObjectRole::AppMetadata).key)
    );
}

#[tokio::test]
async fn app_metadata_is_stored_once_per_distinct_content() {
    let mut fixture = Fixture::new();
    let first_instance = fixture.instance.clone();
    let form = element(3, 10);
    fixture.seed(&[&form], &[], true);
    summary(fixture.archive().await.unwrap());
    let first = entry(&fixture.manifest(), ObjectRole::AppMetadata);

    // Another instance of the same app, the metadata unchanged: the same object.
    fixture.instance.instance_guid = Uuid::new_v4();
    fixture.seed(&[&form], &[], true);
    summary(fixture.archive().await.unwrap());
    assert_eq!(entry(&fixture.manifest(), ObjectRole::AppMetadata), first);

    // The app is deployed anew: a second object; the first stays for the first manifest.
    fixture.altinn.put_app_metadata(
        ORG,
        APP,
        json!({ "id": format!("{ORG}/{APP}"), "versionId": "9" }),
    );
    fixture.instance.instance_guid = Uuid::new_v4();
    fixture.seed(&[&form], &[], true);
    summary(fixture.archive().await.unwrap());
    let second = entry(&fixture.manifest(), ObjectRole::AppMetadata);
    assert_ne!(second.key, first.key);
    let app_objects: Vec<String> = fixture
        .archive
        .keys()
        .into_iter()
        .filter(|key| key.contains("/_app/"))
        .collect();
    assert_eq!(app_objects.len(), 2, "{app_objects:?}");
    assert!(fixture.archive.object(&first.key).is_some());
    let first_manifest = fixture
        .archive
        .object(&format!(
            "archive/{ORG}/{APP}/{PARTY}/{}/manifest.json",
            first_instance.instance_guid
        ))
        .unwrap();
    let first_manifest: Manifest = serde_json::from_slice(&first_manifest.bytes).unwrap();
    assert_eq!(
        entry(&first_manifest, ObjectRole::AppMetadata).key,
        first.key
    );
}

#[tokio::test]
async fn a_failed_history_read_fails_before_any_download_and_a_rerun_keeps_the_first_write() {
    let fixture = Fixture::new();
    let form = element(3, 100);
    fixture.seed(&[&form], &[], true);
    let first = json!({ "processHistory": [{ "elementId": "first" }] });
    fixture.altinn.put_history(
        &fixture.instance,
        json!({ "instanceEvents": [] }),
        first.clone(),
    );
    for read in [
        Read::InstanceEvents,
        Read::ProcessHistory,
        Read::AppMetadata,
    ] {
        fixture.altinn.fail_read(
            read,
            ArchiveError::transient(FailureReason::AltinnUnreachable, "503"),
        );
        let error = fixture.archive().await.unwrap_err();
        assert_eq!(error.reason, FailureReason::AltinnUnreachable, "{read:?}");
        assert_eq!(fixture.downloads(&form), 0, "{read:?}");
        assert!(
            fixture
                .archive
                .object(&fixture.key("manifest.json"))
                .is_none()
        );
        assert_eq!(fixture.completes(), 0);
    }

    // A run that stored the history then failed on the data; Storage's history has grown
    // by the retry, but the first write stands.
    fixture.altinn.fault_download(
        &form.id,
        DownloadFault::Fails(ArchiveError::transient(
            FailureReason::AltinnUnreachable,
            "503",
        )),
    );
    fixture.archive().await.unwrap_err();
    fixture.altinn.put_history(
        &fixture.instance,
        json!({ "instanceEvents": [] }),
        json!({ "processHistory": [{ "elementId": "second" }] }),
    );
    summary(fixture.archive().await.unwrap());
    let listed = entry(&fixture.manifest(), ObjectRole::ProcessHistory);
    let stored = fixture.archive.object(&listed.key).unwrap();
    assert_eq!(stored.bytes, first.to_string().as_bytes());
    assert_eq!(listed.sha256, sha256_hex(&stored.bytes));
}

#[tokio::test]
async fn each_element_entry_records_altinns_description_and_the_content_hash_check() {
    let fixture = Fixture::new();
    let (hashed, unhashed, odd) = (element(3, 100), element(5, 50), element(7, 10));
    fixture.seed(&[&hashed, &unhashed, &odd], &[], true);
    let mut json = fixture.altinn.instance_json(&fixture.instance).unwrap();
    for data in json["data"].as_array_mut().unwrap() {
        data["created"] = "2026-11-01T09:00:00Z".into();
        data["createdBy"] = "12345".into();
        data["lastChanged"] = "2026-11-01T09:30:00Z".into();
        data["fileScanResult"] = "Clean".into();
        if data["id"] == unhashed.id.as_str() {
            // Storage's usual: no contentHash at all.
            data.as_object_mut().unwrap().remove("contentHash");
            data["locked"] = true.into();
        } else if data["id"] == odd.id.as_str() {
            data["contentHash"] = "not an md5".into();
        }
    }
    fixture.altinn.put_instance(&fixture.instance, json);

    summary(fixture.archive().await.unwrap());
    let manifest = fixture.manifest();
    let of = |element: &Element| {
        manifest
            .data_elements()
            .find(|o| o.data_element_id.as_deref() == Some(element.id.as_str()))
            .unwrap()
            .clone()
    };
    let hashed_entry = of(&hashed);
    assert_eq!(
        hashed_entry.content_hash,
        Some(BASE64.encode(Md5::digest(&hashed.bytes)))
    );
    assert_eq!(hashed_entry.content_hash_verified, Some(true));
    assert_eq!(hashed_entry.file_scan_result, Some(FileScanResult::Clean));
    assert_eq!(
        hashed_entry.created.as_deref(),
        Some("2026-11-01T09:00:00Z")
    );
    assert_eq!(hashed_entry.created_by.as_deref(), Some("12345"));
    assert_eq!(
        hashed_entry.last_changed.as_deref(),
        Some("2026-11-01T09:30:00Z")
    );
    assert_eq!(hashed_entry.locked, Some(false));

    let unhashed_entry = of(&unhashed);
    assert_eq!(
        (
            unhashed_entry.content_hash,
            unhashed_entry.content_hash_verified
        ),
        (None, None)
    );
    assert_eq!(unhashed_entry.locked, Some(true));

    let odd_entry = of(&odd);
    assert_eq!(odd_entry.content_hash.as_deref(), Some("not an md5"));
    assert_eq!(odd_entry.content_hash_verified, Some(false));
}

#[tokio::test]
async fn a_content_hash_of_other_bytes_is_dead_lettered_without_a_manifest() {
    let fixture = Fixture::new();
    let form = element(3, 100);
    fixture.seed(&[&form], &[], true);
    let mut json = fixture.altinn.instance_json(&fixture.instance).unwrap();
    json["data"][0]["contentHash"] = BASE64.encode(Md5::digest(b"other bytes")).into();
    fixture.altinn.put_instance(&fixture.instance, json);

    let error = fixture.archive().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::ChecksumMismatch);
    assert!(matches!(
        FailurePolicy::new(5, Duration::ZERO).decide(&error, 1),
        Verdict::DeadLetter { .. }
    ));
    assert!(
        fixture
            .archive
            .object(&fixture.key("manifest.json"))
            .is_none()
    );
    assert_eq!(fixture.completes(), 0);
}
