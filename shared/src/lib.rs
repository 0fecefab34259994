//! # altinn
//!
//! Altinn 3 models and clients for service owners: CloudEvents from Altinn Events, the strict
//! parsing of an event's `source` against the environment's host allowlist, Instance and
//! DataElement in both of Altinn's JSON dialects, the Maskinporten JWT grant, the Altinn token
//! exchange, and a client for the Storage, App, Events and Correspondence APIs.
//!
//! The crate knows nothing about AWS; the Lambda functions wire it to S3 and SQS.

pub mod auth;
pub mod client;
pub mod config;
pub mod correspondence;
pub mod environment;
pub mod event;
pub mod instance;
pub mod retry;
pub mod secret;
pub mod tls;

pub use auth::{AltinnToken, AuthError, MaskinportenKey, MaskinportenSettings, TokenProvider};
pub use client::{AltinnClient, ClientError, DataStream, RetryPolicy};
pub use config::{AltinnConfig, ConfigError, MaskinportenKeySource};
pub use correspondence::{
    CorrespondenceMode, CorrespondenceRole, CorrespondenceTopic, RawJson,
    correspondence_event_suffix,
};
pub use environment::{Allowlist, AltinnEnvironment};
pub use event::{CloudEvent, CorrespondenceRef, EventError, EventKind, InstanceRef, SourceError};
pub use instance::{DataElement, Instance, RawInstance};
pub use retry::Backoff;
pub use secret::Secret;
