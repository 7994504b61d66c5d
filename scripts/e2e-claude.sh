#!/usr/bin/env bash
# Runs only the end-to-end suite that drives the real Claude Code binary
# (crates/cli/tests/e2e_claude.rs), installing what it needs first.
# Extra arguments go to the test binary, e.g. a test name filter or --nocapture.
# MANDATE_E2E_TRACE=1 prints every request the scripted model got and Claude Code's result.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

MANDATE_CLAUDE_BIN="$(scripts/install-claude-code.sh)"
export MANDATE_CLAUDE_BIN
export MANDATE_E2E_REQUIRED=1

if ! command -v pytest >/dev/null 2>&1 || ! command -v ruff >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check pytest ruff
fi

cargo test -p mandate-cli --test e2e_claude -- "$@"
