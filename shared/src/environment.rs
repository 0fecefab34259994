//! Altinn environments and the hosts we may talk to in each (reference §2.1, §2.7, §9).
//!
//! An event's `source` is attacker-controlled text: the webhook has no authentication from
//! Altinn (§3.4), so anyone who learns the URL can post an event. The archiver follows the
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
//! * org code: `[a-z0-9]{2,20}`. The exact set is UNCONFIRMED (§9); every code in Altinn's
//!   published `altinn-orgs.json` is 2–6 lowercase letters, so this leaves room without
//!   admitting dots, hyphens or uppercase.
//! * app name: `[a-z0-9-]{1,100}` (Altinn app names are lowercase with hyphens).
//! * party id: canonical positive decimal (`[1-9][0-9]*`) that fits in a `u64`. Leading
//!   zeros, signs and `0` are rejected: Storage refuses party id 0 (§5.3), and a second
//!   spelling of one id would give one instance two archive prefixes.
//! * instance guid: 36 characters, hyphenated 8-4-4-4-12, lowercase hex only. .NET writes
//!   GUIDs in lowercase; uppercase is rejected for the same one-spelling reason.

use url::Url;
use uuid::Uuid;

use crate::config::ConfigError;
use crate::event::{InstanceRef, SourceError};

/// The Altinn-internal test environments (reference §2.7).
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
/// The exact character set is UNCONFIRMED (reference §9); this is the narrowest rule that
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

/// The set of URLs that may receive our Altinn token, and the parser for app event sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    environment: AltinnEnvironment,
    pinned_org: Option<String>,
}

impl Allowlist {
    /// An allowlist for the environment; with `pinned_org`, only that org's apps are accepted.
    pub fn new(environment: AltinnEnvironment, pinned_org: Option<String>) -> Self {
        Allowlist {
            environment,
            pinned_org,
        }
    }

    /// The environment this allowlist is for.
    pub fn environment(&self) -> &AltinnEnvironment {
        &self.environment
    }

    /// The org we are pinned to, if any.
    pub fn pinned_org(&self) -> Option<&str> {
        self.pinned_org.as_deref()
    }

    /// Strictly parses an app event `source`:
    /// `https://{org}.apps.{domain}/{org}/{app}/instances/{partyId}/{guid}` (for `local`:
    /// `{apps_url}{org}/{app}/instances/{partyId}/{guid}`), no userinfo, no explicit port,
    /// no query or fragment, no encoded characters or dot segments, exact host match.
    ///
    /// The checks run in this order, and the first failure is returned:
    /// characters and shape ([`SourceError::NotAUrl`]: only RFC 3986 characters, no
    /// whitespace or `\`, `scheme://` spelled out), scheme ([`SourceError::NotHttps`]; for
    /// `local` a scheme other than the base's is [`SourceError::HostNotAllowed`]), user
    /// information, port (even `:443`), host, query or fragment, path (the grammar in the
    /// module docs), org in host versus org in path, the pinned org, and finally a
    /// cross-check that the `url` crate reads the same host, port and path.
    pub fn parse_app_source(&self, source: &str) -> Result<InstanceRef, SourceError> {
        let raw = RawUrl::split(source)?;
        let (host_org, path_after_base) = match &self.environment {
            AltinnEnvironment::Local { apps_url, .. } => {
                if raw.scheme != apps_url.scheme() {
                    return Err(SourceError::HostNotAllowed);
                }
                if raw.authority.contains('@') {
                    return Err(SourceError::UserInfo);
                }
                if raw.authority != authority_of(apps_url) {
                    return Err(SourceError::HostNotAllowed);
                }
                if raw.has_query_or_fragment {
                    return Err(SourceError::QueryOrFragment);
                }
                let rest = raw
                    .path
                    .strip_prefix(apps_url.path())
                    .ok_or(SourceError::BadPath)?;
                (None, rest)
            }
            environment => {
                if raw.scheme != "https" {
                    return Err(SourceError::NotHttps);
                }
                if raw.authority.contains('@') {
                    return Err(SourceError::UserInfo);
                }
                if raw.authority.starts_with('[') {
                    // An IPv6 literal: never an apps host, and its colons are not a port.
                    return Err(SourceError::HostNotAllowed);
                }
                if raw.authority.contains(':') {
                    return Err(SourceError::Port);
                }
                let suffix = environment.domain().map(|domain| format!(".apps.{domain}"));
                let org = suffix
                    .and_then(|suffix| raw.authority.strip_suffix(suffix.as_str()))
                    .filter(|org| is_valid_org_code(org))
                    .ok_or(SourceError::HostNotAllowed)?;
                if raw.has_query_or_fragment {
                    return Err(SourceError::QueryOrFragment);
                }
                let rest = raw.path.strip_prefix('/').ok_or(SourceError::BadPath)?;
                (Some(org), rest)
            }
        };

        let instance = parse_instance_path(path_after_base)?;
        if host_org.is_some_and(|host_org| host_org != instance.org) {
            return Err(SourceError::OrgMismatch);
        }
        if self
            .pinned_org
            .as_deref()
            .is_some_and(|pinned| pinned != instance.org)
        {
            return Err(SourceError::ForeignOrg);
        }
        self.cross_check_with_url_crate(source, &raw)?;
        Ok(instance)
    }

