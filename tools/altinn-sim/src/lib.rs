//! # altinn-sim: a local Altinn 3 for tests and the demo
//!
//! An independent implementation of Altinn's documented behaviour (Maskinporten:
//! <https://docs.digdir.no/docs/Maskinporten/>; Events: <https://docs.altinn.studio/events/>;
//! Storage and the app API: <https://github.com/Altinn/altinn-storage> and
//! <https://github.com/Altinn/app-lib-dotnet>; Correspondence:
//! <https://github.com/Altinn/altinn-correspondence>). It does not use the
//! project's `altinn` client crate, so it catches the client's mistakes instead of sharing them.
//! Start it in-process on port 0 from a test ([`Simulator::start`]) or run the `altinn-sim`
//! binary for the demo.
//!
//! ## What is simulated
//!
//! | Endpoint | Behaviour |
//! |---|---|
//! | `POST /maskinporten/token` | Verifies the JWT-bearer grant: `alg` RS256/384/512; exactly one of `kid` (must be [`SimConfig::client_kid`]) or `x5c` (a JSON array; a string gives MP-123); signature (MP-124); `iss` = client id (MP-100); `aud` = the issuer `{base}maskinporten/` (MP-110); `exp − iat ≤ 120`, `exp` in the future, `iat` within ±10 s (MP-130); `jti` present and never used before (MP-012); `scope` non-empty and registered (`invalid_scope`, MP-200); unknown claims refused. Errors are HTTP 400 `{"error","error_description"}`. Issues an RS256 access token with Maskinporten's claims (`consumer` = `0192:{org_number}`). |
//! | `GET /authentication/api/v1/exchange/maskinporten` | Checks the Maskinporten token (signature, issuer, `exp` with 10 s skew, `consumer`); any problem is a bare 401; the enterprise-user header gives 410. Answers the raw JWT as `text/plain` (no `Accept`, `text/plain`, `*/*`) or a JSON string literal (`Accept: application/json`). The Altinn token lives [`SimConfig::altinn_token_lifetime`] (30 min) and carries `urn:altinn:org` only when the scope contains `altinn:serviceowner`. |
//! | Storage `GET instance`, `GET data`, `GET dataelements`, `POST complete`, query | Newtonsoft dialect: nulls omitted, `readStatus: "Read"`, `selfLinks.platform`. 404 text `Unable to find instance {guid}`. `complete` logs instance event `ConfirmedComplete` the first time per org. The query sorts by `lastChanged` descending (`order=asc:…` ascending) and pages with Storage's token `{ticks};{row id}` (URL-encoded, and encoded again in `next`); a full page always gets a `next`. |
//! | App `GET instance`, `GET data`, `POST complete` | System.Text.Json dialect: nulls written, `readStatus: 1`, `instanceOwner.party` on GET, `selfLinks.apps`. 404 as ProblemDetails. |
//! | Process | Each instance has its app's tasks ([`TaskSpec`]; default one data task `Task_1`) and is at one of them, not started, or ended. `process.currentTask {flow, started, elementId, name, altinnTaskType, flowType}` while at a task; `ended`, `endEvent` and `status.isArchived`/`archived` once ended. Seeding logs the matching instance events (`Created`, `process_StartEvent`, `process_StartTask`, `process_EndTask`, `process_EndEvent`, `Created` per element). |
//! | App `PUT process/next` (app-lib `ProcessController.NextElement`) | Optional body. 409 ProblemDetails `Process is ended.` / `Process is not started. Use start!`; 409 title `Validation failed for task` with `validationIssues` when a data type whose `taskId` is the current task has fewer than `minCount` (or more than `maxCount`) elements. Moves to the next task or to the end (archiving the instance), logs `process_EndTask` + `process_StartTask`/`process_EndEvent`, publishes `app.instance.process.movedTo.{task}` or `app.instance.process.completed` to matching subscriptions, and answers 200 `AppProcessState` (with `processTasks`). |
//! | App and Storage `PUT substatus` | Body `{label, description?}`; 400 text `Invalid sub status: {json}. Substatus must be defined and include a label.`; 403 empty when the token's `urn:altinn:org` is not the instance's (the app compares case-insensitively); no scope check; allowed after the end. Sets `status.substatus`, `lastChanged(By)`, logs `SubstatusUpdated`; the App route also publishes `app.instance.substatus.changed`. 200 `Instance`. |
//! | App uploads: `POST data?dataType=` (legacy, 201 DataElement + `Location`) and `POST data/type/{dataType}` (200 `DataPostResponse {newDataElementId, instance, validationIssues, newDataModels}`) | app-lib's checks in its order, all ProblemDetails: 404 `Instance Not Found`; 400 `Data Type Not Found` (not in the app metadata); 403 for `ref-data-as-pdf`; 409 `Instance Not Active` (archived); 409 `Max Count Exceeded`; 409 `No current task`; 400 `Missing content type`; for binary types 400 `File validation failed` with `uploadValidationIssues` (no `Content-Disposition`, a filename that does not parse or has no extension, a `Content-Type` not matching the extension or not in `allowedContentTypes`); 400 for an empty body. Stores the body in memory (at most 16 MiB), `fileScanResult: Pending` when the type has `enableFileScan`, logs `Created` with `dataId`. |
//! | Application metadata: `GET /storage/api/v1/applications/{org}/{app}` | Anonymous. Every seeded app has data types `model` (form data, `Task_1`, exactly one), `ref-data-as-pdf` and `attachment` (`Task_1`); tests add more with [`Simulator::add_data_type`] ([`DataTypeSpec`]). 404 text `Could not find an application with appId={org}/{app}` for an app never seeded or declared. |
//! | Instance events and process history: Storage `GET instances/{p}/{g}/events`, `GET …/process/history`, App `GET …/process/history` | `{"instanceEvents": […]}` in time order, filtered by `eventTypes` (repeatable) and by `from`+`to` (only when both; 400 text for a bad time). `{"processHistory": […]}` built as Storage's `ProcessHelper` does: a task's start and end merged into one item, `performedBy` = the person number or the org code. |
//! | Events subscriptions | Create with Altinn's checks in Altinn's order (endpoint, source scheme, `altinn:events.subscribe` for generic resources → 403 with an empty body, resource URN, then the app rules or the generic ones: resource required, `sourceFilter`/`alternativeSubjectFilter` refused with Altinn's messages, `includeSubunits` needs a subject), dedupe of identical requests, `Location: /events/api/v1/subscription/{id}`; get, list (unvalidated included) and delete by the creator's identity. |
//! | Events push | The validation event right after create (retried per `ValidationQueuePolicy`), then one event per POST with `application/json; charset=utf-8`, retried after 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h, 12 h (× [`SimConfig::retry_time_scale`]) and dead-lettered after 12 failed attempts. |
//! | Correspondence under `/correspondence/api/v1/` ([`CORRESPONDENCE_ROUTES`]): overview, details, `/content`, `markasread`, `confirm`, the recipient's attachment download; the sender's attachment overview, details and download | JSON camelCase, enums as strings, nulls written; errors are ProblemDetails with `errorCode` (1001, 1024, 1025, 1041, 2001, 2016, 2019, 2020, 4001). A token with `altinn:correspondence.write` acts as sender (its `urn:altinn:org` must be the sender org), else one with `altinn:correspondence.read` as recipient (its `urn:altinn:orgNumber` must be the recipient): wrong party 401/4001, no scope 403. After `Published` the sender gets empty content and 2016 on download, and never sees `Archived`/`Purged*`; the recipient gets 404/1001 before. Recipient calls record `Fetched` (the overview at most every 15 s), `/content` the first `Read` (+ `correspondencereceiverread`), downloads `AttachmentsDownloaded` (no event). Seeded with [`Simulator::add_correspondence`]; events with their real `source`, `resourceinstance` and `subject` from [`Simulator::publish_correspondence`] and friends. |
//!
//! Platform and app routes require a valid, unexpired, unrevoked Altinn token from this simulator
//! (401 otherwise) whose `urn:altinn:org` is the instance's org and whose scope has
//! `altinn:serviceowner/instances.read` (GET, query, events, history) or `…instances.write`
//! (complete, data upload, `process/next`), else 403. Substatus checks the org only; the
//! application metadata needs no token.
//!
//! Around the endpoints: seeded instances with generated attachments of any size (streamed from a
//! deterministic generator, O(1) memory), hard-deleted elements, malware scan results
//! ([`SeededScan`]: `Pending` for the first reads then `Clean`, `Pending` forever, `Infected`,
//! whose bytes are still served, as Storage does), fault injection per route
//! ([`FaultRule`]), a request log with every `Authorization` header ([`Simulator::requests`]),
//! and a log of every push attempt ([`Simulator::deliveries`]).
//!
//! ## Where the simulator deliberately differs from Altinn
//!
//! - **One host.** Platform (Storage, Events, Authentication), apps and Maskinporten all live on
//!   `http://127.0.0.1:{port}/`: use `ALTINN_ENV=local` with `ALTINN_PLATFORM_URL` =
//!   `ALTINN_APPS_URL` = [`Simulator::base_url`]. Event `source`s therefore point at that host,
//!   not at `{org}.apps.{domain}`.
//! - **Plain HTTP, and loopback webhooks.** Subscription endpoints (and source filters) must be
//!   `https`, as in Altinn, *or* `http` to a loopback host (`127.0.0.1`, `::1`, `localhost`) so
//!   tests can receive pushes locally.
//! - **`x5c` trust.** Maskinporten trusts business certificates through their CA chain and org
//!   number. The simulator reads the first certificate's RSA key (a small DER walker), verifies the
//!   signature with it and requires that key to be the client's registered key; it checks no chain,
//!   dates or revocation (so MP-121 "expired key" is not simulated).
//! - **Stricter than Altinn** where that catches client bugs: `jti` is required; an Altinn token
//!   is refused the moment it expires (no clock skew) or after [`Simulator::revoke_tokens`].
//!   A grant's `jti` is burned as soon as its signature and times check out, even if its scope
//!   is then refused.
//! - **Form data is served as stored.** A real app re-serializes form data on its data endpoint;
//!   both routes here return the stored bytes (the Storage behaviour).
//! - **`complete` does not check the process**, like Storage, which does not either; it is
//!   idempotent per org and records `completeConfirmations`.
//! - **Query parameters**: only `org`, `appId`, `process.isComplete`, `process.currentTask`,
//!   `excludeConfirmedBy`, `order`, `size` and `continuationToken` are honoured; a token that
//!   does not parse is a 400 (Storage would fail with a 500).
//! - **Processes are linear**: tasks follow each other in the order given, with no gateways,
//!   and `process/next` only checks `minCount`/`maxCount` of the task's data types (no
//!   file-scan or custom validators). Any caller with the owner org's `instances.write` token
//!   may move any task (a real app's `policy.xml` decides who may write in each task).
//! - **Upload checks** skip `allowedContributors`, `actionRequiredToWrite`,
//!   `disallowUserCreate` and `maxSize`; the app's file analysers do not run.
//! - **Event matching** is Altinn's (resource, subject and type filters, validated subscriptions
//!   only; subunits are not modelled). The authorization step is reduced: app events reach the
//!   app owner org; generic-resource events reach the owner org passed to
//!   [`Simulator::publish_event`] and the organisation an
//!   `urn:altinn:organization:identifier-no:{orgno}` subject names; creating a generic
//!   subscription needs a service-owner token, or an organisation's own subject. Only the owner
//!   of the seeded instances (`/person/{number}`) can be used as `alternativeSubjectFilter`.
//! - **Synthetic people**: instance owners get a made-up 11-digit person number (no valid check
//!   digits) and the name "Simulert Person {partyId}".
//! - **Correspondence** accepts only the simulator's exchanged Altinn tokens (Altinn also takes
//!   raw Maskinporten tokens on the sender routes). Access is reduced to the token's org code
//!   (sender) or org number (recipient): no XACML, system users or persons. `confirm` writes
//!   `Confirmed` at once (Altinn: a job about 4 s later). Notification states are made up
//!   (`Registered`/`New` before publishing, `Completed`/`Delivered` after) rather than read
//!   from the Notifications API. Events are pushed when a test publishes them, never lost; the
//!   sender's subscription also gets events addressed to the recipient (in Altinn that depends
//!   on the resource policy). Not simulated: the list and `downloadall` routes, Dialogporten,
//!   delayed publishing, `traceId`.
//! - Error texts not documented by Altinn (e.g. some subscription 400 messages) are the
//!   simulator's own wording.

