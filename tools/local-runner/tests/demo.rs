//! `archive-local demo`, in-process: the simulator, moto_server, the webhook over HTTP and the
//! archiver behind the queue, with a 3 MiB "large" attachment; then one correspondence as its
//! sender and one as its recipient, each by a stack of its own.

mod common;

use std::time::Duration;

use altinn_sim::{DEMO_RECEIPT_DATA_TYPE, Route};
use archive_model::ArchiveRole;
use archive_model::correspondence::AttachmentState;
use common::{ScratchDir, assert_no_secret_printed, file_sha256, files_under};
use local_runner::demo::DEMO_SUBSTATUS_LABEL;
use local_runner::demo_correspondence::{
    CorrespondenceReport, FORBIDDEN_ROUTES, RECIPIENT_LATEST_STATUS, SENDER_LATEST_STATUS,
};
use local_runner::{DemoOptions, Progress, run_demo};

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_archives_and_completes_every_completed_instance() {
    let output = ScratchDir::new("demo");
    let progress = Progress::capturing();
    let options = DemoOptions {
        large_attachment_bytes: 3 * MIB,
        output: output.path().to_path_buf(),
        timeout: Duration::from_secs(60),
        keep_running: false,
    };
    let outcome = run_demo(&options, &progress).await.expect("the demo runs");
    let summary = &outcome.summary;
    assert!(summary.succeeded(), "problems: {:?}", summary.problems());
    assert!(outcome.succeeded());

    // Five seeded instances: three completed (one with a hard-deleted element), one still in
    // its first task, one waiting in the feedback task (archived once the archiver has moved
    // it on).
    assert_eq!(outcome.seeded.len(), 5);
    let archived_guids: Vec<_> = summary
        .instances
        .iter()
        .map(|i| i.instance.instance_guid)
        .collect();
    let (completed, unfinished): (Vec<_>, Vec<_>) = outcome
        .seeded
        .iter()
        .partition(|i| archived_guids.contains(&i.instance_guid));
    assert_eq!((completed.len(), unfinished.len()), (4, 1));
    let fed_back = outcome
        .seeded
        .last()
        .expect("the feedback instance is seeded last");
    let in_progress = unfinished[0];
    assert!(
        outcome
            .seeded
            .iter()
            .any(|i| i.data.iter().any(|d| d.hard_deleted)),
        "the demo seeds a hard-deleted element"
    );
    assert!(
        outcome
            .seeded
            .iter()
            .any(|i| i.data.iter().any(|d| d.size == 3 * MIB)),
        "the large attachment has the asked-for size"
    );

    // Events: three `completed` and one `movedTo.Task_2` published by the demo, and the
    // `completed` the app published after `process/next`; one validation event; nothing refused.
    assert_eq!(summary.events_sent, 5);
    assert_eq!(summary.events_received(), 5);
    assert_eq!(summary.webhook.validation_events, 1);
    assert!(
        summary.webhook.rejected.is_empty(),
        "{:?}",
        summary.webhook.rejected
    );

    // Archived and completed: the summary's check through the Altinn API, and the simulator's
    // own record of `complete`.
    assert_eq!(summary.archived(), 4);
    assert_eq!(summary.completed(), 4);
    assert!(!summary.timed_out);
    assert!(
        summary.dead_letters.is_empty(),
        "{:?}",
        summary.dead_letters
    );
    for (instance, stakeholders) in &outcome.confirmations {
        if instance.instance_guid == in_progress.instance_guid {
            assert!(
                stakeholders.is_empty(),
                "the unfinished instance is not completed"
            );
        } else {
            assert_eq!(
                stakeholders,
                &vec!["ttd".to_owned()],
                "{}",
                instance.instance_id()
            );
        }
    }

    // The write-back, as Altinn has the instances now: the feedback instance holds our receipt
    // and went on to its end; every archived instance shows our substatus.
    for (instance, json) in &outcome.final_instances {
        let archived = archived_guids.contains(&instance.instance_guid);
        let label = json["status"]["substatus"]["label"].as_str();
        assert_eq!(
            label,
            archived.then_some(DEMO_SUBSTATUS_LABEL),
            "{}",
            instance.instance_id()
        );
        let receipts = json["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|d| d["dataType"] == DEMO_RECEIPT_DATA_TYPE)
            .count();
        let is_fed_back = instance.instance_guid == fed_back.instance_guid;
        assert_eq!(
            receipts,
            usize::from(is_fed_back),
            "{}",
            instance.instance_id()
        );
        if is_fed_back {
            assert_eq!(json["status"]["isArchived"], true, "the process ended");
        }
    }

    // Objects and bytes: per instance its live data, instance.json, one event, the instance
    // events, the process history, the manifest and the claim of its hand-off event (the app's
    // metadata is shared, outside the instance folders); the feedback instance also has the
    // receipt element, a second event (its `movedTo`) and the receipt upload's claim.
    let live_elements: usize = completed.iter().map(|i| i.live_data().count()).sum();
    let live_bytes: u64 = completed
        .iter()
        .flat_map(|i| i.live_data())
        .map(|d| d.size)
        .sum();
    assert_eq!(summary.objects(), live_elements + 3 * 6 + (1 + 6 + 1 + 1));
    assert!(summary.bytes() > live_bytes, "data plus the JSON documents");
    let skipped: usize = summary
        .instances
        .iter()
        .map(|i| i.hard_deleted_skipped)
        .sum();
    assert_eq!(skipped, 1);

    // The copy on disk: exactly those objects, data bytes identical to what Altinn had, the
    // hard-deleted element and the unfinished instance absent.
    let runs: Vec<_> = std::fs::read_dir(output.path())
        .expect("output folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "one run folder: {runs:?}");
    let run_folder = &runs[0];
    assert_eq!(summary.output.as_deref(), Some(run_folder.as_path()));
    // The correspondence stacks' buckets are copied to folders of their own (checked below).
    let files: Vec<String> = files_under(run_folder)
        .into_iter()
        .filter(|f| !f.starts_with("correspondence-"))
        .collect();
    assert_eq!(files.len(), summary.objects(), "{files:#?}");
    let total: u64 = files
        .iter()
        .map(|f| {
            std::fs::metadata(run_folder.join(f))
                .expect("metadata")
                .len()
        })
        .sum();
    assert_eq!(total, summary.bytes());
    // One attachment is Infected in the demo (INFECTED_POLICY=archive): archived under
    // quarantine/ instead of data/, and the summary names it.
    let quarantined: Vec<&String> = summary
        .instances
        .iter()
        .flat_map(|i| &i.quarantined)
        .collect();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert!(
        progress
            .lines()
            .iter()
            .any(|line| line.contains(quarantined[0].as_str())),
        "the summary prints the quarantined file"
    );
    for instance in &completed {
        let prefix = format!(
            "ttd/demo-app/{}/{}/",
            instance.party_id, instance.instance_guid
        );
        assert!(files.contains(&format!("{prefix}manifest.json")));
        assert!(files.contains(&format!("{prefix}instance.json")));
        for data in &instance.data {
            let is_quarantined = quarantined
                .iter()
                .any(|key| key.ends_with(&format!("/quarantine/{}", data.id)));
            let folder = if is_quarantined { "quarantine" } else { "data" };
            let path = run_folder.join(format!("{prefix}{folder}/{}", data.id));
            if data.hard_deleted {
                assert!(
                    !path.exists(),
                    "hard-deleted element {} was archived",
                    data.id
                );
            } else {
                assert_eq!(file_sha256(&path), data.sha256_hex, "{}", data.id);
            }
        }
    }
    let fed_back_prefix = format!(
        "ttd/demo-app/{}/{}/",
        fed_back.party_id, fed_back.instance_guid
    );
    assert!(files.contains(&format!("{fed_back_prefix}receipt-upload.json")));
    let fed_back_events = files
        .iter()
        .filter(|f| f.starts_with(&format!("{fed_back_prefix}events/")))
        .count();
    assert_eq!(fed_back_events, 2, "movedTo and completed");
    let unfinished = format!("ttd/demo-app/{}/", in_progress.party_id);
    assert!(!files.iter().any(|f| f.starts_with(&unfinished)));

    // The archiver's EMF lines were collected (one per message), not printed.
    assert!(
        summary.archiver_metric_lines.len() >= 3,
        "{:#?}",
        summary.archiver_metric_lines
    );
    for metric_line in &summary.archiver_metric_lines {
        let emf: serde_json::Value = serde_json::from_str(metric_line).expect("an EMF line");
        assert!(emf["_aws"]["CloudWatchMetrics"].is_array(), "{metric_line}");
    }

    check_correspondence(&outcome.correspondence, run_folder);
    check_hand_off(&outcome.hand_off, &archived_guids);

    // What the user saw: progress for every step, the summary, and never the secret.
    let lines = progress.lines();
    assert_no_secret_printed(&lines);
    assert!(
        !lines.iter().any(|l| l.contains("CloudWatchMetrics")),
        "metric lines stay off the console"
    );
    for expected in [
        "moto_server (local S3 and SQS) listening on",
        "subscription 1 validated",
        "webhook  <- validation event",
        "queue    -> archiver: batch of",
        "waiting in the app's feedback task Task_2",
        "in the feedback task: 3 element(s) archived",
        "receipt uploaded",
        "Summary",
        "EMF line(s) from the archiver, kept off the console",
        "  result       OK",
        "webhook (CORRESPONDENCE_ROLE=sender, CORRESPONDENCE_RESOURCES=ttd-demo-correspondence)",
        "created by our organisation 991825827",
        "Events knows us as /organisation/991825827",
        "notificationcreated",
        "not ours, our subscription does not get it",
        "Correspondence",
        "  as sender    correspondence ",
        "  as recipient correspondence ",
        "none to /content, /markasread or /confirm",
        "Hand-off events the case system's queue received from altinn-archive-demo-hand-off",
        "  result       OK: one InstanceArchived for each of the 4 archived instance(s)",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "no line with {expected:?} in {lines:#?}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("webhook listening on http://127.0.0.1:") && l.contains("code=***")),
        "the endpoint is shown with the secret masked"
    );
}

/// One correspondence archived as its sender, one as its recipient: each manifest with the
/// expected latest status, each attachment stored as Altinn has it (and copied to disk), and
/// no call that reads a correspondence or changes its status for the recipient.
fn check_correspondence(reports: &[CorrespondenceReport], run_folder: &std::path::Path) {
    let roles: Vec<ArchiveRole> = reports.iter().map(|r| r.role).collect();
    assert_eq!(roles, [ArchiveRole::Sender, ArchiveRole::Recipient]);
    for report in reports {
        let role = report.role_name();
        assert!(report.problems().is_empty(), "{:?}", report.problems());
        assert!(!report.timed_out, "{role}");
        assert!(
            report.dead_letters.is_empty(),
            "{role}: {:?}",
            report.dead_letters
        );
        assert!(
            report.webhook.rejected.is_empty(),
            "{role}: {:?}",
            report.webhook.rejected
        );
        assert_eq!(
            report.webhook.validation_events, 1,
            "{role}: its own subscription"
        );
        for event in &report.events {
            assert!(event.state.is_settled(), "{role}: {event:?}");
            assert!(report.webhook.accepted_event_ids.contains(&event.event_id));
        }

        let manifest = report.manifest.as_ref().expect("manifest.json");
        let id = report.seeded.id.to_string();
        assert_eq!(manifest.role, report.role);
        assert_eq!(manifest.correspondence_id, id);
        assert_eq!(manifest.resource_id, report.seeded.resource_id);
        assert_eq!(
            report.manifest_key,
            format!(
                "correspondence/{}/{id}/manifest.json",
                report.seeded.resource_id
            )
        );
        let latest = manifest.latest_status.as_ref().map(|s| s.status.as_str());
        let expected = match report.role {
            ArchiveRole::Sender => SENDER_LATEST_STATUS,
            ArchiveRole::Recipient => RECIPIENT_LATEST_STATUS,
        };
        assert_eq!(latest, Some(expected), "{role}");
        let folder = report.folder.as_ref().expect("copied to disk");
        assert_eq!(
            folder,
            &run_folder.join(format!("correspondence-{role}")),
            "{role}"
        );
        assert!(folder.join(&report.manifest_key).is_file(), "{role}");

        assert_eq!(report.seeded.attachments.len(), 1);
        for seeded in &report.seeded.attachments {
            let record = manifest
                .attachments
                .iter()
                .find(|a| a.attachment_id == seeded.id.to_string())
                .unwrap_or_else(|| panic!("{role}: {} in the manifest", seeded.file_name));
            assert_eq!(record.state, AttachmentState::Downloaded, "{role}");
            assert_eq!(record.size, Some(seeded.size), "{role}");
            assert_eq!(record.sha256.as_deref(), Some(seeded.sha256_hex.as_str()));
            assert_eq!(record.checksum.as_deref(), Some(seeded.md5_hex.as_str()));
            let key = record.key.as_ref().expect("stored");
            assert!(
                report.objects.iter().any(|o| &o.key == key),
                "{role}: {key}"
            );
            assert_eq!(file_sha256(&folder.join(key)), seeded.sha256_hex, "{role}");
        }

        // Never `/content`, `markasread` or `confirm`, by route and by path.
        assert!(report.forbidden_calls().is_empty(), "{role}");
        for call in &report.altinn_calls {
            assert!(
                !call.route.is_some_and(|r| FORBIDDEN_ROUTES.contains(&r)),
                "{role}: {} {}",
                call.method,
                call.path
            );
            for forbidden in ["/content", "/markasread", "/confirm"] {
                assert!(!call.path.ends_with(forbidden), "{role}: {}", call.path);
            }
        }
        let calls_to = |route: Route| {
            report
                .altinn_calls
                .iter()
                .filter(|c| c.route == Some(route))
                .count()
        };
        assert!(calls_to(Route::CorrespondenceDetails) >= 1, "{role}");
        match report.role {
            ArchiveRole::Sender => {
                // The attachment event, published, notification, read.
                assert_eq!(report.events.len(), 4);
                assert_eq!(calls_to(Route::CorrespondenceSenderDownload), 1);
                assert_eq!(calls_to(Route::CorrespondenceRecipientDownload), 0);
            }
            ArchiveRole::Recipient => {
                // Only `correspondencepublished` is addressed to us.
                assert_eq!(report.events.len(), 1);
                assert_eq!(calls_to(Route::CorrespondenceRecipientDownload), 1);
                assert_eq!(calls_to(Route::CorrespondenceSenderDownload), 0);
                let history: Vec<&str> = manifest
                    .status_history
                    .iter()
                    .map(|s| s.status.as_str())
                    .collect();
                assert!(
                    !history.iter().any(|s| *s == "Read" || *s == "Confirmed"),
                    "the archive reads nothing: {history:?}"
                );
            }
        }
    }
}

/// The case system's queue got one `InstanceArchived` per archived instance, naming its
/// manifest, and the Correspondence events as `CorrespondenceArchived` (the schemas were
/// checked as the events were read).
fn check_hand_off(events: &[testkit::hand_off::HandOffEvent], archived: &[uuid::Uuid]) {
    let of_type = |t: &'static str| events.iter().filter(move |e| e.detail_type == t);
    let mut guids: Vec<String> = of_type("InstanceArchived")
        .map(|e| e.detail["instanceGuid"].as_str().unwrap().to_owned())
        .collect();
    guids.sort();
    let mut want: Vec<String> = archived.iter().map(|g| g.to_string()).collect();
    want.sort();
    assert_eq!(guids, want, "one InstanceArchived per archived instance");
    for event in of_type("InstanceArchived") {
        assert_eq!(event.detail["completed"], true);
        assert!(
            event.detail["manifestKey"]
                .as_str()
                .unwrap()
                .ends_with("/manifest.json")
        );
    }
    let roles: std::collections::BTreeSet<&str> = of_type("CorrespondenceArchived")
        .map(|e| e.detail["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["recipient", "sender"].into_iter().collect());
}
