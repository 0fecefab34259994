//! Shared test set-up: a moto_server (S3, SQS) and an in-process Altinn simulator per test, and
//! an archiver configured for both, the way the Lambda is configured in AWS.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use altinn_sim::{
    DataSpec, InstanceSpec, RequestRecord, Route, SeededData, SeededInstance, SimConfig, Simulator,
};
use archiver::manifest::ObjectRole;
use archiver::store::{encoded_filename, percent_decode};
use archiver::{
    ArchiveError, ArchiveLayout, ArchiveStore, Archiver, ArchiverConfig, BatchReport, Manifest,
    MessageOutcome,
};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use testkit::MotoServer;
use uuid::Uuid;

pub const BUCKET: &str = "altinn-archive-test";
pub const PREFIX: &str = "archive/";
pub const MIB: usize = 1024 * 1024;

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Deterministic pseudo-random bytes.
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// A moto server with the archive bucket, and a store over it.
pub async fn store_with_part_size(part_size: usize) -> (MotoServer, ArchiveStore) {
    let moto = MotoServer::start().await;
    moto.create_bucket(BUCKET).await;
    let store = ArchiveStore::new(
        moto.s3().await,
        BUCKET,
        ArchiveLayout::new(PREFIX).unwrap(),
        part_size,
    );
    (moto, store)
}

/// Creates `name` with S3 Object Lock and a default GOVERNANCE retention of `days`, the way the
/// stack creates the archive bucket when `RetentionDays` is above 0 (Object Lock turns
/// versioning on by itself).
pub async fn create_locked_bucket(s3: &aws_sdk_s3::Client, name: &str, days: i32) {
    use aws_sdk_s3::types::{
        BucketLocationConstraint, CreateBucketConfiguration, DefaultRetention,
        ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    };
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(testkit::REGION))
                .build(),
        )
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create a bucket with Object Lock");
    let rule = ObjectLockRule::builder()
        .default_retention(
            DefaultRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .days(days)
                .build(),
        )
        .build();
    s3.put_object_lock_configuration()
        .bucket(name)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(rule)
                .build(),
        )
        .send()
        .await
        .expect("set the default retention");
}

/// Multipart uploads still open in the bucket.
pub async fn open_multipart_uploads(store: &ArchiveStore) -> usize {
    store
        .client()
        .list_multipart_uploads()
        .bucket(store.bucket())
        .send()
        .await
        .expect("list multipart uploads")
        .uploads()
        .len()
}

/// What a harness is started with.
#[derive(Default)]
pub struct Options {
    /// Extra or overriding environment variables for the archiver.
    pub env: Vec<(&'static str, String)>,
    pub sim: SimConfig,
    /// Days of default GOVERNANCE retention: the bucket is created with Object Lock.
    pub object_lock_days: Option<i32>,
}

impl Options {
    pub fn env(mut self, name: &'static str, value: impl ToString) -> Self {
        self.env.push((name, value.to_string()));
        self
    }
}

/// moto + simulator + archiver.
pub struct Harness {
    pub moto: MotoServer,
    pub sim: Simulator,
    pub config: ArchiverConfig,
    /// The environment `config` was read from (what the archiver binary is given too; the
    /// in-process retry delays set on `config` are not in it).
    pub env: HashMap<&'static str, String>,
    pub archiver: Archiver,
    pub queue_url: String,
    pub dlq_url: String,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Harness {
        let moto = MotoServer::start().await;
        let sim = Simulator::start(options.sim)
            .await
            .expect("start the Altinn simulator");
        match options.object_lock_days {
            Some(days) => create_locked_bucket(&moto.s3().await, BUCKET, days).await,
            None => moto.create_bucket(BUCKET).await,
        }
        let dlq_url = moto.create_queue("archiver-dlq").await;
        let dlq_arn = moto.queue_arn(&dlq_url).await;
        // The redrive policy is the last line; our own MAX_RECEIVE_COUNT (below it) comes first.
        let queue_url = moto
            .create_queue_with_redrive("archiver-events", &dlq_arn, 10)
            .await;

        let base = sim.base_url().to_string();
        let mut env: HashMap<&'static str, String> = HashMap::from([
            ("ARCHIVE_BUCKET", BUCKET.to_owned()),
            ("ARCHIVE_PREFIX", PREFIX.to_owned()),
            ("QUEUE_URL", queue_url.clone()),
            ("DEAD_LETTER_QUEUE_URL", dlq_url.clone()),
            ("ALTINN_ENV", "local".to_owned()),
            ("ALTINN_ORG", "ttd".to_owned()),
            ("ALTINN_PLATFORM_URL", base.clone()),
            ("ALTINN_APPS_URL", base),
            ("MASKINPORTEN_URL", sim.maskinporten_issuer().to_string()),
            ("MASKINPORTEN_CLIENT_ID", "sim-client".to_owned()),
            ("MASKINPORTEN_KID", "sim-kid".to_owned()),
            (
                "MASKINPORTEN_KEY",
                altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM.to_owned(),
            ),
            ("ALTINN_MAX_ATTEMPTS", "3".to_owned()),
            ("ALTINN_REQUEST_TIMEOUT_SECS", "10".to_owned()),
            ("PART_SIZE_MIB", "5".to_owned()),
            ("DEADLINE_MARGIN_SECS", "5".to_owned()),
            ("VISIBILITY_BACKOFF_SECS", "0".to_owned()),
        ]);
        env.extend(options.env);
        let mut config = ArchiverConfig::from_lookup(|name: &str| env.get(name).cloned())
            .expect("archiver config");
        // Small delays so retries do not slow the tests; a Retry-After up to 2 s is waited for in
        // process, a longer one is handed to SQS.
        config.retry.base_delay = Duration::from_millis(10);
        config.retry.max_delay = Duration::from_secs(2);

