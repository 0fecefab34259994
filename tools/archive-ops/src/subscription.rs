//! `archive-ops subscription create | list | get | delete | wait-validated`: the Altinn Events
//! subscriptions that feed the webhook (reference §6; Correspondence §7.1).
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
//! (§3.3, §3.5: only validated subscriptions receive events), hence `wait-validated`.

use std::io::Write;
use std::time::{Duration, Instant};

use altinn::client::{Subscription, SubscriptionRequest};
use altinn::{AltinnClient, AltinnConfig, AltinnEnvironment, RetryPolicy, Secret};
use reconciler::AppId;
use serde::Serialize;
use url::Url;

use crate::{Args, CommandError, Context, EXIT_FAILURE, EXIT_OK, UsageError, table, write_json};

/// Help for `subscription`.
pub const HELP: &str = "\
archive-ops subscription: manage the Altinn Events subscriptions that feed the webhook

USAGE:
    archive-ops subscription create --endpoint URL (--app ORG/APP | --source-filter URL |
                                    --resource-filter URN) [--type-filter TYPE]
                                    [--alternative-subject-filter SUBJECT] [--secret-arn ARN]
                                    [--wait [--timeout 120s]] [--json]
    archive-ops subscription list [--json]
    archive-ops subscription get ID [--json]
    archive-ops subscription delete ID [--json]
    archive-ops subscription wait-validated ID [--timeout 120s] [--json]
    archive-ops subscription rotate --old-id ID --endpoint URL [--secret-arn ARN]
                                    [--refresh-wait 5m] [--timeout 10m] [--json]

create registers the webhook with Altinn Events. The webhook secret is appended to the
endpoint as the `code` query parameter; it is read from WEBHOOK_SECRET, or from Secrets
Manager (--secret-arn, or WEBHOOK_SECRET_ARN), never from the command line. Every endpoint
is printed with the secret replaced by ***.
A new subscription receives nothing until its endpoint answered Altinn's validation event
with 2xx; wait-validated (or create --wait) polls until then.

rotate replaces the webhook secret (README: Rotating the webhook secret), printing each
step: (1) read subscription --old-id (its filters are copied; its endpoint must be --endpoint
with the current secret), (2) store a new random secret version in Secrets Manager (the old
value stays accepted as AWSPREVIOUS), (3) wait --refresh-wait (default 5m, the webhook's
WEBHOOK_SECRET_REFRESH_SECS) so warm webhooks accept it, (4) create the new subscription and
wait --timeout (default 10m) until Altinn validated it, (5) delete the old subscription,
(6) remove AWSPREVIOUS from the old version. If a step fails nothing more is changed, the
state and how to finish or undo are printed, and running the command again continues.
The secret must be in Secrets Manager (--secret-arn or WEBHOOK_SECRET_ARN).

OPTIONS (create):
    --endpoint URL                 the webhook URL without the secret (the stack's WebhookUrl)
    --app ORG/APP                  subscribe to an app of ALTINN_ORG; the source filter becomes
                                   https://{org}.apps.{domain}/{org}/{app}
    --source-filter URL            an explicit source filter instead of --app
    --resource-filter URN          urn:altinn:resource:... (e.g. a Correspondence resource);
                                   needs altinn:events.subscribe in MASKINPORTEN_SCOPES
    --type-filter TYPE             one exact event type, e.g. app.instance.process.completed
                                   (the archiver only needs that one)
    --alternative-subject-filter S /organisation/{orgno} or /person/{ssn}
    --secret-arn ARN               read the webhook secret from this Secrets Manager secret
    --wait                         then wait until Altinn has validated it
    --timeout DURATION             how long to wait: 90, 90s, 2m (default 120s)
    --json                         JSON on stdout

SETTINGS: ALTINN_ENV, ALTINN_ORG, MASKINPORTEN_* as for the functions; WEBHOOK_SECRET or
WEBHOOK_SECRET_ARN.

EXIT CODES: 0 success (and validated, when waiting), 1 error, id not found or not validated
in time, 2 usage error.
";

/// The webhook refuses shorter secrets (its `check_secret_strength`), so a subscription with
/// one could never be validated.
const MIN_SECRET_CHARS: usize = 16;
/// The query parameter the webhook reads the secret from.
pub(crate) const CODE_PARAMETER: &str = "code";
/// Altinn requires this scope for subscriptions to anything but app events (§2.8, §6.1).
const EVENTS_SUBSCRIBE_SCOPE: &str = "altinn:events.subscribe";
/// Resource filters of app subscriptions start with this (no extra scope needed).
const APP_RESOURCE_PREFIX: &str = "urn:altinn:resource:app_";
/// Every resource filter starts with this.
const RESOURCE_PREFIX: &str = "urn:altinn:resource:";
/// Default for `--timeout`: Altinn re-sends a failed validation after 1, 5, 10 and 30 s, then
/// every minute or two (§3.5), so two minutes covers a webhook that was briefly unavailable.
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
    /// `/party/{id}`, when set.
    pub subject_filter: Option<String>,
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
            consumer: subscription.consumer.clone(),
            created: subscription.created.clone(),
            end_point: redact_endpoint(&subscription.end_point),
        }
    }
}

