//! The reconciler and the archiver together, against the Altinn simulator and moto_server:
//! what the reconciler enqueues for an instance whose events were lost, the real archiver
//! archives and confirms. It lives here, with the other whole-system tests, because the
//! reconciler itself does not depend on the archiver.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use altinn::InstanceRef;
use altinn_sim::{InstanceSpec, SimConfig, Simulator};
use archive_model::ArchiveLayout;
use archiver::{Archiver, ArchiverConfig};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use reconciler::{ReconcilerConfig, ReconcilerFunction};
use testkit::MotoServer;

const BUCKET: &str = "archive-bucket";
const PREFIX: &str = "archive/";
const APP: &str = "lost-events";

/// The settings both functions read: Altinn through the simulator, the archive in moto.
fn altinn_env(sim: &Simulator) -> HashMap<&'static str, String> {
    let base = sim.base_url().to_string();
    HashMap::from([
        ("ALTINN_ENV", "local".to_owned()),
        ("ALTINN_ORG", "ttd".to_owned()),
        ("ALTINN_PLATFORM_URL", base.clone()),
        ("ALTINN_APPS_URL", base),
        ("MASKINPORTEN_URL", sim.maskinporten_issuer().to_string()),
        ("MASKINPORTEN_CLIENT_ID", "sim-client".to_owned()),
        ("MASKINPORTEN_KID", "sim-kid".to_owned()),
        (
            "MASKINPORTEN_KEY",
            altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM.to_owned(),
        ),
        ("ARCHIVE_BUCKET", BUCKET.to_owned()),
        ("ARCHIVE_PREFIX", PREFIX.to_owned()),
    ])
}

/// Every message on the queue (received and deleted), as the Lambda event source would hand
/// them to the archiver.
async fn drain(moto: &MotoServer, queue_url: &str) -> Vec<SqsMessage> {
    let sqs = moto.sqs().await;
    let mut records = Vec::new();
    loop {
        let batch = moto.receive_all(queue_url).await;
        if batch.is_empty() {
            return records;
        }
        for message in batch {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            let mut record = SqsMessage::default();
            record.message_id = message.message_id().map(str::to_owned);
            record.body = message.body().map(str::to_owned);
            record.attributes =
                HashMap::from([("ApproximateReceiveCount".to_owned(), "1".to_owned())]);
            records.push(record);
        }
    }
}

/// The whole loop: lost events → reconciler → queue → the real archiver → archived and
/// confirmed in Altinn → the next reconciliation finds nothing.
#[tokio::test]
async fn the_archiver_archives_what_the_reconciler_enqueued() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    moto.create_bucket(BUCKET).await;
    let queue_url = moto.create_queue("events").await;
    let dlq_url = moto.create_queue("dead-letters").await;
    let sdk = moto.sdk_config().await;

    let mut spec = InstanceSpec::new(APP, 54_000_001);
    spec.completed = true;
    let lost = sim.add_instance(spec);
    let lost_ref = InstanceRef {
        org: lost.org.clone(),
        app: lost.app.clone(),
        party_id: lost.party_id,
        instance_guid: lost.instance_guid,
    };

    let mut env = altinn_env(&sim);
    env.insert("RECONCILE_APPS", format!("ttd/{APP}"));
    env.insert("QUEUE_URL", queue_url.clone());
    env.insert("ALTINN_MAX_ATTEMPTS", "2".to_owned());
    let reconciler_config =
        ReconcilerConfig::from_lookup(|name: &str| env.get(name).cloned()).expect("config");
    let function = ReconcilerFunction::from_config(&reconciler_config, &sdk)
        .await
        .expect("reconciler");
    assert_eq!(function.run(None).await.expect("run").enqueued, 1);

    let mut env = altinn_env(&sim);
    env.insert("QUEUE_URL", queue_url.clone());
    env.insert("DEAD_LETTER_QUEUE_URL", dlq_url);
    let archiver_config =
        ArchiverConfig::from_lookup(|name: &str| env.get(name).cloned()).expect("archiver config");
    let archiver = Archiver::from_config(&archiver_config, &sdk)
        .await
        .expect("archiver");

    let mut batch = SqsEvent::default();
    batch.records = drain(&moto, &queue_url).await;
    let response = archiver
        .handle_batch(&batch, SystemTime::now() + Duration::from_secs(120))
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "archived without failures"
    );
    let manifest = ArchiveLayout::new(PREFIX)
        .unwrap()
        .manifest(&lost_ref)
        .unwrap();
    let stored = moto
        .s3()
        .await
        .head_object()
        .bucket(BUCKET)
        .key(&manifest)
        .send()
        .await;
    assert!(stored.is_ok(), "{manifest} was written");
    let confirmations = sim.complete_confirmations(lost.party_id, lost.instance_guid);
    assert_eq!(confirmations.len(), 1, "confirmed once");

    let after = function.run(None).await.expect("run after archiving");
    assert_eq!(
        after.apps[0].found, 0,
        "a confirmed instance leaves the query"
    );
}
