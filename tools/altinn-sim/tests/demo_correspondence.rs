//! The demo's correspondence (`altinn-sim --seed-demo`): the one
//! `events/archiver-sqs-correspondence.json` names, in the state its events describe, so the
//! archiver invoked with that sample meets it. Checked against the sample file itself, in
//! process and through the binary.

mod common;
mod correspondence_common;

use std::process::Stdio;
use std::time::Duration;

use altinn_sim::{CorrespondenceSpec, SeededCorrespondence, Simulator};
use common::*;
use correspondence_common::*;
use md5::Digest as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use uuid::Uuid;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../events/archiver-sqs-correspondence.json"
);
const CORRESPONDENCE_PREFIX: &str = "no.altinn.correspondence.";

/// The CloudEvents in the sample's SQS records, in order.
fn sample_events() -> Vec<Value> {
    let text = std::fs::read_to_string(SAMPLE).expect("the sample event file");
    let batch: Value = serde_json::from_str(&text).expect("sample JSON");
    let records = batch["Records"].as_array().expect("Records");
    assert_eq!(records.len(), 4, "the sample's four events");
    records
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().expect("body")).expect("body JSON"))
        .collect()
}

fn suffix(event: &Value) -> &str {
    event["type"]
        .as_str()
        .and_then(|t| t.strip_prefix(CORRESPONDENCE_PREFIX))
        .expect("a Correspondence event type")
}

fn statuses(details: &Value) -> Vec<&str> {
    details["statusHistory"]
        .as_array()
        .expect("statusHistory")
        .iter()
        .map(|e| e["status"].as_str().expect("status"))
        .collect()
}

/// The sample names this correspondence, its attachment and resource, and addresses each event
/// to the party Altinn addresses it to.
fn assert_sample_names(sim: &Simulator, seeded: &SeededCorrespondence) {
    let sender = format!(
        "urn:altinn:organization:identifier-no:{}",
        sim.config().org_number
    );
    for event in sample_events() {
        assert_eq!(
            event["resource"],
            format!("urn:altinn:resource:{}", seeded.resource_id),
            "{event}"
        );
        let (instance, subject) = match suffix(&event) {
            s if s.starts_with("attachment") => (seeded.attachments[0].id, &sender),
            "correspondencepublished" => (seeded.id, &seeded.recipient),
            _ => (seeded.id, &sender),
        };
        assert_eq!(event["resourceinstance"], instance.to_string(), "{event}");
        assert_eq!(event["subject"], subject.as_str(), "{event}");
    }
}

