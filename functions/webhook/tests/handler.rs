//! Every branch of the handler on plain `http::Request`s, with an in-memory queue.

mod common;

use std::time::Duration;

use common::*;
use lambda_http::http::Method;
use serde_json::{Value, json};
use webhook::{EnqueueError, QueueMessage};

#[tokio::test]
async fn completed_event_is_enqueued_with_its_attributes_and_answered_200() {
    let webhook = webhook();
    let event = completed_event();
    let response = webhook.handle(authorised_post(text(&event))).await;
    let (status, body) = status_and_json(&response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"outcome": "accepted"}));
    assert_eq!(content_type(&response), "application/json");

    let messages = webhook.queue().messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(
        message,
        &QueueMessage {
            body: text(&event),
            event_type: "app.instance.process.completed".into(),
            event_id: "c8a31a5e-6e3f-4c5b-9f51-0d6f3f6d2a11".into(),
            instance: format!("ttd/{APP}/{PARTY_ID}/{INSTANCE_GUID}"),
        }
    );
}

#[tokio::test]
async fn the_body_is_enqueued_exactly_as_sent() {
    let webhook = webhook();
    // Pretty-printed, with an extension attribute and a big number: kept byte for byte.
    let mut event = completed_event();
    event["traceparent"] = json!("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let body = format!("{}\n", serde_json::to_string_pretty(&event).unwrap()).replace(
        "\"specversion\"",
        "\"bignumber\": 123456789012345678901234567890,\n  \"specversion\"",
    );
    let response = webhook.handle(authorised_post(body.clone())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(webhook.queue().messages()[0].body, body);
}

#[tokio::test]
async fn only_post_is_served() {
    for method in [
        Method::GET,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ] {
        let webhook = webhook();
        let request = request(
            method.clone(),
            &format!("code={}", secret()),
            Some("application/json"),
            text(&completed_event()),
        );
        let response = webhook.handle(request).await;
        let (status, body) = status_and_json(&response);
        assert_eq!(status, 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
        assert_eq!(content_type(&response), "application/problem+json");
        assert_eq!(body["reason"], "method_not_allowed");
        assert!(webhook.queue().messages().is_empty());
    }
}

#[tokio::test]
async fn missing_wrong_or_repeated_codes_get_401_and_nothing_else_happens() {
    let secret = secret();
    let cases = [
        String::new(),
        "other=1".to_owned(),
        "code=".to_owned(),
        "code=wrong-secret-value".to_owned(),
        format!("code={}", secret.to_uppercase()),
        format!("Code={secret}"),
        format!("code={secret}&code={secret}"),
        format!("code={secret}x"),
        format!("code=%20{secret}"),
    ];
    for query in cases {
        let webhook = webhook();
        // A body that would otherwise be accepted: the 401 must come before anything else.
        let response = webhook.handle(post(&query, text(&completed_event()))).await;
        let (status, body) = status_and_json(&response);
        assert_eq!(status, 401, "query {query:?}");
        assert_eq!(
            body["detail"],
            "the `code` query parameter is missing or wrong"
        );
        assert!(!body.to_string().contains(&secret));
        assert!(webhook.queue().messages().is_empty());
    }
}

#[tokio::test]
async fn a_percent_encoded_code_is_decoded_before_comparing() {
    let webhook = webhook();
    let encoded: String = secret().bytes().map(|b| format!("%{b:02X}")).collect();
    let response = webhook
        .handle(post(
            &format!("x=1&code={encoded}"),
            text(&completed_event()),
        ))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unauthorised_requests_are_refused_before_the_body_is_looked_at() {
    let webhook = webhook();
    // Too large and not JSON: without the code it is still just a 401.
    let response = webhook
        .handle(request(
            Method::POST,
            "",
            Some("text/plain"),
            vec![b'x'; 200_000],
        ))
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let webhook = webhook();
    let mut event = completed_event();
    event["padding"] = json!("x".repeat(70 * 1024));
    let response = webhook.handle(authorised_post(text(&event))).await;
    let (status, body) = status_and_json(&response);
    assert_eq!(status, 413);
    assert_eq!(body["reason"], "payload_too_large");

    // A Content-Length over the limit is refused even if the body is small.
    let mut request = authorised_post(text(&completed_event()));
    request
        .headers_mut()
        .insert("content-length", "10000000".parse().unwrap());
    assert_eq!(webhook.handle(request).await.status(), 413);
    assert!(webhook.queue().messages().is_empty());
}

#[tokio::test]
async fn wrong_content_types_get_400_problem_json() {
    let webhook = webhook();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=latin1"),
    ] {
        let request = request(
            Method::POST,
            &format!("code={}", secret()),
            content_type,
            text(&completed_event()),
        );
        let response = webhook.handle(request).await;
        let (status, body) = status_and_json(&response);
        assert_eq!(status, 400, "{content_type:?}");
        assert_eq!(body["reason"], "unsupported_content_type");
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Bad Request");
        assert_eq!(body["status"], 400);
    }
    // application/cloudevents+json is fine.
    let request = request(
        Method::POST,
        &format!("code={}", secret()),
        Some("application/cloudevents+json"),
        text(&completed_event()),
    );
    assert_eq!(webhook.handle(request).await.status(), 200);
    assert_eq!(webhook.queue().messages().len(), 1);
}

#[tokio::test]
async fn invalid_events_get_400_saying_exactly_what_is_wrong() {
    let mut no_source = completed_event();
    no_source.as_object_mut().unwrap().remove("source");
    let mut numeric_id = completed_event();
    numeric_id["id"] = json!(42);
    let mut spec_0_3 = completed_event();
    spec_0_3["specversion"] = json!("0.3");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "body is empty"),
        (b"[1,2]".to_vec(), "a CloudEvent must be a JSON object"),
        (
            text(&no_source).into_bytes(),
            "required attribute `source` is missing",
        ),
        (
            text(&numeric_id).into_bytes(),
            "attribute `id` must be a string",
        ),
        (text(&spec_0_3).into_bytes(), "specversion must be \"1.0\""),
        (vec![0xff, 0xfe, b'{', b'}'], "body is not valid UTF-8"),
    ];
    for (body, detail) in cases {
        let webhook = webhook();
        let response = webhook.handle(authorised_post(body)).await;
        let (status, problem) = status_and_json(&response);
        assert_eq!(status, 400, "{detail}");
        assert_eq!(content_type(&response), "application/problem+json");
        assert_eq!(problem["reason"], "invalid_event");
        assert_eq!(problem["detail"], detail);
        assert!(webhook.queue().messages().is_empty());
    }
}

