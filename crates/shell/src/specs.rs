//! What the common developer tools do with their options, as data: one table per tool.
//!
//! A contract names the tools its task needs (`pytest billing/export/tests*`). Judged as
//! text, such a rule admitted anything spelled to start the same way: extra paths
//! (`ruff check billing/export .env`), plugins (`-p evil`), argument files, output files
//! and network options, while the same command spelled differently (`pytest -q
//! billing/export/tests`, `cd billing/export && pytest tests`) was refused. Here each tool
//! has a spec saying, for every option it knows, what the option's value is: nothing the
//! contract judges, a path read or written, code loaded, or a host contacted. One parser
//! ([`read`]) reads a command against its spec into an [`Invocation`] (the tool, its paths
//! and names, and the parts only an execute rule may vouch for) plus the reads, writes and
//! network touches the contract judges. Execute rules are read by the same parser
//! ([`crate::rule_shape`]), so a rule and a command are compared as what they mean.
//!
//! The tables are `static` data: nothing is built at start-up (the hook is a fresh process
//! per call), and a lookup is a scan of a few hundred short strings.
//!
//! An option the spec does not list, a value the spec cannot judge (`-o key=value`, a
//! module name, an argument file `@args.txt`) and arguments passed through to a program
//! the spec does not know (`npm test -- ARGS`) are [`Unvetted`]: the command is then
//! allowed only by an execute rule that spells them out.

use crate::programs::Judgement;
use crate::word::Word;
use crate::{Invocation, Unvetted};

/// What an option does with its value (or, for flags, with the command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    /// No value; changes nothing the contract judges (`-q`, `--lf`).
    Flag,
    /// A value that names no file, module or host (`-k EXPR`, `--tb=short`).
    Value,
    /// A value only when glued with `=` (`--cov`, `--cov=src`): a path read.
    OptionalRead,
    /// A path read (a file or a folder).
    Read,
    /// A folder read with everything under it.
    ReadTree,
    /// A path written.
    Write,
    /// A folder written, or emptied and refilled (`--basetemp`).
    WriteTree,
    /// Names code to import or run (a module, a class, a program): judged by no path.
    Code,
    /// A configuration file that can load plugins or run code (`pytest -c`, `eslint -c`):
    /// a read, and code the rule must spell out.
    Config,
    /// A value the spec cannot judge from the text (`-o key=value`, `--config` inline TOML).
    Opaque,
    /// Sends data to this host.
    Host(&'static str),
    /// Python's warning filter `action:message:category:module:line`: a dotted category
    /// is imported, which runs its module.
    Warning,
    /// Makes the tool rewrite its path operands (`--fix`).
    Fixes,
    /// Makes a tool that rewrites by default only report (`--check`, `--diff`).
    ReportOnly,
    /// `-Dkey=value` / `-Pkey=value` properties: a few keys are known, others opaque.
    Property,
}

/// What a tool's operands are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operands {
    /// Paths the tool reads (files or folders); pytest's `path::test` node ids count.
    Paths,
    /// Names that are not paths (test filters, tasks, goals, targets).
    Names,
    /// A script name, then arguments passed through to the script.
    Script,
    /// Make: targets (names) and `VAR=value` overrides (passed through).
    Targets,
    /// Go: packages; `./x/...` and `.` are paths, import paths are names.
    Packages,
}

/// How options are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// getopt: `-qx` clusters, `-kEU` glued values, `--name=value`.
    Getopt,
    /// Each word is one option (`-run`, `-pl`, `--noEmit`); `-Dk=v`, `-j4` glued.
    Whole,
}

/// Whether a tool rewrites its path operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writes {
    /// Only with an option of kind [`Arg::Fixes`].
    WithFix,
    /// Unless an option of kind [`Arg::ReportOnly`] is given.
    Always,
}

/// One tool: its name in rules and reasons, its options and its operands.
pub(crate) struct ToolSpec {
    /// `pytest`, `ruff check`, `npm run`.
    pub tool: &'static str,
    /// Groups of option names (space-separated) and what their values are.
    pub options: &'static [(&'static str, Arg)],
    pub operands: Operands,
    pub style: Style,
    pub writes: Writes,
    /// The path the tool works on when given none (`.`: the working directory).
    pub default: Option<&'static str>,
}

const fn spec(
    tool: &'static str,
    options: &'static [(&'static str, Arg)],
    operands: Operands,
) -> ToolSpec {
    ToolSpec {
        tool,
        options,
        operands,
        style: Style::Getopt,
        writes: Writes::WithFix,
        default: Some("."),
    }
}

const fn writes(mut s: ToolSpec) -> ToolSpec {
    s.writes = Writes::Always;
    s
}

const fn whole(mut s: ToolSpec) -> ToolSpec {
    s.style = Style::Whole;
    s
}

const fn no_default(mut s: ToolSpec) -> ToolSpec {
    s.default = None;
    s
}

use Arg::{
    Code, Config, Fixes, Flag, Host, Opaque, OptionalRead, Property, Read, ReadTree, ReportOnly,
    Value, Warning, Write, WriteTree,
};

static PYTEST: ToolSpec = spec(
    "pytest",
    &[
        (
            "-q --quiet -v --verbose -x --exitfirst -s -l --showlocals --lf --last-failed \
             --ff --failed-first --nf --new-first --sw --stepwise --sw-skip --stepwise-skip \
             --cache-clear --co --collect-only --setup-show --setup-only --setup-plan \
             --fixtures --fixtures-per-test --markers --strict-markers --strict-config --strict \
             --disable-warnings --disable-pytest-warnings --runxfail --doctest-modules \
             --doctest-continue-on-collection-errors --continue-on-collection-errors \
             --no-header --no-summary --full-trace --noconftest --keep-duplicates \
             --pdb --trace --no-cov --no-cov-on-fail --cov-append --cov-branch \
             --showlocals --no-showlocals --version -V -h --help --force-short-summary \
             --no-fold-skipped --sw-reset --stepwise-reset --collect-in-virtualenv \
             --doctest-ignore-import-errors --suppress-no-test-exit-code",
            Flag,
        ),
        (
            "-k -m --tb -r --maxfail --durations --durations-min --color --code-highlight \
             --capture --show-capture --import-mode --log-level --log-format \
             --log-date-format --log-cli-level --log-cli-format --log-cli-date-format \
             --log-file-level --log-file-format --log-file-date-format --assert -n \
             --numprocesses --dist --maxprocesses --timeout --timeout-method --deselect \
             --ignore --ignore-glob --doctest-glob --doctest-report --cov-fail-under \
             --cov-context --verbosity --count --reruns --reruns-delay --random-order-seed \
             --random-order-bucket --junit-prefix --tx --rsyncdir --cov-precision",
            Value,
        ),
        ("--cov", OptionalRead),
        ("-c --config-file --inifile --cov-config", Config),
        ("--rootdir --confcutdir", Read),
        (
            "--junitxml --junit-xml --log-file --resultlog --debug --html --report-log",
            Write,
        ),
        ("--basetemp", WriteTree),
        ("--cov-report", Opaque),
        ("-p --pdbcls --pyargs", Code),
        ("-o --override-ini", Opaque),
        ("--pastebin", Host("bpaste.net")),
        ("-W --pythonwarnings", Warning),
    ],
    Operands::Paths,
);

