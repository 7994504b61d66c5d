#!/usr/bin/env bash
# The team server's benchmarks (BENCHMARKS.md, "The team server"):
#
# 1. load: a release mandate-server on PostgreSQL, fed by crates/server/examples/load.rs:
#    entries ingested per second, then p50/p99 API latency under mixed traffic; once over
#    plain HTTP and once over HTTPS (a CA and certificate made here with openssl), each
#    into a fresh database;
# 2. hook: whole-process PreToolUse latency of `mandate hook claude-code` without a
#    server, with a server (cached kill list, background pushes), asking the server on
#    every call, and with the server down; bench/harness.rs measures it.
#
#   scripts/bench-server.sh            both
#   scripts/bench-server.sh --load     the load benchmark only
#   scripts/bench-server.sh --hook     the hook latencies only
#
# PostgreSQL: $MANDATE_TEST_POSTGRES (default postgres://root@127.0.0.1:5432); a
# database of its own is created and dropped. Knobs: LOAD_RUNS, LOAD_ENTRIES, LOAD_BATCH,
# LOAD_CLIENTS, LOAD_SECONDS, BENCH_RUNS, BENCH_WARMUP.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-all}
target=${CARGO_TARGET_DIR:-$root/target}
pg=${MANDATE_TEST_POSTGRES:-postgres://root@127.0.0.1:5432}

echo "== build (release)"
cargo build --release --quiet -p mandate-cli -p mandate-server
cargo build --release --quiet -p mandate-server --example load
mandate=$target/release/mandate
server=$target/release/mandate-server
mkdir -p "$target/bench"
rustc -O --edition 2021 -o "$target/bench/harness" bench/harness.rs

work=$(mktemp -d "${TMPDIR:-/tmp}/mandate-bench-server.XXXXXX")
db=mandate_bench_$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS ${db}_tls WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export MANDATE_ORG_POLICY=$work/no-org-policy.toml

echo "== machine"
echo "cpus: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel: $(uname -sr); $(psql "$pg/postgres" -Atc 'SELECT version()' | cut -d, -f1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
url="$pg/$db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server" serve --listen "127.0.0.1:$port" --database-url "$url" --rate-limit 0 >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
token=$("$server" token create --user load@example.com --role admin --database-url "$url")
# The team policy: who may push runs into which project.
curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"policy":{"projects":{"load":{"delegators":["load@example.com"]},"billing":{"delegators":["alice@example.com"]}}}}' \
  "http://127.0.0.1:$port/api/v1/policy" >/dev/null

if [ "$mode" = all ] || [ "$mode" = --load ]; then
  echo
  echo "== load: mandate-server on PostgreSQL (one process)"
  "$target/release/examples/load" --url "http://127.0.0.1:$port" --token "$token" \
    --runs "${LOAD_RUNS:-64}" --entries "${LOAD_ENTRIES:-2000}" --batch "${LOAD_BATCH:-500}" \
    --clients "${LOAD_CLIENTS:-8}" --seconds "${LOAD_SECONDS:-20}" | tee "$target/bench/server-load.txt"
  echo "database size: $(psql "$url" -Atc "SELECT pg_size_pretty(pg_database_size('$db'))")"

  echo
  echo "== load: the same over HTTPS (TLS 1.3, ECDSA P-256, a fresh database)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bench CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$work/ext.cnf"
  openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/ext.cnf" -out "$work/tls.pem" 2>/dev/null
  psql "$pg/postgres" -qc "CREATE DATABASE ${db}_tls" >/dev/null
  tls_url="$pg/${db}_tls"
  tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$server" serve --listen "127.0.0.1:$tls_port" --database-url "$tls_url" --rate-limit 0 \
    --tls-cert "$work/tls.pem" --tls-key "$work/tls.key" >"$work/server-tls.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do grep -q listening "$work/server-tls.log" && break; sleep 0.1; done
  tls_token=$("$server" token create --user load@example.com --role admin --database-url "$tls_url")
  curl -fsS --cacert "$work/ca.pem" -X POST -H "Authorization: Bearer $tls_token" \
    -H 'Content-Type: application/json' \
    -d '{"policy":{"projects":{"load":{"delegators":["load@example.com"]}}}}' \
    "https://127.0.0.1:$tls_port/api/v1/policy" >/dev/null
  "$target/release/examples/load" --url "https://127.0.0.1:$tls_port" --token "$tls_token" \
    --ca "$work/ca.pem" \
    --runs "${LOAD_RUNS:-64}" --entries "${LOAD_ENTRIES:-2000}" --batch "${LOAD_BATCH:-500}" \
    --clients "${LOAD_CLIENTS:-8}" --seconds "${LOAD_SECONDS:-20}" | tee "$target/bench/server-load-tls.txt"
