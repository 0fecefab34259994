//! The checks of the correspondence chaos run: one correspondence's archive against what the
//! simulator holds and what was delivered.

use super::*;

pub(crate) async fn get_bytes(s3: &aws_sdk_s3::Client, key: &str) -> Option<Vec<u8>> {
    let object = s3.get_object().bucket(BUCKET).key(key).send().await.ok()?;
    Some(
        object
            .body
            .collect()
            .await
            .expect("object body")
            .into_bytes()
            .to_vec(),
    )
}

/// What the checks of the correspondences covered.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) statuses: usize,
    pub(crate) status_events: usize,
    pub(crate) attachments: usize,
    pub(crate) objects: usize,
    pub(crate) bytes: u64,
}

/// Checks one correspondence's archive: its manifest holds the whole history the simulator
/// holds, once each, in time order, one entry per status event, every event it was sent, its
/// attachments byte for byte, and every object it lists is in S3 with its size and SHA-256.
pub(crate) async fn check_correspondence(
    system: &ChaosSystem,
    simulator: &Simulator,
    c: &Tracked,
    seed: u64,
    counts: &mut Counts,
) {
    let layout = &system.layout;
    let cid = c.id().to_string();
    let what = format!("seed {seed}: correspondence {cid} ({:?})", c.lifecycle);
    let key = layout
        .correspondence_manifest(RESOURCE, &cid)
        .expect("manifest key");
    let bytes = get_bytes(&system.s3, &key)
        .await
        .unwrap_or_else(|| panic!("{what}: no manifest at {key}"));
    let manifest: CorrespondenceManifest =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what}: manifest: {e}"));
    assert_eq!(manifest.correspondence_id, cid, "{what}");
    assert_eq!(manifest.resource_id, RESOURCE, "{what}");
    assert_eq!(manifest.role, ArchiveRole::Sender, "{what}");

    // The simulator's history, entry for entry, as the details entries of the manifest.
    let history = simulator.correspondence_status_history(c.id());
    let expected_statuses: Vec<&str> = history.iter().map(|h| h.status.as_str()).collect();
    let wanted: &[&str] = match c.lifecycle {
        Lifecycle::PublishFails => &["Initialized", "ReadyForPublish", "Failed"],
        Lifecycle::NeverRead => &["Initialized", "ReadyForPublish", "Published"],
        Lifecycle::Read | Lifecycle::NeverConfirmed => &[
            "Initialized",
            "ReadyForPublish",
            "Published",
            "Fetched",
            "Read",
        ],
        Lifecycle::Confirmed => &[
            "Initialized",
            "ReadyForPublish",
            "Published",
            "Fetched",
            "Read",
            "Confirmed",
        ],
    };
    assert_eq!(expected_statuses, wanted, "{what}: the simulator's history");
    let from_details: Vec<(&str, &str, Option<&str>)> = manifest
        .status_history
        .iter()
        .filter(|s| s.source == StatusSource::Details)
        .map(|s| {
            (
                s.status.as_str(),
                s.status_changed.as_str(),
                s.status_text.as_deref(),
            )
        })
        .collect();
    let from_simulator: Vec<(&str, &str, Option<&str>)> = history
        .iter()
        .map(|h| {
            (
                h.status.as_str(),
                h.status_changed.as_str(),
                Some(h.status_text.as_str()),
            )
        })
        .collect();
    assert_eq!(
        from_details, from_simulator,
        "{what}: every status Altinn holds, once each, in order (manifest {:#?})",
        manifest.status_history
    );
    counts.statuses += from_simulator.len();

    // One entry per status event delivered, whatever the duplicates and the order.
    let mut from_events: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for s in &manifest.status_history {
        if s.source == StatusSource::Event {
            let id = s
                .event_id
                .as_deref()
                .unwrap_or_else(|| panic!("{what}: an event entry without its event id: {s:?}"));
            from_events
                .entry(id)
                .or_default()
                .push((s.status.as_str(), s.status_changed.as_str()));
        } else {
            assert!(s.event_id.is_none(), "{what}: {s:?}");
        }
    }
    let mut expected_events: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (id, suffix, time) in &c.events {
        if let Some(status) = implied_status(suffix) {
            expected_events
                .entry(id.as_str())
                .or_default()
                .push((status, time.as_str()));
        }
    }
    assert!(
        !expected_events.is_empty(),
        "{what}: a status event was sent"
    );
    assert_eq!(
        from_events, expected_events,
        "{what}: one entry per status event"
    );
    counts.status_events += expected_events.len();

    // Each (status, statusChanged) once, oldest first, the latest last.
    let mut seen = BTreeSet::new();
    for s in &manifest.status_history {
        assert!(
            seen.insert((s.status.as_str(), s.status_changed.as_str())),
            "{what}: {} at {} twice",
            s.status,
            s.status_changed
        );
    }
    for pair in manifest.status_history.windows(2) {
        assert!(
            parse_time(&pair[0].status_changed) <= parse_time(&pair[1].status_changed),
            "{what}: out of time order: {:?} before {:?}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(
        manifest.latest_status.as_ref(),
        manifest.status_history.last(),
        "{what}: the latest status"
    );

    // Every event it was sent is archived under it, once; the notification events listed.
    let event_keys: Vec<&str> = manifest
        .objects
        .iter()
        .filter(|o| o.role == CorrespondenceObjectRole::Event)
        .map(|o| o.key.as_str())
        .collect();
    let event_objects: BTreeSet<&str> = event_keys.iter().copied().collect();
    assert_eq!(
        event_objects.len(),
        event_keys.len(),
        "{what}: each event object listed once"
    );
    let sent: BTreeSet<String> = c
        .events
        .iter()
        .map(|(id, _, _)| {
            layout
                .correspondence_event_under(RESOURCE, &cid, id)
                .expect("event key")
        })
        .collect();
    assert_eq!(
        event_objects,
        sent.iter().map(String::as_str).collect(),
        "{what}: the events archived under it"
    );
    let mut listed: Vec<&str> = manifest
        .notification_events
        .iter()
        .map(|e| e.event_id.as_str())
        .collect();
    let mut expected_notifications: Vec<&str> = c
        .events
        .iter()
        .filter(|(_, suffix, _)| suffix.starts_with("correspondencenotification"))
        .map(|(id, _, _)| id.as_str())
        .collect();
    listed.sort_unstable();
    expected_notifications.sort_unstable();
    assert_eq!(
        listed, expected_notifications,
        "{what}: the notification events"
    );
    let details = manifest
        .objects
        .iter()
        .filter(|o| o.role == CorrespondenceObjectRole::Details)
        .count();
    assert!(details >= 1, "{what}: a details answer is archived");
    if c.lifecycle != Lifecycle::PublishFails {
        assert_eq!(
            manifest.notifications.len(),
            c.seeded.notification_order_ids.len(),
            "{what}: the notifications of the newest details"
        );
    }

    // The attachments, byte for byte, and their events.
    assert_eq!(
        manifest.attachments.len(),
        c.seeded.attachments.len(),
        "{what}: its attachments"
    );
    for seeded in &c.seeded.attachments {
        let aid = seeded.id.to_string();
        let record = manifest
            .attachments
            .iter()
            .find(|a| a.attachment_id == aid)
            .unwrap_or_else(|| panic!("{what}: attachment {aid} in the manifest"));
        assert_eq!(
            record.state,
            AttachmentState::Downloaded,
            "{what}: attachment {aid} archived before publishing: {record:?}"
        );
        assert_eq!(record.sha256.as_deref(), Some(seeded.sha256_hex.as_str()));
        assert_eq!(record.size, Some(seeded.size));
        assert_eq!(record.checksum.as_deref(), Some(seeded.md5_hex.as_str()));
        let data_key = record.key.as_deref().expect("the attachment's key");
        assert_eq!(
            system.object_digest(data_key).await,
            (seeded.sha256_hex.clone(), seeded.size),
            "{what}: attachment {aid} in S3"
        );
        assert!(
            manifest
                .objects
                .iter()
                .any(|o| o.role == CorrespondenceObjectRole::AttachmentOverview
                    && o.key.contains(&aid)),
            "{what}: the overview of {aid} under the correspondence"
        );
        counts.attachments += 1;
    }
    for (aid, eid) in &c.attachment_events {
        let key = layout
            .attachment_event(&aid.to_string(), eid)
            .expect("attachment event key");
        let stored = get_bytes(&system.s3, &key)
            .await
            .unwrap_or_else(|| panic!("{what}: attachment event {key}"));
        let stored: Value = serde_json::from_slice(&stored).expect("event JSON");
        assert_eq!(stored["id"], eid.as_str());
    }
    for (order, eid) in &c.notification_created {
        let key = layout
            .notification_event(&order.to_string(), eid)
            .expect("notification event key");
        let stored = get_bytes(&system.s3, &key)
            .await
            .unwrap_or_else(|| panic!("{what}: notificationcreated at {key}"));
        let stored: Value = serde_json::from_slice(&stored).expect("event JSON");
        assert_eq!(stored["resourceinstance"], order.to_string());
    }

    // Every object it lists is in S3, with its size and SHA-256.
    for object in &manifest.objects {
        let (sha, size) = system.object_digest(&object.key).await;
        assert_eq!(
            (sha.as_str(), size),
            (object.sha256.as_str(), object.size),
            "{what}: {} matches its manifest entry",
            object.key
        );
        counts.objects += 1;
        counts.bytes += size;
    }
}

