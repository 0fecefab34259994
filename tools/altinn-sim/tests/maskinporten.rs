//! Maskinporten token endpoint (grant rules, response, errors).

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn valid_kid_grant_gets_a_maskinporten_token() {
    let sim = start().await;
    let assertion = sign_raw(&kid_header(&sim), &grant_claims(&sim, READ_WRITE));
    let (status, body) = post_grant(&sim, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], READ_WRITE);

    let claims = issued_claims(body["access_token"].as_str().expect("access_token"));
    assert_eq!(claims["scope"], READ_WRITE);
    assert_eq!(claims["iss"], sim.maskinporten_issuer().as_str());
    assert_eq!(claims["client_amr"], "private_key_jwt");
    assert_eq!(claims["token_type"], "Bearer");
    assert_eq!(claims["client_id"], sim.config().client_id);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        120
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        claims["consumer"],
        json!({"authority": "iso6523-actorid-upis", "ID": "0192:991825827"})
    );
}

#[tokio::test]
async fn x5c_array_and_rs384_rs512_are_accepted() {
    let sim = start().await;
    let x5c = json!({"alg": "RS256", "x5c": [cert_b64()]});
    let rs384 = json!({"alg": "RS384", "kid": sim.config().client_kid});
    let rs512 = json!({"alg": "RS512", "x5c": [cert_b64()]});
    for header in [x5c, rs384, rs512] {
        let assertion = sign_raw(&header, &grant_claims(&sim, READ));
        let (status, body) = post_grant(&sim, &assertion).await;
        assert_eq!(status, 200, "header {header}: {body}");
    }
}

#[tokio::test]
async fn a_grant_cannot_be_used_twice() {
    let sim = start().await;
    let assertion = sign_raw(&kid_header(&sim), &grant_claims(&sim, READ));
    assert_eq!(post_grant(&sim, &assertion).await.0, 200);
    let (status, body) = post_grant(&sim, &assertion).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("MP-012"),
        "{body}"
    );
}

