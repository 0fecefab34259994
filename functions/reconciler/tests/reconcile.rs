//! The reconciler against the Altinn simulator and moto_server, with instances whose events
//! were never delivered (seeded, never published).

use std::collections::HashMap;
use std::time::Duration;

use altinn::event::PROCESS_COMPLETED;
use altinn::{CloudEvent, EventKind, InstanceRef};
use altinn_sim::{InstanceSpec, SeededInstance, SeededScan, SimConfig, Simulator, TaskSpec};
use archive_model::ArchiveLayout;
use lambda_runtime::{Context, LambdaEvent};
use reconciler::event::{ORIGIN_EXTENSION, ORIGIN_RECONCILER};
use reconciler::{Finding, ReconcilerConfig, ReconcilerFunction, StopReason};
use testkit::MotoServer;

const BUCKET: &str = "archive-bucket";
const PREFIX: &str = "archive/";
const APP: &str = "lost-events";

struct Harness {
    moto: MotoServer,
    sim: Simulator,
    queue_url: String,
    config: ReconcilerConfig,
    layout: ArchiveLayout,
}

impl Harness {
    async fn start(extra: &[(&'static str, &str)]) -> Harness {
        let moto = MotoServer::start().await;
        let sim = Simulator::start(SimConfig::default())
            .await
            .expect("simulator");
        moto.create_bucket(BUCKET).await;
        let queue_url = moto.create_queue("events").await;
        let base = sim.base_url().to_string();
        let mut env: HashMap<&'static str, String> = HashMap::from([
            ("ALTINN_ENV", "local".to_owned()),
            ("ALTINN_ORG", "ttd".to_owned()),
            ("ALTINN_PLATFORM_URL", base.clone()),
            ("ALTINN_APPS_URL", base),
            ("MASKINPORTEN_URL", sim.maskinporten_issuer().to_string()),
            ("MASKINPORTEN_CLIENT_ID", "sim-client".to_owned()),
            ("MASKINPORTEN_KID", "sim-kid".to_owned()),
            (
                "MASKINPORTEN_KEY",
                altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM.to_owned(),
            ),
            ("RECONCILE_APPS", format!("ttd/{APP}")),
            ("QUEUE_URL", queue_url.clone()),
            ("ARCHIVE_BUCKET", BUCKET.to_owned()),
            ("ARCHIVE_PREFIX", PREFIX.to_owned()),
            ("ALTINN_MAX_ATTEMPTS", "2".to_owned()),
        ]);
        for (name, value) in extra {
            env.insert(name, (*value).to_owned());
        }
        let config =
            ReconcilerConfig::from_lookup(|name: &str| env.get(name).cloned()).expect("config");
        Harness {
            moto,
            sim,
            queue_url,
            config,
            layout: ArchiveLayout::new(PREFIX).unwrap(),
        }
    }

    async fn function(&self) -> ReconcilerFunction {
        ReconcilerFunction::from_config(&self.config, &self.moto.sdk_config().await)
            .await
            .expect("reconciler")
    }

    fn seed(&self, party_id: u64, completed: bool) -> SeededInstance {
        let mut spec = InstanceSpec::new(APP, party_id);
        spec.completed = completed;
        self.sim.add_instance(spec)
    }

    fn instance_ref(instance: &SeededInstance) -> InstanceRef {
        InstanceRef {
            org: instance.org.clone(),
            app: instance.app.clone(),
            party_id: instance.party_id,
            instance_guid: instance.instance_guid,
        }
    }

    fn manifest_key(&self, instance: &SeededInstance) -> String {
        self.layout.manifest(&Self::instance_ref(instance)).unwrap()
    }

    fn marker_key(&self, instance: &SeededInstance) -> String {
        self.layout
            .reconcile_marker(&Self::instance_ref(instance))
            .unwrap()
    }

    async fn put(&self, key: &str) {
        self.moto
            .s3()
            .await
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(b"{}".to_vec().into())
            .send()
            .await
            .expect("put");
    }

