//! Writing back into the instance: the archive receipt, uploaded while the instance waits in
//! the app's feedback task (`FEEDBACK_TASK`, `RECEIPT_DATA_TYPE`), and the optional substatus
//! set once it is archived (`ARCHIVED_SUBSTATUS_LABEL`). Why the receipt cannot wait for the
//! end of the process, and the steps around it: "Writing back to the instance" in
//! `docs/design.md`; the steps themselves are in `pipeline/feedback.rs`.
//!
//! ```text
//! POST {apps}{org}/{app}/instances/{partyId}/{guid}/data/type/{RECEIPT_DATA_TYPE}
//! Content-Type: application/xml | application/json
//! Content-Disposition: attachment; filename="archive-receipt-{instanceGuid}.xml"
//! → 200 DataPostResponse {newDataElementId, instance, …}   (older apps: 201 DataElement)
//! ```
//!
//! (app-lib's `DataController.Post`:
//! <https://github.com/Altinn/app-lib-dotnet/blob/main/src/Altinn.App.Api/Controllers/DataController.cs>.
//! Once the process has ended the app refuses every upload with 409 "Instance Not Active",
//! which is why the receipt is written in the feedback task.)
//!
//! **Idempotent, unlike Altinn's reference.** A receipt is ours when its `dataType` is
//! `RECEIPT_DATA_TYPE` and its filename is `archive-receipt-{instanceGuid}.{xml|json}`
//! ([`is_our_receipt`]). The pipeline uploads only when the instance, fetched after it took the
//! write-back claim, holds none of ours. `createdBy` cannot serve as the marker: it is our org
//! number, the same for anything else we might write into the instance.
//!
//! The upload is one attempt (plus one with a fresh token after a 401): a POST whose answer was
//! lost may have created the element, so instead of retrying blind the message is retried, and
//! the retry's fresh look at the instance decides. Refusals ([`upload_refusal`]): 409 "Instance
//! Not Active" is `instance_not_active` (the process left the feedback task and ended before
//! the upload); 400 and every other 409 ("Max Count Exceeded", "No current task", "Conflict
//! with Current Task") are `receipt_rejected` with Altinn's title: no retry can change the
//! app's metadata or the process. 408, 429 and 5xx are transient, like every Altinn call.

use std::time::Duration;

use altinn::{DataElement, Instance, InstanceRef, RetryPolicy};
use serde::Serialize;

/// The XML namespace of the receipt document; bump the version when an element changes meaning
/// (v2: written in the feedback task, so it lists the elements with their SHA-256 instead of
/// naming a manifest that does not exist yet).
pub const RECEIPT_XML_NAMESPACE: &str = "urn:altinn-aws-archive:archive-receipt:v2";
/// The shortest time a write-back claim holds off other runs (see [`claim_ttl`]).
pub const MIN_CLAIM_TTL: Duration = Duration::from_secs(120);

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

/// `FEEDBACK_TASK` and the receipt written while the instance waits there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackSettings {
    /// The BPMN id of the app's feedback task, e.g. `Task_2`.
    pub task: String,
    pub receipt: ReceiptSettings,
}

impl FeedbackSettings {
    /// `app.instance.process.movedTo.{task}`: the event that starts the write-back.
    pub fn event_type(&self) -> String {
        altinn::event::process_moved_to(&self.task)
    }
}

/// `ARCHIVED_SUBSTATUS_LABEL` and `ARCHIVED_SUBSTATUS_DESCRIPTION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstatusSettings {
    pub label: String,
    pub description: Option<String>,
}

impl SubstatusSettings {
    /// True when `instance` already shows this substatus (label and description), so setting
    /// it again would only add an instance event.
    pub fn is_shown_by(&self, instance: &Instance) -> bool {
        instance
            .status
            .as_ref()
            .and_then(|status| status.substatus.as_ref())
            .is_some_and(|shown| {
                shown.label.as_deref() == Some(self.label.as_str())
                    && shown.description == self.description
            })
    }
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

/// One archived data element as the receipt names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptElement {
    pub data_element_id: String,
    /// Lower-case hex SHA-256 of the bytes as archived: anyone holding the receipt can check
    /// the archived copy.
    pub sha256: String,
}

/// What a receipt says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// `{partyId}/{instanceGuid}`.
    pub instance_id: String,
    /// `s3://{bucket}/{prefix}{org}/{app}/{partyId}/{instanceGuid}/`: where every object is,
    /// and where `manifest.json` will be once the process has ended.
    pub archive_location: String,
    /// When the elements were archived (RFC 3339).
    pub archived_at: String,
    /// The archived data elements, in the instance's order.
    pub data_elements: Vec<ReceiptElement>,
}

