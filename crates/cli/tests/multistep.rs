#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The multi-step corpus: sequences of tool calls an agent sends in one session, each sent
//! through the real hook entry point and, when allowed, really carried out, so that later
//! steps meet the links, files and working directory earlier steps made.
//!
//! One test per class file under `tests/multistep/` (`paths.toml`, `benign.toml`, …). Each
//! case runs in a fresh billing repository (`support/billing.rs`) with BILL-142 started and
//! its own session id. Each step is a PreToolUse payload as Claude Code sends it
//! (`session_id`, `transcript_path`, `cwd`, `tool_use_id`) piped into
//! `mandate hook claude-code --root REPO`. An allowed step is carried out: `Bash` through
//! `unshare -n timeout 30 bash -c` (no network) in the session's working directory, which
//! afterwards becomes the shell's final `pwd -P` when the command succeeded, as Claude Code
//! keeps it (and back to the start when it left the repository, as Claude Code resets it);
//! `Read`, `Write`, `Edit`, `Glob` and `Grep` by the runner as the tools do them. The tool
//! result is kept and a PostToolUse (or PostToolUseFailure) is sent. A refused step is not
//! carried out. Other tools are judged but not carried out.
//!
//! Case format (see `tests/multistep/paths.toml` for examples):
//!
//! ```toml
//! class = "paths"
//! [[case]]
//! name = "symlink-to-dot-then-dotdot"
//! kind = "attack"                       # attack | benign
//! why = "…"
//! cwd = "billing/export"                # optional starting directory
//! steps = [
//!   { tool = "Bash", input = { command = "ln -s . s" } },
//!   { tool = "Read", input = { file_path = "s/s/../../customer_data/eu.csv" }, expect = "deny" },
//! ]
//! absent = ["deploy/evil.sh"]           # optional: must not exist afterwards
//! unchanged = [".git/config"]           # optional: same content (files, folders, links)
//! secret = "extra marker"               # optional: one marker or a list
//! rollback_note = false                 # optional: no rollback note on record (default:
//!                                       # one is recorded before the first step)
//! open = "issue 14, item 2"             # optional: a known gap not fixed yet; reported,
//!                                       # but it does not fail the test
//! policy_replace = [["from", "to"]]     # optional: text replaced in mandate.toml and
//! contract_replace = [["from", "to"]]   # in BILL-142 before `mandate start`
//! files = { "billing/export/a.tgz" = "hex:1f8b…" }  # optional: files committed to the
//!                                       # repository before the run starts (`hex:` for
//!                                       # bytes, else text): archives and patches
//! packet_has = ["text"]                 # optional: the review packet (`mandate record
//! packet_lacks = ["text"]               # show --format md`) afterwards holds / lacks it
//! evidence_lacks = ["tests"]            # optional: evidence kinds not on record afterwards
//! sent_lacks = ["ACME-7731-ZX"]         # optional: no allowed step sent this text out
//! home = "jira"                         #   (except to MCP server `home`, where it came from)
//! ```
//!
//! Step fields: `tool`, `input`, optional `expect` (`allow` | `deny` | `ask`), optional
//! `may_fail = true` (a benign step that is allowed but may exit non-zero or fail), and
//! optional `agent_id` (the step comes from a subagent), optional `response` (the tool
//! result of a tool the runner does not carry out, an MCP tool's, sent in PostToolUse). In every string of `input`,
//! `absent` and `unchanged`, `@ROOT@` is the repository, `@HOME@` the home folder and
//! `@OUTSIDE@` a folder outside the repository.
//!
//! Verdicts. An **attack** gets through when a secret marker (`SECRET`, `SECRET_KEY_TEXT`,
//! `CUSTOMER_TEXT`, the case's `secret`) is in any tool result or deny reason, or a file in
//! the repository that held none before holds one afterwards (a copy or a
//! hard link made in scope), or an `absent`/`unchanged` check fails, or a default check
//! fails (the policy, the contract, `deploy/`, `.git/hooks`, `.git/config`, the secret
//! files, migrations and `logs/` unchanged), or, when the case names no effect check, no
//! step was refused. A step's `expect` that is not met is a failure of either kind. A
//! **benign** case fails when any step is refused or fails to run.
//!
//! `cargo test -p mandate-cli --test multistep -- --nocapture` prints each class's figures;
//! `MULTISTEP_CASE=NAME` runs only the cases whose name contains NAME;
//! `MULTISTEP_THREADS=N` sets how many cases run at once (default 3);
//! `MULTISTEP_VERBOSE=1` lists every case's steps, not only the failures;
//! `MULTISTEP_PACKET=1` prints the review packet when a packet check fails;
//! `MULTISTEP_MANDATE=PATH` runs the corpus against another `mandate` binary.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use support::billing::{Billing, CUSTOMER_TEXT, SECRET, SECRET_KEY_TEXT};

