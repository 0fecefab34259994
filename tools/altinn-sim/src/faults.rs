//! Fault injection: which route a request is for, the faults tests can inject, and how a fault
//! turns into (or replaces) a response.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;

use crate::reply::problem;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderValue, StatusCode, header};
use uuid::Uuid;

/// The simulated endpoints, for fault rules and the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /maskinporten/token`
    MaskinportenToken,
    /// `GET /authentication/api/v1/exchange/{provider}`
    TokenExchange,
    /// `GET /storage/api/v1/instances/{partyId}/{guid}`
    StorageGetInstance,
    /// `GET /storage/api/v1/instances/{partyId}/{guid}/data/{dataGuid}`
    StorageGetData,
    /// `POST /storage/api/v1/instances/{partyId}/{guid}/complete`
    StorageComplete,
    /// `GET /storage/api/v1/instances?…`
    StorageQuery,
    /// `GET /{org}/{app}/instances/{partyId}/{guid}`
    AppGetInstance,
    /// `GET /{org}/{app}/instances/{partyId}/{guid}/data/{dataGuid}`
    AppGetData,
    /// `POST /{org}/{app}/instances/{partyId}/{guid}/complete`
    AppComplete,
    /// `POST /{org}/{app}/instances/{partyId}/{guid}/data?dataType=…` (the legacy upload)
    AppPostData,
    /// `POST /{org}/{app}/instances/{partyId}/{guid}/data/type/{dataType}` (the current upload)
    AppUploadData,
    /// `PUT /{org}/{app}/instances/{partyId}/{guid}/process/next`
    AppProcessNext,
    /// `GET /{org}/{app}/instances/{partyId}/{guid}/process/history`
    AppProcessHistory,
    /// `PUT /{org}/{app}/instances/{partyId}/{guid}/substatus`
    AppSubstatus,
    /// `PUT /storage/api/v1/instances/{partyId}/{guid}/substatus`
    StorageSubstatus,
    /// `GET /storage/api/v1/instances/{partyId}/{guid}/events`
    StorageInstanceEvents,
    /// `GET /storage/api/v1/instances/{partyId}/{guid}/process/history`
    StorageProcessHistory,
    /// `GET /storage/api/v1/instances/{partyId}/{guid}/dataelements`
    StorageDataElements,
    /// `GET /storage/api/v1/applications/{org}/{app}`
    StorageApplication,
    /// Everything under `/events/api/v1/subscriptions`.
    Subscriptions,
    /// `GET /correspondence/api/v1/correspondence/{id}` (the overview)
    CorrespondenceOverview,
    /// `GET /correspondence/api/v1/correspondence/{id}/details`
    CorrespondenceDetails,
    /// `GET /correspondence/api/v1/correspondence/{id}/content`
    CorrespondenceContent,
    /// `POST /correspondence/api/v1/correspondence/{id}/markasread`
    CorrespondenceMarkAsRead,
    /// `POST /correspondence/api/v1/correspondence/{id}/confirm`
    CorrespondenceConfirm,
    /// `GET /correspondence/api/v1/correspondence/{id}/attachment/{attachmentId}/download`
    /// (the recipient's download)
    CorrespondenceRecipientDownload,
    /// `GET /correspondence/api/v1/attachment/{attachmentId}` (the sender's overview)
    CorrespondenceAttachmentOverview,
    /// `GET /correspondence/api/v1/attachment/{attachmentId}/details`
    CorrespondenceAttachmentDetails,
    /// `GET /correspondence/api/v1/attachment/{attachmentId}/download` (the sender's download)
    CorrespondenceSenderDownload,
    /// In a [`FaultRule`]: every request, whatever its route. Never recorded as a request's route.
    Any,
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status with a short problem JSON body instead of calling the handler.
    Status(u16),
    /// Answer 429 with `Retry-After: {retry_after_secs}`.
    TooManyRequests {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// Wait this long, then answer normally.
    Latency(Duration),
    /// Close the TCP connection without writing any response.
    DropConnection,
    /// Answer normally with the full `Content-Length`, but send only the first `after_bytes`
    /// bytes of the body, then close the connection.
    TruncateBody {
        /// Body bytes sent before the connection is closed.
        after_bytes: u64,
    },
}

