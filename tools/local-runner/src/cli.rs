//! The command line: `archive-local demo …` and `archive-local altinn …`.

use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

use crate::altinn_mode::{AltinnOptions, ArchiveTarget};
use crate::demo::DemoOptions;

/// The `--help` text.
pub const HELP: &str = "\
archive-local: run the Altinn archive (the real webhook and archiver code) on this machine.

USAGE
  archive-local demo [--large-attachment-mib N] [--output DIR] [--keep-running] [--timeout-secs N]
  archive-local altinn --app ORG/APP [--instance PARTY_ID/GUID] [--limit N]
                       [--output DIR | --bucket NAME] [--yes] [--allow-prod] [--timeout-secs N]

demo
  Everything local, no AWS account and no Altinn credentials: starts moto_server (S3 and SQS),
  the Altinn simulator with demo instances (one with a large attachment, one with a
  hard-deleted element), serves the webhook on a loopback port, subscribes to events through
  the simulator's Events API, lets it publish, and runs the archiver from the queue the way
  Lambda's event source mapping does. Ends with a summary; exits 1 if anything failed.
    --large-attachment-mib N   size of the large attachment (default 50)
    --output DIR               copy the archive to DIR/run-<time>/ (default ./demo-output)
    --keep-running             leave everything running after the summary, until Ctrl-C
    --timeout-secs N           give up waiting for the archive after N s (default 300)

altinn
  Your own app in a real Altinn test environment, before deploying anything. Reads ALTINN_ENV
  (e.g. tt02), MASKINPORTEN_CLIENT_ID, MASKINPORTEN_KID and MASKINPORTEN_KEY (or
  MASKINPORTEN_KEY_FILE, or MASKINPORTEN_KEY_SECRET_ARN) from the environment; ALTINN_ORG
  defaults to the org of --app. Finds the app's completed instances your org has not confirmed
  yet (or takes --instance), sends the event Altinn would push for each through the webhook
  into a local queue, and runs the archiver.
    --app ORG/APP              the app, e.g. ttd/my-app (required)
    --instance PARTY_ID/GUID   just this instance
    --limit N                  at most N instances from the query (default 10)
    --output DIR               archive into a local bucket, copied to DIR (default ./archive-output)
    --bucket NAME              archive into your own S3 bucket (your AWS credentials and region)
    --yes                      go ahead; without it the instances are only listed
    --allow-prod               allow ALTINN_ENV=prod (refused otherwise)
    --timeout-secs N           give up waiting after N s (default 600)

  !! The archiver calls `complete` in Altinn for every instance it archives. In tt02 that
  !! marks the instance as received by your org: it drops out of \"not yet confirmed\" queries,
  !! and your own archive (or the Altinn reference system) will not pick it up again.
  !! Nothing is archived or completed without --yes.

Progress goes to stdout; RUST_LOG=info shows the functions' own logs on stderr, and
RUST_LOG=debug also prints the archiver's EMF metric lines in the summary (else only their count).
Exit status: 0 success (or a dry run), 1 the run failed, 2 bad arguments, 130 Ctrl-C.
";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `demo`.
    Demo(DemoOptions),
    /// `altinn`.
    Altinn(AltinnOptions),
    /// `--help`, `-h`, `help`, or nothing at all.
    Help,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Command::Help);
    };
    let flags = split_flags(args)?;
    if flags
        .iter()
        .any(|(name, _)| name == "--help" || name == "-h")
    {
        return Ok(Command::Help);
    }
    match command.as_str() {
        "demo" => parse_demo(flags).map(Command::Demo),
        "altinn" => parse_altinn(flags).map(Command::Altinn),
        "help" | "--help" | "-h" => Ok(Command::Help),
        other => Err(format!("unknown command {other:?}: use `demo` or `altinn`")),
    }
}

/// Flags that take no value.
const SWITCHES: &[&str] = &["--keep-running", "--yes", "--allow-prod", "--help", "-h"];

/// `[(flag, value)]` from `--flag value`, `--flag=value` and switches.
fn split_flags(
    args: impl Iterator<Item = String>,
) -> Result<Vec<(String, Option<String>)>, String> {
    let mut args = args.peekable();
    let mut flags = Vec::new();
    while let Some(arg) = args.next() {
        if !arg.starts_with('-') {
            return Err(format!("unexpected argument {arg:?}"));
        }
        if let Some((name, value)) = arg.split_once('=') {
            flags.push((name.to_owned(), Some(value.to_owned())));
        } else if SWITCHES.contains(&arg.as_str()) {
            flags.push((arg, None));
        } else {
            let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
            flags.push((arg, Some(value)));
        }
    }
    Ok(flags)
}

fn value(name: &str, value: Option<String>) -> Result<String, String> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{name} needs a value"))
}

fn switch(name: &str, value: Option<String>) -> Result<bool, String> {
    match value {
        None => Ok(true),
        Some(_) => Err(format!("{name} takes no value")),
    }
}

fn number(name: &str, text: Option<String>, min: u64, max: u64) -> Result<u64, String> {
    value(name, text)?
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name} must be a whole number from {min} to {max}"))
}

fn parse_demo(flags: Vec<(String, Option<String>)>) -> Result<DemoOptions, String> {
    let mut options = DemoOptions::default();
    for (name, text) in flags {
        match name.as_str() {
            "--large-attachment-mib" => {
                options.large_attachment_bytes = number(&name, text, 0, 100 * 1024)? * 1024 * 1024;
            }
            "--output" => options.output = PathBuf::from(value(&name, text)?),
            "--keep-running" => options.keep_running = switch(&name, text)?,
            "--timeout-secs" => {
                options.timeout = Duration::from_secs(number(&name, text, 1, 86_400)?);
            }
            other => return Err(format!("unknown option {other} for demo")),
        }
    }
    Ok(options)
}

