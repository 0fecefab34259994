//! Correspondence over the in-memory Altinn and archive: the sender's details versions and
//! manifest, attachments (2016, checksum mismatch), the recipient's copy with the manifest
//! last, concurrent manifest writes, and one follow-up alert per (correspondence, type).

mod follow_up;
mod linked;
mod purged;
mod race;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use altinn::{Allowlist, AltinnEnvironment, Backoff};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use uuid::Uuid;

use super::super::{MessageContext, Pipeline, PipelineSettings};
use crate::config::EventTypeFilter;
use crate::correspondence::{AttachmentState, CorrespondenceManifest, StatusSource};
use crate::deadline::Deadline;
use crate::error::{ArchiveError, FailureReason};
use crate::follow_up::MemoryFollowUp;
use crate::layout::ArchiveLayout;
use crate::memory::{DownloadFault, Journal, MemoryAltinn, MemoryArchive};
use crate::outcome::{CorrespondenceSummary, MessageOutcome, RunStats};
use crate::queue::{FailurePolicy, Verdict};
use crate::seams::ArchiveTarget;
use altinn::{CorrespondenceMode, CorrespondenceRole};

const RESOURCE: &str = "letters";
const ORGNO: &str = "310000001";
const SUBJECT: &str = "urn:altinn:organization:identifier-no:310000001";

fn settings(mode: CorrespondenceMode) -> PipelineSettings {
    PipelineSettings {
        org: "ttd".into(),
        allowlist: Allowlist::new(
            AltinnEnvironment::parse("tt02", None, None).unwrap(),
            Some("ttd".into()),
        ),
        archive_event_types: EventTypeFilter::parse(altinn::event::PROCESS_COMPLETED).unwrap(),
        layout: ArchiveLayout::new("archive/").unwrap(),
        element_concurrency: 2,
        download_attempts: 3,
        download_backoff: Backoff::new(Duration::ZERO, Duration::ZERO),
        feedback: None,
        substatus: None,
        write_back_claim_ttl: Duration::from_secs(120),
        correspondence: Some(mode),
        send_claim_ttl: Duration::from_secs(120),
        scan: crate::scan::ScanSettings::default(),
    }
}

struct Fixture<T: ArchiveTarget = MemoryArchive> {
    pipeline: Pipeline<MemoryAltinn, T>,
    altinn: MemoryAltinn,
    archive: MemoryArchive,
    journal: Journal,
    alerts: MemoryFollowUp,
    id: Uuid,
}

impl Fixture {
    fn sender() -> Self {
        Self::with(CorrespondenceMode::Sender {
            resources: vec![RESOURCE.into()],
        })
    }

    fn recipient() -> Self {
        Self::with(CorrespondenceMode::Recipient {
            orgno: ORGNO.into(),
        })
    }

    fn with(mode: CorrespondenceMode) -> Self {
        let journal = Journal::default();
        let archive = MemoryArchive::new(journal.clone());
        Fixture::over(mode, archive.clone(), archive, journal)
    }
}

impl<T: ArchiveTarget> Fixture<T> {
    fn over(mode: CorrespondenceMode, target: T, archive: MemoryArchive, journal: Journal) -> Self {
        let altinn = MemoryAltinn::new("ttd", journal.clone());
        let alerts = MemoryFollowUp::new();
        let pipeline = Pipeline::new(altinn.clone(), target, settings(mode))
            .with_follow_up(Arc::new(alerts.clone()));
        Fixture {
            pipeline,
            altinn,
            archive,
            journal,
            alerts,
            id: Uuid::new_v4(),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("archive/correspondence/{RESOURCE}/{}/{name}", self.id)
    }

    fn manifest(&self) -> CorrespondenceManifest {
        let object = self.archive.object(&self.key("manifest.json")).unwrap();
        serde_json::from_slice(&object.bytes).unwrap()
    }

    async fn handle(&self, body: &Value) -> Result<MessageOutcome, ArchiveError> {
        let deadline = Deadline::after(Duration::from_secs(60), Duration::from_secs(1));
        self.pipeline
            .handle(
                Some(&body.to_string()),
                &deadline,
                &RunStats::default(),
                &mut MessageContext::default(),
            )
            .await
    }

    async fn summary(&self, body: &Value) -> CorrespondenceSummary {
        match self.handle(body).await.unwrap() {
            MessageOutcome::CorrespondenceArchived(summary) => summary,
            other => panic!("not archived: {other:?}"),
        }
    }

    fn details_keys(&self) -> Vec<String> {
        let prefix = self.key("details/");
        self.archive
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .collect()
    }
}

/// A Correspondence event of `suffix` about `instance` (from the `topic` API), at `time`.
fn event(suffix: &str, topic: &str, instance: Uuid, time: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "type": format!("no.altinn.correspondence.{suffix}"),
        "source": format!("https://platform.tt02.altinn.no/correspondence/api/v1/{topic}"),
        "resource": format!("urn:altinn:resource:{RESOURCE}"),
        "resourceinstance": instance.to_string(),
        "subject": SUBJECT,
        "time": time,
    })
}