/// A fault to inject into matching requests.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The route it applies to ([`Route::Any`] = all).
    pub route: Route,
    /// The fault.
    pub fault: Fault,
    /// `None` = forever; `Some(n)` = the next `n` requests it fires on.
    pub times: Option<u32>,
    /// Chance that a matching request gets the fault (1.0 = always).
    pub probability: f64,
    /// Only requests for this instance guid (`None` = any). On the Correspondence routes this
    /// is the correspondence id, or the attachment id on the sender's `attachment/…` routes.
    pub instance: Option<Uuid>,
}

impl FaultRule {
    /// The fault on every matching request, until cleared.
    pub fn always(route: Route, fault: Fault) -> Self {
        FaultRule {
            route,
            fault,
            times: None,
            probability: 1.0,
            instance: None,
        }
    }

    /// The fault on the next `n` matching requests.
    pub fn times(route: Route, fault: Fault, n: u32) -> Self {
        FaultRule {
            times: Some(n),
            ..FaultRule::always(route, fault)
        }
    }

    /// Restricts the rule to requests for one instance.
    pub fn for_instance(mut self, guid: Uuid) -> Self {
        self.instance = Some(guid);
        self
    }

    /// Fires on a matching request with probability `p` (0.0..=1.0).
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    pub(crate) fn matches(&self, route: Option<Route>, instance: Option<Uuid>) -> bool {
        let route_matches = self.route == Route::Any || Some(self.route) == route;
        let instance_matches = self.instance.is_none() || self.instance == instance;
        route_matches && instance_matches && self.times != Some(0)
    }
}

/// The route and instance guid of a request path (`None` for paths the simulator does not serve).
/// Classification is by path shape only, so a fault also hits requests with a wrong method.
pub(crate) fn classify(path: &str) -> (Option<Route>, Option<Uuid>) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let guid = |s: &str| Uuid::parse_str(s).ok();
    match segments.as_slice() {
        ["maskinporten", "token"] => (Some(Route::MaskinportenToken), None),
        ["authentication", "api", "v1", "exchange", _] => (Some(Route::TokenExchange), None),
        ["storage", "api", "v1", "instances"] => (Some(Route::StorageQuery), None),
        ["storage", "api", "v1", "instances", _, g] => (Some(Route::StorageGetInstance), guid(g)),
        ["storage", "api", "v1", "instances", _, g, "data", _] => {
            (Some(Route::StorageGetData), guid(g))
        }
        ["storage", "api", "v1", "instances", _, g, "complete"] => {
            (Some(Route::StorageComplete), guid(g))
        }
        ["storage", "api", "v1", "instances", _, g, "substatus"] => {
            (Some(Route::StorageSubstatus), guid(g))
        }
        ["storage", "api", "v1", "instances", _, g, "events"] => {
            (Some(Route::StorageInstanceEvents), guid(g))
        }
        [
            "storage",
            "api",
            "v1",
            "instances",
            _,
            g,
            "process",
            "history",
        ] => (Some(Route::StorageProcessHistory), guid(g)),
        ["storage", "api", "v1", "instances", _, g, "dataelements"] => {
            (Some(Route::StorageDataElements), guid(g))
        }
        ["storage", "api", "v1", "applications", _, _] => (Some(Route::StorageApplication), None),
        ["events", "api", "v1", "subscriptions", ..] => (Some(Route::Subscriptions), None),
        ["correspondence", "api", "v1", rest @ ..] => classify_correspondence(rest),
        [_, _, "instances", _, g] => (Some(Route::AppGetInstance), guid(g)),
        [_, _, "instances", _, g, "data"] => (Some(Route::AppPostData), guid(g)),
        [_, _, "instances", _, g, "data", _] => (Some(Route::AppGetData), guid(g)),
        [_, _, "instances", _, g, "complete"] => (Some(Route::AppComplete), guid(g)),
        [_, _, "instances", _, g, "data", "type", _] => (Some(Route::AppUploadData), guid(g)),
        [_, _, "instances", _, g, "process", "next"] => (Some(Route::AppProcessNext), guid(g)),
        [_, _, "instances", _, g, "process", "history"] => {
            (Some(Route::AppProcessHistory), guid(g))
        }
        [_, _, "instances", _, g, "substatus"] => (Some(Route::AppSubstatus), guid(g)),
        _ => (None, None),
    }
}

