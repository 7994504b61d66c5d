//! What each program does with its arguments.
//!
//! One function per family of commands turns a program name and its words into effects
//! (reads, writes, network destinations), says whether those effects are everything the
//! command does (`known`), and hands wrapped commands back to the walker (`sudo X`,
//! `find -exec X`, `bash -c X`). A program this module does not list is unknown: it needs
//! an execute rule. Recursive reads and writes are reported as `DIR/**`, so a rule that
//! could match anything under `DIR` sees them.

use crate::Effect;
use crate::options::{Parsed, Spec, parse};
use crate::sed;
use crate::word::Word;

/// A command the walker must analyse in turn.
#[derive(Clone, Debug)]
pub(crate) enum Inner {
    /// A command given as words (`sudo rm x`), run in `chdir` when set.
    Command {
        words: Vec<Word>,
        chdir: Option<Word>,
    },
    /// A command line given as one string (`bash -c 'rm x'`).
    Script { text: Word },
}

/// What the analyser knows about one simple command.
#[derive(Clone, Debug, Default)]
pub(crate) struct Judgement {
    pub effects: Vec<Effect>,
    /// `effects` is everything the command does.
    pub known: bool,
    /// Reasons this command cannot be analysed, with the part they are about.
    pub opaque: Vec<(Option<String>, String)>,
    pub inner: Vec<Inner>,
    /// A wrapper that only runs its inner command (`nice`, `timeout`): not reported itself.
    pub transparent: bool,
    /// Variables the command sets for its inner commands (`env NAME=value cmd`).
    pub vars: Vec<(String, Word)>,
    /// The command as its tool's spec reads it (`specs.rs`).
    pub invocation: Option<Box<crate::Invocation>>,
}

impl Judgement {
    fn known() -> Judgement {
        Judgement {
            known: true,
            ..Judgement::default()
        }
    }

    fn unknown() -> Judgement {
        Judgement::default()
    }

    pub(crate) fn opaque(&mut self, reason: impl Into<String>) {
        self.opaque.push((None, reason.into()));
    }

    /// A path word: unknown paths are opaque, pipes and device sinks have no effect.
    fn path(&mut self, word: &Word, make: fn(String) -> Effect) {
        if word.pipe || word.text == "-" {
            return;
        }
        if word.unknown {
            self.opaque.push((
                Some(word.text.clone()),
                format!(
                    "the path `{}` is only known when the command runs, so it may name any file",
                    word.text
                ),
            ));
            return;
        }
        if is_device(&word.text) {
            return;
        }
        if let Some(host) = dev_tcp_host(&word.text) {
            self.effects.push(Effect::Network(host));
            return;
        }
        let text = if word.glob {
            widen_brackets(&word.text)
        } else {
            word.text.clone()
        };
        let effect = make(text);
        if !self.effects.contains(&effect) {
            self.effects.push(effect);
        }
    }

    pub(crate) fn read(&mut self, word: &Word) {
        self.path(word, Effect::Read);
    }

    pub(crate) fn write(&mut self, word: &Word) {
        self.path(word, Effect::Write);
    }

    fn read_tree(&mut self, word: &Word) {
        self.read(&tree(word));
    }

    fn write_tree(&mut self, word: &Word) {
        self.write(&tree(word));
    }

    /// An archive or patch unpacked into `into` (the working directory when `None`): the
    /// names it writes are read from the archive by the caller. An archive or folder known
    /// only when the command runs is opaque.
    pub(crate) fn unpack(
        &mut self,
        format: crate::ArchiveFormat,
        archive: Option<&Word>,
        into: Option<&Word>,
        strip: usize,
        members: &[Word],
        flatten: bool,
    ) {
        if let Some(into) = into
            && into.unknown
        {
            self.opaque(format!(
                "the folder `{}` is only known when the command runs",
                into.text
            ));
            return;
        }
        if members.iter().any(|m| m.unknown) {
            self.opaque("the members to unpack are only known when the command runs");
            return;
        }
        let archive = archive
            .filter(|a| !a.unknown && !a.pipe && a.text != "-")
            .map(|a| a.text.clone());
        let effect = Effect::Unpack(crate::Unpack {
            format,
            archive,
            into: into.map_or_else(|| ".".to_string(), |w| w.text.clone()),
            strip,
            members: members.iter().map(|m| m.text.clone()).collect(),
            flatten,
        });
        if !self.effects.contains(&effect) {
            self.effects.push(effect);
        }
    }

    pub(crate) fn network(&mut self, target: &str) {
        let effect = Effect::Network(target.to_string());
        if !self.effects.contains(&effect) {
            self.effects.push(effect);
        }
    }

    /// Options the spec does not list make the command unknown.
    fn unknown_options(&mut self, parsed: &Parsed) {
        if !parsed.unknown.is_empty() {
            self.known = false;
        }
    }
}

/// What one group of a program's options does (see [`Program`]).
#[derive(Clone, Copy)]
enum Role {
    /// Each value is a path read.
    Read,
    /// Each value is a path written.
    Write,
    /// Given at all, the option makes the command opaque, for this reason.
    Opaque(&'static str),
    /// Given at all, the option makes the command need an execute rule.
    Unknown,
}

/// What a program's operands are, when that is all there is to say about them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Operands {
    /// The program's function reads them itself.
    Own,
    /// Each is a path written (`tee`, `truncate`, `mkdir`).
    Written,
}

/// A program's options as data: how they are written (`spec`), and, in the order their
/// effects are reported, what the options do whose values are files or that make the
/// command something the analyser cannot follow. An option `spec` does not list makes the
/// command unknown. What else a program does (output names, archive members) stays in its
/// function, which starts from [`Program::read`].
struct Program {
    /// Whether the command is known before its options are read (`curl` never is).
    known: bool,
    spec: Spec,
    roles: &'static [(&'static [&'static str], Role)],
    operands: Operands,
}

impl Program {
    const fn new(spec: Spec, roles: &'static [(&'static [&'static str], Role)]) -> Program {
        Program {
            known: true,
            spec,
            roles,
            operands: Operands::Own,
        }
    }

    /// The same program, never known by itself (it needs an execute rule).
    const fn unknown(mut self) -> Program {
        self.known = false;
        self
    }

    /// The same program, with operands that are paths written.
    const fn writes_operands(mut self) -> Program {
        self.operands = Operands::Written;
        self
    }

    /// Read `args`: the judgement of the options and operands this table describes, and
    /// the parsed words for the program's own rules.
    fn read(&self, args: &[Word]) -> (Judgement, Parsed) {
        let mut j = if self.known {
            Judgement::known()
        } else {
            Judgement::unknown()
        };
        let parsed = parse(args, self.spec);
        j.unknown_options(&parsed);
        for (names, role) in self.roles {
            match *role {
                Role::Read => parsed.values(names).for_each(|v| j.read(v)),
                Role::Write => parsed.values(names).for_each(|v| j.write(v)),
                Role::Opaque(reason) => {
                    if parsed.has(names) {
                        j.opaque(reason);
                    }
                }
                Role::Unknown => {
                    if parsed.has(names) {
                        j.known = false;
                    }
                }
            }
        }
        if self.operands == Operands::Written {
            parsed.operands.iter().for_each(|o| j.write(o));
        }
        (j, parsed)
    }

    /// [`Program::read`] when the table says everything.
    fn judge(&self, args: &[Word]) -> Judgement {
        self.read(args).0
    }
}

/// `[abc]` → `?`: the same paths and more, in the `*`/`?` glob syntax callers match with.
pub(crate) fn widen_brackets(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            out.push(c);
            continue;
        }
        let rest: String = chars.clone().collect();
        // A bracket expression ends at the first `]` after at least one character.
        match rest.get(1..).and_then(|r| r.find(']')) {
            Some(end) if !rest.get(..end + 1).unwrap_or("").contains('/') => {
                for _ in 0..end + 2 {
                    chars.next();
                }
                out.push('?');
            }
            _ => out.push(c),
        }
    }
    out
}

/// `dir` → `dir/**`: every path under it.
pub(crate) fn tree(word: &Word) -> Word {
    if word.unknown || word.pipe || is_device(&word.text) {
        return word.clone();
    }
    let base = word.text.trim_end_matches('/');
    let text = if base.is_empty() && word.text.starts_with('/') {
        "/**".to_string()
    } else if base.ends_with("/**") || base == "**" {
        base.to_string()
    } else {
        format!("{base}/**")
    };
    Word {
        glob: true,
        ..word.with_text(text)
    }
}

/// Device files that hold no data of the repository.
pub(crate) fn is_device(path: &str) -> bool {
    matches!(
        path,
        "/dev/null"
            | "/dev/stdout"
            | "/dev/stderr"
            | "/dev/stdin"
            | "/dev/tty"
            | "/dev/zero"
            | "/dev/random"
            | "/dev/urandom"
            | "/dev/full"
    ) || path
        .strip_prefix("/dev/fd/")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Bash's `/dev/tcp/HOST/PORT` and `/dev/udp/HOST/PORT` open a socket.
pub(crate) fn dev_tcp_host(path: &str) -> Option<String> {
    let rest = path
        .strip_prefix("/dev/tcp/")
        .or_else(|| path.strip_prefix("/dev/udp/"))?;
    Some(rest.split('/').next().unwrap_or(rest).to_string())
}

fn basename(text: &str) -> &str {
    text.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(text)
}

fn join(dir: &Word, name: &str) -> Word {
    dir.with_text(format!("{}/{}", dir.text.trim_end_matches('/'), name))
}

/// Shells that run a command string with `-c`.
pub(crate) const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "yash", "busybox",
];

/// Interpreters, with the options that take inline code.
const INTERPRETERS: &[(&str, &[&str])] = &[
    ("python", &["-c"]),
    ("python2", &["-c"]),
    ("python3", &["-c"]),
    ("pypy", &["-c"]),
    ("pypy3", &["-c"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("nodejs", &["-e", "--eval", "-p", "--print"]),
    ("bun", &["-e", "--eval", "-p", "--print"]),
    ("deno", &["eval"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("php", &["-r"]),
    ("lua", &["-e"]),
    ("luajit", &["-e"]),
    ("rscript", &["-e"]),
    ("r", &["-e"]),
    ("julia", &["-e", "--eval"]),
    ("pwsh", &["-c", "-command", "-Command"]),
    ("powershell", &["-c", "-command", "-Command"]),
    ("osascript", &["-e"]),
    ("tclsh", &[]),
    ("wish", &[]),
    ("irb", &[]),
    ("jshell", &[]),
    ("groovy", &["-e"]),
    ("expect", &["-c"]),
    ("gdb", &["-ex", "--ex", "-batch"]),
];

fn is_interpreter(name: &str) -> Option<&'static [&'static str]> {
    let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    let name = if name.starts_with("python") {
        "python"
    } else {
        name
    };
    INTERPRETERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, flags)| *flags)
}

/// Environment variables that change which program runs or what it loads: assigning one
/// makes what follows opaque.
pub(crate) fn is_poison_variable(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "BASH_ENV",
        "ENV",
        "CDPATH",
        "IFS",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "BASHOPTS",
        "GLOBIGNORE",
        "HOME",
        "ZDOTDIR",
        "PS1",
        "PS2",
        "PS3",
        "PS4",
        "BASH_XTRACEFD",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PYTHONINSPECT",
        "PYTHONUSERBASE",
        "NODE_OPTIONS",
        "NODE_PATH",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_PAGER",
        "GIT_EDITOR",
        "GIT_EXTERNAL_DIFF",
        "GIT_ASKPASS",
        "GIT_PROXY_COMMAND",
        "GIT_TEMPLATE_DIR",
        "PAGER",
        "EDITOR",
        "VISUAL",
        "LESSOPEN",
        "LESSCLOSE",
        "MANPAGER",
        "BROWSER",
        "SSH_ASKPASS",
        "SUDO_ASKPASS",
        "XDG_CONFIG_HOME",
        "TMPDIR",
    ];
    NAMES.contains(&name)
        || name.starts_with("LD_")
        || name.starts_with("DYLD_")
        || name.starts_with("GIT_CONFIG")
        || name.starts_with("BASH_FUNC_")
        || name.starts_with("npm_config_")
        || name.starts_with("NPM_CONFIG_")
        || name.starts_with("PIP_")
        || name.starts_with("CARGO_")
        || name.starts_with("RUSTC")
}

