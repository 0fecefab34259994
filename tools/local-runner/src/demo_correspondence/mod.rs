//! The demo's Correspondence part: one correspondence archived as its sender and one as its
//! recipient, each by its own stack, after the instances.
//!
//! A stack has one `CORRESPONDENCE_ROLE`, so each role gets its own system (webhook, queues,
//! archiver, bucket) on the demo's moto_server, and its own subscription, created the way the
//! operations guide says:
//!
//! - **sender**: `CORRESPONDENCE_ROLE=sender`, `CORRESPONDENCE_RESOURCES` our resource. The
//!   subscription (`resourceFilter` the resource) is created by us as the service owner. The
//!   simulator seeds a correspondence from us (`ttd`) with one attachment, then publishes the
//!   attachment's `attachmentpublished` (the sender may download it until the correspondence is
//!   published), publishes the correspondence (`correspondencepublished`,
//!   `notificationcreated`), and has the recipient read it (`correspondencereceiverread`).
//!   Each step waits until the one before is archived, as the events would in real life.
//! - **recipient**: `CORRESPONDENCE_ROLE=recipient`, `CORRESPONDENCE_RECIPIENT_ORGNO` our
//!   organisation number. Another service owner (`skd`) sends us a correspondence with one
//!   attachment. The subscription (`resourceFilter` its resource, `subjectFilter` our
//!   organisation) is created by our organisation: a token without `altinn:serviceowner`, so
//!   Events knows us as `/organisation/{orgno}` and lets events addressed to us through. Only
//!   `correspondencepublished` is addressed to us; the archiver fetches the details and
//!   downloads the attachment as the recipient, and never reads (`/content`), marks as read or
//!   confirms.
//!
//! Every event travels the real path: the simulator pushes it to the subscription's endpoint,
//! the webhook checks and enqueues it, the archiver takes it off the queue.
//!
//! Here the two runs; the stack each role runs on, and our organisation's own Events calls, in
//! `stack.rs`; the report and the summary block in `report.rs`.

mod report;
mod stack;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use altinn::AltinnClient;
use altinn_sim::{CorrespondenceSpec, Route, Simulator};
use archive_model::ArchiveRole;
use serde_json::Value;

use crate::error::RunError;
use crate::local_aws::LocalAws;
use crate::progress::{Progress, human_bytes};
use crate::settings::Settings;

pub use report::{CorrespondenceReport, print_correspondence_summary};
use stack::{Stack, wait_validated};

/// Our resource, as the sender.
pub const SENDER_RESOURCE: &str = "ttd-demo-correspondence";
/// The organisation our correspondence goes to.
pub const SENDER_DEMO_RECIPIENT_ORGNO: &str = "910000001";
/// The other service owner that sends us a correspondence, its organisation number, and its
/// resource.
pub const OTHER_SENDER_ORG: &str = "skd";
/// See [`OTHER_SENDER_ORG`].
pub const OTHER_SENDER_ORGNO: &str = "974761076";
/// See [`OTHER_SENDER_ORG`].
pub const RECIPIENT_RESOURCE: &str = "skd-demo-correspondence";
/// The size of each correspondence's one attachment.
pub const CORRESPONDENCE_ATTACHMENT_BYTES: u64 = 64 * 1024 + 7;
/// The latest status of the sender's correspondence once the recipient has read it.
pub const SENDER_LATEST_STATUS: &str = "Read";
/// The latest status of the recipient's correspondence: our details call is Altinn's record
/// that we opened it (`Fetched`), but nothing reads it.
pub const RECIPIENT_LATEST_STATUS: &str = "Fetched";
/// The routes that read a correspondence or change its status for the recipient: never called.
pub const FORBIDDEN_ROUTES: [Route; 3] = [
    Route::CorrespondenceContent,
    Route::CorrespondenceMarkAsRead,
    Route::CorrespondenceConfirm,
];

const RESOURCE_URN_PREFIX: &str = "urn:altinn:resource:";
const ORGANIZATION_URN_PREFIX: &str = "urn:altinn:organization:identifier-no:";

/// What the Correspondence part needs from the demo.
#[derive(Debug)]
pub struct CorrespondenceDemo<'a> {
    /// The demo's moto_server (each role gets its own queues and bucket in it).
    pub aws: Arc<LocalAws>,
    /// The simulator.
    pub simulator: &'a Simulator,
    /// The functions' settings without any role ([`crate::demo::demo_settings`]).
    pub settings: &'a Settings,
    /// Our Altinn client as the service owner.
    pub client: &'a AltinnClient,
    /// The run folder; each role's bucket is copied to `correspondence-{role}/` in it.
    pub output: Option<&'a Path>,
    /// How long each role may take.
    pub timeout: Duration,
}

/// Runs the sender's stack, then the recipient's.
pub async fn run_correspondence_demo(
    demo: &CorrespondenceDemo<'_>,
    progress: &Progress,
) -> Result<Vec<CorrespondenceReport>, RunError> {
    progress.step(
        "Correspondence: one stack per CORRESPONDENCE_ROLE, each with its own webhook, queues, \
         bucket and subscription, on the same moto_server and simulator",
    );
    let sender = as_sender(demo, progress).await?;
    let recipient = as_recipient(demo, progress).await?;
    Ok(vec![sender, recipient])
}