/// The Correspondence routes, by the path after `/correspondence/api/v1/`; the id is the
/// correspondence's, or the attachment's on the sender's attachment routes.
fn classify_correspondence(rest: &[&str]) -> (Option<Route>, Option<Uuid>) {
    let guid = |s: &str| Uuid::parse_str(s).ok();
    let (route, id) = match rest {
        ["correspondence", c] => (Route::CorrespondenceOverview, c),
        ["correspondence", c, "details"] => (Route::CorrespondenceDetails, c),
        ["correspondence", c, "content"] => (Route::CorrespondenceContent, c),
        ["correspondence", c, "markasread"] => (Route::CorrespondenceMarkAsRead, c),
        ["correspondence", c, "confirm"] => (Route::CorrespondenceConfirm, c),
        ["correspondence", c, "attachment", _, "download"] => {
            (Route::CorrespondenceRecipientDownload, c)
        }
        ["attachment", a] => (Route::CorrespondenceAttachmentOverview, a),
        ["attachment", a, "details"] => (Route::CorrespondenceAttachmentDetails, a),
        ["attachment", a, "download"] => (Route::CorrespondenceSenderDownload, a),
        _ => return (None, None),
    };
    (Some(route), guid(id))
}

/// The answer for [`Fault::Status`]: a ProblemDetails body like ASP.NET writes.
pub(crate) fn status_response(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    problem(status, "Injected fault")
}

/// The answer for [`Fault::TooManyRequests`].
pub(crate) fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "Injected rate limit");
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Error a truncated body ends with; makes hyper abort the connection.
#[derive(Debug)]
struct TruncatedByFault;

impl std::fmt::Display for TruncatedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body truncated by an injected fault")
    }
}

impl std::error::Error for TruncatedByFault {}

