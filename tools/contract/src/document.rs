//! Altinn's two OpenAPI documents, read from `ALTINN_CONTRACTS_DIR`, and look-ups in them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::paths::{match_score, normalise};
use crate::schema::{self, SchemaError};
use crate::{Api, Operation};

/// The variable naming the folder with `storage-openapi.json` and `app-openapi.json`.
pub const CONTRACTS_DIR_VAR: &str = "ALTINN_CONTRACTS_DIR";

/// The prefix of every Storage path on the platform host; the Storage document's paths are
/// relative to it (its `servers` end with it).
pub const STORAGE_PREFIX: &str = "/storage/api/v1";

/// Both documents.
#[derive(Debug)]
pub struct Contracts {
    /// Platform Storage's document.
    pub storage: Document,
    /// The App API's document.
    pub app: Document,
}

impl Contracts {
    /// Reads both documents from `ALTINN_CONTRACTS_DIR` (a relative path is taken from the
    /// repository root).
    ///
    /// # Panics
    /// When the variable is unset or empty, or a file is missing or not JSON: the message names
    /// the variable and the path, since without the documents no contract can be checked.
    pub fn load() -> Contracts {
        Self::from_env().unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Contracts::load`] without the panic.
    pub fn from_env() -> Result<Contracts, String> {
        let dir = std::env::var_os(CONTRACTS_DIR_VAR)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                format!(
                    "{CONTRACTS_DIR_VAR} is not set: point it at the folder with Altinn's OpenAPI \
                     documents (storage-openapi.json, app-openapi.json), e.g. \
                     {CONTRACTS_DIR_VAR}=../shared/altinn-contracts"
                )
            })?;
        let dir = PathBuf::from(dir);
        // Tests run in their crate's folder; a relative path means one from the repository
        // root, where `make contract-test` and `.ci/run` are run.
        let dir = if dir.is_relative() {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(dir)
        } else {
            dir
        };
        Self::from_dir(&dir)
    }

    /// Reads both documents from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Contracts, String> {
        if !dir.is_dir() {
            return Err(format!(
                "{CONTRACTS_DIR_VAR}={} is not a folder: it must hold Altinn's OpenAPI documents \
                 (storage-openapi.json, app-openapi.json)",
                dir.display()
            ));
        }
        Ok(Contracts {
            storage: Document::read(Api::Storage, &dir.join("storage-openapi.json"))?,
            app: Document::read(Api::App, &dir.join("app-openapi.json"))?,
        })
    }

    /// The document of `api`.
    pub fn document(&self, api: Api) -> &Document {
        match api {
            Api::Storage => &self.storage,
            Api::App => &self.app,
        }
    }

    /// Which API a path on the simulator's one host belongs to, and the path relative to that
    /// API's document: Storage paths lose [`STORAGE_PREFIX`]; Authentication, Maskinporten and
    /// Events paths (no document) are `None`.
    pub fn api_of(path: &str) -> Option<(Api, &str)> {
        if let Some(rest) = path.strip_prefix(STORAGE_PREFIX) {
            return Some((Api::Storage, rest));
        }
        let first = path.trim_start_matches('/').split('/').next()?;
        match first {
            "storage" | "authentication" | "maskinporten" | "events" | "" => None,
            _ => Some((Api::App, path)),
        }
    }
}

/// One OpenAPI document.
#[derive(Debug)]
pub struct Document {
    /// Which API it describes.
    pub api: Api,
    /// Where it was read from.
    pub path: PathBuf,
    /// The whole document.
    pub json: Value,
}

/// An operation of a document: its path template as the document writes it, and its object.
#[derive(Debug, Clone, Copy)]
pub struct DocumentOperation<'a> {
    /// The path template as in the document.
    pub path: &'a str,
    /// The lower-case method key.
    pub method: &'a str,
    /// The operation object.
    pub json: &'a Value,
}

impl DocumentOperation<'_> {
    /// The names of its query parameters.
    pub fn query_parameters(&self) -> Vec<&str> {
        self.json["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|parameter| parameter["in"] == "query")
            .filter_map(|parameter| parameter["name"].as_str())
            .collect()
    }

    /// The status codes it documents, as written (`"200"`, `"201"`, …).
    pub fn statuses(&self) -> Vec<&str> {
        self.json["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(status, _)| status.as_str())
            .collect()
    }
}

impl Document {
    fn read(api: Api, path: &Path) -> Result<Document, String> {
        let text = std::fs::read(path).map_err(|error| {
            format!(
                "{CONTRACTS_DIR_VAR}: cannot read {}: {error} (the folder must hold Altinn's \
                 OpenAPI documents storage-openapi.json and app-openapi.json)",
                path.display()
            )
        })?;
        let json: Value = serde_json::from_slice(&text)
            .map_err(|error| format!("{}: not JSON: {error}", path.display()))?;
        if json["paths"].as_object().is_none() {
            return Err(format!(
                "{}: not an OpenAPI document (no paths)",
                path.display()
            ));
        }
        Ok(Document {
            api,
            path: path.to_owned(),
            json,
        })
    }

    /// The operation at `method` and `template` (parameter names ignored), if documented.
    pub fn operation(&self, method: &str, template: &str) -> Option<DocumentOperation<'_>> {
        let wanted = normalise(template);
        let method = method.to_ascii_lowercase();
        self.json["paths"]
            .as_object()?
            .iter()
            .find(|(path, _)| normalise(path) == wanted)
            .and_then(|(path, item)| {
                let (method, json) = item.as_object()?.get_key_value(method.as_str())?;
                Some(DocumentOperation { path, method, json })
            })
    }

    /// The documented path template that best matches the concrete `path`, with any method.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        self.json["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| match_score(template, path).map(|score| (score, template)))
            .max_by_key(|(score, _)| *score)
            .map(|(_, template)| template.as_str())
    }

    /// The operation of a row of our table.
    pub fn operation_of(&self, operation: &Operation) -> Option<DocumentOperation<'_>> {
        self.operation(operation.method, operation.path)
    }

    /// The JSON Schema of the `application/json` body of `status` answered by `method` at
    /// `template` (see [`schema::to_json_schema`]).
    pub fn response_schema(
        &self,
        method: &str,
        template: &str,
        status: u16,
    ) -> Result<Value, SchemaError> {
        let operation = self
            .operation(method, template)
            .ok_or_else(|| SchemaError(format!("{method} {template} is not in {}", self.name())))?;
        let response = &operation.json["responses"][status.to_string()];
        let schema = response["content"]["application/json"]["schema"].clone();
        if schema.is_null() {
            return Err(SchemaError(format!(
                "{method} {} documents no application/json body for {status} (it documents {:?})",
                operation.path,
                operation.statuses()
            )));
        }
        Ok(schema::to_json_schema(self, &schema))
    }

    /// The OpenAPI schema `components.schemas.{name}`, as written.
    pub fn component(&self, name: &str) -> Option<&Value> {
        self.json["components"]["schemas"].get(name)
    }

    /// The file name, for messages.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}
