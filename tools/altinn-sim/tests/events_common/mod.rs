//! What the Events test files share: a webhook receiver on 127.0.0.1:0 that answers with a
//! chosen status and records what it got, and small wrappers of the subscription API.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use altinn_sim::Simulator;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub body: Value,
}

type Responder = Arc<dyn Fn(usize) -> u16 + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    respond: Responder,
}

/// A webhook that records what it gets and answers `respond(n)` to its n-th (0-based) POST.
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    pub server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(respond: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            received: Arc::clone(&received),
            respond: Arc::new(respond),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Receiver {
            url,
            received,
            server,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    pub fn of_type(&self, event_type: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.body["type"] == event_type)
            .collect()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let mut received = state.received.lock().expect("lock");
    received.push(Received {
        content_type: header("content-type"),
        authorization: header("authorization"),
        body: serde_json::from_slice(&body).expect("one JSON event per POST"),
    });
    let n = received.len() - 1;
    StatusCode::from_u16((state.respond)(n)).expect("status")
}

pub const VALIDATE: &str = "platform.events.validatesubscription";
pub const COMPLETED: &str = "app.instance.process.completed";

pub fn subscriptions_url(sim: &Simulator) -> String {
    format!("{}events/api/v1/subscriptions", sim.base_url())
}

pub async fn create(sim: &Simulator, token: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = http()
        .post(subscriptions_url(sim))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let text = response.text().await.expect("body");
    (
        status,
        location,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn app_source(sim: &Simulator, app: &str) -> String {
    format!("{}ttd/{app}", sim.apps_url())
}

pub async fn wait_validated(sim: &Simulator, id: i64) -> bool {
    wait_until(Duration::from_secs(10), || {
        sim.subscriptions()
            .iter()
            .any(|s| s["id"] == id && s["validated"] == true)
    })
    .await
}
