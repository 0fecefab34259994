//! Items 3 and 4: archives from the Altinn simulator into S3.
//!
//! Each archive runs in a child process (`bench archive-child`, the real [`Archiver`] built from
//! the environment exactly as the Lambda's `main` builds it, handed one SQS message) so its peak
//! RSS (`VmHWM`) is that of an archiver alone. The child times only `handle_batch`; client
//! construction is the cold start, measured separately.
//!
//! The baseline is the same bytes copied by `aws s3 cp` from local files to the same S3 server.
//! Its time is the CLI's wall time, Python start-up included (as a user would see it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use altinn_sim::{DataSpec, InstanceSpec, SeededInstance, SimConfig, Simulator};
use archiver::{Archiver, ArchiverConfig, MessageOutcome};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use serde::{Deserialize, Serialize};
use testkit::MotoServer;

use crate::{rss, s3server};

const BUCKET: &str = "bench-archive";
const BASELINE_BUCKET: &str = "bench-baseline";
/// The environment variable that carries the event to the child.
const EVENT_VARIABLE: &str = "BENCH_EVENT";

/// What one archive run in a child process reports (one JSON line on its stdout).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ChildRun {
    /// Time spent in `handle_batch`.
    pub seconds: f64,
    /// Element bytes downloaded and stored.
    pub bytes: u64,
    /// Elements archived.
    pub elements: usize,
    /// The child's peak RSS (`VmHWM`) at the end, in KiB.
    pub peak_rss_kib: u64,
}

/// The child side: builds the archiver from the environment, archives the event in
/// `BENCH_EVENT` and reports.
pub async fn run_child() -> Result<ChildRun, String> {
    let event =
        std::env::var(EVENT_VARIABLE).map_err(|_| format!("{EVENT_VARIABLE} is not set"))?;
    let config = ArchiverConfig::from_env().map_err(|e| e.to_string())?;
    let sdk = lambda_support::aws::sdk_config()
        .await
        .map_err(|e| e.to_string())?;
    // The EMF lines are collected, so stdout carries only the report.
    let archiver = Archiver::from_config(&config, &sdk)
        .await
        .map_err(|e| e.to_string())?
        .with_metric_lines(Default::default());
    let mut message = SqsMessage::default();
    message.message_id = Some("bench-1".to_owned());
    message.body = Some(event);
    let mut batch = SqsEvent::default();
    batch.records = vec![message];
    let started = Instant::now();
    let report = archiver
        .handle_batch_with_report(&batch, SystemTime::now() + Duration::from_secs(900))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    match report.outcomes.first() {
        Some((_, MessageOutcome::Archived(summary))) => Ok(ChildRun {
            seconds,
            bytes: summary.bytes_downloaded,
            elements: summary.elements,
            peak_rss_kib: rss::own_peak_kib().unwrap_or(0),
        }),
        other => Err(format!("the archive did not succeed: {other:?}")),
    }
}

/// The simulator, the bucket and the queues the archive children use.
pub struct ArchiveRig<'a> {
    moto: &'a MotoServer,
    /// The S3 server's endpoint (moto's own, or s3s-fs).
    s3_endpoint: String,
    s3: aws_sdk_s3::Client,
    sim: Simulator,
    queue_url: String,
    dead_letter_queue_url: String,
    next_party: std::cell::Cell<u64>,
}

