#!/usr/bin/env bash
# Installs the reference MCP server `@modelcontextprotocol/server-everything` from npm into
# .tools/mcp-everything for the MCP pin/verify tests, and prints the path of its entry script
# (run it with `node PATH stdio`).
set -euo pipefail
version="${MCP_EVERYTHING_VERSION:-2026.8.31}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${MANDATE_TOOLS_DIR:-$root/.tools}/mcp-everything"
entry="$dest/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
if [ -f "$entry" ] && [ "$(cat "$dest/.version" 2>/dev/null)" = "$version" ]; then
  echo "$entry"
  exit 0
fi
mkdir -p "$dest"
cd "$dest"
[ -f package.json ] || echo '{"name":"mandate-mcp-tools","private":true}' > package.json
npm install --no-audit --no-fund --loglevel=error \
  "@modelcontextprotocol/server-everything@$version" >&2
echo "$version" > .version
echo "$entry"
