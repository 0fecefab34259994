//! The Altinn client against the simulator: both instance dialects, streaming downloads,
//! retries, token refresh after 401, complete, query paging, subscriptions, and the allowlist.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use altinn::auth::TokenProvider;
use altinn::client::{AltinnClient, ClientError, RetryPolicy, SubscriptionRequest};
use altinn::environment::{Allowlist, AltinnEnvironment};
use altinn::event::InstanceRef;
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
    assert_eq!(hex(&hasher.finalize()), element.sha256_hex);
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
async fn server_errors_are_retried_until_success() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::Status(500),
        2,
    ));
    let client = client(&sim);
    let raw = client.get_instance(&instance_ref(&seeded)).await.unwrap();
    assert_eq!(raw.instance.id, seeded.instance_id());
    assert_eq!(
        statuses(&sim, Route::StorageGetInstance),
        vec![500, 500, 200]
    );
}

#[tokio::test]
async fn persistent_server_errors_give_a_transient_error_after_max_attempts() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    sim.inject(FaultRule::always(
        Route::StorageComplete,
        Fault::Status(503),
    ));
    let client = client(&sim);
    let error = client.complete(&instance_ref(&seeded)).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Status {
                operation: "complete",
                status: 503,
                transient: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(
        count(&sim, Route::StorageComplete),
        fast_retry().max_attempts as usize
    );
    assert!(
        sim.complete_confirmations(seeded.party_id, seeded.instance_guid)
            .is_empty()
    );
}

#[tokio::test]
async fn dropped_connections_and_timeouts_are_retried() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client_with(
        &sim,
        RetryPolicy {
            request_timeout: Duration::from_millis(500),
            ..fast_retry()
        },
    );
    // Get the token first so the latency below only hits the instance call.
    client.tokens().token().await.unwrap();

    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::DropConnection,
        1,
    ));
    client.get_instance(&instance_ref(&seeded)).await.unwrap();
    assert_eq!(statuses(&sim, Route::StorageGetInstance), vec![0, 200]);

    sim.clear_requests();
    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::Latency(Duration::from_secs(3)),
        1,
    ));
    let started = Instant::now();
    client.get_instance(&instance_ref(&seeded)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the slow attempt was cut off"
    );
    assert_eq!(count(&sim, Route::StorageGetInstance), 2);

    sim.inject(FaultRule::always(
        Route::StorageGetInstance,
        Fault::Latency(Duration::from_secs(3)),
    ));
    let error = client
        .get_instance(&instance_ref(&seeded))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Transport { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(error.to_string().contains("timed out"), "{error}");
}

#[tokio::test]
async fn too_many_requests_waits_out_retry_after() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);
    client.tokens().token().await.unwrap();
    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    ));
    let started = Instant::now();
    client.get_instance(&instance_ref(&seeded)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(statuses(&sim, Route::StorageGetInstance), vec![429, 200]);
}

#[tokio::test]
async fn a_retry_after_beyond_max_delay_is_handed_to_the_caller() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);
    sim.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::TooManyRequests {
            retry_after_secs: 120,
        },
        1,
    ));
    let started = Instant::now();
    let error = client
        .get_instance(&instance_ref(&seeded))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.status(), Some(429));
    assert!(error.is_transient());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(count(&sim, Route::StorageGetInstance), 1);
}

#[tokio::test]
async fn not_found_and_forbidden_are_permanent_and_not_retried() {
    let sim = start_sim().await;
    let client = client(&sim);

    let missing = InstanceRef {
        org: "ttd".into(),
        app: "sim-app".into(),
        party_id: 50_009_999,
        instance_guid: Uuid::new_v4(),
    };
    let error = client.get_instance(&missing).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Status {
                status: 404,
                transient: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(count(&sim, Route::StorageGetInstance), 1);

    // An instance of another org: our token may not read it.
    let foreign = sim.add_instance(InstanceSpec::default().with_org("skd"));
    let error = client
        .get_instance(&instance_ref(&foreign))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(403));
    assert!(!error.is_transient());
    assert_eq!(count(&sim, Route::StorageGetInstance), 2);
}