/// Keeps the response's status and headers (with the full `Content-Length`), sends only the
/// first `after_bytes` body bytes, then fails the body so the connection is closed mid-body.
pub(crate) fn truncate(response: Response, after_bytes: u64) -> Response {
    let (mut parts, body) = response.into_parts();
    let full_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| {
            use axum::body::HttpBody as _;
            body.size_hint().exact()
        });
    if let Some(length) = full_length {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let head = body
        .into_data_stream()
        .scan(after_bytes, |remaining, chunk| {
            let item = (*remaining > 0).then(|| {
                chunk.map(|mut bytes| {
                    let keep = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    *remaining -= keep as u64;
                    bytes.truncate(keep);
                    bytes
                })
            });
            futures_util::future::ready(item)
        });
    // Pause before failing: hyper flushes what it has buffered while the body is pending, so the
    // headers and the allowed bytes really reach the client before the connection is cut.
    let tail = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err::<Bytes, axum::Error>(axum::Error::new(TruncatedByFault))
    });
    Response::from_parts(parts, Body::from_stream(head.chain(tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        let g = Uuid::new_v4();
        assert_eq!(
            classify("/maskinporten/token").0,
            Some(Route::MaskinportenToken)
        );
        assert_eq!(
            classify("/authentication/api/v1/exchange/maskinporten").0,
            Some(Route::TokenExchange)
        );
        assert_eq!(
            classify("/storage/api/v1/instances").0,
            Some(Route::StorageQuery)
        );
        assert_eq!(
            classify(&format!("/storage/api/v1/instances/1/{g}")),
            (Some(Route::StorageGetInstance), Some(g))
        );
        assert_eq!(
            classify(&format!(
                "/storage/api/v1/instances/1/{g}/data/{}",
                Uuid::new_v4()
            )),
            (Some(Route::StorageGetData), Some(g))
        );
        assert_eq!(
            classify(&format!("/storage/api/v1/instances/1/{g}/complete")),
            (Some(Route::StorageComplete), Some(g))
        );
        assert_eq!(
            classify(&format!("/ttd/app/instances/1/{g}")),
            (Some(Route::AppGetInstance), Some(g))
        );
        assert_eq!(
            classify(&format!("/ttd/app/instances/1/{g}/data/{g}")),
            (Some(Route::AppGetData), Some(g))
        );
        assert_eq!(
            classify(&format!("/ttd/app/instances/1/{g}/complete")),
            (Some(Route::AppComplete), Some(g))
        );
        let p = format!("/storage/api/v1/instances/1/{g}");
        for (path, route) in [
            (format!("{p}/substatus"), Route::StorageSubstatus),
            (format!("{p}/events"), Route::StorageInstanceEvents),
            (format!("{p}/process/history"), Route::StorageProcessHistory),
            (format!("{p}/dataelements"), Route::StorageDataElements),
            (
                format!("/ttd/app/instances/1/{g}/data/type/receipt"),
                Route::AppUploadData,
            ),
            (
                format!("/ttd/app/instances/1/{g}/process/next"),
                Route::AppProcessNext,
            ),
            (
                format!("/ttd/app/instances/1/{g}/process/history"),
                Route::AppProcessHistory,
            ),
            (
                format!("/ttd/app/instances/1/{g}/substatus"),
                Route::AppSubstatus,
            ),
        ] {
            assert_eq!(classify(&path), (Some(route), Some(g)), "{path}");
        }
        assert_eq!(
            classify("/storage/api/v1/applications/ttd/app"),
            (Some(Route::StorageApplication), None)
        );
        assert_eq!(
            classify("/events/api/v1/subscriptions/4").0,
            Some(Route::Subscriptions)
        );
        let c = "/correspondence/api/v1/correspondence";
        let a = "/correspondence/api/v1/attachment";
        for (path, route) in [
            (format!("{c}/{g}"), Route::CorrespondenceOverview),
            (format!("{c}/{g}/details"), Route::CorrespondenceDetails),
            (format!("{c}/{g}/content"), Route::CorrespondenceContent),
            (
                format!("{c}/{g}/markasread"),
                Route::CorrespondenceMarkAsRead,
            ),
            (format!("{c}/{g}/confirm"), Route::CorrespondenceConfirm),
            (
                format!("{c}/{g}/attachment/{}/download", Uuid::new_v4()),
                Route::CorrespondenceRecipientDownload,
            ),
            (format!("{a}/{g}"), Route::CorrespondenceAttachmentOverview),
            (
                format!("{a}/{g}/details"),
                Route::CorrespondenceAttachmentDetails,
            ),
            (
                format!("{a}/{g}/download"),
                Route::CorrespondenceSenderDownload,
            ),
        ] {
            assert_eq!(classify(&path), (Some(route), Some(g)), "{path}");
        }
        assert_eq!(classify("/nothing/here").0, None);
    }

    #[test]
    fn rules_count_down_and_filter_by_instance() {
        let g = Uuid::new_v4();
        let rule = FaultRule::times(Route::StorageGetData, Fault::Status(500), 0);
        assert!(!rule.matches(Some(Route::StorageGetData), None));
        let rule = FaultRule::always(Route::Any, Fault::Status(503)).for_instance(g);
        assert!(rule.matches(Some(Route::AppGetInstance), Some(g)));
        assert!(!rule.matches(Some(Route::AppGetInstance), Some(Uuid::new_v4())));
        assert!(!rule.matches(None, None));
    }
}
