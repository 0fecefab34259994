//! The Events subscription API as Altinn documents it (create with its validation event,
//! dedupe, get/list/delete, request checks), with a small axum webhook receiver on 127.0.0.1:0.
//! Pushes of published events are in event_pushes.rs.

mod common;
mod events_common;

use std::time::Duration;

use altinn_sim::{InstanceSpec, SimConfig};
use common::*;
use events_common::*;
use serde_json::{Value, json};

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
            &org_and_events,
            json!({"endPoint": hook, "resourceFilter": "app_ttd_app"}),
            400,
            "Resource filter must be a valid urn",
        ),
        (
            "resource and source disagree",
            &org,
            json!({"endPoint": hook, "sourceFilter": source, "resourceFilter": "urn:altinn:resource:app_ttd_other"}),
            400,
            "not compatible",
        ),
        (
            "neither resource nor source (a generic subscription)",
            &org_and_events,
            json!({"endPoint": hook}),
            400,
            "Resource filter is required.",
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
            "IncludeSubunits requires a subject filter.",
        ),
        (
            "endpoint not a string",
            &org,
            json!({"endPoint": 5, "sourceFilter": source}),
            400,
            "errors",
        ),
        (
            "non-app resource without events.subscribe (403, empty body)",
            &org,
            json!({"endPoint": hook, "resourceFilter": "urn:altinn:resource:skd-melding"}),
            403,
            "",
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
        if marker.is_empty() {
            assert_eq!(answer, Value::String(String::new()), "{what}: no body");
        }
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
