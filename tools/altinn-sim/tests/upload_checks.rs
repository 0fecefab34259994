//! The current App API upload (`POST …/data/type/{dataType}`, 200 `DataPostResponse`) and the
//! checks both upload routes run in app-lib's order: unknown instance, unknown data type, the
//! generated PDF type, an archived instance, `maxCount`, no current task, then the binary
//! restrictions (`Content-Type`, `Content-Disposition`, allowed content types) and the body.

mod common;

use altinn_sim::{DataSpec, DataTypeSpec, InstanceSpec, SeededInstance, Simulator, TaskSpec};
use common::*;
use serde_json::Value;
use uuid::Uuid;

/// `POST …/data/type/{data_type}` with the given headers; `(status, body)`.
async fn post_type(
    sim: &Simulator,
    i: &SeededInstance,
    token: &str,
    data_type: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> (u16, Value) {
    let mut request = http()
        .post(app_url(sim, i, &format!("/data/type/{data_type}")))
        .bearer_auth(token)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, _, body) = send(request).await;
    (status, body)
}

const PDF: [(&str, &str); 2] = [
    ("content-type", "application/pdf"),
    (
        "content-disposition",
        "attachment; filename=\"kvittering.pdf\"",
    ),
];

fn receipt_type() -> DataTypeSpec {
    DataTypeSpec::binary("archive-receipt")
        .for_task("Task_2")
        .with_max_count(1)
        .with_content_types(&["application/pdf"])
}

fn feedback_app(sim: &Simulator, app: &str) {
    sim.add_data_type(&format!("ttd/{app}"), receipt_type());
}

fn at_feedback(app: &str, party: u64) -> InstanceSpec {
    InstanceSpec::new(app, party)
        .with_data(DataSpec::xml_form())
        .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")])
        .at_task("Task_2")
}

