//! Storage (reference §5.3) and App (§5.2) instance routes: get instance, get data, complete,
//! the App API's data upload, and the Storage query.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::authentication::{Caller, authenticate};
use crate::content::StoredContent;
use crate::dialect::{Dialect, render_data, render_instance};
use crate::reply::{Reject, json_response, problem, text_response};
use crate::seed::{CompleteConfirmation, StoredData, StoredInstance};
use crate::state::Shared;

const READ_SCOPE: &str = "altinn:serviceowner/instances.read";
const WRITE_SCOPE: &str = "altinn:serviceowner/instances.write";
const DEFAULT_QUERY_SIZE: usize = 100;
/// The largest upload the simulator keeps. Uploads are held in memory here; the archiver only
/// sends small receipts this way.
const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;

/// Which API a request came through; decides dialects and error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Storage,
    App,
}

/// Where an instance route points.
struct InstanceAddress<'a> {
    api: Api,
    /// `(org, app)` of an app route.
    app: Option<(&'a str, &'a str)>,
    party: &'a str,
    guid: &'a str,
}

impl<'a> InstanceAddress<'a> {
    /// `instances/{party}/{guid}` on the Storage API.
    fn storage(party: &'a str, guid: &'a str) -> Self {
        InstanceAddress {
            api: Api::Storage,
            app: None,
            party,
            guid,
        }
    }

    /// `{org}/{app}/instances/{party}/{guid}` on the App API.
    fn app(org: &'a str, app: &'a str, party: &'a str, guid: &'a str) -> Self {
        InstanceAddress {
            api: Api::App,
            app: Some((org, app)),
            party,
            guid,
        }
    }
}

fn instance_not_found(api: Api, party: &str, guid: &str) -> Response {
    match api {
        Api::Storage => text_response(
            StatusCode::NOT_FOUND,
            format!("Unable to find instance {guid}"),
        ),
        Api::App => problem(
            StatusCode::NOT_FOUND,
            &format!("Did not find instance {party}/{guid}"),
        ),
    }
}

fn data_not_found(api: Api) -> Response {
    match api {
        Api::Storage => text_response(
            StatusCode::NOT_FOUND,
            "Unable to find requested data item".to_owned(),
        ),
        Api::App => problem(StatusCode::NOT_FOUND, "Data Element Not Found"),
    }
}

fn forbidden() -> Response {
    StatusCode::FORBIDDEN.into_response()
}

/// Authenticates the caller and finds the instance they may use with `scope`:
/// 401 bad token, 404 unknown instance, 403 another org's instance or missing scope.
fn authorized_instance(
    shared: &Shared,
    headers: &HeaderMap,
    address: &InstanceAddress<'_>,
    scope: &str,
) -> Result<(Caller, StoredInstance), Reject> {
    let caller = authenticate(shared, headers)?;
    let not_found = || instance_not_found(address.api, address.party, address.guid);
    let party: u64 = address.party.parse().map_err(|_| not_found())?;
    let guid = Uuid::parse_str(address.guid).map_err(|_| not_found())?;
    let instance = shared
        .lock()
        .instances
        .get(&guid)
        .filter(|i| i.party_id == party)
        .filter(|i| {
            address
                .app
                .is_none_or(|(org, app)| i.org == org && i.app == app)
        })
        .cloned()
        .ok_or_else(not_found)?;
    if caller.org.as_deref() != Some(instance.org.as_str()) || !caller.has_scope(scope) {
        return Err(forbidden().into());
    }
    Ok((caller, instance))
}

fn dialect_of(api: Api, get: bool) -> Dialect {
    match api {
        Api::Storage => Dialect::Storage,
        Api::App => Dialect::App { with_party: get },
    }
}

async fn get_instance(
    shared: &Shared,
    headers: &HeaderMap,
    address: InstanceAddress<'_>,
) -> Response {
    match authorized_instance(shared, headers, &address, READ_SCOPE) {
        Ok((_, instance)) => json_response(
            StatusCode::OK,
            &render_instance(&instance, &shared.base_url, dialect_of(address.api, true)),
        ),
        Err(reject) => reject.into_response(),
    }
}

async fn get_data(
    shared: &Shared,
    headers: &HeaderMap,
    address: InstanceAddress<'_>,
    data_guid: &str,
) -> Response {
    let instance = match authorized_instance(shared, headers, &address, READ_SCOPE) {
        Ok((_, instance)) => instance,
        Err(reject) => return reject.into_response(),
    };
    let Some(data) = Uuid::parse_str(data_guid)
        .ok()
        .and_then(|id| instance.find_data(id))
    else {
        return data_not_found(address.api);
    };
    if data.hard_deleted.is_some() {
        return data_not_found(address.api);
    }
    data_download(data)
}

