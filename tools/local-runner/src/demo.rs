//! `archive-local demo`: the whole system against the Altinn simulator, on this machine, with
//! no AWS account and no Altinn credentials.
//!
//! 1. moto_server (local S3 and SQS) as a child process; queues and bucket as in the stack.
//! 2. The simulator in-process, seeded with the demo instances (one with a large attachment,
//!    one with a hard-deleted element, one still in progress, one waiting in the app's feedback
//!    task).
//! 3. The real webhook served on a loopback port; the real archiver behind the queue.
//! 4. A subscription created through the simulator's Events API, exactly as an operator does
//!    against Altinn: its validation event has to reach the webhook before events flow.
//! 5. The simulator publishes `app.instance.process.completed` for each completed instance and
//!    `app.instance.process.movedTo.Task_2` for the one in the feedback task, and pushes them to
//!    the webhook (with Altinn's retry schedule, sped up). For the latter the archiver archives
//!    its elements, uploads the archive receipt and moves the process on; the app then
//!    publishes its `process.completed`, and the archiver archives, sets the substatus and
//!    completes it.
//! 6. Wait until every event is archived and completed, or in the DLQ; then the summary.
//! 7. Correspondence ([`crate::demo_correspondence`]): one correspondence archived as its sender
//!    and one as its recipient, each by a stack of its own (`CORRESPONDENCE_ROLE`) on the same
//!    moto_server and simulator, each with its own subscription; then where to look.
//! 8. The hand-off events ([`crate::demo_hand_off`]): every stack puts them on one EventBridge
//!    bus, and a case system's rule sends them to a queue, read back and printed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use altinn::client::SubscriptionRequest;
use altinn::{AltinnClient, AltinnConfig, Instance, InstanceRef, RetryPolicy};
use altinn_sim::{
    DEMO_FEEDBACK_TASK, DEMO_RECEIPT_DATA_TYPE, SeededInstance, SimConfig, Simulator,
};
use testkit::hand_off::HandOffEvent;
use uuid::Uuid;

use crate::altinn_access::altinn_client;
use crate::demo_correspondence::{
    CorrespondenceDemo, CorrespondenceReport, print_correspondence_summary, run_correspondence_demo,
};
use crate::demo_hand_off::{self, DEMO_HAND_OFF_BUS};
use crate::error::RunError;
use crate::local_aws::LocalAws;
use crate::progress::{Progress, human_bytes};
use crate::settings::Settings;
use crate::summary::RunSummary;
use crate::system::{ARCHIVED_EVENT_TYPE, ArchiveBucket, LocalSystem};
use crate::webhook_server::WebhookServer;

/// The demo's bucket in moto_server.
pub const DEMO_BUCKET: &str = "altinn-archive-demo";
/// The path the webhook is served under (any path works; this one reads well).
pub const WEBHOOK_PATH: &str = "/altinn/events";
/// Altinn's event retry delays (10 s, 30 s, …) times this: a failed push comes back in 0.1 s.
pub const RETRY_TIME_SCALE: f64 = 0.01;
/// The substatus the demo's archiver sets on every instance it archives.
pub const DEMO_SUBSTATUS_LABEL: &str = "Arkivert hos etaten";
/// How long Altinn may take to validate the subscription.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(30);
const MIB: u64 = 1024 * 1024;

/// `archive-local demo` options.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Size of the demo's large attachment.
    pub large_attachment_bytes: u64,
    /// Where to copy the archive (a `run-…` folder is made inside).
    pub output: PathBuf,
    /// Give up waiting for the archive after this long.
    pub timeout: Duration,
    /// Leave everything running after the summary, until Ctrl-C.
    pub keep_running: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            large_attachment_bytes: 50 * MIB,
            output: PathBuf::from("demo-output"),
            timeout: Duration::from_secs(300),
            keep_running: false,
        }
    }
}

/// What the demo did.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The summary that was printed.
    pub summary: RunSummary,
    /// The instances the simulator was seeded with.
    pub seeded: Vec<SeededInstance>,
    /// Per seeded instance, the `completeConfirmations` stakeholders the simulator recorded.
    pub confirmations: Vec<(InstanceRef, Vec<String>)>,
    /// Per seeded instance, the simulator's instance JSON at the end (substatus, data, process).
    pub final_instances: Vec<(InstanceRef, serde_json::Value)>,
    /// The correspondences archived, as sender and as recipient.
    pub correspondence: Vec<CorrespondenceReport>,
    /// What the case system's queue received from the hand-off bus.
    pub hand_off: Vec<HandOffEvent>,
    /// With `--keep-running`: everything, still running.
    pub running: Option<RunningDemo>,
}

