use altinn::CorrespondenceRef;

use super::*;

fn instance() -> InstanceRef {
    InstanceRef {
        org: "ttd".into(),
        app: "archive-test".into(),
        party_id: 50_001_234,
        instance_guid: "6f0b5a4e-3c1d-4f5e-9a7b-2c3d4e5f6a7b".parse().unwrap(),
    }
}

#[test]
fn instance_keys_follow_the_design_layout() {
    let layout = ArchiveLayout::new("archive").unwrap();
    let base = "archive/ttd/archive-test/50001234/6f0b5a4e-3c1d-4f5e-9a7b-2c3d4e5f6a7b/";
    assert_eq!(
        layout.instance_json(&instance()).unwrap(),
        format!("{base}instance.json")
    );
    assert_eq!(
        layout.manifest(&instance()).unwrap(),
        format!("{base}manifest.json")
    );
    assert_eq!(
        layout
            .data_element(&instance(), "0b0c0d0e-0000-4000-8000-000000000001")
            .unwrap(),
        format!("{base}data/0b0c0d0e-0000-4000-8000-000000000001")
    );
    assert_eq!(
        layout.data_prefix(&instance()).unwrap(),
        format!("{base}data/")
    );
    assert_eq!(
        layout.instance_event(&instance(), "e-1").unwrap(),
        format!("{base}events/e-1.json")
    );
    assert_eq!(
        layout.receipt_claim(&instance()).unwrap(),
        format!("{base}receipt-upload.json")
    );
    assert_eq!(
        layout.reconcile_marker(&instance()).unwrap(),
        format!("{base}reconcile-enqueued.json")
    );
    assert_eq!(
        layout.reconcile_feedback_marker(&instance()).unwrap(),
        format!("{base}reconcile-feedback.json")
    );
    assert_eq!(
        ArchiveLayout::new("")
            .unwrap()
            .unscoped_event("e-2")
            .unwrap(),
        "events/e-2.json"
    );
}

#[test]
fn correspondence_keys_strip_the_resource_urn() {
    let layout = ArchiveLayout::new("").unwrap();
    let correspondence = CorrespondenceRef {
        resource: "urn:altinn:resource:skd-melding_2024".into(),
        resourceinstance: "1a2b3c4d-0000-4000-8000-000000000000".into(),
    };
    assert_eq!(
        layout.correspondence_event(&correspondence, "ev1").unwrap(),
        "correspondence/skd-melding_2024/1a2b3c4d-0000-4000-8000-000000000000/events/ev1.json"
    );
    let not_urn = CorrespondenceRef {
        resource: "skd".into(),
        ..correspondence.clone()
    };
    assert_eq!(
        layout
            .correspondence_event(&not_urn, "ev1")
            .unwrap_err()
            .what,
        "resource"
    );
    let climbing = CorrespondenceRef {
        resourceinstance: "..".into(),
        ..correspondence
    };
    assert!(layout.correspondence_event(&climbing, "ev1").is_err());
}

#[test]
fn correspondence_archive_keys() {
    let layout = ArchiveLayout::new("a").unwrap();
    let (res, cid, aid) = ("letters", "c0", "a0");
    let base = "a/correspondence/letters/c0/";
    assert_eq!(layout.correspondence_prefix(res, cid).unwrap(), base);
    assert_eq!(
        layout.correspondence_event_under(res, cid, "e1").unwrap(),
        format!("{base}events/e1.json")
    );
    let at = fetched_at(time::macros::datetime!(2026-12-04 05:12:33.123456789 +01:00));
    assert_eq!(at, "20261204T041233.123456789Z");
    assert_eq!(
        layout.correspondence_details(res, cid, &at).unwrap(),
        format!("{base}details/20261204T041233.123456789Z.json")
    );
    assert!(
        fetched_at(time::macros::datetime!(2026-12-04 04:12:33.2 UTC)) > at,
        "sortable"
    );
    assert_eq!(
        layout
            .correspondence_attachment(res, cid, aid, Some("brev.pdf"))
            .unwrap(),
        format!("{base}attachments/a0/brev.pdf")
    );
    for odd in [
        Some("brev med mellomrom.pdf"),
        Some("overview.json"),
        Some(".."),
        None,
    ] {
        assert_eq!(
            layout
                .correspondence_attachment(res, cid, aid, odd)
                .unwrap(),
            format!("{base}attachments/a0/data"),
            "{odd:?}"
        );
    }
    assert_eq!(
        layout
            .correspondence_attachment_overview(res, cid, aid)
            .unwrap(),
        format!("{base}attachments/a0/overview.json")
    );
    assert_eq!(
        layout
            .follow_up_claim(res, cid, "correspondencereceiverneverread")
            .unwrap(),
        format!("{base}follow-up/correspondencereceiverneverread.json")
    );
    assert_eq!(
        layout.correspondence_manifest(res, cid).unwrap(),
        format!("{base}manifest.json")
    );
    assert_eq!(
        layout.attachment_event(aid, "e2").unwrap(),
        "a/correspondence-attachments/a0/events/e2.json"
    );
    assert_eq!(
        layout.attachment_overview(aid).unwrap(),
        "a/correspondence-attachments/a0/overview.json"
    );
    assert_eq!(
        layout.attachment_data(aid).unwrap(),
        "a/correspondence-attachments/a0/data"
    );
    assert_eq!(
        layout.notification_event("o1", "e3").unwrap(),
        "a/correspondence-notifications/o1/events/e3.json"
    );
    for bad in ["", "..", "a/b", "x y"] {
        assert!(layout.correspondence_prefix(bad, cid).is_err());
        assert!(layout.correspondence_prefix(res, bad).is_err());
        assert!(layout.attachment_prefix(bad).is_err());
        assert!(layout.notification_event(bad, "e").is_err());
        assert!(layout.follow_up_claim(res, cid, bad).is_err());
    }
}

