//! `archive-ops quarantine list | release ID`: the instances the archiver holds because Altinn's
//! malware scan found a data element `Infected` (`INFECTED_POLICY=hold`).
//!
//! The archiver keeps the element's bytes under the instance's `quarantine/`, a review record
//! per element under `{prefix}_quarantine/` and the event under the instance, and dead-letters
//! the event as `infected`. `list` shows those review records. `release` records a person's
//! decision (a release marker next to each record, with who and when) and, once every held
//! element of the instance is released, sends the stored event to the event queue again: the
//! archiver then sees the markers and archives the instance with the quarantined elements
//! flagged. The decision to archive stays in the archiver; this command only records the
//! person's choice. The dead letter itself can then be deleted (or is left to expire).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use altinn::InstanceRef;
use archive_model::ArchiveLayout;
use archive_model::layout::QUARANTINE_RELEASE_SUFFIX;
use archive_model::quarantine::{QuarantineRelease, QuarantineReview};
use aws_sdk_s3::error::DisplayErrorContext;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::{ArchiveLocation, QuarantineCommand};
use crate::{CommandError, Context, EXIT_FAILURE, EXIT_OK, UsageError, table, write_json};

/// One held element, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldElement {
    #[serde(flatten)]
    pub review: QuarantineReview,
    /// The release marker, once a person has released the element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<QuarantineRelease>,
}

impl HeldElement {
    /// `{org}/{app}/{partyId}/{instanceGuid}`, as the DLQ shows it.
    pub fn instance_path(&self) -> String {
        let r = &self.review;
        format!("{}/{}/{}/{}", r.org, r.app, r.party_id, r.instance_guid)
    }

    fn instance_ref(&self) -> Result<InstanceRef, CommandError> {
        let r = &self.review;
        Ok(InstanceRef {
            org: r.org.clone(),
            app: r.app.clone(),
            party_id: r.party_id,
            instance_guid: r.instance_guid.parse().map_err(|_| {
                CommandError::failed(format!(
                    "review record of {} names no GUID",
                    r.data_element_id
                ))
            })?,
        })
    }

    /// True when `id` names this element: its data element id, its instance's GUID, its
    /// instance id (`{partyId}/{instanceGuid}`) or its instance path.
    pub fn is_named_by(&self, id: &str) -> bool {
        id == self.review.data_element_id
            || id == self.review.instance_guid
            || id == self.review.instance_id()
            || id == self.instance_path()
    }
}

/// The archive bucket as this command reads and writes it.
struct Quarantine {
    s3: aws_sdk_s3::Client,
    bucket: String,
    layout: ArchiveLayout,
}

impl Quarantine {
    fn open(location: &ArchiveLocation, context: &Context) -> Result<Self, CommandError> {
        let bucket = context.required(location.bucket.as_deref(), "bucket", "ARCHIVE_BUCKET")?;
        let prefix = context
            .setting(location.prefix.as_deref(), "ARCHIVE_PREFIX")
            .unwrap_or_default();
        let layout =
            ArchiveLayout::new(prefix).map_err(|e| UsageError(format!("--prefix: {e}")))?;
        Ok(Quarantine {
            s3: lambda_support::aws::s3_client(&context.sdk),
            bucket,
            layout,
        })
    }