/// Judge one simple command: `program` as written (after quote removal) and its words.
pub(crate) fn judge(program: &str, args: &[Word]) -> Judgement {
    let base = basename(program);
    let lower;
    let name = if base.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = base.to_ascii_lowercase();
        lower.as_str()
    } else {
        base
    };
    if let Some((spec, used, network)) = crate::specs::find(name, args) {
        let reading = crate::specs::read(spec, args.get(used..).unwrap_or_default(), network);
        let mut j = reading.judgement;
        j.known = false;
        j.invocation = Some(Box::new(reading.invocation));
        return j;
    }
    if let Some(inline) = is_interpreter(name) {
        return interpreter(name, inline, args);
    }
    match name {
        // Shell builtins and plain utilities without effects on files.
        "echo" | "printf" | "pwd" | "true" | "false" | ":" | "test" | "[" | "sleep" | "seq"
        | "yes" | "whoami" | "id" | "uname" | "basename" | "dirname" | "which" | "type"
        | "exit" | "return" | "break" | "continue" | "wait" | "jobs" | "shift" | "getopts"
        | "read" | "set" | "nproc" | "arch" | "tty" | "expr" | "logname" | "groups" | "cal"
        | "clear" | "tput" | "locale" | "unalias" => no_effect(name, args),
        "cd" | "pushd" | "popd" => Judgement::known(),
        "date" => DATE.judge(args),
        "cat" | "tac" | "nl" | "more" | "less" | "head" | "tail" | "wc" | "file" | "stat"
        | "md5sum" | "sha1sum" | "sha256sum" | "sha512sum" | "cksum" | "b2sum" | "strings"
        | "od" | "hexdump" | "readlink" | "realpath" | "zcat" | "bzcat" | "xzcat" | "zless"
        | "column" | "fold" | "fmt" | "cut" | "paste" | "rev" | "expand" | "unexpand" | "comm"
        | "cmp" | "join" | "base64" | "base32" | "du" | "df" | "tree" | "ls" | "dir" | "lsd"
        | "exa" | "eza" | "bat" | "batcat" | "jq" | "yq" | "sort" | "uniq" | "tr" | "xxd" => {
            reader(name, args)
        }
        "grep" | "egrep" | "fgrep" | "rg" | "ag" | "ack" => search(name, args),
        "diff" | "colordiff" => diff(args),
        "find" | "fd" | "fdfind" => find(name, args),
        "sed" | "gsed" => sed_command(args),
        "awk" | "gawk" | "mawk" | "nawk" => awk(args),
        "mkdir" => MKDIR.judge(args),
        "rmdir" => RMDIR.judge(args),
        "touch" => TOUCH.judge(args),
        "rm" => rm(args),
        "shred" => SHRED.judge(args),
        "unlink" => UNLINK.judge(args),
        "cp" | "mv" | "install" => copy(name, args),
        "ln" => link(args),
        "chmod" | "chown" | "chgrp" => change_mode(name, args),
        "truncate" => TRUNCATE.judge(args),
        "tee" => TEE.judge(args),
        "dd" => dd(args),
        "tar" => tar(args),
        "zip" => zip(args),
        "unzip" => unzip(args),
        "gzip" | "gunzip" | "bzip2" | "bunzip2" | "xz" | "unxz" | "zstd" => compress(args),
        "git" => crate::git::git(args),
        "curl" => curl(args),
        "wget" => wget(args),
        "ssh" | "sftp" => ssh(name, args),
        "scp" | "rsync" => remote_copy(name, args),
        "nc" | "ncat" | "netcat" | "telnet" | "socat" | "ftp" | "tftp" => netcat(name, args),
        "npm" | "pnpm" | "yarn" | "npx" | "pnpx" | "bunx" | "pip" | "pip3" | "pipx" | "uv"
        | "uvx" | "poetry" | "pipenv" | "conda" | "mamba" | "gem" | "bundle" | "composer"
        | "cargo" | "go" | "apt" | "apt-get" | "dnf" | "yum" | "apk" | "brew" | "pacman"
        | "zypper" | "snap" | "port" | "nix-env" | "deno" => package(name, args),
        "env" => env(args),
        "sudo" | "doas" => sudo(args),
        "nice" | "nohup" | "timeout" | "time" | "command" | "builtin" | "exec" | "stdbuf"
        | "ionice" | "setsid" | "chrt" | "taskset" | "noglob" | "unbuffer" | "caffeinate"
        | "watch" | "flock" | "su" | "runuser" | "chroot" | "xargs" | "parallel" => {
            wrapper(name, args)
        }
        "eval" | "source" | "." | "trap" | "enable" | "alias" | "hash" | "fc" | "coproc"
        | "mapfile" | "readarray" | "bind" | "complete" | "compgen" | "shopt" | "ulimit"
        | "umask" | "let" | "declare" | "typeset" | "local" | "export" | "readonly" => {
            builtin(name, args)
        }
        _ if SHELLS.contains(&name) => shell(args),
        _ => Judgement::unknown(),
    }
}

fn no_effect(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    if name == "printf" && args.first().is_some_and(|a| a.text.starts_with("-v")) {
        // `printf -v VAR` assigns a variable: harmless, still no file effect.
        return j;
    }
    if name == "set" && args.iter().any(|a| a.is("-o") || a.text.starts_with("+o")) {
        // `set -o` options can turn on behaviour the analyser does not model.
        j.known = false;
    }
    j
}

static DATE: Program = Program::new(
    Spec::new(
        "d:f:r:s:uRI",
        &[
            "date=",
            "file=",
            "reference=",
            "set=",
            "utc",
            "iso-8601",
            "rfc-3339=",
            "rfc-email",
            "universal",
        ],
    ),
    &[
        (&["-s", "--set"], Role::Unknown),
        (&["-f", "--file", "-r", "--reference"], Role::Read),
    ],
);

/// Commands that read their operands and print.
fn reader(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    let spec = match name {
        "head" | "tail" => Spec::new(
            "n:c:qvzfFs:#",
            &[
                "lines=",
                "bytes=",
                "quiet",
                "silent",
                "verbose",
                "zero-terminated",
                "follow",
                "retry",
                "sleep-interval=",
                "pid=",
            ],
        ),
        "cat" | "tac" | "more" | "less" | "zcat" | "bzcat" | "xzcat" | "zless" => Spec::new(
            "AbeEnstTuvrRSXFNi",
            &[
                "show-all",
                "number-nonblank",
                "show-ends",
                "number",
                "squeeze-blank",
                "show-tabs",
                "show-nonprinting",
                "before",
                "regex",
                "separator=",
            ],
        ),
        "nl" => Spec::new("b:d:f:h:i:l:n:pv:w:s:", &[]),
        "wc" => Spec::new(
            "clmwL",
            &[
                "bytes",
                "chars",
                "lines",
                "words",
                "max-line-length",
                "total=",
            ],
        ),
        "file" => Spec::new("bhiLzZkNsE", &["brief", "mime", "mime-type", "dereference"]),
        "stat" => Spec::new("Lfc:t", &["dereference", "format=", "printf=", "terse"]),
        "md5sum" | "sha1sum" | "sha256sum" | "sha512sum" | "cksum" | "b2sum" => Spec::new(
            "bctwz",
            &[
                "binary", "check", "text", "tag", "quiet", "status", "strict", "warn", "zero",
            ],
        ),
        "strings" => Spec::new("an:t:e:fw", &["all", "bytes=", "radix=", "encoding="]),
        "od" | "hexdump" | "xxd" => Spec::new(
            "A:j:N:t:vw:bcdosxCn:s:l:g:piuer",
            &[
                "address-radix=",
                "skip-bytes=",
                "read-bytes=",
                "format=",
                "width=",
            ],
        ),
        "readlink" | "realpath" => Spec::new(
            "femnqsvzLPE",
            &[
                "canonicalize",
                "canonicalize-existing",
                "canonicalize-missing",
                "no-newline",
                "quiet",
                "silent",
                "verbose",
                "zero",
                "relative-to=",
                "relative-base=",
                "strip",
                "no-symlinks",
            ],
        ),
        "column" => Spec::new(
            "c:s:o:txnN:R:",
            &["table", "separator=", "output-separator="],
        ),
        "fold" | "fmt" => Spec::new("bsw:up:", &["width=", "bytes", "spaces"]),
        "cut" => Spec::new(
            "b:c:d:f:nsz",
            &[
                "bytes=",
                "characters=",
                "delimiter=",
                "fields=",
                "complement",
                "only-delimited",
                "output-delimiter=",
                "zero-terminated",
            ],
        ),
        "paste" => Spec::new("d:sz", &["delimiters=", "serial"]),
        "rev" | "expand" | "unexpand" => Spec::new("it:a", &["initial", "tabs=", "all"]),
        "comm" => Spec::new(
            "123z",
            &["check-order", "nocheck-order", "output-delimiter=", "total"],
        ),
        "cmp" => Spec::new(
            "bi:ln:s",
            &[
                "print-bytes",
                "ignore-initial=",
                "verbose",
                "bytes=",
                "quiet",
                "silent",
            ],
        ),
        "join" => Spec::new(
            "a:e:i1:2:j:o:t:v:z",
            &["ignore-case", "check-order", "nocheck-order", "header"],
        ),
        "base64" | "base32" => Spec::new("diw:", &["decode", "ignore-garbage", "wrap="]),
        "du" => Spec::new(
            "0abchHklLmsSxd:B:t:X:",
            &[
                "all",
                "apparent-size",
                "bytes",
                "total",
                "human-readable",
                "si",
                "summarize",
                "max-depth=",
                "block-size=",
                "threshold=",
                "exclude=",
                "one-file-system",
                "time",
                "dereference",
            ],
        ),
        "df" => Spec::new(
            "ahHiklPTt:x:B:",
            &[
                "all",
                "human-readable",
                "si",
                "inodes",
                "local",
                "portability",
                "print-type",
                "type=",
                "exclude-type=",
                "block-size=",
                "output=",
                "total",
            ],
        ),
        "tree" => Spec::new(
            "adfgilpqrstuxACDFJL:I:P:NQSv",
            &[
                "noreport",
                "dirsfirst",
                "charset=",
                "gitignore",
                "prune",
                "filelimit=",
            ],
        ),
        "ls" | "dir" | "lsd" | "exa" | "eza" => Spec::new(
            "aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvwxXZ1I:T:w:",
            &[
                "all",
                "almost-all",
                "author",
                "escape",
                "block-size=",
                "ignore-backups",
                "color",
                "color=",
                "colour",
                "directory",
                "classify",
                "file-type",
                "format=",
                "full-time",
                "group-directories-first",
                "no-group",
                "human-readable",
                "si",
                "dereference",
                "dereference-command-line",
                "hide=",
                "hyperlink",
                "indicator-style=",
                "inode",
                "ignore=",
                "kibibytes",
                "literal",
                "numeric-uid-gid",
                "hide-control-chars",
                "show-control-chars",
                "quote-name",
                "quoting-style=",
                "reverse",
                "recursive",
                "size",
                "sort=",
                "time=",
                "time-style=",
                "tabsize=",
                "width=",
                "context",
                "long",
                "git",
                "icons",
                "tree",
                "level=",
                "oneline",
            ],
        ),
        "bat" | "batcat" => Spec::new(
            "pAnl:r:H:",
            &[
                "plain",
                "paging=",
                "language=",
                "style=",
                "color=",
                "line-range=",
                "highlight-line=",
                "number",
                "show-all",
                "decorations=",
            ],
        ),
        "jq" | "yq" => Spec::new(
            "rjacCsSneMf:L:",
            &[
                "raw-output",
                "join-output",
                "ascii-output",
                "compact-output",
                "color-output",
                "monochrome-output",
                "slurp",
                "sort-keys",
                "null-input",
                "exit-status",
                "tab",
                "indent=",
                "arg",
                "argjson",
                "slurpfile",
                "rawfile",
                "raw-input",
                "from-file=",
                "seq",
                "stream",
                "raw-output0",
                "args",
                "jsonargs",
            ],
        ),
        "sort" => Spec::new(
            "bcCdfghiMmnrRsuVzk:t:o:S:T:",
            &[
                "ignore-leading-blanks",
                "check",
                "dictionary-order",
                "ignore-case",
                "general-numeric-sort",
                "human-numeric-sort",
                "ignore-nonprinting",
                "month-sort",
                "numeric-sort",
                "random-sort",
                "reverse",
                "version-sort",
                "merge",
                "stable",
                "unique",
                "zero-terminated",
                "key=",
                "field-separator=",
                "output=",
                "buffer-size=",
                "temporary-directory=",
                "parallel=",
            ],
        ),
        "uniq" => Spec::new(
            "cdDif:s:uw:z",
            &[
                "count",
                "repeated",
                "ignore-case",
                "skip-fields=",
                "skip-chars=",
                "unique",
                "check-chars=",
            ],
        ),
        "tr" => Spec::new(
            "cCdst",
            &["complement", "delete", "squeeze-repeats", "truncate-set1"],
        ),
        _ => Spec::new("", &[]),
    };
    let parsed = parse(args, spec);
    j.unknown_options(&parsed);
    let mut operands: Vec<&Word> = parsed.operands.iter().collect();
    match name {
        "tr" => operands.clear(),
        "jq" | "yq" => {
            // The first operand is the filter unless `-f` gave one; `--arg NAME VALUE`
            // style options are not in the getopt spec, so any of them makes jq unknown.
            if !parsed.has(&["-f", "--from-file"]) && !operands.is_empty() {
                operands.remove(0);
            }
            for file in parsed.values(&["-f", "--from-file"]) {
                j.read(file);
            }
            if parsed.has(&[
                "--arg",
                "--argjson",
                "--slurpfile",
                "--rawfile",
                "--args",
                "--jsonargs",
            ]) {
                j.known = false;
            }
        }
        "uniq" | "xxd" => {
            // A second operand is the output file.
            if operands.len() >= 2
                && let Some(output) = operands.pop()
            {
                j.write(output);
            }
        }
        "sort" => {
            for output in parsed.values(&["-o", "--output"]) {
                j.write(output);
            }
        }
        "less" | "more" => {
            // Interactive pagers run commands and write logs on request; without a
            // terminal they print, but `LESSOPEN` or a key press could do more.
            j.known = name == "more" || name == "less";
        }
        _ => {}
    }
    let recursive = matches!(name, "du" | "tree")
        || (matches!(name, "ls" | "dir" | "lsd" | "exa" | "eza")
            && parsed.has(&["-R", "--recursive", "--tree"]));
    if operands.is_empty() && matches!(name, "ls" | "dir" | "lsd" | "exa" | "eza" | "du" | "tree") {
        let here = Word::literal(".");
        if recursive {
            j.read_tree(&here);
        } else {
            j.read(&here);
        }
    }
    for operand in operands {
        if recursive {
            j.read_tree(operand);
        } else {
            j.read(operand);
        }
    }
    j
}

