//! Correspondence for both roles over real HTTP: what the sender sees before and after
//! publishing, what the recipient sees and which traces each recipient call leaves.

mod common;
mod correspondence_common;

use altinn_sim::CorrespondenceSpec;
use common::*;
use correspondence_common::*;
use md5::Digest as _;
use serde_json::Value;

fn statuses(body: &Value) -> Vec<String> {
    body["statusHistory"]
        .as_array()
        .expect("statusHistory")
        .iter()
        .map(|e| e["status"].as_str().expect("status").to_owned())
        .collect()
}

#[tokio::test]
async fn the_sender_sees_content_and_downloads_until_publishing_then_gets_2016() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let c = seed_to(&sim, OWN_ORGNO);
    let (status, _, details) =
        get(&sim, &t.sender, &format!("correspondence/{}/details", c.id)).await;
    assert_eq!(status, 200, "{details}");
    assert_eq!(details["status"], "Initialized");
    assert_eq!(details["recipient"], OWN_URN);
    assert_eq!(details["sender"], OWN_URN, "ttd is the simulator's own org");
    assert_eq!(details["resourceId"], RESOURCE_ID);
    let attachments = details["content"]["attachments"]
        .as_array()
        .expect("attachments");
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0]["checksum"], c.attachments[0].md5_hex);
    assert!(
        details["content"]["messageTitle"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let a = &c.attachments[1];
    let response = http()
        .get(url(&sim, &format!("attachment/{}/download", a.id)))
        .bearer_auth(&t.sender)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert!(response.headers().get("content-disposition").is_none());
    let bytes = response.bytes().await.expect("body");
    assert_eq!(bytes.len() as u64, a.size);
    assert_eq!(format!("{:x}", md5::Md5::digest(&bytes)), a.md5_hex);

    let (status, _, overview) = get(&sim, &t.sender, &format!("attachment/{}", a.id)).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview["checksum"], a.md5_hex);
    assert_eq!(overview["status"], "Published");
    assert_eq!(overview["correspondenceIds"][0], c.id.to_string());
    assert!(overview.get("statusHistory").is_none());
    let (_, _, attachment_details) =
        get(&sim, &t.sender, &format!("attachment/{}/details", a.id)).await;
    assert_eq!(
        attachment_details["statusHistory"].as_array().map(Vec::len),
        Some(3)
    );

    sim.publish_correspondence(c.id);
    let (status, _, details) =
        get(&sim, &t.sender, &format!("correspondence/{}/details", c.id)).await;
    assert_eq!(status, 200);
    assert_eq!(details["status"], "Published");
    let content = &details["content"];
    assert_eq!(content["language"], "no");
    assert_eq!(content["messageTitle"], "");
    assert_eq!(content["messageSummary"], "");
    assert_eq!(content["messageBody"], "");
    assert_eq!(content["attachments"], Value::Array(Vec::new()));
    let (_, _, overview) = get(&sim, &t.sender, &format!("correspondence/{}", c.id)).await;
    assert_eq!(overview["content"]["attachments"], Value::Array(Vec::new()));
    assert!(
        overview.get("statusHistory").is_none(),
        "the overview has no history"
    );
    assert_eq!(
        overview["notifications"][0]["notificationOrderId"],
        c.notification_order_ids[0].to_string()
    );

    let answer = get(&sim, &t.sender, &format!("attachment/{}/download", a.id)).await;
    assert_problem(&answer, 400, 2016);
    let (status, _, overview) = get(&sim, &t.sender, &format!("attachment/{}", a.id)).await;
    assert_eq!(status, 200, "the overview stays readable: {overview}");
    assert_eq!(overview["checksum"], a.md5_hex);
    assert_eq!(
        sim.correspondence_statuses(c.id),
        ["Initialized", "ReadyForPublish", "Published"],
        "the sender's calls leave no trace"
    );
}

