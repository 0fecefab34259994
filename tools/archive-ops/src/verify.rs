//! `archive-ops archive verify ORG/APP/PARTY_ID/GUID`: checks one archived instance against its
//! `manifest.json`.
//!
//! The manifest lists every object the archiver wrote (`instance.json`, the event, Storage's
//! instance events and process history, the app's metadata, the data elements) with its size
//! and SHA-256. Each object is read back from S3 as a stream and hashed on the way (memory stays
//! at one chunk, however large the object), then compared: `OK`, `DIFFERENT` (size or SHA-256
//! differ, or a data element's bytes do not have the MD5 of Altinn's `contentHash` listed for
//! it) or `MISSING`. This catches what S3's own checksums cannot: an object overwritten or
//! deleted after archiving.
//!
//! A manifest of version 2 or later must also list the instance's history under its keys and
//! exactly one app metadata object whose key names the SHA-256 listed for it, and each data
//! element under `data/{id}`, or `quarantine/{id}` when it is flagged `quarantined` (Altinn's
//! scan found it `Infected`); anything else is reported as a problem with the manifest.

use std::io::Write;

use altinn::InstanceRef;
use altinn::environment::{is_valid_app_name, is_valid_org_code};
use archive_model::{ArchiveLayout, Manifest, ManifestObject, ObjectRole};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::ArchiveCommand;
use crate::{
    CommandError, Context, EXIT_FAILURE, EXIT_OK, UsageError, progress, table, write_json,
};

/// Objects read at the same time.
const CONCURRENT_READS: usize = 4;
/// The first manifest version that lists the instance's history and the app's metadata.
const RECORD_VERSION: u32 = 2;

/// The archive bucket, read only: all `verify` needs from S3.
#[derive(Debug, Clone)]
pub struct ArchiveReader {
    s3: aws_sdk_s3::Client,
    bucket: String,
    layout: ArchiveLayout,
}

impl ArchiveReader {
    /// A reader of `bucket`, whose keys follow `layout`.
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>, layout: ArchiveLayout) -> Self {
        ArchiveReader {
            s3,
            bucket: bucket.into(),
            layout,
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key layout.
    pub fn layout(&self) -> &ArchiveLayout {
        &self.layout
    }

    /// `GetObject`: the object's body, still streaming; `None` when there is no such key.
    pub async fn open(&self, key: &str) -> Result<Option<ByteStream>, CommandError> {
        lambda_support::aws::get_object_if_exists(&self.s3, &self.bucket, key)
            .await
            .map_err(|error| {
                CommandError::Failed(format!(
                    "S3 GetObject {key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&error)
                ))
            })
    }

    /// The manifest at `key`; `None` when there is none.
    pub async fn manifest(&self, key: &str) -> Result<Option<Manifest>, CommandError> {
        let Some(body) = self.open(key).await? else {
            return Ok(None);
        };
        let bytes = body
            .collect()
            .await
            .map_err(|e| {
                CommandError::Failed(format!("S3 GetObject {key}: reading the body: {e}"))
            })?
            .into_bytes();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CommandError::Failed(format!("{key} is not a manifest: {e}")))
    }
}

/// How one object compares with its manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ObjectStatus {
    /// Same size and SHA-256.
    Ok,
    /// The object exists but its size or SHA-256 differs.
    Different,
    /// No object at the key.
    Missing,
}

impl ObjectStatus {
    fn label(self) -> &'static str {
        match self {
            ObjectStatus::Ok => "OK",
            ObjectStatus::Different => "DIFFERENT",
            ObjectStatus::Missing => "MISSING",
        }
    }
}

/// One object's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCheck {
    /// The full S3 key.
    pub key: String,
    /// `instance`, `event` or `dataElement`.
    pub role: ObjectRole,
    /// The verdict.
    pub status: ObjectStatus,
    /// The size in the manifest.
    pub expected_size: u64,
    /// The SHA-256 (lower-case hex) in the manifest.
    pub expected_sha256: String,
    /// The size read back; absent when missing.
    pub actual_size: Option<u64>,
    /// The SHA-256 of the bytes read back; absent when missing.
    pub actual_sha256: Option<String>,
    /// For a data element listed with Altinn's `contentHash`: whether the bytes read back have
    /// that MD5. Absent when there is nothing to compare (no `contentHash`, one that is not a
    /// Base64 MD5 and not claimed verified, or a missing object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash_matches: Option<bool>,
    /// The Base64 MD5 of the bytes read back, when `content_hash_matches` is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_md5: Option<String>,
}

