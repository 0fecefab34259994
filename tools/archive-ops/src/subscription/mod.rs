//! `archive-ops subscription create | list | get | delete | wait-validated`: the Altinn Events
//! subscriptions that feed the webhook (app events, and generic resources such as
//! Correspondence; <https://docs.altinn.studio/events/>). Subscriptions are created and
//! managed as the service owner (`/org/{org}`), so `list` shows app and generic ones alike;
//! with `--as-organisation`, as the organisation (`/organisation/{orgno}`), which is how a
//! Correspondence recipient subscribes to what is addressed to it.
//!
//! The webhook authenticates Altinn by a secret in the endpoint's `code` query parameter, so
//! the endpoint Altinn stores and returns *is* a credential. This module therefore:
//!
//! - takes the secret only from the environment (`WEBHOOK_SECRET`) or Secrets Manager
//!   (`--secret-arn`, `WEBHOOK_SECRET_ARN`), never from the command line, where it would land
//!   in shell history and in `ps` output;
//! - refuses an `--endpoint` that already carries `code=`, for the same reason;
//! - prints every endpoint through [`redact_endpoint`] (`…?code=***`), in tables and in JSON,
//!   and never puts a user-supplied endpoint into an error message.
//!
//! A new subscription is not live until Altinn's validation event got a 2xx from the endpoint
//! (Altinn delivers events only to validated subscriptions), hence `wait-validated`.

use std::io::Write;
use std::time::{Duration, Instant};

use altinn::auth::{AuthError, ScopeSet};
use altinn::client::Subscription;
use altinn::{AltinnClient, AltinnConfig, RetryPolicy};
use serde::Serialize;

mod create;
mod endpoint;

pub use endpoint::{
    endpoint_with_secret, parse_duration, parse_endpoint, parse_timeout, redact_endpoint,
};

use crate::cli::SubscriptionCommand;
use crate::{CommandError, Context, EXIT_FAILURE, EXIT_OK, UsageError, table, write_json};

/// The webhook refuses shorter secrets (its `check_secret_strength`), so a subscription with
/// one could never be validated.
const MIN_SECRET_CHARS: usize = 16;
/// The query parameter the webhook reads the secret from.
pub(crate) const CODE_PARAMETER: &str = "code";
/// Resource filters of app subscriptions start with this (no extra scope needed).
const APP_RESOURCE_PREFIX: &str = "urn:altinn:resource:app_";
/// Every resource filter starts with this.
const RESOURCE_PREFIX: &str = "urn:altinn:resource:";
/// Default for `--timeout`: Altinn re-sends a failed validation after 1, 5, 10 and 30 s, then
/// every minute or two, so two minutes covers a webhook that was briefly unavailable.
const DEFAULT_WAIT: Duration = Duration::from_secs(120);
/// First pause between polls; doubled after each poll up to [`MAX_POLL_DELAY`].
const FIRST_POLL_DELAY: Duration = Duration::from_millis(500);
/// Longest pause between polls.
const MAX_POLL_DELAY: Duration = Duration::from_secs(10);

/// A subscription as printed: the endpoint's secret is redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    /// Altinn's subscription id.
    pub id: i64,
    /// True once the endpoint answered the validation event with 2xx.
    pub validated: bool,
    /// The one event type delivered, or null for all.
    pub type_filter: Option<String>,
    /// The source filter (app subscriptions: the app's URL).
    pub source_filter: Option<String>,
    /// The resource filter (`urn:altinn:resource:…`).
    pub resource_filter: Option<String>,
    /// `/party/{id}` (apps) or the subject URN (generic resources), when set.
    pub subject_filter: Option<String>,
    /// Whether the subject's subunits are included.
    pub include_subunits: bool,
    /// Who owns it, e.g. `/org/ttd`.
    pub consumer: Option<String>,
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// The endpoint with the `code` value replaced by `***`.
    pub end_point: String,
}

impl From<&Subscription> for SubscriptionView {
    fn from(subscription: &Subscription) -> Self {
        SubscriptionView {
            id: subscription.id,
            validated: subscription.validated,
            type_filter: subscription.type_filter.clone(),
            source_filter: subscription.source_filter.clone(),
            resource_filter: subscription.resource_filter.clone(),
            subject_filter: subscription.subject_filter.clone(),
            include_subunits: subscription.include_subunits,
            consumer: subscription.consumer.clone(),
            created: subscription.created.clone(),
            end_point: redact_endpoint(&subscription.end_point),
        }
    }
}

/// Who the subscription calls speak for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// `/org/{org}`: app subscriptions, and a sender's Correspondence subscriptions.
    ServiceOwner,
    /// `/organisation/{orgno}` (`--as-organisation`): a Correspondence recipient's.
    Organisation,
}