#[test]
fn hostile_components_are_refused() {
    let layout = ArchiveLayout::new("").unwrap();
    for bad in ["", ".", "..", "a/b", "a%2Fb", "ä", "a b", &"x".repeat(129)] {
        assert!(
            layout.instance_event(&instance(), bad).is_err(),
            "{bad:?} must be refused"
        );
        assert!(
            layout.data_element(&instance(), bad).is_err(),
            "{bad:?} must be refused"
        );
    }
    let mut foreign = instance();
    foreign.app = "../other".into();
    assert_eq!(layout.manifest(&foreign).unwrap_err().what, "app");
}

#[test]
fn prefixes_are_normalised() {
    assert_eq!(ArchiveLayout::normalise_prefix(None).unwrap(), "");
    assert_eq!(ArchiveLayout::normalise_prefix(Some("")).unwrap(), "");
    assert_eq!(ArchiveLayout::normalise_prefix(Some("a")).unwrap(), "a/");
    assert_eq!(
        ArchiveLayout::normalise_prefix(Some("a/b/")).unwrap(),
        "a/b/"
    );
    assert!(ArchiveLayout::normalise_prefix(Some("/a")).is_err());
    assert!(ArchiveLayout::normalise_prefix(Some("a//b")).is_err());
    assert!(ArchiveLayout::normalise_prefix(Some("a/../b")).is_err());
}

#[test]
fn history_and_app_metadata_keys() {
    let layout = ArchiveLayout::new("archive").unwrap();
    let base = "archive/ttd/archive-test/50001234/6f0b5a4e-3c1d-4f5e-9a7b-2c3d4e5f6a7b/";
    assert_eq!(
        layout.instance_events(&instance()).unwrap(),
        format!("{base}history/instance-events.json")
    );
    assert_eq!(
        layout.process_history(&instance()).unwrap(),
        format!("{base}history/process-history.json")
    );
    let sha = "0123456789abcdef".repeat(4);
    let key = layout.app_metadata("ttd", "archive-test", &sha).unwrap();
    assert_eq!(
        key,
        format!("archive/ttd/archive-test/_app/metadata-{sha}.json")
    );
    // Every segment would pass the component check, and the app folder sits where a party
    // folder does without ever being one (party ids are digits).
    for segment in key.split('/') {
        check_component("segment", segment).unwrap();
    }
    let app_folder = key.split('/').nth(3).unwrap();
    assert!(!app_folder.bytes().all(|b| b.is_ascii_digit()));
    assert!(
        !layout
            .instance_prefix(&instance())
            .unwrap()
            .contains("/_app/")
    );

    for bad in [
        String::new(),
        "0123456789ABCDEF".repeat(4),
        "0".repeat(63),
        "0".repeat(65),
        format!("{}g", "0".repeat(63)),
        format!("{}/", "0".repeat(63)),
    ] {
        assert_eq!(
            layout
                .app_metadata("ttd", "archive-test", &bad)
                .unwrap_err()
                .what,
            "metadata SHA-256",
            "{bad:?}"
        );
    }
    assert_eq!(
        layout.app_metadata("ttd", "../x", &sha).unwrap_err().what,
        "app"
    );
    assert_eq!(
        layout
            .app_metadata("t/d", "archive-test", &sha)
            .unwrap_err()
            .what,
        "org"
    );
}

#[test]
fn quarantine_keys_sit_beside_data_and_under_one_review_prefix() {
    let layout = ArchiveLayout::new("archive/").unwrap();
    let instance = instance();
    let id = "5f0e0000-0000-4000-8000-000000000001";
    let base = layout.instance_prefix(&instance).unwrap();
    assert_eq!(
        layout.quarantined_element(&instance, id).unwrap(),
        format!("{base}quarantine/{id}")
    );
    assert_eq!(
        layout.quarantine_prefix(&instance).unwrap(),
        format!("{base}quarantine/")
    );
    let tail = base.strip_prefix("archive/").unwrap();
    let review = layout.quarantine_review(&instance, id).unwrap();
    assert_eq!(review, format!("archive/_quarantine/{tail}{id}.json"));
    assert!(review.starts_with(&layout.quarantine_reviews_prefix()));
    assert_eq!(
        layout.quarantine_release(&instance, id).unwrap(),
        format!("archive/_quarantine/{tail}{id}.released.json")
    );
    assert_eq!(
        layout
            .quarantined_element(&instance, "../x")
            .unwrap_err()
            .what,
        "data element id"
    );
    assert!(layout.quarantine_review(&instance, "a/b").is_err());
}
