//! What tests do with Correspondence: seed correspondences, publish them, make and push their
//! events, and inspect their status history and the events pushed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::{
    cloud_event, implied_attachment_status, implied_status, normalise_suffix, push,
    push_correspondence_event,
};
use super::store::{
    AttachmentStatusEntry, NotificationOrder, Status, StoredAttachment, StoredCorrespondence,
    organization_urn,
};
use super::{
    CorrespondenceSpec, CorrespondenceStatusRecord, SeededCorrespondence,
    SeededCorrespondenceAttachment,
};
use crate::Simulator;
use crate::content::StoredContent;
use crate::dialect::timestamp;

impl Simulator {
    /// Seeds a correspondence in status `Initialized` with its attachments already `Published`
    /// (uploaded and scanned) and its notification orders registered. Each attachment's bytes
    /// are generated deterministically and streamed once here for its digests. No event is
    /// pushed: push `attachmentpublished` etc. with [`Simulator::publish_attachment_event`].
    /// Ids are random unless the spec fixes them ([`CorrespondenceSpec::with_ids`]).
    ///
    /// # Panics
    /// If a fixed correspondence or attachment id is already seeded.
    pub fn add_correspondence(&self, spec: CorrespondenceSpec) -> SeededCorrespondence {
        let now = OffsetDateTime::now_utc();
        let id = spec.id.unwrap_or_else(Uuid::new_v4);
        {
            let inner = self.shared.lock();
            let store = &inner.correspondence;
            assert!(
                !store.correspondences.contains_key(&id),
                "correspondence {id} is already seeded"
            );
            for fixed in spec.attachments.iter().filter_map(|a| a.id) {
                assert!(
                    !store.attachments.contains_key(&fixed),
                    "attachment {fixed} is already seeded"
                );
            }
        }
        let sender_orgno = self.org_number_of(&spec.sender_org);
        let mut stored_attachments = Vec::new();
        let mut seeded_attachments = Vec::new();
        for attachment in &spec.attachments {
            let seed = {
                let mut inner = self.shared.lock();
                inner.next_seq += 1;
                inner.next_seq
            };
            let content = StoredContent::Generated {
                size: attachment.size,
                seed: seed ^ 0xC0FF_EE00,
            };
            let (sha256_hex, md5_b64) = content.digests();
            let md5_hex = hex::encode(STANDARD.decode(md5_b64).expect("our own base64"));
            let attachment_id = attachment.id.unwrap_or_else(Uuid::new_v4);
            let history = ["Initialized", "UploadProcessing", "Published"]
                .into_iter()
                .map(|status| AttachmentStatusEntry {
                    status,
                    text: status.to_owned(),
                    changed: now,
                })
                .collect();
            stored_attachments.push(StoredAttachment {
                id: attachment_id,
                resource_id: spec.resource_id.clone(),
                sender_org: spec.sender_org.clone(),
                sender_orgno: sender_orgno.clone(),
                file_name: attachment.file_name.clone(),
                content,
                md5_hex: md5_hex.clone(),
                created: now,
                history,
                correspondence_ids: vec![id],
            });
            seeded_attachments.push(SeededCorrespondenceAttachment {
                id: attachment_id,
                file_name: attachment.file_name.clone(),
                size: attachment.size,
                md5_hex,
                sha256_hex,
            });
        }
        let notifications: Vec<NotificationOrder> = (0..spec.notifications)
            .map(|n| NotificationOrder {
                order_id: Uuid::new_v4(),
                notification_id: Uuid::new_v4(),
                created: now,
                is_reminder: n > 0,
                failed: false,
            })
            .collect();
        let short = &id.simple().to_string()[..8];
        let mut stored = StoredCorrespondence {
            id,
            resource_id: spec.resource_id.clone(),
            sender_org: spec.sender_org.clone(),
            sender_orgno,
            recipient_orgno: spec.recipient_orgno.clone(),
            senders_reference: format!("sim-{short}"),
            title: format!("Melding {short}"),
            summary: format!("Sammendrag av melding {short}"),
            body: format!("# Melding {short}\n\nDette er en simulert melding."),
            attachments: seeded_attachments.iter().map(|a| a.id).collect(),
            notifications: notifications.clone(),
            is_confirmation_needed: spec.is_confirmation_needed,
            created: now,
            published: None,
            history: Vec::new(),
            last_overview_fetch: None,
        };
        stored.push_status(Status::Initialized, Status::Initialized.name());
        let mut inner = self.shared.lock();
        let store = &mut inner.correspondence;
        for order in &notifications {
            store.orders.insert(order.order_id, id);
        }
        for attachment in stored_attachments {
            store.attachments.insert(attachment.id, attachment);
        }
        store.correspondences.insert(id, stored);
        SeededCorrespondence {
            id,
            resource_id: spec.resource_id,
            recipient: organization_urn(&spec.recipient_orgno),
            attachments: seeded_attachments,
            notification_order_ids: notifications.iter().map(|n| n.order_id).collect(),
        }
    }