/// `endpoint` with the value of every `code` query parameter (any case) and any URL password
/// replaced by `***`. Text that is not a URL keeps only what precedes its query.
pub fn redact_endpoint(endpoint: &str) -> String {
    let Ok(mut url) = Url::parse(endpoint) else {
        return match endpoint.split_once('?') {
            Some((base, _)) => format!("{base}?***"),
            None => endpoint.to_owned(),
        };
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have credentials, which this one evidently can.
        let _ = url.set_password(Some("***"));
    }
    if let Some(query) = url.query() {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                let raw_name = pair.split_once('=').map_or(pair, |(name, _)| name);
                let is_code = url::form_urlencoded::parse(raw_name.as_bytes())
                    .next()
                    .is_some_and(|(name, _)| name.eq_ignore_ascii_case(CODE_PARAMETER));
                if is_code {
                    format!("{raw_name}=***")
                } else {
                    pair.to_owned()
                }
            })
            .collect();
        url.set_query(Some(&pairs.join("&")));
    }
    url.into()
}

/// The endpoint Altinn will push to: `endpoint` with `code={secret}` appended,
/// form-urlencoded exactly as the webhook decodes it. The result is a credential.
pub fn endpoint_with_secret(endpoint: &Url, secret: &Secret) -> String {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair(CODE_PARAMETER, secret.expose());
    url.into()
}

/// Checks `--endpoint`: absolute https (http too for `local`, where the simulator pushes to
/// loopback), no credentials, no fragment, and no `code` yet. Errors never echo the value.
pub fn parse_endpoint(text: &str, allow_http: bool) -> Result<Url, UsageError> {
    let url = Url::parse(text.trim())
        .map_err(|_| UsageError("--endpoint must be an absolute URL".into()))?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    if !scheme_ok || url.host_str().is_none() {
        return Err(UsageError(if allow_http {
            "--endpoint must be an http(s) URL with a host".into()
        } else {
            "--endpoint must be an https URL (Altinn pushes only to https)".into()
        }));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(UsageError(
            "--endpoint must not carry user information or a fragment".into(),
        ));
    }
    if url
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case(CODE_PARAMETER))
    {
        return Err(UsageError(
            "--endpoint must not carry code=: the secret comes from WEBHOOK_SECRET or \
             --secret-arn, never from the command line"
                .into(),
        ));
    }
    Ok(url)
}

/// Parses `--timeout`: whole seconds, optionally with `s`, `m` or `h`.
pub fn parse_timeout(text: &str) -> Result<Duration, UsageError> {
    parse_duration("timeout", text)
}

/// Parses the duration flag `--{flag}`: whole seconds, optionally with `s`, `m` or `h`.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration, UsageError> {
    let error = || UsageError(format!("--{flag} must look like 90, 90s, 2m or 1h"));
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number.parse().map_err(|_| error())?;
    let seconds = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        _ => None,
    }
    .ok_or_else(error)?;
    Ok(Duration::from_secs(seconds))
}

