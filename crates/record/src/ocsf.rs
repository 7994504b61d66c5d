//! Run-record entries as OCSF events (Open Cybersecurity Schema Framework, version
//! [`OCSF_VERSION`]), one JSON object per entry, for SIEMs that take OCSF JSON lines
//! (Amazon Security Lake, Splunk, Sentinel, …).
//!
//! # The mapping
//!
//! | entry | OCSF class | activity |
//! |---|---|---|
//! | `tool.pre`, `tool.permission_request`, `tool.post`, `tool.failure` | API Activity (6003) | Read (2) when every touch is a read, Update (3) when one is a write, otherwise Other (99) |
//! | `run.start` | API Activity (6003) | Create (1) |
//! | `approval.request` | User Access Management (3005) | Other (99), "Request Privileges" |
//! | `approval.granted` | User Access Management (3005) | Assign Privileges (1) |
//! | `approval.denied` | User Access Management (3005) | Other (99), "Refuse Privileges" |
//! | `approval.used`, `approval.held` | User Access Management (3005) | Other (99), "Use Privileges" / "Hold Privileges" |
//! | `killswitch` | Entity Management (3004) | Disable (9) / Enable (8) |
//! | every other entry (`prompt`, `review`, `run.finish`, `evidence.*`, …) | API Activity (6003) | Other (99) |
//!
//! A tool call is an API call the agent makes through its host (`api.operation` is the
//! tool, `api.service.name` the MCP server for `mcp__server__tool`); the decision is the
//! Security Control profile's `action_id` (Allowed 1, Denied 2, Observed 3 for a
//! shadow-mode "would deny", Other 99 for a call held for approval) and `disposition_id`
//! (Allowed 1, Blocked 2, Delayed 14, Logged 17), and the rules that matched are
//! `policy.uid`. An approval is a one-off privilege (`privileges`: the approval id, the
//! tool and what it is called with) given to the delegating user's run (`user`) by a
//! reviewer (`actor`). A kill-switch change enables or disables the tool or MCP server it
//! names (`entity`).
//!
//! Every event carries `metadata.uid` = `<run id>/<entry index>` (the entry's place in
//! the tamper-evident record, so the SIEM event can be checked against it),
//! `metadata.correlation_uid` = the run id, `metadata.event_code` = the entry's type, the
//! stored line itself as `raw_data`, and what mandate knows that OCSF has no field for
//! under `unmapped`.

use serde_json::{Map, Value, json};

use crate::export::{self, RunContext, Severity, kind};

/// The OCSF schema version these events follow.
pub const OCSF_VERSION: &str = "1.7.0";

/// The three classes entries map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    ApiActivity,
    UserAccessManagement,
    EntityManagement,
}

impl Class {
    /// `class_uid`, `class_name`, `category_uid`, `category_name`.
    pub fn ids(self) -> (u32, &'static str, u32, &'static str) {
        match self {
            Class::ApiActivity => (6003, "API Activity", 6, "Application Activity"),
            Class::UserAccessManagement => (
                3005,
                "User Access Management",
                3,
                "Identity & Access Management",
            ),
            Class::EntityManagement => {
                (3004, "Entity Management", 3, "Identity & Access Management")
            }
        }
    }
}

/// The class and activity (`activity_id`, `activity_name`) of an entry.
pub fn classify(event: &Value) -> (Class, u32, &'static str) {
    match kind(event) {
        "run.start" => (Class::ApiActivity, 1, "Create"),
        "tool.pre" | "tool.permission_request" | "tool.post" | "tool.failure" => {
            match call_activity(event) {
                Activity::Read => (Class::ApiActivity, 2, "Read"),
                Activity::Update => (Class::ApiActivity, 3, "Update"),
                Activity::Other => (Class::ApiActivity, 99, "Other"),
            }
        }
        "approval.request" => (Class::UserAccessManagement, 99, "Request Privileges"),
        "approval.granted" => (Class::UserAccessManagement, 1, "Assign Privileges"),
        "approval.denied" => (Class::UserAccessManagement, 99, "Refuse Privileges"),
        "approval.used" => (Class::UserAccessManagement, 99, "Use Privileges"),
        "approval.held" => (Class::UserAccessManagement, 99, "Hold Privileges"),
        "killswitch" => match text(event, "action") {
            "disable" => (Class::EntityManagement, 9, "Disable"),
            "enable" => (Class::EntityManagement, 8, "Enable"),
            _ => (Class::EntityManagement, 99, "Other"),
        },
        _ => (Class::ApiActivity, 99, "Other"),
    }
}

enum Activity {
    Read,
    Update,
    Other,
}

