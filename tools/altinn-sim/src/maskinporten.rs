//! Maskinporten's token endpoint (<https://docs.digdir.no/docs/Maskinporten/>): verifies the JWT-bearer grant and issues an
//! access token signed with the simulator's issuer key.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::der;
use crate::jwt::{ParsedJwt, now_epoch};
use crate::state::Shared;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Largest allowed `exp - iat` of a grant.
const MAX_GRANT_LIFETIME_SECS: i64 = 120;
/// Allowed clock difference for `iat`.
const IAT_LEEWAY_SECS: i64 = 10;
/// Claims Maskinporten's grant spec knows (plus the registered JWT claims `nbf` and `sub`);
/// anything else is "Invalid assertion".
const KNOWN_CLAIMS: &[&str] = &[
    "aud",
    "iss",
    "iat",
    "exp",
    "jti",
    "scope",
    "resource",
    "consumer_org",
    "iss_onbehalfof",
    "pid",
    "authorization_details",
    "nbf",
    "sub",
];

/// An OAuth2 error answer: HTTP 400 `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantError {
    pub error: &'static str,
    pub description: String,
}

impl GrantError {
    fn grant(description: impl Into<String>) -> Self {
        GrantError {
            error: "invalid_grant",
            description: description.into(),
        }
    }

    fn scope(description: impl Into<String>) -> Self {
        GrantError {
            error: "invalid_scope",
            description: description.into(),
        }
    }

    fn request(description: impl Into<String>) -> Self {
        GrantError {
            error: "invalid_request",
            description: description.into(),
        }
    }
}

impl IntoResponse for GrantError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

/// `POST /maskinporten/token`
pub(crate) async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return GrantError::request("Content-Type must be application/x-www-form-urlencoded")
            .into_response();
    }
    match issue_token(&shared, &body, now_epoch()) {
        Ok(token) => {
            let mut response = Json(token).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(error) => {
            tracing::debug!(error = error.error, description = %error.description, "grant refused");
            error.into_response()
        }
    }
}

