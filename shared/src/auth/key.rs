//! The Maskinporten client key: PEM (PKCS#1 or PKCS#8) or RSA JWK, and how the assertion header
//! names it (`kid` or an `x5c` certificate chain; Maskinporten's JWT grant:
//! https://docs.digdir.no/docs/Maskinporten/maskinporten_protocol_token).
//!
//! The key is loaded into aws-lc when it is parsed, and aws-lc checks it then (`RSA_check_key`:
//! the primes, exponents and CRT values agree; a 2048 to 8192-bit modulus). A function parses
//! its key once at start-up, so a truncated, non-RSA, too small or inconsistent key stops the
//! start with the reason instead of failing every grant later.

use std::sync::Arc;

use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::EncodingKey;
use serde::Deserialize;

use super::AuthError;
use crate::secret::Secret;

/// How the assertion header identifies the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyIdentity {
    /// A key pre-registered on the client: header `{"alg":"RS256","kid":…,"typ":"JWT"}`.
    Kid(String),
    /// A business certificate: header `{"alg":"RS256","x5c":[…]}`, the base64 (standard, not
    /// url-safe) DER certificates, leaf first. Maskinporten refuses a string instead of an array
    /// (MP-123), so this is always a list.
    X5c(Vec<String>),
}

impl KeyIdentity {
    /// An `x5c` identity from a PEM certificate chain: one or more `CERTIFICATE` blocks, leaf
    /// first (the order they appear in). Text outside the blocks is ignored.
    pub fn from_certificate_chain_pem(chain_pem: &str) -> Result<Self, AuthError> {
        Ok(KeyIdentity::X5c(certificate_chain_from_pem(chain_pem)?))
    }

