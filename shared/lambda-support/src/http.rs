//! The AWS SDK's HTTP client: reqwest over the archive's one TLS configuration
//! ([`altinn::tls`]), instead of the SDK's default hyper client.
//!
//! Why: the SDK's default client trusts only the system store, and loads it (every file of
//! `/etc/ssl/certs`, parsed) when the first SDK client is built, which made the webhook's
//! cold start three times that of a hello-world function (`make bench`). Here the roots are
//! compiled in. Everything above the wire (signing, retries, timeouts per operation, checksums,
//! error parsing) stays the SDK's; this only moves bytes.
//!
//! Behaviour kept from the SDK's client: HTTP/1.1, no redirects followed (S3's 301/307 must
//! reach the SDK), the connect and read timeouts of the SDK's settings, pooled connections,
//! and transport failures classified as timeout / io / other so the SDK's retry strategy sees
//! them as it would its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use altinn::tls::{Alpn, TlsError};

/// Idle pooled connections are closed after this long (below the 350 s AWS's NAT and load
/// balancers allow, so we never reuse a connection they dropped silently).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The SDK's HTTP client. Build it once per process ([`crate::aws::sdk_config`] does).
#[derive(Clone)]
pub struct ReqwestHttpClient {
    tls: Arc<rustls::ClientConfig>,
    /// One reqwest client (and pool) per distinct timeout setting the SDK asks for; in practice
    /// one per process.
    connectors: Arc<Mutex<HashMap<TimeoutKey, SharedHttpConnector>>>,
}

type TimeoutKey = (Option<Duration>, Option<Duration>);

impl std::fmt::Debug for ReqwestHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqwestHttpClient").finish_non_exhaustive()
    }
}

impl ReqwestHttpClient {
    /// A client over the shared TLS configuration (HTTP/1.1).
    pub fn new() -> Result<ReqwestHttpClient, TlsError> {
        Ok(ReqwestHttpClient {
            tls: Arc::new(altinn::tls::client_config(Alpn::Http1)?),
            connectors: Arc::default(),
        })
    }

    /// This client as the SDK's `SharedHttpClient`.
    pub fn shared(self) -> SharedHttpClient {
        SharedHttpClient::new(self)
    }

    fn build_connector(&self, key: TimeoutKey) -> Result<ReqwestConnector, String> {
        let (connect_timeout, read_timeout) = key;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&self.tls))
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .no_proxy();
        if let Some(timeout) = connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = read_timeout {
            builder = builder.read_timeout(timeout);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(ReqwestConnector { client })
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(connector) = connectors.get(&key) {
            return connector.clone();
        }
        let connector = match self.build_connector(key) {
            Ok(connector) => SharedHttpConnector::new(connector),
            // Not expected (the TLS configuration is already built); every request then fails
            // with the reason instead of the process panicking.
            Err(reason) => SharedHttpConnector::new(BrokenConnector(reason)),
        };
        connectors.insert(key, connector.clone());
        connector
    }
}

/// Sends one SDK request through reqwest.
#[derive(Debug)]
struct ReqwestConnector {
    client: reqwest::Client,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = to_reqwest(request)?;
            let response = client.execute(request).await.map_err(classify)?;
            to_sdk(response)
        })
    }
}

#[derive(Debug)]
struct BrokenConnector(String);

impl HttpConnector for BrokenConnector {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let reason = self.0.clone();
        HttpConnectorFuture::ready(Err(ConnectorError::other(
            format!("the HTTP client could not be built: {reason}").into(),
            None,
        )))
    }
}

fn to_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(Box::new(e)))?;
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, reqwest::Body::wrap(body));
    reqwest::Request::try_from(request).map_err(|e| ConnectorError::user(Box::new(e)))
}

fn to_sdk(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let response = http::Response::from(response);
    let (parts, body) = response.into_parts();
    let response = http::Response::from_parts(parts, SdkBody::from_body_1_x(body));
    HttpResponse::try_from(response).map_err(|e| ConnectorError::other(Box::new(e), None))
}

/// A transport failure in the SDK's terms: timeouts and connection/io failures are the ones its
/// retry strategy treats as transient.
fn classify(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(Box::new(error))
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(Box::new(error))
    } else {
        ConnectorError::other(Box::new(error), None)
    }
}
