//! Storage and App instance routes as Altinn serves them (dialects, data download,
//! hard-deleted elements, complete, query, authorization).

mod common;

use std::time::Duration;

use altinn_sim::{DataSpec, InstanceSpec, SeededInstance, SimConfig, Simulator};
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn storage_instance_url(sim: &Simulator, i: &SeededInstance) -> String {
    format!(
        "{}storage/api/v1/instances/{}",
        sim.base_url(),
        i.instance_id()
    )
}

fn app_instance_url(sim: &Simulator, i: &SeededInstance) -> String {
    format!(
        "{}{}/{}/instances/{}",
        sim.base_url(),
        i.org,
        i.app,
        i.instance_id()
    )
}

async fn get_json(url: &str, token: &str) -> (u16, Value) {
    let response = http()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.expect("request").status().as_u16()
}

/// Every null in `value`, as JSON paths, except inside objects listed in `allowed` (keys whose
/// classes keep nulls even in Newtonsoft's output).
fn null_paths(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(path.to_owned()),
        Value::Object(map) => {
            for (key, child) in map {
                if key == "deleteStatus" {
                    continue;
                }
                null_paths(child, &format!("{path}.{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                null_paths(child, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn storage_dialect_omits_nulls_and_writes_enums_as_strings() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default().completed(false));
    let token = altinn_token(&sim, READ).await;
    let (status, json) = get_json(&storage_instance_url(&sim, &instance), &token).await;
    assert_eq!(status, 200, "{json}");

    let mut nulls = Vec::new();
    null_paths(&json, "$", &mut nulls);
    assert!(nulls.is_empty(), "Storage omits nulls, found {nulls:?}");
    assert_eq!(json["id"], instance.instance_id());
    assert_eq!(json["appId"], instance.app_id());
    assert_eq!(json["org"], "ttd");
    assert_eq!(json["status"]["readStatus"], "Read");
    assert_eq!(
        json["instanceOwner"]["partyId"],
        instance.party_id.to_string()
    );
    assert!(json["instanceOwner"].get("party").is_none());
    assert_eq!(
        json["selfLinks"]["platform"],
        storage_instance_url(&sim, &instance)
    );
    assert!(json["selfLinks"].get("apps").is_none());
    assert_eq!(json["process"]["currentTask"]["elementId"], "Task_1");
    assert!(json["process"].get("ended").is_none());
    assert!(json.get("completeConfirmations").is_none());

    let data = json["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    let form = &data[0];
    assert_eq!(form["id"], instance.data[0].id.to_string());
    assert_eq!(form["instanceGuid"], instance.instance_guid.to_string());
    assert_eq!(form["dataType"], "model");
    assert_eq!(form["contentType"], "application/xml");
    assert_eq!(form["size"], instance.data[0].size);
    assert!(form.get("filename").is_none());
    assert!(form.get("contentHash").is_none());
    assert_eq!(form["fileScanResult"], "NotApplicable");
    assert_eq!(
        form["blobStoragePath"],
        format!(
            "ttd/{}/{}/data/{}",
            instance.app, instance.instance_guid, instance.data[0].id
        )
    );
    assert_eq!(
        form["selfLinks"]["platform"],
        format!(
            "{}/data/{}",
            storage_instance_url(&sim, &instance),
            instance.data[0].id
        )
    );
    assert_eq!(data[1]["filename"], "kvittering.pdf");
    assert_eq!(data[1]["references"][0]["value"], "Task_1");
}

#[tokio::test]
async fn app_dialect_writes_nulls_numbers_and_the_party() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    let (status, json) = get_json(&app_instance_url(&sim, &instance), &token).await;
    assert_eq!(status, 200, "{json}");

    assert_eq!(json["status"]["readStatus"], 1);
    assert_eq!(json["dueBefore"], Value::Null);
    assert!(json.get("dueBefore").is_some(), "nulls are written");
    assert_eq!(json["presentationTexts"], Value::Null);
    assert_eq!(json["completeConfirmations"], Value::Null);
    assert_eq!(json["instanceOwner"]["organisationNumber"], Value::Null);
    assert_eq!(
        json["instanceOwner"]["partyId"],
        instance.party_id.to_string()
    );
    let party = &json["instanceOwner"]["party"];
    assert_eq!(party["partyId"], instance.party_id);
    assert_eq!(party["partyTypeName"], 1);
    assert_eq!(party["ssn"], json["instanceOwner"]["personNumber"]);
    assert_eq!(party["isDeleted"], false);
    assert_eq!(json["selfLinks"]["apps"], app_instance_url(&sim, &instance));
    assert_eq!(
        json["process"]["currentTask"],
        Value::Null,
        "completed: no current task"
    );
    assert_eq!(json["process"]["endEvent"], "EndEvent_1");
    assert_eq!(json["status"]["isArchived"], true);
    let form = &json["data"][0];
    assert_eq!(form["filename"], Value::Null);
    assert_eq!(form["contentHash"], Value::Null);
    assert_eq!(form["deleteStatus"], Value::Null);
    assert_eq!(
        form["selfLinks"]["apps"],
        format!(
            "{}/data/{}",
            app_instance_url(&sim, &instance),
            instance.data[0].id
        )
    );

    // The same instance through Storage: same facts, other dialect.
    let (_, storage) = get_json(&storage_instance_url(&sim, &instance), &token).await;
    assert_eq!(storage["status"]["readStatus"], "Read");
    assert!(storage["process"].get("currentTask").is_none());
    assert_eq!(storage["process"]["ended"], json["process"]["ended"]);
    assert_eq!(storage["data"][0]["id"], form["id"]);
}

#[tokio::test]
async fn data_download_has_the_elements_headers_and_bytes() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default().with_data(DataSpec::attachment(
        "søknad vedlegg.pdf",
        300_001,
        9,
    )));
    let token = altinn_token(&sim, READ).await;
    for base in [
        storage_instance_url(&sim, &instance),
        app_instance_url(&sim, &instance),
    ] {
        for data in &instance.data {
            let response = http()
                .get(format!("{base}/data/{}", data.id))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status().as_u16(), 200);
            assert_eq!(
                response.headers()["content-type"],
                data.content_type.as_str()
            );
            assert_eq!(
                response.headers()["content-length"],
                data.size.to_string().as_str()
            );
            let disposition = response
                .headers()
                .get("content-disposition")
                .map(|v| v.to_str().expect("ascii").to_owned());
            match &data.filename {
                None => assert!(disposition.is_none(), "form data has no filename"),
                Some(name) => {
                    let disposition = disposition.expect("content-disposition");
                    assert!(
                        disposition.starts_with("attachment; filename="),
                        "{disposition}"
                    );
                    if name.is_ascii() {
                        assert!(
                            disposition.contains(&format!("filename={name}")),
                            "{disposition}"
                        );
                    } else {
                        assert!(
                            disposition.contains("filename*=UTF-8''s%C3%B8knad%20vedlegg.pdf"),
                            "{disposition}"
                        );
                    }
                }
            }
            let bytes = response.bytes().await.expect("body");
            assert_eq!(bytes.len() as u64, data.size);
            let sha = Sha256::digest(&bytes);
            let hex = hex::encode(sha);
            assert_eq!(hex, data.sha256_hex);
            assert_eq!(
                sim.data_bytes(instance.instance_guid, data.id)
                    .expect("bytes"),
                bytes.to_vec()
            );
        }
    }
}

#[tokio::test]
async fn content_hash_only_when_asked_for() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::new("hash-app", 1)
            .with_data(DataSpec::attachment("a.bin", 1000, 1).with_content_hash())
            .with_data(DataSpec::attachment("b.bin", 1000, 2)),
    );
    let json = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .expect("instance");
    assert_eq!(json["data"][0]["contentHash"], instance.data[0].md5_base64);
    assert!(json["data"][1].get("contentHash").is_none());
}

