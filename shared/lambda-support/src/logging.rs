//! Logging set-up shared by the functions.
//!
//! Lambda's advanced logging controls set `AWS_LAMBDA_LOG_FORMAT=JSON` and
//! `AWS_LAMBDA_LOG_LEVEL`; we honour both, then `RUST_LOG`, then default to INFO. Under Lambda the
//! timestamp is left out (CloudWatch adds one). Span fields (the event id, the instance id) are
//! written on every line so one event can be followed through CloudWatch Logs Insights.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    let filter = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|level| EnvFilter::new(level.to_lowercase()))
        .unwrap_or_else(|| {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
        });
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
