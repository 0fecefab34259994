//! `archive-local`: see `archive-local --help` and the crate documentation.

use std::process::ExitCode;

use clap::Parser;
use local_runner::cli::{Cli, Command};
use local_runner::demo::RunningDemo;
use local_runner::{Progress, run_altinn, run_demo};

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    // Help, --version and clap's own errors exit here (0, or 2 for bad arguments).
    let command = match Cli::parse().into_command() {
        Ok(command) => command,
        Err(message) => {
            eprintln!("archive-local: {message}\n\nSee `archive-local --help`.");
            return ExitCode::from(2);
        }
    };
    let progress = Progress::stdout();
    // Every local part (moto_server, simulator, webhook, pollers) belongs to the run's future:
    // when Ctrl-C wins the race, dropping that future stops them all.
    let run = async {
        match command {
            Command::Demo(options) => {
                let outcome = run_demo(&options, &progress).await?;
                Ok((outcome.succeeded(), outcome.running))
            }
            Command::Altinn(options) => {
                let environment = |name: &str| std::env::var(name).ok();
                let outcome = run_altinn(&options, &environment, &progress).await?;
                Ok::<(bool, Option<RunningDemo>), local_runner::RunError>((
                    outcome.succeeded(),
                    None,
                ))
            }
        }
    };
    let result = tokio::select! {
        result = run => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("archive-local: interrupted; stopped moto_server, the simulator and the webhook");
            return ExitCode::from(130);
        }
    };
    match result {
        Ok((succeeded, running)) => {
            if let Some(running) = running {
                running.print_endpoints(&progress);
                running
                    .run_until(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await;
                progress.step("stopping");
                running.shutdown().await;
            }
            if succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("archive-local: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The functions' own logs go to stderr: errors only by default (the progress lines tell the
/// story), `RUST_LOG` for more. Targets that could log request details stay at INFO at most.
fn init_logging() {
    let filter = match std::env::var("RUST_LOG") {
        Ok(level) if !level.trim().is_empty() => lambda_support::logging::filter_for(Some(&level)),
        _ => tracing_subscriber::EnvFilter::new("error"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
