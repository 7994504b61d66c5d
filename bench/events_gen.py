#!/usr/bin/env python3
"""Generate event data for the incident questions' benchmark, load it, and time the answers.

    events_gen.py server --rows 10000000 [--db NAME]     load PostgreSQL's events table
    events_gen.py server-query [--db NAME]               time why/touched/search through the API
    events_gen.py local --calls 1000000 --dir DIR         write a record store of run logs
    events_gen.py local-query --dir DIR                   time `mandate why|touched|events`

The server side writes rows straight into the `events` table with COPY (the rows a push
would make: one per touch of a call), after the real `mandate-server` has created the
schema; the secondary indexes are dropped for the load and rebuilt from their own
definitions after it, then ANALYZE. The local side writes `log.jsonl` files shaped like
the hook's (record.create, run.start, tool.pre with touches, tool.post), which the CLI's
index reads as it reads real ones (it does not check hashes: `prev` is a placeholder).

The same seed gives the same data. Binaries: target/release/mandate-server and
target/release/mandate (or MANDATE_BIN / MANDATE_SERVER_BIN).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request

PG = os.environ.get("MANDATE_TEST_POSTGRES", "postgres://root@127.0.0.1:5432")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SERVER_BIN = os.environ.get("MANDATE_SERVER_BIN", os.path.join(TARGET, "release", "mandate-server"))
MANDATE_BIN = os.environ.get("MANDATE_BIN", os.path.join(TARGET, "release", "mandate"))

COLUMNS = ["run_id", "idx", "n", "time", "event", "session_id", "agent_id", "agent_type",
           "tool_use_id", "tool", "mcp", "kind", "target", "path", "command", "decision",
           "outcome", "rules", "run_user", "agent", "repository", "project", "task", "mode"]

DIRS = (["billing/export", "billing/core", "billing/export/tests", "docs/billing", "deploy",
         "customer_data", "logs/prod", ".github/workflows"]
        + [f"src/module{m}" for m in range(200)] + [f"src/module{m}/tests" for m in range(200)])
BASH = ["pytest {d} -q", "ruff check {d}", "git status", "git diff", "git push origin main",
        "cat {f}", "grep -rn TODO {d}", "ls {d}", "make test", "curl -s https://pypi.org/simple/x",
        "python -m build", "kubectl get pods", "npm test", "sed -n 1,40p {f}"]
MCP = ["mcp__jira__get_issue", "mcp__jira__search", "mcp__github__create_pull_request",
       "mcp__slack__post_message", "mcp__postgres__query"]


def pick_tool(rng):
    r = rng.random()
    if r < 0.33:
        return "Read"
    if r < 0.43:
        return "Edit"
    if r < 0.46:
        return "Write"
    if r < 0.80:
        return "Bash"
    if r < 0.86:
        return "Grep"
    if r < 0.88:
        return "WebFetch"
    return rng.choice(MCP)


def pick_decision(rng, shadow):
    r = rng.random()
    if r < 0.05:
        return "would_deny" if shadow else "deny"
    if r < 0.07:
        return "would_ask" if shadow else "ask"
    if r < 0.073:
        return "would_deny" if shadow else "stop"
    return "allow"


def file_of(rng):
    d = rng.choice(DIRS)
    return d, f"{d}/file{rng.randrange(50)}.py" if d != "customer_data" else f"{d}/eu{rng.randrange(50)}.csv"


def csv_field(v):
    if v is None:
        return ""
    v = str(v)
    if any(c in v for c in ',"\n\r') or v == "":
        return '"' + v.replace('"', '""') + '"'
    return v


def server_rows(total, seed, out):
    rng = random.Random(seed)
    per_run = 500
    runs = total // per_run
    t0 = 1767225600  # 2026-01-01T00:00:00Z
    span = 334 * 86400
    written = 0
    run_meta = []
    for r in range(runs):
        user = f"user{r % 200}@example.com"
        project = f"proj{r % 20}"
        repo = f"/home/user{r % 200}/src/{project}"
        run_id = f"TASK-{r}-20260101000000-{r:06x}"
        shadow = r % 10 == 0
        start = t0 + (r * span) // runs
        run_meta.append((run_id, user, project, start))
        idx = 2
        n_rows = 0
        call = 0
        while n_rows < per_run:
            call += 1
            tool = pick_tool(rng)
            ts = start + call * 7
            tm = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{call % 1000:03d}Z"
            decision = pick_decision(rng, shadow)
            event = "tool.pre"
            r2 = rng.random()
            if r2 < 0.005:
                event, decision = "tool.refused_by_agent", "refused_by_agent"
            elif r2 < 0.017:
                event, decision = "tool.unguarded", "unguarded"
            if decision in ("allow", "would_deny", "would_ask", "unguarded"):
                outcome = "failed" if rng.random() < 0.05 else "ran"
            else:
                outcome = "refused"
            touches = []
            command = None
            mcp = None
            if tool in ("Read", "Grep"):
                d, f = file_of(rng)
                touches.append(("read", f))
            elif tool in ("Edit", "Write"):
                d, f = file_of(rng)
                touches.append(("write", f))
            elif tool == "Bash":
                d, f = file_of(rng)
                command = rng.choice(BASH).format(d=d, f=f)
                touches.append(("execute", command))
                if command.startswith(("cat ", "sed ")):
                    touches.append(("read", f))
            elif tool == "WebFetch":
                touches.append(("expose", f"https://docs.example{rng.randrange(30)}.com/page"))
            else:
                mcp = tool.split("__")[1]
                touches.append(("call", tool))
            agent_id = f"sub-{call % 7}" if rng.random() < 0.1 else None
            for n, (kind, target) in enumerate(touches):
                path = target if kind in ("read", "write") else None
                full = f"{repo}/{target}" if path else target
                rule = "" if decision == "allow" else f"contract.block.{kind}[0]"
                row = [run_id, idx, n, tm, event, f"s{r}", agent_id,
                       "explorer" if agent_id else None, f"toolu_{r}_{call}", tool, mcp, kind,
                       full, path, command, decision, outcome,
                       rule or "contract.allow.read[0]", user, "claude-code", repo, project,
                       f"TASK-{r}", "shadow" if shadow else "enforce"]
                out.write(",".join(csv_field(v) for v in row))
                out.write("\n")
                n_rows += 1
            idx += 2
        written += n_rows
    return written, run_meta


def psql(db, sql):
    return subprocess.run(["psql", f"{PG}/{db}", "-Atq", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                          check=True, capture_output=True, text=True, input=sql).stdout


def start_server(db, port):
    proc = subprocess.Popen([SERVER_BIN, "serve", "--listen", f"127.0.0.1:{port}",
                             "--database-url", f"{PG}/{db}"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening" in line, line
    return proc


def cmd_server(args):
    db = args.db
    saved = os.path.join(args.work, f"{db}.indexes")
    if not args.resume:
        subprocess.run(["psql", f"{PG}/postgres", "-Atq", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=True)
        subprocess.run(["psql", f"{PG}/postgres", "-Atq", "-c", f"CREATE DATABASE {db}"], check=True)
        # The real server makes the schema (migrations and its PostgreSQL indexes).
        proc = start_server(db, 18471)
        proc.kill()
        proc.wait()
        defs = psql(db, "SELECT indexname || '|' || indexdef FROM pg_indexes WHERE tablename = 'events' AND indexname <> 'events_pkey'").splitlines()
        os.makedirs(args.work, exist_ok=True)
        with open(saved, "w") as f:
            f.write("\n".join(defs))
        for d in defs:
            psql(db, f"DROP INDEX {d.split('|')[0]}")
        t = time.time()
        load = subprocess.Popen(["psql", f"{PG}/{db}", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                                 f"COPY events ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)"],
                                stdin=subprocess.PIPE, text=True)
        written, _ = server_rows(args.rows, args.seed, load.stdin)
        load.stdin.close()
        assert load.wait() == 0
        print(f"COPY {written} rows: {time.time() - t:.0f} s", flush=True)
    with open(saved) as f:
        defs = [line for line in f.read().splitlines() if line]
    # The runs the rows belong to, so that visibility and `runs_searched` have them.
    psql(db, "DELETE FROM runs; INSERT INTO runs (run_id, owner, signer, entries, indexed, "
             "task_id, status, started_at, received_at, project, calls) "
             "SELECT run_id, MIN(run_user), 'bench', 0, 0, MIN(task), 'open', MIN(time), "
             "'2026-12-01T00:00:00Z', MIN(project), COUNT(*) FROM events GROUP BY run_id")
    for d in defs:
        name, definition = d.split("|", 1)
        t = time.time()
        psql(db, f"SET maintenance_work_mem = '1GB'; {definition.replace('CREATE INDEX', 'CREATE INDEX IF NOT EXISTS', 1)}")
        print(f"{name}: {time.time() - t:.0f} s", flush=True)
    psql(db, "ANALYZE")
    print(psql(db, "SELECT pg_size_pretty(pg_total_relation_size('events')), COUNT(*) FROM events"))


SERVER_QUERIES = [
    ("why billing/export/file7.py (one project)", "/api/v1/why?path=billing/export/file7.py&repo=proj3"),
    ("why billing/export/file7.py (all projects)", "/api/v1/why?path=billing/export/file7.py"),
    ("touched customer_data/** since 2026-11-01", "/api/v1/touched?glob=customer_data/**&since=2026-11-01"),
    ("touched deploy/** in one project", "/api/v1/touched?glob=deploy/**&repo=proj5"),
    ("touched **/eu1*.csv since 2026-11-20", "/api/v1/touched?glob=**/eu1*.csv&since=2026-11-20"),
    ("touched mcp__slack__* since 2026-11-25", "/api/v1/touched?glob=mcp__slack__*&since=2026-11-25"),
    ("events page 1, no filter", "/api/v1/events"),
    ("events page 20, no filter", "/api/v1/events?page=20"),
    ("events path=customer_data/**", "/api/v1/events?path=customer_data/**"),
    ("events path=**/tests/*.py page 3", "/api/v1/events?path=**/tests/*.py&page=3"),
    ("events command=git push", "/api/v1/events?command=git%20push"),
    ("events tool=Bash decision=deny", "/api/v1/events?tool=Bash&decision=deny"),
    ("events mcp=postgres", "/api/v1/events?mcp=postgres"),
    ("events user=user42@example.com", "/api/v1/events?user=user42@example.com"),
    ("events agent=explorer decision=would_deny", "/api/v1/events?agent=explorer&decision=would_deny"),
    ("events repo=proj7 since/until one day", "/api/v1/events?repo=proj7&since=2026-06-01&until=2026-06-01"),
    ("events decision=stop, user, March", "/api/v1/events?decision=stop&user=user7@example.com&since=2026-03-01&until=2026-03-31"),
    ("export CSV: deny in one week", "/api/v1/events?decision=deny&since=2026-05-01&until=2026-05-07&format=csv"),
    ("export CSV: customer_data/** since 2026-10-01", "/api/v1/events?path=customer_data/**&since=2026-10-01&format=csv"),
    ("export JSON: user42 in May", "/api/v1/events?user=user42@example.com&since=2026-05-01&until=2026-05-31&format=json"),
]


def timed_get(base, token, path, first=None):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        body = resp.read(1)
        if first is not None:
            first.append(time.perf_counter() - t)
        body += resp.read()
    return time.perf_counter() - t, body


def cmd_server_query(args):
    db = args.db
    token = subprocess.run([SERVER_BIN, "token", "create", "--user", "root@example.com", "--role", "admin",
                            "--database-url", f"{PG}/{db}"], check=True, capture_output=True, text=True).stdout.strip()
    proc = start_server(db, args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        print(f"| query | median ms | max ms | rows |\n|---|---:|---:|---:|")
        exports = []
        for name, path in SERVER_QUERIES:
            if args.only and args.only not in name:
                continue
            times = []
            first = []
            body = b""
            for _ in range(args.repeat):
                took, body = timed_get(base, token, path, first)
                times.append(took * 1000)
            if path.endswith("format=csv"):
                rows = body.count(b"\n") - 1
            elif path.endswith("format=json"):
                rows = len(json.loads(body))
            else:
                answer = json.loads(body)
                rows = len(answer.get("events") or answer.get("touches") or
                           (answer.get("changes", []) + answer.get("attempts", [])))
            print(f"| {name} | {statistics.median(times):.0f} | {max(times):.0f} | {rows} |", flush=True)
            if "format=" in path:
                median = statistics.median(times)
                exports.append((name, statistics.median(first) * 1000, median, rows, len(body)))
        print("\n| export | first byte ms (median) | whole ms (median) | rows/s | bytes |\n|---|---:|---:|---:|---:|")
        for name, first, whole, rows, size in exports:
            print(f"| {name} | {first:.0f} | {whole:.0f} | {rows / (whole / 1000):.0f} | {size} |")
    finally:
        proc.kill()


def cmd_local(args):
    rng = random.Random(args.seed)
    d = os.path.abspath(args.dir)
    repo = os.path.join(d, "repo")
    records = os.path.join(d, "records")
    os.makedirs(os.path.join(repo, ".mandate"), exist_ok=True)
    os.makedirs(os.path.join(records, "runs"), exist_ok=True)
    os.chmod(records, 0o700)
    with open(os.path.join(ROOT, "examples/billing/mandate.toml")) as f:
        policy = f.read().replace('dir = "~/.local/share/mandate"', f'dir = "{records}"')
    with open(os.path.join(repo, "mandate.toml"), "w") as f:
        f.write(policy)
    runs = args.runs
    per_run = args.calls // runs
    prev = "0" * 64
    t0 = 1767225600
    for r in range(runs):
        run_id = f"BILL-{r}-20260101000000-{r:06x}"
        rd = os.path.join(records, "runs", run_id)
        os.makedirs(rd, exist_ok=True)
        shadow = r % 10 == 0
        start = t0 + r * 86400
        lines = [{"type": "record.create", "i": 0, "run_id": run_id, "format": "mandate-record/1",
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))},
                 {"type": "run.start", "i": 1, "prev": prev, "run_id": run_id, "workspace": repo,
                  "user": "alice@example.com", "mode": "shadow" if shadow else "enforce",
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                  "contract": {"id": f"BILL-{r}", "agent": "claude-code", "request": "bench"}}]
        with open(os.path.join(rd, "log.jsonl"), "w") as out:
            for line in lines:
                out.write(json.dumps(line, separators=(",", ":"), sort_keys=True) + "\n")
            i = 2
            for c in range(per_run):
                tool = pick_tool(rng)
                tm = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + c * 5)) + f".{c % 1000:03d}Z"
                decision = pick_decision(rng, shadow)
                raw = {"would_deny": "deny", "would_ask": "ask"}.get(decision, decision)
                d_, f = file_of(rng)
                touches, inp = [], {}
                if tool in ("Read", "Grep"):
                    touches, inp = [{"kind": "read", "target": f"{repo}/{f}"}], {"file_path": f"{repo}/{f}"}
                elif tool in ("Edit", "Write"):
                    touches, inp = [{"kind": "write", "target": f"{repo}/{f}"}], {"file_path": f"{repo}/{f}"}
                elif tool == "Bash":
                    command = rng.choice(BASH).format(d=d_, f=f)
                    inp = {"command": command}
                    touches = [{"kind": "execute", "target": command}]
                    if command.startswith(("cat ", "sed ")):
                        touches.append({"kind": "read", "target": f"{repo}/{f}"})
                elif tool == "WebFetch":
                    touches = [{"kind": "expose", "target": "https://docs.example.com/x"}]
                else:
                    touches = [{"kind": "call", "target": tool}]
                for t in touches:
                    t["decision"] = raw
                    t["rules"] = ["contract.allow.read[0]"] if raw == "allow" else ["contract.block.read[0]"]
                # Canonical (sorted keys, no spaces) by hand: json.dumps per line was the
                # generator's whole cost.
                rules = json.dumps(touches[0]["rules"], separators=(",", ":"))
                out.write(
                    f'{{"decision":"{raw}","enforced":{"false" if shadow else "true"},"i":{i},'
                    f'"input":{json.dumps(inp, separators=(",", ":"), sort_keys=True)},'
                    f'"mode":"{"shadow" if shadow else "enforce"}","prev":"{prev}","reason":"",'
                    f'"rules":{rules},"session_id":"s{r}","time":"{tm}","tool":"{tool}",'
                    f'"tool_use_id":"toolu_{r}_{c}",'
                    f'"touches":{json.dumps(touches, separators=(",", ":"), sort_keys=True)},'
                    f'"type":"tool.pre"}}\n')
                i += 1
                if raw == "allow" or shadow:
                    out.write(f'{{"i":{i},"prev":"{prev}","session_id":"s{r}","time":"{tm}",'
                              f'"tool":"{tool}","tool_use_id":"toolu_{r}_{c}","type":"tool.post"}}\n')
                    i += 1
    print(f"{runs} runs, {per_run * runs} calls in {records}")


LOCAL_QUERIES = [
    ("why billing/export/file7.py", ["why", "billing/export/file7.py", "--json"]),
    ("touched customer_data/**", ["touched", "customer_data/**", "--json"]),
    ("touched customer_data/** --since (last month)", ["touched", "customer_data/**", "--since", "2026-07-01", "--json"]),
    ("touched **/eu1*.csv", ["touched", "**/eu1*.csv", "--json"]),
    ("touched mcp__slack__*", ["touched", "mcp__slack__*", "--json"]),
    ("touched customer_data/** (text)", ["touched", "customer_data/**"]),
    ("touched customer_data/** --all", ["touched", "customer_data/**", "--all", "--json"]),
    ("touched mcp__slack__* --all", ["touched", "mcp__slack__*", "--all", "--json"]),
    ("events --path '**/eu1*.csv'", ["events", "--path", "**/eu1*.csv"]),
    ("events --tool 'mcp__slack__*'", ["events", "--tool", "mcp__slack__*"]),
    ("events (page 1)", ["events"]),
    ("events --path 'deploy/**' --decision deny", ["events", "--path", "deploy/**", "--decision", "deny"]),
    ("events --command 'git push'", ["events", "--command", "git push"]),
    ("events --tool Bash --decision would_deny", ["events", "--tool", "Bash", "--decision", "would_deny"]),
    ("events --since/--until one day", ["events", "--since", "2026-03-01", "--until", "2026-03-01"]),
]


def cmd_local_query(args):
    d = os.path.abspath(args.dir)
    repo = os.path.join(d, "repo")
    env = dict(os.environ, MANDATE_USER="alice@example.com", MANDATE_ORG_POLICY=os.path.join(d, "org.toml"))
    def run(argv):
        t = time.perf_counter()
        p = subprocess.run([MANDATE_BIN] + argv, cwd=repo, env=env, capture_output=True)
        took = (time.perf_counter() - t) * 1000
        assert p.returncode == 0, p.stderr.decode()
        return took, p.stdout
    if args.fresh:
        idx = os.path.join(d, "records", "index")
        subprocess.run(["rm", "-rf", idx])
        took, _ = run(["events", "--run", "none"])
        print(f"first question (builds the index from {d}/records): {took:.0f} ms")
    print("| query | median ms | max ms | output bytes |\n|---|---:|---:|---:|")
    for name, argv in LOCAL_QUERIES:
        if args.only not in name:
            continue
        times = []
        out = b""
        for _ in range(args.repeat):
            took, out = run(argv)
            times.append(took)
        print(f"| {name} | {statistics.median(times):.0f} | {max(times):.0f} | {len(out)} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--rows", type=int, default=10_000_000)
    s.add_argument("--db", default="mandate_bench_events")
    s.add_argument("--seed", type=int, default=19)
    s.add_argument("--work", default="/tmp/mandate-bench-events")
    s.add_argument("--resume", action="store_true",
                   help="the rows are loaded: only add the runs, the indexes and ANALYZE")
    q = sub.add_parser("server-query")
    q.add_argument("--db", default="mandate_bench_events")
    q.add_argument("--repeat", type=int, default=5)
    q.add_argument("--only", help="only the questions whose name holds this text")
    q.add_argument("--port", type=int, default=18472)
    l = sub.add_parser("local")
    l.add_argument("--calls", type=int, default=1_000_000)
    l.add_argument("--runs", type=int, default=200)
    l.add_argument("--dir", required=True)
    l.add_argument("--seed", type=int, default=19)
    lq = sub.add_parser("local-query")
    lq.add_argument("--dir", required=True)
    lq.add_argument("--repeat", type=int, default=5)
    lq.add_argument("--fresh", action="store_true")
    lq.add_argument("--only", default="", help="only the queries whose name contains this")
    args = parser.parse_args()
    {"server": cmd_server, "server-query": cmd_server_query, "local": cmd_local,
     "local-query": cmd_local_query}[args.cmd](args)


if __name__ == "__main__":
    main()
