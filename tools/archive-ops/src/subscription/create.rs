//! `subscription create`: checks the filters, builds the endpoint with the webhook secret, and
//! creates the subscription (optionally waiting until Altinn has validated it).
//!
//! App subscriptions (`--app`, `--source-filter`, an app `--resource`) send a source filter
//! and may send an alternative subject. Generic resources (`--resource urn:altinn:resource:…`
//! for anything but an app, e.g. Correspondence) send only resource, subject, type and
//! `includeSubunits`: Altinn refuses the other two filters there with 400. The client picks
//! the token: `altinn:events.subscribe` goes only with a generic resource.

use std::io::Write;

use altinn::auth::ScopeSet;
use altinn::client::SubscriptionRequest;
use altinn::{AltinnConfig, AltinnEnvironment, Secret};
use reconciler::AppId;
use url::Url;

use super::{
    APP_RESOURCE_PREFIX, DEFAULT_WAIT, Identity, MIN_SECRET_CHARS, RESOURCE_PREFIX,
    SubscriptionView, WaitOutcome, build_client, endpoint_with_secret, failed_with_scope_hint,
    finish_wait, parse_endpoint, parse_timeout, print_views, redact_endpoint, wait_validated,
};
use crate::cli::CreateArgs;
use crate::{CommandError, Context, EXIT_OK, UsageError};

/// `subscription create`.
pub(super) async fn create(
    args: &CreateArgs,
    identity: Identity,
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
        return Err(UsageError("--type must not be empty".into()).into());
    }
    let timeout = match &args.timeout {
        Some(text) => parse_timeout(text)?,
        None => DEFAULT_WAIT,
    };
    let config = AltinnConfig::from_lookup(&context.env).map_err(CommandError::failed)?;
    let local = matches!(config.environment, AltinnEnvironment::Local { .. });
    let endpoint = parse_endpoint(endpoint_text, local)?;
    let target = target(args, &config, local)?;
    let generic = matches!(target, Target::Generic { .. });
    if identity == Identity::Organisation && !generic {
        return Err(UsageError(
            "--as-organisation is for generic resources (--resource): app subscriptions \
             belong to the service owner"
                .into(),
        )
        .into());
    }
    let scopes = ScopeSet::for_subscriptions(identity == Identity::Organisation, generic);
    if let Target::Generic { resource, .. } = &target {
        let scopes = scopes.fixed_scopes().unwrap_or_default();
        writeln!(
            err,
            "note: {resource} is a generic resource: no source filter is sent, and the token \
             carries {scopes} (the Maskinporten client must have both)"
        )
        .map_err(CommandError::failed)?;
    }

    let secret = webhook_secret(args.secret_arn.as_deref(), context).await?;
    let end_point = endpoint_with_secret(&endpoint, &secret);
    let type_filter = type_filter.map(str::to_owned);
    let request = match target {
        Target::App {
            source_filter,
            resource_filter,
            alternative_subject_filter,
        } => SubscriptionRequest {
            end_point,
            source_filter,
            resource_filter,
            alternative_subject_filter,
            type_filter,
            ..SubscriptionRequest::default()
        },
        // Never a source or alternative-subject filter: Altinn refuses both (400) here.
        Target::Generic {
            resource,
            subject,
            include_subunits,
        } => SubscriptionRequest {
            end_point,
            resource_filter: Some(resource),
            subject_filter: subject,
            type_filter,
            include_subunits,
            ..SubscriptionRequest::default()
        },
    };
    writeln!(
        err,
        "creating a subscription for {}",
        redact_endpoint(&request.end_point)
    )
    .map_err(CommandError::failed)?;
    let client = identity.client(build_client(&config, context).await?);
    let created = client
        .create_subscription(&request)
        .await
        .map_err(|error| failed_with_scope_hint(error, scopes))?;

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

/// What a subscription is for, checked.
enum Target {
    /// An app of ALTINN_ORG: Altinn derives the resource from the source when absent.
    App {
        source_filter: Option<String>,
        resource_filter: Option<String>,
        alternative_subject_filter: Option<String>,
    },
    /// A generic resource (e.g. Correspondence): only resource, subject, type and subunits.
    Generic {
        resource: String,
        subject: Option<String>,
        include_subunits: bool,
    },
}

/// Checks the filter flags and decides between an app and a generic-resource subscription.
fn target(args: &CreateArgs, config: &AltinnConfig, local: bool) -> Result<Target, UsageError> {
    let resource = args.resource_filter.as_deref().map(str::trim);
    if let Some(resource) = resource
        && (!resource.starts_with(RESOURCE_PREFIX) || resource.len() == RESOURCE_PREFIX.len())
    {
        return Err(UsageError(format!(
            "--resource must look like {RESOURCE_PREFIX}…"
        )));
    }
    let is_generic = resource.is_some_and(|r| !r.starts_with(APP_RESOURCE_PREFIX));
    if let (true, Some(resource)) = (is_generic, resource) {
        if args.app.is_some() || args.source_filter.is_some() {
            return Err(UsageError(format!(
                "--resource {resource} is not an app: leave out --app and --source-filter \
                 (Altinn refuses a source filter for it)"
            )));
        }
        if args.alternative_subject_filter.is_some() {
            return Err(UsageError(
                "--alternative-subject-filter is for apps only (Altinn refuses it for other \
                 resources); use --subject"
                    .into(),
            ));
        }
        let subject = args.subject.as_deref().map(str::trim);
        if subject.is_some_and(|s| !is_urn(s)) {
            return Err(UsageError(
                "--subject must be a URN, e.g. urn:altinn:organization:identifier-no:{orgno}"
                    .into(),
            ));
        }
        return Ok(Target::Generic {
            resource: resource.to_owned(),
            subject: subject.map(str::to_owned),
            include_subunits: args.include_subunits,
        });
    }
    if args.subject.is_some() {
        return Err(UsageError(
            "--subject is for --resource (a generic resource); app subscriptions filter by \
             party with --alternative-subject-filter"
                .into(),
        ));
    }
    let alternative = args.alternative_subject_filter.as_deref().map(str::trim);
    if let Some(subject) = alternative {
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
            ));
        }
    }
    let app: Option<AppId> = args
        .app
        .as_deref()
        .map(|text| text.parse().map_err(|e| UsageError(format!("--app: {e}"))))
        .transpose()?;
    let source_filter = match (&app, args.source_filter.as_deref()) {
        (Some(app), _) => {
            if app.org != config.org {
                return Err(UsageError("--app: the org must be ALTINN_ORG".into()));
            }
            Some(app_source_filter(&config.environment, app)?)
        }
        (None, Some(text)) => Some(parse_source_filter(text, local)?),
        (None, None) => None,
    };
    if source_filter.is_none() && resource.is_none() {
        return Err(UsageError(
            "give --app ORG/APP, --source-filter URL or --resource URN".into(),
        ));
    }
    Ok(Target::App {
        source_filter,
        resource_filter: resource.map(str::to_owned),
        alternative_subject_filter: alternative.map(str::to_owned),
    })
}

/// `urn:` and at least two more non-empty parts, as Altinn reads a URN.
fn is_urn(value: &str) -> bool {
    let mut parts = value.split(':');
    parts.next().is_some_and(|p| p.eq_ignore_ascii_case("urn"))
        && parts.clone().count() >= 2
        && parts.all(|p| !p.is_empty())
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
