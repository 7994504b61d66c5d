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
        Repo::committed("payments", files, SECRETS)
    }

    /// A repository holding `files` and `secrets`, committed.
    fn committed(name: &str, files: &[(&str, &str)], secrets: &[(&str, &str)]) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(name);
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        for (path, text) in files.iter().chain(secrets) {
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
        self.pre_tool_use_answer(tool, input, n)
            .pointer("/hookSpecificOutput/permissionDecision")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_string()
    }

    /// A PreToolUse through the real hook; the hook's whole answer.
    fn pre_tool_use_answer(&self, tool: &str, input: Value, n: usize) -> Value {
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
        serde_json::from_slice(&out.stdout).unwrap()
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
    secret_reads_of(repo, SECRETS)
}

fn secret_reads_of(repo: &Repo, secrets: &[(&str, &str)]) -> Vec<(&'static str, Value)> {
    let mut calls = Vec::new();
    for (path, _) in secrets {
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

/// A Go service's secrets: beside `go.mod`, in Terraform variables, in Helm values, in a
/// config file under the code folder, a deploy key in `scripts/`.
const GO_SECRETS: &[(&str, &str)] = &[
    (
        ".env",
        "DATABASE_URL=postgres://ledger:pw-golang-fake@db/ledger\n",
    ),
    (
        "infra/terraform/terraform.tfvars",
        "aws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYGOLANGKEY\"\n",
    ),
    (
        "deploy/helm/values-prod.yaml",
        "api:\n  token: ghp_GOLANGfake0123456789abcdefghijklmnopq\n",
    ),
    (
        "internal/config/prod.yaml",
        "stripe_key: sk_live_51HxGOLANGFAKE000000000000abc\n",
    ),
    (
        "config/credentials.json",
        "{\"signing_key\": \"golang-fake\"}\n",
    ),
    (
        "scripts/id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n",
    ),
];

impl Repo {
    fn ledger() -> Repo {
        let files: &[(&str, &str)] = &[
            ("go.mod", "module example.com/ledger\n\ngo 1.22\n"),
            (
                "cmd/api/main.go",
                "package main\n\nimport \"example.com/ledger/internal/ledger\"\n\nfunc main() { _ = ledger.Balance(nil) }\n",
            ),
            (
                "internal/ledger/ledger.go",
                "package ledger\n\nfunc Balance(xs []int) int {\n\tt := 0\n\tfor _, x := range xs {\n\t\tt += x\n\t}\n\treturn t\n}\n",
            ),
            (
                "internal/ledger/ledger_test.go",
                "package ledger\n\nimport \"testing\"\n\nfunc TestBalance(t *testing.T) {\n\tif Balance([]int{1, 2}) != 3 {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n",
            ),
            ("internal/ledger/testdata/case.json", "{\"in\": [1, 2]}\n"),
            (
                "infra/terraform/main.tf",
                "resource \"aws_db_instance\" \"x\" {}\n",
            ),
            ("deploy/helm/templates/deploy.yaml", "kind: Deployment\n"),
            (".github/workflows/ci.yml", "on: push\n"),
            ("Dockerfile", "FROM golang:1.22\n"),
            ("README.md", "# ledger\n"),
        ];
        Repo::committed("ledger", files, GO_SECRETS)
    }
}

/// A Go session fixing a balance bug: searching by pattern, listing, testing, vetting,
/// reading and editing Go files.
fn go_session(repo: &Repo) -> Vec<(&'static str, Value)> {
    vec![
        ("Glob", json!({"pattern": "**/*.go"})),
        ("Grep", json!({"pattern": "func Balance", "glob": "*.go"})),
        ("Grep", json!({"pattern": "Balance", "type": "go"})),
        ("Bash", json!({"command": "ls"})),
        ("Bash", json!({"command": "git status"})),
        (
            "Read",
            json!({"file_path": repo.path("internal/ledger/ledger.go")}),
        ),
        ("Read", json!({"file_path": repo.path("cmd/api/main.go")})),
        ("Bash", json!({"command": "go test ./..."})),
        (
            "Edit",
            json!({"file_path": repo.path("internal/ledger/ledger.go"), "old_string": "t := 0", "new_string": "var t int"}),
        ),
        ("Bash", json!({"command": "go vet ./..."})),
        (
            "Bash",
            json!({"command": "go test ./internal/... -run TestBalance"}),
        ),
        ("Bash", json!({"command": "git diff"})),
        (
            "Bash",
            json!({"command": "grep -rn Balance --include='*.go' ."}),
        ),
        ("Bash", json!({"command": "find . -name '*.go'"})),
    ]
}

#[test]
fn issue_18_a_go_repository_goes_from_init_to_enforce_without_refusals_nobody_meant() {
    let repo = Repo::ledger();

    let init = repo.ok(&["init"]);
    for (path, _) in GO_SECRETS {
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
        init.contains("go test *"),
        "init found no test command:\n{init}"
    );
    assert!(!init.contains("BILL-142"), "{init}");
    let check = repo.ok(&["check"]);
    assert_eq!(
        check.matches("can load code from what it wrote").count(),
        1,
        "one warning names every execute rule:\n{check}"
    );

    // Shadow: the session as the agent ran it, and a search of the whole repository.
    repo.ok(&["start", ".mandate/contracts/TASK-1.toml"]);
    let whole_search = ("Grep", json!({"pattern": "Balance"}));
    let mut n = 0;
    let calls = go_session(&repo)
        .into_iter()
        .chain([whole_search.clone()])
        .chain(secret_reads_of(&repo, GO_SECRETS));
    for (tool, input) in calls {
        n += 1;
        assert_eq!(
            repo.pre_tool_use(tool, input.clone(), n),
            "none",
            "{tool} {input}"
        );
    }
    let run = repo.run_id();
    repo.ok(&["finish"]);

    let drafted = repo.ok(&["contract", "draft", "--from-run", &run, "--id", "LEDGER-3"]);
    let draft =
        std::fs::read_to_string(repo.root.join(".mandate/contracts/LEDGER-3.toml")).unwrap();
    assert!(
        draft.contains("go test *") && draft.contains("go vet *"),
        "{draft}"
    );
    assert!(!draft.contains("read = [\"**\"]"), "{draft}");
    assert!(
        drafted.contains("Grep `Balance`"),
        "the draft does not say it still refuses the whole search:\n{drafted}"
    );

    // Replay under the draft: no call the run was allowed is refused, no secret allowed.
    let replay = repo.mandate(&[
        "replay",
        &run,
        "--contract",
        ".mandate/contracts/LEDGER-3.toml",
        "--json",
    ]);
    let report: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(replay.status.code(), Some(0), "{report:#}\n{draft}");
    for change in report["changed"].as_array().unwrap() {
        assert_ne!(
            change["now"], "allow",
            "a refused call became allowed: {change}"
        );
    }

    // Enforce with the draft.
    set_mode(&repo.root, "enforce");
    repo.ok(&["start", ".mandate/contracts/LEDGER-3.toml"]);
    for (tool, input) in go_session(&repo) {
        n += 1;
        let answer = repo.pre_tool_use_answer(tool, input.clone(), n);
        assert_eq!(
            answer.pointer("/hookSpecificOutput/permissionDecision"),
            Some(&json!("allow")),
            "{tool} {input}: {answer}"
        );
    }
    for (tool, input) in secret_reads_of(&repo, GO_SECRETS) {
        n += 1;
        assert_eq!(
            repo.pre_tool_use(tool, input.clone(), n),
            "deny",
            "{tool} {input}"
        );
    }
    // The whole search is refused, with how to narrow it.
    n += 1;
    let answer = repo.pre_tool_use_answer(whole_search.0, whole_search.1, n);
    let reason = answer
        .pointer("/hookSpecificOutput/permissionDecisionReason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(reason.contains("`glob`"), "{answer}");
    // A pattern that can reach a secret is refused even though it is a listing.
    for command in [
        "find . -name '*.yaml'",
        "grep -r token --include='*.yaml' deploy",
    ] {
        n += 1;
        assert_eq!(
            repo.pre_tool_use("Bash", json!({"command": command}), n),
            "deny",
            "{command}"
        );
    }
    for pattern in ["**/*.tfvars", "**/.env*", "internal/**/*.yaml"] {
        n += 1;
        assert_eq!(
            repo.pre_tool_use("Glob", json!({"pattern": pattern}), n),
            "deny",
            "Glob {pattern}"
        );
    }
}

/// With no MANDATE_USER and no git user.email, init names the OS account and says how
/// `start` will know it is you; following that, `start` works.
#[test]
fn issue_18_init_without_an_identity_says_how_start_will_know_you() {
    let repo = Repo::ledger();
    let bare = |args: &[&str], user: Option<&str>| {
        let mut command = Command::new(MANDATE);
        command
            .args(args)
            .current_dir(&repo.root)
            .env("HOME", &repo.home)
            .env("USER", "ledger-dev")
            .env_remove("MANDATE_USER")
            .env_remove("MANDATE_ORG_POLICY")
            .env_remove("CLAUDE_PROJECT_DIR")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        if let Some(user) = user {
            command.env("MANDATE_USER", user);
        }
        command.output().unwrap()
    };
    let init = bare(&["init"], None);
    let text = String::from_utf8_lossy(&init.stdout);
    assert!(init.status.success(), "{text}");
    assert!(text.contains("MANDATE_USER=ledger-dev"), "{text}");
    let start = bare(
        &["start", ".mandate/contracts/TASK-1.toml"],
        Some("ledger-dev"),
    );
    assert!(
        start.status.success(),
        "{}",
        String::from_utf8_lossy(&start.stderr)
    );
}
