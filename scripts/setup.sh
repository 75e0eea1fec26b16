#!/usr/bin/env bash
# Installs whatever QCAT Console needs and is missing; quiet when everything is there.
#   scripts/setup.sh run    build and run the console (system libraries, Rust, Node, npm deps)
#   scripts/setup.sh test   also the test tools: PostgreSQL, Redis, Xvfb, WebKitWebDriver,
#                           a keychain daemon, tauri-driver
# Debian/Ubuntu are automated (as root, or with sudo). On macOS install Xcode's command line
# tools, Rust (rustup) and Node 20+; on Windows the MSVC build tools, WebView2, Rust and Node.
set -euo pipefail
profile="${1:-run}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# fonts-noto-cjk: the UI is bilingual, and WebKit draws Chinese as boxes without a CJK font.
# tzdata: schedules run in named time zones (Europe/London, Asia/Shanghai…).
run_apt_packages=(build-essential pkg-config curl file libssl-dev libwebkit2gtk-4.1-dev
  libxdo-dev libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev fonts-noto-cjk tzdata)
test_apt_packages=(xvfb xauth webkit2gtk-driver postgresql redis-server dbus dbus-daemon
  gnome-keyring keyutils imagemagick python3 procps prometheus prometheus-node-exporter
  prometheus-postgres-exporter prometheus-redis-exporter prometheus-alertmanager
  python3-aiosmtpd openssl python3-cryptography python3-zstandard restic)
tauri_driver_version="2.1.0"
min_node_major=20
min_node_minor=19

install_apt() {
  local wanted=("$@") missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
    sudo="sudo"
  fi
  say "installing ${missing[*]}"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

case "$(uname -s)" in
  Linux)
    if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
      install_apt "${run_apt_packages[@]}"
      [ "$profile" = test ] && install_apt "${test_apt_packages[@]}"
    else
      say "not a Debian-like system: install the equivalents of ${run_apt_packages[*]} yourself"
    fi
    ;;
  Darwin) xcode-select -p >/dev/null 2>&1 || die "install Xcode's command line tools: xcode-select --install" ;;
  *) say "unrecognised system $(uname -s): see README.md for what to install" ;;
esac

# Rust: rustup's toolchain (Debian's rustc is too old for this workspace).
if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  say "installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
    --component rustfmt,clippy >/dev/null || die "could not install Rust; install it from rustup.rs"
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# Node 20.19+ (Vite 8's floor).
if ! command -v node >/dev/null; then
  die "Node.js ${min_node_major}.${min_node_minor}+ is missing: install it (nodejs.org or your package manager) and rerun"
fi
node_version="$(node -p 'process.versions.node')"
IFS=. read -r node_major node_minor _ <<<"$node_version"
if [ "$node_major" -lt "$min_node_major" ] || { [ "$node_major" -eq "$min_node_major" ] && [ "$node_minor" -lt "$min_node_minor" ]; }; then
  die "Node.js $node_version is too old: ${min_node_major}.${min_node_minor}+ is needed"
fi

# UI dependencies, exactly as locked.
lock="$root/ui/package-lock.json"
stamp="$root/ui/node_modules/.qcat-lock-stamp"
if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
  say "installing UI dependencies (npm ci)"
  (cd "$root/ui" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$lock" "$stamp"
fi

if [ "$profile" = test ]; then
  if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
    say "installing tauri-driver $tauri_driver_version"
    cargo install tauri-driver --locked --version "$tauri_driver_version" --quiet
  fi
fi