mod authentication;
mod config;
mod content;
mod correspondence;
mod der;
mod dialect;
mod events;
mod faults;
mod jwt;
mod maskinporten;
mod platform;
mod reply;
mod scan;
mod seed;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;
use uuid::Uuid;

pub use crate::config::{
    ISSUER_PUBLIC_KEY_PEM, SimConfig, TEST_CLIENT_CERT_PEM, TEST_CLIENT_PRIVATE_KEY_PEM,
    TEST_CLIENT_PUBLIC_KEY_PEM,
};
pub use crate::content::DataContent;
pub use crate::correspondence::{
    CORRESPONDENCE_BASE, CORRESPONDENCE_EVENT_PREFIX, CORRESPONDENCE_ROUTES,
    CorrespondenceAttachmentSpec, CorrespondenceSpec, CorrespondenceStatusRecord,
    SeededCorrespondence, SeededCorrespondenceAttachment,
};
pub use crate::faults::{Fault, FaultRule, Route};
pub use crate::platform::DataTypeSpec;
pub use crate::scan::SeededScan;
pub use crate::seed::{DataSpec, InstanceSpec, SeededData, SeededInstance, TaskSpec};
pub use crate::server::SERVED_ROUTES;

/// The feedback task of the demo app's process (see [`Simulator::seed_demo`]).
pub const DEMO_FEEDBACK_TASK: &str = "Task_2";
/// The data type the demo app takes in its feedback task: the archive receipt.
pub const DEMO_RECEIPT_DATA_TYPE: &str = "archive-receipt";
pub use crate::state::{DeadLetter, DeliveryRecord, RequestRecord};

