//! A 40 MiB Correspondence attachment streams to the recipient and (before publishing) to the
//! sender with the right bytes, and without the process's memory growing with the size. Alone
//! in its test binary so no other test's allocations disturb the peak-RSS measurement.

mod common;
mod correspondence_common;

use altinn_sim::CorrespondenceSpec;
use common::*;
use correspondence_common::*;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};
use sha2::Sha256;

const SIZE: u64 = 40 * 1024 * 1024;
const MAX_GROWTH_KIB: u64 = 24 * 1024;

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

/// Downloads `path` chunk by chunk: `(bytes, md5 hex, sha256 hex)`.
async fn stream(sim: &altinn_sim::Simulator, token: &str, path: &str) -> (u64, String, String) {
    let response = http()
        .get(url(sim, path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.content_length(), Some(SIZE));
    let mut body = response.bytes_stream();
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        received += chunk.len() as u64;
        md5.update(&chunk);
        sha.update(&chunk);
    }
    (
        received,
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_mib_attachment_streams_to_both_roles_with_bounded_memory() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let before = peak_rss_kib();
    let c = sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", OWN_ORGNO).with_attachment("stor.bin", SIZE),
    );
    let a = &c.attachments[0];
    assert_eq!(a.size, SIZE);

    let sender = stream(&sim, &t.sender, &format!("attachment/{}/download", a.id)).await;
    assert_eq!(sender, (SIZE, a.md5_hex.clone(), a.sha256_hex.clone()));

    sim.publish_correspondence(c.id);
    let path = format!("correspondence/{}/attachment/{}/download", c.id, a.id);
    let recipient = stream(&sim, &t.recipient, &path).await;
    assert_eq!(recipient, (SIZE, a.md5_hex.clone(), a.sha256_hex.clone()));

    let growth = peak_rss_kib().saturating_sub(before);
    println!("peak RSS grew by {growth} KiB for two 40 MiB downloads");
    assert!(growth <= MAX_GROWTH_KIB, "peak RSS grew by {growth} KiB");
}