#[tokio::test]
async fn the_recipient_cannot_see_it_before_publishing_and_leaves_traces_after() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let c = seed_to(&sim, OWN_ORGNO);
    for path in [
        format!("correspondence/{}", c.id),
        format!("correspondence/{}/details", c.id),
        format!(
            "correspondence/{}/attachment/{}/download",
            c.id, c.attachments[0].id
        ),
    ] {
        assert_problem(&get(&sim, &t.recipient, &path).await, 404, 1001);
    }
    sim.publish_correspondence(c.id);

    let (status, _, details) = get(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/details", c.id),
    )
    .await;
    assert_eq!(status, 200, "{details}");
    assert!(
        details["content"]["messageBody"]
            .as_str()
            .is_some_and(|b| !b.is_empty())
    );
    assert_eq!(
        details["content"]["attachments"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        statuses(&details),
        ["Initialized", "ReadyForPublish", "Published", "Fetched"]
    );
    assert_eq!(
        details["status"], "Published",
        "Fetched is never the current status"
    );
    let notification = &details["notifications"][0];
    assert_eq!(notification["id"], c.notification_order_ids[0].to_string());
    assert_eq!(notification["processingStatus"]["status"], "Completed");
    assert_eq!(
        notification["notificationStatusDetails"]["email"]["succeeded"],
        true
    );

    // Details record Fetched each time; the overview at most once per 15 s.
    get(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/details", c.id),
    )
    .await;
    for _ in 0..3 {
        let (status, _, _) = get(&sim, &t.recipient, &format!("correspondence/{}", c.id)).await;
        assert_eq!(status, 200);
    }
    let fetched = |sim: &altinn_sim::Simulator| {
        sim.correspondence_statuses(c.id)
            .iter()
            .filter(|s| *s == "Fetched")
            .count()
    };
    assert_eq!(fetched(&sim), 3);

    let a = &c.attachments[0];
    let response = http()
        .get(url(
            &sim,
            &format!("correspondence/{}/attachment/{}/download", c.id, a.id),
        ))
        .bearer_auth(&t.recipient)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.starts_with("inline; filename=vedtak.pdf"),
        "{disposition}"
    );
    let bytes = response.bytes().await.expect("body");
    assert_eq!(format!("{:x}", md5::Md5::digest(&bytes)), a.md5_hex);
    let history = sim.correspondence_status_history(c.id);
    let last = history.last().expect("history");
    assert_eq!(last.status, "AttachmentsDownloaded");
    assert_eq!(
        last.status_text,
        format!("Attachment {} has been downloaded", a.id)
    );
    assert!(
        history
            .windows(2)
            .all(|w| w[0].status_changed < w[1].status_changed)
    );
    assert!(
        !history.iter().any(|e| e.status == "Read"),
        "no call so far reads it"
    );

    // The sender now sees the recipient's traces.
    let (_, _, details) = get(&sim, &t.sender, &format!("correspondence/{}/details", c.id)).await;
    assert!(statuses(&details).contains(&"AttachmentsDownloaded".to_owned()));
    assert_eq!(
        statuses(&details)
            .iter()
            .filter(|s| *s == "Fetched")
            .count(),
        3
    );
}

