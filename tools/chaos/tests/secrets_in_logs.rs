//! The whole flow with every log at TRACE: no log line, progress line, HTTP answer,
//! dead-letter reason or Debug output contains the webhook secret, the Maskinporten key or any
//! token the simulator issued. One test in its own binary, because it installs the global
//! tracing subscriber.

use std::io::Write;
use std::time::{Duration, Instant};

mod captured;

use altinn::RetryPolicy;
use altinn::event::PROCESS_COMPLETED;
use altinn_sim::{DataSpec, Fault, FaultRule, InstanceSpec, Route, SimConfig, Simulator};
use captured::Captured;
use chaos::{ChaosSystem, SystemOptions};
use local_runner::local_aws::read_dead_letters;
use tokio::sync::watch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_key_or_token_appears_in_any_log_error_or_answer_at_trace() {
    // Both formats: plain text and the JSON Lambda logs in (fields are rendered differently).
    let captured = Captured::default();
    let json_capture = Captured::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(captured.clone()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(json_capture.clone()),
        )
        .init();

    let simulator = Simulator::start(SimConfig {
        retry_time_scale: 0.001,
        // Short-lived tokens, so the flow fetches several.
        altinn_token_lifetime: Duration::from_secs(3),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let options = SystemOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            request_timeout: Duration::from_secs(5),
        },
        archiver_max_receive_count: 3,
        ..SystemOptions::default()
    };
    let system = ChaosSystem::start(&simulator, &options).await;
    system.subscribe(&simulator, "ttd", "secret-app").await;

    let mut instances = Vec::new();
    for n in 0..4u64 {
        instances.push(simulator.add_instance(InstanceSpec {
            org: None,
            app: "secret-app".into(),
            party_id: 50_004_000 + n,
            instance_guid: None,
            // The last one never finished its process: a permanent failure with an error message.
            completed: n < 3,
            data: vec![
                DataSpec::xml_form(),
                DataSpec::attachment("vedlegg.pdf", 70_000 + n * 1000, n),
            ],
            ..InstanceSpec::default()
        }));
    }
    // Errors on the way: a refused token exchange, 5xx, a dropped connection, revoked tokens.
    simulator.inject(FaultRule::times(
        Route::TokenExchange,
        Fault::Status(401),
        1,
    ));
    simulator.inject(FaultRule::times(
        Route::StorageGetData,
        Fault::Status(503),
        2,
    ));
    simulator.inject(FaultRule::times(
        Route::StorageGetInstance,
        Fault::DropConnection,
        1,
    ));
    simulator.inject(FaultRule::times(
        Route::MaskinportenToken,
        Fault::Status(500),
        1,
    ));
    // Requests with a wrong secret too (the webhook's refusal path).
    let http = reqwest::Client::new();
    let wrong = format!("{}?code={}x", system.endpoint(), system.secret.expose());
    let mut answers = Vec::new();
    let response = http
        .post(&wrong)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("answer");
    answers.push(response.text().await.unwrap_or_default());

    let (stop, stopped) = watch::channel(false);
    let flow = async {
        for instance in &instances {
            let id = simulator.publish(instance, PROCESS_COMPLETED);
            system
                .ledger
                .expect(&id, local_runner::demo::instance_ref(instance));
        }
        simulator.revoke_tokens();
        let started = Instant::now();
        while !system.ledger.all_settled() {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "not settled: {:?}",
                system.ledger.events()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(true);
    };
    tokio::join!(flow, system.mapping.run(2, stopped));

    let letters = read_dead_letters(&system.sqs, &system.queues.dead_letter_queue_url)
        .await
        .expect("dead letters");
    assert_eq!(letters.len(), 1, "the unfinished instance is dead-lettered");

    // What must never show up.
    let mut secrets: Vec<String> = vec![system.secret.expose().to_owned()];
    for line in altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM.lines() {
        if !line.starts_with("-----") && line.len() >= 24 {
            secrets.push(line.to_owned());
        }
    }
    let mut tokens = 0;
    for record in simulator.requests() {
        if let Some(authorization) = &record.authorization {
            let token = authorization
                .strip_prefix("Bearer ")
                .unwrap_or(authorization);
            if token.len() >= 16 {
                secrets.push(token.to_owned());
                // A JWT's signature alone is secret enough to look for.
                if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() >= 16) {
                    secrets.push(signature.to_owned());
                }
                tokens += 1;
            }
        }
    }
    assert!(tokens >= 4, "the flow used tokens ({tokens})");

    let logs = captured.text();
    assert!(
        logs.lines().count() > 100,
        "TRACE logging captured the flow ({} lines)",
        logs.lines().count()
    );
    let json_logs = json_capture.text();
    let mut places: Vec<(String, String)> = vec![
        ("logs".into(), logs),
        ("json logs".into(), json_logs),
        ("progress".into(), system.progress.lines().join("\n")),
        ("answers".into(), answers.join("\n")),
        ("dead letters".into(), format!("{letters:?}")),
        ("ledger".into(), format!("{:?}", system.ledger.events())),
        ("webhook".into(), format!("{:?}", system.webhook)),
        ("system".into(), format!("{system:?} {:?}", system.secret)),
        ("requests".into(), format!("{:?}", simulator.requests())),
    ];
    places.push(("summary".into(), format!("{:?}", system.webhook.stats())));
    for (place, text) in &places {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret ({} characters) appears in the {place}",
                secret.len()
            );
        }
    }
    for instance in instances.iter().take(3) {
        assert_eq!(
            simulator
                .complete_confirmations(instance.party_id, instance.instance_guid)
                .len(),
            1
        );
    }
    let _ = std::io::stderr().flush();
}