/// grep, rg and friends: the pattern is not a path; recursive searches read trees.
fn search(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    let spec = if matches!(name, "rg" | "ag" | "ack") {
        Spec::new(
            "e:f:g:t:T:m:A:B:C:j:d:r:M:E:iISswvlcFxUuLNnHhopqz0a.",
            &[
                "regexp=",
                "file=",
                "glob=",
                "iglob=",
                "type=",
                "type-not=",
                "max-count=",
                "after-context=",
                "before-context=",
                "context=",
                "threads=",
                "max-depth=",
                "replace=",
                "max-columns=",
                "encoding=",
                "sort=",
                "sortr=",
                "color=",
                "colors=",
                "ignore-case",
                "smart-case",
                "case-sensitive",
                "word-regexp",
                "invert-match",
                "files-with-matches",
                "files-without-match",
                "count",
                "count-matches",
                "fixed-strings",
                "line-regexp",
                "multiline",
                "follow",
                "no-ignore",
                "no-ignore-vcs",
                "hidden",
                "no-heading",
                "heading",
                "line-number",
                "no-line-number",
                "with-filename",
                "no-filename",
                "only-matching",
                "pretty",
                "quiet",
                "json",
                "vimgrep",
                "stats",
                "files",
                "type-list",
                "column",
                "trim",
                "no-messages",
                "null",
                "text",
                "max-filesize=",
                "context-separator=",
                "field-match-separator=",
                "passthru",
                "pcre2",
                "search-zip",
                "pre=",
                "pre-glob=",
                "ignore-file=",
                "type-add=",
                "literal",
                "ignore-dir=",
                "include=",
            ],
        )
    } else {
        Spec::new(
            "e:f:m:A:B:C:d:D:EFGPiywxvcLlosqHhnbTuZzraRUIV",
            &[
                "extended-regexp",
                "fixed-strings",
                "basic-regexp",
                "perl-regexp",
                "regexp=",
                "file=",
                "ignore-case",
                "no-ignore-case",
                "word-regexp",
                "line-regexp",
                "null-data",
                "no-messages",
                "invert-match",
                "max-count=",
                "byte-offset",
                "line-number",
                "line-buffered",
                "with-filename",
                "no-filename",
                "label=",
                "only-matching",
                "quiet",
                "silent",
                "binary-files=",
                "text",
                "directories=",
                "devices=",
                "recursive",
                "dereference-recursive",
                "include=",
                "exclude=",
                "exclude-from=",
                "exclude-dir=",
                "files-without-match",
                "files-with-matches",
                "count",
                "initial-tab",
                "null",
                "before-context=",
                "after-context=",
                "context=",
                "color",
                "colour",
                "color=",
                "colour=",
                "binary",
                "no-group-separator",
                "group-separator=",
            ],
        )
    };
    let parsed = parse(args, spec);
    j.unknown_options(&parsed);
    if parsed.has(&["--pre", "-z", "--search-zip"]) && matches!(name, "rg") {
        // `--pre` runs a program on every file; `-z` runs decompressors.
        j.opaque("`rg --pre` / `-z` run other programs on every file searched");
    }
    for file in parsed.values(&["-f", "--file", "--exclude-from", "--ignore-file"]) {
        j.read(file);
    }
    let mut operands: Vec<&Word> = parsed.operands.iter().collect();
    let pattern_given = parsed.has(&["-e", "--regexp", "-f", "--file"]);
    let lists_files = parsed.has(&["--files", "--type-list"]);
    if !pattern_given && !lists_files && !operands.is_empty() {
        operands.remove(0);
    }
    let recursive = matches!(name, "rg" | "ag" | "ack")
        || parsed.has(&["-r", "-R", "--recursive", "--dereference-recursive"])
        || parsed
            .values(&["-d", "--directories"])
            .any(|v| v.text == "recurse");
    // GNU grep's `--include=GLOB`: a recursive search reads only the files whose name
    // matches one of them. Judged only when every value is a plain name pattern (`*.go`);
    // otherwise the search reads the whole folder.
    let includes: Vec<&Word> = if matches!(name, "grep" | "egrep" | "fgrep") {
        parsed.values(&["--include"]).collect()
    } else {
        Vec::new()
    };
    let narrowed = !includes.is_empty()
        && includes.iter().all(|w| {
            !w.unknown && !w.text.is_empty() && !w.text.contains(['/', '{', '}', '[', ']', '\\'])
        });
    let read_folder = |j: &mut Judgement, folder: &Word| {
        if narrowed {
            for include in &includes {
                j.read(&folder.with_text(format!(
                    "{}/**/{}",
                    folder.text.trim_end_matches('/'),
                    include.text
                )));
            }
        } else {
            j.read_tree(folder);
        }
    };
    if operands.is_empty() {
        if recursive {
            read_folder(&mut j, &Word::literal("."));
        }
        return j;
    }
    for operand in operands {
        if recursive {
            // A file operand is read as itself; a folder as everything under it.
            j.read(operand);
            if operand.unknown || operand.glob {
                j.read_tree(operand);
            } else {
                read_folder(&mut j, operand);
            }
        } else {
            j.read(operand);
        }
    }
    j
}

static DIFF: Program = Program::new(
    Spec::new(
        "aBbcC:dD:eEfF:iI:lL:nNpqrsS:tTuU:vwW:x:X:yZ",
        &[
            "normal",
            "brief",
            "report-identical-files",
            "context=",
            "unified=",
            "ed",
            "rcs",
            "side-by-side",
            "width=",
            "left-column",
            "suppress-common-lines",
            "show-c-function",
            "show-function-line=",
            "label=",
            "expand-tabs",
            "initial-tab",
            "tabsize=",
            "suppress-blank-empty",
            "line-format=",
            "recursive",
            "no-dereference",
            "new-file",
            "unidirectional-new-file",
            "ignore-file-name-case",
            "no-ignore-file-name-case",
            "exclude=",
            "exclude-from=",
            "starting-file=",
            "from-file=",
            "to-file=",
            "ignore-case",
            "ignore-tab-expansion",
            "ignore-trailing-space",
            "ignore-space-change",
            "ignore-all-space",
            "ignore-blank-lines",
            "ignore-matching-lines=",
            "text",
            "strip-trailing-cr",
            "minimal",
            "speed-large-files",
            "color",
            "color=",
            "palette=",
            "unified",
            "context",
        ],
    ),
    &[(&["-X", "--exclude-from"], Role::Read)],
);

fn diff(args: &[Word]) -> Judgement {
    let (mut j, parsed) = DIFF.read(args);
    let recursive = parsed.has(&["-r", "--recursive"]);
    for operand in parsed
        .operands
        .iter()
        .chain(parsed.values(&["--from-file", "--to-file"]))
    {
        if recursive {
            j.read(operand);
            j.read_tree(operand);
        } else {
            j.read(operand);
        }
    }
    j
}

/// The one `-name` pattern of a find expression that does nothing but list the names it
/// matches (`-name '*.go' -type f`, with `-maxdepth`, `-mindepth`, `-print`); `None` for
/// anything else (`-o`, `!`, `-path`, actions, a pattern `PathGlob` would read otherwise).
fn find_name_only(expression: &[Word]) -> Option<String> {
    let mut name = None;
    let mut index = 0;
    while let Some(word) = expression.get(index) {
        index += 1;
        if word.unknown {
            return None;
        }
        match word.text.as_str() {
            "-print" | "-a" | "-and" => {}
            "-type" | "-maxdepth" | "-mindepth" => {
                let value = expression.get(index)?;
                if value.unknown {
                    return None;
                }
                index += 1;
            }
            "-name" => {
                let value = expression.get(index)?;
                index += 1;
                let text = value.text.as_str();
                if name.is_some()
                    || value.unknown
                    || text.is_empty()
                    || text.contains(['/', '{', '}', '[', ']', '\\'])
                {
                    return None;
                }
                name = Some(text.to_string());
            }
            _ => return None,
        }
    }
    name
}

