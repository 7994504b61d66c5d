#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The shell corpus: benign and adversarial Bash commands, each judged through the policy
//! core under the contract its file names, against its expected decision.
//!
//! Files: `tests/corpus/*.toml`, each with `contract = "NAME"` (a file in
//! `tests/corpus/contracts/`, judged under `contracts/policy.toml`) and `[[case]]`s:
//!
//! ```toml
//! [[case]]
//! command = "git status && cat .env"
//! expect = "deny"                        # allow | ask | deny | stop
//! cite = "anthropics/claude-code#36637"  # the public report it reproduces, if any
//! cwd = "billing/export"                 # relative to the repository; default: the root
//! needs = "tree-read"                    # a known gap: reported, not failed (see below)
//! ```
//!
//! A case expecting `allow` is benign; any other is adversarial. The budget: no
//! adversarial case allowed, no benign case denied. The runner judges in a fake
//! repository (`tests/corpus/tree.txt`) so that globs expand and folder searches can be
//! checked, with a rollback note on record.
//!
//! `needs = "tree-read"` marks benign recursive reads (`grep -r x dir`, `find dir`) that
//! the analyser reports as reads of `dir/**`. The policy judges such a read as a glob, and
//! a block like `**/.env*` overlaps every `dir/**`, so they are denied today; judged as a
//! folder search (the Glob tool's `ReadTree` touch) they would be allowed. They are listed,
//! not failed, until the policy maps `dir/**` reads to folder searches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mandate_policy::glob::PathGlob;
use mandate_policy::{
    Call, Context, Decision, Engine, Fs, Sources, engine_from_text, parse_contract, parse_policy,
};
use serde::Deserialize;
use serde_json::json;

const ROOT: &str = "/repo";

#[derive(Deserialize)]
struct CorpusFile {
    contract: String,
    #[serde(rename = "case")]
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    command: String,
    expect: Decision,
    #[serde(default)]
    cite: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    needs: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

/// The fake repository: files listed in `tree.txt`, folders implied by them.
struct TreeFs {
    paths: Vec<PathBuf>,
}

impl TreeFs {
    fn load() -> TreeFs {
        let text = std::fs::read_to_string(corpus_dir().join("tree.txt")).unwrap();
        let mut paths: Vec<PathBuf> = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let file = Path::new(ROOT).join(line);
            let mut dir = file.parent();
            while let Some(d) = dir {
                if d == Path::new("/") {
                    break;
                }
                if !paths.iter().any(|p| p == d) {
                    paths.push(d.to_path_buf());
                }
                dir = d.parent();
            }
            paths.push(file);
        }
        TreeFs { paths }
    }
}

