//! The archive system on one machine: the webhook in front of a queue, the archiver behind it
//! fed by the event source mapping, a bucket, and a dead-letter queue, all wired with the same
//! settings the SAM stack gives the two functions. Both modes of the runner use it; they differ
//! only in where Altinn is and how events get to the webhook.

use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use altinn::{AltinnClient, InstanceRef, Secret};
use archive_model::ArchiveLayout;
use archiver::hand_off::EventBridgeHandOff;
use archiver::{Archiver, ArchiverConfig, MetricLines};
use aws_config::SdkConfig;
use tokio::sync::watch;

use crate::archive_files::{list_objects, mirror};
use crate::error::RunError;
use crate::event_source::EventSourceMapping;
use crate::ledger::{EventState, Ledger, TrackedEvent};
use crate::local_aws::{
    DeadLetterInfo, LocalAws, QueueSettings, Queues, REGION, create_bucket, create_queues,
    queue_depth, read_dead_letters,
};
use crate::progress::{Progress, human_bytes};
use crate::settings::Settings;
use crate::summary::{InstanceReport, RunSummary};
use crate::webhook_server::WebhookService;

/// The archiver's function timeout here: each batch gets a deadline this far out, and the
/// queue's visibility timeout matches it (as Lambda requires), so a message being archived is
/// not handed out twice.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(120);
/// SQS moves a message to the DLQ after this many receives (the last line).
pub const REDRIVE_MAX_RECEIVE_COUNT: u32 = 4;
/// The archiver dead-letters a transient failure itself, with its reason, on this receive.
pub const ARCHIVER_MAX_RECEIVE_COUNT: u32 = 3;
/// The archiver's first retry delay after a transient failure (it doubles per receive): short,
/// so a failure comes back within seconds instead of Lambda's usual 30 s.
pub const VISIBILITY_BACKOFF_SECS: u64 = 2;
/// Concurrent pollers, like the minimum concurrency of a Lambda event source mapping.
pub const POLLERS: usize = 2;
/// The queue names (the DLQ is `{QUEUE_NAME}-dlq`).
pub const QUEUE_NAME: &str = "altinn-events";
/// The only event type the runner archives (the webhook's and archiver's default).
pub const ARCHIVED_EVENT_TYPE: &str = altinn::event::PROCESS_COMPLETED;

/// Where the archive goes.
#[derive(Debug, Clone)]
pub enum ArchiveBucket {
    /// A bucket created in moto_server for this run.
    Local(String),
    /// An existing bucket reached with `sdk` (the user's AWS credentials).
    Aws {
        /// The bucket name.
        name: String,
        /// The SDK configuration to reach it with.
        sdk: Box<SdkConfig>,
    },
}

/// The running system. Dropping it stops moto_server, unless another system shares it
/// ([`LocalSystem::start_on`]).
pub struct LocalSystem {
    aws: Arc<LocalAws>,
    queue_name: String,
    queues: Queues,
    sqs: aws_sdk_sqs::Client,
    secret: Secret,
    webhook: Arc<WebhookService>,
    ledger: Arc<Ledger>,
    s3: aws_sdk_s3::Client,
    bucket: String,
    bucket_is_local: bool,
    layout: ArchiveLayout,
    mapping: EventSourceMapping,
    archiver_metric_lines: MetricLines,
    progress: Progress,
}