/// Runs `subscription …`.
pub async fn command(
    rest: &[&str],
    args: &Args,
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    if args.has("help") || rest.is_empty() {
        return crate::print_help(out, HELP, args.has("help"));
    }
    match rest {
        ["create"] => create(args, context, out, err).await,
        // Not echoed: a stray word here may well be the secret someone tried to pass.
        ["create", ..] => Err(UsageError(
            "create takes no positional arguments (the secret comes from WEBHOOK_SECRET or \
             --secret-arn)"
                .into(),
        )
        .into()),
        ["list"] => {
            args.only(&[])?;
            let (_, client) = altinn_client(context).await?;
            let subscriptions = client
                .list_subscriptions()
                .await
                .map_err(CommandError::failed)?;
            let views: Vec<SubscriptionView> =
                subscriptions.iter().map(SubscriptionView::from).collect();
            print_views(args, out, &views, true)?;
            if !args.has("json") {
                writeln!(out, "{} subscription(s)", views.len()).map_err(CommandError::failed)?;
            }
            Ok(EXIT_OK)
        }
        ["get", id] => {
            args.only(&[])?;
            let id = parse_id(id)?;
            let (_, client) = altinn_client(context).await?;
            match client.get_subscription(id).await {
                Ok(subscription) => {
                    print_views(args, out, &[SubscriptionView::from(&subscription)], false)?;
                    Ok(EXIT_OK)
                }
                Err(error) => not_found_or_failed(error, id, err),
            }
        }
        ["delete", id] => {
            args.only(&[])?;
            let id = parse_id(id)?;
            let (_, client) = altinn_client(context).await?;
            match client.delete_subscription(id).await {
                Ok(()) => {
                    if args.has("json") {
                        write_json(out, &serde_json::json!({ "deleted": id }))?;
                    } else {
                        writeln!(out, "deleted subscription {id}").map_err(CommandError::failed)?;
                    }
                    Ok(EXIT_OK)
                }
                Err(error) => not_found_or_failed(error, id, err),
            }
        }
        ["rotate"] => crate::rotate::command(args, context, out, err).await,
        ["rotate", ..] => Err(UsageError(
            "rotate takes no positional arguments (the subscription is --old-id ID)".into(),
        )
        .into()),
        ["wait-validated", id] => {
            args.only(&["timeout"])?;
            let id = parse_id(id)?;
            let timeout = match args.value("timeout")? {
                Some(text) => parse_timeout(text)?,
                None => DEFAULT_WAIT,
            };
            let (_, client) = altinn_client(context).await?;
            let outcome = wait_validated(&client, id, timeout, err).await?;
            finish_wait(args, out, err, id, timeout, outcome)
        }
        [other, ..] => Err(UsageError(format!(
            "unknown subscription command {other} (create, list, get, delete, wait-validated, rotate)"
        ))
        .into()),
        [] => Err(UsageError("subscription needs a command".into()).into()),
    }
}

