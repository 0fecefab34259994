//! The whole system on one machine, wired like the SAM stack: webhook → SQS → archiver → S3,
//! with the simulator as Altinn. Built from `local-runner`'s pieces (the webhook HTTP server,
//! the event source mapping, the ledger) so the loop that feeds the archiver is the one the
//! demo uses, not a second copy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use altinn::client::SubscriptionRequest;
use altinn::{AltinnClient, AltinnConfig, RetryPolicy, Secret};
use altinn_sim::Simulator;
use archive_model::ArchiveLayout;
use archiver::hand_off::EventBridgeHandOff;
use archiver::{Archiver, ArchiverConfig};
use local_runner::altinn_access::altinn_client;
use local_runner::demo::demo_settings;
use local_runner::event_source::EventSourceMapping;
use local_runner::ledger::Ledger;
use local_runner::local_aws::{QueueSettings, Queues, create_bucket, create_queues};
use local_runner::progress::Progress;
use local_runner::webhook_server::{WebhookServer, WebhookService};
use testkit::hand_off::HandOffBus;
use testkit::{MotoServer, REGION};

use sha2::{Digest, Sha256};

use crate::gate::HttpGate;
use crate::proxy::TcpProxy;

/// The path the webhook is served under.
pub const WEBHOOK_PATH: &str = "/altinn/events";
/// The bucket the archive goes to.
pub const BUCKET: &str = "altinn-archive-chaos";
/// The hand-off bus the archiver puts its events on.
pub const HAND_OFF_BUS: &str = "altinn-archive-chaos-hand-off";

/// Knobs of one system.
#[derive(Debug, Clone)]
pub struct SystemOptions {
    /// The Altinn client's retries and per-request timeout.
    pub retry: RetryPolicy,
    /// The archiver's `VISIBILITY_BACKOFF_SECS`.
    pub visibility_backoff_secs: u64,
    /// The archiver's `MAX_RECEIVE_COUNT`.
    pub archiver_max_receive_count: u32,
    /// The queue's redrive `maxReceiveCount` (higher than the archiver's).
    pub redrive_max_receive_count: u32,
    /// The archiver's function timeout (and the queue's visibility timeout).
    pub function_timeout: Duration,
    /// The webhook's `ENQUEUE_TIMEOUT_MS`.
    pub enqueue_timeout_ms: u64,
    /// Reach Altinn's platform and apps routes here instead of the simulator's own URL (a
    /// rewriting proxy in front of it); the Maskinporten issuer stays the simulator's.
    pub altinn_url: Option<String>,
    /// More settings for both functions (e.g. `FEEDBACK_TASK`), applied last.
    pub extra_settings: Vec<(&'static str, String)>,
}

impl Default for SystemOptions {
    fn default() -> Self {
        SystemOptions {
            retry: RetryPolicy::default(),
            visibility_backoff_secs: 1,
            archiver_max_receive_count: 8,
            redrive_max_receive_count: 12,
            function_timeout: Duration::from_secs(60),
            enqueue_timeout_ms: 4000,
            altinn_url: None,
            extra_settings: Vec::new(),
        }
    }
}

impl SystemOptions {
    /// The chaos runs' knobs: quick client retries with `request_timeout` per attempt (latency
    /// faults wait longer), a short function timeout that is also the queue's visibility
    /// timeout (a message whose delete was lost in an outage comes back after it, as after a
    /// Lambda timeout), and receive counts high enough for every fault to be retried through.
    pub fn chaos(request_timeout: Duration) -> Self {
        SystemOptions {
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(50),
                max_delay: Duration::from_secs(1),
                request_timeout,
            },
            visibility_backoff_secs: 1,
            archiver_max_receive_count: 30,
            redrive_max_receive_count: 40,
            // The archiver starts no new step in the last 15 s (DEADLINE_MARGIN_SECS, kept at
            // its default so a hand-off and its mark fit as in production), so 30 s leaves 15 s
            // of work per receive. With 20 s, an instance that took over 5 s could not start its
            // hand-off, came back, and its retry loaded moto for the others.
            function_timeout: Duration::from_secs(30),
            enqueue_timeout_ms: 1500,
            ..SystemOptions::default()
        }
    }
}

