//! The Correspondence routes, with altinn-correspondence's checks in its order
//! (`CorrespondenceController`, `AttachmentController` and the `*Handler`s under
//! <https://github.com/Altinn/altinn-correspondence/tree/main/src/Altinn.Correspondence.Application>):
//! the token and its scope (401 empty, 403 empty), the correspondence or attachment (404), the
//! caller's party (401 `errorCode` 4001), then the route's own rules and side effects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::events::push_correspondence_event;
use super::render;
use super::store::{Role, Status, StoredAttachment, StoredCorrespondence};
use crate::authentication::{Caller, authenticate};
use crate::reply::{Reject, json_response, text_response};
use crate::state::Shared;

const READ_SCOPE: &str = "altinn:correspondence.read";
const WRITE_SCOPE: &str = "altinn:correspondence.write";
/// Altinn records a recipient's overview call as `Fetched` at most once per 15 s per party.
const OVERVIEW_FETCH_DEBOUNCE: Duration = Duration::from_secs(15);

/// Correspondence's `Error`s that the simulated routes answer, as `(errorCode, status, detail)`
/// (altinn-correspondence `src/Altinn.Correspondence.Application/Errors.cs`).
fn error(code: i64) -> Reject {
    let (status, detail) = match code {
        1001 => (
            StatusCode::NOT_FOUND,
            "The requested correspondence was not found",
        ),
        1024 => (
            StatusCode::BAD_REQUEST,
            "Correspondence must be fetched before it can be read",
        ),
        1025 => (
            StatusCode::BAD_REQUEST,
            "Correspondence must be fetched before it can be confirmed",
        ),
        1041 => (
            StatusCode::BAD_REQUEST,
            "Correspondence has already been confirmed",
        ),
        2001 => (
            StatusCode::NOT_FOUND,
            "The requested attachment was not found",
        ),
        2016 => (
            StatusCode::BAD_REQUEST,
            "This attachment is associated with a published correspondence and can no longer be accessed by service owner",
        ),
        2019 => (
            StatusCode::BAD_REQUEST,
            "The attachment has been purged and cannot be downloaded",
        ),
        2020 => (
            StatusCode::BAD_REQUEST,
            "The attachment has expired and cannot be downloaded",
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            "You must use an Altinn token, DialogToken or log in to IDPorten as someone with access to the resource and organization in Altinn Authorization",
        ),
    };
    // ProblemDetailsHelper: the status's RFC 9110 section as `type`, its reason as `title`.
    let section = match status.as_u16() {
        400 => "15.5.1",
        401 => "15.5.2",
        _ => "15.5.5",
    };
    let body = json!({
        "type": format!("https://tools.ietf.org/html/rfc9110#section-{section}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "errorCode": code,
    });
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json; charset=utf-8"),
    );
    Reject::from(response)
}

const NO_ACCESS: i64 = 4001;

/// Which authorization policy a route has (`DependencyInjection.ConfigureAuthorization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Sender,
    Recipient,
    SenderOrRecipient,
}

/// The caller, the side whose access is checked, and whether the call leaves a recipient's
/// traces: a token with `altinn:correspondence.write` "calls as sender" and never does.
struct Access {
    caller: Caller,
    role: Role,
    records: bool,
}

/// The token (401 empty) and the policy's scope (403 empty).
fn access(shared: &Shared, headers: &HeaderMap, policy: Policy) -> Result<Access, Reject> {
    let caller = authenticate(shared, headers)?;
    let writes = caller.has_scope(WRITE_SCOPE);
    let reads = caller.has_scope(READ_SCOPE);
    let role = match policy {
        Policy::Sender if writes => Role::Sender,
        Policy::Recipient if reads => Role::Recipient,
        Policy::SenderOrRecipient if writes => Role::Sender,
        Policy::SenderOrRecipient if reads => Role::Recipient,
        _ => return Err(StatusCode::FORBIDDEN.into()),
    };
    Ok(Access {
        caller,
        role,
        records: !writes,
    })
}

/// Whether the caller is the party `role` requires: the sender's org code, or the
/// recipient's organisation number.
fn is_party(access: &Access, c: &StoredCorrespondence) -> bool {
    match access.role {
        Role::Sender => access.caller.org.as_deref() == Some(c.sender_org.as_str()),
        Role::Recipient => access.caller.org_number.as_deref() == Some(c.recipient_orgno.as_str()),
    }
}

fn parse(id: &str, not_found: i64) -> Result<Uuid, Reject> {
    Uuid::parse_str(id).map_err(|_| error(not_found))
}

