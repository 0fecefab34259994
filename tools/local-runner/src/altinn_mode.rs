//! `archive-local altinn`: the same system against a real Altinn environment (tt02), with the
//! user's own Maskinporten client, before anything is deployed.
//!
//! 1. Find the app's completed instances that our org has not confirmed yet (Storage query),
//!    or take the one instance named on the command line.
//! 2. Without `--yes`, list them and stop: archiving ends with `complete`, which changes the
//!    instances in Altinn.
//! 3. With `--yes`: for each, the `app.instance.process.completed` CloudEvent Altinn would
//!    push, sent through the real webhook handler (so the same checks apply) into a local
//!    queue; the real archiver archives it into a local bucket (copied to a folder) or the
//!    user's own S3 bucket, then calls `complete` in Altinn.

use std::path::PathBuf;
use std::time::Duration;

use altinn::{AltinnClient, AltinnConfig, AltinnEnvironment, InstanceRef, RetryPolicy};
use lambda_http::Body;
use uuid::Uuid;

use crate::altinn_access::altinn_client;
use crate::error::RunError;
use crate::local_aws::LocalAws;
use crate::progress::Progress;
use crate::settings::Settings;
use crate::summary::RunSummary;
use crate::system::{ARCHIVED_EVENT_TYPE, ArchiveBucket, LocalSystem};

/// The local bucket when archiving to a folder.
pub const LOCAL_BUCKET: &str = "altinn-archive-local";
/// Instances per Storage query page.
const PAGE_SIZE: u32 = 50;

/// Where `altinn` mode writes the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveTarget {
    /// A moto_server bucket, copied into this folder at the end.
    Folder(PathBuf),
    /// An existing S3 bucket of the user's, with their AWS credentials.
    Bucket(String),
}

/// `archive-local altinn` options.
#[derive(Debug, Clone, PartialEq)]
pub struct AltinnOptions {
    /// The app owner org.
    pub org: String,
    /// The app name.
    pub app: String,
    /// Just this instance (`partyId`, `instanceGuid`) instead of a query.
    pub instance: Option<(u64, Uuid)>,
    /// Where the archive goes.
    pub target: ArchiveTarget,
    /// At most this many instances from the query.
    pub limit: usize,
    /// Go ahead (archive and complete). Without it, only list.
    pub yes: bool,
    /// Allow `ALTINN_ENV=prod`.
    pub allow_prod: bool,
    /// Give up waiting after this long.
    pub timeout: Duration,
}

/// What `altinn` mode did.
#[derive(Debug)]
pub enum AltinnOutcome {
    /// No completed, unconfirmed instances were found.
    NothingToDo,
    /// Listed what would be archived; changed nothing (no `--yes`).
    DryRun {
        /// The instances found.
        instances: Vec<InstanceRef>,
    },
    /// Archived; the summary says how it went.
    Ran(Box<RunSummary>),
}

impl AltinnOutcome {
    /// False only when a run went wrong.
    pub fn succeeded(&self) -> bool {
        match self {
            AltinnOutcome::NothingToDo | AltinnOutcome::DryRun { .. } => true,
            AltinnOutcome::Ran(summary) => summary.succeeded(),
        }
    }
}

/// Runs `altinn` mode with the Altinn and Maskinporten settings found through `environment`
/// (the process environment from `main`; a map in tests).
pub async fn run_altinn(
    options: &AltinnOptions,
    environment: &dyn Fn(&str) -> Option<String>,
    progress: &Progress,
) -> Result<AltinnOutcome, RunError> {
    let settings = Settings::from_user_environment(environment, &options.org)?;
    let config = AltinnConfig::from_lookup(settings.lookup())?;
    if config.environment == AltinnEnvironment::Prod && !options.allow_prod {
        return Err(RunError::Usage(
            "ALTINN_ENV=prod: this would archive and complete production instances from your \
             machine. Use the deployed archive for production, or add --allow-prod if you \
             really mean it."
                .into(),
        ));
    }
    let client = altinn_client(&config, &RetryPolicy::default()).await?;
    progress.step(format!(
        "Altinn {}: platform {}, Maskinporten {} as client {}",
        config.environment.name(),
        config.environment.platform_url(),
        config.maskinporten_issuer,
        config.maskinporten_client_id
    ));

    let instances = find_instances(&client, options, progress).await?;
    if instances.is_empty() {
        progress.step(format!(
            "nothing to do: no completed instance of {}/{} waits for {} to archive it",
            options.org, options.app, options.org
        ));
        return Ok(AltinnOutcome::NothingToDo);
    }
    if !options.yes {
        progress.plain("");
        progress.plain(format!(
            "Dry run: {} instance(s) would be archived and then COMPLETED in Altinn {} \
             (Altinn records that {} has them, and they no longer show up as waiting for it).",
            instances.len(),
            config.environment.name(),
            options.org
        ));
        progress.plain("Nothing was changed. Add --yes to go ahead.");
        return Ok(AltinnOutcome::DryRun { instances });
    }

    let aws = LocalAws::start().await?;
    progress.step(format!(
        "moto_server (local SQS{}) listening on {}",
        if matches!(options.target, ArchiveTarget::Folder(_)) {
            " and S3"
        } else {
            ""
        },
        aws.endpoint()
    ));
    let (bucket, output) = match &options.target {
        ArchiveTarget::Folder(folder) => {
            (ArchiveBucket::Local(LOCAL_BUCKET.to_owned()), Some(folder))
        }
        ArchiveTarget::Bucket(name) => (
            ArchiveBucket::Aws {
                name: name.clone(),
                sdk: Box::new(
                    lambda_support::aws::sdk_config()
                        .await
                        .map_err(|e| RunError::Setup(format!("cannot set up HTTPS: {e}")))?,
                ),
            },
            None,
        ),
    };
    let system = LocalSystem::start(aws, bucket, &settings, client.clone(), progress).await?;

    let mut queued = 0;
    for instance in &instances {
        let event = completed_event(&config.environment, instance);
        let event_id = event["id"].as_str().unwrap_or_default().to_owned();
        let request = webhook_request(system.webhook_secret(), event.to_string().into_bytes())?;
        // Only a queued event is waited for; a refused one shows in the summary as never
        // having reached the queue (the webhook's progress line says why).
        if system.webhook().handle(request).await.status().is_success() {
            system.ledger().expect(&event_id, instance.clone());
            queued += 1;
        }
    }

    let timed_out = queued > 0 && system.run_until_settled(options.timeout).await;
    let summary = system
        .finish(
            &client,
            &options.org,
            output.map(PathBuf::as_path),
            "sent through the webhook for your instances",
            instances.len(),
            timed_out,
        )
        .await?;
    summary.print(progress);
    Ok(AltinnOutcome::Ran(Box::new(summary)))
}

