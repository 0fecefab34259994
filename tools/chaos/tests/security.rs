//! Security tests of the whole system: webhook authentication over the real HTTP path
//! (including constant-time comparison), the webhook's bad-request corpus over HTTP, and SSRF
//! (no request carrying our token ever leaves for a host off the allowlist).

#[path = "../../../functions/webhook/tests/common/mod.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod webhook_common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use altinn::event::PROCESS_COMPLETED;
use altinn::{Allowlist, AltinnEnvironment, RetryPolicy, Secret};
use altinn_sim::{DataSpec, InstanceSpec, SimConfig, Simulator};
use chaos::{CatchAll, ChaosSystem, SystemOptions};
use local_runner::local_aws::{queue_depth, read_dead_letters};
use local_runner::progress::Progress;
use local_runner::webhook_server::{WebhookServer, WebhookService};
use serde_json::Value;
use testkit::MotoServer;
use webhook::SecretCheck;

fn sim_config() -> SimConfig {
    SimConfig {
        retry_time_scale: 0.001,
        ..SimConfig::default()
    }
}

fn quick_options() -> SystemOptions {
    SystemOptions {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            request_timeout: Duration::from_secs(5),
        },
        ..SystemOptions::default()
    }
}

async fn post(url: &str, content_type: &str, body: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the webhook answers")
        .status()
        .as_u16()
}

