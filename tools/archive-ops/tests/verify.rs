//! `archive verify` on an archived instance (the simulator's data, laid out and listed in a
//! manifest exactly as the archiver writes them, in moto), then on the same archive after one
//! object was overwritten and another deleted. That the archiver's own output matches its
//! manifest is checked by the whole-system tests (tools/chaos).

mod common;

use std::collections::HashMap;

use altinn::InstanceRef;
use altinn_sim::{DataSpec, InstanceSpec, SeededInstance, SimConfig, Simulator};
use archive_model::{ArchiveLayout, MANIFEST_VERSION, Manifest, ManifestObject, ObjectRole};
use archive_ops::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use aws_sdk_s3::primitives::ByteStream;
use common::run;
use sha2::{Digest, Sha256};
use testkit::MotoServer;

const BUCKET: &str = "archive";
const PREFIX: &str = "verify-test/";

/// Archives `seeded` as a `process.completed` event would: `instance.json`, the event and every
/// data element under the layout's keys, then `manifest.json` listing each with its size and
/// SHA-256.
async fn archive(moto: &MotoServer, sim: &Simulator, seeded: &SeededInstance) {
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
        entries.push(ManifestObject {
            key: key.clone(),
            role,
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            content_type: data
                .map_or("application/json", |d| &d.content_type)
                .to_owned(),
            data_element_id: data.map(|d| d.id.to_string()),
            data_type: data.map(|d| d.data_type.clone()),
            filename: data.and_then(|d| d.filename.clone()),
        });
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
    }
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        instance_id: seeded.instance_id(),
        app_id: seeded.app_id(),
        archived_at: "2026-01-01T00:00:00Z".into(),
        event_id,
        event_type: "app.instance.process.completed".into(),
        objects: entries,
        skipped_data_elements: Vec::new(),
    };
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
            .with_data(DataSpec::pdf())
            .with_data(DataSpec::attachment("large.bin", 6 * 1024 * 1024, 11)),
    );
    archive(&moto, &sim, &seeded).await;
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
    // instance.json, the event and three data elements.
    assert_eq!(report["objects"].as_array().unwrap().len(), 5);
    assert_eq!(report["ok"], 5);
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
    assert!(reports.iter().all(|report| report["ok"] == 5));

    let table = run(&moto, &env, &["archive", "verify", &instance]).await;
    assert_eq!(table.code, EXIT_OK, "{}", table.err);
    assert!(table.out.starts_with("OBJECT"), "{}", table.out);
    assert!(
        table.out.contains("instance.json") && table.out.contains("5 OK, 0 DIFFERENT, 0 MISSING"),
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
        (&3.into(), &1.into(), &1.into())
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
        table.out.contains("3 OK, 1 DIFFERENT, 1 MISSING"),
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
