//! The configuration every function shares, read from environment variables:
//!
//! | variable | required | meaning |
//! |---|---|---|
//! | `ALTINN_ENV` | yes | `prod`, `tt02`, `at21`–`at24`, `yt01` or `local` (case-insensitive) |
//! | `ALTINN_ORG` | yes | our org code, e.g. `ttd` (`[a-z0-9]{2,20}`); pins the allowlist |
//! | `ALTINN_PLATFORM_URL` | `local` only | absolute http(s) URL standing in for `https://platform.{domain}/` |
//! | `ALTINN_APPS_URL` | `local` only | absolute http(s) URL standing in for `https://{org}.apps.{domain}/` |
//! | `MASKINPORTEN_URL` | `local` only | issuer; defaults to `https://maskinporten.no/` (prod) or `https://test.maskinporten.no/` (tt02, at*, yt01); https except for `local`; a trailing `/` is added |
//! | `MASKINPORTEN_CLIENT_ID` | yes | the Maskinporten client (integration) id |
//! | `MASKINPORTEN_KID` | no | key id for the assertion header |
//! | `MASKINPORTEN_KEY` | one of these two | the private key inline: PEM (PKCS#1 or PKCS#8) or a JWK |
//! | `MASKINPORTEN_KEY_SECRET_ARN` | one of these two | a Secrets Manager secret holding the PEM or JWK |
//! | `MASKINPORTEN_SCOPES` | no | space-separated scopes of Storage and App calls; default [`DEFAULT_SCOPES`]; whitespace is normalised |
//!
//! `MASKINPORTEN_SCOPES` is only the Storage and App set. The Events and Correspondence calls
//! use fixed sets of their own ([`crate::auth::ScopeSet`]), each granted and cached separately,
//! so that no token carries another API's scopes; the Maskinporten client must have every scope
//! of the sets it uses.
//!
//! An empty or all-whitespace value counts as unset. Every error names the variable and
//! explains the rule; no error ever contains a value, so a misplaced key in the wrong variable
//! cannot leak into logs.

use url::Url;

use crate::environment::{Allowlist, AltinnEnvironment, is_valid_org_code};
use crate::secret::Secret;

/// Default Maskinporten scopes of Storage and App calls ([`crate::auth::ScopeSet::Instances`])
/// for a service owner archiving instances.
pub const DEFAULT_SCOPES: &str =
    "altinn:serviceowner/instances.read altinn:serviceowner/instances.write";

/// A missing or malformed setting. `Display` names the variable and never shows a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{variable} is not set")]
    Missing {
        /// The variable (or, for the key, both alternatives).
        variable: &'static str,
    },
    /// A variable is set but unusable.
    #[error("{variable} is invalid: {reason}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// The rule it breaks; never the value.
        reason: String,
    },
}

/// Where the Maskinporten private key comes from. Resolving an ARN is AWS code and lives in
/// the function crates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskinportenKeySource {
    /// `MASKINPORTEN_KEY`: PEM (PKCS#1 or PKCS#8) or JWK, inline.
    Inline(Secret),
    /// `MASKINPORTEN_KEY_SECRET_ARN`: a Secrets Manager secret holding the PEM or JWK.
    SecretArn(String),
}

impl MaskinportenKeySource {
    /// The variable the key is configured by, for errors about the key.
    pub fn variable(&self) -> &'static str {
        match self {
            MaskinportenKeySource::Inline(_) => "MASKINPORTEN_KEY",
            MaskinportenKeySource::SecretArn(_) => "MASKINPORTEN_KEY_SECRET_ARN",
        }
    }
}

/// Everything needed to talk to Altinn as a service owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltinnConfig {
    /// `ALTINN_ENV` (with the local URLs for `local`).
    pub environment: AltinnEnvironment,
    /// `ALTINN_ORG`: our org code (lowercase, e.g. `ttd`).
    pub org: String,
    /// `MASKINPORTEN_URL` or the environment's default issuer; trailing slash.
    pub maskinporten_issuer: Url,
    /// `MASKINPORTEN_CLIENT_ID`.
    pub maskinporten_client_id: String,
    /// `MASKINPORTEN_KID`; absent means the key must come with an `x5c` chain (JWK with
    /// `x5c`) or carry its own `kid` (JWK).
    pub maskinporten_kid: Option<String>,
    /// `MASKINPORTEN_KEY` or `MASKINPORTEN_KEY_SECRET_ARN`.
    pub maskinporten_key: MaskinportenKeySource,
    /// `MASKINPORTEN_SCOPES`, single-space separated: the Storage and App scope set.
    pub maskinporten_scopes: String,
}

