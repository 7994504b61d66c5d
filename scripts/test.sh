#!/usr/bin/env bash
# Runs mandate's whole test suite, installing what the tests need first:
# the real Claude Code client, Codex CLI, Gemini CLI and Copilot CLI (for the end-to-end
# suites) and the Python tools the billing example's contract runs (pytest, ruff).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

claude="$(scripts/install-claude-code.sh)"
export MANDATE_CLAUDE_BIN="$claude"
# The other agents with an end-to-end suite (scripts/install-agents.sh prints `NAME PATH`).
while read -r agent bin; do
  case "$agent" in
    codex) export MANDATE_CODEX_BIN="$bin" ;;
    gemini) export MANDATE_GEMINI_BIN="$bin" ;;
    copilot) export MANDATE_COPILOT_BIN="$bin" ;;
  esac
done < <(scripts/install-agents.sh codex gemini copilot)
export MANDATE_E2E_REQUIRED=1
export MANDATE_MCP_EVERYTHING="$(scripts/install-mcp-everything.sh)"

if ! command -v pytest >/dev/null 2>&1 || ! command -v ruff >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check pytest ruff
fi

# The team server's PostgreSQL-over-TLS test needs the machine's PostgreSQL to speak TLS with
# a CA made here (scripts/postgres-tls.sh prints its path); without a PostgreSQL server the
# tests say so and fail, since MANDATE_E2E_REQUIRED is set.
if [ -z "${MANDATE_TEST_POSTGRES_CA:-}" ] && command -v psql >/dev/null && command -v openssl >/dev/null; then
  pg="${MANDATE_TEST_POSTGRES:-postgres://$(whoami)@127.0.0.1:5432}"
  if psql "$pg/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    MANDATE_TEST_POSTGRES_CA="$(scripts/postgres-tls.sh "$pg")"
    export MANDATE_TEST_POSTGRES_CA
  fi
fi

# The CLI's tests run the sibling binaries too (mandate-server, mandate-mcp-list):
# build every binary first, so they sit beside `mandate` in target/debug.
cargo build --workspace --bins
cargo test --workspace --all-targets "$@"

# The Claude Code suites again, against the release users get today (npm `latest` when this
# line was last changed), beside the pinned one above.
latest="${CLAUDE_CODE_LATEST:-2.1.337}"
if [ "$latest" != "${CLAUDE_CODE_VERSION:-}" ]; then
  MANDATE_CLAUDE_BIN="$(CLAUDE_CODE_VERSION="$latest" scripts/install-claude-code.sh)"
  export MANDATE_CLAUDE_BIN
  echo "The Claude Code end-to-end suite against Claude Code $latest:"
  cargo test --workspace --test e2e_claude --test e2e_record "$@"
fi
