//! The archive bucket with S3 Object Lock and a default GOVERNANCE retention (`RetentionDays`
//! above 0): every kind of write the archiver makes still works (single and multipart element
//! uploads with the sealing copy, the conditional manifest put, a rewritten Correspondence
//! manifest), each stored version carries the retention, and the one delete the archiver makes
//! (withdrawing an element S3 disagrees with) hides the object without destroying the locked
//! version.
//!
//! moto enforces two lock rules, and the first test pins them so the others mean something: a
//! PutObject without `Content-MD5` or `x-amz-sdk-checksum-algorithm` is refused, and deleting a
//! retained version by id is refused unless governance is bypassed.
//!
//! moto also applies the first rule to CopyObject, which has no body to check: it refuses the
//! sealing copy of a multipart element. S3 applies a bucket's default retention to a copy without
//! asking for a checksum, so the archiver's client here gets [`MotoCopyChecksum`], which adds
//! the MD5 of the empty body to copies only, instead of the archiver sending a header for moto.
//!
//! What moto leaves out: it does not lock the version CompleteMultipartUpload creates, does not
//! check part uploads for a checksum, and has no GetObjectRetention (the retention is read from
//! HeadObject's `x-amz-object-lock-*` headers, which S3 sends as well).

mod common;

use std::time::{Duration, SystemTime};

use altinn::AltinnClient;
use altinn_sim::CorrespondenceSpec;
use archiver::correspondence::CorrespondenceManifest;
use archiver::queue::SqsClient;
use archiver::store::{ConditionalPut, ElementUpload};
use archiver::{ArchiveLayout, ArchiveStore, Archiver, MessageOutcome};
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RequestChecksumCalculation, RuntimeComponents};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectLockMode;
use bytes::Bytes;
use common::*;
use testkit::MotoServer;

const RETENTION_DAYS: i32 = 30;

/// Adds `Content-MD5` of the (empty) request body to CopyObject requests; see the module docs.
#[derive(Debug)]
struct MotoCopyChecksum;

impl Intercept for MotoCopyChecksum {
    fn name(&self) -> &'static str {
        "MotoCopyChecksum"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request_mut();
        if request.headers().contains_key("x-amz-copy-source") {
            request
                .headers_mut()
                .insert("content-md5", "1B2M2Y8AsgTpgAmY7PHvCQ==");
        }
        Ok(())
    }
}

/// An S3 client for moto whose copies pass moto's lock check.
async fn s3_for_locked_moto(moto: &MotoServer) -> aws_sdk_s3::Client {
    let s3 = moto.s3().await;
    aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .interceptor(MotoCopyChecksum)
            .build(),
    )
}

/// The harness's archiver again, over `s3`.
async fn archiver_over(harness: &Harness, s3: aws_sdk_s3::Client) -> Archiver {
    let sdk = harness.moto.sdk_config().await;
    let config = &harness.config;
    let key = lambda_support::aws::maskinporten_key_text(&config.altinn.maskinporten_key, &sdk)
        .await
        .expect("the key");
    let http = AltinnClient::try_http_client(&config.retry).expect("an HTTP client");
    let altinn = AltinnClient::from_config(&config.altinn, &key, http, config.retry.clone())
        .expect("an Altinn client");
    Archiver::new(
        config,
        altinn,
        s3,
        SqsClient::new(&sdk, aws_sdk_sqs::Client::new),
    )
    .expect("an archiver")
}

/// The key's current version: GOVERNANCE, retained until about `RETENTION_DAYS` from now.
async fn assert_retained(s3: &aws_sdk_s3::Client, key: &str) {
    let head = s3
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("head {key}: {e:?}"));
    assert_eq!(
        head.object_lock_mode(),
        Some(&ObjectLockMode::Governance),
        "{key} is locked"
    );
    let until = head
        .object_lock_retain_until_date()
        .unwrap_or_else(|| panic!("{key} has a retain-until date"));
    let until = SystemTime::try_from(*until).expect("a date after 1970");
    let days = |n: i32| Duration::from_secs(u64::try_from(n).unwrap() * 86_400);
    let now = SystemTime::now();
    assert!(
        until > now + days(RETENTION_DAYS - 1) && until < now + days(RETENTION_DAYS + 1),
        "{key} is retained for the default period"
    );
}