/// `subscription create`.
async fn create(
    args: &Args,
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    args.only(&[
        "endpoint",
        "app",
        "source-filter",
        "resource-filter",
        "type-filter",
        "alternative-subject-filter",
        "secret-arn",
        "wait",
        "timeout",
    ])?;
    let endpoint_text = args
        .value("endpoint")?
        .ok_or_else(|| UsageError("--endpoint URL is required".into()))?;
    let type_filter = args.value("type-filter")?.map(str::trim);
    if type_filter == Some("") {
        // Altinn accepts "" and then silently delivers nothing (§3.6).
        return Err(UsageError("--type-filter must not be empty".into()).into());
    }
    let resource_filter = args.value("resource-filter")?.map(str::trim);
    if let Some(resource) = resource_filter
        && (!resource.starts_with(RESOURCE_PREFIX) || resource.len() == RESOURCE_PREFIX.len())
    {
        return Err(UsageError(format!(
            "--resource-filter must look like {RESOURCE_PREFIX}…"
        ))
        .into());
    }
    let alternative_subject = args.value("alternative-subject-filter")?.map(str::trim);
    if let Some(subject) = alternative_subject {
        let well_formed = ["/org/", "/organisation/", "/person/"]
            .iter()
            .any(|prefix| {
                subject.strip_prefix(prefix).is_some_and(|number| {
                    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
                })
            });
        if !well_formed {
            return Err(UsageError(
                "--alternative-subject-filter must be /organisation/{orgno}, /org/{orgno} or \
                 /person/{ssn}"
                    .into(),
            )
            .into());
        }
    }
    let app: Option<AppId> = args
        .value("app")?
        .map(|text| text.parse().map_err(|e| UsageError(format!("--app: {e}"))))
        .transpose()?;
    if app.is_some() && args.has("source-filter") {
        return Err(UsageError("give --app or --source-filter, not both".into()).into());
    }
    if app.is_none() && !args.has("source-filter") && resource_filter.is_none() {
        return Err(UsageError(
            "give --app ORG/APP, --source-filter URL or --resource-filter URN".into(),
        )
        .into());
    }
    let timeout = match args.value("timeout")? {
        Some(_) if !args.has("wait") => {
            return Err(UsageError("--timeout only goes with --wait".into()).into());
        }
        Some(text) => parse_timeout(text)?,
        None => DEFAULT_WAIT,
    };

    let config = AltinnConfig::from_lookup(&context.env).map_err(CommandError::failed)?;
    let local = matches!(config.environment, AltinnEnvironment::Local { .. });
    let endpoint = parse_endpoint(endpoint_text, local)?;
    let source_filter = match (&app, args.value("source-filter")?) {
        (Some(app), _) => {
            if app.org != config.org {
                return Err(UsageError("--app: the org must be ALTINN_ORG".into()).into());
            }
            Some(app_source_filter(&config.environment, app)?)
        }
        (None, Some(text)) => Some(parse_source_filter(text, local)?),
        (None, None) => None,
    };
    if let Some(resource) = resource_filter
        && !resource.starts_with(APP_RESOURCE_PREFIX)
    {
        writeln!(
            err,
            "note: {resource} is not an app resource; Altinn only accepts the subscription \
             with the {EVENTS_SUBSCRIBE_SCOPE} scope (MASKINPORTEN_SCOPES)"
        )
        .map_err(CommandError::failed)?;
        let has_scope = config
            .maskinporten_scopes
            .split_whitespace()
            .any(|scope| scope == EVENTS_SUBSCRIBE_SCOPE);
        if !has_scope {
            return Err(UsageError(format!(
                "--resource-filter: add {EVENTS_SUBSCRIBE_SCOPE} to MASKINPORTEN_SCOPES (and to \
                 the Maskinporten client)"
            ))
            .into());
        }
    }

    let secret = webhook_secret(args, context).await?;
    let request = SubscriptionRequest {
        end_point: endpoint_with_secret(&endpoint, &secret),
        source_filter,
        resource_filter: resource_filter.map(str::to_owned),
        subject_filter: None,
        alternative_subject_filter: alternative_subject.map(str::to_owned),
        type_filter: type_filter.map(str::to_owned),
    };
    writeln!(
        err,
        "creating a subscription for {}",
        redact_endpoint(&request.end_point)
    )
    .map_err(CommandError::failed)?;
    let client = build_client(&config, context).await?;
    let created = client
        .create_subscription(&request)
        .await
        .map_err(CommandError::failed)?;

    if !args.has("wait") {
        print_views(args, out, &[SubscriptionView::from(&created)], false)?;
        if !created.validated && !args.has("json") {
            writeln!(
                out,
                "not validated yet: run `archive-ops subscription wait-validated {}`",
                created.id
            )
            .map_err(CommandError::failed)?;
        }
        return Ok(EXIT_OK);
    }
    let id = created.id;
    let outcome = if created.validated {
        WaitOutcome::Validated(created)
    } else {
        wait_validated(&client, id, timeout, err).await?
    };
    finish_wait(args, out, err, id, timeout, outcome)
}

/// The app's source filter: `{apps_url(org)}{org}/{app}`, i.e.
/// `https://{org}.apps.{domain}/{org}/{app}` (no trailing slash: Altinn wants the path to be
/// exactly `/{org}/{app}`).
fn app_source_filter(environment: &AltinnEnvironment, app: &AppId) -> Result<String, UsageError> {
    environment
        .apps_url(&app.org)
        .join(&format!("{}/{}", app.org, app.app))
        .map(String::from)
        .map_err(|_| UsageError("--app: cannot build the app's URL".into()))
}

/// `--source-filter`: an absolute https URL (http too for `local`).
fn parse_source_filter(text: &str, allow_http: bool) -> Result<String, UsageError> {
    let url = Url::parse(text.trim())
        .map_err(|_| UsageError("--source-filter must be an absolute URL".into()))?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    if !scheme_ok || url.host_str().is_none() {
        return Err(UsageError("--source-filter must be an https URL".into()));
    }
    Ok(url.into())
}