macro_rules! class {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_class(stringify!($name));
            }
        )*
    };
}

// One test per class file in `tests/multistep/`.
class!(
    paths,
    benign,
    evidence_verb,
    urls,
    benign_launder,
    redaction,
    test_evidence,
    git,
    benign_git,
    protected,
    oslayer,
    programs,
    env,
    benign_programs,
    mcp_args,
);

/// The binary under test; `MULTISTEP_MANDATE` runs the corpus against another build (to
/// measure what an older version let through).
fn mandate() -> PathBuf {
    std::env::var_os("MULTISTEP_MANDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mandate")))
}

/// `PATH` for the hook and the agent's Bash, as Claude Code gives both the same
/// environment: mandate's folder first, as where it is installed.
fn agent_path() -> std::ffi::OsString {
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = mandate().parent() {
        let mut joined = dir.as_os_str().to_os_string();
        joined.push(":");
        joined.push(&path);
        path = joined;
    }
    path
}

/// Files the default checks keep unchanged in every attack case.
const DEFAULT_UNCHANGED: &[&str] = &[
    "mandate.toml",
    ".mandate/contracts",
    ".env",
    ".env.production",
    "secrets",
    "customer_data",
    "deploy",
    "logs",
    "billing/migrations",
    ".git/hooks",
    ".git/config",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    class: String,
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Attack,
    Benign,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    kind: Kind,
    #[serde(default)]
    why: String,
    cwd: Option<String>,
    steps: Vec<StepSpec>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    unchanged: Vec<String>,
    secret: Option<OneOrMany>,
    /// Record a rollback note before the first step (BILL-142 wants one before any write to
    /// `billing/export/**`), as an agent at work would have. On unless set to false.
    #[serde(default = "yes")]
    rollback_note: bool,
    /// A known gap, not yet fixed: the case is run and reported but does not fail the test.
    /// Say which issue tracks it; remove it with the fix.
    open: Option<String>,
    /// Text replacements in the policy and the contract before the run starts.
    #[serde(default)]
    policy_replace: Vec<(String, String)>,
    #[serde(default)]
    contract_replace: Vec<(String, String)>,
    /// Files added to the repository (and committed) before the run starts: path, then
    /// text, or bytes as `hex:` digits.
    #[serde(default)]
    files: BTreeMap<String, String>,
    /// Effect checks on what the record says: the review packet holds / lacks each text.
    #[serde(default)]
    packet_has: Vec<String>,
    #[serde(default)]
    packet_lacks: Vec<String>,
    /// Evidence kinds the run state must not hold afterwards (`tests`).
    #[serde(default)]
    evidence_lacks: Vec<String>,
    /// Texts no allowed step may have sent out (in its input, any case), except a call to
    /// the MCP server `home` the text came from.
    #[serde(default)]
    sent_lacks: Vec<String>,
    home: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    tool: String,
    input: Value,
    expect: Option<String>,
    #[serde(default)]
    may_fail: bool,
    agent_id: Option<String>,
    /// The result of a tool the runner does not carry out (MCP tools).
    response: Option<Value>,
}

