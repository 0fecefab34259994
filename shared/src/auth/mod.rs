//! Getting an Altinn token: the Maskinporten JWT-bearer grant
//! (https://docs.digdir.no/docs/Maskinporten/maskinporten_protocol_token), the Altinn token
//! exchange (https://github.com/Altinn/altinn-authentication), and a cache per scope set
//! ([`ScopeSet`]) that refreshes a minute before expiry with one refresh at a time.
//!
//! ```text
//! TokenProvider::token_for(scope set)
//!   └─ that set's cache fresh? ── yes ─▶ cached AltinnToken
//!         └─ no: one caller refreshes, the others wait for it
//!              ├─ POST {issuer}token            (signed assertion → Maskinporten access token)
//!              └─ GET  {platform}authentication/api/v1/exchange/maskinporten → Altinn JWT (exp)
//! ```
//!
//! Token values and assertions are [`Secret`]s and are never logged; errors carry status codes
//! and Maskinporten's error codes, never credentials.

mod cache;
mod exchange;
mod key;
mod maskinporten;
mod scopes;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use url::Url;

pub use key::{KeyIdentity, MaskinportenKey};
pub use scopes::{
    CORRESPONDENCE_READ_SCOPE, CORRESPONDENCE_WRITE_SCOPE, EVENTS_SUBSCRIBE_SCOPE,
    SERVICE_OWNER_SCOPE, ScopeSet,
};

use crate::secret::Secret;

/// How long one Maskinporten or token-exchange request may take, body included.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// An Altinn (exchanged) token and when it expires (read from its own `exp`).
/// `Debug`/`Display` never show the token.
#[derive(Clone)]
pub struct AltinnToken {
    /// The JWT to send as `Authorization: Bearer …`.
    pub value: Secret,
    /// The token's own `exp`.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for AltinnToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AltinnToken")
            .field("value", &self.value)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl AltinnToken {
    /// Reads a token-exchange answer: the raw JWT (`text/plain`) or the same as a JSON string
    /// literal (`application/json`), both as Altinn sends them. `expires_at` is the JWT's
    /// own `exp`, read without verifying the signature (the token came over TLS from the
    /// allowlisted platform host and is opaque to us).
    pub fn from_exchange_response(body: &[u8]) -> Result<AltinnToken, AuthError> {
        exchange::parse_exchange_body(body)
    }
}

impl std::fmt::Display for AltinnToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AltinnToken([redacted])")
    }
}

/// Who we are towards Maskinporten.
#[derive(Debug, Clone)]
pub struct MaskinportenSettings {
    /// The issuer with trailing slash (`aud` of the assertion); the token endpoint is `{issuer}token`.
    /// A missing trailing slash is added.
    pub issuer: Url,
    /// Our Maskinporten `client_id` (the assertion's `iss`).
    pub client_id: String,
    /// The space-separated scopes of [`ScopeSet::Instances`] (Storage and App); the other sets
    /// are fixed. Every scope of every set used must be registered on the Maskinporten client
    /// (Maskinporten refuses a grant for a scope the client does not have).
    pub scopes: String,
    /// The key that signs the assertion, and how the header names it.
    pub key: MaskinportenKey,
}

/// Why a token could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Maskinporten answered `{error, error_description}` (or another non-2xx status, then
    /// `error` is `http_{status}`). 400 is permanent (bad client, key, scope or clock);
    /// 408, 429 and 5xx are transient.
    #[error("Maskinporten refused the grant: {error}: {description}")]
    Maskinporten {
        /// The HTTP status.
        status: u16,
        /// The OAuth error code, e.g. `invalid_grant`, `invalid_scope`.
        error: String,
        /// Maskinporten's description, usually with an `MP-…` code.
        description: String,
    },
    /// The token exchange answered with a non-2xx status (401: Altinn did not accept the
    /// Maskinporten token; 408, 429 and 5xx are transient).
    #[error("Altinn token exchange failed with HTTP {status}")]
    Exchange {
        /// The HTTP status.
        status: u16,
    },
    /// Network failure or timeout (transient).
    #[error("could not reach {service}: {reason}")]
    Transport {
        /// `Maskinporten` or `Altinn token exchange`.
        service: &'static str,
        /// What went wrong, without URLs or credentials.
        reason: String,
    },
    /// A key or a token we could not use (permanent: a configuration or protocol problem).
    #[error("invalid key or token: {0}")]
    Invalid(String),
    /// The configured Maskinporten key cannot sign (permanent); `variable` names where it came
    /// from (`MASKINPORTEN_KEY` or `MASKINPORTEN_KEY_SECRET_ARN`).
    #[error("{variable} does not hold a usable Maskinporten key: {reason}")]
    Key {
        /// The variable the key was configured by.
        variable: &'static str,
        /// What is wrong with it; never key material.
        reason: String,
    },
}

impl AuthError {
    /// True when trying again later may succeed (network, timeouts, 408, 429, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Maskinporten { status, .. } | AuthError::Exchange { status } => {
                is_transient_status(*status)
            }
            AuthError::Transport { .. } => true,
            AuthError::Invalid(_) | AuthError::Key { .. } => false,
        }
    }
}

/// 408, 429 and 5xx: the server may answer differently later.
pub(crate) fn is_transient_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// A reqwest error as text: its kind and causes, without the URL (which may carry a query we
/// must not log). Public so every crate that talks to Altinn describes failures the same way.
pub fn describe_transport_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() {
        "response body failed"
    } else if error.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    let mut reason = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// Runs one Maskinporten JWT-bearer grant for `settings.scopes` and returns the Maskinporten