/// Looks up the correspondence and checks the caller's access to it: 1001 unknown or purged,
/// 4001 another party, and for a recipient 1001 while it is not published (or has failed).
fn visible(c: Option<&StoredCorrespondence>, access: &Access) -> Result<(), Reject> {
    let c = c.ok_or_else(|| error(1001))?;
    if !is_party(access, c) {
        return Err(error(NO_ACCESS));
    }
    if c.is_purged() {
        return Err(error(1001));
    }
    if access.role == Role::Recipient && !c.current().status.available_to_recipient() {
        return Err(error(1001));
    }
    Ok(())
}

/// What a recipient's call of the overview family records.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Overview,
    Details,
    Content,
}

/// The overview, details and content routes: checks, the recipient's `Fetched` (and for
/// `/content` the first `Read` with its event to the sender), then the answer.
fn read(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    id: &str,
    reading: Reading,
) -> Result<Response, Reject> {
    let policy = match reading {
        Reading::Content => Policy::Recipient,
        _ => Policy::SenderOrRecipient,
    };
    let access = access(shared, headers, policy)?;
    let id = parse(id, 1001)?;
    let mut newly_read = false;
    let response = {
        let mut inner = shared.lock();
        let store = &mut inner.correspondence;
        visible(store.correspondences.get(&id), &access)?;
        let c = store.correspondences.get_mut(&id).expect("checked above");
        if access.role == Role::Recipient && access.records {
            let debounced = reading == Reading::Overview
                && c.last_overview_fetch
                    .is_some_and(|at| at.elapsed() < OVERVIEW_FETCH_DEBOUNCE);
            if !debounced {
                c.push_status(Status::Fetched, Status::Fetched.name());
                if reading == Reading::Overview {
                    c.last_overview_fetch = Some(Instant::now());
                }
            }
            if reading == Reading::Content && !c.has_been(Status::Read) {
                c.push_status(Status::Read, Status::Read.name());
                newly_read = true;
            }
        }
        let c = &store.correspondences[&id];
        match reading {
            Reading::Overview => {
                json_response(StatusCode::OK, &render::overview(store, c, access.role))
            }
            Reading::Details => {
                json_response(StatusCode::OK, &render::details(store, c, access.role))
            }
            Reading::Content => text_response(StatusCode::OK, c.body.clone()),
        }
    };
    if newly_read {
        push_correspondence_event(shared, id, "correspondencereceiverread");
    }
    Ok(response)
}

/// `GET correspondence/{id}`
pub(crate) async fn get_overview(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    read(&shared, &headers, &id, Reading::Overview).unwrap_or_else(IntoResponse::into_response)
}

/// `GET correspondence/{id}/details`
pub(crate) async fn get_details(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    read(&shared, &headers, &id, Reading::Details).unwrap_or_else(IntoResponse::into_response)
}

/// `GET correspondence/{id}/content`: the body as markdown text.
pub(crate) async fn get_content(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    read(&shared, &headers, &id, Reading::Content).unwrap_or_else(IntoResponse::into_response)
}

/// Marking read and confirming: both need an earlier `Fetched`; each adds its status and tells
/// the sender. Altinn writes `Confirmed` from a job a few seconds later; here it is immediate.
fn acknowledge(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    id: &str,
    status: Status,
) -> Result<Response, Reject> {
    let access = access(shared, headers, Policy::Recipient)?;
    let id = parse(id, 1001)?;
    let (suffix, not_fetched) = match status {
        Status::Confirmed => ("correspondencereceiverconfirmed", 1025),
        _ => ("correspondencereceiverread", 1024),
    };
    {
        let mut inner = shared.lock();
        let store = &mut inner.correspondence;
        visible(store.correspondences.get(&id), &access)?;
        let c = store.correspondences.get_mut(&id).expect("checked above");
        if !c.has_been(Status::Fetched) {
            return Err(error(not_fetched));
        }
        if status == Status::Confirmed && c.has_been(Status::Confirmed) {
            return Err(error(1041));
        }
        if access.records {
            c.push_status(status, status.name());
        }
    }
    if access.records {
        push_correspondence_event(shared, id, suffix);
    }
    Ok(json_response(StatusCode::OK, &json!(id)))
}

/// `POST correspondence/{id}/markasread`
pub(crate) async fn post_mark_as_read(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    acknowledge(&shared, &headers, &id, Status::Read).unwrap_or_else(IntoResponse::into_response)
}

/// `POST correspondence/{id}/confirm`
pub(crate) async fn post_confirm(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    acknowledge(&shared, &headers, &id, Status::Confirmed)
        .unwrap_or_else(IntoResponse::into_response)
}

