//! The command line, declared once with clap: every command, flag and help text. Values that
//! need the environment or Altinn to check (endpoints, durations, the instance path) arrive as
//! text and are checked by their command, so one error message per rule lives next to the rule.
//! Settings that can come from the environment (`--bucket`/`ARCHIVE_BUCKET`, …) are resolved
//! through [`crate::Context`], which tests give a map instead of the process environment.

use clap::{Args, Parser, Subcommand};
use reconciler::AppId;

/// Operate the Altinn archive: reconcile, dead letters, subscriptions, verify.
#[derive(Debug, Parser)]
#[command(
    name = "archive-ops",
    version,
    arg_required_else_help = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Exit codes:
  0  success, nothing needs attention
  1  failure, or something needs attention (instances missing from the archive, archived
     objects that differ from their manifest)
  2  usage error

Settings (environment, as for the functions):
  ALTINN_ENV, ALTINN_ORG, MASKINPORTEN_CLIENT_ID, MASKINPORTEN_KID,
  MASKINPORTEN_KEY or MASKINPORTEN_KEY_SECRET_ARN, ARCHIVE_BUCKET, ARCHIVE_PREFIX,
  QUEUE_URL, DEAD_LETTER_QUEUE_URL, WEBHOOK_SECRET or WEBHOOK_SECRET_ARN;
  AWS credentials and region as for the AWS CLI.";

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find completed instances that are not archived (and enqueue them).
    Reconcile(ReconcileArgs),
    /// Inspect and redrive the dead-letter queue.
    #[command(subcommand, arg_required_else_help = true)]
    Dlq(DlqCommand),
    /// Manage the Altinn Events subscriptions that feed the webhook.
    #[command(arg_required_else_help = true)]
    Subscription(SubscriptionArgs),
    /// Check archived instances against their manifests.
    #[command(subcommand, arg_required_else_help = true)]
    Archive(ArchiveCommand),
    /// Instances held because Altinn's malware scan found an element Infected.
    #[command(subcommand, arg_required_else_help = true)]
    Quarantine(QuarantineCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// For bash: `archive-ops completions bash > ~/.local/share/bash-completion/completions/archive-ops`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `reconcile`.
#[derive(Debug, Args)]
#[command(after_help = "\
Queries Storage for the app's instances with process.isComplete=true that our org has not
confirmed, follows every page, and checks each for a manifest.json in the archive. Without
--dry-run every missing instance is enqueued (a synthetic process.completed event marked as
coming from reconciliation), at most --max.

Exit codes: 0 nothing missing (or all of it enqueued), 1 instances remain missing or an
error, 2 usage error.")]
pub struct ReconcileArgs {
    /// The app (its org must be ALTINN_ORG).
    #[arg(long, value_name = "ORG/APP")]
    pub app: AppId,
    /// Only report; send nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Most instances to enqueue.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub max: usize,
    #[command(flatten)]
    pub archive: ArchiveLocation,
    /// Event queue [default: QUEUE_URL; not needed with --dry-run].
    #[arg(long, value_name = "URL")]
    pub queue_url: Option<String>,
    /// Also look for instances waiting at this feedback task [default: FEEDBACK_TASK].
    #[arg(long, value_name = "TASK")]
    pub feedback_task: Option<String>,
}

/// Where the archive is: flags over `ARCHIVE_BUCKET` and `ARCHIVE_PREFIX`.
#[derive(Debug, Clone, Args)]
pub struct ArchiveLocation {
    /// Archive bucket [default: ARCHIVE_BUCKET].
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,
    /// Archive prefix [default: ARCHIVE_PREFIX].
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

/// The queues of `dlq`: flags over `DEAD_LETTER_QUEUE_URL` and `QUEUE_URL`.
#[derive(Debug, Clone, Args)]
pub struct DlqQueues {
    /// The dead-letter queue [default: DEAD_LETTER_QUEUE_URL].
    #[arg(long, value_name = "URL")]
    pub dlq_url: Option<String>,
}

/// `dlq …`.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
Exit codes: 0 success, 1 error (or `show`/`redrive --id` of an id that is not there),
2 usage error.")]
pub enum DlqCommand {
    /// List dead-lettered messages with their failure reason, instance and time.
    List {
        /// Most messages to list.
        #[arg(long, value_name = "N", default_value_t = 100)]
        max: usize,
        #[command(flatten)]
        queues: DlqQueues,
    },
    /// One dead-lettered message, with its body and every attribute.
    Show {
        /// The SQS message id.
        message_id: String,
        /// Most messages to look through.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        max: usize,
        #[command(flatten)]
        queues: DlqQueues,
    },
    /// Move messages back to the event queue for the archiver.
    Redrive(RedriveArgs),
}

/// `dlq redrive`.
#[derive(Debug, Args)]
#[group(id = "which", required = true, multiple = false, args = ["all", "id"])]
pub struct RedriveArgs {
    /// Every message in the dead-letter queue.
    #[arg(long)]
    pub all: bool,
    /// This message (repeatable).
    #[arg(long, value_name = "MESSAGE_ID")]
    pub id: Vec<String>,
    /// Most messages to look through.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max: usize,
    #[command(flatten)]
    pub queues: DlqQueues,
    /// The event queue redrive sends to [default: QUEUE_URL].
    #[arg(long, value_name = "URL")]
    pub queue_url: Option<String>,
}

/// `subscription [--as-organisation] …`.
#[derive(Debug, Args)]
pub struct SubscriptionArgs {
    /// Act as the organisation (`/organisation/{orgno}`, token scope `altinn:events.subscribe`
    /// only) instead of the service owner: how a Correspondence recipient subscribes to what is
    /// addressed to it, and sees and deletes those subscriptions. Not for `rotate`.
    #[arg(long, global = true)]
    pub as_organisation: bool,
    /// The subscription command.
    #[command(subcommand)]
    pub command: SubscriptionCommand,
}

/// `subscription …`.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
The webhook secret is appended to the endpoint as the `code` query parameter; it is read from
WEBHOOK_SECRET, or from Secrets Manager (--secret-arn, or WEBHOOK_SECRET_ARN), never from the
command line. Every endpoint is printed with the secret replaced by ***. A new subscription
receives nothing until its endpoint answered Altinn's validation event with 2xx;
wait-validated (or create --wait) polls until then.

Exit codes: 0 success (and validated, when waiting), 1 error, id not found or not validated
in time, 2 usage error.")]
pub enum SubscriptionCommand {
    /// Subscribe the webhook to Altinn Events.
    Create(CreateArgs),
    /// The subscriptions (secret redacted).
    List,
    /// One subscription (secret redacted).
    Get {
        /// The subscription id.
        id: String,
    },
    /// Delete a subscription.
    Delete {
        /// The subscription id.
        id: String,
    },
    /// Wait until Altinn has validated a subscription.
    WaitValidated {
        /// The subscription id.
        id: String,
        /// How long to wait: 90, 90s, 2m [default: 120s].
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
    },
    /// New webhook secret and subscription, then the old ones retired, step by step.
    Rotate(RotateArgs),
}

/// `subscription create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The webhook URL without the secret (the stack's WebhookUrl).
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// Subscribe to an app of ALTINN_ORG; the source filter becomes
    /// https://{org}.apps.{domain}/{org}/{app}.
    #[arg(long, value_name = "ORG/APP")]
    pub app: Option<String>,
    /// An explicit app source filter instead of --app.
    #[arg(long, value_name = "URL", conflicts_with = "app")]
    pub source_filter: Option<String>,
    /// A generic resource, urn:altinn:resource:{id} (e.g. a Correspondence resource): no
    /// source filter is sent, and the token carries altinn:events.subscribe.
    #[arg(
        long = "resource",
        visible_alias = "resource-filter",
        value_name = "URN"
    )]
    pub resource_filter: Option<String>,
    /// With --resource: the event subject exactly as the resource's events carry it, e.g.
    /// urn:altinn:organization:identifier-no:{orgno}.
    #[arg(long, value_name = "URN", requires = "resource_filter")]
    pub subject: Option<String>,
    /// With --subject: the subject's subunits' events too.
    #[arg(long, requires = "subject")]
    pub include_subunits: bool,
    /// One exact event type, e.g. app.instance.process.completed (the archiver only needs
    /// that one).
    #[arg(long = "type", visible_alias = "type-filter", value_name = "TYPE")]
    pub type_filter: Option<String>,
    /// Apps only: /organisation/{orgno} or /person/{ssn}.
    #[arg(long, value_name = "SUBJECT")]
    pub alternative_subject_filter: Option<String>,
    /// Read the webhook secret from this Secrets Manager secret.
    #[arg(long, value_name = "ARN")]
    pub secret_arn: Option<String>,
    /// Then wait until Altinn has validated it.
    #[arg(long)]
    pub wait: bool,
    /// How long to wait: 90, 90s, 2m [default: 120s].
    #[arg(long, value_name = "DURATION", requires = "wait")]
    pub timeout: Option<String>,
    /// Words that are not flags are refused without being echoed: a stray word here may well
    /// be the secret someone tried to pass.
    #[arg(hide = true, num_args = 0..)]
    pub stray: Vec<String>,
}

