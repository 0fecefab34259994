//! The Altinn client's Correspondence calls against the simulator: the details as sender
//! before and after publishing, the sender's attachment overview and download (and Altinn's
//! 2016 refusal once published), the recipient's details and download, and the subscription
//! key, which goes on every Correspondence request and nowhere else.

mod support;

use altinn::client::{AltinnClient, DataStream};
use altinn::correspondence::{
    CorrespondenceRole, ERROR_ATTACHMENT_NOT_AVAILABLE_TO_SENDER, ORGANIZATION_SUBJECT_PREFIX,
};
use altinn::secret::Secret;
use altinn_sim::{CorrespondenceSpec, InstanceSpec, Route, SeededCorrespondence, Simulator};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use support::*;

const RESOURCE_ID: &str = "ttd-archive-correspondence";
/// A recipient that is not us: ttd's correspondences to it are ours only as the sender.
const OTHER_ORGNO: &str = "910000001";
/// The organisation the simulator's tokens speak for as recipient (its client org, also ttd's).
const OWN_ORGNO: &str = "991825827";
/// Another service owner, sending to us (ttd cannot be both sender and recipient of a test).
const OTHER_SENDER: &str = "skd";
const OTHER_SENDER_ORGNO: &str = "974761076";
const SUBSCRIPTION_KEY: &str = "sim-apim-key-4f1c9a7e2b";

/// MD5 (RFC 1321) in lowercase hex, computed here and not by the simulator, so a checksum is
/// checked against the bytes themselves (the `altinn` crate has no MD5 dependency).
fn md5_hex(data: &[u8]) -> String {
    const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    let constants: Vec<u32> = (0..64u32)
        .map(|i| (f64::from(i + 1).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut message = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_le_bytes());
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for block in message.chunks(64) {
        let words: Vec<u32> = block
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f
                .wrapping_add(a)
                .wrapping_add(constants[i])
                .wrapping_add(words[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(SHIFTS[(i / 16) * 4 + i % 4]));
        }
        for (word, add) in state.iter_mut().zip([a, b, c, d]) {
            *word = word.wrapping_add(add);
        }
    }
    hex::encode(
        state
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

#[test]
fn the_md5_helper_gives_the_rfc_1321_digests() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        md5_hex(
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        ),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
}

fn urn(orgno: &str) -> String {
    format!("{ORGANIZATION_SUBJECT_PREFIX}{orgno}")
}

/// From ttd to another organisation: two attachments (the second spans several chunks) and one
/// notification order.
fn seed_as_sender(sim: &Simulator) -> SeededCorrespondence {
    sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", OTHER_ORGNO)
            .with_attachment("vedtak.pdf", 10_000)
            .with_attachment("data.bin", 70_001)
            .with_notifications(1),
    )
}

/// From another service owner to us, published: what the recipient role reads.
fn seed_to_us(sim: &Simulator) -> SeededCorrespondence {
    sim.register_org_number(OTHER_SENDER, OTHER_SENDER_ORGNO);
    let seeded = sim.add_correspondence(
        CorrespondenceSpec::new("skd-melding", OTHER_SENDER, OWN_ORGNO)
            .with_attachment("melding.pdf", 33_333),
    );
    sim.publish_correspondence(seeded.id);
    seeded
}

/// The whole body of a download.
async fn collect(stream: DataStream) -> Vec<u8> {
    let mut body = stream.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.expect("the body arrives whole"));
    }
    bytes
}

/// The claims of the token each request on `route` carried.
fn token_claims(sim: &Simulator, route: Route) -> Vec<serde_json::Value> {
    sim.requests()
        .iter()
        .filter(|r| r.route == Some(route))
        .map(|r| claims(r.bearer_token().expect("a bearer token")))
        .collect()
}

fn keyed_client(sim: &Simulator) -> AltinnClient {
    client(sim).with_subscription_key(Some(Secret::new(SUBSCRIPTION_KEY)))
}

