//! An attachment uploaded before any correspondence uses it: its `attachmentpublished` names no
//! correspondence, so the bytes are kept under `correspondence-attachments/` alone. The
//! correspondence made with it later links them on its first details answer, which still names
//! its attachments, and keeps the link after publication empties the sender's content.

use super::*;

#[tokio::test]
async fn an_attachment_published_before_its_correspondence_is_linked_by_the_details() {
    let fixture = Fixture::sender();
    let aid = Uuid::new_v4();
    let bytes = b"%PDF-1.7 uploaded first".to_vec();
    fixture.altinn.put_attachment_overview(
        aid,
        json!({
            "attachmentId": aid, "resourceId": RESOURCE, "fileName": "vedtak.pdf",
            "checksum": hex::encode(Md5::digest(&bytes)), "status": "Published",
            "correspondenceIds": [], "dataType": "application/pdf",
        }),
    );
    fixture.altinn.put_attachment(aid, bytes.clone());
    let published = fixture
        .summary(&event(
            "attachmentpublished",
            "attachment",
            aid,
            "2026-12-04T07:00:00Z",
        ))
        .await;
    assert_eq!(published.attachments_downloaded, 1);
    assert_eq!(
        published.manifest_key, None,
        "no correspondence to link yet"
    );

    // The correspondence is made with it: the sender's details still name its attachments.
    fixture.altinn.put_details(
        CorrespondenceRole::Sender,
        fixture.id,
        details(
            fixture.id,
            &[("Initialized", "2026-12-04T08:00:00Z")],
            &[(aid, "vedtak.pdf", &bytes)],
        ),
    );
    fixture
        .summary(&event(
            "correspondenceinitialized",
            "correspondence",
            fixture.id,
            "2026-12-04T08:00:01Z",
        ))
        .await;
    // Published: the sender's content is empty from now on.
    fixture.altinn.put_details(
        CorrespondenceRole::Sender,
        fixture.id,
        details(
            fixture.id,
            &[
                ("Initialized", "2026-12-04T08:00:00Z"),
                ("Published", "2026-12-04T09:00:00Z"),
            ],
            &[],
        ),
    );
    fixture
        .summary(&event(
            "correspondencepublished",
            "correspondence",
            fixture.id,
            "2026-12-04T09:00:01Z",
        ))
        .await;

    let manifest = fixture.manifest();
    assert_eq!(manifest.attachments.len(), 1);
    let attachment = &manifest.attachments[0];
    assert_eq!(attachment.attachment_id, aid.to_string());
    assert_eq!(attachment.state, AttachmentState::Downloaded);
    assert_eq!(
        attachment.key.as_deref(),
        Some(format!("archive/correspondence-attachments/{aid}/data").as_str())
    );
    assert_eq!(attachment.size, Some(bytes.len() as u64));
    let linked = fixture.key(&format!("attachments/{aid}/overview.json"));
    assert!(manifest.objects.iter().any(|o| o.key == linked));
}