const RUFF_COMMON: &[(&str, Arg)] = &[
    (
        "-q --quiet -s --silent -v --verbose -n --no-cache --isolated --preview --no-preview \
         --respect-gitignore --no-respect-gitignore --force-exclude --no-force-exclude \
         -h --help --show-files --show-settings",
        Flag,
    ),
    (
        "--exclude --extend-exclude --line-length --target-version --stdin-filename \
         --extension --color --range",
        Value,
    ),
    ("--config", Opaque),
    ("--cache-dir", WriteTree),
];

static RUFF_CHECK: ToolSpec = spec(
    "ruff check",
    &[
        (
            "--fix --fix-only --unsafe-fixes --add-noqa --show-fixes",
            Fixes,
        ),
        (
            "--no-fix --no-unsafe-fixes --no-show-fixes --no-fix-only --diff -w --watch \
             --ignore-noqa -e --exit-zero --exit-non-zero-on-fix --statistics --show-source \
             --no-show-source",
            Flag,
        ),
        (
            "--select --ignore --extend-select --extend-ignore --per-file-ignores \
             --extend-per-file-ignores --fixable --extend-fixable --unfixable \
             --extend-unfixable --output-format --format --dummy-variable-rgx",
            Value,
        ),
        ("-o --output-file", Write),
    ],
    Operands::Paths,
);

static RUFF_FORMAT: ToolSpec = writes(spec(
    "ruff format",
    &[
        ("--check --diff", ReportOnly),
        ("--exit-non-zero-on-format", Flag),
    ],
    Operands::Paths,
));

static MYPY: ToolSpec = spec(
    "mypy",
    &[
        (
            "--strict --ignore-missing-imports --no-error-summary --pretty --show-error-codes \
             --hide-error-codes --show-column-numbers --show-error-context --check-untyped-defs \
             --disallow-untyped-defs --disallow-incomplete-defs --no-implicit-optional \
             --warn-unused-ignores --warn-return-any --warn-redundant-casts \
             --warn-unreachable --explicit-package-bases --namespace-packages \
             --no-namespace-packages --no-incremental --incremental --show-traceback \
             --non-interactive -v --verbose -V --version -h --help --no-site-packages \
             --no-silence-site-packages --allow-redefinition --local-partial-types \
             --no-implicit-reexport --strict-equality --follow-untyped-imports \
             --disallow-any-generics --disallow-untyped-calls --disallow-untyped-decorators \
             --no-color-output --color-output --show-absolute-path --error-summary \
             --warn-unused-configs --sqlite-cache --skip-cache-mtime-checks --fast-module-lookup",
            Flag,
        ),
        (
            "--python-version --follow-imports --exclude --platform --always-true \
             --always-false --enable-error-code --disable-error-code --soft-error-limit \
             --junit-format --shadow-file -c --command",
            Value,
        ),
        ("--config-file", Config),
        ("--custom-typeshed-dir", ReadTree),
        ("--junit-xml", Write),
        (
            "--cache-dir --html-report --txt-report --xml-report --linecount-report \
             --any-exprs-report --cobertura-xml-report --lineprecision-report \
             --linecoverage-report --lineprecision-report",
            WriteTree,
        ),
        ("--python-executable -m --module -p --package", Code),
        ("--install-types", Host("pypi.org")),
    ],
    Operands::Paths,
);

static BLACK: ToolSpec = writes(spec(
    "black",
    &[
        ("--check --diff", ReportOnly),
        (
            "-q --quiet -v --verbose --fast --safe --preview --unstable -S \
             --skip-string-normalization -C --skip-magic-trailing-comma --color --no-color \
             --ipynb --pyi --version -h --help --skip-source-first-line",
            Flag,
        ),
        (
            "-l --line-length -t --target-version --include --exclude --extend-exclude \
             --force-exclude --required-version --stdin-filename -W --workers -c --code \
             --line-ranges --enable-unstable-feature",
            Value,
        ),
        ("--config", Read),
    ],
    Operands::Paths,
));

static ISORT: ToolSpec = writes(spec(
    "isort",
    &[
        ("--check-only --check -c --diff --df", ReportOnly),
        (
            "-q --quiet -v --verbose --float-to-top --atomic --ca --combine-as \
             --force-single-line-imports --sl --tc --trailing-comma --up --use-parentheses \
             --ws --fgw --only-modified --filter-files --version -h --help --color --honor-noqa",
            Flag,
        ),
        (
            "--profile -l --line-length --line-width -m --multi-line --py --python-version \
             --skip --skip-glob -s --sg --extend-skip --extend-skip-glob -j --jobs -p \
             --project -o --thirdparty --known-local-folder",
            Value,
        ),
        ("--settings-path --sp --settings-file --settings", Read),
        ("--src --src-path", ReadTree),
    ],
    Operands::Paths,
));

static FLAKE8: ToolSpec = spec(
    "flake8",
    &[
        (
            "-q --quiet -v --verbose --count --statistics --show-source --no-show-source \
             --benchmark --exit-zero --isolated --tee --doctests --hang-closing --version \
             -h --help",
            Flag,
        ),
        (
            "--color --max-line-length --max-doc-length --max-complexity --select --ignore \
             --extend-ignore --extend-select --exclude --extend-exclude --per-file-ignores \
             --format -j --jobs --filename --stdin-display-name --indent-size \
             --extend-default-ignore",
            Value,
        ),
        ("--config --append-config", Read),
        ("--output-file", Write),
        ("--require-plugins --enable-extensions", Code),
    ],
    Operands::Paths,
);