/// `subscription rotate`.
#[derive(Debug, Args)]
#[command(after_help = "\
Steps, each printed as it starts and ends: (1) read subscription --old-id (its filters are
copied; its endpoint must be --endpoint with the current secret), (2) store a new random
secret version in Secrets Manager (the old value stays accepted as AWSPREVIOUS), (3) wait
--refresh-wait (the webhook's WEBHOOK_SECRET_REFRESH_SECS) so warm webhooks accept it,
(4) create the new subscription and wait --timeout until Altinn validated it, (5) delete the
old subscription, (6) remove AWSPREVIOUS from the old version. If a step fails nothing more
is changed, the state and how to finish or undo are printed, and running the command again
continues. The secret must be in Secrets Manager (--secret-arn or WEBHOOK_SECRET_ARN).")]
pub struct RotateArgs {
    /// The subscription to replace.
    #[arg(long, value_name = "ID")]
    pub old_id: String,
    /// The webhook URL without the secret (the stack's WebhookUrl).
    #[arg(long, value_name = "URL")]
    pub endpoint: String,
    /// The Secrets Manager secret of the webhook [default: WEBHOOK_SECRET_ARN].
    #[arg(long, value_name = "ARN")]
    pub secret_arn: Option<String>,
    /// How long warm webhooks take to re-read the secret [default: 5m].
    #[arg(long, value_name = "DURATION")]
    pub refresh_wait: Option<String>,
    /// How long to wait for Altinn's validation of the new subscription [default: 10m].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Refused without being echoed, as for `create`.
    #[arg(hide = true, num_args = 0..)]
    pub stray: Vec<String>,
}

/// `archive …`.
#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Check archived instances against their manifest.json.
    #[command(after_help = "\
Reads each instance's manifest.json, then reads back every object it lists (instance.json,
events, data elements), recomputing each one's size and SHA-256 while streaming it, and
reports each as OK, DIFFERENT or MISSING.

