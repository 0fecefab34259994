//! # reconciler
//!
//! The scheduled Lambda function that closes the gap events leave: an Altinn app drops an
//! event when publishing it to Altinn Events fails, and Altinn Events dead-letters an event
//! after 12 failed deliveries, so an archive fed by events alone silently misses instances.
//! Every run asks Storage, per configured app, for the instances that are complete and not
//! confirmed by us (the instance query with `process.isComplete=true` and
//! `excludeConfirmedBy={org}`), and enqueues a synthetic `app.instance.process.completed` event
//! for each one that has no `manifest.json` yet. The archiver then treats it like any other
//! event.
//!
//! - [`config::ReconcilerConfig`]: the environment variables.
//! - [`reconcile::Reconciler`]: the query, the archive check and the enqueue, as plain async
//!   functions (the operator CLI's `reconcile` command uses them too).
//! - [`report`]: what a run found, per instance and per app.
//! - [`event`]: the synthetic event and its SQS message.
//! - [`handler::ReconcilerFunction`]: the scheduled entry point and its metrics.

pub mod config;
pub mod event;
pub mod handler;
pub mod reconcile;
pub mod report;

pub use config::{AppId, ReconcilerConfig};
pub use handler::{ReconcilerFunction, RunError, RunSummary, StartupError};
pub use reconcile::{
    AppReport, Finding, InstanceFinding, ReconcileError, Reconciler, RunOptions, StopReason,
};
