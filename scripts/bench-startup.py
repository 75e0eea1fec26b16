#!/usr/bin/env python3
"""Startup time and memory of qcat-console next to an empty Tauri 2 window.

Both release binaries are started the same way (private Xvfb display, tauri-driver +
WebKitWebDriver) and timed from the new-session request until the window is usable:
for qcat-console, the first-administrator form of a fresh store is shown (it appears once
the core has answered app_info, setup_status and current_session, after opening and
migrating the store and loading users and roles);
for the empty window, its page's element exists. Memory is the proportional set size (PSS,
shared pages divided among sharers) summed over the app and its WebKit processes, read
5 s after the window is usable. Prints medians of N runs and the ratios.

    cargo build --release -p qcat-console -p empty-window
    python3 scripts/bench-startup.py [--runs 5]
"""
import argparse
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"port {port} never opened")


def wd(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)["value"]
    except urllib.error.HTTPError as err:
        return json.load(err)["value"]


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except OSError:
                pass
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def find_pid(binary):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/exe") == binary:
                    return int(entry)
            except OSError:
                pass
    return None


def one_run(binary, ready_css, ready_text):
    data = tempfile.mkdtemp(prefix="qcat-bench-")
    # A server-style 0600 master key file, as in the e2e tests: no desktop keychain prompt.
    key_file = os.path.join(data, "master.key")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
    os.close(fd)
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    display = ":" + xvfb.stdout.readline().decode().strip()
    port, native = free_port(), free_port()
    env = dict(os.environ, DISPLAY=display, QCAT_DATA_DIR=data, NO_AT_BRIDGE="1", LANG="en_US.UTF-8",
               QCAT_MASTER_KEY_FILE=key_file,
               XDG_DATA_HOME=f"{data}/xdg-data", XDG_CONFIG_HOME=f"{data}/xdg-config",
               XDG_CACHE_HOME=f"{data}/xdg-cache")
    driver_bin = os.path.expanduser("~/.cargo/bin/tauri-driver")
    driver = subprocess.Popen(["dbus-run-session", "--", driver_bin, "--port", str(port), "--native-port", str(native)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port)
        wait_port(native)
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        session = None
        for attempt in range(3):
            # tauri-driver occasionally drops a session request made right after start-up.
            try:
                session = wd(base, "POST", "/session", {"capabilities": {"alwaysMatch": {
                    "browserName": "wry", "tauri:options": {"application": binary}}}})["sessionId"]
                break
            except (ConnectionError, OSError):
                time.sleep(0.5)
                started = time.perf_counter()
        if session is None:
            raise RuntimeError("tauri-driver never opened a session")
        while True:
            try:
                found = wd(base, "POST", f"/session/{session}/element", {"using": "css selector", "value": ready_css})
                if isinstance(found, dict) and "element-6066-11e4-a52e-4f735466cecf" in found:
                    element = found["element-6066-11e4-a52e-4f735466cecf"]
                    if wd(base, "GET", f"/session/{session}/element/{element}/text") == ready_text:
                        break
            except (ConnectionError, OSError) as err:
                print(f"  (driver connection dropped while polling: {err!r}; retrying)")
            if time.perf_counter() - started > 30:
                raise RuntimeError(f"{binary} never became usable")
            time.sleep(0.01)
        usable_ms = (time.perf_counter() - started) * 1000
        time.sleep(5)
        app = find_pid(binary)
        pss = sum(pss_kib(p) for p in descendants(app)) / 1024 if app else float("nan")
        wd(base, "DELETE", f"/session/{session}")
        return usable_ms, pss
    finally:
        for proc in (driver, xvfb):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        subprocess.run(["rm", "-rf", data], check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    apps = {
        "qcat-console": (os.path.join(target, "release", "qcat-console"),
                         "[data-testid='signin-submit']", "Create and sign in"),
        "empty Tauri window": (os.path.join(target, "release", "empty-window"), "#ready", "ready"),
    }
    results = {}
    for name, (binary, css, text) in apps.items():
        if not os.path.exists(binary):
            raise SystemExit(f"{binary} missing: cargo build --release -p qcat-console -p empty-window")
        runs = [one_run(binary, css, text) for _ in range(args.runs)]
        results[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        print(f"{name:20s} launch→usable {results[name][0]:7.0f} ms   PSS {results[name][1]:6.1f} MiB   (median of {args.runs})")
    ours, base = results["qcat-console"], results["empty Tauri window"]
    print(f"ratio qcat-console / empty window: launch {ours[0] / base[0]:.2f}x, memory {ours[1] / base[1]:.2f}x")


if __name__ == "__main__":
    main()
