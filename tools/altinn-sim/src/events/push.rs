//! Delivery: the validation event sent to a new subscription's endpoint, the CloudEvent for an
//! app instance, and pushing events to every matching subscription with Altinn's retry
//! schedules, recording each attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::APP_RESOURCE_PREFIX;
use crate::dialect::timestamp;
use crate::seed::{SeededInstance, synthetic_person_number};
use crate::state::{DeadLetter, DeliveryRecord, Shared};

/// Delays before the 2nd…12th push attempt (`OutboundQueuePolicy`: cooldown 10 s, then the
/// schedule); after the 12th failure the event is dead-lettered.
pub(crate) const PUSH_RETRY_DELAYS_SECS: [u64; 11] = [
    10, 30, 60, 300, 600, 1800, 3600, 10_800, 21_600, 43_200, 43_200,
];
/// Delays before the 2nd…9th validation attempt (`ValidationQueuePolicy`).
pub(crate) const VALIDATION_RETRY_DELAYS_SECS: [u64; 8] = [1, 5, 10, 30, 60, 120, 120, 120];
const VALIDATION_EVENT_TYPE: &str = "platform.events.validatesubscription";

/// The validation event Altinn sends to a new subscription's endpoint: no time, subject or
/// resource.
fn validation_event(shared: &Shared, subscription_id: i64) -> Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": format!("{}events/api/v1/subscriptions/{subscription_id}", shared.base_url),
        "type": VALIDATION_EVENT_TYPE,
    })
}

/// Sends the validation event in the background with `ValidationQueuePolicy`'s retries; the
/// subscription becomes validated on the first 2xx.
pub(crate) fn start_validation(shared: &Arc<Shared>, subscription_id: i64) {
    let event = validation_event(shared, subscription_id);
    let task_shared = Arc::clone(shared);
    shared.spawn_background(async move {
        let shared = task_shared;
        let event_id = event["id"].as_str().unwrap_or_default().to_owned();
        let body = event.to_string();
        let total = VALIDATION_RETRY_DELAYS_SECS.len() + 1;
        for attempt in 1..=total {
            let Some(end_point) = shared
                .lock()
                .subscriptions
                .get(&subscription_id)
                .map(|s| s.end_point.clone())
            else {
                return; // deleted meanwhile
            };
            let status = push(&shared, &end_point, &body).await;
            record_delivery(&shared, subscription_id, &event_id, attempt, status, true);
            if status.is_some_and(|s| (200..300).contains(&s)) {
                if let Some(subscription) = shared.lock().subscriptions.get_mut(&subscription_id) {
                    subscription.validated = true;
                }
                return;
            }
            if let Some(delay) = VALIDATION_RETRY_DELAYS_SECS.get(attempt - 1) {
                tokio::time::sleep(shared.config.scaled(Duration::from_secs(*delay))).await;
            }
        }
        shared.lock().dead_letters.push(DeadLetter {
            subscription_id,
            event_id,
            validation: true,
        });
    });
}

/// The CloudEvent Altinn Events would push for an app instance event.
pub(crate) fn cloud_event(shared: &Shared, instance: &SeededInstance, event_type: &str) -> Value {
    json!({
        "specversion": "1.0",
        "id": Uuid::new_v4().to_string(),
        "source": instance_source(shared, instance),
        "type": event_type,
        "subject": format!("/party/{}", instance.party_id),
        "alternativesubject": format!("/person/{}", synthetic_person_number(instance.party_id)),
        "time": timestamp(OffsetDateTime::now_utc()),
        "resource": format!("{APP_RESOURCE_PREFIX}{}_{}", instance.org, instance.app),
        "resourceinstance": instance.instance_id(),
    })
}

/// `{apps_url}{org}/{app}/instances/{partyId}/{guid}`
pub(crate) fn instance_source(shared: &Shared, instance: &SeededInstance) -> String {
    format!(
        "{}{}/{}/instances/{}",
        shared.base_url,
        instance.org,
        instance.app,
        instance.instance_id()
    )
}

/// Pushes `event` to every matching validated subscription, each in the background with the
/// retry schedule (10 s, 30 s, 1 min, … 12 h, then dead-lettered). Returns how many subscriptions it goes to.
pub(crate) fn publish_event(shared: &Arc<Shared>, event: Value, app_owner: &str) -> usize {
    let targets: Vec<(i64, String)> = shared
        .lock()
        .subscriptions
        .values()
        .filter(|s| s.matches(&event, app_owner))
        .map(|s| (s.id, s.end_point.clone()))
        .collect();
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let body = event.to_string();
    for (subscription_id, end_point) in &targets {
        let task_shared = Arc::clone(shared);
        let (subscription_id, end_point, body, event_id) = (
            *subscription_id,
            end_point.clone(),
            body.clone(),
            event_id.clone(),
        );
        shared.spawn_background(async move {
            deliver_with_retries(&task_shared, subscription_id, &end_point, &body, &event_id).await;
        });
    }
    targets.len()
}

async fn deliver_with_retries(
    shared: &Shared,
    subscription_id: i64,
    end_point: &str,
    body: &str,
    event_id: &str,
) {
    let total = PUSH_RETRY_DELAYS_SECS.len() + 1;
    for attempt in 1..=total {
        let status = push(shared, end_point, body).await;
        record_delivery(shared, subscription_id, event_id, attempt, status, false);
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return;
        }
        if let Some(delay) = PUSH_RETRY_DELAYS_SECS.get(attempt - 1) {
            tokio::time::sleep(shared.config.scaled(Duration::from_secs(*delay))).await;
        }
    }
    shared.lock().dead_letters.push(DeadLetter {
        subscription_id,
        event_id: event_id.to_owned(),
        validation: false,
    });
}

fn record_delivery(
    shared: &Shared,
    subscription_id: i64,
    event_id: &str,
    attempt: usize,
    status: Option<u16>,
    validation: bool,
) {
    shared.lock().deliveries.push(DeliveryRecord {
        subscription_id,
        event_id: event_id.to_owned(),
        attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        status,
        validation,
        sent_at: Instant::now(),
    });
}

/// One push: `POST` with `application/json; charset=utf-8`, no authentication. `None` when
/// the request failed without a status (connection refused, timeout, reset).
async fn push(shared: &Shared, end_point: &str, body: &str) -> Option<u16> {
    let result = shared
        .push_client
        .post(end_point)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body.to_owned())
        .send()
        .await;
    match result {
        Ok(response) => Some(response.status().as_u16()),
        Err(error) => {
            tracing::debug!(error = %error, "event push failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedules_have_altinns_attempt_counts() {
        assert_eq!(PUSH_RETRY_DELAYS_SECS.len() + 1, 12);
        let total: u64 = PUSH_RETRY_DELAYS_SECS.iter().sum();
        assert_eq!(total, 125_200, "about 34 h 47 min, as documented");
        assert_eq!(VALIDATION_RETRY_DELAYS_SECS.len() + 1, 9);
    }
}
