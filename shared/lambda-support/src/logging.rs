//! Logging set-up shared by the functions.
//!
//! Lambda's advanced logging controls set `AWS_LAMBDA_LOG_FORMAT=JSON` and
//! `AWS_LAMBDA_LOG_LEVEL`; we honour both, then `RUST_LOG`, then default to INFO. Under Lambda the
//! timestamp is left out (CloudWatch adds one). Span fields (the event id, the instance id) are
//! written on every line so one event can be followed through CloudWatch Logs Insights.

use tracing_subscriber::EnvFilter;

/// Targets whose TRACE (and for some DEBUG) output carries whole requests or events, and so
/// secrets: `lambda_runtime` logs the raw invocation payload at TRACE, which for the webhook
/// includes `rawQueryString` with the `?code=` secret; the HTTP and SDK stacks log headers.
/// Whatever level the operator asks for, these stay at INFO.
const SECRET_BEARING_TARGETS: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_sigv4",
    "aws_config",
];

/// The filter for a requested level (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO), with
/// the secret-bearing targets capped at INFO.
pub fn filter_for(requested: Option<&str>) -> EnvFilter {
    let requested = requested.map(str::trim).unwrap_or_default().to_lowercase();
    let base = match requested.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" | "off" => requested,
        // Lambda's levels include FATAL, which tracing does not have.
        "fatal" => "error".to_owned(),
        // A RUST_LOG-style directive list (`info,archiver=debug`) is taken as it is.
        directives if directives.contains('=') => directives.to_owned(),
        // Anything else would parse as a target name and silence everything else.
        _ => "info".to_owned(),
    };
    let mut filter = EnvFilter::try_new(&base).unwrap_or_else(|_| EnvFilter::new("info"));
    for target in SECRET_BEARING_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    let requested = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| std::env::var("RUST_LOG").ok());
    let filter = filter_for(requested.as_deref());
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(!in_lambda && !json);
    let result = match (json, in_lambda) {
        (true, true) => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .without_time()
            .try_init(),
        (true, false) => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
        (false, true) => builder.without_time().try_init(),
        (false, false) => builder.try_init(),
    };
    // A second call (tests, the local runner) keeps the first subscriber.
    let _ = result;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_never_reaches_the_targets_that_log_raw_events() {
        let filter = filter_for(Some("TRACE")).to_string();
        assert!(filter.contains("lambda_runtime=info"), "{filter}");
        assert!(filter.contains("aws_smithy_runtime=info"), "{filter}");
        assert!(
            filter.contains("trace"),
            "our own code still logs at the requested level: {filter}"
        );
    }

    #[test]
    fn junk_level_falls_back_to_info() {
        let filter = filter_for(Some("not a level!!")).to_string();
        assert!(filter.contains("info"), "{filter}");
        assert!(!filter.contains("trace"), "{filter}");
    }
}
