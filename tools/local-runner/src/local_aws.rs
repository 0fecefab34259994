//! The local stand-ins for AWS: a `moto_server` child process (S3 and SQS over their real
//! protocols) and the queues and bucket the SAM stack would create, set up the same way: a
//! source queue whose redrive policy moves a message to the dead-letter queue after a few
//! receives, and a private bucket.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use testkit::MotoServer;

use crate::error::RunError;

/// The region everything local runs in (Norway's nearest AWS region).
pub const REGION: &str = testkit::REGION;

/// A running `moto_server`, stopped when this is dropped: at the end of a run, on an error, on
/// Ctrl-C (the run's future is dropped) and on a panic (unwinding drops it).
pub struct LocalAws {
    moto: MotoServer,
    sdk: SdkConfig,
}

impl std::fmt::Debug for LocalAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAws")
            .field("endpoint", &self.moto.endpoint())
            .finish()
    }
}

impl LocalAws {
    /// Starts `moto_server` on a free loopback port: `$MOTO_SERVER`, else the project's
    /// `.tools/venv/bin/moto_server` (installed by `make tools`).
    pub async fn start() -> Result<LocalAws, RunError> {
        let program = moto_server_program();
        if !program.exists() {
            return Err(RunError::Setup(format!(
                "moto_server not found at {}: run `make tools` (installs moto[server]>=5.2.2 into \
                 .tools/venv) or set MOTO_SERVER",
                program.display()
            )));
        }
        // testkit panics when the server does not come up (right for tests); run it in its own
        // task so that becomes an error here instead of taking the process down.
        let moto = tokio::spawn(MotoServer::start()).await.map_err(|error| {
            RunError::Setup(format!(
                "moto_server ({}) did not start: {}",
                program.display(),
                panic_text(error)
            ))
        })?;
        let sdk = moto.sdk_config().await;
        Ok(LocalAws { moto, sdk })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.moto.endpoint()
    }

    /// An SDK configuration pointed at the server, with static test credentials.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// An SQS client for the server.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// An S3 client for the server (path-style, as every endpoint override needs).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        lambda_support::aws::s3_client(&self.sdk)
    }
}

/// The `moto_server` testkit will run (same rule as testkit's).
fn moto_server_program() -> PathBuf {
    match std::env::var_os("MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/moto_server"),
    }
}

fn panic_text(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return error.to_string();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "it panicked".to_owned())
}

/// The event queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct Queues {
    /// The queue the webhook sends to and the archiver reads from.
    pub queue_url: String,
    /// Its ARN (the `eventSourceARN` of the records handed to the archiver).
    pub queue_arn: String,
    /// The dead-letter queue.
    pub dead_letter_queue_url: String,
}

/// How the event queue is set up.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// After this many receives SQS itself moves a message to the DLQ (the last line: the
    /// archiver dead-letters with a reason one receive earlier).
    pub redrive_max_receive_count: u32,
    /// How long a received message stays invisible; like Lambda, at least the function timeout,
    /// so a message being worked on is not handed out twice. Failures come back sooner because
    /// the archiver sets their visibility itself.
    pub visibility_timeout: Duration,
}

/// Creates `{name}-dlq` and `{name}` with a redrive policy to it.
pub async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    settings: QueueSettings,
) -> Result<Queues, RunError> {
    let dead_letter_queue_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| RunError::aws("SQS CreateQueue (DLQ)", e))?
        .queue_url
        .ok_or_else(|| RunError::Setup("CreateQueue returned no URL".into()))?;
    let dead_letter_arn = queue_arn(sqs, &dead_letter_queue_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": settings.redrive_max_receive_count.to_string(),
    });
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            settings.visibility_timeout.as_secs().to_string(),
        )
        .send()
        .await
        .map_err(|e| RunError::aws("SQS CreateQueue", e))?
        .queue_url
        .ok_or_else(|| RunError::Setup("CreateQueue returned no URL".into()))?;
    let queue_arn = queue_arn(sqs, &queue_url).await?;
    Ok(Queues {
        queue_url,
        queue_arn,
        dead_letter_queue_url,
    })
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<String, RunError> {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| RunError::aws("SQS GetQueueAttributes", e))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| RunError::Setup("the queue has no ARN".into()))
}

/// Messages on the queue: visible, in flight and delayed.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64, RunError> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| RunError::aws("SQS GetQueueAttributes", e))?
        .attributes
        .unwrap_or_default();
    Ok(attributes
        .values()
        .filter_map(|count| count.parse::<u64>().ok())
        .sum())
}

/// Creates a bucket in [`REGION`] (outside us-east-1 S3 needs the location constraint).
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), RunError> {
    let constraint = aws_sdk_s3::types::BucketLocationConstraint::from(REGION);
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(constraint)
                .build(),
        )
        .send()
        .await
        .map_err(|e| RunError::aws("S3 CreateBucket", e))?;
    Ok(())
}

/// A message in the dead-letter queue, as the summary reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterInfo {
    /// The CloudEvent id (the archiver's `EventId` attribute, else the body's `id`).
    pub event_id: Option<String>,
    /// The archiver's `Reason` code; `None` when SQS's redrive policy moved it (no reason known).
    pub reason: Option<String>,
    /// The archiver's `Detail`.
    pub detail: Option<String>,
}

/// Reads every message in the dead-letter queue, leaving them there (they only become
/// invisible for a minute, so each is listed once).
pub async fn read_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    dead_letter_queue_url: &str,
) -> Result<Vec<DeadLetterInfo>, RunError> {
    let mut letters = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(dead_letter_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(60)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| RunError::aws("SQS ReceiveMessage (DLQ)", e))?
            .messages
            .unwrap_or_default();
        // Stop when nothing new comes back, whether the queue is empty or (a server that
        // ignored the visibility timeout) the same messages are handed out again.
        let fresh: Vec<_> = messages
            .into_iter()
            .filter(|m| seen.insert(m.message_id.clone().unwrap_or_default()))
            .collect();
        if fresh.is_empty() {
            return Ok(letters);
        }
        for message in fresh {
            let attribute = |name: &str| {
                message
                    .message_attributes
                    .as_ref()
                    .and_then(|attributes| attributes.get(name))
                    .and_then(|value| value.string_value.clone())
            };
            let event_id = attribute("EventId").or_else(|| {
                message
                    .body
                    .as_deref()
                    .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
                    .and_then(|event| event.get("id")?.as_str().map(str::to_owned))
            });
            letters.push(DeadLetterInfo {
                event_id,
                reason: attribute("Reason"),
                detail: attribute("Detail"),
            });
        }
    }
}