#[tokio::test]
async fn characters_sqs_cannot_carry_are_refused_as_bad_input_not_retried() {
    let webhook = webhook();
    let mut event = completed_event();
    event["note"] = json!("noncharacter \u{FFFF}");
    let response = webhook.handle(authorised_post(text(&event))).await;
    let (status, problem) = status_and_json(&response);
    assert_eq!(status, 400);
    assert_eq!(
        problem["detail"],
        "body contains characters that cannot be queued"
    );
    assert!(webhook.queue().messages().is_empty());
}

#[tokio::test]
async fn validation_event_gets_200_and_is_not_enqueued() {
    let webhook = webhook();
    let response = webhook
        .handle(authorised_post(text(&validation_event())))
        .await;
    let (status, body) = status_and_json(&response);
    assert_eq!(status, 200);
    assert_eq!(body, json!({"outcome": "validation"}));
    assert!(webhook.queue().messages().is_empty());
}

#[tokio::test]
async fn validation_event_still_needs_the_code() {
    let webhook = webhook();
    let response = webhook.handle(post("", text(&validation_event()))).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn unhandled_types_get_200_and_are_dropped() {
    let webhook = webhook();
    for (event_type, id) in [
        (
            "app.instance.created",
            "0a000000-0000-4000-8000-000000000001",
        ),
        (
            "app.instance.process.movedTo.Task_2",
            "0a000000-0000-4000-8000-000000000002",
        ),
        (
            "no.altinn.correspondence.correspondencepublished",
            "0a000000-0000-4000-8000-000000000003",
        ),
        ("something.else", "0a000000-0000-4000-8000-000000000004"),
    ] {
        let event = app_event("ttd", APP, event_type, id);
        let response = webhook.handle(authorised_post(text(&event))).await;
        let (status, body) = status_and_json(&response);
        assert_eq!(status, 200, "{event_type}");
        assert_eq!(body, json!({"outcome": "ignored"}));
    }
    assert!(webhook.queue().messages().is_empty());
}

#[tokio::test]
async fn unhandled_types_are_dropped_even_from_a_source_we_would_refuse() {
    // The type filter runs before the source check (see handler docs): an event we would
    // never enqueue is not worth 35 hours of Altinn retries.
    let webhook = webhook();
    let event = app_event(
        "skd",
        APP,
        "app.instance.created",
        "0a000000-0000-4000-8000-000000000005",
    );
    let response = webhook.handle(authorised_post(text(&event))).await;
    assert_eq!(response.status(), 200);
    assert!(webhook.queue().messages().is_empty());
}

#[tokio::test]
async fn foreign_or_look_alike_sources_get_403() {
    let guid = INSTANCE_GUID;
    let sources = [
        // another org (on the allowlist, but not ours)
        format!("https://skd.apps.tt02.altinn.no/skd/{APP}/instances/{PARTY_ID}/{guid}"),
        // look-alike hosts
        format!(
            "https://ttd.apps.tt02.altinn.no.evil.example/ttd/{APP}/instances/{PARTY_ID}/{guid}"
        ),
        format!("https://ttd.apps.tt02-altinn.no/ttd/{APP}/instances/{PARTY_ID}/{guid}"),
        // production host while we are on tt02
        format!("https://ttd.apps.altinn.no/ttd/{APP}/instances/{PARTY_ID}/{guid}"),
        // http, port, userinfo, query
        format!("http://ttd.apps.tt02.altinn.no/ttd/{APP}/instances/{PARTY_ID}/{guid}"),
        format!("https://ttd.apps.tt02.altinn.no:8443/ttd/{APP}/instances/{PARTY_ID}/{guid}"),
        format!("https://evil@ttd.apps.tt02.altinn.no/ttd/{APP}/instances/{PARTY_ID}/{guid}"),
        format!("https://ttd.apps.tt02.altinn.no/ttd/{APP}/instances/{PARTY_ID}/{guid}?x=1"),
        // org in host differs from org in path
        format!("https://ttd.apps.tt02.altinn.no/skd/{APP}/instances/{PARTY_ID}/{guid}"),
        // bad paths
        format!("https://ttd.apps.tt02.altinn.no/ttd/{APP}/instances/{PARTY_ID}/../{guid}"),
        format!("https://ttd.apps.tt02.altinn.no/ttd/{APP}/instances/abc/{guid}"),
        "not a url".to_owned(),
    ];
    for source in sources {
        let webhook = webhook();
        let mut event = completed_event();
        event["source"] = json!(source);
        let response = webhook.handle(authorised_post(text(&event))).await;
        let (status, problem) = status_and_json(&response);
        assert_eq!(status, 403, "{source}");
        assert_eq!(problem["reason"], "forbidden_source", "{source}");
        assert!(webhook.queue().messages().is_empty(), "{source}");
    }
}

#[tokio::test]
async fn resource_mismatches_get_403() {
    for (attribute, value) in [
        ("resource", "urn:altinn:resource:app_ttd_other-app"),
        (
            "resourceinstance",
            "50019855/00000000-0000-4000-8000-000000000000",
        ),
    ] {
        let webhook = webhook();
        let mut event = completed_event();
        event[attribute] = json!(value);
        let response = webhook.handle(authorised_post(text(&event))).await;
        assert_eq!(response.status(), 403, "{attribute}");
        assert!(webhook.queue().messages().is_empty());
    }
}

#[tokio::test]
async fn correspondence_events_are_enqueued_when_configured_and_from_the_platform_host() {
    let config = config_with(&[(
        "EVENT_TYPES",
        "app.instance.process.completed,no.altinn.correspondence.*",
    )]);
    let webhook = webhook_with(&config, RecordingQueue::default());
    let event = correspondence_event();
    let response = webhook.handle(authorised_post(text(&event))).await;
    assert_eq!(response.status(), 200);
    let messages = webhook.queue().messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].instance, "a4f1c7e2-9b3d-4f6a-8e2c-1d5b7a9c3e0f");
    assert_eq!(
        messages[0].event_type,
        "no.altinn.correspondence.correspondencepublished"
    );

    for source in [
        "https://platform.altinn.no/correspondence/api/v1/correspondence",
        "https://ttd.apps.tt02.altinn.no/correspondence/api/v1/correspondence",
        "https://platform.tt02.altinn.no.evil.example/correspondence/api/v1/correspondence",
        "https://platform.tt02.altinn.no/storage/api/v1/instances",
    ] {
        let mut forged = correspondence_event();
        forged["source"] = json!(source);
        let response = webhook.handle(authorised_post(text(&forged))).await;
        assert_eq!(response.status(), 403, "{source}");
    }
    let mut bad_id = correspondence_event();
    bad_id["resourceinstance"] = json!("not-a-guid");
    assert_eq!(
        webhook
            .handle(authorised_post(text(&bad_id)))
            .await
            .status(),
        400
    );
    let mut no_instance = correspondence_event();
    no_instance
        .as_object_mut()
        .unwrap()
        .remove("resourceinstance");
    assert_eq!(
        webhook
            .handle(authorised_post(text(&no_instance)))
            .await
            .status(),
        403
    );
    assert_eq!(webhook.queue().messages().len(), 1, "only the genuine one");
}

