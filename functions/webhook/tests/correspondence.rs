//! Which Correspondence events the webhook takes, on the real SQS path (moto): the exact
//! `source` of the API that publishes each type, and with `CORRESPONDENCE_ROLE` our
//! organisation as `subject` (recipient) or one of our resources (sender). Every accepted
//! event must arrive on the queue; every refused one is a 403 problem with a precise detail
//! and never reaches it.

mod common;

use common::*;
use serde_json::{Value, json};
use testkit::MotoServer;
use webhook::{SqsEventQueue, Webhook};

const API: &str = "https://platform.tt02.altinn.no/correspondence/api/v1/";
const ORGNO: &str = "313725138";
const OURS: &str = "urn:altinn:organization:identifier-no:313725138";
const OTHER_ORG: &str = "urn:altinn:organization:identifier-no:987654321";
const RESOURCE: &str = "urn:altinn:resource:ttd-archive-correspondence";
const OTHER_RESOURCE: &str = "urn:altinn:resource:someone-elses-resource";

/// A Correspondence event of type `no.altinn.correspondence.{suffix}` from `{API}{segment}`.
fn event(suffix: &str, segment: &str, subject: Option<&str>, resource: &str) -> Value {
    let mut event = json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "time": "2026-12-04T05:12:33.123Z",
        "type": format!("no.altinn.correspondence.{suffix}"),
        "source": format!("{API}{segment}"),
        "resource": resource,
        "resourceinstance": "a4f1c7e2-9b3d-4f6a-8e2c-1d5b7a9c3e0f",
        "alternativesubject": format!("/organisation/{ORGNO}"),
    });
    if let Some(subject) = subject {
        event["subject"] = json!(subject);
    }
    event
}

/// What an event should come to: accepted, or refused with this reason and detail.
type Expected = Result<(), (&'static str, String)>;

/// A webhook on moto's SQS for `EVENT_TYPES=no.altinn.correspondence.*` plus `overrides`,
/// answering `cases`, then checking that exactly the accepted events reached the queue.
async fn check_cases(overrides: &[(&str, &str)], cases: Vec<(&str, Value, Expected)>) {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("altinn-events").await;
    let mut settings = vec![
        ("QUEUE_URL", queue_url.as_str()),
        ("EVENT_TYPES", "no.altinn.correspondence.*"),
    ];
    settings.extend_from_slice(overrides);
    let webhook: TestWebhook<SqsEventQueue> = TestWebhook::new(
        Webhook::from_config(config_with(&settings), &moto.sdk_config().await)
            .await
            .expect("webhook starts"),
    );

    let mut accepted = Vec::new();
    for (name, event, expected) in cases {
        let response = webhook.handle(authorised_post(text(&event))).await;
        let (status, body) = status_and_json(&response);
        match expected {
            Ok(()) => {
                assert_eq!(status, 200, "{name}: {body}");
                assert_eq!(body, json!({"outcome": "accepted"}), "{name}");
                accepted.push(event["id"].as_str().unwrap().to_owned());
            }
            Err((reason, detail)) => {
                assert_eq!(status, 403, "{name}: {body}");
                assert_eq!(content_type(&response), "application/problem+json");
                assert_eq!(body["reason"], reason, "{name}: {body}");
                assert_eq!(body["detail"], detail.as_str(), "{name}");
            }
        }
    }

    let mut arrived = Vec::new();
    loop {
        let batch = moto.receive_all(&queue_url).await;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            arrived.push(body["id"].as_str().unwrap().to_owned());
        }
    }
    arrived.sort();
    accepted.sort();
    assert_eq!(arrived, accepted, "exactly the accepted events are queued");
}

fn wrong_source() -> Expected {
    Err((
        "forbidden_source",
        format!(
            "a Correspondence event's source must be exactly {API}correspondence, \
             {API}attachment or {API}notification"
        ),
    ))
}