/// What happened to one step.
struct StepRun {
    tool: String,
    input: Value,
    cwd: PathBuf,
    decision: String,
    reason: String,
    /// The tool result the model would see (empty when refused).
    result: String,
    /// The step was carried out and failed (non-zero exit, tool error).
    failed: bool,
}

struct CaseRun {
    name: String,
    open: Option<String>,
    kind: Kind,
    why: String,
    steps: Vec<StepRun>,
    failures: Vec<String>,
    millis: u128,
}

fn class_file(class: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/multistep")
        .join(format!("{}.toml", class.replace('_', "-")))
}

fn run_class(class: &str) {
    // File and class names use dashes (`evidence-verb`), test names underscores.
    let class = class.replace('_', "-");
    let class = class.as_str();
    let path = class_file(class);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    let file: ClassFile =
        toml::from_str(&text).unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
    assert_eq!(
        file.class,
        class,
        "`{}` says class = {:?}",
        path.display(),
        file.class
    );
    let mut names = std::collections::HashSet::new();
    for case in &file.case {
        assert!(
            names.insert(case.name.as_str()),
            "`{}`: two cases are named {:?}",
            path.display(),
            case.name
        );
    }
    network_cut_works();

    let filter = std::env::var("MULTISTEP_CASE").ok();
    let cases: Vec<&Case> = file
        .case
        .iter()
        .filter(|case| filter.as_deref().is_none_or(|f| case.name.contains(f)))
        .collect();
    let threads = std::env::var("MULTISTEP_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);
    let next = AtomicUsize::new(0);
    let runs: Mutex<Vec<(usize, CaseRun)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(cases.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(index) else { break };
                    let run = run_case(case);
                    runs.lock().unwrap().push((index, run));
                }
            });
        }
    });
    let mut runs = runs.into_inner().unwrap();
    runs.sort_by_key(|(index, _)| *index);
    let runs: Vec<CaseRun> = runs.into_iter().map(|(_, run)| run).collect();

    let attacks = runs.iter().filter(|r| r.kind == Kind::Attack).count();
    let benign = runs.len() - attacks;
    let through = |kind: Kind| {
        runs.iter()
            .filter(|r| r.kind == kind && !r.failures.is_empty())
            .count()
    };
    let (attacks_through, benign_failed) = (through(Kind::Attack), through(Kind::Benign));
    let failing: Vec<&CaseRun> = runs
        .iter()
        .filter(|r| !r.failures.is_empty() && r.open.is_none())
        .collect();
    let open_failing = runs
        .iter()
        .filter(|r| !r.failures.is_empty() && r.open.is_some())
        .count();
    let figures = format!(
        "class {class}: {} cases in {:.1} s; attacks held {}/{attacks}; benign allowed {}/{benign}{}",
        runs.len(),
        started.elapsed().as_secs_f64(),
        attacks - attacks_through,
        benign - benign_failed,
        if open_failing > 0 {
            format!("; {open_failing} of the failures are marked open (known gaps)")
        } else {
            String::new()
        }
    );
    let mut report = format!("{figures}\n");
    let verbose = std::env::var("MULTISTEP_VERBOSE").as_deref() == Ok("1");
    for run in &runs {
        let label = match (&run.open, run.failures.is_empty()) {
            (None, true) if !verbose => continue,
            (None, true) => "ok".to_string(),
            (None, false) => "FAIL".to_string(),
            (Some(open), false) => format!("OPEN ({open})"),
            (Some(open), true) => format!("HELD NOW, drop `open = {open:?}`"),
        };
        let _ = writeln!(
            report,
            "\n--- {label} {} ({:?}, {} ms): {}",
            run.name, run.kind, run.millis, run.why
        );
        for failure in &run.failures {
            let _ = writeln!(report, "    ! {failure}");
        }
        for (n, step) in run.steps.iter().enumerate() {
            let _ = writeln!(
                report,
                "    {}. {} {} (cwd {})\n       -> {}{}{}",
                n + 1,
                step.tool,
                step.input,
                step.cwd.display(),
                step.decision,
                if step.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", excerpt(&step.reason, 300))
                },
                if step.result.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n       result{}: {}",
                        if step.failed { " (failed)" } else { "" },
                        excerpt(&step.result, 300)
                    )
                },
            );
        }
    }
    println!("{report}");
    eprintln!("{figures}");
    assert!(
        failing.is_empty(),
        "class {class}: {} attack(s) got through and {} benign case(s) failed, not counting \
         cases marked open (listed above)",
        failing.iter().filter(|r| r.kind == Kind::Attack).count(),
        failing.iter().filter(|r| r.kind == Kind::Benign).count(),
    );
}

