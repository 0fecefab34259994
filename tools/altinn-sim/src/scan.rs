//! The malware scan result a data element shows (`fileScanResult`). Storage sets `Pending` on
//! create when the data type has `enableFileScan` (else `NotApplicable`) and the scanner later
//! sets `Clean` or `Infected`; Storage's data GET serves the bytes whatever the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// What a seeded element's scan shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SeededScan {
    /// The data type is not scanned.
    #[default]
    NotApplicable,
    /// Scanned, nothing found.
    Clean,
    /// Scanned, malware found (the bytes are still served).
    Infected,
    /// A scan that never finishes.
    Pending,
    /// `Pending` the first `reads` times Storage shows the element (in any instance answer),
    /// `Clean` after that: a scan that finishes while the archiver waits.
    PendingFor { reads: u32 },
}

/// A stored element's scan, counting how often it was shown. Clones share the count (the
/// simulator clones instances for every answer).
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanState {
    scan: SeededScan,
    shown: Arc<AtomicU32>,
}

impl ScanState {
    pub(crate) fn new(scan: SeededScan) -> Self {
        ScanState {
            scan,
            shown: Arc::default(),
        }
    }

    /// The result to show now; counts the read for [`SeededScan::PendingFor`].
    pub(crate) fn show(&self) -> &'static str {
        match self.scan {
            SeededScan::NotApplicable => "NotApplicable",
            SeededScan::Clean => "Clean",
            SeededScan::Infected => "Infected",
            SeededScan::Pending => "Pending",
            SeededScan::PendingFor { reads } => {
                if self.shown.fetch_add(1, Ordering::Relaxed) < reads {
                    "Pending"
                } else {
                    "Clean"
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_scan_turns_clean_after_its_reads_and_clones_share_the_count() {
        let state = ScanState::new(SeededScan::PendingFor { reads: 2 });
        let clone = state.clone();
        assert_eq!(state.show(), "Pending");
        assert_eq!(clone.show(), "Pending");
        assert_eq!(state.show(), "Clean");
        assert_eq!(clone.show(), "Clean");
        assert_eq!(ScanState::new(SeededScan::Infected).show(), "Infected");
        assert_eq!(ScanState::new(SeededScan::Pending).show(), "Pending");
        assert_eq!(ScanState::default().show(), "NotApplicable");
    }
}