#[tokio::test]
async fn hard_deleted_element_is_listed_to_the_owner_but_not_downloadable() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::default().with_data(DataSpec::attachment("gone.pdf", 5000, 3).hard_deleted()),
    );
    let deleted = instance
        .data
        .iter()
        .find(|d| d.hard_deleted)
        .expect("hard-deleted element");
    let token = altinn_token(&sim, READ).await;
    for base in [
        storage_instance_url(&sim, &instance),
        app_instance_url(&sim, &instance),
    ] {
        let (_, json) = get_json(&base, &token).await;
        let listed = json["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|d| d["id"] == deleted.id.to_string())
            .expect("listed");
        assert_eq!(listed["deleteStatus"]["isHardDeleted"], true);
        assert!(listed["deleteStatus"]["hardDeleted"].is_string());
        let response = http()
            .get(format!("{base}/data/{}", deleted.id))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 404);
    }
    assert_eq!(instance.live_data().count(), 2);
}

#[tokio::test]
async fn unknown_instances_and_elements_are_404() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ).await;
    let unknown = uuid::Uuid::new_v4();

    let response = http()
        .get(format!(
            "{}storage/api/v1/instances/{}/{unknown}",
            sim.base_url(),
            instance.party_id
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.text().await.expect("body"),
        format!("Unable to find instance {unknown}")
    );

    let wrong_party = format!(
        "{}storage/api/v1/instances/1/{}",
        sim.base_url(),
        instance.instance_guid
    );
    assert_eq!(
        status_of(http().get(&wrong_party).bearer_auth(&token)).await,
        404
    );
    let wrong_app = format!(
        "{}ttd/other-app/instances/{}",
        sim.base_url(),
        instance.instance_id()
    );
    assert_eq!(
        status_of(http().get(&wrong_app).bearer_auth(&token)).await,
        404
    );

    let response = http()
        .get(format!(
            "{}/data/{unknown}",
            storage_instance_url(&sim, &instance)
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.text().await.expect("body"),
        "Unable to find requested data item"
    );
    let app_data = format!("{}/data/{unknown}", app_instance_url(&sim, &instance));
    assert_eq!(
        status_of(http().get(&app_data).bearer_auth(&token)).await,
        404
    );
}

#[tokio::test]
async fn tokens_are_checked_on_every_instance_route() {
    let sim = start().await;
    let ours = sim.add_instance(InstanceSpec::default());
    let theirs = sim.add_instance(InstanceSpec::default().with_org("skd"));
    let read = altinn_token(&sim, READ).await;
    let no_org = altinn_token(&sim, "altinn:events.subscribe").await;
    let maskinporten = maskinporten_token(&sim, READ).await;
    let client = http();

    let our_url = storage_instance_url(&sim, &ours);
    assert_eq!(status_of(client.get(&our_url)).await, 401, "no token");
    assert_eq!(
        status_of(client.get(&our_url).bearer_auth("junk")).await,
        401,
        "junk token"
    );
    assert_eq!(
        status_of(client.get(&our_url).bearer_auth(&maskinporten)).await,
        401,
        "Maskinporten token"
    );
    assert_eq!(
        status_of(client.get(&our_url).bearer_auth(&no_org)).await,
        403,
        "no urn:altinn:org"
    );
    assert_eq!(
        status_of(
            client
                .get(storage_instance_url(&sim, &theirs))
                .bearer_auth(&read)
        )
        .await,
        403
    );
    assert_eq!(
        status_of(
            client
                .get(app_instance_url(&sim, &theirs))
                .bearer_auth(&read)
        )
        .await,
        403
    );
    let their_data = format!(
        "{}/data/{}",
        storage_instance_url(&sim, &theirs),
        theirs.data[0].id
    );
    assert_eq!(
        status_of(client.get(&their_data).bearer_auth(&read)).await,
        403
    );
    // complete needs the write scope
    let complete = format!("{our_url}/complete");
    assert_eq!(
        status_of(client.post(&complete).bearer_auth(&read)).await,
        403
    );
    assert_eq!(
        status_of(client.get(&our_url).bearer_auth(&read)).await,
        200
    );
}

#[tokio::test]
async fn revoked_tokens_get_401_and_new_ones_work() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let url = storage_instance_url(&sim, &instance);
    let old = altinn_token(&sim, READ).await;
    assert_eq!(status_of(http().get(&url).bearer_auth(&old)).await, 200);
    sim.revoke_tokens();
    assert_eq!(status_of(http().get(&url).bearer_auth(&old)).await, 401);
    let fresh = altinn_token(&sim, READ).await;
    assert_eq!(status_of(http().get(&url).bearer_auth(&fresh)).await, 200);
}

