//! Subscriptions to generic (non-app) resources such as Correspondence: Altinn's checks in
//! Altinn's order with its exact messages, the scopes the grants and tokens carry, and which
//! subscriptions a generic-resource event reaches. App subscriptions are in events.rs.

mod common;
mod events_common;

use std::time::Duration;

use common::*;
use events_common::*;
use serde_json::{Value, json};

const RESOURCE: &str = "urn:altinn:resource:ttd-correspondence";
const PUBLISHED: &str = "no.altinn.correspondence.correspondencepublished";
const READ_EVENT: &str = "no.altinn.correspondence.correspondenceread";
/// The simulator's client organisation as Correspondence names an event's subject.
const OWN_ORG: &str = "urn:altinn:organization:identifier-no:991825827";
const OTHER_ORG: &str = "urn:altinn:organization:identifier-no:910000001";
const SUBSCRIBE: &str = "altinn:serviceowner altinn:events.subscribe";

#[tokio::test]
async fn grants_for_every_scope_set_succeed_and_the_token_carries_the_scope() {
    let sim = start().await;
    for (scope, service_owner) in [
        (SUBSCRIBE, true),
        ("altinn:serviceowner", true),
        ("altinn:events.subscribe", false),
        ("altinn:serviceowner altinn:correspondence.write", true),
        ("altinn:correspondence.read", false),
    ] {
        let claims = issued_claims(&altinn_token(&sim, scope).await);
        assert_eq!(claims["scope"], scope);
        assert_eq!(
            claims.get("urn:altinn:org").is_some(),
            service_owner,
            "{scope}: the org claim comes with a service-owner scope"
        );
    }
}

#[tokio::test]
async fn generic_checks_run_in_altinns_order_with_its_messages() {
    let sim = start().await;
    let subscribe = altinn_token(&sim, SUBSCRIBE).await;
    let owner_only = altinn_token(&sim, "altinn:serviceowner").await;
    let organisation = altinn_token(&sim, "altinn:events.subscribe").await;
    let hook = "http://127.0.0.1:9/hook";
    let not_authorized =
        format!("Not authorized to create a subscription for resource {RESOURCE}.");
    #[rustfmt::skip]
    let rows: Vec<(&str, &String, Value, u16, &str)> = vec![
        ("the endpoint before the scope", &owner_only,
            json!({"endPoint": "ftp://x/", "resourceFilter": RESOURCE}),
            400, "Missing or invalid endpoint to push events towards"),
        ("the source's scheme before the scope", &owner_only,
            json!({"endPoint": hook, "resourceFilter": RESOURCE, "sourceFilter": "ftp://x/"}),
            400, "SourceFilter must be an absolute URL with the https scheme."),
        ("the scope before the URN check", &owner_only,
            json!({"endPoint": hook, "resourceFilter": "not-a-urn"}),
            403, ""),
        ("no altinn:events.subscribe", &owner_only,
            json!({"endPoint": hook, "resourceFilter": RESOURCE}),
            403, ""),
        ("a resource that is not a URN", &subscribe,
            json!({"endPoint": hook, "resourceFilter": "ttd-correspondence"}),
            400, "Resource filter must be a valid urn"),
        ("no resource", &subscribe,
            json!({"endPoint": hook, "typeFilter": PUBLISHED}),
            400, "Resource filter is required."),
        ("a source filter, before the alternative subject", &subscribe,
            json!({"endPoint": hook, "resourceFilter": RESOURCE, "sourceFilter": "https://platform.tt02.altinn.no/correspondence",
                   "alternativeSubjectFilter": "/organisation/991825827"}),
            400, "Source filter is not supported for subscriptions on this resource."),
        ("an alternative subject, before includeSubunits", &subscribe,
            json!({"endPoint": hook, "resourceFilter": RESOURCE, "alternativeSubjectFilter": "/organisation/991825827",
                   "includeSubunits": true}),
            400, "AlternativeSubject filter is not supported for subscriptions on this resource."),
        ("includeSubunits without a subject", &subscribe,
            json!({"endPoint": hook, "resourceFilter": RESOURCE, "includeSubunits": true}),
            400, "IncludeSubunits requires a subject filter."),
        ("an organisation without a subject", &organisation,
            json!({"endPoint": hook, "resourceFilter": RESOURCE}),
            403, &not_authorized),
        ("an organisation asking for another's events", &organisation,
            json!({"endPoint": hook, "resourceFilter": RESOURCE, "subjectFilter": OTHER_ORG}),
            403, &not_authorized),
    ];
    for (what, token, body, status, message) in rows {
        let (got, _, answer) = create(&sim, token, &body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer, Value::String(message.to_owned()), "{what}");
    }
    assert!(sim.subscriptions().is_empty());
}

