//! Pushes of published events as Altinn Events makes them: only to matching validated
//! subscriptions, retried on the (scaled) schedule and dead-lettered after 12 attempts.

mod common;
mod events_common;

use std::time::{Duration, Instant};

use altinn_sim::{InstanceSpec, SimConfig};
use common::*;
use events_common::*;
use serde_json::json;

#[tokio::test]
async fn published_events_reach_matching_validated_subscriptions_only() {
    let sim = start().await;
    let all = Receiver::start(|_| 200).await;
    let created_only = Receiver::start(|_| 200).await;
    let other_app = Receiver::start(|_| 200).await;
    let token = altinn_token(&sim, READ).await;
    let mut ids = Vec::new();
    for (receiver, body) in [
        (
            &all,
            json!({"endPoint": all.url, "sourceFilter": app_source(&sim, "sim-app")}),
        ),
        (
            &created_only,
            json!({"endPoint": created_only.url, "sourceFilter": app_source(&sim, "sim-app"), "typeFilter": "app.instance.created"}),
        ),
        (
            &other_app,
            json!({"endPoint": other_app.url, "resourceFilter": "urn:altinn:resource:app_ttd_other-app"}),
        ),
    ] {
        let (status, _, answer) = create(&sim, &token, &body).await;
        assert_eq!(status, 201, "{answer} for {}", receiver.url);
        ids.push(answer["id"].as_i64().expect("id"));
    }
    for id in &ids {
        assert!(wait_validated(&sim, *id).await);
    }

    let instance = sim.add_instance(InstanceSpec::default());
    let event_id = sim.publish(&instance, COMPLETED);
    assert!(
        wait_until(Duration::from_secs(10), || all.of_type(COMPLETED).len()
            == 1)
        .await
    );
    let event = all.of_type(COMPLETED).remove(0);
    assert_eq!(
        event.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(event.authorization, None);
    let body = &event.body;
    assert_eq!(body["id"], event_id);
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["source"], sim.instance_source(&instance));
    assert_eq!(
        body["source"],
        format!(
            "{}ttd/sim-app/instances/{}/{}",
            sim.apps_url(),
            instance.party_id,
            instance.instance_guid
        )
    );
    assert_eq!(body["subject"], format!("/party/{}", instance.party_id));
    assert!(
        body["alternativesubject"]
            .as_str()
            .is_some_and(|s| s.starts_with("/person/"))
    );
    assert_eq!(body["resource"], "urn:altinn:resource:app_ttd_sim-app");
    assert_eq!(body["resourceinstance"], instance.instance_id());
    assert!(body["time"].is_string());

    let created_id = sim.publish(&instance, "app.instance.created");
    assert!(
        wait_until(Duration::from_secs(10), || created_only
            .of_type("app.instance.created")
            .len()
            == 1)
        .await
    );
    assert!(
        wait_until(Duration::from_secs(10), || all
            .of_type("app.instance.created")
            .len()
            == 1)
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        created_only.of_type(COMPLETED).is_empty(),
        "typeFilter is an exact match"
    );
    assert!(
        other_app.of_type(COMPLETED).is_empty()
            && other_app.of_type("app.instance.created").is_empty()
    );
    let delivered: Vec<_> = sim
        .deliveries()
        .into_iter()
        .filter(|d| !d.validation)
        .collect();
    assert_eq!(delivered.len(), 3);
    assert!(
        delivered
            .iter()
            .all(|d| d.attempt == 1 && d.status == Some(200))
    );
    assert!(
        delivered
            .iter()
            .any(|d| d.event_id == created_id && d.subscription_id == ids[1])
    );
    for receiver in [all, created_only, other_app] {
        receiver.server.abort();
    }
}

