//! The end-to-end chaos run: webhook → SQS → archiver → S3 → `complete`, all real code, with
//! the Altinn simulator injecting faults on every route and the S3/SQS path cut twice.
//!
//! How the S3/SQS outage is made: the functions reach `moto_server` through a TCP proxy
//! ([`chaos::TcpProxy`]) that the test cuts (connections in flight are closed, new ones are
//! closed at once) and restores. Stopping moto itself would lose its in-memory state, which a
//! real SQS never does to acknowledged messages; the proxy gives the functions the same
//! failures without that. While the path is cut the webhook answers 503 and Altinn (the
//! simulator) redelivers on its retry schedule, the archiver's polls and S3 writes fail and
//! its messages come back after their visibility timeout.
//!
//! Scale with environment variables (the `make chaos` target sets the big numbers):
//! `CHAOS_INSTANCES` (default 40), `CHAOS_MAX_ELEMENTS` (6), `CHAOS_LARGE_BYTES` (256 KiB),
//! `CHAOS_BROKEN` (3), `CHAOS_TIMEOUT_SECS` (150), `CHAOS_OUTAGE_SECS` (3).
//!
//! The hand-off bus is closed twice as well ([`chaos::system::HAND_OFF_BUS`], through an HTTP
//! gate of its own, [`chaos::HttpGate`]), so `PutEvents` fails for a while without ever losing
//! the answer to a put the bus took.
//!
//! Afterwards: every good instance archived byte-identical to the simulator's data, every
//! manifest right, `complete` confirmed once and not before the manifest existed, exactly one
//! `InstanceArchived` per manifest (naming its SHA-256) and an `ArchiveFailed` for every dead
//! letter, the broken instances in the DLQ with their reason, and lost = 0. One summary line of
//! figures is printed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

mod captured;
#[path = "chaos/hand_off.rs"]
mod hand_off;

use altinn::InstanceRef;
use altinn::event::PROCESS_COMPLETED;
use altinn_sim::{
    DataSpec, Fault, FaultRule, InstanceSpec, Route, SeededInstance, SimConfig, Simulator,
};
use archive_model::{Manifest, ObjectRole};
use chaos::system::BUCKET;
use chaos::{ChaosSystem, SystemOptions};
use local_runner::demo::instance_ref;
use local_runner::ledger::EventState;
use local_runner::local_aws::{queue_depth, read_dead_letters};
use serde_json::Value;
use tokio::sync::watch;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

struct Scale {
    instances: u64,
    max_elements: u64,
    large_bytes: u64,
    broken: u64,
    timeout: Duration,
    outage: Duration,
}

impl Scale {
    fn from_env() -> Scale {
        Scale {
            instances: setting("CHAOS_INSTANCES", 40),
            max_elements: setting("CHAOS_MAX_ELEMENTS", 6).clamp(1, 20),
            large_bytes: setting("CHAOS_LARGE_BYTES", 256 * 1024),
            broken: setting("CHAOS_BROKEN", 3),
            timeout: Duration::from_secs(setting("CHAOS_TIMEOUT_SECS", 150)),
            outage: Duration::from_secs(setting("CHAOS_OUTAGE_SECS", 3)),
        }
    }
}

const APP: &str = "chaos-app";
/// The archiver's per-request timeout; the latency faults wait longer than this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

fn seed(simulator: &Simulator, scale: &Scale, rng: &mut fastrand::Rng) -> Vec<SeededInstance> {
    let mut good = Vec::new();
    for n in 0..scale.instances {
        let elements = 1 + rng.u64(0..scale.max_elements);
        let mut data = Vec::new();
        for e in 0..elements {
            data.push(match e {
                0 => DataSpec::xml_form(),
                1 => DataSpec::pdf(),
                _ => {
                    // Mostly small, every 10th instance one large element, some empty.
                    let size = if e == 2 && n % 10 == 0 {
                        scale.large_bytes
                    } else if rng.u8(0..20) == 0 {
                        0
                    } else {
                        rng.u64(1..64 * 1024)
                    };
                    DataSpec::attachment(&format!("vedlegg-{e}.bin"), size, n * 100 + e)
                }
            });
        }
        if n % 7 == 3 {
            data.push(DataSpec::attachment("slettet.pdf", 1234, n).hard_deleted());
        }
        good.push(simulator.add_instance(InstanceSpec {
            org: None,
            app: APP.into(),
            party_id: 60_000_000 + n,
            instance_guid: None,
            completed: true,
            data,
            ..InstanceSpec::default()
        }));
    }
    good
}

