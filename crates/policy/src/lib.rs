//! mandate's policy core: the v1 file formats, their validation, path and command
//! normalisation, and the evaluation of one tool call against a policy and a contract.
//!
//! Pure: no I/O and no async. What the evaluator needs from the file system (symbolic
//! links, what a glob names, what a folder holds) it asks through the [`Fs`] trait, so
//! the same code runs in the hook, in `mandate explain`, in contract examples and in
//! tests.
//!
//! ```text
//! tool call ──tools──▶ touches ──engine──▶ judged touches ──▶ verdict (decision, rules, reason)
//! ```

pub mod carried;
pub mod decision;
pub mod engine;
pub mod format;
pub mod glob;
pub mod mandate_verb;
pub mod path;
pub mod tools;
pub mod url_target;

pub use decision::{ApprovalNeed, Decision, JudgedTouch, Kind, Touch, Verdict};
pub use engine::{
    ArchiveEntry, Call, CleanFs, Context, Engine, EntryKind, Fs, NoFs, PROTECTED_NAME_RULE,
    PROTECTED_NAMES, Sources, TestInvocation, is_literal_pattern, protected_names_by_glob,
    split_mcp_name,
};
pub use format::{Contract, FormatError, Mode, Policy, parse_contract, parse_policy};
pub use mandate_shell::ArchiveFormat;

/// Changes whenever the source of the policy and contract formats changes (see
/// `build.rs`): part of the key of every cached parse.
pub const FORMAT_FINGERPRINT: &str = env!("MANDATE_FORMAT_FINGERPRINT");

use std::path::Path;

/// An `[[example]]` of a contract that the contract misjudges.
#[derive(Debug, Clone)]
pub struct ExampleFailure {
    pub index: usize,
    pub tool: String,
    pub expected: Decision,
    pub got: Decision,
    pub reason: String,
}

impl Engine {
    /// Run the contract's `[[example]]` cases; each returned failure is a misjudged case.
    pub fn check_examples(&self, fs: &dyn Fs) -> Vec<ExampleFailure> {
        let Some(contract) = self.contract() else {
            return Vec::new();
        };
        let mut failures = Vec::new();
        for (index, example) in contract.example.iter().enumerate() {
            let input = serde_json::to_value(&example.input).unwrap_or_default();
            let cwd = match &example.cwd {
                Some(dir) => path::absolutize(self.root(), dir, None),
                None => self.root().to_path_buf(),
            };
            let call = Call {
                tool: &example.tool,
                input: &input,
                cwd: &cwd,
            };
            let verdict = self.judge(&call, &Context::default(), fs);
            if verdict.decision != example.expect {
                failures.push(ExampleFailure {
                    index,
                    tool: example.tool.clone(),
                    expected: example.expect,
                    got: verdict.decision,
                    reason: verdict.reason,
                });
            }
        }
        failures
    }
}

/// Build an engine from policy and contract text: the short path for tests and tools
/// that hold the files in memory. `root` is the repository root.
pub fn engine_from_text(
    policy: &str,
    contract: Option<&str>,
    root: &Path,
) -> Result<Engine, FormatError> {
    let policy_path = root.join("mandate.toml");
    let policy = parse_policy(&policy_path, policy)?;
    let contract_path = root.join(".mandate/contracts/contract.toml");
    let contract = match contract {
        Some(text) => Some(parse_contract(&contract_path, text)?),
        None => None,
    };
    Engine::new(&Sources {
        org: None,
        repo: (&policy_path, &policy),
        contract: contract.as_ref().map(|c| (contract_path.as_path(), c)),
        root,
        home: None,
        protected: &[],
    })
}
