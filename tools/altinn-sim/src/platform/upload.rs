//! The App API's data upload (`POST …/data?dataType=`, app-lib `DataController.Create`) and the
//! parsing of its `Content-Disposition` header.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    InstanceAddress, MAX_UPLOAD_BYTES, WRITE_SCOPE, authorized_instance, instance_not_found,
};
use crate::content::StoredContent;
use crate::dialect::{Dialect, render_data};
use crate::reply::{json_response, problem};
use crate::seed::StoredData;
use crate::state::Shared;

/// `POST /{org}/{app}/instances/{partyId}/{guid}/data?dataType={type}`: the App API's upload
/// (app-lib `DataController.Create`). The body is the file; `Content-Type` becomes the
/// element's contentType and `Content-Disposition`'s filename its filename. Answers 201 with the
/// new DataElement (App dialect) and a `Location` header; 400 without a `dataType` or when the
/// data type's `maxCount` is reached ([`crate::Simulator::set_data_type_max_count`]); 404 for an
/// unknown instance; 403 without `instances.write` for the owner org.
pub(crate) async fn app_post_data(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid)): Path<(String, String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    let (caller, instance) = match authorized_instance(&shared, &headers, &address, WRITE_SCOPE) {
        Ok(found) => found,
        Err(reject) => return reject.into_response(),
    };
    let data_type = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "dataType")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty());
    let Some(data_type) = data_type else {
        return problem(StatusCode::BAD_REQUEST, "Element type must be provided.");
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let filename = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|value| value.to_str().ok())
        .and_then(disposition_filename);
    let bytes = match axum::body::to_bytes(body, MAX_UPLOAD_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large or was cut short",
            );
        }
    };

    let content = StoredContent::Bytes(bytes);
    let (_, md5_base64) = content.digests();
    let now = OffsetDateTime::now_utc();
    let org_code = caller.org.clone().unwrap_or_default();
    let (updated, element) = {
        let mut inner = shared.lock();
        let max_count = inner
            .data_type_max_count
            .get(&(
                format!("{}/{}", instance.org, instance.app),
                data_type.clone(),
            ))
            .copied()
            .unwrap_or(0);
        let Some(stored) = inner.instances.get_mut(&instance.guid) else {
            return instance_not_found(address.api, address.party, address.guid);
        };
        let existing = stored
            .data
            .iter()
            .filter(|d| d.data_type == data_type && d.hard_deleted.is_none())
            .count();
        if max_count > 0 && existing >= max_count as usize {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Element type {data_type} has reached its maximum allowed count ({max_count})"
                ),
            );
        }
        let element = StoredData {
            id: Uuid::new_v4(),
            data_type,
            content_type,
            filename,
            content,
            md5_base64,
            hard_deleted: None,
            with_content_hash: false,
            created: now,
        };
        stored.data.push(element.clone());
        stored.last_changed = now;
        stored.last_changed_by = caller.org_number.clone().unwrap_or(org_code);
        (stored.clone(), element)
    };
    let body = render_data(
        &updated,
        &element,
        &shared.base_url,
        Dialect::App { with_party: false },
    );
    let mut response = json_response(StatusCode::CREATED, &body);
    if let Some(location) = body["selfLinks"]["apps"].as_str()
        && let Ok(value) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The filename of a `Content-Disposition` header: `filename*` (RFC 5987,
/// `UTF-8''percent-encoded`) when present and decodable, else `filename` (quoted or not).
fn disposition_filename(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for parameter in split_parameters(value).into_iter().skip(1) {
        let Some((name, raw)) = parameter.split_once('=') else {
            continue;
        };
        let raw = raw.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "filename" => plain = Some(unquote(raw)),
            "filename*" => extended = decode_extended(raw),
            _ => {}
        }
    }
    extended.or(plain).filter(|name| !name.is_empty())
}

/// Splits a header value at `;` outside double quotes.
fn split_parameters(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (index, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(value[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts
}

/// A quoted-string's content (backslash escapes removed), or the token as it is.
fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// `UTF-8'{language}'{percent-encoded}` → the text; `None` for other charsets or bad escapes.
fn decode_extended(raw: &str) -> Option<String> {
    let (charset, rest) = raw.split_once('\'')?;
    let (_, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    // percent-encoding passes a malformed escape through; Altinn's decoder refuses it.
    let well_formed = encoded.split('%').skip(1).all(|escape| {
        escape
            .as_bytes()
            .get(..2)
            .is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_filenames() {
        assert_eq!(
            disposition_filename("attachment; filename=receipt.xml").as_deref(),
            Some("receipt.xml")
        );
        assert_eq!(
            disposition_filename("attachment; filename=\"a; b \\\"c\\\".xml\"").as_deref(),
            Some("a; b \"c\".xml")
        );
        assert_eq!(
            disposition_filename("attachment; filename=_rlig.pdf; filename*=UTF-8''%C3%A6rlig.pdf")
                .as_deref(),
            Some("ærlig.pdf")
        );
        assert_eq!(
            disposition_filename("attachment; filename=x.pdf; filename*=UTF-8''%ZZ").as_deref(),
            Some("x.pdf"),
            "a bad filename* falls back to filename"
        );
        assert_eq!(disposition_filename("attachment"), None);
        assert_eq!(disposition_filename("attachment; filename=\"\""), None);
        // The download side writes what the upload side reads.
        let written = super::super::content_disposition("Vedlegg ærlig (1).pdf");
        assert_eq!(
            disposition_filename(&written).as_deref(),
            Some("Vedlegg ærlig (1).pdf")
        );
    }
}
