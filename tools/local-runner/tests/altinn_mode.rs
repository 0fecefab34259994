//! `archive-local altinn`, run against the simulator with `ALTINN_ENV=local`: the same code path
//! a user runs against tt02 with their own Maskinporten client.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use altinn_sim::{SeededInstance, SimConfig, Simulator};
use common::{ScratchDir, assert_no_secret_printed, files_under};
use local_runner::{AltinnOptions, AltinnOutcome, ArchiveTarget, Progress, RunError, run_altinn};

/// The variables a user would export for tt02, pointed at the simulator instead; the key comes
/// from a file, as the README suggests.
fn user_environment(simulator: &Simulator, key_file: &Path) -> HashMap<String, String> {
    let config = simulator.config();
    HashMap::from([
        ("ALTINN_ENV".to_owned(), "local".to_owned()),
        (
            "ALTINN_PLATFORM_URL".to_owned(),
            simulator.platform_url().to_string(),
        ),
        (
            "ALTINN_APPS_URL".to_owned(),
            simulator.apps_url().to_string(),
        ),
        (
            "MASKINPORTEN_URL".to_owned(),
            simulator.maskinporten_issuer().to_string(),
        ),
        (
            "MASKINPORTEN_CLIENT_ID".to_owned(),
            config.client_id.clone(),
        ),
        ("MASKINPORTEN_KID".to_owned(), config.client_kid.clone()),
        (
            "MASKINPORTEN_KEY_FILE".to_owned(),
            key_file.display().to_string(),
        ),
        // Not taken from the environment: the runner makes its own queue.
        (
            "QUEUE_URL".to_owned(),
            "https://sqs.eu-north-1.amazonaws.com/1/elsewhere".to_owned(),
        ),
    ])
}

fn options(folder: &Path) -> AltinnOptions {
    AltinnOptions {
        org: "ttd".into(),
        app: "demo-app".into(),
        instance: None,
        target: ArchiveTarget::Folder(folder.to_path_buf()),
        limit: 10,
        yes: false,
        allow_prod: false,
        timeout: Duration::from_secs(60),
    }
}

fn confirmed(simulator: &Simulator, instance: &SeededInstance) -> bool {
    simulator
        .complete_confirmations(instance.party_id, instance.instance_guid)
        .iter()
        .any(|(stakeholder, _)| stakeholder == "ttd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_without_yes_then_archives_and_completes_then_finds_nothing_left() {
    let simulator = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let seeded = simulator.seed_demo(1024 * 1024);
    let scratch = ScratchDir::new("altinn");
    let key_file = scratch.path().join("client-key.pem");
    std::fs::write(&key_file, altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM).expect("key file");
    let output = scratch.path().join("archive");
    let vars = user_environment(&simulator, &key_file);
    let environment = |name: &str| vars.get(name).cloned();

    // Without --yes: the three completed instances are listed, nothing is touched.
    let progress = Progress::capturing();
    let outcome = run_altinn(&options(&output), &environment, &progress)
        .await
        .expect("dry run");
    let AltinnOutcome::DryRun { instances } = &outcome else {
        panic!("expected a dry run, got {outcome:?}");
    };
    assert_eq!(instances.len(), 3);
    assert!(outcome.succeeded());
    assert!(seeded.iter().all(|i| !confirmed(&simulator, i)));
    assert!(!output.exists(), "a dry run writes nothing");
    assert!(
        progress
            .lines()
            .iter()
            .any(|l| l.contains("Add --yes to go ahead"))
    );

    // With --yes: archived through the webhook and the archiver, completed in "Altinn".
    let progress = Progress::capturing();
    let go = AltinnOptions {
        yes: true,
        ..options(&output)
    };
    let outcome = run_altinn(&go, &environment, &progress).await.expect("run");
    let AltinnOutcome::Ran(summary) = &outcome else {
        panic!("expected a run, got {outcome:?}");
    };
    assert!(summary.succeeded(), "problems: {:?}", summary.problems());
    assert_eq!(summary.events_sent, 3);
    assert_eq!(summary.events_received(), 3);
    assert_eq!(summary.webhook.validation_events, 0);
    assert_eq!((summary.archived(), summary.completed()), (3, 3));
    assert!(summary.dead_letters.is_empty());
    let (completed, unfinished): (Vec<_>, Vec<_>) =
        seeded.iter().partition(|i| confirmed(&simulator, i));
    // Not completed: the one in its first task and the one waiting in the feedback task (the
    // tt02 mode archives what Storage reports completed; it does not write back).
    assert_eq!((completed.len(), unfinished.len()), (3, 2));
    let files = files_under(&output);
    assert_eq!(files.len(), summary.objects());
    for instance in &completed {
        let manifest = format!(
            "ttd/demo-app/{}/{}/manifest.json",
            instance.party_id, instance.instance_guid
        );
        assert!(files.contains(&manifest), "{manifest} in {files:#?}");
    }
    assert_no_secret_printed(&progress.lines());

    // Again: the Storage query excludes what we confirmed, so there is nothing to do.
    let outcome = run_altinn(&go, &environment, &Progress::capturing())
        .await
        .expect("second run");
    assert!(matches!(outcome, AltinnOutcome::NothingToDo), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_instance_ends_in_the_dead_letter_queue_with_its_reason() {
    let simulator = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let seeded = simulator.seed_demo(1024);
    let unfinished = seeded
        .iter()
        .find(|i| i.data.len() == 1)
        .expect("the demo's unfinished instance has only its form");
    let scratch = ScratchDir::new("altinn-unfinished");
    let key_file = scratch.path().join("client-key.pem");
    std::fs::write(&key_file, altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM).expect("key file");
    let vars = user_environment(&simulator, &key_file);
    let environment = |name: &str| vars.get(name).cloned();
    let options = AltinnOptions {
        instance: Some((unfinished.party_id, unfinished.instance_guid)),
        yes: true,
        ..options(&scratch.path().join("archive"))
    };
    let outcome = run_altinn(&options, &environment, &Progress::capturing())
        .await
        .expect("run");
    let AltinnOutcome::Ran(summary) = &outcome else {
        panic!("expected a run, got {outcome:?}");
    };
    assert!(!outcome.succeeded());
    assert_eq!(summary.dead_letters.len(), 1, "{:?}", summary.dead_letters);
    assert_eq!(
        summary.dead_letters[0].reason.as_deref(),
        Some("instance_not_completed")
    );
    assert_eq!(summary.archived(), 0);
    assert!(!confirmed(&simulator, unfinished));
    assert!(
        summary
            .problems()
            .iter()
            .any(|p| p.contains("dead-letter queue"))
    );
}

#[tokio::test]
async fn production_is_refused_unless_asked_for() {
    let vars = HashMap::from([
        ("ALTINN_ENV", "prod"),
        ("MASKINPORTEN_CLIENT_ID", "client"),
        ("MASKINPORTEN_KID", "kid"),
        ("MASKINPORTEN_KEY", altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM),
    ]);
    let environment = |name: &str| vars.get(name).map(|v| (*v).to_owned());
    let scratch = ScratchDir::new("prod");
    let error = run_altinn(
        &options(scratch.path()),
        &environment,
        &Progress::capturing(),
    )
    .await
    .expect_err("prod is refused");
    assert!(matches!(error, RunError::Usage(_)), "{error}");
    assert!(error.to_string().contains("--allow-prod"), "{error}");
}
