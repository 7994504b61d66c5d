//! `mandate`: the command line. Thin: parse, dispatch, map results to exit codes.
//!
//! Exit codes: 0 success; 1 the thing checked failed; 2 usage or internal error. The hook
//! (`mandate hook claude-code`) follows Claude Code's contract instead, and is dispatched
//! before argument parsing so it pays for nothing it does not use.
//!
//! There is no Rust `main`: the C `main` below is the entry point (see [`main`]).
#![cfg_attr(not(test), no_main)]

mod agent_hook;
mod approvals;
mod changes;
mod check;
mod demo;
mod draft;
mod event_index;
mod incident;
#[cfg(test)]
mod index_parity;
mod init;
mod install;
mod install_agents;
mod killswitch;
mod mcp;
mod metrics;
mod pipe;
mod push;
mod readiness;
mod readiness_agents;
mod record;
mod report_html;
mod run;
mod sandbox;
mod serve;
mod token;
mod uninstall;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mandate_claude_code::{HookArgs, Outcome, run_hook};

/// The exit codes, shown at the end of `mandate --help`.
const EXIT_CODES: &str = "Exit codes:
  0  success
  1  the thing checked failed: a record that does not verify, a check with failing
     examples, readiness not met, `explain --exit-code` on a call that would be refused,
     `replay` when a call the run made would now be refused, `status` with no run
  2  usage or internal error
`mandate hook AGENT` answers in the agent's own protocol and exit codes instead.";