#[tokio::test]
async fn sender_details_before_publishing_have_the_content_and_attachments() {
    let sim = start_sim().await;
    let seeded = seed_as_sender(&sim);
    let client = client(&sim);

    let details = client
        .correspondence_details(CorrespondenceRole::Sender, seeded.id)
        .await
        .unwrap();
    let value = &details.value;
    assert_eq!(value.correspondence_id, seeded.id);
    assert_eq!(value.resource_id, RESOURCE_ID);
    assert_eq!(value.sender.as_deref(), Some(urn(OWN_ORGNO).as_str()));
    assert_eq!(value.recipient.as_deref(), Some(urn(OTHER_ORGNO).as_str()));
    assert_eq!(value.status, "Initialized");
    assert_eq!(value.published, None);
    assert!(!value.is_published());
    let content = value.content.as_ref().expect("content before publishing");
    assert!(
        content
            .message_title
            .as_deref()
            .is_some_and(|t| !t.is_empty()),
        "{content:?}"
    );
    assert!(
        content
            .message_body
            .as_deref()
            .is_some_and(|b| !b.is_empty()),
        "{content:?}"
    );
    let listed: Vec<_> = value
        .attachments()
        .iter()
        .map(|a| (a.id, a.file_name.clone(), a.checksum.clone()))
        .collect();
    let expected: Vec<_> = seeded
        .attachments
        .iter()
        .map(|a| (a.id, Some(a.file_name.clone()), Some(a.md5_hex.clone())))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(
        value
            .status_history
            .iter()
            .map(|e| e.status.as_str())
            .collect::<Vec<_>>(),
        ["Initialized"]
    );
    assert_eq!(value.notifications.len(), 1);
    assert_eq!(
        value.notifications[0].id.as_deref(),
        Some(seeded.notification_order_ids[0].to_string().as_str())
    );

    // The raw bytes are the JSON the typed view was read from.
    let raw: serde_json::Value = serde_json::from_slice(&details.raw).unwrap();
    assert_eq!(raw["correspondenceId"], seeded.id.to_string());
    assert_eq!(
        raw["content"]["messageTitle"],
        content.message_title.as_deref().unwrap()
    );

    // As the sender: its token writes, speaks for ttd, and leaves no recipient trace.
    let tokens = token_claims(&sim, Route::CorrespondenceDetails);
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        tokens[0]["scope"],
        "altinn:serviceowner altinn:correspondence.write"
    );
    assert_eq!(tokens[0]["urn:altinn:org"], "ttd");
    assert_eq!(sim.correspondence_statuses(seeded.id), ["Initialized"]);
}

#[tokio::test]
async fn sender_details_after_publishing_have_empty_content() {
    let sim = start_sim().await;
    let seeded = seed_as_sender(&sim);
    sim.publish_correspondence(seeded.id);
    let client = client(&sim);

    let details = client
        .correspondence_details(CorrespondenceRole::Sender, seeded.id)
        .await
        .unwrap();
    let value = &details.value;
    assert_eq!(value.correspondence_id, seeded.id);
    assert_eq!(value.status, "Published");
    assert!(value.published.is_some());
    assert!(value.is_published());
    assert!(
        value.attachments().is_empty(),
        "the sender no longer sees the attachments"
    );
    // Altinn writes an empty placeholder; absent content would mean the same.
    if let Some(content) = &value.content {
        for text in [
            &content.message_title,
            &content.message_summary,
            &content.message_body,
        ] {
            assert!(text.as_deref().is_none_or(str::is_empty), "{content:?}");
        }
    }
    assert_eq!(
        value
            .status_history
            .iter()
            .map(|e| e.status.as_str())
            .collect::<Vec<_>>(),
        ["Initialized", "ReadyForPublish", "Published"]
    );
    assert_eq!(
        value.notifications.len(),
        1,
        "the notification is still there"
    );
    let processing = value.notifications[0]
        .processing_status
        .as_ref()
        .expect("processingStatus");
    assert_eq!(processing["status"], "Completed");
}

