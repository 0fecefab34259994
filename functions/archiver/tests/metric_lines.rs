//! The archiver's EMF metric lines can be collected instead of printed, and a batch can run on
//! its own Tokio task (`Archiver::handle_batch` is `Send`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use altinn_sim::DataSpec;
use archiver::MetricLines;
use aws_lambda_events::event::sqs::SqsEvent;
use common::*;

#[tokio::test]
async fn a_spawned_batch_writes_one_metric_line_per_message_into_the_buffer() {
    let harness = Harness::start().await;
    let lines: MetricLines = Arc::new(Mutex::new(Vec::new()));
    let archiver = Arc::new(
        harness
            .another_archiver()
            .await
            .with_metric_lines(lines.clone()),
    );
    let instance = harness.seed(50_090_001, vec![DataSpec::xml_form(), DataSpec::pdf()]);
    let mut batch = SqsEvent::default();
    batch.records = vec![
        harness.message(&harness.completed_event(&instance), 1),
        harness.message("this is not a CloudEvent", 1),
    ];

    let task = {
        let archiver = archiver.clone();
        tokio::spawn(async move {
            archiver
                .handle_batch(&batch, SystemTime::now() + Duration::from_secs(600))
                .await
        })
    };
    let response = task.await.expect("the batch task");
    assert!(response.batch_item_failures.is_empty());

    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 2, "one line per message: {lines:?}");
    let outcomes: Vec<String> = lines
        .iter()
        .map(|line| {
            let emf: serde_json::Value = serde_json::from_str(line).expect("an EMF JSON line");
            assert_eq!(emf["Messages"].as_f64(), Some(1.0));
            emf["Outcome"]
                .as_str()
                .expect("an Outcome dimension")
                .to_owned()
        })
        .collect();
    assert!(outcomes.contains(&"archived".to_owned()), "{outcomes:?}");
    assert!(
        outcomes.contains(&"dead_lettered".to_owned()),
        "{outcomes:?}"
    );

    // The simulator stamps the event with the current time, so the archive latency is the
    // run's own few seconds; the message that archived nothing reports none.
    for line in &lines {
        let emf: serde_json::Value = serde_json::from_str(line).expect("an EMF JSON line");
        let latency = emf["ArchiveLatency"].as_f64();
        if emf["Outcome"] == "archived" {
            let latency = latency.expect("an archived message reports ArchiveLatency");
            assert!((0.0..60_000.0).contains(&latency), "{line}");
            let definitions = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
            assert!(
                definitions.contains(r#"{"Name":"ArchiveLatency","Unit":"Milliseconds"}"#),
                "{line}"
            );
        } else {
            assert_eq!(latency, None, "{line}");
        }
    }
}