fn history(statuses: &[(&str, &str)]) -> Vec<Value> {
    statuses
        .iter()
        .map(|(status, at)| json!({ "status": status, "statusText": status, "statusChanged": at }))
        .collect()
}

/// A details answer with `statuses` (the last is the current one) and `attachments`.
fn details(id: Uuid, statuses: &[(&str, &str)], attachments: &[(Uuid, &str, &[u8])]) -> Value {
    let (status, at) = statuses
        .last()
        .copied()
        .unwrap_or(("Initialized", "2026-12-04T08:00:00Z"));
    let attachments: Vec<Value> = attachments
        .iter()
        .map(|(aid, name, bytes)| {
            json!({
                "id": aid, "fileName": name, "dataType": "application/pdf",
                "checksum": hex::encode(Md5::digest(bytes)), "status": "Published",
            })
        })
        .collect();
    json!({
        "correspondenceId": id, "resourceId": RESOURCE, "recipient": SUBJECT,
        "status": status, "statusText": status, "statusChanged": at,
        "statusHistory": history(statuses),
        "content": { "language": "nb", "messageTitle": "Vedtak", "attachments": attachments },
        "notifications": [{
            "id": "5b8a0c2e-0000-4000-8000-000000000001", "isReminder": false,
            "processingStatus": { "status": "Completed", "description": "sent" },
        }],
        "newFieldAltinnMayAdd": true,
    })
}

fn statuses(manifest: &CorrespondenceManifest) -> Vec<(String, StatusSource)> {
    manifest
        .status_history
        .iter()
        .map(|s| (s.status.clone(), s.source))
        .collect()
}

#[tokio::test]
async fn the_sender_keeps_every_details_version_and_merges_every_status() {
    let fixture = Fixture::sender();
    let id = fixture.id;
    let published = [
        ("Initialized", "2026-12-04T08:00:00Z"),
        ("Published", "2026-12-04T08:01:00Z"),
    ];
    fixture
        .altinn
        .put_details(CorrespondenceRole::Sender, id, details(id, &published, &[]));
    let first = event(
        "correspondencepublished",
        "correspondence",
        id,
        "2026-12-04T08:01:00.5Z",
    );
    let summary = fixture.summary(&first).await;
    assert!(summary.event_new && summary.details_fetched);
    assert_eq!(summary.manifest_key, Some(fixture.key("manifest.json")));
    assert_eq!(summary.follow_up, None);

    let read = [published[0], published[1], ("Read", "2026-12-04T09:00:00Z")];
    fixture
        .altinn
        .put_details(CorrespondenceRole::Sender, id, details(id, &read, &[]));
    let read_event = event(
        "correspondencereceiverread",
        "correspondence",
        id,
        "2026-12-04T09:00:01Z",
    );
    fixture.summary(&read_event).await;
    // A duplicate delivery is kept once, and fetches a new details version.
    let duplicate = fixture.summary(&read_event).await;
    assert!(!duplicate.event_new);

    assert_eq!(
        fixture.details_keys().len(),
        3,
        "one details version per fetch"
    );
    let stored = fixture.archive.object(&fixture.details_keys()[0]).unwrap();
    assert!(
        String::from_utf8_lossy(&stored.bytes).contains("newFieldAltinnMayAdd"),
        "the raw bytes are stored"
    );
    let manifest = fixture.manifest();
    let details = StatusSource::Details;
    let event = StatusSource::Event;
    assert_eq!(
        statuses(&manifest),
        vec![
            ("Initialized".into(), details),
            ("Published".into(), details),
            ("Published".into(), event),
            ("Read".into(), details),
            ("Read".into(), event),
        ]
    );
    assert_eq!(manifest.latest_status.unwrap().status, "Read");
    assert_eq!(manifest.notifications.len(), 1);
    assert_eq!(
        manifest.notifications[0]
            .processing_status
            .as_ref()
            .unwrap()["status"],
        "Completed"
    );
    assert_eq!(
        manifest.objects.len(),
        5,
        "two events, three details versions"
    );
    assert!(manifest.objects.iter().all(|o| o.sha256.len() == 64));
    assert_eq!(fixture.journal.count(&format!("details sender {id}")), 3);
}

