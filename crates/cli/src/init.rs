//! `mandate init`: a policy and a starting contract written for the repository it runs in.
//!
//! It walks the tree once (skipping `.git`, dependency and build folders) and sorts what it
//! finds into what a security team would block: secrets (by name, and by content where
//! the record's secret redaction recognises a credential in a small text file), infra
//! and deploy configuration, CI, migrations and schemas, data dumps; and what the agent
//! will need to run: the test runners and linters the repository declares. Each rule it
//! writes says in a comment why it is there, and the same list is printed. The policy
//! starts in `shadow` mode: measure a session, `mandate contract draft` from it, `mandate
//! replay` the session under the draft, then switch to `enforce`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

/// Folders never walked: dependencies, build output, git's own files.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    "vendor",
    "dist",
    "build",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".next",
    ".terraform",
    ".mandate",
];

/// The most files looked at, and the largest file whose content is scanned for secrets.
const MAX_FILES: usize = 50_000;
const MAX_SCAN_BYTES: u64 = 256 * 1024;

/// Source-code and prose extensions: a file named `secret_store.py` is code about secrets,
/// not one (its content is still scanned).
const CODE_EXTENSIONS: &[&str] = &[
    "py", "js", "jsx", "ts", "tsx", "mjs", "cjs", "go", "rs", "java", "kt", "rb", "php", "cs", "c",
    "h", "cc", "cpp", "hpp", "swift", "scala", "sh", "md", "rst", "txt", "html", "css",
];

/// The read blocks every policy `init` writes gets, whatever the tree holds today: secrets
/// created later land under one of these.
const SECRET_GLOBS: &[(&str, &str)] = &[
    ("**/.env*", "environment files hold credentials"),
    ("**/secrets/**", "a secrets folder"),
    ("**/secrets.*", "a secrets file"),
    ("**/*.pem", "keys and certificates"),
    ("**/*.key", "private keys"),
    ("**/*.p12", "key stores"),
    ("**/*.pfx", "key stores"),
    ("**/id_rsa*", "SSH keys"),
    ("**/id_ecdsa*", "SSH keys"),
    ("**/id_ed25519*", "SSH keys"),
    (
        "**/*.tfvars",
        "Terraform variables usually hold credentials",
    ),
    (
        "**/*.tfstate*",
        "Terraform state holds every secret it created",
    ),
    ("**/.npmrc", "registry tokens"),
    ("**/.pypirc", "registry tokens"),
    ("**/.netrc", "host passwords"),
    ("**/.git-credentials", "git passwords"),
    ("**/.aws/**", "cloud credentials"),
    ("**/.docker/config.json", "registry credentials"),
    ("**/*kubeconfig*", "cluster credentials"),
];

#[derive(Default)]
struct Findings {
    /// Files to block reading, with why (beyond the globs above).
    secrets: Vec<(String, String)>,
    /// Secrets found that the globs above already block, for the report.
    covered_secrets: Vec<String>,
    /// Folders and files the agent must not write: infra, deploy, CI.
    infra: BTreeSet<String>,
    ci: BTreeSet<String>,
    /// Migrations and schema files: writing them stops the run.
    schema: BTreeSet<String>,
    /// Data the agent must not read.
    data: BTreeSet<String>,
    /// Commands the contract lets the agent run, with where they were found.
    commands: Vec<(String, String)>,
    /// Top-level folders holding code and tests: the starting write scope.
    code_dirs: BTreeSet<String>,
    files_seen: usize,
}

