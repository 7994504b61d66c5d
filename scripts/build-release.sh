#!/usr/bin/env bash
# Builds mandate's release binaries the way they should be installed and prints the folder
# that holds them: `mandate` (also the hook), `mandate-server`, `mandate-mcp-list`.
#
# On x86_64 Linux the `mandate` binary is linked statically and not position-independent:
# Claude Code starts it on every tool call, and the dynamic loader's work (libraries and
# about 10,000 relocations) was a quarter of a hook call (BENCHMARKS.md, "Static linking").
# Its link also places the functions a hook call runs first and together
# (scripts/link-hot-first.sh, bench/hot-symbols.txt): fewer page faults per call.
# The server and the MCP client keep the default linking.
#
#   scripts/build-release.sh          all three
#   scripts/build-release.sh --hook   only `mandate` (what the benchmarks run)
set -euo pipefail
others=1
case "${1:-}" in
  "") ;;
  --hook) others=0 ;;
  *) echo "usage: scripts/build-release.sh [--hook]" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
triple="$(rustc -vV | sed -n 's/^host: //p')"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ "$triple" = "x86_64-unknown-linux-gnu" ]; then
  # An explicit --target keeps these flags off build scripts and proc macros. They go in
  # CARGO_ENCODED_RUSTFLAGS (separated by 0x1f) so that a checkout path with spaces
  # still names the linker; RUSTFLAGS from the caller come first, split as cargo would.
  flags=()
  read -r -a flags <<<"${RUSTFLAGS:-}"
  flags+=(-C target-feature=+crt-static -C relocation-model=static
    -C "linker=$root/scripts/link-hot-first.sh")
  encoded=$(printf '%s\x1f' "${flags[@]}")
  CARGO_ENCODED_RUSTFLAGS="${encoded%$'\x1f'}" \
    cargo build --release --quiet --target "$triple" -p mandate-cli >&2
  if [ "$others" = 1 ]; then
    cargo build --release --quiet --target "$triple" -p mandate-server -p mandate-mcp >&2
  fi
  echo "$target/$triple/release"
else
  if [ "$others" = 1 ]; then
    cargo build --release --quiet -p mandate-cli -p mandate-server -p mandate-mcp >&2
  else
    cargo build --release --quiet -p mandate-cli >&2
  fi
  echo "$target/release"
fi
