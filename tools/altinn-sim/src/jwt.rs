//! JWT plumbing: the simulator's signing key, the registered client key, and the hand parsing of
//! compact JWTs (needed to see header fields exactly as sent, e.g. `x5c` as a string).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::Value;

use crate::config::{ISSUER_PRIVATE_KEY_PEM, ISSUER_PUBLIC_KEY_PEM, SimConfig};
use crate::der;

/// `kid` in the header of every token the simulator issues.
pub(crate) const ISSUER_KID: &str = "altinn-sim-issuer";

/// Keys the simulator holds.
pub(crate) struct Keys {
    issuer_signing: EncodingKey,
    issuer_verifying: DecodingKey,
    /// PKCS#1 RSAPublicKey of the registered client key (to compare with an `x5c` certificate).
    pub client_rsa_key: Vec<u8>,
}

impl Keys {
    pub(crate) fn load(config: &SimConfig) -> std::io::Result<Keys> {
        let invalid =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
        let issuer_signing = EncodingKey::from_rsa_pem(ISSUER_PRIVATE_KEY_PEM.as_bytes())
            .map_err(|_| invalid("issuer private key is not an RSA PEM key"))?;
        let issuer_verifying = DecodingKey::from_rsa_pem(ISSUER_PUBLIC_KEY_PEM.as_bytes())
            .map_err(|_| invalid("issuer public key is not an RSA PEM key"))?;
        let spki = der::pem_to_der(&config.client_public_key_pem, "PUBLIC KEY")
            .ok_or_else(|| invalid("client_public_key_pem is not a PUBLIC KEY PEM block"))?;
        let client_rsa_key = der::rsa_key_from_spki(&spki)
            .ok_or_else(|| invalid("client_public_key_pem is not an RSA public key"))?
            .to_vec();
        Ok(Keys {
            issuer_signing,
            issuer_verifying,
            client_rsa_key,
        })
    }

    /// Signs claims with the simulator's issuer key (RS256).
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(ISSUER_KID.to_owned());
        header.typ = Some("JWT".to_owned());
        // Signing a JSON value with a valid RSA key cannot fail short of a broken crypto backend.
        jsonwebtoken::encode(&header, claims, &self.issuer_signing)
            .expect("signing with the simulator's issuer key")
    }

    /// Parses a token the simulator issued and checks its signature; claims are not checked.
    pub(crate) fn verify_issued(&self, token: &str) -> Option<Value> {
        let parsed = ParsedJwt::parse(token)?;
        if parsed.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return None;
        }
        parsed
            .verify(&self.issuer_verifying, Algorithm::RS256)
            .then_some(parsed.claims)
    }
}

/// A compact JWT split into its parts, header and claims decoded as JSON objects.
pub(crate) struct ParsedJwt<'a> {
    pub header: Value,
    pub claims: Value,
    signing_input: &'a str,
    signature: &'a str,
}

impl<'a> ParsedJwt<'a> {
    pub(crate) fn parse(token: &'a str) -> Option<ParsedJwt<'a>> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        if claims.contains('.') || signature.is_empty() {
            return None;
        }
        let decode = |part: &str| -> Option<Value> {
            let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
            let value: Value = serde_json::from_slice(&bytes).ok()?;
            value.is_object().then_some(value)
        };
        Some(ParsedJwt {
            header: decode(header)?,
            claims: decode(claims)?,
            signing_input,
            signature,
        })
    }

    /// Checks the signature with `key` for `algorithm`.
    pub(crate) fn verify(&self, key: &DecodingKey, algorithm: Algorithm) -> bool {
        jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            key,
            algorithm,
        )
        .unwrap_or(false)
    }
}

/// The bearer token of an `Authorization` header value, if it is `Bearer <token>`.
pub(crate) fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Current time in epoch seconds.
pub(crate) fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