/// `secret` with the case of its first letter flipped.
fn case_changed(secret: &str) -> String {
    let mut flipped = false;
    secret
        .chars()
        .map(|c| {
            if !flipped && c.is_ascii_alphabetic() {
                flipped = true;
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_missing_truncated_or_case_changed_secrets_are_refused_over_http() {
    let simulator = Simulator::start(sim_config()).await.expect("simulator");
    let system = ChaosSystem::start(&simulator, &quick_options()).await;
    let instance = simulator.add_instance(InstanceSpec {
        org: None,
        app: "auth-app".into(),
        party_id: 50_002_001,
        instance_guid: None,
        completed: true,
        data: vec![DataSpec::xml_form()],
        ..InstanceSpec::default()
    });
    let body = simulator
        .cloud_event(&instance, PROCESS_COMPLETED)
        .to_string()
        .into_bytes();
    let secret = system.secret.expose().to_owned();
    let base = system.endpoint();
    let mut last_char_changed = secret.clone();
    let last = last_char_changed.pop().expect("non-empty secret");
    last_char_changed.push(if last == 'x' { 'y' } else { 'x' });
    let refused: Vec<(&str, String)> = vec![
        ("missing", base.clone()),
        ("empty", format!("{base}?code=")),
        (
            "wrong",
            format!("{base}?code=not-the-secret-at-all-0123456789"),
        ),
        (
            "truncated by one",
            format!("{base}?code={}", &secret[..secret.len() - 1]),
        ),
        (
            "half",
            format!("{base}?code={}", &secret[..secret.len() / 2]),
        ),
        (
            "last character changed",
            format!("{base}?code={last_char_changed}"),
        ),
        ("one character longer", format!("{base}?code={secret}x")),
        (
            "case changed",
            format!("{base}?code={}", case_changed(&secret)),
        ),
        (
            "all upper case",
            format!("{base}?code={}", secret.to_uppercase()),
        ),
        ("other parameter name", format!("{base}?Code={secret}")),
        ("repeated", format!("{base}?code={secret}&code={secret}")),
        ("with whitespace", format!("{base}?code=%20{secret}")),
    ];
    assert_ne!(case_changed(&secret), secret, "the secret has a letter");
    for (name, url) in &refused {
        let status = post(url, "application/json", body.clone()).await;
        assert_eq!(status, 401, "{name}: expected 401");
    }
    // A secret anywhere but the query does not count.
    let status = reqwest::Client::new()
        .post(&base)
        .header("content-type", "application/json")
        .header("x-code", &secret)
        .header("authorization", format!("Bearer {secret}"))
        .header("cookie", format!("code={secret}"))
        .body(body.clone())
        .send()
        .await
        .expect("answer")
        .status()
        .as_u16();
    assert_eq!(status, 401, "secret in headers");
    assert_eq!(system.webhook.stats().accepted, 0, "nothing was accepted");
    assert_eq!(
        queue_depth(&system.sqs, &system.queues.queue_url)
            .await
            .expect("depth"),
        0,
        "nothing was enqueued by a refused request"
    );
    // And the right one is accepted, so the refusals above were about the secret.
    let status = post(&system.endpoint_with_secret(), "application/json", body).await;
    assert_eq!(status, 200);
    assert_eq!(system.webhook.stats().accepted, 1);
}

/// The median time of `verify(candidate)`, measured in batches, interleaved with the other
/// candidate so drift in machine load hits both alike.
#[test]
fn secret_comparison_time_does_not_depend_on_how_much_matched() {
    let secret = Secret::new("s3cr3t-Y8kq2LmZ7pRwT4vXnB6cJ9dHfG1aQeUo5iSyK0");
    let check = SecretCheck::new([&secret]);
    let exposed = secret.expose().as_bytes().to_vec();
    let mut none_matching = exposed.clone();
    for byte in &mut none_matching {
        *byte = if *byte == b'#' { b'%' } else { b'#' };
    }
    let mut all_but_last = exposed.clone();
    let last = all_but_last.len() - 1;
    all_but_last[last] ^= 0x01;
    assert!(!check.verify(&none_matching) && !check.verify(&all_but_last));
    assert!(check.verify(&exposed));

    const BATCH: usize = 200;
    const SAMPLES: usize = 301;
    let time_batch = |candidate: &[u8]| {
        let started = Instant::now();
        for _ in 0..BATCH {
            std::hint::black_box(check.verify(std::hint::black_box(candidate)));
        }
        started.elapsed()
    };
    // Warm up caches and the branch predictor for both.
    for _ in 0..20 {
        time_batch(&none_matching);
        time_batch(&all_but_last);
    }
    let mut first = Vec::with_capacity(SAMPLES);
    let mut second = Vec::with_capacity(SAMPLES);
    for round in 0..SAMPLES {
        if round % 2 == 0 {
            first.push(time_batch(&none_matching));
            second.push(time_batch(&all_but_last));
        } else {
            second.push(time_batch(&all_but_last));
            first.push(time_batch(&none_matching));
        }
    }
    first.sort();
    second.sort();
    let (a, b) = (
        first[SAMPLES / 2].as_nanos() as f64,
        second[SAMPLES / 2].as_nanos() as f64,
    );
    let ratio = a.max(b) / a.min(b);
    // The harness can see a difference when there is one: hashing 64 KiB instead of the
    // secret's length is clearly slower, so a comparison whose time grew with the matching
    // prefix would not hide behind measurement noise.
    let long = vec![b'#'; 64 * 1024];
    let mut short_times: Vec<_> = (0..21).map(|_| time_batch(&none_matching)).collect();
    let mut long_times: Vec<_> = (0..21).map(|_| time_batch(&long)).collect();
    short_times.sort();
    long_times.sort();
    assert!(
        long_times[10] > short_times[10] * 2,
        "the measurement resolves a real difference"
    );
    assert!(
        ratio < 1.25,
        "median {a} ns (nothing matching) vs {b} ns (all but the last byte matching): ratio {ratio:.3}"
    );
}

/// The manifest copy of the webhook's local configuration (read by the included corpus) is the
/// webhook crate's own.
#[test]
fn corpus_configuration_matches_the_webhooks() {
    let ours = webhook_common::lambda_env();
    let webhook_manifest = webhook_common::crate_dir().join("../../functions/webhook/Cargo.toml");
    let text = std::fs::read_to_string(webhook_manifest).expect("webhook Cargo.toml");
    let theirs: HashMap<String, String> = text
        .split("[package.metadata.lambda.env]")
        .nth(1)
        .expect("webhook has lambda env")
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect();
    assert_eq!(ours, theirs);
}

/// The webhook's hostile corpus, each case sent over real HTTP to the real webhook in front of
/// a real (moto) queue: each gets its status and nothing is enqueued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bad_request_corpus_is_refused_over_the_real_http_path() {
    let moto = MotoServer::start().await;
    let queue_url = moto.create_queue("corpus-events").await;
    let mut vars = webhook_common::lambda_env();
    vars.insert("QUEUE_URL".into(), queue_url.clone());
    let lookup = move |name: &str| vars.get(name).cloned();
    let sdk = moto.sdk_config().await;
    let service = Arc::new(
        WebhookService::start(&lookup, &sdk, &Progress::capturing())
            .await
            .expect("webhook"),
    );
    let server = WebhookServer::start(Arc::clone(&service))
        .await
        .expect("server");
    let http = reqwest::Client::builder()
        .http1_only()
        .build()
        .expect("client");
    let mut failures = Vec::new();
    let cases = webhook_common::corpus::hostile_requests();
    let count = cases.len();
    let mut framing_cases = 0;
    for case in cases {
        let (parts, body) = case.request.into_parts();
        // Cases that forge `Content-Length` exist for the Lambda event path, where API Gateway
        // hands the header through. Over HTTP the transport owns framing: a conforming client
        // cannot send them, and hyper refuses them before the handler runs.
        if parts.headers.contains_key("content-length") {
            framing_cases += 1;
            continue;
        }
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).expect("method");
        let mut request = http.request(method, format!("{}{path}", server.base_url()));
        for (name, value) in &parts.headers {
            request = request.header(name.as_str(), value.as_bytes());
        }
        let body: &[u8] = body.as_ref();
        let response =
            tokio::time::timeout(Duration::from_secs(10), request.body(body.to_vec()).send()).await;
        match response {
            Err(_) => failures.push(format!("{}: no answer within 10 s", case.name)),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                if status != case.status {
                    let text = response.text().await.unwrap_or_default();
                    failures.push(format!(
                        "{}: expected {}, got {status} {text}",
                        case.name, case.status
                    ));
                }
            }
            Ok(Err(error)) => failures.push(format!("{}: no answer: {error}", case.name)),
        }
    }
    assert!(
        count - framing_cases >= 10 && framing_cases <= 3,
        "the corpus has its cases ({count}, {framing_cases} framing-only)"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(service.stats().accepted, 0);
    assert!(
        moto.receive_all(&queue_url).await.is_empty(),
        "nothing enqueued"
    );
    server.stop().await;
}

/// Events pointing anywhere off the allowlist: the webhook refuses them, and even when they are
/// put on the queue directly (a bypassed webhook), the archiver sends nothing to those hosts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_carrying_our_token_leaves_for_a_host_off_the_allowlist() {
    let simulator = Simulator::start(sim_config()).await.expect("simulator");
    let system = ChaosSystem::start(&simulator, &quick_options()).await;
    let catch_all = CatchAll::start().await.expect("catch-all");
    let instance = simulator.add_instance(InstanceSpec {
        org: None,
        app: "ssrf-app".into(),
        party_id: 50_003_001,
        instance_guid: None,
        completed: true,
        data: vec![DataSpec::xml_form()],
        ..InstanceSpec::default()
    });
    let sim = simulator.addr();
    let evil = catch_all.addr();
    let guid = instance.instance_guid;
    let party = instance.party_id;
    let good: Value = simulator.cloud_event(&instance, PROCESS_COMPLETED);
    let path = format!("ttd/ssrf-app/instances/{party}/{guid}");
    let sources = [
        format!("http://{evil}/{path}"),
        format!("http://169.254.169.254/{path}"),
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        format!("http://[fd00:ec2::254]/{path}"),
        format!("http://localhost:{}/{path}", sim.port()),
        format!("http://127.0.0.2:{}/{path}", sim.port()),
        format!("http://{sim}@{evil}/{path}"),
        format!("http://{evil}#@{sim}/{path}"),
        format!("http://127.0.0.1.nip.io:{}/{path}", sim.port()),
        format!("https://{sim}/{path}"),
        format!("http://{sim}/digdir/ssrf-app/instances/{party}/{guid}"),
        format!(
            "http://{sim}/ttd/ssrf-app/instances/{party}/{guid}/../../../../../latest/meta-data"
        ),
        format!("http://{sim}/ttd/ssrf-app/instances/{party}/{guid}%2F..%2F..%2F{evil}"),
        format!("http://{sim}\\@{evil}/{path}"),
        format!("https://ttd.apps.altinn.no/{path}"),
        format!("https://ttd.apps.tt02.altinn.no/{path}"),
    ];
    let mut hostile = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let mut event = good.clone();
        event["id"] = Value::from(format!("ssrf-source-{index}"));
        event["source"] = Value::from(source.clone());
        hostile.push(event);
    }
    for (index, resource_instance) in [
        format!("{evil}/{party}/{guid}"),
        format!("{party}/{}", uuid::Uuid::new_v4()),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let mut event = good.clone();
        event["id"] = Value::from(format!("ssrf-resourceinstance-{index}"));
        event["resourceinstance"] = Value::from(resource_instance.clone());
        hostile.push(event);
    }

    // 1. Through the webhook: every one refused, nothing queued.
    for event in &hostile {
        let status = post(
            &system.endpoint_with_secret(),
            "application/json",
            event.to_string().into_bytes(),
        )
        .await;
        assert!(
            status == 403 || status == 400,
            "{}: the webhook answered {status}",
            event["source"]
        );
    }
    assert_eq!(system.webhook.stats().accepted, 0);

    // 2. Straight onto the queue, as if the webhook had been bypassed.
    for event in &hostile {
        system
            .sqs
            .send_message()
            .queue_url(&system.queues.queue_url)
            .message_body(event.to_string())
            .send()
            .await
            .expect("send");
    }
    let started = Instant::now();
    loop {
        system.mapping.poll_once().await.expect("poll");
        let depth = queue_depth(&system.sqs, &system.queues.queue_url)
            .await
            .expect("depth");
        if depth == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{depth} message(s) still on the queue"
        );
    }
    let letters = read_dead_letters(&system.sqs, &system.queues.dead_letter_queue_url)
        .await
        .expect("dead letters");
    assert_eq!(
        letters.len(),
        hostile.len(),
        "every hostile event dead-lettered"
    );
    for letter in &letters {
        assert!(
            letter.reason.as_deref().is_some_and(|r| !r.is_empty()),
            "{letter:?} has a reason"
        );
    }

    // The witnesses: nothing reached the catch-all listener, and the simulator (the only
    // allowed host) saw no request for any path but this app's instance.
    assert!(
        catch_all.requests().is_empty(),
        "requests left for a host off the allowlist: {:?}",
        catch_all.requests()
    );
    for record in simulator.requests() {
        let is_token_route = record.path.starts_with("/maskinporten/")
            || record.path.starts_with("/authentication/")
            || record.path.starts_with("/events/");
        assert!(
            is_token_route || record.path.contains(&format!("/instances/{party}/{guid}")),
            "unexpected request to the simulator: {} {}",
            record.method,
            record.path
        );
    }
    // The archive has nothing of those events.
    let listed = system
        .s3
        .list_objects_v2()
        .bucket(chaos::system::BUCKET)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count().unwrap_or_default(), 0);
}