pub fn init() -> Result<ExitCode> {
    let root = std::env::current_dir()?;
    let policy = root.join(mandate_project::POLICY_FILE);
    if policy.exists() {
        bail!(
            "`{}` already exists; edit it, or remove it to start over",
            policy.display()
        );
    }
    let findings = survey(&root);
    let known = mandate_project::current_user(&root);
    let user = known.clone().unwrap_or_else(mandate_project::os_user);
    let policy_text = policy_toml(&findings, &user);
    let contract_text = contract_toml(&findings, &user);
    mandate_policy::parse_policy(&policy, &policy_text)
        .map_err(|e| anyhow::anyhow!("mandate init wrote a policy it cannot read (a bug): {e}"))?;
    std::fs::write(&policy, &policy_text)
        .with_context(|| format!("cannot write `{}`", policy.display()))?;
    let contracts = root.join(".mandate/contracts");
    std::fs::create_dir_all(&contracts)
        .with_context(|| format!("cannot create `{}`", contracts.display()))?;
    let contract = contracts.join("TASK-1.toml");
    if !contract.exists() {
        std::fs::write(&contract, &contract_text)
            .with_context(|| format!("cannot write `{}`", contract.display()))?;
    }
    // What `mandate check` will say, before the user relies on it: the contract loads
    // under the policy and its examples hold.
    let checked = mandate_project::Project::discover(&root, Some(&root))
        .map_err(anyhow::Error::from)
        .and_then(|project| {
            project
                .load_contract(&contract)
                .map_err(anyhow::Error::from)
        });
    if let Err(error) = checked {
        let _ = std::fs::remove_file(&policy);
        bail!("mandate init wrote files that do not check (a bug; nothing kept): {error:#}");
    }
    print!("{}", report(&findings));
    println!("wrote {}", policy.display());
    println!("wrote {}", contract.display());
    if known.is_none() {
        // `mandate start` asks who you are the same way and finds no one.
        println!(
            "identity: neither MANDATE_USER nor git's user.email is set, so the policy names \
             the OS account `{user}` as the one who may start runs; set `MANDATE_USER={user}` \
             (or git's user.email, then edit `delegators` in mandate.toml) before `mandate start`"
        );
    }
    println!(
        "next: `mandate check`, `mandate install`, `mandate start {}`, work a session in \
         shadow mode, then `mandate contract draft --from-run RUN` and `mandate replay RUN \
         --contract FILE`; set `mode = \"enforce\"` when the replay refuses nothing in scope",
        contract.strip_prefix(&root).unwrap_or(&contract).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Walk the tree once and sort what it holds.
fn survey(root: &Path) -> Findings {
    let mut findings = Findings::default();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&relative)) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if findings.files_seen >= MAX_FILES {
                return findings;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            let path = relative.join(&name);
            let rel = path.to_string_lossy().replace('\\', "/");
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if SKIP_DIRS.contains(&name.as_str()) {
                    continue;
                }
                sort_dir(&mut findings, &rel, &name, relative.as_os_str().is_empty());
                stack.push(path);
            } else if kind.is_file() {
                findings.files_seen += 1;
                sort_file(&mut findings, root, &rel, &name);
            }
        }
    }
    findings
}

/// Folders whose name says they hold infrastructure or deployment: a write block.
const INFRA_DIRS: &[&str] = &[
    "terraform",
    "infra",
    "infrastructure",
    "k8s",
    "kubernetes",
    "helm",
    "deploy",
    "deployment",
    "ansible",
    "charts",
];
/// Folders of database migrations: a stop.
const SCHEMA_DIRS: &[&str] = &["migrations", "migrate", "alembic"];
/// Top-level folders of data: a read block.
const DATA_DIRS: &[&str] = &["data", "dumps", "backups", "customer_data", "exports"];
/// Other top-level folders that are not the code the agent works on.
const NOT_CODE_DIRS: &[&str] = &["config", "secrets", "fixtures"];

fn sort_dir(findings: &mut Findings, rel: &str, name: &str, top: bool) {
    let lower = name.to_ascii_lowercase();
    let is = |names: &[&str]| names.contains(&lower.as_str());
    if is(INFRA_DIRS) {
        findings.infra.insert(format!("{rel}/**"));
    } else if is(SCHEMA_DIRS) {
        findings.schema.insert(format!("{rel}/**"));
    } else if top && is(DATA_DIRS) {
        findings.data.insert(format!("{rel}/**"));
    } else if matches!(lower.as_str(), ".circleci" | ".buildkite") || rel == ".github/workflows" {
        findings.ci.insert(format!("{rel}/**"));
    }
    // Every folder sorted above, and the few others named here, is not the write scope.
    let not_code = [INFRA_DIRS, SCHEMA_DIRS, DATA_DIRS, NOT_CODE_DIRS]
        .iter()
        .any(|names| is(names));
    if top && !lower.starts_with('.') && !not_code {
        findings.code_dirs.insert(rel.to_string());
    }
}

