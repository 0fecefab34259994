//! The JSON the simulator answers validates against the response schema Altinn's documents give
//! for that operation and status: types, formats, enum values, nullability, and every property
//! name (with its casing) declared. Each test names the document's path template, so a failure
//! says which operation disagrees.

mod common;

use altinn_sim::{SeededInstance, Simulator};
use common::{
    RECEIPT_DATA_TYPE, RECEIPT_DISPOSITION, contracts, feedback_instance, rich_instance, send,
    send_with_headers, start_sim,
};
use contract_tests::document::STORAGE_PREFIX;
use contract_tests::schema::violations;
use contract_tests::{Api, Contracts};
use serde_json::{Value, json};

const INSTANCE: &str = "/instances/{instanceOwnerPartyId}/{instanceGuid}";
const APP_INSTANCE: &str = "/{org}/{app}/instances/{instanceOwnerPartyId}/{instanceGuid}";

/// One request to check: the operation (API, method, the document's path template), the body,
/// the status the simulator must answer and the documented status whose schema applies (the
/// same unless the code and the document disagree).
struct Check {
    api: Api,
    method: &'static str,
    template: String,
    query: &'static str,
    body: Option<Value>,
    headers: Vec<(&'static str, &'static str)>,
    status: u16,
    documented_status: u16,
}

impl Check {
    fn new(api: Api, method: &'static str, template: impl Into<String>) -> Check {
        Check {
            api,
            method,
            template: template.into(),
            query: "",
            body: None,
            headers: Vec::new(),
            status: 200,
            documented_status: 200,
        }
    }

    fn body(mut self, body: Value) -> Check {
        self.body = Some(body);
        self
    }

    fn query(mut self, query: &'static str) -> Check {
        self.query = query;
        self
    }

    fn header(mut self, header: (&'static str, &'static str)) -> Check {
        self.headers.push(header);
        self
    }

    fn answers(mut self, status: u16, documented_status: u16) -> Check {
        self.status = status;
        self.documented_status = documented_status;
        self
    }

    /// Sends the request for `instance`, expects the status and validates the body against the
    /// document's schema. Returns the body.
    async fn run(self, sim: &Simulator, instance: &SeededInstance) -> Value {
        let Check {
            api,
            method,
            template,
            query,
            body,
            headers,
            status,
            documented_status,
        } = self;
        let contracts: &Contracts = contracts();
        let document = contracts.document(api);
        let concrete = template
            .replace("{org}", &instance.org)
            .replace("{app}", &instance.app)
            .replace("{instanceOwnerPartyId}", &instance.party_id.to_string())
            .replace("{instanceGuid}", &instance.instance_guid.to_string())
            .replace("{dataType}", RECEIPT_DATA_TYPE);
        let concrete = match api {
            Api::Storage => format!("{STORAGE_PREFIX}{concrete}"),
            Api::App => concrete,
        };
        let concrete = match query {
            "" => concrete,
            query => format!("{concrete}?{query}"),
        };
        let answer = send_with_headers(sim, method, &concrete, body.as_ref(), &headers).await;
        assert_eq!(
            answer.status, status,
            "{method} {concrete}: {}",
            answer.body
        );
        let json = answer.json();
        let schema = document
            .response_schema(method, &template, documented_status)
            .unwrap_or_else(|error| panic!("{error}"));
        let problems = violations(&schema, &json).expect("the schema builds");
        assert!(
            problems.is_empty(),
            "{method} {template} ({}): the simulator's JSON disagrees with the document:\n{}\n{json:#}",
            document.name(),
            problems.join("\n")
        );
        json
    }
}

