//! The pipeline's decisions, over the in-memory Altinn and archive: no S3, SQS or simulator.
//! The write-back in the feedback task and the substatus are in `write_back.rs`.

mod hand_off;
mod record;
mod scan;
mod write_back;

use std::time::{Duration, SystemTime};

use altinn::{Allowlist, AltinnEnvironment, Backoff, InstanceRef};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::manifest::Manifest;
use crate::memory::{DownloadFault, Journal, MemoryAltinn, MemoryArchive};
use crate::outcome::ArchiveSummary;
use crate::queue::{FailurePolicy, Verdict};
use crate::receipt::{FeedbackSettings, ReceiptFormat, ReceiptSettings, SubstatusSettings};

const ORG: &str = "ttd";
/// The feedback task of the write-back fixtures.
const FEEDBACK_TASK: &str = "Task_2";
/// The receipt data type of the write-back fixtures.
const RECEIPT_TYPE: &str = "archive-receipt";
const APP: &str = "archive-test";
const PARTY: u64 = 50_001;

struct Fixture {
    pipeline: Pipeline<MemoryAltinn, MemoryArchive>,
    altinn: MemoryAltinn,
    archive: MemoryArchive,
    journal: Journal,
    instance: InstanceRef,
}

/// One element of the test instance: its id and bytes.
struct Element {
    id: String,
    bytes: Vec<u8>,
}