static PYLINT: ToolSpec = spec(
    "pylint",
    &[
        (
            "-E --errors-only --exit-zero -v --verbose --version -h --help --disable-all",
            Flag,
        ),
        (
            "-j --jobs -d --disable -e --enable --max-line-length -r --reports -s --score \
             --fail-under --fail-on --ignore --ignore-patterns --ignore-paths --recursive \
             --py-version --persistent --msg-template --good-names --min-similarity-lines",
            Value,
        ),
        ("--rcfile", Config),
        ("--source-roots", ReadTree),
        ("--output", Write),
        ("--load-plugins --init-hook -f --output-format", Code),
    ],
    Operands::Paths,
);

static ESLINT: ToolSpec = spec(
    "eslint",
    &[
        ("--fix", Fixes),
        (
            "--fix-dry-run --no-eslintrc --no-config-lookup --no-ignore --stdin --quiet \
             --color --no-color --no-inline-config --report-unused-disable-directives \
             --cache --debug -h --help -v --version --no-error-on-unmatched-pattern \
             --exit-on-fatal-error --no-warn-ignored --pass-on-no-patterns --stats \
             --no-cache",
            Flag,
        ),
        (
            "--fix-type --env --ext --global --ignore-pattern --stdin-filename \
             --max-warnings --cache-strategy --rule --parser-options --flag --concurrency",
            Value,
        ),
        ("-c --config", Config),
        ("--ignore-path --print-config", Read),
        ("-o --output-file --cache-file --cache-location", Write),
        (
            "--parser --plugin --rulesdir -f --format --resolve-plugins-relative-to",
            Code,
        ),
    ],
    Operands::Paths,
);

static PRETTIER: ToolSpec = spec(
    "prettier",
    &[
        ("-w --write", Fixes),
        (
            "-c --check -l --list-different --use-tabs --no-semi --single-quote \
             --jsx-single-quote --no-bracket-spacing --bracket-same-line --no-config \
             --no-editorconfig --ignore-unknown -u --cache --no-color --no-error-on-unmatched-pattern \
             --single-attribute-per-line --experimental-ternaries --version -h --help",
            Flag,
        ),
        (
            "--parser --print-width --tab-width --quote-props --trailing-comma --arrow-parens \
             --prose-wrap --end-of-line --embedded-language-formatting --cache-strategy \
             --log-level --stdin-filepath --config-precedence",
            Value,
        ),
        ("--config", Config),
        ("--ignore-path", Read),
        ("--cache-location", Write),
        ("--plugin", Code),
    ],
    Operands::Paths,
);

static TSC: ToolSpec = whole(writes(spec(
    "tsc",
    &[
        ("--noEmit --listFilesOnly --showConfig", ReportOnly),
        (
            "-b --build -w --watch --pretty --strict -d --declaration --sourceMap \
             --incremental --skipLibCheck --listFiles --listEmittedFiles --noEmitOnError \
             --extendedDiagnostics --diagnostics -v --version -h --help --esModuleInterop \
             --allowJs --checkJs --resolveJsonModule --isolatedModules --noImplicitAny \
             --strictNullChecks --noUnusedLocals --noUnusedParameters --force --verbose \
             --clean --dry --noErrorTruncation --preserveWatchOutput --all",
            Flag,
        ),
        (
            "-t --target -m --module --lib --jsx --types --locale --moduleResolution",
            Value,
        ),
        ("-p --project --baseUrl --rootDir", Read),
        ("--typeRoots", ReadTree),
        ("--outFile --tsBuildInfoFile", Write),
        ("--outDir --declarationDir --generateTrace", WriteTree),
        ("--plugins", Code),
    ],
    Operands::Paths,
)));

static JEST: ToolSpec = spec(
    "jest",
    &[
        ("-u --updateSnapshot", Fixes),
        (
            "--watch --watchAll --ci --coverage --silent --verbose -i --runInBand --bail -b \
             -o --onlyChanged --passWithNoTests --json --detectOpenHandles --forceExit \
             --no-cache --cache --clearCache --listTests --lastCommit --findRelatedTests \
             --logHeapUsage --noStackTrace --randomize --showConfig --useStderr --watchman \
             --no-watchman --errorOnDeprecated -e --expand --runTestsByPath \
             --testLocationInResults --colors --no-colors --debug -h --help --version",
            Flag,
        ),
        (
            "-t --testNamePattern --testPathPattern --testPathPatterns \
             --testPathIgnorePatterns -w --maxWorkers --collectCoverageFrom \
             --selectProjects --shard --testTimeout --changedSince --seed \
             --coverageProvider --maxConcurrency",
            Value,
        ),
        ("-c --config", Config),
        ("--rootDir --roots", ReadTree),
        ("--outputFile", Write),
        ("--coverageDirectory --cacheDirectory", WriteTree),
        (
            "--reporters --testEnvironment --testRunner --transform --testSequencer \
             --globalSetup --globalTeardown --setupFiles --setupFilesAfterEnv --env \
             --resolver --snapshotResolver --watchPlugins",
            Code,
        ),
    ],
    Operands::Paths,
);

static VITEST: ToolSpec = spec(
    "vitest",
    &[
        ("-u --update", Fixes),
        (
            "-w --watch --run --silent --passWithNoTests --globals --dom --isolate \
             --no-isolate --allowOnly --typecheck --hideSkippedTests --logHeapUsage \
             --clearScreen --no-color --coverage -h --help -v --version --no-file-parallelism",
            Flag,
        ),
        (
            "-t --testNamePattern --environment --pool --bail --retry --shard --project \
             --mode --exclude --testTimeout --changed --maxWorkers --minWorkers",
            Value,
        ),
        ("-c --config", Config),
        ("-r --root --dir", ReadTree),
        ("--outputFile", Write),
        ("--reporter --inspect --inspect-brk --api --browser", Code),
    ],
    Operands::Paths,
);

static GO_BUILD_FLAGS: &[(&str, Arg)] = &[
    (
        "-v -race -cover -short -failfast -json -benchmem -trimpath -n -x -work -a \
         -modcacherw -linkshared -msan -asan -fullpath",
        Flag,
    ),
    (
        "-run -count -timeout -bench -benchtime -p -cpu -tags -parallel -skip -list \
         -coverpkg -covermode -vet -mod -buildvcs -buildmode -compiler -shuffle \
         -gcflags -asmflags",
        Value,
    ),
    ("-modfile -overlay -pgo", Read),
    (
        "-coverprofile -cpuprofile -memprofile -blockprofile -mutexprofile -trace -o",
        Write,
    ),
    ("-outputdir -pkgdir", WriteTree),
    ("-exec -toolexec -ldflags -gccgoflags -vettool -c", Code),
];

