//! A 256 MiB data element is archived while the process's peak resident memory (VmHWM) stays
//! under 100 MiB: bytes stream from Altinn to S3 through one part buffer per transfer.
//!
//! Its own test binary with one test, so no other test's allocations count. The in-process
//! simulator shares the process; it generates the element from a seed in O(1) memory.

mod common;

use altinn_sim::DataSpec;
use archiver::MessageOutcome;
use common::*;

const ELEMENT_SIZE: u64 = 256 * MIB as u64;
const PEAK_LIMIT_KIB: u64 = 100 * 1024;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_element_is_archived_in_flat_memory() {
    // The production defaults: 8 MiB parts, 4 transfers at once.
    let harness = Harness::start_with(
        Options::default()
            .env("PART_SIZE_MIB", 8)
            .env("ELEMENT_CONCURRENCY", 4),
    )
    .await;
    let instance = harness.seed(
        50_060_001,
        vec![
            DataSpec::xml_form(),
            DataSpec::pdf(),
            DataSpec::attachment("stor-video.mp4", ELEMENT_SIZE, 256).with_content_hash(),
        ],
    );
    let event = harness.completed_event(&instance);
    let before_kib = status_kib("VmHWM:");

    let started = std::time::Instant::now();
    let report = harness.run(vec![harness.message(&event, 1)]).await;
    let elapsed = started.elapsed();
    let peak_kib = status_kib("VmHWM:");

    let MessageOutcome::Archived(summary) = &report.outcomes[0].1 else {
        panic!("archived, got {:?}", report.outcomes)
    };
    assert!(summary.bytes_downloaded > ELEMENT_SIZE);
    println!(
        "archived {} MiB in {:.1} s; VmHWM before {} KiB, peak {} KiB ({:.1} MiB)",
        summary.bytes_downloaded / MIB as u64,
        elapsed.as_secs_f64(),
        before_kib,
        peak_kib,
        peak_kib as f64 / 1024.0
    );
    assert!(
        peak_kib < PEAK_LIMIT_KIB,
        "peak resident memory {peak_kib} KiB exceeds {PEAK_LIMIT_KIB} KiB while archiving 256 MiB"
    );
    // The archive is complete and correct (the big element by its digests and S3's own SHA-256).
    harness.verify_archive(&instance, &event_id(&event)).await;
    assert_eq!(harness.completes_of(&instance), 1);
}
