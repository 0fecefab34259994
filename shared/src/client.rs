//! The Altinn client: Storage (instance, data, complete, query), App (instance in the App
//! dialect) and Events subscriptions, over one reused reqwest client, with timeouts, retries with
//! jittered backoff on transient failures, and an error that says transient or permanent.
//!
//! Every URL is built from parsed ids and the environment's base URLs with the `url` crate's
//! path-segment API (never by concatenating input), and checked with [`Allowlist::permits`]
//! before our token is attached.
//!
//! Retries: connect errors, timeouts, 408, 429 and 5xx are retried up to
//! [`RetryPolicy::max_attempts`] with jittered exponential backoff. A `Retry-After` up to
//! [`RetryPolicy::max_delay`] is waited out; a longer one is returned at once as a transient
//! error carrying it ([`ClientError::retry_after`]), so a Lambda can reschedule instead of
//! sleeping on its bill. A 401 drops the cached token and retries once with a fresh one.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::tls::TlsError;

use crate::auth::{
    AuthError, KeyIdentity, MaskinportenKey, MaskinportenSettings, TokenProvider,
    describe_transport_error, is_transient_status,
};
use crate::config::AltinnConfig;
use crate::environment::Allowlist;
use crate::event::InstanceRef;
use crate::instance::{InstanceQueryPage, RawInstance};
use crate::secret::Secret;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("altinn-aws-archive/", env!("CARGO_PKG_VERSION"));

/// Connecting (TCP and TLS) may take at most this long (or the request timeout, if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle pooled connections are closed after this; below typical load-balancer idle limits, so
/// we do not reuse a connection the other side has already dropped.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// The largest JSON answer we read into memory (a query page of 100 instances is far smaller).
const MAX_JSON_BODY: usize = 32 * 1024 * 1024;

/// Why an Altinn call failed. [`ClientError::is_transient`] drives the retry decisions.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Altinn answered with a status we do not retry (400, 401 after refresh, 403, 404, 409, …),
    /// or a transient status (408, 429, 5xx) after the last attempt or with a `Retry-After`
    /// longer than [`RetryPolicy::max_delay`].
    #[error("{operation}: HTTP {status}")]
    Status {
        /// The client method that failed, e.g. `get_instance`.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// True for 408, 429 and 5xx.
        transient: bool,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// Connect error, timeout, reset or a body cut short.
    #[error("{operation}: {reason}")]
    Transport {
        /// The client method that failed.
        operation: &'static str,
        /// What went wrong, without URLs or credentials.
        reason: String,
    },
    /// The response was not what Altinn documents.
    #[error("{operation}: unexpected response: {reason}")]
    Decode {
        /// The client method that failed.
        operation: &'static str,
        /// What was wrong with it (never the body itself).
        reason: String,
    },
    /// We refused to send our token to a URL off the allowlist (or to build a URL from an org
    /// or app name that is not a plain Altinn name).
    #[error("{operation}: refusing to send our token to a host off the allowlist")]
    NotAllowed {
        /// The client method that refused.
        operation: &'static str,
    },
    /// An argument that cannot name an Altinn resource, e.g. a data element id that is not a
    /// GUID. Nothing was sent.
    #[error("{operation}: invalid input: {reason}")]
    InvalidInput {
        /// The client method that refused.
        operation: &'static str,
        /// What is wrong with the input.
        reason: String,
    },
    /// No token could be had.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

impl ClientError {
    /// True when trying again later may succeed: transport errors, timeouts, 408, 429, 5xx,
    /// and transient auth failures.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Status { transient, .. } => *transient,
            ClientError::Transport { .. } => true,
            ClientError::Auth(error) => error.is_transient(),
            ClientError::Decode { .. }
            | ClientError::NotAllowed { .. }
            | ClientError::InvalidInput { .. } => false,
        }
    }

    /// The HTTP status, when Altinn answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How calls are retried: attempts and jittered exponential backoff, honouring `Retry-After`.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts, first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles for each further attempt.
    pub base_delay: Duration,
    /// The longest backoff; also the longest `Retry-After` we wait out in-process.
    pub max_delay: Duration,
    /// Per-request timeout (the data download's timeout is between chunks, not whole-body).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The jittered backoff after the `failures`-th failure (1-based): half of
    /// `base_delay × 2^(failures-1)` (capped at `max_delay`) plus a random part of the other
    /// half, so concurrent clients spread out but never retry immediately.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in the past
