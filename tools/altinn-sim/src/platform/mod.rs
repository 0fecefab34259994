//! Storage and App instance routes: get instance, get data and complete here; the App API's
//! data uploads in [`upload`], `process/next` in [`process`], substatus in [`substatus`],
//! instance events, process history and the element list in [`history`], application metadata
//! in [`metadata`], the Storage query in [`query`]. [`lifecycle`] holds the process model and
//! the instance event log every route changes through.

mod history;
mod lifecycle;
mod metadata;
mod process;
mod query;
mod substatus;
mod upload;

pub(crate) use history::{
    app_process_history, storage_data_elements, storage_instance_events, storage_process_history,
};
pub(crate) use lifecycle::{
    Actor, END_EVENT, FLOW_TYPE, InstanceEvent, ProcessState, START_EVENT, SeededState,
    seed_history,
};
pub use metadata::DataTypeSpec;
pub(crate) use metadata::{declare_data_type, default_data_types, storage_get_application};
pub(crate) use process::app_process_next;
pub(crate) use query::storage_query;
pub(crate) use substatus::{app_substatus, storage_substatus};
pub(crate) use upload::{app_post_data, app_post_data_type};

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::authentication::{Caller, authenticate};
use crate::dialect::{Dialect, render_instance};
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

/// What RFC 5987 leaves unencoded in an extended parameter value (`attr-char`).
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename=…; filename*=UTF-8''…` as ASP.NET Core writes it for
/// `File(stream, contentType, name)`. Non-ASCII characters become `_` in the plain parameter
/// (ASP.NET uses MIME encoded-words there); `filename*` carries the exact name.
pub(crate) fn content_disposition(filename: &str) -> String {
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
    let encoded = percent_encoding::utf8_percent_encode(filename, ATTR_CHAR);
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
        // Idempotent per org: a second confirmation by the same org changes nothing and logs
        // no event. Like real Storage, the simulator does not require the process to have ended.
        if !stored.confirmed_by(&org) {
            let now = OffsetDateTime::now_utc();
            let actor = Actor::Org {
                code: org.clone(),
                org_number: caller.org_number.clone(),
            };
            stored.complete_confirmations.push(CompleteConfirmation {
                stakeholder_id: org.clone(),
                confirmed_on: now,
            });
            stored.touch(now, &actor);
            stored.log_event("ConfirmedComplete", now, &actor, None);
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
}
