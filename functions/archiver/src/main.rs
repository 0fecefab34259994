//! The archiver Lambda: reads its configuration, builds its clients once, then serves SQS
//! batches with partial batch failures. The logic is in the library (`archiver::Archiver`).

use archiver::{Archiver, ArchiverConfig};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

fn main() -> Result<(), Error> {
    lambda_support::logging::init();
    lambda_support::runtime::for_this_process()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    let config = ArchiverConfig::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await?;
    let archiver = Archiver::from_config(&config, &sdk).await?;
    let archiver = &archiver;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = lambda_support::deadline::effective_deadline(
            event.context.deadline,
            std::time::SystemTime::now(),
        );
        Ok::<SqsBatchResponse, Error>(archiver.handle_batch(&event.payload, deadline).await)
    }))
    .await
}
