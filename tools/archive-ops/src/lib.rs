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
//! - `archive verify ORG/APP/PARTY_ID/GUID`: re-reads every object an instance's
//!   `manifest.json` lists and compares its size and SHA-256 with the manifest.
//!
//! Output is a table by default and JSON with `--json`. Progress goes to stderr.
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

pub mod args;
pub mod dlq;
pub mod reconcile;
pub mod rotate;
pub mod subscription;
pub mod table;
pub mod verify;

use std::io::Write;

use aws_config::SdkConfig;

pub use args::{Args, UsageError};

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
    /// Print progress lines to stderr (on when stderr is a terminal).
    pub progress: bool,
}

impl Context {
    /// A setting: the flag's value if given, else the environment variable.
    pub fn setting(
        &self,
        args: &Args,
        flag: &str,
        variable: &str,
    ) -> Result<Option<String>, UsageError> {
        Ok(match args.value(flag)? {
            Some(value) => Some(value.to_owned()),
            None => (self.env)(variable)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        })
    }

    /// A required setting, or a usage error naming the flag and the variable.
    pub fn required(&self, args: &Args, flag: &str, variable: &str) -> Result<String, UsageError> {
        self.setting(args, flag, variable)?
            .ok_or_else(|| UsageError(format!("set --{flag} or {variable}")))
    }
}

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

/// Prints a command's help. Exit 0 when the user asked for it (`--help`), 2 when it is shown
/// because the subcommand was missing.
pub(crate) fn print_help(
    out: &mut dyn std::io::Write,
    help: &str,
    asked: bool,
) -> Result<i32, CommandError> {
    out.write_all(help.as_bytes())
        .map_err(CommandError::failed)?;
    Ok(if asked { EXIT_OK } else { EXIT_USAGE })
}

/// The top-level help.
pub const HELP: &str = "\
archive-ops: operate the Altinn archive (reconcile, dead letters, subscriptions, verify)

USAGE:
    archive-ops [--json] <COMMAND> [OPTIONS]

COMMANDS:
    reconcile --app ORG/APP [--dry-run]   find completed instances that are not archived
    dlq list [--max N]                    list dead-lettered messages with their failure reason
    dlq show MESSAGE_ID                   one dead-lettered message, body and attributes
    dlq redrive (--all | --id ID...)      move messages back to the event queue
    subscription create --endpoint URL --app ORG/APP [--wait]
                                          subscribe the webhook to Altinn Events
    subscription list | get ID | delete ID
                                          the subscriptions (secret redacted)
    subscription wait-validated ID [--timeout 120s]
                                          wait until Altinn has validated one
    subscription rotate --old-id ID --endpoint URL [--refresh-wait 5m] [--timeout 10m]
                                          new webhook secret and subscription, old ones retired
    archive verify ORG/APP/PARTY_ID/GUID  check an archived instance against its manifest

OPTIONS:
    --json        machine-readable output on stdout
    -h, --help    help (also after a command: archive-ops dlq --help)

EXIT CODES:
    0  success, nothing needs attention
    1  failure, or something needs attention (e.g. instances missing from the archive,
       archived objects that differ from their manifest)
    2  usage error

SETTINGS (environment, as for the functions):
    ALTINN_ENV, ALTINN_ORG, MASKINPORTEN_CLIENT_ID, MASKINPORTEN_KID,
    MASKINPORTEN_KEY or MASKINPORTEN_KEY_SECRET_ARN, ARCHIVE_BUCKET, ARCHIVE_PREFIX,
    QUEUE_URL, DEAD_LETTER_QUEUE_URL, WEBHOOK_SECRET or WEBHOOK_SECRET_ARN;
    AWS credentials and region as for the AWS CLI.
";

/// Runs one command line (without the program name); returns the exit code. Results go to
/// `out`, errors and progress to `err`.
pub async fn run(
    raw: &[String],
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let args = match Args::parse(raw) {
        Ok(args) => args,
        Err(error) => return usage(err, &error),
    };
    let command: Vec<&str> = args.positionals.iter().map(String::as_str).collect();
    let result = match command.as_slice() {
        [] => {
            let _ = out.write_all(HELP.as_bytes());
            return if args.has("help") {
                EXIT_OK
            } else {
                EXIT_USAGE
            };
        }
        ["reconcile", rest @ ..] => reconcile::command(rest, &args, context, out, err).await,
        ["dlq", rest @ ..] => dlq::command(rest, &args, context, out, err).await,
        ["subscription", rest @ ..] => subscription::command(rest, &args, context, out, err).await,
        ["archive", rest @ ..] => verify::command(rest, &args, context, out, err).await,
        [other, ..] => Err(CommandError::Usage(UsageError(format!(
            "unknown command {other}"
        )))),
    };
    match result {
        Ok(code) => code,
        Err(CommandError::Usage(error)) => usage(err, &error),
        Err(CommandError::Failed(message)) => {
            let _ = writeln!(err, "error: {message}");
            EXIT_FAILURE
        }
    }
}

fn usage(err: &mut dyn Write, error: &UsageError) -> i32 {
    let _ = writeln!(err, "error: {error}\n(see archive-ops --help)");
    EXIT_USAGE
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CommandError> {
    let text = serde_json::to_string_pretty(value).map_err(CommandError::failed)?;
    writeln!(out, "{text}").map_err(CommandError::failed)
}