/// means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A data element's bytes as a stream, never buffered whole.
pub struct DataStream {
    /// `Content-Type` as Altinn sent it.
    pub content_type: Option<String>,
    /// `Content-Length` when Altinn sent it.
    pub content_length: Option<u64>,
    /// The body, chunk by chunk. A body cut short ends with a `ClientError::Transport`.
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send>>,
}

impl std::fmt::Debug for DataStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataStream")
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// An Events subscription as Altinn returns it (reference §6.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Altinn's subscription id.
    pub id: i64,
    /// Where Altinn pushes events. May carry our webhook secret in its query: never log it.
    #[serde(alias = "endpoint")]
    pub end_point: String,
    /// `https://{org}.apps.{domain}/{org}/{app}` for app subscriptions.
    #[serde(default)]
    pub source_filter: Option<String>,
    /// `urn:altinn:resource:app_{org}_{app}` for app subscriptions.
    #[serde(default)]
    pub resource_filter: Option<String>,
    /// `/party/{id}`, when set.
    #[serde(default)]
    pub subject_filter: Option<String>,
    /// One exact event type, when set.
    #[serde(default)]
    pub type_filter: Option<String>,
    /// `/org/{org}` for a service owner.
    #[serde(default)]
    pub consumer: Option<String>,
    /// Who created it (same as `consumer`).
    #[serde(default)]
    pub created_by: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
    /// True once our endpoint answered the validation event with 2xx; only validated
    /// subscriptions receive events.
    #[serde(default)]
    pub validated: bool,
    /// Whether subunits of the subject are included.
    #[serde(default)]
    pub include_subunits: bool,
}

/// A request to create a subscription. `end_point` carries our secret in its query: never log it.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// Absolute https URL Altinn pushes events to.
    pub end_point: String,
    /// App subscriptions: `https://{org}.apps.{domain}/{org}/{app}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_filter: Option<String>,
    /// `urn:altinn:resource:…`; derived from `source_filter` for apps when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_filter: Option<String>,
    /// `/party/{id}`; optional for service owners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_filter: Option<String>,
    /// `/org/{orgno}`, `/organisation/{orgno}` or `/person/{ssn}`; converted by Altinn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative_subject_filter: Option<String>,
    /// One exact event type, e.g. `app.instance.process.completed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_filter: Option<String>,
}

impl std::fmt::Debug for SubscriptionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRequest")
            .field("end_point", &"[redacted: carries the webhook secret]")
            .field("source_filter", &self.source_filter)
            .field("resource_filter", &self.resource_filter)
            .field("type_filter", &self.type_filter)
            .finish_non_exhaustive()
    }
}

/// `GET /subscriptions`: `{count, subscriptions}`.
#[derive(Deserialize)]
struct SubscriptionList {
    #[serde(default)]
    subscriptions: Vec<Subscription>,
}

/// What a request sends as its body.
enum Payload {
    /// No body (GET, DELETE).
    None,
    /// An explicitly empty body with `Content-Length: 0` (POST `complete`): some front ends
    /// refuse a POST without a length.
    Empty,
    /// A JSON document.
    Json(Vec<u8>),
}

/// One Altinn call: where, how, and under which name it is logged.
struct Call {
    operation: &'static str,
    method: Method,
    url: Url,
    payload: Payload,
}

