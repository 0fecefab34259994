//! What Storage tells about an instance: its instance events (seeded history, uploads,
//! `process/next`, `complete`, substatus; with `eventTypes` and `from`/`to` filters), the
//! process history built from them, the data element list, and the anonymous application
//! metadata.

mod common;

use altinn_sim::{DataSpec, DataTypeSpec, InstanceSpec, TaskSpec};
use common::*;
use serde_json::{Value, json};

fn event_types(body: &Value) -> Vec<String> {
    body["instanceEvents"]
        .as_array()
        .expect("instanceEvents")
        .iter()
        .map(|e| e["eventType"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn instance_events_follow_the_instances_life() {
    let sim = start().await;
    sim.add_data_type(
        "ttd/ev-app",
        DataTypeSpec::binary("archive-receipt").for_task("Task_2"),
    );
    let instance = sim.add_instance(
        InstanceSpec::new("ev-app", 54_000_001)
            .with_data(DataSpec::xml_form())
            .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")])
            .at_task("Task_2"),
    );
    let token = altinn_token(&sim, READ_WRITE).await;
    let events_url = storage_url(&sim, &instance, "/events");
    let get = |url: String| {
        let token = token.clone();
        async move { send(http().get(url).bearer_auth(token)).await }
    };

    let (status, _, body) = get(events_url.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        event_types(&body),
        [
            "Created",
            "process_StartEvent",
            "process_StartTask",
            "Created",
            "process_EndTask",
            "process_StartTask"
        ]
    );
    let first = &body["instanceEvents"][0];
    assert_eq!(first["instanceId"], instance.instance_id());
    assert_eq!(first["instanceOwnerPartyId"], instance.party_id.to_string());
    assert_eq!(first["user"]["userId"], 1337);
    assert!(first.get("dataId").is_none(), "Storage omits nulls");
    assert_eq!(
        body["instanceEvents"][3]["dataId"],
        instance.data[0].id.to_string()
    );
    assert_eq!(
        body["instanceEvents"][4]["processInfo"]["currentTask"]["elementId"], "Task_1",
        "EndTask carries the task it left"
    );
    assert!(body["instanceEvents"][4]["processInfo"]["currentTask"]["ended"].is_string());

    // Upload, process/next to the end, complete twice, substatus.
    let (status, _, upload) = send(
        http()
            .post(app_url(&sim, &instance, "/data/type/archive-receipt"))
            .bearer_auth(&token)
            .header("content-type", "application/xml")
            .header(
                "content-disposition",
                "attachment; filename=\"kvittering.xml\"",
            )
            .body("<Kvittering/>"),
    )
    .await;
    assert_eq!(status, 200, "{upload}");
    assert_eq!(process_next(&sim, &instance, &token).await.0, 200);
    for _ in 0..2 {
        let complete = storage_url(&sim, &instance, "/complete");
        assert_eq!(send(http().post(complete).bearer_auth(&token)).await.0, 200);
    }
    let substatus = app_url(&sim, &instance, "/substatus");
    let (status, _, _) = send(
        http()
            .put(substatus)
            .bearer_auth(&token)
            .json(&json!({"label": "ok"})),
    )
    .await;
    assert_eq!(status, 200);

    let (_, _, body) = get(events_url.clone()).await;
    let types = event_types(&body);
    assert_eq!(
        types[6..],
        [
            "Created",
            "process_EndTask",
            "process_EndEvent",
            "ConfirmedComplete",
            "SubstatusUpdated"
        ],
        "one ConfirmedComplete per org"
    );
    let created = &body["instanceEvents"][6];
    assert_eq!(created["dataId"], upload["newDataElementId"]);
    assert_eq!(
        created["user"],
        json!({"orgId": "ttd", "authenticationLevel": 3})
    );
    assert_eq!(
        sim.instance_event_types(instance.party_id, instance.instance_guid),
        types
    );

    // eventTypes repeat; from/to apply only together.
    let (_, _, body) = get(format!(
        "{events_url}?eventTypes=process_EndEvent&eventTypes=ConfirmedComplete"
    ))
    .await;
    assert_eq!(
        event_types(&body),
        ["process_EndEvent", "ConfirmedComplete"]
    );
    let last = body["instanceEvents"][1]["created"]
        .as_str()
        .unwrap()
        .to_owned();
    let window = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &last)
        .append_pair("to", "2999-01-01T00:00:00Z")
        .finish();
    let (_, _, body) = get(format!("{events_url}?{window}")).await;
    assert_eq!(
        event_types(&body),
        ["ConfirmedComplete", "SubstatusUpdated"]
    );
    let (_, _, body) = get(format!("{events_url}?from=2999-01-01T00:00:00Z")).await;
    assert_eq!(
        event_types(&body).len(),
        types.len(),
        "from alone is ignored"
    );
    let (status, _, body) = get(format!("{events_url}?from=yesterday&to=today")).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "Unable to perform query. Invalid format for time span. Use string format of UTC."
    );
}

#[tokio::test]
async fn process_history_merges_each_tasks_start_and_end() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::new("hist-app", 54_000_010)
            .with_data(DataSpec::xml_form())
            .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")]),
    );
    let token = altinn_token(&sim, READ).await;
    let (status, _, storage) = send(
        http()
            .get(storage_url(&sim, &instance, "/process/history"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200, "{storage}");
    let items = storage["processHistory"]
        .as_array()
        .expect("processHistory");
    let shape: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["eventType"].as_str().unwrap(),
                i["elementId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("process_StartEvent", "StartEvent_1"),
            ("process_StartTask", "Task_1"),
            ("process_StartTask", "Task_2"),
            ("process_EndEvent", "EndEvent_1"),
        ]
    );
    assert!(items[0]["occured"].is_string());
    assert!(items[1]["started"].is_string() && items[1]["ended"].is_string());
    assert!(items[1]["started"].as_str() < items[1]["ended"].as_str());
    let person = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap()["instanceOwner"]["personNumber"]
        .clone();
    assert_eq!(items[1]["performedBy"], person);

    let (status, _, app) = send(
        http()
            .get(app_url(&sim, &instance, "/process/history"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app, storage, "the app proxies Storage");
    let no_scope = altinn_token(&sim, "altinn:events.subscribe").await;
    let url = storage_url(&sim, &instance, "/process/history");
    assert_eq!(send(http().get(url).bearer_auth(no_scope)).await.0, 403);
}

#[tokio::test]
async fn data_elements_are_listed_like_the_instances_data() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::default()
            .with_data(DataSpec::attachment("slettet.pdf", 10, 1).hard_deleted()),
    );
    let token = altinn_token(&sim, READ).await;
    let (status, _, body) = send(
        http()
            .get(storage_url(&sim, &instance, "/dataelements"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(body, json!({"dataElements": stored["data"]}));
    assert_eq!(body["dataElements"].as_array().unwrap().len(), 3);
    assert!(
        body["dataElements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d.get("contentHash").is_none()),
        "contentHash only when seeded"
    );
}

#[tokio::test]
async fn application_metadata_is_anonymous_and_lists_the_data_types() {
    let sim = start().await;
    sim.add_instance(InstanceSpec::new("meta-app", 54_000_020));
    sim.add_data_type(
        "ttd/meta-app",
        DataTypeSpec::binary("archive-receipt")
            .for_task("Task_2")
            .with_max_count(1)
            .with_content_types(&["application/xml"]),
    );
    let url = format!("{}storage/api/v1/applications/ttd/meta-app", sim.base_url());
    let (status, _, app) = send(http().get(&url)).await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["id"], "ttd/meta-app");
    assert_eq!(app["org"], "ttd");
    let types = app["dataTypes"].as_array().unwrap();
    let by_id = |id: &str| types.iter().find(|t| t["id"] == id).cloned().unwrap();
    let model = by_id("model");
    assert_eq!(model["appLogic"]["classRef"], "Altinn.App.Models.Skjema");
    assert_eq!(
        (model["taskId"].clone(), model["minCount"].clone()),
        (json!("Task_1"), json!(1))
    );
    assert_eq!(
        by_id("ref-data-as-pdf")["allowedContentTypes"],
        json!(["application/pdf"])
    );
    assert!(
        by_id("attachment").get("appLogic").is_none(),
        "binary data has no app logic"
    );
    let receipt = by_id("archive-receipt");
    assert_eq!(receipt["taskId"], "Task_2");
    assert_eq!(receipt["maxCount"], 1);
    assert_eq!(receipt["allowedContentTypes"], json!(["application/xml"]));
    assert_eq!(receipt["enableFileScan"], false);

    let (status, content_type, body) = send(http().get(format!(
        "{}storage/api/v1/applications/ttd/unknown-app",
        sim.base_url()
    )))
    .await;
    assert_eq!(status, 404);
    assert!(content_type.unwrap().starts_with("text/plain"));
    assert_eq!(
        body,
        "Could not find an application with appId=ttd/unknown-app"
    );
}
