//! Altinn's token exchange (response forms, issued claims, errors).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn no_accept_header_gets_the_raw_jwt_as_text() {
    let sim = start().await;
    let mp = maskinporten_token(&sim, READ_WRITE).await;
    let response = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&mp)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let body = response.text().await.expect("body");
    assert!(!body.starts_with('"'), "raw JWT, not a JSON string: {body}");
    assert_eq!(body.split('.').count(), 3);
    issued_claims(&body);

    let text_plain = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&mp)
        .header("accept", "text/plain")
        .send()
        .await
        .expect("request");
    assert_eq!(
        text_plain.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
}

#[tokio::test]
async fn accept_json_gets_a_json_string_literal() {
    let sim = start().await;
    let mp = maskinporten_token(&sim, READ_WRITE).await;
    let response = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&mp)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body = response.text().await.expect("body");
    assert!(body.starts_with("\"eyJ") && body.ends_with('"'), "{body}");
    let token: String = serde_json::from_str(&body).expect("a JSON string");
    issued_claims(&token);
}

#[tokio::test]
async fn altinn_token_has_the_documented_claims_and_a_30_minute_life() {
    let sim = start().await;
    let token = altinn_token(&sim, READ_WRITE).await;
    let claims = issued_claims(&token);
    assert_eq!(claims["scope"], READ_WRITE);
    assert_eq!(claims["token_type"], "Bearer");
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64().expect("exp") - iat, 1800);
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["client_id"], sim.config().client_id);
    assert_eq!(
        claims["consumer"],
        json!({"authority": "iso6523-actorid-upis", "ID": "0192:991825827"})
    );
    assert_eq!(claims["urn:altinn:org"], "ttd");
    assert_eq!(claims["urn:altinn:orgNumber"], "991825827");
    assert_eq!(claims["urn:altinn:authenticatemethod"], "maskinporten");
    assert_eq!(claims["urn:altinn:authlevel"], 3);
    assert_eq!(
        claims["iss"],
        format!("{}authentication/api/v1/openid/", sim.base_url())
    );
    assert!(claims["jti"].as_str().is_some());
    // Maskinporten-only claims are dropped.
    assert!(claims.get("client_amr").is_none());
    assert!(claims.get("aud").is_none());
}

#[tokio::test]
async fn org_claim_only_with_a_serviceowner_scope() {
    let sim = start().await;
    let plain = issued_claims(&altinn_token(&sim, "altinn:events.subscribe").await);
    assert!(plain.get("urn:altinn:org").is_none(), "{plain}");
    assert_eq!(plain["urn:altinn:orgNumber"], "991825827");
    let read_only = issued_claims(&altinn_token(&sim, READ).await);
    assert_eq!(read_only["urn:altinn:org"], "ttd");
}

#[tokio::test]
async fn configured_lifetime_and_org_apply() {
    let sim = start_with(altinn_sim::SimConfig {
        altinn_token_lifetime: Duration::from_secs(5),
        org: "skd".to_owned(),
        ..Default::default()
    })
    .await;
    let claims = issued_claims(&altinn_token(&sim, READ).await);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        5
    );
    assert_eq!(claims["urn:altinn:org"], "skd");
}

#[tokio::test]
async fn any_problem_with_the_maskinporten_token_is_401() {
    let sim = start().await;
    let issuer = sim.maskinporten_issuer().to_string();
    let now = now();
    let mp_claims = |changes: Value| {
        let mut claims = json!({
            "scope": READ, "iss": issuer, "client_amr": "private_key_jwt", "token_type": "Bearer",
            "exp": now + 100, "iat": now - 20, "client_id": "sim-client", "jti": "x",
            "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:991825827"},
        });
        for (key, value) in changes.as_object().expect("object") {
            if value.is_null() {
                claims.as_object_mut().expect("object").remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        claims
    };
    // Sanity: the forged baseline itself is accepted, so each row fails for its own reason.
    let baseline = sign_as_issuer(&mp_claims(json!({})));
    let ok = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&baseline)
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status().as_u16(), 200);

    let altinn = altinn_token(&sim, READ).await;
    let client_signed = sign_raw(&json!({"alg": "RS256"}), &mp_claims(json!({})));
    let rows: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        ("junk bearer", Some("Bearer junk".to_owned())),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("basic auth", Some("Basic c2ltOnNpbQ==".to_owned())),
        ("an Altinn token", Some(format!("Bearer {altinn}"))),
        (
            "signed by someone else",
            Some(format!("Bearer {client_signed}")),
        ),
        (
            "expired beyond the 10 s skew",
            Some(format!(
                "Bearer {}",
                sign_as_issuer(&mp_claims(json!({"iat": now - 200, "exp": now - 30})))
            )),
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                sign_as_issuer(&mp_claims(json!({"iss": "https://maskinporten.no/"})))
            )),
        ),
        (
            "no consumer",
            Some(format!(
                "Bearer {}",
                sign_as_issuer(&mp_claims(json!({"consumer": null})))
            )),
        ),
        (
            "consumer of another authority",
            Some(format!(
                "Bearer {}",
                sign_as_issuer(&mp_claims(
                    json!({"consumer": {"authority": "other", "ID": "0192:991825827"}})
                ))
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                sign_as_issuer(&mp_claims(json!({"exp": null})))
            )),
        ),
    ];
    for (what, authorization) in rows {
        let mut request = http().get(sim.token_exchange_url());
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status().as_u16(), 401, "{what}");
    }
}

#[tokio::test]
async fn expired_within_the_skew_is_still_exchanged() {
    let sim = start().await;
    let now = now();
    let token = sign_as_issuer(&json!({
        "scope": READ, "iss": sim.maskinporten_issuer().as_str(), "exp": now - 3, "iat": now - 123,
        "client_id": "sim-client", "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:991825827"},
    }));
    let response = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn enterprise_user_header_is_gone_and_providers_are_checked() {
    let sim = start().await;
    let mp = maskinporten_token(&sim, READ).await;
    let gone = http()
        .get(sim.token_exchange_url())
        .bearer_auth(&mp)
        .header("X-Altinn-EnterpriseUser-Authentication", "dXNlcjpwYXNz")
        .send()
        .await
        .expect("request");
    assert_eq!(gone.status().as_u16(), 410);

    let unknown = http()
        .get(
            sim.base_url()
                .join("authentication/api/v1/exchange/facebook")
                .expect("url"),
        )
        .bearer_auth(&mp)
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status().as_u16(), 400);

    let mixed_case = http()
        .get(
            sim.base_url()
                .join("authentication/api/v1/exchange/MaskinPorten")
                .expect("url"),
        )
        .bearer_auth(&mp)
        .send()
        .await
        .expect("request");
    assert_eq!(mixed_case.status().as_u16(), 200);
}