#[tokio::test]
async fn content_marks_it_read_once_and_confirm_needs_a_fetch_first() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let c = seed_to(&sim, OWN_ORGNO);
    sim.publish_correspondence(c.id);
    assert_problem(
        &post(
            &sim,
            &t.recipient,
            &format!("correspondence/{}/markasread", c.id),
        )
        .await,
        400,
        1024,
    );
    assert_problem(
        &post(
            &sim,
            &t.recipient,
            &format!("correspondence/{}/confirm", c.id),
        )
        .await,
        400,
        1025,
    );

    let (status, content_type, body) = get(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/content", c.id),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.is_some_and(|c| c.starts_with("text/plain")));
    assert!(body.as_str().is_some_and(|b| b.starts_with("# Melding")));
    get(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/content", c.id),
    )
    .await;
    let s = sim.correspondence_statuses(c.id);
    assert_eq!(s.iter().filter(|s| *s == "Read").count(), 1, "{s:?}");
    assert_eq!(s.iter().filter(|s| *s == "Fetched").count(), 2, "{s:?}");

    let (status, _, id) = post(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/confirm", c.id),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(id, c.id.to_string());
    assert_problem(
        &post(
            &sim,
            &t.recipient,
            &format!("correspondence/{}/confirm", c.id),
        )
        .await,
        400,
        1041,
    );
    let (_, _, details) = get(&sim, &t.sender, &format!("correspondence/{}/details", c.id)).await;
    assert_eq!(details["status"], "Confirmed");
    assert!(details["read"].is_string());

    // /content needs the recipient's scope: the sender's token is refused by the policy.
    let (status, _, _) = get(&sim, &t.sender, &format!("correspondence/{}/content", c.id)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_wrong_party_gets_4001_and_a_missing_scope_403() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let theirs = seed_to(&sim, OTHER_ORGNO);
    sim.publish_correspondence(theirs.id);
    let a = &theirs.attachments[0];
    for path in [
        format!("correspondence/{}", theirs.id),
        format!("correspondence/{}/details", theirs.id),
        format!("correspondence/{}/content", theirs.id),
        format!("correspondence/{}/attachment/{}/download", theirs.id, a.id),
    ] {
        assert_problem(&get(&sim, &t.recipient, &path).await, 401, 4001);
    }
    assert_problem(
        &post(
            &sim,
            &t.recipient,
            &format!("correspondence/{}/markasread", theirs.id),
        )
        .await,
        401,
        4001,
    );
    assert_eq!(
        sim.correspondence_statuses(theirs.id),
        ["Initialized", "ReadyForPublish", "Published"],
        "refused calls leave no trace"
    );

    // Another service owner's correspondence and attachment.
    sim.register_org_number("skd", "974761076");
    let other_sender = sim.add_correspondence(
        altinn_sim::CorrespondenceSpec::new("skd-melding", "skd", OWN_ORGNO)
            .with_attachment("x.txt", 10),
    );
    assert_problem(
        &get(
            &sim,
            &t.sender,
            &format!("correspondence/{}", other_sender.id),
        )
        .await,
        401,
        4001,
    );
    let aid = other_sender.attachments[0].id;
    assert_problem(
        &get(&sim, &t.sender, &format!("attachment/{aid}")).await,
        401,
        4001,
    );
    assert_problem(
        &get(&sim, &t.sender, &format!("attachment/{aid}/download")).await,
        401,
        4001,
    );
    assert_problem(
        &get(
            &sim,
            &t.sender,
            &format!("attachment/{}", uuid::Uuid::new_v4()),
        )
        .await,
        404,
        2001,
    );
    assert_problem(
        &get(
            &sim,
            &t.sender,
            &format!("correspondence/{}", uuid::Uuid::new_v4()),
        )
        .await,
        404,
        1001,
    );

    // Scopes: no Correspondence scope at all is 403 with no body; the read scope alone may not
    // use the sender's attachment routes; no token is 401.
    let neither = altinn_token(&sim, "altinn:serviceowner").await;
    let (status, _, body) = get(&sim, &neither, &format!("correspondence/{}", theirs.id)).await;
    assert_eq!((status, body), (403, Value::Null));
    let (status, _, _) = get(&sim, &t.recipient, &format!("attachment/{}", a.id)).await;
    assert_eq!(status, 403);
    let (status, _, _) =
        send(http().get(url(&sim, &format!("correspondence/{}", theirs.id)))).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_sender_never_sees_archiving_or_purging_and_purged_is_gone_for_both() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let c = seed_to(&sim, OWN_ORGNO);
    sim.publish_correspondence(c.id);
    assert!(sim.add_correspondence_status(c.id, "Archived"));
    let (_, _, sender) = get(&sim, &t.sender, &format!("correspondence/{}/details", c.id)).await;
    assert!(!statuses(&sender).contains(&"Archived".to_owned()));
    let (_, _, recipient) = get(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/details", c.id),
    )
    .await;
    assert!(statuses(&recipient).contains(&"Archived".to_owned()));

    sim.publish_correspondence_event(c.id, "correspondencepurged");
    assert_eq!(
        sim.correspondence_statuses(c.id).last().map(String::as_str),
        Some("PurgedByRecipient")
    );
    for token in [&t.sender, &t.recipient] {
        assert_problem(
            &get(&sim, token, &format!("correspondence/{}/details", c.id)).await,
            404,
            1001,
        );
    }
    assert!(!sim.add_correspondence_status(c.id, "NoSuchStatus"));
}

#[tokio::test]
async fn a_failed_notification_event_shows_in_the_details() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let c = sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", OTHER_ORGNO).with_notifications(2),
    );
    sim.publish_correspondence(c.id);
    let email_statuses = |details: &Value| -> Vec<String> {
        details["notifications"]
            .as_array()
            .expect("notifications")
            .iter()
            .map(|n| {
                let email = &n["notificationStatusDetails"]["email"];
                format!("{}:{}", email["sendStatus"]["status"], email["succeeded"])
            })
            .collect()
    };
    let path = format!("correspondence/{}/details", c.id);
    let (_, _, details) = get(&sim, &t.sender, &path).await;
    assert_eq!(
        email_statuses(&details),
        ["\"Delivered\":true", "\"Delivered\":true"]
    );

    sim.publish_correspondence_event(c.id, "correspondencenotificationfailed");
    let (_, _, details) = get(&sim, &t.sender, &path).await;
    assert_eq!(
        email_statuses(&details),
        ["\"Failed\":false", "\"Delivered\":true"],
        "one order failed"
    );

    sim.publish_correspondence_event(c.id, "correspondencenotificationallfailed");
    let (_, _, details) = get(&sim, &t.sender, &path).await;
    assert_eq!(
        email_statuses(&details),
        ["\"Failed\":false", "\"Failed\":false"],
        "every order failed"
    );
}
