//! Small helpers for building answers the way ASP.NET writes them, and the boxed early-return
//! type the handlers' plain functions use.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

/// An answer a check decided on early (401, 403, 404, 400 …). Boxed because `Response` is large
/// and these travel in `Result::Err`.
pub(crate) struct Reject(Box<Response>);

impl From<Response> for Reject {
    fn from(response: Response) -> Self {
        Reject(Box::new(response))
    }
}

impl From<StatusCode> for Reject {
    fn from(status: StatusCode) -> Self {
        Reject::from(status.into_response())
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A JSON body with `application/json; charset=utf-8`.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    with_content_type(
        (status, value.to_string()).into_response(),
        "application/json; charset=utf-8",
    )
}

/// A text body with `text/plain; charset=utf-8` (ASP.NET's `NotFound(string)` and friends).
pub(crate) fn text_response(status: StatusCode, text: impl Into<String>) -> Response {
    with_content_type(
        (status, text.into()).into_response(),
        "text/plain; charset=utf-8",
    )
}

/// An RFC 7807 problem response.
pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": format!("https://tools.ietf.org/html/rfc9110#section-15.{}", status.as_u16() / 100),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    with_content_type(
        (status, body.to_string()).into_response(),
        "application/problem+json; charset=utf-8",
    )
}

/// A ProblemDetails with its own `title` and extension members (app-lib's
/// `Problem(title: …, detail: …)` answers, e.g. 409 "Instance Not Active").
pub(crate) fn problem_with<const N: usize>(
    status: StatusCode,
    title: &str,
    detail: &str,
    extensions: [(&str, Value); N],
) -> Response {
    let mut body = serde_json::json!({
        "type": format!("https://tools.ietf.org/html/rfc9110#section-15.{}", status.as_u16() / 100),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    for (key, value) in extensions {
        body[key] = value;
    }
    with_content_type(
        (status, body.to_string()).into_response(),
        "application/problem+json; charset=utf-8",
    )
}

/// ASP.NET's automatic 400 for a request body that does not bind.
pub(crate) fn validation_problem(field: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": { field: [message] },
    });
    with_content_type(
        (StatusCode::BAD_REQUEST, body.to_string()).into_response(),
        "application/problem+json; charset=utf-8",
    )
}

fn with_content_type(mut response: Response, content_type: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