/// What a Go package pattern (`./...`, `./internal/...`, `.`) reads below its folder.
const GO_PACKAGE_FILES: &[&str] = &["**/*.go", "**/go.{mod,sum}", "**/testdata/**"];

static GO_TEST: ToolSpec = whole(spec("go test", GO_BUILD_FLAGS, Operands::Packages));
static GO_VET: ToolSpec = whole(spec("go vet", GO_BUILD_FLAGS, Operands::Packages));
static GO_BUILD: ToolSpec = whole(spec("go build", GO_BUILD_FLAGS, Operands::Packages));

static CARGO_FLAGS: &[(&str, Arg)] = &[
    (
        "--workspace --all --lib --bins --examples --tests --benches --all-targets --doc \
         --no-run --no-fail-fast --all-features --no-default-features -r --release --locked \
         --offline --frozen --keep-going -q --quiet -v -vv --verbose --timings \
         --future-incompat-report --ignore-rust-version --check --fix --allow-dirty \
         --allow-staged --allow-no-vcs --broken-code",
        Flag,
    ),
    (
        "-p --package --exclude --bin --example --test --bench -F --features --profile \
         --target -j --jobs --message-format --color",
        Value,
    ),
    ("--manifest-path", Read),
    ("--target-dir --artifact-dir", WriteTree),
    ("--config -Z -C", Code),
];

static CARGO_TEST: ToolSpec = no_default(spec("cargo test", CARGO_FLAGS, Operands::Names));
static CARGO_CHECK: ToolSpec = no_default(spec("cargo check", CARGO_FLAGS, Operands::Names));
static CARGO_CLIPPY: ToolSpec = no_default(spec("cargo clippy", CARGO_FLAGS, Operands::Names));
static CARGO_BUILD: ToolSpec = no_default(spec("cargo build", CARGO_FLAGS, Operands::Names));
static CARGO_FMT: ToolSpec = no_default(spec("cargo fmt", CARGO_FLAGS, Operands::Names));

static MAKE: ToolSpec = no_default(spec(
    "make",
    &[
        (
            "-k --keep-going -s --silent --quiet -B --always-make -i --ignore-errors -q \
             --question -r --no-builtin-rules -R --no-builtin-variables -w \
             --print-directory --no-print-directory -e --environment-overrides -S \
             --no-keep-going --stop -d",
            Flag,
        ),
        (
            "-j --jobs -l --load-average -O --output-sync --debug",
            Value,
        ),
        (
            "-f --file --makefile -C --directory -I --include-dir --eval -n --dry-run \
             --just-print -t --touch -o --old-file -W --what-if --new-file",
            Code,
        ),
    ],
    Operands::Targets,
));

static NPM_RUN: ToolSpec = no_default(spec(
    "npm run",
    &[
        (
            "-s --silent --if-present --workspaces -ws --include-workspace-root \
             --foreground-scripts -q --quiet",
            Flag,
        ),
        ("-w --workspace --loglevel --color", Value),
        (
            "--prefix --script-shell --userconfig --globalconfig --node-options",
            Code,
        ),
    ],
    Operands::Script,
));

static PNPM_RUN: ToolSpec = no_default(spec(
    "pnpm run",
    &[
        (
            "-s --silent --if-present -r --recursive --parallel --stream",
            Flag,
        ),
        ("--filter -F --reporter --workspace-concurrency", Value),
        ("-C --dir --shell-emulator", Code),
    ],
    Operands::Script,
));

static YARN_RUN: ToolSpec = no_default(spec(
    "yarn run",
    &[("-s --silent", Flag), ("--cwd", Code)],
    Operands::Script,
));

static GRADLE: ToolSpec = whole(no_default(spec(
    "gradle",
    &[
        (
            "-q --quiet -i --info -d --debug -s --stacktrace -S --full-stacktrace --offline \
             --no-daemon --daemon --parallel --no-parallel --continue --rerun-tasks \
             --build-cache --no-build-cache -w --warn --dry-run -m --configure-on-demand \
             --no-configuration-cache --configuration-cache -h --help -v --version",
            Flag,
        ),
        (
            "--console -x --exclude-task --tests --warning-mode --max-workers",
            Value,
        ),
        ("-D -P", Property),
        (
            "-I --init-script -c --settings-file -b --build-file -p --project-dir -g \
             --gradle-user-home --include-build",
            Code,
        ),
        ("--scan", Host("scans.gradle.com")),
    ],
    Operands::Names,
)));

static MVN: ToolSpec = whole(no_default(spec(
    "mvn",
    &[
        (
            "-q --quiet -B --batch-mode -o --offline -e --errors -X --debug -U \
             --update-snapshots -am --also-make -amd --also-make-dependents -ntp \
             --no-transfer-progress -fae --fail-at-end -ff --fail-fast -N --non-recursive \
             -h --help -v --version -V --show-version",
            Flag,
        ),
        ("-T --threads -pl --projects -rf --resume-from", Value),
        ("-D", Property),
        (
            "-f --file -s --settings -gs --global-settings -t --toolchains -P \
             --activate-profiles",
            Code,
        ),
    ],
    Operands::Names,
)));

/// `-D`/`-P` property keys whose values name no file, module or program.
const HARMLESS_PROPERTIES: &[&str] = &[
    "test",
    "skipTests",
    "maven.test.skip",
    "it.test",
    "surefire.failIfNoSpecifiedTests",
    "failIfNoTests",
    "skipITs",
    "maven.javadoc.skip",
    "checkstyle.skip",
];

/// Python's own options that may come before `-m TOOL` without changing what it loads.
const PYTHON_FLAGS: &[&str] = &["-B", "-u", "-q", "-E", "-s", "-S", "-I", "-O", "-OO", "-P"];

/// Modules run with `python -m` that have a spec.
fn python_module(module: &str, rest: &[Word]) -> Option<(&'static ToolSpec, usize)> {
    Some(match module {
        "pytest" | "py.test" => (&PYTEST, 0),
        "mypy" => (&MYPY, 0),
        "black" => (&BLACK, 0),
        "isort" => (&ISORT, 0),
        "flake8" => (&FLAKE8, 0),
        "pylint" => (&PYLINT, 0),
        "ruff" => return ruff(rest),
        _ => return None,
    })
}

