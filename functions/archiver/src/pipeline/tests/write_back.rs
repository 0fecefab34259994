//! Writing back to the instance, over the in-memory Altinn and archive: the receipt and
//! `process/next` in the feedback task, the substatus before `complete`, and crashes between
//! every two steps (a crash is a run dropped where it waits, as a killed process stops).

use super::*;
use crate::memory::{Step, StepFault};
use crate::outcome::WriteBackSummary;
use crate::receipt::{Problem, receipt_filename, upload_refusal};

impl Fixture {
    fn moved_to(&self) -> String {
        self.event(&altinn::event::process_moved_to(FEEDBACK_TASK))
    }

    async fn write_back(&self) -> Result<MessageOutcome, ArchiveError> {
        self.handle(&self.moved_to()).await
    }

    /// Runs `body` until it stops waiting for ever: the injected crash.
    async fn crash(&self, body: &str) {
        let run = tokio::time::timeout(Duration::from_millis(200), self.handle(body)).await;
        assert!(run.is_err(), "expected a crash, got {run:?}");
    }

    /// How many times Altinn did `what` (`receipt`, `process_next`, `substatus`, `complete`).
    fn done(&self, what: &str) -> usize {
        self.journal
            .count(&format!("{what} {}", self.instance.instance_id()))
    }

    fn at(&self, what: &str) -> usize {
        self.journal
            .position(&format!("{what} {}", self.instance.instance_id()))
            .unwrap_or_else(|| panic!("{what} never happened"))
    }

    /// Time passes: the write-back claim of a dead run expires.
    fn expire_claim(&self) {
        self.archive.set_modified(
            &self.key("receipt-upload.json"),
            SystemTime::now() - Duration::from_secs(600),
        );
    }

    /// Our receipts in the instance as Altinn has it now.
    fn receipts(&self) -> Vec<Value> {
        let json = self.altinn.instance_json(&self.instance).unwrap();
        json["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dataType"] == RECEIPT_TYPE)
            .cloned()
            .collect()
    }

    /// Retries the write-back like the queue would, the claim of a dead run expiring in
    /// between, until it succeeds.
    async fn retry_write_back(&self) -> MessageOutcome {
        for _ in 0..4 {
            self.expire_claim();
            match self.write_back().await {
                Ok(outcome) => return outcome,
                Err(error) => assert!(error.is_transient(), "{error}"),
            }
        }
        panic!("the write-back never succeeded");
    }
}

/// Injects a fault into a fixture whose instance holds the element.
type Inject = dyn Fn(&Fixture, &Element);

fn written_back(outcome: MessageOutcome) -> WriteBackSummary {
    match outcome {
        MessageOutcome::WrittenBack(summary) => summary,
        other => panic!("not written back: {other:?}"),
    }
}

fn transient(detail: &str) -> ArchiveError {
    ArchiveError::transient(FailureReason::AltinnServerError, detail)
}

fn conflict(operation: &str) -> ArchiveError {
    ArchiveError::transient(
        FailureReason::AltinnConflict,
        format!("{operation}: HTTP 409"),
    )
}

#[tokio::test]
async fn the_feedback_task_gets_the_elements_archived_a_receipt_and_process_next() {
    let fixture = Fixture::writing_back(Some("Mottatt"));
    let (form, attachment) = (element(3, 1000), element(7, 20));
    fixture.seed_at_task(&[&form, &attachment], FEEDBACK_TASK, "feedback");

    let summary = written_back(fixture.write_back().await.unwrap());
    assert_eq!(
        (
            summary.elements,
            summary.elements_downloaded,
            summary.bytes_downloaded
        ),
        (2, 2, 1020)
    );
    assert!(summary.receipt_uploaded && summary.moved_on);
    assert!(fixture.at("receipt") < fixture.at("process_next"));
    assert!(
        fixture.journal.position(&format!(
            "put {}",
            fixture.key(&format!("data/{}", form.id))
        )) < Some(fixture.at("receipt")),
        "the receipt names elements already archived"
    );
    assert!(
        fixture
            .archive
            .object(&fixture.key("manifest.json"))
            .is_none()
    );
    assert!(
        fixture
            .archive
            .object(&fixture.key("instance.json"))
            .is_none(),
        "instance.json is written once, from the final instance"
    );
    assert_eq!(
        (fixture.done("substatus"), fixture.done("complete")),
        (0, 0)
    );

    let receipts = fixture.receipts();
    assert_eq!(receipts.len(), 1);
    let receipt_id = receipts[0]["id"].as_str().unwrap().to_owned();
    let document = fixture
        .archive_bytes_of_receipt_after_completion(&receipt_id)
        .await;
    let sha256 = |bytes: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
    for element in [&form, &attachment] {
        assert!(
            document.contains(&format!(
                "<DataElement id=\"{}\" sha256=\"{}\"/>",
                element.id,
                sha256(&element.bytes)
            )),
            "{document}"
        );
    }
    assert!(document.contains(&format!(
        "<ArchiveLocation>memory://{}</ArchiveLocation>",
        fixture.key("")
    )));
}

