//! In-memory implementations of the pipeline's seams, for fast tests of its decisions without
//! S3, SQS or an Altinn simulator: [`MemoryAltinn`] (an [`AltinnSource`]) and
//! [`MemoryArchive`] (an [`ArchiveTarget`]). Both write what they are asked to do into a shared
//! [`Journal`], so a test can check the order of steps (the manifest before `complete`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use altinn::{InstanceRef, RawInstance};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::{ArchiveError, FailureReason};
use crate::receipt::{Receipt, ReceiptSettings, receipt_filename};
use crate::seams::{AltinnSource, ArchiveTarget, Download};
use crate::store::{
    BodyDigest, ConditionalPut, ElementUpload, StoreError, StoredObject, UploadError,
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the in-memory parts were asked to do, in order: `put {key}`, `delete {key}`,
/// `get_instance {id}`, `download {dataId}`, `receipt {id}`, `complete {id}`.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn record(&self, entry: String) {
        lock(&self.0).push(entry);
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<String> {
        lock(&self.0).clone()
    }

    /// How many entries are exactly `entry`.
    pub fn count(&self, entry: &str) -> usize {
        lock(&self.0).iter().filter(|e| *e == entry).count()
    }

    /// The position of the first entry that is exactly `entry`.
    pub fn position(&self, entry: &str) -> Option<usize> {
        lock(&self.0).iter().position(|e| e == entry)
    }
}

/// One object in a [`MemoryArchive`].
#[derive(Debug, Clone)]
pub struct MemoryObject {
    pub bytes: Bytes,
    pub content_type: String,
    pub modified: SystemTime,
    /// False for an object without our digests (e.g. left by a crash before its copy).
    pub complete: bool,
}

#[derive(Debug, Default)]
struct ArchiveState {
    objects: BTreeMap<String, MemoryObject>,
    /// Keys at which a concurrent run's conditional put wins just before ours.
    contested: HashSet<String>,
    /// Key prefixes under which every write fails (an S3 outage for those keys).
    failing: Vec<String>,
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

