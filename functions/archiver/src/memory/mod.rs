//! In-memory implementations of the pipeline's seams, for fast tests of its decisions without
//! S3, SQS or an Altinn simulator: [`MemoryAltinn`] (an [`AltinnSource`]) and [`MemoryArchive`]
//! (an [`ArchiveTarget`]), and [`MemorySink`] for the alerts and hand-off events sent out. Both write what they are asked to do into a shared [`Journal`], so a
//! test can check the order of steps (the manifest before `complete`).
//!
//! [`AltinnSource`]: crate::seams::AltinnSource
//! [`ArchiveTarget`]: crate::seams::ArchiveTarget

mod altinn;
mod archive;
mod correspondence;
mod sink;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use altinn::{DownloadFault, MemoryAltinn, Read, Step, StepFault};
pub use archive::{MemoryArchive, MemoryObject};
pub use sink::MemorySink;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the in-memory parts were asked to do, in order: `put {key}`, `delete {key}`,
/// `get_instance {id}`, `instance_events {id}`, `process_history {id}`, `app_metadata {org}/{app}`,
/// `download {dataId}`, and, for what Altinn did, `receipt {id}`,
/// `process_next {id}`, `substatus {id}`, `complete {id}`; for Correspondence
/// `details {sender|recipient} {id}`, `attachment_overview {id}`,
/// `download_sender_attachment {id}`, `download_recipient_attachment {cid} {aid}`.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    fn record(&self, entry: String) {
        lock(&self.0).push(entry);
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<String> {
        lock(&self.0).clone()
    }

    /// How many entries are exactly `entry`.
    pub fn count(&self, entry: &str) -> usize {
        lock(&self.0).iter().filter(|e| *e == entry).count()
    }

    /// The position of the first entry that is exactly `entry`.
    pub fn position(&self, entry: &str) -> Option<usize> {
        lock(&self.0).iter().position(|e| e == entry)
    }
}
