//! # archive-model
//!
//! What the archive bucket looks like, in one place, for every crate that writes it (the
//! archiver), checks it (the reconciler, `archive-ops archive verify`) or shows it (the local
//! runner). No AWS code: the crates that talk to S3 build their keys here and do the I/O
//! themselves.
//!
//! - [`layout::ArchiveLayout`]: every S3 key and key prefix, with each component that comes
//!   from outside validated before it becomes part of a key.
//! - [`manifest::Manifest`]: `manifest.json`, the last object of an instance's archive and the
//!   list of everything in it with sizes and SHA-256s.
//! - [`correspondence::CorrespondenceManifest`]: a correspondence's `manifest.json`, rebuilt by
//!   every event from what is stored under it, and the attachment overview record.
//! - [`quarantine::QuarantineReview`] and [`quarantine::QuarantineRelease`]: an `Infected`
//!   element held for a person's decision, and that decision.

pub mod correspondence;
pub mod layout;
pub mod manifest;
pub mod quarantine;

pub use correspondence::{ArchiveRole, CorrespondenceManifest};
pub use layout::{ArchiveLayout, KeyError};
pub use manifest::{MANIFEST_VERSION, Manifest, ManifestObject, ObjectRole, SkippedDataElement};
