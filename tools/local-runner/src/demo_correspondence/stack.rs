//! One role's stack: the archive system with its role's settings and its webhook served over
//! HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use altinn::client::{Subscription, SubscriptionRequest};
use altinn_sim::{SeededCorrespondence, Simulator};
use archive_model::ArchiveRole;
use archive_model::correspondence::CorrespondenceManifest;
use serde_json::Value;

use super::{CorrespondenceDemo, CorrespondenceReport, RESOURCE_URN_PREFIX, role_name};
use crate::archive_files::{list_objects, mirror};
use crate::demo::{DEMO_BUCKET, WEBHOOK_PATH};
use crate::error::RunError;
use crate::ledger::EventSubject;
use crate::progress::Progress;
use crate::system::{ArchiveBucket, LocalSystem};
use crate::webhook_server::WebhookServer;

/// How long Altinn may take to validate a subscription.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One role's stack and its webhook's HTTP server.
pub(super) struct Stack {
    role: ArchiveRole,
    role_settings: String,
    system: LocalSystem,
    server: WebhookServer,
}

impl Stack {
    pub(super) async fn start(
        demo: &CorrespondenceDemo<'_>,
        role: ArchiveRole,
        role_settings: &[(&str, String)],
        progress: &Progress,
    ) -> Result<Stack, RunError> {
        let name = role_name(role);
        progress.step(format!("the {name}'s stack:"));
        let settings = demo.settings.with(role_settings);
        let system = LocalSystem::start_on(
            Arc::clone(&demo.aws),
            &format!("altinn-correspondence-{name}"),
            ArchiveBucket::Local(format!("{DEMO_BUCKET}-{name}")),
            &settings,
            demo.client.clone(),
            progress,
        )
        .await?;
        let server = WebhookServer::start(system.webhook().clone()).await?;
        let role_settings = role_settings
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(", ");
        progress.step(format!(
            "webhook ({role_settings}) listening on {}{WEBHOOK_PATH}?code=***",
            server.base_url()
        ));
        Ok(Stack {
            role,
            role_settings,
            system,
            server,
        })
    }

    pub(super) fn subscription_request(
        &self,
        resource: &str,
        subject: Option<String>,
    ) -> SubscriptionRequest {
        SubscriptionRequest {
            end_point: format!(
                "{}{WEBHOOK_PATH}?code={}",
                self.server.base_url(),
                self.system.webhook_secret().expose()
            ),
            resource_filter: Some(format!("{RESOURCE_URN_PREFIX}{resource}")),
            subject_filter: subject,
            // No type filter: the archive wants every event type of the resource.
            type_filter: None,
            ..SubscriptionRequest::default()
        }
    }

    /// Expects the events the simulator pushed about correspondence `id` since the first
    /// `before` that `ours` picks (the ones our subscription gets), and runs the archiver until
    /// they are settled. True when it gave up at `deadline`.
    pub(super) async fn expect_pushed(
        &self,
        sim: &Simulator,
        id: uuid::Uuid,
        before: usize,
        ours: impl Fn(&Value) -> bool,
        deadline: Instant,
        progress: &Progress,
    ) -> bool {
        for event in sim.correspondence_events_for(id).iter().skip(before) {
            let event_id = event["id"].as_str().unwrap_or_default();
            let event_type = event["type"].as_str().unwrap_or_default();
            let subject = event["subject"].as_str().unwrap_or_default();
            if !ours(event) {
                progress.step(format!(
                    "simulator publishes {event_type} (event {event_id}) about {subject}: \
                     not ours, our subscription does not get it"
                ));
                continue;
            }
            progress.step(format!(
                "simulator publishes {event_type} (event {event_id}) about {subject}"
            ));
            let resource = event["resource"].as_str().unwrap_or_default();
            self.system.ledger().expect_about(
                event_id,
                EventSubject::Correspondence {
                    resource_id: resource
                        .strip_prefix(RESOURCE_URN_PREFIX)
                        .unwrap_or(resource)
                        .to_owned(),
                    resource_instance: event["resourceinstance"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                },
            );
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.system.run_until_settled(left).await
    }

    /// Reads the dead-letter queue and the manifest, copies the bucket, and stops the stack.
    pub(super) async fn finish(
        self,
        demo: &CorrespondenceDemo<'_>,
        seeded: SeededCorrespondence,
        sender_org: String,
        expected_status: &'static str,
        timed_out: bool,
        progress: &Progress,
    ) -> Result<CorrespondenceReport, RunError> {
        let Stack {
            role,
            role_settings,
            system,
            server,
        } = self;
        server.stop().await;
        let dead_letters = system.collect_dead_letters().await?;
        let manifest_key = system
            .layout()
            .correspondence_manifest(&seeded.resource_id, &seeded.id.to_string())
            .map_err(|e| RunError::Setup(e.to_string()))?;
        let objects = list_objects(system.s3(), system.bucket(), "").await?;
        let manifest = if objects.iter().any(|o| o.key == manifest_key) {
            read_manifest(system.s3(), system.bucket(), &manifest_key).await?
        } else {
            None
        };
        let folder = demo
            .output
            .map(|output| output.join(format!("correspondence-{}", role_name(role))));
        if let Some(folder) = &folder {
            mirror(system.s3(), system.bucket(), &objects, folder).await?;
            progress.step(format!(
                "copied {} object(s) of s3://{} to {}/",
                objects.len(),
                system.bucket(),
                folder.display()
            ));
        }
        let ids: Vec<String> = std::iter::once(seeded.id)
            .chain(seeded.attachments.iter().map(|a| a.id))
            .map(|id| id.to_string())
            .collect();
        let altinn_calls = demo
            .simulator
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/correspondence/api/v1/"))
            .filter(|r| ids.iter().any(|id| r.path.contains(id.as_str())))
            .collect();
        Ok(CorrespondenceReport {
            role,
            role_settings,
            sender_org,
            bucket: format!("s3://{}", system.bucket()),
            manifest_key,
            manifest,
            expected_status,
            objects,
            folder,
            events: system.ledger().events(),
            webhook: system.webhook().stats(),
            dead_letters,
            altinn_calls,
            timed_out,
            seeded,
        })
    }
}

/// Polls the subscription until Altinn has validated it (its validation event reached the
/// webhook and got a 200).
pub(super) async fn wait_validated<F, Fut>(
    id: i64,
    progress: &Progress,
    get: F,
) -> Result<(), RunError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Subscription, RunError>>,
{
    let started = Instant::now();
    loop {
        if get().await?.validated {
            progress.step(format!(
                "subscription {id} validated: Altinn may now push events"
            ));
            return Ok(());
        }
        if started.elapsed() > VALIDATION_TIMEOUT {
            return Err(RunError::Setup(format!(
                "subscription {id} was not validated within {} s: the validation event did not \
                 get a 200 from the webhook",
                VALIDATION_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads and parses the manifest; `None` if it does not parse.
async fn read_manifest(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<CorrespondenceManifest>, RunError> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| RunError::aws("S3 GetObject", e))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| RunError::aws("S3 GetObject (body)", e))?
        .into_bytes();
    Ok(serde_json::from_slice(&bytes).ok())
}