impl DemoOutcome {
    /// The instances and the correspondences went as they should.
    pub fn succeeded(&self) -> bool {
        self.summary.succeeded()
            && self.correspondence.iter().all(|r| r.problems().is_empty())
            && demo_hand_off::problems(&self.hand_off, self.summary.instances.len()).is_empty()
    }
}

/// The demo's parts, kept alive for `--keep-running`.
#[derive(Debug)]
pub struct RunningDemo {
    system: LocalSystem,
    server: WebhookServer,
    simulator: Simulator,
}

impl RunningDemo {
    /// Says where everything is.
    pub fn print_endpoints(&self, progress: &Progress) {
        progress.plain("");
        progress.plain("Still running (Ctrl-C stops everything, moto_server included):");
        progress.plain(format!(
            "  Altinn simulator  {}  (ALTINN_ENV=local)",
            self.simulator.base_url()
        ));
        progress.plain(format!(
            "  webhook           {}{WEBHOOK_PATH}?code=***",
            self.server.base_url()
        ));
        progress.plain(format!(
            "  S3 and SQS        {}  e.g. aws --endpoint-url {} s3 ls s3://{} --recursive",
            self.system.aws_endpoint(),
            self.system.aws_endpoint(),
            self.system.bucket()
        ));
    }

    /// Keeps archiving whatever reaches the webhook until `signal` completes.
    pub async fn run_until(&self, signal: impl std::future::Future<Output = ()>) {
        self.system.run_until(signal).await;
    }

    /// Stops the webhook, the simulator and moto_server.
    pub async fn shutdown(self) {
        let RunningDemo {
            system,
            server,
            simulator,
        } = self;
        server.stop().await;
        simulator.shutdown().await;
        drop(system);
    }
}

/// The settings the functions get in the demo: the simulator as Altinn (`local`), its test
/// Maskinporten client and key (public, test-only).
pub fn demo_settings(simulator: &Simulator) -> Settings {
    let config = simulator.config();
    let mut settings = Settings::new();
    settings
        .set("ALTINN_ENV", "local")
        .set("ALTINN_ORG", config.org.as_str())
        .set("ALTINN_PLATFORM_URL", simulator.platform_url().as_str())
        .set("ALTINN_APPS_URL", simulator.apps_url().as_str())
        .set("MASKINPORTEN_URL", simulator.maskinporten_issuer().as_str())
        .set("MASKINPORTEN_CLIENT_ID", config.client_id.as_str())
        .set("MASKINPORTEN_KID", config.client_kid.as_str())
        .set("MASKINPORTEN_KEY", altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM);
    settings
}