fn wrong_topic(published_from: &str, claimed: &str) -> Expected {
    Err((
        "forbidden_source",
        format!("an event of this type comes from {API}{published_from}, not {API}{claimed}"),
    ))
}

fn not_our_subject() -> Expected {
    Err((
        "forbidden_subject",
        format!(
            "with CORRESPONDENCE_ROLE=recipient the event's subject must be {OURS}, our organisation"
        ),
    ))
}

fn not_our_resource() -> Expected {
    Err((
        "forbidden_resource",
        "with CORRESPONDENCE_ROLE=sender the event's resource must be \
         urn:altinn:resource:{id} for an id in CORRESPONDENCE_RESOURCES"
            .to_owned(),
    ))
}

/// The checks every role shares: each type from its own API, nothing from elsewhere.
fn origin_cases(subject: Option<&str>) -> Vec<(&'static str, Value, Expected)> {
    let mut forged_host = event(
        "correspondencepublished",
        "correspondence",
        subject,
        RESOURCE,
    );
    forged_host["source"] =
        json!("https://platform.altinn.no/correspondence/api/v1/correspondence");
    let mut app_host = event(
        "correspondencepublished",
        "correspondence",
        subject,
        RESOURCE,
    );
    app_host["source"] =
        json!("https://ttd.apps.tt02.altinn.no/correspondence/api/v1/correspondence");
    vec![
        (
            "attachment event from /attachment",
            event("attachmentpublished", "attachment", subject, RESOURCE),
            Ok(()),
        ),
        (
            "notificationcreated from /notification",
            event("notificationcreated", "notification", subject, RESOURCE),
            Ok(()),
        ),
        (
            "attachment event from /correspondence",
            event("attachmentpublished", "correspondence", subject, RESOURCE),
            wrong_topic("attachment", "correspondence"),
        ),
        (
            "correspondence event from /attachment",
            event(
                "correspondencereceiverread",
                "attachment",
                subject,
                RESOURCE,
            ),
            wrong_topic("correspondence", "attachment"),
        ),
        (
            "notificationcreated from /correspondence",
            event("notificationcreated", "correspondence", subject, RESOURCE),
            wrong_topic("notification", "correspondence"),
        ),
        (
            "unknown segment",
            event("correspondencepublished", "dialog", subject, RESOURCE),
            wrong_source(),
        ),
        ("production host on tt02", forged_host, wrong_source()),
        ("an apps host", app_host, wrong_source()),
    ]
}

#[tokio::test]
async fn without_a_role_every_subject_and_resource_is_taken_from_the_right_source() {
    let mut cases = origin_cases(Some(OTHER_ORG));
    cases.extend([
        (
            "published, any subject",
            event(
                "correspondencepublished",
                "correspondence",
                Some(OTHER_ORG),
                OTHER_RESOURCE,
            ),
            Ok(()),
        ),
        (
            "no subject at all",
            event(
                "correspondencereceiverread",
                "correspondence",
                None,
                RESOURCE,
            ),
            Ok(()),
        ),
    ]);
    check_cases(&[("CORRESPONDENCE_ROLE", "")], cases).await;
}

#[tokio::test]
async fn as_recipient_only_events_addressed_to_our_organisation_are_taken() {
    let mut cases = origin_cases(Some(OURS));
    cases.extend([
        (
            "published to us, any resource",
            event(
                "correspondencepublished",
                "correspondence",
                Some(OURS),
                OTHER_RESOURCE,
            ),
            Ok(()),
        ),
        (
            "never read, to us",
            event(
                "correspondencereceiverneverread",
                "correspondence",
                Some(OURS),
                RESOURCE,
            ),
            Ok(()),
        ),
        (
            "published to another organisation",
            event(
                "correspondencepublished",
                "correspondence",
                Some(OTHER_ORG),
                RESOURCE,
            ),
            not_our_subject(),
        ),
        (
            "the party form of our organisation",
            event(
                "correspondencepublished",
                "correspondence",
                Some(&format!("/organisation/{ORGNO}")),
                RESOURCE,
            ),
            not_our_subject(),
        ),
        (
            "no subject",
            event("correspondencepublished", "correspondence", None, RESOURCE),
            not_our_subject(),
        ),
    ]);
    // The source is checked before the subject: a forged source is a forged source.
    let mut forged = event(
        "correspondencepublished",
        "correspondence",
        Some(OTHER_ORG),
        RESOURCE,
    );
    forged["source"] = json!("https://platform.altinn.no/correspondence/api/v1/correspondence");
    cases.push(("forged source and foreign subject", forged, wrong_source()));
    check_cases(
        &[
            ("CORRESPONDENCE_ROLE", "recipient"),
            ("CORRESPONDENCE_RECIPIENT_ORGNO", ORGNO),
        ],
        cases,
    )
    .await;
}

