//! Whole-system test harness: the real webhook (over HTTP) and the real archiver (fed the way
//! Lambda's SQS event source mapping feeds it, through `local-runner`'s library), the Altinn
//! simulator, and a `moto_server` reached through a [`TcpProxy`] that a test can cut and restore
//! to give the S3 and SQS side an outage without losing moto's in-memory state, and an
//! [`HttpGate`] in front of the hand-off bus that refuses requests without losing an answer.
//!
//! The tests live in `tests/`: `security.rs`, `secrets_in_logs.rs`, `iam.rs`, `chaos.rs` and
//! `fuzz_regressions.rs`.

pub mod catch_all;
pub mod gate;
pub mod properties;
pub mod proxy;
pub mod system;

pub use catch_all::CatchAll;
pub use gate::HttpGate;
pub use proxy::TcpProxy;
pub use system::{ChaosSystem, SystemOptions};
