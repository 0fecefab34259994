//! The SDK's HTTP client (`lambda_support::http`) at the edges the SDK relies on: redirects
//! reach the SDK instead of being followed, and transport failures arrive classified (io,
//! timeout) so the SDK's retry strategy and our transient/permanent split see them. The
//! happy paths run in every S3/SQS test (testkit's SDK configuration uses this client).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, timeout::TimeoutConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::SdkError;
use lambda_support::http::ReqwestHttpClient;

/// A server on a free loopback port that answers every request with `response` (or, when
/// `None`, reads the request and never answers). Returns its endpoint and a request counter.
fn canned_server(response: Option<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buffer = [0u8; 8192];
            let _ = stream.read(&mut buffer);
            counter.fetch_add(1, Ordering::SeqCst);
            match response {
                Some(text) => {
                    let _ = stream.write_all(text.as_bytes());
                }
                None => held.push(stream),
            }
        }
    });
    (endpoint, requests)
}

async fn s3_client(endpoint: &str, timeouts: TimeoutConfig) -> aws_sdk_s3::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(ReqwestHttpClient::new().unwrap().shared())
        .region(Region::new("eu-north-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test]
async fn a_redirect_reaches_the_sdk_and_is_not_followed() {
    let (endpoint, requests) = canned_server(Some(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/elsewhere\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let s3 = s3_client(&endpoint, TimeoutConfig::disabled()).await;
    let error = s3
        .head_object()
        .bucket("archive")
        .key("a")
        .send()
        .await
        .unwrap_err();
    let status = error.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(307), "{error:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refused_connection_is_an_io_dispatch_failure() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s3 = s3_client(
        &format!("http://127.0.0.1:{port}"),
        TimeoutConfig::disabled(),
    )
    .await;
    let error = s3.list_buckets().send().await.unwrap_err();
    match &error {
        SdkError::DispatchFailure(failure) => assert!(failure.is_io(), "{failure:?}"),
        other => panic!("expected a dispatch failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_dispatch_failure() {
    let (endpoint, _requests) = canned_server(None);
    let timeouts = TimeoutConfig::builder()
        .read_timeout(Duration::from_millis(300))
        .build();
    let s3 = s3_client(&endpoint, timeouts).await;
    let started = std::time::Instant::now();
    let error = s3.list_buckets().send().await.unwrap_err();
    match &error {
        SdkError::DispatchFailure(failure) => assert!(failure.is_timeout(), "{failure:?}"),
        other => panic!("expected a dispatch failure, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_sdk_client_without_ours_sends_nothing() {
    // The SDK is built without an HTTP client of its own (no `default-https-client`), so a
    // client configured without `ReqwestHttpClient` fails at once rather than reaching the
    // network through a second HTTPS stack that loads the system certificate store.
    let (endpoint, requests) = canned_server(Some(
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("eu-north-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let error = aws_sdk_s3::Client::new(&sdk)
        .list_buckets()
        .send()
        .await
        .unwrap_err();
    let message = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&error)
    );
    assert!(message.contains("No HTTP client"), "{message}");
    assert_eq!(requests.load(Ordering::SeqCst), 0);
}
