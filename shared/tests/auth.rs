//! The Maskinporten grant, the token exchange and the token cache against the simulator.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use altinn::auth::{
    AltinnToken, AuthError, KeyIdentity, MaskinportenKey, TokenProvider, maskinporten_token,
};
use altinn::secret::Secret;
use altinn_sim::{Fault, FaultRule, Route, SimConfig};
use support::*;

/// Gets a token with `key` and checks the simulator accepted the grant and the exchange.
async fn token_with_key(key: MaskinportenKey) -> (AltinnToken, altinn_sim::Simulator) {
    let sim = start_sim().await;
    let provider = TokenProvider::new(http(), settings(&sim, key), sim.platform_url());
    let token = provider.token().await.expect("grant and exchange succeed");
    (token, sim)
}

fn assert_altinn_token(token: &AltinnToken, sim: &altinn_sim::Simulator) {
    let claims = claims(token.value.expose());
    assert_eq!(claims["urn:altinn:org"], "ttd");
    assert_eq!(claims["iss"], sim.altinn_token_issuer());
    let exp = claims["exp"].as_u64().unwrap();
    assert_eq!(
        token.expires_at,
        SystemTime::UNIX_EPOCH + Duration::from_secs(exp),
        "expiry comes from the token's own exp"
    );
    let lifetime = token.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime > Duration::from_secs(29 * 60) && lifetime <= Duration::from_secs(30 * 60));
    assert_eq!(statuses(sim, Route::MaskinportenToken), vec![200]);
    assert_eq!(statuses(sim, Route::TokenExchange), vec![200]);
}