fn ruff(args: &[Word]) -> Option<(&'static ToolSpec, usize)> {
    match args.first().map(|w| w.text.as_str()) {
        Some("check") => Some((&RUFF_CHECK, 1)),
        Some("format") => Some((&RUFF_FORMAT, 1)),
        _ => None,
    }
}

/// The spec for `program args`, and how many words of `args` name the tool (`check` in
/// `ruff check`). `None` when the program has no spec, or the words name a part of it
/// that has none (`ruff server`, `npm install`).
pub(crate) fn lookup(program: &str, args: &[Word]) -> Option<(&'static ToolSpec, usize)> {
    if args.iter().take(3).any(|w| w.unknown) {
        return None;
    }
    let first = args.first().map(|w| w.text.as_str());
    match program {
        "pytest" | "py.test" => Some((&PYTEST, 0)),
        "ruff" => ruff(args),
        "mypy" => Some((&MYPY, 0)),
        "black" => Some((&BLACK, 0)),
        "isort" => Some((&ISORT, 0)),
        "flake8" => Some((&FLAKE8, 0)),
        "pylint" => Some((&PYLINT, 0)),
        "eslint" => Some((&ESLINT, 0)),
        "prettier" => Some((&PRETTIER, 0)),
        "tsc" => Some((&TSC, 0)),
        "jest" => Some((&JEST, 0)),
        "vitest" => match first {
            Some("run") => Some((&VITEST, 1)),
            Some(w)
                if !w.starts_with('-') && matches!(w, "watch" | "dev" | "related" | "bench") =>
            {
                None
            }
            _ => Some((&VITEST, 0)),
        },
        "go" => match first {
            Some("test") => Some((&GO_TEST, 1)),
            Some("vet") => Some((&GO_VET, 1)),
            Some("build") => Some((&GO_BUILD, 1)),
            _ => None,
        },
        "cargo" => match first {
            Some("test" | "t") => Some((&CARGO_TEST, 1)),
            Some("check" | "c") => Some((&CARGO_CHECK, 1)),
            Some("clippy") => Some((&CARGO_CLIPPY, 1)),
            Some("build" | "b") => Some((&CARGO_BUILD, 1)),
            Some("fmt") => Some((&CARGO_FMT, 1)),
            _ => None,
        },
        "make" | "gmake" => Some((&MAKE, 0)),
        "gradle" => Some((&GRADLE, 0)),
        "mvn" => Some((&MVN, 0)),
        "npm" => match first {
            // `npm test` runs the `test` script: the word stays as the script's name.
            Some("test" | "t" | "tst" | "start" | "stop" | "restart") => Some((&NPM_RUN, 0)),
            Some("run" | "run-script" | "rum" | "urn") => Some((&NPM_RUN, 1)),
            _ => None,
        },
        "pnpm" => match first {
            Some("test" | "t" | "start") => Some((&PNPM_RUN, 0)),
            Some("run" | "run-script") => Some((&PNPM_RUN, 1)),
            _ => None,
        },
        "yarn" => match first {
            Some("test" | "start") => Some((&YARN_RUN, 0)),
            Some("run") => Some((&YARN_RUN, 1)),
            _ => None,
        },
        _ => None,
    }
}

/// Unwrap `python -m TOOL` and `npx TOOL`: the tool's spec, the words before its own
/// arguments, and a network destination the wrapper may reach (npx may download).
pub(crate) fn find(
    program: &str,
    args: &[Word],
) -> Option<(&'static ToolSpec, usize, Option<&'static str>)> {
    let is_python = program
        .strip_prefix("python")
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if is_python {
        let mut index = 0;
        while let Some(word) = args.get(index) {
            if word.unknown {
                return None;
            }
            if PYTHON_FLAGS.contains(&word.text.as_str()) {
                index += 1;
                continue;
            }
            if word.text == "-m" {
                let module = args.get(index + 1)?;
                if module.unknown {
                    return None;
                }
                let rest = args.get(index + 2..).unwrap_or_default();
                let (spec, used) = python_module(&module.text, rest)?;
                return Some((spec, index + 2 + used, None));
            }
            return None;
        }
        return None;
    }
    if program == "npx" {
        let mut index = 0;
        let mut network = Some("registry.npmjs.org");
        while let Some(word) = args.get(index) {
            match word.text.as_str() {
                "--no-install" | "--no" => network = None,
                "-y" | "--yes" => {}
                _ => break,
            }
            index += 1;
        }
        let tool = args.get(index)?;
        if tool.unknown {
            return None;
        }
        let rest = args.get(index + 1..).unwrap_or_default();
        let (spec, used) = lookup(&tool.text, rest)?;
        return Some((spec, index + 1 + used, network));
    }
    let (spec, used) = lookup(program, args)?;
    Some((spec, used, None))
}

/// One option found in the words, with its value.
struct Found {
    name: &'static str,
    arg: Arg,
    value: Option<Word>,
}

impl Found {
    /// The option as a rule spells it (`-p evil`, `--tb short`), for reasons and rules:
    /// written out only when one needs it.
    fn text(&self) -> String {
        match &self.value {
            Some(v) => format!("{} {}", self.name, v.text),
            None => self.name.to_string(),
        }
    }
}

fn arg_of(spec: &ToolSpec, name: &str) -> Option<(&'static str, Arg)> {
    arg_where(spec, |n| n == name)
}

/// [`arg_of`] for the short option `-c`, without writing its name out.
fn short_arg_of(spec: &ToolSpec, c: char) -> Option<(&'static str, Arg)> {
    arg_where(spec, |n| {
        let mut chars = n.chars();
        chars.next() == Some('-') && chars.next() == Some(c) && chars.next().is_none()
    })
}

/// The first option name of `spec` that `is` says yes to, and what its value is.
fn arg_where(spec: &ToolSpec, is: impl Fn(&str) -> bool) -> Option<(&'static str, Arg)> {
    let find = |table: &'static [(&'static str, Arg)]| {
        table
            .iter()
            .find_map(|(names, arg)| names.split(' ').find(|n| is(n)).map(|n| (n, *arg)))
    };
    find(spec.options).or_else(|| {
        if spec.tool.starts_with("ruff ") {
            find(RUFF_COMMON)
        } else {
            None
        }
    })
}

