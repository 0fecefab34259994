//! The Altinn client: Storage (instance, data, complete, query), App (instance in the App
//! dialect) and Events subscriptions, over one reused reqwest client, with timeouts, retries with
//! jittered backoff on transient failures, and an error that says transient or permanent.
//!
//! | module | what |
//! |---|---|
//! | `transport` | allowlist check, the token of the call's scope set, timeouts, 401 refresh, retries: the core every call goes through |
//! | `storage` | Storage API: instance, data download, `complete`, the completed-instances query |
//! | `history` | Storage API: an instance's events and process history, its app's metadata (raw bytes, for the archive) |
//! | `app` | App API: an instance in the App dialect |
//! | `events` | Events API: subscriptions |
//! | `correspondence` | Correspondence API: details, attachment overview, attachment downloads (as sender or recipient) |
//! | `operations` | [`OPERATIONS`]: every Storage/App request, checked against Altinn's OpenAPI documents |
//! | `error` | [`ClientError`] |
//!
//! Every URL is built from parsed ids and the environment's base URLs with the `url` crate's
//! path-segment API (never by concatenating input), and checked with [`Allowlist::permits`]
//! before our token is attached.
//!
//! Each API gets a token with only its own scopes ([`crate::auth::ScopeSet`]): Storage and App
//! the configured `MASKINPORTEN_SCOPES`, Events the service-owner scope (plus
//! `altinn:events.subscribe` for a subscription to a generic resource). Each set is cached and
//! refreshed on its own.
//!
//! Retries: connect errors, timeouts, 408, 429 and 5xx are retried up to
//! [`RetryPolicy::max_attempts`], waiting [`Backoff::delay`] between attempts (jittered
//! exponential from [`RetryPolicy::base_delay`], capped at [`RetryPolicy::max_delay`], a
//! `Retry-After` its floor). A `Retry-After` longer than [`RetryPolicy::max_delay`] is not waited
//! out: it is returned at once as a transient error carrying it ([`ClientError::retry_after`]),
//! so a Lambda can reschedule instead of sleeping on its bill. A 401 drops the cached token and
//! retries once with a fresh one.

mod app;
mod correspondence;
mod error;
mod events;
mod history;
mod operations;
mod storage;
mod transport;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

pub use error::{ClientError, Problem};
pub use events::{Subscription, SubscriptionRequest};
pub use operations::{Api, OPERATIONS, Operation, operations_named};
pub use storage::InstanceFilter;

use crate::auth::{AuthError, KeyIdentity, MaskinportenKey, MaskinportenSettings, TokenProvider};
use crate::config::AltinnConfig;
use crate::environment::Allowlist;
use crate::retry::Backoff;
use crate::secret::Secret;
use crate::tls::TlsError;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("altinn-aws-archive/", env!("CARGO_PKG_VERSION"));

/// Connecting (TCP and TLS) may take at most this long (or the request timeout, if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle pooled connections are closed after this; below typical load-balancer idle limits, so
/// we do not reuse a connection the other side has already dropped.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// How calls are retried: attempts, the backoff between them, and the per-request timeout.
///
/// The defaults: 4 attempts, backoff from 200 ms doubling to at most 10 s (jittered), 30 s per
/// request. The worst case for one call is 4 × 30 s of requests plus about 1.4 s of backoff.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts, first included.
    pub max_attempts: u32,
    /// The backoff ceiling before the second attempt; it doubles for each further attempt.
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
    /// The backoff between attempts: from `base_delay`, capped at `max_delay`.
    pub fn between_attempts(&self) -> Backoff {
        Backoff::new(self.base_delay, self.max_delay)
    }
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

/// The Altinn client. Build it once per process; it is cheap to clone.
#[derive(Clone)]
pub struct AltinnClient {
    http: reqwest::Client,
    allowlist: Allowlist,
    tokens: TokenProvider,
    retry: RetryPolicy,
    /// `Ocp-Apim-Subscription-Key` for the Correspondence API's gateway, when configured.
    subscription_key: Option<Secret>,
    /// Events subscriptions are made as the organisation, not the service owner.
    events_as_organisation: bool,
}

