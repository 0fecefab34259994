//! Correspondence end to end through the simulator and moto, as sender and as recipient: the
//! events, details versions, attachments (streamed, MD5-checked; the sender's 2016 recorded),
//! the manifest, one follow-up alert on SNS per (correspondence, type), the subscription key
//! on Correspondence calls only, and never a call to `/content`, `markasread` or `confirm`.

mod common;

use altinn_sim::{CorrespondenceSpec, Route, SeededCorrespondence};
use archiver::MessageOutcome;
use archiver::correspondence::{AttachmentState, CorrespondenceManifest};
use archiver::outcome::CorrespondenceSummary;
use common::*;

const RESOURCE_ID: &str = "ttd-correspondence";
/// The simulator's own organisation number: the recipient its recipient tokens speak for.
const OWN_ORGNO: &str = "991825827";
const OTHER_ORGNO: &str = "910000001";
const TOPIC: &str = "arn:aws:sns:eu-north-1:123456789012:correspondence-follow-up";
const SUBSCRIPTION_KEY: &str = "sim-apim-key-1234";

async fn summary(harness: &Harness, event: &serde_json::Value) -> CorrespondenceSummary {
    let report = harness
        .run(vec![harness.message(&event.to_string(), 1)])
        .await;
    match &report.outcomes[0].1 {
        MessageOutcome::CorrespondenceArchived(summary) => summary.clone(),
        other => panic!("not archived: {other:?}"),
    }
}

async fn manifest(harness: &Harness, c: &SeededCorrespondence) -> CorrespondenceManifest {
    let key = harness
        .store()
        .layout()
        .correspondence_manifest(RESOURCE_ID, &c.id.to_string())
        .unwrap();
    let bytes = harness
        .store()
        .get_bytes(&key)
        .await
        .unwrap()
        .expect("manifest.json");
    serde_json::from_slice(&bytes).unwrap()
}

/// Every object the manifest lists has the size and SHA-256 it says.
async fn assert_objects_match(harness: &Harness, manifest: &CorrespondenceManifest) {
    for object in &manifest.objects {
        let bytes = harness
            .store()
            .get_bytes(&object.key)
            .await
            .unwrap()
            .expect("listed object");
        assert_eq!(object.size, bytes.len() as u64, "{}", object.key);
        assert_eq!(object.sha256, sha256_hex(&bytes), "{}", object.key);
    }
}

/// No request ever reached a route that reads the body or changes the recipient's status.
fn assert_no_forbidden_call(harness: &Harness) {
    for route in [
        Route::CorrespondenceContent,
        Route::CorrespondenceMarkAsRead,
        Route::CorrespondenceConfirm,
    ] {
        assert!(
            harness.requests_for(route).is_empty(),
            "{route:?} was called"
        );
    }
    for request in harness.sim.requests() {
        for forbidden in ["/content", "/markasread", "/confirm"] {
            assert!(!request.path.ends_with(forbidden), "{}", request.path);
        }
    }
}

fn statuses(manifest: &CorrespondenceManifest) -> Vec<&str> {
    manifest
        .status_history
        .iter()
        .map(|s| s.status.as_str())
        .collect()
}

