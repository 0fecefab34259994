//! The Lambda entry point: configuration and clients once per process, then one
//! [`ReconcilerFunction::handle`] call per schedule tick. All logic lives in the library.

use std::process::ExitCode;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use reconciler::{ReconcilerConfig, ReconcilerFunction, StartupError};
use serde_json::Value;

fn main() -> ExitCode {
    lambda_support::logging::init();
    lambda_support::runtime::run(serve())
}

async fn serve() -> ExitCode {
    let function = match start().await {
        Ok(function) => function,
        Err(error) => {
            tracing::error!(error = %error, "start-up failed");
            return ExitCode::FAILURE;
        }
    };

    let function = &function;
    let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        function.handle(event).await.map_err(Error::from)
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

async fn start() -> Result<ReconcilerFunction, StartupError> {
    let config = ReconcilerConfig::from_env()?;
    let sdk_config = lambda_support::aws::sdk_config().await?;
    ReconcilerFunction::from_config(&config, &sdk_config).await
}