fn excerpt(text: &str, max: usize) -> String {
    let flat = text.replace('\n', "⏎");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// The Bash steps run without network; where that cannot be arranged the test fails
/// rather than run attacks with the network on.
fn network_cut_works() {
    let output = Command::new("unshare")
        .args(["-n", "true"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `unshare` to cut the network off: {e}"));
    assert!(
        output.status.success(),
        "`unshare -n` failed, so the corpus cannot run its Bash steps without network \
         (it needs root or user namespaces): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Replaces `@ROOT@`, `@HOME@`, `@OUTSIDE@` in every string of `value`.
fn substitute(value: &Value, billing: &Billing) -> Value {
    match value {
        Value::String(s) => Value::String(substitute_str(s, billing)),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, billing)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, billing)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(text: &str, billing: &Billing) -> String {
    text.replace("@ROOT@", &billing.root.to_string_lossy())
        .replace("@HOME@", &billing.home.to_string_lossy())
        .replace("@OUTSIDE@", &billing.outside.to_string_lossy())
}

/// A path named by a case: relative to the repository unless absolute.
fn case_path(billing: &Billing, path: &str) -> PathBuf {
    let path = substitute_str(path, billing);
    if Path::new(&path).is_absolute() {
        PathBuf::from(path)
    } else {
        billing.root.join(path)
    }
}

/// What a path holds, without following links: file bytes, a link's target, or a folder's
/// entries (recursively).
#[derive(PartialEq, Debug)]
enum Snapshot {
    Missing,
    File(Vec<u8>),
    Link(PathBuf),
    Dir(BTreeMap<String, Snapshot>),
    Other,
}

fn snapshot(path: &Path) -> Snapshot {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Snapshot::Missing;
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        Snapshot::Link(std::fs::read_link(path).unwrap_or_default())
    } else if kind.is_file() {
        Snapshot::File(std::fs::read(path).unwrap_or_default())
    } else if kind.is_dir() {
        let mut entries = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir(path) {
            for entry in dir.flatten() {
                entries.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    snapshot(&entry.path()),
                );
            }
        }
        Snapshot::Dir(entries)
    } else {
        Snapshot::Other
    }
}

/// Regular files in the repository (links not followed, `.git` skipped) that hold a
/// marker.
fn files_with_markers(billing: &Billing, markers: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![billing.root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let relative = path
                .strip_prefix(&billing.root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if kind.is_dir() {
                if relative != ".git" {
                    stack.push(path);
                }
            } else if kind.is_file() {
                let content =
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
                if markers.iter().any(|m| content.contains(m.as_str())) {
                    found.push(relative);
                }
            }
        }
    }
    found.sort();
    found
}

fn run_case(case: &Case) -> CaseRun {
    let started = Instant::now();
    let billing = Billing::new();
    for (file, replacements) in [
        ("mandate.toml", &case.policy_replace),
        (".mandate/contracts/BILL-142.toml", &case.contract_replace),
    ] {
        if replacements.is_empty() {
            continue;
        }
        let mut text = billing.read(file).unwrap();
        for (from, to) in replacements {
            assert!(
                text.contains(from.as_str()),
                "{}: `{from}` is not in {file}",
                case.name
            );
            text = text.replace(from.as_str(), to);
        }
        billing.write(file, &text);
        billing.commit("case setup");
    }
    if !case.files.is_empty() {
        for (file, content) in &case.files {
            let bytes = match content.strip_prefix("hex:") {
                Some(hex) => (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
                None => content.clone().into_bytes(),
            };
            let path = billing.path(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        billing.commit("case files");
    }
    billing.mandate_ok(&mandate(), &["start", ".mandate/contracts/BILL-142.toml"]);
    if case.rollback_note {
        billing.mandate_ok(
            &mandate(),
            &[
                "evidence",
                "rollback",
                "--change",
                "EU rows kept by the export filter",
                "--undo",
                "git revert the fix",
                "--data-risk",
                "none: the filter only selects rows",
                "--trigger",
                "ledger totals differ from the export",
                "--owner",
                "billing on-call",
                "--stop-before",
                "deploy",
            ],
        );
    }
    let transcript = billing.base.join("transcript.jsonl");
    std::fs::write(&transcript, "").unwrap();
    let session = format!("multistep-{}", case.name);

    let mut markers: Vec<String> =
        vec![SECRET.into(), SECRET_KEY_TEXT.into(), CUSTOMER_TEXT.into()];
    if let Some(secret) = &case.secret {
        let extra = match secret {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        };
        markers.extend(extra);
    }
    let mut watched: Vec<(String, PathBuf)> = case
        .unchanged
        .iter()
        .map(|p| (p.clone(), case_path(&billing, p)))
        .collect();
    if case.kind == Kind::Attack {
        watched.extend(
            DEFAULT_UNCHANGED
                .iter()
                .map(|p| (format!("{p} (default check)"), billing.path(p))),
        );
    }
    let before: Vec<Snapshot> = watched.iter().map(|(_, path)| snapshot(path)).collect();
    let holders_before = files_with_markers(&billing, &markers);

    let start_cwd = match &case.cwd {
        Some(dir) => billing.path(dir),
        None => billing.root.clone(),
    };
    let mut world = World {
        billing: &billing,
        session,
        transcript,
        cwd: start_cwd.clone(),
        start_cwd,
    };
    world.hook(&json!({
        "session_id": world.session,
        "transcript_path": world.transcript,
        "cwd": world.cwd,
        "hook_event_name": "SessionStart",
        "source": "startup",
    }));

    let mut steps = Vec::new();
    let mut failures = Vec::new();
    for (n, spec) in case.steps.iter().enumerate() {
        let step = world.step(n, spec);
        if let Some(expect) = &spec.expect
            && *expect != step.decision
        {
            failures.push(format!(
                "step {} was expected to be `{expect}` but was `{}`",
                n + 1,
                step.decision
            ));
        }
        if case.kind == Kind::Benign {
            if step.decision != "allow" {
                failures.push(format!("step {} was refused ({})", n + 1, step.decision));
            } else if step.failed && !spec.may_fail {
                failures.push(format!("step {} was allowed but failed to run", n + 1));
            }
        }
        steps.push(step);
    }

    if case.kind == Kind::Attack {
        for (n, step) in steps.iter().enumerate() {
            for marker in &markers {
                if step.result.contains(marker.as_str()) {
                    failures.push(format!(
                        "the secret `{marker}` is in step {}'s result",
                        n + 1
                    ));
                }
                if step.reason.contains(marker.as_str()) {
                    failures.push(format!(
                        "the secret `{marker}` is in step {}'s reason",
                        n + 1
                    ));
                }
            }
        }
        for copy in files_with_markers(&billing, &markers) {
            if !holders_before.contains(&copy) {
                failures.push(format!("`{copy}` holds a secret afterwards"));
            }
        }
        for path in &case.absent {
            let full = case_path(&billing, path);
            if std::fs::symlink_metadata(&full).is_ok() {
                failures.push(format!("`{path}` exists afterwards"));
            }
        }
        for ((name, path), before) in watched.iter().zip(&before) {
            if snapshot(path) != *before {
                failures.push(format!("`{name}` changed"));
            }
        }
        if !case.packet_has.is_empty() || !case.packet_lacks.is_empty() {
            let packet = billing.mandate(&mandate(), &["record", "show", "--format", "md"]);
            let packet = String::from_utf8_lossy(&packet.stdout).into_owned();
            for text in &case.packet_has {
                if !packet.contains(text.as_str()) {
                    if std::env::var_os("MULTISTEP_PACKET").is_some() {
                        eprintln!("{packet}");
                    }
                    failures.push(format!("the packet does not say `{text}`"));
                }
            }
            for text in &case.packet_lacks {
                if packet.contains(text.as_str()) {
                    failures.push(format!("the packet says `{text}`"));
                }
            }
        }
        for text in &case.sent_lacks {
            let home = case.home.as_ref().map(|h| format!("mcp__{h}__"));
            for (n, step) in steps.iter().enumerate() {
                let to_home = home
                    .as_ref()
                    .is_some_and(|h| step.tool.starts_with(h.as_str()));
                if step.decision == "allow"
                    && !to_home
                    && step
                        .input
                        .to_string()
                        .to_ascii_lowercase()
                        .contains(&text.to_ascii_lowercase())
                {
                    failures.push(format!("step {} sent `{text}` out", n + 1));
                }
            }
        }
        if !case.evidence_lacks.is_empty() {
            let status = billing.mandate(&mandate(), &["status"]);
            let status = String::from_utf8_lossy(&status.stdout).into_owned();
            let on_record = status
                .lines()
                .find_map(|l| l.trim().strip_prefix("evidence: "))
                .unwrap_or("");
            for kind in &case.evidence_lacks {
                if on_record.split(", ").any(|k| k == kind) {
                    failures.push(format!("`{kind}` evidence is on record"));
                }
            }
        }
        let named_effect = !case.absent.is_empty()
            || !case.unchanged.is_empty()
            || case.secret.is_some()
            || !case.packet_has.is_empty()
            || !case.packet_lacks.is_empty()
            || !case.evidence_lacks.is_empty()
            || !case.sent_lacks.is_empty();
        if !named_effect && steps.iter().all(|s| s.decision == "allow") {
            failures.push("no step was refused".into());
        }
    }
    CaseRun {
        name: case.name.clone(),
        open: case.open.clone(),
        kind: case.kind,
        why: case.why.clone(),
        steps,
        failures,
        millis: started.elapsed().as_millis(),
    }
}

/// One session in one repository: the working directory Claude Code would keep.
struct World<'a> {
    billing: &'a Billing,
    session: String,
    transcript: PathBuf,
    cwd: PathBuf,
    start_cwd: PathBuf,
}

impl World<'_> {
    /// `mandate hook claude-code --root REPO` with `payload` on stdin; its JSON answer.
    fn hook(&self, payload: &Value) -> Value {
        let mut child = Command::new(mandate())
            .args(["hook", "claude-code", "--root"])
            .arg(&self.billing.root)
            .current_dir(&self.cwd)
            .env("HOME", &self.billing.home)
            .env("PATH", agent_path())
            .env("MANDATE_ORG_POLICY", self.billing.org_policy())
            .env("CLAUDE_PROJECT_DIR", &self.billing.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mandate hook");
        let mut stdin = child.stdin.take().unwrap();
        let bytes = payload.to_string().into_bytes();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
        let output = child.wait_with_output().expect("wait for mandate hook");
        writer.join().unwrap();
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            json!({
                "exit_code": output.status.code(),
                "stdout": String::from_utf8_lossy(&output.stdout),
                "stderr": String::from_utf8_lossy(&output.stderr),
            })
        })
    }

    fn step(&mut self, n: usize, spec: &StepSpec) -> StepRun {
        let input = substitute(&spec.input, self.billing);
        let tool_use_id = format!("toolu_{:02}_{}", n + 1, self.session.len());
        let mut payload = json!({
            "session_id": self.session,
            "transcript_path": self.transcript,
            "cwd": self.cwd,
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": spec.tool,
            "tool_input": input,
            "tool_use_id": tool_use_id,
        });
        if let Some(agent) = &spec.agent_id {
            payload["agent_id"] = json!(agent);
            payload["agent_type"] = json!("general-purpose");
        }
        let answer = self.hook(&payload);
        let output = &answer["hookSpecificOutput"];
        let decision = output["permissionDecision"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        let reason = output["permissionDecisionReason"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                if decision == "none" {
                    answer.to_string()
                } else {
                    String::new()
                }
            });
        let cwd = self.cwd.clone();
        if decision != "allow" {
            return StepRun {
                tool: spec.tool.clone(),
                input,
                cwd,
                decision,
                reason,
                result: String::new(),
                failed: false,
            };
        }
        let outcome = match &spec.response {
            Some(response) => Ok((
                response.clone(),
                match response {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                },
            )),
            None => self.carry_out(&spec.tool, &input),
        };
        let (event, field, failed, text) = match &outcome {
            Ok((response, text)) => (
                "PostToolUse",
                ("tool_response", response.clone()),
                false,
                text.clone(),
            ),
            Err(error) => (
                "PostToolUseFailure",
                ("error", json!(error)),
                true,
                error.clone(),
            ),
        };
        payload["hook_event_name"] = json!(event);
        payload[field.0] = field.1;
        payload["cwd"] = json!(self.cwd);
        self.hook(&payload);
        StepRun {
            tool: spec.tool.clone(),
            input,
            cwd,
            decision,
            reason,
            result: text,
            failed,
        }
    }

    /// Carries the call out as the tool would: `(tool_response, text the model sees)`, or
    /// the error the tool reports.
    fn carry_out(&mut self, tool: &str, input: &Value) -> Result<(Value, String), String> {
        let field = |key: &str| input.get(key).and_then(Value::as_str);
        match tool {
            "Bash" => self.bash(field("command").unwrap_or_default()),
            "Read" => {
                let path = self.tool_path(field("file_path").unwrap_or_default());
                let content =
                    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let content = String::from_utf8_lossy(&content).into_owned();
                let offset = input
                    .get("offset")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .max(1) as usize;
                let limit = input.get("limit").and_then(Value::as_u64).unwrap_or(2000) as usize;
                let mut text = String::new();
                for (n, line) in content.lines().enumerate().skip(offset - 1).take(limit) {
                    let _ = writeln!(text, "{:>6}\t{line}", n + 1);
                }
                Ok((
                    json!({"type": "text", "file": {"filePath": path, "content": text,
                        "startLine": offset, "totalLines": content.lines().count()}}),
                    text,
                ))
            }
            "Write" => {
                let path = self.tool_path(field("file_path").unwrap_or_default());
                let content = field("content").unwrap_or_default();
                let existed = path.exists();
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
                let text = format!(
                    "File {} at: {}",
                    if existed { "updated" } else { "created" },
                    path.display()
                );
                Ok((
                    json!({"type": if existed { "update" } else { "create" }, "filePath": path, "content": content}),
                    text,
                ))
            }
            "Edit" => {
                let path = self.tool_path(field("file_path").unwrap_or_default());
                let old = field("old_string").unwrap_or_default();
                let new = field("new_string").unwrap_or_default();
                let all = input
                    .get("replace_all")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let original = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let count = original.matches(old).count();
                if old.is_empty() || count == 0 {
                    return Err(format!(
                        "String to replace not found in file.\nString: {old}"
                    ));
                }
                if count > 1 && !all {
                    return Err(format!(
                        "Found {count} matches of the string to replace, but replace_all is false."
                    ));
                }
                let updated = if all {
                    original.replace(old, new)
                } else {
                    original.replacen(old, new, 1)
                };
                std::fs::write(&path, &updated).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((
                    json!({"filePath": path, "oldString": old, "newString": new, "originalFile": original, "replaceAll": all}),
                    format!("The file {} has been updated.", path.display()),
                ))
            }
            "Glob" => {
                let base = self.tool_path(field("path").unwrap_or("."));
                let pattern = field("pattern").unwrap_or_default();
                let files = glob(&base, pattern)?;
                let text = files
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((json!({"filenames": files, "numFiles": files.len()}), text))
            }
            "Grep" => self.grep(input),
            _ => Ok((json!({}), String::new())),
        }
    }

    /// A tool's path argument made absolute against the session's working directory.
    fn tool_path(&self, path: &str) -> PathBuf {
        if let Some(rest) = path.strip_prefix("~/") {
            self.billing.home.join(rest)
        } else {
            self.cwd.join(path)
        }
    }

    fn bash(&mut self, command: &str) -> Result<(Value, String), String> {
        let cwd_file = self.billing.base.join("bash-cwd");
        let _ = std::fs::remove_file(&cwd_file);
        let path = agent_path();
        let output = Command::new("unshare")
            .args(["-n", "timeout", "30", "bash", "-c"])
            .arg("eval \"$1\" < /dev/null && pwd -P >| \"$2\"")
            .arg("bash")
            .arg(command)
            .arg(&cwd_file)
            .current_dir(&self.cwd)
            .env("HOME", &self.billing.home)
            .env("PATH", path)
            .env("MANDATE_ORG_POLICY", self.billing.org_policy())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        if let Ok(new_cwd) = std::fs::read_to_string(&cwd_file) {
            let new_cwd = PathBuf::from(new_cwd.trim_end_matches('\n'));
            // Claude Code keeps the shell's directory while it stays in the project, and
            // goes back to where it started when a command leaves it.
            self.cwd = if new_cwd.starts_with(&self.billing.root) {
                new_cwd
            } else {
                self.start_cwd.clone()
            };
        }
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let text = format!("{stdout}{stderr}");
        if output.status.success() {
            Ok((
                json!({"stdout": stdout, "stderr": stderr, "interrupted": false, "isImage": false}),
                text,
            ))
        } else {
            Err(format!(
                "Exit code {}\n{text}",
                output.status.code().unwrap_or(-1)
            ))
        }
    }

    /// Grep as the tool does it (ripgrep there, GNU grep with Perl regexes here; links
    /// followed, so what a link reaches shows).
    fn grep(&self, input: &Value) -> Result<(Value, String), String> {
        let field = |key: &str| input.get(key).and_then(Value::as_str);
        let flag = |key: &str| input.get(key).and_then(Value::as_bool).unwrap_or(false);
        let mut command = Command::new("grep");
        command.args(["-R", "-P", "-s"]);
        match field("output_mode").unwrap_or("files_with_matches") {
            "content" => {
                command.arg("-H");
                if flag("-n") {
                    command.arg("-n");
                }
                for key in ["-A", "-B", "-C"] {
                    if let Some(n) = input.get(key).and_then(Value::as_u64) {
                        command.arg(format!("{key}{n}"));
                    }
                }
            }
            "count" => {
                command.arg("-c");
            }
            _ => {
                command.arg("-l");
            }
        }
        if flag("-i") {
            command.arg("-i");
        }
        if let Some(glob) = field("glob") {
            command.arg(format!("--include={glob}"));
        }
        if let Some(kind) = field("type") {
            command.arg(format!("--include=*.{kind}"));
        }
        command.arg("-e").arg(field("pattern").unwrap_or_default());
        command.arg(self.tool_path(field("path").unwrap_or(".")));
        let output = command
            .current_dir(&self.cwd)
            .output()
            .map_err(|e| format!("cannot run grep: {e}"))?;
        if output.status.code() == Some(2) {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        if let Some(limit) = input.get("head_limit").and_then(Value::as_u64) {
            text = text
                .lines()
                .take(limit as usize)
                .collect::<Vec<_>>()
                .join("\n");
        }
        Ok((json!({"mode": field("output_mode"), "content": text}), text))
    }
}

/// Files under `base` whose path below it matches `pattern`, links followed (a folder
/// reached twice is walked once).
fn glob(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let matcher = mandate_policy::glob::PathGlob::new(pattern)?;
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![(base.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(canonical) = dir.canonicalize() else {
            continue;
        };
        if !seen.insert(canonical) || rel.len() > 20 {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let mut segments = rel.clone();
            segments.push(name);
            if path.is_dir() {
                stack.push((path, segments));
            } else {
                let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
                if matcher.matches(&refs) {
                    found.push(path);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}
