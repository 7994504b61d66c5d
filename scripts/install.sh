#!/usr/bin/env bash
# Installs mandate's binaries into PREFIX/bin (default: ~/.local/bin), outside any
# repository an agent works in, so the hook cannot be replaced by the agent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:-$HOME/.local}"
built="$("$root/scripts/build-release.sh")"
mkdir -p "$prefix/bin"
for bin in mandate mandate-server mandate-mcp-list; do
  install -m 0755 "$built/$bin" "$prefix/bin/$bin"
done
echo "installed mandate, mandate-server and mandate-mcp-list into $prefix/bin"