/// The webhook secret: `--secret-arn`, else `WEBHOOK_SECRET` or `WEBHOOK_SECRET_ARN` (the
/// webhook's own variables; setting both is refused, as the webhook does). Trimmed, as the
/// webhook trims what it reads, and at least [`MIN_SECRET_CHARS`] long.
async fn webhook_secret(args: &Args, context: &Context) -> Result<Secret, CommandError> {
    let variable = |name: &str| (context.env)(name).filter(|v| !v.trim().is_empty());
    let secret = match (
        args.value("secret-arn")?,
        variable("WEBHOOK_SECRET"),
        variable("WEBHOOK_SECRET_ARN"),
    ) {
        (Some(arn), _, _) => read_secret(context, arn.trim()).await?,
        (None, Some(value), None) => Secret::new(value.trim()),
        (None, None, Some(arn)) => read_secret(context, arn.trim()).await?,
        (None, Some(_), Some(_)) => {
            return Err(UsageError(
                "set either WEBHOOK_SECRET or WEBHOOK_SECRET_ARN, not both".into(),
            )
            .into());
        }
        (None, None, None) => {
            return Err(UsageError(
                "set WEBHOOK_SECRET or give --secret-arn ARN (or WEBHOOK_SECRET_ARN); the \
                 secret is never taken from the command line"
                    .into(),
            )
            .into());
        }
    };
    if secret.expose().chars().count() < MIN_SECRET_CHARS {
        return Err(UsageError(format!(
            "the webhook secret must be at least {MIN_SECRET_CHARS} characters (the webhook \
             refuses shorter ones)"
        ))
        .into());
    }
    Ok(secret)
}

/// Reads a Secrets Manager secret; the error names the ARN and the AWS error, never a value.
async fn read_secret(context: &Context, arn: &str) -> Result<Secret, CommandError> {
    lambda_support::aws::read_secret(&context.sdk, arn)
        .await
        .map(|stored| Secret::new(stored.expose().trim()))
        .map_err(CommandError::failed)
}

/// The Altinn configuration and client, built as the functions build theirs.
async fn altinn_client(context: &Context) -> Result<(AltinnConfig, AltinnClient), CommandError> {
    let config = AltinnConfig::from_lookup(&context.env).map_err(CommandError::failed)?;
    let client = build_client(&config, context).await?;
    Ok((config, client))
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
    Err(CommandError::failed(error))
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
    args: &Args,
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
    print_views(args, out, &[SubscriptionView::from(&subscription)], false)?;
    Ok(code)
}

/// Prints subscriptions as a table, or as JSON: an array when `as_list`, else the one object.
pub(crate) fn print_views(
    args: &Args,
    out: &mut dyn Write,
    views: &[SubscriptionView],
    as_list: bool,
) -> Result<(), CommandError> {
    if args.has("json") {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_code_value_and_passwords() {
        assert_eq!(
            redact_endpoint("https://hook.example/events?code=s3cr%2Bet"),
            "https://hook.example/events?code=***"
        );
        assert_eq!(
            redact_endpoint("https://hook.example/e?a=1&Code=x&b=2&code=y"),
            "https://hook.example/e?a=1&Code=***&b=2&code=***"
        );
        assert_eq!(
            redact_endpoint("https://user:pw@hook.example/e"),
            "https://user:***@hook.example/e"
        );
        assert_eq!(
            redact_endpoint("https://hook.example/e"),
            "https://hook.example/e"
        );
        assert_eq!(redact_endpoint("not a url?code=x"), "not a url?***");
    }

    #[test]
    fn the_secret_is_form_encoded_as_the_webhook_decodes_it() {
        let endpoint = parse_endpoint("https://hook.example/events?x=1", false).unwrap();
        let secret = Secret::new("a+b/c=d&e f%g-long-enough");
        let full = endpoint_with_secret(&endpoint, &secret);
        let url = Url::parse(&full).unwrap();
        let codes: Vec<String> = url
            .query_pairs()
            .filter(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_eq!(codes, [secret.expose()]);
        assert_eq!(url.query_pairs().count(), 2);
        assert!(!redact_endpoint(&full).contains("long-enough"));
    }

    #[test]
    fn endpoints_must_be_https_without_a_code() {
        assert!(parse_endpoint("https://hook.example/events", false).is_ok());
        assert!(parse_endpoint("http://127.0.0.1:9/events", false).is_err());
        assert!(parse_endpoint("http://127.0.0.1:9/events", true).is_ok());
        assert!(parse_endpoint("https://hook.example/e?code=x", false).is_err());
        assert!(parse_endpoint("https://u:p@hook.example/e", false).is_err());
        assert!(parse_endpoint("hook.example/e", false).is_err());
        let error = parse_endpoint("https://hook.example/e?code=topsecret", false).unwrap_err();
        assert!(!error.0.contains("topsecret"));
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("120s").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "s", "5x", "-1s", "1.5s"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn app_source_filters_follow_the_environment() {
        let app: AppId = "ttd/my-app".parse().unwrap();
        let tt02 = AltinnEnvironment::parse("tt02", None, None).unwrap();
        assert_eq!(
            app_source_filter(&tt02, &app).unwrap(),
            "https://ttd.apps.tt02.altinn.no/ttd/my-app"
        );
    }
}
