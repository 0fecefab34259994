//! Application metadata: each app's data types ([`DataTypeSpec`]), which the App API's upload
//! and `process/next` validation read, and Storage's anonymous
//! `GET /storage/api/v1/applications/{org}/{app}` (altinn-storage `ApplicationsController.GetOne`,
//! <https://github.com/Altinn/altinn-storage>).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::dialect::timestamp;
use crate::reply::{json_response, text_response};
use crate::state::Shared;

/// One data type of an app's metadata (`Application.dataTypes[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTypeSpec {
    /// The id elements refer to as `dataType`.
    pub id: String,
    /// The task in which it may be changed (`taskId`); its `minCount` is checked when that task
    /// is left.
    pub task_id: Option<String>,
    /// `allowedContentTypes`; empty = any (written as null).
    pub allowed_content_types: Vec<String>,
    /// `maxCount`; 0 = unbounded.
    pub max_count: u32,
    /// `minCount`; 0 = optional.
    pub min_count: u32,
    /// `appLogic.classRef`: set for form data (the app's model), `None` for binary data.
    pub class_ref: Option<String>,
    /// `enableFileScan`: new elements start with `fileScanResult: Pending`.
    pub enable_file_scan: bool,
    /// `maxSize` in MB; `None` = no limit.
    pub max_size_mb: Option<u32>,
}

impl DataTypeSpec {
    /// A binary data type (attachments, receipts): any content type, any number, any task.
    pub fn binary(id: &str) -> Self {
        DataTypeSpec {
            id: id.to_owned(),
            task_id: None,
            allowed_content_types: Vec::new(),
            max_count: 0,
            min_count: 0,
            class_ref: None,
            enable_file_scan: false,
            max_size_mb: None,
        }
    }

    /// A form data type backed by the app model `class_ref`.
    pub fn form(id: &str, class_ref: &str) -> Self {
        DataTypeSpec {
            class_ref: Some(class_ref.to_owned()),
            ..DataTypeSpec::binary(id)
        }
    }

    /// Sets `taskId`.
    pub fn for_task(mut self, task_id: &str) -> Self {
        self.task_id = Some(task_id.to_owned());
        self
    }

    /// Sets `maxCount` (0 = unbounded).
    pub fn with_max_count(mut self, max_count: u32) -> Self {
        self.max_count = max_count;
        self
    }

    /// Sets `minCount` (0 = optional).
    pub fn with_min_count(mut self, min_count: u32) -> Self {
        self.min_count = min_count;
        self
    }