#[tokio::test]
async fn sender_overview_and_download_before_publishing_match_the_checksum() {
    let sim = start_sim().await;
    let seeded = seed_as_sender(&sim);
    let attachment = &seeded.attachments[1];
    let client = client(&sim);

    let overview = client.attachment_overview(attachment.id).await.unwrap();
    let value = &overview.value;
    assert_eq!(value.attachment_id, attachment.id);
    assert_eq!(value.resource_id.as_deref(), Some(RESOURCE_ID));
    assert_eq!(value.file_name.as_deref(), Some("data.bin"));
    assert_eq!(value.status.as_deref(), Some("Published"));
    assert_eq!(value.correspondence_ids, [seeded.id]);
    let checksum = value.checksum.clone().expect("a checksum");
    assert_eq!(checksum.len(), 32);
    assert!(
        checksum
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "lowercase hex MD5, not Base64: {checksum}"
    );

    let stream = client
        .download_sender_attachment(attachment.id)
        .await
        .unwrap();
    assert_eq!(stream.content_length, Some(attachment.size));
    assert_eq!(
        stream.content_type.as_deref(),
        Some("application/octet-stream")
    );
    let bytes = collect(stream).await;
    assert_eq!(bytes.len() as u64, attachment.size);
    assert_eq!(
        md5_hex(&bytes),
        checksum,
        "the bytes are what the checksum says"
    );
    assert_eq!(hex::encode(Sha256::digest(&bytes)), attachment.sha256_hex);

    // The other attachment is other bytes.
    let first = collect(
        client
            .download_sender_attachment(seeded.attachments[0].id)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(md5_hex(&first), seeded.attachments[0].md5_hex);
    assert_ne!(md5_hex(&first), checksum);
    assert_eq!(
        sim.correspondence_statuses(seeded.id),
        ["Initialized"],
        "the sender's calls record nothing"
    );
}

#[tokio::test]
async fn after_publishing_the_sender_download_is_refused_with_2016() {
    let sim = start_sim().await;
    let seeded = seed_as_sender(&sim);
    let attachment = &seeded.attachments[0];
    sim.publish_correspondence(seeded.id);
    let client = client(&sim);

    // The overview still answers, with the checksum.
    let overview = client.attachment_overview(attachment.id).await.unwrap();
    assert_eq!(
        overview.value.checksum.as_deref(),
        Some(attachment.md5_hex.as_str())
    );

    let error = client
        .download_sender_attachment(attachment.id)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400), "{error:?}");
    assert_eq!(
        error.error_code(),
        Some(ERROR_ATTACHMENT_NOT_AVAILABLE_TO_SENDER)
    );
    assert!(!error.is_transient(), "a refusal is not retried");
    assert_eq!(
        statuses(&sim, Route::CorrespondenceSenderDownload),
        [400],
        "one attempt"
    );
    // Another refusal has its own code, not 2016.
    let unknown = client
        .download_sender_attachment(uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(404));
    assert_eq!(unknown.error_code(), Some(2001));
}

#[tokio::test]
async fn the_recipient_reads_the_details_and_downloads_with_its_own_token() {
    let sim = start_sim().await;
    let seeded = seed_to_us(&sim);
    let attachment = &seeded.attachments[0];
    let client = client(&sim);

    let details = client
        .correspondence_details(CorrespondenceRole::Recipient, seeded.id)
        .await
        .unwrap();
    let value = &details.value;
    assert_eq!(value.correspondence_id, seeded.id);
    assert_eq!(value.resource_id, "skd-melding");
    assert_eq!(
        value.sender.as_deref(),
        Some(urn(OTHER_SENDER_ORGNO).as_str())
    );
    assert_eq!(value.recipient.as_deref(), Some(urn(OWN_ORGNO).as_str()));
    assert!(value.is_published());
    let content = value
        .content
        .as_ref()
        .expect("the recipient sees the content");
    assert!(
        content
            .message_title
            .as_deref()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(value.attachments().len(), 1);
    let listed = &value.attachments()[0];
    assert_eq!(listed.id, attachment.id);
    assert_eq!(listed.data_type.as_deref(), Some("application/pdf"));
    let checksum = listed.checksum.clone().expect("a checksum");

    let stream = client
        .download_recipient_attachment(seeded.id, attachment.id)
        .await
        .unwrap();
    assert_eq!(stream.content_length, Some(attachment.size));
    assert_eq!(stream.content_type.as_deref(), Some("application/pdf"));
    let bytes = collect(stream).await;
    assert_eq!(bytes.len() as u64, attachment.size);
    assert_eq!(md5_hex(&bytes), checksum);

    // Both calls went as the recipient: read scope only (a write scope would make Altinn treat
    // it as the sender), speaking for our organisation number, not for an org code.
    for route in [
        Route::CorrespondenceDetails,
        Route::CorrespondenceRecipientDownload,
    ] {
        let tokens = token_claims(&sim, route);
        assert_eq!(tokens.len(), 1, "{route:?}");
        assert_eq!(
            tokens[0]["scope"], "altinn:correspondence.read",
            "{route:?}"
        );
        assert_eq!(tokens[0]["urn:altinn:orgNumber"], OWN_ORGNO, "{route:?}");
        assert!(tokens[0].get("urn:altinn:org").is_none(), "{route:?}");
    }
    // …and so left the recipient's traces, which the sender sees.
    assert_eq!(
        sim.correspondence_statuses(seeded.id),
        [
            "Initialized",
            "ReadyForPublish",
            "Published",
            "Fetched",
            "AttachmentsDownloaded"
        ]
    );
}

#[tokio::test]
async fn the_recipient_cannot_see_a_correspondence_before_it_is_published() {
    let sim = start_sim().await;
    sim.register_org_number(OTHER_SENDER, OTHER_SENDER_ORGNO);
    let seeded = sim.add_correspondence(
        CorrespondenceSpec::new("skd-melding", OTHER_SENDER, OWN_ORGNO)
            .with_attachment("melding.pdf", 100),
    );
    let client = client(&sim);
    let error = client
        .correspondence_details(CorrespondenceRole::Recipient, seeded.id)
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.error_code()),
        (Some(404), Some(1001))
    );
    let error = client
        .download_recipient_attachment(seeded.id, seeded.attachments[0].id)
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.error_code()),
        (Some(404), Some(1001))
    );
    assert_eq!(sim.correspondence_statuses(seeded.id), ["Initialized"]);
}

