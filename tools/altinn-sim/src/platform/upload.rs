//! The App API's data uploads: the legacy `POST …/data?dataType=` (201 DataElement) and the
//! current `POST …/data/type/{dataType}` (200 `DataPostResponse`), both with app-lib's checks in
//! app-lib's order (`DataController.PostImpl`, `DataElementAccessChecker`,
//! `DataRestrictionValidation`, <https://github.com/Altinn/app-lib-dotnet>), plus the parsing
//! of `Content-Disposition`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::lifecycle::Actor;
use super::metadata::{DataTypeSpec, REF_DATA_AS_PDF, data_types_of};
use super::{
    InstanceAddress, MAX_UPLOAD_BYTES, WRITE_SCOPE, authorized_instance, instance_not_found,
};
use crate::content::StoredContent;
use crate::dialect::{Dialect, render_data, render_instance};
use crate::reply::{Reject, json_response, problem, problem_with};
use crate::scan::{ScanState, SeededScan};
use crate::seed::{StoredData, StoredInstance, content_type_for};
use crate::state::Shared;

const APP_DIALECT: Dialect = Dialect::App { with_party: false };

/// `POST /{org}/{app}/instances/{partyId}/{guid}/data?dataType={type}` (app-lib's obsolete
/// `DataController.Create`): 201 with the new DataElement (App dialect) and `Location`.
pub(crate) async fn app_post_data(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid)): Path<(String, String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let data_type = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "dataType")
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty());
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    let (updated, element) =
        match create_element(&shared, &address, data_type.as_deref(), &headers, body).await {
            Ok(created) => created,
            Err(reject) => return reject.into_response(),
        };
    let body = render_data(&updated, &element, &shared.base_url, APP_DIALECT);
    let mut response = json_response(StatusCode::CREATED, &body);
    if let Some(location) = body["selfLinks"]["apps"].as_str()
        && let Ok(value) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `POST /{org}/{app}/instances/{partyId}/{guid}/data/type/{dataType}` (app-lib
/// `DataController.Post`): 200 with `DataPostResponse {newDataElementId, instance,
/// validationIssues, newDataModels}`. (Altinn's OpenAPI document says 201; the code answers 200.)
pub(crate) async fn app_post_data_type(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid, data_type)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    let (updated, element) =
        match create_element(&shared, &address, Some(&data_type), &headers, body).await {
            Ok(created) => created,
            Err(reject) => return reject.into_response(),
        };
    let body = json!({
        "newDataElementId": element.id.to_string(),
        "instance": render_instance(&updated, &shared.base_url, APP_DIALECT),
        "validationIssues": [],
        "newDataModels": [],
    });
    json_response(StatusCode::OK, &body)
}

fn titled(status: StatusCode, title: &str, detail: &str) -> Reject {
    problem_with(status, title, detail, []).into()
}

/// The checks that depend on the instance's state, in app-lib's order: archived or deleted
/// (409 Instance Not Active), `maxCount` reached (409 Max Count Exceeded), no current task
/// (409 No current task). Run before the body is read and again when storing.
fn state_conflict(instance: &StoredInstance, data_type: &DataTypeSpec) -> Option<Reject> {
    if !instance.is_active() {
        return Some(titled(
            StatusCode::CONFLICT,
            "Instance Not Active",
            &format!(
                "Cannot update data element of archived or deleted instance {}",
                instance.instance_id()
            ),
        ));
    }
    let existing = instance
        .data
        .iter()
        .filter(|d| d.data_type == data_type.id && d.hard_deleted.is_none())
        .count();
    if data_type.max_count > 0 && existing >= data_type.max_count as usize {
        return Some(titled(
            StatusCode::CONFLICT,
            "Max Count Exceeded",
            &format!(
                "Cannot create more than {} data elements of type {}",
                data_type.max_count, data_type.id
            ),
        ));
    }
    if instance.process.current_task().is_none() {
        return Some(titled(
            StatusCode::CONFLICT,
            "No current task",
            "The instance has no current task; data can only be added while the process is at a task",
        ));
    }
    None
}

/// One failed upload restriction: 400 "File validation failed" with the issue.
fn restriction_failed(code: &str, description: String) -> Reject {
    let issue = json!({
        "severity": 1,
        "dataElementId": Value::Null,
        "field": Value::Null,
        "code": code,
        "description": format!("Invalid data provided. Error: {description}"),
        "customTextKey": Value::Null,
    });
    problem_with(
        StatusCode::BAD_REQUEST,
        "File validation failed",
        "Validation issues were found in the uploaded file",
        [("uploadValidationIssues", json!([issue]))],
    )
    .into()
}

