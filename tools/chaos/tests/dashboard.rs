//! The CloudWatch dashboard in template.yaml shows what the functions write: every
//! `AltinnArchive` metric a widget names is one its function emits, under dimension names and
//! values that function's code writes, so renaming a metric, a dimension or an outcome label
//! fails here instead of leaving a widget silently empty.
//!
//! The check is by name: each dimension name and fixed value a widget uses must be written by
//! that function's code. An EMF metric is stored under the exact dimension set its line
//! declares, and which set goes with which outcome is the code's logic, which this does not
//! re-derive (the archiver's and webhook's own metric tests pin those sets).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Metrics a widget shows before any code writes them. Each stays empty until then; once the
/// code emits one, it leaves this list (the test fails until it does, so the list stays true).
const NOT_YET_EMITTED: &[&str] = &[];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `DashboardBody: !Sub |` block, with `${…}` replaced by placeholders and `${!…}` (a
/// literal `${…}` for CloudWatch's dynamic labels) unescaped, parsed as JSON.
fn dashboard_body() -> Value {
    let template =
        std::fs::read_to_string(workspace().join("template.yaml")).expect("template.yaml");
    let mut lines = template
        .lines()
        .skip_while(|line| line.trim() != "DashboardBody: !Sub |");
    let key = lines
        .next()
        .expect("template.yaml has a DashboardBody: !Sub | block");
    let key_indent = key.len() - key.trim_start().len();
    let block: Vec<&str> = lines
        .take_while(|line| {
            line.trim().is_empty() || line.len() - line.trim_start().len() > key_indent
        })
        .collect();
    let text = substitute(&block.join("\n"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("DashboardBody is not JSON: {e}"))
}

/// What `!Sub` leaves: `${Name}` becomes a placeholder, `${!Name}` becomes `${Name}`.
fn substitute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}').expect("an unclosed ${ in DashboardBody");
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str(&format!("SUBSTITUTED-{}", name.replace([':', '.'], "-"))),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// One `AltinnArchive` metric a widget reads: its name and its dimensions (names, and values
/// where the widget fixes them).
#[derive(Debug)]
struct WidgetMetric {
    name: String,
    dimensions: Vec<(String, Option<String>)>,
    stat: Option<String>,
}

/// Every `AltinnArchive` metric of every widget: plain metric arrays, and SEARCH expressions
/// (their `{AltinnArchive,…}` schema and their `Name="value"` terms).
fn widget_metrics(body: &Value) -> Vec<WidgetMetric> {
    let mut found = Vec::new();
    let widgets = body["widgets"].as_array().expect("widgets");
    for widget in widgets {
        let Some(rows) = widget["properties"]["metrics"].as_array() else {
            continue;
        };
        for row in rows {
            let row = row.as_array().expect("a metrics row is an array");
            match row.first() {
                Some(Value::String(namespace)) if namespace == "AltinnArchive" => {
                    found.push(metric_row(row))
                }
                Some(Value::Object(options)) => {
                    if let Some(expression) = options.get("expression").and_then(Value::as_str) {
                        found.extend(search_metric(expression));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// `["AltinnArchive", name, dim, value, …, {options}]`.
fn metric_row(row: &[Value]) -> WidgetMetric {
    let strings: Vec<&str> = row.iter().filter_map(Value::as_str).collect();
    assert!(
        strings.len() >= 2 && strings.len().is_multiple_of(2),
        "a metric row is namespace, name, then dimension pairs: {row:?}"
    );
    WidgetMetric {
        name: strings[1].to_owned(),
        dimensions: strings[2..]
            .chunks(2)
            .map(|pair| (pair[0].to_owned(), Some(pair[1].to_owned())))
            .collect(),
        stat: row
            .last()
            .and_then(|options| options.get("stat"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

/// The metric a `SEARCH('{AltinnArchive,…} MetricName="…" Dim="value"', …)` reads, if it
/// searches `AltinnArchive`.
fn search_metric(expression: &str) -> Option<WidgetMetric> {
    let start = expression.find("SEARCH('")? + "SEARCH('".len();
    let query = &expression[start..start + expression[start..].find('\'')?];
    if !query.contains("AltinnArchive") {
        return None;
    }
    let mut dimensions: Vec<(String, Option<String>)> = Vec::new();
    if let Some(schema) = query
        .strip_prefix('{')
        .and_then(|s| s.split_once('}'))
        .map(|(schema, _)| schema)
    {
        let mut parts = schema.split(',').map(str::trim);
        assert_eq!(parts.next(), Some("AltinnArchive"), "{expression}");
        dimensions.extend(parts.map(|name| (name.to_owned(), None)));
    }
    let mut name = None;
    for term in query.split_whitespace() {
        let Some((key, value)) = term.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('"').to_owned();
        if key == "MetricName" {
            name = Some(value);
        } else if let Some(slot) = dimensions.iter_mut().find(|(d, _)| d == key) {
            slot.1 = Some(value);
        } else {
            dimensions.push((key.to_owned(), Some(value)));
        }
    }
    Some(WidgetMetric {
        name: name.unwrap_or_else(|| panic!("a SEARCH without MetricName: {expression}")),
        dimensions,
        stat: None,
    })
}

/// The text of every `.rs` file under `dir`.
fn sources(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            text.push_str(&sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).expect("a source file"));
        }
    }
    text
}

/// The names passed as string literals to `Metric::count`, `Metric::bytes` and
/// `Metric::millis` (rustfmt may break the call after its `(`). A name passed through a variable
/// (the archiver's attachment counts) is not seen: a widget reading one fails here until this
/// scan learns that shape.
fn emitted_metric_names(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for constructor in ["Metric::count(", "Metric::bytes(", "Metric::millis("] {
        for (at, _) in source.match_indices(constructor) {
            let rest = source[at + constructor.len()..].trim_start();
            if let Some(literal) = rest.strip_prefix('"') {
                names.insert(literal[..literal.find('"').expect("a closed string")].to_owned());
            }
        }
    }
    names
}

/// The function whose code writes metrics with `Function = function`.
fn function_sources(function: &str) -> String {
    let dir = workspace().join("functions").join(function).join("src");
    assert!(
        dir.is_dir(),
        "no functions/{function}/src for Function={function}"
    );
    sources(&dir)
}

#[test]
fn dashboard_body_is_json_with_widgets() {
    let body = dashboard_body();
    assert!(
        body["widgets"].as_array().is_some_and(|w| w.len() >= 6),
        "{body}"
    );
}

/// What is wrong with `metrics`: each metric the code does not emit, or reads under a dimension
/// name or value its function's code never writes.
fn mismatches(metrics: &[WidgetMetric]) -> Vec<String> {
    let mut problems = Vec::new();
    for metric in metrics {
        let Some(function) = metric
            .dimensions
            .iter()
            .find(|(name, _)| name == "Function")
            .and_then(|(_, value)| value.as_deref())
        else {
            problems.push(format!(
                "{metric:?} fixes no Function (every line carries one)"
            ));
            continue;
        };
        let source = function_sources(function);
        let emitted = emitted_metric_names(&source);
        if NOT_YET_EMITTED.contains(&metric.name.as_str()) {
            if emitted.contains(&metric.name) {
                problems.push(format!(
                    "{function} now emits {}: take it off NOT_YET_EMITTED",
                    metric.name
                ));
            }
            continue;
        }
        if !emitted.contains(&metric.name) {
            problems.push(format!(
                "the dashboard reads {} but {function} emits only {emitted:?}",
                metric.name
            ));
        }
        for (dimension, value) in &metric.dimensions {
            if dimension == "Function" {
                continue;
            }
            // Dimensions are written as `("Outcome", value)` pairs.
            if !source.contains(&format!("(\"{dimension}\",")) {
                problems.push(format!(
                    "{metric:?}: {function} writes no {dimension} dimension"
                ));
            }
            if let Some(value) = value
                && !source.contains(&format!("\"{value}\""))
            {
                problems.push(format!(
                    "{metric:?}: {function} never writes {dimension}={value}"
                ));
            }
        }
    }
    problems
}

#[test]
fn every_altinn_archive_metric_on_the_dashboard_is_one_the_code_emits() {
    let metrics = widget_metrics(&dashboard_body());
    assert!(
        !metrics.is_empty(),
        "the dashboard shows no AltinnArchive metric"
    );
    let problems = mismatches(&metrics);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_renamed_metric_or_outcome_is_caught() {
    let body = serde_json::json!({"widgets": [{"type": "metric", "properties": {"metrics": [
        ["AltinnArchive", "InstancesArchive", "Function", "archiver", "Outcome", "archived"],
        ["AltinnArchive", "InstancesArchived", "Function", "archiver", "Outcome", "done"],
        ["AltinnArchive", "InstancesArchived", "Function", "archiver", "Result", "archived"],
        [{"expression": "SEARCH('{AltinnArchive,Function,Outcome,Reason} MetricName=\"Event\" Function=\"webhook\"', 'Sum', 300)"}],
        ["AltinnArchive", "InstancesArchived", "Function", "archiver", "Outcome", "archived"],
        ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "q"]
    ]}}]});
    let problems = mismatches(&widget_metrics(&body));
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[test]
fn archive_latency_shows_p50_and_p99_of_instances_and_correspondence() {
    let metrics = widget_metrics(&dashboard_body());
    for outcome in ["archived", "correspondence_archived"] {
        for stat in ["p50", "p99"] {
            assert!(
                metrics.iter().any(|m| m.name == "ArchiveLatency"
                    && m.stat.as_deref() == Some(stat)
                    && m.dimensions
                        .contains(&("Outcome".to_owned(), Some(outcome.to_owned())))),
                "no ArchiveLatency {stat} for Outcome={outcome}"
            );
        }
    }
}

#[test]
fn the_source_scan_finds_the_metrics_it_checks_against() {
    let emitted = emitted_metric_names(&function_sources("archiver"));
    for name in [
        "Messages",
        "InstancesArchived",
        "ArchiveLatency",
        "ElementsArchived",
    ] {
        assert!(emitted.contains(name), "{name} not found in {emitted:?}");
    }
    assert!(emitted_metric_names(&function_sources("webhook")).contains("Events"));
}

#[test]
fn queue_widgets_read_the_stacks_own_queues() {
    let body = dashboard_body().to_string();
    for (metric, queue) in [
        ("ApproximateNumberOfMessagesVisible", "DeadLetterQueue"),
        ("ApproximateAgeOfOldestMessage", "EventQueue"),
    ] {
        let row = format!(r#"["AWS/SQS","{metric}","QueueName","SUBSTITUTED-{queue}-QueueName""#);
        assert!(body.contains(&row), "no widget reads {metric} of {queue}");
    }
}
