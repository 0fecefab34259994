//! What tests seed the simulator with ([`InstanceSpec`], [`DataSpec`]) and what they get back
//! ([`SeededInstance`], [`SeededData`]), plus the stored form of an instance.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::content::{DataContent, StoredContent, minimal_pdf};
use crate::platform::{InstanceEvent, ProcessState, SeededState, seed_history};
use crate::scan::{ScanState, SeededScan};

/// An app instance to seed.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// The app owner org; `None` = the simulator's [`crate::SimConfig::org`]. Another org gives
    /// an instance our token may not read (403 tests).
    pub org: Option<String>,
    /// The app name (`appId` = `{org}/{app}`).
    pub app: String,
    /// The instance owner's party id.
    pub party_id: u64,
    /// The instance guid; `None` = a random one.
    pub instance_guid: Option<Uuid>,
    /// `true`: the process has reached its end event (what the archiver waits for).
    pub completed: bool,
    /// The data elements, in order.
    pub data: Vec<DataSpec>,
    /// The app's process tasks in flow order (default: one data task `Task_1`).
    pub tasks: Vec<TaskSpec>,
    /// While not completed: the task the instance is at (`None` = the first task).
    pub current_task: Option<String>,
    /// `false`: the instance was created but its process never started (no current task, not
    /// ended); `completed` and `current_task` are then ignored.
    pub process_started: bool,
}

/// One task of an app's BPMN process: its element id and its `altinn:taskType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// The BPMN element id, e.g. `Task_1`.
    pub id: String,
    /// `data`, `feedback`, `confirmation`, `signing`, …
    pub task_type: String,
}

impl TaskSpec {
    /// A task of any type.
    pub fn new(id: &str, task_type: &str) -> Self {
        TaskSpec {
            id: id.to_owned(),
            task_type: task_type.to_owned(),
        }
    }

    /// A data task (the user fills in the form).
    pub fn data(id: &str) -> Self {
        TaskSpec::new(id, "data")
    }

    /// A feedback task: the instance waits there for the service owner to write back and move
    /// the process on.
    pub fn feedback(id: &str) -> Self {
        TaskSpec::new(id, "feedback")
    }

    /// The task's display name, as the app's text resources would give it.
    pub(crate) fn name(&self) -> String {
        match self.task_type.as_str() {
            "data" => "Utfylling".to_owned(),
            "feedback" => "Tilbakemelding".to_owned(),
            "confirmation" => "Bekreftelse".to_owned(),
            _ => self.id.clone(),
        }
    }
}

impl Default for InstanceSpec {
    /// A completed instance of `sim-app` with an XML form and a PDF receipt.
    fn default() -> Self {
        InstanceSpec {
            org: None,
            app: "sim-app".to_owned(),
            party_id: 50_001_337,
            instance_guid: None,
            completed: true,
            data: vec![DataSpec::xml_form(), DataSpec::pdf()],
            tasks: vec![TaskSpec::data("Task_1")],
            current_task: None,
            process_started: true,
        }
    }
}

impl InstanceSpec {
    /// A completed instance of `app` owned by `party_id` with no data elements yet.
    pub fn new(app: &str, party_id: u64) -> Self {
        InstanceSpec {
            app: app.to_owned(),
            party_id,
            data: Vec::new(),
            ..InstanceSpec::default()
        }
    }

    /// Adds a data element.
    pub fn with_data(mut self, data: DataSpec) -> Self {
        self.data.push(data);
        self
    }

    /// Sets the app owner org.
    pub fn with_org(mut self, org: &str) -> Self {
        self.org = Some(org.to_owned());
        self
    }

    /// Sets the instance guid.
    pub fn with_guid(mut self, guid: Uuid) -> Self {
        self.instance_guid = Some(guid);
        self
    }

    /// Sets whether the process has ended.
    pub fn completed(mut self, completed: bool) -> Self {
        self.completed = completed;
        self
    }

    /// The instance exists but its process was never started (app-lib answers uploads with
    /// 409 "No current task" and `process/next` with "Process is not started. Use start!").
    pub fn not_started(mut self) -> Self {
        self.completed = false;
        self.process_started = false;
        self
    }

    /// Replaces the app's process tasks (in flow order).
    pub fn with_tasks(mut self, tasks: impl IntoIterator<Item = TaskSpec>) -> Self {
        self.tasks = tasks.into_iter().collect();
        self
    }

    /// The process has not ended and the instance is at `task` (one of [`InstanceSpec::tasks`];
    /// an unknown id leaves it at the first task).
    pub fn at_task(mut self, task: &str) -> Self {
        self.completed = false;
        self.current_task = Some(task.to_owned());
        self
    }
}

/// A data element to seed.
#[derive(Debug, Clone)]
pub struct DataSpec {
    /// The app metadata data type id (`model`, `ref-data-as-pdf`, `attachment`, …).
    pub data_type: String,
    /// The element's `contentType`, also the download's `Content-Type`.
    pub content_type: String,
    /// The element's `filename` (None for form data, like Altinn).
    pub filename: Option<String>,
    /// The bytes.
    pub content: DataContent,
    /// Listed with `deleteStatus.isHardDeleted = true`; downloading it gives 404.
    pub hard_deleted: bool,
    /// Include `contentHash` (base64 MD5) in the element JSON. Altinn often leaves it out.
    pub with_content_hash: bool,
    /// The malware scan result it shows (`fileScanResult`).
    pub scan: SeededScan,
}

