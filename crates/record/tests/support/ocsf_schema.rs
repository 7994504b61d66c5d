//! The required fields of the OCSF classes mandate exports, written down from the schema
//! itself (github.com/ocsf/ocsf-schema at v1.7.0, commit dc6359b4: `events/base_event.json`,
//! `events/application/api_activity.json`, `events/iam/user_access.json`,
//! `events/iam/entity_management.json`, and the `objects/*.json` named below), so the
//! tests check exported events against the schema, not against the exporter's own idea
//! of it. Shared by the record, CLI and server tests (`#[path]`).

use serde_json::Value;

/// `requirement: required` in `base_event.json` (every class).
const BASE_REQUIRED: &[&str] = &[
    "activity_id",
    "category_uid",
    "class_uid",
    "metadata",
    "severity_id",
    "time",
    "type_uid",
];

/// Per class: `class_uid`, its `category_uid`, and its own required attributes.
const CLASSES: &[(u64, u64, &[&str])] = &[
    // api_activity.json (uid 3 in category application, 6)
    (6003, 6, &["actor", "api", "src_endpoint"]),
    // user_access.json (uid 5 in category iam, 3)
    (3005, 3, &["privileges", "user"]),
    // entity_management.json (uid 4 in category iam, 3)
    (3004, 3, &["entity"]),
];

/// Objects: (attribute that holds one, its required attributes, its `at_least_one`
/// constraint).
const OBJECTS: &[(&str, &[&str], &[&str])] = &[
    // metadata.json
    ("metadata", &["product", "version"], &[]),
    // product.json extends _entity: at least one of name, uid
    ("metadata.product", &[], &["name", "uid"]),
    // api.json
    ("api", &["operation"], &[]),
    // actor.json
    (
        "actor",
        &[],
        &[
            "process",
            "user",
            "invoked_by",
            "session",
            "app_name",
            "app_uid",
        ],
    ),
    // user.json
    ("actor.user", &[], &["account", "name", "uid"]),
    ("user", &[], &["account", "name", "uid"]),
    // network_endpoint.json
    (
        "src_endpoint",
        &[],
        &[
            "ip",
            "uid",
            "name",
            "hostname",
            "svc_name",
            "instance_uid",
            "interface_uid",
            "interface_name",
            "domain",
        ],
    ),
    // managed_entity.json
    (
        "entity",
        &[],
        &["name", "uid", "device", "group", "org", "policy", "user"],
    ),
];

fn present(value: Option<&Value>) -> bool {
    !matches!(value, None | Some(Value::Null))
}

fn at<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(event, |v, key| v.get(key))
}

/// Every way `event` falls short of its class's required fields; empty when it is valid.
pub fn problems(event: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for field in BASE_REQUIRED {
        if !present(event.get(*field)) {
            problems.push(format!("missing base field `{field}`"));
        }
    }
    let class_uid = event.get("class_uid").and_then(Value::as_u64).unwrap_or(0);
    match CLASSES.iter().find(|(uid, _, _)| *uid == class_uid) {
        None => problems.push(format!("class_uid {class_uid} is not one mandate exports")),
        Some((_, category, required)) => {
            if event.get("category_uid").and_then(Value::as_u64) != Some(*category) {
                problems.push(format!("class {class_uid} belongs to category {category}"));
            }
            for field in *required {
                if !present(event.get(*field)) {
                    problems.push(format!("class {class_uid}: missing `{field}`"));
                }
            }
        }
    }
    let activity = event
        .get("activity_id")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if event.get("type_uid").and_then(Value::as_u64) != Some(class_uid * 100 + activity) {
        problems.push("type_uid is not class_uid * 100 + activity_id".to_string());
    }
    if !event.get("time").is_some_and(Value::is_u64) {
        problems.push("time is not a timestamp (milliseconds)".to_string());
    }
    for (path, required, at_least_one) in OBJECTS {
        let Some(object) = at(event, path) else {
            continue;
        };
        if !object.is_object() {
            problems.push(format!("`{path}` is not an object"));
            continue;
        }
        for field in *required {
            if !present(object.get(*field)) {
                problems.push(format!("`{path}`: missing `{field}`"));
            }
        }
        if !at_least_one.is_empty() && !at_least_one.iter().any(|f| present(object.get(*f))) {
            problems.push(format!("`{path}` needs one of {at_least_one:?}"));
        }
    }
    if class_uid == 3005 && !event.get("privileges").is_some_and(Value::is_array) {
        problems.push("privileges is not an array of strings".to_string());
    }
    problems
}
