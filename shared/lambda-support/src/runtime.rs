//! The tokio runtime a function runs on, sized to the CPU Lambda gives it.
//!
//! Lambda hands out CPU in proportion to memory: one vCPU-second per second at 1,769 MB, a
//! fraction of one below that, yet the sandbox shows two or more CPUs at every size. Tokio's
//! default (`#[tokio::main]`) starts a worker thread per visible CPU, so a 128 MB webhook would
//! start two workers to share 7 % of one vCPU, and every request would hop between the thread
//! running the handler and the one driving the HTTP connection. Starting those threads is a
//! measurable part of a cold start (`make bench`: the hello-world function starts in 1.4 ms on
//! the worker pool and 1.1 ms on one thread). Up to one vCPU's worth of memory, a single thread
//! does the same work, all of it I/O-bound here; above it, the worker pool can use the extra
//! CPU, so we keep it.

use std::process::ExitCode;

use tokio::runtime::{Builder, Runtime};

use crate::settings::{Lookup, process_env};

/// The variable in which Lambda passes the function's memory size, in MB.
pub const MEMORY_SIZE_VARIABLE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

/// The memory size at which Lambda gives a function one full vCPU (AWS Lambda Developer Guide,
/// "Configuring function memory").
pub const ONE_VCPU_MEMORY_MB: u64 = 1769;

/// Which tokio scheduler a function runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// One thread runs every task: at most one vCPU to use.
    CurrentThread,
    /// Tokio's worker pool, one worker per visible CPU: more than one vCPU, or not on Lambda.
    MultiThread,
}

/// The flavor for the memory size in `lookup`. Outside Lambda (the variable unset or not a
/// number: the local runner, tests) the worker pool is kept, since the machine's CPUs are real.
pub fn flavor_for(lookup: &impl Lookup) -> Flavor {
    let memory_mb = lookup(MEMORY_SIZE_VARIABLE).and_then(|value| value.trim().parse::<u64>().ok());
    match memory_mb {
        Some(memory_mb) if memory_mb <= ONE_VCPU_MEMORY_MB => Flavor::CurrentThread,
        _ => Flavor::MultiThread,
    }
}

/// Builds the runtime for `flavor`, with timers and I/O enabled.
pub fn build(flavor: Flavor) -> std::io::Result<Runtime> {
    let mut builder = match flavor {
        Flavor::CurrentThread => Builder::new_current_thread(),
        Flavor::MultiThread => Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// The runtime for this process's memory size: what each function's `main` blocks on.
pub fn for_this_process() -> std::io::Result<Runtime> {
    build(flavor_for(&process_env))
}

/// Runs `serve` (a function's whole life) on [`for_this_process`]; a runtime that cannot start
/// is logged and fails the process.
pub fn run(serve: impl Future<Output = ExitCode>) -> ExitCode {
    match for_this_process() {
        Ok(runtime) => runtime.block_on(serve),
        Err(error) => {
            tracing::error!(error = %error, "the async runtime could not start");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(value: Option<&'static str>) -> impl Lookup {
        move |name: &str| {
            assert_eq!(name, MEMORY_SIZE_VARIABLE);
            value.map(str::to_owned)
        }
    }

    #[test]
    fn up_to_one_vcpu_runs_on_one_thread() {
        for size in ["128", "512", "1769", " 1024 "] {
            assert_eq!(
                flavor_for(&memory(Some(size))),
                Flavor::CurrentThread,
                "{size}"
            );
        }
    }

    #[test]
    fn more_than_one_vcpu_keeps_the_worker_pool() {
        for size in ["1770", "3008", "10240"] {
            assert_eq!(
                flavor_for(&memory(Some(size))),
                Flavor::MultiThread,
                "{size}"
            );
        }
    }

    #[test]
    fn outside_lambda_keeps_the_worker_pool() {
        assert_eq!(flavor_for(&memory(None)), Flavor::MultiThread);
        assert_eq!(flavor_for(&memory(Some("lots"))), Flavor::MultiThread);
    }

    #[test]
    fn each_flavor_builds_a_runtime_that_runs_timers() {
        for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
            let runtime = build(flavor).expect("runtime");
            let slept = runtime.block_on(async {
                let started = std::time::Instant::now();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                started.elapsed()
            });
            assert!(slept >= std::time::Duration::from_millis(5), "{flavor:?}");
        }
    }
}
