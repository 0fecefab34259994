//! The Maskinporten JWT-bearer grant
//! (https://docs.digdir.no/docs/Maskinporten/maskinporten_protocol_token): build and sign the assertion, POST it to
//! `{issuer}token`, and read the access token or the OAuth error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use url::Url;

use super::key::KeyIdentity;
use super::{AuthError, MaskinportenSettings, describe_transport_error};
use crate::secret::Secret;

/// Seconds between the assertion's `iat` and `exp`. Maskinporten allows at most 120;
/// a minute leaves room for a slow network without approaching that limit.
pub(super) const ASSERTION_LIFETIME_SECS: u64 = 60;
/// Maskinporten's hard limit on `exp - iat`.
const MAX_ASSERTION_LIFETIME_SECS: u64 = 120;
const _: () = assert!(ASSERTION_LIFETIME_SECS <= MAX_ASSERTION_LIFETIME_SECS);

/// The OAuth grant type of the JWT-bearer flow (RFC 7523).
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The assertion's claims, exactly `aud`, `iss`, `scope`, `iat`, `exp` and `jti` (extra claims
/// make Maskinporten answer 400).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct AssertionClaims {
    pub aud: String,
    pub iss: String,
    pub scope: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// The issuer with exactly one trailing slash: the assertion's `aud` (Maskinporten compares it as a string).
pub(super) fn normalized_issuer(issuer: &Url) -> Url {
    let mut issuer = issuer.clone();
    if !issuer.path().ends_with('/') {
        let path = format!("{}/", issuer.path());
        issuer.set_path(&path);
    }
    issuer
}

/// `{issuer}token`.
pub(super) fn token_endpoint(issuer: &Url) -> Result<Url, AuthError> {
    normalized_issuer(issuer)
        .join("token")
        .map_err(|e| AuthError::Invalid(format!("cannot build the Maskinporten token URL: {e}")))
}

/// Builds and signs the grant assertion for `scopes` at `now`. The result is a credential:
/// never log it.
pub(super) fn signed_assertion(
    settings: &MaskinportenSettings,
    scopes: &str,
    now: SystemTime,
) -> Result<Secret, AuthError> {
    let iat = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AuthError::Invalid("the system clock is before 1970".into()))?
        .as_secs();
    let claims = AssertionClaims {
        aud: normalized_issuer(&settings.issuer).to_string(),
        iss: settings.client_id.clone(),
        scope: scopes.to_owned(),
        iat,
        exp: iat + ASSERTION_LIFETIME_SECS,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let mut header = Header::new(Algorithm::RS256);
    match &settings.key.identity {
        KeyIdentity::Kid(kid) => {
            // {"alg":"RS256","kid":…,"typ":"JWT"} like Altinn's own JWK-key client.
            header.kid = Some(kid.clone());
        }
        KeyIdentity::X5c(chain) => {
            // {"alg":"RS256","x5c":[…]}: Altinn's own certificate client drops typ and kid.
            header.typ = None;
            header.x5c = Some(chain.clone());
        }
    }
    // A compact JWS: base64url(header) "." base64url(claims) "." base64url(signature).
    let encode_part = |part: Vec<u8>| URL_SAFE_NO_PAD.encode(part);
    let header_json = serde_json::to_vec(&header)
        .map_err(|e| AuthError::Invalid(format!("cannot encode the assertion header: {e}")))?;
    let claims_json = serde_json::to_vec(&claims)
        .map_err(|e| AuthError::Invalid(format!("cannot encode the assertion claims: {e}")))?;
    let message = format!("{}.{}", encode_part(header_json), encode_part(claims_json));
    let signature = settings.key.sign_rs256(message.as_bytes())?;
    Ok(Secret::new(format!("{message}.{}", encode_part(signature))))
}