async fn as_sender(
    demo: &CorrespondenceDemo<'_>,
    progress: &Progress,
) -> Result<CorrespondenceReport, RunError> {
    let sim = demo.simulator;
    let org = sim.config().org.clone();
    let role_settings = [
        ("CORRESPONDENCE_ROLE", "sender".to_owned()),
        ("CORRESPONDENCE_RESOURCES", SENDER_RESOURCE.to_owned()),
    ];
    let stack = Stack::start(demo, ArchiveRole::Sender, &role_settings, progress).await?;
    let request = stack.subscription_request(SENDER_RESOURCE, None);
    let subscription = demo.client.create_subscription(&request).await?;
    progress.step(format!(
        "subscription {} created by us as the service owner ({org}): every event of \
         {RESOURCE_URN_PREFIX}{SENDER_RESOURCE}",
        subscription.id
    ));
    wait_validated(subscription.id, progress, || async {
        Ok(demo.client.get_subscription(subscription.id).await?)
    })
    .await?;

    let c = sim.add_correspondence(
        CorrespondenceSpec::new(SENDER_RESOURCE, &org, SENDER_DEMO_RECIPIENT_ORGNO)
            .with_attachment("vedtak.pdf", CORRESPONDENCE_ATTACHMENT_BYTES)
            .with_notifications(1),
    );
    progress.step(format!(
        "seeded correspondence {} from {org} to {SENDER_DEMO_RECIPIENT_ORGNO}: attachment \
         vedtak.pdf ({}) uploaded, one notification order; not published yet",
        c.id,
        human_bytes(CORRESPONDENCE_ATTACHMENT_BYTES)
    ));
    let deadline = Instant::now() + demo.timeout;
    let mut timed_out = false;
    // 1. The attachment: the sender may download it only until the correspondence is
    //    published, so this is archived first.
    let attachment = c.attachments[0].id;
    let before = sim.correspondence_events_for(c.id).len();
    sim.publish_attachment_event(attachment, "attachmentpublished");
    timed_out |= stack
        .expect_pushed(sim, c.id, before, |_| true, deadline, progress)
        .await;
    // 2. Publishing: `correspondencepublished` and `notificationcreated`.
    let before = sim.correspondence_events_for(c.id).len();
    sim.publish_correspondence(c.id);
    timed_out |= stack
        .expect_pushed(sim, c.id, before, |_| true, deadline, progress)
        .await;
    // 3. The recipient opens and reads it.
    let before = sim.correspondence_events_for(c.id).len();
    sim.add_correspondence_status(c.id, "Fetched");
    sim.publish_correspondence_event(c.id, "correspondencereceiverread");
    timed_out |= stack
        .expect_pushed(sim, c.id, before, |_| true, deadline, progress)
        .await;

    stack
        .finish(demo, c, org, SENDER_LATEST_STATUS, timed_out, progress)
        .await
}

async fn as_recipient(
    demo: &CorrespondenceDemo<'_>,
    progress: &Progress,
) -> Result<CorrespondenceReport, RunError> {
    let sim = demo.simulator;
    let own_orgno = sim.config().org_number.clone();
    let own_urn = format!("{ORGANIZATION_URN_PREFIX}{own_orgno}");
    sim.register_org_number(OTHER_SENDER_ORG, OTHER_SENDER_ORGNO);
    let role_settings = [
        ("CORRESPONDENCE_ROLE", "recipient".to_owned()),
        ("CORRESPONDENCE_RECIPIENT_ORGNO", own_orgno.clone()),
    ];
    let stack = Stack::start(demo, ArchiveRole::Recipient, &role_settings, progress).await?;
    let request = stack.subscription_request(RECIPIENT_RESOURCE, Some(own_urn.clone()));
    // As the organisation, not the service owner: Events delivers another sender's events
    // about us to `/organisation/{orgno}` (`archive-ops subscription --as-organisation`).
    let organisation = demo.client.clone().subscribing_as_organisation();
    let subscription = organisation.create_subscription(&request).await?;
    progress.step(format!(
        "subscription {} created by our organisation {own_orgno} (a token without \
         altinn:serviceowner, so Events knows us as {}): events of \
         {RESOURCE_URN_PREFIX}{RECIPIENT_RESOURCE} about {own_urn}",
        subscription.id,
        subscription.consumer.as_deref().unwrap_or("?")
    ));
    wait_validated(subscription.id, progress, || async {
        Ok(organisation.get_subscription(subscription.id).await?)
    })
    .await?;

    let c = sim.add_correspondence(
        CorrespondenceSpec::new(RECIPIENT_RESOURCE, OTHER_SENDER_ORG, &own_orgno)
            .with_attachment("brev.pdf", CORRESPONDENCE_ATTACHMENT_BYTES)
            .with_notifications(1),
    );
    progress.step(format!(
        "seeded correspondence {} from {OTHER_SENDER_ORG} ({OTHER_SENDER_ORGNO}) to us \
         ({own_orgno}): attachment brev.pdf ({}), one notification order",
        c.id,
        human_bytes(CORRESPONDENCE_ATTACHMENT_BYTES)
    ));
    let deadline = Instant::now() + demo.timeout;
    let before = sim.correspondence_events_for(c.id).len();
    sim.publish_correspondence(c.id);
    let ours = |event: &Value| event["subject"] == own_urn.as_str();
    let timed_out = stack
        .expect_pushed(sim, c.id, before, ours, deadline, progress)
        .await;

    stack
        .finish(
            demo,
            c,
            OTHER_SENDER_ORG.to_owned(),
            RECIPIENT_LATEST_STATUS,
            timed_out,
            progress,
        )
        .await
}

fn role_name(role: ArchiveRole) -> &'static str {
    match role {
        ArchiveRole::Sender => "sender",
        ArchiveRole::Recipient => "recipient",
    }
}
