//! Every request the code really sends, driven against the simulator and read back from its
//! request log, matches a row of `altinn::client::OPERATIONS` with the same operation name:
//! API, method, path template and query parameter names. So the table (which the document
//! checks rely on) cannot drift from what the code sends.

mod common;

use std::time::Duration;

use altinn_sim::{RequestRecord, Simulator};
use archiver::receipt::{Receipt, ReceiptElement, ReceiptFormat, ReceiptSettings, ReceiptUploader};
use common::{client, instance_ref, rich_instance, start_sim};
use contract_tests::Contracts;
use contract_tests::document::STORAGE_PREFIX;
use contract_tests::paths::{match_score, query_names};
use futures_util::StreamExt;

/// The Storage/App requests logged since the last call, checked against the rows named
/// `operation`; returns how many there were.
fn check_sent(sim: &Simulator, operation: &str) -> usize {
    let requests: Vec<RequestRecord> = sim
        .requests()
        .into_iter()
        .filter(|request| Contracts::api_of(&request.path).is_some())
        .collect();
    sim.clear_requests();
    assert!(
        !requests.is_empty(),
        "{operation} sent no Storage/App request"
    );
    for request in &requests {
        let (api, path) = Contracts::api_of(&request.path).expect("filtered above");
        let matches = altinn::client::operations_named(operation).any(|row| {
            let template = match row.api {
                altinn::client::Api::Storage => format!("{STORAGE_PREFIX}{}", row.path),
                altinn::client::Api::App => row.path.to_owned(),
            };
            row.api == api
                && row.method == request.method
                && match_score(&template, &request.path).is_some()
                && query_names(request.query.as_deref())
                    .iter()
                    .all(|name| row.query.contains(&name.as_str()))
        });
        assert!(
            matches,
            "{operation} sent {} {path}?{} ({api:?}), which no OPERATIONS row named {operation} \
             describes",
            request.method,
            request.query.as_deref().unwrap_or_default()
        );
    }
    requests.len()
}

#[tokio::test]
async fn every_storage_and_app_request_the_client_sends_has_its_row() {
    let sim = start_sim().await;
    let client = client(&sim);
    let done = rich_instance(&sim, true);
    // Two more completed instances, so the query still has a next page to follow after
    // `complete` has taken the first one out of it.
    rich_instance(&sim, true);
    rich_instance(&sim, true);
    let reference = instance_ref(&done);
    sim.clear_requests();

    client.get_instance(&reference).await.expect("get_instance");
    check_sent(&sim, "get_instance");

    client
        .get_instance_events(&reference)
        .await
        .expect("get_instance_events");
    check_sent(&sim, "get_instance_events");
    client
        .get_process_history(&reference)
        .await
        .expect("get_process_history");
    check_sent(&sim, "get_process_history");
    client
        .get_application(&done.org, &done.app)
        .await
        .expect("get_application");
    check_sent(&sim, "get_application");

    client
        .get_app_instance(&reference)
        .await
        .expect("get_app_instance");
    check_sent(&sim, "get_app_instance");

    let element = done.data[0].id.to_string();
    let mut stream = client
        .download_data(&reference, &element)
        .await
        .expect("download_data");
    while let Some(chunk) = stream.body.next().await {
        chunk.expect("the body arrives whole");
    }
    check_sent(&sim, "download_data");

    client.complete(&reference).await.expect("complete");
    check_sent(&sim, "complete");

    let first = client
        .query_completed_instances(&done.org, &done.app, 1, None)
        .await
        .expect("query_instances");
    let next = first
        .next
        .expect("two instances on pages of one: a next page");
    client
        .query_completed_instances(&done.org, &done.app, 1, Some(&next))
        .await
        .expect("query_instances, next link");
    let token = url::Url::parse(&next)
        .expect("the next link is a URL")
        .query_pairs()
        .find(|(name, _)| name == "continuationToken")
        .map(|(_, value)| value.into_owned())
        .expect("the next link carries a continuation token");
    client
        .query_completed_instances(&done.org, &done.app, 1, Some(&token))
        .await
        .expect("query_instances, bare token");
    assert_eq!(check_sent(&sim, "query_instances"), 3);
}

#[tokio::test]
async fn the_write_back_requests_have_their_rows() {
    let sim = start_sim().await;
    // In a feedback task: Altinn takes data only while the process runs.
    let running = common::feedback_instance(&sim);
    let uploader = ReceiptUploader::new(
        altinn::AltinnClient::http_client(&common::retry()),
        common::allowlist(&sim),
        common::tokens(&sim),
        Duration::from_secs(10),
    );
    let receipt = Receipt {
        instance_id: running.instance_id(),
        archive_location: "s3://bucket/archive/".into(),
        archived_at: "2026-08-07T12:00:00Z".into(),
        data_elements: vec![ReceiptElement {
            data_element_id: running.data[0].id.to_string(),
            sha256: "00".repeat(32),
        }],
    };
    let settings = ReceiptSettings {
        data_type: common::RECEIPT_DATA_TYPE.into(),
        format: ReceiptFormat::Xml,
    };
    sim.clear_requests();
    uploader
        .upload(&instance_ref(&running), &settings, &receipt)
        .await
        .expect("the receipt is uploaded");
    check_sent(&sim, "upload_receipt");

    // Then the rest of the write-back: the substatus, and leaving the feedback task.
    let client = client(&sim);
    client
        .update_substatus(&instance_ref(&running), "archived", Some("Received"))
        .await
        .expect("update_substatus");
    check_sent(&sim, "update_substatus");
    client
        .process_next(&instance_ref(&running))
        .await
        .expect("process_next");
    check_sent(&sim, "process_next");
}
