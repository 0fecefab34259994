//! `archive verify` on an archived instance (the simulator's data, laid out and listed in a
//! manifest exactly as the archiver writes them, in moto), then on the same archive after one
//! object was overwritten and another deleted, and with a manifest whose app metadata or
//! `contentHash` does not hold. That the archiver's own output matches its manifest is checked
//! by the whole-system tests (tools/chaos).

mod common;

use std::collections::HashMap;

use altinn::InstanceRef;
use altinn_sim::{DataSpec, InstanceSpec, SeededInstance, SimConfig, Simulator};
use archive_model::{ArchiveLayout, MANIFEST_VERSION, Manifest, ManifestObject, ObjectRole};
use archive_ops::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use aws_sdk_s3::primitives::ByteStream;
use common::run;
use serde_json::json;
use sha2::{Digest, Sha256};
use testkit::MotoServer;

const BUCKET: &str = "archive";
const PREFIX: &str = "verify-test/";

/// Archives `seeded` as a `process.completed` event would: `instance.json`, the event, the
/// history, the app's metadata and every data element under the layout's keys, then
/// `manifest.json` listing each with its size and SHA-256 (and each element with Altinn's
/// `contentHash` when it has one). `edit` may change the manifest before it is written.
async fn archive(
    moto: &MotoServer,
    sim: &Simulator,
    seeded: &SeededInstance,
    edit: impl FnOnce(&mut Manifest),
) {
    let layout = ArchiveLayout::new(PREFIX).unwrap();
    let instance = InstanceRef {
        org: seeded.org.clone(),
        app: seeded.app.clone(),
        party_id: seeded.party_id,
        instance_guid: seeded.instance_guid,
    };
    let event = sim.cloud_event(seeded, "app.instance.process.completed");
    let event_id = event["id"].as_str().unwrap().to_owned();
    let instance_json = sim
        .instance_json(seeded.party_id, seeded.instance_guid)
        .unwrap();
    let metadata = serde_json::to_vec(&json!({ "id": seeded.app_id() })).unwrap();
    let metadata_key = layout
        .app_metadata(
            &seeded.org,
            &seeded.app,
            &hex::encode(Sha256::digest(&metadata)),
        )
        .unwrap();
    let mut objects = vec![
        (
            layout.instance_json(&instance).unwrap(),
            ObjectRole::Instance,
            serde_json::to_vec(&instance_json).unwrap(),
            None,
        ),
        (
            layout.instance_event(&instance, &event_id).unwrap(),
            ObjectRole::Event,
            serde_json::to_vec(&event).unwrap(),
            None,
        ),
        (
            layout.instance_events(&instance).unwrap(),
            ObjectRole::InstanceEvents,
            br#"{"instanceEvents":[]}"#.to_vec(),
            None,
        ),
        (
            layout.process_history(&instance).unwrap(),
            ObjectRole::ProcessHistory,
            br#"{"processHistory":[]}"#.to_vec(),
            None,
        ),
        (metadata_key, ObjectRole::AppMetadata, metadata, None),
    ];
    for data in &seeded.data {
        objects.push((
            layout
                .data_element(&instance, &data.id.to_string())
                .unwrap(),
            ObjectRole::DataElement,
            sim.data_bytes(seeded.instance_guid, data.id).unwrap(),
            Some(data),
        ));
    }

    let s3 = moto.s3().await;
    let mut entries = Vec::new();
    for (key, role, bytes, data) in objects {
        let content_hash = data.and_then(|d| {
            instance_json["data"]
                .as_array()?
                .iter()
                .find(|e| e["id"] == d.id.to_string())?["contentHash"]
                .as_str()
                .map(str::to_owned)
        });
        entries.push(ManifestObject {
            data_element_id: data.map(|d| d.id.to_string()),
            data_type: data.map(|d| d.data_type.clone()),
            filename: data.and_then(|d| d.filename.clone()),
            content_hash_verified: content_hash.as_ref().map(|_| true),
            content_hash,
            locked: data.map(|_| false),
            ..ManifestObject::plain(
                key.clone(),
                role,
                bytes.len() as u64,
                hex::encode(Sha256::digest(&bytes)),
                data.map_or("application/json", |d| &d.content_type)
                    .to_owned(),
            )
        });
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
    }
    let mut manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        instance_id: seeded.instance_id(),
        app_id: seeded.app_id(),
        archived_at: "2026-01-01T00:00:00Z".into(),
        event_id,
        event_type: "app.instance.process.completed".into(),
        objects: entries,
        skipped_data_elements: Vec::new(),
    };
    edit(&mut manifest);
    s3.put_object()
        .bucket(BUCKET)
        .key(layout.manifest(&instance).unwrap())
        .body(ByteStream::from(manifest.to_json()))
        .send()
        .await
        .unwrap();
}

