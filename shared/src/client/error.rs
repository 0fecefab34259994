//! What an Altinn call's failure says: transient or permanent, the status, the `Retry-After`.

use std::time::Duration;

/// Why an Altinn call failed. [`ClientError::is_transient`] drives the retry decisions.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Altinn answered with a status we do not retry (400, 401 after refresh, 403, 404, 409, …),
    /// or a transient status (408, 429, 5xx) after the last attempt or with a `Retry-After`
    /// longer than [`RetryPolicy::max_delay`].
    #[error("{operation}: HTTP {status}")]
    Status {
        /// The client method that failed, e.g. `get_instance`.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// True for 408, 429 and 5xx.
        transient: bool,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// What a refusal's ProblemDetails body said (permanent refusals only).
        problem: Option<Problem>,
    },
    /// Connect error, timeout, reset or a body cut short.
    #[error("{operation}: {reason}")]
    Transport {
        /// The client method that failed.
        operation: &'static str,
        /// What went wrong, without URLs or credentials.
        reason: String,
    },
    /// The response was not what Altinn documents.
    #[error("{operation}: unexpected response: {reason}")]
    Decode {
        /// The client method that failed.
        operation: &'static str,
        /// What was wrong with it (never the body itself).
        reason: String,
    },
    /// We refused to send our token to a URL off the allowlist (or to build a URL from an org
    /// or app name that is not a plain Altinn name).
    #[error("{operation}: refusing to send our token to a host off the allowlist")]
    NotAllowed {
        /// The client method that refused.
        operation: &'static str,
    },
    /// An argument that cannot name an Altinn resource, e.g. a data element id that is not a
    /// GUID. Nothing was sent.
    #[error("{operation}: invalid input: {reason}")]
    InvalidInput {
        /// The client method that refused.
        operation: &'static str,
        /// What is wrong with the input.
        reason: String,
    },
    /// No token could be had.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

impl ClientError {
    /// True when trying again later may succeed: transport errors, timeouts, 408, 429, 5xx,
    /// and transient auth failures.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Status { transient, .. } => *transient,
            ClientError::Transport { .. } => true,
            ClientError::Auth(error) => error.is_transient(),
            ClientError::Decode { .. }
            | ClientError::NotAllowed { .. }
            | ClientError::InvalidInput { .. } => false,
        }
    }

    /// The HTTP status, when Altinn answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The ProblemDetails `errorCode` of a refusal, when Altinn sent one (Correspondence numbers
    /// its errors, e.g. 2016 for an attachment its sender may no longer download).
    pub fn error_code(&self) -> Option<i64> {
        match self {
            ClientError::Status {
                problem: Some(problem),
                ..
            } => problem.error_code,
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The parts of a ProblemDetails refusal (RFC 9457) worth acting on. Only Altinn's fixed
/// texts are kept: `detail` can echo input and is left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problem {
    /// The ProblemDetails `title`.
    pub title: Option<String>,
    /// Correspondence's numeric `errorCode` extension.
    pub error_code: Option<i64>,
}

impl Problem {
    /// Reads `title` and `errorCode` from a JSON body; `None` when it is not a JSON object.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let object = value.as_object()?;
        let title = object
            .get("title")
            .and_then(|title| title.as_str())
            .map(|title| title.chars().take(200).collect());
        let error_code = object.get("errorCode").and_then(|code| code.as_i64());
        Some(Problem { title, error_code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent_errors() {
        let status = |status, transient| ClientError::Status {
            operation: "t",
            status,
            transient,
            retry_after: None,
            problem: None,
        };
        assert!(status(503, true).is_transient());
        assert!(!status(404, false).is_transient());
        assert_eq!(status(404, false).status(), Some(404));
        assert!(
            ClientError::Transport {
                operation: "t",
                reason: "reset".into()
            }
            .is_transient()
        );
        assert!(!ClientError::NotAllowed { operation: "t" }.is_transient());
        assert!(
            !ClientError::Decode {
                operation: "t",
                reason: "x".into()
            }
            .is_transient()
        );
        assert!(
            !ClientError::InvalidInput {
                operation: "t",
                reason: "x".into()
            }
            .is_transient()
        );
        let auth = crate::auth::AuthError::Transport {
            service: "Maskinporten",
            reason: "x".into(),
        };
        assert!(ClientError::from(auth).is_transient());
        let auth = crate::auth::AuthError::Invalid("bad key".into());
        assert!(!ClientError::from(auth).is_transient());
        let limited = ClientError::Status {
            operation: "t",
            status: 429,
            transient: true,
            retry_after: Some(Duration::from_secs(600)),
            problem: None,
        };
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(600)));
    }
}
