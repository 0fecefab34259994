//! Correspondence attachments of tens of MiB are archived in flat memory, as the sender (before
//! publishing) and as the recipient: the bytes stream from Altinn to S3 through one part buffer
//! per transfer, with their MD5 checked on the way.
//!
//! Its own test binary with one test, so no other test's allocations count. The in-process
//! simulator generates the attachments from a seed in O(1) memory.

mod common;

use altinn_sim::CorrespondenceSpec;
use archiver::MessageOutcome;
use common::*;

const SIZE: u64 = 48 * MIB as u64;
const PEAK_LIMIT_KIB: u64 = 100 * 1024;
const RESOURCE_ID: &str = "ttd-correspondence";
const OWN_ORGNO: &str = "991825827";

/// A `kB` line of /proc/self/status.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

async fn archived_bytes(harness: &Harness, event: &serde_json::Value) -> u64 {
    let report = harness
        .run(vec![harness.message(&event.to_string(), 1)])
        .await;
    match &report.outcomes[0].1 {
        MessageOutcome::CorrespondenceArchived(summary) => summary.bytes_downloaded,
        other => panic!("not archived: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_of_tens_of_mib_are_archived_in_flat_memory() {
    let env = |role: &str| {
        Options::default()
            .env("PART_SIZE_MIB", 8)
            .env("ELEMENT_CONCURRENCY", 4)
            .env("CORRESPONDENCE_ROLE", role)
    };
    let sender =
        Harness::start_with(env("sender").env("CORRESPONDENCE_RESOURCES", RESOURCE_ID)).await;
    let recipient =
        Harness::start_with(env("recipient").env("CORRESPONDENCE_RECIPIENT_ORGNO", OWN_ORGNO))
            .await;
    let spec = || {
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", OWN_ORGNO)
            .with_attachment("stor-1.bin", SIZE)
            .with_attachment("stor-2.bin", SIZE + 7)
    };
    let sent = sender.sim.add_correspondence(spec());
    let received = recipient.sim.add_correspondence(spec());
    recipient.sim.publish_correspondence(received.id);
    let before_kib = status_kib("VmHWM:");

    let started = std::time::Instant::now();
    let mut total = 0;
    for attachment in &sent.attachments {
        let event = sender
            .sim
            .attachment_event(attachment.id, "attachmentpublished");
        total += archived_bytes(&sender, &event).await;
    }
    let publish = recipient
        .sim
        .correspondence_event(received.id, "correspondencepublished");
    total += archived_bytes(&recipient, &publish).await;
    let elapsed = started.elapsed();
    let peak_kib = status_kib("VmHWM:");

    assert_eq!(total, 4 * SIZE + 14);
    println!(
        "archived {} MiB of attachments in {:.1} s; VmHWM before {before_kib} KiB, peak {peak_kib} KiB",
        total / MIB as u64,
        elapsed.as_secs_f64()
    );
    assert!(
        peak_kib < PEAK_LIMIT_KIB,
        "peak resident memory {peak_kib} KiB exceeds {PEAK_LIMIT_KIB} KiB"
    );
    // The bytes are the simulator's: S3 holds each attachment with its SHA-256.
    let layout = recipient.store().layout();
    for attachment in &received.attachments {
        let key = layout
            .correspondence_attachment(
                RESOURCE_ID,
                &received.id.to_string(),
                &attachment.id.to_string(),
                Some(&attachment.file_name),
            )
            .unwrap();
        let stored = recipient
            .store()
            .stored_object(&key)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(
            (stored.size, stored.sha256.as_str()),
            (attachment.size, attachment.sha256_hex.as_str())
        );
    }
    for attachment in &sent.attachments {
        let key = sender
            .store()
            .layout()
            .attachment_data(&attachment.id.to_string())
            .unwrap();
        let stored = sender
            .store()
            .stored_object(&key)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.sha256, attachment.sha256_hex);
    }
    assert_eq!(open_multipart_uploads(recipient.store()).await, 0);
}
