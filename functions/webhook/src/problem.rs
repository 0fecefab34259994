//! Error answers as `application/problem+json` (RFC 9457) and the plain JSON answers.
//!
//! A problem has `type`, `title`, `status` and `detail`. We have no documentation page per
//! problem, so `type` is `about:blank` and `title` is the HTTP reason phrase, as the RFC asks
//! for that case; what went wrong is in `detail`, and the extension member `reason` carries the
//! same short, fixed name the metrics use (`invalid_event`, `forbidden_source`, …) so a caller
//! can tell problems apart without parsing prose.
//!
//! Responses are built without any fallible step (no builder `unwrap`), so answering can never
//! panic whatever the input was.

use lambda_http::Body;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use lambda_http::http::{Response, StatusCode};
use serde_json::{Value, json};

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// The longest `detail` we send back. Details name attributes, and an attribute name comes
/// from the request (a duplicated 60 KiB key, say); a bounded answer echoes at most this much.
pub const MAX_DETAIL_CHARS: usize = 300;

/// An error answer: a status, a fixed reason name and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    reason: &'static str,
    detail: String,
    headers: Vec<(HeaderName, &'static str)>,
}

impl Problem {
    /// A problem with `status`, the fixed `reason` name (also a metric dimension, so it must
    /// come from a small set) and a `detail`, cut to [`MAX_DETAIL_CHARS`].
    pub fn new(status: StatusCode, reason: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            reason,
            detail: bounded(detail.into()),
            headers: Vec::new(),
        }
    }

    /// Adds a header with a fixed value (`Allow` for 405, `Retry-After` for 503).
    pub fn with_header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The fixed reason name.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The detail text.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The problem document.
    pub fn to_json(&self) -> Value {
        json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "reason": self.reason,
        })
    }

    /// The HTTP answer.
    pub fn into_response(self) -> Response<Body> {
        let mut response = response_with(self.status, PROBLEM_JSON, self.to_json().to_string());
        for (name, value) in self.headers {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// A `200`-family JSON answer with `body`.
pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    response_with(status, "application/json", body.to_string())
}

fn response_with(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Nothing the webhook answers may be cached by a proxy or CDN in front of it.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bounded(detail: String) -> String {
    match detail.char_indices().nth(MAX_DETAIL_CHARS) {
        None => detail,
        Some((cut, _)) => format!("{}…", &detail[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::header::ALLOW;

    use super::*;

    #[test]
    fn problem_document_has_the_rfc_members_and_our_reason() {
        let response =
            Problem::new(StatusCode::BAD_REQUEST, "invalid_event", "body is empty").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body,
            json!({"type": "about:blank", "title": "Bad Request", "status": 400,
                   "detail": "body is empty", "reason": "invalid_event"})
        );
    }

    #[test]
    fn allow_header_and_long_details_are_bounded() {
        let long = "é".repeat(10_000);
        let problem =
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method", long).with_header(ALLOW, "POST");
        assert_eq!(problem.detail().chars().count(), MAX_DETAIL_CHARS + 1);
        let response = problem.into_response();
        assert_eq!(response.headers()["allow"], "POST");
    }
}
