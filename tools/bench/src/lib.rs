//! # bench
//!
//! `make bench`: the performance measurements (Lambda bills memory × time), each against a
//! baseline measured in the same run on the same machine, printed as one table. The method and
//! the current table are in docs/benchmarks.md.
//!
//! - [`warm`]: the webhook's per-event cost without the network, and events per second through
//!   the local HTTP path into SQS against raw `SendMessage`.
//! - [`archive`]: streaming archives (one big element, many small ones) from the Altinn
//!   simulator into S3 in a child process (for its peak RSS) against `aws s3 cp`, and the
//!   scaling of archive time with the number of elements.
//! - [`cold`]: cold start of the function binaries under a minimal Runtime API emulator,
//!   against a hello-world `lambda_http` function built with the same profile.
//! - [`s3server`]: the S3 server of the archive sections (moto or s3s-fs).
//! - [`report`]: the table.
//!
//! Nothing here runs under `cargo test` except small unit tests of the arithmetic and parsing.

pub mod archive;
pub mod cold;
pub mod report;
pub mod rss;
pub mod s3server;
pub mod warm;

/// The webhook's `MemorySize` in `template.yaml`. The bench starts it with the memory size it is
/// deployed with, since that picks its runtime (`lambda_support::runtime`).
pub const WEBHOOK_MEMORY_MB: u32 = 128;

/// The default of `ArchiverMemorySize` in `template.yaml`, for the same reason.
pub const ARCHIVER_MEMORY_MB: u32 = 512;

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line after `key:` in the template that starts with `field:`, trimmed of both.
    fn template_value(template: &str, key: &str, field: &str) -> Option<String> {
        let mut lines = template.lines().skip_while(|line| line.trim() != key);
        lines.find_map(|line| line.trim().strip_prefix(field).map(|v| v.trim().to_owned()))
    }

    #[test]
    fn memory_sizes_match_the_template() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let template = std::fs::read_to_string(path).expect("template.yaml");
        assert_eq!(
            template_value(&template, "WebhookFunction:", "MemorySize:"),
            Some(WEBHOOK_MEMORY_MB.to_string())
        );
        assert_eq!(
            template_value(&template, "ArchiverMemorySize:", "Default:"),
            Some(ARCHIVER_MEMORY_MB.to_string())
        );
    }

    #[test]
    fn median_of_odd_even_and_empty_inputs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
