//! The six steps of a rotation against Altinn and Secrets Manager, and the endpoint comparisons
//! they rely on (which webhook an endpoint addresses, and which `code` it carries).

use std::io::Write;
use std::time::Duration;

use altinn::client::{Subscription, SubscriptionRequest};
use altinn::{AltinnClient, Secret};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use url::Url;

use super::{
    CURRENT_STAGE, Failure, NEW_SECRET_CHARS, PREVIOUS_STAGE, Rotation, Step, begin, countdown,
    end, human,
};
use crate::subscription::{
    CODE_PARAMETER, WaitOutcome, endpoint_with_secret, redact_endpoint, wait_validated,
};

/// The clients and settings the steps share.
pub(super) struct Steps<'a> {
    pub(super) altinn: &'a AltinnClient,
    pub(super) secrets: &'a aws_sdk_secretsmanager::Client,
    pub(super) endpoint: &'a Url,
    pub(super) refresh_wait: Duration,
    pub(super) timeout: Duration,
}

/// A secret version as read: its value and version id.
struct StageValue {
    secret: Secret,
    version_id: String,
}

impl Steps<'_> {
    /// Runs the six steps; the validated new subscription on success.
    pub(super) async fn run(
        &self,
        rotation: &mut Rotation,
        err: &mut dyn Write,
    ) -> Result<Subscription, Failure> {
        let arn = rotation.arn.clone();
        let old_id = rotation.old_id;

        // 1. The old subscription, the secret's versions, and the other subscriptions.
        let step = Step::ReadOld;
        let fail = Failure::at(step);
        begin(
            err,
            step,
            &format!("reading subscription {old_id} and secret {arn}"),
        );
        let old = match self.altinn.get_subscription(old_id).await {
            Ok(old) => old,
            Err(error) if error.status() == Some(404) => {
                return Err(fail(format!("no subscription {old_id}")));
            }
            Err(error) => return Err(fail(error.to_string())),
        };
        let old_code = check_old_endpoint(&old, self.endpoint).map_err(&fail)?;
        let current = self
            .read_stage(&arn, CURRENT_STAGE)
            .await
            .map_err(&fail)?
            .ok_or_else(|| fail(format!("secret {arn} has no {CURRENT_STAGE} version")))?;
        let previous = self.read_stage(&arn, PREVIOUS_STAGE).await.map_err(&fail)?;
        // `Some(previous version)` when an earlier run already stored the new secret.
        let resume_from = if old_code == current.secret.expose().trim() {
            None
        } else if let Some(previous) =
            previous.filter(|previous| old_code == previous.secret.expose().trim())
        {
            Some(previous)
        } else {
            return Err(fail(format!(
                "subscription {old_id}'s code is neither the {CURRENT_STAGE} nor the \
                 {PREVIOUS_STAGE} value of {arn}, so the webhook already refuses it; this is \
                 not the secret to rotate"
            )));
        };
        let others: Vec<String> = self
            .altinn
            .list_subscriptions()
            .await
            .map_err(|e| fail(e.to_string()))?
            .iter()
            .filter(|s| s.id != old_id && shares_the_secret(s, self.endpoint, &old_code))
            .map(|s| s.id.to_string())
            .collect();
        if !others.is_empty() {
            return Err(fail(format!(
                "subscription(s) {} deliver to the same webhook with the same secret; retiring \
                 it would cut them off, so rotate is refused (replace them by hand as in the \
                 README, or delete them first)",
                others.join(", ")
            )));
        }
        end(
            err,
            step,
            &format!(
                "subscription {old_id}: validated {}, type filter {}, source filter {}, resource \
                 filter {}, endpoint {}",
                if old.validated { "yes" } else { "no" },
                old.type_filter.as_deref().unwrap_or("(all)"),
                old.source_filter.as_deref().unwrap_or("(none)"),
                old.resource_filter.as_deref().unwrap_or("(none)"),
                redact_endpoint(&old.end_point)
            ),
        );

        // 2. The new secret version.
        let step = Step::NewSecret;
        let fail = Failure::at(step);
        let new_secret = if let Some(previous) = resume_from {
            begin(
                err,
                step,
                "the old subscription already uses the AWSPREVIOUS value: continuing an earlier \
                 rotation",
            );
            rotation.old_version = Some(previous.version_id);
            rotation.new_version = Some(current.version_id);
            rotation.secret_rotated = true;
            current.secret
        } else {
            begin(
                err,
                step,
                &format!("storing a new random secret as {CURRENT_STAGE} of {arn}"),
            );
            rotation.old_version = Some(current.version_id.clone());
            let secret = self.random_secret().await.map_err(&fail)?;
            let new_version = self.put_secret(&arn, &secret).await.map_err(&fail)?;
            rotation.new_version = Some(new_version);
            rotation.secret_rotated = true;
            secret
        };
        self.check_stages(rotation, true).await.map_err(&fail)?;
        end(
            err,
            step,
            &format!(
                "{CURRENT_STAGE} is version {}, {PREVIOUS_STAGE} is version {} (the old \
                 subscription's secret); the webhook accepts both once it re-reads them",
                rotation.new_version.as_deref().unwrap_or_default(),
                rotation.old_version.as_deref().unwrap_or_default()
            ),
        );

        // 3. Let every warm webhook re-read the secret.
        let step = Step::WaitRefresh;
        begin(
            err,
            step,
            &format!(
                "waiting {} so warm webhooks accept the new secret (WEBHOOK_SECRET_REFRESH_SECS)",
                human(self.refresh_wait)
            ),
        );
        countdown(err, self.refresh_wait).await;
        end(err, step, "waited");

        // 4. The new subscription, validated.
        let step = Step::CreateNew;
        let fail = Failure::at(step);
        let request = SubscriptionRequest {
            end_point: endpoint_with_secret(self.endpoint, &new_secret),
            source_filter: old.source_filter.clone(),
            resource_filter: old.resource_filter.clone(),
            subject_filter: old.subject_filter.clone(),
            alternative_subject_filter: None,
            type_filter: old.type_filter.clone(),
            include_subunits: old.include_subunits,
        };
        begin(
            err,
            step,
            &format!(
                "creating the new subscription for {} and waiting up to {} for Altinn to \
                 validate it",
                redact_endpoint(&request.end_point),
                human(self.timeout)
            ),
        );
        let created = self
            .altinn
            .create_subscription(&request)
            .await
            .map_err(|e| fail(e.to_string()))?;
        rotation.new_id = Some(created.id);
        let outcome = if created.validated {
            WaitOutcome::Validated(created)
        } else {
            wait_validated(self.altinn, created.id, self.timeout, err)
                .await
                .map_err(|e| fail(e.to_string()))?
        };
        let new = match outcome {
            WaitOutcome::Validated(new) => new,
            WaitOutcome::TimedOut(new) => {
                return Err(Failure {
                    step,
                    message: format!(
                        "subscription {} is still not validated after {}: the webhook must \
                         answer Altinn's validation event with 2xx (401 means it does not \
                         accept the new secret yet; see its logs)",
                        new.id,
                        human(self.timeout)
                    ),
                    subscription: Some(new),
                });
            }
        };
        rotation.new_validated = true;
        end(err, step, &format!("subscription {} is validated", new.id));

        // 5. The old subscription goes.
        let step = Step::DeleteOld;
        let fail = Failure::at(step);
        begin(err, step, &format!("deleting subscription {old_id}"));
        match self.altinn.delete_subscription(old_id).await {
            Ok(()) => end(err, step, &format!("subscription {old_id} deleted")),
            Err(error) if error.status() == Some(404) => {
                end(
                    err,
                    step,
                    &format!("subscription {old_id} was already gone"),
                );
            }
            Err(error) => {
                return Err(Failure {
                    subscription: Some(new),
                    ..fail(error.to_string())
                });
            }
        }
        rotation.old_deleted = true;

        // 6. Only now the old secret stops working.
        let step = Step::RetirePrevious;
        let fail = Failure::at(step);
        let old_version = rotation.old_version.clone().unwrap_or_default();
        begin(
            err,
            step,
            &format!("removing {PREVIOUS_STAGE} from version {old_version}"),
        );
        let retired = async {
            // Someone may have rotated meanwhile; then this is not ours to retire.
            self.check_stages(rotation, true).await?;
            self.secrets
                .update_secret_version_stage()
                .secret_id(&arn)
                .version_stage(PREVIOUS_STAGE)
                .remove_from_version_id(&old_version)
                .send()
                .await
                .map_err(|e| aws_error("UpdateSecretVersionStage", &arn, e))?;
            self.check_stages(rotation, false).await
        }
        .await;
        if let Err(message) = retired {
            return Err(Failure {
                subscription: Some(new),
                ..fail(message)
            });
        }
        rotation.previous_retired = true;
        end(
            err,
            step,
            &format!(
                "version {old_version} retired: the webhook refuses the old code within \
                 WEBHOOK_SECRET_REFRESH_SECS"
            ),
        );
        Ok(new)
    }

    /// One stage's value and version id; `None` when no version has that stage.
    async fn read_stage(&self, arn: &str, stage: &str) -> Result<Option<StageValue>, String> {
        match self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(output) => {
                let (Some(value), Some(version_id)) = (output.secret_string, output.version_id)
                else {
                    return Err(format!(
                        "secret {arn}: the {stage} version has no string value"
                    ));
                };
                Ok(Some(StageValue {
                    secret: Secret::new(value),
                    version_id,
                }))
            }
            Err(error)
                if stage != CURRENT_STAGE
                    && error
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(aws_error("GetSecretValue", arn, error)),
        }
    }

    /// A new secret from Secrets Manager's generator: letters and digits only.
    async fn random_secret(&self) -> Result<Secret, String> {
        let output = self
            .secrets
            .get_random_password()
            .password_length(NEW_SECRET_CHARS)
            .exclude_punctuation(true)
            .include_space(false)
            .require_each_included_type(true)
            .send()
            .await
            .map_err(|e| aws_error("GetRandomPassword", "*", e))?;
        let secret = Secret::new(output.random_password.unwrap_or_default());
        let expected = usize::try_from(NEW_SECRET_CHARS).unwrap_or(usize::MAX);
        let well_formed = secret.expose().len() == expected
            && secret.expose().bytes().all(|b| b.is_ascii_alphanumeric());
        if !well_formed {
            return Err(format!(
                "GetRandomPassword did not return {NEW_SECRET_CHARS} letters and digits"
            ));
        }
        Ok(secret)
    }

    /// Stores `secret` as the new `AWSCURRENT` version; its version id.
    async fn put_secret(&self, arn: &str, secret: &Secret) -> Result<String, String> {
        self.secrets
            .put_secret_value()
            .secret_id(arn)
            // An idempotency token of our own, so an SDK retry cannot store a second version.
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .secret_string(secret.expose())
            .send()
            .await
            .map_err(|e| aws_error("PutSecretValue", arn, e))?
            .version_id
            .ok_or_else(|| format!("PutSecretValue on {arn} returned no version id"))
    }

    /// Checks the stages are where this rotation put them: `AWSCURRENT` on the new version,
    /// and `AWSPREVIOUS` on the old one (`previous_expected`) or on none.
    async fn check_stages(
        &self,
        rotation: &Rotation,
        previous_expected: bool,
    ) -> Result<(), String> {
        let arn = &rotation.arn;
        let listed = self
            .secrets
            .list_secret_version_ids()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| aws_error("ListSecretVersionIds", arn, e))?;
        let holder = |stage: &str| -> Vec<String> {
            listed
                .versions()
                .iter()
                .filter(|v| v.version_stages().iter().any(|s| s == stage))
                .filter_map(|v| v.version_id().map(str::to_owned))
                .collect()
        };
        let current = holder(CURRENT_STAGE);
        let previous = holder(PREVIOUS_STAGE);
        let expected_previous: Vec<String> = if previous_expected {
            rotation.old_version.iter().cloned().collect()
        } else {
            Vec::new()
        };
        let expected_current: Vec<String> = rotation.new_version.iter().cloned().collect();
        if current != expected_current || previous != expected_previous {
            return Err(format!(
                "secret {arn} changed under this rotation: {CURRENT_STAGE} is on {current:?} \
                 (expected {expected_current:?}), {PREVIOUS_STAGE} on {previous:?} (expected \
                 {expected_previous:?}); is another rotation running?"
            ));
        }
        Ok(())
    }
}

