//! The archive bucket: streaming element uploads that are verified before they become visible as
//! archived, small JSON objects, the conditional manifest put, and reading events back.
//!
//! ## How an element gets its SHA-256
//!
//! S3 object metadata is fixed when an object is created, but for a multipart upload the SHA-256
//! of the whole body is only known after the last byte. So:
//!
//! - **Up to one part** (`size <= part size`): the body is buffered (at most one part), checked
//!   against the element's `size` and MD5, then stored with one `PutObject` carrying the SHA-256
//!   as metadata *and* as `x-amz-checksum-sha256`, which S3 verifies on arrival.
//! - **Larger**: a multipart upload (`ChecksumAlgorithm=SHA256`, every part with its own
//!   `x-amz-checksum-sha256`, which S3 verifies per part). The body streams through one part
//!   buffer. The upload is completed only when the byte count and the MD5 match; otherwise it is
//!   aborted, so a mismatching body never becomes an object. Then an in-place `CopyObject`
//!   (`MetadataDirective=REPLACE`, `ChecksumAlgorithm=SHA256`) adds the `sha256` metadata and
//!   makes S3 compute a full-object SHA-256, which must equal ours: S3 itself confirms the stored
//!   bytes. (Altinn elements are < 2000 MiB, far under `CopyObject`'s 5 GiB limit.)
//!
//! An object without `sha256` metadata (a crash between `CompleteMultipartUpload` and the copy)
//! counts as not archived and is uploaded again. A multipart upload that is abandoned by a crash
//! is aborted from `Drop` when the runtime still runs; the bucket's
//! `AbortIncompleteMultipartUpload` lifecycle rule is the backstop.
//!
//! ## Object metadata (S3 lower-cases the names; values must be ASCII)
//!
//! | name | value |
//! | --- | --- |
//! | `sha256` | lower-case hex SHA-256 of the bytes |
//! | `md5` | base64 MD5 of the bytes (Altinn's `contentHash` format) |
//! | `datatype` | the element's `dataType`, percent-encoded |
//! | `lastchanged` | the element's `lastChanged` in Altinn when it had one, percent-encoded |
//! | `filename` | the element's filename: UTF-8, percent-encoded (RFC 3986: everything but `A-Z a-z 0-9 - . _ ~` as `%XX`), at most 1024 encoded bytes (whole characters are cut from the end; the manifest has the full name) |
//!
//! `Content-Type` is the element's, and `Content-Disposition` is
//! `attachment; filename*=UTF-8''<percent-encoded filename>` (RFC 6266/8187) when it has one.

use std::sync::Arc;

use altinn::CloudEvent;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::sync::Semaphore;

use crate::layout::ArchiveLayout;

mod digest;
mod multipart;
mod objects;

pub(crate) use digest::BodyDigest;
use digest::{content_disposition, element_metadata, is_sha256_hex};
pub use digest::{encoded_filename, percent_decode, percent_encode};

/// An S3 call that failed. Never contains object bytes or credentials.
#[derive(Debug, Clone, thiserror::Error)]
#[error("S3 {operation} {key}: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub key: String,
    /// HTTP status, when S3 answered.
    pub status: Option<u16>,
    /// S3's error code (`SlowDown`, `AccessDenied`, …), when it sent one.
    pub code: Option<String>,
    pub message: String,
}

impl StoreError {
    fn from_sdk<E>(operation: &'static str, key: &str, error: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = error
            .as_service_error()
            .and_then(|e| e.code())
            .map(str::to_owned);
        let message = DisplayErrorContext(&error).to_string();
        StoreError {
            operation,
            key: key.to_owned(),
            status,
            code,
            message,
        }
    }

