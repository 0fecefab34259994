//! `quarantine list` and `quarantine release` against moto, over the records the archiver
//! writes when it holds an instance (`INFECTED_POLICY=hold`): a release writes the marker the
//! archiver looks for and, once the instance's every held element is released, sends its stored
//! event to the event queue. (That the archiver then archives is tested in functions/archiver.)

mod common;

use std::collections::HashMap;

use altinn::InstanceRef;
use archive_model::ArchiveLayout;
use archive_model::quarantine::{QuarantineRelease, QuarantineReview};
use archive_ops::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use aws_sdk_s3::primitives::ByteStream;
use common::run;
use serde_json::{Value, json};
use testkit::MotoServer;

const BUCKET: &str = "archive";
const PREFIX: &str = "archive/";
const FIRST: &str = "5f0e0000-0000-4000-8000-000000000001";
const SECOND: &str = "5f0e0000-0000-4000-8000-000000000002";

fn instance() -> InstanceRef {
    InstanceRef {
        org: "ttd".into(),
        app: "archive-test".into(),
        party_id: 50_001,
        instance_guid: "6f0b5a4e-3c1d-4f5e-9a7b-2c3d4e5f6a7b".parse().unwrap(),
    }
}

async fn put(moto: &MotoServer, key: &str, body: Vec<u8>) {
    moto.s3()
        .await
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

/// What the archiver leaves for an instance with two Infected elements: their review records
/// and the event they name.
async fn hold(moto: &MotoServer) -> String {
    let layout = ArchiveLayout::new(PREFIX).unwrap();
    let instance = instance();
    let event_key = layout.instance_event(&instance, "ev-1").unwrap();
    let event = json!({
        "specversion": "1.0", "id": "ev-1", "type": "app.instance.process.completed",
        "source": "https://ttd.apps.tt02.altinn.no/ttd/archive-test/instances/50001/6f0b5a4e-3c1d-4f5e-9a7b-2c3d4e5f6a7b",
    });
    put(moto, &event_key, serde_json::to_vec(&event).unwrap()).await;
    for id in [FIRST, SECOND] {
        let review = QuarantineReview {
            org: instance.org.clone(),
            app: instance.app.clone(),
            party_id: instance.party_id,
            instance_guid: instance.instance_guid.to_string(),
            data_element_id: id.into(),
            data_type: "attachment".into(),
            filename: Some("eicar.pdf".into()),
            size: 68,
            sha256: "ab".repeat(32),
            quarantine_key: layout.quarantined_element(&instance, id).unwrap(),
            event_key: event_key.clone(),
            event_id: "ev-1".into(),
            held_at: "2026-11-01T10:00:00Z".into(),
        };
        let key = layout.quarantine_review(&instance, id).unwrap();
        put(moto, &key, serde_json::to_vec(&review).unwrap()).await;
    }
    serde_json::to_string(&event).unwrap()
}

async fn release_marker(moto: &MotoServer, id: &str) -> Option<QuarantineRelease> {
    let layout = ArchiveLayout::new(PREFIX).unwrap();
    let key = layout.quarantine_release(&instance(), id).unwrap();
    let object = moto
        .s3()
        .await
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = object.body.collect().await.unwrap().into_bytes();
    Some(serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn held_elements_are_listed_and_released_one_by_one_then_the_event_is_requeued() {
    let moto = MotoServer::start().await;
    moto.create_bucket(BUCKET).await;
    let queue = moto.create_queue("events").await;
    let event = hold(&moto).await;
    let env = HashMap::from([
        ("ARCHIVE_BUCKET", BUCKET.to_owned()),
        ("ARCHIVE_PREFIX", PREFIX.to_owned()),
        ("QUEUE_URL", queue.clone()),
        ("USER", "operator".to_owned()),
    ]);

    let listed = run(&moto, &env, &["quarantine", "list"]).await;
    assert_eq!(listed.code, EXIT_OK, "{}", listed.err);
    assert!(
        listed.out.contains(FIRST) && listed.out.contains(SECOND),
        "{}",
        listed.out
    );
    assert!(listed.out.contains("2 held element(s)"), "{}", listed.out);
    let listed = run(&moto, &env, &["quarantine", "list", "--json"]).await;
    let rows: Value = serde_json::from_str(&listed.out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(
        rows[0]["instanceGuid"],
        instance().instance_guid.to_string()
    );
    assert!(rows[0].get("release").is_none());

    // One element released: the other still holds the instance, nothing is queued.
    let first = run(
        &moto,
        &env,
        &[
            "quarantine",
            "release",
            FIRST,
            "--by",
            "Kari",
            "--note",
            "false positive",
        ],
    )
    .await;
    assert_eq!(first.code, EXIT_OK, "{}", first.err);
    assert!(
        first.out.contains(&format!("still held: {SECOND}")),
        "{}",
        first.out
    );
    let marker = release_marker(&moto, FIRST)
        .await
        .expect("a release marker");
    assert_eq!(marker.released_by, "Kari");
    assert_eq!(marker.note.as_deref(), Some("false positive"));
    assert!(release_marker(&moto, SECOND).await.is_none());
    assert!(moto.receive_all(&queue).await.is_empty());

    // The instance by its id: the rest is released and the stored event goes to the queue.
    let instance_id = instance().instance_id();
    let rest = run(
        &moto,
        &env,
        &["--json", "quarantine", "release", &instance_id],
    )
    .await;
    assert_eq!(rest.code, EXIT_OK, "{}", rest.err);
    let report: Value = serde_json::from_str(&rest.out).unwrap();
    assert_eq!(report[0]["released"], json!([SECOND]));
    assert_eq!(report[0]["requeued"], true);
    assert_eq!(
        release_marker(&moto, SECOND).await.unwrap().released_by,
        "operator"
    );
    let queued = moto.receive_all(&queue).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].body(), Some(event.as_str()));
    let attributes = queued[0].message_attributes().unwrap();
    assert_eq!(
        attributes["EventId"].string_value(),
        Some("ev-1"),
        "routed like the webhook's messages"
    );
    let listed = run(&moto, &env, &["quarantine", "list"]).await;
    assert!(listed.out.contains("released by Kari"), "{}", listed.out);
}

#[tokio::test]
async fn an_id_held_nowhere_fails_and_the_settings_are_required() {
    let moto = MotoServer::start().await;
    moto.create_bucket(BUCKET).await;
    let queue = moto.create_queue("events").await;
    hold(&moto).await;
    let mut env = HashMap::from([
        ("ARCHIVE_BUCKET", BUCKET.to_owned()),
        ("ARCHIVE_PREFIX", PREFIX.to_owned()),
        ("QUEUE_URL", queue),
    ]);
    let unknown = run(
        &moto,
        &env,
        &["quarantine", "release", "nope", "--by", "Kari"],
    )
    .await;
    assert_eq!(unknown.code, EXIT_FAILURE);
    assert!(unknown.err.contains("no held element"), "{}", unknown.err);
    let nobody = run(&moto, &env, &["quarantine", "release", FIRST]).await;
    assert_eq!(nobody.code, EXIT_USAGE, "who decided must be known");
    assert!(nobody.err.contains("--by"), "{}", nobody.err);
    env.remove("ARCHIVE_BUCKET");
    let no_bucket = run(&moto, &env, &["quarantine", "list"]).await;
    assert_eq!(no_bucket.code, EXIT_USAGE);
}