#[tokio::test]
async fn the_subscription_key_goes_on_every_correspondence_request_and_nowhere_else() {
    let sim = start_sim().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let sent = seed_as_sender(&sim);
    let received = seed_to_us(&sim);
    let client = keyed_client(&sim);

    // Storage, then both roles of Correspondence, a refusal included.
    client.get_instance(&instance_ref(&instance)).await.unwrap();
    client
        .correspondence_details(CorrespondenceRole::Sender, sent.id)
        .await
        .unwrap();
    client
        .attachment_overview(sent.attachments[0].id)
        .await
        .unwrap();
    collect(
        client
            .download_sender_attachment(sent.attachments[0].id)
            .await
            .unwrap(),
    )
    .await;
    sim.publish_correspondence(sent.id);
    let refused = client
        .download_sender_attachment(sent.attachments[0].id)
        .await
        .unwrap_err();
    assert_eq!(
        refused.error_code(),
        Some(ERROR_ATTACHMENT_NOT_AVAILABLE_TO_SENDER)
    );
    client
        .correspondence_details(CorrespondenceRole::Recipient, received.id)
        .await
        .unwrap();
    collect(
        client
            .download_recipient_attachment(received.id, received.attachments[0].id)
            .await
            .unwrap(),
    )
    .await;
    client.get_instance(&instance_ref(&instance)).await.unwrap();

    let requests = sim.requests();
    let (correspondence, other): (Vec<_>, Vec<_>) = requests
        .iter()
        .partition(|r| r.path.starts_with("/correspondence/"));
    assert_eq!(correspondence.len(), 6, "{correspondence:#?}");
    for request in &correspondence {
        assert_eq!(
            request.subscription_key.as_deref(),
            Some(SUBSCRIPTION_KEY),
            "{request:?}"
        );
    }
    let storage = other
        .iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .count();
    assert_eq!(storage, 2, "{other:#?}");
    assert!(
        other.iter().any(|r| r.path.contains("maskinporten")),
        "the token calls are in the log too: {other:#?}"
    );
    for request in &other {
        assert_eq!(request.subscription_key, None, "{request:?}");
    }

    // Never in what a log could show.
    let debug = format!("{client:?}");
    assert!(!debug.contains(SUBSCRIPTION_KEY), "{debug}");
    assert!(debug.contains("subscription_key: true"), "{debug}");
    for text in [format!("{refused:?}"), refused.to_string()] {
        assert!(!text.contains(SUBSCRIPTION_KEY), "{text}");
    }
    let stream = client
        .download_recipient_attachment(received.id, received.attachments[0].id)
        .await
        .unwrap();
    assert!(!format!("{stream:?}").contains(SUBSCRIPTION_KEY));
}

#[tokio::test]
async fn without_a_subscription_key_no_request_carries_one() {
    let sim = start_sim().await;
    let sent = seed_as_sender(&sim);
    let client = client(&sim).with_subscription_key(None);
    client
        .correspondence_details(CorrespondenceRole::Sender, sent.id)
        .await
        .unwrap();
    client
        .attachment_overview(sent.attachments[0].id)
        .await
        .unwrap();
    let requests = sim.requests();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.starts_with("/correspondence/"))
            .count(),
        2
    );
    assert!(requests.iter().all(|r| r.subscription_key.is_none()));
    assert!(format!("{client:?}").contains("subscription_key: false"));
}