#[tokio::test]
async fn revoked_token_is_refreshed_once_after_401() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);
    client.get_instance(&instance_ref(&seeded)).await.unwrap();
    sim.revoke_tokens();

    let raw = client.get_instance(&instance_ref(&seeded)).await.unwrap();
    assert_eq!(raw.instance.id, seeded.instance_id());
    assert_eq!(
        statuses(&sim, Route::StorageGetInstance),
        vec![200, 401, 200]
    );
    assert_eq!(count(&sim, Route::TokenExchange), 2);

    // Downloads recover the same way.
    sim.revoke_tokens();
    let download = client
        .download_data(&instance_ref(&seeded), &seeded.data[1].id.to_string())
        .await
        .unwrap();
    assert_eq!(download.content_length, Some(seeded.data[1].size));
    assert_eq!(statuses(&sim, Route::StorageGetData), vec![401, 200]);
}

#[tokio::test]
async fn a_second_401_is_permanent() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    sim.inject(FaultRule::always(
        Route::StorageGetInstance,
        Fault::Status(401),
    ));
    let client = client(&sim);
    let error = client
        .get_instance(&instance_ref(&seeded))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Status {
                status: 401,
                transient: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        count(&sim, Route::StorageGetInstance),
        2,
        "one retry with a fresh token"
    );
    assert_eq!(count(&sim, Route::TokenExchange), 2);
}

#[tokio::test]
async fn auth_failures_surface_through_the_client() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let client = client(&sim);

    // A transient Maskinporten failure is retried like any other.
    sim.inject(FaultRule::times(
        Route::MaskinportenToken,
        Fault::Status(503),
        1,
    ));
    client.get_instance(&instance_ref(&seeded)).await.unwrap();
    assert_eq!(statuses(&sim, Route::MaskinportenToken), vec![503, 200]);

    // A permanent one is not.
    client.tokens().invalidate().await;
    sim.clear_requests();
    sim.inject(FaultRule::always(Route::TokenExchange, Fault::Status(401)));
    let error = client
        .get_instance(&instance_ref(&seeded))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Auth(altinn::AuthError::Exchange { status: 401 })
        ),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(count(&sim, Route::TokenExchange), 1);
    assert_eq!(count(&sim, Route::StorageGetInstance), 0);
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

#[tokio::test]
async fn subscriptions_can_be_created_read_listed_and_deleted() {
    let sim = start_sim().await;
    let client = client(&sim);
    let request = SubscriptionRequest {
        // Nothing listens on port 9: the validation push fails in the background, which is fine.
        end_point: "http://127.0.0.1:9/webhook?code=not-a-real-secret".into(),
        source_filter: Some(format!("{}ttd/sim-app", sim.apps_url())),
        type_filter: Some("app.instance.process.completed".into()),
        ..SubscriptionRequest::default()
    };
    assert!(!format!("{request:?}").contains("not-a-real-secret"));

    let created = client.create_subscription(&request).await.unwrap();
    assert_eq!(created.end_point, request.end_point);
    assert_eq!(created.source_filter, request.source_filter);
    assert_eq!(created.type_filter, request.type_filter);
    assert_eq!(created.consumer.as_deref(), Some("/org/ttd"));
    assert_eq!(
        created.resource_filter.as_deref(),
        Some("urn:altinn:resource:app_ttd_sim-app")
    );

    // Re-creating an identical subscription returns the same one.
    let again = client.create_subscription(&request).await.unwrap();
    assert_eq!(again.id, created.id);

    let fetched = client.get_subscription(created.id).await.unwrap();
    assert_eq!(fetched.id, created.id);
    assert_eq!(fetched.end_point, created.end_point);

    let listed = client.list_subscriptions().await.unwrap();
    assert_eq!(listed.iter().filter(|s| s.id == created.id).count(), 1);

    client.delete_subscription(created.id).await.unwrap();
    let error = client.get_subscription(created.id).await.unwrap_err();
    assert_eq!(error.status(), Some(404));
    assert!(!error.is_transient());
    assert!(
        client
            .list_subscriptions()
            .await
            .unwrap()
            .iter()
            .all(|s| s.id != created.id)
    );

    // Altinn's validation errors are permanent.
    let invalid = SubscriptionRequest {
        end_point: "ftp://example.invalid/".into(),
        ..request
    };
    let error = client.create_subscription(&invalid).await.unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert_eq!(count(&sim, Route::Subscriptions), 8);
}