/// The raw blob: `Content-Type` = the element's contentType, the exact `Content-Length`, and
/// `Content-Disposition: attachment` when there is a filename. The body is streamed.
fn data_download(data: &StoredData) -> Response {
    let mut response = Response::new(Body::from_stream(data.content.stream()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&data.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(data.content.size()),
    );
    if let Some(filename) = &data.filename
        && let Ok(value) = HeaderValue::from_str(&content_disposition(filename))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// `attachment; filename=…; filename*=UTF-8''…` as ASP.NET Core writes it for
/// `File(stream, contentType, name)`. Non-ASCII characters become `_` in the plain parameter
/// (ASP.NET uses MIME encoded-words there); `filename*` carries the exact name.
fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let needs_quotes = ascii.chars().any(|c| " \t\"(),/:;<=>?@[\\]{}".contains(c));
    let plain = if needs_quotes {
        format!("\"{}\"", ascii.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        ascii
    };
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename={plain}; filename*=UTF-8''{encoded}")
}

async fn complete(shared: &Shared, headers: &HeaderMap, address: InstanceAddress<'_>) -> Response {
    let (caller, instance) = match authorized_instance(shared, headers, &address, WRITE_SCOPE) {
        Ok(found) => found,
        Err(reject) => return reject.into_response(),
    };
    let org = caller.org.unwrap_or_default();
    let updated = {
        let mut inner = shared.lock();
        let Some(stored) = inner.instances.get_mut(&instance.guid) else {
            return instance_not_found(address.api, address.party, address.guid);
        };
        // Idempotent per org: a second confirmation by the same org changes nothing. Like real
        // Storage, the simulator does not require the process to have ended.
        if !stored.confirmed_by(&org) {
            let now = OffsetDateTime::now_utc();
            stored.complete_confirmations.push(CompleteConfirmation {
                stakeholder_id: org.clone(),
                confirmed_on: now,
            });
            stored.last_changed = now;
            stored.last_changed_by = caller.org_number.clone().unwrap_or_else(|| org.clone());
        }
        stored.clone()
    };
    json_response(
        StatusCode::OK,
        &render_instance(&updated, &shared.base_url, dialect_of(address.api, false)),
    )
}

/// `GET /storage/api/v1/instances/{partyId}/{guid}`
pub(crate) async fn storage_get_instance(
    State(shared): State<Arc<Shared>>,
    Path((party, guid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::storage(&party, &guid);
    get_instance(&shared, &headers, address).await
}

/// `GET /storage/api/v1/instances/{partyId}/{guid}/data/{dataGuid}`
pub(crate) async fn storage_get_data(
    State(shared): State<Arc<Shared>>,
    Path((party, guid, data)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::storage(&party, &guid);
    get_data(&shared, &headers, address, &data).await
}

/// `POST /storage/api/v1/instances/{partyId}/{guid}/complete`
pub(crate) async fn storage_complete(
    State(shared): State<Arc<Shared>>,
    Path((party, guid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::storage(&party, &guid);
    complete(&shared, &headers, address).await
}

/// `GET /{org}/{app}/instances/{partyId}/{guid}`
pub(crate) async fn app_get_instance(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    get_instance(&shared, &headers, address).await
}

/// `GET /{org}/{app}/instances/{partyId}/{guid}/data/{dataGuid}`
pub(crate) async fn app_get_data(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid, data)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    get_data(&shared, &headers, address, &data).await
}

/// `POST /{org}/{app}/instances/{partyId}/{guid}/complete`
pub(crate) async fn app_complete(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    complete(&shared, &headers, address).await
}

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
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = encoded.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The Storage query's parameters.
#[derive(Debug, Default)]
struct QueryParams {
    org: Option<String>,
    app_id: Option<String>,
    is_complete: Option<bool>,
    exclude_confirmed_by: Option<String>,
    size: usize,
    after_seq: u64,
}

fn bad_request(message: &str) -> Response {
    text_response(StatusCode::BAD_REQUEST, message)
}

fn parse_query(raw: &str) -> Result<QueryParams, Reject> {
    let mut params = QueryParams {
        size: DEFAULT_QUERY_SIZE,
        ..QueryParams::default()
    };
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "org" => params.org = Some(value.into_owned()),
            "appId" => params.app_id = Some(value.into_owned()),
            "process.isComplete" => {
                params.is_complete = Some(match value.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad_request("process.isComplete must be true or false").into()),
                })
            }
            "excludeConfirmedBy" => params.exclude_confirmed_by = Some(value.into_owned()),
            "size" => {
                params.size = value
                    .parse::<usize>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad_request("size must be a positive integer"))?;
            }
            "continuationToken" => {
                params.after_seq = decode_continuation_token(&value)
                    .ok_or_else(|| bad_request("Invalid continuationToken"))?;
            }
            // Other Storage filters (lastChanged, created, …) are not simulated and are ignored.
            _ => {}
        }
    }
    Ok(params)
}

/// Continuation tokens are opaque to clients; here they carry the position of the last instance
/// of the page.
fn encode_continuation_token(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("sim-seq:{seq}"))
}