/// Read when every touch is a read, Update when one is a write; without touches (a
/// `tool.post`), by the tool.
fn call_activity(event: &Value) -> Activity {
    let touches: Vec<&str> = event
        .get("touches")
        .and_then(Value::as_array)
        .map(|t| t.iter().map(|t| text(t, "kind")).collect())
        .unwrap_or_default();
    if touches.contains(&"write") {
        return Activity::Update;
    }
    if !touches.is_empty() {
        return if touches.iter().all(|k| *k == "read") {
            Activity::Read
        } else {
            Activity::Other
        };
    }
    match text(event, "tool") {
        "Read" | "Glob" | "Grep" | "LS" | "NotebookRead" => Activity::Read,
        "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => Activity::Update,
        _ => Activity::Other,
    }
}

fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event.get(key).and_then(Value::as_str).unwrap_or("")
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A user object: `name`, and `email_addr` when it is an address.
fn user(name: &str) -> Value {
    let mut user = json!({"name": name});
    if name.contains('@')
        && let Some(map) = user.as_object_mut()
    {
        map.insert("email_addr".into(), json!(name));
    }
    user
}

/// The MCP server of an `mcp__server__tool` name.
fn mcp_server(tool: &str) -> Option<&str> {
    tool.strip_prefix("mcp__")?.split("__").next()
}