#[tokio::test]
async fn forged_links_and_ids_never_receive_a_request() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());

    // A production client whose tokens would come from the simulator: nothing may be sent.
    let prod = AltinnClient::new(
        http(),
        Allowlist::new(AltinnEnvironment::Prod, Some("ttd".into())),
        provider(&sim),
        fast_retry(),
    );
    let forged_org = InstanceRef {
        org: "evil".into(),
        ..instance_ref(&seeded)
    };
    let steering_org = InstanceRef {
        org: "127.0.0.1:1".into(),
        ..instance_ref(&seeded)
    };
    let dotted_org = InstanceRef {
        org: "ttd.evil.example".into(),
        ..instance_ref(&seeded)
    };
    let path_app = InstanceRef {
        app: "../../storage".into(),
        ..instance_ref(&seeded)
    };
    for forged in [&forged_org, &steering_org, &dotted_org, &path_app] {
        let error = prod.get_app_instance(forged).await.unwrap_err();
        assert!(
            matches!(error, ClientError::NotAllowed { .. }),
            "{forged:?}: {error:?}"
        );
        assert!(!error.is_transient());
    }
    let sim_query = format!(
        "{}storage/api/v1/instances?org=ttd&appId=ttd%2Fsim-app&continuationToken=x",
        sim.base_url()
    );
    for next in [
        "https://evil.example/storage/api/v1/instances?continuationToken=x",
        "https://platform.altinn.no.evil.example/storage/api/v1/instances",
        "https://platform.altinn.no:8443/storage/api/v1/instances",
        "http://platform.altinn.no/storage/api/v1/instances",
        sim_query.as_str(),
    ] {
        let error = prod
            .query_completed_instances("ttd", "sim-app", 10, Some(next))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::NotAllowed { .. }),
            "{next}: {error:?}"
        );
    }
    assert!(
        sim.requests().is_empty(),
        "nothing, not even a token request, was sent"
    );

    // A local client: a link to another port or another path on the platform is refused too.
    let local = client(&sim);
    let other_port = format!(
        "http://127.0.0.1:{}/storage/api/v1/instances",
        sim.addr().port() + 1
    );
    let other_path = format!("{}events/api/v1/subscriptions", sim.base_url());
    for next in [other_port.as_str(), other_path.as_str()] {
        let error = local
            .query_completed_instances("ttd", "sim-app", 10, Some(next))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::NotAllowed { .. }),
            "{next}: {error:?}"
        );
    }
    let foreign_app_org = InstanceRef {
        org: "skd".into(),
        ..instance_ref(&seeded)
    };
    let error = local.get_app_instance(&foreign_app_org).await.unwrap_err();
    assert!(
        matches!(error, ClientError::NotAllowed { .. }),
        "pinned org: {error:?}"
    );
    assert!(sim.requests().is_empty());

    // Legitimate calls, then: every request that carried a token went to a route we meant.
    local.get_instance(&instance_ref(&seeded)).await.unwrap();
    local
        .get_app_instance(&instance_ref(&seeded))
        .await
        .unwrap();
    local
        .query_completed_instances("ttd", "sim-app", 10, None)
        .await
        .unwrap();
    let expected_routes = [
        Route::TokenExchange,
        Route::StorageGetInstance,
        Route::AppGetInstance,
        Route::StorageQuery,
    ];
    for request in sim.requests() {
        match request.route {
            Some(Route::MaskinportenToken) => {
                assert!(
                    request.authorization.is_none(),
                    "the grant carries no token"
                )
            }
            Some(route) if expected_routes.contains(&route) => {
                assert!(request.authorization.is_some())
            }
            other => panic!("unexpected request to {other:?} {}", request.path),
        }
    }
}

#[tokio::test]
async fn a_token_provider_is_shared_by_clones() {
    let sim = start_sim().await;
    let seeded = sim.add_instance(InstanceSpec::default());
    let tokens = TokenProvider::new(http(), settings(&sim, kid_key(&sim)), sim.platform_url());
    let allowlist = Allowlist::new(local_environment(&sim), None);
    let a = AltinnClient::new(http(), allowlist.clone(), tokens.clone(), fast_retry());
    let b = a.clone();
    a.get_instance(&instance_ref(&seeded)).await.unwrap();
    b.get_app_instance(&instance_ref(&seeded)).await.unwrap();
    tokens.token().await.unwrap();
    assert_eq!(count(&sim, Route::TokenExchange), 1);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