#[tokio::test]
async fn failed_pushes_follow_the_scaled_schedule_and_dead_letter_after_12() {
    let scale = 0.00002;
    let sim = start_with(SimConfig {
        retry_time_scale: scale,
        ..SimConfig::default()
    })
    .await;
    // Validation (the first POST) succeeds; every event push fails.
    let receiver = Receiver::start(|n| if n == 0 { 200 } else { 503 }).await;
    let token = altinn_token(&sim, READ).await;
    let (_, _, body) = create(
        &sim,
        &token,
        &json!({"endPoint": receiver.url, "sourceFilter": app_source(&sim, "sim-app")}),
    )
    .await;
    assert!(wait_validated(&sim, body["id"].as_i64().expect("id")).await);

    let instance = sim.add_instance(InstanceSpec::default());
    let started = Instant::now();
    let event_id = sim.publish(&instance, COMPLETED);
    assert!(
        wait_until(Duration::from_secs(30), || !sim.dead_letters().is_empty()).await,
        "dead-lettered"
    );
    let attempts: Vec<_> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.event_id == event_id)
        .collect();
    assert_eq!(attempts.len(), 12, "12 attempts in all");
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert!(attempts.iter().all(|a| a.status == Some(503)));
    let dead = sim.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, event_id);
    assert!(!dead[0].validation);

    // Each gap is at least Altinn's delay × scale: 10 s, 30 s, 1 min, 5 min, … 12 h, 12 h.
    let delays = [
        10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200, 43_200,
    ];
    for (index, secs) in delays.iter().enumerate() {
        let gap = attempts[index + 1].sent_at - attempts[index].sent_at;
        let expected = Duration::from_secs(*secs).mul_f64(scale);
        assert!(gap >= expected, "gap {index}: {gap:?} < {expected:?}");
    }
    let total = attempts[11].sent_at - attempts[0].sent_at;
    let expected_total = Duration::from_secs(125_200).mul_f64(scale);
    assert!(
        total >= expected_total && total < expected_total + Duration::from_secs(10),
        "{total:?}"
    );
    assert!(started.elapsed() >= expected_total);
    // Every attempt reached the webhook with the same event.
    let pushed = receiver.of_type(COMPLETED);
    assert_eq!(pushed.len(), 12);
    assert!(pushed.iter().all(|p| p.body["id"] == event_id));
    receiver.server.abort();
}

#[tokio::test]
async fn a_push_succeeds_on_any_2xx_after_failures() {
    let sim = start_with(SimConfig {
        retry_time_scale: 0.0001,
        ..SimConfig::default()
    })
    .await;
    // POST 0 = validation (204 counts as success), 1..=3 fail, 4 succeeds with 202.
    let receiver = Receiver::start(|n| match n {
        0 => 204,
        1 => 500,
        2 => 404,
        3 => 429,
        _ => 202,
    })
    .await;
    let token = altinn_token(&sim, READ).await;
    let (_, _, body) = create(
        &sim,
        &token,
        &json!({"endPoint": receiver.url, "sourceFilter": app_source(&sim, "sim-app")}),
    )
    .await;
    assert!(wait_validated(&sim, body["id"].as_i64().expect("id")).await);
    let instance = sim.add_instance(InstanceSpec::default());
    let event_id = sim.publish(&instance, COMPLETED);
    assert!(
        wait_until(Duration::from_secs(10), || {
            sim.deliveries()
                .iter()
                .any(|d| d.event_id == event_id && d.status == Some(202))
        })
        .await
    );
    let statuses: Vec<Option<u16>> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.event_id == event_id)
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses, vec![Some(500), Some(404), Some(429), Some(202)]);
    assert!(sim.dead_letters().is_empty());
    receiver.server.abort();
}

#[tokio::test]
async fn unreachable_webhooks_are_recorded_without_status() {
    let sim = start_with(SimConfig {
        retry_time_scale: 0.00001,
        ..SimConfig::default()
    })
    .await;
    let receiver = Receiver::start(|_| 200).await;
    let token = altinn_token(&sim, READ).await;
    let (_, _, body) = create(
        &sim,
        &token,
        &json!({"endPoint": receiver.url, "sourceFilter": app_source(&sim, "sim-app")}),
    )
    .await;
    assert!(wait_validated(&sim, body["id"].as_i64().expect("id")).await);
    receiver.server.abort();
    let _ = receiver.server.await;

    let instance = sim.add_instance(InstanceSpec::default());
    let event_id = sim.publish(&instance, COMPLETED);
    assert!(wait_until(Duration::from_secs(30), || !sim.dead_letters().is_empty()).await);
    let attempts: Vec<_> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.event_id == event_id)
        .collect();
    assert_eq!(attempts.len(), 12);
    assert!(attempts.iter().all(|a| a.status.is_none()), "{attempts:?}");
}
