//! The archiver's CloudWatch metrics (Embedded Metric Format, one line per message):
//!
//! | metric | unit | when |
//! | --- | --- | --- |
//! | `Messages` | Count | every message |
//! | `InstancesArchived` | Count | archived and completed by this run |
//! | `ArchivedBytes` | Bytes | element bytes downloaded and stored |
//! | `ElementsArchived` | Count | elements downloaded and stored |
//! | `ElementsReused` | Count | elements found already archived |
//! | `ElementsSkipped` | Count | hard-deleted elements not archived |
//! | `ReceiptsUploaded` | Count | archive receipts uploaded in the feedback task |
//! | `ProcessesMovedOn` | Count | `process/next` calls that moved an instance on from the feedback task |
//! | `DuplicatesSkipped` | Count | the archive, the event or the write-back existed already |
//! | `EventsStored` | Count | non-archive events kept |
//! | `CorrespondenceEvents` | Count | Correspondence events archived as sender or recipient |
//! | `DetailsFetched` | Count | correspondence details answers fetched and stored |
//! | `AttachmentsArchived` | Count | correspondence attachments downloaded, checked and stored |
//! | `AttachmentsReused` | Count | correspondence attachments found already stored |
//! | `AttachmentsNotAccessible` | Count | attachments the sender may no longer download (Altinn's 2016) |
//! | `FollowUpEvents` | Count | events that need follow-up (`correspondencereceiverneverread`, …), every delivery |
//! | `FollowUpsSent` | Count | follow-up alerts published (one per correspondence and type) |
//! | `Retries` | Count | message retries plus in-process download retries |
//! | `DeadLettered` | Count | sent to the DLQ (dimension `Reason`) |
//! | `DeadLetterFailures` | Count | DLQ send failed |
//! | `Duration` | Milliseconds | handling time |
//! | `FilesQuarantined` | Count | `Infected` elements stored under `quarantine/` (only when > 0) |
//! | `ArchiveLatency` | Milliseconds | event `time` to manifest written: `archived`, and `correspondence_archived` on an event's first delivery |
//!
//! Dimensions: `Function`, `Outcome` (see [`MessageOutcome::label`]) and, for failures,
//! `Reason` (a fixed code, so the dimension stays small).

use std::time::{Duration, SystemTime};

use lambda_support::metrics::Metric;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::outcome::{ArchiveSummary, CorrespondenceSummary, MessageOutcome, RunStats};