fn takes_value(arg: Arg) -> bool {
    !matches!(
        arg,
        Arg::Flag | Arg::Fixes | Arg::ReportOnly | Arg::OptionalRead
    )
}

/// What reading `args` (the words after the tool's name) against `spec` found.
#[derive(Default)]
pub(crate) struct Reading {
    pub invocation: Invocation,
    pub judgement: Judgement,
}

/// Read a command's words against its tool's spec.
pub(crate) fn read(spec: &ToolSpec, args: &[Word], network: Option<&str>) -> Reading {
    let mut out = Reading {
        invocation: Invocation {
            tool: spec.tool.to_string(),
            ..Invocation::default()
        },
        judgement: Judgement::default(),
    };
    let j = &mut out.judgement;
    let inv = &mut out.invocation;
    if let Some(host) = network {
        j.network(host);
    }
    let mut fixes = false;
    let mut report_only = false;
    let mut operands: Vec<Word> = Vec::new();
    let mut passthrough = false;
    let mut index = 0;
    while let Some(word) = args.get(index) {
        index += 1;
        let text = word.text.as_str();
        // After `--`, and after a script's name, words go to the script or test binary.
        let to_script =
            spec.operands == Operands::Script && !text.starts_with('-') && !operands.is_empty();
        if passthrough || to_script {
            push_unvetted(
                inv,
                "--",
                text,
                "is passed through to a program mandate has no spec for",
            );
            continue;
        }
        if word.unknown {
            push_unvetted(
                inv,
                "",
                text,
                "is only known when the command runs, so it may be any option or path",
            );
            continue;
        }
        if text == "--" {
            if spec.operands == Operands::Script
                || spec.tool.starts_with("cargo ")
                || spec.tool == "go test"
            {
                // `npm test -- ARGS`, `cargo test -- ARGS`: for the script or test binary.
                passthrough = true;
                continue;
            }
            // Everything after `--` is an operand.
            operands.extend(args.get(index..).unwrap_or_default().iter().cloned());
            break;
        }
        if spec.tool == "go test" && text == "-args" {
            passthrough = true;
            continue;
        }
        if !text.starts_with('-') || text == "-" {
            operands.push(word.clone());
            continue;
        }
        let found = match spec.style {
            Style::Getopt => getopt(spec, word, args, &mut index),
            Style::Whole => whole_word(spec, word, args, &mut index),
        };
        for found in found {
            match found {
                Err(unknown) => push_unvetted(
                    inv,
                    "",
                    &unknown,
                    "is an option mandate's spec of this tool does not know",
                ),
                Ok(found) => option(j, inv, &found, &mut fixes, &mut report_only),
            }
        }
    }
    let writes = match spec.writes {
        Writes::WithFix => fixes,
        Writes::Always => !report_only,
    };
    let mut paths: Vec<Word> = Vec::new();
    for operand in operands {
        let text = operand.text.as_str();
        if text.starts_with('@') {
            push_unvetted(
                inv,
                "",
                text,
                "is an argument file: the options it holds are only known when the tool runs",
            );
            continue;
        }
        match spec.operands {
            Operands::Paths => {
                // pytest's node ids: `path::test[param]`.
                let path = text.split("::").next().unwrap_or(text);
                paths.push(operand.with_text(path.to_string()));
            }
            Operands::Packages => {
                if text == "."
                    || text.starts_with("./")
                    || text.starts_with("../")
                    || text.starts_with('/')
                {
                    let path = text.strip_suffix("/...").unwrap_or(text);
                    let path = if text == "./..." { "." } else { path };
                    paths.push(operand.with_text(path.to_string()));
                } else {
                    push_unvetted(
                        inv,
                        "",
                        text,
                        "names a package by import path, which may be fetched from the network",
                    );
                }
            }
            Operands::Names => inv.names.push(text.to_string()),
            Operands::Script => inv.names.push(text.to_string()),
            Operands::Targets => {
                if text.contains('=') {
                    push_unvetted(inv, "--", text, "overrides a variable of the Makefile");
                } else {
                    inv.names.push(text.to_string());
                }
            }
        }
    }
    for path in &paths {
        if path.glob {
            // A pattern stands for the paths it names; the read covers them all.
            j.read(path);
        } else if spec.operands == Operands::Packages {
            go_package_reads(j, path);
        } else {
            j.read(&crate::programs::tree(path));
        }
        if writes {
            rewrite(j, spec, path);
        }
        inv.paths.push(path.text.clone());
    }
    if paths.is_empty()
        && let Some(default) = spec.default
    {
        let here = Word::literal(default);
        if spec.operands == Operands::Packages {
            go_package_reads(j, &here);
        } else {
            j.read(&crate::programs::tree(&here));
        }
        if writes {
            rewrite(j, spec, &here);
        }
        inv.default_path = Some(default.to_string());
    }
    out
}

/// A Go package pattern (`./...`, `./internal/...`, `.`) reads the Go files of the
/// packages under its folder and their test data, not every file there (`.env` beside
/// `go.mod`).
fn go_package_reads(j: &mut Judgement, folder: &Word) {
    for files in GO_PACKAGE_FILES {
        j.read(&folder.with_text(format!("{}/{files}", folder.text.trim_end_matches('/'))));
    }
}

/// The write of a tool that rewrites the files at or under `path` (`--fix`, a formatter):
/// judged as a write of `path` itself. Such tools rewrite files that exist and create none,
/// so a write of everything under `path` would meet every rule about files that are not
/// there (or are, but are not the tool's: `requirements.txt` under a Python folder);
/// which existing files under it a stop or approval rule names is left to the OS layer's
/// write scope.
fn rewrite(j: &mut Judgement, _spec: &ToolSpec, path: &Word) {
    j.write(path);
}

fn push_unvetted(inv: &mut Invocation, prefix: &str, text: &str, why: &str) {
    let text = if prefix.is_empty() {
        text.to_string()
    } else {
        format!("{prefix} {text}")
    };
    if !inv.unvetted.iter().any(|u| u.text == text) {
        inv.unvetted.push(Unvetted {
            why: format!("`{text}` {why}"),
            text,
        });
    }
}