impl std::fmt::Debug for AltinnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AltinnClient")
            .field("allowlist", &self.allowlist)
            .field("retry", &self.retry)
            .field("subscription_key", &self.subscription_key.is_some())
            .field("events_as_organisation", &self.events_as_organisation)
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
    /// tokens only to URLs `allowlist` permits, each API the token of its own scope set.
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
            subscription_key: None,
            events_as_organisation: false,
        }
    }

    /// The same client, sending `key` as `Ocp-Apim-Subscription-Key` on Correspondence calls
    /// (and on no other API's). Correspondence's own code reads no such header, but older
    /// guides require it at Altinn's API gateway, so it is optional.
    pub fn with_subscription_key(mut self, key: Option<Secret>) -> Self {
        self.subscription_key = key;
        self
    }

    /// The same client, making every Events subscription call as the organisation
    /// (`/organisation/{orgno}`, token scope `altinn:events.subscribe` only) instead of the
    /// service owner: how a Correspondence recipient subscribes to what is addressed to it.
    pub fn subscribing_as_organisation(mut self) -> Self {
        self.events_as_organisation = true;
        self
    }

    /// The client a service owner's function needs: the Maskinporten key parsed from `key_text`
    /// (PEM or JWK; named by `MASKINPORTEN_KID` when set), the token provider, and the allowlist
    /// pinned to `config.org`. Resolving `MASKINPORTEN_KEY_SECRET_ARN` into `key_text` is the
    /// caller's (AWS) business.
    ///
    /// This is where a function's start-up checks its key: aws-lc loads and checks it here
    /// once, and a key it refuses is an [`AuthError::Key`] naming the variable it came from.
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
            key: MaskinportenKey::parse(key_text, identity).map_err(|error| AuthError::Key {
                variable: config.maskinporten_key.variable(),
                reason: match error {
                    AuthError::Invalid(reason) => reason,
                    other => other.to_string(),
                },
            })?,
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

    /// The token provider this client takes its tokens from (one cached token per scope set).
    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MaskinportenKeySource;

    fn config(key: &str) -> AltinnConfig {
        let vars = [
            ("ALTINN_ENV", "tt02"),
            ("ALTINN_ORG", "ttd"),
            ("MASKINPORTEN_CLIENT_ID", "client"),
            ("MASKINPORTEN_KID", "kid"),
            ("MASKINPORTEN_KEY", key),
        ];
        AltinnConfig::from_lookup(|name| {
            vars.iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap()
    }

    #[test]
    fn a_key_aws_lc_refuses_stops_the_start_with_the_variable_it_came_from() {
        let pem = include_str!("../../../tools/altinn-sim/testdata/client-key.pkcs1.pem");
        let retry = RetryPolicy::default();
        let http = AltinnClient::try_http_client(&retry).unwrap();
        let good = config(pem);
        let key_text = Secret::new(pem);
        AltinnClient::from_config(&good, &key_text, http.clone(), retry.clone())
            .expect("the test key is accepted");

        let cut = Secret::new(&pem[..600]);
        let error =
            AltinnClient::from_config(&config(&pem[..600]), &cut, http.clone(), retry.clone())
                .unwrap_err();
        assert!(
            matches!(
                error,
                AuthError::Key {
                    variable: "MASKINPORTEN_KEY",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with("MASKINPORTEN_KEY "),
            "{error}"
        );
        assert!(!error.is_transient());

        let mut from_secret = good;
        from_secret.maskinporten_key = MaskinportenKeySource::SecretArn(
            "arn:aws:secretsmanager:eu-north-1:123456789012:secret:key-AbCdEf".into(),
        );
        let small = Secret::new(include_str!(
            "../../tests/fixtures/client-key-1024.pkcs1.pem"
        ));
        let error = AltinnClient::from_config(&from_secret, &small, http, retry).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("MASKINPORTEN_KEY_SECRET_ARN "),
            "{error}"
        );
        assert!(error.to_string().contains("under 2048 bits"), "{error}");
    }
}
