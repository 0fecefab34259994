//! The Altinn client's Events subscriptions against the simulator, and the allowlist: forged
//! links and ids never receive a request.

mod support;

use altinn::client::{AltinnClient, ClientError, SubscriptionRequest};
use altinn::environment::{Allowlist, AltinnEnvironment};
use altinn::event::InstanceRef;
use altinn_sim::{InstanceSpec, Route};
use support::*;

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
