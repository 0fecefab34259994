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
//! | `filename` | the element's filename: UTF-8, percent-encoded (RFC 3986: everything but `A-Z a-z 0-9 - . _ ~` as `%XX`), at most 1024 encoded bytes (whole characters are cut from the end; the manifest has the full name) |
//!
//! `Content-Type` is the element's, and `Content-Disposition` is
//! `attachment; filename*=UTF-8''<percent-encoded filename>` (RFC 6266/8187) when it has one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use altinn::{CloudEvent, CorrespondenceRef};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, MetadataDirective,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use md5::Md5;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;

use crate::layout::ArchiveLayout;
use crate::manifest::Manifest;

/// Longest percent-encoded filename kept in metadata (S3 allows 2 KiB of user metadata).
const MAX_ENCODED_FILENAME: usize = 1024;

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

    /// True when an object exists at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.head(key).await?.is_some())
    }

    /// `HeadObject`, `None` when there is no such object.
    pub async fn head(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>, StoreError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(head) => Ok(Some(head)),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(StoreError::from_sdk("HeadObject", key, error)),
        }
    }

    /// The archived object at `key`, when it is complete: it has our `sha256` metadata. `None`
    /// for a missing object or one left half-done by a crash.
    pub async fn stored_object(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let Some(head) = self.head(key).await? else {
            return Ok(None);
        };
        let metadata = head.metadata();
        let sha256 = metadata
            .and_then(|m| m.get("sha256"))
            .filter(|v| is_sha256_hex(v));
        let md5 = metadata.and_then(|m| m.get("md5"));
        let (Some(sha256), Some(md5)) = (sha256, md5) else {
            return Ok(None);
        };
        Ok(Some(StoredObject {
            key: key.to_owned(),
            size: head.content_length().unwrap_or(0).max(0) as u64,
            sha256: sha256.clone(),
            md5: md5.clone(),
            content_type: head
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned(),
        }))
    }

    /// The element's object when it is already archived with the right size (and the right MD5
    /// when Altinn gave one), so it need not be downloaded again.
    pub async fn archived_element(
        &self,
        upload: &ElementUpload<'_>,
    ) -> Result<Option<StoredObject>, StoreError> {
        let Some(stored) = self.stored_object(upload.key).await? else {
            return Ok(None);
        };
        if stored.size != upload.size {
            return Ok(None);
        }
        if let Some(md5) = upload.md5
            && stored.md5 != BASE64.encode(md5)
        {
            return Ok(None);
        }
        Ok(Some(stored))
    }

    /// Streams `body` into the element's object, checking it against `upload.size` and
    /// `upload.md5` before the object is made visible as archived (see the module docs).
    /// On any error nothing is left that [`ArchiveStore::archived_element`] would accept.
    pub async fn upload_element<S, E>(
        &self,
        upload: &ElementUpload<'_>,
        body: S,
    ) -> Result<StoredObject, UploadError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
    {
        let body = std::pin::pin!(body);
        if upload.size <= self.part_size as u64 {
            self.upload_single(upload, body).await
        } else {
            self.upload_multipart(upload, body).await
        }
    }

    async fn upload_single<S, E>(
        &self,
        upload: &ElementUpload<'_>,
        mut body: std::pin::Pin<&mut S>,
    ) -> Result<StoredObject, UploadError<E>>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let mut digest = BodyDigest::default();
        let mut buffer = BytesMut::with_capacity(upload.size as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(UploadError::Body)?;
            digest.update(&chunk, upload.size)?;
            buffer.extend_from_slice(&chunk);
        }
        digest.verify(upload)?;
        let (sha256_hex, sha256_b64, md5_b64) = digest.finish();
        let mut request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(upload.key)
            .content_type(upload.content_type)
            .content_length(upload.size as i64)
            .checksum_sha256(sha256_b64)
            .body(ByteStream::from(buffer.freeze()));
        for (name, value) in element_metadata(upload, Some((&sha256_hex, &md5_b64))) {
            request = request.metadata(name, value);
        }
        if let Some(disposition) = upload.filename.map(content_disposition) {
            request = request.content_disposition(disposition);
        }
        request
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutObject", upload.key, e))?;
        Ok(StoredObject {
            key: upload.key.to_owned(),
            size: upload.size,
            sha256: sha256_hex,
            md5: md5_b64,
            content_type: upload.content_type.to_owned(),
        })
    }

    async fn upload_multipart<S, E>(
        &self,
        upload: &ElementUpload<'_>,
        mut body: std::pin::Pin<&mut S>,
    ) -> Result<StoredObject, UploadError<E>>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let mut digest = BodyDigest::default();
        let mut buffer = BytesMut::with_capacity(self.part_size);
        let mut pending: Option<PendingUpload> = None;
        let result: Result<(), UploadError<E>> = async {
            while let Some(chunk) = body.next().await {
                let mut chunk = chunk.map_err(UploadError::Body)?;
                digest.update(&chunk, upload.size)?;
                while !chunk.is_empty() {
                    let take = (self.part_size - buffer.len()).min(chunk.len());
                    buffer.extend_from_slice(&chunk.split_to(take));
                    if buffer.len() == self.part_size {
                        let part =
                            std::mem::replace(&mut buffer, BytesMut::with_capacity(self.part_size))
                                .freeze();
                        if pending.is_none() {
                            pending = Some(self.create_multipart(upload).await?);
                        }
                        if let Some(pending) = pending.as_mut() {
                            pending.upload_part(part).await?;
                        }
                    }
                }
            }
            // Checked before the last part goes up, so a bad body is never completed.
            digest.verify(upload)?;
            if !buffer.is_empty() {
                let part = std::mem::take(&mut buffer).freeze();
                if pending.is_none() {
                    pending = Some(self.create_multipart(upload).await?);
                }
                if let Some(pending) = pending.as_mut() {
                    pending.upload_part(part).await?;
                }
            }
            Ok(())
        }
        .await;
        let Some(mut pending) = pending else {
            // Nothing was uploaded: the body was shorter than a part, hence an error above.
            return Err(result.err().unwrap_or(UploadError::SizeMismatch {
                expected: upload.size,
                actual: 0,
            }));
        };
        if let Err(error) = result {
            pending.abort().await;
            return Err(error);
        }
        if let Err(error) = pending.complete().await {
            pending.abort().await;
            return Err(error.into());
        }
        let (sha256_hex, sha256_b64, md5_b64) = digest.finish();
        self.seal_with_checksum(upload, &sha256_hex, &sha256_b64, &md5_b64)
            .await?;
        Ok(StoredObject {
            key: upload.key.to_owned(),
            size: upload.size,
            sha256: sha256_hex,
            md5: md5_b64,
            content_type: upload.content_type.to_owned(),
        })
    }

    async fn create_multipart(
        &self,
        upload: &ElementUpload<'_>,
    ) -> Result<PendingUpload, StoreError> {
        let mut request = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(upload.key)
            .content_type(upload.content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        // No `sha256` yet: until the copy in `seal_with_checksum` the object is "not archived".
        for (name, value) in element_metadata(upload, None) {
            request = request.metadata(name, value);
        }
        if let Some(disposition) = upload.filename.map(content_disposition) {
            request = request.content_disposition(disposition);
        }
        let created = request
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("CreateMultipartUpload", upload.key, e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                StoreError::local(
                    "CreateMultipartUpload",
                    upload.key,
                    "no upload id in the answer",
                )
            })?
            .to_owned();
        Ok(PendingUpload {
            s3: self.s3.clone(),
            bucket: self.bucket.clone(),
            key: upload.key.to_owned(),
            upload_id,
            parts: Vec::new(),
            in_flight: VecDeque::new(),
            part_uploads: Arc::clone(&self.part_uploads),
            finished: false,
        })
    }

    /// The in-place copy that sets the final metadata and has S3 compute the full SHA-256.
    async fn seal_with_checksum<E>(
        &self,
        upload: &ElementUpload<'_>,
        sha256_hex: &str,
        sha256_b64: &str,
        md5_b64: &str,
    ) -> Result<(), UploadError<E>> {
        let mut request = self
            .s3
            .copy_object()
            .bucket(&self.bucket)
            .key(upload.key)
            .copy_source(format!("{}/{}", self.bucket, upload.key))
            .metadata_directive(MetadataDirective::Replace)
            .content_type(upload.content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        for (name, value) in element_metadata(upload, Some((sha256_hex, md5_b64))) {
            request = request.metadata(name, value);
        }
        if let Some(disposition) = upload.filename.map(content_disposition) {
            request = request.content_disposition(disposition);
        }
        let copied = request
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("CopyObject", upload.key, e))?;
        let s3_sha256 = copied
            .copy_object_result()
            .and_then(|r| r.checksum_sha256())
            .map(str::to_owned);
        if let Some(s3_sha256) = s3_sha256
            && s3_sha256 != sha256_b64
        {
            // The object now claims to be archived but S3 disagrees: take it away again.
            self.delete(upload.key).await?;
            return Err(UploadError::StoredChecksumMismatch {
                ours: sha256_b64.to_owned(),
                s3: s3_sha256,
            });
        }
        Ok(())
    }

    /// Deletes an object (missing is fine).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DeleteObject", key, e))?;
        Ok(())
    }

    /// Stores a small object (instance.json, an event) in one put, with `sha256`/`md5` metadata
    /// and S3's own SHA-256 check. Overwrites.
    pub async fn put_small(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<StoredObject, StoreError> {
        match self
            .put_small_inner(key, bytes, content_type, false)
            .await?
        {
            ConditionalPut::Created(stored) => Ok(stored),
            ConditionalPut::AlreadyExists => Err(StoreError::local(
                "PutObject",
                key,
                "unexpected precondition failure",
            )),
        }
    }

    /// Like [`ArchiveStore::put_small`], but only when no object has the key (`If-None-Match: *`).
    pub async fn put_small_if_absent(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ConditionalPut, StoreError> {
        self.put_small_inner(key, bytes, content_type, true).await
    }

    async fn put_small_inner(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
        if_absent: bool,
    ) -> Result<ConditionalPut, StoreError> {
        let mut digest = BodyDigest::default();
        digest.sha256.update(&bytes);
        digest.md5.update(&bytes);
        let size = bytes.len() as u64;
        let (sha256_hex, sha256_b64, md5_b64) = digest.finish();
        let mut request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size as i64)
            .checksum_sha256(sha256_b64)
            .metadata("sha256", &sha256_hex)
            .metadata("md5", &md5_b64)
            .body(ByteStream::from(bytes));
        if if_absent {
            request = request.if_none_match("*");
        }
        match request.send().await {
            Ok(_) => Ok(ConditionalPut::Created(StoredObject {
                key: key.to_owned(),
                size,
                sha256: sha256_hex,
                md5: md5_b64,
                content_type: content_type.to_owned(),
            })),
            Err(error) => {
                let error = StoreError::from_sdk("PutObject", key, error);
                if if_absent
                    && (error.status == Some(412)
                        || error.code.as_deref() == Some("PreconditionFailed"))
                {
                    Ok(ConditionalPut::AlreadyExists)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// Writes the manifest unless one exists: of two runs racing on one instance exactly one
    /// gets [`ConditionalPut::Created`] and so the right to call `complete`.
    pub async fn put_manifest(
        &self,
        key: &str,
        manifest: &Manifest,
    ) -> Result<ConditionalPut, StoreError> {
        self.put_small_if_absent(key, Bytes::from(manifest.to_json()), "application/json")
            .await
    }

    /// The body of the object at `key` as a stream; `None` when missing.
    pub async fn open(&self, key: &str) -> Result<Option<ByteStream>, StoreError> {
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(response) => Ok(Some(response.body)),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(error) => Err(StoreError::from_sdk("GetObject", key, error)),
        }
    }

    /// The bytes of a (small) object; `None` when missing.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let Some(body) = self.open(key).await? else {
            return Ok(None);
        };
        let bytes = body
            .collect()
            .await
            .map_err(|e| StoreError::local("GetObject", key, format!("reading the body: {e}")))?
            .into_bytes();
        Ok(Some(bytes))
    }

    /// The manifest at `key`, when there is one.
    pub async fn get_manifest(&self, key: &str) -> Result<Option<Manifest>, StoreError> {
        let Some(bytes) = self.get_bytes(key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::local("GetObject", key, format!("not a manifest: {e}")))
    }

    /// Every key under `prefix`.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreError::from_sdk("ListObjectsV2", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    /// The events stored under `prefix` (keys ending in `.json`), oldest first by their `time`
    /// (events without a readable `time` last, ties by id), so a history reads in order.
    pub async fn read_events(&self, prefix: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::new();
        for key in self.list_keys(prefix).await? {
            if !key.ends_with(".json") {
                continue;
            }
            let Some(bytes) = self.get_bytes(&key).await? else {
                continue;
            };
            let event = CloudEvent::parse(&bytes).map_err(|e| {
                StoreError::local("GetObject", &key, format!("not a CloudEvent: {e}"))
            })?;
            events.push(StoredEvent { key, event });
        }
        events.sort_by_cached_key(|stored| {
            let time = stored
                .event
                .time
                .as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            (time.is_none(), time, stored.event.id.clone())
        });
        Ok(events)
    }

    /// A correspondence's (or attachment's, or notification order's) status history: its
    /// archived events in the order they happened.
    pub async fn correspondence_history(
        &self,
        correspondence: &CorrespondenceRef,
    ) -> Result<Vec<CloudEvent>, StoreError> {
        let prefix = self
            .layout
            .correspondence_events_prefix(correspondence)
            .map_err(|e| StoreError::local("ListObjectsV2", "", e.to_string()))?;
        Ok(self
            .read_events(&prefix)
            .await?
            .into_iter()
            .map(|s| s.event)
            .collect())
    }
}

/// A multipart upload in progress. Aborted explicitly on error, and from `Drop` when the
/// future owning it is cancelled (deadline, crash of the task) while a runtime still runs.
struct PendingUpload {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
    /// Parts being uploaded on their own tasks while the body streams into the next one,
    /// oldest first.
    in_flight: VecDeque<PartTask>,
    /// The store's budget of part uploads in flight.
    part_uploads: Arc<Semaphore>,
    finished: bool,
}

/// One `UploadPart` running on its own task.
type PartTask = tokio::task::JoinHandle<Result<CompletedPart, StoreError>>;

impl PendingUpload {
    /// Starts uploading `bytes` as the next part on its own task and returns as soon as the
    /// store's budget allows, so the body keeps streaming into the next part buffer meanwhile.
    /// Uploading part by part in line left the download idle during every `UploadPart` (a
    /// profile of a 64 MiB element showed the archiver mostly waiting, at 0.6 × the speed of
    /// `aws s3 cp`, which keeps ten parts going, on the same server).
    async fn upload_part(&mut self, bytes: Bytes) -> Result<(), StoreError> {
        self.collect_finished().await?;
        let permit = Arc::clone(&self.part_uploads)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::local("UploadPart", &self.key, "the store is closed"))?;
        let part_number = (self.parts.len() + self.in_flight.len()) as i32 + 1;
        let request = self
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(part_number)
            .content_length(bytes.len() as i64);
        let key = self.key.clone();
        self.in_flight.push_back(tokio::spawn(async move {
            let _permit = permit;
            let checksum = BASE64.encode(Sha256::digest(&bytes));
            let uploaded = request
                .checksum_sha256(&checksum)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("UploadPart", &key, e))?;
            Ok(CompletedPart::builder()
                .part_number(part_number)
                .set_e_tag(uploaded.e_tag().map(str::to_owned))
                .checksum_sha256(checksum)
                .build())
        }));
        Ok(())
    }

    /// Records the parts that have finished, oldest first, so a failed part ends the upload
    /// early instead of at `complete`.
    async fn collect_finished(&mut self) -> Result<(), StoreError> {
        while self
            .in_flight
            .front()
            .is_some_and(|task| task.is_finished())
        {
            self.await_oldest().await?;
        }
        Ok(())
    }

    /// Waits for the oldest part in flight and records it.
    async fn await_oldest(&mut self) -> Result<(), StoreError> {
        if let Some(task) = self.in_flight.pop_front() {
            let part = task.await.map_err(|e| {
                StoreError::local(
                    "UploadPart",
                    &self.key,
                    format!("the upload task ended: {e}"),
                )
            })??;
            self.parts.push(part);
        }
        Ok(())
    }

    async fn complete(&mut self) -> Result<(), StoreError> {
        while !self.in_flight.is_empty() {
            self.await_oldest().await?;
        }
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("CompleteMultipartUpload", &self.key, e))?;
        self.finished = true;
        Ok(())
    }

    async fn abort(&mut self) {
        self.finished = true;
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        if let Err(error) = abort_upload(&self.s3, &self.bucket, &self.key, &self.upload_id).await {
            tracing::warn!(key = %self.key, error = %error, "could not abort a multipart upload (the lifecycle rule will)");
        }
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        if self.finished {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (s3, bucket, key, upload_id) = (
            self.s3.clone(),
            self.bucket.clone(),
            self.key.clone(),
            self.upload_id.clone(),
        );
        runtime.spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(10),
                abort_upload(&s3, &bucket, &key, &upload_id),
            )
            .await;
        });
    }
}

