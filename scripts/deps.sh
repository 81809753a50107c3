#!/usr/bin/env bash
# Installs what Steward needs and is missing, on Debian: the Tauri system libraries, the UI's
# npm packages, and with --test the end-to-end tools (Xvfb, WebKitWebDriver, tauri-driver).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libwebkit2gtk-4.1-dev build-essential pkg-config libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(xvfb xauth xdotool webkit2gtk-driver openssl minisign jq gnome-keyring dbus-daemon
    postgresql postgresql-client python3 poppler-utils)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v npm >/dev/null || { echo "npm is required (Node.js 20.19 or newer)" >&2; exit 1; }
if [[ ! -f ui/node_modules/.package-lock.json || ui/package-lock.json -nt ui/node_modules/.package-lock.json ]]; then
  (cd ui && npm ci --no-audit --no-fund)
fi

if [[ "${1:-}" == "--test" ]]; then
  # The tests' authorization server: oidc-provider on loopback (tests/authz).
  if [[ ! -f tests/authz/node_modules/.package-lock.json || tests/authz/package-lock.json -nt tests/authz/node_modules/.package-lock.json ]]; then
    (cd tests/authz && npm ci --no-audit --no-fund)
  fi
  bin="${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver"
  if [[ ! -x "$bin" ]] || ! "$bin" --help >/dev/null 2>&1; then
    cargo install tauri-driver --locked --version 2.1.0
  fi
fi