/// The allowlists of the real environments refuse loopback, metadata addresses, look-alike hosts
/// and other orgs; only the org's own apps host passes.
#[test]
fn real_environment_allowlists_refuse_everything_but_the_orgs_apps_host() {
    let guid = "5d9e906b-83ed-44df-85a7-2f104c640bff";
    for (env, domain) in [("prod", "altinn.no"), ("tt02", "tt02.altinn.no")] {
        let environment = AltinnEnvironment::parse(env, None, None).expect("environment");
        let allowlist = Allowlist::new(environment, Some("ttd".to_owned()));
        let good = format!("https://ttd.apps.{domain}/ttd/app/instances/501/{guid}");
        let parsed = allowlist.parse_app_source(&good).expect("own app host");
        assert_eq!(parsed.party_id, 501);
        let bad = [
            format!("http://ttd.apps.{domain}/ttd/app/instances/501/{guid}"),
            format!("https://127.0.0.1/ttd/app/instances/501/{guid}"),
            format!("https://localhost/ttd/app/instances/501/{guid}"),
            format!("https://169.254.169.254/ttd/app/instances/501/{guid}"),
            format!("https://ttd.apps.{domain}.evil.example/ttd/app/instances/501/{guid}"),
            format!("https://ttd.apps.{domain}@evil.example/ttd/app/instances/501/{guid}"),
            format!("https://evil.example/ttd.apps.{domain}/ttd/app/instances/501/{guid}"),
            format!("https://ttd-apps.{domain}/ttd/app/instances/501/{guid}"),
            format!("https://ttd.apps.{domain}:8443/ttd/app/instances/501/{guid}"),
            format!(
                "https://TTD.APPS.{}/ttd/app/instances/501/{guid}x",
                domain.to_uppercase()
            ),
            format!("https://digdir.apps.{domain}/digdir/app/instances/501/{guid}"),
            format!("https://ttd.apps.{domain}/digdir/app/instances/501/{guid}"),
            format!("https://ttd.apps.{domain}/ttd/app/instances/501/{guid}/../../x"),
            format!("https://ttd.apps.{domain}/ttd/app/instances/501/not-a-guid"),
            format!("https://platform.{domain}/ttd/app/instances/501/{guid}"),
        ];
        for source in bad {
            assert!(
                allowlist.parse_app_source(&source).is_err(),
                "{env}: {source} was accepted"
            );
        }
    }
}

