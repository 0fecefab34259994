//! # archiver
//!
//! The Lambda function that archives completed Altinn app instances: SQS messages carrying
//! CloudEvents in, every data element streamed from Altinn Storage into S3 with its checksum,
//! `instance.json`, the event and a `manifest.json` (written last, conditionally), then
//! Altinn's `complete`. Other events are kept as JSON under their instance or correspondence.
//!
//! - [`handler::Archiver`]: SQS batch → partial batch failures; the entry point for Lambda and
//!   for the local demo runner ([`handler::Archiver::handle_batch`]).
//! - [`pipeline::Pipeline`]: routes each event and runs the archive steps; the one place that
//!   decides what an event leads to.
//! - [`seams`]: the pipeline's two seams, [`seams::AltinnSource`] and [`seams::ArchiveTarget`];
//!   [`memory`] has in-memory implementations for tests.
//! - [`outcome::MessageOutcome`]: what happened to a message, the one outcome type.
//! - [`store::ArchiveStore`]: the bucket (streaming, verified uploads; conditional manifest).
//! - [`layout::ArchiveLayout`]: the keys, with every outside component validated.
//! - [`queue`]: retry or dead letter ([`queue::FailurePolicy`]), the DLQ and visibility backoff.
//! - [`receipt`]: writing back into the instance: the archive receipt (uploaded in the
//!   feedback task) and the substatus.
//! - [`hand_off`]: the events the agency's own systems get on an EventBridge bus.
//! - [`config::ArchiverConfig`]: the environment variables.

pub mod config;
pub mod deadline;
pub mod error;
pub mod follow_up;
pub mod hand_off;
pub mod handler;
pub mod memory;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod queue;
pub mod receipt;
pub mod scan;
pub mod seams;
pub mod store;

/// The key layout and manifest types, shared with the reconciler and the tools.
pub use archive_model::{correspondence, layout, manifest, quarantine};

pub use config::{ArchiverConfig, EventTypeFilter};
pub use deadline::Deadline;
pub use error::{ArchiveError, FailureClass, FailureReason};
pub use handler::{Archiver, BatchReport, MetricLines, StartupError};
pub use layout::ArchiveLayout;
pub use manifest::Manifest;
pub use outcome::{
    ArchiveSummary, CorrespondenceSummary, MessageOutcome, RunStats, WriteBackSummary,
};
pub use pipeline::{Pipeline, ReceivedEvent};
pub use seams::{AltinnSource, ArchiveTarget};
pub use store::ArchiveStore;