/// find and fd: start points are read as trees; actions run commands or delete.
fn find(name: &str, args: &[Word]) -> Judgement {
    if name != "find" {
        // fd: `-x`/`-X` run commands; otherwise it lists names under its paths.
        let mut j = Judgement::known();
        let mut operands = Vec::new();
        let mut iter = args.iter().peekable();
        while let Some(arg) = iter.next() {
            let t = arg.text.as_str();
            if matches!(t, "-x" | "--exec" | "-X" | "--exec-batch") {
                let words: Vec<Word> = iter.by_ref().take_while(|w| !w.is(";")).cloned().collect();
                j.inner.push(Inner::Command {
                    words: words
                        .into_iter()
                        .map(|w| {
                            if w.text.contains("{") {
                                Word::unknown(&w.text)
                            } else {
                                w
                            }
                        })
                        .collect(),
                    chdir: None,
                });
                break;
            }
            if matches!(
                t,
                "-e" | "--extension"
                    | "-t"
                    | "--type"
                    | "-d"
                    | "--max-depth"
                    | "-E"
                    | "--exclude"
                    | "-S"
                    | "--size"
                    | "--changed-within"
                    | "--changed-before"
                    | "-j"
                    | "--threads"
                    | "-c"
                    | "--color"
            ) {
                iter.next();
                continue;
            }
            if t.starts_with('-') {
                continue;
            }
            operands.push(arg.clone());
        }
        // The first operand is the pattern, the rest are search paths.
        let paths: Vec<Word> = operands.into_iter().skip(1).collect();
        if paths.is_empty() {
            j.read_tree(&Word::literal("."));
        }
        for path in &paths {
            j.read_tree(path);
        }
        return j;
    }
    let mut j = Judgement::known();
    let mut index = 0;
    // Leading options of find itself.
    while let Some(arg) = args.get(index) {
        if matches!(
            arg.text.as_str(),
            "-H" | "-L" | "-P" | "-O0" | "-O1" | "-O2" | "-O3"
        ) {
            index += 1;
        } else if arg.is("-D") {
            index += 2;
        } else {
            break;
        }
    }
    let mut roots = Vec::new();
    while let Some(arg) = args.get(index) {
        if !arg.unknown && (arg.text.starts_with('-') || arg.text == "(" || arg.text == "!") {
            break;
        }
        roots.push(arg.clone());
        index += 1;
    }
    if roots.is_empty() {
        roots.push(Word::literal("."));
    }
    match find_name_only(args.get(index..).unwrap_or_default()) {
        // `find . -name '*.go'`: the names that match, not everything under `.`.
        Some(pattern) => {
            for root in &roots {
                if root.unknown || root.glob {
                    j.read_tree(root);
                } else {
                    j.read(
                        &root
                            .with_text(format!("{}/**/{pattern}", root.text.trim_end_matches('/'))),
                    );
                }
            }
        }
        None => {
            for root in &roots {
                j.read_tree(root);
            }
        }
    }
    while let Some(arg) = args.get(index) {
        index += 1;
        let t = if arg.unknown { "" } else { arg.text.as_str() };
        match t {
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let mut words = Vec::new();
                while let Some(word) = args.get(index) {
                    index += 1;
                    if word.is(";") || word.is("+") {
                        break;
                    }
                    words.push(word.clone());
                }
                // `{}` names every path found: every path under each start point.
                for root in &roots {
                    let found = tree(root);
                    let inner: Vec<Word> = words
                        .iter()
                        .map(|w| {
                            if w.text.contains("{}") && !w.unknown {
                                Word {
                                    glob: true,
                                    ..w.with_text(w.text.replace("{}", &found.text))
                                }
                            } else {
                                w.clone()
                            }
                        })
                        .collect();
                    let chdir = if t.ends_with("dir") {
                        // Runs in each found file's folder: the folder is somewhere
                        // under the start point, not a place the caller can resolve.
                        Some(Word::unknown(&format!("{}/<each folder>", root.text)))
                    } else {
                        None
                    };
                    j.inner.push(Inner::Command {
                        words: inner,
                        chdir,
                    });
                }
            }
            "-delete" => {
                for root in &roots {
                    j.write_tree(root);
                }
            }
            "-fprint" | "-fprint0" | "-fprintf" | "-fls" => {
                if let Some(file) = args.get(index) {
                    j.write(file);
                }
                index += if t == "-fprintf" { 2 } else { 1 };
            }
            "-name" | "-iname" | "-path" | "-ipath" | "-wholename" | "-iwholename" | "-regex"
            | "-iregex" | "-type" | "-xtype" | "-maxdepth" | "-mindepth" | "-mtime" | "-mmin"
            | "-atime" | "-amin" | "-ctime" | "-cmin" | "-size" | "-perm" | "-user" | "-group"
            | "-uid" | "-gid" | "-links" | "-inum" | "-newer" | "-anewer" | "-cnewer"
            | "-printf" | "-regextype" | "-lname" | "-ilname" | "-samefile" | "-fstype"
            | "-used" | "-context" | "-newermt" | "-newerct" | "-newerat" | "-files0-from" => {
                index += 1;
            }
            "-print"
            | "-print0"
            | "-ls"
            | "-prune"
            | "-quit"
            | "-true"
            | "-false"
            | "-empty"
            | "-readable"
            | "-writable"
            | "-executable"
            | "-nouser"
            | "-nogroup"
            | "-depth"
            | "-mount"
            | "-xdev"
            | "-noleaf"
            | "-follow"
            | "-daystart"
            | "-ignore_readdir_race"
            | "-noignore_readdir_race"
            | "-a"
            | "-and"
            | "-o"
            | "-or"
            | "-not"
            | "!"
            | "("
            | ")"
            | "," => {}
            _ => j.known = false,
        }
    }
    j
}

static SED: Program = Program::new(
    Spec::new(
        "ne:f:iEsrzuSl:",
        &[
            "quiet",
            "silent",
            "expression=",
            "file=",
            "in-place",
            "regexp-extended",
            "separate",
            "null-data",
            "unbuffered",
            "posix",
            "debug",
            "sandbox",
            "line-length=",
            "follow-symlinks",
        ],
    ),
    &[],
);

fn sed_command(args: &[Word]) -> Judgement {
    // `-i` takes an optional attached suffix (`-i.bak`): strip it before parsing.
    let args: Vec<Word> = args
        .iter()
        .map(|a| {
            if !a.unknown && a.text.starts_with("-i") && a.text.len() > 2 {
                Word::literal("-i")
            } else if !a.unknown && a.text.starts_with("--in-place=") {
                Word::literal("--in-place")
            } else {
                a.clone()
            }
        })
        .collect();
    let args = args.as_slice();
    let (mut j, parsed) = SED.read(args);
    // `-i` takes an optional attached suffix; the parser treats `-i` as taking a value
    // only when attached, so a following operand stays an operand (see `in_place`).
    let mut operands: Vec<Word> = parsed.operands.clone();
    let mut scripts: Vec<Word> = parsed.values(&["-e", "--expression"]).cloned().collect();
    let in_place = args.iter().any(|a| {
        !a.unknown
            && (a.text == "-i"
                || a.text.starts_with("--in-place")
                || short_cluster_has(&a.text, 'i'))
    });
    if parsed.has(&["-f", "--file"]) {
        j.opaque("`sed -f` runs a script from a file the analyser does not read");
    }
    if scripts.is_empty() && !parsed.has(&["-f", "--file"]) {
        if operands.is_empty() {
            j.known = false;
            return j;
        }
        scripts.push(operands.remove(0));
    }
    for script in &scripts {
        if script.unknown {
            j.opaque(format!(
                "the sed script `{}` is only known when it runs",
                script.text
            ));
            continue;
        }
        match sed::scan(&script.text) {
            Ok(files) => {
                for file in files.reads {
                    j.read(&Word::literal(&file));
                }
                for file in files.writes {
                    j.write(&Word::literal(&file));
                }
                if files.executes {
                    j.opaque("the sed script runs commands (`e`)");
                }
            }
            Err(reason) => j.opaque(reason),
        }
    }
    for operand in &operands {
        j.read(operand);
        if in_place {
            j.write(operand);
        }
    }
    j
}

/// Does a short-option cluster such as `-ni` contain `letter` (before any value)?
fn short_cluster_has(text: &str, letter: char) -> bool {
    text.starts_with('-')
        && !text.starts_with("--")
        && text
            .chars()
            .skip(1)
            .take_while(|c| *c != 'e' && *c != 'f' && *c != 'l')
            .any(|c| c == letter)
}

static AWK: Program = Program::new(
    Spec::posix(
        "F:v:f:e:i:l:bcCdDgMnNOPrsStVEhL",
        &[
            "field-separator=",
            "assign=",
            "file=",
            "source=",
            "include=",
            "load=",
        ],
    ),
    &[(
        &["-f", "--file", "-i", "--include", "-l", "--load", "-E"],
        Role::Opaque("the awk program comes from a file the analyser does not read"),
    )],
);

fn awk(args: &[Word]) -> Judgement {
    let (mut j, parsed) = AWK.read(args);
    let mut operands = parsed.operands.iter();
    let mut programs: Vec<&Word> = parsed.values(&["-e", "--source"]).collect();
    if !parsed.has(&["-f", "--file", "-e", "--source"])
        && let Some(program) = operands.next()
    {
        programs.push(program);
    }
    for program in programs {
        if program.unknown {
            j.opaque("the awk program is only known when it runs");
            continue;
        }
        let text = &program.text;
        if text.contains("system")
            || text.contains("getline")
            || text.contains('|')
            || text.contains('@')
            || text.contains("ENVIRON")
            || print_redirects(text)
        {
            j.opaque(
                "the awk program runs commands, reads files or writes files \
                 (`system`, `getline`, pipes, `print >`)",
            );
        }
    }
    for operand in operands {
        // `VAR=value` operands are assignments, not files.
        if !operand.unknown && operand.text.contains('=') && !operand.text.starts_with('/') {
            let name = operand.text.split('=').next().unwrap_or("");
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
        }
        j.read(operand);
    }
    j
}

/// Does a `print`/`printf` statement redirect (`print > "f"`, `print | "cmd"`)?
fn print_redirects(program: &str) -> bool {
    program.match_indices("print").any(|(at, _)| {
        program
            .get(at..)
            .unwrap_or("")
            .split([';', '}', '\n'])
            .next()
            .is_some_and(|statement| statement.contains('>') || statement.contains('|'))
    })
}

static MKDIR: Program = Program::new(
    Spec::new("pvm:Z", &["parents", "verbose", "mode=", "context"]),
    &[],
)
.writes_operands();

static RMDIR: Program = Program::new(
    Spec::new("pv", &["parents", "verbose", "ignore-fail-on-non-empty"]),
    &[],
)
.writes_operands();

static TOUCH: Program = Program::new(
    Spec::new(
        "acfhmd:r:t:",
        &[
            "no-create",
            "date=",
            "reference=",
            "time=",
            "no-dereference",
        ],
    ),
    &[(&["-r", "--reference"], Role::Read)],
)
.writes_operands();

static SHRED: Program = Program::new(
    Spec::new(
        "fn:s:uvxz",
        &[
            "force",
            "iterations=",
            "size=",
            "remove",
            "verbose",
            "exact",
            "zero",
        ],
    ),
    &[],
)
.writes_operands();

/// `unlink` takes no options.
static UNLINK: Program = Program::new(Spec::new("", &[]), &[]).writes_operands();

static RM: Program = Program::new(
    Spec::new(
        "fiIrRdv",
        &[
            "force",
            "interactive",
            "recursive",
            "dir",
            "verbose",
            "one-file-system",
            "no-preserve-root",
            "preserve-root",
        ],
    ),
    &[],
);

/// rm: each operand is written, and with `-r` everything under it.
fn rm(args: &[Word]) -> Judgement {
    let (mut j, parsed) = RM.read(args);
    let recursive = parsed.has(&["-r", "-R", "--recursive"]);
    for operand in &parsed.operands {
        j.write(operand);
        if recursive {
            j.write_tree(operand);
        }
    }
    j
}

/// cp, mv, install: sources are read (mv also removes them), the destination written.
fn copy(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    let spec = match name {
        "install" => Spec::new(
            "bcCdDg:m:o:pPsS:t:TvZ",
            &[
                "backup",
                "compare",
                "directory",
                "group=",
                "mode=",
                "owner=",
                "preserve-timestamps",
                "strip",
                "suffix=",
                "target-directory=",
                "no-target-directory",
                "verbose",
            ],
        ),
        _ => Spec::new(
            "aAbdfHilLnPprRsStTuvxZ",
            &[
                "archive",
                "attributes-only",
                "backup",
                "backup=",
                "copy-contents",
                "force",
                "interactive",
                "link",
                "dereference",
                "no-clobber",
                "no-dereference",
                "preserve",
                "preserve=",
                "no-preserve=",
                "parents",
                "recursive",
                "reflink",
                "reflink=",
                "remove-destination",
                "sparse=",
                "strip-trailing-slashes",
                "symbolic-link",
                "suffix=",
                "target-directory=",
                "no-target-directory",
                "update",
                "update=",
                "verbose",
                "one-file-system",
                "exchange",
                "no-copy",
                "debug",
            ],
        ),
    };
    let spec = if name == "cp" || name == "mv" {
        // -S and -t take values.
        Spec::new("aAbdfHilLnPprRsS:t:TuvxZ", spec.long)
    } else {
        spec
    };
    let parsed = parse(args, spec);
    j.unknown_options(&parsed);
    if name == "install" && parsed.has(&["-d", "--directory"]) {
        for operand in &parsed.operands {
            j.write(operand);
        }
        return j;
    }
    // mv renames: a folder keeps its contents under the new name, so the names inside it
    // do not change and need no separate check.
    let recursive = name != "mv" && parsed.has(&["-r", "-R", "-a", "--recursive", "--archive"]);
    let mut operands: Vec<&Word> = parsed.operands.iter().collect();
    let target_dir: Option<Word> = parsed.values(&["-t", "--target-directory"]).next().cloned();
    let destination = match &target_dir {
        Some(dir) => dir.clone(),
        None => match operands.pop() {
            Some(last) if !operands.is_empty() => last.clone(),
            _ => {
                j.known = false;
                return j;
            }
        },
    };
    let into_dir = !parsed.has(&["-T", "--no-target-directory"]);
    for source in &operands {
        j.read(source);
        if recursive {
            j.read_tree(source);
        }
        if name == "mv" {
            j.write(source);
        }
        if into_dir && !source.unknown && !destination.unknown {
            let entry = join(&destination, basename(&source.text));
            j.write(&entry);
            if recursive {
                j.write_tree(&entry);
            }
        }
    }
    j.write(&destination);
    if recursive && !operands.iter().all(|s| s.text.ends_with('/')) {
        j.write_tree(&destination);
    }
    j
}

