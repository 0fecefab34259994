//! Seeded malware scan results: a scan that finishes after a few reads, one that never does,
//! and an `Infected` element whose bytes Storage still serves (its data GET ignores the scan).

mod common;

use altinn_sim::{DataSpec, InstanceSpec, SeededScan};
use common::*;
use serde_json::Value;

fn scan_results(json: &Value) -> Vec<String> {
    json["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| d["fileScanResult"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn seeded_scans_show_pending_then_clean_pending_forever_and_infected() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::new("scan-app", 1)
            .with_data(
                DataSpec::attachment("late.pdf", 1000, 1)
                    .with_scan(SeededScan::PendingFor { reads: 2 }),
            )
            .with_data(DataSpec::attachment("stuck.pdf", 1000, 2).with_scan(SeededScan::Pending))
            .with_data(DataSpec::attachment("eicar.pdf", 1000, 3).with_scan(SeededScan::Infected))
            .with_data(DataSpec::attachment("plain.pdf", 1000, 4)),
    );
    let token = altinn_token(&sim, READ).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (status, _, json) = send(
            http()
                .get(storage_url(&sim, &instance, ""))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 200);
        seen.push(scan_results(&json));
    }
    let expected = |late: &str| -> Vec<String> {
        [late, "Pending", "Infected", "NotApplicable"]
            .map(str::to_owned)
            .to_vec()
    };
    assert_eq!(seen[0], expected("Pending"));
    assert_eq!(seen[1], expected("Pending"));
    assert_eq!(seen[2], expected("Clean"), "clean after two reads");

    // The App API's answer shows the same results (and counts as a read too).
    let (_, _, json) = send(http().get(app_url(&sim, &instance, "")).bearer_auth(&token)).await;
    assert_eq!(scan_results(&json), expected("Clean"));

    let infected = &instance.data[2];
    let response = http()
        .get(storage_url(
            &sim,
            &instance,
            &format!("/data/{}", infected.id),
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status().as_u16(),
        200,
        "Storage serves Infected bytes"
    );
    assert_eq!(response.bytes().await.unwrap().len() as u64, infected.size);
}

#[tokio::test]
async fn a_scan_result_can_be_set_after_seeding() {
    let sim = start().await;
    let instance = sim.add_instance(
        InstanceSpec::new("scan-app", 2).with_data(DataSpec::attachment("a.pdf", 100, 1)),
    );
    let id = instance.data[0].id;
    assert!(sim.set_scan(instance.instance_guid, id, SeededScan::Infected));
    let json = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(scan_results(&json), ["Infected"]);
    assert!(!sim.set_scan(
        instance.instance_guid,
        uuid::Uuid::new_v4(),
        SeededScan::Clean
    ));
}