impl AltinnConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (tests pass a map). Empty values count as missing.
    ///
    /// Variables are checked in the order of the table in the module docs, and the first
    /// problem is returned.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // Non-secret values are trimmed: a stray newline from a copy-paste is never meant.
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing { variable: name });

        let environment = AltinnEnvironment::parse(
            &require("ALTINN_ENV")?,
            get("ALTINN_PLATFORM_URL").as_deref(),
            get("ALTINN_APPS_URL").as_deref(),
        )?;

        let org = require("ALTINN_ORG")?;
        if !is_valid_org_code(&org) {
            return Err(invalid(
                "ALTINN_ORG",
                "must be 2 to 20 lowercase letters or digits",
            ));
        }

        let is_local = matches!(environment, AltinnEnvironment::Local { .. });
        let maskinporten_issuer = match get("MASKINPORTEN_URL") {
            Some(value) => parse_issuer(&value, is_local)?,
            None => environment
                .default_maskinporten_issuer()
                .ok_or(ConfigError::Missing {
                    variable: "MASKINPORTEN_URL",
                })?,
        };

        let maskinporten_client_id = require("MASKINPORTEN_CLIENT_ID")?;
        if !is_printable_token(&maskinporten_client_id) {
            return Err(invalid(
                "MASKINPORTEN_CLIENT_ID",
                "must not contain whitespace or control characters",
            ));
        }

        let maskinporten_kid = get("MASKINPORTEN_KID");
        if maskinporten_kid
            .as_deref()
            .is_some_and(|kid| !is_printable_token(kid))
        {
            return Err(invalid(
                "MASKINPORTEN_KID",
                "must not contain whitespace or control characters",
            ));
        }

        let maskinporten_key = key_source(
            lookup("MASKINPORTEN_KEY").filter(|v| !v.trim().is_empty()),
            get("MASKINPORTEN_KEY_SECRET_ARN"),
        )?;

        let maskinporten_scopes = match get("MASKINPORTEN_SCOPES") {
            Some(scopes) => normalise_scopes(&scopes)?,
            None => DEFAULT_SCOPES.to_owned(),
        };

        Ok(AltinnConfig {
            environment,
            org,
            maskinporten_issuer,
            maskinporten_client_id,
            maskinporten_kid,
            maskinporten_key,
            maskinporten_scopes,
        })
    }

    /// The allowlist for this configuration, pinned to our org: we only ever archive our
    /// own apps' instances, so events naming another org are refused.
    pub fn allowlist(&self) -> Allowlist {
        Allowlist::new(self.environment.clone(), Some(self.org.clone()))
    }
}

fn invalid(variable: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        variable,
        reason: reason.to_owned(),
    }
}

