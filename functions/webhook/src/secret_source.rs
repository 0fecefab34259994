//! The secrets the webhook accepts right now, and how they follow a rotation.
//!
//! Rotating the webhook secret means a second Altinn subscription with the new secret in its
//! URL while the old subscription still delivers (the endpoint of an Altinn Events
//! subscription cannot be changed). During that overlap both secrets must pass, so:
//!
//! - `WEBHOOK_SECRET` may list several secrets, comma-separated; all of them are accepted
//!   (local runs; a restart is the only way to change them).
//! - `WEBHOOK_SECRET_ARN` accepts the secret's `AWSCURRENT` and, while there is one, its
//!   `AWSPREVIOUS` version. Both are re-read at most every `WEBHOOK_SECRET_REFRESH_SECS`, on
//!   the request path of a warm function, so a rotation needs no redeploy or restart.
//!
//! The refresh never holds up other requests: one request claims it (an atomic flag) and reads
//! Secrets Manager, bounded by [`REFRESH_TIMEOUT`]; concurrent requests keep checking against
//! the secrets loaded before. A failed or weak read keeps the previous secrets and logs a
//! warning that names the ARN and the AWS error code, never a value. The accepted secrets are
//! only ever held as SHA-256 digests inside [`SecretCheck`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use altinn::Secret;
use aws_config::SdkConfig;
use lambda_support::aws::{SecretError, read_secret_stage};

use crate::config::{WebhookConfig, WebhookSecretSource, check_secret_strength};
use crate::handler::StartupError;
use crate::secret_check::SecretCheck;

/// The version stage that holds the secret new subscriptions use.
pub const CURRENT_STAGE: &str = "AWSCURRENT";
/// The version stage that holds the secret the old subscription still uses during a rotation.
pub const PREVIOUS_STAGE: &str = "AWSPREVIOUS";
/// The longest one refresh may take before the request that runs it gives up and keeps the
/// secrets it had; well inside Altinn's 45 s and API Gateway's 30 s.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(3);

/// The secrets accepted now, refreshed from Secrets Manager when the configuration names one.
pub struct AcceptedSecrets {
    check: RwLock<Arc<SecretCheck>>,
    refresher: Option<Refresher>,
}

/// Where and how often the secrets are re-read.
struct Refresher {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    interval: Duration,
    next_due: Mutex<Instant>,
    in_flight: AtomicBool,
}

/// Clears the refresher's in-flight flag however the refresh ends (also when the request that
/// ran it is dropped mid-way), so a cancelled request cannot stop all later refreshes.
struct InFlight<'r>(&'r AtomicBool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl AcceptedSecrets {
    /// Secrets that never change (inline secrets, tests).
    pub fn fixed(check: SecretCheck) -> Self {
        AcceptedSecrets {
            check: RwLock::new(Arc::new(check)),
            refresher: None,
        }
    }

    /// The secrets `config` names: the inline list as it is, or the Secrets Manager secret's
    /// `AWSCURRENT` and `AWSPREVIOUS` versions, re-read every `config.secret_refresh_interval`.
    pub async fn from_config(
        config: &WebhookConfig,
        sdk_config: &SdkConfig,
    ) -> Result<Self, StartupError> {
        match &config.secret {
            WebhookSecretSource::Inline(secrets) => Ok(Self::fixed(SecretCheck::new(secrets))),
            WebhookSecretSource::SecretsManager { arn } => {
                let client = aws_sdk_secretsmanager::Client::new(sdk_config);
                Self::from_secrets_manager(client, arn.clone(), config.secret_refresh_interval)
                    .await
            }
        }
    }

