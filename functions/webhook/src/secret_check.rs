//! The shared-secret check for Altinn's webhook calls.
//!
//! Altinn Events sends no authentication of its own; the only proof that a call comes
//! from our subscription is the secret we put into the subscription's endpoint URL as the `code`
//! query parameter (`https://…/events?code=…`). Only that query parameter counts: a `code`
//! header, a cookie or a body attribute is ignored, so the secret has exactly one way in.
//!
//! The comparison is constant-time in two ways: both sides are hashed with SHA-256 first, so the
//! time does not depend on how long the configured secret is or where the presented value first
//! differs, and the 32-byte digests are compared with [`subtle::ConstantTimeEq`]. Every accepted
//! secret is compared (no early exit), so a second secret during rotation changes nothing either.

use std::borrow::Cow;
use std::fmt;

use altinn::Secret;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The name of the query parameter that carries the secret.
pub const CODE_PARAMETER: &str = "code";

/// The secrets a request may present. Holds only their SHA-256 digests, never the text.
#[derive(Clone)]
pub struct SecretCheck {
    accepted: Vec<[u8; 32]>,
}

/// What the query string presented, and whether it was accepted. Carries no secret text, so
/// it can be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Exactly one `code` parameter, equal to an accepted secret.
    Accepted,
    /// No `code` parameter (or no query string at all).
    Missing,
    /// `code` given more than once: refused rather than guessing which one counts, since
    /// proxies and frameworks disagree on whether the first or the last wins.
    Repeated,
    /// One `code` parameter that matches no accepted secret (including an empty one and one
    /// that differs only in letter case).
    Wrong,
}

impl CodeCheck {
    /// A short, fixed name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeCheck::Accepted => "accepted",
            CodeCheck::Missing => "missing",
            CodeCheck::Repeated => "repeated",
            CodeCheck::Wrong => "wrong",
        }
    }
}

impl SecretCheck {
    /// A check accepting each of `secrets`. Empty secrets are skipped (an empty `code` must never
    /// pass); with no secret left, nothing is accepted. A later rotation can pass the
    /// `AWSCURRENT` and the `AWSPREVIOUS` value here.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let accepted = secrets
            .into_iter()
            .filter(|secret| !secret.is_empty())
            .map(|secret| digest(secret.expose().as_bytes()))
            .collect();
        SecretCheck { accepted }
    }

    /// How many secrets are accepted.
    pub fn len(&self) -> usize {
        self.accepted.len()
    }

    /// True when no secret is accepted (every request will be refused).
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }

    /// True when `presented` equals one of the accepted secrets, compared in constant time.
    pub fn verify(&self, presented: &[u8]) -> bool {
        let presented = digest(presented);
        let matched = self.accepted.iter().fold(Choice::from(0), |any, accepted| {
            any | accepted.ct_eq(&presented)
        });
        bool::from(matched)
    }

    /// Checks the `code` parameter of a request's (still percent-encoded) query string.
    pub fn check_query(&self, query: Option<&str>) -> CodeCheck {
        match presented_code(query) {
            PresentedCode::Missing => CodeCheck::Missing,
            PresentedCode::Repeated => CodeCheck::Repeated,
            PresentedCode::One(code) => self.check_one(&code),
        }
    }

    /// Checks already-decoded `code` values, as API Gateway lists them in
    /// `queryStringParameters` (used when a Lambda event carries no raw query string).
    pub fn check_values(&self, values: &[&str]) -> CodeCheck {
        match values {
            [] => CodeCheck::Missing,
            [code] => self.check_one(code),
            _ => CodeCheck::Repeated,
        }
    }

    fn check_one(&self, code: &str) -> CodeCheck {
        if self.verify(code.as_bytes()) {
            CodeCheck::Accepted
        } else {
            CodeCheck::Wrong
        }
    }
}

impl fmt::Debug for SecretCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCheck")
            .field("accepted_secrets", &self.accepted.len())
            .finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The `code` parameters found in a query string.
