//! The checks of one request's headers, body and event that need nothing but the request:
//! size, content type and what SQS can carry.
//! [`crate::handler`] runs them in its order of steps.

use altinn::CloudEvent;
use lambda_http::http::StatusCode;
use lambda_http::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};

use crate::handler::MAX_BODY_BYTES;
use crate::problem::Problem;

/// Step 3: `Content-Length` (when sent) and the actual body within [`MAX_BODY_BYTES`].
/// Both are checked: behind API Gateway the header is the client's claim, the body is the fact.
pub(crate) fn check_size(headers: &HeaderMap, body_len: usize) -> Result<(), Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body must not exceed {MAX_BODY_BYTES} bytes"),
        )
    };
    let mut declared = headers.get_all(CONTENT_LENGTH).iter();
    if let Some(first) = declared.next() {
        let bad =
            |detail: &str| Problem::new(StatusCode::BAD_REQUEST, "bad_content_length", detail);
        if declared.next().is_some() {
            return Err(bad("Content-Length is given more than once"));
        }
        let length = first
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| bad("Content-Length is not a number"))?;
        if length > MAX_BODY_BYTES as u64 {
            return Err(too_large());
        }
    }
    if body_len > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(())
}

/// Step 4: the media type is JSON. Parameters other than `charset` are ignored; `charset`,
/// when given, must be UTF-8 (the only encoding a JSON body may have on the wire).
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let bad =
        |detail: &str| Problem::new(StatusCode::BAD_REQUEST, "unsupported_content_type", detail);
    const EXPECTED: &str = "Content-Type must be application/json or application/cloudevents+json";
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let Some(value) = values.next() else {
        return Err(bad(&format!("Content-Type is missing; {EXPECTED}")));
    };
    if values.next().is_some() {
        return Err(bad("Content-Type is given more than once"));
    }
    let text = value.to_str().map_err(|_| bad(EXPECTED))?;
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json")
        && !essence.eq_ignore_ascii_case("application/cloudevents+json")
    {
        return Err(bad(EXPECTED));
    }
    for parameter in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = parameter.split_once('=') else {
            return Err(bad("Content-Type has a malformed parameter"));
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let charset = value.trim().trim_matches('"');
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                return Err(bad("Content-Type charset must be utf-8"));
            }
        }
    }
    Ok(())
}

/// The body as the text we enqueue, after checking that SQS can carry it and the attributes
/// taken from it. SQS refuses characters outside XML's range (control characters, U+FFFE,
/// U+FFFF) in bodies and attributes; such an event would fail at `SendMessage`, answer 503 and
/// be retried by Altinn for 35 hours, so it is refused up front as the bad input it is.
pub(crate) fn queueable_text<'b>(body: &'b [u8], event: &CloudEvent) -> Result<&'b str, Problem> {
    let invalid = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_event", detail);
    let text = std::str::from_utf8(body).map_err(|_| invalid("body is not valid UTF-8".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !sqs_can_carry(text) {
        return Err(invalid(
            "body contains characters that cannot be queued".into(),
        ));
    }
    for (name, value) in [("id", &event.id), ("type", &event.event_type)] {
        if !sqs_can_carry(value) || value.chars().any(char::is_control) {
            return Err(invalid(format!(
                "attribute `{name}` contains control characters"
            )));
        }
    }
    Ok(text)
}

/// True when every character is one SQS accepts in a message body or attribute:
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
pub(crate) fn sqs_can_carry(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn content_types_with_and_without_charset() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/cloudevents+json; charset=utf-8",
            "application/json;",
            "application/json; foo=bar",
        ] {
            assert!(
                check_content_type(&headers(&[("content-type", ok)])).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "text/plain",
            "application/xml",
            "application/cloudevents-batch+json",
            "application/json; charset=iso-8859-1",
            "application/json; charset",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "",
        ] {
            let problem = check_content_type(&headers(&[("content-type", bad)])).unwrap_err();
            assert_eq!(problem.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        assert!(check_content_type(&HeaderMap::new()).is_err());
        let twice = headers(&[
            ("content-type", "application/json"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            check_content_type(&twice).unwrap_err().detail(),
            "Content-Type is given more than once"
        );
    }

    #[test]
    fn size_checks_header_and_body() {
        assert!(check_size(&HeaderMap::new(), MAX_BODY_BYTES).is_ok());
        assert_eq!(
            check_size(&HeaderMap::new(), MAX_BODY_BYTES + 1)
                .unwrap_err()
                .status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            check_size(&headers(&[("content-length", "65537")]), 10)
                .unwrap_err()
                .status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            check_size(
                &headers(&[("content-length", "99999999999999999999999")]),
                10
            )
            .unwrap_err()
            .status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            check_size(&headers(&[("content-length", "-1")]), 10)
                .unwrap_err()
                .reason(),
            "bad_content_length"
        );
        assert!(check_size(&headers(&[("content-length", "65536")]), 10).is_ok());
    }

    #[test]
    fn sqs_character_range() {
        assert!(sqs_can_carry("plain {\"json\": \"æøå 🦀\"}\t\r\n"));
        assert!(!sqs_can_carry("nul \u{0}"));
        assert!(!sqs_can_carry("bell \u{7}"));
        assert!(!sqs_can_carry("noncharacter \u{FFFF}"));
        assert!(!sqs_can_carry("noncharacter \u{FFFE}"));
    }
}
