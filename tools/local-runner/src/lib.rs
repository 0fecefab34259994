//! # local-runner
//!
//! `archive-local` runs the real webhook and archiver code end to end on one machine:
//!
//! - `archive-local demo`: against the Altinn simulator, with moto_server as S3 and SQS. No AWS
//!   account, no Altinn credentials. This is `make demo`.
//! - `archive-local altinn --app org/app`: against a real Altinn test environment (tt02) with
//!   the user's own Maskinporten client, into a local folder or the user's own bucket, so an
//!   app owner can try the archive on their app before deploying it.
//!
//! Nothing here re-implements the functions: the webhook is [`webhook::Webhook::handle`] served
//! over HTTP ([`webhook_server`]), the archiver is [`archiver::Archiver::handle_batch_with_report`]
//! fed by a stand-in for Lambda's SQS event source mapping ([`event_source`]), and both are
//! built from the same settings the SAM stack gives them ([`settings`], [`system`]).
//!
//! Modules:
//! - [`cli`]: the command line.
//! - [`demo`] and [`altinn_mode`]: the two runs; [`demo_correspondence`] is the demo's
//!   Correspondence part (one correspondence as sender, one as recipient).
//! - [`system`]: queues, bucket, webhook, archiver and event source mapping, wired together.
//! - [`local_aws`]: moto_server and the queues and bucket in it.
//! - [`event_source`]: receive → `SqsEvent` → handler → delete what succeeded.
//! - [`webhook_server`]: the webhook over HTTP, with counters.
//! - [`ledger`]: which events are settled.
//! - [`archive_files`]: listing and copying what was archived.
//! - [`summary`]: the summary and the exit decision.
//! - [`progress`]: time-stamped progress lines.

pub mod altinn_access;
pub mod altinn_mode;
pub mod archive_files;
pub mod cli;
pub mod demo;
pub mod demo_correspondence;
pub mod demo_hand_off;
pub mod error;
pub mod event_source;
pub mod ledger;
pub mod local_aws;
pub mod progress;
pub mod settings;
pub mod summary;
pub mod system;
pub mod webhook_server;

pub use altinn_mode::{AltinnOptions, AltinnOutcome, ArchiveTarget, run_altinn};
pub use demo::{DemoOptions, DemoOutcome, run_demo};
pub use error::RunError;
pub use progress::Progress;
pub use summary::RunSummary;
