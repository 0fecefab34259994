//! Every accepted event is kept: app events that do not archive go under their instance,
//! correspondence events under their correspondence (readable back in order), anything else
//! under `events/`. Events that cannot be accepted go to the DLQ. Also runs the sample event in
//! `events/archiver-sqs-batch.json` through the handler.

mod common;

use std::time::{Duration, SystemTime};

use altinn::CorrespondenceRef;
use altinn_sim::{DataSpec, InstanceSpec, Route};
use archiver::{FailureReason, MessageOutcome};
use aws_lambda_events::event::sqs::SqsEvent;
use common::*;
use serde_json::json;

fn correspondence_event(id: &str, resourceinstance: &str, event_type: &str, time: &str) -> String {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence",
        "type": format!("no.altinn.correspondence.{event_type}"),
        "subject": "urn:altinn:organization:identifier-no:991825827",
        "alternativesubject": "/organisation/991825827",
        "time": time,
        "resource": "urn:altinn:resource:ttd-melding",
        "resourceinstance": resourceinstance,
    })
    .to_string()
}

#[tokio::test]
async fn the_sample_event_file_runs_through_the_handler() {
    let harness = Harness::start().await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/archiver-sqs-batch.json"
    );
    let text = std::fs::read_to_string(path).expect("events/archiver-sqs-batch.json");
    let mut batch: SqsEvent = serde_json::from_str(&text).expect("the sample is an SqsEvent");
    assert_eq!(batch.records.len(), 2);
    for record in &batch.records {
        assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
        assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
        assert!(
            record
                .event_source_arn
                .as_deref()
                .is_some_and(|a| a.starts_with("arn:aws:sqs:"))
        );
        assert!(record.aws_region.is_some() && record.receipt_handle.is_some());
    }
    // The sample points at a simulator on port 5101 (the `cargo lambda watch` set-up); this test's
    // simulator listens elsewhere, and holds the instance the sample names.
    let instance = harness.sim.add_instance(
        InstanceSpec::new("archive-demo", 50_001_234)
            .with_guid("3f1e2d4c-5b6a-4789-8a9b-0c1d2e3f4a5b".parse().unwrap())
            .with_data(DataSpec::xml_form())
            .with_data(DataSpec::pdf()),
    );
    let base = harness.sim.base_url().to_string();
    for record in &mut batch.records {
        let body = record.body.take().unwrap();
        record.body = Some(body.replace("http://127.0.0.1:5101/", &base));
    }
    let completed_id = event_id(batch.records[0].body.as_deref().unwrap());
    let correspondence_id = event_id(batch.records[1].body.as_deref().unwrap());

    let response = harness
        .archiver
        .handle_batch(&batch, SystemTime::now() + Duration::from_secs(300))
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    harness.verify_archive(&instance, &completed_id).await;
    assert_eq!(harness.completes_of(&instance), 1);
    let history = harness
        .store()
        .correspondence_history(&CorrespondenceRef {
            resource: "urn:altinn:resource:ttd-melding".into(),
            resourceinstance: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f".into(),
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, correspondence_id);
}