/// A binary upload's headers (app-lib `DataRestrictionValidation`): a `Content-Disposition`
/// whose filename parses (quoted when it has spaces) and has an extension; with
/// `allowedContentTypes`, a `Content-Type` that matches the extension (or is
/// `application/octet-stream`) and is allowed. Returns the filename.
fn binary_restrictions(
    headers: &HeaderMap,
    data_type: &DataTypeSpec,
    content_type: &str,
) -> Result<String, Reject> {
    let Some(disposition) = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(restriction_failed(
            "ContentTypeNotAllowed",
            "The request must include a Content-Disposition header".to_owned(),
        ));
    };
    let Some(filename) = disposition_filename(disposition) else {
        return Err(restriction_failed(
            "MissingFileName",
            "The Content-Disposition header must contain a valid filename".to_owned(),
        ));
    };
    if !filename.contains('.') {
        return Err(restriction_failed(
            "InvalidFileNameFormat",
            format!(
                "Invalid format for filename: {filename}. Filename is expected to end with '.{{filetype}}'."
            ),
        ));
    }
    if data_type.allowed_content_types.is_empty() {
        return Ok(filename);
    }
    let mime = content_type_for(&filename);
    if content_type != "application/octet-stream" && !mime.eq_ignore_ascii_case(content_type) {
        return Err(restriction_failed(
            "InvalidFileNameFormat",
            format!(
                "Content type header {content_type} does not match mime type {mime} for uploaded file. Please fix header or upload another file."
            ),
        ));
    }
    let allowed = data_type.allowed_content_types.iter().any(|allowed| {
        allowed.eq_ignore_ascii_case(content_type) || allowed == "application/octet-stream"
    });
    if !allowed {
        return Err(restriction_failed(
            "ContentTypeNotAllowed",
            format!(
                "Invalid content type: {mime}. Please try another file. Permitted content types include: {}",
                data_type.allowed_content_types.join(", ")
            ),
        ));
    }
    Ok(filename)
}

/// Runs every check in app-lib's order, reads the body and stores the new element (logging
/// instance event `Created` with its `dataId`). Returns the updated instance and the element.
async fn create_element(
    shared: &Shared,
    address: &InstanceAddress<'_>,
    data_type: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(StoredInstance, StoredData), Reject> {
    let (caller, instance) = authorized_instance(shared, headers, address, WRITE_SCOPE)?;
    let Some(data_type) = data_type else {
        return Err(problem(StatusCode::BAD_REQUEST, "Element type must be provided.").into());
    };
    let app_id = format!("{}/{}", instance.org, instance.app);
    let Some(spec) = data_types_of(shared, &app_id)
        .into_iter()
        .find(|t| t.id.eq_ignore_ascii_case(data_type))
    else {
        return Err(titled(
            StatusCode::BAD_REQUEST,
            "Data Type Not Found",
            &format!(
                "Element type {data_type} not allowed for instance {}.",
                instance.instance_id()
            ),
        ));
    };
    if spec.id == REF_DATA_AS_PDF {
        return Err(titled(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You cannot upload a data element of the app's generated PDF type",
        ));
    }
    if let Some(conflict) = state_conflict(&instance, &spec) {
        return Err(conflict);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned);
    let Some(content_type) = content_type else {
        return Err(titled(
            StatusCode::BAD_REQUEST,
            "Missing content type",
            "The request must have a Content-Type header",
        ));
    };
    let filename = if spec.is_form_data() {
        None
    } else {
        Some(binary_restrictions(headers, &spec, &content_type)?)
    };
    let bytes = axum::body::to_bytes(body, MAX_UPLOAD_BYTES)
        .await
        .map_err(|_| {
            Reject::from(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large or was cut short",
            ))
        })?;
    if bytes.is_empty() {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "Invalid data provided. Error: The file is zero bytes.",
        )
        .into());
    }

    let content = StoredContent::Bytes(bytes);
    let (_, md5_base64) = content.digests();
    let now = OffsetDateTime::now_utc();
    let actor = Actor::Org {
        code: caller.org.clone().unwrap_or_default(),
        org_number: caller.org_number.clone(),
    };
    let mut inner = shared.lock();
    let Some(stored) = inner.instances.get_mut(&instance.guid) else {
        return Err(instance_not_found(address.api, address.party, address.guid).into());
    };
    // The state may have changed while the body was read.
    if let Some(conflict) = state_conflict(stored, &spec) {
        return Err(conflict);
    }
    let element = StoredData {
        id: Uuid::new_v4(),
        data_type: spec.id.clone(),
        content_type,
        filename,
        content,
        md5_base64,
        hard_deleted: None,
        with_content_hash: false,
        scan: ScanState::new(if spec.enable_file_scan {
            SeededScan::Pending
        } else {
            SeededScan::NotApplicable
        }),
        created: now,
    };
    stored.data.push(element.clone());
    stored.touch(now, &actor);
    stored.log_event("Created", now, &actor, Some(element.id));
    Ok((stored.clone(), element))
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
            // An unquoted value is a token, which cannot hold whitespace.
            "filename" if raw.starts_with('"') || !raw.contains(char::is_whitespace) => {
                plain = Some(unquote(raw))
            }
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
