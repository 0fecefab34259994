//! What every function of the archive needs on AWS, written once:
//!
//! - [`logging`]: structured logs (JSON when Lambda asks for it), never secrets.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines, metrics with no extra API calls.
//! - [`settings`]: environment variables read through a lookup, errors that name the variable.
//! - [`deadline`]: the invocation deadline, robust to emulators that send a bogus one.
//! - [`aws`]: the SDK configuration (honouring `AWS_ENDPOINT_URL*` for local servers) and
//!   Secrets Manager reads.
//! - [`runtime`]: the tokio runtime, single-threaded up to one vCPU's worth of memory.

pub mod aws;
pub mod deadline;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod runtime;
pub mod settings;
