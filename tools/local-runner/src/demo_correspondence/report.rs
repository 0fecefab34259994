//! What one role's run archived, whether that is what it should be, and where to look.

use std::path::PathBuf;

use altinn_sim::{RequestRecord, SeededCorrespondence};
use archive_model::ArchiveRole;
use archive_model::correspondence::{AttachmentState, CorrespondenceManifest};

use super::{FORBIDDEN_ROUTES, ORGANIZATION_URN_PREFIX, role_name};
use crate::archive_files::ObjectInfo;
use crate::ledger::TrackedEvent;
use crate::local_aws::DeadLetterInfo;
use crate::progress::{Progress, human_bytes};
use crate::webhook_server::WebhookStats;

/// One correspondence, archived in one role.
#[derive(Debug, Clone)]
pub struct CorrespondenceReport {
    /// The role the stack ran in.
    pub role: ArchiveRole,
    /// The role's settings, as printed.
    pub role_settings: String,
    /// The sending org.
    pub sender_org: String,
    /// The correspondence as seeded (ids, attachments and their digests).
    pub seeded: SeededCorrespondence,
    /// The role's bucket.
    pub bucket: String,
    /// The key of the correspondence's `manifest.json`.
    pub manifest_key: String,
    /// The manifest, if written.
    pub manifest: Option<CorrespondenceManifest>,
    /// The latest status the demo expects in the manifest.
    pub expected_status: &'static str,
    /// Every object in the role's bucket.
    pub objects: Vec<ObjectInfo>,
    /// Where the bucket was copied to.
    pub folder: Option<PathBuf>,
    /// The events our subscription was to get, and what became of each.
    pub events: Vec<TrackedEvent>,
    /// What the role's webhook answered.
    pub webhook: WebhookStats,
    /// What the role's dead-letter queue held at the end.
    pub dead_letters: Vec<DeadLetterInfo>,
    /// Every Correspondence API call about this correspondence or its attachments.
    pub altinn_calls: Vec<RequestRecord>,
    /// The role stopped waiting before every event was settled.
    pub timed_out: bool,
}