/// `ln`'s options are the ones `links.rs` reads the links from (`--back` is ambiguous
/// there, between `--backup` and `--backup=`, so it is an unknown option here too).
static LN: Program = Program::new(
    Spec::new(crate::links::LN_SHORT, crate::links::LN_LONG),
    &[],
);

/// ln TARGET LINK: the link is written, and the target read, since the link makes it
/// readable under a new name.
fn link(args: &[Word]) -> Judgement {
    let (mut j, parsed) = LN.read(args);
    let mut operands: Vec<&Word> = parsed.operands.iter().collect();
    let destination = match parsed.values(&["-t", "--target-directory"]).next() {
        Some(dir) => dir.clone(),
        None if operands.len() >= 2 => operands.pop().cloned().unwrap_or_default(),
        None => Word::literal("."),
    };
    let symbolic = parsed.has(&["-s", "--symbolic"]);
    for target in &operands {
        if !symbolic || target.unknown {
            // A hard link reads its source. A symbolic link's target is named from the
            // link's folder, which only the file system can say: the caller judges it
            // (`links::links_made`).
            j.read(target);
        }
        if !target.unknown && !destination.unknown {
            j.write(&join(&destination, basename(&target.text)));
        }
    }
    j.write(&destination);
    j
}

fn change_mode(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    let parsed = parse(
        args,
        Spec::new(
            "cfvRhHLP",
            &[
                "changes",
                "silent",
                "quiet",
                "verbose",
                "recursive",
                "reference=",
                "no-dereference",
                "dereference",
                "from=",
                "preserve-root",
                "no-preserve-root",
            ],
        ),
    );
    // `chmod -x file` and `chmod -w file` are modes, not options.
    let mode_like = |w: &Word| {
        name == "chmod"
            && w.text.starts_with('-')
            && w.text.chars().skip(1).all(|c| "rwxXstugo".contains(c))
    };
    let mut operands: Vec<Word> = Vec::new();
    let mut unknown = false;
    for arg in args {
        if mode_like(arg) {
            operands.push(arg.clone());
        }
    }
    if operands.is_empty() {
        operands = parsed.operands.clone();
        unknown = !parsed.unknown.is_empty();
    } else {
        operands = args
            .iter()
            .filter(|a| mode_like(a) || !a.text.starts_with('-') || a.unknown)
            .cloned()
            .collect();
    }
    if unknown {
        j.known = false;
    }
    let recursive = parsed.has(&["-R", "--recursive"]);
    let skip = if parsed.has(&["--reference"]) { 0 } else { 1 };
    for reference in parsed.values(&["--reference"]) {
        j.read(reference);
    }
    for operand in operands.iter().skip(skip) {
        j.write(operand);
        if recursive {
            j.write_tree(operand);
        }
    }
    if operands.len() <= skip {
        j.known = false;
    }
    j
}

static TRUNCATE: Program = Program::new(
    Spec::new("cos:r:", &["no-create", "io-blocks", "size=", "reference="]),
    &[(&["-r", "--reference"], Role::Read)],
)
.writes_operands();

static TEE: Program = Program::new(
    Spec::new(
        "aip",
        &[
            "append",
            "ignore-interrupts",
            "output-error",
            "output-error=",
        ],
    ),
    &[],
)
.writes_operands();

fn dd(args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    for arg in args {
        if arg.unknown {
            j.opaque(format!(
                "the dd operand `{}` is only known when it runs",
                arg.text
            ));
            continue;
        }
        match arg.text.split_once('=') {
            Some(("if", path)) => j.read(&Word::literal(path)),
            Some(("of", path)) => j.write(&Word::literal(path)),
            Some((
                "bs" | "ibs" | "obs" | "cbs" | "count" | "skip" | "seek" | "iseek" | "oseek"
                | "conv" | "iflag" | "oflag" | "status",
                _,
            )) => {}
            _ => j.known = false,
        }
    }
    j
}

static TAR: Program = Program::new(
    Spec::new(
        "AcdrtuxZzjJaOvkmpPSWhHlB f:C:T:X:b:K:N:g:V:L:F:I:",
        &[
            "create",
            "extract",
            "get",
            "list",
            "append",
            "update",
            "diff",
            "compare",
            "file=",
            "directory=",
            "files-from=",
            "exclude-from=",
            "exclude=",
            "gzip",
            "bzip2",
            "xz",
            "zstd",
            "auto-compress",
            "verbose",
            "keep-old-files",
            "overwrite",
            "preserve-permissions",
            "same-permissions",
            "absolute-names",
            "strip-components=",
            "wildcards",
            "no-same-owner",
            "same-owner",
            "to-stdout",
            "force-local",
            "exclude-vcs",
            "transform=",
            "xform=",
            "owner=",
            "group=",
            "mode=",
            "mtime=",
            "sort=",
            "format=",
            "to-command=",
            "use-compress-program=",
            "checkpoint=",
            "checkpoint-action=",
            "info-script=",
            "new-volume-script=",
            "rsh-command=",
            "rmt-command=",
            "warning=",
            "numeric-owner",
            "one-file-system",
        ],
    ),
    &[(
        &[
            "--to-command",
            "--use-compress-program",
            "-I",
            "--checkpoint-action",
            "--info-script",
            "--new-volume-script",
            "-F",
            "--rsh-command",
            "--rmt-command",
        ],
        Role::Opaque("tar runs another program (`--to-command`, `-I`, `--checkpoint-action`, …)"),
    )],
);

fn tar(args: &[Word]) -> Judgement {
    // The first word may be a bundle of letters without a dash: `tar xzf a.tgz`.
    let mut words: Vec<Word> = args.to_vec();
    if let Some(first) = words.first()
        && !first.unknown
        && !first.text.starts_with('-')
        && first.text.chars().all(|c| c.is_ascii_alphabetic())
    {
        let bundle = first.text.clone();
        words.remove(0);
        let mut inserted = Vec::new();
        let mut values = Vec::new();
        for c in bundle.chars() {
            inserted.push(Word::literal(&format!("-{c}")));
            if matches!(
                c,
                'f' | 'C' | 'T' | 'X' | 'b' | 'K' | 'N' | 'g' | 'V' | 'L' | 'F' | 'I'
            ) && !words.is_empty()
            {
                values.push(words.remove(0));
            }
        }
        // Re-attach values after their letters, in order.
        let mut rebuilt = Vec::new();
        let mut values = values.into_iter();
        for option in inserted {
            let takes = option.text.chars().nth(1).is_some_and(|c| {
                matches!(
                    c,
                    'f' | 'C' | 'T' | 'X' | 'b' | 'K' | 'N' | 'g' | 'V' | 'L' | 'F' | 'I'
                )
            });
            rebuilt.push(option);
            if takes && let Some(value) = values.next() {
                rebuilt.push(value);
            }
        }
        rebuilt.extend(words);
        words = rebuilt;
    }
    let (mut j, parsed) = TAR.read(&words);
    let chdir: Option<Word> = parsed.values(&["-C", "--directory"]).last().cloned();
    let under = |w: &Word| match &chdir {
        Some(dir) if !w.text.starts_with('/') && !w.unknown => join(dir, &w.text),
        _ => w.clone(),
    };
    let archive: Option<Word> = parsed.values(&["-f", "--file"]).next().cloned();
    if let Some(archive) = &archive
        && !archive.unknown
        && !parsed.has(&["--force-local"])
        && let Some((host, _)) = archive.text.split_once(':')
        && !host.contains('/')
    {
        // `host:path` archives go through rsh.
        j.network(host.rsplit('@').next().unwrap_or(host));
        j.known = false;
    }
    for list in parsed.values(&["-T", "--files-from", "-X", "--exclude-from"]) {
        j.read(list);
    }
    let create = parsed.has(&["-c", "--create", "-r", "--append", "-u", "--update"]);
    let extract = parsed.has(&["-x", "--extract", "--get"]);
    let to_stdout = parsed.has(&["-O", "--to-stdout"]);
    if create {
        if let Some(archive) = &archive {
            j.write(archive);
        }
        for operand in &parsed.operands {
            let path = under(operand);
            j.read(&path);
            j.read_tree(&path);
        }
        if parsed.has(&["-T", "--files-from"]) {
            j.opaque("`tar -T` archives files listed in another file");
        }
    } else if extract {
        if let Some(archive) = &archive {
            j.read(archive);
        }
        if !to_stdout {
            if parsed.values(&["-C", "--directory"]).count() > 1 {
                j.opaque(
                    "`tar -C` is given more than once: where each member goes depends on the \
                     order of the words",
                );
            }
            if parsed.has(&["--transform", "--xform"]) {
                j.opaque(
                    "`tar --transform` renames the members as it unpacks them, so the names \
                     it writes are not the archive's",
                );
            }
            let strip = match parsed.values(&["--strip-components"]).last() {
                None => Some(0),
                Some(value) if value.unknown => None,
                Some(value) => value.text.parse().ok(),
            };
            let Some(strip) = strip else {
                j.opaque("the number of `--strip-components` cannot be read");
                return j;
            };
            j.unpack(
                crate::ArchiveFormat::Tar,
                archive.as_ref(),
                chdir.as_ref(),
                strip,
                &parsed.operands,
                false,
            );
            if parsed.has(&["-P", "--absolute-names"]) {
                j.write_tree(&Word::literal("/"));
            }
        }
    } else if parsed.has(&["-t", "--list", "-d", "--diff", "--compare"]) {
        if let Some(archive) = &archive {
            j.read(archive);
        }
    } else {
        j.known = false;
    }
    j
}

fn zip(args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    let mut words = args.iter();
    let mut archive: Option<&Word> = None;
    let mut recursive = false;
    while let Some(word) = words.next() {
        let t = if word.unknown { "" } else { word.text.as_str() };
        if t == "-TT" || t.starts_with("--unzip-command") {
            j.opaque("`zip -TT` runs another program");
            continue;
        }
        if matches!(t, "-x" | "-i" | "--exclude" | "--include") {
            // Patterns until the end or `@`.
            for pattern in words.by_ref() {
                if pattern.is("@") {
                    break;
                }
            }
            continue;
        }
        if matches!(
            t,
            "-b" | "-n" | "-t" | "-tt" | "-P" | "--password" | "-O" | "--output-file" | "-Z" | "-s"
        ) {
            let value = words.next();
            if matches!(t, "-O" | "--output-file")
                && let Some(v) = value
            {
                j.write(v);
            }
            if matches!(t, "-b")
                && let Some(v) = value
            {
                j.write_tree(v);
            }
            continue;
        }
        if t.starts_with('-') && t.len() > 1 {
            if t.contains('r') || t.contains('R') || t == "--recurse-paths" {
                recursive = true;
            }
            if t.contains('@') {
                j.opaque("`zip -@` archives files named on its input");
            }
            continue;
        }
        match archive {
            None => {
                archive = Some(word);
                j.write(word);
                j.read(word);
            }
            Some(_) => {
                j.read(word);
                if recursive {
                    j.read_tree(word);
                }
            }
        }
    }
    if archive.is_none() {
        j.known = false;
    }
    j
}

fn unzip(args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    let mut words = args.iter();
    let mut archive: Option<&Word> = None;
    let mut target: Option<Word> = None;
    let mut listing = false;
    let mut flatten = false;
    let mut members = Vec::new();
    while let Some(word) = words.next() {
        let t = if word.unknown { "" } else { word.text.as_str() };
        if t == "-d" {
            target = words.next().cloned();
            continue;
        }
        if t == "-P" {
            // A password, not a member.
            words.next();
            continue;
        }
        if t == "-x" {
            for _ in words.by_ref() {}
            break;
        }
        if t.starts_with('-') && t.len() > 1 {
            if t.contains('l')
                || t.contains('t')
                || t.contains('v')
                || t.contains('p')
                || t.contains('c')
                || t.contains('Z')
            {
                listing = true;
            }
            if t.contains('j') {
                flatten = true;
            }
            continue;
        }
        match archive {
            None => archive = Some(word),
            Some(_) => members.push(word.clone()),
        }
    }
    match archive {
        Some(archive) => j.read(archive),
        None => j.known = false,
    }
    if !listing {
        j.unpack(
            crate::ArchiveFormat::Zip,
            archive,
            target.as_ref(),
            0,
            &members,
            flatten,
        );
    }
    j
}