impl Fixture {
    /// Runs the completion that follows the feedback task, checks it, and returns the receipt
    /// as archived.
    async fn archive_bytes_of_receipt_after_completion(&self, receipt_id: &str) -> String {
        let summary = summary(self.archive().await.unwrap());
        assert_eq!(
            (
                summary.elements,
                summary.elements_downloaded,
                summary.elements_reused
            ),
            (3, 1, 2),
            "the elements archived in the feedback task are reused; the receipt is added"
        );
        let manifest = self.manifest();
        assert!(
            manifest
                .objects
                .iter()
                .any(|o| o.data_element_id.as_deref() == Some(receipt_id))
        );
        assert!(self.at("process_next") < self.at("substatus"));
        assert!(
            self.journal
                .position(&format!("put {}", self.key("manifest.json")))
                < Some(self.at("substatus"))
        );
        assert!(self.at("substatus") < self.at("complete"));
        assert_eq!((self.done("receipt"), self.done("complete")), (1, 1));
        let object = self
            .archive
            .object(&self.key(&format!("data/{receipt_id}")))
            .unwrap();
        String::from_utf8(object.bytes.to_vec()).unwrap()
    }
}

#[tokio::test]
async fn an_instance_not_in_the_feedback_task_gets_nothing_written() {
    for (task, task_type) in [
        ("Task_1", "data"),
        (FEEDBACK_TASK, "data"),
        ("Task_3", "feedback"),
    ] {
        let fixture = Fixture::writing_back(Some("Mottatt"));
        fixture.seed_at_task(&[&element(3, 10)], task, task_type);
        let error = fixture.write_back().await.unwrap_err();
        assert_eq!(error.reason, FailureReason::NotInFeedbackTask, "{task}");
        assert!(!error.is_transient());
        assert!(error.detail.contains(task), "{error}");
        for what in ["receipt", "process_next", "substatus", "complete"] {
            assert_eq!(fixture.done(what), 0, "{task} {task_type}: {what}");
        }
        assert!(fixture.archive.keys().is_empty(), "nothing archived either");
    }
    // Ended without our receipt: the feedback task was left before we got there.
    let fixture = Fixture::writing_back(None);
    fixture.seed(&[&element(3, 10)], &[], true);
    let error = fixture.write_back().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::NotInFeedbackTask);
    assert_eq!(fixture.done("receipt") + fixture.done("process_next"), 0);
}

#[tokio::test]
async fn a_receipt_already_in_the_instance_is_not_uploaded_again() {
    let fixture = Fixture::writing_back(None);
    let (form, old_receipt) = (element(3, 10), element(5, 10));
    fixture.seed_at_task(&[&form, &old_receipt], FEEDBACK_TASK, "feedback");
    let mut json = fixture.altinn.instance_json(&fixture.instance).unwrap();
    json["data"][1]["dataType"] = RECEIPT_TYPE.into();
    json["data"][1]["filename"] = receipt_filename(&fixture.instance, ReceiptFormat::Json).into();
    fixture.altinn.put_instance(&fixture.instance, json);

    let summary = written_back(fixture.write_back().await.unwrap());
    assert!(!summary.receipt_uploaded && summary.moved_on);
    assert_eq!(
        (fixture.done("receipt"), fixture.done("process_next")),
        (0, 1)
    );
    // A duplicate after the process moved on writes nothing.
    assert_eq!(
        fixture.write_back().await.unwrap(),
        MessageOutcome::AlreadyWrittenBack
    );
    assert_eq!(
        (fixture.done("receipt"), fixture.done("process_next")),
        (0, 1)
    );
}