/// The dimensions and metrics for one message's outcome.
pub fn message_metrics(
    outcome: &MessageOutcome,
    download_retries: u64,
    duration: Duration,
) -> (Vec<(&'static str, String)>, Vec<Metric>) {
    let mut dimensions = vec![("Outcome", outcome.label().to_owned())];
    let mut metrics = vec![Metric::count("Messages", 1)];
    let mut retries = download_retries;
    let transfer = |summary: &ArchiveSummary, metrics: &mut Vec<Metric>| {
        metrics.push(Metric::bytes("ArchivedBytes", summary.bytes_downloaded));
        metrics.push(Metric::count(
            "ElementsArchived",
            summary.elements_downloaded as u64,
        ));
        metrics.push(Metric::count(
            "ElementsReused",
            summary.elements_reused as u64,
        ));
        metrics.push(Metric::count(
            "ElementsSkipped",
            summary.elements_skipped as u64,
        ));
    };
    match outcome {
        MessageOutcome::Archived(summary) => {
            metrics.push(Metric::count("InstancesArchived", 1));
            transfer(summary, &mut metrics);
            latency_metric(summary.archive_latency, &mut metrics);
        }
        MessageOutcome::ClaimedByAnotherRun(summary) => {
            metrics.push(Metric::count("DuplicatesSkipped", 1));
            transfer(summary, &mut metrics);
        }
        MessageOutcome::WrittenBack(summary) => {
            metrics.push(Metric::bytes("ArchivedBytes", summary.bytes_downloaded));
            metrics.push(Metric::count(
                "ElementsArchived",
                summary.elements_downloaded as u64,
            ));
            metrics.push(Metric::count(
                "ElementsReused",
                summary.elements_reused as u64,
            ));
            metrics.push(Metric::count(
                "ReceiptsUploaded",
                u64::from(summary.receipt_uploaded),
            ));
            metrics.push(Metric::count(
                "ProcessesMovedOn",
                u64::from(summary.moved_on),
            ));
        }
        MessageOutcome::AlreadyArchived { .. }
        | MessageOutcome::AlreadyWrittenBack
        | MessageOutcome::EventAlreadyStored { .. } => {
            metrics.push(Metric::count("DuplicatesSkipped", 1));
        }
        MessageOutcome::CorrespondenceArchived(summary) => {
            correspondence_metrics(summary, &mut metrics)
        }
        MessageOutcome::EventStored { .. } => metrics.push(Metric::count("EventsStored", 1)),
        MessageOutcome::Retry { error, .. } => {
            retries += 1;
            dimensions.push(("Reason", error.reason.as_str().to_owned()));
        }
        MessageOutcome::DeadLettered { error, .. } => {
            metrics.push(Metric::count("DeadLettered", 1));
            dimensions.push(("Reason", error.reason.as_str().to_owned()));
        }
        MessageOutcome::DeadLetterFailed { error, .. } => {
            retries += 1;
            metrics.push(Metric::count("DeadLetterFailures", 1));
            dimensions.push(("Reason", error.reason.as_str().to_owned()));
        }
    }
    metrics.push(Metric::count("Retries", retries));
    metrics.push(Metric::millis("Duration", duration.as_secs_f64() * 1000.0));
    (dimensions, metrics)
}

/// `FilesQuarantined`, when this message stored `Infected` elements under `quarantine/`. Only
/// then: it has its own alarm, and a line without it keeps the other metrics' lines as they were.
pub fn quarantine_metric(stats: &RunStats) -> Option<Metric> {
    let quarantined = stats.quarantined();
    (quarantined > 0).then(|| Metric::count("FilesQuarantined", quarantined))
}

fn correspondence_metrics(summary: &CorrespondenceSummary, metrics: &mut Vec<Metric>) {
    metrics.push(Metric::count("CorrespondenceEvents", 1));
    if !summary.event_new {
        metrics.push(Metric::count("DuplicatesSkipped", 1));
    }
    metrics.push(Metric::count(
        "DetailsFetched",
        u64::from(summary.details_fetched),
    ));
    metrics.push(Metric::bytes("ArchivedBytes", summary.bytes_downloaded));
    for (name, count) in [
        ("AttachmentsArchived", summary.attachments_downloaded),
        ("AttachmentsReused", summary.attachments_reused),
        (
            "AttachmentsNotAccessible",
            summary.attachments_not_accessible,
        ),
    ] {
        metrics.push(Metric::count(name, count as u64));
    }
    if let Some(sent) = summary.follow_up {
        metrics.push(Metric::count("FollowUpEvents", 1));
        metrics.push(Metric::count("FollowUpsSent", u64::from(sent)));
    }
    latency_metric(summary.archive_latency, metrics);
}

/// The time from an event's CloudEvent `time` to `written_at`, when this run wrote the manifest
/// (the `ArchiveLatency` metric). `None` when the event has no time or one that is not RFC 3339.
/// An event time after `written_at` (the clocks of Altinn and AWS disagree) counts as zero.
pub fn archive_latency(event_time: Option<&str>, written_at: SystemTime) -> Option<Duration> {
    let event_time = OffsetDateTime::parse(event_time?, &Rfc3339).ok()?;
    let elapsed = OffsetDateTime::from(written_at) - event_time;
    Some(Duration::try_from(elapsed).unwrap_or(Duration::ZERO))
}

/// `ArchiveLatency`, only for a message whose run wrote a manifest: the dashboard's percentiles
/// must not count the messages that archived nothing.
fn latency_metric(latency: Option<Duration>, metrics: &mut Vec<Metric>) {
    if let Some(latency) = latency {
        metrics.push(Metric::millis(
            "ArchiveLatency",
            latency.as_secs_f64() * 1000.0,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ArchiveError, FailureReason};

    fn value(metrics: &[Metric], name: &str) -> Option<f64> {
        metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    #[test]
    fn archived_instances_report_bytes_and_elements() {
        let summary = ArchiveSummary {
            manifest_key: "m".into(),
            elements: 3,
            elements_downloaded: 2,
            elements_reused: 1,
            elements_skipped: 1,
            bytes_downloaded: 2048,
            archive_latency: None,
        };
        let (dimensions, metrics) = message_metrics(
            &MessageOutcome::Archived(summary),
            1,
            Duration::from_millis(250),
        );
        assert_eq!(dimensions, vec![("Outcome", "archived".to_owned())]);
        assert_eq!(value(&metrics, "InstancesArchived"), Some(1.0));
        assert_eq!(value(&metrics, "ArchivedBytes"), Some(2048.0));
        assert_eq!(value(&metrics, "ElementsArchived"), Some(2.0));
        assert_eq!(value(&metrics, "ElementsReused"), Some(1.0));
        assert_eq!(value(&metrics, "Retries"), Some(1.0));
        assert_eq!(value(&metrics, "Duration"), Some(250.0));
    }

    #[test]
    fn correspondence_events_report_attachments_and_follow_ups() {
        let summary = CorrespondenceSummary {
            event_new: true,
            details_fetched: true,
            attachments_downloaded: 2,
            bytes_downloaded: 10,
            follow_up: Some(true),
            ..CorrespondenceSummary::default()
        };
        let (dimensions, metrics) = message_metrics(
            &MessageOutcome::CorrespondenceArchived(summary.clone()),
            0,
            Duration::ZERO,
        );
        assert_eq!(
            dimensions,
            vec![("Outcome", "correspondence_archived".to_owned())]
        );
        assert_eq!(value(&metrics, "CorrespondenceEvents"), Some(1.0));
        assert_eq!(value(&metrics, "AttachmentsArchived"), Some(2.0));
        assert_eq!(value(&metrics, "ArchivedBytes"), Some(10.0));
        assert_eq!(value(&metrics, "FollowUpEvents"), Some(1.0));
        assert_eq!(value(&metrics, "FollowUpsSent"), Some(1.0));
        assert_eq!(value(&metrics, "DuplicatesSkipped"), None);
        let duplicate = CorrespondenceSummary {
            event_new: false,
            follow_up: Some(false),
            ..summary
        };
        let (_, metrics) = message_metrics(
            &MessageOutcome::CorrespondenceArchived(duplicate),
            0,
            Duration::ZERO,
        );
        assert_eq!(value(&metrics, "FollowUpEvents"), Some(1.0));
        assert_eq!(value(&metrics, "FollowUpsSent"), Some(0.0));
        assert_eq!(value(&metrics, "DuplicatesSkipped"), Some(1.0));
    }

    #[test]
    fn dead_letters_carry_their_reason_as_a_dimension() {
        let outcome = MessageOutcome::DeadLettered {
            error: ArchiveError::permanent(FailureReason::AltinnNotFound, "404"),
            retries_exhausted: false,
        };
        let (dimensions, metrics) = message_metrics(&outcome, 0, Duration::ZERO);
        assert_eq!(
            dimensions,
            vec![
                ("Outcome", "dead_lettered".to_owned()),
                ("Reason", "altinn_not_found".to_owned())
            ]
        );
        assert_eq!(value(&metrics, "DeadLettered"), Some(1.0));
        let duplicate = MessageOutcome::AlreadyArchived {
            manifest_key: "m".into(),
            completed_now: false,
        };
        assert_eq!(
            value(
                &message_metrics(&duplicate, 0, Duration::ZERO).1,
                "DuplicatesSkipped"
            ),
            Some(1.0)
        );
    }

    #[test]
    fn archive_latency_runs_from_the_event_time_to_the_manifest_write() {
        let written_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let event_time = (OffsetDateTime::from(written_at) - time::Duration::seconds(90))
            .format(&Rfc3339)
            .unwrap();
        let latency = archive_latency(Some(&event_time), written_at).unwrap();
        assert_eq!(latency, Duration::from_secs(90));
        // Seven fractional digits, as .NET writes them.
        let ten_seconds_later = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_010_124);
        assert_eq!(
            archive_latency(Some("2027-01-15T08:00:00.1234567Z"), ten_seconds_later)
                .map(|l| l.as_millis()),
            Some(10_000)
        );
        assert_eq!(archive_latency(None, written_at), None);
        assert_eq!(archive_latency(Some("yesterday"), written_at), None);
        let ahead = (OffsetDateTime::from(written_at) + time::Duration::seconds(2))
            .format(&Rfc3339)
            .unwrap();
        assert_eq!(
            archive_latency(Some(&ahead), written_at),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn archive_latency_is_emitted_only_when_this_run_wrote_a_manifest() {
        let written_at = SystemTime::now();
        let event_time = (OffsetDateTime::from(written_at) - time::Duration::seconds(90))
            .format(&Rfc3339)
            .unwrap();
        let summary = |event_time: Option<&str>| ArchiveSummary {
            manifest_key: "m".into(),
            elements: 1,
            elements_downloaded: 1,
            elements_reused: 0,
            elements_skipped: 0,
            bytes_downloaded: 1,
            archive_latency: archive_latency(event_time, written_at),
        };
        let metrics = |outcome| message_metrics(&outcome, 0, Duration::ZERO).1;
        let archived = metrics(MessageOutcome::Archived(summary(Some(&event_time))));
        let latency = value(&archived, "ArchiveLatency").unwrap();
        assert!((latency - 90_000.0).abs() < 1.0, "{latency}");
        assert_eq!(
            archived
                .iter()
                .find(|m| m.name == "ArchiveLatency")
                .unwrap()
                .unit,
            lambda_support::metrics::Unit::Milliseconds
        );
        for outcome in [
            MessageOutcome::Archived(summary(None)),
            MessageOutcome::Archived(summary(Some("not a time"))),
            MessageOutcome::AlreadyArchived {
                manifest_key: "m".into(),
                completed_now: true,
            },
        ] {
            assert_eq!(value(&metrics(outcome), "ArchiveLatency"), None);
        }
        let correspondence = CorrespondenceSummary {
            event_new: true,
            manifest_key: Some("m".into()),
            archive_latency: archive_latency(Some(&event_time), written_at),
            ..CorrespondenceSummary::default()
        };
        let latency = value(
            &metrics(MessageOutcome::CorrespondenceArchived(correspondence)),
            "ArchiveLatency",
        )
        .unwrap();
        assert!((latency - 90_000.0).abs() < 1.0, "{latency}");
        assert_eq!(
            value(
                &metrics(MessageOutcome::CorrespondenceArchived(
                    CorrespondenceSummary::default()
                )),
                "ArchiveLatency"
            ),
            None
        );
    }

    #[test]
    fn files_quarantined_is_written_only_when_a_file_was() {
        let stats = RunStats::default();
        assert_eq!(quarantine_metric(&stats), None);
        stats.add_quarantined();
        stats.add_quarantined();
        let metric = quarantine_metric(&stats).unwrap();
        assert_eq!((metric.name, metric.value), ("FilesQuarantined", 2.0));
    }
}