#[tokio::test]
async fn the_current_route_answers_200_with_a_data_post_response() {
    let sim = start().await;
    feedback_app(&sim, "fb-app");
    let instance = sim.add_instance(at_feedback("fb-app", 51_100_001));
    let token = altinn_token(&sim, READ_WRITE).await;

    let (status, body) = post_type(
        &sim,
        &instance,
        &token,
        "archive-receipt",
        &PDF,
        b"%PDF-1.4 receipt",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["newDataElementId"].as_str().expect("newDataElementId");
    Uuid::parse_str(id).expect("a GUID");
    assert_eq!(body["validationIssues"], serde_json::json!([]));
    assert_eq!(body["newDataModels"], serde_json::json!([]));
    // The instance in the App dialect (nulls written), with the new element.
    let element = body["instance"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .expect("the new element in the instance");
    assert_eq!(element["dataType"], "archive-receipt");
    assert_eq!(element["filename"], "kvittering.pdf");
    assert_eq!(element["contentType"], "application/pdf");
    assert!(element["contentHash"].is_null());
    assert_eq!(element["fileScanResult"], "NotApplicable");
    assert_eq!(
        body["instance"]["process"]["currentTask"]["elementId"],
        "Task_2"
    );
    // The service owner's change shows in lastChangedBy (its org number).
    let stored = sim
        .instance_json(instance.party_id, instance.instance_guid)
        .unwrap();
    assert_eq!(stored["lastChangedBy"], sim.config().org_number.as_str());
    assert_eq!(
        sim.data_bytes(instance.instance_guid, Uuid::parse_str(id).unwrap())
            .as_deref(),
        Some(&b"%PDF-1.4 receipt"[..])
    );

    // maxCount 1: the second receipt is a 409 ProblemDetails.
    let (status, problem) =
        post_type(&sim, &instance, &token, "archive-receipt", &PDF, b"%PDF 2").await;
    assert_eq!(
        (status, &problem["title"]),
        (409, &Value::from("Max Count Exceeded"))
    );
}

#[tokio::test]
async fn checks_run_in_app_libs_order() {
    let sim = start().await;
    feedback_app(&sim, "order-app");
    let token = altinn_token(&sim, READ_WRITE).await;
    let archived = sim.add_instance(
        InstanceSpec::new("order-app", 51_100_002)
            .with_data(DataSpec::xml_form())
            .with_tasks([TaskSpec::data("Task_1"), TaskSpec::feedback("Task_2")]),
    );
    let unknown = SeededInstance {
        instance_guid: Uuid::new_v4(),
        ..archived.clone()
    };
    let title = |body: &Value| body["title"].as_str().unwrap_or_default().to_owned();

    // 404 first, even for an unknown data type.
    let (status, body) = post_type(&sim, &unknown, &token, "nope", &PDF, b"x").await;
    assert_eq!(status, 404, "{body}");
    // Then the data type: unknown to the app metadata is 400 "Data Type Not Found", even on
    // an archived instance.
    let (status, body) = post_type(&sim, &archived, &token, "nope", &PDF, b"x").await;
    assert_eq!(
        (status, title(&body)),
        (400, "Data Type Not Found".into()),
        "{body}"
    );
    // The app's generated PDF may never be uploaded.
    let (status, body) = post_type(&sim, &archived, &token, "ref-data-as-pdf", &PDF, b"x").await;
    assert_eq!(status, 403, "{body}");
    // An archived instance refuses every upload, whatever the headers.
    let (status, body) = post_type(&sim, &archived, &token, "archive-receipt", &[], b"").await;
    assert_eq!(
        (status, title(&body)),
        (409, "Instance Not Active".into()),
        "{body}"
    );
    assert_eq!(
        body["detail"],
        format!(
            "Cannot update data element of archived or deleted instance {}",
            archived.instance_id()
        )
    );
    assert_eq!(
        body["type"].as_str().map(|t| t.starts_with("https://")),
        Some(true)
    );

    // Instance Not Active wins over Max Count Exceeded.
    sim.set_data_type_max_count("ttd/order-app", "model", 1);
    let (status, body) = post_type(
        &sim,
        &archived,
        &token,
        "model",
        &[("content-type", "application/xml")],
        b"<a/>",
    )
    .await;
    assert_eq!((status, title(&body)), (409, "Instance Not Active".into()));

    // A process that never started has no current task.
    let not_started = sim.add_instance(InstanceSpec::new("order-app", 51_100_003).not_started());
    let (status, body) =
        post_type(&sim, &not_started, &token, "archive-receipt", &PDF, b"%PDF").await;
    assert_eq!(
        (status, title(&body)),
        (409, "No current task".into()),
        "{body}"
    );

    // The legacy route runs the same checks.
    let (status, _, body) = send(
        http()
            .post(app_url(&sim, &archived, "/data?dataType=archive-receipt"))
            .bearer_auth(&token)
            .headers(header_map(&PDF))
            .body("%PDF"),
    )
    .await;
    assert_eq!((status, title(&body)), (409, "Instance Not Active".into()));
    let stored = sim
        .instance_json(archived.party_id, archived.instance_guid)
        .unwrap();
    assert_eq!(
        stored["data"].as_array().unwrap().len(),
        1,
        "nothing stored"
    );
}

fn header_map(headers: &[(&str, &str)]) -> reqwest::header::HeaderMap {
    headers
        .iter()
        .map(|(name, value)| {
            (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn binary_uploads_need_content_type_a_parsable_filename_and_bytes() {
    let sim = start().await;
    feedback_app(&sim, "bin-app");
    sim.add_data_type(
        "ttd/bin-app",
        DataTypeSpec::binary("note").for_task("Task_2"),
    );
    let instance = sim.add_instance(at_feedback("bin-app", 51_100_004));
    let token = altinn_token(&sim, WRITE).await;
    let issue_code = |body: &Value| body["uploadValidationIssues"][0]["code"].clone();

    // No Content-Type at all.
    let (status, body) = post_type(
        &sim,
        &instance,
        &token,
        "note",
        &[("content-disposition", "attachment; filename=\"a.txt\"")],
        b"x",
    )
    .await;
    assert_eq!(
        (status, body["title"].as_str()),
        (400, Some("Missing content type")),
        "{body}"
    );
    // No Content-Disposition.
    let (status, body) = post_type(
        &sim,
        &instance,
        &token,
        "note",
        &[("content-type", "text/plain")],
        b"x",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["title"], "File validation failed");
    assert_eq!(issue_code(&body), "ContentTypeNotAllowed");
    // An unquoted filename with a space does not parse.
    let unquoted = [
        ("content-type", "text/plain"),
        ("content-disposition", "attachment; filename=min fil.txt"),
    ];
    let (status, body) = post_type(&sim, &instance, &token, "note", &unquoted, b"x").await;
    assert_eq!(
        (status, issue_code(&body)),
        (400, Value::from("MissingFileName")),
        "{body}"
    );
    // A filename without an extension.
    let no_extension = [
        ("content-type", "text/plain"),
        ("content-disposition", "attachment; filename=\"README\""),
    ];
    let (status, body) = post_type(&sim, &instance, &token, "note", &no_extension, b"x").await;
    assert_eq!(
        (status, issue_code(&body)),
        (400, Value::from("InvalidFileNameFormat"))
    );
    // allowedContentTypes: the Content-Type must match the extension and be allowed.
    let mismatch = [
        ("content-type", "application/pdf"),
        (
            "content-disposition",
            "attachment; filename=\"kvittering.txt\"",
        ),
    ];
    let (status, body) =
        post_type(&sim, &instance, &token, "archive-receipt", &mismatch, b"x").await;
    assert_eq!(
        (status, issue_code(&body)),
        (400, Value::from("InvalidFileNameFormat"))
    );
    let not_allowed = [
        ("content-type", "text/plain"),
        (
            "content-disposition",
            "attachment; filename=\"kvittering.txt\"",
        ),
    ];
    let (status, body) = post_type(
        &sim,
        &instance,
        &token,
        "archive-receipt",
        &not_allowed,
        b"x",
    )
    .await;
    assert_eq!(
        (status, issue_code(&body)),
        (400, Value::from("ContentTypeNotAllowed"))
    );
    // An empty body.
    let (status, body) = post_type(&sim, &instance, &token, "archive-receipt", &PDF, b"").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        sim.instance_json(instance.party_id, instance.instance_guid)
            .unwrap()["data"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "every refusal left the instance as it was"
    );

    // application/octet-stream passes the extension check but must itself be allowed.
    let octet = [
        ("content-type", "application/octet-stream"),
        (
            "content-disposition",
            "attachment; filename=\"kvittering.pdf\"",
        ),
    ];
    let (status, body) =
        post_type(&sim, &instance, &token, "archive-receipt", &octet, b"%PDF").await;
    assert_eq!(
        (status, issue_code(&body)),
        (400, Value::from("ContentTypeNotAllowed"))
    );

    // A quoted filename with spaces and filename* work.
    let quoted = [
        ("content-type", "application/pdf"),
        (
            "content-disposition",
            "attachment; filename=\"min kvittering.pdf\"; filename*=UTF-8''min%20kvittering%C3%A6.pdf",
        ),
    ];
    let (status, body) =
        post_type(&sim, &instance, &token, "archive-receipt", &quoted, b"%PDF").await;
    assert_eq!(status, 200, "{body}");
    let id = body["newDataElementId"].as_str().unwrap();
    let element = body["instance"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(element["filename"], "min kvitteringæ.pdf");
    assert_eq!(element["contentType"], "application/pdf");
}

#[tokio::test]
async fn form_data_needs_no_filename_and_file_scan_starts_pending() {
    let sim = start().await;
    sim.add_data_type(
        "ttd/form-app",
        DataTypeSpec::binary("scanned")
            .for_task("Task_1")
            .with_file_scan(),
    );
    let instance = sim.add_instance(InstanceSpec::new("form-app", 51_100_005).completed(false));
    let token = altinn_token(&sim, WRITE).await;
    let (status, body) = post_type(
        &sim,
        &instance,
        &token,
        "model",
        &[("content-type", "application/xml")],
        b"<Skjema/>",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_type(
        &sim,
        &instance,
        &token,
        "scanned",
        &[
            ("content-type", "image/png"),
            ("content-disposition", "attachment; filename=\"bilde.png\""),
        ],
        b"\x89PNG",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let scanned = body["instance"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataType"] == "scanned")
        .unwrap()
        .clone();
    assert_eq!(scanned["fileScanResult"], "Pending");
}