fn sort_file(findings: &mut Findings, root: &Path, rel: &str, name: &str) {
    let lower = name.to_ascii_lowercase();
    let extension = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let segments: Vec<&str> = rel.split('/').collect();
    let covered = SECRET_GLOBS.iter().find(|(glob, _)| {
        mandate_policy::glob::PathGlob::new(glob).is_ok_and(|g| g.matches(&segments))
    });
    if let Some((glob, why)) = covered {
        findings
            .covered_secrets
            .push(format!("{rel}: {why} (`{glob}`)"));
    } else {
        let named = !CODE_EXTENSIONS.contains(&extension)
            && (lower.contains("secret")
                || lower.contains("credential")
                || lower.contains("passw"));
        if named {
            findings.secrets.push((
                rel.to_string(),
                "its name says it holds secrets".to_string(),
            ));
        } else if holds_credential(&root.join(rel)) {
            findings.secrets.push((
                rel.to_string(),
                "its content holds what looks like a credential".to_string(),
            ));
        }
    }
    if (lower.starts_with("dockerfile") || lower.starts_with("docker-compose") || extension == "tf")
        && !findings.infra.iter().any(|d| covers(d, rel))
    {
        findings.infra.insert(rel.to_string());
    }
    if matches!(
        lower.as_str(),
        ".gitlab-ci.yml" | "jenkinsfile" | "azure-pipelines.yml" | "bitbucket-pipelines.yml"
    ) {
        findings.ci.insert(rel.to_string());
    }
    if lower == "schema.sql" || lower == "schema.prisma" || lower == "structure.sql" {
        findings.schema.insert(format!("**/{name}"));
    }
    if matches!(extension, "dump" | "bak") || lower.ends_with(".sql.gz") {
        findings.data.insert(rel.to_string());
    }
    if rel.starts_with("fixtures/prod") || rel.contains("/fixtures/prod") {
        findings.data.insert(rel.to_string());
    }
    // Test runners and linters, declared at the root or in a project folder below it.
    if rel.matches('/').count() <= 1 {
        let text = || std::fs::read_to_string(root.join(rel)).unwrap_or_default();
        match lower.as_str() {
            "pyproject.toml" | "setup.cfg" | "pytest.ini" | "tox.ini" => {
                let text = text();
                if lower == "pytest.ini" || text.contains("pytest") {
                    add_command(findings, "pytest *", rel);
                }
                if text.contains("[tool.ruff") {
                    add_command(findings, "ruff check *", rel);
                }
                if text.contains("[tool.mypy") || text.contains("[mypy") {
                    add_command(findings, "mypy *", rel);
                }
            }
            "ruff.toml" | ".ruff.toml" => add_command(findings, "ruff check *", rel),
            "package.json" => package_scripts(findings, &text(), rel),
            "go.mod" => {
                add_command(findings, "go test *", rel);
                add_command(findings, "go vet *", rel);
            }
            "cargo.toml" => {
                add_command(findings, "cargo test*", rel);
                add_command(findings, "cargo clippy*", rel);
            }
            "makefile" | "gnumakefile" => {
                let text = text();
                for target in ["test", "lint", "check"] {
                    if text.lines().any(|l| l.starts_with(&format!("{target}:"))) {
                        add_command(findings, &format!("make {target}"), rel);
                    }
                }
            }
            _ => {}
        }
    }
}

fn package_scripts(findings: &mut Findings, text: &str, rel: &str) {
    let Ok(package) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    if let Some(scripts) = package.get("scripts").and_then(|s| s.as_object()) {
        for name in ["test", "lint", "typecheck", "check"] {
            if scripts.contains_key(name) {
                let command = if name == "test" {
                    "npm test".to_string()
                } else {
                    format!("npm run {name}")
                };
                add_command(findings, &command, rel);
            }
        }
    }
    let has_dependency = |name: &str| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|key| package.get(key).and_then(|d| d.get(name)).is_some())
    };
    for (tool, command) in [
        ("jest", "npx jest *"),
        ("vitest", "npx vitest *"),
        ("eslint", "npx eslint *"),
        ("typescript", "npx tsc *"),
    ] {
        if has_dependency(tool) {
            add_command(findings, command, rel);
        }
    }
}

fn add_command(findings: &mut Findings, command: &str, from: &str) {
    if !findings.commands.iter().any(|(c, _)| c == command) {
        findings
            .commands
            .push((command.to_string(), format!("declared in `{from}`")));
    }
}

/// Whether `folder_glob` (`dir/**`) already covers `rel`.
fn covers(folder_glob: &str, rel: &str) -> bool {
    folder_glob
        .strip_suffix("/**")
        .is_some_and(|dir| rel.starts_with(&format!("{dir}/")))
}

/// The entries no other entry's folder already covers.
fn without_covered(items: &BTreeSet<String>) -> Vec<String> {
    items
        .iter()
        .filter(|item| {
            let item = item.strip_suffix("/**").unwrap_or(item);
            !items.iter().any(|other| covers(other, item))
        })
        .cloned()
        .collect()
}