/// Verifies a grant request body and returns the token response JSON.
pub(crate) fn issue_token(shared: &Shared, body: &[u8], now: i64) -> Result<Value, GrantError> {
    let mut grant_type = None;
    let mut assertion = None;
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "grant_type" => grant_type = Some(value.into_owned()),
            "assertion" => assertion = Some(value.into_owned()),
            _ => {}
        }
    }
    match grant_type.as_deref() {
        None => return Err(GrantError::request("Missing grant_type")),
        Some(JWT_BEARER) => {}
        Some(_) => {
            return Err(GrantError {
                error: "unsupported_grant_type",
                description: format!("grant_type must be {JWT_BEARER}"),
            });
        }
    }
    let assertion = assertion.ok_or_else(|| GrantError::request("Missing assertion"))?;
    let jwt = ParsedJwt::parse(&assertion)
        .ok_or_else(|| GrantError::grant("Invalid assertion. The assertion is not a valid JWT"))?;

    let algorithm = match jwt.header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("RS384") => Algorithm::RS384,
        Some("RS512") => Algorithm::RS512,
        _ => {
            return Err(GrantError::grant(
                "Invalid assertion. alg must be RS256, RS384 or RS512",
            ));
        }
    };

    let config = &shared.config;
    if jwt.claims.get("iss").and_then(Value::as_str) != Some(config.client_id.as_str()) {
        return Err(GrantError::grant(
            "Invalid assertion. Client not found (MP-100)",
        ));
    }

    let key = signing_key(shared, &jwt.header)?;
    if !jwt.verify(&key, algorithm) {
        return Err(GrantError::grant(
            "Invalid assertion. Signature verification failed (MP-124)",
        ));
    }

    let claims = jwt.claims.as_object().cloned().unwrap_or_default();
    if let Some(unknown) = claims.keys().find(|k| !KNOWN_CLAIMS.contains(&k.as_str())) {
        return Err(GrantError::grant(format!(
            "Invalid assertion. Unknown claim '{unknown}'"
        )));
    }

    let issuer = shared.maskinporten_issuer();
    if claims.get("aud").and_then(Value::as_str) != Some(issuer.as_str()) {
        return Err(GrantError::grant(format!(
            "Invalid assertion. Invalid audience; it must be the issuer {issuer} (MP-110)"
        )));
    }

    let iat = numeric_date(claims.get("iat"))
        .ok_or_else(|| GrantError::grant("Invalid assertion. Missing or invalid iat"))?;
    let exp = numeric_date(claims.get("exp"))
        .ok_or_else(|| GrantError::grant("Invalid assertion. Missing or invalid exp"))?;
    if exp - iat > MAX_GRANT_LIFETIME_SECS {
        return Err(GrantError::grant(format!(
            "Invalid assertion. exp - iat is {} s; the maximum lifetime is {MAX_GRANT_LIFETIME_SECS} s",
            exp - iat
        )));
    }
    if exp <= now {
        return Err(GrantError::grant(
            "Invalid assertion. The JWT has expired (MP-130)",
        ));
    }
    if (iat - now).abs() > IAT_LEEWAY_SECS {
        return Err(GrantError::grant(format!(
            "Invalid assertion. iat must be within {IAT_LEEWAY_SECS} s of the server time (MP-130)"
        )));
    }

    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| GrantError::grant("Invalid assertion. Missing jti"))?;
    if !shared.lock().used_grant_jtis.insert(jti.to_owned()) {
        return Err(GrantError::grant(
            "Invalid assertion. Grant is used before (MP-012)",
        ));
    }

    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    if scope.is_empty() {
        return Err(GrantError::scope("Missing scope (MP-200)"));
    }
    if let Some(unregistered) = scope
        .split_whitespace()
        .find(|s| !config.client_scopes.iter().any(|r| r == s))
    {
        return Err(GrantError::scope(format!(
            "Scope '{unregistered}' is not registered on the client (MP-200)"
        )));
    }
    let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");

    let lifetime = i64::try_from(config.maskinporten_token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let access_token = shared.keys.sign(&json!({
        "scope": scope,
        "iss": issuer,
        "client_amr": "private_key_jwt",
        "token_type": "Bearer",
        "exp": now.saturating_add(lifetime),
        "iat": now,
        "client_id": config.client_id,
        "jti": Uuid::new_v4().simple().to_string(),
        "consumer": {"authority": "iso6523-actorid-upis", "ID": format!("0192:{}", config.org_number)},
    }));
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }))
}

/// The key that must have signed the grant: the registered key named by `kid`, or the key of
/// the `x5c` certificate, which must be the client's registered key (the simulator's stand-in
/// for "a business certificate of the client's organisation"; chains and dates are not checked).
fn signing_key(shared: &Shared, header: &Value) -> Result<DecodingKey, GrantError> {
    let kid = header.get("kid");
    let x5c = header.get("x5c");
    match (kid, x5c) {
        (Some(_), Some(_)) | (None, None) => Err(GrantError::grant(
            "Invalid assertion. The header must carry exactly one of kid and x5c",
        )),
        (Some(kid), None) => {
            if kid.as_str() == Some(shared.config.client_kid.as_str()) {
                Ok(DecodingKey::from_rsa_der(&shared.keys.client_rsa_key))
            } else {
                Err(GrantError::grant(
                    "Invalid assertion. Client authentication failed: no key with this kid is registered on the client",
                ))
            }
        }
        (None, Some(x5c)) => {
            let Some(chain) = x5c.as_array() else {
                return Err(GrantError::grant(
                    "Invalid assertion. x5c must be a JSON array of base64 DER certificates (MP-123)",
                ));
            };
            let invalid =
                || GrantError::grant("Invalid assertion. Invalid certificate in x5c (MP-120)");
            let first = chain.first().and_then(Value::as_str).ok_or_else(invalid)?;
            let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, first)
                .map_err(|_| invalid())?;
            let rsa_key = der::rsa_key_from_certificate(&der).ok_or_else(invalid)?;
            if rsa_key != shared.keys.client_rsa_key.as_slice() {
                return Err(GrantError::grant(
                    "Invalid assertion. The certificate is not registered for this client (MP-120)",
                ));
            }
            Ok(DecodingKey::from_rsa_der(rsa_key))
        }
    }
}

/// A JWT NumericDate (integer or fractional seconds) as whole seconds.
fn numeric_date(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}
