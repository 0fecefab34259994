//! The allowlist: which URLs may receive our Altinn token, and the strict grammar an app
//! event's `source` must match before the archiver follows it (see the module docs of
//! `environment` for the rules and why they are checked on the raw text).

use url::Url;
use uuid::Uuid;

use super::{AltinnEnvironment, is_valid_app_name, is_valid_org_code};
use crate::event::{InstanceRef, SourceError};

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
