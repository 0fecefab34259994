//! `subscription rotate` against the real webhook, served on 127.0.0.1 and reading its secret
//! from moto's Secrets Manager as it does in AWS, with the Altinn simulator pushing to it.

mod common;
mod subscription_common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use altinn_sim::{SimConfig, Simulator};
use archive_ops::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use axum::Router;
use axum::extract::State;
use subscription_common::{altinn_env, json, run};
use testkit::MotoServer;
use webhook::{Webhook, WebhookConfig};

/// The secret before a rotation: strong enough for the webhook (no spaces), with the marker
/// `run` looks for in everything printed.
const OLD_SECRET: &str = "ops-S3cret-before-the-rotation-0001";

/// The real webhook, swappable the way a redeploy replaces the running function.
#[derive(Clone)]
struct LiveWebhook(Arc<Mutex<Arc<Webhook>>>);

impl LiveWebhook {
    /// Starts a webhook instance as its Lambda `main` would: secret from `arn`, re-read every
    /// `refresh_secs`.
    async fn deploy(&self, moto: &MotoServer, sim: &Simulator, arn: &str, refresh_secs: u64) {
        *self.0.lock().unwrap() = Arc::new(start_webhook(moto, sim, arn, refresh_secs).await);
    }

    fn current(&self) -> Arc<Webhook> {
        Arc::clone(&self.0.lock().unwrap())
    }

    /// The status the webhook answers a validation event sent with `code`.
    async fn status_for(&self, sim: &Simulator, code: &str) -> u16 {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", code)
            .finish();
        let event = serde_json::json!({
            "specversion": "1.0",
            "id": uuid::Uuid::new_v4().to_string(),
            "source": format!("{}events/api/v1/subscriptions/1", sim.base_url()),
            "type": "platform.events.validatesubscription",
        });
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!("/events?{query}"))
            .header("content-type", "application/cloudevents+json")
            .body(lambda_http::Body::from(event.to_string()))
            .unwrap();
        self.current().handle(request).await.status().as_u16()
    }
}

async fn start_webhook(
    moto: &MotoServer,
    sim: &Simulator,
    arn: &str,
    refresh_secs: u64,
) -> Webhook {
    let base = sim.base_url().to_string();
    let env = HashMap::from([
        ("WEBHOOK_SECRET_ARN", arn.to_owned()),
        ("WEBHOOK_SECRET_REFRESH_SECS", refresh_secs.to_string()),
        (
            "QUEUE_URL",
            format!("{}/123456789012/altinn-events", moto.endpoint()),
        ),
        ("ALTINN_ENV", "local".to_owned()),
        ("ALTINN_ORG", "ttd".to_owned()),
        ("ALTINN_PLATFORM_URL", base.clone()),
        ("ALTINN_APPS_URL", base),
    ]);
    let config = WebhookConfig::from_lookup(&|name: &str| env.get(name).cloned()).unwrap();
    // EMF metric lines kept in memory instead of the test's stdout.
    Webhook::from_config(config, &moto.sdk_config().await)
        .await
        .unwrap()
        .with_metric_lines(webhook::MetricLines::default())
}

/// One HTTP request to the webhook, converted to the `lambda_http::Request` API Gateway would
/// hand it, and its answer back.
async fn serve_webhook(
    State(live): State<LiveWebhook>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, webhook::MAX_BODY_BYTES + 1)
        .await
        .unwrap();
    let mut lambda_request = lambda_http::Request::new(lambda_http::Body::from(bytes.to_vec()));
    *lambda_request.method_mut() = parts.method;
    *lambda_request.uri_mut() = parts.uri;
    *lambda_request.headers_mut() = parts.headers;
    let (parts, body) = live.current().handle(lambda_request).await.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.as_ref().to_vec()))
}

/// The real webhook on 127.0.0.1:0, every path; its base URL.
async fn serve_live_webhook(
    moto: &MotoServer,
    sim: &Simulator,
    arn: &str,
    refresh_secs: u64,
) -> (String, LiveWebhook) {
    let live = LiveWebhook(Arc::new(Mutex::new(Arc::new(
        start_webhook(moto, sim, arn, refresh_secs).await,
    ))));
    let app = Router::new()
        .fallback(serve_webhook)
        .with_state(live.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, live)
}

