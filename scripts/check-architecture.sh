#!/usr/bin/env bash
# Invariants from docs/ARCHITECTURE.md that a compiler does not check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

# 1. The domain crates never depend on Tauri (or GTK/WebKit through it).
for manifest in crates/*/Cargo.toml; do
  crate="$(basename "$(dirname "$manifest")")"
  if cargo tree -p "$crate" -e normal --prefix none --locked 2>/dev/null | grep -qE '^(tauri|gtk|webkit2gtk|wry) '; then
    echo "architecture: $crate depends on tauri/gtk/webkit" >&2
    status=1
  fi
done

# 2. Only ui/src/lib/ipc imports @tauri-apps/*.
offenders="$(grep -rlE "from '@tauri-apps/|from \"@tauri-apps/" ui/src | grep -v '^ui/src/lib/ipc/' || true)"
if [ -n "$offenders" ]; then
  echo "architecture: only ui/src/lib/ipc may import @tauri-apps/*; found in:" >&2
  echo "$offenders" >&2
  status=1
fi

# 3. The shell does no SQL, HTTP or file I/O of its own.
if grep -rnE 'sqlx::|reqwest::|std::fs::|tokio::fs::' src-tauri/src; then
  echo "architecture: src-tauri/ must only wire commands to qcat-api" >&2
  status=1
fi

exit $status