/// The versions of `key`: ids of the stored ones (sorted), how many delete markers, and
/// whether a delete marker is the current version.
#[derive(Debug, PartialEq, Eq)]
struct Versions {
    stored: Vec<String>,
    markers: usize,
    hidden: bool,
}

async fn versions(s3: &aws_sdk_s3::Client, key: &str) -> Versions {
    let listed = s3
        .list_object_versions()
        .bucket(BUCKET)
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    let mut stored: Vec<String> = listed
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .map(|v| v.version_id().unwrap_or_default().to_owned())
        .collect();
    stored.sort();
    let markers: Vec<_> = listed
        .delete_markers()
        .iter()
        .filter(|m| m.key() == Some(key))
        .collect();
    Versions {
        stored,
        markers: markers.len(),
        hidden: markers.iter().any(|m| m.is_latest() == Some(true)),
    }
}

fn element<'a>(key: &'a str, bytes: &[u8]) -> ElementUpload<'a> {
    ElementUpload {
        key,
        content_type: "application/pdf",
        filename: Some("vedlegg.pdf"),
        data_type: "attachment",
        size: bytes.len() as u64,
        md5: None,
        last_changed: None,
    }
}

fn body(bytes: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::iter(chunked(bytes, 7).into_iter().map(Ok))
}

#[tokio::test]
async fn the_locked_test_bucket_refuses_unchecked_puts_and_version_deletes() {
    let moto = MotoServer::start().await;
    let s3 = moto.s3().await;
    create_locked_bucket(&s3, BUCKET, RETENTION_DAYS).await;

    // A client that adds no checksum of its own: the put carries neither header.
    let bare = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build(),
    );
    let refused = bare
        .put_object()
        .bucket(BUCKET)
        .key("archive/unchecked")
        .body(ByteStream::from_static(b"no checksum"))
        .send()
        .await
        .expect_err("a put without a checksum is refused under a default retention");
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(400)
    );

    // moto wants the algorithm named: a SHA-256 value alone (what S3 itself accepts) is refused,
    // which is why the archiver's puts name SHA256 as well.
    let unnamed = s3
        .put_object()
        .bucket(BUCKET)
        .key("archive/unnamed")
        .checksum_sha256("6IK8qtseAuICD9h3T4b2/MscHbY1k/D9pjuIqqKXCvw=")
        .body(ByteStream::from_static(b"unnamed"))
        .send()
        .await;
    let code = unnamed
        .expect_err("moto refuses a checksum without its algorithm")
        .into_service_error()
        .meta()
        .code()
        .map(str::to_owned);
    assert_eq!(
        code.as_deref(),
        Some("MissingUploadObjectWithObjectLockHeaders")
    );

    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key("archive/kept")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .expect("the SDK's default CRC32 satisfies the lock");
    let version = put.version_id().expect("a versioned bucket").to_owned();
    assert_retained(&s3, "archive/kept").await;

    let denied = s3
        .delete_object()
        .bucket(BUCKET)
        .key("archive/kept")
        .version_id(&version)
        .send()
        .await
        .expect_err("a retained version cannot be deleted");
    assert_eq!(
        denied.raw_response().map(|r| r.status().as_u16()),
        Some(403)
    );
    s3.delete_object()
        .bucket(BUCKET)
        .key("archive/kept")
        .send()
        .await
        .expect("a plain delete only adds a delete marker");
    assert_eq!(
        versions(&s3, "archive/kept").await,
        Versions {
            stored: vec![version],
            markers: 1,
            hidden: true
        }
    );
}

