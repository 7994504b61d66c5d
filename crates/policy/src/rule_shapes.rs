//! What each execute rule of a policy or contract reads as, kept with its parsed form.
//!
//! An execute rule that names a tool with a spec is read as that tool's command
//! ([`mandate_shell::rule_shape`]) before it can be asked about a run. Reading the 65
//! such rules of the 536-rule fixture was a sixth of the instructions of its Bash hook
//! call, and the answer depends only on the rule's text and on this build's spec tables.
//! So the parsed-form cache (`mandate-project`) keeps the readings beside the parsed file,
//! and the hook's engine takes them from there instead of reading each rule again.
//!
//! A table holds `rule_shape(text)` for exactly the texts it was made from: the cache
//! entry's key covers the file's text and a fingerprint of the spec tables' source
//! (`build.rs`), so a reading is never used with a text or a spec it was not made from.
//! A rule the table does not hold is read as before. The engine compiles a kept reading
//! exactly as a fresh one, so a rule that does not compile still refuses.

use std::collections::BTreeMap;

use mandate_shell::RuleShape;
use serde::{Deserialize, Serialize};

use crate::decision::Kind;
use crate::format::{Contract, Policy};

/// `rule_shape` of every execute rule of one file, by the rule's text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Entry>", into = "Vec<Entry>")]
pub struct RuleShapes(BTreeMap<String, Option<RuleShape>>);

/// One rule as the cache stores it.
#[derive(Serialize, Deserialize)]
struct Entry {
    rule: String,
    /// `None`: the rule names no tool with a spec and stays a text pattern.
    shape: Option<Shape>,
}

#[derive(Serialize, Deserialize)]
struct Shape {
    tool: String,
    paths: Vec<String>,
    names: Vec<String>,
    spelled: Vec<String>,
    open: bool,
}

impl RuleShapes {
    /// The readings of the policy's execute blocks.
    pub fn of_policy(policy: &Policy) -> RuleShapes {
        RuleShapes::read(vec![&policy.block.execute])
    }

    /// The readings of every execute list of the contract.
    pub fn of_contract(contract: &Contract) -> RuleShapes {
        let mut lists: Vec<&[String]> = vec![&contract.allow.execute, &contract.block.execute];
        for stop in &contract.stop {
            lists.extend(execute_lists(stop.by_kind()));
        }
        for approval in &contract.approval {
            lists.extend(execute_lists(approval.by_kind()));
        }
        RuleShapes::read(lists)
    }

    fn read(lists: Vec<&[String]>) -> RuleShapes {
        let mut shapes = BTreeMap::new();
        for rule in lists.into_iter().flatten() {
            if !shapes.contains_key(rule) {
                shapes.insert(rule.clone(), mandate_shell::rule_shape(rule));
            }
        }
        RuleShapes(shapes)
    }

    /// The reading of `rule`: `None` when the table does not hold the rule (read it),
    /// `Some(None)` when the rule names no tool with a spec.
    pub(crate) fn get(&self, rule: &str) -> Option<Option<&RuleShape>> {
        self.0.get(rule).map(Option::as_ref)
    }
}

fn execute_lists(lists: [(Kind, &[String]); 5]) -> impl Iterator<Item = &[String]> {
    lists
        .into_iter()
        .filter(|(kind, _)| *kind == Kind::Execute)
        .map(|(_, list)| list)
}

impl From<Vec<Entry>> for RuleShapes {
    fn from(entries: Vec<Entry>) -> RuleShapes {
        RuleShapes(
            entries
                .into_iter()
                .map(|entry| {
                    let shape = entry.shape.map(|s| RuleShape {
                        tool: s.tool,
                        paths: s.paths,
                        names: s.names,
                        spelled: s.spelled,
                        open: s.open,
                    });
                    (entry.rule, shape)
                })
                .collect(),
        )
    }
}

impl From<RuleShapes> for Vec<Entry> {
    fn from(shapes: RuleShapes) -> Vec<Entry> {
        shapes
            .0
            .into_iter()
            .map(|(rule, shape)| Entry {
                rule,
                shape: shape.map(|s| Shape {
                    tool: s.tool,
                    paths: s.paths,
                    names: s.names,
                    spelled: s.spelled,
                    open: s.open,
                }),
            })
            .collect()
    }
}