/// The options in one getopt-style word (`-qx`, `-kEU`, `--tb=short`, `--junitxml x`).
fn getopt(
    spec: &ToolSpec,
    word: &Word,
    args: &[Word],
    index: &mut usize,
) -> Vec<Result<Found, String>> {
    let text = word.text.as_str();
    if text.starts_with("--") {
        let (name, inline) = match text.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        return vec![long(spec, word, name, inline, args, index)];
    }
    let mut out = Vec::new();
    let letters = text.get(1..).unwrap_or_default();
    for (at, c) in letters.char_indices() {
        match short_arg_of(spec, c) {
            Some((found, arg)) if takes_value(arg) => {
                let rest = letters.get(at + c.len_utf8()..).unwrap_or_default();
                let rest = rest.strip_prefix('=').unwrap_or(rest).to_string();
                let value = if rest.is_empty() {
                    *index += 1;
                    args.get(*index - 1).cloned()
                } else {
                    Some(word.with_text(rest))
                };
                out.push(Ok(Found {
                    name: found,
                    arg,
                    value,
                }));
                break;
            }
            Some((found, arg)) => out.push(Ok(Found {
                name: found,
                arg,
                value: None,
            })),
            None => {
                // The rest of the word may be this unknown option's value: report it whole.
                out.push(Err(text.to_string()));
                break;
            }
        }
    }
    out
}

fn long(
    spec: &ToolSpec,
    word: &Word,
    name: &str,
    inline: Option<&str>,
    args: &[Word],
    index: &mut usize,
) -> Result<Found, String> {
    let Some((found, arg)) = arg_of(spec, name) else {
        return Err(word.text.clone());
    };
    let value = match (inline, takes_value(arg)) {
        (Some(v), _) => Some(word.with_text(v.to_string())),
        (None, true) => {
            *index += 1;
            args.get(*index - 1).cloned()
        }
        (None, false) => None,
    };
    Ok(Found {
        name: found,
        arg,
        value,
    })
}

/// One option per word (`-run X`, `-run=X`, `--noEmit`, `-Dk=v`, `-pl m`).
fn whole_word(
    spec: &ToolSpec,
    word: &Word,
    args: &[Word],
    index: &mut usize,
) -> Vec<Result<Found, String>> {
    let text = word.text.as_str();
    let (name, inline) = match text.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (text, None),
    };
    if arg_of(spec, name).is_some() {
        return vec![long(spec, word, name, inline, args, index)];
    }
    // Go accepts `--flag` for `-flag`.
    if let Some(single) = name.strip_prefix('-')
        && single.starts_with('-')
        && spec.tool.starts_with("go ")
        && arg_of(spec, single).is_some()
    {
        return vec![long(spec, word, single, inline, args, index)];
    }
    // A two-letter option with its value glued: `-Dkey=value`, `-j4`.
    let glued: String = text.chars().take(2).collect();
    if let Some((found, arg)) = arg_of(spec, &glued)
        && takes_value(arg)
        && text.len() > 2
    {
        let value = word.with_text(text.get(2..).unwrap_or_default().to_string());
        return vec![Ok(Found {
            name: found,
            arg,
            value: Some(value),
        })];
    }
    vec![Err(text.to_string())]
}

/// Judge one option found in the words.
fn option(
    j: &mut Judgement,
    inv: &mut Invocation,
    found: &Found,
    fixes: &mut bool,
    report_only: &mut bool,
) {
    let value = found.value.as_ref();
    if takes_value(found.arg) && value.is_none() {
        push_unvetted(inv, "", &found.text(), "needs a value and has none");
        return;
    }
    if let Some(v) = value
        && v.unknown
    {
        push_unvetted(
            inv,
            "",
            &found.text(),
            "has a value that is only known when the command runs",
        );
        return;
    }
    let why_code = "loads code by name (a plugin, module or program), which no path in the \
                    contract can vouch for";
    match (found.arg, value) {
        (Arg::Flag | Arg::Value, _) => {}
        (Arg::Fixes, _) => *fixes = true,
        (Arg::ReportOnly, _) => *report_only = true,
        (Arg::OptionalRead, Some(v)) => j.read(&crate::programs::tree(v)),
        (Arg::OptionalRead, None) => {}
        (Arg::Read, Some(v)) => j.read(&crate::programs::tree(v)),
        (Arg::ReadTree, Some(v)) => j.read(&crate::programs::tree(v)),
        (Arg::Write, Some(v)) => j.write(v),
        (Arg::WriteTree, Some(v)) => j.write(&crate::programs::tree(v)),
        (Arg::Host(host), _) => j.network(host),
        (Arg::Code, Some(v)) => {
            // pytest's `-p no:NAME` turns a plugin off: nothing is loaded.
            if found.name == "-p" && v.text.starts_with("no:") {
                return;
            }
            push_unvetted(inv, "", &found.text(), why_code);
        }
        (Arg::Config, Some(v)) => {
            j.read(&crate::programs::tree(v));
            push_unvetted(
                inv,
                "",
                &found.text(),
                "names a configuration file, which can load plugins or run code",
            );
        }
        (Arg::Opaque, Some(_)) => push_unvetted(
            inv,
            "",
            &found.text(),
            "changes the tool's configuration in ways the spec does not follow",
        ),
        (Arg::Warning, Some(v)) => {
            if warning_imports(&v.text) {
                push_unvetted(
                    inv,
                    "",
                    &found.text(),
                    "names a warning category whose module is imported",
                );
            }
        }
        (Arg::Property, Some(v)) => {
            let key = v.text.split('=').next().unwrap_or("");
            if !HARMLESS_PROPERTIES.contains(&key) {
                push_unvetted(
                    inv,
                    "",
                    &found.text(),
                    "sets a build property, which build scripts and plugins may act on",
                );
            }
        }
        (_, None) => push_unvetted(inv, "", &found.text(), "needs a value and has none"),
    }
}

/// Does a Python warning filter (`action:message:category:module:lineno`, several joined
/// by commas in `PYTHONWARNINGS`) name a category Python must import to resolve?
pub(crate) fn warning_imports(filters: &str) -> bool {
    filters.split(',').any(|filter| {
        filter
            .split(':')
            .nth(2)
            .is_some_and(|category| category.trim().contains('.'))
    })
}