#[tokio::test]
async fn generic_subscriptions_keep_their_filters_and_belong_to_their_creator() {
    let sim = start().await;
    let subscribe = altinn_token(&sim, SUBSCRIBE).await;
    let organisation = altinn_token(&sim, "altinn:events.subscribe").await;
    let hook = "http://127.0.0.1:9/hook";
    let (status, _, owner) = create(
        &sim,
        &subscribe,
        &json!({"endPoint": hook, "resourceFilter": RESOURCE, "subjectFilter": OWN_ORG,
                "typeFilter": PUBLISHED, "includeSubunits": true}),
    )
    .await;
    assert_eq!(status, 201, "{owner}");
    assert_eq!(owner["resourceFilter"], RESOURCE);
    assert_eq!(owner["subjectFilter"], OWN_ORG, "stored as written");
    assert_eq!(owner["typeFilter"], PUBLISHED);
    assert_eq!(owner["includeSubunits"], true);
    assert_eq!(owner["consumer"], "/org/ttd");
    assert!(owner.get("sourceFilter").is_none(), "{owner}");

    let (status, _, theirs) = create(
        &sim,
        &organisation,
        &json!({"endPoint": hook, "resourceFilter": RESOURCE, "subjectFilter": OWN_ORG}),
    )
    .await;
    assert_eq!(status, 201, "{theirs}");
    assert_eq!(theirs["consumer"], "/organisation/991825827");

    // Get, list and delete need no scope, only the creator's identity: the service-owner
    // scope alone sees and deletes the subscription made with altinn:events.subscribe.
    let owner_only = altinn_token(&sim, "altinn:serviceowner").await;
    let list: Value = http()
        .get(subscriptions_url(&sim))
        .bearer_auth(&owner_only)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(list["count"], 1);
    assert_eq!(list["subscriptions"][0]["id"], owner["id"]);
    let url = format!("{}/{}", subscriptions_url(&sim), theirs["id"]);
    let status = |response: reqwest::Response| response.status().as_u16();
    let forbidden = http().delete(&url).bearer_auth(&owner_only).send().await;
    assert_eq!(status(forbidden.expect("request")), 403);
    let deleted = http().delete(&url).bearer_auth(&organisation).send().await;
    assert_eq!(status(deleted.expect("request")), 200);
}

/// A Correspondence-style CloudEvent about `subject`.
fn correspondence_event(sim: &altinn_sim::Simulator, event_type: &str, subject: &str) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "source": format!("{}correspondence/api/v1/correspondence/{id}", sim.platform_url()),
        "type": event_type,
        "subject": subject,
        "time": "2026-01-01T12:00:00Z",
        "resource": RESOURCE,
        "resourceinstance": id,
    })
}

#[tokio::test]
async fn generic_events_match_on_resource_subject_and_type() {
    let sim = start().await;
    let subscribe = altinn_token(&sim, SUBSCRIBE).await;
    let organisation = altinn_token(&sim, "altinn:events.subscribe").await;
    let everything = Receiver::start(|_| 200).await;
    let own_published = Receiver::start(|_| 200).await;
    let as_recipient = Receiver::start(|_| 200).await;
    let other_resource = Receiver::start(|_| 200).await;
    let subscriptions = [
        (
            &subscribe,
            json!({"endPoint": everything.url, "resourceFilter": RESOURCE}),
        ),
        (
            &subscribe,
            json!({"endPoint": own_published.url, "resourceFilter": RESOURCE,
                   "subjectFilter": OWN_ORG, "typeFilter": PUBLISHED}),
        ),
        (
            &organisation,
            json!({"endPoint": as_recipient.url, "resourceFilter": RESOURCE, "subjectFilter": OWN_ORG}),
        ),
        (
            &subscribe,
            json!({"endPoint": other_resource.url, "resourceFilter": "urn:altinn:resource:other"}),
        ),
    ];
    for (token, body) in &subscriptions {
        let (status, _, created) = create(&sim, token, body).await;
        assert_eq!(status, 201, "{created}");
        assert!(wait_validated(&sim, created["id"].as_i64().expect("id")).await);
    }

    sim.publish_event(correspondence_event(&sim, PUBLISHED, OWN_ORG), "ttd");
    sim.publish_event(correspondence_event(&sim, READ_EVENT, OWN_ORG), "ttd");
    sim.publish_event(correspondence_event(&sim, PUBLISHED, OTHER_ORG), "ttd");
    let counts = |receiver: &Receiver| {
        (
            receiver.of_type(PUBLISHED).len(),
            receiver.of_type(READ_EVENT).len(),
        )
    };
    assert!(
        wait_until(Duration::from_secs(10), || counts(&everything) == (2, 1)
            && counts(&own_published) == (1, 0)
            && counts(&as_recipient) == (1, 1))
        .await,
        "everything {:?}, own published {:?}, as recipient {:?}",
        counts(&everything),
        counts(&own_published),
        counts(&as_recipient)
    );
    let delivered = &own_published.of_type(PUBLISHED)[0].body;
    assert_eq!(delivered["subject"], OWN_ORG);
    assert_eq!(delivered["resource"], RESOURCE);
    // Let stray pushes arrive before checking that none went to the wrong place.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(counts(&other_resource), (0, 0));
    assert_eq!(counts(&as_recipient), (1, 1), "not the other org's event");
    for receiver in [everything, own_published, as_recipient, other_resource] {
        receiver.server.abort();
    }
}
