//! A minimal Lambda Runtime API emulator, and a function binary run under it.
//!
//! Why it exists: every other test calls the functions' libraries, so nothing checked that the
//! real `webhook` and `archiver` **binaries** serve an invocation: that `main` reads its
//! configuration, builds the tokio runtime `lambda_support::runtime::for_this_process` picks
//! for the memory size (single-threaded up to 1,769 MB, Tokio's worker pool above), talks to
//! the Runtime API the way Lambda's does, and answers. [`RuntimeApi`] plays Lambda's side of
//! that conversation on a free port of 127.0.0.1, and [`FunctionProcess`] starts a binary
//! against it with a Lambda-like environment.
//!
//! `cargo lambda watch` has such an emulator, but it needs cargo-lambda installed, builds the
//! function itself with `cargo run`, and sends a deadline in 1970; this one is in-process, takes
//! the binary cargo built for the test (`env!("CARGO_BIN_EXE_…")`), and tells the test exactly
//! what the function answered, so a test can assert on it and bound every wait.
//!
//! What it emulates (the Runtime API, version `2018-06-01`):
//! - `GET /runtime/invocation/next` waits (long poll) until an invocation is queued with
//!   [`RuntimeApi::queue`], then answers with its JSON payload and the headers Lambda sends:
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (epoch milliseconds,
//!   [`FUNCTION_TIMEOUT`] from the moment the function takes it),
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST /runtime/invocation/{id}/response` and `POST /runtime/invocation/{id}/error` record
//!   the invocation's [`Outcome`], which [`RuntimeApi::outcome`] waits for;
//! - `POST /runtime/init/error` is recorded ([`RuntimeApi::init_errors`]).
//!
//! Every POST is answered `202 Accepted`, as Lambda does. Not emulated: the Extensions and
//! Telemetry APIs, response streaming's trailers, SnapStart's `restore` routes, and Lambda's
//! freezing of the process between invocations.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

mod process;

pub use process::{FunctionProcess, lambda_environment};

/// The function timeout the emulator announces: each invocation's `Lambda-Runtime-Deadline-Ms`
/// is this long after the function receives it.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The account in the ARNs the emulator hands out.
pub const ACCOUNT_ID: &str = "123456789012";

/// How an invocation ended, as the function reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`: the function's result, as sent.
    Response(Bytes),
    /// `POST /runtime/invocation/{id}/error`: the error document (`errorType`,
    /// `errorMessage`) and the `Lambda-Runtime-Function-Error-Type` header, if any.
    Error {
        /// The `Lambda-Runtime-Function-Error-Type` header.
        error_type: Option<String>,
        /// The body, usually `{"errorType": …, "errorMessage": …}`.
        body: Bytes,
    },
}

impl Outcome {
    /// The response parsed as JSON.
    ///
    /// # Panics
    /// When the function reported an error or the response is not JSON: the test must fail.
    pub fn response_json(&self) -> Value {
        match self {
            Outcome::Response(body) => serde_json::from_slice(body).unwrap_or_else(|e| {
                panic!(
                    "the function's response is not JSON ({e}): {}",
                    String::from_utf8_lossy(body)
                )
            }),
            Outcome::Error { error_type, body } => panic!(
                "the function reported an error instead of a response ({error_type:?}): {}",
                String::from_utf8_lossy(body)
            ),
        }
    }
}

/// A `POST /runtime/init/error`: the function could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    /// The `Lambda-Runtime-Function-Error-Type` header.
    pub error_type: Option<String>,
    /// The error document.
    pub body: Bytes,
}

/// One queued invocation, not yet taken by the function.
struct Invocation {
    request_id: String,
    payload: Value,
}

#[derive(Default)]
struct Recorded {
    queued: VecDeque<Invocation>,
    outcomes: HashMap<String, Outcome>,
    init_errors: Vec<InitError>,
    next_requests: usize,
}

struct Inner {
    state: Mutex<Recorded>,
    /// Woken on every change of `state`; waiters re-check their condition.
    changed: Notify,
    function_arn: String,
}

impl Inner {
    fn update<T>(&self, change: impl FnOnce(&mut Recorded) -> T) -> T {
        let result = change(&mut self.state.lock().expect("emulator state poisoned"));
        self.changed.notify_waiters();
        result
    }

