//! # bench
//!
//! `make bench`: the measurements behind issue 8 (Lambda bills memory × time), each against a
//! baseline measured in the same run on the same machine, printed as one table.
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
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty_inputs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