Exit codes: 0 every object matches, 1 an object differs or is missing, there is no
manifest, or an error; 2 usage error.")]
    Verify {
        /// The instances, as the DLQ and reconcile print them.
        #[arg(value_name = "ORG/APP/PARTY_ID/INSTANCE_GUID", required = true)]
        instances: Vec<String>,
        #[command(flatten)]
        archive: ArchiveLocation,
    },
}

/// `quarantine …`.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
Under INFECTED_POLICY=hold the archiver keeps an Infected element's bytes under the
instance's quarantine/, writes a review record under {prefix}_quarantine/ and dead-letters
the event as `infected`; nothing is completed in Altinn.

Exit codes: 0 success, 1 error (or `release` of an id that is held nowhere), 2 usage error.")]
pub enum QuarantineCommand {
    /// List the held elements with their instance, type, size and whether they are released.
    List {
        #[command(flatten)]
        archive: ArchiveLocation,
    },
    /// Record that a person reviewed and released held elements; once every held element of
    /// the instance is released, its event goes to the event queue again and the archiver
    /// archives it with the quarantined elements flagged.
    Release {
        /// A data element id (that element), or an instance GUID, PARTY_ID/GUID or
        /// ORG/APP/PARTY_ID/GUID (every held element of that instance).
        id: String,
        /// Who decided, kept in the release marker [default: USER].
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Why, kept in the release marker.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        #[command(flatten)]
        archive: ArchiveLocation,
        /// The event queue the instance's event is sent to [default: QUEUE_URL].
        #[arg(long, value_name = "URL")]
        queue_url: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_take_both_forms_and_json_goes_anywhere() {
        let cli = Cli::try_parse_from([
            "archive-ops",
            "dlq",
            "redrive",
            "--id",
            "a",
            "--id=b",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        let Command::Dlq(DlqCommand::Redrive(redrive)) = cli.command else {
            panic!("not redrive");
        };
        assert_eq!(redrive.id, ["a", "b"]);
        assert!(Cli::try_parse_from(["archive-ops", "--json", "dlq", "list"]).is_ok());
        for bad in [
            &[
                "archive-ops",
                "reconcile",
                "--app",
                "ttd/a",
                "--app",
                "ttd/b",
            ][..],
            &["archive-ops", "reconcile", "--app", "ttd/a", "--max", "x"],
            &["archive-ops", "dlq", "list", "--json=1"],
            &[
                "archive-ops",
                "subscription",
                "create",
                "--endpoint",
                "x",
                "--timeout",
                "2s",
            ],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