/// No whitespace or control characters, at most 256 bytes.
fn is_printable_token(value: &str) -> bool {
    value.len() <= 256 && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `MASKINPORTEN_URL`: absolute, https (http too for `local`), no user information, query or
/// fragment; a trailing slash is added because the issuer is compared as a string.
fn parse_issuer(value: &str, allow_http: bool) -> Result<Url, ConfigError> {
    const VARIABLE: &str = "MASKINPORTEN_URL";
    let mut url = Url::parse(value).map_err(|_| invalid(VARIABLE, "not an absolute URL"))?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    if !scheme_ok {
        let reason = if allow_http {
            "must be an http or https URL"
        } else {
            "must be an https URL"
        };
        return Err(invalid(VARIABLE, reason));
    }
    if url.host().is_none() {
        return Err(invalid(VARIABLE, "must have a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(VARIABLE, "must not carry user information"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(VARIABLE, "must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Exactly one of the two key variables. The inline key is wrapped in [`Secret`] at once and
/// only its shape is checked (a PEM block or a JSON object); parsing it is the auth module's.
fn key_source(
    inline: Option<String>,
    arn: Option<String>,
) -> Result<MaskinportenKeySource, ConfigError> {
    match (inline, arn) {
        (Some(_), Some(_)) => Err(invalid(
            "MASKINPORTEN_KEY",
            "set either MASKINPORTEN_KEY or MASKINPORTEN_KEY_SECRET_ARN, not both",
        )),
        (None, None) => Err(ConfigError::Missing {
            variable: "MASKINPORTEN_KEY or MASKINPORTEN_KEY_SECRET_ARN",
        }),
        (Some(key), None) => {
            let key = Secret::new(key);
            let text = key.expose().trim_start();
            if text.starts_with("-----BEGIN ") || text.starts_with('{') {
                Ok(MaskinportenKeySource::Inline(key))
            } else {
                Err(invalid(
                    "MASKINPORTEN_KEY",
                    "must be a PEM private key or a JWK (JSON object)",
                ))
            }
        }
        (None, Some(arn)) => {
            // arn:{partition}:secretsmanager:{region}:{account}:secret:{name}
            let parts: Vec<&str> = arn.splitn(7, ':').collect();
            let well_formed = parts.len() == 7
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "secretsmanager"
                && parts[5] == "secret"
                && !parts[6].is_empty()
                && is_printable_token(&arn);
            if well_formed {
                Ok(MaskinportenKeySource::SecretArn(arn))
            } else {
                Err(invalid(
                    "MASKINPORTEN_KEY_SECRET_ARN",
                    "must be a Secrets Manager secret ARN (arn:aws:secretsmanager:…:secret:…)",
                ))
            }
        }
    }
}

/// Scopes separated by single spaces; each must be an RFC 6749 scope token.
fn normalise_scopes(value: &str) -> Result<String, ConfigError> {
    let scopes: Vec<&str> = value.split_whitespace().collect();
    // RFC 6749, section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    let valid = |scope: &&str| {
        scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    };
    if !scopes.iter().all(valid) {
        return Err(invalid(
            "MASKINPORTEN_SCOPES",
            "scopes must be printable ASCII without quotes or backslashes",
        ));
    }
    Ok(scopes.join(" "))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
    const ARN: &str =
        "arn:aws:secretsmanager:eu-north-1:123456789012:secret:altinn/maskinporten-key-AbCdEf";

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("ALTINN_ENV", "tt02".to_owned()),
            ("ALTINN_ORG", "ttd".to_owned()),
            (
                "MASKINPORTEN_CLIENT_ID",
                "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f".to_owned(),
            ),
            ("MASKINPORTEN_KEY", PEM.to_owned()),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<AltinnConfig, ConfigError> {
        AltinnConfig::from_lookup(|name| vars.get(name).cloned())
    }

    fn with(
        mut vars: HashMap<&'static str, String>,
        name: &'static str,
        value: &str,
    ) -> HashMap<&'static str, String> {
        vars.insert(name, value.to_owned());
        vars
    }

    fn without(
        mut vars: HashMap<&'static str, String>,
        name: &str,
    ) -> HashMap<&'static str, String> {
        vars.remove(name);
        vars
    }

    fn local() -> HashMap<&'static str, String> {
        let vars = with(base(), "ALTINN_ENV", "local");
        let vars = with(vars, "ALTINN_PLATFORM_URL", "http://127.0.0.1:5101");
        let vars = with(vars, "ALTINN_APPS_URL", "http://127.0.0.1:5102/");
        with(vars, "MASKINPORTEN_URL", "http://127.0.0.1:5100")
    }

    #[test]
    fn minimal_tt02_configuration_gets_the_defaults() {
        let config = load(&base()).unwrap();
        assert_eq!(config.environment, AltinnEnvironment::Tt02);
        assert_eq!(config.org, "ttd");
        assert_eq!(
            config.maskinporten_issuer.as_str(),
            "https://test.maskinporten.no/"
        );
        assert_eq!(
            config.maskinporten_client_id,
            "2f4a6c8e-0b1d-4f3a-9c5e-7a9b1c3d5e7f"
        );
        assert_eq!(config.maskinporten_kid, None);
        assert_eq!(
            config.maskinporten_key,
            MaskinportenKeySource::Inline(Secret::new(PEM))
        );
        assert_eq!(config.maskinporten_scopes, DEFAULT_SCOPES);
        assert_eq!(config.allowlist().pinned_org(), Some("ttd"));
        assert_eq!(config.allowlist().environment(), &AltinnEnvironment::Tt02);
    }

    #[test]
    fn default_issuer_per_environment() {
        for (env, issuer) in [
            ("prod", "https://maskinporten.no/"),
            ("tt02", "https://test.maskinporten.no/"),
            ("at22", "https://test.maskinporten.no/"),
            ("yt01", "https://test.maskinporten.no/"),
        ] {
            let config = load(&with(base(), "ALTINN_ENV", env)).unwrap();
            assert_eq!(config.maskinporten_issuer.as_str(), issuer, "{env}");
        }
    }

    #[test]
    fn full_local_configuration() {
        let vars = with(local(), "MASKINPORTEN_KID", " sim-kid \n");
        let vars = with(
            vars,
            "MASKINPORTEN_SCOPES",
            "  altinn:serviceowner/instances.read\n\taltinn:serviceowner/instances.write  altinn:events.subscribe ",
        );
        let config = load(&vars).unwrap();
        let AltinnEnvironment::Local {
            platform_url,
            apps_url,
        } = &config.environment
        else {
            panic!("expected local, got {:?}", config.environment);
        };
        assert_eq!(platform_url.as_str(), "http://127.0.0.1:5101/");
        assert_eq!(apps_url.as_str(), "http://127.0.0.1:5102/");
        assert_eq!(
            config.maskinporten_issuer.as_str(),
            "http://127.0.0.1:5100/"
        );
        assert_eq!(config.maskinporten_kid.as_deref(), Some("sim-kid"));
        assert_eq!(
            config.maskinporten_scopes,
            "altinn:serviceowner/instances.read altinn:serviceowner/instances.write altinn:events.subscribe"
        );
    }

    #[test]
    fn issuer_gets_a_trailing_slash_and_keeps_its_path() {
        for (value, expected) in [
            (
                "https://test.maskinporten.no",
                "https://test.maskinporten.no/",
            ),
            (
                "https://test.maskinporten.no/",
                "https://test.maskinporten.no/",
            ),
            (
                "https://idp.example.test/realms/x",
                "https://idp.example.test/realms/x/",
            ),
        ] {
            let config = load(&with(base(), "MASKINPORTEN_URL", value)).unwrap();
            assert_eq!(config.maskinporten_issuer.as_str(), expected);
        }
    }

    #[test]
    fn secret_arn_instead_of_inline_key() {
        let vars = with(
            without(base(), "MASKINPORTEN_KEY"),
            "MASKINPORTEN_KEY_SECRET_ARN",
            ARN,
        );
        let config = load(&vars).unwrap();
        assert_eq!(
            config.maskinporten_key,
            MaskinportenKeySource::SecretArn(ARN.to_owned())
        );
        let gov = ARN.replace("arn:aws:", "arn:aws-us-gov:");
        let vars = with(
            without(base(), "MASKINPORTEN_KEY"),
            "MASKINPORTEN_KEY_SECRET_ARN",
            &gov,
        );
        assert!(load(&vars).is_ok());
    }

    #[test]
    fn jwk_key_is_accepted() {
        let jwk = r#"{"kty":"RSA","kid":"k1","n":"...","e":"AQAB","d":"..."}"#;
        let config = load(&with(base(), "MASKINPORTEN_KEY", jwk)).unwrap();
        assert_eq!(
            config.maskinporten_key,
            MaskinportenKeySource::Inline(Secret::new(jwk))
        );
    }

    #[test]
    fn every_error_names_its_variable() {
        use ConfigError::{Invalid, Missing};
        let missing = |variable| Missing { variable };
        #[rustfmt::skip]
        let cases: Vec<(HashMap<&'static str, String>, ConfigError)> = vec![
            (without(base(), "ALTINN_ENV"), missing("ALTINN_ENV")),
            (with(base(), "ALTINN_ENV", "  "), missing("ALTINN_ENV")),
            (without(base(), "ALTINN_ORG"), missing("ALTINN_ORG")),
            (with(base(), "ALTINN_ORG", ""), missing("ALTINN_ORG")),
            (without(base(), "MASKINPORTEN_CLIENT_ID"), missing("MASKINPORTEN_CLIENT_ID")),
            (without(base(), "MASKINPORTEN_KEY"), missing("MASKINPORTEN_KEY or MASKINPORTEN_KEY_SECRET_ARN")),
            (with(base(), "MASKINPORTEN_KEY", " \n "), missing("MASKINPORTEN_KEY or MASKINPORTEN_KEY_SECRET_ARN")),
            (without(local(), "ALTINN_PLATFORM_URL"), missing("ALTINN_PLATFORM_URL")),
            (without(local(), "ALTINN_APPS_URL"), missing("ALTINN_APPS_URL")),
            (without(local(), "MASKINPORTEN_URL"), missing("MASKINPORTEN_URL")),
        ];
        for (index, (vars, expected)) in cases.into_iter().enumerate() {
            assert_eq!(load(&vars).unwrap_err(), expected, "case {index}");
        }

        #[rustfmt::skip]
        let invalid_cases: Vec<(HashMap<&'static str, String>, &'static str)> = vec![
            (with(base(), "ALTINN_ENV", "production"), "ALTINN_ENV"),
            (with(base(), "ALTINN_ORG", "TTD"), "ALTINN_ORG"),
            (with(base(), "ALTINN_ORG", "ttd.evil.com"), "ALTINN_ORG"),
            (with(base(), "ALTINN_ORG", "t"), "ALTINN_ORG"),
            (with(local(), "ALTINN_PLATFORM_URL", "ftp://127.0.0.1/"), "ALTINN_PLATFORM_URL"),
            (with(local(), "ALTINN_APPS_URL", "127.0.0.1:5102"), "ALTINN_APPS_URL"),
            (with(base(), "MASKINPORTEN_URL", "http://test.maskinporten.no/"), "MASKINPORTEN_URL"),
            (with(base(), "MASKINPORTEN_URL", "test.maskinporten.no"), "MASKINPORTEN_URL"),
            (with(base(), "MASKINPORTEN_URL", "https://u:p@test.maskinporten.no/"), "MASKINPORTEN_URL"),
            (with(base(), "MASKINPORTEN_URL", "https://test.maskinporten.no/?a=b"), "MASKINPORTEN_URL"),
            (with(local(), "MASKINPORTEN_URL", "ftp://127.0.0.1/"), "MASKINPORTEN_URL"),
            (with(base(), "MASKINPORTEN_CLIENT_ID", "a b"), "MASKINPORTEN_CLIENT_ID"),
            (with(base(), "MASKINPORTEN_KID", "k\u{1}d"), "MASKINPORTEN_KID"),
            (with(base(), "MASKINPORTEN_KEY", "hunter2-not-a-key"), "MASKINPORTEN_KEY"),
            (with(base(), "MASKINPORTEN_KEY_SECRET_ARN", ARN), "MASKINPORTEN_KEY"),
            (with(without(base(), "MASKINPORTEN_KEY"), "MASKINPORTEN_KEY_SECRET_ARN", "my-secret"), "MASKINPORTEN_KEY_SECRET_ARN"),
            (with(without(base(), "MASKINPORTEN_KEY"), "MASKINPORTEN_KEY_SECRET_ARN", "arn:aws:s3:::bucket"), "MASKINPORTEN_KEY_SECRET_ARN"),
            (with(without(base(), "MASKINPORTEN_KEY"), "MASKINPORTEN_KEY_SECRET_ARN", "arn:aws:secretsmanager:eu-north-1:1:secret:"), "MASKINPORTEN_KEY_SECRET_ARN"),
            (with(base(), "MASKINPORTEN_SCOPES", "altinn:serviceowner/instances.read \"x\""), "MASKINPORTEN_SCOPES"),
        ];
        for (vars, variable) in invalid_cases {
            match load(&vars).unwrap_err() {
                Invalid {
                    variable: named,
                    reason,
                } => {
                    assert_eq!(named, variable);
                    assert!(!reason.is_empty());
                }
                other => panic!("expected {variable} invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug_output() {
        let secret =
            "-----BEGIN PRIVATE KEY-----\nSUPERSECRETKEYMATERIAL\n-----END PRIVATE KEY-----";
        // Both set: the error must not quote either.
        let vars = with(
            with(base(), "MASKINPORTEN_KEY", secret),
            "MASKINPORTEN_KEY_SECRET_ARN",
            ARN,
        );
        let err = load(&vars).unwrap_err().to_string();
        assert!(
            !err.contains("SUPERSECRET") && !err.contains("123456789012"),
            "{err}"
        );
        // A key that is not a key (e.g. a password pasted in the wrong place).
        let err = load(&with(base(), "MASKINPORTEN_KEY", "SUPERSECRETPASSWORD"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SUPERSECRET"), "{err}");
        // A secret pasted into a non-secret variable.
        for name in [
            "ALTINN_ORG",
            "MASKINPORTEN_URL",
            "MASKINPORTEN_CLIENT_ID",
            "MASKINPORTEN_SCOPES",
            "ALTINN_ENV",
        ] {
            let err = load(&with(base(), name, "SUPER SECRET \"value\""))
                .unwrap_err()
                .to_string();
            assert!(!err.contains("SUPER"), "{name}: {err}");
            assert!(err.starts_with(name), "{err}");
        }
        let config = load(&with(base(), "MASKINPORTEN_KEY", secret)).unwrap();
        assert!(!format!("{config:?}").contains("SUPERSECRET"));
    }
}
