#!/usr/bin/env bash
# Builds the Debian package: the console, qcatctl (CLI and headless agent), the agent's
# systemd unit and its documentation, then checks that the .deb holds all of them.
#   bash scripts/package.sh            -> target/release/bundle/deb/*.deb
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

[ -x ui/node_modules/.bin/tauri ] || npm --prefix ui ci --no-audit --no-fund
# The Tauri CLI builds the package next to tauri.conf.json (the root); `-p qcat-console`
# picks the shell, which the workspace's default members leave out.
ui/node_modules/.bin/tauri build --bundles deb -- -p qcat-console

deb="$(ls -t target/release/bundle/deb/*.deb | head -1)"
contents="$(dpkg-deb -c "$deb")"
missing=0
# dpkg-deb -c lists "usr/bin/x" or "./usr/bin/x" at the end of each line.
for path in usr/bin/qcat-console usr/bin/qcatctl \
  usr/lib/systemd/system/qcat-agent.service usr/share/doc/qcat-console/agent.md \
  "usr/share/applications/QCAT Console.desktop" usr/share/icons/hicolor/128x128/apps/qcat-console.png; do
  if ! grep -qE -- "[ /]${path//./\\.}\$" <<<"$contents"; then
    echo "package: $deb lacks $path" >&2
    missing=1
  fi
done
[ "$missing" = 0 ] || { echo "$contents" >&2; exit 1; }
# The binaries in the package run (the CLI answers; the unit names the CLI).
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
"$tmp/usr/bin/qcatctl" --version
grep -q '^ExecStart=/usr/bin/qcatctl agent$' "$tmp/usr/lib/systemd/system/qcat-agent.service"
echo "package: $deb ($(du -h "$deb" | cut -f1)) holds the console, qcatctl, the agent unit, its docs, the desktop entry and icons"