fn compress(args: &[Word]) -> Judgement {
    let mut j = Judgement::known();
    let stdout = args.iter().any(|a| {
        !a.unknown
            && (a.text == "--stdout"
                || a.text == "-l"
                || a.text == "-t"
                || (a.text.starts_with('-')
                    && !a.text.starts_with("--")
                    && (a.text.contains('c') || a.text.contains('t') || a.text.contains('l'))))
    });
    for arg in args {
        if !arg.unknown && arg.text.starts_with('-') && arg.text != "-" {
            continue;
        }
        j.read(arg);
        if !stdout {
            // The file is replaced by its (de)compressed sibling.
            j.write(arg);
            j.write(&Word {
                glob: true,
                ..arg.with_text(format!("{}*", arg.text))
            });
            if let Some((stem, _)) = arg.text.rsplit_once('.') {
                j.write(&Word::literal(stem));
            }
        }
    }
    j
}

/// A URL or host for a network effect; `file://` URLs are reads.
fn url_effect(j: &mut Judgement, word: &Word) {
    if word.unknown {
        j.opaque(format!(
            "the address `{}` is only known when the command runs",
            word.text
        ));
        return;
    }
    let lower = word.text.to_ascii_lowercase();
    if let Some(path) = lower.strip_prefix("file://") {
        let start = word.text.len() - path.len();
        let path = word.text.get(start..).unwrap_or("");
        let path = path.strip_prefix("localhost").unwrap_or(path);
        j.read(&Word::literal(path));
        return;
    }
    j.network(&word.text);
}

/// The last segment of a URL's path, before any query or fragment: the file a download
/// names after the URL (`curl -O`, `wget`). Empty when the path ends in `/`.
fn url_file_name(url: &str) -> &str {
    url.split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
}

static CURL: Program = Program::new(
    Spec::new(
        "A:b:c:C:d:D:e:E:F:H:K:m:o:Q:r:T:u:U:w:x:X:y:Y:z:#0123456fGiIjkLlMnNOpqRsSvV:",
        &[
            "user-agent=",
            "cookie=",
            "cookie-jar=",
            "continue-at=",
            "data=",
            "data-ascii=",
            "data-binary=",
            "data-raw=",
            "data-urlencode=",
            "json=",
            "dump-header=",
            "referer=",
            "cert=",
            "form=",
            "form-string=",
            "header=",
            "config=",
            "max-time=",
            "output=",
            "output-dir=",
            "quote=",
            "range=",
            "upload-file=",
            "user=",
            "proxy-user=",
            "write-out=",
            "proxy=",
            "request=",
            "speed-limit=",
            "speed-time=",
            "time-cond=",
            "url=",
            "key=",
            "cacert=",
            "capath=",
            "trace=",
            "trace-ascii=",
            "stderr=",
            "connect-timeout=",
            "retry=",
            "resolve=",
            "connect-to=",
            "interface=",
            "unix-socket=",
            "abstract-unix-socket=",
            "netrc-file=",
            "variable=",
            "expand-url=",
            "create-dirs",
            "compressed",
            "fail",
            "fail-with-body",
            "silent",
            "show-error",
            "location",
            "insecure",
            "verbose",
            "include",
            "head",
            "remote-name",
            "remote-name-all",
            "remote-header-name",
            "get",
            "globoff",
            "progress-bar",
            "no-progress-meter",
            "http1.1",
            "http2",
            "netrc",
            "path-as-is",
            "raw",
            "url-query=",
            "oauth2-bearer=",
            "aws-sigv4=",
            "ipv4",
            "ipv6",
            "next",
            "parallel",
        ],
    ),
    &[
        (
            &["-K", "--config"],
            Role::Opaque("`curl -K` reads more options from a file"),
        ),
        (
            &[
                "-o",
                "--output",
                "-c",
                "--cookie-jar",
                "-D",
                "--dump-header",
                "--trace",
                "--trace-ascii",
                "--stderr",
            ],
            Role::Write,
        ),
        (
            &[
                "-T",
                "--upload-file",
                "-E",
                "--cert",
                "--key",
                "--cacert",
                "--netrc-file",
            ],
            Role::Read,
        ),
    ],
)
.unknown();

fn curl(args: &[Word]) -> Judgement {
    let (mut j, parsed) = CURL.read(args);
    for value in parsed.values(&[
        "-d",
        "--data",
        "--data-ascii",
        "--data-binary",
        "--data-urlencode",
        "--json",
        "-F",
        "--form",
        "-H",
        "--header",
        "-b",
        "--cookie",
        "-w",
        "--write-out",
        "--variable",
    ]) {
        if value.unknown {
            j.opaque(format!(
                "the curl data `{}` is only known when it runs",
                value.text
            ));
            continue;
        }
        // `@file` (or `name@file`, `name=<file`) sends a file.
        let text = value.text.as_str();
        let file = if let Some(rest) = text.strip_prefix('@') {
            Some(rest)
        } else if let Some((_, rest)) = text.split_once("=@") {
            Some(rest)
        } else if let Some((_, rest)) = text.split_once("=<") {
            Some(rest)
        } else if let Some((_, rest)) = text
            .split_once('@')
            .filter(|_| !text.contains("://") && !text.contains(' ') && !text.contains(':'))
        {
            Some(rest)
        } else {
            None
        };
        if let Some(file) = file {
            let file = file.split(';').next().unwrap_or(file);
            j.read(&Word::literal(file));
        }
        // `-b name=value` is a cookie, `-b file` a cookie file.
    }
    let output_dir = parsed.values(&["--output-dir"]).next().cloned();
    let remote_name = parsed.has(&[
        "-O",
        "--remote-name",
        "--remote-name-all",
        "-J",
        "--remote-header-name",
    ]);
    let urls: Vec<Word> = parsed
        .operands
        .iter()
        .chain(parsed.values(&["--url"]))
        .cloned()
        .collect();
    for url in &urls {
        url_effect(&mut j, url);
        if remote_name && !url.unknown {
            let name = url_file_name(&url.text);
            let name = if name.is_empty() { "*" } else { name };
            let file = match &output_dir {
                Some(dir) => join(dir, name),
                None => Word::literal(name),
            };
            j.write(&file);
            if parsed.has(&["-J", "--remote-header-name"]) {
                // The server names the file.
                j.write_tree(&output_dir.clone().unwrap_or_else(|| Word::literal(".")));
            }
        }
    }
    if urls.is_empty() && parsed.unknown.is_empty() {
        // Nothing to fetch is still a program to run.
    }
    j
}

static WGET: Program = Program::new(
    Spec::new(
        "O:o:a:P:i:e:U:t:T:w:l:A:R:D:I:X:B:qvnrkKmNpcSbdxEH",
        &[
            "output-document=",
            "output-file=",
            "append-output=",
            "directory-prefix=",
            "input-file=",
            "execute=",
            "user-agent=",
            "tries=",
            "timeout=",
            "wait=",
            "level=",
            "accept=",
            "reject=",
            "domains=",
            "include-directories=",
            "exclude-directories=",
            "base=",
            "post-data=",
            "post-file=",
            "body-file=",
            "body-data=",
            "method=",
            "header=",
            "user=",
            "password=",
            "load-cookies=",
            "save-cookies=",
            "ca-certificate=",
            "certificate=",
            "private-key=",
            "quiet",
            "verbose",
            "no-verbose",
            "recursive",
            "convert-links",
            "mirror",
            "no-clobber",
            "page-requisites",
            "continue",
            "server-response",
            "background",
            "debug",
            "no-check-certificate",
            "timestamping",
            "spider",
            "no-parent",
            "content-disposition",
            "show-progress",
            "progress=",
            "limit-rate=",
            "no-directories",
            "force-directories",
            "config=",
        ],
    ),
    &[
        (
            &["-e", "--execute", "--config"],
            Role::Opaque("`wget -e` / `--config` run wgetrc commands"),
        ),
        (
            &[
                "-o",
                "--output-file",
                "-a",
                "--append-output",
                "--save-cookies",
            ],
            Role::Write,
        ),
        (
            &[
                "-i",
                "--input-file",
                "--post-file",
                "--body-file",
                "--load-cookies",
                "--ca-certificate",
                "--certificate",
                "--private-key",
            ],
            Role::Read,
        ),
        (
            &["-i", "--input-file"],
            Role::Opaque("`wget -i` fetches addresses listed in a file"),
        ),
    ],
)
.unknown();

fn wget(args: &[Word]) -> Judgement {
    let (mut j, parsed) = WGET.read(args);
    let outputs: Vec<Word> = parsed
        .values(&["-O", "--output-document"])
        .cloned()
        .collect();
    let prefix = parsed.values(&["-P", "--directory-prefix"]).next().cloned();
    let recursive = parsed.has(&[
        "-r",
        "--recursive",
        "-m",
        "--mirror",
        "-p",
        "--page-requisites",
        "--content-disposition",
    ]);
    for url in &parsed.operands {
        url_effect(&mut j, url);
        if outputs.is_empty() && !url.unknown && !parsed.has(&["--spider"]) {
            let base = prefix.clone().unwrap_or_else(|| Word::literal("."));
            if recursive {
                j.write_tree(&base);
            } else {
                let name = url_file_name(&url.text);
                let name =
                    if name.is_empty() || !url.text.contains("://") && !url.text.contains('/') {
                        "index.html"
                    } else {
                        name
                    };
                j.write(&join(&base, name));
            }
        }
    }
    for output in &outputs {
        j.write(output);
    }
    j
}

/// The host of `user@host:path`, `host:path`, `rsync://host/…`, `host::module`.
fn remote_host(text: &str) -> Option<String> {
    if let Some((scheme, rest)) = text.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return None;
        }
        let authority = rest.split('/').next().unwrap_or(rest);
        return Some(
            authority
                .rsplit('@')
                .next()
                .unwrap_or(authority)
                .to_string(),
        );
    }
    let (host, _) = text.split_once(':')?;
    if host.is_empty() || host.contains('/') {
        return None;
    }
    Some(host.rsplit('@').next().unwrap_or(host).to_string())
}

static SSH: Program = Program::new(
    Spec::posix(
        "46AaCfGgKkMNnqsTtVvXxYyb:c:D:E:e:F:I:i:J:L:l:m:O:o:p:P:Q:R:S:W:w:B:",
        &[],
    ),
    &[],
)
.unknown();

fn ssh(name: &str, args: &[Word]) -> Judgement {
    let (mut j, parsed) = SSH.read(args);
    for option in parsed.values(&["-o"]) {
        let lower = option.text.to_ascii_lowercase();
        if option.unknown
            || lower.contains("proxycommand")
            || lower.contains("localcommand")
            || lower.contains("knownhostscommand")
            || lower.contains("match")
        {
            j.opaque(format!(
                "the ssh option `{}` runs a local command",
                option.text
            ));
        }
    }
    for file in parsed.values(&["-F", "-i", "-E", "-S"]) {
        j.read(file);
    }
    for jump in parsed.values(&["-J"]) {
        j.network(&jump.text);
    }
    match parsed.operands.first() {
        Some(host) if host.unknown => {
            j.opaque(format!(
                "the ssh host `{}` is only known when it runs",
                host.text
            ));
        }
        Some(host) => {
            let target = host.text.strip_prefix("ssh://").unwrap_or(&host.text);
            let target = target.rsplit('@').next().unwrap_or(target);
            let target = if name == "sftp" {
                target.split(':').next().unwrap_or(target)
            } else {
                target
            };
            j.network(target);
        }
        None => {}
    }
    j
}

