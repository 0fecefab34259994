//! `subscription …` against the Altinn simulator, which POSTs the validation event to a small
//! receiver on 127.0.0.1 (standing in for the webhook), and moto for Secrets Manager.
//! `subscription rotate` is tested in rotate.rs, against the real webhook.

mod common;
mod subscription_common;

use std::sync::{Arc, Mutex};

use altinn_sim::{Route, SimConfig, Simulator};
use archive_ops::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subscription_common::{SECRET, altinn_env, json, run};
use testkit::MotoServer;

/// One request the stand-in webhook received: its path and every `code` value in its query.
struct Delivery {
    path: String,
    codes: Vec<String>,
}

/// Every request the stand-in webhook received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Delivery>>>);

impl Received {
    fn codes_for(&self, path: &str) -> Vec<Vec<String>> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|delivery| delivery.path == path)
            .map(|delivery| delivery.codes.clone())
            .collect()
    }
}

async fn record(
    State(received): State<Received>,
    uri: Uri,
    Query(pairs): Query<Vec<(String, String)>>,
) -> StatusCode {
    let codes = pairs
        .into_iter()
        .filter(|(name, _)| name == "code")
        .map(|(_, value)| value)
        .collect();
    received.0.lock().unwrap().push(Delivery {
        path: uri.path().to_owned(),
        codes,
    });
    if uri.path() == "/broken" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// A webhook stand-in on 127.0.0.1:0: `/events` and `/events2` answer 200, `/broken` 503.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/events", post(record))
        .route("/events2", post(record))
        .route("/broken", post(record))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, received)
}

#[tokio::test]
async fn create_wait_list_get_and_delete_with_the_secret_from_the_environment() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (hook, received) = receiver().await;
    let mut env = altinn_env(&sim);
    env.insert("WEBHOOK_SECRET", SECRET.to_owned());
    let endpoint = format!("{hook}/events");

    let created = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            &endpoint,
            "--app",
            "ttd/ops-app",
            "--type-filter",
            "app.instance.process.completed",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(created.code, EXIT_OK, "{}", created.err);
    assert!(created.err.contains("code=***"), "{}", created.err);
    let view = json(&created);
    assert_eq!(view["validated"], true);
    assert_eq!(view["endPoint"], format!("{endpoint}?code=***"));
    assert_eq!(view["typeFilter"], "app.instance.process.completed");
    assert_eq!(
        view["sourceFilter"],
        format!("{}ttd/ops-app", sim.base_url())
    );
    let id = view["id"].as_i64().unwrap();
    // The validation event reached the endpoint with exactly our secret, decoded intact.
    let codes = received.codes_for("/events");
    assert!(!codes.is_empty());
    assert!(codes.iter().all(|c| c == &[SECRET.to_owned()]), "{codes:?}");
    // Altinn stored the real secret (the redaction is ours, on output only).
    let stored = sim.subscriptions();
    assert!(stored[0]["endPoint"].as_str().unwrap().contains("code="));

    let listed = run(&moto, &env, &["subscription", "list", "--json"]).await;
    assert_eq!(listed.code, EXIT_OK, "{}", listed.err);
    let listed = json(&listed);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["endPoint"], format!("{endpoint}?code=***"));

    let table = run(&moto, &env, &["subscription", "list"]).await;
    assert!(table.out.starts_with("ID"), "{}", table.out);
    assert!(
        table.out.contains("code=***") && table.out.contains("1 subscription(s)"),
        "{}",
        table.out
    );

    let got = run(&moto, &env, &["subscription", "get", &id.to_string()]).await;
    assert_eq!(got.code, EXIT_OK, "{}", got.err);
    assert!(
        got.out.contains("yes") && got.out.contains("app.instance.process.completed"),
        "{}",
        got.out
    );
    let waited = run(
        &moto,
        &env,
        &["subscription", "wait-validated", &id.to_string()],
    )
    .await;
    assert_eq!(waited.code, EXIT_OK, "{}", waited.err);

    // An endpoint that never answers 2xx stays unvalidated: waiting times out with exit 1.
    let broken = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            &format!("{hook}/broken"),
            "--app",
            "ttd/ops-app",
            "--json",
        ],
    )
    .await;
    assert_eq!(broken.code, EXIT_OK, "{}", broken.err);
    let broken_id = json(&broken)["id"].as_i64().unwrap().to_string();
    let timed_out = run(
        &moto,
        &env,
        &[
            "subscription",
            "wait-validated",
            &broken_id,
            "--timeout",
            "2s",
            "--json",
        ],
    )
    .await;
    assert_eq!(timed_out.code, EXIT_FAILURE, "{}", timed_out.err);
    assert!(
        timed_out.err.contains("not validated yet"),
        "progress on stderr: {}",
        timed_out.err
    );
    assert_eq!(json(&timed_out)["validated"], false);
    assert!(!received.codes_for("/broken").is_empty());

    let deleted = run(&moto, &env, &["subscription", "delete", &broken_id]).await;
    assert_eq!(deleted.code, EXIT_OK, "{}", deleted.err);
    assert_eq!(
        run(&moto, &env, &["subscription", "get", &broken_id])
            .await
            .code,
        EXIT_FAILURE
    );
    assert_eq!(
        run(&moto, &env, &["subscription", "delete", &broken_id])
            .await
            .code,
        EXIT_FAILURE
    );
    let remaining = json(&run(&moto, &env, &["subscription", "list", "--json"]).await);
    assert_eq!(remaining.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_reads_the_secret_from_secrets_manager() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (hook, received) = receiver().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let arn = secrets
        .create_secret()
        .name("webhook-secret")
        // A trailing newline, as a value pasted into the console often has; the webhook trims.
        .secret_string(format!("{SECRET}\n"))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let env = altinn_env(&sim);

    let created = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            &format!("{hook}/events2"),
            "--app",
            "ttd/ops-app",
            "--secret-arn",
            &arn,
            "--wait",
            "--timeout",
            "30s",
        ],
    )
    .await;
    assert_eq!(created.code, EXIT_OK, "{}", created.err);
    assert!(created.out.contains("code=***"), "{}", created.out);
    assert_eq!(received.codes_for("/events2")[0], [SECRET.to_owned()]);

    let unknown = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            &format!("{hook}/events2"),
            "--app",
            "ttd/ops-app",
            "--secret-arn",
            "arn:aws:secretsmanager:eu-north-1:123456789012:secret:missing",
        ],
    )
    .await;
    assert_eq!(unknown.code, EXIT_FAILURE);
    assert!(unknown.err.contains("missing"), "{}", unknown.err);
}

