//! The archive store against a real S3 protocol server (moto): streaming uploads below and above
//! the part size, the checks that keep a bad body from ever becoming an archived object, the
//! conditional manifest, and reading events back in order.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use altinn::CorrespondenceRef;
use archiver::manifest::{MANIFEST_VERSION, Manifest};
use archiver::store::{ConditionalPut, ElementUpload, UploadError, encoded_filename};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use common::*;
use futures_util::StreamExt;
use md5::{Digest as _, Md5};

const PART: usize = 5 * MIB;

fn upload<'a>(
    key: &'a str,
    bytes: &[u8],
    filename: Option<&'a str>,
    with_md5: bool,
) -> ElementUpload<'a> {
    ElementUpload {
        key,
        content_type: "application/pdf",
        filename,
        data_type: "attachment",
        size: bytes.len() as u64,
        md5: with_md5.then(|| Md5::digest(bytes).into()),
        last_changed: Some(LAST_CHANGED),
    }
}

/// The element's `lastChanged` in the uploads here.
const LAST_CHANGED: &str = "2026-11-01T10:00:00.1234567Z";

fn body(
    chunks: Vec<Bytes>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::iter(chunks.into_iter().map(Ok))
}

#[tokio::test]
async fn small_element_is_one_verified_put_with_metadata() {
    let (_moto, store) = store_with_part_size(PART).await;
    let bytes = test_bytes(100_000, 1);
    let filename = "Søknad (endelig).pdf";
    let target = upload("archive/x/data/small", &bytes, Some(filename), true);

    let stored = store
        .upload_element(&target, body(chunked(&bytes, 1)))
        .await
        .unwrap();
    assert_eq!(stored.size, bytes.len() as u64);
    assert_eq!(stored.sha256, sha256_hex(&bytes));
    assert_eq!(
        store.get_bytes(target.key).await.unwrap().unwrap(),
        Bytes::from(bytes.clone())
    );

    let head = store.head(target.key).await.unwrap().unwrap();
    let metadata = head.metadata().unwrap();
    assert_eq!(metadata["sha256"], sha256_hex(&bytes));
    assert_eq!(metadata["md5"], BASE64.encode(Md5::digest(&bytes)));
    assert_eq!(metadata["datatype"], "attachment");
    assert_eq!(metadata["filename"], encoded_filename(filename));
    assert_eq!(head.content_type(), Some("application/pdf"));
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename*=UTF-8''S%C3%B8knad%20%28endelig%29.pdf")
    );

    // Already archived: the right size and MD5 are recognised, anything else is not.
    assert_eq!(store.archived_element(&target).await.unwrap(), Some(stored));
    let other_md5 = ElementUpload {
        md5: Some([0; 16]),
        ..target.clone()
    };
    assert_eq!(store.archived_element(&other_md5).await.unwrap(), None);
    let other_size = ElementUpload {
        size: 99_999,
        ..target.clone()
    };
    assert_eq!(store.archived_element(&other_size).await.unwrap(), None);
    // The element changed in Altinn since (same size, no contentHash): archived again.
    let other_version = ElementUpload {
        md5: None,
        last_changed: Some("2026-11-02T08:00:00Z"),
        ..target.clone()
    };
    assert_eq!(store.archived_element(&other_version).await.unwrap(), None);
    let unknown_version = ElementUpload {
        last_changed: None,
        ..target.clone()
    };
    assert!(
        store
            .archived_element(&unknown_version)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn large_element_streams_through_multipart_and_s3_confirms_the_sha256() {
    let (_moto, store) = store_with_part_size(PART).await;
    // Two full parts and a short one, in chunks that straddle the part boundaries.
    let bytes = test_bytes(2 * PART + 12_345, 2);
    let target = upload("archive/x/data/large", &bytes, Some("stor.bin"), true);

    let stored = store
        .upload_element(&target, body(chunked(&bytes, 2)))
        .await
        .unwrap();
    assert_eq!(stored.sha256, sha256_hex(&bytes));
    let got = store.get_bytes(target.key).await.unwrap().unwrap();
    assert!(got[..] == bytes[..], "S3 holds exactly the streamed bytes");

    let head = store.head(target.key).await.unwrap().unwrap();
    let metadata = head.metadata().unwrap();
    assert_eq!(
        metadata["sha256"],
        sha256_hex(&bytes),
        "sha256 metadata set by the in-place copy"
    );
    assert_eq!(metadata["filename"], "stor.bin");
    assert_eq!(head.content_type(), Some("application/pdf"));
    let full_sha256 = BASE64.encode(sha2::Sha256::digest(&bytes));
    assert_eq!(
        head.checksum_sha256(),
        Some(full_sha256.as_str()),
        "S3's own full-object SHA-256"
    );
    assert_eq!(open_multipart_uploads(&store).await, 0);
    assert!(store.archived_element(&target).await.unwrap().is_some());

    // An exact multiple of the part size has no short last part.
    let exact = test_bytes(2 * PART, 3);
    let exact_target = upload("archive/x/data/exact", &exact, None, false);
    store
        .upload_element(&exact_target, body(chunked(&exact, 3)))
        .await
        .unwrap();
    let got = store.get_bytes(exact_target.key).await.unwrap().unwrap();
    assert!(got[..] == exact[..]);
}

#[tokio::test]
async fn bodies_that_do_not_match_never_become_archived_objects() {
    let (_moto, store) = store_with_part_size(PART).await;
    let bytes = test_bytes(PART + 100_000, 4);

    // Shorter than `size` (a multipart upload was already under way): aborted.
    let short = upload("archive/x/data/short", &bytes, None, false);
    let error = store
        .upload_element(&short, body(chunked(&bytes[..PART + 10], 4)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, UploadError::SizeMismatch { actual, .. } if actual == PART as u64 + 10),
        "{error}"
    );

    // Longer than `size`: stopped as soon as it overflows.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"extra");
    let long = upload("archive/x/data/long", &bytes, None, false);
    let error = store
        .upload_element(&long, body(chunked(&longer, 5)))
        .await
        .unwrap_err();
    assert!(matches!(error, UploadError::TooLong { .. }), "{error}");

    // Right length, wrong content: Altinn's MD5 catches it before the last part goes up.
    let mut flipped = bytes.clone();
    flipped[PART + 7] ^= 0xff;
    let wrong = upload("archive/x/data/wrong", &bytes, None, true);
    let error = store
        .upload_element(&wrong, body(chunked(&flipped, 6)))
        .await
        .unwrap_err();
    assert!(matches!(error, UploadError::Md5Mismatch { .. }), "{error}");

    // Single put path, too.
    let small = test_bytes(1000, 7);
    let small_wrong = upload("archive/x/data/small-wrong", &small, None, true);
    let error = store
        .upload_element(&small_wrong, body(vec![Bytes::from(test_bytes(1000, 8))]))
        .await
        .unwrap_err();
    assert!(matches!(error, UploadError::Md5Mismatch { .. }), "{error}");

    // A body that fails midway (a connection cut short).
    let failing = futures_util::stream::iter(chunked(&bytes[..PART + 50], 9).into_iter().map(Ok))
        .chain(futures_util::stream::once(async {
            Err(std::io::Error::other("connection reset"))
        }));
    let cut = upload("archive/x/data/cut", &bytes, None, false);
    let error = store.upload_element(&cut, failing).await.unwrap_err();
    assert!(matches!(error, UploadError::Body(_)), "{error}");

    for key in ["short", "long", "wrong", "small-wrong", "cut"] {
        let key = format!("archive/x/data/{key}");
        assert!(
            store.head(&key).await.unwrap().is_none(),
            "{key} must not exist"
        );
    }
    assert_eq!(
        open_multipart_uploads(&store).await,
        0,
        "every multipart upload was aborted"
    );
}

#[tokio::test]
async fn a_cancelled_upload_is_aborted_and_a_half_done_object_is_not_archived() {
    let (_moto, store) = store_with_part_size(PART).await;
    let bytes = test_bytes(PART + 1000, 10);
    let key = "archive/x/data/stalled";
    let target = upload(key, &bytes, None, false);
    // The body stalls after the first part: the upload is in progress when the task is dropped.
    // The stall says when it is reached: the store then holds the upload's id. (Moto lists an
    // upload as soon as it creates it, before the store has the id and could abort it.)
    let stalled_at = Arc::new(AtomicBool::new(false));
    let stall = Arc::clone(&stalled_at);
    let stalled = futures_util::stream::iter(
        chunked(&bytes[..PART + 1], 11)
            .into_iter()
            .map(Ok::<_, std::io::Error>),
    )
    .chain(futures_util::stream::poll_fn(move |_| {
        stall.store(true, Ordering::SeqCst);
        Poll::Pending
    }));
    let task_store = store.clone();
    let owned_target = ElementUpload {
        key,
        ..target.clone()
    };
    let task = tokio::spawn(async move {
        let _ = task_store.upload_element(&owned_target, stalled).await;
    });
    let mut waited = Duration::ZERO;
    while !stalled_at.load(Ordering::SeqCst) || open_multipart_uploads(&store).await == 0 {
        assert!(
            waited < Duration::from_secs(20),
            "the multipart upload never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    task.abort();
    let _ = task.await;
    let mut waited = Duration::ZERO;
    while open_multipart_uploads(&store).await != 0 {
        assert!(
            waited < Duration::from_secs(20),
            "the dropped upload was not aborted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }

    // An object left without our sha256 metadata (a crash between complete and copy) is not
    // taken for an archived element.
    store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(key)
        .body(ByteStream::from(bytes.clone()))
        .send()
        .await
        .unwrap();
    assert!(store.exists(key).await.unwrap());
    assert_eq!(store.archived_element(&target).await.unwrap(), None);
}

#[tokio::test]
async fn only_one_manifest_put_wins() {
    let (_moto, store) = store_with_part_size(PART).await;
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        instance_id: "1/2".into(),
        app_id: "ttd/app".into(),
        archived_at: "2026-01-01T00:00:00Z".into(),
        event_id: "e".into(),
        event_type: "app.instance.process.completed".into(),
        objects: vec![],
        skipped_data_elements: vec![],
    };
    let key = "archive/ttd/app/1/2/manifest.json";
    let (first, second) = tokio::join!(
        store.put_manifest(key, &manifest),
        store.put_manifest(key, &manifest)
    );
    let outcomes = [first.unwrap(), second.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, ConditionalPut::Created(_)))
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == ConditionalPut::AlreadyExists)
            .count(),
        1
    );
    assert_eq!(store.get_manifest(key).await.unwrap(), Some(manifest));
}

#[tokio::test]
async fn correspondence_history_reads_back_in_time_order() {
    let (_moto, store) = store_with_part_size(PART).await;
    let correspondence = CorrespondenceRef {
        resource: "urn:altinn:resource:skd-melding".into(),
        resourceinstance: "0f4a5b6c-0000-4000-8000-00000000c0de".into(),
    };
    // Stored in an order that is neither the ids' nor the times'.
    let events = [
        (
            "c-id",
            "2026-03-01T10:00:02+01:00",
            "no.altinn.correspondence.correspondencereceiverread",
        ),
        (
            "a-id",
            "2026-03-01T09:00:03Z",
            "no.altinn.correspondence.correspondencereceiverconfirmed",
        ),
        (
            "b-id",
            "2026-03-01T08:59:59.5Z",
            "no.altinn.correspondence.correspondencepublished",
        ),
    ];
    for (id, time, event_type) in events {
        let json = serde_json::json!({
            "specversion": "1.0", "id": id, "time": time, "type": event_type,
            "source": "https://platform.tt02.altinn.no/correspondence/api/v1/correspondence",
            "resource": correspondence.resource, "resourceinstance": correspondence.resourceinstance,
        });
        let key = store
            .layout()
            .correspondence_event(&correspondence, id)
            .unwrap();
        let put = store
            .put_small_if_absent(&key, Bytes::from(json.to_string()), "application/json")
            .await
            .unwrap();
        assert!(matches!(put, ConditionalPut::Created(_)));
    }
    let history = store.correspondence_history(&correspondence).await.unwrap();
    let order: Vec<&str> = history.iter().map(|e| e.id.as_str()).collect();
    // 08:59:59.5Z, then 09:00:02Z (10:00:02+01:00), then 09:00:03Z.
    assert_eq!(order, ["b-id", "c-id", "a-id"]);
    assert_eq!(
        history[0].event_type,
        "no.altinn.correspondence.correspondencepublished"
    );

    let other = CorrespondenceRef {
        resourceinstance: "another".into(),
        ..correspondence
    };
    assert!(
        store
            .correspondence_history(&other)
            .await
            .unwrap()
            .is_empty()
    );
}