#[tokio::test]
async fn as_sender_only_events_about_our_resources_are_taken() {
    let mut cases = origin_cases(Some(OTHER_ORG));
    cases.extend([
        (
            "receiver read, our resource",
            event(
                "correspondencereceiverread",
                "correspondence",
                Some(OTHER_ORG),
                RESOURCE,
            ),
            Ok(()),
        ),
        (
            "our second resource",
            event(
                "correspondencepurged",
                "correspondence",
                Some(OTHER_ORG),
                "urn:altinn:resource:ttd-second-resource",
            ),
            Ok(()),
        ),
        (
            "another agency's resource",
            event(
                "correspondencereceiverread",
                "correspondence",
                Some(OTHER_ORG),
                OTHER_RESOURCE,
            ),
            not_our_resource(),
        ),
        (
            "an attachment of another agency's resource",
            event(
                "attachmentpublished",
                "attachment",
                Some(OTHER_ORG),
                OTHER_RESOURCE,
            ),
            not_our_resource(),
        ),
        (
            "the bare resource id without the urn",
            event(
                "correspondencereceiverread",
                "correspondence",
                Some(OTHER_ORG),
                "ttd-archive-correspondence",
            ),
            not_our_resource(),
        ),
    ]);
    check_cases(
        &[
            ("CORRESPONDENCE_ROLE", "sender"),
            (
                "CORRESPONDENCE_RESOURCES",
                "ttd-archive-correspondence, urn:altinn:resource:ttd-second-resource",
            ),
        ],
        cases,
    )
    .await;
}

#[tokio::test]
async fn refusals_are_counted_with_their_reason() {
    let config = config_with(&[
        ("EVENT_TYPES", "no.altinn.correspondence.*"),
        ("CORRESPONDENCE_ROLE", "recipient"),
        ("CORRESPONDENCE_RECIPIENT_ORGNO", ORGNO),
    ]);
    let webhook = webhook_with(&config, RecordingQueue::default());
    let foreign = event(
        "correspondencepublished",
        "correspondence",
        Some(OTHER_ORG),
        RESOURCE,
    );
    assert_eq!(
        webhook
            .handle(authorised_post(text(&foreign)))
            .await
            .status(),
        403
    );
    let metrics = webhook.metrics();
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0]["Outcome"], "rejected");
    assert_eq!(metrics[0]["Reason"], "forbidden_subject");

    // Without a role, a Correspondence type outside EVENT_TYPES is dropped before any check.
    let webhook = webhook_with(&config_with(&[]), RecordingQueue::default());
    let (status, body) = status_and_json(&webhook.handle(authorised_post(text(&foreign))).await);
    assert_eq!((status, body), (200, json!({"outcome": "ignored"})));

    // With one, EVENT_TYPES cannot drop them: the foreign subject is refused all the same.
    let config = config_with(&[
        ("CORRESPONDENCE_ROLE", "recipient"),
        ("CORRESPONDENCE_RECIPIENT_ORGNO", ORGNO),
    ]);
    let webhook = webhook_with(&config, RecordingQueue::default());
    let status = webhook
        .handle(authorised_post(text(&foreign)))
        .await
        .status();
    assert_eq!(status, 403);
}
