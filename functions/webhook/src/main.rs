//! The Lambda entry point: configuration and clients once per process, then one
//! [`Webhook::handle`] call per invocation. All logic lives in the library.

use std::process::ExitCode;

use lambda_http::{Error, Request, service_fn};
use webhook::{StartupError, Webhook, WebhookConfig};

fn main() -> ExitCode {
    lambda_support::logging::init();
    lambda_support::runtime::run(serve())
}

async fn serve() -> ExitCode {
    // A configuration error fails the cold start with one log line naming the variable.
    let webhook = match start().await {
        Ok(webhook) => webhook,
        Err(error) => {
            tracing::error!(error = %error, "start-up failed");
            return ExitCode::FAILURE;
        }
    };

    let webhook = &webhook;
    let served = lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(webhook.handle(request).await)
    }))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// Reads the configuration, loads the secret and builds the SQS client, once per process.
async fn start() -> Result<Webhook, StartupError> {
    let config = WebhookConfig::from_env()?;
    let sdk_config = lambda_support::aws::sdk_config().await?;
    // No warm-up call at start: the only SQS permission the webhook has is SendMessage on its
    // queue (least privilege), so the first event pays for the TLS handshake instead.
    Webhook::from_config(config, &sdk_config).await
}