/// A Secrets Manager secret holding [`OLD_SECRET`]; its ARN and client.
async fn webhook_secret(moto: &MotoServer) -> (String, aws_sdk_secretsmanager::Client) {
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let arn = secrets
        .create_secret()
        .name("webhook-secret")
        .secret_string(OLD_SECRET)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    (arn, secrets)
}

async fn stage(secrets: &aws_sdk_secretsmanager::Client, arn: &str, stage: &str) -> Option<String> {
    secrets
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .ok()
        .and_then(|output| output.secret_string)
}

/// `subscription create --wait` for `ttd/ops-app` with the secret from `arn`; its id.
async fn create_old_subscription(
    moto: &MotoServer,
    env: &HashMap<&'static str, String>,
    endpoint: &str,
    arn: &str,
) -> i64 {
    let created = run(
        moto,
        env,
        &[
            "subscription",
            "create",
            "--endpoint",
            endpoint,
            "--app",
            "ttd/ops-app",
            "--type-filter",
            "app.instance.process.completed",
            "--secret-arn",
            arn,
            "--wait",
            "--timeout",
            "30s",
            "--json",
        ],
    )
    .await;
    assert_eq!(created.code, EXIT_OK, "{}", created.err);
    json(&created)["id"].as_i64().unwrap()
}

#[tokio::test]
async fn rotate_replaces_the_subscription_and_retires_the_old_secret() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (arn, secrets) = webhook_secret(&moto).await;
    let (hook, live) = serve_live_webhook(&moto, &sim, &arn, 1).await;
    let endpoint = format!("{hook}/events");
    let mut env = altinn_env(&sim);
    let old_id = create_old_subscription(&moto, &env, &endpoint, &arn).await;
    assert_eq!(live.status_for(&sim, OLD_SECRET).await, 200);

    // The ARN from WEBHOOK_SECRET_ARN, as for `create`.
    env.insert("WEBHOOK_SECRET_ARN", arn.clone());
    let rotated = run(
        &moto,
        &env,
        &[
            "subscription",
            "rotate",
            "--old-id",
            &old_id.to_string(),
            "--endpoint",
            &endpoint,
            "--refresh-wait",
            "2s",
            "--timeout",
            "30s",
            "--json",
        ],
    )
    .await;
    assert_eq!(rotated.code, EXIT_OK, "{}", rotated.err);
    for step in 1..=6 {
        assert!(
            rotated.err.contains(&format!("[{step}/6] done")),
            "step {step}: {}",
            rotated.err
        );
    }
    assert!(
        rotated.err.contains("2s left"),
        "countdown: {}",
        rotated.err
    );
    let report = json(&rotated);
    assert_eq!(report["completed"], true);
    assert_eq!(report["oldSubscriptionId"], old_id);
    assert_eq!(report["oldSubscriptionDeleted"], true);
    assert_eq!(report["previousVersionRetired"], true);
    assert_eq!(report["subscription"]["validated"], true);
    assert_eq!(
        report["subscription"]["endPoint"],
        format!("{endpoint}?code=***")
    );

    // Altinn has exactly the new subscription: validated, same filters, the new secret.
    let new_secret = stage(&secrets, &arn, "AWSCURRENT").await.unwrap();
    assert_ne!(new_secret, OLD_SECRET);
    assert_eq!(new_secret.len(), 48);
    assert!(new_secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    for text in [&rotated.out, &rotated.err] {
        assert!(
            !text.contains(&new_secret),
            "printed the new secret:\n{text}"
        );
    }
    let stored = sim.subscriptions();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["id"], report["newSubscriptionId"]);
    assert_ne!(stored[0]["id"], old_id);
    assert_eq!(stored[0]["validated"], true);
    assert_eq!(stored[0]["typeFilter"], "app.instance.process.completed");
    assert_eq!(
        stored[0]["sourceFilter"],
        format!("{}ttd/ops-app", sim.base_url())
    );
    let stored_endpoint = url::Url::parse(stored[0]["endPoint"].as_str().unwrap()).unwrap();
    let codes: Vec<String> = stored_endpoint
        .query_pairs()
        .filter(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(codes, std::slice::from_ref(&new_secret));

    // The previous version is retired: no AWSPREVIOUS stage left anywhere.
    assert_eq!(stage(&secrets, &arn, "AWSPREVIOUS").await, None);
    let versions = secrets
        .list_secret_version_ids()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        versions
            .versions()
            .iter()
            .all(|v| !v.version_stages().iter().any(|s| s == "AWSPREVIOUS"))
    );
    assert_eq!(
        report["currentVersionId"],
        versions
            .versions()
            .iter()
            .find(|v| v.version_stages().iter().any(|s| s == "AWSCURRENT"))
            .unwrap()
            .version_id()
            .unwrap()
    );

    // After the webhook's refresh interval the old code is refused, the new one accepted.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(live.status_for(&sim, OLD_SECRET).await, 401);
    assert_eq!(live.status_for(&sim, &new_secret).await, 200);

    // The old subscription is gone, so a second rotation of it stops at step 1.
    let again = run(
        &moto,
        &env,
        &[
            "subscription",
            "rotate",
            "--old-id",
            &old_id.to_string(),
            "--endpoint",
            &endpoint,
            "--refresh-wait",
            "0s",
        ],
    )
    .await;
    assert_eq!(again.code, EXIT_FAILURE, "{}", again.err);
    assert!(
        again.err.contains("[1/6] failed: no subscription"),
        "{}",
        again.err
    );
    assert!(
        again.err.contains("this run changed nothing"),
        "{}",
        again.err
    );
}

