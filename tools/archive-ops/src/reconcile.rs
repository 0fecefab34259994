//! `archive-ops reconcile --app org/app [--dry-run] [--max N] [--feedback-task TASK]`: the
//! reconciler's queries on demand. Lists every completed, unconfirmed instance that is not
//! archived (and, with a feedback task, every instance waiting there); without
//! `--dry-run` it also enqueues them exactly as the scheduled reconciler does (same synthetic
//! event, same marker, same bound).

use std::io::Write;

use altinn::{AltinnConfig, RetryPolicy};
use archive_model::ArchiveLayout;
use reconciler::reconcile::ReconcilerSettings;
use reconciler::{AppReport, Finding, Reconciler, RunOptions};

use crate::cli::ReconcileArgs;
use crate::{
    CommandError, Context, EXIT_FAILURE, EXIT_OK, UsageError, progress, table, write_json,
};

/// Runs the command.
pub async fn command(
    args: &ReconcileArgs,
    json: bool,
    context: &Context,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> Result<i32, CommandError> {
    let app = &args.app;
    let dry_run = args.dry_run;
    let max_enqueue = args.max;
    let bucket = context.required(args.archive.bucket.as_deref(), "bucket", "ARCHIVE_BUCKET")?;
    let prefix = context
        .setting(args.archive.prefix.as_deref(), "ARCHIVE_PREFIX")
        .unwrap_or_default();
    let layout = ArchiveLayout::new(prefix).map_err(|e| UsageError(format!("--prefix: {e}")))?;
    let queue_url = match dry_run {
        true => None,
        false => Some(context.required(args.queue_url.as_deref(), "queue-url", "QUEUE_URL")?),
    };
    let feedback_task = context.setting(args.feedback_task.as_deref(), "FEEDBACK_TASK");
    if let Some(task) = &feedback_task
        && !altinn::event::is_valid_task_id(task)
    {
        return Err(UsageError(format!(
            "--feedback-task: {task:?} is not a BPMN task id such as Task_2"
        ))
        .into());
    }
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
            feedback_task,
        },
    );

    let spinner = progress::spinner(context.progress && !json);
    let progress_line = |report: &AppReport| {
        spinner.set_message(format!(
            "{}: {} pages, {} instances, {} not archived",
            report.app,
            report.pages,
            report.found,
            report.found - report.already_archived
        ));
    };
    let options = RunOptions {
        dry_run,
        max_enqueue,
        deadline: None,
        progress: Some(&progress_line as &(dyn Fn(&AppReport) + Sync)),
    };
    let result = reconciler.reconcile_app(app, &options).await;
    spinner.finish_and_clear();
    let report = result.map_err(CommandError::failed)?;

    if json {
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
                    Finding::Held { data_element_ids } => (
                        "held",
                        format!("Infected, not released: {}", data_element_ids.join(", ")),
                    ),
                    Finding::AlreadyArchived => ("archived", String::new()),
                };
                let detail = match &f.feedback_task {
                    Some(task) => format!("waiting at {task}; {detail}"),
                    None => detail,
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
            "{}: {} completed and unconfirmed, {} waiting at the feedback task, {} archived (completion pending), {} pending, {} held for review, {} enqueued, {} missing{}",
            report.app,
            report.found - report.at_feedback_task,
            report.at_feedback_task,
            report.already_archived,
            report.pending,
            report.held,
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