        let sdk = moto.sdk_config().await;
        let archiver = Archiver::from_config(&config, &sdk)
            .await
            .expect("archiver");
        let s3 = moto.s3().await;
        let sqs = moto.sqs().await;
        Harness {
            moto,
            sim,
            config,
            env,
            archiver,
            queue_url,
            dlq_url,
            s3,
            sqs,
        }
    }

    /// A second archiver over the same simulator and bucket: another Lambda instance.
    pub async fn another_archiver(&self) -> Archiver {
        Archiver::from_config(&self.config, &self.moto.sdk_config().await)
            .await
            .expect("archiver")
    }

    pub fn store(&self) -> &ArchiveStore {
        self.archiver.store()
    }

    /// Seeds an instance of app `archive-test`.
    pub fn seed(&self, party_id: u64, data: Vec<DataSpec>) -> SeededInstance {
        let mut spec = InstanceSpec::new("archive-test", party_id);
        spec.data = data;
        self.sim.add_instance(spec)
    }

    /// The standard test instance: XML form, PDF receipt, two attachments (one multipart-sized,
    /// with a content hash), and a hard-deleted attachment.
    pub fn seed_standard(&self, party_id: u64) -> SeededInstance {
        self.seed(
            party_id,
            vec![
                DataSpec::xml_form(),
                DataSpec::pdf(),
                DataSpec::attachment("Vedlegg ærlig talt (1).pdf", 300 * 1024 + 11, party_id),
                DataSpec::attachment("stor-fil.bin", 6 * MIB as u64 + 4097, party_id + 1)
                    .with_content_hash(),
                DataSpec::attachment("slettet.txt", 2048, party_id + 2).hard_deleted(),
            ],
        )
    }

    /// The CloudEvent JSON Altinn would push for the instance.
    pub fn event(&self, instance: &SeededInstance, event_type: &str) -> String {
        self.sim.cloud_event(instance, event_type).to_string()
    }

    pub fn completed_event(&self, instance: &SeededInstance) -> String {
        self.event(instance, "app.instance.process.completed")
    }

    /// An SQS record as Lambda delivers it (no real receipt handle).
    pub fn message(&self, body: &str, receive_count: u32) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(Uuid::new_v4().to_string());
        message.receipt_handle = None;
        message.body = Some(body.to_owned());
        message.attributes = HashMap::from([(
            "ApproximateReceiveCount".to_owned(),
            receive_count.to_string(),
        )]);
        message.event_source = Some("aws:sqs".to_owned());
        message
    }

    /// Sends `body` to the source queue.
    pub async fn enqueue(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    /// Receives what is visible on the source queue, as Lambda records.
    pub async fn receive(&self) -> Vec<SqsMessage> {
        self.moto
            .receive_all(&self.queue_url)
            .await
            .into_iter()
            .map(lambda_record)
            .collect()
    }

    /// Sends `body` to the source queue and receives it back (a real receipt handle).
    pub async fn enqueue_and_receive(&self, body: &str) -> SqsMessage {
        self.enqueue(body).await;
        let mut received = self.receive().await;
        assert_eq!(received.len(), 1, "one message on the queue");
        received.remove(0)
    }

    /// What is on the DLQ.
    pub async fn dead_letters(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.moto.receive_all(&self.dlq_url).await
    }

    /// Runs a batch through the handler with plenty of time.
    pub async fn run(&self, messages: Vec<SqsMessage>) -> BatchReport {
        run_on(&self.archiver, messages).await
    }

    /// Requests the simulator saw for a route.
    pub fn requests_for(&self, route: Route) -> Vec<RequestRecord> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.route == Some(route))
            .collect()
    }

    /// How often the data element was requested.
    pub fn downloads_of(&self, data_id: Uuid) -> usize {
        let suffix = format!("/data/{data_id}");
        self.requests_for(Route::StorageGetData)
            .iter()
            .filter(|r| r.path.ends_with(&suffix))
            .count()
    }

    /// `complete` calls for the instance.
    pub fn completes_of(&self, instance: &SeededInstance) -> usize {
        let suffix = format!("/{}/{}/complete", instance.party_id, instance.instance_guid);
        self.requests_for(Route::StorageComplete)
            .iter()
            .filter(|r| r.path.ends_with(&suffix))
            .count()
    }

    /// The end of a clean archive: `complete` called once, the simulator confirming it for
    /// `ttd`, and no multipart upload left open.
    pub async fn assert_completed_once(&self, instance: &SeededInstance) {
        assert_eq!(self.completes_of(instance), 1);
        let confirmations = self
            .sim
            .complete_confirmations(instance.party_id, instance.instance_guid);
        assert_eq!(confirmations.len(), 1);
        assert_eq!(confirmations[0].0, "ttd");
        assert_eq!(open_multipart_uploads(self.store()).await, 0);
    }

    pub fn instance_ref(&self, instance: &SeededInstance) -> altinn::InstanceRef {
        altinn::InstanceRef {
            org: instance.org.clone(),
            app: instance.app.clone(),
            party_id: instance.party_id,
            instance_guid: instance.instance_guid,
        }
    }

    pub fn manifest_key(&self, instance: &SeededInstance) -> String {
        self.store()
            .layout()
            .manifest(&self.instance_ref(instance))
            .unwrap()
    }

    pub fn data_key(&self, instance: &SeededInstance, data: &SeededData) -> String {
        self.store()
            .layout()
            .data_element(&self.instance_ref(instance), &data.id.to_string())
            .unwrap()
    }

    /// Checks the archive of `instance` completely against what the simulator holds: every live
    /// element's bytes, metadata and content type, `instance.json`, the event, the manifest;
    /// hard-deleted elements absent. Returns the manifest.
    pub async fn verify_archive(&self, instance: &SeededInstance, event_id: &str) -> Manifest {
        let store = self.store();
        let manifest = store
            .get_manifest(&self.manifest_key(instance))
            .await
            .unwrap()
            .expect("manifest.json exists");
        assert_eq!(manifest.instance_id, instance.instance_id());
        assert_eq!(manifest.app_id, instance.app_id());
        assert!(!manifest.archived_at.is_empty());

        let layout = store.layout();
        let reference = self.instance_ref(instance);
        let instance_key = layout.instance_json(&reference).unwrap();
        let instance_bytes = store
            .get_bytes(&instance_key)
            .await
            .unwrap()
            .expect("instance.json");
        let stored: serde_json::Value = serde_json::from_slice(&instance_bytes).unwrap();
        assert_eq!(stored["id"], instance.instance_id());
        let event_key = layout.instance_event(&reference, event_id).unwrap();
        let event_bytes = store
            .get_bytes(&event_key)
            .await
            .unwrap()
            .expect("the event is stored");

        let entry = |key: &str| {
            manifest
                .objects
                .iter()
                .find(|o| o.key == key)
                .unwrap_or_else(|| panic!("{key} is in the manifest"))
                .clone()
        };
        let instance_entry = entry(&instance_key);
        assert_eq!(instance_entry.role, ObjectRole::Instance);
        assert_eq!(instance_entry.sha256, sha256_hex(&instance_bytes));
        assert_eq!(instance_entry.size, instance_bytes.len() as u64);
        let event_entry = entry(&event_key);
        assert_eq!(event_entry.role, ObjectRole::Event);
        assert_eq!(event_entry.sha256, sha256_hex(&event_bytes));

        let live: Vec<&SeededData> = instance.data.iter().filter(|d| !d.hard_deleted).collect();
        assert_eq!(
            manifest.data_elements().count(),
            live.len(),
            "one manifest entry per live element"
        );
        // instance.json, the event, the instance events, the process history, the app metadata.
        assert_eq!(manifest.objects.len(), live.len() + 5);
        let events_key = layout.instance_events(&reference).unwrap();
        let history_key = layout.process_history(&reference).unwrap();
        let metadata_entry = manifest.app_metadata().expect("the app metadata is listed");
        let metadata_key = layout
            .app_metadata(&instance.org, &instance.app, &metadata_entry.sha256)
            .unwrap();
        for (key, role) in [
            (&events_key, ObjectRole::InstanceEvents),
            (&history_key, ObjectRole::ProcessHistory),
            (&metadata_key, ObjectRole::AppMetadata),
        ] {
            let listed = entry(key);
            assert_eq!(listed.role, role, "{key}");
            let bytes = store.get_bytes(key).await.unwrap().expect("stored");
            assert_eq!(listed.sha256, sha256_hex(&bytes), "{key}");
            assert_eq!(listed.size, bytes.len() as u64, "{key}");
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("JSON as Storage sent it");
        }
        for data in &live {
            let key = self.data_key(instance, data);
            let entry = entry(&key);
            assert_eq!(entry.role, ObjectRole::DataElement);
            assert_eq!(entry.size, data.size, "{key}");
            assert_eq!(entry.sha256, data.sha256_hex, "{key}");
            assert_eq!(entry.content_type, data.content_type);
            assert_eq!(entry.data_type.as_deref(), Some(data.data_type.as_str()));
            assert_eq!(entry.filename, data.filename);
            assert_eq!(
                entry.data_element_id.as_deref(),
                Some(data.id.to_string().as_str())
            );
            assert!(entry.locked.is_some(), "{key}");
            assert_eq!(
                entry.content_hash_verified,
                entry.content_hash.as_ref().map(|_| true),
                "{key}"
            );

            let head = store.head(&key).await.unwrap().expect("data object exists");
            assert_eq!(head.content_length(), Some(data.size as i64));
            assert_eq!(head.content_type(), Some(data.content_type.as_str()));
            let metadata = head.metadata().cloned().unwrap_or_default();
            assert_eq!(metadata.get("sha256"), Some(&data.sha256_hex), "{key}");
            assert_eq!(metadata.get("md5"), Some(&data.md5_base64), "{key}");
            assert_eq!(metadata.get("datatype"), Some(&data.data_type));
            match &data.filename {
                Some(filename) => {
                    let encoded = metadata.get("filename").expect("filename metadata");
                    assert_eq!(encoded, &encoded_filename(filename));
                    assert_eq!(percent_decode(encoded).as_deref(), Some(filename.as_str()));
                    assert!(
                        head.content_disposition()
                            .unwrap_or("")
                            .starts_with("attachment; filename*=UTF-8''")
                    );
                }
                None => assert!(!metadata.contains_key("filename")),
            }
            if let Some(s3_checksum) = head.checksum_sha256() {
                let ours = base64_of_hex(&data.sha256_hex);
                assert_eq!(s3_checksum, ours, "S3's own SHA-256 of {key}");
            }
            if data.size <= 16 * MIB as u64 {
                let bytes = store.get_bytes(&key).await.unwrap().expect("data bytes");
                let original = self
                    .sim
                    .data_bytes(instance.instance_guid, data.id)
                    .expect("sim bytes");
                assert!(
                    bytes[..] == original[..],
                    "S3 bytes equal Altinn's for {key}"
                );
            }
        }
        for data in instance.data.iter().filter(|d| d.hard_deleted) {
            let key = self.data_key(instance, data);
            assert!(
                store.head(&key).await.unwrap().is_none(),
                "hard-deleted {key} is not archived"
            );
            assert!(
                manifest
                    .skipped_data_elements
                    .iter()
                    .any(|s| s.data_element_id == data.id.to_string()),
                "hard-deleted element listed as skipped"
            );
        }
        manifest
    }
}