    /// Sets `allowedContentTypes`.
    pub fn with_content_types(mut self, content_types: &[&str]) -> Self {
        self.allowed_content_types = content_types.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Sets `enableFileScan`.
    pub fn with_file_scan(mut self) -> Self {
        self.enable_file_scan = true;
        self
    }

    /// Form data is handled by app logic; everything else is a binary upload.
    pub(crate) fn is_form_data(&self) -> bool {
        self.class_ref.is_some()
    }

    fn to_json(&self) -> Value {
        let content_types = if self.allowed_content_types.is_empty() {
            Value::Null
        } else {
            json!(self.allowed_content_types)
        };
        let app_logic = self.class_ref.as_ref().map_or(Value::Null, |class_ref| {
            json!({
                "autoCreate": true,
                "classRef": class_ref,
                "schemaRef": Value::Null,
                "allowAnonymousOnStateless": false,
                "autoDeleteOnProcessEnd": false,
                "disallowUserCreate": false,
                "disallowUserDelete": false,
                "shadowFields": Value::Null,
            })
        });
        let mut data_type = json!({
            "id": self.id,
            "description": Value::Null,
            "allowedContentTypes": content_types,
            "allowedContributers": Value::Null,
            "allowedContributors": Value::Null,
            "actionRequiredToRead": Value::Null,
            "actionRequiredToWrite": Value::Null,
            "appLogic": app_logic,
            "taskId": self.task_id,
            "maxSize": self.max_size_mb,
            "maxCount": self.max_count,
            "minCount": self.min_count,
            "grouping": Value::Null,
            "enablePdfCreation": self.id == REF_DATA_AS_PDF,
            "enableFileScan": self.enable_file_scan,
            "validationErrorOnPendingFileScan": false,
            "enabledFileAnalysers": [],
            "enabledFileValidators": [],
            "allowedKeysForUserDefinedMetadata": Value::Null,
        });
        strip_nulls(&mut data_type);
        data_type
    }
}

/// Removes null members, recursively: the Application JSON is written without them, which
/// Altinn's schema (every such member optional) accepts whichever way Storage writes them.
fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

/// The data type of the PDF the app generates at the end; nobody may upload it.
pub(crate) const REF_DATA_AS_PDF: &str = "ref-data-as-pdf";

/// The data types of every app until a test declares more: the form (`model`, one, in
/// `Task_1`), the generated PDF and attachments (any number, `Task_1`). These are the types the
/// seeding helpers ([`crate::DataSpec`]) use.
pub(crate) fn default_data_types() -> Vec<DataTypeSpec> {
    vec![
        DataTypeSpec::form("model", "Altinn.App.Models.Skjema")
            .for_task("Task_1")
            .with_content_types(&["application/xml"])
            .with_max_count(1)
            .with_min_count(1),
        DataTypeSpec::binary(REF_DATA_AS_PDF).with_content_types(&["application/pdf"]),
        DataTypeSpec::binary("attachment").for_task("Task_1"),
    ]
}

/// Adds (or replaces, by id) a data type of `app_id`, creating the app with the default types.
pub(crate) fn declare_data_type(shared: &Shared, app_id: &str, data_type: DataTypeSpec) {
    let mut inner = shared.lock();
    let types = inner
        .apps
        .entry(app_id.to_owned())
        .or_insert_with(default_data_types);
    match types.iter_mut().find(|t| t.id == data_type.id) {
        Some(existing) => *existing = data_type,
        None => types.push(data_type),
    }
}

/// The app's data types; an app the simulator has not heard of has the defaults.
pub(crate) fn data_types_of(shared: &Shared, app_id: &str) -> Vec<DataTypeSpec> {
    shared
        .lock()
        .apps
        .get(app_id)
        .cloned()
        .unwrap_or_else(default_data_types)
}

/// The `Application` JSON (Storage's Newtonsoft dialect, nulls omitted).
pub(crate) fn application_json(org: &str, app: &str, data_types: &[DataTypeSpec]) -> Value {
    let since = timestamp(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_000));
    json!({
        "id": format!("{org}/{app}"),
        "versionId": "8.0.0",
        "org": org,
        "title": {"nb": format!("{app} (altinn-sim)")},
        "validFrom": since,
        "processId": format!("{org}-{app}-process"),
        "dataTypes": data_types.iter().map(DataTypeSpec::to_json).collect::<Vec<_>>(),
        "partyTypesAllowed": {
            "bankruptcyEstate": false,
            "organisation": false,
            "person": true,
            "subUnit": false,
        },
        "autoDeleteOnProcessEnd": false,
        "disallowUserInstantiation": false,
        "created": since,
        "createdBy": "altinn-sim",
        "lastChanged": since,
        "lastChangedBy": "altinn-sim",
    })
}

/// `GET /storage/api/v1/applications/{org}/{app}`: anonymous, like Storage's. Known apps are
/// those seeded with an instance or given a data type.
pub(crate) async fn storage_get_application(
    State(shared): State<Arc<Shared>>,
    Path((org, app)): Path<(String, String)>,
) -> Response {
    let app_id = format!("{org}/{app}");
    let data_types = shared.lock().apps.get(&app_id).cloned();
    match data_types {
        Some(types) => json_response(StatusCode::OK, &application_json(&org, &app, &types)),
        None => text_response(
            StatusCode::NOT_FOUND,
            format!("Could not find an application with appId={app_id}"),
        ),
    }
}
