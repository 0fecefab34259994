//! The optional archive receipt (`RECEIPT_DATA_TYPE`): after the manifest is stored and before
//! `complete`, a small document is written back into the instance as a data element of the
//! configured data type, telling the service owner's case handlers where the archive is.
//!
//! ```text
//! POST {apps}{org}/{app}/instances/{partyId}/{guid}/data?dataType={RECEIPT_DATA_TYPE}
//! Content-Type: application/xml | application/json
//! Content-Disposition: attachment; filename=archive-receipt-{instanceGuid}.xml
//! → 201 DataElement
//! ```
//!
//! (The endpoint is app-lib's `DataController.Create`:
//! <https://github.com/Altinn/app-lib-dotnet/blob/main/src/Altinn.App.Api/Controllers/DataController.cs>.)
//!
//! **Idempotent, unlike Altinn's reference.** A receipt is ours when its `dataType` is
//! `RECEIPT_DATA_TYPE` and its filename is `archive-receipt-{instanceGuid}.{xml|json}`
//! ([`is_our_receipt`]). Before uploading, the pipeline looks at the instance as Storage has it
//! *now* (re-fetched, so a receipt uploaded by a run that crashed before `complete` is seen) and
//! uploads only when none of ours is there. `createdBy` cannot serve as the marker: it is our org
//! number, the same for anything else we might write into the instance.
//!
//! Two runs for the same instance at once (a duplicate delivery, e.g. while both subscriptions
//! of a secret rotation deliver) could both see no receipt; so the upload happens under a claim,
//! `…/receipt-upload.json` next to the manifest, created with `If-None-Match: *`. A run that
//! finds a younger claim than [`claim_ttl`] fails transiently
//! (`receipt_in_progress`, retried after the claim's remaining time); an older claim belonged to
//! a run that died and is taken over. A failed upload releases the claim; a successful one keeps it.
//!
//! The upload is one attempt (plus one with a fresh token after a 401): a POST whose answer was
//! lost may have created the element, so instead of retrying blind the message is retried, and
//! the retry's fresh look at the instance decides. 400 (the data type's `maxCount` reached, an
//! unknown data type, a content type the data type does not allow) is permanent; 408, 429 and
//! 5xx are transient, like every Altinn call.

use std::time::Duration;

use altinn::auth::describe_transport_error;
use altinn::{Allowlist, ClientError, DataElement, Instance, InstanceRef, TokenProvider};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Serialize;
use url::Url;

use crate::error::{ArchiveError, FailureReason};
use crate::manifest::{Manifest, ObjectRole};

/// The client method name in errors and logs.
const OPERATION: &str = "upload_receipt";
/// The XML namespace of the receipt document; bump the version when an element changes meaning.
pub const RECEIPT_XML_NAMESPACE: &str = "urn:altinn-aws-archive:archive-receipt:v1";
/// The shortest time a receipt claim holds off other runs (see [`claim_ttl`]).
pub const MIN_CLAIM_TTL: Duration = Duration::from_secs(120);
/// How much of Altinn's ProblemDetails text a DLQ `Detail` carries.
const MAX_PROBLEM_TEXT: usize = 300;

/// `RECEIPT_FORMAT`: how the receipt document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiptFormat {
    /// `application/xml` (the default; what Altinn's reference writes back).
    #[default]
    Xml,
    /// `application/json`.
    Json,
}

impl ReceiptFormat {
    /// Parses `xml` or `json` (any letter case).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "xml" => Ok(ReceiptFormat::Xml),
            "json" => Ok(ReceiptFormat::Json),
            _ => Err("must be xml or json".into()),
        }
    }

    /// The element's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ReceiptFormat::Xml => "application/xml",
            ReceiptFormat::Json => "application/json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ReceiptFormat::Xml => "xml",
            ReceiptFormat::Json => "json",
        }
    }
}

