//! Correspondence events reach subscriptions with Altinn's `source`, `resourceinstance` and
//! `subject`: the sender's subscription gets its resource's events, a recipient's (subject
//! filter = its own URN) only those addressed to it.

mod common;
mod correspondence_common;
mod events_common;

use std::time::Duration;

use altinn_sim::{CorrespondenceSpec, Simulator};
use common::*;
use correspondence_common::*;
use events_common::*;
use serde_json::{Value, json};

const SUBSCRIBE: &str = "altinn:serviceowner altinn:events.subscribe";
const SKD_ORGNO: &str = "974761076";
const SKD_URN: &str = "urn:altinn:organization:identifier-no:974761076";

async fn subscribe(sim: &Simulator, token: &str, body: Value) -> Receiver {
    let receiver = Receiver::start(|_| 200).await;
    let mut body = body;
    body["endPoint"] = Value::String(receiver.url.clone());
    let (status, _, created) = create(sim, token, &body).await;
    assert_eq!(status, 201, "{created}");
    assert!(wait_validated(sim, created["id"].as_i64().expect("id")).await);
    receiver
}

fn types(receiver: &Receiver) -> Vec<String> {
    let mut types: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.body["type"] != VALIDATE)
        .map(|r| r.body["type"].as_str().expect("type").to_owned())
        .collect();
    types.sort();
    types
}

fn one<'a>(events: &'a [Value], suffix: &str) -> &'a Value {
    let wanted = format!("no.altinn.correspondence.{suffix}");
    let matching: Vec<&Value> = events.iter().filter(|e| e["type"] == wanted).collect();
    assert_eq!(matching.len(), 1, "{suffix} in {events:?}");
    matching[0]
}

#[tokio::test]
async fn the_senders_subscription_gets_every_event_with_its_real_fields() {
    let sim = start().await;
    let subscribe_token = altinn_token(&sim, SUBSCRIBE).await;
    let sender = subscribe(&sim, &subscribe_token, json!({"resourceFilter": RESOURCE})).await;
    let c = seed_to(&sim, OTHER_ORGNO);
    let a = c.attachments[0].id;
    sim.publish_attachment_event(a, "attachmentpublished");
    sim.publish_correspondence(c.id);
    sim.publish_correspondence_event(c.id, "receiverneverread");
    sim.publish_correspondence_event(c.id, "receiverconfirmed");

    let expected = [
        "attachmentpublished",
        "correspondencepublished",
        "correspondencereceiverconfirmed",
        "correspondencereceiverneverread",
        "notificationcreated",
    ]
    .map(|s| format!("no.altinn.correspondence.{s}"));
    assert!(
        wait_until(Duration::from_secs(10), || types(&sender) == expected).await,
        "{:?}",
        types(&sender)
    );
    let events = sim.correspondence_events_for(c.id);
    assert_eq!(events.len(), 5);
    let delivered: Vec<Value> = sender.received().into_iter().map(|r| r.body).collect();
    for event in &events {
        assert!(delivered.contains(event), "pushed as recorded: {event}");
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["resource"], RESOURCE);
        assert!(event.get("data").is_none());
        assert!(event["time"].is_string());
        assert!(uuid::Uuid::parse_str(event["id"].as_str().expect("id")).is_ok());
    }
    let base = format!("{}correspondence/api/v1/", sim.platform_url());
    let published = one(&events, "correspondencepublished");
    assert_eq!(published["source"], format!("{base}correspondence"));
    assert_eq!(published["resourceinstance"], c.id.to_string());
    assert_eq!(
        published["subject"], OTHER_URN,
        "addressed to the recipient"
    );
    assert_eq!(
        one(&events, "correspondencereceiverneverread")["subject"],
        OTHER_URN
    );
    let confirmed = one(&events, "correspondencereceiverconfirmed");
    assert_eq!(confirmed["subject"], OWN_URN, "addressed to the sender");
    let attachment = one(&events, "attachmentpublished");
    assert_eq!(attachment["source"], format!("{base}attachment"));
    assert_eq!(attachment["resourceinstance"], a.to_string());
    assert_eq!(attachment["subject"], OWN_URN);
    let notification = one(&events, "notificationcreated");
    assert_eq!(notification["source"], format!("{base}notification"));
    assert_eq!(
        notification["resourceinstance"],
        c.notification_order_ids[0].to_string()
    );
    assert_eq!(notification["subject"], OWN_URN);
    assert_eq!(
        sim.correspondence_statuses(c.id).last().map(String::as_str),
        Some("Confirmed"),
        "publishing receiverconfirmed applied its status"
    );
    sender.server.abort();
}