#[tokio::test]
async fn the_sender_downloads_attachments_while_it_may_and_records_2016() {
    let fixture = Fixture::sender();
    let (early, late) = (Uuid::new_v4(), Uuid::new_v4());
    let bytes = b"%PDF-1.7 vedtak".to_vec();
    for aid in [early, late] {
        fixture.altinn.put_attachment_overview(
            aid,
            json!({
                "attachmentId": aid, "resourceId": RESOURCE, "fileName": "vedtak.pdf",
                "checksum": hex::encode(Md5::digest(&bytes)), "status": "Published",
                "correspondenceIds": [fixture.id], "dataType": "application/pdf",
            }),
        );
        fixture.altinn.put_attachment(aid, bytes.clone());
    }
    fixture.altinn.block_sender_download(late);

    let summary = fixture
        .summary(&event(
            "attachmentpublished",
            "attachment",
            early,
            "2026-12-04T07:00:00Z",
        ))
        .await;
    assert_eq!(
        (summary.attachments_downloaded, summary.bytes_downloaded),
        (1, bytes.len() as u64)
    );
    let data = format!("archive/correspondence-attachments/{early}/data");
    assert_eq!(fixture.archive.object(&data).unwrap().bytes, bytes);
    let summary = fixture
        .summary(&event(
            "attachmentpublished",
            "attachment",
            late,
            "2026-12-04T07:00:01Z",
        ))
        .await;
    assert_eq!(
        summary.attachments_not_accessible, 1,
        "2016 is not a failure"
    );
    assert!(
        fixture
            .archive
            .object(&format!("archive/correspondence-attachments/{late}/data"))
            .is_none()
    );
    let record: Value = serde_json::from_slice(
        &fixture
            .archive
            .object(&format!(
                "archive/correspondence-attachments/{late}/overview.json"
            ))
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert_eq!(record["state"], "noLongerAccessibleToSender");
    assert_eq!(record["overview"]["fileName"], "vedtak.pdf");

    // Both are linked to the correspondence, whose manifest lists them.
    let manifest = fixture.manifest();
    let state = |aid: Uuid| {
        let record = manifest
            .attachments
            .iter()
            .find(|a| a.attachment_id == aid.to_string())
            .unwrap();
        (record.state, record.key.clone())
    };
    assert_eq!(state(early), (AttachmentState::Downloaded, Some(data)));
    assert_eq!(
        state(late),
        (AttachmentState::NoLongerAccessibleToSender, None)
    );
    assert!(manifest.status_history.is_empty());
}

#[tokio::test]
async fn a_checksum_mismatch_is_downloaded_again_then_dead_lettered() {
    let fixture = Fixture::recipient();
    let id = fixture.id;
    let aid = Uuid::new_v4();
    let bytes = vec![7u8; 1000];
    let published = [("Published", "2026-12-04T08:01:00Z")];
    fixture.altinn.put_details(
        CorrespondenceRole::Recipient,
        id,
        details(id, &published, &[(aid, "a.pdf", &bytes)]),
    );
    fixture.altinn.put_attachment(aid, bytes.clone());
    fixture
        .altinn
        .fault_attachment(aid, DownloadFault::Corrupted);
    let publish = event(
        "correspondencepublished",
        "correspondence",
        id,
        "2026-12-04T08:01:01Z",
    );
    let summary = fixture.summary(&publish).await;
    assert_eq!(
        summary.attachments_downloaded, 1,
        "the second download matched"
    );

    let other = Fixture::recipient();
    let id = other.id;
    other.altinn.put_details(
        CorrespondenceRole::Recipient,
        id,
        details(id, &published, &[(aid, "a.pdf", &bytes)]),
    );
    other.altinn.put_attachment(aid, bytes);
    for _ in 0..3 {
        other.altinn.fault_attachment(aid, DownloadFault::Corrupted);
    }
    let publish = event(
        "correspondencepublished",
        "correspondence",
        id,
        "2026-12-04T08:01:01Z",
    );
    let error = other.handle(&publish).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::ChecksumMismatch);
    assert!(matches!(
        FailurePolicy::new(5, Duration::ZERO).decide(&error, 1),
        Verdict::DeadLetter { .. }
    ));
    assert!(other.archive.object(&other.key("manifest.json")).is_none());
}