    /// Publishes the correspondence (`ReadyForPublish`, then `Published`): from now on its
    /// sender sees empty content and may not download its attachments, and its recipient may
    /// read it. Pushes `correspondencepublished` (to the recipient) and a `notificationcreated`
    /// per notification order (to the sender). Publishing twice changes nothing.
    ///
    /// # Panics
    /// If no such correspondence was seeded.
    pub fn publish_correspondence(&self, id: Uuid) {
        let orders = {
            let mut inner = self.shared.lock();
            let c = inner
                .correspondence
                .correspondences
                .get_mut(&id)
                .unwrap_or_else(|| panic!("no correspondence {id}"));
            if c.has_been(Status::Published) {
                return;
            }
            c.push_status(Status::ReadyForPublish, Status::ReadyForPublish.name());
            let published = c.push_status(Status::Published, Status::Published.name());
            c.published = Some(published);
            c.notifications
                .iter()
                .map(|n| n.order_id)
                .collect::<Vec<_>>()
        };
        push_correspondence_event(&self.shared, id, "correspondencepublished");
        for order in orders {
            let event = self.notification_event(id, order);
            let sender_org = self.sender_org_of(id);
            push(&self.shared, event, &sender_org, vec![id]);
        }
    }

    /// The CloudEvent Altinn would push for the correspondence: `type_suffix` is the type
    /// after `no.altinn.correspondence.` (short forms such as `receiverread` are accepted);
    /// `notificationcreated` gives the event of its first notification order. Each call makes
    /// a new `id`.
    ///
    /// # Panics
    /// If no such correspondence was seeded, for an attachment event type (use
    /// [`Simulator::attachment_event`]), or for `notificationcreated` without orders.
    pub fn correspondence_event(&self, id: Uuid, type_suffix: &str) -> Value {
        let suffix = normalise_suffix(type_suffix);
        assert!(
            !suffix.starts_with("attachment"),
            "{suffix} is about an attachment: use attachment_event"
        );
        let inner = self.shared.lock();
        let c = inner
            .correspondence
            .correspondences
            .get(&id)
            .unwrap_or_else(|| panic!("no correspondence {id}"));
        if suffix == "notificationcreated" {
            let order = c
                .notifications
                .first()
                .expect("a notification order")
                .order_id;
            return cloud_event(
                &self.shared,
                &suffix,
                &c.resource_id,
                order,
                &c.sender_orgno,
            );
        }
        let orgno = if super::events::addressed_to_recipient(&suffix) {
            &c.recipient_orgno
        } else {
            &c.sender_orgno
        };
        cloud_event(&self.shared, &suffix, &c.resource_id, id, orgno)
    }

    /// Pushes the correspondence's event of this type to the matching subscriptions and applies
    /// the status it reports (`correspondencereceiverread` → `Read`,
    /// `…receiverconfirmed` → `Confirmed`, `…purged` → `PurgedByRecipient`, `…publishfailed` →
    /// `Failed`; a status already reached is not added again). Returns the event id.
    ///
    /// # Panics
    /// As [`Simulator::correspondence_event`].
    pub fn publish_correspondence_event(&self, id: Uuid, type_suffix: &str) -> String {
        let suffix = normalise_suffix(type_suffix);
        let event = self.correspondence_event(id, &suffix);
        if let Some(status) = implied_status(&suffix) {
            let mut inner = self.shared.lock();
            if let Some(c) = inner.correspondence.correspondences.get_mut(&id)
                && !c.has_been(status)
            {
                c.push_status(status, status.name());
            }
        }
        // A failed delivery shows in the details' notifications: one order for
        // `…notificationfailed`, every order for `…notificationallfailed`.
        let failing = match suffix.as_str() {
            "correspondencenotificationfailed" => 1,
            "correspondencenotificationallfailed" => usize::MAX,
            _ => 0,
        };
        if failing > 0
            && let Some(c) = self
                .shared
                .lock()
                .correspondence
                .correspondences
                .get_mut(&id)
        {
            for order in c
                .notifications
                .iter_mut()
                .filter(|n| !n.failed)
                .take(failing)
            {
                order.failed = true;
            }
        }
        let sender_org = self.sender_org_of(id);
        push(&self.shared, event, &sender_org, vec![id])
    }

    /// The CloudEvent of an attachment (`attachmentinitialized`, `attachmentpublished`,
    /// `attachmentuploadfailed`, `attachmentexpired`): source `…/attachment`,
    /// `resourceinstance` the attachment id, addressed to the sender.
    ///
    /// # Panics
    /// If no such attachment was seeded.
    pub fn attachment_event(&self, attachment_id: Uuid, type_suffix: &str) -> Value {
        let suffix = normalise_suffix(type_suffix);
        let inner = self.shared.lock();
        let a = inner
            .correspondence
            .attachments
            .get(&attachment_id)
            .unwrap_or_else(|| panic!("no attachment {attachment_id}"));
        cloud_event(&self.shared, &suffix, &a.resource_id, a.id, &a.sender_orgno)
    }

