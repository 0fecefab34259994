//! The Altinn token changes in the middle of a batch: it expires (short-lived tokens in the
//! simulator), or Altinn stops accepting it (revoked). The batch still archives everything.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use altinn_sim::{DataSpec, Fault, FaultRule, Route, SimConfig};
use archiver::MessageOutcome;
use common::*;

fn storage_routes() -> [Route; 3] {
    [
        Route::StorageGetInstance,
        Route::StorageGetData,
        Route::StorageComplete,
    ]
}

#[tokio::test]
async fn a_token_revoked_mid_batch_is_replaced_and_the_batch_completes() {
    let harness = Harness::start_with(
        Options::default()
            .env("MESSAGE_CONCURRENCY", 1)
            .env("ELEMENT_CONCURRENCY", 1),
    )
    .await;
    let instances: Vec<_> = (0..3)
        .map(|i| {
            harness.seed(
                50_050_001 + i,
                vec![DataSpec::pdf(), DataSpec::attachment("v.pdf", 30_000, i)],
            )
        })
        .collect();
    harness.sim.inject(FaultRule::always(
        Route::StorageGetData,
        Fault::Latency(Duration::from_millis(150)),
    ));
    let events: Vec<String> = instances
        .iter()
        .map(|i| harness.completed_event(i))
        .collect();

    let revoke_during_first_download = async {
        while harness.requests_for(Route::StorageGetData).is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        harness.sim.revoke_tokens();
    };
    let (report, ()) = tokio::join!(
        harness.run(events.iter().map(|e| harness.message(e, 1)).collect()),
        revoke_during_first_download
    );
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );
    for (_, outcome) in &report.outcomes {
        assert!(
            matches!(outcome, MessageOutcome::Archived(_)),
            "{outcome:?}"
        );
    }
    let refused: Vec<_> = storage_routes()
        .into_iter()
        .flat_map(|route| harness.requests_for(route))
        .filter(|r| r.status == 401)
        .collect();
    assert!(
        !refused.is_empty(),
        "Altinn refused the revoked token at least once"
    );
    assert!(
        harness.requests_for(Route::TokenExchange).len() >= 2,
        "a new token was fetched"
    );
    for (instance, event) in instances.iter().zip(&events) {
        harness.verify_archive(instance, &event_id(event)).await;
        assert_eq!(harness.completes_of(instance), 1);
    }
}

#[tokio::test]
async fn a_token_expiring_mid_batch_is_refreshed() {
    let sim = SimConfig {
        altinn_token_lifetime: Duration::from_secs(2),
        ..SimConfig::default()
    };
    let harness = Harness::start_with(
        Options {
            sim,
            ..Options::default()
        }
        .env("MESSAGE_CONCURRENCY", 1),
    )
    .await;
    let instances: Vec<_> = (0..3)
        .map(|i| {
            harness.seed(
                50_050_101 + i,
                vec![DataSpec::pdf(), DataSpec::attachment("v.pdf", 30_000, i)],
            )
        })
        .collect();
    // The batch takes longer than one token lives.
    harness.sim.inject(FaultRule::always(
        Route::StorageGetData,
        Fault::Latency(Duration::from_millis(500)),
    ));
    let events: Vec<String> = instances
        .iter()
        .map(|i| harness.completed_event(i))
        .collect();
    let report = harness
        .run(events.iter().map(|e| harness.message(e, 1)).collect())
        .await;
    assert!(
        report.response.batch_item_failures.is_empty(),
        "{:?}",
        report.outcomes
    );

    let tokens_used: HashSet<String> = storage_routes()
        .into_iter()
        .flat_map(|route| harness.requests_for(route))
        .filter_map(|r| r.authorization)
        .collect();
    assert!(
        tokens_used.len() >= 2,
        "the token was replaced during the batch"
    );
    assert!(harness.requests_for(Route::TokenExchange).len() >= 2);
    for (instance, event) in instances.iter().zip(&events) {
        harness.verify_archive(instance, &event_id(event)).await;
        assert_eq!(harness.completes_of(instance), 1);
    }
}

#[tokio::test]
async fn the_maskinporten_key_can_come_from_secrets_manager() {
    let harness = Harness::start().await;
    let sdk = harness.moto.sdk_config().await;
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("archiver/maskinporten-key")
        .secret_string(altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM)
        .send()
        .await
        .expect("create secret");
    let mut config = harness.config.clone();
    config.altinn.maskinporten_key =
        altinn::MaskinportenKeySource::SecretArn(secret.arn().expect("secret ARN").to_owned());
    let archiver = archiver::Archiver::from_config(&config, &sdk)
        .await
        .expect("archiver with the key from Secrets Manager");

    let instance = harness.seed(50_050_201, vec![DataSpec::pdf()]);
    let event = harness.completed_event(&instance);
    let report = run_on(&archiver, vec![harness.message(&event, 1)]).await;
    assert!(
        matches!(report.outcomes[0].1, MessageOutcome::Archived(_)),
        "{:?}",
        report.outcomes
    );
    harness.verify_archive(&instance, &event_id(&event)).await;

    // A missing secret stops the start-up with an error that names the secret, not a key.
    config.altinn.maskinporten_key = altinn::MaskinportenKeySource::SecretArn(
        "arn:aws:secretsmanager:eu-north-1:123456789012:secret:missing-AbCdEf".into(),
    );
    let error = archiver::Archiver::from_config(&config, &sdk)
        .await
        .err()
        .expect("start-up fails");
    assert!(error.to_string().contains("missing-AbCdEf"), "{error}");
}

/// The simulator's test key as a JWK with one octet of `d` changed: the shape of a key, parts
/// that disagree.
fn key_whose_parts_disagree() -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut jwk: serde_json::Value = serde_json::from_str(include_str!(
        "../../../shared/tests/fixtures/client-key.jwk.json"
    ))
    .expect("fixture JWK");
    let mut d = URL_SAFE_NO_PAD
        .decode(jwk["d"].as_str().expect("d"))
        .expect("base64url d");
    d[10] ^= 0x55;
    jwk["d"] = serde_json::Value::String(URL_SAFE_NO_PAD.encode(d));
    jwk.to_string()
}

#[tokio::test]
async fn a_key_aws_lc_refuses_stops_the_start_naming_the_variable() {
    // aws-lc loads and checks the key at start-up: a key whose parts disagree never gets as far
    // as a message, and the error says which variable to fix.
    let harness = Harness::start().await;
    let sdk = harness.moto.sdk_config().await;
    let mut config = harness.config.clone();
    config.altinn.maskinporten_key =
        altinn::MaskinportenKeySource::Inline(altinn::Secret::new(key_whose_parts_disagree()));
    let error = archiver::Archiver::from_config(&config, &sdk)
        .await
        .err()
        .expect("start-up fails");
    let text = error.to_string();
    for expected in ["MASKINPORTEN_KEY", "cannot sign RS256", "parts disagree"] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(
        harness.requests_for(Route::MaskinportenToken).is_empty(),
        "no grant was signed, so none was sent"
    );

    // A truncated key stops the start the same way.
    config.altinn.maskinporten_key = altinn::MaskinportenKeySource::Inline(altinn::Secret::new(
        &altinn_sim::TEST_CLIENT_PRIVATE_KEY_PEM[..600],
    ));
    let error = archiver::Archiver::from_config(&config, &sdk)
        .await
        .err()
        .expect("start-up fails");
    assert!(error.to_string().contains("MASKINPORTEN_KEY"), "{error}");
}