/// One entry as an OCSF event. `index` is the entry's place in the record; `line` the
/// stored line (kept as `raw_data`).
pub fn event(ctx: &RunContext, index: u64, entry: &Value, line: Option<&str>) -> Value {
    let (class, activity_id, activity_name) = classify(entry);
    let (class_uid, class_name, category_uid, category_name) = class.ids();
    let severity = export::severity(entry);
    let type_name = kind(entry);
    let time = text(entry, "time");
    let millis = export::unix_nanos(time).map(|n| n / 1_000_000);
    let agent = ctx.agent.as_deref().unwrap_or("mandate");

    let mut profiles = vec!["security_control"];
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "product": {
            "name": "mandate",
            "vendor_name": "mandate",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "uid": format!("{}/{index}", ctx.run_id),
        "correlation_uid": ctx.run_id,
        "event_code": type_name,
        "sequence": index,
        "log_name": "run record",
        "original_time": time,
    });

    // Who acted: the reviewer or kill-switch holder for their own actions, otherwise the
    // delegating user's agent.
    let by = match type_name {
        "review" => nonempty(text(entry, "reviewer")),
        "approval.granted" | "approval.denied" | "killswitch" => nonempty(text(entry, "by")),
        _ => None,
    };
    let mut actor = Map::new();
    actor.insert("app_name".into(), json!(agent));
    if let Some(name) = by.or(ctx.user.as_deref()) {
        actor.insert("user".into(), user(name));
    }
    if let Some(session) = nonempty(text(entry, "session_id")) {
        actor.insert("session".into(), json!({"uid": session}));
    }

    let mut out = json!({
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": u64::from(class_uid) * 100 + u64::from(activity_id),
        "type_name": format!("{class_name}: {activity_name}"),
        "severity_id": severity.ocsf_id(),
        "severity": severity.ocsf_caption(),
        "time": millis,
        "message": export::summary(ctx, entry),
        "actor": Value::Object(actor),
    });
    let Some(object) = out.as_object_mut() else {
        return out;
    };
    let mut unmapped = Map::new();
    unmapped.insert("run_id".into(), json!(ctx.run_id));
    unmapped.insert("index".into(), json!(index));
    for (key, value) in [
        ("task", &ctx.task),
        ("mode", &ctx.mode),
        ("workspace", &ctx.workspace),
        ("project", &ctx.project),
    ] {
        if let Some(value) = value {
            unmapped.insert(key.into(), json!(value));
        }
    }
    if millis.is_none() {
        // A time the recorder did not write: kept as it was, `time` stays 0.
        object.insert("time".into(), json!(0));
    }

    match class {
        Class::ApiActivity => {
            let tool = text(entry, "tool");
            let mut api = json!({"operation": nonempty(tool).unwrap_or(type_name)});
            if let Some(api) = api.as_object_mut() {
                if let Some(id) = nonempty(text(entry, "tool_use_id")) {
                    api.insert("request".into(), json!({"uid": id}));
                }
                api.insert(
                    "service".into(),
                    json!({"name": mcp_server(tool).unwrap_or(agent)}),
                );
            }
            object.insert("api".into(), api);
            object.insert(
                "src_endpoint".into(),
                json!({"name": agent, "svc_name": "mandate"}),
            );
            let resources: Vec<Value> = entry
                .get("touches")
                .and_then(Value::as_array)
                .map(|touches| {
                    touches
                        .iter()
                        .map(|t| json!({"type": text(t, "kind"), "name": text(t, "target")}))
                        .collect()
                })
                .unwrap_or_default();
            if !resources.is_empty() {
                object.insert("resources".into(), json!(resources));
            }
            match type_name {
                "tool.pre" | "tool.permission_request" => {
                    let (decision, enforced) = export::decision(entry);
                    let (action_id, action, disposition_id, disposition) = match decision {
                        "allow" => (1, "Allowed", 1, "Allowed"),
                        "ask" => (99, "Held for approval", 14, "Delayed"),
                        _ if !enforced => (3, "Observed", 17, "Logged"),
                        _ => (2, "Denied", 2, "Blocked"),
                    };
                    object.insert("action_id".into(), json!(action_id));
                    object.insert("action".into(), json!(action));
                    object.insert("disposition_id".into(), json!(disposition_id));
                    object.insert("disposition".into(), json!(disposition));
                    object.insert("is_alert".into(), json!(severity >= Severity::Medium));
                    let rules: Vec<&str> = entry
                        .get("rules")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let mut policy = json!({
                        "name": ctx.task.as_deref().unwrap_or("mandate policy"),
                        "uid": rules.join(","),
                    });
                    if let (Some(policy), Some(reason)) =
                        (policy.as_object_mut(), nonempty(text(entry, "reason")))
                    {
                        policy.insert("desc".into(), json!(reason));
                    }
                    object.insert("policy".into(), policy);
                    if decision != "allow" && enforced {
                        object.insert("status_id".into(), json!(2));
                        object.insert("status".into(), json!("Failure"));
                        if let Some(reason) = nonempty(text(entry, "reason")) {
                            object.insert("status_detail".into(), json!(reason));
                        }
                    }
                }
                "tool.post" => {
                    object.insert("status_id".into(), json!(1));
                    object.insert("status".into(), json!("Success"));
                }
                "tool.failure" => {
                    object.insert("status_id".into(), json!(2));
                    object.insert("status".into(), json!("Failure"));
                    if let Some(error) = nonempty(text(entry, "error")) {
                        object.insert("status_detail".into(), json!(error));
                    }
                }
                _ => {}
            }
        }
        Class::UserAccessManagement => {
            let tool = text(entry, "tool");
            let digest = nonempty(text(entry, "input_digest")).or(nonempty(text(entry, "digest")));
            let mut privilege = format!("approval {}", text(entry, "id"));
            if let Some(tool) = nonempty(tool) {
                privilege.push_str(&format!(": call {tool}"));
            }
            if let Some(digest) = digest {
                privilege.push_str(&format!(" with input {digest}"));
            }
            object.insert("privileges".into(), json!([privilege]));
            object.insert(
                "user".into(),
                user(ctx.user.as_deref().unwrap_or("unknown")),
            );
            if let Some(group) = nonempty(text(entry, "group")) {
                unmapped.insert("reviewer_group".into(), json!(group));
            }
            if let Some(reviewers) = entry.get("reviewers") {
                unmapped.insert("reviewers".into(), reviewers.clone());
            }
            object.insert(
                "src_endpoint".into(),
                json!({"name": agent, "svc_name": "mandate"}),
            );
        }
        Class::EntityManagement => {
            let target = text(entry, "target");
            // Targets as the kill list names them: a touch kind, `server/tool`, or a server.
            let entity_type = match target {
                "read" | "write" | "execute" | "call" | "expose" => "touch kind",
                t if t.contains('/') => "MCP tool",
                _ => "MCP server",
            };
            object.insert(
                "entity".into(),
                json!({"name": nonempty(target).unwrap_or("unknown"), "type": entity_type}),
            );
            if let Some(reason) = nonempty(text(entry, "reason")) {
                object.insert("comment".into(), json!(reason));
            }
            profiles.clear();
        }
    }
    if !profiles.is_empty()
        && let Some(metadata) = metadata.as_object_mut()
    {
        metadata.insert("profiles".into(), json!(profiles));
    }
    if let Some(project) = &ctx.project
        && let Some(metadata) = metadata.as_object_mut()
    {
        metadata.insert("tenant_uid".into(), json!(project));
    }
    object.insert("metadata".into(), metadata);
    if let Some(line) = line {
        object.insert("raw_data".into(), json!(line));
    }
    object.insert("unmapped".into(), Value::Object(unmapped));
    out
}

/// Every entry of one run as OCSF events, in order; `run.start` fills in the context of
/// the entries after it (and of the ones before it, if the caller passes a context
/// learned from it).
pub fn run_events(ctx: &mut RunContext, entries: &[crate::Entry]) -> Vec<Value> {
    for entry in entries {
        ctx.learn(&entry.value);
    }
    entries
        .iter()
        .map(|entry| {
            event(
                ctx,
                entry.index,
                &entry.value,
                std::str::from_utf8(&entry.bytes).ok(),
            )
        })
        .collect()
}