impl<'a> ArchiveRig<'a> {
    /// Starts the simulator and creates the buckets on the S3 server at `s3_endpoint` and the
    /// queues on `moto`.
    pub async fn start(
        moto: &'a MotoServer,
        s3_endpoint: String,
    ) -> Result<ArchiveRig<'a>, String> {
        let sim = Simulator::start(SimConfig::default())
            .await
            .map_err(|e| format!("starting the Altinn simulator: {e}"))?;
        let s3 = testkit::s3_client_for(&s3_endpoint).await;
        testkit::create_bucket_on(&s3, BUCKET).await?;
        testkit::create_bucket_on(&s3, BASELINE_BUCKET).await?;
        let queue_url = moto.create_queue("bench-archiver").await;
        let dead_letter_queue_url = moto.create_queue("bench-archiver-dlq").await;
        Ok(ArchiveRig {
            moto,
            s3_endpoint,
            s3,
            sim,
            queue_url,
            dead_letter_queue_url,
            next_party: std::cell::Cell::new(50_100_000),
        })
    }

    /// Seeds an instance with `count` generated attachments of `size` bytes each.
    pub fn seed(&self, count: usize, size: u64) -> SeededInstance {
        let party = self.next_party.get();
        self.next_party.set(party + 1);
        let mut spec = InstanceSpec::new("bench-app", party);
        for index in 0..count {
            spec = spec.with_data(DataSpec::attachment(
                &format!("vedlegg-{index}.bin"),
                size,
                party * 1000 + index as u64,
            ));
        }
        self.sim.add_instance(spec)
    }

    fn child_env(&self) -> HashMap<&'static str, String> {
        let base = self.sim.base_url().to_string();
        HashMap::from([
            ("ARCHIVE_BUCKET", BUCKET.to_owned()),
            ("QUEUE_URL", self.queue_url.clone()),
            ("DEAD_LETTER_QUEUE_URL", self.dead_letter_queue_url.clone()),
            ("ALTINN_ENV", "local".to_owned()),
            ("ALTINN_ORG", "ttd".to_owned()),
            ("ALTINN_PLATFORM_URL", base.clone()),
            ("ALTINN_APPS_URL", base),
            (
                "MASKINPORTEN_URL",
                self.sim.maskinporten_issuer().to_string(),
            ),
            ("MASKINPORTEN_CLIENT_ID", "sim-client".to_owned()),
            ("MASKINPORTEN_KID", "sim-kid".to_owned()),
            (
                "MASKINPORTEN_KEY",
                altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM.to_owned(),
            ),
            ("AWS_ENDPOINT_URL", self.moto.endpoint()),
            ("AWS_ENDPOINT_URL_S3", self.s3_endpoint.clone()),
            ("AWS_REGION", testkit::REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", s3server::ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", s3server::ACCESS_KEY.to_owned()),
            ("RUST_LOG", "error".to_owned()),
            (
                lambda_support::runtime::MEMORY_SIZE_VARIABLE,
                crate::ARCHIVER_MEMORY_MB.to_string(),
            ),
        ])
    }

    /// Archives `instance` in a child process (`exe archive-child`).
    pub async fn archive_in_child(
        &self,
        exe: &Path,
        instance: &SeededInstance,
    ) -> Result<ChildRun, String> {
        let event = self
            .sim
            .cloud_event(instance, "app.instance.process.completed")
            .to_string();
        let output = tokio::process::Command::new(exe)
            .arg("archive-child")
            .env_clear()
            .envs(self.child_env())
            .env(EVENT_VARIABLE, event)
            .output()
            .await
            .map_err(|e| format!("starting {}: {e}", exe.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        if !output.status.success() {
            return Err(format!(
                "the archive child failed ({}): {}{}",
                output.status,
                last,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        serde_json::from_str(last).map_err(|e| format!("the child's report {last:?}: {e}"))
    }
}

/// A temporary folder removed on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh folder under the system's temporary directory.
    pub fn new(name: &str) -> Result<ScratchDir, String> {
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ScratchDir(path))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `size` pseudo-random bytes to `path`, 8 MiB at a time.
pub fn write_random_file(path: &Path, size: u64, seed: u64) -> Result<(), String> {
    use std::io::Write;
    let mut rng = fastrand::Rng::with_seed(seed);
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let mut chunk = vec![0u8; 8 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        rng.fill(&mut chunk[..n]);
        writer
            .write_all(&chunk[..n])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        left -= n as u64;
    }
    writer
        .flush()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `aws s3 cp` (with `--recursive` for a folder) of `source` to `s3://bench-baseline/{key}` on
/// the rig's S3 server; the wall time in seconds.
pub async fn aws_s3_cp(
    aws: &Path,
    rig: &ArchiveRig<'_>,
    source: &Path,
    key: &str,
) -> Result<f64, String> {
    let mut command = tokio::process::Command::new(aws);
    command
        .args(["s3", "cp", "--only-show-errors", "--endpoint-url"])
        .arg(&rig.s3_endpoint)
        .arg(source)
        .arg(format!("s3://{BASELINE_BUCKET}/{key}"))
        .env("AWS_ACCESS_KEY_ID", s3server::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", s3server::ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", testkit::REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    if source.is_dir() {
        command.arg("--recursive");
    }
    let started = Instant::now();
    let output = command.output().await.map_err(|e| {
        format!(
            "starting {}: {e} (make bench installs awscli)",
            aws.display()
        )
    })?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "aws s3 cp failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(seconds)
}

/// How the marginal cost per element grows: the cost of each element added from 10 to 100
/// divided by that of each added from 1 to 10. About 1 when archive time is linear in the
/// element count, about 10 or more when it is quadratic.
pub fn marginal_growth(t1: f64, t10: f64, t100: f64) -> Option<f64> {
    let early = (t10 - t1) / 9.0;
    let late = (t100 - t10) / 90.0;
    (early > 0.0).then(|| late / early)
}

/// The archiver's seal step on the baseline's copy of the same bytes: an in-place `CopyObject`
/// with `MetadataDirective=REPLACE` and `ChecksumAlgorithm=SHA256`, which makes the server
/// read the whole object again and compute its SHA-256. Returns the seconds it took. Printed
/// beside the archive time because for a big element it is a server-side cost the archiver
/// pays after the last byte is uploaded, and `aws s3 cp` does not.
pub async fn seal_cost(rig: &ArchiveRig<'_>, key: &str) -> Result<f64, String> {
    let s3 = &rig.s3;
    let started = Instant::now();
    s3.copy_object()
        .bucket(BASELINE_BUCKET)
        .key(key)
        .copy_source(format!("{BASELINE_BUCKET}/{key}"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .metadata("sha256", "measured-by-bench")
        .send()
        .await
        .map_err(|e| format!("CopyObject: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
    Ok(started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marginal_growth_tells_linear_from_quadratic() {
        let linear = |n: f64| 0.05 + 0.002 * n;
        let quadratic = |n: f64| 0.05 + 0.002 * n + 0.0001 * n * n;
        let l = marginal_growth(linear(1.0), linear(10.0), linear(100.0)).unwrap();
        let q = marginal_growth(quadratic(1.0), quadratic(10.0), quadratic(100.0)).unwrap();
        assert!((l - 1.0).abs() < 1e-9, "{l}");
        assert!(q > 3.0, "{q}");
        assert_eq!(marginal_growth(1.0, 0.5, 2.0), None);
    }

    #[test]
    fn child_reports_round_trip_as_json() {
        let run = ChildRun {
            seconds: 1.5,
            bytes: 1 << 30,
            elements: 1,
            peak_rss_kib: 30_000,
        };
        let text = serde_json::to_string(&run).unwrap();
        assert_eq!(serde_json::from_str::<ChildRun>(&text).unwrap(), run);
    }

    #[test]
    fn random_files_have_the_requested_size() {
        let dir = ScratchDir::new("bench-unit").unwrap();
        let path = dir.path().join("f.bin");
        write_random_file(&path, (8 << 20) + 5, 1).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (8 << 20) + 5);
    }
}
