//! The production [`HandOffSink`]: `PutEvents` on the bus named by `EVENT_BUS_NAME`.

use std::time::Duration;

use aws_sdk_eventbridge::error::SdkError;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use lambda_support::aws::OnFirstUse;

use super::{HandOff, HandOffSink, SOURCE, unavailable};
use crate::error::ArchiveError;

/// Said of a put that got no answer (a timeout, a connection lost, an answer that could not be
/// read): the bus may have taken the event, and the retry that follows sends the same detail
/// again. Only a put the bus answered is known not to have been taken.
pub const UNANSWERED: &str =
    " got no answer (the bus may have the event; the retry may send it twice)";

/// Puts hand-off events on one EventBridge bus.
#[derive(Clone)]
pub struct EventBridgeHandOff {
    bus_name: String,
    client: OnFirstUse<aws_sdk_eventbridge::Client>,
}

impl EventBridgeHandOff {
    /// Puts events on `bus_name` with a client built from `sdk` at the first event.
    pub fn on_first_use(sdk: &aws_config::SdkConfig, bus_name: impl Into<String>) -> Self {
        EventBridgeHandOff {
            bus_name: bus_name.into(),
            client: OnFirstUse::new(sdk, bus_client),
        }
    }

    /// Puts events on `bus_name` with `client`.
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        EventBridgeHandOff {
            bus_name: bus_name.into(),
            client: client.into(),
        }
    }

    /// The bus events go to.
    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    async fn put_event(&self, event: &HandOff) -> Result<(), ArchiveError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(SOURCE)
            .detail_type(event.detail_type())
            .detail(event.detail_json())
            .build();
        let answer = self
            .client
            .get()
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|error| {
                let unanswered = !matches!(
                    error,
                    SdkError::ServiceError(_) | SdkError::ConstructionFailure(_)
                );
                let error = aws_sdk_eventbridge::error::DisplayErrorContext(error);
                let doubt = if unanswered { UNANSWERED } else { "" };
                unavailable(
                    event,
                    &format!("PutEvents on {}{doubt}: {error}", self.bus_name),
                )
            })?;
        // PutEvents answers 200 even when it refused an entry; the entry says why.
        if answer.failed_entry_count() > 0 {
            let refused = answer
                .entries()
                .iter()
                .find_map(|entry| {
                    entry.error_code().map(|code| {
                        format!("{code}: {}", entry.error_message().unwrap_or_default())
                    })
                })
                .unwrap_or_else(|| "no reason given".to_owned());
            return Err(unavailable(
                event,
                &format!(
                    "PutEvents on {} refused the entry ({refused})",
                    self.bus_name
                ),
            ));
        }
        tracing::info!(
            detail_type = event.detail_type(),
            subject = %event.subject(),
            bus = %self.bus_name,
            "hand-off event put on the bus"
        );
        Ok(())
    }
}

/// The bus client, with a timeout the SDK does not set by default: a `PutEvents` that hangs
/// fails within 6 s, well inside the archiver's deadline margin, so the claim's `sent` mark
/// still has time after it and a run is not stopped between a put and its mark. No
/// shorter per-attempt timeout: an attempt given up on may still have been taken, and its
/// retry would send the event twice.
fn bus_client(sdk: &aws_config::SdkConfig) -> aws_sdk_eventbridge::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(6))
        .build();
    let config = aws_sdk_eventbridge::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

impl HandOffSink for EventBridgeHandOff {
    fn put(&self, event: &HandOff) -> BoxFuture<'_, Result<(), ArchiveError>> {
        let event = event.clone();
        async move { self.put_event(&event).await }.boxed()
    }
}

impl std::fmt::Debug for EventBridgeHandOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBridgeHandOff")
            .field("bus_name", &self.bus_name)
            .finish_non_exhaustive()
    }
}