enum PresentedCode<'q> {
    Missing,
    Repeated,
    One(Cow<'q, str>),
}

/// Finds `code` in a query string, decoding it the way browsers and API Gateway do
/// (`application/x-www-form-urlencoded`: `%XX` escapes and `+` for space). The parameter name
/// is matched exactly; `Code` or `CODE` is a different parameter.
fn presented_code(query: Option<&str>) -> PresentedCode<'_> {
    let Some(query) = query else {
        return PresentedCode::Missing;
    };
    let mut found = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name != CODE_PARAMETER {
            continue;
        }
        if found.is_some() {
            return PresentedCode::Repeated;
        }
        found = Some(value);
    }
    found.map_or(PresentedCode::Missing, PresentedCode::One)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> SecretCheck {
        SecretCheck::new([&Secret::new("s3cret-Value+/=")])
    }

    #[test]
    fn accepts_only_the_exact_secret_in_the_query() {
        let check = check();
        assert_eq!(
            check.check_query(Some("code=s3cret-Value%2B%2F%3D")),
            CodeCheck::Accepted
        );
        assert_eq!(
            check.check_query(Some("a=1&code=s3cret-Value%2B%2F%3D&b=2")),
            CodeCheck::Accepted
        );
        assert_eq!(
            check.check_query(Some("code=S3CRET-VALUE%2B%2F%3D")),
            CodeCheck::Wrong
        );
        assert_eq!(
            check.check_query(Some("code=s3cret-Value")),
            CodeCheck::Wrong
        );
        assert_eq!(check.check_query(Some("code=")), CodeCheck::Wrong);
        assert_eq!(check.check_query(Some("code")), CodeCheck::Wrong);
        // A literal `+` decodes to a space, as in every form-encoded query.
        assert_eq!(
            check.check_query(Some("code=s3cret-Value+/=")),
            CodeCheck::Wrong
        );
    }

    #[test]
    fn missing_repeated_and_other_names_are_refused() {
        let check = check();
        assert_eq!(check.check_query(None), CodeCheck::Missing);
        assert_eq!(check.check_query(Some("")), CodeCheck::Missing);
        assert_eq!(
            check.check_query(Some("Code=s3cret-Value%2B%2F%3D")),
            CodeCheck::Missing
        );
        assert_eq!(
            check.check_query(Some(
                "code=s3cret-Value%2B%2F%3D&code=s3cret-Value%2B%2F%3D"
            )),
            CodeCheck::Repeated
        );
        assert_eq!(
            check.check_query(Some("code=wrong&code=s3cret-Value%2B%2F%3D")),
            CodeCheck::Repeated
        );
    }

    #[test]
    fn decoded_values_follow_the_same_rules() {
        let check = check();
        assert_eq!(check.check_values(&[]), CodeCheck::Missing);
        assert_eq!(
            check.check_values(&["s3cret-Value+/="]),
            CodeCheck::Accepted
        );
        assert_eq!(check.check_values(&["S3CRET-VALUE+/="]), CodeCheck::Wrong);
        assert_eq!(
            check.check_values(&["s3cret-Value+/=", "s3cret-Value+/="]),
            CodeCheck::Repeated
        );
    }

    #[test]
    fn several_secrets_for_rotation_and_empty_ones_never_match() {
        let current = Secret::new("current-secret-value");
        let previous = Secret::new("previous-secret-value");
        let empty = Secret::new("");
        let check = SecretCheck::new([&current, &previous, &empty]);
        assert_eq!(check.len(), 2);
        assert!(check.verify(b"current-secret-value"));
        assert!(check.verify(b"previous-secret-value"));
        assert!(!check.verify(b""));
        let nothing = SecretCheck::new([&empty]);
        assert!(nothing.is_empty());
        assert!(!nothing.verify(b""));
    }

    #[test]
    fn debug_shows_no_secret_material() {
        let text = format!("{:?}", check());
        assert_eq!(text, "SecretCheck { accepted_secrets: 1 }");
    }
}
