//! Concurrent runs writing one correspondence's manifest: none loses a status another saw
//! (the types Altinn defines but does not publish yet are placed by their source).

use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;

use super::*;
use crate::store::{ConditionalPut, ElementUpload, StoreError, StoredObject, UploadError};

/// A [`MemoryArchive`] where another run stores `late` (key, bytes) just before our first
/// manifest PUT: after our listing, so the manifest we built misses it.
struct Racing {
    inner: MemoryArchive,
    late: Mutex<Option<(String, Bytes)>>,
}

impl ArchiveTarget for Racing {
    fn exists(&self, key: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        self.inner.exists(key)
    }
    fn list_keys(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        self.inner.list_keys(prefix)
    }
    fn stored_object(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredObject>, StoreError>> + Send {
        self.inner.stored_object(key)
    }
    fn upload_element<S, E>(
        &self,
        upload: &ElementUpload<'_>,
        body: S,
    ) -> impl Future<Output = Result<StoredObject, UploadError<E>>> + Send
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Send,
    {
        self.inner.upload_element(upload, body)
    }
    async fn put_small(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<StoredObject, StoreError> {
        if key.ends_with("/manifest.json") {
            let late = self.late.lock().unwrap().take();
            if let Some((late_key, late_bytes)) = late {
                self.inner.insert(&late_key, late_bytes, true);
            }
        }
        self.inner.put_small(key, bytes, content_type).await
    }
    fn put_small_if_absent(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<ConditionalPut, StoreError>> + Send {
        self.inner.put_small_if_absent(key, bytes, content_type)
    }
    fn get_bytes(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send {
        self.inner.get_bytes(key)
    }
    fn last_modified(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<SystemTime>, StoreError>> + Send {
        self.inner.last_modified(key)
    }
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.delete(key)
    }
    fn tag_object(
        &self,
        key: &str,
        tags: &[(&str, &str)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.tag_object(key, tags)
    }
    fn location(&self, prefix: &str) -> String {
        self.inner.location(prefix)
    }
}

#[tokio::test]
async fn an_event_stored_during_the_manifest_write_is_not_lost() {
    let journal = Journal::default();
    let archive = MemoryArchive::new(journal.clone());
    let racing = Racing {
        inner: archive.clone(),
        late: Mutex::new(None),
    };
    let mode = CorrespondenceMode::Recipient {
        orgno: ORGNO.into(),
    };
    let fixture = Fixture::over(mode, racing, archive, journal);
    let read = event(
        "correspondencereceiverread",
        "correspondence",
        fixture.id,
        "2026-12-04T09:00:00Z",
    );
    let late_key = fixture.key(&format!("events/{}.json", read["id"].as_str().unwrap()));
    *fixture.pipeline.target().late.lock().unwrap() =
        Some((late_key, Bytes::from(read.to_string())));

    let never = event(
        "correspondencereceiverneverread",
        "correspondence",
        fixture.id,
        "2026-12-18T08:00:00Z",
    );
    fixture.summary(&never).await;
    let manifest_puts = fixture
        .journal
        .count(&format!("put {}", fixture.key("manifest.json")));
    assert_eq!(manifest_puts, 2, "written again after the second listing");
    let manifest = fixture.manifest();
    let names: Vec<&str> = manifest
        .status_history
        .iter()
        .map(|s| s.status.as_str())
        .collect();
    assert_eq!(names, vec!["Read", "ReceiverNeverRead"]);
    assert_eq!(manifest.objects.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_end_with_every_status() {
    let fixture = Arc::new(Fixture::recipient());
    let types = [
        "correspondencereceiverread",
        "correspondencereceiverconfirmed",
        "correspondencereceiverneverread",
        "correspondencereceiverneverconfirmed",
        "correspondencepurged",
        "correspondencereceiverreplied",
        "correspondencearchived",
        "correspondencereceiverreserved",
    ];
    let runs: Vec<_> = types
        .iter()
        .enumerate()
        .map(|(minute, suffix)| {
            let fixture = fixture.clone();
            let body = event(
                suffix,
                "correspondence",
                fixture.id,
                &format!("2026-12-04T09:{minute:02}:00Z"),
            );
            // As SQS would: a transient failure (the manifest kept changing under this run)
            // brings the message back.
            tokio::spawn(async move {
                for _ in 0..5 {
                    match fixture.handle(&body).await {
                        Err(error) if error.reason == FailureReason::ManifestUnsettled => continue,
                        other => return other,
                    }
                }
                fixture.handle(&body).await
            })
        })
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }
    let manifest = fixture.manifest();
    assert_eq!(manifest.status_history.len(), types.len(), "{manifest:?}");
    assert_eq!(manifest.latest_status.unwrap().status, "Reserved");
}