#[tokio::test]
async fn expired_altinn_tokens_get_401() {
    let sim = start_with(SimConfig {
        altinn_token_lifetime: Duration::from_secs(1),
        ..SimConfig::default()
    })
    .await;
    let instance = sim.add_instance(InstanceSpec::default());
    let url = storage_instance_url(&sim, &instance);
    let token = altinn_token(&sim, READ).await;
    let exp = issued_claims(&token)["exp"].as_i64().expect("exp");
    while now() < exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status_of(http().get(&url).bearer_auth(&token)).await, 401);
}

#[tokio::test]
async fn complete_is_idempotent_per_org_and_records_the_confirmation() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ_WRITE).await;
    let url = format!("{}/complete", storage_instance_url(&sim, &instance));

    let first = http()
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(first.status().as_u16(), 200);
    let first: Value = first.json().await.expect("json");
    let confirmations = first["completeConfirmations"]
        .as_array()
        .expect("confirmations");
    assert_eq!(confirmations.len(), 1);
    assert_eq!(confirmations[0]["stakeholderId"], "ttd");
    assert!(confirmations[0]["confirmedOn"].is_string());
    assert_eq!(first["status"]["readStatus"], "Read", "Storage dialect");
    assert_eq!(first["lastChangedBy"], "991825827");

    let second: Value = http()
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(second, first, "a second complete changes nothing");

    // Through the app: same single confirmation, App dialect without the party.
    let app_url = format!("{}/complete", app_instance_url(&sim, &instance));
    let app = http()
        .post(&app_url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(app.status().as_u16(), 200);
    let app: Value = app.json().await.expect("json");
    assert_eq!(app["status"]["readStatus"], 1);
    assert!(app["instanceOwner"].get("party").is_none());
    assert_eq!(app["completeConfirmations"], first["completeConfirmations"]);

    let recorded = sim.complete_confirmations(instance.party_id, instance.instance_guid);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "ttd");
    assert_eq!(
        Value::from(recorded[0].1.clone()),
        confirmations[0]["confirmedOn"]
    );
}

