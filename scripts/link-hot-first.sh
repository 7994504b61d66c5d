#!/usr/bin/env bash
# The linker of the release `mandate` binary (scripts/build-release.sh passes it to rustc
# with `-C linker`): it links as `cc` would, then links again with the functions a hook
# call runs placed first and together, in the order `bench/hot-symbols.txt` lists them.
#
# Why: Claude Code starts `mandate` afresh for every tool call, and every 64 KiB window of
# the binary's code that the call touches costs a page fault that maps sixteen pages.
# Spread over 5 MB of code, a hook call touched about 45 windows; packed, about 15
# (BENCHMARKS.md, "Hot functions first"). Only the layout changes: the same functions,
# the same code.
#
# The list holds symbol names without LLVM's `.NNN` suffixes. A listed name the binary
# still has is placed as it is; one it no longer has (a rebuilt generic function gets a
# new `17h…E` hash) is matched without the build-specific parts (that hash, the crate
# disambiguators of v0 names). A name that matches nothing is skipped, and a function
# missing from the list is only placed later: a stale list costs speed, never
# correctness. `scripts/bench.sh --hot-symbols` rewrites the list from callgrind runs.
#
#   link-hot-first.sh CC-ARGS...     link (what rustc runs)
#   link-hot-first.sh --light        names on stdin as the list keeps them
#   link-hot-first.sh --order BIN    the listed functions of BIN in list order (a summary
#                                    of what matched goes to stderr)
set -euo pipefail

# One symbol name per line in, the same name without suffixes (light) or also without
# its build-specific parts (key) out.
normalise() { # light|key
  awk -v mode="$1" '{
    s = $0
    sub(/\047[0-9]+$/, "", s)            # the recursion depth callgrind appends
    sub(/\.llvm\.[0-9]+$/, "", s)
    sub(/\.[0-9]+$/, "", s)
    if (mode == "key") {
      if (s ~ /^_ZN/) sub(/17h[0-9a-f]+E$/, "E", s)
      else if (s ~ /^_R/) gsub(/Cs[0-9A-Za-z]+_/, "Cs_", s)
    }
    print s
  }'
}

list="$(cd "$(dirname "$0")/.." && pwd)/bench/hot-symbols.txt"

# The listed functions of binary $1, in the list's order, into file $2.
order() {
  local binary=$1 out=$2 tmp
  tmp=$(mktemp -d)
  nm --defined-only "$binary" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/names"
  normalise light <"$tmp/names" | paste - "$tmp/names" >"$tmp/light"
  normalise key <"$tmp/names" | paste - "$tmp/names" >"$tmp/key"
  grep -v -e '^#' -e '^$' "$list" >"$tmp/list" || true
  normalise key <"$tmp/list" | paste "$tmp/list" - >"$tmp/list.tsv"
  awk -F '\t' '
    FILENAME == ARGV[1] { n++; light[n] = $1; key[n] = $2; next }
    FILENAME == ARGV[2] { by_light[$1] = by_light[$1] "\n" $2; next }
    FILENAME == ARGV[3] { by_key[$1] = by_key[$1] "\n" $2; next }
    END {
      for (i = 1; i <= n; i++) {
        if (light[i] in by_light) { names = by_light[light[i]]; exact++ }
        else if (key[i] in by_key) { names = by_key[key[i]]; keyed++ }
        else { missing++; continue }
        count = split(names, each, "\n")
        for (j = 2; j <= count; j++) if (!(each[j] in done)) { done[each[j]] = 1; print each[j] }
      }
      printf "%d of %d listed functions found (%d by name, %d without build-specific parts)\n",
        exact + keyed, n, exact, keyed > "/dev/stderr"
    }' "$tmp/list.tsv" "$tmp/light" "$tmp/key" >"$out"
  rm -rf "$tmp"
}

case "${1:-}" in
  --light)
    normalise light
    exit 0
    ;;
  --order)
    order "$2" /dev/stdout
    exit 0
    ;;
esac

cc "$@"

out=""
prev=""
for arg in "$@"; do
  if [ "$prev" = -o ]; then out=$arg; fi
  prev=$arg
done
if [ -z "$out" ] || [ ! -f "$list" ] || ! command -v nm >/dev/null 2>&1; then
  exit 0
fi
# The ordering is an optimisation: if it cannot be made, or the linker does not take it
# (GNU ld has no --symbol-ordering-file; Rust before 1.90 links with it), the plain link
# stands.
if order "$out" "$out.hot-symbols" 2>/dev/null &&
  cc "$@" -Wl,--symbol-ordering-file="$out.hot-symbols" -Wl,--no-warn-symbol-ordering 2>/dev/null; then
  rm -f "$out.hot-symbols"
  exit 0
fi
rm -f "$out.hot-symbols"
cc "$@"
