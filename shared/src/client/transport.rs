//! The request core every API shares: the allowlist check, the bearer token of the call's scope
//! set, per-request timeouts, a 401 answered by one token refresh, and retries of transient
//! failures with the system's one backoff ([`crate::retry::Backoff`]).
//!
//! Storage and App calls use [`ScopeSet::Instances`] ([`AltinnClient::buffered`]); every other API
//! names its own set with the `_as` variants, so no call carries another API's scopes. Only
//! Correspondence calls carry the optional API gateway subscription key.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::storage::LengthCheckedBody;
use super::{AltinnClient, ClientError, DataStream, Problem};
use crate::auth::{ScopeSet, describe_transport_error, is_transient_status};
use crate::instance::RawInstance;

/// The API gateway's key header, sent on Correspondence calls only.
const SUBSCRIPTION_KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

/// The largest JSON answer we read into memory (a query page of 100 instances is far smaller).
const MAX_JSON_BODY: usize = 32 * 1024 * 1024;

/// What a request sends as its body.
pub(super) enum Payload {
    /// No body (GET, DELETE).
    None,
    /// An explicitly empty body with `Content-Length: 0` (POST `complete`): some front ends
    /// refuse a POST without a length.
    Empty,
    /// A JSON document.
    Json(Vec<u8>),
}

/// One Altinn call: where, how, and under which name it is logged.
pub(super) struct Call {
    pub(super) operation: &'static str,
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) payload: Payload,
    /// Sent at most once: not idempotent, so a transient failure goes back to the caller, which
    /// must look at Altinn's state before asking again (a 401 still gets one fresh-token retry,
    /// since Altinn did nothing).
    pub(super) once: bool,
}

/// A successful answer, read whole (JSON) or left as a stream (data downloads).
pub(super) enum Answer {
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

impl AltinnClient {
    /// `{platform}` + segments.
    pub(super) fn platform_url(
        &self,
        operation: &'static str,
        segments: &[&str],
    ) -> Result<Url, ClientError> {
        let mut url = self.allowlist.environment().platform_url();
        extend_path(operation, &mut url, segments)?;
        Ok(url)
    }

    /// Runs a Storage or App call and reads its whole (small, JSON) body.
    pub(super) async fn buffered(&self, call: Call) -> Result<Bytes, ClientError> {
        self.buffered_as(call, ScopeSet::Instances).await
    }

    /// Runs a call with a token of `scopes` and reads its whole (small, JSON) body.
    pub(super) async fn buffered_as(
        &self,
        call: Call,
        scopes: ScopeSet,
    ) -> Result<Bytes, ClientError> {
        match self.execute_as(&call, scopes, true).await? {
            Answer::Buffered(body) => Ok(body),
            Answer::Streaming(_) => unreachable!("execute buffers when asked to"),
        }
    }

    /// Sends `call` with a token of `scopes` and returns its body as a stream checked against
    /// `Content-Length` (data downloads: never buffered whole).
    pub(super) async fn streamed_as(
        &self,
        operation: &'static str,
        call: Call,
        scopes: ScopeSet,
    ) -> Result<DataStream, ClientError> {
        let response = match self.execute_as(&call, scopes, false).await? {
            Answer::Streaming(response) => response,
            Answer::Buffered(_) => unreachable!("execute streams when asked to"),
        };
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(DataStream {
            content_type,
            content_length: response.content_length(),
            body: Box::pin(LengthCheckedBody::new(operation, response)),
        })
    }

    /// Sends `call` with our token for `scopes`, retrying transient failures; the allowlist is
    /// checked before anything is sent. With `buffer`, the body is read inside the retry loop
    /// (under the per-request timeout); without, the response is returned as soon as its head
    /// arrives.
    pub(super) async fn execute_as(
        &self,
        call: &Call,
        scopes: ScopeSet,
        buffer: bool,
    ) -> Result<Answer, ClientError> {
        let operation = call.operation;
        if !self.allowlist.permits(&call.url) {
            return Err(ClientError::NotAllowed { operation });
        }
        let max_attempts = if call.once {
            1
        } else {
            self.retry.max_attempts.max(1)
        };
        let mut attempt = 0u32;
        let mut refreshed_after_401 = false;
        loop {
            attempt += 1;
            let token = match self.tokens.token_for(scopes).await {
                Ok(token) => token,
                Err(error) => {
                    let error = ClientError::Auth(error);
                    if !error.is_transient() || attempt >= max_attempts {
                        return Err(error);
                    }
                    let delay = self.retry.between_attempts().delay(attempt, None);
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
            if let Some(key) = self.correspondence_key(scopes) {
                request = request.header(SUBSCRIPTION_KEY_HEADER, key);
            }
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
                        let retry_after = retry_after_of(response.headers());
                        return Err(ClientError::Status {
                            operation,
                            status: status.as_u16(),
                            transient: false,
                            retry_after,
                            problem: read_problem(response).await,
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
                    problem: None,
                },
                TransientFailure::Transport(reason) => ClientError::Transport { operation, reason },
            };
            if attempt >= max_attempts {
                return Err(give_up(failure));
            }
            // A `Retry-After` longer than we may wait here goes to the caller to reschedule (a
            // Lambda should not sleep on its bill); a shorter one is the backoff's floor.
            if retry_after.is_some_and(|wait| wait > self.retry.max_delay) {
                return Err(give_up(failure));
            }
            let delay = self.retry.between_attempts().delay(attempt, retry_after);
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

impl AltinnClient {
    /// The subscription key header's value for a call with `scopes`: only Correspondence calls
    /// carry it, marked sensitive so no debug output of the request shows it.
    fn correspondence_key(&self, scopes: ScopeSet) -> Option<HeaderValue> {
        if !scopes.is_correspondence() {
            return None;
        }
        let mut value = HeaderValue::from_str(self.subscription_key.as_ref()?.expose()).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl Call {
    pub(super) fn get(operation: &'static str, url: Url) -> Self {
        Call {
            operation,
            method: Method::GET,
            url,
            payload: Payload::None,
            once: false,
        }
    }
}

/// Appends path segments (each percent-encoded by the `url` crate, so no input can add a `/`,
/// `?` or `..`) after the base URL's trailing slash.
pub(super) fn extend_path(
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
pub(super) fn plain_name<'a>(
    operation: &'static str,
    name: &'a str,
) -> Result<&'a str, ClientError> {
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
    crate::retry::parse_retry_after(value, SystemTime::now())
}

/// The largest refusal body read for its ProblemDetails.
const MAX_PROBLEM_BODY: usize = 16 * 1024;

/// The ProblemDetails of a refusal, when its body is a small JSON object (it is dropped
/// otherwise: a refusal is a refusal whatever its body says).
async fn read_problem(mut response: reqwest::Response) -> Option<Problem> {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    if !is_json {
        return None;
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_PROBLEM_BODY {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Problem::parse(&body)
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

pub(super) fn parse_instance(
    operation: &'static str,
    body: Bytes,
) -> Result<RawInstance, ClientError> {
    RawInstance::parse(body).map_err(|e| ClientError::Decode {
        operation,
        reason: format!("not an Instance: {e}"),
    })
}

pub(super) fn parse_json<T: DeserializeOwned>(
    operation: &'static str,
    body: &[u8],
) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        operation,
        reason: format!("JSON of the wrong shape: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