#[tokio::test]
async fn the_sender_archives_its_proof_of_delivery() {
    let harness = Harness::start_with(
        Options::default()
            .env("CORRESPONDENCE_ROLE", "sender")
            .env("CORRESPONDENCE_RESOURCES", RESOURCE_ID)
            .env("ALTINN_SUBSCRIPTION_KEY", SUBSCRIPTION_KEY)
            .env("FOLLOW_UP_TOPIC_ARN", TOPIC),
    )
    .await;
    let inbox = topic_with_queue(&harness).await;
    let sim = &harness.sim;
    let c = sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", OTHER_ORGNO)
            .with_attachment("vedtak.pdf", 10_000)
            .with_attachment("stor.bin", 6 * MIB as u64 + 3)
            .with_notifications(1),
    );
    let (early, late) = (&c.attachments[0], &c.attachments[1]);

    // Before publishing the sender may still download: stored and checked.
    let first = summary(
        &harness,
        &sim.attachment_event(early.id, "attachmentpublished"),
    )
    .await;
    assert_eq!(
        (first.attachments_downloaded, first.bytes_downloaded),
        (1, early.size)
    );
    sim.publish_correspondence(c.id);
    // After: Altinn answers 2016, recorded, not a failure.
    let second = summary(
        &harness,
        &sim.attachment_event(late.id, "attachmentpublished"),
    )
    .await;
    assert_eq!(second.attachments_not_accessible, 1);

    let published = summary(
        &harness,
        &sim.correspondence_event(c.id, "correspondencepublished"),
    )
    .await;
    assert!(published.details_fetched);
    let order = c.notification_order_ids[0];
    let created = summary(&harness, &sim.notification_event(c.id, order)).await;
    assert!(
        created
            .event_key
            .contains(&format!("correspondence-notifications/{order}/events/"))
    );
    assert!(sim.add_correspondence_status(c.id, "Read"));
    summary(
        &harness,
        &sim.correspondence_event(c.id, "correspondencereceiverread"),
    )
    .await;
    let never = sim.correspondence_event(c.id, "correspondencereceiverneverconfirmed");
    assert_eq!(summary(&harness, &never).await.follow_up, Some(true));
    assert_eq!(
        summary(&harness, &never).await.follow_up,
        Some(false),
        "a duplicate"
    );

    let manifest = manifest(&harness, &c).await;
    let history = statuses(&manifest);
    for status in ["Initialized", "Published", "Read", "ReceiverNeverConfirmed"] {
        assert!(history.contains(&status), "{status} in {history:?}");
    }
    assert_eq!(
        manifest.latest_status.as_ref().unwrap().status,
        "ReceiverNeverConfirmed"
    );
    assert_eq!(manifest.notifications.len(), 1);
    let attachment = |id: uuid::Uuid| {
        manifest
            .attachments
            .iter()
            .find(|a| a.attachment_id == id.to_string())
            .unwrap()
    };
    assert_eq!(attachment(early.id).state, AttachmentState::Downloaded);
    assert_eq!(
        attachment(early.id).sha256.as_deref(),
        Some(early.sha256_hex.as_str())
    );
    assert_eq!(
        attachment(early.id).checksum.as_deref(),
        Some(early.md5_hex.as_str())
    );
    assert_eq!(
        attachment(late.id).state,
        AttachmentState::NoLongerAccessibleToSender
    );
    let data_key = harness
        .store()
        .layout()
        .attachment_data(&early.id.to_string())
        .unwrap();
    let stored = harness.store().get_bytes(&data_key).await.unwrap().unwrap();
    assert_eq!(sha256_hex(&stored), early.sha256_hex);
    assert_objects_match(&harness, &manifest).await;

    // One alert for the type, on the topic.
    let alerts = harness.moto.receive_all(&inbox).await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0]
            .body()
            .unwrap()
            .contains("correspondencereceiverneverconfirmed")
    );
    // The subscription key went with every Correspondence call, and with nothing else.
    for request in sim.requests() {
        let correspondence = request.path.contains("/correspondence/api/v1/");
        assert_eq!(
            request.subscription_key.as_deref() == Some(SUBSCRIPTION_KEY),
            correspondence,
            "{}",
            request.path
        );
    }
    assert_no_forbidden_call(&harness);
}