#[tokio::test]
async fn the_demo_correspondence_is_the_one_the_sample_events_name_in_their_state() {
    let sim = start().await;
    let seeded = sim.seed_demo_correspondence();
    assert_eq!(
        seeded.id,
        Uuid::parse_str("7a1f3c5e-2b4d-4e6f-8a0b-1c2d3e4f5a6b").unwrap()
    );
    assert_eq!(seeded.resource_id, "ttd-archive-correspondence");
    assert_eq!(
        seeded.recipient,
        "urn:altinn:organization:identifier-no:313725138"
    );
    assert_eq!(seeded.attachments.len(), 1);
    assert_eq!(
        seeded.attachments[0].id,
        Uuid::parse_str("8b2a4d6f-3c5e-4f70-9b1c-2d3e4f5a6b7c").unwrap()
    );
    assert_eq!(seeded.notification_order_ids.len(), 1);
    assert_sample_names(&sim, &seeded);

    // The simulator went through the sample's story: the same types, in the same order, each
    // about the same thing and addressed to the same party (plus the notification order's own
    // `notificationcreated`, which the sample does not carry).
    let samples = sample_events();
    let pushed: Vec<Value> = sim
        .correspondence_events_for(seeded.id)
        .into_iter()
        .filter(|e| suffix(e) != "notificationcreated")
        .collect();
    assert_eq!(
        pushed.iter().map(suffix).collect::<Vec<_>>(),
        samples.iter().map(suffix).collect::<Vec<_>>()
    );
    for (ours, sample) in pushed.iter().zip(&samples) {
        for field in [
            "resource",
            "resourceinstance",
            "subject",
            "alternativesubject",
        ] {
            assert_eq!(ours[field], sample[field], "{field} of {}", suffix(sample));
        }
        let path = |e: &Value| {
            let source = e["source"].as_str().expect("source").to_owned();
            source[source
                .find("/correspondence/")
                .expect("a Correspondence source")..]
                .to_owned()
        };
        assert_eq!(path(ours), path(sample));
    }
    let created: Vec<Value> = sim
        .correspondence_events_for(seeded.id)
        .into_iter()
        .filter(|e| suffix(e) == "notificationcreated")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0]["resourceinstance"],
        seeded.notification_order_ids[0].to_string()
    );

    // Published, opened and read by the recipient.
    assert_eq!(
        sim.correspondence_statuses(seeded.id),
        [
            "Initialized",
            "ReadyForPublish",
            "Published",
            "Fetched",
            "Read"
        ]
    );

    // What the archiver (sender role) meets: details with empty content, the attachment's
    // overview with its checksum, and 2016 on its download.
    let sender = altinn_token(&sim, SENDER_SCOPE).await;
    let (status, _, details) = get(
        &sim,
        &sender,
        &format!("correspondence/{}/details", seeded.id),
    )
    .await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details["correspondenceId"], seeded.id.to_string());
    assert_eq!(details["resourceId"], "ttd-archive-correspondence");
    assert_eq!(details["status"], "Read");
    assert_eq!(details["sender"], OWN_URN, "ttd is 991825827");
    assert_eq!(details["recipient"], seeded.recipient);
    assert!(details["published"].is_string(), "{details}");
    assert!(details["read"].is_string(), "{details}");
    assert_eq!(
        statuses(&details),
        [
            "Initialized",
            "ReadyForPublish",
            "Published",
            "Fetched",
            "Read"
        ]
    );
    assert_eq!(details["content"]["messageTitle"], "");
    assert_eq!(details["content"]["attachments"], json!([]));
    let notifications = details["notifications"].as_array().expect("notifications");
    assert_eq!(notifications.len(), 1);
    assert_eq!(
        notifications[0]["id"],
        seeded.notification_order_ids[0].to_string()
    );

    let attachment = &seeded.attachments[0];
    let (status, _, overview) = get(&sim, &sender, &format!("attachment/{}", attachment.id)).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["status"], "Published");
    assert_eq!(overview["checksum"], attachment.md5_hex);
    assert_eq!(overview["correspondenceIds"], json!([seeded.id]));
    assert_eq!(overview["resourceId"], "ttd-archive-correspondence");
    let refused = get(
        &sim,
        &sender,
        &format!("attachment/{}/download", attachment.id),
    )
    .await;
    assert_problem(&refused, 400, 2016);
}

#[tokio::test]
async fn the_demo_recipient_is_not_the_organisation_the_simulator_s_tokens_speak_for() {
    // The simulator's recipient tokens speak for 991825827 (its client org, also ttd's), not
    // the demo's 313725138: the demo is for the sender role only.
    let sim = start().await;
    let demo = sim.seed_demo_correspondence();
    let recipient = altinn_token(&sim, RECIPIENT_SCOPE).await;
    let answer = get(
        &sim,
        &recipient,
        &format!("correspondence/{}/details", demo.id),
    )
    .await;
    assert_problem(&answer, 401, 4001);
    assert_eq!(
        sim.correspondence_statuses(demo.id)
            .last()
            .map(String::as_str),
        Some("Read"),
        "a refused recipient call records no Fetched"
    );
}

#[tokio::test]
#[should_panic(expected = "is already seeded")]
async fn a_fixed_id_cannot_be_seeded_twice() {
    let sim = start().await;
    sim.seed_demo_correspondence();
    sim.seed_demo_correspondence();
}