/// A successful answer, read whole (JSON) or left as a stream (data downloads).
enum Answer {
    Buffered(Bytes),
    Streaming(reqwest::Response),
}

/// A failure that may be retried.
enum TransientFailure {
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    Transport(String),
}

/// The Altinn client. Build it once per process; it is cheap to clone.
#[derive(Clone)]
pub struct AltinnClient {
    http: reqwest::Client,
    allowlist: Allowlist,
    tokens: TokenProvider,
    retry: RetryPolicy,
}

impl std::fmt::Debug for AltinnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AltinnClient")
            .field("allowlist", &self.allowlist)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl AltinnClient {
    /// Builds the process's one reqwest client (rustls, timeouts, pooled connections).
    ///
    /// There is deliberately no whole-request timeout: data downloads may take minutes. Instead
    /// the connect phase is bounded, every read must make progress within
    /// `retry.request_timeout`, and the non-streaming calls set a per-request timeout.
    /// Redirects are not followed, so our token never travels to a URL we did not check.
    ///
    /// TLS is the archive's one configuration ([`crate::tls`]: compiled-in roots, HTTP/2 or
    /// 1.1).
    ///
    /// # Panics
    /// If the TLS configuration cannot be built (see [`AltinnClient::try_http_client`]).
    pub fn http_client(retry: &RetryPolicy) -> reqwest::Client {
        Self::try_http_client(retry).expect("the HTTP client (rustls) could not be initialised")
    }

    /// [`AltinnClient::http_client`] without the panic: fails when `SSL_CERT_FILE` names an
    /// unusable file.
    pub fn try_http_client(retry: &RetryPolicy) -> Result<reqwest::Client, TlsError> {
        let tls = crate::tls::client_config(crate::tls::Alpn::Http2OrHttp1)?;
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT.min(retry.request_timeout))
            .read_timeout(retry.request_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))
    }

    /// A client over `http` (from [`AltinnClient::http_client`]) that sends `tokens`' Altinn
    /// token only to URLs `allowlist` permits.
    pub fn new(
        http: reqwest::Client,
        allowlist: Allowlist,
        tokens: TokenProvider,
        retry: RetryPolicy,
    ) -> Self {
        AltinnClient {
            http,
            allowlist,
            tokens,
            retry,
        }
    }

    /// The client a service owner's function needs: the Maskinporten key parsed from `key_text`
    /// (PEM or JWK; named by `MASKINPORTEN_KID` when set), the token provider, and the allowlist
    /// pinned to `config.org`. Resolving `MASKINPORTEN_KEY_SECRET_ARN` into `key_text` is the
    /// caller's (AWS) business.
    pub fn from_config(
        config: &AltinnConfig,
        key_text: &Secret,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> Result<Self, AuthError> {
        let identity = config.maskinporten_kid.clone().map(KeyIdentity::Kid);
        let settings = MaskinportenSettings {
            issuer: config.maskinporten_issuer.clone(),
            client_id: config.maskinporten_client_id.clone(),
            scopes: config.maskinporten_scopes.clone(),
            key: MaskinportenKey::parse(key_text, identity)?,
        };
        let tokens = TokenProvider::new(http.clone(), settings, config.environment.platform_url());
        Ok(AltinnClient::new(http, config.allowlist(), tokens, retry))
    }

    /// The process's reqwest client, for other Altinn calls that should share its connections.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The allowlist this client checks every URL against.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// The token provider this client takes its tokens from.
    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// `GET {platform}storage/api/v1/instances/{partyId}/{guid}` (Storage dialect), raw bytes kept.
    pub async fn get_instance(&self, instance: &InstanceRef) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "get_instance";
        let url = self.storage_instance_url(OPERATION, instance, &[])?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_instance(OPERATION, body)
    }

    /// `GET {apps}{org}/{app}/instances/{partyId}/{guid}` (App dialect), raw bytes kept.
    pub async fn get_app_instance(
        &self,
        instance: &InstanceRef,
    ) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "get_app_instance";
        let org = plain_name(OPERATION, &instance.org)?;
        let app = plain_name(OPERATION, &instance.app)?;
        // The org picks the apps host; with a pinned org, no other org's app gets our token,
        // whatever the environment's host pattern (`local` has one apps URL for all orgs).
        if self
            .allowlist
            .pinned_org()
            .is_some_and(|pinned| pinned != org)
        {
            return Err(ClientError::NotAllowed {
                operation: OPERATION,
            });
        }
        let mut url = self.allowlist.environment().apps_url(org);
        let party_id = instance.party_id.to_string();
        let guid = instance.instance_guid.to_string();
        extend_path(
            OPERATION,
            &mut url,
            &[org, app, "instances", &party_id, &guid],
        )?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_instance(OPERATION, body)
    }

    /// `GET {platform}storage/api/v1/instances/{partyId}/{guid}/data/{dataId}` as a stream.
    /// Retries apply to getting the response head; a body cut short is reported to the caller.
    ///
    /// Storage returns the stored blob verbatim (the App API re-serializes form data, §5.2), which
    /// is why archiving downloads from Storage. The body stream ends with a
    /// [`ClientError::Transport`] when the connection fails, stalls longer than the request
    /// timeout between chunks, or ends before `Content-Length` bytes.
    pub async fn download_data(
        &self,
        instance: &InstanceRef,
        data_id: &str,
    ) -> Result<DataStream, ClientError> {
        const OPERATION: &str = "download_data";
        let data_id = uuid::Uuid::parse_str(data_id).map_err(|_| ClientError::InvalidInput {
            operation: OPERATION,
            reason: "the data element id is not a GUID".into(),
        })?;
        let url =
            self.storage_instance_url(OPERATION, instance, &["data", &data_id.to_string()])?;
        let call = Call::get(OPERATION, url);
        let response = match self.execute(&call, false).await? {
            Answer::Streaming(response) => response,
            Answer::Buffered(_) => unreachable!("execute streams when asked to"),
        };
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_length = response.content_length();
        let body = LengthCheckedBody {
            operation: OPERATION,
            inner: Box::pin(response.bytes_stream()),
            expected: content_length,
            received: 0,
            finished: false,
        };
        Ok(DataStream {
            content_type,
            content_length,
            body: Box::pin(body),
        })
    }

    /// `POST {platform}storage/api/v1/instances/{partyId}/{guid}/complete`; idempotent per org.
    pub async fn complete(&self, instance: &InstanceRef) -> Result<RawInstance, ClientError> {
        const OPERATION: &str = "complete";
        let url = self.storage_instance_url(OPERATION, instance, &["complete"])?;
        let call = Call {
            operation: OPERATION,
            method: Method::POST,
            url,
            payload: Payload::Empty,
        };
        let body = self.buffered(call).await?;
        parse_instance(OPERATION, body)
    }

    /// One page of `GET storage/api/v1/instances?org=&appId=&process.isComplete=true&excludeConfirmedBy={org}&size=`;
    /// pass the previous page's `next` to continue (only an allowlisted `next` is followed).
    ///
    /// `next` may be the page's `next` URL (followed as is when [`Allowlist::permits`] it and it
    /// is the Storage instance query; otherwise [`ClientError::NotAllowed`] and nothing is sent)
    /// or a bare `continuationToken`, which is added to a query built from the other arguments.
    pub async fn query_completed_instances(
        &self,
        org: &str,
        app: &str,
        page_size: u32,
        next: Option<&str>,
    ) -> Result<InstanceQueryPage, ClientError> {
        const OPERATION: &str = "query_instances";
        let org = plain_name(OPERATION, org)?;
        let app = plain_name(OPERATION, app)?;
        let mut query_url = self.platform_url(OPERATION, &["storage", "api", "v1", "instances"])?;
        let url = match next.map(str::trim) {
            Some(next) if next.starts_with("https://") || next.starts_with("http://") => {
                let next_url = Url::parse(next).map_err(|_| ClientError::Decode {
                    operation: OPERATION,
                    reason: "the next link is not a URL".into(),
                })?;
                // The same host checks as every call, plus: it must be the same query.
                if !self.allowlist.permits(&next_url) || next_url.path() != query_url.path() {
                    return Err(ClientError::NotAllowed {
                        operation: OPERATION,
                    });
                }
                next_url
            }
            continuation => {
                {
                    let mut pairs = query_url.query_pairs_mut();
                    pairs
                        .append_pair("org", org)
                        .append_pair("appId", &format!("{org}/{app}"))
                        .append_pair("process.isComplete", "true")
                        .append_pair("excludeConfirmedBy", org)
                        .append_pair("size", &page_size.max(1).to_string());
                    if let Some(token) = continuation.filter(|t| !t.is_empty()) {
                        pairs.append_pair("continuationToken", token);
                    }
                }
                query_url
            }
        };
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_json(OPERATION, &body)
    }

    /// `POST {platform}events/api/v1/subscriptions`. Altinn returns an identical existing
    /// subscription instead of a duplicate, so retrying is safe.
    pub async fn create_subscription(
        &self,
        request: &SubscriptionRequest,
    ) -> Result<Subscription, ClientError> {
        const OPERATION: &str = "create_subscription";
        let url = self.subscriptions_url(OPERATION, None)?;
        let json = serde_json::to_vec(request).map_err(|e| ClientError::InvalidInput {
            operation: OPERATION,
            reason: e.to_string(),
        })?;
        let call = Call {
            operation: OPERATION,
            method: Method::POST,
            url,
            payload: Payload::Json(json),
        };
        let body = self.buffered(call).await?;
        parse_json(OPERATION, &body)
    }

    /// `GET {platform}events/api/v1/subscriptions/{id}`.
    pub async fn get_subscription(&self, id: i64) -> Result<Subscription, ClientError> {
        const OPERATION: &str = "get_subscription";
        let url = self.subscriptions_url(OPERATION, Some(id))?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_json(OPERATION, &body)
    }

    /// `GET {platform}events/api/v1/subscriptions` (unvalidated ones included).
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ClientError> {
        const OPERATION: &str = "list_subscriptions";
        let url = self.subscriptions_url(OPERATION, None)?;
        let body = self.buffered(Call::get(OPERATION, url)).await?;
        parse_json::<SubscriptionList>(OPERATION, &body).map(|list| list.subscriptions)
    }

    /// `DELETE {platform}events/api/v1/subscriptions/{id}`.
    pub async fn delete_subscription(&self, id: i64) -> Result<(), ClientError> {
        const OPERATION: &str = "delete_subscription";
        let url = self.subscriptions_url(OPERATION, Some(id))?;
        let call = Call {
            operation: OPERATION,
            method: Method::DELETE,
            url,
            payload: Payload::None,
        };
        self.buffered(call).await.map(|_| ())
    }

    /// `{platform}` + segments.
    fn platform_url(&self, operation: &'static str, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.allowlist.environment().platform_url();
        extend_path(operation, &mut url, segments)?;
        Ok(url)
    }

    /// `{platform}storage/api/v1/instances/{partyId}/{guid}` + `more`.
    fn storage_instance_url(
        &self,
        operation: &'static str,
        instance: &InstanceRef,
        more: &[&str],
    ) -> Result<Url, ClientError> {
        let party_id = instance.party_id.to_string();
        let guid = instance.instance_guid.to_string();
        let mut segments = vec!["storage", "api", "v1", "instances", &party_id, &guid];
        segments.extend_from_slice(more);
        self.platform_url(operation, &segments)
    }

    /// `{platform}events/api/v1/subscriptions[/{id}]`.
    fn subscriptions_url(
        &self,
        operation: &'static str,
        id: Option<i64>,
    ) -> Result<Url, ClientError> {
        let id = id.map(|id| id.to_string());
        let mut segments = vec!["events", "api", "v1", "subscriptions"];
        segments.extend(id.as_deref());
        self.platform_url(operation, &segments)
    }

    /// Runs a call and reads its whole (small, JSON) body.
    async fn buffered(&self, call: Call) -> Result<Bytes, ClientError> {
        match self.execute(&call, true).await? {
            Answer::Buffered(body) => Ok(body),
            Answer::Streaming(_) => unreachable!("execute buffers when asked to"),
        }
    }

    /// Sends `call` with our token, retrying transient failures; the allowlist is checked
    /// before anything is sent. With `buffer`, the body is read inside the retry loop (under the
    /// per-request timeout); without, the response is returned as soon as its head arrives.
    async fn execute(&self, call: &Call, buffer: bool) -> Result<Answer, ClientError> {
        let operation = call.operation;
        if !self.allowlist.permits(&call.url) {
            return Err(ClientError::NotAllowed { operation });
        }
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0u32;
        let mut refreshed_after_401 = false;
        loop {
            attempt += 1;
            let token = match self.tokens.token().await {
                Ok(token) => token,
                Err(error) => {
                    let error = ClientError::Auth(error);
                    if !error.is_transient() || attempt >= max_attempts {
                        return Err(error);
                    }
                    let delay = self.retry.backoff(attempt);
                    tracing::warn!(
                        operation,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %error,
                        "could not get an Altinn token; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };

            let mut request = self
                .http
                .request(call.method.clone(), call.url.clone())
                .bearer_auth(token.value.expose());
            request = match &call.payload {
                Payload::None => request,
                Payload::Empty => request.body(Vec::new()),
                Payload::Json(json) => request
                    .header(CONTENT_TYPE, "application/json")
                    .body(json.clone()),
            };
            if buffer {
                request = request
                    .header(ACCEPT, "application/json")
                    .timeout(self.retry.request_timeout);
            }

            let failure = match request.send().await {
                Err(error) => TransientFailure::Transport(describe_transport_error(&error)),
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        if !buffer {
                            return Ok(Answer::Streaming(response));
                        }
                        match read_json_body(response).await {
                            Ok(body) => return Ok(Answer::Buffered(body)),
                            Err(BodyError::TooLarge) => {
                                return Err(ClientError::Decode {
                                    operation,
                                    reason: format!(
                                        "the body is larger than {MAX_JSON_BODY} bytes"
                                    ),
                                });
                            }
                            Err(BodyError::Transport(reason)) => {
                                TransientFailure::Transport(reason)
                            }
                        }
                    } else if status == StatusCode::UNAUTHORIZED && !refreshed_after_401 {
                        // The token was revoked or expired early: one retry with a fresh one,
                        // not counted as an attempt.
                        refreshed_after_401 = true;
                        attempt -= 1;
                        tracing::warn!(
                            operation,
                            status = 401,
                            "Altinn refused our token; refreshing it"
                        );
                        self.tokens.invalidate_token(&token).await;
                        continue;
                    } else if is_transient_status(status.as_u16()) {
                        TransientFailure::Status {
                            status: status.as_u16(),
                            retry_after: retry_after_of(response.headers()),
                        }
                    } else {
                        return Err(ClientError::Status {
                            operation,
                            status: status.as_u16(),
                            transient: false,
                            retry_after: retry_after_of(response.headers()),
                        });
                    }
                }
            };

            let (status, retry_after) = match &failure {
                TransientFailure::Status {
                    status,
                    retry_after,
                } => (Some(*status), *retry_after),
                TransientFailure::Transport(_) => (None, None),
            };
            let give_up = |failure: TransientFailure| match failure {
                TransientFailure::Status {
                    status,
                    retry_after,
                } => ClientError::Status {
                    operation,
                    status,
                    transient: true,
                    retry_after,
                },
                TransientFailure::Transport(reason) => ClientError::Transport { operation, reason },
            };
            if attempt >= max_attempts {
                return Err(give_up(failure));
            }
            let delay = match retry_after {
                // Longer than we may wait here: hand it to the caller to reschedule.
                Some(wait) if wait > self.retry.max_delay => return Err(give_up(failure)),
                Some(wait) => wait,
                None => self.retry.backoff(attempt),
            };
            let reason = match &failure {
                TransientFailure::Transport(reason) => Some(reason.as_str()),
                TransientFailure::Status { .. } => None,
            };
            tracing::warn!(
                operation,
                attempt,
                status,
                reason,
                delay_ms = delay.as_millis() as u64,
                "Altinn call failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

impl Call {
    fn get(operation: &'static str, url: Url) -> Self {
        Call {
            operation,
            method: Method::GET,
            url,
            payload: Payload::None,
        }
    }
}

/// Appends path segments (each percent-encoded by the `url` crate, so no input can add a `/`,
/// `?` or `..`) after the base URL's trailing slash.
fn extend_path(
    operation: &'static str,
    url: &mut Url,
    segments: &[&str],
) -> Result<(), ClientError> {
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| ClientError::NotAllowed { operation })?
        .pop_if_empty()
        .extend(segments);
    Ok(())
}

/// An org or app name as Altinn forms them (letters, digits, `-`, `_`). Anything else cannot be
/// a real name and might steer the apps host, so it is refused before a URL is built.
fn plain_name<'a>(operation: &'static str, name: &'a str) -> Result<&'a str, ClientError> {
    let plain = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        Ok(name)
    } else {
        Err(ClientError::NotAllowed { operation })
    }
}

fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

enum BodyError {
    TooLarge,
    Transport(String),
}

/// Reads a JSON answer chunk by chunk, refusing more than [`MAX_JSON_BODY`] bytes.
async fn read_json_body(mut response: reqwest::Response) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_JSON_BODY as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_JSON_BODY {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Bytes::from(body)),
            Err(error) => return Err(BodyError::Transport(describe_transport_error(&error))),
        }
    }
}