fn inject_faults(simulator: &Simulator) {
    let slow = Fault::Latency(REQUEST_TIMEOUT + Duration::from_secs(1));
    let busy = Fault::TooManyRequests {
        retry_after_secs: 1,
    };
    let rules = [
        (Route::MaskinportenToken, Fault::Status(503), 0.15),
        (Route::MaskinportenToken, Fault::DropConnection, 0.05),
        (Route::TokenExchange, Fault::Status(500), 0.1),
        (Route::TokenExchange, busy.clone(), 0.05),
        (
            Route::TokenExchange,
            Fault::TruncateBody { after_bytes: 20 },
            0.05,
        ),
        (Route::StorageGetInstance, Fault::Status(503), 0.06),
        (Route::StorageGetInstance, busy.clone(), 0.04),
        (Route::StorageGetInstance, Fault::DropConnection, 0.04),
        (
            Route::StorageGetInstance,
            Fault::TruncateBody { after_bytes: 64 },
            0.04,
        ),
        (Route::StorageGetInstance, slow.clone(), 0.01),
        (Route::AppGetInstance, Fault::Status(502), 0.05),
        (Route::StorageGetData, Fault::Status(502), 0.04),
        (Route::StorageGetData, busy.clone(), 0.02),
        (Route::StorageGetData, Fault::DropConnection, 0.03),
        (
            Route::StorageGetData,
            Fault::TruncateBody { after_bytes: 700 },
            0.03,
        ),
        (Route::StorageGetData, slow.clone(), 0.01),
        (Route::AppGetData, Fault::Status(503), 0.04),
        (Route::StorageComplete, Fault::Status(503), 0.06),
        (Route::StorageComplete, Fault::DropConnection, 0.04),
        (Route::StorageComplete, busy.clone(), 0.03),
        (Route::StorageComplete, slow, 0.01),
        (Route::AppComplete, Fault::Status(500), 0.05),
    ];
    for (route, fault, p) in rules {
        simulator.inject(FaultRule::always(route, fault).with_probability(p));
    }
}