    /// Checks that a `kid` is non-empty and an `x5c` chain is non-empty standard base64.
    fn validate(&self) -> Result<(), AuthError> {
        match self {
            KeyIdentity::Kid(kid) if kid.trim().is_empty() => {
                Err(AuthError::Invalid("the key id (kid) is empty".into()))
            }
            KeyIdentity::Kid(_) => Ok(()),
            KeyIdentity::X5c(chain) if chain.is_empty() => Err(AuthError::Invalid(
                "the x5c certificate chain is empty".into(),
            )),
            KeyIdentity::X5c(chain) => {
                for (index, certificate) in chain.iter().enumerate() {
                    match STANDARD.decode(certificate) {
                        Ok(der) if der.first() == Some(&0x30) => {}
                        _ => {
                            return Err(AuthError::Invalid(format!(
                                "x5c certificate {index} is not base64 DER"
                            )));
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// A Maskinporten client's private key, loaded and checked by aws-lc, and how the assertion
/// names it. Built from PEM (PKCS#1 or PKCS#8) or a JWK; `Debug` never shows key material.
/// Clones share one key pair.
#[derive(Clone)]
pub struct MaskinportenKey {
    key_pair: Arc<RsaKeyPair>,
    pub(super) identity: KeyIdentity,
}

impl std::fmt::Debug for MaskinportenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskinportenKey")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl MaskinportenKey {
    /// Parses a PEM private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`) or an RSA JWK
    /// (JSON), and has aws-lc load and check it. `identity` says how the assertion names the
    /// key; a JWK's own `kid` / `x5c` is used when `identity` is `None` (its `kid` first: a JWK
    /// is normally a pre-registered key).
    pub fn parse(key_text: &Secret, identity: Option<KeyIdentity>) -> Result<Self, AuthError> {
        let text = key_text.expose().trim_start();
        if text.starts_with('{') {
            Self::from_jwk(key_text, identity)
        } else if text.starts_with("-----BEGIN") {
            let identity = identity.ok_or_else(|| {
                AuthError::Invalid(
                    "a PEM key needs a kid (MASKINPORTEN_KID) or an x5c certificate chain".into(),
                )
            })?;
            Self::from_pem(key_text, identity)
        } else {
            Err(AuthError::Invalid(
                "the Maskinporten key is neither PEM nor a JSON Web Key".into(),
            ))
        }
    }

    /// Parses a PEM RSA private key, PKCS#1 (`RSA PRIVATE KEY`) or unencrypted PKCS#8
    /// (`PRIVATE KEY`).
    pub fn from_pem(pem: &Secret, identity: KeyIdentity) -> Result<Self, AuthError> {
        identity.validate()?;
        // The jsonwebtoken error says what is wrong with the format, never the key bytes.
        let encoding_key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|e| {
            AuthError::Invalid(format!("not a PEM RSA private key (PKCS#1 or PKCS#8): {e}"))
        })?;
        // jsonwebtoken hands over the PKCS#1 `RSAPrivateKey` DER for either PEM form.
        let key_pair = RsaKeyPair::from_der(encoding_key.as_bytes()).map_err(refused)?;
        Ok(Self::new(key_pair, identity))
    }

    /// Parses a PEM RSA private key and names it by its business certificate chain (`x5c`),
    /// given as PEM `CERTIFICATE` blocks, leaf first.
    pub fn from_pem_with_certificate_chain(
        pem: &Secret,
        certificate_chain_pem: &str,
    ) -> Result<Self, AuthError> {
        Self::from_pem(
            pem,
            KeyIdentity::from_certificate_chain_pem(certificate_chain_pem)?,
        )
    }

    /// Parses an RSA JWK with its private parts (`n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`,
    /// base64url). Without `identity`, the JWK's `kid` is used, else its `x5c`.
    pub fn from_jwk(jwk: &Secret, identity: Option<KeyIdentity>) -> Result<Self, AuthError> {
        let parsed: RsaJwk = serde_json::from_str(jwk.expose()).map_err(|e| {
            // serde_json's message names a line and column, never the content.
            AuthError::Invalid(format!(
                "the JWK is not a JSON object of the expected shape (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if parsed.kty != "RSA" {
            return Err(AuthError::Invalid(format!(
                "the JWK has kty {:?}; only RSA keys are supported",
                parsed.kty
            )));
        }
        let identity = match identity {
            Some(identity) => identity,
            None => match (&parsed.kid, &parsed.x5c) {
                (Some(kid), _) if !kid.trim().is_empty() => KeyIdentity::Kid(kid.clone()),
                (_, Some(chain)) if !chain.is_empty() => KeyIdentity::X5c(chain.clone()),
                _ => {
                    return Err(AuthError::Invalid(
                        "the JWK has neither kid nor x5c, and no kid was configured".into(),
                    ));
                }
            },
        };
        identity.validate()?;
        Ok(Self::new(parsed.key_pair()?, identity))
    }

    /// How the assertion names this key.
    pub fn identity(&self) -> &KeyIdentity {
        &self.identity
    }

    /// Signs `message` with RS256 (RSASSA-PKCS1-v1_5 with SHA-256): the JWS signature bytes.
    pub(super) fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .map_err(|_| AuthError::Invalid("the RSA private key could not sign".into()))?;
        Ok(signature)
    }

    fn new(key_pair: RsaKeyPair, identity: KeyIdentity) -> Self {
        MaskinportenKey {
            key_pair: Arc::new(key_pair),
            identity,
        }
    }
}

/// Why aws-lc refused a key, in words. `KeyRejected` names the problem (e.g. `TooSmall`,
/// `InconsistentComponents`), never a value.
fn refused(rejected: KeyRejected) -> AuthError {
    let what = match rejected.to_string().as_str() {
        "TooSmall" => "the modulus is under 2048 bits (RS256 keys need 2048 to 8192)",
        "TooLarge" => "the modulus is over 8192 bits (RS256 keys need 2048 to 8192)",
        _ => "aws-lc's check failed: the key is damaged or its parts disagree",
    };
    AuthError::Invalid(format!(
        "the RSA private key cannot sign RS256: {what} ({rejected})"
    ))
}

/// A private JWK member, or why the JWK cannot sign.
fn private_member<'a>(name: &'static str, value: &'a Option<String>) -> Result<&'a str, AuthError> {
    value.as_deref().ok_or_else(|| {
        AuthError::Invalid(format!(
            "the JWK has no `{name}`: a private RSA JWK with all CRT parameters is needed"
        ))
    })
}

/// The members of an RSA JWK we need (RFC 7518, section 6.3). Unknown members (`use`, `alg`, …)
/// are ignored.
#[derive(Deserialize)]
struct RsaJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x5c: Option<Vec<String>>,
    n: String,
    e: String,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
}

impl RsaJwk {
    /// The aws-lc key pair from the JWK's members, which aws-lc checks against each other.
    fn key_pair(&self) -> Result<RsaKeyPair, AuthError> {
        let member = |name: &'static str, value: &str| {
            let bytes = decode_base64url(value).ok_or_else(|| {
                AuthError::Invalid(format!("the JWK member `{name}` is not base64url"))
            })?;
            // aws-lc wants the public values without leading zero octets; some tools add one.
            let first = bytes.iter().position(|b| *b != 0).ok_or_else(|| {
                AuthError::Invalid(format!("the JWK member `{name}` is empty or zero"))
            })?;
            Ok::<_, AuthError>(bytes[first..].to_vec())
        };
        let components = KeyPairComponents {
            public_key: PublicKeyComponents {
                n: member("n", &self.n)?,
                e: member("e", &self.e)?,
            },
            d: member("d", private_member("d", &self.d)?)?,
            p: member("p", private_member("p", &self.p)?)?,
            q: member("q", private_member("q", &self.q)?)?,
            dP: member("dp", private_member("dp", &self.dp)?)?,
            dQ: member("dq", private_member("dq", &self.dq)?)?,
            qInv: member("qi", private_member("qi", &self.qi)?)?,
        };
        RsaKeyPair::from_components(&components).map_err(refused)
    }
}

/// base64url with or without padding (RFC 7515 says without; some tools pad).
fn decode_base64url(value: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(value.trim().trim_end_matches('='))
        .ok()
}

/// The base64 DER of every `CERTIFICATE` block in `pem`, in order.
fn certificate_chain_from_pem(pem: &str) -> Result<Vec<String>, AuthError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut chain = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let after_begin = &rest[start + BEGIN.len()..];
        let end = after_begin.find(END).ok_or_else(|| {
            AuthError::Invalid("a CERTIFICATE block in the chain has no END line".into())
        })?;
        let body: String = after_begin[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD.decode(body.as_bytes()).map_err(|_| {
            AuthError::Invalid(format!(
                "certificate {} in the chain is not base64",
                chain.len()
            ))
        })?;
        if der.first() != Some(&0x30) {
            return Err(AuthError::Invalid(format!(
                "certificate {} in the chain is not DER",
                chain.len()
            )));
        }
        // Re-encoded so the header carries canonical base64 without line breaks.
        chain.push(STANDARD.encode(&der));
        rest = &after_begin[end + END.len()..];
    }
    if chain.is_empty() {
        return Err(AuthError::Invalid(
            "no CERTIFICATE block in the certificate chain".into(),
        ));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS1: &str = include_str!("../../../tools/altinn-sim/testdata/client-key.pkcs1.pem");
    const PKCS8: &str = include_str!("../../../tools/altinn-sim/testdata/client-key.pkcs8.pem");
    const CERT: &str = include_str!("../../../tools/altinn-sim/testdata/client-cert.pem");
    const JWK: &str = include_str!("../../tests/fixtures/client-key.jwk.json");

    #[test]
    fn the_jwk_and_the_pem_load_as_the_same_key() {
        use aws_lc_rs::signature::KeyPair;
        let jwk = MaskinportenKey::parse(&Secret::new(JWK), None).unwrap();
        for pem in [PKCS1, PKCS8] {
            let pem =
                MaskinportenKey::from_pem(&Secret::new(pem), KeyIdentity::Kid("k".into())).unwrap();
            assert_eq!(
                jwk.key_pair.public_key().as_ref(),
                pem.key_pair.public_key().as_ref()
            );
        }
    }

    #[test]
    fn pem_keys_need_an_identity_and_jwk_keys_bring_their_own() {
        let pkcs8 = Secret::new(PKCS8);
        assert!(matches!(
            MaskinportenKey::parse(&pkcs8, None),
            Err(AuthError::Invalid(_))
        ));
        let key = MaskinportenKey::parse(&pkcs8, Some(KeyIdentity::Kid("k1".into()))).unwrap();
        assert_eq!(key.identity(), &KeyIdentity::Kid("k1".into()));
        let key = MaskinportenKey::parse(&Secret::new(PKCS1), Some(KeyIdentity::Kid("k2".into())))
            .unwrap();
        assert_eq!(key.identity(), &KeyIdentity::Kid("k2".into()));

        let jwk = MaskinportenKey::parse(&Secret::new(JWK), None).unwrap();
        assert_eq!(jwk.identity(), &KeyIdentity::Kid("sim-kid".into()));
        let overridden =
            MaskinportenKey::parse(&Secret::new(JWK), Some(KeyIdentity::Kid("other".into())))
                .unwrap();
        assert_eq!(overridden.identity(), &KeyIdentity::Kid("other".into()));
    }

    #[test]
    fn a_jwk_without_kid_uses_its_x5c() {
        let mut value: serde_json::Value = serde_json::from_str(JWK).unwrap();
        value.as_object_mut().unwrap().remove("kid");
        let key = MaskinportenKey::parse(&Secret::new(value.to_string()), None).unwrap();
        let KeyIdentity::X5c(chain) = key.identity() else {
            panic!("expected x5c, got {:?}", key.identity());
        };
        assert_eq!(chain.len(), 1);
        assert_eq!(chain, &certificate_chain_from_pem(CERT).unwrap());
    }

    #[test]
    fn broken_jwks_are_refused_without_echoing_key_material() {
        let original: serde_json::Value = serde_json::from_str(JWK).unwrap();
        let d = original["d"].as_str().unwrap().to_owned();

        let mut missing_crt = original.clone();
        missing_crt.as_object_mut().unwrap().remove("qi");
        let err = MaskinportenKey::parse(&Secret::new(missing_crt.to_string()), None).unwrap_err();
        assert!(err.to_string().contains("`qi`"), "{err}");

        let mut not_base64 = original.clone();
        not_base64["p"] = serde_json::Value::String("*not base64*".into());
        let err = MaskinportenKey::parse(&Secret::new(not_base64.to_string()), None).unwrap_err();
        assert!(err.to_string().contains("`p`"), "{err}");

        // A prime from another key: its size gives it away at parse.
        let mut short_p = original.clone();
        let p_bytes = URL_SAFE_NO_PAD
            .decode(original["p"].as_str().unwrap())
            .unwrap();
        short_p["p"] = serde_json::Value::String(URL_SAFE_NO_PAD.encode(&p_bytes[16..]));
        let err = MaskinportenKey::parse(&Secret::new(short_p.to_string()), None).unwrap_err();
        assert!(err.to_string().contains("parts disagree"), "{err}");

        let mut ec = original.clone();
        ec["kty"] = serde_json::Value::String("EC".into());
        let err = MaskinportenKey::parse(&Secret::new(ec.to_string()), None).unwrap_err();
        assert!(err.to_string().contains("only RSA"), "{err}");

        let err = MaskinportenKey::parse(&Secret::new("{not json"), None).unwrap_err();
        assert!(matches!(err, AuthError::Invalid(_)));

        for err in [
            MaskinportenKey::parse(&Secret::new(missing_crt.to_string()), None).unwrap_err(),
            MaskinportenKey::parse(&Secret::new(short_p.to_string()), None).unwrap_err(),
        ] {
            assert!(!err.to_string().contains(&d[..16]));
            assert!(!format!("{err:?}").contains(&d[..16]));
        }
    }

    #[test]
    fn garbage_and_non_rsa_pem_are_refused() {
        let err = MaskinportenKey::parse(&Secret::new("hello"), Some(KeyIdentity::Kid("k".into())))
            .unwrap_err();
        assert!(err.to_string().contains("neither PEM nor"), "{err}");
        let err = MaskinportenKey::from_pem(&Secret::new(CERT), KeyIdentity::Kid("k".into()))
            .unwrap_err();
        assert!(matches!(err, AuthError::Invalid(_)));
        let public = include_str!("../../../tools/altinn-sim/testdata/client-key.pub.pem");
        assert!(
            MaskinportenKey::from_pem(&Secret::new(public), KeyIdentity::Kid("k".into())).is_err()
        );
        let empty_kid =
            MaskinportenKey::from_pem(&Secret::new(PKCS8), KeyIdentity::Kid(" ".into()));
        assert!(empty_kid.is_err());
        let empty_chain = MaskinportenKey::from_pem(&Secret::new(PKCS8), KeyIdentity::X5c(vec![]));
        assert!(empty_chain.is_err());
        let bad_chain =
            MaskinportenKey::from_pem(&Secret::new(PKCS8), KeyIdentity::X5c(vec!["%%%".into()]));
        assert!(bad_chain.is_err());
    }

    #[test]
    fn keys_under_2048_bits_are_refused_at_parse() {
        let small = include_str!("../../tests/fixtures/client-key-1024.pkcs1.pem");
        let err = MaskinportenKey::from_pem(&Secret::new(small), KeyIdentity::Kid("k".into()))
            .unwrap_err();
        assert!(err.to_string().contains("under 2048 bits"), "{err}");
    }

    #[test]
    fn a_key_whose_parts_disagree_is_refused_at_parse() {
        // d changed in its middle: the same shape, so only aws-lc's check can tell.
        let original: serde_json::Value = serde_json::from_str(JWK).unwrap();
        let d = original["d"].as_str().unwrap().to_owned();
        let mut wrong_d = original.clone();
        let mut d_bytes = URL_SAFE_NO_PAD.decode(&d).unwrap();
        d_bytes[10] ^= 0x55;
        wrong_d["d"] = serde_json::Value::String(URL_SAFE_NO_PAD.encode(&d_bytes));
        let err = MaskinportenKey::parse(&Secret::new(wrong_d.to_string()), None).unwrap_err();
        assert!(err.to_string().contains("cannot sign RS256"), "{err}");
        assert!(err.to_string().contains("parts disagree"), "{err}");
        assert!(!err.to_string().contains(&d[..16]));
        assert!(!format!("{err:?}").contains(&d[..16]));

        // The PEM path: a PKCS#1 body cut short is refused too.
        let cut = &PKCS1[..600];
        assert!(
            MaskinportenKey::from_pem(&Secret::new(cut), KeyIdentity::Kid("k".into())).is_err()
        );
    }

    #[test]
    fn a_key_that_passes_the_check_signs() {
        let key = MaskinportenKey::parse(&Secret::new(PKCS8), Some(KeyIdentity::Kid("k".into())))
            .unwrap();
        let public = include_str!("../../../tools/altinn-sim/testdata/client-key.pub.pem");
        let signature = key.sign_rs256(b"check").unwrap();
        let verified = jsonwebtoken::crypto::verify(
            &URL_SAFE_NO_PAD.encode(&signature),
            b"check",
            &jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
            jsonwebtoken::Algorithm::RS256,
        );
        assert!(
            verified.unwrap(),
            "the signature verifies with the public key"
        );
    }

    #[test]
    fn certificate_chains_are_read_in_order() {
        let single = certificate_chain_from_pem(CERT).unwrap();
        assert_eq!(single.len(), 1);
        assert!(!single[0].contains('\n'));
        let der = STANDARD.decode(&single[0]).unwrap();
        assert_eq!(der[0], 0x30);

        let two = format!("leaf:\n{CERT}\nintermediate:\n{CERT}");
        let chain = certificate_chain_from_pem(&two).unwrap();
        assert_eq!(chain, vec![single[0].clone(), single[0].clone()]);

        assert!(certificate_chain_from_pem("no certificates here").is_err());
        let cut = &CERT[..CERT.len() / 2];
        assert!(certificate_chain_from_pem(cut).is_err());

        let key =
            MaskinportenKey::from_pem_with_certificate_chain(&Secret::new(PKCS8), CERT).unwrap();
        assert_eq!(key.identity(), &KeyIdentity::X5c(single));
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = MaskinportenKey::parse(&Secret::new(JWK), None).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("sim-kid"));
        assert!(!debug.contains("MII"));
        let original: serde_json::Value = serde_json::from_str(JWK).unwrap();
        assert!(!debug.contains(&original["d"].as_str().unwrap()[..16]));
    }
}