/// The `scope` claim of the token on each subscription POST the simulator got, in order.
fn scopes_of_creates(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .iter()
        .filter(|r| r.route == Some(Route::Subscriptions) && r.method == "POST")
        .map(|r| {
            let token = r.bearer_token().expect("authenticated");
            let payload = token.split('.').nth(1).expect("a JWT");
            let claims: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
                    .expect("JSON claims");
            claims["scope"].as_str().expect("scope").to_owned()
        })
        .collect()
}

/// A Correspondence sender subscribes to its resource alone: no subject (every event of the
/// resource that Altinn lets through), and neither of the filters Altinn refuses for it.
#[tokio::test]
async fn a_correspondence_sender_subscribes_to_its_resource_without_a_subject() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (hook, received) = receiver().await;
    let mut env = altinn_env(&sim);
    env.insert("WEBHOOK_SECRET", SECRET.to_owned());
    let created = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            &format!("{hook}/events"),
            "--resource",
            "urn:altinn:resource:ttd-archive-correspondence",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(created.code, EXIT_OK, "{}", created.err);
    let view = json(&created);
    assert_eq!(
        view["resourceFilter"],
        "urn:altinn:resource:ttd-archive-correspondence"
    );
    assert_eq!(view["subjectFilter"], serde_json::Value::Null);
    assert_eq!(view["sourceFilter"], serde_json::Value::Null);
    assert_eq!(view["typeFilter"], serde_json::Value::Null);
    assert_eq!(view["validated"], true);
    let stored = sim.subscriptions();
    assert_eq!(stored.len(), 1);
    for refused_here in ["sourceFilter", "alternativeSubjectFilter", "subjectFilter"] {
        assert!(
            stored[0]
                .get(refused_here)
                .is_none_or(serde_json::Value::is_null),
            "{refused_here} was sent: {}",
            stored[0]
        );
    }
    assert_eq!(
        scopes_of_creates(&sim),
        ["altinn:serviceowner altinn:events.subscribe"]
    );
    assert_eq!(received.codes_for("/events")[0], [SECRET.to_owned()]);
}

