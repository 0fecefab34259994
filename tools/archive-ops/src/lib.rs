//! # archive-ops
//!
//! The operator CLI of the Altinn archive, for the tasks people would otherwise script by hand:
//!
//! - `reconcile --app org/app [--dry-run]`: the reconciler's Storage query on demand, printing
//!   every completed instance that is not archived (and enqueueing it unless `--dry-run`).
//! - `dlq list | show ID | redrive (--all | --id ID…)`: the dead-letter queue with each
//!   message's failure reason, and moving messages back to the event queue.
//! - `subscription create | list | get ID | delete ID | wait-validated ID`: the Altinn Events
//!   subscriptions that feed the webhook, with the webhook secret taken from the environment
//!   or Secrets Manager and redacted from everything printed.
//! - `subscription rotate --old-id ID --endpoint URL`: a new webhook secret and a new
//!   subscription, then the old ones retired, step by step (see [`rotate`]).
//! - `archive verify ORG/APP/PARTY_ID/GUID…`: re-reads every object each instance's
//!   `manifest.json` lists and compares its size and SHA-256 with the manifest.
//!
//! - `quarantine list | release ID`: instances held because Altinn's malware scan found an
//!   element `Infected` (`INFECTED_POLICY=hold`), and a person's release of them ([`quarantine`]).
//!
//! - `completions SHELL`: a completion script for bash, zsh, fish, elvish or PowerShell.
//!
//! The command line is declared in [`cli`] (clap). Output is a table by default and JSON with
//! `--json`. Progress bars go to stderr when it is a terminal and `--json` is not given
//! ([`progress`]).
//!
//! Exit codes: [`EXIT_OK`] 0 success and nothing missing; [`EXIT_FAILURE`] 1 a failure, or
//! something found that needs attention (missing instances, archived objects that differ);
//! [`EXIT_USAGE`] 2 a usage error.
//!
//! Settings come from the same environment variables as the functions (`ALTINN_*`,
//! `MASKINPORTEN_*`, `ARCHIVE_BUCKET`, `ARCHIVE_PREFIX`, `QUEUE_URL`, `DEAD_LETTER_QUEUE_URL`)
//! and the usual AWS ones (`AWS_PROFILE`, `AWS_REGION`, …); the flags override the queue and
//! bucket settings. Secrets (the Maskinporten key, tokens, the webhook secret) are never
//! printed.

pub mod cli;
pub mod dlq;
pub mod progress;
pub mod quarantine;
pub mod reconcile;
pub mod rotate;
pub mod subscription;
pub mod table;
pub mod verify;

use std::io::Write;

use aws_config::SdkConfig;
use clap::{CommandFactory, FromArgMatches};

pub use cli::{Cli, Command};

/// Success, nothing needs attention.
pub const EXIT_OK: i32 = 0;
/// A command failed, or it found something that needs attention.
pub const EXIT_FAILURE: i32 = 1;
/// The command line is wrong.
pub const EXIT_USAGE: i32 = 2;

/// Looks up a setting by variable name (the process environment, or a map in tests).
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a command needs from its surroundings; tests build one around moto and the simulator.
pub struct Context {
    /// The AWS SDK configuration (credentials, region, endpoint overrides).
    pub sdk: SdkConfig,
    /// Environment lookup for the settings.
    pub env: EnvLookup,
    /// Draw progress bars on stderr (on when stderr is a terminal; `--json` turns them off).
    pub progress: bool,
}

impl Context {
    /// A setting: the flag's value if given, else the environment variable (trimmed, and
    /// absent when empty).
    pub fn setting(&self, flag: Option<&str>, variable: &str) -> Option<String> {
        match flag {
            Some(value) => Some(value.to_owned()),
            None => (self.env)(variable)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        }
    }

    /// A required setting, or a usage error naming the flag and the variable.
    pub fn required(
        &self,
        flag: Option<&str>,
        name: &str,
        variable: &str,
    ) -> Result<String, UsageError> {
        self.setting(flag, variable)
            .ok_or_else(|| UsageError(format!("set --{name} or {variable}")))
    }
}

/// A usage error found after parsing (a value clap cannot check alone); printed with a pointer
/// to `--help`, exit 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A command's failure: usage (exit 2) or anything else (exit 1). Never carries secrets.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command line is wrong.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The command could not do its work.
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    /// Any displayable failure.
    pub fn failed(error: impl std::fmt::Display) -> Self {
        CommandError::Failed(error.to_string())
    }
}

/// Runs one command line (without the program name); returns the exit code. Results go to
/// `out`, errors and progress to `err`; `--help` and `--version` go to `out` with exit 0.
pub async fn run(
    raw: &[String],
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let words = std::iter::once("archive-ops".to_owned()).chain(raw.iter().cloned());
    let cli = match Cli::command()
        .try_get_matches_from(words)
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(error) => return clap_error(&error, out, err),
    };
    let json = cli.json;
    let result = match cli.command {
        Command::Reconcile(args) => reconcile::command(&args, json, context, out, err).await,
        Command::Dlq(command) => dlq::command(&command, json, context, out, err).await,
        Command::Subscription(args) => {
            let identity = subscription::Identity::of(args.as_organisation);
            subscription::command(&args.command, identity, json, context, out, err).await
        }
        Command::Archive(command) => verify::command(&command, json, context, out, err).await,
        Command::Quarantine(command) => {
            quarantine::command(&command, json, context, out, err).await
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "archive-ops", out);
            Ok(EXIT_OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(CommandError::Usage(error)) => {
            let _ = writeln!(err, "error: {error}\n(see archive-ops --help)");
            EXIT_USAGE
        }
        Err(CommandError::Failed(message)) => {
            let _ = writeln!(err, "error: {message}");
            EXIT_FAILURE
        }
    }
}

/// Help and version asked for go to `out` (exit 0); every other parse error, including the
/// help shown for a missing command, to `err` (exit 2).
fn clap_error(error: &clap::Error, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let text = error.render().to_string();
    match error.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            let _ = out.write_all(text.as_bytes());
            EXIT_OK
        }
        _ => {
            let _ = err.write_all(text.as_bytes());
            EXIT_USAGE
        }
    }
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(value).map_err(CommandError::failed)?;
    writeln!(out, "{text}").map_err(CommandError::failed)
}
