//! A webhook secret rotation end to end: the real webhook (secret in moto's Secrets Manager,
//! re-read every second) enqueues onto the real queue, the archiver drains it. Before the
//! rotation only the old subscription delivers; during the overlap Altinn delivers every event
//! through both subscriptions (old and new secret, the same CloudEvent); after the old
//! subscription is deleted and the previous secret retired only the new one works. No event is
//! lost and every instance is archived and completed exactly once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use altinn_sim::{DataSpec, SeededInstance};
use archiver::MessageOutcome;
use common::*;
use lambda_http::http::{Method, Request};
use lambda_http::{Body, Response};
use webhook::secret_source::PREVIOUS_STAGE;
use webhook::{SqsEventQueue, Webhook, WebhookConfig};

const OLD_SECRET: &str = "old-subscription-secret-0001";
const NEW_SECRET: &str = "new-subscription-secret-0002";

/// Altinn's webhook call for one subscription: the event POSTed to `/events?code={secret}`.
async fn deliver(webhook: &Webhook<SqsEventQueue>, secret: &str, event: &str) -> u16 {
    let request: Request<Body> = Request::builder()
        .method(Method::POST)
        .uri(format!("https://webhook.example/events?code={secret}"))
        .header("content-type", "application/cloudevents+json")
        .body(Body::from(event.to_owned()))
        .expect("request");
    let response: Response<Body> = webhook.handle(request).await;
    response.status().as_u16()
}

/// Lets the webhook's secret refresh interval (1 s) pass.
async fn wait_for_refresh() {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
}

#[tokio::test]
async fn no_event_is_lost_or_archived_twice_across_a_rotation() {
    let harness = Harness::start().await;
    let sdk = harness.moto.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let arn = secrets
        .create_secret()
        .name("webhook-secret")
        .secret_string(OLD_SECRET)
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("ARN");
    let base = harness.sim.base_url().to_string();
    let env = HashMap::from([
        ("WEBHOOK_SECRET_ARN", arn.clone()),
        ("WEBHOOK_SECRET_REFRESH_SECS", "1".to_owned()),
        ("QUEUE_URL", harness.queue_url.clone()),
        ("ALTINN_ENV", "local".to_owned()),
        ("ALTINN_ORG", "ttd".to_owned()),
        ("ALTINN_PLATFORM_URL", base.clone()),
        ("ALTINN_APPS_URL", base),
    ]);
    let config =
        WebhookConfig::from_lookup(&|name: &str| env.get(name).cloned()).expect("webhook config");
    let webhook = Webhook::from_config(config, &sdk)
        .await
        .expect("webhook starts");

    let instances: Vec<SeededInstance> = (0..5)
        .map(|i| harness.seed(50_090_001 + i, vec![DataSpec::xml_form(), DataSpec::pdf()]))
        .collect();
    let events: Vec<String> = instances
        .iter()
        .map(|instance| harness.completed_event(instance))
        .collect();

    // Before: only the old subscription exists.
    assert_eq!(deliver(&webhook, OLD_SECRET, &events[0]).await, 200);
    assert_eq!(deliver(&webhook, NEW_SECRET, &events[0]).await, 401);

    // Rotation: a new secret version (AWSCURRENT; the old one becomes AWSPREVIOUS), picked up
    // by the running webhook without a restart; then the new subscription is created.
    let new_version = secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(NEW_SECRET)
        .send()
        .await
        .expect("put the new version")
        .version_id
        .expect("version id");
    wait_for_refresh().await;

    // Overlap: both subscriptions deliver every event.
    for event in &events[1..4] {
        assert_eq!(deliver(&webhook, OLD_SECRET, event).await, 200);
        assert_eq!(deliver(&webhook, NEW_SECRET, event).await, 200);
    }

    // The old subscription is deleted, then the previous secret retired (its stage removed).
    let versions = secrets
        .list_secret_version_ids()
        .secret_id(&arn)
        .send()
        .await
        .expect("list versions");
    let old_version = versions
        .versions()
        .iter()
        .find(|v| v.version_stages().iter().any(|s| s == PREVIOUS_STAGE))
        .and_then(|v| v.version_id())
        .expect("a previous version")
        .to_owned();
    assert_ne!(old_version, new_version);
    secrets
        .update_secret_version_stage()
        .secret_id(&arn)
        .version_stage(PREVIOUS_STAGE)
        .remove_from_version_id(&old_version)
        .send()
        .await
        .expect("retire the previous secret");
    wait_for_refresh().await;
    assert_eq!(deliver(&webhook, NEW_SECRET, &events[4]).await, 200);
    assert_eq!(deliver(&webhook, OLD_SECRET, &events[4]).await, 401);

    // Drain the queue: 1 + 3×2 + 1 = 8 messages for 5 instances.
    let mut outcomes = Vec::new();
    loop {
        let messages = harness.receive().await;
        if messages.is_empty() {
            break;
        }
        let report = harness.run(messages).await;
        assert!(report.response.batch_item_failures.is_empty());
        outcomes.extend(report.outcomes.into_iter().map(|(_, outcome)| outcome));
    }
    assert_eq!(outcomes.len(), 8, "{outcomes:?}");
    let archived = outcomes
        .iter()
        .filter(|o| matches!(o, MessageOutcome::Archived(_)))
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o,
                MessageOutcome::AlreadyArchived {
                    completed_now: false,
                    ..
                } | MessageOutcome::ClaimedByAnotherRun(_)
            )
        })
        .count();
    assert_eq!((archived, duplicates), (5, 3), "{outcomes:?}");
    assert!(harness.dead_letters().await.is_empty());
    for (instance, event) in instances.iter().zip(&events) {
        harness.verify_archive(instance, &event_id(event)).await;
        assert_eq!(harness.completes_of(instance), 1, "one completion each");
    }
}
