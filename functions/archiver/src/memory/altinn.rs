//! [`MemoryAltinn`]: Altinn's content and write-back in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use altinn::{ClientError, InstanceRef, RawInstance};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::error::{ArchiveError, FailureReason};
use crate::receipt::{
    Problem, Receipt, ReceiptSettings, SubstatusSettings, receipt_filename, upload_refusal,
};
use crate::seams::{AltinnSource, Download};

use super::{Journal, lock};

/// How one download of a [`MemoryAltinn`] element goes wrong.
#[derive(Debug, Clone)]
pub enum DownloadFault {
    /// The body stops halfway with a transient error.
    CutShort,
    /// The body is the element's bytes with the last one flipped.
    Corrupted,
    /// The request fails with this error.
    Fails(ArchiveError),
}

#[derive(Debug, Default)]
struct AltinnState {
    /// Instance JSON by `{partyId}/{guid}`.
    instances: HashMap<String, serde_json::Value>,
    /// Element bytes by data element id.
    data: HashMap<String, Bytes>,
    /// Faults of the next downloads, per element id.
    faults: HashMap<String, VecDeque<DownloadFault>>,
    /// Faults of the next calls of each write step.
    step_faults: HashMap<Step, VecDeque<StepFault>>,
    /// Instance events and process history by `{partyId}/{guid}`, when a test set them.
    history: HashMap<String, (Bytes, Bytes)>,
    /// App metadata by `{org}/{app}`, when a test set it.
    apps: HashMap<String, Bytes>,
    /// Errors of the next calls of each history read.
    read_faults: HashMap<Read, VecDeque<ArchiveError>>,
}

/// A read of an instance's record beyond the instance itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Read {
    InstanceEvents,
    ProcessHistory,
    AppMetadata,
}

/// A call of [`MemoryAltinn`] that changes the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Upload,
    ProcessNext,
    Substatus,
    Complete,
}

/// How one call of a [`Step`] goes wrong. The crashes never finish: a test runs the pipeline
/// under a timeout, which drops it where it waits, as a killed process would stop.
#[derive(Debug, Clone)]
pub enum StepFault {
    /// Refused with this error; nothing changes.
    Fails(ArchiveError),
    /// Done in Altinn, but the answer is lost: the caller sees this error.
    AnswerLost(ArchiveError),
    /// The process dies before the request reaches Altinn.
    CrashBefore,
    /// The process dies after Altinn did it, waiting for the answer.
    CrashAfter,
}

/// An [`AltinnSource`] in memory: instances as JSON, element bytes, and injected faults.
/// `complete` adds our org's confirmation to the instance; a receipt upload adds the receipt
/// as a data element, `process/next` ends the process and the substatus is shown, as Altinn
/// would.
#[derive(Debug, Clone)]
pub struct MemoryAltinn {
    org: String,
    state: Arc<Mutex<AltinnState>>,
    /// Correspondences, attachments and their faults (`memory/correspondence.rs`).
    pub(super) correspondence: Arc<Mutex<super::correspondence::CorrespondenceState>>,
    pub(super) journal: Journal,
}

impl MemoryAltinn {
    /// An Altinn with no instances, for our org `org`, recording into `journal`.
    pub fn new(org: &str, journal: Journal) -> Self {
        MemoryAltinn {
            org: org.to_owned(),
            state: Arc::default(),
            correspondence: Arc::default(),
            journal,
        }
    }

    /// Stores (or replaces) an instance's JSON.
    pub fn put_instance(&self, instance: &InstanceRef, json: serde_json::Value) {
        lock(&self.state)
            .instances
            .insert(instance.instance_id(), json);
    }

    /// Deletes an instance, as Altinn does some time after it was completed.
    pub fn remove_instance(&self, instance: &InstanceRef) {
        lock(&self.state).instances.remove(&instance.instance_id());
    }

    /// The instance's JSON as it is now.
    pub fn instance_json(&self, instance: &InstanceRef) -> Option<serde_json::Value> {
        lock(&self.state)
            .instances
            .get(&instance.instance_id())
            .cloned()
    }

    /// Stores an element's bytes.
    pub fn put_data(&self, data_id: &str, bytes: impl Into<Bytes>) {
        lock(&self.state)
            .data
            .insert(data_id.to_owned(), bytes.into());
    }

