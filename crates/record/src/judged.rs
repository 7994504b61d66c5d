//! What each decision was judged under, held against what the run started with.
//!
//! `run.start` records the digests of the contract snapshot, the repository policy and
//! the organisation policy. Every decision (`tool.pre`) records the digests it was judged
//! under (`judged_under`), and a change the hook noticed mid-run is its own entry
//! (`policy.changed`: which one, from which digest to which). A decision judged under
//! anything else, with no change recorded before it, means the box changed behind the
//! record's back (an edited contract snapshot, a policy swapped between calls): the run
//! fails verification, naming the first such entry.

use serde_json::Value;

use crate::log::Entry;

/// The digests named in `judged_under`, and the `run.start` fields they are held against.
pub const JUDGED_UNDER: &[(&str, &str)] = &[
    ("contract", "contract_digest"),
    ("policy", "policy_digest"),
    ("org_policy", "org_policy_digest"),
];

/// The first decision judged under digests the record does not account for, as a reason
/// naming its entry; `None` when every decision agrees with `run.start` and the changes
/// recorded after it.
pub fn check(entries: &[Entry]) -> Option<String> {
    let mut expected: Vec<(&str, Option<String>)> =
        JUDGED_UNDER.iter().map(|(key, _)| (*key, None)).collect();
    let mut started = false;
    for entry in entries {
        let v = &entry.value;
        match entry.kind() {
            "run.start" => {
                started = true;
                for (slot, (_, field)) in expected.iter_mut().zip(JUDGED_UNDER) {
                    slot.1 = v.get(*field).and_then(Value::as_str).map(str::to_string);
                }
            }
            "policy.changed" => {
                let which = v.get("which").and_then(Value::as_str).unwrap_or("");
                if let Some(slot) = expected.iter_mut().find(|(key, _)| *key == which) {
                    slot.1 = v.get("to").and_then(Value::as_str).map(str::to_string);
                }
            }
            "tool.pre" if started => {
                let Some(under) = v.get("judged_under") else {
                    continue;
                };
                for (key, want) in &expected {
                    let (Some(want), Some(got)) = (want, under.get(*key).and_then(Value::as_str))
                    else {
                        continue;
                    };
                    if want != got {
                        return Some(format!(
                            "entry {} (a decision on `{}`, tool use {}) was judged under {} \
                             digest {}, but the run started with {} and no change is recorded \
                             before it: the {} changed behind the record's back",
                            entry.index,
                            v.get("tool").and_then(Value::as_str).unwrap_or("?"),
                            v.get("tool_use_id").and_then(Value::as_str).unwrap_or("?"),
                            name(key),
                            short(got),
                            short(want),
                            name(key)
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

fn name(key: &str) -> &'static str {
    match key {
        "contract" => "contract snapshot",
        "policy" => "repository policy",
        _ => "organisation policy",
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(values: Vec<Value>) -> Vec<Entry> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, value)| Entry {
                index: i as u64,
                bytes: Vec::new(),
                value,
            })
            .collect()
    }

    #[test]
    fn a_decision_under_another_contract_fails_and_a_recorded_change_does_not() {
        let start = json!({"type": "run.start", "contract_digest": "aaaa", "policy_digest": "pppp", "org_policy_digest": "none"});
        let pre = |c: &str, p: &str| json!({"type": "tool.pre", "tool": "Read", "tool_use_id": "t", "judged_under": {"contract": c, "policy": p, "org_policy": "none"}});
        assert_eq!(
            check(&entries(vec![start.clone(), pre("aaaa", "pppp")])),
            None
        );
        let bad = check(&entries(vec![
            start.clone(),
            pre("aaaa", "pppp"),
            pre("bbbb", "pppp"),
        ]))
        .unwrap();
        assert!(bad.starts_with("entry 2 "), "{bad}");
        assert!(bad.contains("contract snapshot"), "{bad}");
        let changed =
            json!({"type": "policy.changed", "which": "policy", "from": "pppp", "to": "qqqq"});
        assert_eq!(
            check(&entries(vec![start.clone(), changed, pre("aaaa", "qqqq")])),
            None
        );
        assert!(
            check(&entries(vec![start, pre("aaaa", "qqqq")]))
                .unwrap()
                .contains("repository policy")
        );
    }
}
