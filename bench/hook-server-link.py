#!/usr/bin/env python3
# The hook's latency while its team-server link is down, hung or slow (issue 17).
#
#   bench/hook-server-link.py MANDATE WORK
#
# MANDATE: the release hook binary (scripts/build-release.sh --hook); WORK: a folder holding
# `repo/` (the billing example with a started run, as scripts/bench.sh makes it), `cc.json`
# (a PreToolUse Bash payload for that repo) and an empty organisation policy path
# `none.toml`. For six seconds per case it sends a call every 20 ms and prints the median,
# p99, maximum and how many calls took over 100 ms: a link that never answers may cost one
# call the hook's deadline (ASK_TIMEOUT, 400 ms) once per sync period (REFRESH_EVERY, 2 s).
# Times include starting the process from Python. Leaves mandate.toml as it found it.
import socket, subprocess, threading, time, statistics, os, sys, re
M, W = sys.argv[1], sys.argv[2]
base=open(f'{W}/repo/mandate.toml').read()
base=re.sub(r'(?m)^server = .*\n','',base)
def listener(kind):
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(('127.0.0.1',0)); s.listen(64)
    port=s.getsockname()[1]
    def serve():
        while True:
            c,_=s.accept()
            def h(c=c):
                try:
                    c.recv(65536)
                    if kind=='slow':
                        time.sleep(1.0); c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')
                    else:
                        time.sleep(30)
                except Exception: pass
                finally: c.close()
            threading.Thread(target=h,daemon=True).start()
    threading.Thread(target=serve,daemon=True).start()
    return port
def run(label, server):
    t=base.replace('[records]\n', f'[records]\nserver = "{server}"\n',1) if server else base
    open(f'{W}/repo/mandate.toml','w').write(t)
    env=dict(os.environ, MANDATE_ORG_POLICY=f'{W}/none.toml', MANDATE_TOKEN='bench-token')
    inp=open(f'{W}/cc.json','rb').read()
    ds=[]
    end=time.time()+6
    while time.time()<end:
        a=time.perf_counter(); subprocess.run([M,'hook','claude-code','--root',f'{W}/repo'],input=inp,capture_output=True,env=env); ds.append((time.perf_counter()-a)*1000)
        time.sleep(0.02)
    ds.sort()
    print(f'{label:28} calls {len(ds):4}  median {statistics.median(ds):7.2f} ms  p99 {ds[int(len(ds)*0.99)-1]:7.2f} ms  max {ds[-1]:7.2f} ms  >100ms {sum(d>100 for d in ds)}')
closed=socket.socket(); closed.bind(('127.0.0.1',0)); cport=closed.getsockname()[1]; closed.close()
run('no server', None)
run('server down (refused)', f'http://127.0.0.1:{cport}')
run('server hung (never answers)', f'http://127.0.0.1:{listener("hung")}')
run('server slow (answers in 1 s)', f'http://127.0.0.1:{listener("slow")}')
open(f'{W}/repo/mandate.toml','w').write(base)
