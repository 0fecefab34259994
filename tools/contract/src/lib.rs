//! # contract-tests
//!
//! Checks the Altinn client, the simulator and the Altinn crate's models against Altinn's own
//! generated OpenAPI documents: Storage's (`storage-openapi.json`) and the App API's
//! (`app-openapi.json`). The documents are Altinn's (BSD-3-Clause) and are not part of this
//! repository: they are read at test time from the folder named by `ALTINN_CONTRACTS_DIR`
//! (`make contract-test`; see docs/testing.md).
//!
//! | module | what |
//! |---|---|
//! | [`document`] | loading the two documents, finding an operation by method and path template |
//! | [`paths`] | path templates: normalising parameter names, matching a concrete path |
//! | [`schema`] | OpenAPI 3.0 schema → JSON Schema (2020-12), and validators built from it |
//! | [`example`] | example JSON generated from a schema (every field, none, nulls, each enum value) |
//!
//! The tests are in `tests/`: the operations table against the documents, the client's real
//! requests against the table, the simulator's routes and JSON against the documents, and the
//! models against examples derived from the schemas.

pub mod document;
pub mod example;
pub mod paths;
pub mod schema;

pub use altinn::client::{Api, OPERATIONS, Operation};
pub use document::{CONTRACTS_DIR_VAR, Contracts, Document, DocumentOperation};
