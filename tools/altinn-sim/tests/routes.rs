//! Every row of `SERVED_ROUTES` is really routed with its method, and every one is classified
//! for fault injection and the request log.

mod common;

use altinn_sim::{InstanceSpec, SERVED_ROUTES};
use common::*;

#[tokio::test]
async fn every_served_route_is_routed_and_classified() {
    let sim = start().await;
    let instance = sim.add_instance(InstanceSpec::default());
    let token = altinn_token(&sim, READ_WRITE).await;
    let data_id = instance.data[0].id.to_string();
    let party = instance.party_id.to_string();
    let guid = instance.instance_guid.to_string();
    for (method, template) in SERVED_ROUTES {
        let path = template
            .replace("{org}", &instance.org)
            .replace("{app}", &instance.app)
            .replace("{party}", &party)
            .replace("{guid}", &guid)
            .replace("{data}", &data_id)
            .replace("{data_type}", "attachment");
        assert!(!path.contains('{'), "unreplaced placeholder in {template}");
        let url = format!("{}{}", sim.base_url(), path.trim_start_matches('/'));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        sim.clear_requests();
        let response = http()
            .request(method.clone(), &url)
            .bearer_auth(&token)
            .query(&[("org", "ttd")])
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(
            status, 405,
            "{method} {template} is not routed with that method"
        );
        assert!(
            !(status == 404 && body == "Not simulated"),
            "{method} {template} is not routed"
        );
        let requests = sim.requests();
        assert!(
            requests[0].route.is_some(),
            "{method} {template} has no Route for faults"
        );
    }
}

/// The same for the Correspondence routes (kept out of `SERVED_ROUTES`, which the contract
/// tests check against Storage and App documents only).
#[tokio::test]
async fn every_correspondence_route_is_routed_and_classified() {
    let sim = start().await;
    let c = sim.add_correspondence(
        altinn_sim::CorrespondenceSpec::new("ttd-correspondence", "ttd", "991825827")
            .with_attachment("a.txt", 10),
    );
    sim.publish_correspondence(c.id);
    let token = altinn_token(&sim, "altinn:correspondence.read").await;
    for (method, template) in altinn_sim::CORRESPONDENCE_ROUTES {
        let path = template
            .replace("{id}", &c.id.to_string())
            .replace("{attachment}", &c.attachments[0].id.to_string());
        let url = format!("{}{}", sim.base_url(), path.trim_start_matches('/'));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        sim.clear_requests();
        let response = http()
            .request(method.clone(), &url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_ne!(
            status, 405,
            "{method} {template} is not routed with that method"
        );
        assert!(
            !(status == 404 && body == "Not simulated"),
            "{method} {template} is not routed"
        );
        assert!(
            sim.requests()[0].route.is_some(),
            "{method} {template} has no Route for faults"
        );
    }
}
