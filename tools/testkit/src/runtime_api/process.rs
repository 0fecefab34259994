//! A function binary started under a [`RuntimeApi`] with a Lambda-like environment: its output
//! captured line by line, its invocations driven through the emulator, and checks of how it
//! runs (its runtime flavour, that it waits for more work).

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_support::runtime::Flavor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Outcome, RuntimeApi};

/// The environment Lambda gives a function named `function` with `memory_mb` of memory
/// (its `MemorySize`): what `lambda_runtime` requires, the region, static test credentials
/// (the SDK takes them from the environment, as it does Lambda's role credentials), and
/// `RUST_LOG=info`. [`FunctionProcess::spawn`] adds `AWS_LAMBDA_RUNTIME_API`.
pub fn lambda_environment(function: &str, memory_mb: u32) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]testkit".to_owned(),
        ),
        ("AWS_REGION", crate::REGION.to_owned()),
        ("AWS_DEFAULT_REGION", crate::REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// What a child wrote, line by line.
#[derive(Default)]
struct Output {
    lines: Mutex<Captured>,
    changed: Notify,
}

#[derive(Default)]
struct Captured {
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// A function binary running under a [`RuntimeApi`], killed when dropped.
///
/// Its stdout and stderr are read continuously (a full pipe would stall the function) and kept
/// for assertions and for failure messages. The functions never log secrets, so their output
/// may be shown when a test fails.
pub struct FunctionProcess {
    program: String,
    child: tokio::process::Child,
    output: Arc<Output>,
    readers: Vec<JoinHandle<()>>,
}

impl FunctionProcess {
    /// Starts `program` with **only** `env` in its environment (plus `AWS_LAMBDA_RUNTIME_API`
    /// pointing at `api`), as Lambda starts a function: nothing leaks in from the test's own
    /// environment.
    ///
    /// # Panics
    /// When the program cannot be started.
    pub fn spawn<K, V>(
        program: impl AsRef<Path>,
        env: impl IntoIterator<Item = (K, V)>,
        api: &RuntimeApi,
    ) -> FunctionProcess
    where
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        let program = program.as_ref();
        let mut child = tokio::process::Command::new(program)
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
        let output = Arc::new(Output::default());
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            tokio::spawn(read_lines(stdout, Arc::clone(&output), false)),
            tokio::spawn(read_lines(stderr, Arc::clone(&output), true)),
        ];
        FunctionProcess {
            program: program.display().to_string(),
            child,
            output,
            readers,
        }
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// How many threads the process has now (`Threads:` of `/proc/{pid}/status`; Linux only).
    pub fn thread_count(&self) -> Option<usize> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.id()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|count| count.trim().parse().ok())
    }

    /// Checks from outside that the process runs the tokio runtime `flavor`: a current-thread
    /// runtime runs on the main thread alone, Tokio's worker pool adds at least one worker
    /// thread to it. Call it while the function waits for an invocation (after
    /// [`RuntimeApi::next_requested`]).
    ///
    /// # Panics
    /// When the thread count says otherwise, or cannot be read.
    pub fn assert_runtime_flavor(&self, flavor: Flavor) {
        let threads = self
            .thread_count()
            .unwrap_or_else(|| panic!("no thread count for {} (exited?)", self.program));
        match flavor {
            Flavor::CurrentThread => assert_eq!(
                threads, 1,
                "{} should run on its main thread alone (current-thread runtime)",
                self.program
            ),
            Flavor::MultiThread => assert!(
                threads >= 2,
                "{} should have Tokio's worker threads besides its main thread, has {threads} thread(s)",
                self.program
            ),
        }
    }

    /// After `invocations` invocations: the function asked `api` for the next one within
    /// `timeout`, reported no init error, and runs on the runtime `flavor` (what `main` chose for
    /// its memory size, seen from outside the process).
    ///
    /// # Panics
    /// When any of the three does not hold.
    pub async fn assert_waiting_for_more(
        &self,
        api: &RuntimeApi,
        invocations: usize,
        flavor: Flavor,
        timeout: Duration,
    ) {
        tokio::time::timeout(timeout, api.next_requested(invocations + 1))
            .await
            .unwrap_or_else(|_| panic!("{} never asked for the next invocation", self.program));
        assert!(api.init_errors().is_empty(), "{:?}", api.init_errors());
        self.assert_runtime_flavor(flavor);
    }

    /// Queues `payload` on `api` and waits for the function's outcome.
    ///
    /// # Panics
    /// When the function exits, or reports no outcome within `timeout`: a hung or crashed
    /// binary fails the test (with its stderr) instead of hanging it.
    pub async fn invoke(&mut self, api: &RuntimeApi, payload: Value, timeout: Duration) -> Outcome {
        let request_id = api.queue(payload);
        tokio::select! {
            outcome = api.outcome(&request_id) => outcome,
            status = self.child.wait() => {
                self.wait_for_output_end().await;
                panic!(
                    "{} exited ({status:?}) before answering invocation {request_id}; \
                     init errors: {:?}\n{}",
                    self.program,
                    api.init_errors(),
                    self.output_tail()
                );
            }
            () = tokio::time::sleep(timeout) => panic!(
                "{} did not answer invocation {request_id} within {timeout:?}\n{}",
                self.program,
                self.output_tail()
            ),
        }
    }

    /// Waits until a line of the function's stdout satisfies `matches` and returns it.
    ///
    /// # Panics
    /// When no such line arrives within `timeout`.
    pub async fn stdout_line(
        &self,
        mut matches: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> String {
        let wait = async {
            loop {
                let notified = self.output.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let found = self
                    .output
                    .lines
                    .lock()
                    .expect("output")
                    .stdout
                    .iter()
                    .find(|line| matches(line))
                    .cloned();
                if let Some(line) = found {
                    return line;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(line) => line,
            Err(_) => panic!(
                "{} wrote no matching stdout line within {timeout:?}\n{}",
                self.program,
                self.output_tail()
            ),
        }
    }

    /// Everything on stdout so far.
    pub fn stdout(&self) -> String {
        self.output.lines.lock().expect("output").stdout.join("\n")
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.output.lines.lock().expect("output").stderr.join("\n")
    }

    /// The last lines of stdout and stderr, for a failure message. The functions log to
    /// stdout (as on Lambda, which collects both), so both are shown.
    fn output_tail(&self) -> String {
        const LINES: usize = 40;
        let captured = self.output.lines.lock().expect("output");
        let tail = |lines: &[String]| lines[lines.len().saturating_sub(LINES)..].join("\n");
        format!(
            "stdout (last {LINES} lines):\n{}\nstderr (last {LINES} lines):\n{}",
            tail(&captured.stdout),
            tail(&captured.stderr)
        )
    }

    /// After the process ended: lets the readers take in the rest of its output (bounded).
    async fn wait_for_output_end(&mut self) {
        for reader in &mut self.readers {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        // kill_on_drop kills the child; the readers end at end of file.
        let _ = self.child.start_kill();
    }
}

async fn read_lines(pipe: impl AsyncRead + Unpin, output: Arc<Output>, is_stderr: bool) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut captured = output.lines.lock().expect("output");
            if is_stderr {
                captured.stderr.push(line);
            } else {
                captured.stdout.push(line);
            }
        }
        output.changed.notify_waiters();
    }
}
