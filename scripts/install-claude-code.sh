#!/usr/bin/env bash
# Installs the real Claude Code client used by the end-to-end suite into
# .tools/claude-code-VERSION (CLAUDE_CODE_VERSION; default: the pinned release) and prints
# the path of its binary. Versions sit side by side, so the suite can run against the
# pinned release and against the one users get today.
# The native binary ships inside the platform package, so install scripts are not needed.
set -euo pipefail
version="${CLAUDE_CODE_VERSION:-2.1.328}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${MANDATE_TOOLS_DIR:-$root/.tools}/claude-code-$version"
bin="$dest/node_modules/@anthropic-ai/claude-code-linux-x64/claude"
if [ -x "$bin" ] && [ "$(cat "$dest/.version" 2>/dev/null)" = "$version" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$dest"
cd "$dest"
[ -f package.json ] || echo '{"name":"mandate-e2e-tools","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
  "@anthropic-ai/claude-code@$version" "@anthropic-ai/claude-code-linux-x64@$version" >&2
chmod +x "$bin"
echo "$version" > .version
echo "$bin"
