//! The Altinn token exchange (`GET authentication/api/v1/exchange/maskinporten`,
//! https://github.com/Altinn/altinn-authentication): a Maskinporten access token in, an Altinn
//! JWT out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use url::Url;

use super::{AltinnToken, AuthError, describe_transport_error};
use crate::secret::Secret;

/// `{platform}authentication/api/v1/exchange/maskinporten`.
pub(super) fn exchange_url(platform_url: &Url) -> Result<Url, AuthError> {
    let mut url = platform_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| AuthError::Invalid("the platform URL cannot be a base".into()))?
        .pop_if_empty()
        .extend(["authentication", "api", "v1", "exchange", "maskinporten"]);
    Ok(url)
}

/// Exchanges the Maskinporten token for an Altinn token.
pub(super) async fn exchange(
    http: &reqwest::Client,
    url: &Url,
    maskinporten_token: &Secret,
    timeout: Duration,
) -> Result<AltinnToken, AuthError> {
    // Altinn's own clients ask for JSON (a quoted string); the plain-text default works too, and
    // `parse_exchange_body` reads both.
    let response = http
        .get(url.clone())
        .bearer_auth(maskinporten_token.expose())
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| AuthError::Transport {
            service: "Altinn token exchange",
            reason: describe_transport_error(&e),
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(AuthError::Exchange {
            status: status.as_u16(),
        });
    }
    let body = response.bytes().await.map_err(|e| AuthError::Transport {
        service: "Altinn token exchange",
        reason: describe_transport_error(&e),
    })?;
    parse_exchange_body(&body)
}

/// Reads the exchange answer: a raw JWT (`text/plain`) or the same as a JSON string literal
/// (`application/json`). The expiry comes from the token's own `exp`, because Altinn's lifetime
/// (30 min) has nothing to do with Maskinporten's `expires_in`. The signature is not
/// checked: the token came over TLS from the allowlisted platform host and is opaque to us.
pub(super) fn parse_exchange_body(body: &[u8]) -> Result<AltinnToken, AuthError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AuthError::Invalid("the exchanged token is not UTF-8".into()))?
        .trim();
    let jwt = if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        serde_json::from_str::<String>(text).map_err(|_| {
            AuthError::Invalid("the exchanged token is a malformed JSON string".into())
        })?
    } else {
        text.to_owned()
    };
    let jwt = jwt.trim().to_owned();
    let expires_at = expiry_of(&jwt)?;
    Ok(AltinnToken {
        value: Secret::new(jwt),
        expires_at,
    })
}

#[derive(Deserialize)]
struct ExpiryClaim {
    exp: u64,
}

/// The `exp` of a JWT, read without verifying the signature.
fn expiry_of(jwt: &str) -> Result<SystemTime, AuthError> {
    // Three non-empty base64url parts: anything else (quotes, whitespace, control characters)
    // would be a broken header value later.
    let well_formed = jwt.split('.').count() == 3
        && jwt.split('.').all(|part| !part.is_empty())
        && jwt
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !well_formed {
        return Err(AuthError::Invalid(
            "the exchanged token is not a JWT".into(),
        ));
    }
    let claims: ExpiryClaim = jsonwebtoken::dangerous::insecure_decode_claims(jwt)
        .map_err(|_| AuthError::Invalid("the exchanged token has no numeric exp claim".into()))?;
    UNIX_EPOCH
        .checked_add(Duration::from_secs(claims.exp))
        .ok_or_else(|| AuthError::Invalid("the exchanged token's exp is out of range".into()))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn jwt_with(payload: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn raw_and_json_string_bodies_give_the_same_token() {
        let jwt = jwt_with(r#"{"exp":1737819376,"iat":1737817576,"urn:altinn:org":"ttd"}"#);
        let expected = UNIX_EPOCH + Duration::from_secs(1_737_819_376);
        for body in [
            jwt.clone(),
            format!("{jwt}\r\n"),
            format!("\"{jwt}\""),
            format!("  \"{jwt}\"\n"),
        ] {
            let token = parse_exchange_body(body.as_bytes()).unwrap();
            assert_eq!(token.value.expose(), jwt);
            assert_eq!(token.expires_at, expected);
        }
    }

    #[test]
    fn bodies_that_are_not_tokens_are_refused() {
        for body in [
            "".to_owned(),
            "\"\"".to_owned(),
            "not a jwt".to_owned(),
            "\"unterminated".to_owned(),
            jwt_with(r#"{"iat":1}"#),
            jwt_with(r#"{"exp":"soon"}"#),
            format!("\"{}\\u0000\"", jwt_with(r#"{"exp":1}"#)),
            "a.b".to_owned(),
        ] {
            let result = parse_exchange_body(body.as_bytes());
            assert!(
                matches!(result, Err(AuthError::Invalid(_))),
                "{body:?} gave {result:?}"
            );
        }
        assert!(parse_exchange_body(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn errors_never_echo_the_token() {
        let jwt = jwt_with(r#"{"iat":1}"#);
        let err = parse_exchange_body(jwt.as_bytes()).unwrap_err();
        assert!(!err.to_string().contains(&jwt[..20]));
    }

    #[test]
    fn exchange_url_is_under_the_platform_base() {
        let platform = Url::parse("https://platform.tt02.altinn.no/").unwrap();
        assert_eq!(
            exchange_url(&platform).unwrap().as_str(),
            "https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten"
        );
        let local = Url::parse("http://127.0.0.1:5101/").unwrap();
        assert_eq!(
            exchange_url(&local).unwrap().as_str(),
            "http://127.0.0.1:5101/authentication/api/v1/exchange/maskinporten"
        );
    }
}