    /// Belt and braces: the `url` crate (which reqwest uses to connect) must read the same
    /// scheme, host, port and path as the raw split did. The raw checks make a difference
    /// impossible today; this keeps it so if they are ever loosened.
    fn cross_check_with_url_crate(
        &self,
        source: &str,
        raw: &RawUrl<'_>,
    ) -> Result<(), SourceError> {
        let url = Url::parse(source).map_err(|_| SourceError::NotAUrl)?;
        let expected_port = match &self.environment {
            AltinnEnvironment::Local { apps_url, .. } => apps_url.port(),
            _ => None,
        };
        let same = url.scheme() == raw.scheme
            && url.username().is_empty()
            && url.password().is_none()
            && authority_of(&url) == raw.authority
            && url.port() == expected_port
            && url.path() == raw.path
            && url.query().is_none()
            && url.fragment().is_none();
        if same {
            Ok(())
        } else {
            Err(SourceError::NotAUrl)
        }
    }

    /// True when a request to `url` may carry our Altinn token: scheme, host and port equal the
    /// platform base, or an apps host of an allowed org (for `local`: the exact base URLs).
    ///
    /// Outside `local` that means `https`, the default port, no user information and a host
    /// that is exactly `platform.{domain}` or `{org}.apps.{domain}` (with the pinned org when
    /// there is one). For `local`, scheme, host and port must equal one of the two bases and
    /// the path must lie under the base's path.
    pub fn permits(&self, url: &Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        match &self.environment {
            AltinnEnvironment::Local {
                platform_url,
                apps_url,
            } => [platform_url, apps_url].into_iter().any(|base| {
                url.scheme() == base.scheme()
                    && url.host() == base.host()
                    && url.port_or_known_default() == base.port_or_known_default()
                    && url.path().starts_with(base.path())
            }),
            environment => {
                let (Some(domain), Some(url::Host::Domain(host))) =
                    (environment.domain(), url.host())
                else {
                    return false;
                };
                if url.scheme() != "https" || url.port().is_some() {
                    return false;
                }
                if host == format!("platform.{domain}") {
                    return true;
                }
                let apps_suffix = format!(".apps.{domain}");
                host.strip_suffix(apps_suffix.as_str()).is_some_and(|org| {
                    is_valid_org_code(org) && self.pinned_org.as_deref().is_none_or(|p| p == org)
                })
            }
        }
    }
}