    fn local(operation: &'static str, key: &str, message: impl Into<String>) -> Self {
        StoreError {
            operation,
            key: key.to_owned(),
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// True for S3 throttling (`SlowDown`, 503) — reported separately in logs and metrics.
    pub fn is_throttling(&self) -> bool {
        self.status == Some(503) || self.code.as_deref() == Some("SlowDown")
    }
}

/// Why a streamed element upload did not produce an archived object.
#[derive(Debug, thiserror::Error)]
pub enum UploadError<E> {
    /// The source stream failed (for Altinn: a body cut short, a timeout).
    #[error("reading the body failed: {0}")]
    Body(E),
    /// More bytes arrived than the element's `size`.
    #[error("body is longer than the expected {expected} bytes")]
    TooLong { expected: u64 },
    /// The body ended at another length than the element's `size`.
    #[error("body has {actual} bytes, expected {expected}")]
    SizeMismatch { expected: u64, actual: u64 },
    /// The body's MD5 differs from Altinn's `contentHash`.
    #[error("MD5 of the body is {actual}, Altinn's contentHash is {expected}")]
    Md5Mismatch { expected: String, actual: String },
    /// S3's own SHA-256 of the stored object differs from ours (the object was deleted again).
    #[error("S3 computed SHA-256 {s3} for the stored object, we computed {ours}")]
    StoredChecksumMismatch { ours: String, s3: String },
    /// S3 failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an element upload must match, and how the object is described.
#[derive(Debug, Clone)]
pub struct ElementUpload<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub data_type: &'a str,
    /// The element's `size`: the body must have exactly this many bytes.
    pub size: u64,
    /// Altinn's `contentHash` (MD5), decoded; checked when present.
    pub md5: Option<[u8; 16]>,
    /// The element's `lastChanged` in Altinn. Elements are archived before the process ends
    /// (in the feedback task), and Altinn rarely gives a `contentHash`: a copy archived with
    /// another `lastChanged` is of an older version of the element.
    pub last_changed: Option<&'a str>,
}

impl ElementUpload<'_> {
    /// The reuse rule: an archived object stands for this element when it has the element's
    /// size, when Altinn gave a `contentHash` its MD5, and when both know the element's
    /// `lastChanged`, the same one.
    pub fn is_matched_by(&self, stored: &StoredObject) -> bool {
        stored.size == self.size
            && self.md5.is_none_or(|md5| stored.md5 == BASE64.encode(md5))
            && match (self.last_changed, stored.last_changed.as_deref()) {
                (Some(ours), Some(archived)) => ours == archived,
                _ => true,
            }
    }
}

/// An object in the archive, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Base64.
    pub md5: String,
    pub content_type: String,
    /// For an element: its `lastChanged` in Altinn when archived, if known.
    pub last_changed: Option<String>,
}

/// The outcome of a put that must not overwrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionalPut {
    /// We created the object.
    Created(StoredObject),
    /// An object with that key was already there (412 on `If-None-Match: *`); nothing changed.
    AlreadyExists,
}

/// An event read back from the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub key: String,
    pub event: CloudEvent,
}

/// The archive bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ArchiveStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
    layout: ArchiveLayout,
    part_size: usize,
    /// Part uploads in flight across the process (each holds one part buffer); see
    /// [`ArchiveStore::with_parts_in_flight`].
    part_uploads: Arc<Semaphore>,
}

/// Part uploads in flight for a store built with [`ArchiveStore::new`] (the archiver sets
/// `ELEMENT_CONCURRENCY`).
const DEFAULT_PARTS_IN_FLIGHT: usize = 4;

impl ArchiveStore {
    /// A store for `bucket` with keys from `layout`; `part_size` (≥ 5 MiB) is both the multipart
    /// part size and the largest body stored with a single put.
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        layout: ArchiveLayout,
        part_size: usize,
    ) -> Self {
        ArchiveStore {
            s3,
            bucket: bucket.into(),
            layout,
            part_size: part_size.max(5 * 1024 * 1024),
            part_uploads: Arc::new(Semaphore::new(DEFAULT_PARTS_IN_FLIGHT)),
        }
    }

    /// At most `parts` multipart part uploads in flight at once across every element this
    /// store (and its clones) uploads. Each holds one part buffer while it runs, on top of the
    /// one buffer each element fills, so the archiver sets this to `ELEMENT_CONCURRENCY`:
    /// element memory stays at most `2 × ELEMENT_CONCURRENCY × part size`, and a single big
    /// element can have `ELEMENT_CONCURRENCY` parts going up at once while it streams on.
    pub fn with_parts_in_flight(mut self, parts: usize) -> Self {
        self.part_uploads = Arc::new(Semaphore::new(parts.max(1)));
        self
    }

    /// The key layout.
    pub fn layout(&self) -> &ArchiveLayout {
        &self.layout
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The S3 client.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The part size in bytes.
    pub fn part_size(&self) -> usize {
        self.part_size
    }
}