    /// The next download of `data_id` goes wrong as `fault` says (queued in order).
    pub fn fault_download(&self, data_id: &str, fault: DownloadFault) {
        lock(&self.state)
            .faults
            .entry(data_id.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// Sets the instance's events and process history (JSON as Storage would send them);
    /// without, both are one-item lists naming the instance.
    pub fn put_history(
        &self,
        instance: &InstanceRef,
        instance_events: serde_json::Value,
        process_history: serde_json::Value,
    ) {
        lock(&self.state).history.insert(
            instance.instance_id(),
            (json_bytes(instance_events), json_bytes(process_history)),
        );
    }

    /// Sets the metadata of `org/app`; without, it is `{"id": "{org}/{app}", "org": "{org}"}`.
    pub fn put_app_metadata(&self, org: &str, app: &str, json: serde_json::Value) {
        lock(&self.state)
            .apps
            .insert(format!("{org}/{app}"), json_bytes(json));
    }

    /// The next call of `read` fails with `error` (queued in order).
    pub fn fail_read(&self, read: Read, error: ArchiveError) {
        lock(&self.state)
            .read_faults
            .entry(read)
            .or_default()
            .push_back(error);
    }

    /// A queued fault of `read`, else what `answer` gives from the state.
    fn read(
        &self,
        read: Read,
        entry: String,
        answer: impl FnOnce(&AltinnState) -> Bytes,
    ) -> Result<Bytes, ArchiveError> {
        self.journal.record(entry);
        let mut state = lock(&self.state);
        if let Some(error) = state
            .read_faults
            .get_mut(&read)
            .and_then(|faults| faults.pop_front())
        {
            return Err(error);
        }
        Ok(answer(&state))
    }

    /// The next `complete` fails with `error`.
    pub fn fail_complete(&self, error: ArchiveError) {
        self.fault(Step::Complete, StepFault::Fails(error));
    }

    /// The next call of `step` goes wrong as `fault` says (queued in order).
    pub fn fault(&self, step: Step, fault: StepFault) {
        lock(&self.state)
            .step_faults
            .entry(step)
            .or_default()
            .push_back(fault);
    }

    /// Runs one write step: `apply` changes the instance (and says what Altinn answers), unless
    /// a queued fault says otherwise; `entry` goes into the journal once it is done.
    async fn write_step(
        &self,
        step: Step,
        entry: String,
        apply: impl FnOnce(&mut serde_json::Value) -> Result<(), ArchiveError>,
        instance: &InstanceRef,
    ) -> Result<(), ArchiveError> {
        let fault = lock(&self.state)
            .step_faults
            .get_mut(&step)
            .and_then(|faults| faults.pop_front());
        match fault {
            Some(StepFault::Fails(error)) => return Err(error),
            Some(StepFault::CrashBefore) => std::future::pending::<()>().await,
            _ => {}
        }
        {
            let mut state = lock(&self.state);
            let json = state
                .instances
                .get_mut(&instance.instance_id())
                .ok_or_else(|| Self::not_found(&entry))?;
            apply(json)?;
        }
        self.journal.record(entry);
        match fault {
            Some(StepFault::AnswerLost(error)) => Err(error),
            Some(StepFault::CrashAfter) => std::future::pending().await,
            _ => Ok(()),
        }
    }

    fn not_found(operation: &str) -> ArchiveError {
        ArchiveError::permanent(
            FailureReason::AltinnNotFound,
            format!("{operation}: HTTP 404"),
        )
    }
}

impl AltinnSource for MemoryAltinn {
    async fn get_instance(&self, instance: &InstanceRef) -> Result<RawInstance, ArchiveError> {
        self.journal
            .record(format!("get_instance {}", instance.instance_id()));
        let json = self
            .instance_json(instance)
            .ok_or_else(|| Self::not_found("get_instance"))?;
        RawInstance::parse(Bytes::from(json.to_string())).map_err(|e| {
            ArchiveError::transient(FailureReason::AltinnUnexpectedResponse, e.to_string())
        })
    }

    async fn instance_events(&self, instance: &InstanceRef) -> Result<Bytes, ArchiveError> {
        let id = instance.instance_id();
        let entry = format!("instance_events {id}");
        self.read(Read::InstanceEvents, entry, |state| {
            match state.history.get(&id) {
                Some((events, _)) => events.clone(),
                None => json_bytes(serde_json::json!({
                    "instanceEvents": [{ "instanceId": id, "eventType": "Created" }],
                })),
            }
        })
    }

    async fn process_history(&self, instance: &InstanceRef) -> Result<Bytes, ArchiveError> {
        let id = instance.instance_id();
        let entry = format!("process_history {id}");
        self.read(Read::ProcessHistory, entry, |state| match state.history.get(&id) {
            Some((_, history)) => history.clone(),
            None => json_bytes(serde_json::json!({
                "processHistory": [{ "eventType": "process_EndEvent", "elementId": "EndEvent_1" }],
            })),
        })
    }

    async fn app_metadata(&self, org: &str, app: &str) -> Result<Bytes, ArchiveError> {
        let app_id = format!("{org}/{app}");
        self.read(
            Read::AppMetadata,
            format!("app_metadata {app_id}"),
            |state| {
                state
                    .apps
                    .get(&app_id)
                    .cloned()
                    .unwrap_or_else(|| json_bytes(serde_json::json!({ "id": app_id, "org": org })))
            },
        )
    }

    async fn download_data(
        &self,
        _instance: &InstanceRef,
        data_id: &str,
    ) -> Result<Download, ArchiveError> {
        self.journal.record(format!("download {data_id}"));
        let (bytes, fault) = {
            let mut state = lock(&self.state);
            let fault = state
                .faults
                .get_mut(data_id)
                .and_then(|faults| faults.pop_front());
            (state.data.get(data_id).cloned(), fault)
        };
        let bytes = bytes.ok_or_else(|| Self::not_found("download_data"))?;
        let length = Some(bytes.len() as u64);
        let chunks: Vec<Result<Bytes, ArchiveError>> = match fault {
            None => vec![Ok(bytes)],
            Some(DownloadFault::Fails(error)) => return Err(error),
            Some(DownloadFault::CutShort) => vec![
                Ok(bytes.slice(..bytes.len() / 2)),
                Err(ArchiveError::transient(
                    FailureReason::AltinnUnreachable,
                    "download_data: the body was cut short",
                )),
            ],
            Some(DownloadFault::Corrupted) => {
                let mut corrupted = bytes.to_vec();
                if let Some(last) = corrupted.last_mut() {
                    *last ^= 0xff;
                }
                vec![Ok(Bytes::from(corrupted))]
            }
        };
        Ok(Download {
            content_length: length,
            body: futures_util::stream::iter(chunks).boxed(),
        })
    }

    async fn complete(&self, instance: &InstanceRef) -> Result<(), ArchiveError> {
        let org = self.org.clone();
        let apply = move |json: &mut serde_json::Value| {
            let confirmation = serde_json::json!({ "stakeholderId": org });
            match json
                .get_mut("completeConfirmations")
                .and_then(|c| c.as_array_mut())
            {
                Some(confirmations) => confirmations.push(confirmation),
                None => json["completeConfirmations"] = serde_json::json!([confirmation]),
            }
            Ok(())
        };
        let entry = format!("complete {}", instance.instance_id());
        self.write_step(Step::Complete, entry, apply, instance)
            .await
    }

    /// Like app-lib: refused with 409 once the process has ended, else the process ends
    /// (these instances have no task after the feedback task), and Storage archives it.
    async fn process_next(&self, instance: &InstanceRef) -> Result<(), ArchiveError> {
        let apply = |json: &mut serde_json::Value| {
            let in_task = json["process"]["currentTask"].is_object();
            if !in_task {
                return Err(ArchiveError::from_altinn(&ClientError::Status {
                    operation: "process_next",
                    status: 409,
                    transient: false,
                    retry_after: None,
                    problem: None,
                }));
            }
            json["process"]["currentTask"] = serde_json::Value::Null;
            json["process"]["ended"] = "2026-11-01T10:05:00Z".into();
            json["process"]["endEvent"] = "EndEvent_1".into();
            json["status"]["isArchived"] = true.into();
            json["status"]["archived"] = "2026-11-01T10:05:00Z".into();
            Ok(())
        };
        let entry = format!("process_next {}", instance.instance_id());
        self.write_step(Step::ProcessNext, entry, apply, instance)
            .await
    }

    async fn update_substatus(
        &self,
        instance: &InstanceRef,
        substatus: &SubstatusSettings,
    ) -> Result<(), ArchiveError> {
        let shown = serde_json::json!({
            "label": substatus.label,
            "description": substatus.description,
        });
        let apply = move |json: &mut serde_json::Value| {
            json["status"]["substatus"] = shown;
            Ok(())
        };
        let entry = format!("substatus {}", instance.instance_id());
        self.write_step(Step::Substatus, entry, apply, instance)
            .await
    }

    /// Like app-lib: 409 "Instance Not Active" once Storage archived the instance.
    async fn upload_receipt(
        &self,
        instance: &InstanceRef,
        settings: &ReceiptSettings,
        receipt: &Receipt,
    ) -> Result<Option<String>, ArchiveError> {
        let id = uuid_like(instance);
        let bytes = receipt.render(settings.format);
        let element = serde_json::json!({
            "id": id,
            "dataType": settings.data_type,
            "filename": receipt_filename(instance, settings.format),
            "contentType": settings.format.content_type(),
            "size": bytes.len(),
        });
        let data_type = settings.data_type.clone();
        let apply = move |json: &mut serde_json::Value| {
            if json["status"]["isArchived"] == true {
                let problem = Problem {
                    title: Some("Instance Not Active".into()),
                    detail: Some(
                        "Cannot update data element of archived or deleted instance".into(),
                    ),
                };
                return Err(upload_refusal(409, &problem, &data_type));
            }
            match json["data"].as_array_mut() {
                Some(data) => data.push(element),
                None => json["data"] = serde_json::json!([element]),
            }
            Ok(())
        };
        // The bytes are there before the element is listed, as Storage has them.
        self.put_data(&id, bytes);
        let entry = format!("receipt {}", instance.instance_id());
        self.write_step(Step::Upload, entry, apply, instance)
            .await?;
        Ok(Some(id))
    }
}

/// `json` as the bytes of a JSON answer.
fn json_bytes(json: serde_json::Value) -> Bytes {
    Bytes::from(json.to_string())
}

/// A fixed id for the receipt element of `instance` (ids need only be unique per instance here).
fn uuid_like(instance: &InstanceRef) -> String {
    let guid = instance.instance_guid.to_string();
    format!("ffffffff{}", &guid[8..])
}