fn decode_continuation_token(token: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("sim-seq:")?
        .parse()
        .ok()
}

/// `GET /storage/api/v1/instances?org=&appId=&process.isComplete=&excludeConfirmedBy=&size=&continuationToken=`
pub(crate) async fn storage_query(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Ok(caller) => caller,
        Err(reject) => return reject.into_response(),
    };
    let raw = raw.unwrap_or_default();
    let params = match parse_query(&raw) {
        Ok(params) => params,
        Err(reject) => return reject.into_response(),
    };
    let app_id_org = params
        .app_id
        .as_deref()
        .map(|a| a.split_once('/').map_or(a, |(org, _)| org));
    let Some(query_org) = params.org.as_deref().or(app_id_org) else {
        return bad_request("Either InstanceOwnerPartyId, appId or org must be defined.");
    };
    // A service owner may only query its own instances, and needs the read scope.
    let own_org = caller.org.as_deref();
    if own_org != Some(query_org)
        || app_id_org.is_some_and(|o| Some(o) != own_org)
        || !caller.has_scope(READ_SCOPE)
    {
        return forbidden();
    }

    let mut matching: Vec<StoredInstance> = shared
        .lock()
        .instances
        .values()
        .filter(|i| i.org == query_org)
        .filter(|i| {
            params
                .app_id
                .as_deref()
                .is_none_or(|a| a == format!("{}/{}", i.org, i.app))
        })
        .filter(|i| params.is_complete.is_none_or(|c| c == i.completed))
        .filter(|i| {
            params
                .exclude_confirmed_by
                .as_deref()
                .is_none_or(|o| !i.confirmed_by(o))
        })
        .filter(|i| i.seq > params.after_seq)
        .cloned()
        .collect();
    matching.sort_by_key(|i| i.seq);
    let has_more = matching.len() > params.size;
    matching.truncate(params.size);

    let self_url = format!("{}storage/api/v1/instances?{raw}", shared.base_url);
    let mut body = json!({
        "count": matching.len(),
        "self": self_url,
        "instances": matching
            .iter()
            .map(|i| render_instance(i, &shared.base_url, Dialect::Storage))
            .collect::<Vec<_>>(),
    });
    if has_more && let Some(last) = matching.last() {
        let mut next_query: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .filter(|(k, _)| k != "continuationToken")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        next_query.push((
            "continuationToken".to_owned(),
            encode_continuation_token(last.seq),
        ));
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(next_query)
            .finish();
        body["next"] = Value::from(format!(
            "{}storage/api/v1/instances?{encoded}",
            shared.base_url
        ));
    }
    json_response(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_carries_plain_and_encoded_names() {
        assert_eq!(
            content_disposition("kvittering.pdf"),
            "attachment; filename=kvittering.pdf; filename*=UTF-8''kvittering.pdf"
        );
        assert_eq!(
            content_disposition("søknad 1.pdf"),
            "attachment; filename=\"s_knad 1.pdf\"; filename*=UTF-8''s%C3%B8knad%201.pdf"
        );
    }

    #[test]
    fn continuation_tokens_round_trip() {
        assert_eq!(
            decode_continuation_token(&encode_continuation_token(42)),
            Some(42)
        );
        assert_eq!(decode_continuation_token("garbage!"), None);
    }
}

#[cfg(test)]
mod upload_tests {
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
        let written = content_disposition("Vedlegg ærlig (1).pdf");
        assert_eq!(
            disposition_filename(&written).as_deref(),
            Some("Vedlegg ærlig (1).pdf")
        );
    }
}
