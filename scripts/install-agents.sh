#!/usr/bin/env bash
# Installs the real coding agents the end-to-end suites drive, at pinned versions, into
# .tools/agents: Codex CLI, Gemini CLI and Copilot CLI. Their native binaries (or, for
# Gemini, the JS bundle) ship inside the npm packages, so install scripts are not needed.
#
# Prints one line per agent, `NAME PATH`, with the path of the binary to run:
#   codex /…/.tools/agents/codex/node_modules/@openai/codex/bin/codex.js
# Pass agent names to install only those (default: codex gemini copilot).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
base="${MANDATE_TOOLS_DIR:-$root/.tools}/agents"

codex_version="${CODEX_VERSION:-0.169.0}"
gemini_version="${GEMINI_CLI_VERSION:-0.61.0}"
copilot_version="${COPILOT_CLI_VERSION:-1.0.102}"

# install NAME VERSION BINARY PACKAGE...: npm-installs the packages into base/NAME unless
# BINARY (relative to it) is already there at VERSION; prints `NAME ABSOLUTE-BINARY`.
install() {
  local name="$1" version="$2" binary="$3"
  shift 3
  local dest="$base/$name"
  if [ -x "$dest/$binary" ] && [ "$(cat "$dest/.version" 2>/dev/null)" = "$version" ]; then
    echo "$name $dest/$binary"
    return
  fi
  mkdir -p "$dest"
  [ -f "$dest/package.json" ] || echo '{"name":"mandate-e2e-agents","private":true}' > "$dest/package.json"
  (cd "$dest" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "$@" >&2)
  chmod +x "$dest/$binary"
  echo "$version" > "$dest/.version"
  echo "$name $dest/$binary"
}

agents=("$@")
[ ${#agents[@]} -gt 0 ] || agents=(codex gemini copilot)
for agent in "${agents[@]}"; do
  case "$agent" in
    codex)
      # The platform package is an npm alias of the main package at a -linux-x64 version.
      # The npm launcher (as users run it): it finds the platform package's native binary
      # and tells hooks its version (CODEX_MANAGED_PACKAGE_ROOT).
      install codex "$codex_version" node_modules/@openai/codex/bin/codex.js \
        "@openai/codex@$codex_version" ;;
    gemini)
      install gemini "$gemini_version" node_modules/@google/gemini-cli/bundle/gemini.js \
        "@google/gemini-cli@$gemini_version" ;;
    copilot)
      install copilot "$copilot_version" node_modules/@github/copilot-linux-x64/copilot \
        "@github/copilot@$copilot_version" ;;
    *)
      echo "install-agents.sh: unknown agent \`$agent\` (codex, gemini, copilot)" >&2
      exit 2 ;;
  esac
done