    fn store(&self, key: &str, bytes: Bytes, content_type: &str) -> StoredObject {
        let stored = stored_object(key, &bytes, content_type);
        lock(&self.state).objects.insert(
            key.to_owned(),
            MemoryObject {
                bytes,
                content_type: content_type.to_owned(),
                modified: SystemTime::now(),
                complete: true,
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
            .map(|object| stored_object(key, &object.bytes, &object.content_type)))
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
        Ok(self.store(upload.key, bytes.freeze(), upload.content_type))
    }

    async fn put_small(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<StoredObject, StoreError> {
        self.check_writable("PutObject", key)?;
        Ok(self.store(key, bytes, content_type))
    }

    async fn put_small_if_absent(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<ConditionalPut, StoreError> {
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

    fn location(&self, prefix: &str) -> String {
        format!("memory://{prefix}")
    }
}

/// How one download of a [`MemoryAltinn`] element goes wrong.
#[derive(Debug, Clone)]
pub enum DownloadFault {
    /// The body stops halfway with a transient error.
    CutShort,
    /// The body is the element's bytes with the last one flipped.
    Corrupted,
    /// The request fails with this error.
    Fails(ArchiveError),
}

#[derive(Debug, Default)]
struct AltinnState {
    /// Instance JSON by `{partyId}/{guid}`.
    instances: HashMap<String, serde_json::Value>,
    /// Element bytes by data element id.
    data: HashMap<String, Bytes>,
    /// Faults of the next downloads, per element id.
    faults: HashMap<String, VecDeque<DownloadFault>>,
    /// Errors of the next `complete` calls.
    complete_errors: VecDeque<ArchiveError>,
}

/// An [`AltinnSource`] in memory: instances as JSON, element bytes, and injected faults.
/// `complete` adds our org's confirmation to the instance; a receipt upload adds the receipt
/// as a data element, as Altinn would.
#[derive(Debug, Clone)]
pub struct MemoryAltinn {
    org: String,
    state: Arc<Mutex<AltinnState>>,
    journal: Journal,
}

impl MemoryAltinn {
    /// An Altinn with no instances, for our org `org`, recording into `journal`.
    pub fn new(org: &str, journal: Journal) -> Self {
        MemoryAltinn {
            org: org.to_owned(),
            state: Arc::default(),
            journal,
        }
    }

    /// Stores (or replaces) an instance's JSON.
    pub fn put_instance(&self, instance: &InstanceRef, json: serde_json::Value) {
        lock(&self.state)
            .instances
            .insert(instance.instance_id(), json);
    }

    /// The instance's JSON as it is now.
    pub fn instance_json(&self, instance: &InstanceRef) -> Option<serde_json::Value> {
        lock(&self.state)
            .instances
            .get(&instance.instance_id())
            .cloned()
    }

    /// Stores an element's bytes.
    pub fn put_data(&self, data_id: &str, bytes: impl Into<Bytes>) {
        lock(&self.state)
            .data
            .insert(data_id.to_owned(), bytes.into());
    }

    /// The next download of `data_id` goes wrong as `fault` says (queued in order).
    pub fn fault_download(&self, data_id: &str, fault: DownloadFault) {
        lock(&self.state)
            .faults
            .entry(data_id.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// The next `complete` fails with `error`.
    pub fn fail_complete(&self, error: ArchiveError) {
        lock(&self.state).complete_errors.push_back(error);
    }

    fn not_found(operation: &str) -> ArchiveError {
        ArchiveError::permanent(
            FailureReason::AltinnNotFound,
            format!("{operation}: HTTP 404"),
        )
    }

    fn add_data_element(&self, instance: &InstanceRef, element: serde_json::Value) {
        let mut state = lock(&self.state);
        if let Some(data) = state
            .instances
            .get_mut(&instance.instance_id())
            .and_then(|json| json.get_mut("data"))
            .and_then(|data| data.as_array_mut())
        {
            data.push(element);
        }
    }
}

impl AltinnSource for MemoryAltinn {
    async fn get_instance(&self, instance: &InstanceRef) -> Result<RawInstance, ArchiveError> {
        self.journal
            .record(format!("get_instance {}", instance.instance_id()));
        let json = self
            .instance_json(instance)
            .ok_or_else(|| Self::not_found("get_instance"))?;
        RawInstance::parse(Bytes::from(json.to_string())).map_err(|e| {
            ArchiveError::transient(FailureReason::AltinnUnexpectedResponse, e.to_string())
        })
    }

    async fn download_data(
        &self,
        _instance: &InstanceRef,
        data_id: &str,
    ) -> Result<Download, ArchiveError> {
        self.journal.record(format!("download {data_id}"));
        let (bytes, fault) = {
            let mut state = lock(&self.state);
            let fault = state
                .faults
                .get_mut(data_id)
                .and_then(|faults| faults.pop_front());
            (state.data.get(data_id).cloned(), fault)
        };
        let bytes = bytes.ok_or_else(|| Self::not_found("download_data"))?;
        let length = Some(bytes.len() as u64);
        let chunks: Vec<Result<Bytes, ArchiveError>> = match fault {
            None => vec![Ok(bytes)],
            Some(DownloadFault::Fails(error)) => return Err(error),
            Some(DownloadFault::CutShort) => vec![
                Ok(bytes.slice(..bytes.len() / 2)),
                Err(ArchiveError::transient(
                    FailureReason::AltinnUnreachable,
                    "download_data: the body was cut short",
                )),
            ],
            Some(DownloadFault::Corrupted) => {
                let mut corrupted = bytes.to_vec();
                if let Some(last) = corrupted.last_mut() {
                    *last ^= 0xff;
                }
                vec![Ok(Bytes::from(corrupted))]
            }
        };
        Ok(Download {
            content_length: length,
            body: futures_util::stream::iter(chunks).boxed(),
        })
    }

    async fn complete(&self, instance: &InstanceRef) -> Result<(), ArchiveError> {
        if let Some(error) = lock(&self.state).complete_errors.pop_front() {
            return Err(error);
        }
        let mut state = lock(&self.state);
        let json = state
            .instances
            .get_mut(&instance.instance_id())
            .ok_or_else(|| Self::not_found("complete"))?;
        let confirmation = serde_json::json!({ "stakeholderId": self.org });
        match json
            .get_mut("completeConfirmations")
            .and_then(|c| c.as_array_mut())
        {
            Some(confirmations) => confirmations.push(confirmation),
            None => json["completeConfirmations"] = serde_json::json!([confirmation]),
        }
        drop(state);
        self.journal
            .record(format!("complete {}", instance.instance_id()));
        Ok(())
    }

    async fn upload_receipt(
        &self,
        instance: &InstanceRef,
        settings: &ReceiptSettings,
        _receipt: &Receipt,
    ) -> Result<Option<String>, ArchiveError> {
        let id = uuid_like(instance);
        self.add_data_element(
            instance,
            serde_json::json!({
                "id": id,
                "dataType": settings.data_type,
                "filename": receipt_filename(instance, settings.format),
                "contentType": settings.format.content_type(),
                "size": 1,
            }),
        );
        self.journal
            .record(format!("receipt {}", instance.instance_id()));
        Ok(Some(id))
    }
}

/// A fixed id for the receipt element of `instance` (ids need only be unique per instance here).
fn uuid_like(instance: &InstanceRef) -> String {
    let guid = instance.instance_guid.to_string();
    format!("ffffffff{}", &guid[8..])
}