#[tokio::test]
async fn generic_events_let_through_by_a_wildcard_are_refused_as_unverifiable() {
    let config = config_with(&[("EVENT_TYPES", "*")]);
    let webhook = webhook_with(&config, RecordingQueue::default());
    let event = json!({
        "specversion": "1.0", "id": "1b2c3d4e-0000-4000-8000-000000000001",
        "type": "no.example.generic", "source": "https://example.com/things/1",
        "resource": "urn:altinn:resource:some-generic-resource"
    });
    let response = webhook.handle(authorised_post(text(&event))).await;
    let (status, problem) = status_and_json(&response);
    assert_eq!(status, 403);
    assert_eq!(problem["reason"], "unverifiable_source");
    assert!(webhook.queue().messages().is_empty());
    // The validation event is still answered 200 with a wildcard.
    assert_eq!(
        webhook
            .handle(authorised_post(text(&validation_event())))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn queue_failures_and_timeouts_get_503_so_altinn_retries() {
    for error in [
        EnqueueError::Failed("connection refused".into()),
        EnqueueError::TimedOut(Duration::from_millis(10)),
    ] {
        let webhook = webhook_with(&config(), RecordingQueue::failing(error.clone()));
        let response = webhook
            .handle(authorised_post(text(&completed_event())))
            .await;
        let (status, problem) = status_and_json(&response);
        assert_eq!(status, 503, "{error}");
        assert_eq!(response.headers()["retry-after"], "10");
        assert_eq!(problem["reason"], "enqueue_failed");
        // The internal error is logged, not shown to the caller.
        assert!(!problem.to_string().contains("connection refused"));
    }
}

#[tokio::test]
async fn a_code_in_a_header_cookie_or_body_does_not_count() {
    let webhook = webhook();
    let secret = secret();
    let mut in_header = post("", text(&completed_event()));
    in_header
        .headers_mut()
        .insert("code", secret.parse().unwrap());
    in_header
        .headers_mut()
        .insert("x-code", secret.parse().unwrap());
    in_header
        .headers_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    in_header
        .headers_mut()
        .insert("cookie", format!("code={secret}").parse().unwrap());
    assert_eq!(webhook.handle(in_header).await.status(), 401);

    let mut in_body: Value = completed_event();
    in_body["code"] = json!(secret);
    assert_eq!(webhook.handle(post("", text(&in_body))).await.status(), 401);
    assert!(webhook.queue().messages().is_empty());
}

#[tokio::test]
async fn one_emf_line_per_outcome_with_bounded_dimensions() {
    let webhook = webhook();
    webhook
        .handle(authorised_post(text(&completed_event())))
        .await;
    webhook
        .handle(authorised_post(text(&validation_event())))
        .await;
    webhook
        .handle(authorised_post(text(&app_event(
            "ttd",
            APP,
            "app.instance.created",
            "0a000000-0000-4000-8000-0000000000aa",
        ))))
        .await;
    webhook
        .handle(post("code=wrong", text(&completed_event())))
        .await;
    webhook.handle(authorised_post(Vec::new())).await;
    webhook
        .handle(request(Method::GET, "", None, Vec::new()))
        .await;
    let failing = webhook_with(
        &config(),
        RecordingQueue::failing(EnqueueError::TimedOut(Duration::from_secs(4))),
    );
    failing
        .handle(authorised_post(text(&completed_event())))
        .await;

    let mut lines = webhook.metrics();
    lines.extend(failing.metrics());
    let summary: Vec<(String, String)> = lines
        .iter()
        .map(|line| {
            assert_eq!(
                line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
                "AltinnArchive"
            );
            assert_eq!(line["Function"], "webhook");
            assert_eq!(line["Events"], 1.0);
            (
                line["Outcome"].as_str().unwrap_or_default().to_owned(),
                line["Reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("accepted", ""),
        ("validation", ""),
        ("ignored", ""),
        ("rejected", "unauthorized"),
        ("rejected", "invalid_event"),
        ("rejected", "method_not_allowed"),
        ("enqueue_failed", "timeout"),
    ]
    .iter()
    .map(|(o, r)| ((*o).to_owned(), (*r).to_owned()))
    .collect();
    assert_eq!(summary, expected);
    let with_reason = &lines[3]["_aws"]["CloudWatchMetrics"][0]["Dimensions"];
    assert_eq!(with_reason, &json!([["Function", "Outcome", "Reason"]]));
}

#[tokio::test]
async fn debug_output_of_the_webhook_shows_no_secret() {
    let webhook = webhook();
    let debug = format!("{:?}", *webhook);
    assert!(debug.contains("accepted_secrets: 1"), "{debug}");
    assert!(!debug.contains(&secret()), "{debug}");
}
