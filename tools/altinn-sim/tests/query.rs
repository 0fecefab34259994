//! Storage's instance query: filters, Storage's order (`lastChanged` descending by default,
//! `order=asc:…` ascending), its continuation tokens and paging, and who may query.

mod common;

use altinn_sim::{InstanceSpec, SeededInstance, Simulator};
use common::*;
use serde_json::Value;

async fn query(sim: &Simulator, token: &str, query: &str) -> (u16, Value) {
    let url = format!("{}storage/api/v1/instances?{query}", sim.base_url());
    let (status, _, body) = send(http().get(url).bearer_auth(token)).await;
    (status, body)
}

#[tokio::test]
async fn query_filters_pages_and_excludes_confirmed() {
    let sim = start().await;
    let wanted: Vec<SeededInstance> = (0..5)
        .map(|i| sim.add_instance(InstanceSpec::new("q-app", 100 + i)))
        .collect();
    sim.add_instance(InstanceSpec::new("q-app", 200).completed(false));
    sim.add_instance(InstanceSpec::new("other-app", 201));
    sim.add_instance(InstanceSpec::new("q-app", 202).with_org("skd"));
    let token = altinn_token(&sim, READ_WRITE).await;

    let first_query =
        "org=ttd&appId=ttd%2Fq-app&process.isComplete=true&excludeConfirmedBy=ttd&size=2";
    let (status, page) = query(&sim, &token, first_query).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], 2);
    assert_eq!(
        page["self"],
        format!("{}storage/api/v1/instances?{first_query}", sim.base_url())
    );
    let mut seen = Vec::new();
    let mut page = page;
    loop {
        for instance in page["instances"].as_array().expect("instances") {
            assert!(instance.get("selfLinks").is_some());
            seen.push(instance["id"].as_str().expect("id").to_owned());
        }
        let Some(next) = page.get("next").and_then(Value::as_str) else {
            break;
        };
        assert!(
            next.starts_with(&format!("{}storage/api/v1/instances?", sim.base_url())),
            "{next}"
        );
        assert!(next.contains("continuationToken="));
        // Storage's token, `{ticks};{id}`, URL-encoded by the controller and again in the link.
        let token_param = next.split("continuationToken=").nth(1).unwrap();
        let (ticks, id) = token_param
            .split_once("%253b")
            .expect("a double-encoded ';'");
        assert!(
            ticks.parse::<u64>().is_ok() && id.parse::<u64>().is_ok(),
            "{next}"
        );
        let (status, _, next_page) = send(http().get(next).bearer_auth(&token)).await;
        assert_eq!(status, 200);
        page = next_page;
    }
    // Storage's default order: lastChanged descending (the last seeded changed last).
    let expected: Vec<String> = wanted
        .iter()
        .rev()
        .map(SeededInstance::instance_id)
        .collect();
    assert_eq!(
        seen, expected,
        "all and only the completed q-app instances of ttd, newest first"
    );
    assert_eq!(page["count"], 1, "the last page");

    // Confirm two; they drop out of excludeConfirmedBy=ttd but not out of a plain query.
    for instance in &wanted[..2] {
        let url = storage_url(&sim, instance, "/complete");
        assert_eq!(send(http().post(&url).bearer_auth(&token)).await.0, 200);
    }
    let (_, page) = query(
        &sim,
        &token,
        "appId=ttd/q-app&process.isComplete=true&excludeConfirmedBy=ttd",
    )
    .await;
    assert_eq!(page["count"], 3);
    assert!(page.get("next").is_none());
    let (_, page) = query(&sim, &token, "appId=ttd/q-app&process.isComplete=true").await;
    assert_eq!(page["count"], 5);
    let (_, page) = query(&sim, &token, "org=ttd&process.isComplete=false").await;
    assert_eq!(page["count"], 1);
}

#[tokio::test]
async fn query_default_size_is_100_and_access_is_checked() {
    let sim = start().await;
    for party in 0..105 {
        sim.add_instance(InstanceSpec::new("many", 1000 + party));
    }
    let token = altinn_token(&sim, READ).await;
    let (status, page) = query(&sim, &token, "org=ttd").await;
    assert_eq!(status, 200);
    assert_eq!(page["count"], 100);
    assert!(page["next"].is_string());

    assert_eq!(query(&sim, &token, "org=skd").await.0, 403, "another org");
    assert_eq!(
        query(&sim, &token, "appId=skd/app").await.0,
        403,
        "another org's app"
    );
    assert_eq!(
        query(&sim, &token, "process.isComplete=true").await.0,
        400,
        "no org or appId"
    );
    assert_eq!(query(&sim, &token, "org=ttd&size=zero").await.0, 400);
    assert_eq!(
        query(&sim, &token, "org=ttd&continuationToken=bogus")
            .await
            .0,
        400
    );
    let no_org = altinn_token(&sim, "altinn:events.subscribe").await;
    assert_eq!(query(&sim, &no_org, "org=ttd").await.0, 403);
    let response = http()
        .get(format!(
            "{}storage/api/v1/instances?org=ttd",
            sim.base_url()
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn order_asc_reverses_and_a_full_last_page_is_followed_by_an_empty_one() {
    let sim = start().await;
    let wanted: Vec<SeededInstance> = (0..4)
        .map(|i| sim.add_instance(InstanceSpec::new("order-app", 300 + i)))
        .collect();
    let token = altinn_token(&sim, READ).await;
    let ids = |page: &Value| -> Vec<String> {
        page["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, page) = query(
        &sim,
        &token,
        "appId=ttd/order-app&order=asc:lastChanged&size=2",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        ids(&page),
        [wanted[0].instance_id(), wanted[1].instance_id()]
    );
    let next = page["next"].as_str().expect("next").to_owned();
    assert!(next.contains("order=asc%3AlastChanged"), "{next}");
    let (_, _, page) = send(http().get(&next).bearer_auth(&token)).await;
    assert_eq!(
        ids(&page),
        [wanted[2].instance_id(), wanted[3].instance_id()]
    );
    // The page was full, so Storage hands out a token; the page after it is empty.
    let next = page["next"]
        .as_str()
        .expect("next after a full page")
        .to_owned();
    let (_, _, page) = send(http().get(&next).bearer_auth(&token)).await;
    assert_eq!(page["count"], 0);
    assert!(page.get("next").is_none());

    // A change moves an instance to the front of the default order.
    let url = storage_url(&sim, &wanted[0], "/substatus");
    let write = altinn_token(&sim, WRITE).await;
    let (status, _, _) = send(
        http()
            .put(url)
            .bearer_auth(&write)
            .json(&serde_json::json!({"label": "x"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, page) = query(&sim, &token, "appId=ttd/order-app&size=1").await;
    assert_eq!(ids(&page), [wanted[0].instance_id()]);
    // A token typed in decoded form works too.
    let next = page["next"].as_str().unwrap();
    let decoded = next.replace("%253b", ";");
    let (_, _, page) = send(http().get(&decoded).bearer_auth(&token)).await;
    assert_eq!(ids(&page), [wanted[3].instance_id()]);
}