    /// Waits until `check` returns something. `check` runs under the lock, after the waiter is
    /// registered, so a change between the check and the wait cannot be missed.
    async fn wait_for<T>(&self, mut check: impl FnMut(&mut Recorded) -> Option<T>) -> T {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = check(&mut self.state.lock().expect("emulator state poisoned")) {
                return found;
            }
            notified.await;
        }
    }
}

/// The Lambda Runtime API emulator, serving on a free port of 127.0.0.1 until dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts serving on a free port of 127.0.0.1, on the current Tokio runtime.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start() -> RuntimeApi {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the Runtime API emulator on 127.0.0.1");
        let addr = listener.local_addr().expect("emulator address");
        let inner = Arc::new(Inner {
            state: Mutex::default(),
            changed: Notify::new(),
            function_arn: format!(
                "arn:aws:lambda:{}:{ACCOUNT_ID}:function:function-under-test",
                crate::REGION
            ),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&inner));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        RuntimeApi {
            addr,
            inner,
            server,
        }
    }

    /// `127.0.0.1:PORT`: the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an invocation with `payload` (the event) and returns its request id. The function
    /// receives it at its next (or current, waiting) `GET …/invocation/next`, in queue order.
    pub fn queue(&self, payload: Value) -> String {
        let request_id = uuid::Uuid::new_v4().to_string();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
        };
        self.inner
            .update(|state| state.queued.push_back(invocation));
        request_id
    }

    /// Waits until the function has reported the outcome of `request_id` (response or error).
    /// Never gives up by itself: put a timeout around it, or use [`FunctionProcess::invoke`].
    pub async fn outcome(&self, request_id: &str) -> Outcome {
        self.inner
            .wait_for(|state| state.outcomes.get(request_id).cloned())
            .await
    }

    /// Waits until `GET …/invocation/next` has been asked `count` times in all: the function
    /// is (back) at its loop's head, ready for an invocation.
    pub async fn next_requested(&self, count: usize) {
        self.inner
            .wait_for(|state| (state.next_requests >= count).then_some(()))
            .await;
    }

    /// How often `GET …/invocation/next` has been asked so far.
    pub fn next_requests(&self) -> usize {
        self.inner.state.lock().expect("state").next_requests
    }

    /// Every `POST …/init/error` so far.
    pub fn init_errors(&self) -> Vec<InitError> {
        self.inner.state.lock().expect("state").init_errors.clone()
    }
}

impl Drop for RuntimeApi {
    /// Stops accepting connections. A `next` the function is still waiting on ends when the
    /// function (killed with its [`FunctionProcess`]) or the test's runtime goes away.
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `GET /2018-06-01/runtime/invocation/next`: long poll for the next queued invocation.
async fn next_invocation(State(inner): State<Arc<Inner>>) -> Response {
    inner.update(|state| state.next_requests += 1);
    let invocation = inner.wait_for(|state| state.queued.pop_front()).await;
    let deadline_ms = (SystemTime::now() + FUNCTION_TIMEOUT)
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(
            name,
            HeaderValue::from_str(&value).expect("header value is ASCII"),
        );
    };
    set("lambda-runtime-aws-request-id", invocation.request_id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        inner.function_arn.clone(),
    );
    set("lambda-runtime-trace-id", trace_id());
    set(header::CONTENT_TYPE.as_str(), "application/json".to_owned());
    (StatusCode::OK, headers, invocation.payload.to_string()).into_response()
}

/// `POST /2018-06-01/runtime/invocation/{id}/response`.
async fn invocation_response(
    State(inner): State<Arc<Inner>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    record(&inner, request_id, Outcome::Response(body))
}

/// `POST /2018-06-01/runtime/invocation/{id}/error`.
async fn invocation_error(
    State(inner): State<Arc<Inner>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error_type = error_type(&headers);
    record(&inner, request_id, Outcome::Error { error_type, body })
}

/// `POST /2018-06-01/runtime/init/error`.
async fn init_error(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let error = InitError {
        error_type: error_type(&headers),
        body,
    };
    inner.update(|state| state.init_errors.push(error));
    StatusCode::ACCEPTED
}