/// `host[:port]` as the `url` crate serialises it (port only when not the default).
fn authority_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// A URL split by hand into its raw parts, without any normalisation.
struct RawUrl<'a> {
    scheme: &'a str,
    /// Everything between `//` and the first `/`, `?` or `#`.
    authority: &'a str,
    /// From the first `/` after the authority up to `?`, `#` or the end.
    path: &'a str,
    has_query_or_fragment: bool,
}

impl<'a> RawUrl<'a> {
    fn split(source: &'a str) -> Result<Self, SourceError> {
        if source.is_empty() || !source.bytes().all(is_uri_byte) {
            return Err(SourceError::NotAUrl);
        }
        let (scheme, rest) = source.split_once(':').ok_or(SourceError::NotAUrl)?;
        let scheme_is_valid = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_is_valid {
            return Err(SourceError::NotAUrl);
        }
        let rest = rest.strip_prefix("//").ok_or(SourceError::NotAUrl)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(authority_end);
        let path_end = after.find(['?', '#']).unwrap_or(after.len());
        Ok(RawUrl {
            scheme,
            authority,
            path: &after[..path_end],
            has_query_or_fragment: path_end < after.len(),
        })
    }
}

/// The characters RFC 3986 allows in a URI (unreserved, reserved and `%`). Everything else,
/// including whitespace, controls, non-ASCII, `\`, `"`, `<`, `>`, `{`, `}`, `|`, `^` and
/// `` ` ``, makes a source "not a URL".
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// Parses `{org}/{app}/instances/{partyId}/{guid}` (no leading slash).
fn parse_instance_path(path: &str) -> Result<InstanceRef, SourceError> {
    let mut segments = path.split('/');
    let (Some(org), Some(app), Some("instances"), Some(party), Some(guid), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(SourceError::BadPath);
    };
    if !is_valid_org_code(org) || !is_valid_app_name(app) {
        return Err(SourceError::BadPath);
    }
    let party_id = parse_party_id(party).ok_or(SourceError::BadPath)?;
    let instance_guid = parse_instance_guid(guid).ok_or(SourceError::BadPath)?;
    Ok(InstanceRef {
        org: org.to_owned(),
        app: app.to_owned(),
        party_id,
        instance_guid,
    })
}

/// A canonical positive decimal party id that fits in a `u64`.
pub(crate) fn parse_party_id(text: &str) -> Option<u64> {
    let canonical = text
        .bytes()
        .next()
        .is_some_and(|b| (b'1'..=b'9').contains(&b))
        && text.bytes().all(|b| b.is_ascii_digit());
    if canonical { text.parse().ok() } else { None }
}