impl Identity {
    /// `--as-organisation` or not.
    pub fn of(as_organisation: bool) -> Self {
        if as_organisation {
            Identity::Organisation
        } else {
            Identity::ServiceOwner
        }
    }

    /// The scope set of get, list and delete as this identity.
    fn scope_set(self) -> ScopeSet {
        ScopeSet::for_subscriptions(self == Identity::Organisation, false)
    }
}

/// Runs `subscription …`.
pub async fn command(
    command: &SubscriptionCommand,
    identity: Identity,
    json: bool,
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    match command {
        SubscriptionCommand::Create(args) => {
            create::create(args, identity, json, context, out, err).await
        }
        SubscriptionCommand::List => {
            let (_, client) = altinn_client(context, identity).await?;
            let subscriptions = client
                .list_subscriptions()
                .await
                .map_err(|error| failed_with_scope_hint(error, identity.scope_set()))?;
            let views: Vec<SubscriptionView> =
                subscriptions.iter().map(SubscriptionView::from).collect();
            print_views(json, out, &views, true)?;
            if !json {
                writeln!(out, "{} subscription(s)", views.len()).map_err(CommandError::failed)?;
            }
            Ok(EXIT_OK)
        }
        SubscriptionCommand::Get { id } => {
            let id = parse_id(id)?;
            let (_, client) = altinn_client(context, identity).await?;
            match client.get_subscription(id).await {
                Ok(subscription) => {
                    print_views(json, out, &[SubscriptionView::from(&subscription)], false)?;
                    Ok(EXIT_OK)
                }
                Err(error) => not_found_or_failed(error, id, err),
            }
        }
        SubscriptionCommand::Delete { id } => {
            let id = parse_id(id)?;
            let (_, client) = altinn_client(context, identity).await?;
            match client.delete_subscription(id).await {
                Ok(()) => {
                    if json {
                        write_json(out, &serde_json::json!({ "deleted": id }))?;
                    } else {
                        writeln!(out, "deleted subscription {id}").map_err(CommandError::failed)?;
                    }
                    Ok(EXIT_OK)
                }
                Err(error) => not_found_or_failed(error, id, err),
            }
        }
        SubscriptionCommand::Rotate(args) => {
            if identity == Identity::Organisation {
                return Err(UsageError(
                    "rotate works on the service owner's subscriptions; rotate an \
                     organisation's by hand (create --as-organisation, then delete the old one)"
                        .into(),
                )
                .into());
            }
            if !args.stray.is_empty() {
                return Err(UsageError(
                    "rotate takes no positional arguments (the subscription is --old-id ID)".into(),
                )
                .into());
            }
            crate::rotate::command(args, json, context, out, err).await
        }
        SubscriptionCommand::WaitValidated { id, timeout } => {
            let id = parse_id(id)?;
            let timeout = match timeout {
                Some(text) => parse_timeout(text)?,
                None => DEFAULT_WAIT,
            };
            let (_, client) = altinn_client(context, identity).await?;
            let outcome = wait_validated(&client, id, timeout, err).await?;
            finish_wait(json, out, err, id, timeout, outcome)
        }
    }
}

/// A failed Altinn call as a command error; when Maskinporten refused the grant for a scope
/// the client does not have, the message names the scopes `set` needs.
pub(crate) fn failed_with_scope_hint(error: altinn::ClientError, set: ScopeSet) -> CommandError {
    let refused_scope = matches!(
        &error,
        altinn::ClientError::Auth(AuthError::Maskinporten { error, .. }) if error == "invalid_scope"
    );
    match set.fixed_scopes() {
        Some(scopes) if refused_scope => CommandError::Failed(format!(
            "{error} (subscriptions need a Maskinporten client with the scopes {scopes})"
        )),
        _ => CommandError::failed(error),
    }
}

/// The Altinn configuration and client, built as the functions build theirs, speaking for
/// `identity` to Events.
async fn altinn_client(
    context: &Context,
    identity: Identity,
) -> Result<(AltinnConfig, AltinnClient), CommandError> {
    let config = AltinnConfig::from_lookup(&context.env).map_err(CommandError::failed)?;
    let client = build_client(&config, context).await?;
    Ok((config, identity.client(client)))
}

impl Identity {
    /// `client`, making its Events calls as this identity.
    pub(crate) fn client(self, client: AltinnClient) -> AltinnClient {
        match self {
            Identity::ServiceOwner => client,
            Identity::Organisation => client.subscribing_as_organisation(),
        }
    }
}

pub(crate) async fn build_client(
    config: &AltinnConfig,
    context: &Context,
) -> Result<AltinnClient, CommandError> {
    reconciler::handler::altinn_client(config, &RetryPolicy::default(), &context.sdk)
        .await
        .map_err(CommandError::failed)
}