/// One row per rule Maskinporten applies to a JWT grant: what is wrong, and the error and description marker expected.
#[tokio::test]
async fn each_grant_violation_gets_its_error() {
    let sim = start().await;
    let kid = kid_header(&sim);
    let now = now();
    let with = |changes: Value| {
        let mut claims = grant_claims(&sim, READ);
        for (key, value) in changes.as_object().expect("object") {
            if value.is_null() {
                claims.as_object_mut().expect("object").remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        claims
    };
    let tampered = {
        let token = sign_raw(&kid, &grant_claims(&sim, READ));
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let other = sign_raw(&kid, &grant_claims(&sim, WRITE));
        parts[1] = other.split('.').nth(1).expect("payload").to_owned();
        parts.join(".")
    };
    let token_url_as_aud = sim.maskinporten_token_url().to_string();
    let rows: Vec<(&str, String, &str, &str)> = vec![
        (
            "aud is the token endpoint",
            sign_raw(&kid, &with(json!({"aud": token_url_as_aud}))),
            "invalid_grant",
            "MP-110",
        ),
        (
            "aud without trailing slash",
            sign_raw(
                &kid,
                &with(json!({"aud": sim.maskinporten_issuer().as_str().trim_end_matches('/')})),
            ),
            "invalid_grant",
            "MP-110",
        ),
        (
            "exp - iat = 121",
            sign_raw(&kid, &with(json!({"iat": now, "exp": now + 121}))),
            "invalid_grant",
            "120",
        ),
        (
            "expired",
            sign_raw(&kid, &with(json!({"iat": now - 100, "exp": now - 5}))),
            "invalid_grant",
            "MP-130",
        ),
        (
            "iat 60 s old",
            sign_raw(&kid, &with(json!({"iat": now - 60, "exp": now + 30}))),
            "invalid_grant",
            "MP-130",
        ),
        (
            "iat 60 s ahead",
            sign_raw(&kid, &with(json!({"iat": now + 60, "exp": now + 70}))),
            "invalid_grant",
            "MP-130",
        ),
        (
            "unknown scope",
            sign_raw(
                &kid,
                &with(json!({"scope": "altinn:serviceowner/instances.read skd:secret"})),
            ),
            "invalid_scope",
            "MP-200",
        ),
        (
            "empty scope",
            sign_raw(&kid, &with(json!({"scope": ""}))),
            "invalid_scope",
            "MP-200",
        ),
        (
            "no scope",
            sign_raw(&kid, &with(json!({"scope": null}))),
            "invalid_scope",
            "MP-200",
        ),
        ("bad signature", tampered, "invalid_grant", "MP-124"),
        (
            "x5c as a string",
            sign_raw(
                &json!({"alg": "RS256", "x5c": cert_b64()}),
                &with(json!({})),
            ),
            "invalid_grant",
            "MP-123",
        ),
        (
            "x5c garbage",
            sign_raw(&json!({"alg": "RS256", "x5c": ["AAAA"]}), &with(json!({}))),
            "invalid_grant",
            "MP-120",
        ),
        (
            "unknown kid",
            sign_raw(
                &json!({"alg": "RS256", "kid": "someone-else"}),
                &with(json!({})),
            ),
            "invalid_grant",
            "kid",
        ),
        (
            "kid and x5c",
            sign_raw(
                &json!({"alg": "RS256", "kid": sim.config().client_kid, "x5c": [cert_b64()]}),
                &with(json!({})),
            ),
            "invalid_grant",
            "exactly one",
        ),
        (
            "neither kid nor x5c",
            sign_raw(&json!({"alg": "RS256"}), &with(json!({}))),
            "invalid_grant",
            "exactly one",
        ),
        (
            "alg HS256",
            sign_raw(
                &json!({"alg": "HS256", "kid": sim.config().client_kid}),
                &with(json!({})),
            ),
            "invalid_grant",
            "alg",
        ),
        (
            "iss is not the client",
            sign_raw(&kid, &with(json!({"iss": "another-client"}))),
            "invalid_grant",
            "MP-100",
        ),
        (
            "no jti",
            sign_raw(&kid, &with(json!({"jti": null}))),
            "invalid_grant",
            "jti",
        ),
        (
            "unknown claim",
            sign_raw(&kid, &with(json!({"sneaky": true}))),
            "invalid_grant",
            "sneaky",
        ),
        ("not a JWT", "not.a.jwt".to_owned(), "invalid_grant", "JWT"),
    ];
    for (what, assertion, error, marker) in rows {
        let (status, body) = post_grant(&sim, &assertion).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"], error, "{what}: {body}");
        let description = body["error_description"].as_str().unwrap_or("");
        assert!(
            description.contains(marker),
            "{what}: expected {marker:?} in {description:?}"
        );
    }
}

#[tokio::test]
async fn the_request_must_be_a_jwt_bearer_form() {
    let sim = start().await;
    let client = http();
    let wrong_grant = client
        .post(sim.maskinporten_token_url())
        .form(&[("grant_type", "client_credentials"), ("assertion", "x")])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_grant.status().as_u16(), 400);
    let body: Value = wrong_grant.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");

    let json_body = client
        .post(sim.maskinporten_token_url())
        .json(&json!({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}))
        .send()
        .await
        .expect("request");
    assert_eq!(json_body.status().as_u16(), 400);
    let body: Value = json_body.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");

    let no_assertion = client
        .post(sim.maskinporten_token_url())
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")])
        .send()
        .await
        .expect("request");
    let body: Value = no_assertion.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn configured_lifetime_and_scopes_apply() {
    let sim = start_with(altinn_sim::SimConfig {
        maskinporten_token_lifetime: std::time::Duration::from_secs(599),
        client_scopes: vec!["altinn:serviceowner/instances.read".to_owned()],
        ..Default::default()
    })
    .await;
    let (status, body) = post_grant(
        &sim,
        &sign_raw(&kid_header(&sim), &grant_claims(&sim, READ)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 599);
    let (status, body) = post_grant(
        &sim,
        &sign_raw(&kid_header(&sim), &grant_claims(&sim, READ_WRITE)),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
}