/// Runs the demo and prints its summary. An `Err` means it could not run at all; a run that
/// ran but failed is `Ok` with a summary that says so.
pub async fn run_demo(options: &DemoOptions, progress: &Progress) -> Result<DemoOutcome, RunError> {
    progress.step(
        "archive-local demo: the real webhook and archiver, the Altinn simulator, local S3 and SQS",
    );
    let aws = LocalAws::start().await?;
    progress.step(format!(
        "moto_server (local S3 and SQS) listening on {}",
        aws.endpoint()
    ));

    let simulator = Simulator::start(SimConfig {
        retry_time_scale: RETRY_TIME_SCALE,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| RunError::Setup(format!("the Altinn simulator did not start: {e}")))?;
    let org = simulator.config().org.clone();
    progress.step(format!(
        "Altinn simulator listening on {} (Maskinporten, Storage, Events; org {org})",
        simulator.base_url()
    ));
    let seeded = simulator.seed_demo(options.large_attachment_bytes);
    let infected = mark_one_infected(&simulator, &seeded);
    let mut completed = Vec::new();
    let mut in_feedback = Vec::new();
    for instance in &seeded {
        let is_complete = process_complete(&simulator, instance);
        let waits_for_feedback =
            current_task(&simulator, instance).as_deref() == Some(DEMO_FEEDBACK_TASK);
        let live: Vec<_> = instance.live_data().collect();
        let deleted = instance.data.len() - live.len();
        progress.step(format!(
            "seeded {} {}: {} data element(s), {}{}{}",
            instance.app_id(),
            instance.instance_id(),
            live.len(),
            human_bytes(live.iter().map(|d| d.size).sum()),
            if deleted > 0 {
                format!(", {deleted} hard-deleted")
            } else {
                String::new()
            },
            if is_complete {
                ", process completed".to_owned()
            } else if waits_for_feedback {
                format!(", waiting in the app's feedback task {DEMO_FEEDBACK_TASK}")
            } else {
                ", still in its first task".to_owned()
            }
        ));
        if is_complete {
            completed.push(instance.clone());
        } else if waits_for_feedback {
            in_feedback.push(instance.clone());
        }
    }

    let bus = demo_hand_off::create(aws.sdk_config(), progress).await;
    if let Some((instance, data)) = &infected {
        progress.step(format!(
            "Altinn's malware scan finds {} of {} Infected; INFECTED_POLICY=archive: it is \
             archived under quarantine/, flagged (the default, hold, waits for a person)",
            data.filename.as_deref().unwrap_or("an element"),
            instance.instance_id()
        ));
    }
    let mut settings = demo_settings(&simulator);
    settings
        .set("EVENT_BUS_NAME", DEMO_HAND_OFF_BUS)
        .set("FEEDBACK_TASK", DEMO_FEEDBACK_TASK)
        .set("RECEIPT_DATA_TYPE", DEMO_RECEIPT_DATA_TYPE)
        .set("ARCHIVED_SUBSTATUS_LABEL", DEMO_SUBSTATUS_LABEL)
        .set("INFECTED_POLICY", "archive");
    progress.step(format!(
        "write-back on: FEEDBACK_TASK={DEMO_FEEDBACK_TASK}, RECEIPT_DATA_TYPE={DEMO_RECEIPT_DATA_TYPE}, \
         ARCHIVED_SUBSTATUS_LABEL=\"{DEMO_SUBSTATUS_LABEL}\""
    ));
    let altinn_config = AltinnConfig::from_lookup(settings.lookup())?;
    let client = altinn_client(&altinn_config, &RetryPolicy::default()).await?;
    let system = LocalSystem::start(
        aws,
        ArchiveBucket::Local(DEMO_BUCKET.to_owned()),
        &settings,
        client.clone(),
        progress,
    )
    .await?;
    let server = WebhookServer::start(system.webhook().clone()).await?;
    progress.step(format!(
        "webhook listening on {}{WEBHOOK_PATH}?code=*** (a new secret for every run)",
        server.base_url()
    ));

    let app = seeded
        .first()
        .map(|i| i.app.clone())
        .unwrap_or_else(|| "demo-app".to_owned());
    subscribe(&client, &system, &server, &simulator, &org, &app, progress).await?;

    for instance in &seeded {
        if !completed.contains(instance) && !in_feedback.contains(instance) {
            progress.step(format!(
                "no event for {}: its process has not ended, so there is nothing to archive yet",
                instance.instance_id()
            ));
        }
    }
    for instance in &completed {
        let event_id = simulator.publish(instance, ARCHIVED_EVENT_TYPE);
        system.ledger().expect(&event_id, instance_ref(instance));
        progress.step(format!(
            "simulator publishes {ARCHIVED_EVENT_TYPE} for {} (event {event_id})",
            instance.instance_id()
        ));
    }
    let moved_to = altinn::event::process_moved_to(DEMO_FEEDBACK_TASK);
    for instance in &in_feedback {
        let event_id = simulator.publish(instance, &moved_to);
        system.ledger().expect(&event_id, instance_ref(instance));
        progress.step(format!(
            "simulator publishes {moved_to} for {} (event {event_id}); its {ARCHIVED_EVENT_TYPE} \
             follows once the archiver has moved the process on",
            instance.instance_id()
        ));
    }

    let timed_out = system.run_until_settled(options.timeout).await;
    let folder = options.output.join(format!("run-{}", run_stamp()));
    let summary = system
        .finish(
            &client,
            &org,
            Some(&folder),
            "published by the simulator",
            completed.len() + 2 * in_feedback.len(),
            timed_out,
        )
        .await?;
    summary.print(progress);

    let correspondence = run_correspondence_demo(
        &CorrespondenceDemo {
            aws: system.shared_aws(),
            simulator: &simulator,
            settings: &demo_settings(&simulator)
                .with(&[("EVENT_BUS_NAME", DEMO_HAND_OFF_BUS.to_owned())]),
            client: &client,
            output: Some(&folder),
            timeout: options.timeout,
        },
        progress,
    )
    .await?;
    print_correspondence_summary(&correspondence, progress);
    let hand_off = demo_hand_off::received(&bus).await;
    demo_hand_off::print(&hand_off, summary.instances.len(), progress);

    let confirmations = seeded
        .iter()
        .map(|instance| {
            let stakeholders = simulator
                .complete_confirmations(instance.party_id, instance.instance_guid)
                .into_iter()
                .map(|(stakeholder, _)| stakeholder)
                .collect();
            (instance_ref(instance), stakeholders)
        })
        .collect();
    let final_instances = seeded
        .iter()
        .filter_map(|instance| {
            let json = simulator.instance_json(instance.party_id, instance.instance_guid)?;
            Some((instance_ref(instance), json))
        })
        .collect();
    let running = RunningDemo {
        system,
        server,
        simulator,
    };
    let running = if options.keep_running {
        Some(running)
    } else {
        running.shutdown().await;
        None
    };
    Ok(DemoOutcome {
        summary,
        seeded,
        confirmations,
        final_instances,
        correspondence,
        hand_off,
        running,
    })
}

/// Has Altinn's malware scan find the first completed instance's last live attachment
/// `Infected`, so the demo shows one quarantined file. Returns that instance and element.
fn mark_one_infected(
    simulator: &Simulator,
    seeded: &[SeededInstance],
) -> Option<(SeededInstance, altinn_sim::SeededData)> {
    let instance = seeded
        .iter()
        .find(|i| process_complete(simulator, i) && i.data.iter().any(|d| d.hard_deleted))?;
    let data = instance
        .live_data()
        .filter(|d| d.data_type == "attachment")
        .last()?
        .clone();
    simulator
        .set_scan(
            instance.instance_guid,
            data.id,
            altinn_sim::SeededScan::Infected,
        )
        .then(|| (instance.clone(), data))
}

/// Creates the subscription through the Events API and waits for Altinn to validate it (its
/// validation event must reach the webhook and get a 200).
async fn subscribe(
    client: &AltinnClient,
    system: &LocalSystem,
    server: &WebhookServer,
    simulator: &Simulator,
    org: &str,
    app: &str,
    progress: &Progress,
) -> Result<(), RunError> {
    let request = SubscriptionRequest {
        end_point: format!(
            "{}{WEBHOOK_PATH}?code={}",
            server.base_url(),
            system.webhook_secret().expose()
        ),
        source_filter: Some(format!("{}{org}/{app}", simulator.apps_url())),
        // No type filter: with a feedback task the `movedTo` event must come too.
        type_filter: None,
        ..SubscriptionRequest::default()
    };
    let subscription = client.create_subscription(&request).await?;
    progress.step(format!(
        "subscription {} created through the Events API: every event of {org}/{app} \
         to {}{WEBHOOK_PATH}?code=***",
        subscription.id,
        server.base_url()
    ));
    let started = Instant::now();
    loop {
        if client.get_subscription(subscription.id).await?.validated {
            progress.step(format!(
                "subscription {} validated: Altinn may now push events",
                subscription.id
            ));
            return Ok(());
        }
        if started.elapsed() > VALIDATION_TIMEOUT {
            return Err(RunError::Setup(format!(
                "subscription {} was not validated within {} s: the validation event did not \
                 get a 200 from the webhook",
                subscription.id,
                VALIDATION_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The id of the task the seeded instance is at, read from its Storage JSON.
fn current_task(simulator: &Simulator, instance: &SeededInstance) -> Option<String> {
    simulator
        .instance_json(instance.party_id, instance.instance_guid)
        .and_then(|json| serde_json::from_value::<Instance>(json).ok())
        .and_then(|instance| instance.process?.current_task?.element_id)
}

/// Whether the seeded instance's process has ended, read from its Storage JSON.
fn process_complete(simulator: &Simulator, instance: &SeededInstance) -> bool {
    simulator
        .instance_json(instance.party_id, instance.instance_guid)
        .and_then(|json| serde_json::from_value::<Instance>(json).ok())
        .is_some_and(|instance| instance.is_process_complete())
}

/// The seeded instance as the archive names it.
pub fn instance_ref(instance: &SeededInstance) -> InstanceRef {
    InstanceRef {
        org: instance.org.clone(),
        app: instance.app.clone(),
        party_id: instance.party_id,
        instance_guid: instance.instance_guid,
    }
}

/// `20260102T030405Z-1a2b3c`: sortable, and unique even for two runs in one second.
fn run_stamp() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let now = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "now".to_owned());
    let suffix = Uuid::new_v4().simple().to_string();
    format!("{now}-{}", &suffix[..6])
}