/// Everything running. Dropping it stops the servers.
pub struct ChaosSystem {
    /// The `moto_server` (reached by the functions through [`ChaosSystem::proxy`]).
    pub moto: MotoServer,
    /// The cuttable path from the functions to moto.
    pub proxy: TcpProxy,
    /// The archiver's own path to the hand-off bus on moto: closed, `PutEvents` fails, and
    /// never after moto took the event.
    pub bus_gate: HttpGate,
    /// The hand-off bus, with a case system's rule and queue (read straight from moto).
    pub hand_off: HandOffBus,
    /// The event queue and its DLQ.
    pub queues: Queues,
    /// S3 straight to moto (for the test's own checks, not through the proxy).
    pub s3: aws_sdk_s3::Client,
    /// SQS straight to moto.
    pub sqs: aws_sdk_sqs::Client,
    /// The webhook with its counters.
    pub webhook: Arc<WebhookService>,
    /// The webhook served over HTTP.
    pub server: WebhookServer,
    /// The archiver's feed.
    pub mapping: EventSourceMapping,
    /// What became of each expected event.
    pub ledger: Arc<Ledger>,
    /// Our Altinn client (same settings as the archiver's), for subscribing and checking.
    pub altinn: AltinnClient,
    /// The archive's key layout.
    pub layout: ArchiveLayout,
    /// The webhook secret of this run.
    pub secret: Secret,
    /// Progress lines of the event source mapping and the webhook.
    pub progress: Progress,
}

impl std::fmt::Debug for ChaosSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosSystem")
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

impl ChaosSystem {
    /// Starts moto, the proxy, the queues, the bucket, the webhook and the archiver, all
    /// configured for `simulator` as Altinn (`ALTINN_ENV=local`).
    ///
    /// # Panics
    /// When any part cannot start: the test must fail loudly.
    pub async fn start(simulator: &Simulator, options: &SystemOptions) -> ChaosSystem {
        let moto = MotoServer::start().await;
        let target = moto
            .endpoint()
            .trim_start_matches("http://")
            .parse()
            .expect("moto endpoint is host:port");
        let proxy = TcpProxy::start(target).await.expect("proxy starts");
        let bus_gate = HttpGate::start(&moto.endpoint())
            .await
            .expect("bus gate starts");
        let direct = moto.sdk_config().await;
        let proxied = testkit::sdk_config_for(&proxy.endpoint()).await;
        let sqs = aws_sdk_sqs::Client::new(&direct);
        let s3 = lambda_support::aws::s3_client(&direct);
        let queues = create_queues(
            &sqs,
            "altinn-events",
            QueueSettings {
                redrive_max_receive_count: options.redrive_max_receive_count,
                visibility_timeout: options.function_timeout,
            },
        )
        .await
        .expect("queues");
        create_bucket(&s3, BUCKET).await.expect("bucket");
        let hand_off = HandOffBus::create(&direct, HAND_OFF_BUS).await;

        let progress = Progress::capturing();
        let secret = Secret::new(format!(
            "chaos{}{}",
            uuid_like(),
            uuid_like().to_uppercase()
        ));
        let mut settings = demo_settings(simulator);
        if let Some(url) = &options.altinn_url {
            settings
                .set("ALTINN_PLATFORM_URL", url.as_str())
                .set("ALTINN_APPS_URL", url.as_str());
        }
        for (name, value) in &options.extra_settings {
            settings.set(name, value.as_str());
        }
        let webhook_settings = settings.with(&[
            ("WEBHOOK_SECRET", secret.expose().to_owned()),
            ("QUEUE_URL", queues.queue_url.clone()),
            ("ENQUEUE_TIMEOUT_MS", options.enqueue_timeout_ms.to_string()),
        ]);
        let webhook = Arc::new(
            WebhookService::start(&webhook_settings.lookup(), &proxied, &progress)
                .await
                .expect("webhook starts"),
        );
        let server = WebhookServer::start(Arc::clone(&webhook))
            .await
            .expect("webhook server starts");

        let archiver_settings = settings.with(&[
            ("ARCHIVE_BUCKET", BUCKET.to_owned()),
            ("QUEUE_URL", queues.queue_url.clone()),
            (
                "DEAD_LETTER_QUEUE_URL",
                queues.dead_letter_queue_url.clone(),
            ),
            (
                "MAX_RECEIVE_COUNT",
                options.archiver_max_receive_count.to_string(),
            ),
            (
                "VISIBILITY_BACKOFF_SECS",
                options.visibility_backoff_secs.to_string(),
            ),
            (
                "ALTINN_MAX_ATTEMPTS",
                options.retry.max_attempts.to_string(),
            ),
            (
                "ALTINN_REQUEST_TIMEOUT_SECS",
                options.retry.request_timeout.as_secs().max(1).to_string(),
            ),
        ]);
        let config = ArchiverConfig::from_lookup(archiver_settings.lookup()).expect("config");
        let layout = ArchiveLayout::new(config.prefix.clone()).expect("layout");
        let altinn_config = AltinnConfig::from_lookup(settings.lookup()).expect("altinn config");
        let archiver_altinn = altinn_client(&altinn_config, &options.retry)
            .await
            .expect("archiver's Altinn client");
        let altinn = altinn_client(&altinn_config, &RetryPolicy::default())
            .await
            .expect("the test's Altinn client");
        let archiver = Arc::new(
            Archiver::new(
                &config,
                archiver_altinn,
                lambda_support::aws::s3_client(&proxied),
                aws_sdk_sqs::Client::new(&proxied),
            )
            .expect("archiver")
            .with_hand_off(Arc::new(EventBridgeHandOff::on_first_use(
                &testkit::sdk_config_for(&bus_gate.endpoint()).await,
                HAND_OFF_BUS,
            ))),
        );
        let ledger = Arc::new(Ledger::new());
        let mapping = EventSourceMapping::new(
            aws_sdk_sqs::Client::new(&proxied),
            queues.clone(),
            REGION,
            archiver,
            Arc::clone(&ledger),
            progress.clone(),
            options.function_timeout,
        );
        ChaosSystem {
            moto,
            proxy,
            bus_gate,
            hand_off,
            queues,
            s3,
            sqs,
            webhook,
            server,
            mapping,
            ledger,
            altinn,
            layout,
            secret,
            progress,
        }
    }