impl DataSpec {
    /// The app's form data: a small XML document, data type `model`.
    pub fn xml_form() -> Self {
        let xml = concat!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
            "<Skjema xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
            "  <Innsender><Navn>Simulert Person</Navn><Epost>sim@example.invalid</Epost></Innsender>\n",
            "  <Soknad><Tittel>Simulert innsending</Tittel><Beskrivelse>Generert av altinn-sim</Beskrivelse></Soknad>\n",
            "</Skjema>\n"
        );
        DataSpec {
            data_type: "model".to_owned(),
            content_type: "application/xml".to_owned(),
            filename: None,
            content: DataContent::Bytes(xml.as_bytes().to_vec()),
            hard_deleted: false,
            with_content_hash: false,
            scan: SeededScan::NotApplicable,
        }
    }

    /// The PDF receipt the app generates at the end of the process (`ref-data-as-pdf`).
    pub fn pdf() -> Self {
        DataSpec {
            data_type: "ref-data-as-pdf".to_owned(),
            content_type: "application/pdf".to_owned(),
            filename: Some("kvittering.pdf".to_owned()),
            content: DataContent::Bytes(minimal_pdf("Kvittering fra altinn-sim")),
            hard_deleted: false,
            with_content_hash: false,
            scan: SeededScan::NotApplicable,
        }
    }

    /// An uploaded attachment of `size` generated bytes (data type `attachment`); the content
    /// type follows the file extension.
    pub fn attachment(filename: &str, size: u64, seed: u64) -> Self {
        DataSpec {
            data_type: "attachment".to_owned(),
            content_type: content_type_for(filename).to_owned(),
            filename: Some(filename.to_owned()),
            content: DataContent::Generated { size, seed },
            hard_deleted: false,
            with_content_hash: false,
            scan: SeededScan::NotApplicable,
        }
    }

    /// Marks the element hard-deleted.
    pub fn hard_deleted(mut self) -> Self {
        self.hard_deleted = true;
        self
    }

    /// Includes `contentHash` in the element JSON.
    pub fn with_content_hash(mut self) -> Self {
        self.with_content_hash = true;
        self
    }

    /// Shows `scan` as the element's `fileScanResult`.
    pub fn with_scan(mut self, scan: SeededScan) -> Self {
        self.scan = scan;
        self
    }
}

pub(crate) fn content_type_for(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("pdf") => "application/pdf",
        Some("xml") => "application/xml",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("zip") => "application/zip",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

/// A seeded instance, as tests need to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededInstance {
    /// The app owner org.
    pub org: String,
    /// The app name.
    pub app: String,
    /// The instance owner's party id.
    pub party_id: u64,
    /// The instance guid.
    pub instance_guid: Uuid,
    /// The data elements, in seeding order.
    pub data: Vec<SeededData>,
}

impl SeededInstance {
    /// Altinn's instance id, `{partyId}/{guid}` (also the event's `resourceinstance`).
    pub fn instance_id(&self) -> String {
        format!("{}/{}", self.party_id, self.instance_guid)
    }

    /// `{org}/{app}`.
    pub fn app_id(&self) -> String {
        format!("{}/{}", self.org, self.app)
    }

    /// The data elements an archiver should store (everything not hard-deleted).
    pub fn live_data(&self) -> impl Iterator<Item = &SeededData> {
        self.data.iter().filter(|d| !d.hard_deleted)
    }
}

/// A seeded data element with the digests of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededData {
    /// The data element id.
    pub id: Uuid,
    /// The data type.
    pub data_type: String,
    /// The content type.
    pub content_type: String,
    /// The filename, if any.
    pub filename: Option<String>,
    /// Number of bytes (the element's `size`).
    pub size: u64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256_hex: String,
    /// MD5 of the bytes, base64 (Altinn's `contentHash` format).
    pub md5_base64: String,
    /// Listed as hard-deleted; not downloadable.
    pub hard_deleted: bool,
}

/// The simulator's stored instance.
#[derive(Clone)]
pub(crate) struct StoredInstance {
    pub seq: u64,
    pub org: String,
    pub app: String,
    pub party_id: u64,
    pub guid: Uuid,
    pub person_number: String,
    pub created: OffsetDateTime,
    pub process: ProcessState,
    /// `status.archived`: set when the process reaches its end event.
    pub archived: Option<OffsetDateTime>,
    /// `status.substatus`: `(label, description)`.
    pub substatus: Option<(String, Option<String>)>,
    /// Storage's instance event log, in the order logged.
    pub events: Vec<InstanceEvent>,
    pub last_changed: OffsetDateTime,
    pub last_changed_by: String,
    pub complete_confirmations: Vec<CompleteConfirmation>,
    pub data: Vec<StoredData>,
}