#[tokio::test]
async fn app_events_that_do_not_archive_are_kept_under_their_instance() {
    let harness = Harness::start().await;
    let instance = harness.seed_standard(50_040_001);
    let created = harness.event(&instance, "app.instance.created");
    let moved = harness.event(&instance, "app.instance.process.movedTo.Task_2");
    let report = harness
        .run(vec![
            harness.message(&created, 1),
            harness.message(&moved, 1),
        ])
        .await;
    assert!(report.response.batch_item_failures.is_empty());
    for body in [&created, &moved] {
        let key = harness
            .store()
            .layout()
            .instance_event(&harness.instance_ref(&instance), &event_id(body))
            .unwrap();
        let stored = harness
            .store()
            .get_bytes(&key)
            .await
            .unwrap()
            .expect("event kept");
        assert_eq!(&stored[..], body.as_bytes(), "the bytes as they arrived");
        assert!(
            report
                .outcomes
                .iter()
                .any(|(_, o)| *o == MessageOutcome::EventStored { key: key.clone() })
        );
    }
    // A redelivery writes nothing.
    let report = harness.run(vec![harness.message(&created, 2)]).await;
    assert!(matches!(
        report.outcomes[0].1,
        MessageOutcome::EventAlreadyStored { .. }
    ));
    assert!(
        harness.sim.requests().is_empty(),
        "no Altinn call for an event we only keep"
    );
    assert!(
        !harness
            .store()
            .exists(&harness.manifest_key(&instance))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn correspondence_events_are_kept_and_their_history_reads_back_in_order() {
    let harness = Harness::start().await;
    let id = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    let events = [
        correspondence_event(
            "ev-3",
            id,
            "correspondencereceiverconfirmed",
            "2026-03-02T11:00:00Z",
        ),
        correspondence_event(
            "ev-1",
            id,
            "correspondencepublished",
            "2026-03-02T09:00:00Z",
        ),
        correspondence_event(
            "ev-2",
            id,
            "correspondencereceiverread",
            "2026-03-02T10:30:00+01:00",
        ),
        correspondence_event(
            "ev-x",
            "another-correspondence",
            "correspondencepublished",
            "2026-03-02T08:00:00Z",
        ),
    ];
    let report = harness
        .run(events.iter().map(|e| harness.message(e, 1)).collect())
        .await;
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );
    let key = harness
        .store()
        .layout()
        .correspondence_event(
            &CorrespondenceRef {
                resource: "urn:altinn:resource:ttd-melding".into(),
                resourceinstance: id.into(),
            },
            "ev-1",
        )
        .unwrap();
    assert_eq!(
        key,
        format!("{PREFIX}correspondence/ttd-melding/{id}/events/ev-1.json")
    );

    let history = harness
        .store()
        .correspondence_history(&CorrespondenceRef {
            resource: "urn:altinn:resource:ttd-melding".into(),
            resourceinstance: id.into(),
        })
        .await
        .unwrap();
    let order: Vec<(&str, &str)> = history
        .iter()
        .map(|e| (e.id.as_str(), e.event_type.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("ev-1", "no.altinn.correspondence.correspondencepublished"),
            (
                "ev-2",
                "no.altinn.correspondence.correspondencereceiverread"
            ),
            (
                "ev-3",
                "no.altinn.correspondence.correspondencereceiverconfirmed"
            ),
        ]
    );
}

#[tokio::test]
async fn events_of_no_known_kind_are_kept_unscoped() {
    let harness = Harness::start().await;
    let event = json!({
        "specversion": "1.0", "id": "generic-1", "type": "no.altinn.broker.filetransferinitialized",
        "source": "https://platform.tt02.altinn.no/broker/api/v1/filetransfer",
        "resource": "urn:altinn:resource:ttd-broker", "resourceinstance": "42", "time": "2026-03-02T09:00:00Z",
    })
    .to_string();
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    assert_eq!(
        report.outcomes[0].1,
        MessageOutcome::EventStored {
            key: format!("{PREFIX}events/generic-1.json")
        }
    );
}

#[tokio::test]
async fn events_that_cannot_be_accepted_are_dead_lettered_with_their_reason() {
    let harness = Harness::start().await;
    let instance = harness.seed_standard(50_040_002);
    let mut foreign = harness
        .sim
        .cloud_event(&instance, "app.instance.process.completed");
    foreign["source"] = json!(format!(
        "https://ttd.apps.altinn.evil.example/ttd/archive-test/instances/{}/{}",
        instance.party_id, instance.instance_guid
    ));
    let hostile_id = correspondence_event(
        "../../escape",
        "c-1",
        "correspondencepublished",
        "2026-03-02T09:00:00Z",
    );
    let cases = [
        ("{not json".to_owned(), FailureReason::InvalidEvent),
        (
            json!({"specversion": "1.0", "id": "x"}).to_string(),
            FailureReason::InvalidEvent,
        ),
        (foreign.to_string(), FailureReason::SourceNotAllowed),
        (hostile_id, FailureReason::InvalidKey),
    ];
    let report = harness
        .run(
            cases
                .iter()
                .map(|(body, _)| harness.message(body, 1))
                .collect(),
        )
        .await;
    assert!(report.response.batch_item_failures.is_empty());
    let mut reasons: Vec<FailureReason> = report
        .outcomes
        .iter()
        .map(|(_, outcome)| match outcome {
            MessageOutcome::DeadLettered {
                error,
                retries_exhausted: false,
            } => error.reason,
            other => panic!("dead-lettered, got {other:?}"),
        })
        .collect();
    let mut expected: Vec<FailureReason> = cases.iter().map(|(_, r)| *r).collect();
    reasons.sort_by_key(|r| r.as_str());
    expected.sort_by_key(|r| r.as_str());
    assert_eq!(reasons, expected);

    let mut letters = Vec::new();
    while letters.len() < cases.len() {
        let received = harness.dead_letters().await;
        assert!(!received.is_empty());
        letters.extend(received);
    }
    for (body, reason) in &cases {
        let letter = letters
            .iter()
            .find(|l| l.body() == Some(body.as_str()))
            .expect("the body is kept as sent");
        assert_eq!(
            attribute(letter, "Reason").as_deref(),
            Some(reason.as_str())
        );
    }
    assert!(
        harness.requests_for(Route::StorageGetInstance).is_empty(),
        "no token went anywhere"
    );
}

#[tokio::test]
async fn archive_event_types_are_configurable() {
    let harness = Harness::start_with(Options::default().env(
        "ARCHIVE_EVENT_TYPES",
        "app.instance.process.completed, app.instance.substatus.*",
    ))
    .await;
    let instance = harness.seed(50_040_003, vec![DataSpec::pdf()]);
    let substatus = harness.event(&instance, "app.instance.substatus.changed");
    let created = harness.event(&instance, "app.instance.created");
    let report = harness.run(vec![harness.message(&created, 1)]).await;
    assert!(matches!(
        report.outcomes[0].1,
        MessageOutcome::EventStored { .. }
    ));
    let report = harness.run(vec![harness.message(&substatus, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    harness
        .verify_archive(&instance, &event_id(&substatus))
        .await;
}
