//! Every Storage/App route the simulator serves (`altinn_sim::SERVED_ROUTES`) is one Altinn
//! documents with that method, and is really routed by the simulator; and every documented
//! route the simulator answers is in that list, so none escapes the document checks.

mod common;

use altinn_sim::{SERVED_ROUTES, SeededInstance};
use common::{contracts, send, start_sim};
use contract_tests::document::STORAGE_PREFIX;
use contract_tests::paths::{is_parameter, normalise};
use contract_tests::{Api, Contracts};
use serde_json::json;

#[test]
fn every_served_route_is_in_altinns_documents() {
    let contracts = contracts();
    let mut problems = Vec::new();
    for (method, path) in SERVED_ROUTES {
        let Some((api, relative)) = Contracts::api_of(path) else {
            problems.push(format!("{method} {path}: neither Storage nor an app"));
            continue;
        };
        let document = contracts.document(api);
        if document.operation(method, relative).is_none() {
            problems.push(format!(
                "{method} {path}: {} has no {method} {relative}",
                document.name()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The simulator path of the document's `template` of `api`, with `instance`'s ids in the
/// segments the document's parameter names say they hold.
fn concrete_path(api: Api, template: &str, instance: &SeededInstance) -> String {
    let segments: Vec<String> = template
        .split('/')
        .map(|segment| match segment {
            "{org}" => instance.org.clone(),
            "{app}" => instance.app.clone(),
            "{instanceOwnerPartyId}" => instance.party_id.to_string(),
            "{instanceGuid}" => instance.instance_guid.to_string(),
            "{dataGuid}" => instance.data[0].id.to_string(),
            "{dataType}" => common::RECEIPT_DATA_TYPE.to_owned(),
            other if is_parameter(other) => "x".to_owned(),
            other => other.to_owned(),
        })
        .collect();
    let prefix = match api {
        Api::Storage => STORAGE_PREFIX,
        Api::App => "",
    };
    format!("{prefix}{}", segments.join("/"))
}

/// A request to each row with real ids and a valid token gets an answer from the row's handler:
/// not the router's fallback ("Not simulated", 404) and not 405 (the path is routed for
/// another method only).
#[tokio::test]
async fn every_served_route_is_routed() {
    let sim = start_sim().await;
    let instance = common::feedback_instance(&sim);
    let contracts = contracts();
    let mut problems = Vec::new();
    for (method, path) in SERVED_ROUTES {
        let documented = Contracts::api_of(path).and_then(|(api, relative)| {
            contracts
                .document(api)
                .operation(method, relative)
                .map(|operation| (api, operation.path))
        });
        let Some((api, documented)) = documented else {
            problems.push(format!(
                "{method} {path}: not documented (see the test above)"
            ));
            continue;
        };
        let concrete = concrete_path(api, documented, &instance);
        let body = (*method != "GET").then(|| json!({"label": "contract"}));
        let answer = send(&sim, method, &concrete, body.as_ref()).await;
        if answer.status == 405 || (answer.status == 404 && answer.body == "Not simulated") {
            problems.push(format!(
                "{method} {path} ({concrete}): {} {}",
                answer.status, answer.body
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every documented GET the simulator answers with success is in `SERVED_ROUTES` (a route added
/// to the router but not to the list would escape the checks above). Only GETs are tried, so
/// nothing changes state, and only a 2xx counts: a handler reached through a pattern with a
/// literal in a parameter's place (`…/instances/{p}/active`) answers an error.
#[tokio::test]
async fn every_documented_get_the_simulator_serves_is_listed() {
    let sim = start_sim().await;
    let instance = common::feedback_instance(&sim);
    let contracts = contracts();
    let listed: Vec<(&str, String)> = SERVED_ROUTES
        .iter()
        .map(|(method, path)| (*method, normalise(path)))
        .collect();
    let mut problems = Vec::new();
    let mut served = Vec::new();
    for api in [Api::Storage, Api::App] {
        let document = contracts.document(api);
        let paths = document.json["paths"].as_object().expect("paths");
        for (template, item) in paths {
            if item.get("get").is_none() {
                continue;
            }
            let concrete = concrete_path(api, template, &instance);
            let answer = send(&sim, "GET", &concrete, None).await;
            let routed = match api {
                Api::Storage => normalise(&format!("{STORAGE_PREFIX}{template}")),
                Api::App => normalise(template),
            };
            let is_listed = listed
                .iter()
                .any(|(method, path)| *method == "GET" && *path == routed);
            if (200..300).contains(&answer.status) {
                served.push(template.clone());
            }
            if (200..300).contains(&answer.status) && !is_listed {
                problems.push(format!(
                    "GET {template} ({}) answers {} but is not in SERVED_ROUTES",
                    document.name(),
                    answer.status
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        served
            .iter()
            .any(|t| t == "/instances/{instanceOwnerPartyId}/{instanceGuid}")
            && served.iter().any(|t| t == "/applications/{org}/{app}"),
        "the requests reach the simulator's routes: {served:?}"
    );
}
