//! Events subscriptions and pushes against reference §3.3–3.6 and §6, with a small axum webhook
//! receiver on 127.0.0.1:0.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use altinn_sim::{InstanceSpec, SimConfig, Simulator};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::*;
use serde_json::{Value, json};

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Received {
    content_type: Option<String>,
    authorization: Option<String>,
    body: Value,
}

type Responder = Arc<dyn Fn(usize) -> u16 + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    respond: Responder,
}

/// A webhook that records what it gets and answers `respond(n)` to its n-th (0-based) POST.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(respond: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            received: Arc::clone(&received),
            respond: Arc::new(respond),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Receiver {
            url,
            received,
            server,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn of_type(&self, event_type: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.body["type"] == event_type)
            .collect()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let mut received = state.received.lock().expect("lock");
    received.push(Received {
        content_type: header("content-type"),
        authorization: header("authorization"),
        body: serde_json::from_slice(&body).expect("one JSON event per POST"),
    });
    let n = received.len() - 1;
    StatusCode::from_u16((state.respond)(n)).expect("status")
}

const VALIDATE: &str = "platform.events.validatesubscription";
const COMPLETED: &str = "app.instance.process.completed";

fn subscriptions_url(sim: &Simulator) -> String {
    format!("{}events/api/v1/subscriptions", sim.base_url())
}