/// access token, uncached. [`TokenProvider`] does this and the exchange for you; this is for
/// the few APIs that take a Maskinporten token directly (e.g. the Correspondence API as a
/// sender).
pub async fn maskinporten_token(
    http: &reqwest::Client,
    settings: &MaskinportenSettings,
) -> Result<Secret, AuthError> {
    let endpoint = maskinporten::token_endpoint(&settings.issuer)?;
    maskinporten::grant(
        http,
        settings,
        &settings.scopes,
        &endpoint,
        TOKEN_REQUEST_TIMEOUT,
    )
    .await
}

/// Hands out valid Altinn tokens, one per [`ScopeSet`]: Maskinporten grant for that set's
/// scopes, then exchange; each cached until a minute before the Altinn token's own `exp`, with
/// one refresh at a time per set shared by concurrent callers (sets never wait for each other).
/// Cheap to clone (shared state).
///
/// Tokens living less than two minutes (only test set-ups issue those) are refreshed at
/// half-life instead of a minute early.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<ProviderState>,
}

struct ProviderState {
    http: reqwest::Client,
    settings: MaskinportenSettings,
    /// `{issuer}token` and the exchange URL, or why they could not be built.
    endpoints: Result<(Url, Url), AuthError>,
    /// One cache per scope set, indexed by [`ScopeSet::index`].
    caches: [cache::TokenCache; ScopeSet::ALL.len()],
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("issuer", &self.inner.settings.issuer.as_str())
            .field("client_id", &self.inner.settings.client_id)
            .field("key", &self.inner.settings.key)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// `http` is the process's one reqwest client; `platform_url` is the environment's platform base.
    pub fn new(http: reqwest::Client, settings: MaskinportenSettings, platform_url: Url) -> Self {
        let endpoints = maskinporten::token_endpoint(&settings.issuer)
            .and_then(|token| Ok((token, exchange::exchange_url(&platform_url)?)));
        TokenProvider {
            inner: Arc::new(ProviderState {
                http,
                settings,
                endpoints,
                caches: Default::default(),
            }),
        }
    }

    /// A valid token for Storage and the App API ([`ScopeSet::Instances`]).
    pub async fn token(&self) -> Result<AltinnToken, AuthError> {
        self.token_for(ScopeSet::Instances).await
    }

    /// A valid token holding exactly the scopes of `set`, from its cache or freshly fetched.
    pub async fn token_for(&self, set: ScopeSet) -> Result<AltinnToken, AuthError> {
        self.inner.caches[set.index()]
            .get_or_refresh(|| self.fetch(set))
            .await
    }

    /// The space-separated scopes a token for `set` is granted.
    pub fn scopes(&self, set: ScopeSet) -> &str {
        set.fixed_scopes().unwrap_or(&self.inner.settings.scopes)
    }

    /// Drops every cached token so the next call of each set fetches a new one.
    pub async fn invalidate(&self) {
        for cache in &self.inner.caches {
            cache.clear().await;
        }
    }

    /// Drops the cached token only if it is `rejected`, the token Altinn just answered 401 to
    /// (whichever set it belongs to). Prefer this over [`TokenProvider::invalidate`] when many
    /// requests run at once: a refresh another request already made is kept.
    pub async fn invalidate_token(&self, rejected: &AltinnToken) {
        for cache in &self.inner.caches {
            cache.clear_if(rejected).await;
        }
    }

    /// A grant for `set`'s scopes and an exchange, uncached.
    async fn fetch(&self, set: ScopeSet) -> Result<AltinnToken, AuthError> {
        let state = &self.inner;
        let (token_endpoint, exchange_url) = state.endpoints.clone()?;
        let maskinporten_token = maskinporten::grant(
            &state.http,
            &state.settings,
            self.scopes(set),
            &token_endpoint,
            TOKEN_REQUEST_TIMEOUT,
        )
        .await?;
        let token = exchange::exchange(
            &state.http,
            &exchange_url,
            &maskinporten_token,
            TOKEN_REQUEST_TIMEOUT,
        )
        .await?;
        tracing::debug!(
            scopes = set.name(),
            expires_in_s = token
                .expires_at
                .duration_since(SystemTime::now())
                .map(|d| d.as_secs())
                .unwrap_or(0),
            "fetched a new Altinn token"
        );
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_network_and_server_side() {
        assert!(
            AuthError::Transport {
                service: "Maskinporten",
                reason: "x".into()
            }
            .is_transient()
        );
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(AuthError::Exchange { status }.is_transient(), "{status}");
            let mp = AuthError::Maskinporten {
                status,
                error: "e".into(),
                description: String::new(),
            };
            assert!(mp.is_transient(), "{status}");
        }
        for status in [400, 401, 403, 404, 410] {
            assert!(!AuthError::Exchange { status }.is_transient(), "{status}");
            let mp = AuthError::Maskinporten {
                status,
                error: "e".into(),
                description: String::new(),
            };
            assert!(!mp.is_transient(), "{status}");
        }
        assert!(!AuthError::Invalid("bad key".into()).is_transient());
    }

    #[test]
    fn tokens_redact_themselves() {
        let token = AltinnToken {
            value: Secret::new("eyJhbGciOiJSUzI1NiJ9.secret-payload.sig"),
            expires_at: SystemTime::now(),
        };
        assert!(!format!("{token:?}").contains("secret-payload"));
        assert!(!format!("{token}").contains("secret-payload"));
    }
}
