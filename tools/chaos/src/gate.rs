//! An HTTP gate between the archiver's EventBridge client and `moto_server`.
//!
//! The hand-off check counts events exactly, so a bus outage must never lose the answer to a
//! request the bus did take: the sender would put that event again. Cutting TCP cannot promise
//! that (an answer still on its way when the connection goes is lost), so the gate decides per
//! request instead. Open, it forwards the whole request and the whole answer; closed, it answers
//! `503 ServiceUnavailable` at once and forwards nothing. Closing never touches a request already
//! forwarded, so every failed `PutEvents` is one moto never saw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running gate; stops when dropped.
#[derive(Debug)]
pub struct HttpGate {
    addr: SocketAddr,
    state: Arc<Gate>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Gate {
    target: String,
    client: reqwest::Client,
    closed: AtomicBool,
    refused: AtomicU64,
}

impl HttpGate {
    /// Listens on a free port of 127.0.0.1 and forwards every request to `target`
    /// (`http://host:port`).
    pub async fn start(target: &str) -> std::io::Result<HttpGate> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Gate {
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            closed: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .fallback(pass)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(HttpGate { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`: the endpoint to give the SDK client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the gate: every request from now on gets a 503 and goes no further.
    pub fn close(&self) {
        self.state.closed.store(true, Ordering::SeqCst);
    }

    /// Opens the gate again.
    pub fn open(&self) {
        self.state.closed.store(false, Ordering::SeqCst);
    }

    /// Requests refused while closed, so far.
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for HttpGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request: refused while closed, otherwise forwarded with its answer passed back whole.
async fn pass(State(gate): State<Arc<Gate>>, request: Request) -> Response {
    if gate.closed.load(Ordering::SeqCst) {
        gate.refused.fetch_add(1, Ordering::SeqCst);
        // The error shape of an AWS JSON protocol service, which the SDK retries as transient.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
            r#"{"__type":"ServiceUnavailableException","message":"the chaos run closed the bus"}"#,
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let forwarded = gate
        .client
        .request(parts.method, format!("{}{path}", gate.target))
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await;
    let answer = match forwarded {
        Ok(answer) => answer,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let status = answer.status();
    let headers = end_to_end(answer.headers());
    match answer.bytes().await {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

/// The headers that belong to the message rather than to one connection (the framing is
/// rebuilt by each side).
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for hop in [
        header::HOST,
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ] {
        kept.remove(hop);
    }
    kept
}