fn remote_copy(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::unknown();
    let parsed = if name == "scp" {
        parse(args, Spec::new("346ABCOpqRrsTvc:D:F:i:J:l:o:P:S:X:", &[]))
    } else {
        parse(
            args,
            Spec::new(
                "vqcarRbudlLkKHpEAXogDtSnWxyzhPe:f:T:B:",
                &[
                    "verbose",
                    "quiet",
                    "checksum",
                    "archive",
                    "recursive",
                    "relative",
                    "backup",
                    "update",
                    "links",
                    "perms",
                    "times",
                    "group",
                    "owner",
                    "devices",
                    "specials",
                    "dry-run",
                    "delete",
                    "delete-after",
                    "delete-before",
                    "delete-during",
                    "compress",
                    "human-readable",
                    "progress",
                    "partial",
                    "stats",
                    "exclude=",
                    "include=",
                    "exclude-from=",
                    "include-from=",
                    "files-from=",
                    "rsh=",
                    "rsync-path=",
                    "filter=",
                    "chmod=",
                    "bwlimit=",
                    "timeout=",
                    "info=",
                    "itemize-changes",
                    "no-perms",
                    "no-owner",
                    "no-group",
                    "inplace",
                    "mkpath",
                    "backup-dir=",
                    "suffix=",
                    "temp-dir=",
                    "port=",
                    "password-file=",
                ],
            ),
        )
    };
    for option in parsed.values(&["-e", "--rsh", "--rsync-path", "-S", "-o"]) {
        let lower = option.text.to_ascii_lowercase();
        let harmless_rsh = matches!(option.text.as_str(), "ssh" | "rsh");
        if option.unknown
            || !harmless_rsh
                && (name == "rsync"
                    || lower.contains("proxycommand")
                    || lower.contains("localcommand")
                    || option.text.starts_with('/'))
        {
            j.opaque(format!("`{name}` runs another program (`{}`)", option.text));
        }
    }
    for file in parsed.values(&[
        "--files-from",
        "--exclude-from",
        "--include-from",
        "--password-file",
        "-F",
        "-i",
    ]) {
        j.read(file);
    }
    let recursive = parsed.has(&["-r", "-a", "--recursive", "--archive"]);
    let mut operands: Vec<&Word> = parsed.operands.iter().collect();
    let destination = if operands.len() >= 2 {
        operands.pop()
    } else {
        None
    };
    for source in operands {
        if source.unknown {
            j.opaque(format!(
                "the path `{}` is only known when it runs",
                source.text
            ));
            continue;
        }
        match remote_host(&source.text) {
            Some(host) => j.network(&host),
            None => {
                j.read(source);
                if recursive {
                    j.read_tree(source);
                }
            }
        }
    }
    if let Some(destination) = destination {
        if destination.unknown {
            j.opaque(format!(
                "the path `{}` is only known when it runs",
                destination.text
            ));
        } else {
            match remote_host(&destination.text) {
                Some(host) => j.network(&host),
                None => {
                    j.write(destination);
                    j.write_tree(destination);
                }
            }
        }
    }
    j
}

fn netcat(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::unknown();
    for arg in args {
        let lower = arg.text.to_ascii_lowercase();
        if name == "socat" {
            if lower.starts_with("exec:") || lower.starts_with("system:") {
                j.opaque("`socat EXEC:`/`SYSTEM:` runs a command");
            } else if let Some((_, rest)) = lower.split_once(':') {
                let host = rest.split([':', ',']).next().unwrap_or(rest);
                if !host.is_empty()
                    && !lower.starts_with("stdio")
                    && !lower.starts_with("file:")
                    && !lower.starts_with("open:")
                {
                    j.network(host);
                }
                if lower.starts_with("file:")
                    || lower.starts_with("open:")
                    || lower.starts_with("create:")
                {
                    j.write(&Word::literal(rest.split(',').next().unwrap_or(rest)));
                }
            }
            continue;
        }
        if matches!(
            arg.text.as_str(),
            "-e" | "-c" | "--exec" | "--sh-exec" | "--lua-exec"
        ) {
            j.opaque(format!(
                "`{name} {}` runs a command for the connection",
                arg.text
            ));
        }
    }
    if name != "socat" {
        // The first operand that is not an option or a number is the host.
        let mut skip_next = false;
        for arg in args {
            if skip_next {
                skip_next = false;
                continue;
            }
            if arg.text.starts_with('-') {
                skip_next = matches!(
                    arg.text.as_str(),
                    "-p" | "-s" | "-w" | "-i" | "-q" | "-x" | "-X" | "-e" | "-c" | "-o" | "-O"
                );
                continue;
            }
            if arg.text.chars().all(|c| c.is_ascii_digit() || c == '-') {
                continue;
            }
            url_effect(&mut j, arg);
            break;
        }
        if args
            .iter()
            .any(|a| a.text.starts_with("-l") || a.text == "--listen")
        {
            j.network("0.0.0.0");
        }
    }
    j
}

/// Package managers: installs reach the registry; the rest is up to execute rules.
fn package(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::unknown();
    let verb = args
        .iter()
        .find(|a| !a.text.starts_with('-'))
        .map(|a| a.text.as_str())
        .unwrap_or("");
    let registry = match name {
        "npm" | "pnpm" | "yarn" | "npx" | "pnpx" | "bunx" => "registry.npmjs.org",
        "pip" | "pip3" | "pipx" | "uv" | "uvx" | "poetry" | "pipenv" => "pypi.org",
        "conda" | "mamba" => "conda.anaconda.org",
        "gem" | "bundle" => "rubygems.org",
        "composer" => "repo.packagist.org",
        "cargo" => "crates.io",
        "go" => "proxy.golang.org",
        "deno" => "jsr.io",
        "brew" => "formulae.brew.sh",
        _ => "the distribution's package mirrors",
    };
    let installs = match name {
        "npx" | "pnpx" | "bunx" | "uvx" => true,
        "yarn" if verb.is_empty() => true,
        "pipx" => matches!(
            verb,
            "install" | "run" | "inject" | "upgrade" | "upgrade-all"
        ),
        "cargo" => matches!(
            verb,
            "install"
                | "add"
                | "update"
                | "fetch"
                | "publish"
                | "search"
                | "login"
                | "owner"
                | "yank"
        ),
        "go" => {
            matches!(verb, "get" | "install" | "mod") || args.iter().any(|a| a.text.contains('@'))
        }
        "deno" => matches!(verb, "install" | "add" | "cache" | "run" | "compile"),
        _ => matches!(
            verb,
            "install"
                | "i"
                | "add"
                | "ci"
                | "update"
                | "upgrade"
                | "up"
                | "sync"
                | "get"
                | "fetch"
                | "download"
                | "publish"
                | "dlx"
                | "create"
                | "exec"
                | "x"
                | "lock"
                | "remove"
                | "uninstall"
                | "dist-upgrade"
                | "full-upgrade"
                | "init"
        ),
    };
    if installs {
        j.network(registry);
    }
    if name == "pip" || name == "pip3" || name == "uv" {
        let mut words = args.iter();
        while let Some(word) = words.next() {
            match word.text.as_str() {
                "-r" | "--requirement" | "-c" | "--constraint" => {
                    if let Some(file) = words.next() {
                        j.read(file);
                    }
                }
                "-i" | "--index-url" | "--extra-index-url" | "-f" | "--find-links" => {
                    if let Some(url) = words.next() {
                        url_effect(&mut j, url);
                    }
                }
                t if t.contains("://") => url_effect(&mut j, word),
                _ => {}
            }
        }
    }
    j
}

fn env(args: &[Word]) -> Judgement {
    let mut j = Judgement {
        transparent: true,
        ..Judgement::known()
    };
    let mut index = 0;
    let mut chdir = None;
    while let Some(arg) = args.get(index) {
        let t = arg.text.as_str();
        if arg.unknown {
            j.opaque(format!(
                "the `env` argument `{t}` is only known when it runs"
            ));
            return j;
        }
        if t == "--" {
            index += 1;
            break;
        }
        if matches!(
            t,
            "-i" | "--ignore-environment" | "-0" | "--null" | "-v" | "--debug" | "-"
        ) || t.starts_with("--unset=")
        {
            index += 1;
            continue;
        }
        if matches!(t, "-u" | "--unset") {
            index += 2;
            continue;
        }
        if matches!(t, "-C" | "--chdir") {
            chdir = args.get(index + 1).cloned();
            index += 2;
            continue;
        }
        if let Some(dir) = t.strip_prefix("--chdir=") {
            chdir = Some(Word::literal(dir));
            index += 1;
            continue;
        }
        if t.starts_with("-S")
            || t.starts_with("--split-string")
            || t == "-P"
            || t.starts_with("--default-signal")
            || t.starts_with("--ignore-signal")
            || t.starts_with("--block-signal")
        {
            if t.starts_with("-S") || t.starts_with("--split-string") {
                // `env -S 'cmd args'`: the string is split into words like a shell line.
                let text = if t == "-S" || t == "--split-string" {
                    index += 1;
                    args.get(index).cloned()
                } else {
                    Some(
                        arg.with_text(
                            t.trim_start_matches("--split-string=")
                                .trim_start_matches("-S")
                                .to_string(),
                        ),
                    )
                };
                let mut script = text.unwrap_or_default();
                for rest in args.iter().skip(index + 1) {
                    script.text.push(' ');
                    script.text.push_str(&shell_quote(&rest.text));
                    script.unknown |= rest.unknown;
                }
                j.inner.push(Inner::Script { text: script });
                return j;
            }
            j.opaque(format!("`env {t}` changes how the command is found or run"));
            return j;
        }
        if t.starts_with('-') {
            j.opaque(format!("`env {t}` is an option the analyser does not know"));
            return j;
        }
        if let Some(var) = assignment_word(arg) {
            // Judged with the command it is set for (`env.rs`).
            j.vars.push(var);
            index += 1;
            continue;
        }
        break;
    }
    let rest: Vec<Word> = args.get(index..).map(<[_]>::to_vec).unwrap_or_default();
    if rest.is_empty() {
        // `env` alone prints the environment.
        j.transparent = false;
        j.known = false;
        return j;
    }
    j.inner.push(Inner::Command { words: rest, chdir });
    j
}

/// `NAME=value` given as an argument (to `env`, `sudo`): the name and the value.
fn assignment_word(arg: &Word) -> Option<(String, Word)> {
    let (name, value) = arg.text.split_once('=')?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((name.to_string(), arg.with_text(value.to_string())))
}

/// Quote a word so a shell reads it back as itself.
pub(crate) fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// sudo and doas: reported themselves (they need an execute rule) and unwrapped.
fn sudo(args: &[Word]) -> Judgement {
    let mut j = Judgement::unknown();
    let mut index = 0;
    let mut chdir = None;
    while let Some(arg) = args.get(index) {
        let t = arg.text.as_str();
        if arg.unknown {
            j.opaque(format!(
                "the sudo argument `{t}` is only known when it runs"
            ));
            return j;
        }
        if t == "--" {
            index += 1;
            break;
        }
        if !t.starts_with('-') {
            if let Some(var) = assignment_word(arg) {
                // Judged with sudo itself (`env.rs`), which needs an execute rule anyway.
                j.vars.push(var);
                index += 1;
                continue;
            }
            break;
        }
        if matches!(
            t,
            "-u" | "-g"
                | "-C"
                | "-h"
                | "-p"
                | "-r"
                | "-t"
                | "-T"
                | "-U"
                | "--user"
                | "--group"
                | "--host"
                | "--prompt"
                | "--role"
                | "--type"
                | "--command-timeout"
                | "--other-user"
                | "--close-from"
        ) {
            index += 2;
            continue;
        }
        if matches!(t, "-D" | "--chdir") {
            chdir = args.get(index + 1).cloned();
            index += 2;
            continue;
        }
        if matches!(
            t,
            "-i" | "-s"
                | "--login"
                | "--shell"
                | "-e"
                | "--edit"
                | "-l"
                | "--list"
                | "-v"
                | "-k"
                | "-K"
        ) && args.get(index + 1).is_none()
        {
            if matches!(t, "-i" | "-s" | "--login" | "--shell") {
                j.opaque("`sudo -i` / `sudo -s` start a shell");
            }
            return j;
        }
        if matches!(t, "-e" | "--edit") {
            for file in args.iter().skip(index + 1) {
                j.write(file);
            }
            return j;
        }
        index += 1;
    }
    let rest: Vec<Word> = args.get(index..).map(<[_]>::to_vec).unwrap_or_default();
    if !rest.is_empty() {
        j.inner.push(Inner::Command { words: rest, chdir });
    }
    j
}