/// Where a Storage answer has a `null`. Storage serialises with Newtonsoft, and Storage's
/// models (Instance, InstanceOwner, InstanceStatus, ProcessState, ProcessElementInfo,
/// ResourceLinks, CompleteConfirmation, DataElement) ignore null values, so none is written;
/// only inside DeleteStatus, Substatus, Reference and KeyValueEntry may one appear
/// (`[JsonObject(ItemNullValueHandling = Ignore)]` in altinn-storage's `Storage.Interface`).
fn storage_nulls(json: &Value) -> Vec<String> {
    fn walk(value: &Value, path: &str, found: &mut Vec<String>) {
        match value {
            Value::Null => found.push(path.to_owned()),
            Value::Object(object) => {
                for (name, value) in object {
                    let exempt = [
                        "deleteStatus",
                        "substatus",
                        "references",
                        "metadata",
                        "userDefinedMetadata",
                    ];
                    if !exempt.contains(&name.as_str()) || value.is_null() {
                        walk(value, &format!("{path}/{name}"), found);
                    }
                }
            }
            Value::Array(values) => {
                for (index, value) in values.iter().enumerate() {
                    walk(value, &format!("{path}/{index}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(json, "", &mut found);
    found
}

#[tokio::test]
async fn storage_instance_in_a_task_and_after_the_end() {
    let sim = start_sim().await;
    for completed in [false, true] {
        let instance = rich_instance(&sim, completed);
        let json = Check::new(Api::Storage, "GET", INSTANCE)
            .run(&sim, &instance)
            .await;
        assert_eq!(json["process"]["currentTask"].is_object(), !completed);
        assert_eq!(storage_nulls(&json), Vec::<String>::new(), "{json}");
        // The document declares `contentHash`, but no Storage code writes it (upload stopped
        // computing it in 2023): the code wins, so it is absent unless a test seeds one.
        let form = &json["data"][0];
        assert_eq!(form["dataType"], "model");
        assert!(form.get("contentHash").is_none(), "{form}");
    }
}

#[tokio::test]
async fn app_instance_in_a_task_and_after_the_end() {
    let sim = start_sim().await;
    for completed in [false, true] {
        let instance = rich_instance(&sim, completed);
        Check::new(Api::App, "GET", APP_INSTANCE)
            .run(&sim, &instance)
            .await;
    }
}

#[tokio::test]
async fn storage_query_page() {
    let sim = start_sim().await;
    let instance = rich_instance(&sim, true);
    let template = format!(
        "/instances?org={}&appId={}&process.isComplete=true&size=10",
        instance.org,
        instance.app_id()
    );
    // The query string is not part of the template; check with the bare path's schema.
    let answer = send(&sim, "GET", &format!("{STORAGE_PREFIX}{template}"), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let schema = contracts()
        .storage
        .response_schema("GET", "/instances", 200)
        .unwrap();
    let problems = violations(&schema, &answer.json()).unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn complete_on_storage_and_app() {
    let sim = start_sim().await;
    let instance = rich_instance(&sim, true);
    let path = format!("{INSTANCE}/complete");
    let json = Check::new(Api::Storage, "POST", &path)
        .run(&sim, &instance)
        .await;
    assert_eq!(storage_nulls(&json), Vec::<String>::new(), "{json}");
    let path = format!("{APP_INSTANCE}/complete");
    // Again through the app: idempotent, and answered as a plain Instance.
    Check::new(Api::App, "POST", &path)
        .run(&sim, &instance)
        .await;
}

#[tokio::test]
async fn storage_data_element_list() {
    let sim = start_sim().await;
    let instance = rich_instance(&sim, true);
    let path = format!("{INSTANCE}/dataelements");
    let json = Check::new(Api::Storage, "GET", &path)
        .run(&sim, &instance)
        .await;
    assert!(!json["dataElements"].as_array().unwrap().is_empty());
    assert_eq!(storage_nulls(&json), Vec::<String>::new(), "{json}");
}

#[tokio::test]
async fn storage_instance_events() {
    let sim = start_sim().await;
    let instance = rich_instance(&sim, true);
    let path = format!("{INSTANCE}/events");
    let json = Check::new(Api::Storage, "GET", &path)
        .run(&sim, &instance)
        .await;
    assert!(!json["instanceEvents"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn process_history_on_storage_and_app() {
    let sim = start_sim().await;
    let instance = rich_instance(&sim, true);
    let path = format!("{INSTANCE}/process/history");
    let json = Check::new(Api::Storage, "GET", &path)
        .run(&sim, &instance)
        .await;
    assert!(!json["processHistory"].as_array().unwrap().is_empty());
    let path = format!("{APP_INSTANCE}/process/history");
    Check::new(Api::App, "GET", &path)
        .run(&sim, &instance)
        .await;
}

#[tokio::test]
async fn application_metadata() {
    let sim = start_sim().await;
    let instance = rich_instance(&sim, true);
    let json = Check::new(Api::Storage, "GET", "/applications/{org}/{app}")
        .run(&sim, &instance)
        .await;
    assert_eq!(json["id"], instance.app_id());
    assert!(!json["dataTypes"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn app_process_next() {
    let sim = start_sim().await;
    let instance = feedback_instance(&sim);
    let path = format!("{APP_INSTANCE}/process/next");
    // From the feedback task to the end event: the answer has ended the process.
    let json = Check::new(Api::App, "PUT", &path)
        .run(&sim, &instance)
        .await;
    assert!(json["ended"].is_string(), "{json}");
    assert!(json["currentTask"].is_null(), "{json}");
}

#[tokio::test]
async fn substatus_on_app_and_storage() {
    let sim = start_sim().await;
    let instance = rich_instance(&sim, true);
    let substatus = json!({"label": "archived", "description": "Received by the agency"});
    let path = format!("{APP_INSTANCE}/substatus");
    let json = Check::new(Api::App, "PUT", &path)
        .body(substatus.clone())
        .run(&sim, &instance)
        .await;
    assert_eq!(json["status"]["substatus"], substatus);
    let path = format!("{INSTANCE}/substatus");
    Check::new(Api::Storage, "PUT", &path)
        .body(substatus)
        .run(&sim, &instance)
        .await;
}

/// The receipt upload on the legacy route answers a DataElement, as documented.
#[tokio::test]
async fn app_data_upload_legacy_route() {
    let sim = start_sim().await;
    let instance = feedback_instance(&sim);
    let path = format!("{APP_INSTANCE}/data");
    let json = Check::new(Api::App, "POST", &path)
        .query("dataType=archive-receipt")
        .body(json!({"receipt": true}))
        .header(RECEIPT_DISPOSITION)
        .answers(201, 201)
        .run(&sim, &instance)
        .await;
    assert_eq!(json["dataType"], "archive-receipt");
}

/// The current upload route. app-lib answers 200 with a `DataPostResponse`; the document says
/// 201 (its generator reads the attribute, the code returns `Ok`), so the status follows the
/// code and the body is checked against the document's 201 schema.
#[tokio::test]
async fn app_data_upload_current_route() {
    let sim = start_sim().await;
    let instance = feedback_instance(&sim);
    let path = format!("{APP_INSTANCE}/data/type/{{dataType}}");
    let json = Check::new(Api::App, "POST", &path)
        .body(json!({"receipt": true}))
        .header(RECEIPT_DISPOSITION)
        .answers(200, 201)
        .run(&sim, &instance)
        .await;
    assert!(json["newDataElementId"].is_string());
}

/// app-lib's refusals once the process has ended are ProblemDetails, as documented: an upload
/// answers 409 "Instance Not Active", and `process/next` 409 "Process is ended.".
#[tokio::test]
async fn app_refusals_after_the_end() {
    let sim = start_sim().await;
    let instance = feedback_instance(&sim);
    let next = format!("{APP_INSTANCE}/process/next");
    Check::new(Api::App, "PUT", &next)
        .run(&sim, &instance)
        .await;
    let upload = format!("{APP_INSTANCE}/data/type/{{dataType}}");
    let json = Check::new(Api::App, "POST", &upload)
        .body(json!({"receipt": true}))
        .header(RECEIPT_DISPOSITION)
        .answers(409, 409)
        .run(&sim, &instance)
        .await;
    assert_eq!(json["title"], "Instance Not Active", "{json}");
    let json = Check::new(Api::App, "PUT", &next)
        .answers(409, 409)
        .run(&sim, &instance)
        .await;
    assert_eq!(json["detail"], "Process is ended.", "{json}");
}
