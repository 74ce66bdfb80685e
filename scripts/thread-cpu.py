#!/usr/bin/env python3
"""Per-thread CPU of one StemeDB server next to its engine backlog and replication lag, every
half second: which threads take the cores when a figure spikes (docs/benchmarks.md,
"Cluster mode").

Usage: scripts/thread-cpu.py PID_FILE URL NODE_ID SECONDS   (STEMEDB_API_KEY for /metrics)
Prints: time, lag (s), flushes outstanding, compactions active, level-0 tables, then each
thread name (trailing digits dropped) with its CPU % over the last interval, busiest first.
"""
import collections
import os
import re
import sys
import time
import urllib.request


def thread_ticks(pid):
    ticks = collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError:
            continue  # the thread ended
        name = re.sub(r"[0-9]+$", "", stat[stat.index("(") + 1:stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2:].split()
        ticks[name] += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def metrics(url, node):
    request = urllib.request.Request(
        url + "/metrics", headers={"x-api-key": os.environ.get("STEMEDB_API_KEY", "")})
    values = {}
    for line in urllib.request.urlopen(request, timeout=1).read().decode().splitlines():
        lag = line.startswith(f'stemedb_replication_lag_seconds{{node="{node}"')
        if line.startswith("stemedb_engine") or lag:
            key, value = line.rsplit(" ", 1)
            values[key.split("{")[0].removeprefix("stemedb_")] = float(value)
    return values


def main():
    pid_file, url, node, seconds = sys.argv[1:5]
    pid = int(open(pid_file).read().strip())
    hz = os.sysconf("SC_CLK_TCK")
    end = time.time() + float(seconds)
    before, at = thread_ticks(pid), time.time()
    while time.time() < end:
        time.sleep(0.5)
        try:
            m = metrics(url, node)
        except OSError:
            m = {}
        now_ticks, now = thread_ticks(pid), time.time()
        busy = {k: 100 * (v - before.get(k, 0)) / hz / (now - at) for k, v in now_ticks.items()}
        before, at = now_ticks, now
        threads = " ".join(f"{k}:{v:.0f}" for k, v in sorted(busy.items(), key=lambda x: -x[1]) if v > 0)
        print(f"{now % 1000:7.2f} lag {m.get('replication_lag_seconds', -1):6.3f}"
              f" flushes {m.get('engine_flushes_outstanding', -1):.0f}"
              f" compactions {m.get('engine_compactions_active', -1):.0f}"
              f" l0 {m.get('engine_l0_tables', -1):3.0f} | {threads}", flush=True)


if __name__ == "__main__":
    main()