/// Wrappers that run their arguments as a command.
fn wrapper(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement {
        transparent: true,
        ..Judgement::known()
    };
    // Options with a value, per wrapper; then how many operands come before the command.
    let (with_value, flags, leading): (&[&str], &[&str], usize) = match name {
        "nice" => (&["-n", "--adjustment"], &[], 0),
        "timeout" => (
            &["-s", "--signal", "-k", "--kill-after"],
            &["--preserve-status", "--foreground", "-v", "--verbose"],
            1,
        ),
        "stdbuf" => (
            &["-i", "-o", "-e", "--input", "--output", "--error"],
            &[],
            0,
        ),
        "ionice" => (
            &["-c", "-n", "--class", "--classdata"],
            &["-t", "--ignore"],
            0,
        ),
        "setsid" => (&[], &["-c", "-f", "-w", "--ctty", "--fork", "--wait"], 0),
        "chrt" => (
            &[],
            &["-a", "-b", "-d", "-f", "-i", "-o", "-r", "-m", "-R", "-v"],
            1,
        ),
        "taskset" => (&[], &["-a", "-c", "--cpu-list", "--all-tasks"], 1),
        "time" => (
            &["-o", "--output", "-f", "--format"],
            &[
                "-p",
                "-v",
                "-a",
                "--append",
                "--portability",
                "--verbose",
                "-q",
            ],
            0,
        ),
        "command" => (&[], &["-p"], 0),
        "exec" => (&["-a"], &["-c", "-l"], 0),
        "caffeinate" => (&["-t", "-w"], &["-d", "-i", "-m", "-s", "-u"], 0),
        "watch" => (
            &[
                "-n",
                "--interval",
                "-d",
                "--differences",
                "-q",
                "--equexit",
                "--errexit",
            ],
            &[
                "-t",
                "--no-title",
                "-b",
                "--beep",
                "-e",
                "-g",
                "--chgexit",
                "-c",
                "--color",
                "-x",
                "--exec",
                "-p",
                "--precise",
            ],
            0,
        ),
        "flock" => (
            &["-w", "--timeout", "-E", "--conflict-exit-code"],
            &[
                "-s",
                "-x",
                "-n",
                "-u",
                "-o",
                "--shared",
                "--exclusive",
                "--nonblock",
                "--unlock",
                "--close",
                "-F",
                "--no-fork",
            ],
            1,
        ),
        "xargs" | "parallel" => (
            &[
                "-a",
                "--arg-file",
                "-d",
                "--delimiter",
                "-E",
                "-e",
                "-I",
                "-i",
                "-L",
                "-l",
                "-n",
                "--max-args",
                "-P",
                "--max-procs",
                "-s",
                "--max-chars",
                "--process-slot-var",
                "-j",
                "--jobs",
            ],
            &[
                "-0",
                "--null",
                "-r",
                "--no-run-if-empty",
                "-t",
                "--verbose",
                "-x",
                "--exit",
                "-p",
                "--interactive",
                "-o",
                "--open-tty",
            ],
            0,
        ),
        "su" | "runuser" => (
            &["-c", "--command", "-s", "--shell", "-g", "-G", "-w"],
            &["-", "-l", "--login", "-m", "-p", "-P"],
            0,
        ),
        "chroot" => (&["--userspec", "--groups"], &["--skip-chdir"], 1),
        _ => (&[], &[], 0),
    };
    if matches!(name, "su" | "runuser" | "chroot") {
        j.transparent = false;
        j.known = false;
    }
    let mut index = 0;
    let mut replace: Option<String> = None;
    while let Some(arg) = args.get(index) {
        let t = arg.text.as_str();
        if arg.unknown {
            break;
        }
        if t == "--" {
            index += 1;
            break;
        }
        if !t.starts_with('-') || t == "-" && !flags.contains(&"-") {
            break;
        }
        let (option, inline) = match t.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v)),
            _ => (t, None),
        };
        // Short options with an attached value: `-n5`, `-I{}`, `-oL`.
        let attached = with_value
            .iter()
            .find(|o| o.len() == 2 && !t.starts_with("--") && t.len() > 2 && t.starts_with(*o));
        let value: Option<String> = if with_value.contains(&option) {
            match inline {
                Some(v) => {
                    index += 1;
                    Some(v.to_string())
                }
                None => {
                    index += 2;
                    args.get(index - 1).map(|w| w.text.clone())
                }
            }
        } else if let Some(o) = attached {
            index += 1;
            t.get(o.len()..).map(str::to_string)
        } else if flags.contains(&option)
            || (name == "nice"
                && t.len() > 1
                && t.get(1..)
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit())))
        {
            index += 1;
            None
        } else {
            j.opaque(format!(
                "`{name} {t}` is an option the analyser does not know"
            ));
            return j;
        };
        if matches!(name, "xargs" | "parallel") {
            match option {
                "-I" | "-i" => replace = Some(value.clone().unwrap_or_else(|| "{}".to_string())),
                "-a" | "--arg-file" => {
                    if let Some(v) = &value {
                        j.read(&Word::literal(v));
                    }
                }
                _ => {}
            }
        }
        if matches!(name, "time")
            && matches!(option, "-o" | "--output")
            && let Some(v) = &value
        {
            j.write(&Word::literal(v));
        }
        if matches!(name, "su" | "runuser") && matches!(option, "-c" | "--command") {
            if let Some(v) = value {
                j.inner.push(Inner::Script {
                    text: args
                        .get(index - 1)
                        .cloned()
                        .unwrap_or_else(|| Word::literal(&v)),
                });
            }
            return j;
        }
    }
    let mut rest: Vec<Word> = args.get(index..).map(<[_]>::to_vec).unwrap_or_default();
    // Operands before the command: timeout's duration, chrt's priority, flock's file.
    for _ in 0..leading {
        if rest.is_empty() {
            break;
        }
        let operand = rest.remove(0);
        if name == "flock" {
            j.write(&operand);
            if rest
                .first()
                .is_some_and(|w| w.is("-c") || w.is("--command"))
            {
                rest.remove(0);
                if let Some(script) = rest.first().cloned() {
                    j.inner.push(Inner::Script { text: script });
                }
                return j;
            }
        }
    }
    if rest.is_empty() {
        if matches!(name, "xargs" | "parallel") {
            // `xargs` alone runs `echo` on its input.
            return j;
        }
        if matches!(name, "su" | "runuser" | "chroot") {
            j.opaque(format!("`{name}` starts a shell"));
        }
        if name == "exec" {
            return j;
        }
        if matches!(name, "time" | "command" | "builtin") {
            return j;
        }
        j.known = false;
        j.transparent = false;
        return j;
    }
    if name == "command" && rest.first().is_some_and(|w| w.is("-v") || w.is("-V")) {
        // `command -v NAME` only looks the name up.
        return j;
    }
    if name == "watch" {
        // watch joins its arguments into a line for `sh -c`.
        let mut script = Word::default();
        for (n, word) in rest.iter().enumerate() {
            if n > 0 {
                script.text.push(' ');
            }
            script.text.push_str(&word.text);
            script.unknown |= word.unknown;
        }
        j.inner.push(Inner::Script { text: script });
        return j;
    }
    if matches!(name, "xargs" | "parallel") {
        // The arguments come from standard input: unknown until it runs.
        let input = Word::unknown("$(xargs input)");
        rest = rest
            .into_iter()
            .map(|w| match &replace {
                Some(r) if w.text.contains(r.as_str()) => Word::unknown(&w.text),
                _ => w,
            })
            .collect();
        if replace.is_none() {
            rest.push(input);
        }
    }
    j.inner.push(Inner::Command {
        words: rest,
        chdir: None,
    });
    j
}

fn builtin(name: &str, args: &[Word]) -> Judgement {
    let mut j = Judgement::unknown();
    match name {
        "eval" => j.opaque("`eval` runs text built at run time"),
        "source" | "." => j.opaque(format!(
            "`{name}` runs the commands of another file in this shell"
        )),
        "trap" => {
            if args.len() >= 2 || args.first().is_some_and(|a| !a.text.starts_with('-')) {
                j.opaque("`trap` runs a command string later");
            } else {
                j.known = true;
            }
        }
        "enable" => j.opaque("`enable` loads or changes shell builtins"),
        "alias" => j.opaque("`alias` changes what a command name runs"),
        "hash" => {
            if args.iter().any(|a| a.text.starts_with("-p")) {
                j.opaque("`hash -p` changes which program a name runs");
            } else {
                j.known = true;
            }
        }
        "fc" => j.opaque("`fc` re-runs commands from history"),
        "coproc" => j.opaque("`coproc` runs a command in the background"),
        "bind" => j.opaque("`bind` can run commands from key bindings"),
        "shopt" => {
            if args
                .iter()
                .any(|a| a.text.contains("expand_aliases") || a.text.contains("extdebug"))
            {
                j.opaque("`shopt` changes how later commands are read");
            }
        }
        "let" => {
            j.opaque("`let` evaluates arithmetic, which can run commands through array subscripts")
        }
        "mapfile" | "readarray" | "complete" | "compgen" | "ulimit" | "umask" => j.known = true,
        // Declarations reach here only as `command declare …`: treat like the builtin.
        _ => j.known = true,
    }
    j
}

/// `sh -c STRING`: the string is a command line of its own. A shell without `-c` reads a
/// script file (an ordinary program to run) or its input (opaque).
fn shell(args: &[Word]) -> Judgement {
    let mut j = Judgement {
        transparent: true,
        ..Judgement::known()
    };
    let mut index = 0;
    let mut command = false;
    while let Some(arg) = args.get(index) {
        let t = arg.text.as_str();
        if arg.unknown {
            break;
        }
        if t == "--" || t == "-" {
            index += 1;
            break;
        }
        if t.starts_with('-') || t.starts_with('+') {
            if matches!(t, "-o" | "+o" | "-O" | "+O" | "--rcfile" | "--init-file") {
                j.opaque(format!(
                    "the shell option `{t}` changes what the shell loads"
                ));
                return j;
            }
            let letters: Vec<char> = t.chars().skip(1).collect();
            if t.starts_with("--") {
                if matches!(t, "--login" | "--rcfile" | "--init-file") {
                    j.opaque(format!("`{t}` makes the shell run start-up files"));
                    return j;
                }
            } else {
                if letters.contains(&'c') {
                    command = true;
                }
                if letters.contains(&'l') || letters.contains(&'i') || letters.contains(&'s') {
                    j.opaque(format!(
                        "`-{}` makes the shell run start-up files or read its input",
                        letters.iter().collect::<String>()
                    ));
                    return j;
                }
            }
            index += 1;
            continue;
        }
        break;
    }
    if command {
        match args.get(index) {
            Some(script) => j.inner.push(Inner::Script {
                text: script.clone(),
            }),
            None => j.opaque("the shell has `-c` without a command"),
        }
        return j;
    }
    match args.get(index) {
        Some(_) => {
            // A script file: an ordinary program, judged by execute rules.
            j.transparent = false;
            j.known = false;
        }
        None => j.opaque("the shell reads its commands from its input"),
    }
    j
}

fn interpreter(name: &str, inline: &[&str], args: &[Word]) -> Judgement {
    let mut j = Judgement::unknown();
    let mut saw_script = false;
    let mut in_place = false;
    for (index, arg) in args.iter().enumerate() {
        let t = arg.text.as_str();
        let single = t.starts_with('-') && !t.starts_with("--") && !arg.unknown;
        let inline_code = inline.iter().any(|flag| {
            t == *flag
                || t.starts_with(&format!("{flag}="))
                || (single
                    && flag.len() == 2
                    && flag.starts_with('-')
                    && flag
                        .chars()
                        .nth(1)
                        .is_some_and(|f| t.chars().skip(1).any(|c| c == f)))
        });
        if inline_code {
            j.opaque(format!("`{name} {t}` runs inline code"));
            return j;
        }
        if name.starts_with("python") && single && t.chars().skip(1).any(|c| c == 'i') {
            j.opaque(format!("`{name} {t}` reads code from its input"));
            return j;
        }
        if name == "perl" && single && t.contains('i') {
            in_place = true;
        }
        if name == "deno" && index == 0 && t == "eval" {
            j.opaque("`deno eval` runs inline code");
            return j;
        }
        if !t.starts_with('-') || arg.unknown {
            saw_script = true;
            if in_place {
                for file in args.iter().skip(index + 1) {
                    j.write(file);
                }
            }
            break;
        }
        if (name.starts_with("python") && t == "-m")
            || (name == "node" && matches!(t, "-r" | "--require" | "--import" | "--loader"))
        {
            saw_script = true;
            break;
        }
    }
    if !saw_script {
        j.opaque(format!("`{name}` reads its program from its input"));
    }
    j
}
