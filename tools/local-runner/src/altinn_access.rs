//! The runner's own Altinn client, built the way the archiver builds its one (same key
//! handling, same allowlist), for what the runner does as the service owner: creating the
//! demo's subscription, finding completed instances, and checking afterwards that Altinn
//! recorded our `complete`.

use altinn::{AltinnClient, AltinnConfig, MaskinportenKeySource, RetryPolicy};

use crate::error::RunError;

/// An Altinn client for `config`. A key in Secrets Manager (`MASKINPORTEN_KEY_SECRET_ARN`) is
/// read with the user's own AWS credentials.
pub async fn altinn_client(
    config: &AltinnConfig,
    retry: &RetryPolicy,
) -> Result<AltinnClient, RunError> {
    let key_text = match &config.maskinporten_key {
        MaskinportenKeySource::Inline(secret) => secret.clone(),
        MaskinportenKeySource::SecretArn(arn) => {
            let sdk = lambda_support::aws::sdk_config()
                .await
                .map_err(|e| RunError::Setup(format!("cannot set up HTTPS: {e}")))?;
            lambda_support::aws::read_secret(&sdk, arn)
                .await
                .map_err(|e| RunError::Setup(format!("MASKINPORTEN_KEY_SECRET_ARN: {e}")))?
        }
    };
    let http = AltinnClient::try_http_client(retry)
        .map_err(|e| RunError::Setup(format!("cannot set up HTTPS: {e}")))?;
    Ok(AltinnClient::from_config(
        config,
        &key_text,
        http,
        retry.clone(),
    )?)
}
