//! Every Storage/App route the simulator serves (`altinn_sim::SERVED_ROUTES`) is one Altinn
//! documents with that method, and is really routed by the simulator.

mod common;

use altinn_sim::SERVED_ROUTES;
use common::{contracts, send, start_sim};
use contract_tests::Contracts;
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
        // The document's parameter names say what each segment holds.
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
        let prefix = match api {
            contract_tests::Api::Storage => contract_tests::document::STORAGE_PREFIX,
            contract_tests::Api::App => "",
        };
        let concrete: Vec<String> = documented
            .split('/')
            .map(|segment| match segment {
                "{org}" => instance.org.clone(),
                "{app}" => instance.app.clone(),
                "{instanceOwnerPartyId}" => instance.party_id.to_string(),
                "{instanceGuid}" => instance.instance_guid.to_string(),
                "{dataGuid}" => instance.data[0].id.to_string(),
                "{dataType}" => "archive-receipt".to_owned(),
                other if contract_tests::paths::is_parameter(other) => "x".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        let concrete = format!("{prefix}{}", concrete.join("/"));
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