#[tokio::test]
async fn a_crash_between_any_two_write_back_steps_ends_with_one_receipt_and_one_process_next() {
    let cases: Vec<(&str, Box<Inject>)> = vec![
        (
            "download fails",
            Box::new(|f, e| {
                f.altinn
                    .fault_download(&e.id, DownloadFault::Fails(transient("503")))
            }),
        ),
        (
            "claimed, not uploaded",
            Box::new(|f, _| f.altinn.fault(Step::Upload, StepFault::CrashBefore)),
        ),
        (
            "uploaded, no answer",
            Box::new(|f, _| f.altinn.fault(Step::Upload, StepFault::CrashAfter)),
        ),
        (
            "uploaded, answer lost",
            Box::new(|f, _| {
                f.altinn
                    .fault(Step::Upload, StepFault::AnswerLost(transient("reset")))
            }),
        ),
        (
            "before process/next",
            Box::new(|f, _| f.altinn.fault(Step::ProcessNext, StepFault::CrashBefore)),
        ),
        (
            "moved on, no answer",
            Box::new(|f, _| f.altinn.fault(Step::ProcessNext, StepFault::CrashAfter)),
        ),
        (
            "moved on, answer lost",
            Box::new(|f, _| {
                f.altinn
                    .fault(Step::ProcessNext, StepFault::AnswerLost(transient("503")))
            }),
        ),
    ];
    for (case, inject) in cases {
        let fixture = Fixture::writing_back(Some("Mottatt"));
        let form = element(3, 100);
        fixture.seed_at_task(&[&form], FEEDBACK_TASK, "feedback");
        inject(&fixture, &form);
        let body = fixture.moved_to();
        if case.contains("no answer") || case.contains("claimed") || case.starts_with("before") {
            fixture.crash(&body).await;
        } else {
            assert!(
                fixture.handle(&body).await.unwrap_err().is_transient(),
                "{case}"
            );
        }
        let outcome = fixture.retry_write_back().await;
        assert!(
            matches!(
                outcome,
                MessageOutcome::WrittenBack(_) | MessageOutcome::AlreadyWrittenBack
            ),
            "{case}: {outcome:?}"
        );
        assert_eq!(fixture.receipts().len(), 1, "{case}");
        assert_eq!(
            (fixture.done("receipt"), fixture.done("process_next")),
            (1, 1),
            "{case}"
        );
        // A duplicate delivery afterwards changes nothing.
        assert_eq!(
            fixture.write_back().await.unwrap(),
            MessageOutcome::AlreadyWrittenBack,
            "{case}"
        );
        summary(fixture.archive().await.unwrap());
        assert_eq!(
            (fixture.done("substatus"), fixture.done("complete")),
            (1, 1),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_young_claim_of_another_run_means_come_back_after_it() {
    let fixture = Fixture::writing_back(None);
    fixture.seed_at_task(&[&element(3, 10)], FEEDBACK_TASK, "feedback");
    fixture
        .archive
        .insert(&fixture.key("receipt-upload.json"), "{}", true);
    let error = fixture.write_back().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::ReceiptInProgress);
    assert!(
        error
            .retry_after
            .is_some_and(|wait| wait <= Duration::from_secs(120))
    );
    assert_eq!(fixture.done("receipt") + fixture.done("process_next"), 0);
    fixture.expire_claim();
    assert!(written_back(fixture.write_back().await.unwrap()).moved_on);
}

#[tokio::test]
async fn instance_not_active_is_permanent_and_never_blocks_completion() {
    let fixture = Fixture::writing_back(Some("Mottatt"));
    let form = element(3, 10);
    fixture.seed_at_task(&[&form], FEEDBACK_TASK, "feedback");
    let not_active = Problem {
        title: Some("Instance Not Active".into()),
        detail: None,
    };
    fixture.altinn.fault(
        Step::Upload,
        StepFault::Fails(upload_refusal(409, &not_active, RECEIPT_TYPE)),
    );
    let error = fixture.write_back().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::InstanceNotActive);
    assert!(!error.is_transient());
    assert!(error.detail.contains("left the feedback task"), "{error}");
    assert_eq!(fixture.done("process_next"), 0);
    assert!(
        fixture
            .archive
            .object(&fixture.key("receipt-upload.json"))
            .is_none(),
        "the claim is released"
    );

    // Someone else ended the process; its completion archives and completes as usual.
    fixture.seed(&[&form], &[], true);
    let summary = summary(fixture.archive().await.unwrap());
    assert_eq!(summary.elements_reused, 1);
    assert_eq!(
        (fixture.done("substatus"), fixture.done("complete")),
        (1, 1)
    );
    assert_eq!(fixture.done("receipt"), 0);
}

#[tokio::test]
async fn a_refused_process_next_is_judged_by_where_the_instance_is() {
    // Still waiting: the task's validation failed; retried later, then it goes through.
    let fixture = Fixture::writing_back(None);
    fixture.seed_at_task(&[&element(3, 10)], FEEDBACK_TASK, "feedback");
    fixture.altinn.fault(
        Step::ProcessNext,
        StepFault::Fails(conflict("process_next")),
    );
    let error = fixture.write_back().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::ProcessNextRejected);
    assert!(error.is_transient());
    assert!(written_back(fixture.write_back().await.unwrap()).moved_on);
    assert_eq!(
        (fixture.done("receipt"), fixture.done("process_next")),
        (1, 1)
    );

    // Moved on by someone else just before our call ("Process is ended."): done.
    let fixture = Fixture::writing_back(None);
    fixture.seed_at_task(&[&element(3, 10)], FEEDBACK_TASK, "feedback");
    fixture.altinn.fault(
        Step::ProcessNext,
        StepFault::AnswerLost(conflict("process_next")),
    );
    let summary = written_back(fixture.write_back().await.unwrap());
    assert!(summary.receipt_uploaded && !summary.moved_on);

    // No `write` for us in the task: permanent, and the detail says what to fix.
    let fixture = Fixture::writing_back(None);
    fixture.seed_at_task(&[&element(3, 10)], FEEDBACK_TASK, "feedback");
    fixture.altinn.fault(
        Step::ProcessNext,
        StepFault::Fails(ArchiveError::permanent(
            FailureReason::AltinnForbidden,
            "process_next: HTTP 403",
        )),
    );
    let error = fixture.write_back().await.unwrap_err();
    assert_eq!(error.reason, FailureReason::AltinnForbidden);
    assert!(error.detail.contains("`write` in task Task_2"), "{error}");
}

