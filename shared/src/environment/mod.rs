//! Altinn environments and the hosts we may talk to in each.
//!
//! An event's `source` is attacker-controlled text: the webhook has no authentication from
//! Altinn (Altinn Events sends none), so anyone who learns the URL can post an event. The archiver follows the
//! instance named in `source` with our Altinn token, so this module decides, strictly, which
//! hosts may ever see that token:
//!
//! | environment | platform host | apps host |
//! |---|---|---|
//! | `prod` | `platform.altinn.no` | `{org}.apps.altinn.no` |
//! | `tt02` | `platform.tt02.altinn.no` | `{org}.apps.tt02.altinn.no` |
//! | `at21`–`at24`, `yt01` | `platform.{env}.altinn.cloud` | `{org}.apps.{env}.altinn.cloud` |
//! | `local` | `ALTINN_PLATFORM_URL`, exactly | `ALTINN_APPS_URL`, exactly |
//!
//! [`Allowlist::parse_app_source`] checks the raw text of `source` itself rather than only a
//! parsed [`Url`], because the `url` crate normalises (it resolves `..`, drops a default port,
//! lowercases hosts, turns `\` into `/`, maps IDNA) and a normalised URL can name a different
//! resource than the one Altinn signed off. The accepted grammar is deliberately narrow:
//!
//! * org code: `[a-z0-9]{2,20}`. Altinn publishes no grammar for them; every code in Altinn's
//!   published `altinn-orgs.json` is 2–6 lowercase letters, so this leaves room without
//!   admitting dots, hyphens or uppercase.
//! * app name: `[a-z0-9-]{1,100}` (Altinn app names are lowercase with hyphens).
//! * party id: canonical positive decimal (`[1-9][0-9]*`) that fits in a `u64`. Leading
//!   zeros, signs and `0` are rejected: Storage refuses party id 0, and a second
//!   spelling of one id would give one instance two archive prefixes.
//! * instance guid: 36 characters, hyphenated 8-4-4-4-12, lowercase hex only. .NET writes
//!   GUIDs in lowercase; uppercase is rejected for the same one-spelling reason.

mod allowlist;
#[cfg(test)]
mod tests;

use url::Url;

pub use allowlist::Allowlist;
pub(crate) use allowlist::{parse_instance_guid, parse_party_id};

use crate::config::ConfigError;

/// The Altinn-internal test environments (hosted under `altinn.cloud`).
const INTERNAL_ENVIRONMENTS: [&str; 5] = ["at21", "at22", "at23", "at24", "yt01"];

/// What [`AltinnEnvironment::platform_url`] and [`AltinnEnvironment::apps_url`] return when
/// asked for something that cannot exist (an unknown internal environment, an invalid org
/// code). `.invalid` is reserved (RFC 2606) and never resolves, and [`Allowlist::permits`]
/// refuses it, so such a URL can never carry our token anywhere.
const UNROUTABLE_URL: &str = "https://unroutable.invalid/";

/// Shortest and longest org code accepted (see the module docs).
const ORG_CODE_LEN: std::ops::RangeInclusive<usize> = 2..=20;
/// Shortest and longest app name accepted.
const APP_NAME_LEN: std::ops::RangeInclusive<usize> = 1..=100;

