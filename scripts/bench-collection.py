#!/usr/bin/env python3
"""Collection cost: the agent reading 20 targets every second against the stack a team would
otherwise run for them — prometheus-node-exporter, prometheus-postgres-exporter (one per
database), prometheus-redis-exporter (one, multi-target) and Prometheus scraping them all
every second. The same 20 targets for both, in one run, one after the other on the same
machine: this host, 5 PostgreSQL databases (one throwaway cluster), 5 Redis servers and 9
simulated trading applications (`qcatctl simulate`). For each side: CPU seconds per minute
(utime + stime of its processes from /proc) and memory (RSS and PSS from smaps_rollup, summed
over its processes), after a warm-up. The monitored servers themselves are not counted.

    cargo build --release -p qcatctl
    python3 scripts/bench-collection.py [--seconds 60] [--warmup 15]
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import importlib.util  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# free_port, cpu_seconds and memory_kib are the agent benchmark's, measured the same way.
_spec = importlib.util.spec_from_file_location("bench_agent", os.path.join(ROOT, "scripts", "bench-agent.py"))
_agent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_agent)
free_port, cpu_seconds, memory_kib = _agent.free_port, _agent.cpu_seconds, _agent.memory_kib


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} did not open within {timeout} s")
PG_BIN = "/usr/lib/postgresql/15/bin"


def measure(processes, seconds):
    before = {p.pid: cpu_seconds(p.pid) for p in processes}
    time.sleep(seconds)
    cpu = sum(cpu_seconds(p.pid) - before[p.pid] for p in processes)
    rss = pss = 0
    for p in processes:
        r, s = memory_kib(p.pid)
        rss += r
        pss += s
    return cpu / seconds * 60, rss / 1024, pss / 1024


def spawn(args, env=None):
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)


def stop(processes):
    for p in processes:
        p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    args = parser.parse_args()
    qcatctl = os.path.join(ROOT, "target/release/qcatctl")
    if not os.path.exists(qcatctl):
        raise SystemExit("build it first: cargo build --release -p qcatctl")
    work = tempfile.mkdtemp(prefix="qcat-bench-collection-")
    os.chmod(work, 0o755)
    servers = []
    try:
        # The monitored systems: one PostgreSQL cluster with 5 databases, 5 Redis, 9 apps.
        pg_dir = os.path.join(work, "pg")
        os.makedirs(pg_dir)
        shutil.chown(pg_dir, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(as_pg + [f"{PG_BIN}/initdb", "-D", f"{pg_dir}/data", "-U", "postgres",
                                "--auth=trust", "--no-sync"], check=True, stdout=subprocess.DEVNULL)
        pg_port = free_port()
        subprocess.run(as_pg + [f"{PG_BIN}/pg_ctl", "-D", f"{pg_dir}/data", "-w", "-l",
                                f"{pg_dir}/log", "-o",
                                f"-p {pg_port} -k {pg_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                                "start"], check=True, stdout=subprocess.DEVNULL)
        databases = [f"bench{i}" for i in range(5)]
        for db in databases:
            subprocess.run(["psql", f"postgres://postgres@127.0.0.1:{pg_port}/postgres", "-q",
                            "-c", f"CREATE DATABASE {db}"], check=True, stdin=subprocess.DEVNULL)
        redis_ports = [free_port() for _ in range(5)]
        for port in redis_ports:
            servers.append(spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"]))
        app_ports = [free_port() for _ in range(9)]
        for port in app_ports:
            servers.append(spawn([qcatctl, "simulate", "--listen", f"127.0.0.1:{port}",
                                  "--peak-rate", "200"]))
        for port in redis_ports + app_ports:
            wait_port(port)

        # Side A: the exporters and Prometheus.
        node_port = free_port()
        stack = [spawn(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"])]
        pg_exporter_ports = []
        for db in databases:
            port = free_port()
            pg_exporter_ports.append(port)
            stack.append(spawn(["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{port}"],
                               env={"PATH": os.environ["PATH"],
                                    "DATA_SOURCE_NAME": f"postgresql://postgres@127.0.0.1:{pg_port}/{db}?sslmode=disable"}))
        redis_exporter_port = free_port()
        stack.append(spawn(["prometheus-redis-exporter", "-web.listen-address",
                            f"127.0.0.1:{redis_exporter_port}"]))
        prom_port = free_port()
        config = os.path.join(work, "prometheus.yml")
        redis_targets = ", ".join(f"'redis://127.0.0.1:{p}'" for p in redis_ports)
        with open(config, "w") as f:
            f.write(f"""global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ['127.0.0.1:{node_port}']}}]
  - job_name: postgres
    static_configs: [{{targets: [{", ".join(f"'127.0.0.1:{p}'" for p in pg_exporter_ports)}]}}]
  - job_name: redis
    metrics_path: /scrape
    static_configs: [{{targets: [{redis_targets}]}}]
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{target_label: __address__, replacement: '127.0.0.1:{redis_exporter_port}'}}
  - job_name: apps
    static_configs: [{{targets: [{", ".join(f"'127.0.0.1:{p}'" for p in app_ports)}]}}]
