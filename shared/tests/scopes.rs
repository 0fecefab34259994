//! Scopes per API against the simulator's request log: every call carries a token with only
//! its own API's scopes, each scope set is granted once however many callers arrive at once,
//! and different sets are granted separately.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use altinn::auth::ScopeSet;
use altinn::client::SubscriptionRequest;
use altinn::config::DEFAULT_SCOPES;
use altinn_sim::{Fault, FaultRule, InstanceSpec, Route, Simulator};
use futures_util::StreamExt;
use support::*;

const EVENTS_SERVICE_OWNER: &str = "altinn:serviceowner";
const EVENTS_GENERIC: &str = "altinn:serviceowner altinn:events.subscribe";

/// The `scope` claim of the Altinn token on each request of `routes`, in order.
fn scopes_on(sim: &Simulator, routes: &[Route]) -> Vec<String> {
    sim.requests()
        .iter()
        .filter(|r| r.route.is_some_and(|route| routes.contains(&route)))
        .map(|r| {
            let token = r
                .bearer_token()
                .expect("every Altinn call is authenticated");
            claims(token)["scope"]
                .as_str()
                .expect("a scope claim")
                .to_owned()
        })
        .collect()
}

/// The scopes granted so far: each exchange carries one grant's Maskinporten token.
fn granted(sim: &Simulator) -> Vec<String> {
    scopes_on(sim, &[Route::TokenExchange])
}

#[tokio::test]
async fn storage_and_app_calls_carry_only_the_instance_scopes() {
    let sim = start_sim().await;
    let client = client(&sim);
    let seeded = sim.add_instance(InstanceSpec::default());
    let instance = instance_ref(&seeded);
    client.get_instance(&instance).await.unwrap();
    client.get_app_instance(&instance).await.unwrap();
    let data_id = seeded.data[0].id.to_string();
    let mut stream = client.download_data(&instance, &data_id).await.unwrap();
    while let Some(chunk) = stream.body.next().await {
        chunk.unwrap();
    }
    client.complete(&instance).await.unwrap();
    client
        .query_completed_instances("ttd", "sim-app", 10, None)
        .await
        .unwrap();

    let routes = [
        Route::StorageGetInstance,
        Route::StorageGetData,
        Route::StorageComplete,
        Route::StorageQuery,
        Route::AppGetInstance,
    ];
    let scopes = scopes_on(&sim, &routes);
    assert_eq!(scopes.len(), 5);
    assert!(scopes.iter().all(|s| s == DEFAULT_SCOPES), "{scopes:?}");
    assert_eq!(
        granted(&sim),
        vec![DEFAULT_SCOPES],
        "one grant for all of them"
    );
}

