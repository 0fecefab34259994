//! `PUT …/substatus` on the App API and on Storage: the owner org sets `status.substatus`
//! (also after the process has ended, with no scope check), 400 without a label, 403 for
//! another org.

mod common;

use altinn_sim::InstanceSpec;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn the_owner_org_sets_the_substatus_on_both_apis_after_the_end() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::new("sub-app", 53_000_001));
    // No instances.write needed: only the org claim is checked.
    let token = altinn_token(&sim, READ).await;
    let before = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();

    let (status, _, app) = send(
        http()
            .put(app_url(&sim, &instance, "/substatus"))
            .bearer_auth(&token)
            .json(&json!({"label": "archived", "description": "Mottatt av etaten"})),
    )
    .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(
        app["status"]["substatus"],
        json!({"label": "archived", "description": "Mottatt av etaten"})
    );
    assert_eq!(app["status"]["isArchived"], true);
    assert!(
        app["instanceOwner"].get("party").is_none(),
        "a plain Instance"
    );
    assert!(app["lastChanged"].as_str() > before["lastChanged"].as_str());
    assert_eq!(app["lastChangedBy"], sim.config().org_number.as_str());

    let (status, _, storage) = send(
        http()
            .put(storage_url(&sim, &instance, "/substatus"))
            .bearer_auth(&token)
            .json(&json!({"label": "second"})),
    )
    .await;
    assert_eq!(status, 200, "{storage}");
    // Storage writes the Substatus class's nulls too.
    assert_eq!(
        storage["status"]["substatus"],
        json!({"label": "second", "description": null})
    );
    assert_eq!(
        sim.instance_json(instance.party_id, instance.instance_guid)
            .unwrap()["status"]["substatus"]["label"],
        "second"
    );
}

#[tokio::test]
async fn a_missing_label_is_400_and_another_org_403() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::new("sub-app", 53_000_002).completed(false));
    let foreign = sim.add_instance(InstanceSpec::new("sub-app", 53_000_003).with_org("skd"));
    let token = altinn_token(&sim, READ_WRITE).await;
    for url in [
        app_url(&sim, &instance, "/substatus"),
        storage_url(&sim, &instance, "/substatus"),
    ] {
        let (status, content_type, body) = send(
            http()
                .put(&url)
                .bearer_auth(&token)
                .json(&json!({"description": "no label"})),
        )
        .await;
        assert_eq!(status, 400, "{url}");
        assert!(content_type.unwrap().starts_with("text/plain"));
        assert_eq!(
            body,
            Value::from(
                "Invalid sub status: {\"label\":null,\"description\":\"no label\"}. Substatus must be defined and include a label."
            )
        );
        let (status, _, body) = send(http().put(&url).bearer_auth(&token)).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            Value::from("Invalid sub status: null. Substatus must be defined and include a label.")
        );
    }
    for url in [
        app_url(&sim, &foreign, "/substatus"),
        storage_url(&sim, &foreign, "/substatus"),
    ] {
        let (status, _, body) = send(
            http()
                .put(&url)
                .bearer_auth(&token)
                .json(&json!({"label": "x"})),
        )
        .await;
        assert_eq!((status, body), (403, Value::Null), "{url}");
    }
    let (status, _, _) = send(
        http()
            .put(app_url(&sim, &instance, "/substatus"))
            .json(&json!({"label": "x"})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        sim.instance_json(instance.party_id, instance.instance_guid)
            .unwrap()["status"]
            .get("substatus")
            .is_none()
    );
}
