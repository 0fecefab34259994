//! `archive-ops reconcile --app org/app [--dry-run] [--max N]`: the reconciler's query on
//! demand. Lists every completed, unconfirmed instance that is not archived; without
//! `--dry-run` it also enqueues them exactly as the scheduled reconciler does (same synthetic
//! event, same marker, same bound).

use std::io::Write;

use altinn::{AltinnConfig, RetryPolicy};
use archive_model::ArchiveLayout;
use reconciler::reconcile::ReconcilerSettings;
use reconciler::{AppId, AppReport, Finding, Reconciler, RunOptions};

use crate::{CommandError, Context, EXIT_FAILURE, EXIT_OK, UsageError, table, write_json};

/// Help for `reconcile`.
pub const HELP: &str = "\
archive-ops reconcile: find completed Altinn instances that are not archived

USAGE:
    archive-ops reconcile --app ORG/APP [--dry-run] [--max N] [--json]

Queries Storage for the app's instances with process.isComplete=true that our org has not
confirmed, follows every page, and checks each for a manifest.json in the archive.
Without --dry-run every missing instance is enqueued (a synthetic process.completed event
marked as coming from reconciliation), at most --max (default 500).

OPTIONS:
    --app ORG/APP      the app (its org must be ALTINN_ORG)
    --dry-run          only report; send nothing, write nothing
    --max N            most instances to enqueue (default 500)
    --bucket NAME      archive bucket (default ARCHIVE_BUCKET)
    --prefix PREFIX    archive prefix (default ARCHIVE_PREFIX)
    --queue-url URL    event queue (default QUEUE_URL; not needed with --dry-run)
    --json             JSON report on stdout

EXIT CODES: 0 nothing missing (or all of it enqueued), 1 instances remain missing or an
error, 2 usage error.
";

/// Runs the command.
pub async fn command(
    rest: &[&str],
    args: &crate::Args,
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    if args.has("help") {
        return crate::print_help(out, HELP, true);
    }
    if !rest.is_empty() {
        return Err(UsageError(format!("unexpected argument {}", rest[0])).into());
    }
    args.only(&["app", "dry-run", "max", "bucket", "prefix", "queue-url"])?;
    let app: AppId = args
        .value("app")?
        .ok_or_else(|| UsageError("--app ORG/APP is required".into()))?
        .parse()
        .map_err(|e| UsageError(format!("--app: {e}")))?;
    let dry_run = args.has("dry-run");
    let max_enqueue = args.number("max", 500)?;
    let bucket = context.required(args, "bucket", "ARCHIVE_BUCKET")?;
    let prefix = context
        .setting(args, "prefix", "ARCHIVE_PREFIX")?
        .unwrap_or_default();
    let layout = ArchiveLayout::new(prefix).map_err(|e| UsageError(format!("--prefix: {e}")))?;
    let queue_url = match dry_run {
        true => None,
        false => Some(context.required(args, "queue-url", "QUEUE_URL")?),
    };
    let altinn_config = AltinnConfig::from_lookup(&context.env).map_err(CommandError::failed)?;
    if app.org != altinn_config.org {
        return Err(UsageError("--app: the org must be ALTINN_ORG".into()).into());
    }
    let retry = RetryPolicy::default();
    let altinn = reconciler::handler::altinn_client(&altinn_config, &retry, &context.sdk)
        .await
        .map_err(CommandError::failed)?;
    let reconciler = Reconciler::new(
        altinn,
        lambda_support::aws::s3_client(&context.sdk),
        bucket,
        layout,
        aws_sdk_sqs::Client::new(&context.sdk),
        queue_url,
        ReconcilerSettings {
            page_size: 100,
            reenqueue_after: std::time::Duration::from_secs(24 * 3600),
        },
    );

    let progress_line = |report: &AppReport| {
        eprint!(
            "\r{}: {} pages, {} instances, {} not archived",
            report.app,
            report.pages,
            report.found,
            report.found - report.already_archived
        );
    };
    let options = RunOptions {
        dry_run,
        max_enqueue,
        deadline: None,
        progress: context
            .progress
            .then_some(&progress_line as &(dyn Fn(&AppReport) + Sync)),
    };
    let result = reconciler.reconcile_app(&app, &options).await;
    if context.progress {
        let _ = writeln!(err);
    }
    let report = result.map_err(CommandError::failed)?;

    if args.has("json") {
        write_json(out, &report)?;
    } else {
        let rows: Vec<Vec<String>> = report
            .findings
            .iter()
            .filter(|f| f.finding != Finding::AlreadyArchived)
            .map(|f| {
                let (status, detail) = match &f.finding {
                    Finding::Missing => ("missing", String::new()),
                    Finding::Enqueued { event_id } => ("enqueued", format!("event {event_id}")),
                    Finding::Pending { enqueued_secs_ago } => (
                        "pending",
                        format!("enqueued {} min ago", enqueued_secs_ago / 60),
                    ),
                    Finding::AlreadyArchived => ("archived", String::new()),
                };
                vec![f.instance.clone(), status.to_owned(), detail]
            })
            .collect();
        if !rows.is_empty() {
            let text = table::render(&["INSTANCE", "STATUS", "DETAIL"], &rows);
            out.write_all(text.as_bytes())
                .map_err(CommandError::failed)?;
        }
        writeln!(
            out,
            "{}: {} completed and unconfirmed, {} archived (completion pending), {} pending, {} enqueued, {} missing{}",
            report.app,
            report.found,
            report.already_archived,
            report.pending,
            report.enqueued,
            report.missing,
            if dry_run { " (dry run)" } else { "" }
        )
        .map_err(CommandError::failed)?;
    }
    Ok(if report.missing > 0 {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}
