//! The Storage query (`GET /storage/api/v1/instances?…`): its parameters, paging with opaque
//! continuation tokens, and the answer in Storage's dialect.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
        .filter(|i| params.is_complete.is_none_or(|c| c == i.is_ended()))
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
    fn continuation_tokens_round_trip() {
        assert_eq!(
            decode_continuation_token(&encode_continuation_token(42)),
            Some(42)
        );
        assert_eq!(decode_continuation_token("garbage!"), None);
    }
}