#[tokio::test]
async fn a_recipients_subscription_gets_only_the_events_addressed_to_it() {
    let sim = start().await;
    sim.register_org_number("skd", SKD_ORGNO);
    let t = tokens(&sim).await;
    let organisation = altinn_token(&sim, "altinn:events.subscribe").await;
    let recipient = subscribe(
        &sim,
        &organisation,
        json!({"resourceFilter": "urn:altinn:resource:skd-melding", "subjectFilter": OWN_URN}),
    )
    .await;
    let c = sim.add_correspondence(
        CorrespondenceSpec::new("skd-melding", "skd", OWN_ORGNO)
            .with_attachment("brev.pdf", 1000)
            .with_notifications(2),
    );
    sim.publish_correspondence(c.id);
    // The recipient reads it through /content: receiverread goes to the sender (skd) only.
    let (status, _, _) = get(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/content", c.id),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = get(
        &sim,
        &t.recipient,
        &format!(
            "correspondence/{}/attachment/{}/download",
            c.id, c.attachments[0].id
        ),
    )
    .await;
    assert_eq!(status, 200);
    sim.publish_correspondence_event(c.id, "correspondencereceiverneverconfirmed");

    let expected = [
        "no.altinn.correspondence.correspondencepublished",
        "no.altinn.correspondence.correspondencereceiverneverconfirmed",
    ];
    assert!(
        wait_until(Duration::from_secs(10), || types(&recipient) == expected).await,
        "{:?}",
        types(&recipient)
    );
    let events = sim.correspondence_events_for(c.id);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "no.altinn.correspondence.correspondencepublished",
            "no.altinn.correspondence.notificationcreated",
            "no.altinn.correspondence.notificationcreated",
            "no.altinn.correspondence.correspondencereceiverread",
            "no.altinn.correspondence.correspondencereceiverneverconfirmed",
        ],
        "one notificationcreated per order, receiverread from /content, nothing from the download"
    );
    assert_eq!(
        one(&events, "correspondencereceiverread")["subject"],
        SKD_URN
    );
    assert_eq!(one(&events, "correspondencepublished")["subject"], OWN_URN);
    let orders: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "no.altinn.correspondence.notificationcreated")
        .map(|e| e["resourceinstance"].as_str().expect("order").to_owned())
        .collect();
    let seeded: Vec<String> = c
        .notification_order_ids
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(orders, seeded);
    // Let stray pushes arrive before checking nothing else came.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(types(&recipient), expected);
    recipient.server.abort();
}

#[tokio::test]
async fn events_built_but_not_pushed_are_not_recorded() {
    let sim = start().await;
    let c = seed_to(&sim, OWN_ORGNO);
    let built = sim.correspondence_event(c.id, "correspondencepublishfailed");
    assert_eq!(
        built["type"],
        "no.altinn.correspondence.correspondencepublishfailed"
    );
    assert_eq!(built["subject"], OWN_URN);
    let again = sim.correspondence_event(c.id, "correspondencepublishfailed");
    assert_ne!(built["id"], again["id"], "each call makes a new id");
    let notification = sim.notification_event(c.id, c.notification_order_ids[0]);
    assert_eq!(
        notification["resourceinstance"],
        c.notification_order_ids[0].to_string()
    );
    let attachment = sim.attachment_event(c.attachments[0].id, "attachmentexpired");
    assert_eq!(
        attachment["resourceinstance"],
        c.attachments[0].id.to_string()
    );
    assert!(sim.correspondence_events_for(c.id).is_empty());
    assert_eq!(sim.correspondence_statuses(c.id), ["Initialized"]);

    sim.publish_correspondence_event(c.id, "correspondencepublishfailed");
    assert_eq!(sim.correspondence_statuses(c.id), ["Initialized", "Failed"]);
    sim.publish_attachment_event(c.attachments[0].id, "attachmentexpired");
    let t = tokens(&sim).await;
    let answer = get(
        &sim,
        &t.sender,
        &format!("attachment/{}/download", c.attachments[0].id),
    )
    .await;
    assert_problem(&answer, 400, 2020);
    assert_eq!(sim.correspondence_events_for(c.id).len(), 2);
}
