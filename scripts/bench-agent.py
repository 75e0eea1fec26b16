#!/usr/bin/env python3
"""The agent's idle footprint and scrape time next to Debian's prometheus-node-exporter.

Both run side by side on loopback ports: `qcatctl agent` on a fresh embedded store (its
heartbeat, scheduler duty, anchoring and metrics endpoint all running), and
`prometheus-node-exporter` with its default collectors. After a warm-up, each is left idle
for --idle seconds while its CPU time (utime + stime from /proc) is read before and after;
memory is RSS and PSS from /proc/<pid>/smaps_rollup. Then each endpoint is scraped
--scrapes times in a row and the wall time of one scrape is reported (p50, p99). Prints
both and the ratios (agent / node_exporter).

    cargo build --release -p qcatctl
    python3 scripts/bench-agent.py [--idle 30] [--scrapes 300]
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def wait_ready(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_kib(pid):
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                values[parts[0][:-1]] = int(parts[1])
    return values["Rss"], values["Pss"]


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--scrapes", type=int, default=300)
    args = parser.parse_args()
    qcatctl = os.path.join(ROOT, "target/release/qcatctl")
    if not os.path.exists(qcatctl):
        raise SystemExit("build it first: cargo build --release -p qcatctl")

    work = tempfile.mkdtemp(prefix="qcat-bench-agent-")
    key = os.path.join(work, "master.key")
    env = {"PATH": os.environ["PATH"], "QCAT_DATA_DIR": work, "QCAT_MASTER_KEY_FILE": key}
    subprocess.run([qcatctl, "key", "init", "--to-file", key], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    agent_port, exporter_port = free_port(), free_port()
    agent = subprocess.Popen([qcatctl, "agent"],
                             env={**env, "QCAT_MONITORING__PROMETHEUS_PORT": str(agent_port)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    exporter = subprocess.Popen(["prometheus-node-exporter",
                                 f"--web.listen-address=127.0.0.1:{exporter_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    targets = {
        "qcatctl agent": (agent, f"http://127.0.0.1:{agent_port}/metrics"),
        "node_exporter": (exporter, f"http://127.0.0.1:{exporter_port}/metrics"),
    }
    try:
        for _, url in targets.values():
            wait_ready(url)
        time.sleep(5)  # warm-up: start-up work (migrations, first heartbeat) is not idle
        before = {name: cpu_seconds(proc.pid) for name, (proc, _) in targets.items()}
        time.sleep(args.idle)
        idle_cpu = {name: (cpu_seconds(proc.pid) - before[name]) / args.idle * 100
                    for name, (proc, _) in targets.items()}
        memory = {name: memory_kib(proc.pid) for name, (proc, _) in targets.items()}
        scrape = {}
        size = {}
        for name, (_, url) in targets.items():
            times = []
            for _ in range(args.scrapes):
                started = time.perf_counter()
                body = get(url)
                times.append((time.perf_counter() - started) * 1000)
            scrape[name] = times
            size[name] = len(body)
    finally:
        for proc, _ in targets.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in targets.values():
            proc.wait(timeout=60)

    print(f"idle {args.idle:.0f} s, {args.scrapes} scrapes each, side by side on one machine")
    print(f"{'':16} {'idle CPU %':>10} {'RSS MiB':>8} {'PSS MiB':>8} {'scrape p50 ms':>14} {'p99 ms':>8} {'bytes':>7}")
    for name in targets:
        rss, pss = memory[name]
        print(f"{name:16} {idle_cpu[name]:10.3f} {rss / 1024:8.1f} {pss / 1024:8.1f} "
              f"{statistics.median(scrape[name]):14.3f} {percentile(scrape[name], 99):8.3f} {size[name]:7}")
    a, n = "qcatctl agent", "node_exporter"
    ratio = lambda x, y: (x / y) if y else float("inf")
    print(f"ratios agent/node_exporter: idle CPU {ratio(idle_cpu[a], idle_cpu[n]):.2f}x, "
          f"RSS {ratio(memory[a][0], memory[n][0]):.2f}x, PSS {ratio(memory[a][1], memory[n][1]):.2f}x, "
          f"scrape p50 {ratio(statistics.median(scrape[a]), statistics.median(scrape[n])):.2f}x")


if __name__ == "__main__":
    main()