    async fn exists(&self, key: &str) -> bool {
        self.moto
            .s3()
            .await
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .is_ok()
    }

    /// Every message on the queue (received and deleted).
    async fn drain(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let sqs = self.moto.sqs().await;
        let mut all = Vec::new();
        loop {
            let batch = self.moto.receive_all(&self.queue_url).await;
            if batch.is_empty() {
                return all;
            }
            for message in &batch {
                sqs.delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            all.extend(batch);
        }
    }
}

fn attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> String {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .unwrap_or_default()
        .to_owned()
}

fn schedule_event() -> LambdaEvent<serde_json::Value> {
    let text = include_str!("../../../events/reconciler-schedule.json");
    LambdaEvent::new(serde_json::from_str(text).unwrap(), Context::default())
}

#[tokio::test]
async fn enqueues_exactly_the_unarchived_completed_instances_from_the_sample_schedule_event() {
    let harness = Harness::start(&[]).await;
    let lost_a = harness.seed(50_000_001, true);
    let lost_b = harness.seed(50_000_002, true);
    let archived = harness.seed(50_000_003, true);
    let _running = harness.seed(50_000_004, false);
    harness.put(&harness.manifest_key(&archived)).await;

    let function = harness.function().await;
    let summary = function.handle(schedule_event()).await.expect("run");
    let report = &summary.apps[0];
    assert_eq!(
        (
            report.found,
            report.already_archived,
            report.enqueued,
            report.pending
        ),
        (3, 1, 2, 0)
    );
    assert_eq!(report.stopped, None);
    assert_eq!(summary.enqueued, 2);

    let messages = harness.drain().await;
    assert_eq!(messages.len(), 2);
    let allowlist = harness.config.altinn.allowlist();
    let mut instances = Vec::new();
    for message in &messages {
        let event =
            CloudEvent::parse(message.body().unwrap().as_bytes()).expect("a valid CloudEvent");
        assert_eq!(event.event_type, PROCESS_COMPLETED);
        assert_eq!(event.extensions[ORIGIN_EXTENSION], ORIGIN_RECONCILER);
        let EventKind::AppInstance { instance, .. } =
            event.classify(&allowlist).expect("allowlisted")
        else {
            panic!("not an app event");
        };
        assert_eq!(attribute(message, "Origin"), "reconciler");
        assert_eq!(attribute(message, "EventType"), PROCESS_COMPLETED);
        assert_eq!(attribute(message, "EventId"), event.id);
        assert_eq!(
            attribute(message, "Instance"),
            format!("ttd/{APP}/{}", instance.instance_id())
        );
        instances.push(instance);
    }
    instances.sort_by_key(|i| i.party_id);
    let expected: Vec<InstanceRef> = [&lost_a, &lost_b]
        .iter()
        .map(|s| InstanceRef {
            org: "ttd".into(),
            app: APP.into(),
            party_id: s.party_id,
            instance_guid: s.instance_guid,
        })
        .collect();
    assert_eq!(instances, expected);
    assert!(harness.exists(&harness.marker_key(&lost_a)).await);
    assert!(!harness.exists(&harness.marker_key(&archived)).await);

    // The next run finds them pending (enqueued, not archived yet) and sends nothing again.
    let again = function.run(None).await.expect("second run");
    assert_eq!((again.apps[0].pending, again.apps[0].enqueued), (2, 0));
    assert!(harness.drain().await.is_empty());
}

#[tokio::test]
async fn the_bound_stops_a_run_and_the_next_run_resumes_across_pages() {
    let harness =
        Harness::start(&[("RECONCILE_PAGE_SIZE", "2"), ("RECONCILE_MAX_ENQUEUE", "3")]).await;
    for party in 0..5 {
        harness.seed(51_000_000 + party, true);
    }
    let function = harness.function().await;

    let first = function.run(None).await.expect("first run");
    assert_eq!(first.apps[0].enqueued, 3);
    assert_eq!(first.apps[0].stopped, Some(StopReason::EnqueueBound));
    assert_eq!(harness.drain().await.len(), 3);

    let second = function.run(None).await.expect("second run");
    assert_eq!((second.apps[0].pending, second.apps[0].enqueued), (3, 2));
    assert_eq!(second.apps[0].stopped, None);
    assert_eq!(second.apps[0].pages, 3, "five instances in pages of two");
    assert_eq!(harness.drain().await.len(), 2);

    let third = function.run(None).await.expect("third run");
    assert_eq!((third.apps[0].pending, third.apps[0].enqueued), (5, 0));
}

#[tokio::test]
async fn a_dry_run_reports_without_sending_or_marking() {
    let harness = Harness::start(&[]).await;
    let lost = harness.seed(52_000_001, true);
    let function = harness.function().await;
    let app = harness.config.apps[0].clone();
    let report = function
        .reconciler()
        .reconcile_app(
            &app,
            &reconciler::RunOptions {
                dry_run: true,
                max_enqueue: 0,
                deadline: None,
                progress: None,
            },
        )
        .await
        .expect("dry run");
    assert_eq!(report.missing, 1);
    assert_eq!(report.findings[0].finding, Finding::Missing);
    assert_eq!(
        report.findings[0].instance,
        format!("ttd/{APP}/{}/{}", lost.party_id, lost.instance_guid)
    );
    assert!(harness.drain().await.is_empty());
    assert!(!harness.exists(&harness.marker_key(&lost)).await);
}

#[tokio::test]
async fn an_old_marker_is_enqueued_again_and_a_failing_query_fails_the_run() {
    let harness = Harness::start(&[("RECONCILE_REENQUEUE_AFTER_MINUTES", "0")]).await;
    let lost = harness.seed(53_000_001, true);
    harness.put(&harness.marker_key(&lost)).await;
    let function = harness.function().await;
    let summary = function.run(None).await.expect("run");
    assert_eq!(
        summary.apps[0].enqueued, 1,
        "a marker older than the period does not hold it back"
    );
    assert_eq!(harness.drain().await.len(), 1);

    harness.sim.inject(altinn_sim::FaultRule::always(
        altinn_sim::Route::StorageQuery,
        altinn_sim::Fault::Status(500),
    ));
    let error = tokio::time::timeout(Duration::from_secs(60), function.run(None))
        .await
        .expect("bounded by the retry policy")
        .expect_err("the query fails");
    assert_eq!((error.failed, error.total), (1, 1));
}

#[tokio::test]
async fn with_a_feedback_task_it_also_enqueues_a_moved_to_event_for_instances_waiting_there() {
    let harness = Harness::start(&[("FEEDBACK_TASK", "Task_2")]).await;
    let tasks = [TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")];
    let waiting = harness.sim.add_instance(
        InstanceSpec::new(APP, 50_000_021)
            .with_tasks(tasks.clone())
            .at_task("Task_2"),
    );
    let _filling_in = harness.sim.add_instance(
        InstanceSpec::new(APP, 50_000_022)
            .with_tasks(tasks.clone())
            .at_task("Task_1"),
    );
    let lost_completed = harness.sim.add_instance(
        InstanceSpec::new(APP, 50_000_023)
            .with_tasks(tasks)
            .completed(true),
    );

    let function = harness.function().await;
    let summary = function.run(None).await.expect("run");
    let report = &summary.apps[0];
    assert_eq!(
        (report.found, report.at_feedback_task, report.enqueued),
        (2, 1, 2)
    );
    let mut types: Vec<(u64, String)> = harness
        .drain()
        .await
        .iter()
        .map(|message| {
            let event = CloudEvent::parse(message.body().unwrap().as_bytes()).unwrap();
            let EventKind::AppInstance { instance, .. } = event
                .classify(&harness.config.altinn.allowlist())
                .expect("allowlisted")
            else {
                panic!("not an app event");
            };
            assert_eq!(attribute(message, "EventType"), event.event_type);
            (instance.party_id, event.event_type)
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            (
                waiting.party_id,
                "app.instance.process.movedTo.Task_2".to_owned()
            ),
            (lost_completed.party_id, PROCESS_COMPLETED.to_owned()),
        ]
    );
    let waiting_ref = Harness::instance_ref(&waiting);
    assert!(
        harness
            .exists(
                &harness
                    .layout
                    .reconcile_feedback_marker(&waiting_ref)
                    .unwrap()
            )
            .await
    );
    assert!(
        !harness.exists(&harness.marker_key(&waiting)).await,
        "the completed-event marker is left for the completed event"
    );

    // Marked: the next run counts it as pending and sends nothing.
    let again = function.run(None).await.expect("second run");
    assert_eq!((again.apps[0].pending, again.apps[0].enqueued), (2, 0));
    assert!(harness.drain().await.is_empty());
}

#[tokio::test]
async fn an_instance_held_for_review_is_not_enqueued_until_every_infected_element_is_released() {
    let harness = Harness::start(&[]).await;
    let spec = InstanceSpec::new(APP, 50_000_031)
        .completed(true)
        .with_data(altinn_sim::DataSpec::attachment("a.pdf", 64, 1).with_scan(SeededScan::Infected))
        .with_data(altinn_sim::DataSpec::attachment("b.pdf", 64, 2).with_scan(SeededScan::Infected))
        .with_data(altinn_sim::DataSpec::attachment("c.pdf", 64, 3).with_scan(SeededScan::Clean));
    let held = harness.sim.add_instance(spec);
    // Infected too, but never held (INFECTED_POLICY=archive writes no review record).
    let flagged = harness.sim.add_instance(
        InstanceSpec::new(APP, 50_000_032)
            .completed(true)
            .with_data(
                altinn_sim::DataSpec::attachment("d.pdf", 64, 4).with_scan(SeededScan::Infected),
            ),
    );
    let instance = Harness::instance_ref(&held);
    let infected: Vec<String> = held
        .data
        .iter()
        .filter(|d| matches!(d.filename.as_deref(), Some("a.pdf" | "b.pdf")))
        .map(|d| d.id.to_string())
        .collect();
    for id in &infected {
        harness
            .put(&harness.layout.quarantine_review(&instance, id).unwrap())
            .await;
    }
    let function = harness.function().await;

    // The findings (a real run's summary leaves them to the logs).
    let app = harness.config.apps[0].clone();
    let options = reconciler::RunOptions {
        dry_run: true,
        max_enqueue: 0,
        deadline: None,
        progress: None,
    };
    let report = function
        .reconciler()
        .reconcile_app(&app, &options)
        .await
        .expect("dry run");
    let held_finding = report
        .findings
        .iter()
        .find(|f| f.instance.ends_with(&held.instance_guid.to_string()))
        .expect("the held instance is reported");
    assert_eq!(
        held_finding.finding,
        Finding::Held {
            data_element_ids: infected.clone()
        }
    );

    let first = function.run(None).await.expect("run");
    assert_eq!((first.apps[0].held, first.apps[0].enqueued), (1, 1));
    let sent = harness.drain().await;
    assert_eq!(sent.len(), 1);
    assert!(attribute(&sent[0], "Instance").ends_with(&flagged.instance_guid.to_string()));
    assert!(!harness.exists(&harness.marker_key(&held)).await);

    // One element released: still held, for the other.
    harness
        .put(
            &harness
                .layout
                .quarantine_release(&instance, &infected[0])
                .unwrap(),
        )
        .await;
    let second = function.run(None).await.expect("run");
    assert_eq!(second.apps[0].held, 1);
    assert!(harness.drain().await.is_empty());

    // Both released: a lost release message is what the reconciler is for.
    harness
        .put(
            &harness
                .layout
                .quarantine_release(&instance, &infected[1])
                .unwrap(),
        )
        .await;
    let third = function.run(None).await.expect("run");
    assert_eq!((third.apps[0].held, third.apps[0].enqueued), (0, 1));
    let sent = harness.drain().await;
    assert!(attribute(&sent[0], "Instance").ends_with(&held.instance_guid.to_string()));
}