    /// Every review record with its release marker, in key order.
    async fn held(&self) -> Result<Vec<HeldElement>, CommandError> {
        let prefix = self.layout.quarantine_reviews_prefix();
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| {
                    CommandError::failed(format!(
                        "S3 ListObjectsV2 {prefix}: {}",
                        DisplayErrorContext(&e)
                    ))
                })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let releases: BTreeSet<&String> = keys
            .iter()
            .filter(|k| k.ends_with(QUARANTINE_RELEASE_SUFFIX))
            .collect();
        let mut held = Vec::new();
        for key in keys
            .iter()
            .filter(|k| !k.ends_with(QUARANTINE_RELEASE_SUFFIX))
        {
            let Some(bytes) = self.get(key).await? else {
                continue;
            };
            let review: QuarantineReview = serde_json::from_slice(&bytes)
                .map_err(|e| CommandError::failed(format!("{key} is no review record: {e}")))?;
            let release_key = format!(
                "{}{QUARANTINE_RELEASE_SUFFIX}",
                key.strip_suffix(".json").unwrap_or(key)
            );
            let release = match releases.contains(&release_key) {
                true => self
                    .get(&release_key)
                    .await?
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
                false => None,
            };
            held.push(HeldElement { review, release });
        }
        Ok(held)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CommandError> {
        let Some(body) = lambda_support::aws::get_object_if_exists(&self.s3, &self.bucket, key)
            .await
            .map_err(|e| {
                CommandError::failed(format!("S3 GetObject {key}: {}", DisplayErrorContext(&e)))
            })?
        else {
            return Ok(None);
        };
        let bytes = body
            .collect()
            .await
            .map_err(|e| CommandError::failed(format!("S3 GetObject {key}: {e}")))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn put_json(&self, key: &str, value: &impl Serialize) -> Result<(), CommandError> {
        let body = serde_json::to_vec_pretty(value).map_err(CommandError::failed)?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(body.into())
            .send()
            .await
            .map_err(|e| {
                CommandError::failed(format!("S3 PutObject {key}: {}", DisplayErrorContext(&e)))
            })?;
        Ok(())
    }
}

/// Runs `quarantine …`.
pub async fn command(
    command: &QuarantineCommand,
    json: bool,
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    match command {
        QuarantineCommand::List { archive } => {
            let held = Quarantine::open(archive, context)?.held().await?;
            if json {
                write_json(out, &held)?;
            } else {
                print_list(out, &held)?;
            }
            Ok(EXIT_OK)
        }
        QuarantineCommand::Release {
            id,
            by,
            note,
            archive,
            queue_url,
        } => {
            let released_by = context
                .setting(by.as_deref(), "USER")
                .ok_or_else(|| UsageError("set --by (who decided) or USER".into()))?;
            let queue_url = context.required(queue_url.as_deref(), "queue-url", "QUEUE_URL")?;
            let store = Quarantine::open(archive, context)?;
            let held = store.held().await?;
            let named: Vec<&HeldElement> = held.iter().filter(|h| h.is_named_by(id)).collect();
            if named.is_empty() {
                writeln!(
                    err,
                    "no held element or instance {id} under {}",
                    store.layout.quarantine_reviews_prefix()
                )
                .map_err(CommandError::failed)?;
                return Ok(EXIT_FAILURE);
            }
            let released_at = OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .map_err(CommandError::failed)?;
            let mut newly: BTreeSet<String> = BTreeSet::new();
            for element in &named {
                if element.release.is_some() {
                    continue;
                }
                let marker = QuarantineRelease {
                    data_element_id: element.review.data_element_id.clone(),
                    released_by: released_by.clone(),
                    released_at: released_at.clone(),
                    note: note.clone(),
                };
                let key = store
                    .layout
                    .quarantine_release(&element.instance_ref()?, &element.review.data_element_id)
                    .map_err(CommandError::failed)?;
                store.put_json(&key, &marker).await?;
                newly.insert(element.review.data_element_id.clone());
            }
            let sqs = aws_sdk_sqs::Client::new(&context.sdk);
            let mut report = Vec::new();
            let instances: BTreeMap<String, Vec<&HeldElement>> =
                held.iter().fold(BTreeMap::new(), |mut all, h| {
                    all.entry(h.instance_path())
                        .or_insert_with(Vec::new)
                        .push(h);
                    all
                });
            for path in named
                .iter()
                .map(|h| h.instance_path())
                .collect::<BTreeSet<_>>()
            {
                let elements = &instances[&path];
                let waiting: Vec<&str> = elements
                    .iter()
                    .filter(|h| h.release.is_none() && !newly.contains(&h.review.data_element_id))
                    .map(|h| h.review.data_element_id.as_str())
                    .collect();
                let requeued = if waiting.is_empty() {
                    requeue(&store, &sqs, &queue_url, elements[0], &path).await?;
                    true
                } else {
                    false
                };
                report.push(ReleaseReport {
                    instance: path,
                    released: elements
                        .iter()
                        .filter(|h| newly.contains(&h.review.data_element_id))
                        .map(|h| h.review.data_element_id.clone())
                        .collect(),
                    still_held: waiting.iter().map(|s| (*s).to_owned()).collect(),
                    requeued,
                });
            }
            if json {
                write_json(out, &report)?;
            } else {
                for r in &report {
                    writeln!(
                        out,
                        "{}: released {} by {released_by}; {}",
                        r.instance,
                        if r.released.is_empty() {
                            "nothing new".to_owned()
                        } else {
                            r.released.join(", ")
                        },
                        if r.requeued {
                            "event sent to the archive queue".to_owned()
                        } else {
                            format!("still held: {}", r.still_held.join(", "))
                        }
                    )
                    .map_err(CommandError::failed)?;
                }
            }
            Ok(EXIT_OK)
        }
    }
}

/// What `release` did for one instance.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseReport {
    pub instance: String,
    /// Elements released by this run.
    pub released: Vec<String>,
    /// Elements of the instance that still wait for a release.
    pub still_held: Vec<String>,
    /// True when the stored event was sent to the archive queue.
    pub requeued: bool,
}

/// Sends the instance's stored event to the archive queue, with the routing attributes the
/// webhook sets, so the archiver takes the instance up again.
async fn requeue(
    store: &Quarantine,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    element: &HeldElement,
    instance_path: &str,
) -> Result<(), CommandError> {
    let key = &element.review.event_key;
    let body = store
        .get(key)
        .await?
        .ok_or_else(|| CommandError::failed(format!("the held event {key} is gone")))?;
    let body =
        String::from_utf8(body).map_err(|_| CommandError::failed(format!("{key} is not UTF-8")))?;
    let event_type = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let routing = [
        ("EventType", event_type.as_str()),
        ("EventId", element.review.event_id.as_str()),
        ("Instance", instance_path),
        ("Origin", "quarantine-release"),
    ];
    crate::dlq::send_to_event_queue(sqs, queue_url, &body, &routing, instance_path).await?;
    Ok(())
}

/// The list view: a table and a count.
fn print_list(out: &mut dyn Write, held: &[HeldElement]) -> Result<(), CommandError> {
    let rows: Vec<Vec<String>> = held
        .iter()
        .map(|h| {
            vec![
                h.instance_path(),
                h.review.data_element_id.clone(),
                h.review.data_type.clone(),
                table::truncate(h.review.filename.as_deref().unwrap_or(""), 30),
                h.review.size.to_string(),
                h.review.held_at.clone(),
                match &h.release {
                    Some(r) => format!("released by {} {}", r.released_by, r.released_at),
                    None => "held".to_owned(),
                },
            ]
        })
        .collect();
    let text = table::render(
        &[
            "INSTANCE",
            "DATA ELEMENT",
            "TYPE",
            "FILENAME",
            "SIZE",
            "HELD AT",
            "STATE",
        ],
        &rows,
    );
    write!(out, "{text}").map_err(CommandError::failed)?;
    writeln!(out, "{} held element(s)", held.len()).map_err(CommandError::failed)
}
