//! The end of a run: what went in, what was archived and completed, what was stored where,
//! what ended in the dead-letter queue, and whether that all adds up.

use std::path::PathBuf;
use std::time::Duration;

use altinn::InstanceRef;

use crate::ledger::TrackedEvent;
use crate::local_aws::DeadLetterInfo;
use crate::progress::{Progress, human_bytes};
use crate::webhook_server::WebhookStats;

/// One instance the run was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceReport {
    /// The instance.
    pub instance: InstanceRef,
    /// Its key prefix in the bucket.
    pub prefix: String,
    /// The key of its `manifest.json`.
    pub manifest: String,
    /// `manifest.json` is in the bucket: the archive is complete.
    pub archived: bool,
    /// Altinn lists our org in `completeConfirmations`; `None` when that could not be checked.
    pub completed: Option<bool>,
    /// Objects stored under the prefix.
    pub objects: usize,
    /// Their total size.
    pub bytes: u64,
    /// Hard-deleted data elements the archiver left out.
    pub hard_deleted_skipped: usize,
    /// Keys of its elements stored under `quarantine/` (Altinn's scan found them `Infected`).
    pub quarantined: Vec<String>,
}

/// Everything the summary reports. `succeeded()` decides the exit code.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Who put the events in: "published by the simulator" or "sent for your instances".
    pub events_origin: String,
    /// Events put into the system.
    pub events_sent: usize,
    /// What the webhook answered.
    pub webhook: WebhookStats,
    /// Every expected event and what became of it.
    pub events: Vec<TrackedEvent>,
    /// The instances, in order.
    pub instances: Vec<InstanceReport>,
    /// What the dead-letter queue held at the end.
    pub dead_letters: Vec<DeadLetterInfo>,
    /// The run stopped waiting before every event was settled.
    pub timed_out: bool,
    /// The bucket, as `s3://name`.
    pub bucket: String,
    /// Where the bucket lives when it is not AWS (the moto_server endpoint).
    pub bucket_note: String,
    /// The local copy, if one was made.
    pub output: Option<PathBuf>,
    /// How long the run took.
    pub elapsed: Duration,
    /// The archiver's EMF metric lines (one per message). The summary prints their number;
    /// with `RUST_LOG=debug` (or `trace`) it prints the lines too.
    pub archiver_metric_lines: Vec<String>,
}

impl RunSummary {
    /// Instances whose archive is complete.
    pub fn archived(&self) -> usize {
        self.instances.iter().filter(|i| i.archived).count()
    }

