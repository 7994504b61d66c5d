#!/usr/bin/env bash
# The linker of the release `mandate` binary (scripts/build-release.sh passes it to rustc
# with `-C linker`): it links as `cc` would, then links again with the functions a hook
# call runs placed first and together, in the order `bench/hot-symbols.txt` lists them.
#
# Why: Claude Code starts `mandate` afresh for every tool call, and every 64 KiB window of
# the binary's code that the call touches costs a page fault that maps sixteen pages.
# Spread over 5 MB of code, a hook call touched about 45 windows; packed, about 13
# (BENCHMARKS.md, "Hot functions first"). Only the layout changes: the same functions,
# the same code.
#
# The list holds symbol names with their build-specific parts removed (the `17h…E` hash
# of legacy Rust names, crate disambiguators of v0 names, LLVM's `.NNN` suffixes), so it
# survives rebuilds; this script maps it back to the binary's own names. A name that no
# longer exists is skipped, and a function missing from the list is only placed later:
# a stale list costs speed, never correctness. `scripts/bench.sh --hot-symbols` rewrites
# the list from callgrind runs of the hook.
#
#   link-hot-first.sh CC-ARGS...     link (what rustc runs)
#   link-hot-first.sh --keys         normalise symbol names on stdin, one per line
set -euo pipefail

# One symbol name per line in, its build-independent key out.
keys() {
  awk '{
    s = $0
    sub(/\047[0-9]+$/, "", s)            # the recursion depth callgrind appends
    sub(/\.llvm\.[0-9]+$/, "", s)
    sub(/\.[0-9]+$/, "", s)
    if (s ~ /^_ZN/) sub(/17h[0-9a-f]+E$/, "E", s)
    else if (s ~ /^_R/) gsub(/Cs[0-9A-Za-z]+_/, "Cs_", s)
    print s
  }'
}

if [ "${1:-}" = --keys ]; then
  keys
  exit 0
fi

cc "$@"

out=""
prev=""
for arg in "$@"; do
  if [ "$prev" = -o ]; then out=$arg; fi
  prev=$arg
done
list="$(cd "$(dirname "$0")/.." && pwd)/bench/hot-symbols.txt"
if [ -z "$out" ] || [ ! -f "$list" ] || ! command -v nm >/dev/null 2>&1; then
  exit 0
fi

order="$out.hot-symbols"
# The binary's names beside their keys, then the listed ones in the list's order.
nm --defined-only "$out" | awk 'NF == 3 { print $3 }' | sort -u >"$order.names"
keys <"$order.names" | paste - "$order.names" >"$order.pairs"
awk -F '\t' '
  NR == FNR { if ($0 !~ /^#/ && $0 != "" && !($0 in rank)) rank[$0] = FNR; next }
  ($1 in rank) { print rank[$1] "\t" $2 }
' "$list" "$order.pairs" | sort -n -k1,1 -s | cut -f2 >"$order"
rm -f "$order.names" "$order.pairs"

cc "$@" -Wl,--symbol-ordering-file="$order" -Wl,--no-warn-symbol-ordering
rm -f "$order"