/// `RECEIPT_DATA_TYPE` and `RECEIPT_FORMAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptSettings {
    /// The app's data type the receipt is stored as.
    pub data_type: String,
    pub format: ReceiptFormat,
}

/// The filename that marks a receipt as ours: `archive-receipt-{instanceGuid}.{xml|json}`.
pub fn receipt_filename(instance: &InstanceRef, format: ReceiptFormat) -> String {
    format!(
        "archive-receipt-{}.{}",
        instance.instance_guid,
        format.extension()
    )
}

/// True when `element` is a receipt we uploaded for `instance` (in either format, so changing
/// `RECEIPT_FORMAT` never produces a second receipt). A hard-deleted one counts too: we did
/// upload it, and someone removed it on purpose.
pub fn is_our_receipt(element: &DataElement, data_type: &str, instance: &InstanceRef) -> bool {
    element.data_type == data_type
        && [ReceiptFormat::Xml, ReceiptFormat::Json]
            .iter()
            .any(|format| element.filename.as_deref() == Some(&receipt_filename(instance, *format)))
}

/// The receipt of one instance as `instance` lists its elements now.
pub fn has_our_receipt(instance: &Instance, data_type: &str, reference: &InstanceRef) -> bool {
    instance
        .data
        .iter()
        .any(|element| is_our_receipt(element, data_type, reference))
}

/// What a receipt says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// `{partyId}/{instanceGuid}`.
    pub instance_id: String,
    /// `s3://{bucket}/{prefix}{org}/{app}/{partyId}/{instanceGuid}/`: where every object is.
    pub archive_location: String,
    /// The manifest's full key.
    pub manifest_key: String,
    /// Lower-case hex SHA-256 of the manifest's bytes as stored: anyone holding the receipt
    /// can check the archive was not changed since.
    pub manifest_sha256: String,
    /// The manifest's `archivedAt`.
    pub archived_at: String,
    /// The archived data elements' ids, in the manifest's order.
    pub data_element_ids: Vec<String>,
}

impl Receipt {
    /// The receipt for a stored manifest.
    pub fn for_manifest(
        manifest: &Manifest,
        manifest_key: &str,
        manifest_sha256: &str,
        archive_location: String,
    ) -> Self {
        Receipt {
            instance_id: manifest.instance_id.clone(),
            archive_location,
            manifest_key: manifest_key.to_owned(),
            manifest_sha256: manifest_sha256.to_owned(),
            archived_at: manifest.archived_at.clone(),
            data_element_ids: manifest
                .objects
                .iter()
                .filter(|object| object.role == ObjectRole::DataElement)
                .filter_map(|object| object.data_element_id.clone())
                .collect(),
        }
    }

    /// The document in `format`.
    pub fn render(&self, format: ReceiptFormat) -> Vec<u8> {
        match format {
            // Serializing plain strings cannot fail.
            ReceiptFormat::Json => serde_json::to_vec_pretty(self).unwrap_or_default(),
            ReceiptFormat::Xml => self.to_xml().into_bytes(),
        }
    }

    fn to_xml(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        xml.push_str(&format!(
            "<ArchiveReceipt xmlns=\"{RECEIPT_XML_NAMESPACE}\">\n"
        ));
        for (name, value) in [
            ("InstanceId", &self.instance_id),
            ("ArchiveLocation", &self.archive_location),
            ("ManifestKey", &self.manifest_key),
            ("ManifestSha256", &self.manifest_sha256),
            ("ArchivedAt", &self.archived_at),
        ] {
            xml.push_str(&format!("  <{name}>{}</{name}>\n", xml_escape(value)));
        }
        xml.push_str("  <DataElements>\n");
        for id in &self.data_element_ids {
            xml.push_str(&format!(
                "    <DataElementId>{}</DataElementId>\n",
                xml_escape(id)
            ));
        }
        xml.push_str("  </DataElements>\n</ArchiveReceipt>\n");
        xml
    }
}

