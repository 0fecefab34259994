//! The Altinn client's transport against the simulator: retries of transient failures,
//! `Retry-After`, permanent errors, and the token refresh after a 401.

mod support;

use std::time::{Duration, Instant};

use altinn::auth::TokenProvider;
use altinn::client::{AltinnClient, ClientError, RetryPolicy};
use altinn::environment::Allowlist;
use altinn::event::InstanceRef;
use altinn_sim::{Fault, FaultRule, InstanceSpec, Route};
use support::*;
use uuid::Uuid;

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