#[tokio::test]
async fn the_recipient_archives_its_full_copy_without_reading_it() {
    let harness = Harness::start_with(
        Options::default()
            .env("CORRESPONDENCE_ROLE", "recipient")
            .env("CORRESPONDENCE_RECIPIENT_ORGNO", OWN_ORGNO),
    )
    .await;
    let sim = &harness.sim;
    let c = sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "digdir", OWN_ORGNO)
            .with_attachment("vedtak.pdf", 10_000)
            .with_attachment("stor fil.bin", 6 * MIB as u64 + 5)
            .with_notifications(1),
    );
    let publish = sim.correspondence_event(c.id, "correspondencepublished");
    // Not yet published to us: Altinn does not know it for the recipient.
    let early = harness
        .run(vec![harness.message(&publish.to_string(), 1)])
        .await;
    match &early.outcomes[0].1 {
        MessageOutcome::DeadLettered { error, .. } => {
            assert_eq!(error.reason.as_str(), "correspondence_not_found")
        }
        other => panic!("dead-lettered, got {other:?}"),
    }
    assert_eq!(harness.dead_letters().await.len(), 1);

    sim.publish_correspondence(c.id);
    let archived = summary(&harness, &publish).await;
    assert_eq!(archived.attachments_downloaded, 2);
    let duplicate = summary(&harness, &publish).await;
    assert!(!duplicate.details_fetched && duplicate.attachments_reused == 2);
    let never = summary(
        &harness,
        &sim.correspondence_event(c.id, "correspondencereceiverneverread"),
    )
    .await;
    assert_eq!(
        never.follow_up,
        Some(false),
        "no topic configured: the metric only"
    );

    let manifest = manifest(&harness, &c).await;
    let history = statuses(&manifest);
    for status in ["Published", "Fetched", "ReceiverNeverRead"] {
        assert!(history.contains(&status), "{status} in {history:?}");
    }
    for seeded in &c.attachments {
        let record = manifest
            .attachments
            .iter()
            .find(|a| a.attachment_id == seeded.id.to_string())
            .unwrap();
        assert_eq!(record.state, AttachmentState::Downloaded);
        assert_eq!(record.sha256.as_deref(), Some(seeded.sha256_hex.as_str()));
        assert_eq!(record.size, Some(seeded.size));
        assert_eq!(record.file_name.as_deref(), Some(seeded.file_name.as_str()));
    }
    assert_objects_match(&harness, &manifest).await;

    // One details call (each records Fetched at the sender), one download per attachment.
    assert_eq!(
        harness.requests_for(Route::CorrespondenceDetails).len(),
        2,
        "the 404, then one"
    );
    assert_eq!(
        harness
            .requests_for(Route::CorrespondenceRecipientDownload)
            .len(),
        2
    );
    assert!(
        harness
            .requests_for(Route::CorrespondenceSenderDownload)
            .is_empty()
    );
    assert_no_forbidden_call(&harness);
    let sim_statuses = sim.correspondence_statuses(c.id);
    assert!(
        !sim_statuses.iter().any(|s| s == "Read" || s == "Confirmed"),
        "{sim_statuses:?}"
    );
}

/// An SNS topic at [`TOPIC`] with an SQS queue subscribed: the queue's URL.
async fn topic_with_queue(harness: &Harness) -> String {
    let sns = aws_sdk_sns::Client::new(&harness.moto.sdk_config().await);
    let arn = sns
        .create_topic()
        .name("correspondence-follow-up")
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic ARN");
    assert_eq!(arn, TOPIC);
    let queue = harness.moto.create_queue("follow-up-inbox").await;
    let queue_arn = harness.moto.queue_arn(&queue).await;
    sns.subscribe()
        .topic_arn(&arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");
    queue
}

#[tokio::test]
async fn the_subscription_key_can_come_from_secrets_manager() {
    let harness = Harness::start_with(
        Options::default()
            .env("CORRESPONDENCE_ROLE", "recipient")
            .env("CORRESPONDENCE_RECIPIENT_ORGNO", OWN_ORGNO),
    )
    .await;
    let sdk = harness.moto.sdk_config().await;
    let arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("altinn-subscription-key")
        .secret_string(SUBSCRIPTION_KEY)
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("secret ARN");
    let mut config = harness.config.clone();
    config.subscription_key = Some(archiver::config::SubscriptionKeySource::SecretArn(arn));
    assert!(!format!("{config:?}").contains(SUBSCRIPTION_KEY));
    let archiver = archiver::Archiver::from_config(&config, &sdk)
        .await
        .expect("archiver");

    let c = harness.sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "digdir", OWN_ORGNO).with_attachment("a.pdf", 100),
    );
    harness.sim.publish_correspondence(c.id);
    let publish = harness
        .sim
        .correspondence_event(c.id, "correspondencepublished");
    let report = run_on(&archiver, vec![harness.message(&publish.to_string(), 1)]).await;
    assert!(
        matches!(
            report.outcomes[0].1,
            MessageOutcome::CorrespondenceArchived(_)
        ),
        "{:?}",
        report.outcomes
    );
    let calls: Vec<_> = harness
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/correspondence/api/v1/"))
        .collect();
    assert_eq!(calls.len(), 2, "details and one download");
    assert!(
        calls
            .iter()
            .all(|r| r.subscription_key.as_deref() == Some(SUBSCRIPTION_KEY))
    );
}