fi

if [ "$mode" = all ] || [ "$mode" = --hook ]; then
  runs=${BENCH_RUNS:-500}
  warmup=${BENCH_WARMUP:-50}
  make_repo() { # NAME SERVER_URL
    local repo=$work/$1/repo
    mkdir -p "$repo/.mandate/contracts" "$repo/billing/export/tests" "$work/$1/records"
    if [ -n "$2" ]; then
      sed "s#^dir = .*#dir = \"$work/$1/records\"\nserver = \"$2\"#" examples/billing/mandate.toml >"$repo/mandate.toml"
    else
      sed "s#^dir = .*#dir = \"$work/$1/records\"#" examples/billing/mandate.toml >"$repo/mandate.toml"
    fi
    cp examples/billing/.mandate/contracts/BILL-142.toml "$repo/.mandate/contracts/"
    printf 'x = 1\n' >"$repo/billing/export/filter.py"
    (cd "$repo" && MANDATE_USER=alice@example.com "$mandate" start .mandate/contracts/BILL-142.toml >/dev/null)
    cat >"$work/$1/read.json" <<JSON
{"session_id":"bench","transcript_path":"/dev/null","cwd":"$repo","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":"$repo/billing/export/filter.py"},"tool_use_id":"toolu_bench_1"}
JSON
  }
  dev=$("$server" token create --user alice@example.com --role developer --project billing --database-url "$url")
  export MANDATE_TOKEN=$dev
  make_repo off ""
  make_repo up "http://127.0.0.1:$port"
  make_repo down "http://127.0.0.1:1"
  hook() { printf '%s\t' "$mandate" hook claude-code --root "$work/$1/repo" | sed 's/\t$//'; }
  spec=$work/spec.tsv
  {
    printf 'cat\t%s\thook_event_name\tcat\n' "$work/off/read.json"
    printf 'mandate-no-server\t%s\t"allow"\t%s\n' "$work/off/read.json" "$(hook off)"
    printf 'mandate-server-up\t%s\t"allow"\t%s\n' "$work/up/read.json" "$(hook up)"
    printf 'mandate-server-down\t%s\t"allow"\t%s\n' "$work/down/read.json" "$(hook down)"
  } >"$spec"
  echo
  echo "== hook: PreToolUse Read, whole process ($runs runs after $warmup warm-up, interleaved)"
  echo "-- kill list cached for 2 s, background pushes at most every 2 s (the defaults)"
  "$target/bench/harness" --runs "$runs" --warmup "$warmup" --json "$target/bench/server-hook.json" "$spec" || true
  echo "-- asking the server on every call (MANDATE_SERVER_REFRESH_MS=0: the worst case)"
  MANDATE_SERVER_REFRESH_MS=0 "$target/bench/harness" --runs "$runs" --warmup "$warmup" \
    --json "$target/bench/server-hook-ask.json" "$spec" || true
  echo "entries the server holds of the 'up' run: $(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/runs" | python3 -c 'import json,sys; print([r["entries"] for r in json.load(sys.stdin) if r["task_id"]=="BILL-142"])')"
  echo "mandate binary: $(du -h "$mandate" | cut -f1); sqlx/axum/hyper symbols in it: $(nm -C "$mandate" 2>/dev/null | grep -cE 'sqlx|axum|hyper::server' || true)"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
