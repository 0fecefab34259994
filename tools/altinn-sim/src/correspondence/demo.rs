//! The demo's correspondence: the one `events/archiver-sqs-correspondence.json` names, seeded
//! by `altinn-sim --seed-demo` so that `cargo lambda invoke archiver --data-file
//! events/archiver-sqs-correspondence.json` (with `--env-file events/correspondence-sender.env`)
//! meets a real correspondence instead of a 404.

use uuid::Uuid;

use super::{CorrespondenceSpec, SeededCorrespondence};
use crate::Simulator;

/// The correspondence id of the sample events (`resourceinstance`).
const DEMO_CORRESPONDENCE_ID: Uuid = Uuid::from_u128(0x7a1f3c5e_2b4d_4e6f_8a0b_1c2d3e4f5a6b);
/// The id of its one attachment (`resourceinstance` of the sample `attachmentpublished`).
const DEMO_ATTACHMENT_ID: Uuid = Uuid::from_u128(0x8b2a4d6f_3c5e_4f70_9b1c_2d3e4f5a6b7c);
/// Its resource (`events/correspondence-sender.env`'s `CORRESPONDENCE_RESOURCES`).
const DEMO_RESOURCE_ID: &str = "ttd-archive-correspondence";
/// Its recipient organisation.
const DEMO_RECIPIENT_ORGNO: &str = "313725138";

impl Simulator {
    /// Seeds the correspondence the sample `events/archiver-sqs-correspondence.json` names
    /// (`7a1f3c5e-2b4d-4e6f-8a0b-1c2d3e4f5a6b` of resource `ttd-archive-correspondence`, from
    /// the simulator's own org, by default `ttd` with org number `991825827`, to `313725138`,
    /// with the one attachment `8b2a4d6f-3c5e-4f70-9b1c-2d3e4f5a6b7c` and one notification
    /// order), and replays the sample's story in its order: `attachmentpublished`, publishing
    /// (`correspondencepublished`, `notificationcreated`), the recipient's `Fetched` and `Read`
    /// (`correspondencereceiverread`), `correspondencenotificationfailed`. Its sender therefore
    /// sees empty content and gets 2016 on the attachment's download, as after the sample's
    /// events.
    ///
    /// # Panics
    /// If it is already seeded.
    pub fn seed_demo_correspondence(&self) -> SeededCorrespondence {
        let sender_org = self.config().org.clone();
        let seeded = self.add_correspondence(
            CorrespondenceSpec::new(DEMO_RESOURCE_ID, &sender_org, DEMO_RECIPIENT_ORGNO)
                .with_attachment("vedtak.pdf", 24 * 1024 + 7)
                .with_notifications(1)
                .with_ids(DEMO_CORRESPONDENCE_ID, &[DEMO_ATTACHMENT_ID]),
        );
        self.publish_attachment_event(DEMO_ATTACHMENT_ID, "attachmentpublished");
        self.publish_correspondence(DEMO_CORRESPONDENCE_ID);
        // The recipient opened it (`Fetched`) before reading it, as Altinn requires.
        self.add_correspondence_status(DEMO_CORRESPONDENCE_ID, "Fetched");
        self.publish_correspondence_event(DEMO_CORRESPONDENCE_ID, "correspondencereceiverread");
        self.publish_correspondence_event(
            DEMO_CORRESPONDENCE_ID,
            "correspondencenotificationfailed",
        );
        seeded
    }
}
