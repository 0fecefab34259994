//! [`MemoryArchive`]: the archive store in memory.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::seams::ArchiveTarget;
use crate::store::{
    BodyDigest, ConditionalPut, ElementUpload, StoreError, StoredObject, UploadError,
};

use super::{Journal, lock};

/// One object in a [`MemoryArchive`].
#[derive(Debug, Clone)]
pub struct MemoryObject {
    pub bytes: Bytes,
    pub content_type: String,
    pub modified: SystemTime,
    /// False for an object without our digests (e.g. left by a crash before its copy).
    pub complete: bool,
    /// The element's `lastChanged` it was archived with.
    pub last_changed: Option<String>,
    /// Its object tags.
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct ArchiveState {
    objects: BTreeMap<String, MemoryObject>,
    /// Keys at which a concurrent run's conditional put wins just before ours.
    contested: HashSet<String>,
    /// Key prefixes under which every write fails (an S3 outage for those keys).
    failing: Vec<String>,
    /// Key prefixes under which a conditional create takes this long (a loaded S3).
    slow: Vec<(String, Duration)>,
}

/// An [`ArchiveTarget`] in memory. Cheap to clone; clones share the objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryArchive {
    state: Arc<Mutex<ArchiveState>>,
    journal: Journal,
}

impl MemoryArchive {
    /// An empty archive recording into `journal`.
    pub fn new(journal: Journal) -> Self {
        MemoryArchive {
            state: Arc::default(),
            journal,
        }
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.state).objects.keys().cloned().collect()
    }

    /// The object at `key`.
    pub fn object(&self, key: &str) -> Option<MemoryObject> {
        lock(&self.state).objects.get(key).cloned()
    }

    /// Puts an object as if an earlier run had archived it (`complete`: with our digests).
    pub fn insert(&self, key: &str, bytes: impl Into<Bytes>, complete: bool) {
        lock(&self.state).objects.insert(
            key.to_owned(),
            MemoryObject {
                bytes: bytes.into(),
                content_type: "application/octet-stream".into(),
                modified: SystemTime::now(),
                complete,
                last_changed: None,
                tags: Vec::new(),
            },
        );
    }

    /// Backdates the object at `key` (e.g. a stale claim).
    pub fn set_modified(&self, key: &str, modified: SystemTime) {
        if let Some(object) = lock(&self.state).objects.get_mut(key) {
            object.modified = modified;
        }
    }

    /// A concurrent run writes `key` just before our conditional put of it.
    pub fn contest(&self, key: &str) {
        lock(&self.state).contested.insert(key.to_owned());
    }

    /// Every write under `prefix` fails with a 500.
    pub fn fail_writes_under(&self, prefix: &str) {
        lock(&self.state).failing.push(prefix.to_owned());
    }

    /// Every conditional create under `prefix` takes `delay` first.
    pub fn delay_conditional_writes_under(&self, prefix: &str, delay: Duration) {
        lock(&self.state).slow.push((prefix.to_owned(), delay));
    }

    /// Writes work again everywhere (the outage is over).
    pub fn restore_writes(&self) {
        lock(&self.state).failing.clear();
    }

    fn check_writable(&self, operation: &'static str, key: &str) -> Result<(), StoreError> {
        if lock(&self.state).failing.iter().any(|p| key.starts_with(p)) {
            return Err(StoreError {
                operation,
                key: key.to_owned(),
                status: Some(500),
                code: Some("InternalError".into()),
                message: "injected failure".into(),
            });
        }
        Ok(())
    }

    fn store(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
        last_changed: Option<&str>,
    ) -> StoredObject {
        let mut stored = stored_object(key, &bytes, content_type);
        stored.last_changed = last_changed.map(str::to_owned);
        lock(&self.state).objects.insert(
            key.to_owned(),
            MemoryObject {
                bytes,
                content_type: content_type.to_owned(),
                modified: SystemTime::now(),
                complete: true,
                last_changed: stored.last_changed.clone(),
                tags: Vec::new(),
            },
        );
        self.journal.record(format!("put {key}"));
        stored
    }
}

fn stored_object(key: &str, bytes: &[u8], content_type: &str) -> StoredObject {
    let (sha256, _, md5) = BodyDigest::of(bytes).finish();
    StoredObject {
        key: key.to_owned(),
        size: bytes.len() as u64,
        sha256,
        md5,
        content_type: content_type.to_owned(),
        last_changed: None,
    }
}

impl ArchiveTarget for MemoryArchive {
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.state).objects.contains_key(key))
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.state)
            .objects
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn stored_object(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        Ok(lock(&self.state)
            .objects
            .get(key)
            .filter(|object| object.complete)
            .map(|object| StoredObject {
                last_changed: object.last_changed.clone(),
                ..stored_object(key, &object.bytes, &object.content_type)
            }))
    }

    async fn upload_element<S, E>(
        &self,
        upload: &ElementUpload<'_>,
        body: S,
    ) -> Result<StoredObject, UploadError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Send,
    {
        let mut body = std::pin::pin!(body);
        let mut digest = BodyDigest::default();
        let mut bytes = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(UploadError::Body)?;
            digest.update(&chunk, upload.size)?;
            bytes.extend_from_slice(&chunk);
        }
        digest.verify(upload)?;
        self.check_writable("PutObject", upload.key)?;
        Ok(self.store(
            upload.key,
            bytes.freeze(),
            upload.content_type,
            upload.last_changed,
        ))
    }

    async fn put_small(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<StoredObject, StoreError> {
        self.check_writable("PutObject", key)?;
        Ok(self.store(key, bytes, content_type, None))
    }

    async fn put_small_if_absent(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ConditionalPut, StoreError> {
        let delay = lock(&self.state)
            .slow
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map(|(_, delay)| *delay);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.check_writable("PutObject", key)?;
        let contested = lock(&self.state).contested.remove(key);
        if contested {
            self.insert(key, Bytes::from_static(b"{}"), true);
        }
        if lock(&self.state).objects.contains_key(key) {
            return Ok(ConditionalPut::AlreadyExists);
        }
        Ok(ConditionalPut::Created(self.store(
            key,
            bytes,
            content_type,
            None,
        )))
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(lock(&self.state)
            .objects
            .get(key)
            .map(|object| object.bytes.clone()))
    }

    async fn last_modified(&self, key: &str) -> Result<Option<SystemTime>, StoreError> {
        Ok(lock(&self.state)
            .objects
            .get(key)
            .map(|object| object.modified))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check_writable("DeleteObject", key)?;
        lock(&self.state).objects.remove(key);
        self.journal.record(format!("delete {key}"));
        Ok(())
    }

    async fn tag_object(&self, key: &str, tags: &[(&str, &str)]) -> Result<(), StoreError> {
        self.check_writable("PutObjectTagging", key)?;
        let mut state = lock(&self.state);
        let object = state.objects.get_mut(key).ok_or_else(|| StoreError {
            operation: "PutObjectTagging",
            key: key.to_owned(),
            status: Some(404),
            code: Some("NoSuchKey".into()),
            message: "no object to tag".into(),
        })?;
        object.tags = tags
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        drop(state);
        self.journal.record(format!("tag {key}"));
        Ok(())
    }

    fn location(&self, prefix: &str) -> String {
        format!("memory://{prefix}")
    }
}
