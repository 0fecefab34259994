//! Fault injection (every kind) and the request log.

mod common;

use std::time::{Duration, Instant};

use altinn_sim::{DataSpec, Fault, FaultRule, InstanceSpec, Route, SeededInstance, Simulator};
use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn instance_url(sim: &Simulator, i: &SeededInstance) -> String {
    format!(
        "{}storage/api/v1/instances/{}",
        sim.base_url(),
        i.instance_id()
    )
}

/// Sends a raw HTTP/1.1 request and returns everything the server wrote before closing.
async fn raw_get(sim: &Simulator, path: &str, token: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        sim.addr()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn status_faults_count_down() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::Status(503),
        2,
    ));
    let url = instance_url(&sim, &instance);
    let first = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(first.status().as_u16(), 503);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/problem+json")
    );
    let problem: Value = first.json().await.expect("problem json");
    assert_eq!(problem["status"], 503);
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        503
    );
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let sim = start().await;
    sim.inject(FaultRule::times(
        Route::TokenExchange,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        1,
    ));
    let mp = maskinporten_token(&sim, READ).await;
    let response = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&mp)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let again = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&mp)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status().as_u16(), 200);
}

#[tokio::test]
async fn latency_delays_then_answers_normally() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    sim.inject(FaultRule::times(
        Route::AppGetInstance,
        Fault::Latency(Duration::from_millis(400)),
        1,
    ));
    let url = format!(
        "{}ttd/sim-app/instances/{}",
        sim.base_url(),
        instance.instance_id()
    );
    let started = Instant::now();
    let response = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    // A client timeout shorter than the latency fails.
    sim.inject(FaultRule::times(
        Route::AppGetInstance,
        Fault::Latency(Duration::from_secs(5)),
        1,
    ));
    let timed_out = http()
        .get(&url)
        .bearer_auth(&token)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn dropped_connections_get_no_response_at_all() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::DropConnection,
        2,
    ));
    let path = format!("/storage/api/v1/instances/{}", instance.instance_id());
    match raw_get(&sim, &path, &token).await {
        Ok(bytes) => assert!(
            bytes.is_empty(),
            "no HTTP response: got {:?}",
            String::from_utf8_lossy(&bytes)
        ),
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
    }
    let through_reqwest = http()
        .get(instance_url(&sim, &instance))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(
        through_reqwest.is_err(),
        "the client sees a failed request, not a status"
    );
    let after = http()
        .get(instance_url(&sim, &instance))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(after.status().as_u16(), 200);
    let statuses: Vec<u16> = sim
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(Route::StorageGetInstance))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        vec![0, 0, 200],
        "dropped requests are logged with status 0"
    );
}

#[tokio::test]
async fn truncated_bodies_keep_the_full_content_length() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::new("t-app", 7).with_data(DataSpec::attachment("big.bin", 100_000, 4)),
    );
    let data = &instance.data[0];
    let token = altinn_token(&sim, READ).await;
    sim.inject(FaultRule::times(
        Route::StorageGetData,
        Fault::TruncateBody { after_bytes: 1000 },
        2,
    ));
    let path = format!(
        "/storage/api/v1/instances/{}/data/{}",
        instance.instance_id(),
        data.id
    );

    let raw = raw_get(&sim, &path, &token).await.unwrap_or_default();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers were sent")
        + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: 100000"), "{head}");
    assert_eq!(raw.len() - split, 1000, "exactly after_bytes of the body");
    let expected = sim
        .data_bytes(instance.instance_guid, data.id)
        .expect("bytes");
    assert_eq!(&raw[split..], &expected[..1000]);

    let url = format!("{}{}", sim.base_url(), path.trim_start_matches('/'));
    let response = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.content_length(), Some(100_000));
    assert!(response.bytes().await.is_err(), "reading the body fails");

    let whole = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .bytes()
        .await
        .expect("body");
    assert_eq!(whole.len(), 100_000);
}

#[tokio::test]
async fn truncation_also_cuts_json_answers() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::TruncateBody { after_bytes: 10 },
        1,
    ));
    let response = http()
        .get(instance_url(&sim, &instance))
        .bearer_auth(&token)
        .send()
        .await
        .expect("headers");
    assert!(response.json::<Value>().await.is_err());
}

#[tokio::test]
async fn rules_can_target_one_instance_any_route_and_a_probability() {
    let sim = start().await;
    let hit = sim.add_instance(InstanceSpec::default());
    let spared = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    sim.inject(FaultRule::always(Route::Any, Fault::Status(500)).for_instance(hit.instance_guid));
    let get = |i: &SeededInstance| http().get(instance_url(&sim, i)).bearer_auth(&token).send();
    assert_eq!(get(&hit).await.expect("request").status().as_u16(), 500);
    assert_eq!(get(&spared).await.expect("request").status().as_u16(), 200);
    let app_data = format!(
        "{}ttd/sim-app/instances/{}/data/{}",
        sim.base_url(),
        hit.instance_id(),
        hit.data[0].id
    );
    assert_eq!(
        http()
            .get(&app_data)
            .bearer_auth(&token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16(),
        500
    );
    sim.clear_faults();
    assert_eq!(get(&hit).await.expect("request").status().as_u16(), 200);

    sim.inject(FaultRule::always(Route::Any, Fault::Status(502)));
    let response = http()
        .get(sim.token_exchange_url())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 502, "Any covers every route");
    sim.clear_faults();

    sim.inject(
        FaultRule::always(Route::StorageGetInstance, Fault::Status(500)).with_probability(0.0),
    );
    assert_eq!(get(&spared).await.expect("request").status().as_u16(), 200);
    sim.clear_faults();
    sim.inject(
        FaultRule::always(Route::StorageGetInstance, Fault::Status(500)).with_probability(0.5),
    );
    let mut failures = 0;
    for _ in 0..200 {
        if get(&spared).await.expect("request").status().as_u16() == 500 {
            failures += 1;
        }
    }
    assert!(
        (50..=150).contains(&failures),
        "about half of 200 failed, got {failures}"
    );
}

#[tokio::test]
async fn the_request_log_has_what_reached_the_simulator() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    sim.clear_requests();
    let response = http()
        .get(format!(
            "{}storage/api/v1/instances?org=ttd&size=5",
            sim.base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    http()
        .get(instance_url(&sim, &instance))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    http()
        .get(format!("{}nowhere", sim.base_url()))
        .send()
        .await
        .expect("request");

    let log = sim.requests();
    assert_eq!(log.len(), 3);
    let query = &log[0];
    assert_eq!(query.method, "GET");
    assert_eq!(query.path, "/storage/api/v1/instances");
    assert_eq!(query.query.as_deref(), Some("org=ttd&size=5"));
    assert_eq!(query.host.as_deref(), Some(sim.addr().to_string().as_str()));
    assert_eq!(
        query.authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(query.bearer_token(), Some(token.as_str()));
    assert_eq!(query.route, Some(Route::StorageQuery));
    assert_eq!(query.status, 200);
    assert_eq!(log[1].route, Some(Route::StorageGetInstance));
    assert_eq!(log[2].route, None);
    assert_eq!(log[2].status, 404);
    assert_eq!(log[2].authorization, None);
    let debug = format!("{query:?}");
    assert!(!debug.contains(&token), "Debug output redacts the token");
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}