async fn create(sim: &Simulator, token: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = http()
        .post(subscriptions_url(sim))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let text = response.text().await.expect("body");
    (
        status,
        location,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn app_source(sim: &Simulator, app: &str) -> String {
    format!("{}ttd/{app}", sim.apps_url())
}

async fn wait_validated(sim: &Simulator, id: i64) -> bool {
    wait_until(Duration::from_secs(10), || {
        sim.subscriptions()
            .iter()
            .any(|s| s["id"] == id && s["validated"] == true)
    })
    .await
}

#[tokio::test]
async fn create_sends_the_validation_event_and_validates_on_2xx() {
    let sim = start().await;
    let receiver = Receiver::start(|_| 200).await;
    let token = altinn_token(&sim, READ).await;
    let (status, location, body) = create(
        &sim,
        &token,
        &json!({"endPoint": receiver.url, "sourceFilter": app_source(&sim, "sim-app")}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().expect("id");
    assert_eq!(
        location.as_deref(),
        Some(format!("/events/api/v1/subscription/{id}").as_str())
    );
    assert_eq!(body["endPoint"], receiver.url);
    assert_eq!(body["sourceFilter"], app_source(&sim, "sim-app"));
    assert_eq!(
        body["resourceFilter"],
        "urn:altinn:resource:app_ttd_sim-app"
    );
    assert_eq!(body["consumer"], "/org/ttd");
    assert_eq!(body["createdBy"], "/org/ttd");
    assert_eq!(body["validated"], false, "201 does not mean validated");
    assert_eq!(body["includeSubunits"], false);
    assert!(body["created"].is_string());
    assert!(
        body.get("subjectFilter").is_none() && body.get("typeFilter").is_none(),
        "nulls omitted"
    );

    assert!(
        wait_validated(&sim, id).await,
        "validated after the webhook answered 200"
    );
    let validations = receiver.of_type(VALIDATE);
    assert_eq!(validations.len(), 1);
    let event = &validations[0];
    assert_eq!(
        event.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        event.authorization, None,
        "Altinn pushes without authentication"
    );
    assert_eq!(event.body["specversion"], "1.0");
    assert!(uuid::Uuid::parse_str(event.body["id"].as_str().expect("id")).is_ok());
    assert_eq!(
        event.body["source"],
        format!("{}events/api/v1/subscriptions/{id}", sim.base_url())
    );
    for absent in ["time", "subject", "resource"] {
        assert!(
            event.body.get(absent).is_none(),
            "validation event has no {absent}"
        );
    }

    let fetched = http()
        .get(format!("{}/{id}", subscriptions_url(&sim)))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(fetched.status().as_u16(), 200);
    let fetched: Value = fetched.json().await.expect("json");
    assert_eq!(fetched["validated"], true);
    receiver.server.abort();
}

#[tokio::test]
async fn identical_repost_returns_the_same_subscription_and_revalidates() {
    let sim = start().await;
    let receiver = Receiver::start(|_| 200).await;
    let token = altinn_token(&sim, READ).await;
    let request = json!({"endPoint": receiver.url, "sourceFilter": app_source(&sim, "sim-app"), "typeFilter": COMPLETED});
    let (_, _, first) = create(&sim, &token, &request).await;
    let id = first["id"].as_i64().expect("id");
    assert!(wait_validated(&sim, id).await);
    let (status, _, again) = create(&sim, &token, &request).await;
    assert_eq!(status, 201);
    assert_eq!(again["id"], id);
    assert!(
        wait_until(Duration::from_secs(10), || receiver.of_type(VALIDATE).len()
            == 2)
        .await,
        "validation re-sent"
    );
    assert_eq!(sim.subscriptions().len(), 1);

    // Property names are case-insensitive; another type filter is another subscription.
    let other = json!({"endpoint": receiver.url, "SOURCEFILTER": app_source(&sim, "sim-app"), "typefilter": "app.instance.created"});
    let (status, _, different) = create(&sim, &token, &other).await;
    assert_eq!(status, 201, "{different}");
    assert_ne!(different["id"], id);
    assert_eq!(different["typeFilter"], "app.instance.created");
    receiver.server.abort();
}

#[tokio::test]
async fn failing_validation_is_retried_then_dead_lettered_and_still_listed() {
    let sim = start_with(SimConfig {
        retry_time_scale: 0.001,
        ..SimConfig::default()
    })
    .await;
    let receiver = Receiver::start(|_| 500).await;
    let token = altinn_token(&sim, READ).await;
    let (_, _, body) = create(
        &sim,
        &token,
        &json!({"endPoint": receiver.url, "sourceFilter": app_source(&sim, "a")}),
    )
    .await;
    let id = body["id"].as_i64().expect("id");
    assert!(
        wait_until(Duration::from_secs(20), || !sim.dead_letters().is_empty()).await,
        "dead-lettered"
    );
    let attempts: Vec<_> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.validation && d.subscription_id == id)
        .collect();
    assert_eq!(
        attempts.len(),
        9,
        "ValidationQueuePolicy: 1 + 3 cooldowns + 5 scheduled"
    );
    assert!(attempts.iter().all(|a| a.status == Some(500)));
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    // 1 s, 5 s, 10 s, 30 s, 60 s, 120 s ×3 (466 s), scaled by 0.001.
    let span = attempts[8].sent_at - attempts[0].sent_at;
    assert!(span >= Duration::from_millis(466), "{span:?}");
    assert_eq!(receiver.of_type(VALIDATE).len(), 9);

    let list: Value = http()
        .get(subscriptions_url(&sim))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(list["count"], 1);
    assert_eq!(list["subscriptions"][0]["id"], id);
    assert_eq!(
        list["subscriptions"][0]["validated"], false,
        "unvalidated subscriptions are listed"
    );

    // An unvalidated subscription gets no events.
    let instance = sim.add_instance(InstanceSpec::new("a", 5));
    sim.publish(&instance, COMPLETED);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.of_type(COMPLETED).is_empty());
    receiver.server.abort();
}

#[tokio::test]
async fn get_list_and_delete_check_the_caller() {
    let sim = start().await;
    let receiver = Receiver::start(|_| 200).await;
    let org_token = altinn_token(&sim, READ).await;
    let plain_token = altinn_token(&sim, "altinn:events.subscribe").await;
    let (_, _, body) = create(
        &sim,
        &org_token,
        &json!({"endPoint": receiver.url, "sourceFilter": app_source(&sim, "x")}),
    )
    .await;
    let id = body["id"].as_i64().expect("id");
    let url = format!("{}/{id}", subscriptions_url(&sim));
    let client = http();

    assert_eq!(
        client
            .get(&url)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(&plain_token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        client
            .delete(&url)
            .bearer_auth(&plain_token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        403
    );
    let missing = client
        .get(format!("{}/999", subscriptions_url(&sim)))
        .bearer_auth(&org_token)
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status().as_u16(), 404);
    assert!(
        missing.bytes().await.expect("body").is_empty(),
        "404 without a body"
    );

    let theirs: Value = client
        .get(subscriptions_url(&sim))
        .bearer_auth(&plain_token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(theirs, json!({"count": 0, "subscriptions": []}));

    let deleted = client
        .delete(&url)
        .bearer_auth(&org_token)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status().as_u16(), 200);
    assert!(deleted.bytes().await.expect("body").is_empty());
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(&org_token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        client
            .delete(&url)
            .bearer_auth(&org_token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        404
    );
    receiver.server.abort();
}

#[tokio::test]
async fn subscription_requests_are_validated() {
    let sim = start().await;
    let org = altinn_token(&sim, READ).await;
    let org_and_events = altinn_token(
        &sim,
        "altinn:serviceowner/instances.read altinn:events.subscribe",
    )
    .await;
    let plain = altinn_token(&sim, "altinn:events.subscribe").await;
    let hook = "http://127.0.0.1:9/hook";
    let source = app_source(&sim, "app");
    let rows: Vec<(&str, &String, Value, u16, &str)> = vec![
        (
            "no endpoint",
            &org,
            json!({"sourceFilter": source}),
            400,
            "Missing or invalid endpoint",
        ),
        (
            "http to a public host",
            &org,
            json!({"endPoint": "http://example.com/hook", "sourceFilter": source}),
            400,
            "Missing or invalid endpoint",
        ),
        (
            "relative endpoint",
            &org,
            json!({"endPoint": "/hook", "sourceFilter": source}),
            400,
            "Missing or invalid endpoint",
        ),
        (
            "ftp endpoint",
            &org,
            json!({"endPoint": "ftp://127.0.0.1/hook", "sourceFilter": source}),
            400,
            "Missing or invalid endpoint",
        ),
        (
            "source without app",
            &org,
            json!({"endPoint": hook, "sourceFilter": format!("{}ttd", sim.apps_url())}),
            400,
            "A valid app id is required",
        ),
        (
            "source with instance path",
            &org,
            json!({"endPoint": hook, "sourceFilter": format!("{source}/instances")}),
            400,
            "A valid app id is required",
        ),
        (
            "resource not a URN",
            &org,
            json!({"endPoint": hook, "resourceFilter": "app_ttd_app"}),
            400,
            "URN",
        ),
        (
            "resource and source disagree",
            &org,
            json!({"endPoint": hook, "sourceFilter": source, "resourceFilter": "urn:altinn:resource:app_ttd_other"}),
            400,
            "not compatible",
        ),
        (
            "neither resource nor source",
            &org,
            json!({"endPoint": hook}),
            400,
            "resource filter",
        ),
        (
            "no org and no subject",
            &plain,
            json!({"endPoint": hook, "sourceFilter": source}),
            400,
            "A valid subject",
        ),
        (
            "includeSubunits without subject",
            &org,
            json!({"endPoint": hook, "sourceFilter": source, "includeSubunits": true}),
            400,
            "subject",
        ),
        (
            "endpoint not a string",
            &org,
            json!({"endPoint": 5, "sourceFilter": source}),
            400,
            "errors",
        ),
        (
            "non-app resource without events.subscribe",
            &org,
            json!({"endPoint": hook, "resourceFilter": "urn:altinn:resource:skd-melding"}),
            403,
            "Not authorized",
        ),
        (
            "another org's app",
            &org,
            json!({"endPoint": hook, "resourceFilter": "urn:altinn:resource:app_skd_app"}),
            403,
            "Not authorized",
        ),
    ];
    for (what, token, body, expected, marker) in rows {
        let (status, _, answer) = create(&sim, token, &body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        let text = answer.to_string();
        assert!(
            text.contains(marker),
            "{what}: expected {marker:?} in {text}"
        );
    }
    assert!(sim.subscriptions().is_empty());

    let ok_rows: Vec<(&str, &String, Value)> = vec![
        (
            "https endpoint and resource only",
            &org,
            json!({"endPoint": "https://webhook.example/hook", "resourceFilter": "urn:altinn:resource:app_ttd_app"}),
        ),
        (
            "non-app resource with events.subscribe",
            &org_and_events,
            json!({"endPoint": hook, "resourceFilter": "urn:altinn:resource:skd-melding"}),
        ),
        (
            "no org but a subject",
            &plain,
            json!({"endPoint": hook, "sourceFilter": source, "subjectFilter": "/party/5"}),
        ),
    ];
    for (what, token, body) in ok_rows {
        let (status, _, answer) = create(&sim, token, &body).await;
        assert_eq!(status, 201, "{what}: {answer}");
    }

    let not_json = http()
        .post(subscriptions_url(&sim))
        .bearer_auth(&org)
        .body("{}")
        .header("content-type", "text/plain")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status().as_u16(), 415);
    let malformed = http()
        .post(subscriptions_url(&sim))
        .bearer_auth(&org)
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status().as_u16(), 400);
    let problem: Value = malformed.json().await.expect("problem json");
    assert!(problem["errors"].is_object());
    let anonymous = http()
        .post(subscriptions_url(&sim))
        .json(&json!({"endPoint": hook}))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
}

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
