//! The receipt upload through the App API, and how its refusals are classified (see
//! [`crate::receipt`]).

use std::time::Duration;

use altinn::auth::describe_transport_error;
use altinn::{Allowlist, ClientError, DataElement, InstanceRef, TokenProvider};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use url::Url;

use super::{Receipt, ReceiptSettings, receipt_filename};
use crate::error::{ArchiveError, FailureReason};

/// The client method name in errors and logs.
const OPERATION: &str = "upload_receipt";
/// How much of Altinn's ProblemDetails text a DLQ `Detail` carries.
const MAX_PROBLEM_TEXT: usize = 300;

/// Uploads receipts through the App API with our Altinn token (checked against the allowlist
/// before the token is attached, like every Altinn call).
#[derive(Clone)]
pub struct ReceiptUploader {
    http: reqwest::Client,
    allowlist: Allowlist,
    tokens: TokenProvider,
    timeout: Duration,
}

impl std::fmt::Debug for ReceiptUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptUploader")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ReceiptUploader {
    /// An uploader over `http` (built like [`altinn::AltinnClient::http_client`]: no redirects),
    /// sending `tokens`' token only where `allowlist` permits.
    pub fn new(
        http: reqwest::Client,
        allowlist: Allowlist,
        tokens: TokenProvider,
        timeout: Duration,
    ) -> Self {
        ReceiptUploader {
            http,
            allowlist,
            tokens,
            timeout,
        }
    }

    /// `{apps}{org}/{app}/instances/{partyId}/{guid}/data/type/{type}`, built from path
    /// segments (each percent-encoded, so no input can add a `/`, `?` or `..`), for our org only.
    pub fn upload_url(&self, instance: &InstanceRef, data_type: &str) -> Result<Url, ArchiveError> {
        let not_allowed = || {
            ArchiveError::permanent(
                FailureReason::UrlNotAllowed,
                format!("{OPERATION}: refusing to send our token to a host off the allowlist"),
            )
        };
        let plain = |name: &str| {
            !name.is_empty()
                && name.len() <= 100
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !plain(&instance.org) || !plain(&instance.app) {
            return Err(not_allowed());
        }
        if self
            .allowlist
            .pinned_org()
            .is_some_and(|pinned| pinned != instance.org)
        {
            return Err(not_allowed());
        }
        let mut url = self.allowlist.environment().apps_url(&instance.org);
        url.set_query(None);
        url.set_fragment(None);
        let party_id = instance.party_id.to_string();
        let guid = instance.instance_guid.to_string();
        url.path_segments_mut()
            .map_err(|_| not_allowed())?
            .pop_if_empty()
            .extend([
                instance.org.as_str(),
                instance.app.as_str(),
                "instances",
                &party_id,
                &guid,
                "data",
                "type",
                data_type,
            ]);
        if !self.allowlist.permits(&url) {
            return Err(not_allowed());
        }
        Ok(url)
    }

    /// Uploads `receipt` for `instance`; returns the new element's id when Altinn said it.
    pub async fn upload(
        &self,
        instance: &InstanceRef,
        settings: &ReceiptSettings,
        receipt: &Receipt,
    ) -> Result<Option<String>, ArchiveError> {
        let url = self.upload_url(instance, &settings.data_type)?;
        let format = settings.format;
        let body = receipt.render(format);
        // Quoted, as app-lib's parser wants it; the name is ASCII by construction (a GUID), so
        // no `filename*` is needed.
        let disposition = format!(
            "attachment; filename=\"{}\"",
            receipt_filename(instance, format)
        );
        let mut refreshed_after_401 = false;
        loop {
            let token = self
                .tokens
                .token()
                .await
                .map_err(|error| ArchiveError::from_altinn(&ClientError::Auth(error)))?;
            let sent = self
                .http
                .post(url.clone())
                .bearer_auth(token.value.expose())
                .header(CONTENT_TYPE, format.content_type())
                .header(CONTENT_DISPOSITION, &disposition)
                .header(ACCEPT, "application/json")
                .timeout(self.timeout)
                .body(body.clone())
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) => {
                    return Err(ArchiveError::from_altinn(&ClientError::Transport {
                        operation: OPERATION,
                        reason: describe_transport_error(&error),
                    }));
                }
            };
            let status = response.status();
            if status.is_success() {
                // The element is there; its id is only for the log, so a body we cannot read
                // does not fail the upload.
                let bytes = response.bytes().await.unwrap_or_default();
                return Ok(new_element_id(&bytes));
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed_after_401 {
                // Refused before anything was stored: safe to send again with a fresh token.
                refreshed_after_401 = true;
                self.tokens.invalidate_token(&token).await;
                continue;
            }
            let retry_after = retry_after_of(response.headers());
            if status == StatusCode::BAD_REQUEST || status == StatusCode::CONFLICT {
                let problem = Problem::read(response).await;
                return Err(upload_refusal(
                    status.as_u16(),
                    &problem,
                    &settings.data_type,
                ));
            }
            let code = status.as_u16();
            return Err(ArchiveError::from_altinn(&ClientError::Status {
                operation: OPERATION,
                status: code,
                transient: code == 408 || code == 429 || status.is_server_error(),
                retry_after,
                problem: None,
            }));
        }
    }
}

fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    altinn::retry::parse_retry_after(value, std::time::SystemTime::now())
}

/// The new element's id from a successful upload: app-lib's current answer
/// (`DataPostResponse.newDataElementId`) or the older one (a `DataElement`).
fn new_element_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DataPostResponse {
        new_data_element_id: String,
    }
    serde_json::from_slice::<DataPostResponse>(body)
        .map(|answer| answer.new_data_element_id)
        .or_else(|_| serde_json::from_slice::<DataElement>(body).map(|element| element.id))
        .ok()
}

/// A ProblemDetails answer's `title` and `detail` (or the start of a plain-text answer), short
/// and stripped of control characters, for the DLQ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problem {
    pub title: Option<String>,
    pub detail: Option<String>,
}

impl Problem {
    async fn read(response: reqwest::Response) -> Self {
        let bytes = response.bytes().await.unwrap_or_default();
        Self::parse(&bytes)
    }

    fn parse(bytes: &[u8]) -> Self {
        let clean = |text: &str| {
            let cleaned: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_PROBLEM_TEXT)
                .collect();
            Some(cleaned.trim().to_owned()).filter(|text| !text.is_empty())
        };
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(json) => {
                let field = |name: &str| json.get(name).and_then(|v| v.as_str()).and_then(clean);
                Problem {
                    title: field("title"),
                    detail: field("detail"),
                }
            }
            Err(_) => Problem {
                title: None,
                detail: clean(&String::from_utf8_lossy(bytes)),
            },
        }
    }

    fn describe(&self) -> String {
        match (&self.title, &self.detail) {
            (Some(title), Some(detail)) => format!("{title}: {detail}"),
            (Some(text), None) | (None, Some(text)) => text.clone(),
            (None, None) => "no details".into(),
        }
    }
}

/// How a refused upload (400 or 409) is classified; both are permanent, since no retry changes
/// the app's metadata or where the process is. "Instance Not Active" gets its own reason: the
/// process left the feedback task and ended before the receipt got there.
pub fn upload_refusal(status: u16, problem: &Problem, data_type: &str) -> ArchiveError {
    if status == 409 && problem.title.as_deref() == Some("Instance Not Active") {
        return ArchiveError::permanent(
            FailureReason::InstanceNotActive,
            format!(
                "{OPERATION}: HTTP 409 Instance Not Active: the instance left the feedback task \
                 and its process ended before the receipt was uploaded ({})",
                problem.describe()
            ),
        );
    }
    ArchiveError::permanent(
        FailureReason::ReceiptRejected,
        format!(
            "{OPERATION}: HTTP {status} for data type {data_type}: {}",
            problem.describe()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_upload_answers_name_the_new_element() {
        let current = br#"{"newDataElementId":"e1","instance":{"id":"1/x"},"validationIssues":[]}"#;
        assert_eq!(new_element_id(current).as_deref(), Some("e1"));
        let legacy = br#"{"id":"e2","dataType":"receipt","size":3}"#;
        assert_eq!(new_element_id(legacy).as_deref(), Some("e2"));
        assert_eq!(new_element_id(b""), None);
    }

    #[test]
    fn refusals_are_permanent_and_instance_not_active_is_named() {
        let problem = |title: &str| {
            Problem::parse(
                serde_json::json!({"title": title, "detail": "Cannot update data element\u{7}"})
                    .to_string()
                    .as_bytes(),
            )
        };
        let gone = upload_refusal(409, &problem("Instance Not Active"), "receipt");
        assert_eq!(gone.reason, FailureReason::InstanceNotActive);
        assert!(!gone.is_transient());
        assert!(gone.detail.contains("left the feedback task"), "{gone}");
        for (status, title) in [
            (409, "Max Count Exceeded"),
            (409, "No current task"),
            (400, "Data Type Not Found"),
        ] {
            let error = upload_refusal(status, &problem(title), "receipt");
            assert_eq!(error.reason, FailureReason::ReceiptRejected, "{title}");
            assert!(!error.is_transient());
            assert!(
                error
                    .detail
                    .contains(&format!("HTTP {status} for data type receipt: {title}")),
                "{error}"
            );
            assert!(!error.detail.contains('\u{7}'));
        }
        let plain = Problem::parse(b"Missing content type");
        assert_eq!(plain.describe(), "Missing content type");
        assert_eq!(Problem::parse(b"").describe(), "no details");
    }
}