/// The named instance, or the app's completed instances our org has not confirmed (at most
/// `options.limit`).
async fn find_instances(
    client: &AltinnClient,
    options: &AltinnOptions,
    progress: &Progress,
) -> Result<Vec<InstanceRef>, RunError> {
    if let Some((party_id, instance_guid)) = options.instance {
        let instance = InstanceRef {
            org: options.org.clone(),
            app: options.app.clone(),
            party_id,
            instance_guid,
        };
        let raw = client.get_instance(&instance).await?;
        if !raw.instance.is_instance(&instance) {
            return Err(RunError::Usage(format!(
                "instance {} belongs to app {}, not {}",
                instance.instance_id(),
                raw.instance.app_id,
                instance.app_id()
            )));
        }
        progress.step(format!(
            "instance {}: {} data element(s), process {}, {}",
            instance.instance_id(),
            raw.instance.data.len(),
            if raw.instance.is_process_complete() {
                "completed"
            } else {
                "NOT completed (the archiver will refuse it)"
            },
            if raw.instance.is_confirmed_by(&options.org) {
                format!("already completed by {}", options.org)
            } else {
                format!("not yet completed by {}", options.org)
            }
        ));
        return Ok(vec![instance]);
    }

    let mut found = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .query_completed_instances(&options.org, &options.app, PAGE_SIZE, next.as_deref())
            .await?;
        for instance in &page.instances {
            if found.len() >= options.limit {
                break;
            }
            let (Some(party_id), Some(instance_guid)) =
                (instance.party_id(), instance.instance_guid())
            else {
                continue;
            };
            progress.step(format!(
                "found {}/{}: {} data element(s), last changed {}",
                party_id,
                instance_guid,
                instance.data.len(),
                instance.last_changed.as_deref().unwrap_or("?")
            ));
            found.push(InstanceRef {
                org: options.org.clone(),
                app: options.app.clone(),
                party_id,
                instance_guid,
            });
        }
        next = page.next.filter(|n| !n.is_empty());
        if found.len() >= options.limit || next.is_none() || page.instances.is_empty() {
            break;
        }
    }
    progress.step(format!(
        "{} completed instance(s) of {}/{} not yet completed by {}{}",
        found.len(),
        options.org,
        options.app,
        options.org,
        if found.len() >= options.limit && next.is_some() {
            format!(" (stopped at --limit {})", options.limit)
        } else {
            String::new()
        }
    ));
    Ok(found)
}

/// The CloudEvent Altinn Events pushes when `instance`'s process completes: `source` on the
/// environment's apps host, so the webhook's and the archiver's source checks apply unchanged.
pub fn completed_event(
    environment: &AltinnEnvironment,
    instance: &InstanceRef,
) -> serde_json::Value {
    let time = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    serde_json::json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": format!(
            "{}{}/{}/instances/{}",
            environment.apps_url(&instance.org),
            instance.org,
            instance.app,
            instance.instance_id()
        ),
        "type": ARCHIVED_EVENT_TYPE,
        "subject": format!("/party/{}", instance.party_id),
        "time": time,
        "resource": instance.resource(),
        "resourceinstance": instance.instance_id(),
    })
}

/// A `POST` as Altinn Events sends it: the secret in `code`, JSON with charset.
fn webhook_request(
    secret: &altinn::Secret,
    body: Vec<u8>,
) -> Result<lambda_http::Request, RunError> {
    let uri: http::Uri = format!("http://127.0.0.1/altinn/events?code={}", secret.expose())
        .parse()
        .map_err(|_| RunError::Setup("could not build the webhook request".into()))?;
    let mut request = http::Request::new(Body::Binary(body));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri;
    request.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Ok(request)
}
