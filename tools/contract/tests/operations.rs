//! The table of our Storage and App requests (`altinn::client::OPERATIONS`) against Altinn's
//! documents, and against the operation names the code uses.

mod common;

use std::path::{Path, PathBuf};

use common::contracts;
use contract_tests::paths::normalise;
use contract_tests::{Api, OPERATIONS};

#[test]
fn every_operation_is_in_its_document_with_its_method_and_query_parameters() {
    let contracts = contracts();
    let mut problems = Vec::new();
    for operation in OPERATIONS {
        let document = contracts.document(operation.api);
        let Some(documented) = document.operation_of(operation) else {
            problems.push(format!(
                "{}: {} {} is not in {}",
                operation.name,
                operation.method,
                operation.path,
                document.name()
            ));
            continue;
        };
        let parameters = documented.query_parameters();
        for name in operation.query {
            if !parameters.contains(name) {
                problems.push(format!(
                    "{}: query parameter {name} is not one of {} {}'s ({parameters:?})",
                    operation.name, operation.method, documented.path
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn rows_are_well_formed_and_distinct() {
    for (index, operation) in OPERATIONS.iter().enumerate() {
        assert!(
            ["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&operation.method),
            "{operation:?}"
        );
        assert!(operation.path.starts_with('/'), "{operation:?}");
        if operation.api == Api::App {
            assert!(
                operation.path.starts_with("/{org}/{app}/"),
                "App paths start at the app: {operation:?}"
            );
        }
        let duplicate = OPERATIONS[..index].iter().find(|earlier| {
            earlier.api == operation.api
                && earlier.method == operation.method
                && normalise(earlier.path) == normalise(operation.path)
        });
        assert!(duplicate.is_none(), "two rows for one route: {operation:?}");
    }
}

/// Every `const OPERATION: &str = "…"` in the Storage/App client and in the archiver names a
/// row, so a new request cannot be added without its row (and with it, the document check).
#[test]
fn every_operation_the_code_names_has_a_row() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    rust_files(&root.join("shared/src/client"), &mut files);
    rust_files(&root.join("functions/archiver/src"), &mut files);
    // Events and Correspondence have no generated document (see `OPERATIONS`), so their
    // operations have no rows; the simulator's own tests pin their routes instead.
    files.retain(|file| {
        !file.ends_with("shared/src/client/events.rs")
            && !file.ends_with("shared/src/client/correspondence.rs")
    });
    let mut names = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a source file reads");
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("const OPERATION: &str = \"")
                && let Some((name, _)) = rest.split_once('"')
            {
                names.push((name.to_owned(), file.clone()));
            }
        }
    }
    assert!(
        names.iter().any(|(name, _)| name == "get_instance"),
        "the scan finds the client's operations: {names:?}"
    );
    let missing: Vec<_> = names
        .iter()
        .filter(|(name, _)| !OPERATIONS.iter().any(|operation| operation.name == name))
        .collect();
    assert!(
        missing.is_empty(),
        "operations without a row in altinn::client::OPERATIONS: {missing:?}"
    );
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder reads") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}