/// True when `org` looks like an Altinn org code: 2–20 characters of `[a-z0-9]`.
///
/// Altinn publishes no grammar for org codes; this is the narrowest rule that
/// admits every published code.
pub fn is_valid_org_code(org: &str) -> bool {
    ORG_CODE_LEN.contains(&org.len())
        && org
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// True when `app` looks like an Altinn app name: 1–100 characters of `[a-z0-9-]`.
pub fn is_valid_app_name(app: &str) -> bool {
    APP_NAME_LEN.contains(&app.len())
        && app
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An Altinn environment. It decides the platform host, the apps host pattern, the default
/// Maskinporten issuer, and so the allowlist for everything that carries our token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltinnEnvironment {
    /// Production: `platform.altinn.no`, `{org}.apps.altinn.no`.
    Prod,
    /// The service owners' test environment: `platform.tt02.altinn.no`, `{org}.apps.tt02.altinn.no`.
    Tt02,
    /// Altinn-internal test environments `at21`–`at24` and `yt01` on `altinn.cloud`.
    /// [`AltinnEnvironment::parse`] stores the lowercase name; any other name permits nothing.
    Internal(String),
    /// The simulator or a local test setup: exact base URLs from configuration, http allowed.
    /// Each base has a trailing slash, e.g. `http://127.0.0.1:5101/`.
    Local {
        /// Stands in for `https://platform.{domain}/`.
        platform_url: Url,
        /// Stands in for `https://{org}.apps.{domain}/` for every org.
        apps_url: Url,
    },
}

impl AltinnEnvironment {
    /// Parses `ALTINN_ENV` (`prod`, `tt02`, `at21`…`at24`, `yt01`, `local`; case-insensitive).
    /// `local` requires both URLs (`ALTINN_PLATFORM_URL`, `ALTINN_APPS_URL`); other
    /// environments ignore them.
    ///
    /// The local URLs must be absolute `http` or `https` URLs with a host and without user
    /// information, query or fragment; a trailing slash is added to their path when missing.
    pub fn parse(
        name: &str,
        platform_url: Option<&str>,
        apps_url: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "" => Err(ConfigError::Missing {
                variable: "ALTINN_ENV",
            }),
            "prod" => Ok(AltinnEnvironment::Prod),
            "tt02" => Ok(AltinnEnvironment::Tt02),
            internal if INTERNAL_ENVIRONMENTS.contains(&internal) => {
                Ok(AltinnEnvironment::Internal(name))
            }
            "local" => Ok(AltinnEnvironment::Local {
                platform_url: parse_local_base("ALTINN_PLATFORM_URL", platform_url)?,
                apps_url: parse_local_base("ALTINN_APPS_URL", apps_url)?,
            }),
            _ => Err(ConfigError::Invalid {
                variable: "ALTINN_ENV",
                reason: "must be one of prod, tt02, at21, at22, at23, at24, yt01, local".into(),
            }),
        }
    }

    /// The environment's name as configured (`prod`, `tt02`, `at22`, `local`, …).
    pub fn name(&self) -> &str {
        match self {
            AltinnEnvironment::Prod => "prod",
            AltinnEnvironment::Tt02 => "tt02",
            AltinnEnvironment::Internal(name) => name,
            AltinnEnvironment::Local { .. } => "local",
        }
    }

    /// The DNS domain under which `platform.` and `{org}.apps.` live; `None` for `local` and
    /// for an internal name that is not one of the known environments.
    fn domain(&self) -> Option<String> {
        match self {
            AltinnEnvironment::Prod => Some("altinn.no".to_owned()),
            AltinnEnvironment::Tt02 => Some("tt02.altinn.no".to_owned()),
            AltinnEnvironment::Internal(name) if INTERNAL_ENVIRONMENTS.contains(&name.as_str()) => {
                Some(format!("{name}.altinn.cloud"))
            }
            AltinnEnvironment::Internal(_) | AltinnEnvironment::Local { .. } => None,
        }
    }

    /// The platform host (`platform.altinn.no`, …); `None` for `local` and unknown names.
    fn platform_host(&self) -> Option<String> {
        self.domain().map(|domain| format!("platform.{domain}"))
    }

    /// The platform base URL with a trailing slash, e.g. `https://platform.tt02.altinn.no/`.
    /// Storage is under `storage/api/v1/`, Events under `events/api/v1/`, the token exchange
    /// under `authentication/api/v1/exchange/maskinporten`.
    ///
    /// An [`AltinnEnvironment::Internal`] name that is not a known environment (only possible
    /// when the variant is built by hand) yields an unroutable `.invalid` URL that
    /// [`Allowlist::permits`] refuses, rather than a panic.
    pub fn platform_url(&self) -> Url {
        match self {
            AltinnEnvironment::Local { platform_url, .. } => platform_url.clone(),
            _ => https_base(self.platform_host().as_deref()),
        }
    }

    /// The apps base URL for an org with a trailing slash, e.g. `https://ttd.apps.tt02.altinn.no/`.
    /// For `local` it is the configured apps base, whatever the org.
    ///
    /// An org that is not a valid org code (see [`is_valid_org_code`]) yields an unroutable
    /// `.invalid` URL that [`Allowlist::permits`] refuses: the org is often text from an
    /// event, and must not be able to steer the host.
    pub fn apps_url(&self, org: &str) -> Url {
        match self {
            AltinnEnvironment::Local { apps_url, .. } => apps_url.clone(),
            _ => {
                let host = is_valid_org_code(org)
                    .then(|| self.domain().map(|domain| format!("{org}.apps.{domain}")))
                    .flatten();
                https_base(host.as_deref())
            }
        }
    }

    /// The default Maskinporten issuer (with trailing slash): `https://maskinporten.no/` for
    /// prod, `https://test.maskinporten.no/` for tt02 and the internal ones, `None` for local.
    pub fn default_maskinporten_issuer(&self) -> Option<Url> {
        let issuer = match self {
            AltinnEnvironment::Prod => "https://maskinporten.no/",
            AltinnEnvironment::Tt02 | AltinnEnvironment::Internal(_) => {
                "https://test.maskinporten.no/"
            }
            AltinnEnvironment::Local { .. } => return None,
        };
        Url::parse(issuer).ok()
    }
}

/// `https://{host}/`, or the unroutable URL when there is no host or it does not parse.
fn https_base(host: Option<&str>) -> Url {
    host.and_then(|host| Url::parse(&format!("https://{host}/")).ok())
        .unwrap_or_else(unroutable_url)
}

fn unroutable_url() -> Url {
    Url::parse(UNROUTABLE_URL).expect("UNROUTABLE_URL is a valid URL")
}

/// Parses one of the local base URLs, adding the trailing slash.
fn parse_local_base(variable: &'static str, value: Option<&str>) -> Result<Url, ConfigError> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let value = value.ok_or(ConfigError::Missing { variable })?;
    let invalid = |reason: &str| ConfigError::Invalid {
        variable,
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(value).map_err(|_| invalid("not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be an http or https URL"));
    }
    if url.host().is_none() {
        return Err(invalid("must have a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry user information"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}
