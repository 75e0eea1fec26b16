#!/usr/bin/env python3
"""The console's memory while its live panels run, against itself right after start and
against an empty Tauri window.

The release qcat-console runs in a private Xvfb display through tauri-driver +
WebKitWebDriver: the first administrator is created, the demo trading application and this
machine are monitored (the dashboard's first steps), and the Application page stays open
with its live charts (a reading every 2 s). PSS is summed over the app and its WebKit
processes 60 s after the panels first drew (the baseline) and then every minute for
--minutes. The empty window's PSS comes from the same launch path (scripts/bench-startup.py
measures it the same way), with Tauri's defaults and, like for like, with GPU compositing off
as the console draws. Goal: under 5 % growth over the hour, and at most 60 MiB over the
empty window.

    cargo build --release -p qcat-console -p empty-window
    python3 scripts/bench-live-memory.py [--minutes 60]
"""
import argparse
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import importlib.util  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "startup", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-startup.py"))
startup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(startup)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def find(base, session, test_id, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = startup.wd(base, "POST", f"/session/{session}/element",
                           {"using": "css selector", "value": f"[data-testid='{test_id}']"})
        if isinstance(found, dict) and ELEMENT in found:
            return found[ELEMENT]
        time.sleep(0.1)
    raise RuntimeError(f"{test_id} never appeared")


def click(base, session, test_id):
    startup.wd(base, "POST", f"/session/{session}/element/{find(base, session, test_id)}/click", {})


def type_into(base, session, test_id, text):
    element = find(base, session, test_id)
    startup.wd(base, "POST", f"/session/{session}/element/{element}/value", {"text": text})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "qcat-console")
    if not os.path.exists(binary):
        raise SystemExit("build it first: cargo build --release -p qcat-console -p empty-window")
    def empty_window():
        runs = [startup.one_run(os.path.join(target, "release", "empty-window"), "#ready", "ready")[1]
                for _ in range(3)]
        return sorted(runs)[1]

    empty_pss = empty_window()
    # The console turns WebKitGTK's GPU compositing off (src-tauri/src/lib.rs); the empty
    # window drawn the same way is the like-for-like baseline.
    os.environ["WEBKIT_DISABLE_COMPOSITING_MODE"] = "1"
    empty_software = empty_window()
    del os.environ["WEBKIT_DISABLE_COMPOSITING_MODE"]

    data = tempfile.mkdtemp(prefix="qcat-bench-live-")
    key_file = os.path.join(data, "master.key")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
    os.close(fd)
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    display = ":" + xvfb.stdout.readline().decode().strip()
    port, native = startup.free_port(), startup.free_port()
    env = dict(os.environ, DISPLAY=display, QCAT_DATA_DIR=data, NO_AT_BRIDGE="1", LANG="en_US.UTF-8",
               QCAT_MASTER_KEY_FILE=key_file, XDG_DATA_HOME=f"{data}/xdg-data",
               XDG_CONFIG_HOME=f"{data}/xdg-config", XDG_CACHE_HOME=f"{data}/xdg-cache")
    driver = subprocess.Popen(["dbus-run-session", "--", os.path.expanduser("~/.cargo/bin/tauri-driver"),
                               "--port", str(port), "--native-port", str(native)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        startup.wait_port(port)
        startup.wait_port(native)
        base = f"http://127.0.0.1:{port}"
        session = startup.wd(base, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "wry", "tauri:options": {"application": binary}}}})["sessionId"]
        type_into(base, session, "signin-username", "bench")
        type_into(base, session, "signin-display-name", "Bench")
        type_into(base, session, "signin-password", "bench password 1")
        type_into(base, session, "signin-confirm", "bench password 1")
        click(base, session, "signin-submit")
        find(base, session, "current-user")
        click(base, session, "nav-dashboard")
        click(base, session, "quick-demo")
        click(base, session, "tab-targets")
        click(base, session, "targets-quick-host")
        click(base, session, "tab-prometheus")
        find(base, session, "panel-demo-trading-app-latency")
        time.sleep(60)
        app = startup.find_pid(binary)

        def pss():
            """Total PSS (MiB) and the share of each process kind (app, WebKit web, network)."""
            parts = {}
            for pid in startup.descendants(app):
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        name = f.read().strip()
                except OSError:
                    continue
                parts[name] = parts.get(name, 0) + startup.pss_kib(pid) / 1024
            return sum(parts.values()), parts

        def show(parts):
            return ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(parts.items()))

        baseline, parts = pss()
        print(f"after 1 min of live panels: PSS {baseline:.1f} MiB ({show(parts)}); "
              f"empty Tauri window {empty_pss:.1f} MiB, without GPU compositing {empty_software:.1f} MiB")
        readings = [baseline]
        for minute in range(1, args.minutes + 1):
            time.sleep(60)
            total, parts = pss()
            readings.append(total)
            print(f"  +{minute:3d} min: {total:.1f} MiB ({show(parts)})", flush=True)
        # JavaScriptCore collects garbage in bursts, so one reading swings by tens of MiB:
        # the mean of the first and the last ten minutes say whether memory creeps.
        window = max(1, min(10, len(readings) // 3))
        first = sum(readings[:window]) / window
        last = sum(readings[-window:]) / window
        print(f"growth over {args.minutes} min: last reading {(readings[-1] - baseline) / baseline * 100:+.1f} %, "
              f"mean of the last {window} min against the first {window}: {(last - first) / first * 100:+.1f} % "
              f"(max {max(readings):.1f} MiB); over the empty window: {last - empty_pss:+.1f} MiB, "
              f"over the empty window without GPU compositing: {last - empty_software:+.1f} MiB")
        startup.wd(base, "DELETE", f"/session/{session}")
    finally:
        for proc in (driver, xvfb):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        subprocess.run(["rm", "-rf", data], check=False)


if __name__ == "__main__":
    main()