fn statuses(report: &serde_json::Value) -> HashMap<String, String> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_owned(),
                o["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn verify_reports_each_object_and_catches_changed_and_deleted_ones() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    moto.create_bucket(BUCKET).await;
    let seeded = sim.add_instance(
        InstanceSpec::new("verify-app", 51_000_001)
            .with_data(DataSpec::xml_form())
            .with_data(DataSpec::pdf().with_content_hash())
            .with_data(DataSpec::attachment("large.bin", 6 * 1024 * 1024, 11)),
    );
    archive(&moto, &sim, &seeded, |_| {}).await;
    let instance = format!(
        "ttd/verify-app/{}/{}",
        seeded.party_id, seeded.instance_guid
    );
    let layout = ArchiveLayout::new(PREFIX).unwrap();
    let reference = InstanceRef {
        org: seeded.org.clone(),
        app: seeded.app.clone(),
        party_id: seeded.party_id,
        instance_guid: seeded.instance_guid,
    };
    let folder = layout.instance_prefix(&reference).unwrap();
    let instance_json = layout.instance_json(&reference).unwrap();
    let data_key = |index: usize| {
        layout
            .data_element(&reference, &seeded.data[index].id.to_string())
            .unwrap()
    };
    let env = HashMap::from([
        ("ARCHIVE_BUCKET", BUCKET.to_owned()),
        ("ARCHIVE_PREFIX", PREFIX.to_owned()),
    ]);

    let clean = run(&moto, &env, &["archive", "verify", &instance, "--json"]).await;
    assert_eq!(clean.code, EXIT_OK, "{}", clean.err);
    let report: serde_json::Value = serde_json::from_str(&clean.out).unwrap();
    // instance.json, the event, the two history objects, the app metadata and three data
    // elements.
    assert_eq!(report["objects"].as_array().unwrap().len(), 8);
    assert_eq!(report["ok"], 8);
    assert_eq!(report["problems"], json!([]));
    let pdf_check = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == data_key(1))
        .unwrap();
    assert_eq!(pdf_check["contentHashMatches"], true);
    let all = statuses(&report);
    assert_eq!(all[&instance_json], "OK");
    assert_eq!(all[&data_key(2)], "OK");
    let large = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == data_key(2))
        .unwrap();
    assert_eq!(large["actualSize"], 6 * 1024 * 1024);
    assert_eq!(large["actualSha256"], seeded.data[2].sha256_hex.as_str());

    // Several instances: one report each, as a JSON array.
    let twice = run(
        &moto,
        &env,
        &["archive", "verify", &instance, &instance, "--json"],
    )
    .await;
    assert_eq!(twice.code, EXIT_OK, "{}", twice.err);
    let reports: Vec<serde_json::Value> = serde_json::from_str(&twice.out).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|report| report["ok"] == 8));

    let table = run(&moto, &env, &["archive", "verify", &instance]).await;
    assert_eq!(table.code, EXIT_OK, "{}", table.err);
    assert!(table.out.starts_with("OBJECT"), "{}", table.out);
    assert!(
        table.out.contains("instance.json")
            && table.out.contains("history/process-history.json")
            && table.out.contains("8 OK, 0 DIFFERENT, 0 MISSING"),
        "{}",
        table.out
    );

    // Same length, different bytes: only the SHA-256 can tell.
    let s3 = moto.s3().await;
    let mut pdf = sim
        .data_bytes(seeded.instance_guid, seeded.data[1].id)
        .unwrap();
    pdf[0] ^= 0xff;
    s3.put_object()
        .bucket(BUCKET)
        .key(data_key(1))
        .body(ByteStream::from(pdf))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket(BUCKET)
        .key(data_key(0))
        .send()
        .await
        .unwrap();

    let damaged = run(&moto, &env, &["archive", "verify", &instance, "--json"]).await;
    assert_eq!(damaged.code, EXIT_FAILURE, "{}", damaged.err);
    let report: serde_json::Value = serde_json::from_str(&damaged.out).unwrap();
    let all = statuses(&report);
    assert_eq!(all[&data_key(0)], "MISSING");
    assert_eq!(all[&data_key(1)], "DIFFERENT");
    assert_eq!(all[&data_key(2)], "OK");
    assert_eq!(all[&instance_json], "OK");
    assert_eq!(
        (&report["ok"], &report["different"], &report["missing"]),
        (&6.into(), &1.into(), &1.into())
    );

    let table = run(&moto, &env, &["archive", "verify", &instance]).await;
    assert_eq!(table.code, EXIT_FAILURE);
    let line_of = |key: &str| {
        let relative = key.strip_prefix(&folder).unwrap().to_owned();
        table
            .out
            .lines()
            .find(|line| line.starts_with(&relative))
            .unwrap_or_else(|| panic!("no row for {relative}:\n{}", table.out))
            .to_owned()
    };
    assert!(line_of(&data_key(0)).contains("MISSING"));
    let changed = line_of(&data_key(1));
    assert!(
        changed.contains("DIFFERENT") && changed.contains("sha256"),
        "{changed}"
    );
    assert!(
        table.out.contains("6 OK, 1 DIFFERENT, 1 MISSING"),
        "{}",
        table.out
    );
}