/// 2019 purged, 2020 expired.
fn downloadable(a: &StoredAttachment) -> Result<(), Reject> {
    match a.current().status {
        "Purged" => Err(error(2019)),
        "Expired" => Err(error(2020)),
        _ => Ok(()),
    }
}

/// `GET correspondence/{id}/attachment/{attachmentId}/download` (recipient): the bytes with a
/// filename, and the `AttachmentsDownloaded` status (no event).
pub(crate) async fn get_recipient_download(
    State(shared): State<Arc<Shared>>,
    Path((id, attachment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    recipient_download(&shared, &headers, &id, &attachment_id)
        .unwrap_or_else(IntoResponse::into_response)
}

fn recipient_download(
    shared: &Shared,
    headers: &HeaderMap,
    id: &str,
    attachment_id: &str,
) -> Result<Response, Reject> {
    let access = access(shared, headers, Policy::Recipient)?;
    let id = parse(id, 1001)?;
    let attachment_id = parse(attachment_id, 2001)?;
    let mut inner = shared.lock();
    let store = &mut inner.correspondence;
    let c = store.correspondences.get(&id).ok_or_else(|| error(1001))?;
    let attachment = c
        .attachments
        .contains(&attachment_id)
        .then(|| store.attachments.get(&attachment_id))
        .flatten()
        .ok_or_else(|| error(2001))?
        .clone();
    if !is_party(&access, c) {
        return Err(error(NO_ACCESS));
    }
    downloadable(&attachment)?;
    if !c.current().status.available_to_recipient() {
        return Err(error(1001));
    }
    let c = store.correspondences.get_mut(&id).expect("found above");
    c.push_status(
        Status::AttachmentsDownloaded,
        format!("Attachment {attachment_id} has been downloaded"),
    );
    drop(inner);
    Ok(stream(&attachment, Some(&attachment.file_name)))
}

/// The sender's attachment routes: the token's org must be the attachment's sender.
fn sender_attachment(
    shared: &Shared,
    headers: &HeaderMap,
    attachment_id: &str,
) -> Result<(StoredAttachment, bool), Reject> {
    let access = access(shared, headers, Policy::Sender)?;
    let attachment_id = parse(attachment_id, 2001)?;
    let inner = shared.lock();
    let store = &inner.correspondence;
    let attachment = store
        .attachments
        .get(&attachment_id)
        .ok_or_else(|| error(2001))?;
    if access.caller.org.as_deref() != Some(attachment.sender_org.as_str()) {
        return Err(error(NO_ACCESS));
    }
    let published = attachment
        .correspondence_ids
        .iter()
        .filter_map(|c| store.correspondences.get(c))
        .any(|c| c.has_been(Status::Published));
    Ok((attachment.clone(), published))
}

/// `GET attachment/{id}` (sender)
pub(crate) async fn get_attachment_overview(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match sender_attachment(&shared, &headers, &id) {
        Ok((a, _)) => json_response(StatusCode::OK, &render::attachment_overview(&a, false)),
        Err(reject) => reject.into_response(),
    }
}

/// `GET attachment/{id}/details` (sender)
pub(crate) async fn get_attachment_details(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match sender_attachment(&shared, &headers, &id) {
        Ok((a, _)) => json_response(StatusCode::OK, &render::attachment_overview(&a, true)),
        Err(reject) => reject.into_response(),
    }
}

/// `GET attachment/{id}/download` (sender): refused with 2016 once a correspondence it
/// belongs to has been published.
pub(crate) async fn get_sender_download(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = sender_attachment(&shared, &headers, &id).and_then(|(a, published)| {
        downloadable(&a)?;
        if published {
            return Err(error(2016));
        }
        Ok(stream(&a, None))
    });
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The bytes, streamed from the generator. With a file name: its content type and
/// `Content-Disposition` (inline for what a browser shows); without: `application/octet-stream`
/// and no file name, as the sender's download answers.
fn stream(a: &StoredAttachment, file_name: Option<&str>) -> Response {
    let mut response = Response::new(Body::from_stream(a.content.stream()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(a.content.size()));
    let content_type = file_name.map_or("application/octet-stream", crate::seed::content_type_for);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(name) = file_name {
        let inline = matches!(
            name.rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .as_deref(),
            Some("pdf" | "png" | "jpg" | "jpeg" | "gif" | "txt")
        );
        let disposition = crate::platform::content_disposition(name);
        let disposition = if inline {
            disposition.replacen("attachment", "inline", 1)
        } else {
            disposition
        };
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}
