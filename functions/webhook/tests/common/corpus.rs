//! Malformed and hostile requests, each with the 4xx it must get. None may be enqueued.

use lambda_http::Body;
use lambda_http::http::{Method, Request};
use serde_json::json;

use super::*;

/// One hostile request and the status it must get.
pub struct Case {
    pub name: &'static str,
    pub request: Request<Body>,
    pub status: u16,
}

fn case(name: &'static str, status: u16, request: Request<Body>) -> Case {
    Case {
        name,
        request,
        status,
    }
}

/// The body of an event with `attribute` set to `value` (or removed when `value` is null).
fn with(attribute: &str, value: serde_json::Value) -> String {
    let mut event = completed_event();
    if value.is_null() {
        event.as_object_mut().unwrap().remove(attribute);
    } else {
        event[attribute] = value;
    }
    text(&event)
}

/// More than 40 malformed or hostile requests.
pub fn hostile_requests() -> Vec<Case> {
    let secret = secret();
    let code = format!("code={secret}");
    let good = text(&completed_event());
    let body_with =
        |status: u16, name: &'static str, body: Vec<u8>| case(name, status, authorised_post(body));
    let typed = |name: &'static str, status: u16, content_type: Option<&str>, body: &str| {
        case(
            name,
            status,
            request(Method::POST, &code, content_type, body.as_bytes().to_vec()),
        )
    };

    let mut cases = vec![
        // ---- bodies that are not JSON, or not an object ----
        body_with(400, "empty body", Vec::new()),
        body_with(400, "whitespace-only body", b"  \r\n\t ".to_vec()),
        body_with(400, "truncated JSON", good.as_bytes()[..good.len() / 2].to_vec()),
        body_with(400, "JSON null", b"null".to_vec()),
        body_with(400, "JSON array (batch)", format!("[{good}]").into_bytes()),
        body_with(400, "JSON string", b"\"app.instance.process.completed\"".to_vec()),
        body_with(400, "JSON number", b"42".to_vec()),
        body_with(400, "trailing garbage", format!("{good}garbage").into_bytes()),
        body_with(400, "two concatenated events", format!("{good}{good}").into_bytes()),
        body_with(400, "NaN literal", br#"{"id":NaN}"#.to_vec()),
        body_with(400, "single quotes", b"{'id':'x'}".to_vec()),
        body_with(400, "comment in JSON", format!("/* hi */{good}").into_bytes()),
        body_with(400, "deeply nested data", {
            let mut body = good.trim_end_matches('}').to_owned();
            body.push_str(",\"data\":");
            body.push_str(&"[".repeat(20_000));
            body.push_str(&"]".repeat(20_000));
            body.push('}');
            body.into_bytes()
        }),
        // ---- encodings ----
        body_with(400, "non-UTF-8 bytes", {
            let mut body = good.clone().into_bytes();
            body.insert(20, 0xC3);
            body.insert(21, 0x28);
            body
        }),
        body_with(400, "latin-1 encoded body", with("subject", json!("/party/æøå")).chars().map(|c| c as u32 as u8).collect()),
        body_with(400, "UTF-16LE body with BOM", {
            let mut bytes = vec![0xFF, 0xFE];
            for unit in good.encode_utf16() {
                bytes.extend_from_slice(&unit.to_le_bytes());
            }
            bytes
        }),
        body_with(400, "UTF-8 byte order mark", format!("\u{feff}{good}").into_bytes()),
        body_with(400, "lone surrogate escape", good.replacen("/party/", "/party/\\ud800", 1).into_bytes()),
        body_with(400, "NUL character in id", with("id", json!("abc\u{0}def")).into_bytes()),
        body_with(400, "newline in type", with("type", json!("app.instance.process.completed\n")).into_bytes()),
        // ---- missing attributes and wrong types ----
        body_with(400, "missing id", with("id", json!(null)).into_bytes()),
        body_with(400, "missing source", with("source", json!(null)).into_bytes()),
        body_with(400, "missing type", with("type", json!(null)).into_bytes()),
        body_with(400, "missing specversion", with("specversion", json!(null)).into_bytes()),
        body_with(400, "empty object", b"{}".to_vec()),
        body_with(400, "id is a number", with("id", json!(12345)).into_bytes()),
        body_with(400, "source is an object", with("source", json!({"href": "https://x"})).into_bytes()),
        body_with(400, "type is an array", with("type", json!(["app.instance.process.completed"])).into_bytes()),
        body_with(400, "specversion is a number", with("specversion", json!(1.0)).into_bytes()),
        body_with(400, "specversion 0.3", with("specversion", json!("0.3")).into_bytes()),
        body_with(400, "empty id", with("id", json!("")).into_bytes()),
        body_with(400, "subject is a boolean", with("subject", json!(true)).into_bytes()),
        // ---- huge strings ----
        body_with(400, "huge id", with("id", json!("a".repeat(10_000))).into_bytes()),
        body_with(400, "huge source", with("source", json!(format!("https://ttd.apps.tt02.altinn.no/{}", "a".repeat(20_000)))).into_bytes()),
        body_with(413, "huge extension attribute", with("padding", json!("x".repeat(65 * 1024))).into_bytes()),
        body_with(413, "a megabyte of spaces", vec![b' '; 1024 * 1024]),
        // ---- duplicated keys ----
        body_with(400, "duplicated id", good.replacen('{', "{\"id\":\"11111111-1111-4111-8111-111111111111\",", 1).into_bytes()),
        body_with(400, "duplicated source with a foreign value", good.replacen('{', "{\"source\":\"https://evil.example/ttd/a/instances/1/5d9e906b-83ed-44df-85a7-2f104c640bff\",", 1).into_bytes()),
        body_with(400, "duplicated key nested in data", good.replacen('{', "{\"data\":{\"a\":1,\"a\":2},", 1).into_bytes()),
        // ---- content types ----
        typed("no content type", 400, None, &good),
        typed("text/plain", 400, Some("text/plain"), &good),
        typed("application/xml", 400, Some("application/xml"), &good),
        typed("form encoded", 400, Some("application/x-www-form-urlencoded"), &good),
        typed("charset utf-16", 400, Some("application/json; charset=utf-16"), &good),
        typed("json look-alike type", 400, Some("application/json-patch+json"), &good),
        typed("cloudevents batch type", 400, Some("application/cloudevents-batch+json"), &format!("[{good}]")),
        typed("binary-mode CloudEvent", 400, Some("application/json"), r#"{"archived": true}"#),
        // ---- the secret anywhere but the query, or not quite the secret ----
        case("no query at all", 401, post("", good.clone())),
        case("secret in a `code` header", 401, {
            let mut request = post("", good.clone());
            request.headers_mut().insert("code", secret.parse().unwrap());
            request
        }),
        case("secret in an Authorization header", 401, {
            let mut request = post("", good.clone());
            request.headers_mut().insert("authorization", format!("Bearer {secret}").parse().unwrap());
            request
        }),
        case("secret in a cookie", 401, {
            let mut request = post("", good.clone());
            request.headers_mut().insert("cookie", format!("code={secret}").parse().unwrap());
            request
        }),
        case("secret in the body", 401, post("", with("code", json!(secret)))),
        case("secret as a form body", 401, request(Method::POST, "", Some("application/x-www-form-urlencoded"), code.clone().into_bytes())),
        case("secret in the path", 401, {
            let mut request = post("", good.clone());
            *request.uri_mut() = format!("https://webhook.example/events/{secret}").parse().unwrap();
            request
        }),
        case("secret with different case", 401, post(&format!("code={}", secret.to_uppercase()), good.clone())),
        case("secret with a trailing space", 401, post(&format!("code={secret}+"), good.clone())),
        case("secret prefix only", 401, post(&format!("code={}", &secret[..secret.len() - 1]), good.clone())),
        case("secret repeated", 401, post(&format!("{code}&{code}"), good.clone())),
        case("parameter named CODE", 401, post(&format!("CODE={secret}"), good.clone())),
        case("empty code", 401, post("code=", good.clone())),
        case("many parameters, no code", 401, post(&"a=1&".repeat(2_000), good.clone())),
        case("wrong secret with an oversized body", 401, post("code=nope", vec![b'x'; 200_000])),
        // ---- method, length ----
        case("GET with the secret", 405, request(Method::GET, &code, None, Vec::new())),
        case("PUT with a valid event", 405, request(Method::PUT, &code, Some("application/json"), good.clone().into_bytes())),
        case("non-numeric Content-Length", 400, {
            let mut request = authorised_post(good.clone());
            request.headers_mut().insert("content-length", "12abc".parse().unwrap());
            request
        }),
        case("Content-Length over the limit", 413, {
            let mut request = authorised_post(good.clone());
            request.headers_mut().insert("content-length", "1073741824".parse().unwrap());
            request
        }),
        // ---- well-formed events from where they must not come ----
        body_with(403, "look-alike apps host", with("source", json!(format!("https://ttd.apps.tt02.altinn.no.evil.example/ttd/{APP}/instances/{PARTY_ID}/{INSTANCE_GUID}"))).into_bytes()),
        body_with(403, "another org's app", text(&app_event("skd", APP, "app.instance.process.completed", "2c4e6a8b-0000-4000-8000-000000000001")).into_bytes()),
        body_with(403, "plain http source", with("source", json!(format!("http://ttd.apps.tt02.altinn.no/ttd/{APP}/instances/{PARTY_ID}/{INSTANCE_GUID}"))).into_bytes()),
        body_with(403, "source with userinfo", with("source", json!(format!("https://ttd.apps.tt02.altinn.no@evil.example/ttd/{APP}/instances/{PARTY_ID}/{INSTANCE_GUID}"))).into_bytes()),
        body_with(403, "resource of another app", with("resource", json!("urn:altinn:resource:app_ttd_other")).into_bytes()),
    ];
    // Keep the corpus honest about its size.
    assert!(cases.len() >= 40, "corpus has {} cases", cases.len());
    cases.shrink_to_fit();
    cases
}