#[tokio::test]
async fn rotate_stops_before_deleting_anything_when_the_new_subscription_is_not_validated() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (arn, secrets) = webhook_secret(&moto).await;
    // The webhook re-reads its secret only every hour: with no refresh wait, Altinn's
    // validation event for the new subscription gets 401 until the timeout.
    let (hook, live) = serve_live_webhook(&moto, &sim, &arn, 3_600).await;
    let endpoint = format!("{hook}/events");
    let env = altinn_env(&sim);
    let old_id = create_old_subscription(&moto, &env, &endpoint, &arn).await;
    let rotate = |refresh_wait: &'static str, timeout: &'static str, endpoint: String| {
        let (arn, old_id) = (arn.clone(), old_id.to_string());
        let env = env.clone();
        let moto = &moto;
        async move {
            run(
                moto,
                &env,
                &[
                    "subscription",
                    "rotate",
                    "--old-id",
                    &old_id,
                    "--endpoint",
                    &endpoint,
                    "--secret-arn",
                    &arn,
                    "--refresh-wait",
                    refresh_wait,
                    "--timeout",
                    timeout,
                    "--json",
                ],
            )
            .await
        }
    };

    // Another webhook's endpoint: refused at step 1, nothing changed.
    let elsewhere = rotate("0s", "3s", format!("{hook}/other")).await;
    assert_eq!(elsewhere.code, EXIT_FAILURE, "{}", elsewhere.err);
    assert!(elsewhere.err.contains("[1/6] failed"), "{}", elsewhere.err);
    assert_eq!(
        stage(&secrets, &arn, "AWSCURRENT").await.unwrap(),
        OLD_SECRET
    );

    let failed = rotate("0s", "3s", endpoint.clone()).await;
    assert_eq!(failed.code, EXIT_FAILURE, "{}", failed.err);
    assert!(failed.err.contains("[4/6] failed"), "{}", failed.err);
    for expected in [
        "nothing was deleted",
        "the webhook accepts both",
        "is not validated",
        "wait-validated",
        &format!("archive-ops subscription delete {old_id}"),
        "--version-stage AWSPREVIOUS --remove-from-version-id",
        "--version-stage AWSCURRENT --move-to-version-id",
    ] {
        assert!(failed.err.contains(expected), "{expected}: {}", failed.err);
    }
    assert!(!failed.err.contains("[5/6]"), "{}", failed.err);
    let report = json(&failed);
    assert_eq!(report["completed"], false);
    assert_eq!(report["failedStep"], 4);
    assert_eq!(report["subscription"]["validated"], false);
    let new_id = report["newSubscriptionId"].as_i64().unwrap();
    // Both subscriptions are there, the old one still validated; both secrets are kept.
    let stored = sim.subscriptions();
    assert_eq!(stored.len(), 2, "{stored:?}");
    let old = stored.iter().find(|s| s["id"] == old_id).unwrap();
    assert_eq!(old["validated"], true);
    assert_eq!(
        stage(&secrets, &arn, "AWSPREVIOUS").await.as_deref(),
        Some(OLD_SECRET)
    );
    let new_secret = stage(&secrets, &arn, "AWSCURRENT").await.unwrap();
    assert!(!failed.err.contains(&new_secret) && !failed.out.contains(&new_secret));
    assert_eq!(live.status_for(&sim, OLD_SECRET).await, 200);

    // The cause fixed (a redeployed webhook reads both versions at start), the same command
    // continues: it keeps the new secret and the new subscription, then finishes.
    live.deploy(&moto, &sim, &arn, 1).await;
    let resumed = rotate("0s", "30s", endpoint.clone()).await;
    assert_eq!(resumed.code, EXIT_OK, "{}", resumed.err);
    assert!(
        resumed.err.contains("continuing an earlier rotation"),
        "{}",
        resumed.err
    );
    assert_eq!(json(&resumed)["newSubscriptionId"], new_id);
    assert_eq!(
        stage(&secrets, &arn, "AWSCURRENT").await.unwrap(),
        new_secret
    );
    assert_eq!(stage(&secrets, &arn, "AWSPREVIOUS").await, None);
    let stored = sim.subscriptions();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["id"], new_id);
    assert_eq!(stored[0]["validated"], true);
}

