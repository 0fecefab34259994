//! The event source mapping stand-in, against moto_server and the real archiver: what succeeds
//! is deleted, what fails stays on the queue and comes back, poison ends in the DLQ (with the
//! archiver's reason, or by SQS's redrive when the archiver cannot reach the DLQ).

use std::sync::Arc;
use std::time::{Duration, Instant};

use altinn::{AltinnConfig, RetryPolicy};
use altinn_sim::{Fault, FaultRule, Route, SimConfig, Simulator};
use archiver::{Archiver, ArchiverConfig};
use local_runner::altinn_access::altinn_client;
use local_runner::demo::{demo_settings, instance_ref};
use local_runner::event_source::{EventSourceMapping, PollResult};
use local_runner::ledger::{EventState, Ledger};
use local_runner::local_aws::{
    LocalAws, QueueSettings, Queues, REGION, create_bucket, create_queues, read_dead_letters,
};
use local_runner::progress::Progress;

const BUCKET: &str = "esm-test";

struct Setup {
    aws: LocalAws,
    simulator: Simulator,
    queues: Queues,
    ledger: Arc<Ledger>,
    mapping: EventSourceMapping,
}

/// moto, the simulator, queues that redrive after 2 receives with a 1 s visibility timeout,
/// and the archiver. `dead_letter_queue_url` overrides the archiver's DLQ (to break it).
async fn setup(dead_letter_queue_url: Option<String>) -> Setup {
    let aws = LocalAws::start().await.expect("moto_server");
    let simulator = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let sqs = aws.sqs();
    let queues = create_queues(
        &sqs,
        "esm",
        QueueSettings {
            redrive_max_receive_count: 2,
            visibility_timeout: Duration::from_secs(1),
        },
    )
    .await
    .expect("queues");
    create_bucket(&aws.s3(), BUCKET).await.expect("bucket");
    let settings = demo_settings(&simulator).with(&[
        ("ARCHIVE_BUCKET", BUCKET.to_owned()),
        ("QUEUE_URL", queues.queue_url.clone()),
        (
            "DEAD_LETTER_QUEUE_URL",
            dead_letter_queue_url.unwrap_or_else(|| queues.dead_letter_queue_url.clone()),
        ),
        ("MAX_RECEIVE_COUNT", "5".to_owned()),
        ("VISIBILITY_BACKOFF_SECS", "1".to_owned()),
        ("ALTINN_MAX_ATTEMPTS", "1".to_owned()),
    ]);
    let config = ArchiverConfig::from_lookup(settings.lookup()).expect("archiver config");
    let altinn_config = AltinnConfig::from_lookup(settings.lookup()).expect("altinn config");
    let client = altinn_client(
        &altinn_config,
        &RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
    )
    .await
    .expect("client");
    let archiver =
        Arc::new(Archiver::new(&config, client, aws.s3(), sqs.clone()).expect("archiver"));
    let ledger = Arc::new(Ledger::new());
    let mapping = EventSourceMapping::new(
        sqs,
        queues.clone(),
        REGION,
        archiver,
        Arc::clone(&ledger),
        Progress::capturing(),
        Duration::from_secs(60),
    );
    Setup {
        aws,
        simulator,
        queues,
        ledger,
        mapping,
    }
}

impl Setup {
    async fn send(&self, body: &str) {
        self.aws
            .sqs()
            .send_message()
            .queue_url(&self.queues.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    /// Polls until a poll receives something (or 10 s pass).
    async fn poll_until_received(&self) -> PollResult {
        let started = Instant::now();
        loop {
            let result = self.mapping.poll_once().await.expect("poll");
            if result.received > 0 || started.elapsed() > Duration::from_secs(10) {
                return result;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_the_dead_letter_queue_with_its_reason_and_leaves_the_queue() {
    let setup = setup(None).await;
    setup.send("this is not a CloudEvent").await;
    let result = setup.poll_until_received().await;
    assert_eq!(
        result,
        PollResult {
            received: 1,
            deleted: 1,
            left: 0
        },
        "a dead-lettered message counts as handled and is deleted"
    );
    let letters = read_dead_letters(&setup.aws.sqs(), &setup.queues.dead_letter_queue_url)
        .await
        .expect("dlq");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason.as_deref(), Some("invalid_event"));
    assert_eq!(setup.ledger.unexpected(), 1, "no expected event was in it");
    assert_eq!(setup.mapping.poll_once().await.expect("poll").received, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_stays_on_the_queue_and_is_archived_when_it_comes_back() {
    let setup = setup(None).await;
    let instance = setup
        .simulator
        .add_instance(altinn_sim::InstanceSpec::default());
    setup.simulator.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::Status(503),
        1,
    ));
    let event = setup
        .simulator
        .cloud_event(&instance, "app.instance.process.completed");
    let event_id = event["id"].as_str().expect("id").to_owned();
    setup.ledger.expect(&event_id, instance_ref(&instance));
    setup.send(&event.to_string()).await;

    let first = setup.poll_until_received().await;
    assert_eq!((first.received, first.deleted, first.left), (1, 0, 1));
    assert!(matches!(
        setup.ledger.events()[0].state,
        EventState::Retrying { receives: 1, .. }
    ));

    let second = setup.poll_until_received().await;
    assert_eq!((second.received, second.deleted, second.left), (1, 1, 0));
    assert!(matches!(
        setup.ledger.events()[0].state,
        EventState::Archived {
            duplicate: false,
            ..
        }
    ));
    assert!(setup.ledger.all_settled());
    assert_eq!(
        setup
            .simulator
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_archiver_cannot_dead_letter_the_redrive_policy_does() {
    let unreachable = "http://127.0.0.1:1/123456789012/no-such-queue".to_owned();
    let setup = setup(Some(unreachable)).await;
    setup.send("{ not json").await;
    // Receives 1 and 2: the archiver cannot reach its DLQ, reports a failure, the message stays.
    for _ in 0..2 {
        let result = setup.poll_until_received().await;
        assert_eq!((result.received, result.left), (1, 1), "{result:?}");
    }
    // The third receive is SQS's: past maxReceiveCount it moves the message to the DLQ.
    let started = Instant::now();
    let letters = loop {
        let _ = setup.mapping.poll_once().await.expect("poll");
        let letters = read_dead_letters(&setup.aws.sqs(), &setup.queues.dead_letter_queue_url)
            .await
            .expect("dlq");
        if !letters.is_empty() || started.elapsed() > Duration::from_secs(15) {
            break letters;
        }
    };
    assert_eq!(letters.len(), 1, "the redrive moved it");
    assert_eq!(letters[0].reason, None, "SQS attaches no reason");
}
