//! The webhook endpoint as Altinn stores it: the URL with the secret in its `code` parameter.
//! Building it, checking `--endpoint`, and redacting it for everything printed. Also the
//! duration flags (`--timeout`, `--refresh-wait`).

use std::time::Duration;

use altinn::Secret;
use url::Url;

use super::CODE_PARAMETER;
use crate::UsageError;

/// `endpoint` with the value of every `code` query parameter (any case) and any URL password
/// replaced by `***`. Text that is not a URL keeps only what precedes its query.
pub fn redact_endpoint(endpoint: &str) -> String {
    let Ok(mut url) = Url::parse(endpoint) else {
        return match endpoint.split_once('?') {
            Some((base, _)) => format!("{base}?***"),
            None => endpoint.to_owned(),
        };
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have credentials, which this one evidently can.
        let _ = url.set_password(Some("***"));
    }
    if let Some(query) = url.query() {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                let raw_name = pair.split_once('=').map_or(pair, |(name, _)| name);
                let is_code = url::form_urlencoded::parse(raw_name.as_bytes())
                    .next()
                    .is_some_and(|(name, _)| name.eq_ignore_ascii_case(CODE_PARAMETER));
                if is_code {
                    format!("{raw_name}=***")
                } else {
                    pair.to_owned()
                }
            })
            .collect();
        url.set_query(Some(&pairs.join("&")));
    }
    url.into()
}

/// The endpoint Altinn will push to: `endpoint` with `code={secret}` appended,
/// form-urlencoded exactly as the webhook decodes it. The result is a credential.
pub fn endpoint_with_secret(endpoint: &Url, secret: &Secret) -> String {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair(CODE_PARAMETER, secret.expose());
    url.into()
}

/// Checks `--endpoint`: absolute https (http too for `local`, where the simulator pushes to
/// loopback), no credentials, no fragment, and no `code` yet. Errors never echo the value.
pub fn parse_endpoint(text: &str, allow_http: bool) -> Result<Url, UsageError> {
    let url = Url::parse(text.trim())
        .map_err(|_| UsageError("--endpoint must be an absolute URL".into()))?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    if !scheme_ok || url.host_str().is_none() {
        return Err(UsageError(if allow_http {
            "--endpoint must be an http(s) URL with a host".into()
        } else {
            "--endpoint must be an https URL (Altinn pushes only to https)".into()
        }));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(UsageError(
            "--endpoint must not carry user information or a fragment".into(),
        ));
    }
    if url
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case(CODE_PARAMETER))
    {
        return Err(UsageError(
            "--endpoint must not carry code=: the secret comes from WEBHOOK_SECRET or \
             --secret-arn, never from the command line"
                .into(),
        ));
    }
    Ok(url)
}

/// Parses `--timeout`: whole seconds, optionally with `s`, `m` or `h`.
pub fn parse_timeout(text: &str) -> Result<Duration, UsageError> {
    parse_duration("timeout", text)
}

/// Parses the duration flag `--{flag}`: whole seconds, optionally with `s`, `m` or `h`.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration, UsageError> {
    lambda_support::settings::parse_duration(text)
        .ok_or_else(|| UsageError(format!("--{flag} must look like 90, 90s, 2m or 1h")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_code_value_and_passwords() {
        assert_eq!(
            redact_endpoint("https://hook.example/events?code=s3cr%2Bet"),
            "https://hook.example/events?code=***"
        );
        assert_eq!(
            redact_endpoint("https://hook.example/e?a=1&Code=x&b=2&code=y"),
            "https://hook.example/e?a=1&Code=***&b=2&code=***"
        );
        assert_eq!(
            redact_endpoint("https://user:pw@hook.example/e"),
            "https://user:***@hook.example/e"
        );
        assert_eq!(
            redact_endpoint("https://hook.example/e"),
            "https://hook.example/e"
        );
        assert_eq!(redact_endpoint("not a url?code=x"), "not a url?***");
    }

    #[test]
    fn the_secret_is_form_encoded_as_the_webhook_decodes_it() {
        let endpoint = parse_endpoint("https://hook.example/events?x=1", false).unwrap();
        let secret = Secret::new("a+b/c=d&e f%g-long-enough");
        let full = endpoint_with_secret(&endpoint, &secret);
        let url = Url::parse(&full).unwrap();
        let codes: Vec<String> = url
            .query_pairs()
            .filter(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_eq!(codes, [secret.expose()]);
        assert_eq!(url.query_pairs().count(), 2);
        assert!(!redact_endpoint(&full).contains("long-enough"));
    }

    #[test]
    fn endpoints_must_be_https_without_a_code() {
        assert!(parse_endpoint("https://hook.example/events", false).is_ok());
        assert!(parse_endpoint("http://127.0.0.1:9/events", false).is_err());
        assert!(parse_endpoint("http://127.0.0.1:9/events", true).is_ok());
        assert!(parse_endpoint("https://hook.example/e?code=x", false).is_err());
        assert!(parse_endpoint("https://u:p@hook.example/e", false).is_err());
        assert!(parse_endpoint("hook.example/e", false).is_err());
        let error = parse_endpoint("https://hook.example/e?code=topsecret", false).unwrap_err();
        assert!(!error.0.contains("topsecret"));
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("120s").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "s", "5x", "-1s", "1.5s"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
