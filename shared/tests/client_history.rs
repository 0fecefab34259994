//! The Altinn client's calls for an instance's record beyond the instance, against the
//! simulator: instance events, process history and the app's metadata, each kept as the bytes
//! Storage sent.

mod support;

use altinn::client::ClientError;
use altinn_sim::{Fault, FaultRule, InstanceSpec, Route};
use support::*;

#[tokio::test]
async fn history_and_app_metadata_are_the_bytes_storage_sent() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);
    let reference = instance_ref(&seeded);
    let direct = |path: String| {
        let sim = &sim;
        async move {
            let response = http()
                .get(sim.base_url().join(&path).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.bytes().await.unwrap()
        }
    };

    let events = client.get_instance_events(&reference).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&events).unwrap();
    let types: Vec<&str> = json["instanceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"Created"), "{types:?}");
    assert_eq!(count(&sim, Route::StorageInstanceEvents), 1);

    let history = client.get_process_history(&reference).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&history).unwrap();
    assert!(json["processHistory"].is_array(), "{json}");
    assert_eq!(count(&sim, Route::StorageProcessHistory), 1);

    // Anonymous in Storage, so it can be fetched without a token to compare.
    let metadata = client
        .get_application(&seeded.org, &seeded.app)
        .await
        .unwrap();
    assert_eq!(
        metadata,
        direct(format!(
            "storage/api/v1/applications/{}/{}",
            seeded.org, seeded.app
        ))
        .await,
        "the bytes are kept exactly as Storage sent them"
    );
    let json: serde_json::Value = serde_json::from_slice(&metadata).unwrap();
    assert_eq!(json["id"], seeded.app_id());
    assert!(json["dataTypes"].is_array());
}

#[tokio::test]
async fn an_unknown_app_is_a_permanent_404_and_a_503_is_retried() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);

    let error = client
        .get_application(&seeded.org, "never-deployed")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Status { status: 404, .. }),
        "{error}"
    );
    assert!(!error.is_transient());
    assert!(matches!(
        client.get_application("ttd", "../other").await,
        Err(ClientError::NotAllowed { .. })
    ));

    sim.inject(FaultRule::times(
        Route::StorageProcessHistory,
        Fault::Status(503),
        1,
    ));
    client
        .get_process_history(&instance_ref(&seeded))
        .await
        .unwrap();
    assert_eq!(count(&sim, Route::StorageProcessHistory), 2);
}