#[tokio::test]
async fn complete_of_an_unfinished_process_succeeds_like_storage() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default().completed(false));
    let token = altinn_token(&sim, READ_WRITE).await;
    let url = format!("{}/complete", storage_instance_url(&sim, &instance));
    assert_eq!(status_of(http().post(&url).bearer_auth(&token)).await, 200);
    assert_eq!(
        sim.complete_confirmations(instance.party_id, instance.instance_guid)
            .len(),
        1
    );
}

#[tokio::test]
async fn demo_seed_has_the_documented_shape() {
    let sim = start().await;
    let seeded = sim.seed_demo(3 * 1024 * 1024 + 5);
    assert_eq!(seeded.len(), 5);
    assert!(seeded.iter().any(|i| i.data.iter().any(|d| d.hard_deleted)));
    assert!(
        seeded
            .iter()
            .any(|i| i.data.iter().any(|d| d.size == 3 * 1024 * 1024 + 5))
    );
    let unfinished = &seeded[3];
    let json = sim
        .instance_json(unfinished.party_id, unfinished.instance_guid)
        .expect("instance");
    assert!(json["process"].get("ended").is_none());
    let waiting = &seeded[4];
    let json = sim
        .instance_json(waiting.party_id, waiting.instance_guid)
        .expect("instance");
    assert_eq!(json["process"]["currentTask"]["elementId"], "Task_2");
    assert_eq!(json["process"]["currentTask"]["altinnTaskType"], "feedback");
    assert!(
        sim.data_types("ttd/demo-app")
            .iter()
            .any(|t| t.id == altinn_sim::DEMO_RECEIPT_DATA_TYPE
                && t.task_id.as_deref() == Some("Task_2")),
        "the demo app takes the receipt in its feedback task"
    );
    for instance in &seeded[..3] {
        let json = sim
            .instance_json(instance.party_id, instance.instance_guid)
            .expect("instance");
        assert_eq!(json["status"]["isArchived"], true);
        assert_eq!(
            json["data"].as_array().expect("data").len(),
            instance.data.len()
        );
    }
}
