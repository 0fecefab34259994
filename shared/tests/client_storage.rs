//! The Altinn client's Storage and App calls against the simulator: both instance dialects,
//! streaming downloads, `complete`, and query paging.

mod support;

use std::collections::BTreeSet;

use altinn::client::{AltinnClient, ClientError};
use altinn_sim::{DataSpec, Fault, FaultRule, InstanceSpec, Route, Simulator};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use support::*;
use uuid::Uuid;

/// The exact bytes the simulator answers for `path`, fetched outside the client.
async fn fetch_raw(sim: &Simulator, client: &AltinnClient, path: &str) -> bytes::Bytes {
    let token = client.tokens().token().await.unwrap();
    let response = http()
        .get(sim.base_url().join(path).unwrap())
        .bearer_auth(token.value.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap()
}

#[tokio::test]
async fn get_instance_keeps_the_storage_dialect_bytes() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);

    let raw = client.get_instance(&instance_ref(&seeded)).await.unwrap();
    assert_eq!(raw.instance.id, seeded.instance_id());
    assert_eq!(raw.instance.app_id, seeded.app_id());
    assert_eq!(raw.instance.data.len(), 2);
    let json: serde_json::Value = serde_json::from_slice(&raw.raw).unwrap();
    assert_eq!(json["status"]["readStatus"], "Read", "Storage dialect");
    assert_eq!(
        Some(json),
        sim.instance_json(seeded.party_id, seeded.instance_guid)
    );

    let direct = fetch_raw(
        &sim,
        &client,
        &format!("storage/api/v1/instances/{}", seeded.instance_id()),
    )
    .await;
    assert_eq!(
        raw.raw, direct,
        "the bytes are kept exactly as Altinn sent them"
    );
    let request = sim
        .requests()
        .into_iter()
        .find(|r| r.route == Some(Route::StorageGetInstance))
        .unwrap();
    assert_eq!(request.accept.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn get_app_instance_keeps_the_app_dialect_bytes() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);

    let raw = client
        .get_app_instance(&instance_ref(&seeded))
        .await
        .unwrap();
    assert_eq!(raw.instance.id, seeded.instance_id());
    let json: serde_json::Value = serde_json::from_slice(&raw.raw).unwrap();
    assert_eq!(json["status"]["readStatus"], 1, "App dialect");
    assert!(json["instanceOwner"]["party"].is_object());
    assert_eq!(count(&sim, Route::AppGetInstance), 1);

    let direct = fetch_raw(
        &sim,
        &client,
        &format!(
            "{}/{}/instances/{}",
            seeded.org,
            seeded.app,
            seeded.instance_id()
        ),
    )
    .await;
    assert_eq!(raw.raw, direct);
}

#[tokio::test]
async fn download_streams_a_large_element_with_the_right_digest() {
    const SIZE: u64 = 64 * 1024 * 1024 + 13;
    let sim = start_sim().await;
    let seeded = sim.add_instance(
        InstanceSpec::new("sim-app", 50_002_001)
            .with_data(DataSpec::attachment("big.bin", SIZE, 7)),
    );
    let element = &seeded.data[0];
    let client = client(&sim);

    let mut download = client
        .download_data(&instance_ref(&seeded), &element.id.to_string())
        .await
        .unwrap();
    assert_eq!(download.content_length, Some(SIZE));
    assert_eq!(
        download.content_type.as_deref(),
        Some("application/octet-stream")
    );
    let mut hasher = Sha256::new();
    let (mut total, mut chunks, mut largest) = (0u64, 0usize, 0usize);
    while let Some(chunk) = download.body.next().await {
        let chunk = chunk.unwrap();
        total += chunk.len() as u64;
        chunks += 1;
        largest = largest.max(chunk.len());
        hasher.update(&chunk);
    }
    assert_eq!(total, SIZE);
    assert_eq!(hex::encode(hasher.finalize()), element.sha256_hex);
    // Streamed in pieces, never as one buffer.
    assert!(chunks > 64, "{chunks} chunks");
    assert!(largest <= 4 * 1024 * 1024, "largest chunk {largest}");
}

