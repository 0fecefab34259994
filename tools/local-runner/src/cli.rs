//! The command line: `archive-local demo …` and `archive-local altinn …`, declared with clap.
//! What clap cannot check alone (the app and instance shapes, `--output` against `--bucket`)
//! is checked in [`Cli::into_command`], with messages that say what is wrong.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

use crate::altinn_mode::{AltinnOptions, ArchiveTarget};
use crate::demo::DemoOptions;

/// Run the Altinn archive (the real webhook and archiver code) on this machine.
#[derive(Debug, Parser)]
#[command(
    name = "archive-local",
    version,
    arg_required_else_help = true,
    after_help = "\
Progress goes to stdout; RUST_LOG=info shows the functions' own logs on stderr, and
RUST_LOG=debug also prints the archiver's EMF metric lines in the summary (else only their count).
Exit status: 0 success (or a dry run), 1 the run failed, 2 bad arguments, 130 Ctrl-C."
)]
pub struct Cli {
    /// The mode.
    #[command(subcommand)]
    pub command: Mode,
}

/// The two modes.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Everything local: moto_server, the Altinn simulator, the webhook and the archiver.
    ///
    /// No AWS account and no Altinn credentials: starts moto_server (S3 and SQS), the Altinn
    /// simulator with demo instances (one with a large attachment, one with a hard-deleted
    /// element), serves the webhook on a loopback port, subscribes to events through the
    /// simulator's Events API, lets it publish, and runs the archiver from the queue the way
    /// Lambda's event source mapping does. Then archives one Altinn Correspondence as its
    /// sender and one as its recipient (CORRESPONDENCE_ROLE), each with a stack and a
    /// subscription of its own. Ends with a summary; exits 1 if anything failed.
    Demo(DemoArgs),
    /// Your own app in a real Altinn test environment, before deploying anything.
    ///
    /// Reads ALTINN_ENV (e.g. tt02), MASKINPORTEN_CLIENT_ID, MASKINPORTEN_KID and
    /// MASKINPORTEN_KEY (or MASKINPORTEN_KEY_FILE, or MASKINPORTEN_KEY_SECRET_ARN) from the
    /// environment; ALTINN_ORG defaults to the org of --app. Finds the app's completed instances
    /// your org has not confirmed yet (or takes --instance), sends the event Altinn would push
    /// for each through the webhook into a local queue, and runs the archiver.
    #[command(after_help = "\
!! The archiver calls `complete` in Altinn for every instance it archives. In tt02 that
!! marks the instance as received by your org: it drops out of \"not yet confirmed\" queries,
!! and your own archive (or the Altinn reference system) will not pick it up again.
!! Nothing is archived or completed without --yes.")]
    Altinn(AltinnArgs),
}

/// `demo`'s flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of the large attachment, in MiB.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(0..=100 * 1024))]
    pub large_attachment_mib: u64,
    /// Copy the archive to DIR/run-<time>/.
    #[arg(long, value_name = "DIR", default_value = "demo-output")]
    pub output: PathBuf,
    /// Leave everything running after the summary, until Ctrl-C.
    #[arg(long)]
    pub keep_running: bool,
    /// Give up waiting for the archive after N s.
    #[arg(long, value_name = "N", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout_secs: u64,
}

/// `altinn`'s flags.
#[derive(Debug, Args)]
pub struct AltinnArgs {
    /// The app, e.g. ttd/my-app.
    #[arg(long, value_name = "ORG/APP")]
    pub app: String,
    /// Just this instance.
    #[arg(long, value_name = "PARTY_ID/GUID")]
    pub instance: Option<String>,
    /// At most N instances from the query.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub limit: u64,
    /// Archive into a local bucket, copied to DIR [default: archive-output].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Archive into your own S3 bucket (your AWS credentials and region).
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// Go ahead; without it the instances are only listed.
    #[arg(long)]
    pub yes: bool,
    /// Allow ALTINN_ENV=prod (refused otherwise).
    #[arg(long)]
    pub allow_prod: bool,
    /// Give up waiting after N s.
    #[arg(long, value_name = "N", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout_secs: u64,
}

/// A parsed and checked command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `demo`.
    Demo(DemoOptions),
    /// `altinn`.
    Altinn(AltinnOptions),
}

impl Cli {
    /// The run's options, or what is wrong with them.
    pub fn into_command(self) -> Result<Command, String> {
        match self.command {
            Mode::Demo(args) => Ok(Command::Demo(DemoOptions {
                large_attachment_bytes: args.large_attachment_mib * 1024 * 1024,
                output: args.output,
                timeout: Duration::from_secs(args.timeout_secs),
                keep_running: args.keep_running,
            })),
            Mode::Altinn(args) => altinn_options(args).map(Command::Altinn),
        }
    }
}

fn altinn_options(args: AltinnArgs) -> Result<AltinnOptions, String> {
    let (org, app) = args
        .app
        .split_once('/')
        .filter(|(org, app)| {
            altinn::environment::is_valid_org_code(org)
                && altinn::environment::is_valid_app_name(app)
        })
        .ok_or("--app must be ORG/APP, e.g. ttd/my-app (lowercase)")?;
    let instance = match args.instance {
        None => None,
        Some(instance) => {
            let parsed = instance.split_once('/').and_then(|(party, guid)| {
                Some((party.parse::<u64>().ok()?, Uuid::try_parse(guid).ok()?))
            });
            Some(parsed.ok_or("--instance must be PARTY_ID/GUID")?)
        }
    };
    let target = match (args.output, args.bucket) {
        (Some(_), Some(_)) => return Err("use either --output or --bucket, not both".into()),
        (_, Some(bucket)) => ArchiveTarget::Bucket(bucket),
        (Some(folder), None) => ArchiveTarget::Folder(folder),
        (None, None) => ArchiveTarget::Folder(PathBuf::from("archive-output")),
    };
    Ok(AltinnOptions {
        org: org.to_owned(),
        app: app.to_owned(),
        instance,
        target,
        limit: args.limit as usize,
        yes: args.yes,
        allow_prod: args.allow_prod,
        timeout: Duration::from_secs(args.timeout_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, String> {
        let words = std::iter::once("archive-local").chain(args.iter().copied());
        Cli::try_parse_from(words)
            .map_err(|e| e.to_string())
            .and_then(Cli::into_command)
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
                "invalid value 'lots'",
            ),
            (&["demo", "--output"][..], "a value is required"),
            (&["demo", "stray"][..], "unexpected argument"),
            (&["demo", "--yes"][..], "unexpected argument '--yes'"),
            (&["altinn"][..], "--app <ORG/APP>"),
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
                "unexpected value 'no'",
            ),
            (&["deploy"][..], "unrecognized subcommand"),
        ] {
            let error = parse_args(args).expect_err("refused");
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        for help in [&[][..], &["demo", "--help"]] {
            let words = std::iter::once("archive-local").chain(help.iter().copied());
            let error = Cli::try_parse_from(words).expect_err("help");
            assert!(error.to_string().contains("Usage:"), "{error}");
        }
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