/// The whole verification of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// `{org}/{app}/{partyId}/{instanceGuid}`.
    pub instance: String,
    /// The bucket.
    pub bucket: String,
    /// The manifest's key.
    pub manifest_key: String,
    /// When the manifest was written.
    pub archived_at: String,
    /// Every object listed in the manifest, in its order.
    pub objects: Vec<ObjectCheck>,
    /// Objects that match.
    pub ok: usize,
    /// Objects that differ.
    pub different: usize,
    /// Objects that are gone.
    pub missing: usize,
    /// Data elements the archiver deliberately skipped (hard-deleted in Altinn).
    pub skipped_data_elements: usize,
    /// The manifest's version.
    pub manifest_version: u32,
    /// What is wrong with the manifest itself (from version 2: the history or the app's
    /// metadata missing, listed twice, or under another key than the layout's).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when every object matches and the manifest lists what it must.
    pub fn all_ok(&self) -> bool {
        self.different == 0 && self.missing == 0 && self.problems.is_empty()
    }
}

/// Parses `org/app/partyId/guid` (the form the DLQ and reconcile print).
pub fn parse_instance(text: &str) -> Result<InstanceRef, UsageError> {
    let shape = || UsageError("the instance must look like ORG/APP/PARTY_ID/INSTANCE_GUID".into());
    let parts: Vec<&str> = text.trim().trim_matches('/').split('/').collect();
    let [org, app, party_id, guid] = parts.as_slice() else {
        return Err(shape());
    };
    if !is_valid_org_code(org) || !is_valid_app_name(app) {
        return Err(UsageError(
            "the instance's org or app is not a valid Altinn name".into(),
        ));
    }
    Ok(InstanceRef {
        org: (*org).to_owned(),
        app: (*app).to_owned(),
        party_id: party_id.parse().map_err(|_| shape())?,
        instance_guid: guid.parse().map_err(|_| shape())?,
    })
}