fn parse_instance(operation: &'static str, body: Bytes) -> Result<RawInstance, ClientError> {
    RawInstance::parse(body).map_err(|e| ClientError::Decode {
        operation,
        reason: format!("not an Instance: {e}"),
    })
}

fn parse_json<T: DeserializeOwned>(operation: &'static str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        operation,
        reason: format!("JSON of the wrong shape: {e}"),
    })
}

/// The download body: reqwest errors become [`ClientError::Transport`], and a body that ends
/// before (or runs past) `Content-Length` ends with one too, so a cut connection can never pass
/// for a complete file.
struct LengthCheckedBody {
    operation: &'static str,
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    expected: Option<u64>,
    received: u64,
    finished: bool,
}

impl Stream for LengthCheckedBody {
    type Item = Result<Bytes, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let operation = self.operation;
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                if let Some(expected) = self.expected
                    && self.received > expected
                {
                    self.finished = true;
                    return Poll::Ready(Some(Err(ClientError::Transport {
                        operation,
                        reason: format!("the body is longer than its Content-Length of {expected}"),
                    })));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                self.finished = true;
                let reason = format!(
                    "the body failed after {} bytes: {}",
                    self.received,
                    describe_transport_error(&error)
                );
                Poll::Ready(Some(Err(ClientError::Transport { operation, reason })))
            }
            Poll::Ready(None) => {
                self.finished = true;
                match self.expected {
                    Some(expected) if self.received < expected => {
                        Poll::Ready(Some(Err(ClientError::Transport {
                            operation,
                            reason: format!(
                                "the body ended after {} of {expected} bytes",
                                self.received
                            ),
                        })))
                    }
                    _ => Poll::Ready(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let in_90s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&in_90s, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-5", "1.5", "soon", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
        };
        for _ in 0..200 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.backoff(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
        let samples: std::collections::HashSet<_> = (0..50).map(|_| policy.backoff(2)).collect();
        assert!(samples.len() > 1, "backoff is not jittered");
    }

    #[test]
    fn transient_and_permanent_errors() {
        let status = |status, transient| ClientError::Status {
            operation: "t",
            status,
            transient,
            retry_after: None,
        };
        assert!(status(503, true).is_transient());
        assert!(!status(404, false).is_transient());
        assert_eq!(status(404, false).status(), Some(404));
        assert!(
            ClientError::Transport {
                operation: "t",
                reason: "reset".into()
            }
            .is_transient()
        );
        assert!(!ClientError::NotAllowed { operation: "t" }.is_transient());
        assert!(
            !ClientError::Decode {
                operation: "t",
                reason: "x".into()
            }
            .is_transient()
        );
        assert!(
            !ClientError::InvalidInput {
                operation: "t",
                reason: "x".into()
            }
            .is_transient()
        );
        let auth = crate::auth::AuthError::Transport {
            service: "Maskinporten",
            reason: "x".into(),
        };
        assert!(ClientError::from(auth).is_transient());
        let auth = crate::auth::AuthError::Invalid("bad key".into());
        assert!(!ClientError::from(auth).is_transient());
        let limited = ClientError::Status {
            operation: "t",
            status: 429,
            transient: true,
            retry_after: Some(Duration::from_secs(600)),
        };
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(600)));
    }