/// Escapes text for XML element content and attribute values. Characters XML 1.0 cannot carry
/// at all (most control characters, U+FFFE, U+FFFF) become U+FFFD, so the document always parses.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t'
            | '\n'
            | '\r'
            | '\u{20}'..='\u{D7FF}'
            | '\u{E000}'..='\u{FFFD}'
            | '\u{10000}'.. => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// How long a receipt claim holds off other runs: longer than any upload can take (a token
/// fetch plus one request bounded by `request_timeout`), so only a claim whose run died is ever
/// taken over.
pub fn claim_ttl(request_timeout: Duration) -> Duration {
    MIN_CLAIM_TTL.max(request_timeout.saturating_mul(2) + Duration::from_secs(30))
}

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

    /// `{apps}{org}/{app}/instances/{partyId}/{guid}/data?dataType={type}`, built from path
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
            ]);
        url.query_pairs_mut().append_pair("dataType", data_type);
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
        // The name is ASCII by construction (a GUID), so the plain parameter is exact.
        let disposition = format!(
            "attachment; filename={}",
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
                let element = response
                    .bytes()
                    .await
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<DataElement>(&bytes).ok());
                return Ok(element.map(|element| element.id));
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed_after_401 {
                // Refused before anything was stored: safe to send again with a fresh token.
                refreshed_after_401 = true;
                self.tokens.invalidate_token(&token).await;
                continue;
            }
            let retry_after = retry_after_of(response.headers());
            if status == StatusCode::BAD_REQUEST {
                let problem = problem_text(response).await;
                return Err(ArchiveError::permanent(
                    FailureReason::ReceiptRejected,
                    format!(
                        "{OPERATION}: HTTP 400 for data type {}: {problem}",
                        settings.data_type
                    ),
                ));
            }
            let code = status.as_u16();
            return Err(ArchiveError::from_altinn(&ClientError::Status {
                operation: OPERATION,
                status: code,
                transient: code == 408 || code == 429 || status.is_server_error(),
                retry_after,
            }));
        }
    }
}

fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    altinn::retry::parse_retry_after(value, std::time::SystemTime::now())
}