fn parse_altinn(flags: Vec<(String, Option<String>)>) -> Result<AltinnOptions, String> {
    let mut app = None;
    let mut instance = None;
    let mut output = None;
    let mut bucket = None;
    let mut options = AltinnOptions {
        org: String::new(),
        app: String::new(),
        instance: None,
        target: ArchiveTarget::Folder(PathBuf::from("archive-output")),
        limit: 10,
        yes: false,
        allow_prod: false,
        timeout: Duration::from_secs(600),
    };
    for (name, text) in flags {
        match name.as_str() {
            "--app" => app = Some(value(&name, text)?),
            "--instance" => instance = Some(value(&name, text)?),
            "--limit" => options.limit = number(&name, text, 1, 10_000)? as usize,
            "--output" => output = Some(PathBuf::from(value(&name, text)?)),
            "--bucket" => bucket = Some(value(&name, text)?),
            "--yes" => options.yes = switch(&name, text)?,
            "--allow-prod" => options.allow_prod = switch(&name, text)?,
            "--timeout-secs" => {
                options.timeout = Duration::from_secs(number(&name, text, 1, 86_400)?);
            }
            other => return Err(format!("unknown option {other} for altinn")),
        }
    }
    let app = app.ok_or("--app ORG/APP is required")?;
    let (org, app) = app
        .split_once('/')
        .filter(|(org, app)| {
            altinn::environment::is_valid_org_code(org)
                && altinn::environment::is_valid_app_name(app)
        })
        .ok_or("--app must be ORG/APP, e.g. ttd/my-app (lowercase)")?;
    options.org = org.to_owned();
    options.app = app.to_owned();
    if let Some(instance) = instance {
        let parsed = instance.split_once('/').and_then(|(party, guid)| {
            Some((party.parse::<u64>().ok()?, Uuid::try_parse(guid).ok()?))
        });
        options.instance = Some(parsed.ok_or("--instance must be PARTY_ID/GUID")?);
    }
    options.target = match (output, bucket) {
        (Some(_), Some(_)) => return Err("use either --output or --bucket, not both".into()),
        (_, Some(bucket)) => ArchiveTarget::Bucket(bucket),
        (Some(folder), None) => ArchiveTarget::Folder(folder),
        (None, None) => options.target,
    };
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn demo_defaults_and_flags() {
        assert_eq!(
            parse_args(&["demo"]),
            Ok(Command::Demo(DemoOptions::default()))
        );
        let Ok(Command::Demo(options)) = parse_args(&[
            "demo",
            "--large-attachment-mib=3",
            "--output",
            "out",
            "--keep-running",
            "--timeout-secs",
            "60",
        ]) else {
            panic!("demo options");
        };
        assert_eq!(options.large_attachment_bytes, 3 * 1024 * 1024);
        assert_eq!(options.output, PathBuf::from("out"));
        assert!(options.keep_running);
        assert_eq!(options.timeout, Duration::from_secs(60));
    }

    #[test]
    fn altinn_flags() {
        let Ok(Command::Altinn(options)) = parse_args(&[
            "altinn",
            "--app",
            "ttd/my-app",
            "--instance",
            "50001/7d4c2f47-3a4e-4c3b-9a59-1f0a6b2d3e4f",
            "--bucket",
            "my-bucket",
            "--yes",
        ]) else {
            panic!("altinn options");
        };
        assert_eq!(
            (options.org.as_str(), options.app.as_str()),
            ("ttd", "my-app")
        );
        assert_eq!(options.instance.map(|(party, _)| party), Some(50001));
        assert_eq!(options.target, ArchiveTarget::Bucket("my-bucket".into()));
        assert!(options.yes && !options.allow_prod);
        let Ok(Command::Altinn(options)) = parse_args(&["altinn", "--app=ttd/x"]) else {
            panic!("altinn defaults");
        };
        assert!(!options.yes, "nothing is completed unless asked");
        assert_eq!(options.limit, 10);
        assert_eq!(
            options.target,
            ArchiveTarget::Folder(PathBuf::from("archive-output"))
        );
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        for (args, expected) in [
            (
                &["demo", "--large-attachment-mib", "lots"][..],
                "whole number",
            ),
            (&["demo", "--output"][..], "needs a value"),
            (&["demo", "stray"][..], "unexpected argument"),
            (&["demo", "--yes"][..], "unknown option"),
            (&["altinn"][..], "--app ORG/APP is required"),
            (&["altinn", "--app", "TTD/app"][..], "--app must be"),
            (
                &["altinn", "--app", "ttd/a", "--instance", "x"][..],
                "--instance must be",
            ),
            (
                &["altinn", "--app", "ttd/a", "--output", "o", "--bucket", "b"][..],
                "not both",
            ),
            (
                &["altinn", "--app", "ttd/a", "--yes=no"][..],
                "takes no value",
            ),
            (&["deploy"][..], "unknown command"),
        ] {
            let error = parse_args(args).expect_err("refused");
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        assert_eq!(parse_args(&[]), Ok(Command::Help));
        assert_eq!(parse_args(&["demo", "--help"]), Ok(Command::Help));
    }
}
