//! The real `archiver` binary, end to end: started the way Lambda starts it (only Lambda's
//! environment plus the archiver's configuration, `AWS_LAMBDA_RUNTIME_API` pointing at the
//! Runtime API emulator of `testkit::runtime_api`) against the Altinn simulator and moto, and
//! sent an SQS batch the way the event source mapping sends one. The instance must be archived
//! in S3 byte for byte and completed in the simulator, the batch answered without item
//! failures, and the EMF line printed on stdout.
//!
//! `main` picks its tokio runtime from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, so the test runs at a
//! size that gets a single-threaded runtime (128 MB; the stack's default `ArchiverMemorySize`,
//! 512 MB, gets the same runtime) and at one that gets Tokio's worker pool (3008 MB).

mod common;

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use common::*;
use lambda_support::runtime::Flavor;
use serde_json::{Value, json};
use testkit::runtime_api::{FunctionProcess, RuntimeApi, lambda_environment};

/// Bound on each wait: the invocation (start-up of the debug binary, a 6 MiB multipart
/// element and four more objects into moto) and the output that follows it.
const WAIT: Duration = Duration::from_secs(90);

/// The SQS batch Lambda's event source mapping would hand over for `body`: the message is sent
/// to the real source queue and received back (real message id, receipt handle, attributes).
async fn sqs_batch(harness: &Harness, body: &str) -> Value {
    let mut record = harness.enqueue_and_receive(body).await;
    record.event_source_arn = Some(harness.moto.queue_arn(&harness.queue_url).await);
    record.aws_region = Some(testkit::REGION.to_owned());
    let mut batch = SqsEvent::default();
    batch.records = vec![record];
    serde_json::to_value(&batch).expect("an SQS event serialises")
}

/// A completed instance (XML form, PDF, two attachments of which one is multipart-sized, a
/// hard-deleted one) is archived and completed by the binary in one invocation.
async fn binary_archives_a_completed_instance(memory_mb: u32, flavor: Flavor, party_id: u64) {
    let harness = Harness::start().await;
    let instance = harness.seed_standard(party_id);
    let event = harness.completed_event(&instance);
    let batch = sqs_batch(&harness, &event).await;

    let api = RuntimeApi::start().await;
    let mut env = lambda_environment("archiver", memory_mb);
    env.extend(
        harness
            .env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone())),
    );
    env.push(("AWS_ENDPOINT_URL".to_owned(), harness.moto.endpoint()));
    let mut archiver = FunctionProcess::spawn(env!("CARGO_BIN_EXE_archiver"), env, &api);

    let response = archiver.invoke(&api, batch, WAIT).await.response_json();
    assert_eq!(response, json!({"batchItemFailures": []}));

    let manifest = harness.verify_archive(&instance, &event_id(&event)).await;
    assert_eq!(manifest.event_id, event_id(&event));
    harness.assert_completed_once(&instance).await;
    assert!(
        harness.dead_letters().await.is_empty(),
        "nothing dead-lettered"
    );

    // The CloudWatch metrics line for the message, on stdout as Lambda collects it.
    let line = archiver
        .stdout_line(|line| line.contains("\"InstancesArchived\""), WAIT)
        .await;
    let emf: Value = serde_json::from_str(&line).expect("an EMF JSON line");
    assert_eq!(emf["Outcome"], "archived");
    assert_eq!(emf["InstancesArchived"].as_f64(), Some(1.0));
    assert_eq!(emf["ElementsArchived"].as_f64(), Some(4.0));
    assert_eq!(emf["ElementsSkipped"].as_f64(), Some(1.0));

    // Back at the loop's head, alive, without an init error, on the runtime for its size.
    archiver
        .assert_waiting_for_more(&api, 1, flavor, WAIT)
        .await;
}

#[tokio::test]
async fn binary_at_128_mb_on_a_single_threaded_runtime() {
    binary_archives_a_completed_instance(128, Flavor::CurrentThread, 50_095_001).await;
}

#[tokio::test]
async fn binary_at_3008_mb_on_the_worker_pool() {
    binary_archives_a_completed_instance(3008, Flavor::MultiThread, 50_095_002).await;
}
