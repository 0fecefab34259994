//! The demo's hand-off bus: an EventBridge bus on moto_server with the rule a case system would
//! add (`source: altinn.archive` → a queue of its own), read back after the run and printed.
//! Every event is checked against its JSON Schema in `schemas/hand-off/` as it is read.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use testkit::hand_off::{HandOffBus, HandOffEvent};

use crate::progress::Progress;

/// The demo's bus (both the instance stack and the Correspondence stacks put events on it).
pub const DEMO_HAND_OFF_BUS: &str = "altinn-archive-demo-hand-off";
/// How long the case system's queue must stay empty before the demo counts what it got.
const QUIET: Duration = Duration::from_secs(2);

/// Creates the bus, the case system's queue and the rule between them.
pub async fn create(sdk: &SdkConfig, progress: &Progress) -> HandOffBus {
    let bus = HandOffBus::create(sdk, DEMO_HAND_OFF_BUS).await;
    progress.step(format!(
        "EventBridge bus {DEMO_HAND_OFF_BUS} created, with a case system's rule \
         (source altinn.archive) sending to the queue {}",
        bus.queue_url.rsplit('/').next().unwrap_or_default()
    ));
    bus
}

/// Everything the case system's queue received.
pub async fn received(bus: &HandOffBus) -> Vec<HandOffEvent> {
    bus.drain(QUIET).await
}

/// What is wrong with the events received, given the instances that were archived: one
/// `InstanceArchived` per archived instance, none twice.
pub fn problems(events: &[HandOffEvent], archived_instances: usize) -> Vec<String> {
    let mut per_manifest: BTreeMap<String, usize> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.detail_type == "InstanceArchived")
    {
        let key = event.detail["manifestKey"].as_str().unwrap_or_default();
        *per_manifest.entry(key.to_owned()).or_default() += 1;
    }
    let mut problems = Vec::new();
    if per_manifest.len() != archived_instances {
        problems.push(format!(
            "{} InstanceArchived manifest(s) for {archived_instances} archived instance(s)",
            per_manifest.len()
        ));
    }
    for (key, count) in per_manifest.iter().filter(|(_, count)| **count > 1) {
        problems.push(format!("InstanceArchived {count} times for {key}"));
    }
    problems
}

/// One line per event: its type and what it names.
pub fn print(events: &[HandOffEvent], archived_instances: usize, progress: &Progress) {
    progress.plain("");
    progress.plain(format!(
        "Hand-off events the case system's queue received from {DEMO_HAND_OFF_BUS} ({}; each \
         valid against schemas/hand-off/)",
        events.len()
    ));
    for event in events {
        let detail = &event.detail;
        let text = |name: &str| detail[name].as_str().unwrap_or_default().to_owned();
        let what = match event.detail_type.as_str() {
            "InstanceArchived" => format!(
                "{} (sha256 {}…, completed={})",
                text("manifestKey"),
                text("manifestSha256").get(..12).unwrap_or_default(),
                detail["completed"]
            ),
            "CorrespondenceArchived" => format!(
                "as {} {} after {}",
                text("role"),
                text("correspondenceId"),
                text("eventType").trim_start_matches("no.altinn.correspondence.")
            ),
            "CorrespondenceNeedsFollowUp" => format!(
                "{} {}",
                text("correspondenceId"),
                text("eventType").trim_start_matches("no.altinn.correspondence.")
            ),
            _ => format!(
                "{} {} ({})",
                text("reason"),
                text("instance"),
                text("errorClass")
            ),
        };
        progress.plain(format!("  {:<28} {what}", event.detail_type));
    }
    let problems = problems(events, archived_instances);
    if problems.is_empty() {
        progress.plain(format!(
            "  result       OK: one InstanceArchived for each of the {archived_instances} archived instance(s)"
        ));
    } else {
        progress.plain("  result       FAILED");
        for problem in problems {
            progress.plain(format!("               - {problem}"));
        }
    }
}