impl CorrespondenceReport {
    /// `sender` or `recipient`.
    pub fn role_name(&self) -> &'static str {
        role_name(self.role)
    }

    /// Everything that did not go as it should; empty means success.
    pub fn problems(&self) -> Vec<String> {
        let name = self.role_name();
        let mut problems = Vec::new();
        let unsettled: Vec<String> = self
            .events
            .iter()
            .filter(|e| !e.state.is_settled())
            .map(|e| format!("{} ({})", e.event_id, e.subject))
            .collect();
        if !unsettled.is_empty() {
            problems.push(format!(
                "{name}: {} event(s) not archived{}: {}",
                unsettled.len(),
                if self.timed_out {
                    " before the time limit"
                } else {
                    ""
                },
                unsettled.join(", ")
            ));
        }
        let missing = self
            .events
            .iter()
            .filter(|e| !self.webhook.accepted_event_ids.contains(&e.event_id))
            .count();
        if missing > 0 {
            problems.push(format!(
                "{name}: {missing} event(s) never reached the queue"
            ));
        }
        if !self.webhook.rejected.is_empty() {
            problems.push(format!(
                "{name}: the webhook refused {} request(s): {:?}",
                self.webhook.rejected.len(),
                self.webhook.rejected
            ));
        }
        if !self.dead_letters.is_empty() {
            problems.push(format!(
                "{name}: {} message(s) in the dead-letter queue",
                self.dead_letters.len()
            ));
        }
        let Some(manifest) = &self.manifest else {
            problems.push(format!("{name}: no {}", self.manifest_key));
            return problems;
        };
        let latest = manifest.latest_status.as_ref().map(|s| s.status.as_str());
        if latest != Some(self.expected_status) {
            problems.push(format!(
                "{name}: the latest status is {latest:?}, not {}",
                self.expected_status
            ));
        }
        for seeded in &self.seeded.attachments {
            let record = manifest
                .attachments
                .iter()
                .find(|a| a.attachment_id == seeded.id.to_string());
            let stored = record.is_some_and(|a| {
                a.state == AttachmentState::Downloaded
                    && a.sha256.as_deref() == Some(seeded.sha256_hex.as_str())
                    && a.key
                        .as_ref()
                        .is_some_and(|key| self.objects.iter().any(|o| &o.key == key))
            });
            if !stored {
                problems.push(format!(
                    "{name}: attachment {} is not stored as Altinn has it",
                    seeded.file_name
                ));
            }
        }
        for call in self.forbidden_calls() {
            problems.push(format!("{name}: called {} {}", call.method, call.path));
        }
        problems
    }

    /// Calls to `/content`, `/markasread` or `/confirm`: there must be none.
    pub fn forbidden_calls(&self) -> Vec<&RequestRecord> {
        self.altinn_calls
            .iter()
            .filter(|r| {
                r.route
                    .is_some_and(|route| FORBIDDEN_ROUTES.contains(&route))
                    || ["/content", "/markasread", "/confirm"]
                        .iter()
                        .any(|end| r.path.ends_with(end))
            })
            .collect()
    }

    fn print(&self, progress: &Progress) {
        let line = |label: &str, text: String| progress.plain(format!("  {label:<13}{text}"));
        let at = |key: &str| {
            let mut places = vec![format!("{}/{key}", self.bucket)];
            if let Some(folder) = &self.folder {
                places.push(format!("{}/{key}", folder.display()));
            }
            places
        };
        // The object in the bucket, then its copy on disk.
        let place_lines = |label: &str, what: Option<String>, key: &str| {
            let mut labels = std::iter::once(label).chain(std::iter::repeat(""));
            for text in what.into_iter().chain(at(key)) {
                line(labels.next().unwrap_or_default(), text);
            }
        };
        progress.plain("");
        line(
            &format!("as {}", self.role_name()),
            format!(
                "correspondence {} of resource {}, from {} to {}",
                self.seeded.id,
                self.seeded.resource_id,
                self.sender_org,
                self.seeded
                    .recipient
                    .strip_prefix(ORGANIZATION_URN_PREFIX)
                    .unwrap_or(&self.seeded.recipient)
            ),
        );
        line("settings", self.role_settings.clone());
        let archived = self.events.iter().filter(|e| e.state.is_settled()).count();
        line(
            "events",
            format!(
                "{} pushed to our subscription, {} queued by the webhook, {archived} archived; \
                 {} dead letter(s)",
                self.events.len(),
                self.webhook.accepted_event_ids.len(),
                self.dead_letters.len()
            ),
        );
        if let Some(manifest) = &self.manifest {
            // A status seen in a details answer and in an event is listed once here (the
            // manifest keeps both entries).
            let mut history: Vec<&str> = manifest
                .status_history
                .iter()
                .map(|s| s.status.as_str())
                .collect();
            history.dedup();
            line(
                "status",
                format!(
                    "{} (history: {})",
                    manifest
                        .latest_status
                        .as_ref()
                        .map_or("none", |s| s.status.as_str()),
                    history.join(", ")
                ),
            );
        }
        place_lines("manifest", None, &self.manifest_key);
        let details: Vec<&ObjectInfo> = self
            .objects
            .iter()
            .filter(|o| o.key.contains("/details/"))
            .collect();
        if let Some(newest) = details.iter().map(|o| &o.key).max() {
            place_lines(
                "details",
                Some(format!(
                    "{} details answer(s) as Altinn sent them; the newest:",
                    details.len()
                )),
                newest,
            );
        }
        for attachment in self.manifest.iter().flat_map(|m| &m.attachments) {
            let what = format!(
                "{} ({}): {}",
                attachment.file_name.as_deref().unwrap_or("(no name)"),
                attachment
                    .size
                    .map_or("size unknown".to_owned(), human_bytes),
                match attachment.state {
                    AttachmentState::Downloaded => "downloaded, MD5 checked against Altinn's",
                    AttachmentState::NoLongerAccessibleToSender => {
                        "no longer accessible to the sender (2016)"
                    }
                    AttachmentState::NotDownloaded => "not downloaded",
                }
            );
            match &attachment.key {
                Some(key) => place_lines("attachment", Some(what), key),
                None => line("attachment", what),
            }
        }
        if let Some(folder) = &self.folder {
            line(
                "everything",
                format!(
                    "{} object(s), {}, in {}/",
                    self.objects.len(),
                    human_bytes(self.objects.iter().map(|o| o.size).sum()),
                    folder.display()
                ),
            );
        }
        line(
            "Altinn calls",
            format!(
                "{}; {} to /content, /markasread or /confirm",
                describe_calls(&self.altinn_calls),
                match self.forbidden_calls().len() {
                    0 => "none".to_owned(),
                    n => n.to_string(),
                }
            ),
        );
    }
}

/// Prints the Correspondence block of the summary, with its own result line.
pub fn print_correspondence_summary(reports: &[CorrespondenceReport], progress: &Progress) {
    progress.plain("");
    progress.plain("Correspondence");
    for report in reports {
        report.print(progress);
    }
    let problems: Vec<String> = reports.iter().flat_map(|r| r.problems()).collect();
    let line = |label: &str, text: String| progress.plain(format!("  {label:<13}{text}"));
    progress.plain("");
    if problems.is_empty() {
        line("result", "OK".to_owned());
    } else {
        line("result", "FAILED".to_owned());
        for problem in problems {
            line("", format!("- {problem}"));
        }
    }
}

/// `GET …/details ×2, GET …/download ×1`: the calls by route.
fn describe_calls(calls: &[RequestRecord]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for call in calls {
        let name = match call.route {
            Some(route) => format!("{route:?}"),
            None => call.path.clone(),
        };
        let name = format!(
            "{} {}",
            call.method,
            name.trim_start_matches("Correspondence")
        );
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(name, count)| format!("{name} ×{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}