#[tokio::test]
async fn generic_resources_get_only_their_filters_and_the_subscribe_token() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (hook, received) = receiver().await;
    let mut env = altinn_env(&sim);
    env.insert("WEBHOOK_SECRET", SECRET.to_owned());
    let endpoint = format!("{hook}/events");
    let subject = "urn:altinn:organization:identifier-no:991825827";
    let created = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            &endpoint,
            "--resource",
            "urn:altinn:resource:ttd-correspondence",
            "--subject",
            subject,
            "--include-subunits",
            "--type",
            "no.altinn.correspondence.correspondencepublished",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(created.code, EXIT_OK, "{}", created.err);
    assert!(
        created
            .err
            .contains("altinn:serviceowner altinn:events.subscribe"),
        "the note names the token's scopes: {}",
        created.err
    );
    let view = json(&created);
    assert_eq!(
        view["resourceFilter"],
        "urn:altinn:resource:ttd-correspondence"
    );
    assert_eq!(view["subjectFilter"], subject);
    assert_eq!(view["includeSubunits"], true);
    assert_eq!(
        view["typeFilter"],
        "no.altinn.correspondence.correspondencepublished"
    );
    assert_eq!(view["sourceFilter"], serde_json::Value::Null);
    assert_eq!(view["consumer"], "/org/ttd");
    assert_eq!(view["validated"], true);
    assert_eq!(received.codes_for("/events")[0], [SECRET.to_owned()]);

    // An app subscription next to it: no altinn:events.subscribe in its token.
    let app = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            &endpoint,
            "--app",
            "ttd/ops-app",
            "--json",
        ],
    )
    .await;
    assert_eq!(app.code, EXIT_OK, "{}", app.err);
    assert!(!app.err.contains("events.subscribe"), "{}", app.err);
    assert_eq!(
        scopes_of_creates(&sim),
        [
            "altinn:serviceowner altinn:events.subscribe",
            "altinn:serviceowner"
        ]
    );
    // Both are the service owner's: one list shows them.
    let listed = json(&run(&moto, &env, &["subscription", "list", "--json"]).await);
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_client_without_the_subscribe_scope_is_told_which_scopes_to_add() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig {
        client_scopes: [
            "altinn:serviceowner/instances.read",
            "altinn:serviceowner/instances.write",
            "altinn:serviceowner",
        ]
        .map(str::to_owned)
        .to_vec(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut env = altinn_env(&sim);
    env.insert("WEBHOOK_SECRET", SECRET.to_owned());
    let refused = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--endpoint",
            "http://127.0.0.1:9/events",
            "--resource",
            "urn:altinn:resource:ttd-correspondence",
        ],
    )
    .await;
    assert_eq!(refused.code, EXIT_FAILURE, "{}", refused.err);
    assert!(
        refused.err.contains("invalid_scope")
            && refused
                .err
                .contains("scopes altinn:serviceowner altinn:events.subscribe"),
        "{}",
        refused.err
    );
    assert!(sim.subscriptions().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn usage_errors_never_echo_the_secret() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut env = altinn_env(&sim);
    let create = |extra: &'static [&'static str]| {
        let mut words = vec![
            "subscription",
            "create",
            "--endpoint",
            "http://127.0.0.1:9/events",
        ];
        words.extend_from_slice(extra);
        words
    };
    // No secret anywhere.
    let missing = run(&moto, &env, &create(&["--app", "ttd/a"])).await;
    assert_eq!(missing.code, EXIT_USAGE);
    assert!(missing.err.contains("WEBHOOK_SECRET"), "{}", missing.err);

    env.insert("WEBHOOK_SECRET", SECRET.to_owned());
    let with_code = [
        "subscription",
        "create",
        "--endpoint",
        "http://127.0.0.1:9/events?code=ops-S3cret-on-the-command-line",
        "--app",
        "ttd/a",
    ];
    for words in [
        &with_code[..],
        &create(&["--app", "ttd/a", "ops-S3cret-as-a-word"]),
        &create(&[]),
        &create(&[
            "--app",
            "ttd/a",
            "--source-filter",
            "http://127.0.0.1:9/ttd/a",
        ]),
        &create(&["--app", "ttd/a", "--type-filter", ""]),
        &create(&["--app", "ttd/a", "--timeout", "5s"]),
        &create(&["--app", "skd/a"]),
        &create(&["--resource-filter", "not-a-urn"]),
        &create(&["--resource", "urn:altinn:resource:r", "--app", "ttd/a"]),
        &create(&[
            "--resource",
            "urn:altinn:resource:r",
            "--source-filter",
            "http://127.0.0.1:9/ttd/a",
        ]),
        &create(&[
            "--resource",
            "urn:altinn:resource:r",
            "--alternative-subject-filter",
            "/organisation/991825827",
        ]),
        &create(&[
            "--resource",
            "urn:altinn:resource:r",
            "--subject",
            "/party/1",
        ]),
        &create(&["--resource", "urn:altinn:resource:r", "--include-subunits"]),
        &create(&["--app", "ttd/a", "--subject", "urn:altinn:person:x"]),
        &create(&[
            "--resource",
            "urn:altinn:resource:app_ttd_a",
            "--subject",
            "urn:altinn:organization:identifier-no:1",
        ]),
        &create(&["--app", "ttd/a", "--alternative-subject-filter", "/party/1"]),
        &create(&["--app", "ttd/a", "--secret", "x"]),
        &["subscription", "get", "abc"],
        &["subscription", "wait-validated", "1", "--timeout", "soon"],
        &["subscription", "frobnicate"],
        &["subscription"],
    ] {
        let output = run(&moto, &env, words).await;
        assert_eq!(output.code, EXIT_USAGE, "{words:?}: {}", output.err);
    }
    env.insert("WEBHOOK_SECRET", "too-short".to_owned());
    let short = run(&moto, &env, &create(&["--app", "ttd/a"])).await;
    assert_eq!(short.code, EXIT_USAGE, "{}", short.err);
    assert!(short.err.contains("16"), "{}", short.err);
    assert!(sim.subscriptions().is_empty());

    let help = run(&moto, &env, &["subscription", "--help"]).await;
    assert_eq!(help.code, EXIT_OK);
    assert!(help.out.contains("Usage:") && help.out.contains("wait-validated"));
}