#[tokio::test]
async fn the_substatus_is_set_before_complete_unless_it_is_shown() {
    let fixture = Fixture::writing_back(Some("Mottatt"));
    fixture.seed(&[&element(3, 10)], &[], true);
    summary(fixture.archive().await.unwrap());
    assert!(fixture.at("substatus") < fixture.at("complete"));
    let json = fixture.altinn.instance_json(&fixture.instance).unwrap();
    assert_eq!(
        json["status"]["substatus"],
        json!({"label": "Mottatt", "description": "Arkivert"})
    );
    assert_eq!(fixture.done("receipt"), 0, "no receipt after the end");

    let shown = Fixture::writing_back(Some("Mottatt"));
    shown.seed(&[&element(3, 10)], &[], true);
    let mut json = shown.altinn.instance_json(&shown.instance).unwrap();
    json["status"]["substatus"] = json!({"label": "Mottatt", "description": "Arkivert"});
    shown.altinn.put_instance(&shown.instance, json);
    summary(shown.archive().await.unwrap());
    assert_eq!((shown.done("substatus"), shown.done("complete")), (0, 1));

    let off = Fixture::writing_back(None);
    off.seed(&[&element(3, 10)], &[], true);
    summary(off.archive().await.unwrap());
    assert_eq!((off.done("substatus"), off.done("complete")), (0, 1));
}