#[derive(Parser)]
#[command(
    name = "mandate",
    version,
    about = "Task contracts for coding agents: enforced on every tool call, with a tamper-evident run record.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum ContractCommand {
    /// The smallest contract that allows what a run (shadow or enforce) did, keeping every
    /// block; written to .mandate/contracts/ID.toml with what it would still refuse.
    Draft {
        /// The run to draft from.
        #[arg(long)]
        from_run: String,
        /// The task id of the draft (default: the run's task id with `-draft`).
        #[arg(long)]
        id: Option<String>,
        /// The task request of the draft (default: the run's).
        #[arg(long)]
        request: Option<String>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Write mandate.toml and a starting contract that fit this repository (its secrets,
    /// infrastructure, CI, migrations, data and test commands).
    Init,
    /// Validate the policy and contracts and run their examples.
    Check {
        /// A contract to check (default: every contract in .mandate/contracts).
        file: Option<PathBuf>,
        /// Print JSON: each file checked, its examples, warnings and problems.
        #[arg(long)]
        json: bool,
    },
    /// Judge one tool call as the hook would, recording nothing.
    Explain {
        /// The contract to judge against (default: the active one).
        #[arg(long)]
        contract: Option<PathBuf>,
        /// Print JSON: decision, rules, reason, touches.
        #[arg(long)]
        json: bool,
        /// Exit 1 when the call would not be allowed (deny, ask or stop).
        #[arg(long)]
        exit_code: bool,
        /// Tool name, e.g. Read, Bash, mcp__jira__get_issue.
        tool: String,
        /// Tool input as JSON, e.g. '{"file_path": ".env"}'.
        input: String,
    },
    /// Write Claude Code hooks and native deny rules for this repository.
    Install {
        /// Write the managed settings file users cannot override.
        #[arg(long)]
        managed: bool,
        /// The mandate binary the hooks run (default: this one).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Allow a binary the agent could replace (inside the repository or in a
        /// world-writable folder).
        #[arg(long)]
        allow_unsafe_binary: bool,
        /// The agent: `claude-code` (default), `codex`, `gemini`, `copilot`, `cursor`, or
        /// `all` for every one found on PATH.
        #[arg(long, default_value = "claude-code")]
        agent: String,
    },
    /// Take out what `mandate install` wrote for an agent: its hook entries, native deny
    /// rules, sandbox settings, rules and policy files. Other settings stay.
    Uninstall {
        /// The agent: `claude-code` (default), `codex`, `gemini`, `copilot`, `cursor`, or
        /// `all`.
        #[arg(long, default_value = "claude-code")]
        agent: String,
        /// Take them out of the managed (system) settings that `install --managed` wrote.
        #[arg(long)]
        managed: bool,
    },
    /// Bind a contract to this workspace and open a run.
    Start {
        /// The contract file, e.g. .mandate/contracts/PAY-7.toml.
        contract: PathBuf,
        /// Print JSON: the run id, contract, record folder and sandbox settings written.
        #[arg(long)]
        json: bool,
    },
    /// Show the active run (exit 1 when there is none).
    Status {
        /// Print JSON: the run, its state, stop, record gaps and evidence on record.
        #[arg(long)]
        json: bool,
    },
    /// Close the active run and seal its record.
    Finish {
        /// Print JSON: the run, whether it is complete, the evidence missing, the seal.
        #[arg(long)]
        json: bool,
    },
    /// Record evidence for the active run (the only verb the agent may run).
    Evidence {
        #[command(subcommand)]
        kind: run::EvidenceCommand,
    },
    /// The five touch kinds, declared by the contract and observed in the record.
    TouchMap {
        /// The run (default: the workspace's most recent).
        run: Option<String>,
        /// List every observed target inside the box, not just how many.
        #[arg(long)]
        observed: bool,
        /// Text, JSON, or one self-contained HTML page.
        #[arg(long, value_enum, default_value = "text")]
        format: report_html::ReportFormat,
        /// Same as `--format json`.
        #[arg(long)]
        json: bool,
    },
    /// The rollout questions answered from the policy, contracts and records (exit 1
    /// while the rollout is still an experiment).
    Readiness {
        /// Text, JSON, or one self-contained HTML page.
        #[arg(long, value_enum, default_value = "text")]
        format: report_html::ReportFormat,
        #[command(flatten)]
        scope: metrics::RepoScope,
    },
    /// Which recorded tool calls changed this file, under which contract, and what the
    /// agent had read or fetched just before.
    Why {
        /// The file (relative to where you are, or absolute).
        path: String,
        /// Print JSON: every change and attempt, with its run, repository and context.
        #[arg(long)]
        json: bool,
        /// Ask the team server (records.server) instead: every machine's pushed records,
        /// for this path in the repository.
        #[arg(long)]
        server: bool,
        #[command(flatten)]
        scope: metrics::RepoScope,
    },
    /// Did any agent read, write, run, call or send anything in this area, allowed or refused?
    Touched {
        /// A path glob (relative to the repository, or absolute), a tool name pattern
        /// (`mcp__jira__*`) or a host pattern.
        glob: String,
        /// Only touches on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Print JSON: the counts, every run, and the touches listed with their run,
        /// repository, decision and outcome.
        #[arg(long)]
        json: bool,
        /// List every touch, not only the latest 50 (the counts and runs cover all).
        #[arg(long)]
        all: bool,
        /// Ask the team server (records.server) instead: every machine's pushed records.
        #[arg(long)]
        server: bool,
        #[command(flatten)]
        scope: metrics::RepoScope,
    },
    /// Search the recorded tool calls: by path glob, command, tool, MCP server, user,
    /// agent, decision (shadow-mode `would_deny` apart) and time, a page at a time.
    Events {
        #[command(flatten)]
        filter: EventFilter,
        /// The page (50 events each, newest first); JSON and CSV carry every match.
        #[arg(long, default_value_t = 1)]
        page: usize,
        /// Text (one page), JSON or CSV (every match).
        #[arg(long, value_enum, default_value = "text")]
        format: incident::EventsFormat,
        /// Ask the team server (records.server) instead: every machine's pushed records.
        #[arg(long)]
        server: bool,
        #[command(flatten)]
        scope: metrics::RepoScope,
    },
    /// Rollout metrics over the runs of this repository (or `--repo`, `--all-repos`): decisions, denials, approvals, stops, unguarded
    /// calls, box-moved touches, evidence, tests, reviews, MCP use, kill switch.
    Metrics {
        /// Only events on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Text, JSON, or one self-contained HTML page.
        #[arg(long, value_enum, default_value = "text")]
        format: report_html::ReportFormat,
        #[command(flatten)]
        scope: metrics::RepoScope,
    },
    /// The run records and their evidence.
    Record {
        #[command(subcommand)]
        command: record::RecordCommand,
    },
    /// Record the reviewer's decision on a run.
    Review {
        /// The run (default: the workspace's most recent).
        run: Option<String>,
        /// The decision: approve, reject or request-changes.
        #[arg(long, value_enum)]
        decision: record::ReviewDecision,
        /// What the decision rests on, for the record.
        #[arg(long)]
        note: String,
    },
    /// Turn off an MCP server, one tool (`server/tool`) or a touch kind, at once.
    Disable {
        /// A registry server, `server/tool`, or read|write|execute|call|expose.
        target: String,
        /// Why, for the record and the people who see the refusals.
        #[arg(long)]
        reason: String,
    },
    /// Turn a kill-switch target back on.
    Enable {
        /// The target as it was disabled (`jira`, `jira/create_issue`, `expose`, …).
        target: String,
        /// Why it is safe again, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// What is off: the kill switch, the registry, and drifted MCP tools.
    Disabled {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pending named-reviewer approval requests.
    Approvals {
        /// Print JSON: every request with its call, diff, reviewers and status.
        #[arg(long)]
        json: bool,
        /// Include approved, used and denied requests.
        #[arg(long)]
        all: bool,
    },
    /// Approve one held call (a member of its reviewer group, not the delegating user).
    Approve {
        /// The request id, as `mandate approvals` lists it.
        id: String,
        /// Cover the same call for the rest of the run, not just once.
        #[arg(long)]
        for_run: bool,
    },
    /// Refuse one held call; it stays refused.
    Deny {
        /// The request id, as `mandate approvals` lists it.
        id: String,
        /// Why, for the record and the agent that asked.
        #[arg(long)]
        reason: String,
    },
    /// MCP servers: scan the configuration, pin and verify tool definitions.
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCommand,
    },
    /// The hook entry point Claude Code runs.
    ///
    /// Reads the agent's hook event as JSON on stdin and answers on stdout in that agent's
    /// wire format and exit codes (not mandate's); `mandate install` writes the commands
    /// that run it.
    Hook {
        /// The agent: `claude-code`, `codex`, `gemini`, `copilot` or `cursor`.
        agent: String,
        /// The repository root the hooks were installed for.
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// The team server: records, approvals, kill switch, dashboards (runs `mandate-server`).
    Serve {
        /// Address to listen on (default 127.0.0.1:8417).
        #[arg(long)]
        listen: Option<String>,
        /// `postgres://…` for teams (default: a SQLite file in the records directory).
        #[arg(long)]
        database_url: Option<String>,
        /// Serve HTTPS with this certificate chain (PEM, leaf first).
        #[arg(long, requires = "tls_key", value_name = "PEM")]
        tls_cert: Option<String>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert", value_name = "PEM")]
        tls_key: Option<String>,
        /// Send every event on as it arrives (repeatable): `otlp=URL` (OpenTelemetry logs,
        /// OTLP/HTTP protobuf), `ocsf=FILE` or `ocsf=URL` (OCSF JSON lines). A destination
        /// that is down is retried; nothing is lost or sent twice.
        #[arg(long = "export", value_name = "KIND=DEST")]
        exports: Vec<String>,
        /// Post approvals that wait and kill-switch changes to this chat webhook URL.
        #[arg(long, value_name = "URL")]
        webhook: Option<String>,
        /// A header for one kind of receiver (repeatable): `otlp=Authorization: Bearer
        /// TOKEN`, `ocsf=…`, `webhook=…`; `$MANDATE_EXPORT_HEADERS` (one per line, read by
        /// the server) keeps secrets off the command line.
        #[arg(long = "export-header", value_name = "KIND=NAME: VALUE")]
        export_headers: Vec<String>,
    },
    /// API tokens for the team server.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Push run records the team server (records.server) does not hold yet.
    Push {
        /// Keep pushing while new entries arrive (what the hook starts).
        #[arg(long)]
        background: bool,
        /// The record store to push (default: records.dir of this repository's policy).
        #[arg(long)]
        records_dir: Option<String>,
        /// The team server's URL (default: records.server).
        #[arg(long)]
        server: Option<String>,
        /// The CA (PEM) the server's certificate must chain to (default: records.server_ca,
        /// else the system's roots).
        #[arg(long)]
        server_ca: Option<String>,
    },
    /// Shell completions, generated from this command line's definition
    /// (`mandate completions bash > /etc/bash_completion.d/mandate`).
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The man page (roff), generated from this command line's definition
    /// (`mandate man > ~/.local/share/man/man1/mandate.1`).
    Man {
        /// Write every page (mandate.1 and one per subcommand, mandate-start.1, …) into
        /// this folder instead of printing mandate.1.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Contracts written from observed work.
    Contract {
        #[command(subcommand)]
        command: ContractCommand,
    },
    /// Judge every recorded call of a run again under another contract; exit 1 if a call
    /// the run was allowed to make would now be refused.
    Replay {
        /// The run (its id, as `mandate record list` shows it).
        run: String,
        /// The contract to judge under.
        #[arg(long)]
        contract: PathBuf,
        /// Print JSON: every call judged differently, and how many were newly refused.
        #[arg(long)]
        json: bool,
    },
    /// A self-contained walk through the billing example.
    Demo {
        /// Keep the demo repository instead of deleting it.
        #[arg(long)]
        keep: bool,
    },
}

/// The process entry point, in place of Rust's runtime start-up.
///
/// The hook is a fresh process on every tool call, and Rust's start-up (the main thread's
/// stack guard, which reads and parses `/proc/self/maps`, and the signal stack: about a
/// dozen system calls) cost 40-60 us of a ~1.5 ms call (`scripts/bench.sh`). What of it
/// matters is done here: file descriptors 0-2 are made sure to be open (so a file opened
/// later never lands on a closed stdout), `SIGPIPE` is ignored as Rust programs expect
/// (a write to a closed pipe or socket, such as a team server that hangs up, is an error
/// to handle, not the end of the process), a panic that escapes becomes exit status 101,
/// and stdout is flushed before the process ends. Arguments and the environment come from
/// the C library as usual.
#[cfg(not(test))]
#[allow(unsafe_code)] // `no_mangle` is `unsafe` in edition 2024, and see `ignore_sigpipe`.
#[unsafe(no_mangle)]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    ensure_std_fds();
    ignore_sigpipe();
    let code = std::panic::catch_unwind(run).unwrap_or_else(|_| ExitCode::from(101));
    let _ = std::io::stdout().flush();
    std::ffi::c_int::from(status(code))
}

/// What Rust's start-up does for `SIGPIPE`: ignore it, so writes return `EPIPE`.
#[cfg(not(test))]
#[allow(unsafe_code)]
fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code and runs
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

#[cfg_attr(test, allow(dead_code))]
/// The number an `ExitCode` stands for (std has no stable way to read it back).
fn status(code: ExitCode) -> u8 {
    (0..=u8::MAX)
        .find(|n| ExitCode::from(*n) == code)
        .unwrap_or(2)
}

#[cfg_attr(test, allow(dead_code))]
/// Open `/dev/null` on any of file descriptors 0, 1 and 2 that is closed, as Rust's own
/// start-up does: otherwise the next file opened (the run log) would become stdout.
fn ensure_std_fds() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    // Each open takes the lowest free descriptor: one above 2 means all three are open.
    while let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        if null.as_raw_fd() > 2 {
            break;
        }
        // It fills a closed standard descriptor: keep it open for the life of the process.
        let _ = null.into_raw_fd();
    }
}

#[cfg_attr(test, allow(dead_code))]
fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `mandate hook --help` is a person asking, not an agent's event: clap answers it.
    let asks_help = args.iter().skip(2).any(|a| a == "--help" || a == "-h");
    if args.get(1).map(String::as_str) == Some("hook") && !asks_help {
        return hook(&args);
    }
    command()
}