    /// Instances Altinn shows as completed by us.
    pub fn completed(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| i.completed == Some(true))
            .count()
    }

    /// Objects stored for the run's instances.
    pub fn objects(&self) -> usize {
        self.instances.iter().map(|i| i.objects).sum()
    }

    /// Bytes stored for the run's instances.
    pub fn bytes(&self) -> u64 {
        self.instances.iter().map(|i| i.bytes).sum()
    }

    /// Distinct events the webhook put on the queue.
    pub fn events_received(&self) -> usize {
        self.webhook.accepted_event_ids.len()
    }

    /// Everything that did not go as it should; empty means success.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.events_received() < self.events_sent {
            problems.push(format!(
                "{} of {} events never reached the queue",
                self.events_sent - self.events_received(),
                self.events_sent
            ));
        }
        if !self.webhook.rejected.is_empty() {
            problems.push(format!(
                "the webhook refused {} request(s)",
                self.webhook.rejected.len()
            ));
        }
        let unsettled: Vec<&TrackedEvent> = self
            .events
            .iter()
            .filter(|e| !e.state.is_settled())
            .collect();
        if !unsettled.is_empty() {
            problems.push(format!(
                "{} event(s) not archived{}: {}",
                unsettled.len(),
                if self.timed_out {
                    " before the time limit"
                } else {
                    ""
                },
                unsettled
                    .iter()
                    .map(|e| format!("{} ({})", e.event_id, e.subject))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !self.dead_letters.is_empty() {
            problems.push(format!(
                "{} message(s) in the dead-letter queue",
                self.dead_letters.len()
            ));
        }
        for report in &self.instances {
            if !report.archived {
                problems.push(format!(
                    "{} has no manifest.json",
                    report.instance.instance_id()
                ));
            } else if report.completed != Some(true) {
                problems.push(format!(
                    "{} is archived but Altinn does not show it completed by us",
                    report.instance.instance_id()
                ));
            }
        }
        problems
    }

    /// True when nothing went wrong.
    pub fn succeeded(&self) -> bool {
        self.problems().is_empty()
    }

    /// Prints the summary block.
    pub fn print(&self, progress: &Progress) {
        let line = |label: &str, text: String| progress.plain(format!("  {label:<13}{text}"));
        progress.plain("");
        progress.plain("Summary");
        line(
            "events",
            format!(
                "{} {}, {} received by the webhook and queued{}",
                self.events_sent,
                self.events_origin,
                self.events_received(),
                match self.webhook.validation_events {
                    0 => String::new(),
                    n => format!(" (+{n} subscription validation event)"),
                }
            ),
        );
        line(
            "archived",
            format!(
                "{} of {} instance(s) archived (manifest.json written), {} completed in Altinn",
                self.archived(),
                self.instances.len(),
                self.completed()
            ),
        );
        let skipped: usize = self.instances.iter().map(|i| i.hard_deleted_skipped).sum();
        line(
            "stored",
            format!(
                "{} object(s), {} in {}{}{}",
                self.objects(),
                human_bytes(self.bytes()),
                self.bucket,
                self.bucket_note,
                match skipped {
                    0 => String::new(),
                    n => format!("; {n} hard-deleted data element(s) left out, as they should be"),
                }
            ),
        );
        let quarantined: Vec<&String> =
            self.instances.iter().flat_map(|i| &i.quarantined).collect();
        if !quarantined.is_empty() {
            line(
                "quarantined",
                format!(
                    "{} file(s) Altinn's malware scan found Infected: stored under quarantine/, \
                     tagged altinn-file-scan=Infected, \"quarantined\": true in the manifest",
                    quarantined.len()
                ),
            );
            for key in quarantined {
                line("", key.clone());
            }
        }
        if self.dead_letters.is_empty() {
            line("dead letters", "0".to_owned());
        } else {
            line("dead letters", format!("{}", self.dead_letters.len()));
            for letter in &self.dead_letters {
                line(
                    "",
                    format!(
                        "event {}: {}{}",
                        letter.event_id.as_deref().unwrap_or("(unknown)"),
                        letter
                            .reason
                            .as_deref()
                            .unwrap_or("no reason attached (moved by the queue's redrive policy)"),
                        letter
                            .detail
                            .as_deref()
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    ),
                );
            }
        }
        match &self.output {
            Some(folder) => {
                line("look at", format!("{}/", folder.display()));
                for report in self.instances.iter().filter(|i| i.archived) {
                    line("", format!("{}/{}", folder.display(), report.manifest));
                }
                line(
                    "",
                    "(per instance: manifest.json, instance.json, events/, history/, data/{dataGuid})"
                        .to_owned(),
                );
            }
            None => {
                for report in self.instances.iter().filter(|i| i.archived) {
                    line("look at", format!("{}/{}", self.bucket, report.prefix));
                }
            }
        }
        line(
            "metrics",
            format!(
                "{} EMF line(s) from the archiver, kept off the console{}",
                self.archiver_metric_lines.len(),
                if tracing::enabled!(tracing::Level::DEBUG) {
                    ":"
                } else {
                    " (RUST_LOG=debug prints them)"
                }
            ),
        );
        if tracing::enabled!(tracing::Level::DEBUG) {
            for metric_line in &self.archiver_metric_lines {
                line("", metric_line.clone());
            }
        }
        line("time", format!("{:.1} s", self.elapsed.as_secs_f64()));
        let problems = self.problems();
        if problems.is_empty() {
            line("result", "OK".to_owned());
        } else {
            line("result", "FAILED".to_owned());
            for problem in problems {
                line("", format!("- {problem}"));
            }
        }
    }
}