#[tokio::test]
async fn the_recipient_archives_every_attachment_then_the_manifest() {
    let fixture = Fixture::recipient();
    let id = fixture.id;
    let (a1, a2) = (Uuid::new_v4(), Uuid::new_v4());
    let (b1, b2) = (vec![1u8; 3000], vec![2u8; 10]);
    let published = [
        ("Published", "2026-12-04T08:01:00Z"),
        ("Fetched", "2026-12-04T08:02:00Z"),
    ];
    fixture.altinn.put_details(
        CorrespondenceRole::Recipient,
        id,
        details(
            id,
            &published,
            &[
                (a1, "vedtak.pdf", &b1),
                (a2, "vedlegg med mellomrom.txt", &b2),
            ],
        ),
    );
    fixture.altinn.put_attachment(a1, b1.clone());
    fixture.altinn.put_attachment(a2, b2.clone());
    let publish = event(
        "correspondencepublished",
        "correspondence",
        id,
        "2026-12-04T08:01:01Z",
    );
    let summary = fixture.summary(&publish).await;
    assert_eq!(
        (summary.attachments_downloaded, summary.bytes_downloaded),
        (2, 3010)
    );
    let k1 = fixture.key(&format!("attachments/{a1}/vedtak.pdf"));
    let k2 = fixture.key(&format!("attachments/{a2}/data"));
    assert_eq!(fixture.archive.object(&k1).unwrap().bytes, b1);
    assert_eq!(fixture.archive.object(&k2).unwrap().bytes, b2);
    let position = |key: &str| fixture.journal.position(&format!("put {key}")).unwrap();
    let manifest_put = position(&fixture.key("manifest.json"));
    assert!(
        position(&k1) < manifest_put && position(&k2) < manifest_put,
        "manifest last"
    );
    let manifest = fixture.manifest();
    assert!(
        manifest
            .attachments
            .iter()
            .all(|a| a.state == AttachmentState::Downloaded)
    );
    assert_eq!(
        manifest
            .attachments
            .iter()
            .find(|a| a.key.as_deref() == Some(k2.as_str()))
            .unwrap()
            .file_name
            .as_deref(),
        Some("vedlegg med mellomrom.txt")
    );

    // A duplicate and the later due-date event: no new details call, no new download.
    let duplicate = fixture.summary(&publish).await;
    assert!(!duplicate.details_fetched && duplicate.attachments_reused == 2);
    let never = event(
        "correspondencereceiverneverread",
        "correspondence",
        id,
        "2026-12-18T08:00:00Z",
    );
    let summary = fixture.summary(&never).await;
    assert_eq!(summary.follow_up, Some(true));
    assert_eq!(fixture.journal.count(&format!("details recipient {id}")), 1);
    assert_eq!(
        fixture
            .journal
            .count(&format!("download_recipient_attachment {id} {a1}")),
        1
    );
    assert_eq!(
        fixture.manifest().latest_status.unwrap().status,
        "ReceiverNeverRead"
    );
    // Only the calls the seam has; never a sender call as recipient.
    for entry in fixture.journal.entries() {
        assert!(
            entry.starts_with("put ")
                || entry.starts_with("details recipient ")
                || entry.starts_with("download_recipient_attachment "),
            "{entry}"
        );
    }
}

#[tokio::test]
async fn events_not_for_us_and_unknown_correspondences_are_dead_lettered() {
    let fixture = Fixture::recipient();
    let mut foreign = event(
        "correspondencepublished",
        "correspondence",
        fixture.id,
        "2026-12-04T08:00:00Z",
    );
    foreign["subject"] = "urn:altinn:organization:identifier-no:999999999".into();
    let error = fixture.handle(&foreign).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::CorrespondenceNotOurs);

    let sender = Fixture::sender();
    let mut other_resource = event(
        "correspondencepublished",
        "correspondence",
        sender.id,
        "2026-12-04T08:00:00Z",
    );
    other_resource["resource"] = "urn:altinn:resource:not-ours".into();
    let error = sender.handle(&other_resource).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::CorrespondenceNotOurs);

    // Purged and gone from Altinn: the event still goes into the record.
    let purged = event(
        "correspondencepurged",
        "correspondence",
        sender.id,
        "2026-12-04T08:00:00Z",
    );
    let summary = sender.summary(&purged).await;
    assert!(!summary.details_fetched);
    assert_eq!(sender.manifest().latest_status.unwrap().status, "Purged");

    let unknown = event(
        "correspondencepublished",
        "correspondence",
        sender.id,
        "2026-12-04T08:00:00Z",
    );
    let error = sender.handle(&unknown).await.unwrap_err();
    assert_eq!(error.reason, FailureReason::CorrespondenceNotFound);
    assert!(!error.is_transient());
    assert!(
        error.detail.contains("not ours, purged"),
        "{}",
        error.detail
    );
}

#[tokio::test]
async fn notification_orders_get_their_own_folder() {
    let fixture = Fixture::sender();
    let order = Uuid::new_v4();
    let created = event(
        "notificationcreated",
        "notification",
        order,
        "2026-12-04T08:00:00Z",
    );
    let summary = fixture.summary(&created).await;
    assert_eq!(
        summary.event_key,
        format!(
            "archive/correspondence-notifications/{order}/events/{}.json",
            created["id"].as_str().unwrap()
        )
    );
    assert_eq!(summary.manifest_key, None);
    assert!(
        fixture
            .journal
            .entries()
            .iter()
            .all(|e| e.starts_with("put "))
    );
}
