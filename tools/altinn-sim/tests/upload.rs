//! The App API's legacy data upload (`POST …/data?dataType=`): 201 with the new DataElement,
//! the element visible in Storage afterwards, `maxCount` enforced with 409, and the usual
//! 401/403/404. The checks shared with the current route are in `upload_checks.rs`.

mod common;

use altinn_sim::{DataSpec, DataTypeSpec, InstanceSpec, Route, SeededInstance, Simulator};
use common::*;
use serde_json::Value;
use uuid::Uuid;

const WRITE: &str = "altinn:serviceowner/instances.write";
const READ: &str = "altinn:serviceowner/instances.read";

fn upload_url(sim: &Simulator, i: &SeededInstance, data_type: Option<&str>) -> String {
    let mut url = sim.base_url();
    url.path_segments_mut().unwrap().pop_if_empty().extend([
        i.org.as_str(),
        i.app.as_str(),
        "instances",
        &i.party_id.to_string(),
        &i.instance_guid.to_string(),
        "data",
    ]);
    if let Some(data_type) = data_type {
        url.query_pairs_mut().append_pair("dataType", data_type);
    }
    url.to_string()
}

async fn upload(
    sim: &Simulator,
    i: &SeededInstance,
    token: &str,
    data_type: Option<&str>,
    filename: &str,
    body: &'static [u8],
) -> (u16, Option<String>, Value) {
    let response = http()
        .post(upload_url(sim, i, data_type))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .header(
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        )
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.expect("body");
    (
        status,
        location,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn upload_answers_201_with_the_element_and_storage_shows_it() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::new("upload-app", 51_000_001).completed(false));
    sim.add_data_type("ttd/upload-app", DataTypeSpec::binary("feedback"));
    let token = altinn_token(&sim, &format!("{READ} {WRITE}")).await;

    let body: &'static [u8] = b"<Receipt>ok</Receipt>";
    let (status, location, element) = upload(
        &sim,
        &instance,
        &token,
        Some("feedback"),
        "receipt-1.xml",
        body,
    )
    .await;
    assert_eq!(status, 201, "{element}");
    let id = element["id"].as_str().expect("id");
    Uuid::parse_str(id).expect("a GUID id");
    assert_eq!(element["dataType"], "feedback");
    assert_eq!(element["filename"], "receipt-1.xml");
    assert_eq!(element["contentType"], "application/xml");
    assert_eq!(element["size"], body.len());
    assert_eq!(
        element["instanceGuid"],
        instance.instance_guid.to_string().as_str()
    );
    // App dialect: nulls written, an apps self-link, which is also the Location.
    assert!(element["contentHash"].is_null());
    assert_eq!(location.as_deref(), element["selfLinks"]["apps"].as_str());

    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .expect("instance");
    let listed = stored["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .expect("the new element in Storage's instance");
    assert_eq!(listed["dataType"], "feedback");
    assert_eq!(
        sim.data_bytes(instance.instance_guid, Uuid::parse_str(id).unwrap())
            .as_deref(),
        Some(body)
    );
    // And it downloads through Storage like any element.
    let download = http()
        .get(format!(
            "{}storage/api/v1/instances/{}/data/{id}",
            sim.base_url(),
            instance.instance_id()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), body);
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.route == Some(Route::AppPostData))
            .count(),
        1
    );
}

#[tokio::test]
async fn max_count_is_enforced_per_app_and_data_type() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::new("limited-app", 51_000_002)
            .with_data(DataSpec::xml_form())
            .completed(false),
    );
    let other_app = sim.add_instance(InstanceSpec::new("other-app", 51_000_003).completed(false));
    sim.set_data_type_max_count("ttd/limited-app", "feedback", 1);
    sim.add_data_type("ttd/limited-app", DataTypeSpec::binary("other"));
    sim.add_data_type("ttd/other-app", DataTypeSpec::binary("feedback"));
    let token = altinn_token(&sim, WRITE).await;

    let first = upload(&sim, &instance, &token, Some("feedback"), "a.xml", b"<a/>").await;
    assert_eq!(first.0, 201);
    let (status, _, problem) =
        upload(&sim, &instance, &token, Some("feedback"), "b.xml", b"<b/>").await;
    // app-lib's DataElementAccessChecker: 409, not 400.
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["status"], 409);
    assert_eq!(problem["title"], "Max Count Exceeded");
    // Other data types and other apps are not limited.
    for _ in 0..2 {
        assert_eq!(
            upload(&sim, &instance, &token, Some("other"), "c.xml", b"<c/>")
                .await
                .0,
            201
        );
        assert_eq!(
            upload(&sim, &other_app, &token, Some("feedback"), "d.xml", b"<d/>")
                .await
                .0,
            201
        );
    }
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    let feedback = stored["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["dataType"] == "feedback")
        .count();
    assert_eq!(feedback, 1, "the refused upload left nothing behind");
}

#[tokio::test]
async fn refusals_without_data_type_token_scope_or_instance() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::new("upload-app", 51_000_004).completed(false));
    sim.add_data_type("ttd/upload-app", DataTypeSpec::binary("feedback"));
    let write = altinn_token(&sim, WRITE).await;
    let read_only = altinn_token(&sim, READ).await;

    assert_eq!(
        upload(&sim, &instance, &write, None, "a.xml", b"<a/>")
            .await
            .0,
        400
    );
    assert_eq!(
        upload(
            &sim,
            &instance,
            &read_only,
            Some("feedback"),
            "a.xml",
            b"<a/>"
        )
        .await
        .0,
        403
    );
    assert_eq!(
        upload(
            &sim,
            &instance,
            "not-a-token",
            Some("feedback"),
            "a.xml",
            b"<a/>"
        )
        .await
        .0,
        401
    );
    let unknown = SeededInstance {
        instance_guid: Uuid::new_v4(),
        ..instance.clone()
    };
    let (status, _, problem) =
        upload(&sim, &unknown, &write, Some("feedback"), "a.xml", b"<a/>").await;
    assert_eq!(status, 404);
    assert_eq!(problem["status"], 404);
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert!(stored["data"].as_array().unwrap().is_empty());
}