/// A proxy in front of the simulator that rewrites every URL of the simulator in its answers
/// (the instance's and its data elements' `selfLinks`) to the catch-all listener's: Altinn
/// telling us to fetch from elsewhere. Requests are forwarded unchanged.
async fn rewriting_proxy(simulator_base: String, evil_base: String) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let client = reqwest::Client::new();
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let client = client.clone();
        let simulator_base = simulator_base.clone();
        let evil_base = evil_base.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let url = format!("{}{}", simulator_base.trim_end_matches('/'), path);
            let method =
                reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).expect("method");
            let mut forwarded = client.request(method, url).body(body.to_vec());
            for name in ["authorization", "accept", "content-type"] {
                if let Some(value) = parts.headers.get(name) {
                    forwarded = forwarded.header(name, value.as_bytes());
                }
            }
            let answer = forwarded.send().await.expect("the simulator answers");
            let status = answer.status().as_u16();
            let content_type = answer
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let bytes = answer.bytes().await.expect("body");
            let bytes = if content_type.contains("json") {
                String::from_utf8_lossy(&bytes)
                    .replace(&simulator_base, &evil_base)
                    .into_bytes()
            } else {
                bytes.to_vec()
            };
            http::Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(axum::body::Body::from(bytes))
                .expect("response")
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// The instance's `selfLinks` (and its data elements') point at another host: the archiver
/// builds every Storage URL from the ids it parsed out of `source`, so nothing goes there, and
/// the instance is still archived and completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_links_pointing_elsewhere_are_never_followed() {
    let simulator = Simulator::start(sim_config()).await.expect("simulator");
    let catch_all = CatchAll::start().await.expect("catch-all");
    let simulator_base = simulator
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let evil_base = format!("http://{}", catch_all.addr());
    let proxy = rewriting_proxy(simulator_base.clone(), evil_base.clone()).await;
    let proxy_base = format!("http://{proxy}/");
    let system = ChaosSystem::start(
        &simulator,
        &SystemOptions {
            altinn_url: Some(proxy_base.clone()),
            ..quick_options()
        },
    )
    .await;
    let instance = simulator.add_instance(InstanceSpec {
        org: None,
        app: "selflink-app".into(),
        party_id: 50_005_001,
        instance_guid: None,
        completed: true,
        data: vec![DataSpec::xml_form(), DataSpec::attachment("a.bin", 5000, 7)],
        ..InstanceSpec::default()
    });
    let mut event = simulator.cloud_event(&instance, PROCESS_COMPLETED);
    let source = event["source"].as_str().expect("source").to_owned();
    event["source"] = Value::from(source.replace(&format!("{simulator_base}/"), &proxy_base));
    let status = post(
        &system.endpoint_with_secret(),
        "application/json",
        event.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "the event is for the (proxied) Altinn");
    let id = event["id"].as_str().expect("id");
    system
        .ledger
        .expect(id, local_runner::demo::instance_ref(&instance));
    let started = Instant::now();
    while !system.ledger.all_settled() {
        system.mapping.poll_once().await.expect("poll");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "archived in time"
        );
    }
    let events = system.ledger.events();
    assert!(
        matches!(
            events[0].state,
            local_runner::ledger::EventState::Archived { .. }
        ),
        "{:?}",
        events[0].state
    );
    assert_eq!(
        simulator
            .complete_confirmations(instance.party_id, instance.instance_guid)
            .len(),
        1
    );
    assert!(
        catch_all.requests().is_empty(),
        "a selfLink was followed: {:?}",
        catch_all.requests()
    );
    // The archiver did see the rewritten links: they are in the instance.json it stored.
    let key = system
        .layout
        .instance_json(&local_runner::demo::instance_ref(&instance))
        .expect("key");
    let stored = system
        .s3
        .get_object()
        .bucket(chaos::system::BUCKET)
        .key(key)
        .send()
        .await
        .expect("instance.json")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains(&evil_base) && !stored.contains(&simulator_base),
        "the instance the archiver got links to the catch-all listener only: {stored}"
    );
}
