//! What a reconciliation found: per instance a [`Finding`], per app an [`AppReport`] with the
//! counts the metrics and `archive-ops reconcile` show.

use altinn::InstanceRef;
use serde::Serialize;

use crate::config::AppId;

/// What was found for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum Finding {
    /// The manifest exists: archived (the archiver confirms it in Altinn).
    AlreadyArchived,
    /// Enqueued by an earlier run less than the re-enqueue period ago; not archived yet.
    #[serde(rename_all = "camelCase")]
    Pending {
        /// How long ago, in seconds.
        enqueued_secs_ago: u64,
    },
    /// Held for review: an `Infected` element has a review record and no release marker
    /// (`INFECTED_POLICY=hold`). Not enqueued, since the archiver would only hold it again; a
    /// person decides with `archive-ops quarantine release`.
    #[serde(rename_all = "camelCase")]
    Held {
        /// The held data elements' ids.
        data_element_ids: Vec<String>,
    },
    /// Not archived and not enqueued by this run (dry run, or the bound was reached).
    Missing,
    /// Enqueued now with this synthetic event id.
    #[serde(rename_all = "camelCase")]
    Enqueued {
        /// The synthetic event's id.
        event_id: String,
    },
}

/// One instance and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceFinding {
    /// `{org}/{app}/{partyId}/{instanceGuid}`.
    pub instance: String,
    /// The feedback task the instance waits at; absent for completed instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_task: Option<String>,
    /// What was found.
    #[serde(flatten)]
    pub finding: Finding,
}

/// Why a run stopped before reading every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// `max_enqueue` messages were sent.
    EnqueueBound,
    /// The deadline (Lambda timeout minus the margin) came.
    Deadline,
}

/// The result for one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppReport {
    /// `org/app`.
    pub app: String,
    /// Query pages read.
    pub pages: u32,
    /// Instances the queries returned (completed and not confirmed by us, or waiting at our
    /// feedback task).
    pub found: u64,
    /// Of those, waiting at our feedback task.
    pub at_feedback_task: u64,
    /// Of those, with a manifest.
    pub already_archived: u64,
    /// Of those, enqueued by an earlier run and not archived yet.
    pub pending: u64,
    /// Of those, held for review (an `Infected` element not released).
    pub held: u64,
    /// Of those, enqueued now.
    pub enqueued: u64,
    /// Of those, missing and not enqueued (dry run or bound).
    pub missing: u64,
    /// Entries the query returned that are not instances of this app (ignored).
    pub ignored: u64,
    /// Why the run stopped early; `None` when every page was read.
    pub stopped: Option<StopReason>,
    /// Every instance (not archived ones first is up to the caller).
    pub findings: Vec<InstanceFinding>,
}

impl AppReport {
    pub(crate) fn new(app: &AppId) -> Self {
        AppReport {
            app: app.to_string(),
            pages: 0,
            found: 0,
            at_feedback_task: 0,
            already_archived: 0,
            pending: 0,
            held: 0,
            enqueued: 0,
            missing: 0,
            ignored: 0,
            stopped: None,
            findings: Vec::new(),
        }
    }

    /// Counts one instance's finding; `feedback_task` is the task it waits at, if any.
    pub(crate) fn record(
        &mut self,
        instance: &InstanceRef,
        feedback_task: Option<&str>,
        finding: Finding,
    ) {
        if feedback_task.is_some() {
            self.at_feedback_task += 1;
        }
        match &finding {
            Finding::AlreadyArchived => self.already_archived += 1,
            Finding::Pending { .. } => self.pending += 1,
            Finding::Held { .. } => self.held += 1,
            Finding::Missing => self.missing += 1,
            Finding::Enqueued { .. } => self.enqueued += 1,
        }
        self.findings.push(InstanceFinding {
            instance: format!("{}/{}", instance.app_id(), instance.instance_id()),
            feedback_task: feedback_task.map(str::to_owned),
            finding,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_serialise_with_a_status() {
        let finding = InstanceFinding {
            instance: "ttd/a/1/g".into(),
            feedback_task: None,
            finding: Finding::Pending {
                enqueued_secs_ago: 5,
            },
        };
        assert_eq!(
            serde_json::to_value(&finding).unwrap(),
            serde_json::json!({"instance": "ttd/a/1/g", "status": "pending", "enqueuedSecsAgo": 5})
        );
        let waiting = InstanceFinding {
            feedback_task: Some("Task_2".into()),
            finding: Finding::Missing,
            ..finding
        };
        assert_eq!(
            serde_json::to_value(&waiting).unwrap(),
            serde_json::json!({"instance": "ttd/a/1/g", "feedbackTask": "Task_2", "status": "missing"})
        );
        let held = InstanceFinding {
            feedback_task: None,
            finding: Finding::Held {
                data_element_ids: vec!["d1".into()],
            },
            ..waiting
        };
        assert_eq!(
            serde_json::to_value(&held).unwrap(),
            serde_json::json!({"instance": "ttd/a/1/g", "status": "held", "dataElementIds": ["d1"]})
        );
    }
}