/// Every command but the hook. Kept out of line, so that the hook's code and this
/// function's (the whole command line, ~100 KB of code) never share pages.
#[cfg_attr(test, allow(dead_code))]
#[inline(never)]
fn command() -> ExitCode {
    pipe::quiet_broken_pipe();
    let cli = Cli::parse();
    // Commands that may append to a run record push it in the background afterwards.
    // Commands after which this machine's own readiness checks go to the team server
    // with the next sync (a run starts, hooks change, someone asks).
    let sets_up = matches!(
        cli.command,
        Command::Start { .. } | Command::Install { .. } | Command::Readiness { .. }
    );
    let may_record = matches!(
        cli.command,
        Command::Start { .. }
            | Command::Finish { .. }
            | Command::Evidence { .. }
            | Command::Review { .. }
            | Command::Record { .. }
            | Command::Approve { .. }
            | Command::Deny { .. }
    );
    let result = match cli.command {
        Command::Init => init::init(),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "mandate",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir: Some(dir) } => {
            use clap::CommandFactory;
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir))
                .map(|()| {
                    println!("man pages written to {}", dir.display());
                    ExitCode::SUCCESS
                })
                .map_err(|e| {
                    anyhow::anyhow!("cannot write the man pages into {}: {e}", dir.display())
                })
        }
        Command::Man { dir: None } => {
            use clap::CommandFactory;
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .and_then(|()| std::io::stdout().write_all(&page))
                .map(|()| ExitCode::SUCCESS)
                .map_err(anyhow::Error::from)
        }
        Command::Contract {
            command:
                ContractCommand::Draft {
                    from_run,
                    id,
                    request,
                },
        } => draft::draft(&from_run, id.as_deref(), request.as_deref()),
        Command::Replay {
            run,
            contract,
            json,
        } => draft::replay(&run, &contract, json),
        Command::Check { file, json } => check::check(file.as_deref(), json),
        Command::Explain {
            contract,
            json,
            exit_code,
            tool,
            input,
        } => check::explain(contract.as_deref(), json, exit_code, &tool, &input),
        Command::Install {
            managed,
            binary,
            allow_unsafe_binary,
            agent,
        } => install_agent(&agent, managed, binary, allow_unsafe_binary),
        Command::Uninstall { agent, managed } => uninstall::uninstall(&agent, managed),
        Command::Start { contract, json } => run::start(&contract, json),
        Command::Status { json } => run::status(json),
        Command::Finish { json } => run::finish(json),
        Command::Evidence { kind } => run::evidence(kind),
        Command::TouchMap {
            run,
            observed,
            format,
            json,
        } => {
            let format = if json {
                report_html::ReportFormat::Json
            } else {
                format
            };
            run::touch_map(run.as_deref(), observed, format)
        }
        Command::Readiness { format, scope } => readiness::readiness(format, &scope),
        Command::Why {
            path,
            json,
            server,
            scope,
        } => incident::why_command(&path, json, &scope, server),
        Command::Touched {
            glob,
            since,
            json,
            all,
            server,
            scope,
        } => incident::touched_command(&glob, since.as_deref(), json, all, &scope, server),
        Command::Events {
            filter,
            page,
            format,
            server,
            scope,
        } => incident::events_command(filter.into_query(), page, format, &scope, server),
        Command::Metrics {
            since,
            format,
            scope,
        } => metrics::metrics(since.as_deref(), format, &scope),
        Command::Record { command } => record::record(command),
        Command::Review {
            run,
            decision,
            note,
        } => record::review(run.as_deref(), decision, &note),
        Command::Disable { target, reason } => killswitch::disable(&target, &reason),
        Command::Enable { target, reason } => killswitch::enable(&target, reason.as_deref()),
        Command::Disabled { json } => killswitch::disabled(json),
        Command::Approvals { json, all } => approvals::list(json, all),
        Command::Approve { id, for_run } => approvals::approve(&id, for_run),
        Command::Deny { id, reason } => approvals::deny(&id, &reason),
        Command::Mcp { command } => mcp::run(command),
        Command::Hook { .. } => Ok(ExitCode::from(2)),
        Command::Demo { keep } => demo::demo(keep),
        Command::Serve {
            listen,
            database_url,
            tls_cert,
            tls_key,
            exports,
            webhook,
            export_headers,
        } => serve::serve(
            listen.as_deref(),
            database_url.as_deref(),
            tls_cert.as_deref().zip(tls_key.as_deref()),
            &exports,
            webhook.as_deref(),
            &export_headers,
        ),
        Command::Token { command } => token::token(command),
        Command::Push {
            background,
            records_dir,
            server,
            server_ca,
        } => push::push(
            background,
            records_dir.as_deref(),
            server.as_deref(),
            server_ca.as_deref(),
        ),
    };
    if sets_up {
        readiness::keep_for_server();
    }
    if may_record && matches!(&result, Ok(code) if *code == ExitCode::SUCCESS) {
        push::after_command();
    }
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("mandate: {}", error_message(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each said once: most errors already name their
/// cause in their own message (`cannot read `x`: No such file…`), and anyhow's chain
/// would repeat it.
fn error_message(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// `mandate install --agent NAME`: Claude Code's installer or another agent's.
fn install_agent(
    agent: &str,
    managed: bool,
    binary: Option<PathBuf>,
    allow_unsafe: bool,
) -> anyhow::Result<ExitCode> {
    if agent == "claude-code" {
        return install::install(managed, binary, allow_unsafe);
    }
    if agent == "all" {
        let on_path = |program: &str| {
            std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
            })
        };
        let mut any = false;
        if on_path("claude") {
            install::install(managed, binary.clone(), allow_unsafe)?;
            any = true;
        }
        for other in mandate_agents::Agent::ALL {
            if on_path(install_agents::program(other)) {
                install_agents::install(other, managed, binary.clone(), allow_unsafe)?;
                any = true;
            }
        }
        if !any {
            anyhow::bail!(
                "no agent found on PATH (claude, codex, gemini, copilot, cursor-agent); name one with --agent"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    match mandate_agents::Agent::from_name(agent) {
        Some(other) => install_agents::install(other, managed, binary, allow_unsafe),
        None => anyhow::bail!(
            "unknown agent `{agent}`: use claude-code, codex, gemini, copilot, cursor or all"
        ),
    }
}

/// `mandate hook claude-code [--root DIR]`, without clap: the hot path.
#[inline(never)]
fn hook(args: &[String]) -> ExitCode {
    let mut hook_args = HookArgs::default();
    let agent = args.get(2).map(String::as_str);
    let mut rest = args.iter().skip(3);
    while let Some(arg) = rest.next() {
        if arg == "--root" {
            hook_args.root = rest.next().map(PathBuf::from);
        }
    }
    if let Some(other) = agent.and_then(mandate_agents::Agent::from_name) {
        let args = agent_hook::parse_args(args.get(3..).unwrap_or_default());
        return ExitCode::from(agent_hook::hook(other, &args));
    }
    let outcome = if agent != Some("claude-code") {
        Outcome::unreadable(
            "mandate: `mandate hook` knows these agents: claude-code, codex, gemini, copilot, cursor",
        )
    } else {
        let mut input = Vec::new();
        let limit = mandate_claude_code::hook::MAX_INPUT_BYTES as u64 + 1;
        match std::io::stdin().take(limit).read_to_end(&mut input) {
            Ok(_) => run_hook(&input, &hook_args),
            Err(error) => Outcome::unreadable(&format!(
                "mandate refused this event: cannot read stdin ({error})"
            )),
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(outcome.stdout.as_bytes());
    let _ = stdout.flush();
    if !outcome.stderr.is_empty() {
        let _ = writeln!(std::io::stderr(), "{}", outcome.stderr);
    }
    ExitCode::from(u8::try_from(outcome.exit_code).unwrap_or(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand and argument says what it is for (`mandate help …`, the man page
    /// and the shell completions are generated from these texts).
    #[test]
    fn every_subcommand_and_argument_has_help() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{id}>"));
                }
            }
            for sub in command.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "mandate", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
    }

    #[test]
    fn exit_codes_read_back_as_their_numbers() {
        for n in [0u8, 1, 2, 101, 141, 255] {
            assert_eq!(status(ExitCode::from(n)), n);
        }
        assert_eq!(status(ExitCode::SUCCESS), 0);
        assert_eq!(status(ExitCode::FAILURE), 1);
    }
}

/// The filters of `mandate events` (the team server's `/events` page takes the same).
#[derive(clap::Args, Clone, Debug, Default)]
struct EventFilter {
    /// A path glob (relative to the repository, or absolute); also matches tool names,
    /// hosts and the files a command names.
    #[arg(long)]
    path: Option<String>,
    /// Text the shell command contains.
    #[arg(long)]
    command: Option<String>,
    /// A tool name (`*` matches any run of characters).
    #[arg(long)]
    tool: Option<String>,
    /// An MCP server of the registry.
    #[arg(long)]
    mcp: Option<String>,
    /// The delegating user.
    #[arg(long)]
    user: Option<String>,
    /// The contract's agent, or a subagent's type or id.
    #[arg(long)]
    agent: Option<String>,
    /// allow, ask, deny (with stop), stop, would_deny, would_ask (shadow mode),
    /// refused_by_agent, unguarded.
    #[arg(long)]
    decision: Option<String>,
    /// read, write, execute, call or expose.
    #[arg(long)]
    kind: Option<String>,
    /// One run.
    #[arg(long)]
    run: Option<String>,
    /// On or after (YYYY-MM-DD or RFC 3339, UTC).
    #[arg(long)]
    since: Option<String>,
    /// Before an RFC 3339 time, or up to the end of a YYYY-MM-DD day (UTC).
    #[arg(long)]
    until: Option<String>,
}

impl EventFilter {
    fn into_query(self) -> mandate_search::EventQuery {
        mandate_search::EventQuery {
            path: self.path,
            command: self.command,
            tool: self.tool,
            mcp: self.mcp,
            user: self.user,
            agent: self.agent,
            decision: self.decision,
            kind: self.kind,
            run: self.run,
            since: self.since,
            until: self.until,
            ..mandate_search::EventQuery::default()
        }
    }
}