/// Runs `archive …`.
pub async fn command(
    command: &ArchiveCommand,
    json: bool,
    context: &Context,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> Result<i32, CommandError> {
    let ArchiveCommand::Verify { instances, archive } = command;
    let instances = instances
        .iter()
        .map(|text| parse_instance(text))
        .collect::<Result<Vec<_>, _>>()?;
    let bucket = context.required(archive.bucket.as_deref(), "bucket", "ARCHIVE_BUCKET")?;
    let prefix = context
        .setting(archive.prefix.as_deref(), "ARCHIVE_PREFIX")
        .unwrap_or_default();
    let layout = ArchiveLayout::new(prefix).map_err(|e| UsageError(format!("--prefix: {e}")))?;
    let store = ArchiveReader::new(lambda_support::aws::s3_client(&context.sdk), bucket, layout);

    let bar = progress::bar(context.progress && !json, 0, "verifying");
    let mut reports = Vec::with_capacity(instances.len());
    for instance in &instances {
        let report = verify_instance(&store, instance, &bar).await;
        reports.push(report.inspect_err(|_| bar.abandon())?);
    }
    bar.finish_and_clear();
    match reports.as_slice() {
        [one] if json => write_json(out, one)?,
        _ if json => write_json(out, &reports)?,
        _ => {
            for (instance, report) in instances.iter().zip(&reports) {
                print_table(out, &store, instance, report)?;
            }
        }
    }
    Ok(if reports.iter().all(VerifyReport::all_ok) {
        EXIT_OK
    } else {
        EXIT_FAILURE
    })
}

/// Reads the manifest and checks every object it lists, adding them to `bar`. Fails when
/// there is no manifest, when it names another instance, or when S3 fails (other than a
/// missing object).
pub async fn verify_instance(
    store: &ArchiveReader,
    instance: &InstanceRef,
    bar: &ProgressBar,
) -> Result<VerifyReport, CommandError> {
    let manifest_key = store
        .layout()
        .manifest(instance)
        .map_err(CommandError::failed)?;
    let manifest = store.manifest(&manifest_key).await?.ok_or_else(|| {
        CommandError::Failed(format!(
            "not archived: there is no s3://{}/{manifest_key}",
            store.bucket()
        ))
    })?;
    if manifest.instance_id != instance.instance_id() || manifest.app_id != instance.app_id() {
        return Err(CommandError::Failed(format!(
            "{manifest_key} describes {}/{}, not this instance",
            manifest.app_id, manifest.instance_id
        )));
    }

    let total = manifest.objects.len();
    bar.inc_length(total as u64);
    let mut checks = futures_util::stream::iter(&manifest.objects)
        .map(|object| check_object(store, object))
        .buffered(CONCURRENT_READS);
    let mut objects = Vec::with_capacity(total);
    while let Some(check) = checks.next().await {
        objects.push(check?);
        bar.inc(1);
    }
    let count = |status| objects.iter().filter(|c| c.status == status).count();
    let problems = manifest_problems(store.layout(), instance, &manifest);
    Ok(VerifyReport {
        instance: format!("{}/{}", instance.app_id(), instance.instance_id()),
        bucket: store.bucket().to_owned(),
        manifest_key,
        archived_at: manifest.archived_at.clone(),
        ok: count(ObjectStatus::Ok),
        different: count(ObjectStatus::Different),
        missing: count(ObjectStatus::Missing),
        skipped_data_elements: manifest.skipped_data_elements.len(),
        manifest_version: manifest.manifest_version,
        problems,
        objects,
    })
}

/// What a manifest of version 2 or later must list besides matching bytes: one instance-events
/// and one process-history entry, each under the instance's key for it, and one app metadata
/// entry whose key is the app's `_app/metadata-{sha256}.json` for the SHA-256 listed (so the
/// shared object is the one this instance was archived with).
pub fn manifest_problems(
    layout: &ArchiveLayout,
    instance: &InstanceRef,
    manifest: &Manifest,
) -> Vec<String> {
    if manifest.manifest_version < RECORD_VERSION {
        return Vec::new();
    }
    let mut problems = Vec::new();
    let mut expect =
        |role: ObjectRole, what: &str, key_of: &dyn Fn(&ManifestObject) -> Option<String>| {
            let entries: Vec<&ManifestObject> =
                manifest.objects.iter().filter(|o| o.role == role).collect();
            match entries.as_slice() {
                [] => problems.push(format!("the manifest lists no {what}")),
                [entry] => match key_of(entry) {
                    Some(key) if key == entry.key => {}
                    Some(key) => problems.push(format!(
                        "the {what} is listed at {}, not at {key}",
                        entry.key
                    )),
                    None => problems.push(format!(
                        "the {what} at {} has no valid key for SHA-256 {}",
                        entry.key, entry.sha256
                    )),
                },
                more => problems.push(format!("the manifest lists {} {what} objects", more.len())),
            }
        };
    expect(ObjectRole::InstanceEvents, "instance events", &|_| {
        layout.instance_events(instance).ok()
    });
    expect(ObjectRole::ProcessHistory, "process history", &|_| {
        layout.process_history(instance).ok()
    });
    expect(ObjectRole::AppMetadata, "app metadata", &|entry| {
        layout
            .app_metadata(&instance.org, &instance.app, &entry.sha256)
            .ok()
    });
    problems.extend(element_key_problems(layout, instance, manifest));
    problems
}

/// A data element is under `data/{id}`, or under `quarantine/{id}` when the manifest flags it
/// `quarantined` (an `Infected` element): either place is fine, a mix-up is a problem.
fn element_key_problems(
    layout: &ArchiveLayout,
    instance: &InstanceRef,
    manifest: &Manifest,
) -> Vec<String> {
    manifest
        .data_elements()
        .filter_map(|entry| {
            let id = entry.data_element_id.as_deref()?;
            let expected = if entry.quarantined {
                layout.quarantined_element(instance, id).ok()?
            } else {
                layout.data_element(instance, id).ok()?
            };
            (expected != entry.key).then(|| {
                format!(
                    "data element {id} is listed at {}, not at {expected}{}",
                    entry.key,
                    if entry.quarantined {
                        " (quarantined)"
                    } else {
                        ""
                    }
                )
            })
        })
        .collect()
}

/// Streams one object and compares it with its manifest entry.
async fn check_object(
    store: &ArchiveReader,
    object: &ManifestObject,
) -> Result<ObjectCheck, CommandError> {
    let actual = stream_digest(store, &object.key).await?;
    let content_hash_matches = actual.as_ref().and_then(|digest| {
        let claimed = object.content_hash.as_deref()?;
        match BASE64.decode(claimed) {
            Ok(md5) if md5.len() == 16 => Some(BASE64.encode(md5) == digest.md5),
            // A value that is no MD5 can only match if the manifest does not claim it checked.
            _ => object
                .content_hash_verified
                .filter(|verified| *verified)
                .map(|_| false),
        }
    });
    let status = match &actual {
        None => ObjectStatus::Missing,
        Some(digest)
            if digest.size == object.size
                && digest.sha256.eq_ignore_ascii_case(&object.sha256)
                && content_hash_matches != Some(false) =>
        {
            ObjectStatus::Ok
        }
        Some(_) => ObjectStatus::Different,
    };
    let actual_md5 = content_hash_matches
        .and(actual.as_ref())
        .map(|digest| digest.md5.clone());
    let (actual_size, actual_sha256) = actual.map(|d| (d.size, d.sha256)).unzip();
    Ok(ObjectCheck {
        key: object.key.clone(),
        role: object.role,
        status,
        expected_size: object.size,
        expected_sha256: object.sha256.clone(),
        actual_size,
        actual_sha256,
        content_hash_matches,
        actual_md5,
    })
}

/// An object's bytes as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDigest {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Base64, the form of Altinn's `contentHash`.
    pub md5: String,
}