impl StoredInstance {
    pub(crate) fn instance_id(&self) -> String {
        format!("{}/{}", self.party_id, self.guid)
    }

    /// Whether the process has reached its end event (the query's `process.isComplete`).
    pub(crate) fn is_ended(&self) -> bool {
        self.process.is_ended()
    }

    /// The instance's identity as the event helpers take it (without its data elements).
    pub(crate) fn as_seeded(&self) -> SeededInstance {
        SeededInstance {
            org: self.org.clone(),
            app: self.app.clone(),
            party_id: self.party_id,
            instance_guid: self.guid,
            data: Vec::new(),
        }
    }

    pub(crate) fn find_data(&self, data_id: Uuid) -> Option<&StoredData> {
        self.data.iter().find(|d| d.id == data_id)
    }

    pub(crate) fn confirmed_by(&self, org: &str) -> bool {
        self.complete_confirmations
            .iter()
            .any(|c| c.stakeholder_id == org)
    }
}

/// One `completeConfirmations` entry.
#[derive(Clone)]
pub(crate) struct CompleteConfirmation {
    pub stakeholder_id: String,
    pub confirmed_on: OffsetDateTime,
}

/// The simulator's stored data element.
#[derive(Clone)]
pub(crate) struct StoredData {
    pub id: Uuid,
    pub data_type: String,
    pub content_type: String,
    pub filename: Option<String>,
    pub content: StoredContent,
    pub md5_base64: String,
    pub hard_deleted: Option<OffsetDateTime>,
    pub with_content_hash: bool,
    /// The `fileScanResult` shown (an upload of a type with `enableFileScan`: `Pending`).
    pub scan: ScanState,
    pub created: OffsetDateTime,
}

impl StoredData {
    /// The PDF receipt refers to the task it was generated from, like Altinn's.
    pub(crate) fn is_generated_receipt(&self) -> bool {
        self.data_type == "ref-data-as-pdf"
    }
}

/// A synthetic 11-digit "person number" for a party. Not a valid Norwegian national identity
/// number (no check digits): it only has to look like one in the JSON and the events.
pub(crate) fn synthetic_person_number(party_id: u64) -> String {
    format!("{:011}", 10_000_000_000 + party_id % 90_000_000_000)
}

/// Builds the stored instance and the description handed back to the test. Computes digests by
/// streaming each element once (for a 1 GiB attachment that takes a few seconds).
pub(crate) fn build_instance(
    spec: InstanceSpec,
    default_org: &str,
    seq: u64,
    now: OffsetDateTime,
) -> (StoredInstance, SeededInstance) {
    let org = spec.org.unwrap_or_else(|| default_org.to_owned());
    let guid = spec.instance_guid.unwrap_or_else(Uuid::new_v4);
    let created = now - time::Duration::minutes(20);
    let mut stored_data = Vec::with_capacity(spec.data.len());
    let mut seeded_data = Vec::with_capacity(spec.data.len());
    for data in spec.data {
        let content = StoredContent::from(data.content);
        let (sha256_hex, md5_base64) = content.digests();
        let id = Uuid::new_v4();
        seeded_data.push(SeededData {
            id,
            data_type: data.data_type.clone(),
            content_type: data.content_type.clone(),
            filename: data.filename.clone(),
            size: content.size(),
            sha256_hex,
            md5_base64: md5_base64.clone(),
            hard_deleted: data.hard_deleted,
        });
        stored_data.push(StoredData {
            id,
            data_type: data.data_type,
            content_type: data.content_type,
            filename: data.filename,
            content,
            md5_base64,
            hard_deleted: data.hard_deleted.then(|| now - time::Duration::minutes(5)),
            with_content_hash: data.with_content_hash,
            scan: ScanState::new(data.scan),
            created: created + time::Duration::minutes(2),
        });
    }
    let tasks = if spec.tasks.is_empty() {
        InstanceSpec::default().tasks
    } else {
        spec.tasks
    };
    let mut stored = StoredInstance {
        seq,
        org: org.clone(),
        app: spec.app.clone(),
        party_id: spec.party_id,
        guid,
        person_number: synthetic_person_number(spec.party_id),
        created,
        process: ProcessState {
            tasks,
            started: None,
            current: None,
            ended: None,
        },
        archived: None,
        substatus: None,
        events: Vec::new(),
        last_changed: created,
        last_changed_by: "1337".to_owned(),
        complete_confirmations: Vec::new(),
        data: Vec::new(),
    };
    let seeded_state = if !spec.process_started {
        SeededState::NotStarted
    } else if spec.completed {
        SeededState::Ended
    } else {
        SeededState::AtTask(spec.current_task.as_deref())
    };
    seed_history(&mut stored, seeded_state, now);
    for data in &stored_data {
        let owner = crate::platform::Actor::Person {
            user_id: 1337,
            person_number: stored.person_number.clone(),
        };
        stored.log_event("Created", data.created, &owner, Some(data.id));
    }
    stored.data = stored_data;
    let seeded = SeededInstance {
        org,
        app: spec.app,
        party_id: spec.party_id,
        instance_guid: guid,
        data: seeded_data,
    };
    (stored, seeded)
}
