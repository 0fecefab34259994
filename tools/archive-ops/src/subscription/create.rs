//! `subscription create`: checks the filters, builds the endpoint with the webhook secret, and
//! creates the subscription (optionally waiting until Altinn has validated it).

use std::io::Write;

use altinn::client::SubscriptionRequest;
use altinn::{AltinnConfig, AltinnEnvironment, Secret};
use reconciler::AppId;
use url::Url;

use super::{
    APP_RESOURCE_PREFIX, DEFAULT_WAIT, EVENTS_SUBSCRIBE_SCOPE, MIN_SECRET_CHARS, RESOURCE_PREFIX,
    SubscriptionView, WaitOutcome, build_client, endpoint_with_secret, finish_wait, parse_endpoint,
    parse_timeout, print_views, redact_endpoint, wait_validated,
};
use crate::cli::CreateArgs;
use crate::{CommandError, Context, EXIT_OK, UsageError};

/// `subscription create`.
pub(super) async fn create(
    args: &CreateArgs,
    json: bool,
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    if !args.stray.is_empty() {
        // Not echoed: a stray word here may well be the secret someone tried to pass.
        return Err(UsageError(
            "create takes no positional arguments (the secret comes from WEBHOOK_SECRET or \
             --secret-arn)"
                .into(),
        )
        .into());
    }
    let endpoint_text = args.endpoint.as_str();
    let type_filter = args.type_filter.as_deref().map(str::trim);
    if type_filter == Some("") {
        // Altinn accepts "" and then silently delivers nothing: an empty type filter matches
        // no event type.
        return Err(UsageError("--type-filter must not be empty".into()).into());
    }
    let resource_filter = args.resource_filter.as_deref().map(str::trim);
    if let Some(resource) = resource_filter
        && (!resource.starts_with(RESOURCE_PREFIX) || resource.len() == RESOURCE_PREFIX.len())
    {
        return Err(UsageError(format!(
            "--resource-filter must look like {RESOURCE_PREFIX}…"
        ))
        .into());
    }
    let alternative_subject = args.alternative_subject_filter.as_deref().map(str::trim);
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
        .app
        .as_deref()
        .map(|text| text.parse().map_err(|e| UsageError(format!("--app: {e}"))))
        .transpose()?;
    if app.is_none() && args.source_filter.is_none() && resource_filter.is_none() {
        return Err(UsageError(
            "give --app ORG/APP, --source-filter URL or --resource-filter URN".into(),
        )
        .into());
    }
    let timeout = match &args.timeout {
        Some(text) => parse_timeout(text)?,
        None => DEFAULT_WAIT,
    };

    let config = AltinnConfig::from_lookup(&context.env).map_err(CommandError::failed)?;
    let local = matches!(config.environment, AltinnEnvironment::Local { .. });
    let endpoint = parse_endpoint(endpoint_text, local)?;
    let source_filter = match (&app, args.source_filter.as_deref()) {
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

    let secret = webhook_secret(args.secret_arn.as_deref(), context).await?;
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

    if !args.wait {
        print_views(json, out, &[SubscriptionView::from(&created)], false)?;
        if !created.validated && !json {
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
    finish_wait(json, out, err, id, timeout, outcome)
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
async fn webhook_secret(
    secret_arn: Option<&str>,
    context: &Context,
) -> Result<Secret, CommandError> {
    let variable = |name: &str| (context.env)(name).filter(|v| !v.trim().is_empty());
    let secret = match (
        secret_arn,
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

#[cfg(test)]
mod tests {
    use super::*;

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