#[tokio::test]
async fn small_download_matches_the_stored_bytes() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let form = &seeded.data[0];
    let client = client(&sim);
    let download = client
        .download_data(&instance_ref(&seeded), &form.id.to_string())
        .await
        .unwrap();
    assert_eq!(
        download.content_type.as_deref(),
        Some(form.content_type.as_str())
    );
    let body: Vec<u8> = download
        .body
        .map(|chunk| chunk.unwrap())
        .collect::<Vec<_>>()
        .await
        .concat();
    assert_eq!(Some(body), sim.data_bytes(seeded.instance_guid, form.id));

    let error = client
        .download_data(&instance_ref(&seeded), "../../complete")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::InvalidInput { .. }),
        "{error:?}"
    );
    let error = client
        .download_data(&instance_ref(&seeded), &Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_truncated_body_ends_the_stream_with_a_transient_error() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(
        InstanceSpec::new("sim-app", 50_002_002).with_data(DataSpec::attachment(
            "cut.bin",
            256 * 1024,
            9,
        )),
    );
    sim.inject(FaultRule::times(
        Route::StorageGetData,
        Fault::TruncateBody {
            after_bytes: 10_000,
        },
        1,
    ));
    let client = client(&sim);
    let download = client
        .download_data(&instance_ref(&seeded), &seeded.data[0].id.to_string())
        .await
        .expect("the head arrives intact");
    assert_eq!(download.content_length, Some(256 * 1024));
    let items: Vec<_> = download.body.collect().await;
    let received: usize = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|c| c.len())
        .sum();
    assert!(received <= 10_000);
    let error = items
        .last()
        .unwrap()
        .as_ref()
        .expect_err("the stream ends with an error");
    assert!(
        matches!(
            error,
            ClientError::Transport {
                operation: "download_data",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn complete_is_idempotent() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);
    let first = client.complete(&instance_ref(&seeded)).await.unwrap();
    assert!(first.instance.is_confirmed_by("ttd"));
    let second = client.complete(&instance_ref(&seeded)).await.unwrap();
    assert!(second.instance.is_confirmed_by("ttd"));
    let confirmations = sim.complete_confirmations(seeded.party_id, seeded.instance_guid);
    assert_eq!(confirmations.len(), 1);
    assert_eq!(confirmations[0].0, "ttd");
    let request = sim
        .requests()
        .into_iter()
        .find(|r| r.route == Some(Route::StorageComplete))
        .unwrap();
    assert_eq!(request.method, "POST");
}

#[tokio::test]
async fn query_pages_through_completed_unconfirmed_instances() {
    let sim = start_sim().await;
    let mut expected = BTreeSet::new();
    for party in 0..5 {
        let seeded = sim.add_instance(InstanceSpec::new("sim-app", 50_003_000 + party));
        expected.insert(seeded.instance_id());
    }
    sim.add_instance(InstanceSpec::new("sim-app", 50_003_100).completed(false));
    sim.add_instance(InstanceSpec::new("other-app", 50_003_200));
    let confirmed = sim.add_instance(InstanceSpec::new("sim-app", 50_003_300));
    let client = client(&sim);
    client.complete(&instance_ref(&confirmed)).await.unwrap();

    let mut seen = BTreeSet::new();
    let mut pages = 0;
    let mut next: Option<String> = None;
    loop {
        let page = client
            .query_completed_instances("ttd", "sim-app", 2, next.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.instances.len() <= 2);
        for instance in &page.instances {
            assert!(
                seen.insert(instance.id.clone()),
                "{} seen twice",
                instance.id
            );
        }
        match page.next {
            Some(link) => next = Some(link),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen, expected);
    assert!(pages >= 3);

    let first_request = sim
        .requests()
        .into_iter()
        .find(|r| r.route == Some(Route::StorageQuery))
        .unwrap();
    let query: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(first_request.query.unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(query["org"], "ttd");
    assert_eq!(query["appId"], "ttd/sim-app");
    assert_eq!(query["process.isComplete"], "true");
    assert_eq!(query["excludeConfirmedBy"], "ttd");
    assert_eq!(query["size"], "2");

    // A bare continuation token works as well as the next link.
    let first = client
        .query_completed_instances("ttd", "sim-app", 2, None)
        .await
        .unwrap();
    let link = url::Url::parse(first.next.as_deref().unwrap()).unwrap();
    let token = link
        .query_pairs()
        .find(|(k, _)| k == "continuationToken")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let by_link = client
        .query_completed_instances("ttd", "sim-app", 2, first.next.as_deref())
        .await
        .unwrap();
    let by_token = client
        .query_completed_instances("ttd", "sim-app", 2, Some(&token))
        .await
        .unwrap();
    assert_eq!(by_link.instances, by_token.instances);
}