pub(crate) fn parse_id(text: &str) -> Result<i64, UsageError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| UsageError("the subscription id must be a positive whole number".into()))
}

/// A 404 is "no such subscription" (exit 1); anything else is a failure.
fn not_found_or_failed(
    error: altinn::ClientError,
    id: i64,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    if error.status() == Some(404) {
        writeln!(err, "no subscription {id}").map_err(CommandError::failed)?;
        return Ok(EXIT_FAILURE);
    }
    Err(failed_with_scope_hint(error, ScopeSet::EventsServiceOwner))
}

/// How waiting ended.
pub(crate) enum WaitOutcome {
    /// Validated; the subscription as last read.
    Validated(Subscription),
    /// Still not validated when the time was up.
    TimedOut(Subscription),
}

/// Polls `get_subscription` with backoff until it is validated or `timeout` has passed.
/// Progress lines go to `err`. Transient errors are reported and polled through.
pub(crate) async fn wait_validated(
    client: &AltinnClient,
    id: i64,
    timeout: Duration,
    err: &mut dyn Write,
) -> Result<WaitOutcome, CommandError> {
    let started = Instant::now();
    let mut delay = FIRST_POLL_DELAY;
    let mut last: Option<Subscription> = None;
    loop {
        match client.get_subscription(id).await {
            Ok(subscription) if subscription.validated => {
                return Ok(WaitOutcome::Validated(subscription));
            }
            Ok(subscription) => {
                let _ = writeln!(
                    err,
                    "subscription {id}: not validated yet ({}s)",
                    started.elapsed().as_secs()
                );
                last = Some(subscription);
            }
            Err(error) if error.status() == Some(404) => {
                return Err(CommandError::Failed(format!("no subscription {id}")));
            }
            Err(error) if error.is_transient() => {
                let _ = writeln!(err, "subscription {id}: {error}; trying again");
            }
            Err(error) => return Err(CommandError::failed(error)),
        }
        let remaining = timeout.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return match last {
                Some(subscription) => Ok(WaitOutcome::TimedOut(subscription)),
                None => Err(CommandError::Failed(format!(
                    "subscription {id}: Altinn did not answer within {}s",
                    timeout.as_secs()
                ))),
            };
        }
        tokio::time::sleep(delay.min(remaining)).await;
        delay = (delay * 2).min(MAX_POLL_DELAY);
    }
}

/// Prints the waited-for subscription; exit 0 when validated, 1 when not.
fn finish_wait(
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
    id: i64,
    timeout: Duration,
    outcome: WaitOutcome,
) -> Result<i32, CommandError> {
    let (subscription, code) = match outcome {
        WaitOutcome::Validated(subscription) => {
            writeln!(err, "subscription {id} is validated").map_err(CommandError::failed)?;
            (subscription, EXIT_OK)
        }
        WaitOutcome::TimedOut(subscription) => {
            writeln!(
                err,
                "subscription {id} is still not validated after {}s: the endpoint must answer \
                 Altinn's validation event with 2xx (see the webhook's logs)",
                timeout.as_secs()
            )
            .map_err(CommandError::failed)?;
            (subscription, EXIT_FAILURE)
        }
    };
    print_views(json, out, &[SubscriptionView::from(&subscription)], false)?;
    Ok(code)
}

/// Prints subscriptions as a table, or as JSON: an array when `as_list`, else the one object.
pub(crate) fn print_views(
    json: bool,
    out: &mut dyn Write,
    views: &[SubscriptionView],
    as_list: bool,
) -> Result<(), CommandError> {
    if json {
        return match views {
            [one] if !as_list => write_json(out, one),
            _ => write_json(out, &views),
        };
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|view| {
            // Correspondence subscriptions share one generic source; their resource is what
            // tells them apart. App subscriptions are recognised by their source (the app URL).
            let filter = match (&view.resource_filter, &view.source_filter) {
                (Some(resource), _) if !resource.starts_with(APP_RESOURCE_PREFIX) => {
                    resource.clone()
                }
                (_, Some(source)) => source.clone(),
                (Some(resource), None) => resource.clone(),
                (None, None) => String::new(),
            };
            vec![
                view.id.to_string(),
                if view.validated { "yes" } else { "no" }.to_owned(),
                view.type_filter.clone().unwrap_or_else(|| "(all)".into()),
                filter,
                view.created.clone().unwrap_or_default(),
                view.end_point.clone(),
            ]
        })
        .collect();
    let text = table::render(
        &[
            "ID",
            "VALIDATED",
            "TYPE FILTER",
            "SOURCE / RESOURCE FILTER",
            "CREATED",
            "ENDPOINT",
        ],
        &rows,
    );
    out.write_all(text.as_bytes()).map_err(CommandError::failed)
}
