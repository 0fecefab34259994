//! Whole objects: HEAD, small puts (conditional or not), GETs, listings, and events read back.

use altinn::{CloudEvent, CorrespondenceRef};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Tag, Tagging};
use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    ArchiveStore, BodyDigest, ConditionalPut, ElementUpload, StoreError, StoredEvent, StoredObject,
    is_sha256_hex,
};
use crate::manifest::Manifest;

impl ArchiveStore {
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
            last_changed: metadata
                .and_then(|m| m.get("lastchanged"))
                .and_then(|v| super::percent_decode(v)),
        }))
    }

    /// The element's object when it is already archived and matches the element
    /// ([`ElementUpload::is_matched_by`]), so it need not be downloaded again.
    pub async fn archived_element(
        &self,
        upload: &ElementUpload<'_>,
    ) -> Result<Option<StoredObject>, StoreError> {
        let stored = self.stored_object(upload.key).await?;
        Ok(stored.filter(|stored| upload.is_matched_by(stored)))
    }

    /// Deletes an object (missing is fine). Without a version id: in the versioned bucket this
    /// only adds a delete marker, and every stored version stays (also under Object Lock).
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

    /// Replaces the object tags of `key` with `tags` (`PutObjectTagging`; allowed under Object
    /// Lock, which protects the bytes, not the tags).
    pub async fn tag_object(&self, key: &str, tags: &[(&str, &str)]) -> Result<(), StoreError> {
        let tag_set = tags
            .iter()
            .map(|(name, value)| Tag::builder().key(*name).value(*value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::local("PutObjectTagging", key, e.to_string()))?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| StoreError::local("PutObjectTagging", key, e.to_string()))?;
        self.s3
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutObjectTagging", key, e))?;
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
        let digest = BodyDigest::of(&bytes);
        let size = bytes.len() as u64;
        let (sha256_hex, sha256_b64, md5_b64) = digest.finish();
        let mut request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size as i64)
            // Naming the algorithm too: S3 Object Lock documents `x-amz-sdk-checksum-algorithm`
            // (or Content-MD5) as required on puts into a bucket with a default retention.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
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
                last_changed: None,
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
        lambda_support::aws::get_object_if_exists(&self.s3, &self.bucket, key)
            .await
            .map_err(|error| StoreError::from_sdk("GetObject", key, error))
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