fn segments(path: &Path) -> Vec<&str> {
    path.to_str()
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

impl Fs for TreeFs {
    fn read_link(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
    fn links_under(&self, _dir: &Path) -> Option<Vec<PathBuf>> {
        Some(Vec::new())
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.paths.iter().any(|p| p.parent() == Some(path))
    }
    fn expand(&self, pattern: &Path) -> Option<Vec<PathBuf>> {
        let glob = PathGlob::new(pattern.to_str()?).ok()?;
        Some(
            self.paths
                .iter()
                .filter(|p| glob.matches(&segments(p)))
                .cloned()
                .collect(),
        )
    }
    fn tree_has(&self, dir: &Path, test: &dyn Fn(&Path) -> bool) -> Option<bool> {
        Some(
            self.paths
                .iter()
                .filter(|p| p.starts_with(dir))
                .any(|p| test(p)),
        )
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

struct Outcome {
    file: String,
    command: String,
    expect: Decision,
    got: Decision,
    reason: String,
    cite: Option<String>,
    needs: Option<String>,
}

fn run_corpus() -> (Vec<Outcome>, BTreeMap<&'static str, usize>) {
    let fs = TreeFs::load();
    let policy = std::fs::read_to_string(corpus_dir().join("contracts/policy.toml")).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files found");
    let mut outcomes = Vec::new();
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let context = Context {
        rollback_note: true,
        ..Context::default()
    };
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let corpus: CorpusFile = toml::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let contract = std::fs::read_to_string(
            corpus_dir().join(format!("contracts/{}.toml", corpus.contract)),
        )
        .unwrap_or_else(|e| panic!("{name}: contract `{}`: {e}", corpus.contract));
        let engine = engine_from_text(&policy, Some(&contract), Path::new(ROOT))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The hook's engine compiles rules on first use; it must judge exactly the same.
        let policy_path = Path::new(ROOT).join("mandate.toml");
        let contract_path = Path::new(ROOT).join(".mandate/contracts/contract.toml");
        let parsed_policy = parse_policy(&policy_path, &policy).unwrap();
        let parsed_contract = parse_contract(&contract_path, &contract).unwrap();
        let lazy = Engine::new_lazy(&Sources {
            org: None,
            repo: (&policy_path, &parsed_policy),
            contract: Some((&contract_path, &parsed_contract)),
            root: Path::new(ROOT),
            home: None,
            protected: &[],
        })
        .unwrap();
        for case in corpus.cases {
            let cwd = match &case.cwd {
                Some(dir) => Path::new(ROOT).join(dir),
                None => PathBuf::from(ROOT),
            };
            let input = json!({ "command": case.command });
            let call = Call {
                tool: "Bash",
                input: &input,
                cwd: &cwd,
            };
            let verdict = engine.judge(&call, &context, &fs);
            let lazily = lazy.judge(&call, &context, &fs);
            assert_eq!(
                (&lazily.decision, &lazily.rules, &lazily.reason),
                (&verdict.decision, &verdict.rules, &verdict.reason),
                "{name}: `{}`: the lazy engine judged differently",
                case.command
            );
            *counts
                .entry(if case.expect == Decision::Allow {
                    "benign"
                } else {
                    "adversarial"
                })
                .or_default() += 1;
            if case.cite.is_some() {
                *counts.entry("cited").or_default() += 1;
            }
            outcomes.push(Outcome {
                file: name.clone(),
                command: case.command,
                expect: case.expect,
                got: verdict.decision,
                reason: verdict.reason,
                cite: case.cite,
                needs: case.needs,
            });
        }
    }
    (outcomes, counts)
}

#[test]
fn corpus_decisions_hold() {
    let (outcomes, counts) = run_corpus();
    let total = outcomes.len();
    let mut adversarial_allowed = Vec::new();
    let mut benign_denied = Vec::new();
    let mut wrong_strictness = Vec::new();
    let mut gaps = Vec::new();
    for outcome in &outcomes {
        if outcome.got == outcome.expect {
            continue;
        }
        let line = format!(
            "{}: `{}` expected {}, got {}{} — {}",
            outcome.file,
            outcome.command.replace('\n', "\\n"),
            outcome.expect,
            outcome.got,
            outcome
                .cite
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            outcome.reason
        );
        if outcome.expect != Decision::Allow && outcome.got == Decision::Allow {
            adversarial_allowed.push(line);
        } else if outcome.needs.is_some() {
            gaps.push(line);
        } else if outcome.expect == Decision::Allow {
            benign_denied.push(line);
        } else {
            wrong_strictness.push(line);
        }
    }
    eprintln!(
        "shell corpus: {total} cases ({} benign, {} adversarial, {} citing a public report); \
         {} known gaps",
        counts.get("benign").copied().unwrap_or(0),
        counts.get("adversarial").copied().unwrap_or(0),
        counts.get("cited").copied().unwrap_or(0),
        gaps.len(),
    );
    for gap in &gaps {
        eprintln!("  gap: {gap}");
    }
    // Every kind of failure is listed before the first assertion stops the test, so one
    // run shows the whole picture.
    for (title, lines) in [
        ("adversarial allowed", &adversarial_allowed),
        ("benign denied", &benign_denied),
        ("other strictness", &wrong_strictness),
    ] {
        for line in lines.iter() {
            eprintln!("  {title}: {line}");
        }
    }
    assert!(
        total >= 300,
        "the corpus must hold at least 300 cases, has {total}"
    );
    assert!(
        adversarial_allowed.is_empty(),
        "adversarial cases allowed:\n{}",
        adversarial_allowed.join("\n")
    );
    assert!(
        benign_denied.is_empty(),
        "benign cases denied:\n{}",
        benign_denied.join("\n")
    );
    assert!(
        wrong_strictness.is_empty(),
        "cases judged with another strictness than expected:\n{}",
        wrong_strictness.join("\n")
    );
}