/// Runs a batch on an archiver with ten minutes to go.
/// The error of the batch's first message, which must have come back for a retry.
pub fn first_retry(report: &BatchReport) -> &ArchiveError {
    match &report.outcomes[0].1 {
        MessageOutcome::Retry { error, .. } => error,
        _ => panic!("retry, got {:?}", report.outcomes),
    }
}

pub async fn run_on(archiver: &Archiver, messages: Vec<SqsMessage>) -> BatchReport {
    let mut batch = SqsEvent::default();
    batch.records = messages;
    archiver
        .handle_batch_with_report(&batch, SystemTime::now() + Duration::from_secs(600))
        .await
}

/// An SQS SDK message as the Lambda event source mapping hands it over.
pub fn lambda_record(message: aws_sdk_sqs::types::Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_owned);
    record.receipt_handle = message.receipt_handle().map(str::to_owned);
    record.body = message.body().map(str::to_owned);
    record.attributes = message
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    record.event_source = Some("aws:sqs".to_owned());
    record
}

/// A DLQ message's string attribute.
pub fn attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_owned)
}

/// The event id of a CloudEvent JSON string.
pub fn event_id(event_json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(event_json).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn base64_of_hex(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hex::decode(text).unwrap())
}

/// Chunks of `bytes` of irregular sizes, as a body stream.
pub fn chunked(bytes: &[u8], seed: u64) -> Vec<Bytes> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut chunks = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let len = rng.usize(1..=256 * 1024).min(bytes.len() - offset);
        chunks.push(Bytes::copy_from_slice(&bytes[offset..offset + len]));
        offset += len;
    }
    chunks
}