#[tokio::test]
async fn verify_checks_the_app_metadata_and_altinns_content_hash() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    moto.create_bucket(BUCKET).await;
    let env = HashMap::from([
        ("ARCHIVE_BUCKET", BUCKET.to_owned()),
        ("ARCHIVE_PREFIX", PREFIX.to_owned()),
    ]);
    let seed = || {
        sim.add_instance(
            InstanceSpec::new("verify-app", 51_000_002)
                .with_data(DataSpec::pdf().with_content_hash()),
        )
    };
    let name = |seeded: &SeededInstance| {
        format!(
            "ttd/verify-app/{}/{}",
            seeded.party_id, seeded.instance_guid
        )
    };
    let verify = |seeded: &SeededInstance| {
        let instance = name(seeded);
        let env = env.clone();
        let moto = &moto;
        async move {
            let output = run(moto, &env, &["archive", "verify", &instance, "--json"]).await;
            assert_eq!(output.code, EXIT_FAILURE, "{}", output.err);
            serde_json::from_str::<serde_json::Value>(&output.out).unwrap()
        }
    };

    // The bytes hash as listed, but not to the MD5 Altinn gave.
    let seeded = seed();
    archive(&moto, &sim, &seeded, |manifest| {
        let element = manifest
            .objects
            .iter_mut()
            .find(|o| o.role == ObjectRole::DataElement)
            .unwrap();
        element.content_hash = Some("1B2M2Y8AsgTpgAmY7PhCfg==".into());
    })
    .await;
    let report = verify(&seeded).await;
    let element = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["role"] == "dataElement")
        .unwrap();
    assert_eq!(element["status"], "DIFFERENT");
    assert_eq!(element["contentHashMatches"], false);
    assert_eq!(element["actualMd5"], seeded.data[0].md5_base64.as_str());
    let table = run(&moto, &env, &["archive", "verify", &name(&seeded)]).await;
    assert!(
        table.out.contains("not Altinn's contentHash"),
        "{}",
        table.out
    );

    // The app metadata is gone, and the manifest lists it under a name that is not its hash.
    let seeded = seed();
    let metadata_key = std::sync::Mutex::new(String::new());
    archive(&moto, &sim, &seeded, |manifest| {
        let entry = manifest
            .objects
            .iter_mut()
            .find(|o| o.role == ObjectRole::AppMetadata)
            .unwrap();
        *metadata_key.lock().unwrap() = entry.key.clone();
        entry.sha256 = "0".repeat(64);
    })
    .await;
    let report = verify(&seeded).await;
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].as_str().unwrap().contains("app metadata"),
        "{problems:?}"
    );
    moto.s3()
        .await
        .delete_object()
        .bucket(BUCKET)
        .key(metadata_key.into_inner().unwrap())
        .send()
        .await
        .unwrap();
    let report = verify(&seeded).await;
    let metadata = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["role"] == "appMetadata")
        .unwrap();
    assert_eq!(metadata["status"], "MISSING");
    let table = run(&moto, &env, &["archive", "verify", &name(&seeded)]).await;
    assert!(
        table.out.contains("PROBLEM: ") && table.out.contains("1 problem(s) with the manifest"),
        "{}",
        table.out
    );
}

#[tokio::test]
async fn verify_without_a_manifest_and_usage_errors() {
    let moto = MotoServer::start().await;
    moto.create_bucket(BUCKET).await;
    let env = HashMap::from([("ARCHIVE_BUCKET", BUCKET.to_owned())]);
    let never = run(
        &moto,
        &env,
        &[
            "archive",
            "verify",
            "ttd/app/1/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11",
        ],
    )
    .await;
    assert_eq!(never.code, EXIT_FAILURE);
    assert!(never.err.contains("not archived"), "{}", never.err);

    for words in [
        &["archive"][..],
        &["archive", "verify"],
        &["archive", "verify", "ttd/app/1"],
        &[
            "archive",
            "check",
            "ttd/app/1/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11",
        ],
        &[
            "archive",
            "verify",
            "ttd/app/1/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11",
            "--all",
        ],
    ] {
        let output = run(&moto, &env, words).await;
        assert_eq!(output.code, EXIT_USAGE, "{words:?}: {}", output.err);
    }
    let no_bucket = run(
        &moto,
        &HashMap::new(),
        &[
            "archive",
            "verify",
            "ttd/app/1/0b6e2a52-5d0e-4a1f-8f0e-2f4a1c9d7e11",
        ],
    )
    .await;
    assert_eq!(no_bucket.code, EXIT_USAGE);
    let help = run(&moto, &env, &["archive", "--help"]).await;
    assert_eq!(help.code, EXIT_OK);
    assert!(help.out.contains("Usage:"));
}
