//! Item 1, cold start: a function binary started under a minimal Lambda Runtime API emulator.
//!
//! The emulator serves `GET /2018-06-01/runtime/invocation/next` on 127.0.0.1 and never answers
//! it: the time from spawning the process to that first request is the function's init (what
//! Lambda reports as Init Duration, minus the sandbox's own start), and the process's `VmHWM`,
//! read while it waits, is its peak RSS at init. Its minor page faults so far are read at the
//! same moment: on this machine they, more than instructions, set a start's length. Each binary is started `runs` times,
//! interleaved, and the median init is reported.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::{median, rss};

/// One binary's cold start.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    /// Median time from spawn to the first `next` request.
    pub median_init: Duration,
    /// The largest peak RSS seen at that moment, in KiB.
    pub peak_rss_kib: u64,
    /// Median minor page faults up to that moment.
    pub median_minor_faults: u64,
}

/// One start's figures.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    /// Time from spawn to the first `next` request.
    pub init: Duration,
    /// Peak RSS at that moment, in KiB.
    pub peak_rss_kib: u64,
    /// Minor page faults up to that moment.
    pub minor_faults: u64,
}

/// The Runtime API emulator: reports every `next` request and leaves it waiting.
pub struct RuntimeApi {
    addr: SocketAddr,
    nexts: mpsc::UnboundedReceiver<Instant>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves on a free port of 127.0.0.1.
    pub async fn start() -> Result<RuntimeApi, String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("binding the Runtime API emulator: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (tx, nexts) = mpsc::unbounded_channel();
        let router = axum::Router::new().route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get(move || {
                let _ = tx.send(Instant::now());
                // No invocation: the function stays parked in its first `next`.
                std::future::pending::<&'static str>()
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(RuntimeApi { addr, nexts, task })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Starts `binary` with `env` and measures its init; the process is killed afterwards.
    pub async fn measure_once(
        &mut self,
        binary: &Path,
        env: &[(&str, String)],
    ) -> Result<Start, String> {
        while self.nexts.try_recv().is_ok() {}
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", self.address())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let pid = child.id().unwrap_or_default();
        let arrived = tokio::select! {
            arrived = self.nexts.recv() => arrived,
            status = child.wait() => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = pipe.read_to_string(&mut stderr).await;
                }
                return Err(format!("{} exited before its first `next` ({status:?}): {stderr}", binary.display()));
            }
            () = tokio::time::sleep(Duration::from_secs(30)) => None,
        };
        let peak_rss_kib = rss::peak_kib_of(pid).unwrap_or(0);
        let minor_faults = rss::minor_faults_of(pid).unwrap_or(0);
        let _ = child.kill().await;
        match arrived {
            Some(at) => Ok(Start {
                init: at.duration_since(started),
                peak_rss_kib,
                minor_faults,
            }),
            None => Err(format!(
                "{} never asked for an invocation",
                binary.display()
            )),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The environment Lambda gives every function of `memory_mb` (its `MemorySize`), plus `extra`.
pub fn lambda_env(
    function: &str,
    memory_mb: u32,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".to_owned()),
        ("AWS_REGION", "eu-north-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

/// The webhook's environment: its deployed memory size and a complete configuration.
pub fn webhook_env() -> Vec<(&'static str, String)> {
    lambda_env(
        "webhook",
        crate::WEBHOOK_MEMORY_MB,
        &[
            (
                "WEBHOOK_SECRET",
                "bench-secret-0123456789abcdef0123456789abcdef",
            ),
            ("ALTINN_ENV", "tt02"),
            ("ALTINN_ORG", "ttd"),
            ("EVENT_TYPES", "app.instance.process.completed"),
            (
                "QUEUE_URL",
                "https://sqs.eu-north-1.amazonaws.com/123456789012/altinn-events",
            ),
        ],
    )
}

/// The archiver's environment: its default memory size and a complete configuration, with the
/// simulator's test key (so init parses the same key as in production).
pub fn archiver_env() -> Vec<(&'static str, String)> {
    lambda_env(
        "archiver",
        crate::ARCHIVER_MEMORY_MB,
        &[
            ("ARCHIVE_BUCKET", "bench-archive"),
            (
                "QUEUE_URL",
                "https://sqs.eu-north-1.amazonaws.com/123456789012/altinn-events",
            ),
            (
                "DEAD_LETTER_QUEUE_URL",
                "https://sqs.eu-north-1.amazonaws.com/123456789012/altinn-events-dlq",
            ),
            ("ALTINN_ENV", "tt02"),
            ("ALTINN_ORG", "ttd"),
            ("MASKINPORTEN_CLIENT_ID", "bench-client"),
            ("MASKINPORTEN_KID", "bench-kid"),
            ("MASKINPORTEN_KEY", altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM),
        ],
    )
}

/// What the archiver's Maskinporten key costs, measured in this process (warm, so a lower
/// bound on a cold process).
#[derive(Debug, Clone, Copy)]
pub struct KeyCosts {
    /// `MaskinportenKey::parse` of the archiver's test key: PEM, then aws-lc's load with
    /// `RSA_check_key` on a 2048-bit key. Paid once at init.
    pub parse: Duration,
}

/// The medians of [`KeyCosts`] over `samples` keys.
pub fn key_costs(samples: usize) -> Result<KeyCosts, String> {
    let text = altinn::Secret::new(altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM);
    let identity = altinn::auth::KeyIdentity::Kid("bench-kid".into());
    let mut parses = Vec::new();
    for _ in 0..samples.max(1) {
        let started = Instant::now();
        altinn::MaskinportenKey::parse(&text, Some(identity.clone()))
            .map_err(|e| format!("the test key does not parse: {e}"))?;
        parses.push(started.elapsed().as_secs_f64());
    }
    Ok(KeyCosts {
        parse: Duration::from_secs_f64(median(&parses).unwrap_or_default()),
    })
}

/// A function binary and the environment it starts with.
pub struct FunctionBinary<'a> {
    /// The executable.
    pub path: &'a Path,
    /// Its environment (see [`lambda_env`]); `AWS_LAMBDA_RUNTIME_API` is added.
    pub env: Vec<(&'static str, String)>,
}

/// Measures each binary `runs` times, interleaved, under one emulator.
pub async fn measure(
    binaries: &[FunctionBinary<'_>],
    runs: usize,
) -> Result<Vec<ColdStart>, String> {
    let mut api = RuntimeApi::start().await?;
    let mut inits: Vec<Vec<f64>> = vec![Vec::new(); binaries.len()];
    let mut peaks = vec![0u64; binaries.len()];
    let mut faults: Vec<Vec<f64>> = vec![Vec::new(); binaries.len()];
    // One unmeasured start each first, so the binaries are in the page cache for every run.
    for round in 0..=runs {
        for (index, binary) in binaries.iter().enumerate() {
            let start = api.measure_once(binary.path, &binary.env).await?;
            if round > 0 {
                inits[index].push(start.init.as_secs_f64());
                peaks[index] = peaks[index].max(start.peak_rss_kib);
                faults[index].push(start.minor_faults as f64);
            }
        }
    }
    Ok(inits
        .iter()
        .zip(peaks)
        .zip(&faults)
        .map(|((runs, peak), faults)| ColdStart {
            median_init: Duration::from_secs_f64(median(runs).unwrap_or_default()),
            peak_rss_kib: peak,
            median_minor_faults: median(faults).unwrap_or_default() as u64,
        })
        .collect())
}