    #[test]
    fn names_that_could_steer_a_url_are_refused() {
        for good in ["ttd", "skd", "apps-test", "frontend_test", "a1"] {
            assert!(plain_name("t", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ttd.evil.com",
            "ttd/..",
            "a b",
            "ttd@x",
            "ttd%2F",
            "æøå",
            "x:1",
        ] {
            assert!(plain_name("t", bad).is_err(), "{bad}");
        }
        let long = "a".repeat(101);
        assert!(plain_name("t", &long).is_err());
    }

    #[test]
    fn path_segments_are_encoded_not_concatenated() {
        let mut url = Url::parse("https://platform.altinn.no/").unwrap();
        extend_path("t", &mut url, &["storage", "a/../b", "x?y#z"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://platform.altinn.no/storage/a%2F..%2Fb/x%3Fy%23z"
        );
        let mut local = Url::parse("http://127.0.0.1:5101/?q=1").unwrap();
        extend_path("t", &mut local, &["events", "api"]).unwrap();
        assert_eq!(local.as_str(), "http://127.0.0.1:5101/events/api");
    }

    fn body_of(chunks: Vec<reqwest::Result<Bytes>>, expected: Option<u64>) -> LengthCheckedBody {
        LengthCheckedBody {
            operation: "download_data",
            inner: Box::pin(futures_util::stream::iter(chunks)),
            expected,
            received: 0,
            finished: false,
        }
    }

    #[tokio::test]
    async fn download_body_length_is_checked() {
        let chunks = || {
            vec![
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world")),
            ]
        };

        let complete: Vec<_> = body_of(chunks(), Some(11)).collect().await;
        assert_eq!(complete.len(), 2);
        assert!(complete.iter().all(Result::is_ok));

        let unknown: Vec<_> = body_of(chunks(), None).collect().await;
        assert!(unknown.iter().all(Result::is_ok));

        let short: Vec<_> = body_of(chunks(), Some(20)).collect().await;
        assert_eq!(short.len(), 3);
        let error = short.last().unwrap().as_ref().unwrap_err();
        assert!(error.is_transient());
        assert!(error.to_string().contains("11 of 20"), "{error}");

        let long: Vec<_> = body_of(chunks(), Some(8)).collect().await;
        assert_eq!(long.len(), 2);
        assert!(long[1].is_err());
    }
}