#[tokio::test]
async fn grant_with_kid_and_pkcs8_key_is_accepted() {
    let key = MaskinportenKey::parse(
        &Secret::new(PKCS8),
        Some(KeyIdentity::Kid("sim-kid".into())),
    )
    .unwrap();
    let (token, sim) = token_with_key(key).await;
    assert_altinn_token(&token, &sim);
    // The exchange carried the Maskinporten token, and asked for JSON like Altinn's clients.
    let exchange = sim
        .requests()
        .into_iter()
        .find(|r| r.route == Some(Route::TokenExchange))
        .unwrap();
    let bearer = exchange.bearer_token().unwrap().to_owned();
    assert_ne!(bearer, token.value.expose());
    assert_eq!(claims(&bearer)["client_id"], "sim-client");
    assert_eq!(exchange.accept.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn grant_with_pkcs1_key_is_accepted() {
    let key = MaskinportenKey::parse(
        &Secret::new(PKCS1),
        Some(KeyIdentity::Kid("sim-kid".into())),
    )
    .unwrap();
    let (token, sim) = token_with_key(key).await;
    assert_altinn_token(&token, &sim);
}

#[tokio::test]
async fn grant_with_jwk_key_and_its_own_kid_is_accepted() {
    let key = MaskinportenKey::parse(&Secret::new(JWK), None).unwrap();
    assert_eq!(key.identity(), &KeyIdentity::Kid("sim-kid".into()));
    let (token, sim) = token_with_key(key).await;
    assert_altinn_token(&token, &sim);
}

#[tokio::test]
async fn grant_with_x5c_certificate_chain_is_accepted() {
    let key = MaskinportenKey::from_pem_with_certificate_chain(&Secret::new(PKCS8), CERT).unwrap();
    let (token, sim) = token_with_key(key).await;
    assert_altinn_token(&token, &sim);

    // The JWK's x5c path too (a JWK without kid).
    let mut jwk: serde_json::Value = serde_json::from_str(JWK).unwrap();
    jwk.as_object_mut().unwrap().remove("kid");
    let key = MaskinportenKey::parse(&Secret::new(jwk.to_string()), None).unwrap();
    assert!(matches!(key.identity(), KeyIdentity::X5c(chain) if chain.len() == 1));
    let (token, sim) = token_with_key(key).await;
    assert_altinn_token(&token, &sim);
}

async fn refused_grant(
    configure: impl FnOnce(&mut altinn::auth::MaskinportenSettings),
) -> AuthError {
    let sim = start_sim().await;
    let mut settings = settings(&sim, kid_key(&sim));
    configure(&mut settings);
    let provider = TokenProvider::new(http(), settings, sim.platform_url());
    let error = provider.token().await.expect_err("the grant is refused");
    assert_eq!(
        count(&sim, Route::TokenExchange),
        0,
        "no exchange after a refused grant"
    );
    error
}

fn assert_maskinporten(error: &AuthError, expected_error: &str, expected_code: &str) {
    match error {
        AuthError::Maskinporten {
            status,
            error,
            description,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(error, expected_error);
            assert!(description.contains(expected_code), "{description}");
        }
        other => panic!("expected a Maskinporten error, got {other:?}"),
    }
    assert!(!error.is_transient());
}

#[tokio::test]
async fn maskinporten_refusals_surface_with_their_codes() {
    let unknown_client = refused_grant(|s| s.client_id = "someone-else".into()).await;
    assert_maskinporten(&unknown_client, "invalid_grant", "MP-100");

    let unregistered_scope =
        refused_grant(|s| s.scopes = "altinn:serviceowner/instances.read altinn:admin".into())
            .await;
    assert_maskinporten(&unregistered_scope, "invalid_scope", "MP-200");

    // Signed with a key that is not the client's.
    let foreign_key = include_str!("../../tools/altinn-sim/testdata/issuer-key.pkcs8.pem");
    let wrong_key = refused_grant(|s| {
        s.key = MaskinportenKey::parse(
            &Secret::new(foreign_key),
            Some(KeyIdentity::Kid("sim-kid".into())),
        )
        .unwrap()
    })
    .await;
    assert_maskinporten(&wrong_key, "invalid_grant", "MP-124");

    let wrong_audience = refused_grant(|s| {
        s.issuer = s.issuer.join("../other-maskinporten/").unwrap();
    })
    .await;
    // The token endpoint moved with the issuer, so the simulator does not serve it at all.
    assert!(matches!(
        wrong_audience,
        AuthError::Maskinporten { status: 404, .. }
    ));
    assert!(!wrong_audience.is_transient());

    // Nothing secret in any of these messages.
    for error in [&unknown_client, &unregistered_scope, &wrong_key] {
        let text = format!("{error} {error:?}");
        assert!(!text.contains("eyJ"), "{text}");
    }
}

#[tokio::test]
async fn server_side_and_network_failures_are_transient() {
    let sim = start_sim().await;
    let provider = provider(&sim);

    sim.inject(FaultRule::times(
        Route::MaskinportenToken,
        Fault::Status(503),
        1,
    ));
    let error = provider.token().await.unwrap_err();
    assert!(
        matches!(error, AuthError::Maskinporten { status: 503, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());

    sim.inject(FaultRule::times(
        Route::MaskinportenToken,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    ));
    let error = provider.token().await.unwrap_err();
    assert!(
        matches!(error, AuthError::Maskinporten { status: 429, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());

    sim.inject(FaultRule::times(
        Route::MaskinportenToken,
        Fault::DropConnection,
        1,
    ));
    let error = provider.token().await.unwrap_err();
    assert!(
        matches!(
            error,
            AuthError::Transport {
                service: "Maskinporten",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());

    sim.inject(FaultRule::times(
        Route::TokenExchange,
        Fault::Status(502),
        1,
    ));
    let error = provider.token().await.unwrap_err();
    assert!(
        matches!(error, AuthError::Exchange { status: 502 }),
        "{error:?}"
    );
    assert!(error.is_transient());

    sim.inject(FaultRule::times(
        Route::TokenExchange,
        Fault::Status(401),
        1,
    ));
    let error = provider.token().await.unwrap_err();
    assert!(
        matches!(error, AuthError::Exchange { status: 401 }),
        "{error:?}"
    );
    assert!(!error.is_transient());

    // Failures are not cached: the next call succeeds.
    let token = provider.token().await.unwrap();
    assert_eq!(claims(token.value.expose())["urn:altinn:org"], "ttd");
    assert_eq!(count(&sim, Route::MaskinportenToken), 6);
}

#[tokio::test]
async fn exchange_answers_in_text_and_json_are_both_read() {
    let sim = start_sim().await;
    let http = http();
    let settings = settings(&sim, kid_key(&sim));
    let exchange_url = sim.token_exchange_url();

    let mut tokens = Vec::new();
    for accept in [None, Some("text/plain"), Some("application/json")] {
        // A fresh Maskinporten token each time (each grant has a new jti).
        let maskinporten = maskinporten_token(&http, &settings).await.unwrap();
        let mut request = http
            .get(exchange_url.clone())
            .bearer_auth(maskinporten.expose());
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.bytes().await.unwrap();
        if accept == Some("application/json") {
            assert!(
                content_type.starts_with("application/json"),
                "{content_type}"
            );
            assert_eq!(body.first(), Some(&b'"'));
        } else {
            assert!(content_type.starts_with("text/plain"), "{content_type}");
            assert_eq!(&body[..3], b"eyJ");
        }
        let token = AltinnToken::from_exchange_response(&body).unwrap();
        assert_eq!(claims(token.value.expose())["urn:altinn:org"], "ttd");
        tokens.push(token);
    }

    // Each form gives a token the platform accepts.
    let seeded = sim.add_instance(altinn_sim::InstanceSpec::default());
    let url = sim
        .platform_url()
        .join(&format!(
            "storage/api/v1/instances/{}",
            seeded.instance_id()
        ))
        .unwrap();
    for token in &tokens {
        let status = http
            .get(url.clone())
            .bearer_auth(token.value.expose())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn cached_token_is_reused_until_invalidated() {
    let sim = start_sim().await;
    let provider = provider(&sim);
    let first = provider.token().await.unwrap();
    let second = provider.clone().token().await.unwrap();
    assert_eq!(first.value, second.value);
    assert_eq!(count(&sim, Route::MaskinportenToken), 1);
    assert_eq!(count(&sim, Route::TokenExchange), 1);

    // Dropping a token that is no longer cached changes nothing.
    let stale = AltinnToken {
        value: Secret::new("not-the-cached-one"),
        expires_at: first.expires_at,
    };
    provider.invalidate_token(&stale).await;
    assert_eq!(provider.token().await.unwrap().value, first.value);
    assert_eq!(count(&sim, Route::TokenExchange), 1);

    provider.invalidate().await;
    let third = provider.token().await.unwrap();
    assert_ne!(third.value, first.value);
    assert_eq!(count(&sim, Route::MaskinportenToken), 2);
    assert_eq!(count(&sim, Route::TokenExchange), 2);

    provider.invalidate_token(&third).await;
    let fourth = provider.token().await.unwrap();
    assert_ne!(fourth.value, third.value);
    assert_eq!(count(&sim, Route::TokenExchange), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_callers_cause_one_grant_and_one_exchange() {
    let sim = start_sim().await;
    // Slow the grant down so all callers arrive while it is in flight.
    sim.inject(FaultRule::times(
        Route::MaskinportenToken,
        Fault::Latency(Duration::from_millis(300)),
        1,
    ));
    let provider = provider(&sim);
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let provider = provider.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                provider.token().await
            })
        })
        .collect();
    let mut values = std::collections::HashSet::new();
    for call in calls {
        let token = call.await.unwrap().expect("every caller gets a token");
        values.insert(token.value.expose().to_owned());
    }
    assert_eq!(values.len(), 1, "all callers share one token");
    assert_eq!(count(&sim, Route::MaskinportenToken), 1);
    assert_eq!(count(&sim, Route::TokenExchange), 1);
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let sim = start_sim_with(SimConfig {
        altinn_token_lifetime: Duration::from_secs(6),
        ..SimConfig::default()
    })
    .await;
    let provider = provider(&sim);
    let first = provider.token().await.unwrap();
    let lifetime = first.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime <= Duration::from_secs(6));

    // Well inside the first half of its life: reused.
    assert_eq!(provider.token().await.unwrap().value, first.value);
    assert_eq!(count(&sim, Route::TokenExchange), 1);

    // Past half-life (lifetime < 2 min: refreshed at half-life), still before exp.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(SystemTime::now() < first.expires_at);
    let second = provider.token().await.unwrap();
    assert_ne!(second.value, first.value);
    assert!(second.expires_at > first.expires_at);
    assert_eq!(count(&sim, Route::MaskinportenToken), 2);
    assert_eq!(count(&sim, Route::TokenExchange), 2);
}

#[tokio::test]
async fn debug_output_never_shows_tokens_or_keys() {
    let sim = start_sim().await;
    let provider = provider(&sim);
    let token = provider.token().await.unwrap();
    let value = token.value.expose().to_owned();
    for text in [
        format!("{token:?}"),
        format!("{token}"),
        format!("{provider:?}"),
    ] {
        assert!(!text.contains(&value[..40]), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains("MII"), "{text}");
    }
}