#[tokio::test]
async fn with_ids_fixes_the_correspondence_and_attachment_ids_in_order() {
    let sim = start().await;
    let id = Uuid::from_u128(1);
    let first = Uuid::from_u128(2);
    let seeded = sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", OTHER_ORGNO)
            .with_attachment("a.pdf", 10)
            .with_attachment("b.pdf", 20)
            .with_ids(id, &[first]),
    );
    assert_eq!(seeded.id, id);
    assert_eq!(seeded.attachments[0].id, first);
    assert_ne!(seeded.attachments[1].id, first, "the rest stay random");
    let sender = altinn_token(&sim, SENDER_SCOPE).await;
    let (status, _, details) = get(&sim, &sender, &format!("correspondence/{id}/details")).await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(
        details["content"]["attachments"][0]["id"],
        first.to_string()
    );
    let response = http()
        .get(url(&sim, &format!("attachment/{first}/download")))
        .bearer_auth(&sender)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let bytes = response.bytes().await.expect("body");
    assert_eq!(bytes.len(), 10);
    assert_eq!(
        hex::encode(md5::Md5::digest(&bytes)),
        seeded.attachments[0].md5_hex
    );
}

/// The binary's `--seed-demo` seeds it: a token from the running binary (grant + exchange)
/// reads its details as the sender.
#[tokio::test]
async fn the_binary_seeds_it_with_seed_demo() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_altinn-sim"))
        .args(["--port", "0", "--seed-demo", "--large-attachment-mib", "1"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("altinn-sim starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    let read_banner = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            let done = line.contains("Ctrl-C to stop");
            banner.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_banner)
        .await
        .expect("banner within 60 s");
    let text = banner.join("\n");
    assert!(
        text.contains(
            "ttd-archive-correspondence 7a1f3c5e-2b4d-4e6f-8a0b-1c2d3e4f5a6b  to \
             urn:altinn:organization:identifier-no:313725138  statuses \
             Initialized,ReadyForPublish,Published,Fetched,Read"
        ),
        "{text}"
    );
    assert!(
        text.contains("8b2a4d6f-3c5e-4f70-9b1c-2d3e4f5a6b7c"),
        "{text}"
    );
    let value_of = |name: &str| {
        banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} in banner:\n{text}"))
            .to_owned()
    };
    let platform = value_of("ALTINN_PLATFORM_URL");
    let issuer = value_of("MASKINPORTEN_URL");

    let now = now();
    let grant = sign_raw(
        &json!({"alg": "RS256", "kid": value_of("MASKINPORTEN_KID"), "typ": "JWT"}),
        &json!({
            "aud": issuer,
            "iss": value_of("MASKINPORTEN_CLIENT_ID"),
            "iat": now,
            "exp": now + 10,
            "jti": Uuid::new_v4().to_string(),
            "scope": SENDER_SCOPE,
        }),
    );
    let (status, _, body) = send(http().post(format!("{issuer}token")).form(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", grant.as_str()),
    ]))
    .await;
    assert_eq!(status, 200, "{body}");
    let maskinporten = body["access_token"].as_str().expect("access_token");
    let response = http()
        .get(format!(
            "{platform}authentication/api/v1/exchange/maskinporten"
        ))
        .bearer_auth(maskinporten)
        .send()
        .await
        .expect("exchange");
    assert_eq!(response.status().as_u16(), 200);
    let token = response.text().await.expect("token").trim().to_owned();

    let (status, _, details) = send(
        http()
            .get(format!(
                "{platform}correspondence/api/v1/correspondence/7a1f3c5e-2b4d-4e6f-8a0b-1c2d3e4f5a6b/details"
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details["status"], "Read");
    assert_eq!(details["resourceId"], "ttd-archive-correspondence");
    assert_eq!(details["notifications"].as_array().map(Vec::len), Some(1));
    let refused = send(
        http()
            .get(format!(
                "{platform}correspondence/api/v1/attachment/8b2a4d6f-3c5e-4f70-9b1c-2d3e4f5a6b7c/download"
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_problem(&refused, 400, 2016);

    child.kill().await.expect("stop the child we started");
}