/// Maskinporten's 200 answer; only the token is needed.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// Maskinporten's OAuth error body (`{error, error_description}`).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Runs the grant for `scopes` and returns Maskinporten's access token.
pub(super) async fn grant(
    http: &reqwest::Client,
    settings: &MaskinportenSettings,
    scopes: &str,
    endpoint: &Url,
    timeout: Duration,
) -> Result<Secret, AuthError> {
    let assertion = signed_assertion(settings, scopes, SystemTime::now())?;
    let response = http
        .post(endpoint.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", assertion.expose()),
        ])
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| AuthError::Transport {
            service: "Maskinporten",
            reason: describe_transport_error(&e),
        })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| AuthError::Transport {
        service: "Maskinporten",
        reason: describe_transport_error(&e),
    })?;
    if status.is_success() {
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            AuthError::Invalid("Maskinporten answered 200 without a JSON access_token".into())
        })?;
        if parsed.access_token.trim().is_empty() {
            return Err(AuthError::Invalid(
                "Maskinporten answered an empty access_token".into(),
            ));
        }
        return Ok(Secret::new(parsed.access_token));
    }
    Err(grant_error(status.as_u16(), &body))
}

/// Maps a non-2xx grant answer to [`AuthError::Maskinporten`], with Maskinporten's own code when
/// the body is the documented `{error, error_description}`.
pub(super) fn grant_error(status: u16, body: &[u8]) -> AuthError {
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(oauth) => AuthError::Maskinporten {
            status,
            error: oauth.error,
            description: oauth.error_description.unwrap_or_default(),
        },
        Err(_) => AuthError::Maskinporten {
            status,
            error: format!("http_{status}"),
            description: "Maskinporten answered without an OAuth error body".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;
    use crate::auth::MaskinportenKey;

    const PKCS8: &str = include_str!("../../../tools/altinn-sim/testdata/client-key.pkcs8.pem");
    const PUBLIC: &str = include_str!("../../../tools/altinn-sim/testdata/client-key.pub.pem");
    const CERT: &str = include_str!("../../../tools/altinn-sim/testdata/client-cert.pem");
    const JWK: &str = include_str!("../../tests/fixtures/client-key.jwk.json");
    const SCOPES: &str = "altinn:serviceowner/instances.read altinn:serviceowner/instances.write";

    fn settings(key: MaskinportenKey) -> MaskinportenSettings {
        MaskinportenSettings {
            issuer: Url::parse("https://test.maskinporten.no/").unwrap(),
            client_id: "my-client-id".into(),
            scopes: "altinn:serviceowner/instances.read".into(),
            key,
        }
    }

    /// Verifies the signature with the public key and returns header and claims.
    fn verify(assertion: &Secret) -> (serde_json::Value, AssertionClaims) {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://test.maskinporten.no/"]);
        validation.set_issuer(&["my-client-id"]);
        validation.required_spec_claims = ["exp", "iat", "aud", "iss"]
            .iter()
            .map(|s| s.to_string())
            .collect::<HashSet<_>>();
        let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let data =
            jsonwebtoken::decode::<AssertionClaims>(assertion.expose(), &key, &validation).unwrap();
        // The raw header JSON, to check exactly which members are present.
        let header_b64 = assertion.expose().split('.').next().unwrap();
        let header_json = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            header_b64,
        )
        .unwrap();
        (serde_json::from_slice(&header_json).unwrap(), data.claims)
    }

    fn check_claims(claims: &AssertionClaims, now: u64) {
        assert_eq!(claims.aud, "https://test.maskinporten.no/");
        assert_eq!(claims.iss, "my-client-id");
        assert_eq!(
            claims.scope,
            "altinn:serviceowner/instances.read altinn:serviceowner/instances.write"
        );
        assert_eq!(claims.iat, now);
        assert!(claims.exp > claims.iat);
        assert!(claims.exp - claims.iat <= 120);
        assert_eq!(claims.exp - claims.iat, ASSERTION_LIFETIME_SECS);
        let jti = uuid::Uuid::parse_str(&claims.jti).unwrap();
        assert_eq!(jti.get_version_num(), 4);
    }

    #[test]
    fn kid_assertion_has_the_documented_header_and_claims() {
        let key = MaskinportenKey::parse(&Secret::new(PKCS8), Some(KeyIdentity::Kid("k-1".into())))
            .unwrap();
        let now = SystemTime::now();
        let assertion = signed_assertion(&settings(key), SCOPES, now).unwrap();
        let (header, claims) = verify(&assertion);
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "kid": "k-1", "typ": "JWT"})
        );
        check_claims(&claims, now.duration_since(UNIX_EPOCH).unwrap().as_secs());
    }

    #[test]
    fn x5c_assertion_has_an_array_and_no_kid_or_typ() {
        let key =
            MaskinportenKey::from_pem_with_certificate_chain(&Secret::new(PKCS8), CERT).unwrap();
        let KeyIdentity::X5c(chain) = key.identity().clone() else {
            unreachable!()
        };
        let now = SystemTime::now();
        let assertion = signed_assertion(&settings(key), SCOPES, now).unwrap();
        let (header, claims) = verify(&assertion);
        assert_eq!(header, serde_json::json!({"alg": "RS256", "x5c": chain}));
        assert!(header["x5c"].is_array());
        check_claims(&claims, now.duration_since(UNIX_EPOCH).unwrap().as_secs());
    }

    #[test]
    fn jwk_assertion_verifies_with_the_same_public_key() {
        let key = MaskinportenKey::parse(&Secret::new(JWK), None).unwrap();
        let now = SystemTime::now();
        let assertion = signed_assertion(&settings(key), SCOPES, now).unwrap();
        let (header, claims) = verify(&assertion);
        assert_eq!(header["kid"], "sim-kid");
        check_claims(&claims, now.duration_since(UNIX_EPOCH).unwrap().as_secs());
    }

    #[test]
    fn every_assertion_has_a_fresh_jti() {
        let key = MaskinportenKey::parse(&Secret::new(JWK), None).unwrap();
        let settings = settings(key);
        let now = SystemTime::now();
        let first = verify(&signed_assertion(&settings, SCOPES, now).unwrap()).1;
        let second = verify(&signed_assertion(&settings, SCOPES, now).unwrap()).1;
        assert_ne!(first.jti, second.jti);
    }

    #[test]
    fn issuer_gets_a_trailing_slash_and_the_endpoint_is_issuer_token() {
        let bare = Url::parse("http://127.0.0.1:9/maskinporten").unwrap();
        assert_eq!(
            normalized_issuer(&bare).as_str(),
            "http://127.0.0.1:9/maskinporten/"
        );
        assert_eq!(
            token_endpoint(&bare).unwrap().as_str(),
            "http://127.0.0.1:9/maskinporten/token"
        );
        let prod = Url::parse("https://maskinporten.no/").unwrap();
        assert_eq!(
            normalized_issuer(&prod).as_str(),
            "https://maskinporten.no/"
        );
        assert_eq!(
            token_endpoint(&prod).unwrap().as_str(),
            "https://maskinporten.no/token"
        );
    }

    #[test]
    fn oauth_errors_keep_maskinporten_codes() {
        let err = grant_error(
            400,
            br#"{"error":"invalid_grant","error_description":"MP-012 Grant is used before"}"#,
        );
        assert!(matches!(
            &err,
            AuthError::Maskinporten { status: 400, error, description }
                if error == "invalid_grant" && description.contains("MP-012")
        ));
        assert!(!err.is_transient());
        let err = grant_error(503, b"<html>busy</html>");
        assert!(
            matches!(&err, AuthError::Maskinporten { status: 503, error, .. } if error == "http_503")
        );
        assert!(err.is_transient());
        assert!(grant_error(429, b"").is_transient());
    }
}