async fn abort_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), StoreError> {
    s3.abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
        .map_err(|e| StoreError::from_sdk("AbortMultipartUpload", key, e))?;
    Ok(())
}

/// SHA-256, MD5 and length of a body, computed as it streams past.
#[derive(Default)]
struct BodyDigest {
    sha256: Sha256,
    md5: Md5,
    size: u64,
}

impl BodyDigest {
    /// Adds a chunk; fails as soon as the body is longer than `expected`.
    fn update<E>(&mut self, chunk: &[u8], expected: u64) -> Result<(), UploadError<E>> {
        self.size += chunk.len() as u64;
        if self.size > expected {
            return Err(UploadError::TooLong { expected });
        }
        self.sha256.update(chunk);
        self.md5.update(chunk);
        Ok(())
    }

    /// The body's length and MD5 against the element's.
    fn verify<E>(&self, upload: &ElementUpload<'_>) -> Result<(), UploadError<E>> {
        if self.size != upload.size {
            return Err(UploadError::SizeMismatch {
                expected: upload.size,
                actual: self.size,
            });
        }
        if let Some(expected) = upload.md5 {
            let actual: [u8; 16] = self.md5.clone().finalize().into();
            if actual != expected {
                return Err(UploadError::Md5Mismatch {
                    expected: BASE64.encode(expected),
                    actual: BASE64.encode(actual),
                });
            }
        }
        Ok(())
    }