/// The size, SHA-256 and MD5 of the object at `key`, hashed chunk by chunk as the body
/// arrives; `None` when there is no such object.
pub async fn stream_digest(
    store: &ArchiveReader,
    key: &str,
) -> Result<Option<ObjectDigest>, CommandError> {
    let Some(mut body) = store.open(key).await? else {
        return Ok(None);
    };
    let mut sha256 = Sha256::new();
    let mut md5 = Md5::new();
    let mut size = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| CommandError::Failed(format!("S3 GetObject {key}: reading the body: {e}")))?
    {
        sha256.update(&chunk);
        md5.update(&chunk);
        size += chunk.len() as u64;
    }
    Ok(Some(ObjectDigest {
        size,
        sha256: hex::encode(sha256.finalize()),
        md5: BASE64.encode(md5.finalize()),
    }))
}

/// The report as a table (keys relative to the instance's folder) and a summary line.
fn print_table(
    out: &mut dyn Write,
    store: &ArchiveReader,
    instance: &InstanceRef,
    report: &VerifyReport,
) -> Result<(), CommandError> {
    let folder = store.layout().instance_prefix(instance).unwrap_or_default();
    let short = |sha: &str| table::truncate(sha, 13);
    let rows: Vec<Vec<String>> = report
        .objects
        .iter()
        .map(|check| {
            let role = match check.role {
                ObjectRole::Instance => "instance",
                ObjectRole::Event => "event",
                ObjectRole::DataElement => "data",
                ObjectRole::InstanceEvents => "instance events",
                ObjectRole::ProcessHistory => "process history",
                ObjectRole::AppMetadata => "app metadata",
            };
            let detail = match (check.status, check.actual_size, &check.actual_sha256) {
                (ObjectStatus::Missing, _, _) => "no such object".to_owned(),
                (ObjectStatus::Different, Some(size), _) if size != check.expected_size => {
                    format!("size {size}, manifest {}", check.expected_size)
                }
                (ObjectStatus::Different, _, Some(sha))
                    if !sha.eq_ignore_ascii_case(&check.expected_sha256) =>
                {
                    format!(
                        "sha256 {}, manifest {}",
                        short(sha),
                        short(&check.expected_sha256)
                    )
                }
                (ObjectStatus::Different, _, _) => format!(
                    "MD5 {}, not Altinn's contentHash",
                    check.actual_md5.as_deref().unwrap_or("?")
                ),
                _ => format!("{} bytes", check.expected_size),
            };
            vec![
                check
                    .key
                    .strip_prefix(&folder)
                    .unwrap_or(&check.key)
                    .to_owned(),
                role.to_owned(),
                check.status.label().to_owned(),
                detail,
            ]
        })
        .collect();
    let text = table::render(&["OBJECT", "ROLE", "STATUS", "DETAIL"], &rows);
    out.write_all(text.as_bytes())
        .map_err(CommandError::failed)?;
    for problem in &report.problems {
        writeln!(out, "PROBLEM: {problem}").map_err(CommandError::failed)?;
    }
    writeln!(
        out,
        "{}: {} object(s), {} OK, {} DIFFERENT, {} MISSING (archived {}{}){}",
        report.instance,
        report.objects.len(),
        report.ok,
        report.different,
        report.missing,
        report.archived_at,
        match report.skipped_data_elements {
            0 => String::new(),
            n => format!("; {n} hard-deleted data element(s) were not archived"),
        },
        match report.problems.len() {
            0 => String::new(),
            n => format!("; {n} problem(s) with the manifest"),
        }
    )
    .map_err(CommandError::failed)
}

#[cfg(test)]
mod tests;
