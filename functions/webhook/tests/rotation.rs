//! Secret rotation: a comma-separated `WEBHOOK_SECRET` accepts each listed secret, and a
//! Secrets Manager secret's `AWSCURRENT` and `AWSPREVIOUS` versions are both accepted and
//! re-read after `WEBHOOK_SECRET_REFRESH_SECS` without a restart (against `moto_server`).

mod common;

use std::time::Duration;

use common::*;
use testkit::MotoServer;
use webhook::{AcceptedSecrets, Webhook};

const V1: &str = "rotation-secret-version-1";
const V2: &str = "rotation-secret-version-2";
const V3: &str = "rotation-secret-version-3";

/// The status the webhook answers for a completed event presenting `code`.
async fn status_with<Q: webhook::EventQueue>(webhook: &Webhook<Q>, code: &str) -> u16 {
    webhook
        .handle(post(&format!("code={code}"), text(&completed_event())))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_comma_separated_secret_is_accepted_and_nothing_else() {
    let config = config_with(&[("WEBHOOK_SECRET", &format!("{V2}, {V1}"))]);
    let webhook = Webhook::with_accepted_secrets(
        &config,
        AcceptedSecrets::from_config(&config, &aws_config::SdkConfig::builder().build())
            .await
            .expect("inline secrets need no AWS"),
        RecordingQueue::default(),
    );
    assert_eq!(status_with(&webhook, V1).await, 200);
    assert_eq!(status_with(&webhook, V2).await, 200);
    assert_eq!(status_with(&webhook, V3).await, 401);
    assert_eq!(status_with(&webhook, &format!("{V2},{V1}")).await, 401);
    assert_eq!(status_with(&webhook, &format!("{V2}%2C%20{V1}")).await, 401);
    assert_eq!(status_with(&webhook, "").await, 401);
    assert_eq!(webhook.queue().messages().len(), 2);
}

#[tokio::test]
async fn current_and_previous_versions_are_accepted_and_follow_rotations() {
    let moto = MotoServer::start().await;
    let sdk_config = moto.sdk_config().await;
    let queue_url = moto.create_queue("altinn-events").await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config);
    let arn = client
        .create_secret()
        .name("webhook-rotation")
        .secret_string(V1)
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("secret ARN");
    let config = config_with(&[
        ("QUEUE_URL", &queue_url),
        ("WEBHOOK_SECRET", ""),
        ("WEBHOOK_SECRET_ARN", &arn),
        ("WEBHOOK_SECRET_REFRESH_SECS", "1"),
    ]);
    let webhook = Webhook::from_config(config, &sdk_config)
        .await
        .expect("webhook starts");

    // Never rotated: only v1, and no AWSPREVIOUS is fine.
    assert_eq!(status_with(&webhook, V1).await, 200);
    assert_eq!(status_with(&webhook, V2).await, 401);

    // Rotation step 1: v2 becomes AWSCURRENT, v1 AWSPREVIOUS. Until the interval has passed
    // the webhook still knows only v1 (no call to Secrets Manager per request).
    put_version(&client, &arn, V2).await;
    assert_eq!(status_with(&webhook, V2).await, 401);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(status_with(&webhook, V2).await, 200);
    assert_eq!(status_with(&webhook, V1).await, 200);
    assert_eq!(status_with(&webhook, V3).await, 401);

    // The next rotation retires v1: v3 current, v2 previous.
    put_version(&client, &arn, V3).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(status_with(&webhook, V3).await, 200);
    assert_eq!(status_with(&webhook, V2).await, 200);
    assert_eq!(status_with(&webhook, V1).await, 401);

    // A failed refresh (the secret is gone) keeps the secrets loaded before.
    client
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete secret");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(status_with(&webhook, V3).await, 200);
    assert_eq!(status_with(&webhook, V2).await, 200);
    assert_eq!(status_with(&webhook, V1).await, 401);

    assert_eq!(moto.receive_all(&queue_url).await.len(), 7);
}

async fn put_version(client: &aws_sdk_secretsmanager::Client, arn: &str, value: &str) {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .expect("put secret value");
}
