//! # archiver
//!
//! The Lambda function that archives completed Altinn app instances: SQS messages carrying
//! CloudEvents in, every data element streamed from Altinn Storage into S3 with its checksum,
//! `instance.json`, the event and a `manifest.json` (written last, conditionally), then
//! Altinn's `complete`. Other events are kept as JSON under their instance or correspondence.
//!
//! - [`handler::Archiver`]: SQS batch → partial batch failures; the entry point for Lambda and
//!   for the local demo runner ([`handler::Archiver::handle_batch`]).
//! - [`pipeline::Pipeline`]: the archive steps as plain async functions.
//! - [`store::ArchiveStore`]: the bucket (streaming, verified uploads; conditional manifest).
//! - [`layout::ArchiveLayout`]: the keys, with every outside component validated.
//! - [`queue`]: the dead-letter queue and visibility backoff.
//! - [`receipt`]: the optional archive receipt written back into the instance.
//! - [`config::ArchiverConfig`]: the environment variables.

pub mod config;
pub mod deadline;
pub mod error;
pub mod handler;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod receipt;
pub mod store;

/// The key layout and manifest types, shared with the reconciler and the tools.
pub use archive_model::{layout, manifest};

pub use config::{ArchiverConfig, EventTypeFilter};
pub use deadline::Deadline;
pub use error::{ArchiveError, FailureClass, FailureReason};
pub use handler::{Archiver, BatchReport, MessageOutcome, MetricLines, StartupError};
pub use layout::ArchiveLayout;
pub use manifest::Manifest;
pub use pipeline::{
    ArchiveOutcome, ArchiveSummary, EventLocation, EventOutcome, Pipeline, ReceivedEvent, RunStats,
};
pub use store::ArchiveStore;
