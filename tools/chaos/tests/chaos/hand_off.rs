//! The chaos run's hand-off check: what the case system's queue got, against what was archived
//! and dead-lettered, and the archiver's own reports of the windows in which it could not help
//! sending an event twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use altinn_sim::SeededInstance;
use archiver::hand_off::UNANSWERED;
use archiver::pipeline::UNMARKED;
use chaos::ChaosSystem;
use local_runner::demo::instance_ref;
use serde_json::Value;

use crate::captured::Captured;

/// Keeps the archiver's ERROR lines, inside the spans of INFO and above that name the message
/// and its instance (installed once: this binary has one test).
pub(crate) fn capture_errors() -> Captured {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let errors = Captured::default();
    let wanted = tracing_subscriber::filter::filter_fn(|meta| {
        meta.target().starts_with("archiver")
            && (*meta.level() == tracing::Level::ERROR
                || (meta.is_span() && *meta.level() <= tracing::Level::INFO))
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(errors.clone())
                .with_filter(wanted),
        )
        .init();
    errors
}

/// What the case system got from the hand-off bus: exactly one `InstanceArchived` per good
/// instance, naming the manifest as stored, none for a broken one, and an `ArchiveFailed` for
/// every dead letter (all checked against their schemas as they were read). Returns how many
/// events were sent twice in a window the archiver reported.
pub(crate) async fn check_hand_off(
    system: &ChaosSystem,
    errors: &Captured,
    good: &[SeededInstance],
    broken: &[SeededInstance],
    letters: &[local_runner::local_aws::DeadLetterInfo],
) -> usize {
    let events = system.hand_off.drain(Duration::from_secs(2)).await;
    let lines = system.progress.lines();
    let errors = errors.text();
    // The two windows in which the archiver cannot help sending an event twice, as it
    // reported them at the time: a put that got no answer, and a send whose claim could not
    // be marked (with the message's span, so naming the instance).
    let mut reported: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains(UNANSWERED))
        .map(String::as_str)
        .collect();
    reported.extend(errors.lines().filter(|l| l.contains(UNMARKED)));
    let mut resent = 0;
    let mut archived: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.detail_type == "InstanceArchived")
    {
        let key = event.detail["manifestKey"].as_str().expect("manifestKey");
        archived
            .entry(key.to_owned())
            .or_default()
            .push(&event.detail);
    }
    for instance in good {
        let key = system
            .layout
            .manifest(&instance_ref(instance))
            .expect("key");
        let sent = archived.remove(&key).unwrap_or_default();
        // The one duplicate allowed: the same detail, where the archiver reported a window.
        let guid = instance.instance_guid.to_string();
        if sent.len() == 2 && sent[0] == sent[1] && reported.iter().any(|l| l.contains(&guid)) {
            resent += 1;
        } else {
            assert_eq!(sent.len(), 1, "{key}: InstanceArchived events {sent:#?}");
        }
        let (sha, _) = system.object_digest(&key).await;
        assert_eq!(sent[0]["manifestSha256"], sha.as_str(), "{key}");
        assert_eq!(sent[0]["completed"], true, "{key}");
    }
    assert!(
        archived.is_empty(),
        "InstanceArchived for no good instance (broken: {}): {archived:#?}",
        broken.len()
    );
    let failed: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.detail_type == "ArchiveFailed")
        .filter_map(|e| e.detail["eventId"].as_str())
        .collect();
    // The archiver's own dead letters (a redrive-policy move has no reason and no event).
    for letter in letters.iter().filter(|l| l.reason.is_some()) {
        let id = letter.event_id.as_deref().unwrap_or_default();
        assert!(
            failed.contains(id),
            "no ArchiveFailed for dead letter {letter:?}"
        );
    }
    resent
}