/// Checks the old subscription points at `endpoint` (ignoring its `code`) and returns its one
/// `code` value. Errors show endpoints redacted only.
pub(super) fn check_old_endpoint(old: &Subscription, endpoint: &Url) -> Result<String, String> {
    let Ok(url) = Url::parse(&old.end_point) else {
        return Err(format!(
            "subscription {}'s endpoint is not a URL: {}",
            old.id,
            redact_endpoint(&old.end_point)
        ));
    };
    if without_code(&url) != without_code(endpoint) {
        return Err(format!(
            "subscription {} delivers to {}, not to --endpoint {}; refusing to replace it",
            old.id,
            redact_endpoint(&old.end_point),
            redact_endpoint(endpoint.as_str())
        ));
    }
    let codes: Vec<String> = codes(&url);
    match codes.as_slice() {
        [code] => Ok(code.trim().to_owned()),
        _ => Err(format!(
            "subscription {}'s endpoint carries {} code parameters; the webhook needs exactly one",
            old.id,
            codes.len()
        )),
    }
}

/// True when `subscription` delivers to `endpoint` with `code`.
pub(super) fn shares_the_secret(subscription: &Subscription, endpoint: &Url, code: &str) -> bool {
    Url::parse(&subscription.end_point).is_ok_and(|url| {
        without_code(&url) == without_code(endpoint) && codes(&url).iter().any(|c| c.trim() == code)
    })
}

