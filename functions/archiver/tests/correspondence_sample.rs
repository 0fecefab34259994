//! The sample `events/archiver-sqs-correspondence.json` through the handler, against the
//! correspondence `altinn-sim --seed-demo` seeds (published and read, so the attachment is no
//! longer the sender's to download): what `cargo lambda invoke` with
//! `--env-file events/correspondence-sender.env` does by hand.

mod common;

use std::time::{Duration, SystemTime};

use archiver::correspondence::{AttachmentState, CorrespondenceManifest};
use aws_lambda_events::event::sqs::SqsEvent;
use common::*;

#[tokio::test]
async fn the_correspondence_sample_runs_through_the_handler() {
    let env_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/correspondence-sender.env"
    );
    // The env file's settings, each one this test knows to expect.
    const NAMES: [&str; 2] = ["CORRESPONDENCE_ROLE", "CORRESPONDENCE_RESOURCES"];
    let text = std::fs::read_to_string(env_file).expect("the env file");
    let mut options = Options::default();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let (name, value) = line.split_once('=').expect("NAME=value");
        let name = NAMES
            .into_iter()
            .find(|known| *known == name.trim())
            .unwrap_or_else(|| panic!("a setting this test does not expect: {line}"));
        options = options.env(name, value.trim());
    }
    let harness = Harness::start_with(options).await;
    let seeded = harness.sim.seed_demo_correspondence();

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/archiver-sqs-correspondence.json"
    );
    let text = std::fs::read_to_string(path).expect("the sample");
    let mut batch: SqsEvent = serde_json::from_str(&text).expect("an SqsEvent");
    assert_eq!(batch.records.len(), 4);
    // The sample points at a simulator on port 5101; this test's listens elsewhere.
    let base = harness.sim.base_url().to_string();
    for record in &mut batch.records {
        let body = record.body.take().unwrap();
        record.body = Some(body.replace("http://127.0.0.1:5101/", &base));
    }
    let response = harness
        .archiver
        .handle_batch(&batch, SystemTime::now() + Duration::from_secs(300))
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );

    let key = harness
        .store()
        .layout()
        .correspondence_manifest("ttd-archive-correspondence", &seeded.id.to_string())
        .unwrap();
    let bytes = harness
        .store()
        .get_bytes(&key)
        .await
        .unwrap()
        .expect("manifest");
    let manifest: CorrespondenceManifest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest.latest_status.expect("a status").status, "Read");
    assert_eq!(manifest.attachments.len(), 1);
    assert_eq!(
        manifest.attachments[0].attachment_id,
        seeded.attachments[0].id.to_string()
    );
    assert_eq!(
        manifest.attachments[0].state,
        AttachmentState::NoLongerAccessibleToSender,
        "published before the sample's attachment event: Altinn's 2016"
    );
    assert_eq!(manifest.notification_events.len(), 1);
    let events = manifest
        .objects
        .iter()
        .filter(|o| o.key.contains("/events/"))
        .count();
    assert_eq!(events, 3, "the three correspondence events of the sample");
}
