//! # webhook
//!
//! The Lambda function that receives Altinn Events' webhook calls (one CloudEvent per `POST`,
//! [Altinn Events](https://github.com/Altinn/altinn-events)) behind an API Gateway HTTP API (payload v2), a REST API (v1) or a Lambda
//! function URL, checks them, and puts the ones we handle on SQS for the archiver.
//!
//! - [`config`] reads the environment variables and checks them at start-up.
//! - [`secret_check`] compares the `code` query parameter in constant time.
//! - [`secret_source`] holds the accepted secrets and refreshes them during a rotation.
//! - [`event_filter`] is `EVENT_TYPES`.
//! - `correspondence_check` decides which Correspondence events are ours (source, and the
//!   subject or resource for `CORRESPONDENCE_ROLE`).
//! - [`problem`] builds the `application/problem+json` answers.
//! - [`queue`] holds the [`EventQueue`] port and its SQS adapter.
//! - [`handler`] holds [`Webhook::handle`], the whole decision for one request; the checks
//!   that need only the request (size, content type, what SQS can carry) are in `request_checks`.
//!
//! `main.rs` only wires these together; the local demo serves [`Webhook::handle`] over HTTP.
//!
//! ## Running it locally with cargo-lambda
//!
//! `[package.metadata.lambda.env]` in this crate's `Cargo.toml` points the function at a
//! `moto_server` on `127.0.0.1:5000` with a queue named `altinn-events`, for org `ttd` on tt02
//! with the secret `local-demo-secret`; the samples in `events/` are written for those values.
//!
//! ```text
//! .tools/venv/bin/moto_server -H 127.0.0.1 -p 5000 &
//! aws --endpoint-url http://127.0.0.1:5000 --region eu-north-1 sqs create-queue --queue-name altinn-events
//! cargo lambda watch                      # serves the Runtime API on :9000, builds on first call
//! cargo lambda invoke webhook --data-file events/webhook-completed.json      # 200, enqueued
//! cargo lambda invoke webhook --data-file events/webhook-wrong-secret.json   # 401
//! cargo lambda watch --env-file events/correspondence-sender.env            # as a Correspondence sender
//! cargo lambda invoke webhook --data-file events/webhook-correspondence-sender.json  # 200, enqueued
//! curl -X POST 'http://127.0.0.1:9000/lambda-url/webhook/events?code=local-demo-secret' \
//!      -H 'content-type: application/json' -d @my-event.json                # function-URL style
//! ```

pub mod config;
mod correspondence_check;
pub mod event_filter;
pub mod handler;
pub mod problem;
pub mod queue;
mod request_checks;
pub mod secret_check;
pub mod secret_source;

pub use config::{WebhookConfig, WebhookSecretSource};
pub use event_filter::EventTypeFilter;
pub use handler::{MAX_BODY_BYTES, MetricLines, StartupError, Webhook};
pub use problem::Problem;
pub use queue::{EnqueueError, EventQueue, QueueMessage, SqsEventQueue};
pub use secret_check::{CodeCheck, SecretCheck};
pub use secret_source::AcceptedSecrets;