use crate::dialect::{Dialect, render_instance};
use crate::jwt::Keys;
use crate::state::Shared;

/// A running simulator. Dropping it stops the server and all background pushes.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.shared.base_url.as_str())
            .finish()
    }
}

impl Simulator {
    /// Binds [`SimConfig::bind`] and starts serving on the current Tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let keys = Keys::load(&config)?;
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let host = match addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let base_url = Url::parse(&format!("http://{host}:{}/", addr.port()))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let push_client = reqwest::Client::builder()
            .no_proxy()
            .timeout(config.push_timeout)
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Shared::new(
            config,
            base_url,
            keys,
            push_client,
            tokio::runtime::Handle::current(),
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        let server = tokio::spawn(server::serve(listener, Arc::clone(&shared), shutdown_rx));
        tracing::info!(base_url = %shared.base_url, "altinn-sim listening");
        Ok(Simulator {
            shared,
            addr,
            shutdown,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:{port}/`: serves platform AND apps routes. Use with `ALTINN_ENV=local`
    /// and `ALTINN_PLATFORM_URL` = `ALTINN_APPS_URL` = this.
    pub fn base_url(&self) -> Url {
        self.shared.base_url.clone()
    }

    /// The platform base URL (= [`Simulator::base_url`]).
    pub fn platform_url(&self) -> Url {
        self.base_url()
    }

    /// The apps base URL (= [`Simulator::base_url`]).
    pub fn apps_url(&self) -> Url {
        self.base_url()
    }

    /// `{base}maskinporten/`: the grant's `aud`; the token endpoint is `{issuer}token`.
    pub fn maskinporten_issuer(&self) -> Url {
        self.base_url()
            .join("maskinporten/")
            .expect("a relative path joins onto an http URL")
    }

    /// `{base}maskinporten/token`
    pub fn maskinporten_token_url(&self) -> Url {
        self.base_url()
            .join("maskinporten/token")
            .expect("a relative path joins onto an http URL")
    }

    /// `{base}authentication/api/v1/exchange/maskinporten`
    pub fn token_exchange_url(&self) -> Url {
        self.base_url()
            .join("authentication/api/v1/exchange/maskinporten")
            .expect("a relative path joins onto an http URL")
    }

    /// `{base}authentication/api/v1/openid/`: the `iss` of the Altinn tokens.
    pub fn altinn_token_issuer(&self) -> String {
        self.shared.altinn_issuer()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    // ----- seeding -----

    /// Seeds an instance. Digests of the data are computed here by streaming each element once,
    /// which takes a few seconds for GiB-sized generated attachments.
    pub fn add_instance(&self, spec: InstanceSpec) -> SeededInstance {
        let seq = {
            let mut inner = self.shared.lock();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            seq
        };
        let (stored, seeded) = seed::build_instance(
            spec,
            &self.shared.config.org,
            seq,
            time::OffsetDateTime::now_utc(),
        );
        let mut inner = self.shared.lock();
        inner
            .apps
            .entry(seeded.app_id())
            .or_insert_with(platform::default_data_types);
        inner.instances.insert(stored.guid, stored);
        seeded
    }

    /// The demo set (all of app `demo-app`, our org): two completed instances with an XML form,
    /// a PDF receipt and attachments, one of them with a hard-deleted attachment; one completed
    /// instance with a generated attachment of `large_attachment_size` bytes; one instance
    /// still in its first task (not to be archived yet); and one waiting in the app's feedback
    /// task [`DEMO_FEEDBACK_TASK`], where the app takes a [`DEMO_RECEIPT_DATA_TYPE`] element.
    pub fn seed_demo(&self, large_attachment_size: u64) -> Vec<SeededInstance> {
        self.add_data_type(
            &format!("{}/demo-app", self.shared.config.org),
            DataTypeSpec::binary(DEMO_RECEIPT_DATA_TYPE)
                .for_task(DEMO_FEEDBACK_TASK)
                .with_max_count(1),
        );
        let base = || {
            InstanceSpec::new("demo-app", 0)
                .with_data(DataSpec::xml_form())
                .with_data(DataSpec::pdf())
        };
        vec![
            self.add_instance(InstanceSpec {
                party_id: 50_001_001,
                ..base()
                    .with_data(DataSpec::attachment("vedlegg.pdf", 200 * 1024, 1))
                    .with_data(
                        DataSpec::attachment("bilde.png", 1024 * 1024 + 17, 2).with_content_hash(),
                    )
            }),
            self.add_instance(InstanceSpec {
                party_id: 50_001_002,
                ..base()
                    .with_data(DataSpec::attachment("notat.txt", 4096, 3))
                    .with_data(DataSpec::attachment("slettet.pdf", 64 * 1024, 4).hard_deleted())
            }),
            self.add_instance(InstanceSpec {
                party_id: 50_001_003,
                ..base().with_data(DataSpec::attachment(
                    "stor-fil.bin",
                    large_attachment_size,
                    5,
                ))
            }),
            self.add_instance(InstanceSpec {
                party_id: 50_001_004,
                completed: false,
                data: vec![DataSpec::xml_form()],
                ..InstanceSpec::new("demo-app", 0)
            }),
            self.add_instance(
                InstanceSpec {
                    party_id: 50_001_005,
                    ..base().with_data(DataSpec::attachment("soknad.pdf", 32 * 1024, 6))
                }
                .with_tasks([
                    TaskSpec::data("Task_1"),
                    TaskSpec::feedback(DEMO_FEEDBACK_TASK),
                ])
                .at_task(DEMO_FEEDBACK_TASK),
            ),
        ]
    }

    /// The event `source` for the instance: `{apps_url}{org}/{app}/instances/{partyId}/{guid}`.
    pub fn instance_source(&self, instance: &SeededInstance) -> String {
        events::instance_source(&self.shared, instance)
    }

    /// A full CloudEvent as Altinn Events would push it (id, source, specversion, type, subject,
    /// alternativesubject, time, resource, resourceinstance). Each call makes a new `id`.
    pub fn cloud_event(&self, instance: &SeededInstance, event_type: &str) -> Value {
        events::cloud_event(&self.shared, instance, event_type)
    }

    // ----- inspection -----

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// Sets the app metadata's `maxCount` for `data_type` of app `app_id` (`{org}/{app}`): an
    /// upload at it is refused with 409 "Max Count Exceeded". 0 means unlimited, as in Altinn.
    /// A data type the app does not have yet is added as a binary type for any task.
    pub fn set_data_type_max_count(&self, app_id: &str, data_type: &str, max_count: u32) {
        let spec = self
            .data_types(app_id)
            .into_iter()
            .find(|t| t.id == data_type)
            .unwrap_or_else(|| DataTypeSpec::binary(data_type));
        self.add_data_type(app_id, spec.with_max_count(max_count));
    }

    /// Adds a data type to the metadata of app `app_id` (`{org}/{app}`), or replaces the one
    /// with the same id. Every app starts with `model` (form data, `Task_1`, exactly one),
    /// `ref-data-as-pdf` and `attachment` (`Task_1`); uploads of any other type are refused
    /// with 400 "Data Type Not Found" until declared here.
    pub fn add_data_type(&self, app_id: &str, data_type: DataTypeSpec) {
        platform::declare_data_type(&self.shared, app_id, data_type);
    }

    /// The data types of app `app_id` (the defaults for an app not seen yet).
    pub fn data_types(&self, app_id: &str) -> Vec<DataTypeSpec> {
        self.shared
            .lock()
            .apps
            .get(app_id)
            .cloned()
            .unwrap_or_else(platform::default_data_types)
    }

    /// The `eventType`s of the instance's Storage event log, in time order (what
    /// `GET …/instances/{p}/{g}/events` lists).
    pub fn instance_event_types(&self, party_id: u64, guid: Uuid) -> Vec<String> {
        let inner = self.shared.lock();
        let Some(instance) = inner
            .instances
            .get(&guid)
            .filter(|i| i.party_id == party_id)
        else {
            return Vec::new();
        };
        let mut events: Vec<_> = instance.events.iter().collect();
        events.sort_by_key(|e| e.created);
        events.iter().map(|e| e.event_type.to_owned()).collect()
    }

    /// Forgets the logged requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// The instance's current Storage-dialect JSON.
    pub fn instance_json(&self, party_id: u64, guid: Uuid) -> Option<Value> {
        let inner = self.shared.lock();
        let instance = inner
            .instances
            .get(&guid)
            .filter(|i| i.party_id == party_id)?;
        Some(render_instance(
            instance,
            &self.shared.base_url,
            Dialect::Storage,
        ))
    }

    /// Sets the malware scan result data element `data_id` shows from now on (the scanner's
    /// verdict arriving); false when there is no such element.
    pub fn set_scan(&self, guid: Uuid, data_id: Uuid, scan: SeededScan) -> bool {
        let mut inner = self.shared.lock();
        let Some(data) = inner
            .instances
            .get_mut(&guid)
            .and_then(|i| i.data.iter_mut().find(|d| d.id == data_id))
        else {
            return false;
        };
        data.scan = scan::ScanState::new(scan);
        true
    }

    /// `(stakeholderId, confirmedOn)` of each of the instance's `completeConfirmations`.
    pub fn complete_confirmations(&self, party_id: u64, guid: Uuid) -> Vec<(String, String)> {
        let inner = self.shared.lock();
        inner
            .instances
            .get(&guid)
            .filter(|i| i.party_id == party_id)
            .map(|i| {
                i.complete_confirmations
                    .iter()
                    .map(|c| (c.stakeholder_id.clone(), dialect::timestamp(c.confirmed_on)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The exact bytes of a data element, in memory: for small elements (use
    /// [`SeededData`]'s digests for large ones).
    pub fn data_bytes(&self, guid: Uuid, data_id: Uuid) -> Option<Vec<u8>> {
        let content = {
            let inner = self.shared.lock();
            inner
                .instances
                .get(&guid)?
                .find_data(data_id)?
                .content
                .clone()
        };
        Some(content.to_vec())
    }

    /// Makes every Altinn token issued so far invalid: their next use answers 401.
    pub fn revoke_tokens(&self) {
        let mut inner = self.shared.lock();
        let issued: Vec<String> = inner.issued_altinn_jtis.drain().collect();
        inner.revoked_altinn_jtis.extend(issued);
    }

    // ----- faults -----

    /// Adds a fault rule. Rules are tried in the order they were added; the first that fires
    /// decides the request's fate.
    pub fn inject(&self, rule: FaultRule) {
        self.shared.lock().faults.push(rule);
    }

    /// The fault rules with a count that have not fired that often yet (so a test can tell
    /// that every fault it armed was met).
    pub fn unfired_faults(&self) -> Vec<FaultRule> {
        self.shared
            .lock()
            .faults
            .iter()
            .filter(|rule| rule.times.is_some_and(|n| n > 0))
            .cloned()
            .collect()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    // ----- events -----

    /// Publishes an event for the instance to every matching validated subscription; each push
    /// runs in the background with Altinn's retry schedule (delays × retry_time_scale).
    /// Returns the event id.
    pub fn publish(&self, instance: &SeededInstance, event_type: &str) -> String {
        let event = self.cloud_event(instance, event_type);
        self.publish_event(event, &instance.org)
    }

    /// Publishes a ready-made CloudEvent of an app owned by `app_owner` (for events a test has
    /// tweaked). Returns its `id`.
    pub fn publish_event(&self, event: Value, app_owner: &str) -> String {
        let id = event
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let targets = events::publish_event(&self.shared, event, app_owner);
        tracing::debug!(event_id = %id, targets, "event published");
        id
    }

    /// All subscriptions as the subscription API returns them.
    pub fn subscriptions(&self) -> Vec<Value> {
        self.shared
            .lock()
            .subscriptions
            .values()
            .map(events::Subscription::to_json)
            .collect()
    }

    /// Every push attempt so far (validation events included, flagged), in order.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared.lock().deliveries.clone()
    }

    /// Events (and validation events) that failed all their attempts.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.shared.lock().dead_letters.clone()
    }

    /// Stops the server, its connections and all background pushes.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.shared.abort_background();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.shared.abort_background();
    }
}
