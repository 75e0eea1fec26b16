#!/usr/bin/env bash
# Installs whatever is missing and runs every test: Rust unit and integration tests on
# SQLite and a real PostgreSQL, the UI's type check and component tests, and the end-to-end
# tests of the real app under Xvfb. Starts the services the tests need and stops them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh" test
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"

work="$(mktemp -d /tmp/qcat-test-run.XXXXXX)"
chmod 755 "$work"
cleanup() {
  if [ -f "$work/pg/data/postmaster.pid" ]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# One throwaway PostgreSQL cluster for the whole run (tests create a database each).
# initdb refuses root, so the cluster runs as the postgres user in a folder it owns.
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -x "$pg_bin/initdb" ] || { echo "test: PostgreSQL server binaries not found" >&2; exit 1; }
pg_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/pg"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$work/pg"; as_pg=(runuser -u postgres --); fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null </dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -w -l "$work/pg/server.log" \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
  start >/dev/null </dev/null
export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"

# Tests must never touch the user's real data: point the platform folders at sentinels
# and fail below if anything appears there.
export XDG_DATA_HOME="$work/sentinel/data" XDG_CONFIG_HOME="$work/sentinel/config"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"
unset QCAT_DATA_DIR

echo "== UI: type check, component tests, build"
(cd ui && npm run --silent check && npx vitest run --reporter=default --reporter=json \
  --outputFile="$work/vitest.json" && npm run --silent build >/dev/null)

echo "== Rust: unit, integration and end-to-end tests"
cargo test --workspace --locked 2>&1 | tee "$work/cargo-test.log"

leaked="$(find "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" -mindepth 1 | head -n 5)"
if [ -n "$leaked" ]; then
  echo "test: tests wrote to the platform data/config folders instead of a temp dir:" >&2
  echo "$leaked" >&2
  exit 1
fi
# One closing line over every runner, so a reader of the log need not add them up.
summary="$(python3 - "$work/cargo-test.log" "$work/vitest.json" <<'PY'
import json, re, sys
passed = failed = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed", line)
    if m:
        passed += int(m.group(1)); failed += int(m.group(2))
ui = json.load(open(sys.argv[2]))
passed += ui["numPassedTests"]; failed += ui["numFailedTests"]
print(f"{passed} passed, {failed} failed")
PY
)"
mkdir -p target
echo "$summary" > target/test-summary.txt
echo "== all tests passed"
echo "tests: $summary"