fn element(seed: u8, len: usize) -> Element {
    Element {
        id: Uuid::new_v4().to_string(),
        bytes: (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect(),
    }
}

fn element_json(element: &Element, hard_deleted: bool) -> Value {
    json!({
        "id": element.id,
        "dataType": "attachment",
        "contentType": "application/pdf",
        "filename": format!("{}.pdf", element.id),
        "size": element.bytes.len(),
        "contentHash": BASE64.encode(Md5::digest(&element.bytes)),
        "deleteStatus": { "isHardDeleted": hard_deleted },
    })
}

impl Fixture {
    fn new() -> Self {
        Self::with(None, None)
    }

    /// With `FEEDBACK_TASK=Task_2` and `RECEIPT_DATA_TYPE=archive-receipt`, and the substatus
    /// label when given.
    fn writing_back(substatus: Option<&str>) -> Self {
        Self::with(
            Some(FeedbackSettings {
                task: FEEDBACK_TASK.into(),
                receipt: ReceiptSettings {
                    data_type: RECEIPT_TYPE.into(),
                    format: ReceiptFormat::Xml,
                },
            }),
            substatus.map(|label| SubstatusSettings {
                label: label.into(),
                description: Some("Arkivert".into()),
            }),
        )
    }

    fn with(feedback: Option<FeedbackSettings>, substatus: Option<SubstatusSettings>) -> Self {
        let journal = Journal::default();
        let altinn = MemoryAltinn::new(ORG, journal.clone());
        let archive = MemoryArchive::new(journal.clone());
        let settings = PipelineSettings {
            org: ORG.into(),
            allowlist: Allowlist::new(
                AltinnEnvironment::parse("tt02", None, None).unwrap(),
                Some(ORG.into()),
            ),
            archive_event_types: EventTypeFilter::parse(altinn::event::PROCESS_COMPLETED).unwrap(),
            layout: ArchiveLayout::new("archive/").unwrap(),
            element_concurrency: 2,
            download_attempts: 3,
            download_backoff: Backoff::new(Duration::ZERO, Duration::ZERO),
            feedback,
            substatus,
            write_back_claim_ttl: Duration::from_secs(120),
            correspondence: None,
            send_claim_ttl: Duration::from_secs(120),
            scan: crate::scan::ScanSettings::default(),
        };
        let instance = InstanceRef {
            org: ORG.into(),
            app: APP.into(),
            party_id: PARTY,
            instance_guid: Uuid::new_v4(),
        };
        Fixture {
            pipeline: Pipeline::new(altinn.clone(), archive.clone(), settings),
            altinn,
            archive,
            journal,
            instance,
        }
    }

    /// Seeds the instance with `elements` (the `deleted` ones hard-deleted), process ended
    /// when `completed`.
    fn seed(&self, elements: &[&Element], deleted: &[&Element], completed: bool) {
        let process = if completed {
            json!({ "ended": "2026-11-01T10:00:00Z", "endEvent": "EndEvent_1" })
        } else {
            json!({ "currentTask": { "elementId": "Task_1", "altinnTaskType": "data" } })
        };
        self.seed_in(elements, deleted, process);
    }

    /// Seeds the instance waiting in the task `element_id` of type `task_type`.
    fn seed_at_task(&self, elements: &[&Element], element_id: &str, task_type: &str) {
        let task =
            json!({ "currentTask": { "elementId": element_id, "altinnTaskType": task_type } });
        self.seed_in(elements, &[], task);
    }

    fn seed_in(&self, elements: &[&Element], deleted: &[&Element], process: Value) {
        let mut data: Vec<Value> = elements.iter().map(|e| element_json(e, false)).collect();
        data.extend(deleted.iter().map(|e| element_json(e, true)));
        for element in elements.iter().chain(deleted) {
            self.altinn.put_data(&element.id, element.bytes.clone());
        }
        let archived = process.get("ended").is_some();
        self.altinn.put_instance(
            &self.instance,
            json!({
                "id": self.instance.instance_id(),
                "appId": self.instance.app_id(),
                "org": ORG,
                "instanceOwner": { "partyId": PARTY.to_string() },
                "process": process,
                "status": { "isArchived": archived },
                "data": data,
            }),
        );
    }

    fn event(&self, event_type: &str) -> String {
        let source = format!(
            "https://{ORG}.apps.tt02.altinn.no/{ORG}/{APP}/instances/{}",
            self.instance.instance_id()
        );
        json!({
            "specversion": "1.0",
            "id": Uuid::new_v4().to_string(),
            "type": event_type,
            "source": source,
            "time": "2026-11-01T10:00:01Z",
        })
        .to_string()
    }

    async fn handle(&self, body: &str) -> Result<MessageOutcome, ArchiveError> {
        let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
        let mut context = MessageContext::default();
        self.pipeline
            .handle(Some(body), &deadline, &RunStats::default(), &mut context)
            .await
    }

    async fn archive(&self) -> Result<MessageOutcome, ArchiveError> {
        self.handle(&self.event(altinn::event::PROCESS_COMPLETED))
            .await
    }

    fn key(&self, name: &str) -> String {
        format!(
            "archive/{ORG}/{APP}/{PARTY}/{}/{name}",
            self.instance.instance_guid
        )
    }

    fn manifest(&self) -> Manifest {
        let object = self.archive.object(&self.key("manifest.json")).unwrap();
        serde_json::from_slice(&object.bytes).unwrap()
    }

    fn completes(&self) -> usize {
        self.journal
            .count(&format!("complete {}", self.instance.instance_id()))
    }

    fn downloads(&self, element: &Element) -> usize {
        self.journal.count(&format!("download {}", element.id))
    }
}

fn summary(outcome: MessageOutcome) -> ArchiveSummary {
    match outcome {
        MessageOutcome::Archived(summary) => summary,
        other => panic!("not archived: {other:?}"),
    }
}

#[tokio::test]
async fn archives_every_element_then_the_manifest_then_completes() {
    let fixture = Fixture::new();
    let (form, attachment, deleted) = (element(3, 1000), element(7, 20), element(9, 5));
    fixture.seed(&[&form, &attachment], &[&deleted], true);

    let summary = summary(fixture.archive().await.unwrap());
    assert_eq!(
        (
            summary.elements,
            summary.elements_downloaded,
            summary.elements_skipped
        ),
        (2, 2, 1)
    );
    assert_eq!(summary.bytes_downloaded, 1020);
    assert!(
        fixture
            .archive
            .object(&fixture.key(&format!("data/{}", form.id)))
            .is_some()
    );
    assert!(
        fixture
            .archive
            .object(&fixture.key(&format!("data/{}", deleted.id)))
            .is_none(),
        "a hard-deleted element is skipped"
    );
    let manifest = fixture.manifest();
    assert_eq!(
        manifest.objects.len(),
        7,
        "instance, event, instance events, process history, app metadata, two elements"
    );
    assert_eq!(manifest.skipped_data_elements.len(), 1);
    assert_eq!(
        manifest.skipped_data_elements[0].data_element_id,
        deleted.id
    );
    assert_eq!(manifest.skipped_data_elements[0].reason, "hardDeleted");

    let manifest_put = fixture
        .journal
        .position(&format!("put {}", fixture.key("manifest.json")));
    let complete = fixture
        .journal
        .position(&format!("complete {}", fixture.instance.instance_id()));
    assert!(
        manifest_put.unwrap() < complete.unwrap(),
        "complete only after the manifest"
    );
    assert_eq!(fixture.completes(), 1);
}

#[tokio::test]
async fn elements_already_archived_are_reused_unless_they_do_not_match() {
    let fixture = Fixture::new();
    let (kept, changed, half_done) = (element(3, 100), element(5, 100), element(7, 100));
    fixture.seed(&[&kept, &changed, &half_done], &[], true);
    let key = |e: &Element| fixture.key(&format!("data/{}", e.id));
    fixture
        .archive
        .insert(&key(&kept), kept.bytes.clone(), true);
    // Same size, other bytes: the MD5 differs from Altinn's contentHash.
    fixture.archive.insert(&key(&changed), vec![0u8; 100], true);
    // Left by a crash before its digests were written.
    fixture
        .archive
        .insert(&key(&half_done), half_done.bytes.clone(), false);

    let summary = summary(fixture.archive().await.unwrap());
    assert_eq!(
        (summary.elements_reused, summary.elements_downloaded),
        (1, 2)
    );
    assert_eq!(fixture.downloads(&kept), 0);
    assert_eq!(fixture.downloads(&changed), 1);
    assert_eq!(fixture.downloads(&half_done), 1);
    assert_eq!(
        fixture.archive.object(&key(&changed)).unwrap().bytes,
        changed.bytes
    );
}

#[tokio::test]
async fn an_existing_manifest_means_no_download_and_one_completion() {
    let fixture = Fixture::new();
    let form = element(3, 10);
    fixture.seed(&[&form], &[], true);
    summary(fixture.archive().await.unwrap());

    // A duplicate delivery after the completion: nothing to do.
    let outcome = fixture.archive().await.unwrap();
    assert!(matches!(
        outcome,
        MessageOutcome::AlreadyArchived {
            completed_now: false,
            ..
        }
    ));
    assert_eq!(fixture.downloads(&form), 1);
    assert_eq!(fixture.completes(), 1);

    // A crash between the manifest and `complete`: the retry completes, downloading nothing.
    let other = Fixture::new();
    other.seed(&[&form], &[], true);
    other.altinn.fail_complete(ArchiveError::transient(
        FailureReason::AltinnServerError,
        "complete: HTTP 503",
    ));
    assert!(other.archive().await.unwrap_err().is_transient());
    assert_eq!(other.completes(), 0);
    let outcome = other.archive().await.unwrap();
    assert!(matches!(
        outcome,
        MessageOutcome::AlreadyArchived {
            completed_now: true,
            ..
        }
    ));
    assert_eq!((other.downloads(&form), other.completes()), (1, 1));
}

#[tokio::test]
async fn losing_the_manifest_race_leaves_the_completion_to_the_winner() {
    let fixture = Fixture::new();
    fixture.seed(&[&element(3, 10)], &[], true);
    fixture.archive.contest(&fixture.key("manifest.json"));
    let outcome = fixture.archive().await.unwrap();
    assert!(matches!(outcome, MessageOutcome::ClaimedByAnotherRun(_)));
    assert_eq!(fixture.completes(), 0);
}

#[tokio::test]
async fn a_body_cut_short_is_downloaded_again() {
    let fixture = Fixture::new();
    let form = element(3, 100);
    fixture.seed(&[&form], &[], true);
    fixture
        .altinn
        .fault_download(&form.id, DownloadFault::CutShort);
    let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
    let stats = RunStats::default();
    let event = fixture.event(altinn::event::PROCESS_COMPLETED);
    let outcome = fixture
        .pipeline
        .handle(
            Some(&event),
            &deadline,
            &stats,
            &mut MessageContext::default(),
        )
        .await
        .unwrap();
    assert_eq!(summary(outcome).elements_downloaded, 1);
    assert_eq!((fixture.downloads(&form), stats.retries()), (2, 1));
}

#[tokio::test]
async fn failures_leave_no_manifest_and_no_completion() {
    let policy = FailurePolicy::new(5, Duration::ZERO);
    // (what goes wrong, the reason, whether it is dead-lettered on the first receive)
    let cases: Vec<(&str, FailureReason, bool)> = vec![
        (
            "process not ended",
            FailureReason::InstanceNotCompleted,
            true,
        ),
        (
            "corrupted on every attempt",
            FailureReason::ChecksumMismatch,
            true,
        ),
        ("element gone", FailureReason::AltinnNotFound, true),
        (
            "S3 down for the data",
            FailureReason::StorageUnavailable,
            false,
        ),
        (
            "cut short on every attempt",
            FailureReason::DownloadInterrupted,
            false,
        ),
    ];
    for (case, reason, dead_letter) in cases {
        let fixture = Fixture::new();
        let form = element(3, 100);
        fixture.seed(&[&form], &[], case != "process not ended");
        match case {
            "corrupted on every attempt" | "cut short on every attempt" => {
                let fault = if case.starts_with("corrupted") {
                    DownloadFault::Corrupted
                } else {
                    DownloadFault::CutShort
                };
                for _ in 0..3 {
                    fixture.altinn.fault_download(&form.id, fault.clone());
                }
            }
            "element gone" => fixture.altinn.fault_download(
                &form.id,
                DownloadFault::Fails(ArchiveError::permanent(
                    FailureReason::AltinnNotFound,
                    "404",
                )),
            ),
            "S3 down for the data" => fixture.archive.fail_writes_under(&fixture.key("data/")),
            _ => {}
        }
        let error = fixture.archive().await.unwrap_err();
        assert_eq!(error.reason, reason, "{case}");
        assert!(
            fixture
                .archive
                .object(&fixture.key("manifest.json"))
                .is_none(),
            "{case}"
        );
        assert_eq!(fixture.completes(), 0, "{case}");
        let verdict = policy.decide(&error, 1);
        assert_eq!(
            matches!(verdict, Verdict::DeadLetter { .. }),
            dead_letter,
            "{case}: {verdict:?}"
        );
    }
}

#[tokio::test]
async fn bad_messages_are_dead_lettered_at_once() {
    let fixture = Fixture::new();
    let policy = FailurePolicy::new(5, Duration::ZERO);
    let foreign = fixture.event(altinn::event::PROCESS_COMPLETED).replace(
        "https://ttd.apps.tt02.altinn.no",
        "https://ttd.apps.evil.example",
    );
    for (body, reason) in [
        (None, FailureReason::InvalidMessage),
        (Some("not json"), FailureReason::InvalidEvent),
        (Some(foreign.as_str()), FailureReason::SourceNotAllowed),
    ] {
        let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
        let error = fixture
            .pipeline
            .handle(
                body,
                &deadline,
                &RunStats::default(),
                &mut MessageContext::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(error.reason, reason);
        assert_eq!(
            policy.decide(&error, 1),
            Verdict::DeadLetter {
                retries_exhausted: false
            }
        );
    }
    assert!(fixture.archive.keys().is_empty());
}

#[tokio::test]
async fn other_events_are_kept_once_where_they_belong() {
    let fixture = Fixture::new();
    let created = fixture.event("app.instance.created");
    let outcome = fixture.handle(&created).await.unwrap();
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = fixture.key(&format!("events/{id}.json"));
    assert_eq!(outcome, MessageOutcome::EventStored { key: key.clone() });
    assert_eq!(
        fixture.handle(&created).await.unwrap(),
        MessageOutcome::EventAlreadyStored { key }
    );
    let correspondence = json!({
        "specversion": "1.0",
        "id": "c-1",
        "type": "no.altinn.correspondence.correspondencepublished",
        "source": "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence",
        "resource": "urn:altinn:resource:letters",
        "resourceinstance": "0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00",
    });
    assert_eq!(
        fixture.handle(&correspondence.to_string()).await.unwrap(),
        MessageOutcome::EventStored {
            key: "archive/correspondence/letters/0b6f2a4e-2d0b-4a8e-9f43-6f4b3d2c1a00/events/c-1.json"
                .into()
        }
    );
    let mut other = correspondence;
    other["type"] = "platform.something.else".into();
    other["id"] = "o-1".into();
    assert_eq!(
        fixture.handle(&other.to_string()).await.unwrap(),
        MessageOutcome::EventStored {
            key: "archive/events/o-1.json".into()
        }
    );
    assert_eq!(fixture.completes(), 0);
}

/// Compile-time: the pipeline's future over the in-memory parts is `Send` too, as the seams
/// promise for every implementation.
#[allow(dead_code)]
fn the_handle_future_is_send(fixture: &Fixture, deadline: &Deadline, context: &mut MessageContext) {
    fn assert_send<F: Send>(_: &F) {}
    let stats = RunStats::default();
    assert_send(&fixture.pipeline.handle(None, deadline, &stats, context));
}
