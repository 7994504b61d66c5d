#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Contracts in minutes, tried as a new user on a repository unlike the billing example:
//! a payments service with Python, a web front end, Terraform, CI, migrations, and secrets
//! where a glob would not find them. `init` → a shadow session → `contract draft` →
//! `replay` → enforce, each step through the real binary and the real hook entry point.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const MANDATE: &str = env!("CARGO_BIN_EXE_mandate");

/// What each secret holds; none may reach the agent once the contract is armed.
const SECRETS: &[(&str, &str)] = &[
    (
        ".env.production",
        "STRIPE_KEY=sk_live_51HxNEWUSERFAKE000000000000abc\n",
    ),
    ("config/secrets.yaml", "db_password: hunter2-newuser-fake\n"),
    (
        "deploy/k8s/values-prod.yaml",
        "api:\n  token: ghp_NEWUSERfake0123456789abcdefghijklmnop\n",
    ),
    (
        "ops/runbook-notes.txt",
        "break glass: aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYNEWUSERKEY\n",
    ),
    (
        "certs/stripe-webhook.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIfake\n-----END PRIVATE KEY-----\n",
    ),
    (
        "data/customers.csv",
        "name,iban\nAcme GmbH,DE89370400440532013000\n",
    ),
];

struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
}

impl Repo {
    fn payments() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("payments");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let files: &[(&str, &str)] = &[
            ("src/payments/__init__.py", ""),
            (
                "src/payments/charge.py",
                "def charge(amount):\n    return round(amount, 1)\n",
            ),
            (
                "tests/test_charge.py",
                "from payments.charge import charge\n\ndef test_charge():\n    assert charge(1.25) == 1.25\n",
            ),
            (
                "pyproject.toml",
                "[project]\nname = \"payments\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\n\n[tool.ruff]\nline-length = 100\n",
            ),
            (
                "web/package.json",
                r#"{"name": "web", "scripts": {"test": "jest", "lint": "eslint src"}, "devDependencies": {"jest": "29"}}"#,
            ),
            (
                "web/src/checkout.ts",
                "export const total = (a: number) => a;\n",
            ),
            ("terraform/main.tf", "resource \"aws_s3_bucket\" \"b\" {}\n"),
            (".github/workflows/ci.yml", "on: push\n"),
            (
                "migrations/001_init.sql",
                "CREATE TABLE charges (id int);\n",
            ),
            ("Dockerfile", "FROM python:3.12\n"),
            ("README.md", "# payments\n"),
        ];
        for (path, text) in files.iter().chain(SECRETS) {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let repo = Repo {
            _dir: dir,
            root,
            home,
        };
        repo.git(&["init", "-q"]);
        repo.git(&["add", "-A"]);
        repo.git(&[
            "-c",
            "user.email=dev@example.com",
            "-c",
            "user.name=dev",
            "commit",
            "-qm",
            "init",
        ]);
        repo
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(&self.root)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn mandate(&self, args: &[&str]) -> Output {
        Command::new(MANDATE)
            .args(args)
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("MANDATE_USER", "dev@example.com")
            .env_remove("MANDATE_ORG_POLICY")
            .env_remove("CLAUDE_PROJECT_DIR")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.mandate(args);
        assert!(
            out.status.success(),
            "mandate {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// A PreToolUse through the real hook; the decision the hook answered.
    fn pre_tool_use(&self, tool: &str, input: Value, n: usize) -> String {
        let payload = json!({
            "hook_event_name": "PreToolUse",
            "session_id": "new-user-session",
            "cwd": self.root,
            "tool_name": tool,
            "tool_input": input,
            "tool_use_id": format!("toolu_{n}"),
        });
        let mut child = Command::new(MANDATE)
            .args(["hook", "claude-code", "--root"])
            .arg(&self.root)
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env_remove("MANDATE_ORG_POLICY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        answer
            .pointer("/hookSpecificOutput/permissionDecision")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_string()
    }

    fn path(&self, relative: &str) -> String {
        self.root.join(relative).to_string_lossy().to_string()
    }

    fn run_id(&self) -> String {
        let list = self.ok(&["record", "list"]);
        list.lines()
            .last()
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string()
    }
}

/// The calls of a realistic session fixing a rounding bug, in scope.
fn in_scope(repo: &Repo) -> Vec<(&'static str, Value)> {
    vec![
        (
            "Read",
            json!({"file_path": repo.path("src/payments/charge.py")}),
        ),
        (
            "Read",
            json!({"file_path": repo.path("tests/test_charge.py"), "offset": 1, "limit": 20}),
        ),
        ("Bash", json!({"command": "git status"})),
        ("Bash", json!({"command": "ls src/payments"})),
        (
            "Bash",
            json!({"command": "grep -n round src/payments/charge.py"}),
        ),
        (
            "Edit",
            json!({"file_path": repo.path("src/payments/charge.py"), "old_string": "round(amount, 1)", "new_string": "round(amount, 2)"}),
        ),
        (
            "Write",
            json!({"file_path": repo.path("tests/test_rounding.py"), "content": "def test_x():\n    pass\n"}),
        ),
        ("Bash", json!({"command": "pytest -q tests"})),
        ("Bash", json!({"command": "ruff check src/payments"})),
        (
            "Bash",
            json!({"command": "git diff -- src/payments/charge.py"}),
        ),
    ]
}

/// Reads of every secret, by each tool an agent would use.
fn secret_reads(repo: &Repo) -> Vec<(&'static str, Value)> {
    let mut calls = Vec::new();
    for (path, _) in SECRETS {
        calls.push(("Read", json!({"file_path": repo.path(path)})));
        calls.push(("Bash", json!({"command": format!("cat {path}")})));
    }
    calls
}

fn set_mode(root: &Path, mode: &str) {
    let policy = root.join("mandate.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let text = text.replace("mode = \"shadow\"", &format!("mode = \"{mode}\""));
    assert!(text.contains(&format!("mode = \"{mode}\"")));
    std::fs::write(policy, text).unwrap();
}

#[test]
fn a_new_user_goes_from_init_to_an_armed_contract_through_shadow_draft_and_replay() {
    let repo = Repo::payments();

    // init reads the repository: every secret blocked, the test commands found.
    let init = repo.ok(&["init"]);
    for (path, _) in SECRETS {
        assert!(
            init.contains(path)
                || path.ends_with(".pem")
                || path.starts_with(".env")
                || path.starts_with("data/"),
            "init did not report the secret {path}:\n{init}"
        );
        let explained = repo.ok(&[
            "explain",
            "--json",
            "Read",
            &json!({"file_path": path}).to_string(),
        ]);
        let verdict: Value = serde_json::from_str(&explained).unwrap();
        assert_eq!(
            verdict["decision"], "deny",
            "{path} is readable after init: {explained}"
        );
    }
    assert!(
        init.contains("pytest *"),
        "init found no test command:\n{init}"
    );
    assert!(
        init.contains("npm test"),
        "init missed the web package's tests:\n{init}"
    );
    assert!(
        !init.contains("BILL-142") && !init.contains("billing/"),
        "{init}"
    );
    let policy = std::fs::read_to_string(repo.root.join("mandate.toml")).unwrap();
    assert!(policy.contains("mode = \"shadow\""), "{policy}");
    assert!(
        policy.contains("terraform/**") && policy.contains(".github/workflows/**"),
        "{policy}"
    );
    repo.ok(&["check"]);

    // A shadow session: every call recorded, nothing refused.
    repo.ok(&["start", ".mandate/contracts/TASK-1.toml"]);
    let mut n = 0;
    for (tool, input) in in_scope(&repo).into_iter().chain(secret_reads(&repo)) {
        n += 1;
        let answered = repo.pre_tool_use(tool, input.clone(), n);
        assert_eq!(
            answered, "none",
            "shadow mode refused or decided {tool} {input}"
        );
    }
    let run = repo.run_id();
    repo.ok(&["finish"]);

    // The draft: the smallest box for that work, every block kept.
    let drafted = repo.ok(&[
        "contract",
        "draft",
        "--from-run",
        &run,
        "--id",
        "PAY-7",
        "--request",
        "Fix the rounding of charges to two decimals",
    ]);
    let draft_path = repo.root.join(".mandate/contracts/PAY-7.toml");
    let draft = std::fs::read_to_string(&draft_path).unwrap();
    assert!(draft.contains("src/payments/**"), "{draft}");
    assert!(draft.contains("pytest *"), "{draft}");
    assert!(
        !draft.contains("read = [\"**\"]"),
        "the draft is no narrower than init's:\n{draft}"
    );
    for (path, _) in SECRETS {
        assert!(
            drafted.contains(path) || drafted.contains(path.rsplit('/').next().unwrap()),
            "the draft does not say it still refuses {path}:\n{drafted}"
        );
    }

    // Replay under the draft: nothing in scope refused, the secrets still refused.
    let replay = repo.mandate(&[
        "replay",
        &run,
        "--contract",
        ".mandate/contracts/PAY-7.toml",
        "--json",
    ]);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&replay.stdout)
    );
    let report: Value = serde_json::from_slice(&replay.stdout).unwrap();
    for change in report["changed"].as_array().unwrap() {
        assert_ne!(
            change["now"], "allow",
            "a secret read became allowed: {change}"
        );
    }

    // Enforce with the draft: in-scope work runs, every secret read is refused.
    set_mode(&repo.root, "enforce");
    repo.ok(&["start", ".mandate/contracts/PAY-7.toml"]);
    for (tool, input) in in_scope(&repo) {
        n += 1;
        assert_eq!(
            repo.pre_tool_use(tool, input.clone(), n),
            "allow",
            "{tool} {input}"
        );
    }
    for (tool, input) in secret_reads(&repo) {
        n += 1;
        assert_eq!(
            repo.pre_tool_use(tool, input.clone(), n),
            "deny",
            "{tool} {input}"
        );
    }
}

#[test]
fn replay_exits_1_when_a_call_the_run_made_would_be_refused() {
    let repo = Repo::payments();
    repo.ok(&["init"]);
    set_mode(&repo.root, "enforce");
    repo.ok(&["start", ".mandate/contracts/TASK-1.toml"]);
    let read = json!({"file_path": repo.path("src/payments/charge.py")});
    assert_eq!(repo.pre_tool_use("Read", read, 1), "allow");
    let run = repo.run_id();
    let narrow = repo.root.join(".mandate/contracts/NARROW.toml");
    std::fs::write(
        &narrow,
        "version = 1\n[task]\nid = \"NARROW\"\nrequest = \"docs only\"\ndelegated_by = \"dev@example.com\"\nagent = \"claude-code\"\nrisk_owner = \"dev@example.com\"\n[allow]\nread = [\"README.md\"]\n",
    )
    .unwrap();
    let out = repo.mandate(&[
        "replay",
        &run,
        "--contract",
        ".mandate/contracts/NARROW.toml",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("charge.py") && text.contains("allow") && text.contains("deny"),
        "{text}"
    );
}