impl Receipt {
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
            ("ArchivedAt", &self.archived_at),
        ] {
            xml.push_str(&format!("  <{name}>{}</{name}>\n", xml_escape(value)));
        }
        xml.push_str("  <DataElements>\n");
        for element in &self.data_elements {
            xml.push_str(&format!(
                "    <DataElement id=\"{}\" sha256=\"{}\"/>\n",
                xml_escape(&element.data_element_id),
                xml_escape(&element.sha256)
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

/// How long a write-back claim holds off other runs: longer than the claimed steps can take
/// (a fresh look at the instance with all its attempts, the upload and `process/next`, each
/// one request plus a token fetch), so only a claim whose run died is ever taken over.
pub fn claim_ttl(retry: &RetryPolicy) -> Duration {
    let get_instance = retry
        .request_timeout
        .saturating_add(retry.max_delay)
        .saturating_mul(retry.max_attempts.max(1));
    let writes = retry.request_timeout.saturating_mul(4);
    MIN_CLAIM_TTL.max(get_instance + writes + Duration::from_secs(30))
}

mod upload;

pub use upload::{Problem, ReceiptUploader, upload_refusal};

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn instance() -> InstanceRef {
        InstanceRef {
            org: "ttd".into(),
            app: "my-app".into(),
            party_id: 50_001,
            instance_guid: Uuid::parse_str("0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11").unwrap(),
        }
    }

    fn receipt() -> Receipt {
        let element = |id: &str, sha: &str| ReceiptElement {
            data_element_id: id.into(),
            sha256: sha.repeat(32),
        };
        Receipt {
            instance_id: "50001/0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11".into(),
            archive_location: "s3://bucket/archive/ttd/my-app/50001/x/".into(),
            archived_at: "2026-11-22T21:00:00Z".into(),
            data_elements: vec![element("d1", "ab"), element("d2", "cd")],
        }
    }

    #[test]
    fn xml_receipt_lists_every_element_with_its_digest_escaped() {
        let mut receipt = receipt();
        receipt.archive_location = "s3://b/a&b<c>\"d'e\u{1}/".into();
        let xml = String::from_utf8(receipt.render(ReceiptFormat::Xml)).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ArchiveReceipt xmlns=\"urn:altinn-aws-archive:archive-receipt:v2\">"));
        assert!(xml.contains(
            "<ArchiveLocation>s3://b/a&amp;b&lt;c&gt;&quot;d&apos;e\u{FFFD}/</ArchiveLocation>"
        ));
        assert!(xml.contains("<ArchivedAt>2026-11-22T21:00:00Z</ArchivedAt>"));
        assert!(xml.contains(&format!(
            "<DataElements>\n    <DataElement id=\"d1\" sha256=\"{}\"/>\n    <DataElement id=\"d2\" sha256=\"{}\"/>\n  </DataElements>",
            "ab".repeat(32),
            "cd".repeat(32)
        )));
        assert!(!xml.contains("Manifest"), "no manifest exists yet");
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
        assert_eq!(
            json["dataElements"][1],
            serde_json::json!({"dataElementId": "d2", "sha256": "cd".repeat(32)})
        );
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
        let other_instance = receipt_filename(
            &InstanceRef {
                instance_guid: Uuid::new_v4(),
                ..instance.clone()
            },
            ReceiptFormat::Xml,
        );
        for (data_type, filename, ours) in [
            ("receipt", Some(xml_name.as_str()), true),
            ("receipt", Some(json_name.as_str()), true),
            ("other", Some(xml_name.as_str()), false),
            ("receipt", Some("receipt.xml"), false),
            ("receipt", None, false),
            ("receipt", Some(other_instance.as_str()), false),
        ] {
            assert_eq!(
                is_our_receipt(&element(data_type, filename), "receipt", &instance),
                ours,
                "{data_type} {filename:?}"
            );
        }
    }

    #[test]
    fn formats_parse() {
        assert_eq!(ReceiptFormat::parse("XML"), Ok(ReceiptFormat::Xml));
        assert_eq!(ReceiptFormat::parse(" json "), Ok(ReceiptFormat::Json));
        assert!(ReceiptFormat::parse("pdf").is_err());
        assert_eq!(ReceiptFormat::default(), ReceiptFormat::Xml);
    }

    #[test]
    fn the_claim_outlasts_every_claimed_step() {
        let retry = RetryPolicy::default();
        let ttl = claim_ttl(&retry);
        assert!(ttl >= MIN_CLAIM_TTL);
        assert!(ttl > retry.request_timeout * (retry.max_attempts + 2));
    }

    #[test]
    fn a_substatus_is_shown_only_with_the_same_texts() {
        let settings = SubstatusSettings {
            label: "Mottatt".into(),
            description: None,
        };
        let with = |substatus: serde_json::Value| {
            serde_json::from_value::<Instance>(serde_json::json!({
                "id": "1/0b5c8f2e-43a7-4a8e-9d0b-3f6c2a1e9b11",
                "status": {"substatus": substatus},
            }))
            .unwrap()
        };
        assert!(settings.is_shown_by(&with(serde_json::json!({"label": "Mottatt"}))));
        assert!(!settings.is_shown_by(&with(serde_json::json!({"label": "Other"}))));
        assert!(!settings.is_shown_by(&with(
            serde_json::json!({"label": "Mottatt", "description": "x"})
        )));
        assert!(!settings.is_shown_by(&with(serde_json::Value::Null)));
    }
}