    /// Pushes the attachment's event and applies the status it reports (`attachmentexpired` →
    /// `Expired`, `attachmentuploadfailed` → `Failed`). Returns the event id.
    ///
    /// # Panics
    /// If no such attachment was seeded.
    pub fn publish_attachment_event(&self, attachment_id: Uuid, type_suffix: &str) -> String {
        let suffix = normalise_suffix(type_suffix);
        let event = self.attachment_event(attachment_id, &suffix);
        let (sender_org, correspondences) = {
            let mut inner = self.shared.lock();
            let a = inner
                .correspondence
                .attachments
                .get_mut(&attachment_id)
                .expect("found above");
            if let Some(status) = implied_attachment_status(&suffix) {
                a.history.push(AttachmentStatusEntry {
                    status,
                    text: format!("The attachment is {}", status.to_lowercase()),
                    changed: OffsetDateTime::now_utc(),
                });
            }
            (a.sender_org.clone(), a.correspondence_ids.clone())
        };
        push(&self.shared, event, &sender_org, correspondences)
    }

    /// The `notificationcreated` event of one of the correspondence's notification orders:
    /// source `…/notification`, `resourceinstance` the ORDER id, addressed to the sender.
    ///
    /// # Panics
    /// If no such correspondence was seeded.
    pub fn notification_event(&self, correspondence_id: Uuid, order_id: Uuid) -> Value {
        let inner = self.shared.lock();
        let c = inner
            .correspondence
            .correspondences
            .get(&correspondence_id)
            .unwrap_or_else(|| panic!("no correspondence {correspondence_id}"));
        cloud_event(
            &self.shared,
            "notificationcreated",
            &c.resource_id,
            order_id,
            &c.sender_orgno,
        )
    }

    /// The correspondence's full status history as its recipient sees it (`Fetched` entries
    /// included), in order; empty for an unknown id.
    pub fn correspondence_statuses(&self, id: Uuid) -> Vec<String> {
        self.correspondence_status_history(id)
            .into_iter()
            .map(|r| r.status)
            .collect()
    }

    /// The same history with each entry's `statusText` and `statusChanged`, exactly as the
    /// recipient's details render them.
    pub fn correspondence_status_history(&self, id: Uuid) -> Vec<CorrespondenceStatusRecord> {
        let inner = self.shared.lock();
        inner
            .correspondence
            .correspondences
            .get(&id)
            .map(|c| {
                c.history
                    .iter()
                    .map(|e| CorrespondenceStatusRecord {
                        status: e.status.name().to_owned(),
                        status_text: e.text.clone(),
                        status_changed: timestamp(e.changed),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every event pushed about the correspondence (its own, its attachments', its
    /// notification orders'), in the order they were published. Whether a subscription got
    /// them is in [`Simulator::deliveries`].
    pub fn correspondence_events_for(&self, id: Uuid) -> Vec<Value> {
        self.shared
            .lock()
            .correspondence
            .pushed
            .iter()
            .filter(|p| p.correspondences.contains(&id))
            .map(|p| p.event.clone())
            .collect()
    }

    /// Adds a status (by its Altinn name, e.g. `Archived`, `PurgedByAltinn`) to the
    /// correspondence's history without any event, as Altinn's own jobs do. Returns `false`
    /// for an unknown correspondence or status name.
    pub fn add_correspondence_status(&self, id: Uuid, status: &str) -> bool {
        let Some(status) = Status::from_name(status) else {
            return false;
        };
        let mut inner = self.shared.lock();
        let Some(c) = inner.correspondence.correspondences.get_mut(&id) else {
            return false;
        };
        c.push_status(status, status.name());
        if status == Status::Published && c.published.is_none() {
            c.published = c.history.last().map(|e| e.changed);
        }
        true
    }

    /// The ids of every seeded correspondence, in no particular order.
    pub fn correspondence_ids(&self) -> Vec<Uuid> {
        let inner = self.shared.lock();
        inner
            .correspondence
            .correspondences
            .keys()
            .copied()
            .collect()
    }

    /// Tells the simulator another sender org's organisation number (its own org has
    /// [`crate::SimConfig::org_number`]; other orgs otherwise get a made-up one).
    pub fn register_org_number(&self, org: &str, org_number: &str) {
        let mut inner = self.shared.lock();
        inner
            .correspondence
            .org_numbers
            .insert(org.to_owned(), org_number.to_owned());
    }

    fn org_number_of(&self, org: &str) -> String {
        if org == self.shared.config.org {
            return self.shared.config.org_number.clone();
        }
        let inner = self.shared.lock();
        inner
            .correspondence
            .org_numbers
            .get(org)
            .cloned()
            .unwrap_or_else(|| {
                // A stable 9-digit number starting with 9, like Norwegian org numbers.
                let hash = org
                    .bytes()
                    .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                format!("9{:08}", hash % 100_000_000)
            })
    }

    fn sender_org_of(&self, id: Uuid) -> String {
        let inner = self.shared.lock();
        inner
            .correspondence
            .correspondences
            .get(&id)
            .map(|c| c.sender_org.clone())
            .unwrap_or_default()
    }
}