    /// Loads `arn`'s current and previous versions now (failing start-up when the current one
    /// is unreadable or weak) and re-reads them at most every `interval`.
    pub async fn from_secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        arn: String,
        interval: Duration,
    ) -> Result<Self, StartupError> {
        let secrets = load_stages(&client, &arn).await?;
        Ok(AcceptedSecrets {
            check: RwLock::new(Arc::new(SecretCheck::new(&secrets))),
            refresher: Some(Refresher {
                client,
                arn,
                interval,
                next_due: Mutex::new(Instant::now() + interval),
                in_flight: AtomicBool::new(false),
            }),
        })
    }

    /// The secrets to check a request against, refreshed first when the interval has passed
    /// and no other request is refreshing already.
    pub async fn current(&self) -> Arc<SecretCheck> {
        if let Some(refresher) = &self.refresher
            && refresher.is_due()
            && let Some(claim) = refresher.claim()
        {
            self.refresh(refresher).await;
            drop(claim);
        }
        self.snapshot()
    }

    /// How often the secrets are re-read; `None` for fixed secrets.
    pub fn refresh_interval(&self) -> Option<Duration> {
        self.refresher.as_ref().map(|refresher| refresher.interval)
    }

    fn snapshot(&self) -> Arc<SecretCheck> {
        Arc::clone(&self.check.read().unwrap_or_else(PoisonError::into_inner))
    }

    async fn refresh(&self, refresher: &Refresher) {
        let loaded = tokio::time::timeout(
            REFRESH_TIMEOUT,
            load_stages(&refresher.client, &refresher.arn),
        )
        .await;
        match loaded {
            Ok(Ok(secrets)) => {
                let check = Arc::new(SecretCheck::new(&secrets));
                let accepted = check.len();
                *self.check.write().unwrap_or_else(PoisonError::into_inner) = check;
                tracing::debug!(accepted_secrets = accepted, "webhook secrets refreshed");
            }
            Ok(Err(error)) => tracing::warn!(
                error = %error,
                "webhook secret refresh failed; keeping the secrets loaded before"
            ),
            Err(_) => tracing::warn!(
                timeout_ms = u64::try_from(REFRESH_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
                "webhook secret refresh timed out; keeping the secrets loaded before"
            ),
        }
        // Also after a failure: retrying on every request would turn a Secrets Manager
        // outage into a flood of calls and slow every webhook answer.
        *refresher
            .next_due
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now() + refresher.interval;
    }
}

impl Refresher {
    fn is_due(&self) -> bool {
        Instant::now() >= *self.next_due.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn claim(&self) -> Option<InFlight<'_>> {
        self.in_flight
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| InFlight(&self.in_flight))
    }
}

impl fmt::Debug for AcceptedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("AcceptedSecrets");
        debug.field("check", &*self.snapshot());
        if let Some(refresher) = &self.refresher {
            debug
                .field("arn", &refresher.arn)
                .field("refresh_interval", &refresher.interval);
        }
        debug.finish()
    }
}

/// Reads `AWSCURRENT` (required, and strong enough) and `AWSPREVIOUS` (when present). Values
/// are trimmed, since one stored with a trailing newline would otherwise never match. A weak
/// `AWSPREVIOUS` is skipped with a warning instead of failing: it is only the overlap.
pub async fn load_stages(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<Vec<Secret>, StartupError> {
    let current = read_secret_stage(client, arn, CURRENT_STAGE)
        .await?
        .ok_or_else(|| SecretError::NotAString {
            arn: arn.to_owned(),
        })?;
    let current = Secret::new(current.expose().trim());
    check_secret_strength(current.expose()).map_err(StartupError::WeakSecret)?;
    let mut secrets = vec![current];
    if let Some(previous) = read_secret_stage(client, arn, PREVIOUS_STAGE).await? {
        let previous = Secret::new(previous.expose().trim());
        match check_secret_strength(previous.expose()) {
            Ok(()) => secrets.push(previous),
            Err(reason) => tracing::warn!(
                stage = PREVIOUS_STAGE,
                reason = %reason,
                "the previous webhook secret version is unusable and is not accepted"
            ),
        }
    }
    Ok(secrets)
}
