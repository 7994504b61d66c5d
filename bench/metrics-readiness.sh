#!/usr/bin/env bash
# `mandate metrics` and `mandate readiness` over a record store of RUNS runs of CALLS tool
# calls each (bench_records writes them as the hook does, hash-chained and checkpointed).
# For each size: the first report (nothing kept: every event read, each run's figures
# kept), the next (from the kept figures; best of 5), and one after an event was appended
# to one run (that run read again). Usage, from the repository root, after
#   cargo build --release -p mandate-cli --bin mandate --example bench_records
# bench/metrics-readiness.sh [RUNS:CALLS ...]   (default 100:500 1000:500)
set -euo pipefail
target=${CARGO_TARGET_DIR:-target}
bin=${MANDATE_BIN:-$target/release/mandate}
gen=${BENCH_RECORDS_BIN:-$target/release/examples/bench_records}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100:500 1000:500)

seconds() { # best of $1 runs of the rest
  local n=$1 best=; shift
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
    best=$(python3 -c "b='$best'; t=$t1-$t0; print(f'{t:.3f}' if not b or t < float(b) else b)")
  done
  echo "$best"
}

for size in "${sizes[@]}"; do
  runs=${size%:*}; calls=${size#*:}
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  cp -r examples/billing "$dir/repo"
  sed -i "s|dir = \"~/.local/share/mandate\"|dir = \"$dir/records\"|" "$dir/repo/mandate.toml"
  "$gen" "$dir/records" "$dir/repo" "$runs" "$calls"
  entries=$(cat "$dir"/records/runs/*/log.jsonl | wc -l)
  bytes=$(cat "$dir"/records/runs/*/log.jsonl | wc -c)
  export HOME=$dir MANDATE_USER=alice@example.com MANDATE_ORG_POLICY=$dir/none.toml
  cd "$dir/repo"
  m_cold=$(seconds 1 "$bin" metrics --all-repos --format json)
  m_warm=$(seconds 5 "$bin" metrics --all-repos --format json)
  rm -rf "$dir/records/cache"
  r_cold=$(seconds 1 "$bin" readiness --format json)
  r_warm=$(seconds 5 "$bin" readiness --format json)
  one=$(ls "$dir/records/runs" | head -1)
  printf '{"type":"prompt","time":"2026-12-31T00:00:00.000Z","prompt":"x"}\n' >> "$dir/records/runs/$one/log.jsonl"
  m_one=$(seconds 1 "$bin" metrics --all-repos --format json)
  cd - >/dev/null
  echo "runs=$runs calls/run=$calls entries=$entries log_MB=$((bytes / 1000000)) metrics: first ${m_cold}s kept ${m_warm}s one-run-grown ${m_one}s | readiness: first ${r_cold}s kept ${r_warm}s"
  rm -rf "$dir"
done
