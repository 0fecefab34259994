//! What Altinn's malware scan results (`fileScanResult`) mean for an archive.
//!
//! Storage serves an element's bytes whatever its scan result, and our `complete` lets Altinn
//! delete its copy, so the archiver must decide before it completes:
//!
//! - `Pending`: the archive is not final. The message comes back (see [`pending_scan`] and
//!   [`crate::queue::FailurePolicy`]) until `SCAN_PENDING_MAX_WAIT` has passed since the event,
//!   then it is dead-lettered as `scan_pending`.
//! - `Infected`: the bytes are stored under the instance's `quarantine/`, tagged, and flagged in
//!   the manifest. `INFECTED_POLICY=hold` stops there (dead letter `infected`) until a person
//!   releases the instance with `archive-ops quarantine release`; `archive` completes at once.
//! - `NotApplicable`, `Clean` or no result: archived as before.

use std::time::{Duration, SystemTime};

use altinn::DataElement;
use altinn::instance::FileScanResult;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ArchiveError, FailureReason};

/// `SCAN_PENDING_MAX_WAIT` when unset.
pub const DEFAULT_SCAN_PENDING_MAX_WAIT: Duration = Duration::from_secs(60 * 60);

/// The S3 object tag every quarantined element carries (value: the scan result).
pub const SCAN_TAG: &str = "altinn-file-scan";

/// `INFECTED_POLICY`: what an `Infected` element does to its instance's archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InfectedPolicy {
    /// Quarantine the bytes, write no manifest, send no `complete`; dead-letter as `infected`
    /// until a person releases the instance.
    #[default]
    Hold,
    /// Quarantine the bytes and archive and complete the instance with them flagged.
    Archive,
}

impl InfectedPolicy {
    /// `hold` or `archive`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "hold" => Ok(InfectedPolicy::Hold),
            "archive" => Ok(InfectedPolicy::Archive),
            _ => Err("must be `hold` or `archive`".into()),
        }
    }
}

/// `SCAN_PENDING_MAX_WAIT` and `INFECTED_POLICY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanSettings {
    pub pending_max_wait: Duration,
    pub infected_policy: InfectedPolicy,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            pending_max_wait: DEFAULT_SCAN_PENDING_MAX_WAIT,
            infected_policy: InfectedPolicy::Hold,
        }
    }
}

/// The elements of `archivable` with a scan result of `result`.
pub fn with_result<'a>(
    archivable: &[&'a DataElement],
    result: FileScanResult,
) -> Vec<&'a DataElement> {
    archivable
        .iter()
        .copied()
        .filter(|element| element.file_scan_result == Some(result))
        .collect()
}

/// `Ok` when no element of `archivable` waits for its scan. Otherwise a `scan_pending` error:
/// transient, with the time left of `max_wait` as `retry_after`, while less than `max_wait`
/// has passed since the event's `time` (or, without one, since the pending elements last
/// changed); permanent after that.
pub fn pending_scan(
    archivable: &[&DataElement],
    event_time: Option<&str>,
    max_wait: Duration,
    now: SystemTime,
) -> Result<(), ArchiveError> {
    let pending = with_result(archivable, FileScanResult::Pending);
    if pending.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = pending.iter().map(|e| e.id.as_str()).collect();
    let since = event_time.and_then(parse_time).or_else(|| {
        pending
            .iter()
            .filter_map(|e| e.last_changed.as_deref().or(e.created.as_deref()))
            .filter_map(parse_time)
            .min()
    });
    let now = OffsetDateTime::from(now);
    // Without any time to count from, the wait starts now: the receive count still ends it.
    let waited = since
        .map(|since| Duration::try_from(now - since).unwrap_or(Duration::ZERO))
        .unwrap_or(Duration::ZERO);
    if waited >= max_wait {
        return Err(ArchiveError::permanent(
            FailureReason::ScanPending,
            format!(
                "malware scan still Pending after {} s (SCAN_PENDING_MAX_WAIT {} s): {}",
                waited.as_secs(),
                max_wait.as_secs(),
                ids.join(", ")
            ),
        ));
    }
    let mut error = ArchiveError::transient(
        FailureReason::ScanPending,
        format!("malware scan Pending: {}", ids.join(", ")),
    );
    error.retry_after = Some(max_wait - waited);
    Err(error)
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn element(id: &str, result: &str, last_changed: &str) -> DataElement {
        serde_json::from_value(json!({
            "id": id, "dataType": "attachment", "size": 1,
            "fileScanResult": result, "lastChanged": last_changed,
        }))
        .unwrap()
    }

    fn at(text: &str) -> SystemTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap().into()
    }

    #[test]
    fn policies_parse() {
        assert_eq!(InfectedPolicy::parse("hold"), Ok(InfectedPolicy::Hold));
        assert_eq!(
            InfectedPolicy::parse("Archive"),
            Ok(InfectedPolicy::Archive)
        );
        assert!(InfectedPolicy::parse("delete").is_err());
    }

    #[test]
    fn clean_and_unscanned_elements_wait_for_nothing() {
        let clean = element("a", "Clean", "2026-11-01T10:00:00Z");
        let none = element("b", "NotApplicable", "2026-11-01T10:00:00Z");
        let infected = element("c", "Infected", "2026-11-01T10:00:00Z");
        let now = at("2026-11-01T10:00:00Z");
        let all = [&clean, &none, &infected];
        assert_eq!(pending_scan(&all, None, Duration::ZERO, now), Ok(()));
        assert_eq!(
            with_result(&all, FileScanResult::Infected)
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>(),
            ["c"]
        );
    }

    #[test]
    fn a_pending_scan_is_waited_for_from_the_event_time_then_gives_up() {
        let pending = element("p", "Pending", "2026-11-01T09:00:00Z");
        let hour = Duration::from_secs(3600);
        let event = Some("2026-11-01T10:00:00Z");

        let early = pending_scan(&[&pending], event, hour, at("2026-11-01T10:20:00Z"));
        let early = early.unwrap_err();
        assert!(early.is_transient());
        assert_eq!(early.reason, FailureReason::ScanPending);
        assert_eq!(early.retry_after, Some(Duration::from_secs(40 * 60)));

        let late = pending_scan(&[&pending], event, hour, at("2026-11-01T11:00:00Z"));
        let late = late.unwrap_err();
        assert!(!late.is_transient(), "{late:?}");
        assert!(late.detail.contains("p"), "{}", late.detail);

        // Without an event time, from the element's lastChanged (09:00): an hour has passed.
        let fallback = pending_scan(&[&pending], None, hour, at("2026-11-01T10:00:00Z"));
        assert!(!fallback.unwrap_err().is_transient());
        // An event time from a clock ahead of ours counts as no wait yet.
        let ahead = pending_scan(&[&pending], event, hour, at("2026-11-01T09:59:00Z"));
        assert_eq!(ahead.unwrap_err().retry_after, Some(hour));
    }
}