#[tokio::test]
async fn an_instance_is_archived_completely_and_every_object_is_retained() {
    let harness = Harness::start_with(Options {
        object_lock_days: Some(RETENTION_DAYS),
        ..Options::default()
    })
    .await;
    // Includes an element over PART_SIZE_MIB (5): multipart upload, then the sealing copy.
    let instance = harness.seed_standard(50_090_001);
    let event = harness.completed_event(&instance);

    let archiver = archiver_over(&harness, s3_for_locked_moto(&harness.moto).await).await;
    let report = run_on(&archiver, vec![harness.message(&event, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    let manifest = harness.verify_archive(&instance, &event_id(&event)).await;
    harness.assert_completed_once(&instance).await;

    assert_retained(&harness.s3, &harness.manifest_key(&instance)).await;
    for object in &manifest.objects {
        assert_retained(&harness.s3, &object.key).await;
    }

    // The manifest put that decides which run may call `complete` still answers "already
    // there" (`If-None-Match: *`, 412) under the lock, and writes no second version.
    let manifest_key = harness.manifest_key(&instance);
    let second = archiver
        .store()
        .put_manifest(&manifest_key, &manifest)
        .await
        .expect("a conditional put under the lock");
    assert_eq!(second, ConditionalPut::AlreadyExists);
    assert_eq!(versions(&harness.s3, &manifest_key).await.stored.len(), 1);
}

#[tokio::test]
async fn a_withdrawn_element_is_hidden_but_its_locked_version_stays() {
    let moto = MotoServer::start().await;
    let s3 = moto.s3().await;
    create_locked_bucket(&s3, BUCKET, RETENTION_DAYS).await;
    let store = ArchiveStore::new(
        s3_for_locked_moto(&moto).await,
        BUCKET,
        ArchiveLayout::new(PREFIX).unwrap(),
        5 * MIB,
    );
    let bytes = test_bytes(6 * MIB + 123, 11);
    let key = "archive/x/data/big";
    let target = element(key, &bytes);
    store
        .upload_element(&target, body(&bytes))
        .await
        .expect("a multipart element is stored and sealed under the lock");
    assert_retained(&s3, key).await;
    let sealed_version = s3
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("head")
        .version_id()
        .expect("a version id")
        .to_owned();
    let sealed = versions(&s3, key).await;
    assert!(!sealed.hidden && sealed.markers == 0);

    // What the archiver does when S3's SHA-256 of the sealed object disagrees with its own.
    store
        .delete(key)
        .await
        .expect("withdrawing works under the lock");
    assert_eq!(
        store.stored_object(key).await.unwrap(),
        None,
        "not archived"
    );
    let after = versions(&s3, key).await;
    assert!(after.hidden, "the delete left a delete marker");
    assert_eq!(after.stored, sealed.stored, "every stored version is kept");
    // The sealed version: moto leaves the version CompleteMultipartUpload made unlocked (S3
    // locks that one too), so only the sealed one can show the lock here.
    let denied = s3
        .delete_object()
        .bucket(BUCKET)
        .key(key)
        .version_id(&sealed_version)
        .send()
        .await;
    assert!(denied.is_err(), "the sealed version cannot be deleted");

    // The retry uploads the element again as a new, retained version.
    let stored = store
        .upload_element(&target, body(&bytes))
        .await
        .expect("archived again after the withdrawal");
    assert_eq!(store.stored_object(key).await.unwrap(), Some(stored));
    assert_retained(&s3, key).await;
}

#[tokio::test]
async fn a_correspondence_manifest_is_rewritten_under_the_lock() {
    const RESOURCE_ID: &str = "ttd-correspondence";
    let harness = Harness::start_with(
        Options {
            object_lock_days: Some(RETENTION_DAYS),
            ..Options::default()
        }
        .env("CORRESPONDENCE_ROLE", "sender")
        .env("CORRESPONDENCE_RESOURCES", RESOURCE_ID),
    )
    .await;
    let sim = &harness.sim;
    let c = sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", "910000001")
            .with_attachment("vedtak.pdf", 10_000),
    );
    sim.publish_correspondence(c.id);
    let published = sim.correspondence_event(c.id, "correspondencepublished");
    assert!(sim.add_correspondence_status(c.id, "Read"));
    let read = sim.correspondence_event(c.id, "correspondencereceiverread");
    for event in [published, read] {
        let report = harness
            .run(vec![harness.message(&event.to_string(), 1)])
            .await;
        assert!(
            matches!(
                report.outcomes[0].1,
                MessageOutcome::CorrespondenceArchived(_)
            ),
            "{:?}",
            report.outcomes
        );
    }

    // Each event rewrites the manifest (a plain put over the key): a new, retained version.
    let key = harness
        .store()
        .layout()
        .correspondence_manifest(RESOURCE_ID, &c.id.to_string())
        .unwrap();
    assert!(versions(&harness.s3, &key).await.stored.len() >= 2);
    assert_retained(&harness.s3, &key).await;
    let bytes = harness.store().get_bytes(&key).await.unwrap().unwrap();
    let manifest: CorrespondenceManifest = serde_json::from_slice(&bytes).unwrap();
    assert!(
        manifest.status_history.iter().any(|s| s.status == "Read"),
        "the second event is in the rewritten manifest"
    );
    for object in &manifest.objects {
        assert_retained(&harness.s3, &object.key).await;
    }
}
