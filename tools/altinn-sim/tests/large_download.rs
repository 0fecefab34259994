//! A 1 GiB generated attachment streams through the simulator with the right bytes and without
//! the process's memory growing with the size. Alone in its test binary so no other test's
//! allocations disturb the peak-RSS measurement.

mod common;

use std::time::Instant;

use altinn_sim::{DataSpec, InstanceSpec};
use common::*;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

const GIB: u64 = 1024 * 1024 * 1024;
const MAX_GROWTH_KIB: u64 = 64 * 1024;

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_attachment_streams_with_bounded_memory() {
    let sim = start().await;
    let token = altinn_token(&sim, READ).await;
    let before = peak_rss_kib();

    let started = Instant::now();
    let instance = sim.add_instance(
        InstanceSpec::new("big-app", 77).with_data(DataSpec::attachment("one-gib.bin", GIB, 2024)),
    );
    let data = &instance.data[0];
    assert_eq!(data.size, GIB);
    let seeded_in = started.elapsed();

    let url = format!(
        "{}storage/api/v1/instances/{}/data/{}",
        sim.base_url(),
        instance.instance_id(),
        data.id
    );
    let response = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.content_length(), Some(GIB));
    let mut stream = response.bytes_stream();
    let mut sha = Sha256::new();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        received += chunk.len() as u64;
        sha.update(&chunk);
    }
    let hex = hex::encode(sha.finalize());
    assert_eq!(received, GIB);
    assert_eq!(
        hex, data.sha256_hex,
        "the streamed bytes are the seeded bytes"
    );

    let after = peak_rss_kib();
    let growth = after.saturating_sub(before);
    println!(
        "seeded in {seeded_in:?}, total {:?}, peak RSS {before} KiB -> {after} KiB (+{growth} KiB)",
        started.elapsed()
    );
    assert!(
        growth <= MAX_GROWTH_KIB,
        "peak RSS grew by {growth} KiB streaming 1 GiB"
    );
}