#[tokio::test]
async fn subscription_calls_carry_only_what_events_needs() {
    let sim = start_sim().await;
    let client = client(&sim);
    let app = SubscriptionRequest {
        end_point: "http://127.0.0.1:9/webhook?code=not-a-real-secret".into(),
        source_filter: Some(format!("{}ttd/sim-app", sim.apps_url())),
        ..SubscriptionRequest::default()
    };
    let generic = SubscriptionRequest {
        end_point: app.end_point.clone(),
        resource_filter: Some("urn:altinn:resource:ttd-correspondence".into()),
        subject_filter: Some("urn:altinn:organization:identifier-no:910000001".into()),
        type_filter: Some("no.altinn.correspondence.correspondencepublished".into()),
        include_subunits: true,
        ..SubscriptionRequest::default()
    };
    let app_created = client.create_subscription(&app).await.unwrap();
    let generic_created = client.create_subscription(&generic).await.unwrap();
    assert_eq!(
        generic_created.subject_filter.as_deref(),
        Some("urn:altinn:organization:identifier-no:910000001")
    );
    assert!(generic_created.include_subunits);
    // Both belong to `/org/ttd`, so one list with the service-owner token shows both, and
    // the generic one can be read and deleted without altinn:events.subscribe.
    assert_eq!(app_created.consumer, generic_created.consumer);
    assert_eq!(client.list_subscriptions().await.unwrap().len(), 2);
    client.get_subscription(generic_created.id).await.unwrap();
    client
        .delete_subscription(generic_created.id)
        .await
        .unwrap();
    client.delete_subscription(app_created.id).await.unwrap();

    assert_eq!(
        scopes_on(&sim, &[Route::Subscriptions]),
        vec![
            EVENTS_SERVICE_OWNER, // create (app)
            EVENTS_GENERIC,       // create (generic resource)
            EVENTS_SERVICE_OWNER, // list
            EVENTS_SERVICE_OWNER, // get
            EVENTS_SERVICE_OWNER, // delete
            EVENTS_SERVICE_OWNER, // delete
        ]
    );
    assert_eq!(granted(&sim), vec![EVENTS_SERVICE_OWNER, EVENTS_GENERIC]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_scope_set_is_granted_once_and_separately() {
    let sim = start_sim().await;
    // Slow the first grants down so every caller arrives while they are in flight.
    sim.inject(FaultRule::times(
        Route::MaskinportenToken,
        Fault::Latency(Duration::from_millis(300)),
        3,
    ));
    let tokens = provider(&sim);
    let sets = [
        ScopeSet::Instances,
        ScopeSet::EventsServiceOwner,
        ScopeSet::EventsGenericResource,
    ];
    let start = Arc::new(tokio::sync::Barrier::new(sets.len() * 2));
    let calls: Vec<_> = sets
        .iter()
        .flat_map(|set| [*set, *set])
        .map(|set| {
            let tokens = tokens.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                (set, tokens.token_for(set).await)
            })
        })
        .collect();
    let mut values = BTreeSet::new();
    for call in calls {
        let (set, token) = call.await.unwrap();
        let token = token.expect("every caller gets a token");
        assert_eq!(
            claims(token.value.expose())["scope"],
            tokens.scopes(set),
            "{set:?}"
        );
        values.insert(token.value.expose().to_owned());
    }
    assert_eq!(values.len(), 3, "two callers of a set share its token");
    assert_eq!(count(&sim, Route::MaskinportenToken), 3);
    let mut granted = granted(&sim);
    granted.sort();
    assert_eq!(
        granted,
        vec![EVENTS_SERVICE_OWNER, EVENTS_GENERIC, DEFAULT_SCOPES]
    );

    // Cached per set: more calls grant nothing, and dropping one set's token leaves the others.
    let instances = tokens.token().await.unwrap();
    let generic = tokens
        .token_for(ScopeSet::EventsGenericResource)
        .await
        .unwrap();
    tokens.invalidate_token(&generic).await;
    assert_eq!(tokens.token().await.unwrap().value, instances.value);
    let renewed = tokens
        .token_for(ScopeSet::EventsGenericResource)
        .await
        .unwrap();
    assert_ne!(renewed.value, generic.value);
    assert_eq!(count(&sim, Route::MaskinportenToken), 4);
}

#[tokio::test]
async fn correspondence_sets_are_granted_with_their_own_scopes() {
    let sim = start_sim().await;
    let tokens = provider(&sim);
    let sender = tokens
        .token_for(ScopeSet::CorrespondenceSender)
        .await
        .unwrap();
    let sender = claims(sender.value.expose());
    assert_eq!(
        sender["scope"],
        "altinn:serviceowner altinn:correspondence.write"
    );
    assert_eq!(sender["urn:altinn:org"], "ttd");
    let recipient = tokens
        .token_for(ScopeSet::CorrespondenceRecipient)
        .await
        .unwrap();
    let recipient = claims(recipient.value.expose());
    assert_eq!(recipient["scope"], "altinn:correspondence.read");
    assert!(recipient.get("urn:altinn:org").is_none());
}

#[tokio::test]
async fn a_client_without_the_subscribe_scope_cannot_get_the_generic_token() {
    let sim = start_sim_with(altinn_sim::SimConfig {
        client_scopes: [DEFAULT_SCOPES, EVENTS_SERVICE_OWNER]
            .join(" ")
            .split(' ')
            .map(str::to_owned)
            .collect(),
        ..altinn_sim::SimConfig::default()
    })
    .await;
    let client = client(&sim);
    let generic = SubscriptionRequest {
        end_point: "http://127.0.0.1:9/webhook?code=not-a-real-secret".into(),
        resource_filter: Some("urn:altinn:resource:ttd-correspondence".into()),
        ..SubscriptionRequest::default()
    };
    let error = client.create_subscription(&generic).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("invalid_scope"), "{text}");
    assert!(!error.is_transient());
    assert_eq!(count(&sim, Route::Subscriptions), 0);
    // The other sets are unaffected.
    let seeded = sim.add_instance(InstanceSpec::default());
    client.get_instance(&instance_ref(&seeded)).await.unwrap();
}
