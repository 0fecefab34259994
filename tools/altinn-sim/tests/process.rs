//! `PUT …/process/next` as app-lib does it: data task → feedback task → end, the
//! `movedTo.{task}` and `process.completed` CloudEvents it publishes, the archiving at the end,
//! its 409s and 403s, and the task's `minCount` validation.

mod common;
mod events_common;

use std::time::Duration;

use altinn_sim::{DataSpec, DataTypeSpec, InstanceSpec, Simulator, TaskSpec};
use common::*;
use events_common::*;
use serde_json::{Value, json};

fn two_tasks() -> [TaskSpec; 2] {
    [TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")]
}

fn feedback_instance(app: &str, party: u64, at: &str) -> InstanceSpec {
    InstanceSpec::new(app, party)
        .with_data(DataSpec::xml_form())
        .with_tasks(two_tasks())
        .at_task(at)
}

async fn subscribe(sim: &Simulator, app: &str) -> Receiver {
    let receiver = Receiver::start(|_| 200).await;
    let token = altinn_token(sim, READ).await;
    let (status, _, answer) = create(
        sim,
        &token,
        &json!({"endPoint": receiver.url, "sourceFilter": app_source(sim, app)}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert!(wait_validated(sim, answer["id"].as_i64().unwrap()).await);
    receiver
}

#[tokio::test]
async fn seeded_process_states_render_as_altinn_does() {
    let sim = start().await;
    let at_feedback = sim.add_instance(feedback_instance("render-app", 52_000_001, "Task_2"));
    let json = sim
        .instance_json(at_feedback.party_id, at_feedback.instance_guid)
        .unwrap();
    let task = &json["process"]["currentTask"];
    assert_eq!(task["elementId"], "Task_2");
    assert_eq!(task["altinnTaskType"], "feedback");
    assert_eq!(task["flow"], 3);
    assert_eq!(task["flowType"], "CompleteCurrentMoveToNext");
    assert!(task["started"].is_string() && task["name"].is_string());
    assert_eq!(json["status"]["isArchived"], false);
    assert!(
        json["status"].get("archived").is_none(),
        "Storage omits nulls"
    );
    assert!(json["process"].get("ended").is_none());

    let ended = sim.add_instance(InstanceSpec::new("render-app", 52_000_002));
    let token = altinn_token(&sim, READ).await;
    let (status, _, app_json) =
        send(http().get(app_url(&sim, &ended, "")).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    // App dialect: the same facts, nulls written.
    assert!(app_json["process"]["currentTask"].is_null());
    assert_eq!(app_json["process"]["endEvent"], "EndEvent_1");
    assert_eq!(app_json["status"]["isArchived"], true);
    assert_eq!(app_json["status"]["archived"], app_json["process"]["ended"]);
    assert!(app_json["status"]["substatus"].is_null());

    let not_started = sim.add_instance(InstanceSpec::new("render-app", 52_000_003).not_started());
    let json = sim
        .instance_json(not_started.party_id, not_started.instance_guid)
        .unwrap();
    assert_eq!(
        json["process"],
        json!({}),
        "a process never started has no fields"
    );
}

#[tokio::test]
async fn next_moves_data_to_feedback_to_end_and_publishes_like_the_app() {
    let sim = start().await;
    let receiver = subscribe(&sim, "flow-app").await;
    let instance = sim.add_instance(feedback_instance("flow-app", 52_000_010, "Task_1"));
    let token = altinn_token(&sim, READ_WRITE).await;
    let moved = "app.instance.process.movedTo.Task_2";
    let completed = "app.instance.process.completed";

    let (status, state) = process_next(&sim, &instance, &token).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["currentTask"]["elementId"], "Task_2");
    assert_eq!(state["currentTask"]["altinnTaskType"], "feedback");
    assert_eq!(state["currentTask"]["flow"], 3);
    assert_eq!(state["currentTask"]["write"], true);
    assert!(state["ended"].is_null(), "AppProcessState writes nulls");
    assert_eq!(
        state["processTasks"],
        json!([
            {"altinnTaskType": "data", "elementId": "Task_1", "elementType": "Task"},
            {"altinnTaskType": "feedback", "elementId": "Task_2", "elementType": "Task"},
        ])
    );
    assert!(
        wait_until(Duration::from_secs(10), || receiver.of_type(moved).len()
            == 1)
        .await
    );
    let event = receiver.of_type(moved).remove(0).body;
    assert_eq!(event["source"], sim.instance_source(&instance));
    assert_eq!(event["resourceinstance"], instance.instance_id());
    assert_eq!(event["resource"], "urn:altinn:resource:app_ttd_flow-app");
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(stored["process"]["currentTask"]["elementId"], "Task_2");
    assert_eq!(stored["status"]["isArchived"], false);
    assert_eq!(stored["lastChangedBy"], sim.config().org_number.as_str());

    // An empty JSON body is accepted too.
    let (status, _, state) = send(
        http()
            .put(app_url(&sim, &instance, "/process/next?elementId=ignored"))
            .bearer_auth(&token)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{state}");
    assert!(state["currentTask"].is_null());
    assert_eq!(state["endEvent"], "EndEvent_1");
    let ended_at = state["ended"].as_str().expect("ended").to_owned();
    assert!(
        wait_until(Duration::from_secs(10), || receiver
            .of_type(completed)
            .len()
            == 1)
        .await
    );
    assert_eq!(
        receiver.of_type(moved).len(),
        1,
        "no movedTo for the end event"
    );
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(stored["status"]["isArchived"], true);
    assert_eq!(stored["status"]["archived"], ended_at.as_str());
    assert_eq!(stored["process"]["ended"], ended_at.as_str());
    assert!(stored["process"].get("currentTask").is_none());

    // Ended: 409, nothing moves, nothing is published.
    let (status, problem) = process_next(&sim, &instance, &token).await;
    assert_eq!(status, 409);
    assert_eq!(problem["detail"], "Process is ended.");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.of_type(completed).len(), 1);
}

#[tokio::test]
async fn next_refuses_without_the_owner_orgs_write_token_or_a_started_process() {
    let sim = start().await;
    let instance = sim.add_instance(feedback_instance("auth-app", 52_000_020, "Task_2"));
    let foreign =
        sim.add_instance(feedback_instance("auth-app", 52_000_021, "Task_2").with_org("skd"));
    let not_started = sim.add_instance(InstanceSpec::new("auth-app", 52_000_022).not_started());
    let read_only = altinn_token(&sim, READ).await;
    let write = altinn_token(&sim, WRITE).await;

    let (status, body) = process_next(&sim, &instance, &read_only).await;
    assert_eq!((status, body), (403, Value::Null));
    assert_eq!(process_next(&sim, &foreign, &write).await.0, 403);
    assert_eq!(process_next(&sim, &instance, "not-a-token").await.0, 401);
    let (status, problem) = process_next(&sim, &not_started, &write).await;
    assert_eq!(status, 409);
    assert_eq!(problem["detail"], "Process is not started. Use start!");
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(
        stored["process"]["currentTask"]["elementId"], "Task_2",
        "unmoved"
    );
}

#[tokio::test]
async fn the_tasks_min_count_must_be_met_before_it_is_left() {
    let sim = start().await;
    sim.add_data_type(
        "ttd/valid-app",
        DataTypeSpec::binary("archive-receipt")
            .for_task("Task_2")
            .with_min_count(1)
            .with_max_count(1),
    );
    // Task_1 needs its form (`model` has minCount 1 by default).
    let no_form = sim.add_instance(
        InstanceSpec::new("valid-app", 52_000_030)
            .with_tasks(two_tasks())
            .at_task("Task_1"),
    );
    let token = altinn_token(&sim, READ_WRITE).await;
    let (status, problem) = process_next(&sim, &no_form, &token).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["title"], "Validation failed for task");
    assert_eq!(
        problem["validationIssues"][0]["code"],
        "TooFewDataElementsOfType"
    );
    assert_eq!(problem["validationIssues"][0]["field"], "model");

    let instance = sim.add_instance(feedback_instance("valid-app", 52_000_031, "Task_2"));
    let (status, problem) = process_next(&sim, &instance, &token).await;
    assert_eq!(status, 409);
    assert_eq!(problem["validationIssues"][0]["field"], "archive-receipt");
    let (status, _, body) = send(
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
    assert_eq!(status, 200, "{body}");
    let (status, state) = process_next(&sim, &instance, &token).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["endEvent"], "EndEvent_1");

    // After the end the receipt is still there, and no more data can be added.
    let (status, _, body) = send(
        http()
            .post(app_url(&sim, &instance, "/data/type/archive-receipt"))
            .bearer_auth(&token)
            .header("content-type", "application/xml")
            .header("content-disposition", "attachment; filename=\"igjen.xml\"")
            .body("<Kvittering/>"),
    )
    .await;
    assert_eq!(
        (status, &body["title"]),
        (409, &json!("Instance Not Active"))
    );
}

#[tokio::test]
async fn faults_can_be_injected_on_the_write_back_routes() {
    use altinn_sim::{Fault, FaultRule, Route};
    let sim = start().await;
    let instance = sim.add_instance(feedback_instance("fault-app", 52_000_040, "Task_1"));
    let token = altinn_token(&sim, READ_WRITE).await;
    for route in [
        Route::AppProcessNext,
        Route::AppSubstatus,
        Route::AppUploadData,
    ] {
        sim.inject(
            FaultRule::times(route, Fault::Status(503), 1).for_instance(instance.instance_guid),
        );
    }
    let (status, _) = process_next(&sim, &instance, &token).await;
    assert_eq!(status, 503);
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(
        stored["process"]["currentTask"]["elementId"], "Task_1",
        "not moved"
    );
    let substatus = app_url(&sim, &instance, "/substatus");
    let put = || {
        http()
            .put(&substatus)
            .bearer_auth(&token)
            .json(&json!({"label": "x"}))
    };
    assert_eq!(send(put()).await.0, 503);
    assert_eq!(send(put()).await.0, 200);
    let upload = app_url(&sim, &instance, "/data/type/attachment");
    let post = || {
        http()
            .post(&upload)
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .header("content-disposition", "attachment; filename=\"a.txt\"")
            .body("a")
    };
    assert_eq!(send(post()).await.0, 503);
    assert_eq!(send(post()).await.0, 200);
    assert_eq!(process_next(&sim, &instance, &token).await.0, 200);
    let routes: Vec<_> = sim.requests().iter().filter_map(|r| r.route).collect();
    assert!(routes.contains(&Route::AppProcessNext) && routes.contains(&Route::AppUploadData));
}