fn unix_seconds(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339} is RFC 3339: {e}"))
        .unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_archives_everything_once_or_dead_letters_it_and_loses_nothing() {
    let errors = hand_off::capture_errors();
    let scale = Scale::from_env();
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(setting("CHAOS_SEED", 0xC4A0_5EED));
    let simulator = Simulator::start(SimConfig {
        retry_time_scale: 0.002,
        // Altinn gives up on a push after its timeout and retries: a slow webhook answer
        // becomes a redelivery (a duplicate on the queue).
        push_timeout: Duration::from_millis(800),
        altinn_token_lifetime: Duration::from_secs(20),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let options = SystemOptions::chaos(REQUEST_TIMEOUT);
    let system = ChaosSystem::start(&simulator, &options).await;
    system.subscribe(&simulator, "ttd", APP).await;

    let good = seed(&simulator, &scale, &mut rng);
    // Permanently broken on purpose: events for instances whose process has not ended.
    let broken: Vec<SeededInstance> = (0..scale.broken)
        .map(|n| {
            simulator.add_instance(InstanceSpec {
                org: None,
                app: APP.into(),
                party_id: 61_000_000 + n,
                instance_guid: None,
                completed: false,
                data: vec![DataSpec::xml_form()],
                ..InstanceSpec::default()
            })
        })
        .collect();

    // Events: one per instance, ~20 % published twice with the same id (at-least-once), ~10 %
    // with a second distinct completed event; all shuffled (out of order).
    let mut plan: Vec<(Value, InstanceRef)> = Vec::new();
    for instance in good.iter().chain(&broken) {
        let event = simulator.cloud_event(instance, PROCESS_COMPLETED);
        plan.push((event.clone(), instance_ref(instance)));
        if rng.u8(0..5) == 0 {
            plan.push((event, instance_ref(instance)));
        }
        if rng.u8(0..10) == 0 {
            plan.push((
                simulator.cloud_event(instance, PROCESS_COMPLETED),
                instance_ref(instance),
            ));
        }
    }
    rng.shuffle(&mut plan);
    let published_ids: BTreeSet<String> = plan
        .iter()
        .map(|(event, _)| event["id"].as_str().expect("id").to_owned())
        .collect();
    for (event, instance) in &plan {
        system
            .ledger
            .expect(event["id"].as_str().expect("id"), instance.clone());
    }

    inject_faults(&simulator);
    let (stop, stopped) = watch::channel(false);
    let mut outages = 0u32;
    let mut bus_outages = 0u32;
    let driver = async {
        let third = plan.len() / 3;
        for (index, (event, _)) in plan.iter().enumerate() {
            simulator.publish_event(event.clone(), "ttd");
            if index == third / 2 || index == 5 * third / 2 {
                // The hand-off bus goes away for a while: PutEvents fails, the archives it
                // would announce are retried, and no event may be lost or sent twice.
                system.bus_gate.close();
                bus_outages += 1;
                tokio::time::sleep(scale.outage).await;
                system.bus_gate.open();
            }
            if index == third || index == 2 * third {
                // The S3/SQS path goes away mid-run, and comes back.
                system.proxy.cut();
                outages += 1;
                tokio::time::sleep(scale.outage).await;
                system.proxy.restore();
            }
            if index == plan.len() / 2 {
                // A token endpoint outage, and every token issued so far revoked.
                simulator.inject(FaultRule::times(
                    Route::MaskinportenToken,
                    Fault::Status(503),
                    6,
                ));
                simulator.inject(FaultRule::times(
                    Route::TokenExchange,
                    Fault::Status(503),
                    6,
                ));
                simulator.revoke_tokens();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Drained: every event settled, and the queue empty for three checks in a row (late
        // redeliveries of settled events still have to go through the archiver).
        let deadline = Instant::now() + scale.timeout;
        let mut empty_checks = 0;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !system.ledger.all_settled() {
                continue;
            }
            let depth = queue_depth(&system.sqs, &system.queues.queue_url).await;
            empty_checks = if matches!(depth, Ok(0)) {
                empty_checks + 1
            } else {
                0
            };
            if empty_checks >= 3 {
                break;
            }
        }
        let _ = stop.send(true);
    };
    tokio::join!(driver, system.mapping.run(2, stopped));
    simulator.clear_faults();

    // What became of each event.
    let letters = read_dead_letters(&system.sqs, &system.queues.dead_letter_queue_url)
        .await
        .expect("dead letters");
    for letter in &letters {
        if let Some(id) = &letter.event_id {
            system.ledger.found_in_dead_letter_queue(
                id,
                letter.reason.as_deref().unwrap_or("redrive"),
                letter.detail.as_deref().unwrap_or_default(),
            );
        }
    }
    let events = system.ledger.events();
    let unsettled: Vec<_> = events.iter().filter(|e| !e.state.is_settled()).collect();
    assert!(
        unsettled.is_empty(),
        "{} event(s) not settled after {:?}: {:?}",
        unsettled.len(),
        scale.timeout,
        unsettled.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        queue_depth(&system.sqs, &system.queues.queue_url)
            .await
            .expect("depth"),
        0,
        "the queue drained"
    );

    // Good instances: archived byte for byte, manifest right, completed once, after the manifest.
    let broken_guids: BTreeSet<_> = broken.iter().map(|i| i.instance_guid).collect();
    let mut bytes_verified = 0u64;
    for instance in &good {
        let reference = instance_ref(instance);
        for event in events.iter().filter(|e| e.instance() == Some(&reference)) {
            assert!(
                matches!(event.state, EventState::Archived { .. }),
                "{}: event {} ended {:?}",
                instance.instance_id(),
                event.event_id,
                event.state
            );
        }
        let manifest_key = system.layout.manifest(&reference).expect("key");
        let head = system
            .s3
            .head_object()
            .bucket(BUCKET)
            .key(&manifest_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} has a manifest: {e}", instance.instance_id()));
        let manifest_bytes = system
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(&manifest_key)
            .send()
            .await
            .expect("manifest")
            .body
            .collect()
            .await
            .expect("manifest body")
            .into_bytes();
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes).expect("manifest JSON");
        assert_eq!(manifest.instance_id, instance.instance_id());
        assert_eq!(manifest.app_id, format!("ttd/{APP}"));
        let live: BTreeMap<String, _> = instance
            .live_data()
            .map(|d| (d.id.to_string(), d))
            .collect();
        let mut data_in_manifest = 0;
        for object in &manifest.objects {
            let (sha, size) = system.object_digest(&object.key).await;
            assert_eq!(
                (sha.as_str(), size),
                (object.sha256.as_str(), object.size),
                "{}: the object matches its manifest entry",
                object.key
            );
            bytes_verified += size;
            if object.role == ObjectRole::DataElement {
                data_in_manifest += 1;
                let id = object.data_element_id.clone().expect("data element id");
                let seeded = live
                    .get(&id)
                    .unwrap_or_else(|| panic!("{id} in the manifest is a live element"));
                assert_eq!(sha, seeded.sha256_hex, "{id}: byte-identical to Altinn's");
                assert_eq!(size, seeded.size);
                assert_eq!(object.data_type.as_deref(), Some(seeded.data_type.as_str()));
            }
        }
        assert_eq!(data_in_manifest, live.len(), "every live element archived");
        let confirmations =
            simulator.complete_confirmations(instance.party_id, instance.instance_guid);
        assert_eq!(
            confirmations.len(),
            1,
            "{}: completed once",
            instance.instance_id()
        );
        let confirmed = unix_seconds(&confirmations[0].1);
        let manifest_stored = head.last_modified().expect("last modified").secs();
        assert!(
            manifest_stored <= confirmed && unix_seconds(&manifest.archived_at) <= confirmed,
            "{}: completed before its manifest was stored",
            instance.instance_id()
        );
    }

    // Broken instances: in the DLQ with their reason, never archived or completed.
    let mut dead_lettered_events = 0;
    for instance in &broken {
        let reference = instance_ref(instance);
        for event in events.iter().filter(|e| e.instance() == Some(&reference)) {
            match &event.state {
                EventState::DeadLettered { reason, .. } => {
                    assert!(!reason.is_empty() && reason != "redrive", "{reason}");
                    dead_lettered_events += 1;
                }
                other => panic!("{}: broken instance ended {other:?}", event.event_id),
            }
        }
        assert!(
            simulator
                .complete_confirmations(instance.party_id, instance.instance_guid)
                .is_empty()
        );
        let manifest_key = system.layout.manifest(&reference).expect("key");
        assert!(
            system
                .s3
                .head_object()
                .bucket(BUCKET)
                .key(&manifest_key)
                .send()
                .await
                .is_err(),
            "no manifest for a broken instance"
        );
    }
    for letter in &letters {
        let id = letter.event_id.clone().unwrap_or_default();
        let instance = system.ledger.instance_of(&id).expect("a published event");
        assert!(
            broken_guids.contains(&instance.instance_guid),
            "a good instance's event {id} is in the DLQ: {letter:?}"
        );
    }

    let resent_reported =
        hand_off::check_hand_off(&system, &errors, &good, &broken, &letters).await;
    let hand_off_retries = system
        .progress
        .lines()
        .iter()
        .filter(|l| l.contains("hand_off_unavailable") && l.contains("left on the queue"))
        .count();
    assert!(
        system.bus_gate.refused() > 0,
        "the closed bus refused a request"
    );
    assert!(hand_off_retries > 0, "PutEvents failed at least once");

    // Lost: a published event whose instance is neither archived and completed nor in the DLQ.
    let archived_ids: BTreeSet<&str> = events
        .iter()
        .filter(|e| matches!(e.state, EventState::Archived { .. }))
        .map(|e| e.event_id.as_str())
        .collect();
    let dead_ids: BTreeSet<&str> = events
        .iter()
        .filter(|e| matches!(e.state, EventState::DeadLettered { .. }))
        .map(|e| e.event_id.as_str())
        .collect();
    let lost = published_ids
        .iter()
        .filter(|id| !archived_ids.contains(id.as_str()) && !dead_ids.contains(id.as_str()))
        .count();
    assert_eq!(lost, 0);

    // Figures.
    let requests = simulator.requests();
    let faults = requests
        .iter()
        .filter(|r| r.status == 0 || r.status == 429 || r.status >= 500)
        .count();
    let deliveries = simulator.deliveries();
    let push_retries = deliveries.iter().filter(|d| d.attempt > 1).count();
    let lines = system.progress.lines();
    let archiver_retries = lines
        .iter()
        .filter(|l| l.contains("left on the queue after receive"))
        .count();
    let duplicates = lines
        .iter()
        .filter(|l| l.contains("already archived") || l.contains("another run wrote"))
        .count();
    let stats = system.webhook.stats();
    let refused_503 = stats.rejected.iter().filter(|(s, _)| *s == 503).count();
    println!(
        "CHAOS instances={} (archived={} dead-lettered={}) events={} published={} pushes={} \
         webhook_accepted={} webhook_503={} faults_injected={} s3_sqs_outages={} \
         (connections cut={}) bus_outages={bus_outages} (refused={} put_events_retries={hand_off_retries} \
         resent_reported={resent_reported}) \
         retries={} (push={} archiver={}) duplicates_absorbed={} \
         dlq={} bytes_verified={} lost={lost} elapsed={:.1}s",
        good.len() + broken.len(),
        good.len(),
        broken.len(),
        published_ids.len(),
        plan.len(),
        deliveries.len(),
        stats.accepted,
        refused_503,
        faults,
        outages,
        system.proxy.failures(),
        system.bus_gate.refused(),
        push_retries + archiver_retries,
        push_retries,
        archiver_retries,
        duplicates + (stats.accepted - stats.accepted_event_ids.len()),
        dead_lettered_events,
        bytes_verified,
        started.elapsed().as_secs_f64()
    );
    assert!(faults > 0, "faults were injected");
}