/// A hyphenated, lowercase GUID (exactly 36 characters).
pub(crate) fn parse_instance_guid(text: &str) -> Option<Uuid> {
    let shape_ok = text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if shape_ok {
        Uuid::parse_str(text).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SourceError::*;

    const GUID: &str = "428a4575-2c04-4400-89a3-1aaadd2579cd";

    fn prod() -> Allowlist {
        Allowlist::new(AltinnEnvironment::Prod, None)
    }
    fn prod_pinned() -> Allowlist {
        Allowlist::new(AltinnEnvironment::Prod, Some("ttd".into()))
    }
    fn tt02() -> Allowlist {
        Allowlist::new(AltinnEnvironment::Tt02, None)
    }
    fn at23() -> Allowlist {
        Allowlist::new(AltinnEnvironment::parse("at23", None, None).unwrap(), None)
    }
    fn yt01() -> Allowlist {
        Allowlist::new(AltinnEnvironment::parse("YT01", None, None).unwrap(), None)
    }
    fn local() -> Allowlist {
        let env = AltinnEnvironment::parse(
            "local",
            Some("http://127.0.0.1:5101"),
            Some("http://127.0.0.1:5102/apps"),
        )
        .unwrap();
        Allowlist::new(env, Some("ttd".into()))
    }
    fn local_default_port() -> Allowlist {
        let env = AltinnEnvironment::parse(
            "local",
            Some("http://local.altinn.cloud/"),
            Some("http://local.altinn.cloud/"),
        )
        .unwrap();
        Allowlist::new(env, None)
    }

    fn instance(org: &str, app: &str, party_id: u64) -> InstanceRef {
        InstanceRef {
            org: org.into(),
            app: app.into(),
            party_id,
            instance_guid: Uuid::parse_str(GUID).unwrap(),
        }
    }

    /// One row: which allowlist, the source text, and the exact expected result.
    type Row = (
        fn() -> Allowlist,
        &'static str,
        Result<(&'static str, &'static str, u64), SourceError>,
    );

    #[rustfmt::skip]
    fn rows() -> Vec<Row> {
        vec![
            // ---- accepted, one per environment ----
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
            (prod_pinned, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
            (prod, "https://skd.apps.altinn.no/skd/a/instances/1/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("skd", "a", 1))),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/18446744073709551615/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", u64::MAX))),
            (tt02, "https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
            (at23, "https://ttd.apps.at23.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
            (yt01, "https://digdir.apps.yt01.altinn.cloud/digdir/demoapp/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("digdir", "demoapp", 50660768))),
            (local, "http://127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
            (local_default_port, "http://local.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),

            // ---- not a URL at all / characters outside RFC 3986 ----
            (prod, "", Err(NotAUrl)),
            (prod, "ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, " https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd ", Err(NotAUrl)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd\n", Err(NotAUrl)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-\ttest/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test\\instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https://ttd.apps.altinn.no\\@evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https:\\\\ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https:/ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https:ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https://ttd.apps.altınn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "https://ttd.apps.altinn.no/ttd/äpps/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
            (prod, "1https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),

            // ---- scheme ----
            (prod, "http://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
            (prod, "HTTPS://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
            (prod, "ftp://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
            (tt02, "http://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
            (local, "https://127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),

            // ---- user information ----
            (prod, "https://ttd.apps.altinn.no@evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
            (prod, "https://x@ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
            (prod, "https://user:pass@ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
            (prod, "https://@ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
            (local, "http://x@127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),

            // ---- ports ----
            (prod, "https://ttd.apps.altinn.no:443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
            (prod, "https://ttd.apps.altinn.no:8443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
            (prod, "https://ttd.apps.altinn.no:/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
            (tt02, "https://ttd.apps.tt02.altinn.no:443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
            (local, "http://127.0.0.1:5101/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (local, "http://127.0.0.1/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (local_default_port, "http://local.altinn.cloud:80/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),

            // ---- hosts: other envs, look-alikes, IP literals ----
            (prod, "https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (tt02, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (at23, "https://ttd.apps.at22.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (at23, "https://ttd.apps.at23.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://ttd.apps.altinn.no.evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://ttd.apps.altinn.noevil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://ttd.apps.altinn.no./ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://platform.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://www.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://x.ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://t.apps.altinn.no/t/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://tt-d.apps.altinn.no/tt-d/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://TTD.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://ttd.APPS.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://ttd.apps.Altinn.No/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://%74td.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://xn--ttd-0na.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://169.254.169.254/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://127.0.0.1/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://2130706433/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://0x7f000001/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://0177.0.0.1/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://[::1]/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https://[::ffff:169.254.169.254]:443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (prod, "https:///ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (local, "http://localhost:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
            (local, "http://127.0.0.1:5102.evil.com/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),

            // ---- query and fragment ----
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd?x=1", Err(QueryOrFragment)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd?", Err(QueryOrFragment)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd#f", Err(QueryOrFragment)),
            (prod, "https://ttd.apps.altinn.no?/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(QueryOrFragment)),
            (local, "http://127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd#x", Err(QueryOrFragment)),

            // ---- path shape ----
            (prod, "https://ttd.apps.altinn.no", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/extra", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/data/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no//ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd//apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances//50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/Instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instance/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/../apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/other/../apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/./apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/./428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/..", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/%2e%2e", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd%2Fapps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test%2finstances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps%2Dtest/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/%74td/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test;x=1/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/TTD/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/Apps-Test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps_test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (local, "http://127.0.0.1:5102/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (local, "http://127.0.0.1:5102/apps//ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),

            // ---- party id ----
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/abc/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/-50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/+50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/050660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/0/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/18446744073709551616/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/99999999999999999999999/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/5066.0768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/0x1f/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),

            // ---- instance guid ----
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428A4575-2C04-4400-89A3-1AAADD2579CD", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a45752c04440089a31aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/{428a4575-2c04-4400-89a3-1aaadd2579cd}", Err(NotAUrl)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579c", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cdd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cg", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c0-44400-89a3-1aaadd2579cd", Err(BadPath)),
            (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/urn:uuid:428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),

            // ---- org in host vs path, pinned org ----
            (prod, "https://evilttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(OrgMismatch)),
            (prod, "https://skd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(OrgMismatch)),
            (tt02, "https://ttd.apps.tt02.altinn.no/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(OrgMismatch)),
            (prod_pinned, "https://skd.apps.altinn.no/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(ForeignOrg)),
            (prod_pinned, "https://evilttd.apps.altinn.no/evilttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(ForeignOrg)),
            (local, "http://127.0.0.1:5102/apps/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(ForeignOrg)),
        ]
    }

    #[test]
    fn hostile_and_valid_sources_table() {
        let rows = rows();
        assert!(rows.len() > 100, "the table should stay large");
        for (index, (allowlist, source, expected)) in rows.into_iter().enumerate() {
            let allowlist = allowlist();
            let expected = expected.map(|(org, app, party_id)| instance(org, app, party_id));
            assert_eq!(
                allowlist.parse_app_source(source),
                expected,
                "row {index} in {}: {source:?}",
                allowlist.environment().name()
            );
        }
    }

    #[test]
    fn every_accepted_source_is_permitted_as_a_request_target() {
        for (allowlist, source, expected) in rows() {
            if expected.is_ok() {
                let allowlist = allowlist();
                let url = Url::parse(source).unwrap();
                assert!(allowlist.permits(&url), "{source}");
            }
        }
    }

    #[test]
    fn unknown_internal_environment_accepts_nothing() {
        let allowlist = Allowlist::new(AltinnEnvironment::Internal("at99".into()), None);
        let source = format!("https://ttd.apps.at99.altinn.cloud/ttd/a/instances/1/{GUID}");
        assert_eq!(allowlist.parse_app_source(&source), Err(HostNotAllowed));
        let platform = allowlist.environment().platform_url();
        assert_eq!(platform.as_str(), UNROUTABLE_URL);
        assert!(!allowlist.permits(&platform));
        assert!(!allowlist.permits(&Url::parse("https://platform.at99.altinn.cloud/").unwrap()));
    }

    #[test]
    fn parses_every_environment_name() {
        let cases = [
            ("prod", AltinnEnvironment::Prod),
            ("PROD", AltinnEnvironment::Prod),
            (" tt02 ", AltinnEnvironment::Tt02),
            ("at21", AltinnEnvironment::Internal("at21".into())),
            ("at22", AltinnEnvironment::Internal("at22".into())),
            ("At23", AltinnEnvironment::Internal("at23".into())),
            ("at24", AltinnEnvironment::Internal("at24".into())),
            ("yt01", AltinnEnvironment::Internal("yt01".into())),
        ];
        for (name, expected) in cases {
            // Non-local environments ignore the local URLs, even malformed ones.
            assert_eq!(
                AltinnEnvironment::parse(name, Some("::"), None).unwrap(),
                expected
            );
        }
    }

    #[test]
    fn rejects_unknown_environment_names() {
        for name in ["production", "at25", "at2", "tt03", "altinn.no", "local2"] {
            let err = AltinnEnvironment::parse(name, None, None).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        variable: "ALTINN_ENV",
                        ..
                    }
                ),
                "{name}"
            );
        }
        assert_eq!(
            AltinnEnvironment::parse("  ", None, None),
            Err(ConfigError::Missing {
                variable: "ALTINN_ENV"
            })
        );
    }

    #[test]
    fn local_requires_both_urls_and_normalises_trailing_slash() {
        assert_eq!(
            AltinnEnvironment::parse("local", None, Some("http://127.0.0.1:1/")),
            Err(ConfigError::Missing {
                variable: "ALTINN_PLATFORM_URL"
            })
        );
        assert_eq!(
            AltinnEnvironment::parse("local", Some("http://127.0.0.1:1/"), Some("")),
            Err(ConfigError::Missing {
                variable: "ALTINN_APPS_URL"
            })
        );
        let env = AltinnEnvironment::parse(
            "LOCAL",
            Some("http://127.0.0.1:5101"),
            Some("https://apps.example.test/base"),
        )
        .unwrap();
        assert_eq!(env.name(), "local");
        assert_eq!(env.platform_url().as_str(), "http://127.0.0.1:5101/");
        assert_eq!(
            env.apps_url("ttd").as_str(),
            "https://apps.example.test/base/"
        );
        assert_eq!(env.default_maskinporten_issuer(), None);
    }

    #[test]
    fn local_urls_must_be_clean_http_urls() {
        let bad = [
            "127.0.0.1:5101",
            "ftp://127.0.0.1/",
            "file:///tmp/x",
            "http://user:pw@127.0.0.1/",
            "http://127.0.0.1/?x=1",
            "http://127.0.0.1/#f",
            "not a url",
        ];
        for value in bad {
            let err = AltinnEnvironment::parse("local", Some(value), Some("http://127.0.0.1/"))
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        variable: "ALTINN_PLATFORM_URL",
                        ..
                    }
                ),
                "{value}: {err:?}"
            );
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }

    #[test]
    fn base_urls_per_environment() {
        let cases = [
            (
                "prod",
                "https://platform.altinn.no/",
                "https://ttd.apps.altinn.no/",
                "https://maskinporten.no/",
            ),
            (
                "tt02",
                "https://platform.tt02.altinn.no/",
                "https://ttd.apps.tt02.altinn.no/",
                "https://test.maskinporten.no/",
            ),
            (
                "at21",
                "https://platform.at21.altinn.cloud/",
                "https://ttd.apps.at21.altinn.cloud/",
                "https://test.maskinporten.no/",
            ),
            (
                "at24",
                "https://platform.at24.altinn.cloud/",
                "https://ttd.apps.at24.altinn.cloud/",
                "https://test.maskinporten.no/",
            ),
            (
                "yt01",
                "https://platform.yt01.altinn.cloud/",
                "https://ttd.apps.yt01.altinn.cloud/",
                "https://test.maskinporten.no/",
            ),
        ];
        for (name, platform, apps, issuer) in cases {
            let env = AltinnEnvironment::parse(name, None, None).unwrap();
            assert_eq!(env.name(), name);
            assert_eq!(env.platform_url().as_str(), platform);
            assert_eq!(env.apps_url("ttd").as_str(), apps);
            assert_eq!(env.default_maskinporten_issuer().unwrap().as_str(), issuer);
        }
    }

    #[test]
    fn apps_url_refuses_to_build_hosts_from_invalid_org_codes() {
        let env = AltinnEnvironment::Prod;
        for org in ["evil.com/", "TTD", "ttd.x", "", "a", "evil.com#"] {
            let url = env.apps_url(org);
            assert_eq!(url.as_str(), UNROUTABLE_URL, "{org}");
            assert!(!prod().permits(&url));
        }
    }

    /// One row: which allowlist, the URL, and whether it may carry our token.
    type PermitsRow = (fn() -> Allowlist, &'static str, bool);

    #[test]
    fn permits_table() {
        #[rustfmt::skip]
        let cases: [PermitsRow; 34] = [
            (prod, "https://platform.altinn.no/storage/api/v1/instances/1/x", true),
            (prod, "https://platform.altinn.no/storage/api/v1/instances?org=ttd&size=100", true),
            (prod, "https://PLATFORM.altinn.no/", true),
            (prod, "https://platform.altinn.no:443/", true),
            (prod, "https://ttd.apps.altinn.no/ttd/app/instances/1/x/complete", true),
            (prod, "https://skd.apps.altinn.no/", true),
            (prod_pinned, "https://ttd.apps.altinn.no/", true),
            (prod_pinned, "https://skd.apps.altinn.no/", false),
            (prod_pinned, "https://platform.altinn.no/", true),
            (prod, "http://platform.altinn.no/", false),
            (prod, "https://platform.altinn.no:8443/", false),
            (prod, "https://x@platform.altinn.no/", false),
            (prod, "https://x:y@platform.altinn.no/", false),
            (prod, "https://platform.altinn.no./", false),
            (prod, "https://platform.altinn.no.evil.com/", false),
            (prod, "https://platform.tt02.altinn.no/", false),
            (prod, "https://www.altinn.no/", false),
            (prod, "https://altinn.no/", false),
            (prod, "https://apps.altinn.no/", false),
            (prod, "https://a.b.apps.altinn.no/", false),
            (prod, "https://169.254.169.254/", false),
            (prod, "https://[::1]/", false),
            (prod, "https://maskinporten.no/token", false),
            (tt02, "https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten", true),
            (tt02, "https://ttd.apps.tt02.altinn.no/", true),
            (tt02, "https://platform.altinn.no/", false),
            (tt02, "https://ttd.apps.altinn.no/", false),
            (at23, "https://platform.at23.altinn.cloud/", true),
            (at23, "https://ttd.apps.at23.altinn.cloud/", true),
            (at23, "https://platform.at22.altinn.cloud/", false),
            (local, "http://127.0.0.1:5101/storage/api/v1/instances", true),
            (local, "http://127.0.0.1:5102/apps/ttd/app/instances/1/x", true),
            (local, "http://127.0.0.1:5102/ttd/app/instances/1/x", false),
            (local, "http://127.0.0.1:5103/", false),
        ];
        for (allowlist, url, expected) in cases {
            let url = Url::parse(url).unwrap();
            assert_eq!(allowlist().permits(&url), expected, "{url}");
        }
        let local = local();
        for url in [
            "https://127.0.0.1:5101/",
            "http://localhost:5101/",
            "http://u@127.0.0.1:5101/",
            "https://platform.altinn.no/",
        ] {
            assert!(!local.permits(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn party_id_and_guid_helpers() {
        assert_eq!(parse_party_id("50660768"), Some(50660768));
        assert_eq!(parse_party_id("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "0",
            "00",
            "01",
            "-1",
            "+1",
            "1 ",
            "١",
            "18446744073709551616",
        ] {
            assert_eq!(parse_party_id(bad), None, "{bad}");
        }
        assert!(parse_instance_guid(GUID).is_some());
        for bad in [
            "",
            "428A4575-2c04-4400-89a3-1aaadd2579cd",
            "428a4575x2c04-4400-89a3-1aaadd2579cd",
        ] {
            assert_eq!(parse_instance_guid(bad), None, "{bad}");
        }
    }

    #[test]
    fn org_and_app_rules() {
        for ok in ["ttd", "digdir", "ab", "a1", "abcdefghijklmnopqrst"] {
            assert!(is_valid_org_code(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "TTD",
            "t-d",
            "t.d",
            "t_d",
            "abcdefghijklmnopqrstu",
            "tæd",
        ] {
            assert!(!is_valid_org_code(bad), "{bad}");
        }
        for ok in ["a", "apps-test", "frontend-test-v2", &"a".repeat(100)] {
            assert!(is_valid_app_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Apps",
            "apps_test",
            "apps.test",
            "apps test",
            &"a".repeat(101),
        ] {
            assert!(!is_valid_app_name(bad), "{bad}");
        }
    }
}
