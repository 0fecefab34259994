//! The Storage query (`GET /storage/api/v1/instances?…`): its parameters, Storage's ordering and
//! continuation tokens, and the answer in Storage's dialect.
//!
//! What Storage does (altinn-storage `InstancesController.GetInstances` and `BuildRequestLink`,
//! `Models/InstanceQueryParameters.cs`, `Repository/PgInstanceRepository.cs` and the
//! `readinstancefromquery` SQL function, <https://github.com/Altinn/altinn-storage>): instances
//! are sorted by `lastChanged`, newest first unless `order` is given without a `desc:` prefix,
//! ties broken by the internal row id. A page as long as `size` gets a continuation token
//! `"{lastChanged in .NET ticks};{row id}"` (so a full last page is followed by an empty one);
//! the controller URL-encodes it (`HttpUtility.UrlEncode`, `;` → `%3b`) and the `next` link's
//! query builder encodes it again; on the way in the controller URL-decodes it once more after
//! ASP.NET's own decoding.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{DEFAULT_QUERY_SIZE, READ_SCOPE, forbidden};
use crate::authentication::authenticate;
use crate::dialect::{Dialect, render_instance};
use crate::reply::{Reject, json_response, text_response};
use crate::seed::StoredInstance;
use crate::state::Shared;

/// The Storage query's parameters.
#[derive(Debug, Default)]
struct QueryParams {
    org: Option<String>,
    app_id: Option<String>,
    is_complete: Option<bool>,
    exclude_confirmed_by: Option<String>,
    size: usize,
    /// `false` only for an `order` without the `desc:` prefix.
    descending: bool,
    /// Where the previous page stopped: `(lastChanged ticks, row id)`.
    after: Option<(i128, u64)>,
}

fn bad_request(message: &str) -> Response {
    text_response(StatusCode::BAD_REQUEST, message)
}

fn parse_query(raw: &str) -> Result<QueryParams, Reject> {
    let mut params = QueryParams {
        size: DEFAULT_QUERY_SIZE,
        descending: true,
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
            "order" => {
                params.descending = value
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("desc:"));
            }
            "continuationToken" if !value.is_empty() => {
                params.after = Some(
                    decode_continuation_token(&value)
                        .ok_or_else(|| bad_request("Invalid continuationToken"))?,
                );
            }
            // Other Storage filters (lastChanged, created, …) are not simulated and are ignored.
            _ => {}
        }
    }
    Ok(params)
}

/// .NET ticks (100 ns since 0001-01-01) of the Unix epoch.
const UNIX_EPOCH_TICKS: i128 = 621_355_968_000_000_000;

/// A time as .NET `DateTime.Ticks`, the unit of Storage's continuation tokens.
fn ticks(at: time::OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos() / 100 + UNIX_EPOCH_TICKS
}

/// The token as the controller hands it out: `{ticks};{id}`, URL-encoded like .NET's
/// `HttpUtility.UrlEncode` (lower-case hex).
fn encode_continuation_token(instance: &StoredInstance) -> String {
    format!("{}%3b{}", ticks(instance.last_changed), instance.seq)
}

/// The token after ASP.NET decoded the query: URL-decoded once more, then `{ticks};{id}`.
fn decode_continuation_token(token: &str) -> Option<(i128, u64)> {
    let decoded = percent_encoding::percent_decode_str(token.trim())
        .decode_utf8()
        .ok()?;
    let (ticks, id) = decoded.split_once(';')?;
    Some((ticks.parse().ok()?, id.parse().ok()?))
}

/// Storage's order: by `lastChanged`, then row id, descending unless asked otherwise.
fn sort_key(instance: &StoredInstance) -> (i128, u64) {
    (ticks(instance.last_changed), instance.seq)
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
        .filter(|i| params.is_complete.is_none_or(|c| c == i.is_ended()))
        .filter(|i| {
            params
                .exclude_confirmed_by
                .as_deref()
                .is_none_or(|o| !i.confirmed_by(o))
        })
        .filter(|i| {
            params.after.is_none_or(|after| {
                if params.descending {
                    sort_key(i) < after
                } else {
                    sort_key(i) > after
                }
            })
        })
        .cloned()
        .collect();
    matching.sort_by_key(sort_key);
    if params.descending {
        matching.reverse();
    }
    matching.truncate(params.size);
    let full_page = matching.len() == params.size;

    let self_url = format!("{}storage/api/v1/instances?{raw}", shared.base_url);
    let mut body = json!({
        "count": matching.len(),
        "self": self_url,
        "instances": matching
            .iter()
            .map(|i| render_instance(i, &shared.base_url, Dialect::Storage))
            .collect::<Vec<_>>(),
    });
    if full_page && let Some(last) = matching.last() {
        let mut next_query: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .filter(|(k, _)| k != "continuationToken")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        next_query.push((
            "continuationToken".to_owned(),
            encode_continuation_token(last),
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
    fn continuation_tokens_are_storages() {
        let at = time::macros::datetime!(2026-01-02 03:04:05.123_456_7 UTC);
        assert_eq!(ticks(at), 639_029_198_451_234_567);
        assert_eq!(
            decode_continuation_token("639029198451234567%3b42"),
            Some((639_029_198_451_234_567, 42))
        );
        assert_eq!(
            decode_continuation_token("639029198451234567;42"),
            Some((639_029_198_451_234_567, 42)),
            "an already decoded token"
        );
        assert_eq!(decode_continuation_token("garbage!"), None);
    }
}
