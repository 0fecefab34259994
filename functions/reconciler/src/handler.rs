//! The scheduled entry point: one run over every configured app, a summary as the Lambda's
//! result, and one EMF metrics line per app (`InstancesFound`, `InstancesEnqueued`,
//! `InstancesAlreadyArchived`, `InstancesPending`, `InstancesHeld`, `InstancesMissing`).
//!
//! The EventBridge event itself carries nothing we need (its `time` and `id` are only logged),
//! so any input is accepted.

use std::time::{Duration, Instant, SystemTime};

use altinn::{AltinnClient, AuthError};
use archive_model::ArchiveLayout;
use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use lambda_support::metrics::{Metric, MetricsLogger};
use serde::Serialize;
use serde_json::Value;

use crate::config::{AppId, ReconcilerConfig};
use crate::reconcile::{AppReport, ReconcileError, Reconciler, ReconcilerSettings, RunOptions};

/// The `Function` dimension of the metrics.
pub const FUNCTION: &str = "reconciler";

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is missing or wrong.
    #[error(transparent)]
    Config(#[from] altinn::ConfigError),
    /// The Maskinporten key could not be read from Secrets Manager.
    #[error(transparent)]
    Secret(#[from] lambda_support::aws::SecretError),
    /// The Maskinporten key does not parse.
    #[error("the Maskinporten key is not usable: {0}")]
    Key(#[from] AuthError),
    /// `ARCHIVE_PREFIX` is not a valid prefix.
    #[error("ARCHIVE_PREFIX is invalid: {0}")]
    Prefix(String),
    /// `SSL_CERT_FILE` names an unusable file.
    #[error("HTTPS set-up: {0}")]
    Tls(#[from] altinn::tls::TlsError),
}

/// A run in which at least one app failed (the others were still reconciled). Returned as the
/// Lambda error so the Errors alarm fires.
#[derive(Debug, thiserror::Error)]
#[error("reconciling {failed} of {total} apps failed; first error: {first}")]
pub struct RunError {
    /// Apps that failed.
    pub failed: usize,
    /// Apps configured.
    pub total: usize,
    /// The first failure.
    pub first: ReconcileError,
}

/// What a run did, returned as the Lambda's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Per app, without the per-instance findings (they are in the logs).
    pub apps: Vec<AppReport>,
    /// Messages sent in this run.
    pub enqueued: u64,
}

/// Builds the Altinn client exactly as the archiver does: the key from `MASKINPORTEN_KEY` or
/// Secrets Manager, one reqwest client, the token provider, the allowlist pinned to our org.
pub async fn altinn_client(
    config: &altinn::AltinnConfig,
    retry: &altinn::RetryPolicy,
    sdk: &SdkConfig,
) -> Result<AltinnClient, StartupError> {
    let key_text =
        lambda_support::aws::maskinporten_key_text(&config.maskinporten_key, sdk).await?;
    let http = AltinnClient::try_http_client(retry)?;
    Ok(AltinnClient::from_config(
        config,
        &key_text,
        http,
        retry.clone(),
    )?)
}

/// The function: built once per process, then run on every schedule tick.
#[derive(Debug)]
pub struct ReconcilerFunction {
    reconciler: Reconciler,
    apps: Vec<AppId>,
    max_enqueue: usize,
    deadline_margin: Duration,
    metrics: MetricsLogger,
}

impl ReconcilerFunction {
    /// Builds every client from the configuration.
    pub async fn from_config(
        config: &ReconcilerConfig,
        sdk: &SdkConfig,
    ) -> Result<Self, StartupError> {
        let altinn = altinn_client(&config.altinn, &config.retry, sdk).await?;
        Self::new(
            config,
            altinn,
            lambda_support::aws::s3_client(sdk),
            aws_sdk_sqs::Client::new(sdk),
        )
    }

    /// The function over ready-made clients.
    pub fn new(
        config: &ReconcilerConfig,
        altinn: AltinnClient,
        s3: aws_sdk_s3::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Result<Self, StartupError> {
        let layout = ArchiveLayout::new(config.prefix.clone()).map_err(StartupError::Prefix)?;
        let reconciler = Reconciler::new(
            altinn,
            s3,
            config.bucket.clone(),
            layout,
            sqs,
            Some(config.queue_url.clone()),
            ReconcilerSettings {
                page_size: config.page_size,
                reenqueue_after: config.reenqueue_after,
                feedback_task: config.feedback_task.clone(),
            },
        );
        Ok(ReconcilerFunction {
            reconciler,
            apps: config.apps.clone(),
            max_enqueue: config.max_enqueue,
            deadline_margin: config.deadline_margin,
            metrics: MetricsLogger::new(FUNCTION),
        })
    }

    /// The reconciler (for the operator CLI and tests).
    pub fn reconciler(&self) -> &Reconciler {
        &self.reconciler
    }

    /// One scheduled invocation.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<RunSummary, RunError> {
        tracing::info!(
            schedule_event_id = event
                .payload
                .get("id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
            scheduled_time = event
                .payload
                .get("time")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
            "reconciliation started"
        );
        let deadline = instant_before(event.context.deadline, self.deadline_margin);
        self.run(deadline).await
    }

    /// Every configured app in turn, sharing the run's enqueue bound. A failing app is logged
    /// and the others still run; the error is returned at the end.
    pub async fn run(&self, deadline: Option<Instant>) -> Result<RunSummary, RunError> {
        let mut summary = RunSummary {
            apps: Vec::new(),
            enqueued: 0,
        };
        let mut errors = Vec::new();
        for app in &self.apps {
            let options = RunOptions {
                dry_run: false,
                max_enqueue: self.max_enqueue.saturating_sub(summary.enqueued as usize),
                deadline,
                progress: None,
            };
            match self.reconciler.reconcile_app(app, &options).await {
                Ok(mut report) => {
                    self.emit_metrics(&report);
                    summary.enqueued += report.enqueued;
                    report.findings.clear();
                    summary.apps.push(report);
                }
                Err(error) => {
                    tracing::error!(app = %app, error = %error, "reconciliation failed");
                    self.metrics.emit(
                        &[("App", &app.to_string())],
                        &[Metric::count("ReconcileErrors", 1)],
                    );
                    errors.push(error);
                }
            }
        }
        let failed = errors.len();
        match errors.into_iter().next() {
            None => Ok(summary),
            Some(first) => Err(RunError {
                failed,
                total: self.apps.len(),
                first,
            }),
        }
    }

    fn emit_metrics(&self, report: &AppReport) {
        self.metrics.emit(
            &[("App", &report.app)],
            &[
                Metric::count("InstancesFound", report.found),
                Metric::count("InstancesEnqueued", report.enqueued),
                Metric::count("InstancesAlreadyArchived", report.already_archived),
                Metric::count("InstancesPending", report.pending),
                Metric::count("InstancesHeld", report.held),
                Metric::count("InstancesMissing", report.missing),
            ],
        );
    }
}

/// The instant `margin` before a Lambda deadline given in epoch milliseconds; `None` when the
/// context has no deadline (0, as in tests). A bogus deadline from a local emulator is replaced
/// by Lambda's longest timeout (see `lambda_support::deadline`).
fn instant_before(deadline_epoch_ms: u64, margin: Duration) -> Option<Instant> {
    if deadline_epoch_ms == 0 {
        return None;
    }
    let now = SystemTime::now();
    let deadline = lambda_support::deadline::effective_deadline(deadline_epoch_ms, now);
    let left = deadline
        .duration_since(now)
        .unwrap_or_default()
        .saturating_sub(margin);
    Some(Instant::now() + left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn deadlines_leave_the_margin() {
        assert_eq!(instant_before(0, Duration::from_secs(5)), None);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let at = instant_before(now_ms + 60_000, Duration::from_secs(20)).unwrap();
        let left = at.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(40) && left > Duration::from_secs(35),
            "{left:?}"
        );
        let past = instant_before(now_ms + 1_000, Duration::from_secs(20)).unwrap();
        assert!(past <= Instant::now());
    }
}
