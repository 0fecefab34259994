//! Every command against moto_server (and the Altinn simulator for `reconcile`).

mod common;

use std::collections::HashMap;

use altinn_sim::{InstanceSpec, SimConfig, Simulator};
use archive_ops::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use aws_sdk_sqs::types::MessageAttributeValue;
use common::run;
use testkit::MotoServer;

async fn dead_letter(moto: &MotoServer, dlq: &str, reason: Option<&str>, instance: &str) -> String {
    let attribute = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    };
    let body = format!(
        r#"{{"specversion":"1.0","id":"ev-{instance}","source":"https://x","type":"app.instance.process.completed"}}"#
    );
    let mut request = moto
        .sqs()
        .await
        .send_message()
        .queue_url(dlq)
        .message_body(body)
        .message_attributes("Instance", attribute(instance))
        .message_attributes("EventId", attribute(&format!("ev-{instance}")));
    if let Some(reason) = reason {
        request = request
            .message_attributes("Reason", attribute(reason))
            .message_attributes("ErrorClass", attribute("permanent"))
            .message_attributes("Detail", attribute("Storage answered 404"));
    }
    request.send().await.unwrap().message_id.unwrap()
}

#[tokio::test]
async fn dlq_list_show_and_redrive() {
    let moto = MotoServer::start().await;
    let dlq = moto.create_queue("dlq").await;
    let queue = moto.create_queue("events").await;
    let env = HashMap::from([
        ("DEAD_LETTER_QUEUE_URL", dlq.clone()),
        ("QUEUE_URL", queue.clone()),
    ]);
    let first = dead_letter(&moto, &dlq, Some("altinn_not_found"), "ttd/app/1/a").await;
    let second = dead_letter(&moto, &dlq, None, "ttd/app/2/b").await;

    let listed = run(&moto, &env, &["dlq", "list", "--json"]).await;
    assert_eq!(listed.code, EXIT_OK, "{}", listed.err);
    let letters: serde_json::Value = serde_json::from_str(&listed.out).unwrap();
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 2);
    let by_id = |id: &str| {
        letters
            .iter()
            .find(|l| l["messageId"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(&first)["reason"], "altinn_not_found");
    assert_eq!(by_id(&first)["eventType"], "app.instance.process.completed");
    assert_eq!(by_id(&second)["reason"], "redrive-policy");

    // Listing does not consume: the table shows both again.
    let table = run(&moto, &env, &["dlq", "list"]).await;
    assert!(table.out.starts_with("MESSAGE ID"), "{}", table.out);
    assert!(
        table.out.contains("altinn_not_found") && table.out.contains("2 message(s)"),
        "{}",
        table.out
    );

    let shown = run(&moto, &env, &["dlq", "show", &first, "--json"]).await;
    assert_eq!(shown.code, EXIT_OK);
    let shown: serde_json::Value = serde_json::from_str(&shown.out).unwrap();
    assert_eq!(shown["attributes"]["Detail"], "Storage answered 404");
    assert!(shown["body"].as_str().unwrap().contains("ev-ttd/app/1/a"));
    assert_eq!(
        run(&moto, &env, &["dlq", "show", "no-such-id"]).await.code,
        EXIT_FAILURE
    );

    let redriven = run(&moto, &env, &["dlq", "redrive", "--id", &first]).await;
    assert_eq!(redriven.code, EXIT_OK, "{}", redriven.err);
    let moved = moto.receive_all(&queue).await;
    assert_eq!(moved.len(), 1);
    let attributes = moved[0].message_attributes().unwrap();
    assert_eq!(attributes["Instance"].string_value(), Some("ttd/app/1/a"));
    assert_eq!(
        attributes["EventType"].string_value(),
        Some("app.instance.process.completed")
    );
    assert!(
        !attributes.contains_key("Reason"),
        "failure attributes stay behind"
    );

    let missing = run(&moto, &env, &["dlq", "redrive", "--id", "gone"]).await;
    assert_eq!(missing.code, EXIT_FAILURE);
    let all = run(&moto, &env, &["dlq", "redrive", "--all", "--json"]).await;
    assert_eq!(all.code, EXIT_OK);
    let all: serde_json::Value = serde_json::from_str(&all.out).unwrap();
    assert_eq!(all["redriven"], serde_json::json!([second]));
    let empty = run(&moto, &env, &["dlq", "list", "--json"]).await;
    assert_eq!(empty.out.trim(), "[]");
}

#[tokio::test]
async fn usage_errors_exit_2_and_help_exits_0() {
    let moto = MotoServer::start().await;
    let env = HashMap::new();
    for words in [
        &["frobnicate"][..],
        &["dlq", "redrive"],
        &["dlq", "redrive", "--all", "--id", "x"],
        &["reconcile"],
        &["reconcile", "--app", "not-an-app"],
        &["dlq", "list", "--bogus"],
        &["dlq", "list"],
        &[],
    ] {
        let output = run(&moto, &env, words).await;
        assert_eq!(output.code, EXIT_USAGE, "{words:?}: {}", output.err);
    }
    for words in [&["--help"][..], &["dlq", "--help"], &["reconcile", "-h"]] {
        let output = run(&moto, &env, words).await;
        assert_eq!(output.code, EXIT_OK, "{words:?}");
        assert!(output.out.contains("Usage:"), "{words:?}");
    }
}

#[tokio::test]
async fn reconcile_reports_missing_instances_and_enqueues_them() {
    let moto = MotoServer::start().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    moto.create_bucket("archive").await;
    let queue = moto.create_queue("events").await;
    let lost = sim.add_instance(InstanceSpec::new("ops-app", 60_000_001));
    let base = sim.base_url().to_string();
    let env = HashMap::from([
        ("ALTINN_ENV", "local".to_owned()),
        ("ALTINN_ORG", "ttd".to_owned()),
        ("ALTINN_PLATFORM_URL", base.clone()),
        ("ALTINN_APPS_URL", base),
        ("MASKINPORTEN_URL", sim.maskinporten_issuer().to_string()),
        ("MASKINPORTEN_CLIENT_ID", "sim-client".to_owned()),
        ("MASKINPORTEN_KID", "sim-kid".to_owned()),
        (
            "MASKINPORTEN_KEY",
            altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM.to_owned(),
        ),
        ("ARCHIVE_BUCKET", "archive".to_owned()),
        ("QUEUE_URL", queue.clone()),
    ]);
    let expected = format!("ttd/ops-app/{}/{}", lost.party_id, lost.instance_guid);
    // Held for review by the archiver: reported, never enqueued.
    let held = sim.add_instance(
        InstanceSpec::new("ops-app", 60_000_002)
            .completed(true)
            .with_data(
                altinn_sim::DataSpec::attachment("x.pdf", 64, 1)
                    .with_scan(altinn_sim::SeededScan::Infected),
            ),
    );
    let held_element = held.data.last().unwrap().id.to_string();
    let held_ref = altinn::InstanceRef {
        org: "ttd".into(),
        app: "ops-app".into(),
        party_id: held.party_id,
        instance_guid: held.instance_guid,
    };
    let review = archive_model::ArchiveLayout::new("")
        .unwrap()
        .quarantine_review(&held_ref, &held_element)
        .unwrap();
    moto.s3()
        .await
        .put_object()
        .bucket("archive")
        .key(review)
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();

    let dry = run(
        &moto,
        &env,
        &["reconcile", "--app", "ttd/ops-app", "--dry-run"],
    )
    .await;
    assert_eq!(
        dry.code, EXIT_FAILURE,
        "missing instances are worth a non-zero exit: {}",
        dry.err
    );
    assert!(
        dry.out.contains(&expected) && dry.out.contains("missing"),
        "{}",
        dry.out
    );
    assert!(
        dry.out
            .contains(&format!("Infected, not released: {held_element}"))
            && dry.out.contains("1 held for review"),
        "{}",
        dry.out
    );
    assert!(
        moto.receive_all(&queue).await.is_empty(),
        "a dry run sends nothing"
    );

    let real = run(
        &moto,
        &env,
        &["reconcile", "--app", "ttd/ops-app", "--json"],
    )
    .await;
    assert_eq!(real.code, EXIT_OK, "{}", real.err);
    let report: serde_json::Value = serde_json::from_str(&real.out).unwrap();
    assert_eq!(
        (report["enqueued"].clone(), report["held"].clone()),
        (1.into(), 1.into())
    );
    let status = |instance: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["instance"] == instance)
            .map(|f| f["status"].clone())
    };
    assert_eq!(status(&expected), Some("enqueued".into()));
    let held_path = format!("ttd/ops-app/{}/{}", held.party_id, held.instance_guid);
    assert_eq!(status(&held_path), Some("held".into()));
    assert_eq!(moto.receive_all(&queue).await.len(), 1);

    let foreign = run(
        &moto,
        &env,
        &["reconcile", "--app", "skd/ops-app", "--dry-run"],
    )
    .await;
    assert_eq!(foreign.code, EXIT_USAGE);
}

#[tokio::test]
async fn version_and_shell_completions() {
    let moto = MotoServer::start().await;
    let env = HashMap::new();
    let version = run(&moto, &env, &["--version"]).await;
    assert_eq!(version.code, EXIT_OK);
    assert!(version.out.starts_with("archive-ops "), "{}", version.out);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = run(&moto, &env, &["completions", shell]).await;
        assert_eq!(script.code, EXIT_OK, "{shell}: {}", script.err);
        assert!(
            script.out.contains("archive-ops") && script.out.contains("wait-validated"),
            "{shell}"
        );
    }
    assert_eq!(
        run(&moto, &env, &["completions", "tcsh"]).await.code,
        EXIT_USAGE
    );
}