/// Read an execute rule as a command of a tool with a spec (see [`crate::rule_shape`]).
///
/// The rule is cut into words at spaces. Leading `NAME=value` words are variables the
/// rule names. A last word ending in `*` makes the rule open; glued to the tool's own
/// words (`cargo test*`, `npm test*`) the `*` is taken off them, glued to an operand
/// (`billing/export/tests*`) it stays part of that operand's pattern, and alone it is
/// dropped. The rest is read with the tool's spec, as a command would be: operands become
/// path and name patterns, unvetted parts become the parts the rule spells out, and the
/// options the spec knows need no mention.
pub(crate) fn rule_shape(pattern: &str) -> Option<crate::RuleShape> {
    if pattern.contains(['\'', '"', '\\', '$', '`', '|', ';', '&', '<', '>', '(', ')']) {
        return None;
    }
    let mut words: Vec<&str> = pattern.split_whitespace().collect();
    let mut shape = crate::RuleShape::default();
    while let Some(first) = words.first() {
        let Some((name, _)) = first.split_once('=') else {
            break;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        shape.spelled.push((*first).to_string());
        words.remove(0);
    }
    let last = words.last()?;
    if last.ends_with('*') {
        shape.open = true;
    }
    if *last == "*" {
        words.pop();
    }
    let (program, args) = words.split_first()?;
    let mut program = (*program).to_string();
    let mut args: Vec<Word> = args.iter().map(|w| Word::literal(w)).collect();
    let found = match find(&program, &args) {
        Some(found) => found,
        None if shape.open => {
            // `cargo test*`, `npm test*`, `pytest*`: the `*` glued to the tool's name.
            match args.last_mut() {
                Some(word) => word.text = word.text.trim_end_matches('*').to_string(),
                None => program = program.trim_end_matches('*').to_string(),
            }
            find(&program, &args)?
        }
        None => return None,
    };
    if program.contains(['*', '/']) {
        return None;
    }
    let (spec, used, _) = found;
    let reading = read(spec, args.get(used..).unwrap_or_default(), None);
    shape.tool = reading.invocation.tool;
    shape.paths = reading.invocation.paths;
    shape.names = reading.invocation.names;
    shape
        .spelled
        .extend(reading.invocation.unvetted.into_iter().map(|u| u.text));
    Some(shape)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Word> {
        line.split_whitespace().map(Word::literal).collect()
    }

    fn read_line(line: &str) -> Reading {
        let all = words(line);
        let (program, args) = all.split_first().unwrap();
        let (spec, used, network) = find(&program.text, args).unwrap();
        read(spec, &args[used..], network)
    }

    #[test]
    fn option_order_and_spelling_do_not_change_the_reading() {
        let a = read_line("pytest -q billing/export/tests");
        let b = read_line("pytest billing/export/tests -q");
        let c = read_line("python3 -m pytest -q billing/export/tests");
        assert_eq!(a.invocation, b.invocation);
        assert_eq!(a.invocation, c.invocation);
        assert_eq!(a.invocation.paths, ["billing/export/tests"]);
        assert!(a.invocation.unvetted.is_empty());
    }

    #[test]
    fn plugins_argument_files_and_unknown_options_are_unvetted() {
        for line in [
            "pytest x -p evil",
            "pytest x -pevil",
            "pytest x @args.txt",
            "pytest x --frobnicate",
            "pytest x -o pythonpath=/tmp",
            "pytest x -W ignore::evil.Warning",
            "ruff check x --config k=v",
        ] {
            assert!(
                !read_line(line).invocation.unvetted.is_empty(),
                "`{line}` should hold an unvetted part"
            );
        }
        assert!(
            read_line("pytest x -p no:cacheprovider -W error")
                .invocation
                .unvetted
                .is_empty()
        );
    }

    #[test]
    fn rules_are_read_as_the_command_they_name() {
        let r = crate::rule_shape("pytest billing/export/tests*").unwrap();
        assert_eq!((r.tool.as_str(), r.open), ("pytest", true));
        assert_eq!(r.paths, ["billing/export/tests*"]);
        let r = crate::rule_shape("npm test*").unwrap();
        assert_eq!((r.tool.as_str(), r.open), ("npm run", true));
        assert_eq!(r.names, ["test"]);
        let r = crate::rule_shape("cargo test*").unwrap();
        assert_eq!((r.tool.as_str(), r.open), ("cargo test", true));
        assert!(r.names.is_empty() && r.paths.is_empty());
        assert_eq!(crate::rule_shape("make test*").unwrap().names, ["test*"]);
        let r =
            crate::rule_shape("DJANGO_SETTINGS_MODULE=app.settings pytest t* -p xdist").unwrap();
        assert_eq!(
            r.spelled,
            ["DJANGO_SETTINGS_MODULE=app.settings", "-p xdist"]
        );
        for text in [
            "bash scripts/test.sh*",
            "git push*",
            "pytest 'a b'",
            "./pytest x*",
        ] {
            assert!(crate::rule_shape(text).is_none(), "{text}");
        }
    }

    #[test]
    fn scripts_and_test_binaries_get_the_rest_passed_through() {
        let r = read_line("npm run lint -- --fix");
        assert_eq!(r.invocation.names, ["lint"]);
        assert_eq!(r.invocation.unvetted[0].text, "-- --fix");
        assert!(r.invocation.unvetted[0].is_passed_through());
        assert_eq!(read_line("npm test").invocation.names, ["test"]);
        let r = read_line("make -j4 test CC=x");
        assert_eq!(r.invocation.names, ["test"]);
        assert_eq!(r.invocation.unvetted[0].text, "-- CC=x");
        let r = read_line("go test ./billing/... -run X");
        assert_eq!(r.invocation.paths, ["./billing"]);
        assert!(r.invocation.unvetted.is_empty());
        let r = read_line("cargo test -p x name -- --nocapture");
        assert_eq!(r.invocation.names, ["name"]);
        assert_eq!(r.invocation.unvetted[0].text, "-- --nocapture");
        assert!(
            !read_line("go test ./... -exec /tmp/x")
                .invocation
                .unvetted
                .is_empty()
        );
    }

    #[test]
    fn paths_in_options_are_reads_and_writes() {
        let r = read_line("pytest t --junitxml=deploy/r.xml --rootdir=/tmp --pastebin=all");
        let effects = &r.judgement.effects;
        assert!(effects.contains(&crate::Effect::Write("deploy/r.xml".into())));
        assert!(effects.contains(&crate::Effect::Read("/tmp/**".into())));
        assert!(effects.contains(&crate::Effect::Network("bpaste.net".into())));
        let fix = read_line("ruff check --fix billing/export");
        assert!(
            fix.judgement
                .effects
                .contains(&crate::Effect::Write("billing/export".into()))
        );
    }
}
