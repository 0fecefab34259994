//! What the Correspondence test files share: the two roles' tokens, URLs and a seeded
//! correspondence addressed to the simulator's own organisation.
#![allow(dead_code)]

use altinn_sim::{CorrespondenceSpec, SeededCorrespondence, Simulator};
use serde_json::Value;

use crate::common::*;

pub const RESOURCE_ID: &str = "ttd-correspondence";
pub const RESOURCE: &str = "urn:altinn:resource:ttd-correspondence";
/// The sender's scopes: a service-owner token with `urn:altinn:org` = `ttd`.
pub const SENDER_SCOPE: &str = "altinn:serviceowner altinn:correspondence.write";
/// The recipient's scope: the token's `urn:altinn:orgNumber` is the simulator's client org.
pub const RECIPIENT_SCOPE: &str = "altinn:correspondence.read";
/// The simulator's client organisation (our recipient).
pub const OWN_ORGNO: &str = "991825827";
pub const OWN_URN: &str = "urn:altinn:organization:identifier-no:991825827";
pub const OTHER_ORGNO: &str = "910000001";
pub const OTHER_URN: &str = "urn:altinn:organization:identifier-no:910000001";

pub struct Tokens {
    pub sender: String,
    pub recipient: String,
}

pub async fn tokens(sim: &Simulator) -> Tokens {
    Tokens {
        sender: altinn_token(sim, SENDER_SCOPE).await,
        recipient: altinn_token(sim, RECIPIENT_SCOPE).await,
    }
}

/// A correspondence from `ttd` to `recipient_orgno` with two small attachments and one
/// notification order.
pub fn seed_to(sim: &Simulator, recipient_orgno: &str) -> SeededCorrespondence {
    sim.add_correspondence(
        CorrespondenceSpec::new(RESOURCE_ID, "ttd", recipient_orgno)
            .with_attachment("vedtak.pdf", 10_000)
            .with_attachment("data.bin", 70_001)
            .with_notifications(1),
    )
}

/// `{base}correspondence/api/v1/{path}`
pub fn url(sim: &Simulator, path: &str) -> String {
    format!("{}correspondence/api/v1/{path}", sim.base_url())
}

pub async fn get(sim: &Simulator, token: &str, path: &str) -> (u16, Option<String>, Value) {
    send(http().get(url(sim, path)).bearer_auth(token)).await
}

pub async fn post(sim: &Simulator, token: &str, path: &str) -> (u16, Option<String>, Value) {
    send(http().post(url(sim, path)).bearer_auth(token)).await
}

/// Asserts a Correspondence ProblemDetails with this status and `errorCode`.
pub fn assert_problem(answer: &(u16, Option<String>, Value), status: u16, code: i64) {
    let (got, content_type, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert!(
        content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/problem+json")),
        "{content_type:?}"
    );
    assert_eq!(body["errorCode"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}
