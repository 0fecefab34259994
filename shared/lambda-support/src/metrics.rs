//! CloudWatch Embedded Metric Format (EMF): one JSON line on stdout per outcome, which
//! CloudWatch turns into metrics without any API call from the function.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace every function of the archive writes to.
pub const NAMESPACE: &str = "AltinnArchive";

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: Unit,
}

impl Metric {
    /// A count.
    pub fn count(name: &'static str, value: u64) -> Self {
        Metric {
            name,
            value: value as f64,
            unit: Unit::Count,
        }
    }

    /// A byte total.
    pub fn bytes(name: &'static str, value: u64) -> Self {
        Metric {
            name,
            value: value as f64,
            unit: Unit::Bytes,
        }
    }

    /// A duration in milliseconds.
    pub fn millis(name: &'static str, value: f64) -> Self {
        Metric {
            name,
            value,
            unit: Unit::Milliseconds,
        }
    }
}

/// Writes EMF lines for one function. The function name is always a dimension.
#[derive(Debug, Clone)]
pub struct MetricsLogger {
    function: &'static str,
}

impl MetricsLogger {
    /// A logger whose lines carry `Function = function`.
    pub fn new(function: &'static str) -> Self {
        MetricsLogger { function }
    }

    /// Prints one EMF line to stdout. Dimension values must not be secrets or unbounded input.
    pub fn emit(&self, dimensions: &[(&'static str, &str)], metrics: &[Metric]) {
        let line = self.line(dimensions, metrics, now_millis());
        let mut out = std::io::stdout().lock();
        // A metric that cannot be written must never fail the request.
        let _ = writeln!(out, "{line}");
    }

    /// The EMF line for these values at `timestamp_ms` (separate from `emit` for tests).
    pub fn line(
        &self,
        dimensions: &[(&'static str, &str)],
        metrics: &[Metric],
        timestamp_ms: u64,
    ) -> String {
        let mut dimension_names: Vec<&str> = vec!["Function"];
        dimension_names.extend(dimensions.iter().map(|(name, _)| *name));
        let definitions: Vec<Value> = metrics
            .iter()
            .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimension_names],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert("Function".into(), Value::from(self.function));
        for (name, value) in dimensions {
            root.insert((*name).into(), Value::from(*value));
        }
        for metric in metrics {
            root.insert(metric.name.into(), json!(metric.value));
        }
        Value::Object(root).to_string()
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_valid_emf_with_function_and_outcome_dimensions() {
        let logger = MetricsLogger::new("webhook");
        let line = logger.line(
            &[("Outcome", "accepted")],
            &[Metric::count("Events", 1), Metric::bytes("Bytes", 512)],
            1_700_000_000_000,
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(value["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Function", "Outcome"]]));
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "Events", "Unit": "Count"})
        );
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "Bytes", "Unit": "Bytes"})
        );
        assert_eq!(value["Function"], "webhook");
        assert_eq!(value["Outcome"], "accepted");
        assert_eq!(value["Events"], 1.0);
        assert_eq!(value["Bytes"], 512.0);
        assert!(!line.contains('\n'), "one metric set is one line");
    }
}