/// The `code` values of `url`'s query (any case, decoded as the webhook decodes them).
fn codes(url: &Url) -> Vec<String> {
    url.query_pairs()
        .filter(|(name, _)| name.eq_ignore_ascii_case(CODE_PARAMETER))
        .map(|(_, value)| value.into_owned())
        .collect()
}

/// What identifies the webhook behind an endpoint: everything but the `code` parameters, with
/// the query decoded so that encoding differences do not matter.
#[derive(Debug, PartialEq, Eq)]
struct WebhookAddress {
    scheme: String,
    host: Option<String>,
    port: Option<u16>,
    path: String,
    query: Vec<(String, String)>,
}

/// `url` without its `code` parameters.
fn without_code(url: &Url) -> WebhookAddress {
    WebhookAddress {
        scheme: url.scheme().to_owned(),
        host: url.host_str().map(str::to_ascii_lowercase),
        port: url.port_or_known_default(),
        path: url.path().to_owned(),
        query: url
            .query_pairs()
            .filter(|(name, _)| !name.eq_ignore_ascii_case(CODE_PARAMETER))
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect(),
    }
}

/// An AWS error: the operation, the ARN and the error code and message (AWS never puts a
/// secret value into these).
fn aws_error<E, R>(operation: &str, arn: &str, error: SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => format!(
            "{operation} on {arn}: {} {}",
            service.code().unwrap_or("service error"),
            service.message().unwrap_or_default()
        ),
        None => format!("{operation} on {arn}: {}", DisplayErrorContext(&error)),
    }
}
