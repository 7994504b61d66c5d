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
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::decision::Kind;
use crate::format::{Contract, Policy};

/// `rule_shape` of the execute rules of one file, by the rule's text.
///
/// Kept as one text, a line a rule sorted by the rule's text, and decoded rule by rule
/// when the engine asks: the same table as JSON objects cost more to read back than
/// reading the rules afresh. A line is `RULE US MARK US TOOL US PATHS US NAMES US
/// SPELLED` (US = U+001F; MARK `text` for a rule that names no tool with a spec, `open`
/// or `closed`; lists joined by U+001E). A rule whose text or reading holds a line
/// break, either separator, or an empty list element is left out (it is read afresh).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleShapes {
    text: String,
    /// Each line: where it starts, where its rule's text ends, where it ends.
    lines: Vec<(usize, usize, usize)>,
}

const FIELD: char = '\u{1f}';
const ITEM: char = '\u{1e}';

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
        let mut sorted = BTreeMap::new();
        for rule in lists.into_iter().flatten() {
            if !sorted.contains_key(rule.as_str()) {
                sorted.insert(rule.as_str(), mandate_shell::rule_shape(rule));
            }
        }
        let mut text = String::new();
        for (rule, shape) in sorted {
            if let Some(line) = line(rule, shape.as_ref()) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        RuleShapes::index(text).unwrap_or_default()
    }

    /// The table of a stored text; `None` when it is not one this code writes (every
    /// line whole, six fields, a known mark, rules in strictly rising order).
    fn index(text: String) -> Option<RuleShapes> {
        let mut lines = Vec::new();
        let mut start = 0;
        let mut previous: Option<&str> = None;
        while start < text.len() {
            let rest = text.get(start..)?;
            let end = start + rest.find('\n')?;
            let line = text.get(start..end)?;
            let mut fields = line.split(FIELD);
            let rule = fields.next()?;
            let mark = fields.next()?;
            if !matches!(mark, "text" | "open" | "closed") || fields.count() != 4 {
                return None;
            }
            if previous.is_some_and(|p| p >= rule) {
                return None;
            }
            previous = Some(rule);
            lines.push((start, start + rule.len(), end));
            start = end + 1;
        }
        Some(RuleShapes { text, lines })
    }

    /// The reading of `rule`: `None` when the table does not hold the rule (read it),
    /// `Some(None)` when the rule names no tool with a spec.
    pub(crate) fn get(&self, rule: &str) -> Option<Option<RuleShape>> {
        let found = self
            .lines
            .binary_search_by(|(start, rule_end, _)| {
                self.text
                    .get(*start..*rule_end)
                    .unwrap_or_default()
                    .cmp(rule)
            })
            .ok()?;
        let (_, rule_end, end) = self.lines.get(found)?;
        let mut fields = self.text.get(rule_end + 1..*end)?.split(FIELD);
        let mark = fields.next()?;
        let tool = fields.next()?;
        let mut list = || -> Vec<String> {
            match fields.next() {
                Some("") | None => Vec::new(),
                Some(items) => items.split(ITEM).map(str::to_string).collect(),
            }
        };
        let (paths, names, spelled) = (list(), list(), list());
        Some(match mark {
            "text" => None,
            _ => Some(RuleShape {
                tool: tool.to_string(),
                paths,
                names,
                spelled,
                open: mark == "open",
            }),
        })
    }
}

/// One rule's line (without its line break), or `None` when it cannot be written
/// plainly.
fn line(rule: &str, shape: Option<&RuleShape>) -> Option<String> {
    let plain = |text: &str| !text.contains(['\n', FIELD, ITEM]);
    let list = |items: &[String]| -> Option<String> {
        items
            .iter()
            .all(|item| !item.is_empty() && plain(item))
            .then(|| items.join(&ITEM.to_string()))
    };
    if !plain(rule) {
        return None;
    }
    let fields = match shape {
        None => [
            "text".to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ],
        Some(shape) => {
            if !plain(&shape.tool) {
                return None;
            }
            let mark = if shape.open { "open" } else { "closed" };
            [
                mark.to_string(),
                shape.tool.clone(),
                list(&shape.paths)?,
                list(&shape.names)?,
                list(&shape.spelled)?,
            ]
        }
    };
    let mut line = rule.to_string();
    for field in fields {
        line.push(FIELD);
        line.push_str(&field);
    }
    Some(line)
}

fn execute_lists(lists: [(Kind, &[String]); 5]) -> impl Iterator<Item = &[String]> {
    lists
        .into_iter()
        .filter(|(kind, _)| *kind == Kind::Execute)
        .map(|(_, list)| list)
}

impl Serialize for RuleShapes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RuleShapes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RuleShapes, D::Error> {
        let text = String::deserialize(deserializer)?;
        RuleShapes::index(text)
            .ok_or_else(|| serde::de::Error::custom("not a table of execute rules as read"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every rule of the table reads back as `rule_shape` reads it, rules it could not
    /// write plainly are not held, and a text this code would not write is refused.
    #[test]
    fn a_table_gives_back_what_reading_gives() {
        let rules: Vec<String> = [
            "pytest billing/export/tests*",
            "pytest billing/export/tests -p xdist",
            "ruff check *",
            "npm test*",
            "cargo test*",
            "make test*",
            "python -m pytest -q billing*",
            "PYTHONPATH=src pytest t*",
            "git push*",
            "echo 'a b'",
            "pytest ./",
            "pytest a\u{1f}b",
            "pytest a\nb",
            "ls",
        ]
        .iter()
        .map(|r| r.to_string())
        .collect();
        let table = RuleShapes::read(vec![&rules]);
        for rule in &rules {
            let held = table.get(rule);
            if rule.contains(['\n', FIELD]) {
                assert_eq!(held, None, "{rule:?}");
            } else {
                assert_eq!(held, Some(mandate_shell::rule_shape(rule)), "{rule:?}");
            }
        }
        assert_eq!(table.get("pytest other*"), None);
        let json = serde_json::to_string(&table).unwrap();
        let back: RuleShapes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, table);
        let text = table.text.clone();
        let swapped = {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.swap(0, 1);
            lines.join("\n") + "\n"
        };
        for bad in [
            text.replacen("closed", "shut", 1),
            text.replacen('\u{1f}', "", 1),
            text.trim_end_matches('\n').to_string(),
            swapped,
        ] {
            assert!(RuleShapes::index(bad.clone()).is_none(), "{bad:?}");
            assert!(
                serde_json::from_str::<RuleShapes>(&serde_json::to_string(&bad).unwrap()).is_err()
            );
        }
    }
}