""")
        stack.append(spawn(["prometheus", f"--config.file={config}",
                            f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                            f"--web.listen-address=127.0.0.1:{prom_port}"]))
        wait_port(prom_port)
        time.sleep(args.warmup)
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/query?query=sum(up)") as r:
            up = r.read().decode()
        stack_cost = measure(stack, args.seconds)
        stop(stack)

        # Side B: the agent with the same 20 targets.
        data = os.path.join(work, "agent")
        key = os.path.join(work, "master.key")
        env = {"PATH": os.environ["PATH"], "QCAT_DATA_DIR": data, "QCAT_MASTER_KEY_FILE": key}
        subprocess.run([qcatctl, "key", "init", "--to-file", key], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([qcatctl, "user", "add", "--admin", "bench"], env=env, input=b"bench password 1\n",
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        user = {**env, "QCAT_USER": "bench", "QCAT_PASSWORD": "bench password 1"}

        def add(*target):
            subprocess.run([qcatctl, "target", "add", *target, "--interval", "1s"], env=user, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        add("host", "--kind", "host", "--url", "local")
        for db in databases:
            add(db, "--kind", "postgres", "--url", f"postgres://postgres@127.0.0.1:{pg_port}/{db}")
        for i, port in enumerate(redis_ports):
            add(f"redis{i}", "--kind", "redis", "--url", f"redis://127.0.0.1:{port}/0")
        for i, port in enumerate(app_ports):
            add(f"app{i}", "--kind", "prometheus", "--url", f"http://127.0.0.1:{port}/metrics")
        agent = spawn([qcatctl, "agent"], env={**env, "QCAT_MONITORING__PROMETHEUS_PORT": str(free_port())})
        time.sleep(args.warmup)
        agent_cost = measure([agent], args.seconds)
        listed = subprocess.run([qcatctl, "target", "list"], env=user, capture_output=True, text=True).stdout
        stop([agent])
    finally:
        stop(servers)
        subprocess.run((["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
                       + [f"{PG_BIN}/pg_ctl", "-D", f"{work}/pg/data", "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    ups = listed.count(" up ")
    print(f"20 targets at 1 s (1 host, 5 PostgreSQL databases, 5 Redis, 9 applications), "
          f"{args.seconds:.0f} s each after a {args.warmup:.0f} s warm-up")
    import json
    try:
        prometheus_up = json.loads(up)["data"]["result"][0]["value"][1]
    except (KeyError, IndexError, ValueError):
        prometheus_up = up
    print(f"Prometheus saw sum(up) = {prometheus_up}; the agent lists {ups} targets up")
    print(f"{'':44} {'CPU s/min':>10} {'RSS MiB':>9} {'PSS MiB':>9}")
    print(f"{'node + 5 postgres + redis exporter + Prometheus':44} {stack_cost[0]:10.2f} {stack_cost[1]:9.1f} {stack_cost[2]:9.1f}")
    print(f"{'qcatctl agent (one process)':44} {agent_cost[0]:10.2f} {agent_cost[1]:9.1f} {agent_cost[2]:9.1f}")
    print(f"ratios agent/stack: CPU {agent_cost[0] / stack_cost[0]:.2f}x, RSS {agent_cost[1] / stack_cost[1]:.2f}x, "
          f"PSS {agent_cost[2] / stack_cost[2]:.2f}x")


if __name__ == "__main__":
    main()
