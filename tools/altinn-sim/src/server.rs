//! The HTTP server: the axum router of simulated endpoints, wrapped in a hyper service that logs
//! each request and applies injected faults before the router sees it. hyper is driven directly
//! (not through `axum::serve`) because dropping a connection without any response needs the
//! service to fail, which `axum::serve` cannot express.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{HeaderMap, Request, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service as _;

use crate::authentication::exchange_endpoint;
use crate::events::{
    create_subscription, delete_subscription, get_subscription, list_subscriptions,
};
use crate::faults::{Fault, classify, status_response, too_many_requests, truncate};
use crate::maskinporten::token_endpoint;
use crate::platform::{
    app_complete, app_get_data, app_get_instance, app_post_data, app_post_data_type,
    app_process_history, app_process_next, app_substatus, storage_complete, storage_data_elements,
    storage_get_application, storage_get_data, storage_get_instance, storage_instance_events,
    storage_process_history, storage_query, storage_substatus,
};
use crate::state::{RequestRecord, Shared};

/// Every Storage and App route the router serves, as `(method, path)` with the path exactly as
/// routed (Storage under `/storage/api/v1`, App under `/{org}/{app}`). The contract tests check
/// each against Altinn's own OpenAPI documents; a route added to [`router`] belongs here too, and
/// a test checks that every row is routed.
pub const SERVED_ROUTES: &[(&str, &str)] = &[
    ("GET", "/storage/api/v1/instances"),
    ("GET", "/storage/api/v1/instances/{party}/{guid}"),
    (
        "GET",
        "/storage/api/v1/instances/{party}/{guid}/data/{data}",
    ),
    ("POST", "/storage/api/v1/instances/{party}/{guid}/complete"),
    ("PUT", "/storage/api/v1/instances/{party}/{guid}/substatus"),
    ("GET", "/storage/api/v1/instances/{party}/{guid}/events"),
    (
        "GET",
        "/storage/api/v1/instances/{party}/{guid}/process/history",
    ),
    (
        "GET",
        "/storage/api/v1/instances/{party}/{guid}/dataelements",
    ),
    ("GET", "/storage/api/v1/applications/{org}/{app}"),
    ("GET", "/{org}/{app}/instances/{party}/{guid}"),
    ("POST", "/{org}/{app}/instances/{party}/{guid}/data"),
    (
        "POST",
        "/{org}/{app}/instances/{party}/{guid}/data/type/{data_type}",
    ),
    ("GET", "/{org}/{app}/instances/{party}/{guid}/data/{data}"),
    ("POST", "/{org}/{app}/instances/{party}/{guid}/complete"),
    ("PUT", "/{org}/{app}/instances/{party}/{guid}/process/next"),
    (
        "GET",
        "/{org}/{app}/instances/{party}/{guid}/process/history",
    ),
    ("PUT", "/{org}/{app}/instances/{party}/{guid}/substatus"),
];

/// Every simulated route on one host.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/maskinporten/token", post(token_endpoint))
        .route(
            "/authentication/api/v1/exchange/{provider}",
            get(exchange_endpoint),
        )
        .route("/storage/api/v1/instances", get(storage_query))
        .route(
            "/storage/api/v1/instances/{party}/{guid}",
            get(storage_get_instance),
        )
        .route(
            "/storage/api/v1/instances/{party}/{guid}/data/{data}",
            get(storage_get_data),
        )
        .route(
            "/storage/api/v1/instances/{party}/{guid}/complete",
            post(storage_complete),
        )
        .route(
            "/storage/api/v1/instances/{party}/{guid}/substatus",
            put(storage_substatus),
        )
        .route(
            "/storage/api/v1/instances/{party}/{guid}/events",
            get(storage_instance_events),
        )
        .route(
            "/storage/api/v1/instances/{party}/{guid}/process/history",
            get(storage_process_history),
        )
        .route(
            "/storage/api/v1/instances/{party}/{guid}/dataelements",
            get(storage_data_elements),
        )
        .route(
            "/storage/api/v1/applications/{org}/{app}",
            get(storage_get_application),
        )
        .route(
            "/events/api/v1/subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/events/api/v1/subscriptions/{id}",
            get(get_subscription).delete(delete_subscription),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}",
            get(app_get_instance),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}/data",
            post(app_post_data),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}/data/{data}",
            get(app_get_data),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}/data/type/{data_type}",
            post(app_post_data_type),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}/complete",
            post(app_complete),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}/process/next",
            put(app_process_next),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}/process/history",
            get(app_process_history),
        )
        .route(
            "/{org}/{app}/instances/{party}/{guid}/substatus",
            put(app_substatus),
        )
        .merge(crate::correspondence::router())
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not simulated").into_response() })
        .with_state(shared)
}

/// The error that makes hyper close a connection without writing a response.
#[derive(Debug)]
pub(crate) struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

/// Altinn's API gateway key header (Correspondence documents it; no Altinn API code reads it).
const SUBSCRIPTION_KEY_HEADER: header::HeaderName =
    header::HeaderName::from_static("ocp-apim-subscription-key");

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Logs the request, applies a fault if one fires, otherwise lets the router answer.
async fn handle(
    shared: Arc<Shared>,
    mut router: Router,
    request: Request<Incoming>,
) -> Result<Response, DroppedByFault> {
    let request = request.map(Body::new);
    let path = request.uri().path().to_owned();
    let (route, instance) = classify(&path);
    let index = shared.record_request(RequestRecord {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.uri().query().map(str::to_owned),
        host: header_string(request.headers(), header::HOST),
        authorization: header_string(request.headers(), header::AUTHORIZATION),
        accept: header_string(request.headers(), header::ACCEPT),
        content_type: header_string(request.headers(), header::CONTENT_TYPE),
        subscription_key: header_string(request.headers(), SUBSCRIPTION_KEY_HEADER),
        route,
        status: 0,
    });
    let method = request.method().clone();
    let fault = shared.take_fault(route, instance);
    if let Some(fault) = &fault {
        tracing::debug!(%method, %path, ?fault, "injecting fault");
    }
    let response = match fault {
        Some(Fault::DropConnection) => return Err(DroppedByFault),
        Some(Fault::Status(code)) => status_response(code),
        Some(Fault::TooManyRequests { retry_after_secs }) => too_many_requests(retry_after_secs),
        Some(Fault::Latency(delay)) => {
            tokio::time::sleep(delay).await;
            call(&mut router, request).await
        }
        Some(Fault::TruncateBody { after_bytes }) => {
            truncate(call(&mut router, request).await, after_bytes)
        }
        None => call(&mut router, request).await,
    };
    shared.set_status(index, response.status().as_u16());
    tracing::debug!(%method, %path, status = response.status().as_u16(), "answered");
    Ok(response)
}

async fn call(router: &mut Router, request: Request<Body>) -> Response {
    // Router is always ready and its error type is Infallible.
    match router.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Accepts connections until `shutdown` turns true; then stops every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = router(Arc::clone(&shared));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                let router = router.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(Arc::clone(&shared), router.clone(), request)
                    });
                    // Errors here are clients going away or injected faults: nothing to do.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow over a long demo run.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}
