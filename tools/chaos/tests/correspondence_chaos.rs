//! The chaos run with Altinn Correspondence traffic mixed in, archived as the sender
//! (`CORRESPONDENCE_ROLE=sender`): the simulator pushes every event to the real webhook over
//! HTTP, the archiver works behind the queue, and a few app instances go through alongside.
//!
//! Each correspondence is driven through a lifecycle in the simulator, in order: attachments
//! published, then `ReadyForPublish`/`Published` (or `Failed`), notifications, `Fetched`, `Read`,
//! `Confirmed` for some, the due-date events (`receiverneverread`/`…neverconfirmed`) for others.
//! Every status is applied in the simulator before its event is made, as Altinn does; the
//! events are then delivered in shuffled batches, some twice (the same id, at another time), so
//! the archiver sees `Read` before `Published`, a duplicate long after the original, and so on.
//! The Correspondence routes, the token routes and the Storage routes fail now and then (5xx,
//! 429, dropped connections, cut-short bodies, answers slower than the client's timeout), at
//! rates that retries get through.
//!
//! Afterwards, for every correspondence: its manifest exists, holds every status the simulator
//! holds (`correspondence_status_history`), each once and in time order, one entry for every
//! status event delivered (duplicates absorbed), every event it was sent, every notification
//! event, its attachments byte for byte; every object it lists is in S3 with its size and
//! SHA-256. Nothing is in the dead-letter queue, and no push was given up. One
//! `CHAOS-CORR …` line of figures is printed.
//!
//! Halfway through the lifecycles the S3/SQS path is cut for a while (see `chaos.rs`).
//!
//! Scale with environment variables: `CHAOS_CORR_COUNT` (default 12), `CHAOS_CORR_INSTANCES`
//! (4), `CHAOS_CORR_TIMEOUT_SECS` (120), `CHAOS_CORR_OUTAGE_MS` (2000); `CHAOS_CORR_SEED`
//! picks another plan (the seed is printed first; the default one is fixed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use altinn::InstanceRef;
use altinn::event::PROCESS_COMPLETED;
use altinn_sim::{
    CorrespondenceSpec, DataSpec, Fault, FaultRule, InstanceSpec, Route, SeededCorrespondence,
    SeededInstance, SimConfig, Simulator,
};
use archive_model::Manifest;
use archive_model::correspondence::{
    ArchiveRole, AttachmentState, CorrespondenceManifest, CorrespondenceObjectRole, StatusSource,
};
use chaos::system::BUCKET;
use chaos::{ChaosSystem, SystemOptions};
use local_runner::demo::instance_ref;
use local_runner::ledger::EventState;
use local_runner::local_aws::{queue_depth, read_dead_letters};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use uuid::Uuid;

const RESOURCE: &str = "ttd-chaos-correspondence";
/// The sender is the simulator's own org (`ttd`); the recipient another organisation.
const SENDER_ORG: &str = "ttd";
const RECIPIENT_ORGNO: &str = "910000001";
const APP: &str = "corr-chaos-app";
const EVENT_PREFIX: &str = "no.altinn.correspondence.";
/// The archiver's per-request timeout; the latency faults wait longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Bursts that must be met: the first details calls all fail, and so do attachment downloads.
const DETAILS_BURST: u32 = 5;
const DOWNLOAD_BURST: u32 = 2;
/// The plan's seed unless `CHAOS_CORR_SEED` names another: fixed, so a CI failure repeats.
const DEFAULT_SEED: u64 = 20_261_204;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[path = "correspondence_chaos/check.rs"]
mod check;
#[path = "correspondence_chaos/plan.rs"]
mod plan;

use check::*;
use plan::*;

/// The whole system as the sender of [`RESOURCE`], subscribed to its events.
async fn start_system(simulator: &Simulator) -> ChaosSystem {
    let options = SystemOptions {
        extra_settings: vec![
            ("CORRESPONDENCE_ROLE", "sender".to_owned()),
            ("CORRESPONDENCE_RESOURCES", RESOURCE.to_owned()),
        ],
        ..SystemOptions::chaos(REQUEST_TIMEOUT)
    };
    let system = ChaosSystem::start(simulator, &options).await;
    system.subscribe_to_resource(RESOURCE).await;
    system
}