    /// (SHA-256 hex, SHA-256 base64, MD5 base64).
    fn finish(self) -> (String, String, String) {
        let sha256 = self.sha256.finalize();
        (
            hex(&sha256),
            BASE64.encode(sha256),
            BASE64.encode(self.md5.finalize()),
        )
    }
}

/// The element's user metadata; `sha256` and `md5` only once the body is verified.
fn element_metadata(
    upload: &ElementUpload<'_>,
    digests: Option<(&str, &str)>,
) -> Vec<(&'static str, String)> {
    let mut metadata = vec![("datatype", percent_encode(upload.data_type))];
    if let Some(filename) = upload.filename {
        metadata.push(("filename", encoded_filename(filename)));
    }
    if let Some((sha256, md5)) = digests {
        metadata.push(("sha256", sha256.to_owned()));
        metadata.push(("md5", md5.to_owned()));
    }
    metadata
}

/// `attachment; filename*=UTF-8''…` (RFC 6266 with the RFC 8187 encoding).
fn content_disposition(filename: &str) -> String {
    format!(
        "attachment; filename*=UTF-8''{}",
        encoded_filename(filename)
    )
}

/// The percent-encoded filename, cut to whole characters within `MAX_ENCODED_FILENAME`
/// (1,024 bytes).
pub fn encoded_filename(filename: &str) -> String {
    let mut encoded = String::new();
    for c in filename.chars() {
        let mut utf8 = [0u8; 4];
        let piece = percent_encode(c.encode_utf8(&mut utf8));
        if encoded.len() + piece.len() > MAX_ENCODED_FILENAME {
            break;
        }
        encoded.push_str(&piece);
    }
    encoded
}