/// Keeps the first outcome reported for an invocation (Lambda refuses a second one).
fn record(inner: &Inner, request_id: String, outcome: Outcome) -> StatusCode {
    inner.update(|state| {
        state.outcomes.entry(request_id).or_insert(outcome);
    });
    StatusCode::ACCEPTED
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// An X-Ray trace header like Lambda's: `Root=1-{epoch seconds, hex}-{96 random bits};…`.
fn trace_id() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{seconds:08x}-{};Parent={};Sampled=0",
        &random[..24],
        &random[16..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WAIT: Duration = Duration::from_secs(10);

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(WAIT)
            .build()
            .expect("client")
    }

    fn url(api: &RuntimeApi, path: &str) -> String {
        format!("http://{}/2018-06-01/runtime/{path}", api.address())
    }

    #[tokio::test]
    async fn next_waits_for_an_invocation_and_carries_lambdas_headers() {
        let api = RuntimeApi::start().await;
        let client = client();
        let next = tokio::spawn({
            let client = client.clone();
            let url = url(&api, "invocation/next");
            async move { client.get(url).send().await }
        });
        // The function is waiting at `next` before anything is queued: the long poll.
        tokio::time::timeout(WAIT, api.next_requested(1))
            .await
            .expect("next was asked");
        assert!(
            !next.is_finished(),
            "next answers only once something is queued"
        );

        let payload = json!({"hello": "lambda", "n": 1});
        let request_id = api.queue(payload.clone());
        let before = SystemTime::now();
        let response = tokio::time::timeout(WAIT, next)
            .await
            .expect("next answered")
            .expect("task")
            .expect("request");
        assert_eq!(response.status(), 200);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .unwrap_or_else(|| panic!("{name}"))
                .to_str()
                .expect("ASCII")
                .to_owned()
        };
        assert_eq!(header("lambda-runtime-aws-request-id"), request_id);
        let deadline = UNIX_EPOCH
            + Duration::from_millis(header("lambda-runtime-deadline-ms").parse().expect("ms"));
        let ahead = deadline
            .duration_since(before)
            .expect("deadline in the future");
        assert!(
            ahead <= FUNCTION_TIMEOUT + Duration::from_secs(1),
            "{ahead:?}"
        );
        assert!(ahead >= FUNCTION_TIMEOUT - WAIT, "{ahead:?}");
        assert!(header("lambda-runtime-invoked-function-arn").starts_with("arn:aws:lambda:"));
        assert!(header("lambda-runtime-trace-id").starts_with("Root=1-"));
        let body: Value = response.json().await.expect("JSON payload");
        assert_eq!(body, payload);

        let reply = client
            .post(url(&api, &format!("invocation/{request_id}/response")))
            .body(r#"{"ok":true}"#)
            .send()
            .await
            .expect("post response");
        assert_eq!(reply.status(), 202);
        let outcome = tokio::time::timeout(WAIT, api.outcome(&request_id))
            .await
            .expect("outcome recorded");
        assert_eq!(outcome.response_json(), json!({"ok": true}));
    }

    #[tokio::test]
    async fn errors_and_init_errors_are_recorded_and_accepted() {
        let api = RuntimeApi::start().await;
        let client = client();
        let first = api.queue(json!(1));
        let second = api.queue(json!(2));
        // Invocations come out in queue order.
        for expected in [&first, &second] {
            let response = client
                .get(url(&api, "invocation/next"))
                .send()
                .await
                .expect("next");
            let id = response.headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .expect("ASCII");
            assert_eq!(id, expected.as_str());
        }
        let error_body = r#"{"errorType":"Boom","errorMessage":"it broke"}"#;
        let reply = client
            .post(url(&api, &format!("invocation/{second}/error")))
            .header("lambda-runtime-function-error-type", "Unhandled")
            .body(error_body)
            .send()
            .await
            .expect("post error");
        assert_eq!(reply.status(), 202);
        let outcome = tokio::time::timeout(WAIT, api.outcome(&second))
            .await
            .expect("error recorded");
        assert_eq!(
            outcome,
            Outcome::Error {
                error_type: Some("Unhandled".to_owned()),
                body: Bytes::from_static(error_body.as_bytes()),
            }
        );

        let reply = client
            .post(url(&api, "init/error"))
            .header("lambda-runtime-function-error-type", "Runtime.InitError")
            .body(r#"{"errorType":"Config","errorMessage":"QUEUE_URL is missing"}"#)
            .send()
            .await
            .expect("post init error");
        assert_eq!(reply.status(), 202);
        let init_errors = api.init_errors();
        assert_eq!(init_errors.len(), 1);
        assert_eq!(
            init_errors[0].error_type.as_deref(),
            Some("Runtime.InitError")
        );
        assert_eq!(api.next_requests(), 2);
    }
}
