#!/usr/bin/env bash
# Installs whatever is missing and starts QCAT Console on its embedded defaults (a SQLite
# file in the platform's app-data folder; set QCAT_DATA_DIR to put it elsewhere).
#   scripts/run.sh [--release]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh" run
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"
(cd ui && npm run --silent build >/dev/null)
if [ "$(uname -s)" = Linux ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display; on a headless machine use: xvfb-run -a bash scripts/run.sh" >&2
  exit 1
fi
# Development runs also print readable log lines to the terminal (the file keeps JSON).
export QCAT_LOGGING__OUTPUT="${QCAT_LOGGING__OUTPUT:-both}"
exec cargo run --quiet -p qcat-console "$@"
