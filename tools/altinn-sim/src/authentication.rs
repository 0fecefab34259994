//! Altinn's token exchange (a Maskinporten token for an Altinn token, `GET
//! /authentication/api/v1/exchange/maskinporten`) and the check of Altinn tokens on the platform and app
//! routes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::jwt::{bearer_token, now_epoch};
use crate::reply::Reject;
use crate::state::Shared;

/// Clock skew Altinn allows when validating the Maskinporten token.
const EXCHANGE_CLOCK_SKEW_SECS: i64 = 10;
const ENTERPRISE_USER_HEADER: &str = "x-altinn-enterpriseuser-authentication";

/// `GET /authentication/api/v1/exchange/{tokenProvider}`
pub(crate) async fn exchange_endpoint(
    State(shared): State<Arc<Shared>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key(ENTERPRISE_USER_HEADER) {
        return (
            StatusCode::GONE,
            "Enterprise user authentication is discontinued",
        )
            .into_response();
    }
    match provider.to_ascii_lowercase().as_str() {
        "maskinporten" => {}
        "id-porten" | "altinnstudio" => {
            return (
                StatusCode::BAD_REQUEST,
                "The simulator only exchanges Maskinporten tokens",
            )
                .into_response();
        }
        _ => return (StatusCode::BAD_REQUEST, "Invalid token provider").into_response(),
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(altinn_token) = bearer_token(authorization)
        .and_then(|token| exchange_maskinporten_token(&shared, token, now_epoch()))
    else {
        // Altinn answers every problem (and any exception) with a bare 401.
        return StatusCode::UNAUTHORIZED.into_response();
    };
    exchange_response(&headers, altinn_token)
}

/// Validates a Maskinporten access token and issues the Altinn token for it.
pub(crate) fn exchange_maskinporten_token(
    shared: &Shared,
    token: &str,
    now: i64,
) -> Option<String> {
    let claims = shared.keys.verify_issued(token)?;
    if claims.get("iss").and_then(Value::as_str) != Some(shared.maskinporten_issuer().as_str()) {
        return None;
    }
    let exp = claims.get("exp").and_then(Value::as_i64)?;
    if now > exp + EXCHANGE_CLOCK_SKEW_SECS {
        return None;
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
        && nbf > now + EXCHANGE_CLOCK_SKEW_SECS
    {
        return None;
    }
    let consumer = claims.get("consumer")?;
    if consumer.get("authority").and_then(Value::as_str) != Some("iso6523-actorid-upis") {
        return None;
    }
    let org_number = consumer
        .get("ID")
        .and_then(Value::as_str)?
        .strip_prefix("0192:")?
        .to_owned();
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();

    let config = &shared.config;
    let lifetime = i64::try_from(config.altinn_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let jti = Uuid::new_v4().to_string();
    let mut altinn_claims = json!({
        "scope": scope,
        "token_type": "Bearer",
        "exp": now.saturating_add(lifetime),
        "iat": now,
        "nbf": now,
        "client_id": claims.get("client_id").cloned().unwrap_or(Value::Null),
        "consumer": consumer.clone(),
        "urn:altinn:orgNumber": org_number,
        "urn:altinn:authenticatemethod": "maskinporten",
        "urn:altinn:authlevel": 3,
        "iss": shared.altinn_issuer(),
        "jti": jti,
    });
    // Altinn adds the org claim only for a service-owner scope and a registered service owner.
    if scope.contains("altinn:serviceowner") && org_number == config.org_number {
        altinn_claims["urn:altinn:org"] = Value::from(config.org.clone());
    }
    let altinn_token = shared.keys.sign(&altinn_claims);
    shared.lock().issued_altinn_jtis.insert(jti);
    Some(altinn_token)
}

/// ASP.NET's `Ok(string)` under content negotiation: `text/plain` (raw JWT) unless the client
/// prefers `application/json`, which gets a JSON string literal.
fn exchange_response(headers: &HeaderMap, token: String) -> Response {
    if prefers_json(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())) {
        let body = Value::String(token).to_string();
        let mut response = body.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    } else {
        let mut response = token.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// Whether the best-ranked media type of an `Accept` header that the string formatter or the
/// JSON formatter can serve is JSON.
fn prefers_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut ranges: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(index, part)| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim().to_ascii_lowercase();
            let quality = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!media.is_empty() && quality > 0.0).then_some((quality, index, media))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, media) in ranges {
        match media.as_str() {
            "application/json" | "text/json" | "application/*+json" => return true,
            "text/plain" | "text/*" | "*/*" => return false,
            _ => {}
        }
    }
    false
}

/// Who an Altinn token says the caller is.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// `urn:altinn:org`: present only for service-owner tokens.
    pub org: Option<String>,
    /// `urn:altinn:orgNumber`.
    pub org_number: Option<String>,
    /// The Maskinporten scopes carried over.
    pub scopes: Vec<String>,
}

impl Caller {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Checks the bearer Altinn token of a platform/app request: signature, issuer, expiry (no
/// clock skew, so expiry tests need not wait) and revocation. `Err` is the 401 to answer.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Caller, Reject> {
    let unauthorized = || Reject::from(StatusCode::UNAUTHORIZED);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = bearer_token(authorization).ok_or_else(unauthorized)?;
    let claims = shared.keys.verify_issued(token).ok_or_else(unauthorized)?;
    if claims.get("iss").and_then(Value::as_str) != Some(shared.altinn_issuer().as_str()) {
        return Err(unauthorized());
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(unauthorized)?;
    if now_epoch() >= exp {
        return Err(unauthorized());
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(unauthorized)?;
    {
        let inner = shared.lock();
        if inner.revoked_altinn_jtis.contains(jti) || !inner.issued_altinn_jtis.contains(jti) {
            return Err(unauthorized());
        }
    }
    Ok(Caller {
        org: claims
            .get("urn:altinn:org")
            .and_then(Value::as_str)
            .map(str::to_owned),
        org_number: claims
            .get("urn:altinn:orgNumber")
            .and_then(Value::as_str)
            .map(str::to_owned),
        scopes: claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::prefers_json;

    #[test]
    fn accept_negotiation_follows_quality_then_order() {
        assert!(!prefers_json(None));
        assert!(!prefers_json(Some("*/*")));
        assert!(!prefers_json(Some("text/plain")));
        assert!(prefers_json(Some("application/json")));
        assert!(prefers_json(Some("application/json, text/plain")));
        assert!(!prefers_json(Some("text/plain, application/json")));
        assert!(prefers_json(Some("text/plain;q=0.5, application/json")));
        assert!(prefers_json(Some("image/png, application/json;q=0.9")));
    }
}