/// RFC 3986 percent-encoding of UTF-8: `A-Z a-z 0-9 - . _ ~` stay, every other byte is `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inverse of [`percent_encode`] (for readers of the metadata, and tests).
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_percent_encoded_ascii_and_round_trip() {
        let name = "Søknad om støtte (endelig) 100%.pdf";
        let encoded = encoded_filename(name);
        assert!(encoded.is_ascii());
        assert_eq!(
            encoded,
            "S%C3%B8knad%20om%20st%C3%B8tte%20%28endelig%29%20100%25.pdf"
        );
        assert_eq!(percent_decode(&encoded).unwrap(), name);
        assert_eq!(
            content_disposition("a b.pdf"),
            "attachment; filename*=UTF-8''a%20b.pdf"
        );
    }

    #[test]
    fn long_filenames_are_cut_at_whole_characters() {
        let name = "å".repeat(1000);
        let encoded = encoded_filename(&name);
        assert!(encoded.len() <= MAX_ENCODED_FILENAME);
        assert_eq!(encoded.len() % 6, 0, "each å is %C3%A5");
        assert!(percent_decode(&encoded).is_some());
    }

    #[test]
    fn digest_checks_length_and_md5() {
        let upload = ElementUpload {
            key: "k",
            content_type: "text/plain",
            filename: None,
            data_type: "t",
            size: 5,
            md5: Some(Md5::digest(b"hello").into()),
        };
        let mut digest = BodyDigest::default();
        digest.update::<()>(b"hel", 5).unwrap();
        assert!(matches!(
            digest.verify::<()>(&upload),
            Err(UploadError::SizeMismatch {
                expected: 5,
                actual: 3
            })
        ));
        digest.update::<()>(b"lo", 5).unwrap();
        digest.verify::<()>(&upload).unwrap();
        assert!(matches!(
            digest.update::<()>(b"!", 5),
            Err(UploadError::TooLong { expected: 5 })
        ));

        let mut other = BodyDigest::default();
        other.update::<()>(b"HELLO", 5).unwrap();
        assert!(matches!(
            other.verify::<()>(&upload),
            Err(UploadError::Md5Mismatch { .. })
        ));
        let (sha_hex, _, md5) = other.finish();
        assert!(is_sha256_hex(&sha_hex));
        assert_eq!(md5.len(), 24);
    }
}
