//! Section 2, the webhook's warm path: its per-event cost without the network, and events per
//! second through the local HTTP path into SQS against raw `SendMessage`.

use bench::report::{Row, ratio};
use bench::warm;

use crate::{Sizes, failed, note};

/// Section 2: the handler's cost per event, and events per second through HTTP into SQS.
pub async fn rows(sizes: &Sizes) -> Vec<Row> {
    let mut rows = Vec::new();
    note(format!(
        "webhook handler: {} batches of {} events",
        sizes.handler_batches, sizes.handler_batch
    ));
    match warm::handler_cost(sizes.handler_batch, sizes.handler_batches).await {
        Ok(cost) => {
            let micros = cost.median_per_event.as_secs_f64() * 1e6;
            rows.push(Row::new(
                "2. webhook handler per event (no network)",
                format!("{micros:.1} µs"),
                "-",
                "-",
                "< 50 µs",
                Some(micros < 50.0),
            ));
        }
        Err(error) => rows.push(failed("2. webhook handler per event", &error)),
    }
    note(format!(
        "webhook end to end: {} events, {} in flight",
        sizes.e2e_events, sizes.e2e_concurrency
    ));
    let moto = testkit::MotoServer::start().await;
    match warm::end_to_end(&moto, sizes.e2e_events, sizes.e2e_concurrency).await {
        Ok(t) => rows.push(Row::new(
            "2. webhook HTTP -> SQS end to end",
            format!("{:.0} events/s", t.webhook_per_sec),
            format!("{:.0}/s raw SendMessage", t.raw_sqs_per_sec),
            ratio(t.webhook_per_sec, t.raw_sqs_per_sec),
            "-",
            None,
        )),
        Err(error) => rows.push(failed("2. webhook end to end", &error)),
    }
    rows
}
