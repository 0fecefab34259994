//! `subscription --as-organisation`: a Correspondence recipient subscribes as the organisation
//! the correspondences are addressed to (`/organisation/{orgno}`), which is who Events
//! delivers another sender's events about that organisation to. A service-owner subscription
//! with the same subject filter gets nothing from another sender.

mod common;
mod subscription_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use altinn_sim::{CorrespondenceSpec, Route, SimConfig, Simulator};
use archive_ops::{EXIT_OK, EXIT_USAGE};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subscription_common::{SECRET, altinn_env, json, run};
use testkit::MotoServer;

/// The simulator's test client speaks for this organisation number.
const OUR_ORGNO: &str = "991825827";
const OUR_SUBJECT: &str = "urn:altinn:organization:identifier-no:991825827";
const RESOURCE_ID: &str = "skd-letters";

/// The event types each path of the stand-in webhook received (validation events included).
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, String)>>>);

impl Received {
    fn types_at(&self, path: &str) -> Vec<String> {
        let all = self.0.lock().unwrap();
        all.iter()
            .filter(|(at, _)| at == path)
            .map(|(_, event_type)| event_type.clone())
            .collect()
    }
}

async fn record(State(received): State<Received>, uri: Uri, body: String) -> StatusCode {
    let event: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let event_type = event["type"].as_str().unwrap_or_default().to_owned();
    received
        .0
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), event_type));
    StatusCode::OK
}

async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/organisation", post(record))
        .route("/service-owner", post(record))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, received)
}

/// The `scope` claim of an Altinn token.
fn token_scope(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
            .expect("JSON claims");
    claims["scope"].as_str().expect("scope").to_owned()
}

fn create_words(endpoint: &str, as_organisation: bool) -> Vec<&str> {
    let mut words = vec!["subscription", "create"];
    if as_organisation {
        words.push("--as-organisation");
    }
    words.extend([
        "--endpoint",
        endpoint,
        "--resource",
        "urn:altinn:resource:skd-letters",
        "--subject",
        OUR_SUBJECT,
        "--wait",
        "--json",
    ]);
    words
}

#[tokio::test]
async fn a_recipient_subscribes_as_the_organisation_and_gets_what_is_addressed_to_it() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    sim.register_org_number("skd", "974761076");
    let (hook, received) = receiver().await;
    let mut env = altinn_env(&sim);
    env.insert("WEBHOOK_SECRET", SECRET.to_owned());

    let as_organisation = format!("{hook}/organisation");
    let created = run(&moto, &env, &create_words(&as_organisation, true)).await;
    assert_eq!(created.code, EXIT_OK, "{}", created.err);
    let view = json(&created);
    assert_eq!(view["consumer"], format!("/organisation/{OUR_ORGNO}"));
    assert_eq!(view["subjectFilter"], OUR_SUBJECT);
    assert_eq!(view["validated"], true);
    assert!(
        created.err.contains("carries altinn:events.subscribe"),
        "{}",
        created.err
    );
    // The service owner's subscription with the same filters, for comparison.
    let as_service_owner = format!("{hook}/service-owner");
    let created = run(&moto, &env, &create_words(&as_service_owner, false)).await;
    assert_eq!(created.code, EXIT_OK, "{}", created.err);
    assert_eq!(json(&created)["consumer"], "/org/ttd");

    // Each identity lists only its own.
    let listed = run(
        &moto,
        &env,
        &["subscription", "list", "--as-organisation", "--json"],
    )
    .await;
    let listed = json(&listed);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["consumer"], format!("/organisation/{OUR_ORGNO}"));
    // Every call as the organisation (create, the validation polls, list) carries only
    // altinn:events.subscribe; the service owner's create and polls carry its scope.
    let scopes: Vec<(String, String)> = sim
        .requests()
        .iter()
        .filter(|r| r.route == Some(Route::Subscriptions))
        .map(|r| {
            let scope = token_scope(r.bearer_token().expect("authenticated"));
            (r.method.clone(), scope)
        })
        .collect();
    let posts: Vec<&str> = scopes
        .iter()
        .filter(|(method, _)| method == "POST")
        .map(|(_, scope)| scope.as_str())
        .collect();
    assert_eq!(
        posts,
        [
            "altinn:events.subscribe",
            "altinn:serviceowner altinn:events.subscribe"
        ]
    );
    assert_eq!(
        scopes.last().map(|(_, scope)| scope.as_str()),
        Some("altinn:events.subscribe"),
        "the list"
    );

    // Another sender's correspondence to us reaches the organisation's subscription only.
    let letter = sim.add_correspondence(CorrespondenceSpec::new(RESOURCE_ID, "skd", OUR_ORGNO));
    sim.publish_correspondence(letter.id);
    let published = "no.altinn.correspondence.correspondencepublished";
    for _ in 0..100 {
        if received
            .types_at("/organisation")
            .iter()
            .any(|t| t == published)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        received
            .types_at("/organisation")
            .iter()
            .any(|t| t == published),
        "{:?}",
        received.types_at("/organisation")
    );
    assert!(
        !received
            .types_at("/service-owner")
            .iter()
            .any(|t| t == published),
        "{:?}",
        received.types_at("/service-owner")
    );
}

#[tokio::test]
async fn the_organisation_cannot_make_app_subscriptions_or_rotate() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut env = altinn_env(&sim);
    env.insert("WEBHOOK_SECRET", SECRET.to_owned());
    let app = run(
        &moto,
        &env,
        &[
            "subscription",
            "create",
            "--as-organisation",
            "--endpoint",
            "http://127.0.0.1:9/events",
            "--app",
            "ttd/my-app",
        ],
    )
    .await;
    assert_eq!(app.code, EXIT_USAGE, "{}", app.err);
    assert!(app.err.contains("generic resources"), "{}", app.err);
    let rotate = run(
        &moto,
        &env,
        &[
            "subscription",
            "--as-organisation",
            "rotate",
            "--old-id",
            "1",
            "--endpoint",
            "http://127.0.0.1:9/events",
        ],
    )
    .await;
    assert_eq!(rotate.code, EXIT_USAGE, "{}", rotate.err);
    assert!(rotate.err.contains("service owner"), "{}", rotate.err);
    assert!(sim.subscriptions().is_empty());
}