#[tokio::test]
async fn a_crash_between_manifest_and_complete_still_sets_the_substatus_then_completes() {
    for (case, fault) in [
        (
            "before the substatus",
            (Step::Substatus, StepFault::CrashBefore),
        ),
        (
            "substatus set, no answer",
            (Step::Substatus, StepFault::CrashAfter),
        ),
        ("before complete", (Step::Complete, StepFault::CrashBefore)),
    ] {
        let fixture = Fixture::writing_back(Some("Mottatt"));
        fixture.seed(&[&element(3, 10)], &[], true);
        fixture.altinn.fault(fault.0, fault.1);
        fixture
            .crash(&fixture.event(altinn::event::PROCESS_COMPLETED))
            .await;
        assert!(
            fixture
                .archive
                .object(&fixture.key("manifest.json"))
                .is_some()
        );
        let outcome = fixture.archive().await.unwrap();
        assert!(
            matches!(
                outcome,
                MessageOutcome::AlreadyArchived {
                    completed_now: true,
                    ..
                }
            ),
            "{case}: {outcome:?}"
        );
        assert_eq!(
            (fixture.done("substatus"), fixture.done("complete")),
            (1, 1),
            "{case}"
        );
        assert!(fixture.at("substatus") < fixture.at("complete"), "{case}");
    }
}

#[tokio::test]
async fn without_feedback_task_nothing_is_ever_uploaded() {
    let fixture = Fixture::new();
    fixture.seed_at_task(&[&element(3, 10)], FEEDBACK_TASK, "feedback");
    let outcome = fixture.write_back().await.unwrap();
    assert!(
        matches!(outcome, MessageOutcome::EventStored { .. }),
        "only kept: {outcome:?}"
    );
    fixture.seed(&[&element(3, 10)], &[], true);
    summary(fixture.archive().await.unwrap());
    assert_eq!(
        (
            fixture.done("receipt"),
            fixture.done("process_next"),
            fixture.done("complete")
        ),
        (0, 0, 1)
    );
}

#[tokio::test]
async fn a_late_feedback_event_for_an_archived_and_deleted_instance_is_a_duplicate() {
    let fixture = Fixture::writing_back(None);
    fixture.seed(&[&element(3, 10)], &[], true);
    summary(fixture.archive().await.unwrap());
    fixture.altinn.remove_instance(&fixture.instance);
    assert_eq!(
        fixture.write_back().await.unwrap(),
        MessageOutcome::AlreadyWrittenBack
    );
}

#[tokio::test]
async fn an_element_changed_after_the_feedback_task_is_archived_again() {
    let fixture = Fixture::writing_back(None);
    let form = element(3, 100);
    fixture.seed_at_task(&[&form], FEEDBACK_TASK, "feedback");
    let set_version = |last_changed: &str, without_hash: bool| {
        let mut json = fixture.altinn.instance_json(&fixture.instance).unwrap();
        json["data"][0]["lastChanged"] = last_changed.into();
        if without_hash {
            // As Altinn mostly answers: no contentHash, so only the size would be compared.
            json["data"][0]
                .as_object_mut()
                .unwrap()
                .remove("contentHash");
        }
        fixture.altinn.put_instance(&fixture.instance, json);
    };
    set_version("2026-11-01T10:00:00Z", true);
    written_back(fixture.write_back().await.unwrap());
    assert_eq!(fixture.downloads(&form), 1);

    // Someone with `write` in the feedback task replaced the form: same size, new bytes.
    let changed: Vec<u8> = form.bytes.iter().map(|b| b ^ 0x55).collect();
    fixture.altinn.put_data(&form.id, changed.clone());
    set_version("2026-11-01T10:03:00Z", true);
    let summary = summary(fixture.archive().await.unwrap());
    assert_eq!(fixture.downloads(&form), 2, "the archived copy was stale");
    assert_eq!(summary.elements_downloaded, 2, "the form and the receipt");
    let key = fixture.key(&format!("data/{}", form.id));
    assert_eq!(fixture.archive.object(&key).unwrap().bytes, changed);
}