    /// The webhook URL with the secret, as a subscription's endpoint.
    pub fn endpoint_with_secret(&self) -> String {
        format!(
            "{}{WEBHOOK_PATH}?code={}",
            self.server.base_url(),
            self.secret.expose()
        )
    }

    /// The webhook URL without a query.
    pub fn endpoint(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.server.base_url())
    }

    /// Subscribes to `app.instance.process.completed` of `org/app` and waits for the
    /// validation event to get its 200.
    ///
    /// # Panics
    /// When the subscription is not validated within 30 s.
    pub async fn subscribe(&self, simulator: &Simulator, org: &str, app: &str) {
        self.subscribe_to(simulator, org, app, Some(altinn::event::PROCESS_COMPLETED))
            .await;
    }

    /// Subscribes to the events of `org/app` of `event_type` (every type when `None`) and
    /// waits for the validation event to get its 200.
    ///
    /// # Panics
    /// When the subscription is not validated within 30 s.
    pub async fn subscribe_to(
        &self,
        simulator: &Simulator,
        org: &str,
        app: &str,
        event_type: Option<&str>,
    ) {
        self.subscribe_with(SubscriptionRequest {
            end_point: self.endpoint_with_secret(),
            source_filter: Some(format!("{}{org}/{app}", simulator.apps_url())),
            type_filter: event_type.map(str::to_owned),
            ..SubscriptionRequest::default()
        })
        .await;
    }

    /// Subscribes to every event of a generic resource (e.g. a Correspondence resource, by
    /// its id without `urn:altinn:resource:`) and waits for the validation.
    ///
    /// # Panics
    /// When the subscription is not validated within 30 s.
    pub async fn subscribe_to_resource(&self, resource_id: &str) {
        self.subscribe_with(SubscriptionRequest {
            end_point: self.endpoint_with_secret(),
            resource_filter: Some(format!("urn:altinn:resource:{resource_id}")),
            ..SubscriptionRequest::default()
        })
        .await;
    }

    async fn subscribe_with(&self, request: SubscriptionRequest) {
        let subscription = self
            .altinn
            .create_subscription(&request)
            .await
            .expect("create subscription");
        let started = Instant::now();
        while !self
            .altinn
            .get_subscription(subscription.id)
            .await
            .expect("get subscription")
            .validated
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the subscription was not validated"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Lower-case hex SHA-256 and size of an object in [`BUCKET`], streamed.
    ///
    /// # Panics
    /// When the object cannot be read.
    pub async fn object_digest(&self, key: &str) -> (String, u64) {
        let mut body = self
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key} is in S3: {e}"))
            .body;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.try_next().await.expect("read object") {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        (format!("{:x}", hasher.finalize()), size)
    }
}

/// 32 hex characters from the clock and a counter (no extra dependency for a random id).
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "{:032x}",
        nanos ^ (u128::from(n) << 64) ^ 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834
    )
}