/// What the case system got from the hand-off bus: one `CorrespondenceArchived` per
/// correspondence event, never two for the same (correspondence, event), and one
/// `InstanceArchived` per instance alongside (all checked against their schemas as read).
pub(crate) async fn check_hand_off(
    system: &ChaosSystem,
    tracked: &[Tracked],
    instances: &[SeededInstance],
    seed: u64,
) -> usize {
    let events = system.hand_off.drain(Duration::from_secs(2)).await;
    let mut archived: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut instances_archived: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        let field = |name: &str| event.detail[name].as_str().unwrap_or_default().to_owned();
        match event.detail_type.as_str() {
            "CorrespondenceArchived" => {
                *archived
                    .entry((field("correspondenceId"), field("eventId")))
                    .or_default() += 1;
            }
            "InstanceArchived" => {
                *instances_archived.entry(field("instanceGuid")).or_default() += 1
            }
            _ => {}
        }
    }
    let twice: Vec<_> = archived.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "seed {seed}: sent more than once: {twice:#?}"
    );
    for c in tracked {
        for (event_id, suffix, _) in &c.events {
            assert!(
                archived.contains_key(&(c.id().to_string(), event_id.clone())),
                "seed {seed}: no CorrespondenceArchived for {suffix} {event_id} of {}",
                c.id()
            );
        }
    }
    for instance in instances {
        assert_eq!(
            instances_archived.get(&instance.instance_guid.to_string()),
            Some(&1),
            "seed {seed}: InstanceArchived for {}",
            instance.instance_id()
        );
    }
    events.len()
}
