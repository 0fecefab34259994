//! Malformed and hostile input: each corpus request gets its 4xx and nothing is enqueued; a
//! seeded random loop checks that no input at all can panic the handler, produce a 5xx, or
//! get a 200 "accepted" without a queued message.

mod common;

use common::corpus::hostile_requests;
use common::*;
use lambda_http::http::Method;

#[tokio::test]
async fn every_hostile_request_gets_its_4xx_and_nothing_is_enqueued() {
    let webhook = webhook();
    let mut failures = Vec::new();
    for case in hostile_requests() {
        let response = webhook.handle(case.request).await;
        let (status, problem) = status_and_json(&response);
        if status != case.status {
            failures.push(format!(
                "{}: expected {}, got {status} {problem}",
                case.name, case.status
            ));
            continue;
        }
        // Every refusal is a problem document with the status repeated and a detail.
        if content_type(&response) != "application/problem+json"
            || problem["status"] != status
            || !problem["detail"].is_string()
        {
            failures.push(format!(
                "{}: not a proper problem document: {problem}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        webhook.queue().messages().is_empty(),
        "a hostile request was enqueued"
    );
}

/// Random bytes, random mutations of a valid event, random content types and queries.
#[tokio::test]
async fn random_input_never_panics_never_5xx_and_never_acknowledges_without_queueing() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_ab1e);
    let webhook = webhook();
    let good = text(&completed_event()).into_bytes();
    let secret = secret();
    let content_types = [
        None,
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("application/cloudevents+json"),
        Some("text/plain"),
        Some("application/json; charset=\"UTF-8\"; x=y"),
    ];
    let methods = [
        Method::POST,
        Method::POST,
        Method::POST,
        Method::GET,
        Method::PUT,
    ];
    let mut accepted = 0usize;
    for round in 0..3_000 {
        let body: Vec<u8> = match round % 3 {
            0 => (0..rng.usize(0..600)).map(|_| rng.u8(..)).collect(),
            1 => {
                let mut body = good.clone();
                for _ in 0..rng.usize(1..6) {
                    let at = rng.usize(..body.len());
                    match rng.u8(0..3) {
                        0 => body[at] = rng.u8(..),
                        1 => {
                            body.remove(at);
                        }
                        _ => body.insert(at, rng.u8(..)),
                    }
                }
                body
            }
            _ => {
                // Mostly-JSON: a valid event with random ASCII spliced into one place.
                let mut body = good.clone();
                let at = rng.usize(..body.len());
                let noise: Vec<u8> = (0..rng.usize(1..20)).map(|_| rng.u8(32..127)).collect();
                body.splice(at..at, noise);
                body
            }
        };
        let query = match rng.u8(0..5) {
            0 => String::new(),
            1 => format!("code={}", secret.to_uppercase()),
            2 => format!("code={secret}&code={}", rng.u32(..)),
            _ => format!("code={secret}"),
        };
        let method = methods[rng.usize(..methods.len())].clone();
        let content_type = content_types[rng.usize(..content_types.len())];
        let before = webhook.queue().messages().len();
        let response = webhook
            .handle(request(method, &query, content_type, body))
            .await;
        let after = webhook.queue().messages().len();
        let (status, answer) = status_and_json(&response);
        assert!(
            (200..500).contains(&status),
            "round {round}: status {status}"
        );
        let acknowledged_as_queued = status == 200 && answer["outcome"] == "accepted";
        assert_eq!(
            acknowledged_as_queued,
            after == before + 1,
            "round {round}: {status} {answer}"
        );
        assert!(after <= before + 1);
        if acknowledged_as_queued {
            accepted += 1;
        }
    }
    // Some byte flips leave a valid event (e.g. inside `time`); most must not be accepted.
    assert!(accepted < 600, "{accepted} random requests were accepted");
}
