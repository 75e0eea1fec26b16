#!/usr/bin/env bash
# Invariants from docs/ARCHITECTURE.md that a compiler does not check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0

# 1. The domain crates never depend on Tauri (or GTK/WebKit through it). A `cargo tree`
#    that fails is a failed check, not a clean one.
for manifest in crates/*/Cargo.toml; do
  crate="$(basename "$(dirname "$manifest")")"
  if ! tree="$(cargo tree -p "$crate" -e normal --prefix none --locked)"; then
    echo "architecture: cargo tree failed for $crate" >&2
    status=1
    continue
  fi
  if grep -qE '^(tauri|gtk|webkit2gtk|wry) ' <<<"$tree"; then
    echo "architecture: $crate depends on tauri/gtk/webkit" >&2
    status=1
  fi
done

# 1b. Front ends reach the domain only through qcat-api: qcatctl and the shell name no other
#     qcat crate as a dependency.
for manifest in crates/qcatctl/Cargo.toml Cargo.toml; do
  direct="$(sed -n '/^\[dependencies\]/,/^\[/p' "$manifest" | grep -oE '^qcat-[a-z-]+' | grep -vx 'qcat-api' || true)"
  if [ -n "$direct" ]; then
    echo "architecture: $manifest depends on $direct directly; go through qcat-api" >&2
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