/// Waits until every event the ledger expects is settled and the queue stayed empty for three
/// checks in a row (late duplicates still go through the archiver), or `deadline` passes.
async fn settle(system: &ChaosSystem, deadline: Instant, only: Option<&BTreeSet<String>>) {
    let mut empty_checks = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let settled = match only {
            None => system.ledger.all_settled(),
            Some(ids) => system
                .ledger
                .events()
                .iter()
                .filter(|e| ids.contains(&e.event_id))
                .all(|e| e.state.is_settled()),
        };
        if !settled {
            empty_checks = 0;
            continue;
        }
        if only.is_some() {
            return;
        }
        let depth = queue_depth(&system.sqs, &system.queues.queue_url).await;
        empty_checks = if matches!(depth, Ok(0)) {
            empty_checks + 1
        } else {
            0
        };
        if empty_checks >= 3 {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correspondence_chaos_run_keeps_every_status_of_every_correspondence() {
    let started = Instant::now();
    let count = setting("CHAOS_CORR_COUNT", 12);
    let instance_count = setting("CHAOS_CORR_INSTANCES", 4);
    let timeout = Duration::from_secs(setting("CHAOS_CORR_TIMEOUT_SECS", 120));
    let outage = Duration::from_millis(setting("CHAOS_CORR_OUTAGE_MS", 2000));
    let seed = std::env::var("CHAOS_CORR_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("CHAOS-CORR seed={seed} (CHAOS_CORR_SEED={seed} repeats the plan)");
    let mut rng = fastrand::Rng::with_seed(seed);

    let simulator = Simulator::start(SimConfig {
        retry_time_scale: 0.002,
        // A slow webhook answer becomes a redelivery (another duplicate on the queue).
        push_timeout: Duration::from_millis(800),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    assert_eq!(simulator.config().org, SENDER_ORG);
    let system = start_system(&simulator).await;
    system.subscribe(&simulator, SENDER_ORG, APP).await;

    // Seed: correspondences with their plans, and instances alongside.
    let mut tracked: Vec<Tracked> = (0..count)
        .map(|n| {
            let (spec, lifecycle, steps) = plan(n, &mut rng);
            Tracked {
                seeded: simulator.add_correspondence(spec),
                lifecycle,
                steps,
                events: Vec::new(),
                attachment_events: Vec::new(),
                notification_created: Vec::new(),
            }
        })
        .collect();
    let instances: Vec<SeededInstance> = (0..instance_count)
        .map(|n| {
            simulator.add_instance(InstanceSpec {
                org: None,
                app: APP.into(),
                party_id: 62_000_000 + n,
                instance_guid: None,
                completed: true,
                data: vec![
                    DataSpec::xml_form(),
                    DataSpec::attachment("vedlegg.bin", rng.u64(1..64 * 1024), n),
                ],
                ..InstanceSpec::default()
            })
        })
        .collect();

    inject_faults(&simulator);
    let mut delivery = Delivery::new();
    let mut instance_event_ids = BTreeSet::new();
    let mut outages = 0u32;
    let (stop, stopped) = watch::channel(false);
    let driver = async {
        // 1. The attachments are uploaded and published before their correspondence is (as in
        // Altinn); the instances complete. Their events go out shuffled, and the lifecycles
        // start once the attachments are archived: after publishing, the sender may no longer
        // download them (2016), which would be a different archive, not a lost one.
        let mut first_ids = BTreeSet::new();
        for c in &mut tracked {
            for attachment in c.seeded.attachments.clone() {
                let e = simulator.attachment_event(attachment.id, "attachmentpublished");
                c.attachment_events.push((attachment.id, event_id(&e)));
                system.ledger.expect(&event_id(&e), c.ledger_ref());
                first_ids.insert(event_id(&e));
                delivery.pending.push(e);
            }
        }
        for instance in &instances {
            let e = simulator.cloud_event(instance, PROCESS_COMPLETED);
            system.ledger.expect(&event_id(&e), instance_ref(instance));
            instance_event_ids.insert(event_id(&e));
            delivery.pending.push(e);
        }
        delivery.flush(&simulator, &mut rng, false);
        settle(&system, Instant::now() + timeout / 2, Some(&first_ids)).await;

        // 2. The lifecycles, interleaved across correspondences; events in shuffled batches.
        let mut next_step = vec![0usize; tracked.len()];
        let total_steps: usize = tracked.iter().map(|c| c.steps.len()).sum();
        let mut taken = 0usize;
        loop {
            let open: Vec<usize> = (0..tracked.len())
                .filter(|&i| next_step[i] < tracked[i].steps.len())
                .collect();
            if open.is_empty() {
                break;
            }
            let i = open[rng.usize(..open.len())];
            let step = tracked[i].steps[next_step[i]].clone();
            next_step[i] += 1;
            let events = apply(&simulator, &mut tracked[i], &step);
            for e in &events {
                system.ledger.expect(&event_id(e), tracked[i].ledger_ref());
            }
            delivery.pending.extend(events);
            if rng.u8(0..3) == 0 {
                delivery.flush(&simulator, &mut rng, false);
            }
            taken += 1;
            if taken == total_steps / 2 {
                // The S3/SQS path goes away mid-run (the webhook answers 503, Altinn pushes
                // again; the archiver's reads, writes and deletes fail), and comes back.
                delivery.flush(&simulator, &mut rng, false);
                system.proxy.cut();
                outages += 1;
                tokio::time::sleep(outage).await;
                system.proxy.restore();
            }
            tokio::time::sleep(Duration::from_millis(rng.u64(2..15))).await;
        }
        delivery.flush(&simulator, &mut rng, true);
        settle(&system, Instant::now() + timeout, None).await;
        let _ = stop.send(true);
    };
    tokio::join!(driver, system.mapping.run(2, stopped));
    simulator.clear_faults();
    let run_time = started.elapsed();

    // Settled: every event, nothing left on the queue, nothing in the dead-letter queue, no
    // push given up, and every event id reached the webhook.
    let events = system.ledger.events();
    let unsettled: Vec<_> = events.iter().filter(|e| !e.state.is_settled()).collect();
    assert!(
        unsettled.is_empty(),
        "seed {seed}: {} event(s) not settled after {timeout:?}: {:#?}",
        unsettled.len(),
        unsettled.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        queue_depth(&system.sqs, &system.queues.queue_url)
            .await
            .expect("depth"),
        0,
        "seed {seed}: the queue drained"
    );
    let letters = read_dead_letters(&system.sqs, &system.queues.dead_letter_queue_url)
        .await
        .expect("dead letters");
    assert!(
        letters.is_empty(),
        "seed {seed}: nothing was meant for the dead-letter queue: {letters:#?}"
    );
    let given_up: Vec<_> = simulator
        .dead_letters()
        .into_iter()
        .map(|d| format!("{d:?}"))
        .collect();
    assert!(
        given_up.is_empty(),
        "seed {seed}: Altinn gave up pushing: {given_up:#?}"
    );
    let unfired = simulator.unfired_faults();
    assert!(
        unfired.is_empty(),
        "seed {seed}: bursts never met: {unfired:#?}"
    );
    let stats = system.webhook.stats();
    let expected_ids: BTreeSet<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let missing: Vec<_> = expected_ids.difference(&stats.accepted_event_ids).collect();
    assert!(
        missing.is_empty(),
        "seed {seed}: the webhook never accepted {missing:?}"
    );
    for event in &events {
        let ok = if instance_event_ids.contains(&event.event_id) {
            matches!(event.state, EventState::Archived { .. })
        } else {
            matches!(event.state, EventState::Kept { .. })
        };
        assert!(
            ok,
            "seed {seed}: event {} ended {:?}",
            event.event_id, event.state
        );
    }

    // Every correspondence: its manifest holds the whole history, once each, in time order.
    let mut counts = Counts::default();
    for c in &tracked {
        check_correspondence(&system, &simulator, c, seed, &mut counts).await;
    }

    // The instances alongside: archived and completed once.
    for instance in &instances {
        let reference = instance_ref(instance);
        let key = system.layout.manifest(&reference).expect("key");
        let bytes = get_bytes(&system.s3, &key)
            .await
            .unwrap_or_else(|| panic!("seed {seed}: {} has no manifest", instance.instance_id()));
        let manifest: Manifest = serde_json::from_slice(&bytes).expect("manifest JSON");
        assert_eq!(manifest.instance_id, instance.instance_id());
        for object in &manifest.objects {
            let (sha, size) = system.object_digest(&object.key).await;
            assert_eq!((sha.as_str(), size), (object.sha256.as_str(), object.size));
            counts.objects += 1;
            counts.bytes += size;
        }
        assert_eq!(
            simulator
                .complete_confirmations(instance.party_id, instance.instance_guid)
                .len(),
            1,
            "seed {seed}: {} completed once",
            instance.instance_id()
        );
    }

    let hand_off_events = check_hand_off(&system, &tracked, &instances, seed).await;

    // The archiver never read a body or changed a status on the recipient's behalf.
    let requests = simulator.requests();
    for request in &requests {
        for forbidden in ["/content", "/markasread", "/confirm"] {
            assert!(
                !request.path.ends_with(forbidden),
                "seed {seed}: {} {}",
                request.method,
                request.path
            );
        }
    }

    // Figures.
    let faults = requests
        .iter()
        .filter(|r| r.status == 0 || r.status == 429 || r.status >= 500)
        .count();
    let correspondence_faults = requests
        .iter()
        .filter(|r| r.path.contains("/correspondence/api/v1/"))
        .filter(|r| r.status == 0 || r.status == 429 || r.status >= 500)
        .count();
    assert!(
        correspondence_faults >= DETAILS_BURST as usize,
        "seed {seed}: faults met on the Correspondence routes"
    );
    let deliveries = simulator.deliveries();
    let push_retries = deliveries.iter().filter(|d| d.attempt > 1).count();
    let lines = system.progress.lines();
    let archiver_retries = lines
        .iter()
        .filter(|l| l.contains("left on the queue after receive"))
        .count();
    let failed = tracked
        .iter()
        .filter(|c| c.lifecycle == Lifecycle::PublishFails)
        .count();
    let correspondence_events: usize = tracked
        .iter()
        .map(|c| c.events.len() + c.attachment_events.len() + c.notification_created.len())
        .sum();
    let published = tracked.len() - failed;
    let webhook_503 = stats.rejected.iter().filter(|(s, _)| *s == 503).count();
    println!(
        "CHAOS-CORR seed={seed} correspondences={} (published={published} failed={failed}) \
         attachments={} instances={} events={} (correspondence={correspondence_events}) \
         pushed={} duplicates={} webhook_accepted={} webhook_503={webhook_503} \
         faults_injected={faults} (correspondence routes={correspondence_faults}) \
         s3_sqs_outages={outages} (connections cut={}) retries={} (push={push_retries} \
         archiver={archiver_retries}) statuses_checked={} status_events_checked={} \
         objects_verified={} bytes_verified={} hand_off_events={hand_off_events} dlq={} lost=0 \
         run={:.1}s elapsed={:.1}s",
        tracked.len(),
        counts.attachments,
        instances.len(),
        expected_ids.len(),
        delivery.pushes,
        delivery.duplicates,
        stats.accepted,
        system.proxy.failures(),
        push_retries + archiver_retries,
        counts.statuses,
        counts.status_events,
        counts.objects,
        counts.bytes,
        letters.len(),
        run_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// A status event that reaches the archiver only after its correspondence was purged (a push
/// retried, a message held back by a fault or an outage: the shuffled order of the chaos run,
/// pinned down). Altinn answers the sender's details call with 404 by then; the event and the
/// status it reports must still go into the manifest, and nothing into the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_event_archived_after_the_purge_is_not_lost() {
    let simulator = Simulator::start(SimConfig {
        retry_time_scale: 0.002,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let system = start_system(&simulator).await;
    let c = simulator.add_correspondence(
        CorrespondenceSpec::new(RESOURCE, SENDER_ORG, RECIPIENT_ORGNO).with_notifications(1),
    );
    let subject = InstanceRef {
        org: SENDER_ORG.into(),
        app: "correspondence".into(),
        party_id: 0,
        instance_guid: c.id,
    };
    let (stop, stopped) = watch::channel(false);
    let mut ids = BTreeMap::new();
    let driver = async {
        let deliver = |event: Value| {
            let id = event_id(&event);
            system.ledger.expect(&id, subject.clone());
            simulator.publish_event(event, SENDER_ORG);
            id
        };
        // Published and archived, details and all.
        assert!(simulator.add_correspondence_status(c.id, "ReadyForPublish"));
        assert!(simulator.add_correspondence_status(c.id, "Published"));
        ids.insert(
            "published",
            deliver(simulator.correspondence_event(c.id, "correspondencepublished")),
        );
        settle(&system, Instant::now() + Duration::from_secs(30), None).await;
        // The recipient reads it, then purges it; the purge is archived first.
        assert!(simulator.add_correspondence_status(c.id, "Fetched"));
        assert!(simulator.add_correspondence_status(c.id, "Read"));
        let read = simulator.correspondence_event(c.id, "correspondencereceiverread");
        assert!(simulator.add_correspondence_status(c.id, "PurgedByRecipient"));
        ids.insert(
            "purged",
            deliver(simulator.correspondence_event(c.id, "correspondencepurged")),
        );
        settle(&system, Instant::now() + Duration::from_secs(30), None).await;
        // The read event comes late.
        ids.insert("read", deliver(read));
        settle(&system, Instant::now() + Duration::from_secs(30), None).await;
        let _ = stop.send(true);
    };
    tokio::join!(driver, system.mapping.run(2, stopped));

    let events = system.ledger.events();
    assert!(
        events.iter().all(|e| e.state.is_settled()),
        "settled: {events:#?}"
    );
    let cid = c.id.to_string();
    let key = system
        .layout
        .correspondence_manifest(RESOURCE, &cid)
        .expect("manifest key");
    let manifest: CorrespondenceManifest = serde_json::from_slice(
        &get_bytes(&system.s3, &key)
            .await
            .expect("the manifest of the purged correspondence"),
    )
    .expect("manifest JSON");
    let from_events: BTreeMap<&str, &str> = manifest
        .status_history
        .iter()
        .filter_map(|s| Some((s.event_id.as_deref()?, s.status.as_str())))
        .collect();
    assert_eq!(
        from_events.get(ids["purged"].as_str()),
        Some(&"Purged"),
        "the purge is in the record: {:#?}",
        manifest.status_history
    );
    let letters = read_dead_letters(&system.sqs, &system.queues.dead_letter_queue_url)
        .await
        .expect("dead letters");
    let read_key = system
        .layout
        .correspondence_event_under(RESOURCE, &cid, &ids["read"])
        .expect("event key");
    let stored_read_event = get_bytes(&system.s3, &read_key).await.is_some();
    println!(
        "CHAOS-CORR purge: read event stored={stored_read_event} listed in the manifest={} \
         Read in the status history={} dead letters={} ({})",
        manifest.objects.iter().any(|o| o.key == read_key),
        from_events.get(ids["read"].as_str()) == Some(&"Read"),
        letters.len(),
        letters
            .iter()
            .map(|l| l.reason.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(
        from_events.get(ids["read"].as_str()),
        Some(&"Read"),
        "the late read event's status is in the record: {:#?}",
        manifest.status_history
    );
    assert!(
        manifest.objects.iter().any(|o| o.key == read_key),
        "the late read event is listed among the correspondence's objects"
    );
    assert!(
        letters.is_empty(),
        "nothing in the dead-letter queue: {letters:#?}"
    );
}