/// A small text file whose content the record's redaction would redact.
fn holds_credential(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.len() > MAX_SCAN_BYTES {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    mandate_record::redact::redact_str(&text).is_some()
}

fn toml_list(items: &[String]) -> String {
    if items.is_empty() {
        return "[]".to_string();
    }
    let mut out = String::from("[\n");
    for item in items {
        let _ = writeln!(out, "  {},", toml_string(item));
    }
    out.push(']');
    out
}

fn toml_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn policy_toml(findings: &Findings, user: &str) -> String {
    let mut read: Vec<String> = SECRET_GLOBS.iter().map(|(g, _)| g.to_string()).collect();
    read.extend(findings.secrets.iter().map(|(path, _)| path.clone()));
    read.extend(findings.data.iter().cloned());
    let mut write: Vec<String> = findings.ci.iter().cloned().collect();
    write.extend(without_covered(&findings.infra));
    let user = toml_string(user);
    format!(
        "# mandate.toml: this repository's policy, written by `mandate init` from what the\n\
         # repository holds (the reasons are in `mandate init`'s output). Review it like code.\n\
         version = 1\n\
         # shadow: every call is judged and recorded, nothing is refused yet. Switch to\n\
         # \"enforce\" once `mandate replay` shows the contract fits a real session.\n\
         mode = \"shadow\"\n\
         default = \"deny\"\n\
         \n\
         [authority]\n\
         delegators = [{user}]\n\
         agents = [\"claude-code\"]\n\
         reviewers = {{ owners = [{user}] }}\n\
         risk_acceptors = [{user}]\n\
         kill_switch = [{user}]\n\
         \n\
         [block]\n\
         # secrets (by name and by content) and data the agent must never read\n\
         read = {}\n\
         # CI, infrastructure and deployment: changed by people, not by the agent\n\
         write = {}\n\
         execute = [\"curl * | sh*\", \"wget * | sh*\", \"git push*\"]\n\
         call = []\n\
         expose = []\n\
         \n\
         [records]\n\
         dir = \"~/.local/share/mandate\"\n\
         retention_days = 400\n",
        toml_list(&read),
        toml_list(&write),
    )
}

fn contract_toml(findings: &Findings, user: &str) -> String {
    let code: Vec<String> = findings
        .code_dirs
        .iter()
        .map(|dir| format!("{dir}/**"))
        .collect();
    let commands: Vec<String> = findings.commands.iter().map(|(c, _)| c.clone()).collect();
    let schema: Vec<String> = findings.schema.iter().cloned().collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "# A starting contract written by `mandate init`: one task's box. Name the task, then\n\
         # narrow the box to it (or let `mandate contract draft --from-run RUN` do that).\n\
         version = 1\n\
         \n\
         [task]\n\
         id = \"TASK-1\"\n\
         request = \"Describe the task the agent is asked to do.\"\n\
         delegated_by = {user}\n\
         agent = \"claude-code\"\n\
         risk_owner = {user}\n\
         \n\
         [allow]\n\
         read = [\"**\"]\n\
         # the folders holding code and tests\n\
         write = {}\n\
         # the test runners and linters the repository declares\n\
         execute = {}\n\
         call = []\n\
         expose = []\n\
         \n\
         [evidence]\n\
         require = [\"tests\", \"assumptions\"]\n",
        toml_list(&code),
        toml_list(&commands),
        user = toml_string(user),
    );
    if !schema.is_empty() {
        let _ = write!(
            out,
            "\n[[stop]]\nreason = \"the change needs a schema or migration change\"\nwrite = {}\n",
            toml_list(&schema)
        );
    }
    // Examples are checked whenever the contract loads: a secret stays unreadable.
    if let Some((secret, _)) = findings.secrets.first() {
        let _ = write!(
            out,
            "\n[[example]]\ntool = \"Read\"\ninput = {{ file_path = {} }}\nexpect = \"deny\"\n",
            toml_string(secret)
        );
    }
    out
}

fn report(findings: &Findings) -> String {
    let mut out = format!(
        "mandate init looked at {} files of this repository.\n",
        findings.files_seen
    );
    let section = |out: &mut String, title: &str, items: Vec<String>| {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for item in items {
            let _ = writeln!(out, "  {item}");
        }
    };
    section(
        &mut out,
        "secrets, unreadable to the agent (policy [block] read)",
        findings
            .secrets
            .iter()
            .map(|(path, why)| format!("{path}: {why}"))
            .chain(findings.covered_secrets.iter().cloned())
            .chain(std::iter::once(
                "and, wherever they appear later: .env files, secrets folders, keys, \
                 Terraform variables and state, registry and cloud credentials"
                    .to_string(),
            ))
            .collect(),
    );
    section(
        &mut out,
        "data, unreadable to the agent (policy [block] read)",
        findings.data.iter().cloned().collect(),
    );
    section(
        &mut out,
        "CI, not writable by the agent (policy [block] write)",
        findings.ci.iter().cloned().collect(),
    );
    section(
        &mut out,
        "infrastructure and deployment, not writable by the agent (policy [block] write)",
        without_covered(&findings.infra),
    );
    section(
        &mut out,
        "migrations and schemas: writing one stops the run (contract [[stop]])",
        findings.schema.iter().cloned().collect(),
    );
    section(
        &mut out,
        "commands the agent may run (contract [allow] execute)",
        findings
            .commands
            .iter()
            .map(|(command, from)| format!("{command}: {from}"))
            .collect(),
    );
    section(
        &mut out,
        "folders the agent may change (contract [allow] write)",
        findings.code_dirs.iter().map(|d| format!("{d}/")).collect(),
    );
    out
}