impl std::fmt::Debug for LocalSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSystem")
            .field("aws", &self.aws)
            .field("queue_name", &self.queue_name)
            .field("queues", &self.queues)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl LocalSystem {
    /// Creates the queues (and a local bucket), builds the webhook and the archiver from
    /// `settings` plus the local queue and bucket, and starts the event source mapping.
    /// `altinn` is the archiver's Altinn client (built from the same settings).
    pub async fn start(
        aws: LocalAws,
        bucket: ArchiveBucket,
        settings: &Settings,
        altinn: AltinnClient,
        progress: &Progress,
    ) -> Result<LocalSystem, RunError> {
        LocalSystem::start_on(
            Arc::new(aws),
            QUEUE_NAME,
            bucket,
            settings,
            altinn,
            progress,
        )
        .await
    }

    /// [`LocalSystem::start`] on a moto_server other systems may share (see
    /// [`LocalSystem::shared_aws`]), with its own queues `{queue_name}` and
    /// `{queue_name}-dlq`: a second stack next to the first, e.g. with another
    /// `CORRESPONDENCE_ROLE` in `settings`.
    pub async fn start_on(
        aws: Arc<LocalAws>,
        queue_name: &str,
        bucket: ArchiveBucket,
        settings: &Settings,
        altinn: AltinnClient,
        progress: &Progress,
    ) -> Result<LocalSystem, RunError> {
        let sqs = aws.sqs();
        let queues = create_queues(
            &sqs,
            queue_name,
            QueueSettings {
                redrive_max_receive_count: REDRIVE_MAX_RECEIVE_COUNT,
                visibility_timeout: FUNCTION_TIMEOUT,
            },
        )
        .await?;
        progress.step(format!(
            "queues {queue_name} and {queue_name}-dlq created (redrive after \
             {REDRIVE_MAX_RECEIVE_COUNT} receives, visibility {} s)",
            FUNCTION_TIMEOUT.as_secs()
        ));
        let (s3, bucket_name, bucket_is_local) = match bucket {
            ArchiveBucket::Local(name) => {
                let s3 = aws.s3();
                create_bucket(&s3, &name).await?;
                progress.step(format!("bucket {name} created in moto_server"));
                (s3, name, true)
            }
            ArchiveBucket::Aws { name, sdk } => {
                let s3 = lambda_support::aws::s3_client(&sdk);
                s3.head_bucket().bucket(&name).send().await.map_err(|e| {
                    RunError::aws(
                        "S3 HeadBucket (is the bucket there, and are your AWS credentials set?)",
                        e,
                    )
                })?;
                progress.step(format!("writing to your bucket s3://{name}"));
                (s3, name, false)
            }
        };

        let secret = Secret::new(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ));
        let webhook_settings = settings.with(&[
            ("WEBHOOK_SECRET", secret.expose().to_owned()),
            ("QUEUE_URL", queues.queue_url.clone()),
            ("EVENT_TYPES", ARCHIVED_EVENT_TYPE.to_owned()),
        ]);
        let webhook = Arc::new(
            WebhookService::start(&webhook_settings.lookup(), aws.sdk_config(), progress).await?,
        );

        let archiver_settings = settings.with(&[
            ("ARCHIVE_BUCKET", bucket_name.clone()),
            ("QUEUE_URL", queues.queue_url.clone()),
            (
                "DEAD_LETTER_QUEUE_URL",
                queues.dead_letter_queue_url.clone(),
            ),
            ("ARCHIVE_EVENT_TYPES", ARCHIVED_EVENT_TYPE.to_owned()),
            ("MAX_RECEIVE_COUNT", ARCHIVER_MAX_RECEIVE_COUNT.to_string()),
            (
                "VISIBILITY_BACKOFF_SECS",
                VISIBILITY_BACKOFF_SECS.to_string(),
            ),
        ]);
        let config = ArchiverConfig::from_lookup(archiver_settings.lookup())?;
        let layout = ArchiveLayout::new(config.prefix.clone()).map_err(RunError::Setup)?;
        // The archiver's EMF lines (one per message) are kept for the summary, not printed.
        let archiver_metric_lines = MetricLines::default();
        let mut archiver = Archiver::new(&config, altinn, s3.clone(), sqs.clone())?
            .with_metric_lines(archiver_metric_lines.clone());
        if let Some(bus) = &config.event_bus_name {
            let sink = EventBridgeHandOff::on_first_use(aws.sdk_config(), bus);
            archiver = archiver.with_hand_off(Arc::new(sink));
        }
        let archiver = Arc::new(archiver);

        let ledger = Arc::new(Ledger::new());
        let mapping = EventSourceMapping::new(
            sqs.clone(),
            queues.clone(),
            REGION,
            archiver,
            Arc::clone(&ledger),
            progress.clone(),
            FUNCTION_TIMEOUT,
        );
        Ok(LocalSystem {
            aws,
            queue_name: queue_name.to_owned(),
            queues,
            sqs,
            secret,
            webhook,
            ledger,
            s3,
            bucket: bucket_name,
            bucket_is_local,
            layout,
            mapping,
            archiver_metric_lines,
            progress: progress.clone(),
        })
    }

    /// The webhook (serve it over HTTP, or call it directly).
    pub fn webhook(&self) -> &Arc<WebhookService> {
        &self.webhook
    }

    /// The archiver's EMF metric lines so far (one per message handled).
    pub fn archiver_metric_lines(&self) -> Vec<String> {
        self.archiver_metric_lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The per-run webhook secret. Put it only where Altinn needs it (the subscription's
    /// endpoint); never print it.
    pub fn webhook_secret(&self) -> &Secret {
        &self.secret
    }

    /// The events the run expects to see archived.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The moto_server endpoint.
    pub fn aws_endpoint(&self) -> String {
        self.aws.endpoint()
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The moto_server this system runs on, to start another system next to it
    /// ([`LocalSystem::start_on`]); it stops when the last system holding it is dropped.
    pub fn shared_aws(&self) -> Arc<LocalAws> {
        Arc::clone(&self.aws)
    }

    /// The S3 client the archiver writes with.
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The archive's key layout (the archiver's `ARCHIVE_PREFIX`).
    pub fn layout(&self) -> &ArchiveLayout {
        &self.layout
    }

    /// Reads the dead-letter queue and marks the expected events found there as dead-lettered
    /// (those SQS's redrive policy moved carry no reason).
    pub async fn collect_dead_letters(&self) -> Result<Vec<DeadLetterInfo>, RunError> {
        let dead_letters = read_dead_letters(&self.sqs, &self.queues.dead_letter_queue_url).await?;
        for letter in &dead_letters {
            if let Some(event_id) = &letter.event_id {
                self.ledger.found_in_dead_letter_queue(
                    event_id,
                    letter.reason.as_deref().unwrap_or("redrive"),
                    letter.detail.as_deref().unwrap_or_default(),
                );
            }
        }
        Ok(dead_letters)
    }

    /// Runs the event source mapping until every expected event is archived or
    /// dead-lettered, or `timeout` passes (then `true`). Also stops when the queue is empty
    /// and the dead-letter queue holds more than the archiver put there: SQS's redrive moved
    /// the rest, and [`LocalSystem::finish`] reads them from the DLQ. A batch in hand is
    /// finished before this returns.
    pub async fn run_until_settled(&self, timeout: Duration) -> bool {
        self.progress.step(format!(
            "archiver polling {} like Lambda's event source mapping ({POLLERS} pollers, \
             batches of up to 10, partial batch failures)",
            self.queue_name
        ));
        let (stop, stopped) = watch::channel(false);
        let watcher = async {
            let timed_out = self.watch_ledger(timeout).await;
            let _ = stop.send(true);
            timed_out
        };
        let (timed_out, ()) = tokio::join!(watcher, self.mapping.run(POLLERS, stopped));
        timed_out
    }

    /// Runs the event source mapping until `signal` completes (`--keep-running`).
    pub async fn run_until(&self, signal: impl std::future::Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let watcher = async {
            signal.await;
            let _ = stop.send(true);
        };
        tokio::join!(watcher, self.mapping.run(POLLERS, stopped));
    }

    async fn watch_ledger(&self, timeout: Duration) -> bool {
        let started = Instant::now();
        let mut last_check = Instant::now();
        let mut last_report = Instant::now();
        loop {
            if self.ledger.all_settled() {
                return false;
            }
            if started.elapsed() >= timeout {
                self.progress
                    .step(format!("gave up waiting after {} s", timeout.as_secs()));
                return true;
            }
            if last_check.elapsed() >= Duration::from_secs(2) {
                last_check = Instant::now();
                if self.redrive_accounts_for_the_rest().await {
                    return false;
                }
            }
            if last_report.elapsed() >= Duration::from_secs(15) {
                last_report = Instant::now();
                let events = self.ledger.events();
                let settled = events.iter().filter(|e| e.state.is_settled()).count();
                self.progress.step(format!(
                    "waiting: {settled} of {} event(s) settled",
                    events.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn redrive_accounts_for_the_rest(&self) -> bool {
        let events = self.ledger.events();
        let accepted = self.webhook.stats().accepted_event_ids;
        if !events.iter().all(|e| accepted.contains(&e.event_id)) {
            return false;
        }
        let Ok(queued) = queue_depth(&self.sqs, &self.queues.queue_url).await else {
            return false;
        };
        let Ok(dead) = queue_depth(&self.sqs, &self.queues.dead_letter_queue_url).await else {
            return false;
        };
        let dead_lettered_by_archiver = events
            .iter()
            .filter(|e| matches!(e.state, EventState::DeadLettered { .. }))
            .count() as u64;
        queued == 0 && dead > dead_lettered_by_archiver
    }

    /// Reads the dead-letter queue, checks every instance in the bucket and in Altinn (through
    /// `altinn`: is `org` in its `completeConfirmations`?), copies the archives to `output`
    /// when given, and sums it all up.
    pub async fn finish(
        &self,
        altinn: &AltinnClient,
        org: &str,
        output: Option<&Path>,
        events_origin: &str,
        events_sent: usize,
        timed_out: bool,
    ) -> Result<RunSummary, RunError> {
        let dead_letters = self.collect_dead_letters().await?;

        let events = self.ledger.events();
        let mut instances: Vec<InstanceRef> = Vec::new();
        for instance in events.iter().filter_map(TrackedEvent::instance) {
            if !instances.contains(instance) {
                instances.push(instance.clone());
            }
        }
        let mut reports = Vec::with_capacity(instances.len());
        let mut copied = (0usize, 0u64);
        for instance in instances {
            let key_error = |e: archive_model::KeyError| RunError::Setup(e.to_string());
            let prefix = self.layout.instance_prefix(&instance).map_err(key_error)?;
            let manifest = self.layout.manifest(&instance).map_err(key_error)?;
            let objects = list_objects(&self.s3, &self.bucket, &prefix).await?;
            let completed = match altinn.get_instance(&instance).await {
                Ok(raw) => Some(raw.instance.is_confirmed_by(org)),
                Err(error) => {
                    self.progress.step(format!(
                        "could not check {} in Altinn: {error}",
                        instance.instance_id()
                    ));
                    None
                }
            };
            let hard_deleted_skipped = events
                .iter()
                .filter(|e| e.instance() == Some(&instance))
                .filter_map(|e| match e.state {
                    EventState::Archived { skipped, .. } => Some(skipped),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            if let Some(folder) = output {
                mirror(&self.s3, &self.bucket, &objects, folder).await?;
                copied.0 += objects.len();
                copied.1 += objects.iter().map(|o| o.size).sum::<u64>();
            }
            let quarantine = self
                .layout
                .quarantine_prefix(&instance)
                .map_err(key_error)?;
            reports.push(InstanceReport {
                quarantined: objects
                    .iter()
                    .filter(|o| o.key.starts_with(&quarantine))
                    .map(|o| o.key.clone())
                    .collect(),
                archived: objects.iter().any(|o| o.key == manifest),
                manifest,
                objects: objects.len(),
                bytes: objects.iter().map(|o| o.size).sum(),
                instance,
                prefix,
                completed,
                hard_deleted_skipped,
            });
        }
        if let Some(folder) = output {
            self.progress.step(format!(
                "copied {} object(s), {}, to {}/",
                copied.0,
                human_bytes(copied.1),
                folder.display()
            ));
        }
        Ok(RunSummary {
            events_origin: events_origin.to_owned(),
            events_sent,
            webhook: self.webhook.stats(),
            events: self.ledger.events(),
            instances: reports,
            dead_letters,
            timed_out,
            bucket: format!("s3://{}", self.bucket),
            bucket_note: if self.bucket_is_local {
                format!(" (moto_server at {})", self.aws.endpoint())
            } else {
                String::new()
            },
            output: output.map(Path::to_path_buf),
            elapsed: self.progress.elapsed(),
            archiver_metric_lines: self.archiver_metric_lines(),
        })
    }
}
