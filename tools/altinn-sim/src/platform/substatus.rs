//! `PUT …/substatus` on the App API and on Storage (app-lib `InstancesController.UpdateSubstatus`,
//! altinn-storage `InstancesController.UpdateSubstatus`). Any caller whose `urn:altinn:org` is
//! the instance's org may set it, with no scope check and also after the process has ended.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::lifecycle::Actor;
use super::{Api, InstanceAddress, dialect_of, forbidden, instance_not_found};
use crate::authentication::authenticate;
use crate::dialect::render_instance;
use crate::events;
use crate::reply::{Reject, json_response, text_response};
use crate::state::Shared;

/// The body's `(label, description)`, or the 400 Altinn answers (its text quotes the body as
/// Storage re-serializes it).
fn parse_substatus(body: &[u8]) -> Result<(String, Option<String>), Reject> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    let (label, description) = (field("label"), field("description"));
    match label.filter(|l| !l.is_empty()) {
        Some(label) => Ok((label, description)),
        None => {
            // Newtonsoft writes the properties in declaration order: label, then description.
            let echoed = if value.is_object() {
                format!(
                    "{{\"label\":{},\"description\":{}}}",
                    json!(field("label")),
                    json!(description)
                )
            } else {
                "null".to_owned()
            };
            Err(text_response(
                StatusCode::BAD_REQUEST,
                format!(
                    "Invalid sub status: {echoed}. Substatus must be defined and include a label."
                ),
            )
            .into())
        }
    }
}

async fn update_substatus(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    address: InstanceAddress<'_>,
    body: Body,
) -> Response {
    let caller = match authenticate(shared, headers) {
        Ok(caller) => caller,
        Err(reject) => return reject.into_response(),
    };
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let (label, description) = match parse_substatus(&body) {
        Ok(parsed) => parsed,
        Err(reject) => return reject.into_response(),
    };
    let not_found = || instance_not_found(address.api, address.party, address.guid);
    let (Ok(party), Ok(guid)) = (address.party.parse::<u64>(), Uuid::parse_str(address.guid))
    else {
        return not_found();
    };
    let updated = {
        let mut inner = shared.lock();
        let Some(stored) = inner
            .instances
            .get_mut(&guid)
            .filter(|i| i.party_id == party)
            .filter(|i| {
                address
                    .app
                    .is_none_or(|(org, app)| i.org == org && i.app == app)
            })
        else {
            return not_found();
        };
        // The app compares the org case-insensitively, Storage exactly.
        let same_org = caller.org.as_deref().is_some_and(|org| match address.api {
            Api::App => org.eq_ignore_ascii_case(&stored.org),
            Api::Storage => org == stored.org,
        });
        if !same_org {
            return forbidden();
        }
        let actor = Actor::Org {
            code: caller.org.clone().unwrap_or_default(),
            org_number: caller.org_number.clone(),
        };
        let now = OffsetDateTime::now_utc();
        stored.substatus = Some((label, description));
        stored.touch(now, &actor);
        stored.log_event("SubstatusUpdated", now, &actor, None);
        stored.clone()
    };
    if address.api == Api::App {
        // Only the app publishes a CloudEvent for it; Storage logs the instance event alone.
        let event = events::cloud_event(
            shared,
            &updated.as_seeded(),
            "app.instance.substatus.changed",
        );
        events::publish_event(shared, event, &updated.org);
    }
    json_response(
        StatusCode::OK,
        &render_instance(&updated, &shared.base_url, dialect_of(address.api, false)),
    )
}

/// `PUT /{org}/{app}/instances/{partyId}/{guid}/substatus`
pub(crate) async fn app_substatus(
    State(shared): State<Arc<Shared>>,
    Path((org, app, party, guid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let address = InstanceAddress::app(&org, &app, &party, &guid);
    update_substatus(&shared, &headers, address, body).await
}

/// `PUT /storage/api/v1/instances/{partyId}/{guid}/substatus`
pub(crate) async fn storage_substatus(
    State(shared): State<Arc<Shared>>,
    Path((party, guid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let address = InstanceAddress::storage(&party, &guid);
    update_substatus(&shared, &headers, address, body).await
}
