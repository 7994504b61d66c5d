//! Run-record entries as OpenTelemetry log records (the OTLP logs data model), and their
//! OTLP/JSON encoding.
//!
//! The team server sends these records over OTLP/HTTP in protobuf, built with the
//! `opentelemetry-proto` types from [`LogRecord`]; the command line writes the same
//! records as OTLP/JSON (one `ExportLogsServiceRequest` per line, the form the
//! collector's `otlpjsonfile` receiver reads), so the `mandate` binary, which is also the
//! hook, links no protobuf or OpenTelemetry code.
//!
//! A record: `timeUnixNano` is the entry's time, `severityNumber` follows
//! [`crate::export::severity`] (INFO 9, INFO2 10, WARN 13, ERROR 17), `eventName` is
//! `mandate.<entry type>`, `body` the summary line, and the attributes carry the run,
//! the entry's place in the record and the stored line itself (`mandate.entry`), so a
//! collector loses nothing the record holds. The resource is `service.name = mandate`.

use serde_json::{Value, json};

use crate::export::{self, RunContext};

/// The instrumentation scope every record is sent under.
pub const SCOPE: &str = "mandate.record";

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

/// One log record, in OpenTelemetry's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: &'static str,
    pub event_name: String,
    pub body: String,
    pub attributes: Vec<(String, AttributeValue)>,
}

impl LogRecord {
    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

fn text<'a>(event: &'a Value, key: &str) -> Option<&'a str> {
    event
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// One entry as a log record. `line` is the stored line (kept as `mandate.entry`).
pub fn log_record(ctx: &RunContext, index: u64, entry: &Value, line: Option<&str>) -> LogRecord {
    let kind = export::kind(entry);
    let (severity_number, severity_text) = export::severity(entry).otel();
    let mut attributes: Vec<(String, AttributeValue)> = Vec::new();
    let mut put = |key: &str, value: AttributeValue| attributes.push((key.to_owned(), value));
    put("mandate.run.id", AttributeValue::Text(ctx.run_id.clone()));
    put(
        "mandate.entry.index",
        AttributeValue::Int(i64::try_from(index).unwrap_or(i64::MAX)),
    );
    put("mandate.entry.type", AttributeValue::Text(kind.to_owned()));
    for (key, value) in [
        ("user.name", &ctx.user),
        ("gen_ai.agent.name", &ctx.agent),
        ("mandate.task", &ctx.task),
        ("mandate.mode", &ctx.mode),
        ("mandate.workspace", &ctx.workspace),
        ("mandate.project", &ctx.project),
    ] {
        if let Some(value) = value {
            put(key, AttributeValue::Text(value.clone()));
        }
    }
    for (key, field) in [
        ("mandate.tool", "tool"),
        ("mandate.tool_use_id", "tool_use_id"),
        ("mandate.decision", "decision"),
        ("mandate.reason", "reason"),
        ("session.id", "session_id"),
        ("mandate.approval.id", "id"),
        ("mandate.target", "target"),
        ("mandate.action", "action"),
        ("mandate.by", "by"),
        ("mandate.reviewer", "reviewer"),
    ] {
        if let Some(value) = text(entry, field) {
            put(key, AttributeValue::Text(value.to_owned()));
        }
    }
    if let Some(enforced) = entry.get("enforced").and_then(Value::as_bool) {
        put("mandate.enforced", AttributeValue::Bool(enforced));
    }
    if let Some(rules) = entry.get("rules").and_then(Value::as_array) {
        put(
            "mandate.rules",
            AttributeValue::List(
                rules
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
        );
    }
    if let Some(reviewers) = entry.get("reviewers").and_then(Value::as_array) {
        put(
            "mandate.reviewers",
            AttributeValue::List(
                reviewers
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
        );
    }
    if let Some(line) = line {
        put("mandate.entry", AttributeValue::Text(line.to_owned()));
    }
    LogRecord {
        time_unix_nano: text(entry, "time")
            .and_then(export::unix_nanos)
            .unwrap_or(0),
        severity_number,
        severity_text,
        event_name: format!("mandate.{kind}"),
        body: export::summary(ctx, entry),
        attributes,
    }
}

/// Every entry of one run as log records, in order (see [`crate::ocsf::run_events`]).
pub fn run_records(ctx: &mut RunContext, entries: &[crate::Entry]) -> Vec<LogRecord> {
    for entry in entries {
        ctx.learn(&entry.value);
    }
    entries
        .iter()
        .map(|entry| {
            log_record(
                ctx,
                entry.index,
                &entry.value,
                std::str::from_utf8(&entry.bytes).ok(),
            )
        })
        .collect()
}

/// The resource attributes every batch is sent with.
pub fn resource_attributes() -> Vec<(String, AttributeValue)> {
    vec![
        (
            "service.name".into(),
            AttributeValue::Text("mandate".into()),
        ),
        (
            "service.version".into(),
            AttributeValue::Text(env!("CARGO_PKG_VERSION").into()),
        ),
    ]
}

fn json_value(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Text(s) => json!({"stringValue": s}),
        // OTLP/JSON writes 64-bit integers as decimal strings.
        AttributeValue::Int(i) => json!({"intValue": i.to_string()}),
        AttributeValue::Bool(b) => json!({"boolValue": b}),
        AttributeValue::List(items) => json!({"arrayValue": {
            "values": items.iter().map(|s| json!({"stringValue": s})).collect::<Vec<_>>()
        }}),
    }
}

fn json_attributes(attributes: &[(String, AttributeValue)]) -> Value {
    Value::Array(
        attributes
            .iter()
            .map(|(key, value)| json!({"key": key, "value": json_value(value)}))
            .collect(),
    )
}

/// An OTLP/JSON `ExportLogsServiceRequest` holding `records` (field names in lowerCamelCase,
/// 64-bit integers as strings, enums as numbers, as the OTLP specification's JSON
/// encoding asks).
pub fn otlp_json(records: &[LogRecord]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "timeUnixNano": r.time_unix_nano.to_string(),
                "observedTimeUnixNano": r.time_unix_nano.to_string(),
                "severityNumber": r.severity_number,
                "severityText": r.severity_text,
                "eventName": r.event_name,
                "body": {"stringValue": r.body},
                "attributes": json_attributes(&r.attributes),
            })
        })
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": json_attributes(&resource_attributes())},
        "scopeLogs": [{
            "scope": {"name": SCOPE, "version": env!("CARGO_PKG_VERSION")},
            "logRecords": records,
        }],
    }]})
}
