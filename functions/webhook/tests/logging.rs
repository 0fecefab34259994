//! Logs at TRACE level across every branch never contain the secret or a raw query string,
//! and the lines of an event carry its id from the span. (One test in its own binary, so its
//! thread-local subscriber sees every callsite.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::corpus::hostile_requests;
use common::*;
use lambda_http::http::Method;
use serde_json::{Value, json};
use webhook::EnqueueError;

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn no_branch_logs_the_secret_or_the_query_and_event_lines_carry_the_event_id() {
    let captured = Captured::default();
    // The same shape as lambda-support's JSON logging, at the most verbose level.
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .flatten_event(true)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let secret = secret();
    let query = format!("code={secret}");
    let percent_encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    let webhook = webhook();
    let failing = webhook_with(
        &config(),
        RecordingQueue::failing(EnqueueError::TimedOut(Duration::from_secs(4))),
    );

    // Every branch: accepted, validation, ignored, 403, 503, 405, and the whole hostile corpus
    // (401, 400, 413) plus queries that carry the secret in other spellings.
    let mut requests = vec![
        (&webhook, authorised_post(text(&completed_event()))),
        (&webhook, authorised_post(text(&validation_event()))),
        (
            &webhook,
            authorised_post(text(&app_event(
                "ttd",
                APP,
                "app.instance.created",
                "0d000000-0000-4000-8000-000000000001",
            ))),
        ),
        (
            &webhook,
            authorised_post(text(&app_event(
                "skd",
                APP,
                "app.instance.process.completed",
                "0d000000-0000-4000-8000-000000000002",
            ))),
        ),
        (&failing, authorised_post(text(&completed_event()))),
        (&webhook, request(Method::DELETE, &query, None, Vec::new())),
        (
            &webhook,
            post(
                &format!("code={percent_encoded}&x=1"),
                text(&completed_event()),
            ),
        ),
        (
            &webhook,
            post(
                &format!("code={secret}&code={secret}"),
                text(&completed_event()),
            ),
        ),
        (
            &webhook,
            post(
                &format!("code={}", secret.to_uppercase()),
                text(&completed_event()),
            ),
        ),
    ];
    for case in hostile_requests() {
        requests.push((&webhook, case.request));
    }
    for (target, request) in requests {
        target.handle(request).await;
    }
    drop(_guard);

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).expect("UTF-8 logs");
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        lines.len() > 50,
        "expected a line per request, got {}",
        lines.len()
    );

    let lowercase = output.to_lowercase();
    for forbidden in [
        secret.as_str(),
        &secret.to_uppercase(),
        &percent_encoded,
        query.as_str(),
        "code=",
        "?code",
    ] {
        assert!(
            !lowercase.contains(&forbidden.to_lowercase()),
            "logs contain {forbidden:?}"
        );
    }

    // The accepted event's lines carry its id (from the span) and instance.
    let enqueued = lines
        .iter()
        .find(|line| line["message"] == "event enqueued")
        .expect("an 'event enqueued' line");
    assert_eq!(
        enqueued["span"]["event_id"],
        "c8a31a5e-6e3f-4c5b-9f51-0d6f3f6d2a11"
    );
    assert_eq!(
        enqueued["span"]["instance"],
        json!(format!("ttd/{APP}/{PARTY_ID}/{INSTANCE_GUID}"))
    );
    let failed = lines
        .iter()
        .find(|line| line["level"] == "ERROR")
        .expect("an error line for the failed enqueue");
    assert_eq!(
        failed["span"]["event_id"],
        "c8a31a5e-6e3f-4c5b-9f51-0d6f3f6d2a11"
    );
    let refused = lines
        .iter()
        .filter(|line| line["reason"] == "unauthorized")
        .count();
    assert!(refused >= 10, "401s are logged ({refused})");
}