#[tokio::test]
async fn rotate_usage_errors() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut env = altinn_env(&sim);
    let arn = "arn:aws:secretsmanager:eu-north-1:123456789012:secret:hook";
    // Only an inline secret: rotate needs Secrets Manager.
    env.insert("WEBHOOK_SECRET", OLD_SECRET.to_owned());
    let inline = run(
        &moto,
        &env,
        &[
            "subscription",
            "rotate",
            "--old-id",
            "1",
            "--endpoint",
            "http://127.0.0.1:9/e",
        ],
    )
    .await;
    assert_eq!(inline.code, EXIT_USAGE, "{}", inline.err);
    assert!(inline.err.contains("WEBHOOK_SECRET_ARN"), "{}", inline.err);
    let rotate = |extra: &'static [&'static str]| {
        let mut words = vec!["subscription", "rotate", "--secret-arn", arn];
        words.extend_from_slice(extra);
        words
    };
    for words in [
        rotate(&["--endpoint", "http://127.0.0.1:9/e"]),
        rotate(&["--old-id", "1"]),
        rotate(&["--old-id", "x", "--endpoint", "http://127.0.0.1:9/e"]),
        rotate(&[
            "--old-id",
            "1",
            "--endpoint",
            "http://127.0.0.1:9/e?code=ops-S3cret",
        ]),
        rotate(&[
            "--old-id",
            "1",
            "--endpoint",
            "http://127.0.0.1:9/e",
            "--refresh-wait",
            "soon",
        ]),
        rotate(&[
            "--old-id",
            "1",
            "--endpoint",
            "http://127.0.0.1:9/e",
            "--app",
            "ttd/a",
        ]),
        rotate(&[
            "--old-id",
            "1",
            "--endpoint",
            "http://127.0.0.1:9/e",
            "ops-S3cret-word",
        ]),
    ] {
        let output = run(&moto, &env, &words).await;
        assert_eq!(output.code, EXIT_USAGE, "{words:?}: {}", output.err);
    }
    assert!(sim.subscriptions().is_empty());
    let help = run(&moto, &env, &["subscription", "rotate", "--help"]).await;
    assert!(help.out.contains("--refresh-wait") && help.out.contains("AWSPREVIOUS"));
}