/// What a 400 says, for the DLQ: the ProblemDetails `detail` (or `title`), or the start of a
/// plain-text answer, shortened and stripped of control characters.
async fn problem_text(response: reqwest::Response) -> String {
    let Ok(bytes) = response.bytes().await else {
        return "no readable answer".into();
    };
    let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(json) => json
            .get("detail")
            .or_else(|| json.get("title"))
            .and_then(|value| value.as_str())
            .map(str::to_owned)
            .unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_PROBLEM_TEXT)
        .collect();
    if cleaned.trim().is_empty() {
        "no details".into()
    } else {
        cleaned.trim().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::manifest::{MANIFEST_VERSION, ManifestObject};

    fn instance() -> InstanceRef {
        InstanceRef {
            org: "ttd".into(),
            app: "my-app".into(),
            party_id: 50_001,
            instance_guid: Uuid::parse_str("0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11").unwrap(),
        }
    }

    fn receipt() -> Receipt {
        let object = |role, id: Option<&str>| ManifestObject {
            key: "k".into(),
            role,
            size: 1,
            sha256: "00".into(),
            content_type: "application/json".into(),
            data_element_id: id.map(str::to_owned),
            data_type: None,
            filename: None,
        };
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            instance_id: "50001/0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11".into(),
            app_id: "ttd/my-app".into(),
            archived_at: "2026-11-22T21:00:00Z".into(),
            event_id: "e".into(),
            event_type: "app.instance.process.completed".into(),
            objects: vec![
                object(ObjectRole::Instance, None),
                object(ObjectRole::Event, None),
                object(ObjectRole::DataElement, Some("d1")),
                object(ObjectRole::DataElement, Some("d2")),
            ],
            skipped_data_elements: vec![],
        };
        Receipt::for_manifest(
            &manifest,
            "archive/ttd/my-app/50001/x/manifest.json",
            "ab".repeat(32).as_str(),
            "s3://bucket/archive/ttd/my-app/50001/x/".into(),
        )
    }

    #[test]
    fn xml_receipt_lists_everything_escaped() {
        let mut receipt = receipt();
        receipt.archive_location = "s3://b/a&b<c>\"d'e\u{1}/".into();
        let xml = String::from_utf8(receipt.render(ReceiptFormat::Xml)).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ArchiveReceipt xmlns=\"urn:altinn-aws-archive:archive-receipt:v1\">"));
        assert!(xml.contains(
            "<ArchiveLocation>s3://b/a&amp;b&lt;c&gt;&quot;d&apos;e\u{FFFD}/</ArchiveLocation>"
        ));
        assert!(xml.contains(&format!(
            "<ManifestSha256>{}</ManifestSha256>",
            "ab".repeat(32)
        )));
        assert!(xml.contains("<ArchivedAt>2026-11-22T21:00:00Z</ArchivedAt>"));
        assert!(xml.contains(
            "<DataElements>\n    <DataElementId>d1</DataElementId>\n    <DataElementId>d2</DataElementId>\n  </DataElements>"
        ));
    }

    #[test]
    fn json_receipt_has_the_same_fields() {
        let json: serde_json::Value =
            serde_json::from_slice(&receipt().render(ReceiptFormat::Json)).unwrap();
        assert_eq!(
            json["instanceId"],
            "50001/0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11"
        );
        assert_eq!(
            json["archiveLocation"],
            "s3://bucket/archive/ttd/my-app/50001/x/"
        );
        assert_eq!(json["manifestSha256"], "ab".repeat(32));
        assert_eq!(json["dataElementIds"], serde_json::json!(["d1", "d2"]));
    }

    #[test]
    fn our_receipt_is_recognised_by_data_type_and_filename() {
        let instance = instance();
        let element = |data_type: &str, filename: Option<&str>| {
            serde_json::from_value::<DataElement>(serde_json::json!({
                "id": Uuid::new_v4().to_string(),
                "dataType": data_type,
                "filename": filename,
                "size": 10,
            }))
            .unwrap()
        };
        let xml_name = receipt_filename(&instance, ReceiptFormat::Xml);
        assert_eq!(
            xml_name,
            "archive-receipt-0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11.xml"
        );
        let json_name = receipt_filename(&instance, ReceiptFormat::Json);
        assert!(is_our_receipt(
            &element("receipt", Some(&xml_name)),
            "receipt",
            &instance
        ));
        assert!(is_our_receipt(
            &element("receipt", Some(&json_name)),
            "receipt",
            &instance
        ));
        assert!(!is_our_receipt(
            &element("other", Some(&xml_name)),
            "receipt",
            &instance
        ));
        assert!(!is_our_receipt(
            &element("receipt", Some("receipt.xml")),
            "receipt",
            &instance
        ));
        assert!(!is_our_receipt(
            &element("receipt", None),
            "receipt",
            &instance
        ));
        let other_instance = receipt_filename(
            &InstanceRef {
                instance_guid: Uuid::new_v4(),
                ..instance.clone()
            },
            ReceiptFormat::Xml,
        );
        assert!(!is_our_receipt(
            &element("receipt", Some(&other_instance)),
            "receipt",
            &instance
        ));
    }

    #[test]
    fn formats_parse() {
        assert_eq!(ReceiptFormat::parse("XML"), Ok(ReceiptFormat::Xml));
        assert_eq!(ReceiptFormat::parse(" json "), Ok(ReceiptFormat::Json));
        assert!(ReceiptFormat::parse("pdf").is_err());
        assert_eq!(ReceiptFormat::default(), ReceiptFormat::Xml);
    }
}
